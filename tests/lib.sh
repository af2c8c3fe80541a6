# tests/lib.sh — what the shell tests share, sourced after they cd to the
# repository root: the counters, ok / bad, expect (a command's exit status and
# a one-line reason on failure; EXPECT_LINES=any accepts a longer one, such as
# a usage text), and finish NAME, which prints the line
# tests/run.sh reads ("N passed, N failed[, N skipped]") and returns 1 on any
# failure (the script's exit status when it is the last command).
pass=0; fail=0; skip=0
EXPECT_LINES=one
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*" >&2; }
expect() { # expect STATUS DESCRIPTION -- command...
  local want=$1 what=$2; shift 3
  local err; err=$("$@" 2>&1 >/dev/null); local rc=$?
  if [ "$rc" -ne "$want" ]; then bad "$what: exit $rc, want $want ($err)"; return; fi
  if [ "$want" -ne 0 ]; then
    local lines; lines=$(printf '%s\n' "$err" | grep -c .)
    if [ "$lines" -lt 1 ]; then bad "$what: no reason on stderr"; return; fi
    if [ "$EXPECT_LINES" = one ] && [ "$lines" -ne 1 ]; then bad "$what: want one line on stderr, got: $err"; return; fi
  fi
  ok
}
finish() {
  if [ "$skip" -gt 0 ]; then echo "$1: $pass passed, $fail failed, $skip skipped"
  else echo "$1: $pass passed, $fail failed"; fi
  [ "$fail" -eq 0 ]
}
