-- test_lineformat.lua - tcpdump's line options against tcpdump itself, on
-- every capture in tests/pcaps: the time stamp formats (-t ... -ttttt),
-- the link-level header (-e), the hex dumps (-x, -xx, -X, -XX).
--
-- Where pktsh's summary of a packet is tcpdump's (most captures), whole
-- outputs must be equal. Elsewhere the summaries differ in the decoders
-- (TCP options, fragments, IGMP...: tests/unit/test_golden.lua's
-- business), so only what these options add is compared: the time
-- stamp that starts the line, the link header up to "length N: ", the
-- hex lines. Known differences, each with its reason, are in SKIP_HEX.
local T = require "t"
local pktsh = require "pktsh"
local lf = require "pktsh.proto.lineformat"
local packet = require "pktsh.proto.packet"

local DIR = "tests/pcaps/"

if os.execute("command -v tcpdump >/dev/null 2>&1") ~= 0 then
  T.skip("lineformat against tcpdump", "tcpdump is not installed")
  T.done()
end

-- Hex dumps that differ, and why (the rest must be equal).
local SKIP_HEX = {
  -- tcpdump's decoder stops at a header the capture cuts (a longjmp),
  -- forgets the link header length and dumps from byte 0 with -x/-X;
  -- pktsh always dumps from the network header
  ["dnscap__icmp.pcap"] = "x",
  ["zeek__tcp-truncated-header.pcap"] = "x", ["gen__tcp-options.pcap"] = "x",
  ["gen__udp-apps.pcap"] = "x",
  -- records longer than the file's snapshot length (37): libpcap cuts
  -- them to 37 bytes, pktsh's reader keeps the record's caplen
  ["tcpdump__icmp-icmp_print-oobr-1.pcap"] = "all",
}

local captures = require("manifest").captures

-- tcpdump's output for flag, one entry per packet: {line, hex lines}.
local function tcpdump(path, flag)
  local f = io.popen("TZ=UTC tcpdump -n " .. (flag or "") .. " -r '" .. path .. "' 2>/dev/null")
  local t = {}
  for line in f:lines() do
    if line:match("^\t0x") and #t > 0 then
      table.insert(t[#t].hex, line)
    elseif #t > 0 and #t[#t].hex == 0
           and t[#t].line:match("[^\n]*$"):match("VXLAN, flags %[%a+%] %(0x%x+%), [^:]*$") then
      -- tcpdump ends the line after a VXLAN header; the inner frame's
      -- follows (its last line: "[length L < caplen C] (invalid)" has no colon)
      t[#t].line = t[#t].line .. "\n" .. line
    else
      t[#t + 1] = {line = line, hex = {}}
    end
  end
  f:close()
  return t
end

local function packets(path)
  local src = assert(pktsh.open(path))
  local t = {}
  for p in src:packets() do t[#t + 1] = p:copy() end
  src:close()
  return t
end

-- Whether dump.lua's lines are tcpdump's for this capture.
local function same_summaries(pkts, td, o)
  if #pkts ~= #td then return false end
  local f = lf.new(o)
  for i, p in ipairs(pkts) do
    if f:line(p) ~= td[i].line then return false end
  end
  return true
end

local TSTAMPS = {"-t", "-tt", "-ttt", "-tttt", "-ttttt"}

local function check_stamps(file, pkts, exact)
  for n, flag in ipairs(TSTAMPS) do
    local td = tcpdump(DIR .. file, flag)
    local f = lf.new{tstamp = n}
    for i, p in ipairs(pkts) do
      local line = f:line(p)
      if exact then
        T.eq(line, td[i].line, file .. " " .. flag .. " packet " .. i)
      else
        local stamp = f.tstamp == 1 and "" or line:match("^(%-?%s?[%d:. -]+%d) ")
        T.eq(td[i].line:sub(1, #stamp), stamp, file .. " " .. flag .. " packet " .. i)
      end
    end
  end
end

local function check_link(file, pkts, exact)
  local td = tcpdump(DIR .. file, "-e")
  local f = lf.new{link = true}
  for i, p in ipairs(pkts) do
    local line = f:line(p)
    if exact then
      T.eq(line, td[i].line, file .. " -e packet " .. i)
    else
      local head = lf.link_text(p)
      if head then
        local want = line:sub(1, 16) .. head
        T.eq(td[i].line:sub(1, #want), want, file .. " -e packet " .. i)
      end
    end
  end
end

local HEX = {{"-x", {}}, {"-X", {ascii = true}}, {"-xx", {link = true}}, {"-XX", {ascii = true, link = true}}}

local function check_hex(file, pkts)
  local skip = SKIP_HEX[file]
  for _, h in ipairs(HEX) do
    local flag, o = h[1], h[2]
    if skip == "all" or (skip == "x" and not o.link) then return end
    local td = tcpdump(DIR .. file, flag)
    for i, p in ipairs(pkts) do
      local want = #td[i].hex > 0 and ("\n" .. table.concat(td[i].hex, "\n")) or ""
      T.eq(lf.hex(p, o), want, file .. " " .. flag .. " packet " .. i)
    end
  end
end

-- Captures whose lines are not tcpdump's, and why (the rest must be
-- equal whole, with and without -e):
local NOT_EXACT = {
  -- tcpdump 4.99 does not dissect ERSPAN in GRE: it ends the line with
  -- gre-proto-0x88be (0x22eb); pktsh goes on into the mirrored frame.
  -- Checked below up to there.
  ["gen__erspan2.pcap"] = "erspan", ["gen__erspan3.pcap"] = "erspan",
  -- tcpdump rejects an IPv4 total length of 0 (bad-len 0) where pktsh
  -- reads a TSO datagram as Wireshark does
  ["gen__dns-offload.pcap"] = "tcp",
}

-- Public captures left out, and why:
local LEFT_OUT = {
  -- CDP and Cisco MetaData (0x8909) frames: tcpdump prints CDP's fields
  -- and a hex dump of its device id on lines of their own; pktsh does not
  -- decode CDP
  ["tcpdump__various_gre.pcap"] = "CDP and Cisco MetaData are not decoded",
}
for file, why in pairs(LEFT_OUT) do T.skip(file, why) end

local exact_files = 0
local readable = function(row)
  return not row.malformed:find("FILE%-LEVEL") and not LEFT_OUT[row.file]
end
for _, file in ipairs(captures(readable)) do
  local pkts = packets(DIR .. file)
  local exact = same_summaries(pkts, tcpdump(DIR .. file))
  if exact then exact_files = exact_files + 1 end
  if file:find("^gen__") and not NOT_EXACT[file] then
    -- the generated encapsulations (issue 12): tcpdump's lines, whole
    T.test(file .. ": the lines are tcpdump's", function()
      T.ok(exact, file .. ": summaries differ from tcpdump -n")
    end)
  end
  T.test(file .. ": -t ... -ttttt" .. (exact and " (whole lines)" or " (time stamps)"),
         function() check_stamps(file, pkts, exact) end)
  T.test(file .. ": -e" .. (exact and " (whole lines)" or " (link headers)"),
         function() check_link(file, pkts, exact) end)
  T.test(file .. ": -x -X -xx -XX", function() check_hex(file, pkts) end)
  if exact then
    -- relative TCP sequence numbers are dump.lua's default; -S as tcpdump -S
    T.test(file .. ": -S", function()
      T.ok(same_summaries(pkts, tcpdump(DIR .. file, "-S"), {absolute = true}), file .. ": -S lines differ")
    end)
  end
end

T.test("ERSPAN: tcpdump's line up to where tcpdump 4.99 stops", function()
  for file in pairs(NOT_EXACT) do
    if NOT_EXACT[file] == "erspan" then
      for _, flag in ipairs{"", "-e"} do
        local td = tcpdump(DIR .. file, flag)
        local f = lf.new{link = flag == "-e"}
        for i, p in ipairs(packets(DIR .. file)) do
          local want = td[i].line:match("^(.*: )gre%-proto%-0x%x+$")
          T.ok(want, file .. " " .. flag .. ": tcpdump stops at gre-proto: " .. td[i].line)
          local line = f:line(p)
          T.eq(line:sub(1, #want), want, file .. " " .. flag .. " packet " .. i)
          T.ok(line:find("ERSPAN type III?, session %d+: ", #want + 1), line)
        end
      end
    end
  end
end)

-- More encapsulations than the captures hold, built here: each line
-- (plain, -e, -x) must be tcpdump's.
T.test("generated encapsulations: tcpdump's lines, -e and -x", function()
  local b = pktsh.build
  local u16, u32 = b.u16, b.u32
  local q = "\0\7\1\0\0\1\0\0\0\0\0\0\1a\7example\0\0\1\0\1"
  local inner4 = b.udp4{src = "198.18.1.10", dst = "198.18.1.53", sport = 40000, dport = 53, payload = q}
  local inner6 = b.udp6{src = "2001:2::10", dst = "2001:2::53", sport = 40000, dport = 53, payload = q}
  local function ip4(proto, pl) return b.ip4{proto = proto, payload = pl} end
  local function eth(et, pl) return inner4:sub(1, 12) .. u16(et) .. pl end
  local mpls = function(label, tc, s, ttl) return u32(label * 4096 + tc * 512 + (s and 256 or 0) + ttl) end
  local frames = {
    -- GRE with a checksum (tcpdump prints the offset), carrying MPLS
    ip4(47, "\128\0\136\71" .. "\0\0\0\0" .. mpls(100, 5, true, 9) .. inner4:sub(15)),
    -- GRE v0 with key and sequence, Ethernet inside
    ip4(47, "\48\0\101\88" .. u32(9) .. u32(3) .. inner6),
    -- Geneve carrying IPv4 directly, no options, the O flag
    b.udp4{sport = 50000, dport = 6081, payload = "\0\128\8\0" .. u32(0x123400) .. inner4:sub(15)},
    -- VXLAN over IPv6
    b.udp6{sport = 50000, dport = 4789, payload = "\8\0\0\0" .. u32(0x00abcd00) .. inner4},
    -- three MPLS labels
    eth(0x8847, mpls(1, 0, false, 1) .. mpls(2, 7, false, 2) .. mpls(300, 1, true, 255) .. inner6:sub(15)),
    -- PPPoE with IPv4, IP in IPv6
    eth(0x8864, "\17\0\0\9" .. u16(2 + #inner4 - 14) .. "\0\33" .. inner4:sub(15)),
    b.ip6{proto = 4, payload = inner4:sub(15)},
  }
  local path = os.tmpname()
  local lib = dofile("tests/pcaps/gen/lib.lua")
  lib.write(path, frames)
  local pkts = packets(path)
  for _, flag in ipairs{"", "-e", "-x"} do
    local td = tcpdump(path, flag)
    local f = lf.new{link = flag == "-e"}
    T.eq(#td, #pkts, flag .. ": packets")
    for i, p in ipairs(pkts) do
      local got = f:line(p)
      if flag == "-x" then
        T.eq(lf.hex(p), td[i] and #td[i].hex > 0 and ("\n" .. table.concat(td[i].hex, "\n")) or "",
             "-x frame " .. i)
      end
      T.eq(got, td[i] and td[i].line, (flag == "" and "plain" or flag) .. " frame " .. i)
    end
  end
  os.remove(path)
end)

T.test("most captures compare whole lines", function()
  T.ok(exact_files >= 15, "only " .. exact_files .. " captures have tcpdump's summaries")
end)

T.test("-e: SLL2, loopback, raw IP and VLAN headers", function()
  local b = pktsh.build
  local v = packet.from_bytes(b.udp4{vlan = {5, {id = 7, pcp = 3}}, dport = 9, payload = "x"})
  T.eq(lf.link_text(v), "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 802.1Q-QinQ (0x88a8), " ..
    "length 51: vlan 5, p 0, ethertype 802.1Q (0x8100), vlan 7, p 3, ethertype IPv4 (0x0800), ", "vlans")
  local ip = b.udp4{dport = 9, payload = "x"}:sub(15)
  T.eq(lf.link_text(packet.from_bytes("\2\0\0\0" .. ip, 0)), "AF IPv4 (2), length 33: ", "DLT_NULL")
  T.eq(lf.link_text(packet.from_bytes("\0\0\0\2" .. ip, 108)), "AF IPv4 (2), length 33: ", "DLT_LOOP")
  T.eq(lf.link_text(packet.from_bytes(ip, 12)), "ip: ", "DLT_RAW")
  T.eq(lf.new{link = true}:body(packet.from_bytes(ip, 12)), "ip: 198.18.0.1.12345 > 198.18.0.2.9: UDP, length 1", "raw body")
end)

T.test("times before 1970 or after 2038 print as tcpdump's do", function()
  local p = packet.from_bytes(pktsh.build.udp4{payload = "x"}, 1, -5 * 1000000000)
  T.eq(lf.new{tstamp = 2}:stamp(p), "[Error converting time] ", "-tt")
  T.eq(lf.new{tstamp = 4}:stamp(p), "[Error converting time] ", "-tttt")
end)

T.done()
