-- lengths.lua - writes the generated captures of encapsulations whose own
-- length bounds the datagram they carry (issue 12) into OUTDIR:
--
--   build/pktsh tests/pcaps/gen/lengths.lua tests/pcaps
--
--   gen__pppoe-lengths.pcap  PPPoE sessions whose length is shorter than
--       the IP length inside (the bytes are there: the datagram ends at
--       the PPPoE length), longer (padding inside the session), past the
--       frame (cut by the capturing host) and followed by Ethernet
--       padding; a snaplen cut; IPv4 and IPv6, DNS over UDP and TCP
--       segments on another port
--   gen__tunnel-lengths.pcap an outer UDP length shorter than the VXLAN
--       or Geneve payload, longer (padding), a tunnel frame cut by the
--       capturing host, an outer IP length shorter than the IP-in-IP or
--       GRE datagram inside, an outer UDP length past the outer IP's
--
-- tshark ends the inner datagram at its carrier's length (-T fields,
-- dnsstats follow it); tcpdump prints "truncated-ip - N bytes missing!"
-- against it (dump.lua follows it). Oracles: tshark's decode
-- (tests/pcaps/gen/oracle.sh). Responses cut by a length have no query
-- in the capture (tshark does not pair a cut response).
local b = pktsh.build
local u16, u32 = b.u16, b.u32
local char = string.char
local lib = dofile("tests/pcaps/gen/lib.lua")

local dir = assert(arg[1], "usage: lengths.lua OUTDIR")

local function strip(frame) return frame:sub(15) end   -- the Ethernet header
local MAC = "\2\0\0\0\0\2\2\0\0\0\0\1"
local function eth(et) return MAC .. u16(et) end
local PAD = ("\0"):rep(10)

local C, S, C6, S6 = "198.18.1.10", "198.18.1.53", "2001:2::10", "2001:2::53"

-- DNS over UDP: a query or a response (two answers) of id i.
local function query(i, v6)
  local mk = v6 and b.udp6 or b.udp4
  return strip(mk{src = v6 and C6 or C, dst = v6 and S6 or S, sport = 40000 + i, dport = 53,
                  payload = lib.dns(i, 0x0100, "l" .. i .. ".example.com", 0)})
end
local function response(i, v6)
  local mk = v6 and b.udp6 or b.udp4
  return strip(mk{src = v6 and S6 or S, dst = v6 and C6 or C, sport = 53, dport = 40000 + i,
                  payload = lib.dns(i, 0x8180, "l" .. i .. ".example.com", 2)})
end
-- A TCP segment on port 9999 (each its own connection: tcpdump prints
-- the numbers of a first segment as they are).
local function segment(i, v6)
  local mk = v6 and b.tcp6 or b.tcp4
  return strip(mk{src = v6 and C6 or C, dst = v6 and S6 or S, sport = 45000 + i, dport = 9999,
                  seq = 1000 * i, flags = "PA", payload = ("x"):rep(30)})
end

local frames = {}
local function add(frame, cut, wire)
  frames[#frames + 1] = {data = cut and frame:sub(1, cut) or frame, ts = 1700000000 + #frames / 100,
                         len = wire or (cut and cut or #frame)}
end

-- PPPoE session 0x1234 around d; its length delta bytes off d's (and
-- the PPP protocol's), pad after d inside it.
local function pppoe(d, delta, pad)
  local proto = d:byte(1) >= 0x60 and 0x0057 or 0x0021
  pad = pad or ""
  return eth(0x8864) .. char(0x11, 0) .. u16(0x1234) .. u16(#d + 2 + #pad + (delta or 0)) ..
         u16(proto) .. d .. pad
end

add(pppoe(query(1)))
add(pppoe(response(1)) .. PAD)                   -- Ethernet padding after the session
add(pppoe(query(2), 0, ("\0"):rep(6)))           -- padding inside the session
add(pppoe(response(2), 0, ("\0"):rep(6)))
add(pppoe(response(3), -6))                      -- the session 6 bytes short of the IP length
local f = pppoe(response(4))
add(f, #f - 20)                                  -- cut by the capturing host: past the frame
add(f, #f - 20, #f)                              -- cut by the snaplen
add(pppoe(response(5, true), -6))                -- IPv6, the session short
add(pppoe(segment(1), -6))                       -- TCP: the session short
add(pppoe(segment(2), 0, ("\0"):rep(6)))         -- TCP: padding inside
f = pppoe(segment(3))
add(f, #f - 10)                                  -- TCP: past the frame
add(pppoe(segment(4, true), -6))                 -- TCP over IPv6: the session short
lib.write(dir .. "/gen__pppoe-lengths.pcap", frames)

-- Tunnels: outer IPv4 198.18.0.1 > 198.18.0.2.
local function ip4(proto, payload, tot)
  local d = strip(b.ip4{proto = proto, payload = payload, src = "198.18.0.1", dst = "198.18.0.2"})
  if tot then d = d:sub(1, 2) .. u16(tot) .. d:sub(5) end
  return d
end
local function et_of(d) return d:byte(1) >= 0x60 and 0x86dd or 0x0800 end
-- UDP port dport carrying hdr .. Ethernet .. d, its length delta off.
local function udp_tunnel(dport, hdr, d, delta, pad)
  local pl = hdr .. eth(et_of(d)) .. d .. (pad or "")
  return eth(0x0800) .. ip4(17, u16(50000) .. u16(dport) .. u16(8 + #pl + (delta or 0)) .. "\0\0" .. pl)
end
local VXLAN = char(8, 0, 0, 0) .. u32(1000 * 256)
local GENEVE = char(0, 0) .. u16(0x6558) .. u32(2000 * 256)
local function ipip(d, short) return eth(0x0800) .. ip4(et_of(d) == 0x0800 and 4 or 41, d, 20 + #d - short) end
local function gre(d, short)
  return eth(0x0800) .. ip4(47, u16(0) .. u16(et_of(d)) .. d, 24 + #d - short)
end

frames = {}
add(udp_tunnel(4789, VXLAN, query(11)))
add(udp_tunnel(4789, VXLAN, response(11), 0, PAD))     -- padding inside the UDP datagram
add(udp_tunnel(4789, VXLAN, response(12), -6))         -- UDP 6 bytes short of the inner IP length
f = udp_tunnel(4789, VXLAN, response(13))
add(f, #f - 10)                                        -- cut by the capturing host
add(udp_tunnel(6081, GENEVE, response(14), -6))        -- Geneve, UDP short
add(udp_tunnel(6081, GENEVE, response(15, true), -6))  -- Geneve, UDP short, IPv6 inside
add(ipip(response(16), 6))                             -- IP in IP, the outer IP short
add(gre(response(17), 6))                              -- GRE, the outer IP short
f = udp_tunnel(4789, VXLAN, response(18), 10)          -- UDP longer than the outer IP
add(f)
add(udp_tunnel(4789, VXLAN, segment(11), -6))          -- TCP: UDP short
add(ipip(segment(12), 6))                              -- TCP: IP in IP short
add(gre(segment(13), 6))                               -- TCP: GRE short
add(gre(segment(14, true), 6))                         -- TCP over IPv6 in GRE short
lib.write(dir .. "/gen__tunnel-lengths.pcap", frames)
print("2 captures written to " .. dir)
