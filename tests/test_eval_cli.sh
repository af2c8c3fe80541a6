#!/usr/bin/env bash
# test_eval_cli.sh — `getmusic eval`: exit codes, one-line errors, the table,
# the JSON schema, file pairing of folders, --tracks.
set -u
GM=${GETMUSIC_BIN:-build/getmusic}
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
pass=0; fail=0
ok()   { pass=$((pass+1)); }
bad()  { fail=$((fail+1)); echo "FAIL: $*" >&2; }
expect() { # expect STATUS DESCRIPTION -- command...
  local want=$1 what=$2; shift 3
  local err; err=$("$@" 2>&1 >/dev/null); local rc=$?
  if [ "$rc" -ne "$want" ]; then bad "$what: exit $rc, want $want ($err)"; return; fi
  if [ "$want" -ne 0 ] && [ "$(printf '%s\n' "$err" | grep -c .)" -ne 1 ]; then bad "$what: want one line on stderr, got: $err"; return; fi
  ok
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ex=examples/melody.mid
printf 'not a midi file at all' > "$tmp/junk.mid"
mkdir -p "$tmp/gen/sub" "$tmp/ref/sub" "$tmp/empty"
cp "$ex" "$tmp/gen/a.mid"; cp "$ex" "$tmp/gen/sub/b.midi"
cp "$ex" "$tmp/ref/a.mid"; cp "$ex" "$tmp/ref/sub/b.MID"

expect 0 "--help" -- "$GM" eval --help
expect 1 "no files" -- "$GM" eval
expect 1 "missing file" -- "$GM" eval "$tmp/nope.mid"
expect 1 "junk MIDI" -- "$GM" eval "$tmp/junk.mid"
expect 1 "junk reference" -- "$GM" eval "$ex" --ref "$tmp/junk.mid"
expect 1 "unknown option" -- "$GM" eval "$ex" --frob
expect 1 "unknown class" -- "$GM" eval "$ex" --ref "$ex" --tracks piano,bass
expect 1 "unknown layout" -- "$GM" eval "$ex" --layout nope
expect 1 "bad threads" -- "$GM" eval "$ex" --threads 0
expect 1 "--ref without files" -- "$GM" eval "$ex" --ref
expect 1 "counts differ" -- "$GM" eval "$ex" "$ex" --ref "$ex"
expect 1 "folder without MIDI" -- "$GM" eval "$tmp/empty"
expect 0 "example" -- "$GM" eval "$ex" --quiet
out=$("$GM" eval "$ex" --ref "$ex")
grep -q "^mean of 1 " <<<"$out" && ok || bad "table: no mean row"
grep -Eq "^ +lead +52 " <<<"$out" && ok || bad "table: no lead row with 52 notes"
grep -q "chords" <<<"$out" && ok || bad "table: no chord accuracy column with --ref"

if [ -x "$PY" ]; then
  # Against itself: every overlap 1, chord accuracy 1; the schema's keys.
  "$GM" eval "$ex" --ref "$ex" --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
names = ["pitch_range", "n_pitches_used", "n_pitch_classes_used", "polyphony", "polyphony_rate",
         "pitch_in_scale_rate", "scale_consistency", "pitch_entropy", "pitch_class_entropy",
         "empty_beat_rate", "empty_measure_rate", "groove_consistency", "drum_in_pattern_rate",
         "drum_pattern_consistency"]
assert set(d) == {"files", "mean"}
f = d["files"][0]
assert set(f) == {"file", "ref", "bars", "piece", "tracks", "chord_accuracy"}, f.keys()
assert f["bars"] == 16 and f["chord_accuracy"] == 1 and list(f["piece"]) == names
assert f["piece"]["drum_in_pattern_rate"] is None
assert [t["class"] for t in f["tracks"]] == ["lead", "piano"]
for t in f["tracks"]:
    assert set(t) == {"class", "notes", "metrics", "overlap"} and list(t["metrics"]) == names
    assert t["overlap"] == {"pitch": 1, "duration": 1, "ioi": 1}, t["overlap"]
m = d["mean"]
assert set(m) == {"piece", "chord_accuracy", "overlap", "tracks"}
assert m["chord_accuracy"] == 1 and m["overlap"] == {"pitch": 1, "duration": 1, "ioi": 1}
assert set(m["tracks"]) == {"lead", "piano"} and m["tracks"]["piano"]["overlap"]["pitch"] == 1
' && ok || bad "json against itself"
  # Without --ref: reference, overlaps and chord accuracy are null.
  "$GM" eval "$ex" --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
f = d["files"][0]
assert f["ref"] is None and f["chord_accuracy"] is None
assert all(t["overlap"] is None for t in f["tracks"])
assert d["mean"]["overlap"] is None and d["mean"]["chord_accuracy"] is None
assert d["mean"]["tracks"]["lead"]["overlap"] is None
' && ok || bad "json without --ref"
  # Folders: expanded recursively (.mid, .midi, any case), paired in order.
  "$GM" eval "$tmp/gen" --ref "$tmp/ref" --json --threads 2 | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
pairs = [(f["file"].split("/")[-1], f["ref"].split("/")[-1]) for f in d["files"]]
assert pairs == [("a.mid", "a.mid"), ("b.midi", "b.MID")], pairs
assert d["mean"]["chord_accuracy"] == 1
' && ok || bad "json of folders"
  # --tracks: only piano is scored for overlap (and chords).
  "$GM" eval "$ex" --ref "$ex" --tracks piano --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
t = {x["class"]: x for x in d["files"][0]["tracks"]}
assert t["lead"]["overlap"] is None and t["piano"]["overlap"]["pitch"] == 1
assert d["files"][0]["chord_accuracy"] is not None
' && ok || bad "json with --tracks piano"
  # Scoring drums only: no pitched class, so no chord accuracy.
  "$GM" eval "$ex" --ref "$ex" --tracks drums --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
assert d["files"][0]["chord_accuracy"] is None and d["mean"]["chord_accuracy"] is None
' && ok || bad "json with --tracks drums"
fi
echo "test_eval_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
