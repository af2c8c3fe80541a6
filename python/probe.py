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
For the drum class, on validation segments with drums (Groove parts), the
drums are the only target with nothing else given, and:
  - kick on 1: the prediction's mass on tokens with a kick (GM 35, 36) on the
    bar's first column, divided by its mean over all columns; snare on 2 and
    4: the same for a snare (37, 38, 40) on the columns of beats 2 and 4 (4/4
    bars). 1.0 means the model does not know where the bar starts (a model
    without bar positions cannot: docs/MODEL.md "Bar positions"); Groove's own
    validation drums score 2.8 and 1.7 (measured on the corpus's own tokens).
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
import sampling as S  # noqa: E402

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


def predict(net, x0, cls, lead, V, chords, with_lead=True, pos=None):
    """First-step probabilities (L, V) of class cls's pitch row: cls the only target.
    pos: (L) bar positions (for a model with them)."""
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
        p = None if pos is None else torch.as_tensor(pos.astype(np.int64))[None]
        return torch.softmax(net(x[None], cond[None], torch.tensor([T_FIRST]), p)[0, 2 * cls], -1)


STYLE = 0   # the drum style block the probe asks for (--drum-style; docs/MODEL.md "Drum styles")


def positions(corpus, s, W):
    """(W) bar-position rows of segment s (in the --drum-style block); in 4/4 from the segment
    start for a corpus without them."""
    p = corpus.seg_pos[s, :W] if corpus.seg_pos is not None else (np.arange(W) % 16).astype(np.uint8)
    return p.astype(np.int64) + M.ref.N_BAR_POSITIONS * STYLE


def probe_drums(net, corpus, cls, valid, W, n_segments):
    """Kick-on-1 and snare-on-2-and-4 lifts of the first-step drum prediction (module doc)."""
    T, V, R = corpus.tokens, corpus.V, corpus.R
    kick = np.flatnonzero(S.drum_token_mask(corpus.vocab_tokens, corpus.layout, V, S.KICK))
    snare = np.flatnonzero(S.drum_token_mask(corpus.vocab_tokens, corpus.layout, V, S.SNARE))
    segs = [s for s in valid if (T[s, 2 * cls, :W] != V).any()][:n_segments]
    lk, ls = [], []
    for s in segs:
        pos = positions(corpus, s, W)
        live = np.nonzero(T[s, 2 * cls, :W] != V)[0]                           # columns the part covers
        p = predict(net, torch.tensor(T[s, :, :W].astype(np.int64)), cls, -1, V, False, pos=pos).numpy()   # (W, V)
        pk, ps = p[live][:, kick].sum(1), p[live][:, snare].sum(1)            # (n_live)
        q = pos[live] % 16
        if pk.mean() > 0 and (q == 0).any():
            lk.append(pk[q == 0].mean() / pk.mean())
        if ps.mean() > 0 and np.isin(q, (4, 12)).any():
            ls.append(ps[np.isin(q, (4, 12))].mean() / ps.mean())
    if not segs:
        return None
    return {"segments": len(segs), "kick_on_1_lift": float(np.mean(lk)) if lk else None,
            "snare_on_2_4_lift": float(np.mean(ls)) if ls else None}


def sharpened_hit_share(p, hit, temperature, top_k):
    """p: (n, D) probabilities over the allowed tokens; hit: (D) bool -> (n) the mass
    on hits after the sampler's top-k and temperature (src/model/diffusion.c sample_logits)."""
    w = p ** (1.0 / temperature)
    if top_k:
        kth = -np.sort(-p, axis=1)[:, min(top_k, p.shape[1]) - 1:min(top_k, p.shape[1])]
        w = np.where(p >= kth, w, 0.0)
    return (w * hit).sum(1) / w.sum(1)


def probe_presence(net, corpus, cls, lead, valid, W, n_segments, temperature=0.5, top_k=5):
    """Drum presence at the first step with the lead and chords given (the accompaniment
    task generate runs): per 16th of 4/4 bars, the prediction's P(any hit) = 1 - P(<pad>),
    the share of hits the sampler would draw from it (its drum temperature and top-k),
    and the real frequency of a hit in the corpus's Groove pop-style validation parts."""
    T, V, R = corpus.tokens, corpus.V, corpus.R
    prefix = corpus.layout["classes"][cls]["prefix"]
    lo = min(i for i, s in enumerate(corpus.vocab_tokens) if s[:1] == prefix and s[1:2].isdigit())
    hi = 1 + max(i for i, s in enumerate(corpus.vocab_tokens) if s[:1] == prefix and s[1:2].isdigit())
    pad = corpus.vocab_tokens.index("<pad>")
    allowed = np.r_[np.arange(lo, hi), pad]
    hit = np.r_[np.ones(hi - lo, bool), False]
    songs = [s for s in valid if (T[s, 2 * lead, :W] != V).any() and (T[s, 2 * cls, :W] == V).all()][:n_segments]
    model_p, sampled = np.zeros(16), np.zeros(16)
    n = np.zeros(16)
    for s in songs:
        x0 = torch.tensor(T[s, :, :W].astype(np.int64))
        pos = positions(corpus, s, W)
        live = np.nonzero((T[s, :2 * len(corpus.layout["classes"]), :W] != V).any(0))[0]
        p = predict(net, x0, cls, lead, V, True, pos=pos).numpy()[live][:, allowed]    # (n_live, D)
        p = p / p.sum(1, keepdims=True)
        q = pos[live] % 16
        ph, sh = p[:, :-1].sum(1), sharpened_hit_share(p, hit, temperature, top_k)
        for k in range(16):
            model_p[k] += ph[q == k].sum()
            sampled[k] += sh[q == k].sum()
            n[k] += (q == k).sum()
    real, rn = np.zeros(16), np.zeros(16)
    pop = ("rock", "pop", "funk", "soul", "hiphop", "country", "punk")
    for s in valid:
        name = corpus.song_names[corpus.seg_song[s]]
        if "_beat_4-4" not in name or not any("_%s" % st in name for st in pop):
            continue
        live = np.nonzero(T[s, 2 * cls, :W] != V)[0]
        q = positions(corpus, s, W)[live] % 16
        h = T[s, 2 * cls, live] != pad
        for k in range(16):
            real[k] += h[q == k].sum()
            rn[k] += (q == k).sum()
    if not songs or not rn.sum():
        return None
    return {"segments": len(songs), "model_hit": (model_p / np.maximum(n, 1)).tolist(),
            "sampled_hit": (sampled / np.maximum(n, 1)).tolist(), "real_hit": (real / np.maximum(rn, 1)).tolist(),
            "temperature": temperature, "top_k": top_k}


def probe(net, cfg, corpus, n_segments):
    classes = corpus.layout["classes"]
    lead = next((i for i, k in enumerate(classes) if k["name"] == "lead"), 0)
    _, valid = corpus.split()
    T, V, R = corpus.tokens, corpus.V, corpus.R
    W = min(T.shape[2], cfg.max_cols)
    result = {}
    for cls, k in enumerate(classes):
        if cls == lead:
            continue
        ct = ChordTones(corpus.vocab_tokens, k["prefix"])
        segs = [s for s in valid if (T[s, 2 * lead, :W] != V).any() and (T[s, 2 * cls, :W] != V).any()
                and (T[s, R - 2, :W] != V).any()][:n_segments]
        if k["is_drum"]:
            r = probe_drums(net, corpus, cls, valid, W, n_segments)
            if r:
                result[k["name"]] = r
            r = probe_presence(net, corpus, cls, lead, valid, W, n_segments)
            if r:
                result[k["name"] + " presence"] = r
            continue
        given, empty, sens = [], [], []
        for s in segs:
            x0 = torch.tensor(T[s, :, :W].astype(np.int64))                   # (R, W)
            pos = positions(corpus, s, W)
            pg = predict(net, x0, cls, lead, V, True, pos=pos)              # (W, V)
            pe = predict(net, x0, cls, lead, V, False, pos=pos)
            pn = predict(net, x0, cls, lead, V, True, with_lead=False, pos=pos)
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
    ap.add_argument("--drum-style", default=None, help="a model with drum styles: the style to ask for (default pop)")
    a = ap.parse_args(argv)
    if a.segments < 1:
        fail("--segments must be positive")
    try:
        corpus = Corpus(a.corpus)
        net, cfg = load(a.model, corpus)
    except (CorpusError, M.gguf_py.GGUFError, ValueError, OSError, KeyError) as e:
        fail(str(e))
    global STYLE
    styles = M.DRUM_STYLES[:max(1, M.n_styles(cfg))] if M.n_styles(cfg) > 1 else ("any",)
    want = a.drum_style or ("pop" if "pop" in styles else "any")
    if want not in styles:
        fail("drum style %s is not one of the model's: %s" % (want, ", ".join(styles)))
    STYLE = styles.index(want)
    if not corpus.seg_valid.any():
        fail("%s has no validation segments" % a.corpus)
    r = probe(net, cfg, corpus, a.segments)
    if a.json:
        print(json.dumps({"model": a.model, "classes": r}))
        return
    print("%-8s %8s %22s %22s %12s" % ("class", "segments", "chord tones (given)", "chord tones (empty)", "sensitivity"))
    f = lambda x: "-" if x is None else "%.3f" % x  # noqa: E731
    for name, v in r.items():
        if "model_hit" in v:
            print("%s (lead and chords given, %d segments): P(a hit) per 16th of the bar" % (name, v["segments"]))
            for key, label in (("model_hit", "model, first step"),
                               ("sampled_hit", "drawn (T %g, top-k %d)" % (v["temperature"], v["top_k"])),
                               ("real_hit", "real pop drummers")):
                print("  %-24s %s  mean %.3f" % (label, " ".join("%.2f" % x for x in v[key]), np.mean(v[key])))
            continue
        if "kick_on_1_lift" in v:
            print("%-8s %8d   kick on 1: %s x the mean; snare on 2 and 4: %s x the mean" % (
                name, v["segments"], f(v["kick_on_1_lift"]), f(v["snare_on_2_4_lift"])))
            continue
        print("%-8s %8d %22s %22s %12.2e" % (name, v["segments"], f(v["chord_tones_given"]),
                                              f(v["chord_tones_empty"]), v["sensitivity"]))


if __name__ == "__main__":
    main()
