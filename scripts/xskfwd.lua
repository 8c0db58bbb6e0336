-- xskfwd.lua - a bridge between two interfaces through AF_XDP sockets,
-- with an optional Lua rewrite of each packet.
--
--   pktsh scripts/xskfwd.lua [options] IF_A IF_B
local usage = [[
usage: pktsh [-j N] scripts/xskfwd.lua [options] IF_A IF_B

Takes every frame arriving on IF_A at XDP and sends it out of IF_B, and
every frame arriving on IF_B out of IF_A (with --one-way only A to B; B's
frames then go to its stack as usual). The frames never reach the stack
of the bridging host. Both interfaces' sockets share one UMEM, so a frame
goes out as it came in (zero-copy forward) unless the rewrite replaces it.

options:
  --rewrite CODE  a Lua function (or a file holding one) called for every
                  frame as f(pkt, out_ifname): nil or true forwards it,
                  false drops it, a string is sent instead of the frame
  --rule RULE     feed the bridge only what RULE matches on both sides
                  (key=value,... as in xdpdump.lua; repeatable); the rest
                  goes to the stack
  --one-way       only IF_A to IF_B
  --skb           generic (skb) XDP mode instead of native
  --queues LIST   rx queues to take, e.g. 0,1 (default: all)
  --zerocopy M    auto (default), on or off: the sockets' binding
  --linger US     look at an empty RX ring again after US microseconds
                  before sleeping (fewer wakeups at high rates)
  -c COUNT        stop after COUNT frames forwarded
  -d SECONDS      stop after SECONDS
  --interval S    print the counters every S seconds (default: only at the end)
  -q              no counters
  -h, --help      show this help

With -j N (pktsh -j N) the queues are spread over N worker threads, the
same queue of both interfaces in one thread. Ctrl-C stops it and prints
the counters: frames forwarded each way (and how many went without a
copy), dropped and rewritten by the rewrite, and the sockets' losses.
exit status: 0 on success, 1 if the sockets cannot be opened, 2 for a
usage error.
]]

local cli = require "pktsh.host.cli"

local function die(status, fmt, ...) cli.die("xskfwd", status, fmt, ...) end

-- The rewrite: CODE is a function expression, or a file returning one.
local function load_rewrite(code)
  if not code then return nil end
  local chunk, err
  local f = io.open(code, "r")
  if f then
    f:close()
    chunk, err = loadfile(code)
  else
    chunk, err = loadstring("return " .. code, "=--rewrite")
  end
  if not chunk then return nil, err end
  local ok, fn = pcall(chunk)
  if not ok then return nil, fn end
  if type(fn) ~= "function" then return nil, "it does not give a function" end
  return fn
end

local function new_counts()
  return {ab = 0, ba = 0, zerocopy = 0, rewritten = 0, dropped = 0}
end

-- The work: forward batch after batch until the end, Ctrl-C or count.
-- Runs here, or in each worker with -j N (then on the worker's sockets).
local function bridge(s, a, b, code, count, interval)
  local rewrite = code and assert(load_rewrite(code))
  local c = new_counts()
  local out, dir = {}, {}
  for _, i in ipairs(s:info()) do
    out[i.ifindex] = i.ifname == a and b or a
    dir[i.ifindex] = i.ifname == a and "ab" or "ba"
  end
  local next_print = interval and pktsh.now() + interval * 1e9
  local total = 0
  while not count or total < count do
    local batch = s:next()
    if not batch then break end
    local n = batch.count
    local ifx = batch.pkt[0].ifindex
    local to = out[ifx]
    if not rewrite then
      local sent = assert(s:forward(batch, to))
      c[dir[ifx]] = c[dir[ifx]] + sent
      total = total + sent
    else
      for i = 0, n - 1 do
        local p = batch.pkt[i]
        local r = rewrite(p, to)
        if r == false then
          c.dropped = c.dropped + 1
        else
          if type(r) == "string" then c.rewritten = c.rewritten + 1 else r = p end
          assert(s:send(r, to))
          c[dir[ifx]] = c[dir[ifx]] + 1
          total = total + 1
        end
      end
    end
    if next_print and pktsh.now() >= next_print then
      next_print = next_print + interval * 1e9
      io.stderr:write(string.format("xskfwd: %d %s>%s, %d %s>%s\n", c.ab, a, b, c.ba, b, a))
    end
  end
  s:flush(1)
  local st = s:stats()
  c.zerocopy = st.tx_zerocopy
  c.drops, c.tx_dropped = st.drops, st.tx_dropped
  return c
end


-- Workers run bridge by its name (pktsh.parallel with -j N).
local M = {bridge = bridge}

function M.main(...)
  local arg = {...}
  local rules = {}
  local opt = cli.parse("xskfwd", usage, arg, {
    ["--rewrite"] = {"rewrite", "string"}, ["--one-way"] = {"one_way"},
    ["--skb"] = {"mode", value = "skb"}, ["--queues"] = {"queues", "string"},
    ["--zerocopy"] = {"zerocopy", "string"}, ["--linger"] = {"linger", "whole", 1},
    ["-c"] = {"count", "whole", 1}, ["-d"] = {"duration", "number"},
    ["--interval"] = {"interval", "number"}, ["-q"] = {"quiet"},
    ["--rule"] = {"rule", function(v) rules[#rules + 1] = v; return v end},
  })
  local if_a, if_b = opt.source, opt.words[1]
  if not if_b or opt.words[2] then die(2, "two interfaces, IF_A and IF_B (try -h)") end
  if if_a == if_b then die(2, "IF_A and IF_B are the same interface") end

  local zerocopy = ({auto = "auto", on = true, off = false})[opt.zerocopy or "auto"]
  if zerocopy == nil then die(2, "--zerocopy is auto, on or off, not '%s'", opt.zerocopy) end
  local queues
  if opt.queues then
    queues = {}
    for q in opt.queues:gmatch("[^,]+") do
      local n = tonumber(q)
      if not n or n % 1 ~= 0 or n < 0 then die(2, "--queues: '%s' is not a queue number", q) end
      queues[#queues + 1] = n
    end
  end

  local ok_rw, rw_err = load_rewrite(opt.rewrite)
  if opt.rewrite and not ok_rw then die(2, "--rewrite: %s", rw_err) end
  for n, text in ipairs(rules) do
    local spec, err = pktsh.xdp.parse_rule_text(text)
    if spec then spec.action = spec.action or "redirect"; spec, err = pktsh.xdp.check_rule(spec) end
    if not spec then die(2, "rule %d (%s): %s", n, text, err) end
  end

  local feed = #rules > 0 and rules or nil
  local src, err = pktsh.open{xsk = {if_a, if_b}, mode = opt.mode, queues = queues,
                              zerocopy = zerocopy, linger_us = opt.linger,
                              duration = opt.duration,
                              rules = opt.one_way and {[if_a] = feed or {{}}, [if_b] = false} or feed}
  if not src then die(1, "%s", err) end

  if not opt.quiet then
    io.stderr:write(string.format("xskfwd: bridging %s and %s%s\n", if_a, if_b,
                                  opt.one_way and " (one way)" or ""))
  end

  local counts
  if pktsh.jobs() > 1 then
    counts, err = src:parallel(M.bridge, if_a, if_b, opt.rewrite, opt.count)
    if not counts then src:close(); die(1, "%s", err) end
  else
    counts = bridge(src, if_a, if_b, opt.rewrite, opt.count, opt.interval)
  end
  if not opt.quiet then
    local info = src:info()[1]
    io.stderr:write(string.format(
      "xskfwd: %d frames %s>%s, %d %s>%s (%d without a copy); rewrite: %d replaced, " ..
      "%d dropped; lost: %d in the kernel's RX rings, %d on TX%s\n",
      counts.ab, if_a, if_b, counts.ba, if_b, if_a, counts.zerocopy, counts.rewritten,
      counts.dropped, counts.drops, counts.tx_dropped,
      info and info.note and " (" .. info.note .. ")" or ""))
  end
  src:close()
end

return pktsh.main(M)
