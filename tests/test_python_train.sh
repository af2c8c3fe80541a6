#!/usr/bin/env bash
# test_python_train.sh — the PyTorch trainer (python/train.py) on a CPU:
#  - a few steps on a tiny corpus write a GGUF file that C loads, and C's
#    probabilities for a fixed input equal PyTorch's (also with token features,
#    and with bar positions);
#  - --init from a model without bar positions, with --bar-positions: the table
#    starts at zero, so the continued model computes what its origin did;
#  - a learnt harmoniser in the --init model is written into the new one;
#  - drum styles (--drum-styles): C's probabilities equal PyTorch's for every
#    style block; --init from a model without styles copies its table into every
#    block (the same model for every style); Groove file names give their style;
#    generate --drum-style picks a block, refuses a style the model lacks, and
#    the C trainer refuses to continue a model with styles;
#  - --train-styles moves only the named styles' blocks (every other weight,
#    and so the pop drums, byte for byte) and refuses any, an unknown style, a
#    model without styles, no --init and a corpus without those grooves;
#  - drum style guidance reaches generate's output (a model whose pop block
#    differs from "any": other drums at weight 0 than at the default, 1.5);
#  - the trainer's loss and gradients on a fixed batch equal the reference's
#    (python/reference.py getdiff_loss, which tests/test_getdiff.c holds C to);
#  - the task mix draws chords, single tracks, the accompaniment task and t
#    with the probabilities src/model/train.c uses (within 4.5 standard errors);
#  - stopped after 3 steps and resumed to 6 equals 6 straight;
#  - 2 DDP ranks (gloo) equal 1 process with the doubled batch;
#  - a corrupt corpus and bad options exit 1 with a one-line reason.
# Skips (with a message) without Debian's python3-torch.
set -u
cd "$(dirname "$0")/.."
GM=${GETMUSIC_BIN:-build/getmusic}
TOOL=${GETMUSIC_TOOL_PROBS:-build/tool_probs}
PY=/usr/bin/python3
. tests/lib.sh
if ! "$PY" -c "import torch, numpy" 2>/dev/null; then
  echo "  (python3-torch missing: PyTorch trainer tests skipped)" >&2
  echo "test_python_train: 0 passed, 0 failed, 1 skipped"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
SMALL="--embd 8 --hidden 16 --layers 1 --heads 2 --ffn 32 --batch 2 --threads 1 --workers 0 --quiet --warmup 2 --lr 3e-3 --ema-every 1 --eval-every 3 --eval-segments 4"
mkdir -p "$tmp/in"
cp examples/melody.mid "$tmp/in/a.mid"
"$GM" prepare "$tmp/in" -o "$tmp/c" --window 64 --hop 32 --valid-percent 0 --quiet >/dev/null 2>&1 && ok || bad "prepare tiny corpus"

# --- GGUF out, C in: the same probabilities ---------------------------------
for feat in "" "--token-features" "--bar-positions" "--bar-positions --drum-styles"; do
  if "$PY" python/train.py "$tmp/c" -o "$tmp/m.gguf" $SMALL --steps 4 $feat 2>"$tmp/err"; then ok; else bad "train.py 4 steps $feat: $(cat "$tmp/err")"; fi
  [ -s "$tmp/m.gguf" ] && [ -s "$tmp/m.gguf.pt" ] && [ -s "$tmp/m.gguf.log.jsonl" ] && ok || bad "outputs missing $feat"
  if [ -x "$TOOL" ]; then
    "$PY" - "$tmp" "$feat" <<'EOF' && "$TOOL" "$tmp/m.gguf" "$tmp/in.bin" "$tmp/got.bin" 2>"$tmp/err" && ok || bad "C cannot run the model $feat: $(cat "$tmp/err")"
import sys, struct, torch
sys.path.insert(0, "python")
import model as M
d = sys.argv[1]
g = M.gguf_py.GGUFReader(d + "/m.gguf")
cfg = M.config_from_gguf(g); cfg.dropout = 0.0
assert cfg.P == (280 if sys.argv[2] == "--token-features" else 0), ("token features in the file", cfg.P, sys.argv[2])
want_q = {"--bar-positions": 32, "--bar-positions --drum-styles": 32 * len(M.DRUM_STYLES)}.get(sys.argv[2], 0)
assert cfg.Q == want_q, ("bar positions in the file", cfg.Q, sys.argv[2])
feat = None
if cfg.P:
    p, dr = g.kv["getmusic.layout.prefixes"], g.kv["getmusic.layout.is_drum"]
    feat = M.ref.token_features(g.kv["getmusic.tokens"], p, dr, cfg.P)
m = M.GETDiffFast(cfg, feat=feat).eval()
M.load_gguf_weights(m, g, "m.gguf")
gen = torch.Generator().manual_seed(5)
B, L = 2, 40
x = torch.randint(0, cfg.V + 2, (B, cfg.R, L), generator=gen)
cond = torch.randint(0, 2, (B, cfg.R, L), generator=gen)
t = torch.tensor([0, 71])
pos = torch.randint(0, cfg.Q, (B, L), generator=gen) if cfg.Q else None
with torch.no_grad():
    torch.softmax(m(x, cond, t, pos), -1).numpy().astype("float32").tofile(d + "/want.bin")
open(d + "/in.bin", "wb").write(struct.pack("<2i", B, L) + x.int().numpy().tobytes() + cond.int().numpy().tobytes()
                                + t.int().numpy().tobytes() + (pos.int().numpy().tobytes() if cfg.Q else b""))
EOF
    "$PY" - "$tmp" "$feat" <<'EOF' && ok || bad "C probabilities differ from PyTorch's $feat"
import sys, numpy as np
a, b = np.fromfile(sys.argv[1] + "/got.bin", np.float32), np.fromfile(sys.argv[1] + "/want.bin", np.float32)
err = float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")
print("  python/train.py model %s in C vs PyTorch: %d probabilities, worst abs error %.2e" % (sys.argv[2] or "(plain)", b.size, err), file=sys.stderr)
sys.exit(0 if err < 1e-5 else 1)
EOF
  else
    echo "  (tool_probs not built: C check skipped)" >&2
  fi
done

# --- --init a plain model with --bar-positions: a zero table, the same model --
"$PY" python/train.py "$tmp/c" -o "$tmp/plain.gguf" $SMALL --steps 2 2>"$tmp/err" &&
"$PY" python/train.py "$tmp/c" -o "$tmp/bp.gguf" $SMALL --steps 1 --init "$tmp/plain.gguf" --bar-positions 2>>"$tmp/err" &&
"$PY" - "$tmp" <<'EOF' 2>>"$tmp/err" && ok || bad "--init with --bar-positions: $(cat "$tmp/err")"
import sys, torch
sys.path.insert(0, "python")
import model as M
d = sys.argv[1]
g0, g1 = M.gguf_py.GGUFReader(d + "/plain.gguf"), M.gguf_py.GGUFReader(d + "/bp.gguf")
c0, c1 = M.config_from_gguf(g0), M.config_from_gguf(g1)
assert c0.Q == 0 and c1.Q == 32, (c0.Q, c1.Q)
m0 = M.GETDiffFast(c0).eval(); M.load_gguf_weights(m0, g0, "plain.gguf")
m1 = M.GETDiffFast(c1).eval(); M.load_gguf_weights(m1, g0, "plain.gguf")    # what --init builds, before any step
assert float(m1.embeddings.bar_position_embeddings.weight.abs().max()) == 0.0
x = torch.randint(0, c0.V + 2, (1, c0.R, 20)); cond = torch.zeros_like(x); t = torch.tensor([50])
with torch.no_grad():
    d01 = float((m0(x, cond, t) - m1(x, cond, t, torch.randint(0, 32, (1, 20)))).abs().max())
assert d01 == 0.0, d01
EOF

# --- the learnt harmoniser a model carries survives --init (python/harmonizer.py writes one) --
"$PY" python/harmonizer.py selftest "$tmp/hz" --model "$tmp/plain.gguf" 2>"$tmp/err" &&
"$PY" python/train.py "$tmp/c" -o "$tmp/hz.gguf" $SMALL --steps 1 --init "$tmp/hz/tiny.gguf" 2>>"$tmp/err" &&
"$GM" info --model "$tmp/hz.gguf" | grep -q "^harmoniser learnt, for bare melodies: selftest" &&
  ok || bad "--init keeps the model's harmoniser: $(cat "$tmp/err")"

# --- --init a model with bar positions, with --drum-styles: every block a copy --
"$PY" python/train.py "$tmp/c" -o "$tmp/bp2.gguf" $SMALL --steps 2 --bar-positions 2>"$tmp/err" &&
"$PY" python/train.py "$tmp/c" -o "$tmp/st.gguf" $SMALL --steps 1 --init "$tmp/bp2.gguf" --drum-styles 2>>"$tmp/err" &&
"$PY" - "$tmp" <<'EOF' 2>>"$tmp/err" && ok || bad "--init with --drum-styles: $(cat "$tmp/err")"
import sys, torch
sys.path.insert(0, "python")
import model as M
d = sys.argv[1]
g0, g1 = M.gguf_py.GGUFReader(d + "/bp2.gguf"), M.gguf_py.GGUFReader(d + "/st.gguf")
c0, c1 = M.config_from_gguf(g0), M.config_from_gguf(g1)
assert c0.Q == 32 and c1.Q == 32 * len(M.DRUM_STYLES), (c0.Q, c1.Q)
assert g1.kv["getmusic.bar_positions"] == 32 and g1.kv["getmusic.drum_styles"] == list(M.DRUM_STYLES), g1.kv.get("getmusic.drum_styles")
m0 = M.GETDiffFast(c0).eval(); M.load_gguf_weights(m0, g0, "bp2.gguf")
m1 = M.GETDiffFast(c1).eval(); M.load_gguf_weights(m1, g0, "bp2.gguf")    # what --init builds, before any step
x = torch.randint(0, c0.V + 2, (1, c0.R, 20)); cond = torch.zeros_like(x); t = torch.tensor([50])
pos = torch.randint(0, 32, (1, 20))
with torch.no_grad():
    for s in range(len(M.DRUM_STYLES)):
        assert float((m0(x, cond, t, pos) - m1(x, cond, t, pos + 32 * s)).abs().max()) == 0.0, s
names = {"drummer1/session1/1_funk_80_beat_4-4.mid": "funk", "drummer5/session2/10_jazz-funk_116_fill_4-4.mid": "jazz",
         "x/3_afrocuban-bembe_122_beat_3-4.mid": "latin", "x/7_rock_100_beat_4-4.mid": "pop", "001/001.mid": "any",
         "x/2_neworleans-secondline_94_beat_4-4.mid": "world", "my_song_2.mid": "any"}
for n, want in names.items():
    assert M.DRUM_STYLES[M.drum_style_of(n)] == want, (n, M.DRUM_STYLES[M.drum_style_of(n)], want)
EOF
"$GM" info --model "$tmp/st.gguf" --json > "$tmp/info.json" 2>"$tmp/err" && grep -q '"drum_styles": \["any", "pop", "funk", "hiphop", "jazz", "latin", "world"\]' "$tmp/info.json" &&
  ok || bad "info --model lists the drum styles: $(cat "$tmp/info.json" "$tmp/err" | head -c 300)"
"$GM" generate examples/melody.mid -o "$tmp/jazz.mid" --model "$tmp/st.gguf" --targets drums --drum-style jazz --json > "$tmp/gen.json" 2>"$tmp/err" &&
  grep -q '"drum_style": "jazz"' "$tmp/gen.json" && ok || bad "generate --drum-style jazz: $(cat "$tmp/err")"
"$GM" generate examples/melody.mid -o "$tmp/pop.mid" --model "$tmp/st.gguf" --targets drums --json > "$tmp/gen.json" 2>"$tmp/err" &&
  grep -q '"drum_style": "pop"' "$tmp/gen.json" && ok || bad "generate's default drum style is pop: $(cat "$tmp/err")"
"$GM" generate examples/melody.mid -o "$tmp/x.mid" --model "$tmp/st.gguf" --drum-style bossa 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q "not one of the model's: any, pop" "$tmp/err" && ok || bad "unknown style: rc $rc, $(cat "$tmp/err")"
"$GM" generate examples/melody.mid -o "$tmp/x.mid" --model "$tmp/bp2.gguf" --drum-style jazz 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "not one of the model's: any" "$tmp/err" && ok || bad "style asked of a model without styles: rc $rc, $(cat "$tmp/err")"
# drum style guidance: nothing to guide towards without styles (the same bytes), a negative weight refused
"$GM" generate examples/melody.mid -o "$tmp/g0.mid" --model "$tmp/bp2.gguf" --targets drums --drum-style-guidance 0 2>"$tmp/err" &&
"$GM" generate examples/melody.mid -o "$tmp/g3.mid" --model "$tmp/bp2.gguf" --targets drums --drum-style-guidance 3 2>>"$tmp/err" &&
  cmp -s "$tmp/g0.mid" "$tmp/g3.mid" && ok || bad "drum style guidance changed a model without styles: $(cat "$tmp/err")"
"$GM" generate examples/melody.mid -o "$tmp/x.mid" --model "$tmp/st.gguf" --drum-style-guidance -1 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q "0..100" "$tmp/err" && ok || bad "negative drum style guidance: rc $rc, $(cat "$tmp/err")"
"$GM" train "$tmp/c" -o "$tmp/ct.gguf" --init "$tmp/st.gguf" --steps 1 --quiet 2>"$tmp/err"; rc=$?
[ $rc -ne 0 ] && grep -q "python/train.py --drum-styles" "$tmp/err" && ok || bad "C trainer on a model with styles: rc $rc, $(cat "$tmp/err")"

# --- --train-styles: only the named styles' blocks of the bar-position table move --
# a corpus with a song and a jazz groove (Groove's file-name convention gives the style)
mkdir -p "$tmp/in2" && cp examples/melody.mid "$tmp/in2/a.mid"
"$PY" - "$tmp/in2/1_jazz_120_beat_4-4.mid" <<'EOF' 2>"$tmp/err" && ok || bad "writing a drum groove: $(cat "$tmp/err")"
import struct, sys
def vlq(n):
    b = [n & 0x7f]; n >>= 7
    while n: b.append((n & 0x7f) | 0x80); n >>= 7
    return bytes(reversed(b))
ev, last = [], 0
for q in range(32):              # 8 bars: kick on 1 and 3, snare on 2 and 4, hats on the 8ths
    for t, n in ((q * 96, 36 if q % 2 == 0 else 38), (q * 96, 42), (q * 96 + 48, 42)):
        ev += [(t, 0x99, n, 90), (t + 24, 0x89, n, 0)]
trk = bytearray()
for t, st, n, v in sorted(ev):
    trk += vlq(t - last) + bytes([st, n, v]); last = t
trk += b"\x00\xff\x2f\x00"
open(sys.argv[1], "wb").write(b"MThd" + struct.pack(">IHHH", 6, 0, 1, 96) + b"MTrk" + struct.pack(">I", len(trk)) + trk)
EOF
"$GM" prepare "$tmp/in2" -o "$tmp/c2" --window 64 --hop 32 --valid-percent 0 --quiet >/dev/null 2>&1 &&
"$PY" python/train.py "$tmp/c2" -o "$tmp/b0.gguf" $SMALL --steps 2 --bar-positions 2>"$tmp/err" &&
"$PY" python/train.py "$tmp/c2" -o "$tmp/s0.gguf" $SMALL --steps 1 --init "$tmp/b0.gguf" --drum-styles 2>>"$tmp/err" &&
"$PY" python/train.py "$tmp/c2" -o "$tmp/s1.gguf" $SMALL --steps 3 --init "$tmp/s0.gguf" --train-styles jazz \
    --drum-overlay 1 --style-dropout 0 2>>"$tmp/err" &&
"$PY" - "$tmp" <<'EOF' 2>>"$tmp/err" && ok || bad "--train-styles jazz moved other weights: $(cat "$tmp/err")"
import sys, numpy as np
sys.path.insert(0, "python")
import model as M
d = sys.argv[1]
t0, t1 = M.gguf_py.GGUFReader(d + "/s0.gguf").tensors, M.gguf_py.GGUFReader(d + "/s1.gguf").tensors
assert set(t0) == set(t1)
jazz = M.DRUM_STYLES.index("jazz")
for n in t0:
    a, b = np.asarray(t0[n]), np.asarray(t1[n])
    if n == M.BAR_TABLE:
        moved = sorted(set(np.where((a != b).reshape(a.shape[0], -1).any(1))[0].tolist()))
        assert moved and set(moved) <= set(range(32 * jazz, 32 * jazz + 32)), moved
    else:
        assert np.array_equal(a, b), n
EOF
"$GM" generate examples/melody.mid -o "$tmp/p0.mid" --model "$tmp/s0.gguf" --targets drums 2>"$tmp/err" &&
"$GM" generate examples/melody.mid -o "$tmp/p1.mid" --model "$tmp/s1.gguf" --targets drums 2>>"$tmp/err" &&
  cmp -s "$tmp/p0.mid" "$tmp/p1.mid" && ok || bad "--train-styles jazz changed the pop drums: $(cat "$tmp/err")"
# drum style guidance through generate: a model whose pop block differs from "any" (random rows)
# plays other drums at weight 0 and at the default, and the same bytes for the same weight twice
"$PY" - "$tmp" <<'EOF' 2>"$tmp/err" && ok || bad "writing a model with distinct style blocks: $(cat "$tmp/err")"
import sys, numpy as np
sys.path.insert(0, "python")
import model as M
d = sys.argv[1]
g = M.gguf_py.GGUFReader(d + "/s0.gguf")
w = M.gguf_py.GGUFWriter()
M.gguf_py.copy_kv(g, w)
rng = np.random.default_rng(7)
for n, t in g.tensors.items():
    t = np.array(t, np.float32)
    if n == M.BAR_TABLE:
        pop = M.DRUM_STYLES.index("pop")
        t[32 * pop:32 * pop + 32] = rng.normal(0, 2, (32, t.shape[1]))
    w.add_tensor(n, t)
w.write(d + "/sd.gguf")
EOF
for gs in 0 1.5 1.5; do
  "$GM" generate examples/melody.mid -o "$tmp/sd$gs.mid" --model "$tmp/sd.gguf" --targets drums --seed 3 \
    --drum-style-guidance $gs 2>"$tmp/err" || bad "generate --drum-style-guidance $gs: $(cat "$tmp/err")"
done
cmp -s "$tmp/sd0.mid" "$tmp/sd1.5.mid" && bad "drum style guidance left the drums of a model with distinct styles unchanged" || ok
"$GM" generate examples/melody.mid -o "$tmp/sdd.mid" --model "$tmp/sd.gguf" --targets drums --seed 3 2>"$tmp/err" &&
  cmp -s "$tmp/sdd.mid" "$tmp/sd1.5.mid" && ok || bad "the default drum style guidance is not 1.5: $(cat "$tmp/err")"
for arg in "--init $tmp/s0.gguf --train-styles any" "--init $tmp/s0.gguf --train-styles bossa" \
           "--init $tmp/b0.gguf --train-styles jazz" "--train-styles jazz"; do
  "$PY" python/train.py "$tmp/c2" -o "$tmp/x.gguf" $SMALL --steps 1 $arg 2>"$tmp/err"; rc=$?
  [ $rc -eq 1 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q "train-styles" "$tmp/err" && ok || bad "$arg: rc $rc, $(cat "$tmp/err")"
done
"$PY" python/train.py "$tmp/c" -o "$tmp/x.gguf" $SMALL --steps 1 --init "$tmp/s0.gguf" --train-styles funk 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no grooves of those styles" "$tmp/err" && ok || bad "--train-styles without grooves: rc $rc, $(cat "$tmp/err")"

# --- the loss of a fixed batch: trainer == reference -------------------------
"$PY" - <<'EOF' 2>"$tmp/err" && ok || bad "trainer loss differs from the reference: $(cat "$tmp/err")"
import sys, torch
sys.path.insert(0, "python")
import model as M
ref = M.ref
cfg = ref.GETDiffConfig(R=10, V=50, E=8, H=16, NL=2, NH=2, F=32, max_cols=64, dropout=0.0)
torch.manual_seed(0)
m = M.GETDiffFast(cfg)
with torch.no_grad():
    for p in m.parameters():
        p.copy_(torch.randn(p.shape) * 0.3)
    m.embeddings.word_embeddings.weight[cfg.V].zero_()
g = torch.Generator().manual_seed(2)
B, L = 3, 24
x0 = torch.randint(0, cfg.V, (B, 10, L), generator=g)
x0[0, 2:4] = cfg.V; x0[1, :, 20:] = cfg.V
cond = torch.randint(0, 2, (B, 10, L), generator=g) * (x0 != cfg.V)
t = torch.tensor([0, 5, 90]); pt = torch.tensor([0.01, 0.02, 0.005])
xt = ref.corrupt(x0, cond, t, g, V=cfg.V)
l1 = ref.getdiff_loss(m(xt, cond, t), x0, xt, cond, t, pt)
l1.backward(); g1 = [p.grad.clone() for p in m.parameters()]; m.zero_grad()
l2, _ = M.diffusion_loss(m, x0, xt, cond, t, pt)
l2.backward(); g2 = [p.grad.clone() for p in m.parameters()]
rl = abs(l1.item() - l2.item()) / abs(l1.item())
rg = max(float((a - b).abs().max() / (a.abs().max() + 1e-12)) for a, b in zip(g1, g2))
print("  trainer loss vs reference: rel %.1e, gradients rel %.1e" % (rl, rg), file=sys.stderr)
assert rl < 1e-5 and rg < 1e-3, (rl, rg)
EOF
[ -s "$tmp/err" ] && grep -q "trainer loss" "$tmp/err" && cat "$tmp/err" >&2

# --- the task mix and t: C's probabilities -----------------------------------
"$PY" - <<'EOF' 2>"$tmp/err" && ok || bad "sampling statistics: $(cat "$tmp/err")"
import sys, numpy as np
sys.path.insert(0, "python")
import sampling as S
from train import TSampler
E, W = 99, 16
lay = {"classes": [{"name": "lead", "is_drum": 0}, {"name": "counter", "is_drum": 0},
                   {"name": "piano", "is_drum": 0}, {"name": "drums", "is_drum": 1}]}
seg = np.zeros((10, W), np.uint16); seg[6:8] = E          # lead, counter, piano present; no drums
drums = np.full((3, 10, W), E, np.uint16); drums[:, 6:8] = 7
def z(p, n, N):  # standard score of n successes in N at probability p
    return abs(n - p * N) / np.sqrt(p * (1 - p) * N)
N = 6000
for opt, p_acc in ((S.SampleOptions(), 0.0), (S.SampleOptions(0.6, 0.3, 0.5), 0.3)):
    ch = single = acc = over = 0
    for i in range(N):
        x0, cond, u = S.make_sample(seg, S.sample_rng(1, 0, i), opt, E, lay, np.arange(3), 3, drums)
        given = cond[8].any(); ch += given
        tgt = [(x0[2 * c] != E).any() and not cond[2 * c].any() for c in range(4)]
        cnd = [cond[2 * c].any() for c in range(4)]
        live = [(x0[2 * c] != E).any() for c in range(4)]
        over += live[3]
        single += sum(live) == 1
        acc += cnd[0] and not any(cnd[1:]) and all(tgt[1:3]) and given and opt.accomp > 0 and sum(live) >= 3
    # chords given: accomp always, else chord_given
    pc = p_acc + (1 - p_acc) * opt.chord_given
    assert z(pc, ch, N) < 4.5, ("chords", ch / N, pc)
    # one track alone: 10% of the non-accompaniment samples
    assert z((1 - p_acc) * opt.single, single, N) < 4.5, ("single", single / N)
    po = opt.drum_overlay * (1 - (1 - p_acc) * opt.single * 3 / 4)   # laid in, and not blanked by a single-track draw
    assert z(po, over, N) < 4.5 if po else over == 0, ("overlay", over / N, po)
    if p_acc:   # the original mix also yields "lead given, the rest targets" sometimes: at least p_acc
        assert acc >= p_acc * N - 4.5 * np.sqrt(p_acc * (1 - p_acc) * N), ("accomp", acc / N)
ts = TSampler(100); rng = np.random.default_rng(3)
h = np.bincount([ts.draw(rng)[0] for _ in range(20000)], minlength=100)
chi2 = float(((h - 200.0) ** 2 / 200.0).sum())
assert chi2 < 99 + 5 * np.sqrt(2 * 99), ("t histogram chi2", chi2)
print("  task mix and t histogram: within sampling error (t chi2 %.0f on 99 dof)" % chi2, file=sys.stderr)
EOF
cat "$tmp/err" >&2

# --- the drum overlay is laid bar by bar ------------------------------------
"$PY" - <<'EOF' 2>"$tmp/err" && ok || bad "overlay by bars: $(cat "$tmp/err")"
import sys, numpy as np
sys.path.insert(0, "python")
import sampling as S
W, PAD = 40, 15
d_pos = np.arange(W) % 16                                   # the drum part: 4/4 bars of 16ths
d = np.stack([100 + np.arange(W), 200 + np.arange(W)])      # a distinct token per drum column
pos = np.r_[np.arange(16), np.arange(12), np.arange(12)]    # the song: a 4/4 bar, then two 3/4 bars
out = S.lay_by_bars(d, d_pos, pos, PAD)
want = np.r_[np.arange(16), 16 + np.arange(12), 32 + np.arange(8)]
assert (out[0, :36] == 100 + want).all() and (out[1, :36] == 200 + want).all(), out
assert (out[:, 36:] == PAD).all(), out              # the third bar: the drum part has only 8 columns of it
pos2 = np.r_[np.arange(20), np.arange(4), np.arange(4), np.arange(12)]   # 5/4, two 1/4 bars, then a fourth bar
out2 = S.lay_by_bars(d, d_pos, pos2, PAD)
assert (out2[0, :16] == 100 + np.arange(16)).all() and (out2[0, 16:20] == PAD).all(), out2[0]
assert (out2[0, 20:28] == np.r_[116 + np.arange(4), 132 + np.arange(4)]).all(), out2[0]
assert (out2[0, 28:] == 100 + np.arange(12)).all(), out2[0]   # past the part's 3 bars: from its first again
E = 99
lay = {"classes": [{"name": "lead", "is_drum": 0}, {"name": "counter", "is_drum": 0},
                   {"name": "piano", "is_drum": 0}, {"name": "drums", "is_drum": 1}]}
tok = np.full((3, 10, 16), E, np.uint16)
tok[0, 6:8] = 5                       # drums alone
tok[1, 0:2] = 7                       # a melody alone
tok[2, 0:2] = 7; tok[2, 6:8] = 5      # a melody with drums
assert list(S.drums_alone(tok, np.arange(3), lay, E)) == [True, False, False]
assert sorted(S.repeat_drums_alone(tok, np.arange(3), lay, E, 3).tolist()) == [0, 0, 0, 1, 2]
assert S.repeat_drums_alone(tok, np.arange(3), lay, E, 1).tolist() == [0, 1, 2]
print("  overlay: every column from the drum column of its bar and position; drums-only segments repeated",
      file=sys.stderr)
EOF
cat "$tmp/err" >&2

# --- the harmonising task (--chord-target) and the backbeat filter by style --
"$PY" - <<'EOF' 2>"$tmp/err" && ok || bad "chord target / judged filter: $(cat "$tmp/err")"
import sys, numpy as np
sys.path.insert(0, "python")
import sampling as S
E, W = 99, 32
lay = {"classes": [{"name": "lead", "is_drum": 0, "prefix": "L"}, {"name": "counter", "is_drum": 0, "prefix": "C"},
                   {"name": "piano", "is_drum": 0, "prefix": "P"}, {"name": "drums", "is_drum": 1, "prefix": "D"}]}
seg = np.full((10, W), E, np.uint16)
seg[0:2] = 7; seg[4:6] = 8; seg[8:10] = 9          # lead, piano, chord labels
n, hits = 4000, 0
for k in range(n):
    x0, cond, u = S.make_sample(seg, S.sample_rng(1, k, 0), S.SampleOptions(0.5, 0.3, chord_target=0.25), E, lay)
    if ((cond[8:] == 0) & (x0[8:] != E)).all():      # chord rows are targets: only the harmonising task does that
        hits += 1
        assert cond[0:2].all() and (x0[0:2] == 7).all(), "the lead is the condition"
        assert (x0[2:8] == E).all() and not cond[2:8].any(), "every other track blank"
assert abs(hits / n - 0.25) < 4.5 * np.sqrt(0.25 * 0.75 / n), hits / n
for k in range(200):                                  # without it, chord rows are never targets
    x0, cond, u = S.make_sample(seg, S.sample_rng(1, k, 0), S.SampleOptions(0.5, 0.3), E, lay)
    assert not ((cond[8:] == 0) & (x0[8:] != E)).any()
# The backbeat filter: two drums-only segments of 4 bars, rests only; only a judged one is left out.
vocab = ["<pad>", "D166"] + ["x"] * 6                 # token 1: key 38, a snare (a drum token is key + 128)
tok = np.full((2, 10, 64), E, np.uint16)
tok[:, 6] = 0
pos = np.tile(np.arange(16), 4)[None].repeat(2, 0)
kept, out = S.drop_weak_backbeats(tok, pos, np.arange(2), lay, vocab, 8, E, 0.5)
assert out == 2 and len(kept) == 0, (kept, out)
kept, out = S.drop_weak_backbeats(tok, pos, np.arange(2), lay, vocab, 8, E, 0.5, judged=lambda s: s == 1)
assert out == 1 and kept.tolist() == [0], (kept, out)
tok[1, 6, 4::16] = 1; tok[1, 6, 12::16] = 1           # segment 1: a snare on 2 and 4 of every bar
kept, out = S.drop_weak_backbeats(tok, pos, np.arange(2), lay, vocab, 8, E, 0.5, judged=lambda s: s == 1)
assert out == 0 and kept.tolist() == [0, 1], (kept, out)
print("  harmonising task: the lead given, chords the targets, the rest blank; the filter judges what it is told",
      file=sys.stderr)
EOF
cat "$tmp/err" >&2

# --- resume == uninterrupted -------------------------------------------------
"$PY" python/train.py "$tmp/c" -o "$tmp/a.gguf" $SMALL --steps 6 --dropout 0.1 2>"$tmp/err" || bad "6 straight: $(cat "$tmp/err")"
"$PY" python/train.py "$tmp/c" -o "$tmp/b.gguf" $SMALL --steps 6 --stop-after 3 --dropout 0.1 2>"$tmp/err" || bad "3 steps: $(cat "$tmp/err")"
"$PY" python/train.py "$tmp/c" -o "$tmp/b.gguf" $SMALL --steps 6 --resume --dropout 0.1 2>"$tmp/err" || bad "resume: $(cat "$tmp/err")"
cmpw() {  # worst abs difference of two GGUF files' tensors, under a bound
  "$PY" - "$1" "$2" "$3" "$4" <<'EOF'
import sys, numpy as np
sys.path.insert(0, "python")
import gguf_py
a, b = gguf_py.GGUFReader(sys.argv[1]), gguf_py.GGUFReader(sys.argv[2])
d = max(float(np.abs(a.tensors[n].astype(np.float64) - b.tensors[n]).max()) for n in a.tensors)
print("  %s: worst weight difference %.1e" % (sys.argv[4], d), file=sys.stderr)
sys.exit(0 if d <= float(sys.argv[3]) else 1)
EOF
}
cmpw "$tmp/a.gguf" "$tmp/b.gguf" 1e-6 "stopped at 3 and resumed vs 6 straight" && ok || bad "resumed run differs"

# --- 2 processes (DDP, gloo) == 1 process with the doubled batch ------------
# The ranks are started by hand with the environment torchrun gives them:
# Debian's torchrun (1.13) fails inside its elastic agent on Python 3.11
# before starting any worker ('NoneType' object has no attribute 'get').
D="--embd 8 --hidden 16 --layers 1 --heads 2 --ffn 32 --threads 1 --workers 0 --quiet --warmup 2 --lr 3e-3 --ema-every 1 --eval-every 100 --dropout 0 --steps 4"
"$PY" python/train.py "$tmp/c" -o "$tmp/one.gguf" $D --batch 4 2>"$tmp/err" || bad "1 process: $(cat "$tmp/err")"
port=$((29500 + RANDOM % 400))
for r in 0 1; do
  MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2 RANK=$r LOCAL_RANK=$r OMP_NUM_THREADS=1 \
    timeout 300 "$PY" python/train.py "$tmp/c" -o "$tmp/two.gguf" $D --batch 2 >"$tmp/err$r" 2>&1 &
done
wait
[ -s "$tmp/two.gguf" ] && cmpw "$tmp/one.gguf" "$tmp/two.gguf" 1e-5 "2 ranks x batch 2 vs 1 x batch 4" && ok \
  || bad "2 ranks differ from 1: $(tail -3 "$tmp/err0")"

# --- bad input ----------------------------------------------------------------
cp -r "$tmp/c" "$tmp/bad"
printf '\x55' | dd of="$tmp/bad/corpus.bin" bs=1 seek=3000 conv=notrunc 2>/dev/null
"$PY" python/train.py "$tmp/bad" -o "$tmp/x.gguf" $SMALL --steps 1 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "checksum" "$tmp/err" && ok || bad "corrupt corpus: rc $rc, $(cat "$tmp/err")"
"$PY" python/train.py "$tmp/c" -o "$tmp/x.gguf" --hidden 30 --heads 4 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && ok || bad "bad sizes accepted (rc $rc)"
"$PY" python/train.py "$tmp/c" -o "$tmp/x.gguf" --init models/default.gguf --steps 1 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "vocabulary" "$tmp/err" && ok || bad "--init with another vocabulary: rc $rc, $(cat "$tmp/err")"

finish test_python_train
