-- fleetcap.lua OUT.pcap: a small DNS capture for the metrics and dnstap
-- tests (198.18.0.0/15 and 2001:2::/48 only): UDP over IPv4 and IPv6,
-- DNS over TCP (mid-flow: length-prefixed messages, no handshake),
-- several query types and response codes, three queries never answered,
-- 13 responses with the TC bit,
-- and names whose labels hold hostile bytes (quotes, backslashes,
-- newlines, bytes that are not UTF-8). Prints the packet count.
local b = pktsh.build
local out = assert(arg[1], "usage: fleetcap.lua OUT.pcap")
local w = assert(pktsh.pcap_writer(out))
local u16 = b.u16

local function wire(name)
  local parts = {}
  for label in name:gmatch("[^.]+") do parts[#parts + 1] = string.char(#label) .. label end
  return table.concat(parts) .. "\0"
end
local function message(id, name, qtype, response, rcode, tc)
  local flags = response and (0x8180 + (tc and 0x0200 or 0) + (rcode or 0)) or 0x0100
  return u16(id) .. u16(flags) .. u16(1) .. u16(0) .. u16(0) .. u16(0) .. wire(name)
         .. u16(qtype) .. u16(1)
end

local ts, n, id = 1700000000 * 1e9, 0, 0
local function put(frame)
  w:write(frame, ts)
  ts, n = ts + 100000, n + 1
end

local HOSTILE = {'quote"d.example', "back\\slash.example", "new\nline.example",
                 "\255\254bytes.example", "caf\195\169.example"}
local QTYPES = {1, 28, 15, 16, 12}
local function exchange(i, name, qtype, v6, tcp, rcode, unanswered, tc)
  id = id + 1
  local c, s = v6 and "2001:2::" .. (10 + i % 7) or "198.18.0." .. (10 + i % 7),
               v6 and "2001:2::53" or "198.18.1.53"
  local port = 20000 + i
  local q, r = message(id, name, qtype, false), message(id, name, qtype, true, rcode, tc)
  if tcp then
    local mk = v6 and b.tcp6 or b.tcp4
    put(mk{src = c, dst = s, sport = port, dport = 53, flags = "PA", seq = 1000, ack = 1,
           payload = u16(#q) .. q})
    if not unanswered then
      put(mk{src = s, dst = c, sport = 53, dport = port, flags = "PA", seq = 1, ack = 1002 + #q,
             payload = u16(#r) .. r})
    end
  else
    local mk = v6 and b.udp6 or b.udp4
    put(mk{src = c, dst = s, sport = port, dport = 53, payload = q})
    if not unanswered then put(mk{src = s, dst = c, sport = 53, dport = port, payload = r}) end
  end
end

for i = 1, 300 do
  exchange(i, "host" .. (i % 13) .. ".example", QTYPES[i % #QTYPES + 1], i % 4 == 0, i % 10 == 0,
           i % 17 == 0 and 3 or 0, i == 50 or i == 150 or i == 250, i % 23 == 0)
end
for i, name in ipairs(HOSTILE) do
  for k = 1, i + 1 do exchange(1000 + i * 10 + k, name, 1, false, false, 0) end
end
w:close()
print(n)
