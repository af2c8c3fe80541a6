#!/usr/bin/env bash
# bench/leadsheet_eval.sh — issue 21's lead-sheet figure: POP909 validation
# songs as MusicXML lead sheets (the MELODY track + the song's chord symbols),
# arranged, and the piano's chord-tone ratio against the song's labels.
#
#   bench/leadsheet_eval.sh [BUILD_DIR]      (LS_SONGS=10, LS_BARS=32, LS_DIR=out/leadsheet)
#
# Per song (the first LS_SONGS of `prepare`'s validation split, as make eval):
#   1. bench_evaltool crop: the first LS_BARS bars from the first annotated
#      downbeat, bar lines from beat_midi.txt written as time signatures, and
#      the song's chord_midi.txt cropped with it (gt/SONG.chord_midi.txt);
#   2. getmusic convert --tracks MELODY --chord-labels: the lead sheet, our
#      MusicXML writer (bars, tempo, the labels as <harmony>);
#   3. getmusic generate LEADSHEET.musicxml --targets counter,piano,drums (no
#      --chords: the lead sheet's symbols are the chords);
#   4. getmusic eval --chord-labels: CTR of piano and counter (and floors).
# For comparison, the same melody as MIDI without chords (chords recognised
# from the melody) and the whole song given (--chords input), as in the issue.
set -euo pipefail
B=${1:-build}
GM=$B/getmusic
TOOL=$B/bench_evaltool
PY=${PYTHON:-/usr/bin/python3}
DATA=${GETMUSIC_DATA:-../shared/data}
DIR=${LS_DIR:-out/leadsheet}
SONGS=${LS_SONGS:-10}
BARS=${LS_BARS:-32}
TRACKS=counter,piano,drums
[ -d "$DATA/pop909" ] || { echo "leadsheet: $DATA/pop909 not found" >&2; exit 0; }
mkdir -p "$DIR"/{gt,ls,mel,out-ls,out-mel,out-full,json}
mapfile -t songs < <("$TOOL" list-valid "$DATA/pop909" | head -n "$SONGS" | sed -E 's|.*/||; s|\.mid$||')
for s in "${songs[@]}"; do
  "$TOOL" crop "$DATA/pop909/$s/$s.mid" "$DIR/gt/$s.mid" --bars "$BARS" --from-downbeat
  "$GM" convert "$DIR/gt/$s.mid" -o "$DIR/ls/$s.musicxml" --tracks MELODY --chord-labels "$DIR/gt/$s.chord_midi.txt" -q
  "$GM" convert "$DIR/gt/$s.mid" -o "$DIR/mel/$s.mid" --tracks MELODY -q
  "$GM" generate "$DIR/ls/$s.musicxml" -o "$DIR/out-ls/$s.mid" --targets "$TRACKS" --quiet
  "$GM" generate "$DIR/mel/$s.mid" -o "$DIR/out-mel/$s.mid" --targets "$TRACKS" --quiet
  "$GM" generate "$DIR/gt/$s.mid" -o "$DIR/out-full/$s.mid" --targets "$TRACKS" --chords input --quiet
  for sys in ls mel full; do
    "$GM" eval "$DIR/out-$sys/$s.mid" --chord-labels "$DIR/gt/$s.chord_midi.txt" --json > "$DIR/json/$s.$sys.json"
  done
  echo "leadsheet: $s done" >&2
done
"$PY" - "$DIR" "${songs[@]}" <<'EOF'
import json, sys
d, songs = sys.argv[1], sys.argv[2:]
rows = {"ls": "MusicXML lead sheet (melody + the song's chord symbols)",
        "mel": "melody only, as MIDI (chords recognised from the melody)",
        "full": "whole song given, tracks replaced (--chords input)"}
def ctr(path, cls):
    f = json.load(open(path))["files"][0]
    for t in f["tracks"]:
        if t["class"] == cls and t.get("chord_tones"):
            return t["chord_tones"]["ctr"], t["chord_tones"]["floor"]
    return None, None
print("| input | piano CTR (floor) | counter CTR (floor) |\n|---|---|---|")
for sys_, name in rows.items():
    vals = {c: [ctr("%s/json/%s.%s.json" % (d, s, sys_), c) for s in songs] for c in ("piano", "counter")}
    def mean(v, k):
        x = [p[k] for p in v if p[0] is not None]
        return sum(x) / len(x) if x else float("nan")
    print("| %s | %.3f (%.3f) | %.3f (%.3f) |" % (name, mean(vals["piano"], 0), mean(vals["piano"], 1),
                                                 mean(vals["counter"], 0), mean(vals["counter"], 1)))
print("\nper song, lead sheet piano CTR: " + ", ".join("%s %.3f" % (s, ctr("%s/json/%s.ls.json" % (d, s), "piano")[0]) for s in songs))
EOF
