import torch, numpy as np, sys, an, metre_train as mt
torch.set_num_threads(1)
S = an.load('feat0.txt'); use = [s for s in S if s['bpb'] == 4 and s['aligned']]
tr_all = [s for s in use if not s['valid']]; va = [s for s in use if s['valid']]; dev = tr_all[1::4]
M = [torch.load(p, weights_only=False) for p in sys.argv[1:]]
def lp(s):
    out = 0
    for m in M:
        with torch.no_grad(): z = m['net'](torch.tensor((mt.window(s['x']) - m['mu']) / m['sd'])).numpy().astype(np.float64)
        z = z - z.max(1, keepdims=True); out = out + (z - np.log(np.exp(z).sum(1, keepdims=True))) / len(M)
    return out
prior, hazard = M[0]['prior'], M[0]['hazard']
for lam in (0.2, 0.3, 0.5):
    f = [np.mean([mt.found(s, mt.decode(lp(s), prior, hazard, lam)) for s in g]) for g in (dev, va)]
    print('ensemble of %d, lam %.1f: dev %.3f valid %.3f' % (len(M), lam, f[0], f[1]))
