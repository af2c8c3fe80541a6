/* bench_nn.c — sgemm throughput and a per-kernel profile at the shapes of one
 * GETDiff training step (L = 512 columns, batch 1, R = 14, E = 96,
 * V = 11879, HD = 64, F = 4H) for H = 256 and H = 768.
 *
 *   bench_nn [threads]        (default: all cores)
 *
 * Prints GFLOP/s for each sgemm of a step (forward y = x·Wᵀ, backward
 * dx = dy·W and dW = dyᵀ·x), a square 1024³ sgemm (the "measured sgemm peak"
 * other benches compare against), then ms per forward+backward call of every
 * kernel, and last one JSON line with the peak figures. About 15 s on 2 cores. */
#include "util.h" /* gm_now_s, gm_peak_rss_mb */
#include "model/nn.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIN_SECONDS 0.1

/* Runs stmt once to warm up, then repeatedly for at least MIN_SECONDS (and at
 * least twice); sets ms to the mean per call. */
#define TIME_MS(ms, stmt)                                   \
    do {                                                    \
        stmt;                                               \
        int reps_ = 0;                                      \
        double t0_ = gm_now_s(), t1_;                            \
        do {                                                \
            stmt;                                           \
            reps_++;                                        \
            t1_ = gm_now_s();                                    \
        } while (t1_ - t0_ < MIN_SECONDS || reps_ < 2);     \
        (ms) = 1e3 * (t1_ - t0_) / reps_;                   \
    } while (0)

static float *frand(size_t n) {
    float *a = malloc((n ? n : 1) * sizeof(float));
    if (!a) {
        fprintf(stderr, "bench_nn: out of memory\n");
        exit(1);
    }
    uint32_t s = 12345u + (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        a[i] = (float)((s >> 8) * (1.0 / 16777216.0) - 0.5);
    }
    return a;
}

static double best_gflops;

/* C[m][n] = A·B in the three layouts of a linear layer with n_tok rows,
 * in → out features. */
static void bench_linear_gemms(const char *name, int n_tok, int in, int out) {
    float *x = frand((size_t)n_tok * in), *w = frand((size_t)out * in), *y = frand((size_t)n_tok * out);
    double flops = 2.0 * n_tok * in * out, ms[3];
    TIME_MS(ms[0], cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_tok, out, in, 1.0f, x, in, w, in, 0.0f, y, out));
    TIME_MS(ms[1], cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n_tok, in, out, 1.0f, y, out, w, in, 1.0f, x, in));
    TIME_MS(ms[2], cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n_tok, 1.0f, y, out, x, in, 1.0f, w, in));
    printf("  sgemm %-16s %5d x %5d x %5d   fwd %6.1f  bwd-dx %6.1f  bwd-dW %6.1f GFLOP/s\n", name, n_tok, in, out,
           flops / ms[0] * 1e-6, flops / ms[1] * 1e-6, flops / ms[2] * 1e-6);
    for (int i = 0; i < 3; i++)
        if (flops / ms[i] * 1e-6 > best_gflops) best_gflops = flops / ms[i] * 1e-6;
    free(x), free(w), free(y);
}

static void bench_linear_kernel(const char *name, int n, int in, int out) {
    float *x = frand((size_t)n * in), *w = frand((size_t)out * in), *b = frand(out), *y = frand((size_t)n * out);
    float *dx = calloc((size_t)n * in, sizeof(float)), *dw = calloc((size_t)out * in, sizeof(float));
    float *db = calloc(out, sizeof(float));
    double f, bw;
    TIME_MS(f, nn_linear_forward(y, x, w, b, n, in, out));
    TIME_MS(bw, nn_linear_backward(dx, dw, db, y, x, w, n, in, out));
    printf("  %-28s fwd %8.3f ms  bwd %8.3f ms\n", name, f, bw);
    free(x), free(w), free(b), free(y), free(dx), free(dw), free(db);
}

static void bench_model(int H) {
    const int L = 512, B = 1, R = 14, E = 96, V = 11879, HD = 64, NH = H / HD, F = 4 * H, RE = R * E;
    const int n = B * L;
    char nm[64];
    printf("H = %d (NH %d, F %d), B = %d, L = %d, R·E = %d, V = %d\n", H, NH, F, B, L, RE, V);

    /* (a) sgemm at the step's shapes */
    bench_linear_gemms("embed proj 1", n, RE, H);
    bench_linear_gemms("qkv/o, proj 2", n, H, H);
    bench_linear_gemms("ffn in", n, H, F);
    bench_linear_gemms("ffn out", n, F, H);
    bench_linear_gemms("out proj 1", n, H, RE);
    bench_linear_gemms("out proj 2", n, RE, RE);
    {
        float *q = frand((size_t)n * H), *o = frand((size_t)n * H), *S = frand((size_t)L * L);
        double flops = 2.0 * L * L * HD, ms;
        TIME_MS(ms, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, HD, 1.0f, q, H, q, H, 0.0f, S, L));
        printf("  sgemm %-16s %5d x %5d x %5d   q·kᵀ %6.1f GFLOP/s", "attention 1 head", L, HD, L, flops / ms * 1e-6);
        TIME_MS(ms, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, HD, L, 1.0f, S, L, q, H, 0.0f, o, H));
        printf("  P·v %6.1f GFLOP/s\n", flops / ms * 1e-6);
        free(q), free(o), free(S);
    }

    /* (b) kernels, forward and backward */
    snprintf(nm, sizeof nm, "linear %dx%d->%d", n, H, H);
    bench_linear_kernel(nm, n, H, H);
    snprintf(nm, sizeof nm, "linear %dx%d->%d", n, H, F);
    bench_linear_kernel(nm, n, H, F);
    snprintf(nm, sizeof nm, "linear %dx%d->%d", n, F, H);
    bench_linear_kernel(nm, n, F, H);
    snprintf(nm, sizeof nm, "linear %dx%d->%d", n, RE, H);
    bench_linear_kernel(nm, n, RE, H);
    {
        int ds[2] = {H, RE};
        for (int t = 0; t < 2; t++) {
            int d = ds[t];
            float *x = frand((size_t)n * d), *y = frand((size_t)n * d), *g = frand(d), *b = frand(d);
            float *m = frand(n), *r = frand(n), *dx = calloc((size_t)n * d, 4), *dg = calloc(d, 4), *db = calloc(d, 4);
            double f, bw;
            TIME_MS(f, nn_layernorm_forward(y, m, r, x, g, b, n, d, 1e-12f));
            TIME_MS(bw, nn_layernorm_backward(dx, dg, db, y, x, m, r, g, n, d));
            snprintf(nm, sizeof nm, "layernorm %dx%d", n, d);
            printf("  %-28s fwd %8.3f ms  bwd %8.3f ms\n", nm, f, bw);
            free(x), free(y), free(g), free(b), free(m), free(r), free(dx), free(dg), free(db);
        }
    }
    {
        size_t N = (size_t)n * F;
        float *x = frand(N), *y = frand(N), *dx = calloc(N, 4);
        double f, bw;
        TIME_MS(f, nn_gelu_forward(y, x, N));
        TIME_MS(bw, nn_gelu_backward(dx, y, x, N));
        snprintf(nm, sizeof nm, "gelu %dx%d", n, F);
        printf("  %-28s fwd %8.3f ms  bwd %8.3f ms\n", nm, f, bw);
        N = (size_t)n * H;
        TIME_MS(f, nn_silu_forward(y, x, N));
        TIME_MS(bw, nn_silu_backward(dx, y, x, N));
        snprintf(nm, sizeof nm, "silu %dx%d", n, H);
        printf("  %-28s fwd %8.3f ms  bwd %8.3f ms\n", nm, f, bw);
        TIME_MS(f, nn_rope_forward(y, x, B, L, NH, HD));
        TIME_MS(bw, nn_rope_backward(dx, y, B, L, NH, HD));
        snprintf(nm, sizeof nm, "rope %dx%dx%d", L, NH, HD);
        printf("  %-28s fwd %8.3f ms  bwd %8.3f ms\n", nm, f, bw);
        free(x), free(y), free(dx);
    }
    {
        size_t N = (size_t)n * H;
        float *q = frand(N), *k = frand(N), *v = frand(N), *o = frand(N), *lse = frand((size_t)B * NH * L);
        float *dq = calloc(N, 4), *dk = calloc(N, 4), *dv = calloc(N, 4), *scr = frand(nn_attention_scratch(L));
        double f, bw, fl = 4.0 * B * NH * L * L * HD;
        TIME_MS(f, nn_attention_forward(o, lse, q, k, v, B, L, NH, HD, scr));
        TIME_MS(bw, nn_attention_backward(dq, dk, dv, q, q, k, v, o, lse, B, L, NH, HD, scr));
        snprintf(nm, sizeof nm, "attention %dx%dx%d", L, NH, HD);
        printf("  %-28s fwd %8.3f ms  bwd %8.3f ms   (%.1f / %.1f GFLOP/s)\n", nm, f, bw, fl / f * 1e-6,
               2.5 * fl / bw * 1e-6);
        free(q), free(k), free(v), free(o), free(lse), free(dq), free(dk), free(dv), free(scr);
    }
}

/* The output layer depends on E and V only (not H): timed once. */
static void bench_head(void) {
    const int L = 512, B = 1, R = 14, E = 96, V = 11879, n = B * L;
    char nm[64];
    printf("output layer (either H): %d cells, E = %d, V = %d\n", n * R, E, V);
    bench_linear_gemms("tied head", n * R, E, V);
    {
        int rows = n * R;
        float *c = frand((size_t)rows * E), *W = frand((size_t)(V + 2) * E), *bias = frand(V + 2);
        float *wt = malloc(rows * sizeof(float)), *scr = frand(nn_tied_ce_scratch(V));
        float *dc = calloc((size_t)rows * E, 4), *dW = calloc((size_t)(V + 2) * E, 4), *db = calloc(V + 2, 4);
        int32_t *y = malloc(rows * sizeof(int32_t));
        for (int i = 0; i < rows; i++) y[i] = (int32_t)((i * 7919u) % V), wt[i] = 1.0f;
        double f, bw, half;
        TIME_MS(f, nn_tied_ce(NULL, NULL, NULL, NULL, NULL, c, W, bias, y, wt, rows, E, V, scr));
        TIME_MS(bw, nn_tied_ce(dc, dW, db, NULL, NULL, c, W, bias, y, wt, rows, E, V, scr));
        for (int i = 0; i < rows; i++) wt[i] = (i % 2) ? 1.0f : 0.0f;
        TIME_MS(half, nn_tied_ce(dc, dW, db, NULL, NULL, c, W, bias, y, wt, rows, E, V, scr));
        snprintf(nm, sizeof nm, "tied_ce %dx%d->%d", rows, E, V);
        printf("  %-28s loss %8.3f ms  loss+grad %8.3f ms  (half wt=0: %.3f ms; %.1f GFLOP/s)\n", nm, f, bw, half,
               6.0 * rows * E * V / bw * 1e-6);
        float *p = malloc((size_t)n * V * sizeof(float));
        TIME_MS(f, nn_tied_softmax(p, c, W, bias, n, E, V));
        snprintf(nm, sizeof nm, "tied_softmax %dx%d->%d", n, E, V);
        printf("  %-28s fwd %8.3f ms\n", nm, f);
        free(c), free(W), free(bias), free(wt), free(scr), free(dc), free(dW), free(db), free(y), free(p);
    }
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    nn_set_threads(threads);
    double t_start = gm_now_s();
    double sq;
    {
        int N = 1024;
        float *a = frand((size_t)N * N), *b = frand((size_t)N * N), *c = frand((size_t)N * N);
        double ms;
        TIME_MS(ms, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N));
        sq = 2.0 * N * N * N / ms * 1e-6;
        printf("sgemm 1024^3: %.1f GFLOP/s (%.2f ms)\n", sq, ms);
        free(a), free(b), free(c);
    }
    bench_model(256);
    bench_model(768);
    bench_head();
    printf("{\"threads\": %d, \"sgemm_1024_gflops\": %.1f, \"sgemm_best_step_gflops\": %.1f, \"seconds\": %.1f}\n", omp_get_max_threads(),
           sq, best_gflops, gm_now_s() - t_start);
    return 0;
}
