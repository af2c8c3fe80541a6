"""
python/probe.py — does a model listen to its conditions? A minute's check of
a GGUF model on a corpus's validation segments, in token space (no sampling,
no MIDI, no chord recogniser):

    python3 python/probe.py MODEL.gguf CORPUS [--segments 12] [--json]

For each pitched class with a chord-tone question (counter, piano) and each
validation segment holding the lead and that class, the class is made the
only target (every cell MASK, t = 99, as in the first sampling step) with the
lead given, and:
  - chord-tone share: the prediction's probability mass on the chord tones of
    the column's chord (the chord rows' root and quality; each compound token
    counts the share of its pitches that are chord tones), divided by its mass
    on pitch tokens, averaged over columns with a chord; once with the chord
    rows given, once with them EMPTY. A model that follows the chords scores
    far above the second figure (the corpus's own piano is ~0.9).
  - sensitivity: the largest change of any probability in the target row when
    the lead is removed. Near 0 (1e-6) means the model ignores its input and
    predicts the same distribution in every column: the "unigram plateau" a
    run from scratch sits in for its first thousand-odd steps (the GPU runs
    of models/README.md's ablation never left it).
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
from corpus import Corpus, CorpusError  # noqa: E402

T_FIRST = 99   # the first step of a 100-step sampler: every target cell MASK


def fail(msg):
    print("probe.py: " + msg, file=sys.stderr)
    sys.exit(1)


def load(model_path, corpus):
    g = M.gguf_py.GGUFReader(model_path)
    cfg = M.config_from_gguf(g)
    if g.kv["getmusic.tokens"] != corpus.vocab_tokens:
        raise ValueError("%s: vocabulary differs from the corpus's" % model_path)
    net = M.GETDiffFast(cfg, feat=M.corpus_token_features(corpus, cfg))
    M.load_gguf_weights(net, g, model_path)
    return net.eval(), cfg


class ChordTones:
    """Per column of a segment, the chord's pitch-class set; per pitch token, the
    share of its pitches in it (tokens: (V) strings; prefix: the class's letter)."""

    def __init__(self, tokens, prefix):
        self.root = {tokens.index(r): i for i, r in enumerate(M.ref.ROOT_NAMES) if r in tokens}
        self.qual = {tokens.index(q): t for q, t in M.ref.QUALITY_INTERVALS.items() if q in tokens}
        self.ids = np.array([i for i, s in enumerate(tokens) if s[:1] == prefix and s[1:2].isdigit()])
        pcs = [[int(p) % 12 for p in tokens[i][1:].split()] for i in self.ids]
        # member[v, pc] = share of token ids[v]'s pitches whose class is pc: (n_ids, 12)
        self.member = np.zeros((len(self.ids), 12))
        for v, ps in enumerate(pcs):
            for p in ps:
                self.member[v, p] += 1.0 / len(ps)

    def share(self, p, root_row, qual_row):
        """p: (L, V) probabilities; root_row, qual_row: (L) tokens -> mean chord-tone share or None."""
        out = []
        for j in range(len(root_row)):
            r, q = self.root.get(int(root_row[j])), self.qual.get(int(qual_row[j]))
            if r is None or q is None:
                continue
            mask = np.zeros(12)
            mask[[(r + k) % 12 for k in q]] = 1
            pj = p[j, self.ids]
            if pj.sum() > 0:
                out.append(float(pj @ (self.member @ mask)) / float(pj.sum()))
        return float(np.mean(out)) if out else None


def predict(net, x0, cls, lead, V, chords, with_lead=True):
    """First-step probabilities (L, V) of class cls's pitch row: cls the only target."""
    R = x0.shape[0]
    x, cond = x0.clone(), torch.zeros_like(x0)
    for c in range((R - 2) // 2):
        rows = slice(2 * c, 2 * c + 2)
        if c == cls:
            x[rows] = V + 1
        elif c == lead and with_lead:
            cond[rows] = (x0[rows] != V).long()
        else:
            x[rows] = V
    if chords:
        cond[R - 2:] = (x0[R - 2:] != V).long()
    else:
        x[R - 2:] = V
    with torch.no_grad():
        return torch.softmax(net(x[None], cond[None], torch.tensor([T_FIRST]))[0, 2 * cls], -1)


def probe(net, cfg, corpus, n_segments):
    classes = corpus.layout["classes"]
    lead = next((i for i, k in enumerate(classes) if k["name"] == "lead"), 0)
    _, valid = corpus.split()
    T, V, R = corpus.tokens, corpus.V, corpus.R
    W = min(T.shape[2], cfg.max_cols)
    result = {}
    for cls, k in enumerate(classes):
        if k["is_drum"] or cls == lead:
            continue
        ct = ChordTones(corpus.vocab_tokens, k["prefix"])
        segs = [s for s in valid if (T[s, 2 * lead, :W] != V).any() and (T[s, 2 * cls, :W] != V).any()
                and (T[s, R - 2, :W] != V).any()][:n_segments]
        given, empty, sens = [], [], []
        for s in segs:
            x0 = torch.tensor(T[s, :, :W].astype(np.int64))                   # (R, W)
            pg = predict(net, x0, cls, lead, V, True)                        # (W, V)
            pe = predict(net, x0, cls, lead, V, False)
            pn = predict(net, x0, cls, lead, V, True, with_lead=False)
            a, b = ct.share(pg.numpy(), x0[R - 2], x0[R - 1]), ct.share(pe.numpy(), x0[R - 2], x0[R - 1])
            if a is not None and b is not None:
                given.append(a)
                empty.append(b)
            sens.append(float((pg - pn).abs().max()))
        if segs:
            result[k["name"]] = {"segments": len(segs), "chord_tones_given": float(np.mean(given)) if given else None,
                                 "chord_tones_empty": float(np.mean(empty)) if empty else None,
                                 "sensitivity": float(np.max(sens))}
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description="Does a model follow its chords and its lead? (token space)")
    ap.add_argument("model")
    ap.add_argument("corpus")
    ap.add_argument("--segments", type=int, default=12, help="validation segments per class (default 12)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.segments < 1:
        fail("--segments must be positive")
    try:
        corpus = Corpus(a.corpus)
        net, cfg = load(a.model, corpus)
    except (CorpusError, M.gguf_py.GGUFError, ValueError, OSError, KeyError) as e:
        fail(str(e))
    if not corpus.seg_valid.any():
        fail("%s has no validation segments" % a.corpus)
    r = probe(net, cfg, corpus, a.segments)
    if a.json:
        print(json.dumps({"model": a.model, "classes": r}))
        return
    print("%-8s %8s %22s %22s %12s" % ("class", "segments", "chord tones (given)", "chord tones (empty)", "sensitivity"))
    for name, v in r.items():
        f = lambda x: "-" if x is None else "%.3f" % x  # noqa: E731
        print("%-8s %8d %22s %22s %12.2e" % (name, v["segments"], f(v["chord_tones_given"]),
                                              f(v["chord_tones_empty"]), v["sensitivity"]))


if __name__ == "__main__":
    main()
