/* test_chord_symbol.c — chord symbols: lead-sheet names and MusicXML kinds
 * to our qualities, chord names in MIDI text/lyric/marker/cue events (and
 * words that must not be read as chords), the MIDI round trip of symbols,
 * and symbols as given chords per half bar. */
#include "getmusic.h"
#include "test.h"

#include <ctype.h>

static char g_err[GM_ERR_SIZE];

static void test_parse(void) {
    static const struct { const char *text; int root, quality, bass; } ok[] = {
        {"C", 0, GM_Q_MAJ, -1},        {"Am7", 9, GM_Q_MIN7, -1},   {"F#m7b5", 6, GM_Q_M7B5, -1},
        {"Bb/D", 10, GM_Q_MAJ, 2},     {"Cmaj7", 0, GM_Q_MAJ7, -1}, {"C7", 0, GM_Q_DOM7, -1},
        {"Cdim", 0, GM_Q_DIM, -1},     {"Caug", 0, GM_Q_AUG, -1},   {"Csus4", 0, GM_Q_MAJ, -1},
        {"Csus2", 0, GM_Q_MAJ, -1},    {"C9", 0, GM_Q_DOM7, -1},    {"Cdim7", 0, GM_Q_DIM, -1},
        {"Cm6", 0, GM_Q_MIN, -1},      {"C6", 0, GM_Q_MAJ, -1},     {"CmM7", 0, GM_Q_MIN, -1},
        {"Cm(maj7)", 0, GM_Q_MIN, -1}, {"C7(b9)", 0, GM_Q_DOM7, -1}, {"C7sus4", 0, GM_Q_DOM7, -1},
        {"Ebm", 3, GM_Q_MIN, -1},      {"Db7/Ab", 1, GM_Q_DOM7, 8}, {"G\xe2\x99\xaf" "m", 8, GM_Q_MIN, -1},
        {"B\xc3\xb8", 11, GM_Q_M7B5, -1}, {"C\xce\x94" "7", 0, GM_Q_MAJ7, -1}, {"C-7", 0, GM_Q_MIN7, -1},
        {"C+", 0, GM_Q_AUG, -1},       {"Cadd9", 0, GM_Q_MAJ, -1},  {"  Gm  ", 7, GM_Q_MIN, -1},
        {"Cbmaj7", 11, GM_Q_MAJ7, -1}, {"E#", 5, GM_Q_MAJ, -1},     {"C5", 0, GM_Q_MAJ, -1},
        {"N.C.", -1, -1, -1},          {"NC", -1, -1, -1},          {"N", -1, -1, -1},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        gm_chord c = {-3, -3};
        int bass = -3;
        int rc = gm_chord_symbol_parse(ok[i].text, &c, &bass, g_err);
        CHECK(rc == 0 && c.root == ok[i].root && c.quality == ok[i].quality && bass == ok[i].bass,
              "'%s': rc %d root %d quality %d bass %d (%s)", ok[i].text, rc, c.root, c.quality, bass, g_err);
    }
    /* Words, lyrics and near misses are not chords. */
    static const char *bad[] = {"", "Hello", "am", "Am I", "Dim", "Cx", "C/H", "Love", "Bad", "Ab-solutely", "Gmaj7 and",
                                "Chorus", "Eb/", "C//E", "Fmaj77", "X", "Cmin7b5b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        gm_chord c;
        g_err[0] = 0;
        int rc = gm_chord_symbol_parse(bad[i], &c, NULL, g_err);
        CHECK(rc != 0 && g_err[0] && !strchr(g_err, '\n'), "'%s' parsed as a chord", bad[i]);
    }
}

static void test_kinds(void) {
    static const struct { const char *kind; int quality; } k[] = {
        {"major", GM_Q_MAJ},          {"minor", GM_Q_MIN},          {"augmented", GM_Q_AUG},
        {"diminished", GM_Q_DIM},     {"dominant", GM_Q_DOM7},      {"major-seventh", GM_Q_MAJ7},
        {"minor-seventh", GM_Q_MIN7}, {"half-diminished", GM_Q_M7B5}, {"diminished-seventh", GM_Q_DIM},
        {"augmented-seventh", GM_Q_AUG}, {"major-minor", GM_Q_MIN},   {"major-sixth", GM_Q_MAJ},
        {"minor-sixth", GM_Q_MIN},    {"dominant-ninth", GM_Q_DOM7}, {"major-ninth", GM_Q_MAJ7},
        {"minor-ninth", GM_Q_MIN7},   {"dominant-11th", GM_Q_DOM7}, {"minor-11th", GM_Q_MIN7},
        {"dominant-13th", GM_Q_DOM7}, {"major-13th", GM_Q_MAJ7},    {"suspended-second", GM_Q_MAJ},
        {"suspended-fourth", GM_Q_MAJ}, {"power", GM_Q_MAJ},        {"pedal", GM_Q_MAJ},
        {"Neapolitan", GM_Q_MAJ},     {"Italian", GM_Q_DOM7},       {"French", GM_Q_DOM7},
        {"German", GM_Q_DOM7},        {"Tristan", GM_Q_M7B5},       {"other", GM_Q_MAJ},
    };
    for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
        uint16_t tones = 0;
        int rc = gm_chord_kind_tones(k[i].kind, &tones);
        int q = rc ? -1 : gm_chord_quality_nearest(tones);
        CHECK(rc == 0 && q == k[i].quality, "kind %s: rc %d quality %d, want %d", k[i].kind, rc, q, k[i].quality);
    }
    uint16_t t = 1;
    CHECK(gm_chord_kind_tones("none", &t) == 0 && t == 0, "none: no tones (%u)", t);
    CHECK(gm_chord_kind_tones("weird", &t) != 0 && gm_chord_kind_tones("", &t) != 0, "unknown kinds refused");
}

/* ---- MIDI ---------------------------------------------------------------- */

/* Appends a meta event (delta 0 unless given) with text to buf. */
static size_t meta(uint8_t *buf, size_t n, unsigned delta, int type, const char *text) {
    buf[n++] = (uint8_t)delta; /* < 128 */
    buf[n++] = 0xFF;
    buf[n++] = (uint8_t)type;
    size_t len = strlen(text);
    buf[n++] = (uint8_t)len;
    memcpy(buf + n, text, len);
    return n + len;
}

/* A type 0 file: one quarter note C4 and the given events (all at tick 0
 * apart from a delta of 10 between them). */
static size_t smf_with(uint8_t *buf, const int *types, const char **texts, int n_ev) {
    size_t n = 0;
    uint8_t trk[4096];
    size_t k = 0;
    for (int i = 0; i < n_ev; i++) k = meta(trk, k, i ? 10 : 0, types[i], texts[i]);
    static const uint8_t note[] = {0x00, 0x90, 60, 100, 0x60, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00};
    memcpy(trk + k, note, sizeof note);
    k += sizeof note;
    static const uint8_t hdr[14] = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 0, 0, 1, 0, 96};
    memcpy(buf, hdr, 14);
    n = 14;
    memcpy(buf + n, "MTrk", 4);
    buf[n + 4] = (uint8_t)(k >> 24), buf[n + 5] = (uint8_t)(k >> 16), buf[n + 6] = (uint8_t)(k >> 8), buf[n + 7] = (uint8_t)k;
    memcpy(buf + n + 8, trk, k);
    return n + 8 + k;
}

static int read_symbols(const int *types, const char **texts, int n_ev, gm_score *s) {
    uint8_t buf[8192];
    size_t n = smf_with(buf, types, texts, n_ev);
    return gm_midi_read_mem(buf, n, s, g_err);
}

/* CHECK as a condition. */
static int read_ok(int ok) {
    CHECK(ok, "read: %s", g_err);
    return ok;
}

static void test_midi_symbols(void) {
    gm_score s;
    /* markers that are chords, lyrics that are words, a copyright text */
    const int t1[] = {6, 5, 6, 5, 6, 6, 1, 6};
    const char *x1[] = {"C", "Hel-", "Am7", "lo", "F#m7b5", "Bb/D", "(c) 2026 Someone", "N.C."};
    if (read_ok(read_symbols(t1, x1, 8, &s) == 0)) {
        CHECK(s.n_symbols == 5, "markers give 5 symbols, got %d", s.n_symbols);
        if (s.n_symbols == 5) {
            CHECK(s.symbols[0].tick == 0 && s.symbols[0].root == 0 && s.symbols[0].quality == GM_Q_MAJ &&
                  s.symbols[0].source == GM_SYMBOL_MARKER && !strcmp(s.symbols[0].text, "C"), "C at 0");
            CHECK(s.symbols[1].tick == 20 && s.symbols[1].root == 9 && s.symbols[1].quality == GM_Q_MIN7, "Am7 at 20");
            CHECK(s.symbols[2].root == 6 && s.symbols[2].quality == GM_Q_M7B5, "F#m7b5");
            CHECK(s.symbols[3].root == 10 && s.symbols[3].bass == 2 && !strcmp(s.symbols[3].text, "Bb/D"), "Bb/D");
            CHECK(s.symbols[4].root == -1 && s.symbols[4].tick == 70, "N.C. at 70 (%lld)", (long long)s.symbols[4].tick);
        }
        CHECK(gm_score_n_notes(&s) == 1, "the note is still there");
        /* write → read: the same symbols, as markers again */
        uint8_t *data = NULL;
        size_t n = 0;
        gm_score back;
        if (gm_midi_write_mem(&s, &data, &n, g_err) == 0 && gm_midi_read_mem(data, n, &back, g_err) == 0) {
            int same = back.n_symbols == s.n_symbols;
            for (int i = 0; same && i < s.n_symbols; i++)
                same = back.symbols[i].tick == s.symbols[i].tick && back.symbols[i].root == s.symbols[i].root &&
                       back.symbols[i].quality == s.symbols[i].quality && back.symbols[i].bass == s.symbols[i].bass &&
                       back.symbols[i].source == s.symbols[i].source && !strcmp(back.symbols[i].text, s.symbols[i].text);
            CHECK(same, "symbols survive write → read (%d of %d)", back.n_symbols, s.n_symbols);
            gm_score back2;
            CHECK(gm_score_copy(&back2, &back) == 0 && back2.n_symbols == back.n_symbols, "copy keeps symbols");
            gm_chord_symbol extra = {5, 2, GM_Q_MIN, -1, GM_SYMBOL_TEXT, "Dm"};
            for (int i = 0; i < 40; i++) CHECK(gm_score_add_symbol(&back2, &extra) == 0, "add after copy");
            gm_score_transpose(&back2, 2);
            CHECK(back2.symbols[0].root == 2 && back2.symbols[3].bass == 4, "transpose moves roots and basses");
            gm_score_free(&back2);
            gm_score_free(&back);
        } else {
            CHECK(0, "round trip: %s", g_err);
        }
        free(data);
        gm_score_free(&s);
    }
    /* Lyrics that are all chord names are chords. */
    const int t2[] = {5, 5, 5};
    const char *x2[] = {"Dm7", "G7", "Cmaj7"};
    if (read_ok(read_symbols(t2, x2, 3, &s) == 0)) {
        CHECK(s.n_symbols == 3 && s.symbols[0].source == GM_SYMBOL_LYRIC, "lyric chords: %d", s.n_symbols);
        gm_score_free(&s);
    }
    /* One word among chord-like lyrics: none of them is a chord. */
    const int t3[] = {5, 5, 5, 5};
    const char *x3[] = {"A", "C", "E", "day"};
    if (read_ok(read_symbols(t3, x3, 4, &s) == 0)) {
        CHECK(s.n_symbols == 0, "lyrics with words: %d symbols", s.n_symbols);
        gm_score_free(&s);
    }
    /* Section markers "A", "B": bare letters, few: sections, not chords. */
    const int t4[] = {6, 6, 6, 6};
    const char *x4[] = {"A", "B", "A", "C"};
    if (read_ok(read_symbols(t4, x4, 4, &s) == 0)) {
        CHECK(s.n_symbols == 0, "section markers: %d symbols", s.n_symbols);
        gm_score_free(&s);
    }
    /* Nine or more bare letters in one stream are a chord chart. */
    const int t5[] = {7, 7, 7, 7, 7, 7, 7, 7, 7};
    const char *x5[] = {"C", "G", "A", "F", "C", "G", "F", "C", "G"};
    if (read_ok(read_symbols(t5, x5, 9, &s) == 0)) {
        CHECK(s.n_symbols == 9 && s.symbols[8].root == 7 && s.symbols[0].source == GM_SYMBOL_CUE, "cue chords: %d", s.n_symbols);
        gm_score_free(&s);
    }
}

/* Symbols as the chords generate is given: per half bar of 4/4. */
static void test_from_symbols(void) {
    gm_score s;
    gm_score_init(&s, 480);
    gm_score_add_timesig(&s, 0, 4, 4);
    int t = gm_score_add_track(&s, "melody", 0, 0, 0);
    gm_track_add_note(&s.tracks[t], 0, 4 * 480 * 3, 60, 100, 0); /* 3 bars */
    gm_chord_symbol c1 = {0, 0, GM_Q_MAJ, -1, 0, "C"}, c2 = {960, 7, GM_Q_DOM7, -1, 0, "G7"},
                    c3 = {1920 + 960 + 480, 9, GM_Q_MIN, -1, 0, "Am"}, c4 = {2 * 1920, -1, -1, -1, 0, "N.C."};
    gm_score_add_symbol(&s, &c1), gm_score_add_symbol(&s, &c2), gm_score_add_symbol(&s, &c3), gm_score_add_symbol(&s, &c4);
    gm_score_sort(&s);
    gm_barmap bm;
    gm_chord out[6];
    int ok = gm_barmap_build(&bm, &s, GM_STEPS_PER_QUARTER, g_err) == 0 && bm.n_bars == 3;
    CHECK(ok, "bar map: %s", g_err);
    if (ok) {
        CHECK(gm_chords_from_symbols(&s, &bm, 2, out, g_err) == 0, "from symbols: %s", g_err);
        int want[6][2] = {{0, GM_Q_MAJ}, {7, GM_Q_DOM7}, {7, GM_Q_DOM7}, {7, GM_Q_DOM7}, {-1, -1}, {-1, -1}};
        for (int f = 0; f < 6; f++)
            CHECK(out[f].root == want[f][0] && out[f].quality == want[f][1], "frame %d: %d %d", f, out[f].root, out[f].quality);
        /* Am sounds a quarter of bar 2's second half only: G7 holds longer there. */
        gm_barmap_free(&bm);
    }
    gm_score_free(&s);
    gm_score_init(&s, 480);
    gm_barmap_build(&bm, &s, GM_STEPS_PER_QUARTER, g_err);
    CHECK(gm_chords_from_symbols(&s, &bm, 2, out, g_err) != 0 && strstr(g_err, "no chord symbols"), "none: %s", g_err);
    gm_barmap_free(&bm);
    gm_score_free(&s);
}

int main(void) {
    test_parse();
    test_kinds();
    test_midi_symbols();
    test_from_symbols();
    return test_done("test_chord_symbol");
}
