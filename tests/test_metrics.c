/* test_metrics.c — MusPy's metrics pinned on small hand-built pieces (values
 * worked out by hand in the comments, following muspy/metrics/metrics.py),
 * their NaN edge cases, the measure resolution, the accompaniment metrics
 * (histogram overlap areas, chord accuracy), and what a musician hears
 * (chord labels, chord-tone ratio and its floor, drum feel). */
#include "getmusic.h"
#include "test.h"

#include <math.h>
#include <stdint.h>

#define EPS 1e-9

static int near(double a, double b) { return fabs(a - b) < EPS; }

/* Checks one metric against a value (NaN means "must be NaN"). */
#define METRIC(m, idx, want)                                                                     \
    do {                                                                                         \
        double got_ = (m).v[idx], want_ = (want);                                                \
        CHECK(isnan(want_) ? isnan(got_) : near(got_, want_), "%s: got %.9g, want %.9g (line %d)", \
              gm_metric_name(idx), got_, want_, __LINE__);                                       \
    } while (0)

static gm_metrics metrics_of(const gm_score *s, const uint8_t *mask, const gm_metrics_params *p) {
    gm_metrics m;
    char err[GM_ERR_SIZE] = "";
    int rc = gm_metrics_compute(s, mask, p, &m, err);
    CHECK(rc == 0, "gm_metrics_compute: %s", err);
    return m;
}

/* ======================================================================== */
/* Piece A: a small piece with piano and drums                              */
/* ======================================================================== */

/*
 * 12 ticks per quarter (MusPy resolution 12: divisible by 3 and 4, so both
 * drum patterns are non-trivial), no time signature (4/4: measure = 48).
 *
 * piano (track 0)                  drums (track 1), 3 ticks each
 *   n1 tick  0 dur 12 pitch 60 C     d1 tick  0 (pos in quarter 0)
 *   n2 tick  0 dur 12 pitch 64 E     d2 tick  9 (pos 9)
 *   n3 tick  0 dur 24 pitch 67 G     d3 tick 16 (pos 4)
 *   n4 tick 24 dur 12 pitch 62 D     d4 tick 39 (pos 3)
 *   n5 tick 60 dur 12 pitch 72 C     d5 tick 72 (pos 0), ends at 75
 *
 * length = largest note end over every track = 75 (drum d5).
 */
static void piece_a(gm_score *s) {
    gm_score_init(s, 12);
    int p = gm_score_add_track(s, "Piano", 0, 0, 0);
    int d = gm_score_add_track(s, "Drums", 0, 9, 1);
    gm_track_add_note(&s->tracks[p], 0, 12, 60, 90, 0);
    gm_track_add_note(&s->tracks[p], 0, 12, 64, 90, 0);
    gm_track_add_note(&s->tracks[p], 0, 24, 67, 90, 0);
    gm_track_add_note(&s->tracks[p], 24, 12, 62, 90, 0);
    gm_track_add_note(&s->tracks[p], 60, 12, 72, 90, 0);
    static const int dt[5] = {0, 9, 16, 39, 72}, dp[5] = {36, 42, 38, 42, 36};
    for (int i = 0; i < 5; i++) gm_track_add_note(&s->tracks[d], dt[i], 3, dp[i], 100, 9);
    gm_score_sort(s);
}

static void test_piece_a(void) {
    gm_score s;
    piece_a(&s);
    gm_metrics_params p = gm_metrics_default_params();
    p.key_tonic = 0; /* C major */
    p.key_minor = 0;
    gm_metrics m = metrics_of(&s, NULL, &p);

    /* Pitched notes 60 64 67 62 72: range 72-60 = 12; 5 pitches; pitch
     * classes {0, 2, 4, 7} = 4. */
    METRIC(m, GM_M_PITCH_RANGE, 12);
    METRIC(m, GM_M_N_PITCHES_USED, 5);
    METRIC(m, GM_M_N_PITCH_CLASSES_USED, 4);
    /* Piano roll (pitched, [time, end)): ticks 0-11 C E G (3 on), 12-23 G,
     * 24-35 D, 36-59 none, 60-71 C5, 72-74 none (length 75 from drums).
     * cells 12+12+24+12+12 = 72, ticks with any pitch 48: polyphony 1.5.
     * Ticks with > 2 pitches: 12, over all 75 ticks: 0.16. */
    METRIC(m, GM_M_POLYPHONY, 1.5);
    METRIC(m, GM_M_POLYPHONY_RATE, 12.0 / 75.0);
    /* All of C D E G in C major: 1; the best scale is 1 too. */
    METRIC(m, GM_M_PITCH_IN_SCALE_RATE, 1.0);
    METRIC(m, GM_M_SCALE_CONSISTENCY, 1.0);
    /* Five distinct pitches once each: log2 5. Pitch classes 0 (twice),
     * 2, 4, 7: -(.4 log2 .4 + 3 (.2 log2 .2)). */
    METRIC(m, GM_M_PITCH_ENTROPY, log2(5.0));
    METRIC(m, GM_M_PITCH_CLASS_ENTROPY, -(0.4 * log2(0.4) + 3 * 0.2 * log2(0.2)));
    /* Beats of 12 ticks, n_beats = 75 // 12 + 1 = 7. Every note marks beats
     * start//12 ..= end//12: n1, n2 0-1; n3 0-2; n4 2-3 (ends at 36: the
     * quirk marks beat 3, which is silent); n5 5-6; d1 0; d2 0-1 (ends at
     * 12); d3 1; d4 3; d5 6. Beat 4 (ticks 48-59) is the only empty one:
     * 1/7. */
    METRIC(m, GM_M_EMPTY_BEAT_RATE, 1.0 / 7.0);
    /* Measures of 48: n = 75 // 48 + 1 = 2, both hold notes: 0. */
    METRIC(m, GM_M_EMPTY_MEASURE_RATE, 0.0);
    /* Onsets (all tracks) {0, 9, 16, 24, 39 | 60, 72}: measure 0 positions
     * {0, 9, 16, 24, 39}, measure 1 {12, 24}. Hamming distance: 0 9 16 39
     * and 12 differ = 5. 1 - 5 / (48 * 1). */
    METRIC(m, GM_M_GROOVE_CONSISTENCY, 1.0 - 5.0 / 48.0);
    /* Drum positions within the quarter: 0, 9, 4, 3, 0. Duple pattern at
     * resolution 12: multiples of 3 (12/4) or 6 (12/2): 0 9 3 0 in = 4/5.
     * Triple: multiples of 4: 0 4 0 in = 3/5. Consistency: max = 0.8. */
    METRIC(m, GM_M_DRUM_IN_PATTERN_RATE, 0.8);
    METRIC(m, GM_M_DRUM_PATTERN_CONSISTENCY, 0.8);
    p.drum_meter = GM_METER_TRIPLE;
    m = metrics_of(&s, NULL, &p);
    METRIC(m, GM_M_DRUM_IN_PATTERN_RATE, 0.6);

    /* Other scales. D major {2 4 6 7 9 11 1}: E G D in, C C out: 3/5.
     * C (natural) minor {0 2 3 5 7 8 10}: C G D C in, E out: 4/5.
     * E minor {4 6 7 9 11 0 2}: all in. A minor = C major's notes: 1. */
    p = gm_metrics_default_params();
    p.key_tonic = 2;
    p.key_minor = 0;
    METRIC(metrics_of(&s, NULL, &p), GM_M_PITCH_IN_SCALE_RATE, 0.6);
    p.key_tonic = 0;
    p.key_minor = 1;
    METRIC(metrics_of(&s, NULL, &p), GM_M_PITCH_IN_SCALE_RATE, 0.8);
    p.key_tonic = 4;
    METRIC(metrics_of(&s, NULL, &p), GM_M_PITCH_IN_SCALE_RATE, 1.0);
    p.key_tonic = 9;
    METRIC(metrics_of(&s, NULL, &p), GM_M_PITCH_IN_SCALE_RATE, 1.0);

    /* Default key: gm_key_find of the whole piece. */
    gm_key k = gm_key_find(&s);
    p = gm_metrics_default_params();
    double dflt = metrics_of(&s, NULL, &p).v[GM_M_PITCH_IN_SCALE_RATE];
    p.key_tonic = k.tonic;
    p.key_minor = k.minor;
    METRIC(metrics_of(&s, NULL, &p), GM_M_PITCH_IN_SCALE_RATE, dflt);

    /* The piano alone: length 72 (n5). Polyphony rate 12/72; beats
     * n = 72//12 + 1 = 7, marked 0 1 2 3 5 6 (beat 3 only by n4's end
     * quirk): 1/7 again. Measures: n = 72//48 + 1 = 2, both marked: 0.
     * Onsets {0, 24 | 60}: m0 {0, 24}, m1 {12}: distance 3: 1 - 3/48.
     * No drums: the drum metrics are NaN. */
    uint8_t piano_only[2] = {1, 0}, drums_only[2] = {0, 1};
    p = gm_metrics_default_params();
    p.key_tonic = 0;
    m = metrics_of(&s, piano_only, &p);
    METRIC(m, GM_M_PITCH_RANGE, 12);
    METRIC(m, GM_M_POLYPHONY, 1.5);
    METRIC(m, GM_M_POLYPHONY_RATE, 12.0 / 72.0);
    METRIC(m, GM_M_EMPTY_BEAT_RATE, 1.0 / 7.0);
    METRIC(m, GM_M_EMPTY_MEASURE_RATE, 0.0);
    METRIC(m, GM_M_GROOVE_CONSISTENCY, 1.0 - 3.0 / 48.0);
    METRIC(m, GM_M_DRUM_IN_PATTERN_RATE, NAN);
    METRIC(m, GM_M_DRUM_PATTERN_CONSISTENCY, NAN);

    /* The drums alone: MusPy's pitch_range quirk (a track has notes, none
     * pitched: 0 - 127), no pitched metrics, polyphony_rate 0 over the 75
     * ticks (not NaN: the roll has rows). Beats n = 7: marked 0 1 3 6 → 3
     * empty: 3/7. Onsets {0 9 16 39 | 72}: m0 {0 9 16 39}, m1 {24}: 5. */
    m = metrics_of(&s, drums_only, &p);
    METRIC(m, GM_M_PITCH_RANGE, -127);
    METRIC(m, GM_M_N_PITCHES_USED, 0);
    METRIC(m, GM_M_N_PITCH_CLASSES_USED, 0);
    METRIC(m, GM_M_POLYPHONY, NAN);
    METRIC(m, GM_M_POLYPHONY_RATE, 0.0);
    METRIC(m, GM_M_PITCH_IN_SCALE_RATE, NAN);
    METRIC(m, GM_M_SCALE_CONSISTENCY, NAN);
    METRIC(m, GM_M_PITCH_ENTROPY, NAN);
    METRIC(m, GM_M_PITCH_CLASS_ENTROPY, NAN);
    METRIC(m, GM_M_EMPTY_BEAT_RATE, 3.0 / 7.0);
    METRIC(m, GM_M_EMPTY_MEASURE_RATE, 0.0);
    METRIC(m, GM_M_GROOVE_CONSISTENCY, 1.0 - 5.0 / 48.0);
    METRIC(m, GM_M_DRUM_IN_PATTERN_RATE, 0.8);
    METRIC(m, GM_M_DRUM_PATTERN_CONSISTENCY, 0.8);

    /* An explicit measure resolution: 24 ticks. Measures n = 75//24 + 1 = 4;
     * marked: n1 n2 0, n3 0-1, n4 1, n5 2-3, d 0 0 0 1 3: all 4: 0.
     * Onsets by measure: {0 9 16} {0 15} {12} {0}: distances 3, 3, 2 = 8:
     * 1 - 8 / (24 * 3). */
    p = gm_metrics_default_params();
    p.measure_resolution = 24;
    m = metrics_of(&s, NULL, &p);
    METRIC(m, GM_M_EMPTY_MEASURE_RATE, 0.0);
    METRIC(m, GM_M_GROOVE_CONSISTENCY, 1.0 - 8.0 / 72.0);
    gm_score_free(&s);
}

/* MusPy's own test piece (tests/data/test.json: the opening of Für Elise,
 * resolution 4, one track of nine 8th notes E D# E D# E B D C A, 2 steps
 * each from 0) with the values MusPy's tests/test_metrics.py asserts. */
static void test_muspy_piece(void) {
    static const int pitch[9] = {76, 75, 76, 75, 76, 71, 74, 72, 69};
    gm_score s;
    gm_score_init(&s, 4);
    int t = gm_score_add_track(&s, "Melody", 0, 0, 0);
    for (int i = 0; i < 9; i++) gm_track_add_note(&s.tracks[t], 2 * i, 2, pitch[i], 64, 0);
    gm_score_sort(&s);
    gm_metrics_params p = gm_metrics_default_params();
    p.key_tonic = 0; /* MusPy's test: pitch_in_scale_rate(music, 0, "major") */
    p.key_minor = 0;
    p.measure_resolution = 6; /* int(1.5 * resolution) */
    gm_metrics m = metrics_of(&s, NULL, &p);
    METRIC(m, GM_M_N_PITCHES_USED, 6);
    METRIC(m, GM_M_N_PITCH_CLASSES_USED, 6);
    METRIC(m, GM_M_PITCH_RANGE, 7);
    METRIC(m, GM_M_EMPTY_BEAT_RATE, 0);
    /* 0 only through the inclusive end: n = 18//6 + 1 = 4 measures, the
     * last (ticks 18-23) silent but marked by the last note's end 18//6. */
    METRIC(m, GM_M_EMPTY_MEASURE_RATE, 0);
    METRIC(m, GM_M_POLYPHONY, 1);
    METRIC(m, GM_M_POLYPHONY_RATE, 0);
    METRIC(m, GM_M_PITCH_IN_SCALE_RATE, 7.0 / 9.0);
    METRIC(m, GM_M_SCALE_CONSISTENCY, 7.0 / 9.0);
    METRIC(m, GM_M_DRUM_IN_PATTERN_RATE, NAN);
    METRIC(m, GM_M_DRUM_PATTERN_CONSISTENCY, NAN);
    CHECK(fabs(m.v[GM_M_PITCH_ENTROPY] - 2.4193819456463714) < 1e-12, "pitch entropy %.17g", m.v[GM_M_PITCH_ENTROPY]);
    CHECK(fabs(m.v[GM_M_PITCH_CLASS_ENTROPY] - 2.4193819456463714) < 1e-12, "pc entropy %.17g",
          m.v[GM_M_PITCH_CLASS_ENTROPY]);
    /* MusPy's test asserts 11/12 here, but its groove_consistency (the code
     * we follow) gives 5/6: measures of 6 steps, n = 18//6 + 1 = 4, onset
     * positions {0 2 4} {0 2 4} {0 2 4} {}: distances 0 + 0 + 3 over 6 * 3.
     * A line-by-line transliteration of MusPy's function gives 5/6 too. */
    METRIC(m, GM_M_GROOVE_CONSISTENCY, 5.0 / 6.0);
    gm_score_free(&s);
}

/* ======================================================================== */
/* Edge cases                                                                */
/* ======================================================================== */

static void check_all_nan_but_counts(const gm_metrics *m, double range, int line) {
    for (int k = 0; k < GM_N_METRICS; k++) {
        double want = k == GM_M_PITCH_RANGE ? range : (k == GM_M_N_PITCHES_USED || k == GM_M_N_PITCH_CLASSES_USED) ? 0 : NAN;
        double got = m->v[k];
        CHECK(isnan(want) ? isnan(got) : got == want, "%s: got %g, want %g (line %d)", gm_metric_name(k), got, want, line);
    }
}

static void test_edges(void) {
    gm_score s;
    /* No tracks: MusPy returns 0 for pitch_range and the counts, raises for
     * the length-based ones (max() of nothing) and returns nan for the
     * rest: we give NaN for all of those. */
    gm_score_init(&s, 480);
    gm_metrics m = metrics_of(&s, NULL, NULL);
    check_all_nan_but_counts(&m, 0, __LINE__);
    /* A track without notes: length 0 < 1, so every rate is NaN. */
    gm_score_add_track(&s, "empty", 0, 0, 0);
    m = metrics_of(&s, NULL, NULL);
    check_all_nan_but_counts(&m, 0, __LINE__);
    /* A piece whose tracks are all masked out is a Music without tracks. */
    gm_track_add_note(&s.tracks[0], 0, 480, 60, 90, 0);
    uint8_t none[1] = {0};
    m = metrics_of(&s, none, NULL);
    check_all_nan_but_counts(&m, 0, __LINE__);
    gm_score_free(&s);

    /* Drums only, 4 ticks per quarter: kick at 0 and snare at 4, 1 tick
     * each; length 5. pitch_range -127 (MusPy's quirk), polyphony NaN,
     * polyphony_rate 0/5. Beats n = 5//4 + 1 = 2, marked 0 and 1 (4//4 ..=
     * 5//4): 0. Measures of 16: n = 1, marked: 0. Groove: 1 measure: NaN.
     * Resolution 4: duple pattern = every multiple of 1 → 1; triple (4 % 3
     * != 0) only position 0: both notes at position 0 → 1. */
    gm_score_init(&s, 4);
    int d = gm_score_add_track(&s, "drums", 0, 9, 1);
    gm_track_add_note(&s.tracks[d], 0, 1, 36, 100, 9);
    gm_track_add_note(&s.tracks[d], 4, 1, 38, 100, 9);
    gm_score_sort(&s);
    m = metrics_of(&s, NULL, NULL);
    METRIC(m, GM_M_PITCH_RANGE, -127);
    METRIC(m, GM_M_N_PITCHES_USED, 0);
    METRIC(m, GM_M_POLYPHONY, NAN);
    METRIC(m, GM_M_POLYPHONY_RATE, 0.0);
    METRIC(m, GM_M_PITCH_IN_SCALE_RATE, NAN);
    METRIC(m, GM_M_SCALE_CONSISTENCY, NAN);
    METRIC(m, GM_M_PITCH_ENTROPY, NAN);
    METRIC(m, GM_M_PITCH_CLASS_ENTROPY, NAN);
    METRIC(m, GM_M_EMPTY_BEAT_RATE, 0.0);
    METRIC(m, GM_M_EMPTY_MEASURE_RATE, 0.0);
    METRIC(m, GM_M_GROOVE_CONSISTENCY, NAN);
    METRIC(m, GM_M_DRUM_IN_PATTERN_RATE, 1.0);
    METRIC(m, GM_M_DRUM_PATTERN_CONSISTENCY, 1.0);
    gm_score_free(&s);

    /* One measure. 4 ticks per quarter, 4/4 (measure 16). A note [0, 8):
     * length 8, n_measures = 8//16 + 1 = 1: groove NaN; empty measure 0.
     * Beats: n = 8//4 + 1 = 3, the note marks 0 ..= 2: 0 empty. */
    gm_score_init(&s, 4);
    int p = gm_score_add_track(&s, "piano", 0, 0, 0);
    gm_track_add_note(&s.tracks[p], 0, 8, 60, 90, 0);
    gm_score_sort(&s);
    m = metrics_of(&s, NULL, NULL);
    METRIC(m, GM_M_GROOVE_CONSISTENCY, NAN);
    METRIC(m, GM_M_EMPTY_MEASURE_RATE, 0.0);
    METRIC(m, GM_M_EMPTY_BEAT_RATE, 0.0);
    METRIC(m, GM_M_PITCH_RANGE, 0);
    METRIC(m, GM_M_POLYPHONY, 1.0);
    METRIC(m, GM_M_POLYPHONY_RATE, 0.0);
    METRIC(m, GM_M_PITCH_ENTROPY, 0.0);
    METRIC(m, GM_M_SCALE_CONSISTENCY, 1.0);
    METRIC(m, GM_M_DRUM_IN_PATTERN_RATE, NAN);
    /* A whole-measure note [0, 16): MusPy's extra measure makes n = 16//16
     * + 1 = 2 though the piece fills one. Onsets m0 {0}, m1 {}: distance 1:
     * groove 1 - 1/16. The note's end 16//16 = 1 marks measure 1: 0 empty.
     * Beats n = 5, marked 0 ..= 4: 0. */
    s.tracks[p].notes[0].duration = 16;
    gm_score_sort(&s);
    m = metrics_of(&s, NULL, NULL);
    METRIC(m, GM_M_GROOVE_CONSISTENCY, 1.0 - 1.0 / 16.0);
    METRIC(m, GM_M_EMPTY_MEASURE_RATE, 0.0);
    METRIC(m, GM_M_EMPTY_BEAT_RATE, 0.0);
    /* Now a second note in measure 3 at 48 for 1 tick: length 49, measures
     * n = 49//16 + 1 = 4: marked 0, 1 (first note's end), 3: 1/4 empty.
     * Beats n = 49//4 + 1 = 13, marked 0-4 and 12: 7/13 empty. Onsets
     * {0}, {}, {}, {0}: distances 1, 0, 1: 1 - 2/(16*3). */
    gm_track_add_note(&s.tracks[p], 48, 1, 60, 90, 0);
    gm_score_sort(&s);
    m = metrics_of(&s, NULL, NULL);
    METRIC(m, GM_M_EMPTY_MEASURE_RATE, 0.25);
    METRIC(m, GM_M_EMPTY_BEAT_RATE, 7.0 / 13.0);
    METRIC(m, GM_M_GROOVE_CONSISTENCY, 1.0 - 2.0 / 48.0);
    /* Two pitches C and E sounding together over [0,16): exactly 2 is not
     * > 2, so the ticks 0-15 do not count; polyphony counts both. Roll:
     * 0-15 {60, 64}, 48 {60}: cells 16+16+1 = 33, ticks on 17: 33/17; rate
     * 0/49. Three pitches (add G over [0, 4)) make ticks 0-3 count: 4/49. */
    gm_track_add_note(&s.tracks[p], 0, 16, 64, 90, 0);
    gm_score_sort(&s);
    m = metrics_of(&s, NULL, NULL);
    METRIC(m, GM_M_POLYPHONY, 33.0 / 17.0);
    METRIC(m, GM_M_POLYPHONY_RATE, 0.0);
    gm_track_add_note(&s.tracks[p], 0, 4, 67, 90, 0);
    gm_score_sort(&s);
    m = metrics_of(&s, NULL, NULL);
    METRIC(m, GM_M_POLYPHONY_RATE, 4.0 / 49.0);
    METRIC(m, GM_M_POLYPHONY, 37.0 / 17.0);
    gm_metrics_params pp = gm_metrics_default_params();
    pp.polyphony_threshold = 1; /* ticks with 2+ pitches: 0-15 */
    METRIC(metrics_of(&s, NULL, &pp), GM_M_POLYPHONY_RATE, 16.0 / 49.0);
    gm_score_free(&s);

    /* The piano roll is boolean: two notes of one pitch overlapping, [0,4)
     * and [2,6) on two tracks, light one cell per tick: polyphony 6/6 = 1. */
    gm_score_init(&s, 4);
    int a = gm_score_add_track(&s, "a", 0, 0, 0), b = gm_score_add_track(&s, "b", 0, 1, 0);
    gm_track_add_note(&s.tracks[a], 0, 4, 60, 90, 0);
    gm_track_add_note(&s.tracks[b], 2, 4, 60, 90, 1);
    gm_score_sort(&s);
    m = metrics_of(&s, NULL, NULL);
    METRIC(m, GM_M_POLYPHONY, 1.0);
    METRIC(m, GM_M_N_PITCHES_USED, 1);
    /* One pitch twice: entropy 0; pitch class entropy 0. */
    METRIC(m, GM_M_PITCH_ENTROPY, 0.0);
    METRIC(m, GM_M_PITCH_CLASS_ENTROPY, 0.0);
    /* Bad parameters are errors, not numbers. */
    gm_metrics_params bad = gm_metrics_default_params();
    char err[GM_ERR_SIZE] = "";
    bad.key_tonic = 12;
    CHECK(gm_metrics_compute(&s, NULL, &bad, &m, err) == -1 && err[0], "bad key accepted");
    bad = gm_metrics_default_params();
    bad.drum_meter = 7;
    CHECK(gm_metrics_compute(&s, NULL, &bad, &m, err) == -1, "bad meter accepted");
    gm_score_free(&s);

    /* Metric names are MusPy's and unique. */
    CHECK(!strcmp(gm_metric_name(GM_M_PITCH_RANGE), "pitch_range"), "name 0");
    CHECK(!strcmp(gm_metric_name(GM_M_DRUM_PATTERN_CONSISTENCY), "drum_pattern_consistency"), "last name");
    CHECK(gm_metric_name(GM_N_METRICS) == NULL && gm_metric_name(-1) == NULL, "out of range name");
    for (int i = 0; i < GM_N_METRICS; i++)
        for (int j = i + 1; j < GM_N_METRICS; j++)
            CHECK(strcmp(gm_metric_name(i), gm_metric_name(j)), "duplicate name %d %d", i, j);
    CHECK(!strcmp(gm_overlap_name(GM_OVERLAP_IOI), "ioi") && !gm_overlap_name(3), "overlap names");
}

static void test_measure_resolution(void) {
    gm_score s;
    gm_score_init(&s, 480);
    CHECK(gm_metrics_measure_resolution(&s) == 1920, "no metre: 4/4 = 1920");
    gm_score_add_timesig(&s, 0, 3, 4);
    CHECK(gm_metrics_measure_resolution(&s) == 1440, "3/4 = 1440");
    gm_score_free(&s);
    gm_score_init(&s, 480);
    gm_score_add_timesig(&s, 0, 6, 8);
    CHECK(gm_metrics_measure_resolution(&s) == 1440, "6/8 = 1440");
    gm_score_free(&s);
    /* A POP909-style lead-in bar of 1/4, then 4/4 for the rest: 1920. */
    gm_score_init(&s, 480);
    gm_score_add_timesig(&s, 0, 1, 4);
    gm_score_add_timesig(&s, 480, 4, 4);
    s.end_tick = 480 + 32 * 1920;
    CHECK(gm_metrics_measure_resolution(&s) == 1920, "lead-in bar skipped: %lld",
          (long long)gm_metrics_measure_resolution(&s));
    gm_score_free(&s);
    /* 4/4 implied before a late 3/4 that covers less: 4/4. */
    gm_score_init(&s, 480);
    gm_score_add_timesig(&s, 10 * 1920, 3, 4);
    s.end_tick = 12 * 1920;
    CHECK(gm_metrics_measure_resolution(&s) == 1920, "implied 4/4 first");
    gm_score_free(&s);
}

/* ======================================================================== */
/* Accompaniment metrics                                                     */
/* ======================================================================== */

/* One pitched track, 4 ticks per quarter (a tick is a 16th). */
static void notes_piece(gm_score *s, int n, const int *tick, const int *dur, const int *pitch) {
    gm_score_init(s, 4);
    int t = gm_score_add_track(s, "piano", 0, 0, 0);
    for (int i = 0; i < n; i++) gm_track_add_note(&s->tracks[t], tick[i], dur[i], pitch[i], 90, 0);
    gm_score_sort(s);
}

static void test_overlap(void) {
    char err[GM_ERR_SIZE] = "";
    double ov[GM_N_OVERLAPS];
    gm_score a, b;
    piece_a(&a);
    CHECK(gm_metrics_overlap(&a, NULL, &a, NULL, ov, err) == 0, "overlap: %s", err);
    for (int k = 0; k < GM_N_OVERLAPS; k++) CHECK(near(ov[k], 1.0), "self overlap %s = %g", gm_overlap_name(k), ov[k]);
    gm_score_free(&a);

    /* Disjoint: a plays C4 quarters every quarter, b C5 eighths every
     * eighth: pitches {60} vs {72}, durations {4} vs {2}, IOIs {4} vs {2}. */
    int t1[3] = {0, 4, 8}, d1[3] = {4, 4, 4}, p1[3] = {60, 60, 60};
    int t2[3] = {0, 2, 4}, d2[3] = {2, 2, 2}, p2[3] = {72, 72, 72};
    notes_piece(&a, 3, t1, d1, p1);
    notes_piece(&b, 3, t2, d2, p2);
    CHECK(gm_metrics_overlap(&a, NULL, &b, NULL, ov, err) == 0, "overlap: %s", err);
    for (int k = 0; k < GM_N_OVERLAPS; k++) CHECK(near(ov[k], 0.0), "disjoint overlap %s = %g", gm_overlap_name(k), ov[k]);
    gm_score_free(&a);
    gm_score_free(&b);

    /* Partly shared:
     *   a: pitches 60 62 64 65, durations 1 1 2 2, onsets 0 1 2 4
     *   b: pitches 60 60 67 65, durations 1 3 2 40, onsets 0 2 4 8
     * pitch: a .25 each of 60 62 64 65; b 60 .5, 67 .25, 65 .25:
     *   min: 60 .25 + 65 .25 = .5
     * duration: a {1: .5, 2: .5}; b {1, 3, 2, >32}: .25 each: .25 + .25 = .5
     * ioi: a gaps 1 1 2 → {1: 2/3, 2: 1/3}; b gaps 2 2 4 → {2: 2/3, 4: 1/3}:
     *   min at 2 = 1/3 */
    int t3[4] = {0, 1, 2, 4}, d3[4] = {1, 1, 2, 2}, p3[4] = {60, 62, 64, 65};
    int t4[4] = {0, 2, 4, 8}, d4[4] = {1, 3, 2, 40}, p4[4] = {60, 60, 67, 65};
    notes_piece(&a, 4, t3, d3, p3);
    notes_piece(&b, 4, t4, d4, p4);
    CHECK(gm_metrics_overlap(&a, NULL, &b, NULL, ov, err) == 0, "overlap: %s", err);
    CHECK(near(ov[GM_OVERLAP_PITCH], 0.5), "pitch overlap %g", ov[GM_OVERLAP_PITCH]);
    CHECK(near(ov[GM_OVERLAP_DURATION], 0.5), "duration overlap %g", ov[GM_OVERLAP_DURATION]);
    CHECK(near(ov[GM_OVERLAP_IOI], 1.0 / 3.0), "ioi overlap %g", ov[GM_OVERLAP_IOI]);
    /* Symmetric. */
    double ov2[GM_N_OVERLAPS];
    gm_metrics_overlap(&b, NULL, &a, NULL, ov2, err);
    for (int k = 0; k < GM_N_OVERLAPS; k++) CHECK(near(ov[k], ov2[k]), "asymmetric %s", gm_overlap_name(k));
    gm_score_free(&a);
    gm_score_free(&b);

    /* Empty against anything: NaN. One note: no IOI: NaN for ioi only. */
    gm_score_init(&a, 4);
    notes_piece(&b, 1, t1, d1, p1);
    CHECK(gm_metrics_overlap(&a, NULL, &b, NULL, ov, err) == 0, "overlap empty: %s", err);
    for (int k = 0; k < GM_N_OVERLAPS; k++) CHECK(isnan(ov[k]), "empty overlap %s = %g", gm_overlap_name(k), ov[k]);
    CHECK(gm_metrics_overlap(&b, NULL, &b, NULL, ov, err) == 0, "overlap one: %s", err);
    CHECK(near(ov[0], 1) && near(ov[1], 1) && isnan(ov[2]), "one note: %g %g %g", ov[0], ov[1], ov[2]);
    gm_score_free(&a);
    gm_score_free(&b);

    /* Bins at 480 ticks per quarter (120 ticks a 16th), rounded half up:
     * 100 → 1, 179 → 1 (1.49), 180 → 2 (1.5), 32 16ths (3840) → bin 31,
     * 33 16ths (3960) → overflow bin 32, 10 ticks → 0 rounds up to 1.
     * Onsets 0, 0 (a chord: no gap), 130 (→ 1), 600 (5), 5000 (41.67 →
     * 42): gaps 1, 4, 37 → bins 0, 3, 32. */
    gm_score_init(&a, 480);
    int t = gm_score_add_track(&a, "p", 0, 0, 0);
    gm_track_add_note(&a.tracks[t], 0, 100, 60, 90, 0);
    gm_track_add_note(&a.tracks[t], 0, 179, 64, 90, 0);
    gm_track_add_note(&a.tracks[t], 130, 180, 62, 90, 0);
    gm_track_add_note(&a.tracks[t], 600, 3840, 62, 90, 0);
    gm_track_add_note(&a.tracks[t], 5000, 3960, 62, 90, 0);
    gm_track_add_note(&a.tracks[t], 5000, 10, 67, 90, 0);
    gm_histograms h;
    CHECK(gm_metrics_histograms(&a, NULL, &h, err) == 0, "histograms: %s", err);
    CHECK(h.pitch[60] == 1 && h.pitch[62] == 3 && h.pitch[64] == 1 && h.pitch[67] == 1, "pitch histogram");
    CHECK(h.duration[0] == 3 && h.duration[1] == 1 && h.duration[31] == 1 && h.duration[32] == 1,
          "duration bins %g %g %g %g", h.duration[0], h.duration[1], h.duration[31], h.duration[32]);
    CHECK(h.ioi[0] == 1 && h.ioi[3] == 1 && h.ioi[32] == 1, "ioi bins %g %g %g", h.ioi[0], h.ioi[3], h.ioi[32]);
    double sum = 0;
    for (int k = 0; k <= GM_OVERLAP_STEPS; k++) sum += h.ioi[k];
    CHECK(sum == 3, "3 gaps, got %g", sum);
    gm_score_free(&a);

    /* Masks choose the track set on each side: piece A's piano against
     * itself is 1; its piano against its drums shares no pitch. */
    piece_a(&a);
    uint8_t piano[2] = {1, 0}, drums[2] = {0, 1};
    gm_metrics_overlap(&a, piano, &a, piano, ov, err);
    CHECK(near(ov[0], 1) && near(ov[1], 1) && near(ov[2], 1), "masked self overlap");
    gm_metrics_overlap(&a, piano, &a, drums, ov, err);
    CHECK(near(ov[GM_OVERLAP_PITCH], 0), "piano vs drums pitch %g", ov[GM_OVERLAP_PITCH]);
    gm_score_free(&a);
}

/* Block chords, one per 4/4 bar at 480 ticks per quarter. */
static void chord_piece(gm_score *s, int n, const int *root, const int *minor) {
    gm_score_init(s, 480);
    int t = gm_score_add_track(s, "piano", 0, 0, 0);
    for (int b = 0; b < n; b++) {
        int64_t at = (int64_t)b * 1920;
        gm_track_add_note(&s->tracks[t], at, 1920, 48 + root[b], 80, 0);
        gm_track_add_note(&s->tracks[t], at, 1920, 60 + root[b], 80, 0);
        gm_track_add_note(&s->tracks[t], at, 1920, 60 + root[b] + (minor[b] ? 3 : 4), 80, 0);
        gm_track_add_note(&s->tracks[t], at, 1920, 60 + root[b] + 7, 80, 0);
    }
    gm_score_sort(s);
}

static void test_chord_accuracy(void) {
    char err[GM_ERR_SIZE] = "";
    gm_score a, b;
    double acc = -1;
    int bars = -1;
    /* C G Am F against itself: 4 bars, all the same. */
    int r1[4] = {0, 7, 9, 5}, m1[4] = {0, 0, 1, 0};
    chord_piece(&a, 4, r1, m1);
    CHECK(gm_metrics_chord_accuracy(&a, NULL, &a, NULL, &acc, &bars, err) == 0, "chord accuracy: %s", err);
    CHECK(acc == 1.0 && bars == 4, "self chord accuracy %g over %d bars", acc, bars);
    piece_a(&b);
    CHECK(gm_metrics_chord_accuracy(&b, NULL, &b, NULL, &acc, &bars, err) == 0 && acc == 1.0, "piece A self %g", acc);
    gm_score_free(&b);
    /* C G Dm F against C G Am F over 2 bars more: the shorter piece (4
     * bars) sets the count; bars 1, 2, 4 agree: 3/4. */
    int r2[6] = {0, 7, 2, 5, 0, 7}, m2[6] = {0, 0, 1, 0, 0, 0};
    chord_piece(&b, 6, r2, m2);
    CHECK(gm_metrics_chord_accuracy(&b, NULL, &a, NULL, &acc, &bars, err) == 0, "chord accuracy: %s", err);
    CHECK(bars == 4 && near(acc, 0.75), "C G Dm F vs C G Am F: %g over %d bars", acc, bars);
    gm_score_free(&b);
    /* A masked-out generation has no pitched note: N in every bar, none
     * matches the reference's chords: 0. */
    uint8_t none[1] = {0};
    CHECK(gm_metrics_chord_accuracy(&a, none, &a, NULL, &acc, &bars, err) == 0 && acc == 0.0, "empty gen %g", acc);
    gm_score_free(&a);
}

/* ======================================================================== */
/* What a musician hears: chord tones                                        */
/* ======================================================================== */

static uint16_t pcs(const int *v, int n) {
    uint16_t m = 0;
    for (int i = 0; i < n; i++) m |= (uint16_t)(1u << v[i]);
    return m;
}

static int popcount12(unsigned m) {
    int n = 0;
    for (; m; m &= m - 1) n++;
    return n;
}

static void test_chord_labels(void) {
    char err[GM_ERR_SIZE] = "";
    uint16_t t = 0;
    /* Tones by hand (pitch classes, C = 0). */
    static const struct { const char *label; int pc[6], n; } cases[] = {
        {"C:maj", {0, 4, 7}, 3},          {"A:min", {9, 0, 4}, 3},          {"C:maj/3", {0, 4, 7}, 3},
        {"C:maj/5", {0, 4, 7}, 3},        {"F#:min7/b7", {6, 9, 1, 4}, 4},  {"G:sus4(b7)", {7, 0, 2, 5}, 4},
        {"B:hdim7", {11, 2, 5, 9}, 4},    {"Db:7", {1, 5, 8, 11}, 4},       {"E:aug", {4, 8, 0}, 3},
        {"C:dim7", {0, 3, 6, 9}, 4},      {"C:9", {0, 4, 7, 10, 2}, 5},     {"D:(1,b3,5)", {2, 5, 9}, 3},
        {"A:min(*5)", {9, 0}, 2},         {"Bb:sus2", {10, 0, 5}, 3},       {"C:minmaj7", {0, 3, 7, 11}, 4},
        {"Eb:maj6", {3, 7, 10, 0}, 4},    {"C:min6", {0, 3, 7, 9}, 4},      {"B:dim", {11, 2, 5}, 3},
        {"G", {7, 11, 2}, 3},             {"C:maj7/7", {0, 4, 7, 11}, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = gm_chord_label_tones(cases[i].label, &t, err);
        CHECK(rc == 0 && t == pcs(cases[i].pc, cases[i].n), "%s: rc %d tones %03x want %03x (%s)", cases[i].label,
              rc, t, pcs(cases[i].pc, cases[i].n), err);
    }
    CHECK(gm_chord_label_tones("N", &t, err) == 0 && t == 0, "N has no tones");
    /* Every quality POP909 writes (grep of all chord_midi.txt), plus 9. */
    static const char *pop909[] = {"maj", "min", "sus2", "min7", "maj7", "sus4", "7", "sus4(b7)",
                                   "maj6", "dim", "hdim7", "aug", "min6", "dim7", "minmaj7", "9"};
    static const int sizes[] = {3, 3, 3, 4, 4, 3, 4, 4, 4, 3, 4, 3, 4, 4, 4, 5};
    for (int i = 0; i < 16; i++) {
        char label[32];
        snprintf(label, sizeof label, "Ab:%s", pop909[i]);
        int rc = gm_chord_label_tones(label, &t, err);
        CHECK(rc == 0 && popcount12(t) == sizes[i] && (t >> 8 & 1), "%s: %d tones (%s)", label, popcount12(t), err);
    }
    static const char *bad[] = {"C:foo", "H:maj", "C:maj/x", "", "C:maj(9", "Cmaj", "C:(1,14)", "C:(*1)"};
    for (int i = 0; i < 8; i++) {
        err[0] = 0;
        CHECK(gm_chord_label_tones(bad[i], &t, err) != 0 && err[0], "'%s' accepted", bad[i]);
    }

    /* chord_midi.txt text: tabs or spaces, N and blank lines left out, sorted. */
    gm_chord_labels l;
    const char *text = "3.0 5.0 A:min/b3\n0.0\t1.0\tN\n\n1.0\t3.0\tC:maj\r\n";
    CHECK(gm_chord_labels_parse(text, strlen(text), "t", &l, err) == 0, "parse: %s", err);
    CHECK(l.n == 2, "2 chords, got %d", l.n);
    if (l.n == 2) {
        CHECK(l.v[0].start == 1 && l.v[0].end == 3 && l.v[0].tones == 0x091, "C:maj span");
        CHECK(l.v[1].start == 3 && l.v[1].end == 5 && l.v[1].tones == 0x211, "A:min span");
    }
    gm_chord_labels_free(&l);
    static const char *bad_files[] = {"0 1\n", "0 1 C:maj\n1.0 abc C:maj\n", "2 1 C:maj\n", "0 1 C:maj extra\n",
                                      "0 1 C:maj\n1 2 Q:maj\n", "-1 1 C:maj\n", "nan 1 C:maj\n"};
    static const int bad_line[] = {1, 2, 1, 1, 2, 1, 1};
    for (int i = 0; i < 7; i++) {
        err[0] = 0;
        int rc = gm_chord_labels_parse(bad_files[i], strlen(bad_files[i]), "f.txt", &l, err);
        char want[32];
        snprintf(want, sizeof want, "f.txt: line %d:", bad_line[i]);
        CHECK(rc != 0 && strstr(err, want) && !strchr(err, '\n'), "bad file %d: rc %d err '%s'", i, rc, err);
    }
    CHECK(gm_chord_labels_load("/nonexistent/chord_midi.txt", &l, err) != 0 && err[0], "missing file");
}

/* A pitched track of (tick, duration, pitch) notes at 480 ticks per
 * quarter, no tempo (120 bpm: 960 ticks a second), plus a drum note on
 * pitch 60 that chord tones must not see. */
static void ctr_piece(gm_score *s, int n, const int64_t (*notes)[3]) {
    gm_score_init(s, 480);
    int t = gm_score_add_track(s, "piano", 0, 0, 0);
    int d = gm_score_add_track(s, "drums", 0, 9, 1);
    for (int i = 0; i < n; i++) gm_track_add_note(&s->tracks[t], notes[i][0], notes[i][1], (int)notes[i][2], 80, 0);
    gm_track_add_note(&s->tracks[d], 0, 960, 61, 100, 9);
    gm_score_sort(s);
}

static gm_chord_labels labels_of(const char *text) {
    gm_chord_labels l;
    char err[GM_ERR_SIZE] = "";
    CHECK(gm_chord_labels_parse(text, strlen(text), "t", &l, err) == 0, "labels: %s", err);
    return l;
}

static void test_chord_tones(void) {
    char err[GM_ERR_SIZE] = "";
    gm_score s;
    gm_chord_tone_ratio r;
    /* Pure chord tones: C E G under C, then G B D under G: 1. */
    gm_chord_labels l = labels_of("0 2 C:maj\n2 4 G:maj\n");
    static const int64_t tones[6][3] = {{0, 480, 60}, {480, 480, 64}, {960, 480, 67},
                                        {1920, 480, 67}, {2400, 480, 71}, {2880, 480, 74}};
    ctr_piece(&s, 6, tones);
    CHECK(gm_metrics_chord_tones(&s, NULL, &l, &r, err) == 0, "ctr: %s", err);
    CHECK(r.ctr == 1.0 && r.notes == 6 && r.unlabelled == 0 && near(r.weight, 3.0), "pure tones: %g (%zu notes, w %g)",
          r.ctr, r.notes, r.weight);
    gm_score_free(&s);
    /* None: F# A# C# under C: 0. */
    static const int64_t none[3][3] = {{0, 480, 66}, {480, 480, 70}, {960, 480, 73}};
    ctr_piece(&s, 3, none);
    CHECK(gm_metrics_chord_tones(&s, NULL, &l, &r, err) == 0 && r.ctr == 0.0, "no tones: %g", r.ctr);
    /* Every note is C major's F#... a distribution of F#, A#, C# only has no
     * mass on C E G or G B D: floor 0. */
    CHECK(r.floor == 0.0, "floor of no tones %g", r.floor);
    gm_score_free(&s);
    gm_chord_labels_free(&l);

    /* Clipping and the floor, by hand. Labels C:maj 0-2 s, D:min 2-10 s.
     *   C at 0 s, 4 s long     → weight 2 (clipped), C:maj, a tone
     *   D at 2 s, 1 s          → weight 1, D:min, a tone (onset on the change)
     *   E at 3 s, 5 ticks      → weight 0.05 (clipped up), D:min, not a tone
     *   F at 11 s, 0.5 s       → no chord there: left out of the ratio, but in
     *                            the song's distribution
     * CTR = 3 / 3.05. p = (C 2, D 1, E 0.05, F 0.5) / 3.55.
     * Floor = [2·p(C,E,G) + 1·p(D,F,A) + 0.05·p(D,F,A)] / 3.05
     *       = [2·2.05 + 1·1.5 + 0.05·1.5] / 3.55 / 3.05 = 5.675 / (3.55·3.05). */
    l = labels_of("0 2 C:maj\n2 10 D:min\n");
    static const int64_t clip[4][3] = {{0, 3840, 60}, {1920, 960, 62}, {2880, 5, 64}, {10560, 480, 65}};
    ctr_piece(&s, 4, clip);
    CHECK(gm_metrics_chord_tones(&s, NULL, &l, &r, err) == 0, "ctr: %s", err);
    CHECK(near(r.ctr, 3.0 / 3.05), "clipped ctr %.12g want %.12g", r.ctr, 3.0 / 3.05);
    CHECK(near(r.floor, 5.675 / (3.55 * 3.05)), "floor %.12g want %.12g", r.floor, 5.675 / (3.55 * 3.05));
    CHECK(r.notes == 3 && r.unlabelled == 1 && near(r.weight, 3.05), "counts %zu %zu %g", r.notes, r.unlabelled,
          r.weight);
    /* Masking the pitched track out: nothing scored, NaN. */
    uint8_t drums_only[2] = {0, 1};
    CHECK(gm_metrics_chord_tones(&s, drums_only, &l, &r, err) == 0 && isnan(r.ctr) && isnan(r.floor) && !r.notes,
          "drums only: %g", r.ctr);
    gm_score_free(&s);
    gm_chord_labels_free(&l);

    /* Seconds through the tempo map: at 60 bpm tick 480 is 1 s, under F:maj,
     * where A is a tone (at 120 bpm it would be 0.5 s, under C:maj). */
    l = labels_of("0 1 C:maj\n1 2 F:maj\n");
    static const int64_t tempo[2][3] = {{0, 480, 64}, {480, 480, 69}};
    ctr_piece(&s, 2, tempo);
    gm_score_add_tempo(&s, 0, 1000000);
    CHECK(gm_metrics_chord_tones(&s, NULL, &l, &r, err) == 0 && r.ctr == 1.0, "tempo map: %g", r.ctr);
    gm_score_free(&s);
    gm_chord_labels_free(&l);

    /* Chords by name on the bars (4/4, 120 bpm: 2 s a bar). */
    ctr_piece(&s, 1, (const int64_t[][3]){{4 * 1920 - 1, 1, 60}}); /* 4 bars */
    CHECK(gm_chord_labels_per_bar(&s, "C G Am F", &l, err) == 0 && l.n == 4, "per bar: %d (%s)", l.n, err);
    if (l.n == 4) CHECK(near(l.v[2].start, 4) && near(l.v[2].end, 6) && l.v[2].tones == 0x211, "Am on bar 3");
    gm_chord_labels_free(&l);
    CHECK(gm_chord_labels_per_bar(&s, "C G | Am F", &l, err) == 0 && l.n == 8, "two per bar: %d (%s)", l.n, err);
    if (l.n == 8)
        CHECK(near(l.v[1].start, 1) && near(l.v[1].end, 2) && l.v[1].tones == 0x884 && l.v[6].tones == 0x211,
              "G in the second half of bar 1, Am again in bar 4");
    gm_chord_labels_free(&l);
    /* A chart's outer bar lines make no bars; N holds the second half of
     * bar 2 (and 4) without a chord: C, Am (2-3 s), C, Am. */
    CHECK(gm_chord_labels_per_bar(&s, "| C | A:min N |", &l, err) == 0 && l.n == 4, "chart bars: %d (%s)", l.n, err);
    if (l.n == 4) CHECK(near(l.v[1].start, 2) && near(l.v[1].end, 3) && l.v[1].tones == 0x211, "Am, then N");
    gm_chord_labels_free(&l);
    err[0] = 0;
    CHECK(gm_chord_labels_per_bar(&s, "C Xq", &l, err) != 0 && err[0], "bad name accepted");
    CHECK(gm_chord_labels_per_bar(&s, "  ", &l, err) != 0, "no names accepted");
    /* The bar syntax is generate's: a bar takes one or two chords, and with
     * '|' a line end closes a bar too. */
    CHECK(gm_chord_labels_per_bar(&s, "C G Am | F", &l, err) != 0 && strstr(err, "more than two"), "3 in a bar: %s", err);
    CHECK(gm_chord_labels_per_bar(&s, "C |\nAm F", &l, err) == 0 && l.n == 6, "line end closes a bar: %d (%s)", l.n, err);
    gm_chord_labels_free(&l);
    gm_score_free(&s);
}

/* ======================================================================== */
/* What a musician hears: drum feel                                          */
/* ======================================================================== */

#define SIXTEENTH 120 /* ticks at 480 per quarter */

/* A drum track; hits are (tick, GM key). */
static void drum_piece(gm_score *s, int n, const int (*hits)[2], int64_t end) {
    gm_score_init(s, 480);
    int d = gm_score_add_track(s, "drums", 0, 9, 1);
    int p = gm_score_add_track(s, "piano", 0, 0, 0);
    for (int i = 0; i < n; i++) gm_track_add_note(&s->tracks[d], hits[i][0], 60, hits[i][1], 100, 9);
    gm_track_add_note(&s->tracks[p], 0, 1920, 38, 80, 0); /* a pitched "snare" is no snare */
    gm_score_sort(s);
    if (s->end_tick < end) s->end_tick = end;
}

/* One bar of a rock beat at bar b: kick on 1 and 3, snare on 2 and 4, hats on 8ths. */
static int rock_bar(int (*h)[2], int b) {
    int n = 0, at = b * 1920;
    for (int e = 0; e < 8; e++) h[n][0] = at + e * 2 * SIXTEENTH, h[n++][1] = 42;
    h[n][0] = at, h[n++][1] = 36;
    h[n][0] = at + 8 * SIXTEENTH, h[n++][1] = 36;
    h[n][0] = at + 4 * SIXTEENTH, h[n++][1] = 38;
    h[n][0] = at + 12 * SIXTEENTH, h[n++][1] = 38;
    return n;
}

static void test_drum_feel(void) {
    char err[GM_ERR_SIZE] = "";
    gm_score s;
    gm_drum_feel f;
    int h[64][2], n = 0;

    /* Two bars of the same rock beat: every figure 1. */
    n = rock_bar(h, 0);
    n += rock_bar(h + n, 1);
    drum_piece(&s, n, (const int(*)[2])h, 2 * 1920);
    CHECK(gm_metrics_drum_feel(&s, NULL, &f, err) == 0, "drum feel: %s", err);
    CHECK(f.backbeat == 1 && f.kick_on_one == 1 && f.repetition == 1 && f.snare_onsets == 4 && f.bars == 2 &&
              f.pairs == 1,
          "rock: %g %g %g (%zu snares, %d bars, %d pairs)", f.backbeat, f.kick_on_one, f.repetition, f.snare_onsets,
          f.bars, f.pairs);
    gm_score_free(&s);

    /* Three bars, played by a human:
     *   bar 1: kick 1 (0), snare on 2 20 ticks early (460 → 16th 4), snare 4,
     *          hats on 8ths
     *   bar 2: kick on the 16th after 1 (pos 2), snare pos 6 (off the beat),
     *          snare 4, hats
     *   bar 3: kick 30 ticks before the bar line (→ bar 3's 1), a flam on 2
     *          (38 and 40 ten ticks apart: one onset), snare 4, hats
     * Snares: {4, 12}, {6, 12}, {4, 12}: 5 of 6 on 2 and 4. Kick on 1: bars 1
     * and 3 of 3. Sets: bar 1 {K0, S4, S12, H×8} (11), bar 2 {K2, S6, S12,
     * H×8} (11): 9 shared, 13 in all; bar 3 = bar 1: Jaccard 9/13 twice. */
    n = 0;
    for (int b = 0; b < 3; b++)
        for (int e = 0; e < 8; e++) h[n][0] = b * 1920 + e * 2 * SIXTEENTH, h[n++][1] = 42;
    static const int extra[][2] = {{0, 36},    {460, 38},  {1440, 38},                                   /* bar 1 */
                                   {2160, 36}, {2640, 38}, {3360, 38},                                   /* bar 2 */
                                   {3810, 35}, {4320, 38}, {4330, 40}, {5280, 37}};                      /* bar 3 */
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) h[n][0] = extra[i][0], h[n++][1] = extra[i][1];
    drum_piece(&s, n, (const int(*)[2])h, 3 * 1920);
    CHECK(gm_metrics_drum_feel(&s, NULL, &f, err) == 0, "drum feel: %s", err);
    CHECK(f.snare_onsets == 6 && near(f.backbeat, 5.0 / 6.0), "backbeat %g of %zu", f.backbeat, f.snare_onsets);
    CHECK(f.bars == 3 && near(f.kick_on_one, 2.0 / 3.0), "kick on 1 %g over %d bars", f.kick_on_one, f.bars);
    CHECK(f.pairs == 2 && near(f.repetition, 9.0 / 13.0), "repetition %g over %d pairs", f.repetition, f.pairs);
    gm_score_free(&s);

    /* A two-beat lead-in bar (time signatures at 0 and 960) has no metrical
     * positions: its snare is left out. Then one full bar: no pair. */
    static const int lead_in[][2] = {{0, 38}, {960, 36}, {960 + 480, 38}};
    drum_piece(&s, 3, lead_in, 960 + 1920);
    gm_score_add_timesig(&s, 0, 4, 4);
    gm_score_add_timesig(&s, 960, 4, 4);
    CHECK(gm_metrics_drum_feel(&s, NULL, &f, err) == 0, "drum feel: %s", err);
    CHECK(f.bars == 1 && f.backbeat == 1 && f.kick_on_one == 1 && f.pairs == 0 && isnan(f.repetition),
          "lead-in: %d bars, %g, %g, %d pairs", f.bars, f.backbeat, f.kick_on_one, f.pairs);
    gm_score_free(&s);

    /* Bars without drums do not count, and bars 1 and 3 are no pair. */
    n = rock_bar(h, 0);
    n += rock_bar(h + n, 2);
    drum_piece(&s, n, (const int(*)[2])h, 3 * 1920);
    CHECK(gm_metrics_drum_feel(&s, NULL, &f, err) == 0 && f.bars == 2 && f.pairs == 0 && f.kick_on_one == 1,
          "gap: %d bars, %d pairs", f.bars, f.pairs);
    /* Masking the drums out: nothing, NaN everywhere. */
    uint8_t pitched[2] = {0, 1};
    CHECK(gm_metrics_drum_feel(&s, pitched, &f, err) == 0 && f.bars == 0 && isnan(f.backbeat) &&
              isnan(f.kick_on_one) && isnan(f.repetition),
          "no drums: %d bars", f.bars);
    gm_score_free(&s);

    /* 3/4: beat 2 is the backbeat (pos 4), beat 3 is not (pos 8). */
    static const int waltz[][2] = {{0, 36}, {480, 38}, {960, 38}};
    drum_piece(&s, 3, waltz, 1440);
    gm_score_add_timesig(&s, 0, 3, 4);
    CHECK(gm_metrics_drum_feel(&s, NULL, &f, err) == 0 && f.bars == 1 && near(f.backbeat, 0.5), "3/4: %g",
          f.backbeat);
    gm_score_free(&s);
}

/* Hits of one key at 16ths pos[0..n) from tick `at`. */
static int hits_at(int (*h)[2], int at, int key, const int *pos, int n) {
    for (int i = 0; i < n; i++) h[i][0] = at + pos[i] * SIXTEENTH, h[i][1] = key;
    return n;
}

/* A tom fill at bar b: high to floor tom on every 16th, nothing else. */
static int tom_bar(int (*h)[2], int b) {
    static const int toms[4] = {50, 48, 47, 45};
    for (int p = 0; p < 16; p++) h[p][0] = b * 1920 + p * SIXTEENTH, h[p][1] = toms[p / 4];
    return 16;
}

/* The rock beat with beat 4's snare left out: the backbeat half played. */
static int half_backbeat_bar(int (*h)[2], int b) {
    int n = rock_bar(h, b);
    return n - 1; /* rock_bar's last hit is the snare on 4 */
}

/* The presence figures of s, and whether the call succeeded. */
static int feel_of(const gm_score *s, const uint8_t *mask, gm_drum_feel *f) {
    char err[GM_ERR_SIZE] = "";
    int rc = gm_metrics_drum_feel(s, mask, f, err);
    CHECK(rc == 0, "drum feel: %s", err);
    return rc == 0;
}

static void test_drum_presence(void) {
    gm_score s;
    gm_drum_feel f;
    int h[256][2], n = 0;

    /* The rock bar 8 times: the whole backbeat in every bar, 2 kicks, 2
     * snares and 8 hats a bar, no silent bar, two phrases and no fill. */
    for (int b = 0; b < 8; b++) n += rock_bar(h + n, b);
    drum_piece(&s, n, (const int(*)[2])h, 8 * 1920);
    if (feel_of(&s, NULL, &f))
        CHECK(f.both_backbeats == 1 && f.kick_per_bar == 2 && f.snare_per_bar == 2 && f.hat_per_bar == 8 &&
                  f.empty_bars == 0 && f.empty_bar_count == 0 && f.span_bars == 8 && f.phrases == 2 && f.fills == 0,
              "rock x8: both %g, %g/%g/%g a bar, empty %g (%d of %d), fills %g of %d phrases", f.both_backbeats,
              f.kick_per_bar, f.snare_per_bar, f.hat_per_bar, f.empty_bars, f.empty_bar_count, f.span_bars, f.fills,
              f.phrases);
    gm_score_free(&s);

    /* The same groove with its 8ths on the ride (51), the bell (53) on 1 as
     * well as a hat: the ride keeps time as the hat did (8 a bar, the bell's
     * onset shares the hat's 16th), and the kit groups are unchanged. */
    n = 0;
    for (int b = 0; b < 4; b++) {
        int k = rock_bar(h + n, b);
        for (int i = 0; i < 8; i++) h[n + i][1] = 51;
        n += k;
        h[n][0] = b * 1920, h[n++][1] = 53;
    }
    drum_piece(&s, n, (const int(*)[2])h, 4 * 1920);
    if (feel_of(&s, NULL, &f))
        CHECK(f.hat_per_bar == 8 && f.kick_per_bar == 2 && f.snare_per_bar == 2 && f.both_backbeats == 1,
              "ride: %g/%g/%g a bar, both %g", f.kick_per_bar, f.snare_per_bar, f.hat_per_bar, f.both_backbeats);
    gm_score_free(&s);

    /* Bars 4 and 8 a tom fill: d = 0, 0, 0 then 1 in each phrase, both
     * phrases end in a fill. 6 of 8 bars have the backbeat. */
    n = 0;
    for (int b = 0; b < 8; b++) n += b % 4 == 3 ? tom_bar(h + n, b) : rock_bar(h + n, b);
    drum_piece(&s, n, (const int(*)[2])h, 8 * 1920);
    if (feel_of(&s, NULL, &f))
        CHECK(f.fills == 1 && f.phrases == 2 && near(f.both_backbeats, 0.75) && near(f.kick_per_bar, 1.5) &&
                  near(f.hat_per_bar, 6) && f.empty_bars == 0,
              "tom fills: fills %g of %d, both %g, kick %g, hat %g", f.fills, f.phrases, f.both_backbeats,
              f.kick_per_bar, f.hat_per_bar);
    gm_score_free(&s);

    /* The fill on the first bar of each phrase instead: the last bar is the
     * groove, no fill. */
    n = 0;
    for (int b = 0; b < 8; b++) n += b % 4 == 0 ? tom_bar(h + n, b) : rock_bar(h + n, b);
    drum_piece(&s, n, (const int(*)[2])h, 8 * 1920);
    if (feel_of(&s, NULL, &f)) CHECK(f.fills == 0 && f.phrases == 2, "fill on 1: fills %g", f.fills);
    gm_score_free(&s);

    /* One stray hat in the last bar (a 16th: 13 onsets against 12, d = 1/13)
     * is no fill: under GM_FILL_MIN_CHANGE. */
    n = 0;
    for (int b = 0; b < 4; b++) n += rock_bar(h + n, b);
    n += hits_at(h + n, 3 * 1920, 42, (const int[]){15}, 1);
    drum_piece(&s, n, (const int(*)[2])h, 4 * 1920);
    if (feel_of(&s, NULL, &f)) CHECK(f.fills == 0 && f.phrases == 1, "stray hat: fills %g", f.fills);
    gm_score_free(&s);

    /* Four different bars (two variations of the groove, then the toms):
     * each set occurs once, so U is the first bar, and the toms stray most. */
    n = 0;
    for (int b = 0; b < 3; b++) n += rock_bar(h + n, b);
    n += hits_at(h + n, 1 * 1920, 42, (const int[]){15}, 1);
    n += hits_at(h + n, 2 * 1920, 36, (const int[]){10}, 1);
    n += tom_bar(h + n, 3);
    drum_piece(&s, n, (const int(*)[2])h, 4 * 1920);
    if (feel_of(&s, NULL, &f)) CHECK(f.fills == 1 && f.phrases == 1, "four bars, one each: fills %g", f.fills);
    gm_score_free(&s);

    /* The snare only on 2 in every other bar: the whole backbeat in half the
     * bars, 1.5 snares a bar. Bars A B A B: U = A (a tie, the earliest), d =
     * 0, x, 0, x: the last bar strays no more than bar 2, no fill. */
    n = 0;
    for (int b = 0; b < 8; b++) n += b % 2 ? half_backbeat_bar(h + n, b) : rock_bar(h + n, b);
    drum_piece(&s, n, (const int(*)[2])h, 8 * 1920);
    if (feel_of(&s, NULL, &f))
        CHECK(near(f.both_backbeats, 0.5) && near(f.snare_per_bar, 1.5) && f.backbeat == 1 && f.fills == 0 &&
                  f.phrases == 2,
              "half backbeat: both %g, snare %g a bar, fills %g", f.both_backbeats, f.snare_per_bar, f.fills);
    gm_score_free(&s);

    /* 10 bars with bars 5 and 6 silent, then 2 silent bars to the end: 2
     * empty of the 10 from the first to the last bar with drums. Phrase
     * bars 4-7 has silent bars, bars 8-11 too: one phrase. */
    n = 0;
    for (int b = 0; b < 10; b++)
        if (b != 4 && b != 5) n += rock_bar(h + n, b);
    drum_piece(&s, n, (const int(*)[2])h, 12 * 1920);
    if (feel_of(&s, NULL, &f))
        CHECK(near(f.empty_bars, 0.2) && f.empty_bar_count == 2 && f.span_bars == 10 && f.bars == 8 &&
                  f.phrases == 1 && f.kick_per_bar == 2,
              "rests: empty %g (%d of %d), %d bars, %d phrases", f.empty_bars, f.empty_bar_count, f.span_bars,
              f.bars, f.phrases);
    gm_score_free(&s);

    /* 3/4: kick on 1, snare on 2 (the only backbeat), hats on 8ths; bar 4
     * toms on every 8th over the kick: d = 1 - 1/14, a fill. */
    n = 0;
    static const int eighths[6] = {0, 2, 4, 6, 8, 10};
    for (int b = 0; b < 3; b++) {
        n += hits_at(h + n, b * 1440, 36, (const int[]){0}, 1);
        n += hits_at(h + n, b * 1440, 38, (const int[]){4}, 1);
        n += hits_at(h + n, b * 1440, 42, eighths, 6);
    }
    n += hits_at(h + n, 3 * 1440, 36, (const int[]){0}, 1);
    n += hits_at(h + n, 3 * 1440, 47, eighths, 6);
    drum_piece(&s, n, (const int(*)[2])h, 4 * 1440);
    gm_score_add_timesig(&s, 0, 3, 4);
    if (feel_of(&s, NULL, &f))
        CHECK(f.bars == 4 && near(f.both_backbeats, 0.75) && f.kick_per_bar == 1 && near(f.snare_per_bar, 0.75) &&
                  near(f.hat_per_bar, 4.5) && f.phrases == 1 && f.fills == 1 && f.empty_bars == 0,
              "3/4: both %g, %g/%g/%g a bar, fills %g of %d", f.both_backbeats, f.kick_per_bar, f.snare_per_bar,
              f.hat_per_bar, f.fills, f.phrases);
    gm_score_free(&s);

    /* 6/8: the backbeat is the second dotted quarter (16th 6), not 16th 4. */
    static const int six_eight[][2] = {{0, 36}, {6 * SIXTEENTH, 38}, {1440, 36}, {1440 + 4 * SIXTEENTH, 38}};
    drum_piece(&s, 4, six_eight, 2 * 1440);
    gm_score_add_timesig(&s, 0, 6, 8);
    if (feel_of(&s, NULL, &f))
        CHECK(f.bars == 2 && near(f.both_backbeats, 0.5) && isnan(f.fills) && f.phrases == 0, "6/8: both %g",
              f.both_backbeats);
    gm_score_free(&s);

    /* Phrases follow the bar map's numbers: after a two-beat lead-in (bar 0,
     * not a full bar) the phrases are bars 0-3 (not scored) and 4-7, whose
     * fill is on its first bar, not its last. */
    n = hits_at(h, 0, 38, (const int[]){4}, 1);
    for (int b = 0; b < 8; b++) {
        int at = 960 + b * 1920, k = b % 4 == 3 ? tom_bar(h + n, b) : rock_bar(h + n, b);
        for (int i = n; i < n + k; i++) h[i][0] += at - b * 1920;
        n += k;
    }
    drum_piece(&s, n, (const int(*)[2])h, 960 + 8 * 1920);
    gm_score_add_timesig(&s, 0, 4, 4);
    gm_score_add_timesig(&s, 960, 4, 4);
    if (feel_of(&s, NULL, &f))
        CHECK(f.bars == 8 && f.phrases == 1 && f.fills == 0 && f.span_bars == 8,
              "lead-in: %d bars, %d phrases, fills %g, span %d", f.bars, f.phrases, f.fills, f.span_bars);
    gm_score_free(&s);

    /* Undefined: no drums (masked out) gives NaN everywhere and no counts;
     * one bar has no phrase (fills NaN) and no empty bar (0). */
    n = rock_bar(h, 0);
    drum_piece(&s, n, (const int(*)[2])h, 4 * 1920);
    uint8_t pitched[2] = {0, 1};
    if (feel_of(&s, pitched, &f))
        CHECK(isnan(f.both_backbeats) && isnan(f.kick_per_bar) && isnan(f.snare_per_bar) && isnan(f.hat_per_bar) &&
                  isnan(f.empty_bars) && isnan(f.fills) && f.phrases == 0 && f.empty_bar_count == 0 &&
                  f.span_bars == 0,
              "no drums: both %g, empty %g, fills %g", f.both_backbeats, f.empty_bars, f.fills);
    if (feel_of(&s, NULL, &f))
        CHECK(f.bars == 1 && f.both_backbeats == 1 && f.empty_bars == 0 && f.span_bars == 1 && isnan(f.fills) &&
                  f.phrases == 0,
              "one bar: both %g, empty %g over %d, fills %g", f.both_backbeats, f.empty_bars, f.span_bars, f.fills);
    gm_score_free(&s);

    /* Drums only in a short lead-in bar: no counted bar (NaN per bar), and
     * a one-bar part has no empty bar. */
    static const int lead_only[][2] = {{0, 36}, {480, 38}};
    drum_piece(&s, 2, lead_only, 960 + 1920);
    gm_score_add_timesig(&s, 0, 4, 4);
    gm_score_add_timesig(&s, 960, 4, 4);
    if (feel_of(&s, NULL, &f))
        CHECK(f.bars == 0 && isnan(f.kick_per_bar) && isnan(f.both_backbeats) && f.empty_bars == 0 &&
                  f.span_bars == 0,
              "lead-in only: %d bars, empty %g", f.bars, f.empty_bars);
    gm_score_free(&s);
}

int main(void) {
    test_chord_labels();
    test_chord_tones();
    test_drum_feel();
    test_drum_presence();
    test_piece_a();
    test_muspy_piece();
    test_edges();
    test_measure_resolution();
    test_overlap();
    test_chord_accuracy();
    return test_done("test_metrics");
}
