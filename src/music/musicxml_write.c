/*
 * musicxml_write.c — a gm_score as score-partwise MusicXML, for notation
 * programs (MuseScore opens it as a score) and for our own reader.
 *
 * Time is written on a grid of WDIV divisions per quarter (24: 16ths are 6,
 * 32nds 3, triplet eighths 8), every onset and end rounded to it. Bars come
 * from the score's bar map (its time signatures). A note crossing a bar
 * line, or of a length no single note value has, becomes tied notes of
 * standard values (dotted where that fits, triplet values for lengths that
 * are not a multiple of a 32nd). Notes sharing onset and end form a chord;
 * notes overlapping otherwise go to further voices (up to WVOICES), each
 * voice filled with rests. Tempo and chord symbols go into the first
 * pitched part, in voice 1, before the note or rest they fall in (with an
 * <offset> when they fall inside it).
 */
#include "getmusic.h"
#include "util.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WDIV 24
#define WVOICES 8

/* ======================================================================== */
/* Text buffer                                                               */
/* ======================================================================== */

typedef struct { char *d; size_t n, cap; int oom; } sbuf;

__attribute__((format(printf, 2, 3))) static void sb(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->d ? b->d + b->n : NULL, b->d ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = 1; return; }
        if (b->d && b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->n + (size_t)k + 1) cap *= 2;
        char *d = realloc(b->d, cap);
        if (!d) { b->oom = 1; return; }
        b->d = d;
        b->cap = cap;
    }
}

/* Length of a valid UTF-8 sequence at s (1..4), 0 when it is not one. */
static int utf8_len(const unsigned char *s) {
    int n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 && s[0] >= 0xC2 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
          : (s[0] & 0xF8) == 0xF0 && s[0] <= 0xF4 ? 4 : 0;
    for (int k = 1; k < n; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    if (n == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0))) return 0; /* overlong, surrogate */
    if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))) return 0;
    return n;
}

/* Text content with XML's five special characters escaped; control bytes
 * (not allowed in XML 1.0) become spaces, and bytes that are not UTF-8 (a
 * Latin-1 track name from an old MIDI file, a name cut short) '?', so the
 * file always parses. */
static void sb_text(sbuf *b, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int n = utf8_len((const unsigned char *)s);
        if (n > 1) {
            sb(b, "%.*s", n, s);
            s += n - 1;
            continue;
        }
        if (n == 0) sb(b, "?");
        else if (c == '&') sb(b, "&amp;");
        else if (c == '<') sb(b, "&lt;");
        else if (c == '>') sb(b, "&gt;");
        else if (c == '"') sb(b, "&quot;");
        else if (c == '\'') sb(b, "&apos;");
        else sb(b, "%c", c < 0x20 ? ' ' : c);
    }
}

/* ======================================================================== */
/* Note values                                                               */
/* ======================================================================== */

typedef struct { int units, dots, triplet; const char *type; } nvalue;
/* Plain and dotted values (all multiples of a 32nd, 3 units), longest first. */
static const nvalue plain[] = {
    {144, 1, 0, "whole"}, {96, 0, 0, "whole"}, {72, 1, 0, "half"}, {48, 0, 0, "half"}, {36, 1, 0, "quarter"},
    {24, 0, 0, "quarter"}, {18, 1, 0, "eighth"}, {12, 0, 0, "eighth"}, {9, 1, 0, "16th"}, {6, 0, 0, "16th"},
    {3, 0, 0, "32nd"},
};
/* Triplet values: 3 in the time of 2. */
static const nvalue trip[] = {
    {32, 0, 1, "half"}, {16, 0, 1, "quarter"}, {8, 0, 1, "eighth"}, {4, 0, 1, "16th"}, {2, 0, 1, "32nd"}, {1, 0, 1, "64th"},
};

/* A length in units as note values to tie, longest first: plain values for
 * a multiple of 3 units; otherwise triplet values for what is not. Returns
 * how many went into v (at most max). */
static int split_value(int64_t d, const nvalue **v, int max) {
    int n = 0;
    /* The triplet share: all of d when it is one triplet value, else the
     * smallest of 4 or 8 (1 or 2 when shorter) that leaves a whole number
     * of 32nds. */
    int64_t t = 0;
    for (size_t i = 0; i < sizeof trip / sizeof *trip; i++)
        if (trip[i].units == d) t = d;
    if (!t && d % 3 == 1) t = d >= 4 ? 4 : 1;
    if (!t && d % 3 == 2) t = d >= 8 ? 8 : 2;
    int64_t p = d - t;
    while (p > 0 && n < max) {
        size_t i = 0;
        while (plain[i].units > p) i++;
        v[n++] = &plain[i];
        p -= plain[i].units;
    }
    while (t > 0 && n < max) {
        size_t i = 0;
        while (trip[i].units > t) i++;
        v[n++] = &trip[i];
        t -= trip[i].units;
    }
    return n;
}

/* ======================================================================== */
/* Bars and what falls in them                                               */
/* ======================================================================== */

typedef struct {
    int n;
    int64_t *start;     /* [n+1] units */
    int *num, *den;     /* [n] */
    int pickup;         /* bar 0 is a pickup to bar 1's metre */
} wbars;

static int64_t to_units(const gm_score *s, int64_t tick) {
    return (int64_t)llround((double)tick * WDIV / s->ticks_per_quarter);
}

static int bar_of(const wbars *B, int64_t u) {
    int lo = 0, hi = B->n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (B->start[mid] <= u) lo = mid; else hi = mid - 1;
    }
    return lo;
}

static void wbars_free(wbars *B) {
    GM_FREE_ALL(B->start, B->num, B->den);
}

static int build_bars(const gm_score *s, wbars *B, char *err) {
    gm_barmap bm;
    memset(B, 0, sizeof *B);
    if (gm_barmap_build(&bm, s, GM_STEPS_PER_QUARTER, err)) return -1;
    int n = bm.n_bars > 0 ? bm.n_bars : 1;
    B->start = malloc(sizeof *B->start * (size_t)(n + 1));
    B->num = malloc(sizeof *B->num * (size_t)n);
    B->den = malloc(sizeof *B->den * (size_t)n);
    if (!B->start || !B->num || !B->den) {
        gm_barmap_free(&bm);
        wbars_free(B);
        return gm_fail(err, "out of memory writing MusicXML");
    }
    B->n = n;
    if (bm.n_bars == 0) { /* nothing at all: one empty bar of 4/4 */
        B->start[0] = 0, B->start[1] = 4 * WDIV, B->num[0] = 4, B->den[0] = 4;
    } else {
        for (int b = 0; b <= n; b++) B->start[b] = to_units(s, bm.bar_tick[b]);
        for (int b = 0; b < n; b++) B->num[b] = bm.bar_num[b], B->den[b] = bm.bar_den[b];
    }
    gm_barmap_free(&bm);
    for (int b = 0; b < n; b++)
        if (B->start[b + 1] <= B->start[b]) B->start[b + 1] = B->start[b] + 1; /* a bar shorter than the grid */
    /* A first bar shorter than the second, of another metre, is a pickup. */
    B->pickup = n >= 2 && B->start[1] - B->start[0] < B->start[2] - B->start[1] &&
                (B->num[0] != B->num[1] || B->den[0] != B->den[1]);
    return 0;
}

/* One piece of a note inside one bar. */
typedef struct {
    int bar;
    int64_t a, z;        /* units from the bar's start */
    uint8_t pitch, vel;
    uint8_t tie_in, tie_out; /* tied from the bar before / into the next */
    int voice;
} seg;

static int cmp_seg(const void *x, const void *y) {
    const seg *a = x, *b = y;
    if (a->bar != b->bar) return a->bar - b->bar;
    if (a->a != b->a) return a->a < b->a ? -1 : 1;
    if (a->z != b->z) return a->z > b->z ? -1 : 1; /* longer first: it takes the lower voice */
    if (a->tie_in != b->tie_in || a->tie_out != b->tie_out) return (a->tie_in * 2 + a->tie_out) - (b->tie_in * 2 + b->tie_out);
    return a->pitch - b->pitch;
}

typedef struct { int64_t a, z; uint8_t pitch, vel; } wnote;

static int cmp_wnote(const void *x, const void *y) {
    const wnote *a = x, *b = y;
    if (a->pitch != b->pitch) return a->pitch - b->pitch;
    return a->a < b->a ? -1 : a->a > b->a;
}

/* The notes on the grid; a note still sounding where the same pitch starts
 * again ends there (one key cannot sound twice: a player, and MuseScore's
 * playback, would cut it), a second note of one pitch at one onset goes. */
static wnote *grid_notes(const gm_score *s, const gm_track *t, int64_t end, size_t *n_out) {
    wnote *w = malloc((t->n_notes + 1) * sizeof *w);
    size_t n = 0;
    if (!w) return NULL;
    for (size_t i = 0; i < t->n_notes; i++) {
        const gm_note *no = &t->notes[i];
        int64_t a = to_units(s, no->tick), z = to_units(s, no->tick + no->duration);
        if (a >= end) continue;
        w[n++] = (wnote){a, z > end ? end : z <= a ? a + 1 : z, no->pitch, no->velocity};
    }
    if (n > 1) qsort(w, n, sizeof *w, cmp_wnote);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && w[k - 1].pitch == w[i].pitch && w[k - 1].a == w[i].a) continue;
        if (k && w[k - 1].pitch == w[i].pitch && w[k - 1].z > w[i].a) w[k - 1].z = w[i].a;
        w[k++] = w[i];
    }
    *n_out = k;
    return w;
}

/* A track's notes cut at bar lines, sorted, voices assigned (chords share). */
static int track_segments(const gm_score *s, const gm_track *t, const wbars *B, seg **out, size_t *n_out, char *err) {
    size_t cap = t->n_notes + 16, n = 0, nw = 0;
    const int64_t end = B->start[B->n];
    seg *v = malloc(cap * sizeof *v);
    wnote *w = grid_notes(s, t, end, &nw);
    if (!v || !w) { free(v); free(w); return gm_fail(err, "out of memory writing MusicXML"); }
    for (size_t i = 0; i < nw; i++) {
        int64_t a = w[i].a, z = w[i].z, a0 = a;
        for (int b = bar_of(B, a); a < z; b++) {
            int64_t bz = z < B->start[b + 1] ? z : B->start[b + 1];
            if (n == cap) {
                seg *nv = realloc(v, (cap *= 2) * sizeof *v);
                if (!nv) { free(v); free(w); return gm_fail(err, "out of memory writing MusicXML"); }
                v = nv;
            }
            v[n++] = (seg){b, a - B->start[b], bz - B->start[b], w[i].pitch, w[i].vel, a > a0, bz < z, 0};
            a = bz;
        }
    }
    free(w);
    if (n > 1) qsort(v, n, sizeof *v, cmp_seg);
    /* Voices per bar: a chord (same span and ties) joins its first note's
     * voice; anything else takes the first voice free at its onset. */
    int64_t vend[WVOICES];
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || v[i].bar != v[i - 1].bar) for (int k = 0; k < WVOICES; k++) vend[k] = 0;
        if (i > 0 && v[i].bar == v[i - 1].bar && v[i].a == v[i - 1].a && v[i].z == v[i - 1].z &&
            v[i].tie_in == v[i - 1].tie_in && v[i].tie_out == v[i - 1].tie_out && v[i - 1].voice > 0) {
            v[i].voice = v[i - 1].voice;
            continue;
        }
        int k = 0;
        while (k < WVOICES && vend[k] > v[i].a) k++;
        v[i].voice = k < WVOICES ? k + 1 : 0; /* 0: no voice left, not written */
        if (k < WVOICES) vend[k] = v[i].z;
    }
    *out = v;
    *n_out = n;
    return 0;
}

/* ======================================================================== */
/* Parts                                                                     */
/* ======================================================================== */

static const char *step_sharp[12] = {"C", "C", "D", "D", "E", "F", "F", "G", "G", "A", "A", "B"};
static const int alter_sharp[12] = {0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0};
static const char *step_flat[12] = {"C", "D", "D", "E", "E", "F", "G", "G", "A", "A", "B", "B"};
static const int alter_flat[12] = {0, -1, 0, -1, 0, 0, -1, 0, -1, 0, -1, 0};

/* Where a drum key sits on the percussion staff (display only). */
static void drum_display(int key, const char **step, int *octave) {
    switch (gm_drum_kit_group(key)) {
    case GM_KIT_KICK: *step = "F", *octave = 4; break;
    case GM_KIT_SNARE: *step = "C", *octave = 5; break;
    case GM_KIT_HAT: *step = "G", *octave = 5; break;
    default: *step = "E", *octave = 5; break;
    }
}

typedef struct {
    const gm_score *s;
    const wbars *B;
    int flats;          /* spell black keys as flats (a flat key signature) */
    int pid;            /* part number, 1-based */
    const gm_track *t;
    int events;         /* this part carries tempo and chord symbols */
    int first_key;      /* index of the next key signature to write */
} wpart;

static void write_pitch(sbuf *b, const wpart *w, int pitch) {
    int pc = pitch % 12, oct = pitch / 12 - 1;
    if (w->t->is_drum) {
        const char *step;
        int o;
        drum_display(pitch, &step, &o);
        sb(b, "<unpitched><display-step>%s</display-step><display-octave>%d</display-octave></unpitched>", step, o);
        return;
    }
    const char *step = w->flats ? step_flat[pc] : step_sharp[pc];
    int alter = w->flats ? alter_flat[pc] : alter_sharp[pc];
    if (oct < 0) step = "C", alter = pitch - 12, oct = 0; /* MIDI 0-11: below MusicXML's octave 0, spelt down from C0 */
    sb(b, "<pitch><step>%s</step>", step);
    if (alter) sb(b, "<alter>%d</alter>", alter);
    sb(b, "<octave>%d</octave></pitch>", oct);
}

static void write_value(sbuf *b, const nvalue *v) {
    sb(b, "<type>%s</type>", v->type);
    for (int d = 0; d < v->dots; d++) sb(b, "<dot/>");
    if (v->triplet) sb(b, "<time-modification><actual-notes>3</actual-notes><normal-notes>2</normal-notes></time-modification>");
}

/* The chord symbols and tempos of bar `bar` in time order, written as they
 * come due: everything at or before `until` (units from the bar start);
 * `at` is where the next note or rest starts (their <offset>). */
typedef struct { int64_t pos; int kind, idx; } wevent; /* kind 0 tempo, 1 symbol */
typedef struct { wevent *e; int n, next; } wevents;

static void write_events(sbuf *b, const wpart *w, wevents *ev, int64_t at, int64_t until) {
    static const char *kinds[GM_N_QUALITIES] = {"major", "minor", "augmented", "diminished", "dominant",
                                                "major-seventh", "minor-seventh", "half-diminished"};
    static const char *texts[GM_N_QUALITIES] = {"", "m", "+", "dim", "7", "maj7", "m7", "m7b5"};
    static const char *rstep[12] = {"C", "C", "D", "E", "E", "F", "F", "G", "A", "A", "B", "B"};
    static const int ralter[12] = {0, 1, 0, -1, 0, 0, 1, 0, -1, 0, -1, 0};
    for (; ev->next < ev->n && ev->e[ev->next].pos < until; ev->next++) {
        const wevent *e = &ev->e[ev->next];
        int64_t off = e->pos - at;
        if (e->kind == 0) {
            double qpm = 60e6 / (double)w->s->tempos[e->idx].usec_per_quarter;
            sb(b, "<direction placement=\"above\"><direction-type><metronome><beat-unit>quarter</beat-unit>"
                  "<per-minute>%.6g</per-minute></metronome></direction-type>", qpm);
            if (off > 0) sb(b, "<offset>%lld</offset>", (long long)off);
            sb(b, "<sound tempo=\"%.6g\"/></direction>\n", qpm);
            continue;
        }
        const gm_chord_symbol *c = &w->s->symbols[e->idx];
        sb(b, "<harmony>");
        if (c->root < 0 || c->root > 11 || c->quality < 0 || c->quality >= GM_N_QUALITIES) {
            sb(b, "<root><root-step>C</root-step></root><kind text=\"N.C.\">none</kind>");
        } else {
            sb(b, "<root><root-step>%s</root-step>", rstep[(int)c->root]);
            if (ralter[(int)c->root]) sb(b, "<root-alter>%d</root-alter>", ralter[(int)c->root]);
            sb(b, "</root><kind text=\"%s\">%s</kind>", texts[(int)c->quality], kinds[(int)c->quality]);
            if (c->bass >= 0 && c->bass < 12 && c->bass != c->root) {
                sb(b, "<bass><bass-step>%s</bass-step>", rstep[(int)c->bass]);
                if (ralter[(int)c->bass]) sb(b, "<bass-alter>%d</bass-alter>", ralter[(int)c->bass]);
                sb(b, "</bass>");
            }
        }
        if (off > 0) sb(b, "<offset>%lld</offset>", (long long)off);
        sb(b, "</harmony>\n");
    }
}

/* Rests over [a, z) of voice `voice`, events written before each. */
static void write_rest(sbuf *b, const wpart *w, wevents *ev, int voice, int64_t a, int64_t z, int whole_bar) {
    if (whole_bar) {
        if (ev) write_events(b, w, ev, a, z);
        sb(b, "<note><rest measure=\"yes\"/><duration>%lld</duration><voice>%d</voice></note>\n", (long long)(z - a), voice);
        return;
    }
    const nvalue *v[64];
    int n = split_value(z - a, v, 64);
    for (int k = 0; k < n; k++) {
        if (ev) write_events(b, w, ev, a, a + v[k]->units);
        sb(b, "<note><rest/><duration>%d</duration><voice>%d</voice>", v[k]->units, voice);
        write_value(b, v[k]);
        sb(b, "</note>\n");
        a += v[k]->units;
    }
}

/* A chord group (segments g[0..n-1], same span and ties) as tied values. */
static void write_group(sbuf *b, const wpart *w, wevents *ev, const seg *g, int n, int voice) {
    const nvalue *v[64];
    int nv = split_value(g[0].z - g[0].a, v, 64);
    int64_t a = g[0].a;
    for (int k = 0; k < nv; k++) {
        int stop = k > 0 || g[0].tie_in, start = k < nv - 1 || g[0].tie_out;
        if (ev) write_events(b, w, ev, a, a + v[k]->units);
        for (int i = 0; i < n; i++) {
            sb(b, "<note dynamics=\"%.2f\">%s", g[i].vel * 100.0 / 90.0, i ? "<chord/>" : "");
            write_pitch(b, w, g[i].pitch);
            sb(b, "<duration>%d</duration>", v[k]->units);
            if (stop) sb(b, "<tie type=\"stop\"/>");
            if (start) sb(b, "<tie type=\"start\"/>");
            if (w->t->is_drum) sb(b, "<instrument id=\"P%d-I%d\"/>", w->pid, g[i].pitch + 1);
            sb(b, "<voice>%d</voice>", voice);
            write_value(b, v[k]);
            if (stop || start) {
                sb(b, "<notations>");
                if (stop) sb(b, "<tied type=\"stop\"/>");
                if (start) sb(b, "<tied type=\"start\"/>");
                sb(b, "</notations>");
            }
            sb(b, "</note>\n");
        }
        a += v[k]->units;
    }
}

/* <attributes> at bar `bar` when something changes there (always in bar 0). */
static void write_attributes(sbuf *b, wpart *w, int bar) {
    const wbars *B = w->B;
    const gm_score *s = w->s;
    int time = bar == 0 || (bar == 1 && B->pickup) ? 1
             : !(bar == 1 && B->pickup) && (B->num[bar] != B->num[bar - 1] || B->den[bar] != B->den[bar - 1]);
    if (bar == 1 && B->pickup) time = 0; /* the pickup already showed bar 1's metre */
    int key = -1;
    while (w->first_key < s->n_keysigs && bar_of(B, to_units(s, s->keysigs[w->first_key].tick)) <= bar) key = w->first_key++;
    if (!time && key < 0 && bar) return;
    sb(b, "<attributes>");
    if (bar == 0) sb(b, "<divisions>%d</divisions>", WDIV);
    if (key >= 0 || bar == 0)
        sb(b, "<key><fifths>%d</fifths><mode>%s</mode></key>", key >= 0 ? s->keysigs[key].sharps : 0,
           key >= 0 && s->keysigs[key].minor ? "minor" : "major");
    if (time) {
        int tb = bar == 0 && B->pickup ? 1 : bar;
        sb(b, "<time><beats>%d</beats><beat-type>%d</beat-type></time>", B->num[tb], B->den[tb]);
    }
    if (bar == 0) {
        if (w->t->is_drum) sb(b, "<clef><sign>percussion</sign><line>2</line></clef>");
        else {
            double sum = 0;
            for (size_t i = 0; i < w->t->n_notes; i++) sum += w->t->notes[i].pitch;
            int low = w->t->n_notes && sum / (double)w->t->n_notes < 55;
            sb(b, low ? "<clef><sign>F</sign><line>4</line></clef>" : "<clef><sign>G</sign><line>2</line></clef>");
        }
    }
    sb(b, "</attributes>\n");
}

static int cmp_event(const void *x, const void *y) {
    const wevent *a = x, *b = y;
    if (a->pos != b->pos) return a->pos < b->pos ? -1 : 1;
    if (a->kind != b->kind) return a->kind - b->kind;
    return a->idx - b->idx;
}

/* Tempos and chord symbols as (bar-relative later) events, in time order. */
static int collect_events(const gm_score *s, wevent **out, int *n, char *err) {
    *out = malloc(sizeof **out * (size_t)(s->n_tempos + s->n_symbols + 1));
    if (!*out) return gm_fail(err, "out of memory writing MusicXML");
    int k = 0;
    for (int i = 0; i < s->n_tempos; i++) (*out)[k++] = (wevent){to_units(s, s->tempos[i].tick), 0, i};
    for (int i = 0; i < s->n_symbols; i++) (*out)[k++] = (wevent){to_units(s, s->symbols[i].tick), 1, i};
    qsort(*out, (size_t)k, sizeof **out, cmp_event);
    *n = k;
    return 0;
}

static int write_part(sbuf *b, wpart *w, const wevent *all_ev, int n_ev, char *err) {
    const wbars *B = w->B;
    seg *v = NULL;
    size_t n = 0;
    if (w->t->n_notes && track_segments(w->s, w->t, B, &v, &n, err)) return -1;
    sb(b, "<part id=\"P%d\">\n", w->pid);
    size_t i = 0;
    int e0 = 0;
    for (int bar = 0; bar < B->n; bar++) {
        const int64_t L = B->start[bar + 1] - B->start[bar];
        /* A bar shorter or longer than its time signature says (a lead-in,
         * a bar cut short by a metre change) is marked implicit: readers then
         * take its length from its content, which the rests below fill. */
        int irregular = L != (int64_t)B->num[bar] * 4 * WDIV / B->den[bar];
        if (bar == 0 && B->pickup) sb(b, "<measure number=\"0\" implicit=\"yes\">\n");
        else sb(b, "<measure number=\"%d\"%s>\n", B->pickup ? bar : bar + 1, irregular ? " implicit=\"yes\"" : "");
        write_attributes(b, w, bar);
        /* this bar's events, positions made bar-relative */
        wevent ebuf[256], *eb = ebuf;
        int ne = 0;
        while (e0 < n_ev && all_ev[e0].pos < B->start[bar]) e0++;
        int e1 = e0;
        while (e1 < n_ev && (all_ev[e1].pos < B->start[bar + 1] || bar == B->n - 1)) e1++;
        if (w->events && e1 > e0) {
            if (e1 - e0 > 256 && !(eb = malloc(sizeof *eb * (size_t)(e1 - e0)))) { free(v); return gm_fail(err, "out of memory writing MusicXML"); }
            for (int k = e0; k < e1; k++) {
                eb[ne] = all_ev[k];
                eb[ne].pos -= B->start[bar];
                if (eb[ne].pos >= L) eb[ne].pos = L - 1;
                ne++;
            }
        }
        wevents ev = {eb, ne, 0};
        size_t i0 = i;
        while (i < n && v[i].bar == bar) i++;
        int voices = 0;
        for (size_t k = i0; k < i; k++) voices = v[k].voice > voices ? v[k].voice : voices;
        if (voices == 0) write_rest(b, w, &ev, 1, 0, L, 1);
        for (int vo = 1; vo <= voices; vo++) {
            int64_t cur = 0;
            for (size_t k = i0; k < i;) {
                if (v[k].voice != vo) { k++; continue; }
                size_t g = k + 1;
                while (g < i && v[g].voice == vo && v[g].a == v[k].a && v[g].z == v[k].z && v[g].tie_in == v[k].tie_in &&
                       v[g].tie_out == v[k].tie_out)
                    g++;
                if (v[k].a > cur) write_rest(b, w, vo == 1 ? &ev : NULL, vo, cur, v[k].a, 0);
                write_group(b, w, vo == 1 ? &ev : NULL, v + k, (int)(g - k), vo);
                cur = v[k].z;
                k = g;
            }
            if (cur < L) write_rest(b, w, vo == 1 ? &ev : NULL, vo, cur, L, 0);
            if (vo == 1) write_events(b, w, &ev, L, INT64_MAX); /* any left (at the bar's end) */
            if (vo < voices) sb(b, "<backup><duration>%lld</duration></backup>\n", (long long)L);
        }
        if (eb != ebuf) free(eb);
        sb(b, "</measure>\n");
    }
    sb(b, "</part>\n");
    free(v);
    return 0;
}

/* <score-part>: name, and its instrument(s) with channel and program; a
 * drum part has an instrument per key it plays. */
static void write_score_part(sbuf *b, const gm_track *t, int pid, int channel) {
    sb(b, "<score-part id=\"P%d\"><part-name>", pid);
    sb_text(b, t->name[0] ? t->name : t->is_drum ? "drums" : "part");
    sb(b, "</part-name>\n");
    if (!t->is_drum) {
        sb(b, "<score-instrument id=\"P%d-I1\"><instrument-name>", pid);
        sb_text(b, t->name[0] ? t->name : "part");
        sb(b, "</instrument-name></score-instrument>\n<midi-instrument id=\"P%d-I1\"><midi-channel>%d</midi-channel>"
              "<midi-program>%d</midi-program></midi-instrument>\n", pid, channel + 1, (t->program & 127) + 1);
    } else {
        uint8_t used[128] = {0};
        for (size_t i = 0; i < t->n_notes; i++) used[t->notes[i].pitch & 127] = 1;
        for (int k = 0; k < 128; k++)
            if (used[k]) sb(b, "<score-instrument id=\"P%d-I%d\"><instrument-name>Drum %d</instrument-name></score-instrument>\n", pid, k + 1, k);
        for (int k = 0; k < 128; k++)
            if (used[k])
                sb(b, "<midi-instrument id=\"P%d-I%d\"><midi-channel>10</midi-channel><midi-program>1</midi-program>"
                      "<midi-unpitched>%d</midi-unpitched></midi-instrument>\n", pid, k + 1, k + 1);
    }
    sb(b, "</score-part>\n");
}

int gm_musicxml_write_mem(const gm_score *s, uint8_t **out_data, size_t *out_size, char *err) {
    *out_data = NULL;
    *out_size = 0;
    if (!s || s->ticks_per_quarter < 1) return gm_fail(err, "MusicXML: no score to write");
    wbars B;
    if (build_bars(s, &B, err)) return -1;
    wevent *ev = NULL;
    int n_ev = 0;
    if (collect_events(s, &ev, &n_ev, err)) { wbars_free(&B); return -1; }
    sbuf b = {0};
    sb(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
           "<!DOCTYPE score-partwise PUBLIC \"-//Recordare//DTD MusicXML 3.1 Partwise//EN\" "
           "\"http://www.musicxml.org/dtds/partwise.dtd\">\n<score-partwise version=\"3.1\">\n"
           "<identification><encoding><software>getmusic " GM_VERSION "</software></encoding></identification>\n"
           "<part-list>\n");
    static const gm_track none = {.name = "part"};
    const int nt = s->n_tracks > 0 ? s->n_tracks : 1;
    int events_part = 0; /* the first pitched part carries tempo and chords */
    while (events_part < s->n_tracks && s->tracks[events_part].is_drum) events_part++;
    if (events_part >= nt) events_part = 0;
    for (int i = 0; i < nt; i++) {
        const gm_track *t = s->n_tracks ? &s->tracks[i] : &none;
        write_score_part(&b, t, i + 1, t->is_drum ? 9 : t->channel & 15);
    }
    sb(&b, "</part-list>\n");
    int flats = s->n_keysigs && s->keysigs[0].sharps < 0;
    int rc = 0;
    for (int i = 0; i < nt && !rc; i++) {
        wpart w = {s, &B, flats, i + 1, s->n_tracks ? &s->tracks[i] : &none, i == events_part, 0};
        rc = write_part(&b, &w, ev, n_ev, err);
    }
    sb(&b, "</score-partwise>\n");
    free(ev);
    wbars_free(&B);
    if (!rc && b.oom) rc = gm_fail(err, "out of memory writing MusicXML");
    if (rc) { free(b.d); return -1; }
    *out_data = (uint8_t *)b.d;
    *out_size = b.n;
    return 0;
}

#ifndef GM_NO_MUSICXML
#include <zip.h>

/* .mxl: the score as score.musicxml, a container naming it, and the
 * mimetype entry first and stored, as the format asks. */
static int zip_mxl(const uint8_t *xml, size_t n, uint8_t **out, size_t *out_n, char *err) {
    static const char mimetype[] = "application/vnd.recordare.musicxml";
    static const char container[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<container><rootfiles>"
        "<rootfile full-path=\"score.musicxml\" media-type=\"application/vnd.recordare.musicxml+xml\"/>"
        "</rootfiles></container>\n";
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *z = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    if (!z) {
        if (src) zip_source_free(src);
        zip_error_fini(&ze);
        return gm_fail(err, "cannot make a zip archive");
    }
    zip_source_keep(src); /* read it back after closing the archive */
    zip_source_t *a = zip_source_buffer(z, mimetype, sizeof mimetype - 1, 0);
    zip_source_t *c = zip_source_buffer(z, container, sizeof container - 1, 0);
    zip_source_t *x = zip_source_buffer(z, xml, n, 0);
    zip_int64_t ia = a ? zip_file_add(z, "mimetype", a, 0) : -1;
    int bad = ia < 0 || zip_set_file_compression(z, (zip_uint64_t)ia, ZIP_CM_STORE, 0) ||
              !c || zip_file_add(z, "META-INF/container.xml", c, 0) < 0 || !x || zip_file_add(z, "score.musicxml", x, 0) < 0;
    if (bad || zip_close(z)) {
        if (bad) zip_discard(z);
        zip_source_free(src);
        zip_error_fini(&ze);
        return gm_fail(err, "cannot make a zip archive");
    }
    zip_stat_t st;
    int rc = -1;
    if (zip_source_stat(src, &st) == 0 && zip_source_open(src) == 0) {
        *out = malloc(st.size ? st.size : 1);
        if (*out && zip_source_read(src, *out, st.size) == (zip_int64_t)st.size) *out_n = st.size, rc = 0;
        zip_source_close(src);
        if (rc) free(*out), *out = NULL;
    }
    zip_source_free(src);
    zip_error_fini(&ze);
    return rc ? gm_fail(err, "cannot make a zip archive") : 0;
}
#endif

int gm_musicxml_write_file(const char *path, const gm_score *s, char *err) {
    uint8_t *data = NULL, *zipped = NULL;
    size_t size = 0;
    if (gm_musicxml_write_mem(s, &data, &size, err)) return -1;
    const char *dot = strrchr(path, '.');
    if (dot && !strcasecmp(dot, ".mxl")) {
#ifdef GM_NO_MUSICXML
        free(data);
        return gm_fail(err, "compressed MusicXML (.mxl) needs libzip, which was not built in");
#else
        int bad = zip_mxl(data, size, &zipped, &size, err);
        free(data);
        if (bad) return -1;
        data = zipped;
#endif
    }
    int rc = gm_atomic_write(path, data, size, err);
    free(data);
    return rc;
}
