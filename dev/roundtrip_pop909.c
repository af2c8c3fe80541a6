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
 *   make && cc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Itests dev/roundtrip_pop909.c \
 *      build/libgetmusic.a -lm -o /tmp/roundtrip_pop909
 *   /tmp/roundtrip_pop909 [DATA_DIR] [--coverage 0.9] [--min-count 10]
 *                         [--step 1] [--no-transpose] [--layout default]
 */
#include "getmusic.h"
#include "score_notes.h" /* the notes as the grid sees them, shared with tests/test_getscore.c */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[GM_ERR_SIZE];

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

    int n, n_bad;
    gm_score *songs = pop909_songs(data, step, transpose, &n, &n_bad, err);
    if (n_bad) fprintf(stderr, "%d songs could not be read; the last: %s\n", n_bad, err);
    gm_vocab_builder *b = gm_vocab_builder_new(&l);
    for (int i = 0; i < n; i++) count_score(b, &songs[i], &l, err);
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
        encode_stats_add(&tot, &st);
        /* Duration sharing, before any vocabulary loss: how many notes of a
         * column group share the lowest pitch's token, and how many would
         * share the group's most common token. */
        size_t nn;
        cnote *v = score_cnotes(&songs[i], &l, &nn, err);
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
