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
 * Chord names, labels and the qualities' tones are in chord_text.c.
 *
 * Frames are the bars of a gm_barmap, or its half bars (frames_per_bar = 2,
 * cut where the grid cuts them, gm_barmap_frame_col). A frame's pitch-class vector sums, per
 * pitch class, the ticks of each non-drum note that overlap the bar (as in
 * Magenta, where a note spanning frames is split between them). The one
 * thing we change, measured on POP909 (bench/chord_accuracy.c), is that
 * notes of lead (melody) tracks count a quarter: melodies are full of
 * passing tones. Transition parameters are Magenta's; varying them gave
 * nothing (see Parameters).
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

/* Every knob below can be overridden at compile time (-DCHORD_...) for the
 * tuning runs of bench/chord_accuracy.c. Figures quoted are per-bar root
 * accuracy on all of POP909, downbeat-aligned 4-beat bars / the files' own
 * 1-2 beat bars, at the time of tuning; the defaults gave 70.8% / 86.0%.
 *
 * Magenta's (and GETMusic's) transition parameters. Chord change 0.3 or 0.7,
 * key change 0.01 and out-of-key 0.05 each moved accuracy by at most 0.3
 * points either way, so they stay as published. */
#ifndef CHORD_KEY_CHANGE_PROB
#define CHORD_KEY_CHANGE_PROB 0.001
#endif
#ifndef CHORD_CHANGE_PROB
#define CHORD_CHANGE_PROB 0.5
#endif
#ifndef CHORD_OUT_OF_KEY_PROB
#define CHORD_OUT_OF_KEY_PROB 0.01
#endif
/* Emission sharpness, Magenta's default. 30 and 300 were worse on 4-beat
 * bars (66.7%, 69.5% against 69.3% with everything else at Magenta's). */
#ifndef CHORD_CONCENTRATION
#define CHORD_CONCENTRATION 100.0
#endif
/* Weight of notes in lead (melody) tracks. 1 (Magenta) gave 69.3% / 84.1%;
 * 0.5, 0.25, 0.1 and 0 all gave 70.4-70.9% / 85.6-86.2%. We keep a little
 * weight so a bar where only the melody plays still has a chord. */
#ifndef CHORD_LEAD_WEIGHT
#define CHORD_LEAD_WEIGHT 0.25
#endif
/* Extra weight for the lowest sounding pitch at each moment of a bar. Alone
 * it helped (+0.8 points at 0.5-1), but on top of the lead weight it added
 * at most 0.2, so it stays off. (The bass is still used to name augmented
 * triads, see gm_chords_recognize.) */
#ifndef CHORD_BASS_WEIGHT
#define CHORD_BASS_WEIGHT 0.0
#endif
/* 1: weight notes by velocity as well as duration. Measured worse (-0.9
 * points on 4-beat bars, -1.2 on the files' bars), so off, as in Magenta. */
#ifndef CHORD_USE_VELOCITY
#define CHORD_USE_VELOCITY 0
#endif

/* Half-bar frames. Magenta's probabilities are per bar; per frame we take
 * the values that give a bar of F frames the same odds of keeping its chord
 * and key: 1 - (1 - p)^(1/F), i.e. a chord change per half bar of 0.29.
 * On POP909 half bars (root+quality, mappable labels) this scores 80.2%;
 * 0.4 gave 80.2% and 0.5 80.1%, so the principled value stays. Override
 * with -D'CHORD_FRAME_CHANGE_PROB(F)=0.4' for tuning runs. */
#ifndef CHORD_FRAME_CHANGE_PROB
#define CHORD_FRAME_CHANGE_PROB(F) (1 - pow(1 - CHORD_CHANGE_PROB, 1.0 / (F)))
#endif

#define N_KEYS 12
#define N_CHORDS (1 + 12 * GM_N_QUALITIES) /* index 0 = N, then 1 + root*8 + q */
#define N_STATES (N_KEYS * N_CHORDS)

static const int major_scale[7] = {0, 2, 4, 5, 7, 9, 11};

/* Pitch-class mask (bit p set = pitch class p sounds) of chord index c. */
static unsigned chord_mask(int c) {
    if (c == 0) return 0;
    return gm_chord_tones((gm_chord){(int8_t)((c - 1) / GM_N_QUALITIES), (int8_t)((c - 1) % GM_N_QUALITIES)});
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

/* frames: frames per bar, which sets the per-frame change probabilities. */
static void model_build(chord_model *m, int frames) {
    const double key_change = frames == 1 ? CHORD_KEY_CHANGE_PROB : 1 - pow(1 - CHORD_KEY_CHANGE_PROB, 1.0 / frames);
    const double chord_change = frames == 1 ? CHORD_CHANGE_PROB : CHORD_FRAME_CHANGE_PROB(frames);
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
    m->stay = log((1 - key_change) * (1 - chord_change));
    for (int k = 0; k < N_KEYS; k++)
        for (int g1 = 0; g1 < m->n_groups; g1++)
            for (int g2 = 0; g2 < m->n_groups; g2++)
                m->change[k][g1][g2] = log((1 - key_change) * chord_change *
                                           (gp[k][g2] + gp[k][g1] / (N_CHORDS - 1)));
    for (int k = 0; k < N_KEYS; k++)
        for (int c2 = 0; c2 < N_CHORDS; c2++)
            m->key_jump[k][c2] = log(key_change / (N_KEYS - 1) * p[k][c2]);
    for (int c = 0; c < N_CHORDS; c++) {
        unsigned cm = chord_mask(c);
        int n = __builtin_popcount(cm);
        for (int pc = 0; pc < 12; pc++) m->templ[c][pc] = n && (cm >> pc & 1) ? 1.0 / sqrt((double)n) : 0.0;
    }
}

/* ======================================================================== */
/* Frames: one pitch-class vector per bar                                    */
/* ======================================================================== */

/* Both histograms below cost O(notes·log(notes) + bars), however long the
 * notes are: a note held over many bars adds to its first and last bar
 * directly and to the bars in between through a difference array, and the
 * bass line is one sweep over note starts and ends. (A crafted file with
 * thousands of notes held for thousands of bars must not take minutes.) */

typedef struct { int64_t tick; int16_t pitch, delta; } note_event;

static int cmp_event(const void *a, const void *b) {
    const note_event *x = a, *y = b;
    return x->tick < y->tick ? -1 : x->tick > y->tick;
}

/* Adds `amount` per tick of [t0, t1) to the pitch class pc of each bar's row. */
static void add_ticks(const gm_barmap *bm, double *rows, int64_t t0, int64_t t1, int pc, double amount) {
    for (int b = gm_barmap_bar_of_tick(bm, t0); b < bm->n_bars && bm->bar_tick[b] < t1; b++) {
        int64_t lo = t0 > bm->bar_tick[b] ? t0 : bm->bar_tick[b];
        int64_t hi = t1 < bm->bar_tick[b + 1] ? t1 : bm->bar_tick[b + 1];
        rows[(size_t)b * 12 + pc] += amount * (double)(hi - lo);
    }
}

/* x: [n_bars][12], unit-normalised rows (zero rows for empty bars);
 * bass: [n_bars][12], ticks during which each pitch class was the lowest
 * sounding one. Returns the number of bars with any note, or -1 when out
 * of memory. */
static int bar_vectors(const gm_score *s, const gm_barmap *bm, double *x, double *bass) {
    int nb = bm->n_bars;
    const int64_t end = bm->bar_tick[nb];
    memset(x, 0, (size_t)nb * 12 * sizeof *x);
    memset(bass, 0, (size_t)nb * 12 * sizeof *bass);
    size_t n_notes = 0;
    for (int i = 0; i < s->n_tracks; i++)
        if (!s->tracks[i].is_drum) n_notes += s->tracks[i].n_notes;
    double *full = calloc(((size_t)nb + 1) * 12, sizeof *full); /* per-tick weight of whole-bar notes, differenced */
    note_event *ev = malloc((2 * n_notes + 1) * sizeof *ev);
    if (!full || !ev) {
        free(full);
        free(ev);
        return -1;
    }
    size_t n_ev = 0;
    for (int i = 0; i < s->n_tracks; i++) {
        const gm_track *t = &s->tracks[i];
        if (t->is_drum) continue;
        double tw = gm_track_role(t) == GM_ROLE_LEAD ? CHORD_LEAD_WEIGHT : 1.0;
        for (size_t k = 0; k < t->n_notes; k++) {
            const gm_note *n = &t->notes[k];
            int64_t a = n->tick, z = n->tick + (n->duration > 0 ? n->duration : 1);
            if (a >= end) continue; /* past the bar map: not ours to judge */
            if (z > end) z = end;
            double w = tw * (CHORD_USE_VELOCITY ? n->velocity / 127.0 : 1.0);
            int pc = n->pitch % 12;
            int b0 = gm_barmap_bar_of_tick(bm, a), b1 = gm_barmap_bar_of_tick(bm, z - 1);
            if (b0 == b1) {
                x[(size_t)b0 * 12 + pc] += w * (double)(z - a);
            } else {
                x[(size_t)b0 * 12 + pc] += w * (double)(bm->bar_tick[b0 + 1] - a);
                x[(size_t)b1 * 12 + pc] += w * (double)(z - bm->bar_tick[b1]);
                full[(size_t)(b0 + 1) * 12 + pc] += w;
                full[(size_t)b1 * 12 + pc] -= w;
            }
            ev[n_ev++] = (note_event){a, (int16_t)n->pitch, 1};
            ev[n_ev++] = (note_event){z, (int16_t)n->pitch, -1};
        }
    }
    double acc[12] = {0};
    for (int b = 0; b < nb; b++)
        for (int pc = 0; pc < 12; pc++) {
            acc[pc] += full[(size_t)b * 12 + pc];
            x[(size_t)b * 12 + pc] += acc[pc] * (double)(bm->bar_tick[b + 1] - bm->bar_tick[b]);
        }
    free(full);

    /* The bass line: sweep the starts and ends in time order, keeping a count
     * of sounding notes per pitch; between two event times the lowest pitch
     * with a non-zero count is the bass. */
    if (n_ev > 1) qsort(ev, n_ev, sizeof *ev, cmp_event);
    int count[128] = {0}, low = 128;
    for (size_t i = 0; i < n_ev; i++) {
        if (i > 0 && ev[i].tick > ev[i - 1].tick && low < 128)
            add_ticks(bm, bass, ev[i - 1].tick, ev[i].tick, low % 12, 1.0);
        int p = ev[i].pitch;
        count[p] += ev[i].delta;
        /* low stays the lowest sounding pitch: nothing below it sounds, so
         * a start can only lower it and an end can only raise it. */
        if (ev[i].delta > 0 && p < low) low = p;
        while (low < 128 && count[low] <= 0) low++;
    }
    free(ev);

    int nonempty = 0;
    for (int b = 0; b < nb; b++) {
        double *xb = x + (size_t)b * 12;
        const double *bb = bass + (size_t)b * 12;
        for (int pc = 0; pc < 12; pc++) xb[pc] += CHORD_BASS_WEIGHT * bb[pc];
        double norm = 0;
        for (int pc = 0; pc < 12; pc++) norm += xb[pc] * xb[pc];
        if (norm > 0) {
            norm = sqrt(norm);
            for (int pc = 0; pc < 12; pc++) xb[pc] /= norm;
            nonempty++;
        }
    }
    return nonempty;
}

/* ======================================================================== */
/* Viterbi over (key, chord)                                                 */
/* ======================================================================== */

/* Longest piece we label: the back-pointers take one byte per state per bar
 * (76 MB at this size). 65,536 bars is 36 hours of 4/4 at 120 bpm. */
#define CHORD_MAX_BARS 65536
/* Back-pointer code for "came from another key" (else: the previous chord
 * index within the same key). The state it came from is the frame's best
 * state, or its best outside that state's key. */
#define BACK_JUMP 255

/* Better of two candidates: higher score, ties to the lower state index. */
#define BETTER(v, i, bv, bi) ((v) > (bv) || ((v) == (bv) && (i) < (bi)))

static int viterbi(const double *x, const double *bass, int nb, int frames, int nonempty, gm_chord *out, char *err);

/* The chords of the "bars" of bm, which are the frames (bars or half bars;
 * `frames` per bar sets the transition probabilities): each frame's
 * pitch-class and bass vectors, then the Viterbi pass over them. */
static int recognize(const gm_score *s, const gm_barmap *bm, int frames, gm_chord *out, char *err) {
    int nb = bm->n_bars;
    double *x = malloc((size_t)nb * 12 * sizeof *x), *bass = malloc((size_t)nb * 12 * sizeof *bass);
    int nonempty = x && bass ? bar_vectors(s, bm, x, bass) : -1;
    int rc = nonempty < 0 ? gm_fail(err, "chord recognition: out of memory for %d frames", nb)
                          : viterbi(x, bass, nb, frames, nonempty, out, err);
    free(x);
    free(bass);
    return rc;
}

/* Frame f's emission scores over the chords: concentration × the dot
 * product of its pitch-class vector xf with each chord's template. */
static void frame_emit(const chord_model *m, const double *xf, double *emit) {
    for (int c = 0; c < N_CHORDS; c++) {
        double d = 0;
        for (int pc = 0; pc < 12; pc++) d += xf[pc] * m->templ[c][pc];
        emit[c] = CHORD_CONCENTRATION * d;
    }
}

/* Key k's states of one Viterbi step: each chord c2 from the best previous
 * chord of the same key (a stay, or a change through its group) or from the
 * state `jump` in another key. Back-pointers into bk. */
static void step_key(const chord_model *m, int k, const double *prev, int jump, const double *emit, double *cur,
                     uint8_t *bk) {
    const double *pk = prev + k * N_CHORDS;
    const uint8_t *gk = m->group[k];
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
        bk[k * N_CHORDS + c2] = (uint8_t)(bi / N_CHORDS == k ? bi % N_CHORDS : BACK_JUMP);
    }
}

/* One Viterbi step (a frame after the first): prev → cur, back-pointers in
 * bk, and the frame's two jump sources in jumps[0..1]. */
static void viterbi_step(const chord_model *m, const double *prev, const double *emit, double *cur, uint8_t *bk,
                         int32_t *jumps) {
    /* Best previous state overall, and best outside its key: the
     * predecessor of any key change. */
    int b1 = 0;
    for (int i = 1; i < N_STATES; i++)
        if (prev[i] > prev[b1]) b1 = i;
    int k1 = b1 / N_CHORDS, b2 = -1;
    for (int i = 0; i < N_STATES; i++)
        if (i / N_CHORDS != k1 && (b2 < 0 || prev[i] > prev[b2])) b2 = i;
    jumps[0] = b1;
    jumps[1] = b2;
    for (int k = 0; k < N_KEYS; k++) step_key(m, k, prev, k == k1 ? b2 : b1, emit, cur, bk);
}

/* Trace back from the best final state (scores in last) into out. */
static void viterbi_trace(const double *last, const uint8_t *back, const int32_t *jumps, const double *bass, int nb,
                          gm_chord *out) {
    int st = 0;
    for (int i = 1; i < N_STATES; i++)
        if (last[i] > last[st]) st = i;
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
        if (f > 0) {
            int code = back[(size_t)f * N_STATES + st], b1 = jumps[2 * f], b2 = jumps[2 * f + 1];
            if (code != BACK_JUMP) st = (st / N_CHORDS) * N_CHORDS + code;
            else st = st / N_CHORDS == b1 / N_CHORDS ? b2 : b1;
        }
    }
}

/* The key-chord Viterbi pass proper. x: [nb][12] unit-normalised frame
 * vectors (zero rows for empty frames); bass: [nb][12] how long each pitch
 * class was the lowest (names augmented triads only); nonempty: rows of x
 * that are not zero. */
static int viterbi(const double *x, const double *bass, int nb, int frames, int nonempty, gm_chord *out, char *err) {
    chord_model *m = malloc(sizeof *m);
    double *emit = malloc(N_CHORDS * sizeof *emit);
    double *prev = malloc(N_STATES * sizeof *prev), *cur = malloc(N_STATES * sizeof *cur);
    uint8_t *back = malloc((size_t)nb * N_STATES);
    int32_t *jumps = malloc((size_t)nb * 2 * sizeof *jumps); /* per frame: best state, best outside its key */
    int rc = -1;
    if (!m || !emit || !prev || !cur || !back || !jumps) {
        gm_fail(err, "chord recognition: out of memory for %d frames", nb);
        goto done;
    }
    model_build(m, frames);
    if (nonempty == 0) { /* nothing pitched: no chord anywhere */
        for (int b = 0; b < nb; b++) out[b] = (gm_chord){-1, -1};
        rc = 0;
        goto done;
    }
    for (int f = 0; f < nb; f++) {
        frame_emit(m, x + (size_t)f * 12, emit);
        if (f == 0) {
            /* Uniform prior over keys, then the key's chord distribution. */
            for (int k = 0; k < N_KEYS; k++)
                for (int c = 0; c < N_CHORDS; c++)
                    cur[k * N_CHORDS + c] = -log((double)N_KEYS) + m->key_chord[k][c] + emit[c];
        } else {
            viterbi_step(m, prev, emit, cur, back + (size_t)f * N_STATES, jumps + 2 * f);
        }
        double *t = prev; prev = cur; cur = t;
    }
    viterbi_trace(prev, back, jumps, bass, nb, out);
    rc = 0;
done:
    GM_FREE_ALL(m, emit, prev, cur, back, jumps);
    return rc;
}

int gm_chords_recognize(const gm_score *s, const gm_barmap *bm, gm_chord *out, char *err) {
    return gm_chords_recognize_frames(s, bm, 1, out, err);
}

int gm_chords_recognize_frames(const gm_score *s, const gm_barmap *bm, int frames, gm_chord *out, char *err) {
    if (!s || !bm || !out) return gm_fail(err, "chord recognition: null argument");
    if (frames < 1 || frames > GM_MAX_CHORD_FRAMES)
        return gm_fail(err, "chord recognition: %d frames per bar (1..%d allowed)", frames, GM_MAX_CHORD_FRAMES);
    int nb = bm->n_bars;
    if (nb <= 0) return 0;
    if (!bm->bar_tick) return gm_fail(err, "chord recognition: bar map has no bar lines");
    if ((int64_t)nb * frames > CHORD_MAX_BARS)
        return gm_fail(err, "chord recognition: %d bars (%d frames each) is more than the %d frames we handle", nb, frames,
                       CHORD_MAX_BARS);
    if (frames == 1) return recognize(s, bm, 1, out, err);
    /* A bar map whose bars are the frames: the histograms and the Viterbi
     * pass only read its bar ticks. */
    gm_barmap fm = {0};
    fm.n_bars = nb * frames;
    if (!(fm.bar_tick = malloc(((size_t)fm.n_bars + 1) * sizeof *fm.bar_tick)))
        return gm_fail(err, "chord recognition: out of memory for %d frames", fm.n_bars);
    for (int b = 0; b < nb; b++)
        for (int k = 0; k < frames; k++) fm.bar_tick[b * frames + k] = gm_barmap_frame_tick(bm, b, frames, k);
    fm.bar_tick[fm.n_bars] = bm->bar_tick[nb];
    int rc = recognize(s, &fm, frames, out, err);
    free(fm.bar_tick);
    return rc;
}

/* From audio (src/audio/transcribe.c): the same model fed by chroma instead of
 * notes, so that a recording and a MIDI file are judged alike. */
int gm_chords_from_chroma(const float *chroma, const float *bass, int n_frames, int frames_per_bar, gm_chord *out,
                          char *err) {
    if (!chroma || !out || n_frames < 0) return gm_fail(err, "chord recognition: null argument");
    if (frames_per_bar < 1 || frames_per_bar > GM_MAX_CHORD_FRAMES)
        return gm_fail(err, "chord recognition: %d frames per bar (1..%d allowed)", frames_per_bar, GM_MAX_CHORD_FRAMES);
    if (n_frames > CHORD_MAX_BARS)
        return gm_fail(err, "chord recognition: %d frames is more than the %d we handle", n_frames, CHORD_MAX_BARS);
    if (n_frames == 0) return 0;
    double *x = malloc((size_t)n_frames * 12 * sizeof *x), *bs = calloc((size_t)n_frames * 12, sizeof *bs);
    if (!x || !bs) {
        free(x);
        free(bs);
        return gm_fail(err, "chord recognition: out of memory for %d frames", n_frames);
    }
    int nonempty = 0;
    for (int f = 0; f < n_frames; f++) {
        double norm = 0, *xf = x + (size_t)f * 12;
        for (int pc = 0; pc < 12; pc++) {
            float v = chroma[(size_t)f * 12 + pc];
            xf[pc] = v > 0 && v < 1e30f ? v : 0; /* negative, NaN or huge: nothing */
            norm += xf[pc] * xf[pc];
            if (bass) bs[(size_t)f * 12 + pc] = bass[(size_t)f * 12 + pc] > 0 ? bass[(size_t)f * 12 + pc] : 0;
        }
        if (norm > 0) {
            for (int pc = 0; pc < 12; pc++) xf[pc] /= sqrt(norm);
            nonempty++;
        }
    }
    int rc = viterbi(x, bs, n_frames, frames_per_bar, nonempty, out, err);
    free(x);
    free(bs);
    return rc;
}

int gm_chords_from_timed(const gm_score *s, const gm_barmap *bm, int frames, const gm_timed_chord *labels,
                         int n_labels, int shift, gm_chord *out, char *err) {
    if (!s || !bm || !out || (n_labels > 0 && !labels)) return gm_fail(err, "chord labels: null argument");
    if (frames < 1 || frames > GM_MAX_CHORD_FRAMES)
        return gm_fail(err, "chord labels: %d frames per bar (1..%d allowed)", frames, GM_MAX_CHORD_FRAMES);
    const int nb = bm->n_bars, nf = nb * frames;
    if (nb <= 0) return 0;
    int64_t *best = calloc((size_t)nf, sizeof *best); /* longest overlap so far per frame */
    if (!best) return gm_fail(err, "out of memory for %d frames", nf);
    for (int i = 0; i < nf; i++) out[i] = (gm_chord){-1, -1};
    const int64_t end = bm->bar_tick[nb];
    for (int i = 0; i < n_labels; i++) {
        int64_t a = gm_score_seconds_to_tick(s, labels[i].start), z = gm_score_seconds_to_tick(s, labels[i].end);
        if (a >= end || z <= a) continue;
        gm_chord c = labels[i].chord;
        if (c.root >= 0) c.root = (int8_t)(((c.root + shift) % 12 + 12) % 12);
        for (int b = gm_barmap_bar_of_tick(bm, a); b < nb && bm->bar_tick[b] < z; b++)
            for (int k = 0; k < frames; k++) {
                int64_t f0 = gm_barmap_frame_tick(bm, b, frames, k), f1 = gm_barmap_frame_tick(bm, b, frames, k + 1);
                int64_t lo = a > f0 ? a : f0, hi = z < f1 ? z : f1;
                if (hi - lo > best[b * frames + k]) {
                    best[b * frames + k] = hi - lo;
                    out[b * frames + k] = c;
                }
            }
    }
    free(best);
    return 0;
}
