"""
python/reference.py — PyTorch reference of GETDiff, exactly as docs/MODEL.md writes it.

This is the yardstick for the C engine (src/model/nn.c, src/model/getdiff.c,
src/model/diffusion.c): dev/make_golden.py runs it on a tiny config and writes
dev/golden.bin, which the C tests compare against; the benches run it beside
the C engine on the same inputs.

Parameter names are those of the original GETMusic checkpoint minus the
prefix `rfm.roformer.input_transformers.`, so `GETDiffRef.state_dict()` has
exactly the names of MODEL.md ("Parameters"), and a converted checkpoint loads
with `load_state_dict`. `lm_head.weight` is tied to the token embedding and is
not a key of its own (only `lm_head.bias`).

Use Debian's Python: /usr/bin/python3 (python3-torch 1.13, CPU).

    from reference import GETDiffConfig, GETDiffRef, getdiff_loss, corrupt
    cfg = GETDiffConfig.tiny()
    model = GETDiffRef(cfg)
    logits = model(x, cond, t)                       # (B, R, L, V)
    loss = getdiff_loss(logits, x0, x_t, cond, t, pt)

Token features (MODEL.md "Token features"; optional, cfg.P = 0 is the original
architecture): with cfg.P = N_TOKEN_FEATURES = 280 the token table is
word + membership · pitch_embeddings, the membership built from the vocabulary:

    from reference import read_vocab, token_features, N_TOKEN_FEATURES
    tokens = read_vocab("corpus/vocab.txt")          # id = line number
    cfg.P = N_TOKEN_FEATURES
    model = GETDiffRef(cfg, feat=token_features(tokens, "MRPD", [0, 0, 0, 1]))

Bar positions (MODEL.md "Bar positions"; optional, cfg.Q = 0 is the original
architecture): with cfg.Q = N_BAR_POSITIONS = 32 every column's position in its
bar (0 = the downbeat, in grid steps, clipped to Q−1) adds a learnt vector to
the encoder's input, so beat 1 and the backbeat are visible (RoPE alone gives
only relative distance):

    cfg.Q = N_BAR_POSITIONS
    logits = model(x, cond, t, pos)                  # pos: (B, L) int in 0..Q−1
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)

T_STEPS = 100      # diffusion steps
TIME_DIM = 128     # sinusoidal timestep features
LN_EPS = 1e-12
AUX_WEIGHT = 0.001
COND_WEIGHT = 0.5

# Token features (MODEL.md "Token features").
N_TOKEN_FEATURES = 280     # P when the feature is on (the GGUF key getmusic.token_features)
FEAT_DRUM = 128            # drum pitch tokens: the stored number 128..255 (= 128 + GM key)
FEAT_ROOT = 256            # chord root with pitch class c: 256 + c
FEAT_INTERVAL = 268        # chord quality: 268 + i for each chord-tone interval i above the root
ROOT_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
QUALITY_INTERVALS = {      # quality token -> chord-tone intervals (GM_Q_* order: src/music/chord_text.c)
    "null": (0, 4, 7), "m": (0, 3, 7), "+": (0, 4, 8), "dim": (0, 3, 6),
    "seven": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "m7": (0, 3, 7, 10), "m7b5": (0, 3, 6, 10),
}
# Bar positions (MODEL.md "Bar positions").
N_BAR_POSITIONS = 32       # Q when the feature is on (the GGUF key getmusic.bar_positions): 8 beats of 16ths
DEFAULT_PREFIXES = "MRPD"          # the "default" layout: lead M, counter R, piano P, drums D
DEFAULT_IS_DRUM = (0, 0, 0, 1)


@dataclass
class GETDiffConfig:
    R: int = 14          # grid rows: 2 per track class + 2 chord rows
    V: int = 11879       # real tokens; EMPTY = V, MASK = V + 1
    E: int = 96          # cell embedding
    H: int = 768         # hidden
    NL: int = 12         # layers
    NH: int = 12         # heads (HD = H / NH, even)
    F: int = 3072        # feed-forward
    max_cols: int = 1536 # longest sequence of columns
    dropout: float = 0.1
    P: int = 0           # token features: 0 = off (original), N_TOKEN_FEATURES = on
    Q: int = 0           # bar positions: 0 = off (original), N_BAR_POSITIONS = on

    @staticmethod
    def original():
        return GETDiffConfig()

    @staticmethod
    def tiny():
        """The golden test config (MODEL.md "Sizes"); L = 12, B = 2 there."""
        return GETDiffConfig(R=6, V=37, E=8, H=16, NL=2, NH=2, F=32, max_cols=64, dropout=0.0)

    @property
    def EMPTY(self):
        return self.V

    @property
    def MASK(self):
        return self.V + 1

    @property
    def HD(self):
        return self.H // self.NH


# ---------------------------------------------------------------------------
# Fixed tables
# ---------------------------------------------------------------------------

def time_features(t, dtype=torch.float32):
    """(B) int timesteps -> (B, 128) float32: [cos(t·f_0..f_63), sin(t·f_0..f_63)],
    f_i = exp(−ln(10000)·i/64). Computed in double, rounded to float."""
    half = TIME_DIM // 2
    i = torch.arange(half, dtype=torch.float64)
    f = torch.exp(-math.log(10000.0) * i / half)
    a = t.to(torch.float64)[:, None] * f[None, :]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=-1).to(dtype)


def rotary_tables(L, HD, dtype=torch.float32):
    """(L, HD/2) cos and sin of θ[l, j] = l / 10000^(2j/HD), computed in double
    (as HF RoFormer's table), rounded to float."""
    l = torch.arange(L, dtype=torch.float64)[:, None]
    j = torch.arange(HD // 2, dtype=torch.float64)[None, :]
    theta = l / torch.pow(torch.tensor(10000.0, dtype=torch.float64), 2.0 * j / HD)
    return torch.cos(theta).to(dtype), torch.sin(theta).to(dtype)


def apply_rotary(x, cos, sin):
    """x: (B, NH, L, HD); interleaved pairs (x[2j], x[2j+1]) rotated by θ[l, j]:
    (a, b) -> (a·cos − b·sin, b·cos + a·sin)."""
    a = x[..., 0::2]
    b = x[..., 1::2]
    ra = a * cos - b * sin
    rb = b * cos + a * sin
    return torch.stack([ra, rb], dim=-1).flatten(-2)


# ---------------------------------------------------------------------------
# Token features from the vocabulary
# ---------------------------------------------------------------------------

def read_vocab(path):
    """Token strings of a vocabulary file (vocab.txt / dict.txt format: one
    `token<TAB>count` per line; the token id is the line number, from 0)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                out.append(line.split("\t", 1)[0])
    return out


def token_feature_lists(tokens, prefixes=DEFAULT_PREFIXES, is_drum=DEFAULT_IS_DRUM):
    """feat(v) of MODEL.md "Token features" for each token string, as sorted lists.

    tokens:   the V real token strings, id order (read_vocab).
    prefixes: one letter per track class (GGUF getmusic.layout.prefixes;
              "MRPD" for the default layout, "MBDGPS" for the original).
    is_drum:  per class, non-zero for drum classes (getmusic.layout.is_drum).

    How a string maps to its kind:
      - `T1`..`T15` (durations) and `<pad>`: no features;
      - `<prefix><digits or -digits>[ <n>...]` with a class prefix: a pitch token
        of that class; non-drum: feature p for each pitch p in 0..127 (negative
        pitches, as in the original's odd bass tokens, are skipped); drum: the
        stored number 128..255 itself (= 128 + GM key);
      - a chord root name (C C# D Eb E F F# G Ab A Bb B): 256 + pitch class;
      - a chord quality (null m + dim seven maj7 m7 m7b5): 268 + interval for
        each chord tone above the root.
    Any other string raises ValueError."""
    assert len(prefixes) == len(is_drum), "one is_drum flag per class prefix"
    drum_of = {p: bool(d) for p, d in zip(prefixes, is_drum)}
    out = []
    for i, tok in enumerate(tokens):
        f = []
        if tok == "<pad>" or (tok[:1] == "T" and tok[1:].isdigit()):
            pass
        elif tok in ROOT_NAMES:
            f = [FEAT_ROOT + ROOT_NAMES.index(tok)]
        elif tok in QUALITY_INTERVALS:
            f = [FEAT_INTERVAL + k for k in QUALITY_INTERVALS[tok]]
        elif len(tok) >= 2 and tok[0] in drum_of and (tok[1].isdigit() or tok[1] == "-"):
            for s in tok[1:].split(" "):
                n = int(s)
                if drum_of[tok[0]]:
                    if not FEAT_DRUM <= n < FEAT_ROOT:
                        raise ValueError("token %d '%s': drum pitch outside 128..255" % (i, tok))
                    f.append(n)
                elif 0 <= n < 128:
                    f.append(n)
            f = sorted(set(f))
        else:
            raise ValueError("token %d '%s': not a duration, <pad>, pitch token of a class in '%s' or chord token"
                             % (i, tok, prefixes))
        out.append(f)
    return out


def token_features(tokens, prefixes=DEFAULT_PREFIXES, is_drum=DEFAULT_IS_DRUM, P=N_TOKEN_FEATURES):
    """The (V+2, P) float32 0/1 membership matrix of MODEL.md "Token features":
    row v < V = token_feature_lists(tokens, prefixes, is_drum)[v]; rows EMPTY (V)
    and MASK (V+1) are zero. Pass it to GETDiffRef(cfg, feat=...) with cfg.P = P."""
    lists = token_feature_lists(tokens, prefixes, is_drum)
    m = torch.zeros(len(tokens) + 2, P, dtype=torch.float32)
    for v, f in enumerate(lists):
        if f:
            m[v, torch.tensor(f)] = 1.0
    return m


# ---------------------------------------------------------------------------
# Modules (attribute names give the checkpoint's parameter names)
# ---------------------------------------------------------------------------

class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        # padding_idx = EMPTY, as the original: that row stays zero, no gradient.
        self.word_embeddings = nn.Embedding(c.V + 2, c.E, padding_idx=c.V)
        if c.P > 0:   # token features (MODEL.md): one vector per pitch / drum key / root / interval
            self.pitch_embeddings = nn.Embedding(c.P, c.E)
        self.token_type_embeddings = nn.Embedding(2, c.E)
        if c.Q > 0:   # bar positions (MODEL.md): one vector per column position in its bar, added after the projection
            self.bar_position_embeddings = nn.Embedding(c.Q, c.H)
        self.time_embeddings = nn.Sequential(nn.Linear(TIME_DIM, c.E), nn.SiLU(), nn.Linear(c.E, c.E))
        self.LayerNorm = nn.LayerNorm(c.R * c.E, eps=LN_EPS)


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.query = nn.Linear(c.H, c.H)
        self.key = nn.Linear(c.H, c.H)
        self.value = nn.Linear(c.H, c.H)


class DenseLN(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)
        self.LayerNorm = nn.LayerNorm(n_out, eps=LN_EPS)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseLN(c.H, c.H)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.H, c.F)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseLN(c.F, c.H)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c.NL)])


class LMHead(nn.Module):
    """Output layer: weight tied to the token embedding (not a parameter here)."""

    def __init__(self, c):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(c.V + 2))


class GETDiffRef(nn.Module):
    """cfg.P > 0: feat is the (V+2, P) 0/1 membership (token_features()); it is a
    non-persistent buffer (not in state_dict: derived from the vocabulary), zero
    until given here or by set_token_features()."""

    def __init__(self, cfg, feat=None):
        super().__init__()
        assert cfg.H % cfg.NH == 0 and (cfg.H // cfg.NH) % 2 == 0, "H/NH must be an even integer"
        self.cfg = cfg
        c = cfg
        self.embeddings = Embeddings(c)
        self.embeddings_project = nn.Sequential(nn.Linear(c.R * c.E, c.H), nn.SiLU(), nn.Linear(c.H, c.H))
        self.encoder = Encoder(c)
        self.outputs_project = nn.Sequential(nn.Linear(c.H, c.R * c.E), nn.SiLU(),
                                             nn.Linear(c.R * c.E, c.R * c.E))
        self.lm_head = LMHead(c)
        if c.P > 0:
            self.register_buffer("feat", torch.zeros(c.V + 2, c.P), persistent=False)
            self.register_buffer("feat_tok", torch.zeros(0, dtype=torch.long), persistent=False)
            self.register_buffer("feat_idx", torch.zeros(0, dtype=torch.long), persistent=False)
            if feat is not None:
                self.set_token_features(feat)
        else:
            assert feat is None, "token features given but cfg.P == 0"
        self.init_weights()

    @torch.no_grad()
    def set_token_features(self, feat):
        """feat: (V+2, P) membership (0/1); rows EMPTY and MASK must be zero."""
        c = self.cfg
        feat = torch.as_tensor(feat, dtype=torch.float32)
        assert c.P > 0 and tuple(feat.shape) == (c.V + 2, c.P), "membership must be (V+2, P)"
        assert not feat[c.V:].any(), "EMPTY and MASK have no features"
        self.feat = feat.to(self.feat.device).clone()
        tok, idx = self.feat.nonzero(as_tuple=True)
        self.feat_tok, self.feat_idx = tok, idx

    def token_table(self):
        """The effective (V+2, E) token table: word (P = 0), or
        word[v] + Σ_{f ∈ feat(v)} pitch_embeddings[f] (P > 0), which both the
        cell embedding and the tied output layer use."""
        word = self.embeddings.word_embeddings.weight
        if self.cfg.P == 0:
            return word
        fe = self.embeddings.pitch_embeddings.weight
        w = self.feat[self.feat_tok, self.feat_idx].to(fe.dtype)[:, None]
        return word.index_add(0, self.feat_tok, fe[self.feat_idx] * w)

    # MODEL.md "Initialisation": normal(0, 0.02) weights and embeddings, zero
    # biases, LayerNorm ones/zeros, EMPTY row of the token embedding zero.
    @torch.no_grad()
    def init_weights(self, generator=None):
        for name, p in self.named_parameters():
            if name.endswith("LayerNorm.weight"):
                p.fill_(1.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.normal_(0.0, 0.02, generator=generator)
        self.embeddings.word_embeddings.weight[self.cfg.EMPTY].zero_()

    def forward(self, x, cond, t, pos=None):
        """x, cond: (B, R, L) int; t: (B) int; pos: (B, L) int in 0..Q−1, required
        when cfg.Q > 0 (else ignored) -> logits (B, R, L, V)."""
        c = self.cfg
        B, R, L = x.shape
        assert R == c.R and L <= c.max_cols
        assert c.Q == 0 or (pos is not None and tuple(pos.shape) == (B, L)), "bar positions (B, L) required"
        p = c.dropout if self.training else 0.0
        emb = self.embeddings
        word = self.token_table()           # (V+2, E): word, plus the token features when P > 0

        # 1. time embedding (B, E)
        te = emb.time_embeddings(time_features(t, word.dtype))
        # 2. cells (B, R, L, E)
        e = F.embedding(x.long(), word, padding_idx=c.EMPTY) + emb.token_type_embeddings.weight[cond.long()] \
            + te[:, None, None, :]
        # 3. columns (B, L, R·E): cell r of column l at [r·E, (r+1)·E)
        u = e.permute(0, 2, 1, 3).reshape(B, L, R * c.E)
        u = emb.LayerNorm(u)
        u = F.dropout(u, p, self.training)
        h = self.embeddings_project(u)
        if c.Q > 0:                                                # (B, L, H) + each column's bar position
            h = h + emb.bar_position_embeddings.weight[pos.long()]
        # 4. post-LN RoFormer layers
        cos, sin = rotary_tables(L, c.HD, word.dtype)
        for lay in self.encoder.layer:
            sa = lay.attention.self

            def heads(y):
                return y.view(B, L, c.NH, c.HD).transpose(1, 2)   # (B, NH, L, HD)

            q = apply_rotary(heads(sa.query(h)), cos, sin)
            k = apply_rotary(heads(sa.key(h)), cos, sin)
            v = heads(sa.value(h))
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c.HD), dim=-1)
            o = (a @ v).transpose(1, 2).reshape(B, L, c.H)
            ao = lay.attention.output
            h = ao.LayerNorm(h + F.dropout(ao.dense(o), p, self.training))
            f = F.gelu(lay.intermediate.dense(h))                  # exact erf GELU
            fo = lay.output
            h = fo.LayerNorm(h + F.dropout(fo.dense(f), p, self.training))
        # 5. output cells and tied logits over the V real tokens
        co = self.outputs_project(h)                               # (B, L, R·E)
        cells = co.view(B, L, R, c.E).permute(0, 2, 1, 3)          # (B, R, L, E)
        return cells @ word[: c.V].t() + self.lm_head.bias[: c.V]


# ---------------------------------------------------------------------------
# Diffusion schedule, corruption, loss
# ---------------------------------------------------------------------------

def schedule(T=T_STEPS):
    """(att, ctt), float64 tensors of length T: cumulative keep and mask probabilities."""
    t = torch.arange(T, dtype=torch.float64)
    att = 0.99999 + t * (0.000009 - 0.99999) / (T - 1)
    ctt = 0.000009 + t * (0.99999 - 0.000009) / (T - 1)
    return att, ctt


def a_coef(t, T=T_STEPS):
    """(B) int timesteps -> float64 a_t = 1 − ctt[t−1]/ctt[t] (t > 0), a_0 = 1."""
    _, ctt = schedule(T)
    t = t.long()
    prev = ctt[(t - 1).clamp(min=0)]
    a = 1.0 - prev / ctt[t]
    return torch.where(t > 0, a, torch.ones_like(a))


def corrupt(x0, cond, t, generator=None, *, V, T=T_STEPS):
    """q(x_t | x0): each target cell (cond = 0, not EMPTY) becomes MASK with
    probability ctt[t]; condition and EMPTY cells are unchanged.
    x0, cond: (B, R, L); t: (B); V: real tokens (EMPTY = V, MASK = V + 1)."""
    _, ctt = schedule(T)
    u = torch.rand(x0.shape, generator=generator, dtype=torch.float64)
    p = ctt[t.long()][:, None, None]
    m = (u < p) & (cond == 0) & (x0 != V)
    return torch.where(m, torch.full_like(x0, V + 1), x0)


def cell_weights(x0, cond, V):
    """w = 1 (target), 0.5 (condition), 0 (EMPTY, x0 == V) — float32 (B, R, L)."""
    w = torch.where(cond != 0, torch.full(x0.shape, COND_WEIGHT), torch.ones(x0.shape))
    return torch.where(x0 == V, torch.zeros(x0.shape), w).to(torch.float32)


def getdiff_loss(logits, x0, x_t, cond, t, pt, T=T_STEPS, per_sample=False):
    """The contract (MODEL.md "Loss"): the original GETMusic training loss
    (DiffusionRFM._train_loss with its uniform share ~1e-10 per class) in
    closed form, for comparison only. Checked against a log-space
    re-derivation of the original to ~1e-6. Compared with a plain masked-token KL:
      - intact target/condition cells at t > 0 cost −log(r_t + (1 − r_t)·p(x0)),
        r_t = att[t]/att[t−1] (the x0-parameterised posterior mixes in the
        "resampled" hypotheses: the uniform share cancels in the ratio);
      - at t = 0 the decoder NLL covers every weighted cell, not only masked ones;
      - no 1/T: L_b = (main_b + aux_b) / (n_b · pt_b), and the batch is summed.
    """
    B, R, L, V = logits.shape
    att, _ = schedule(T)
    r = torch.ones(T, dtype=torch.float64)
    r[1:] = att[1:] / att[:-1]
    logp = torch.log_softmax(logits, dim=-1)
    w = cell_weights(x0, cond, V)
    lp = logp.gather(-1, x0.long().clamp(max=V - 1)[..., None]).squeeze(-1)
    nll = -lp
    m = (x_t == V + 1).to(logits.dtype)
    at = a_coef(t, T).to(logits.dtype)[:, None, None]
    rt = r[t.long()].to(logits.dtype)[:, None, None]
    intact = -torch.log(rt + (1.0 - rt) * lp.exp())
    kl = torch.where((t > 0)[:, None, None], m * at * nll + (1.0 - m) * intact, nll)
    main = (w * kl).sum(dim=(1, 2))
    aux = (AUX_WEIGHT * (2.0 - t.to(torch.float64) / T)).to(logits.dtype) * (w * nll).sum(dim=(1, 2))
    n = (w > 0).sum(dim=(1, 2)).to(logits.dtype)
    Lb = torch.where(n > 0, (main + aux) / (n.clamp(min=1) * pt.to(logits.dtype)), torch.zeros_like(main))
    return Lb if per_sample else Lb.sum()


def main_per_cell(logits, x0, x_t, cond, t, T=T_STEPS):
    """main_b / n_b of the masked-cell KL alone (detached), a diagnostic; the
    importance sampler tracks L_b² (MODEL.md)."""
    with torch.no_grad():
        B, R, L, V = logits.shape
        logp = torch.log_softmax(logits, dim=-1)
        w = cell_weights(x0, cond, V)
        nll = -logp.gather(-1, x0.long().clamp(max=V - 1)[..., None]).squeeze(-1)
        m = (x_t == V + 1).to(torch.float32)
        main = a_coef(t, T).to(torch.float32) * (w * m * nll).sum(dim=(1, 2))
        n = (w > 0).sum(dim=(1, 2)).clamp(min=1).to(torch.float32)
        return main / n


# ---------------------------------------------------------------------------
# Sampling (the algorithm of gd_sample in src/model/diffusion.c, docs/MODEL.md "Sampling")
# ---------------------------------------------------------------------------

def step_t(i, S, T=T_STEPS):
    """Timestep of denoising step i of S: T−1 down to 0, evenly (rounded half up)."""
    return 0 if S == 1 else int(math.floor((T - 1) * (S - 1 - i) / (S - 1) + 0.5))


def gumbel(shape, generator=None, dtype=torch.float64):
    tiny = 1e-300 if dtype == torch.float64 else 1e-38
    u = torch.rand(shape, generator=generator, dtype=dtype).clamp_(min=tiny)
    return -torch.log(-torch.log(u))


@torch.no_grad()
def sample(model, x, cond, lo, hi, pad, steps=T_STEPS, temperature=1.0, top_k=0, generator=None, T=T_STEPS, pos=None):
    """Generates every MASK cell (cond 0) of x (R, L) the straightforward way,
    as the original GETMusic does: each step the network's full x̂0
    distribution over every cell, then gd_sample's selection rules:
      - every masked cell draws a token from softmax(log p / temperature)
        restricted to its row's tokens [lo[r], hi[r]) and `pad` (top-k among
        those if top_k > 0), here by Gumbel-argmax over the whole vocabulary
        as the original (C: inverse CDF over the allowed tokens; the same
        distribution);
      - its confidence is the largest allowed probability, renormalised over
        the allowed tokens (C: 1 / Σ exp(z − max z) over the row's logits);
      - row r keeps n_r − floor(n_r·(i+1)/(S−1)) cells masked after step i; the
        ones to reveal are drawn ∝ softmax(confidence) (Gumbel top-k);
      - at the last step (t = 0) everything left is written.
    EMPTY cells stay EMPTY. Same algorithm as C, not the same random numbers.
    Classifier-free guidance (gd_sample_params.guidance) is not modelled.
    pos: (L) bar positions, for a model with them (cfg.Q > 0).
    Returns (x, number of network calls)."""
    c = model.cfg
    V, MASK = c.V, c.MASK
    R, L = x.shape
    x = x.clone().long()
    cond = cond.long()
    allowed = torch.zeros(R, V, dtype=torch.bool)
    for r in range(R):
        allowed[r, lo[r]:hi[r]] = True
        allowed[r, pad] = True
    n_allowed = allowed.sum(1)
    n_row = ((x == MASK) & (cond == 0)).sum(1).tolist()
    left = list(n_row)
    calls = 0
    for i in range(steps):
        t = step_t(i, steps, T)
        masked = (x == MASK) & (cond == 0)
        idx = masked.nonzero()                                      # (n, 2), cells in (r, l) order
        if idx.shape[0] == 0:
            break
        probs = torch.softmax(model(x[None], cond[None], torch.tensor([t]), None if pos is None else pos[None])[0],
                              dim=-1)                                           # (R, L, V)
        calls += 1
        rows = idx[:, 0]
        p = probs[rows, idx[:, 1]]                                  # (n, V)
        a = allowed[rows]
        pa = torch.where(a, p, torch.full_like(p, -1.0))
        conf = pa.max(-1).values / torch.where(a, p, torch.zeros_like(p)).sum(-1)
        ok = a & (p > 0)
        if top_k > 0:
            k = min(top_k, V)
            thresh = pa.topk(k, dim=-1).values[:, -1]               # k-th largest allowed probability
            thresh = torch.where(n_allowed[rows] > top_k, thresh, torch.zeros_like(thresh)).clamp(min=0)
            ok &= p >= thresh[:, None]
        score = torch.log(p) / temperature + gumbel(p.shape, generator, torch.float32)   # as the original: float32
        score = torch.where(ok, score, torch.full_like(score, -math.inf))
        best = score.max(-1)
        tok = torch.where(torch.isinf(best.values), torch.full_like(best.indices, pad), best.indices)
        if i == steps - 1:                                          # t = 0: everything left
            x[idx[:, 0], idx[:, 1]] = tok
            break
        for r in range(R):
            keep = n_row[r] - n_row[r] * (i + 1) // (steps - 1)
            k = left[r] - keep
            if k <= 0:
                continue
            sel = (rows == r).nonzero().squeeze(1)
            key = conf[sel].double() + gumbel(sel.shape, generator)
            k = min(k, sel.numel())
            pick = sel[key.topk(k).indices]
            x[idx[pick, 0], idx[pick, 1]] = tok[pick]
            left[r] -= k
    return x, calls


if __name__ == "__main__":
    # Smoke test: tiny config, forward + loss + backward.
    cfg = GETDiffConfig.tiny()
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    m = GETDiffRef(cfg)
    B, L = 2, 12
    x0 = torch.randint(0, cfg.V, (B, cfg.R, L), generator=g)
    cond = torch.zeros_like(x0)
    t = torch.tensor([3, 80])
    xt = corrupt(x0, cond, t, g, V=cfg.V)
    logits = m(xt, cond, t)
    loss = getdiff_loss(logits, x0, xt, cond, t, torch.full((B,), 1.0 / T_STEPS))
    loss.backward()
    print("params:", sum(p.numel() for p in m.parameters()), "loss:", loss.item(), "logits:", tuple(logits.shape))
    print("keys:", len(m.state_dict()))
