-- dnsstats' top names and clients (issue 11 item 4): counted by key in
-- C, handed over packed, their text made only for the rows a report
-- shows; right after a trip through the serialiser and a merge (workers).
local T = require "t"
local dnsstats = require "pktsh.app.dnsstats"
local b = pktsh.build
local wire = require("stream").wire

local char = string.char
local function le32(n) return char(n % 256, math.floor(n / 256) % 256, math.floor(n / 65536) % 256,
                                   math.floor(n / 16777216) % 256) end
local function be16(n) return char(math.floor(n / 256) % 256, n % 256) end

local function qname(text)
  local out = {}
  for label in text:gmatch("[^.]+") do out[#out + 1] = char(#label) .. label end
  return table.concat(out) .. "\0"
end

local function query(id, name)
  return be16(id) .. "\1\0\0\1\0\0\0\0\0\0" .. qname(name) .. "\0\1\0\1"
end

-- A capture: 150 names asked once, "heavy.example" 60 times, from
-- 198.18.0.1 (IPv4) and 2001:2::7 (IPv6).
local function capture(path)
  local recs = {"\212\195\178\161\2\0\4\0" .. le32(0) .. le32(0) .. le32(65535) .. le32(1)}
  local function add(i, frame)
    recs[#recs + 1] = le32(1000 + i) .. le32(0) .. le32(#frame) .. le32(#frame) .. frame
  end
  for i = 1, 210 do
    local name = i % 7 < 2 and i <= 210 and "heavy.example" or ("n" .. i .. ".tail.example")
    local frame
    if i % 3 == 0 then
      frame = b.udp6{src = "2001:2::7", dst = "2001:2::53", sport = 2000 + i, dport = 53,
                     payload = query(i, name)}
    else
      frame = b.udp4{src = "198.18.0.1", dst = "198.18.0.53", sport = 2000 + i, dport = 53,
                     payload = query(i, name)}
    end
    add(i, frame)
  end
  local f = assert(io.open(path, "wb"))
  f:write(table.concat(recs))
  f:close()
end

local path = os.tmpname()
capture(path)

local function run(o)
  local src = assert(pktsh.open(path))
  local st = dnsstats.work(src, o)
  src:close()
  return st
end

T.test("dnsstats state: top-k tables packed, no label string per counter", function()
  local st = run{capacity = 20}
  for _, which in ipairs({"qnames", "clients"}) do
    local t = st[which]
    T.ok(t.packed ~= nil, which .. ": packed")
    T.eq(t.labels, nil, which .. ": no table of labels")
  end
  T.eq(st.qnames.size, 20, "names table full")
  local top = dnsstats.top(st, "qnames", 1)[1]
  T.eq(top.key, "heavy.example", "top name text")
  T.eq(top.count, 60, "its count: exact (it came first, never evicted)")
  local clients = dnsstats.top(st, "clients", 2)
  T.eq(clients[1].key, "198.18.0.1", "IPv4 client text"); T.eq(clients[1].count, 140, "IPv4 count")
  T.eq(clients[2].key, "2001:2::7", "IPv6 client text"); T.eq(clients[2].count, 70, "IPv6 count")
  -- the rows tie at the boundary: the ones rendered are the ones given
  -- their text (they were wire form: the tie order followed the labels)
  local text = dnsstats.top_table(st, "qnames", 3):render{rows = 3, ascii = true, width = 200}
  T.ok(text:find("heavy.example", 1, true), "rendered with the name's text")
  T.eq(text:find("[%z\1-\9\11-\31]"), nil, "no row in wire form: " .. text)
  T.ok(text:find("n/20", 1, true), "the space-saving bound stated: " .. text)
end)

T.test("dnsstats states merge (workers): counts add, the text still made", function()
  local a, c = wire(run{capacity = 20}), wire(run{capacity = 20})
  local m = dnsstats.merge(a, c)
  local top = dnsstats.top(m, "qnames", 1)[1]
  T.eq(top.key, "heavy.example", "merged top name text"); T.eq(top.count, 120, "merged count")
  T.eq(dnsstats.top(m, "clients", 1)[1].key, "198.18.0.1", "merged top client")
  T.eq(m.qnames.n, 2 * 210, "merged n")
end)

os.remove(path)
T.done()
