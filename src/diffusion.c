/*
 * diffusion.c — absorbing-state discrete diffusion (VQ-Diffusion form, the
 * uniform share taken as 0): schedule, corruption, loss weights, importance
 * sampling of timesteps and the sampler of DESIGN.md §2.3.
 */
#include "diffusion.h"

#include "nn.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* One cell's token from its logits over the allowed tokens z (D of them:
 * the row's range, then <pad> last), by inverse-CDF sampling with one
 * uniform: the same distribution as Gumbel-argmax over softmax(z/T)
 * restricted to the k largest (top_k), at a fraction of the cost (no log or
 * random number per token). conf: the most likely token's probability at
 * T = 1 within the allowed tokens (what the unmasking order ranks). Returns
 * the index into z. */
static int sample_logits(const float *z, int D, float temperature, int top_k, uint64_t *rng, float *conf,
                         float *w) {
    float mx = z[0];
    for (int i = 1; i < D; i++) mx = z[i] > mx ? z[i] : mx;
    float s1 = 0;
    for (int i = 0; i < D; i++) s1 += w[i] = expf(z[i] - mx); /* T = 1 weights */
    *conf = 1.0f / s1;
    /* top-k threshold: the k-th largest logit (ties all kept) */
    float thresh = -INFINITY;
    if (top_k > 0 && top_k < D) {
        float prev = INFINITY;
        int taken = 0;
        while (taken < top_k) {
            float m2 = -INFINITY;
            for (int i = 0; i < D; i++)
                if (z[i] < prev && z[i] > m2) m2 = z[i];
            if (m2 == -INFINITY) break;
            for (int i = 0; i < D; i++) taken += z[i] == m2;
            prev = thresh = m2;
        }
    }
    double sum = 0;
    if (temperature != 1.0f || thresh > -INFINITY) {
        const float invT = 1.0f / temperature;
        for (int i = 0; i < D; i++) w[i] = z[i] >= thresh ? expf((z[i] - mx) * invT) : 0.0f;
    }
    for (int i = 0; i < D; i++) sum += w[i];
    double u = gd_rng_uniform(rng) * sum;
    int last = 0;
    for (int i = 0; i < D; i++) {
        if (w[i] <= 0) continue;
        last = i;
        if (u < w[i]) return i;
        u -= w[i];
    }
    return last; /* rounding left u at the very end */
}

/* Logits of n cells (n, E) over the tokens [lo, hi) and <pad> into
 * z (n, hi − lo + 1): the tied output layer restricted to what the row may
 * take, which is all the sampler needs (a duration row needs 16 of V). */
static void row_logits(float *z, const float *rows, const float *word, const float *bias, int n, int E, int lo,
                       int hi, int pad) {
    const int nr = hi - lo, D = nr + 1;
    if (nr > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, nr, E, 1.0f, rows, E, word + (size_t)lo * E, E, 0.0f,
                    z, D);
    for (int j = 0; j < n; j++) {
        const float *x = rows + (size_t)j * E;
        float *zj = z + (size_t)j * D;
        for (int v = 0; v < nr; v++) zj[v] += bias[lo + v];
        float d = bias[pad];
        for (int e = 0; e < E; e++) d += x[e] * word[(size_t)pad * E + e];
        zj[nr] = d;
    }
}

/* Timestep of denoising step i of S (T−1 down to 0, evenly). */
static int step_t(int i, int S, int T) { return S == 1 ? 0 : (int)lround((double)(T - 1) * (S - 1 - i) / (S - 1)); }

int gd_sample(gd_model *m, int32_t *x, const uint8_t *cond, const uint8_t *pos, int L, const int *lo, const int *hi,
              int pad, const gd_sample_params *sp, char *err) {
    const gd_config *c = gd_model_config(m);
    const int R = c->R, V = c->V, T = c->T, E = c->E, MASK = V + 1;
    gd_sample_params p = sp ? *sp : gd_sample_default_params();
    if (p.steps < 1 || p.steps > T) return gm_fail(err, "steps must be in 1..%d", T);
    if (!(p.temperature > 0)) return gm_fail(err, "temperature must be positive");
    if (p.top_k < 0) return gm_fail(err, "top-k must not be negative");
    if (pad < 0 || pad >= V) return gm_fail(err, "pad token outside the vocabulary");
    if (R < 1) return gm_fail(err, "the model has no rows");
    if (L < 1 || L > c->max_cols) return gm_fail(err, "%d columns is outside 1..%d", L, c->max_cols);
    if (p.guidance < 0 || !isfinite(p.guidance)) return gm_fail(err, "guidance must be a number >= 0");
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
    if (p.guidance > 0 && p.guide_rows)
        for (int r = 0; r < R; r++) guided |= p.guide_rows[r] != 0;
    const int B = guided ? 2 : 1; /* batch 1: the same grid with the guide rows blanked */
    float *rows = malloc((size_t)chunk * E * sizeof *rows);          /* (chunk, E) gathered cells */
    float *probs = malloc((size_t)chunk * (V + 1) * sizeof *probs);  /* (chunk, ≤ V+1) logits of allowed tokens */
    float *probs_u = guided ? malloc((size_t)chunk * (V + 1) * sizeof *probs_u) : NULL; /* the same, unguided */
    float *wbuf = malloc((size_t)(V + 1) * sizeof *wbuf);            /* (≤ V+1) sampling weights of one cell */
    uint8_t *flags = malloc((size_t)B * n_cells);              /* (B, R, L) condition flags */
    int32_t *xb = guided ? malloc((size_t)B * n_cells * sizeof *xb) : NULL; /* (B, R, L) network input */
    uint8_t *posb = pos ? malloc((size_t)B * L) : NULL;        /* (B, L) bar positions, the same per sample */
    int rc = -1;
    if (!n_row || !left_row || !cells || !tok || !conf || !order || !rows || !probs || !flags || !wbuf ||
        (guided && (!probs_u || !xb)) || (pos && !posb)) {
        gm_fail(err, "out of memory for sampling");
        goto out;
    }
    for (size_t i = 0; i < n_cells; i++) {
        flags[i] = cond[i] ? 1 : 0;
        if (x[i] == MASK && !cond[i]) n_row[i / L]++;
    }
    if (guided)
        for (size_t i = 0; i < n_cells; i++) flags[n_cells + i] = p.guide_rows[i / L] ? 0 : flags[i];
    for (int b = 0; pos && b < B; b++) memcpy(posb + (size_t)b * L, pos, (size_t)L);
    memcpy(left_row, n_row, (size_t)R * sizeof *left_row);
    uint64_t rng = p.seed ? p.seed : 1;
    const int S = p.steps;
    for (int i = 0; i < S; i++) {
        if (p.cancel && *p.cancel) { /* checked per step: a step is the unit of work */
            gm_fail(err, "cancelled");
            goto out;
        }
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
        if (gd_forward(m, guided ? xb : x, flags, posb, tb, B, L, 0, err)) goto out;
        /* x̂0 for the masked cells only, a row at a time (cells are in row-major
         * order, and a row's cells share their allowed tokens); the model's
         * cells are (B, L, R, E). */
        const float *cellv = gd_model_cells(m);
        const gd_params *pp = gd_model_p(m);
        const float *table = gd_model_tok(m); /* the tied output layer: word, plus token features (MODEL.md) */
        for (int a = 0; a < n_masked;) {
            const int r = cells[a] / L;
            int n = 0;
            while (a + n < n_masked && n < chunk && cells[a + n] / L == r) n++;
            const int D = hi[r] - lo[r] + 1;
            for (int j = 0; j < n; j++) {
                int l = cells[a + j] % L;
                memcpy(rows + (size_t)j * E, cellv + ((size_t)l * R + r) * E, (size_t)E * sizeof(float));
            }
            row_logits(probs, rows, table, pp->lm_b, n, E, lo[r], hi[r], pad);
            if (guided) { /* the same cells of batch 1; log p's normalisers cancel in the softmax */
                for (int j = 0; j < n; j++) {
                    int l = cells[a + j] % L;
                    memcpy(rows + (size_t)j * E, cellv + n_cells * E + ((size_t)l * R + r) * E, (size_t)E * sizeof(float));
                }
                row_logits(probs_u, rows, table, pp->lm_b, n, E, lo[r], hi[r], pad);
                const float g = p.guidance;
                for (size_t q = 0; q < (size_t)n * D; q++) probs[q] = (1.0f + g) * probs[q] - g * probs_u[q];
            }
            for (int j = 0; j < n; j++) {
                int k = sample_logits(probs + (size_t)j * D, D, p.temperature, p.top_k, &rng, &conf[a + j], wbuf);
                tok[a + j] = k == D - 1 ? pad : lo[r] + k;
            }
            a += n;
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
    free(wbuf);
    free(xb);
    free(posb);
    free(flags);
    return rc;
}
