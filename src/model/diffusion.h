/*
 * diffusion.h — absorbing-state discrete diffusion over GETScore grids
 * (docs/MODEL.md): schedule, corruption, loss weights, importance sampling of
 * timesteps, and the confidence-ordered sampler.
 */
#ifndef GM_DIFFUSION_H
#define GM_DIFFUSION_H
#include <stddef.h>
#include <stdint.h>

#include "getdiff.h"
#include "util.h"

#define GD_MAX_T 1000

typedef struct {
    int T;
    double att[GD_MAX_T]; /* cumulative keep probability at t */
    double ctt[GD_MAX_T]; /* cumulative mask probability at t */
} gd_schedule;

void gd_schedule_init(gd_schedule *s, int T);
/* KL weight of a masked cell at t: 1 − ctt[t−1]/ctt[t] (1 at t = 0). */
double gd_schedule_a(const gd_schedule *s, int t);

/* xt = x0 with each target cell (cond 0, not EMPTY) replaced by MASK with
 * probability ctt[t]. x0, cond, xt: (B, R, L); t: (B). rng: state in/out. */
void gd_corrupt(int32_t *xt, const int32_t *x0, const uint8_t *cond, const int32_t *t, int B, int R, int L, int V,
                const gd_schedule *s, uint64_t *rng);

/* Per-cell targets and loss weights in the (B, L, R) order of the model's
 * cells, so that the loss of MODEL.md is
 *   Σ_cells wt·(−log p(y)) + wi·(−log(ri + (1 − ri)·p(y)))
 * with norm = 1/(n_b·pt_b):
 *   t > 0, masked:  wt = w·(a_t + aux)·norm, wi = 0
 *   t > 0, intact:  wt = w·aux·norm,         wi = w·norm, ri = r_t
 *   t = 0:          wt = w·(1 + aux)·norm,   wi = 0
 * (w = 1 target, 0.5 condition, 0 EMPTY; aux = 0.001·(2 − t/T)). y is 0 where w is 0. */
void gd_loss_weights(int32_t *y, float *wt, float *wi, float *ri, const int32_t *x0, const int32_t *xt,
                     const uint8_t *cond, const int32_t *t, const float *pt, int B, int R, int L, int V,
                     const gd_schedule *s);
/* L_b per sample (what importance sampling tracks) from per-cell NLLs and
 * the weights above, all (B, L, R). out: (B). */
void gd_sample_losses(double *out, const float *nll, const float *wt, const float *wi, const float *ri, int B, int R,
                      int L);

/* Importance sampling of t on sqrt(E[L_t²]) (uniform until each t has 10 samples). */
typedef struct {
    int T;
    float Lt2[GD_MAX_T];   /* float: stored exactly in checkpoints */
    int32_t count[GD_MAX_T];
} gd_tsampler;
void gd_tsampler_init(gd_tsampler *ts, int T);
/* Draws t and its probability pt. */
int gd_tsampler_draw(const gd_tsampler *ts, uint64_t *rng, float *pt);
/* Records a sample's main loss per cell at t. */
void gd_tsampler_update(gd_tsampler *ts, int t, double loss);

/* ---- sampling ----------------------------------------------------------- */
typedef struct {
    int steps;           /* denoising steps, 1..T (T = the full schedule) */
    float temperature;   /* > 0; 1 = the model's distribution */
    const float *row_temperature; /* [R] each row's own temperature (> 0), or NULL: `temperature` for all */
    /* [R] or NULL: > 0 samples that row in two stages: first <pad> or not
     * from the summed mass of the row's other tokens, sharpened by this
     * temperature only (1 = the model's odds), then which token at the row's
     * temperature and top-k. One stage would let the sharpening decide
     * presence: a hit's mass spread over many compound tokens loses to one
     * <pad> (models/README.md, "Why the drums dropped out"). 0: one stage. */
    const float *row_pad_temperature;
    int top_k;           /* 0 = off; else sample among the k most likely allowed tokens */
    uint64_t seed;
    /* Classifier-free guidance on some rows (the chords): each step also runs
     * the network with those rows blanked to EMPTY (what training does 75% of
     * the time) and samples from log p = (1+g)·log p(·|x) − g·log p(·|x minus
     * rows), renormalised. g = 0 (default) or guide_rows NULL: off; one
     * forward of batch 2 instead of 1 when on. */
    float guidance;
    const uint8_t *guide_rows; /* [R] 1 = a row to blank in the unguided pass, or NULL: none */
    /* [R] or NULL: each row's own weight for that pass instead of `guidance`. */
    const float *row_guidance;
    /* Guidance towards a drum style (models/README.md "Drum style guidance"):
     * a second unguided pass with other bar positions, pos_unguided (L), the
     * same columns in block 0 ("any"), and its own weights per row,
     * style_guidance [R]. Both passes on, a row samples from
     * log p(·|x) + g_c·(log p(·|x) − log p(·|x minus rows)) + g_s·(log p(·|x) − log p(·|x, any)).
     * NULL either: off. Batch 1 + the passes on (each on when some row's weight
     * is > 0 and the pass differs: a blanked row, or positions given). */
    const uint8_t *pos_unguided;
    const float *style_guidance;
    /* [L] or NULL: 1 = a column the style pass leaves unguided (generate: each
     * bar's downbeat, where the chords place the kick; models/README.md "Drum
     * style guidance"). */
    const uint8_t *style_free_cols;
    int style_steps;     /* > 0: the style pass runs in the first style_steps steps only (the
                            drums' places are mostly chosen early; a third batch costs ~45%
                            more time a step); 0: every step */
    void (*progress)(void *user_data, int step, int steps);
    void *user_data;
    const volatile int *cancel; /* set non-zero: stop before the next step, fail with "cancelled" */
} gd_sample_params;

gd_sample_params gd_sample_default_params(void);

/* Generates every MASK cell of x (R, L) in place. cond (R, L): 1 for given
 * cells. pos (L): each column's position in its bar (docs/MODEL.md "Bar
 * positions"), required by a model with bar positions, else may be NULL.
 * Row r may only take tokens in [lo[r], hi[r]) or `pad`. EMPTY cells stay
 * EMPTY. Returns 0, or -1 with err. Same seed, same result. */
int gd_sample(gd_model *m, int32_t *x, const uint8_t *cond, const uint8_t *pos, int L, const int *lo, const int *hi,
              int pad, const gd_sample_params *p, char *err);

/* The random numbers (gd_rng_next, gd_rng_uniform) live in util.h. */

#endif
