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
    gm_generate_params p;
    memset(&p, 0, sizeof p);
    p.chord_mode = GM_CHORDS_INPUT;
    /* Sampler defaults chosen by the musical figures and speed (models/README.md,
     * "Sampler settings"): 10 steps with chord guidance 1 and top-k 5 follow the
     * chords (piano CTR 0.93, counter 0.79 on 12 validation songs) better than
     * 100 plain steps (0.78 / 0.59), in about a tenth of the time. */
    p.steps = 10;
    p.temperature = 1.0f;
    p.top_k = 5;
    p.chord_guidance = 1.0f;
    p.seed = 1;
    return p;
}

void gm_generate_report_free(gm_generate_report *rep) {
    if (!rep) return;
    free(rep->chords);
    rep->chords = NULL;
}

#define GRID_SPQ 4 /* grid steps per quarter (16th notes), as the model was trained */

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
/* gm_generate                                                               */
/* ======================================================================== */

int gm_generate(gm_model *m, const gm_score *in, const gm_generate_params *pp, gm_score *out,
                gm_generate_report *rep, char *err) {
    gm_generate_params p = pp ? *pp : gm_generate_default_params();
    if (rep) memset(rep, 0, sizeof *rep);
    if (!m) return gm_fail(err, "no model");
    const gm_layout *l = gm_model_layout(m);
    const gm_vocab *v = gm_model_vocab(m);
    const gm_model_params mp = gm_model_sizes(m);
    const int nc = l->n_classes, R = gm_layout_rows(l);
    const int EMPTY = gm_vocab_empty(v), MASK = gm_vocab_mask(v), PAD = gm_vocab_pad(v);
    const int F = gm_model_chord_frames(m); /* chords per bar, as the model was trained */
    const int Fg = p.chord_frames_per_bar > 0 ? p.chord_frames_per_bar : 1; /* of the given chords */

    /* ---- requests that make no sense ---- */
    if (nc > 32) return gm_fail(err, "layout has %d classes; at most 32 supported", nc);
    if (p.targets >> nc) return gm_fail(err, "a target class is not in the model's layout '%s'", l->name);
    if (p.steps < 1 || p.steps > mp.diffusion_steps) return gm_fail(err, "steps must be in 1..%d", mp.diffusion_steps);
    if (!(p.temperature > 0) || !isfinite(p.temperature)) return gm_fail(err, "temperature must be a positive number");
    if (p.top_k < 0) return gm_fail(err, "top-k must not be negative");
    if (!(p.chord_guidance >= 0) || !isfinite(p.chord_guidance)) return gm_fail(err, "chord guidance must be a number >= 0");
    if (p.chord_mode < GM_CHORDS_CONDITIONS || p.chord_mode > GM_CHORDS_NONE) return gm_fail(err, "unknown chord mode");
    if (p.chord_mode == GM_CHORDS_GIVEN && (!p.chords || p.n_chords < 1)) return gm_fail(err, "no chords given");
    if (Fg > GM_MAX_CHORD_FRAMES) return gm_fail(err, "%d chords per bar given; at most %d", Fg, GM_MAX_CHORD_FRAMES);
    if (p.chord_mode == GM_CHORDS_GIVEN && p.n_chords % Fg)
        return gm_fail(err, "%d chords do not make whole bars of %d", p.n_chords, Fg);
    if (p.continue_bars < 0 || p.continue_bars > 100000) return gm_fail(err, "bars to continue must be in 0..100000");
    if (p.n_ranges < 0 || (p.n_ranges > 0 && !p.ranges)) return gm_fail(err, "bad bar ranges");
    if (p.n_ranges && p.continue_bars) return gm_fail(err, "infill bars or continue a piece, not both at once");
    if (!in && p.continue_bars) return gm_fail(err, "nothing to continue: no input piece");
    if (!in && (p.new_bars < 1 || p.new_bars > 100000)) return gm_fail(err, "a new piece needs 1..100000 bars");
    int W = p.window_cols > 0 ? p.window_cols : mp.max_cols;
    if (W > mp.max_cols) W = mp.max_cols;
    if (W < 1) return gm_fail(err, "bad window size");
    int ctx = p.context_cols > 0 ? p.context_cols : W / 4;
    if (ctx > W / 2) ctx = W / 2;
    for (int i = 0; i < p.n_chords && p.chord_mode == GM_CHORDS_GIVEN; i++)
        if (p.chords[i].root < -1 || p.chords[i].root > 11 || p.chords[i].quality < -1 ||
            p.chords[i].quality >= GM_N_QUALITIES || (p.chords[i].root < 0) != (p.chords[i].quality < 0))
            return gm_fail(err, "chord %d is not a valid chord", i + 1);

    int rc = -1;
    gm_score w, c, cs, dec;
    int have_w = 0, have_c = 0, have_cs = 0, have_dec = 0, have_out = 0;
    gm_barmap bm = {0}, bm0 = {0};
    gm_grid g = {0};
    uint8_t *bar_masked = NULL, *col_masked = NULL, *cond = NULL, *bar_has_chord = NULL;
    gm_chord *chords = NULL;
    window *win = NULL;
    int32_t *xs = NULL;
    uint8_t *cs_cond = NULL;
    int *lo = NULL, *hi = NULL;
    uint8_t guide_rows[2 * GM_MAX_CLASSES + 2] = {0};

    /* ---- w: the piece as it will be, classes assigned ---- */
    if (in) {
        if (gm_score_copy(&w, in)) return gm_fail(err, "out of memory copying the input");
    } else {
        gm_score_init(&w, 480);
        if (gm_score_add_tempo(&w, 0, 500000) || gm_score_add_timesig(&w, 0, 4, 4)) {
            gm_score_free(&w);
            return gm_fail(err, "out of memory");
        }
        w.end_tick = (int64_t)p.new_bars * 4 * 480;
    }
    have_w = 1;
    gm_score_sort(&w);
    for (int i = 0; i < w.n_tracks; i++) w.tracks[i].cls = gm_layout_classify(l, &w.tracks[i]);
    if (gm_barmap_build(&bm0, &w, GRID_SPQ, err)) goto out;
    const int n0 = in ? bm0.n_bars : 0; /* bars of the input */
    if (p.continue_bars > 0) {
        /* New bars in the metre of the last one. */
        int64_t tpq = w.ticks_per_quarter;
        int64_t len = ((int64_t)bm0.bar_num[n0 - 1] * 4 * tpq + bm0.bar_den[n0 - 1] / 2) / bm0.bar_den[n0 - 1];
        w.end_tick = bm0.bar_tick[n0] + len * p.continue_bars;
    }
    /* c: the model's view, in C and on the grid; its bar map is the one the
     * grid gets (quantising may lengthen the piece by a bar). */
    gm_key key = gm_key_find(&w);
    int shift = in ? gm_key_shift_to_c(key) : 0;
    if (gm_score_copy(&c, &w)) goto oom;
    have_c = 1;
    gm_score_transpose(&c, shift);
    if (gm_score_quantize(&c, GRID_SPQ, err)) goto out;
    if (gm_barmap_build(&bm, &c, GRID_SPQ, err)) goto out;
    const int n_bars = bm.n_bars;

    /* ---- which classes, which bars ---- */
    uint32_t present = 0;
    for (int i = 0; i < w.n_tracks; i++)
        if (w.tracks[i].cls >= 0 && w.tracks[i].n_notes) present |= 1u << w.tracks[i].cls;
    uint32_t targets = p.targets;
    if (!targets) {
        uint32_t all = nc == 32 ? 0xFFFFFFFFu : (1u << nc) - 1;
        targets = p.continue_bars > 0 && present ? present : all & ~present;
        if (!targets) {
            gm_fail(err, "the input already has every track of the model; name the tracks to write");
            goto out;
        }
    }
    if (!(bar_masked = calloc((size_t)n_bars, 1))) goto oom;
    if (p.n_ranges) {
        for (int i = 0; i < p.n_ranges; i++) {
            const gm_bar_range *r = &p.ranges[i];
            if (r->first < 0 || r->last < r->first || r->last >= n_bars) {
                gm_fail(err, "bars %d-%d are outside the piece (bars 1-%d)", r->first + 1, r->last + 1, n_bars);
                goto out;
            }
            memset(bar_masked + r->first, 1, (size_t)(r->last - r->first + 1));
        }
    } else if (p.continue_bars > 0) {
        if (n_bars > n0) memset(bar_masked + n0, 1, (size_t)(n_bars - n0));
    } else {
        memset(bar_masked, 1, (size_t)n_bars);
    }

    /* ---- chords per frame (in C): F per bar ---- */
    if (!(chords = malloc((size_t)n_bars * F * sizeof *chords)) || !(bar_has_chord = calloc((size_t)n_bars, 1))) goto oom;
    for (int i = 0; i < n_bars * F; i++) chords[i] = (gm_chord){-1, -1};
    if (p.chord_mode == GM_CHORDS_GIVEN) {
        /* Given bars repeat bar by bar; a model of one chord per bar takes
         * the first half's (the chord on the downbeat). */
        for (int b = 0; b < n_bars; b++) {
            const gm_chord *gb = p.chords + (size_t)(b % (p.n_chords / Fg)) * Fg;
            for (int k = 0; k < F; k++) {
                gm_chord ch = gb[k * Fg / F];
                if (ch.root >= 0) ch.root = (int8_t)(((ch.root + shift) % 12 + 12) % 12);
                chords[b * F + k] = ch;
            }
            bar_has_chord[b] = 1;
        }
    } else if (p.chord_mode != GM_CHORDS_NONE) {
        /* From the notes the model keeps (or all of them): bars with no
         * pitched note there get no chord rather than a neighbour's. */
        if (gm_score_copy(&cs, &c)) goto oom;
        have_cs = 1;
        if (p.chord_mode == GM_CHORDS_CONDITIONS) drop_regenerated(&cs, &bm, targets, bar_masked);
        int any = 0;
        for (int i = 0; i < cs.n_tracks; i++) {
            if (cs.tracks[i].is_drum) continue;
            for (size_t k = 0; k < cs.tracks[i].n_notes; k++) {
                int b = onset_bar(&bm, cs.tracks[i].notes[k].tick);
                if (b >= 0 && b < n_bars) bar_has_chord[b] = any = 1;
            }
        }
        if (any && gm_chords_recognize_frames(&cs, &bm, F, chords, err)) goto out;
        for (int b = 0; b < n_bars; b++)
            for (int k = 0; k < F && !bar_has_chord[b]; k++) chords[b * F + k] = (gm_chord){-1, -1};
    }

    /* ---- the grid and its condition flags ---- */
    gm_encode_stats st;
    if (gm_grid_encode_frames(&g, &c, l, v, chords, F, &st, err)) goto out;
    if (g.n_cols != bm.n_cols || g.bm.n_bars != n_bars) {
        gm_fail(err, "internal: grid has %d columns, bar map %d", g.n_cols, bm.n_cols);
        goto out;
    }
    const int L = g.n_cols;
    if (!(cond = calloc((size_t)R * L, 1)) || !(col_masked = calloc((size_t)L, 1))) goto oom;
    for (int b = 0; b < n_bars; b++)
        if (!bar_has_chord[b])
            for (int j = bm.bar_col[b]; j < bm.bar_col[b + 1]; j++)
                g.tok[(size_t)(R - 2) * L + j] = g.tok[(size_t)(R - 1) * L + j] = EMPTY;
    for (int r = 0; r < R; r++) {
        int cls = r < R - 2 ? r / 2 : -1;
        int is_target = cls >= 0 && (targets >> cls & 1);
        for (int b = 0; b < n_bars; b++)
            for (int j = bm.bar_col[b]; j < bm.bar_col[b + 1]; j++) {
                size_t i = (size_t)r * L + j;
                if (is_target && bar_masked[b]) {
                    g.tok[i] = MASK;
                    col_masked[j] = 1;
                } else {
                    cond[i] = g.tok[i] != EMPTY;
                }
            }
    }

    /* ---- allowed tokens per row ---- */
    if (!(lo = malloc((size_t)R * sizeof *lo)) || !(hi = malloc((size_t)R * sizeof *hi))) goto oom;
    for (int r = 0; r < R; r++) {
        int which = r < R - 2 ? (r % 2 ? -3 : r / 2) : r == R - 2 ? -1 : -2;
        if (gm_vocab_range(v, which, &lo[r], &hi[r])) {
            gm_fail(err, "model vocabulary has no token range for row %d", r);
            goto out;
        }
    }
    guide_rows[R - 2] = guide_rows[R - 1] = 1;

    /* ---- windows ---- */
    if (!(win = malloc((size_t)(L + 1) * sizeof *win))) goto oom;
    int n_win = plan_windows(col_masked, &bm, W, ctx, win);
    if (!(xs = malloc((size_t)R * W * sizeof *xs)) || !(cs_cond = malloc((size_t)R * W))) goto oom;
    gd_model *net = gm_model_net(m);
    progress_ctx pc = {&p, 0, (size_t)n_win * p.steps};
    for (int k = 0; k < n_win; k++) {
        const int a = win[k].a, Lw = win[k].e - win[k].a;
        int chord_cells = 0;
        for (int r = 0; r < R; r++)
            for (int j = 0; j < Lw; j++) {
                xs[(size_t)r * Lw + j] = g.tok[(size_t)r * L + a + j];
                cs_cond[(size_t)r * Lw + j] = cond[(size_t)r * L + a + j];
                if (r >= R - 2) chord_cells += cond[(size_t)r * L + a + j];
            }
        gd_sample_params sp = gd_sample_default_params();
        sp.steps = p.steps;
        sp.temperature = p.temperature;
        sp.top_k = p.top_k;
        sp.seed = p.seed * 0x9E3779B97F4A7C15ull + (uint64_t)k + 1; /* a stream per window */
        sp.guidance = chord_cells ? p.chord_guidance : 0.0f;
        sp.guide_rows = guide_rows;
        sp.progress = window_progress;
        sp.user_data = &pc;
        sp.cancel = p.cancel;
        pc.done_before = (size_t)k * p.steps;
        if (gd_sample(net, xs, cs_cond, Lw, lo, hi, PAD, &sp, err)) goto out;
        /* What this window wrote conditions the windows after it. */
        for (int r = 0; r < R; r++)
            for (int j = 0; j < Lw; j++) {
                size_t i = (size_t)r * L + a + j;
                if (g.tok[i] == MASK) {
                    g.tok[i] = xs[(size_t)r * Lw + j];
                    cond[i] = 1;
                }
            }
    }
    for (size_t i = 0; i < (size_t)R * L; i++)
        if (g.tok[i] == MASK) {
            gm_fail(err, "internal: cell %zu was left unwritten", i);
            goto out;
        }

    /* ---- decode, move back to the input's key, merge into the input ---- */
    if (gm_grid_decode(&g, l, v, &c, &dec, err)) goto out;
    have_dec = 1;
    gm_score_transpose(&dec, -shift);
    if (gm_score_copy(out, &w)) goto oom;
    have_out = 1;
    /* Emptied tracks stay until the new notes are in, so that infilled
     * notes join the track they belong to. */
    size_t dropped = drop_regenerated(out, &bm, targets, bar_masked);
    size_t n_gen = 0;
    for (int i = 0; i < dec.n_tracks; i++) {
        const gm_track *dt = &dec.tracks[i];
        if (dt->cls < 0 || !(targets >> dt->cls & 1)) continue;
        int ti = -1;
        for (int j = 0; j < out->n_tracks && ti < 0; j++)
            if (out->tracks[j].cls == dt->cls) ti = j;
        const gm_class *k = &l->cls[dt->cls];
        if (ti < 0) {
            ti = gm_score_add_track(out, k->name, k->out_program, k->is_drum ? 9 : free_channel(out), k->is_drum);
            if (ti < 0) goto oom;
            out->tracks[ti].cls = dt->cls;
        } else if (!out->tracks[ti].n_notes) {
            /* Every note of the input track was replaced: what it holds now
             * is the model's, so its old name ("BD", "Strings 2") would lie. */
            gm_strlcpy(out->tracks[ti].name, k->name, sizeof out->tracks[ti].name);
        }
        gm_track *t = &out->tracks[ti];
        for (size_t k = 0; k < dt->n_notes; k++) {
            const gm_note *nt = &dt->notes[k];
            if (!bar_masked[onset_bar(&bm, nt->tick)]) continue;
            /* A note held past the last bar line ends there. */
            int64_t dur = nt->duration, end = bm.bar_tick[n_bars];
            if (nt->tick + dur > end) dur = end - nt->tick > 0 ? end - nt->tick : 1;
            if (gm_track_add_note(t, nt->tick, dur, nt->pitch, nt->velocity, t->channel)) goto oom;
            t->notes[t->n_notes - 1].flags |= GM_NOTE_GENERATED;
            n_gen++;
        }
    }
    /* Target tracks left with no note at all are removed. */
    for (int i = 0; i < out->n_tracks; i++) {
        gm_track *t = &out->tracks[i];
        if (t->n_notes || t->cls < 0 || !(targets >> t->cls & 1)) continue;
        free(t->notes);
        memmove(t, t + 1, (size_t)(out->n_tracks - i - 1) * sizeof *t);
        out->n_tracks--;
        i--;
    }
    gm_score_sort(out);
    if (out->end_tick < w.end_tick) out->end_tick = w.end_tick;

    if (rep) {
        rep->n_bars = n_bars;
        rep->n_windows = n_win;
        rep->shift = shift;
        rep->key = key;
        rep->targets = targets;
        rep->given = present & ~targets;
        for (int i = 0; i < w.n_tracks; i++) rep->n_unmapped += w.tracks[i].cls < 0;
        rep->notes_kept = gm_score_n_notes(&w) - dropped;
        rep->notes_generated = n_gen;
        rep->chords_given = 0;
        for (int b = 0; b < n_bars; b++) rep->chords_given |= bar_has_chord[b];
        rep->chord_frames_per_bar = F;
        rep->chords = chords; /* handed over, moved back to the input's key */
        for (int i = 0; i < n_bars * F; i++)
            if (chords[i].root >= 0) chords[i].root = (int8_t)(((chords[i].root - shift) % 12 + 12) % 12);
        chords = NULL;
    }
    rc = 0;
    goto out;
oom:
    gm_fail(err, "out of memory while generating");
out:
    if (rc && have_out) gm_score_free(out);
    if (have_w) gm_score_free(&w);
    if (have_c) gm_score_free(&c);
    if (have_cs) gm_score_free(&cs);
    if (have_dec) gm_score_free(&dec);
    gm_barmap_free(&bm);
    gm_barmap_free(&bm0);
    gm_grid_free(&g);
    free(bar_masked);
    free(col_masked);
    free(cond);
    free(bar_has_chord);
    free(chords);
    free(win);
    free(xs);
    free(cs_cond);
    free(lo);
    free(hi);
    return rc;
}
