#!/usr/bin/env bash
# make bench: side by side in one run, on the same files.
#   1. reading every MIDI file: our reader (1 thread) vs mido (Python)
#   2. `getmusic prepare` of all of POP909 + Groove (2 threads: read, key,
#      quantise, chords, vocabulary, encode, write) vs mido only reading them
# Prints a table of seconds and ratios. Needs ../shared/data.
set -euo pipefail
GM=${1:-build/getmusic}
PY=${PYTHON:-/usr/bin/python3}
DATA=${GETMUSIC_DATA:-../shared/data}
if [ ! -d "$DATA/pop909" ]; then echo "bench: $DATA/pop909 not found; nothing to measure"; exit 0; fi
if ! "$PY" -c 'import mido' 2>/dev/null; then echo "bench: python3-mido missing (make deps)"; exit 1; fi
make -s build/bench_read >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
find "$DATA/pop909" "$DATA/groove" -type f \( -iname '*.mid' -o -iname '*.midi' \) | sort > "$tmp/list"
n=$(wc -l < "$tmp/list")
field() { sed -E "s/.*\"$2\": ([0-9.]+).*/\1/" <<<"$1"; }
ours=$(build/bench_read < "$tmp/list")
ref=$("$PY" bench/read_mido.py "$DATA/pop909" "$DATA/groove")
t_prep0=$(date +%s.%N)
"$GM" prepare "$DATA/pop909" "$DATA/groove" -o "$tmp/corpus" --quiet --threads 2 > "$tmp/prep.txt"
t_prep1=$(date +%s.%N)
t_ours=$(field "$ours" seconds); t_ref=$(field "$ref" seconds)
calc() { awk "BEGIN { print $1 }"; }
t_prep=$(calc "$t_prep1 - $t_prep0")
printf '\n%-46s %10s %10s\n' "task ($n files: POP909 + Groove)" seconds "vs mido"
printf '%-46s %10.3f %10s\n' "mido: read + pair notes (Python, 1 thread)" "$t_ref" "1.0x"
printf '%-46s %10.3f %9.1fx\n' "getmusic: read + pair notes (C, 1 thread)" "$t_ours" "$(calc "$t_ref / $t_ours")"
printf '%-46s %10.3f %9.1fx\n' "getmusic prepare: whole corpus (2 threads)" "$t_prep" "$(calc "$t_ref / $t_prep")"
printf '\nnotes read: getmusic %s, mido %s\n' "$(field "$ours" notes)" "$(field "$ref" notes)"
sed 's/^/  /' "$tmp/prep.txt"

# 3. Chord recognition and key finding against POP909's own labels.
make -s build/bench_chord_accuracy >/dev/null
build/bench_chord_accuracy "$DATA"
