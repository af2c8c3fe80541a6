/* test_harmonize.c — chords chosen for a bare melody (src/model/harmonize.c): the
 * harmoniser on melodies whose harmony any musician names, in every key; what
 * it hears of a melody (exact histograms); when a texture is a bare melody;
 * its edges and errors. */
#include "getmusic.h"
#include "test.h"

#include <string.h>

#define TPQ 480
#define BAR (4 * TPQ)

/* A score with one track named `name` (program prog). */
static gm_track *new_track(gm_score *s, const char *name, int prog) {
    gm_score_init(s, TPQ);
    int t = gm_score_add_track(s, name, prog, 0, 0);
    return &s->tracks[t];
}

/* Chords of every half bar of s (F frames per bar) into out; n frames or -1. */
static int harmonize(gm_score *s, int frames, gm_chord *out, int max) {
    gm_barmap bm;
    if (test_barmap(s, &bm)) return -1;
    char err[GM_ERR_SIZE] = "";
    int n = bm.n_bars * frames;
    if (n > max) {
        gm_barmap_free(&bm);
        CHECK(0, "too many frames %d", n);
        return -1;
    }
    int rc = gm_chords_harmonize(s, &bm, frames, NULL, out, err);
    CHECK(rc == 0, "harmonize: %s", err);
    gm_barmap_free(&bm);
    return rc ? -1 : n;
}

/* One bar of quarter notes (4 pitches) at bar b. */
static void add_bar(gm_track *t, int b, const int p[4]) {
    for (int q = 0; q < 4; q++) gm_track_add_note(t, (int64_t)b * BAR + q * TPQ, TPQ, p[q], 90, 0);
}

/* ======================================================================== */
/* Melodies with an obvious harmony                                          */
/* ======================================================================== */

/* I-IV-V-I as arpeggios, in every key: the roots of every half bar. */
static void test_cadence_every_key(void) {
    static const int bars[4][4] = {{60, 64, 67, 72}, {65, 69, 72, 69}, {67, 71, 74, 71}, {64, 67, 72, 67}};
    static const int roots[4] = {0, 5, 7, 0};
    char a[16], b[16];
    for (int t = 0; t < 12; t++) {
        gm_score s;
        gm_track *tr = new_track(&s, "melody", 0);
        for (int k = 0; k < 4; k++) {
            int p[4];
            for (int q = 0; q < 4; q++) p[q] = bars[k][q] + t;
            add_bar(tr, k, p);
        }
        gm_chord out[8];
        if (harmonize(&s, 2, out, 8) == 8)
            for (int f = 0; f < 8; f++)
                CHECK(out[f].root == (roots[f / 2] + t) % 12 && out[f].quality == GM_Q_MAJ,
                      "key %d frame %d: %s, want %s", t, f, gm_chord_name(out[f], a, 16),
                      gm_chord_name((gm_chord){(int8_t)((roots[f / 2] + t) % 12), GM_Q_MAJ}, b, 16));
        gm_score_free(&s);
    }
}

/* i-iv-V-i in A minor, one chord per bar. */
static void test_minor(void) {
    static const int bars[4][4] = {{69, 72, 76, 72}, {74, 77, 81, 77}, {68, 71, 76, 71}, {69, 72, 76, 81}};
    gm_score s;
    gm_track *tr = new_track(&s, "vocal", 0);
    for (int k = 0; k < 4; k++) add_bar(tr, k, bars[k]);
    gm_chord out[4];
    char a[16];
    if (harmonize(&s, 1, out, 4) == 4) {
        CHECK(out[0].root == 9 && out[0].quality == GM_Q_MIN, "bar 1: %s, want Am", gm_chord_name(out[0], a, 16));
        CHECK(out[1].root == 2 && out[1].quality == GM_Q_MIN, "bar 2: %s, want Dm", gm_chord_name(out[1], a, 16));
        CHECK(out[2].root == 4 && (out[2].quality == GM_Q_MAJ || out[2].quality == GM_Q_DOM7),
              "bar 3: %s, want E or E7", gm_chord_name(out[2], a, 16));
        CHECK(out[3].root == 9 && out[3].quality == GM_Q_MIN, "bar 4: %s, want Am", gm_chord_name(out[3], a, 16));
    }
    gm_score_free(&s);
}

/* A bar of rest inside the tune still gets a chord; no melody, no chord. */
static void test_rests_and_silence(void) {
    static const int c[4] = {60, 64, 67, 64}, g[4] = {67, 71, 74, 71};
    gm_score s;
    gm_track *tr = new_track(&s, "melody", 0);
    add_bar(tr, 0, c);
    add_bar(tr, 2, g);
    gm_chord out[6];
    if (harmonize(&s, 2, out, 6) == 6)
        for (int f = 0; f < 6; f++) CHECK(out[f].root >= 0 && out[f].quality >= 0, "frame %d has no chord", f);
    gm_score_free(&s);

    gm_track *d = new_track(&s, "drums", 0);
    d->is_drum = 1;
    gm_track_add_note(d, 0, TPQ, 36, 100, 9);
    gm_track_add_note(d, 3 * BAR, TPQ, 38, 100, 9);
    gm_chord o2[8];
    if (harmonize(&s, 2, o2, 8) == 8)
        for (int f = 0; f < 8; f++) CHECK(o2[f].root == -1 && o2[f].quality == -1, "drums only: frame %d has a chord", f);
    gm_score_free(&s);
}

/* Same melody, same chords. */
static void test_deterministic(void) {
    gm_chord a[16], b[16];
    int n[2];
    for (int r = 0; r < 2; r++) {
        gm_score s;
        gm_track *tr = new_track(&s, "melody", 0);
        for (int k = 0; k < 8; k++) {
            int p[4] = {60 + (k * 5) % 12, 62 + (k * 7) % 12, 64 + k % 5, 67 - k % 3};
            add_bar(tr, k, p);
        }
        n[r] = harmonize(&s, 2, r ? b : a, 16);
        gm_score_free(&s);
    }
    CHECK(n[0] == 16 && n[1] == 16 && !memcmp(a, b, sizeof a), "two runs differ");
}

/* ======================================================================== */
/* What it hears, and edges                                                  */
/* ======================================================================== */

static void test_frames(void) {
    gm_score s;
    gm_track *tr = new_track(&s, "melody", 0);
    gm_track_add_note(tr, 0, TPQ, 60, 90, 0);                 /* on beat 1, a quarter */
    gm_track_add_note(tr, TPQ + TPQ / 2, TPQ / 2, 62, 90, 0); /* off the beat, an eighth */
    gm_track_add_note(tr, 3 * TPQ, 4 * TPQ, 67, 90, 0);       /* beat 4, four quarters: 1 + 1 held (cap 2) */
    gm_score_sort(&s);
    gm_barmap bm;
    char err[GM_ERR_SIZE];
    CHECK(gm_barmap_build(&bm, &s, 4, err) == 0, "barmap: %s", err);
    int nf = bm.n_bars * 2;
    CHECK(nf == 4, "%d frames, want 4", nf);
    int64_t ft[5];
    float h[4 * 36];
    CHECK(gm_harmony_frames(&s, &bm, 2, ft, h) == 1, "frames: no melody heard");
    CHECK(ft[0] == 0 && ft[1] == 2 * TPQ && ft[2] == BAR && ft[4] == 2 * BAR, "frame ticks %lld %lld %lld %lld",
          (long long)ft[0], (long long)ft[1], (long long)ft[2], (long long)ft[4]);
    double total = 0;
    for (int i = 0; i < 4 * 36; i++) total += h[i];
    CHECK(h[GM_HARMONY_ON_BEAT * 12 + 0] == 1.0f, "C on beat 1: %g", h[0]);
    CHECK(h[GM_HARMONY_OFF_BEAT * 12 + 2] == 0.5f, "D off the beat: %g", h[GM_HARMONY_OFF_BEAT * 12 + 2]);
    CHECK(h[36 + GM_HARMONY_ON_BEAT * 12 + 7] == 1.0f, "G struck in frame 2: %g", h[36 + 7]);
    CHECK(h[72 + GM_HARMONY_HELD * 12 + 7] == 1.0f, "G held into bar 2, capped: %g", h[72 + 24 + 7]);
    CHECK(total == 3.5, "total %g quarters, want 3.5", total);
    gm_barmap_free(&bm);
    gm_score_free(&s);
}

static void test_errors(void) {
    gm_score s;
    gm_track *tr = new_track(&s, "melody", 0);
    gm_track_add_note(tr, 0, TPQ, 60, 90, 0);
    gm_score_sort(&s);
    gm_barmap bm;
    char err[GM_ERR_SIZE] = "";
    CHECK(gm_barmap_build(&bm, &s, 4, err) == 0, "barmap: %s", err);
    gm_chord out[8];
    CHECK(gm_chords_harmonize(&s, &bm, 3, NULL, out, err) == -1 && strstr(err, "frames per bar"), "3 frames: '%s'", err);
    CHECK(gm_chords_harmonize(NULL, &bm, 2, NULL, out, err) == -1, "null score accepted");
    gm_barmap_free(&bm);
    /* A piece too long to choose chords for is refused, not allocated. */
    gm_track_add_note(tr, (int64_t)20000 * BAR, TPQ, 60, 90, 0);
    gm_score_sort(&s);
    CHECK(gm_barmap_build(&bm, &s, 4, err) == 0, "barmap: %s", err);
    gm_chord one;
    CHECK(gm_chords_harmonize(&s, &bm, 2, NULL, &one, err) == -1 && strstr(err, "bars"), "20000 bars: '%s'", err);
    gm_barmap_free(&bm);
    gm_score_free(&s);
}

/* ======================================================================== */
/* Bare melody or texture                                                    */
/* ======================================================================== */

static void test_is_bare_melody(void) {
    gm_score s;
    gm_track *tr = new_track(&s, "melody", 0);
    CHECK(gm_score_is_bare_melody(&s) == 0, "no notes: not a melody");
    for (int k = 0; k < 8; k++) gm_track_add_note(tr, k * TPQ, TPQ * 2, 60 + k, 90, 0); /* legato: overlaps */
    CHECK(gm_score_is_bare_melody(&s) == 1, "a lead track is a bare melody");
    gm_score_free(&s);

    tr = new_track(&s, "", 0); /* a piano program, no name: judged by its texture */
    for (int k = 0; k < 20; k++) gm_track_add_note(tr, k * TPQ, TPQ, 60 + k % 7, 90, 0);
    gm_score_sort(&s);
    CHECK(gm_score_is_bare_melody(&s) == 1, "a single line on piano is a bare melody");
    for (int k = 0; k < 4; k++) { /* block chords under it */
        gm_track_add_note(tr, k * BAR, BAR, 48, 80, 0);
        gm_track_add_note(tr, k * BAR, BAR, 52, 80, 0);
    }
    gm_score_sort(&s);
    CHECK(gm_score_is_bare_melody(&s) == 0, "melody and chords are a texture");
    gm_score_free(&s);

    tr = new_track(&s, "drums", 0);
    tr->is_drum = 1;
    gm_track_add_note(tr, 0, TPQ, 36, 100, 9);
    CHECK(gm_score_is_bare_melody(&s) == 0, "drums alone are no melody");
    gm_score_free(&s);
}

int main(void) {
    test_cadence_every_key();
    test_minor();
    test_rests_and_silence();
    test_deterministic();
    test_frames();
    test_errors();
    test_is_bare_melody();
    return test_done("test_harmonize");
}
