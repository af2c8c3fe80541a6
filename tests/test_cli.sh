#!/usr/bin/env bash
# test_cli.sh — the command line contract: exit codes, one-line errors,
# info/prepare/dump on the bundled example, JSON that parses.
set -u
GM=${GETMUSIC_BIN:-build/getmusic}
cd "$(dirname "$0")/.."
pass=0; fail=0
ok()   { pass=$((pass+1)); }
bad()  { fail=$((fail+1)); echo "FAIL: $*" >&2; }
expect() { # expect STATUS DESCRIPTION -- command...
  local want=$1 what=$2; shift 3
  local err; err=$("$@" 2>&1 >/dev/null); local rc=$?
  if [ "$rc" -ne "$want" ]; then bad "$what: exit $rc, want $want ($err)"; return; fi
  if [ "$want" -ne 0 ] && [ "$(printf '%s\n' "$err" | grep -c .)" -lt 1 ]; then bad "$what: no reason on stderr"; return; fi
  ok
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
expect 1 "no arguments" -- "$GM"
expect 0 "--help" -- "$GM" --help
expect 0 "--version" -- "$GM" --version
expect 1 "unknown command" -- "$GM" frobnicate
expect 1 "info without file" -- "$GM" info
expect 1 "info on a missing file" -- "$GM" info "$tmp/nope.mid"
printf 'not a midi file at all' > "$tmp/junk.mid"
expect 1 "info on junk" -- "$GM" info "$tmp/junk.mid"
msg=$("$GM" info "$tmp/junk.mid" 2>&1 >/dev/null); [ "$(printf '%s\n' "$msg" | wc -l)" -eq 1 ] && ok || bad "junk: reason is not one line: $msg"
expect 1 "info unknown option" -- "$GM" info examples/melody.mid --frob
expect 1 "info unknown layout" -- "$GM" info examples/melody.mid --layout nope
expect 0 "info example" -- "$GM" info examples/melody.mid
out=$("$GM" info examples/melody.mid)
grep -q "Melody.*lead" <<<"$out" && ok || bad "info: Melody not classed as lead"
grep -q "Chords.*piano" <<<"$out" && ok || bad "info: Chords track not classed as piano"
grep -q "16 bars" <<<"$out" && ok || bad "info: not 16 bars"
grep -q "100.0 bpm" <<<"$out" && ok || bad "info: tempo not 100 bpm"
grep -q "C major" <<<"$out" && ok || bad "info: key not C major"
grep -Eq "^ +1 \| C +G +Am +F " <<<"$out" && ok || bad "info: chords of bars 1-4 not C G Am F: $(grep -E '^ +1 \|' <<<"$out")"
if [ -x /usr/bin/python3 ]; then
  "$GM" info examples/melody.mid --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["bars"]==16 and len(d["chords"])==16 and d["tracks"][0]["class"]=="lead"' && ok || bad "info --json"
fi
expect 1 "prepare without -o" -- "$GM" prepare examples
expect 1 "prepare without inputs" -- "$GM" prepare -o "$tmp/c"
expect 1 "prepare bad window" -- "$GM" prepare examples -o "$tmp/c" --window 0
expect 1 "prepare bad hop" -- "$GM" prepare examples -o "$tmp/c" --hop abc
expect 1 "prepare hop > window" -- "$GM" prepare examples -o "$tmp/c" --window 64 --hop 128
expect 1 "prepare no midi" -- "$GM" prepare "$tmp/nothing-here" -o "$tmp/c"
expect 0 "prepare example" -- "$GM" prepare examples -o "$tmp/c" --quiet --valid-percent 0 --window 128 --hop 64
[ -s "$tmp/c/corpus.bin" ] && [ -s "$tmp/c/vocab.txt" ] && [ -s "$tmp/c/summary.txt" ] && ok || bad "prepare: files missing"
if [ -x /usr/bin/python3 ]; then
  /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["songs"]==1 and d["segments_train"]>=3, d' "$tmp/c/summary.json" && ok || bad "summary.json"
fi
# --vocab MODEL.gguf: the model's vocabulary, the same corpus as from its tokens in a dict file.
if [ -s models/default.gguf ]; then
  expect 0 "prepare --vocab model" -- "$GM" prepare examples -o "$tmp/cm" --quiet --valid-percent 0 --vocab models/default.gguf
  expect 0 "prepare --vocab its dict" -- "$GM" prepare examples -o "$tmp/cd" --quiet --valid-percent 0 --vocab "$tmp/cm/vocab.txt"
  [ "$(wc -l <"$tmp/cm/vocab.txt")" -eq "$("$GM" info --model models/default.gguf | sed -nE 's/^tokens +([0-9]+) .*/\1/p' | head -n 1)" ] \
    && cmp -s "$tmp/cm/corpus.bin" "$tmp/cd/corpus.bin" && ok || bad "prepare --vocab MODEL.gguf: not the model's vocabulary"
  expect 1 "prepare --vocab model, other layout" -- "$GM" prepare examples -o "$tmp/cx" --vocab models/default.gguf --layout original
fi
# info --model: sizes, one line per grid row with its token count (they add up to
# the vocabulary: every row's tokens, plus <pad>), the provenance keys of the file.
if [ -s models/default.gguf ]; then
  expect 0 "info --model" -- "$GM" info --model models/default.gguf
  mi=$("$GM" info --model models/default.gguf)
  rows=$(printf '%s\n' "$mi" | grep -cE '^ +[0-9]+  [a-z]+ +(pitch|duration|root|quality) +[0-9]+$')
  toks=$(printf '%s\n' "$mi" | sed -nE 's/^tokens +([0-9]+) .*/\1/p')
  sum=$(printf '%s\n' "$mi" | grep -E '^ +[0-9]+  [a-z]+ +(pitch|root|quality) +[0-9]+$' | awk '{s += $4} END {print s + 15 + 1}')
  [ "$rows" -eq "$(printf '%s\n' "$mi" | sed -nE 's/^rows +([0-9]+);.*/\1/p')" ] && [ "$sum" -eq "$toks" ] \
    && ok || bad "info --model: $rows row lines, tokens $sum of $toks"
  printf '%s\n' "$mi" | grep -qE '^  getmusic\.source +python/train\.py' && ok || bad "info --model: no provenance getmusic.source"
  "$GM" info --model models/default.gguf --json | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["parameters"] > 0 and j["classes"] and len(j["rows"]) == 2 * len(j["classes"]) + 2, j.keys()
assert sum(r["tokens"] for r in j["rows"] if r["kind"] != "duration") + 15 + 1 == j["vocab_size"]
assert "getmusic.source" in j["provenance"] and "getmusic.tokens" not in j["provenance"]' && ok || bad "info --model --json"
fi
expect 1 "info --model on junk" -- "$GM" info --model "$tmp/junk.mid"
expect 0 "dump example" -- "$GM" dump examples/melody.mid --bars 1-2
"$GM" dump examples/melody.mid --bars 2-2 | grep -q "^bar 2" && ok || bad "dump: bar 2 block missing"
expect 1 "dump bars outside" -- "$GM" dump examples/melody.mid --bars 40-41
expect 1 "dump bad bars" -- "$GM" dump examples/melody.mid --bars 9-3
echo "test_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
