/*
 * getdiff.h — the GETDiff network (docs/MODEL.md): parameter table, forward,
 * backward, AdamW. Internal to the library; the public face is gm_model in
 * getmusic.h.
 *
 * Memory (llm.c style): one contiguous buffer each for parameters, their
 * gradients and the two Adam moments, carved by the same table; activations
 * sized for the largest (batch, columns) seen, grown on demand.
 */
#ifndef GM_GETDIFF_H
#define GM_GETDIFF_H
#include <stddef.h>
#include <stdint.h>

#define GD_TIME_DIM 128 /* sinusoidal timestep features */

typedef struct {
    int R;        /* grid rows: 2 per track class + 2 chord rows */
    int V;        /* real tokens; EMPTY = V, MASK = V + 1 */
    int E;        /* cell embedding */
    int H;        /* hidden */
    int NL;       /* layers */
    int NH;       /* heads (H % NH == 0, H/NH even) */
    int F;        /* feed-forward */
    int max_cols; /* longest sequence of columns */
    int T;        /* diffusion steps */
    float dropout;
    int P;        /* token features: 0 = off (the original), else the feature count (GM_TOKEN_FEATURES) */
    int Q;        /* bar positions: 0 = off (the original), else the table size (GM_BAR_POSITIONS = 32: 8 beats of 16ths) */
} gd_config;

/* Pointers into one buffer. Shapes are row-major; Linear weights (out, in). */
typedef struct {
    float *word;    /* (V+2, E) token embedding; with P = 0 also the token table (input and tied output) */
    float *feat;    /* (P, E) token-feature embeddings, NULL when P = 0 */
    float *type;    /* (2, E) condition flag: 0 target, 1 condition */
    float *bpos;    /* (Q, H) bar-position embeddings, NULL when Q = 0 */
    float *te1_w;   /* (E, 128) */
    float *te1_b;   /* (E) */
    float *te2_w;   /* (E, E) */
    float *te2_b;   /* (E) */
    float *lne_g;   /* (R·E) LayerNorm over the concatenated column */
    float *lne_b;   /* (R·E) */
    float *p1_w;    /* (H, R·E) */
    float *p1_b;    /* (H) */
    float *p2_w;    /* (H, H) */
    float *p2_b;    /* (H) */
    float *q_w;     /* (NL, H, H) */
    float *q_b;     /* (NL, H) */
    float *k_w;     /* (NL, H, H) */
    float *k_b;     /* (NL, H) */
    float *v_w;     /* (NL, H, H) */
    float *v_b;     /* (NL, H) */
    float *ao_w;    /* (NL, H, H) attention output dense */
    float *ao_b;    /* (NL, H) */
    float *ln1_g;   /* (NL, H) attention output LayerNorm */
    float *ln1_b;   /* (NL, H) */
    float *fc_w;    /* (NL, F, H) intermediate dense */
    float *fc_b;    /* (NL, F) */
    float *fo_w;    /* (NL, H, F) output dense */
    float *fo_b;    /* (NL, H) */
    float *ln2_g;   /* (NL, H) output LayerNorm */
    float *ln2_b;   /* (NL, H) */
    float *o1_w;    /* (R·E, H) outputs_project.0 */
    float *o1_b;    /* (R·E) */
    float *o2_w;    /* (R·E, R·E) outputs_project.2 */
    float *o2_b;    /* (R·E) */
    float *lm_b;    /* (V+2) output bias (last two never used) */
} gd_params;

/* One named tensor of the table (names = the original checkpoint's). */
typedef struct {
    char name[64];
    int n_dims;        /* 1 or 2 */
    int64_t shape[2];  /* row-major: (rows, cols) or (n) */
    size_t offset;     /* floats from the start of the parameter buffer */
    size_t n;          /* elements */
} gd_tensor;

typedef struct gd_model gd_model;

gd_model *gd_model_new(const gd_config *cfg, char *err);
void gd_model_free(gd_model *m);
const gd_config *gd_model_config(const gd_model *m);
size_t gd_model_n_params(const gd_model *m);
float *gd_model_params(gd_model *m);          /* [n_params] */
float *gd_model_grads(gd_model *m);           /* [n_params], NULL until gd_model_alloc_training */
float *gd_model_adam_m(gd_model *m);          /* [n_params] first moments, or NULL */
float *gd_model_adam_v(gd_model *m);          /* [n_params] second moments, or NULL */
const gd_params *gd_model_p(const gd_model *m);
int gd_model_n_tensors(const gd_model *m);
const gd_tensor *gd_model_tensor(const gd_model *m, int i);
const gd_tensor *gd_model_find(const gd_model *m, const char *name);
/* Token features (P > 0): feat(v) for the V real tokens as CSR, off[V+1]
 * (off[0] = 0, non-decreasing) and idx[off[V]] in 0..P−1; copied. Until set,
 * every token has none (tok = word). */
int gd_model_set_features(gd_model *m, const int32_t *off, const int32_t *idx, char *err);
/* Number of (token, feature) pairs set (0 when P = 0). */
size_t gd_model_n_feature_pairs(const gd_model *m);
/* The token table of the last gd_forward, (V+2, E): tok = word + Σ features
 * (MODEL.md), = p.word when P = 0. The sampler's restricted logits use it. */
const float *gd_model_tok(const gd_model *m);
/* Normal(0, 0.02) weights, zero biases, unit LayerNorm gains, zero EMPTY row. */
void gd_model_init_random(gd_model *m, uint64_t seed);
/* Gradients and AdamW moments (training only). */
int gd_model_alloc_training(gd_model *m, char *err);
void gd_zero_grads(gd_model *m);

/* Forward to the output cells. x, cond: (B, R, L); t: (B); pos: (B, L) each
 * column's position in its bar (0..Q−1), required when Q > 0 and ignored when
 * Q = 0 (NULL is fine then). training: dropout on (masks drawn from the
 * model's RNG, seeded by gd_model_seed_dropout). */
int gd_forward(gd_model *m, const int32_t *x, const uint8_t *cond, const uint8_t *pos, const int32_t *t, int B, int L,
               int training, char *err);
/* Loss and (if backward) all gradients, after gd_forward with the same B, L.
 * Per cell in (B, L, R) order: target y, weights wt, wi and ri (wi, ri may be
 * NULL); returns Σ wt·(−log p(y)) + wi·(−log(ri + (1 − ri)·p(y))) (the loss of
 * MODEL.md with diffusion.h's weights). logits_out (B, L, R, V) and nll_out
 * (B, L, R) optional. */
double gd_loss_backward(gd_model *m, const int32_t *y, const float *wt, const float *wi, const float *ri,
                        float *logits_out, float *nll_out, int backward);
/* After gd_forward: the output cells (B, L, R, E). */
const float *gd_model_cells(const gd_model *m);
/* After gd_forward: p(token) for every cell, (B, L, R, V), into out. */
void gd_probs(gd_model *m, float *out);
void gd_model_seed_dropout(gd_model *m, uint64_t seed);
uint64_t gd_model_dropout_state(const gd_model *m);

/* AdamW on every parameter (decoupled weight decay, bias-corrected), step >= 1. */
void gd_adamw_step(gd_model *m, float lr, float beta1, float beta2, float eps, float weight_decay, int step);
/* Global L2 norm of the gradients. */
double gd_grad_norm(gd_model *m);

#endif
