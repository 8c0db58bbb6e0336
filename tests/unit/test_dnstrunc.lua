-- test_dnstrunc.lua - DNS messages cut short by the capture (issue 12
-- item 3), as a class: a query and a response (two answers after the
-- question) over UDP in IPv4, IPv6, a VLAN tag, VXLAN and GRE, each cut
-- after every byte of the DNS message, the IP and UDP lengths left
-- claiming the whole (as a capture before segmentation offload, or with
-- a small snaplen, writes them; length on the wire = bytes captured).
--
-- For each cut, dnsstats' engine (the C scan, and the general path
-- through pktsh.dnsflow) must count the cut in truncated, and as a
-- message only once its first 4 bytes (id and flags) are there, as
-- Wireshark does: a query or response (the response by its RCODE), by
-- name and type and matched to its query only once its question is
-- whole, never as malformed, and nothing cut as a message that was not
-- (truncated 0 for the whole one).
--
-- Over TCP the same, for a segment of two responses (and one whose 2nd
-- response runs into the next segment) cut after every byte, in IPv4
-- and IPv6 (the sequence space whole: the IP length claims the whole
-- segment, the length on the wire too): the cut response counts in
-- truncated as over UDP once a byte after its length prefix is there,
-- the stream stays in step over the missing bytes by the length prefix
-- (the next segment's response always counts), a cut that hides a
-- length prefix resynchronises the flow (tcp_cut_resyncs), and none is
-- a TCP gap.
local T = require "t"
local dnsstats = require "pktsh.app.dnsstats"
local b = pktsh.build
local u16 = b.u16
local lib = dofile("tests/pcaps/gen/lib.lua")

local NAME = "cut.example.com"
local QUERY = lib.dns(7, 0x0100, NAME, 0)
local RESPONSE = lib.dns(7, 0x8183, NAME, 2)      -- NXDOMAIN, two answers
local QEND = 12 + #NAME + 2 + 4                    -- where the question ends

-- Frame makers: payload (the DNS message), response or query -> frame,
-- and the offset of the DNS message in it.
local C4, S4, C6, S6 = "198.18.1.10", "198.18.1.53", "2001:2::10", "2001:2::53"
local function udp(v6, resp, payload, extra)
  local o = {src = v6 and C6 or C4, dst = v6 and S6 or S4, sport = 40007, dport = 53, payload = payload}
  if resp then o.src, o.dst, o.sport, o.dport = o.dst, o.src, 53, 40007 end
  for k, v in pairs(extra or {}) do o[k] = v end
  return (v6 and b.udp6 or b.udp4)(o)
end

local kinds = {
  {"UDP/IPv4", function(resp, m) return udp(false, resp, m) end, 42},
  {"UDP/IPv6", function(resp, m) return udp(true, resp, m) end, 62},
  {"VLAN 100, UDP/IPv4", function(resp, m) return udp(false, resp, m, {vlan = 100}) end, 46},
  {"VXLAN, inner UDP/IPv6", function(resp, m)
    local inner = udp(true, resp, m)
    return b.udp4{src = "198.18.0.1", dst = "198.18.0.2", sport = 49152, dport = 4789,
                  payload = "\8\0\0\0\0\0\42\0" .. inner}
  end, 42 + 8 + 62},
  {"GRE, inner UDP/IPv4", function(resp, m)
    local inner = udp(false, resp, m):sub(15)
    return b.ip4{proto = 47, src = "198.18.0.1", dst = "198.18.0.2", payload = "\0\0\8\0" .. inner}
  end, 34 + 4 + 20 + 8},
}

local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

-- dnsstats' state over frames (all at once), by the C scan or dnsflow.
local function stats(frames, general)
  local path = dir .. "/cut.pcap"
  local list = {}
  for i, f in ipairs(frames) do
    if type(f) == "table" then            -- {data, len on the wire}
      list[i] = {data = f[1], len = f[2], ts = 1700000000 + i / 100}
    else
      list[i] = {data = f, ts = 1700000000 + i / 100}
    end
  end
  lib.write(path, list)
  local src = assert(pktsh.open(path))
  local st = dnsstats.work(src, {general = general})
  src:close()
  return st
end

local function count(t, k) return (t or {})[k] or 0 end

-- What the counts must be with n bytes of a response (after its whole
-- query) captured.
local function check_response(st, n, what)
  local whole = n == #RESPONSE
  T.eq(st.dns, n >= 4 and 2 or 1, what .. ": messages (a message from 4 bytes)")
  T.eq(st.truncated, whole and 0 or 1, what .. ": truncated")
  T.eq(st.malformed, 0, what .. ": malformed")
  T.eq(st.queries, 1, what .. ": queries")
  T.eq(st.responses, n >= 4 and 1 or 0, what .. ": responses (QR from 4 bytes)")
  T.eq(count(st.rcodes, 3), n >= 4 and 1 or 0, what .. ": NXDOMAIN counted")
  -- a cut response answers its query without a latency (as dns.time)
  T.eq(st.matched, whole and 1 or 0, what .. ": matched (a latency) only whole")
  T.eq(st.messages.udp[st.ip["6"] > 0 and "6" or "4"].unknown, nil,
       what .. ": no message of unknown direction")
end

local function check_query(st, n, what)
  local whole = n == #QUERY
  T.eq(st.dns, n >= 4 and 1 or 0, what .. ": messages (a message from 4 bytes)")
  T.eq(st.truncated, whole and 0 or 1, what .. ": truncated")
  T.eq(st.malformed, 0, what .. ": malformed")
  T.eq(st.queries, n >= 4 and 1 or 0, what .. ": queries (QR from 4 bytes)")
  T.eq(count(st.qtypes, 1), n >= QEND and 1 or 0, what .. ": qtype A only with the question whole")
  local top = dnsstats.top(st, "qnames", 10)
  T.eq(#top, n >= QEND and 1 or 0, what .. ": name only with the question whole")
  if top[1] then T.eq(top[1].key, NAME, what .. ": the name") end
end

local function fields(st)
  return {st.dns, st.truncated, st.tc, st.malformed, st.queries, st.responses, st.matched,
          st.unmatched, count(st.rcodes, 3), count(st.qtypes, 1)}
end

for _, k in ipairs(kinds) do
  local name, make, at = k[1], k[2], k[3]
  T.test(name .. ": a response cut after every byte", function()
    local q, r = make(false, QUERY), make(true, RESPONSE)
    T.eq(r:sub(at + 1, at + 2), u16(7), "the message starts where expected")
    for n = 1, #RESPONSE do
      local st = stats({q, r:sub(1, at + n)})
      check_response(st, n, name .. " response, " .. n .. " bytes")
      T.deq(fields(stats({q, r:sub(1, at + n)}, true)), fields(st),
            name .. " response, " .. n .. " bytes: dnsflow counts as the C scan")
    end
    -- no DNS byte at all: no message
    T.eq(stats({q, r:sub(1, at)}).dns, 1, name .. ": no DNS byte, no message")
  end)
  T.test(name .. ": a query cut after every byte", function()
    local q = make(false, QUERY)
    for n = 1, #QUERY do
      local st = stats({q:sub(1, at + n)})
      check_query(st, n, name .. " query, " .. n .. " bytes")
      T.deq(fields(stats({q:sub(1, at + n)}, true)), fields(st),
            name .. " query, " .. n .. " bytes: dnsflow counts as the C scan")
    end
  end)
end

-- A message whose captured bytes are broken is malformed, cut or not:
-- a compression pointer forward, in the first question.
T.test("cut and broken: malformed and truncated", function()
  local bad = QUERY:sub(1, 12) .. "\192\40" .. QUERY:sub(QEND - 3)
  local f = udp(false, false, bad .. string.rep("\0", 40))
  local st = stats({f:sub(1, 42 + #bad)})
  T.eq(st.truncated, 1, "truncated")
  T.eq(st.malformed, 1, "malformed")
  T.eq(st.queries, 1, "a query (malformed)")
end)

-- The UDP length past the IP datagram, whole in the capture: malformed
-- or not as before, never cut by the capture.
T.test("a UDP length past a whole IP datagram is not a cut", function()
  local f = udp(false, true, RESPONSE)
  f = f:sub(1, 38) .. u16(#RESPONSE + 8 + 100) .. f:sub(41)
  local st = stats({f})
  T.eq(st.truncated, 0, "truncated")
  T.eq(st.responses, 1, "response")
end)

-- TCP -----------------------------------------------------------------------

local TNAMES = {"one.example.com", "two.example.org", "three.example.net"}
local TQ, TR = {}, {}
for i, name in ipairs(TNAMES) do
  TQ[i] = lib.dns(i, 0x0100, name, 0)
  TR[i] = lib.dns(i, ({0x8183, 0x8182, 0x8180})[i], name, ({2, 1, 0})[i])   -- NXDOMAIN, SERVFAIL
end
local function prefixed(m) return u16(#m) .. m end

-- The frames of one connection: handshake, the three queries in one
-- segment, then the server's segments (strings of stream bytes), the
-- first cut after n bytes of its payload; -> frames, TCP payload offset.
local function connection(v6, segs, n)
  local c, s = v6 and C6 or C4, v6 and S6 or S4
  local mk = v6 and b.tcp6 or b.tcp4
  local cseq, sseq = 100, 5000
  local out = {}
  local function add(f, cut) out[#out + 1] = {f:sub(1, cut or #f), #f} end
  add(mk{src = c, dst = s, sport = 40009, dport = 53, seq = cseq - 1, flags = "S"})
  add(mk{src = s, dst = c, sport = 53, dport = 40009, seq = sseq - 1, ack = cseq, flags = "SA"})
  local q = prefixed(TQ[1]) .. prefixed(TQ[2]) .. prefixed(TQ[3])
  add(mk{src = c, dst = s, sport = 40009, dport = 53, seq = cseq, ack = sseq, flags = "PA", payload = q})
  local hdr = v6 and 74 or 54
  for i, data in ipairs(segs) do
    add(mk{src = s, dst = c, sport = 53, dport = 40009, seq = sseq, ack = cseq + #q, flags = "PA",
           payload = data}, i == 1 and hdr + n or nil)
    sseq = sseq + #data
  end
  return out
end

-- What dnsstats must count with n bytes of the first server segment
-- (first, whole: the two responses' stream bytes in it) captured.
local function tcp_expect(n, first)
  local p1 = #TR[1] + 2
  local whole = n == #first
  local e = {dns = 3 + 1, truncated = 0, responses = 1, nx = 0, servfail = 0, matched = 1,
             cut = whole and 0 or 1, resyncs = (not whole and n < p1 + 2) and 1 or 0}
  -- a response with k bytes after its prefix captured (of its whole w)
  local function resp(i, k)
    if k <= 0 then return end
    local cut = k < #TR[i]
    if cut then e.truncated = e.truncated + 1 end
    if k >= 4 then
      e.dns = e.dns + 1
      e.responses = e.responses + 1
      if i == 1 then e.nx = e.nx + 1 else e.servfail = e.servfail + 1 end
    end
    if not cut then e.matched = e.matched + 1 end   -- a cut one answers, no latency
  end
  if whole then
    resp(1, #TR[1]); resp(2, #TR[2])
  else
    resp(1, math.min(n, p1) - 2)
    if n >= p1 then resp(2, n - p1 - 2) end
  end
  return e
end

local function tcp_fields(st)
  local f = fields(st)
  for _, k in ipairs{"tcp_gaps", "tcp_cut", "tcp_cut_resyncs", "tcp_dropped", "tcp_unfinished"} do
    f[#f + 1] = st.flow[k]
  end
  return f
end

local function check_tcp(st, e, what)
  T.eq(st.dns, e.dns, what .. ": messages")
  T.eq(st.transport.tcp, e.dns, what .. ": all over TCP")
  T.eq(st.truncated, e.truncated, what .. ": truncated")
  T.eq(st.malformed, 0, what .. ": malformed")
  T.eq(st.queries, 3, what .. ": queries")
  T.eq(st.responses, e.responses, what .. ": responses (QR from 4 bytes)")
  T.eq(count(st.rcodes, 3), e.nx, what .. ": NXDOMAIN")
  T.eq(count(st.rcodes, 2), e.servfail, what .. ": SERVFAIL")
  T.eq(st.matched, e.matched, what .. ": matched (the 3rd response always: in step)")
  T.eq(st.flow.tcp_gaps, 0, what .. ": no TCP gap")
  T.eq(st.flow.tcp_cut, e.cut, what .. ": segments cut")
  T.eq(st.flow.tcp_cut_resyncs, e.resyncs, what .. ": resynchronised (a prefix hidden)")
end

local r1, r2, r3 = prefixed(TR[1]), prefixed(TR[2]), prefixed(TR[3])
local layouts = {
  {"two responses in one segment", {r1 .. r2, r3}},
  {"the 2nd response runs into the next segment", {r1 .. r2:sub(1, 20), r2:sub(21), r3}},
}
for _, v6 in ipairs{false, true} do
  for _, lay in ipairs(layouts) do
    local name = (v6 and "TCP/IPv6, " or "TCP/IPv4, ") .. lay[1]
    T.test(name .. ": the segment cut after every byte", function()
      local segs = lay[2]
      for n = 0, #segs[1] do
        local frames = connection(v6, segs, n)
        local what = name .. ", " .. n .. " bytes"
        local st = stats(frames)
        check_tcp(st, tcp_expect(n, segs[1]), what)
        T.deq(tcp_fields(stats(frames, true)), tcp_fields(st), what .. ": dnsflow counts as the C scan")
      end
    end)
  end
end

-- A TSO capture (IPv4 total length 0) whole in its frame: nothing cut;
-- cut by the capture (the frame's length on the wire longer): the cut
-- response counts as above, in step for the next segment.
T.test("TCP/IPv4 total length 0 (TSO): whole, and cut by the capture", function()
  local segs = {r1 .. r2, r3}
  for _, n in ipairs{#segs[1], #r1 + 10, #r1 + 1} do
    local frames = connection(false, segs, n)
    local f = frames[4]
    f[1] = f[1]:sub(1, 16) .. "\0\0" .. f[1]:sub(19)
    local st = stats(frames)
    check_tcp(st, tcp_expect(n, segs[1]), "TSO, " .. n .. " bytes")
    T.deq(tcp_fields(stats(frames, true)), tcp_fields(st), "TSO, " .. n .. " bytes: dnsflow as the C scan")
  end
end)

-- A segment that begins a connection's capture (no SYN seen) cut after
-- its first response's header: counted cut with no state kept when the
-- cut message ends with the segment; the next segment in step.
T.test("TCP: a cut segment of a flow not tracked", function()
  local frames = connection(false, {r1, r2 .. r3}, 20)
  table.remove(frames, 1); table.remove(frames, 1)
  local st = stats(frames)
  T.eq(st.dns, 3 + 3, "messages")
  T.eq(st.truncated, 1, "truncated")
  T.eq(st.flow.tcp_gaps, 0, "no gap")
  T.eq(st.flow.tcp_cut_resyncs, 0, "no resync")
  T.eq(st.flow.tcp_flows, 0, "no flow kept")
  T.deq(tcp_fields(stats(frames, true)), tcp_fields(st), "dnsflow counts as the C scan")
end)

os.execute("rm -rf " .. dir)
T.done()
