#!/usr/bin/env bash
# Inputs the fuzzer (tests/fuzz/fuzz_pcap.c, `make fuzz`) once crashed on,
# replayed through build/pktsh with every decoder and the DNS parser
# (tests/lib/readall.lua) and through pktsh.dnsflow: no crash, no Lua
# error; each file reads or is refused with a clean error.
. tests/lib/sh.sh
shopt -s nullglob
files=(tests/fuzz/regress/*)
if [ ${#files[@]} -eq 0 ]; then
  skip "fuzz regressions" "tests/fuzz/regress is empty"
  exit 0
fi
cat > "$TMP/flow.lua" <<'LUA'
local dns, dnsflow = pktsh.dns, pktsh.dnsflow
for _, path in ipairs(arg) do
  local src = pktsh.open(path)
  if src then
    local fe = dnsflow.new{ports = {53, 5353}, max_flows = 8, max_frags = 8}
    src:each(function(p)
      fe:feed(p, function(ptr, len, meta)
        dns.question(ptr, len); dns.parse(ptr, len)
        local _ = meta.src, meta.dst
      end)
    end)
    fe:flush()
    src:close()
  end
end
LUA
for f in "${files[@]}"; do
  name=$(basename "$f")
  out=$("$PKTSH" tests/lib/readall.lua "$f" 2>&1); rc=$?
  if [ $rc -eq 0 ] && printf '%s' "$out" | grep -Eq "^$f ([0-9]+|error: .*)"; then
    pass "$name: read by every decoder"
  else
    fail "$name: read by every decoder" "exit $rc: $(printf '%s' "$out" | tail -3 | tr '\n' ' ')"
  fi
  check "$name: through dnsflow and the DNS parser" "$PKTSH" "$TMP/flow.lua" "$f"
done
