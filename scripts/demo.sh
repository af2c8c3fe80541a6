#!/usr/bin/env bash
# make demo: on a fresh Debian machine, install what is missing, build, and
# do the main job on the bundled example: examples/melody.mid (a 16-bar
# melody with its chords, written for this project) arranged by the shipped
# model (models/default.gguf) into counter-melody, piano and drums — MIDI,
# WAV (FluidSynth) and a piano-roll PNG.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -s -j2
out=out/demo
mkdir -p "$out"
echo "== the example: getmusic info examples/melody.mid"
build/getmusic info examples/melody.mid
echo
echo "== arranging: getmusic generate examples/melody.mid --targets counter,piano,drums"
build/getmusic generate examples/melody.mid -o "$out/arranged.mid" --targets counter,piano,drums --seed 1 \
    --render "$out/arranged.wav" --plot "$out/arranged.png"
echo
echo "== the result: getmusic info $out/arranged.mid"
build/getmusic info "$out/arranged.mid"
echo
echo "demo outputs:"
echo "  $out/arranged.mid   the arrangement (the melody kept note for note)"
echo "  $out/arranged.wav   it rendered to audio"
echo "  $out/arranged.png   its piano roll (generated notes marked)"
echo
echo "next: build/getmusic studio   (open the printed URL to arrange, hear and download in the browser)"
