-- latency.lua - latency probes (the engine of scripts/latency.lua): N
-- probes sent at a rate, each stamped as it leaves (a transmit stamp
-- from the sender's error queue) and as it arrives (the receive stamp of
-- a live source), in one of two ways or both:
--
--   one-way  probes (UDP, a sequence number inside) captured on a second
--            interface of this host: the two ends of a link, a veth pair
--            (same clock, so arrival minus departure is the one-way delay)
--   echo     probes are ICMP (ICMPv6) echo requests to a host that
--            answers; the replies come back on the sending interface:
--            reply's arrival minus request's departure is the round trip
--
--   local r = assert(require("pktsh.app.latency").run{tx = "eth0", rx = "eth1",
--                                                     count = 1000, rate = 1000})
--   r.oneway.p50, r.rtt, r.tx_stamp, r.rx_stamp, ...
--
-- Software stamps (default) are CLOCK_REALTIME on both sides. With
-- hardware stamps, a round trip is measured in one NIC's clock; a one-way
-- delay across two NICs means something only if their clocks are
-- synchronised (phc2sys, or hwclock = "sys" on both).
local ffi = require "ffi"
local C = ffi.C
local bit = require "bit"
local errors = require "pktsh.host.errors"
local live = require "pktsh.source.live"

local M = {}

local MAGIC = "PKTSHLAT"
local WAIT_MS = 2

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("*l")
  f:close()
  return s
end

-- The MAC of a local interface, or nil.
local function if_mac(name)
  return read_file("/sys/class/net/" .. name .. "/address")
end

-- The MAC the kernel has for an IPv4 neighbour, or nil.
local function arp_mac(ip)
  local f = io.open("/proc/net/arp", "r")
  if not f then return nil end
  for line in f:lines() do
    local a, mac = line:match("^(%S+)%s+%S+%s+%S+%s+(%S+)")
    if a == ip and mac ~= "00:00:00:00:00:00" then f:close(); return mac end
  end
  f:close()
  return nil
end

local function check(o)
  errors.argcheck(type(o) == "table", 1, "latency.run", "table")
  if type(o.tx) ~= "string" then return nil, "tx: the interface to send probes on" end
  if not o.rx and not o.echo then return nil, "give rx (one-way) or echo (round trip), or both" end
  local count, rate = o.count or 100, o.rate or 100
  if type(count) ~= "number" or count < 1 or count % 1 ~= 0 then
    return nil, "count must be a whole number of probes"
  end
  if type(rate) ~= "number" or rate <= 0 then return nil, "rate must be probes a second, above 0" end
  if o.echo and not (o.src and o.dst) then
    return nil, "echo needs src and dst: this host's address and the one that answers"
  end
  if o.tstamp and o.tstamp ~= "sw" and o.tstamp ~= "hw" then
    return nil, 'tstamp must be "sw" or "hw"'
  end
  return true
end

-- The probe frames: one-way (UDP with MAGIC, run id, sequence number)
-- and echo requests (ICMP id = run id, seq = sequence number).
local function framers(o, run_id)
  local b = require "pktsh.proto.build"
  local smac = o.smac or if_mac(o.tx)
  local v6 = o.dst and o.dst:find(":", 1, true) ~= nil
  local oneway = function(seq)
    return b.udp4{smac = smac, dmac = o.rx and if_mac(o.rx) or nil,
                  src = "198.18.0.1", dst = "198.18.0.2", sport = o.port or 7,
                  dport = o.port or 7,
                  payload = MAGIC .. b.u32(run_id) .. b.u32(seq) .. string.rep("\0", o.pad or 18)}
  end
  local dmac = o.echo and (o.dmac or (not v6 and arp_mac(o.dst)))
  local echo = function(seq)
    local f = v6 and b.icmp6_echo or b.icmp4_echo
    return f{smac = smac, dmac = dmac, src = o.src, dst = o.dst, id = bit.band(run_id, 0xffff),
             seq = bit.band(seq, 0xffff), payload = MAGIC .. b.u32(seq)}
  end
  if o.echo and not dmac then
    return nil, "echo: the MAC of " .. o.dst .. " is unknown (give dmac, or ping it once "
                .. "so the kernel knows it)"
  end
  return {oneway = oneway, echo = echo, v6 = v6}
end

-- Opens the receivers: probes on o.rx, echo replies on o.tx (incoming).
local function receivers(o, run_id, v6)
  local ts = o.tstamp == "hw" and "hw" or "sw"
  local rx = {}
  if o.rx then
    local src, err = live.open(o.rx, {filter = "udp dst port " .. (o.port or 7),
                                      immediate = true, tstamp = ts, hwclock = o.hwclock})
    if not src then return nil, err end
    rx.oneway = src
  end
  if o.echo then
    local f = v6 and ("icmp6 and ip6[40] = 129 and ip6[44:2] = " .. bit.band(run_id, 0xffff))
              or ("icmp[0] = 0 and icmp[4:2] = " .. bit.band(run_id, 0xffff))
    local src, err = live.open(o.tx, {filter = f, direction = "in", immediate = true,
                                      tstamp = ts, hwclock = o.hwclock})
    if not src then
      if rx.oneway then rx.oneway:close() end
      return nil, err
    end
    rx.echo = src
  end
  return rx
end

local stamp_of = {sw = "ts_sw", hw = "ts_hw"}

-- Reads what a receiver has (waiting up to ms): arrival stamps by
-- sequence number into `into`.
local function poll_rx(src, ms, kind, run_id, into, st, field)
  local got = C.pktsh_ring_next(src.handle, src.box, ms, src.errbuf)
  if got < 0 then return nil, errors.message(src.errbuf) end
  local b = src.box[0]
  for i = 0, got - 1 do
    local p = b.pkt[i]
    local seq
    if kind == "oneway" then
      local off = p:payload()
      if off and p:bytes(off, 8) == MAGIC and p:u32(off + 8) == run_id then
        seq = p:u32(off + 12)
      end
    else
      local off = p:payload()
      if off and p:bytes(off, 8) == MAGIC then seq = p:u32(off + 8) end
    end
    if seq then
      local t = p[field]
      if t == 0 then t = p.ts end
      if into[seq] then
        st.dups = st.dups + 1
      else
        into[seq] = t
        st.n[kind] = st.n[kind] + 1
      end
      st.tsrc[p.tsrc] = true
    end
  end
  if got > 0 then C.pktsh_ring_release(src.handle) end
  return true
end

-- Transmit stamps so far: stamp by sequence number (ids map to seq).
local function take_tx(s, ids, tx, field, st, wait)
  local list, err = s:tx_timestamps{wait_ms = wait or 0}
  if not list then return nil, err end
  for _, r in ipairs(list) do
    local key = ids[r.id]
    if key and r[field] and not tx[key] then   -- field: "sw" or "hw"
      tx[key] = r[field]
      st.ntx = st.ntx + 1
    end
  end
  return true
end

local function summary(values, sent)
  table.sort(values)
  local n = #values
  local function q(f)
    if n == 0 then return nil end
    return values[math.max(1, math.ceil(f * n))]
  end
  local sum = 0
  for i = 1, n do sum = sum + values[i] end
  return {n = n, lost = sent - n, p50 = q(0.5), p90 = q(0.9), p99 = q(0.99),
          min = values[1], max = values[n], mean = n > 0 and sum / n or nil, values = values}
end

-- The delays (ns) of the probes of one kind with both stamps (transmit
-- stamps are keyed kind .. seq: each kind sends its own frames).
local function delays(tx, rx, kind, count)
  local v = {}
  for seq = 0, count - 1 do
    local a, b = tx[kind .. seq], rx[seq]
    if a and b then v[#v + 1] = tonumber(b - a) end
  end
  return v
end

local function close_all(s, rx)
  if rx then
    for _, src in pairs(rx) do src:close() end
  end
  if s then s:close() end
end

-- The probes' loop: send at the rate, read receivers and stamps between
-- sends, then wait up to o.wait_ms (default 1000) for the last ones.
local function probe_loop(o, s, rx, frames, run_id, ts)
  local field = stamp_of[ts]
  local count, gap = o.count or 100, 1e9 / (o.rate or 100)
  local ids, tx, got = {}, {}, {oneway = {}, echo = {}}
  local st = {dups = 0, tsrc = {}, n = {oneway = 0, echo = 0}, ntx = 0}
  local kinds = (rx.oneway and 1 or 0) + (rx.echo and 1 or 0)
  local t0 = tonumber(C.pktsh_mono_ns()) + 1e6
  local sent, done_at = 0, nil
  while true do
    local now = tonumber(C.pktsh_mono_ns())
    if sent < count and now >= t0 + sent * gap then
      for _, kind in ipairs({"oneway", "echo"}) do
        if rx[kind] then
          local n, id, err = s:send(frames[kind](sent))
          if not n or n ~= 1 then return nil, "sending probe " .. sent .. ": " .. tostring(err or id) end
          ids[id] = kind .. sent
        end
      end
      sent = sent + 1
      if sent == count then done_at = now + (o.wait_ms or 1000) * 1e6 end
    end
    local left = sent < count and (t0 + sent * gap - now) / 1e6 or WAIT_MS
    local ms = math.max(0, math.min(WAIT_MS, math.floor(left)))
    for kind, src in pairs(rx) do
      local ok, err = poll_rx(src, ms, kind, run_id, got[kind], st, field)
      if not ok then return nil, err end
      ms = 0
    end
    local ok, err = take_tx(s, ids, tx, ts, st)
    if not ok then return nil, err end
    if C.pktsh_stopping() ~= 0 then st.interrupted = true; break end
    if done_at and now >= done_at then break end
    if done_at and st.ntx == count * kinds and (not rx.oneway or st.n.oneway == count)
       and (not rx.echo or st.n.echo == count) then
      break
    end
  end
  take_tx(s, ids, tx, ts, st, 10)
  return {sent = sent, tx = tx, got = got, st = st}
end

-- run(o): o.tx (interface), o.rx and/or o.echo = true with o.src, o.dst
-- (and o.dmac unless the kernel knows it), o.count (100), o.rate (per
-- second, 100), o.tstamp ("sw" or "hw"), o.hwclock, o.port (7), o.pad,
-- o.wait_ms (1000). Returns {sent, oneway = summary, rtt = summary,
-- tx_stamp, rx_stamp, dups, interrupted}; a summary has n, lost, p50,
-- p90, p99, min, max, mean (ns) and values (sorted). nil, err on failure.
function M.run(o)
  local ok, why = check(o)
  if not ok then return nil, why end
  local run_id = bit.band(tonumber(C.pktsh_now_ns() % 0x7fffffff), 0x7fffffff)
  local frames, err = framers(o, run_id)
  if not frames then return nil, err end
  local ts = o.tstamp or "sw"
  local s
  s, err = require("pktsh.source.sender").open(o.tx, {tstamp = ts, tx_ring = false})
  if not s then return nil, err end
  local rx
  rx, err = receivers(o, run_id, frames.v6)
  if not rx then close_all(s); return nil, err end
  local res
  res, err = probe_loop(o, s, rx, frames, run_id, ts)
  close_all(s, rx)
  if not res then return nil, err end
  local out = {sent = res.sent, dups = res.st.dups, interrupted = res.st.interrupted,
               tx_stamp = ts, rx_stamp = res.st.tsrc[2] and "hw" or "sw"}
  if o.rx then out.oneway = summary(delays(res.tx, res.got.oneway, "oneway", res.sent), res.sent) end
  if o.echo then out.rtt = summary(delays(res.tx, res.got.echo, "echo", res.sent), res.sent) end
  out.tx_missing = res.sent * ((o.rx and 1 or 0) + (o.echo and 1 or 0)) - res.st.ntx
  return out
end

-- A log2 histogram of a summary's values as text lines (microseconds).
function M.histogram(sm, width)
  width = width or 40
  if not sm or sm.n == 0 then return "  (no probe came back)" end
  local buckets, lo, hi = {}, math.huge, -math.huge
  for _, v in ipairs(sm.values) do
    local us = math.max(v, 0) / 1e3
    local k = us < 1 and 0 or math.floor(math.log(us) / math.log(2)) + 1
    buckets[k] = (buckets[k] or 0) + 1
    lo, hi = math.min(lo, k), math.max(hi, k)
  end
  local peak = 0
  for _, c in pairs(buckets) do peak = math.max(peak, c) end
  local lines = {}
  for k = lo, hi do
    local c = buckets[k] or 0
    local from = k == 0 and 0 or 2 ^ (k - 1)
    lines[#lines + 1] = string.format("  %9s - %-9s us %7d %s", tostring(from), tostring(2 ^ k),
                                      c, string.rep("#", math.ceil(c / peak * width)))
  end
  return table.concat(lines, "\n")
end

return M
