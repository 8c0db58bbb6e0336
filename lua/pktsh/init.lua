-- pktsh: the Lua library. Users see this table as the global `pktsh`.
require "pktsh.cdef"
require "pktsh.packet"          -- installs the packet metatype
local ffi = require "ffi"
local C = ffi.C
local source = require "pktsh.source"
local writer = require "pktsh.writer"

local pktsh = {
  version = ffi.string(C.pktsh_version()),
  open = source.open,
  pcap_writer = writer.open,
  linktypes = writer.linktypes,
}

-- Wall-clock time in ns since the epoch, as a Lua number.
function pktsh.now()
  return tonumber(C.pktsh_now_ns())
end

-- Checks a tcpdump filter expression: true, or nil and the reason.
function pktsh.check_filter(expr, linktype)
  local err = ffi.new("struct pktsh_err")
  if C.pktsh_filter_check(expr, linktype or 1, 262144, err) ~= 0 then
    return nil, ffi.string(err.msg)
  end
  return true
end

-- Loaded on first use, so that `pktsh -e ''` stays fast.
local lazy = {json = "pktsh.json", repl = "pktsh.repl", packet = "pktsh.packet"}
lazy.sender = "pktsh.sender"    -- pktsh.sender(ifname [, opts]) (callable module)
lazy.build = "pktsh.build"      -- frame builders: pktsh.build.udp4{...}
lazy.parallel = "pktsh.parallel" -- pktsh.parallel(spec, opts, work, ...) (callable module)
lazy.serial = "pktsh.serial"
lazy.dns = "pktsh.dns"          -- DNS decoder: pktsh.dns.parse, .question, .type_name
lazy.dnsflow = "pktsh.dnsflow"  -- packets -> DNS messages (UDP, TCP, fragments)

-- The -j N worker count; in a worker, its index and the count (else nil).
function pktsh.jobs() return tonumber(C.pktsh_jobs()) end
function pktsh.worker() return require("pktsh.parallel").worker() end
setmetatable(pktsh, {__index = function(t, k)
  local name = lazy[k]
  if not name then return nil end
  local m = require(name)
  rawset(t, k, m)
  return m
end})

-- The short names the REPL and -e one-liners use.
function pktsh.install_globals(g)
  g.open = pktsh.open
  g.pcap_writer = pktsh.pcap_writer
  g.help = function(...) return require("pktsh.repl").help(...) end
  g.pktsh = pktsh
end

return pktsh
