/* test_chord.c — key finding, transposition, chord recognition, chord names,
 * and (when ../shared/data exists) root accuracy against POP909's labels. */
#include "getmusic.h"
#include "test.h"

#include <stdint.h>
#include <unistd.h>

#define TPQ 480
#define BAR (4 * TPQ)
/* Per-bar root accuracy floor on the POP909 sample (see test_pop909). */
#define POP909_ROOT_FLOOR 0.82

/* ======================================================================== */
/* Helpers                                                                   */
/* ======================================================================== */

/* A score with one piano track; returns the track. */
static gm_track *new_piano(gm_score *s) {
    gm_score_init(s, TPQ);
    int t = gm_score_add_track(s, "piano", 0, 0, 0);
    return &s->tracks[t];
}

/* Adds the tones of (root, quality) as one block chord spanning
 * [tick, tick+dur), voiced from a bass root in octave 3 upwards. */
static void add_chord(gm_track *t, int64_t tick, int64_t dur, int root, int q) {
    static const int tones[GM_N_QUALITIES][4] = {
        {0, 4, 7, -1}, {0, 3, 7, -1}, {0, 4, 8, -1},  {0, 3, 6, -1},
        {0, 4, 7, 10}, {0, 4, 7, 11}, {0, 3, 7, 10}, {0, 3, 6, 10},
    };
    gm_track_add_note(t, tick, dur, 48 + root, 80, 0); /* bass */
    for (int j = 0; j < 4 && tones[q][j] >= 0; j++) gm_track_add_note(t, tick, dur, 60 + root + tones[q][j], 80, 0);
}

/* Recognises the chords of every bar of s into out (n_bars returned, or -1). */
static int recognize(gm_score *s, gm_chord *out, int max) {
    gm_barmap bm;
    if (test_barmap(s, &bm)) return -1;
    char err[GM_ERR_SIZE] = "";
    int n = bm.n_bars;
    if (n > max) {
        gm_barmap_free(&bm);
        CHECK(0, "too many bars %d", n);
        return -1;
    }
    int rc = gm_chords_recognize(s, &bm, out, err);
    CHECK(rc == 0, "recognize: %s", err);
    gm_barmap_free(&bm);
    return rc ? -1 : n;
}

static const char *cname(gm_chord c, char *buf) { return gm_chord_name(c, buf, 16); }

/* ======================================================================== */
/* Key finding                                                               */
/* ======================================================================== */

static void test_key_cadences(void) {
    char kb[32];
    for (int t = 0; t < 12; t++) {
        /* Major: scale up, then I-IV-V-I. */
        gm_score s;
        gm_track *tr = new_piano(&s);
        static const int maj[7] = {0, 2, 4, 5, 7, 9, 11};
        for (int j = 0; j < 8; j++) gm_track_add_note(tr, j * TPQ, TPQ, 60 + t + (j < 7 ? maj[j] : 12), 90, 0);
        add_chord(tr, 2 * BAR, BAR, t, GM_Q_MAJ);
        add_chord(tr, 3 * BAR, BAR, (t + 5) % 12, GM_Q_MAJ);
        add_chord(tr, 4 * BAR, BAR, (t + 7) % 12, GM_Q_DOM7);
        add_chord(tr, 5 * BAR, BAR, t, GM_Q_MAJ);
        gm_score_sort(&s);
        gm_key k = gm_key_find(&s);
        CHECK(k.tonic == t && k.minor == 0, "major tonic %d: got %s", t, gm_key_name(k, kb, sizeof kb));
        CHECK(k.score > 0.5f && k.score <= 1.0f, "score %f", k.score);
        gm_score_free(&s);

        /* Minor: harmonic minor scale, then i-iv-V7-i. */
        tr = new_piano(&s);
        static const int hmin[7] = {0, 2, 3, 5, 7, 8, 11};
        for (int j = 0; j < 8; j++) gm_track_add_note(tr, j * TPQ, TPQ, 57 + t + (j < 7 ? hmin[j] : 12), 90, 0);
        add_chord(tr, 2 * BAR, BAR, t, GM_Q_MIN);
        add_chord(tr, 3 * BAR, BAR, (t + 5) % 12, GM_Q_MIN);
        add_chord(tr, 4 * BAR, BAR, (t + 7) % 12, GM_Q_DOM7);
        add_chord(tr, 5 * BAR, 2 * BAR, t, GM_Q_MIN);
        gm_score_sort(&s);
        k = gm_key_find(&s);
        CHECK(k.tonic == t && k.minor == 1, "minor tonic %d: got %s", t, gm_key_name(k, kb, sizeof kb));
        gm_score_free(&s);
    }
}

static void test_key_weights_and_edges(void) {
    char kb[32];
    /* The white keys, with A long and loud → A minor; with C long → C major:
     * duration × velocity decides between relative keys. */
    for (int variant = 0; variant < 2; variant++) {
        gm_score s;
        gm_track *tr = new_piano(&s);
        static const int white[7] = {60, 62, 64, 65, 67, 69, 71};
        for (int j = 0; j < 7; j++) gm_track_add_note(tr, j * TPQ, TPQ, white[j], 60, 0);
        int tonic = variant ? 60 : 57;
        gm_track_add_note(tr, 8 * TPQ, 4 * TPQ, tonic, 120, 0);
        gm_score_sort(&s);
        gm_key k = gm_key_find(&s);
        CHECK(variant ? (k.tonic == 0 && !k.minor) : (k.tonic == 9 && k.minor), "variant %d: %s", variant,
              gm_key_name(k, kb, sizeof kb));
        gm_score_free(&s);
    }
    /* Velocity alone: same durations, the loud tonic wins. */
    {
        gm_score s;
        gm_track *tr = new_piano(&s);
        static const int white[7] = {60, 62, 64, 65, 67, 69, 71};
        for (int j = 0; j < 7; j++) gm_track_add_note(tr, j * TPQ, TPQ, white[j], white[j] == 69 ? 127 : 40, 0);
        gm_score_sort(&s);
        gm_key k = gm_key_find(&s);
        CHECK(k.tonic == 9 && k.minor, "loud A: %s", gm_key_name(k, kb, sizeof kb));
        gm_score_free(&s);
    }
    /* A lone triad fits three scales; it names its own key. */
    {
        gm_score s;
        gm_track *tr = new_piano(&s);
        add_chord(tr, 0, BAR, 7, GM_Q_MAJ);
        gm_score_sort(&s);
        gm_key k = gm_key_find(&s);
        CHECK(k.tonic == 7 && !k.minor, "G triad: %s", gm_key_name(k, kb, sizeof kb));
        gm_score_free(&s);
        tr = new_piano(&s);
        add_chord(tr, 0, BAR, 4, GM_Q_MIN);
        gm_score_sort(&s);
        k = gm_key_find(&s);
        CHECK(k.tonic == 4 && k.minor, "Em triad: %s", gm_key_name(k, kb, sizeof kb));
        gm_score_free(&s);
    }
    /* Empty and drums-only scores: C major. Drums never count. */
    {
        gm_score s;
        gm_score_init(&s, TPQ);
        gm_key k = gm_key_find(&s);
        CHECK(k.tonic == 0 && k.minor == 0, "empty: %s", gm_key_name(k, kb, sizeof kb));
        int d = gm_score_add_track(&s, "drums", 0, 9, 1);
        for (int j = 0; j < 16; j++) gm_track_add_note(&s.tracks[d], j * 120, 60, 42 + (j % 3), 100, 9);
        k = gm_key_find(&s);
        CHECK(k.tonic == 0 && k.minor == 0, "drums only: %s", gm_key_name(k, kb, sizeof kb));
        /* Add an E major cadence: the drums (F#, G, G# keys) must not sway it. */
        int p = gm_score_add_track(&s, "piano", 0, 0, 0);
        add_chord(&s.tracks[p], 0, BAR, 4, GM_Q_MAJ);
        add_chord(&s.tracks[p], BAR, BAR, 9, GM_Q_MAJ);
        add_chord(&s.tracks[p], 2 * BAR, BAR, 11, GM_Q_DOM7);
        add_chord(&s.tracks[p], 3 * BAR, BAR, 4, GM_Q_MAJ);
        gm_score_sort(&s);
        k = gm_key_find(&s);
        CHECK(k.tonic == 4 && !k.minor, "E major with drums: %s", gm_key_name(k, kb, sizeof kb));
        gm_score_free(&s);
    }
}

static void test_key_shift_and_names(void) {
    char kb[32];
    for (int t = 0; t < 12; t++)
        for (int m = 0; m < 2; m++) {
            gm_key k = {t, m, 0};
            int sh = gm_key_shift_to_c(k);
            CHECK(sh >= -5 && sh <= 6, "shift %d out of range", sh);
            CHECK(((t + sh) % 12 + 12) % 12 == (m ? 9 : 0), "%s shift %d", gm_key_name(k, kb, sizeof kb), sh);
        }
    CHECK(gm_key_shift_to_c((gm_key){0, 0, 0}) == 0, "C");
    CHECK(gm_key_shift_to_c((gm_key){9, 1, 0}) == 0, "Am");
    CHECK(gm_key_shift_to_c((gm_key){7, 0, 0}) == 5, "G → +5");
    CHECK(gm_key_shift_to_c((gm_key){5, 0, 0}) == -5, "F → -5");
    CHECK(gm_key_shift_to_c((gm_key){6, 0, 0}) == 6, "Gb → +6");
    CHECK(gm_key_shift_to_c((gm_key){4, 1, 0}) == 5, "Em → +5");
    CHECK(gm_key_shift_to_c((gm_key){2, 1, 0}) == -5, "Dm → -5");

    CHECK(!strcmp(gm_key_name((gm_key){6, 0, 0}, kb, sizeof kb), "Gb major"), "%s", kb);
    CHECK(!strcmp(gm_key_name((gm_key){9, 1, 0}, kb, sizeof kb), "A minor"), "%s", kb);
    CHECK(!strcmp(gm_key_name((gm_key){1, 1, 0}, kb, sizeof kb), "C# minor"), "%s", kb);
    CHECK(!strcmp(gm_key_name((gm_key){10, 0, 0}, kb, sizeof kb), "Bb major"), "%s", kb);
    char tiny[4];
    gm_key_name((gm_key){6, 0, 0}, tiny, sizeof tiny);
    CHECK(!strcmp(tiny, "Gb "), "truncated '%s'", tiny);
}

static void test_transpose(void) {
    gm_score s;
    gm_track *tr = new_piano(&s);
    gm_track_add_note(tr, 0, TPQ, 0, 90, 0);
    gm_track_add_note(tr, 0, TPQ, 60, 90, 0);
    gm_track_add_note(tr, 0, TPQ, 123, 90, 0);
    gm_track_add_note(tr, 0, TPQ, 127, 90, 0);
    int d = gm_score_add_track(&s, "drums", 0, 9, 1);
    gm_track_add_note(&s.tracks[d], 0, 60, 36, 100, 9);
    gm_track_add_note(&s.tracks[d], 0, 60, 127, 100, 9);
    gm_score_sort(&s);

    gm_score_transpose(&s, 5);
    tr = &s.tracks[0];
    /* 0→5, 60→65, 123→128→116, 127→132→120; re-sorted by pitch. */
    int want[4] = {5, 65, 116, 120};
    for (int i = 0; i < 4; i++) CHECK(tr->notes[i].pitch == want[i], "+5 note %d: %d want %d", i, tr->notes[i].pitch, want[i]);
    CHECK(s.tracks[1].notes[0].pitch == 36 && s.tracks[1].notes[1].pitch == 127, "drums untouched");

    gm_score_transpose(&s, -7); /* 5→-2→10, 65→58, 116→109, 120→113 */
    int want2[4] = {10, 58, 109, 113};
    for (int i = 0; i < 4; i++) CHECK(tr->notes[i].pitch == want2[i], "-7 note %d: %d want %d", i, tr->notes[i].pitch, want2[i]);

    gm_score_transpose(&s, 26); /* two octaves and a tone: 10→36, 58→84, 109→135→123, 113→139→127 */
    int want3[4] = {36, 84, 123, 127};
    for (int i = 0; i < 4; i++) CHECK(tr->notes[i].pitch == want3[i], "+26 note %d: %d want %d", i, tr->notes[i].pitch, want3[i]);
    gm_score_transpose(&s, -300); /* pitch classes still follow: -300 ≡ 0 mod 12, clamped by octaves */
    for (int i = 0; i < 4; i++) CHECK(tr->notes[i].pitch % 12 == want3[i] % 12 && tr->notes[i].pitch < 12,
                                      "-300 note %d: %d", i, tr->notes[i].pitch);
    for (size_t i = 1; i < tr->n_notes; i++) CHECK(tr->notes[i - 1].pitch <= tr->notes[i].pitch, "sorted after fold");
    CHECK(s.tracks[1].notes[0].pitch == 36, "drums still untouched");

    /* Transposing by the key shift lands a piece in C major / A minor. */
    gm_score_free(&s);
    tr = new_piano(&s);
    add_chord(tr, 0, BAR, 2, GM_Q_MIN);
    add_chord(tr, BAR, BAR, 7, GM_Q_MIN);
    add_chord(tr, 2 * BAR, BAR, 9, GM_Q_DOM7);
    add_chord(tr, 3 * BAR, 2 * BAR, 2, GM_Q_MIN);
    gm_score_sort(&s);
    gm_key k = gm_key_find(&s);
    CHECK(k.tonic == 2 && k.minor, "D minor");
    gm_score_transpose(&s, gm_key_shift_to_c(k));
    k = gm_key_find(&s);
    CHECK(k.tonic == 9 && k.minor, "now A minor");
    gm_score_free(&s);
}

/* ======================================================================== */
/* Chord recognition                                                         */
/* ======================================================================== */

static void test_every_chord(void) {
    char a[16], b[16];
    int ok = 0;
    for (int r = 0; r < 12; r++)
        for (int q = 0; q < GM_N_QUALITIES; q++) {
            gm_score s;
            gm_track *tr = new_piano(&s);
            add_chord(tr, 0, BAR, r, q);
            gm_chord out[4];
            int n = recognize(&s, out, 4);
            gm_chord want = {(int8_t)r, (int8_t)q};
            CHECK(n == 1 && out[0].root == r && out[0].quality == q, "one bar of %s → %s", cname(want, a),
                  n == 1 ? cname(out[0], b) : "?");
            ok += n == 1 && out[0].root == r && out[0].quality == q;
            gm_score_free(&s);

            /* Same chord as a quarter-note arpeggio over 2 bars, no bass. */
            tr = new_piano(&s);
            static const int tones[GM_N_QUALITIES][4] = {
                {0, 4, 7, 12}, {0, 3, 7, 12}, {0, 4, 8, 12}, {0, 3, 6, 12},
                {0, 4, 7, 10}, {0, 4, 7, 11}, {0, 3, 7, 10}, {0, 3, 6, 10},
            };
            for (int j = 0; j < 8; j++) gm_track_add_note(tr, j * TPQ, TPQ, 60 + r + tones[q][j % 4], 70, 0);
            n = recognize(&s, out, 4);
            CHECK(n == 2 && out[0].root == r && out[0].quality == q && out[1].root == r && out[1].quality == q,
                  "arpeggio of %s → %s %s", cname(want, a), n >= 1 ? cname(out[0], b) : "?",
                  n >= 2 ? cname(out[1], b) : "?");
            gm_score_free(&s);
        }
    CHECK(ok == 96, "%d of 96 chords", ok);
}

static void test_progression(void) {
    char a[16], b[16];
    /* C Am F G7 | Cmaj7 Dm7 Bm7b5 E7 | Am, with a melody on top. */
    static const int prog[9][2] = {{0, GM_Q_MAJ}, {9, GM_Q_MIN}, {5, GM_Q_MAJ}, {7, GM_Q_DOM7}, {0, GM_Q_MAJ7},
                                   {2, GM_Q_MIN7}, {11, GM_Q_M7B5}, {4, GM_Q_DOM7}, {9, GM_Q_MIN}};
    gm_score s;
    gm_track *tr = new_piano(&s);
    for (int i = 0; i < 9; i++) add_chord(tr, (int64_t)i * BAR, BAR, prog[i][0], prog[i][1]);
    int m = gm_score_add_track(&s, "melody", 0, 1, 0);
    static const int mel[] = {76, 74, 72, 71, 72, 74, 76, 77, 79, 77, 76, 74, 72, 71, 69, 71};
    for (int i = 0; i < 16; i++) gm_track_add_note(&s.tracks[m], i * 2 * TPQ, TPQ / 2, mel[i], 100, 1);
    gm_chord out[16];
    int n = recognize(&s, out, 16);
    CHECK(n == 9, "bars %d", n);
    for (int i = 0; i < n && i < 9; i++) {
        gm_chord want = {(int8_t)prog[i][0], (int8_t)prog[i][1]};
        CHECK(out[i].root == want.root && out[i].quality == want.quality, "bar %d: %s want %s", i, cname(out[i], a),
              cname(want, b));
    }
    gm_score_free(&s);
}

/* The Viterbi smoothing: a bar that alone reads as Em (E, G and a little B)
 * becomes C between two C bars, and stays Em between two Em bars. */
static void test_smoothing(void) {
    char a[16];
    gm_chord out[8];
    gm_score s;
    gm_track *tr = new_piano(&s);
    gm_track_add_note(tr, 0, BAR, 64, 80, 0);
    gm_track_add_note(tr, 0, BAR, 67, 80, 0);
    gm_track_add_note(tr, 0, BAR / 10, 71, 80, 0);
    int n = recognize(&s, out, 8);
    CHECK(n == 1 && out[0].root == 4 && out[0].quality == GM_Q_MIN, "alone: %s", n == 1 ? cname(out[0], a) : "?");
    gm_score_free(&s);

    for (int ctx = 0; ctx < 2; ctx++) {
        tr = new_piano(&s);
        int r = ctx ? 4 : 0, q = ctx ? GM_Q_MIN : GM_Q_MAJ;
        add_chord(tr, 0, BAR, r, q);
        gm_track_add_note(tr, BAR, BAR, 64, 80, 0);
        gm_track_add_note(tr, BAR, BAR, 67, 80, 0);
        gm_track_add_note(tr, BAR, BAR / 10, 71, 80, 0);
        add_chord(tr, 2 * BAR, BAR, r, q);
        n = recognize(&s, out, 8);
        CHECK(n == 3 && out[1].root == r && out[1].quality == q, "between %s: middle %s", ctx ? "Em" : "C",
              n == 3 ? cname(out[1], a) : "?");
        gm_score_free(&s);
    }
}

static void test_chord_edges(void) {
    char a[16], b[16];
    gm_chord out[16];
    gm_score s;
    /* No notes at all: one bar, N. */
    gm_score_init(&s, TPQ);
    int n = recognize(&s, out, 16);
    CHECK(n == 1 && out[0].root == -1 && out[0].quality == -1, "empty score");
    gm_score_free(&s);

    /* Drums only, 4 bars: N everywhere. */
    gm_score_init(&s, TPQ);
    int d = gm_score_add_track(&s, "drums", 0, 9, 1);
    for (int j = 0; j < 16; j++) gm_track_add_note(&s.tracks[d], j * TPQ, 60, 36 + (j % 4) * 2, 100, 9);
    n = recognize(&s, out, 16);
    CHECK(n == 4, "drum bars %d", n);
    int alln = 1;
    for (int i = 0; i < n; i++) alln &= out[i].root == -1 && out[i].quality == -1;
    CHECK(alln, "drums only → N");

    /* Drums plus chords: the drums change nothing. */
    int p = gm_score_add_track(&s, "piano", 0, 0, 0);
    add_chord(&s.tracks[p], 0, BAR, 2, GM_Q_MIN);
    add_chord(&s.tracks[p], BAR, BAR, 7, GM_Q_DOM7);
    add_chord(&s.tracks[p], 2 * BAR, 2 * BAR, 0, GM_Q_MAJ); /* held over two bars */
    n = recognize(&s, out, 16);
    CHECK(n == 4 && out[0].root == 2 && out[0].quality == GM_Q_MIN && out[1].root == 7 && out[1].quality == GM_Q_DOM7 &&
              out[2].root == 0 && out[2].quality == GM_Q_MAJ && out[3].root == 0 && out[3].quality == GM_Q_MAJ,
          "Dm G7 C C: %s %s ...", cname(out[0], a), cname(out[1], b));
    gm_score_free(&s);

    /* A silent bar and a silent lead-in: Magenta's model carries a
     * neighbouring chord through them rather than N. */
    gm_track *tr = new_piano(&s);
    add_chord(tr, BAR, BAR, 9, GM_Q_MIN);
    add_chord(tr, 3 * BAR, BAR, 5, GM_Q_MAJ);
    n = recognize(&s, out, 16);
    CHECK(n == 4, "bars %d", n);
    CHECK(out[0].root == 9 && out[0].quality == GM_Q_MIN, "lead-in takes Am: %s", cname(out[0], a));
    CHECK((out[2].root == 9 && out[2].quality == GM_Q_MIN) || (out[2].root == 5 && out[2].quality == GM_Q_MAJ),
          "silent bar carries a neighbour: %s", cname(out[2], a));
    CHECK(out[1].root == 9 && out[3].root == 5, "Am, F: %s %s", cname(out[1], a), cname(out[3], b));
    gm_score_free(&s);

    /* 3/4 metre: one chord per 3/4 bar. */
    tr = new_piano(&s);
    gm_score_add_timesig(&s, 0, 3, 4);
    add_chord(tr, 0, 3 * TPQ, 7, GM_Q_MAJ);
    add_chord(tr, 3 * TPQ, 3 * TPQ, 0, GM_Q_MAJ);
    add_chord(tr, 6 * TPQ, 3 * TPQ, 2, GM_Q_DOM7);
    add_chord(tr, 9 * TPQ, 3 * TPQ, 7, GM_Q_MAJ);
    n = recognize(&s, out, 16);
    CHECK(n == 4 && out[0].root == 7 && out[1].root == 0 && out[2].root == 2 && out[2].quality == GM_Q_DOM7 &&
              out[3].root == 7,
          "3/4: %d bars", n);
    gm_score_free(&s);

    /* Notes past the bar map's end are ignored, not a crash. */
    tr = new_piano(&s);
    add_chord(tr, 0, BAR, 0, GM_Q_MAJ);
    gm_score_sort(&s);
    gm_barmap bm;
    char err[GM_ERR_SIZE] = "";
    CHECK(gm_barmap_build(&bm, &s, 4, err) == 0, "%s", err);
    add_chord(tr, 5 * BAR, BAR, 6, GM_Q_DIM);
    CHECK(gm_chords_recognize(&s, &bm, out, err) == 0 && bm.n_bars == 1 && out[0].root == 0, "past the end");
    CHECK(gm_chords_recognize(&s, &bm, NULL, err) != 0 && err[0], "null out refused");
    gm_barmap_free(&bm);
    gm_score_free(&s);

    /* Long held notes cost nothing extra: 3000 notes each held 3000 bars
     * (9 M note-bars) — C major throughout, quickly. */
    tr = new_piano(&s);
    for (int i = 0; i < 3000; i++) gm_track_add_note(tr, i, 3000LL * BAR, 48 + 12 * (i % 3) + (i % 3 == 1 ? 4 : i % 3 == 2 ? 7 : 0), 80, 0);
    gm_score_sort(&s);
    CHECK(gm_barmap_build(&bm, &s, 4, err) == 0, "%s", err);
    gm_chord *many = malloc((size_t)bm.n_bars * sizeof *many);
    CHECK(many && gm_chords_recognize(&s, &bm, many, err) == 0, "held notes: %s", err);
    int allc = many != NULL;
    for (int i = 0; many && i < bm.n_bars; i++) allc &= many[i].root == 0 && many[i].quality == GM_Q_MAJ;
    CHECK(allc && bm.n_bars >= 3001, "held C major over %d bars", bm.n_bars);
    free(many);
    gm_barmap_free(&bm);

    /* Absurdly long pieces are refused with a reason, not allocated. */
    s.end_tick = 70000LL * BAR;
    CHECK(gm_barmap_build(&bm, &s, 4, err) == 0, "%s", err);
    err[0] = 0;
    CHECK(gm_chords_recognize(&s, &bm, out, err) != 0 && strstr(err, "bars"), "70000 bars: %s", err);
    gm_barmap_free(&bm);
    gm_score_free(&s);
}

/* ======================================================================== */
/* Chord names                                                               */
/* ======================================================================== */

static void test_names(void) {
    char buf[16], err[GM_ERR_SIZE];
    gm_chord c;
    int ok = 0;
    for (int r = -1; r < 12; r++)
        for (int q = 0; q < (r < 0 ? 1 : GM_N_QUALITIES); q++) {
            gm_chord in = {(int8_t)r, (int8_t)(r < 0 ? -1 : q)};
            gm_chord_name(in, buf, sizeof buf);
            int rc = gm_chord_parse(buf, &c, err);
            ok += rc == 0 && c.root == in.root && c.quality == in.quality;
            CHECK(rc == 0 && c.root == in.root && c.quality == in.quality, "round trip '%s'", buf);
        }
    CHECK(ok == 97, "round trips %d", ok);

    static const struct { const char *s; int root, q; } cases[] = {
        {"C", 0, GM_Q_MAJ},      {"Am", 9, GM_Q_MIN},       {"G7", 7, GM_Q_DOM7},     {"Bdim", 11, GM_Q_DIM},
        {"Fmaj7", 5, GM_Q_MAJ7}, {"Em7", 4, GM_Q_MIN7},     {"Bm7b5", 11, GM_Q_M7B5}, {"Caug", 0, GM_Q_AUG},
        {"C+", 0, GM_Q_AUG},     {"Db", 1, GM_Q_MAJ},       {"C#", 1, GM_Q_MAJ},      {"Bbm7", 10, GM_Q_MIN7},
        {"F#m7b5", 6, GM_Q_M7B5}, {"Ebmaj7", 3, GM_Q_MAJ7}, {"Gb", 6, GM_Q_MAJ},      {"Cb", 11, GM_Q_MAJ},
        {"B:maj", 11, GM_Q_MAJ}, {"A:min7", 9, GM_Q_MIN7},  {"E:hdim7", 4, GM_Q_M7B5}, {" Dm ", 2, GM_Q_MIN},
        {"N", -1, -1},           {"N.C.", -1, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = gm_chord_parse(cases[i].s, &c, err);
        CHECK(rc == 0 && c.root == cases[i].root && c.quality == cases[i].q, "parse '%s' → %d %d (%s)", cases[i].s,
              c.root, c.quality, rc ? err : "");
    }
    static const char *bad[] = {"", "H", "c", "Cxyz", "Am9", "C/E", "Csus4", "   ", "C#############################"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        CHECK(gm_chord_parse(bad[i], &c, err) != 0 && err[0], "'%s' should be refused", bad[i]);
    }
    CHECK(!strcmp(gm_chord_name((gm_chord){-1, -1}, buf, sizeof buf), "N"), "N name");
    CHECK(!strcmp(gm_chord_name((gm_chord){3, GM_Q_MAJ7}, buf, sizeof buf), "Ebmaj7"), "%s", buf);
    CHECK(!strcmp(gm_chord_name((gm_chord){6, GM_Q_MIN}, buf, sizeof buf), "F#m"), "%s", buf);
}

/* ======================================================================== */
/* Half-bar frames                                                           */
/* ======================================================================== */

/* Chords changing at the half bar are found per half; one per bar is what
 * gm_chords_recognize gives, and frames = 1 is exactly it. */
static void test_half_bars(void) {
    char a[16], b[16];
    gm_score s;
    gm_track *tr = new_piano(&s);
    /* C G | Am | F G7 | C */
    static const int prog[8][2] = {{0, GM_Q_MAJ}, {7, GM_Q_MAJ}, {9, GM_Q_MIN}, {9, GM_Q_MIN},
                                   {5, GM_Q_MAJ}, {7, GM_Q_DOM7}, {0, GM_Q_MAJ}, {0, GM_Q_MAJ}};
    for (int i = 0; i < 8; i++) add_chord(tr, (int64_t)i * BAR / 2, BAR / 2, prog[i][0], prog[i][1]);
    gm_score_sort(&s);
    gm_barmap bm;
    char err[GM_ERR_SIZE] = "";
    CHECK(gm_barmap_build(&bm, &s, 4, err) == 0 && bm.n_bars == 4, "bars %d", bm.n_bars);
    gm_chord half[8], bars[4], one[4];
    CHECK(gm_chords_recognize_frames(&s, &bm, 2, half, err) == 0, "%s", err);
    for (int i = 0; i < 8; i++)
        CHECK(half[i].root == prog[i][0] && half[i].quality == prog[i][1], "half %d: %s want %s", i, cname(half[i], a),
              cname((gm_chord){(int8_t)prog[i][0], (int8_t)prog[i][1]}, b));
    CHECK(gm_chords_recognize(&s, &bm, bars, err) == 0 && gm_chords_recognize_frames(&s, &bm, 1, one, err) == 0, "%s", err);
    CHECK(!memcmp(bars, one, sizeof bars), "frames = 1 is the bar recogniser");
    CHECK(gm_chords_recognize_frames(&s, &bm, 3, half, err) != 0 && strstr(err, "frames"), "3 frames refused: %s", err);
    CHECK(gm_chords_recognize_frames(&s, &bm, 0, half, err) != 0, "0 frames refused");
    gm_barmap_free(&bm);
    gm_score_free(&s);

    /* A chord held over the bar stays one chord in both halves (the Viterbi
     * does not split a bar for nothing), in 3/4 too (6+6 columns). */
    tr = new_piano(&s);
    gm_score_add_timesig(&s, 0, 3, 4);
    add_chord(tr, 0, 3 * TPQ, 2, GM_Q_MIN7);
    add_chord(tr, 3 * TPQ, 3 * TPQ, 7, GM_Q_DOM7);
    gm_score_sort(&s);
    CHECK(gm_barmap_build(&bm, &s, 4, err) == 0 && bm.n_bars == 2, "3/4 bars %d", bm.n_bars);
    CHECK(gm_chords_recognize_frames(&s, &bm, 2, half, err) == 0 && half[0].root == 2 && half[1].root == 2 &&
              half[1].quality == GM_Q_MIN7 && half[2].root == 7 && half[3].root == 7 && half[3].quality == GM_Q_DOM7,
          "Dm7 | G7 held: %s %s %s %s", cname(half[0], a), cname(half[1], b), cname(half[2], a), cname(half[3], b));
    gm_barmap_free(&bm);
    gm_score_free(&s);
}

/* ======================================================================== */
/* Progressions in bars: "C G | Am F"                                        */
/* ======================================================================== */

/* Parses and checks root of every half against want ("C C G G" style, N as -1). */
static void check_bars(const char *text, int n_want, const int *roots) {
    gm_chord *c = NULL;
    int n = -1;
    char err[GM_ERR_SIZE] = "";
    int rc = gm_chords_parse_bars(text, &c, &n, err);
    CHECK(rc == 0 && n == n_want, "'%s': rc %d, %d bars (want %d): %s", text, rc, n, n_want, err);
    for (int i = 0; rc == 0 && n == n_want && i < 2 * n; i++)
        CHECK(c[i].root == roots[i], "'%s' half %d: root %d want %d", text, i, c[i].root, roots[i]);
    free(c);
}

static void test_progressions(void) {
    check_bars("C G Am F", 4, (const int[]){0, 0, 7, 7, 9, 9, 5, 5});
    check_bars("C G | Am F", 2, (const int[]){0, 7, 9, 5});
    check_bars("C,G,Am,F", 4, (const int[]){0, 0, 7, 7, 9, 9, 5, 5});
    check_bars("| C | G D |\n| Am |\n", 3, (const int[]){0, 0, 7, 2, 9, 9});
    check_bars("C G\nAm F\n", 4, (const int[]){0, 0, 7, 7, 9, 9, 5, 5});     /* no '|': a name is a bar */
    check_bars("C G |\nAm F |\nN", 3, (const int[]){0, 7, 9, 5, -1, -1}); /* with '|': line ends end bars */
    check_bars("Cmaj7 | N G7", 2, (const int[]){0, 0, -1, 7});
    static const struct { const char *text, *why; } bad[] = {
        {"", "no chord"},       {" | | ", "no chord"},           {"C G Am | F", "bar 1 has more than two"},
        {"C | G D E", "bar 2"}, {"C Xm", "'Xm' is not a chord"}, {"C | Gsus", "unknown chord quality"},
        {"C | Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "not a chord name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        gm_chord *c = (gm_chord *)1;
        int n = 7;
        char err[GM_ERR_SIZE] = "";
        int rc = gm_chords_parse_bars(bad[i].text, &c, &n, err);
        CHECK(rc != 0 && c == NULL && n == 0 && strstr(err, bad[i].why) && !strchr(err, '\n'), "'%s': %s", bad[i].text, err);
    }
}

/* ======================================================================== */
/* Human labels (POP909's chord_midi.txt)                                    */
/* ======================================================================== */

static void test_label_qualities(void) {
    /* every quality in POP909's chord_midi.txt files, and its nearest chord */
    static const struct { const char *label; int root, q; } cases[] = {
        {"C:maj", 0, GM_Q_MAJ},      {"A:min", 9, GM_Q_MIN},       {"F#:aug", 6, GM_Q_AUG},
        {"B:dim", 11, GM_Q_DIM},     {"G:7", 7, GM_Q_DOM7},        {"Eb:maj7", 3, GM_Q_MAJ7},
        {"D:min7", 2, GM_Q_MIN7},    {"B:hdim7", 11, GM_Q_M7B5},   {"C#:dim7", 1, GM_Q_DIM},
        {"D:sus2", 2, GM_Q_MAJ},     {"G:sus4", 7, GM_Q_MAJ},      {"A:sus4(b7)", 9, GM_Q_DOM7},
        {"Bb:maj6", 10, GM_Q_MAJ},   {"E:min6", 4, GM_Q_MIN},      {"F:minmaj7", 5, GM_Q_MIN},
        {"Ab:maj/3", 8, GM_Q_MAJ},   {"E:min7/b7", 4, GM_Q_MIN7},  {"G:sus4(b7)/5", 7, GM_Q_DOM7},
        {"N", -1, -1},               {"Am", 9, GM_Q_MIN},
    };
    char err[GM_ERR_SIZE];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gm_chord c = {99, 99};
        int rc = gm_chord_label_nearest(cases[i].label, &c, err);
        CHECK(rc == 0 && c.root == cases[i].root && c.quality == cases[i].q, "'%s' → %d %d (%s)", cases[i].label, c.root,
              c.quality, rc ? err : "");
    }
    static const char *bad[] = {"C:xyz", "H:maj", ":maj", "C:", "N:maj", "Cm:min", "C:maj7777777777777777777777777777777"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        gm_chord c;
        err[0] = 0;
        CHECK(gm_chord_label_nearest(bad[i], &c, err) != 0 && err[0], "'%s' refused: %s", bad[i], err);
    }
}

/* Labels in seconds land on the right half bars through the tempo map and
 * are moved by the song's transposition; frames no label reaches are N. */
static void test_labels_to_frames(void) {
    char dir[] = "/tmp/gm_test_labels_XXXXXX", path[128], err[GM_ERR_SIZE];
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/chord_midi.txt", dir);
    /* 60 bpm for bar 1 (4 s), 120 bpm after (2 s a bar): bar 1 = 0-4 s,
     * bar 2 = 4-6 s, bar 3 = 6-8 s, bar 4 = 8-10 s. */
    test_write_text(path, "0.0 2.0 C:maj\n2.0 4.0 G:7\n\n4.0 5.0\tA:min/b3\n5.0 5.2 E:min\n5.2 6.0 F:sus2\n"
                     "6.0 7.4 N\n7.4 8.0 D:hdim7\n");
    gm_timed_chord *l = NULL;
    int n = 0;
    CHECK(gm_timed_chords_load(path, &l, &n, err) == 0 && n == 7, "read: %d labels: %s", n, err);
    gm_score s;
    gm_track *tr = new_piano(&s);
    gm_score_add_tempo(&s, 0, 1000000);
    gm_score_add_tempo(&s, BAR, 500000);
    add_chord(tr, 0, 4 * BAR, 0, GM_Q_MAJ);
    gm_score_sort(&s);
    gm_barmap bm;
    CHECK(gm_barmap_build(&bm, &s, 4, err) == 0 && bm.n_bars == 4, "bars %d", bm.n_bars);
    gm_chord f[8], b[4];
    CHECK(gm_chords_from_timed(&s, &bm, 2, l, n, 0, f, err) == 0, "%s", err);
    /* C G7 | Am F (the short Em loses) | N Dm7b5 (7-8 s: N 0.4 s, D 0.6 s) | no labels: N N */
    static const int want[8][2] = {{0, GM_Q_MAJ}, {7, GM_Q_DOM7}, {9, GM_Q_MIN}, {5, GM_Q_MAJ},
                                   {-1, -1},      {2, GM_Q_M7B5}, {-1, -1},      {-1, -1}};
    for (int i = 0; i < 8; i++)
        CHECK(f[i].root == want[i][0] && f[i].quality == want[i][1], "frame %d: %d %d want %d %d", i, f[i].root,
              f[i].quality, want[i][0], want[i][1]);
    /* per bar: the longest label over the whole bar (C and G7 tie: the
     * first), with the roots moved up 3 semitones */
    CHECK(gm_chords_from_timed(&s, &bm, 1, l, n, 3, b, err) == 0 && b[0].root == 3 && b[1].root == 0 &&
              b[1].quality == GM_Q_MIN && b[2].root == -1 && b[3].root == -1,
          "bars shifted: %d %d %d %d", b[0].root, b[1].root, b[2].root, b[3].root);
    CHECK(gm_chords_from_timed(&s, &bm, 2, l, n, -5, f, err) == 0 && f[0].root == 7 && f[1].root == 2 && f[3].root == 0,
          "shift down: %d %d %d", f[0].root, f[1].root, f[3].root);
    free(l);
    gm_barmap_free(&bm);
    gm_score_free(&s);

    /* Malformed files: a clear error naming the line, never a crash. */
    static const struct { const char *text, *why; } bad[] = {
        {"0 1 C:maj\nnonsense\n", ": line 2:"},        {"0 1 C:maj\n1 0.5 G:maj\n", ": line 2: times"},
        {"nan 1 C:maj\n", ": line 1: times"},          {"-1 1 C:maj\n", ": line 1: times"},
        {"0 1 C:maj extra\n", ": line 1: expected"},   {"0 1\n", ": line 1: expected"},
        {"0 1 C:blah\n", "unknown chord quality"}, {"0 1 X:maj\n", "not a chord root"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        test_write_text(path, bad[i].text);
        l = (gm_timed_chord *)1;
        n = 5;
        err[0] = 0;
        int rc = gm_timed_chords_load(path, &l, &n, err);
        CHECK(rc != 0 && l == NULL && n == 0 && strstr(err, bad[i].why), "'%s': %s", bad[i].text, err);
    }
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    test_write_text(path, big);
    CHECK(gm_timed_chords_load(path, &l, &n, err) != 0 && strstr(err, "too long"), "long line: %s", err);
    test_write_text(path, "");
    CHECK(gm_timed_chords_load(path, &l, &n, err) == 0 && n == 0, "empty file: no labels");
    free(l);
    unlink(path);
    CHECK(gm_timed_chords_load(path, &l, &n, err) != 0 && strstr(err, "cannot open"), "missing: %s", err);
    rmdir(dir);
}

/* ======================================================================== */
/* POP909: per-bar root accuracy against the human chord labels              */
/* ======================================================================== */

/* Correct / counted bars (labels other than N) of one song; -1 if unreadable. */
static int pop909_song(const char *dir, int song, int *correct, int *counted) {
    char path[512], err[GM_ERR_SIZE];
    snprintf(path, sizeof path, "%s/pop909/%03d/%03d.mid", dir, song, song);
    gm_score s;
    if (gm_midi_read_file(path, &s, err)) {
        CHECK(0, "%s: %s", path, err);
        return -1;
    }
    snprintf(path, sizeof path, "%s/pop909/%03d/chord_midi.txt", dir, song);
    FILE *f = fopen(path, "r");
    gm_barmap bm;
    if (!f || gm_barmap_build(&bm, &s, 4, err)) {
        CHECK(0, "%s: %s", path, f ? err : "cannot open");
        if (f) fclose(f);
        gm_score_free(&s);
        return -1;
    }
    int nb = bm.n_bars;
    gm_chord *out = malloc((size_t)nb * sizeof *out);
    int64_t *best = calloc((size_t)nb, sizeof *best); /* longest label overlap per bar */
    int *ref = malloc((size_t)nb * sizeof *ref);      /* its root, -1 = N, -2 = none */
    for (int b = 0; b < nb; b++) ref[b] = -2;
    if (!out || !best || !ref || gm_chords_recognize(&s, &bm, out, err)) {
        CHECK(0, "song %d: %s", song, err);
        nb = 0;
    }
    double t0, t1;
    char lab[64];
    while (nb && fscanf(f, "%lf %lf %63s", &t0, &t1, lab) == 3) {
        int root = -1;
        if (strcmp(lab, "N")) {
            char *colon = strchr(lab, ':');
            if (colon) *colon = 0;
            gm_chord c;
            if (gm_chord_parse(lab, &c, err)) continue;
            root = c.root;
        }
        int64_t a = gm_score_seconds_to_tick(&s, t0), z = gm_score_seconds_to_tick(&s, t1);
        for (int b = a >= bm.bar_tick[nb] ? nb : gm_barmap_bar_of_tick(&bm, a); b < nb && bm.bar_tick[b] < z; b++) {
            int64_t lo = a > bm.bar_tick[b] ? a : bm.bar_tick[b];
            int64_t hi = z < bm.bar_tick[b + 1] ? z : bm.bar_tick[b + 1];
            if (hi - lo > best[b]) {
                best[b] = hi - lo;
                ref[b] = root;
            }
        }
    }
    for (int b = 0; b < nb; b++) {
        if (ref[b] < 0) continue;
        (*counted)++;
        *correct += out[b].root == ref[b];
    }
    fclose(f);
    free(out);
    free(best);
    free(ref);
    gm_barmap_free(&bm);
    gm_score_free(&s);
    return 0;
}

/* Half-bar recognition against the labels at half-bar resolution, beside
 * the bar recogniser's chord repeated over both halves, on bars rebuilt from
 * the annotated downbeats: the half-bar frames must not do worse. */
static void test_pop909_half_bars(void) {
    const char *dir = test_data_dir();
    char path[512], err[GM_ERR_SIZE];
    struct stat st;
    if (dir) snprintf(path, sizeof path, "%s/pop909/001/chord_midi.txt", dir);
    if (!dir || stat(path, &st) != 0) {
        SKIP("POP909 not found (../shared/data/pop909): half-bar chord accuracy not checked");
        return;
    }
    long n = 0, ok_bar = 0, ok_half = 0;
    for (int song = 1; song <= 818; song += 75) {
        gm_score s;
        gm_barmap bm = {0};
        snprintf(path, sizeof path, "%s/pop909/%03d/%03d.mid", dir, song, song);
        if (gm_midi_read_file(path, &s, err)) { CHECK(0, "%s: %s", path, err); continue; }
        snprintf(path, sizeof path, "%s/pop909/%03d/beat_midi.txt", dir, song);
        gm_timed_chord *l = NULL;
        int nl = 0, rc = gm_score_metre_from_beat_file(&s, path, err) || gm_barmap_build(&bm, &s, 4, err);
        snprintf(path, sizeof path, "%s/pop909/%03d/chord_midi.txt", dir, song);
        if (!rc) rc = gm_timed_chords_load(path, &l, &nl, err);
        int nf = rc ? 0 : 2 * bm.n_bars;
        gm_chord *ref = malloc((size_t)(nf + 1) * sizeof *ref), *half = malloc((size_t)(nf + 1) * sizeof *half);
        gm_chord *bar = malloc((size_t)(nf / 2 + 1) * sizeof *bar);
        if (!rc && ref && half && bar) {
            rc = gm_chords_from_timed(&s, &bm, 2, l, nl, 0, ref, err) || gm_chords_recognize(&s, &bm, bar, err) ||
                 gm_chords_recognize_frames(&s, &bm, 2, half, err);
            for (int i = 0; !rc && i < nf; i++) {
                if (ref[i].root < 0) continue;
                n++;
                ok_bar += bar[i / 2].root == ref[i].root && bar[i / 2].quality == ref[i].quality;
                ok_half += half[i].root == ref[i].root && half[i].quality == ref[i].quality;
            }
        }
        CHECK(rc == 0, "song %d: %s", song, err);
        gm_barmap_free(&bm);
        free(ref);
        free(half);
        free(bar);
        free(l);
        gm_score_free(&s);
    }
    double a1 = n ? (double)ok_bar / n : 0, a2 = n ? (double)ok_half / n : 0;
    printf("pop909 half bars: %ld labelled half bars, root+quality: bar recogniser %.1f%%, half-bar %.1f%%\n", n,
           100 * a1, 100 * a2);
    CHECK(n > 1000, "half bars %ld", n);
    CHECK(a2 >= a1, "half-bar recogniser %.3f below the bar one %.3f", a2, a1);
}

static void test_pop909(void) {
    const char *dir = test_data_dir();
    char path[512];
    if (dir) snprintf(path, sizeof path, "%s/pop909/001/chord_midi.txt", dir);
    struct stat st;
    if (!dir || stat(path, &st) != 0) {
        SKIP("POP909 not found (../shared/data/pop909): chord accuracy on real songs not checked");
        return;
    }
    int correct = 0, counted = 0, songs = 0;
    for (int song = 1; song <= 818; song += 20)
        if (pop909_song(dir, song, &correct, &counted) == 0) songs++;
    double acc = counted ? (double)correct / counted : 0;
    printf("pop909: %d songs, %d labelled bars, root accuracy %.1f%%\n", songs, counted, 100 * acc);
    CHECK(songs >= 40 && counted > 2000, "songs %d bars %d", songs, counted);
    /* Measured 85.4% on this sample with the files' own (1-2 beat) bars when
     * the floor was set; bench/chord_accuracy.c evaluates all 818 songs. */
    CHECK(acc > POP909_ROOT_FLOOR, "root accuracy %.3f below %.2f", acc, POP909_ROOT_FLOOR);
}

int main(void) {
    test_key_cadences();
    test_key_weights_and_edges();
    test_key_shift_and_names();
    test_transpose();
    test_every_chord();
    test_progression();
    test_smoothing();
    test_chord_edges();
    test_names();
    test_half_bars();
    test_progressions();
    test_label_qualities();
    test_labels_to_frames();
    test_pop909();
    test_pop909_half_bars();
    return test_done("test_chord");
}
