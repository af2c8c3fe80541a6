/*
 * key.c — key finding and transposition.
 *
 * GETMusic's preprocessing (microsoft/muzic, getmusic/preprocess/to_oct.py,
 * inherited from MusicBERT) moves every piece to C major / A minor before
 * tokenising it. Its key finder works like this, and so does ours:
 *
 *   1. A pitch-class histogram of the non-drum notes, each note weighted by
 *      duration × velocity, normalised to sum 1.
 *   2. A dot product with 24 templates (12 major, 12 minor) that score +1
 *      for a pitch class in the scale and -1 for one outside it. A major key
 *      and its relative (natural) minor share one scale, so the best score
 *      always comes as a pair: the templates find the key *signature*.
 *   3. Major or relative minor is then decided by which tonic weighs more in
 *      the histogram (a tie goes to major, as in the original).
 *
 * Where we differ, and why:
 *   - The original weights by its duration *token index* and velocity/4; we
 *     use the note's real duration in ticks and its velocity, which is what
 *     "duration × velocity" means and does not depend on a token table.
 *   - When several scales tie (a piece with few distinct pitch classes, e.g.
 *     a lone C major triad fits C, F and G major), the original takes the
 *     first two indices of the tie list, which can pair C major with F major
 *     by accident. We break such ties by the weight of each candidate's tonic
 *     triad, then by lowest tonic, which names the triad's own key.
 */
#include "getmusic.h"
#include "util.h"

#include <stdio.h>

/* ======================================================================== */
/* Histogram and templates                                                   */
/* ======================================================================== */

/* Steps of the major scale; the natural minor of tonic t uses the same set
 * as the major scale of tonic t+3. */
static const int major_scale[7] = {0, 2, 4, 5, 7, 9, 11};

/* Normalised duration×velocity pitch-class histogram; returns the raw total
 * (0 when there are no pitched notes). */
static double pitch_class_histogram(const gm_score *s, double h[12]) {
    for (int i = 0; i < 12; i++) h[i] = 0;
    double total = 0;
    for (int i = 0; i < s->n_tracks; i++) {
        const gm_track *t = &s->tracks[i];
        if (t->is_drum) continue;
        for (size_t k = 0; k < t->n_notes; k++) {
            const gm_note *n = &t->notes[k];
            double w = (double)(n->duration > 0 ? n->duration : 1) * (double)n->velocity;
            h[n->pitch % 12] += w;
            total += w;
        }
    }
    if (total > 0)
        for (int i = 0; i < 12; i++) h[i] /= total;
    return total;
}

/* Score of the ±1 scale template of major tonic t: in-scale weight minus
 * out-of-scale weight, in [-1, 1] for a normalised histogram. */
static double scale_score(const double h[12], int t) {
    int in[12] = {0};
    for (int j = 0; j < 7; j++) in[(t + major_scale[j]) % 12] = 1;
    double sc = 0;
    for (int p = 0; p < 12; p++) sc += in[p] ? h[p] : -h[p];
    return sc;
}

static double major_triad(const double h[12], int t) { return h[t] + h[(t + 4) % 12] + h[(t + 7) % 12]; }
static double minor_triad(const double h[12], int t) { return h[t] + h[(t + 3) % 12] + h[(t + 7) % 12]; }

/* ======================================================================== */
/* Key finding                                                               */
/* ======================================================================== */

gm_key gm_key_find(const gm_score *s) {
    gm_key k = {0, 0, 0.0f};
    double h[12];
    if (pitch_class_histogram(s, h) <= 0) return k; /* empty → C major */

    double sc[12], best = -2;
    for (int t = 0; t < 12; t++) {
        sc[t] = scale_score(h, t);
        if (sc[t] > best) best = sc[t];
    }
    /* Among the scales tied at the top, prefer the one whose tonic triad
     * (major or relative minor, whichever the tonic rule picks) weighs most. */
    const double eps = 1e-12;
    double best_triad = -1;
    for (int t = 0; t < 12; t++) {
        if (sc[t] < best - eps) continue;
        int rel = (t + 9) % 12;
        /* The original's rule: major unless the minor tonic weighs more. */
        int minor = h[t] < h[rel];
        double triad = minor ? minor_triad(h, rel) : major_triad(h, t);
        if (triad > best_triad + eps) {
            best_triad = triad;
            k.tonic = minor ? rel : t;
            k.minor = minor;
            k.score = (float)sc[t];
        }
    }
    return k;
}

int gm_key_shift_to_c(gm_key k) {
    /* Target tonic: C (0) for major, A (9) for minor; same key signature. */
    int target = k.minor ? 9 : 0;
    int d = ((target - k.tonic) % 12 + 12) % 12; /* 0..11 */
    return d > 6 ? d - 12 : d;                   /* -5..+6 */
}

/* ======================================================================== */
/* Transposition                                                             */
/* ======================================================================== */

void gm_score_transpose(gm_score *s, int semitones) {
    if (semitones == 0) return;
    /* Chord symbols move with the notes (their text stays as written). */
    for (int i = 0; i < s->n_symbols; i++) {
        gm_chord_symbol *c = &s->symbols[i];
        if (c->root >= 0) c->root = (int8_t)(((c->root + semitones) % 12 + 12) % 12);
        if (c->bass >= 0) c->bass = (int8_t)(((c->bass + semitones) % 12 + 12) % 12);
    }
    for (int i = 0; i < s->n_tracks; i++) {
        gm_track *t = &s->tracks[i];
        /* Drum keys name instruments, not pitches: never move them. */
        if (t->is_drum) continue;
        for (size_t k = 0; k < t->n_notes; k++) {
            int p = (int)t->notes[k].pitch + semitones % 12;
            /* Whole octaves of the shift, then fold back into 0..127 an
             * octave at a time so the pitch class is still right. */
            p += 12 * (semitones / 12);
            while (p > 127) p -= 12;
            while (p < 0) p += 12;
            t->notes[k].pitch = (uint8_t)p;
        }
        /* Notes were sorted by (tick, pitch); a fold can break that order
         * within a tick, so restore it the cheap way (insertion sort: the
         * array is already nearly sorted). */
        for (size_t a = 1; a < t->n_notes; a++) {
            gm_note v = t->notes[a];
            size_t b = a;
            while (b > 0 && (t->notes[b - 1].tick > v.tick ||
                             (t->notes[b - 1].tick == v.tick && t->notes[b - 1].pitch > v.pitch))) {
                t->notes[b] = t->notes[b - 1];
                b--;
            }
            t->notes[b] = v;
        }
    }
}

/* ======================================================================== */
/* Names                                                                     */
/* ======================================================================== */

/* Conventional spellings: the one with fewer accidentals in the key
 * signature; at six either way (F#/Gb major, D#/Eb minor) the flat. */
static const char *major_names[12] = {"C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"};
static const char *minor_names[12] = {"C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"};

const char *gm_key_name(gm_key k, char *buf, size_t n) {
    if (!buf || n == 0) return buf;
    int t = ((k.tonic % 12) + 12) % 12;
    snprintf(buf, n, "%s %s", k.minor ? minor_names[t] : major_names[t], k.minor ? "minor" : "major");
    return buf;
}
