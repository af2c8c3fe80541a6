#!/usr/bin/env bash
# test_eval_cli.sh — `getmusic eval`: exit codes, one-line errors, the table,
# the JSON schema, file pairing of folders, --tracks; chord tones (labels
# beside the reference, --chord-labels, --chords) and drum feel (placement
# and presence, on the rule-based beat and a hand-written groove); on POP909
# and Groove (skipped with a message without ../shared/data).
set -u
GM=${GETMUSIC_BIN:-build/getmusic}
TOOL=${GETMUSIC_EVALTOOL:-build/bench_evaltool}
DATA=${GETMUSIC_DATA:-../shared/data}
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
. tests/lib.sh
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
printf '0 1 C:maj\n1 2 C:bogus\n' > "$tmp/bad_labels.txt"
printf '0 10 C:maj\n10 20 G:maj\n' > "$tmp/labels.txt"
expect 1 "missing chord labels" -- "$GM" eval "$ex" --chord-labels "$tmp/nope.txt"
expect 1 "malformed chord labels" -- "$GM" eval "$ex" --chord-labels "$tmp/bad_labels.txt"
err=$("$GM" eval "$ex" --chord-labels "$tmp/bad_labels.txt" 2>&1 >/dev/null)
grep -q "line 2" <<<"$err" && ok || bad "malformed labels: the message names no line: $err"
expect 1 "labels and chords" -- "$GM" eval "$ex" --chord-labels "$tmp/labels.txt" --chords "C G"
expect 1 "bad chord name" -- "$GM" eval "$ex" --chords "C Qx"
expect 1 "--chords without value" -- "$GM" eval "$ex" --chords
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
assert set(f) == {"file", "ref", "bars", "piece", "tracks", "chord_accuracy", "chord_labels"}, f.keys()
assert f["chord_labels"] is None
assert f["bars"] == 16 and f["chord_accuracy"] == 1 and list(f["piece"]) == names
assert f["piece"]["drum_in_pattern_rate"] is None
assert [t["class"] for t in f["tracks"]] == ["lead", "piano"]
for t in f["tracks"]:
    assert set(t) == {"class", "notes", "metrics", "overlap", "chord_tones", "drum_feel"} and list(t["metrics"]) == names
    assert t["chord_tones"] is None and t["drum_feel"] is None  # no labels, no drums
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
  # Chords by name: every pitched class gets a ratio and a floor in 0..1.
  "$GM" eval "$ex" --chords "C G Am F" --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
f = d["files"][0]
assert f["chord_labels"] == "--chords"
for t in f["tracks"]:
    c = t["chord_tones"]
    assert 0 <= c["ctr"] <= 1 and 0 <= c["floor"] <= 1 and c["notes"] > 0, t
    assert t["drum_feel"] is None
assert d["mean"]["tracks"]["piano"]["chord_tones"]["ctr"] == f["tracks"][1]["chord_tones"]["ctr"]
' && ok || bad "json with --chords"
  # Labels found beside the reference: NAME.chord_midi.txt first, then
  # chord_midi.txt; --chord-labels; the same labels give the same figures.
  cp "$tmp/labels.txt" "$tmp/ref/a.chord_midi.txt"
  printf '0 1000 C:min\n' > "$tmp/ref/sub/chord_midi.txt"
  "$GM" eval "$tmp/gen" --ref "$tmp/ref" --json > "$tmp/beside.json" &&
  "$GM" eval "$tmp/gen/a.mid" --ref "$tmp/ref/a.mid" --chord-labels "$tmp/labels.txt" --json > "$tmp/given.json" &&
  "$PY" - "$tmp/beside.json" "$tmp/given.json" <<'EOF' && ok || bad "chord labels beside the reference"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
fa, fb = a["files"], b["files"][0]
assert fa[0]["chord_labels"].endswith("ref/a.chord_midi.txt"), fa[0]["chord_labels"]
assert fa[1]["chord_labels"].endswith("ref/sub/chord_midi.txt"), fa[1]["chord_labels"]
assert fb["chord_labels"].endswith("labels.txt")
assert [t["chord_tones"] for t in fa[0]["tracks"]] == [t["chord_tones"] for t in fb["tracks"]]
assert fa[0]["tracks"][1]["chord_tones"] != fa[1]["tracks"][1]["chord_tones"]
EOF
  # Drum feel of the rule-based rock beat (kick 1 and 3, snare 2 and 4, hats
  # on 8ths, every bar the same): 1, 1, 1; the text table shows the columns.
  if [ -x "$TOOL" ]; then
    "$TOOL" rules "$ex" "$tmp/rules.mid" 2>/dev/null
    "$GM" eval "$tmp/rules.mid" --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
t = {x["class"]: x for x in d["files"][0]["tracks"]}
f = t["drums"]["drum_feel"]
assert (f["snare_on_2_4"], f["kick_on_1"], f["bar_repetition"]) == (1, 1, 1), f
assert f["bars"] == 16 and f["bar_pairs"] == 15 and f["snare_onsets"] == 32, f
presence = ("both_backbeats", "kick_per_bar", "snare_per_bar", "hat_per_bar", "empty_bars", "fills")
assert tuple(f[k] for k in presence) == (1, 2, 2, 8, 0, 0), f
assert (f["empty_bar_count"], f["span_bars"], f["phrases"]) == (0, 16, 4), f
assert t["drums"]["chord_tones"] is None and t["piano"]["drum_feel"] is None
m = d["mean"]["tracks"]["drums"]["drum_feel"]
assert m["kick_on_1"] == 1 and tuple(m[k] for k in presence) == (1, 2, 2, 8, 0, 0), m
' && ok || bad "drum feel of a rock beat"
    "$GM" eval "$tmp/rules.mid" --quiet | grep -q "snare24.*both24.*kick/b.*gapBars.*fills" && ok || bad "table: no drum feel columns"
  else
    echo "test_eval_cli: SKIP drum feel of the rule-based beat ($TOOL not built)"; skip=$((skip+1))
  fi
  # Presence on a hand-written MIDI file: 12 bars of 4/4 on channel 10, the
  # rock beat (kick 1 and 3, snare 2 and 4, hats on 8ths) but bars 4 and 12
  # a tom fill on every 16th and bars 5 and 6 silent. 10 bars with drums: 8
  # with both 2 and 4, 16 kicks, 16 snares, 64 hats; 2 empty bars of 12;
  # phrases bars 1-4 and 9-12 (5-8 has the silent bars) both end in a fill.
  "$PY" - "$tmp/hand.mid" <<'EOF'
import struct, sys
q, s16, ev = 480, 120, []
def hit(bar, pos, key):
    t = bar * 4 * q + pos * s16
    ev.append((t, 1, bytes([0x99, key, 100])))
    ev.append((t + 60, 0, bytes([0x89, key, 0])))
for b in range(12):
    if b in (4, 5):
        continue
    if b in (3, 11):
        for p in range(16):
            hit(b, p, (50, 48, 47, 45)[p // 4])
        continue
    for p in range(0, 16, 2):
        hit(b, p, 42)
    for p, k in ((0, 36), (8, 36), (4, 38), (12, 38)):
        hit(b, p, k)
ev.sort(key=lambda e: (e[0], e[1]))  # note-offs first at a tick
def vlq(n):
    out = [n & 0x7F]
    while n > 127:
        n >>= 7
        out.append(0x80 | (n & 0x7F))
    return bytes(reversed(out))
body, now = bytearray(b"\x00\xff\x58\x04\x04\x02\x18\x08"), 0  # 4/4
for t, _, e in ev:
    body += vlq(t - now) + e
    now = t
body += vlq(12 * 4 * q - now) + b"\xff\x2f\x00"
with open(sys.argv[1], "wb") as f:
    f.write(b"MThd" + struct.pack(">IHHH", 6, 0, 1, q) + b"MTrk" + struct.pack(">I", len(body)) + body)
EOF
  "$GM" eval "$tmp/hand.mid" --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
f = d["files"][0]["tracks"][0]["drum_feel"]
want = {"both_backbeats": 0.8, "kick_per_bar": 1.6, "snare_per_bar": 1.6, "hat_per_bar": 6.4,
        "empty_bars": 2 / 12, "fills": 1, "snare_on_2_4": 1, "kick_on_1": 0.8, "bar_repetition": 0.75}
assert all(abs(f[k] - v) < 1e-9 for k, v in want.items()), f
assert (f["bars"], f["empty_bar_count"], f["span_bars"], f["phrases"]) == (10, 2, 12, 2), f
m = d["mean"]["tracks"]["drums"]["drum_feel"]
assert all(abs(m[k] - v) < 1e-9 for k, v in want.items()), m
' && ok || bad "drum presence of a hand-written groove"
fi

# On the data: POP909's piano against its own labels, found beside the
# song and beside a crop (bench_evaltool crop writes them); Groove grooves.
if [ ! -d "$DATA/pop909/001" ] || [ ! -x "$PY" ] || [ ! -x "$TOOL" ]; then
  echo "test_eval_cli: SKIP POP909 and Groove checks ($DATA/pop909, $PY or $TOOL missing)"; skip=$((skip+1))
else
  song=$DATA/pop909/001/001.mid
  "$TOOL" crop "$song" "$tmp/crop.mid" --bars 16 --from-downbeat
  [ -s "$tmp/crop.chord_midi.txt" ] && ok || bad "crop wrote no chord labels"
  "$GM" eval "$song" "$tmp/crop.mid" --ref "$song" "$tmp/crop.mid" --tracks piano,counter --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
for f in d["files"]:
    assert f["chord_labels"].endswith("chord_midi.txt"), f["chord_labels"]
    t = {x["class"]: x for x in f["tracks"]}
    c = t["piano"]["chord_tones"]
    assert c["ctr"] > 0.95 and 0.3 < c["floor"] < 0.65, c  # POP909 piano: about 0.98 and 0.45 (models/README.md)
    assert t["lead"]["chord_tones"] is None  # not selected
' && ok || bad "POP909 piano chord tones"
  if [ -r "$DATA/groove/info.csv" ]; then
    mapfile -t grooves < <("$TOOL" list-groove-valid "$DATA/groove" | head -n 3 | sed "s|^|$DATA/groove/|")
    [ ${#grooves[@]} -eq 3 ] && ok || bad "list-groove-valid gave ${#grooves[@]} files"
    "$GM" eval "${grooves[@]}" --tracks drums --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
for f in d["files"]:
    g = f["tracks"][0]["drum_feel"]
    assert g["bars"] > 4 and all(0 <= g[k] <= 1 for k in ("snare_on_2_4", "kick_on_1", "bar_repetition")), g
    assert all(0 <= g[k] <= 1 for k in ("both_backbeats", "empty_bars")) and g["kick_per_bar"] > 0, g
    assert g["fills"] is None if g["phrases"] == 0 else 0 <= g["fills"] <= 1, g
' && ok || bad "Groove drum feel"
    # --ghost-velocity 60 scores them as prepare writes them: fewer snare
    # onsets, the kicks untouched.
    "$GM" eval "${grooves[@]}" --tracks drums --json > "$tmp/g0.json" &&
    "$GM" eval "${grooves[@]}" --tracks drums --json --ghost-velocity 60 > "$tmp/g60.json" &&
    "$PY" - "$tmp/g0.json" "$tmp/g60.json" <<'EOF' && ok || bad "eval --ghost-velocity"
import json, sys
a, b = ([f["tracks"][0]["drum_feel"] for f in json.load(open(p))["files"]] for p in sys.argv[1:])
assert all(y["snare_onsets"] <= x["snare_onsets"] and y["kick_on_1"] == x["kick_on_1"] for x, y in zip(a, b)), (a, b)
assert sum(y["snare_onsets"] for y in b) < sum(x["snare_onsets"] for x in a), (a, b)
EOF
    "$GM" eval "${grooves[0]}" --ghost-velocity loud 2>/dev/null; [ $? -eq 1 ] && ok || bad "eval --ghost-velocity loud accepted"
  else
    echo "test_eval_cli: SKIP Groove checks ($DATA/groove/info.csv not found)"; skip=$((skip+1))
  fi
fi
finish test_eval_cli
