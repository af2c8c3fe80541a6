#!/usr/bin/env python3
"""Trains the downbeat classifier of src/music/metre.c and writes its weights
to src/music/metre_net.h.

    build/bench_metre_features > features.txt
    /usr/bin/python3 bench/metre_train.py features.txt [src/music/metre_net.h]

A small network reads the inputs of 2*CONTEXT+1 beats around a beat
(bench_metre_features: metre.c's own numbers, so the C side computes exactly
what was learnt from) and says how likely the beat is to be the 1st, 2nd,
3rd, 4th or a later beat of its bar. Trained on the POP909 songs outside the
validation split whose annotation is 4/4 and whose beats metre.c finds;
full-batch Adam, fixed seed. Also writes the bar lengths' odds (from the
same songs' annotations) that the tracker's transitions use, and prints the
validation songs' downbeats found by a Python copy of the tracker (the C
bench, bench_metre_accuracy, is the measure that counts).
"""
import sys
import numpy as np
import torch

CONTEXT, HIDDEN, EPOCHS, CLASSES, STATES = 6, 32, 300, 5, 6


def read(path):
    songs, cur = [], None
    for line in open(path):
        if line.startswith("song"):
            p = line.split()
            cur = dict(name=p[1], valid=int(p[3]), bpb=int(p[5]), aligned=int(p[7]), rows=[])
            songs.append(cur)
        else:
            cur["rows"].append([float(v) for v in line.split()])
    for s in songs:
        a = np.array(s.pop("rows"), dtype=np.float32)
        s["x"], s["y"] = a[:, :-1], a[:, -1].astype(int)
    return songs


def window(x):
    """Inputs of beats i-CONTEXT..i+CONTEXT side by side, zeros past the ends."""
    n, f = x.shape
    pad = np.vstack([np.zeros((CONTEXT, f), np.float32), x, np.zeros((CONTEXT, f), np.float32)])
    return np.hstack([pad[k:k + n] for k in range(2 * CONTEXT + 1)])


def bar_hazard(songs):
    """P(bar ends after beat s+1 | it lasted s+1 beats), bars of 2 to 6 beats."""
    lens = np.zeros(STATES + 2)
    for s in songs:
        starts = np.nonzero(s["y"] == 0)[0]
        for d in np.diff(starts):
            if 2 <= d <= STATES:
                lens[d] += 1
    lens /= lens.sum()
    h = np.zeros(STATES)
    for k in range(STATES):
        left = lens[k + 1:].sum()
        h[k] = lens[k + 1] / left if left > 0 else 1
    h[STATES - 1] = 1
    return h


def decode(logp, log_prior, hazard, lam):
    """The tracker of metre.c: states = beats since the downbeat."""
    cls = [min(k, CLASSES - 1) for k in range(STATES)]
    e = lam * (logp - log_prior)[:, cls]
    stay, jump = np.log(np.maximum(1 - hazard, 1e-12)), np.log(np.maximum(hazard, 1e-12))
    v, back = e[0].copy(), np.zeros((len(e), STATES), int)
    for i in range(1, len(e)):
        nv = np.empty(STATES)
        j = int(np.argmax(v + jump))
        nv[0], back[i, 0] = v[j] + jump[j], j
        nv[1:], back[i, 1:] = v[:-1] + stay[:-1], np.arange(STATES - 1)
        v = nv + e[i]
    k, starts = int(np.argmax(v)), []
    for i in range(len(e) - 1, -1, -1):
        if k == 0:
            starts.append(i)
        k = back[i, k]
    return set(starts)


def found(s, starts):
    ref = np.nonzero(s["y"] == 0)[0]
    return np.mean([i in starts for i in ref]) if len(ref) else 0


def c_array(name, a):
    flat = ", ".join("%.6g" % v for v in np.asarray(a).ravel())
    return "static const float %s[%d] = {%s};\n" % (name, np.asarray(a).size, flat)


def main():
    songs = read(sys.argv[1])
    out = sys.argv[2] if len(sys.argv) > 2 else "src/music/metre_net.h"
    use = [s for s in songs if s["bpb"] == 4 and s["aligned"]]
    train, valid = [s for s in use if not s["valid"]], [s for s in use if s["valid"]]
    X = np.vstack([window(s["x"])[s["y"] >= 0] for s in train])
    y = np.concatenate([s["y"][s["y"] >= 0] for s in train])
    mu, sd = X.mean(0), X.std(0) + 1e-6
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, CLASSES))
    opt = torch.optim.Adam(net.parameters(), lr=0.01, weight_decay=1e-5)
    xt, yt = torch.tensor((X - mu) / sd), torch.tensor(y)
    for _ in range(EPOCHS):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xt), yt)
        loss.backward()
        opt.step()
    prior = np.bincount(y, minlength=CLASSES) / len(y)
    hazard = bar_hazard(train)
    w1 = net[0].weight.detach().numpy() / sd  # standardising folded in
    b1 = net[0].bias.detach().numpy() - w1 @ mu
    w2, b2 = net[2].weight.detach().numpy(), net[2].bias.detach().numpy()
    print("training songs %d, beats %d, loss %.3f" % (len(train), len(y), loss.item()))
    def score(group, lam):
        r = []
        for s in group:
            z = np.tanh(window(s["x"]) @ w1.T + b1) @ w2.T + b2
            z = z - z.max(1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(1, keepdims=True))
            r.append(found(s, decode(logp, np.log(prior), hazard, lam)))
        return np.mean(r)
    # The weight of the classifier against the bar odds, chosen on a quarter
    # of the training songs (the validation songs only report).
    lams = (0.2, 0.3, 0.5, 0.7, 1.0)
    fit = [score(train[::4], lam) for lam in lams]
    lam = lams[int(np.argmax(fit))]
    print("training quarter: downbeats found " + ", ".join("%.3f at %.1f" % (f, l) for f, l in zip(fit, lams)))
    print("validation 4/4 songs %d: downbeats found %.3f at weight %.1f (Python copy)" % (len(valid), score(valid, lam), lam))
    with open(out, "w") as f:
        f.write("/* metre_net.h — written by bench/metre_train.py from %d POP909 training songs\n"
                " * (%d beats); do not edit. The downbeat classifier of metre.c: inputs of\n"
                " * %d beats (GM_METRE_INPUTS each), tanh hidden layer, %d classes (1st..4th\n"
                " * beat of the bar, later). Standardising is folded into w1 and b1. */\n"
                % (len(train), len(y), 2 * CONTEXT + 1, CLASSES))
        f.write("#define METRE_NET_CONTEXT %d\n#define METRE_NET_HIDDEN %d\n#define METRE_NET_CLASSES %d\n"
                "#define METRE_NET_STATES %d\n#define METRE_NET_WEIGHT %.1f\n" % (CONTEXT, HIDDEN, CLASSES, STATES, lam))
        f.write(c_array("metre_net_w1", w1) + c_array("metre_net_b1", b1))
        f.write(c_array("metre_net_w2", w2) + c_array("metre_net_b2", b2))
        f.write("/* log of each class's share of the training beats */\n" + c_array("metre_net_log_prior", np.log(prior)))
        f.write("/* chance that a bar ends after its (s+1)th beat, having lasted that long */\n"
                + c_array("metre_bar_hazard", hazard))


if __name__ == "__main__":
    main()
