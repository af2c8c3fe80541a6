/*
 * nn.c — neural-network kernels for GETDiff (see nn.h and docs/MODEL.md).
 *
 * Every op is a forward/backward pair in the llm.c manner: outputs first, then
 * inputs, then sizes; backward adds into gradients. Products go through
 * OpenBLAS (cblas_sgemm); element- and row-wise loops use OpenMP. The two are
 * never nested: each BLAS call is made from the serial part of the program, so
 * OpenBLAS's own threads and the OpenMP team take turns on the cores.
 *
 * Numerics: row statistics (LayerNorm mean/variance, softmax sums, the
 * log-sum-exp of the output layer) are accumulated in double after
 * max-subtraction, so float32 results track a float32 PyTorch reference to
 * about 1e-6 relative. Column reductions (bias and LayerNorm parameter
 * gradients) are split by column blocks, never by rows, so the result does not
 * depend on the number of threads.
 */
#include "nn.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

void openblas_set_num_threads(int num_threads); /* also in Debian's cblas.h; harmless twice */

/* OpenMP regions below this many elements run on one thread: the fork/join
 * costs more than the work (the tiny golden config is all below it). */
#define NN_PAR_MIN 16384
/* Rows of logits the output layer holds at once (nn_tied_ce). */
#ifndef NN_CE_CHUNK
#define NN_CE_CHUNK 256
#endif
/* Columns per block in the column reductions. */
#define NN_COL_BLOCK 64
/* A vectorized running max over mx (gcc); clang cannot vectorize it without
 * -ffinite-math-only and would warn that the pragma failed. */
#if defined(__clang__)
#define NN_SIMD_MAX_MX
#else
#define NN_SIMD_MAX_MX _Pragma("omp simd reduction(max : mx)")
#endif

void nn_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

/* ------------------------------------------------------------------------ */
/* exp for the hot loops (softmax rows, attention, the output layer): glibc's
 * expf is a scalar call that stops the loops vectorizing; this one inlines.
 * Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, Cephes' degree-6 polynomial
 * for e^r, then scale by 2^n through the exponent bits: within 2 ulp of expf.
 * x is clamped to [−87.3, 88]: below, the result is ~1e-38 instead of a
 * denormal or 0 (no softmax term notices); above, ~1.6e38 instead of inf. */

static inline float nn_expf(float x) {
    /* The clamp works on the bits: a float compare would keep the loop from
     * vectorizing under the default -ftrapping-math. Positive floats order as
     * signed ints (cap at 88.0f = 0x42b00000); negative floats order by
     * magnitude as unsigned ints (cap at −87.3f = 0xc2ae999a). */
    int32_t xi;
    memcpy(&xi, &x, sizeof xi);
    xi = xi > 0x42b00000 ? 0x42b00000 : xi;
    uint32_t xu = (uint32_t)xi;
    xu = xu > 0xc2ae999au ? 0xc2ae999au : xu;
    memcpy(&x, &xu, sizeof x);
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round(x/ln2) */
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t e = ((int32_t)n + 127) << 23;
    float sc;
    memcpy(&sc, &e, sizeof sc);
    return p * sc;
}

/* ------------------------------------------------------------------------ */
/* Column sums: acc[j] += Σ_i a[i][j] over n rows of width d (row stride lda). */

static void colsum_add(float *acc, const float *a, int n, int d, int lda) {
    int nblk = (d + NN_COL_BLOCK - 1) / NN_COL_BLOCK;
#pragma omp parallel for schedule(static) if ((size_t)n * d >= NN_PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int j0 = blk * NN_COL_BLOCK, j1 = j0 + NN_COL_BLOCK < d ? j0 + NN_COL_BLOCK : d;
        double s[NN_COL_BLOCK] = {0};
        for (int i = 0; i < n; i++) {
            const float *r = a + (size_t)i * lda;
#pragma omp simd
            for (int j = j0; j < j1; j++) s[j - j0] += r[j];
        }
        for (int j = j0; j < j1; j++) acc[j] += (float)s[j - j0];
    }
}

/* ------------------------------------------------------------------------ */
/* Linear: y = x·wᵀ + b */

void nn_linear_forward(float *y, const float *x, const float *w, const float *b, int n, int in, int out) {
    float beta = 0.0f;
    if (b) {
#pragma omp parallel for schedule(static) if ((size_t)n * out >= NN_PAR_MIN)
        for (int i = 0; i < n; i++) memcpy(y + (size_t)i * out, b, (size_t)out * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, beta, y, out);
}

void nn_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int n, int in,
                        int out) {
    if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w, in, 1.0f, dx, in);
    if (dw) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db) colsum_add(db, dy, n, out, out);
}

/* ------------------------------------------------------------------------ */
/* LayerNorm over the last dim */

void nn_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *g, const float *b, int n, int d,
                          float eps) {
#pragma omp parallel for schedule(static) if ((size_t)n * d >= NN_PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        float *yi = y + (size_t)i * d;
        double m = 0.0;
#pragma omp simd reduction(+ : m)
        for (int j = 0; j < d; j++) m += xi[j];
        m /= d;
        double v = 0.0;
#pragma omp simd reduction(+ : v)
        for (int j = 0; j < d; j++) {
            double t = xi[j] - m;
            v += t * t;
        }
        v /= d; /* biased variance, as torch */
        float s = (float)(1.0 / sqrt(v + eps));
        float mf = (float)m;
#pragma omp simd
        for (int j = 0; j < d; j++) yi[j] = (xi[j] - mf) * s * g[j] + b[j];
        mean[i] = mf;
        rstd[i] = s;
    }
}

void nn_layernorm_backward(float *dx, float *dg, float *db, const float *dy, const float *x, const float *mean,
                           const float *rstd, const float *g, int n, int d) {
    if (dx) {
#pragma omp parallel for schedule(static) if ((size_t)n * d >= NN_PAR_MIN)
        for (int i = 0; i < n; i++) {
            const float *xi = x + (size_t)i * d, *dyi = dy + (size_t)i * d;
            float *dxi = dx + (size_t)i * d;
            float m = mean[i], s = rstd[i];
            double a = 0.0, bsum = 0.0; /* mean(dy·g), mean(dy·g·xhat) */
#pragma omp simd reduction(+ : a, bsum)
            for (int j = 0; j < d; j++) {
                float dn = dyi[j] * g[j];
                a += dn;
                bsum += (double)dn * ((xi[j] - m) * s);
            }
            float am = (float)(a / d), bm = (float)(bsum / d);
#pragma omp simd
            for (int j = 0; j < d; j++) {
                float xh = (xi[j] - m) * s;
                dxi[j] += (dyi[j] * g[j] - am - xh * bm) * s;
            }
        }
    }
    if (dg || db) {
        int nblk = (d + NN_COL_BLOCK - 1) / NN_COL_BLOCK;
#pragma omp parallel for schedule(static) if ((size_t)n * d >= NN_PAR_MIN)
        for (int blk = 0; blk < nblk; blk++) {
            int j0 = blk * NN_COL_BLOCK, j1 = j0 + NN_COL_BLOCK < d ? j0 + NN_COL_BLOCK : d;
            double sg[NN_COL_BLOCK] = {0}, sb[NN_COL_BLOCK] = {0};
            for (int i = 0; i < n; i++) {
                const float *xi = x + (size_t)i * d, *dyi = dy + (size_t)i * d;
                float m = mean[i], s = rstd[i];
#pragma omp simd
                for (int j = j0; j < j1; j++) {
                    sg[j - j0] += dyi[j] * ((xi[j] - m) * s);
                    sb[j - j0] += dyi[j];
                }
            }
            for (int j = j0; j < j1; j++) {
                if (dg) dg[j] += (float)sg[j - j0];
                if (db) db[j] += (float)sb[j - j0];
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* GELU (exact, erf) and SiLU */

#define NN_SQRT1_2 0.70710678118654752440f
#define NN_INV_SQRT_2PI 0.39894228040143267794f

/* Φ(v), the standard normal CDF, = erfc(−v/√2)/2, with erfc from the
 * Chebyshev-fitted form t·exp(−z² + P(t)), t = 1/(1 + |z|/2) (Numerical
 * Recipes' erfcc: fractional error < 1.2e-7 everywhere). Branch-free and
 * built on nn_expf so the loops below vectorize: libm's erff is scalar and
 * was 10% of a denoising step. */
static inline float nn_normal_cdf(float v) {
    float z = -v * NN_SQRT1_2;
    int32_t zi;
    memcpy(&zi, &z, sizeof zi);
    float neg = (float)((uint32_t)zi >> 31); /* 1 when z < 0 */
    float a = fabsf(z);
    float t = 1.0f / (1.0f + 0.5f * a);
    float q = -1.26551223f +
              t * (1.00002368f +
                   t * (0.37409196f +
                        t * (0.09678418f +
                             t * (-0.18628806f +
                                  t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
    float e = t * nn_expf(-a * a + q); /* erfc(|z|) */
    float erfc_z = e + neg * (2.0f - 2.0f * e);
    return 0.5f * erfc_z;
}

void nn_gelu_forward(float *y, const float *x, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v * nn_normal_cdf(v);
    }
}

void nn_gelu_backward(float *dx, const float *dy, const float *x, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float cdf = nn_normal_cdf(v);
        float pdf = NN_INV_SQRT_2PI * nn_expf(-0.5f * v * v);
        dx[i] += dy[i] * (cdf + v * pdf);
    }
}

void nn_silu_forward(float *y, const float *x, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v / (1.0f + nn_expf(-v));
    }
}

void nn_silu_backward(float *dx, const float *dy, const float *x, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float sg = 1.0f / (1.0f + nn_expf(-v));
        dx[i] += dy[i] * sg * (1.0f + v * (1.0f - sg));
    }
}

/* ------------------------------------------------------------------------ */
/* Softmax over rows, in place. Returns the row's log-sum-exp. */

/* The steps every softmax row shares (here and in the output layer's
 * log-softmax): the row's max, then r[j] = exp(r[j] − mx) in place, so the
 * terms are in (0, 1] with one of them 1. Each caller sums them at its own
 * precision. */
static float row_max(const float *r, int d) {
    float mx = r[0];
    NN_SIMD_MAX_MX
    for (int j = 1; j < d; j++) mx = r[j] > mx ? r[j] : mx;
    return mx;
}

static void exp_shifted(float *r, int d, float mx) {
#pragma omp simd
    for (int j = 0; j < d; j++) r[j] = nn_expf(r[j] - mx);
}

static float softmax_row(float *r, int d) {
    float mx = row_max(r, d);
    exp_shifted(r, d, mx);
    /* A float sum at full vector width (a double one halves it): it is
     * accurate to ~1e-7·√d. */
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < d; j++) s += r[j];
    float inv = 1.0f / s;
#pragma omp simd
    for (int j = 0; j < d; j++) r[j] *= inv;
    return mx + (float)log(s);
}

void nn_softmax_forward(float *x, int n, int d) {
#pragma omp parallel for schedule(static) if ((size_t)n * d >= NN_PAR_MIN)
    for (int i = 0; i < n; i++) softmax_row(x + (size_t)i * d, d);
}

/* ------------------------------------------------------------------------ */
/* Rotary position embedding (interleaved pairs, base 10000, position = l) */

/* A thread that ends (a server's worker: getmusic studio) frees its table
 * through this key's destructor instead of leaking it. */
static pthread_key_t rope_key;
static pthread_once_t rope_once = PTHREAD_ONCE_INIT;
static void rope_key_init(void) { pthread_key_create(&rope_key, free); }

/* cos/sin of θ = l / 10000^(2j/HD) for l < L, j < HD/2, computed in double and
 * rounded once (as the RoFormer table is built in float64 then stored float32).
 * Kept per thread and reused while L fits and HD matches (rows are [l][j], so a
 * longer table serves a shorter L): rebuilding it was 2% of a denoising step.
 * Returns NULL when it cannot be allocated (callers then recompute). */
static const float *rope_table(int L, int HD) {
    static _Thread_local float *cache;
    static _Thread_local int cache_L, cache_HD;
    if (cache && L <= cache_L && HD == cache_HD) return cache;
    pthread_once(&rope_once, rope_key_init);
    int P = HD / 2;
    float *t = malloc((size_t)L * P * 2 * sizeof(float));
    if (!t) return NULL;
    for (int j = 0; j < P; j++) {
        double inv = pow(10000.0, -2.0 * j / HD);
        for (int l = 0; l < L; l++) {
            double th = l * inv;
            t[((size_t)l * P + j) * 2 + 0] = (float)cos(th);
            t[((size_t)l * P + j) * 2 + 1] = (float)sin(th);
        }
    }
    free(cache);
    cache = t;
    cache_L = L;
    cache_HD = HD;
    pthread_setspecific(rope_key, t);
    return t;
}

/* Fallback when the table cannot be allocated: recompute per element. */
static inline void rope_cs(const float *tab, int l, int j, int P, int HD, float *c, float *s) {
    if (tab) {
        *c = tab[((size_t)l * P + j) * 2 + 0];
        *s = tab[((size_t)l * P + j) * 2 + 1];
    } else {
        double th = l * pow(10000.0, -2.0 * j / HD);
        *c = (float)cos(th);
        *s = (float)sin(th);
    }
}

/* Rotates every pair (out = R(sign·θ) in), or adds the rotation into out.
 * Backward is forward's transpose: the rotation by −θ, added (R(θ)ᵀ = R(−θ);
 * negating s is exact, so each sum is the one a written-out form makes). */
static void rope_rotate(float *out, const float *in, int B, int L, int NH, int HD, float sign, int add) {
    const float *tab = rope_table(L, HD);
    int P = HD / 2, C = NH * HD, BL = B * L;
#pragma omp parallel for schedule(static) if ((size_t)BL * C >= NN_PAR_MIN)
    for (int bl = 0; bl < BL; bl++) {
        int l = bl % L;
        const float *xr = in + (size_t)bl * C;
        float *yr = out + (size_t)bl * C;
        for (int h = 0; h < NH; h++)
            for (int j = 0; j < P; j++) {
                float c, s;
                rope_cs(tab, l, j, P, HD, &c, &s);
                s = sign * s;
                int o = h * HD + 2 * j;
                float a = xr[o], b = xr[o + 1];
                float u = a * c - b * s, v = b * c + a * s;
                if (add) yr[o] += u, yr[o + 1] += v;
                else yr[o] = u, yr[o + 1] = v;
            }
    }
}

void nn_rope_forward(float *y, const float *x, int B, int L, int NH, int HD) { rope_rotate(y, x, B, L, NH, HD, 1.0f, 0); }

void nn_rope_backward(float *dx, const float *dy, int B, int L, int NH, int HD) {
    rope_rotate(dx, dy, B, L, NH, HD, -1.0f, 1);
}

/* ------------------------------------------------------------------------ */
/* Attention. Heads are interleaved in (B, L, NH·HD): head h of batch b is the
 * strided view base + b·L·C + h·HD with leading dimension C = NH·HD, which
 * sgemm takes directly (no gather). Per (b, h) the L×L scores live in scratch
 * only while that head is processed; lse is all that survives the forward. */

size_t nn_attention_scratch(int L) { return 2 * (size_t)L * L + (size_t)L; }

void nn_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v, int B, int L, int NH,
                          int HD, float *scratch) {
    int C = NH * HD;
    float scale = (float)(1.0 / sqrt((double)HD));
    float *S = scratch;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            size_t off = (size_t)b * L * C + (size_t)h * HD;
            float *ls = lse + ((size_t)b * NH + h) * L;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, HD, scale, q + off, C, k + off, C, 0.0f, S, L);
#pragma omp parallel for schedule(static) if ((size_t)L * L >= NN_PAR_MIN)
            for (int i = 0; i < L; i++) ls[i] = softmax_row(S + (size_t)i * L, L);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, HD, L, 1.0f, S, L, v + off, C, 0.0f, out + off, C);
        }
}

void nn_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                           const float *v, const float *out, const float *lse, int B, int L, int NH, int HD,
                           float *scratch) {
    int C = NH * HD;
    float scale = (float)(1.0 / sqrt((double)HD));
    float *P = scratch, *dP = scratch + (size_t)L * L, *D = dP + (size_t)L * L;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            size_t off = (size_t)b * L * C + (size_t)h * HD;
            const float *ls = lse + ((size_t)b * NH + h) * L;
            /* P = exp(scale·q·kᵀ − lse), recomputed */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, HD, scale, q + off, C, k + off, C, 0.0f, P, L);
#pragma omp parallel for schedule(static) if ((size_t)L * L >= NN_PAR_MIN)
            for (int i = 0; i < L; i++) {
                float *r = P + (size_t)i * L;
                float m = ls[i];
#pragma omp simd
                for (int j = 0; j < L; j++) r[j] = nn_expf(r[j] - m);
                /* D[i] = rowsum(dout ∘ out) = Σ_j P_ij dP_ij */
                const float *go = dout + off + (size_t)i * C, *oo = out + off + (size_t)i * C;
                double s = 0.0;
                for (int d = 0; d < HD; d++) s += (double)go[d] * oo[d];
                D[i] = (float)s;
            }
            if (dv)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, HD, L, 1.0f, P, L, dout + off, C, 1.0f, dv + off, C);
            if (!dq && !dk) continue;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, HD, 1.0f, dout + off, C, v + off, C, 0.0f, dP, L);
            /* dS = P ∘ (dP − D), in place in dP */
#pragma omp parallel for schedule(static) if ((size_t)L * L >= NN_PAR_MIN)
            for (int i = 0; i < L; i++) {
                float *r = dP + (size_t)i * L;
                const float *p = P + (size_t)i * L;
                float di = D[i];
#pragma omp simd
                for (int j = 0; j < L; j++) r[j] = p[j] * (r[j] - di);
            }
            if (dq)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, HD, L, scale, dP, L, k + off, C, 1.0f, dq + off,
                            C);
            if (dk)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, HD, L, scale, dP, L, q + off, C, 1.0f, dk + off,
                            C);
        }
}

/* ------------------------------------------------------------------------ */
/* Tied output layer + log-softmax + weighted NLL, chunked.
 *
 * A chunk is up to NN_CE_CHUNK row indices. When neither logits_out nor
 * nll_out is asked for (training), rows with wt == 0 (EMPTY cells) never enter
 * a chunk, so they cost nothing; otherwise every row enters (their loss and g
 * are still zero). The chunk's c rows are gathered into a small buffer so one
 * sgemm covers non-contiguous rows; scratch holds the (chunk, V) logits, which
 * become g in place. */

size_t nn_tied_ce_scratch(int V) { return (size_t)NN_CE_CHUNK * V; }

double nn_tied_ce(float *dc, float *dW, float *dbias, float *logits_out, float *nll_out, const float *c, const float *W,
                  const float *bias, const int32_t *y, const float *wt, int n, int E, int V, float *scratch) {
    return nn_tied_ce_mix(dc, dW, dbias, logits_out, nll_out, c, W, bias, y, wt, NULL, NULL, n, E, V, scratch);
}

/* One row of nn_tied_ce_mix's chunk, the output row `row`: s (V) holds its
 * logits and leaves holding g = w·(softmax − onehot) (when grad; zero for a
 * row without weight); writes its NLL (when nll_out). Returns the row's
 * weighted loss, the intact-cell term included. */
static double ce_row(float *s, int V, int row, const int32_t *y, const float *wt, const float *wi, const float *ri,
                     float *nll_out, int grad) {
    float w = wt[row];
    float w_mix = wi ? wi[row] : 0.0f;
    int yy = y[row];
    int valid = yy >= 0 && yy < V;
    if (w == 0.0f && w_mix == 0.0f && !nll_out) { /* only here when logits_out was asked for */
        if (grad) memset(s, 0, (size_t)V * sizeof(float));
        return 0.0;
    }
    float mx = row_max(s, V);
    float ly = valid ? s[yy] : 0.0f;
    exp_shifted(s, V, mx);
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int v = 0; v < V; v++) sum += s[v];
    double nll = (double)mx + log(sum) - (double)ly;
    if (nll_out) nll_out[row] = valid ? (float)nll : 0.0f;
    double rowloss = (w != 0.0f && valid) ? (double)w * nll : 0.0;
    if (w_mix != 0.0f && valid) {
        /* −wi·log(r + (1 − r)·p): the gradient of a cross-entropy
         * weighted wi·(1 − r)·p / (r + (1 − r)·p) */
        double pr = exp(-nll), rr = ri[row], mix = rr + (1.0 - rr) * pr;
        rowloss -= (double)w_mix * log(mix);
        w = (float)(w + w_mix * (1.0 - rr) * pr / mix);
    }
    if (grad) {
        if (w == 0.0f || !valid) {
            memset(s, 0, (size_t)V * sizeof(float));
        } else {
            float f = (float)(w / sum);
#pragma omp simd
            for (int v = 0; v < V; v++) s[v] *= f;
            s[yy] -= w;
        }
    }
    return rowloss;
}

double nn_tied_ce_mix(float *dc, float *dW, float *dbias, float *logits_out, float *nll_out, const float *c,
                      const float *W, const float *bias, const int32_t *y, const float *wt, const float *wi,
                      const float *ri, int n, int E, int V, float *scratch) {
    int grad = dc || dW || dbias;
    int all_rows = logits_out || nll_out;
    /* gather buffers: c rows, dc rows (small next to scratch: chunk·E each) */
    float *cg = malloc((size_t)NN_CE_CHUNK * E * 2 * sizeof(float));
    if (!cg) return NAN;
    float *dcg = cg + (size_t)NN_CE_CHUNK * E;
    float ones[NN_CE_CHUNK];
    int idx[NN_CE_CHUNK];
    double rowloss[NN_CE_CHUNK];
    for (int j = 0; j < NN_CE_CHUNK; j++) ones[j] = 1.0f;
    double loss = 0.0;
    float *S = scratch;

    int i = 0;
    while (i < n) {
        int m = 0;
        for (; i < n && m < NN_CE_CHUNK; i++)
            if (all_rows || wt[i] != 0.0f || (wi && wi[i] != 0.0f)) idx[m++] = i;
        if (m == 0) break;
        for (int r = 0; r < m; r++) {
            memcpy(cg + (size_t)r * E, c + (size_t)idx[r] * E, (size_t)E * sizeof(float));
            memcpy(S + (size_t)r * V, bias, (size_t)V * sizeof(float));
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, V, E, 1.0f, cg, E, W, E, 1.0f, S, V);

#pragma omp parallel for schedule(static) if ((size_t)m * V >= NN_PAR_MIN)
        for (int r = 0; r < m; r++) {
            int row = idx[r];
            float *s = S + (size_t)r * V;
            if (logits_out) memcpy(logits_out + (size_t)row * V, s, (size_t)V * sizeof(float));
            rowloss[r] = ce_row(s, V, row, y, wt, wi, ri, nll_out, grad);
        }
        for (int r = 0; r < m; r++) loss += rowloss[r]; /* fixed order: same for any thread count */

        if (dc) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, E, V, 1.0f, S, V, W, E, 0.0f, dcg, E);
            for (int r = 0; r < m; r++) {
                float *d = dc + (size_t)idx[r] * E;
                const float *g = dcg + (size_t)r * E;
                for (int e = 0; e < E; e++) d[e] += g[e];
            }
        }
        if (dW) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, E, m, 1.0f, S, V, cg, E, 1.0f, dW, E);
        if (dbias) cblas_sgemv(CblasRowMajor, CblasTrans, m, V, 1.0f, S, V, ones, 1, 1.0f, dbias, 1);
    }
    free(cg);
    return loss;
}

void nn_tied_softmax(float *p, const float *c, const float *W, const float *bias, int n, int E, int V) {
    nn_linear_forward(p, c, W, bias, n, E, V);
    nn_softmax_forward(p, n, V);
}

/* ======================================================================== */
/* Bags of embeddings (token features)                                       */
/* ======================================================================== */

void nn_bag_forward(float *y, const float *base, const float *table, const int32_t *off, const int32_t *idx, int n,
                    int E) {
#pragma omp parallel for schedule(static) if ((size_t)n * E >= NN_PAR_MIN)
    for (int i = 0; i < n; i++) {
        float *yi = y + (size_t)i * E;
        const float *bi = base + (size_t)i * E;
#pragma omp simd
        for (int e = 0; e < E; e++) yi[e] = bi[e];
        for (int32_t j = off[i]; j < off[i + 1]; j++) {
            const float *t = table + (size_t)idx[j] * E;
#pragma omp simd
            for (int e = 0; e < E; e++) yi[e] += t[e];
        }
    }
}

void nn_bag_backward(float *dbase, float *dtable, const float *dy, const int32_t *off, const int32_t *idx, int n,
                     int E) {
    if (dbase) {
#pragma omp parallel for schedule(static) if ((size_t)n * E >= NN_PAR_MIN)
        for (int i = 0; i < n; i++) {
            float *d = dbase + (size_t)i * E;
            const float *g = dy + (size_t)i * E;
#pragma omp simd
            for (int e = 0; e < E; e++) d[e] += g[e];
        }
    }
    if (dtable) /* serial: bags share table rows */
        for (int i = 0; i < n; i++) {
            const float *g = dy + (size_t)i * E;
            for (int32_t j = off[i]; j < off[i + 1]; j++) {
                float *d = dtable + (size_t)idx[j] * E;
#pragma omp simd
                for (int e = 0; e < E; e++) d[e] += g[e];
            }
        }
}
