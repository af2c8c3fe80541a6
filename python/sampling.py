"""
python/sampling.py — what one training sample is, as src/model/train.c draws it:
which tracks are targets, which are conditions, whether chords are given,
whether a Groove drum part is laid beside a song without drums, and the
uniforms that decide its corruption. Pure numpy; runs in DataLoader workers.

Random streams: every sample has its own numpy Generator seeded by
(seed, step, index in the global batch), so N processes of batch B draw
exactly what one process of batch N·B draws, and a resumed run draws what an
uninterrupted one did. C uses its own generator (splitmix/xorshift): the
streams differ, the distributions are the same (tests/test_python_train.sh
compares the statistics).
"""

import numpy as np


class SampleOptions:
    """The knobs of the task mix (getmusic train's --chord-given, --accomp, --drum-overlay)."""

    def __init__(self, chord_given=0.25, accomp=0.0, drum_overlay=0.0, single=0.1):
        self.chord_given = chord_given    # P(chord rows are a condition) outside the accompaniment task
        self.accomp = accomp              # P(the accompaniment task: lead + chords given, the rest targets)
        self.drum_overlay = drum_overlay  # P(a drum-less segment gets a Groove part in its drum rows)
        self.single = single              # P(one present track alone), the original's 10%


def sample_rng(seed, step, index):
    return np.random.default_rng([int(seed), int(step), int(index)])


def drum_pool(tokens, train_idx, layout, EMPTY):
    """Training segments that hold drums and nothing else, full length first
    choice: (indices of drum-only segments whose drum rows have no EMPTY
    column, else all drum-only ones; drum class index or -1)."""
    dc = next((i for i, c in enumerate(layout["classes"]) if c["is_drum"]), -1)
    if dc < 0:
        return np.zeros(0, np.int64), -1
    R = tokens.shape[1]
    full, any_ = [], []
    for s in train_idx:
        seg = tokens[s]
        present = [(seg[2 * c] != EMPTY).any() for c in range((R - 2) // 2)]
        if present[dc] and sum(present) == 1:
            any_.append(s)
            if (seg[2 * dc] != EMPTY).all():
                full.append(s)
    pool = full if len(full) >= 16 else any_
    return np.asarray(pool, np.int64), dc


def make_sample(seg, rng, opt, EMPTY, layout, pool=None, dc=-1, tokens=None, info=None):
    """seg: (R, W) uint16 tokens -> (x0 (R, W) int64, cond (R, W) uint8, u (R, W) float32).
    cond = 1 on condition cells, 0 on targets and EMPTY cells; u decides the
    corruption once t is known (MASK where u < ctt[t] on target cells).
    info: a dict that gets "overlay", the pool segment laid in the drum rows (or -1)."""
    R, W = seg.shape
    nc = (R - 2) // 2
    x0 = seg.astype(np.int64)
    if info is not None:
        info["overlay"] = -1
    if pool is not None and len(pool) and dc >= 0 and opt.drum_overlay > 0:
        if rng.random() < opt.drum_overlay and (x0[2 * dc] == EMPTY).all():
            k = int(pool[rng.integers(len(pool))])
            if info is not None:
                info["overlay"] = k
            d = tokens[k]
            live = (x0[:2 * nc] != EMPTY).any(axis=0)      # (W) columns where the song goes on
            for r in (2 * dc, 2 * dc + 1):
                x0[r] = np.where(live, d[r], EMPTY)
    present = [c for c in range(nc) if (x0[2 * c] != EMPTY).any()]
    role = np.zeros(nc, np.int64)              # 0 absent/blanked, 1 target, 2 condition
    lead = next((i for i, c in enumerate(layout["classes"]) if c["name"] == "lead"), 0)
    chords = False
    if present and opt.accomp > 0 and rng.random() < opt.accomp and lead in present and len(present) > 1:
        for c in present:
            role[c] = 2 if c == lead else 1
        chords = True
    else:
        if present:
            if rng.random() < opt.single:
                role[present[rng.integers(len(present))]] = 1
            else:
                k = 1 + int(rng.integers(len(present)))
                order = rng.permutation(present)
                for i, c in enumerate(order):
                    role[c] = 1 if i < k else 2
        chords = rng.random() < opt.chord_given
    rl = np.concatenate([np.repeat(role, 2), [2 if chords else 0] * 2])    # (R)
    x0[rl == 0] = EMPTY
    cond = ((rl[:, None] == 2) & (x0 != EMPTY)).astype(np.uint8)
    u = rng.random((R, W), dtype=np.float32)
    return x0, cond, u
