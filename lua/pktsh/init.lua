-- pktsh: the Lua library. Users see this table as the global `pktsh`.
require "pktsh.cdef"
require "pktsh.proto.packet"          -- installs the packet metatype
local ffi = require "ffi"
local C = ffi.C

-- Machine code in 256 KB areas (LuaJIT's default is 32 KB). Each switch
-- between areas and each patch of a trace in another area costs
-- mprotect calls, and where page-table changes are slow (~30-100 us per
-- call in VMs) a script compiling a few hundred traces spent a tenth of
-- its run there: dnsstats makes a third fewer calls this way.
jit.opt.start("sizemcode=256", "maxmcode=4096")
local source = require "pktsh.source"
local writer = require "pktsh.source.writer"

local pktsh = {
  version = ffi.string(C.pktsh_version()),
  -- a file or an interface (pktsh.source), {xdp = ifname, ...}: the
  -- packets XDP rules copy (pktsh.xdp.source), or {xsk = ifname, ...}:
  -- AF_XDP sockets fed by XDP redirect rules (pktsh.source.xsk)
  open = function(spec, opts)
    if type(spec) == "table" and spec.xsk ~= nil then
      return require("pktsh.source.xsk").open(spec, opts)
    end
    if type(spec) == "table" then return require("pktsh.xdp").source(spec, opts) end
    return source.open(spec, opts)
  end,
  pcap_writer = writer.open,
  linktypes = writer.linktypes,
}

-- tcpdump's -w with -G/-C/-W: a writer that starts a new file every
-- opts.seconds (pattern is a strftime name), past opts.size bytes, or in
-- a ring of opts.files; nil, err when it cannot open.
function pktsh.pcap_rotate(pattern, opts)
  return require("pktsh.source.rotate").new(pattern, opts)
end

-- Time for scripts (src/host/clock.c): no script needs the FFI for it.
-- Wall-clock time in ns since the epoch, as a Lua number.
function pktsh.now()
  return tonumber(C.pktsh_now_ns())
end

-- Monotonic time in ns (for intervals: it never jumps), as a Lua number.
function pktsh.mono()
  return tonumber(C.pktsh_mono_ns())
end

-- Sleeps `seconds`, or less when Ctrl-C or SIGTERM asks the script to
-- stop (or, in a worker, the parent stops the group): true after the
-- whole time, false when stopped early. The one wait every script and
-- the REPL use; a shell's `sleep` would make Ctrl-C wait for it.
function pktsh.sleep(seconds)
  if type(seconds) ~= "number" or seconds ~= seconds then
    error("bad argument #1 to 'sleep' (number of seconds expected)", 2)
  end
  return C.pktsh_sleep_ns(math.min(math.max(seconds, 0), 1e9) * 1e9) == 0
end

-- Whether Ctrl-C or SIGTERM (or, in a worker, the parent) asked the
-- script to stop: what loops of their own should check.
function pktsh.stopping()
  return source.stopping()
end

-- How much the libraries under pktsh say on stderr: 0 (the default)
-- nothing, pktsh's own errors say what failed; 1 libbpf's and libxdp's
-- messages; 2 their debug lines too (the XDP scripts' -v and -vv).
-- Returns the level before; with no argument only returns it.
function pktsh.verbose(level)
  if level == true then level = 1 elseif level == false then level = 0 end
  if level ~= nil and (type(level) ~= "number" or level < 0 or level % 1 ~= 0) then
    error("bad argument #1 to 'verbose' (0, 1, 2 or a boolean expected)", 2)
  end
  return C.pktsh_bpf_verbose(level or -1)
end

-- Checks a tcpdump filter expression: true, or nil and the reason.
function pktsh.check_filter(expr, linktype)
  local err = ffi.new("struct pktsh_err")
  if C.pktsh_filter_check(expr, linktype or C.PKTSH_DLT_EN10MB, C.PKTSH_SNAPLEN_DEFAULT, err) ~= 0 then
    return nil, ffi.string(err.msg)
  end
  return true
end

-- Loaded on first use, so that `pktsh -e ''` stays fast.
local lazy = {json = "pktsh.report.json", repl = "pktsh.host.repl", packet = "pktsh.proto.packet"}
lazy.sender = "pktsh.source.sender"    -- pktsh.sender(ifname [, opts]) (callable module)
lazy.build = "pktsh.proto.build"      -- frame builders: pktsh.build.udp4{...}
lazy.replay = "pktsh.source.replay"   -- pktsh.replay(file, ifname, opts) (callable module)
lazy.parallel = "pktsh.host.parallel" -- pktsh.parallel(spec, opts, work, ...) (callable module)
lazy.serial = "pktsh.host.serial"
lazy.xdp = "pktsh.xdp"        -- pktsh.xdp(ifname, opts): XDP rules (callable module)
lazy.addr = "pktsh.proto.addr"  -- addresses: pktsh.addr.parse(text), .text(bytes), .parse_cidr
lazy.dns = "pktsh.proto.dns"          -- DNS decoder: pktsh.dns.parse, .question, .type_name
lazy.dnsflow = "pktsh.proto.dnsflow"  -- packets -> DNS messages (UDP, TCP, fragments)
lazy.pending = "pktsh.accel.pending"  -- requests waiting for answers, in C (pktsh.pending.new)
lazy.hash = "pktsh.accel.hash"        -- keyed hashing: pktsh.hash.bytes(s)
lazy.term, lazy.export = "pktsh.report.term", "pktsh.report.export"  -- drawing, files
lazy.interfaces = "pktsh.source.ifaces"  -- pktsh.interfaces(): what tcpdump -D lists
lazy.keys = "pktsh.proto.keys"  -- key functions of packets (the global `by`)
lazy.metrics = "pktsh.report.metrics"  -- Prometheus: pktsh.metrics.new(), .serve(addr)
lazy.dnstap = "pktsh.report.dnstap"    -- dnstap output: pktsh.dnstap.open(spec)
lazy.hist, lazy.topk, lazy.rate, lazy.chart = "pktsh.report.hist", "pktsh.report.topk", "pktsh.report.rate", "pktsh.report.chart"

-- The end of a script that runs workers: `return pktsh.main(M)` calls
-- M.main(...) in the parent; a worker loads the script up to here and
-- runs the function of M that pktsh.parallel names (README, "Parallel
-- scripts").
function pktsh.main(t) return require("pktsh.host.parallel").main(t) end

-- The -j N worker count; in a worker, its index and the count (else nil).
function pktsh.jobs() return tonumber(C.pktsh_jobs()) end
function pktsh.worker() return require("pktsh.host.parallel").worker() end
-- __fields: the lazy names too, for help and Tab completion
-- (pktsh.x<Tab> offers pktsh.xdp before its first use).
local lazy_names = {}
for k in pairs(lazy) do lazy_names[#lazy_names + 1] = k end
table.sort(lazy_names)
setmetatable(pktsh, {__index = function(t, k)
  local name = lazy[k]
  if not name then return nil end
  local m = require(name)
  rawset(t, k, m)
  return m
end, __fields = lazy_names})

-- The short names the REPL and -e one-liners use.
function pktsh.install_globals(g)
  g.open = pktsh.open
  g.pcap_writer = pktsh.pcap_writer
  g.help = function(...)
    if rawget(g, "by") then require("pktsh.report.chart").document(g) end
    return require("pktsh.host.repl").help(...)
  end
  g.pktsh = pktsh
  -- charts one-liners: hist(open"eth0", by.dport, {seconds = 10}), top(src, by.src),
  -- rate(src); pktsh.hist/topk/rate/chart load on first use
  g.hist = function(...) return require("pktsh.report.hist").global(...) end
  g.top = function(...) return require("pktsh.report.topk").global(...) end
  g.rate = function(...) return require("pktsh.report.rate").global(...) end
  g.by = setmetatable({}, {
    __index = function(t, k)
      local v = require("pktsh.proto.keys").by[k]
      if v then rawset(t, k, v) end
      return v
    end,
    __fields = function() return require("pktsh.proto.keys").by_list() end,
    __tostring = function() return "by: key functions for hist() and top() - help(by)" end})
end

return pktsh
