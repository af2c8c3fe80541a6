"""
python/model.py — the GETDiff network of docs/MODEL.md, made trainable at
speed, and its GGUF model file.

GETDiffFast subclasses the reference (reference.py, beside this file) so the parameters,
their names and their initialisation are the reference's; only the forward
pass is rewritten for speed: fused attention (scaled_dot_product_attention),
rotary tables cached per length, and the tied output layer evaluated only on
the cells that carry loss (EMPTY cells weigh 0, and they are most cells of a
drums-only or a drum-less segment). Numerically it is the reference's forward
(tests/test_python_train.sh checks C's probabilities against it).
"""

import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # reference.py and gguf_py.py live beside this file

import reference as ref  # noqa: E402
import gguf_py  # noqa: E402

T_STEPS = ref.T_STEPS

# ---------------------------------------------------------------------------
# Drum styles (docs/MODEL.md "Drum styles"): the bar-position table holds one
# block of N_BAR_POSITIONS rows per style, and a column looks up row
# style·32 + position, so a style is a learnt vector per position of the bar
# (a swing ride and a backbeat differ by where in the bar they play).
# Block 0, "any", is the table of a model without styles: what a song with
# no style asked for, and a model continued with styles starts with every
# block a copy of it (so it first computes exactly what it did).
# ---------------------------------------------------------------------------

DRUM_STYLES = ("any", "pop", "funk", "hiphop", "jazz", "latin", "world")
# Groove MIDI's style (the first word of its file name's style field) -> our style.
GROOVE_STYLES = {"rock": "pop", "pop": "pop", "soul": "pop", "country": "pop", "punk": "pop", "gospel": "pop",
                 "dance": "pop", "blues": "pop", "funk": "funk", "hiphop": "hiphop", "jazz": "jazz",
                 "latin": "latin", "afrocuban": "latin", "neworleans": "world", "afrobeat": "world",
                 "reggae": "world", "middleeastern": "world", "highlife": "world"}


def drum_style_of(song_name):
    """Style index of a corpus song by its file name: Groove's NAME_STYLE_BPM_beat_4-4.mid
    (style words joined by '-', the first one counts); 0 ("any") for anything else."""
    base = os.path.basename(song_name).split("_")
    if len(base) < 4 or not base[2].isdigit():
        return 0
    return DRUM_STYLES.index(GROOVE_STYLES.get(base[1].split("-")[0], "any"))


def attention(q, k, v):
    """(B, NH, L, HD) each -> (B, NH, L, HD): softmax(q·kᵀ/√HD)·v, fused where
    this PyTorch has it (2.0+), else the reference's arithmetic (1.13)."""
    sdpa = getattr(F, "scaled_dot_product_attention", None)
    if sdpa is not None:
        return sdpa(q, k, v)
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1) @ v


class GETDiffFast(ref.GETDiffRef):
    def __init__(self, cfg, **kw):
        super().__init__(cfg, **kw)
        self._rot = {}

    def tok_table(self):
        """(V+2, E): the token table used by both the input and the tied output."""
        tt = getattr(self, "token_table", None)
        return tt() if tt is not None else self.embeddings.word_embeddings.weight

    def _rotary(self, L, device, dtype):
        key = (L, device, dtype)
        if key not in self._rot:
            cos, sin = ref.rotary_tables(L, self.cfg.HD)
            self._rot[key] = (cos.to(device, dtype), sin.to(device, dtype))
        return self._rot[key]

    def cells(self, x, cond, t, pos=None):
        """x, cond: (B, R, L) int; t: (B) int; pos: (B, L) int bar positions (cfg.Q > 0)
        -> output cells (B, R, L, E), token table (V+2, E)."""
        c = self.cfg
        B, R, L = x.shape
        p = c.dropout if self.training else 0.0
        emb = self.embeddings
        tok = self.tok_table()
        te = emb.time_embeddings(ref.time_features(t.cpu()).to(tok.device))           # (B, E)
        e = tok[x.long()] + emb.token_type_embeddings.weight[cond.long()] + te[:, None, None, :]   # (B, R, L, E)
        u = emb.LayerNorm(e.permute(0, 2, 1, 3).reshape(B, L, R * c.E))               # (B, L, R·E)
        h = self.embeddings_project(F.dropout(u, p, self.training))                     # (B, L, H)
        if c.Q > 0:                                                                     # + bar position (B, L, H)
            h = h + emb.bar_position_embeddings.weight[pos.long()]
        cos, sin = self._rotary(L, h.device, torch.float32)                             # (L, HD/2)
        for lay in self.encoder.layer:
            sa = lay.attention.self
            qkv = [lin(h).view(B, L, c.NH, c.HD).transpose(1, 2) for lin in (sa.query, sa.key, sa.value)]
            q = ref.apply_rotary(qkv[0], cos.to(qkv[0].dtype), sin.to(qkv[0].dtype))  # (B, NH, L, HD)
            k = ref.apply_rotary(qkv[1], cos.to(qkv[1].dtype), sin.to(qkv[1].dtype))
            o = attention(q, k, qkv[2]).transpose(1, 2).reshape(B, L, c.H)
            ao = lay.attention.output
            h = ao.LayerNorm(h + F.dropout(ao.dense(o), p, self.training))
            fo = lay.output
            h = fo.LayerNorm(h + F.dropout(fo.dense(F.gelu(lay.intermediate.dense(h))), p, self.training))
        co = self.outputs_project(h)                                                    # (B, L, R·E)
        return co.view(B, L, R, c.E).permute(0, 2, 1, 3), tok

    def forward(self, x, cond, t, pos=None):
        """Full logits (B, R, L, V), as the reference (for tests and probabilities)."""
        cells, tok = self.cells(x, cond, t, pos)
        return cells @ tok[: self.cfg.V].t() + self.lm_head.bias[: self.cfg.V]


_SCHEDULES = {}


def schedule_on(device):
    """(att, ctt) float64 (T) on `device`, made once per device (the loss runs every step)."""
    if device not in _SCHEDULES:
        _SCHEDULES[device] = tuple(a.to(device) for a in ref.schedule(T_STEPS))
    return _SCHEDULES[device]


def diffusion_loss(model, x0, xt, cond, t, pt, pos=None):
    """MODEL.md "Loss", on the cells with weight > 0 only. x0, xt, cond: (B, R, L);
    t: (B) long; pt: (B) float; pos: (B, L) bar positions (cfg.Q > 0).
    Returns (sum over the batch of L_b, L_b (B) detached)."""
    c = model.cfg
    V, T = c.V, T_STEPS
    B = x0.shape[0]
    cells, tok = model.cells(xt, cond, t, pos)                                          # (B, R, L, E)
    w = torch.where(cond != 0, 0.5, 1.0) * (x0 != V)                                    # (B, R, L)
    sel = (w > 0).reshape(-1).nonzero().squeeze(1)                                      # (N) flat cell ids
    bidx = sel // (x0.shape[1] * x0.shape[2])                                           # (N) batch of each cell
    z = cells.reshape(-1, c.E)[sel] @ tok[:V].t() + model.lm_head.bias[:V]              # (N, V)
    lp = torch.log_softmax(z.float(), dim=-1).gather(1, x0.reshape(-1)[sel][:, None]).squeeze(1)   # (N)
    nll = -lp
    att, ctt = schedule_on(x0.device)
    tp = (t - 1).clamp(min=0)
    a = torch.where(t > 0, 1.0 - ctt[tp] / ctt[t], torch.ones_like(ctt[t])).float()   # (B)
    r = torch.where(t > 0, att[t] / att[tp], torch.ones_like(att[t])).float()         # (B)
    tb, ab, rb = t[bidx], a[bidx], r[bidx]
    masked = (xt.reshape(-1)[sel] == V + 1).float()
    intact = -torch.log(rb + (1.0 - rb) * lp.exp())
    kl = torch.where(tb > 0, masked * ab * nll + (1.0 - masked) * intact, nll)
    ws = w.reshape(-1)[sel].float()
    main = torch.zeros(B, device=x0.device).index_add_(0, bidx, ws * kl)
    aux_w = (ref.AUX_WEIGHT * (2.0 - t.double() / T)).float()
    aux = aux_w * torch.zeros(B, device=x0.device).index_add_(0, bidx, ws * nll)
    n = torch.zeros(B, device=x0.device).index_add_(0, bidx, torch.ones_like(ws))
    Lb = torch.where(n > 0, (main + aux) / (n.clamp(min=1) * pt.float()), torch.zeros_like(main))
    return Lb.sum(), Lb.detach()


def corpus_token_features(corpus, cfg):
    """The token-feature membership (V+2, P) of the corpus' vocabulary, or None (cfg.P = 0)."""
    if not cfg.P:
        return None
    cl = corpus.layout["classes"]
    return ref.token_features(corpus.vocab_tokens, "".join(k["prefix"] for k in cl), [k["is_drum"] for k in cl], cfg.P)


# ---------------------------------------------------------------------------
# GGUF model files (the keys of src/model/model.c)
# ---------------------------------------------------------------------------

def config_from_gguf(g):
    kv = g.kv
    cfg = ref.GETDiffConfig(R=kv["getmusic.rows"], V=kv["getmusic.vocab_size"], E=kv["getmusic.embd"],
                            H=kv["getmusic.hidden"], NL=kv["getmusic.layers"], NH=kv["getmusic.heads"],
                            F=kv["getmusic.ffn"], max_cols=kv["getmusic.max_cols"],
                            dropout=float(kv.get("getmusic.dropout", 0.1)))
    cfg.P = int(kv.get("getmusic.token_features", 0))
    cfg.Q = int(kv.get("getmusic.bar_positions", 0)) * max(1, len(kv.get("getmusic.drum_styles") or ()))
    return cfg


def n_styles(cfg):
    """Style blocks of the bar-position table (1 without styles, 0 without the table)."""
    return cfg.Q // ref.N_BAR_POSITIONS


BAR_TABLE = "embeddings.bar_position_embeddings.weight"


def load_gguf_weights(model, g, path):
    """Copies a GGUF file's tensors into the model; every parameter must be there with its shape,
    except the bar-position table when the file has none (a model continued with bar positions
    added: MODEL.md, the table starts at zero so the model computes what it did); a file's
    plain table fills every block of a model with drum styles."""
    sd = model.state_dict()
    for name, p in sd.items():
        if name not in g.tensors:
            if name == "feat":
                continue
            if name == BAR_TABLE and not int(g.kv.get("getmusic.bar_positions", 0)):
                with torch.no_grad():
                    p.zero_()
                continue
            raise ValueError("%s: tensor %s missing" % (path, name))
        a = np.asarray(g.tensors[name], dtype=np.float32)
        if name == BAR_TABLE and a.shape[0] == ref.N_BAR_POSITIONS and p.shape[0] > a.shape[0]:
            a = np.tile(a, (p.shape[0] // a.shape[0], 1))    # styles added: every block starts as the plain table
        if tuple(a.shape) != tuple(p.shape):
            raise ValueError("%s: tensor %s has shape %s, the model %s" % (path, name, a.shape, tuple(p.shape)))
        with torch.no_grad():
            p.copy_(torch.from_numpy(a.copy()))


def harmonizer_part(path):
    """The learnt harmoniser a model file carries (python/harmonizer.py, src/model/harmonizer.c):
    ({key: (type, value)}, {tensor name: array}), or None when it has none."""
    if not path or not os.path.exists(path):
        return None
    g = gguf_py.GGUFReader(path)
    kv = {k: (g.types[k], v) for k, v in g.kv.items() if k.startswith("getmusic.harmonizer.")}
    if not kv:
        return None
    return kv, {n: np.array(t) for n, t in g.tensors.items() if n.startswith("harmonizer.")}


def write_gguf(path, model, corpus, source, f16=False, state=None, harmonizer=None):
    """The model file C loads (src/model/model.c): sizes, layout, vocabulary, provenance, tensors.
    state: a name -> tensor dict to write instead of the model's weights (the EMA).
    harmonizer: harmonizer_part() of the model trained from, carried over unchanged."""
    c = model.cfg
    w = gguf_py.GGUFWriter()
    w.add_str("general.architecture", "getmusic")
    for key, v in (("rows", c.R), ("vocab_size", c.V), ("embd", c.E), ("hidden", c.H), ("layers", c.NL),
                   ("heads", c.NH), ("ffn", c.F), ("max_cols", c.max_cols), ("diffusion_steps", T_STEPS)):
        w.add_u32("getmusic." + key, int(v))
    w.add_f32("getmusic.dropout", float(c.dropout))
    lay = corpus.layout
    cl = lay["classes"]
    w.add_str("getmusic.layout", lay["name"])
    w.add_arr_str("getmusic.layout.names", [k["name"] for k in cl])
    w.add_str("getmusic.layout.prefixes", "".join(k["prefix"] for k in cl))
    for key, f in (("is_drum", "is_drum"), ("programs", "out_program"), ("velocities", "velocity"),
                   ("roles", "roles"), ("fallback", "fallback")):
        w.add_arr_i32("getmusic.layout." + key, [int(k[f]) for k in cl])
    w.add_arr_str("getmusic.tokens", corpus.vocab_tokens)
    w.add_arr_u32("getmusic.token_counts", corpus.vocab_counts)
    w.add_str("getmusic.source", source)
    if getattr(corpus, "chord_frames_per_bar", 1) != 1:
        w.add_u32("getmusic.chord_frames_per_bar", int(corpus.chord_frames_per_bar))
    if c.P:
        w.add_u32("getmusic.token_features", int(c.P))
    if c.Q:
        w.add_u32("getmusic.bar_positions", ref.N_BAR_POSITIONS)
    if n_styles(c) > 1:
        w.add_arr_str("getmusic.drum_styles", list(DRUM_STYLES[:n_styles(c)]))
    sd = state if state is not None else model.state_dict()
    for name, p in model.named_parameters():
        a = sd[name].detach().float().cpu().numpy()
        w.add_tensor(name, a, gguf_py.GGML_F16 if f16 and a.ndim == 2 else gguf_py.GGML_F32)
    if harmonizer:
        for key, (vt, v) in harmonizer[0].items():
            w.add_str(key, v) if vt == gguf_py.GGUF_STRING else w.add_scalar(key, vt, v)
        for name, arr in harmonizer[1].items():
            w.add_tensor(name, arr)
    w.write(path)
