/*
 * chord_symbol.c — chord names, the one home of their rules: lead-sheet
 * symbols as musicians write them ("F#m7b5", "Bb/D", "Csus4", "N.C.") and
 * MusicXML <kind> values ("minor-seventh"), each a set of tones above the
 * root, brought to the nearest of our eight qualities; our own names
 * (gm_chord_parse: "Am7", "B:maj"), the same spellings held to the eight;
 * and the symbols of a score as given chords per frame of the bar grid.
 *
 * One table holds every kind: its MusicXML name, its tones and its
 * lead-sheet spellings, so a spelling and a kind of the same chord cannot
 * disagree, and our names are read through it too.
 */
#include "chord_name.h"
#include "getmusic.h"
#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define B(i) (1u << (i))

typedef struct {
    const char *kind;      /* MusicXML <kind> value, "" for a spelling only lead sheets use */
    uint16_t tones;        /* semitones above the root */
    const char *spell[8];  /* lead-sheet suffixes after the root, parentheses removed */
} chord_kind;

static const chord_kind kinds[] = {
    {"major", B(0) | B(4) | B(7), {"", "maj", "M", "Maj", "ma"}},
    {"minor", B(0) | B(3) | B(7), {"m", "min", "-", "mi"}},
    {"augmented", B(0) | B(4) | B(8), {"aug", "+", "+5", "#5"}},
    {"diminished", B(0) | B(3) | B(6), {"dim", "\xc2\xb0", "o", "mb5"}},
    {"dominant", B(0) | B(4) | B(7) | B(10), {"7", "dom7", "dom"}},
    {"major-seventh", B(0) | B(4) | B(7) | B(11), {"maj7", "M7", "Maj7", "ma7", "j7", "\xce\x94", "\xce\x94" "7"}},
    {"minor-seventh", B(0) | B(3) | B(7) | B(10), {"m7", "min7", "-7", "mi7"}},
    {"diminished-seventh", B(0) | B(3) | B(6) | B(9), {"dim7", "\xc2\xb0" "7", "o7"}},
    {"augmented-seventh", B(0) | B(4) | B(8) | B(10), {"aug7", "+7", "7#5", "7+5", "7+"}},
    {"half-diminished", B(0) | B(3) | B(6) | B(10),
     {"m7b5", "min7b5", "-7b5", "mi7b5", "hdim7", "\xc3\xb8", "\xc3\xb8" "7"}},
    {"major-minor", B(0) | B(3) | B(7) | B(11), {"mM7", "mmaj7", "minmaj7", "-maj7", "mMaj7", "m\xce\x94"}},
    {"major-sixth", B(0) | B(4) | B(7) | B(9), {"6", "maj6", "M6", "add6"}},
    {"minor-sixth", B(0) | B(3) | B(7) | B(9), {"m6", "min6", "-6"}},
    {"dominant-ninth", B(0) | B(2) | B(4) | B(7) | B(10), {"9", "79", "dom9"}},
    {"major-ninth", B(0) | B(2) | B(4) | B(7) | B(11), {"maj9", "M9", "Maj9", "\xce\x94" "9"}},
    {"minor-ninth", B(0) | B(2) | B(3) | B(7) | B(10), {"m9", "min9", "-9"}},
    {"dominant-11th", B(0) | B(2) | B(4) | B(5) | B(7) | B(10), {"11"}},
    {"major-11th", B(0) | B(2) | B(4) | B(5) | B(7) | B(11), {"maj11", "M11"}},
    {"minor-11th", B(0) | B(2) | B(3) | B(5) | B(7) | B(10), {"m11", "min11", "-11"}},
    {"dominant-13th", B(0) | B(2) | B(4) | B(7) | B(9) | B(10), {"13"}},
    {"major-13th", B(0) | B(2) | B(4) | B(7) | B(9) | B(11), {"maj13", "M13"}},
    {"minor-13th", B(0) | B(2) | B(3) | B(7) | B(9) | B(10), {"m13", "min13", "-13"}},
    {"suspended-second", B(0) | B(2) | B(7), {"sus2"}},
    {"suspended-fourth", B(0) | B(5) | B(7), {"sus4", "sus"}},
    {"power", B(0) | B(7), {"5"}},
    {"pedal", B(0), {NULL}},
    {"Neapolitan", B(0) | B(4) | B(7), {NULL}},    /* a major triad on the flat second */
    {"Italian", B(0) | B(4) | B(10), {NULL}},      /* augmented sixths, from their lowest tone */
    {"French", B(0) | B(4) | B(6) | B(10), {NULL}},
    {"German", B(0) | B(4) | B(7) | B(10), {NULL}},
    {"Tristan", B(0) | B(3) | B(6) | B(10), {NULL}},
    {"other", B(0) | B(4) | B(7), {NULL}},         /* spelt by its <degree>s, if at all */
    {"none", 0, {NULL}},
    /* Lead-sheet spellings with no kind of their own. */
    {"", B(0) | B(5) | B(7) | B(10), {"7sus4", "7sus"}},
    {"", B(0) | B(2) | B(5) | B(7) | B(10), {"9sus4", "9sus"}},
    {"", B(0) | B(2) | B(4) | B(7), {"add9", "add2", "2"}},
    {"", B(0) | B(2) | B(3) | B(7), {"madd9", "madd2", "m2"}},
    {"", B(0) | B(2) | B(4) | B(7) | B(9), {"69", "6add9"}},
    {"", B(0) | B(1) | B(4) | B(7) | B(10), {"7b9"}},
    {"", B(0) | B(3) | B(4) | B(7) | B(10), {"7#9"}},
    {"", B(0) | B(4) | B(6) | B(10), {"7b5"}},
    {"", B(0) | B(4) | B(6) | B(7) | B(10), {"7#11"}},
    {"", B(0) | B(4) | B(6) | B(7) | B(11), {"maj7#11", "M7#11"}},
    {"", B(0) | B(1) | B(3) | B(7) | B(10), {"m7b9"}},
};
#define N_KINDS (sizeof kinds / sizeof *kinds)

int gm_chord_quality_nearest(uint16_t tones) {
    int best = GM_Q_MAJ, best_score = -100;
    for (int q = 0; q < GM_N_QUALITIES; q++) {
        const unsigned qt = gm_chord_tones((gm_chord){0, (int8_t)q}); /* the one table (chord_text.c), on C */
        int shared = __builtin_popcount(tones & qt);
        int missing = __builtin_popcount(qt & ~tones);
        if (shared - missing > best_score) best_score = shared - missing, best = q;
    }
    return best;
}

int gm_chord_kind_tones(const char *kind, uint16_t *tones) {
    if (!kind || !*kind) return -1;
    for (size_t i = 0; i < N_KINDS; i++)
        if (!strcmp(kinds[i].kind, kind)) {
            if (tones) *tones = kinds[i].tones;
            return 0;
        }
    return -1;
}

/* ======================================================================== */
/* Lead-sheet names                                                          */
/* ======================================================================== */

/* chord_name.h: the one reader of a root, for names and Harte labels alike. */
int gm_note_name_read(const char **p) {
    static const int letter_pc[7] = {9, 11, 0, 2, 4, 5, 7}; /* A..G */
    const char *q = *p;
    if (*q < 'A' || *q > 'G') return -1;
    int pc = letter_pc[*q++ - 'A'];
    for (int k = 0; k < 2; k++) {
        if (*q == '#') pc++, q++;
        else if (*q == 'b') pc--, q++;
        else if (!strncmp(q, "\xe2\x99\xaf", 3)) pc++, q += 3; /* ♯ */
        else if (!strncmp(q, "\xe2\x99\xad", 3)) pc--, q += 3; /* ♭ */
        else break;
    }
    *p = q;
    return (pc % 12 + 12) % 12;
}

/* Tones of a suffix ("m7", "7(b9)" read as "7b9"), or -1 when unknown. */
static int suffix_tones(const char *suffix, uint16_t *tones) {
    char buf[32];
    size_t n = 0;
    for (const char *q = suffix; *q; q++) {
        if (*q == '(' || *q == ')') continue;
        if (n + 1 >= sizeof buf) return -1;
        buf[n++] = *q;
    }
    buf[n] = 0;
    for (size_t i = 0; i < N_KINDS; i++)
        for (int k = 0; k < 8 && kinds[i].spell[k]; k++)
            if (!strcmp(kinds[i].spell[k], buf)) {
                *tones = kinds[i].tones;
                return 0;
            }
    return -1;
}

/* The text of a chord name, spaces around it dropped, into buf (40 bytes).
 * 0, or -1 with err when it is empty or too long to be a chord name. */
static int trimmed_name(const char *text, char buf[40], char *err) {
    while (isspace((unsigned char)*text)) text++;
    size_t len = strlen(text);
    while (len > 0 && isspace((unsigned char)text[len - 1])) len--;
    if (len == 0 || len >= 40) return gm_fail(err, "'%.*s' is not a chord name", (int)(len > 30 ? 30 : len), text);
    memcpy(buf, text, len);
    buf[len] = 0;
    return 0;
}

static int is_no_chord(const char *s) {
    return !strcmp(s, "N.C.") || !strcmp(s, "N.C") || !strcmp(s, "NC") || !strcmp(s, "N");
}

/* The start both parsers share: the trimmed text in buf, then no chord
 * (1, *out = N) or the root read (0, *rest after it). -1 with err. */
static int name_root(const char *text, gm_chord *out, char buf[40], int *root, const char **rest, char *err) {
    if (!text || !out) return gm_fail(err, "chord name: null argument");
    if (trimmed_name(text, buf, err)) return -1;
    if (is_no_chord(buf)) {
        *out = (gm_chord){-1, -1};
        return 1;
    }
    *rest = buf;
    *root = gm_note_name_read(rest);
    if (*root < 0) return gm_fail(err, "'%s' is not a chord name (expected a root A-G, or N)", buf);
    return 0;
}

int gm_chord_symbol_parse(const char *text, gm_chord *out, int *bass, char *err) {
    if (bass) *bass = -1;
    char buf[40];
    const char *p;
    int root, rc = name_root(text, out, buf, &root, &p, err);
    if (rc) return rc < 0 ? -1 : 0;
    char suffix[40];
    gm_strlcpy(suffix, p, sizeof suffix);
    char *slash = strchr(suffix, '/');
    int b = -1;
    if (slash) { /* "/D": the bass, a note name and nothing more */
        const char *q = slash + 1;
        b = gm_note_name_read(&q);
        if (b < 0 || *q) return gm_fail(err, "'%s': '%s' is not a bass note", buf, slash + 1);
        *slash = 0;
    }
    uint16_t tones;
    if (suffix_tones(suffix, &tones)) return gm_fail(err, "'%s': unknown chord suffix '%s'", buf, suffix);
    *out = (gm_chord){(int8_t)root, (int8_t)gm_chord_quality_nearest(tones)};
    if (bass) *bass = b;
    return 0;
}

/* ======================================================================== */
/* Our names                                                                 */
/* ======================================================================== */

/* Magenta's spellings of the twelve roots. */
static const char *root_names[12] = {"C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"};
static const char *quality_suffix[GM_N_QUALITIES] = {"", "m", "aug", "dim", "7", "maj7", "m7", "m7b5"};

const char *gm_chord_name(gm_chord c, char *buf, size_t n) {
    if (!buf || n == 0) return buf;
    if (c.root < 0 || c.root > 11 || c.quality < 0 || c.quality >= GM_N_QUALITIES)
        snprintf(buf, n, "N");
    else
        snprintf(buf, n, "%s%s", root_names[(int)c.root], quality_suffix[(int)c.quality]);
    return buf;
}

/* Our names are the symbols whose tones are exactly one of our qualities,
 * with no bass; a ':' may follow the root, as in Harte's "B:maj". */
int gm_chord_parse(const char *name, gm_chord *out, char *err) {
    char buf[40];
    const char *p;
    int root, rc = name_root(name, out, buf, &root, &p, err);
    if (rc) return rc < 0 ? -1 : 0;
    if (*p == ':') p++;
    uint16_t tones;
    int q = GM_N_QUALITIES;
    if (!suffix_tones(p, &tones))
        for (q = 0; q < GM_N_QUALITIES && gm_chord_tones((gm_chord){0, (int8_t)q}) != tones; q++) {}
    if (q == GM_N_QUALITIES)
        return gm_fail(err, "'%s': unknown chord quality '%s' (known: maj, m, aug/+, dim, 7, maj7, m7, m7b5)", buf, p);
    *out = (gm_chord){(int8_t)root, (int8_t)q};
    return 0;
}

/* ======================================================================== */
/* Symbols of a score as given chords                                        */
/* ======================================================================== */

int gm_chords_from_symbols(const gm_score *s, const gm_barmap *bm, int frames, gm_chord *out, char *err) {
    if (!s || !bm || !out) return gm_fail(err, "chord symbols: null argument");
    if (s->n_symbols < 1) return gm_fail(err, "the score has no chord symbols");
    gm_timed_chord *tc = malloc((size_t)s->n_symbols * sizeof *tc);
    if (!tc) return gm_fail(err, "out of memory for %d chord symbols", s->n_symbols);
    const int64_t end = bm->n_bars > 0 && bm->bar_tick[bm->n_bars] > s->end_tick ? bm->bar_tick[bm->n_bars] : s->end_tick;
    int n = 0;
    for (int i = 0; i < s->n_symbols; i++) {
        const gm_chord_symbol *c = &s->symbols[i];
        int64_t z = i + 1 < s->n_symbols ? s->symbols[i + 1].tick : end;
        if (z <= c->tick) continue; /* replaced at once by the next symbol */
        tc[n++] = (gm_timed_chord){gm_score_tick_to_seconds(s, c->tick), gm_score_tick_to_seconds(s, z),
                                   {c->root, c->root >= 0 ? c->quality : -1}};
    }
    int rc = gm_chords_from_timed(s, bm, frames, tc, n, 0, out, err);
    free(tc);
    return rc;
}
