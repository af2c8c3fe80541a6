#!/usr/bin/env bash
# make demo: on a fresh Debian machine, install what is missing, build, and
# run what this build can do on the bundled example (examples/melody.mid):
# its analysis (tracks, classes, key, chords per bar), its GETScore token grid,
# and a small corpus prepared from it. Generation arrives with the model.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
make -s -j2
out=out/demo
mkdir -p "$out"
echo "== getmusic info examples/melody.mid"
build/getmusic info examples/melody.mid
echo
echo "== GETScore grid, bars 1-2 (full dump in $out/melody.grid.txt)"
build/getmusic dump examples/melody.mid > "$out/melody.grid.txt"
build/getmusic dump examples/melody.mid --bars 1-2
echo
echo "== getmusic prepare examples -o $out/corpus"
build/getmusic prepare examples -o "$out/corpus" --quiet --valid-percent 0 --min-count 0
echo
echo "demo outputs are in $out/"
