#!/usr/bin/env bash
# The drums of POP909 songs arranged without their beat_midi.txt (issue 22):
# each song's MIDI file alone in a folder, `generate --targets drums`, then
# `getmusic eval` of the drum feel on the bar grid the output carries,
# against the same song generated with beat_midi.txt beside it.
#
#   bench/metre_drums.sh [BUILD_DIR] [SONG...]     default: the first METRE_SONGS (10) validation songs
#
# Conditions, same seed, same model:
#   beat_midi.txt   the song in its POP909 folder (bars from the annotation)
#   inferred        the MIDI file alone (bars inferred from the music: src/music/metre.c)
#   file's 1/4      the MIDI file alone with --metre file (before: one-beat bars)
# Prints per song and mean: snare on 2 and 4 (share of snare onsets), bars
# with both backbeats, kick on 1 (share of kick onsets). GETMUSIC_DATA as
# elsewhere; METRE_DIR (out/metre_drums) keeps the files.
set -euo pipefail
B=${1:-build}
shift || true
GM=$B/getmusic
DATA=${GETMUSIC_DATA:-../shared/data}
DIR=${METRE_DIR:-out/metre_drums}
N=${METRE_SONGS:-10}
PY=${PYTHON:-/usr/bin/python3}
if [ $# -gt 0 ]; then songs=("$@"); else
  mapfile -t songs < <("$B/bench_evaltool" list-valid "$DATA/pop909" | cut -d/ -f1 | head -n "$N")
fi
mkdir -p "$DIR"/{alone,beat,inferred,file}
for s in "${songs[@]}"; do
  cp "$DATA/pop909/$s/$s.mid" "$DIR/alone/$s.mid"
  "$GM" generate "$DATA/pop909/$s/$s.mid" -o "$DIR/beat/$s.mid" --targets drums --quiet
  "$GM" generate "$DIR/alone/$s.mid" -o "$DIR/inferred/$s.mid" --targets drums --quiet
  "$GM" generate "$DIR/alone/$s.mid" -o "$DIR/file/$s.mid" --targets drums --quiet --metre file
done
for c in beat inferred file; do
  files=()
  for s in "${songs[@]}"; do files+=("$DIR/$c/$s.mid"); done
  "$GM" eval "${files[@]}" --json > "$DIR/$c.json"
done
"$PY" - "$DIR" <<'EOF'
import json, os, sys
d = sys.argv[1]
cond = [("beat", "beat_midi.txt"), ("inferred", "inferred"), ("file", "file's 1/4")]
keys = [("snare_on_2_4", "snare 2&4"), ("both_backbeats", "both backbeats"), ("kick_on_1", "kick on 1")]
res = {}
for c, _ in cond:
    for f in json.load(open(os.path.join(d, c + ".json")))["files"]:
        song = os.path.splitext(os.path.basename(f["file"]))[0]
        feel = [t["drum_feel"] for t in f["tracks"] if t["class"] == "drums"]
        res.setdefault(song, {})[c] = feel[0] if feel and feel[0] else {}
print("| song | " + " | ".join(f"{n} ({cn})" for _, n in keys for _, cn in cond) + " |")
print("|---" * (1 + len(keys) * len(cond)) + "|")
mean = {}
for song in sorted(res):
    row = []
    for k, _ in keys:
        for c, _ in cond:
            v = res[song].get(c, {}).get(k)
            row.append("-" if v is None else f"{v:.2f}")
            if v is not None: mean.setdefault((k, c), []).append(v)
    print(f"| {song} | " + " | ".join(row) + " |")
print("| mean | " + " | ".join(f"{sum(mean.get((k, c), [0])) / max(1, len(mean.get((k, c), []))):.2f}" for k, _ in keys for c, _ in cond) + " |")
EOF
