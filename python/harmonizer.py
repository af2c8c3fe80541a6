#!/usr/bin/env python3
"""
python/harmonizer.py — the learnt bare-melody harmoniser: small
bidirectional GRUs that read a melody frame by frame (half bars) and give
each frame's chord, trained on POP909's human labels, and stored inside a
getmusic model file (tensors `harmonizer.*`), where src/model/harmonize.c runs them.

    build/bench_harmonize dump frames.bin             # melodies + labels (C, as generate sees them)
    python/harmonizer.py train frames.bin --seed 2 --save net2.pt [--model M.gguf -o out.gguf]
    python/harmonizer.py eval frames.bin MEMBER...      # figures of one net or an ensemble
    python/harmonizer.py pack --model M.gguf -o out.gguf MEMBER...
    python/harmonizer.py selftest OUT_DIR --model M.gguf [--members K]   # tiny nets + logits (C test)

A MEMBER is a net saved by `train --save` (.pt) or a model file's harmoniser
(.gguf, every member it carries).

Input per frame (the C side computes the same): log(1 + 2·h) for h, the
melody's quarters per (struck on a beat, off it, held) × pitch class, from
gm_harmony_frames, plus 1 on a bar's first half. Network: Linear(37→H), ReLU,
GRU (L layers, bidirectional, PyTorch's gate order r, z, n), Linear(2H→96):
logits over chords root·8 + quality, in C (the melody moved to C first).

An ensemble of K nets (trained alike, different seeds) gives the mean of
their posteriors; the file then holds `getmusic.harmonizer.members` = K and
tensors `harmonizer.<k>.*` (k = 0..K-1). One net is written as before
(`harmonizer.*`, no members key), so older readers still load it.

Chord choice (as harmonize.c's choose_chords): per frame, the chord whose
tones the likely chords share most, argmax_c Σ_c2 P(c2)·|c ∩ c2| / |c|.

Training: Adam, songs in batches of 16, cross-entropy on labelled frames; the
epoch kept is the best (tones in label of that choice) on 5% of the training
songs held out, the same songs for every seed (--split-seed), never the
validation songs that `eval` and bench_harmonize eval report on. Options
tried (models/README.md has the figures; none beat the plain recipe on the
held-out songs): --shift N (each song moved by a random -N..N semitones, the
labels with it), --smooth E (label smoothing), --decay (cosine learning
rate), --dropout.
"""
import argparse
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_py  # noqa: E402

N_IN, N_CHORDS = 37, 96
GRU_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class Harmonizer(nn.Module):
    def __init__(self, hidden=64, layers=2, dropout=0.2):
        super().__init__()
        self.hidden, self.layers = hidden, layers
        self.inp = nn.Linear(N_IN, hidden)
        self.rnn = nn.GRU(hidden, hidden, layers, batch_first=True, bidirectional=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.out = nn.Linear(2 * hidden, N_CHORDS)

    def forward(self, x):  # x: [B, T, 37] → [B, T, 96]
        return self.out(self.rnn(torch.relu(self.inp(x)))[0])


def features(h):
    """h: [T, 36] quarters → [T, 37] network input."""
    pos = np.zeros((len(h), 1), np.float32)
    pos[::2] = 1
    return np.concatenate([np.log1p(2 * h), pos], 1).astype(np.float32)


def read_dump(path):
    """Songs of `bench_harmonize dump`: (h [T,36], labels [T], validation)."""
    raw = open(path, "rb").read()
    off, songs = 0, []
    while off < len(raw):
        n, valid = struct.unpack_from("<ii", raw, off)
        off += 8
        rec = np.frombuffer(raw, np.uint8, n * 148, off).reshape(n, 148)
        off += n * 148
        h = rec[:, :144].copy().view(np.float32).reshape(n, 36)
        lab = rec[:, 144:].copy().view(np.int32).reshape(n)
        songs.append((h, lab, valid))
    return songs


def split(songs, seed):
    """(train, held out): the dump's training songs, 5% held out by a permutation of `seed`."""
    train = [s for s in songs if s[2] == 0]
    order = np.random.RandomState(seed).permutation(len(train))
    n_hold = max(1, len(train) // 20)
    return [train[i] for i in order[n_hold:]], [train[i] for i in order[:n_hold]]


def transpose(song, k):
    """The song moved up k semitones: h's pitch classes and the labels' roots."""
    h, lab, valid = song
    h = np.roll(h.reshape(-1, 3, 12), k, axis=2).reshape(-1, 36)
    lab = np.where(lab >= 0, ((lab // 8 + k) % 12) * 8 + lab % 8, lab)
    return h, lab, valid


def batch(songs):
    T = max(len(s[0]) for s in songs)
    X = np.zeros((len(songs), T, N_IN), np.float32)
    Y = -np.ones((len(songs), T), np.int64)
    for i, (h, lab, _) in enumerate(songs):
        X[i, :len(h)] = features(h)
        Y[i, :len(h)] = lab
    return torch.tensor(X), torch.tensor(Y)


# ---------------------------------------------------------------------------
# Chord choice and figures (bench_harmonize eval's, on the dump's frames)
# ---------------------------------------------------------------------------

TONES = [[0, 4, 7], [0, 3, 7], [0, 4, 8], [0, 3, 6], [0, 4, 7, 10], [0, 4, 7, 11], [0, 3, 7, 10], [0, 3, 6, 10]]


def tone_matrix():
    """[96, 12]: 1 where chord c holds pitch class p."""
    m = np.zeros((N_CHORDS, 12), np.float32)
    for c in range(N_CHORDS):
        for t in TONES[c % 8]:
            m[c, (c // 8 + t) % 12] = 1
    return m


TONE_M = tone_matrix()
SHARE = (TONE_M @ TONE_M.T) / TONE_M.sum(1, keepdims=True)  # [c, c2]: |c ∩ c2| / |c|


def posterior(nets, h):
    """The members' mean chord posterior of one song: h [T, 36] → [T, 96]."""
    X = torch.tensor(features(h))[None]
    with torch.no_grad():
        return torch.stack([torch.softmax(n(X)[0], -1) for n in nets]).mean(0).numpy()


def choose(P):
    """Minimum-risk chords: P [T, 96] → [T]."""
    return (P @ SHARE.T).argmax(1)


def figures(nets, songs):
    """root, root+quality, changes a bar, melody CTR, tones in label of the chosen chords."""
    for n in nets:
        n.eval()
    root = exact = n_lab = changes = frames = ctr_num = ctr_den = tones = 0.0
    for h, lab, _ in songs:
        ch = choose(posterior(nets, h))
        changes += (ch[1:] != ch[:-1]).sum()
        frames += len(ch)
        hw = h.reshape(-1, 3, 12).sum(1)  # [T, 12]
        ctr_num += (hw * TONE_M[ch]).sum()
        ctr_den += hw.sum()
        m = lab >= 0
        c, l = ch[m], lab[m]
        n_lab += m.sum()
        root += (c // 8 == l // 8).sum()
        exact += (c == l).sum()
        tones += SHARE[c, l].sum()
    for n in nets:
        n.train()
    return dict(root=root / n_lab, exact=exact / n_lab, changes=changes / (frames / 2), ctr=ctr_num / ctr_den,
                tones=tones / n_lab)


def fmt(f):
    return "root %.1f%%  root+quality %.1f%%  changes/bar %.2f  melody CTR %.3f  tones in label %.3f" % (
        100 * f["root"], 100 * f["exact"], f["changes"], f["ctr"], f["tones"])


# ---------------------------------------------------------------------------
# Model files
# ---------------------------------------------------------------------------

def tensors(net, prefix="harmonizer."):
    """The network as named float32 arrays (row-major, PyTorch's shapes)."""
    t = {prefix + "in.weight": net.inp.weight, prefix + "in.bias": net.inp.bias,
         prefix + "out.weight": net.out.weight, prefix + "out.bias": net.out.bias}
    for l in range(net.layers):
        for d, sfx in (("fwd", ""), ("bwd", "_reverse")):
            for k in GRU_KEYS:
                t[prefix + "gru.%d.%s.%s" % (l, d, k)] = getattr(net.rnn, "%s_l%d%s" % (k, l, sfx))
    return {k: v.detach().numpy().astype(np.float32) for k, v in t.items()}


def member_prefix(k, n_members):
    """Tensor name prefix of member k: `harmonizer.` alone, `harmonizer.<k>.` in an ensemble."""
    return "harmonizer." if n_members == 1 else "harmonizer.%d." % k


def net_from(arrays, prefix, hidden, layers):
    """A Harmonizer holding the arrays named prefix + ... (as tensors() names them)."""
    net = Harmonizer(hidden, layers)
    ref = tensors(net, prefix)
    with torch.no_grad():
        params = dict(net.named_parameters())
        names = {prefix + "in.weight": "inp.weight", prefix + "in.bias": "inp.bias",
                 prefix + "out.weight": "out.weight", prefix + "out.bias": "out.bias"}
        for l in range(layers):
            for d, sfx in (("fwd", ""), ("bwd", "_reverse")):
                for k in GRU_KEYS:
                    names[prefix + "gru.%d.%s.%s" % (l, d, k)] = "rnn.%s_l%d%s" % (k, l, sfx)
        for n in ref:
            params[names[n]].copy_(torch.tensor(np.array(arrays[n]).reshape(ref[n].shape)))
    return net.eval()


def load_members(path):
    """The nets of a .pt (train --save) or of a model file's harmoniser."""
    if path.endswith(".pt"):
        d = torch.load(path)
        net = Harmonizer(d["hidden"], d["layers"])
        net.load_state_dict(d["state"])
        return [net.eval()]
    g = gguf_py.GGUFReader(path)
    H, L = g.kv["getmusic.harmonizer.hidden"], g.kv["getmusic.harmonizer.layers"]
    K = g.kv.get("getmusic.harmonizer.members", 1)
    return [net_from(g.tensors, member_prefix(k, K), H, L) for k in range(K)]


def write_into(model_path, out_path, nets, provenance):
    """OUT = MODEL with the harmoniser's keys and tensors (replacing any it had); every
    other key and tensor as MODEL has it."""
    if isinstance(nets, nn.Module):
        nets = [nets]
    if len({(n.hidden, n.layers) for n in nets}) != 1:
        raise SystemExit("harmonizer.py: an ensemble's members must share hidden size and layers")
    g = gguf_py.GGUFReader(model_path)
    w = gguf_py.GGUFWriter(g.kv.get("general.alignment", gguf_py.DEFAULT_ALIGNMENT))
    gguf_py.copy_kv(g, w, keep=lambda key: not key.startswith("getmusic.harmonizer."))
    w.add_u32("getmusic.harmonizer.hidden", nets[0].hidden)
    w.add_u32("getmusic.harmonizer.layers", nets[0].layers)
    if len(nets) > 1:
        w.add_u32("getmusic.harmonizer.members", len(nets))
    w.add_str("getmusic.harmonizer.source", provenance)
    for name, arr in g.tensors.items():
        if not name.startswith("harmonizer."):
            w.add_tensor(name, np.array(arr), g.tensor_info[name][0])
    for k, net in enumerate(nets):
        for name, arr in tensors(net, member_prefix(k, len(nets))).items():
            w.add_tensor(name, arr)
    w.write(out_path)


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------

def augmented(songs, shift, rng):
    """Each song moved by a random -shift..shift semitones (0: as it is)."""
    return [transpose(s, int(rng.randint(-shift, shift + 1))) if shift else s for s in songs]


def cmd_train(a):
    torch.manual_seed(a.seed)
    rng = np.random.RandomState(a.seed)
    torch.set_num_threads(a.threads)
    train, hold = split(read_dump(a.frames), a.split_seed)
    net = Harmonizer(a.hidden, a.layers, a.dropout)
    opt = torch.optim.Adam(net.parameters(), a.lr)
    best, best_state, best_ep, t0 = -1.0, None, 0, time.time()
    for ep in range(a.epochs):
        if a.decay:  # cosine from lr down to lr/20 over the epochs
            for g in opt.param_groups:
                g["lr"] = a.lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * ep / a.epochs)))
        order = rng.permutation(len(train))
        for i in range(0, len(train), 16):
            X, Y = batch(augmented([train[j] for j in order[i:i + 16]], a.shift, rng))
            loss = nn.functional.cross_entropy(net(X).reshape(-1, N_CHORDS), Y.reshape(-1), ignore_index=-1,
                                               label_smoothing=a.smooth)
            opt.zero_grad()
            loss.backward()
            opt.step()
        f = figures([net], hold)
        print("epoch %d  loss %.3f  held-out %s  %.0f s" % (ep + 1, loss.item(), fmt(f), time.time() - t0), flush=True)
        if f["tones"] > best:
            best, best_state, best_ep = f["tones"], {k: v.clone() for k, v in net.state_dict().items()}, ep + 1
    net.load_state_dict(best_state)
    prov = ("python/harmonizer.py: %d POP909 training songs, seed %d, epoch %d of %d (held-out tones in label %.3f), "
            "hidden %d, layers %d, dropout %g, shift ±%d, smoothing %g%s") % (
        len(train), a.seed, best_ep, a.epochs, best, a.hidden, a.layers, a.dropout, a.shift, a.smooth,
        ", cosine decay" if a.decay else "")
    if a.save:
        torch.save({"hidden": a.hidden, "layers": a.layers, "state": net.state_dict(), "source": prov}, a.save)
    if a.out:
        write_into(a.model, a.out, net, prov)
    print("kept: %s" % prov)


def cmd_eval(a):
    nets = [n for p in a.members for n in load_members(p)]
    songs = read_dump(a.frames)
    _, hold = split(songs, a.split_seed)
    print("%d member%s" % (len(nets), "s" if len(nets) > 1 else ""))
    print("held out (%3d training songs): %s" % (len(hold), fmt(figures(nets, hold))))
    valid = [s for s in songs if s[2] == 1]
    print("validation (%3d songs):        %s" % (len(valid), fmt(figures(nets, valid))))


def cmd_pack(a):
    nets = [n for p in a.members for n in load_members(p)]
    prov = a.source or "python/harmonizer.py pack: an ensemble of %d (%s)" % (
        len(nets), ", ".join(os.path.basename(p) for p in a.members))
    write_into(a.model, a.out, nets, prov)
    print("wrote %s: %s" % (a.out, prov))


def cmd_selftest(a):
    """Random tiny harmonisers inside a copy of MODEL, a melody's features and the
    scores PyTorch gives: one net's logits, or an ensemble's log mean posterior."""
    torch.manual_seed(7)
    nets = [Harmonizer(hidden=8, layers=2).eval() for _ in range(a.members)]
    for net in nets:
        for p in net.parameters():
            nn.init.uniform_(p, -0.5, 0.5)
    rng = np.random.default_rng(3)
    h = (rng.random((11, 36)) < 0.15) * rng.random((11, 36)) * 2
    h = h.astype(np.float32)
    if len(nets) == 1:
        with torch.no_grad():
            scores = nets[0](torch.tensor(features(h))[None])[0].numpy()  # [T, 96]
    else:
        scores = np.log(posterior(nets, h))  # [T, 96]
    os.makedirs(a.dir, exist_ok=True)
    write_into(a.model, os.path.join(a.dir, "tiny.gguf"), nets, "selftest")
    h.tofile(os.path.join(a.dir, "h.f32"))
    scores.astype(np.float32).tofile(os.path.join(a.dir, "logits.f32"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("frames", help="bench_harmonize dump output")
    t.add_argument("--model", help="model file to carry the harmoniser (with -o)")
    t.add_argument("-o", "--out")
    t.add_argument("--save", help="the kept net as a .pt (for eval and pack)")
    t.add_argument("--hidden", type=int, default=64)
    t.add_argument("--layers", type=int, default=2)
    t.add_argument("--dropout", type=float, default=0.2)
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--shift", type=int, default=0, help="transpose each song by a random -N..N semitones")
    t.add_argument("--smooth", type=float, default=0.0, help="label smoothing")
    t.add_argument("--decay", action="store_true", help="cosine learning-rate decay over the epochs")
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--split-seed", type=int, default=1, help="which training songs are held out")
    e = sub.add_parser("eval")
    e.add_argument("frames")
    e.add_argument("members", nargs="+")
    e.add_argument("--split-seed", type=int, default=1)
    p = sub.add_parser("pack")
    p.add_argument("members", nargs="+")
    p.add_argument("--model", required=True)
    p.add_argument("-o", "--out", required=True)
    p.add_argument("--source")
    s = sub.add_parser("selftest")
    s.add_argument("dir")
    s.add_argument("--model", required=True)
    s.add_argument("--members", type=int, default=1)
    a = ap.parse_args()
    if a.cmd == "train" and bool(a.model) != bool(a.out):
        ap.error("train: --model and -o go together")
    {"train": cmd_train, "eval": cmd_eval, "pack": cmd_pack, "selftest": cmd_selftest}[a.cmd](a)


if __name__ == "__main__":
    main()
