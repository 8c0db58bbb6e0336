#!/usr/bin/env bash
# Filters changed while traffic flows (issue 14, item 6). A replays a
# capture of numbered frames on three ports: 5000 (only the old filter
# keeps it), 5001 (both keep it), 5002 (only the new one does), in that
# order for each number, 3000 frames a second. B's capture swaps
# "udp port 5000 or udp port 5001" for "udp port 5001 or udp port 5002"
# half way: port 5001 must arrive whole (every number once, none lost,
# none twice), port 5000 as an unbroken run from 0 that stops, port 5002
# as an unbroken run to the end; on one ring the two runs meet (the swap
# is one SO_ATTACH_FILTER: each packet sees one filter). The same on a
# fanout group read in one thread, and on a -j 2 run whose parent swaps
# every ring from pktsh.parallel's on_stats. Also: filters as classic
# BPF programs (tcpdump -dd text, Lua lists), a bad filter leaves the old
# one in place, lock_filter refuses changes.
# Traffic: only between our namespaces, 6000 frames a run.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "setfilter"
if ! netns_setup; then fail "setfilter: namespace setup" "netns_setup failed"; exit 1; fi

N=${SETFILTER_N:-2000}
OLD="udp port 5000 or udp port 5001"
NEW="udp port 5001 or udp port 5002"

# The capture: N numbers on each port, then an end marker on 5001.
"$PKTSH" -e "
  local b, w = pktsh.build, assert(pktsh.pcap_writer('$TMP/seq.pcap'))
  local t = 1e18
  for k = 0, $N - 1 do
    for port = 5000, 5002 do
      assert(w:write(b.udp4{sport = port, dport = port, payload = 'pktsh-seq' .. b.u32(k)}, t))
      t = t + 1e6
    end
  end
  assert(w:write(b.udp4{sport = 5001, dport = 5001, payload = 'pktsh-end'}, t))
  w:close()"

# Shared by the captures: the number a frame carries, its port; the
# analysis of what arrived (one line of key=value words).
cat > "$TMP/seqlib.lua" <<'LUA'
local M = {}
function M.number(p)
  local off = p:payload()
  local u = p:udp()
  if not off or not u then return nil end
  if p:bytes(off, 9) == "pktsh-end" then return "end", u.dport end
  if p:bytes(off, 9) ~= "pktsh-seq" then return nil end
  return p:u32(off + 9), u.dport
end
function M.add(seen, p)
  local k, port = M.number(p)
  if k == "end" then return "end" end
  if k then
    local t = seen[port] or {}
    seen[port] = t
    t[k] = (t[k] or 0) + 1
  end
end
-- "lo hi count dups gaps" of the numbers in t
local function run(t)
  local keys, dups = {}, 0
  for k, c in pairs(t or {}) do keys[#keys + 1] = k; if c > 1 then dups = dups + c - 1 end end
  table.sort(keys)
  local gaps = 0
  for i = 2, #keys do if keys[i] ~= keys[i - 1] + 1 then gaps = gaps + 1 end end
  return keys[1] or -1, keys[#keys] or -1, #keys, dups, gaps
end
function M.report(seen, extra)
  local out = {}
  for _, port in ipairs({5000, 5001, 5002}) do
    local lo, hi, n, dups, gaps = run(seen[port])
    out[#out + 1] = string.format("p%d=%d,%d,%d,%d,%d", port, lo, hi, n, dups, gaps)
  end
  print(table.concat(out, " ") .. (extra and (" " .. extra) or ""))
end
return M
LUA

# Swaps the filter once half the numbers of port 5001 are in.
cat > "$TMP/swap.lua" <<'LUA'
package.path = arg[4] .. "/?.lua;" .. package.path
local lib = require "seqlib"
local n, new = tonumber(arg[3]), arg[5]
local opts = {filter = arg[2], duration = 15, block_timeout_ms = 5}
if arg[6] then opts.workers = tonumber(arg[6]) end
local src = assert(pktsh.open(arg[1], opts))
io.stderr:write("ready\n"); io.stderr:flush()
local seen, swapped, err = {}, false, nil
src:each(function(p)
  if lib.add(seen, p) == "end" then return false end
  if not swapped and seen[5001] then
    local c = 0
    for _ in pairs(seen[5001]) do c = c + 1 end
    if c >= n / 2 then
      local ok, e = src:set_filter(new)
      swapped, err = true, (not ok) and e or nil
      io.stderr:write("swapped ", tostring(ok), " ", tostring(e), "\n")
    end
  end
end)
lib.report(seen, "swapped=" .. tostring(swapped) .. " filter=" .. string.format("%q", src.filter or ""))
LUA

# -j 2: the work records numbers; the parent swaps the group's filter.
cat > "$TMP/swapj.lua" <<'LUA'
package.path = arg[4] .. "/?.lua;" .. package.path
local lib = require "seqlib"
local n, new = tonumber(arg[3]), arg[5]
local M = {}
function M.work(src)
  local seen = {}
  src:each(function(p) lib.add(seen, p) end)
  return seen
end
function M.main()
local swapped, ticked = false, false
local r, st = pktsh.parallel(arg[1], {workers = 2, filter = arg[2], duration = 6,
  block_timeout_ms = 5, interval = 0.05,
  on_stats = function(s, group)
    if not ticked then io.stderr:write("ready\n"); io.stderr:flush(); ticked = true end
    if not swapped and s.packets >= n then
      swapped = assert(group:set_filter(new))
      io.stderr:write("swapped at ", s.packets, "\n")
    end
  end}, M.work)
if not r then print("ERR " .. tostring(st)) return end
lib.report(r, "swapped=" .. tostring(swapped))
end
return pktsh.main(M)
LUA

# run NAME SCRIPT ARGS...: the capture in B, the replay from A.
run() {
  local name=$1; shift
  netns_bg "$NS_B" 25 "$TMP/$name.out" "$TMP/$name.err" "$PKTSH" "$@"
  local pid=$BG_PID
  # (-j 2: "ready" once the parent's on_stats runs, the rings open)
  netns_wait_for "$TMP/$name.err" '^ready' 10 || { fail "$name: capture starts" "$(cat "$TMP/$name.err")"; return 1; }
  netns_exec "$NS_A" "$PKTSH" scripts/replay.lua --pps 3000 "$TMP/seq.pcap" "$IF_A" >"$TMP/$name.replay" 2>&1
  netns_wait "$pid"
  OUT=$(cat "$TMP/$name.out")
}

# field PORT: "lo,hi,count,dups,gaps" of a port in $OUT.
field() { printf '%s' "$OUT" | grep -o "\bp$1=[^ ]*" | cut -d= -f2; }

check_swap() {  # NAME EXACT (1: one ring, the runs meet)
  local name=$1 b a c
  expect_match "$name: the filter was swapped" "$OUT" "swapped=true"
  expect_eq "$name: port 5001 (both filters) whole: every number once" "$(field 5001)" "0,$((N - 1)),$N,0,0"
  a=$(field 5000); c=$(field 5002)
  IFS=, read -r alo ahi an adup agap <<<"$a"
  IFS=, read -r clo chi cn cdup cgap <<<"$c"
  expect_eq "$name: port 5000 (old only) from 0, unbroken, once" "$alo $adup $agap $((ahi - alo + 1 == an))" "0 0 0 1"
  expect_eq "$name: port 5002 (new only) to the end, unbroken, once" "$chi $cdup $cgap $((chi - clo + 1 == cn))" "$((N - 1)) 0 0 1"
  if [ "${2:-0}" = 1 ]; then
    local meet=$((clo - ahi))
    if [ "$meet" = 0 ] || [ "$meet" = 1 ]; then
      pass "$name: the runs meet at the swap (5000 up to $ahi, 5002 from $clo)"
    else
      fail "$name: the runs meet at the swap" "5000 up to $ahi, 5002 from $clo"
    fi
  fi
  if [ "$an" -gt 0 ] && [ "$an" -lt "$N" ] && [ "$cn" -gt 0 ] && [ "$cn" -lt "$N" ]; then
    pass "$name: the swap fell inside the traffic"
  else
    fail "$name: the swap fell inside the traffic" "$OUT"
  fi
}

run ring "$TMP/swap.lua" "$IF_B" "$OLD" "$N" "$TMP" "$NEW"
check_swap "one ring" 1
expect_match "one ring: src.filter is the new one" "$OUT" "filter=\"$NEW\""
run group "$TMP/swap.lua" "$IF_B" "$OLD" "$N" "$TMP" "$NEW" 2
check_swap "fanout group, read in one thread"
run workers "$TMP/swapj.lua" "$IF_B" "$OLD" "$N" "$TMP" "$NEW"
check_swap "-j 2: the parent swaps every ring while the workers run"

# A bad filter: nil, err, and the old one stays.
run bad "$TMP/swap.lua" "$IF_B" "$OLD" "$N" "$TMP" "udp port nonsense"
expect_match "bad filter: set_filter says why" "$(cat "$TMP/bad.err")" "swapped nil bad filter 'udp port nonsense'"
expect_eq "bad filter: the old one keeps working (5000 and 5001 whole, no 5002)" \
  "$(field 5000) $(field 5001) $(field 5002)" "0,$((N - 1)),$N,0,0 0,$((N - 1)),$N,0,0 -1,-1,0,0,0"

# lock_filter: SO_LOCK_FILTER refuses any change.
out=$(netns_exec "$NS_B" "$PKTSH" -e "
  local src = assert(pktsh.open('$IF_B', {filter = 'udp', lock_filter = true}))
  print(src:set_filter('tcp'))
  local g = assert(pktsh.open('$IF_B', {filter = 'udp', lock_filter = true, workers = 2}))
  print(g:set_filter('tcp'))" 2>&1)
expect_match "lock_filter: a ring refuses the change, saying why" "$(echo "$out" | head -1)" \
  "^nil	the filter on '$IF_B' is locked \(lock_filter = true\): it cannot be changed"
expect_match "lock_filter: so does a group" "$(echo "$out" | tail -1)" "^nil	ring 1 of 2: the filter on '$IF_B' is locked"

# Classic BPF programs as filters: tcpdump -dd text and a Lua list.
cat > "$TMP/count.lua" <<'LUA'
package.path = arg[3] .. "/?.lua;" .. package.path
local lib = require "seqlib"
local f = arg[2]
if f:sub(1, 1) == "=" then f = assert(loadstring("return " .. f:sub(2)))() end
local src = assert(pktsh.open(arg[1], {filter = f, duration = 15, block_timeout_ms = 5}))
io.stderr:write("ready\n"); io.stderr:flush()
local seen = {}
src:each(function(p) if lib.add(seen, p) == "end" then return false end end)
lib.report(seen)
LUA
if command -v tcpdump >/dev/null; then
  dd=$(tcpdump -dd -y EN10MB 'udp port 5002 or udp port 5001' 2>/dev/null)
  run dd "$TMP/count.lua" "$IF_B" "$dd" "$TMP"
  expect_eq "tcpdump -dd text as the filter" "$(field 5000) $(field 5001) $(field 5002)" \
    "-1,-1,0,0,0 0,$((N - 1)),$N,0,0 0,$((N - 1)),$N,0,0"
else
  skip "tcpdump -dd text" "tcpdump not installed"
fi
# ether type IPv4, UDP, destination port 5000 (no fragments checked): keep 96 bytes.
prog='={{0x28,0,0,12},{0x15,0,5,0x800},{0x30,0,0,23},{0x15,0,3,17},{0xb1,0,0,14},{0x48,0,0,16},{0x15,0,1,5000},{0x6,0,0,96},{0x6,0,0,0}}'
run list "$TMP/count.lua" "$IF_B" "$prog" "$TMP"
expect_eq "a Lua list of {code, jt, jf, k} as the filter" "$(field 5000) $(field 5001) $(field 5002)" \
  "0,$((N - 1)),$N,0,0 -1,-1,0,0,0 -1,-1,0,0,0"
out=$(netns_exec "$NS_B" "$PKTSH" -e "print(pktsh.open('$IF_B', {filter = {{0x15, 5, 0, 1}}}))" 2>&1)
expect_match "a program the kernel refuses is an error naming why" "$out" \
  "^nil	the kernel refused the filter program for '$IF_B'"
out=$(netns_exec "$NS_B" "$PKTSH" -e "print(pktsh.open('$IF_B', {filter = {{1, 2, 3}}}))" 2>&1)
expect_match "a malformed instruction is named" "$out" "^nil	filter program instruction 1: k must be"
