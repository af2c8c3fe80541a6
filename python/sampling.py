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

BAR_POSITIONS = 32   # docs/MODEL.md "Bar positions": positions are 0..31


class SampleOptions:
    """The knobs of the task mix (getmusic train's --chord-given, --accomp, --drum-overlay)."""

    def __init__(self, chord_given=0.25, accomp=0.0, drum_overlay=0.0, single=0.1, chord_target=0.0):
        self.chord_given = chord_given    # P(chord rows are a condition) outside the accompaniment task
        self.chord_target = chord_target  # P(the harmonising task: lead given, chord rows the targets, the rest blank)
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
    any_ = np.asarray(train_idx, np.int64)[drums_alone(tokens, train_idx, layout, EMPTY)]
    full = [s for s in any_ if (tokens[s][2 * dc] != EMPTY).all()]
    pool = full if len(full) >= 16 else any_
    return np.asarray(pool, np.int64), dc


def bar_numbers(pos):
    """(W) bar positions -> (W) bar number of each column from the segment's first."""
    starts = np.asarray(pos) == 0
    starts[0] = False
    return np.cumsum(starts)


def lay_by_bars(d, d_pos, pos, pad):
    """Drum rows d (2, W) with bar positions d_pos, laid on a segment with bar
    positions pos, as src/model/train.c overlay_drums does: each column takes the
    drum column of the same bar and bar position; a position the drum bar lacks
    is a rest (pad); bars past the part's last start it again. Column by column
    instead, a song's odd bar (3 or 5 beats) shifted the rest of the part off
    the song's bar positions."""
    dbar, sbar = bar_numbers(d_pos), bar_numbers(pos)
    nb = int(dbar[-1]) + 1
    at = np.full((nb, BAR_POSITIONS), -1, np.int64)     # (bar, position) -> drum column
    at[dbar, d_pos] = np.arange(len(d_pos))
    src = at[sbar % nb, pos]                            # (W)
    return np.where(src >= 0, d[:, np.maximum(src, 0)], pad)


def make_sample(seg, rng, opt, EMPTY, layout, pool=None, dc=-1, tokens=None, info=None, positions=None, pad=None):
    """seg: (R, W) uint16 tokens -> (x0 (R, W) int64, cond (R, W) uint8, u (R, W) float32).
    cond = 1 on condition cells, 0 on targets and EMPTY cells; u decides the
    corruption once t is known (MASK where u < ctt[t] on target cells).
    info: a dict that gets "overlay", the pool segment laid in the drum rows (or -1).
    positions: ((W) this segment's bar positions, (n_segments, W) the corpus's) and
    pad, the rest token: the overlay is laid bar by bar (lay_by_bars); without
    them column by column (a corpus with no bar positions)."""
    nc = (seg.shape[0] - 2) // 2
    x0 = seg.astype(np.int64)
    if info is not None:
        info["overlay"] = -1
    if pool is not None and len(pool) and dc >= 0 and opt.drum_overlay > 0:
        if rng.random() < opt.drum_overlay and (x0[2 * dc] == EMPTY).all():
            k = int(pool[rng.integers(len(pool))])
            if info is not None:
                info["overlay"] = k
            d = tokens[k][2 * dc:2 * dc + 2].astype(np.int64)
            if positions is not None:
                d = lay_by_bars(d, positions[1][k], positions[0], pad)
            live = (x0[:2 * nc] != EMPTY).any(axis=0)      # (W) columns where the song goes on
            x0[2 * dc:2 * dc + 2] = np.where(live, d, EMPTY)
    present = [c for c in range(nc) if (x0[2 * c] != EMPTY).any()]
    role = np.zeros(nc, np.int64)              # 0 absent/blanked, 1 target, 2 condition
    lead = next((i for i, c in enumerate(layout["classes"]) if c["name"] == "lead"), 0)
    chords = False
    if lead in present and opt.chord_target > 0 and rng.random() < opt.chord_target:
        return finish_sample(x0, harmonise_roles(lead, nc), EMPTY, rng)
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
    return finish_sample(x0, rl, EMPTY, rng)


def finish_sample(x0, rl, EMPTY, rng):
    """x0 (R, W) and each row's role rl (R: 0 blank, 1 target, 2 condition) ->
    make_sample's (x0, cond, u)."""
    x0[rl == 0] = EMPTY
    cond = ((rl[:, None] == 2) & (x0 != EMPTY)).astype(np.uint8)
    u = rng.random(x0.shape, dtype=np.float32)
    return x0, cond, u


def harmonise_roles(lead, nc):
    """(R) row roles of the harmonising task (python/train.py --chord-target):
    the lead is the condition, the chord rows (the song's labels) are the
    targets and every other track is blank, so the network learns to write the
    chords a bare melody implies (issue 21), as it writes any other row."""
    rl = np.zeros(2 * nc + 2, np.int64)
    rl[2 * lead:2 * lead + 2] = 2
    rl[2 * nc:] = 1
    return rl


KICK, SNARE = (35, 36), (37, 38, 40)   # the keys of src/music/score.c gm_drum_kit_group (and --ghost-velocity's snare)


def drum_token_mask(vocab_tokens, layout, V, keys):
    """(V + 2) bool: the drum tokens that hold any of `keys` (a drum token is the
    class prefix and its keys + 128, src/music/vocab.c)."""
    out = np.zeros(V + 2, bool)
    prefixes = [c["prefix"] for c in layout["classes"] if c["is_drum"]]
    for t, tok in enumerate(vocab_tokens[:V]):
        if tok[:1] in prefixes and tok[1:2].isdigit():
            out[t] = any(int(k) - 128 in keys for k in tok[1:].split())
    return out


def backbeat_share(drums, pos, is_snare, EMPTY):
    """Share of a segment's whole 4/4 bars (16 columns from a bar line, all with
    drums) that have a snare on both 2 and 4 (positions 4 and 12), as `getmusic
    eval`'s both_backbeats counts them; NaN with fewer than 4 such bars (a fill
    file, which has no groove to judge)."""
    starts = [j for j in np.flatnonzero(pos == 0) if j + 16 <= len(pos) and
              (pos[j:j + 16] == np.arange(16)).all() and (drums[j:j + 16] != EMPTY).all()]
    if len(starts) < 4:
        return float("nan")
    return float(np.mean([is_snare[drums[j + 4]] and is_snare[drums[j + 12]] for j in starts]))


def drop_weak_backbeats(tokens, seg_pos, train_idx, layout, vocab_tokens, V, EMPTY, least, judged=None):
    """train_idx without the drums-only segments whose 4/4 bars have a snare on
    both 2 and 4 in fewer than `least` of them (python/train.py
    --drum-backbeat-min): the default drums are a pop backbeat, and Groove's
    pop-style grooves have it in only half their bars. Segments with other
    tracks, or fewer than 4 whole 4/4 bars (fills), stay; so do those for
    which judged(segment) is false (with drum styles only the pop grooves are
    judged: jazz and latin have no backbeat to keep). Returns (kept indices, left out)."""
    dc = next((i for i, c in enumerate(layout["classes"]) if c["is_drum"]), -1)
    if dc < 0 or least <= 0 or seg_pos is None:
        return train_idx, 0
    is_snare = drum_token_mask(vocab_tokens, layout, V, SNARE)
    alone = drums_alone(tokens, train_idx, layout, EMPTY)
    keep = [s for s, a in zip(train_idx, alone)
            if not (a and (judged is None or judged(s)) and
                    backbeat_share(tokens[s][2 * dc], seg_pos[s], is_snare, EMPTY) < least)]
    return np.asarray(keep, np.int64), len(train_idx) - len(keep)


def drums_alone(tokens, idx, layout, EMPTY):
    """(len(idx)) bool: the segments whose only track is the drums (Groove's)."""
    dc = next((i for i, c in enumerate(layout["classes"]) if c["is_drum"]), -1)
    nc = (tokens.shape[1] - 2) // 2
    return np.array([dc >= 0 and (tokens[s][2 * dc] != EMPTY).any() and
                     all((tokens[s][2 * c] == EMPTY).all() for c in range(nc) if c != dc) for s in idx], bool)


def repeat_drums_alone(tokens, train_idx, layout, EMPTY, times):
    """train_idx with its drums-only segments `times` times over (python/train.py
    --drums-alone-repeat): beside the songs' overlays they are a sixth of the
    drum samples, too few to move the drums' own prior (models/README.md, stage 5)."""
    if times <= 1:
        return train_idx
    alone = train_idx[drums_alone(tokens, train_idx, layout, EMPTY)]
    return np.concatenate([train_idx] + [alone] * (times - 1))

