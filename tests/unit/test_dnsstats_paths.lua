-- test_dnsstats_paths.lua - dnsstats' two paths to the same numbers
-- (issue 11 item 6): the C scan (src/accel/dnsscan.c: UDP, TCP and IP
-- fragments in C) and the general path (general = true: every packet
-- through pktsh.dnsflow, which shares the TCP and IP reassemblers) give
-- the same state on every test capture, with the default port and with
-- more ports. (tests/sh/test_dnsstats.sh compares the script's JSON with
-- and without --duration, which both take the scan.)
local T = require "t"
local dnsstats = require "pktsh.app.dnsstats"

local DIR = "tests/pcaps/"
local KEYS = {"packets", "dns", "queries", "responses", "malformed", "truncated", "tc",
              "matched", "unanswered", "unmatched"}
local FLOW = {"udp", "tcp", "fragmented", "frag_datagrams", "frag_dups", "frag_dropped",
              "frag_timeouts", "frag_cut", "tcp_flows", "tcp_gaps", "tcp_cut"}

local function run(path, ports, general)
  local src = pktsh.open(path)
  if not src then return nil end
  local st = dnsstats.work(src, {ports = ports, general = general})
  src:close()
  return st
end

-- A table of counts as one line, keys in order.
local function line(t)
  local keys, out = {}, {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do out[#out + 1] = tostring(k) .. "=" .. tostring(t[k]) end
  return table.concat(out, " ")
end

local function top(st, which)
  local rows = {}
  for _, r in ipairs(dnsstats.top(st, which, 5)) do rows[#rows + 1] = tostring(r.key) .. ":" .. r.count end
  return table.concat(rows, " ")
end

T.test("the C scan and the general path: the same state on every capture", function()
  local files, compared, frag_files = {}, 0, 0
  for f in io.popen("ls " .. DIR .. "*.pcap " .. DIR .. "*.pcapng"):lines() do files[#files + 1] = f end
  for _, f in ipairs(files) do
    for _, ports in ipairs{{53}, {53, 5353, 5355, 8053}} do
      local a, b = run(f, ports, false), run(f, ports, true)
      if a and b then
        local what = f .. " ports " .. table.concat(ports, ",")
        for _, k in ipairs(KEYS) do T.eq(a[k], b[k], what .. ": " .. k) end
        for _, k in ipairs(FLOW) do T.eq(a.flow[k], b.flow[k], what .. ": flow." .. k) end
        T.eq(line(a.qtypes), line(b.qtypes), what .. ": qtypes")
        T.eq(line(a.rcodes), line(b.rcodes), what .. ": rcodes")
        T.eq(top(a, "qnames"), top(b, "qnames"), what .. ": names")
        T.eq(top(a, "clients"), top(b, "clients"), what .. ": clients")
        compared = compared + 1
        if (a.flow.frag_datagrams or 0) > 0 then frag_files = frag_files + 1 end
      end
    end
  end
  T.ok(compared >= 200, "captures compared: " .. compared)
  print(("# %d compared, %d with fragments rebuilt"):format(compared, frag_files))
  T.ok(frag_files >= 4, "captures with fragments rebuilt: " .. frag_files)
end)

T.done()
