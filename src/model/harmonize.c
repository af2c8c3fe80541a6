/*
 * harmonize.c — chords chosen for a bare melody.
 *
 * The recogniser of chord.c reads the harmony a texture already sounds; a
 * melody alone does not sound its chords, it implies them, and which chord a
 * songwriter puts under a phrase is learnt, not heard. Two learnt answers:
 *
 * 1. The model's own harmoniser, when its file carries one (src/model/harmonizer.c,
 *    trained by python/harmonizer.py on POP909's labels): a bidirectional
 *    GRU (or an ensemble of them, posteriors averaged) reads the whole
 *    melody by half bars and scores every chord in every frame; the chord
 *    taken is the minimum-risk one (choose_chords). On the 113 validation
 *    songs' melodies alone (bench/bench_harmonize.c eval), the ensemble of
 *    5: the root agrees with the composer's in 48% of half bars, 70% of the
 *    chosen chords' tones are in the composer's chord, 1.04 changes a bar
 *    (labels 1.24), the melody's chord-tone ratio 0.79 against these chords
 *    (0.69 against the composer's); one net: 47%, 69%, 1.07, 0.78.
 * 2. Otherwise a key-chord hidden Markov model whose numbers were counted on
 *    the same labels (bench_harmonize learn writes harmony_table.h): root 36%,
 *    tones 61%, 1.43 changes a bar. What it is:
 *   - hidden state: (key, chord), 12 keys × 96 chords (12 roots × our 8
 *     qualities). The tables are in C major / A minor, where every song was
 *     moved before counting; key k rotates them by k semitones. The caller's
 *     melody is usually in C already (generate moves it), so key 0 has a
 *     head start, and a key change costs KEY_CHANGE_LOGP per frame.
 *   - transitions: P(c2 | c1) counted frame to frame, separately for a chord
 *     that starts a bar and one that starts mid-bar (half-bar frames), and
 *     for bar-long frames; a key change draws the new chord from P(c).
 *   - emission: the melody's notes in the frame, scored with log P(pitch
 *     class | chord, how the note sits: struck on a beat, struck off it, or
 *     held over from the frame before), in C, so that a note is judged as a
 *     degree of the key and a tone of the chord at once (a chord heard
 *     little in training leans on its quality's intervals in every key);
 *     each note weighted by its length in quarters (capped at 2), the sum
 *     times EMIT_WEIGHT. A frame without melody scores 0: the transitions
 *     carry the harmony through it.
 *   - Viterbi decoding, with STAY_BONUS added to keeping a chord, tuned
 *     so that the path changes chord about as often as POP909's labels.
 *   Emission weight 1-3, a posterior (minimum-risk) decoder and folding
 *   sevenths onto triads all scored within a point of this or worse: a
 *   first-order model cannot use what repeats in a song; the GRU can.
 *
 * Cost: the HMM 12·96·96 steps a frame, back-pointers 2 bytes a state a
 * frame; the GRU about 50 k multiply-adds a frame, a net. HARMONY_MAX_FRAMES bounds both.
 */
#include "getmusic.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harmony_table.h"

/* ======================================================================== */
/* Parameters (chosen with bench/bench_harmonize.c eval)                     */
/* ======================================================================== */

#ifndef HARMONY_EMIT_WEIGHT
#define HARMONY_EMIT_WEIGHT 1.0
#endif
#ifndef HARMONY_STAY_BONUS
#define HARMONY_STAY_BONUS (-1.0)
#endif
#define KEY_CHANGE_LOGP (-9.0)   /* log P(key change) per frame: about once in 8000 frames */
#define KEY0_LOGP (-0.7)         /* log P(key 0 at the start): the melody was moved to C */
#define HOLD_CAP_QUARTERS 2.0    /* a long note weighs no more than a half note */
#define HARMONY_MAX_FRAMES 32768 /* 72 MB of back-pointers at most */

#define N_CH (12 * GM_N_QUALITIES) /* chords: root * 8 + quality */
#define N_ST (12 * N_CH)           /* states: key * 96 + chord */

/* Chord c moved by k semitones. */
static inline int rot(int c, int k) { return ((c / GM_N_QUALITIES + k + 120) % 12) * GM_N_QUALITIES + c % GM_N_QUALITIES; }

/* ======================================================================== */
/* The melody per frame                                                      */
/* ======================================================================== */

/* Adds note n's share of each frame it sounds in to h: [n_frames][3][12],
 * quarters per (onset class, pitch class). fticks: [n_frames+1]. */
static void add_note(float *h, const int64_t *fticks, int nf, int tpq, int64_t bar0, const gm_note *n) {
    int64_t a = n->tick, z = n->tick + (n->duration > 0 ? n->duration : 1);
    int lo = 0, hi = nf; /* the frame of the onset: last frame starting at or before a */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (fticks[mid] <= a) lo = mid; else hi = mid;
    }
    double left = HOLD_CAP_QUARTERS;
    for (int f = lo; f < nf && fticks[f] < z && left > 0; f++) {
        int64_t s = a > fticks[f] ? a : fticks[f], e = z < fticks[f + 1] ? z : fticks[f + 1];
        double q = (double)(e - s) / tpq;
        if (q <= 0) continue;
        if (q > left) q = left;
        left -= q;
        int cls = f > lo ? GM_HARMONY_HELD : (a - bar0) % tpq == 0 ? GM_HARMONY_ON_BEAT : GM_HARMONY_OFF_BEAT;
        h[((size_t)f * 3 + cls) * 12 + n->pitch % 12] += (float)q;
    }
}

/* The frames' start ticks ([nf+1]) and melody histograms ([nf][3][12]) of s on bm. */
int gm_harmony_frames(const gm_score *s, const gm_barmap *bm, int frames, int64_t *fticks, float *h) {
    const int nb = bm->n_bars, nf = nb * frames;
    for (int b = 0; b < nb; b++)
        for (int k = 0; k < frames; k++) fticks[b * frames + k] = gm_barmap_frame_tick(bm, b, frames, k);
    fticks[nf] = bm->bar_tick[nb];
    memset(h, 0, (size_t)nf * 36 * sizeof *h);
    int tpq = s->ticks_per_quarter > 0 ? s->ticks_per_quarter : 1, any = 0;
    for (int i = 0; i < s->n_tracks; i++) {
        const gm_track *t = &s->tracks[i];
        if (t->is_drum) continue;
        for (size_t k = 0; k < t->n_notes; k++) {
            const gm_note *n = &t->notes[k];
            if (n->tick < fticks[0] || n->tick >= fticks[nf]) continue;
            int b = gm_barmap_bar_of_tick(bm, n->tick);
            add_note(h, fticks, nf, tpq, bm->bar_tick[b], n);
            any = 1;
        }
    }
    return any;
}

/* ======================================================================== */
/* Viterbi over (key, chord)                                                 */
/* ======================================================================== */

/* emit: [N_ST] scores of frame h ([3][12]) for every (key, chord): the
 * melody's pitch classes as scale degrees of key k under chord c (the table
 * is in C, so both move by -k). */
static void frame_emit(const float *h, float *emit) {
    int nz[36], n = 0; /* the frame's non-zero cells: a melody uses few */
    for (int i = 0; i < 36; i++)
        if (h[i] > 0) nz[n++] = i;
    for (int k = 0; k < 12; k++)
        for (int c = 0; c < N_CH; c++) {
            const float (*e)[12] = harmony_emit[rot(c, -k)];
            double v = 0;
            for (int i = 0; i < n; i++) v += h[nz[i]] * e[nz[i] / 12][(nz[i] % 12 - k + 12) % 12];
            emit[k * N_CH + c] = (float)(HARMONY_EMIT_WEIGHT * v);
        }
}

/* The transition table of a frame at position pos of a bar of `frames`. */
static const float (*trans_of(int frames, int pos))[N_CH] {
    return frames == 1 ? harmony_trans[GM_HARMONY_BAR] : harmony_trans[pos ? GM_HARMONY_MID_BAR : GM_HARMONY_BAR_START];
}

/* One step: prev → cur ([N_ST]), back-pointers bk ([N_ST], previous state). */
static void step(const float *prev, const float (*tr)[N_CH], const float *emit, float *cur, uint16_t *bk) {
    int best_other[12];
    for (int k = 0; k < 12; k++) { /* the best state outside key k: where a change into k comes from */
        int b = -1;
        for (int i = 0; i < N_ST; i++)
            if (i / N_CH != k && (b < 0 || prev[i] > prev[b])) b = i;
        best_other[k] = b;
    }
    for (int k = 0; k < 12; k++) {
        const float *pk = prev + k * N_CH;
        for (int c2 = 0; c2 < N_CH; c2++) {
            const int r2 = rot(c2, -k);
            float bv = -INFINITY;
            int bi = 0;
            for (int c1 = 0; c1 < N_CH; c1++) {
                float v = pk[c1] + tr[rot(c1, -k)][r2] + (c1 == c2 ? (float)HARMONY_STAY_BONUS : 0.0f);
                if (v > bv) { bv = v; bi = k * N_CH + c1; }
            }
            int o = best_other[k];
            float jv = prev[o] + (float)KEY_CHANGE_LOGP + harmony_unigram[r2];
            if (jv > bv) { bv = jv; bi = o; }
            cur[k * N_CH + c2] = bv + emit[k * N_CH + c2];
            bk[k * N_CH + c2] = (uint16_t)bi;
        }
    }
}

static int decode(const float *h, int nf, int frames, gm_chord *out, char *err) {
    float *emit = malloc(N_ST * sizeof *emit), *prev = malloc(N_ST * sizeof *prev), *cur = malloc(N_ST * sizeof *cur);
    uint16_t *back = malloc((size_t)nf * N_ST * sizeof *back);
    int rc = -1;
    if (!emit || !prev || !cur || !back) {
        gm_fail(err, "harmonising: out of memory for %d frames", nf);
        goto done;
    }
    for (int f = 0; f < nf; f++) {
        frame_emit(h + (size_t)f * 36, emit);
        if (f == 0) {
            for (int k = 0; k < 12; k++)
                for (int c = 0; c < N_CH; c++)
                    cur[k * N_CH + c] = (float)(k ? log((1 - exp(KEY0_LOGP)) / 11) : KEY0_LOGP) +
                                        harmony_unigram[rot(c, -k)] + emit[k * N_CH + c];
        } else {
            step(prev, trans_of(frames, f % frames), emit, cur, back + (size_t)f * N_ST);
        }
        float *t = prev; prev = cur; cur = t;
    }
    int st = 0;
    for (int i = 1; i < N_ST; i++)
        if (prev[i] > prev[st]) st = i;
    for (int f = nf - 1; f >= 0; f--) {
        int c = st % N_CH;
        out[f] = (gm_chord){(int8_t)(c / GM_N_QUALITIES), (int8_t)(c % GM_N_QUALITIES)};
        if (f > 0) st = back[(size_t)f * N_ST + st];
    }
    rc = 0;
done:
    GM_FREE_ALL(emit, prev, cur, back);
    return rc;
}

/* ======================================================================== */
/* The learnt harmoniser's scores → a progression                            */
/* ======================================================================== */

/* Pitch-class set of chord c (root·8 + quality). */
static unsigned tones_of(int c) { return gm_chord_tones((gm_chord){(int8_t)(c / GM_N_QUALITIES), (int8_t)(c % GM_N_QUALITIES)}); }

/* Per frame, the chord whose tones the likely chords share most: argmax_c
 * Σ_c2 P(c2)·|tones(c) ∩ tones(c2)| / |tones(c)| (minimum risk for the share
 * of an accompaniment's chord tones that the songwriter's chord holds). On
 * the validation melodies it agrees with the labels' tones a point more than
 * the most likely chord (0.694 against 0.685) at the same root accuracy and
 * changes about as often as the labels (1.07 a bar against 1.24); a cost per
 * change only made it change less. logits: [T][N_CH] → out [T]. */
static void choose_chords(const float *logits, int T, gm_chord *out) {
    float share[N_CH][N_CH]; /* [c][c2]; 36 KB, built per call (no shared state between threads) */
    for (int a = 0; a < N_CH; a++)
        for (int b = 0; b < N_CH; b++)
            share[a][b] = (float)__builtin_popcount(tones_of(a) & tones_of(b)) / (float)__builtin_popcount(tones_of(a));
    for (int t = 0; t < T; t++) {
        const float *l = logits + (size_t)t * N_CH;
        float p[N_CH], mx = l[0];
        double z = 0;
        for (int c = 1; c < N_CH; c++) mx = l[c] > mx ? l[c] : mx;
        for (int c = 0; c < N_CH; c++) z += p[c] = expf(l[c] - mx);
        int best = 0;
        float best_gain = -1;
        for (int c = 0; c < N_CH; c++) {
            double g = 0;
            for (int c2 = 0; c2 < N_CH; c2++) g += p[c2] * share[c][c2];
            if (g / z > best_gain) best_gain = (float)(g / z), best = c;
        }
        out[t] = (gm_chord){(int8_t)(best / GM_N_QUALITIES), (int8_t)(best % GM_N_QUALITIES)};
    }
}

/* The network runs on half bars; a model of whole bars takes each bar's
 * first half. h: [nb·2][36]. */
static int decode_net(const gm_harmonizer *net, const float *h, int nb, int frames, gm_chord *out, char *err) {
    const int T = nb * 2;
    float *logits = malloc((size_t)T * N_CH * sizeof *logits);
    gm_chord *half = malloc((size_t)T * sizeof *half);
    int rc = -1;
    if (!logits || !half) gm_fail(err, "harmonising: out of memory for %d frames", T);
    else if (!gm_harmonizer_logits(net, h, T, logits, err)) {
        choose_chords(logits, T, half);
        for (int b = 0; b < nb; b++)
            for (int k = 0; k < frames; k++) out[b * frames + k] = half[b * 2 + k * 2 / frames];
        rc = 0;
    }
    free(logits);
    free(half);
    return rc;
}

/* ======================================================================== */
/* Entry                                                                     */
/* ======================================================================== */

int gm_chords_harmonize(const gm_score *s, const gm_barmap *bm, int frames, const gm_harmonizer *net, gm_chord *out,
                        char *err) {
    if (!s || !bm || !out) return gm_fail(err, "harmonising: null argument");
    if (frames < 1 || frames > GM_MAX_CHORD_FRAMES)
        return gm_fail(err, "harmonising: %d frames per bar (1..%d allowed)", frames, GM_MAX_CHORD_FRAMES);
    const int nb = bm->n_bars;
    if (nb <= 0) return 0;
    if (!bm->bar_tick) return gm_fail(err, "harmonising: bar map has no bar lines");
    if ((int64_t)nb * 2 > HARMONY_MAX_FRAMES)
        return gm_fail(err, "harmonising: %d bars is more than the %d we choose chords for", nb, HARMONY_MAX_FRAMES / 2);
    const int F = net ? 2 : frames, nf = nb * F; /* the network reads half bars */
    int64_t *fticks = malloc(((size_t)nf + 1) * sizeof *fticks);
    float *h = malloc((size_t)nf * 36 * sizeof *h);
    int rc;
    if (!fticks || !h) rc = gm_fail(err, "harmonising: out of memory for %d frames", nf);
    else if (!gm_harmony_frames(s, bm, F, fticks, h)) {
        for (int f = 0; f < nb * frames; f++) out[f] = (gm_chord){-1, -1}; /* no melody: no chord */
        rc = 0;
    } else rc = net ? decode_net(net, h, nb, frames, out, err) : decode(h, nf, frames, out, err);
    free(fticks);
    free(h);
    return rc;
}

/* ======================================================================== */
/* Is it a bare melody?                                                      */
/* ======================================================================== */

typedef struct { int64_t start, end; } span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

int gm_score_is_bare_melody(const gm_score *s) {
    size_t n = 0, lead_only = 1;
    for (int i = 0; i < s->n_tracks; i++)
        if (!s->tracks[i].is_drum && s->tracks[i].n_notes) {
            n += s->tracks[i].n_notes;
            lead_only &= gm_track_role(&s->tracks[i]) == GM_ROLE_LEAD;
        }
    if (n == 0) return 0;
    if (lead_only) return 1;
    span *v = malloc(n * sizeof *v);
    if (!v) return 0; /* out of memory: the recogniser, as before */
    size_t m = 0;
    for (int i = 0; i < s->n_tracks; i++)
        for (size_t k = 0; k < s->tracks[i].n_notes && !s->tracks[i].is_drum; k++) {
            const gm_note *x = &s->tracks[i].notes[k];
            v[m++] = (span){x->tick, x->tick + (x->duration > 0 ? x->duration : 1)};
        }
    qsort(v, m, sizeof *v, cmp_span);
    /* An onset meets another note when one started earlier still sounds
     * (the latest end so far passes it) or one starts with it. */
    size_t meets = 0;
    int64_t reach = INT64_MIN;
    for (size_t i = 0; i < m; i++) {
        int with_next = i + 1 < m && v[i + 1].start == v[i].start, with_prev = i > 0 && v[i - 1].start == v[i].start;
        meets += reach > v[i].start || with_next || with_prev;
        if (v[i].end > reach) reach = v[i].end;
    }
    free(v);
    return meets * 10 <= m;
}
