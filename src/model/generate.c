/*
 * generate.c — the main job: write the missing tracks of a piece with a
 * GETDiff model (accompaniment, infilling, continuation, from scratch).
 *
 *   input score ─copy→ w (classes assigned, bars extended for continuation)
 *        │              │ transpose to C, quantise
 *        │              ▼
 *        │   c ──encode──→ grid (R, n_cols) + per-cell condition flags
 *        │                 target cells of the regenerated bars = MASK
 *        │                 │ windows of ≤ max_cols columns, bar aligned,
 *        │                 │ each sampled with gd_sample, later windows
 *        │                 ▼ conditioned on what earlier ones wrote
 *        │              grid ──decode──→ generated notes (in C)
 *        ▼                                   │ transpose back
 *   out = input copy, minus the replaced notes, plus the generated notes
 *
 * The output is built from the input itself, not from the decoded grid, so
 * every condition note comes back unchanged (tick, duration, velocity,
 * channel) whatever the grid's resolution or vocabulary could hold.
 */
#include "getmusic.h"

#include "diffusion.h"
#include "model.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

gm_generate_params gm_generate_default_params(void) {
    return (gm_generate_params){
        .chord_mode = GM_CHORDS_INPUT,
        /* Sampler defaults chosen by the musical figures and speed (models/README.md,
         * "Sampler settings"): 10 steps with chord guidance 1 and top-k 5 follow the
         * chords (piano CTR 0.93, counter 0.79 on 12 validation songs) better than
         * 100 plain steps (0.78 / 0.59), in about a tenth of the time. */
        .steps = 10, .temperature = 1.0f, .top_k = 5, .chord_guidance = 1.0f, .seed = 1,
        /* The drums sample narrower: on 30 validation songs temperature 0.5 for
         * the drum rows alone raised bar-to-bar repetition from 0.37 to 0.47 with
         * the other tracks' figures unchanged (models/README.md). */
        .drum_temperature = 0.5f,
        /* ...but whether a 16th has a hit at all is drawn first, from the summed
         * odds of every hit (two stages): sharpened with the rest, a hit's mass
         * spread over 217 compound tokens lost to the single <pad>, and the drums
         * dropped out (models/README.md, "Why the drums dropped out"). That draw
         * at 0.5 rather than the model's own odds (1) put the snare on both 2 and
         * 4 in 0.37 of bars instead of 0.30 and raised repetition from 0.44 to
         * 0.51 on all 113 validation songs, the harmony unchanged. */
        .drum_hit_temperature = 0.5f,
        /* Leaning the drums towards their style at 1.5 rather than 1 gives the
         * bundled example its backbeat in 15-16 bars of 16 instead of 9-14; on
         * the 113 validation songs (two seeds) both 2 and 4 0.72 against 0.71,
         * kick on 1 0.79 against 0.83 (models/README.md "Drum style guidance"). */
        .drum_style_guidance = 1.5f, .drum_chord_guidance = 1.0f,
    };
}

void gm_generate_report_free(gm_generate_report *rep) {
    if (!rep) return;
    free(rep->chords);
    rep->chords = NULL;
}


/* ======================================================================== */
/* Window plan                                                               */
/* ======================================================================== */

typedef struct { int a, e; } window; /* columns [a, e) */

/* Windows covering every column in `masked` (n_cols flags): each window
 * starts at a bar line, spans at most W columns, and ends at a bar line when
 * one fits. The first masked column of a later window has `ctx` columns of
 * context before it; when the rest of the work fits in one window, the
 * window is centred on it so infilling sees both sides. Returns the count
 * written to out (at most n_cols). */
static int plan_windows(const uint8_t *masked, const gm_barmap *bm, int W, int ctx, window *out) {
    const int n_cols = bm->n_cols;
    int last = -1, n = 0;
    for (int j = 0; j < n_cols; j++)
        if (masked[j]) last = j;
    int pos = 0;
    while (pos < n_cols && !masked[pos]) pos++;
    while (pos <= last) {
        int span = last + 1 - pos;
        int a = span < W ? pos - (W - span) / 2 : pos - ctx;
        if (a > n_cols - W) a = n_cols - W;
        if (a < 0) a = 0;
        if (a > pos) a = pos;
        /* Down to its bar line; then, while no bar line past pos is within
         * reach (snapping lost up to a bar), up one bar line at a time. */
        int b0 = gm_barmap_bar_of_col(bm, a), e = -1;
        for (; b0 <= bm->n_bars && bm->bar_col[b0] <= pos && e < 0; b0++) {
            a = bm->bar_col[b0];
            for (int b = b0 + 1; b <= bm->n_bars; b++) /* the last bar line within reach */
                if (bm->bar_col[b] <= a + W && bm->bar_col[b] > pos) e = bm->bar_col[b];
        }
        if (e < 0) { /* a bar longer than a window: cut inside it */
            a = pos;
            e = pos + W < n_cols ? pos + W : n_cols;
        }
        out[n++] = (window){a, e};
        pos = e;
        while (pos < n_cols && !masked[pos]) pos++;
    }
    return n;
}

/* ======================================================================== */
/* Progress across windows                                                   */
/* ======================================================================== */

typedef struct {
    const gm_generate_params *p;
    size_t done_before, total;
} progress_ctx;

static void window_progress(void *user, int step, int steps) {
    progress_ctx *pc = user;
    (void)steps;
    if (pc->p->progress) pc->p->progress(pc->p->user_data, pc->done_before + (size_t)step, pc->total);
}

/* ======================================================================== */
/* Helpers on scores                                                         */
/* ======================================================================== */

/* Bar of a note's onset as the grid sees it (onsets round to columns). */
static int onset_bar(const gm_barmap *bm, int64_t tick) { return gm_barmap_bar_of_col(bm, gm_barmap_tick_to_col(bm, tick)); }

/* Drops, from tracks of target classes, the notes whose onset bar is
 * regenerated (emptied tracks stay). Returns the number of notes dropped. */
static size_t drop_regenerated(gm_score *s, const gm_barmap *bm, uint32_t targets, const uint8_t *bar_masked) {
    size_t dropped = 0;
    for (int i = 0; i < s->n_tracks; i++) {
        gm_track *t = &s->tracks[i];
        if (t->cls < 0 || !(targets >> t->cls & 1)) continue;
        size_t k = 0, before = t->n_notes;
        for (size_t j = 0; j < t->n_notes; j++)
            if (!bar_masked[onset_bar(bm, t->notes[j].tick)]) t->notes[k++] = t->notes[j];
        t->n_notes = k;
        dropped += before - k;
    }
    return dropped;
}

/* A channel no track of s uses (never 9, the drum channel); 0 if all are. */
static int free_channel(const gm_score *s) {
    for (int ch = 0; ch < 16; ch++) {
        if (ch == 9) continue;
        int used = 0;
        for (int i = 0; i < s->n_tracks && !used; i++) used = s->tracks[i].channel == ch;
        if (!used) return ch;
    }
    return 0;
}

/* ======================================================================== */
/* gm_generate: one job, its steps in order                                  */
/* ======================================================================== */

/* Everything one call works on. Scores and arrays are owned by the job and
 * released by job_free (zeroed storage frees as nothing). */
typedef struct {
    gm_model *m;
    const gm_layout *l;
    const gm_vocab *v;
    gm_generate_params p;
    int nc, R, EMPTY, MASK, PAD;
    int F, Fg;              /* chords per bar: the model's, the given chords' */
    int W, ctx;             /* window columns, context columns before a later window's work */
    /* the piece */
    gm_score w;             /* the input as it will be: classes assigned, continuation's bars added */
    gm_score c;             /* the model's view: in C, quantised to the grid */
    gm_score dec;           /* the decoded grid (in C, then moved back) */
    int have_w, have_c, have_dec;
    gm_barmap bm0, bm;      /* of w (the input's bars) and of c (the grid's bars) */
    int n0, n_bars;         /* bars of the input, bars of the grid */
    gm_key key;
    int shift;              /* semitones w was moved by to reach C */
    uint32_t present, targets;   /* classes with notes; classes to write */
    uint8_t *bar_masked;    /* [n_bars] 1 = the targets are written in this bar */
    gm_chord *chords;       /* [n_bars·F] chord condition per frame, in C */
    uint8_t *bar_has_chord; /* [n_bars] */
    int harmonized;         /* the chords were chosen for a bare melody */
    /* the grid and its sampling */
    gm_grid g;              /* (R, L) tokens; target cells of masked bars = MASK */
    uint8_t *cond;          /* [R·L] 1 = condition cell */
    uint8_t *col_masked;    /* [L] 1 = a column with cells to write */
    uint8_t *bar_pos;       /* [L] each column's row of the bar-position table: its position in its
                               bar, in the drum style's block (models with bar positions) */
    int style;              /* the drum style's index (0 "any"; a model without styles: 0) */
    uint8_t *bar_pos_any;   /* [L] the same positions in block 0 ("any"): the unguided pass of drum
                               style guidance; NULL when the style is "any" */
    uint8_t *downbeats;     /* [L] 1 = a bar's first column: the style pass leaves it to the chords;
                               NULL when bar_pos_any is */
    int *lo, *hi;           /* [R] each row's allowed token range */
    uint8_t guide_rows[2 * GM_MAX_CLASSES + 2]; /* [R] rows blanked by chord guidance */
    float row_temp[2 * GM_MAX_CLASSES + 2];     /* [R] each row's sampling temperature */
    float row_pad_temp[2 * GM_MAX_CLASSES + 2]; /* [R] two-stage rows' hit-or-rest temperature, 0 = one stage */
    uint8_t drum_rows[2 * GM_MAX_CLASSES + 2];  /* [R] 1 = a row of a drum class */
    float chord_guide[2 * GM_MAX_CLASSES + 2];  /* [R] each row's weight of chord guidance */
    float style_guide[2 * GM_MAX_CLASSES + 2];  /* [R] each row's weight of drum style guidance */
    int n_win;
    /* results */
    size_t dropped, n_gen;
} gen_job;

static int oom(char *err) { return gm_fail(err, "out of memory while generating"); }

static void job_free(gen_job *j) {
    if (j->have_w) gm_score_free(&j->w);
    if (j->have_c) gm_score_free(&j->c);
    if (j->have_dec) gm_score_free(&j->dec);
    gm_barmap_free(&j->bm);
    gm_barmap_free(&j->bm0);
    gm_grid_free(&j->g);
    GM_FREE_ALL(j->bar_masked, j->chords, j->bar_has_chord, j->cond, j->col_masked, j->bar_pos, j->bar_pos_any,
                j->downbeats, j->lo, j->hi);
}

/* The drum style's block of the bar-position table (docs/MODEL.md "Drum
 * styles"): the one asked for, else the model's default. */
static int choose_drum_style(gen_job *j, char *err) {
    const char *want = j->p.drum_style ? j->p.drum_style : gm_model_drum_style_default(j->m);
    if ((j->style = gm_model_drum_style_find(j->m, want)) >= 0) return 0;
    char names[GM_MAX_DRUM_STYLES * (GM_DRUM_STYLE_NAME + 2)] = "";
    for (int i = 0; gm_model_drum_style_name(j->m, i); i++) {
        if (i) strcat(names, ", ");
        strcat(names, gm_model_drum_style_name(j->m, i));
    }
    return gm_fail(err, "drum style '%.32s' is not one of the model's: %s", want, names);
}

/* Requests that make no sense, refused before any work. */
static int check_request(gen_job *j, const gm_score *in, char *err) {
    const gm_generate_params *p = &j->p;
    const gm_model_params mp = gm_model_sizes(j->m);
    if (j->nc > 32) return gm_fail(err, "layout has %d classes; at most 32 supported", j->nc);
    if (p->targets >> j->nc) return gm_fail(err, "a target class is not in the model's layout '%s'", j->l->name);
    if (p->steps < 1 || p->steps > mp.diffusion_steps) return gm_fail(err, "steps must be in 1..%d", mp.diffusion_steps);
    if (!(p->temperature > 0) || !isfinite(p->temperature)) return gm_fail(err, "temperature must be a positive number");
    if (!(p->drum_temperature >= 0) || !isfinite(p->drum_temperature))
        return gm_fail(err, "drum temperature must be a positive number (or 0: the temperature)");
    if (!(p->drum_hit_temperature >= 0) || !isfinite(p->drum_hit_temperature))
        return gm_fail(err, "drum hit temperature must be a positive number (or 0: one stage)");
    if (p->top_k < 0) return gm_fail(err, "top-k must not be negative");
    if (choose_drum_style(j, err)) return -1;
    if (!(p->chord_guidance >= 0) || !isfinite(p->chord_guidance)) return gm_fail(err, "chord guidance must be a number >= 0");
    if (!(p->drum_style_guidance >= 0) || !isfinite(p->drum_style_guidance))
        return gm_fail(err, "drum style guidance must be a number >= 0");
    if (!(p->drum_chord_guidance >= 0) || !isfinite(p->drum_chord_guidance))
        return gm_fail(err, "drum chord guidance must be a number >= 0");
    if (p->chord_mode < GM_CHORDS_CONDITIONS || p->chord_mode > GM_CHORDS_HARMONIZE) return gm_fail(err, "unknown chord mode");
    if (p->chord_mode == GM_CHORDS_GIVEN && (!p->chords || p->n_chords < 1)) return gm_fail(err, "no chords given");
    if (j->Fg > GM_MAX_CHORD_FRAMES) return gm_fail(err, "%d chords per bar given; at most %d", j->Fg, GM_MAX_CHORD_FRAMES);
    if (p->chord_mode == GM_CHORDS_GIVEN && p->n_chords % j->Fg)
        return gm_fail(err, "%d chords do not make whole bars of %d", p->n_chords, j->Fg);
    if (p->continue_bars < 0 || p->continue_bars > GM_MAX_GENERATE_BARS)
        return gm_fail(err, "bars to continue must be in 0..%d", GM_MAX_GENERATE_BARS);
    if (p->n_ranges < 0 || (p->n_ranges > 0 && !p->ranges)) return gm_fail(err, "bad bar ranges");
    if (p->n_ranges && p->continue_bars) return gm_fail(err, "infill bars or continue a piece, not both at once");
    if (!in && p->continue_bars) return gm_fail(err, "nothing to continue: no input piece");
    if (!in && (p->new_bars < 1 || p->new_bars > GM_MAX_GENERATE_BARS))
        return gm_fail(err, "a new piece needs 1..%d bars", GM_MAX_GENERATE_BARS);
    j->W = p->window_cols > 0 ? p->window_cols : mp.max_cols;
    if (j->W > mp.max_cols) j->W = mp.max_cols;
    if (j->W < 1) return gm_fail(err, "bad window size");
    j->ctx = p->context_cols > 0 ? p->context_cols : j->W / 4;
    if (j->ctx > j->W / 2) j->ctx = j->W / 2;
    for (int i = 0; i < p->n_chords && p->chord_mode == GM_CHORDS_GIVEN; i++)
        if (p->chords[i].root < -1 || p->chords[i].root > 11 || p->chords[i].quality < -1 ||
            p->chords[i].quality >= GM_N_QUALITIES || (p->chords[i].root < 0) != (p->chords[i].quality < 0))
            return gm_fail(err, "chord %d is not a valid chord", i + 1);
    return 0;
}

/* w: the input (or an empty 4/4 piece of new_bars), classes assigned, with the
 * continuation's bars in the metre of the last one; c: w in C on the grid,
 * whose bar map (quantising may lengthen the piece by a bar) is the grid's. */
static int build_piece(gen_job *j, const gm_score *in, char *err) {
    if (in) {
        if (gm_score_copy(&j->w, in)) return gm_fail(err, "out of memory copying the input");
    } else {
        gm_score_init(&j->w, 480);
        j->have_w = 1;
        if (gm_score_add_tempo(&j->w, 0, 500000) || gm_score_add_timesig(&j->w, 0, 4, 4)) return oom(err);
        j->w.end_tick = (int64_t)j->p.new_bars * 4 * 480;
    }
    j->have_w = 1;
    gm_score_sort(&j->w);
    for (int i = 0; i < j->w.n_tracks; i++) j->w.tracks[i].cls = gm_layout_classify(j->l, &j->w.tracks[i]);
    if (gm_barmap_build(&j->bm0, &j->w, GM_STEPS_PER_QUARTER, err)) return -1;
    j->n0 = in ? j->bm0.n_bars : 0;
    if (j->p.continue_bars > 0) {
        const gm_barmap *b = &j->bm0;
        int64_t tpq = j->w.ticks_per_quarter, n = j->n0;
        int64_t len = ((int64_t)b->bar_num[n - 1] * 4 * tpq + b->bar_den[n - 1] / 2) / b->bar_den[n - 1];
        j->w.end_tick = b->bar_tick[n] + len * j->p.continue_bars;
    }
    j->key = gm_key_find(&j->w);
    j->shift = in ? gm_key_shift_to_c(j->key) : 0;
    if (gm_score_copy(&j->c, &j->w)) return oom(err);
    j->have_c = 1;
    gm_score_transpose(&j->c, j->shift);
    if (gm_score_quantize(&j->c, GM_STEPS_PER_QUARTER, err) || gm_barmap_build(&j->bm, &j->c, GM_STEPS_PER_QUARTER, err)) return -1;
    j->n_bars = j->bm.n_bars;
    return 0;
}

/* Which classes to write (asked for, or by default the missing ones; for a
 * continuation the present ones) and in which bars. */
static int choose_targets_and_bars(gen_job *j, char *err) {
    for (int i = 0; i < j->w.n_tracks; i++)
        if (j->w.tracks[i].cls >= 0 && j->w.tracks[i].n_notes) j->present |= 1u << j->w.tracks[i].cls;
    j->targets = j->p.targets;
    if (!j->targets) {
        uint32_t all = j->nc == 32 ? 0xFFFFFFFFu : (1u << j->nc) - 1;
        j->targets = j->p.continue_bars > 0 && j->present ? j->present : all & ~j->present;
        if (!j->targets) return gm_fail(err, "the input already has every track of the model; name the tracks to write");
    }
    if (!(j->bar_masked = calloc((size_t)j->n_bars, 1))) return oom(err);
    if (j->p.n_ranges) {
        for (int i = 0; i < j->p.n_ranges; i++) {
            const gm_bar_range *r = &j->p.ranges[i];
            if (r->first < 0 || r->last < r->first || r->last >= j->n_bars)
                return gm_fail(err, "bars %d-%d are outside the piece (bars 1-%d)", r->first + 1, r->last + 1, j->n_bars);
            memset(j->bar_masked + r->first, 1, (size_t)(r->last - r->first + 1));
        }
    } else if (j->p.continue_bars > 0) {
        if (j->n_bars > j->n0) memset(j->bar_masked + j->n0, 1, (size_t)(j->n_bars - j->n0));
    } else {
        memset(j->bar_masked, 1, (size_t)j->n_bars);
    }
    return 0;
}

/* Given chords repeat bar by bar, moved to C; a model of one chord per bar
 * takes the first half's (the chord on the downbeat). */
static void chords_from_given(gen_job *j) {
    const int F = j->F, Fg = j->Fg;
    for (int b = 0; b < j->n_bars; b++) {
        const gm_chord *gb = j->p.chords + (size_t)(b % (j->p.n_chords / Fg)) * Fg;
        for (int k = 0; k < F; k++) {
            gm_chord ch = gb[k * Fg / F];
            if (ch.root >= 0) ch.root = (int8_t)(((ch.root + j->shift) % 12 + 12) % 12);
            j->chords[b * F + k] = ch;
        }
        j->bar_has_chord[b] = 1;
    }
}

/* Asked to harmonise the melody of a fuller texture: the lead tracks are the
 * melody, when there are any. */
static void keep_leads(gm_score *s) {
    int leads = 0;
    for (int i = 0; i < s->n_tracks; i++) leads += !s->tracks[i].is_drum && s->tracks[i].n_notes && gm_track_role(&s->tracks[i]) == GM_ROLE_LEAD;
    for (int i = 0; i < s->n_tracks && leads; i++)
        if (gm_track_role(&s->tracks[i]) != GM_ROLE_LEAD) s->tracks[i].n_notes = 0;
}

/* Recognised from the notes the model keeps (or all of them): bars with no
 * pitched note there get no chord rather than a neighbour's. A bare melody
 * (or --chords harmonize) has its chords chosen instead, in every bar from
 * its first note to its last: a bar of rest in a tune still has harmony. */
static int chords_from_notes(gen_job *j, char *err) {
    gm_score cs;
    if (gm_score_copy(&cs, &j->c)) return oom(err);
    if (j->p.chord_mode == GM_CHORDS_CONDITIONS) drop_regenerated(&cs, &j->bm, j->targets, j->bar_masked);
    if (j->p.chord_mode == GM_CHORDS_HARMONIZE) keep_leads(&cs);
    int first = j->n_bars, last = -1, rc = 0;
    for (int i = 0; i < cs.n_tracks; i++) {
        if (cs.tracks[i].is_drum) continue;
        for (size_t k = 0; k < cs.tracks[i].n_notes; k++) {
            int b = onset_bar(&j->bm, cs.tracks[i].notes[k].tick);
            if (b < 0 || b >= j->n_bars) continue;
            j->bar_has_chord[b] = 1;
            first = b < first ? b : first;
            last = b > last ? b : last;
        }
    }
    j->harmonized = last >= 0 && (j->p.chord_mode == GM_CHORDS_HARMONIZE || gm_score_is_bare_melody(&cs));
    if (j->harmonized) {
        memset(j->bar_has_chord + first, 1, (size_t)(last - first + 1));
        rc = gm_chords_harmonize(&cs, &j->bm, j->F, gm_model_harmonizer(j->m), j->chords, err);
    } else if (last >= 0) {
        rc = gm_chords_recognize_frames(&cs, &j->bm, j->F, j->chords, err);
    }
    gm_score_free(&cs);
    for (int b = 0; b < j->n_bars; b++)
        for (int k = 0; k < j->F && !j->bar_has_chord[b]; k++) j->chords[b * j->F + k] = (gm_chord){-1, -1};
    return rc;
}

/* The chord condition per frame (F per bar, in C), as the chord mode says. */
static int choose_chords(gen_job *j, char *err) {
    size_t n = (size_t)j->n_bars * j->F;
    if (!(j->chords = malloc(n * sizeof *j->chords)) || !(j->bar_has_chord = calloc((size_t)j->n_bars, 1))) return oom(err);
    for (size_t i = 0; i < n; i++) j->chords[i] = (gm_chord){-1, -1};
    if (j->p.chord_mode == GM_CHORDS_GIVEN) chords_from_given(j);
    else if (j->p.chord_mode != GM_CHORDS_NONE) return chords_from_notes(j, err);
    return 0;
}

/* The grid of c with the chords; target cells of masked bars become MASK,
 * every other non-EMPTY cell a condition; each row's allowed tokens. */
static int encode_grid(gen_job *j, char *err) {
    const int R = j->R;
    gm_encode_stats st;
    if (gm_grid_encode_frames(&j->g, &j->c, j->l, j->v, j->chords, j->F, &st, err)) return -1;
    if (j->g.n_cols != j->bm.n_cols || j->g.bm.n_bars != j->n_bars)
        return gm_fail(err, "internal: grid has %d columns, bar map %d", j->g.n_cols, j->bm.n_cols);
    const int L = j->g.n_cols;
    if (!(j->cond = calloc((size_t)R * L, 1)) || !(j->col_masked = calloc((size_t)L, 1)) || !(j->bar_pos = malloc((size_t)L)))
        return oom(err);
    gm_barmap_positions(&j->bm, j->bar_pos, GM_BAR_POSITIONS);
    if (j->style > 0) {
        if (!(j->bar_pos_any = malloc((size_t)L)) || !(j->downbeats = malloc((size_t)L))) return oom(err);
        memcpy(j->bar_pos_any, j->bar_pos, (size_t)L);
        for (int c = 0; c < L; c++) j->downbeats[c] = j->bar_pos[c] == 0;
    }
    for (int c = 0; c < L; c++) j->bar_pos[c] = (uint8_t)(j->bar_pos[c] + j->style * GM_BAR_POSITIONS);
    int32_t *tok = j->g.tok; /* (R, L) */
    const int root_row = gm_row_chord_root(j->nc), qual_row = gm_row_chord_quality(j->nc);
    for (int b = 0; b < j->n_bars; b++)
        if (!j->bar_has_chord[b])
            for (int c = j->bm.bar_col[b]; c < j->bm.bar_col[b + 1]; c++)
                tok[(size_t)root_row * L + c] = tok[(size_t)qual_row * L + c] = j->EMPTY;
    for (int r = 0; r < R; r++) {
        int cls = gm_row_class(j->nc, r);
        int is_target = cls >= 0 && (j->targets >> cls & 1);
        for (int b = 0; b < j->n_bars; b++)
            for (int c = j->bm.bar_col[b]; c < j->bm.bar_col[b + 1]; c++) {
                size_t i = (size_t)r * L + c;
                if (is_target && j->bar_masked[b]) {
                    tok[i] = j->MASK;
                    j->col_masked[c] = 1;
                } else {
                    j->cond[i] = tok[i] != j->EMPTY;
                }
            }
    }
    if (!(j->lo = malloc((size_t)R * sizeof *j->lo)) || !(j->hi = malloc((size_t)R * sizeof *j->hi))) return oom(err);
    for (int r = 0; r < R; r++)
        if (gm_vocab_row_range(j->v, r, &j->lo[r], &j->hi[r]))
            return gm_fail(err, "model vocabulary has no token range for row %d", r);
    j->guide_rows[root_row] = j->guide_rows[qual_row] = 1;
    for (int r = 0; r < R; r++) {
        int cls = gm_row_class(j->nc, r);
        j->drum_rows[r] = cls >= 0 && j->l->cls[cls].is_drum;
        j->row_temp[r] = j->drum_rows[r] && j->p.drum_temperature > 0 ? j->p.drum_temperature : j->p.temperature;
        /* the drum pitch row: hit or rest first, then which hit (gd_sample_params) */
        j->row_pad_temp[r] = j->drum_rows[r] && r == 2 * cls ? j->p.drum_hit_temperature : 0.0f;
    }
    return 0;
}

/* Classifier-free guidance in the window starting at column a: towards the
 * chords (every row, chord_guidance) where chords are given, and for the
 * drum rows towards the drum style (drum_style_guidance, against style
 * "any") where one is chosen (models/README.md "Drum style guidance"). */
static void set_guidance(gen_job *j, gd_sample_params *sp, int chord_cells, int a) {
    for (int r = 0; r < j->R; r++) {
        j->chord_guide[r] = !chord_cells ? 0.0f : j->drum_rows[r] ? j->p.drum_chord_guidance : j->p.chord_guidance;
        j->style_guide[r] = j->drum_rows[r] && j->bar_pos_any ? j->p.drum_style_guidance : 0.0f;
    }
    sp->row_guidance = j->chord_guide;
    sp->guide_rows = j->guide_rows;
    sp->style_guidance = j->style_guide;
    sp->pos_unguided = j->bar_pos_any ? j->bar_pos_any + a : NULL;
    /* The chords place the kick on the downbeat, the style the rest of the
     * bar: the style pass leaves each bar's first column alone (the bundled
     * example at g_s 1.5, seeds 1-4: a backbeat in 15, 15, 16, 15 bars of 16,
     * against 12, 15, 16, 13 guided there too; on the validation songs within
     * noise, models/README.md "Drum style guidance"). */
    sp->style_free_cols = j->downbeats ? j->downbeats + a : NULL;
    /* The drums' places are chosen in the first steps: guided in the first
     * 30% only (3 of the default 10), the style's backbeat stays (113
     * validation songs at g_s 1: both 2 and 4 in 0.71 of bars against 0.74
     * guided every step) at about a tenth more time instead of nearly half
     * (models/README.md "Drum style guidance"). */
    sp->style_steps = (3 * j->p.steps + 9) / 10;
}

/* One window [a, a + Lw) of the grid through the sampler, and what it wrote
 * back into the grid as conditions for the windows after it. xs (R, Lw) and
 * xc (R, Lw) are scratch. */
static int sample_window(gen_job *j, int k, int a, int Lw, int32_t *xs, uint8_t *xc, progress_ctx *pc, char *err) {
    const int R = j->R, L = j->g.n_cols;
    int chord_cells = 0;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < Lw; c++) {
            xs[(size_t)r * Lw + c] = j->g.tok[(size_t)r * L + a + c];
            xc[(size_t)r * Lw + c] = j->cond[(size_t)r * L + a + c];
            if (gm_row_is_chord(j->nc, r)) chord_cells += xc[(size_t)r * Lw + c];
        }
    gd_sample_params sp = gd_sample_default_params();
    sp.steps = j->p.steps;
    sp.temperature = j->p.temperature;
    sp.row_temperature = j->row_temp;
    sp.row_pad_temperature = j->row_pad_temp;
    sp.top_k = j->p.top_k;
    sp.seed = j->p.seed * 0x9E3779B97F4A7C15ull + (uint64_t)k + 1; /* a stream per window */
    set_guidance(j, &sp, chord_cells, a);
    sp.progress = window_progress;
    sp.user_data = pc;
    sp.cancel = j->p.cancel;
    pc->done_before = (size_t)k * j->p.steps;
    if (gd_sample(gm_model_net(j->m), xs, xc, j->bar_pos + a, Lw, j->lo, j->hi, j->PAD, &sp, err)) return -1;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < Lw; c++) {
            size_t i = (size_t)r * L + a + c;
            if (j->g.tok[i] == j->MASK) {
                j->g.tok[i] = xs[(size_t)r * Lw + c];
                j->cond[i] = 1;
            }
        }
    return 0;
}

/* Every masked cell written, window by window (see plan_windows). */
static int sample_grid(gen_job *j, char *err) {
    const int L = j->g.n_cols;
    window *win = malloc((size_t)(L + 1) * sizeof *win);
    int32_t *xs = malloc((size_t)j->R * j->W * sizeof *xs);
    uint8_t *xc = malloc((size_t)j->R * j->W);
    int rc = win && xs && xc ? 0 : oom(err);
    if (!rc) j->n_win = plan_windows(j->col_masked, &j->bm, j->W, j->ctx, win);
    progress_ctx pc = {&j->p, 0, (size_t)j->n_win * j->p.steps};
    for (int k = 0; !rc && k < j->n_win; k++) rc = sample_window(j, k, win[k].a, win[k].e - win[k].a, xs, xc, &pc, err);
    for (size_t i = 0; !rc && i < (size_t)j->R * L; i++)
        if (j->g.tok[i] == j->MASK) rc = gm_fail(err, "internal: cell %zu was left unwritten", i);
    GM_FREE_ALL(win, xs, xc);
    return rc;
}

/* The generated notes of one decoded class into out's track of that class
 * (a new one when the input has none), in the regenerated bars only; a note
 * held past the last bar line ends there. Generated drums are written as the
 * General MIDI keys they mean (the model learnt Groove's Roland keys). */
static int merge_class(gen_job *j, const gm_track *dt, gm_score *out) {
    int ti = -1;
    for (int i = 0; i < out->n_tracks && ti < 0; i++)
        if (out->tracks[i].cls == dt->cls) ti = i;
    const gm_class *k = &j->l->cls[dt->cls];
    if (ti < 0) {
        ti = gm_score_add_track(out, k->name, k->out_program, k->is_drum ? 9 : free_channel(out), k->is_drum);
        if (ti < 0) return -1;
        out->tracks[ti].cls = dt->cls;
    } else if (!out->tracks[ti].n_notes) {
        /* Every note of the input track was replaced: what it holds now is
         * the model's, so its old name ("BD", "Strings 2") would lie. */
        gm_strlcpy(out->tracks[ti].name, k->name, sizeof out->tracks[ti].name);
    }
    gm_track *t = &out->tracks[ti];
    const int64_t end = j->bm.bar_tick[j->n_bars];
    for (size_t i = 0; i < dt->n_notes; i++) {
        const gm_note *nt = &dt->notes[i];
        if (!j->bar_masked[onset_bar(&j->bm, nt->tick)]) continue;
        int64_t dur = nt->tick + nt->duration > end ? (end - nt->tick > 0 ? end - nt->tick : 1) : nt->duration;
        int pitch = k->is_drum ? gm_drum_key_gm(nt->pitch) : nt->pitch;
        if (gm_track_add_note(t, nt->tick, dur, pitch, nt->velocity, t->channel)) return -1;
        t->notes[t->n_notes - 1].flags |= GM_NOTE_GENERATED;
        j->n_gen++;
    }
    return 0;
}

/* out = the input, minus the replaced notes, plus the decoded notes moved
 * back to the input's key; target tracks left empty are removed. */
static int merge_output(gen_job *j, gm_score *out, char *err) {
    if (gm_grid_decode(&j->g, j->l, j->v, &j->c, &j->dec, err)) return -1;
    j->have_dec = 1;
    gm_score_transpose(&j->dec, -j->shift);
    if (gm_score_copy(out, &j->w)) return oom(err);
    /* Emptied tracks stay until the new notes are in, so that infilled notes
     * join the track they belong to. */
    j->dropped = drop_regenerated(out, &j->bm, j->targets, j->bar_masked);
    for (int i = 0; i < j->dec.n_tracks; i++) {
        const gm_track *dt = &j->dec.tracks[i];
        if (dt->cls < 0 || !(j->targets >> dt->cls & 1)) continue;
        if (merge_class(j, dt, out)) { gm_score_free(out); return oom(err); }
    }
    for (int i = 0; i < out->n_tracks; i++) {
        gm_track *t = &out->tracks[i];
        if (t->n_notes || t->cls < 0 || !(j->targets >> t->cls & 1)) continue;
        free(t->notes);
        memmove(t, t + 1, (size_t)(out->n_tracks - i - 1) * sizeof *t);
        out->n_tracks--;
        i--;
    }
    gm_score_sort(out);
    if (out->end_tick < j->w.end_tick) out->end_tick = j->w.end_tick;
    return 0;
}

/* What was done, for the caller; the chords are handed over (in the input's key). */
static void fill_report(gen_job *j, gm_generate_report *rep) {
    rep->n_bars = j->n_bars;
    rep->n_windows = j->n_win;
    rep->shift = j->shift;
    rep->key = j->key;
    rep->targets = j->targets;
    rep->given = j->present & ~j->targets;
    for (int i = 0; i < j->w.n_tracks; i++) rep->n_unmapped += j->w.tracks[i].cls < 0;
    rep->notes_kept = gm_score_n_notes(&j->w) - j->dropped;
    rep->notes_generated = j->n_gen;
    for (int b = 0; b < j->n_bars; b++) rep->chords_given |= j->bar_has_chord[b];
    rep->chords_harmonized = j->harmonized && rep->chords_given;
    rep->chord_frames_per_bar = j->F;
    gm_strlcpy(rep->drum_style, gm_model_drum_style_name(j->m, j->style), sizeof rep->drum_style);
    for (int i = 0; i < j->n_bars * j->F; i++)
        if (j->chords[i].root >= 0) j->chords[i].root = (int8_t)(((j->chords[i].root - j->shift) % 12 + 12) % 12);
    rep->chords = j->chords;
    j->chords = NULL;
}

int gm_generate(gm_model *m, const gm_score *in, const gm_generate_params *pp, gm_score *out,
                gm_generate_report *rep, char *err) {
    if (rep) memset(rep, 0, sizeof *rep);
    if (!m) return gm_fail(err, "no model");
    gen_job j;
    memset(&j, 0, sizeof j);
    j.m = m;
    j.l = gm_model_layout(m);
    j.v = gm_model_vocab(m);
    j.p = pp ? *pp : gm_generate_default_params();
    j.nc = j.l->n_classes;
    j.R = gm_layout_rows(j.l);
    j.EMPTY = gm_vocab_empty(j.v);
    j.MASK = gm_vocab_mask(j.v);
    j.PAD = gm_vocab_pad(j.v);
    j.F = gm_model_chord_frames(m);
    j.Fg = j.p.chord_frames_per_bar > 0 ? j.p.chord_frames_per_bar : 1;
    int rc = check_request(&j, in, err) || build_piece(&j, in, err) || choose_targets_and_bars(&j, err) ||
             choose_chords(&j, err) || encode_grid(&j, err) || sample_grid(&j, err) || merge_output(&j, out, err)
                 ? -1
                 : 0;
    if (!rc && rep) fill_report(&j, rep);
    job_free(&j);
    return rc;
}
