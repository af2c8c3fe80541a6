/*
 * test_nn.c — the kernels of nn.c against naive double-precision loops and
 * against finite differences of themselves.
 *
 * Gradient checks: for every backward, f(θ) = Σ r·forward(θ) with a random r
 * (or the loss itself for nn_tied_ce) is differentiated by central differences
 * in double (eps 1e-3 unless noted, using the perturbation float actually stores), and
 * compared with the backward given dy = r. The error of one entry is
 * |analytic − numeric| / max(|analytic|, |numeric|, 0.1·max|analytic|): relative,
 * with a floor so entries near zero are judged against the tensor's scale.
 * The worst error per kernel goes to stderr.
 */
#include "model/nn.h"
#include "test.h"

#include <math.h>

/* ------------------------------------------------------------------------ */
/* helpers */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) { /* [0, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}
static void fill(float *a, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * urand());
}
static float *falloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }
static float *fdup(const float *a, size_t n) {
    float *b = falloc(n);
    memcpy(b, a, n * sizeof(float));
    return b;
}
static double dot(const float *a, const float *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * r[i];
    return s;
}
/* max |a − b| / max(max|b|, tiny), b given as doubles (bd) or floats (bf). */
static double rel_diff_of(const float *a, const double *bd, const float *bf, size_t n) {
    double m = 0, s = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double b = bd ? bd[i] : (double)bf[i];
        double d = fabs((double)a[i] - b);
        if (d > m) m = d;
        if (fabs(b) > s) s = fabs(b);
    }
    return m / s;
}
static double rel_diff(const float *a, const double *b, size_t n) { return rel_diff_of(a, b, NULL, n); }
static double rel_diff_ff(const float *a, const float *b, size_t n) { return rel_diff_of(a, NULL, b, n); }

/* Central differences of f() w.r.t. every entry of p, compared with ga. */
typedef double (*fd_fn)(void);
/* 1e-3; the 130-wide LayerNorm uses 1e-2: its rounding noise (~1e-6 in f, over
 * 130 outputs per perturbed row) divided by 2·eps would otherwise be ~5e-3. */
static double fd_eps = 1e-3;
#define FD_TOL 1e-2
static double fd_worst(float *p, size_t np, const float *ga, fd_fn f) {
    double scale = 0, worst = 0;
    for (size_t i = 0; i < np; i++)
        if (fabs(ga[i]) > scale) scale = fabs(ga[i]);
    for (size_t i = 0; i < np; i++) {
        float x0 = p[i];
        float xp = (float)(x0 + fd_eps), xm = (float)(x0 - fd_eps);
        p[i] = xp;
        double fp = f();
        p[i] = xm;
        double fm = f();
        p[i] = x0;
        double num = (fp - fm) / ((double)xp - (double)xm);
        double den = fmax(fmax(fabs(ga[i]), fabs(num)), 0.1 * scale);
        if (den < 1e-12) den = 1e-12;
        double e = fabs(ga[i] - num) / den;
        if (e > worst) worst = e;
    }
    return worst;
}

static double worst_of[16];
static const char *worst_name[16];
static int n_worst;
static void report_fd(const char *name, double w) {
    CHECK(w < FD_TOL, "%s: FD error %.3g", name, w);
    int k = 0;
    for (; k < n_worst; k++)
        if (!strcmp(worst_name[k], name)) break;
    if (k == n_worst) {
        worst_name[n_worst++] = name;
        worst_of[k] = 0;
    }
    if (w > worst_of[k]) worst_of[k] = w;
}

/* ------------------------------------------------------------------------ */
/* linear */

static struct {
    float *x, *w, *b, *y, *r;
    int n, in, out;
} LIN;
static double lin_f(void) {
    nn_linear_forward(LIN.y, LIN.x, LIN.w, LIN.b, LIN.n, LIN.in, LIN.out);
    return dot(LIN.y, LIN.r, (size_t)LIN.n * LIN.out);
}

static void test_linear(void) {
    int n = 3, in = 4, out = 5;
    float *x = falloc(n * in), *w = falloc(out * in), *b = falloc(out), *y = falloc(n * out), *r = falloc(n * out);
    fill(x, n * in, -1, 1), fill(w, out * in, -1, 1), fill(b, out, -1, 1), fill(r, n * out, -1, 1);
    /* forward vs naive, with and without bias */
    for (int wb = 0; wb < 2; wb++) {
        double ref[15];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) {
                double s = wb ? b[o] : 0;
                for (int k = 0; k < in; k++) s += (double)x[i * in + k] * w[o * in + k];
                ref[i * out + o] = s;
            }
        nn_linear_forward(y, x, w, wb ? b : NULL, n, in, out);
        CHECK(rel_diff(y, ref, n * out) < 1e-6, "linear forward (bias %d) %.3g", wb, rel_diff(y, ref, n * out));
    }
    /* gradients */
    float *dx = falloc(n * in), *dw = falloc(out * in), *db = falloc(out);
    nn_linear_backward(dx, dw, db, r, x, w, n, in, out);
    LIN.x = x, LIN.w = w, LIN.b = b, LIN.y = y, LIN.r = r, LIN.n = n, LIN.in = in, LIN.out = out;
    report_fd("linear", fd_worst(x, n * in, dx, lin_f));
    report_fd("linear", fd_worst(w, out * in, dw, lin_f));
    report_fd("linear", fd_worst(b, out, db, lin_f));
    /* += : a second call doubles; NULL gradients are skipped */
    float *dx2 = fdup(dx, n * in), *dw2 = fdup(dw, out * in), *db2 = fdup(db, out);
    nn_linear_backward(dx2, dw2, db2, r, x, w, n, in, out);
    int ok = 1;
    for (int i = 0; i < n * in; i++) ok &= fabsf(dx2[i] - 2 * dx[i]) <= 1e-6f * (1 + fabsf(dx[i]));
    for (int i = 0; i < out * in; i++) ok &= fabsf(dw2[i] - 2 * dw[i]) <= 1e-6f * (1 + fabsf(dw[i]));
    for (int i = 0; i < out; i++) ok &= fabsf(db2[i] - 2 * db[i]) <= 1e-6f * (1 + fabsf(db[i]));
    CHECK(ok, "linear backward accumulates");
    nn_linear_backward(NULL, NULL, db2, r, x, w, n, in, out);
    CHECK(fabsf(db2[0] - 3 * db[0]) <= 1e-5f * (1 + fabsf(db[0])), "linear backward with NULL dx, dw");
    free(x), free(w), free(b), free(y), free(r), free(dx), free(dw), free(db), free(dx2), free(dw2), free(db2);
}

/* ------------------------------------------------------------------------ */
/* layernorm */

static struct {
    float *x, *g, *b, *y, *mean, *rstd, *r;
    int n, d;
    float eps;
} LN;
static double ln_f(void) {
    nn_layernorm_forward(LN.y, LN.mean, LN.rstd, LN.x, LN.g, LN.b, LN.n, LN.d, LN.eps);
    return dot(LN.y, LN.r, (size_t)LN.n * LN.d);
}

static void test_layernorm_size(int n, int d, float eps) {
    float *x = falloc(n * d), *g = falloc(d), *b = falloc(d), *y = falloc(n * d), *r = falloc(n * d);
    float *mean = falloc(n), *rstd = falloc(n);
    fill(x, n * d, -2, 3), fill(g, d, 0.5, 1.5), fill(b, d, -1, 1), fill(r, n * d, -1, 1);
    nn_layernorm_forward(y, mean, rstd, x, g, b, n, d, eps);
    double *ref = calloc(n * d, sizeof(double));
    for (int i = 0; i < n; i++) {
        double m = 0, v = 0;
        for (int j = 0; j < d; j++) m += x[i * d + j];
        m /= d;
        for (int j = 0; j < d; j++) v += (x[i * d + j] - m) * (x[i * d + j] - m);
        v /= d;
        for (int j = 0; j < d; j++) ref[i * d + j] = (x[i * d + j] - m) / sqrt(v + eps) * g[j] + b[j];
    }
    CHECK(rel_diff(y, ref, n * d) < 2e-6, "layernorm forward %dx%d: %.3g", n, d, rel_diff(y, ref, n * d));
    float *dx = falloc(n * d), *dg = falloc(d), *db = falloc(d);
    nn_layernorm_backward(dx, dg, db, r, x, mean, rstd, g, n, d);
    LN.x = x, LN.g = g, LN.b = b, LN.y = y, LN.mean = mean, LN.rstd = rstd, LN.r = r, LN.n = n, LN.d = d, LN.eps = eps;
    report_fd("layernorm", fd_worst(x, n * d, dx, ln_f));
    report_fd("layernorm", fd_worst(g, d, dg, ln_f));
    report_fd("layernorm", fd_worst(b, d, db, ln_f));
    nn_layernorm_forward(y, mean, rstd, x, g, b, n, d, eps);
    float *dx2 = fdup(dx, n * d), *dg2 = fdup(dg, d), *db2 = fdup(db, d);
    nn_layernorm_backward(dx2, dg2, db2, r, x, mean, rstd, g, n, d);
    int ok = 1;
    for (int i = 0; i < n * d; i++) ok &= fabsf(dx2[i] - 2 * dx[i]) <= 1e-6f * (1 + fabsf(dx[i]));
    for (int i = 0; i < d; i++) ok &= fabsf(dg2[i] - 2 * dg[i]) <= 1e-6f * (1 + fabsf(dg[i]));
    for (int i = 0; i < d; i++) ok &= fabsf(db2[i] - 2 * db[i]) <= 1e-6f * (1 + fabsf(db[i]));
    CHECK(ok, "layernorm backward accumulates");
    free(x), free(g), free(b), free(y), free(r), free(mean), free(rstd), free(ref), free(dx), free(dg), free(db);
    free(dx2), free(dg2), free(db2);
}

static void test_layernorm(void) {
    test_layernorm_size(3, 7, 1e-12f);
    fd_eps = 1e-2;
    test_layernorm_size(4, 130, 1e-5f); /* spans three column blocks */
    fd_eps = 1e-3;
}

/* ------------------------------------------------------------------------ */
/* gelu, silu, softmax */

static struct {
    float *x, *y, *r;
    size_t n;
    int silu;
} EW;
static double ew_f(void) {
    if (EW.silu)
        nn_silu_forward(EW.y, EW.x, EW.n);
    else
        nn_gelu_forward(EW.y, EW.x, EW.n);
    return dot(EW.y, EW.r, EW.n);
}

static void test_elementwise(void) {
    for (int silu = 0; silu < 2; silu++) {
        const char *name = silu ? "silu" : "gelu";
        size_t n = 64;
        float *x = falloc(n), *y = falloc(n), *r = falloc(n), *dx = falloc(n);
        fill(x, n, -5, 5), fill(r, n, -1, 1);
        x[0] = 0, x[1] = -20, x[2] = 20, x[3] = -100; /* tails */
        double ref[64];
        for (size_t i = 0; i < n; i++)
            ref[i] = silu ? x[i] / (1 + exp(-(double)x[i])) : 0.5 * x[i] * (1 + erf(x[i] / sqrt(2.0)));
        if (silu)
            nn_silu_forward(y, x, n);
        else
            nn_gelu_forward(y, x, n);
        CHECK(rel_diff(y, ref, n) < 1e-6, "%s forward %.3g", name, rel_diff(y, ref, n));
        int fin = 1;
        for (size_t i = 0; i < n; i++) fin &= isfinite(y[i]);
        CHECK(fin, "%s forward finite at the tails", name);
        float *yi = fdup(x, n); /* in place */
        if (silu)
            nn_silu_forward(yi, yi, n);
        else
            nn_gelu_forward(yi, yi, n);
        CHECK(!memcmp(yi, y, n * sizeof(float)), "%s forward in place", name);
        if (silu)
            nn_silu_backward(dx, r, x, n);
        else
            nn_gelu_backward(dx, r, x, n);
        EW.x = x, EW.y = y, EW.r = r, EW.n = n, EW.silu = silu;
        report_fd(name, fd_worst(x, n, dx, ew_f));
        float *dx2 = fdup(dx, n);
        if (silu)
            nn_silu_backward(dx2, r, x, n);
        else
            nn_gelu_backward(dx2, r, x, n);
        int ok = 1;
        for (size_t i = 0; i < n; i++) ok &= fabsf(dx2[i] - 2 * dx[i]) <= 1e-6f * (1 + fabsf(dx[i]));
        CHECK(ok, "%s backward accumulates", name);
        free(x), free(y), free(r), free(dx), free(dx2), free(yi);
    }
}

static void test_softmax(void) {
    int n = 4, d = 9;
    float *x = falloc(n * d);
    fill(x, n * d, -3, 3);
    x[0] = 80, x[1] = 85; /* would overflow expf without the max */
    double ref[36];
    for (int i = 0; i < n; i++) {
        double m = -1e300, s = 0;
        for (int j = 0; j < d; j++) m = fmax(m, x[i * d + j]);
        for (int j = 0; j < d; j++) s += exp(x[i * d + j] - m);
        for (int j = 0; j < d; j++) ref[i * d + j] = exp(x[i * d + j] - m) / s;
    }
    nn_softmax_forward(x, n, d);
    CHECK(rel_diff(x, ref, n * d) < 1e-6, "softmax forward %.3g", rel_diff(x, ref, n * d));
    free(x);
}

/* ------------------------------------------------------------------------ */
/* rope */

static struct {
    float *x, *y, *r;
    int B, L, NH, HD;
} RP;
static double rope_f(void) {
    nn_rope_forward(RP.y, RP.x, RP.B, RP.L, RP.NH, RP.HD);
    return dot(RP.y, RP.r, (size_t)RP.B * RP.L * RP.NH * RP.HD);
}

static void test_rope(void) {
    int B = 2, L = 5, NH = 2, HD = 4, C = NH * HD;
    size_t N = (size_t)B * L * C;
    float *x = falloc(N), *y = falloc(N), *r = falloc(N);
    fill(x, N, -1, 1), fill(r, N, -1, 1);
    /* hand-computed pair: b=1, l=2, head 1, pair j=1: θ = 2 / 10000^(2/4) = 0.02 */
    size_t o = ((size_t)1 * L + 2) * C + 1 * HD + 2;
    x[o] = 1.0f, x[o + 1] = 2.0f;
    nn_rope_forward(y, x, B, L, NH, HD);
    double c = cos(0.02), s = sin(0.02);
    CHECK(fabs(y[o] - (c - 2 * s)) < 1e-6 && fabs(y[o + 1] - (2 * c + s)) < 1e-6, "rope hand pair (%g, %g)", y[o],
          y[o + 1]);
    double *ref = calloc(N, sizeof(double));
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++)
            for (int h = 0; h < NH; h++)
                for (int j = 0; j < HD / 2; j++) {
                    double th = l / pow(10000.0, 2.0 * j / HD);
                    size_t p = ((size_t)b * L + l) * C + h * HD + 2 * j;
                    ref[p] = x[p] * cos(th) - x[p + 1] * sin(th);
                    ref[p + 1] = x[p + 1] * cos(th) + x[p] * sin(th);
                }
    CHECK(rel_diff(y, ref, N) < 1e-6, "rope forward %.3g", rel_diff(y, ref, N));
    float *yi = fdup(x, N);
    nn_rope_forward(yi, yi, B, L, NH, HD);
    CHECK(!memcmp(yi, y, N * sizeof(float)), "rope forward in place");
    float *dx = falloc(N);
    nn_rope_backward(dx, r, B, L, NH, HD);
    RP.x = x, RP.y = y, RP.r = r, RP.B = B, RP.L = L, RP.NH = NH, RP.HD = HD;
    report_fd("rope", fd_worst(x, N, dx, rope_f));
    float *dx2 = fdup(dx, N);
    nn_rope_backward(dx2, r, B, L, NH, HD);
    int ok = 1;
    for (size_t i = 0; i < N; i++) ok &= fabsf(dx2[i] - 2 * dx[i]) <= 1e-6f * (1 + fabsf(dx[i]));
    CHECK(ok, "rope backward accumulates");
    /* a longer table (HD 64, L 300) against the formula */
    {
        int L2 = 300, NH2 = 1, HD2 = 64;
        size_t N2 = (size_t)L2 * HD2;
        float *x2 = falloc(N2), *y2 = falloc(N2);
        double *r2 = calloc(N2, sizeof(double));
        fill(x2, N2, -1, 1);
        nn_rope_forward(y2, x2, 1, L2, NH2, HD2);
        for (int l = 0; l < L2; l++)
            for (int j = 0; j < HD2 / 2; j++) {
                double th = l / pow(10000.0, 2.0 * j / HD2);
                size_t p = (size_t)l * HD2 + 2 * j;
                r2[p] = x2[p] * cos(th) - x2[p + 1] * sin(th);
                r2[p + 1] = x2[p + 1] * cos(th) + x2[p] * sin(th);
            }
        CHECK(rel_diff(y2, r2, N2) < 2e-6, "rope forward L=300 HD=64 %.3g", rel_diff(y2, r2, N2));
        free(x2), free(y2), free(r2);
    }
    free(x), free(y), free(r), free(ref), free(yi), free(dx), free(dx2);
}

/* ------------------------------------------------------------------------ */
/* attention */

static struct {
    float *q, *k, *v, *out, *lse, *r, *scr;
    int B, L, NH, HD;
} AT;
static double att_f(void) {
    nn_attention_forward(AT.out, AT.lse, AT.q, AT.k, AT.v, AT.B, AT.L, AT.NH, AT.HD, AT.scr);
    return dot(AT.out, AT.r, (size_t)AT.B * AT.L * AT.NH * AT.HD);
}

static void test_attention(void) {
    int B = 2, L = 5, NH = 2, HD = 4, C = NH * HD;
    size_t N = (size_t)B * L * C;
    float *q = falloc(N), *k = falloc(N), *v = falloc(N), *out = falloc(N), *r = falloc(N);
    float *lse = falloc((size_t)B * NH * L), *scr = falloc(nn_attention_scratch(L));
    fill(q, N, -1.5, 1.5), fill(k, N, -1.5, 1.5), fill(v, N, -1, 1), fill(r, N, -1, 1);
    nn_attention_forward(out, lse, q, k, v, B, L, NH, HD, scr);
    double *ref = calloc(N, sizeof(double)), *rl = calloc((size_t)B * NH * L, sizeof(double));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < L; i++) {
                double sc[5], m = -1e300, s = 0;
                for (int j = 0; j < L; j++) {
                    double d = 0;
                    for (int e = 0; e < HD; e++)
                        d += (double)q[((size_t)b * L + i) * C + h * HD + e] * k[((size_t)b * L + j) * C + h * HD + e];
                    sc[j] = d / sqrt((double)HD);
                    m = fmax(m, sc[j]);
                }
                for (int j = 0; j < L; j++) s += exp(sc[j] - m);
                rl[((size_t)b * NH + h) * L + i] = m + log(s);
                for (int e = 0; e < HD; e++) {
                    double o = 0;
                    for (int j = 0; j < L; j++) o += exp(sc[j] - m) / s * v[((size_t)b * L + j) * C + h * HD + e];
                    ref[((size_t)b * L + i) * C + h * HD + e] = o;
                }
            }
    CHECK(rel_diff(out, ref, N) < 2e-6, "attention forward %.3g", rel_diff(out, ref, N));
    CHECK(rel_diff(lse, rl, (size_t)B * NH * L) < 2e-6, "attention lse %.3g", rel_diff(lse, rl, (size_t)B * NH * L));
    float *dq = falloc(N), *dk = falloc(N), *dv = falloc(N);
    nn_attention_backward(dq, dk, dv, r, q, k, v, out, lse, B, L, NH, HD, scr);
    AT.q = q, AT.k = k, AT.v = v, AT.out = out, AT.lse = lse, AT.r = r, AT.scr = scr;
    AT.B = B, AT.L = L, AT.NH = NH, AT.HD = HD;
    report_fd("attention", fd_worst(q, N, dq, att_f));
    report_fd("attention", fd_worst(k, N, dk, att_f));
    report_fd("attention", fd_worst(v, N, dv, att_f));
    nn_attention_forward(out, lse, q, k, v, B, L, NH, HD, scr);
    float *dq2 = fdup(dq, N), *dk2 = fdup(dk, N), *dv2 = fdup(dv, N);
    nn_attention_backward(dq2, dk2, dv2, r, q, k, v, out, lse, B, L, NH, HD, scr);
    int ok = 1;
    for (size_t i = 0; i < N; i++) {
        ok &= fabsf(dq2[i] - 2 * dq[i]) <= 1e-6f * (1 + fabsf(dq[i]));
        ok &= fabsf(dk2[i] - 2 * dk[i]) <= 1e-6f * (1 + fabsf(dk[i]));
        ok &= fabsf(dv2[i] - 2 * dv[i]) <= 1e-6f * (1 + fabsf(dv[i]));
    }
    CHECK(ok, "attention backward accumulates");
    /* NULL dq/dk: dv alone matches */
    float *dv3 = falloc(N);
    nn_attention_backward(NULL, NULL, dv3, r, q, k, v, out, lse, B, L, NH, HD, scr);
    CHECK(rel_diff_ff(dv3, dv, N) < 1e-6, "attention backward dv alone");
    free(q), free(k), free(v), free(out), free(r), free(lse), free(scr), free(ref), free(rl);
    free(dq), free(dk), free(dv), free(dq2), free(dk2), free(dv2), free(dv3);
}

/* ------------------------------------------------------------------------ */
/* tied output layer */

/* Naive double reference: loss, nll, dc, dW, dbias (grads added to zeroed arrays). */
static double ce_naive(double *dc, double *dW, double *db, double *nll, const float *c, const float *W, const float *bias,
                       const int32_t *y, const float *wt, int n, int E, int V) {
    double loss = 0, *lg = calloc(V, sizeof(double));
    for (int i = 0; i < n; i++) {
        double m = -1e300, s = 0;
        for (int v = 0; v < V; v++) {
            double d = bias[v];
            for (int e = 0; e < E; e++) d += (double)c[(size_t)i * E + e] * W[(size_t)v * E + e];
            lg[v] = d;
            m = fmax(m, d);
        }
        for (int v = 0; v < V; v++) s += exp(lg[v] - m);
        double lse = m + log(s);
        int ok = y[i] >= 0 && y[i] < V;
        if (nll) nll[i] = ok ? lse - lg[y[i]] : 0;
        if (wt[i] == 0 || !ok) continue;
        loss += wt[i] * (lse - lg[y[i]]);
        for (int v = 0; v < V; v++) {
            double g = wt[i] * (exp(lg[v] - lse) - (v == y[i]));
            if (db) db[v] += g;
            for (int e = 0; e < E; e++) {
                if (dc) dc[(size_t)i * E + e] += g * W[(size_t)v * E + e];
                if (dW) dW[(size_t)v * E + e] += g * c[(size_t)i * E + e];
            }
        }
    }
    free(lg);
    return loss;
}

static struct {
    float *c, *W, *bias, *wt, *scr;
    int32_t *y;
    int n, E, V;
} CE;
static double ce_f(void) {
    return nn_tied_ce(NULL, NULL, NULL, NULL, NULL, CE.c, CE.W, CE.bias, CE.y, CE.wt, CE.n, CE.E, CE.V, CE.scr);
}

/* The mixture term of nn_tied_ce_mix: FD gradient check, and the loss against
 * a direct evaluation of Σ wt·(−log p) + wi·(−log(r + (1 − r)·p)). */
static float *MX_wi, *MX_ri;
static double mix_f(void) {
    return nn_tied_ce_mix(NULL, NULL, NULL, NULL, NULL, CE.c, CE.W, CE.bias, CE.y, CE.wt, MX_wi, MX_ri, CE.n, CE.E,
                          CE.V, CE.scr);
}

static void test_tied_ce_mix(void) {
    int n = 7, E = 5, V = 9;
    float *c = falloc(n * E), *W = falloc((V + 2) * E), *bias = falloc(V + 2), *wt = falloc(n), *wi = falloc(n),
          *ri = falloc(n), *nll = falloc(n);
    int32_t y[7];
    fill(c, n * E, -1, 1), fill(W, (V + 2) * E, -1, 1), fill(bias, V + 2, -0.5, 0.5);
    for (int i = 0; i < n; i++) {
        y[i] = (int32_t)(urand() * V);
        wt[i] = i % 3 ? (float)(0.1 + urand()) : 0.0f; /* some rows: the mixture term only */
        wi[i] = i % 2 ? (float)(0.2 + urand()) : 0.0f;
        ri[i] = (float)(0.5 + 0.49 * urand());
    }
    float *scr = falloc(nn_tied_ce_scratch(V)), *dc = falloc(n * E), *dW = falloc((V + 2) * E), *db = falloc(V + 2);
    double loss = nn_tied_ce_mix(dc, dW, db, NULL, NULL, c, W, bias, y, wt, wi, ri, n, E, V, scr);
    float *one = falloc(n);
    for (int i = 0; i < n; i++) one[i] = 1.0f;
    nn_tied_ce(NULL, NULL, NULL, NULL, nll, c, W, bias, y, one, n, E, V, scr);
    double want = 0;
    for (int i = 0; i < n; i++) want += wt[i] * nll[i] - (wi[i] ? wi[i] * log(ri[i] + (1 - ri[i]) * exp(-(double)nll[i])) : 0);
    CHECK(fabs(loss - want) <= 1e-5 * fabs(want), "tied_ce_mix loss %.9g vs %.9g", loss, want);
    CE.c = c, CE.W = W, CE.bias = bias, CE.wt = wt, CE.scr = scr, CE.y = y, CE.n = n, CE.E = E, CE.V = V;
    MX_wi = wi, MX_ri = ri;
    report_fd("tied_ce_mix", fd_worst(c, n * E, dc, mix_f));
    report_fd("tied_ce_mix", fd_worst(W, V * E, dW, mix_f));
    report_fd("tied_ce_mix", fd_worst(bias, V, db, mix_f));
    free(c), free(W), free(bias), free(wt), free(wi), free(ri), free(nll), free(scr), free(dc), free(dW), free(db), free(one);
}

static void test_tied_ce_small(void) {
    int n = 9, E = 6, V = 11;
    float *c = falloc(n * E), *W = falloc((V + 2) * E), *bias = falloc(V + 2), *wt = falloc(n);
    int32_t y[9];
    fill(c, n * E, -1, 1), fill(W, (V + 2) * E, -1, 1), fill(bias, V + 2, -0.5, 0.5);
    for (int i = 0; i < n; i++) {
        y[i] = (int32_t)(urand() * V);
        wt[i] = (float)(0.2 + urand());
    }
    wt[2] = 0, y[2] = V;     /* EMPTY: weight 0, id outside the V real tokens */
    wt[5] = 0;               /* weight 0 on a real id */
    wt[7] = 0.5f, wt[8] = 3; /* non-uniform */
    float *scr = falloc(nn_tied_ce_scratch(V)), *lo = falloc(n * V), *nll = falloc(n);
    float *dc = falloc(n * E), *dW = falloc((V + 2) * E), *db = falloc(V + 2);
    double loss = nn_tied_ce(dc, dW, db, lo, nll, c, W, bias, y, wt, n, E, V, scr);
    double rnll[9], *rdc = calloc(n * E, sizeof(double)), *rdW = calloc((V + 2) * E, sizeof(double));
    double *rdb = calloc(V + 2, sizeof(double));
    double rloss = ce_naive(rdc, rdW, rdb, rnll, c, W, bias, y, wt, n, E, V);
    CHECK(fabs(loss - rloss) <= 1e-6 * fabs(rloss), "tied_ce loss %.9g vs %.9g", loss, rloss);
    CHECK(rel_diff(nll, rnll, n) < 1e-6, "tied_ce nll_out %.3g", rel_diff(nll, rnll, n));
    CHECK(nll[2] == 0.0f, "tied_ce nll_out of an EMPTY row is 0");
    /* logits and log-softmax against naive */
    {
        double *rl = calloc(n * V, sizeof(double));
        for (int i = 0; i < n; i++)
            for (int v = 0; v < V; v++) {
                double d = bias[v];
                for (int e = 0; e < E; e++) d += (double)c[i * E + e] * W[v * E + e];
                rl[i * V + v] = d;
            }
        CHECK(rel_diff(lo, rl, n * V) < 1e-6, "tied_ce logits_out %.3g", rel_diff(lo, rl, n * V));
        free(rl);
    }
    CHECK(rel_diff(dc, rdc, n * E) < 1e-5, "tied_ce dc vs naive %.3g", rel_diff(dc, rdc, n * E));
    CHECK(rel_diff(dW, rdW, (V + 2) * E) < 1e-5, "tied_ce dW vs naive %.3g", rel_diff(dW, rdW, (V + 2) * E));
    CHECK(rel_diff(db, rdb, V + 2) < 1e-5, "tied_ce dbias vs naive %.3g", rel_diff(db, rdb, V + 2));
    int untouched = 1;
    for (int e = 0; e < E; e++) untouched &= dc[2 * E + e] == 0 && dc[5 * E + e] == 0;
    for (int e = 0; e < 2 * E; e++) untouched &= dW[V * E + e] == 0;
    untouched &= db[V] == 0 && db[V + 1] == 0;
    CHECK(untouched, "tied_ce leaves wt=0 rows and the EMPTY/MASK rows of W untouched");
    /* finite differences of the loss */
    CE.c = c, CE.W = W, CE.bias = bias, CE.wt = wt, CE.scr = scr, CE.y = y, CE.n = n, CE.E = E, CE.V = V;
    report_fd("tied_ce", fd_worst(c, n * E, dc, ce_f));
    report_fd("tied_ce", fd_worst(W, V * E, dW, ce_f));
    report_fd("tied_ce", fd_worst(bias, V, db, ce_f));
    /* the compacted path (no logits_out / nll_out) gives the same */
    float *dc2 = falloc(n * E), *dW2 = falloc((V + 2) * E), *db2 = falloc(V + 2);
    double loss2 = nn_tied_ce(dc2, dW2, db2, NULL, NULL, c, W, bias, y, wt, n, E, V, scr);
    CHECK(loss2 == loss, "tied_ce loss, compacted vs all rows");
    CHECK(rel_diff_ff(dc2, dc, n * E) < 1e-6 && rel_diff_ff(dW2, dW, (V + 2) * E) < 1e-6 &&
              rel_diff_ff(db2, db, V + 2) < 1e-6,
          "tied_ce grads, compacted vs all rows");
    /* += */
    nn_tied_ce(dc2, dW2, db2, NULL, NULL, c, W, bias, y, wt, n, E, V, scr);
    int ok = 1;
    for (int i = 0; i < n * E; i++) ok &= fabsf(dc2[i] - 2 * dc[i]) <= 1e-6f * (1 + fabsf(dc[i]));
    for (int i = 0; i < V * E; i++) ok &= fabsf(dW2[i] - 2 * dW[i]) <= 1e-6f * (1 + fabsf(dW[i]));
    for (int i = 0; i < V; i++) ok &= fabsf(db2[i] - 2 * db[i]) <= 1e-6f * (1 + fabsf(db[i]));
    CHECK(ok, "tied_ce backward accumulates");
    /* all rows weight 0: loss 0, nothing touched */
    float wz[9] = {0};
    float *dcz = falloc(n * E);
    double lz = nn_tied_ce(dcz, NULL, NULL, NULL, NULL, c, W, bias, y, wz, n, E, V, scr);
    int z = lz == 0.0;
    for (int i = 0; i < n * E; i++) z &= dcz[i] == 0;
    CHECK(z, "tied_ce with every wt = 0");
    free(c), free(W), free(bias), free(wt), free(scr), free(lo), free(nll), free(dc), free(dW), free(db);
    free(rdc), free(rdW), free(rdb), free(dc2), free(dW2), free(db2), free(dcz);
}

/* Chunk boundaries: n around the 256-row chunk, every third row weight 0 (so
 * the compacted chunks straddle differently from the all-rows ones). */
static void test_tied_ce_chunks(void) {
    int E = 5, V = 7;
    int ns[] = {1, 255, 256, 257, 383, 384, 385, 600};
    float *scr = falloc(nn_tied_ce_scratch(V));
    for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
        int n = ns[t];
        float *c = falloc(n * E), *W = falloc(V * E), *bias = falloc(V), *wt = falloc(n);
        int32_t *y = calloc(n, sizeof(int32_t));
        fill(c, n * E, -1, 1), fill(W, V * E, -1, 1), fill(bias, V, -0.5, 0.5);
        for (int i = 0; i < n; i++) {
            y[i] = (int32_t)(urand() * V);
            wt[i] = i % 3 == 1 ? 0.0f : (float)(0.5 + urand());
        }
        double *rdc = calloc(n * E, sizeof(double)), *rdW = calloc(V * E, sizeof(double)), *rdb = calloc(V, sizeof(double));
        double rl = ce_naive(rdc, rdW, rdb, NULL, c, W, bias, y, wt, n, E, V);
        for (int all = 0; all < 2; all++) {
            float *dc = falloc(n * E), *dW = falloc(V * E), *db = falloc(V), *nll = falloc(n);
            double l = nn_tied_ce(dc, dW, db, NULL, all ? nll : NULL, c, W, bias, y, wt, n, E, V, scr);
            CHECK(fabs(l - rl) <= 1e-6 * fabs(rl) && rel_diff(dc, rdc, n * E) < 1e-5 && rel_diff(dW, rdW, V * E) < 1e-5 &&
                      rel_diff(db, rdb, V) < 1e-5,
                  "tied_ce n=%d (all rows %d): loss %.9g vs %.9g, dc %.3g dW %.3g db %.3g", n, all, l, rl,
                  rel_diff(dc, rdc, n * E), rel_diff(dW, rdW, V * E), rel_diff(db, rdb, V));
            free(dc), free(dW), free(db), free(nll);
        }
        free(c), free(W), free(bias), free(wt), free(y), free(rdc), free(rdW), free(rdb);
    }
    free(scr);
}

static void test_tied_softmax(void) {
    int n = 6, E = 5, V = 13;
    float *c = falloc(n * E), *W = falloc(V * E), *bias = falloc(V), *p = falloc(n * V);
    fill(c, n * E, -2, 2), fill(W, V * E, -2, 2), fill(bias, V, -1, 1);
    nn_tied_softmax(p, c, W, bias, n, E, V);
    double *ref = calloc(n * V, sizeof(double));
    double worst_sum = 0;
    for (int i = 0; i < n; i++) {
        double m = -1e300, s = 0, ps = 0;
        for (int v = 0; v < V; v++) {
            double d = bias[v];
            for (int e = 0; e < E; e++) d += (double)c[i * E + e] * W[v * E + e];
            ref[i * V + v] = d;
            m = fmax(m, d);
        }
        for (int v = 0; v < V; v++) s += exp(ref[i * V + v] - m);
        for (int v = 0; v < V; v++) ref[i * V + v] = exp(ref[i * V + v] - m) / s;
        for (int v = 0; v < V; v++) ps += p[i * V + v];
        worst_sum = fmax(worst_sum, fabs(ps - 1));
    }
    CHECK(worst_sum < 1e-6, "tied_softmax rows sum to 1 (worst %.3g)", worst_sum);
    CHECK(rel_diff(p, ref, n * V) < 1e-6, "tied_softmax vs naive %.3g", rel_diff(p, ref, n * V));
    free(c), free(W), free(bias), free(p), free(ref);
}

/* ------------------------------------------------------------------------ */
/* 1 thread vs 2 threads, at sizes where both OpenMP and OpenBLAS split */

#define NOUT 32
typedef struct {
    float *a[NOUT];
    size_t n[NOUT];
    int k;
    double loss;
} outs;
static void keep(outs *o, const float *a, size_t n) {
    o->a[o->k] = fdup(a, n);
    o->n[o->k++] = n;
}

static void run_all(outs *o) {
    rng_state = 12345;
    o->k = 0;
    { /* linear */
        int n = 300, in = 200, out = 150;
        float *x = falloc(n * in), *w = falloc(out * in), *b = falloc(out), *y = falloc(n * out);
        float *dx = falloc(n * in), *dw = falloc(out * in), *db = falloc(out);
        fill(x, n * in, -1, 1), fill(w, out * in, -1, 1), fill(b, out, -1, 1);
        nn_linear_forward(y, x, w, b, n, in, out);
        nn_linear_backward(dx, dw, db, y, x, w, n, in, out);
        keep(o, y, n * out), keep(o, dx, n * in), keep(o, dw, out * in), keep(o, db, out);
        free(x), free(w), free(b), free(y), free(dx), free(dw), free(db);
    }
    { /* layernorm + gelu + silu */
        int n = 300, d = 200;
        float *x = falloc(n * d), *g = falloc(d), *b = falloc(d), *y = falloc(n * d), *m = falloc(n), *r = falloc(n);
        float *dx = falloc(n * d), *dg = falloc(d), *db = falloc(d);
        fill(x, n * d, -2, 2), fill(g, d, 0.5, 1.5), fill(b, d, -1, 1);
        nn_layernorm_forward(y, m, r, x, g, b, n, d, 1e-12f);
        nn_layernorm_backward(dx, dg, db, x, x, m, r, g, n, d);
        keep(o, y, n * d), keep(o, dx, n * d), keep(o, dg, d), keep(o, db, d);
        nn_gelu_forward(y, x, n * d);
        nn_gelu_backward(dx, y, x, n * d);
        nn_silu_forward(y, dx, n * d);
        nn_silu_backward(dx, y, x, n * d);
        keep(o, dx, n * d);
        free(x), free(g), free(b), free(y), free(m), free(r), free(dx), free(dg), free(db);
    }
    { /* rope + attention */
        int B = 2, L = 130, NH = 2, HD = 32;
        size_t N = (size_t)B * L * NH * HD;
        float *q = falloc(N), *k = falloc(N), *v = falloc(N), *out = falloc(N), *lse = falloc(B * NH * L);
        float *dq = falloc(N), *dk = falloc(N), *dv = falloc(N), *scr = falloc(nn_attention_scratch(L));
        fill(q, N, -1, 1), fill(k, N, -1, 1), fill(v, N, -1, 1);
        nn_rope_forward(q, q, B, L, NH, HD);
        nn_attention_forward(out, lse, q, k, v, B, L, NH, HD, scr);
        nn_attention_backward(dq, dk, dv, v, q, k, v, out, lse, B, L, NH, HD, scr);
        nn_rope_backward(dk, dq, B, L, NH, HD);
        keep(o, out, N), keep(o, lse, B * NH * L), keep(o, dq, N), keep(o, dk, N), keep(o, dv, N);
        free(q), free(k), free(v), free(out), free(lse), free(dq), free(dk), free(dv), free(scr);
    }
    { /* tied ce */
        int n = 600, E = 32, V = 500;
        float *c = falloc(n * E), *W = falloc(V * E), *bias = falloc(V), *wt = falloc(n), *scr = falloc(nn_tied_ce_scratch(V));
        float *dc = falloc(n * E), *dW = falloc(V * E), *db = falloc(V);
        int32_t *y = calloc(n, sizeof(int32_t));
        fill(c, n * E, -1, 1), fill(W, V * E, -1, 1), fill(bias, V, -1, 1);
        for (int i = 0; i < n; i++) y[i] = (int32_t)(urand() * V), wt[i] = i % 4 ? 1.0f : 0.0f;
        o->loss = nn_tied_ce(dc, dW, db, NULL, NULL, c, W, bias, y, wt, n, E, V, scr);
        keep(o, dc, n * E), keep(o, dW, V * E), keep(o, db, V);
        free(c), free(W), free(bias), free(wt), free(scr), free(dc), free(dW), free(db), free(y);
    }
}

static void test_threads(void) {
    outs o1, o2;
    nn_set_threads(1);
    run_all(&o1);
    nn_set_threads(2);
    run_all(&o2);
    double worst = 0;
    for (int i = 0; i < o1.k; i++) {
        double s = 1e-30, m = 0;
        for (size_t j = 0; j < o1.n[i]; j++) {
            s = fmax(s, fabs(o1.a[i][j]));
            m = fmax(m, fabs((double)o1.a[i][j] - o2.a[i][j]));
        }
        worst = fmax(worst, m / s);
        CHECK(m / s <= 1e-6, "1 vs 2 threads, output %d: %.3g", i, m / s);
        free(o1.a[i]), free(o2.a[i]);
    }
    CHECK(fabs(o1.loss - o2.loss) <= 1e-6 * fabs(o1.loss), "1 vs 2 threads, tied_ce loss");
    fprintf(stderr, "1 vs 2 threads: worst relative difference %.3g\n", worst);
}

/* ------------------------------------------------------------------------ */
/* bags of embeddings (token features) */

static struct {
    float *base, *table, *y, *r;
    const int32_t *off, *idx;
    int n, E;
} BAG;
static double bag_f(void) {
    nn_bag_forward(BAG.y, BAG.base, BAG.table, BAG.off, BAG.idx, BAG.n, BAG.E);
    return dot(BAG.y, BAG.r, (size_t)BAG.n * BAG.E);
}

static void test_bag(void) {
    /* 6 bags over a 5-row table: empty bags (rows 1, 5), a shared row (2), a repeated one */
    enum { n = 6, P = 5, E = 3 };
    const int32_t off[n + 1] = {0, 2, 2, 5, 6, 8, 8}, idx[8] = {0, 2, 1, 2, 4, 2, 3, 3};
    float *base = falloc(n * E), *table = falloc(P * E), *y = falloc(n * E), *r = falloc(n * E);
    fill(base, n * E, -1, 1), fill(table, P * E, -1, 1), fill(r, n * E, -1, 1);
    double ref[n * E];
    for (int i = 0; i < n; i++)
        for (int e = 0; e < E; e++) {
            double s = base[i * E + e];
            for (int j = off[i]; j < off[i + 1]; j++) s += table[idx[j] * E + e];
            ref[i * E + e] = s;
        }
    nn_bag_forward(y, base, table, off, idx, n, E);
    CHECK(rel_diff(y, ref, n * E) < 1e-6, "bag forward %.3g", rel_diff(y, ref, n * E));
    float *dbase = falloc(n * E), *dtable = falloc(P * E);
    nn_bag_backward(dbase, dtable, r, off, idx, n, E);
    BAG.base = base, BAG.table = table, BAG.y = y, BAG.r = r, BAG.off = off, BAG.idx = idx, BAG.n = n, BAG.E = E;
    report_fd("bag", fd_worst(base, n * E, dbase, bag_f));
    report_fd("bag", fd_worst(table, P * E, dtable, bag_f));
    /* row 0 is used once, row 2 three times, row 3 twice (repeated in one bag), row 4 once */
    int ok = 1;
    for (int e = 0; e < E; e++) {
        ok &= fabsf(dtable[2 * E + e] - (r[0 * E + e] + r[2 * E + e] + r[3 * E + e])) < 1e-6f;
        ok &= fabsf(dtable[3 * E + e] - 2 * r[4 * E + e]) < 1e-6f;
    }
    CHECK(ok, "bag backward scatters shared and repeated rows");
    /* += and NULL gradients */
    nn_bag_backward(NULL, dtable, r, off, idx, n, E);
    nn_bag_backward(dbase, NULL, r, off, idx, n, E);
    ok = 1;
    for (int i = 0; i < n * E; i++) ok &= fabsf(dbase[i] - 2 * r[i]) < 1e-6f;
    for (int e = 0; e < E; e++) ok &= fabsf(dtable[e] - 2 * (r[e])) < 1e-6f;
    CHECK(ok, "bag backward accumulates, skips NULL");
    free(base), free(table), free(y), free(r), free(dbase), free(dtable);

    /* a vocabulary-sized table (the threaded path): forward equals the serial sum */
    enum { N2 = 3000, P2 = 280, E2 = 16 };
    int32_t *off2 = malloc((N2 + 1) * sizeof *off2), *idx2 = malloc((size_t)N2 * 4 * sizeof *idx2);
    off2[0] = 0;
    for (int i = 0; i < N2; i++) {
        int k = (int)(urand() * 5);
        for (int j = 0; j < k; j++) idx2[off2[i] + j] = (int32_t)(urand() * P2);
        off2[i + 1] = off2[i] + k;
    }
    float *b2 = falloc((size_t)N2 * E2), *t2 = falloc((size_t)P2 * E2), *y2 = falloc((size_t)N2 * E2);
    fill(b2, (size_t)N2 * E2, -1, 1), fill(t2, (size_t)P2 * E2, -1, 1);
    nn_bag_forward(y2, b2, t2, off2, idx2, N2, E2);
    double worst = 0;
    for (int i = 0; i < N2; i++)
        for (int e = 0; e < E2; e++) {
            float s = b2[(size_t)i * E2 + e];
            for (int j = off2[i]; j < off2[i + 1]; j++) s += t2[(size_t)idx2[j] * E2 + e];
            worst = fmax(worst, fabs((double)s - y2[(size_t)i * E2 + e]));
        }
    CHECK(worst == 0, "bag forward, %d rows threaded: same sums (%.3g)", N2, worst);
    free(off2), free(idx2), free(b2), free(t2), free(y2);
}

int main(void) {
    nn_set_threads(0);
    test_bag();
    test_linear();
    test_layernorm();
    test_elementwise();
    test_softmax();
    test_rope();
    test_attention();
    test_tied_ce_small();
    test_tied_ce_mix();
    test_tied_ce_chunks();
    test_tied_softmax();
    test_threads();
    for (int k = 0; k < n_worst; k++) fprintf(stderr, "FD worst %-10s %.3g\n", worst_name[k], worst_of[k]);
    return test_done("test_nn");
}
