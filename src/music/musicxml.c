/*
 * musicxml.c — MusicXML in (libxml2; compressed .mxl through libzip) into the
 * gm_score the MIDI reader makes. The writer is in musicxml_write.c; files
 * read whole and told apart by content or name are score_file.c's.
 *
 * Reading, in three walks over the parsed tree:
 *   1. the part list: each part's name, MIDI program and channel, and its
 *      instruments' midi-unpitched keys (a percussion part's drum keys);
 *   2. the bar grid from the first part in document order: each measure's
 *      length (its time signature's, or its content's when it is a pickup
 *      (implicit="yes") or overfull), repeat barlines and volta endings,
 *      played out into the order the bars sound in (expand_repeats);
 *   3. every part's measures in that order: notes at the cursor that
 *      <duration>, <backup> and <forward> move (voices and staves merge
 *      into the part's track), <chord/> notes at the previous onset, tied
 *      notes merged, grace and cue notes skipped, tempo and harmony at
 *      their place.
 * A bar whose length is not its time signature's (a pickup) gets a time
 * signature of its own length (1/4, 3/8, ...) so the bar grid stays right.
 * Ticks: ticks_per_quarter is a multiple of every <divisions> in the file
 * (at least 480), so durations, tuplets included, are exact.
 */
#include "getmusic.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MXL_MAX_BYTES GM_SCORE_FILE_MAX_BYTES /* XML text, also after unzipping */
#define MXL_MAX_BARS 100000                /* bars after repeats are played out */
#define MXL_MAX_QUARTERS ((int64_t)1 << 20) /* the music ends before this many quarters */
#define MXL_MAX_PARTS 1024
#define MXL_MAX_INSTRUMENTS 256            /* per part */
#define MXL_MAX_TIMES 16                   /* a repeat played more often than this is refused */
#define TIES 8                             /* ties of one pitch open at once (voices of a part) */

#ifdef GM_NO_MUSICXML
int gm_musicxml_read_mem(const uint8_t *data, size_t size, gm_score *out, char *err) {
    (void)data, (void)size;
    memset(out, 0, sizeof *out);
    return gm_fail(err, "MusicXML support was not built (install libxml2-dev and libzip-dev, then rebuild)");
}
#else

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <zip.h>

/* ======================================================================== */
/* Tree helpers                                                              */
/* ======================================================================== */

static int is_el(const xmlNode *n, const char *name) {
    return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static xmlNode *child_el(const xmlNode *n, const char *name) {
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (is_el(c, name)) return c;
    return NULL;
}

/* The element's text (its text children, blanks trimmed) into buf; "" when
 * there is none. Returns buf. */
static char *el_text(const xmlNode *n, char *buf, size_t size) {
    size_t k = 0;
    buf[0] = 0;
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next) {
        if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) continue;
        for (const char *p = (const char *)c->content; p && *p && k + 1 < size; p++) buf[k++] = *p;
    }
    buf[k] = 0;
    char *a = buf;
    while (*a == ' ' || *a == '\t' || *a == '\r' || *a == '\n') a++;
    size_t len = strlen(a);
    while (len && (a[len - 1] == ' ' || a[len - 1] == '\t' || a[len - 1] == '\r' || a[len - 1] == '\n')) len--;
    memmove(buf, a, len);
    buf[len] = 0;
    return buf;
}

static char *child_text(const xmlNode *n, const char *name, char *buf, size_t size) {
    xmlNode *c = child_el(n, name);
    if (!c) { buf[0] = 0; return buf; }
    return el_text(c, buf, size);
}

/* A whole-string finite number; 0 when it is one, -1 otherwise. */
static int parse_num(const char *s, double *v) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (!*s || end == s || *end || errno || !isfinite(x)) return -1;
    *v = x;
    return 0;
}

/* The number in child `name`: 1 found and valid, 0 absent, -1 not a number. */
static int child_num(const xmlNode *n, const char *name, double *v) {
    xmlNode *c = child_el(n, name);
    if (!c) return 0;
    char buf[64];
    return parse_num(el_text(c, buf, sizeof buf), v) ? -1 : 1;
}

static char *attr(const xmlNode *n, const char *name, char *buf, size_t size) {
    buf[0] = 0;
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    if (v) {
        gm_strlcpy(buf, (const char *)v, size);
        xmlFree(v);
    }
    return buf;
}

/* ======================================================================== */
/* Reader state                                                              */
/* ======================================================================== */

typedef struct { char id[64]; int unpitched, program, channel; } instrument;

typedef struct {
    xmlNode *content;   /* holds the measure's notes (partwise: the <measure>) */
    xmlNode *measure;   /* the <measure> (its number, implicit) */
} mnode;

typedef struct {
    char id[64], name[64];
    int program, channel;       /* 0-based; -1 when not given */
    int drums;                  /* percussion: midi-unpitched, channel 10 or <unpitched> notes */
    instrument *inst;
    int n_inst;
    mnode *m;
    int n_m;
    size_t cap_m;
} part_rec;

/* A measure of the first part: where it stands in the grid. */
typedef struct {
    int64_t len;                /* ticks */
    int num, den;               /* the bar's time signature: the declared one, or one of its real
                                   length (a pickup: 1/4) */
    int fwd, bwd, times;        /* repeat barlines; times the section is played */
    int ending_start, ending_stop; /* a volta begins / ends in this measure */
    uint32_t ending_mask;       /* passes (bit k = pass k) the volta that starts here takes */
} mlayout;

typedef struct {
    gm_score *s;
    char *err;
    int64_t tpq;
    part_rec *parts;
    int n_parts;
    mlayout *lay;               /* [parts[0].n_m] */
    int *order;                 /* bars as played: measure indices */
    int n_order;
    int64_t *bar_start;         /* [n_order + 1] */
    gm_chord_symbol *sym;       /* harmonies of every part, sorted at the end */
    int n_sym;
    size_t cap_sym;
    /* one part being read */
    double divisions;
    int transpose;              /* semitones to concert pitch */
    int num, den;               /* time signature */
    int key_fifths, key_minor;  /* last key written, so repeats add none */
    const part_rec *part;
    int track;                  /* its gm_track, -1 in the layout walk */
    int64_t tie_open[128][TIES]; /* note indices of open ties per pitch, -1 = free slot */
    int64_t chord_onset;        /* onset of the last note, for <chord/> */
    int first_part;             /* the part giving tempo-free things: key, metre */
    char where[96];             /* "part P1, measure 3" for messages */
} rd;

static int oom(rd *r) { return gm_fail(r->err, "out of memory reading MusicXML"); }

/* ======================================================================== */
/* Part list and parts                                                       */
/* ======================================================================== */

static part_rec *find_part(rd *r, const char *id) {
    for (int i = 0; i < r->n_parts; i++)
        if (!strcmp(r->parts[i].id, id)) return &r->parts[i];
    return NULL;
}

static part_rec *add_part(rd *r, const char *id) {
    if (r->n_parts >= MXL_MAX_PARTS) { gm_fail(r->err, "more than %d parts", MXL_MAX_PARTS); return NULL; }
    part_rec *v = realloc(r->parts, (size_t)(r->n_parts + 1) * sizeof *v);
    if (!v) { oom(r); return NULL; }
    r->parts = v;
    part_rec *p = &v[r->n_parts++];
    memset(p, 0, sizeof *p);
    gm_strlcpy(p->id, id, sizeof p->id);
    p->program = p->channel = -1;
    return p;
}

/* <midi-instrument id=...>: channel, program, unpitched key (all 1-based). */
static int read_midi_instrument(rd *r, part_rec *p, const xmlNode *mi) {
    char id[64];
    attr(mi, "id", id, sizeof id);
    instrument *in = NULL;
    for (int i = 0; i < p->n_inst && !in; i++)
        if (!strcmp(p->inst[i].id, id)) in = &p->inst[i];
    if (!in) {
        if (p->n_inst >= MXL_MAX_INSTRUMENTS) return gm_fail(r->err, "part %s: more than %d instruments", p->id, MXL_MAX_INSTRUMENTS);
        instrument *v = realloc(p->inst, (size_t)(p->n_inst + 1) * sizeof *v);
        if (!v) return oom(r);
        p->inst = v;
        in = &v[p->n_inst++];
        memset(in, 0, sizeof *in);
        gm_strlcpy(in->id, id, sizeof in->id);
        in->unpitched = in->program = in->channel = -1;
    }
    double v;
    if (child_num(mi, "midi-channel", &v) > 0 && v >= 1 && v <= 16) in->channel = (int)v - 1;
    if (child_num(mi, "midi-program", &v) > 0 && v >= 1 && v <= 128) in->program = (int)v - 1;
    if (child_num(mi, "midi-unpitched", &v) > 0 && v >= 1 && v <= 128) in->unpitched = (int)v - 1;
    if (p->channel < 0 && in->channel >= 0) p->channel = in->channel;
    if (p->program < 0 && in->program >= 0) p->program = in->program;
    if (in->unpitched >= 0 || in->channel == 9) p->drums = 1;
    return 0;
}

static int read_part_list(rd *r, const xmlNode *root) {
    const xmlNode *pl = child_el(root, "part-list");
    if (!pl) return gm_fail(r->err, "no <part-list>: not a MusicXML score");
    for (xmlNode *sp = pl->children; sp; sp = sp->next) {
        if (!is_el(sp, "score-part")) continue;
        char id[64];
        if (!attr(sp, "id", id, sizeof id)[0]) return gm_fail(r->err, "a <score-part> without an id");
        if (find_part(r, id)) return gm_fail(r->err, "two parts with the id '%s'", id);
        part_rec *p = add_part(r, id);
        if (!p) return -1;
        child_text(sp, "part-name", p->name, sizeof p->name);
        if (!p->name[0]) child_text(sp, "part-abbreviation", p->name, sizeof p->name);
        xmlNode *si = child_el(sp, "score-instrument");
        if (!p->name[0] && si) child_text(si, "instrument-name", p->name, sizeof p->name);
        for (xmlNode *mi = sp->children; mi; mi = mi->next)
            if (is_el(mi, "midi-instrument") && read_midi_instrument(r, p, mi)) return -1;
    }
    if (!r->n_parts) return gm_fail(r->err, "the part list names no part");
    return 0;
}

static int add_measure(rd *r, part_rec *p, xmlNode *content, xmlNode *measure) {
    if (p->n_m >= MXL_MAX_BARS) return gm_fail(r->err, "part %s: more than %d measures", p->id, MXL_MAX_BARS);
    if (gm_grow(&p->m, &p->cap_m, p->n_m, sizeof *p->m, 64)) return oom(r);
    p->m[p->n_m++] = (mnode){content, measure};
    return 0;
}

/* Each part's measures: partwise <part><measure>, timewise <measure><part>. */
static int collect_measures(rd *r, const xmlNode *root, int timewise) {
    char id[64];
    for (xmlNode *a = root->children; a; a = a->next) {
        if (!is_el(a, timewise ? "measure" : "part")) continue;
        for (xmlNode *b = a->children; b; b = b->next) {
            if (!is_el(b, timewise ? "part" : "measure")) continue;
            attr(timewise ? b : a, "id", id, sizeof id);
            part_rec *p = find_part(r, id);
            if (!p && !(p = add_part(r, id))) return -1; /* a part the list forgot */
            if (add_measure(r, p, b, timewise ? a : b)) return -1;
        }
    }
    for (int i = 0; i < r->n_parts; i++)
        if (r->parts[i].n_m) return 0;
    return gm_fail(r->err, "the score has no measures");
}

/* ======================================================================== */
/* Ticks                                                                     */
/* ======================================================================== */

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) { int64_t t = a % b; a = b; b = t; }
    return a;
}

/* Ticks per quarter: a multiple of every whole <divisions> value, at least
 * 480, within MIDI's 32767; 480 (durations rounded) when none fits. */
static void choose_tpq(rd *r, const xmlNode *n, int64_t *l, int depth) {
    for (const xmlNode *c = n->children; c && depth < 64; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (is_el(c, "divisions")) {
            char buf[64];
            double v;
            if (!parse_num(el_text(c, buf, sizeof buf), &v) && v >= 1 && v <= 32767 && v == floor(v) && *l > 0) {
                int64_t d = (int64_t)v;
                *l = *l / gcd64(*l, d) * d;
                if (*l > 32767) *l = 0; /* no common multiple fits */
            }
        } else if (is_el(c, "part") || is_el(c, "measure") || is_el(c, "attributes")) {
            choose_tpq(r, c, l, depth + 1);
        }
    }
}

/* A <duration> (or <backup>/<forward> length) in ticks; -1 with err when it
 * is missing, negative or absurd. */
static int64_t duration_ticks(rd *r, const xmlNode *n, int required) {
    double d;
    int k = child_num(n, "duration", &d);
    if (k == 0 && !required) return 0;
    if (k == 0) { gm_fail(r->err, "%s: a <%s> without a <duration>", r->where, (const char *)n->name); return -1; }
    if (k < 0 || d < 0) { gm_fail(r->err, "%s: <duration> is not a number >= 0", r->where); return -1; }
    if (!(r->divisions > 0)) { gm_fail(r->err, "%s: a duration before <divisions> is set", r->where); return -1; }
    double t = d * (double)r->tpq / r->divisions;
    if (t > (double)(MXL_MAX_QUARTERS * r->tpq)) {
        gm_fail(r->err, "%s: a duration of %.0f quarter notes", r->where, d / r->divisions);
        return -1;
    }
    return (int64_t)llround(t);
}

/* ======================================================================== */
/* Attributes, directions, harmony                                           */
/* ======================================================================== */

static int read_attributes(rd *r, const xmlNode *a, int64_t at, int emit) {
    double v;
    int k = child_num(a, "divisions", &v);
    if (k < 0 || (k > 0 && !(v > 0 && v <= 1e7)))
        return gm_fail(r->err, "%s: <divisions> must be a number above 0", r->where);
    if (k > 0) r->divisions = v;
    xmlNode *t = child_el(a, "time");
    if (t && !child_el(t, "senza-misura")) {
        char beats[64], bt[64];
        child_text(t, "beats", beats, sizeof beats);
        child_text(t, "beat-type", bt, sizeof bt);
        double num = 0, den;
        /* composite beats "3+2" add up */
        char *save = NULL;
        for (char *q = strtok_r(beats, "+", &save); q; q = strtok_r(NULL, "+", &save)) {
            double x;
            if (parse_num(q, &x) || x < 1 || x > 255) return gm_fail(r->err, "%s: time signature beats '%s' out of 1..255", r->where, beats);
            num += x;
        }
        if (num < 1 || num > 255 || num != floor(num)) return gm_fail(r->err, "%s: time signature of %g beats (1..255)", r->where, num);
        if (parse_num(bt, &den) || !(den == 1 || den == 2 || den == 4 || den == 8 || den == 16 || den == 32))
            return gm_fail(r->err, "%s: time signature beat type '%s' (want 1, 2, 4, 8, 16 or 32)", r->where, bt);
        r->num = (int)num, r->den = (int)den;
    }
    xmlNode *tr = child_el(a, "transpose");
    if (tr) {
        double c = 0, o = 0;
        if (child_num(tr, "chromatic", &c) < 0 || child_num(tr, "octave-change", &o) < 0 || fabs(c) > 48 || fabs(o) > 4)
            return gm_fail(r->err, "%s: a <transpose> out of range", r->where);
        r->transpose = (int)lround(c) + 12 * (int)lround(o);
    }
    xmlNode *key = child_el(a, "key");
    if (key && emit && r->part == &r->parts[r->first_part]) {
        double f;
        char mode[32];
        if (child_num(key, "fifths", &f) > 0 && fabs(f) <= 14) {
            int fifths = (int)lround(f) + 7 * r->transpose; /* written → concert */
            while (fifths > 7) fifths -= 12;
            while (fifths < -7) fifths += 12;
            int minor = !strcmp(child_text(key, "mode", mode, sizeof mode), "minor");
            if (fifths != r->key_fifths || minor != r->key_minor) {
                if (gm_score_add_keysig(r->s, at, fifths, minor)) return oom(r);
                r->key_fifths = fifths, r->key_minor = minor;
            }
        }
    }
    return 0;
}

static int add_tempo(rd *r, int64_t at, double qpm) {
    if (!(qpm >= 1 && qpm <= 2000)) return 0; /* a tempo no one plays: ignored */
    if (gm_score_add_tempo(r->s, at, (uint32_t)lround(60e6 / qpm))) return oom(r);
    return 0;
}

/* <metronome>: beat-unit (+ dots) = per-minute, as quarters per minute. */
static double metronome_qpm(const xmlNode *m) {
    static const struct { const char *unit; double q; } units[] = {
        {"whole", 4}, {"half", 2}, {"quarter", 1}, {"eighth", 0.5}, {"16th", 0.25}, {"32nd", 0.125}, {"breve", 8}};
    char unit[32], pm[64];
    child_text(m, "beat-unit", unit, sizeof unit);
    double q = 0, bpm;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (!strcmp(unit, units[i].unit)) q = units[i].q;
    double dot = q / 2;
    for (xmlNode *c = m->children; c; c = c->next)
        if (is_el(c, "beat-unit-dot")) q += dot, dot /= 2;
    if (q <= 0 || parse_num(child_text(m, "per-minute", pm, sizeof pm), &bpm)) return 0;
    return bpm * q;
}

/* A <direction>: tempo from <sound tempo>, else from a <metronome>. */
static int read_direction(rd *r, const xmlNode *d, int64_t at) {
    double off;
    if (child_num(d, "offset", &off) > 0 && r->divisions > 0 && fabs(off) < 1e6 * r->divisions)
        at += (int64_t)llround(off * (double)r->tpq / r->divisions);
    if (at < 0) at = 0;
    xmlNode *snd = child_el(d, "sound");
    char buf[64];
    double qpm;
    if (snd && !parse_num(attr(snd, "tempo", buf, sizeof buf), &qpm)) return add_tempo(r, at, qpm);
    for (xmlNode *dt = d->children; dt; dt = dt->next) {
        if (!is_el(dt, "direction-type")) continue;
        xmlNode *m = child_el(dt, "metronome");
        if (m && (qpm = metronome_qpm(m)) > 0) return add_tempo(r, at, qpm);
    }
    return 0;
}

static int step_pc(const char *step) {
    static const int pc[7] = {9, 11, 0, 2, 4, 5, 7}; /* A..G */
    return step[0] >= 'A' && step[0] <= 'G' && !step[1] ? pc[step[0] - 'A'] : -1;
}

/* <root>/<bass> with its -step and -alter: a pitch class, -1 with err. */
static int harmony_pc(rd *r, const xmlNode *n, const char *prefix) {
    char name[32], step[16];
    double alter = 0;
    snprintf(name, sizeof name, "%s-step", prefix);
    int pc = step_pc(child_text(n, name, step, sizeof step));
    if (pc < 0) return gm_fail(r->err, "%s: harmony %s '%s' is not a step A-G", r->where, prefix, step);
    snprintf(name, sizeof name, "%s-alter", prefix);
    if (child_num(n, name, &alter) < 0 || fabs(alter) > 12) return gm_fail(r->err, "%s: bad <%s>", r->where, name);
    return ((pc + (int)lround(alter) + r->transpose) % 12 + 24) % 12;
}

/* Semitones of a chord degree (1, 3, 5, 7, 9, 11, 13) above the root in a
 * dominant chord, as MusicXML's <degree-alter> of an added degree counts. */
static int degree_semitones(int d) {
    static const int base[8] = {0, 0, 2, 4, 5, 7, 9, 10}; /* 1..7 */
    if (d < 1 || d > 13) return -1;
    return d <= 7 ? base[d] : base[d - 7];
}

/* <degree>s: add, alter or subtract tones of the kind's chord. */
static int apply_degrees(rd *r, const xmlNode *h, uint16_t *tones) {
    for (xmlNode *g = h->children; g; g = g->next) {
        if (!is_el(g, "degree")) continue;
        double v, alter = 0;
        char type[32];
        if (child_num(g, "degree-value", &v) <= 0 || child_num(g, "degree-alter", &alter) < 0 || fabs(alter) > 2 ||
            !(v >= 1 && v <= 13) || v != floor(v))
            return gm_fail(r->err, "%s: a harmony <degree> out of range", r->where);
        int base = degree_semitones((int)v), a = (int)lround(alter);
        child_text(g, "degree-type", type, sizeof type);
        if (strcmp(type, "add")) {
            /* the kind's own tone for this degree: within a semitone of it */
            int had = -1;
            for (int dx = 0; dx <= 1 && had < 0; dx++)
                for (int sgn = -1; sgn <= 1 && had < 0; sgn += 2)
                    if (*tones >> ((base + sgn * dx + 12) % 12) & 1) had = (base + sgn * dx + 12) % 12;
            if (had < 0) continue;
            *tones &= (uint16_t)~(1u << had);
            if (!strcmp(type, "alter")) *tones |= (uint16_t)(1u << ((had + a + 12) % 12));
        } else {
            *tones |= (uint16_t)(1u << ((base + a + 12) % 12));
        }
    }
    return 0;
}

static int push_symbol(rd *r, const gm_chord_symbol *c) {
    if (r->n_sym >= MXL_MAX_BARS * 4) return 0; /* more than 4 a bar of 100,000 bars: ignore the rest */
    if (gm_grow(&r->sym, &r->cap_sym, r->n_sym, sizeof *r->sym, 64)) return oom(r);
    r->sym[r->n_sym++] = *c;
    return 0;
}

/* A <harmony>: root, kind, degrees, bass → a chord symbol at its place. */
static int read_harmony(rd *r, const xmlNode *h, int64_t at) {
    static const char *pcs[12] = {"C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"};
    double off;
    if (child_num(h, "offset", &off) > 0 && r->divisions > 0 && fabs(off) < 1e6 * r->divisions)
        at += (int64_t)llround(off * (double)r->tpq / r->divisions);
    if (at < 0) at = 0;
    xmlNode *root = child_el(h, "root"), *kind_el = child_el(h, "kind"), *bass = child_el(h, "bass");
    char kind[64];
    el_text(kind_el, kind, sizeof kind);
    if (!kind_el) return gm_fail(r->err, "%s: a <harmony> without a <kind>", r->where);
    uint16_t tones;
    if (gm_chord_kind_tones(kind, &tones)) return gm_fail(r->err, "%s: unknown harmony kind '%s'", r->where, kind);
    if (!root) return 0; /* a roman numeral or function: no root to give */
    int pc = harmony_pc(r, root, "root");
    int b = bass ? harmony_pc(r, bass, "bass") : -1;
    if (pc < 0 || (bass && b < 0)) return -1;
    if (apply_degrees(r, h, &tones)) return -1;
    gm_chord_symbol c = {at, -1, -1, -1, GM_SYMBOL_MUSICXML, "N.C."};
    if (tones) { /* kind "none" is no chord */
        char name[16];
        c.root = (int8_t)pc;
        c.quality = (int8_t)gm_chord_quality_nearest(tones);
        c.bass = (int8_t)b;
        gm_chord_name((gm_chord){c.root, c.quality}, name, sizeof name);
        snprintf(c.text, sizeof c.text, "%s%s%s", name, b >= 0 ? "/" : "", b >= 0 ? pcs[b] : "");
    }
    return push_symbol(r, &c);
}

/* ======================================================================== */
/* Notes                                                                     */
/* ======================================================================== */

/* The pitch of a <note>: MIDI key at concert pitch, a drum key for an
 * unpitched note; -1 for a rest, -2 with err. */
static int note_pitch(rd *r, const xmlNode *n) {
    if (child_el(n, "rest")) return -1;
    xmlNode *p = child_el(n, "pitch"), *u = child_el(n, "unpitched");
    char step[16], buf[64];
    double oct, alter = 0;
    if (u) {
        xmlNode *ins = child_el(n, "instrument");
        if (ins) {
            attr(ins, "id", buf, sizeof buf);
            for (int i = 0; i < r->part->n_inst; i++)
                if (!strcmp(r->part->inst[i].id, buf) && r->part->inst[i].unpitched >= 0) return r->part->inst[i].unpitched;
        }
        for (int i = 0; i < r->part->n_inst; i++) /* a kit of one sound */
            if (r->part->n_inst == 1 && r->part->inst[i].unpitched >= 0) return r->part->inst[i].unpitched;
        int pc = step_pc(child_text(u, "display-step", step, sizeof step));
        if (pc < 0 || child_num(u, "display-octave", &oct) <= 0 || oct < 0 || oct > 9)
            return gm_fail(r->err, "%s: an unpitched note with no instrument key or display position", r->where), -2;
        return (int)(oct + 1) * 12 + pc;
    }
    if (!p) return gm_fail(r->err, "%s: a note with neither <pitch>, <unpitched> nor <rest>", r->where), -2;
    int pc = step_pc(child_text(p, "step", step, sizeof step));
    if (pc < 0) return gm_fail(r->err, "%s: note step '%s' is not A-G", r->where, step), -2;
    if (child_num(p, "octave", &oct) <= 0 || oct < 0 || oct > 9 || oct != floor(oct))
        return gm_fail(r->err, "%s: note octave missing or out of 0..9", r->where), -2;
    if (child_num(p, "alter", &alter) < 0 || fabs(alter) > 12)
        return gm_fail(r->err, "%s: note <alter> out of -12..12", r->where), -2;
    int key = (int)(oct + 1) * 12 + pc + (int)lround(alter) + (r->part->drums ? 0 : r->transpose);
    if (key < 0 || key > 127) return gm_fail(r->err, "%s: note %s%g is outside MIDI's range", r->where, step, oct), -2;
    return key;
}

/* Tie marks of a note: bit 0 = a tie ends here, bit 1 = one starts. The
 * sounding <tie> first; the notated <tied> when there is no <tie>. */
static int note_ties(const xmlNode *n) {
    int t = 0, any = 0;
    char type[32];
    for (xmlNode *c = n->children; c; c = c->next)
        if (is_el(c, "tie")) {
            any = 1;
            attr(c, "type", type, sizeof type);
            t |= !strcmp(type, "stop") ? 1 : !strcmp(type, "start") ? 2 : 0;
        }
    if (any) return t;
    for (xmlNode *no = n->children; no; no = no->next) {
        if (!is_el(no, "notations")) continue;
        for (xmlNode *c = no->children; c; c = c->next)
            if (is_el(c, "tied")) {
                attr(c, "type", type, sizeof type);
                t |= !strcmp(type, "stop") ? 1 : !strcmp(type, "start") ? 2 : !strcmp(type, "continue") ? 3 : 0;
            }
    }
    return t;
}

/* A sounding note into the part's track; a tie continuing an open note of
 * the same pitch that ends where this one starts lengthens it instead. */
static int emit_note(rd *r, const xmlNode *n, int64_t onset, int64_t dur, int key) {
    gm_track *t = &r->s->tracks[r->track];
    int ties = note_ties(n);
    /* Voices are written one after another, so a tie's end may come after
     * another voice has started (and tied) the same pitch: a pitch holds
     * several open ties, and a tie's end takes the one ending where it starts. */
    int64_t *open = r->tie_open[key];
    for (int k = 0; k < TIES && (ties & 1); k++) {
        if (open[k] < 0) continue;
        gm_note *o = &t->notes[open[k]];
        if (llabs(o->tick + o->duration - onset) <= r->tpq / 16) {
            o->duration = onset + dur - o->tick;
            if (o->duration < 1) o->duration = 1;
            if (!(ties & 2)) open[k] = -1;
            return 0;
        }
    }
    char buf[32];
    double dyn;
    int vel = 80;
    if (!parse_num(attr(n, "dynamics", buf, sizeof buf), &dyn) && dyn >= 0 && dyn < 1000) vel = (int)lround(dyn * 0.9);
    if (gm_track_add_note(t, onset, dur, key, vel, t->channel)) return oom(r);
    if (ties & 2) { /* a free slot, else the oldest */
        int k = 0, oldest = 0;
        while (k < TIES && open[k] >= 0) k++;
        for (int i = 1; k == TIES && i < TIES; i++)
            if (open[i] < open[oldest]) oldest = i;
        open[k < TIES ? k : oldest] = (int64_t)t->n_notes - 1;
    }
    return 0;
}

/* A <note>: moves the cursor (unless a chord tone or a grace note) and, in
 * the notes walk, sounds. */
static int read_note(rd *r, const xmlNode *n, int64_t *cursor, int emit) {
    if (child_el(n, "grace")) return 0; /* no time of its own: skipped */
    int64_t dur = duration_ticks(r, n, 1);
    if (dur < 0) return -1;
    int64_t onset = child_el(n, "chord") ? r->chord_onset : *cursor;
    if (!child_el(n, "chord")) *cursor += dur;
    r->chord_onset = onset;
    if (!emit || child_el(n, "cue")) return 0;
    int key = note_pitch(r, n);
    if (key == -2) return -1;
    if (key < 0 || dur == 0) return 0;
    return emit_note(r, n, onset, dur, key);
}

/* ======================================================================== */
/* Measures                                                                  */
/* ======================================================================== */

static void set_where(rd *r, const part_rec *p, const mnode *m) {
    char num[24];
    attr(m->measure, "number", num, sizeof num);
    snprintf(r->where, sizeof r->where, "part %.30s, measure %.20s", p->id, num[0] ? num : "?");
}

/* One measure's content from tick `start`: attributes, notes, backup and
 * forward, directions, harmony. *len gets how far its music reaches. */
static int read_measure(rd *r, const mnode *m, int64_t start, int emit, int64_t *len) {
    int64_t cur = start, far = start;
    const int64_t limit = MXL_MAX_QUARTERS * r->tpq;
    char buf[64];
    double qpm;
    for (xmlNode *c = m->content->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        int rc = 0;
        if (is_el(c, "attributes")) rc = read_attributes(r, c, cur, emit);
        else if (is_el(c, "note")) rc = read_note(r, c, &cur, emit);
        else if (is_el(c, "backup") || is_el(c, "forward")) {
            int64_t d = duration_ticks(r, c, 1);
            if (d < 0) return -1;
            cur += is_el(c, "forward") ? d : -d;
            if (cur < start) cur = start; /* backing up out of the measure: to its start */
        } else if (emit && is_el(c, "direction")) rc = read_direction(r, c, cur);
        else if (emit && is_el(c, "sound") && !parse_num(attr(c, "tempo", buf, sizeof buf), &qpm)) rc = add_tempo(r, cur, qpm);
        else if (emit && is_el(c, "harmony")) rc = read_harmony(r, c, cur);
        if (rc) return -1;
        if (cur > far) far = cur;
        if (far > limit) return gm_fail(r->err, "%s: the music runs past %lld quarter notes", r->where, (long long)MXL_MAX_QUARTERS);
    }
    *len = far - start;
    return 0;
}

/* Volta numbers "1", "1, 2", "1-3" as a mask of passes. */
static uint32_t ending_mask(const char *s) {
    uint32_t mask = 0;
    for (const char *p = s; *p;) {
        char *end;
        long a = strtol(p, &end, 10);
        if (end == p) { p++; continue; }
        long b = a;
        if (*end == '-') b = strtol(end + 1, &end, 10);
        for (long k = a; k <= b && k >= 1 && k < 32; k++) mask |= 1u << k;
        p = end;
    }
    return mask;
}

/* Repeat barlines and voltas of a measure into its layout. */
static void read_barlines(const mnode *m, mlayout *L) {
    char buf[64];
    for (xmlNode *b = m->content->children; b; b = b->next) {
        if (!is_el(b, "barline")) continue;
        xmlNode *rep = child_el(b, "repeat"), *end = child_el(b, "ending");
        if (rep) {
            attr(rep, "direction", buf, sizeof buf);
            if (!strcmp(buf, "forward")) L->fwd = 1;
            if (!strcmp(buf, "backward")) {
                double t;
                L->bwd = 1;
                L->times = !parse_num(attr(rep, "times", buf, sizeof buf), &t) && t >= 1 ? (int)fmin(t, 1000) : 2;
            }
        }
        if (end) {
            attr(end, "type", buf, sizeof buf);
            if (!strcmp(buf, "start")) L->ending_start = 1, L->ending_mask = ending_mask(attr(end, "number", buf, sizeof buf));
            else L->ending_stop = 1; /* stop, discontinue */
        }
    }
}

/* Bar length from a time signature, in ticks. */
static int64_t sig_ticks(const rd *r, int num, int den) { return (int64_t)num * 4 * r->tpq / den; }

/* A bar of another length than its signature's gets a signature of its
 * own: the coarsest n/4, n/8, n/16, n/32 that is exact, else the closest
 * (n <= 255); the bar then is as long as that signature says, so the bar
 * lines and the metre never disagree (and a 32nd, the finest, is a whole
 * number of the writer's divisions). */
static void bar_metre(const rd *r, mlayout *L) {
    int best_num = 1, best_den = 4;
    int64_t best_err = INT64_MAX;
    for (int den = 4; den <= 32 && best_err; den *= 2) {
        int64_t num = (L->len * den + 2 * r->tpq) / (4 * r->tpq);
        num = num < 1 ? 1 : num > 255 ? 255 : num;
        int64_t err = llabs(sig_ticks(r, (int)num, den) - L->len);
        if (err < best_err) best_err = err, best_num = (int)num, best_den = den;
    }
    L->num = best_num, L->den = best_den;
    L->len = sig_ticks(r, best_num, best_den);
}

/* The first part's measures in document order: lengths and repeat marks. */
static int layout_first_part(rd *r) {
    const part_rec *p = &r->parts[r->first_part];
    if (!(r->lay = calloc((size_t)p->n_m, sizeof *r->lay))) return oom(r);
    r->part = p;
    r->track = -1;
    r->divisions = 0, r->transpose = 0, r->num = 4, r->den = 4;
    for (int i = 0; i < p->n_m; i++) {
        mlayout *L = &r->lay[i];
        int64_t len;
        set_where(r, p, &p->m[i]);
        if (read_measure(r, &p->m[i], 0, 0, &len)) return -1;
        char imp[16];
        int64_t declared = sig_ticks(r, r->num, r->den);
        /* A pickup (implicit) bar is as long as its music; an overfull one
         * too; an underfull one keeps its signature's length (voices may
         * simply stop early). */
        L->len = len > 0 && (len > declared || !strcmp(attr(p->m[i].measure, "implicit", imp, sizeof imp), "yes")) ? len : declared;
        L->num = r->num, L->den = r->den;
        if (L->len != declared) bar_metre(r, L);
        read_barlines(&p->m[i], L);
    }
    return 0;
}

/* The bars in the order they sound: repeats taken `times` times (2 unless
 * said), a volta played on the passes its numbers name. */
static int expand_repeats(rd *r) {
    const int n = r->parts[r->first_part].n_m;
    int *count = calloc((size_t)n, sizeof *count);
    if (!(r->order = malloc(sizeof *r->order * 64)) || !count) { free(count); return oom(r); }
    int cap = 64, start = 0, pass = 1, i = 0;
    uint32_t volta = 0; /* passes of the volta we are in, 0 = none */
    long steps = 0;
    while (i < n) {
        if (++steps > 8L * MXL_MAX_BARS) { free(count); return gm_fail(r->err, "repeats do not resolve"); }
        const mlayout *L = &r->lay[i];
        if (L->fwd && count[i] == 0 && i != start) start = i, pass = 1;
        if (L->ending_start) volta = L->ending_mask ? L->ending_mask : ~0u;
        int skip = volta && !(volta >> (pass < 32 ? pass : 31) & 1);
        if (L->ending_stop) volta = 0;
        if (skip) { i++; continue; }
        if (r->n_order >= MXL_MAX_BARS) { free(count); return gm_fail(r->err, "the repeats play out to more than %d bars", MXL_MAX_BARS); }
        if (r->n_order == cap) {
            int *v = realloc(r->order, sizeof *v * (size_t)(cap *= 2));
            if (!v) { free(count); return oom(r); }
            r->order = v;
        }
        r->order[r->n_order++] = i;
        if (L->bwd && L->times > MXL_MAX_TIMES) { free(count); return gm_fail(r->err, "a repeat played %d times (at most %d)", L->times, MXL_MAX_TIMES); }
        if (L->bwd && count[i] < L->times - 1) { /* back to the section's start */
            count[i]++;
            pass++;
            volta = 0;
            i = start;
            continue;
        }
        if (L->bwd || (L->ending_stop && pass > 1)) { /* the section is done */
            count[i] = 0;
            start = i + 1, pass = 1;
        }
        i++;
    }
    free(count);
    if (!(r->bar_start = malloc(sizeof *r->bar_start * (size_t)(r->n_order + 1)))) return oom(r);
    r->bar_start[0] = 0;
    for (int k = 0; k < r->n_order; k++) {
        r->bar_start[k + 1] = r->bar_start[k] + r->lay[r->order[k]].len;
        if (r->bar_start[k + 1] > MXL_MAX_QUARTERS * r->tpq)
            return gm_fail(r->err, "the score runs past %lld quarter notes", (long long)MXL_MAX_QUARTERS);
    }
    return 0;
}

/* A time signature for every change along the played bars. */
static int write_metre(rd *r) {
    int pn = 0, pd = 0;
    for (int k = 0; k < r->n_order; k++) {
        const mlayout *L = &r->lay[r->order[k]];
        int num = L->num, den = L->den;
        if (num != pn || den != pd) {
            if (gm_score_add_timesig(r->s, r->bar_start[k], num, den)) return oom(r);
            pn = num, pd = den;
        }
    }
    return 0;
}

/* ======================================================================== */
/* Parts into tracks                                                         */
/* ======================================================================== */

/* Percussion: declared so, or any note of the part is unpitched. */
static int part_is_drums(const part_rec *p) {
    if (p->drums) return 1;
    for (int i = 0; i < p->n_m; i++)
        for (xmlNode *c = p->m[i].content->children; c; c = c->next)
            if (is_el(c, "note") && child_el(c, "unpitched")) return 1;
    return 0;
}

static int read_part(rd *r, int pi, int *next_channel) {
    part_rec *p = &r->parts[pi];
    p->drums = part_is_drums(p);
    int ch = p->drums ? 9 : p->channel;
    if (ch < 0 || (ch == 9 && !p->drums)) { /* the next free channel, 10 left to drums */
        ch = *next_channel;
        *next_channel = (ch + 1) % 16 == 9 ? 10 : (ch + 1) % 16;
    }
    r->track = gm_score_add_track(r->s, p->name, p->drums || p->program < 0 ? 0 : p->program, ch, p->drums);
    if (r->track < 0) return oom(r);
    r->s->tracks[r->track].source_track = pi;
    r->part = p;
    r->divisions = 0, r->transpose = 0, r->num = 4, r->den = 4;
    r->key_fifths = 99, r->key_minor = 0;
    memset(r->tie_open, 0xFF, sizeof r->tie_open); /* all -1 */
    for (int k = 0; k < r->n_order; k++) {
        int mi = r->order[k];
        if (mi >= p->n_m) break;
        int64_t len;
        set_where(r, p, &p->m[mi]);
        if (read_measure(r, &p->m[mi], r->bar_start[k], 1, &len)) return -1;
    }
    return 0;
}

static int cmp_sym(const void *a, const void *b) {
    const gm_chord_symbol *x = a, *y = b;
    return x->tick < y->tick ? -1 : x->tick > y->tick;
}

/* Harmony of every part in time order; the same chord twice at one tick
 * (several parts carry the symbols) once. */
static int keep_symbols(rd *r) {
    if (r->n_sym > 1) qsort(r->sym, (size_t)r->n_sym, sizeof *r->sym, cmp_sym);
    for (int i = 0; i < r->n_sym; i++) {
        const gm_chord_symbol *c = &r->sym[i], *l = r->s->n_symbols ? &r->s->symbols[r->s->n_symbols - 1] : NULL;
        if (l && l->tick == c->tick && l->root == c->root && l->quality == c->quality && l->bass == c->bass) continue;
        if (gm_score_add_symbol(r->s, c)) return oom(r);
    }
    return 0;
}

/* Tempo events at one tick from several parts: the last one only. */
static void dedupe_tempos(gm_score *s) {
    int k = 0;
    for (int i = 0; i < s->n_tempos; i++) {
        if (k && s->tempos[k - 1].tick == s->tempos[i].tick) k--;
        s->tempos[k++] = s->tempos[i];
    }
    s->n_tempos = k;
}

/* Tracks without a note are dropped, as the MIDI reader drops them. */
static void drop_empty_tracks(gm_score *s) {
    int k = 0;
    for (int i = 0; i < s->n_tracks; i++) {
        if (!s->tracks[i].n_notes) { free(s->tracks[i].notes); continue; }
        s->tracks[k++] = s->tracks[i];
    }
    s->n_tracks = k;
}

static int read_score(rd *r, const xmlNode *root) {
    int timewise = is_el(root, "score-timewise");
    if (!timewise && !is_el(root, "score-partwise")) {
        if (is_el(root, "opus")) return gm_fail(r->err, "a MusicXML opus (a list of scores), not a score");
        return gm_fail(r->err, "not MusicXML: the root element is <%.40s>, not <score-partwise>", (const char *)root->name);
    }
    if (read_part_list(r, root) || collect_measures(r, root, timewise)) return -1;
    r->first_part = 0;
    while (r->first_part < r->n_parts && !r->parts[r->first_part].n_m) r->first_part++;
    int64_t l = 480;
    choose_tpq(r, root, &l, 0);
    r->tpq = l > 0 ? l : 480;
    gm_score_init(r->s, (int)r->tpq);
    if (layout_first_part(r) || expand_repeats(r)) return -1;
    if (write_metre(r)) return -1;
    int next_channel = 0;
    for (int i = 0; i < r->n_parts; i++)
        if (r->parts[i].n_m && read_part(r, i, &next_channel)) return -1;
    if (keep_symbols(r)) return -1;
    drop_empty_tracks(r->s);
    gm_score_sort(r->s);
    dedupe_tempos(r->s);
    if (r->s->end_tick < r->bar_start[r->n_order]) r->s->end_tick = r->bar_start[r->n_order];
    return 0;
}

/* ======================================================================== */
/* XML and zip                                                               */
/* ======================================================================== */

/* libxml2's generic error channel, which XML_PARSE_NOERROR does not close
 * (an encoding it cannot convert prints "encoding error : ..."): nothing. */
static void quiet_generic(void *ctx, const char *msg, ...) {
    (void)ctx;
    (void)msg;
}

/* Parses XML text without the network, DTDs or entity expansion, and
 * without libxml2 printing anything; a one-line reason on failure. */
static xmlDoc *parse_xml(const uint8_t *data, size_t size, const char *what, char *err) {
    if (size > MXL_MAX_BYTES) { gm_fail(err, "%s too large (%zu bytes, limit 64 MiB)", what, size); return NULL; }
    xmlSetGenericErrorFunc(NULL, quiet_generic); /* this thread's channel: the library owns its parsing */
    xmlParserCtxtPtr ctx = xmlNewParserCtxt();
    if (!ctx) { gm_fail(err, "out of memory"); return NULL; }
    xmlDoc *doc = xmlCtxtReadMemory(ctx, (const char *)data, (int)size, NULL, NULL,
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    if (!doc) {
        const xmlError *e = xmlCtxtGetLastError(ctx);
        char msg[160] = "malformed";
        if (e && e->message) {
            gm_strlcpy(msg, e->message, sizeof msg);
            size_t n = strlen(msg);
            while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = 0;
        }
        gm_fail(err, "%s: bad XML at line %d: %s", what, e ? e->line : 0, msg);
    } else if (!xmlDocGetRootElement(doc)) {
        gm_fail(err, "%s: an XML document without elements", what);
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(ctx);
    return doc;
}

/* A zip entry's bytes (at most MXL_MAX_BYTES, whatever the archive claims). */
static int zip_entry(zip_t *z, const char *name, uint8_t **out, size_t *n, char *err) {
    *out = NULL;
    *n = 0;
    zip_file_t *f = zip_fopen(z, name, 0);
    if (!f) return gm_fail(err, "compressed MusicXML: cannot open '%.80s' in the archive: %s", name, zip_strerror(z));
    size_t cap = 65536, len = 0;
    uint8_t *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        if (len == cap) {
            if (cap >= MXL_MAX_BYTES) { rc = gm_fail(err, "compressed MusicXML: '%.80s' unpacks to over 64 MiB", name); break; }
            uint8_t *v = realloc(buf, cap * 2);
            if (!v) break;
            buf = v;
            cap *= 2;
        }
        zip_int64_t k = zip_fread(f, buf + len, cap - len);
        if (k < 0) { rc = gm_fail(err, "compressed MusicXML: '%.80s' is damaged: %s", name, zip_file_strerror(f)); break; }
        if (k == 0) break;
        len += (size_t)k;
    }
    zip_fclose(f);
    if (!buf) return gm_fail(err, "out of memory unpacking '%.80s'", name);
    if (rc) { free(buf); return -1; }
    *out = buf;
    *n = len;
    return 0;
}

/* The score's name in the archive: container.xml's first rootfile, else
 * the one .musicxml/.xml file outside META-INF. */
static int mxl_score_name(zip_t *z, char *name, size_t size, char *err) {
    uint8_t *c;
    size_t n;
    if (zip_name_locate(z, "META-INF/container.xml", 0) >= 0) {
        if (zip_entry(z, "META-INF/container.xml", &c, &n, err)) return -1;
        xmlDoc *doc = parse_xml(c, n, "compressed MusicXML: META-INF/container.xml", err);
        free(c);
        if (!doc) return -1;
        xmlNode *root = xmlDocGetRootElement(doc), *rfs = child_el(root, "rootfiles");
        xmlNode *rf = child_el(rfs, "rootfile");
        name[0] = 0;
        if (rf) attr(rf, "full-path", name, size);
        xmlFreeDoc(doc);
        if (!name[0]) return gm_fail(err, "compressed MusicXML: container.xml names no score (no rootfile full-path)");
        if (zip_name_locate(z, name, 0) < 0)
            return gm_fail(err, "compressed MusicXML: container.xml names '%.80s', which the archive lacks", name);
        return 0;
    }
    zip_int64_t ne = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < ne && i < 10000; i++) {
        const char *e = zip_get_name(z, (zip_uint64_t)i, 0);
        if (e && strncmp(e, "META-INF/", 9) && gm_path_is_musicxml(e) && strcasecmp(strrchr(e, '.'), ".mxl")) {
            gm_strlcpy(name, e, size);
            return 0;
        }
    }
    return gm_fail(err, "compressed MusicXML: no META-INF/container.xml and no .musicxml file in the archive");
}

/* The score's XML out of a .mxl archive in memory. */
static int unzip_score(const uint8_t *data, size_t size, uint8_t **xml, size_t *n, char *err) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, size, 0, &ze);
    zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
    if (!z) {
        gm_fail(err, "compressed MusicXML: not a readable zip archive (%s)", zip_error_strerror(&ze));
        if (src) zip_source_free(src);
        zip_error_fini(&ze);
        return -1;
    }
    zip_error_fini(&ze);
    char name[512];
    int rc = mxl_score_name(z, name, sizeof name, err);
    if (!rc) rc = zip_entry(z, name, xml, n, err);
    zip_discard(z); /* frees the source too */
    return rc;
}

int gm_musicxml_read_mem(const uint8_t *data, size_t size, gm_score *out, char *err) {
    memset(out, 0, sizeof *out);
    if (!data || size == 0) return gm_fail(err, "empty file (0 bytes), not MusicXML");
    if (size > MXL_MAX_BYTES) return gm_fail(err, "MusicXML file too large (%zu bytes, limit 64 MiB)", size);
    xmlInitParser();
    uint8_t *unz = NULL;
    size_t n = size;
    if (size >= 4 && !memcmp(data, "PK\3\4", 4)) {
        if (unzip_score(data, size, &unz, &n, err)) return -1;
        data = unz;
    }
    xmlDoc *doc = parse_xml(data, n, "MusicXML", err);
    free(unz);
    if (!doc) return -1;
    rd r;
    memset(&r, 0, sizeof r);
    r.s = out;
    r.err = err;
    int rc = read_score(&r, xmlDocGetRootElement(doc));
    for (int i = 0; i < r.n_parts; i++) free(r.parts[i].inst), free(r.parts[i].m);
    GM_FREE_ALL(r.parts, r.lay, r.order, r.bar_start, r.sym);
    xmlFreeDoc(doc);
    if (rc) gm_score_free(out);
    return rc;
}
#endif /* GM_NO_MUSICXML */
