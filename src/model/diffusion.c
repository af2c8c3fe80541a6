/*
 * diffusion.c — absorbing-state discrete diffusion (VQ-Diffusion form, the
 * uniform share taken as 0): schedule, corruption, loss weights, importance
 * sampling of timesteps and the sampler (docs/GETMUSIC.md "The diffusion";
 * our choices: docs/MODEL.md).
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
    return (gd_sample_params){.steps = 100, .temperature = 1.0f, .top_k = 0, .seed = 1};
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

/* The two-stage draw of a row with a pad temperature (gd_sample_params): <pad>
 * (the last of the D allowed tokens) or not, from the odds of the T = 1
 * weights sharpened by pad_temperature, then one of the others as
 * sample_logits draws (top-k among them). conf as sample_logits's. */
static int sample_two_stage(const float *z, int D, float temperature, float pad_temperature, int top_k, uint64_t *rng,
                            float *conf, float *w) {
    if (D < 2) return sample_logits(z, D, temperature, top_k, rng, conf, w);
    float mx = z[0];
    for (int i = 1; i < D; i++) mx = z[i] > mx ? z[i] : mx;
    double s_hit = 0, s_pad = exp((double)(z[D - 1] - mx)), top = 0;
    for (int i = 0; i < D - 1; i++) {
        double e = exp((double)(z[i] - mx));
        s_hit += e;
        top = e > top ? e : top;
    }
    *conf = (float)((top > s_pad ? top : s_pad) / (s_hit + s_pad));
    /* odds of <pad> against "any other token", each sharpened as a single outcome */
    double lp = log(s_pad) / pad_temperature, lh = log(s_hit) / pad_temperature, m = lp > lh ? lp : lh;
    double p_pad = exp(lp - m) / (exp(lp - m) + exp(lh - m));
    if (gd_rng_uniform(rng) < p_pad) return D - 1;
    float unused;
    return sample_logits(z, D - 1, temperature, top_k, rng, &unused, w);
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

/* One sampling run's state: the model, the request, and the buffers every
 * step reuses (allocated once, freed by sampler_free). */
typedef struct {
    gd_model *m;
    gd_sample_params p;
    const uint8_t *cond; /* (R, L) 1 = kept as given */
    const int *lo, *hi;  /* [R] each row's allowed tokens [lo, hi) */
    int R, V, E, L, pad, MASK;
    int chord_b;         /* the batch of the chord pass (guide rows blanked), 0 = off */
    int style_b;         /* the batch of the style pass (pos_unguided), 0 = off */
    int B;               /* batch: 1 + the passes on */
    size_t n_cells;      /* R·L */
    int *n_row;          /* [R] cells to generate per row */
    int *left_row;       /* [R] still masked */
    int *cells;          /* [n_masked] masked cell indices (r·L + l) */
    int32_t *tok;        /* [n_masked] sampled token per masked cell */
    float *conf;         /* [n_masked] confidence per masked cell */
    keyed *order;        /* [n_masked] */
    float *rows;         /* (chunk, E) gathered cells */
    float *probs;        /* (chunk, ≤ V+1) logits of allowed tokens */
    float *probs_u;      /* (chunk, ≤ V+1) the same, of an unguided pass; NULL unless B > 1 */
    float *wbuf;         /* (≤ V+1) sampling weights of one cell */
    uint8_t *flags;      /* (B, R, L) condition flags */
    int32_t *xb;         /* (B, R, L) network input; NULL when B = 1 (then x itself is the input) */
    uint8_t *posb;       /* (B, L) bar positions, the same per sample; NULL without positions */
    uint64_t rng;
} sampler;

enum { SAMPLE_CHUNK = 256 }; /* cells gathered per row_logits call */

/* Row r's weight in the chord pass and in the style pass. */
static float chord_weight(const gd_sample_params *p, int r) { return p->row_guidance ? p->row_guidance[r] : p->guidance; }
static float style_weight(const gd_sample_params *p, int r) { return p->style_guidance ? p->style_guidance[r] : 0.0f; }

/* The request's checks, in the order callers' messages were written for. */
static int sampler_check(const gd_config *c, const gd_sample_params *p, int L, const int *lo, const int *hi, int pad,
                         char *err) {
    const int R = c->R, V = c->V, T = c->T;
    if (p->steps < 1 || p->steps > T) return gm_fail(err, "steps must be in 1..%d", T);
    if (!(p->temperature > 0)) return gm_fail(err, "temperature must be positive");
    for (int r = 0; p->row_temperature && r < R; r++)
        if (!(p->row_temperature[r] > 0) || !isfinite(p->row_temperature[r])) return gm_fail(err, "row %d: temperature must be positive", r);
    for (int r = 0; p->row_pad_temperature && r < R; r++)
        if (!(p->row_pad_temperature[r] >= 0) || !isfinite(p->row_pad_temperature[r]))
            return gm_fail(err, "row %d: pad temperature must be a number >= 0", r);
    if (p->top_k < 0) return gm_fail(err, "top-k must not be negative");
    if (pad < 0 || pad >= V) return gm_fail(err, "pad token outside the vocabulary");
    if (R < 1) return gm_fail(err, "the model has no rows");
    if (L < 1 || L > c->max_cols) return gm_fail(err, "%d columns is outside 1..%d", L, c->max_cols);
    if (p->guidance < 0 || !isfinite(p->guidance)) return gm_fail(err, "guidance must be a number >= 0");
    for (int r = 0; r < R; r++)
        if (!(chord_weight(p, r) >= 0) || !isfinite(chord_weight(p, r)) || !(style_weight(p, r) >= 0) ||
            !isfinite(style_weight(p, r)))
            return gm_fail(err, "row %d: guidance must be a number >= 0", r);
    for (int r = 0; r < R; r++)
        if (lo[r] < 0 || hi[r] > V || lo[r] > hi[r]) return gm_fail(err, "row %d: bad token range", r);
    return 0;
}

static void sampler_free(sampler *s) {
    GM_FREE_ALL(s->n_row, s->left_row, s->cells, s->tok, s->conf, s->order, s->rows, s->probs, s->probs_u, s->wbuf,
                s->xb, s->posb, s->flags);
}

/* Row r is blanked to EMPTY in the unguided pass. */
static int blanked(const sampler *s, int r) { return s->p.guide_rows && s->p.guide_rows[r]; }

/* The buffers, the condition flags of every batch, the bar positions and the
 * per-row counts of cells to generate. On failure the caller still frees. */
static int sampler_init(sampler *s, const int32_t *x, const uint8_t *pos, char *err) {
    const int R = s->R, V = s->V, E = s->E, L = s->L;
    const size_t n_cells = s->n_cells;
    const int guided = s->B > 1, B = s->B;
    s->n_row = calloc((size_t)R, sizeof *s->n_row);
    s->left_row = calloc((size_t)R, sizeof *s->left_row);
    s->cells = malloc(n_cells * sizeof *s->cells);
    s->tok = malloc(n_cells * sizeof *s->tok);
    s->conf = malloc(n_cells * sizeof *s->conf);
    s->order = malloc(n_cells * sizeof *s->order);
    s->rows = malloc((size_t)SAMPLE_CHUNK * E * sizeof *s->rows);
    s->probs = malloc((size_t)SAMPLE_CHUNK * (V + 1) * sizeof *s->probs);
    s->probs_u = guided ? malloc((size_t)SAMPLE_CHUNK * (V + 1) * sizeof *s->probs_u) : NULL;
    s->wbuf = malloc((size_t)(V + 1) * sizeof *s->wbuf);
    s->flags = malloc((size_t)B * n_cells);
    s->xb = guided ? malloc((size_t)B * n_cells * sizeof *s->xb) : NULL;
    s->posb = pos ? malloc((size_t)B * L) : NULL;
    if (!s->n_row || !s->left_row || !s->cells || !s->tok || !s->conf || !s->order || !s->rows || !s->probs ||
        !s->flags || !s->wbuf || (guided && (!s->probs_u || !s->xb)) || (pos && !s->posb))
        return gm_fail(err, "out of memory for sampling");
    for (size_t i = 0; i < n_cells; i++) {
        s->flags[i] = s->cond[i] ? 1 : 0;
        if (x[i] == s->MASK && !s->cond[i]) s->n_row[i / L]++;
    }
    for (int b = 1; b < B; b++)
        for (size_t i = 0; i < n_cells; i++)
            s->flags[b * n_cells + i] = s->chord_b && b == s->chord_b && blanked(s, (int)(i / L)) ? 0 : s->flags[i];
    for (int b = 0; pos && b < B; b++)
        memcpy(s->posb + (size_t)b * L, s->style_b && b == s->style_b ? s->p.pos_unguided : pos, (size_t)L);
    memcpy(s->left_row, s->n_row, (size_t)R * sizeof *s->left_row);
    return 0;
}

/* The masked cells, in row-major order, into s->cells; returns how many. */
static int sampler_masked(sampler *s, const int32_t *x) {
    int n_masked = 0;
    for (size_t k = 0; k < s->n_cells; k++)
        if (x[k] == s->MASK && !s->cond[k]) s->cells[n_masked++] = (int)k;
    return n_masked;
}

/* The output vectors of cells a..a+n−1 (all of row r) in batch b, gathered
 * into s->rows (chunk, E); the model's cells are (B, L, R, E). */
static void gather_rows(sampler *s, const float *cellv, int b, int a, int n, int r) {
    const int E = s->E, R = s->R, L = s->L;
    for (int j = 0; j < n; j++) {
        int l = s->cells[a + j] % L;
        memcpy(s->rows + (size_t)j * E, cellv + (size_t)b * s->n_cells * E + ((size_t)l * R + r) * E,
               (size_t)E * sizeof(float));
    }
}

/* The style weight g_s of masked cell k (row weight gs): none in the columns
 * the style pass leaves free. */
static float cell_style_weight(const sampler *s, float gs, int k) {
    return s->p.style_free_cols && s->p.style_free_cols[s->cells[k] % s->L] ? 0.0f : gs;
}

/* probs −= g·(logits of pass b), for n cells of row r (after probs was
 * scaled by 1 + the cell's weights): log p's normalisers cancel in the
 * softmax. The style pass's g is per cell (cell_style_weight). */
static void subtract_pass(sampler *s, const float *cellv, int b, float g, int a, int n, int r) {
    const gd_params *pp = gd_model_p(s->m);
    const int D = s->hi[r] - s->lo[r] + 1;
    gather_rows(s, cellv, b, a, n, r);
    row_logits(s->probs_u, s->rows, gd_model_tok(s->m), pp->lm_b, n, s->E, s->lo[r], s->hi[r], s->pad);
    for (int j = 0; j < n; j++) {
        const float gj = b == s->style_b ? cell_style_weight(s, g, a + j) : g;
        for (int q = 0; q < D; q++) s->probs[(size_t)j * D + q] -= gj * s->probs_u[(size_t)j * D + q];
    }
}

/* Guidance on n cells of row r: c + g_c·(c − u_chord) + g_s·(c − u_style). */
static void guide_row(sampler *s, const float *cellv, int styled, int a, int n, int r) {
    const float gc = s->chord_b ? chord_weight(&s->p, r) : 0.0f, gs = s->style_b && styled ? style_weight(&s->p, r) : 0.0f;
    if (gc + gs <= 0) return;
    const int D = s->hi[r] - s->lo[r] + 1;
    for (int j = 0; j < n; j++) {
        const float scale = 1.0f + gc + cell_style_weight(s, gs, a + j);
        for (int q = 0; q < D; q++) s->probs[(size_t)j * D + q] *= scale;
    }
    if (gc > 0) subtract_pass(s, cellv, s->chord_b, gc, a, n, r);
    if (gs > 0) subtract_pass(s, cellv, s->style_b, gs, a, n, r);
}

/* The network input of every batch: x, then x with the guide rows blanked
 * (chord pass), then x again (style pass: only its bar positions differ). */
static const int32_t *batch_input(sampler *s, const int32_t *x) {
    if (s->B == 1) return x;
    const size_t n_cells = s->n_cells;
    for (int b = 0; b < s->B; b++)
        for (size_t k = 0; k < n_cells; k++)
            s->xb[b * n_cells + k] = s->chord_b && b == s->chord_b && blanked(s, (int)(k / s->L)) ? s->V : x[k];
    return s->xb;
}

/* One network pass at timestep t (the style pass only when styled), then x̂0
 * for the masked cells only, a row at a time (cells are in row-major order,
 * and a row's cells share their allowed tokens): s->tok and s->conf of each
 * masked cell. */
static int sampler_predict(sampler *s, const int32_t *x, int n_masked, int t, int styled, char *err) {
    const int L = s->L, pad = s->pad;
    const gd_sample_params *p = &s->p;
    const int32_t tb[3] = {t, t, t};
    /* the style pass is the last batch: left out of the steps after style_steps */
    const int B = s->style_b && !styled ? s->B - 1 : s->B;
    if (gd_forward(s->m, batch_input(s, x), s->flags, s->posb, tb, B, L, 0, err)) return -1;
    const float *cellv = gd_model_cells(s->m);
    const gd_params *pp = gd_model_p(s->m);
    const float *table = gd_model_tok(s->m); /* the tied output layer: word, plus token features (MODEL.md) */
    for (int a = 0; a < n_masked;) {
        const int r = s->cells[a] / L;
        int n = 0;
        while (a + n < n_masked && n < SAMPLE_CHUNK && s->cells[a + n] / L == r) n++;
        const int D = s->hi[r] - s->lo[r] + 1;
        gather_rows(s, cellv, 0, a, n, r);
        row_logits(s->probs, s->rows, table, pp->lm_b, n, s->E, s->lo[r], s->hi[r], pad);
        guide_row(s, cellv, styled, a, n, r);
        const float temp = p->row_temperature ? p->row_temperature[r] : p->temperature;
        const float pad_temp = p->row_pad_temperature ? p->row_pad_temperature[r] : 0.0f;
        for (int j = 0; j < n; j++) {
            const float *zj = s->probs + (size_t)j * D;
            int k = pad_temp > 0 ? sample_two_stage(zj, D, temp, pad_temp, p->top_k, &s->rng, &s->conf[a + j], s->wbuf)
                                 : sample_logits(zj, D, temp, p->top_k, &s->rng, &s->conf[a + j], s->wbuf);
            s->tok[a + j] = k == D - 1 ? pad : s->lo[r] + k;
        }
        a += n;
    }
    return 0;
}

/* After step i of S (not the last): row r keeps n_r − floor(n_r·(i+1)/(S−1))
 * cells masked; the ones to reveal are drawn ∝ softmax(confidence) (Gumbel
 * top-k) and take their sampled tokens in x. */
static void sampler_reveal(sampler *s, int32_t *x, int n_masked, int i, int S) {
    const int L = s->L;
    for (int r = 0; r < s->R; r++) {
        int keep = s->n_row[r] - (int)((long long)s->n_row[r] * (i + 1) / (S - 1));
        int k = s->left_row[r] - keep;
        if (k <= 0) continue;
        int n = 0;
        for (int j = 0; j < n_masked; j++)
            if (s->cells[j] / L == r) {
                double u = gd_rng_uniform(&s->rng);
                if (u < 1e-300) u = 1e-300;
                s->order[n].key = (float)(s->conf[j] - log(-log(u)));
                s->order[n].idx = j;
                n++;
            }
        qsort(s->order, (size_t)n, sizeof *s->order, cmp_keyed_desc);
        if (k > n) k = n;
        for (int j = 0; j < k; j++) x[s->cells[s->order[j].idx]] = s->tok[s->order[j].idx];
        s->left_row[r] -= k;
    }
}

/* Which unguided passes run, and their batches: the chord pass when some
 * row has a chord weight > 0 and a row is blanked, the style pass when some
 * row has a style weight > 0 and other positions are given. */
static void plan_passes(sampler *s) {
    const gd_sample_params *p = &s->p;
    int chord = 0, style = 0, blanks = 0;
    for (int r = 0; r < s->R; r++) {
        chord |= chord_weight(p, r) > 0;
        style |= style_weight(p, r) > 0;
        blanks |= blanked(s, r);
    }
    s->B = 1;
    s->chord_b = chord && blanks ? s->B++ : 0;
    s->style_b = style && p->pos_unguided ? s->B++ : 0;
}

int gd_sample(gd_model *m, int32_t *x, const uint8_t *cond, const uint8_t *pos, int L, const int *lo, const int *hi,
              int pad, const gd_sample_params *sp, char *err) {
    const gd_config *c = gd_model_config(m);
    sampler s = {0};
    s.p = sp ? *sp : gd_sample_default_params();
    if (sampler_check(c, &s.p, L, lo, hi, pad, err)) return -1;
    s.m = m;
    s.cond = cond;
    s.lo = lo;
    s.hi = hi;
    s.R = c->R, s.V = c->V, s.E = c->E, s.L = L, s.pad = pad, s.MASK = c->V + 1;
    s.n_cells = (size_t)c->R * L;
    plan_passes(&s);
    s.rng = s.p.seed ? s.p.seed : 1;
    int rc = -1;
    if (sampler_init(&s, x, pos, err)) goto out;
    const int S = s.p.steps;
    for (int i = 0; i < S; i++) {
        if (s.p.cancel && *s.p.cancel) { /* checked per step: a step is the unit of work */
            gm_fail(err, "cancelled");
            goto out;
        }
        int n_masked = sampler_masked(&s, x);
        if (!n_masked) break;
        const int styled = !s.p.style_steps || i < s.p.style_steps;
        if (sampler_predict(&s, x, n_masked, step_t(i, S, c->T), styled, err)) goto out;
        if (i == S - 1) { /* t = 0: everything left */
            for (int j = 0; j < n_masked; j++) x[s.cells[j]] = s.tok[j];
            break;
        }
        sampler_reveal(&s, x, n_masked, i, S);
        if (s.p.progress) s.p.progress(s.p.user_data, i + 1, S);
    }
    if (s.p.progress) s.p.progress(s.p.user_data, S, S);
    rc = 0;
out:
    sampler_free(&s);
    return rc;
}
