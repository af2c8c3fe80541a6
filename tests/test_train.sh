#!/usr/bin/env bash
# test_train.sh — the trainer through the CLI, on a tiny corpus and model:
#  - the loss falls; the log is JSON lines; the model file loads;
#  - stopped after 3 steps and resumed to 6 gives the same bytes as 6 straight;
#  - SIGKILL at random moments never leaves a checkpoint that cannot resume;
#  - --init fine-tunes from a model file; a corpus with another vocabulary is
#    refused with a reason; bad options exit 1.
set -u
cd "$(dirname "$0")/.."
GM=${GETMUSIC_BIN:-build/getmusic}
. tests/lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
SMALL="--embd 8 --hidden 16 --layers 1 --heads 2 --ffn 32 --batch 2 --threads 1 --quiet"

# A corpus from the bundled example plus a transposed copy (so there is a validation song).
mkdir -p "$tmp/in"
cp examples/melody.mid "$tmp/in/a.mid"
"$GM" prepare "$tmp/in" -o "$tmp/c" --window 64 --hop 32 --valid-percent 0 --quiet >/dev/null 2>&1 && ok || bad "prepare tiny corpus"

"$GM" train "$tmp/c" -o "$tmp/m.gguf" $SMALL --steps 30 --warmup 2 --lr 3e-3 --eval-every 10 --ckpt-every 10 --ema-every 1 >/dev/null 2>"$tmp/err" \
  && ok || bad "train 30 steps: $(cat "$tmp/err")"
[ -s "$tmp/m.gguf" ] && [ -s "$tmp/m.gguf.ckpt" ] && [ -s "$tmp/m.gguf.log.jsonl" ] && ok || bad "outputs missing"
if [ -x /usr/bin/python3 ]; then
  /usr/bin/python3 - "$tmp/m.gguf.log.jsonl" <<'PY' && ok || bad "loss does not fall (log: $(head -c 300 "$tmp/m.gguf.log.jsonl"))"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows and rows[-1]["step"] == 30, rows[-1:]
first, last = rows[0]["loss"], sum(r["loss"] for r in rows[-3:]) / 3
assert last < first, (first, last)
PY
fi
"$GM" plot-log "$tmp/m.gguf.log.jsonl" -o "$tmp/loss.png" 2>"$tmp/err" && [ -s "$tmp/loss.png" ] && ok || bad "plot-log: $(cat "$tmp/err")"
"$GM" plot-log "$tmp/nothing.jsonl" -o "$tmp/x.png" >/dev/null 2>&1; [ $? -eq 1 ] && [ ! -e "$tmp/x.png" ] && ok || bad "plot-log of a missing log"

# Stopped and resumed = straight through, byte for byte.
"$GM" train "$tmp/c" -o "$tmp/s.gguf" $SMALL --steps 6 --warmup 2 --ckpt-every 100 --eval-every 3 >/dev/null 2>&1 || bad "straight run"
"$GM" train "$tmp/c" -o "$tmp/r.gguf" $SMALL --steps 6 --warmup 2 --ckpt-every 100 --eval-every 3 --stop-after 3 >/dev/null 2>&1 || bad "first half"
"$GM" train "$tmp/c" -o "$tmp/r.gguf" $SMALL --steps 6 --warmup 2 --ckpt-every 100 --eval-every 3 --resume >/dev/null 2>"$tmp/err" || bad "resume: $(cat "$tmp/err")"
cmp -s "$tmp/s.gguf" "$tmp/r.gguf" && ok || bad "resumed model differs from the uninterrupted one"
cmp -s "$tmp/s.gguf.ckpt" "$tmp/r.gguf.ckpt" && ok || bad "resumed checkpoint differs from the uninterrupted one"

# SIGKILL at random moments: the checkpoint left behind always resumes.
"$GM" train "$tmp/c" -o "$tmp/k.gguf" $SMALL --steps 2 --ckpt-every 1 >/dev/null 2>&1 || bad "kill test setup"
killed_ok=1
for i in 1 2 3 4 5 6; do
  "$GM" train "$tmp/c" -o "$tmp/k.gguf" $SMALL --steps 100000 --ckpt-every 1 --eval-every 1000 --resume >/dev/null 2>&1 &
  pid=$!
  sleep "0.$((RANDOM % 9 + 1))"
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  if ! "$GM" train "$tmp/c" -o "$tmp/k.gguf" $SMALL --steps 100000 --ckpt-every 1 --resume --stop-after 1 >/dev/null 2>"$tmp/err"; then
    killed_ok=0; echo "after kill $i: $(cat "$tmp/err")" >&2
  fi
done
[ "$killed_ok" = 1 ] && ok || bad "a killed run left a checkpoint that does not resume"
ls "$tmp"/k.gguf*.tmp.* >/dev/null 2>&1 && echo "  (killed runs leave temporary files behind; they are never read)" >&2

# Fine-tuning from a model file; a corpus of another vocabulary is refused.
"$GM" train "$tmp/c" -o "$tmp/f.gguf" $SMALL --steps 3 --init "$tmp/m.gguf" >/dev/null 2>"$tmp/err" && ok || bad "--init: $(cat "$tmp/err")"
"$GM" prepare "$tmp/in" -o "$tmp/c2" --window 64 --hop 32 --valid-percent 0 --layout original --quiet >/dev/null 2>&1
msg=$("$GM" train "$tmp/c2" -o "$tmp/g.gguf" $SMALL --steps 3 --init "$tmp/m.gguf" 2>&1 >/dev/null); rc=$?
[ $rc -eq 1 ] && grep -q "vocabulary" <<<"$msg" && [ "$(wc -l <<<"$msg")" -eq 1 ] && ok || bad "--init with another vocabulary: rc $rc, '$msg'"

# Token features (docs/MODEL.md): on for a new model with --token-features; --resume and --init keep it.
"$GM" train "$tmp/c" -o "$tmp/t.gguf" $SMALL --token-features --steps 4 --warmup 2 --ckpt-every 100 --eval-every 2 >/dev/null 2>"$tmp/err" \
  && ok || bad "train --token-features: $(cat "$tmp/err")"
"$GM" info --model "$tmp/t.gguf" --json 2>/dev/null | grep -q '"token_features": 280' && ok || bad "info --model: no token features in t.gguf"
"$GM" info --model "$tmp/m.gguf" --json 2>/dev/null | grep -q '"token_features": 0' && ok || bad "info --model: m.gguf has token features"
"$GM" train "$tmp/c" -o "$tmp/tr.gguf" $SMALL --token-features --steps 4 --warmup 2 --ckpt-every 100 --eval-every 2 --stop-after 2 >/dev/null 2>&1 || bad "token features, first half"
"$GM" train "$tmp/c" -o "$tmp/tr.gguf" $SMALL --steps 4 --warmup 2 --ckpt-every 100 --eval-every 2 --resume >/dev/null 2>"$tmp/err" || bad "token features, resume: $(cat "$tmp/err")"
cmp -s "$tmp/t.gguf" "$tmp/tr.gguf" && ok || bad "token features: resumed model differs from the uninterrupted one"
"$GM" train "$tmp/c" -o "$tmp/ti.gguf" $SMALL --steps 2 --init "$tmp/t.gguf" >/dev/null 2>"$tmp/err" && \
  "$GM" info --model "$tmp/ti.gguf" --json 2>/dev/null | grep -q '"token_features": 280' && ok || bad "--init from a token-features model: $(cat "$tmp/err")"

# Bar positions (docs/MODEL.md): --init a plain model with --bar-positions adds the table (at zero, so the
# first step's loss equals the plain model's), the file says so, and resuming equals the straight run.
"$GM" train "$tmp/c" -o "$tmp/b.gguf" $SMALL --steps 4 --warmup 1 --lr 3e-2 --ckpt-every 100 --eval-every 1 --init "$tmp/m.gguf" \
  --bar-positions >/dev/null 2>"$tmp/err" && "$GM" info --model "$tmp/b.gguf" --json 2>/dev/null | grep -q '"bar_positions": 32' \
  && ok || bad "--init with --bar-positions: $(cat "$tmp/err")"
"$GM" train "$tmp/c" -o "$tmp/b0.gguf" $SMALL --steps 4 --warmup 1 --lr 3e-2 --ckpt-every 100 --eval-every 1 --init "$tmp/m.gguf" \
  >/dev/null 2>"$tmp/err" || bad "--init without bar positions: $(cat "$tmp/err")"
l1=$(grep -o '"loss": [0-9.e-]*' "$tmp/b.gguf.log.jsonl" | head -4 | tr '\n' ' '); l0=$(grep -o '"loss": [0-9.e-]*' "$tmp/b0.gguf.log.jsonl" | head -4 | tr '\n' ' ')
[ -n "$l1" ] && [ "$(cut -d' ' -f1-2 <<<"$l1")" = "$(cut -d' ' -f1-2 <<<"$l0")" ] && [ "$l1" != "$l0" ] && ok \
  || bad "bar positions: step 1 must equal the plain model's and later steps differ ($l1 / $l0)"
"$GM" train "$tmp/c" -o "$tmp/br.gguf" $SMALL --steps 4 --warmup 1 --lr 3e-2 --ckpt-every 100 --eval-every 1 --init "$tmp/m.gguf" \
  --bar-positions --stop-after 2 >/dev/null 2>&1 || bad "bar positions, first half"
"$GM" train "$tmp/c" -o "$tmp/br.gguf" $SMALL --steps 4 --warmup 1 --lr 3e-2 --ckpt-every 100 --eval-every 1 --resume >/dev/null 2>"$tmp/err" \
  || bad "bar positions, resume: $(cat "$tmp/err")"
cmp -s "$tmp/b.gguf" "$tmp/br.gguf" && ok || bad "bar positions: resumed model differs from the uninterrupted one"

# Usage errors.
for args in "" "$tmp/c" "$tmp/c -o $tmp/x.gguf --steps 0" "$tmp/c -o $tmp/x.gguf --heads 3" "$tmp/nope -o $tmp/x.gguf" \
            "$tmp/c -o $tmp/x.gguf --resume --init $tmp/m.gguf" "$tmp/c -o $tmp/never.gguf --resume"; do
  "$GM" train $args >/dev/null 2>&1; rc=$?
  [ $rc -eq 1 ] && ok || bad "train $args: exit $rc, want 1"
done
finish test_train
