#!/usr/bin/env bash
# Runs every test binary given, adds up their closing lines and prints the
# total as "N passed, N failed[, N skipped]". Exits non-zero on any failure
# (a failed check or a binary that crashed / printed no closing line).
set -u
pass=0; fail=0; skip=0
for t in "$@"; do
  out=$("$t" 2> >(sed "s|^|  [$(basename "$t")] |" >&2)); rc=$?
  line=$(printf '%s\n' "$out" | grep -E '^[A-Za-z_0-9]+: [0-9]+ passed, [0-9]+ failed' | tail -n 1)
  printf '%s\n' "$out" | grep -v -E '^[A-Za-z_0-9]+: [0-9]+ passed, [0-9]+ failed' || true
  if [ -z "$line" ]; then
    echo "$(basename "$t"): crashed or printed no result (exit $rc)"; fail=$((fail+1)); continue
  fi
  echo "$line"
  p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
  f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
  s=0; grep -q skipped <<<"$line" && s=$(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line")
  pass=$((pass+p)); fail=$((fail+f)); skip=$((skip+s))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "$(basename "$t"): exited $rc with no failed check"; fail=$((fail+1))
  fi
done
echo
if [ "$skip" -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ "$fail" -eq 0 ]
