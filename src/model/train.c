/*
 * train.c — the trainer: data, target selection, the diffusion loss, AdamW
 * with warm-up and linear decay, gradient clipping, EMA weights, validation,
 * checkpoints that resume bit for bit, and (in MPI builds) data parallelism.
 *
 * Files next to OUT (the model, EMA weights, what generation uses):
 *   OUT.ckpt        checkpoint: the model's keys and current weights, plus
 *                   train.* keys and tensors (Adam moments, EMA, RNG states,
 *                   importance-sampling history, data position)
 *   OUT.log.jsonl   one JSON object per report: step, loss, val_loss, lr, ...
 * Both are written atomically (temporary file + fsync + rename): a process
 * killed at any moment leaves the previous complete file in place.
 */
#include "diffusion.h"
#include "getmusic.h"
#include "gguf.h"
#include "model.h"
#include "nn.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef GM_MPI
#include <mpi.h>
#endif

gm_train_params gm_train_default_params(void) {
    return (gm_train_params){
        .sizes = gm_model_default_params(),
        .batch = 4, .accum = 1, .steps = 20000, .warmup = 1000,
        .lr = 1e-4f, .lr_min = 1e-6f, .weight_decay = 0.01f, .clip = 0.5f,
        .ema_decay = 0.9f, .ema_every = 100,
        .eval_every = 500, .eval_segments = 64, .ckpt_every = 500,
        .seed = 1234, .chord_given = 0.25f, .world = 1,
    };
}

/* ======================================================================== */
/* Training state                                                            */
/* ======================================================================== */

typedef struct { float chord_given, accomp, drum_overlay; } task_mix;

typedef struct {
    const gm_train_params *p;
    gm_corpus corpus;
    gm_model *model;
    gd_model *net;
    size_t n_params;
    float *ema;              /* [n_params] EMA weights */
    uint32_t *train_idx;     /* [n_train] segment indices of the training split */
    uint32_t *valid_idx;     /* [n_valid] */
    size_t n_train, n_valid;
    uint32_t *perm;          /* [n_train] this epoch's order */
    /* resumable state */
    int step, epoch;
    uint64_t pos;            /* next position in perm */
    uint64_t rng;            /* data, targets, timesteps, corruption */
    gd_tsampler ts;
    gd_schedule sch;
    /* batch buffers, B = batch */
    int B, R, W, V;
    int32_t *x0, *xt, *y, *t;   /* (B, R, W) ×2, (B, W, R), (B) */
    uint8_t *cond;              /* (B, R, W) */
    uint8_t *bar_pos;           /* (B, W) bar positions of each sample's segment */
    int *overlay_bar;           /* (2 + GM_BAR_POSITIONS, W) overlay_drums' bar numbers and (bar, position) table */
    float *wt, *wi, *ri, *nll;  /* (B, W, R) */
    float *pt;                  /* (B) */
    double *lb;                 /* (B) */
    FILE *log;
    /* task mix */
    task_mix mix;                /* in force (validation: the original's) */
    int lead_class, drum_class;  /* the class named "lead" (else 0); the drum class (-1: none) */
    uint32_t *drum_pool;         /* [n_drum_pool] drums-only training segments (Groove parts) */
    size_t n_drum_pool;
} trainer;

static void trainer_free(trainer *tr) {
    gm_corpus_free(&tr->corpus);
    gm_model_free(tr->model);
    GM_FREE_ALL(tr->ema, tr->train_idx, tr->valid_idx, tr->perm, tr->drum_pool, tr->x0, tr->xt, tr->y, tr->t,
                tr->cond, tr->bar_pos, tr->overlay_bar, tr->wt, tr->wi, tr->ri, tr->nll, tr->pt, tr->lb);
    if (tr->log) fclose(tr->log);
}

/* Fisher–Yates with its own generator, so an epoch's order depends only on
 * (seed, epoch): a resumed run rebuilds it instead of storing it. */
static void make_perm(trainer *tr) {
    uint64_t s = tr->p->seed * 0x9E3779B97F4A7C15ull + (uint64_t)tr->epoch * 0xD1B54A32D192ED03ull + 1;
    for (size_t i = 0; i < tr->n_train; i++) tr->perm[i] = tr->train_idx[i];
    for (size_t i = tr->n_train; i > 1; i--) {
        size_t j = (size_t)(gd_rng_next(&s) % i);
        uint32_t tmp = tr->perm[i - 1];
        tr->perm[i - 1] = tr->perm[j];
        tr->perm[j] = tmp;
    }
}

/* ======================================================================== */
/* One sample: segment → (x0, cond) with the original's target selection      */
/* ======================================================================== */

/* Bar b (from the segment's first column) of a segment's bar positions, per
 * column, into bar[W]; returns how many bars. A first column off the
 * downbeat starts bar 0 part way. */
static int number_bars(const uint8_t *pos, int W, int *bar) {
    int b = 0;
    for (int l = 0; l < W; l++) bar[l] = b += l > 0 && pos[l] == 0;
    return b + 1;
}

/* Drum rows of a random drums-only training segment (a Groove part) into a
 * segment that has none, over the columns where the song goes on: Groove
 * drums are otherwise only ever alone in the corpus, so drums generated next
 * to a melody would be out of distribution. Laid bar by bar: each column
 * takes the drum column of the same bar and bar position (a position the
 * drum bar lacks is a rest; bars past the part's last start it again). Laid
 * column by column instead, a song's odd bar (3 or 5 beats, a quarter of
 * POP909's segments have one) shifted the rest of the part off the song's
 * bar positions: 27% of the overlays taught drums on the wrong beats. */
static void overlay_drums(trainer *tr, int32_t *x0, const uint8_t *pos, uint64_t *rng) {
    const int R = tr->R, W = tr->W, V = tr->V, dc = tr->drum_class, pad = gm_vocab_pad(NULL);
    const int nc = (R - 2) / 2, drum_row = gm_row_pitch(dc);
    for (int l = 0; l < W; l++)
        if (x0[drum_row * W + l] != V) return;        /* the segment has drums */
    const size_t k = tr->drum_pool[gd_rng_next(rng) % tr->n_drum_pool];
    const uint16_t *d = tr->corpus.tokens + k * R * W;
    const uint8_t *dpos = tr->corpus.seg_pos + k * W;
    int *dbar = tr->overlay_bar, *sbar = tr->overlay_bar + W, *at = tr->overlay_bar + 2 * W;
    const int nb = number_bars(dpos, W, dbar);
    number_bars(pos, W, sbar);
    for (int i = 0; i < nb * GM_BAR_POSITIONS; i++) at[i] = -1; /* (bar, position) → drum column */
    for (int l = 0; l < W; l++) at[dbar[l] * GM_BAR_POSITIONS + dpos[l]] = l;
    for (int l = 0; l < W; l++) {
        int live = 0;
        for (int c = 0; c < nc && !live; c++) live = x0[gm_row_pitch(c) * W + l] != V;
        const int from = at[(sbar[l] % nb) * GM_BAR_POSITIONS + pos[l]];
        for (int r = drum_row; r <= gm_row_duration(dc); r++)
            x0[r * W + l] = !live ? V : from < 0 ? pad : d[r * W + from];
    }
}

/* The lead class (the accompaniment task's given track) and the pool of
 * drums-only training segments for the overlay: full-length drum parts
 * when there are at least 16 of them, else any drums-only segment. */
static int find_task_classes(trainer *tr, char *err) {
    const gm_layout *l = &tr->corpus.layout;
    const int R = tr->R, W = tr->W, V = tr->V, nc = (R - 2) / 2;
    tr->lead_class = 0;
    tr->drum_class = -1;
    for (int c = 0; c < l->n_classes; c++) {
        if (!strcmp(l->cls[c].name, "lead")) tr->lead_class = c;
        if (l->cls[c].is_drum && tr->drum_class < 0) tr->drum_class = c;
    }
    if (tr->drum_class < 0) return 0;
    if (!(tr->drum_pool = malloc((tr->n_train + 1) * sizeof *tr->drum_pool))) return gm_fail(err, "out of memory");
    for (int pass = 0; pass < 2 && tr->n_drum_pool < 16; pass++) {
        tr->n_drum_pool = 0;
        for (size_t i = 0; i < tr->n_train; i++) {
            const uint16_t *s = tr->corpus.tokens + (size_t)tr->train_idx[i] * R * W;
            int others = 0, full = 1, any = 0;
            for (int c = 0; c < nc; c++)
                for (int l2 = 0; l2 < W; l2++) {
                    int on = s[gm_row_pitch(c) * W + l2] != V;
                    if (c == tr->drum_class) { any |= on; full &= on; }
                    else others |= on;
                }
            if (any && !others && (pass == 1 || full)) tr->drum_pool[tr->n_drum_pool++] = tr->train_idx[i];
        }
    }
    return 0;
}

/* Target selection. The original's: 10% of samples keep one present track
 * alone (the others become EMPTY); otherwise k ~ U[1, present] tracks are
 * targets and the rest conditions; chord rows a condition with probability
 * chord_given (0.25), else EMPTY. With probability accomp (when the lead and
 * another track are present) the accompaniment task instead: lead and chords
 * given, every other present track a target. */
static void make_sample(trainer *tr, uint32_t seg, int b, uint64_t *rng) {
    const int R = tr->R, W = tr->W, V = tr->V, nc = (R - 2) / 2;
    int32_t *x0 = tr->x0 + (size_t)b * R * W;
    uint8_t *cond = tr->cond + (size_t)b * R * W;
    const uint16_t *src = tr->corpus.tokens + (size_t)seg * R * W;
    for (int i = 0; i < R * W; i++) x0[i] = src[i];
    memcpy(tr->bar_pos + (size_t)b * W, tr->corpus.seg_pos + (size_t)seg * W, (size_t)W);
    if (tr->mix.drum_overlay > 0 && tr->n_drum_pool && gd_rng_uniform(rng) < tr->mix.drum_overlay)
        overlay_drums(tr, x0, tr->bar_pos + (size_t)b * W, rng);
    int present[GM_MAX_CLASSES], np = 0, lead_present = 0;
    for (int c = 0; c < nc; c++) {
        int any = 0;
        for (int l = 0; l < W && !any; l++) any = x0[gm_row_pitch(c) * W + l] != V;
        if (any) present[np++] = c;
        if (any && c == tr->lead_class) lead_present = 1;
    }
    int role[GM_MAX_CLASSES]; /* 0 absent/blanked, 1 target, 2 condition */
    memset(role, 0, sizeof role);
    int chords_given;
    if (tr->mix.accomp > 0 && lead_present && np > 1 && gd_rng_uniform(rng) < tr->mix.accomp) {
        for (int i = 0; i < np; i++) role[present[i]] = present[i] == tr->lead_class ? 2 : 1;
        chords_given = 1;
    } else {
        if (np > 0) {
            if (gd_rng_uniform(rng) < 0.1) {
                role[present[gd_rng_next(rng) % (uint64_t)np]] = 1;
            } else {
                int k = 1 + (int)(gd_rng_next(rng) % (uint64_t)np);
                for (int i = np - 1; i > 0; i--) { /* shuffle present, first k are targets */
                    int j = (int)(gd_rng_next(rng) % (uint64_t)(i + 1));
                    int tmp = present[i];
                    present[i] = present[j];
                    present[j] = tmp;
                }
                for (int i = 0; i < np; i++) role[present[i]] = i < k ? 1 : 2;
            }
        }
        chords_given = gd_rng_uniform(rng) >= 1.0 - tr->mix.chord_given;
    }
    for (int r = 0; r < R; r++) {
        int c = gm_row_class(nc, r), rl = c >= 0 ? role[c] : chords_given ? 2 : 0;
        for (int l = 0; l < W; l++) {
            size_t i = (size_t)r * W + l;
            if (rl == 0) x0[i] = V;
            cond[i] = rl == 2 && x0[i] != V;
        }
    }
}

/* Fills the batch from `segs` (B of them) with targets, timesteps,
 * corruption and loss weights. Each sample has its own generator, derived
 * from `base` and its index in the global batch, so that N processes of
 * batch B draw exactly what one process of batch N·B draws. t is drawn by
 * importance sampling, or uniformly when `uniform_t`. */
static void make_batch(trainer *tr, const uint32_t *segs, int B, uint64_t base, int first_global, int uniform_t) {
    const int R = tr->R, W = tr->W;
    for (int b = 0; b < B; b++) {
        uint64_t s = base ^ (0x9E3779B97F4A7C15ull * (uint64_t)(first_global + b + 1));
        gd_rng_next(&s);
        make_sample(tr, segs[b], b, &s);
        if (uniform_t) {
            tr->t[b] = (int32_t)(gd_rng_next(&s) % (uint64_t)tr->sch.T);
            tr->pt[b] = 1.0f / tr->sch.T;
        } else {
            tr->t[b] = gd_tsampler_draw(&tr->ts, &s, &tr->pt[b]);
        }
        size_t o = (size_t)b * R * W;
        gd_corrupt(tr->xt + o, tr->x0 + o, tr->cond + o, &tr->t[b], 1, R, W, tr->V, &tr->sch, &s);
    }
    gd_loss_weights(tr->y, tr->wt, tr->wi, tr->ri, tr->x0, tr->xt, tr->cond, tr->t, tr->pt, B, R, W, tr->V, &tr->sch);
}

/* ======================================================================== */
/* Checkpoints                                                               */
/* ======================================================================== */

static int save_checkpoint(trainer *tr, const char *path, char *err) {
    gguf_writer *w = gguf_writer_new();
    if (!w) return gm_fail(err, "out of memory");
    int bad = gm_model_to_gguf(tr->model, w, "getmusic train checkpoint");
    bad |= gguf_set_u32(w, "train.step", (uint32_t)tr->step);
    bad |= gguf_set_u32(w, "train.epoch", (uint32_t)tr->epoch);
    bad |= gguf_set_u64(w, "train.pos", tr->pos);
    bad |= gguf_set_u64(w, "train.rng", tr->rng);
    bad |= gguf_set_u64(w, "train.dropout_rng", gd_model_dropout_state(tr->net));
    bad |= gguf_set_u64(w, "train.seed", tr->p->seed);
    bad |= gguf_set_u32(w, "train.corpus_segments", (uint32_t)tr->corpus.n_segments);
    bad |= gguf_set_arr_f32(w, "train.Lt2", tr->ts.Lt2, (size_t)tr->ts.T);
    bad |= gguf_set_arr_i32(w, "train.Lt_count", tr->ts.count, (size_t)tr->ts.T);
    int64_t ne[1] = {(int64_t)tr->n_params};
    bad |= gguf_add_tensor(w, "train.adam_m", GGUF_TENSOR_F32, 1, ne, gd_model_adam_m(tr->net));
    bad |= gguf_add_tensor(w, "train.adam_v", GGUF_TENSOR_F32, 1, ne, gd_model_adam_v(tr->net));
    bad |= gguf_add_tensor(w, "train.ema", GGUF_TENSOR_F32, 1, ne, tr->ema);
    int rc = bad ? gm_fail(err, "out of memory building the checkpoint") : gguf_write_file(w, path, err);
    gguf_writer_free(w);
    return rc;
}

static int load_checkpoint(trainer *tr, const char *path, char *err) {
    char e2[GM_ERR_SIZE];
    gguf_ctx *g = gguf_open(path, err);
    if (!g) return -1;
    int rc = -1;
    uint32_t step, epoch, nseg;
    uint64_t seed;
    const void *d;
    size_t n;
    if (!(tr->model = gm_model_from_gguf(g, path, err))) goto out;
    if (gguf_get_u32(g, "train.step", &step, e2) || gguf_get_u32(g, "train.epoch", &epoch, e2) ||
        gguf_get_u64(g, "train.pos", &tr->pos, e2) || gguf_get_u64(g, "train.rng", &tr->rng, e2) ||
        gguf_get_u64(g, "train.seed", &seed, e2) || gguf_get_u32(g, "train.corpus_segments", &nseg, e2)) {
        gm_fail(err, "%s: not a training checkpoint (%s)", path, e2);
        goto out;
    }
    if (seed != tr->p->seed) { gm_fail(err, "%s was trained with --seed %llu, not %llu", path, (unsigned long long)seed, (unsigned long long)tr->p->seed); goto out; }
    if (nseg != tr->corpus.n_segments) { gm_fail(err, "%s was trained on another corpus (%u segments, this one has %zu)", path, nseg, tr->corpus.n_segments); goto out; }
    tr->step = (int)step;
    tr->epoch = (int)epoch;
    uint64_t drng;
    if (gguf_get_u64(g, "train.dropout_rng", &drng, e2)) { gm_fail(err, "%s: %s", path, e2); goto out; }
    tr->net = gm_model_net(tr->model);
    gd_model_seed_dropout(tr->net, drng);
    if (gguf_get_arr_data(g, "train.Lt2", GGUF_TYPE_FLOAT32, &d, &n, e2) || n != (size_t)tr->sch.T) { gm_fail(err, "%s: bad train.Lt2", path); goto out; }
    memcpy(tr->ts.Lt2, d, n * sizeof(float));
    if (gguf_get_arr_data(g, "train.Lt_count", GGUF_TYPE_INT32, &d, &n, e2) || n != (size_t)tr->sch.T) { gm_fail(err, "%s: bad train.Lt_count", path); goto out; }
    memcpy(tr->ts.count, d, n * sizeof(int32_t));
    tr->n_params = gd_model_n_params(tr->net);
    if (gd_model_alloc_training(tr->net, err)) goto out;
    if (!(tr->ema = malloc(tr->n_params * sizeof(float)))) { gm_fail(err, "out of memory"); goto out; }
    int64_t ne[1] = {(int64_t)tr->n_params};
    if (gguf_read_f32(g, "train.adam_m", 1, ne, gd_model_adam_m(tr->net), e2) ||
        gguf_read_f32(g, "train.adam_v", 1, ne, gd_model_adam_v(tr->net), e2) ||
        gguf_read_f32(g, "train.ema", 1, ne, tr->ema, e2)) {
        gm_fail(err, "%s: %s", path, e2);
        goto out;
    }
    rc = 0;
out:
    gguf_close(g);
    return rc;
}

/* Swaps the live weights with the EMA weights (for evaluation and saving). */
static void swap_ema(trainer *tr) {
    float *w = gd_model_params(tr->net);
    for (size_t i = 0; i < tr->n_params; i++) {
        float t = w[i];
        w[i] = tr->ema[i];
        tr->ema[i] = t;
    }
}

/* Saves OUT (EMA weights) and OUT.ckpt; both atomic. */
static int save_all(trainer *tr, char *err) {
    char path[4200], src[256];
    snprintf(src, sizeof src, "getmusic train: %d steps, EMA %.3g every %d, corpus %s", tr->step, tr->p->ema_decay,
             tr->p->ema_every, tr->p->corpus);
    swap_ema(tr);
    int rc = gm_model_save(tr->model, tr->p->out, src, err);
    swap_ema(tr);
    if (rc) return -1;
    snprintf(path, sizeof path, "%s.ckpt", tr->p->out);
    return save_checkpoint(tr, path, err);
}

/* ======================================================================== */
/* Validation                                                                */
/* ======================================================================== */

/* Mean per-cell loss ((main + aux)/n) of the EMA weights on a fixed set of
 * validation segments, targets, timesteps and masks: comparable across steps
 * and runs with the same seed. NaN when there is no validation split. */
static double validate(trainer *tr, char *err) {
    if (!tr->n_valid) return NAN;
    int n = tr->p->eval_segments < (int)tr->n_valid ? tr->p->eval_segments : (int)tr->n_valid;
    uint64_t base = tr->p->seed ^ 0xA5A5A5A5DEADBEEFull;
    double sum = 0;
    int count = 0;
    swap_ema(tr);
    /* The original task mix whatever the training mix: validation losses stay
     * comparable across recipes. */
    task_mix mix = tr->mix;
    tr->mix.chord_given = 0.25f;
    tr->mix.accomp = tr->mix.drum_overlay = 0;
    for (int a = 0; a < n; a += tr->B) {
        int B = n - a < tr->B ? n - a : tr->B;
        uint32_t segs[256];
        for (int b = 0; b < B; b++) segs[b] = tr->valid_idx[(size_t)(a + b) * tr->n_valid / n];
        make_batch(tr, segs, B, base, a, 1); /* uniform t from a fixed generator */
        if (gd_forward(tr->net, tr->xt, tr->cond, tr->bar_pos, tr->t, B, tr->W, 0, err)) { swap_ema(tr); tr->mix = mix; return NAN; }
        gd_loss_backward(tr->net, tr->y, tr->wt, tr->wi, tr->ri, NULL, tr->nll, 0);
        gd_sample_losses(tr->lb, tr->nll, tr->wt, tr->wi, tr->ri, B, tr->R, tr->W);
        for (int b = 0; b < B; b++) { sum += tr->lb[b] * tr->pt[b]; count++; }
    }
    swap_ema(tr);
    tr->mix = mix;
    return count ? sum / count : NAN;
}

/* ======================================================================== */
/* The loop                                                                  */
/* ======================================================================== */

static double lr_at(const gm_train_params *p, int step) {
    if (step < p->warmup) return p->lr * (double)(step + 1) / p->warmup;
    double f = p->steps > p->warmup ? (double)(step - p->warmup) / (p->steps - p->warmup) : 1.0;
    if (f > 1) f = 1;
    return p->lr + (p->lr_min - p->lr) * f;
}

static int vocab_equal(const gm_vocab *a, const gm_vocab *b) {
    if (gm_vocab_size(a) != gm_vocab_size(b)) return 0;
    for (int i = 0; i < gm_vocab_size(a); i++)
        if (strcmp(gm_vocab_token(a, i), gm_vocab_token(b, i))) return 0;
    return 1;
}

static int check_train_params(const gm_train_params *p, char *err) {
    if (!p->corpus || !p->out) return gm_fail(err, "training needs a corpus and an output path");
    if (p->batch < 1 || p->batch > 256 || p->accum < 1 || p->steps < 1 || p->warmup < 0 || !(p->lr > 0) ||
        p->ema_every < 1 || p->eval_every < 1 || p->ckpt_every < 1 || !(p->ema_decay >= 0 && p->ema_decay < 1) ||
        p->world < 1 || p->world > 64 || p->rank < 0 || p->rank >= p->world || p->eval_segments < 1)
        return gm_fail(err, "invalid training parameters");
    if (strlen(p->out) > 4000) return gm_fail(err, "output path too long");
    if (!(p->chord_given >= 0 && p->chord_given <= 1 && p->accomp >= 0 && p->accomp <= 1 && p->drum_overlay >= 0 &&
          p->drum_overlay <= 1))
        return gm_fail(err, "task-mix probabilities must be in [0, 1]");
    return 0;
}

/* The corpus, its split, the task mix and the data generator. */
static int load_data(trainer *tr, char *err) {
    const gm_train_params *p = tr->p;
    if (gm_corpus_load(&tr->corpus, p->corpus, err)) return -1;
    tr->R = tr->corpus.n_rows;
    tr->W = tr->corpus.window_cols;
    tr->V = gm_vocab_size(tr->corpus.vocab);
    gd_schedule_init(&tr->sch, p->sizes.diffusion_steps);
    gd_tsampler_init(&tr->ts, p->sizes.diffusion_steps);
    size_t n = tr->corpus.n_segments + 1;
    tr->train_idx = malloc(n * sizeof *tr->train_idx);
    tr->valid_idx = malloc(n * sizeof *tr->valid_idx);
    tr->perm = malloc(n * sizeof *tr->perm);
    if (!tr->train_idx || !tr->valid_idx || !tr->perm) return gm_fail(err, "out of memory");
    for (size_t i = 0; i < tr->corpus.n_segments; i++) {
        if (tr->corpus.seg_valid[i]) tr->valid_idx[tr->n_valid++] = (uint32_t)i;
        else tr->train_idx[tr->n_train++] = (uint32_t)i;
    }
    if (!tr->n_train) return gm_fail(err, "%s has no training segments", p->corpus);
    tr->mix = (task_mix){p->chord_given, p->accomp, p->drum_overlay};
    tr->rng = p->seed * 0x2545F4914F6CDD1Dull + 7;
    return find_task_classes(tr, err);
}

/* --init: the model file's weights, on the corpus' vocabulary; bar positions
 * asked for over a model without them start as a zero table, so the continued
 * model first computes exactly what it did. */
static int init_from_file(trainer *tr, char *err) {
    const gm_train_params *p = tr->p;
    if (!(tr->model = gm_model_load(p->init, err))) return -1;
    if (gm_model_sizes(tr->model).drum_styles) /* the corpus knows no styles; python/train.py reads them from file names */
        return gm_fail(err, "--init %s has drum styles; train it with python/train.py --drum-styles", p->init);
    if (p->sizes.bar_positions && !gm_model_sizes(tr->model).bar_positions && gm_model_add_bar_positions(tr->model, err))
        return -1;
    if (!vocab_equal(gm_model_vocab(tr->model), tr->corpus.vocab) || gm_layout_rows(gm_model_layout(tr->model)) != tr->R)
        return gm_fail(err, "--init %s: its vocabulary (%d tokens, %d rows) does not fit the corpus' (%d tokens, %d rows);"
                       " prepare the corpus with --vocab from the model", p->init, gm_vocab_size(gm_model_vocab(tr->model)),
                       gm_layout_rows(gm_model_layout(tr->model)), tr->V, tr->R);
    return 0;
}

/* The model: resumed from OUT.ckpt, fine-tuned from --init, or new. */
static int set_up_model(trainer *tr, char *err) {
    const gm_train_params *p = tr->p;
    char path[4200];
    snprintf(path, sizeof path, "%s.ckpt", p->out);
    if (p->resume) {
        if (access(path, R_OK)) return gm_fail(err, "--resume: no checkpoint %s", path);
        if (load_checkpoint(tr, path, err)) return -1;
    } else {
        if (p->init ? init_from_file(tr, err)
                    : !(tr->model = gm_model_new(&p->sizes, &tr->corpus.layout, tr->corpus.vocab, p->seed, err)))
            return -1;
        tr->net = gm_model_net(tr->model);
        gd_model_seed_dropout(tr->net, p->seed ^ 0x1234567887654321ull);
        tr->n_params = gd_model_n_params(tr->net);
        if (gd_model_alloc_training(tr->net, err)) return -1;
        if (!(tr->ema = malloc(tr->n_params * sizeof(float)))) return gm_fail(err, "out of memory");
        memcpy(tr->ema, gd_model_params(tr->net), tr->n_params * sizeof(float));
    }
    /* The model encodes chords as its corpus did (also over --init models). */
    if (gm_model_set_chord_frames(tr->model, tr->corpus.chord_frames_per_bar, err)) return -1;
    const gd_config *c = gd_model_config(tr->net);
    if (c->max_cols < tr->W) return gm_fail(err, "the model takes %d columns, the corpus segments have %d", c->max_cols, tr->W);
    if (c->T != tr->sch.T) {
        gd_schedule_init(&tr->sch, c->T);
        if (!p->resume) gd_tsampler_init(&tr->ts, tr->sch.T);
    }
    return 0;
}

/* Batch buffers and (rank 0) the log. */
static int alloc_batch(trainer *tr, char *err) {
    const gm_train_params *p = tr->p;
    tr->B = p->batch;
    size_t nc = (size_t)tr->B * tr->R * tr->W;
    tr->x0 = malloc(nc * 4); tr->xt = malloc(nc * 4); tr->y = malloc(nc * 4); tr->t = malloc((size_t)tr->B * 4);
    tr->cond = malloc(nc); tr->bar_pos = malloc((size_t)tr->B * tr->W);
    tr->overlay_bar = malloc((size_t)(2 + GM_BAR_POSITIONS) * tr->W * sizeof *tr->overlay_bar);
    tr->wt = malloc(nc * 4); tr->wi = malloc(nc * 4); tr->ri = malloc(nc * 4); tr->nll = malloc(nc * 4);
    tr->pt = malloc((size_t)tr->B * 4); tr->lb = malloc((size_t)tr->B * sizeof(double));
    if (!tr->x0 || !tr->xt || !tr->y || !tr->t || !tr->cond || !tr->bar_pos || !tr->overlay_bar || !tr->wt ||
        !tr->wi || !tr->ri || !tr->nll || !tr->pt || !tr->lb)
        return gm_fail(err, "out of memory for a batch of %d", tr->B);
    if (p->rank == 0) {
        char path[4200];
        snprintf(path, sizeof path, "%s.log.jsonl", p->out);
        if (!(tr->log = fopen(path, p->resume ? "a" : "w"))) return gm_fail(err, "cannot write %s", path);
    }
    make_perm(tr);
    return 0;
}

/* Running figures between two reports. */
typedef struct {
    double t_start, t_report, loss_acc, val;
    int n_acc, step0;
    size_t cols_done;
} run_stats;

/* Importance sampling sees every sample of the global batch, in global
 * order, on every rank: the ranks' samplers stay equal. */
static void record_losses(trainer *tr, run_stats *rs) {
    const int world = tr->p->world, G = tr->B * world;
    int32_t all_t[256 * 64];
    double all_lb[256 * 64];
    float all_pt[256 * 64];
#ifdef GM_MPI
    if (world > 1) {
        MPI_Allgather(tr->t, tr->B, MPI_INT32_T, all_t, tr->B, MPI_INT32_T, MPI_COMM_WORLD);
        MPI_Allgather(tr->lb, tr->B, MPI_DOUBLE, all_lb, tr->B, MPI_DOUBLE, MPI_COMM_WORLD);
        MPI_Allgather(tr->pt, tr->B, MPI_FLOAT, all_pt, tr->B, MPI_FLOAT, MPI_COMM_WORLD);
    } else
#endif
    {
        (void)world;
        memcpy(all_t, tr->t, (size_t)tr->B * sizeof *all_t);
        memcpy(all_lb, tr->lb, (size_t)tr->B * sizeof *all_lb);
        memcpy(all_pt, tr->pt, (size_t)tr->B * sizeof *all_pt);
    }
    for (int b = 0; b < G; b++) {
        gd_tsampler_update(&tr->ts, all_t[b], all_lb[b]);
        rs->loss_acc += all_lb[b] * all_pt[b];
        rs->n_acc++;
    }
    rs->cols_done += (size_t)G * tr->W;
}

/* One micro-batch: every rank draws the whole global batch's segments, then
 * takes its share; forward, loss, gradients added to the accumulated ones. */
static int micro_batch(trainer *tr, run_stats *rs, char *err) {
    const gm_train_params *p = tr->p;
    uint32_t segs[256];
    for (int r = 0; r < p->world; r++)
        for (int b = 0; b < tr->B; b++) {
            if (tr->pos >= tr->n_train) { tr->epoch++; tr->pos = 0; make_perm(tr); }
            uint32_t s = tr->perm[tr->pos++];
            if (r == p->rank) segs[b] = s;
        }
    uint64_t base = gd_rng_next(&tr->rng); /* the same on every rank */
    make_batch(tr, segs, tr->B, base, p->rank * tr->B, 0);
    if (gd_forward(tr->net, tr->xt, tr->cond, tr->bar_pos, tr->t, tr->B, tr->W, 1, err)) return -1;
    gd_loss_backward(tr->net, tr->y, tr->wt, tr->wi, tr->ri, NULL, tr->nll, 1);
    gd_sample_losses(tr->lb, tr->nll, tr->wt, tr->wi, tr->ri, tr->B, tr->R, tr->W);
    record_losses(tr, rs);
    return 0;
}

/* Gradients summed over ranks, clipped, AdamW, the EMA. Returns the lr used. */
static float optimizer_step(trainer *tr) {
    const gm_train_params *p = tr->p;
    float *grads = gd_model_grads(tr->net), *w = gd_model_params(tr->net);
#ifdef GM_MPI
    if (p->world > 1) MPI_Allreduce(MPI_IN_PLACE, grads, (int)tr->n_params, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
#endif
    if (p->clip > 0) {
        double norm = gd_grad_norm(tr->net);
        if (norm > p->clip) {
            float s = (float)(p->clip / norm);
            for (size_t i = 0; i < tr->n_params; i++) grads[i] *= s;
        }
    }
    float lr = (float)lr_at(p, tr->step);
    gd_adamw_step(tr->net, lr, 0.9f, 0.999f, 1e-8f, p->weight_decay, tr->step + 1);
    tr->step++;
    if (tr->step % p->ema_every == 0)
        for (size_t i = 0; i < tr->n_params; i++) tr->ema[i] = p->ema_decay * tr->ema[i] + (1 - p->ema_decay) * w[i];
    return lr;
}

/* A line of the log and the progress callback (rank 0, every 2 s and at
 * every validation). */
static void report(trainer *tr, run_stats *rs, float lr, int evaluated) {
    const gm_train_params *p = tr->p;
    double tnow = gm_now_s();
    if (p->rank != 0 || !(evaluated || tnow - rs->t_report > 2.0 || tr->step == p->steps)) return;
    gm_train_progress pr = {.step = tr->step, .steps = p->steps, .epoch = tr->epoch,
                            .loss = rs->n_acc ? rs->loss_acc / rs->n_acc : NAN, .val_loss = rs->val, .lr = lr,
                            .cols_per_s = rs->cols_done / (tnow - rs->t_start), .evaluated = evaluated};
    pr.eta_s = (p->steps - tr->step) * (tnow - rs->t_start) / (tr->step - rs->step0);
    fprintf(tr->log, "{\"step\": %d, \"epoch\": %d, \"loss\": %.6f, \"lr\": %.3g, \"cols_per_s\": %.1f", pr.step, pr.epoch,
            pr.loss, pr.lr, pr.cols_per_s);
    if (evaluated && !isnan(rs->val)) fprintf(tr->log, ", \"val_loss\": %.6f", rs->val);
    fprintf(tr->log, ", \"time_s\": %.1f}\n", tnow - rs->t_start);
    fflush(tr->log);
    if (p->progress) p->progress(p->user_data, &pr);
    rs->loss_acc = 0;
    rs->n_acc = 0;
    rs->t_report = tnow;
}

/* Steps until --steps, --stop-after or a stop request; checkpoints on the way
 * and at the end. */
static int run_steps(trainer *tr, char *err) {
    const gm_train_params *p = tr->p;
    run_stats rs = {.val = NAN, .step0 = tr->step};
    rs.t_start = rs.t_report = gm_now_s();
    while (tr->step < p->steps) {
        if (p->stop && *p->stop) break;
        if (p->stop_after > 0 && tr->step - rs.step0 >= p->stop_after) break;
        gd_zero_grads(tr->net);
        for (int a = 0; a < p->accum; a++)
            if (micro_batch(tr, &rs, err)) return -1;
        float lr = optimizer_step(tr);
        int evaluated = tr->step % p->eval_every == 0 || tr->step == p->steps;
        if (evaluated) rs.val = validate(tr, err);
        report(tr, &rs, lr, evaluated);
        if (p->rank == 0 && tr->step % p->ckpt_every == 0 && tr->step < p->steps && save_all(tr, err)) return -1;
    }
    return p->rank == 0 ? save_all(tr, err) : 0;
}

int gm_train(const gm_train_params *p, char *err) {
    if (check_train_params(p, err)) return -1;
    if (p->threads > 0) nn_set_threads(p->threads);
    trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.p = p;
    int rc = load_data(&tr, err) || set_up_model(&tr, err) || alloc_batch(&tr, err) || run_steps(&tr, err) ? -1 : 0;
    trainer_free(&tr);
    return rc;
}
