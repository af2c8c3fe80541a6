/*
 * chord_text.c — chords as text, and the tones each one spells: progressions
 * in bars ("C G | Am F", of the names chord_symbol.c reads), Harte labels
 * as POP909's chord_midi.txt writes them ("A:min7/b7": their tones, and the
 * nearest of our chords), and the one
 * table of our qualities' tones (gm_chord_tones), which recognition
 * (chord.c) and everything that scores chord tones share.
 */
#include "chord_name.h"
#include "getmusic.h"
#include "util.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================== */
/* Tones: our qualities and Harte labels                                     */
/* ======================================================================== */

/* The tones of our qualities, the one table of them: interval sets (bit k =
 * k semitones above the root) in GM_Q_* order, which is also Magenta's ('',
 * m, +, dim, 7, maj7, m7, m7b5). Recognition (chord.c) scores against these
 * sets; a quality missing here (added later) keeps its root. */
static const uint16_t our_quality_tones[GM_N_QUALITIES] = {
    [GM_Q_MAJ] = 0x091,  /* 0 4 7 */
    [GM_Q_MIN] = 0x089,  /* 0 3 7 */
    [GM_Q_AUG] = 0x111,  /* 0 4 8 */
    [GM_Q_DIM] = 0x049,  /* 0 3 6 */
    [GM_Q_DOM7] = 0x491, /* 0 4 7 10 */
    [GM_Q_MAJ7] = 0x891, /* 0 4 7 11 */
    [GM_Q_MIN7] = 0x489, /* 0 3 7 10 */
    [GM_Q_M7B5] = 0x449, /* 0 3 6 10 */
};

/* Rotates a set of intervals above C up to `root`. */
static uint16_t rotate_pcs(unsigned set, int root) {
    root = ((root % 12) + 12) % 12;
    unsigned r = ((set << root) | (set >> (12 - root))) & 0xfffu;
    return (uint16_t)r;
}

uint16_t gm_chord_tones(gm_chord c) {
    if (c.root < 0 || c.quality < 0 || c.quality >= GM_N_QUALITIES) return 0;
    unsigned set = our_quality_tones[c.quality] ? our_quality_tones[c.quality] : 1u;
    return rotate_pcs(set, c.root);
}

/* Harte's shorthands (Harte et al., ISMIR 2005, as POP909 writes them),
 * as interval sets above the root (bit k = k semitones). */
static const struct { const char *name; uint16_t set; } shorthands[] = {
    {"maj", 0x091},     {"min", 0x089},    {"dim", 0x049},     {"aug", 0x111},   {"maj7", 0x891},
    {"min7", 0x489},    {"7", 0x491},      {"dim7", 0x249},    {"hdim7", 0x449}, {"minmaj7", 0x889},
    {"maj6", 0x291},    {"min6", 0x289},   {"9", 0x495},       {"maj9", 0x895},  {"min9", 0x48d},
    {"sus2", 0x085},    {"sus4", 0x0a1},   {"11", 0x4b5},      {"min11", 0x4ad}, {"13", 0x6b5},
    {"maj13", 0xab5},   {"min13", 0x6ad},  {"5", 0x081},       {"1", 0x001},
};

/* Semitones of a Harte degree such as "b7", "#11", "3" (degrees 1..13 of
 * the major scale, any number of flats/sharps). -1 when malformed. */
static int harte_degree(const char *s, size_t n) {
    static const int scale[7] = {0, 2, 4, 5, 7, 9, 11};
    int shift = 0;
    size_t i = 0;
    for (; i < n && (s[i] == 'b' || s[i] == '#'); i++) shift += s[i] == '#' ? 1 : -1;
    if (i == n || n - i > 2) return -1;
    int d = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        d = d * 10 + (s[i] - '0');
    }
    if (d < 1 || d > 13) return -1;
    return ((scale[(d - 1) % 7] + shift) % 12 + 12) % 12;
}

/* Applies "(d1,d2,*d3)" to *set: adds degrees, removes starred ones. */
static int harte_degree_list(const char *s, size_t n, unsigned *set) {
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != ',') j++;
        int omit = j > i && s[i] == '*';
        int k = harte_degree(s + i + omit, j - i - (size_t)omit);
        if (k < 0) return -1;
        if (omit) *set &= ~(1u << k);
        else *set |= 1u << k;
        i = j + 1;
    }
    return 0;
}

int gm_chord_label_tones(const char *label, uint16_t *tones, char *err) {
    if (!label || !tones) return gm_fail(err, "chord label: null argument");
    size_t len = strlen(label);
    if (len == 0 || len > 64) return gm_fail(err, "chord label '%.64s' is empty or too long", label);
    if (!strcmp(label, "N") || !strcmp(label, "X")) { /* no chord; X = unknown (Harte) */
        *tones = 0;
        return 0;
    }
    const char *p = label;
    int root = gm_note_name_read(&p);
    if (root < 0) return gm_fail(err, "chord label '%s' does not start with a root A-G (or N)", label);
    const char *slash = strchr(p, '/'), *end = slash ? slash : label + len;
    unsigned set = 0x091; /* a bare root is major (Harte) */
    if (*p == ':') {
        p++;
        const char *paren = memchr(p, '(', (size_t)(end - p));
        size_t nq = (size_t)((paren ? paren : end) - p);
        if (nq) {
            size_t k = 0, n_sh = sizeof shorthands / sizeof *shorthands;
            while (k < n_sh && (strlen(shorthands[k].name) != nq || strncmp(shorthands[k].name, p, nq))) k++;
            if (k == n_sh) return gm_fail(err, "chord label '%s': unknown quality '%.*s'", label, (int)nq, p);
            set = shorthands[k].set;
        } else {
            set = paren ? 0 : set; /* "C:(1,3,5)": the list alone gives the tones */
        }
        if (paren) {
            if (end[-1] != ')' || harte_degree_list(paren + 1, (size_t)(end - paren - 2), &set))
                return gm_fail(err, "chord label '%s': malformed degree list", label);
        }
    } else if (p != end) {
        return gm_fail(err, "chord label '%s': expected ':' after the root", label);
    }
    if (slash) { /* the bass note sounds, so it is a chord tone (Harte) */
        int k = harte_degree(slash + 1, strlen(slash + 1));
        if (k < 0) return gm_fail(err, "chord label '%s': malformed bass degree '%s'", label, slash + 1);
        set |= 1u << k;
    }
    if (!(set & 0xfffu)) return gm_fail(err, "chord label '%s' has no tones", label);
    *tones = rotate_pcs(set, root);
    return 0;
}

void gm_chord_labels_free(gm_chord_labels *l) {
    if (!l) return;
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int span_start_cmp(const void *x, const void *y) {
    const gm_chord_span *a = x, *b = y;
    return a->start < b->start ? -1 : a->start > b->start;
}

static int labels_push(gm_chord_labels *l, size_t *cap, double start, double end, uint16_t tones) {
    if (gm_grow(&l->v, cap, l->n, sizeof *l->v, 256)) return -1;
    l->v[l->n++] = (gm_chord_span){start, end, tones};
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Label files (POP909's chord_midi.txt): the one reader                     */
/* ------------------------------------------------------------------------ */

#define MAX_LABEL_LINES 1000000
#define MAX_LABEL_FILE (1u << 24) /* 16 MiB: POP909's largest is 6 KiB */

/* One line, "start_s end_s label" (spaces or tabs): 1 with the fields, 0 for
 * a blank line, -1 with why. */
static int label_line(const char *line, double *t0, double *t1, char label[80], char *why) {
    char extra[2];
    if (line[strspn(line, " \t\r\n")] == 0) return 0;
    if (sscanf(line, "%lf %lf %79s %1s", t0, t1, label, extra) != 3) return gm_fail(why, "expected 'start end label'");
    if (!(*t0 >= 0 && *t1 >= *t0 && *t1 < 1e7)) /* also refuses NaN */
        return gm_fail(why, "times %g..%g are not 0 <= start <= end", *t0, *t1);
    return 1;
}

/* Calls fn for each label line of text. A line over 511 bytes, a malformed
 * line or fn's failure (fn fills why) is "name: line N: why". */
typedef int (*label_fn)(void *user_data, double t0, double t1, const char *label, char *why);
static int read_labels(const char *text, size_t len, const char *name, label_fn fn, void *user_data, char *err) {
    int line_no = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        if (++line_no > MAX_LABEL_LINES) return gm_fail(err, "%s: more than %d lines", name, MAX_LABEL_LINES);
        char line[512], label[80], why[GM_ERR_SIZE] = "";
        if (j - i >= sizeof line) return gm_fail(err, "%s: line %d: too long", name, line_no);
        memcpy(line, text + i, j - i);
        line[j - i] = 0;
        i = j + 1;
        double t0, t1;
        int k = label_line(line, &t0, &t1, label, why);
        if (k > 0 && fn(user_data, t0, t1, label, why)) k = -1;
        if (k < 0) return gm_fail(err, "%s: line %d: %s", name, line_no, why);
    }
    return 0;
}

/* A label file read whole (*out malloc'd, NUL-terminated). */
static int read_label_file(const char *path, char **out, size_t *n, char *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return gm_fail(err, "cannot open %s", path);
    char *buf = malloc(MAX_LABEL_FILE + 2);
    *n = buf ? fread(buf, 1, MAX_LABEL_FILE + 1, f) : 0;
    fclose(f);
    if (!buf) return gm_fail(err, "%s: out of memory", path);
    if (*n > MAX_LABEL_FILE) {
        free(buf);
        return gm_fail(err, "%s: larger than 16 MiB", path);
    }
    buf[*n] = 0;
    *out = buf;
    return 0;
}

/* read_labels' visitor for gm_chord_labels: a label's tones; N is left out. */
typedef struct { gm_chord_labels *l; size_t cap; } tones_ctx;
static int add_tones(void *user_data, double t0, double t1, const char *label, char *why) {
    tones_ctx *c = user_data;
    uint16_t tones = 0;
    if (gm_chord_label_tones(label, &tones, why)) return -1;
    if (!tones || t1 <= t0) return 0; /* N: no chord, nothing to score against */
    if (labels_push(c->l, &c->cap, t0, t1, tones)) return gm_fail(why, "out of memory");
    return 0;
}

int gm_chord_labels_parse(const char *text, size_t len, const char *name, gm_chord_labels *out, char *err) {
    if (!text || !out) return gm_fail(err, "chord labels: null argument");
    memset(out, 0, sizeof *out);
    tones_ctx c = {out, 0};
    if (read_labels(text, len, name ? name : "chord labels", add_tones, &c, err)) {
        gm_chord_labels_free(out);
        return -1;
    }
    qsort(out->v, (size_t)out->n, sizeof *out->v, span_start_cmp);
    return 0;
}

int gm_chord_labels_load(const char *path, gm_chord_labels *out, char *err) {
    if (!path || !out) return gm_fail(err, "chord labels: null argument");
    memset(out, 0, sizeof *out);
    char *text;
    size_t n;
    if (read_label_file(path, &text, &n, err)) return -1;
    int rc = gm_chord_labels_parse(text, n, path, out, err);
    free(text);
    return rc;
}

/* ======================================================================== */
/* Progressions in bars ("C G | Am F")                                       */
/* ======================================================================== */

#define MAX_PROGRESSION_BARS 100000
#define MAX_NAME 72 /* bytes of one chord name, with its NUL (Harte labels are long) */

/* One bar of a progression: one chord, or two for its halves. */
typedef struct {
    char name[2][MAX_NAME];
    int n;
} bar_names;
typedef int (*bar_fn)(void *user_data, int bar, const bar_names *b, char *err);

static int is_sep(char c) { return c == ' ' || c == '\t' || c == ',' || c == '\r' || c == '\n'; }

/* The one bar syntax, for generate and eval alike: with '|' anywhere, '|'
 * and line ends close bars (so a chart's outer bar lines and one bar per
 * line make no empty bars); without it, every name is a bar. Names are
 * separated by spaces, tabs and commas. Calls fn for each bar in turn; a
 * name over 71 bytes, a third name in a bar, more than
 * MAX_PROGRESSION_BARS bars and no name at all are errors. */
static int split_bars(const char *text, bar_fn fn, void *user_data, char *err) {
    const int bars_marked = strchr(text, '|') != NULL;
    bar_names b = {.n = 0};
    int n_bars = 0;
    for (const char *p = text;; p++) {
        int bar_end = *p == 0 || (bars_marked && (*p == '|' || *p == '\n'));
        if (bar_end || is_sep(*p)) {
            if (bar_end && b.n > 0) {
                if (n_bars >= MAX_PROGRESSION_BARS) return gm_fail(err, "more than %d bars of chords", MAX_PROGRESSION_BARS);
                if (fn(user_data, n_bars++, &b, err)) return -1;
                b.n = 0;
            }
            if (*p == 0) break;
            continue;
        }
        size_t len = strcspn(p, " \t\r\n,|");
        if (len >= MAX_NAME) return gm_fail(err, "'%.*s...' is not a chord name", 20, p);
        if (b.n == 2)
            return gm_fail(err, "bar %d has more than two chords (%s %s %.*s ...); a bar takes one, or two for its halves",
                           n_bars + 1, b.name[0], b.name[1], (int)len, p);
        memcpy(b.name[b.n], p, len);
        b.name[b.n++][len] = 0;
        p += len - 1;
        if (!bars_marked) { /* every name is a bar */
            if (n_bars >= MAX_PROGRESSION_BARS) return gm_fail(err, "more than %d bars of chords", MAX_PROGRESSION_BARS);
            if (fn(user_data, n_bars++, &b, err)) return -1;
            b.n = 0;
        }
    }
    return n_bars ? 0 : gm_fail(err, "no chord names");
}

/* split_bars' visitor for gm_chords_parse_bars: our chords, as two halves. */
typedef struct { gm_chord *v; int n; size_t cap; } halves; /* v: [cap][2] */
static int add_halves(void *user_data, int bar, const bar_names *b, char *err) {
    halves *h = user_data;
    gm_chord c[2];
    for (int i = 0; i < b->n; i++)
        if (gm_chord_parse(b->name[i], &c[i], err)) return -1;
    if (gm_grow(&h->v, &h->cap, bar, 2 * sizeof *h->v, 64)) return gm_fail(err, "out of memory");
    h->v[2 * bar] = c[0];
    h->v[2 * bar + 1] = c[b->n - 1];
    h->n = bar + 1;
    return 0;
}

int gm_chords_parse_bars(const char *text, gm_chord **out, int *n_bars, char *err) {
    if (!text || !out || !n_bars) return gm_fail(err, "chord progression: null argument");
    *out = NULL;
    *n_bars = 0;
    halves h = {0};
    if (split_bars(text, add_halves, &h, err)) {
        free(h.v);
        return -1;
    }
    *out = h.v;
    *n_bars = h.n;
    return 0;
}

/* Tones of one chord name: a Harte label ("A:min", "C/5", "N") or one of
 * ours ("Am", "G7", gm_chord_parse). 0, or -1 with err. */
static int name_tones(const char *name, uint16_t *t, char *err) {
    if (strchr(name, ':') || strchr(name, '/') || !strcmp(name, "X")) return gm_chord_label_tones(name, t, err);
    gm_chord c;
    if (gm_chord_parse(name, &c, err)) return -1;
    *t = gm_chord_tones(c);
    return 0;
}

/* split_bars' visitor for gm_chord_labels_per_bar: each bar's tones. */
typedef struct { uint16_t t[2]; int k; } bar_tones;
typedef struct { bar_tones *v; int n; size_t cap; } tone_bars;
static int add_bar_tones(void *user_data, int bar, const bar_names *b, char *err) {
    tone_bars *tb = user_data;
    if (gm_grow(&tb->v, &tb->cap, bar, sizeof *tb->v, 64)) return gm_fail(err, "chord names: out of memory");
    bar_tones *t = &tb->v[bar];
    t->k = b->n;
    for (int i = 0; i < b->n; i++)
        if (name_tones(b->name[i], &t->t[i], err)) return -1;
    tb->n = bar + 1;
    return 0;
}

int gm_chord_labels_per_bar(const gm_score *s, const char *names, gm_chord_labels *out, char *err) {
    if (!s || !names || !out) return gm_fail(err, "chord labels: null argument");
    memset(out, 0, sizeof *out);
    tone_bars tb = {0};
    gm_barmap bm;
    size_t cap = 0;
    int rc = split_bars(names, add_bar_tones, &tb, err);
    int built = !rc && !(rc = gm_barmap_build(&bm, s, GM_STEPS_PER_QUARTER, err));
    for (int b = 0; !rc && b < bm.n_bars; b++) {
        const bar_tones *t = &tb.v[b % tb.n]; /* shorter than the piece: repeated */
        /* A bar's chords share it evenly in ticks (beats); times in seconds. */
        int64_t t0 = bm.bar_tick[b], dt = bm.bar_tick[b + 1] - t0;
        for (int c = 0; !rc && c < t->k; c++) {
            double a = gm_score_tick_to_seconds(s, t0 + dt * c / t->k);
            double e = gm_score_tick_to_seconds(s, t0 + dt * (c + 1) / t->k);
            if (t->t[c] && e > a && labels_push(out, &cap, a, e, t->t[c])) rc = gm_fail(err, "chord names: out of memory");
        }
    }
    if (built) gm_barmap_free(&bm);
    free(tb.v);
    if (rc) gm_chord_labels_free(out);
    return rc;
}

/* ======================================================================== */
/* Human labels (POP909's chord_midi.txt)                                    */
/* ======================================================================== */

/* Every quality in POP909's chord_midi.txt files, and the nearest of ours:
 * sevenths and triads as they are; otherwise the chord that shares the most
 * tones with the label (sus2 and sus4 share root and fifth with maj and min
 * alike; POP909's are mostly on major degrees), the extra tone of a sixth
 * or minor-major seventh dropped. A few other Harte qualities for other
 * annotations. */
static const struct { const char *s; int q; } label_qualities[] = {
    {"maj", GM_Q_MAJ},  {"min", GM_Q_MIN},      {"aug", GM_Q_AUG},      {"dim", GM_Q_DIM},
    {"7", GM_Q_DOM7},   {"maj7", GM_Q_MAJ7},    {"min7", GM_Q_MIN7},    {"hdim7", GM_Q_M7B5},
    {"dim7", GM_Q_DIM}, {"sus2", GM_Q_MAJ},     {"sus4", GM_Q_MAJ},     {"sus4(b7)", GM_Q_DOM7},
    {"maj6", GM_Q_MAJ}, {"min6", GM_Q_MIN},     {"minmaj7", GM_Q_MIN},
    {"9", GM_Q_DOM7},   {"maj9", GM_Q_MAJ7},    {"min9", GM_Q_MIN7},    {"11", GM_Q_DOM7},
    {"13", GM_Q_DOM7},  {"min11", GM_Q_MIN7},   {"sus4(b7,9)", GM_Q_DOM7},
};

int gm_chord_label_nearest(const char *text, gm_chord *out, char *err) {
    if (!text || !out) return gm_fail(err, "chord label: null argument");
    const char *colon = strchr(text, ':');
    if (!colon) return gm_chord_parse(text, out, err); /* "N", "C", "Am" */
    char root[8], qual[32];
    size_t rl = (size_t)(colon - text), ql = strcspn(colon + 1, "/"); /* "/3": an inversion, same chord */
    if (rl == 0 || rl >= sizeof root || ql >= sizeof qual)
        return gm_fail(err, "'%.40s' is not a chord label", text);
    memcpy(root, text, rl);
    root[rl] = 0;
    memcpy(qual, colon + 1, ql);
    qual[ql] = 0;
    gm_chord c;
    if (gm_chord_parse(root, &c, NULL) || c.root < 0 || c.quality != GM_Q_MAJ)
        return gm_fail(err, "'%.40s': '%s' is not a chord root", text, root);
    for (size_t i = 0; i < sizeof label_qualities / sizeof *label_qualities; i++)
        if (!strcmp(qual, label_qualities[i].s)) {
            *out = (gm_chord){c.root, (int8_t)label_qualities[i].q};
            return 0;
        }
    return gm_fail(err, "'%.40s': unknown chord quality '%s'", text, qual);
}

/* Most labels a file may hold (POP909's longest song has about 400). */
#define MAX_LABELS 1000000

/* read_labels' visitor for timed chords: the nearest of our chords. */
typedef struct { gm_timed_chord *v; int n; size_t cap; } timed_ctx;
static int add_timed(void *user_data, double t0, double t1, const char *label, char *why) {
    timed_ctx *c = user_data;
    gm_chord ch;
    if (gm_chord_label_nearest(label, &ch, why)) return -1;
    if (c->n >= MAX_LABELS) return gm_fail(why, "more than %d labels", MAX_LABELS);
    if (gm_grow(&c->v, &c->cap, c->n, sizeof *c->v, 256)) return gm_fail(why, "out of memory");
    c->v[c->n++] = (gm_timed_chord){t0, t1, ch};
    return 0;
}

int gm_timed_chords_load(const char *path, gm_timed_chord **out, int *n, char *err) {
    if (!path || !out || !n) return gm_fail(err, "chord labels: null argument");
    *out = NULL;
    *n = 0;
    char *text;
    size_t len;
    if (read_label_file(path, &text, &len, err)) return -1;
    timed_ctx c = {0};
    int rc = read_labels(text, len, path, add_timed, &c, err);
    free(text);
    if (rc) {
        free(c.v);
        return -1;
    }
    *out = c.v;
    *n = c.n;
    return 0;
}
