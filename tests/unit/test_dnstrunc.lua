-- test_dnstrunc.lua - DNS messages cut short by the capture (issue 12
-- item 3), as a class: a query and a response (two answers after the
-- question) over UDP in IPv4, IPv6, a VLAN tag, VXLAN and GRE, each cut
-- after every byte of the DNS message, the IP and UDP lengths left
-- claiming the whole (as a capture before segmentation offload, or with
-- a small snaplen, writes them; length on the wire = bytes captured).
--
-- For each cut, dnsstats' engine (the C scan, and the general path
-- through pktsh.dnsflow) must count the message in truncated, as a query
-- or response once its first 4 bytes are there (the response by its
-- RCODE), by name and type and matched to its query only once its
-- question is whole, never as malformed, and nothing cut as a message
-- that was not (truncated 0 for the whole one).
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
  for i, f in ipairs(frames) do list[i] = {data = f, ts = 1700000000 + i / 100} end
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
  T.eq(st.dns, 2, what .. ": messages")
  T.eq(st.truncated, whole and 0 or 1, what .. ": truncated")
  T.eq(st.malformed, 0, what .. ": malformed")
  T.eq(st.queries, 1, what .. ": queries")
  T.eq(st.responses, n >= 4 and 1 or 0, what .. ": responses (QR from 4 bytes)")
  T.eq(count(st.rcodes, 3), n >= 4 and 1 or 0, what .. ": NXDOMAIN counted")
  T.eq(st.matched, n >= QEND and 1 or 0, what .. ": matched only with the question whole")
  T.eq(st.messages.udp[st.ip["6"] > 0 and "6" or "4"].unknown, n < 4 and 1 or nil,
       what .. ": direction unknown below 4 bytes")
end

local function check_query(st, n, what)
  local whole = n == #QUERY
  T.eq(st.dns, 1, what .. ": messages")
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

os.execute("rm -rf " .. dir)
T.done()
