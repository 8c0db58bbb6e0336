-- firewall.lua - XDP rules from the command line, with live counters.
local usage = [[
usage: pktsh scripts/firewall.lua [options] IFACE [RULE...]
       pktsh -i scripts/firewall.lua --no-watch IFACE [RULE...]   (manage at the prompt)
       pktsh scripts/firewall.lua --cleanup [--dry-run] [--json]

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

--cleanup detaches the programs that a pktsh attached through libxdp's
dispatcher and then died without removing (kill -9, a crash), in this
network namespace, and prints one line per owner record; --dry-run only
lists the records. Exit status 1 if one could not be detached.

options:
  --skb           generic (skb) mode instead of native
  --dispatcher    attach through libxdp's dispatcher beside other XDP
                  programs (falls back to a link where it cannot load; a
                  pktsh killed with the program attached leaves it for
                  --cleanup, which the next --dispatcher attach also does)
  --engine E      auto (default), linear or classifier
  --default A     pass (default) or drop for packets no rule matches
  --interval S    seconds between counter lines (default 1)
  --duration S    stop after S seconds
  --json          counters as JSON lines
  --no-watch      do not print counters (for pktsh -i)
  -v, -vv        show libbpf's and libxdp's messages (-vv: their debug lines)
  -h, --help      show this help
exit status: 0 on success, 1 if the program cannot be attached, 2 for a
usage error.
]]

local xdp = pktsh.xdp
local json = pktsh.json

local cli = require "pktsh.host.cli"

local function die(status, fmt, ...) cli.die("firewall", status, fmt, ...) end

-- firewall.lua --cleanup [--dry-run] [--json]: no interface, no rules.
local function cleanup(argv)
  local o = {}
  for _, a in ipairs(argv) do
    if a == "--cleanup" or a == "--dry-run" or a == "--json" then o[a] = true
    else die(2, "--cleanup takes only --dry-run and --json, not '%s'", a) end
  end
  local recs, err = xdp.cleanup{dry_run = o["--dry-run"]}
  if not recs then die(1, "%s", err) end
  local failed = 0
  for _, r in ipairs(recs) do
    if r.action == "failed" then failed = failed + 1 end
    if o["--json"] then
      io.stdout:write(json.encode(r), "\n")
    else
      io.stdout:write(string.format("pid %d (%s) ifindex %d prog %d: %s%s\n", r.pid,
        r.alive and "running" or "gone", r.ifindex, r.prog_id,
        r.action,
        r.note and (": " .. r.note) or ""))
    end
  end
  if not o["--json"] then
    io.stdout:write(string.format("%d owner record%s\n", #recs, #recs == 1 and "" or "s"))
  end
  os.exit(failed > 0 and 1 or 0)
end
for _, a in ipairs(arg) do
  if a == "--cleanup" then cleanup(arg) end
end

local opt = cli.parse("firewall", usage, arg, {
  ["--skb"] = {"mode", value = "skb"}, ["--dispatcher"] = {"attach", value = "dispatcher"},
  ["--engine"] = {"engine", {"auto", "linear", "classifier"}},
  ["--default"] = {"default", {"pass", "drop"}},
  ["--interval"] = {"interval", "number"}, ["--duration"] = {"duration", "number"},
  ["--json"] = {"json"}, ["--no-watch"] = {"nowatch"},
  ["-v"] = {"verbose"}, ["-vv"] = {"verbose", value = 2},
}, {interval = 1})
opt.iface, opt.rules = opt.source, opt.words
if opt.verbose then pktsh.verbose(opt.verbose == true and 1 or opt.verbose) end

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
  out:write(string.format("     all: %d packets, %d passed, %d dropped, %d not parsed to the end, default %s\n",
    s.packets, s.passed, s.dropped, s.parse_errors, fw:info().default))
  return #rules
end

local function del(k)
  local t = fw:rules()[k]
  if not t then return nil, "no rule " .. tostring(k) end
  return t.rule:remove()
end

-- Counters every interval until Ctrl-C (pktsh.sleep ends at once then)
-- or `seconds`.
local function watch(seconds)
  local deadline = seconds and pktsh.mono() + seconds * 1e9
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
    local pause = opt.interval
    if deadline then pause = math.min(pause, (deadline - pktsh.mono()) / 1e9) end
    if not pktsh.sleep(pause) then break end
  until deadline and pktsh.mono() >= deadline
end

-- In the REPL (pktsh -i), the helpers are globals; a plain run watches.
_G.fw, _G.add, _G.del, _G.list, _G.watch = fw, add, del, list, watch
io.stderr:write(string.format("firewall: %s\n", tostring(fw)))
if not opt.nowatch then
  watch(opt.duration)
  fw:close()
end
