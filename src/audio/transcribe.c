/*
 * transcribe.c — from a recording to a score: beats and bars, chords, melody.
 *
 * One streaming pass over the audio (src/audio/audio.c hands out mono blocks) feeds
 * three aubio analysers hop by hop and keeps only small per-hop features, so a
 * long file costs memory in proportion to its length in hops (352 bytes per
 * 46 ms: four floats a hop and 72 chroma floats a frame of four hops; about
 * 27 MB an hour, up to twice that while the arrays double), never its samples:
 *
 *   aubio_onset   onset times and the onset detection function per hop
 *   aubio_pitch   yinfast (YIN through the FFT): a MIDI pitch and a confidence per hop (the melody)
 *   aubio_pvoc    a spectrum per hop, folded into a chromagram of 36 bins per
 *                 octave (a third of a semitone each, so that the tuning can
 *                 be corrected afterwards) in two bands, bass and treble,
 *                 summed over 4 hops; and the spectral peaks' deviation from
 *                 A440 as one complex number (the tuning estimate).
 *
 * Afterwards, in seconds:
 *   - the beat grid: beats tracked by dynamic programming on the onset
 *     function (aubio_tempo locked onto off-beats of POP909's piano, F 0.42
 *     on 3 songs), extended to cover the whole recording, or a fixed --bpm
 *     grid aligned to the onsets;
 *   - downbeats: of the bpb possible phases, the one whose beats start the
 *     largest changes of harmony (chroma novelty, the bass counting double);
 *   - the score: a tempo per beat and time signatures (a lead-in bar, a
 *     pickup bar, then bars of the metre), so bar lines fall on the audio's;
 *   - chords: the chroma of each half bar of that score, through the same
 *     key/chord HMM as symbolic input (gm_chords_from_chroma, chord.c);
 *   - melody: voiced hops (confident, loud enough) cut into notes where the
 *     pitch moves by a semitone or an onset re-strikes, then snapped to 16ths.
 */
#include "getmusic.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

gm_transcribe_params gm_transcribe_default_params(void) {
    return (gm_transcribe_params){.metre_num = 4, .metre_den = 4, .melody = 1, .chords = 1, .quantize = 1,
                                  .max_seconds = 14400};
}

void gm_transcription_free(gm_transcription *t) {
    if (!t) return;
    GM_FREE_ALL(t->beats, t->downbeat, t->chords, t->chord_start, t->notes);
    memset(t, 0, sizeof *t);
}

#ifdef GM_NO_AUDIO
static int no_audio(gm_transcription *info, char *err) {
    if (info) memset(info, 0, sizeof *info);
    return gm_fail(err, "audio support not built (install libsndfile1-dev and libaubio-dev, then rebuild)");
}
int gm_transcribe_file(const char *path, const gm_transcribe_params *p, gm_score *out, gm_transcription *info,
                       char *err) {
    (void)path, (void)p, (void)out;
    return no_audio(info, err);
}
int gm_transcribe_mem(const void *data, size_t size, const gm_transcribe_params *p, gm_score *out,
                      gm_transcription *info, char *err) {
    (void)data, (void)size, (void)p, (void)out;
    return no_audio(info, err);
}
#else
#include <aubio/aubio.h>

/* ======================================================================== */
/* Parameters (measured on rendered POP909 songs, bench/bench_transcribe.c)  */
/* ======================================================================== */

#define CF_HOPS 4            /* hops per chroma frame (about 46 ms) */
#define CF_BINS 36           /* chroma bins per octave: a third of a semitone each */
#define TREBLE_LO 100.0      /* Hz: the treble chroma band */
#define TREBLE_HI 5000.0
#define BASS_LO 30.0         /* Hz: the bass chroma band */
#define BASS_HI 250.0
/* Weight of the bass band in a chord frame's chroma. Measured on 7 POP909
 * songs (30 s each), per-beat root accuracy: 0 → 48%, 1 → 51%, 3 → 60%,
 * 6 → 60%, 12 → 50%; square-root or log compression and keeping only the
 * peaks were no better. */
#define CHROMA_BASS_WEIGHT 3.0
#define PITCH_CONF 0.8       /* YIN confidence of a voiced hop (aubio 0.4.9's yinfft reports 0 always) */
#define GATE_BELOW_LOUD 30.0 /* dB: a voiced hop is at most this far below the loud level */
#define GATE_FLOOR -60.0     /* dB: and above this, whatever the level */
#define NOTE_MIN_S 0.06      /* shorter notes are dropped */
#define NOTE_MOVE 0.6        /* semitones: a pitch this far from the note's is another note... */
#define NOTE_MOVE_HOPS 3     /* ...once it holds this many hops */
#define NOTE_GAP_HOPS 3      /* unvoiced hops that end a note */
#define ONSET_RISE_DB 3.0    /* an onset re-strikes a held note when the level rises this much */
#ifndef BEAT_PRIOR_BPM
#define BEAT_PRIOR_BPM 90.0  /* tempo prior of the beat tracker, log-normal... */
#endif
#ifndef BEAT_PRIOR_OCTAVES
#define BEAT_PRIOR_OCTAVES 1.0 /* ...with this deviation */
#endif
#define BEAT_TIGHTNESS 100.0 /* penalty on log(interval / period)², librosa's default */
#define MAX_BPB 64           /* beats per bar at most: 32/2 counted in quarters (check_params) */

/* ======================================================================== */
/* Features of one pass                                                      */
/* ======================================================================== */

typedef struct {
    int sr, hop;            /* sample rate; hop in frames (a power of two) */
    double hop_s;           /* seconds per hop */
    int64_t n_frames;       /* samples (mono frames) read */
    float *pitch, *conf, *db; /* [n_hops] yinfast MIDI pitch (0 = none), confidence, level in dB */
    float *odf;             /* [n_hops] onset detection function */
    int n_hops, cap_hops;
    double *onsets; int n_onsets, cap_onsets;  /* aubio onset times, seconds */
    float *chroma;          /* [n_cf][2][CF_BINS] bass then treble, frame j = [j, j+1)·cf_s */
    int n_cf, cap_cf;
    double cf_s;            /* seconds per chroma frame */
    double tune_re, tune_im; /* Σ |peak|² e^{2πi·cents/100} over spectral peaks */
} features;

static void features_free(features *f) {
    GM_FREE_ALL(f->pitch, f->conf, f->db, f->odf, f->onsets, f->chroma);
}

/* Grows *p (elements of `size` bytes, capacity *cap) to hold `need`. */
static int grow(void **p, int *cap, int need, size_t size) {
    if (need <= *cap) return 0;
    int nc = *cap ? *cap : 256;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * size);
    if (!q) return -1;
    memset((char *)q + (size_t)*cap * size, 0, (size_t)(nc - *cap) * size);
    *p = q;
    *cap = nc;
    return 0;
}

static int push_time(double **v, int *n, int *cap, double t) {
    if (grow((void **)v, cap, *n + 1, sizeof **v)) return -1;
    (*v)[(*n)++] = t;
    return 0;
}

/* ======================================================================== */
/* The streaming pass                                                        */
/* ======================================================================== */

typedef struct {
    aubio_onset_t *onset;
    aubio_pitch_t *pitch;
    aubio_pvoc_t *pv;
    fvec_t *in, *out1, *out2;
    cvec_t *grain;
    int win_pv;             /* chroma FFT size */
    int16_t *bin_sub;       /* [win_pv/2+1] chroma bin of each FFT bin, -1 outside both bands */
    uint8_t *bin_band;      /* [win_pv/2+1] bit 0 bass, bit 1 treble */
} analysers;

static void quiet_log(sint_t level, const char_t *msg, void *data) { (void)level, (void)msg, (void)data; }

static void analysers_free(analysers *a) {
    if (a->onset) del_aubio_onset(a->onset);
    if (a->pitch) del_aubio_pitch(a->pitch);
    if (a->pv) del_aubio_pvoc(a->pv);
    if (a->in) del_fvec(a->in);
    if (a->out1) del_fvec(a->out1);
    if (a->out2) del_fvec(a->out2);
    if (a->grain) del_cvec(a->grain);
    free(a->bin_sub);
    free(a->bin_band);
}

/* Hop: the largest power of two at most sr/64 (512 at 44.1 and 48 kHz,
 * 256 at 22.05 kHz), so every analyser sees about the same time spans. */
static int analysers_init(analysers *a, features *f, int sr, char *err) {
    memset(a, 0, sizeof *a);
    /* aubio logs its errors to stderr itself; ours are return values. */
    aubio_log_set_function(quiet_log, NULL);
    int hop = 64;
    while (hop * 2 <= sr / 64) hop *= 2;
    f->sr = sr;
    f->hop = hop;
    f->hop_s = (double)hop / sr;
    f->cf_s = CF_HOPS * f->hop_s;
    a->win_pv = 8 * hop;
    a->onset = new_aubio_onset("specflux", 2 * hop, hop, sr);
    a->pitch = new_aubio_pitch("yinfast", 4 * hop, hop, sr);
    a->pv = new_aubio_pvoc(a->win_pv, hop);
    a->in = new_fvec(hop);
    a->out1 = new_fvec(1);
    a->out2 = new_fvec(1);
    a->grain = new_cvec(a->win_pv);
    int nb = a->win_pv / 2 + 1;
    a->bin_sub = malloc((size_t)nb * sizeof *a->bin_sub);
    a->bin_band = malloc((size_t)nb);
    if (!a->onset || !a->pitch || !a->pv || !a->in || !a->out1 || !a->out2 || !a->grain || !a->bin_sub ||
        !a->bin_band) {
        analysers_free(a);
        return gm_fail(err, "audio analysis: cannot set up aubio at %d Hz", sr);
    }
    aubio_pitch_set_unit(a->pitch, "midi");
    aubio_pitch_set_silence(a->pitch, -70);
    for (int k = 0; k < nb; k++) {
        double hz = (double)k * sr / a->win_pv;
        a->bin_band[k] = (uint8_t)((hz >= BASS_LO && hz < BASS_HI) | (hz >= TREBLE_LO && hz < TREBLE_HI) << 1);
        if (!a->bin_band[k] || k == 0) { a->bin_sub[k] = -1, a->bin_band[k] = 0; continue; }
        double m = 69 + 12 * log2(hz / 440); /* MIDI pitch; sub-bin 0 is C at A440 */
        int sub = (int)floor(m * (CF_BINS / 12) + 0.5);
        a->bin_sub[k] = (int16_t)(((sub % CF_BINS) + CF_BINS) % CF_BINS);
    }
    return 0;
}

/* Folds one spectrum into the chroma frame of time t and the tuning sum. */
static int add_spectrum(const analysers *a, features *f, double t) {
    int j = t < 0 ? 0 : (int)(t / f->cf_s);
    if (grow((void **)&f->chroma, &f->cap_cf, 2 * CF_BINS * (j + 1), sizeof *f->chroma)) return -1;
    if (j + 1 > f->n_cf) f->n_cf = j + 1;
    float *row = f->chroma + (size_t)j * 2 * CF_BINS; /* [2][CF_BINS] */
    const smpl_t *mag = a->grain->norm;
    int nb = a->win_pv / 2 + 1;
    for (int k = 1; k < nb - 1; k++) {
        if (!a->bin_band[k]) continue;
        if (a->bin_band[k] & 1) row[a->bin_sub[k]] += mag[k];
        if (a->bin_band[k] & 2) row[CF_BINS + a->bin_sub[k]] += mag[k];
        /* A peak: its frequency by parabolic interpolation on the log
         * magnitude, then its deviation from the equal-tempered grid. */
        if ((a->bin_band[k] & 2) && mag[k] > mag[k - 1] && mag[k] >= mag[k + 1] && mag[k] > 1e-4) {
            double l = log(mag[k - 1] + 1e-12), c = log(mag[k]), r = log(mag[k + 1] + 1e-12);
            double den = l - 2 * c + r, d = den < 0 ? 0.5 * (l - r) / den : 0;
            double m = 69 + 12 * log2(((double)k + d) * f->sr / a->win_pv / 440);
            double w = (double)mag[k] * mag[k], ang = 2 * M_PI * (m - floor(m + 0.5));
            f->tune_re += w * cos(ang);
            f->tune_im += w * sin(ang);
        }
    }
    return 0;
}

/* Runs every analyser on one hop of samples (a->in). */
static int analyse_hop(analysers *a, features *f, char *err) {
    int i = f->n_hops;
    if (i + 1 > f->cap_hops) { /* the four per-hop arrays share one capacity */
        int c = f->cap_hops, c1 = c, c2 = c, c3 = c;
        if (grow((void **)&f->pitch, &f->cap_hops, i + 1, sizeof *f->pitch) ||
            grow((void **)&f->conf, &c1, f->cap_hops, sizeof *f->conf) ||
            grow((void **)&f->db, &c2, f->cap_hops, sizeof *f->db) ||
            grow((void **)&f->odf, &c3, f->cap_hops, sizeof *f->odf))
            goto oom;
    }
    double e = 0;
    for (int k = 0; k < f->hop; k++) e += (double)a->in->data[k] * a->in->data[k];
    f->db[i] = (float)(10 * log10(e / f->hop + 1e-12));

    aubio_onset_do(a->onset, a->in, a->out2);
    f->odf[i] = (float)aubio_onset_get_descriptor(a->onset);
    if (a->out2->data[0] != 0 && push_time(&f->onsets, &f->n_onsets, &f->cap_onsets, aubio_onset_get_last_s(a->onset)))
        goto oom;
    aubio_pitch_do(a->pitch, a->in, a->out1);
    f->pitch[i] = isfinite(a->out1->data[0]) ? (float)a->out1->data[0] : 0;
    f->conf[i] = (float)aubio_pitch_get_confidence(a->pitch);
    aubio_pvoc_do(a->pv, a->in, a->grain);
    /* The window ending at this hop is centred half a window back. */
    if (add_spectrum(a, f, ((double)(i + 1) * f->hop - a->win_pv / 2.0) / f->sr)) goto oom;
    f->n_hops++;
    return 0;
oom:
    return gm_fail(err, "audio analysis: out of memory after %.0f s of audio", (double)i * f->hop_s);
}

/* Streams the whole recording through the analysers. */
static int analyse(gm_audio *au, const gm_transcribe_params *p, features *f, char *err) {
    gm_audio_info ai = gm_audio_get_info(au);
    if (ai.frames > 0 && (double)ai.frames / ai.sample_rate > p->max_seconds)
        return gm_fail(err, "recording is %.0f s long, more than the %.0f s allowed", (double)ai.frames / ai.sample_rate,
                       p->max_seconds);
    analysers a;
    if (analysers_init(&a, f, ai.sample_rate, err)) return -1;
    float buf[4096];
    int fill = 0, rc = 0;
    for (;;) {
        long got = gm_audio_read(au, buf, sizeof buf / sizeof *buf, err);
        if (got < 0) { rc = -1; break; }
        int end = got == 0;
        if (end && fill == 0) break;
        for (long k = 0; k < got || (end && fill > 0); k++) {
            if (k < got) a.in->data[fill++] = buf[k];
            else while (fill < f->hop) a.in->data[fill++] = 0; /* last, partial hop */
            if (fill < f->hop) continue;
            fill = 0;
            if ((rc = analyse_hop(&a, f, err))) break;
        }
        if (rc || end) break;
        f->n_frames += got;
        if ((double)f->n_frames / f->sr > p->max_seconds) {
            rc = gm_fail(err, "recording is longer than the %.0f s allowed", p->max_seconds);
            break;
        }
        if (p->progress) p->progress(p->user_data, (size_t)f->n_frames, ai.frames > 0 ? (size_t)ai.frames : 0);
    }
    analysers_free(&a);
    return rc;
}

/* ======================================================================== */
/* Chroma                                                                    */
/* ======================================================================== */

/* Tuning in cents (-50..50) from the peaks' circular mean. */
static double tuning_cents(const features *f) {
    if (f->tune_re == 0 && f->tune_im == 0) return 0;
    return atan2(f->tune_im, f->tune_re) / (2 * M_PI) * 100;
}

/* Sums the chroma over [t0, t1) into bass[12] and treble[12], each pitch
 * class taking the three sub-bins centred on it after the tuning shift. */
static void chroma_span(const features *f, double t0, double t1, int shift, float *bass, float *treble) {
    memset(bass, 0, 12 * sizeof *bass);
    memset(treble, 0, 12 * sizeof *treble);
    int j0 = (int)floor(t0 / f->cf_s + 0.5), j1 = (int)floor(t1 / f->cf_s + 0.5);
    if (j0 < 0) j0 = 0;
    if (j1 > f->n_cf) j1 = f->n_cf;
    for (int j = j0; j < j1; j++) {
        const float *row = f->chroma + (size_t)j * 2 * CF_BINS;
        for (int s = 0; s < CF_BINS; s++) {
            /* Sub-bin 3p is pitch class p at A440; a tuning shift of one
             * sub-bin moves every class's three bins along (s - shift + 1
             * stays in 0..37 for shift in -1..1). */
            int pc = (s - shift + 1) / 3 % 12;
            bass[pc] += row[s];
            treble[pc] += row[CF_BINS + s];
        }
    }
}

/* ======================================================================== */
/* Beat grid                                                                 */
/* ======================================================================== */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median interval of v[0..n-1] (n >= 2). */
static double median_interval(const double *v, int n) {
    double *d = malloc((size_t)(n - 1) * sizeof *d);
    if (!d) return v[1] - v[0];
    for (int i = 0; i + 1 < n; i++) d[i] = v[i + 1] - v[i];
    qsort(d, (size_t)n - 1, sizeof *d, cmp_double);
    double m = d[(n - 1) / 2];
    free(d);
    return m;
}

/* Global beat period in hops: the lag of the onset function's strongest
 * autocorrelation, weighted by a log-normal prior around BEAT_PRIOR_BPM (a
 * tracker's usual cure for picking half or double the tempo). */
static int beat_period(const float *o, int n, double hop_s) {
    int lo = (int)(60.0 / 240 / hop_s), hi = (int)(60.0 / 40 / hop_s);
    if (hi >= n) hi = n - 1;
    int best = (int)(0.5 / hop_s), top = 4 * hi < n ? 4 * hi : n - 1;
    double bv = -1, *ac = calloc((size_t)top + 1, sizeof *ac); /* [top+1] autocorrelation by lag */
    if (!ac || lo < 1) { free(ac); return best; }
    for (int lag = lo / 2; lag <= top; lag++)
        for (int i = lag; i < n; i++) ac[lag] += (double)o[i] * o[i - lag];
    for (int lag = lo; lag <= hi; lag++) {
        /* A comb over the lag's multiples: a true beat period repeats at two
         * and four beats too, where a 3/4-beat lag does not. */
        double v = ac[lag / 2] / 2; /* and at half the lag: a beat is divided in two, 1.5 beats are not */
        for (int k = 1; k <= 4 && k * lag <= top; k++) v += ac[k * lag] / k;
        double bpm = 60.0 / (lag * hop_s), w = log2(bpm / BEAT_PRIOR_BPM) / BEAT_PRIOR_OCTAVES;
        v *= exp(-0.5 * w * w);
        if (v > bv) bv = v, best = lag;
    }
    free(ac);
    return best;
}

/* Beats by dynamic programming (Ellis 2007, as librosa's beat_track): the
 * onset strength at each beat, minus a penalty on each interval's log
 * deviation from the global period. *beats malloc'd [*n], seconds. */
static int track_beats(const features *f, double **beats, int *n_beats) {
    int n = f->n_hops;
    *beats = NULL, *n_beats = 0;
    if (n < 16) return 0;
    float *o = malloc((size_t)n * sizeof *o);          /* [n] normalised onset strength */
    double *score = malloc((size_t)n * sizeof *score); /* [n] best total ending with a beat here */
    int *from = malloc((size_t)n * sizeof *from);      /* [n] previous beat of that best */
    int rc = -1;
    if (!o || !score || !from) goto done;
    double mean = 0, sd = 0;
    for (int i = 0; i < n; i++) mean += f->odf[i];
    mean /= n;
    for (int i = 0; i < n; i++) sd += (f->odf[i] - mean) * (f->odf[i] - mean);
    sd = sqrt(sd / n);
    for (int i = 0; i < n; i++) o[i] = sd > 0 ? (float)(f->odf[i] / sd) : 0;
    int p = beat_period(o, n, f->hop_s);
    for (int i = 0; i < n; i++) {
        double best = 0;
        int bi = -1;
        for (int t = i - 2 * p; t <= i - p / 2; t++) {
            if (t < 0) continue;
            double d = log((double)(i - t) / p), v = score[t] - BEAT_TIGHTNESS * d * d;
            if (bi < 0 || v > best) best = v, bi = t;
        }
        score[i] = o[i] + (bi >= 0 && best > 0 ? best : 0);
        from[i] = bi >= 0 && best > 0 ? bi : -1;
    }
    /* The last beat: the best score in the last period (among local peaks). */
    int end = n - 1;
    for (int i = n - p > 0 ? n - p : 0; i < n; i++)
        if (score[i] > score[end]) end = i;
    int k = 0;
    for (int i = end; i >= 0; i = from[i]) k++;
    if (!(*beats = malloc((size_t)k * sizeof **beats))) goto done;
    *n_beats = k;
    for (int i = end; i >= 0; i = from[i]) (*beats)[--k] = i * f->hop_s;
    /* Beats sit on the hop grid and on noisy onsets, which makes the tempo
     * map jitter by several bpm from beat to beat: pull each beat halfway to
     * its neighbours' midpoint, twice. */
    for (int pass = 0; pass < 2; pass++) {
        double prev = (*beats)[0];
        for (int i = 1; i + 1 < *n_beats; i++) {
            double cur = (*beats)[i];
            (*beats)[i] = 0.5 * cur + 0.25 * (prev + (*beats)[i + 1]);
            prev = cur;
        }
    }
    rc = 0;
done:
    GM_FREE_ALL(o, score, from);
    return rc;
}

/* A fixed period aligned to the onsets: the phase whose grid points carry
 * the most onset detection function. */
static double grid_phase(const features *f, double period) {
    int n_phase = (int)(period / f->hop_s);
    double best = -1, phase = 0;
    for (int ph = 0; ph < n_phase; ph++) {
        double sum = 0;
        for (double t = ph * f->hop_s; t < f->n_hops * f->hop_s; t += period) {
            int i = (int)(t / f->hop_s + 0.5);
            if (i < f->n_hops) sum += f->odf[i];
        }
        if (sum > best) best = sum, phase = ph * f->hop_s;
    }
    return phase;
}

/* The beat grid G[0..n): covers [0, seconds] with G[0] < period. From the
 * tracked beats (track_beats), or a fixed bpm. */
static int beat_grid(const features *f, double bpm, double seconds, double **G, int *n) {
    double *b = NULL;
    int nb = 0, cap = 0;
    if (bpm <= 0) {
        if (track_beats(f, &b, &nb)) goto oom;
        cap = nb;
    }
    if (bpm > 0 || nb < 4) {
        free(b), b = NULL, nb = cap = 0;
        double per = 60.0 / (bpm > 0 ? bpm : 120);
        for (double t = grid_phase(f, per); t < seconds + per; t += per)
            if (push_time(&b, &nb, &cap, t)) goto oom;
    }
    if (nb == 0 && push_time(&b, &nb, &cap, 0)) goto oom;
    /* Extend: back to time 0, on to the end, at the edge beats' period. */
    double p0 = nb >= 2 ? b[1] - b[0] : 0.5, p1 = nb >= 2 ? b[nb - 1] - b[nb - 2] : 0.5;
    int before = b[0] > 1e-3 ? (int)floor(b[0] / p0 + 1e-9) : 0;
    int after = 0;
    while (b[nb - 1] + after * p1 < seconds) after++;
    double *g = malloc((size_t)(before + nb + after) * sizeof *g);
    if (!g) goto oom;
    for (int k = 0; k < before; k++) g[k] = b[0] - (before - k) * p0;
    memcpy(g + before, b, (size_t)nb * sizeof *b);
    for (int k = 1; k <= after; k++) g[before + nb + k - 1] = b[nb - 1] + k * p1;
    *G = g;
    *n = before + nb + after;
    free(b);
    return 0;
oom:
    free(b);
    return -1;
}

/* Downbeat phase: the phase of the grid whose beats start the largest
 * changes of harmony, two beats before against two beats after; the bass
 * counts double, since bass lines move at bar lines. */
static int downbeat_phase(const features *f, const double *G, int n, int bpb, int shift) {
    if (bpb <= 1 || bpb > MAX_BPB || n < 2 * bpb) return 0;
    float *v = malloc((size_t)n * 24 * sizeof *v); /* [n][24] per beat: bass[12], treble[12] unit vectors */
    if (!v) return 0;
    for (int j = 0; j < n; j++) {
        float *vj = v + (size_t)j * 24;
        chroma_span(f, G[j], j + 1 < n ? G[j + 1] : G[j] + (G[j] - G[j - 1]), shift, vj, vj + 12);
        for (int h = 0; h < 2; h++) {
            double s = 0;
            for (int k = 0; k < 12; k++) s += vj[12 * h + k] * vj[12 * h + k];
            for (int k = 0; k < 12 && s > 0; k++) vj[12 * h + k] /= (float)sqrt(s);
        }
    }
    double score[MAX_BPB] = {0};
    for (int j = 2; j + 2 <= n; j++) {
        double nov = 0;
        for (int h = 0; h < 2; h++) {
            double dot = 0, na = 0, nb = 0;
            for (int k = 0; k < 12; k++) {
                double a = v[(j - 2) * 24 + 12 * h + k] + v[(j - 1) * 24 + 12 * h + k];
                double b = v[j * 24 + 12 * h + k] + v[(j + 1) * 24 + 12 * h + k];
                dot += a * b, na += a * a, nb += b * b;
            }
            nov += (h == 0 ? 2 : 1) * (na > 0 && nb > 0 ? 1 - dot / sqrt(na * nb) : 0);
        }
        score[j % bpb] += nov;
    }
    free(v);
    int best = 0;
    for (int k = 1; k < bpb; k++)
        if (score[k] > score[best]) best = k;
    return best;
}

/* ======================================================================== */
/* Melody                                                                    */
/* ======================================================================== */

/* Level (dB) under which a hop is not melody: GATE_BELOW_LOUD under the
 * 95th percentile of the recording's hop levels, and never under the floor. */
static double level_gate(const features *f) {
    int hist[141] = {0}, n = 0; /* dB -140..0 in 1 dB bins */
    for (int i = 0; i < f->n_hops; i++) {
        int b = (int)floor(f->db[i]) + 140;
        hist[b < 0 ? 0 : b > 140 ? 140 : b]++, n++;
    }
    int seen = 0, loud = 140;
    for (int b = 0; b <= 140; b++)
        if ((seen += hist[b]) >= 0.95 * n) { loud = b; break; }
    double g = loud - 140 - GATE_BELOW_LOUD;
    return g > GATE_FLOOR ? g : GATE_FLOOR;
}

/* Seconds at the centre of pitch hop i: yinfast's window of four hops ends
 * with the hop. */
static double pitch_time(const features *f, int i) { return (i - 1) * f->hop_s; }

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Closes the note of hops [i0, i1) (pitches q[]) into *v if long enough:
 * its pitch is the median of its hops' pitches. */
static int close_note(const features *f, const float *q, int i0, int i1, gm_audio_note **v, int *n, int *cap) {
    if (i1 <= i0 || (i1 - i0) * f->hop_s < NOTE_MIN_S) return 0;
    float *tmp = malloc((size_t)(i1 - i0) * sizeof *tmp);
    if (!tmp) return -1;
    memcpy(tmp, q + i0, (size_t)(i1 - i0) * sizeof *tmp);
    qsort(tmp, (size_t)(i1 - i0), sizeof *tmp, cmp_float);
    int pitch = (int)floor(tmp[(i1 - i0) / 2] + 0.5);
    free(tmp);
    if (pitch < 0 || pitch > 127) return 0;
    if (grow((void **)v, cap, *n + 1, sizeof **v)) return -1;
    (*v)[(*n)++] = (gm_audio_note){pitch_time(f, i0), pitch_time(f, i1), pitch};
    return 0;
}

/* Voiced hops cut into notes: a note ends after NOTE_GAP_HOPS unvoiced hops,
 * when the pitch holds NOTE_MOVE semitones away for NOTE_MOVE_HOPS hops, or
 * at an onset with a rise in level (a repeated note). q: tuned pitches. */
static int melody_notes(const features *f, double tuning, gm_audio_note **out, int *n_out) {
    float *q = malloc((size_t)(f->n_hops + 1) * sizeof *q); /* [n_hops] tuned pitch, 0 = unvoiced */
    if (!q) return -1;
    double gate = level_gate(f);
    for (int i = 0; i < f->n_hops; i++) {
        int voiced = f->conf[i] >= PITCH_CONF && f->db[i] >= gate && f->pitch[i] >= 21 && f->pitch[i] <= 108;
        q[i] = voiced ? (float)(f->pitch[i] - tuning / 100) : 0;
    }
    gm_audio_note *v = NULL;
    int n = 0, cap = 0, start = -1, gap = 0, moved = 0, on = 0, rc = 0;
    float ref = 0;
    for (int i = 0; i < f->n_hops && !rc; i++) {
        double t = pitch_time(f, i);
        int onset = 0;
        while (on < f->n_onsets && f->onsets[on] < t + f->hop_s / 2) onset |= f->onsets[on++] >= t - f->hop_s / 2;
        if (q[i] == 0) {
            if (start >= 0 && ++gap >= NOTE_GAP_HOPS) rc = close_note(f, q, start, i - gap + 1, &v, &n, &cap), start = -1;
            continue;
        }
        gap = 0;
        if (start < 0) { start = i, ref = q[i], moved = 0; continue; }
        if (fabsf(q[i] - ref) > NOTE_MOVE) {
            if (++moved >= NOTE_MOVE_HOPS) { /* a new pitch, begun `moved` hops ago */
                int s = i - moved + 1;
                rc = close_note(f, q, start, s, &v, &n, &cap);
                start = s, ref = q[i], moved = 0;
            }
            continue;
        }
        moved = 0;
        double rise = f->db[i] - (i >= 3 ? fminf(f->db[i - 1], fminf(f->db[i - 2], f->db[i - 3])) : f->db[i]);
        if (onset && rise >= ONSET_RISE_DB && (i - start) * f->hop_s >= 2 * NOTE_MIN_S) {
            rc = close_note(f, q, start, i, &v, &n, &cap);
            start = i, ref = q[i];
        }
    }
    if (!rc && start >= 0) rc = close_note(f, q, start, f->n_hops - gap, &v, &n, &cap);
    free(q);
    if (rc) { free(v); return -1; }
    *out = v;
    *n_out = n;
    return 0;
}

/* ======================================================================== */
/* The score                                                                 */
/* ======================================================================== */

/* How the metre counts the tracked beat: ticks per beat, beats per bar,
 * and the time signature of a bar of k beats. */
typedef struct { int num, den, beat_ticks, bpb; } metre;

static metre metre_of(int num, int den, int tpq) {
    metre m = {num, den, tpq, num};
    if (den == 8 && num % 3 == 0) m.beat_ticks = tpq * 3 / 2, m.bpb = num / 3; /* compound: dotted quarters */
    else if (den == 8) m.beat_ticks = tpq / 2;
    else if (den == 2) m.bpb = 2 * num; /* trackers find quarters */
    return m;
}

static int add_partial_bar(gm_score *s, const metre *m, int64_t tick, int beats) {
    int64_t ticks = (int64_t)beats * m->beat_ticks;
    int tpq = s->ticks_per_quarter;
    /* In eighths when that is exact and short bars need it, else quarters. */
    if (ticks % tpq == 0) return gm_score_add_timesig(s, tick, (int)(ticks / tpq), 4);
    return gm_score_add_timesig(s, tick, (int)(ticks * 2 / tpq), 8);
}

/* Tempo map and metre from the grid G[0..n): grid beat j at tick
 * (lead + j)·beat_ticks, where `lead` is 1 when a lead-in beat spans
 * [0, G[0]); bars of the metre start at beat d0, a pickup bar before it. */
static int score_grid(gm_score *s, const metre *m, const double *G, int n, int d0, int lead) {
    const int tpq = s->ticks_per_quarter;
    uint32_t last = 0;
    for (int j = -lead; j < n; j++) {
        double dur = j < 0 ? G[0] : j + 1 < n ? G[j + 1] - G[j] : (n >= 2 ? G[n - 1] - G[n - 2] : 0.5);
        double us = dur * 1e6 * tpq / m->beat_ticks;
        uint32_t u = us < 1 ? 1 : us > 16777215 ? 16777215 : (uint32_t)(us + 0.5);
        if (u != last && gm_score_add_tempo(s, (int64_t)(lead + j) * m->beat_ticks, u)) return -1;
        last = u;
    }
    if (lead && add_partial_bar(s, m, 0, 1)) return -1;
    if (d0 > 0 && add_partial_bar(s, m, (int64_t)lead * m->beat_ticks, d0)) return -1;
    return gm_score_add_timesig(s, (int64_t)(lead + d0) * m->beat_ticks, m->num, m->den);
}

/* Chords per half bar of the score from the chroma; fills info's chords. */
static int score_chords(gm_score *s, const features *f, int shift, gm_transcription *tr, char *err) {
    gm_barmap bm;
    if (gm_barmap_build(&bm, s, GM_STEPS_PER_QUARTER, err)) return -1;
    int nf = bm.n_bars * 2, rc = -1;
    float *x = calloc((size_t)nf * 12, sizeof *x), *bass = calloc((size_t)nf * 12, sizeof *bass); /* [nf][12] */
    tr->chords = malloc((size_t)(nf > 0 ? nf : 1) * sizeof *tr->chords);
    tr->chord_start = malloc((size_t)(nf + 1) * sizeof *tr->chord_start);
    if (!x || !bass || !tr->chords || !tr->chord_start) { gm_fail(err, "transcribe: out of memory for chords"); goto done; }
    double peak = 0;
    for (int k = 0; k <= nf; k++)
        tr->chord_start[k] = gm_score_tick_to_seconds(s, gm_barmap_frame_tick(&bm, k / 2 < bm.n_bars ? k / 2 : bm.n_bars,
                                                                              2, k / 2 < bm.n_bars ? k % 2 : 0));
    for (int k = 0; k < nf; k++) {
        float tre[12];
        double t0 = tr->chord_start[k], t1 = tr->chord_start[k + 1], e = 0;
        chroma_span(f, t0, t1, shift, bass + (size_t)k * 12, tre);
        for (int pc = 0; pc < 12; pc++) {
            x[(size_t)k * 12 + pc] = tre[pc] + CHROMA_BASS_WEIGHT * bass[(size_t)k * 12 + pc];
            e += tre[pc] + bass[(size_t)k * 12 + pc];
        }
        e /= t1 > t0 ? t1 - t0 : 1;
        if (e > peak) peak = e;
    }
    /* Frames far quieter than the loudest are silence: left to the HMM. */
    for (int k = 0; k < nf; k++) {
        double e = 0, d = tr->chord_start[k + 1] - tr->chord_start[k];
        for (int pc = 0; pc < 12; pc++) e += x[(size_t)k * 12 + pc];
        if (peak <= 1e-6 || e / (d > 0 ? d : 1) < 1e-3 * peak) memset(x + (size_t)k * 12, 0, 12 * sizeof *x);
    }
    if (gm_chords_from_chroma(x, bass, nf, 2, tr->chords, err)) goto done;
    tr->n_chords = nf;
    rc = 0;
done:
    free(x);
    free(bass);
    gm_barmap_free(&bm);
    return rc;
}

/* Block chords (root from C3 up, the other tones above it), one note per
 * run of equal chords. */
static int write_chord_track(gm_score *s, const gm_transcription *tr) {
    int t = gm_score_add_track(s, "chords", 0, 1, 0);
    if (t < 0) return -1;
    for (int k = 0; k < tr->n_chords;) {
        int e = k + 1;
        while (e < tr->n_chords && tr->chords[e].root == tr->chords[k].root && tr->chords[e].quality == tr->chords[k].quality)
            e++;
        gm_chord c = tr->chords[k];
        int64_t a = gm_score_seconds_to_tick(s, tr->chord_start[k]), z = gm_score_seconds_to_tick(s, tr->chord_start[e]);
        uint16_t tones = gm_chord_tones(c);
        for (int pc = 0; c.root >= 0 && pc < 12 && z > a; pc++)
            if (tones >> pc & 1)
                if (gm_track_add_note(&s->tracks[t], a, z - a, 48 + c.root + (pc - c.root + 12) % 12, 70, 1)) return -1;
        k = e;
    }
    return 0;
}

static int write_melody_track(gm_score *s, const gm_transcription *tr) {
    int t = gm_score_add_track(s, "melody", 80, 0, 0);
    if (t < 0) return -1;
    for (int k = 0; k < tr->n_notes; k++) {
        int64_t a = gm_score_seconds_to_tick(s, tr->notes[k].start), z = gm_score_seconds_to_tick(s, tr->notes[k].end);
        if (gm_track_add_note(&s->tracks[t], a, z > a ? z - a : 1, tr->notes[k].pitch, 100, 0)) return -1;
    }
    return 0;
}

/* ======================================================================== */
/* Entry points                                                              */
/* ======================================================================== */

static int check_params(const gm_transcribe_params *p, char *err) {
    if (p->bpm != 0 && !(p->bpm >= 20 && p->bpm <= 400)) return gm_fail(err, "transcribe: bpm %g outside 20..400", p->bpm);
    if (p->metre_num < 1 || p->metre_num > 32 || (p->metre_den != 2 && p->metre_den != 4 && p->metre_den != 8))
        return gm_fail(err, "transcribe: metre %d/%d unsupported (n/2, n/4 or n/8, n in 1..32)", p->metre_num,
                       p->metre_den);
    if (!(p->max_seconds > 0)) return gm_fail(err, "transcribe: max_seconds must be positive");
    return 0;
}

/* The beats worth reporting: the grid within the sounding part of the
 * recording (half a beat of slack either side). */
static int report_beats(const features *f, const double *G, int n, int d0, int bpb, gm_transcription *tr) {
    double gate = level_gate(f), a = -1, z = -1;
    for (int i = 0; i < f->n_hops; i++)
        if (f->db[i] >= gate && f->db[i] > -80) {
            if (a < 0) a = i * f->hop_s;
            z = (i + 1) * f->hop_s;
        }
    tr->beats = malloc((size_t)(n > 0 ? n : 1) * sizeof *tr->beats);
    tr->downbeat = malloc((size_t)(n > 0 ? n : 1));
    if (!tr->beats || !tr->downbeat) return -1;
    double half = n >= 2 ? 0.5 * median_interval(G, n) : 0.25;
    for (int j = 0; j < n && a >= 0; j++)
        if (G[j] >= a - half && G[j] <= z + half) {
            tr->beats[tr->n_beats] = G[j];
            tr->downbeat[tr->n_beats++] = (uint8_t)(((j - d0) % bpb + bpb) % bpb == 0);
        }
    return 0;
}

static int transcribe(gm_audio *au, const gm_transcribe_params *pp, gm_score *out, gm_transcription *info, char *err) {
    gm_transcribe_params p = pp ? *pp : gm_transcribe_default_params();
    if (check_params(&p, err)) return -1;
    features f = {0};
    gm_transcription tr = {0};
    double *G = NULL;
    int nG = 0, have_score = 0;
    if (analyse(au, &p, &f, err)) goto fail;
    gm_audio_info ai = gm_audio_get_info(au);
    tr.sample_rate = ai.sample_rate, tr.channels = ai.channels;
    tr.seconds = (double)f.n_frames / f.sr;
    tr.tuning_cents = tuning_cents(&f);
    int shift = (int)floor(tr.tuning_cents / (100.0 / 3) + 0.5);
    shift = shift < -1 ? -1 : shift > 1 ? 1 : shift;
    gm_score_init(out, 480);
    have_score = 1;
    metre m = metre_of(p.metre_num, p.metre_den, out->ticks_per_quarter);
    tr.beats_per_bar = m.bpb;
    if (beat_grid(&f, p.bpm, tr.seconds, &G, &nG)) goto oom;
    int d0 = downbeat_phase(&f, G, nG, m.bpb, shift);
    int lead = G[0] > 0.02; /* a lead-in beat for [0, G[0]) */
    if (!lead) G[0] = 0;
    tr.bpm = nG >= 2 ? 60 / median_interval(G, nG) : 120;
    if (report_beats(&f, G, nG, d0, m.bpb, &tr) || score_grid(out, &m, G, nG, d0, lead)) goto oom;
    out->end_tick = gm_score_seconds_to_tick(out, tr.seconds);
    if (score_chords(out, &f, shift, &tr, err)) goto fail;
    if (melody_notes(&f, tr.tuning_cents, &tr.notes, &tr.n_notes)) goto oom;
    if (p.melody && write_melody_track(out, &tr)) goto oom;
    if (p.chords && write_chord_track(out, &tr)) goto oom;
    gm_score_sort(out);
    if (p.quantize && gm_score_quantize(out, GM_STEPS_PER_QUARTER, err)) goto fail;
    free(G);
    features_free(&f);
    if (info) *info = tr;
    else gm_transcription_free(&tr);
    return 0;
oom:
    gm_fail(err, "transcribe: out of memory");
fail:
    free(G);
    features_free(&f);
    gm_transcription_free(&tr);
    if (have_score) gm_score_free(out);
    if (info) memset(info, 0, sizeof *info);
    return -1;
}

int gm_transcribe_file(const char *path, const gm_transcribe_params *p, gm_score *out, gm_transcription *info,
                       char *err) {
    if (info) memset(info, 0, sizeof *info);
    if (!out) return gm_fail(err, "transcribe: null argument");
    gm_audio *au = gm_audio_open(path, err);
    if (!au) return -1;
    int rc = transcribe(au, p, out, info, err);
    gm_audio_close(au);
    return rc;
}

int gm_transcribe_mem(const void *data, size_t size, const gm_transcribe_params *p, gm_score *out,
                      gm_transcription *info, char *err) {
    if (info) memset(info, 0, sizeof *info);
    if (!out) return gm_fail(err, "transcribe: null argument");
    gm_audio *au = gm_audio_open_mem(data, size, err);
    if (!au) return -1;
    int rc = transcribe(au, p, out, info, err);
    gm_audio_close(au);
    return rc;
}
#endif /* GM_NO_AUDIO */
