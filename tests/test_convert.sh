#!/usr/bin/env bash
# test_convert.sh — python/convert_getmusic.py on a fake original checkpoint:
# a random GETDiff (python/reference.py, small sizes) saved with the original's
# key prefixes ("rfm.roformer.input_transformers." in 'model', the inner
# "roformer.input_transformers." in 'ema'), its schedule buffers, the rotary
# table and the tied lm_head.weight; read back with python/gguf_py.py, every
# tensor and key compared. Then the failures: dict size mismatch, missing
# tensor, not a checkpoint — exit 1 with one line, no output file.
# Skips (exit 0) when /usr/bin/python3 cannot import torch.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
. tests/lib.sh

if ! "$PY" -c 'import torch, numpy' >/dev/null 2>&1; then
  echo "test_convert: SKIP ($PY cannot import torch; apt install python3-torch)"
  echo "test_convert: 0 passed, 0 failed, 1 skipped"
  exit 0
fi

tmp=${KEEP_TMP:-$(mktemp -d)}; mkdir -p "$tmp"; [ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
CONV="python/convert_getmusic.py"

# ---- fixtures: checkpoint(s) and dict.txt ---------------------------------
if ! "$PY" - "$tmp" <<'EOF'
import sys, os, math
sys.path.insert(0, "python")
import torch
torch.set_num_threads(2)
from reference import GETDiffConfig, GETDiffRef
d = sys.argv[1]
cfg = GETDiffConfig(R=6, V=21, E=8, H=16, NL=3, NH=2, F=24, max_cols=64, dropout=0.0)
P = "roformer.input_transformers."

def fake(seed):
    torch.manual_seed(seed)
    m = GETDiffRef(cfg)
    sd = {}
    with torch.no_grad():
        for k, v in m.state_dict().items():
            sd[k] = torch.randn(v.shape) * 0.1    # every tensor distinct, biases too
    sd["embeddings.word_embeddings.weight"][cfg.V].zero_()
    sd["lm_head.weight"] = sd["embeddings.word_embeddings.weight"]   # tied, as saved
    HD = cfg.H // cfg.NH                            # the rotary table: sin half, cos half
    pos = torch.arange(cfg.max_cols, dtype=torch.float64)[:, None]
    j = torch.arange(HD // 2, dtype=torch.float64)[None, :]
    th = pos / 10000 ** (2 * j / HD)
    sd["encoder.embed_positions.weight"] = torch.cat([th.sin(), th.cos()], 1).float()
    return sd

def buffers(prefix):
    T = 100
    return {prefix + "log_at": torch.zeros(T), prefix + "log_cumprod_ct": torch.zeros(T),
            prefix + "Lt_history": torch.zeros(T), prefix + "Lt_count": torch.zeros(T)}

model, ema = fake(1), fake(2)
ck = {"last_epoch": 49, "last_iter": 123456,
      "model": {**{"rfm." + P + k: v for k, v in model.items()}, **buffers("rfm.")},
      "ema": {**{P + k: v for k, v in ema.items()}, **buffers("")},
      "clip_grad_norm": {"last_epoch": 0}, "optimizer_and_scheduler": {"none": {"start_iteration": 0}}}
torch.save(ck, os.path.join(d, "ck.pth"))
torch.save({k: v for k, v in ck.items() if k != "ema"}, os.path.join(d, "ck_noema.pth"))
# a missing tensor
bad = {k: dict(v) if isinstance(v, dict) else v for k, v in ck.items()}
del bad["ema"][P + "encoder.layer.2.output.dense.bias"]
torch.save(bad, os.path.join(d, "ck_missing.pth"))
# a wrong shape
bad = {k: dict(v) if isinstance(v, dict) else v for k, v in ck.items()}
bad["ema"][P + "encoder.layer.1.intermediate.dense.weight"] = torch.zeros(24, 15)
torch.save(bad, os.path.join(d, "ck_shape.pth"))
torch.save(torch.zeros(3), os.path.join(d, "tensor.pth"))
import numpy as np                                                       # unprefixed, for comparison
np.savez(os.path.join(d, "src_model.npz"), **{k: v.numpy() for k, v in model.items()})
np.savez(os.path.join(d, "src_ema.npz"), **{k: v.numpy() for k, v in ema.items()})

toks = ["T%d" % i for i in range(1, 6)] + ["<pad>", "p60", "p60 64 67", "B36 48", "C", "D"]
toks += ["tok%d" % i for i in range(cfg.V - len(toks))]
with open(os.path.join(d, "dict.txt"), "w") as f:
    for i, t in enumerate(toks):
        f.write("%s\t%d\n" % (t, 1000 - i))
with open(os.path.join(d, "dict_short.txt"), "w") as f:
    for i, t in enumerate(toks[:-2]):
        f.write("%s\t%d\n" % (t, 1000 - i))
with open(os.path.join(d, "cfg"), "w") as f:
    f.write("%d %d %d %d %d %d %d %d\n" % (cfg.R, cfg.V, cfg.E, cfg.H, cfg.NL, cfg.NH, cfg.F, cfg.max_cols))
EOF
then
  bad "could not build the fixtures"
  echo "test_convert: $pass passed, $fail failed"; exit 1
fi

# ---- checks ----------------------------------------------------------------
# check_gguf FILE WHICH(ema|model) SOURCE_SUBSTRING
check_gguf() {
  "$PY" - "$tmp" "$@" <<'EOF'
import sys, os
sys.path.insert(0, "python")
import numpy as np
from gguf_py import GGUFReader, GGUF_UINT32, GGUF_STRING, GGUF_ARRAY
d, path, which, want_src = sys.argv[1:5]
R, V, E, H, NL, NH, F, MC = map(int, open(os.path.join(d, "cfg")).read().split())
src = np.load(os.path.join(d, "src_%s.npz" % which))
src = {k: src[k] for k in src.files}
g = GGUFReader(path)
errs = []
def want(key, val, typ):
    if g.kv.get(key) != val or g.types.get(key) != typ:
        errs.append("%s = %r (type %s), want %r" % (key, g.kv.get(key), g.types.get(key), val))
want("general.architecture", "getmusic", GGUF_STRING)
for k, v in [("rows", R), ("vocab_size", V), ("embd", E), ("hidden", H), ("layers", NL), ("heads", NH),
             ("ffn", F), ("max_cols", MC), ("diffusion_steps", 100)]:
    want("getmusic." + k, v, GGUF_UINT32)
want("getmusic.layout", "original", GGUF_STRING)
toks, cnts = [], []
for line in open(os.path.join(d, "dict.txt"), encoding="utf-8"):
    t, c = line.rstrip("\n").rsplit("\t", 1); toks.append(t); cnts.append(int(c))
want("getmusic.tokens", toks, GGUF_ARRAY)
want("getmusic.token_counts", cnts, GGUF_ARRAY)
s = g.kv.get("getmusic.source", "")
if want_src not in s:
    errs.append("source %r lacks %r" % (s, want_src))
names = [k for k in src if k not in ("lm_head.weight", "encoder.embed_positions.weight")]
if list(g.tensors) != names:
    errs.append("tensor names/order differ: %s" % sorted(set(g.tensors) ^ set(names)))
for n in names:
    if n not in g.tensors:
        continue
    ttype, ne, off = g.tensor_info[n]
    a = src[n]
    if ttype != 0 or list(ne) != list(reversed(a.shape)):
        errs.append("%s: type %d ne %s, want F32 %s" % (n, ttype, ne, list(reversed(a.shape))))
    elif not np.array_equal(g.tensors[n], a):
        errs.append("%s: values differ" % n)
    if off % 32:
        errs.append("%s: offset %d not aligned" % (n, off))
if errs:
    print("\n".join(errs[:10]), file=sys.stderr); sys.exit(1)
EOF
}

# 1. default: ema weights
out=$("$PY" "$CONV" "$tmp/ck.pth" "$tmp/dict.txt" "$tmp/a.gguf" 2>&1); rc=$?
[ $rc -eq 0 ] && ok || bad "default conversion: exit $rc: $out"
check_gguf "$tmp/a.gguf" ema "converted from ck.pth (ema weights, epoch 49, iter 123456)" && ok || bad "ema GGUF contents"

# 2. --weights model
out=$("$PY" "$CONV" "$tmp/ck.pth" "$tmp/dict.txt" "$tmp/b.gguf" --weights model 2>&1); rc=$?
[ $rc -eq 0 ] && ok || bad "--weights model: exit $rc: $out"
check_gguf "$tmp/b.gguf" model "(model weights, epoch 49, iter 123456)" && ok || bad "model GGUF contents"

# 3. no ema in the checkpoint: falls back to model; asking for ema fails
out=$("$PY" "$CONV" "$tmp/ck_noema.pth" "$tmp/dict.txt" "$tmp/c.gguf" 2>&1); rc=$?
[ $rc -eq 0 ] && check_gguf "$tmp/c.gguf" model "(model weights" && ok || bad "no ema: exit $rc: $out"

# expect_fail DESCRIPTION MESSAGE_SUBSTRING OUTPUT -- args...
expect_fail() {
  local what=$1 msg=$2 outf=$3; shift 4
  local err; err=$("$PY" "$CONV" "$@" 2>&1 >/dev/null); local rc=$?
  if [ $rc -ne 1 ]; then bad "$what: exit $rc, want 1 ($err)"; return; fi
  if [ "$(printf '%s\n' "$err" | grep -c .)" -ne 1 ]; then bad "$what: reason is not one line: $err"; return; fi
  if ! grep -qF -- "$msg" <<<"$err"; then bad "$what: message '$err' lacks '$msg'"; return; fi
  if [ -e "$outf" ]; then bad "$what: output file was written"; return; fi
  ok
}
expect_fail "ema requested but absent" "no 'ema' weights" "$tmp/d.gguf" -- "$tmp/ck_noema.pth" "$tmp/dict.txt" "$tmp/d.gguf" --weights ema
expect_fail "dict size mismatch" "vocabulary mismatch: checkpoint has 23 token rows, dict.txt has 19 tokens (+2)" \
  "$tmp/e.gguf" -- "$tmp/ck.pth" "$tmp/dict_short.txt" "$tmp/e.gguf"
expect_fail "missing tensor" "missing tensor" "$tmp/f.gguf" -- "$tmp/ck_missing.pth" "$tmp/dict.txt" "$tmp/f.gguf"
expect_fail "wrong shape" "has shape (24, 15)" "$tmp/g.gguf" -- "$tmp/ck_shape.pth" "$tmp/dict.txt" "$tmp/g.gguf"
printf 'this is not a checkpoint\n' > "$tmp/junk.pth"
expect_fail "not a checkpoint (text)" "not a GETMusic checkpoint" "$tmp/h.gguf" -- "$tmp/junk.pth" "$tmp/dict.txt" "$tmp/h.gguf"
expect_fail "not a checkpoint (a tensor)" "not a GETMusic checkpoint" "$tmp/i.gguf" -- "$tmp/tensor.pth" "$tmp/dict.txt" "$tmp/i.gguf"
expect_fail "missing checkpoint file" "no such file" "$tmp/j.gguf" -- "$tmp/nope.pth" "$tmp/dict.txt" "$tmp/j.gguf"
expect_fail "heads contradict the rotary table" "--heads 4" "$tmp/k.gguf" -- "$tmp/ck.pth" "$tmp/dict.txt" "$tmp/k.gguf" --heads 4

# no temporary files left behind
left=$(find "$tmp" -name '*.tmp.*' | head -n 1)
[ -z "$left" ] && ok || bad "temporary file left: $left"

# ---- end to end: an original-layout checkpoint run by the C engine ---------
# A dict.txt with the original's structure (15 durations, <pad>, 128 single
# pitches per class M B D G P S, 12 roots, 8 qualities, plus a few compounds),
# a random checkpoint of that vocabulary, converted, loaded by gm_model_load
# and run: its x̂0 probabilities must equal PyTorch's on the same input.
TOOL=${GETMUSIC_TOOL_PROBS:-build/tool_probs}
if [ -x "$TOOL" ]; then
  if "$PY" - "$tmp" <<'EOF'
import sys, struct
sys.path.insert(0, "python")
import torch
torch.set_num_threads(2)
from reference import GETDiffConfig, GETDiffRef
d = sys.argv[1]
toks = ["T%d" % i for i in range(1, 16)] + ["<pad>"]
for pre, off in (("M", 0), ("B", 0), ("D", 128), ("G", 0), ("P", 0), ("S", 0)):
    toks += ["%s%d" % (pre, p + off) for p in range(128)]
    toks += {"B": ["B36 43"], "P": ["P60 64 67", "P57 60 64"], "D": ["D164 170"]}.get(pre, [])
toks += ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
toks += ["null", "m", "+", "dim", "seven", "maj7", "m7", "m7b5"]
open(d + "/orig_dict.txt", "w").write("".join("%s\t%d\n" % (t, 5) for t in toks))
V = len(toks)
cfg = GETDiffConfig(R=14, V=V, E=8, H=16, NL=2, NH=2, F=24, max_cols=64, dropout=0.0)
torch.manual_seed(3)
m = GETDiffRef(cfg).eval()
with torch.no_grad():
    for p in m.parameters():
        p.copy_(torch.randn(p.shape) * 0.3)
    m.embeddings.word_embeddings.weight[V].zero_()
sd = {"rfm.roformer.input_transformers." + k: v for k, v in m.state_dict().items()}
sd["rfm.roformer.input_transformers.lm_head.weight"] = m.embeddings.word_embeddings.weight
torch.save({"last_epoch": 1, "last_iter": 2, "model": sd}, d + "/orig.pth")
B, L = 2, 20
g = torch.Generator().manual_seed(4)
x = torch.randint(0, V + 2, (B, 14, L), generator=g)
cond = torch.randint(0, 2, (B, 14, L), generator=g)
t = torch.tensor([0, 77])
with torch.no_grad():
    probs = torch.softmax(m(x, cond, t), -1).numpy()
with open(d + "/in.bin", "wb") as f:
    f.write(struct.pack("<2i", B, L) + x.int().numpy().tobytes() + cond.int().numpy().tobytes() + t.int().numpy().tobytes())
probs.astype("float32").tofile(d + "/want.bin")
EOF
  then ok; else bad "original-layout fixture"; fi
  if "$PY" "$CONV" "$tmp/orig.pth" "$tmp/orig_dict.txt" "$tmp/orig.gguf" --heads 2 >/dev/null 2>"$tmp/err"; then ok; else bad "convert original-layout: $(cat "$tmp/err")"; fi
  if "$TOOL" "$tmp/orig.gguf" "$tmp/in.bin" "$tmp/got.bin" 2>"$tmp/err"; then ok; else bad "C engine on the converted file: $(cat "$tmp/err")"; fi
  if "$PY" - "$tmp" <<'EOF'
import sys, numpy as np
d = sys.argv[1]
a, b = np.fromfile(d + "/got.bin", np.float32), np.fromfile(d + "/want.bin", np.float32)
err = float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")
print("  converted model in C vs PyTorch: %d probabilities, worst abs error %.2e" % (b.size, err), file=sys.stderr)
sys.exit(0 if err < 1e-5 else 1)
EOF
  then ok; else bad "C probabilities differ from PyTorch's"; fi
else
  echo "  (tool_probs not built: end-to-end check skipped)" >&2
fi

finish test_convert
