-- pktsh.pcap_rotate (pktsh.source.rotate): tcpdump's -w with -G, -C and
-- -W through the Lua API, on a capture's packets; each file read back.
local T = require "t"
local F = "tests/pcaps/dnscap__dns.pcap"

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir " .. d) == 0)
  return d
end

local function count(path)
  local src, n = assert(pktsh.open(path)), 0
  for _ in src:packets() do n = n + 1 end
  src:close()
  return n
end

-- Writes every packet of F through r; the packets written and the first
-- false, err (the -W limit) if any.
local function feed(r)
  local src, n, stop = assert(pktsh.open(F)), 0, nil
  for p in src:packets() do
    local ok, err = r:write(p)
    if ok == false then stop = err; break end
    assert(ok, err)
    n = n + 1
  end
  src:close()
  assert(r:close())
  return n, stop
end

T.test("size: FILE, FILE1, ...; each passes the size by its last packet only", function()
  local d = tmpdir()
  local r = assert(pktsh.pcap_rotate(d .. "/c.pcap", {size = 5120, linktype = "EN10MB"}))
  T.eq(feed(r), 133, "written")
  T.eq(r:count(), 133, "count")
  T.eq(#r.names, 4, "files")
  T.eq(r.names[1], d .. "/c.pcap", "first name")
  T.eq(r.names[4], d .. "/c.pcap3", "last name")
  local total = 0
  for i, name in ipairs(r.names) do
    total = total + count(name)
    local f = assert(io.open(name)); local size = f:seek("end"); f:close()
    if i < #r.names then T.ok(size > 5120, name .. " rotated early: " .. size) end
  end
  T.eq(total, 133, "every packet once")
  os.execute("rm -r " .. d)
end)

T.test("size and files: a ring FILE0 .. FILE(W-1), padded to W's digits", function()
  local d = tmpdir()
  local r = assert(pktsh.pcap_rotate(d .. "/r.pcap", {size = 1000, files = 12}))
  T.eq(feed(r), 133, "written")
  T.eq(r.names[1], d .. "/r.pcap00", "padded to two digits")
  T.eq(r.names[13], d .. "/r.pcap00", "the ring comes round")
  local p = io.popen("ls " .. d)
  local listed = p:read("*a"); p:close()
  local n = select(2, listed:gsub("\n", ""))
  T.eq(n, 12, "twelve files on disk")
  os.execute("rm -r " .. d)
end)

T.test("seconds: strftime names by the packets' time; files ends the capture", function()
  local d = tmpdir()
  local r = assert(pktsh.pcap_rotate(d .. "/g-%H%M%S.pcap", {seconds = 10}))
  T.eq(feed(r), 133, "written")
  T.eq(r.names[1], d .. "/g-" .. os.date("%H%M%S", 1476976981) .. ".pcap", "first name")
  local total = 0
  for _, name in ipairs(r.names) do total = total + count(name) end
  T.eq(total, 133, "every packet once")
  local r2 = assert(pktsh.pcap_rotate(d .. "/w-%H%M%S.pcap", {seconds = 10, files = 2}))
  local n, stop = feed(r2)
  T.eq(stop, "Maximum file limit reached: 2", "the limit")
  T.eq(#r2.names, 2, "two files")
  T.eq(count(r2.names[1]) + count(r2.names[2]), n, "what was written is there")
  T.ok(n < 133, "stopped early")
  os.execute("rm -r " .. d)
end)

T.test("errors: bad numbers, an unwritable name, a capture with no packet", function()
  T.eq(select(2, pktsh.pcap_rotate("x.pcap", {size = 0})), "size must be a whole number > 0, not 0")
  T.eq(select(2, pktsh.pcap_rotate("x.pcap", {files = 1.5})), "files must be a whole number > 0, not 1.5")
  local r = assert(pktsh.pcap_rotate("/nonexistent/dir/x.pcap", {size = 10}))
  local src = assert(pktsh.open(F))
  local ok, err = r:write(src:next().pkt[0])
  T.eq(ok, nil, "write fails")
  T.ok(err:find("/nonexistent/dir/x.pcap", 1, true), err)
  src:close()
  local d = tmpdir()
  local e = assert(pktsh.pcap_rotate(d .. "/e.pcap", {size = 10}))
  assert(e:close())
  T.eq(count(d .. "/e.pcap"), 0, "an empty capture still leaves its file")
  os.execute("rm -r " .. d)
end)

T.done()
