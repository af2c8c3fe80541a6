/* bench_engine.c — the C side of `make bench` for the engine.
 *
 *   bench_engine peak                 sgemm GFLOP/s (1024³, 2 threads): the machine's measured peak
 *   bench_engine train SIZE B L ITERS  training step (forward + backward + AdamW)
 *   bench_engine denoise SIZE L ITERS  one denoising forward (B = 1) + x̂0 probabilities of every cell
 *   bench_engine profile SIZE B L      per-kernel time of one training step (by phase)
 *
 * SIZE: default | original (GM_BENCH_TOKEN_FEATURES=1 in the environment: with token features). Inputs are the same formula as bench/bench_torch.py
 * uses, so both sides see the same tokens. Prints one JSON line: seconds per
 * call, columns/s, GFLOP/s (matmul FLOPs counted analytically) and peak RSS. */
#include "util.h" /* gm_now_s, gm_peak_rss_mb */
#include "getmusic.h" /* GM_TOKEN_FEATURES */
#include "model/diffusion.h"
#include "model/getdiff.h"
#include "model/nn.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static gd_config config(const char *size) {
    gd_config c;
    if (!strcmp(size, "original"))
        c = (gd_config){.R = 14, .V = 11879, .E = 96, .H = 768, .NL = 12, .NH = 12, .F = 3072, .max_cols = 1536, .T = 100, .dropout = 0.1f};
    else /* default: the size we train (gm_model_default_params) with our corpus' vocabulary size */
        c = (gd_config){.R = 10, .V = 1663, .E = 64, .H = 256, .NL = 4, .NH = 4, .F = 1024, .max_cols = 512, .T = 100, .dropout = 0.1f};
    return c;
}

/* Matmul FLOPs of one forward over B·L columns (2 per multiply-add). */
static double forward_flops(const gd_config *c, int B, int L) {
    double N = (double)B * L, RE = (double)c->R * c->E, H = c->H, F = c->F;
    double per_col = RE * H + H * H + c->NL * (4 * H * H + 2 * H * F) + H * RE + RE * RE;
    double attn = c->NL * 2.0 * L * H; /* q·kᵀ and P·v per column */
    double logits = (double)c->R * c->E * c->V;
    return 2 * N * (per_col + attn + logits);
}

/* The shared input formula (bench_torch.py has the same). */
static void inputs(const gd_config *c, int B, int L, int32_t *x0, int32_t *xt, uint8_t *cond, int32_t *t, float *pt) {
    for (int b = 0; b < B; b++) {
        t[b] = (37 * b + 50) % c->T;
        pt[b] = 1.0f / c->T;
        for (int r = 0; r < c->R; r++)
            for (int l = 0; l < L; l++) {
                size_t i = ((size_t)b * c->R + r) * L + l;
                uint32_t h = (uint32_t)(i * 2654435761u + 12345u);
                x0[i] = (int32_t)(h % (uint32_t)c->V);
                cond[i] = r < 2;                                      /* first track given */
                xt[i] = !cond[i] && (h >> 20) % 2 ? c->V + 1 : x0[i]; /* half the targets masked */
            }
    }
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: bench_engine peak|train|denoise|profile ...\n"); return 1; }
    nn_set_threads(2);
    const char *mode = argv[1];
    if (!strcmp(mode, "peak")) {
        int n = 1024;
        float *a = malloc((size_t)n * n * 4), *b = malloc((size_t)n * n * 4), *c = malloc((size_t)n * n * 4);
        for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.01f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double t0 = gm_now_s();
        int it = 5;
        for (int k = 0; k < it; k++) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double dt = (gm_now_s() - t0) / it;
        printf("{\"mode\": \"peak\", \"gflops\": %.2f}\n", 2.0 * n * n * n / dt / 1e9);
        free(a); free(b); free(c);
        return 0;
    }
    if (argc < 4) { fprintf(stderr, "need SIZE and sizes\n"); return 1; }
    gd_config c = config(argv[2]);
    if (getenv("GM_BENCH_TOKEN_FEATURES")) c.P = GM_TOKEN_FEATURES; /* token features on (docs/MODEL.md) */
    int train = !strcmp(mode, "train") || !strcmp(mode, "profile");
    int B = train ? atoi(argv[3]) : 1;
    int L = atoi(argv[train ? 4 : 3]);
    int iters = argc > (train ? 5 : 4) ? atoi(argv[train ? 5 : 4]) : 3;
    if (B < 1 || L < 1 || L > c.max_cols || iters < 1) { fprintf(stderr, "bad sizes\n"); return 1; }
    if (!train) c.dropout = 0;
    char err[256];
    gd_model *m = gd_model_new(&c, err);
    if (!m) { fprintf(stderr, "%s\n", err); return 1; }
    gd_model_init_random(m, 1);
    if (c.P > 0) { /* a synthetic membership of the vocabulary's density: 1..4 features per token */
        int32_t *off = malloc((size_t)(c.V + 1) * 4), *idx = malloc((size_t)c.V * 4 * 4);
        off[0] = 0;
        for (int v = 0; v < c.V; v++) {
            off[v + 1] = off[v];
            for (int j = 0; j <= v % 4; j++) idx[off[v + 1]++] = (v * 7 + j * 13) % c.P;
        }
        if (gd_model_set_features(m, off, idx, err)) { fprintf(stderr, "%s\n", err); return 1; }
        free(off);
        free(idx);
    }
    if (train && gd_model_alloc_training(m, err)) { fprintf(stderr, "%s\n", err); return 1; }
    size_t nc = (size_t)B * c.R * L;
    int32_t *x0 = malloc(nc * 4), *xt = malloc(nc * 4), *y = malloc(nc * 4), t[64];
    uint8_t *cond = malloc(nc);
    float *wt = malloc(nc * 4), *wi = malloc(nc * 4), *ri = malloc(nc * 4), pt[64], *probs = train ? NULL : malloc(nc * (size_t)c.V * 4);
    inputs(&c, B, L, x0, xt, cond, t, pt);
    gd_schedule s;
    gd_schedule_init(&s, c.T);
    gd_loss_weights(y, wt, wi, ri, x0, xt, cond, t, pt, B, c.R, L, c.V, &s);
    double fl = forward_flops(&c, B, L);
    if (!strcmp(mode, "profile")) {
        /* phases of one step, after a warm-up step */
        for (int k = 0; k < 2; k++) {
            double t0 = gm_now_s();
            gd_zero_grads(m);
            gd_forward(m, xt, cond, NULL, t, B, L, 1, err);
            double t1 = gm_now_s();
            gd_loss_backward(m, y, wt, wi, ri, NULL, NULL, 0);
            double t2 = gm_now_s();
            gd_loss_backward(m, y, wt, wi, ri, NULL, NULL, 1);
            double t3 = gm_now_s();
            gd_adamw_step(m, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, k + 1);
            double t4 = gm_now_s();
            if (k == 1)
                printf("{\"mode\": \"profile\", \"size\": \"%s\", \"forward_s\": %.4f, \"loss_s\": %.4f, "
                       "\"loss_and_backward_s\": %.4f, \"adamw_s\": %.4f}\n",
                       argv[2], t1 - t0, t2 - t1, t3 - t2, t4 - t3);
        }
        return 0;
    }
    double best = 1e30, loss = 0;
    for (int k = 0; k < iters + 1; k++) { /* the first is a warm-up */
        double t0 = gm_now_s();
        if (train) {
            gd_zero_grads(m);
            gd_forward(m, xt, cond, NULL, t, B, L, 1, err);
            loss = gd_loss_backward(m, y, wt, wi, ri, NULL, NULL, 1);
            gd_adamw_step(m, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, k + 1);
        } else {
            gd_forward(m, xt, cond, NULL, t, 1, L, 0, err);
            gd_probs(m, probs);
        }
        double dt = gm_now_s() - t0;
        if (k > 0 && dt < best) best = dt;
    }
    double flops = train ? 3 * fl : fl;
    printf("{\"mode\": \"%s\", \"size\": \"%s\", \"B\": %d, \"L\": %d, \"params\": %zu, \"seconds\": %.4f, "
           "\"cols_per_s\": %.1f, \"gflops\": %.2f, \"loss\": %.5f, \"peak_rss_mb\": %ld}\n",
           mode, argv[2], B, L, gd_model_n_params(m), best, B * L / best, flops / best / 1e9, loss, gm_peak_rss_mb());
    gd_model_free(m);
    free(x0); free(xt); free(y); free(cond); free(wt); free(wi); free(ri); free(probs);
    return 0;
}
