#!/usr/bin/python3
"""
python/convert_getmusic.py — original GETMusic checkpoint + dict.txt -> getmusic GGUF.

    /usr/bin/python3 python/convert_getmusic.py checkpoint.pth dict.txt out.gguf
        [--weights ema|model] [--heads N] [--trust]

The checkpoint is what the original trainer saves (torch.save of a dict with
last_epoch, last_iter, model and usually ema, each a state dict). Network keys
end in `roformer.input_transformers.<name>` ("rfm." in front in 'model', none
in 'ema', whose state dict is of the inner DiffusionRFM); everything else
(rfm.log_at, log_cumprod_ct, Lt_history, ... schedule buffers) is ignored, and
so are encoder.embed_positions.weight (the fixed rotary table, recomputed by
the engine) and lm_head.weight (tied to the token embedding).

All sizes come from the tensor shapes (docs/MODEL.md): E and V+2 from
word_embeddings, R·E from the embedding LayerNorm, H and F from the first
layer, NL by counting layers, max_cols and the head size from the rotary table
(so the head count too; --heads when the table is absent, default 12), the
diffusion steps from the schedule buffers (default 100). Everything is
validated; errors are one line on stderr and exit status 1. The output is
written atomically (temporary file + rename).

Needs Debian's python3-torch (torch.load) and numpy; GGUF is written by
python/gguf_py.py.
"""

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_py  # noqa: E402

MARK = "roformer.input_transformers."
ROTARY = "encoder.embed_positions.weight"
TIME_DIM = 128


class ConvertError(Exception):
    pass


def fail(msg):
    raise ConvertError(msg)


def read_dict(path):
    """dict.txt: one `token<TAB>count` per line, ids are line numbers from 0.
    Tokens may contain spaces (compound pitches), so split at the last tab
    (or, without a tab, at the last run of spaces)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        fail("cannot read %s: %s" % (path, e.strerror))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        fail("%s: not UTF-8 text" % path)
    tokens, counts, seen = [], [], set()
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if "\t" in line:
            tok, cnt = line.rsplit("\t", 1)
        else:
            parts = line.rsplit(None, 1)
            if len(parts) != 2:
                fail("%s:%d: expected `token count`" % (path, i))
            tok, cnt = parts
        tok = tok.strip()
        if not tok or not re.fullmatch(r"\s*\d+\s*", cnt) or int(cnt) >= 2 ** 32:
            fail("%s:%d: expected `token count`, got %r" % (path, i, line[:60]))
        if tok in seen:
            fail("%s:%d: duplicate token %r" % (path, i, tok))
        seen.add(tok)
        tokens.append(tok)
        counts.append(int(cnt))
    if not tokens:
        fail("%s: no tokens" % path)
    return tokens, counts


def load_checkpoint(path, trust):
    if not os.path.isfile(path):
        fail("%s: no such file" % path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        fail("cannot read %s: %s" % (path, e.strerror))
    # torch.save writes a zip archive (PK\3\4) or, before 1.6, a pickle (\x80)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        fail("%s: not a GETMusic checkpoint (not a torch.save file)" % path)
    try:
        import torch
    except ImportError:
        fail("python3-torch is needed to read checkpoints (apt install python3-torch)")
    try:
        if trust:
            ck = torch.load(path, map_location="cpu")
        else:
            ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and torch errors alike
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = "" if trust else " (if it is a trusted checkpoint with other objects in it, try --trust)"
        if "weights_only" in msg or "Unsupported" in msg or "global" in msg.lower():
            fail("%s: cannot load safely: %s%s" % (path, msg[:200], hint))
        fail("%s: not a GETMusic checkpoint (torch.load failed: %s)" % (path, msg[:200]))
    if not isinstance(ck, dict):
        fail("%s: not a GETMusic checkpoint (a %s, not a dict)" % (path, type(ck).__name__))
    return ck


def pick_state(ck, path, which):
    """-> (state dict, 'ema'|'model'|'state dict')."""
    if "model" in ck or "ema" in ck:
        if which is None:
            which = "ema" if isinstance(ck.get("ema"), dict) else "model"
        sd = ck.get(which)
        if not isinstance(sd, dict):
            fail("%s: checkpoint has no '%s' weights (keys: %s)" % (path, which, ", ".join(sorted(map(str, ck)))[:200]))
        return sd, which
    if any(isinstance(k, str) and MARK in k for k in ck):
        if which is not None:
            fail("%s: a bare state dict, --weights does not apply" % path)
        return ck, "state dict"
    fail("%s: not a GETMusic checkpoint (no 'model' or 'ema' state dict)" % path)


def network_tensors(sd, path):
    """Strips everything up to MARK; drops non-network keys."""
    import torch
    net = {}
    for k, v in sd.items():
        if not isinstance(k, str) or MARK not in k:
            continue
        name = k.split(MARK, 1)[1]
        if not isinstance(v, torch.Tensor):
            fail("%s: %s is not a tensor" % (path, k))
        if name in net:
            fail("%s: tensor %s appears twice (under two prefixes)" % (path, name))
        net[name] = v
    if not net:
        fail("%s: no tensors under '...%s' (not a GETMusic checkpoint)" % (path, MARK))
    return net


def layer_names(n):
    p = "encoder.layer.%d." % n
    out = []
    for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
              "attention.output.LayerNorm"):
        out += [p + m + ".weight", p + m + ".bias"]
    for m in ("intermediate.dense", "output.dense", "output.LayerNorm"):
        out += [p + m + ".weight", p + m + ".bias"]
    return out


def tensor_names(NL):
    """MODEL.md's order."""
    names = ["embeddings.word_embeddings.weight", "embeddings.token_type_embeddings.weight",
             "embeddings.time_embeddings.0.weight", "embeddings.time_embeddings.0.bias",
             "embeddings.time_embeddings.2.weight", "embeddings.time_embeddings.2.bias",
             "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
             "embeddings_project.0.weight", "embeddings_project.0.bias",
             "embeddings_project.2.weight", "embeddings_project.2.bias"]
    for n in range(NL):
        names += layer_names(n)
    names += ["outputs_project.0.weight", "outputs_project.0.bias",
              "outputs_project.2.weight", "outputs_project.2.bias", "lm_head.bias"]
    return names


def derive(net, path, n_tokens, heads_opt):
    def shape(name):
        if name not in net:
            fail("%s: missing tensor %s%s" % (path, MARK, name))
        return tuple(net[name].shape)

    we = shape("embeddings.word_embeddings.weight")
    if len(we) != 2:
        fail("%s: embeddings.word_embeddings.weight has shape %s, want (V+2, E)" % (path, we))
    rows, E = we
    if rows != n_tokens + 2:
        fail("vocabulary mismatch: checkpoint has %d token rows, dict.txt has %d tokens (+2)" % (rows, n_tokens))
    V = rows - 2
    ln = shape("embeddings.LayerNorm.weight")
    if len(ln) != 1 or ln[0] % E or ln[0] == 0:
        fail("%s: embeddings.LayerNorm.weight has shape %s, want (R*E) with E = %d" % (path, ln, E))
    RE = ln[0]
    R = RE // E
    p0 = shape("embeddings_project.0.weight")
    if len(p0) != 2 or p0[1] != RE:
        fail("%s: embeddings_project.0.weight has shape %s, want (H, %d)" % (path, p0, RE))
    H = p0[0]
    fc = shape("encoder.layer.0.intermediate.dense.weight")
    if len(fc) != 2 or fc[1] != H:
        fail("%s: encoder.layer.0.intermediate.dense.weight has shape %s, want (F, %d)" % (path, fc, H))
    F = fc[0]
    layers = set()
    for k in net:
        m = re.match(r"encoder\.layer\.(\d+)\.", k)
        if m:
            layers.add(int(m.group(1)))
    NL = max(layers) + 1
    if layers != set(range(NL)):
        fail("%s: encoder layers %s are not 0..%d" % (path, sorted(set(range(NL)) - layers), NL - 1))

    # heads and max_cols from the rotary table when present
    max_cols, HD = 1536, None
    if ROTARY in net:
        rt = tuple(net[ROTARY].shape)
        if len(rt) != 2 or rt[0] < 1 or rt[1] < 2 or H % rt[1]:
            fail("%s: %s has shape %s, want (max_cols, H/heads) with H = %d" % (path, ROTARY, rt, H))
        max_cols, HD = rt
    if heads_opt is not None:
        NH = heads_opt
        if HD is not None and H // NH != HD:
            fail("--heads %d gives head size %d, but the checkpoint's rotary table has %d (heads = %d)"
                 % (NH, H // NH if NH else 0, HD, H // HD))
    else:
        NH = H // HD if HD is not None else 12
    if NH < 1 or H % NH or (H // NH) % 2:
        fail("%s: hidden %d is not a multiple of %d heads with an even head size" % (path, H, NH))

    want = {
        "embeddings.word_embeddings.weight": (V + 2, E),
        "embeddings.token_type_embeddings.weight": (2, E),
        "embeddings.time_embeddings.0.weight": (E, TIME_DIM), "embeddings.time_embeddings.0.bias": (E,),
        "embeddings.time_embeddings.2.weight": (E, E), "embeddings.time_embeddings.2.bias": (E,),
        "embeddings.LayerNorm.weight": (RE,), "embeddings.LayerNorm.bias": (RE,),
        "embeddings_project.0.weight": (H, RE), "embeddings_project.0.bias": (H,),
        "embeddings_project.2.weight": (H, H), "embeddings_project.2.bias": (H,),
        "outputs_project.0.weight": (RE, H), "outputs_project.0.bias": (RE,),
        "outputs_project.2.weight": (RE, RE), "outputs_project.2.bias": (RE,),
        "lm_head.bias": (V + 2,),
    }
    for n in range(NL):
        p = "encoder.layer.%d." % n
        for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            want[p + m + ".weight"], want[p + m + ".bias"] = (H, H), (H,)
        want[p + "attention.output.LayerNorm.weight"] = want[p + "attention.output.LayerNorm.bias"] = (H,)
        want[p + "intermediate.dense.weight"], want[p + "intermediate.dense.bias"] = (F, H), (F,)
        want[p + "output.dense.weight"], want[p + "output.dense.bias"] = (H, F), (H,)
        want[p + "output.LayerNorm.weight"] = want[p + "output.LayerNorm.bias"] = (H,)
    names = tensor_names(NL)
    assert set(names) == set(want)
    for name in names:
        s = shape(name)
        if s != want[name]:
            fail("%s: %s has shape %s, want %s" % (path, name, s, want[name]))
    extra = sorted(set(net) - set(names) - {ROTARY, "lm_head.weight"})
    if extra:
        fail("%s: unexpected network tensor %s (not a GETDiff checkpoint?)" % (path, extra[0]))
    if "lm_head.weight" in net and tuple(net["lm_head.weight"].shape) != (V + 2, E):
        fail("%s: lm_head.weight has shape %s, want %s" % (path, tuple(net["lm_head.weight"].shape), (V + 2, E)))
    return dict(R=R, V=V, E=E, H=H, NL=NL, NH=NH, F=F, max_cols=max_cols), names


def diffusion_steps(sd):
    for k, v in sd.items():
        if isinstance(k, str) and (k.endswith("Lt_history") or k.endswith("log_at")):
            try:
                return int(v.numel())
            except Exception:
                pass
    return 100


def convert(args):
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        fail("%s: no such directory" % out_dir)
    tokens, counts = read_dict(args.dict)
    ck = load_checkpoint(args.checkpoint, args.trust)
    sd, which = pick_state(ck, args.checkpoint, args.weights)
    net = network_tensors(sd, args.checkpoint)
    cfg, names = derive(net, args.checkpoint, len(tokens), args.heads)

    import torch
    warn = []
    if "lm_head.weight" in net:
        a, b = net["lm_head.weight"].float(), net["embeddings.word_embeddings.weight"].float()
        if not torch.equal(a, b):
            warn.append("warning: lm_head.weight differs from word_embeddings (max %.3g); the tied "
                        "word_embeddings is used" % (a - b).abs().max().item())
    T = diffusion_steps(sd)

    epoch, it = ck.get("last_epoch", "?"), ck.get("last_iter", "?")
    src = os.path.basename(args.checkpoint)
    if which == "state dict":
        source = "converted from %s (state dict)" % src
    else:
        source = "converted from %s (%s weights, epoch %s, iter %s)" % (src, which, epoch, it)

    w = gguf_py.GGUFWriter()
    w.add_str("general.architecture", "getmusic")
    w.add_u32("getmusic.rows", cfg["R"])
    w.add_u32("getmusic.vocab_size", cfg["V"])
    w.add_u32("getmusic.embd", cfg["E"])
    w.add_u32("getmusic.hidden", cfg["H"])
    w.add_u32("getmusic.layers", cfg["NL"])
    w.add_u32("getmusic.heads", cfg["NH"])
    w.add_u32("getmusic.ffn", cfg["F"])
    w.add_u32("getmusic.max_cols", cfg["max_cols"])
    w.add_u32("getmusic.diffusion_steps", T)
    w.add_str("getmusic.layout", "original")
    w.add_arr_str("getmusic.tokens", tokens)
    w.add_arr_u32("getmusic.token_counts", counts)
    w.add_str("getmusic.source", source)
    for name in names:
        t = net[name].detach().to(torch.float32).contiguous().cpu()
        if not torch.isfinite(t).all():
            fail("%s: %s has non-finite values" % (args.checkpoint, name))
        w.add_tensor(name, t.numpy())
    try:
        w.write(args.output)
    except OSError as e:
        fail("cannot write %s: %s" % (args.output, e.strerror or e))
    for m in warn:
        print(m, file=sys.stderr)
    n_par = sum(int(net[n].numel()) for n in names)
    print("wrote %s: R=%d V=%d E=%d H=%d layers=%d heads=%d ffn=%d max_cols=%d T=%d, %d tensors, %d parameters; %s"
          % (args.output, cfg["R"], cfg["V"], cfg["E"], cfg["H"], cfg["NL"], cfg["NH"], cfg["F"], cfg["max_cols"],
             T, len(names), n_par, source))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert an original GETMusic checkpoint and its dict.txt to GGUF.")
    ap.add_argument("checkpoint", help="original checkpoint (.pth, torch.save dict)")
    ap.add_argument("dict", help="the dict.txt it was trained with")
    ap.add_argument("output", help="GGUF file to write")
    ap.add_argument("--weights", choices=("ema", "model"), default=None,
                    help="which weights to convert (default: ema when present, else model)")
    ap.add_argument("--heads", type=int, default=None,
                    help="attention heads (default: from the rotary table, else 12)")
    ap.add_argument("--trust", action="store_true",
                    help="full unpickling (only for checkpoints you trust; default loads tensors and plain data only)")
    args = ap.parse_args(argv)
    try:
        convert(args)
    except ConvertError as e:
        print("convert_getmusic: %s" % e, file=sys.stderr)
        return 1
    except gguf_py.GGUFError as e:
        print("convert_getmusic: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
