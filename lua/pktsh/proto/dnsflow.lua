-- dnsflow.lua - packets in, DNS messages out (module pktsh.dnsflow).
--
-- API (stable; scripts/dnsstats.lua builds on it)
-- -----------------------------------------------
--   local dnsflow = require "pktsh.proto.dnsflow"          -- or pktsh.dnsflow
--   local fe = dnsflow.new{
--     ports = {53},          -- UDP/TCP ports that carry DNS (either side);
--                            -- add 5353 (mDNS), 5355 (LLMNR), 8053 ... as needed
--     tcp_timeout = 60,      -- s of capture time a TCP flow may stay idle
--     frag_timeout = 30,     -- s a fragmented datagram may stay incomplete
--     max_flows = 10000,     -- TCP flows tracked at once
--     max_frags = 1000,      -- fragmented datagrams being reassembled at once
--     max_buffer = 32 << 20, -- bytes held for TCP streams, and as many for
--                            -- fragments
--     outer_only = false,    -- true: DNS inside a tunnel (an IP datagram in
--                            -- another: IP in IP, GRE, VXLAN...) is passed over
--   }
--   n = fe:feed(pkt, emit)   -- calls emit(ptr, len, meta, pkt) for each complete
--                            -- DNS message this packet completes; returns n
--   fe:advance(ts_ns)        -- capture time passes without a packet fed here
--                            -- (a caller that reads some packets itself):
--                            -- expiry runs as feed would run it
--   fe:flush([ts_ns])        -- expire state idle since before ts_ns - timeout;
--                            -- no argument: drop everything (end of input),
--                            -- counting what was incomplete as timeouts
--   fe:stats()               -- a table of the counters below
--
-- emit(ptr, len, meta, pkt): ptr is a `const uint8_t *` to the DNS message
-- (after the TCP length prefix; UDP bounded by the UDP length), valid only
-- during the call; hand it to pktsh.dns.question / .parse. meta is ONE
-- table reused for every message (copy what you keep):
--   transport "udp" | "tcp"   ipver 4 | 6   sport, dport (numbers)
--   ts        the packet's time, ns since the epoch, as a Lua number
--   pkt       the packet that completed the message (last fragment/segment);
--             also emit's 4th argument, which costs no table lookup
--   fragmented  true when rebuilt from IP fragments
--   truncated   true when the capture cut the message short (an IP length
--               claims bytes past the frame and the UDP length, or the
--               TCP length prefix, runs past what is there): len is what
--               was captured (after the TCP length prefix), and the
--               message is emitted all the same
--   src, dst        addresses as text ("198.18.0.1", "2001:2::1"),
--   srcraw, dstraw  addresses as 4- or 16-byte strings (table keys);
--   srckey, dstkey  cheaper table keys: an IPv4 address as a number
--                   (host order), an IPv6 address as its 16-byte string;
--                   these six are computed on each access (not stored).
--
-- Rules: only UDP and TCP with a listed port on either side; DNS quoted
-- inside ICMP errors is never a message (the quoted packet is not looked
-- at); an empty UDP payload (UDP length 8) is no message. TCP (in C,
-- src/proto/dnstcp.c, the reassembler dnsstats' C scan uses too):
-- per-flow in-order reassembly from the SYN (or from the first segment
-- with data when the capture starts mid-flow, assumed to start a
-- message); retransmitted bytes are ignored; after a hole, a segment that
-- begins a plausible DNS message (length prefix, header whose counts fit)
-- means the hole lost data: the message it broke is given up (tcp_gaps)
-- and the flow goes on there, as Wireshark does; a segment inside a
-- message is held (16 per flow, 64 KB) until the hole fills, else the hole
-- is given up (counted) and the flow waits for a segment that begins a
-- message. A capture that starts inside a message waits the same way; a
-- late segment of whole messages inside the hole still counts. FIN/RST
-- end a flow. A segment the capture cut short (snaplen) is no hole: the
-- message it cuts is emitted with meta.truncated (not when nothing after
-- its length prefix was captured) and the flow passes over the rest of
-- it by its length prefix; when the cut hides where a message begins the
-- flow waits for one as after a hole, counted in tcp_cut_resyncs, not
-- tcp_gaps. Fragments (in C too, src/proto/ipfrag.c, which dnsstats'
-- scan shares): IPv4 and IPv6 UDP datagrams are rebuilt when every byte
-- is present; duplicates ignored, overlaps keep the first copy, datagrams
-- over 65535 bytes or 64 fragments dropped. Timeouts run on capture
-- time, checked once a second.
--
-- Bounds (packets are written by attackers): a new flow at max_flows
-- evicts the least recently active one, a new datagram at max_frags the
-- oldest one, and bytes that would pass max_buffer evict the oldest state
-- of that kind first (TCP streams and fragments each have max_buffer; a
-- flow's message that alone cannot fit is dropped and the flow resyncs).
-- Flows and datagrams sit on lists in age order, so eviction takes O(1)
-- and expiry looks only at what expires: a flood of 200,000 half-open
-- flows costs per segment what ordinary segments do (it cost 20-40 times
-- as much when a full table was swept for every new flow, and new flows
-- were refused). Every byte held counts against max_buffer, each held
-- segment or fragment with 64 more for its bookkeeping, and TCP stream
-- buffers are C memory freed on release (2,000 flows each holding most of
-- a 64 KiB message held 135 MB; now 32 MiB).
--
-- Counters (fe:stats()): udp, tcp (messages emitted), fragmented (of
-- those, rebuilt from fragments), malformed (bad TCP length prefix, UDP
-- header of a rebuilt datagram), dropped (= tcp_gaps + tcp_dropped +
-- frag_dropped), timeouts (= tcp_timeouts + frag_timeouts), evicted (=
-- tcp_evicted + frag_evicted: state given up to stay within the bounds),
-- and the parts: tcp_flows, tcp_dups, tcp_gaps, tcp_dropped,
-- tcp_timeouts, tcp_unfinished (data left at FIN/RST), tcp_evicted,
-- tcp_cut (segments the capture cut short), tcp_cut_resyncs (of those,
-- cuts that hid where a message begins: the flow resynchronised),
-- frag_datagrams, frag_dups, frag_dropped, frag_timeouts, frag_evicted,
-- frag_cut (cut fragments, none of them reassembled);
-- flows, frags (held now), buffered (bytes held now), buffered_peak,
-- state_visits (flows and datagrams looked at by expiry and eviction:
-- the work state costs).
local ffi = require "ffi"
local bit = require "bit"
local packet = require "pktsh.proto.packet"
local addr = require "pktsh.proto.addr"
local bytes = require "pktsh.proto.bytes"
local numbers = require "pktsh.proto.numbers"

local bor, lshift = bit.bor, bit.lshift
local cast, fstring = ffi.cast, ffi.string
local min = math.min

local M = {}

local decode_l3 = packet.decode_l3
local IP = numbers.IPPROTO
local IP_UDP, IP_TCP = IP.UDP, IP.TCP
local NEW, OK, FRAG_NONE = numbers.PKT.NEW, numbers.PKT.OK, numbers.FRAG.NONE
local ETH_IP4 = numbers.ETH.IP4
local in4_str, in6_str = addr.in4_str, addr.in6_str

local be16, be32 = bytes.be16, bytes.be32

---------------------------------------------------------------------------
-- meta: addresses on access, from the completing packet's IP header.

local in4_t = ffi.typeof("const struct pktsh_in4 *")
local in6_t = ffi.typeof("const struct pktsh_in6 *")

-- The packet is kept as a plain pointer in an FFI box, not in the table:
-- storing the packet cdata itself would cost an allocation per message.
local box_t = ffi.typeof("struct { const struct pktsh_pkt *p; }")
local boxes = setmetatable({}, {__mode = "k"})

local meta_mt = {__index = function(m, k)
  local p = boxes[m].p
  if p == nil then return nil end
  if k == "pkt" then return p end
  local v4 = rawget(m, "ipver") == 4
  local base = p.l3off + (v4 and 12 or 8)
  local alen = v4 and 4 or 16
  if k == "src" or k == "dst" then
    local o = base + (k == "dst" and alen or 0)
    if v4 then return in4_str(cast(in4_t, p.data + o)) end
    return in6_str(cast(in6_t, p.data + o))
  elseif k == "srckey" or k == "dstkey" then
    local o = base + (k == "dstkey" and alen or 0)
    if v4 then return be32(p.data, o) end
    return fstring(p.data + o, 16)
  elseif k == "srcraw" then
    return fstring(p.data + base, alen)
  elseif k == "dstraw" then
    return fstring(p.data + base + alen, alen)
  end
  return nil
end}

local C = ffi.C
local tcp_stats_t = ffi.typeof("struct pktsh_dnstcp_stats")
local TCP_STATS = {"tcp_flows", "tcp_dups", "tcp_gaps", "tcp_dropped", "tcp_timeouts",
                   "tcp_unfinished", "tcp_evicted", "tcp_cut", "tcp_cut_resyncs"}
local frag_stats_t = ffi.typeof("struct pktsh_ipfrag_stats")
local FRAG_STATS = {frag_datagrams = "datagrams", frag_dups = "dups", frag_dropped = "dropped",
                    frag_timeouts = "timeouts", frag_evicted = "evicted", frag_cut = "cut"}

-- The C reassembler of DNS over TCP for these options, collected with
-- its owner.
local function tcp_state(portmap, opts, max_buffer)
  local bits = ffi.new("uint8_t[?]", C.PKTSH_DNS_PORTMAP_BYTES)
  for pt = 0, 65535 do
    if portmap[pt] ~= 0 then
      local i = math.floor(pt / 8)
      bits[i] = bor(bits[i], lshift(1, pt % 8))
    end
  end
  local o = ffi.new("struct pktsh_dnstcp_opts")
  o.ports, o.timeout = bits, (opts.tcp_timeout or 60) * 1e9
  o.max_flows, o.max_buffer = opts.max_flows or 10000, max_buffer
  local err = ffi.new("struct pktsh_err")
  local t = C.pktsh_dnstcp_new(o, err)
  if t == nil then error("dnsflow.new: " .. ffi.string(err.msg), 3) end
  return ffi.gc(t, C.pktsh_dnstcp_free)
end

-- The C reassembler of IP fragments for these options, collected with
-- its owner.
local function frag_state(opts, max_buffer)
  local o = ffi.new("struct pktsh_ipfrag_opts")
  o.timeout, o.max_frags = (opts.frag_timeout or 30) * 1e9, opts.max_frags or 1000
  o.max_buffer = max_buffer
  local err = ffi.new("struct pktsh_err")
  local t = C.pktsh_ipfrag_new(o, err)
  if t == nil then error("dnsflow.new: " .. ffi.string(err.msg), 3) end
  return ffi.gc(t, C.pktsh_ipfrag_free)
end

function M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("dnsflow.new: options table expected", 2) end
  local portmap = ffi.new("uint8_t[65536]")
  local plist = opts.ports or {53}
  if type(plist) ~= "table" then error("dnsflow.new: ports must be a list", 2) end
  for _, pt in ipairs(plist) do
    pt = tonumber(pt)
    if not pt or pt < 0 or pt > 65535 then error("dnsflow.new: bad port " .. tostring(pt), 2) end
    portmap[pt] = 1
  end
  -- outer_only: DNS inside a tunnel (an IP datagram in another) is not seen
  local max_depth = opts.outer_only and 1 or math.huge
  local max_flows = opts.max_flows or 10000
  local max_frags = opts.max_frags or 1000
  local max_buffer = opts.max_buffer or 32 * 1048576
  if max_flows < 1 or max_frags < 1 then error("dnsflow.new: max_flows and max_frags >= 1", 2) end
  -- opts.tcp, opts.frags: a pktsh_dnstcp and a pktsh_ipfrag of the
  -- caller's (dnsstats shares its scan's)
  local th = opts.tcp or tcp_state(portmap, opts, max_buffer)
  local fh = opts.frags or frag_state(opts, max_buffer)

  local c = {udp = 0, fragmented = 0, malformed = 0}
  local meta = setmetatable({}, meta_mt)
  local box = box_t()
  boxes[meta] = box
  local databox = ffi.new("const uint8_t *[1]")
  local lenbox = ffi.new("uint32_t[1]")
  local cutbox = ffi.new("int32_t[1]")

  local function set_meta(p, transport, ipver, sp, dp, ts, fragd)
    meta.transport, meta.ipver, meta.sport, meta.dport = transport, ipver, sp, dp
    meta.ts, meta.fragmented, meta.truncated = ts, fragd, false
    box.p = p
  end

  -- UDP: the message in the datagram whose header is at off (0: none).
  local function udp(p, d, off, ts, ipver, emit)
    local stop = p.l3end
    if off == 0 or off + 8 > stop then return 0 end
    local sp, dp = be16(d, off), be16(d, off + 2)
    if portmap[sp] == 0 and portmap[dp] == 0 then return 0 end
    local ulen = be16(d, off + 4)
    if ulen < 8 then return 0 end
    local n = min(off + ulen, stop) - off - 8
    if n <= 0 then return 0 end
    c.udp = c.udp + 1
    meta.transport, meta.ipver, meta.sport, meta.dport = "udp", ipver, sp, dp
    meta.ts, meta.fragmented = ts, false
    meta.truncated = p.trunc ~= 0 and off + ulen > stop
    box.p = p
    emit(d + off + 8, n, meta, p)
    return 1
  end

  -- TCP: the segment goes to C; the messages it completes come back.
  local function tcp(p, d, ts, ipver, emit)
    local n = C.pktsh_dnstcp_segment(th, p, ipver == 6 and 1 or 0, ts)
    if n == 0 then return 0 end
    local off = p.l4off
    set_meta(p, "tcp", ipver, be16(d, off), be16(d, off + 2), ts, false)
    for i = 0, n - 1 do
      local m = C.pktsh_dnstcp_message(th, i, lenbox, cutbox)
      meta.truncated = cutbox[0] ~= 0
      emit(m, lenbox[0], meta, p)
    end
    return n
  end

  -- Fragments: into C; a datagram it completes comes back, valid until
  -- the next fragment.
  local function fragment(p, d, ts, ipver, emit)
    local r = C.pktsh_ipfrag_add(fh, p, ipver == 6 and 1 or 0, ts, databox, lenbox)
    if r == C.PKTSH_IPFRAG_CUT_FIRST then
      -- Wireshark reassembles only fragments captured whole; it decodes
      -- a cut first IPv4 fragment as it stands
      return udp(p, d, p.fragdata, ts, ipver, emit)
    end
    if r ~= C.PKTSH_IPFRAG_WHOLE then return 0 end
    local buf, total = databox[0], lenbox[0]
    if total < 8 then c.malformed = c.malformed + 1; return 0 end
    local sp, dp, ulen = be16(buf, 0), be16(buf, 2), be16(buf, 4)
    if portmap[sp] == 0 and portmap[dp] == 0 then return 0 end
    if ulen < 8 then c.malformed = c.malformed + 1; return 0 end
    local len = min(ulen, total) - 8
    if len == 0 then return 0 end
    c.udp = c.udp + 1
    c.fragmented = c.fragmented + 1
    set_meta(p, "udp", ipver, sp, dp, ts, true)
    emit(buf + 8, len, meta, p)
    return 1
  end

  -- Feeding -----------------------------------------------------------------

  -- Capture time passes: state idle too long expires, checked once a
  -- second (in C).
  local function advance(ts)
    C.pktsh_dnstcp_advance(th, ts)
    C.pktsh_ipfrag_advance(fh, ts)
  end

  local function feed(_, p, emit)
    if p.l3state == NEW then decode_l3(p) end
    if p.l3state ~= OK or p.depth > max_depth then return 0 end
    local proto = p.l4proto
    if proto ~= IP_UDP and proto ~= IP_TCP then return 0 end
    local ts = tonumber(p.ts)
    advance(ts)
    local d = p.data
    local ipver = p.ethertype == ETH_IP4 and 4 or 6
    if p.fragment ~= FRAG_NONE then
      if proto ~= IP_UDP then return 0 end
      return fragment(p, d, ts, ipver, emit)
    end
    if proto == IP_UDP then return udp(p, d, p.l4off, ts, ipver, emit) end
    return tcp(p, d, ts, ipver, emit)
  end

  local fe = {feed = feed}

  function fe.advance(_, ts) advance(ts) end

  function fe.flush(_, now)
    if now == nil then
      C.pktsh_ipfrag_flush(fh, 0, 1)
      C.pktsh_dnstcp_flush(th, 0, 1)
    else
      C.pktsh_ipfrag_flush(fh, tonumber(now), 0)
      C.pktsh_dnstcp_flush(th, tonumber(now), 0)
    end
  end

  local ts_, fs_ = tcp_stats_t(), frag_stats_t()
  function fe.stats()
    local s = {}
    for k, v in pairs(c) do s[k] = v end
    C.pktsh_dnstcp_stats(th, ts_)
    for _, k in ipairs(TCP_STATS) do s[k] = tonumber(ts_[k]) end
    C.pktsh_ipfrag_stats(fh, fs_)
    for k, f in pairs(FRAG_STATS) do s[k] = tonumber(fs_[f]) end
    s.tcp = tonumber(ts_.tcp)
    s.malformed = c.malformed + tonumber(ts_.malformed)
    s.state_visits = tonumber(fs_.state_visits) + tonumber(ts_.state_visits)
    s.dropped = s.tcp_gaps + s.tcp_dropped + s.frag_dropped
    s.timeouts = s.tcp_timeouts + s.frag_timeouts
    s.evicted = s.tcp_evicted + s.frag_evicted
    s.buffered = tonumber(fs_.buffered) + tonumber(ts_.buffered)
    s.buffered_peak = tonumber(fs_.buffered_peak) + tonumber(ts_.buffered_peak)
    s.flows, s.frags = tonumber(ts_.flows), tonumber(fs_.frags)
    return s
  end

  return fe
end

function M.selftest()
  local fe = M.new{ports = {53}}
  local s = "\0\1\2\3\4\5\6\7\8\9\10\11\8\0" ..
    "\69\0\0\40\0\1\0\0\64\17\0\0\198\18\0\1\198\18\0\2" ..
    "\4\210\0\53\0\20\0\0" .. "\0\1\1\0\0\0\0\0\0\0\0\0"
  local p = packet.from_bytes(s)
  local got
  assert(fe:feed(p, function(ptr, n, m) got = {n, m.transport, m.src, m.dport} end) == 1)
  assert(got[1] == 12 and got[2] == "udp" and got[3] == "198.18.0.1" and got[4] == 53)
  -- the same datagram claiming 4 bytes more than the frame holds
  p = packet.from_bytes(s:sub(1, 16) .. "\0\44" .. s:sub(19, 38) .. "\0\24" .. s:sub(41))
  assert(fe:feed(p, function(_, n, m) got = {n, m.truncated} end) == 1)
  assert(got[1] == 12 and got[2] == true)
  return true
end

return M
