"""
dev/make_golden.py — writes dev/golden.bin, dev/golden_feat.bin and dev/golden_pos.bin, the numbers
the C engine is checked against.

Regenerate (deterministic: the same bytes every run):

    /usr/bin/python3 dev/make_golden.py                  # writes all three into dev/
    /usr/bin/python3 dev/make_golden.py OUT.bin [OUT_FEAT.bin [OUT_POS.bin]]   # elsewhere

dev/golden_feat.bin is the same computation with token features on (MODEL.md
"Token features", P = 280) and a random membership (FEAT_SEED): each real token
has 0..4 features drawn from a pool of 24 feature ids spread over 0..279 (so
tokens share features and their gradients accumulate); EMPTY and MASK none.
It has two more entries after `config`: `P` (i32 [1]) and `feat` (f32 [V+2, P],
the 0/1 membership), and the parameter embeddings.pitch_embeddings.weight (P, E)
with its gradient (grad.embeddings.pitch_embeddings.weight).

dev/golden_pos.bin is the same computation with bar positions on (MODEL.md
"Bar positions", Q = 32): two more entries after `config`, `Q` (i32 [1]) and
`pos` (i32 [B, L]; sample 0: bars of 4 columns, sample 1: 31, 0, 5, 5, … so
rows repeat and their gradients add), and the parameter
embeddings.bar_position_embeddings.weight (Q, H) with its gradient.

What it computes (python/reference.py, float32, dropout off), on the "tiny" config
R=6, V=37 (EMPTY=37, MASK=38), E=8, H=16, NL=2, NH=2, F=32, L=12, B=2, T=100:
  - parameters: weights and embeddings normal(0, 0.3), biases and LayerNorm
    shifts normal(0, 0.1), LayerNorm gains 1 + normal(0, 0.1), EMPTY row of the
    token embedding zero. Not MODEL.md's training init (normal(0, 0.02), zero
    biases): at 0.02 attention is uniform to 1e-7, so a wrong rotary
    convention (half-split instead of interleaved pairs, or no rotary at all)
    changes the logits by ~1e-7 relative and the test could not see it; at 0.3
    it changes them by ~27%. Non-zero biases and LayerNorm parameters make
    every parameter change the output;
  - a batch: x0 with EMPTY rows (sample 0: track pair rows 2-3 absent; sample 1:
    the chord rows 4-5 absent and columns 10-11 past the end of the piece);
    cond = targets and conditions (sample 0: rows 0-3 target, 4-5 condition;
    sample 1: rows 0-1 condition, 2-3 target, 4-5 flagged condition but EMPTY,
    so the weight-0 rule beats the 0.5 rule); t = [0, 57] (covers a_0 = 1 and
    a_t = 1 − ctt[56]/ctt[57]); pt = [0.01, 0.013]; x_t = x0 with about half of
    the target cells MASK (drawn once with a fixed generator, not the schedule,
    so t = 0 has masked cells too; each sample has masked and intact targets);
  - logits = model(x_t, cond, t), loss = getdiff_loss(logits, x0, x_t, cond, t, pt),
    the gradient of loss w.r.t. every parameter (word_embeddings' gradient holds
    both its input and its tied output use);
  - 10 AdamW steps (torch.optim.AdamW: lr 1e-3, betas (0.9, 0.999), eps 1e-8,
    weight_decay 0.01 on every parameter, no clipping), same batch each step,
    from the parameters above: adamw_losses[i] = the loss before step i+1
    (adamw_losses[0] == loss).

Format (MODEL.md "Golden file", version 1, little-endian):
    "GMGOLDEN" (8 bytes), u32 version = 1, u32 n_entries, then n_entries times:
    u32 name_len, name (no NUL), u32 dtype (0 = f32, 1 = i32), u32 ndim,
    u32 dims[ndim] (row-major, outermost first), data (prod(dims) values).
Entries, in this order:
    config        i32 [10]: R V E H NL NH F L B T
    <param name>  f32, one per parameter, in MODEL.md's order and shapes
                  (Linear weights (out, in); lm_head.weight is tied, not stored)
    x_t, cond, x0 i32 [B, R, L]
    t             i32 [B]
    pt            f32 [B]
    logits        f32 [B, R, L, V]
    loss          f32 [1]
    grad.<param name>  f32, same shapes, same order
    adamw_losses  f32 [10]
"""

import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from reference import N_BAR_POSITIONS, N_TOKEN_FEATURES, GETDiffConfig, GETDiffRef, T_STEPS, getdiff_loss  # noqa: E402

torch.set_num_threads(2)

SEED = 20240601
FEAT_SEED = 20240602
FEAT_POOL = 24
WEIGHT_STD = 0.3   # not MODEL.md's 0.02: see the docstring
BIAS_STD = 0.1
B, L = 2, 12
ADAM_STEPS = 10


def random_membership(V, P):
    """(V+2, P) 0/1: 0..4 features per real token from a pool of FEAT_POOL ids
    (always including 0 and P-1), EMPTY and MASK rows zero."""
    g = torch.Generator().manual_seed(FEAT_SEED)
    pool = torch.cat([torch.tensor([0, P - 1]), torch.randperm(P - 2, generator=g)[: FEAT_POOL - 2] + 1])
    feat = torch.zeros(V + 2, P)
    for v in range(V):
        k = int(torch.randint(0, 5, (1,), generator=g))
        pick = pool[torch.randperm(FEAT_POOL, generator=g)[:k]]
        feat[v, pick] = 1.0
    return feat


def bar_positions(Q):
    """(B, L) long: sample 0 in bars of 4 columns; sample 1 uses the last row and repeats."""
    pos = torch.zeros(B, L, dtype=torch.long)
    pos[0] = torch.arange(L) % 4
    pos[1] = torch.tensor([Q - 1, 0, 5, 5, 5, 9, 0, 1, Q - 1, 2, 2, 7])[:L]
    return pos


def build(P=0, Q=0):
    cfg = GETDiffConfig.tiny()
    cfg.P = P
    cfg.Q = Q
    V, R = cfg.V, cfg.R
    EMPTY, MASK = cfg.EMPTY, cfg.MASK
    g = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)

    feat = random_membership(V, P) if P > 0 else None
    model = GETDiffRef(cfg, feat=feat)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("LayerNorm.weight"):
                p.copy_(1.0 + torch.randn(p.shape, generator=g) * 0.1)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * BIAS_STD)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * WEIGHT_STD)
        model.embeddings.word_embeddings.weight[EMPTY].zero_()
    model.eval()

    x0 = torch.randint(0, V, (B, R, L), generator=g)
    x0[0, 2:4, :] = EMPTY            # sample 0: a whole track pair absent
    x0[1, 4:6, :] = EMPTY            # sample 1: no chords
    x0[1, :, 10:] = EMPTY            # sample 1: the piece ended at column 10
    cond = torch.zeros_like(x0)
    cond[0, 4:6, :] = 1
    cond[1, 0:2, :] = 1
    cond[1, 4:6, :] = 1              # EMPTY but flagged condition: weight must be 0
    target = (cond == 0) & (x0 != EMPTY)
    u = torch.rand(x0.shape, generator=g)
    masked = target & (u < 0.5)
    x_t = torch.where(masked, torch.full_like(x0, MASK), x0)
    for b in range(B):
        nm, nt = int(masked[b].sum()), int(target[b].sum())
        assert nm >= 3 and nt - nm >= 3, (b, nm, nt)
    t = torch.tensor([0, 57], dtype=torch.long)
    pt = torch.tensor([0.01, 0.013], dtype=torch.float32)
    pos = bar_positions(Q) if Q > 0 else None

    names = list(model.state_dict().keys())
    params0 = {k: v.detach().clone() for k, v in model.state_dict().items()}
    pmap = dict(model.named_parameters())
    assert sorted(pmap) == sorted(names), "state_dict and parameters differ"

    logits = model(x_t, cond, t, pos)
    loss = getdiff_loss(logits, x0, x_t, cond, t, pt, T=T_STEPS)
    model.zero_grad()
    loss.backward()
    grads = {k: pmap[k].grad.detach().clone() for k in names}
    logits = logits.detach().clone()
    loss_v = loss.detach().clone()

    opt = torch.optim.AdamW([pmap[k] for k in names], lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0.01)
    losses = []
    for _ in range(ADAM_STEPS):
        opt.zero_grad()
        lo = getdiff_loss(model(x_t, cond, t, pos), x0, x_t, cond, t, pt, T=T_STEPS)
        losses.append(lo.item())
        lo.backward()
        opt.step()
    assert losses[0] == loss_v.item()

    entries = []

    def add(name, arr, dtype):
        a = np.ascontiguousarray(np.asarray(arr), dtype="<f4" if dtype == 0 else "<i4")
        entries.append((name, dtype, a))

    add("config", [R, V, cfg.E, cfg.H, cfg.NL, cfg.NH, cfg.F, L, B, T_STEPS], 1)
    if P > 0:
        add("P", [P], 1)
        add("feat", feat.numpy(), 0)
    if Q > 0:
        add("Q", [Q], 1)
        add("pos", pos.numpy(), 1)
    for k in names:
        add(k, params0[k].numpy(), 0)
    add("x_t", x_t.numpy(), 1)
    add("cond", cond.numpy(), 1)
    add("x0", x0.numpy(), 1)
    add("t", t.numpy(), 1)
    add("pt", pt.numpy(), 0)
    add("logits", logits.numpy(), 0)
    add("loss", loss_v.reshape(1).numpy(), 0)
    for k in names:
        add("grad." + k, grads[k].numpy(), 0)
    add("adamw_losses", np.array(losses, dtype=np.float32), 0)

    info = dict(loss=loss_v.item(), losses=losses,
                masked=[int(masked[b].sum()) for b in range(B)],
                targets=[int(target[b].sum()) for b in range(B)])
    return entries, info


def serialize(entries):
    out = [b"GMGOLDEN", struct.pack("<II", 1, len(entries))]
    for name, dtype, a in entries:
        nb = name.encode("ascii")
        out.append(struct.pack("<I", len(nb)) + nb)
        out.append(struct.pack("<II", dtype, a.ndim) + struct.pack("<%dI" % a.ndim, *a.shape))
        out.append(a.tobytes())
    return b"".join(out)


def read_golden(path):
    """Reads a golden file back: {name: numpy array} (insertion-ordered)."""
    with open(path, "rb") as f:
        buf = f.read()
    assert buf[:8] == b"GMGOLDEN", "not a golden file"
    ver, n = struct.unpack_from("<II", buf, 8)
    assert ver == 1, "golden version %d" % ver
    off, res = 16, {}
    for _ in range(n):
        (ln,) = struct.unpack_from("<I", buf, off)
        off += 4
        name = buf[off:off + ln].decode("ascii")
        off += ln
        dtype, nd = struct.unpack_from("<II", buf, off)
        off += 8
        dims = struct.unpack_from("<%dI" % nd, buf, off)
        off += 4 * nd
        cnt = int(np.prod(dims)) if nd else 1
        res[name] = np.frombuffer(buf, dtype="<f4" if dtype == 0 else "<i4", count=cnt,
                                  offset=off).reshape(dims)
        off += 4 * cnt
    assert off == len(buf), "trailing bytes"
    return res


def write(path, P, Q=0):
    entries, info = build(P, Q)
    data = serialize(entries)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    back = read_golden(path)
    assert list(back) == [e[0] for e in entries]
    print("wrote %s: %d bytes, %d entries; loss %.6g; masked/targets %s/%s; adamw %.6g -> %.6g"
          % (path, len(data), len(entries), info["loss"], info["masked"], info["targets"],
             info["losses"][0], info["losses"][-1]))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "golden.bin")
    path_feat = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "golden_feat.bin")
    write(path, 0)
    write(path_feat, N_TOKEN_FEATURES)
    write(sys.argv[3] if len(sys.argv) > 3 else os.path.join(here, "golden_pos.bin"), 0, N_BAR_POSITIONS)


if __name__ == "__main__":
    main()
