/* test_getdiff.c — the C engine against the PyTorch reference (dev/golden.bin,
 * written by dev/make_golden.py): logits, loss, every gradient and the losses
 * of 10 AdamW steps. Prints the worst error per tensor; fails outside the
 * tolerance. Also: the diffusion schedule and loss weights, the sampler's
 * contract, and model files (save → load, foreign and damaged files). */
#include "model/diffusion.h"
#include "model/getdiff.h"
#include "getmusic.h"
#include "model/model.h"
#include "model/nn.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* ======================================================================== */
/* Golden file                                                               */
/* ======================================================================== */

typedef struct {
    char name[96];
    int dtype; /* 0 f32, 1 i32 */
    int ndim;
    int64_t dims[8];
    size_t n;
    void *data;
} entry;

typedef struct { entry *e; int n; } golden;

static uint32_t rd32(FILE *f, int *ok) {
    uint8_t b[4];
    if (fread(b, 1, 4, f) != 4) { *ok = 0; return 0; }
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static int golden_load(golden *g, const char *path) {
    memset(g, 0, sizeof *g);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char magic[8];
    int ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, "GMGOLDEN", 8);
    uint32_t version = rd32(f, &ok), n = rd32(f, &ok);
    ok = ok && version == 1 && n < 10000;
    if (ok) g->e = calloc(n, sizeof *g->e);
    for (uint32_t i = 0; ok && i < n; i++) {
        entry *e = &g->e[i];
        uint32_t len = rd32(f, &ok);
        if (!ok || len >= sizeof e->name || fread(e->name, 1, len, f) != len) { ok = 0; break; }
        e->dtype = (int)rd32(f, &ok);
        e->ndim = (int)rd32(f, &ok);
        if (!ok || e->ndim > 8) { ok = 0; break; }
        e->n = 1;
        for (int d = 0; d < e->ndim; d++) { e->dims[d] = rd32(f, &ok); e->n *= (size_t)e->dims[d]; }
        if (!ok || e->n > 100000000) { ok = 0; break; }
        e->data = malloc(e->n * 4 + 1);
        if (!e->data || fread(e->data, 4, e->n, f) != e->n) { ok = 0; break; }
        g->n++;
    }
    fclose(f);
    return ok ? 0 : -1;
}

static void golden_free(golden *g) {
    for (int i = 0; i < g->n; i++) free(g->e[i].data);
    free(g->e);
}

static entry *find(golden *g, const char *name) {
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->e[i].name, name)) return &g->e[i];
    return NULL;
}

/* Worst error of a against ref, relative to ref's largest magnitude. */
static double compare(const char *what, const float *a, const float *ref, size_t n, double tol) {
    double worst_abs = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= worst_abs)) worst_abs = d; /* NaN propagates */
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    }
    double rel = worst_abs / (scale > 0 ? scale : 1);
    fprintf(stderr, "  %-58s max|ref| %.3e  worst abs %.3e  rel %.3e\n", what, scale, worst_abs, rel);
    CHECK(rel <= tol, "%s: relative error %.3e above %.1e", what, rel, tol);
    return rel;
}

/* dev/golden.bin (the original architecture) or dev/golden_feat.bin (token
 * features: entries P and feat, the (V+2, P) 0/1 membership, set as CSR). */
static void test_golden_file(const char *path) {
    golden g;
    if (golden_load(&g, path)) {
        CHECK(0, "%s missing or unreadable (regenerate: /usr/bin/python3 dev/make_golden.py)", path);
        return;
    }
    entry *ce = find(&g, "config");
    CHECK(ce && ce->n == 10, "config entry");
    if (!ce || ce->n != 10) { golden_free(&g); return; }
    int32_t *cf = ce->data;
    entry *eP = find(&g, "P"), *efeat = find(&g, "feat"), *eQ = find(&g, "Q"), *epos = find(&g, "pos");
    int P = eP ? ((int32_t *)eP->data)[0] : 0, Q = eQ ? ((int32_t *)eQ->data)[0] : 0;
    gd_config cfg = {.R = cf[0], .V = cf[1], .E = cf[2], .H = cf[3], .NL = cf[4], .NH = cf[5], .F = cf[6],
                     .max_cols = cf[7], .T = cf[9], .dropout = 0.0f, .P = P, .Q = Q};
    int L = cf[7], B = cf[8], R = cf[0], V = cf[1];
    uint8_t pos[64 * 64]; /* (B, L) bar positions (golden_pos.bin) */
    CHECK(!Q || (epos && epos->n == (size_t)B * L && epos->n <= sizeof pos), "pos entry (B, L)");
    if (Q && (!epos || epos->n != (size_t)B * L || epos->n > sizeof pos)) { golden_free(&g); return; }
    for (int i = 0; Q && i < B * L; i++) pos[i] = (uint8_t)((int32_t *)epos->data)[i];
    char err[GM_ERR_SIZE] = "";
    gd_model *m = gd_model_new(&cfg, err);
    CHECK(m != NULL, "model: %s", err);
    if (!m) { golden_free(&g); return; }
    if (P > 0) {
        CHECK(efeat && efeat->n == (size_t)(V + 2) * P, "feat entry (V+2, P)");
        if (!efeat || efeat->n != (size_t)(V + 2) * P) { gd_model_free(m); golden_free(&g); return; }
        const float *fm = efeat->data;
        int32_t *off = malloc((size_t)(V + 1) * sizeof *off), *idx = malloc((size_t)V * P * sizeof *idx);
        off[0] = 0;
        for (int v = 0; v < V; v++) {
            off[v + 1] = off[v];
            for (int f = 0; f < P; f++)
                if (fm[(size_t)v * P + f] != 0) idx[off[v + 1]++] = f;
        }
        CHECK(gd_model_set_features(m, off, idx, err) == 0, "set features: %s", err);
        CHECK(gd_model_n_feature_pairs(m) == (size_t)off[V] && off[V] > V, "%d (token, feature) pairs", off[V]);
        free(off);
        free(idx);
    }
    CHECK(gd_model_alloc_training(m, err) == 0, "%s", err);
    float *params = gd_model_params(m);
    int missing = 0;
    for (int i = 0; i < gd_model_n_tensors(m); i++) {
        const gd_tensor *t = gd_model_tensor(m, i);
        entry *e = find(&g, t->name);
        if (!e || e->n != t->n) { missing++; fprintf(stderr, "  missing or wrong size: %s\n", t->name); continue; }
        memcpy(params + t->offset, e->data, t->n * sizeof(float));
    }
    CHECK(missing == 0, "%d parameters missing from the golden file", missing);
    entry *ex0 = find(&g, "x0"), *ext = find(&g, "x_t"), *econd = find(&g, "cond"), *et = find(&g, "t"),
          *ept = find(&g, "pt"), *elog = find(&g, "logits"), *eloss = find(&g, "loss"), *eadam = find(&g, "adamw_losses");
    CHECK(ex0 && ext && econd && et && ept && elog && eloss && eadam, "golden inputs present");
    if (!(ex0 && ext && econd && et && ept && elog && eloss && eadam) || missing) { gd_model_free(m); golden_free(&g); return; }
    size_t ncell = (size_t)B * R * L;
    uint8_t *cond = malloc(ncell);
    for (size_t i = 0; i < ncell; i++) cond[i] = (uint8_t)((int32_t *)econd->data)[i];
    const int32_t *x0 = ex0->data, *xt = ext->data, *t = et->data;
    const float *pt = ept->data;
    int32_t *y = malloc(ncell * sizeof *y);
    float *wt = malloc(ncell * sizeof *wt), *wi = malloc(ncell * sizeof *wi), *ri = malloc(ncell * sizeof *ri);
    float *logits = malloc(ncell * (size_t)V * sizeof *logits);
    float *logits_brl = malloc(ncell * (size_t)V * sizeof *logits_brl);
    gd_schedule sch;
    gd_schedule_init(&sch, cfg.T);

    gd_zero_grads(m);
    CHECK(gd_forward(m, xt, cond, Q ? pos : NULL, t, B, L, 1, err) == 0, "forward: %s", err);
    gd_loss_weights(y, wt, wi, ri, x0, xt, cond, t, pt, B, R, L, V, &sch);
    double loss = gd_loss_backward(m, y, wt, wi, ri, logits, NULL, 1);
    /* ours (B, L, R, V) → the reference's (B, R, L, V) */
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++)
            for (int r = 0; r < R; r++)
                memcpy(logits_brl + (((size_t)b * R + r) * L + l) * V, logits + (((size_t)b * L + l) * R + r) * V,
                       (size_t)V * sizeof(float));
    fprintf(stderr, "%s (R=%d V=%d E=%d H=%d layers=%d heads=%d F=%d L=%d B=%d P=%d Q=%d): worst errors\n", path, R,
            V, cfg.E, cfg.H, cfg.NL, cfg.NH, cfg.F, L, B, P, Q);
    compare("logits", logits_brl, elog->data, ncell * (size_t)V, 1e-4);
    float lf = (float)loss;
    compare("loss", &lf, eloss->data, 1, 1e-5);
    const float *grads = gd_model_grads(m);
    for (int i = 0; i < gd_model_n_tensors(m); i++) {
        const gd_tensor *tn = gd_model_tensor(m, i);
        char gname[96];
        snprintf(gname, sizeof gname, "grad.%s", tn->name);
        entry *e = find(&g, gname);
        CHECK(e && e->n == tn->n, "%s present", gname);
        if (e && e->n == tn->n) compare(gname, grads + tn->offset, e->data, tn->n, 2e-4);
    }

    /* 10 AdamW steps on the same batch: the loss before each step. */
    float losses[10];
    for (int s = 0; s < 10; s++) {
        gd_zero_grads(m);
        gd_forward(m, xt, cond, Q ? pos : NULL, t, B, L, 1, err);
        losses[s] = (float)gd_loss_backward(m, y, wt, wi, ri, NULL, NULL, 1);
        gd_adamw_step(m, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, s + 1);
    }
    compare("adamw_losses (10 steps)", losses, eadam->data, 10, 1e-4);
    CHECK(losses[9] < losses[0], "AdamW lowers the loss (%g → %g)", losses[0], losses[9]);

    free(cond); free(y); free(wt); free(wi); free(ri); free(logits); free(logits_brl);
    gd_model_free(m);
    golden_free(&g);
}

static void test_golden(void) {
    test_golden_file("dev/golden.bin");
    test_golden_file("dev/golden_feat.bin");
    test_golden_file("dev/golden_pos.bin");
}

/* ======================================================================== */
/* Schedule and loss weights                                                 */
/* ======================================================================== */

static void test_schedule(void) {
    gd_schedule s;
    gd_schedule_init(&s, 100);
    CHECK(fabs(s.att[0] - 0.99999) < 1e-12 && fabs(s.att[99] - 0.000009) < 1e-12, "att ends");
    CHECK(fabs(s.ctt[0] - 0.000009) < 1e-12 && fabs(s.ctt[99] - 0.99999) < 1e-12, "ctt ends");
    CHECK(gd_schedule_a(&s, 0) == 1.0, "a_0 = 1");
    CHECK(fabs(gd_schedule_a(&s, 99) - (1 - s.ctt[98] / s.ctt[99])) < 1e-12 && gd_schedule_a(&s, 99) > 0, "a_99");
    /* corruption: conditions and EMPTY never change; about ctt[t] of targets masked */
    enum { B = 1, R = 4, L = 2000, V = 50 };
    static int32_t x0[B * R * L], xt[B * R * L];
    static uint8_t cond[B * R * L];
    for (int i = 0; i < B * R * L; i++) { x0[i] = i % 7; cond[i] = (i / L) == 1; }
    for (int l = 0; l < L; l++) x0[3 * L + l] = V; /* row 3 EMPTY */
    int32_t t = 60;
    uint64_t rng = 5;
    gd_corrupt(xt, x0, cond, &t, B, R, L, V, &s, &rng);
    int masked = 0, bad = 0;
    for (int i = 0; i < B * R * L; i++) {
        if (xt[i] == V + 1) { masked++; bad += cond[i] || x0[i] == V; }
        else bad += xt[i] != x0[i];
    }
    double frac = masked / (2.0 * L);
    CHECK(!bad, "conditions/EMPTY untouched");
    CHECK(fabs(frac - s.ctt[60]) < 0.03, "masked share %.3f vs ctt %.3f", frac, s.ctt[60]);
    /* loss weights: with every p = 1 (nll 0) the loss is 0; with every p = e^-1
     * (nll 1) it is Σ w·(main + aux) + Σ_intact w·(−log(r + (1 − r)/e)), over n·pt */
    static int32_t y[B * R * L];
    static float wt[B * R * L], wi[B * R * L], ri[B * R * L], nll[B * R * L];
    float pt = 0.01f;
    gd_loss_weights(y, wt, wi, ri, x0, xt, cond, &t, &pt, B, R, L, V, &s);
    double a = gd_schedule_a(&s, 60), aux = 0.001 * (2 - 0.6), r = s.att[60] / s.att[59], want = 0, got;
    for (int i = 0; i < B * R * L; i++) {
        if (x0[i] == V) continue;
        double w = cond[i] ? 0.5 : 1.0;
        want += w * (xt[i] == V + 1 ? a + aux : aux - log(r + (1 - r) * exp(-1.0)));
    }
    want /= 3.0 * L * pt;
    for (int i = 0; i < B * R * L; i++) nll[i] = 1.0f;
    gd_sample_losses(&got, nll, wt, wi, ri, B, R, L);
    CHECK(fabs(got - want) < 1e-5 * want, "sample loss %g want %g", got, want);
    for (int i = 0; i < B * R * L; i++) nll[i] = 0.0f;
    gd_sample_losses(&got, nll, wt, wi, ri, B, R, L);
    CHECK(fabs(got) < 1e-9, "perfect prediction costs 0 (%g)", got);
    /* importance sampler: uniform until warm, then favours large-loss t */
    gd_tsampler ts;
    gd_tsampler_init(&ts, 100);
    float p;
    int tt = gd_tsampler_draw(&ts, &rng, &p);
    CHECK(tt >= 0 && tt < 100 && fabs(p - 0.01f) < 1e-7, "uniform while cold");
    for (int k = 0; k < 100; k++)
        for (int j = 0; j < 10; j++) gd_tsampler_update(&ts, k, k == 50 ? 100.0 : 1.0);
    tt = gd_tsampler_draw(&ts, &rng, &p);
    CHECK(fabs(p - 0.01f) < 1e-7, "still uniform after 10 samples each (the original wants more than 10)");
    for (int k = 0; k < 100; k++) gd_tsampler_update(&ts, k, k == 50 ? 100.0 : 1.0);
    int hits = 0;
    for (int k = 0; k < 1000; k++) hits += gd_tsampler_draw(&ts, &rng, &p) == 50;
    CHECK(hits > 300, "importance sampling favours the large-loss step (%d/1000)", hits);
}

/* ======================================================================== */
/* Sampler contract                                                          */
/* ======================================================================== */

/* A model of cfg's sizes with random weights (seed), or NULL after a failed check. */
static gd_model *random_model(const gd_config *cfg, uint64_t seed) {
    char err[GM_ERR_SIZE] = "";
    gd_model *m = gd_model_new(cfg, err);
    CHECK(m != NULL, "%s", err);
    if (m) gd_model_init_random(m, seed);
    return m;
}

static void test_sampler(void) {
    gd_config cfg = {.R = 6, .V = 40, .E = 8, .H = 16, .NL = 2, .NH = 2, .F = 32, .max_cols = 64, .T = 100, .dropout = 0};
    char err[GM_ERR_SIZE] = "";
    gd_model *m = random_model(&cfg, 3);
    if (!m) return;
    enum { R = 6, L = 48 };
    int lo[R] = {16, 0, 20, 0, 30, 34}, hi[R] = {20, 15, 30, 15, 34, 40};
    int pad = 15, V = 40;
    int32_t x[R * L], x2[R * L], orig[R * L];
    uint8_t cond[R * L];
    for (int r = 0; r < R; r++)
        for (int l = 0; l < L; l++) {
            int i = r * L + l;
            cond[i] = r >= 4; /* chord rows given */
            x[i] = r == 2 || r == 3 ? V : r >= 4 ? lo[r] + l % (hi[r] - lo[r]) : V + 1; /* rows 2,3 EMPTY */
        }
    memcpy(orig, x, sizeof x);
    memcpy(x2, x, sizeof x);
    gd_sample_params sp = gd_sample_default_params();
    sp.steps = 20;
    sp.seed = 42;
    CHECK(gd_sample(m, x, cond, NULL, L, lo, hi, pad, &sp, err) == 0, "sample: %s", err);
    int bad = 0, left = 0;
    for (int i = 0; i < R * L; i++) {
        int r = i / L;
        if (orig[i] == V + 1) {
            left += x[i] == V + 1;
            bad += !(x[i] == pad || (x[i] >= lo[r] && x[i] < hi[r]));
        } else bad += x[i] != orig[i];
    }
    CHECK(!left, "every MASK filled (%d left)", left);
    CHECK(!bad, "generated tokens in their row's range, the rest untouched (%d bad)", bad);
    CHECK(gd_sample(m, x2, cond, NULL, L, lo, hi, pad, &sp, err) == 0 && !memcmp(x, x2, sizeof x), "same seed, same output");
    memcpy(x2, orig, sizeof x);
    sp.seed = 43;
    gd_sample(m, x2, cond, NULL, L, lo, hi, pad, &sp, err);
    CHECK(memcmp(x, x2, sizeof x) != 0, "another seed, another output");
    /* top-k 1 in one step (t = 0, one forward) is greedy: every MASK cell gets
     * its row's most likely allowed token, whatever the seed. */
    memcpy(x2, orig, sizeof x);
    sp.steps = 1;
    sp.top_k = 1;
    sp.seed = 99;
    CHECK(gd_sample(m, x2, cond, NULL, L, lo, hi, pad, &sp, err) == 0, "top-k 1: %s", err);
    int32_t t0 = 0;
    gd_forward(m, orig, cond, NULL, &t0, 1, L, 0, err);
    float *pr = malloc((size_t)R * L * V * sizeof *pr); /* (L, R, V) */
    gd_probs(m, pr);
    int greedy = 1;
    for (int i = 0; i < R * L; i++) {
        if (orig[i] != V + 1) continue;
        int r = i / L, l = i % L, best = pad;
        const float *q = pr + ((size_t)l * R + r) * V;
        for (int v = lo[r]; v < hi[r]; v++)
            if (q[v] > q[best]) best = v;
        greedy &= x2[i] == best;
    }
    free(pr);
    CHECK(greedy, "top-k 1 picks the most likely allowed token of every cell");
    sp.top_k = 0;
    memcpy(x2, orig, sizeof x);
    sp.steps = 1; /* one step fills everything at t = 0 */
    CHECK(gd_sample(m, x2, cond, NULL, L, lo, hi, pad, &sp, err) == 0, "1 step");
    sp.steps = 0;
    CHECK(gd_sample(m, x2, cond, NULL, L, lo, hi, pad, &sp, err) != 0 && err[0], "0 steps refused");
    sp.steps = 10;
    sp.temperature = 0;
    CHECK(gd_sample(m, x2, cond, NULL, L, lo, hi, pad, &sp, err) != 0 && err[0], "temperature 0 refused");
    gd_model_free(m);
}

/* Guidance passes (chords and drum style): in one greedy step, each row takes
 * the argmax of c + g_c·(c − u_chord) + g_s·(c − u_style) over its allowed
 * tokens, c = log p(·|x, pos), u_chord = log p(·|x minus the guide rows, pos),
 * u_style = log p(·|x, pos_unguided), each from its own forward; a row of
 * weight 0 takes the argmax of c alone, and a column in free (or NULL) has
 * no g_s. */
static int guided_argmax_matches(gd_model *m, const int32_t *x, const uint8_t *cond, const int32_t *sampled, const uint8_t *pos,
                                 const uint8_t *pos_u, const uint8_t *blank, const float *gc, const float *gs,
                                 const uint8_t *free_cols, const int *lo, const int *hi, int pad, int R, int L, int V) {
    char err[GM_ERR_SIZE];
    float *pr[3]; /* (L, R, V) each: conditional, chord pass, style pass */
    int32_t *xb = malloc((size_t)R * L * sizeof *xb), t0 = 0;
    uint8_t *cb = malloc((size_t)R * L); /* the chord pass's flags: blanked rows not given */
    for (int i = 0; i < R * L; i++) xb[i] = blank[i / L] ? V : x[i], cb[i] = blank[i / L] ? 0 : cond[i];
    const int32_t *in[3] = {x, xb, x};
    const uint8_t *ps[3] = {pos, pos, pos_u}, *fl[3] = {cond, cb, cond};
    for (int k = 0; k < 3; k++) {
        pr[k] = malloc((size_t)R * L * V * sizeof **pr);
        gd_forward(m, in[k], fl[k], ps[k], &t0, 1, L, 0, err);
        gd_probs(m, pr[k]);
    }
    int match = 1;
    for (int i = 0; i < R * L; i++) {
        int r = i / L, l = i % L, best = -1;
        double best_s = -INFINITY;
        if (cond[i]) { /* given: kept */
            match &= sampled[i] == x[i];
            continue;
        }
        const double g_s = free_cols && free_cols[l] ? 0.0 : gs[r];
        for (int v = lo[r]; v <= hi[r]; v++) {
            size_t q = ((size_t)l * R + r) * V + (size_t)(v == hi[r] ? pad : v);
            double c = log(pr[0][q]), sc = c + gc[r] * (c - log(pr[1][q])) + g_s * (c - log(pr[2][q]));
            if (sc > best_s) best_s = sc, best = v == hi[r] ? pad : v;
        }
        match &= sampled[i] == best;
    }
    for (int k = 0; k < 3; k++) free(pr[k]);
    free(xb);
    free(cb);
    return match;
}

static void test_sampler_guidance(void) {
    gd_config cfg = {.R = 4, .V = 30, .E = 8, .H = 16, .NL = 1, .NH = 2, .F = 32, .max_cols = 32, .T = 100, .Q = 64};
    char err[GM_ERR_SIZE] = "";
    gd_model *m = random_model(&cfg, 5);
    if (!m) return;
    float *bp = gd_model_p(m)->bpos; /* (Q, H): random, so the two blocks differ */
    uint64_t rng = 11;
    for (int i = 0; i < cfg.Q * cfg.H; i++) bp[i] = (float)(gd_rng_uniform(&rng) * 2 - 1);
    enum { R = 4, L = 24 };
    const int V = 30, pad = 29;
    int lo[R] = {0, 10, 20, 25}, hi[R] = {10, 20, 25, 29};
    int32_t x[R * L], orig[R * L];
    uint8_t cond[R * L], pos[L], pos_u[L], blank[R] = {0, 0, 0, 1}; /* row 3 given, blanked by the chord pass */
    for (int i = 0; i < R * L; i++) {
        cond[i] = i / L == 3;
        orig[i] = cond[i] ? lo[3] + i % 4 : V + 1;
    }
    for (int l = 0; l < L; l++) pos[l] = (uint8_t)(32 + l % 32), pos_u[l] = (uint8_t)(l % 32);
    float gc[R] = {1, 0, 2, 0}, gs[R] = {0, 2, 1.5f, 0}, none[R] = {0};
    gd_sample_params sp = gd_sample_default_params();
    sp.steps = 1, sp.top_k = 1, sp.guide_rows = blank, sp.row_guidance = gc, sp.style_guidance = gs, sp.pos_unguided = pos_u;
    memcpy(x, orig, sizeof x);
    CHECK(gd_sample(m, x, cond, pos, L, lo, hi, pad, &sp, err) == 0, "guided sample: %s", err);
    CHECK(guided_argmax_matches(m, orig, cond, x, pos, pos_u, blank, gc, gs, NULL, lo, hi, pad, R, L, V),
          "both passes: each row the argmax of its own guided log-odds");
    sp.style_guidance = NULL; /* the chord pass alone */
    memcpy(x, orig, sizeof x);
    CHECK(gd_sample(m, x, cond, pos, L, lo, hi, pad, &sp, err) == 0 &&
              guided_argmax_matches(m, orig, cond, x, pos, pos_u, blank, gc, none, NULL, lo, hi, pad, R, L, V),
          "the chord pass alone");
    sp.style_guidance = gs, sp.guide_rows = NULL; /* the style pass alone */
    memcpy(x, orig, sizeof x);
    CHECK(gd_sample(m, x, cond, pos, L, lo, hi, pad, &sp, err) == 0 &&
              guided_argmax_matches(m, orig, cond, x, pos, pos_u, blank, none, gs, NULL, lo, hi, pad, R, L, V),
          "the style pass alone");
    uint8_t free_cols[L]; /* every third column left to the chords (generate: the downbeats) */
    for (int l = 0; l < L; l++) free_cols[l] = l % 3 == 0;
    sp.guide_rows = blank, sp.style_free_cols = free_cols;
    memcpy(x, orig, sizeof x);
    CHECK(gd_sample(m, x, cond, pos, L, lo, hi, pad, &sp, err) == 0 &&
              guided_argmax_matches(m, orig, cond, x, pos, pos_u, blank, gc, gs, free_cols, lo, hi, pad, R, L, V),
          "both passes, the style pass's free columns unguided by it");
    CHECK(!guided_argmax_matches(m, orig, cond, x, pos, pos_u, blank, gc, gs, NULL, lo, hi, pad, R, L, V),
          "the free columns differ from guiding every column (or the test cannot tell)");
    gs[1] = -1;
    CHECK(gd_sample(m, x, cond, pos, L, lo, hi, pad, &sp, err) != 0 && strstr(err, "guidance"), "negative style guidance refused");
    gd_model_free(m);
}

/* ======================================================================== */
/* Model files                                                               */
/* ======================================================================== */

/* A small vocabulary of the default layout from a few compounds (a piano
 * triad, a drum pair). */
/* The default layout into l, and a small vocabulary for it (NULL after a
 * failed check). */
static gm_vocab *small_vocab(gm_layout *l, char *err) {
    gm_layout_preset(l, "default", err);
    gm_vocab_builder *b = gm_vocab_builder_new(l);
    uint8_t c1[3] = {60, 64, 67}, c2[2] = {36, 42};
    gm_vocab_builder_add(b, 2, c1, 3, 20);
    gm_vocab_builder_add(b, 3, c2, 2, 20);
    gm_vocab *v = gm_vocab_builder_finish(b, 1.0, 0, err);
    gm_vocab_builder_free(b);
    if (!v) CHECK(0, "small vocabulary: %s", err);
    return v;
}

/* Saves m into a new temporary folder (dir: a mkdtemp template, filled in;
 * path, bad: n bytes each, get the model file's and a scratch file's names)
 * and loads it back into *m2 (NULL when loading failed, a failed check),
 * checking that the weights come back bit for bit. -1: no folder. */
static int save_reload(gm_model *m, char *dir, char *path, char *bad, size_t n, gm_model **m2, char *err) {
    *m2 = NULL;
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return -1; }
    snprintf(path, n, "%s/m.gguf", dir);
    snprintf(bad, n, "%s/bad.gguf", dir);
    CHECK(gm_model_save(m, path, "unit test", err) == 0, "save: %s", err);
    *m2 = gm_model_load(path, err);
    CHECK(*m2 != NULL, "load: %s", err);
    if (*m2) {
        gd_model *a = gm_model_net(m), *b = gm_model_net(*m2);
        CHECK(gd_model_n_params(a) == gd_model_n_params(b) &&
                  !memcmp(gd_model_params(a), gd_model_params(b), gd_model_n_params(a) * sizeof(float)),
              "weights identical after save → load");
    }
    return 0;
}

static void test_model_file(void) {
    char err[GM_ERR_SIZE] = "";
    gm_layout l;
    gm_vocab *v = small_vocab(&l, err);
    if (!v) return;
    gm_model_params p = {.embd = 8, .hidden = 16, .layers = 2, .heads = 2, .ffn = 24, .max_cols = 64,
                         .diffusion_steps = 100, .dropout = 0.1f};
    gm_model *m = gm_model_new(&p, &l, v, 7, err);
    CHECK(m != NULL, "new: %s", err);
    if (!m) { gm_vocab_free(v); return; }
    char dir[] = "/tmp/gm_test_model_XXXXXX", path[256], bad[256];
    gm_model *m2;
    if (save_reload(m, dir, path, bad, sizeof path, &m2, err)) return;
    if (m2) {
        CHECK(gm_vocab_size(gm_model_vocab(m2)) == gm_vocab_size(v), "vocabulary size");
        int same = 1;
        for (int i = 0; i < gm_vocab_size(v); i++) same &= !strcmp(gm_vocab_token(v, i), gm_vocab_token(gm_model_vocab(m2), i));
        CHECK(same, "vocabulary tokens identical");
        const gm_layout *l2 = gm_model_layout(m2);
        CHECK(l2->n_classes == 4 && !strcmp(l2->cls[1].name, "counter") && l2->cls[3].is_drum && l2->cls[0].velocity == 114,
              "layout round trip");
        CHECK(!strcmp(gm_model_source(m2), "unit test"), "source");
        gm_model_params q = gm_model_sizes(m2);
        CHECK(q.embd == 8 && q.hidden == 16 && q.layers == 2 && q.heads == 2 && q.ffn == 24 && q.max_cols == 64, "sizes");
        gm_model_free(m2);
    }
    /* damaged files: truncations and flipped bytes fail cleanly or load */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)n);
    CHECK(fread(d, 1, (size_t)n, f) == (size_t)n, "read back");
    fclose(f);
    int clean = 1;
    for (long cut = 0; cut < n; cut += n / 97 + 1) {
        FILE *o = fopen(bad, "wb");
        fwrite(d, 1, (size_t)cut, o);
        fclose(o);
        gm_model *x = gm_model_load(bad, err);
        if (x || !err[0] || strchr(err, '\n')) clean = 0;
        gm_model_free(x);
    }
    CHECK(clean, "every truncation is refused with a one-line reason");
    uint64_t rng = 11;
    int loaded = 0, refused = 0;
    for (int k = 0; k < 200; k++) {
        size_t at = (size_t)(gd_rng_next(&rng) % (uint64_t)n);
        uint8_t old = d[at];
        d[at] ^= (uint8_t)(1 + gd_rng_next(&rng) % 255);
        FILE *o = fopen(bad, "wb");
        fwrite(d, 1, (size_t)n, o);
        fclose(o);
        gm_model *x = gm_model_load(bad, err);
        if (x) loaded++; else refused++;
        gm_model_free(x);
        d[at] = old;
    }
    CHECK(loaded + refused == 200, "200 corruptions: %d loaded, %d refused, no crash", loaded, refused);
    free(d);
    FILE *o = fopen(bad, "wb");
    fputs("GGUF but not really", o);
    fclose(o);
    CHECK(gm_model_load(bad, err) == NULL && err[0], "foreign file: %s", err);
    CHECK(gm_model_load("/nonexistent/model.gguf", err) == NULL && err[0], "missing file: %s", err);
    unlink(path);
    unlink(bad);
    rmdir(dir);
    gm_model_free(m);
    gm_vocab_free(v);
}

/* p(token) of every cell for one forward of a fixed batch (bar positions:
 * bars of 12 columns, for a model that takes them). */
static float *probs_of(gd_model *net, char *err) {
    const gd_config *c = gd_model_config(net);
    enum { L = 16 };
    int32_t x[64 * L], t = 40;
    uint8_t cond[64 * L], pos[L];
    for (int l = 0; l < L; l++) pos[l] = (uint8_t)(l % 12);
    for (int i = 0; i < c->R * L; i++) {
        x[i] = i % 3 ? (int32_t)((i * 7) % c->V) : c->V + 1; /* tokens and MASK */
        cond[i] = (uint8_t)(i % 2);
    }
    if (gd_forward(net, x, cond, pos, &t, 1, L, 0, err)) return NULL;
    float *p = malloc((size_t)c->R * L * c->V * sizeof *p);
    if (p) gd_probs(net, p);
    return p;
}

static float max_abs_diff(const float *a, const float *b, size_t n) {
    float d = 0;
    for (size_t i = 0; i < n; i++) d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

/* Bar positions (docs/MODEL.md): saved and loaded; required and range-checked
 * by the forward; added to a plain model as a zero table, it computes what it
 * did, and a non-zero table makes the position matter. */
static void test_model_bar_positions(void) {
    char err[GM_ERR_SIZE] = "";
    gm_layout l;
    gm_vocab *v = small_vocab(&l, err);
    if (!v) return;
    gm_model_params p = {.embd = 8, .hidden = 16, .layers = 2, .heads = 2, .ffn = 24, .max_cols = 64,
                         .diffusion_steps = 100, .dropout = 0.1f, .bar_positions = GM_BAR_POSITIONS};
    gm_model *m = gm_model_new(&p, &l, v, 7, err);
    CHECK(m && gd_model_find(gm_model_net(m), "embeddings.bar_position_embeddings.weight"), "new: %s", err);
    if (!m) { gm_vocab_free(v); return; }
    const gd_config *c = gd_model_config(gm_model_net(m));
    size_t n = (size_t)c->R * 16 * c->V;
    float *p1 = probs_of(gm_model_net(m), err);
    char dir[] = "/tmp/gm_test_bpos_XXXXXX", path[256], bad[256];
    gm_model *m2 = NULL;
    if (!save_reload(m, dir, path, bad, sizeof path, &m2, err) && m2) {
        float *p2 = probs_of(gm_model_net(m2), err);
        CHECK(gm_model_sizes(m2).bar_positions == GM_BAR_POSITIONS && p1 && p2 && max_abs_diff(p1, p2, n) == 0,
              "bar positions survive save and load");
        free(p2);
        gm_model_free(m2);
        unlink(path);
        rmdir(dir);
    }
    int32_t x[64 * 4] = {0}, t = 3;
    uint8_t cond[64 * 4] = {0}, pos[4] = {0, 1, 2, GM_BAR_POSITIONS};
    CHECK(gd_forward(gm_model_net(m), x, cond, NULL, &t, 1, 4, 0, err) != 0 && strstr(err, "position"), "no positions: %s", err);
    CHECK(gd_forward(gm_model_net(m), x, cond, pos, &t, 1, 4, 0, err) != 0 && strstr(err, "position"), "position 32: %s", err);
    p.bar_positions = 5;
    CHECK(gm_model_new(&p, &l, v, 7, err) == NULL && err[0], "5 bar positions refused: %s", err);

    p.bar_positions = 0;
    gm_model *plain = gm_model_new(&p, &l, v, 7, err);
    float *q0 = plain ? probs_of(gm_model_net(plain), err) : NULL;
    CHECK(plain && gm_model_add_bar_positions(plain, err) == 0 && gm_model_sizes(plain).bar_positions == GM_BAR_POSITIONS,
          "add bar positions: %s", err);
    float *q1 = plain ? probs_of(gm_model_net(plain), err) : NULL;
    CHECK(q0 && q1 && max_abs_diff(q0, q1, n) == 0, "a zero table: the same probabilities");
    const gd_tensor *bt = plain ? gd_model_find(gm_model_net(plain), "embeddings.bar_position_embeddings.weight") : NULL;
    if (bt) {
        float *w = gd_model_params(gm_model_net(plain)) + bt->offset;
        for (size_t i = 0; i < bt->n; i++) w[i] = (float)(i % 7) * 0.3f - 0.9f;
        float *q2 = probs_of(gm_model_net(plain), err);
        CHECK(q2 && max_abs_diff(q0, q2, n) > 1e-6, "a non-zero table moves the probabilities (%g)", q2 ? max_abs_diff(q0, q2, n) : 0.0f);
        free(q2);
    }
    free(p1); free(q0); free(q1);
    gm_model_free(plain);
    gm_model_free(m);
    gm_vocab_free(v);
}

/* A model with token features: membership from the vocabulary, save → load
 * (same weights, same probabilities), and the file checks. */
static void test_model_features(void) {
    char err[GM_ERR_SIZE] = "";
    gm_layout l;
    gm_vocab *v = small_vocab(&l, err);
    if (!v) return;
    /* feat(v) of MODEL.md for a few tokens */
    int32_t *off, *idx;
    CHECK(gm_model_token_features(v, &l, &off, &idx, err) == 0, "%s", err);
    struct { const char *tok; int n; int f[4]; } want[] = {
        {"T3", 0, {0}}, {"<pad>", 0, {0}}, {"M60", 1, {60}}, {"R0", 1, {0}}, {"P60 64 67", 3, {60, 64, 67}},
        {"D164 170", 2, {164, 170}}, {"D128", 1, {128}}, {"D255", 1, {255}}, {"C", 1, {256}}, {"B", 1, {267}},
        {"null", 3, {268, 272, 275}}, {"m7b5", 4, {268, 271, 274, 278}}, {"+", 3, {268, 272, 276}},
    };
    int V = gm_vocab_size(v), found = 0, bad = 0;
    for (size_t k = 0; k < sizeof want / sizeof *want; k++)
        for (int id = 0; id < V; id++) {
            if (strcmp(gm_vocab_token(v, id), want[k].tok)) continue;
            found++;
            bad += off[id + 1] - off[id] != want[k].n;
            for (int j = 0; j < want[k].n && off[id + 1] - off[id] == want[k].n; j++) bad += idx[off[id] + j] != want[k].f[j];
        }
    CHECK(found == (int)(sizeof want / sizeof *want) && !bad, "token features of %d tokens (%d found, %d wrong)",
          (int)(sizeof want / sizeof *want), found, bad);
    free(off);
    free(idx);

    gm_model_params p = {.embd = 8, .hidden = 16, .layers = 2, .heads = 2, .ffn = 24, .max_cols = 64,
                         .diffusion_steps = 100, .dropout = 0.1f, .token_features = GM_TOKEN_FEATURES};
    gm_model *m = gm_model_new(&p, &l, v, 7, err);
    CHECK(m != NULL, "new with token features: %s", err);
    if (!m) { gm_vocab_free(v); return; }
    gd_model *net = gm_model_net(m);
    CHECK(gd_model_config(net)->P == GM_TOKEN_FEATURES && gd_model_find(net, "embeddings.pitch_embeddings.weight") &&
              gd_model_n_feature_pairs(net) > (size_t)V,
          "P = %d, %zu (token, feature) pairs", gd_model_config(net)->P, gd_model_n_feature_pairs(net));
    char dir[] = "/tmp/gm_test_feat_XXXXXX", path[256], bad_path[256];
    gm_model *m2;
    if (save_reload(m, dir, path, bad_path, sizeof path, &m2, err)) return;
    if (m2) {
        gd_model *n2 = gm_model_net(m2);
        CHECK(gm_model_sizes(m2).token_features == GM_TOKEN_FEATURES && gd_model_config(n2)->P == GM_TOKEN_FEATURES,
              "token features survive save → load");
        CHECK(gd_model_n_feature_pairs(n2) == gd_model_n_feature_pairs(net), "membership rebuilt on load");
        float *pa = probs_of(net, err), *pb = probs_of(n2, err);
        size_t np = (size_t)gd_model_config(net)->R * 16 * V;
        CHECK(pa && pb && !memcmp(pa, pb, np * sizeof(float)), "same probabilities after save → load");
        /* the features matter: without them (P = 0, same other weights) the probabilities differ */
        gm_model_params p0 = p;
        p0.token_features = 0;
        gm_model *m0 = gm_model_new(&p0, &l, v, 7, err);
        if (m0 && pa) {
            gd_model *n0 = gm_model_net(m0);
            const gd_tensor *w0 = gd_model_find(n0, "embeddings.word_embeddings.weight");
            for (int i = 0; i < gd_model_n_tensors(n0); i++) {
                const gd_tensor *t0 = gd_model_tensor(n0, i), *t1 = gd_model_find(net, t0->name);
                memcpy(gd_model_params(n0) + t0->offset, gd_model_params(net) + t1->offset, t0->n * sizeof(float));
            }
            float *pz = probs_of(n0, err);
            CHECK(w0 && pz && memcmp(pa, pz, np * sizeof(float)) != 0, "token features change the probabilities");
            free(pz);
        }
        gm_model_free(m0);
        free(pa);
        free(pb);
        gm_model_free(m2);
    }
    /* File checks: a bad feature count, a wrong-shaped table, a stray table, a missing one. */
    gm_model_params p0 = p;
    p0.token_features = 0;
    gm_model *plain = gm_model_new(&p0, &l, v, 7, err);
    CHECK(plain != NULL, "%s", err);
    float junk[300 * 8] = {0};
    struct { uint32_t key; int64_t rows; const char *what; } cases[] = {
        {17, 0, "token_features"}, {GM_TOKEN_FEATURES, 100, "shape"}, {0, GM_TOKEN_FEATURES, "pitch_embeddings"},
        {GM_TOKEN_FEATURES, 0, "pitch_embeddings"},
    };
    for (size_t k = 0; plain && k < sizeof cases / sizeof *cases; k++) {
        gguf_writer *w = gguf_writer_new();
        int rc = gm_model_to_gguf(plain, w, "unit test");
        if (cases[k].key) rc |= gguf_set_u32(w, "getmusic.token_features", cases[k].key);
        int64_t ne[2] = {8, cases[k].rows};
        if (cases[k].rows) rc |= gguf_add_tensor(w, "embeddings.pitch_embeddings.weight", GGUF_TENSOR_F32, 2, ne, junk);
        rc |= gguf_write_file(w, bad_path, err);
        gguf_writer_free(w);
        CHECK(rc == 0, "write case %zu: %s", k, err);
        err[0] = 0;
        gm_model *x = gm_model_load(bad_path, err);
        CHECK(!x && strstr(err, cases[k].what), "case %zu refused: %s", k, err);
        gm_model_free(x);
    }
    gm_model_free(plain);
    p.token_features = 5;
    CHECK(gm_model_new(&p, &l, v, 7, err) == NULL && err[0], "token features 5 refused: %s", err);
    unlink(path);
    unlink(bad_path);
    rmdir(dir);
    gm_model_free(m);
    gm_vocab_free(v);
}

/* The shipped model loads, has the default layout and runs one forward. */
static void test_shipped_model(void) {
    char err[GM_ERR_SIZE] = "";
    struct stat st;
    if (stat("models/default.gguf", &st)) { SKIP("models/default.gguf absent"); return; }
    gm_model *m = gm_model_load("models/default.gguf", err);
    CHECK(m != NULL, "models/default.gguf: %s", err);
    if (!m) return;
    const gm_layout *l = gm_model_layout(m);
    CHECK(!strcmp(l->name, "default") && l->n_classes == 4, "layout %s", l->name);
    CHECK(gm_model_sizes(m).token_features == 0 && gd_model_config(gm_model_net(m))->P == 0,
          "models/default.gguf: no token features (the original architecture)");
    gd_model *net = gm_model_net(m);
    const gd_config *c = gd_model_config(net);
    enum { L = 32 };
    int32_t x[14 * L], t = 50;
    uint8_t cond[14 * L], pos[L];
    for (int i = 0; i < c->R * L; i++) { x[i] = c->V + 1; cond[i] = 0; }
    for (int i = 0; i < L; i++) pos[i] = (uint8_t)(i % 16);
    CHECK(gd_forward(net, x, cond, pos, &t, 1, L, 0, err) == 0, "forward: %s", err);
    float *p = malloc((size_t)c->R * L * c->V * sizeof *p);
    gd_probs(net, p);
    double sum = 0;
    for (int v = 0; v < c->V; v++) sum += p[v];
    CHECK(fabs(sum - 1) < 1e-4 && isfinite(sum), "probabilities sum to 1 (%g)", sum);
    free(p);
    gm_model_free(m);
}

int main(void) {
    nn_set_threads(2);
    test_shipped_model();
    test_golden();
    test_schedule();
    test_sampler();
    test_sampler_guidance();
    test_model_file();
    test_model_features();
    test_model_bar_positions();
    return test_done("test_getdiff");
}
