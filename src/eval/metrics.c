/*
 * metrics.c — evaluation metrics.
 *
 * Part one: MusPy's 14 metrics (muspy/metrics/metrics.py, the version with
 * empty_measure_rate and NaN returns), with MusPy's definitions, down to the
 * quirks that change numbers:
 *   - the piece length is the largest note end over every track, drums
 *     included (Track.get_end_time), also for metrics that skip drums;
 *   - empty_beat_rate / empty_measure_rate mark every beat from
 *     start // res to end // res *inclusive* and divide by length // res + 1,
 *     so a note ending on a beat line fills the next beat too, and there is
 *     always one beat (measure) more than the piece fills;
 *   - groove_consistency has n_measures = length // res + 1 (the extra,
 *     usually empty, measure) and NaN below two measures;
 *   - polyphony_rate counts ticks with strictly more than `threshold` (2)
 *     pitches, i.e. three or more, over every tick of the length;
 *   - the piano roll is boolean: two notes of one pitch at once count once;
 *   - pitch_range returns 0 when no selected track has a note, but drum
 *     tracks count for that test and not for the range, so a piece of drums
 *     only gives 0 - 127 = -127;
 *   - scale_consistency and drum_pattern_consistency are NaN when the rates
 *     they maximise are.
 * MusPy builds a piano roll of length × 128 ticks; we get the same counts
 * from sorted intervals, so a long file at 960 ticks per quarter costs
 * O(notes log notes), not hundreds of megabytes.
 *
 * Part two: accompaniment metrics against a reference (histogram overlap
 * areas, chord accuracy), see getmusic.h.
 */
#include "getmusic.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *metric_names[GM_N_METRICS] = {
    "pitch_range",         "n_pitches_used",     "n_pitch_classes_used", "polyphony",
    "polyphony_rate",      "pitch_in_scale_rate", "scale_consistency",   "pitch_entropy",
    "pitch_class_entropy", "empty_beat_rate",    "empty_measure_rate",   "groove_consistency",
    "drum_in_pattern_rate", "drum_pattern_consistency",
};

const char *gm_metric_name(int m) { return m >= 0 && m < GM_N_METRICS ? metric_names[m] : NULL; }

static const char *overlap_names[GM_N_OVERLAPS] = {"pitch", "duration", "ioi"};

const char *gm_overlap_name(int k) { return k >= 0 && k < GM_N_OVERLAPS ? overlap_names[k] : NULL; }

gm_metrics_params gm_metrics_default_params(void) {
    gm_metrics_params p;
    p.measure_resolution = 0;
    p.key_tonic = -1;
    p.key_minor = 0;
    /* MusPy's drum pattern repeats every `resolution` ticks, i.e. every
     * quarter note: "triple" means triplet subdivisions of the quarter, not a
     * metre of three beats. Drums of 3/4 or 6/8 on 8ths and 16ths sit on the
     * duple grid, and no time signature says whether a piece swings in
     * triplets, so the default is duple; drum_pattern_consistency (the
     * larger of both) covers triplet feel. */
    p.drum_meter = GM_METER_DUPLE;
    p.polyphony_threshold = 2;
    return p;
}

/* ======================================================================== */
/* Helpers                                                                   */
/* ======================================================================== */

static int selected(const uint8_t *mask, int i) { return !mask || mask[i]; }

/* A walk over the notes of the selected tracks, track by track: of every
 * kind, or only the pitched or only the drums. Start from a zeroed walk. */
enum { ANY_NOTE = -1, PITCHED = 0, DRUMS = 1 };
typedef struct { int track; size_t note; } note_walk;

static int walked(const gm_score *s, const uint8_t *mask, int kind, int i) {
    return selected(mask, i) && (kind == ANY_NOTE || !!s->tracks[i].is_drum == kind);
}

/* The walk's next note, or NULL at the end. */
static const gm_note *next_note(const gm_score *s, const uint8_t *mask, int kind, note_walk *w) {
    for (; w->track < s->n_tracks; w->track++, w->note = 0)
        if (walked(s, mask, kind, w->track) && w->note < s->tracks[w->track].n_notes)
            return &s->tracks[w->track].notes[w->note++];
    return NULL;
}

static size_t count_notes(const gm_score *s, const uint8_t *mask, int kind) {
    size_t n = 0;
    for (int i = 0; i < s->n_tracks; i++)
        if (walked(s, mask, kind, i)) n += s->tracks[i].n_notes;
    return n;
}

/* Room for one elem-byte element per note a walk of kind gives (at least
 * one, so malloc never sees 0); NULL when out of memory. */
static void *per_note(const gm_score *s, const uint8_t *mask, int kind, size_t elem) {
    size_t n = count_notes(s, mask, kind);
    return malloc((n ? n : 1) * elem);
}

/* MusPy: max(track.get_end_time() for track in tracks); -1 when no track is
 * selected (MusPy's max() over nothing raises). */
static int64_t piece_length(const gm_score *s, const uint8_t *mask) {
    int64_t len = -1;
    for (int i = 0; i < s->n_tracks; i++) {
        if (!selected(mask, i)) continue;
        const gm_track *t = &s->tracks[i];
        int64_t e = 0; /* get_end_time of a track without notes is 0 */
        for (size_t k = 0; k < t->n_notes; k++)
            if (t->notes[k].tick + t->notes[k].duration > e) e = t->notes[k].tick + t->notes[k].duration;
        if (e > len) len = e;
    }
    return len;
}

typedef struct { int64_t a, b; } span; /* [a, b) or [a, b] as the caller says */

static int span_cmp(const void *x, const void *y) {
    const span *p = x, *q = y;
    return p->a < q->a ? -1 : p->a > q->a ? 1 : (p->b < q->b ? -1 : p->b > q->b);
}

static int i64_cmp(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* The onset ticks of every selected note (drums too), ascending: *out
 * malloc'd, *n of them. */
static int sorted_onsets(const gm_score *s, const uint8_t *mask, int64_t **out, size_t *n) {
    size_t k = 0;
    int64_t *on = per_note(s, mask, ANY_NOTE, sizeof *on);
    if (!on) return -1;
    note_walk w = {0};
    for (const gm_note *nt; (nt = next_note(s, mask, ANY_NOTE, &w));) on[k++] = nt->tick;
    qsort(on, k, sizeof *on, i64_cmp);
    *out = on;
    *n = k;
    return 0;
}

/* Number of integers covered by the union of inclusive ranges [a, b]
 * (sorts `v` in place). */
static int64_t covered_inclusive(span *v, size_t n) {
    if (!n) return 0;
    qsort(v, n, sizeof *v, span_cmp);
    int64_t total = 0, lo = v[0].a, hi = v[0].b;
    for (size_t i = 1; i < n; i++) {
        if (v[i].a > hi + 1) {
            total += hi - lo + 1;
            lo = v[i].a;
            hi = v[i].b;
        } else if (v[i].b > hi) {
            hi = v[i].b;
        }
    }
    return total + hi - lo + 1;
}

/* MusPy's empty_beat_rate / empty_measure_rate with `res` ticks per unit:
 * every note (drums too) fills units start//res ..= end//res; the piece has
 * length//res + 1 units. NaN for length < 1. */
static int empty_rate(const gm_score *s, const uint8_t *mask, int64_t len, int64_t res, double *out) {
    if (len < 1) {
        *out = NAN;
        return 0;
    }
    size_t k = 0;
    span *v = per_note(s, mask, ANY_NOTE, sizeof *v);
    if (!v) return -1;
    note_walk w = {0};
    for (const gm_note *nt; (nt = next_note(s, mask, ANY_NOTE, &w));)
        v[k++] = (span){nt->tick / res, (nt->tick + nt->duration) / res};
    int64_t filled = covered_inclusive(v, k);
    free(v);
    *out = 1.0 - (double)filled / (double)(len / res + 1);
    return 0;
}

/* ======================================================================== */
/* MusPy's metrics                                                           */
/* ======================================================================== */

/* MusPy's _get_scale: C major / C natural minor rolled up by `root`, so
 * pitch class pc is in the scale when c_scale[(pc - root) mod 12]. */
static const uint8_t c_major[12] = {1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1};
static const uint8_t c_minor[12] = {1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0};

static double in_scale_rate(const double pc_count[12], double n_notes, int root, int minor) {
    if (n_notes < 1) return NAN;
    const uint8_t *scale = minor ? c_minor : c_major;
    double in = 0;
    for (int pc = 0; pc < 12; pc++)
        if (scale[((pc - root) % 12 + 12) % 12]) in += pc_count[pc];
    return in / n_notes;
}

/* MusPy's _entropy: -nansum(p log2 p), so empty bins (0 * -inf = nan) drop out. */
static double entropy(const double *count, int n, double total) {
    if (total < 1) return NAN;
    double h = 0;
    for (int i = 0; i < n; i++)
        if (count[i] > 0) {
            double p = count[i] / total;
            h -= p * log2(p);
        }
    return h;
}

/* MusPy's _get_drum_pattern(res, meter)[pos]. */
static int in_drum_pattern(int64_t pos, int64_t res, int meter) {
    if (pos == 0) return 1;
    if (meter == GM_METER_TRIPLE) return res % 3 == 0 && pos % (res / 3) == 0;
    return (res % 4 == 0 && pos % (res / 4) == 0) || (res % 2 == 0 && pos % (res / 2) == 0);
}

static double drum_rate(const gm_score *s, const uint8_t *mask, int meter) {
    int64_t res = s->ticks_per_quarter;
    double n = 0, in = 0;
    note_walk w = {0};
    for (const gm_note *nt; (nt = next_note(s, mask, DRUMS, &w));) {
        n++;
        if (in_drum_pattern(nt->tick % res, res, meter)) in++;
    }
    return n < 1 ? NAN : in / n;
}

typedef struct { int64_t t; int d; } edge; /* piano-roll cell count changes by d at tick t */

static int edge_cmp(const void *x, const void *y) {
    const edge *p = x, *q = y;
    return p->t < q->t ? -1 : p->t > q->t;
}

/* The boolean piano roll of MusPy's _get_pianoroll (pitched notes, cells
 * [time, end) × pitch), summarised: ticks with any pitch on, cells on, and
 * ticks with more than `threshold` pitches on. */
static int pianoroll_counts(const gm_score *s, const uint8_t *mask, int threshold, int64_t *on_ticks,
                            int64_t *cells, int64_t *poly_ticks) {
    *on_ticks = *cells = *poly_ticks = 0;
    size_t n = count_notes(s, mask, PITCHED);
    if (!n) return 0;
    span *iv = malloc(n * sizeof *iv);
    size_t *first = calloc(129, sizeof *first); /* notes of pitch p: iv[first[p] .. first[p+1]) */
    edge *ev = malloc(2 * n * sizeof *ev);
    if (!iv || !first || !ev) {
        GM_FREE_ALL(iv, first, ev);
        return -1;
    }
    /* Bucket the intervals by pitch (counting sort), then merge each pitch's
     * overlapping notes: a cell is on or off, however many notes cover it. */
    note_walk w = {0};
    for (const gm_note *nt; (nt = next_note(s, mask, PITCHED, &w));) first[nt->pitch + 1]++;
    for (int p = 0; p < 128; p++) first[p + 1] += first[p];
    size_t fill[128];
    memcpy(fill, first, sizeof fill);
    w = (note_walk){0};
    for (const gm_note *nt; (nt = next_note(s, mask, PITCHED, &w));)
        iv[fill[nt->pitch]++] = (span){nt->tick, nt->tick + nt->duration};
    size_t n_ev = 0;
    for (int p = 0; p < 128; p++) {
        span *v = iv + first[p];
        size_t m = first[p + 1] - first[p];
        if (!m) continue;
        qsort(v, m, sizeof *v, span_cmp);
        int64_t lo = v[0].a, hi = v[0].b;
        for (size_t j = 1; j <= m; j++) {
            if (j < m && v[j].a <= hi) {
                if (v[j].b > hi) hi = v[j].b;
                continue;
            }
            if (hi > lo) { /* numpy's roll[time:end] is empty when end <= time */
                ev[n_ev++] = (edge){lo, +1};
                ev[n_ev++] = (edge){hi, -1};
                *cells += hi - lo;
            }
            if (j < m) {
                lo = v[j].a;
                hi = v[j].b;
            }
        }
    }
    qsort(ev, n_ev, sizeof *ev, edge_cmp);
    int on = 0;
    for (size_t j = 0; j < n_ev;) {
        int64_t t = ev[j].t;
        while (j < n_ev && ev[j].t == t) on += ev[j++].d;
        if (j < n_ev) {
            int64_t dt = ev[j].t - t;
            if (on > 0) *on_ticks += dt;
            if (on > threshold) *poly_ticks += dt;
        }
    }
    GM_FREE_ALL(iv, first, ev);
    return 0;
}

/* MusPy's groove_consistency. With S the set of onset ticks (every note,
 * drums too) and S_m its part in measure m, the Hamming distances of
 * neighbouring measures' onset vectors add up to
 *   sum_{m<M-1} |S_m xor S_m+1| = 2|S| - |S_0| - |S_M-1| - 2 #{t in S : t+res in S},
 * which needs no M × res matrix. */
static int groove(const gm_score *s, const uint8_t *mask, int64_t len, int64_t res, double *out) {
    int64_t n_measures = len < 0 ? 0 : len / res + 1;
    if (n_measures < 2) {
        *out = NAN;
        return 0;
    }
    int64_t *on;
    size_t k, u = 0;
    if (sorted_onsets(s, mask, &on, &k)) return -1;
    for (size_t j = 0; j < k; j++)
        if (!u || on[j] != on[u - 1]) on[u++] = on[j];
    int64_t first = 0, last = 0, shared = 0;
    size_t r = 0;
    for (size_t j = 0; j < u; j++) {
        int64_t m = on[j] / res;
        if (m == 0) first++;
        if (m == n_measures - 1) last++;
        /* two-pointer search for on[j] + res (both ascend) */
        while (r < u && on[r] < on[j] + res) r++;
        if (r < u && on[r] == on[j] + res) shared++;
    }
    free(on);
    int64_t hamming = 2 * (int64_t)u - first - last - 2 * shared;
    *out = 1.0 - (double)hamming / ((double)res * (double)(n_measures - 1));
    return 0;
}

int64_t gm_metrics_measure_resolution(const gm_score *s) {
    int64_t tpq = s->ticks_per_quarter > 0 ? s->ticks_per_quarter : 1;
    /* The metre in force over the most ticks, so that a lead-in bar (POP909
     * bars from beat_midi.txt start with one) does not set the measure.
     * MusPy's metrics assume one metre; in a one-metre file this is it. */
    int64_t end = s->end_tick;
    for (int i = 0; i < s->n_tracks; i++)
        for (size_t k = 0; k < s->tracks[i].n_notes; k++) {
            int64_t e = s->tracks[i].notes[k].tick + s->tracks[i].notes[k].duration;
            if (e > end) end = e;
        }
    int num = 4, den = 4;
    int64_t best = -1;
    if (s->n_timesigs == 0 || s->timesigs[0].tick > 0) best = s->n_timesigs ? s->timesigs[0].tick : 0;
    for (int i = 0; i < s->n_timesigs; i++) {
        int64_t a = s->timesigs[i].tick, b = i + 1 < s->n_timesigs ? s->timesigs[i + 1].tick : end;
        if (b < a) b = a;
        if (b - a > best && s->timesigs[i].numerator > 0 && s->timesigs[i].denominator > 0) {
            best = b - a;
            num = s->timesigs[i].numerator;
            den = s->timesigs[i].denominator;
        }
    }
    int64_t r = (tpq * 4 * num * 2 + den) / (2 * den); /* rounded */
    return r > 0 ? r : 1;
}

/* The pitch metrics of the selected tracks into v: pitches and pitch
 * classes used, range, in-scale rate (key_tonic, key_minor), scale
 * consistency, entropies. */
static void pitch_metrics(const gm_score *s, const uint8_t *track_mask, int key_tonic, int key_minor, double *v) {
    /* Pitch counts of the pitched notes. */
    double pitch_count[128] = {0}, pc_count[12] = {0}, n_pitched = 0;
    int any_track = 0, any_note = 0;
    for (int i = 0; i < s->n_tracks; i++) {
        if (!selected(track_mask, i)) continue;
        const gm_track *t = &s->tracks[i];
        any_track = 1;
        if (t->n_notes) any_note = 1;
        if (t->is_drum) continue;
        for (size_t k = 0; k < t->n_notes; k++) {
            pitch_count[t->notes[k].pitch]++;
            pc_count[t->notes[k].pitch % 12]++;
            n_pitched++;
        }
    }
    int used = 0, pcs_used = 0, lo = 127, hi = 0;
    for (int q = 0; q < 128; q++)
        if (pitch_count[q] > 0) {
            used++;
            if (q < lo) lo = q;
            if (q > hi) hi = q;
        }
    for (int q = 0; q < 12; q++) pcs_used += pc_count[q] > 0;
    v[GM_M_N_PITCHES_USED] = used;
    v[GM_M_N_PITCH_CLASSES_USED] = pcs_used;
    /* MusPy: 0 without tracks or without any note (drum notes count here),
     * else highest - lowest from 0 / 127 over the pitched notes. */
    v[GM_M_PITCH_RANGE] = !any_track || !any_note ? 0 : hi - lo;

    v[GM_M_PITCH_IN_SCALE_RATE] = in_scale_rate(pc_count, n_pitched, key_tonic, key_minor);
    if (n_pitched >= 1) {
        double best = 0.0; /* MusPy: majors 0..11, then minors, strict > */
        for (int minor = 0; minor < 2; minor++)
            for (int root = 0; root < 12; root++) {
                double r = in_scale_rate(pc_count, n_pitched, root, minor);
                if (r > best) best = r;
            }
        v[GM_M_SCALE_CONSISTENCY] = best;
    }
    v[GM_M_PITCH_ENTROPY] = entropy(pitch_count, 128, n_pitched);
    v[GM_M_PITCH_CLASS_ENTROPY] = entropy(pc_count, 12, n_pitched);
}

/* The length-based metrics into v: polyphony, polyphony rate, empty beat and
 * measure rates (measures of mres ticks), groove consistency. */
static int length_metrics(const gm_score *s, const uint8_t *track_mask, int polyphony_threshold, int64_t mres,
                          double *v, char *err) {
    /* len < 0: no track selected (MusPy raises): NaN. */
    int64_t len = piece_length(s, track_mask);
    if (len >= 1) {
        int64_t on_ticks, cells, poly_ticks;
        if (pianoroll_counts(s, track_mask, polyphony_threshold, &on_ticks, &cells, &poly_ticks))
            return gm_fail(err, "metrics: out of memory");
        if (on_ticks >= 1) v[GM_M_POLYPHONY] = (double)cells / (double)on_ticks;
        v[GM_M_POLYPHONY_RATE] = (double)poly_ticks / (double)len;
    }
    /* len == 0 (notes of length 0 only): MusPy's roll has no rows, so
     * polyphony_rate is NaN, and so is polyphony (no tick on). */
    if (empty_rate(s, track_mask, len, s->ticks_per_quarter, &v[GM_M_EMPTY_BEAT_RATE]) ||
        empty_rate(s, track_mask, len, mres, &v[GM_M_EMPTY_MEASURE_RATE]) ||
        groove(s, track_mask, len, mres, &v[GM_M_GROOVE_CONSISTENCY]))
        return gm_fail(err, "metrics: out of memory");
    return 0;
}

int gm_metrics_compute(const gm_score *s, const uint8_t *track_mask, const gm_metrics_params *pp, gm_metrics *out,
                       char *err) {
    if (!s || !out) return gm_fail(err, "metrics: null argument");
    if (s->ticks_per_quarter < 1) return gm_fail(err, "metrics: ticks per quarter must be positive");
    gm_metrics_params p = pp ? *pp : gm_metrics_default_params();
    if (p.measure_resolution < 0) return gm_fail(err, "metrics: measure resolution must be positive");
    if (p.key_tonic > 11 || p.key_tonic < -1) return gm_fail(err, "metrics: key tonic %d is not -1 or 0..11", p.key_tonic);
    if (p.drum_meter != GM_METER_DUPLE && p.drum_meter != GM_METER_TRIPLE)
        return gm_fail(err, "metrics: drum meter must be duple or triple");
    if (p.polyphony_threshold < 0) return gm_fail(err, "metrics: polyphony threshold must be >= 0");
    int64_t mres = p.measure_resolution ? p.measure_resolution : gm_metrics_measure_resolution(s);
    int key_tonic = p.key_tonic, key_minor = p.key_minor ? 1 : 0;
    if (key_tonic < 0) {
        gm_key k = gm_key_find(s); /* the piece's key, also when scoring a few tracks */
        key_tonic = ((k.tonic % 12) + 12) % 12;
        key_minor = k.minor ? 1 : 0;
    }

    double *v = out->v;
    for (int m = 0; m < GM_N_METRICS; m++) v[m] = NAN;
    pitch_metrics(s, track_mask, key_tonic, key_minor, v);
    if (length_metrics(s, track_mask, p.polyphony_threshold, mres, v, err)) return -1;

    v[GM_M_DRUM_IN_PATTERN_RATE] = drum_rate(s, track_mask, p.drum_meter);
    double duple = drum_rate(s, track_mask, GM_METER_DUPLE);
    if (!isnan(duple)) {
        double triple = drum_rate(s, track_mask, GM_METER_TRIPLE);
        v[GM_M_DRUM_PATTERN_CONSISTENCY] = duple > triple ? duple : triple;
    }
    return 0;
}

/* ======================================================================== */
/* Accompaniment metrics                                                     */
/* ======================================================================== */

/* Ticks → 16th steps, rounded half up (ticks >= 0). */
static int64_t to_16ths(int64_t ticks, int64_t tpq) { return (ticks * 8 + tpq) / (2 * tpq); }

static int step_bin(int64_t steps) { return steps < 1 ? 0 : steps > GM_OVERLAP_STEPS ? GM_OVERLAP_STEPS : (int)steps - 1; }

int gm_metrics_histograms(const gm_score *s, const uint8_t *mask, gm_histograms *h, char *err) {
    if (!s || !h) return gm_fail(err, "metrics: null argument");
    if (s->ticks_per_quarter < 1) return gm_fail(err, "metrics: ticks per quarter must be positive");
    memset(h, 0, sizeof *h);
    int64_t tpq = s->ticks_per_quarter;
    int64_t *on;
    size_t k;
    if (sorted_onsets(s, mask, &on, &k)) return gm_fail(err, "metrics: out of memory");
    note_walk w = {0};
    for (const gm_note *nt; (nt = next_note(s, mask, ANY_NOTE, &w));) {
        h->pitch[nt->pitch]++;
        h->duration[step_bin(to_16ths(nt->duration, tpq))]++; /* < 1 16th rounds up to 1 */
    }
    /* Onsets of the whole track set: a chord is one onset, so its notes
     * give no gaps of 0; the IOI is of the texture, not of each track.
     * to_16ths keeps the ticks' order, so the steps stay sorted. */
    for (size_t j = 0; j < k; j++) on[j] = to_16ths(on[j], tpq);
    for (size_t j = 1; j < k; j++)
        if (on[j] != on[j - 1]) h->ioi[step_bin(on[j] - on[j - 1])]++;
    free(on);
    return 0;
}

static double overlap_area(const double *p, const double *q, int n) {
    double sp = 0, sq = 0, a = 0;
    for (int i = 0; i < n; i++) {
        sp += p[i];
        sq += q[i];
    }
    if (sp <= 0 || sq <= 0) return NAN;
    for (int i = 0; i < n; i++) a += fmin(p[i] / sp, q[i] / sq);
    return a > 1 ? 1 : a; /* rounding of identical histograms can give 1 + 1 ulp */
}

int gm_metrics_overlap(const gm_score *gen, const uint8_t *gen_mask, const gm_score *ref, const uint8_t *ref_mask,
                       double out[GM_N_OVERLAPS], char *err) {
    if (!gen || !ref || !out) return gm_fail(err, "metrics: null argument");
    gm_histograms *h = malloc(2 * sizeof *h);
    if (!h) return gm_fail(err, "metrics: out of memory");
    if (gm_metrics_histograms(gen, gen_mask, &h[0], err) || gm_metrics_histograms(ref, ref_mask, &h[1], err)) {
        free(h);
        return -1;
    }
    out[GM_OVERLAP_PITCH] = overlap_area(h[0].pitch, h[1].pitch, 128);
    out[GM_OVERLAP_DURATION] = overlap_area(h[0].duration, h[1].duration, GM_OVERLAP_STEPS + 1);
    out[GM_OVERLAP_IOI] = overlap_area(h[0].ioi, h[1].ioi, GM_OVERLAP_STEPS + 1);
    free(h);
    return 0;
}

/* Chords per bar of the selected tracks of s on s's own bar lines; *out is
 * malloc'd [*n_bars]. A shallow view of the score holds only those tracks
 * (the notes stay where they are). */
static int chords_of(const gm_score *s, const uint8_t *mask, gm_chord **out, int *n_bars, char *err) {
    gm_barmap bm;
    if (gm_barmap_build(&bm, s, GM_STEPS_PER_QUARTER, err)) return -1;
    gm_score view = *s;
    gm_track *tr = malloc((size_t)(s->n_tracks ? s->n_tracks : 1) * sizeof *tr);
    gm_chord *c = malloc((size_t)bm.n_bars * sizeof *c);
    if (!tr || !c) {
        free(tr);
        free(c);
        gm_barmap_free(&bm);
        return gm_fail(err, "metrics: out of memory");
    }
    view.n_tracks = 0;
    for (int i = 0; i < s->n_tracks; i++)
        if (selected(mask, i)) tr[view.n_tracks++] = s->tracks[i];
    view.tracks = tr;
    view.cap_tracks = view.n_tracks;
    int rc = gm_chords_recognize(&view, &bm, c, err);
    free(tr);
    if (rc) {
        free(c);
        gm_barmap_free(&bm);
        return -1;
    }
    *out = c;
    *n_bars = bm.n_bars;
    gm_barmap_free(&bm);
    return 0;
}

int gm_metrics_chord_accuracy(const gm_score *gen, const uint8_t *gen_mask, const gm_score *ref,
                              const uint8_t *ref_mask, double *accuracy, int *n_bars, char *err) {
    if (!gen || !ref || !accuracy) return gm_fail(err, "metrics: null argument");
    gm_chord *cg = NULL, *cr = NULL;
    int ng = 0, nr = 0;
    if (chords_of(gen, gen_mask, &cg, &ng, err)) return -1;
    if (chords_of(ref, ref_mask, &cr, &nr, err)) {
        free(cg);
        return -1;
    }
    int n = ng < nr ? ng : nr, same = 0;
    for (int b = 0; b < n; b++) same += cg[b].root == cr[b].root && cg[b].quality == cr[b].quality;
    *accuracy = n > 0 ? (double)same / n : NAN;
    if (n_bars) *n_bars = n;
    free(cg);
    free(cr);
    return 0;
}

/* ======================================================================== */
/* What a musician hears: chord tones                                        */
/* ======================================================================== */

/* The chord sounding at time t: the span starting last at or before t, if
 * it still lasts at t; NULL where none is (N or outside the labels). */
static const gm_chord_span *chord_at(const gm_chord_labels *l, double t) {
    int lo = 0, hi = l->n - 1, at = -1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (l->v[mid].start <= t) {
            at = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return at >= 0 && t < l->v[at].end ? &l->v[at] : NULL;
}

typedef struct { double t, w; int pc; } timed_note;

/* Onset (seconds, moved by GM_CTR_ONSET_SLACK_S) and clipped weight of the
 * selected pitched notes; *out malloc'd. Why a 20 ms slack: on 100 POP909
 * songs the piano's CTR is 0.968 at 0 ms, 0.979 at 5 ms (that step is
 * rounding), 0.983 at 20 ms, then creeps up (anticipation); 20 ms is still
 * heard as together. */
static int timed_notes(const gm_score *s, const uint8_t *mask, timed_note **out, size_t *n_out) {
    size_t k = 0;
    timed_note *v = per_note(s, mask, PITCHED, sizeof *v);
    if (!v) return -1;
    note_walk it = {0};
    for (const gm_note *nt; (nt = next_note(s, mask, PITCHED, &it));) {
        double a = gm_score_tick_to_seconds(s, nt->tick);
        double w = gm_score_tick_to_seconds(s, nt->tick + nt->duration) - a;
        w = w < GM_CTR_MIN_WEIGHT_S ? GM_CTR_MIN_WEIGHT_S : w > GM_CTR_MAX_WEIGHT_S ? GM_CTR_MAX_WEIGHT_S : w;
        v[k++] = (timed_note){a + GM_CTR_ONSET_SLACK_S, w, nt->pitch % 12};
    }
    *out = v;
    *n_out = k;
    return 0;
}

int gm_metrics_chord_tones(const gm_score *s, const uint8_t *mask, const gm_chord_labels *l, gm_chord_tone_ratio *out,
                           char *err) {
    if (!s || !l || !out) return gm_fail(err, "metrics: null argument");
    if (s->ticks_per_quarter < 1) return gm_fail(err, "metrics: ticks per quarter must be positive");
    if (l->n < 0 || (l->n && !l->v)) return gm_fail(err, "metrics: malformed chord labels");
    memset(out, 0, sizeof *out);
    out->ctr = out->floor = NAN;
    timed_note *v;
    size_t n;
    if (timed_notes(s, mask, &v, &n)) return gm_fail(err, "metrics: out of memory");
    /* The part's own pitch-class distribution over the whole song: what a
     * player who knows the key but not the chords would play. */
    double p[12] = {0}, total = 0;
    for (size_t k = 0; k < n; k++) {
        p[v[k].pc] += v[k].w;
        total += v[k].w;
    }
    double hit = 0, blind = 0, weight = 0;
    for (size_t k = 0; k < n; k++) {
        const gm_chord_span *c = chord_at(l, v[k].t);
        if (!c) {
            out->unlabelled++;
            continue;
        }
        double in = 0;
        for (int pc = 0; pc < 12; pc++)
            if (c->tones >> pc & 1) in += p[pc] / total;
        hit += (c->tones >> v[k].pc & 1) ? v[k].w : 0;
        blind += v[k].w * in;
        weight += v[k].w;
        out->notes++;
    }
    free(v);
    out->weight = weight;
    if (out->notes) {
        out->ctr = hit / weight;
        out->floor = blind / weight;
    }
    return 0;
}

/* ======================================================================== */
/* What a musician hears: drum feel                                          */
/* ======================================================================== */

typedef struct { int bar, pos, group, timekeeper; } drum_hit;

/* The time-keeping cymbals the "hi-hat" count of the figures holds: the
 * hats (GM_KIT_HAT) and the rides (51, 53, 59), where a jazz or a rock
 * drummer often keeps the 8ths instead. The kit groups (and so the bar
 * repetition) keep the ride under "other". */
static int is_timekeeper(int key) {
    int k = gm_drum_key_gm(key);
    return gm_drum_kit_group(k) == GM_KIT_HAT || k == 51 || k == 53 || k == 59;
}
enum { TIMEKEEPER_PLANE = GM_KIT_GROUPS }; /* bar_sets' extra plane: hat or ride onsets */

static int hit_cmp(const void *x, const void *y) {
    const drum_hit *a = x, *b = y;
    return a->bar != b->bar ? (a->bar > b->bar) - (a->bar < b->bar) : (a->pos > b->pos) - (a->pos < b->pos);
}

/* A bar as long as its metre says (not the short lead-in before a time
 * signature change), so that positions in it are metrical. */
static int full_bar(const gm_barmap *bm, int b) {
    int num = bm->bar_num[b], den = bm->bar_den[b] ? bm->bar_den[b] : 4;
    double want = (double)num * 4.0 * bm->ticks_per_quarter / den;
    return (double)(bm->bar_tick[b + 1] - bm->bar_tick[b]) >= want - 0.5;
}

/* 16ths per beat: a dotted quarter in compound metres (6/8, 9/8, 12/8),
 * else the denominator's note value. */
static int beat_16ths(int num, int den) {
    if (den == 8 && num % 3 == 0 && num >= 6) return 6;
    return den <= 16 && den > 0 ? 16 / den : 1;
}

/* The onsets of the selected drum notes as (bar, 16th in the bar, group):
 * each onset goes to the nearest 16th of its bar's grid (one a hair before
 * a bar line is on the next bar's 1). *out malloc'd. */
static int drum_hits(const gm_score *s, const uint8_t *mask, const gm_barmap *bm, drum_hit **out, size_t *n_out) {
    size_t k = 0;
    drum_hit *v = per_note(s, mask, DRUMS, sizeof *v);
    if (!v) return -1;
    int64_t tpq = bm->ticks_per_quarter;
    note_walk w = {0};
    for (const gm_note *nt; (nt = next_note(s, mask, DRUMS, &w));) {
        int b = gm_barmap_bar_of_tick(bm, nt->tick);
        int64_t pos = ((nt->tick - bm->bar_tick[b]) * 8 + tpq) / (2 * tpq); /* nearest 16th */
        int cols = bm->bar_col[b + 1] - bm->bar_col[b];
        if (pos >= cols && b + 1 < bm->n_bars) {
            b++;
            pos = 0;
        }
        if (pos >= cols) continue; /* past the end of the last bar */
        v[k++] = (drum_hit){b, (int)pos, gm_drum_kit_group(nt->pitch), is_timekeeper(nt->pitch)};
    }
    qsort(v, k, sizeof *v, hit_cmp);
    *out = v;
    *n_out = k;
    return 0;
}

/* Every bar's onset set in one bitmap the size of the bar map: cell (group
 * g, bar b, 16th pos) at g·n_cols + bar_col[b] + pos, so that a bar of many
 * beats costs its own columns only. */
typedef struct {
    const gm_barmap *bm;
    uint8_t *cell;    /* [(GM_KIT_GROUPS + 1)·n_cols]: 1 = an onset of that group on that 16th;
                         the last plane, TIMEKEEPER_PLANE: a hat or ride onset */
    uint8_t *counted; /* [n_bars]: 1 = a full bar with a drum onset, the bars the figures count */
    int first, last;  /* first and last bar with a drum onset, full or not; -1 without onsets */
} bar_sets;

static int bar_len(const gm_barmap *bm, int b) { return bm->bar_col[b + 1] - bm->bar_col[b]; }

static size_t cell_index(const gm_barmap *bm, int g, int b, int pos) {
    return (size_t)g * (size_t)bm->n_cols + (size_t)(bm->bar_col[b] + pos);
}

/* 1 when bar b has an onset of group g on its 16th pos (0 past its end). */
static int onset(const bar_sets *s, int b, int g, int pos) {
    return pos < bar_len(s->bm, b) && s->cell[cell_index(s->bm, g, b, pos)];
}

static void bar_sets_free(bar_sets *s) {
    free(s->cell);
    free(s->counted);
    s->cell = s->counted = NULL;
}

/* The selected drum tracks' onsets as bar sets (each distinct (group, 16th)
 * of a bar once: a flam is one onset). 0, or -1 when memory is out. */
static int bar_sets_build(bar_sets *s, const gm_score *sc, const uint8_t *mask, const gm_barmap *bm) {
    memset(s, 0, sizeof *s);
    s->bm = bm;
    s->first = s->last = -1;
    s->cell = calloc((size_t)(GM_KIT_GROUPS + 1) * (size_t)(bm->n_cols > 0 ? bm->n_cols : 1), 1);
    s->counted = calloc((size_t)(bm->n_bars > 0 ? bm->n_bars : 1), 1);
    drum_hit *h = NULL;
    size_t n = 0;
    if (!s->cell || !s->counted || drum_hits(sc, mask, bm, &h, &n)) {
        bar_sets_free(s);
        return -1;
    }
    if (n) { /* hits are sorted by bar */
        s->first = h[0].bar;
        s->last = h[n - 1].bar;
    }
    for (size_t k = 0; k < n; k++) {
        int b = h[k].bar;
        if (!full_bar(bm, b)) continue; /* a short lead-in bar has no metrical positions */
        s->counted[b] = 1;
        s->cell[cell_index(bm, h[k].group, b, h[k].pos)] = 1;
        if (h[k].timekeeper) s->cell[cell_index(bm, TIMEKEEPER_PLANE, b, h[k].pos)] = 1;
    }
    free(h);
    return 0;
}

/* |S_a ∩ S_b| and |S_a ∪ S_b| of two bars' (group, 16th) sets; a shorter
 * bar has no onsets past its end. */
static void bar_overlap(const bar_sets *s, int a, int b, size_t *both, size_t *any) {
    int n = bar_len(s->bm, a) > bar_len(s->bm, b) ? bar_len(s->bm, a) : bar_len(s->bm, b);
    *both = *any = 0;
    for (int g = 0; g < GM_KIT_GROUPS; g++)
        for (int pos = 0; pos < n; pos++) {
            int x = onset(s, a, g, pos), y = onset(s, b, g, pos);
            *both += x && y;
            *any += x || y;
        }
}

/* Jaccard |S_a ∩ S_b| / |S_a ∪ S_b|; NaN for two empty sets. */
static double bar_jaccard(const bar_sets *s, int a, int b) {
    size_t both, any;
    bar_overlap(s, a, b, &both, &any);
    return any ? (double)both / (double)any : NAN;
}

static int same_set(const bar_sets *s, int a, int b) {
    size_t both, any;
    bar_overlap(s, a, b, &both, &any);
    return both == any;
}

/* The backbeat: every even beat (2 and 4 in 4/4; 2 in 3/4; in 6/8 the
 * second dotted quarter), beat = 16ths per beat. */
static int is_backbeat(int pos, int beat) { return pos % beat == 0 && (pos / beat) % 2 == 1; }

/* Sums over the counted bars. */
typedef struct {
    size_t onsets[GM_KIT_GROUPS + 1]; /* distinct (group, 16th) onsets; the last: hat or ride */
    size_t snare_on_backbeat;     /* of the snare's, those on a backbeat */
    int kick_one;                 /* bars with a kick on beat 1 */
    int both;                     /* bars with a snare on every backbeat */
    double jsum;                  /* Σ Jaccard over neighbouring pairs */
} feel_sums;

static void sum_bar(const bar_sets *s, int b, feel_sums *t) {
    const gm_barmap *bm = s->bm;
    int cols = bar_len(bm, b), beat = beat_16ths(bm->bar_num[b], bm->bar_den[b]);
    for (int g = 0; g <= TIMEKEEPER_PLANE; g++)
        for (int pos = 0; pos < cols; pos++) t->onsets[g] += (size_t)onset(s, b, g, pos);
    int backbeats = 0, hit = 0;
    for (int pos = 0; pos < cols; pos++) {
        if (!is_backbeat(pos, beat)) continue;
        backbeats++;
        hit += onset(s, b, GM_KIT_SNARE, pos);
    }
    t->snare_on_backbeat += (size_t)hit;
    /* A bar of one beat has no backbeat: it is no bar with the backbeat played. */
    t->both += backbeats && hit == backbeats;
    t->kick_one += onset(s, b, GM_KIT_KICK, 0);
}

/* Placement (backbeat, kick on 1, repetition) and presence (both
 * backbeats, onsets per bar) over the counted bars. */
static void feel_per_bar(const bar_sets *s, gm_drum_feel *out) {
    feel_sums t = {{0}, 0, 0, 0, 0};
    for (int b = 0; b < s->bm->n_bars; b++) {
        if (!s->counted[b]) continue;
        sum_bar(s, b, &t);
        out->bars++;
        if (b > 0 && s->counted[b - 1]) {
            t.jsum += bar_jaccard(s, b - 1, b);
            out->pairs++;
        }
    }
    out->snare_onsets = t.onsets[GM_KIT_SNARE];
    if (out->snare_onsets) out->backbeat = (double)t.snare_on_backbeat / (double)out->snare_onsets;
    if (out->pairs) out->repetition = t.jsum / out->pairs;
    if (!out->bars) return;
    double bars = out->bars;
    out->kick_on_one = t.kick_one / bars;
    out->both_backbeats = t.both / bars;
    out->kick_per_bar = (double)t.onsets[GM_KIT_KICK] / bars;
    out->snare_per_bar = (double)t.onsets[GM_KIT_SNARE] / bars;
    out->hat_per_bar = (double)t.onsets[TIMEKEEPER_PLANE] / bars;
}

/* Silent full bars inside the part: between its first and last bar with an
 * onset (the drummer resting mid-song, not an intro without drums). */
static void empty_bars(const bar_sets *s, gm_drum_feel *out) {
    if (s->first < 0) return; /* no drum onset: NaN */
    for (int b = s->first; b <= s->last; b++) {
        if (!full_bar(s->bm, b)) continue;
        out->span_bars++;
        out->empty_bar_count += !s->counted[b];
    }
    out->empty_bars = out->span_bars ? (double)out->empty_bar_count / out->span_bars : 0;
}

/* Whether the phrase of GM_PHRASE_BARS (4) bars from bar `first` ends in a
 * fill. S_b is bar b's set of (group, 16th) onsets; the phrase's usual bar U
 * is the set occurring most often among its 4 bars (ties: the earliest);
 * d(b) = 1 − Jaccard(S_b, U). The phrase ends in a fill when d(last bar) >
 * max(d of the 3 bars before it) and d(last) >= GM_FILL_MIN_CHANGE (0.25):
 * the last bar strays from the groove more than any other bar of the phrase
 * (a drummer who varies every bar plays no fill by varying the last), and
 * by more than a stray note or two (one extra hat in a 12-onset bar is
 * d = 1/13). */
static int phrase_fill(const bar_sets *s, int first) {
    int usual = first, most = 0;
    for (int i = 0; i < GM_PHRASE_BARS; i++) {
        int same = 0;
        for (int j = 0; j < GM_PHRASE_BARS; j++) same += same_set(s, first + i, first + j);
        if (same > most) { /* strict: ties keep the earliest */
            most = same;
            usual = first + i;
        }
    }
    double before = 0;
    for (int i = 0; i + 1 < GM_PHRASE_BARS; i++) {
        double d = 1 - bar_jaccard(s, first + i, usual);
        if (d > before) before = d;
    }
    double last = 1 - bar_jaccard(s, first + GM_PHRASE_BARS - 1, usual);
    return last > before && last >= GM_FILL_MIN_CHANGE;
}

/* Phrases: bars 0-3, 4-7, ... of the bar map (the song's bar numbers),
 * scored when all their bars are counted bars. */
static void fills(const bar_sets *s, gm_drum_feel *out) {
    int filled = 0;
    for (int p = 0; p + GM_PHRASE_BARS <= s->bm->n_bars; p += GM_PHRASE_BARS) {
        int whole = 1;
        for (int i = 0; i < GM_PHRASE_BARS; i++) whole &= s->counted[p + i];
        if (!whole) continue;
        out->phrases++;
        filled += phrase_fill(s, p);
    }
    if (out->phrases) out->fills = (double)filled / out->phrases;
}

int gm_metrics_drum_feel(const gm_score *s, const uint8_t *mask, gm_drum_feel *out, char *err) {
    if (!s || !out) return gm_fail(err, "metrics: null argument");
    memset(out, 0, sizeof *out);
    out->backbeat = out->kick_on_one = out->repetition = NAN;
    out->both_backbeats = out->kick_per_bar = out->snare_per_bar = out->hat_per_bar = NAN;
    out->empty_bars = out->fills = NAN;
    gm_barmap bm;
    if (gm_barmap_build(&bm, s, GM_STEPS_PER_QUARTER, err)) return -1;
    bar_sets sets;
    if (bar_sets_build(&sets, s, mask, &bm)) {
        gm_barmap_free(&bm);
        return gm_fail(err, "metrics: out of memory");
    }
    feel_per_bar(&sets, out);
    empty_bars(&sets, out);
    fills(&sets, out);
    bar_sets_free(&sets);
    gm_barmap_free(&bm);
    return 0;
}
