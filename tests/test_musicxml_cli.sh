#!/usr/bin/env bash
# test_musicxml_cli.sh — MusicXML through the command line: `convert` both
# ways (.musicxml, .mxl, lead sheets with chord labels), every command reading
# MusicXML, `generate` following a lead sheet's chord symbols (MusicXML
# <harmony> and chord names in MIDI marker/text events) and writing MusicXML
# with <harmony>; then MuseScore 3 as the real client (skipped with a message
# when it is absent): our MusicXML → MuseScore → MIDI has our notes, our
# MusicXML → MuseScore → MusicXML reads back with our notes and chord
# symbols, and MuseScore's MusicXML of a MIDI file reads back with its notes.
# Notes are compared as (seconds, pitch, drum or not) with Python's mido.
set -u
GM=${GETMUSIC_BIN:-build/getmusic}
PY=${PYTHON:-/usr/bin/python3}
cd "$(dirname "$0")/.."
. tests/lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
M=examples/melody.mid

printf '<score-partwise/>' > "$tmp/probe.musicxml"
if "$GM" info "$tmp/probe.musicxml" 2>&1 | grep -q "MusicXML support was not built"; then
  echo "SKIP: getmusic built without libxml2/libzip: MusicXML not checked" >&2
  echo "test_musicxml_cli: 0 passed, 0 failed, 1 skipped"; exit 0
fi

# ---- usage and bad input ---------------------------------------------------
expect 0 "convert --help" -- "$GM" convert --help
expect 1 "convert without -o" -- "$GM" convert "$M"
expect 1 "convert without input" -- "$GM" convert -o "$tmp/x.musicxml"
expect 1 "convert unknown option" -- "$GM" convert "$M" -o "$tmp/x.musicxml" --frob
# Bytes its declared encoding cannot hold: libxml2's own "encoding error" lines stay quiet, one line is ours.
printf '<?xml version="1.0" encoding="EUC-JP"?>\n<score-partwise><part-list><score-part id="P1"><part-name>\377\376\200\201</part-name></score-part></part-list></score-partwise>' > "$tmp/enc.musicxml"
expect 1 "a file its declared encoding cannot hold" -- "$GM" info "$tmp/enc.musicxml"
expect 1 "convert missing input" -- "$GM" convert "$tmp/nope.musicxml" -o "$tmp/x.mid"
printf '<score-partwise><part-list>' > "$tmp/trunc.musicxml"
expect 1 "info on truncated MusicXML" -- "$GM" info "$tmp/trunc.musicxml"
expect 1 "generate on truncated MusicXML" -- "$GM" generate "$tmp/trunc.musicxml" -o "$tmp/x.mid" --targets piano
printf 'PK\003\004not a zip at all' > "$tmp/bad.mxl"
expect 1 "info on a broken .mxl" -- "$GM" info "$tmp/bad.mxl"
expect 1 "convert bad chord labels" -- "$GM" convert "$M" -o "$tmp/x.musicxml" --chord-labels "$tmp/nope.txt"

# ---- convert both ways -----------------------------------------------------
expect 0 "convert to .musicxml" -- "$GM" convert "$M" -o "$tmp/m.musicxml"
expect 0 "convert to .mxl" -- "$GM" convert "$M" -o "$tmp/m.mxl"
expect 0 "convert .mxl back to MIDI" -- "$GM" convert "$tmp/m.mxl" -o "$tmp/m.mid"
head -c 4 "$tmp/m.mxl" | grep -q PK && ok || bad ".mxl is not a zip"
grep -q '<score-partwise' "$tmp/m.musicxml" && ok || bad ".musicxml is not score-partwise"
for f in "$tmp/m.musicxml" "$tmp/m.mxl" "$tmp/m.mid"; do
  n=$("$GM" info "$f" --json | grep -o '"notes": [0-9]*' | head -1)
  [ "$n" = '"notes": 100' ] && ok || bad "$f: $n, want 100 notes"
done
"$GM" info "$tmp/m.musicxml" | grep -q "MusicXML" && ok || bad "info does not say MusicXML"
"$GM" info - < "$tmp/m.musicxml" > /dev/null && ok || bad "info - does not read MusicXML from standard input"
expect 0 "plot MusicXML" -- "$GM" plot "$tmp/m.musicxml" -o "$tmp/m.png"
expect 0 "eval MusicXML" -- "$GM" eval "$tmp/m.musicxml" --ref "$M"

# ---- lead sheets -----------------------------------------------------------
# chord labels: C G Am F, a bar (2.4 s at 100 bpm) each, over 16 bars
awk 'BEGIN { split("C:maj G:maj A:min F:maj", c, " "); for (b = 0; b < 16; b++) printf "%.3f %.3f %s\n", b * 2.4, (b + 1) * 2.4, c[b % 4 + 1] }' > "$tmp/labels.txt"
expect 0 "lead sheet" -- "$GM" convert "$M" -o "$tmp/ls.musicxml" --tracks lead --chord-labels "$tmp/labels.txt"
[ "$(grep -c '<harmony>' "$tmp/ls.musicxml")" -eq 16 ] && ok || bad "lead sheet: $(grep -c '<harmony>' "$tmp/ls.musicxml") harmonies, want 16"
[ "$(grep -c '<score-part ' "$tmp/ls.musicxml")" -eq 1 ] && ok || bad "lead sheet: more than the lead part"
"$GM" info "$tmp/ls.musicxml" | grep -q "16 chord symbols" && ok || bad "info does not list the 16 chord symbols"
"$GM" info "$tmp/ls.musicxml" --json | grep -q '"chord_symbols": \[{"tick": 0, "bar": 1, "beat": 1, "text": "C", "chord": "C", "source": "musicxml"}' \
  && ok || bad "info --json chord_symbols: $("$GM" info "$tmp/ls.musicxml" --json | grep -o '"chord_symbols": .\{0,120\}')"
out=$("$GM" generate "$tmp/ls.musicxml" -o "$tmp/gen.musicxml" --targets piano,drums --json 2>"$tmp/err"); rc=$?
[ "$rc" -eq 0 ] && ok || bad "generate from a lead sheet: exit $rc: $(cat "$tmp/err")"
grep -q '"chords": \["C", "G", "Am", "F", "C"' <<<"$out" && ok || bad "generate did not follow the chord symbols: $(grep -o '"chords": .\{0,60\}' <<<"$out")"
[ "$(grep -c '<harmony>' "$tmp/gen.musicxml")" -ge 16 ] && ok || bad "generated MusicXML lacks the chords as <harmony>"
grep -q '<midi-unpitched>' "$tmp/gen.musicxml" && grep -q '<sign>percussion</sign>' "$tmp/gen.musicxml" && ok || bad "no percussion part"
# --chords input recognises instead; --chords names win over the symbols
out=$("$GM" generate "$tmp/ls.musicxml" -o "$tmp/gen2.mid" --targets piano --chords "Dm G" --json 2>/dev/null)
grep -q '"chords": \["Dm", "G", "Dm"' <<<"$out" && ok || bad "--chords did not win over the symbols"
# chord names in MIDI events: the lead sheet as MIDI keeps them (text events)
expect 0 "lead sheet to MIDI" -- "$GM" convert "$tmp/ls.musicxml" -o "$tmp/ls.mid"
"$GM" info "$tmp/ls.mid" | grep -q "16 chord symbols in the file (text" && ok || bad "MIDI text chord symbols not read back"
"$GM" generate "$tmp/ls.mid" -o "$tmp/gen3.mid" --targets piano 2>&1 | grep -q "chords: the input's chord symbols" \
  && ok || bad "generate on MIDI chord symbols did not use them"
"$GM" generate "$tmp/ls.mid" -o "$tmp/gen4.mid" --targets piano --steps 2 --json |
  /usr/bin/python3 -c 'import json,sys; assert json.load(sys.stdin)["chord_source"] == "symbols"' \
  && ok || bad "generate --json: chord_source is 'symbols' for the input's chord symbols"
expect 0 "convert --no-chords" -- "$GM" convert "$tmp/ls.mid" -o "$tmp/nochords.musicxml" --no-chords
! grep -q '<harmony>' "$tmp/nochords.musicxml" && ok || bad "--no-chords kept harmony"

# ---- MuseScore 3 -----------------------------------------------------------
MS=""
for b in mscore3 musescore3 mscore musescore; do command -v "$b" > /dev/null && { MS=$(command -v "$b"); break; }; done
if [ -z "$MS" ]; then
  echo "SKIP: MuseScore 3 not installed (Debian: musescore3): the MuseScore round trips not checked" >&2
  skip=$((skip+1)); finish test_musicxml_cli; exit
fi
if ! "$PY" -c 'import mido' 2>/dev/null; then
  echo "SKIP: Python's mido not installed (python3-mido): the MuseScore round trips not checked" >&2
  skip=$((skip+1)); finish test_musicxml_cli; exit
fi
# One MuseScore start for every conversion (a job file).
cat > "$tmp/job.json" <<EOF
[{"in": "$tmp/gen.musicxml", "out": ["$tmp/ms.mid", "$tmp/ms.musicxml"]},
 {"in": "$(pwd)/$M", "out": "$tmp/ms_melody.musicxml"}]
EOF
if ! QT_QPA_PLATFORM=offscreen timeout 300 "$MS" -j "$tmp/job.json" > "$tmp/ms.log" 2>&1 || [ ! -s "$tmp/ms.mid" ]; then
  bad "MuseScore failed: $(tail -3 "$tmp/ms.log")"; finish test_musicxml_cli; exit
fi
ok
# Notes as (seconds, pitch, drum) of two MIDI files: the same multiset.
same_notes() {
  "$PY" - "$1" "$2" <<'EOF'
import collections, sys, mido
def notes(path):
    m = mido.MidiFile(path)
    ev = []
    for ti, t in enumerate(m.tracks):
        now = 0
        for e in t:
            now += e.time
            ev.append((now, ti, e))
    ev.sort(key=lambda x: x[0])
    tempos = [(t, e.tempo) for t, _, e in ev if e.type == 'set_tempo']
    def sec(tick):
        s, at, us = 0.0, 0, 500000
        for tk, t in tempos:
            if tk >= tick: break
            s += (tk - at) * us / 1e6 / m.ticks_per_beat; at, us = tk, t
        return s + (tick - at) * us / 1e6 / m.ticks_per_beat
    return collections.Counter((round(sec(t), 2), e.note, e.channel == 9) for t, _, e in ev
                               if e.type == 'note_on' and e.velocity > 0)
a, b = notes(sys.argv[1]), notes(sys.argv[2])
if a != b:
    print("%d vs %d notes; only in the first %s; only in the second %s" % (
        sum(a.values()), sum(b.values()), sorted(a - b)[:4], sorted(b - a)[:4]))
    sys.exit(1)
EOF
}
"$GM" convert "$tmp/gen.musicxml" -o "$tmp/ours.mid" -q
r=$(same_notes "$tmp/ours.mid" "$tmp/ms.mid") && ok || bad "our MusicXML → MuseScore → MIDI: $r"
"$GM" convert "$tmp/ms.musicxml" -o "$tmp/ms_back.mid" -q && ok || bad "MuseScore's MusicXML does not read"
r=$(same_notes "$tmp/ours.mid" "$tmp/ms_back.mid") && ok || bad "our MusicXML → MuseScore → MusicXML → us: $r"
n_ours=$("$GM" info "$tmp/gen.musicxml" | sed -n 's/^symbols *\([0-9]*\) chord.*/\1/p')
n_ms=$("$GM" info "$tmp/ms.musicxml" | sed -n 's/^symbols *\([0-9]*\) chord.*/\1/p')
[ -n "$n_ours" ] && [ "$n_ours" = "$n_ms" ] && ok || bad "chord symbols: $n_ours written, $n_ms after MuseScore"
c_ours=$("$GM" info "$tmp/gen.musicxml" --json | grep -o '"chord_symbols": .*' | grep -o '"chord": "[^"]*"' | tr '\n' ' ')
c_ms=$("$GM" info "$tmp/ms.musicxml" --json | grep -o '"chord_symbols": .*' | grep -o '"chord": "[^"]*"' | tr '\n' ' ')
[ "$c_ours" = "$c_ms" ] && ok || bad "chord symbols differ after MuseScore"
"$GM" convert "$tmp/ms_melody.musicxml" -o "$tmp/ms_melody.mid" -q && ok || bad "MuseScore's MusicXML of a MIDI file does not read"
r=$(same_notes "$M" "$tmp/ms_melody.mid") && ok || bad "MIDI → MuseScore → MusicXML → us: $r"
finish test_musicxml_cli
