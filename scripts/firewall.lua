-- firewall.lua - XDP rules from the command line, with live counters.
local usage = [[
usage: pktsh scripts/firewall.lua [options] IFACE [RULE...]
       pktsh -i scripts/firewall.lua --no-watch IFACE [RULE...]   (manage at the prompt)

Attaches pktsh's XDP program to IFACE with the RULEs (key=value pairs
joined by commas, e.g. proto=udp,dport=53,action=drop) and prints each
rule's counters every interval until Ctrl-C. The rules live as long as
the process: they are gone when it exits, however it exits.

With pktsh -i and --no-watch the script leaves you at the REPL with:
  fw                   the rule set (fw:add{...}, fw:rules(), fw:stats())
  add "RULE"           adds a rule, prints its number
  del(N)               removes rule N (as list() numbers them)
  list()               the rules in match order, with counters
  watch([SECONDS])     prints counters every second until Ctrl-C

options:
  --skb           generic (skb) mode instead of native
  --dispatcher    attach through libxdp's dispatcher (falls back to a link)
  --engine E      auto (default), linear or classifier
  --default A     pass (default) or drop for packets no rule matches
  --interval S    seconds between counter lines (default 1)
  --duration S    stop after S seconds
  --json          counters as JSON lines
  --no-watch      do not print counters (for pktsh -i)
  -h, --help      show this help
exit status: 0 on success, 1 if the program cannot be attached, 2 for a
usage error.
]]

local xdp = pktsh.xdp
local json = pktsh.json

local cli = require "pktsh.cli"

local function die(status, fmt, ...) cli.die("firewall", status, fmt, ...) end

local opt = cli.parse("firewall", usage, arg, {
  ["--skb"] = {"mode", value = "skb"}, ["--dispatcher"] = {"attach", value = "dispatcher"},
  ["--engine"] = {"engine", "string"}, ["--default"] = {"default", "string"},
  ["--interval"] = {"interval", "number"}, ["--duration"] = {"duration", "number"},
  ["--json"] = {"json"}, ["--no-watch"] = {"nowatch"},
}, {interval = 1})
opt.iface, opt.rules = opt.source, opt.words

local fw, err = xdp(opt.iface, {mode = opt.mode, attach = opt.attach, engine = opt.engine,
                                default = opt.default})
if not fw then die(1, "%s", err) end

local function add(text)
  local spec, e = xdp.parse_rule_text(text)
  if not spec then return nil, e end
  local r
  r, e = fw:add(spec)
  if not r then return nil, e end
  for k, t in ipairs(fw:rules()) do if t.rule == r then return k end end
end

for n, text in ipairs(opt.rules) do
  local ok, e = add(text)
  if not ok then fw:close(); die(2, "rule %d (%s): %s", n, text, e) end
end

local function list(out)
  out = out or io.stdout
  local rules = fw:rules()
  for k, t in ipairs(rules) do
    out:write(string.format("%3d  %-50s %10d pkts %12d bytes %8d copied %6d lost\n", k,
      tostring(t.rule), t.packets, t.bytes, t.copied, t.copy_lost))
  end
  local s = fw:stats()
  out:write(string.format("     all: %d packets, %d passed, %d dropped, %d unparsed (passed), default %s\n",
    s.packets, s.passed, s.dropped, s.parse_errors, fw:info().default))
  return #rules
end

local function del(k)
  local t = fw:rules()[k]
  if not t then return nil, "no rule " .. tostring(k) end
  return t.rule:remove()
end

local function sleep(s)
  local stop = pktsh.now() + s * 1e9
  while pktsh.now() < stop do
    if require("ffi").C.pktsh_stopping() ~= 0 then return false end
    os.execute("sleep 0.1")
  end
  return true
end

local function watch(seconds)
  local deadline = seconds and pktsh.now() + seconds * 1e9
  repeat
    if opt.json then
      local s = fw:stats()
      s.ts = pktsh.now() / 1e9
      s.rules = fw:rules()
      for _, t in ipairs(s.rules) do t.rule = tostring(t.rule) end
      io.stdout:write(json.encode(s), "\n")
    else
      io.stdout:write(os.date("%H:%M:%S"), "\n")
      list()
    end
    io.stdout:flush()
    if not sleep(opt.interval) then break end
  until deadline and pktsh.now() >= deadline
end

-- In the REPL (pktsh -i), the helpers are globals; a plain run watches.
_G.fw, _G.add, _G.del, _G.list, _G.watch = fw, add, del, list, watch
io.stderr:write(string.format("firewall: %s\n", tostring(fw)))
if not opt.nowatch then
  watch(opt.duration)
  fw:close()
end
