#!/usr/bin/env python3
"""The PyTorch side of `make bench` for the engine: the same configs, the same
input formula and the same measurements as bench/bench_engine.c, on the
reference model of python/reference.py (2 threads, CPU, float32).

  bench_torch.py train SIZE B L ITERS
  bench_torch.py denoise SIZE L ITERS
Prints one JSON line."""
import json, os, resource, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import torch
from reference import GETDiffConfig, GETDiffRef, getdiff_loss

torch.set_num_threads(2)


def config(size):
    if size == "original":
        return GETDiffConfig(R=14, V=11879, E=96, H=768, NL=12, NH=12, F=3072, max_cols=1536, dropout=0.1)
    return GETDiffConfig(R=10, V=1663, E=64, H=256, NL=4, NH=4, F=1024, max_cols=512, dropout=0.1)


def inputs(c, B, L, T=100):
    """The formula of bench_engine.c's inputs()."""
    i = torch.arange(B * c.R * L, dtype=torch.int64)
    h = (i * 2654435761 + 12345) & 0xFFFFFFFF
    x0 = (h % c.V).view(B, c.R, L)
    r = (i // L) % c.R
    cond = (r < 2).to(torch.int64).view(B, c.R, L)
    masked = ((h >> 20) % 2 == 1).view(B, c.R, L) & (cond == 0)
    xt = torch.where(masked, torch.full_like(x0, c.V + 1), x0)
    t = torch.tensor([(37 * b + 50) % T for b in range(B)])
    pt = torch.full((B,), 1.0 / T)
    return x0, xt, cond, t, pt


def main():
    mode, size = sys.argv[1], sys.argv[2]
    c = config(size)
    torch.manual_seed(1)
    if mode == "train":
        B, L, iters = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 3
    else:
        B, L, iters = 1, int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 3
        c.dropout = 0.0
    model = GETDiffRef(c)
    x0, xt, cond, t, pt = inputs(c, B, L)
    best, loss = 1e30, 0.0
    if mode == "train":
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
        for k in range(iters + 1):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=False)
            l = getdiff_loss(model(xt, cond, t), x0, xt, cond, t, pt)
            l.backward()
            opt.step()
            dt = time.perf_counter() - t0
            loss = float(l)
            if k > 0: best = min(best, dt)
    else:
        model.eval()
        with torch.no_grad():
            for k in range(iters + 1):
                t0 = time.perf_counter()
                probs = torch.softmax(model(xt, cond, t), dim=-1)
                dt = time.perf_counter() - t0
                if k > 0: best = min(best, dt)
    n_params = sum(p.numel() for p in model.parameters())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps({"mode": mode, "size": size, "B": B, "L": L, "params": n_params, "seconds": round(best, 4),
                      "cols_per_s": round(B * L / best, 1), "loss": round(loss, 5), "peak_rss_mb": rss}))


if __name__ == "__main__":
    main()
