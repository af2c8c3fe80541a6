/*
 * roundtrip_pop909.c — how much of POP909 survives GETScore encode → decode.
 *
 * Reads every song (or every STEP-th), transposes it to C major / A minor,
 * builds a vocabulary from the songs themselves with the original frequency
 * rule, encodes each song and reports the share of notes that come back
 * with the same onset column, pitch and duration token, plus where the rest
 * go: collisions (the same pitch twice at one column of one class), the
 * closest-subset shrinking of out-of-vocabulary compounds, and duration
 * tokens that differ from the compound's shared one.
 *
 *   cc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Isrc src/music/score.c src/music/vocab.c src/music/grid.c \
 *      src/music/midi.c src/music/key.c dev/roundtrip_pop909.c -lm -o /tmp/roundtrip_pop909
 *   /tmp/roundtrip_pop909 [DATA_DIR] [--coverage 0.9] [--min-count 10]
 *                         [--step 1] [--no-transpose] [--layout default]
 */
#include "getmusic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char err[GM_ERR_SIZE];

typedef struct { int cls, col, pitch, dur; } cnote; /* dur = duration token */

static int cmp_cnote(const void *a, const void *b) {
    const cnote *x = a, *y = b;
    if (x->cls != y->cls) return x->cls - y->cls;
    if (x->col != y->col) return x->col - y->col;
    if (x->pitch != y->pitch) return x->pitch - y->pitch;
    return x->dur - y->dur;
}

/* Notes of a score as (class, column, pitch, duration token), sorted. */
static cnote *cnotes(const gm_score *s, const gm_layout *l, size_t *n_out) {
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
            int c0 = gm_barmap_tick_to_col(&bm, nt->tick);
            int c1 = gm_barmap_tick_to_col(&bm, nt->tick + nt->duration);
            if (nt->tick + nt->duration >= bm.bar_tick[bm.n_bars]) c1 = bm.n_cols;
            v[n++] = (cnote){c, c0, nt->pitch, gm_duration_token(c1 - c0)};
        }
    }
    gm_barmap_free(&bm);
    if (v) qsort(v, n, sizeof *v, cmp_cnote);
    *n_out = n;
    return v;
}

/* Adds every (class, column) pitch set of a score to the builder. */
static void count_song(gm_vocab_builder *b, const cnote *v, size_t n) {
    for (size_t a = 0; a < n;) {
        uint8_t p[128];
        int np = 0;
        size_t e = a;
        for (; e < n && v[e].cls == v[a].cls && v[e].col == v[a].col; e++)
            if (np == 0 || p[np - 1] != v[e].pitch) p[np++] = (uint8_t)v[e].pitch;
        gm_vocab_builder_add(b, v[a].cls, p, np, 1);
        a = e;
    }
}

int main(int argc, char **argv) {
    const char *data = "../shared/data", *layout = "default";
    double coverage = 0.9;
    unsigned min_count = 10;
    int step = 1, transpose = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--coverage") && i + 1 < argc) coverage = atof(argv[++i]);
        else if (!strcmp(argv[i], "--min-count") && i + 1 < argc) min_count = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--step") && i + 1 < argc) step = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layout") && i + 1 < argc) layout = argv[++i];
        else if (!strcmp(argv[i], "--no-transpose")) transpose = 0;
        else data = argv[i];
    }
    if (step < 1) step = 1;
    gm_layout l;
    if (gm_layout_preset(&l, layout, err)) { fprintf(stderr, "%s\n", err); return 1; }

    enum { N_SONGS = 909 };
    gm_score *songs = calloc(N_SONGS, sizeof *songs); /* [N_SONGS] */
    int n = 0;
    gm_vocab_builder *b = gm_vocab_builder_new(&l);
    for (int i = 1; i <= N_SONGS; i += step) {
        char path[1024];
        snprintf(path, sizeof path, "%s/pop909/%03d/%03d.mid", data, i, i);
        if (access(path, R_OK)) continue;
        if (gm_midi_read_file(path, &songs[n], err)) { fprintf(stderr, "%s: %s\n", path, err); continue; }
        if (transpose) gm_score_transpose(&songs[n], gm_key_shift_to_c(gm_key_find(&songs[n])));
        size_t nn;
        cnote *v = cnotes(&songs[n], &l, &nn);
        count_song(b, v, nn);
        free(v);
        n++;
    }
    gm_vocab *voc = gm_vocab_builder_finish(b, coverage, min_count, err);
    gm_vocab_builder_free(b);
    if (!voc) { fprintf(stderr, "%s\n", err); return 1; }

    gm_encode_stats tot = {0};
    size_t collisions = 0, same_dur_lowest = 0, same_dur_mode = 0, in_groups = 0, multi_groups = 0;
    for (int i = 0; i < n; i++) {
        gm_grid g;
        gm_encode_stats st;
        if (gm_grid_encode(&g, &songs[i], &l, voc, NULL, &st, err)) { fprintf(stderr, "%s\n", err); continue; }
        gm_grid_free(&g);
        tot.notes_in += st.notes_in;
        tot.notes_exact += st.notes_exact;
        tot.notes_dropped += st.notes_dropped;
        tot.compounds_oov += st.compounds_oov;
        tot.tracks_unmapped += st.tracks_unmapped;
        /* Duration sharing, before any vocabulary loss: how many notes of a
         * column group share the lowest pitch's token, and how many would
         * share the group's most common token. */
        size_t nn;
        cnote *v = cnotes(&songs[i], &l, &nn);
        for (size_t a = 0; a < nn;) {
            size_t e = a;
            int hist[GM_N_DURATIONS] = {0}, distinct = 0;
            for (; e < nn && v[e].cls == v[a].cls && v[e].col == v[a].col; e++) {
                if (e > a && v[e].pitch == v[e - 1].pitch) { collisions++; continue; }
                hist[v[e].dur]++;
                distinct++;
            }
            int mode = 0;
            for (int k = 1; k < GM_N_DURATIONS; k++)
                if (hist[k] > hist[mode]) mode = k;
            same_dur_lowest += (size_t)hist[v[a].dur];
            same_dur_mode += (size_t)hist[mode];
            in_groups += (size_t)distinct;
            multi_groups += distinct > 1;
            a = e;
        }
        free(v);
    }
    size_t dur_mismatch = tot.notes_in - tot.notes_exact - tot.notes_dropped;
    printf("POP909: %d songs, layout %s, coverage %.2f, min count %u, %s\n", n, l.name, coverage, min_count,
           transpose ? "transposed to C" : "not transposed");
    printf("vocabulary: %d tokens;", gm_vocab_size(voc));
    for (int c = 0; c < l.n_classes; c++) {
        int bb, ee;
        gm_vocab_range(voc, c, &bb, &ee);
        printf(" %s %d (%d compounds)", l.cls[c].name, ee - bb, ee - bb - 128);
    }
    printf("\n");
    double N = (double)tot.notes_in;
    printf("notes %zu, survive (column, pitch, duration token) %zu = %.4f\n", tot.notes_in, tot.notes_exact,
           tot.notes_exact / N);
    printf("  onset+pitch kept (any duration)     %.4f\n", (tot.notes_in - tot.notes_dropped) / N);
    printf("  lost: collisions                     %.4f (%zu)\n", collisions / N, collisions);
    printf("  lost: out-of-vocabulary shrinking    %.4f (%zu, %zu compounds)\n",
           (tot.notes_dropped - collisions) / N, tot.notes_dropped - collisions, tot.compounds_oov);
    printf("  kept, other duration token than the  %.4f (%zu)\n", dur_mismatch / N, dur_mismatch);
    printf("        compound's shared one\n");
    printf("  before vocabulary loss: share of notes with the lowest pitch's duration %.4f, with the\n"
           "  group's most common duration %.4f (%zu multi-note groups)\n",
           same_dur_lowest / (double)in_groups, same_dur_mode / (double)in_groups, multi_groups);
    gm_vocab_free(voc);
    for (int i = 0; i < n; i++) gm_score_free(&songs[i]);
    free(songs);
    return 0;
}
