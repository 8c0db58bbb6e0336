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
-- tcp_gaps. Fragments: IPv4 and IPv6 UDP
-- datagrams are rebuilt when every byte is present; duplicates ignored,
-- overlaps keep the first copy, datagrams over 65535 bytes or 64
-- fragments dropped. Timeouts run on capture time, checked once a second.
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

local band, bor, lshift = bit.band, bit.bor, bit.lshift
local cast, fstring, fcopy = ffi.cast, ffi.string, ffi.copy
local min, max = math.min, math.max

local M = {}

local decode_l3 = packet.decode_l3
local IP = numbers.IPPROTO
local IP_UDP, IP_TCP = IP.UDP, IP.TCP
local NEW, OK, FRAG_NONE = numbers.PKT.NEW, numbers.PKT.OK, numbers.FRAG.NONE
local ETH_IP4 = numbers.ETH.IP4
local in4_str, in6_str = addr.in4_str, addr.in6_str

local be16, be32 = bytes.be16, bytes.be32

local FRAG_MAX, FRAG_PIECES = 65535, 64

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

---------------------------------------------------------------------------
-- Fragmented datagrams (first seen first) sit on a doubly linked list
-- through the entries themselves, so the oldest is at hand in O(1) for
-- eviction, and expiry walks only what it expires. (TCP flows do the same
-- in C, src/proto/dnstcp.c.)

local function list_new()
  local head = {}
  head.newer, head.older = head, head
  return head
end

local function unlink(e)
  e.newer.older, e.older.newer = e.older, e.newer
  e.newer, e.older = nil, nil
end

-- e becomes the newest of list head.
local function push_newest(head, e)
  local n = head.newer
  e.newer, e.older = n, head
  n.older, head.newer = e, e
end

local function oldest(head)
  local e = head.older
  if e == head then return nil end
  return e
end

-- Bytes charged for a held fragment besides its data (the Lua string and
-- table around it), so that the byte cap bounds memory.
local PIECE_COST = 64
local C = ffi.C
local tcp_stats_t = ffi.typeof("struct pktsh_dnstcp_stats")
local TCP_STATS = {"tcp_flows", "tcp_dups", "tcp_gaps", "tcp_dropped", "tcp_timeouts",
                   "tcp_unfinished", "tcp_evicted", "tcp_cut", "tcp_cut_resyncs"}

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
  local frag_timeout = (opts.frag_timeout or 30) * 1e9
  local max_flows = opts.max_flows or 10000
  local max_frags = opts.max_frags or 1000
  local max_buffer = opts.max_buffer or 32 * 1048576
  if max_flows < 1 or max_frags < 1 then error("dnsflow.new: max_flows and max_frags >= 1", 2) end
  -- opts.tcp: a pktsh_dnstcp of the caller's (dnsstats shares its scan's)
  local th = opts.tcp or tcp_state(portmap, opts, max_buffer)

  local c = {udp = 0, fragmented = 0, malformed = 0,
    frag_datagrams = 0, frag_dups = 0, frag_dropped = 0, frag_timeouts = 0, frag_evicted = 0,
    frag_cut = 0, state_visits = 0}
  local buffered, peak = 0, 0
  local frags, nfrags, frag_age = {}, 0, list_new()
  local last_sweep = nil
  local meta = setmetatable({}, meta_mt)
  local box = box_t()
  boxes[meta] = box
  local kbuf = ffi.new("uint8_t[40]")
  local lenbox = ffi.new("uint32_t[1]")
  local cutbox = ffi.new("int32_t[1]")

  local function set_meta(p, transport, ipver, sp, dp, ts, fragd)
    meta.transport, meta.ipver, meta.sport, meta.dport = transport, ipver, sp, dp
    meta.ts, meta.fragmented, meta.truncated = ts, fragd, false
    box.p = p
  end

  local function hold(n)
    buffered = buffered + n
    if buffered > peak then peak = buffered end
  end

  local function drop_frag(e)
    buffered = buffered - e.bytes
    unlink(e)
    frags[e.key] = nil
    nfrags = nfrags - 1
  end

  local function evict_frag(e)
    c.frag_evicted = c.frag_evicted + 1
    c.state_visits = c.state_visits + 1
    drop_frag(e)
  end

  -- Room for n more bytes under max_buffer: the oldest datagrams go
  -- first, never `keep`. False when only keep is left.
  local function make_room(n, keep)
    while buffered + n > max_buffer do
      local e = oldest(frag_age)
      if e == keep then e = e.newer ~= frag_age and e.newer or nil end
      if not e then return false end
      evict_frag(e)
    end
    return true
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

  -- Fragments -------------------------------------------------------------

  -- The rebuilt datagram when every byte from 0 to total is present.
  -- e.sorted holds the pieces by offset (a piece is put in its place as
  -- it comes, O(pieces), so a datagram of FRAG_PIECES fragments costs
  -- O(FRAG_PIECES) a fragment; table.sort with a comparator, besides,
  -- makes a closure per call, and both are left to LuaJIT's interpreter).
  -- emit's pointer is valid only during the call: one buffer rebuilds
  -- every datagram (FRAG_MAX bytes, made with the first one).
  local abuf
  local function assemble(e)
    local pcs, sorted = e.pieces, e.sorted
    local covered = 0
    for i = 1, #sorted do
      local pc = sorted[i]
      if pc.off > covered then return nil end
      covered = max(covered, pc.off + #pc.data)
    end
    if covered < e.total then return nil end
    abuf = abuf or ffi.new("uint8_t[?]", FRAG_MAX)
    local buf = abuf
    for i = #pcs, 1, -1 do                 -- the first copy of a byte wins
      local pc = pcs[i]
      local k = min(#pc.data, e.total - pc.off)
      if k > 0 then fcopy(buf + pc.off, pc.data, k) end
    end
    return buf
  end

  -- A new datagram being rebuilt, the newest; at max_frags the oldest
  -- makes room.
  local function new_frag(key, ts)
    if nfrags >= max_frags then evict_frag(oldest(frag_age)) end
    local e = {key = key, pieces = {}, sorted = {}, bytes = 0, total = nil, first = ts}
    frags[key] = e
    push_newest(frag_age, e)
    nfrags = nfrags + 1
    return e
  end

  -- Whether the capture cut the IP datagram at l3 short of what its
  -- length claims (a length of 0, TSO or a jumbogram, is the frame's).
  local function cut_short(d, l3, ipver, stop)
    local len = be16(d, l3 + (ipver == 4 and 2 or 4))
    return len ~= 0 and l3 + (ipver == 4 and 0 or 40) + len > stop
  end

  local function fragment(p, d, ts, ipver, emit)
    local l3, stop = p.l3off, p.l3end
    local off, last
    -- the walker left where the fragment's data starts (after the IPv4
    -- header, or after the IPv6 fragment header)
    local dstart = p.fragdata
    if ipver == 4 then
      local fo = be16(d, l3 + 6)
      off, last = band(fo, 0x1fff) * 8, band(fo, 0x2000) == 0
      fcopy(kbuf, d + l3 + 12, 8)
      fcopy(kbuf + 8, d + l3 + 4, 2)
      kbuf[10] = d[l3 + 9]
    else
      local o = dstart - 8              -- the fragment header
      local fo = be16(d, o + 2)
      off, last = band(fo, 0xfff8), band(fo, 1) == 0
      fcopy(kbuf, d + l3 + 8, 32)
      fcopy(kbuf + 32, d + o + 4, 4)
      kbuf[36] = d[o]
    end
    local n = stop - dstart
    if n < 0 then return 0 end
    if cut_short(d, l3, ipver, stop) then
      -- Wireshark reassembles only fragments captured whole; it decodes
      -- a cut first IPv4 fragment as it stands, an IPv6 one not at all
      c.frag_cut = c.frag_cut + 1
      if ipver == 4 and off == 0 then return udp(p, d, dstart, ts, ipver, emit) end
      return 0
    end
    local key = fstring(kbuf, ipver == 4 and 11 or 37)
    local e = frags[key]
    if e then
      for _, pc in ipairs(e.pieces) do
        if pc.off == off and #pc.data == n then c.frag_dups = c.frag_dups + 1; return 0 end
      end
    else
      e = new_frag(key, ts)
    end
    if off + n > FRAG_MAX or #e.pieces >= FRAG_PIECES or not make_room(n + PIECE_COST, e) then
      c.frag_dropped = c.frag_dropped + 1
      drop_frag(e)
      return 0
    end
    if last then
      if e.total and e.total ~= off + n then
        c.frag_dropped = c.frag_dropped + 1
        drop_frag(e)
        return 0
      end
      e.total = off + n
    end
    local pc, sorted = {off = off, data = fstring(d + dstart, n)}, e.sorted
    e.pieces[#e.pieces + 1] = pc
    local j = #sorted
    while j >= 1 and sorted[j].off > off do
      sorted[j + 1] = sorted[j]
      j = j - 1
    end
    sorted[j + 1] = pc
    e.bytes = e.bytes + n + PIECE_COST
    hold(n + PIECE_COST)
    if not e.total then return 0 end
    local buf = assemble(e)
    if not buf then return 0 end
    local total = e.total
    drop_frag(e)
    c.frag_datagrams = c.frag_datagrams + 1
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

  -- Timeouts ----------------------------------------------------------------

  -- Expires datagrams incomplete since before now - timeout, oldest
  -- first, and stops at the first that is not: the work is what expires
  -- (plus one). all: everything (the end of input). TCP flows: in C.
  local function sweep(now, all)
    while true do
      local e = oldest(frag_age)
      if not e then break end
      c.state_visits = c.state_visits + 1
      if not all and now - e.first <= frag_timeout then break end
      c.frag_timeouts = c.frag_timeouts + 1
      drop_frag(e)
    end
  end

  -- Feeding -----------------------------------------------------------------

  -- Capture time passes: state idle too long expires, checked once a second.
  local function advance(ts)
    C.pktsh_dnstcp_advance(th, ts)
    if not last_sweep or ts - last_sweep > 1e9 or ts < last_sweep then
      if last_sweep and nfrags > 0 then sweep(ts, false) end
      last_sweep = ts
    end
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
      sweep(0, true)
      C.pktsh_dnstcp_flush(th, 0, 1)
    else
      sweep(tonumber(now), false)
      C.pktsh_dnstcp_flush(th, tonumber(now), 0)
    end
  end

  local ts_ = tcp_stats_t()
  function fe.stats()
    local s = {}
    for k, v in pairs(c) do s[k] = v end
    C.pktsh_dnstcp_stats(th, ts_)
    for _, k in ipairs(TCP_STATS) do s[k] = tonumber(ts_[k]) end
    s.tcp = tonumber(ts_.tcp)
    s.malformed = c.malformed + tonumber(ts_.malformed)
    s.state_visits = c.state_visits + tonumber(ts_.state_visits)
    s.dropped = s.tcp_gaps + s.tcp_dropped + c.frag_dropped
    s.timeouts = s.tcp_timeouts + c.frag_timeouts
    s.evicted = s.tcp_evicted + c.frag_evicted
    s.buffered = buffered + tonumber(ts_.buffered)
    s.buffered_peak = peak + tonumber(ts_.buffered_peak)
    s.flows, s.frags = tonumber(ts_.flows), nfrags
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
