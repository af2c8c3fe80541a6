/*
 * getdiff.c — the GETDiff network: parameter table, forward, backward, AdamW.
 * The math is docs/MODEL.md; python/reference.py is the same model in PyTorch and
 * tests/test_getdiff.c checks this file against it (dev/golden.bin).
 *
 * Shapes: B samples, L columns, N = B·L column tokens, R rows, E cell dim,
 * RE = R·E, H hidden, F feed-forward, V real tokens.
 */
#include "getdiff.h"

#include "nn.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================== */
/* The model object                                                          */
/* ======================================================================== */

/* Activations of one forward pass, kept for backward. */
typedef struct {
    float *ts;     /* (B, 128) timestep sinusoid */
    float *te1h;   /* (B, E) before SiLU */
    float *te1a;   /* (B, E) */
    float *te;     /* (B, E) timestep embedding */
    float *u0;     /* (N, RE) summed cell embeddings, concatenated per column */
    float *u;      /* (N, RE) after LayerNorm (and dropout) */
    float *lne_mean, *lne_rstd; /* (N) */
    uint8_t *u_keep; /* (N, RE) dropout mask */
    float *p1h;    /* (N, H) */
    float *p1a;    /* (N, H) */
    float *h0;     /* (N, H) encoder input */
    /* per layer l: pointers at l * N * size */
    float *q, *k, *v;      /* (NL, N, H) before rotary (v has none) */
    float *qr, *kr;        /* (NL, N, H) after rotary */
    float *att;            /* (NL, N, H) attention output (heads merged) */
    float *lse;            /* (NL, B, NH, L) */
    float *ao;             /* (NL, N, H) attention dense output (after dropout) */
    uint8_t *ao_keep;      /* (NL, N, H) */
    float *r1;             /* (NL, N, H) residual before LayerNorm 1 */
    float *ln1_mean, *ln1_rstd; /* (NL, N) */
    float *h1;             /* (NL, N, H) */
    float *fch;            /* (NL, N, F) before GELU */
    float *fca;            /* (NL, N, F) */
    float *fo;             /* (NL, N, H) after dropout */
    uint8_t *fo_keep;      /* (NL, N, H) */
    float *r2;             /* (NL, N, H) */
    float *ln2_mean, *ln2_rstd; /* (NL, N) */
    float *h2;             /* (NL, N, H) layer output */
    float *o1h;            /* (N, RE) */
    float *o1a;            /* (N, RE) */
    float *c;              /* (N, RE) = (N·R, E) output cells */
} gd_acts;

struct gd_model {
    gd_config cfg;
    gd_params p, g;        /* parameters and gradients (same table) */
    float *params;         /* [n_params] */
    float *grads;          /* [n_params] or NULL */
    float *adam_m, *adam_v;/* [n_params] or NULL */
    size_t n_params;
    gd_tensor *tensors;
    int n_tensors;
    /* activations for up to cap_N column tokens */
    gd_acts a;
    void *act_mem;
    size_t cap_N;
    int B, L, training;    /* of the last forward */
    const int32_t *x;      /* of the last forward (borrowed) */
    const uint8_t *cond;
    const uint8_t *pos;    /* (B, L) bar positions of the last forward (borrowed), NULL when Q = 0 */
    float *scratch;        /* attention / CE / probs scratch */
    size_t scratch_n;
    float *tmp[8];         /* (N, max(H, F, RE)) backward temporaries */
    float *dc;             /* (N, RE) */
    /* token features (P > 0) */
    int32_t *f_off;        /* (V+3) CSR offsets over all V+2 rows (EMPTY, MASK: empty bags) */
    int32_t *f_idx;        /* (nnz) feature ids */
    float *tok;            /* (V+2, E) token table of the last forward */
    float *dtok;           /* (V+2, E) its gradient (training) */

    uint64_t rng;
};

const gd_config *gd_model_config(const gd_model *m) { return &m->cfg; }
size_t gd_model_n_params(const gd_model *m) { return m->n_params; }
float *gd_model_params(gd_model *m) { return m->params; }
float *gd_model_grads(gd_model *m) { return m->grads; }
float *gd_model_adam_m(gd_model *m) { return m->adam_m; }
float *gd_model_adam_v(gd_model *m) { return m->adam_v; }
const gd_params *gd_model_p(const gd_model *m) { return &m->p; }
int gd_model_n_tensors(const gd_model *m) { return m->n_tensors; }
const gd_tensor *gd_model_tensor(const gd_model *m, int i) { return &m->tensors[i]; }

const gd_tensor *gd_model_find(const gd_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

/* ======================================================================== */
/* Parameter table                                                           */
/* ======================================================================== */

/* The table is built twice from one list: first to count, then to carve.
 * Stacked per-layer arrays (NL, ...) get one named tensor per layer. */
typedef struct {
    gd_model *m;
    size_t off;
    int carve;
} table_builder;

static void add(table_builder *tb, float **field, const char *name, int64_t rows, int64_t cols, int stacked) {
    int reps = stacked ? tb->m->cfg.NL : 1;
    size_t n = (size_t)rows * (size_t)(cols ? cols : 1);
    if (tb->carve) {
        *field = tb->m->params + tb->off;
        for (int l = 0; l < reps; l++) {
            gd_tensor *t = &tb->m->tensors[tb->m->n_tensors++];
            if (stacked) snprintf(t->name, sizeof t->name, "encoder.layer.%d.%s", l, name);
            else snprintf(t->name, sizeof t->name, "%s", name);
            t->n_dims = cols ? 2 : 1;
            t->shape[0] = rows;
            t->shape[1] = cols ? cols : 1;
            t->offset = tb->off + (size_t)l * n;
            t->n = n;
        }
    } else {
        tb->m->n_tensors += reps;
    }
    tb->off += (size_t)reps * n;
}

/* A layer's weight, (rows, cols) or, for a LayerNorm's gain, cols 0: (rows),
 * then its bias (rows), named "<prefix>.weight" and "<prefix>.bias" as in
 * the original checkpoint. */
static void add_wb(table_builder *tb, float **w, float **b, const char *prefix, int64_t rows, int64_t cols,
                   int stacked) {
    char name[64];
    snprintf(name, sizeof name, "%s.weight", prefix);
    add(tb, w, name, rows, cols, stacked);
    snprintf(name, sizeof name, "%s.bias", prefix);
    add(tb, b, name, rows, 0, stacked);
}

static void build_table(table_builder *tb) {
    const gd_config *c = &tb->m->cfg;
    int64_t RE = (int64_t)c->R * c->E;
    gd_params *p = &tb->m->p;
    add(tb, &p->word, "embeddings.word_embeddings.weight", c->V + 2, c->E, 0);
    if (c->P > 0) add(tb, &p->feat, "embeddings.pitch_embeddings.weight", c->P, c->E, 0);
    add(tb, &p->type, "embeddings.token_type_embeddings.weight", 2, c->E, 0);
    if (c->Q > 0) add(tb, &p->bpos, "embeddings.bar_position_embeddings.weight", c->Q, c->H, 0);
    add_wb(tb, &p->te1_w, &p->te1_b, "embeddings.time_embeddings.0", c->E, GD_TIME_DIM, 0);
    add_wb(tb, &p->te2_w, &p->te2_b, "embeddings.time_embeddings.2", c->E, c->E, 0);
    add_wb(tb, &p->lne_g, &p->lne_b, "embeddings.LayerNorm", RE, 0, 0);
    add_wb(tb, &p->p1_w, &p->p1_b, "embeddings_project.0", c->H, RE, 0);
    add_wb(tb, &p->p2_w, &p->p2_b, "embeddings_project.2", c->H, c->H, 0);
    add_wb(tb, &p->q_w, &p->q_b, "attention.self.query", c->H, c->H, 1);
    add_wb(tb, &p->k_w, &p->k_b, "attention.self.key", c->H, c->H, 1);
    add_wb(tb, &p->v_w, &p->v_b, "attention.self.value", c->H, c->H, 1);
    add_wb(tb, &p->ao_w, &p->ao_b, "attention.output.dense", c->H, c->H, 1);
    add_wb(tb, &p->ln1_g, &p->ln1_b, "attention.output.LayerNorm", c->H, 0, 1);
    add_wb(tb, &p->fc_w, &p->fc_b, "intermediate.dense", c->F, c->H, 1);
    add_wb(tb, &p->fo_w, &p->fo_b, "output.dense", c->H, c->F, 1);
    add_wb(tb, &p->ln2_g, &p->ln2_b, "output.LayerNorm", c->H, 0, 1);
    add_wb(tb, &p->o1_w, &p->o1_b, "outputs_project.0", RE, c->H, 0);
    add_wb(tb, &p->o2_w, &p->o2_b, "outputs_project.2", RE, RE, 0);
    add(tb, &p->lm_b, "lm_head.bias", c->V + 2, 0, 0);
}

/* The same table over another buffer (gradients): offsets are shared. */
static void carve_like(gd_params *dst, const gd_params *src, const float *src_base, float *dst_base) {
    float **d = (float **)dst;
    float *const *s = (float *const *)src;
    for (size_t i = 0; i < sizeof(gd_params) / sizeof(float *); i++) d[i] = s[i] ? dst_base + (s[i] - src_base) : NULL;
}

gd_model *gd_model_new(const gd_config *cfg, char *err) {
    const gd_config *c = cfg;
    if (c->R < 2 || c->R > 64 || c->V < 2 || c->V > 1000000 || c->E < 1 || c->E > 4096 || c->H < 2 || c->H > 16384 ||
        c->NL < 1 || c->NL > 128 || c->NH < 1 || c->H % c->NH || (c->H / c->NH) % 2 || c->F < 1 || c->F > 65536 ||
        c->max_cols < 1 || c->max_cols > 65536 || c->T < 2 || c->T > 10000 || !(c->dropout >= 0 && c->dropout < 1) ||
        c->P < 0 || c->P > 65536 || c->Q < 0 || c->Q > 256) {
        gm_fail(err, "invalid model sizes (rows %d, vocab %d, embd %d, hidden %d, layers %d, heads %d, ffn %d, cols %d,"
                " features %d, bar positions %d)", c->R, c->V, c->E, c->H, c->NL, c->NH, c->F, c->max_cols, c->P, c->Q);
        return NULL;
    }
    gd_model *m = calloc(1, sizeof *m);
    if (!m) { gm_fail(err, "out of memory"); return NULL; }
    m->cfg = *cfg;
    table_builder tb = {m, 0, 0};
    build_table(&tb);
    m->n_params = tb.off;
    m->params = calloc(m->n_params, sizeof *m->params);
    m->tensors = calloc((size_t)m->n_tensors, sizeof *m->tensors);
    if (c->P > 0) {
        m->f_off = calloc((size_t)c->V + 3, sizeof *m->f_off); /* no features until gd_model_set_features */
        m->tok = malloc(((size_t)c->V + 2) * c->E * sizeof *m->tok);
    }
    if (!m->params || !m->tensors || (c->P > 0 && (!m->f_off || !m->tok))) {
        gd_model_free(m);
        gm_fail(err, "out of memory for %zu parameters", tb.off);
        return NULL;
    }
    m->n_tensors = 0;
    tb = (table_builder){m, 0, 1};
    build_table(&tb);
    m->rng = 0x9E3779B97F4A7C15ull;
    return m;
}

void gd_model_free(gd_model *m) {
    if (!m) return;
    for (int i = 0; i < 8; i++) free(m->tmp[i]);
    GM_FREE_ALL(m->params, m->grads, m->adam_m, m->adam_v, m->tensors, m->act_mem, m->scratch, m->dc, m->f_off,
                m->f_idx, m->tok, m->dtok);
    free(m);
}

int gd_model_set_features(gd_model *m, const int32_t *off, const int32_t *idx, char *err) {
    const gd_config *c = &m->cfg;
    if (c->P <= 0) return gm_fail(err, "the model has no token features");
    if (off[0] != 0) return gm_fail(err, "token features: offsets must start at 0");
    for (int v = 0; v < c->V; v++)
        if (off[v + 1] < off[v]) return gm_fail(err, "token features: offsets decrease at token %d", v);
    size_t nnz = (size_t)off[c->V];
    for (size_t j = 0; j < nnz; j++)
        if (idx[j] < 0 || idx[j] >= c->P) return gm_fail(err, "token features: feature %d outside 0..%d", idx[j], c->P - 1);
    int32_t *ni = malloc((nnz ? nnz : 1) * sizeof *ni);
    if (!ni) return gm_fail(err, "out of memory for %zu token features", nnz);
    if (nnz) memcpy(ni, idx, nnz * sizeof *ni);
    free(m->f_idx);
    m->f_idx = ni;
    memcpy(m->f_off, off, ((size_t)c->V + 1) * sizeof *off);
    m->f_off[c->V + 1] = m->f_off[c->V + 2] = (int32_t)nnz; /* EMPTY, MASK: none */
    return 0;
}

size_t gd_model_n_feature_pairs(const gd_model *m) { return m->cfg.P > 0 ? (size_t)m->f_off[m->cfg.V] : 0; }

const float *gd_model_tok(const gd_model *m) { return m->cfg.P > 0 ? m->tok : m->p.word; }

int gd_model_alloc_training(gd_model *m, char *err) {
    if (m->grads) return 0;
    m->grads = calloc(m->n_params, sizeof(float));
    m->adam_m = calloc(m->n_params, sizeof(float));
    m->adam_v = calloc(m->n_params, sizeof(float));
    if (m->cfg.P > 0) m->dtok = malloc(((size_t)m->cfg.V + 2) * m->cfg.E * sizeof *m->dtok);
    if (!m->grads || !m->adam_m || !m->adam_v || (m->cfg.P > 0 && !m->dtok))
        return gm_fail(err, "out of memory for gradients");
    carve_like(&m->g, &m->p, m->params, m->grads);
    return 0;
}

void gd_zero_grads(gd_model *m) {
    if (m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
}

/* ======================================================================== */
/* Random numbers (init, dropout): the library's one generator, util.h       */
/* ======================================================================== */

static double normal(uint64_t *s) {
    double u1 = gd_rng_uniform(s), u2 = gd_rng_uniform(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

void gd_model_seed_dropout(gd_model *m, uint64_t seed) { m->rng = seed; }
uint64_t gd_model_dropout_state(const gd_model *m) { return m->rng; }

void gd_model_init_random(gd_model *m, uint64_t seed) {
    uint64_t s = seed;
    for (int i = 0; i < m->n_tensors; i++) {
        gd_tensor *t = &m->tensors[i];
        float *d = m->params + t->offset;
        const char *nm = t->name;
        size_t len = strlen(nm);
        int is_ln = strstr(nm, "LayerNorm") != NULL;
        int is_bias = len > 5 && !strcmp(nm + len - 5, ".bias");
        for (size_t k = 0; k < t->n; k++)
            d[k] = is_ln ? (is_bias ? 0.0f : 1.0f) : is_bias ? 0.0f : (float)(0.02 * normal(&s));
    }
    /* EMPTY never contributes: its embedding row is zero (as the original's padding_idx). */
    memset(m->p.word + (size_t)m->cfg.V * m->cfg.E, 0, (size_t)m->cfg.E * sizeof(float));
}

/* ======================================================================== */
/* Activation memory                                                         */
/* ======================================================================== */

static int ensure_acts(gd_model *m, int B, int L, char *err) {
    const gd_config *c = &m->cfg;
    size_t N = (size_t)B * L;
    if (N <= m->cap_N && m->act_mem) return 0;
    size_t RE = (size_t)c->R * c->E, H = (size_t)c->H, F = (size_t)c->F, NL = (size_t)c->NL;
    /* float fields, in the order of gd_acts, with their sizes */
    struct { float **f; size_t n; } fl[] = {
        {&m->a.ts, (size_t)B * GD_TIME_DIM}, {&m->a.te1h, (size_t)B * c->E}, {&m->a.te1a, (size_t)B * c->E},
        {&m->a.te, (size_t)B * c->E}, {&m->a.u0, N * RE}, {&m->a.u, N * RE}, {&m->a.lne_mean, N}, {&m->a.lne_rstd, N},
        {&m->a.p1h, N * H}, {&m->a.p1a, N * H}, {&m->a.h0, N * H},
        {&m->a.q, NL * N * H}, {&m->a.k, NL * N * H}, {&m->a.v, NL * N * H}, {&m->a.qr, NL * N * H},
        {&m->a.kr, NL * N * H}, {&m->a.att, NL * N * H}, {&m->a.lse, NL * N * (size_t)c->NH},
        {&m->a.ao, NL * N * H}, {&m->a.r1, NL * N * H}, {&m->a.ln1_mean, NL * N}, {&m->a.ln1_rstd, NL * N},
        {&m->a.h1, NL * N * H}, {&m->a.fch, NL * N * F}, {&m->a.fca, NL * N * F}, {&m->a.fo, NL * N * H},
        {&m->a.r2, NL * N * H}, {&m->a.ln2_mean, NL * N}, {&m->a.ln2_rstd, NL * N}, {&m->a.h2, NL * N * H},
        {&m->a.o1h, N * RE}, {&m->a.o1a, N * RE}, {&m->a.c, N * RE},
    };
    struct { uint8_t **f; size_t n; } bl[] = {{&m->a.u_keep, N * RE}, {&m->a.ao_keep, NL * N * H}, {&m->a.fo_keep, NL * N * H}};
    size_t total = 0;
    for (size_t i = 0; i < sizeof fl / sizeof *fl; i++) total += fl[i].n * sizeof(float);
    for (size_t i = 0; i < sizeof bl / sizeof *bl; i++) total += (bl[i].n + 15) & ~(size_t)15;
    free(m->act_mem);
    m->act_mem = malloc(total);
    size_t wide = H > F ? H : F;
    if (RE > wide) wide = RE;
    size_t sc = nn_attention_scratch(L);
    size_t sc2 = nn_tied_ce_scratch(c->V);
    if (sc2 > sc) sc = sc2;
    free(m->scratch);
    m->scratch = malloc(sc * sizeof(float));
    m->scratch_n = sc;
    int bad = !m->act_mem || !m->scratch;
    for (int i = 0; i < 8; i++) {
        free(m->tmp[i]);
        m->tmp[i] = malloc(N * wide * sizeof(float));
        bad |= !m->tmp[i];
    }
    free(m->dc);
    m->dc = malloc(N * RE * sizeof(float));
    bad |= !m->dc;
    if (bad) {
        free(m->act_mem);
        m->act_mem = NULL;
        m->cap_N = 0;
        return gm_fail(err, "out of memory for activations (%zu columns)", N);
    }
    char *p = m->act_mem;
    for (size_t i = 0; i < sizeof fl / sizeof *fl; i++) { *fl[i].f = (float *)p; p += fl[i].n * sizeof(float); }
    for (size_t i = 0; i < sizeof bl / sizeof *bl; i++) { *bl[i].f = (uint8_t *)p; p += (bl[i].n + 15) & ~(size_t)15; }
    m->cap_N = N;
    return 0;
}

/* ======================================================================== */
/* Dropout                                                                   */
/* ======================================================================== */

/* In place: x[i] = keep ? x[i] / (1 − p) : 0; keep[i] saved for backward.
 * Masks come from the model's RNG (serial: reproducible for a seed). */
static void dropout_forward(float *x, uint8_t *keep, size_t n, float p, uint64_t *rng) {
    float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        keep[i] = gd_rng_uniform(rng) >= p;
        x[i] = keep[i] ? x[i] * scale : 0.0f;
    }
}
static void dropout_backward(float *d, const uint8_t *keep, size_t n, float p) {
    float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) d[i] = keep[i] ? d[i] * scale : 0.0f;
}

/* ======================================================================== */
/* Forward                                                                   */
/* ======================================================================== */

/* Timestep features: [cos(t·f_i), sin(t·f_i)], f_i = exp(−ln(10000)·i/64). */
static void time_features(float *ts, const int32_t *t, int B) {
    const int half = GD_TIME_DIM / 2;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < half; i++) {
            double f = exp(-log(10000.0) * i / half);
            ts[b * GD_TIME_DIM + i] = (float)cos(t[b] * f);
            ts[b * GD_TIME_DIM + half + i] = (float)sin(t[b] * f);
        }
}

/* The model's three two-layer MLPs (timestep embedding, projection to H,
 * output cells): y = W2·silu(W1·x + b1) + b2 over n rows, in → out → out.
 * pre (before SiLU) and act (after) are kept for mlp_backward. */
static void mlp_forward(float *y, float *pre, float *act, const float *x, const float *w1, const float *b1,
                        const float *w2, const float *b2, int n, int in, int out) {
    nn_linear_forward(pre, x, w1, b1, n, in, out);
    nn_silu_forward(act, pre, (size_t)n * out);
    nn_linear_forward(y, act, w2, b2, n, out, out);
}

/* gd_forward's inputs against the config: sizes, bar positions (when the
 * model has them), timesteps and tokens. */
static int forward_check(const gd_config *c, const int32_t *x, const uint8_t *pos, const int32_t *t, int B, int L,
                         char *err) {
    if (B < 1 || L < 1 || L > c->max_cols) return gm_fail(err, "%d columns is outside 1..%d", L, c->max_cols);
    if (c->Q > 0) {
        if (!pos) return gm_fail(err, "the model needs each column's position in its bar");
        for (size_t i = 0; i < (size_t)B * L; i++)
            if (pos[i] >= c->Q) return gm_fail(err, "bar position %d outside 0..%d", pos[i], c->Q - 1);
    }
    for (int b = 0; b < B; b++)
        if (t[b] < 0 || t[b] >= c->T) return gm_fail(err, "timestep %d outside 0..%d", t[b], c->T - 1);
    for (size_t i = 0; i < (size_t)B * c->R * L; i++)
        if (x[i] < 0 || x[i] > c->V + 1) return gm_fail(err, "token %d outside the vocabulary", x[i]);
    return 0;
}

/* Step 4 of MODEL.md "Forward", one post-LN layer l over hin (N, H):
 * attention with RoPE, residual, LayerNorm, GELU FFN, residual, LayerNorm.
 * Returns the layer's output h2 (N, H). */
static const float *forward_layer(gd_model *m, int l, const float *hin) {
    const gd_config *c = &m->cfg;
    gd_acts *a = &m->a;
    const gd_params *p = &m->p;
    const int B = m->B, L = m->L, H = c->H, F = c->F, N = B * L;
    const float p_drop = c->dropout;
    size_t oH = (size_t)l * N * H, oF = (size_t)l * N * F, oN = (size_t)l * N;
    size_t wHH = (size_t)l * H * H, wFH = (size_t)l * F * H, bH = (size_t)l * H, bF = (size_t)l * F;
    float *q = a->q + oH, *k = a->k + oH, *v = a->v + oH, *qr = a->qr + oH, *kr = a->kr + oH;
    float *att = a->att + oH, *ao = a->ao + oH, *r1 = a->r1 + oH, *h1 = a->h1 + oH;
    float *fch = a->fch + oF, *fca = a->fca + oF, *fo = a->fo + oH, *r2 = a->r2 + oH, *h2 = a->h2 + oH;
    nn_linear_forward(q, hin, p->q_w + wHH, p->q_b + bH, N, H, H);
    nn_linear_forward(k, hin, p->k_w + wHH, p->k_b + bH, N, H, H);
    nn_linear_forward(v, hin, p->v_w + wHH, p->v_b + bH, N, H, H);
    nn_rope_forward(qr, q, B, L, c->NH, H / c->NH);
    nn_rope_forward(kr, k, B, L, c->NH, H / c->NH);
    nn_attention_forward(att, a->lse + oN * c->NH, qr, kr, v, B, L, c->NH, H / c->NH, m->scratch);
    nn_linear_forward(ao, att, p->ao_w + wHH, p->ao_b + bH, N, H, H);
    if (m->training) dropout_forward(ao, a->ao_keep + oH, (size_t)N * H, p_drop, &m->rng);
    for (size_t i = 0; i < (size_t)N * H; i++) r1[i] = hin[i] + ao[i];
    nn_layernorm_forward(h1, a->ln1_mean + oN, a->ln1_rstd + oN, r1, p->ln1_g + bH, p->ln1_b + bH, N, H, 1e-12f);
    nn_linear_forward(fch, h1, p->fc_w + wFH, p->fc_b + bF, N, H, F);
    nn_gelu_forward(fca, fch, (size_t)N * F);
    nn_linear_forward(fo, fca, p->fo_w + wFH, p->fo_b + bH, N, F, H);
    if (m->training) dropout_forward(fo, a->fo_keep + oH, (size_t)N * H, p_drop, &m->rng);
    for (size_t i = 0; i < (size_t)N * H; i++) r2[i] = h1[i] + fo[i];
    nn_layernorm_forward(h2, a->ln2_mean + oN, a->ln2_rstd + oN, r2, p->ln2_g + bH, p->ln2_b + bH, N, H, 1e-12f);
    return h2;
}

int gd_forward(gd_model *m, const int32_t *x, const uint8_t *cond, const uint8_t *pos, const int32_t *t, int B, int L,
               int training, char *err) {
    const gd_config *c = &m->cfg;
    if (forward_check(c, x, pos, t, B, L, err) || ensure_acts(m, B, L, err)) return -1;
    m->B = B;
    m->L = L;
    m->training = training && c->dropout > 0;
    m->x = x;
    m->cond = cond;
    m->pos = c->Q > 0 ? pos : NULL;
    gd_acts *a = &m->a;
    const gd_params *p = &m->p;
    const int R = c->R, E = c->E, H = c->H, RE = R * E, N = B * L;
    const float p_drop = c->dropout;

    /* 0. token table (V+2, E): tok = word + Σ_{f ∈ feat(v)} featemb[f] (MODEL.md "Token features").
     * Recomputed every pass (V·E + nnz·E adds, well under 1% of a forward): weights may change
     * between passes (training steps, tests, loaders) without telling the model. */
    if (c->P > 0) nn_bag_forward(m->tok, p->word, p->feat, m->f_off, m->f_idx, c->V + 2, E);
    const float *tok = gd_model_tok(m);

    /* 1. timestep embedding (B, E) */
    time_features(a->ts, t, B);
    mlp_forward(a->te, a->te1h, a->te1a, a->ts, p->te1_w, p->te1_b, p->te2_w, p->te2_b, B, GD_TIME_DIM, E);

    /* 2. cells: token + condition flag + timestep, laid out per column (N, R·E) */
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++) {
            float *dst = a->u0 + ((size_t)b * L + l) * RE;
            for (int r = 0; r < R; r++) {
                size_t i = ((size_t)b * R + r) * L + l;
                const float *w = tok + (size_t)x[i] * E;
                const float *ty = p->type + (size_t)(cond[i] ? 1 : 0) * E;
                const float *te = a->te + (size_t)b * E;
                for (int e = 0; e < E; e++) dst[r * E + e] = w[e] + ty[e] + te[e];
            }
        }

    /* 3. column LayerNorm, dropout, projection to H */
    nn_layernorm_forward(a->u, a->lne_mean, a->lne_rstd, a->u0, p->lne_g, p->lne_b, N, RE, 1e-12f);
    if (m->training) dropout_forward(a->u, a->u_keep, (size_t)N * RE, p_drop, &m->rng);
    mlp_forward(a->h0, a->p1h, a->p1a, a->u, p->p1_w, p->p1_b, p->p2_w, p->p2_b, N, RE, H);
    if (m->pos) /* each column's position in its bar (MODEL.md "Bar positions") */
        for (int n = 0; n < N; n++)
            for (int j = 0; j < H; j++) a->h0[(size_t)n * H + j] += p->bpos[(size_t)m->pos[n] * H + j];

    /* 4. encoder layers (post-LN) */
    const float *hin = a->h0;
    for (int l = 0; l < c->NL; l++) hin = forward_layer(m, l, hin);

    /* 5. output cells (N, R·E) */
    mlp_forward(a->c, a->o1h, a->o1a, hin, p->o1_w, p->o1_b, p->o2_w, p->o2_b, N, H, RE);
    return 0;
}

void gd_probs(gd_model *m, float *out) {
    const gd_config *c = &m->cfg;
    nn_tied_softmax(out, m->a.c, gd_model_tok(m), m->p.lm_b, m->B * m->L * c->R, c->E, c->V);
}

/* ======================================================================== */
/* Backward                                                                  */
/* ======================================================================== */

/* mlp_forward's backward: dy (n, out) in; the weights' gradients added into
 * dw1, db1, dw2, db2; dx (n, in) set (zeroed, then added into) unless NULL.
 * t1, t2: (n, out) scratch; dx may be t1 (spent by the time dx is written). */
static void mlp_backward(float *dx, float *dw1, float *db1, float *dw2, float *db2, float *t1, float *t2, const float *dy,
                         const float *x, const float *pre, const float *act, const float *w1, const float *w2, int n,
                         int in, int out) {
    memset(t1, 0, (size_t)n * out * sizeof(float));
    nn_linear_backward(t1, dw2, db2, dy, act, w2, n, out, out);
    memset(t2, 0, (size_t)n * out * sizeof(float));
    nn_silu_backward(t2, t1, pre, (size_t)n * out);
    if (dx) memset(dx, 0, (size_t)n * in * sizeof(float));
    nn_linear_backward(dx, dw1, db1, t2, x, w1, n, in, out);
}

/* Step 4 of MODEL.md "Forward" backwards, for layer l: m->tmp[0] holds the
 * gradient of the layer's output h2 (N, H) and leaves holding that of its
 * input; the weights' gradients are added into m->g. */
static void backward_layer(gd_model *m, int l) {
    const gd_config *c = &m->cfg;
    gd_acts *a = &m->a;
    const gd_params *p = &m->p;
    gd_params *g = &m->g;
    const int B = m->B, L = m->L, H = c->H, F = c->F, N = B * L;
    const int NH = c->NH, HD = H / NH;
    float *dh = m->tmp[0];   /* (N, H) gradient flowing down the residual stream */
    float *dA = m->tmp[1];   /* (N, wide) */
    float *dB = m->tmp[2];   /* (N, wide) */
    float *dq = m->tmp[3], *dk = m->tmp[4], *dv = m->tmp[5], *dqr = m->tmp[6], *dkr = m->tmp[7]; /* (N, H) */
    size_t oH = (size_t)l * N * H, oF = (size_t)l * N * F, oN = (size_t)l * N;
    size_t wHH = (size_t)l * H * H, wFH = (size_t)l * F * H, bH = (size_t)l * H, bF = (size_t)l * F;
    const float *hin = l ? a->h2 + (size_t)(l - 1) * N * H : a->h0;
    /* h2 = LN2(r2), r2 = h1 + drop(fo) */
    float *dr2 = dA;
    memset(dr2, 0, (size_t)N * H * sizeof(float));
    nn_layernorm_backward(dr2, g->ln2_g + bH, g->ln2_b + bH, dh, a->r2 + oH, a->ln2_mean + oN, a->ln2_rstd + oN,
                          p->ln2_g + bH, N, H);
    /* dh1 = dr2 (residual) + through the FFN */
    memcpy(dh, dr2, (size_t)N * H * sizeof(float));
    if (m->training) dropout_backward(dr2, a->fo_keep + oH, (size_t)N * H, c->dropout);
    float *dfca = dB;
    memset(dfca, 0, (size_t)N * F * sizeof(float));
    nn_linear_backward(dfca, g->fo_w + wFH, g->fo_b + bH, dr2, a->fca + oF, p->fo_w + wFH, N, F, H);
    float *dfch = dA; /* dr2 is no longer needed */
    memset(dfch, 0, (size_t)N * F * sizeof(float));
    nn_gelu_backward(dfch, dfca, a->fch + oF, (size_t)N * F);
    nn_linear_backward(dh, g->fc_w + wFH, g->fc_b + bF, dfch, a->h1 + oH, p->fc_w + wFH, N, H, F);
    /* h1 = LN1(r1), r1 = hin + drop(ao) */
    float *dr1 = dA;
    memset(dr1, 0, (size_t)N * H * sizeof(float));
    nn_layernorm_backward(dr1, g->ln1_g + bH, g->ln1_b + bH, dh, a->r1 + oH, a->ln1_mean + oN, a->ln1_rstd + oN,
                          p->ln1_g + bH, N, H);
    memcpy(dh, dr1, (size_t)N * H * sizeof(float)); /* to hin, residual */
    if (m->training) dropout_backward(dr1, a->ao_keep + oH, (size_t)N * H, c->dropout);
    float *datt = dB;
    memset(datt, 0, (size_t)N * H * sizeof(float));
    nn_linear_backward(datt, g->ao_w + wHH, g->ao_b + bH, dr1, a->att + oH, p->ao_w + wHH, N, H, H);
    memset(dqr, 0, (size_t)N * H * sizeof(float));
    memset(dkr, 0, (size_t)N * H * sizeof(float));
    memset(dv, 0, (size_t)N * H * sizeof(float));
    nn_attention_backward(dqr, dkr, dv, datt, a->qr + oH, a->kr + oH, a->v + oH, a->att + oH, a->lse + oN * NH, B, L,
                          NH, HD, m->scratch);
    memset(dq, 0, (size_t)N * H * sizeof(float));
    memset(dk, 0, (size_t)N * H * sizeof(float));
    nn_rope_backward(dq, dqr, B, L, NH, HD);
    nn_rope_backward(dk, dkr, B, L, NH, HD);
    nn_linear_backward(dh, g->q_w + wHH, g->q_b + bH, dq, hin, p->q_w + wHH, N, H, H);
    nn_linear_backward(dh, g->k_w + wHH, g->k_b + bH, dk, hin, p->k_w + wHH, N, H, H);
    nn_linear_backward(dh, g->v_w + wHH, g->v_b + bH, dv, hin, p->v_w + wHH, N, H, H);
}

static void backward_network(gd_model *m) {
    const gd_config *c = &m->cfg;
    gd_acts *a = &m->a;
    const gd_params *p = &m->p;
    gd_params *g = &m->g;
    const int B = m->B, L = m->L, R = c->R, E = c->E, H = c->H, RE = R * E, N = B * L;
    float *dh = m->tmp[0];   /* (N, H) gradient flowing down the residual stream */
    float *dA = m->tmp[1];   /* (N, wide) */
    float *dB = m->tmp[2];   /* (N, wide) */
    float *dq = m->tmp[3];   /* (N, H); here (B, E) scratch for the timestep MLP */

    /* 5. output cells ← dc */
    const float *h_last = c->NL ? a->h2 + (size_t)(c->NL - 1) * N * H : a->h0;
    mlp_backward(dh, g->o1_w, g->o1_b, g->o2_w, g->o2_b, dA, dB, m->dc, h_last, a->o1h, a->o1a, p->o1_w, p->o2_w, N, H,
                 RE);

    /* 4. layers, last to first */
    for (int l = c->NL - 1; l >= 0; l--) backward_layer(m, l);

    /* 3. bar positions and projection ← dh0 */
    if (m->pos)
        for (int n = 0; n < N; n++)
            for (int j = 0; j < H; j++) g->bpos[(size_t)m->pos[n] * H + j] += dh[(size_t)n * H + j];
    float *du = dA;
    mlp_backward(du, g->p1_w, g->p1_b, g->p2_w, g->p2_b, dA, dB, dh, a->u, a->p1h, a->p1a, p->p1_w, p->p2_w, N, RE, H);
    if (m->training) dropout_backward(du, a->u_keep, (size_t)N * RE, c->dropout);
    float *du0 = dB;
    memset(du0, 0, (size_t)N * RE * sizeof(float));
    nn_layernorm_backward(du0, g->lne_g, g->lne_b, du, a->u0, a->lne_mean, a->lne_rstd, p->lne_g, N, RE);

    /* 2. cells → token table, flag and timestep embeddings (serial scatter: rows collide) */
    float *dtok = c->P > 0 ? m->dtok : g->word; /* (V+2, E) */
    float *dte = dA; /* (B, E) */
    memset(dte, 0, (size_t)B * E * sizeof(float));
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++) {
            const float *src = du0 + ((size_t)b * L + l) * RE;
            for (int r = 0; r < R; r++) {
                size_t i = ((size_t)b * R + r) * L + l;
                float *gw = dtok + (size_t)m->x[i] * E;
                float *gt = g->type + (size_t)(m->cond[i] ? 1 : 0) * E;
                for (int e = 0; e < E; e++) {
                    float d = src[r * E + e];
                    gw[e] += d;
                    gt[e] += d;
                    dte[b * E + e] += d;
                }
            }
        }
    /* EMPTY is the padding index (as the original): its row stays zero. */
    memset(dtok + (size_t)c->V * E, 0, (size_t)E * sizeof(float));
    /* 0. token table → word and token features */
    if (c->P > 0) nn_bag_backward(g->word, g->feat, dtok, m->f_off, m->f_idx, c->V + 2, E);

    /* 1. timestep MLP */
    mlp_backward(NULL, g->te1_w, g->te1_b, g->te2_w, g->te2_b, dB, dq, dte, a->ts, a->te1h, a->te1a, p->te1_w, p->te2_w,
                 B, GD_TIME_DIM, E);
}

const float *gd_model_cells(const gd_model *m) { return m->a.c; }

double gd_loss_backward(gd_model *m, const int32_t *y, const float *wt, const float *wi, const float *ri,
                        float *logits_out, float *nll_out, int backward) {
    const gd_config *c = &m->cfg;
    int n = m->B * m->L * c->R;
    /* Gradient of the token table: straight into word's (P = 0), or its own
     * buffer, passed on to word and the features by backward_network. */
    float *dtok = c->P > 0 ? m->dtok : m->g.word;
    if (backward) memset(m->dc, 0, (size_t)n * c->E * sizeof(float));
    if (backward && c->P > 0) memset(dtok, 0, ((size_t)c->V + 2) * c->E * sizeof(float));
    /* The tied output layer: logits over the first V rows of the token table;
     * one fused pass for the loss, its gradient and the intact-cell term. */
    double loss = nn_tied_ce_mix(backward ? m->dc : NULL, backward ? dtok : NULL, backward ? m->g.lm_b : NULL,
                                 logits_out, nll_out, m->a.c, gd_model_tok(m), m->p.lm_b, y, wt, wi, ri, n, c->E, c->V,
                                 m->scratch);
    if (backward) backward_network(m);
    return loss;
}

/* ======================================================================== */
/* AdamW                                                                     */
/* ======================================================================== */

void gd_adamw_step(gd_model *m, float lr, float beta1, float beta2, float eps, float wd, int step) {
    /* As torch.optim.AdamW: decay first, then the bias-corrected Adam update. */
    double bc1 = 1.0 - pow(beta1, step), bc2 = 1.0 - pow(beta2, step);
    float *w = m->params, *g = m->grads, *mm = m->adam_m, *vv = m->adam_v;
    size_t n = m->n_params;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        w[i] -= lr * wd * w[i];
        mm[i] = beta1 * mm[i] + (1 - beta1) * g[i];
        vv[i] = beta2 * vv[i] + (1 - beta2) * g[i] * g[i];
        double mhat = mm[i] / bc1, vhat = vv[i] / bc2;
        w[i] -= (float)(lr * mhat / (sqrt(vhat) + eps));
    }
}

double gd_grad_norm(gd_model *m) {
    double s = 0;
    for (size_t i = 0; i < m->n_params; i++) s += (double)m->grads[i] * m->grads[i];
    return sqrt(s);
}
