-- Every module under lua/pktsh, as Snabb does it: a module with logic of
-- its own has a selftest() (run here, one line a module), or a test
-- named after it (tests/unit/test_NAME[_*].lua, tests/sh/test_NAME[_*].sh,
-- NAME the module's last word: pktsh.report.hist is hist, pktsh.source
-- is source, pktsh is pktsh), or an entry below that says why not and
-- which test covers it. A new module with none of the three fails here.
-- The same for every C file under src/ (the Makefile compiles each one
-- in): a test named after it, or an entry in `c_elsewhere`.
local T = require "t"

-- Modules tested only by a test that is about more than them (each
-- named test must exist).
local elsewhere = {
  ["pktsh.source.fanout"] = {"tests/sh/test_workers.sh", "a fanout group needs an interface"},
  ["pktsh.source.sender"] = {"tests/sh/test_live.sh", "sends the frames the live captures read"},
  ["pktsh.source.xdpcopies"] = {"tests/sh/test_xdp.sh", "copies need an attached XDP program"},
  ["pktsh.source.xskopts"] = {"tests/unit/test_xsk.lua", "the AF_XDP source's options (its sockets: tests/sh/test_xsk*.sh)"},
  ["pktsh.xdp.owners"] = {"tests/sh/test_xdp_dispatcher.sh", "owner records need the dispatcher"},
  ["pktsh.proto.tcpbin"] = {"tests/unit/test_tcpapp.lua", "the binary protocols after a TCP segment"},
  ["pktsh.proto.udpapp"] = {"tests/unit/test_lineformat.lua", "gen__udp-apps.pcap against tcpdump"},
}

-- C files whose test is about more than them, or names them otherwise.
local c_elsewhere = {
  ["src/err.c"] = {"tests/unit/test_file.lua", "the nil, err of every failed open"},
  ["src/outfile.c"] = {"tests/sh/test_privs.sh", "a planted link is refused"},
  ["src/contract.c"] = {"tests/unit/test_cdef_layout.lua", "no code: the build fails if a number differs"},
  ["src/accel/buf.c"] = {"tests/unit/test_dnsflow.lua", "pktsh.dnsflow's stream buffers"},
  ["src/accel/dnsscan.c"] = {"tests/sh/test_dnsstats.sh", "dnsstats's fast path"},
  ["src/host/luastate.c"] = {"tests/sh/test_cli.sh", "the compiled-in library and PKTSH_PATH"},
  ["src/host/main.c"] = {"tests/sh/test_cli.sh", "the command line"},
  ["src/host/run.c"] = {"tests/sh/test_cli.sh", "a script's error and its traceback"},
  ["src/report/fstrmio.c"] = {"tests/unit/test_dnstap.lua", "pktsh.dnstap's files, sockets and collectors"},
  ["src/proto/dnstcp.c"] = {"tests/unit/test_dnsflow.lua", "pktsh.dnsflow's DNS over TCP"},
  ["src/proto/ipfrag.c"] = {"tests/unit/test_dnsfrag.lua", "fragments in dnsstats' scan (bounds: test_dnsflow.lua)"},
  ["src/proto/agetab.c"] = {"tests/unit/test_dnsflow.lua", "the TCP flows and fragmented datagrams under floods"},
  ["src/proto/dnsq.c"] = {"tests/unit/test_dns.lua", "pktsh.dns's fast path"},
  ["src/source/batch.c"] = {"tests/sh/test_packet_memory.sh", "descriptor windows and guard pages"},
  ["src/source/ring.c"] = {"tests/sh/test_live.sh", "pktsh.source.live's ring"},
  ["src/source/rxmsg.c"] = {"tests/sh/test_rxstamp.sh", "tstamp = \"both\": both receive stamps through recvmmsg"},
  ["src/source/tstamp.c"] = {"tests/sh/test_rxstamp.sh", "hardware stamping, the PTP offset, sleep_until (also test_time.lua)"},
  ["src/source/xsktx.c"] = {"tests/sh/test_xsk_fwd.sh", "the AF_XDP source's sending"},
  ["src/source/sender.c"] = {"tests/sh/test_live.sh", "pktsh.source.sender"},
  ["src/source/xdpcopy.c"] = {"tests/sh/test_xdp.sh", "pktsh.source.xdpcopies"},
  ["src/xdp/xdpclass.c"] = {"tests/unit/test_xdp.lua", "the classifier engine"},
  ["src/xdp/xdpowner.c"] = {"tests/sh/test_xdp_dispatcher.sh", "pktsh.xdp.owners"},
}

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- The test an entry of `elsewhere` or `c_elsewhere` names is there.
local function covered_by(e)
  return function() T.ok(exists(e[1]), e[1] .. " is gone") end
end

-- lua/pktsh/a/b.lua -> pktsh.a.b, lua/pktsh/a/init.lua -> pktsh.a (as the Makefile names them)
-- The lines a shell command prints.
local function lines(cmd)
  local out = {}
  local p = io.popen(cmd)
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  return out
end

local function modules()
  local out = lines("find lua/pktsh -name '*.lua' | sort")
  for i, f in ipairs(out) do
    out[i] = f:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
  end
  return out
end

-- The tests named after a module.
local function named_tests(mod)
  local word = mod:match("([%w_]+)$")
  return lines(string.format("ls tests/unit/test_%s.lua tests/unit/test_%s_*.lua " ..
                              "tests/sh/test_%s.sh tests/sh/test_%s_*.sh 2>/dev/null",
                              word, word, word, word))
end

local list = modules()
T.test("modules found", function() T.ok(#list >= 30, "only " .. #list .. " modules") end)

-- A module or C file without a selftest(): the tests named after it, or
-- its entry e in the list called `where`, or a failure.
local function judge(name, tests, e, where)
  if #tests > 0 then
    T.test(name .. ": " .. table.concat(tests, ", "), function()
      T.ok(not e, name .. " has a test named after it: drop its entry in " .. where)
    end)
  elseif e then
    T.test(name .. ": " .. e[2] .. ": " .. e[1], covered_by(e))
  else
    T.test(name .. " is tested", function()
      error("no selftest(), no test named after it, and no entry in this file's " .. where)
    end)
  end
end

for _, mod in ipairs(list) do
  local tests = named_tests(mod)
  local ok, m = pcall(require, mod)
  if not ok then
    T.test(mod .. " loads", function() error(m) end)
  elseif type(m) == "table" and type(rawget(m, "selftest")) == "function" then
    local also = #tests > 0 and " (also " .. table.concat(tests, ", ") .. ")" or ""
    T.test(mod .. ": selftest()" .. also, function() m.selftest() end)
  else
    judge(mod, tests, elsewhere[mod], "`elsewhere`")
  end
end

-- The C files, as the Makefile finds them (src/*.c, src/*/*.c).
local cs = lines("ls src/*.c src/*/*.c | sort")
T.test("C files found", function() T.ok(#cs >= 20, "only " .. #cs .. " C files") end)
for _, path in ipairs(cs) do
  judge(path, named_tests(path:match("([%w_]+)%.c$")), c_elsewhere[path], "`c_elsewhere`")
end

T.done()
