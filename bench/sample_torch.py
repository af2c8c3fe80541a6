#!/usr/bin/env python3
"""The PyTorch side of `make bench`'s generation: the problem that
bench/bench_generate.c wrote (SIZE.prob) on the same GGUF weights, sampled by
python/reference.py's `sample` (the straightforward way: the full x̂0
distribution of every cell each step, then gd_sample's selection rules),
2 threads, CPU, float32.

  sample_torch.py PROBLEM.prob MODEL.gguf
Prints one JSON line: seconds, network calls, and the correctness check: the
largest difference between our first-step probabilities and C's for the
probe cells (absolute, and relative to the probability); and, like for like,
the onsets (non-pad cells) generated per target row here and by C (SIZE.gen)."""
import json, os, resource, struct, sys, time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "python"))
import numpy as np
import torch
from gguf_py import GGUFReader
from model import config_from_gguf
from reference import GETDiffRef, sample, step_t

torch.set_num_threads(2)


def load_model(path):
    g = GGUFReader(path)
    kv = g.kv
    cfg = config_from_gguf(g)    # sizes, and bar positions when the file has them
    cfg.dropout = 0.0
    model = GETDiffRef(cfg)
    # The network's tensors; a learnt harmoniser (harmonizer.*) rides beside them in the file.
    sd = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in g.tensors.items() if not k.startswith("harmonizer.")}
    model.load_state_dict(sd, strict=True)
    model.eval()
    return model, kv["getmusic.diffusion_steps"]


def read_problem(path):
    with open(path, "rb") as f:
        buf = f.read()
    if buf[:8] != b"GMGENP02":
        sys.exit("sample_torch: %s is not a bench_generate problem" % path)
    R, L, V, pad, steps, T, top_k, probe_t, n_probe = struct.unpack_from("<9i", buf, 8)
    temperature, = struct.unpack_from("<f", buf, 44)
    seed, = struct.unpack_from("<Q", buf, 48)
    off = 56

    def ints(n):
        nonlocal off
        a = np.frombuffer(buf, dtype="<i4", count=n, offset=off)
        off += 4 * n
        return a

    x = ints(R * L).reshape(R, L)
    cond = ints(R * L).reshape(R, L)
    lo, hi = ints(R).tolist(), ints(R).tolist()
    probe = ints(2 * n_probe).reshape(n_probe, 2)
    probs = np.frombuffer(buf, dtype="<f4", count=n_probe * V, offset=off).reshape(n_probe, V)
    off += 4 * n_probe * V
    pos = ints(L)                                                   # (L) bar positions
    return dict(R=R, L=L, V=V, pad=pad, steps=steps, T=T, top_k=top_k, probe_t=probe_t, temperature=temperature,
                seed=seed, x=torch.from_numpy(x.astype(np.int64)), cond=torch.from_numpy(cond.astype(np.int64)),
                lo=lo, hi=hi, probe=probe, probs=probs, pos=torch.from_numpy(pos.astype(np.int64)))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: sample_torch.py PROBLEM.prob MODEL.gguf")
    p = read_problem(sys.argv[1])
    model, T = load_model(sys.argv[2])
    c = model.cfg
    assert (c.R, c.V, T) == (p["R"], p["V"], p["T"]), "problem and model differ"
    assert p["probe_t"] == step_t(0, p["steps"], T)
    with torch.no_grad():
        # The first step's probabilities (also the warm-up call).
        pos = p["pos"][None] if c.Q else None
        probs = torch.softmax(model(p["x"][None], p["cond"][None], torch.tensor([p["probe_t"]]), pos)[0], dim=-1)
        ours = probs[torch.from_numpy(p["probe"][:, 0].astype(np.int64)),
                     torch.from_numpy(p["probe"][:, 1].astype(np.int64))].numpy()
    theirs = p["probs"]
    diff = np.abs(ours.astype(np.float64) - theirs)
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float((diff / np.maximum(np.abs(theirs), 1e-6)).max()) if diff.size else 0.0
    gen = torch.Generator().manual_seed(p["seed"])
    t0 = time.perf_counter()
    x, calls = sample(model, p["x"], p["cond"], p["lo"], p["hi"], p["pad"], steps=p["steps"],
                      temperature=p["temperature"], top_k=p["top_k"], generator=gen, T=T,
                      pos=p["pos"] if c.Q else None)
    seconds = time.perf_counter() - t0
    # The result must be complete and in range (as the C side checks).
    tgt = p["cond"] == 0
    left = int((x == c.MASK).sum())
    bad = 0
    for r in range(c.R):
        row, t_r = x[r], tgt[r]
        okr = (row == p["pad"]) | ((row >= p["lo"][r]) & (row < p["hi"][r])) | (row == c.EMPTY)
        bad += int((t_r & ~okr).sum())
    # Like for like: onsets (non-pad cells) generated per target row here and
    # by C (SIZE.gen beside the problem), different random numbers.
    onsets = [int(((x[r] != p["pad"]) & (x[r] != c.EMPTY)).sum()) for r in range(c.R) if p["cond"][r, 0] == 0]
    gen_c = os.path.splitext(sys.argv[1])[0] + ".gen"
    onsets_c = None
    if os.path.exists(gen_c):
        xc = np.fromfile(gen_c, dtype="<i4").reshape(c.R, -1)
        onsets_c = [int(((xc[r] != p["pad"]) & (xc[r] != c.EMPTY)).sum()) for r in range(c.R) if p["cond"][r, 0] == 0]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps({"steps": p["steps"], "forwards": calls, "seconds": round(seconds, 3),
                      "s_per_forward": round(seconds / max(calls, 1), 4), "probe_cells": int(len(theirs)),
                      "probe_max_abs_diff": max_abs, "probe_max_rel_diff": max_rel,
                      "cells_left": left, "cells_out_of_range": bad, "onsets_torch": sum(onsets),
                      "onsets_c": sum(onsets_c) if onsets_c else -1, "onsets_per_row_torch": onsets,
                      "onsets_per_row_c": onsets_c, "peak_rss_mb": rss}))
    if left or bad:
        sys.exit("sample_torch: %d cells left masked, %d out of range" % (left, bad))


if __name__ == "__main__":
    main()
