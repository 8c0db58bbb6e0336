-- pktsh (lua/pktsh/init.lua): the table scripts see. The short names load
-- the modules they stand for, on first use; the names the REPL installs;
-- check_filter and linktypes.
local T = require "t"

-- short name -> the module it is (README, "Layout and development")
local short = {
  json = "pktsh.report.json", repl = "pktsh.host.repl", packet = "pktsh.proto.packet",
  sender = "pktsh.source.sender", build = "pktsh.proto.build", parallel = "pktsh.host.parallel",
  serial = "pktsh.host.serial", xdp = "pktsh.xdp", addr = "pktsh.proto.addr",
  dns = "pktsh.proto.dns", dnsflow = "pktsh.proto.dnsflow", pending = "pktsh.accel.pending",
  hash = "pktsh.accel.hash", term = "pktsh.report.term", export = "pktsh.report.export",
  keys = "pktsh.proto.keys", hist = "pktsh.report.hist", topk = "pktsh.report.topk",
  rate = "pktsh.report.rate", chart = "pktsh.report.chart",
}

T.test("short names load their modules on first use", function()
  for name, mod in pairs(short) do
    T.eq(rawget(pktsh, name), nil, name .. " loaded before use")
    T.eq(pktsh[name], require(mod), "pktsh." .. name)
    T.eq(rawget(pktsh, name), require(mod), name .. " kept")
  end
  T.eq(pktsh.nosuchname, nil, "unknown names are nil")
end)

T.test("the globals the REPL and -e get", function()
  local g = {}
  pktsh.install_globals(g)
  T.eq(g.open, pktsh.open, "open"); T.eq(g.pcap_writer, pktsh.pcap_writer, "pcap_writer")
  T.eq(g.pktsh, pktsh, "pktsh")
  for _, f in ipairs{"hist", "top", "rate", "help"} do T.eq(type(g[f]), "function", f) end
  T.eq(g.by.dport, pktsh.keys.by.dport, "by")
  T.ok(tostring(g.by):find("key functions"), "by prints its help")
end)

T.test("check_filter, linktypes, version, now", function()
  T.eq(pktsh.check_filter("udp port 53"), true, "good filter")
  local ok, err = pktsh.check_filter("udp port")
  T.eq(ok, nil); T.ok(#err > 0, "reason")
  T.eq(pktsh.check_filter("ip", pktsh.linktypes.RAW), true, "another link type")
  T.eq(pktsh.linktypes.EN10MB, 1, "EN10MB"); T.eq(pktsh.linktypes.LINUX_SLL2, 276, "LINUX_SLL2")
  T.ok(type(pktsh.version) == "string" and #pktsh.version > 0, "version")
  T.ok(math.abs(pktsh.now() / 1e9 - os.time()) < 5, "now is the wall clock in ns")
end)

T.done()
