#!/usr/bin/env python3
"""
python/harmonizer.py — the learnt bare-melody harmoniser: a small
bidirectional GRU that reads a melody frame by frame (half bars) and gives
each frame's chord, trained on POP909's human labels, and stored inside a
getmusic model file (tensors `harmonizer.*`), where src/model/harmonize.c runs it.

    build/bench_harmonize dump frames.bin             # melodies + labels (C, as generate sees them)
    python/harmonizer.py train frames.bin --model models/default.gguf -o out.gguf
    python/harmonizer.py selftest OUT_DIR              # a random tiny net + inputs + logits (C test)

Input per frame (the C side computes the same): log(1 + 2·h) for h, the
melody's quarters per (struck on a beat, off it, held) × pitch class, from
gm_harmony_frames, plus 1 on a bar's first half. Network: Linear(37→H), ReLU,
GRU (L layers, bidirectional, PyTorch's gate order r, z, n), Linear(2H→96):
logits over chords root·8 + quality, in C (the melody moved to C first).

Training: Adam, songs in batches of 16, cross-entropy on labelled frames; the
epoch kept is the best on a held-out 5% of the training songs (never the
validation songs that bench_harmonize eval reports on).
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


def batch(songs):
    T = max(len(s[0]) for s in songs)
    X = np.zeros((len(songs), T, N_IN), np.float32)
    Y = -np.ones((len(songs), T), np.int64)
    for i, (h, lab, _) in enumerate(songs):
        X[i, :len(h)] = features(h)
        Y[i, :len(h)] = lab
    return torch.tensor(X), torch.tensor(Y)


TONES = [[0, 4, 7], [0, 3, 7], [0, 4, 8], [0, 3, 6], [0, 4, 7, 10], [0, 4, 7, 11], [0, 3, 7, 10], [0, 3, 6, 10]]


def tone_set(c):
    return {(c // 8 + t) % 12 for t in TONES[c % 8]}


def score(net, songs):
    """Per-frame argmax against the labels: root accuracy, share of the chosen chord's tones in the label."""
    net.eval()
    root = ov = n = 0
    with torch.no_grad():
        for s in songs:
            X, Y = batch([s])
            p = net(X)[0].argmax(-1).numpy()
            for a, b in zip(p, Y[0].numpy()):
                if b < 0:
                    continue
                n += 1
                root += a // 8 == b // 8
                A = tone_set(int(a))
                ov += len(A & tone_set(int(b))) / len(A)
    net.train()
    return root / max(n, 1), ov / max(n, 1)


def tensors(net):
    """The network as named float32 arrays (row-major, PyTorch's shapes)."""
    t = {"harmonizer.in.weight": net.inp.weight, "harmonizer.in.bias": net.inp.bias,
         "harmonizer.out.weight": net.out.weight, "harmonizer.out.bias": net.out.bias}
    for l in range(net.layers):
        for d, sfx in (("fwd", ""), ("bwd", "_reverse")):
            for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                t["harmonizer.gru.%d.%s.%s" % (l, d, k)] = getattr(net.rnn, "%s_l%d%s" % (k, l, sfx))
    return {k: v.detach().numpy().astype(np.float32) for k, v in t.items()}


def write_into(model_path, out_path, net, provenance):
    """OUT = MODEL with the harmoniser's keys and tensors (replacing any it had)."""
    g = gguf_py.GGUFReader(model_path)
    w = gguf_py.GGUFWriter(g.kv.get("general.alignment", gguf_py.DEFAULT_ALIGNMENT))
    gguf_py.copy_kv(g, w, keep=lambda key: not key.startswith("getmusic.harmonizer."))
    w.add_u32("getmusic.harmonizer.hidden", net.hidden)
    w.add_u32("getmusic.harmonizer.layers", net.layers)
    w.add_str("getmusic.harmonizer.source", provenance)
    for name, arr in g.tensors.items():
        if not name.startswith("harmonizer."):
            w.add_tensor(name, np.array(arr), g.tensor_info[name][0])
    for name, arr in tensors(net).items():
        w.add_tensor(name, arr)
    w.write(out_path)


def cmd_train(a):
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(a.threads)
    songs = read_dump(a.frames)
    train = [s for s in songs if s[2] == 0]
    order = np.random.permutation(len(train))
    n_hold = max(1, len(train) // 20)
    hold = [train[i] for i in order[:n_hold]]
    train = [train[i] for i in order[n_hold:]]
    net = Harmonizer(a.hidden, a.layers)
    opt = torch.optim.Adam(net.parameters(), a.lr)
    best, best_state, t0 = -1.0, None, time.time()
    for ep in range(a.epochs):
        np.random.shuffle(train)
        for i in range(0, len(train), 16):
            X, Y = batch(train[i:i + 16])
            loss = nn.functional.cross_entropy(net(X).reshape(-1, N_CHORDS), Y.reshape(-1), ignore_index=-1)
            opt.zero_grad()
            loss.backward()
            opt.step()
        root, ov = score(net, hold)
        print("epoch %d  loss %.3f  held-out root %.3f  tones in label %.3f  %.0f s" % (ep + 1, loss.item(), root, ov,
              time.time() - t0), flush=True)
        if ov > best:
            best, best_state, best_ep = ov, {k: v.clone() for k, v in net.state_dict().items()}, ep + 1
    net.load_state_dict(best_state)
    prov = "python/harmonizer.py: %d POP909 training songs, epoch %d of %d (held-out tones in label %.3f), hidden %d, layers %d" % (
        len(train), best_ep, a.epochs, best, a.hidden, a.layers)
    write_into(a.model, a.out, net, prov)
    print("wrote %s: %s" % (a.out, prov))


def cmd_selftest(a):
    """A random tiny harmoniser inside a copy of MODEL, a melody's features and the logits PyTorch gives."""
    torch.manual_seed(7)
    net = Harmonizer(hidden=8, layers=2).eval()
    for p in net.parameters():
        nn.init.uniform_(p, -0.5, 0.5)
    rng = np.random.default_rng(3)
    h = (rng.random((11, 36)) < 0.15) * rng.random((11, 36)) * 2
    h = h.astype(np.float32)
    with torch.no_grad():
        logits = net(torch.tensor(features(h))[None])[0].numpy()
    os.makedirs(a.dir, exist_ok=True)
    write_into(a.model, os.path.join(a.dir, "tiny.gguf"), net, "selftest")
    h.tofile(os.path.join(a.dir, "h.f32"))
    logits.astype(np.float32).tofile(os.path.join(a.dir, "logits.f32"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("frames", help="bench_harmonize dump output")
    t.add_argument("--model", required=True, help="model file to carry the harmoniser")
    t.add_argument("-o", "--out", required=True)
    t.add_argument("--hidden", type=int, default=64)
    t.add_argument("--layers", type=int, default=2)
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("selftest")
    s.add_argument("dir")
    s.add_argument("--model", required=True)
    a = ap.parse_args()
    cmd_train(a) if a.cmd == "train" else cmd_selftest(a)


if __name__ == "__main__":
    main()
