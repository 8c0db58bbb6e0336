-- test_decodetext.lua - pktsh.proto.decodetext (and the decoders under
-- it) over every capture in tests/pcaps.
--
-- For each capture:
--   1. every packet goes through every decoder, show() and hex() without error
--      (the malformed captures included);
--   2. the summaries equal tests/golden/<capture>.txt, one line a packet;
--   3. the source addresses of the DNS frames match the tshark oracle
--      (tests/pcaps/oracle/*.dns.tsv, columns ip.src / ipv6.src);
--   4. addresses and ports equal those `tcpdump -n -r` prints.
--
-- Regenerate the goldens after a deliberate change of the summary format,
-- then read the diff:
--   PKTSH_GOLDEN_UPDATE=1 tests/run decodetext && git diff tests/golden
local T = require "t"
local pktsh = require "pktsh"
require "pktsh.proto.packet"

local DIR, GOLDEN, ORACLE = "tests/pcaps/", "tests/golden/", "tests/pcaps/oracle/"
local update = os.getenv("PKTSH_GOLDEN_UPDATE") == "1"

---------------------------------------------------------------------------
-- Inputs

local function manifest()
  local rows = {}
  local text = assert(T.slurp(DIR .. "MANIFEST.tsv"))
  local header
  for line in text:gmatch("[^\n]+") do
    local f = {}
    for v in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = v end
    if not header then
      header = f
    else
      local r = {}
      for i, k in ipairs(header) do r[k] = f[i] end
      rows[#rows + 1] = r
    end
  end
  table.sort(rows, function(a, b) return a.file < b.file end)
  return rows
end

local function golden_name(file)
  return GOLDEN .. file:gsub("%.pcapn?g?$", "") .. ".txt"
end

-- Every packet of a capture as {summary=, pkt=copy}; nil, err if it
-- cannot be opened.
local function read_capture(path)
  local src, err = pktsh.open(path)
  if not src then return nil, err end
  local out = {}
  for p in src:packets() do out[#out + 1] = {summary = p:summary(), pkt = p:copy()} end
  local rerr = src:error()
  src:close()
  return out, rerr
end

local function exercise(p)
  p:eth(); p:vlan(); p:vlan(2); p:ip4(); p:ip6(); p:ip(); p:tcp(); p:udp()
  p:icmp(); p:icmp6(); p:payload(); p:ports(); p:show(); p:hex()
  local q = p:inner()
  if q then q:ip(); q:udp(); q:tcp(); q:summary() end
end

---------------------------------------------------------------------------
-- Golden files

local function check_golden(row, lines)
  local path = golden_name(row.file)
  local text = table.concat(lines, "\n") .. (#lines > 0 and "\n" or "")
  if update then
    local f = assert(io.open(path, "wb"))
    f:write(text)
    f:close()
    return
  end
  local want = T.slurp(path)
  T.ok(want, "missing " .. path .. " (PKTSH_GOLDEN_UPDATE=1 writes it)")
  local wl = {}
  for l in want:gmatch("([^\n]*)\n") do wl[#wl + 1] = l end
  for i = 1, math.max(#wl, #lines) do
    T.eq(lines[i], wl[i], path .. " line " .. i)
  end
end

---------------------------------------------------------------------------
-- The tshark oracle: DNS frames' source addresses.

local DNS_PORTS = {[53] = true, [5353] = true, [5355] = true}

local function oracle_rows(row)
  local text = T.slurp(DIR .. row.oracle)
  local rows, first = {}, true
  for line in text:gmatch("[^\n]+") do
    if first then
      first = false
    else
      local f = {}
      for v in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = v end
      rows[#rows + 1] = {frame = tonumber(f[1]), ip = f[2], ip6 = f[3], protos = f[12] or ""}
    end
  end
  return rows
end

-- Source address of a UDP/TCP packet to or from a DNS port carrying
-- payload (4 bytes at least: fewer are no DNS message to tshark), else
-- nil. Later fragments have no ports and do not count: the oracle's row
-- for a reassembled datagram stands for its first fragment.
local function dns_src(p, ports)
  local sp, dp = p:ports()
  if not sp or not (ports[sp] or ports[dp]) then return nil end
  local _, n = p:payload()
  if not n or n < 4 then return nil end
  return tostring(p:ip().src)
end

local function counts(list)
  local c = {}
  for _, v in ipairs(list) do c[v] = (c[v] or 0) + 1 end
  return c
end

local function keys(c)
  local t = {}
  for k in pairs(c) do t[#t + 1] = k end
  table.sort(t)
  return table.concat(t, " ")
end

local function check_oracle(row, pkts)
  local ports = setmetatable({}, {__index = DNS_PORTS})
  local extra = row.oracle_decode_as:match("port==(%d+)")
  if extra then ports[tonumber(extra)] = true end
  local want, quoted = {}, {}
  for _, r in ipairs(oracle_rows(row)) do
    local a = r.ip ~= "" and r.ip or r.ip6
    local outer, inner = a:match("^([^,]+),([^,]+)$")
    -- An ICMP error quoting a DNS datagram: tshark lists the outer and the
    -- quoted source. We do not count quoted DNS as a DNS frame; instead the
    -- quoted source must be what icmp:inner() decodes.
    if outer and r.protos:find("icmp", 1, true) then
      quoted[r.frame] = inner
    elseif r.protos:find(":udp:gre:", 1, true) then
      -- GRE in UDP (udp/4754) is not decoded (nor by tcpdump): the
      -- frame's DNS port is not in sight, so it is no DNS frame to us
    else
      -- through tunnels tshark lists every IP layer's source: the DNS
      -- one is the innermost, of the family its protocols name last
      local last = r.protos:match(".*:(ipv?6?):")
      local list = last == "ipv6" and r.ip6 or (last == "ip" and r.ip) or a
      want[#want + 1] = list:match("([^,]+)$")
    end
  end
  local got = {}
  for i, e in ipairs(pkts) do
    local s = dns_src(e.pkt, ports)
    if s then got[#got + 1] = s end
    if quoted[i] then
      local q = e.pkt:inner()
      T.ok(q and q:udp(), "frame " .. i .. ": quoted UDP")
      T.eq(tostring(q:ip().src), quoted[i], "frame " .. i .. ": quoted source")
    end
  end
  if row.tags:find("tcp") or (row.tags:find("frag") and row.tags:find("truncated")) then
    -- TCP: tshark has a row per reassembled message, we have segments
    -- (a 2-byte prefix alone, several messages in one); fragments cut by
    -- the capture: a first fragment whose datagram never completes has
    -- no row. Compare the sets.
    T.eq(keys(counts(got)), keys(counts(want)), row.file .. ": DNS sources (set)")
  else
    local g, w = counts(got), counts(want)
    for k, n in pairs(w) do T.eq(g[k], n, row.file .. ": DNS frames from " .. k) end
    T.eq(keys(g), keys(w), row.file .. ": DNS sources")
  end
end

---------------------------------------------------------------------------
-- tcpdump: "IP a.p > b.q:" in every line, compared with our summaries.

local function endpoints(line)
  -- an IP length past the frame: "IP truncated-ip - 940 bytes missing! a > b:"
  line = line:gsub("(IP6?) truncated%-ip6? %- %d+ bytes missing!%s*", "%1 ")
  local v, a, b = line:match("%f[%w](IP6?) (%S+) > (%S+):")
  if not v then return "-" end
  -- tcpdump prints the ports of a first IPv6 fragment after the fragment
  -- header ("a > b: frag (0|1432) 53 > 51851:"); we print "a.53 > b.51851:
  -- frag (0|1432) UDP, ..." as for every other datagram.
  local sp, dp = line:match(": frag %(0|%d+%) (%d+) > (%d+):")
  if sp then a, b = a .. "." .. sp, b .. "." .. dp end
  return v .. " " .. a .. " > " .. b
end

local function tcpdump_lines(path)
  local f = io.popen("TZ=UTC tcpdump -n -r '" .. path .. "' 2>/dev/null")
  local t = {}
  for line in f:lines() do
    -- hex continuation lines of a packet tcpdump could not decode are
    -- left out; a tunnel's inner frame (VXLAN) goes on the next line,
    -- without a time: it belongs to the packet above
    if line:match("^%d%d:%d%d:") or #t == 0 then t[#t + 1] = line
    elseif not line:match("^%s") then t[#t] = t[#t] .. " " .. line end
  end
  f:close()
  return t
end

local have_tcpdump = os.execute("command -v tcpdump >/dev/null 2>&1") == 0

local function check_tcpdump(row, pkts)
  local td = tcpdump_lines(DIR .. row.file)
  T.eq(#td, #pkts, row.file .. ": tcpdump line count")
  for i, e in ipairs(pkts) do
    -- an IPv4 total length of 0 (TSO): tcpdump stops ("IP bad-len 0"),
    -- we decode the datagram as Wireshark does
    if not (td[i] or ""):find("IP bad%-len 0$") then
      T.eq(endpoints(e.summary), endpoints(td[i]), row.file .. " packet " .. i)
    end
  end
end

---------------------------------------------------------------------------

for _, row in ipairs(manifest()) do
  local path = DIR .. row.file
  if row.malformed:find("FILE%-LEVEL") then
    T.test(row.file .. ": refused cleanly", function()
      local src, err = pktsh.open(path)
      T.eq(src, nil, "open")
      T.ok(type(err) ~= "nil", "an error")
    end)
  else
    local pkts, err = read_capture(path)
    T.test(row.file .. ": read, decoders", function()
      T.ok(pkts, "open: " .. tostring(err))
      T.eq(err, nil, "read error")
      T.eq(#pkts, tonumber(row.packets), "packets")
      for i, e in ipairs(pkts) do
        local ok, why = pcall(exercise, e.pkt)
        T.ok(ok, "packet " .. i .. ": " .. tostring(why))
      end
    end)
    if pkts then
      T.test(row.file .. ": golden", function()
        local lines = {}
        for i, e in ipairs(pkts) do lines[i] = e.summary end
        check_golden(row, lines)
      end)
      if row.oracle ~= "" then
        T.test(row.file .. ": oracle DNS sources", function() check_oracle(row, pkts) end)
      end
      if have_tcpdump then
        T.test(row.file .. ": tcpdump endpoints", function() check_tcpdump(row, pkts) end)
      end
    end
  end
end
if not have_tcpdump then T.skip("tcpdump endpoints", "tcpdump is not installed") end
if update then T.skip("golden comparison", "PKTSH_GOLDEN_UPDATE=1: goldens rewritten") end

T.done()
