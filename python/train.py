#!/usr/bin/env python3
"""
python/train.py — the PyTorch trainer: trains GETDiff (docs/MODEL.md) on a
corpus made by `getmusic prepare` and writes the GGUF model file the C engine
runs. One GPU, N GPUs, or a cluster through torchrun; a CPU works too
(Debian's python3-torch).

    python/train.py CORPUS -o MODEL.gguf [--steps N] [--batch B] [--device cuda] ...
    torchrun --nproc_per_node 8 python/train.py CORPUS -o MODEL.gguf --batch 16   # 8 GPUs, global batch 128

Training semantics are getmusic train's (src/model/train.c): target selection,
chord blanking, importance-sampled timesteps, the loss and its weights, AdamW
with warm-up and linear decay, clipping, EMA every N steps, validation on the
corpus' held-out segments. What differs and why is in docs/MODEL.md
("The PyTorch trainer").

Files: MODEL.gguf (EMA weights, as C writes), MODEL.gguf.pt (resumable
checkpoint: weights, Adam, EMA, sampler state, RNG), MODEL.gguf.log.jsonl
(the C trainer's format: `getmusic plot-log` draws it). All written to a
temporary name and renamed.
"""

import argparse
import json
import math
import os
import sys
import shutil
import time

import numpy as np
import torch
import torch.distributed as dist

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from corpus import Corpus, CorpusError  # noqa: E402
import model as M  # noqa: E402
import sampling as S  # noqa: E402

ref = M.ref


def fail(msg):
    print("train.py: " + msg, file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------
# Options (named as getmusic train's)
# ---------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description="Train GETDiff on a getmusic corpus (PyTorch).")
    ap.add_argument("corpus")
    ap.add_argument("-o", "--out", required=True, help="model file to write (GGUF, EMA weights)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT.pt")
    ap.add_argument("--init", help="start from this GGUF model's weights (same vocabulary)")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--minutes", type=float, default=0, help="train for this wall time: --steps is set from the speed of the first steps")
    ap.add_argument("--batch", type=int, default=4, help="segments per process per step")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--lr-min", type=float, default=1e-6)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--clip", type=float, default=0.5)
    ap.add_argument("--ema-decay", type=float, default=0.9)
    ap.add_argument("--ema-every", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--eval-segments", type=int, default=64)
    ap.add_argument("--ckpt-every", type=int, default=500)
    ap.add_argument("--stop-after", type=int, default=0, help="stop (with a checkpoint) after N steps of this run")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--embd", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--max-cols", type=int, default=512)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--token-features", action="store_true", help="pitch-factorised token embeddings (docs/MODEL.md)")
    ap.add_argument("--bar-positions", action="store_true",
                    help="each column's position in its bar as an input (docs/MODEL.md); with --init from a model"
                         " without them, they start at zero")
    ap.add_argument("--bar-lr-scale", type=float, default=1.0,
                    help="learning rate of the bar-position table, as a multiple of --lr (a table new to an --init"
                         " model learns faster than the weights around it need to move)")
    ap.add_argument("--drum-styles", action="store_true",
                    help="a bar-position block per drum style (docs/MODEL.md \"Drum styles\"); Groove's styles from file names")
    ap.add_argument("--style-dropout", type=float, default=0.25,
                    help="P(a sample's drum style is withheld: block 0, \"any\") with --drum-styles")
    ap.add_argument("--train-styles", default="",
                    help="comma-separated drum styles (not any): train only their blocks of the bar-position table on"
                         " the songs and those styles' grooves; every other weight stays as --init gave it, byte for byte")
    ap.add_argument("--keep-checkpoints", action="store_true", help="also keep OUT-stepN.gguf at every checkpoint")
    ap.add_argument("--chord-given", type=float, default=0.25, help="P(chords given) outside the accompaniment task")
    ap.add_argument("--accomp", type=float, default=0.0, help="P(accompaniment task: lead and chords given)")
    ap.add_argument("--chord-target", type=float, default=0.0,
                    help="P(harmonising task: the lead given, the chord rows the targets, the rest blank)")
    ap.add_argument("--drum-overlay", type=float, default=0.0, help="P(lay a Groove part beside a drum-less segment)")
    ap.add_argument("--drum-backbeat-min", type=float, default=0.0,
                    help="leave out drums-only segments with a snare on both 2 and 4 in fewer than this share of bars"
                         " (with --drum-styles: the pop-style ones only)")
    ap.add_argument("--drums-alone-repeat", type=int, default=1,
                    help="take each drums-only segment this many times per epoch")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--bf16", choices=("auto", "on", "off"), default="auto", help="bf16 autocast (auto: on CUDA when supported)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the network")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    ap.add_argument("--f16", action="store_true", help="store 2-D tensors as F16 in the model file")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    for name in ("steps", "batch", "warmup", "ema_every", "eval_every", "ckpt_every", "eval_segments", "embd",
                 "hidden", "layers", "heads", "ffn", "max_cols", "drums_alone_repeat"):
        if getattr(a, name) < (0 if name == "warmup" else 1):
            fail("--%s must be positive" % name.replace("_", "-"))
    if not (a.lr > 0) or not (0 <= a.ema_decay < 1) or a.hidden % a.heads or (a.hidden // a.heads) % 2:
        fail("invalid --lr, --ema-decay, or --hidden/--heads (hidden/heads must be an even integer)")
    if not a.bar_lr_scale > 0:
        fail("--bar-lr-scale must be positive")
    for name in ("chord_given", "accomp", "chord_target", "drum_overlay", "dropout", "style_dropout", "drum_backbeat_min"):
        if not 0 <= getattr(a, name) <= 1:
            fail("--%s must be in [0, 1]" % name.replace("_", "-"))
    return a


def lr_at(a, step):
    """src/model/train.c lr_at: linear warm-up, then linear decay to lr_min at --steps."""
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    f = (step - a.warmup) / (a.steps - a.warmup) if a.steps > a.warmup else 1.0
    return a.lr + (a.lr_min - a.lr) * min(f, 1.0)


# ---------------------------------------------------------------------------
# Data: a step's samples, prepared in worker processes
# ---------------------------------------------------------------------------

class Steps(torch.utils.data.IterableDataset):
    """Yields, for steps start, start+1, ..., this rank's B samples as
    (x0 (B, R, W) int64, cond (B, R, W) uint8, u (B, R, W) float32, pos (B, W) uint8:
    each column's position in its bar, zeros for a corpus without them). The global
    sample k = step·G + j takes position k mod n_train of epoch k div n_train's
    permutation (a function of seed and epoch, as C's make_perm), so nothing
    but the step has to be saved to resume."""

    def __init__(self, corpus, train_idx, a, rank, world, start, opt):
        self.c, self.train_idx, self.a, self.rank, self.world, self.start, self.opt = \
            corpus, train_idx, a, rank, world, start, opt
        self.pool, self.dc = S.drum_pool(corpus.tokens, train_idx, corpus.layout, corpus.EMPTY)
        self.n_styles = getattr(a, "n_styles", 1)
        self.pad = corpus.vocab_tokens.index("<pad>")
        self._perm = {}

    def positions(self, i):
        """make_sample's positions: segment i's bar positions and the corpus's (None without them)."""
        return None if self.c.seg_pos is None else (self.c.seg_pos[i], self.c.seg_pos)

    def perm(self, epoch):
        if epoch not in self._perm:
            self._perm = {epoch: np.random.default_rng([self.a.seed, epoch]).permutation(self.train_idx)}
        return self._perm[epoch]

    def step_batch(self, step):
        B, G, n = self.a.batch, self.a.batch * self.world, len(self.train_idx)
        out = []
        for j in range(self.rank * B, self.rank * B + B):
            k = step * G + j
            i = self.perm(k // n)[k % n]
            rng, info = S.sample_rng(self.a.seed, step, j), {}
            smp = S.make_sample(self.c.tokens[i], rng, self.opt, self.c.EMPTY, self.c.layout, self.pool, self.dc,
                                self.c.tokens, info, self.positions(i), self.pad)
            out.append(smp + (seg_positions(self.c, i) + ref.N_BAR_POSITIONS * self.style(i, info, rng),))
        return tuple(torch.from_numpy(np.stack(z)) for z in zip(*out))

    def style(self, i, info, rng):
        """The sample's drum style block (docs/MODEL.md "Drum styles"): the style of the
        Groove part in its drum rows, its own or the one laid beside it; 0 ("any") for a
        model without styles, a segment without drums, or with P(--style-dropout)."""
        if self.n_styles <= 1:
            return 0
        src = info["overlay"] if info["overlay"] >= 0 else i
        s = M.drum_style_of(self.c.song_names[self.c.seg_song[src]])
        return 0 if s >= self.n_styles or rng.random() < self.a.style_dropout else s

    def __iter__(self):
        wi = torch.utils.data.get_worker_info()
        nw, wid = (wi.num_workers, wi.id) if wi else (1, 0)
        step = self.start + wid
        while True:
            yield self.step_batch(step)
            step += nw


def seg_positions(corpus, i):
    """(W) uint8: segment i's bar positions (MODEL.md "Bar positions"); zeros when the
    corpus has none (version < 3; only a model without bar positions trains on it)."""
    return corpus.seg_pos[i] if corpus.seg_pos is not None else np.zeros(corpus.W, np.uint8)


class TSampler:
    """Importance sampling of t (src/model/diffusion.c gd_tsampler): uniform until
    every t has more than 10 samples, then pt ∝ sqrt(Lt2) + 1e-4, pt[0] = pt[1]."""

    def __init__(self, T):
        self.T = T
        self.Lt2 = np.zeros(T, np.float32)
        self.count = np.zeros(T, np.int32)

    def draw(self, rng):
        if (self.count <= 10).any():
            return int(rng.random() * self.T) % self.T, 1.0 / self.T
        w = np.sqrt(self.Lt2.astype(np.float64) + 1e-10) + 1e-4
        w[0] = w[1]
        t = min(int(np.searchsorted(np.cumsum(w), rng.random() * w.sum(), side="right")), self.T - 1)
        return t, float(np.float32(w[t] / w.sum()))

    def update(self, t, loss):
        self.Lt2[t] = np.float32(0.9 * float(self.Lt2[t]) + 0.1 * loss * loss)
        self.count[t] += 1


def draw_timesteps(ts, seed, step, G):
    """t and pt for the G samples of a global batch, the same on every rank."""
    rng = np.random.default_rng([seed, step, 1 << 40])
    tp = [ts.draw(rng) for _ in range(G)]
    return np.array([x[0] for x in tp], np.int64), np.array([x[1] for x in tp], np.float32)


def corrupt(x0, cond, u, t, V, ctt):
    """MODEL.md "Corruption": target cells become MASK where u < ctt[t].
    ctt: (T) float32 cumulative mask probabilities, on x0's device."""
    p = ctt[t][:, None, None]
    m = (u < p) & (cond == 0) & (x0 != V)
    return torch.where(m, torch.full_like(x0, V + 1), x0)


# ---------------------------------------------------------------------------
# Model, checkpoint, validation
# ---------------------------------------------------------------------------

def build_model(a, corpus):
    if a.init:
        g = M.gguf_py.GGUFReader(a.init)
        toks = g.kv.get("getmusic.tokens")
        if toks != corpus.vocab_tokens or g.kv.get("getmusic.rows") != corpus.R:
            fail("--init %s: its vocabulary (%d tokens, %s rows) does not fit the corpus' (%d tokens, %d rows);"
                 " prepare the corpus with --vocab from the model" % (a.init, len(toks or []), g.kv.get("getmusic.rows"),
                                                                      corpus.V, corpus.R))
        cfg = M.config_from_gguf(g)
        cfg.dropout = a.dropout
    else:
        cfg = ref.GETDiffConfig(R=corpus.R, V=corpus.V, E=a.embd, H=a.hidden, NL=a.layers, NH=a.heads, F=a.ffn,
                                max_cols=a.max_cols, dropout=a.dropout)
        if a.token_features:
            cfg.P = ref.N_TOKEN_FEATURES
    if a.bar_positions and not cfg.Q:
        cfg.Q = ref.N_BAR_POSITIONS
    if a.drum_styles:
        if not cfg.Q:
            fail("--drum-styles needs bar positions (--bar-positions, or an --init model with them)")
        cfg.Q = ref.N_BAR_POSITIONS * len(M.DRUM_STYLES)
    if cfg.Q and corpus.seg_pos is None:
        fail("%s: corpus version %d has no bar positions; prepare it again with this build" % (a.corpus, corpus.version))
    if cfg.max_cols < corpus.W:
        fail("the model takes %d columns, the corpus segments have %d" % (cfg.max_cols, corpus.W))
    torch.manual_seed(a.seed)
    model = M.GETDiffFast(cfg, feat=M.corpus_token_features(corpus, cfg))
    if a.init:
        M.load_gguf_weights(model, g, a.init)
    return model


def save_checkpoint(path, model, opt, ema, ts, step, a, corpus):
    st = {"model": model.state_dict(), "opt": opt.state_dict(), "ema": [e.cpu() for e in ema],
          "Lt2": ts.Lt2, "count": ts.count, "step": step, "seed": a.seed, "segments": len(corpus.seg_valid),
          "cfg": vars(model.cfg), "rng": torch.get_rng_state(),
          "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    tmp = "%s.tmp.%d" % (path, os.getpid())
    torch.save(st, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, a, corpus):
    if not os.path.exists(path):
        fail("--resume: no checkpoint %s" % path)
    st = torch.load(path, map_location="cpu", weights_only=False) if "weights_only" in \
        torch.load.__code__.co_varnames else torch.load(path, map_location="cpu")
    if st["seed"] != a.seed:
        fail("%s was trained with --seed %d, not %d" % (path, st["seed"], a.seed))
    if st["segments"] != len(corpus.seg_valid):
        fail("%s was trained on another corpus (%d segments, this one has %d)" % (path, st["segments"], len(corpus.seg_valid)))
    return st


def ema_state(model, ema):
    return {n: e for (n, _), e in zip(model.named_parameters(), ema)}


@torch.no_grad()
def validate(model, ema, corpus, valid_idx, a, dev, autocast):
    """Mean per-cell loss of the EMA weights on fixed validation segments,
    targets, timesteps and masks (the original task mix, whatever the
    training mix: losses stay comparable across recipes). NaN without a split."""
    if not len(valid_idx):
        return float("nan")
    n = min(a.eval_segments, len(valid_idx))
    live = [p.detach().clone() for p in model.parameters()]
    for p, e in zip(model.parameters(), ema):
        p.copy_(e)
    model.eval()
    opt, tot = S.SampleOptions(), 0.0
    for s0 in range(0, n, a.batch):
        idx = range(s0, min(n, s0 + a.batch))
        segs = [valid_idx[i * len(valid_idx) // n] for i in idx]
        smp = [S.make_sample(corpus.tokens[k], S.sample_rng(a.seed ^ 0xA5A5, 1 << 41, i), opt, corpus.EMPTY, corpus.layout)
               + (seg_positions(corpus, k),) for i, k in zip(idx, segs)]
        x0, cond, u, pos = (torch.from_numpy(np.stack(z)).to(dev) for z in zip(*smp))
        t = torch.tensor([int(np.random.default_rng([a.seed, 1 << 42, i]).integers(M.T_STEPS)) for i in idx], device=dev)
        pt = torch.full((len(idx),), 1.0 / M.T_STEPS, device=dev)
        xt = corrupt(x0, cond, u, t, corpus.V, M.schedule_on(dev)[1].float())
        with autocast():
            _, lb = M.diffusion_loss(model, x0, xt, cond, t, pt, pos)
        tot += float((lb * pt).sum())
    for p, l in zip(model.parameters(), live):
        p.copy_(l)
    model.train()
    return tot / n


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------

def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(max(1, a.threads))
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    dev = torch.device(a.device)
    if world > 1:
        if dev.type == "cuda":
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    try:
        corpus = Corpus(a.corpus)
    except CorpusError as e:
        fail(str(e))
    train_idx, valid_idx = corpus.split()
    pop = M.DRUM_STYLES.index("pop")      # with styles, only the pop block's grooves need a backbeat
    judged = (lambda s: M.drum_style_of(corpus.song_names[corpus.seg_song[s]]) == pop) if a.drum_styles else None
    train_idx, weak = S.drop_weak_backbeats(corpus.tokens, corpus.seg_pos, train_idx, corpus.layout,
                                            corpus.vocab_tokens, corpus.V, corpus.EMPTY, a.drum_backbeat_min, judged)
    if weak and rank == 0 and not a.quiet:
        print("%d drums-only segments with a backbeat in fewer than %.2f of their bars left out" %
              (weak, a.drum_backbeat_min), file=sys.stderr)
    train_idx = S.repeat_drums_alone(corpus.tokens, train_idx, corpus.layout, corpus.EMPTY, a.drums_alone_repeat)
    a.train_styles = parse_train_styles(a)
    if a.train_styles:
        train_idx = songs_and_styles(corpus, train_idx, a.train_styles)
    if not len(train_idx):
        fail("%s has no training segments" % a.corpus)
    ckpt_path = a.out + ".pt"
    st = load_checkpoint(ckpt_path, a, corpus) if a.resume else None
    # The learnt harmoniser rides along: from the model trained from, or (resuming) the last file written.
    a.harmonizer = M.harmonizer_part(a.out if st else a.init)
    if st:
        a.init = None
        cfg = ref.GETDiffConfig(**st["cfg"])
        model = M.GETDiffFast(cfg, feat=M.corpus_token_features(corpus, cfg))
        model.load_state_dict(st["model"])
    else:
        model = build_model(a, corpus)
    model.to(dev).train()
    a.n_styles = M.n_styles(model.cfg)
    params = list(model.parameters())
    frozen_rows = freeze_but_styles(model, a.train_styles) if a.train_styles else None
    bar_i = [n for n, _ in model.named_parameters()].index(M.BAR_TABLE) if frozen_rows is not None else -1
    bar = [p for n, p in model.named_parameters() if n == M.BAR_TABLE]
    groups = [{"params": [p for n, p in model.named_parameters() if n != M.BAR_TABLE], "scale": 1.0}]
    if bar:   # frozen rows get zero gradients: no weight decay on them either
        groups.append({"params": bar, "scale": a.bar_lr_scale, "weight_decay": 0.0 if a.train_styles else a.weight_decay})
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=a.weight_decay)
    ema = [p.detach().clone() for p in params]
    ts, step = TSampler(M.T_STEPS), 0
    if st:
        opt.load_state_dict(st["opt"])
        ema = [e.to(dev) for e in st["ema"]]
        ts.Lt2, ts.count, step = st["Lt2"], st["count"], st["step"]
        torch.set_rng_state(st["rng"])
        if st["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(st["cuda_rng"])
    net = LossModule(model)
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(net)
    use_bf16 = a.bf16 == "on" or (a.bf16 == "auto" and dev.type == "cuda" and torch.cuda.is_bf16_supported())
    autocast = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if use_bf16 else \
        (lambda: torch.autocast(dev.type, enabled=False))
    if a.compile:
        model.cells = torch.compile(model.cells)
    opt_mix = S.SampleOptions(a.chord_given, a.accomp, a.drum_overlay, chord_target=a.chord_target)
    data = Steps(corpus, train_idx, a, rank, world, step, opt_mix)
    more = {"prefetch_factor": 4} if a.workers else {}
    loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=a.workers, pin_memory=dev.type == "cuda",
                                         generator=torch.Generator().manual_seed(a.seed), **more)
    it = iter(loader)
    ctt = M.schedule_on(dev)[1].float()     # (T) cumulative mask probabilities
    log = open(a.out + ".log.jsonl", "a" if a.resume else "w") if rank == 0 else None
    G, W = a.batch * world, corpus.W
    t0 = t_rep = time.time()
    step0, loss_acc, n_acc, val = step, 0.0, 0, float("nan")
    cols_done, timed_from = 0, None
    while step < a.steps:
        if a.stop_after and step - step0 >= a.stop_after:
            break
        x0, cond, u, pos = (z.to(dev, non_blocking=True) for z in next(it))
        tg, ptg = draw_timesteps(ts, a.seed, step, G)
        t = torch.from_numpy(tg[rank * a.batch:(rank + 1) * a.batch]).to(dev)
        pt = torch.from_numpy(ptg[rank * a.batch:(rank + 1) * a.batch]).to(dev)
        xt = corrupt(x0, cond, u, t, corpus.V, ctt)
        with autocast():
            loss, lb = net(x0, xt, cond, t, pt, pos)
        (loss * world).backward()   # C sums the global batch; DDP averages over ranks
        if a.clip > 0:   # as C: scale by clip/norm when the global norm exceeds clip
            grads = [p.grad for p in params if p.grad is not None]
            norm = torch.nn.utils.clip_grad_norm_(params, float("inf"))
            scale = torch.where(norm > a.clip, a.clip / norm, torch.ones_like(norm)).float()
            for g in grads:
                g.mul_(scale)
        lr = lr_at(a, step)
        for gr in opt.param_groups:
            gr["lr"] = lr * gr["scale"]
        opt.step()
        opt.zero_grad(set_to_none=True)
        lbs = lb.float()
        if world > 1:
            parts = [torch.zeros_like(lbs) for _ in range(world)]
            dist.all_gather(parts, lbs)
            lbs = torch.cat(parts)
        lbs = lbs.cpu().double().numpy()
        for j in range(G):
            ts.update(int(tg[j]), float(lbs[j]))
            loss_acc += float(lbs[j]) * float(ptg[j])
            n_acc += 1
        step += 1
        if step % a.ema_every == 0:
            with torch.no_grad():
                for e, p in zip(ema, params):
                    if p.requires_grad:
                        e.mul_(a.ema_decay).add_(p.detach(), alpha=1 - a.ema_decay)
                if bar_i >= 0:   # the table's frozen rows stay exact: decay·p + (1−decay)·p is not always p
                    ema[bar_i][frozen_rows] = params[bar_i].detach()[frozen_rows]
        now = time.time()
        if timed_from is None and step - step0 >= 5:
            timed_from, cols_done = now, 0     # speed after warm-up (first steps compile kernels)
        elif timed_from is not None:
            cols_done += G * W
        if a.minutes:
            a.steps = plan_steps(a, step, step0, now, t0, timed_from, world, rank, dev)
        evaluated = step % a.eval_every == 0 or step == a.steps
        if evaluated:
            val = validate(model, ema, corpus, valid_idx, a, dev, autocast)
        if rank == 0 and (evaluated or now - t_rep > 10 or step == a.steps):
            cps = cols_done / (now - timed_from) if timed_from and now > timed_from else 0.0
            rec = {"step": step, "epoch": step * G // len(train_idx), "loss": round(loss_acc / max(n_acc, 1), 6),
                   "lr": float("%.3g" % lr), "cols_per_s": round(cps, 1)}
            if evaluated and not math.isnan(val):
                rec["val_loss"] = round(val, 6)
            rec["time_s"] = round(now - t0, 1)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            if not a.quiet:
                eta = (a.steps - step) * (now - t0) / max(step - step0, 1)
                print("step %d/%d  loss %.4f  val %.4f  %.0f cols/s  ETA %.0f s" % (step, a.steps, rec["loss"], val, cps, eta),
                      file=sys.stderr, flush=True)
            loss_acc, n_acc, t_rep = 0.0, 0, now
        if rank == 0 and step % a.ckpt_every == 0 and step < a.steps:
            save_all(a, model, opt, ema, ts, step, corpus, dev)
    if rank == 0:
        save_all(a, model, opt, ema, ts, step, corpus, dev)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0


def parse_train_styles(a):
    """--train-styles: the style indices named (M.DRUM_STYLES), or [] when not given."""
    if not a.train_styles:
        return []
    names = [n.strip() for n in a.train_styles.split(",")]
    bad = [n for n in names if n not in M.DRUM_STYLES[1:]]
    if bad:
        fail("--train-styles: unknown style %s (styles: %s)" % (bad[0], ", ".join(M.DRUM_STYLES[1:])))
    if not a.init and not a.resume:
        fail("--train-styles trains a model's style blocks: give the model with --init")
    return sorted({M.DRUM_STYLES.index(n) for n in names})


def songs_and_styles(corpus, train_idx, styles):
    """The training segments --train-styles learns from: every segment that is not
    drums alone (the songs, which get an overlay of those styles' grooves with
    --drum-overlay), and the drums-only segments of those styles. The rest would
    only reach frozen blocks."""
    alone = S.drums_alone(corpus.tokens, train_idx, corpus.layout, corpus.EMPTY)
    styled = np.array([M.drum_style_of(corpus.song_names[corpus.seg_song[i]]) in styles for i in train_idx], bool)
    if not (alone & styled).any():
        fail("--train-styles: the corpus has no grooves of those styles")
    return np.asarray(train_idx)[~alone | styled]


def freeze_but_styles(model, styles):
    """Every weight frozen but the named styles' blocks of the bar-position table
    (a gradient mask on the table). Returns (Q) bool: the table's frozen rows."""
    if M.n_styles(model.cfg) <= 1:
        fail("--train-styles needs a model with drum styles (--drum-styles)")
    Q = ref.N_BAR_POSITIONS
    frozen = torch.ones(model.cfg.Q, dtype=torch.bool)
    for s in styles:
        frozen[s * Q:(s + 1) * Q] = False
    for n, p in model.named_parameters():
        p.requires_grad_(n == M.BAR_TABLE)
        if n == M.BAR_TABLE:
            keep = (~frozen).to(p.dtype).unsqueeze(1).to(p.device)     # (Q, 1)
            p.register_hook(lambda g, keep=keep: g * keep)
    return frozen.to(next(model.parameters()).device)


def plan_steps(a, step, step0, now, t0, timed_from, world, rank, dev):
    """--minutes: once the speed is known (30 steps, or a minute in with at least 5 timed
    steps: a busy machine's first minute may hold almost none), the run's
    length (and so its learning-rate schedule) is set to fill the time left;
    past the time it ends at this step. Ranks agree through rank 0's choice."""
    steps = a.steps
    timed = step - step0 - 5     # steps since the timer started (see the loop)
    if not getattr(a, "_planned", False) and timed_from is not None and (timed >= 25 or (now - t0 > 60 and timed >= 5)):
        rate = timed / max(now - timed_from, 1e-6)
        steps = step + int(rate * max(0.0, a.minutes * 60 - (now - t0) - 15))
        a._planned = True
        a.warmup = min(a.warmup, steps // 10)
        if rank == 0 and not a.quiet:
            print("train.py: %.2f steps/s: --minutes %g gives %d steps" % (rate, a.minutes, steps), file=sys.stderr)
    if now - t0 > a.minutes * 60:
        steps = step
    if world > 1:
        v = torch.tensor([steps], dtype=torch.long, device=dev)
        dist.broadcast(v, 0)
        steps = int(v)
    return max(steps, step)


class LossModule(torch.nn.Module):
    """The network with its loss as forward(), so that DistributedDataParallel
    wraps the call that uses every parameter."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x0, xt, cond, t, pt, pos):
        return M.diffusion_loss(self.model, x0, xt, cond, t, pt, pos)


def save_all(a, model, opt, ema, ts, step, corpus, dev):
    src = "python/train.py: %d steps, EMA %.3g every %d, corpus %s, device %s" % (
        step, a.ema_decay, a.ema_every, os.path.basename(os.path.normpath(a.corpus)), dev)
    M.write_gguf(a.out, model, corpus, src, f16=a.f16, state=ema_state(model, ema), harmonizer=getattr(a, "harmonizer", None))
    if a.keep_checkpoints:
        shutil.copyfile(a.out, "%s-step%d.gguf" % (os.path.splitext(a.out)[0], step))
    save_checkpoint(a.out + ".pt", model, opt, ema, ts, step, a, corpus)


if __name__ == "__main__":
    sys.exit(main())
