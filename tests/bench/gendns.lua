-- gendns.lua - writes a synthetic, deterministic, mixed DNS capture.
--   build/pktsh tests/bench/gendns.lua OUT.pcap [N [TRUTH.json]]
--   (N defaults to 1,000,000; TRUTH.json: what dnsstats must count in it,
--   as tests/bench/genshapes.c writes for its shapes; the capture's bytes
--   are the same with or without it)
--
-- Ethernet frames, about:
--   90%  DNS over UDP: IPv4 and IPv6, queries and responses (answers with
--        compression pointers, some NXDOMAIN, some EDNS OPT records), qtypes
--        A/AAAA/PTR/MX/TXT and a few others; 8% of frames carry a VLAN tag
--    3%  TCP on port 53: DNS messages with their 2-byte length prefix, and
--        bare ACKs without payload
--    5%  other TCP (443/80, empty to 1200-byte payloads)
--    2%  ICMP / ICMPv6 echo, and UDP that is not DNS (123, 443)
-- Addresses only from 198.18.0.0/15 and 2001:2::/48. Every IPv4 header
-- checksum, IP/UDP length and UDP/TCP/ICMP checksum is correct. The same N
-- always gives the same bytes (fixed seed, own PRNG).
local ffi = require "ffi"
local bit = require "bit"
local band, bor, rshift, lshift, bxor = bit.band, bit.bor, bit.rshift, bit.lshift, bit.bxor

local out = arg and arg[1]
local N = tonumber(arg and arg[2] or 1000000)
local truth_path = arg and arg[3]
if not out or not N or N < 1 then
  io.stderr:write("usage: pktsh tests/bench/gendns.lua OUT.pcap [N]\n")
  os.exit(2)
end
N = math.floor(N)

-- xorshift32: deterministic across LuaJIT versions (math.random is not
-- promised to be).
local state = 0x9e3779b9
local function rnd32()
  local x = state
  x = bxor(x, lshift(x, 13))
  x = bxor(x, rshift(x, 17))
  x = bxor(x, lshift(x, 5))
  state = x
  return x % 4294967296        -- as a non-negative number
end
local function rnd(n) return rnd32() % n end            -- 0 .. n-1
local function chance(p) return rnd32() < p * 4294967296 end

-- Names ------------------------------------------------------------------
local ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
local function rlabel(lo, hi)
  local n = lo + rnd(hi - lo + 1)
  local t = {}
  for i = 1, n do
    local k = rnd(i == 1 and 26 or 36) + 1
    t[i] = ALNUM:sub(k, k)
  end
  return table.concat(t)
end
local HOSTS = {"www", "mail", "api", "cdn", "ns1", "ns2", "img", "static", "m",
               "login", "smtp", "imap", "vpn", "git", "docs", "shop", "edge"}
local TLDS = {"com", "net", "org", "example", "test", "io", "de", "co.uk", "info"}
local domains = {}
for i = 1, 600 do
  domains[i] = rlabel(3, 12) .. "." .. TLDS[rnd(#TLDS) + 1]
end
local names = {}
for i = 1, 3000 do
  local d = domains[rnd(#domains) + 1]
  local r = rnd(10)
  local nm
  if r < 4 then nm = HOSTS[rnd(#HOSTS) + 1] .. "." .. d
  elseif r < 6 then nm = d
  elseif r < 8 then nm = rlabel(2, 10) .. "." .. HOSTS[rnd(#HOSTS) + 1] .. "." .. d
  else nm = rlabel(4, 20) .. "-" .. rlabel(2, 6) .. "." .. rlabel(2, 8) .. "." .. d end
  names[i] = nm
end
local ptrnames = {}
for i = 1, 400 do
  if i % 5 == 0 then      -- ip6.arpa: 32 nibble labels
    local t = {}
    for k = 1, 20 do t[k] = string.format("%x", rnd(16)) end
    ptrnames[i] = table.concat(t, ".") .. ".0.0.0.0.2.0.0.0.1.0.0.2.ip6.arpa"
  else
    ptrnames[i] = string.format("%d.%d.%d.198.in-addr.arpa", rnd(256), rnd(256), 18 + rnd(2))
  end
end
local TXTS = {"v=spf1 -all", "v=spf1 include:_spf.example ~all",
              "google-site-verification=" .. rlabel(30, 40), "ok"}

-- qtypes and their weights (out of 100)
local T_A, T_NS, T_SOA, T_PTR, T_MX, T_TXT, T_AAAA, T_SRV, T_OPT, T_HTTPS =
  1, 2, 6, 12, 15, 16, 28, 33, 41, 65
local QTYPES = {}
for _, e in ipairs{{T_A, 44}, {T_AAAA, 24}, {T_PTR, 10}, {T_MX, 8}, {T_TXT, 7},
                   {T_HTTPS, 3}, {T_NS, 2}, {T_SOA, 1}, {T_SRV, 1}} do
  for _ = 1, e[2] do QTYPES[#QTYPES + 1] = e[1] end
end

-- Byte buffer --------------------------------------------------------------
local MAXLEN = 2048
local buf = ffi.new("uint8_t[?]", MAXLEN)
local function put8(o, v) buf[o] = v; return o + 1 end
local function put16(o, v) buf[o] = rshift(v, 8); buf[o + 1] = band(v, 255); return o + 2 end
local function put32(o, v)
  buf[o] = band(rshift(v, 24), 255); buf[o + 1] = band(rshift(v, 16), 255)
  buf[o + 2] = band(rshift(v, 8), 255); buf[o + 3] = band(v, 255)
  return o + 4
end
local function putstr(o, s)
  ffi.copy(buf + o, s, #s)
  return o + #s
end
-- A name in wire format; returns the new offset.
local function putname(o, name)
  for label in name:gmatch("[^.]+") do
    o = put8(o, #label)
    o = putstr(o, label)
  end
  return put8(o, 0)
end

-- Internet checksum over buf[o, o+n), starting from sum.
local function csum_add(sum, o, n)
  local e = o + n - 1
  for i = o, e - 1, 2 do sum = sum + buf[i] * 256 + buf[i + 1] end
  if n % 2 == 1 then sum = sum + buf[e] * 256 end
  return sum
end
local function csum_fold(sum)
  while sum > 0xffff do sum = band(sum, 0xffff) + rshift(sum, 16) end
  return band(bxor(sum, 0xffff), 0xffff)
end

-- Hosts ------------------------------------------------------------------
-- Clients 198.18.x.y and 2001:2:0:1::/64; resolvers 198.19.0.53-56 and
-- 2001:2:0:53::53-56; other servers 198.19.1.0/24 and 2001:2:0:80::/64.
local NCLIENT = 2000
local clients = {}
for i = 1, NCLIENT do
  clients[i] = {v4 = {198, 18, rnd(256), 1 + rnd(254)},
                v6 = {rnd(65536), rnd(65536), rnd(65536), rnd(65536)},
                mac = {2, 0, 0, rnd(256), rnd(256), rnd(256)}, idx = i}
end
local ROUTER_MAC = {2, 0, 0, 0, 0, 1}

local function put_addr4(o, a) buf[o], buf[o+1], buf[o+2], buf[o+3] = a[1], a[2], a[3], a[4]; return o + 4 end
local function put_addr6(o, iid, net, host)
  o = put16(o, 0x2001); o = put16(o, 0x0002); o = put16(o, 0); o = put16(o, net)
  if iid then
    for k = 1, 4 do o = put16(o, iid[k]) end
  else
    o = put16(o, 0); o = put16(o, 0); o = put16(o, 0); o = put16(o, host)
  end
  return o
end

-- L2 + L3 headers --------------------------------------------------------
-- Writes Ethernet (+VLAN) and the IP header for a packet from client c to
-- a server (toserver) or back; returns l3 offset, l4 offset, and a
-- pseudo-header checksum start for the L4 checksum (without length).
local function put_l2l3(c, toserver, v6, vlan, proto, srv4, srv6net, srv6host)
  local o = 0
  local smac, dmac = c.mac, ROUTER_MAC
  if not toserver then smac, dmac = ROUTER_MAC, c.mac end
  for k = 1, 6 do buf[o] = dmac[k]; o = o + 1 end
  for k = 1, 6 do buf[o] = smac[k]; o = o + 1 end
  if vlan then o = put16(o, 0x8100); o = put16(o, vlan) end
  o = put16(o, v6 and 0x86dd or 0x0800)
  local l3 = o
  if v6 then
    o = put32(o, 0x60000000 + rnd(0x100000))   -- version, flow label
    o = put16(o, 0)                            -- payload length, set later
    o = put8(o, proto); o = put8(o, toserver and 64 or 57)
    if toserver then
      o = put_addr6(o, c.v6, 1); o = put_addr6(o, nil, srv6net, srv6host)
    else
      o = put_addr6(o, nil, srv6net, srv6host); o = put_addr6(o, c.v6, 1)
    end
  else
    o = put16(o, 0x4500); o = put16(o, 0)       -- total length, set later
    o = put16(o, rnd(65536)); o = put16(o, 0x4000)   -- id, DF
    o = put8(o, toserver and 64 or 57); o = put8(o, proto)
    o = put16(o, 0)                            -- checksum, set later
    if toserver then o = put_addr4(o, c.v4); o = put_addr4(o, srv4)
    else o = put_addr4(o, srv4); o = put_addr4(o, c.v4) end
  end
  return l3, o
end

-- Fills in lengths and checksums once the L4 payload is written; returns
-- the frame length.
local function finish(l3, l4, e, v6, proto)
  local l4len = e - l4
  local sum
  if v6 then
    put16(l3 + 4, l4len)
    sum = csum_add(0, l3 + 8, 32)
  else
    put16(l3 + 2, e - l3)
    put16(l3 + 10, csum_fold(csum_add(0, l3, 20)))
    sum = csum_add(0, l3 + 12, 8)
  end
  if proto == 17 then
    put16(l4 + 4, l4len)
    sum = csum_add(sum + 17 + l4len, l4, l4len)
    local c = csum_fold(sum)
    put16(l4 + 6, c == 0 and 0xffff or c)
  elseif proto == 6 then
    sum = csum_add(sum + 6 + l4len, l4, l4len)
    put16(l4 + 16, csum_fold(sum))
  elseif proto == 1 then
    put16(l4 + 2, csum_fold(csum_add(0, l4, l4len)))
  elseif proto == 58 then
    sum = csum_add(sum + 58 + l4len, l4, l4len)
    put16(l4 + 2, csum_fold(sum))
  end
  return e
end

-- DNS messages -------------------------------------------------------------
local function qname_for(qtype)
  if qtype == T_PTR then return ptrnames[rnd(#ptrnames) + 1] end
  return names[rnd(#names) + 1]
end

-- Writes a DNS message at o; returns the end offset.
local function put_dns(o, id, qtype, qname, response)
  local start = o
  o = put16(o, id)
  local nx = response and chance(0.06)
  local an = 0
  if response and not nx then
    an = (qtype == T_A or qtype == T_AAAA) and 1 + rnd(4) or 1 + rnd(2)
  end
  local edns = chance(0.4)
  o = put16(o, response and (nx and 0x8183 or 0x8180) or 0x0100)
  o = put16(o, 1); o = put16(o, an); o = put16(o, 0); o = put16(o, edns and 1 or 0)
  o = putname(o, qname)
  o = put16(o, qtype); o = put16(o, 1)
  -- Answers point back at the question name (0xc00c).
  local owner = start + 12
  for k = 1, an do
    local t = qtype
    if t == T_HTTPS or t == T_SRV or t == T_SOA or t == T_NS then t = T_A end
    -- a CNAME first now and then, then records for its target
    if k == 1 and an > 1 and chance(0.3) then
      o = put16(o, 0xc00c); o = put16(o, 5); o = put16(o, 1); o = put32(o, 300)
      local rd = o; o = o + 2
      local target = o
      o = put8(o, 4); o = putstr(o, "edge"); o = put8(o, 3); o = putstr(o, "cdn")
      o = put16(o, 0xc000 + owner - start + 1 + buf[owner])   -- the question's parent
      put16(rd, o - rd - 2)
      owner = target
    else
      o = put16(o, 0xc000 + owner - start); o = put16(o, t); o = put16(o, 1)
      o = put32(o, 60 + rnd(86400))
      local rd = o; o = o + 2
      if t == T_A then
        o = put8(o, 198); o = put8(o, 18 + rnd(2)); o = put8(o, rnd(256)); o = put8(o, rnd(256))
      elseif t == T_AAAA then
        o = put16(o, 0x2001); o = put16(o, 2); o = put16(o, 0); o = put16(o, rnd(65536))
        for _ = 1, 4 do o = put16(o, rnd(65536)) end
      elseif t == T_PTR then
        local h = names[rnd(#names) + 1]
        o = putname(o, h)
      elseif t == T_MX then
        o = put16(o, 10 * k)
        o = put8(o, 3); o = putstr(o, "mx" .. k)
        o = put16(o, 0xc000 + 12)   -- mxN.<qname>
      elseif t == T_TXT then
        local s = TXTS[rnd(#TXTS) + 1]
        o = put8(o, #s); o = putstr(o, s)
      end
      put16(rd, o - rd - 2)
    end
  end
  if edns then
    o = put8(o, 0); o = put16(o, T_OPT); o = put16(o, response and 1232 or 4096)
    o = put32(o, 0); o = put16(o, 0)
  end
  return o, nx and 3 or 0
end

-- Packet kinds -------------------------------------------------------------
local RES4 = {{198, 19, 0, 53}, {198, 19, 0, 54}, {198, 19, 0, 55}, {198, 19, 0, 56}}

-- Queries wait here for their response, which answers the oldest one
-- (same client, server, port, id and name), as a resolver would; a few
-- are never answered.
local waiting, whead, wtail = {}, 1, 0

local function new_query()
  local qtype = QTYPES[rnd(#QTYPES) + 1]
  local q = {c = clients[rnd(NCLIENT) + 1], v6 = chance(0.3),
             vlan = chance(0.08) and (100 + rnd(4)) or nil, r = rnd(4) + 1,
             cport = 1024 + rnd(64511), id = rnd(65536), qtype = qtype,
             qname = qname_for(qtype)}
  wtail = wtail + 1
  waiting[wtail] = q
  return q
end

local function oldest_query()
  while whead <= wtail do
    local q = waiting[whead]
    waiting[whead] = nil
    whead = whead + 1
    if not chance(0.02) then return q end   -- else: never answered
  end
  return nil
end

-- The DNS message of the packet just made, for the truth (when asked
-- for): one table, refilled; msg.set says whether this packet has one.
local msg = {set = false}
local function note(response, v6, qtype, rcode, qname, tcp, c, r, cport, id)
  msg.set, msg.response, msg.v6, msg.qtype, msg.rcode, msg.qname = true, response, v6, qtype, rcode, qname
  msg.tcp, msg.c, msg.r, msg.cport, msg.id = tcp, c, r, cport, id
end

local function dns_udp()
  local q = chance(0.5) and oldest_query()
  local response = q and true or false
  q = q or new_query()
  local l3, l4 = put_l2l3(q.c, not response, q.v6, q.vlan, 17, RES4[q.r], 0x53, 0x52 + q.r)
  if response then put16(l4, 53); put16(l4 + 2, q.cport)
  else put16(l4, q.cport); put16(l4 + 2, 53) end
  put16(l4 + 6, 0)
  local e, rcode = put_dns(l4 + 8, q.id, q.qtype, q.qname, response)
  if truth_path then note(response, q.v6, q.qtype, rcode, q.qname, false, q.c, q.r, q.cport, q.id) end
  return finish(l3, l4, e, q.v6, 17)
end

local function put_tcp(l4, sport, dport, flags)
  put16(l4, sport); put16(l4 + 2, dport)
  put32(l4 + 4, rnd32()); put32(l4 + 8, rnd32())
  put16(l4 + 12, 0x5000 + flags); put16(l4 + 14, 502 + rnd(64000))
  put16(l4 + 16, 0); put16(l4 + 18, 0)
  return l4 + 20
end

local function dns_tcp()
  local c = clients[rnd(NCLIENT) + 1]
  local v6 = chance(0.3)
  local response = chance(0.5)
  local r = rnd(4) + 1
  local cport = 1024 + rnd(64511)
  local l3, l4 = put_l2l3(c, not response, v6, nil, 6, RES4[r], 0x53, 0x52 + r)
  local sp, dp = cport, 53
  if response then sp, dp = 53, cport end
  if chance(0.3) then               -- a bare ACK on the DNS connection
    local e = put_tcp(l4, sp, dp, 0x10)
    return finish(l3, l4, e, v6, 6)
  end
  local o = put_tcp(l4, sp, dp, 0x18)
  local qtype = QTYPES[rnd(#QTYPES) + 1]
  local id = rnd(65536)
  local qname = qname_for(qtype)
  local e, rcode = put_dns(o + 2, id, qtype, qname, response)
  put16(o, e - o - 2)
  if truth_path then note(response, v6, qtype, rcode, qname, true, c, r, cport, id) end
  return finish(l3, l4, e, v6, 6)
end

local function other_tcp()
  local c = clients[rnd(NCLIENT) + 1]
  local v6 = chance(0.25)
  local toserver = chance(0.5)
  local srv = {198, 19, 1, 1 + rnd(32)}
  local l3, l4 = put_l2l3(c, toserver, v6, nil, 6, srv, 0x80, 1 + rnd(32))
  local port = chance(0.8) and 443 or 80
  local cport = 1024 + rnd(64511)
  local sp, dp = cport, port
  if not toserver then sp, dp = port, cport end
  local n = 0
  if chance(0.6) then n = rnd(1201) end
  local o = put_tcp(l4, sp, dp, n > 0 and 0x18 or 0x10)
  for k = 0, n - 1 do buf[o + k] = band(k * 7 + 13, 255) end
  return finish(l3, l4, o + n, v6, 6)
end

local function icmp_or_udp()
  local c = clients[rnd(NCLIENT) + 1]
  local v6 = chance(0.3)
  local toserver = chance(0.5)
  local srv = {198, 19, 1, 1 + rnd(32)}
  if chance(0.6) then
    local proto = v6 and 58 or 1
    local l3, l4 = put_l2l3(c, toserver, v6, nil, proto, srv, 0x80, 1 + rnd(32))
    local typ
    if v6 then typ = toserver and 128 or 129 else typ = toserver and 8 or 0 end
    put8(l4, typ); put8(l4 + 1, 0); put16(l4 + 2, 0)
    put16(l4 + 4, rnd(65536)); put16(l4 + 6, rnd(1000))
    for k = 0, 47 do buf[l4 + 8 + k] = k end
    return finish(l3, l4, l4 + 56, v6, proto)
  end
  local l3, l4 = put_l2l3(c, toserver, v6, nil, 17, srv, 0x80, 1 + rnd(32))
  local port = chance(0.5) and 123 or 443
  local cport = port == 123 and 123 or 1024 + rnd(64511)
  if toserver then put16(l4, cport); put16(l4 + 2, port)
  else put16(l4, port); put16(l4 + 2, cport) end
  put16(l4 + 6, 0)
  local n = port == 123 and 48 or 40 + rnd(1200)
  for k = 0, n - 1 do buf[l4 + 8 + k] = band(k * 31 + 7, 255) end
  return finish(l3, l4, l4 + 8 + n, v6, 17)
end

-- Ground truth ---------------------------------------------------------------
-- Counted as the packets are written; the fields are those of
-- tests/bench/genshapes.c. matched: responses that find their query by the
-- key dnsstats matches on (client and server addresses, ports, id, name)
-- among the queries still waiting, within its default --timeout (5 s), as
-- any matcher by that key must; info.ambiguous counts the times that was
-- not what this generator meant (a query reusing a waiting query's key, a
-- TCP response, whose query is never written, that happens to fit one):
-- 0 unless the random ports and ids collide.
local TIMEOUT = 5e9
local T = {packets = 0, dns = 0, queries = 0, responses = 0, udp = 0, tcp = 0, ["4"] = 0, ["6"] = 0,
           qtypes = {}, rcodes = {}, matched = 0, names = {}, clients = {}, ambiguous = 0}
-- queries by time, to forget (a ring: the last 6 s hold some 30,000)
local RING = 262144
local pending, pendname = {}, {}
local ringk, ringt, rhead, rtail = ffi.new("double[?]", RING), ffi.new("double[?]", RING), 0, 0

-- The key but the name, as one exact number (51 bits): the client's
-- address (IPv4: 198.18.x.y, so x and y; IPv6: its random interface id,
-- one per client, so the client's number), the server, port, id. The
-- name is compared apart (pendname); a query whose key but the name
-- equals a waiting one's counts as ambiguous (this table keeps one).
local function key_of(m)
  local c = m.c
  local a = m.v6 and 65536 + c.idx or c.v4[3] * 256 + c.v4[4]
  return ((a * 4 + m.r - 1) * 65536 + m.cport) * 65536 + m.id
end

local function bump(t, k) t[k] = (t[k] or 0) + 1 end

-- A client's address as text (RFC 5952 for IPv6: lower-case hex, the
-- longest run of two or more zero groups, the first of equals, as "::").
local function v6_text(g)
  local best, blen, i = 0, 1, 1
  while i <= 8 do
    local j = i
    while j <= 8 and g[j] == 0 do j = j + 1 end
    if j - i > blen then best, blen = i, j - i end
    i = j + 1
  end
  local parts = {}
  for k = 1, 8 do parts[k] = string.format("%x", g[k]) end
  if best == 0 then return table.concat(parts, ":") end
  return table.concat(parts, ":", 1, best - 1) .. "::" .. table.concat(parts, ":", best + blen, 8)
end
local function client_text(m)
  local c = m.c
  if not c.t4 then
    c.t4 = table.concat(c.v4, ".")
    c.t6 = v6_text({0x2001, 2, 0, 1, c.v6[1], c.v6[2], c.v6[3], c.v6[4]})
  end
  return m.v6 and c.t6 or c.t4
end

local function truth_count(now)      -- now: ns since the first packet
  T.packets = T.packets + 1
  local m = msg
  if not m.set then return end
  m.set = false
  T.dns = T.dns + 1
  bump(T, m.tcp and "tcp" or "udp")
  bump(T, m.v6 and "6" or "4")
  local key = key_of(m)
  if m.response then
    T.responses = T.responses + 1
    bump(T.rcodes, m.rcode)
    local t0 = pending[key]
    if t0 and pendname[key] == m.qname then
      pending[key], pendname[key] = nil, nil
      if now - t0 <= TIMEOUT then T.matched = T.matched + 1 end
      if m.tcp then T.ambiguous = T.ambiguous + 1 end
    end
  else
    T.queries = T.queries + 1
    bump(T.qtypes, m.qtype)
    bump(T.names, m.qname)
    bump(T.clients, client_text(m))
    if pending[key] then T.ambiguous = T.ambiguous + 1 end
    pending[key], pendname[key] = now, m.qname
    assert(rtail - rhead < RING, "gendns: truth ring full")
    ringk[rtail % RING], ringt[rtail % RING] = key, now
    rtail = rtail + 1
  end
  -- forget queries long past the timeout
  while rhead < rtail and ringt[rhead % RING] < now - TIMEOUT - 1e9 do
    local k = ringk[rhead % RING]
    if pending[k] == ringt[rhead % RING] then pending[k], pendname[k] = nil, nil end
    rhead = rhead + 1
  end
end

local function json_map(t)
  local keys, parts = {}, {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do parts[i] = string.format('"%d":%d', k, t[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function json_top(counts)   -- the 20 largest, as JSON list items
  local top = {}
  for k, c in pairs(counts) do top[#top + 1] = {k, c} end
  table.sort(top, function(a, b) if a[2] ~= b[2] then return a[2] > b[2] end return a[1] < b[1] end)
  local parts = {}
  for i = 1, math.min(20, #top) do parts[i] = string.format('["%s",%d]', top[i][1], top[i][2]) end
  return table.concat(parts, ",")
end

local function write_truth(path, seconds)
  local f = assert(io.open(path, "w"))
  f:write(string.format('{"shape":"mix","n":%d,"timeout_s":5,"packets":%d,"dns":%d,"queries":%d,' ..
    '"responses":%d,"malformed":0,"transport":{"udp":%d,"tcp":%d},"ip":{"4":%d,"6":%d},' ..
    '"qtypes":%s,"rcodes":%s,"matched":%d,"unanswered":%d,"top_qnames":[%s],"top_clients":[%s],' ..
    '"info":{"seconds":%.3f,"ambiguous":%d}}\n',
    N, T.packets, T.dns, T.queries, T.responses, T.udp, T.tcp, T["4"], T["6"],
    json_map(T.qtypes), json_map(T.rcodes), T.matched, T.queries - T.matched,
    json_top(T.names), json_top(T.clients), seconds, T.ambiguous))
  assert(f:close())
end

-- Main -----------------------------------------------------------------------
local w, err = pktsh.pcap_writer(out, {linktype = "EN10MB", snaplen = 65535})
if not w then
  io.stderr:write("gendns: ", tostring(err), "\n")
  os.exit(1)
end
local ts = ffi.new("int64_t", 1700000000) * 1000000000   -- beyond 2^53
local ts0 = ts
for i = 1, N do
  local r = rnd(1000)
  local len
  if r < 900 then len = dns_udp()
  elseif r < 930 then len = dns_tcp()
  elseif r < 980 then len = other_tcp()
  else len = icmp_or_udp() end
  ts = ts + 1000 + rnd(200000)
  if truth_path then truth_count(tonumber(ts - ts0)) end
  local ok, werr = w:write(ffi.string(buf, len), ts)
  if not ok then
    io.stderr:write("gendns: ", tostring(werr), "\n")
    os.exit(1)
  end
  if i % 100000 == 0 then io.stderr:write(string.format("gendns: %d/%d\n", i, N)) end
end
local ok, cerr = w:close()
if not ok then
  io.stderr:write("gendns: ", tostring(cerr), "\n")
  os.exit(1)
end
if truth_path then write_truth(truth_path, tonumber(ts - ts0) / 1e9) end
io.stderr:write(string.format("gendns: wrote %d packets to %s\n", N, out))
