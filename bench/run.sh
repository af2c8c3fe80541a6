#!/usr/bin/env bash
# make bench: side by side in one run, on the same files.
#   1. reading every MIDI file: our reader (1 thread) vs mido (Python)
#   2. `getmusic prepare` of all of POP909 + Groove (2 threads: read, key,
#      quantise, chords, vocabulary, encode, write) vs mido only reading them
#   3. chord and key accuracy against POP909's labels
#   4. the engine vs the PyTorch reference (training step, denoising forward)
#   5. a full 32-bar generation vs the PyTorch reference doing the same sampling
#      (BENCH_ONLY=generation runs this section alone)
# Prints a table of seconds and ratios. Needs ../shared/data.
set -euo pipefail
# Both sides run with passive OpenMP waiting (the getmusic CLI sets it too):
# spinning threads fight over the two cores; it helps PyTorch as much as us.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
GM=${1:-build/getmusic}
PY=${PYTHON:-/usr/bin/python3}
DATA=${GETMUSIC_DATA:-../shared/data}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
field() { sed -E "s/.*\"$2\": ([-0-9.eE+]+).*/\1/" <<<"$1"; }
calc() { awk "BEGIN { print $1 }"; }
have_torch() { "$PY" -c 'import torch' 2>/dev/null; }

# 5. A full generation: 512 columns (32 bars of 4/4), the lead (POP909 001's
#    melody) and chords given, every other track class generated, 100 steps
#    of gd_sample (confidence-ordered unmasking), 2 threads, vs the same
#    sampling in PyTorch (python/reference.py's sample: the full x̂0 distribution
#    of every cell each step, as the original) with the same weights. The 86 M
#    original configuration (random weights) takes seconds per network call,
#    so it runs 5 steps (4 network calls) and is extrapolated to 100 steps
#    (99 network calls: the last step, t = 0, finds nothing left masked).
generation() {
  local bd; bd=$(dirname "$GM")
  make -s BUILD="$bd" "$bd/bench_generate" >/dev/null
  printf '\ngeneration (32 bars = 512 columns; lead + chords given, every other track generated; 2 threads; load average now %s)\n' \
    "$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"
  local torch=1
  if ! have_torch; then torch=0; echo "  torch side skipped: python3-torch missing (make deps)"; fi
  printf '%-50s %9s %9s %8s %7s %10s\n' "task" "C s" "torch s" "speedup" "calls" "C s/call"
  local c t cs ts melody="" probe="" prof=""
  gen_row() { # label, size, steps, model file (for torch)
    if ! c=$("$bd/bench_generate" "$2" "$tmp" "$3" "$DATA" 2>"$tmp/gen.err"); then
      printf '%-50s skipped: %s\n' "$1" "$(tail -1 "$tmp/gen.err" | sed 's/^bench_generate: //')"; return 1
    fi
    cs=$(field "$c" seconds)
    [ -n "$melody" ] || melody=$(sed -E 's/.*"melody": "([^"]*)", "melody_cols": ([0-9]+).*/\1 (\2 columns; the first 512, repeated if shorter)/' <<<"$c")
    if [ $torch = 1 ]; then
      if t=$("$PY" bench/sample_torch.py "$tmp/$2.prob" "$4" 2>"$tmp/gen.err"); then
        ts=$(field "$t" seconds)
        printf '%-50s %9.2f %9.2f %7.2fx %7s %10.4f\n' "$1" "$cs" "$ts" "$(calc "$ts / $cs")" "$(field "$c" forwards)" \
          "$(field "$c" s_per_forward)"
        probe="$probe$(printf '\n  %-8s first step, %s masked cells: max |p_C - p_torch| = %.1e (relative %.1e); onsets generated C %s, torch %s' "$2" \
          "$(field "$t" probe_cells)" "$(field "$t" probe_max_abs_diff)" "$(field "$t" probe_max_rel_diff)" \
          "$(field "$t" onsets_c)" "$(field "$t" onsets_torch)")"
      else
        ts=""
        printf '%-50s %9.2f %9s %8s %7s %10.4f\n' "$1" "$cs" "failed" "" "$(field "$c" forwards)" "$(field "$c" s_per_forward)"
        sed 's/^/    /' "$tmp/gen.err" | tail -3
      fi
    else
      ts=""
      printf '%-50s %9.2f %9s %8s %7s %10.4f\n' "$1" "$cs" "skipped" "" "$(field "$c" forwards)" "$(field "$c" s_per_forward)"
    fi
    local rest; rest=$(field "$c" est_rest_s)
    rest=$(awk -v r="$rest" 'BEGIN { if (r < 0) print "~0 s (below the noise)"; else printf "%.2f s", r }')
    prof="$prof$(printf '\n  %-8s one forward %.3f s (x %s calls = %.2f s); the rest %s: x̂0 of the masked cells, sampling, reveal order' \
      "$2" "$(field "$c" forward_s)" "$(field "$c" forwards)" "$(field "$c" est_forward_total_s)" "$rest")"
  }
  gen_row "default model, 100 steps" default 100 models/default.gguf || true
  if gen_row "original 86 M (random weights), 5 steps" original 5 "$tmp/original.gguf"; then
    # 99 network calls in 100 steps, at the 5-step run's seconds per call.
    local cx tx; cx=$(calc "99 * $cs / $(field "$c" forwards)")
    if [ -n "$ts" ]; then
      tx=$(calc "99 * $ts / $(field "$t" forwards)")
      printf '%-50s %9.1f %9.1f %7.2fx %7s\n' "original 86 M, 100 steps (EXTRAPOLATED: 99 calls)" "$cx" "$tx" "$(calc "$tx / $cx")" 99
    else
      printf '%-50s %9.1f %9s %8s %7s\n' "original 86 M, 100 steps (EXTRAPOLATED: 99 calls)" "$cx" "-" "" 99
    fi
  fi
  rm -f "$tmp/original.gguf"
  [ -z "$melody" ] || printf 'melody: %s\n' "$melody"
  [ -n "$probe" ] && printf 'check: x̂0 probabilities of the same input at the first step'"%s"'\n' "$probe"
  printf 'where the C time goes (a forward timed alone, best of a few; the rest by difference):%s\n' "$prof"
}
if [ "${BENCH_ONLY:-}" = generation ]; then generation; exit 0; fi
if [ ! -d "$DATA/pop909" ]; then
  echo "bench: $DATA/pop909 not found; reading, prepare, chord and engine benches skipped"
  generation; exit 0
fi
if ! "$PY" -c 'import mido' 2>/dev/null; then echo "bench: python3-mido missing (make deps)"; exit 1; fi

make -s build/bench_read >/dev/null
find "$DATA/pop909" "$DATA/groove" -type f \( -iname '*.mid' -o -iname '*.midi' \) | sort > "$tmp/list"
n=$(wc -l < "$tmp/list")
ours=$(build/bench_read < "$tmp/list")
ref=$("$PY" bench/read_mido.py "$DATA/pop909" "$DATA/groove")
t_prep0=$(date +%s.%N)
"$GM" prepare "$DATA/pop909" "$DATA/groove" -o "$tmp/corpus" --quiet --threads 2 > "$tmp/prep.txt"
t_prep1=$(date +%s.%N)
t_ours=$(field "$ours" seconds); t_ref=$(field "$ref" seconds)
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

# 3b. Transcription (issue 14): POP909 songs rendered with our renderer (the
#     full mix, and the melody alone), transcribed, scored against the
#     songs' beat, chord and MELODY labels (bench/bench_transcribe.c).
#     BENCH_ONLY=transcribe runs this section alone.
transcription() {
  make -s build/bench_transcribe >/dev/null
  printf '\ntranscription (POP909 songs rendered by getmusic render; beats/downbeats F ±70 ms, chords per beat, melody note F ±50 ms; x rt = audio s / transcription s)\n'
  mkdir -p "$tmp/audio"
  build/bench_transcribe "$DATA" "$tmp/audio" "${BENCH_TRANSCRIBE_SECONDS:-0}" ${BENCH_TRANSCRIBE_SONGS:-001 010 020 030 040 050 060 070 080 090}
}
if [ "${BENCH_ONLY:-}" = transcribe ]; then transcription; exit 0; fi
transcription

# 4. The engine against the PyTorch reference (python/reference.py): same configs,
#    same inputs, 2 threads each, best of a few calls after a warm-up.
if ! have_torch; then echo "bench: python3-torch missing (make deps); engine bench skipped"; else
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
fi

# 5. A full generation (above).
generation
