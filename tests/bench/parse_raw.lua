-- parse_raw.lua - the bench parse written the way a performance-minded user
-- would: a batch loop reading pkt.data[i] directly, every read bounded by
-- pkt.caplen (and the IP datagram's end). Same parse and same "sum" line as
-- tests/bench/cideal.c (see the comment at its top for the rules).
--   build/pktsh tests/bench/parse_raw.lua FILE
local path = arg[1]
if not path then
  io.stderr:write("usage: pktsh tests/bench/parse_raw.lua FILE\n")
  os.exit(2)
end
local bit = require "bit"
local band, bor, rshift, lshift = bit.band, bit.bor, bit.rshift, bit.lshift
local C = require("ffi").C

-- A note on loops: LuaJIT traces the hottest loop first. A per-label loop
-- inside the per-packet loop would become the root trace and the packet
-- loop a tangle of side traces around it (about 2.5x slower here), so the
-- per-packet path has no loop for the common case: VLAN tags and the first
-- eight labels are unrolled.

local t0 = C.pktsh_mono_ns()
local src, err = pktsh.open(path)
if not src then
  io.stderr:write("parse_raw: ", tostring(err), "\n")
  os.exit(1)
end
local eth = src.linktype == 1

local packets, ip4, ip6, udp, tcp, dns, dnsbad, labels, namebytes, qtypes =
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0

while true do
  local b, nerr = src:next()
  if not b then
    if nerr then
      io.stderr:write("parse_raw: ", tostring(nerr), "\n")
      os.exit(1)
    end
    break
  end
  local pkts = b.pkt
  local n = b.count
  packets = packets + n
  if eth then
    for i = 0, n - 1 do
      local p = pkts[i]
      local d, caplen = p.data, p.caplen
      if caplen < 14 then goto continue end
      do
        local off = 14
        local et = bor(lshift(d[12], 8), d[13])
        -- up to two VLAN tags, unrolled (see the note on loops above)
        if et == 0x8100 or et == 0x88a8 or et == 0x9100 then
          if off + 4 > caplen then goto continue end
          et = bor(lshift(d[off + 2], 8), d[off + 3])
          off = off + 4
          if et == 0x8100 or et == 0x88a8 or et == 0x9100 then
            if off + 4 > caplen then goto continue end
            et = bor(lshift(d[off + 2], 8), d[off + 3])
            off = off + 4
          end
        end
        local l3end, l4, proto
        if et == 0x0800 then
          if off + 20 > caplen then goto continue end
          local v = d[off]
          if rshift(v, 4) ~= 4 then goto continue end
          local hl = band(v, 15) * 4
          local tot = bor(lshift(d[off + 2], 8), d[off + 3])
          if hl < 20 or off + hl > caplen or tot < hl then goto continue end
          ip4 = ip4 + 1
          l3end = off + tot
          if l3end > caplen then l3end = caplen end
          if band(d[off + 6], 0x1f) ~= 0 or d[off + 7] ~= 0 then goto continue end
          proto = d[off + 9]
          l4 = off + hl
        elseif et == 0x86dd then
          if off + 40 > caplen or rshift(d[off], 4) ~= 6 then goto continue end
          ip6 = ip6 + 1
          l3end = off + 40 + bor(lshift(d[off + 4], 8), d[off + 5])
          if l3end > caplen then l3end = caplen end
          proto = d[off + 6]
          l4 = off + 40
          -- extension headers are rare: the loop is entered only for them
          if proto == 0 or proto == 43 or proto == 60 or proto == 51 or proto == 44 then
          for _ = 1, 8 do
            if proto == 0 or proto == 43 or proto == 60 or proto == 51 then
              if l4 + 8 > l3end then goto continue end
              proto = d[l4]
              if proto == 51 then l4 = l4 + (d[l4 + 1] + 2) * 4
              else l4 = l4 + (d[l4 + 1] + 1) * 8 end
            elseif proto == 44 then
              if l4 + 8 > l3end then goto continue end
              if d[l4 + 2] ~= 0 or band(d[l4 + 3], 0xf8) ~= 0 then goto continue end
              proto = d[l4]
              l4 = l4 + 8
            else
              break
            end
          end
          end
        else
          goto continue
        end
        local dnsoff
        if proto == 17 then
          if l4 + 8 > l3end then goto continue end
          local ulen = bor(lshift(d[l4 + 4], 8), d[l4 + 5])
          if ulen < 8 then goto continue end
          udp = udp + 1
          if bor(lshift(d[l4], 8), d[l4 + 1]) == 53 or bor(lshift(d[l4 + 2], 8), d[l4 + 3]) == 53 then
            dnsoff = l4 + 8
            if l4 + ulen < l3end then l3end = l4 + ulen end
          else
            goto continue
          end
        elseif proto == 6 then
          if l4 + 20 > l3end then goto continue end
          local doff = rshift(d[l4 + 12], 4) * 4
          if doff < 20 or l4 + doff > l3end then goto continue end
          tcp = tcp + 1
          if bor(lshift(d[l4], 8), d[l4 + 1]) == 53 or bor(lshift(d[l4 + 2], 8), d[l4 + 3]) == 53 then
            dnsoff = l4 + doff + 2
          else
            goto continue
          end
        else
          goto continue
        end
        -- the DNS question name: the first eight labels unrolled, longer
        -- names finish in a loop
        if dnsoff + 12 > l3end or (d[dnsoff + 4] == 0 and d[dnsoff + 5] == 0) then
          goto continue
        end
        local e = l3end
        local start = dnsoff + 12
        local pos, nl, l = start, 0, 0
        if pos >= e then goto bad end
        l = d[pos]; if l == 0 or l >= 0x40 then goto stop end
        pos = pos + 1 + l; nl = 1; if pos >= e then goto bad end
        l = d[pos]; if l == 0 or l >= 0x40 then goto stop end
        pos = pos + 1 + l; nl = 2; if pos >= e then goto bad end
        l = d[pos]; if l == 0 or l >= 0x40 then goto stop end
        pos = pos + 1 + l; nl = 3; if pos >= e then goto bad end
        l = d[pos]; if l == 0 or l >= 0x40 then goto stop end
        pos = pos + 1 + l; nl = 4; if pos >= e then goto bad end
        l = d[pos]; if l == 0 or l >= 0x40 then goto stop end
        pos = pos + 1 + l; nl = 5; if pos >= e then goto bad end
        l = d[pos]; if l == 0 or l >= 0x40 then goto stop end
        pos = pos + 1 + l; nl = 6; if pos >= e then goto bad end
        l = d[pos]; if l == 0 or l >= 0x40 then goto stop end
        pos = pos + 1 + l; nl = 7; if pos >= e then goto bad end
        l = d[pos]; if l == 0 or l >= 0x40 then goto stop end
        pos = pos + 1 + l; nl = 8; if pos >= e then goto bad end
        while true do
          l = d[pos]; if l == 0 or l >= 0x40 then break end
          pos = pos + 1 + l; nl = nl + 1; if pos >= e or pos - start > 255 then goto bad end
        end
        ::stop::
        -- the name ends at a zero byte or a pointer; 0x40/0x80 are bad,
        -- and so is a name over 255 bytes
        if pos - start > 255 then goto bad end
        if l == 0 then
          namebytes = namebytes + (pos - start)
          pos = pos + 1
        elseif l >= 0xc0 and pos + 2 <= e then
          namebytes = namebytes + (pos - start)
          pos = pos + 2
        else
          goto bad
        end
        dns = dns + 1
        labels = labels + nl
        if pos + 2 <= e then qtypes = qtypes + bor(lshift(d[pos], 8), d[pos + 1]) end
        goto continue
        ::bad::
        dnsbad = dnsbad + 1
      end
      ::continue::
    end
  end
end
src:close()
local t1 = C.pktsh_mono_ns()
print(string.format("sum packets=%d ip4=%d ip6=%d udp=%d tcp=%d dns=%d dnsbad=%d " ..
                    "labels=%d namebytes=%d qtypes=%d",
                    packets, ip4, ip6, udp, tcp, dns, dnsbad, labels, namebytes, qtypes))
print(string.format("time_ns %d", tonumber(t1 - t0)))
