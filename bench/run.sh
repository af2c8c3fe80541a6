#!/usr/bin/env bash
# make bench: side by side in one run, on the same files.
#   1. reading every MIDI file: our reader (1 thread) vs mido (Python)
#   2. `getmusic prepare` of all of POP909 + Groove (2 threads: read, key,
#      quantise, chords, vocabulary, encode, write) vs mido only reading them
# Prints a table of seconds and ratios. Needs ../shared/data.
set -euo pipefail
# Both sides run with passive OpenMP waiting (the getmusic CLI sets it too):
# spinning threads fight over the two cores; it helps PyTorch as much as us.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
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

# 4. The engine against the PyTorch reference (dev/reference.py): same configs,
#    same inputs, 2 threads each, best of a few calls after a warm-up.
if ! "$PY" -c 'import torch' 2>/dev/null; then echo "bench: python3-torch missing (make deps); engine bench skipped"; exit 0; fi
make -s build/bench_engine >/dev/null
peak=$(build/bench_engine peak | sed -E 's/.*"gflops": ([0-9.]+).*/\1/')
printf '\nengine (sgemm peak measured now: %s GFLOP/s on 2 threads)\n' "$peak"
printf '%-34s %10s %10s %8s %9s %8s %9s %9s\n' "task" "C s" "torch s" "speedup" "C col/s" "GFLOP/s" "% peak" "RSS MB C/torch"
run() { # label, C args, torch args
  local label=$1; shift
  local c t
  c=$(build/bench_engine $1); t=$("$PY" bench/bench_torch.py $1)
  local cs ts cc gf rc rt
  cs=$(field "$c" seconds); ts=$(field "$t" seconds); cc=$(field "$c" cols_per_s); gf=$(field "$c" gflops)
  rc=$(field "$c" peak_rss_mb); rt=$(field "$t" peak_rss_mb)
  printf '%-34s %10.3f %10.3f %7.2fx %9.0f %8.1f %8.0f%% %6s/%s\n' "$label" "$cs" "$ts" "$(calc "$ts / $cs")" "$cc" "$gf" \
    "$(calc "100 * $gf / $peak")" "$rc" "$rt"
}
run "train step, default, 4x512"      "train default 4 512 3"
run "denoise forward, default, 512"   "denoise default 512 3"
run "train step, original, 1x512"     "train original 1 512 2"
run "denoise forward, original, 512"  "denoise original 512 2"
printf '\nwhere the time goes (C, default, one training step of 4x512):\n  %s\n' "$(build/bench_engine profile default 4 512)"
