/*
 * nn.h — neural-network kernels, forward/backward pairs (llm.c style).
 *
 * Conventions:
 *   - float32, row-major; shapes in the comments; n = number of rows (tokens).
 *   - forward: outputs first, then inputs, then sizes.
 *   - backward: ADDS into the gradients (+=), so callers zero them once per
 *     step and several uses of a tensor accumulate. A NULL gradient pointer
 *     means "not needed" and is skipped.
 *   - Large products go through OpenBLAS (cblas_sgemm); elementwise and
 *     row-wise kernels use OpenMP. No BLAS call is made inside an OpenMP
 *     region (the two thread pools would fight over the cores).
 */
#ifndef GM_NN_H
#define GM_NN_H
#include <stddef.h>
#include <stdint.h>

/* Number of threads for OpenMP regions and OpenBLAS (0 = all cores). */
void nn_set_threads(int n);

/* y[n][out] = x[n][in] · w[out][in]ᵀ + b[out]   (b may be NULL) */
void nn_linear_forward(float *y, const float *x, const float *w, const float *b, int n, int in, int out);
/* dx[n][in] += dy·w ; dw[out][in] += dyᵀ·x ; db[out] += Σ_rows dy */
void nn_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int n, int in,
                        int out);

/* y[n][d] = (x − mean)·rstd·g + b ; mean[n], rstd[n] saved for backward */
void nn_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *g, const float *b, int n, int d,
                          float eps);
void nn_layernorm_backward(float *dx, float *dg, float *db, const float *dy, const float *x, const float *mean,
                           const float *rstd, const float *g, int n, int d);

/* Elementwise: exact GELU (x·Φ(x), erf form) and SiLU (x·σ(x)). y may equal x in forward. */
void nn_gelu_forward(float *y, const float *x, size_t n);
void nn_gelu_backward(float *dx, const float *dy, const float *x, size_t n);
void nn_silu_forward(float *y, const float *x, size_t n);
void nn_silu_backward(float *dx, const float *dy, const float *x, size_t n);

/* Softmax over the last dim, in place: x[n][d]. */
void nn_softmax_forward(float *x, int n, int d);

/* Rotary position embedding on x (B, L, NH·HD), position = column index l,
 * interleaved pairs: θ = l / 10000^(2j/HD), (a,b) → (a·cosθ − b·sinθ, b·cosθ + a·sinθ).
 * forward: y = rope(x) (y may equal x); backward: dx += ropeᵀ(dy) (dx may equal dy only if
 * it was zero before — use a separate buffer). */
void nn_rope_forward(float *y, const float *x, int B, int L, int NH, int HD);
void nn_rope_backward(float *dx, const float *dy, int B, int L, int NH, int HD);

/* Bidirectional multi-head attention, memory-efficient: q, k, v, out are
 * (B, L, NH·HD); only lse (B, NH, L) — the log-sum-exp of each query's
 * scaled scores — is kept for backward, which recomputes the scores.
 * scratch: at least nn_attention_scratch(L) floats. */
size_t nn_attention_scratch(int L);
void nn_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v, int B, int L, int NH,
                          int HD, float *scratch);
/* dq, dk, dv += ... */
void nn_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                           const float *v, const float *out, const float *lse, int B, int L, int NH, int HD,
                           float *scratch);

/* Tied output layer + log-softmax + weighted NLL, fused and chunked so the
 * full (n, V) logits never exist at once (V is ~12k for the original).
 *   logits[i][v] = c[i]·W[v] + bias[v]   for v < V (W: the first V rows of the embedding (·, E))
 *   returns Σ_i wt[i]·(−log softmax(logits[i])[y[i]])   (rows with wt[i] == 0 are skipped)
 * Backward in the same pass (when dc/dW/dbias are non-NULL):
 *   g = wt[i]·(softmax − onehot(y[i])); dc[i] += g·W; dW += gᵀ·c; dbias += Σ g
 * logits_out (n, V) is written when non-NULL (tests). nll_out[i] (n) = −log p(y[i]) when non-NULL.
 * scratch: at least nn_tied_ce_scratch(V) floats. */
size_t nn_tied_ce_scratch(int V);
double nn_tied_ce(float *dc, float *dW, float *dbias, float *logits_out, float *nll_out, const float *c, const float *W,
                  const float *bias, const int32_t *y, const float *wt, int n, int E, int V, float *scratch);

/* The same with a second, "mixture" term per row (the diffusion loss's intact
 * cells): loss += wi[i]·(−log(ri[i] + (1 − ri[i])·p(y[i]))), whose gradient is
 * that of a cross-entropy weighted wi·(1 − ri)·p/(ri + (1 − ri)·p). wi, ri may
 * be NULL (= nn_tied_ce). */
double nn_tied_ce_mix(float *dc, float *dW, float *dbias, float *logits_out, float *nll_out, const float *c,
                      const float *W, const float *bias, const int32_t *y, const float *wt, const float *wi,
                      const float *ri, int n, int E, int V, float *scratch);

/* Inference: probabilities p[n][V] = softmax(c·Wᵀ + bias) (one sgemm + row softmax). */
void nn_tied_softmax(float *p, const float *c, const float *W, const float *bias, int n, int E, int V);

/* Bags of embeddings over a CSR membership (the token features of MODEL.md):
 *   y[i][E] = base[i] + Σ_{j ∈ off[i]..off[i+1]) table[idx[j]]     (off: n+1 entries)
 * backward: dbase[i] += dy[i]; dtable[idx[j]] += dy[i] for j in bag i (either may be NULL). */
void nn_bag_forward(float *y, const float *base, const float *table, const int32_t *off, const int32_t *idx, int n,
                    int E);
void nn_bag_backward(float *dbase, float *dtable, const float *dy, const int32_t *off, const int32_t *idx, int n,
                     int E);

#endif
