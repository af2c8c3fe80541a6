/*
 * chord.c — chord recognition: one (root, quality) per bar.
 *
 * The model is Magenta's chord inference (magenta/music/chord_inference.py),
 * which GETMusic's preprocessing runs with one frame per bar:
 *
 *   - Hidden states are (key, chord) pairs: 12 major keys × 97 chords (the
 *     no-chord N plus 12 roots × 8 qualities) = 1164 states.
 *   - Chord given key: each chord tone in the key's major scale contributes
 *     (1 - 0.01), each tone outside it 0.01; normalised over the 97 chords
 *     per key (N has no tones, so it gets weight 1 before normalising).
 *   - Transitions: a key change has probability 0.001, spread evenly over the
 *     11 other keys, and then the chord is drawn from the new key's chord
 *     distribution. Within a key the chord stays with probability 0.5, or
 *     changes to c2 with probability 0.5·(P(c2|k) + P(c1|k)/96), i.e. the
 *     stay mass of the key distribution is redistributed over the others.
 *   - Emission: concentration × cosine between the frame's pitch-class
 *     vector and the chord's unit template (N's template is zero, so N
 *     scores 0 everywhere). Concentration 100.
 *   - Viterbi with a uniform prior over keys.
 *
 * The full transition matrix is 1164² entries, but it is structured: a key
 * change does not depend on the previous chord, so its best predecessor is
 * the best state of any other key; within a key, the previous chord matters
 * only through its group (see chord_model). A frame costs about 12·97·11
 * steps instead of 1164², and gives the same path as the dense form, ties
 * going to the lowest state index as numpy's argmax does.
 *
 * Frames are the bars of a gm_barmap. A frame's pitch-class vector sums, per
 * pitch class, the ticks of each non-drum note that overlap the bar (as in
 * Magenta, where a note spanning frames is split between them). What we add,
 * measured on POP909 (bench/chord_accuracy.c), is a weight on the lowest
 * sounding note — see CHORD_BASS_WEIGHT below.
 *
 * Bars without notes: as in Magenta we leave them to the Viterbi path, which
 * carries the neighbouring chord through them (N's prior and transitions give
 * it no reason to win); only a piece without any pitched note comes out N in
 * every bar.
 */
#include "getmusic.h"
#include "util.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================== */
/* Parameters                                                                */
/* ======================================================================== */

/* Magenta's (and GETMusic's) transition parameters. */
#ifndef CHORD_KEY_CHANGE_PROB
#define CHORD_KEY_CHANGE_PROB 0.001
#endif
#ifndef CHORD_CHANGE_PROB
#define CHORD_CHANGE_PROB 0.5
#endif
#ifndef CHORD_OUT_OF_KEY_PROB
#define CHORD_OUT_OF_KEY_PROB 0.01
#endif
/* Emission sharpness (Magenta's default). Overridable at compile time for
 * the tuning runs of bench/chord_accuracy.c. */
#ifndef CHORD_CONCENTRATION
#define CHORD_CONCENTRATION 100.0
#endif
/* Extra weight given to the lowest sounding pitch at each moment of a bar,
 * on top of its ordinary duration weight (0 = Magenta's plain vector). */
#ifndef CHORD_BASS_WEIGHT
#define CHORD_BASS_WEIGHT 0.0
#endif
/* 1: weight notes by velocity as well as duration. */
#ifndef CHORD_USE_VELOCITY
#define CHORD_USE_VELOCITY 0
#endif
/* Weight of notes in lead (melody) tracks, whose passing tones blur the
 * harmony (1 = same as the others). */
#ifndef CHORD_LEAD_WEIGHT
#define CHORD_LEAD_WEIGHT 1.0
#endif

#define N_KEYS 12
#define N_CHORDS (1 + 12 * GM_N_QUALITIES) /* index 0 = N, then 1 + root*8 + q */
#define N_STATES (N_KEYS * N_CHORDS)

/* Pitch classes of each quality above the root, in GM_Q_* order (which is
 * also Magenta's order: '', m, +, dim, 7, maj7, m7, m7b5). */
static const int quality_tones[GM_N_QUALITIES][4] = {
    {0, 4, 7, -1}, {0, 3, 7, -1}, {0, 4, 8, -1},  {0, 3, 6, -1},
    {0, 4, 7, 10}, {0, 4, 7, 11}, {0, 3, 7, 10}, {0, 3, 6, 10},
};
static const int major_scale[7] = {0, 2, 4, 5, 7, 9, 11};


/* Pitch-class mask (bit p set = pitch class p sounds) of chord index c. */
static unsigned chord_mask(int c) {
    if (c == 0) return 0;
    int root = (c - 1) / GM_N_QUALITIES, q = (c - 1) % GM_N_QUALITIES;
    unsigned m = 0;
    for (int j = 0; j < 4 && quality_tones[q][j] >= 0; j++) m |= 1u << ((root + quality_tones[q][j]) % 12);
    return m;
}

/* ======================================================================== */
/* Model tables                                                              */
/* ======================================================================== */

/* Within a key, the chance of moving from c1 to c2 depends on c1 only
 * through P(c1 | key), which depends only on how many of c1's tones are in
 * and out of the key. Chords are therefore grouped by that (in, out) pair
 * (10 groups), and a frame's best predecessor of c2 is found among the best
 * previous chord of each group rather than among all 97. */
#define MAX_GROUPS 25 /* (in, out) with in, out in 0..4 */

typedef struct {
    double key_chord[N_KEYS][N_CHORDS];      /* log P(chord | key) */
    double stay;                             /* log P(same key, same chord) */
    double key_jump[N_KEYS][N_CHORDS];       /* log P(k1,· → k2,c2), k1 != k2 */
    int n_groups;
    uint8_t group[N_KEYS][N_CHORDS];         /* group of chord c in key k */
    double change[N_KEYS][MAX_GROUPS][MAX_GROUPS]; /* log P(k,c1 → k,c2), c1 != c2, by groups */
    double templ[N_CHORDS][12];              /* unit chord vectors (N = 0) */
} chord_model;

static void model_build(chord_model *m) {
    double p[N_KEYS][N_CHORDS], gp[N_KEYS][MAX_GROUPS];
    int gid[MAX_GROUPS];
    for (int g = 0; g < MAX_GROUPS; g++) gid[g] = -1;
    m->n_groups = 0;
    for (int k = 0; k < N_KEYS; k++) {
        unsigned key_mask = 0;
        for (int j = 0; j < 7; j++) key_mask |= 1u << ((k + major_scale[j]) % 12);
        double sum = 0;
        for (int c = 0; c < N_CHORDS; c++) {
            unsigned cm = chord_mask(c);
            int in = __builtin_popcount(cm & key_mask), out = __builtin_popcount(cm & ~key_mask);
            p[k][c] = pow(1 - CHORD_OUT_OF_KEY_PROB, in) * pow(CHORD_OUT_OF_KEY_PROB, out);
            sum += p[k][c];
            int g = in * 5 + out;
            if (gid[g] < 0) gid[g] = m->n_groups++;
            m->group[k][c] = (uint8_t)gid[g];
        }
        for (int c = 0; c < N_CHORDS; c++) {
            p[k][c] /= sum;
            m->key_chord[k][c] = log(p[k][c]);
            gp[k][m->group[k][c]] = p[k][c];
        }
    }
    m->stay = log((1 - CHORD_KEY_CHANGE_PROB) * (1 - CHORD_CHANGE_PROB));
    for (int k = 0; k < N_KEYS; k++)
        for (int g1 = 0; g1 < m->n_groups; g1++)
            for (int g2 = 0; g2 < m->n_groups; g2++)
                m->change[k][g1][g2] = log((1 - CHORD_KEY_CHANGE_PROB) * CHORD_CHANGE_PROB *
                                           (gp[k][g2] + gp[k][g1] / (N_CHORDS - 1)));
    for (int k = 0; k < N_KEYS; k++)
        for (int c2 = 0; c2 < N_CHORDS; c2++)
            m->key_jump[k][c2] = log(CHORD_KEY_CHANGE_PROB / (N_KEYS - 1) * p[k][c2]);
    for (int c = 0; c < N_CHORDS; c++) {
        unsigned cm = chord_mask(c);
        int n = __builtin_popcount(cm);
        for (int pc = 0; pc < 12; pc++) m->templ[c][pc] = n && (cm >> pc & 1) ? 1.0 / sqrt((double)n) : 0.0;
    }
}

/* ======================================================================== */
/* Frames: one pitch-class vector per bar                                    */
/* ======================================================================== */

typedef struct { int64_t a, b; int pitch; double w; } span; /* a note's part in one bar */

/* Bass histogram of bar [t0,t1) from the spans that overlap it: the bar is
 * cut at every span edge, and each piece adds its length to the pitch class
 * of its lowest sounding pitch. cuts: room for 2n+2 ticks. */
static void bass_histogram(const span *sp, int n, int64_t t0, int64_t t1, double *bass, int64_t *cuts) {
    int nc = 0;
    cuts[nc++] = t0;
    cuts[nc++] = t1;
    for (int i = 0; i < n; i++) {
        cuts[nc++] = sp[i].a;
        cuts[nc++] = sp[i].b;
    }
    /* Sort the cut points (insertion sort: a bar holds tens of notes). */
    for (int i = 1; i < nc; i++) {
        int64_t v = cuts[i];
        int j = i - 1;
        while (j >= 0 && cuts[j] > v) { cuts[j + 1] = cuts[j]; j--; }
        cuts[j + 1] = v;
    }
    for (int i = 0; i + 1 < nc; i++) {
        int64_t a = cuts[i], b = cuts[i + 1];
        if (b <= a) continue;
        int low = 128;
        for (int s = 0; s < n; s++)
            if (sp[s].a <= a && sp[s].b >= b && sp[s].pitch < low) low = sp[s].pitch;
        if (low < 128) bass[low % 12] += (double)(b - a);
    }
}

/* x: [n_bars][12], unit-normalised rows (zero rows for empty bars);
 * bass: [n_bars][12], ticks each pitch class was the lowest sounding one.
 * Returns the number of bars with any note, or -1 when out of memory. */
static int bar_vectors(const gm_score *s, const gm_barmap *bm, double *x, double *bass) {
    int nb = bm->n_bars;
    memset(x, 0, (size_t)nb * 12 * sizeof *x);
    memset(bass, 0, (size_t)nb * 12 * sizeof *bass);
    const int64_t end = bm->bar_tick[nb];

    /* Bucket every note's overlap with every bar: first count, then fill. */
    int *count = calloc((size_t)nb + 1, sizeof *count);
    if (!count) return -1;
    size_t total = 0;
    for (int i = 0; i < s->n_tracks; i++) {
        const gm_track *t = &s->tracks[i];
        if (t->is_drum) continue;
        for (size_t k = 0; k < t->n_notes; k++) {
            const gm_note *n = &t->notes[k];
            int64_t a = n->tick, b = n->tick + (n->duration > 0 ? n->duration : 1);
            if (a >= end) continue;
            if (b > end) b = end;
            for (int bar = gm_barmap_bar_of_tick(bm, a); bar < nb && bm->bar_tick[bar] < b; bar++) {
                count[bar]++;
                total++;
            }
        }
    }
    int *start = malloc(((size_t)nb + 1) * sizeof *start);
    span *sp = malloc((total ? total : 1) * sizeof *sp);
    if (!start || !sp) {
        free(count); free(start); free(sp);
        return -1;
    }
    int maxn = 0;
    start[0] = 0;
    for (int bar = 0; bar < nb; bar++) {
        start[bar + 1] = start[bar] + count[bar];
        if (count[bar] > maxn) maxn = count[bar];
        count[bar] = 0;
    }
    for (int i = 0; i < s->n_tracks; i++) {
        const gm_track *t = &s->tracks[i];
        if (t->is_drum) continue;
        double tw = gm_track_role(t) == GM_ROLE_LEAD ? CHORD_LEAD_WEIGHT : 1.0;
        for (size_t k = 0; k < t->n_notes; k++) {
            const gm_note *n = &t->notes[k];
            int64_t a = n->tick, b = n->tick + (n->duration > 0 ? n->duration : 1);
            if (a >= end) continue;
            if (b > end) b = end;
            double w = tw * (CHORD_USE_VELOCITY ? n->velocity / 127.0 : 1.0);
            for (int bar = gm_barmap_bar_of_tick(bm, a); bar < nb && bm->bar_tick[bar] < b; bar++) {
                span *p = &sp[start[bar] + count[bar]++];
                p->a = a > bm->bar_tick[bar] ? a : bm->bar_tick[bar];
                p->b = b < bm->bar_tick[bar + 1] ? b : bm->bar_tick[bar + 1];
                p->pitch = n->pitch;
                p->w = w;
            }
        }
    }
    int64_t *cuts = malloc((2 * (size_t)maxn + 2) * sizeof *cuts);
    if (!cuts) {
        free(count); free(start); free(sp);
        return -1;
    }
    int nonempty = 0;
    for (int bar = 0; bar < nb; bar++) {
        double *xb = x + (size_t)bar * 12;
        const span *bs = sp + start[bar];
        int n = start[bar + 1] - start[bar];
        for (int i = 0; i < n; i++) xb[bs[i].pitch % 12] += bs[i].w * (double)(bs[i].b - bs[i].a);
        double *bb = bass + (size_t)bar * 12;
        if (n > 0) bass_histogram(bs, n, bm->bar_tick[bar], bm->bar_tick[bar + 1], bb, cuts);
        for (int pc = 0; pc < 12; pc++) xb[pc] += CHORD_BASS_WEIGHT * bb[pc];
        double norm = 0;
        for (int pc = 0; pc < 12; pc++) norm += xb[pc] * xb[pc];
        if (norm > 0) {
            norm = sqrt(norm);
            for (int pc = 0; pc < 12; pc++) xb[pc] /= norm;
            nonempty++;
        }
    }
    free(cuts);
    free(count);
    free(start);
    free(sp);
    return nonempty;
}

/* ======================================================================== */
/* Viterbi over (key, chord)                                                 */
/* ======================================================================== */

/* Better of two candidates: higher score, ties to the lower state index. */
#define BETTER(v, i, bv, bi) ((v) > (bv) || ((v) == (bv) && (i) < (bi)))

int gm_chords_recognize(const gm_score *s, const gm_barmap *bm, gm_chord *out, char *err) {
    if (!s || !bm || !out) return gm_fail(err, "chord recognition: null argument");
    int nb = bm->n_bars;
    if (nb <= 0) return 0;
    if (!bm->bar_tick) return gm_fail(err, "chord recognition: bar map has no bar lines");

    chord_model *m = malloc(sizeof *m);
    double *x = malloc((size_t)nb * 12 * sizeof *x), *bass = malloc((size_t)nb * 12 * sizeof *bass);
    double *emit = malloc(N_CHORDS * sizeof *emit);
    double *prev = malloc(N_STATES * sizeof *prev), *cur = malloc(N_STATES * sizeof *cur);
    int16_t *back = malloc((size_t)nb * N_STATES * sizeof *back);
    int rc = -1;
    if (!m || !x || !bass || !emit || !prev || !cur || !back) {
        gm_fail(err, "chord recognition: out of memory for %d bars", nb);
        goto done;
    }
    model_build(m);
    int nonempty = bar_vectors(s, bm, x, bass);
    if (nonempty < 0) {
        gm_fail(err, "chord recognition: out of memory for %d bars", nb);
        goto done;
    }
    if (nonempty == 0) { /* nothing pitched: no chord anywhere */
        for (int b = 0; b < nb; b++) out[b] = (gm_chord){-1, -1};
        rc = 0;
        goto done;
    }

    for (int f = 0; f < nb; f++) {
        const double *xf = x + (size_t)f * 12;
        for (int c = 0; c < N_CHORDS; c++) {
            double d = 0;
            for (int pc = 0; pc < 12; pc++) d += xf[pc] * m->templ[c][pc];
            emit[c] = CHORD_CONCENTRATION * d;
        }
        if (f == 0) {
            /* Uniform prior over keys, then the key's chord distribution. */
            for (int k = 0; k < N_KEYS; k++)
                for (int c = 0; c < N_CHORDS; c++)
                    cur[k * N_CHORDS + c] = -log((double)N_KEYS) + m->key_chord[k][c] + emit[c];
        } else {
            /* Best previous state overall, and best outside its key: the
             * predecessor of any key change. */
            int b1 = 0;
            for (int i = 1; i < N_STATES; i++)
                if (prev[i] > prev[b1]) b1 = i;
            int k1 = b1 / N_CHORDS, b2 = -1;
            for (int i = 0; i < N_STATES; i++)
                if (i / N_CHORDS != k1 && (b2 < 0 || prev[i] > prev[b2])) b2 = i;
            int16_t *bk = back + (size_t)f * N_STATES;
            for (int k = 0; k < N_KEYS; k++) {
                const double *pk = prev + k * N_CHORDS;
                const uint8_t *gk = m->group[k];
                int jump = k == k1 ? b2 : b1;
                /* Best and second best previous chord of each group (lowest
                 * index on ties); the second stands in when the best is c2. */
                int top1[MAX_GROUPS], top2[MAX_GROUPS];
                for (int g = 0; g < m->n_groups; g++) top1[g] = top2[g] = -1;
                for (int c1 = 0; c1 < N_CHORDS; c1++) {
                    int g = gk[c1];
                    if (top1[g] < 0 || pk[c1] > pk[top1[g]]) { top2[g] = top1[g]; top1[g] = c1; }
                    else if (top2[g] < 0 || pk[c1] > pk[top2[g]]) top2[g] = c1;
                }
                for (int c2 = 0; c2 < N_CHORDS; c2++) {
                    const double *tr = &m->change[k][0][gk[c2]];
                    double bv = pk[c2] + m->stay;
                    int bi = k * N_CHORDS + c2;
                    for (int g = 0; g < m->n_groups; g++) {
                        int c1 = top1[g] == c2 ? top2[g] : top1[g];
                        if (c1 < 0) continue;
                        double v = pk[c1] + tr[g * MAX_GROUPS];
                        if (BETTER(v, k * N_CHORDS + c1, bv, bi)) { bv = v; bi = k * N_CHORDS + c1; }
                    }
                    double jv = prev[jump] + m->key_jump[k][c2];
                    if (BETTER(jv, jump, bv, bi)) { bv = jv; bi = jump; }
                    cur[k * N_CHORDS + c2] = bv + emit[c2];
                    bk[k * N_CHORDS + c2] = (int16_t)bi;
                }
            }
        }
        double *t = prev; prev = cur; cur = t;
    }
    /* Trace back from the best final state. */
    int st = 0;
    for (int i = 1; i < N_STATES; i++)
        if (prev[i] > prev[st]) st = i;
    for (int f = nb - 1; f >= 0; f--) {
        int c = st % N_CHORDS;
        out[f] = c == 0 ? (gm_chord){-1, -1}
                        : (gm_chord){(int8_t)((c - 1) / GM_N_QUALITIES), (int8_t)((c - 1) % GM_N_QUALITIES)};
        if (out[f].quality == GM_Q_AUG) {
            /* C+, E+ and G#+ are one pitch-class set, so the model cannot
             * tell their roots apart (the key prior picks one): name the
             * chord after whichever of the three sounds longest in the bass. */
            const double *bb = bass + (size_t)f * 12;
            int r = out[f].root, best = r;
            for (int j = 1; j < 3; j++)
                if (bb[(r + 4 * j) % 12] > bb[best]) best = (r + 4 * j) % 12;
            out[f].root = (int8_t)best;
        }
        if (f > 0) st = back[(size_t)f * N_STATES + st];
    }
    rc = 0;
done:
    free(m);
    free(x);
    free(bass);
    free(emit);
    free(prev);
    free(cur);
    free(back);
    return rc;
}

/* ======================================================================== */
/* Names                                                                     */
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

/* Accepted spellings of each quality, after the root (and an optional ':'
 * as in Harte-style labels such as "B:maj", "A:hdim7"). */
static const struct { const char *s; int q; } quality_words[] = {
    {"", GM_Q_MAJ},      {"maj", GM_Q_MAJ},     {"M", GM_Q_MAJ},
    {"m", GM_Q_MIN},     {"min", GM_Q_MIN},     {"-", GM_Q_MIN},
    {"aug", GM_Q_AUG},   {"+", GM_Q_AUG},
    {"dim", GM_Q_DIM},   {"o", GM_Q_DIM},
    {"7", GM_Q_DOM7},    {"dom7", GM_Q_DOM7},
    {"maj7", GM_Q_MAJ7}, {"M7", GM_Q_MAJ7},
    {"m7", GM_Q_MIN7},   {"min7", GM_Q_MIN7},   {"-7", GM_Q_MIN7},
    {"m7b5", GM_Q_M7B5}, {"min7b5", GM_Q_M7B5}, {"hdim7", GM_Q_M7B5}, {"-7b5", GM_Q_M7B5},
    {"\xc3\xb8", GM_Q_M7B5}, {"\xc3\xb8" "7", GM_Q_M7B5}, /* ø, ø7 */
};

int gm_chord_parse(const char *name, gm_chord *out, char *err) {
    if (!name || !out) return gm_fail(err, "chord name: null argument");
    while (isspace((unsigned char)*name)) name++;
    size_t len = strlen(name);
    while (len > 0 && isspace((unsigned char)name[len - 1])) len--;
    char buf[32];
    if (len == 0 || len >= sizeof buf) return gm_fail(err, "'%.*s' is not a chord name", (int)(len > 40 ? 40 : len), name);
    memcpy(buf, name, len);
    buf[len] = 0;

    if (!strcmp(buf, "N") || !strcmp(buf, "NC") || !strcmp(buf, "N.C.")) {
        *out = (gm_chord){-1, -1};
        return 0;
    }
    static const int letter_pc[7] = {9, 11, 0, 2, 4, 5, 7}; /* A..G */
    if (buf[0] < 'A' || buf[0] > 'G')
        return gm_fail(err, "'%s' is not a chord name (expected a root A-G, or N)", buf);
    int root = letter_pc[buf[0] - 'A'];
    const char *p = buf + 1;
    /* Up to two accidentals, '#' or 'b' (no quality suffix starts with b). */
    for (int acc = 0; acc < 2 && (*p == '#' || *p == 'b'); acc++) {
        root += *p == '#' ? 1 : -1;
        p++;
    }
    root = ((root % 12) + 12) % 12;
    if (*p == ':') p++;
    for (size_t i = 0; i < sizeof quality_words / sizeof *quality_words; i++)
        if (!strcmp(p, quality_words[i].s)) {
            *out = (gm_chord){(int8_t)root, (int8_t)quality_words[i].q};
            return 0;
        }
    return gm_fail(err, "'%s': unknown chord quality '%s' (known: maj, m, aug/+, dim, 7, maj7, m7, m7b5)", buf, p);
}
