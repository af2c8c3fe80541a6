/* test_metre.c — the bar grid from the music (src/music/metre.c): hand-made pieces
 * of known metre and pickup, the rules of when the file's metre is kept,
 * --metre's request, and the grid's round trip through a MIDI file. */
#include "getmusic.h"
#include "music/metre.h"
#include "test.h"

#define Q 480 /* ticks per quarter of every piece here */

static void note(gm_score *s, int t, double beat, double beats, int pitch, int vel) {
    gm_track_add_note(&s->tracks[t], (int64_t)(beat * Q), (int64_t)(beats * Q), pitch, vel, s->tracks[t].channel);
}

/* Chord roots per bar, so that harmony changes on the bar line. */
static const int roots[4] = {0, 7, 9, 5}; /* C G Am F */

/* A 4/4 rock groove of `bars` bars from beat `at`: kick on 1 and the "and" of
 * 3, snare on 2 and 4, hats on 8ths, a crash every 4 bars; bass on 1, a
 * chord on 1 held for the bar. */
static void rock(gm_score *s, double at, int bars, int pitched) {
    int d = gm_score_add_track(s, "drums", 0, 9, 1), b = pitched ? gm_score_add_track(s, "bass", 33, 1, 0) : -1;
    int p = pitched ? gm_score_add_track(s, "piano", 0, 0, 0) : -1;
    for (int k = 0; k < bars; k++) {
        double t = at + 4 * k;
        note(s, d, t, 0.25, 36, 110), note(s, d, t + 2.5, 0.25, 36, 90);
        note(s, d, t + 1, 0.25, 38, 110), note(s, d, t + 3, 0.25, 38, 110);
        for (int e = 0; e < 8; e++) note(s, d, t + 0.5 * e, 0.25, 42, e % 2 ? 60 : 80);
        if (k % 4 == 0) note(s, d, t, 1, 49, 110);
        if (!pitched) continue;
        int r = roots[k % 4];
        note(s, b, t, 1.5, 36 + r, 100), note(s, b, t + 2, 1, 36 + r, 80);
        for (int v = 0; v < 3; v++) note(s, p, t, 4, 60 + r + (int[]){0, 4, 7}[v], 70);
    }
    gm_score_sort(s);
}

/* A waltz: bass on 1, chord on 2 and 3, a new chord each bar. */
static void waltz(gm_score *s, double at, int bars) {
    int b = gm_score_add_track(s, "bass", 33, 1, 0), p = gm_score_add_track(s, "piano", 0, 0, 0);
    int m = gm_score_add_track(s, "melody", 73, 2, 0);
    for (int k = 0; k < bars; k++) {
        double t = at + 3 * k;
        int r = roots[k % 4];
        note(s, b, t, 1, 36 + r, 100);
        for (int c = 1; c <= 2; c++)
            for (int v = 0; v < 3; v++) note(s, p, t + c, 0.8, 60 + r + (int[]){0, 4, 7}[v], 60);
        note(s, m, t, 2, 72 + r, 90), note(s, m, t + 2, 1, 74 + r, 70);
    }
    gm_score_sort(s);
}

/* 6/8: six eighths a bar, bass on eighths 1 and 4, the chord's arpeggio
 * on every eighth, louder on 1 and 4. */
static void six_eight(gm_score *s, int bars) {
    int b = gm_score_add_track(s, "bass", 33, 1, 0), p = gm_score_add_track(s, "piano", 0, 0, 0);
    for (int k = 0; k < bars; k++) {
        double t = 3.0 * k;
        int r = roots[k % 4];
        note(s, b, t, 1.5, 36 + r, 100), note(s, b, t + 1.5, 1.5, 43 + r, 90);
        for (int e = 0; e < 6; e++) note(s, p, t + 0.5 * e, 0.5, 60 + r + (int[]){0, 4, 7, 12, 7, 4}[e], e % 3 ? 50 : 90);
    }
    gm_score_sort(s);
}

/* A 4/4 melody over chords with a one-beat pickup: the tune starts at beat
 * 0, the bars at beat 1. */
static void pickup_melody(gm_score *s, int bars) {
    int m = gm_score_add_track(s, "melody", 73, 2, 0), p = gm_score_add_track(s, "piano", 0, 0, 0);
    note(s, m, 0, 1, 67, 80); /* the pickup */
    for (int k = 0; k < bars; k++) {
        double t = 1 + 4 * k;
        int r = roots[k % 4];
        note(s, m, t, 2, 72 + r, 100), note(s, m, t + 2, 1, 71 + r, 80), note(s, m, t + 3, 1, 67 + r, 80);
        note(s, p, t, 4, 48 + r, 90);
        for (int v = 0; v < 3; v++) note(s, p, t, 2, 60 + r + (int[]){0, 4, 7}[v], 70);
    }
    gm_score_sort(s);
}

static gm_metre infer(const gm_score *s) {
    char err[GM_ERR_SIZE] = "";
    gm_metre m;
    CHECK(gm_metre_infer(s, 0, 0, &m, err) == 0, "infer: %s", err);
    return m;
}

static void test_pieces(void) {
    gm_score s;
    gm_metre m;
    gm_score_init(&s, Q);
    rock(&s, 0, 8, 1);
    m = infer(&s);
    CHECK(m.numerator == 4 && m.denominator == 4 && m.downbeat_tick == 0 && m.n_odd_bars == 0,
          "rock: %d/%d at %lld, %d odd", m.numerator, m.denominator, (long long)m.downbeat_tick, m.n_odd_bars);
    CHECK(m.confidence > 0.25, "rock: confidence %.2f", m.confidence);
    gm_metre_free(&m);
    gm_score_free(&s);

    gm_score_init(&s, Q); /* the drums alone, after two beats of count-in */
    rock(&s, 2, 8, 0);
    m = infer(&s);
    CHECK(m.numerator == 4 && m.downbeat_tick == 2 * Q, "drums: %d/%d at %lld", m.numerator, m.denominator,
          (long long)m.downbeat_tick);
    gm_metre_free(&m);
    gm_score_free(&s);

    gm_score_init(&s, Q);
    waltz(&s, 0, 12);
    m = infer(&s);
    CHECK(m.numerator == 3 && m.denominator == 4 && m.downbeat_tick == 0, "waltz: %d/%d at %lld", m.numerator,
          m.denominator, (long long)m.downbeat_tick);
    gm_metre_free(&m);
    gm_score_free(&s);

    gm_score_init(&s, Q);
    six_eight(&s, 12);
    m = infer(&s);
    CHECK(m.numerator == 6 && m.denominator == 8 && m.downbeat_tick == 0, "6/8: %d/%d at %lld", m.numerator,
          m.denominator, (long long)m.downbeat_tick);
    gm_metre_free(&m);
    gm_score_free(&s);

    gm_score_init(&s, Q);
    pickup_melody(&s, 8);
    m = infer(&s);
    CHECK(m.numerator == 4 && m.downbeat_tick == Q, "pickup: %d/%d at %lld", m.numerator, m.denominator,
          (long long)m.downbeat_tick);
    gm_metre_free(&m);
    gm_score_free(&s);
}

/* POP909's notes sit a fixed part of a beat after the file's quarters. */
static void test_offset_beats(void) {
    gm_score s, t;
    gm_score_init(&s, Q);
    rock(&s, 0, 8, 1);
    gm_score_init(&t, Q);
    for (int i = 0; i < s.n_tracks; i++) {
        const gm_track *a = &s.tracks[i];
        int k = gm_score_add_track(&t, a->name, a->program, a->channel, a->is_drum);
        for (size_t j = 0; j < a->n_notes; j++)
            gm_track_add_note(&t.tracks[k], a->notes[j].tick + 40, a->notes[j].duration, a->notes[j].pitch,
                              a->notes[j].velocity, a->channel);
    }
    gm_score_sort(&t);
    gm_metre m = infer(&t);
    CHECK(m.numerator == 4 && m.downbeat_tick == 40, "offset: %d/%d at %lld", m.numerator, m.denominator,
          (long long)m.downbeat_tick);
    gm_metre_free(&m);
    gm_score_free(&s);
    gm_score_free(&t);
}

static void test_little_music(void) {
    gm_score s;
    gm_score_init(&s, Q);
    gm_metre m = infer(&s);
    CHECK(m.numerator == 4 && m.denominator == 4 && m.downbeat_tick == 0 && m.confidence == 0, "empty: %d/%d at %lld",
          m.numerator, m.denominator, (long long)m.downbeat_tick);
    int t = gm_score_add_track(&s, "piano", 0, 0, 0);
    note(&s, t, 1, 1, 60, 90);
    gm_score_sort(&s);
    m = infer(&s);
    CHECK(m.numerator == 4 && m.downbeat_tick == 0 && m.confidence == 0, "one note: %d/%d at %lld", m.numerator,
          m.denominator, (long long)m.downbeat_tick);
    char err[GM_ERR_SIZE] = "";
    CHECK(gm_score_settle_metre(&s, NULL, &m, err) == 0 && m.source == GM_METRE_INFERRED && s.n_timesigs == 1 &&
              s.timesigs[0].numerator == 4,
          "one note settled: %s", err);
    gm_barmap bm;
    CHECK(gm_barmap_build(&bm, &s, GM_STEPS_PER_QUARTER, err) == 0 && bm.n_bars == 1 && bm.n_cols == 16, "one bar");
    gm_barmap_free(&bm);
    gm_metre_free(&m);
    gm_score_free(&s);
}

/* Which file metres are kept, and what settling writes. */
static void test_settle(void) {
    char err[GM_ERR_SIZE] = "";
    gm_score s;
    gm_metre m;
    gm_barmap bm;

    /* 1/4 all through (POP909): the music's 4/4. */
    gm_score_init(&s, Q);
    rock(&s, 0, 8, 1);
    gm_score_add_timesig(&s, 0, 1, 4);
    CHECK(gm_metre_file_trust(&s) == GM_METRE_DEGENERATE, "1/4 degenerate");
    CHECK(gm_score_settle_metre(&s, NULL, &m, err) == 0 && m.source == GM_METRE_INFERRED, "1/4 settled: %s", err);
    CHECK(gm_barmap_build(&bm, &s, GM_STEPS_PER_QUARTER, err) == 0 && bm.n_bars == 8 && bm.bar_num[0] == 4,
          "1/4 → %d bars of %d", bm.n_bars, bm.bar_num[0]);
    gm_barmap_free(&bm);
    gm_metre_free(&m);
    gm_score_free(&s);

    /* A real 3/4 signature is kept, even on music that sounds 4/4. */
    gm_score_init(&s, Q);
    rock(&s, 0, 8, 1);
    gm_score_add_timesig(&s, 0, 3, 4);
    CHECK(gm_metre_file_trust(&s) == GM_METRE_TRUSTED, "3/4 trusted");
    CHECK(gm_score_settle_metre(&s, NULL, &m, err) == 0 && m.source == GM_METRE_FILE && s.n_timesigs == 1 &&
              s.timesigs[0].numerator == 3,
          "3/4 kept");
    /* --metre 4/4 overrides it; --pickup 1 puts the first bar line a beat in. */
    gm_metre_request req = {4, 4, 1, 0};
    CHECK(gm_score_settle_metre(&s, &req, &m, err) == 0 && m.source == GM_METRE_GIVEN && m.numerator == 4 &&
              m.downbeat_tick == Q && s.n_timesigs == 2 && s.timesigs[1].tick == Q,
          "--metre 4/4 --pickup 1: %d/%d at %lld", m.numerator, m.denominator, (long long)m.downbeat_tick);
    gm_metre_request keep = {0, 0, -1, 1};
    gm_score_add_timesig(&s, 0, 1, 4);
    s.n_timesigs = 1, s.timesigs[0].numerator = 1;
    CHECK(gm_score_settle_metre(&s, &keep, &m, err) == 0 && m.source == GM_METRE_FILE && s.timesigs[0].numerator == 1,
          "--metre file keeps 1/4");
    gm_metre_free(&m);
    gm_score_free(&s);

    /* A DAW's lone 4/4 on a waltz gives way; on a 4/4 song it stays. */
    gm_score_init(&s, Q);
    waltz(&s, 0, 12);
    gm_score_add_timesig(&s, 0, 4, 4);
    CHECK(gm_metre_file_trust(&s) == GM_METRE_WEAK, "lone 4/4 weak");
    CHECK(gm_score_settle_metre(&s, NULL, &m, err) == 0 && m.source == GM_METRE_INFERRED && m.numerator == 3,
          "waltz under 4/4: %s %d/%d", gm_metre_source_name(m.source), m.numerator, m.denominator);
    gm_metre_free(&m);
    gm_score_free(&s);
    gm_score_init(&s, Q);
    rock(&s, 0, 8, 1);
    gm_score_add_timesig(&s, 0, 4, 4);
    CHECK(gm_score_settle_metre(&s, NULL, &m, err) == 0 && m.source == GM_METRE_FILE, "rock under 4/4 kept");
    gm_metre_free(&m);
    gm_score_free(&s);
}

/* The grid settled is plain time signatures: written and read back, the
 * same bars, and kept as the file's. */
static void test_round_trip(void) {
    char err[GM_ERR_SIZE] = "";
    gm_score s, back;
    gm_metre m;
    gm_score_init(&s, Q);
    pickup_melody(&s, 8);
    CHECK(gm_score_settle_metre(&s, NULL, &m, err) == 0 && m.source == GM_METRE_INFERRED && m.downbeat_tick == Q,
          "pickup settled at %lld", (long long)m.downbeat_tick);
    gm_metre_free(&m);
    uint8_t *data = NULL;
    size_t size = 0;
    CHECK(gm_midi_write_mem(&s, &data, &size, err) == 0 && gm_midi_read_mem(data, size, &back, err) == 0, "%s", err);
    free(data);
    CHECK(back.n_timesigs == s.n_timesigs, "timesigs %d vs %d", back.n_timesigs, s.n_timesigs);
    for (int i = 0; i < back.n_timesigs && i < s.n_timesigs; i++)
        CHECK(back.timesigs[i].tick == s.timesigs[i].tick && back.timesigs[i].numerator == s.timesigs[i].numerator &&
                  back.timesigs[i].denominator == s.timesigs[i].denominator,
              "timesig %d", i);
    CHECK(gm_score_settle_metre(&back, NULL, &m, err) == 0 && m.source == GM_METRE_FILE, "read back: %s",
          gm_metre_source_name(m.source));
    gm_barmap a, b;
    CHECK(gm_barmap_build(&a, &s, 4, err) == 0 && gm_barmap_build(&b, &back, 4, err) == 0 && a.n_bars == b.n_bars &&
              a.bar_tick[1] == Q && b.bar_tick[1] == Q,
          "bars %d vs %d", a.n_bars, b.n_bars);
    gm_barmap_free(&a);
    gm_barmap_free(&b);
    gm_metre_free(&m);
    gm_score_free(&back);
    gm_score_free(&s);
}

/* A song of pop bars (bass on 1 and 3, a chord held from 1, a melody
 * entering on 1 and moving on 3) from beat `at`, `bars` bars; returns the
 * beat after it. */
static double pop_bars(gm_score *s, int b, int p, int m, double at, int bars, int first) {
    for (int k = 0; k < bars; k++) {
        double t = at + 4 * k;
        int r = roots[(first + k) % 4];
        note(s, b, t, 2, 36 + r, 100), note(s, b, t + 2, 2, 43 + r, 80);
        for (int v = 0; v < 3; v++) note(s, p, t, 4, 60 + r + (int[]){0, 4, 7}[v], 70);
        note(s, m, t, 1.5, 72 + r, 90), note(s, m, t + 1.5, 0.5, 74 + r, 70), note(s, m, t + 2, 2, 76 + r, 80);
    }
    return at + 4 * bars;
}

/* An empty score with a bass, a piano and a melody track (their indices). */
static void band(gm_score *s, int *bass, int *piano, int *melody) {
    gm_score_init(s, Q);
    *bass = gm_score_add_track(s, "bass", 33, 1, 0);
    *piano = gm_score_add_track(s, "piano", 0, 0, 0);
    *melody = gm_score_add_track(s, "melody", 73, 2, 0);
}

/* A song that drops two beats after 8 bars (a 2/4 bar, as POP909's
 * annotations have in many songs): the bars after it start two beats
 * early, and a single grid would put every later bar line mid-bar. */
static void test_dropped_beats(void) {
    gm_score s;
    int b, p, m;
    band(&s, &b, &p, &m);
    double t = pop_bars(&s, b, p, m, 0, 8, 0);
    note(&s, b, t, 2, 38, 90), note(&s, m, t, 2, 74, 80); /* the short bar: two beats, no new chord */
    pop_bars(&s, b, p, m, t + 2, 8, 0);
    gm_score_sort(&s);
    gm_metre m1 = infer(&s);
    CHECK(m1.numerator == 4 && m1.downbeat_tick == 0 && m1.n_odd_bars >= 1, "dropped beats: %d/%d at %lld, %d odd",
          m1.numerator, m1.denominator, (long long)m1.downbeat_tick, m1.n_odd_bars);
    char err[GM_ERR_SIZE] = "";
    gm_barmap bm;
    CHECK(gm_score_set_metre(&s, &m1, err) == 0 && gm_barmap_build(&bm, &s, GM_STEPS_PER_QUARTER, err) == 0, "%s", err);
    /* Every bar line after the short bar on a bar of the music: beat 34 + 4k. */
    int later = 0, right = 0;
    for (int k = 0; k < bm.n_bars; k++)
        if (bm.bar_tick[k] >= 36 * Q && bm.bar_tick[k] < 66 * Q) later++, right += (bm.bar_tick[k] / Q - 34) % 4 == 0;
    CHECK(later >= 7 && right == later, "after the short bar %d of %d bar lines right", right, later);
    gm_barmap_free(&bm);
    gm_metre_free(&m1);
    gm_score_free(&s);
}

/* Eighths pushed ahead of the beat (short off-beat chords, more of them
 * than of anything else) under a bass and melody held from the beats: the
 * beats are where the held notes start, not the busier 8ths. */
static void test_offbeat_eighths(void) {
    gm_score s;
    int b, p, m;
    band(&s, &b, &p, &m);
    for (int k = 0; k < 12; k++) {
        double t = 4.0 * k;
        int r = roots[k % 4];
        note(&s, b, t, 4, 36 + r, 90), note(&s, m, t, 2, 72 + r, 80), note(&s, m, t + 2, 2, 76 + r, 80);
        for (int e = 0; e < 4; e++)
            for (int v = 0; v < 4; v++) note(&s, p, t + e + 0.5, 0.25, 60 + r + (int[]){0, 4, 7, 12}[v], 100);
    }
    gm_score_sort(&s);
    gm_metre m1 = infer(&s);
    CHECK(m1.downbeat_tick % Q == 0, "off-beat eighths: first bar at %lld", (long long)m1.downbeat_tick);
    gm_metre_free(&m1);
    gm_score_free(&s);
}

/* The classifier's inputs: one row a beat, the bass onset where it is. */
static void test_beat_inputs(void) {
    gm_score s;
    int b, p, m;
    band(&s, &b, &p, &m);
    pop_bars(&s, b, p, m, 0, 4, 0);
    gm_score_sort(&s);
    float *x = NULL;
    int n = 0;
    int64_t b0 = -1;
    char err[GM_ERR_SIZE] = "";
    CHECK(gm_metre_beat_inputs(&s, &x, &n, &b0, err) == 0 && n >= 16 && b0 == 0, "inputs: %d beats from %lld: %s", n,
          (long long)b0, err);
    CHECK(x && x[1] > 0 && x[GM_METRE_INPUTS + 1] == 0, "bass onset on beat 0 only: %g %g", x ? x[1] : -1,
          x ? x[GM_METRE_INPUTS + 1] : -1);
    free(x);
    s.ticks_per_quarter = 2;
    CHECK(gm_metre_beat_inputs(&s, &x, &n, &b0, err) != 0 && x == NULL, "too coarse refused");
    gm_score_free(&s);
}

static void test_bad_requests(void) {
    char err[GM_ERR_SIZE] = "";
    gm_score s;
    gm_metre m;
    gm_score_init(&s, Q);
    CHECK(gm_metre_infer(&s, 7, 4, &m, err) != 0 && strstr(err, "7/4"), "7/4 refused: %s", err);
    CHECK(gm_metre_infer(&s, 3, 0, &m, err) != 0, "x/0 refused");
    gm_score_free(&s);
}

int main(void) {
    test_pieces();
    test_offset_beats();
    test_little_music();
    test_settle();
    test_round_trip();
    test_dropped_beats();
    test_offbeat_eighths();
    test_beat_inputs();
    test_bad_requests();
    printf("test_metre: %d passed, %d failed\n", t_pass, t_fail);
    return t_fail ? 1 : 0;
}
