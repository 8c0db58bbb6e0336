-- test_repl.lua - pktsh.repl's help (issue 16 item 12): help() covers
-- every part of pktsh; help(fn) gives the signature and description of
-- every public function (generated from the comments in the sources,
-- pktsh.docs), never "function: 0x..."; completion lists the lazily
-- loaded modules and hides _private names; headers print as tables and
-- bytes as a hex dump. The REPL on a terminal: tests/sh/test_help.sh.
local T = require "t"
local repl = require "pktsh.host.repl"

T.test("help() names every part of pktsh", function()
  local text = repl.describe()
  for _, part in ipairs({"live capture", "duration", "hist%(", "top%(", "rate%(", "XDP rules",
                         "pktsh%.xdp", "DNS", "pkt:dns", "pktsh%.sender", "pktsh%.build",
                         "pktsh%.parallel", "pcap_writer", "pktsh%.json", "pktsh%.sleep",
                         "Tab completes"}) do
    T.ok(text:find(part), "help() mentions " .. part)
  end
end)

-- Every function reachable as a field of pktsh, of its modules (lazy
-- ones included) and of the objects users hold.
local function public_functions()
  local list = {}
  local function add(prefix, t)
    for k, v in pairs(t) do
      if type(k) == "string" and k:sub(1, 1) ~= "_" and type(v) == "function" then
        list[#list + 1] = {prefix .. k, v}
      end
    end
  end
  add("pktsh.", pktsh)
  for _, name in ipairs(getmetatable(pktsh).__fields) do
    local m = pktsh[name]
    if type(m) == "table" then add("pktsh." .. name .. ".", m) end
  end
  add("source:", require("pktsh.source").Source)
  add("pkt:", require("pktsh.proto.packet").methods)
  add("h:", pktsh.hist.H or {})
  return list
end

T.test("help(fn): a signature and a description for every public function", function()
  local bad = {}
  local list = public_functions()
  T.ok(#list > 150, "found " .. #list .. " functions")
  for _, e in ipairs(list) do
    local text = repl.describe(e[2])
    local first = text:match("^[^\n]*")
    if text:find("^function: ") or text:find("defined at") or not first:find("%(")
       or not text:find("\n") then
      bad[#bad + 1] = e[1] .. ": " .. first
    end
  end
  table.sort(bad)
  T.eq(table.concat(bad, "\n"), "", "functions without a signature and description")
end)

T.test("help(fn) is the comment above the function", function()
  local text = repl.describe(pktsh.sleep)
  T.ok(text:find("^pktsh%.sleep%(seconds%)\n  Sleeps `seconds`"), text)
  text = repl.describe(require("pktsh.proto.packet").methods.udp)
  T.ok(text:find("^pkt:udp%(%)\n  The UDP header"), text)
  T.ok(repl.describe(pktsh.hist.new):find("^pktsh%.hist%.new%(opts%)\n"), "pktsh.hist.new")
end)

T.test("completion: lazy modules listed, _private names hidden", function()
  local got = table.concat(repl.complete("pktsh.", "pktsh."), " ")
  for _, m in ipairs({"xdp", "dns", "build", "sender", "parallel", "hist", "json"}) do
    T.ok(got:find("pktsh%." .. m .. "%f[%s%z]"), "pktsh." .. m .. " in " .. got)
  end
  _G.zz_src = assert(pktsh.open("tests/pcaps/dnscap__dns.pcap"))
  got = table.concat(repl.complete("zz_src:", "zz_src:"), " ")
  T.ok(got:find("zz_src:next(", 1, true), got)
  T.ok(not got:find("zz_src:_", 1, true), "no _private methods: " .. got)
  got = table.concat(repl.complete("zz_src:_", "zz_src:_"), " ")
  T.ok(got:find("zz_src:_next(", 1, true), "asked for: " .. got)
  _G.zz_src:close(); _G.zz_src = nil
end)

T.test("headers print as tables, bytes as a hex dump", function()
  local src = assert(pktsh.open("tests/pcaps/dnscap__dns.pcap"))
  local p = src:next().pkt[0]
  T.eq(repl.show(p:udp()), "udp {sport = 53199, dport = 53, len = 36, sum = 0xbc60}", "udp")
  T.ok(repl.show(p:ip4()):find("^ip4 {version = 4, hlen = 20, .*ttl = 64, proto = 17, "
                               .. "sum = 0x5ec8, src = 172%.17%.0%.10, dst = 8%.8%.8%.8}$"), "ip4")
  T.eq(repl.show(p:eth()), "eth {dst = 56:84:7a:fe:97:99, src = 02:42:ac:11:00:0a, type = 0x0800}", "eth")
  local raw = repl.show(p:raw())
  T.ok(raw:find("^70 bytes:\n0000  56 84 7a fe 97 99 02 42 ac 11 00 0a 08 00 45 00  V%.z"), raw)
  T.eq(repl.show("text\nlines"), "text\nlines", "text stays text")
  src:close()
end)

T.done()
