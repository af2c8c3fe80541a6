/*
 * score_notes.h — a score's notes as the GETScore grid sees them, for the
 * round-trip checks of tests/test_getscore.c and dev/roundtrip_pop909.c:
 * (class, column, pitch, duration token), the compounds a score adds to a
 * vocabulary builder, and POP909's songs read from the data folder.
 */
#ifndef GM_TEST_SCORE_NOTES_H
#define GM_TEST_SCORE_NOTES_H
#include "getmusic.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A note of a decoded or source score as (class, column, pitch, duration token). */
typedef struct { int cls, col, pitch, dur; } cnote;

static inline int cmp_cnote(const void *a, const void *b) {
    const cnote *x = a, *y = b;
    if (x->cls != y->cls) return x->cls - y->cls;
    if (x->col != y->col) return x->col - y->col;
    if (x->pitch != y->pitch) return x->pitch - y->pitch;
    return x->dur - y->dur;
}

/* Notes of a score on the 16th grid of its own bar map, with classes,
 * sorted; NULL (with err) when the bar map cannot be built. */
static inline cnote *score_cnotes(const gm_score *s, const gm_layout *l, size_t *n_out, char *err) {
    gm_barmap bm;
    *n_out = 0;
    if (gm_barmap_build(&bm, s, 4, err)) return NULL;
    size_t total = gm_score_n_notes(s), n = 0;
    cnote *v = malloc((total ? total : 1) * sizeof *v); /* [total] */
    for (int i = 0; v && i < s->n_tracks; i++) {
        int c = gm_layout_classify(l, &s->tracks[i]);
        if (c < 0) continue;
        for (size_t k = 0; k < s->tracks[i].n_notes; k++) {
            const gm_note *nt = &s->tracks[i].notes[k];
            /* length in columns, end minus start, as the encoder measures
             * it: the end is not clamped to the last column */
            int c0 = gm_barmap_tick_to_col(&bm, nt->tick);
            int64_t end = nt->tick + nt->duration;
            int c1 = gm_barmap_tick_to_col(&bm, end);
            int64_t last = gm_barmap_col_to_tick(&bm, bm.n_cols - 1), fin = bm.bar_tick[bm.n_bars];
            if (end >= fin || (c1 == bm.n_cols - 1 && fin - end <= end - last)) c1 = bm.n_cols;
            v[n++] = (cnote){c, c0, nt->pitch, gm_duration_token(c1 - c0)};
        }
    }
    gm_barmap_free(&bm);
    if (v) qsort(v, n, sizeof *v, cmp_cnote);
    *n_out = n;
    return v;
}

/* Counts the compound (and single) tokens of a score into a builder: the
 * pitch set of each class at each column, as gm_grid_encode groups them.
 * 0, or -1 (with err where the bar map failed). */
static inline int count_score(gm_vocab_builder *b, const gm_score *s, const gm_layout *l, char *err) {
    gm_barmap bm;
    if (gm_barmap_build(&bm, s, 4, err)) return -1;
    for (int c = 0; c < l->n_classes; c++) {
        /* [n_cols][2] 128-bit pitch masks per column */
        uint64_t *m = calloc((size_t)bm.n_cols * 2, sizeof *m);
        if (!m) { gm_barmap_free(&bm); return -1; }
        for (int i = 0; i < s->n_tracks; i++) {
            if (gm_layout_classify(l, &s->tracks[i]) != c) continue;
            for (size_t k = 0; k < s->tracks[i].n_notes; k++) {
                const gm_note *n = &s->tracks[i].notes[k];
                int col = gm_barmap_tick_to_col(&bm, n->tick);
                m[2 * col + n->pitch / 64] |= 1ull << (n->pitch % 64);
            }
        }
        for (int col = 0; col < bm.n_cols; col++) {
            uint8_t p[128];
            int np = 0;
            for (int q = 0; q < 128; q++)
                if (m[2 * col + q / 64] >> (q % 64) & 1) p[np++] = (uint8_t)q;
            if (np && gm_vocab_builder_add(b, c, p, np, 1)) { free(m); gm_barmap_free(&bm); return -1; }
        }
        free(m);
    }
    gm_barmap_free(&bm);
    return 0;
}

/* Adds one song's encoding figures into a total. */
static inline void encode_stats_add(gm_encode_stats *tot, const gm_encode_stats *st) {
    tot->notes_in += st->notes_in;
    tot->notes_exact += st->notes_exact;
    tot->notes_dropped += st->notes_dropped;
    tot->compounds_oov += st->compounds_oov;
    tot->tracks_unmapped += st->tracks_unmapped;
}

/* Every step-th POP909 song under data (pop909/NNN/NNN.mid), transposed to
 * C major / A minor when asked: *n songs read (free each, then the array).
 * A song that cannot be read is left out and counted in *n_bad, err then
 * naming the last one. NULL when out of memory. */
static inline gm_score *pop909_songs(const char *data, int step, int transpose, int *n, int *n_bad, char *err) {
    enum { N_SONGS = 909 };
    gm_score *songs = calloc(N_SONGS, sizeof *songs); /* [N_SONGS] */
    *n = *n_bad = 0;
    for (int i = 1; songs && i <= N_SONGS; i += step) {
        char path[1024], why[GM_ERR_SIZE];
        snprintf(path, sizeof path, "%s/pop909/%03d/%03d.mid", data, i, i);
        if (access(path, R_OK)) continue;
        if (gm_midi_read_file(path, &songs[*n], why)) {
            snprintf(err, GM_ERR_SIZE, "%.120s: %.120s", path, why);
            ++*n_bad;
            continue;
        }
        if (transpose) gm_score_transpose(&songs[*n], gm_key_shift_to_c(gm_key_find(&songs[*n])));
        ++*n;
    }
    return songs;
}
#endif
