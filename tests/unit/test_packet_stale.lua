-- test_packet_stale.lua - a packet never outlives its memory, and scripts cannot
-- write a descriptor: fields are read-only, a packet kept past its batch
-- (next batch, close, collection) is a clean error, owned packets
-- (copy, from_bytes, inner) stay right. The same under valgrind:
-- tests/sh/test_packet_memory.sh.
local T = require "t"
local ffi = require "ffi"
local packet = require "pktsh.proto.packet"

local P = "tests/pcaps/"
local DNS = P .. "dnscap__dns.pcap"          -- 133 packets, 82 DNS messages
local STALE = "packet used after its batch was released; keep it with pkt:copy%(%)"

local function open(path, opts) return assert(pktsh.open(path or DNS, opts)) end

-- Every way to use a packet; each must raise the stale error.
local uses = {
  summary = function(p) return p:summary() end,
  tostring = function(p) return tostring(p) end,
  show = function(p) return p:show() end,
  hex = function(p) return p:hex() end,
  raw = function(p) return p:raw() end,
  copy = function(p) return p:copy() end,
  bytes = function(p) return p:bytes(0, 1) end,
  u8 = function(p) return p:u8(0) end,
  u16 = function(p) return p:u16(0) end,
  u32 = function(p) return p:u32(0) end,
  eth = function(p) return p:eth() end,
  vlan = function(p) return p:vlan() end,
  vlan_id = function(p) return p:vlan_id() end,
  ip = function(p) return p:ip() end,
  ip4 = function(p) return p:ip4() end,
  ip6 = function(p) return p:ip6() end,
  proto = function(p) return p:proto() end,
  udp = function(p) return p:udp() end,
  tcp = function(p) return p:tcp() end,
  icmp = function(p) return p:icmp() end,
  icmp6 = function(p) return p:icmp6() end,
  payload = function(p) return p:payload() end,
  ports = function(p) return p:ports() end,
  inner = function(p) return p:inner() end,
  dns = function(p) return p:dns() end,
}

local function all_stale(p, what)
  for name, use in pairs(uses) do
    T.raises(function() use(p) end, STALE, what .. ": " .. name)
  end
end

T.test("descriptor fields are read-only", function()
  local src = open()
  local p = src:next().pkt[0]
  T.raises(function() p.caplen = 1e6 end, "constant", "caplen")
  T.raises(function() p.l3off = 4000 end, "constant", "l3off")
  T.raises(function() p.data = p.data + 1 end, "constant", "data")
  T.raises(function() p.l3state = 0 end, "constant", "l3state")
  T.raises(function() p.vlanid0 = 1 end, "constant", "vlanid0")
  T.eq(#p:raw(), p.caplen, "raw is caplen bytes")
  T.eq(p:udp().dport, 53, "decoders still write their cache")
  for what, q in pairs{copy = p:copy(), from_bytes = packet.from_bytes(p:raw())} do
    T.raises(function() q.caplen = 1e6 end, "constant", what .. " caplen")
    T.raises(function() q.l3off = 4000 end, "constant", what .. " l3off")
    T.eq(#q:raw(), p.caplen, what .. " raw")
    T.eq(q:udp().dport, 53, what .. " decodes")
  end
  src:close()
end)

T.test("the REPL idiom: a packet kept over two batches", function()
  for _, opts in ipairs{{}, {batch = 8}} do
    local f = open(DNS, opts)
    local first = f:next().pkt[0]
    T.ok(tostring(first):find("IP 172.17.0.10.53199 > 8.8.8.8.53: UDP", 1, true), "first")
    f:next(); f:next()
    all_stale(first, "batch " .. tostring(opts.batch or "default"))
    f:close()
  end
end)

T.test("every packet of a released batch is stale, the batch empty", function()
  local f = open(DNS, {batch = 16})
  local b = f:next()
  local kept = {}
  for i = 0, b.count - 1 do kept[#kept + 1] = b.pkt[i] end
  T.eq(#kept, 16, "batch")
  local b2 = f:next()
  T.ok(b2 ~= nil and b2.count == 16, "second batch")
  T.eq(b.count, 0, "the released batch is empty")
  T.raises(function() return b.pkt[0]:udp() end, STALE, "the released batch's pkt[0]")
  for i, p in ipairs(kept) do
    T.raises(function() return p:summary() end, STALE, "packet " .. i)
    T.eq(p.caplen, 0, "no bytes"); T.eq(p.len, 0, "no length")
  end
  T.ok(b2.pkt[0]:udp() or b2.pkt[0]:icmp(), "the new batch reads")
  f:close()
end)

T.test("stale until many batches later", function()
  local f = open(DNS, {batch = 1})
  local first = f:next().pkt[0]
  local n = 0
  while f:next() do n = n + 1 end
  T.eq(n, 132, "batches after the first")
  all_stale(first, "132 batches later")
  f:close()
end)

-- The window (src/batch.c): a released slot is refilled only after more
-- than 8192 further packets of the source; after that a kept packet may
-- show a later one (README, Packets), but never freed memory.
T.test("stale for more than 8192 packets, then a later packet", function()
  local name = os.tmpname()
  local w = assert(pktsh.pcap_writer(name))
  local frame = packet.from_bytes(string.rep("\0", 12) .. "\8\0" .. "\69\0\0\28\0\0\0\0\64\17\0\0" ..
    "\198\18\0\1\198\18\0\2\0\53\0\53\0\8\0\0")
  for i = 1, 12000 do assert(w:write(frame:raw(), i * 1000)) end
  w:close()
  local f = open(name, {batch = 1})
  local first = f:next().pkt[0]
  for _ = 1, 8193 do assert(f:next()) end
  all_stale(first, "8193 packets later")
  while f:next() do end
  -- once the ring (8194 slots or more, from the pool) has wrapped, the slot
  -- may hold a later packet: either answer, never freed memory
  local ok, text = pcall(function() return first:summary() end)
  T.ok(ok and text:find("198.18.0.1.53 > 198.18.0.2.53", 1, true) or text:find("released"),
       "after the ring wrapped: " .. tostring(text))
  f:close()
  os.remove(name)
end)

T.test("a closed source's ring, reused by the next source: still stale", function()
  local f = open()
  local p = f:next().pkt[0]
  f:close()
  local g = open()
  T.ok(g:next().count > 0, "the next source reads")
  all_stale(p, "after another source took the memory")
  g:close()
end)

T.test("close, then use", function()
  local f = open()
  local b = f:next()
  local p, q = b.pkt[0], b.pkt[1]
  f:close()
  all_stale(p, "after close")
  T.raises(function() return q:raw() end, STALE, "second packet")
  T.eq(b.count, 0, "the batch is empty")
  T.eq(f:next(), nil, "a closed source gives nothing")
end)

T.test("collected source, then use", function()
  local p = open():next().pkt[0]      -- nothing else holds the source
  collectgarbage(); collectgarbage()
  all_stale(p, "after the finaliser")
end)

T.test("live in loops: each and packets", function()
  local kept, n = nil, 0
  local f = open(DNS, {batch = 4})
  f:each(function(p)
    n = n + 1
    if kept then
      -- the previous packet is fine within its batch, stale after it
      if (n - 1) % 4 == 0 then
        T.raises(function() return kept:udp() end, STALE, "kept across a batch")
      else
        T.ok(kept:summary(), "kept within the batch")
      end
    end
    kept = p
  end)
  T.eq(n, 133, "each")
  f:close()
  local m = 0
  for p in open(DNS, {batch = 4}):packets() do m = m + 1; T.ok(p:summary()) end
  T.eq(m, 133, "packets")
end)

T.test("copies kept across batches stay right", function()
  local want = {}
  local f = open()
  f:each(function(p) want[#want + 1] = p:raw() end)
  f:close()
  local copies = {}
  f = open(DNS, {batch = 3})
  f:each(function(p) copies[#copies + 1] = p:copy() end)
  f:close()
  collectgarbage(); collectgarbage()
  T.eq(#copies, #want, "count")
  for i, c in ipairs(copies) do
    T.eq(c:raw(), want[i], "copy " .. i)
    T.ok(c:summary(), "copy decodes")
  end
end)

T.test("inner() of a batch's packet is owned", function()
  local f = open(P .. "zeek__icmp-destunreach-udp.pcap", {batch = 1})
  local inner, text
  while true do
    local b = f:next()
    if not b then break end
    local q = b.pkt[0]:inner()
    if q then inner, text = q, q:summary() end
  end
  f:close()
  collectgarbage(); collectgarbage()
  T.ok(inner, "an ICMP error quoting a datagram")
  T.eq(inner:summary(), text, "the quoted datagram after its batch and source are gone")
  T.ok(inner:ip4(), "decodes")
  local outer = packet.from_bytes(string.rep("\0", 12) .. "\8\0" .. "\69\0\0\56\0\0\0\0\64\1\0\0" ..
    "\198\18\0\1\198\18\0\2\3\3\0\0\0\0\0\0" .. "\69\0\0\28\0\0\0\0\64\17\0\0" ..
    "\198\18\0\2\198\18\0\1\0\53\0\53\0\8\0\0")
  local q = outer:inner()
  T.ok(q and q:udp(), "inner of an owned packet")
  T.ok(q.data == outer.data + 42, "shares the owned bytes")
  outer = nil
  collectgarbage(); collectgarbage()
  T.eq(q:udp().dport, 53, "keeps them alive")
end)

T.test("dnsflow and the C DNS scan read batches as before", function()
  local f = open(DNS, {batch = 5})
  local fe = pktsh.dnsflow.new()
  local msgs = 0
  f:each(function(p) fe:feed(p, function() msgs = msgs + 1 end) end)
  f:close()
  T.eq(msgs, 82, "dnsflow messages")
end)
T.done()
