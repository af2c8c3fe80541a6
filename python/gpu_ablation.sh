#!/usr/bin/env bash
# python/gpu_ablation.sh — trains several recipes one after another on one GPU
# for the same wall time each and leaves each model (GGUF, F16) and the logs in
# OUTDIR. This is the script a session runs when it is lent a GPU (issue 13):
# every recipe gets the same GPU minutes, the same corpus and validation split.
# One after another, not side by side: five processes sharing an H200 ran at
# 0.55 steps/s each whatever the model size (the GPU time-slices between
# processes, and every step synchronises), far below one process alone.
#
#   python/gpu_ablation.sh MINUTES OUTDIR NAME:CORPUS:ARGS [NAME:CORPUS:ARGS ...]
#
# CORPUS is a folder from `getmusic prepare`, or a .tar.gz of one (unpacked
# beside OUTDIR). ARGS are python/train.py options, separated by commas.
# Example (the recipes of models/README.md's ablation):
#   python/gpu_ablation.sh 7 out base:corpus.tar.gz:--chord-given,0.25 \
#       data:corpus.tar.gz:--chord-given,0.6,--accomp,0.4,--drum-overlay,0.5
set -u
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: $0 MINUTES OUTDIR NAME:CORPUS:ARGS..." >&2; exit 1; }
min=$1; out=$2; shift 2
mkdir -p "$out"
PY=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >&2 || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" >&2
COMMON=${COMMON:-"--batch 64 --lr 8e-4 --lr-min 2e-5 --warmup 300 --ema-every 10 --eval-every 250 --eval-segments 128 --ckpt-every 100000 --workers 3 --f16"}
rc=0
for spec in "$@"; do
  name=${spec%%:*}; rest=${spec#*:}; corpus=${rest%%:*}; args=${rest#*:}
  if [[ $corpus == *.tar.gz ]]; then
    dir="$out/corpus-$(basename "$corpus" .tar.gz)"
    [ -d "$dir" ] || { mkdir -p "$dir" && tar -xzf "$corpus" -C "$dir" --strip-components=1; }
    corpus=$dir
  fi
  # shellcheck disable=SC2086
  PYTHONUNBUFFERED=1 $PY python/train.py "$corpus" -o "$out/$name.gguf" --minutes "$min" $COMMON ${args//,/ } \
      >"$out/$name.stdout" 2>"$out/$name.stderr" || rc=1
  echo "== $name: $(tail -n 1 "$out/$name.gguf.log.jsonl" 2>/dev/null)" >&2
done
exit $rc
