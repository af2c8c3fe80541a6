/*
 * diffusion.c — absorbing-state discrete diffusion (VQ-Diffusion form, the
 * uniform share taken as 0): schedule, corruption, loss weights, importance
 * sampling of timesteps and the sampler of DESIGN.md §2.3.
 */
#include "diffusion.h"

#include "nn.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================== */
/* Random numbers (splitmix64: tiny, seedable, good enough for sampling)      */
/* ======================================================================== */

uint64_t gd_rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
double gd_rng_uniform(uint64_t *s) { return (double)(gd_rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

/* ======================================================================== */
/* Schedule                                                                  */
/* ======================================================================== */

void gd_schedule_init(gd_schedule *s, int T) {
    if (T > GD_MAX_T) T = GD_MAX_T;
    if (T < 2) T = 2;
    s->T = T;
    for (int t = 0; t < T; t++) {
        s->att[t] = 0.99999 + t * (0.000009 - 0.99999) / (T - 1);
        s->ctt[t] = 0.000009 + t * (0.99999 - 0.000009) / (T - 1);
    }
}

double gd_schedule_a(const gd_schedule *s, int t) { return t == 0 ? 1.0 : 1.0 - s->ctt[t - 1] / s->ctt[t]; }

void gd_corrupt(int32_t *xt, const int32_t *x0, const uint8_t *cond, const int32_t *t, int B, int R, int L, int V,
                const gd_schedule *s, uint64_t *rng) {
    for (int b = 0; b < B; b++)
        for (size_t i = (size_t)b * R * L; i < (size_t)(b + 1) * R * L; i++) {
            int target = !cond[i] && x0[i] != V;
            xt[i] = target && gd_rng_uniform(rng) < s->ctt[t[b]] ? V + 1 : x0[i];
        }
}

void gd_loss_weights(int32_t *y, float *wt, float *wi, float *ri, const int32_t *x0, const int32_t *xt,
                     const uint8_t *cond, const int32_t *t, const float *pt, int B, int R, int L, int V,
                     const gd_schedule *s) {
    const int T = s->T;
    for (int b = 0; b < B; b++) {
        int tb = t[b];
        double a = gd_schedule_a(s, tb);
        double r = tb > 0 ? s->att[tb] / s->att[tb - 1] : 1.0;
        double aux = 0.001 * (2.0 - (double)tb / T);
        size_t n_b = 0;
        for (size_t i = (size_t)b * R * L; i < (size_t)(b + 1) * R * L; i++) n_b += x0[i] != V;
        double norm = n_b && pt[b] > 0 ? 1.0 / ((double)n_b * pt[b]) : 0.0;
        for (int l = 0; l < L; l++)
            for (int rr = 0; rr < R; rr++) {
                size_t i = ((size_t)b * R + rr) * L + l; /* (B, R, L) */
                size_t o = ((size_t)b * L + l) * R + rr; /* (B, L, R) */
                int empty = x0[i] == V;
                double w = empty ? 0.0 : cond[i] ? 0.5 : 1.0;
                int masked = xt[i] == V + 1;
                double main_w = tb == 0 ? 1.0 : masked ? a : 0.0;
                wt[o] = (float)(w * (main_w + aux) * norm);
                wi[o] = tb > 0 && !masked ? (float)(w * norm) : 0.0f;
                ri[o] = (float)r;
                y[o] = empty ? 0 : x0[i];
            }
    }
}

void gd_sample_losses(double *out, const float *nll, const float *wt, const float *wi, const float *ri, int B, int R,
                      int L) {
    for (int b = 0; b < B; b++) {
        double sum = 0;
        for (size_t o = (size_t)b * L * R; o < (size_t)(b + 1) * L * R; o++) {
            sum += (double)wt[o] * nll[o];
            if (wi[o] > 0) sum -= (double)wi[o] * log(ri[o] + (1.0 - ri[o]) * exp(-(double)nll[o]));
        }
        out[b] = sum;
    }
}

/* ======================================================================== */
/* Importance sampling of t                                                   */
/* ======================================================================== */

void gd_tsampler_init(gd_tsampler *ts, int T) {
    memset(ts, 0, sizeof *ts);
    ts->T = T > GD_MAX_T ? GD_MAX_T : T;
}

int gd_tsampler_draw(const gd_tsampler *ts, uint64_t *rng, float *pt) {
    const int T = ts->T;
    int warm = 1;
    for (int t = 0; t < T; t++) /* as the original: every t seen more than 10 times */
        if (ts->count[t] <= 10) warm = 0;
    if (!warm) {
        *pt = 1.0f / T;
        return (int)(gd_rng_uniform(rng) * T) % T;
    }
    double w[GD_MAX_T] = {0}, sum = 0;
    for (int t = 0; t < T; t++) w[t] = sqrt(ts->Lt2[t] + 1e-10) + 1e-4;
    if (T > 1) w[0] = w[1];
    for (int t = 0; t < T; t++) sum += w[t];
    double u = gd_rng_uniform(rng) * sum;
    int t = 0;
    for (; t < T - 1; t++) {
        if (u < w[t]) break;
        u -= w[t];
    }
    *pt = (float)(w[t] / sum);
    return t;
}

void gd_tsampler_update(gd_tsampler *ts, int t, double loss) {
    if (t < 0 || t >= ts->T) return;
    double l2 = loss * loss;
    ts->Lt2[t] = (float)(0.9 * ts->Lt2[t] + 0.1 * l2); /* from 0, as the original */
    ts->count[t]++;
}

/* ======================================================================== */
/* Sampler                                                                   */
/* ======================================================================== */

gd_sample_params gd_sample_default_params(void) {
    gd_sample_params p = {0};
    p.steps = 100;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.seed = 1;
    return p;
}

typedef struct { float key; int idx; } keyed;
static int cmp_keyed_desc(const void *a, const void *b) {
    float x = ((const keyed *)a)->key, y = ((const keyed *)b)->key;
    return x > y ? -1 : x < y ? 1 : ((const keyed *)a)->idx - ((const keyed *)b)->idx;
}

/* Gumbel-argmax over the allowed tokens of one cell: the most likely ones
 * only (top_k), with temperature. probs: (V) model distribution. */
static int sample_cell(const float *probs, int lo, int hi, int pad, float temperature, int top_k, uint64_t *rng,
                       float *conf) {
    int best = pad;
    double best_score = -INFINITY, top = probs[pad];
    /* top-k threshold: the k-th largest allowed probability */
    float thresh = 0.0f;
    if (top_k > 0 && top_k < hi - lo + 1) {
        /* partial selection by repeated max over a small k; k is small in practice */
        float prev = INFINITY;
        int taken = 0;
        while (taken < top_k) {
            float mx = -1.0f;
            int cnt = 0;
            for (int v = lo; v <= hi; v++) {
                float pv = v == hi ? probs[pad] : probs[v];
                if (pv < prev && pv > mx) mx = pv;
            }
            if (mx < 0) break;
            for (int v = lo; v <= hi; v++) cnt += (v == hi ? probs[pad] : probs[v]) == mx;
            taken += cnt;
            prev = mx;
            thresh = mx;
        }
    }
    for (int v = lo; v <= hi; v++) { /* v == hi stands for <pad> */
        int tok = v == hi ? pad : v;
        double pv = probs[tok];
        if (pv > top) top = pv;
        if (pv <= 0 || pv < thresh) continue;
        double u = gd_rng_uniform(rng);
        if (u < 1e-300) u = 1e-300;
        double g = -log(-log(u));
        double score = log(pv) / temperature + g;
        if (score > best_score) { best_score = score; best = tok; }
    }
    if (conf) *conf = (float)top;
    return best;
}

/* Classifier-free guidance: pc ← softmax((1+g)·log pc − g·log pu) per row.
 * pc, pu: (n, V). Probabilities that underflowed to 0 stay 0. */
static void guide_probs(float *pc, const float *pu, int n, int V, float g) {
    for (int j = 0; j < n; j++) {
        float *c = pc + (size_t)j * V;
        const float *u = pu + (size_t)j * V;
        double mx = -INFINITY;
        for (int v = 0; v < V; v++) {
            double lp = c[v] > 0 && u[v] > 0 ? (1.0 + g) * log(c[v]) - g * log(u[v]) : -INFINITY;
            c[v] = (float)lp;
            if (lp > mx) mx = lp;
        }
        double sum = 0;
        for (int v = 0; v < V; v++) sum += c[v] = (float)exp(c[v] - mx);
        for (int v = 0; v < V; v++) c[v] = (float)(c[v] / sum);
    }
}

/* Timestep of denoising step i of S (T−1 down to 0, evenly). */
static int step_t(int i, int S, int T) { return S == 1 ? 0 : (int)lround((double)(T - 1) * (S - 1 - i) / (S - 1)); }

int gd_sample(gd_model *m, int32_t *x, const uint8_t *cond, int L, const int *lo, const int *hi, int pad,
              const gd_sample_params *sp, char *err) {
    const gd_config *c = gd_model_config(m);
    const int R = c->R, V = c->V, T = c->T, E = c->E, MASK = V + 1;
    gd_sample_params p = sp ? *sp : gd_sample_default_params();
    if (p.steps < 1 || p.steps > T) return gm_fail(err, "steps must be in 1..%d", T);
    if (!(p.temperature > 0)) return gm_fail(err, "temperature must be positive");
    if (p.top_k < 0) return gm_fail(err, "top-k must not be negative");
    if (pad < 0 || pad >= V) return gm_fail(err, "pad token outside the vocabulary");
    if (L < 1 || L > c->max_cols) return gm_fail(err, "%d columns is outside 1..%d", L, c->max_cols);
    for (int r = 0; r < R; r++)
        if (lo[r] < 0 || hi[r] > V || lo[r] > hi[r]) return gm_fail(err, "row %d: bad token range", r);
    size_t n_cells = (size_t)R * L;
    int *n_row = calloc((size_t)R, sizeof *n_row);         /* [R] cells to generate per row */
    int *left_row = calloc((size_t)R, sizeof *left_row);   /* [R] still masked */
    int *cells = malloc(n_cells * sizeof *cells);          /* [n_masked] masked cell indices (r·L + l) */
    int32_t *tok = malloc(n_cells * sizeof *tok);          /* [n_masked] sampled token per masked cell */
    float *conf = malloc(n_cells * sizeof *conf);          /* [n_masked] confidence per masked cell */
    keyed *order = malloc(n_cells * sizeof *order);        /* [n_masked] */
    const int chunk = 256;
    int guided = 0;
    if (p.guidance < 0 || !isfinite(p.guidance)) return gm_fail(err, "guidance must be a number >= 0");
    if (p.guidance > 0 && p.guide_rows)
        for (int r = 0; r < R; r++) guided |= p.guide_rows[r] != 0;
    const int B = guided ? 2 : 1; /* batch 1: the same grid with the guide rows blanked */
    float *rows = malloc((size_t)chunk * E * sizeof *rows); /* (chunk, E) gathered cells */
    float *probs = malloc((size_t)chunk * V * sizeof *probs); /* (chunk, V) */
    float *probs_u = guided ? malloc((size_t)chunk * V * sizeof *probs_u) : NULL; /* (chunk, V) unguided */
    uint8_t *flags = malloc((size_t)B * n_cells);              /* (B, R, L) condition flags */
    int32_t *xb = guided ? malloc((size_t)B * n_cells * sizeof *xb) : NULL; /* (B, R, L) network input */
    int rc = -1;
    if (!n_row || !left_row || !cells || !tok || !conf || !order || !rows || !probs || !flags ||
        (guided && (!probs_u || !xb))) {
        gm_fail(err, "out of memory for sampling");
        goto out;
    }
    for (size_t i = 0; i < n_cells; i++) {
        flags[i] = cond[i] ? 1 : 0;
        if (x[i] == MASK && !cond[i]) n_row[i / L]++;
    }
    if (guided)
        for (size_t i = 0; i < n_cells; i++) flags[n_cells + i] = p.guide_rows[i / L] ? 0 : flags[i];
    memcpy(left_row, n_row, (size_t)R * sizeof *left_row);
    uint64_t rng = p.seed ? p.seed : 1;
    const int S = p.steps;
    for (int i = 0; i < S; i++) {
        int t = step_t(i, S, T);
        int n_masked = 0;
        for (size_t k = 0; k < n_cells; k++)
            if (x[k] == MASK && !cond[k]) cells[n_masked++] = (int)k;
        if (!n_masked) break;
        const int32_t tb[2] = {t, t};
        if (guided) {
            memcpy(xb, x, n_cells * sizeof *xb);
            for (size_t k = 0; k < n_cells; k++) xb[n_cells + k] = p.guide_rows[k / L] ? V : x[k];
        }
        if (gd_forward(m, guided ? xb : x, flags, tb, B, L, 0, err)) goto out;
        /* x̂0 for the masked cells only, in chunks: the model's cells are (L, R, E). */
        const float *cellv = gd_model_cells(m);
        const gd_params *pp = gd_model_p(m);
        for (int a = 0; a < n_masked; a += chunk) {
            int n = n_masked - a < chunk ? n_masked - a : chunk;
            for (int j = 0; j < n; j++) {
                int k = cells[a + j], r = k / L, l = k % L;
                memcpy(rows + (size_t)j * E, cellv + ((size_t)l * R + r) * E, (size_t)E * sizeof(float));
            }
            nn_tied_softmax(probs, rows, pp->word, pp->lm_b, n, E, V);
            if (guided) { /* the same cells of batch 1 (L, R, E after the first L·R cells) */
                for (int j = 0; j < n; j++) {
                    int k = cells[a + j], r = k / L, l = k % L;
                    memcpy(rows + (size_t)j * E, cellv + n_cells * E + ((size_t)l * R + r) * E, (size_t)E * sizeof(float));
                }
                nn_tied_softmax(probs_u, rows, pp->word, pp->lm_b, n, E, V);
                guide_probs(probs, probs_u, n, V, p.guidance);
            }
            for (int j = 0; j < n; j++) {
                int k = cells[a + j], r = k / L;
                tok[a + j] = sample_cell(probs + (size_t)j * V, lo[r], hi[r], pad, p.temperature, p.top_k, &rng, &conf[a + j]);
            }
        }
        if (i == S - 1) { /* t = 0: everything left */
            for (int j = 0; j < n_masked; j++) x[cells[j]] = tok[j];
            break;
        }
        /* Row r keeps n_r − floor(n_r·(i+1)/(S−1)) cells masked after this step; the
         * ones to reveal are drawn ∝ softmax(confidence) (Gumbel top-k). */
        for (int r = 0; r < R; r++) {
            int keep = n_row[r] - (int)((long long)n_row[r] * (i + 1) / (S - 1));
            int k = left_row[r] - keep;
            if (k <= 0) continue;
            int n = 0;
            for (int j = 0; j < n_masked; j++)
                if (cells[j] / L == r) {
                    double u = gd_rng_uniform(&rng);
                    if (u < 1e-300) u = 1e-300;
                    order[n].key = (float)(conf[j] - log(-log(u)));
                    order[n].idx = j;
                    n++;
                }
            qsort(order, (size_t)n, sizeof *order, cmp_keyed_desc);
            if (k > n) k = n;
            for (int j = 0; j < k; j++) x[cells[order[j].idx]] = tok[order[j].idx];
            left_row[r] -= k;
        }
        if (p.progress) p.progress(p.user_data, i + 1, S);
    }
    if (p.progress) p.progress(p.user_data, S, S);
    rc = 0;
out:
    free(n_row);
    free(left_row);
    free(cells);
    free(tok);
    free(conf);
    free(order);
    free(rows);
    free(probs);
    free(probs_u);
    free(xb);
    free(flags);
    return rc;
}
