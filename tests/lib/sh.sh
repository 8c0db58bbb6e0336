# sh.sh - helpers for shell tests: source it, then call check/skip.
#   check "name" COMMAND...   runs COMMAND; ok if it exits 0
#   pass "name" / fail "name" "why" / skip "name" "why"
# The runner counts the "ok - ", "not ok - " and "skipped: " lines.
PKTSH=${PKTSH_BIN:-$PWD/build/pktsh}
TMP=$(mktemp -d /tmp/pktsh-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

pass() { echo "ok - $1"; }
fail() { echo "not ok - $1: $2"; }
skip() { echo "skipped: $1: $2"; }
check() {
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(echo "$out" | tail -5 | tr '\n' ' ')"; fi
}
# expect_eq NAME GOT WANT
expect_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got [$2], want [$3]"; fi
}
# expect_match NAME TEXT REGEX
expect_match() {
  if printf '%s' "$2" | grep -Eq -- "$3"; then pass "$1"; else fail "$1" "[$(printf '%s' "$2" | head -c 300)] does not match /$3/"; fi
}
