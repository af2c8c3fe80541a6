"""python/chord_probe.py MODEL CORPUS [N]: can the network write the chord rows of a
bare melody (python/train.py --chord-target, issue 21)?

N validation POP909 segments of the corpus (default 30): the lead given, the
chord rows masked, every other row empty, as the harmonising task trains it.
Greedy iterative decoding: 4 rounds, each writing the surest quarter of the
cells still masked (its root and quality each at their argmax). Each half
bar's chord (at its first column) against the song's label: root right, root
and quality right, and the share of the chosen chord's tones that are in the
label (what a piano playing it scores against the labels; models/README.md,
stage 6, compares it with the learnt harmoniser's).
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import probe as P  # noqa: E402
from corpus import Corpus  # noqa: E402

ROOTS = P.M.ref.ROOT_NAMES
QUALITIES = list(P.M.ref.QUALITY_INTERVALS)     # GM_Q_* order
ROUNDS = 4


def tones(root, quality):
    return {(root + i) % 12 for i in P.M.ref.QUALITY_INTERVALS[QUALITIES[quality]]}


def write_chords(net, x0, pos, V, roots, quals):
    """x0 (R, W) a segment -> x (R, W) with its chord rows written by the network
    from the lead alone (rows 8, 9 the chord rows of the default layout)."""
    x, cond = x0.copy(), np.zeros_like(x0)
    x[2:8] = V                                       # every track but the lead: empty
    cond[0:2] = x0[0:2] != V
    x[8:10] = np.where(x0[8] != V, V + 1, V)         # chord cells of the song: masked
    for rnd in range(ROUNDS):
        masked = x[8] == V + 1
        if not masked.any():
            break
        t = max(1, P.T_FIRST * (ROUNDS - rnd) // ROUNDS)
        with torch.no_grad():
            logits = net(torch.as_tensor(x)[None], torch.as_tensor(cond)[None], torch.tensor([t]), pos)[0]
        p = torch.softmax(logits[8:10, :, :V].float(), -1).numpy()    # (2, W, V)
        rp, qp = p[0][:, roots], p[1][:, quals]                       # (W, 12), (W, 8)
        sure = rp.max(1) * qp.max(1)
        k = max(1, int(np.ceil(masked.sum() / (ROUNDS - rnd))))
        cols = np.flatnonzero(masked)[np.argsort(-sure[masked])[:k]]
        x[8, cols] = np.array(roots)[rp[cols].argmax(1)]
        x[9, cols] = np.array(quals)[qp[cols].argmax(1)]
    return x


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    torch.set_num_threads(int(os.environ.get("TH", "1")))
    corpus = Corpus(sys.argv[2])
    net, _ = P.load(sys.argv[1], corpus)
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    V, vt = corpus.V, corpus.vocab_tokens
    roots, quals = [vt.index(r) for r in ROOTS], [vt.index(q) for q in QUALITIES]
    root_of, qual_of = {t: i for i, t in enumerate(roots)}, {t: i for i, t in enumerate(quals)}
    _, valid = corpus.split()
    songs = [s for s in valid if (corpus.tokens[s, 0] != V).any() and (corpus.tokens[s, 8] != V).any()
             and (corpus.tokens[s, 2:8] != V).any()][:n]           # POP909: a lead, labels and more tracks
    right_root = right_chord = 0
    in_label = []
    for s in songs:
        x0 = corpus.tokens[s].astype(np.int64)
        pos = torch.as_tensor(corpus.seg_pos[s].astype(np.int64))[None]
        x = write_chords(net, x0, pos, V, roots, quals)
        for j in np.flatnonzero((x0[8] != V) & (corpus.seg_pos[s] % 8 == 0)):   # each half bar's first column
            label = (root_of.get(x0[8, j]), qual_of.get(x0[9, j]))
            got = (root_of.get(x[8, j]), qual_of.get(x[9, j]))
            if None in label or None in got:
                continue
            right_root += label[0] == got[0]
            right_chord += label == got
            chosen = tones(*got)
            in_label.append(len(chosen & tones(*label)) / len(chosen))
    h = max(1, len(in_label))
    print("%s: %d segments, %d half bars: root %.1f%%, root+quality %.1f%%, tones in label %.3f" %
          (os.path.basename(sys.argv[1]), len(songs), len(in_label), 100 * right_root / h, 100 * right_chord / h,
           float(np.mean(in_label)) if in_label else float("nan")))


if __name__ == "__main__":
    main()
