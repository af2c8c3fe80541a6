/*
 * metre.c — the bar grid from the music, for files whose time signatures say
 * nothing about their bars: POP909 says 1/4 all through, many files say
 * nothing, and a DAW writes 4/4 whatever the song is.
 *
 * The file's quarter notes are taken as the music's beats (the tempo map is
 * kept), but not their phase: POP909's tempo was fitted to a recording that
 * starts anywhere, so its notes sit a fixed fraction of a beat after the
 * file's quarter lines (song 001: 40 ticks of 480, song 009: 346). So:
 *
 *   1. where the beats fall: the densest offset of onsets within a 16th, then
 *      which of the four 16ths of a quarter carries the most weight;
 *   2. per beat, cues that a bar starts there: onsets (longer notes weigh
 *      more), bass onsets, a change of harmony (two beats before against two
 *      after, the bass counting double), kick, crash, and no snare;
 *   3. the metre: how much each bar length makes its downbeat stand out, and
 *      how alike a beat's rhythm is to the beat one bar later (20 numbers a
 *      beat: onsets on each 16th in five registers); duple unless triple wins
 *      clearly, since most music is; 3/4 against 6/8 by whether the middle
 *      eighth of the bar (1.5 beats in) outweighs beats 2 and 3;
 *   4. the phase, followed beat by beat (songs drop or add beats): in 4/4
 *      music with pitched notes, a classifier learnt from POP909
 *      (metre_net.h) says which beat of the bar each beat is; otherwise the
 *      beat of the bar whose cues are strongest.
 *
 * gm_score_settle_metre decides when this replaces the file's metre; see
 * include/getmusic.h, "Metre from the music".
 */
#include "music/metre.h"
#include "music/metre_net.h"
#include "getmusic.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BEATS (1 << 20)   /* a longer piece is refused by the bar map anyway */
#define SUB 4                 /* 16ths per beat */
#define MAX_BPB 6             /* bar lengths tried: 2, 3, 4 (and 6 for 6/8 pairs) */
/* The weakest evidence that may override a lone 4/4 or 2/4 (a DAW default). */
#define OVERRIDE_CONFIDENCE 0.25

/* Downbeat cues per beat and their weights in the downbeat strength. The
 * snare weighs against: it marks the backbeats, rarely the one. */
enum { F_ONSET, F_BASS, F_NOVELTY, F_KICK, F_SNARE, F_CRASH, N_FEAT };
static const double feat_weight[N_FEAT] = {1.0, 1.5, 2.0, 1.5, -1.0, 2.0};
/* Registers of the rhythm pattern of a beat. */
enum { R_BASS, R_TREBLE, R_KICK, R_SNARE, R_KIT, N_REG };
#define N_PAT (N_REG * SUB)

typedef struct {
    int tpq;
    int64_t b0;     /* tick of beat 0, in [0, tpq) */
    int n;          /* beats from b0 to the end */
    int bass_below; /* pitches under this are the bass register */
    float *feat;    /* [n][N_FEAT] downbeat cues */
    float *pat;     /* [n][N_PAT] onset weight per register and 16th of the beat */
    float *chroma;  /* [n][24] sounding pitch classes: bass[12], treble[12] */
    float *held;    /* [n][2] beats held (at most 4) by notes starting on the beat: bass, treble */
    double *down;   /* [n] downbeat strength: weighted cues, each over its mean */
} beat_grid;

static void grid_free(beat_grid *g) {
    GM_FREE_ALL(g->feat, g->pat, g->chroma, g->held, g->down);
}

/* A note's say in where beats and bars fall: sustained, loud notes more. */
static double note_weight(const gm_note *n, int tpq) {
    double held = (double)n->duration / tpq;
    return (1.0 + (held < 2 ? held : 2)) * (0.5 + n->velocity / 254.0);
}

/* ======================================================================== */
/* 1. Where the beats fall                                                  */
/* ======================================================================== */

/* The offset of onsets within a 16th: the circular mean of the onsets around
 * the fullest of 16 bins. 0 for a file too coarse to have one. */
static int64_t sixteenth_offset(const gm_score *s) {
    int64_t q = s->ticks_per_quarter / SUB;
    if (q < 4) return 0;
    double hist[16] = {0};
    for (int t = 0; t < s->n_tracks; t++)
        for (size_t k = 0; k < s->tracks[t].n_notes; k++) hist[(s->tracks[t].notes[k].tick % q) * 16 / q] += 1;
    int m = 0;
    double best = -1;
    for (int b = 0; b < 16; b++) {
        double h = hist[(b + 15) % 16] + 2 * hist[b] + hist[(b + 1) % 16];
        if (h > best) best = h, m = b;
    }
    double cx = 0, cy = 0;
    for (int t = 0; t < s->n_tracks; t++)
        for (size_t k = 0; k < s->tracks[t].n_notes; k++) {
            int64_t r = s->tracks[t].notes[k].tick % q;
            int d = (int)(r * 16 / q) - m;
            if (d < -8) d += 16;
            if (d > 8) d -= 16;
            if (d < -2 || d > 2) continue;
            double a = 2 * M_PI * (double)r / (double)q;
            cx += cos(a), cy += sin(a);
        }
    double a = atan2(cy, cx);
    if (a < 0) a += 2 * M_PI;
    int64_t off = (int64_t)llround(a / (2 * M_PI) * (double)q);
    /* Within a 128th of the file's grid is the file's grid: a drummer
     * laying back is no reason for a lead-in bar of a few ticks. */
    return off < q / 8 || off > q - q / 8 ? 0 : off;
}

/* Tick of the first beat, in [0, tpq): the 16th offset, then the 16th of
 * the quarter with the most weight (a beat carries more than its 8ths).
 * A busy off-beat line (eighths pushed ahead) can outweigh the beats, but
 * notes held a beat or more still start on them: the other 8th wins when it
 * starts clearly more of those (12 of POP909's 13 off-beat songs, no other
 * song moved). */
static int64_t beat_offset(const gm_score *s) {
    int tpq = s->ticks_per_quarter;
    int64_t q = tpq / SUB, o = sixteenth_offset(s);
    if (q < 1) return 0;
    double w[SUB] = {0}, held[SUB] = {0};
    for (int t = 0; t < s->n_tracks; t++)
        for (size_t k = 0; k < s->tracks[t].n_notes; k++) {
            const gm_note *n = &s->tracks[t].notes[k];
            int64_t r = ((n->tick - o) % tpq + tpq + q / 2) % tpq; /* nearest 16th of the quarter */
            w[(r / q) % SUB] += note_weight(n, tpq);
            if (!s->tracks[t].is_drum && n->duration >= tpq) held[(r / q) % SUB] += 1;
        }
    int best = 0;
    for (int k = 1; k < SUB; k++)
        if (w[k] > w[best]) best = k;
    int other = (best + SUB / 2) % SUB;
    if (held[other] > 1.5 * held[best] + 2) best = other;
    return (o + best * q) % tpq;
}

/* ======================================================================== */
/* 2. Cues per beat                                                          */
/* ======================================================================== */

/* Pitches below the lowest quarter of the pitched notes (at most middle C)
 * are the bass. */
static int bass_split(const gm_score *s) {
    size_t hist[128] = {0}, n = 0;
    for (int t = 0; t < s->n_tracks; t++)
        if (!s->tracks[t].is_drum)
            for (size_t k = 0; k < s->tracks[t].n_notes; k++) hist[s->tracks[t].notes[k].pitch]++, n++;
    size_t acc = 0;
    for (int p = 0; p < 128; p++)
        if ((acc += hist[p]) * 4 >= n) return p < 60 ? p + 1 : 60;
    return 60;
}

/* Register of a note for the rhythm pattern, or -1. */
static int note_register(const gm_track *t, const gm_note *n, int bass_below) {
    if (!t->is_drum) return n->pitch < bass_below ? R_BASS : R_TREBLE;
    switch (gm_drum_kit_group(n->pitch)) {
    case GM_KIT_KICK: return R_KICK;
    case GM_KIT_SNARE: return R_SNARE;
    default: return R_KIT;
    }
}

/* Crash and splash cymbals mark the one after a fill. */
static int is_crash(int key) { return key == 49 || key == 52 || key == 55 || key == 57; }

/* One note into the grid: onset cues on its 16th, sounding pitch classes
 * over the beats it spans (at most 16: a drone says nothing more). */
static void add_note(beat_grid *g, const gm_track *t, const gm_note *n) {
    int64_t q = g->tpq / SUB > 0 ? g->tpq / SUB : 1;
    int64_t rel = n->tick - g->b0 + q / 2; /* nearest 16th */
    int64_t step = rel >= 0 ? rel / q : -1;
    int reg = note_register(t, n, g->bass_below);
    double w = note_weight(n, g->tpq);
    if (step >= 0 && step / SUB < g->n) {
        int i = (int)(step / SUB), sub = (int)(step % SUB);
        g->pat[(size_t)i * N_PAT + reg * SUB + sub] += (float)w;
        float *f = g->feat + (size_t)i * N_FEAT;
        if (sub == 0) {
            if (reg == R_KICK) f[F_KICK] += (float)w;
            else if (reg == R_SNARE) f[F_SNARE] += (float)w;
            else if (reg != R_KIT) f[F_ONSET] += (float)w;
            if (reg == R_BASS) f[F_BASS] += (float)w;
            if (t->is_drum && is_crash(n->pitch)) f[F_CRASH] += (float)w;
            if (!t->is_drum) g->held[(size_t)i * 2 + (reg != R_BASS)] += (float)fmin(4, (double)n->duration / g->tpq);
        }
    }
    if (t->is_drum) return;
    int64_t a = n->tick - g->b0, e = a + n->duration;
    int h = n->pitch < g->bass_below ? 0 : 12;
    for (int64_t i = a < 0 ? 0 : a / g->tpq, k = 0; i < g->n && i * g->tpq < e && k < 16; i++, k++) {
        int64_t lo = i * g->tpq > a ? i * g->tpq : a, hi = (i + 1) * g->tpq < e ? (i + 1) * g->tpq : e;
        if (hi > lo) g->chroma[(size_t)i * 24 + h + n->pitch % 12] += (float)(hi - lo) / g->tpq;
    }
}

/* Cosine distance of two pitch-class vectors; 0 when either is silent
 * (the entry after a rest may be a pickup as well as a downbeat). */
static double pc_change(const double *a, const double *b) {
    double dot = 0, na = 0, nb = 0;
    for (int k = 0; k < 12; k++) dot += a[k] * b[k], na += a[k] * a[k], nb += b[k] * b[k];
    return na > 0 && nb > 0 ? 1 - dot / sqrt(na * nb) : 0;
}

/* Change of harmony at each beat: the two beats before against the two
 * after, the bass counting double (bass lines move at bar lines). */
static double change_at(const beat_grid *g, int i) {
    double nov = 0;
    for (int h = 0; h < 2; h++) {
        double a[12], b[12];
        for (int k = 0; k < 12; k++) {
            a[k] = g->chroma[(size_t)(i - 2) * 24 + 12 * h + k] + g->chroma[(size_t)(i - 1) * 24 + 12 * h + k];
            b[k] = g->chroma[(size_t)i * 24 + 12 * h + k] + g->chroma[(size_t)(i + 1) * 24 + 12 * h + k];
        }
        nov += (h == 0 ? 2 : 1) * pc_change(a, b);
    }
    return nov;
}

static void harmony_change(beat_grid *g) {
    for (int i = 2; i + 2 <= g->n; i++) g->feat[(size_t)i * N_FEAT + F_NOVELTY] = (float)change_at(g, i);
}

/* Downbeat strength per beat: each cue over its mean, so that no cue wins
 * by its units, then weighted. */
static void downbeat_strength(beat_grid *g) {
    double mean[N_FEAT] = {0};
    for (int i = 0; i < g->n; i++)
        for (int f = 0; f < N_FEAT; f++) mean[f] += g->feat[(size_t)i * N_FEAT + f];
    for (int i = 0; i < g->n; i++) {
        double d = 0;
        for (int f = 0; f < N_FEAT; f++)
            if (mean[f] > 0) d += feat_weight[f] * g->feat[(size_t)i * N_FEAT + f] * g->n / mean[f];
        g->down[i] = d;
    }
}

static int grid_build(beat_grid *g, const gm_score *s, char *err) {
    memset(g, 0, sizeof *g);
    g->tpq = s->ticks_per_quarter;
    g->b0 = beat_offset(s);
    int64_t n = (s->end_tick - g->b0) / g->tpq + 1;
    if (n > MAX_BEATS) return gm_fail(err, "metre: piece is too long (%lld beats)", (long long)n);
    g->n = (int)(n > 0 ? n : 1);
    g->bass_below = bass_split(s);
    g->feat = calloc((size_t)g->n * N_FEAT, sizeof *g->feat);
    g->pat = calloc((size_t)g->n * N_PAT, sizeof *g->pat);
    g->chroma = calloc((size_t)g->n * 24, sizeof *g->chroma);
    g->held = calloc((size_t)g->n * 2, sizeof *g->held);
    g->down = calloc((size_t)g->n, sizeof *g->down);
    if (!g->feat || !g->pat || !g->chroma || !g->held || !g->down) {
        grid_free(g);
        return gm_fail(err, "metre: out of memory for %d beats", g->n);
    }
    for (int t = 0; t < s->n_tracks; t++)
        for (size_t k = 0; k < s->tracks[t].n_notes; k++) add_note(g, &s->tracks[t], &s->tracks[t].notes[k]);
    harmony_change(g);
    downbeat_strength(g);
    return 0;
}

/* ======================================================================== */
/* 2b. The learnt classifier's inputs (src/music/metre.h)                    */
/* ======================================================================== */

/* Sum of the pitch classes of half h (0 bass, 12 treble) over beats [a, b). */
static void chroma_sum(const beat_grid *g, int a, int b, int h, double *out) {
    for (int k = 0; k < 12; k++) out[k] = 0;
    for (int i = a < 0 ? 0 : a; i < b && i < g->n; i++)
        for (int k = 0; k < 12; k++) out[k] += g->chroma[(size_t)i * 24 + h + k];
}

/* Mean over the beats of column c of x[n][stride], for scaling. */
static double column_mean(const float *x, int n, int stride, int c) {
    double m = 0;
    for (int i = 0; i < n; i++) m += x[(size_t)i * stride + c];
    return m / n;
}

static float over(double v, double mean) { return mean > 0 ? (float)(v / mean) : 0; }

/* x[n][GM_METRE_INPUTS], in metre.h's order. */
static void beat_inputs(const beat_grid *g, float *x) {
    const int cue[3] = {F_ONSET, F_BASS, F_NOVELTY};
    double cm[3], rm[2], hm[2], em[2];
    for (int c = 0; c < 3; c++) cm[c] = column_mean(g->feat, g->n, N_FEAT, cue[c]);
    for (int r = 0; r < 2; r++) {
        rm[r] = 0;
        for (int k = 0; k < SUB; k++) rm[r] += column_mean(g->pat, g->n, N_PAT, r * SUB + k);
        hm[r] = column_mean(g->held, g->n, 2, r);
        em[r] = 0;
        for (int k = 0; k < 12; k++) em[r] += column_mean(g->chroma, g->n, 24, 12 * r + k);
    }
    for (int i = 0; i < g->n; i++) {
        float *o = x + (size_t)i * GM_METRE_INPUTS;
        for (int c = 0; c < 3; c++) *o++ = over(g->feat[(size_t)i * N_FEAT + cue[c]], cm[c]);
        for (int r = 0; r < 2; r++) /* R_BASS, R_TREBLE */
            for (int k = 0; k < SUB; k++) *o++ = over(g->pat[(size_t)i * N_PAT + r * SUB + k], rm[r]);
        for (int w = 1; w <= 4; w *= 2)
            for (int h = 0; h < 24; h += 12) {
                double a[12], b[12];
                chroma_sum(g, i - w, i, h, a), chroma_sum(g, i, i + w, h, b);
                *o++ = (float)pc_change(a, b);
            }
        for (int r = 0; r < 2; r++) *o++ = over(g->held[(size_t)i * 2 + r], hm[r]);
        double e[2][2] = {{0}}; /* [beat i, i-1][bass, treble] */
        for (int r = 0; r < 2; r++)
            for (int k = 0; k < 12; k++) {
                e[0][r] += g->chroma[(size_t)i * 24 + 12 * r + k];
                if (i > 0) e[1][r] += g->chroma[(size_t)(i - 1) * 24 + 12 * r + k];
            }
        for (int r = 0; r < 2; r++) *o++ = over(e[0][r], em[r]);
        for (int r = 0; r < 2; r++) *o++ = over(e[1][r], em[r]) - over(e[0][r], em[r]);
    }
}

int gm_metre_beat_inputs(const gm_score *s, float **x, int *n, int64_t *b0, char *err) {
    beat_grid g;
    *x = NULL, *n = 0, *b0 = 0;
    if (s->ticks_per_quarter < SUB) return gm_fail(err, "metre: %d ticks a quarter is too coarse for beats", s->ticks_per_quarter);
    if (grid_build(&g, s, err)) return -1;
    *x = malloc((size_t)g.n * GM_METRE_INPUTS * sizeof **x);
    if (!*x) { grid_free(&g); return gm_fail(err, "metre: out of memory for %d beats", g.n); }
    beat_inputs(&g, *x);
    *n = g.n, *b0 = g.b0;
    grid_free(&g);
    return 0;
}

/* ======================================================================== */
/* 3. and 4. The metre and the phase                                         */
/* ======================================================================== */

/* Mean downbeat strength of each phase of a bar of L beats: S[0..L). */
static void phase_strength(const beat_grid *g, int L, double *S) {
    int cnt[MAX_BPB] = {0};
    for (int p = 0; p < L; p++) S[p] = 0;
    for (int i = 0; i < g->n; i++) S[i % L] += g->down[i], cnt[i % L]++;
    for (int p = 0; p < L; p++) S[p] = cnt[p] ? S[p] / cnt[p] : 0;
}

static int best_phase(const double *S, int L) {
    int b = 0;
    for (int p = 1; p < L; p++)
        if (S[p] > S[b]) b = p;
    return b;
}

/* How much the best phase of L beats stands out, in units of the spread of
 * the downbeat strength over all beats. */
static double phase_contrast(const beat_grid *g, int L) {
    double S[MAX_BPB], mean = 0, var = 0;
    phase_strength(g, L, S);
    for (int i = 0; i < g->n; i++) mean += g->down[i];
    mean /= g->n;
    for (int i = 0; i < g->n; i++) var += (g->down[i] - mean) * (g->down[i] - mean);
    double sd = sqrt(var / g->n);
    return sd > 0 ? (S[best_phase(S, L)] - mean) / sd : 0;
}

/* How alike each beat's rhythm is to the beat L later (mean cosine over the
 * pairs where both sound). */
static double lag_similarity(const beat_grid *g, int L) {
    double sum = 0;
    int cnt = 0;
    for (int i = 0; i + L < g->n; i++) {
        const float *a = g->pat + (size_t)i * N_PAT, *b = g->pat + (size_t)(i + L) * N_PAT;
        double dot = 0, na = 0, nb = 0;
        for (int k = 0; k < N_PAT; k++) dot += a[k] * b[k], na += a[k] * a[k], nb += b[k] * b[k];
        if (na > 0 && nb > 0) sum += dot / sqrt(na * nb), cnt++;
    }
    return cnt ? sum / cnt : 0;
}

/* Evidence for bars of L beats (higher is better). */
static double metre_score(const beat_grid *g, int L) { return lag_similarity(g, L) + 0.1 * phase_contrast(g, L); }

/* 6/8 rather than 3/4: with the bar's first beat at `phase`, the eighth
 * halfway through the bar carries more than the second and third beats. */
static int compound(const beat_grid *g, int phase) {
    double mid = 0, beats = 0;
    for (int i = phase; i + 2 < g->n; i += 3)
        for (int r = 0; r < N_REG; r++) {
            mid += g->pat[(size_t)(i + 1) * N_PAT + r * SUB + 2];
            beats += 0.5 * (g->pat[(size_t)(i + 1) * N_PAT + r * SUB] + g->pat[(size_t)(i + 2) * N_PAT + r * SUB]);
        }
    return mid > 1.2 * beats && mid > 0;
}

/* Beats with anything starting on them: too few and the music says nothing. */
static int sounding_beats(const beat_grid *g) {
    int n = 0;
    for (int i = 0; i < g->n; i++) {
        const float *p = g->pat + (size_t)i * N_PAT;
        for (int k = 0; k < N_PAT; k++)
            if (p[k] > 0) { n++; break; }
    }
    return n;
}

/* Fills m's bar (numerator, denominator) from L beats and the compound test. */
static void set_bar(gm_metre *m, const beat_grid *g, int L, int phase) {
    m->numerator = L, m->denominator = 4;
    if (L == 3 && compound(g, phase)) m->numerator = 6, m->denominator = 8;
}

/* ======================================================================== */
/* Bars that break the metre                                                 */
/* ======================================================================== */

/* Songs drop or add a beat here and there (POP909's annotations have a bar
 * of 2, 3, 5 or 6 beats in many songs), after which a single grid puts
 * every bar line on the wrong beat. So the phase is tracked beat by beat:
 * Viterbi over the beat's place in the bar, each beat scored by how its
 * downbeat strength fits the piece's own bar profile, and a change of phase
 * costing JUMP_COST (several bars of contrary evidence). */
#ifndef JUMP_COST
#define JUMP_COST 6.0
#endif

/* Bar starts (beat indices, ascending) into *starts (malloc'd, [*n]). */
static int track_phase(const beat_grid *g, int L, const double *S, int p0, int **starts, int *n_starts) {
    double P[MAX_BPB], mean = 0, sd = 0, dm = 0, ds = 0;
    for (int k = 0; k < L; k++) P[k] = S[(p0 + k) % L], mean += P[k] / L;
    for (int k = 0; k < L; k++) sd += (P[k] - mean) * (P[k] - mean) / L;
    for (int i = 0; i < g->n; i++) dm += g->down[i] / g->n;
    for (int i = 0; i < g->n; i++) ds += (g->down[i] - dm) * (g->down[i] - dm) / g->n;
    sd = sqrt(sd), ds = sqrt(ds);
    int n = g->n;
    double *v = malloc((size_t)L * sizeof *v), *nv = malloc((size_t)L * sizeof *nv);
    uint8_t *from = malloc((size_t)n * L); /* [n][L] state of the previous beat */
    *starts = malloc((size_t)n * sizeof **starts);
    if (!v || !nv || !from || !*starts || sd <= 0 || ds <= 0) {
        free(v), free(nv), free(from), free(*starts), *starts = NULL;
        return sd <= 0 || ds <= 0 ? 1 : -1; /* 1: nothing to track */
    }
    for (int i = 0; i < n; i++) {
        double z = (g->down[i] - dm) / ds;
        int best = 0;
        for (int k = 1; i > 0 && k < L; k++)
            if (v[k] > v[best]) best = k;
        for (int k = 0; k < L; k++) {
            double e = z * (P[k] - mean) / sd;
            if (i == 0) { nv[k] = e; from[k] = (uint8_t)k; continue; }
            int prev = (k + L - 1) % L; /* the metre goes on */
            /* No bar of one beat: it would read as POP909's 1/4. */
            double stay = v[prev], jump = k == 0 && best == 0 ? -HUGE_VAL : v[best] - JUMP_COST;
            nv[k] = e + (jump > stay && best != prev ? jump : stay);
            from[(size_t)i * L + k] = (uint8_t)(jump > stay && best != prev ? best : prev);
        }
        memcpy(v, nv, (size_t)L * sizeof *v);
    }
    int k = 0;
    for (int j = 1; j < L; j++)
        if (v[j] > v[k]) k = j;
    int m = 0;
    for (int i = n - 1; i >= 0; i--) {
        if (k == 0) (*starts)[m++] = i;
        k = from[(size_t)i * L + k];
    }
    for (int a = 0, b = m - 1; a < b; a++, b--) { int t = (*starts)[a]; (*starts)[a] = (*starts)[b]; (*starts)[b] = t; }
    *n_starts = m;
    free(v), free(nv), free(from);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The learnt tracker, for 4/4 music with pitched notes                      */
/* ------------------------------------------------------------------------ */

/* The hand-weighted cues above tell a bar's first beat from its second and
 * fourth but often not from its third, and POP909 songs change phase at odd
 * bars. A classifier learnt from POP909's annotations (bench/metre_train.py,
 * src/music/metre_net.h) reads 13 beats around each beat and says how likely
 * it is to be the 1st, 2nd, 3rd, 4th or a later beat of its bar; a Viterbi
 * pass over "beats since the downbeat" (0 to METRE_NET_STATES-1) joins those
 * with the odds of bars of 2 to 6 beats. It knows no drums: pieces without
 * pitched notes keep the cues above. */
static void net_beat(const float *win, double *logp) {
    const int w = (2 * METRE_NET_CONTEXT + 1) * GM_METRE_INPUTS;
    double h[METRE_NET_HIDDEN], z[METRE_NET_CLASSES], top = -HUGE_VAL, sum = 0;
    for (int j = 0; j < METRE_NET_HIDDEN; j++) {
        double a = metre_net_b1[j];
        for (int c = 0; c < w; c++) a += metre_net_w1[(size_t)j * w + c] * win[c];
        h[j] = tanh(a);
    }
    for (int k = 0; k < METRE_NET_CLASSES; k++) {
        z[k] = metre_net_b2[k];
        for (int j = 0; j < METRE_NET_HIDDEN; j++) z[k] += metre_net_w2[k * METRE_NET_HIDDEN + j] * h[j];
        top = fmax(top, z[k]);
    }
    for (int k = 0; k < METRE_NET_CLASSES; k++) sum += exp(z[k] - top);
    for (int k = 0; k < METRE_NET_CLASSES; k++) logp[k] = z[k] - top - log(sum);
}

/* e[n][METRE_NET_STATES]: each beat's weighted log-likelihood ratio of each
 * state (the classes over their share of the training beats). */
static int net_evidence(const beat_grid *g, double *e) {
    const int w = (2 * METRE_NET_CONTEXT + 1) * GM_METRE_INPUTS;
    float *x = malloc((size_t)g->n * GM_METRE_INPUTS * sizeof *x), *win = malloc((size_t)w * sizeof *win);
    if (!x || !win) { free(x), free(win); return -1; }
    beat_inputs(g, x);
    for (int i = 0; i < g->n; i++) {
        for (int k = -METRE_NET_CONTEXT; k <= METRE_NET_CONTEXT; k++) {
            float *dst = win + (size_t)(k + METRE_NET_CONTEXT) * GM_METRE_INPUTS;
            if (i + k < 0 || i + k >= g->n) memset(dst, 0, GM_METRE_INPUTS * sizeof *dst);
            else memcpy(dst, x + (size_t)(i + k) * GM_METRE_INPUTS, GM_METRE_INPUTS * sizeof *dst);
        }
        double logp[METRE_NET_CLASSES];
        net_beat(win, logp);
        for (int st = 0; st < METRE_NET_STATES; st++) {
            int c = st < METRE_NET_CLASSES ? st : METRE_NET_CLASSES - 1;
            e[(size_t)i * METRE_NET_STATES + st] = METRE_NET_WEIGHT * (logp[c] - metre_net_log_prior[c]);
        }
    }
    free(x), free(win);
    return 0;
}

/* The regular 4/4 phase the evidence favours: the beat of the first bar. */
static int net_phase(const beat_grid *g, const double *e) {
    double sum[4] = {0};
    for (int p = 0; p < 4; p++)
        for (int i = 0; i < g->n; i++) sum[p] += e[(size_t)i * METRE_NET_STATES + ((i - p) % 4 + 4) % 4];
    int b = 0;
    for (int p = 1; p < 4; p++)
        if (sum[p] > sum[b]) b = p;
    return b;
}

/* Bar starts (ascending) into *starts (malloc'd, [*n_starts]). */
static int net_track(const beat_grid *g, const double *e, int **starts, int *n_starts) {
    enum { S = METRE_NET_STATES };
    int n = g->n;
    double v[S], nv[S], stay[S], end[S];
    uint8_t *back = malloc((size_t)n * S);
    *starts = malloc((size_t)n * sizeof **starts);
    if (!back || !*starts) { free(back), free(*starts), *starts = NULL; return -1; }
    for (int k = 0; k < S; k++)
        stay[k] = log(fmax(1 - metre_bar_hazard[k], 1e-12)), end[k] = log(fmax(metre_bar_hazard[k], 1e-12));
    for (int k = 0; k < S; k++) v[k] = e[k], back[k] = (uint8_t)k;
    for (int i = 1; i < n; i++) {
        int j = 0;
        for (int k = 1; k < S; k++)
            if (v[k] + end[k] > v[j] + end[j]) j = k;
        nv[0] = v[j] + end[j], back[(size_t)i * S] = (uint8_t)j;
        for (int k = 1; k < S; k++) nv[k] = v[k - 1] + stay[k - 1], back[(size_t)i * S + k] = (uint8_t)(k - 1);
        for (int k = 0; k < S; k++) v[k] = nv[k] + e[(size_t)i * S + k];
    }
    int k = 0, m = 0;
    for (int j = 1; j < S; j++)
        if (v[j] > v[k]) k = j;
    for (int i = n - 1; i >= 0; i--) {
        if (k == 0) (*starts)[m++] = i;
        k = back[(size_t)i * S + k];
    }
    for (int a = 0, b = m - 1; a < b; a++, b--) { int t = (*starts)[a]; (*starts)[a] = (*starts)[b]; (*starts)[b] = t; }
    *n_starts = m;
    free(back);
    return 0;
}

/* Pitched notes on enough beats for the classifier to read. */
static int pitched_beats(const beat_grid *g) {
    int n = 0;
    for (int i = 0; i < g->n; i++) {
        const float *p = g->pat + (size_t)i * N_PAT;
        for (int k = 0; k < 2 * SUB; k++) /* R_BASS, R_TREBLE */
            if (p[k] > 0) { n++; break; }
    }
    return n;
}

static int push_sig(gm_metre *m, int64_t tick, int num, int den) {
    gm_timesig *t = realloc(m->timesigs, (size_t)(m->n_timesigs + 1) * sizeof *t);
    if (!t) return -1;
    m->timesigs = t;
    t[m->n_timesigs++] = (gm_timesig){tick, (uint8_t)num, (uint8_t)den};
    return 0;
}

/* The tracked bars (starts, beat indices) as time signatures, when any
 * breaks the metre: the metre from 0 (the lead-in), at the first bar, and
 * around each odd bar. */
static int odd_bars(const beat_grid *g, int L, const int *st, int n, gm_metre *m) {
    int odd = 0, cur = -1;
    for (int j = 0; j + 1 < n; j++) odd += st[j + 1] - st[j] != L;
    if (n) m->downbeat_tick = g->b0 + (int64_t)st[0] * g->tpq;
    for (int j = 0; odd && j < n; j++) {
        int len = j + 1 < n ? st[j + 1] - st[j] : L;
        if (j == 0 && m->downbeat_tick > 0 && push_sig(m, 0, m->numerator, m->denominator)) return -1;
        if (len == cur) continue;
        int num = len == L ? m->numerator : len, den = len == L ? m->denominator : 4;
        if (push_sig(m, g->b0 + (int64_t)st[j] * g->tpq, num, den)) return -1;
        cur = len;
    }
    m->n_odd_bars = odd;
    return 0;
}

/* The bars: by the learnt tracker for 4/4 with pitched notes (regular when
 * the metre was given: the caller asked for that grid), else by the cues'
 * own profile. */
static int place_bars(const beat_grid *g, int L, int fixed, const double *S, int p, gm_metre *m, char *err) {
    int *st = NULL, n = 0, rc = 0;
    if (L == 4 && pitched_beats(g) >= 8) {
        double *e = malloc((size_t)g->n * METRE_NET_STATES * sizeof *e);
        if (!e || net_evidence(g, e)) { free(e); return gm_fail(err, "metre: out of memory"); }
        if (fixed) m->downbeat_tick = g->b0 + (int64_t)net_phase(g, e) * g->tpq;
        else rc = net_track(g, e, &st, &n);
        free(e);
    } else if (!fixed) {
        rc = track_phase(g, L, S, p, &st, &n);
        if (rc > 0) return 0; /* nothing to track */
    }
    if (rc || (st && odd_bars(g, L, st, n, m))) { free(st); return gm_fail(err, "metre: out of memory"); }
    free(st);
    return 0;
}

/* Beats per bar of a given metre (6/8 is three quarters), or 0. */
static int metre_beats(int num, int den) {
    if (num < 1 || den < 1) return 0;
    int q = num * 4 / den; /* quarters */
    return num * 4 % den == 0 && q >= 1 && q <= MAX_BPB ? q : 0;
}

int gm_metre_infer(const gm_score *s, int numerator, int denominator, gm_metre *out, char *err) {
    memset(out, 0, sizeof *out);
    out->numerator = numerator > 0 ? numerator : 4;
    out->denominator = numerator > 0 ? denominator : 4;
    out->source = GM_METRE_INFERRED;
    int fixed = numerator > 0 ? metre_beats(numerator, denominator) : 0;
    if (numerator > 0 && !fixed)
        return gm_fail(err, "metre %d/%d: give a bar of 1 to %d quarter notes", numerator, denominator, MAX_BPB);
    if (s->ticks_per_quarter < SUB) return 0; /* too coarse for beats: bars from 0 */
    beat_grid g;
    if (grid_build(&g, s, err)) return -1;
    if (sounding_beats(&g) < 4) { grid_free(&g); return 0; } /* a note or two: bars from 0 */
    int L = fixed;
    double conf = 1;
    if (!L) {
        double duple = metre_score(&g, 4), triple = metre_score(&g, 3);
        L = triple > duple + 0.02 ? 3 : 4;
        conf = fabs(triple - duple) / 0.1;
    }
    double S[MAX_BPB];
    phase_strength(&g, L, S);
    int p = best_phase(S, L), second = -1;
    for (int k = 0; k < L; k++)
        if (k != p && (second < 0 || S[k] > S[second])) second = k;
    double gap = second >= 0 && fabs(S[p]) + fabs(S[second]) > 0 ? (S[p] - S[second]) / (fabs(S[p]) + fabs(S[second])) : 0;
    if (!fixed) set_bar(out, &g, L, p);
    out->downbeat_tick = g.b0 + (int64_t)p * g.tpq;
    out->confidence = fmin(1, fmin(conf, gap / 0.2));
    int rc = place_bars(&g, L, fixed, S, p, out, err);
    grid_free(&g);
    return rc;
}

void gm_metre_free(gm_metre *m) {
    if (!m) return;
    free(m->timesigs);
    m->timesigs = NULL;
    m->n_timesigs = 0;
}

/* ======================================================================== */
/* Deciding, and writing the grid into the score                             */
/* ======================================================================== */

const char *gm_metre_source_name(int source) {
    switch (source) {
    case GM_METRE_FILE: return "file";
    case GM_METRE_BEAT_FILE: return "beat_midi.txt";
    case GM_METRE_INFERRED: return "inferred from the music";
    case GM_METRE_GIVEN: return "given";
    default: return "?";
    }
}

/* POP909 writes 1/4 all through, or 2/4 and 4/4 with 1/4 bars put in, and
 * a DAW writes a lone 4/4 whatever the song: signatures that may or may not
 * mean anything. Of several at one tick the last counts, as in the bar map. */
int gm_metre_file_trust(const gm_score *s) {
    if (s->n_timesigs == 0) return GM_METRE_ABSENT;
    int all_one = 1, some_one = 0, plain = 1, n = 0;
    for (int i = 0; i < s->n_timesigs; i++) {
        const gm_timesig *t = &s->timesigs[i];
        if (i + 1 < s->n_timesigs && s->timesigs[i + 1].tick == t->tick) continue;
        n++;
        if (t->numerator != 1) all_one = 0; else some_one = 1;
        if (t->denominator != 4 || (t->numerator != 1 && t->numerator != 2 && t->numerator != 4)) plain = 0;
    }
    if (all_one) return GM_METRE_DEGENERATE;
    /* A lone 2/4 or 4/4 from 0, or 2/4 and 4/4 mended with 1/4 bars; a
     * lead-in (4/4 at 0, 4/4 at the first downbeat) is someone's grid. */
    return plain && ((n == 1 && s->timesigs[0].tick == 0) || some_one) ? GM_METRE_WEAK : GM_METRE_TRUSTED;
}

int gm_score_set_metre(gm_score *s, const gm_metre *m, char *err) {
    if (m->numerator < 1 || m->denominator < 1) return gm_fail(err, "metre %d/%d is not a metre", m->numerator, m->denominator);
    s->n_timesigs = 0;
    for (int i = 0; i < m->n_timesigs; i++)
        if (gm_score_add_timesig(s, m->timesigs[i].tick, m->timesigs[i].numerator, m->timesigs[i].denominator))
            return gm_fail(err, "out of memory");
    if (m->n_timesigs) return 0;
    /* A lead-in bar before the first downbeat, as for a beat annotation. */
    if (gm_score_add_timesig(s, 0, m->numerator, m->denominator) ||
        (m->downbeat_tick > 0 && gm_score_add_timesig(s, m->downbeat_tick, m->numerator, m->denominator)))
        return gm_fail(err, "out of memory");
    return 0;
}

/* The file's own grid as a gm_metre (its first bar's metre, bars from 0). */
static void file_metre(const gm_score *s, gm_metre *m) {
    memset(m, 0, sizeof *m);
    m->numerator = s->n_timesigs ? s->timesigs[0].numerator : 4;
    m->denominator = s->n_timesigs ? s->timesigs[0].denominator : 4;
    m->source = GM_METRE_FILE;
    m->confidence = 1;
}

/* Every bar line of a (past its first) within `slack` ticks of one of b's. */
static int lines_within(const gm_barmap *a, const gm_barmap *b, int64_t slack) {
    int j = 0;
    for (int i = 1; i < a->n_bars; i++) {
        int64_t t = a->bar_tick[i];
        while (j < b->n_bars && b->bar_tick[j] < t - slack) j++;
        if (j >= b->n_bars || b->bar_tick[j] > t + slack) return 0;
    }
    return 1;
}

/* Whether an inferred grid is the file's: the same bar lines, give or take
 * half a 16th (a lead-in bar of a few ticks aside). */
static int same_as_file(const gm_score *s, const gm_metre *m, int *same) {
    gm_score c;
    gm_barmap fb, ib;
    char err[GM_ERR_SIZE];
    *same = 0;
    if (gm_score_copy(&c, s)) return -1;
    int rc = gm_barmap_build(&fb, s, GM_STEPS_PER_QUARTER, err);
    rc = rc || gm_score_set_metre(&c, m, err) || gm_barmap_build(&ib, &c, GM_STEPS_PER_QUARTER, err);
    gm_score_free(&c);
    if (rc) { gm_barmap_free(&fb); return -1; }
    int64_t slack = s->ticks_per_quarter / 8;
    *same = lines_within(&ib, &fb, slack) && lines_within(&fb, &ib, slack);
    gm_barmap_free(&fb);
    gm_barmap_free(&ib);
    return 0;
}

int gm_score_settle_metre(gm_score *s, const gm_metre_request *req, gm_metre *out, char *err) {
    gm_metre_request none = {0, 0, -1, 0};
    if (!req) req = &none;
    if (req->keep_file) { file_metre(s, out); return 0; }
    int trust = gm_metre_file_trust(s);
    if (!req->numerator && trust == GM_METRE_TRUSTED) { file_metre(s, out); return 0; }
    gm_metre m;
    if (gm_metre_infer(s, req->numerator, req->denominator, &m, err)) return -1;
    if (req->numerator) m.source = GM_METRE_GIVEN;
    if (req->pickup >= 0) {
        /* Beats of the denominator's note before the first downbeat, from
         * where the music's beats fall. */
        int64_t beat = (int64_t)s->ticks_per_quarter * 4 / m.denominator, bar = beat * m.numerator;
        m.downbeat_tick = (m.downbeat_tick % (s->ticks_per_quarter > 0 ? s->ticks_per_quarter : 1)) + req->pickup * beat;
        if (bar > 0) m.downbeat_tick %= bar;
        m.source = GM_METRE_GIVEN;
    }
    /* Notes off the file's 16ths say its grid is not the music's, whatever
     * the confidence in the bars. */
    int same = 0, q = s->ticks_per_quarter / 4, off_grid = q > 0 && m.downbeat_tick % q != 0;
    if (m.source == GM_METRE_INFERRED && trust == GM_METRE_WEAK &&
        ((m.confidence < OVERRIDE_CONFIDENCE && !off_grid) || same_as_file(s, &m, &same) || same)) {
        gm_metre_free(&m);
        file_metre(s, out);
        return 0;
    }
    if (gm_score_set_metre(s, &m, err)) { gm_metre_free(&m); return -1; }
    *out = m;
    return 0;
}
