/*
 * grid.c — the GETScore token grid: score → grid (encode), grid → score
 * (decode) and the grid as text (dump). The vocabulary it writes tokens of
 * is vocab.c.
 *
 * Facts taken from the original GETMusic preprocessing (microsoft/muzic,
 * getmusic/preprocess/{to_oct,binarize}.py, track_generation.py):
 *
 *   - A compound is every distinct pitch of one track starting at one grid
 *     step; the duration row holds the duration of the first note in
 *     (pitch, duration) order, i.e. of the lowest pitch (its shortest copy
 *     when repeated). Where a track has no onset both rows are <pad>.
 *   - Chord rows hold (root, quality) over all columns of a bar; a bar with
 *     no chord ("N.C.") is left as <pad> in both rows (track_generation.py).
 *   - A class whose pitch row is all <pad> becomes EMPTY in both rows.
 *
 * Our additions: bars of any metre take their own number of columns (from
 * gm_barmap); the chord rows may hold a chord per half bar
 * (gm_grid_encode_frames: the first ceil(n/2) columns of an n-column bar,
 * then the rest), as pop music often changes chord every two beats;
 * out-of-vocabulary compounds become their closest in-vocabulary subset.
 */
#include "getmusic.h"
#include "util.h"
#include "vocab.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================== */
/* Token grid: encode                                                        */
/* ======================================================================== */


static int check_vocab_layout(const gm_vocab *v, const gm_layout *l, char *err) {
    if (!v || !l) return gm_fail(err, "missing vocabulary or layout");
    if (v->n_classes != l->n_classes)
        return gm_fail(err, "vocabulary has %d track classes, layout '%s' has %d", v->n_classes, l->name,
                       l->n_classes);
    for (int c = 0; c < l->n_classes; c++)
        if (v->cls[c].prefix != l->cls[c].prefix || v->cls[c].is_drum != l->cls[c].is_drum)
            return gm_fail(err, "vocabulary class %d (prefix %c) does not match layout class '%s' (prefix %c)", c,
                           v->cls[c].prefix, l->cls[c].name, l->cls[c].prefix);
    return 0;
}

/* Column of a note end: nearest grid step (halves round up, as
 * gm_barmap_tick_to_col does) but not clamped to the last column, so a note
 * ending at or near the end of the piece keeps its length. */
static int64_t end_col(const gm_barmap *bm, int64_t tick) {
    int64_t tpq = bm->ticks_per_quarter, spq = bm->steps_per_quarter;
    if (tick <= 0) return 0;
    int64_t last = bm->bar_tick[bm->n_bars];
    if (tick >= last) return bm->n_cols + (2 * (tick - last) * spq + tpq) / (2 * tpq);
    int b = gm_barmap_bar_of_tick(bm, tick);
    int64_t c = bm->bar_col[b] + (2 * (tick - bm->bar_tick[b]) * spq + tpq) / (2 * tpq);
    return c < bm->bar_col[b + 1] ? c : bm->bar_col[b + 1];
}

/* One note of a class, placed on the grid. */
typedef struct {
    int32_t col;
    int32_t steps;      /* length in grid steps, >= 0 */
    uint8_t pitch;
} gnote;

static int cmp_gnote(const void *a, const void *b) {
    const gnote *x = a, *y = b;
    if (x->col != y->col) return x->col < y->col ? -1 : 1;
    if (x->pitch != y->pitch) return x->pitch < y->pitch ? -1 : 1;
    return (x->steps > y->steps) - (x->steps < y->steps);
}

int gm_grid_encode(gm_grid *g, const gm_score *s, const gm_layout *l, const gm_vocab *v,
                   const gm_chord *chords, gm_encode_stats *stats, char *err) {
    return gm_grid_encode_frames(g, s, l, v, chords, 1, stats, err);
}

/* Chord rows: each frame's root and quality over all its columns; a frame
 * with no chord stays <pad> (the original skips "N.C." bars); no chords at
 * all leaves the rows EMPTY. */
static int encode_chords(gm_grid *g, const gm_vocab *v, const gm_chord *chords, int frames, char *err) {
    const int R = g->n_rows, pad = gm_vocab_pad(v), empty = gm_vocab_empty(v);
    int32_t *rrow = g->tok + (size_t)(R - 2) * g->n_cols; /* [n_cols] chord roots */
    int32_t *qrow = g->tok + (size_t)(R - 1) * g->n_cols; /* [n_cols] chord qualities */
    for (int b = 0; b < g->bm.n_bars; b++)
        for (int k = 0; k < frames; k++) {
            int rt = empty, qt = empty;
            if (chords) {
                gm_chord ch = chords[b * frames + k];
                if (ch.root >= 0 && ch.root < 12 && ch.quality >= 0 && ch.quality < GM_N_QUALITIES)
                    rt = v->root_begin + ch.root, qt = v->qual_begin + ch.quality;
                else if (ch.root == -1)
                    rt = qt = pad;
                else
                    return gm_fail(err, "bar %d: invalid chord (root %d, quality %d)", b + 1, ch.root, ch.quality);
            }
            int j1 = gm_barmap_frame_col(&g->bm, b, frames, k + 1);
            for (int j = gm_barmap_frame_col(&g->bm, b, frames, k); j < j1; j++) rrow[j] = rt, qrow[j] = qt;
        }
    return 0;
}

int gm_grid_chords(const gm_grid *g, const gm_vocab *v, int frames, gm_chord *out, char *err) {
    if (!g || !g->tok || !v || !out) return gm_fail(err, "grid chords: null argument");
    if (frames < 1 || frames > GM_MAX_CHORD_FRAMES)
        return gm_fail(err, "grid chords: %d frames per bar (1..%d allowed)", frames, GM_MAX_CHORD_FRAMES);
    if (g->n_rows < 2) return gm_fail(err, "grid has no chord rows");
    const int32_t *rrow = g->tok + (size_t)(g->n_rows - 2) * g->n_cols;
    const int32_t *qrow = g->tok + (size_t)(g->n_rows - 1) * g->n_cols;
    for (int b = 0; b < g->bm.n_bars; b++)
        for (int k = 0; k < frames; k++) {
            int j = gm_barmap_frame_col(&g->bm, b, frames, k);
            gm_chord c = {-1, -1};
            if (j < gm_barmap_frame_col(&g->bm, b, frames, k + 1) && rrow[j] >= v->root_begin &&
                rrow[j] < v->root_begin + 12 && qrow[j] >= v->qual_begin && qrow[j] < v->qual_begin + GM_N_QUALITIES)
                c = (gm_chord){(int8_t)(rrow[j] - v->root_begin), (int8_t)(qrow[j] - v->qual_begin)};
            out[b * frames + k] = c;
        }
    return 0;
}

/* The bar map of s. It must cover every note even when end_tick is stale;
 * it only reads the score, so a shallow copy with a fixed end is enough. */
static int encode_barmap(gm_grid *g, const gm_score *s, char *err) {
    gm_score cover = *s;
    for (int i = 0; i < s->n_tracks; i++)
        for (size_t k = 0; k < s->tracks[i].n_notes; k++) {
            const gm_note *n = &s->tracks[i].notes[k];
            if (n->tick + n->duration > cover.end_tick) cover.end_tick = n->tick + n->duration;
        }
    return gm_barmap_build(&g->bm, &cover, GM_STEPS_PER_QUARTER, err);
}

/* The notes of the tracks of class c, placed on the grid, into gn; returns
 * how many. */
static size_t class_notes(const gm_grid *g, const gm_score *s, const int *track_cls, int c, gnote *gn) {
    size_t n = 0;
    for (int i = 0; i < s->n_tracks; i++) {
        if (track_cls[i] != c) continue;
        const gm_track *t = &s->tracks[i];
        for (size_t k = 0; k < t->n_notes; k++) {
            const gm_note *nt = &t->notes[k];
            int col = gm_barmap_tick_to_col(&g->bm, nt->tick);
            int64_t steps = end_col(&g->bm, nt->tick + nt->duration) - col;
            gn[n].col = col;
            gn[n].steps = (int32_t)(steps < 0 ? 0 : steps > INT32_MAX ? INT32_MAX : steps);
            gn[n].pitch = nt->pitch;
            n++;
        }
    }
    return n;
}

/* The notes gn[a..e) of class c that start in one column (sorted by pitch,
 * then length): the closest compound token in the pitch row, its duration in
 * the duration row, and what survives into st. */
static void encode_column(int32_t *prow, int32_t *drow, const gm_vocab *v, int c, const gnote *gn, size_t a, size_t e,
                          gm_encode_stats *st) {
    pmask q = {{0, 0}};
    for (size_t k = a; k < e; k++) pm_set(&q, gn[k].pitch);
    int id = gm_vocab_closest_mask(v, c, q);
    pmask kept = {{0, 0}};
    if (id >= 0) kept = v->mask[id];
    if (id >= 0 && !pm_eq(kept, q)) st->compounds_oov++;
    /* Duration: the first kept note in (pitch, length) order — the
     * lowest pitch and its shortest copy, as in the original. */
    int dur = -1;
    for (size_t k = a; k < e; k++)
        if (pm_has(kept, gn[k].pitch)) {
            dur = gm_duration_token(gn[k].steps);
            break;
        }
    if (id >= 0) {
        prow[gn[a].col] = id;
        drow[gn[a].col] = dur;
    }
    /* Each (column, pitch) decodes to one note with the shared
     * duration: with several copies of a pitch, the copy that has
     * that duration (if any) survives and the others are lost. */
    for (size_t k = a; k < e;) {
        size_t r = k;
        int match = 0;
        for (; r < e && gn[r].pitch == gn[k].pitch; r++) match |= gm_duration_token(gn[r].steps) == dur;
        if (!pm_has(kept, gn[k].pitch)) {
            st->notes_dropped += r - k;
        } else {
            st->notes_onset_pitch++;
            st->notes_exact += (size_t)match;
            st->notes_dropped += r - k - 1;
        }
        k = r;
    }
}

/* Class c's pitch and duration rows from its n notes in gn (sorted here). */
static void encode_class(gm_grid *g, const gm_vocab *v, int c, gnote *gn, size_t n, gm_encode_stats *st) {
    int32_t *prow = g->tok + (size_t)(2 * c) * g->n_cols;     /* [n_cols] pitch row */
    int32_t *drow = g->tok + (size_t)(2 * c + 1) * g->n_cols; /* [n_cols] duration row */
    if (n == 0) { /* absent class: EMPTY, as the original marks unused tracks */
        const int empty = gm_vocab_empty(v);
        for (int j = 0; j < g->n_cols; j++) prow[j] = drow[j] = empty;
        return;
    }
    qsort(gn, n, sizeof *gn, cmp_gnote);
    for (size_t a = 0; a < n;) {
        size_t e = a;
        while (e < n && gn[e].col == gn[a].col) e++;
        encode_column(prow, drow, v, c, gn, a, e, st);
        a = e;
    }
}

int gm_grid_encode_frames(gm_grid *g, const gm_score *s, const gm_layout *l, const gm_vocab *v,
                          const gm_chord *chords, int frames, gm_encode_stats *stats, char *err) {
    memset(g, 0, sizeof *g);
    if (frames < 1 || frames > GM_MAX_CHORD_FRAMES)
        return gm_fail(err, "%d chords per bar (1..%d allowed)", frames, GM_MAX_CHORD_FRAMES);
    gm_encode_stats st;
    memset(&st, 0, sizeof st);
    if (!s) return gm_fail(err, "no score");
    if (check_vocab_layout(v, l, err)) return -1;
    if (encode_barmap(g, s, err)) return -1;

    g->n_rows = gm_layout_rows(l);
    g->n_cols = g->bm.n_cols;
    size_t cells = (size_t)g->n_rows * (size_t)g->n_cols;
    g->tok = malloc(cells * sizeof *g->tok);
    int *track_cls = malloc(((size_t)s->n_tracks + 1) * sizeof *track_cls); /* [n_tracks] */
    gnote *gn = NULL;
    if (!g->tok || !track_cls) goto oom;
    const int pad = gm_vocab_pad(v);
    for (size_t i = 0; i < cells; i++) g->tok[i] = pad;

    for (int i = 0; i < s->n_tracks; i++) {
        const gm_track *t = &s->tracks[i];
        track_cls[i] = gm_layout_classify(l, t);
        if (track_cls[i] < 0) {
            if (t->n_notes) st.tracks_unmapped++;
        } else {
            st.notes_in += t->n_notes;
        }
    }
    gn = malloc((st.notes_in ? st.notes_in : 1) * sizeof *gn); /* [notes of one class] */
    if (!gn) goto oom;
    for (int c = 0; c < l->n_classes; c++) encode_class(g, v, c, gn, class_notes(g, s, track_cls, c, gn), &st);

    if (encode_chords(g, v, chords, frames, err)) goto fail;
    free(gn);
    free(track_cls);
    if (stats) *stats = st;
    return 0;
oom:
    gm_fail(err, "out of memory encoding %d columns", g->n_cols);
fail:
    free(gn);
    free(track_cls);
    gm_grid_free(g);
    return -1;
}

void gm_grid_free(gm_grid *g) {
    if (!g) return;
    free(g->tok);
    gm_barmap_free(&g->bm);
    memset(g, 0, sizeof *g);
}

/* ======================================================================== */
/* Token grid: decode                                                        */
/* ======================================================================== */

/* Tick (in ticks of `tpq`) of a column. Grids made without a bar map
 * (all zero) fall back to a uniform 16th-note grid. */
static int64_t col_tick(const gm_barmap *bm, int col, int tpq) {
    if (bm->n_bars > 0 && bm->bar_tick && bm->ticks_per_quarter > 0) {
        int64_t t = gm_barmap_col_to_tick(bm, col);
        if (bm->ticks_per_quarter == tpq) return t;
        return (2 * t * tpq + bm->ticks_per_quarter) / (2 * (int64_t)bm->ticks_per_quarter);
    }
    int spq = bm->steps_per_quarter > 0 ? bm->steps_per_quarter : GM_STEPS_PER_QUARTER;
    return ((int64_t)col * tpq * 2 + spq) / (2 * spq);
}

int gm_grid_decode(const gm_grid *g, const gm_layout *l, const gm_vocab *v,
                   const gm_score *tmpl, gm_score *out, char *err) {
    gm_score_init(out, tmpl ? tmpl->ticks_per_quarter : 480);
    if (!g || !g->tok) return gm_fail(err, "no grid");
    if (check_vocab_layout(v, l, err)) return -1;
    if (g->n_rows != gm_layout_rows(l))
        return gm_fail(err, "grid has %d rows, layout '%s' needs %d", g->n_rows, l->name, gm_layout_rows(l));
    const int tpq = out->ticks_per_quarter;
    const gm_barmap *bm = &g->bm;
    int spq = bm->steps_per_quarter > 0 ? bm->steps_per_quarter : GM_STEPS_PER_QUARTER;

    /* Tempo map, metre and key: the template's, or 120 bpm and the metre
     * of the grid's bars. */
    if (tmpl) {
        for (int i = 0; i < tmpl->n_tempos; i++)
            if (gm_score_add_tempo(out, tmpl->tempos[i].tick, tmpl->tempos[i].usec_per_quarter)) goto oom;
        for (int i = 0; i < tmpl->n_timesigs; i++)
            if (gm_score_add_timesig(out, tmpl->timesigs[i].tick, tmpl->timesigs[i].numerator,
                                     tmpl->timesigs[i].denominator))
                goto oom;
        for (int i = 0; i < tmpl->n_keysigs; i++)
            if (gm_score_add_keysig(out, tmpl->keysigs[i].tick, tmpl->keysigs[i].sharps, tmpl->keysigs[i].minor))
                goto oom;
    } else {
        if (gm_score_add_tempo(out, 0, 500000)) goto oom;
        int pn = 0, pd = 0;
        for (int b = 0; b < bm->n_bars; b++) {
            if (bm->bar_num[b] == pn && bm->bar_den[b] == pd) continue;
            pn = bm->bar_num[b];
            pd = bm->bar_den[b];
            if (gm_score_add_timesig(out, col_tick(bm, bm->bar_col[b], tpq), pn, pd)) goto oom;
        }
        if (bm->n_bars == 0 && gm_score_add_timesig(out, 0, 4, 4)) goto oom;
    }

    int next_channel = 0;
    for (int c = 0; c < l->n_classes; c++) {
        const gm_class *k = &l->cls[c];
        const int32_t *prow = g->tok + (size_t)(2 * c) * g->n_cols;     /* [n_cols] */
        const int32_t *drow = g->tok + (size_t)(2 * c + 1) * g->n_cols; /* [n_cols] */
        int b = v->cls_begin[c], e = v->cls_end[c];
        int any = 0;
        for (int j = 0; j < g->n_cols && !any; j++) any = prow[j] >= b && prow[j] < e;
        if (!any) continue;
        int channel = 9;
        if (!k->is_drum) {
            if (next_channel == 9) next_channel++;
            channel = next_channel % 16;
            next_channel++;
        }
        int ti = gm_score_add_track(out, k->name, k->out_program, channel, k->is_drum);
        if (ti < 0) goto oom;
        gm_track *t = &out->tracks[ti];
        t->cls = c;
        uint8_t p[128];
        for (int j = 0; j < g->n_cols; j++) {
            /* A pitch token needs a duration token beside it (the original
             * drops cells where either row is <pad>); tokens of another
             * class's block are ignored. */
            if (prow[j] < b || prow[j] >= e || drow[j] < 0 || drow[j] >= GM_N_DURATIONS) continue;
            int64_t tick = col_tick(bm, j, tpq);
            int64_t dur = ((int64_t)gm_duration_steps[drow[j]] * tpq * 2 + spq) / (2 * spq);
            int np = pm_list(v->mask[prow[j]], p);
            for (int i = 0; i < np; i++)
                if (gm_track_add_note(t, tick, dur, p[i], k->velocity, channel)) goto oom;
        }
    }
    int64_t end = col_tick(bm, g->n_cols, tpq);
    if (end > out->end_tick) out->end_tick = end;
    gm_score_sort(out);
    return 0;
oom:
    gm_score_free(out);
    return gm_fail(err, "out of memory decoding the grid");
}

/* ======================================================================== */
/* Text dump                                                                 */
/* ======================================================================== */

/*
 * A header (size, and the rows that are EMPTY throughout, which are not
 * repeated per bar), then one block per bar with one line per row that has
 * something other than <pad> in it, listing "offset:token" for each non-pad
 * cell. A run of one token (chord rows) is written once with "xN", so a 4/4
 * bar takes a handful of short lines:
 *
 *   bar 2  cols 16..31  4/4
 *     lead.pitch     0:M72 4:M74 8:M76
 *     lead.dur       0:T4 4:T4 8:T5
 *     chord.root     0:C x16
 */
static void row_name(char *buf, size_t n, const gm_layout *l, int r) {
    static const char *const kinds[] = {[GM_ROW_PITCH] = "pitch", [GM_ROW_DURATION] = "dur",
                                        [GM_ROW_CHORD_ROOT] = "root", [GM_ROW_CHORD_QUALITY] = "quality"};
    int cls = gm_row_class(l->n_classes, r);
    snprintf(buf, n, "%s.%s", cls < 0 ? "chord" : l->cls[cls].name, kinds[gm_row_kind_of(l->n_classes, r)]);
}

int gm_grid_dump(const gm_grid *g, const gm_layout *l, const gm_vocab *v, char **out_text, char *err) {
    *out_text = NULL;
    if (!g || !g->tok) return gm_fail(err, "no grid");
    if (check_vocab_layout(v, l, err)) return -1;
    if (g->n_rows != gm_layout_rows(l)) return gm_fail(err, "grid rows do not match the layout");
    gm_buf sb = {0};
    const int pad = gm_vocab_pad(v);
    int have_bars = g->bm.n_bars > 0 && g->bm.bar_col;
    int n_bars = have_bars ? g->bm.n_bars : (g->n_cols + 15) / 16;
    gm_buf_printf(&sb, "grid: %d rows x %d cols, %d bars, layout %s, vocabulary %d tokens\n", g->n_rows, g->n_cols,
              n_bars, l->name, v->n);
    /* [n_rows] 1 = the row is EMPTY in every column */
    uint8_t *all_empty = calloc((size_t)g->n_rows, 1);
    if (!all_empty) return gm_fail(err, "out of memory");
    int n_all_empty = 0;
    for (int r = 0; r < g->n_rows; r++) {
        const int32_t *row = g->tok + (size_t)r * g->n_cols; /* [n_cols] */
        int j = 0;
        while (j < g->n_cols && row[j] == v->n) j++;
        if (j == g->n_cols && g->n_cols > 0) {
            char name[48];
            row_name(name, sizeof name, l, r);
            gm_buf_printf(&sb, "%s%s", n_all_empty++ ? ", " : "EMPTY rows: ", name);
            all_empty[r] = 1;
        }
    }
    if (n_all_empty) gm_buf_printf(&sb, "\n");
    for (int bar = 0; bar < n_bars; bar++) {
        int c0 = have_bars ? g->bm.bar_col[bar] : 16 * bar;
        int c1 = have_bars ? g->bm.bar_col[bar + 1] : (16 * bar + 16 < g->n_cols ? 16 * bar + 16 : g->n_cols);
        if (have_bars)
            gm_buf_printf(&sb, "bar %d  cols %d..%d  %d/%d\n", bar + 1, c0, c1 - 1, g->bm.bar_num[bar], g->bm.bar_den[bar]);
        else
            gm_buf_printf(&sb, "bar %d  cols %d..%d\n", bar + 1, c0, c1 - 1);
        for (int r = 0; r < g->n_rows; r++) {
            const int32_t *row = g->tok + (size_t)r * g->n_cols; /* [n_cols] */
            int any = 0;
            for (int j = c0; j < c1 && !any; j++) any = row[j] != pad;
            if (!any || all_empty[r]) continue;
            char name[48];
            row_name(name, sizeof name, l, r);
            gm_buf_printf(&sb, "  %-14s", name);
            for (int j = c0; j < c1;) {
                int k = j + 1;
                while (k < c1 && row[k] == row[j]) k++;
                if (row[j] != pad) {
                    const char *t = gm_vocab_token(v, row[j]);
                    if (k - j > 1)
                        gm_buf_printf(&sb, " %d:%s x%d", j - c0, t ? t : "?", k - j);
                    else
                        gm_buf_printf(&sb, " %d:%s", j - c0, t ? t : "?");
                    j = k;
                } else {
                    j++;
                }
            }
            gm_buf_printf(&sb, "\n");
        }
    }
    free(all_empty);
    if (sb.oom) {
        gm_buf_free(&sb);
        return gm_fail(err, "out of memory writing the grid dump");
    }
    *out_text = gm_buf_text(&sb);
    return 0;
}

