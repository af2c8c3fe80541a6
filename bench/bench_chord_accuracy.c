/*
 * chord_accuracy.c — how well gm_chords_recognize and gm_key_find agree with
 * POP909's human annotations, over all 818 songs.
 *
 *   chord_accuracy [DATA_DIR]      (default $GETMUSIC_DATA or ../shared/data)
 *
 * Chords. pop909/NNN/chord_midi.txt holds "start_sec end_sec Root:quality"
 * lines (times on the MIDI file's clock). We convert seconds to ticks with the
 * file's tempo map; the reference chord of a bar is the label that covers
 * most of it. Bars labelled N, and bars no label reaches, are left out.
 *
 * Bars. POP909's MIDI files mostly declare 1/4 or 2/4 and their first beat
 * sits a fraction of a beat after tick 0, so the file's own metre does not
 * give musical bars. The main figures therefore use bars rebuilt from the
 * annotated downbeats (beat_midi.txt: time, 2-beat downbeat flag, 4-beat
 * downbeat flag): a lead-in bar up to the first downbeat, then bars of the
 * song's usual downbeat spacing (4 beats in 792 songs, 6 in 26) — the same
 * one-chord-per-4/4-bar frames GETMusic uses. The figures with the file's
 * own metre are printed too, for comparison.
 *
 * Qualities. Ours are maj, min, aug, dim, 7, maj7, m7, m7b5. POP909 labels
 * (inversions "/3", "/5", "/b7" ... ignored, the root is the chord's root):
 *   exact:   maj min aug dim 7 maj7 min7 hdim7(→m7b5)
 *   reduced: maj6→maj, min6→min, minmaj7→min, dim7→dim (the triad)
 *   other:   sus2, sus4, sus4(b7), anything else — counted for root accuracy
 *            only, left out of root+quality accuracy.
 * "triad" accuracy also folds our and their sevenths onto triads (7, maj7 →
 * maj; m7 → min; m7b5 → dim), i.e. forgives 7th-vs-triad disagreements.
 *
 * Keys. pop909/NNN/key_audio.txt gives key segments from the audio; we take
 * the longest-held key of each song and compare it with gm_key_find on the
 * whole MIDI: exact (tonic and mode), and same key signature (relative
 * major/minor count as agreeing — what matters for transposing to C / Am).
 */
#include "util.h" /* gm_now_s, gm_peak_rss_mb */
#include "getmusic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ======================================================================== */
/* Labels                                                                    */
/* ======================================================================== */

enum { MAP_EXACT, MAP_REDUCED, MAP_OTHER };

typedef struct {
    double t0, t1;
    int root;    /* 0..11, -1 = N */
    int quality; /* GM_Q_* or -1 (other) */
    int map;     /* MAP_* */
    int raw;     /* index into raw_quality_names, for the per-label table */
} label;

#define MAX_RAW 64
static char raw_quality_names[MAX_RAW][24];
static int n_raw;

static int raw_index(const char *q) {
    for (int i = 0; i < n_raw; i++)
        if (!strcmp(raw_quality_names[i], q)) return i;
    if (n_raw == MAX_RAW) return MAX_RAW - 1;
    snprintf(raw_quality_names[n_raw], sizeof raw_quality_names[0], "%s", q);
    return n_raw++;
}

/* "B:maj/3" → root 11, quality maj. Returns 0, or -1 for an unreadable label. */
static int parse_label(const char *text, label *l) {
    if (!strcmp(text, "N")) {
        l->root = -1;
        l->quality = -1;
        l->map = MAP_OTHER;
        l->raw = raw_index("N");
        return 0;
    }
    char buf[64];
    snprintf(buf, sizeof buf, "%s", text);
    char *colon = strchr(buf, ':');
    if (!colon) return -1;
    *colon = 0;
    gm_chord c;
    if (gm_chord_parse(buf, &c, NULL)) return -1;
    l->root = c.root;
    char *q = colon + 1;
    char *slash = strchr(q, '/');
    if (slash) *slash = 0; /* inversion: same root, same quality */
    l->raw = raw_index(q);
    static const struct { const char *s; int q, map; } table[] = {
        {"maj", GM_Q_MAJ, MAP_EXACT},     {"min", GM_Q_MIN, MAP_EXACT},      {"aug", GM_Q_AUG, MAP_EXACT},
        {"dim", GM_Q_DIM, MAP_EXACT},     {"7", GM_Q_DOM7, MAP_EXACT},       {"maj7", GM_Q_MAJ7, MAP_EXACT},
        {"min7", GM_Q_MIN7, MAP_EXACT},   {"hdim7", GM_Q_M7B5, MAP_EXACT},   {"maj6", GM_Q_MAJ, MAP_REDUCED},
        {"min6", GM_Q_MIN, MAP_REDUCED},  {"minmaj7", GM_Q_MIN, MAP_REDUCED}, {"dim7", GM_Q_DIM, MAP_REDUCED},
    };
    l->quality = -1;
    l->map = MAP_OTHER;
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (!strcmp(q, table[i].s)) {
            l->quality = table[i].q;
            l->map = table[i].map;
        }
    return 0;
}

static int triad_of(int q) {
    switch (q) {
    case GM_Q_DOM7: case GM_Q_MAJ7: return GM_Q_MAJ;
    case GM_Q_MIN7: return GM_Q_MIN;
    case GM_Q_M7B5: return GM_Q_DIM;
    default: return q;
    }
}

/* ======================================================================== */
/* Time                                                                      */
/* ======================================================================== */

/* Seconds → ticks through the tempo map (120 bpm before the first tempo). */
/* Replaces the score's metre with bars from the annotated downbeats (the
 * library's gm_score_metre_from_beat_file) and says how many beats a bar has. */
static int metre_from_beats(gm_score *s, const char *beat_path, int *beats_per_bar) {
    char err[GM_ERR_SIZE];
    if (gm_score_metre_from_beat_file(s, beat_path, err)) return -1;
    *beats_per_bar = s->timesigs[0].numerator;
    return 0;
}

/* ======================================================================== */
/* One song                                                                  */
/* ======================================================================== */

typedef struct {
    long bars, labelled, n_bars, unlabelled;
    long root_ok;
    long mapped, mapped_ok, triad_ok;       /* exact + reduced labels */
    long exact, exact_ok;                   /* exact labels only */
    long by_raw[MAX_RAW][2];                /* per POP909 quality: bars, root correct */
    long by_raw_q[MAX_RAW];                 /* ... quality correct (mapped ones) */
    long pred_q[GM_N_QUALITIES];            /* our qualities on labelled bars */
    double seconds;                         /* inside gm_chords_recognize */
} tally;

/* Evaluates one song's chords with the given (already set) metre, scored on
 * fe frames per bar (1 bars, 2 half bars) against the label that covers most
 * of each frame, with the recogniser run on fr frames per bar (fr <= fe;
 * a bar's chord stands for both of its halves). */
static int eval_chords(const gm_score *s, const label *labs, int nl, int fe, int fr, tally *t) {
    gm_barmap bm;
    char err[GM_ERR_SIZE];
    if (gm_barmap_build(&bm, s, GM_STEPS_PER_QUARTER, err)) {
        fprintf(stderr, "barmap: %s\n", err);
        return -1;
    }
    int nb = bm.n_bars, nf = nb * fe;
    gm_chord *out = malloc((size_t)nb * fr * sizeof *out);
    int64_t *best = calloc((size_t)nf, sizeof *best);
    int *ref = malloc((size_t)nf * sizeof *ref);
    if (!out || !best || !ref) {
        free(out); free(best); free(ref);
        gm_barmap_free(&bm);
        return -1;
    }
    double t0 = gm_now_s();
    int rc = gm_chords_recognize_frames(s, &bm, fr, out, err);
    t->seconds += gm_now_s() - t0;
    if (rc) {
        fprintf(stderr, "recognize: %s\n", err);
        free(out); free(best); free(ref);
        gm_barmap_free(&bm);
        return -1;
    }
    for (int f = 0; f < nf; f++) ref[f] = -1;
    for (int i = 0; i < nl; i++) {
        int64_t a = gm_score_seconds_to_tick(s, labs[i].t0), z = gm_score_seconds_to_tick(s, labs[i].t1);
        if (a >= bm.bar_tick[nb]) continue;
        for (int b = gm_barmap_bar_of_tick(&bm, a); b < nb && bm.bar_tick[b] < z; b++)
            for (int k = 0; k < fe; k++) {
                int64_t f0 = gm_barmap_frame_tick(&bm, b, fe, k), f1 = gm_barmap_frame_tick(&bm, b, fe, k + 1);
                int64_t lo = a > f0 ? a : f0, hi = z < f1 ? z : f1;
                if (hi - lo > best[b * fe + k]) {
                    best[b * fe + k] = hi - lo;
                    ref[b * fe + k] = i;
                }
            }
    }
    for (int f = 0; f < nf; f++) {
        t->bars++;
        if (ref[f] < 0) { t->unlabelled++; continue; }
        const label *l = &labs[ref[f]];
        const gm_chord pred = out[(f / fe) * fr + (f % fe) * fr / fe];
        if (l->root < 0) { t->n_bars++; continue; }
        t->labelled++;
        int rok = pred.root == l->root;
        t->root_ok += rok;
        t->by_raw[l->raw][0]++;
        t->by_raw[l->raw][1] += rok;
        if (pred.quality >= 0) t->pred_q[pred.quality]++;
        if (l->map != MAP_OTHER) {
            int qok = rok && pred.quality == l->quality;
            t->mapped++;
            t->mapped_ok += qok;
            t->triad_ok += rok && triad_of(pred.quality) == triad_of(l->quality);
            t->by_raw_q[l->raw] += qok;
            if (l->map == MAP_EXACT) {
                t->exact++;
                t->exact_ok += qok;
            }
        }
    }
    free(out);
    free(best);
    free(ref);
    gm_barmap_free(&bm);
    return 0;
}

static int read_labels(const char *path, label **out) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0, cap = 256;
    label *l = malloc((size_t)cap * sizeof *l);
    double t0, t1;
    char text[64];
    while (l && fscanf(f, "%lf %lf %63s", &t0, &t1, text) == 3) {
        if (n == cap) {
            cap *= 2;
            label *g = realloc(l, (size_t)cap * sizeof *l);
            if (!g) break;
            l = g;
        }
        l[n].t0 = t0;
        l[n].t1 = t1;
        if (parse_label(text, &l[n]) == 0) n++;
        else fprintf(stderr, "%s: unreadable label '%s'\n", path, text);
    }
    fclose(f);
    *out = l;
    return l ? n : -1;
}

/* Longest-held key of key_audio.txt ("t0 t1 Gb:maj"): 0 or -1. */
static int read_key(const char *path, gm_key *k) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    double t0, t1, best = -1;
    char text[64];
    while (fscanf(f, "%lf %lf %63s", &t0, &t1, text) == 3) {
        char *colon = strchr(text, ':');
        if (!colon) continue;
        *colon = 0;
        gm_chord c;
        if (gm_chord_parse(text, &c, NULL)) continue;
        if (t1 - t0 > best) {
            best = t1 - t0;
            k->tonic = c.root;
            k->minor = !strncmp(colon + 1, "min", 3);
        }
    }
    fclose(f);
    return best >= 0 ? 0 : -1;
}

/* ======================================================================== */
/* Main                                                                      */
/* ======================================================================== */

static double pct(long a, long b) { return b ? 100.0 * (double)a / (double)b : 0; }

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : getenv("GETMUSIC_DATA");
    if (!dir) dir = "../shared/data";
    char path[1024], err[GM_ERR_SIZE];
    snprintf(path, sizeof path, "%s/pop909/001/001.mid", dir);
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("chord_accuracy: %s/pop909 not found; nothing to measure\n", dir);
        return 0;
    }
    static tally beats, own, half_bar, half_half; /* half bars scored: bar recogniser, half-bar recogniser */
    int songs = 0, failed = 0, key_n = 0, key_exact = 0, key_sig = 0, key_rel = 0, key_fifth = 0;
    int spacing[17] = {0};
    double t_start = gm_now_s(), t_key = 0;
    for (int song = 1; song <= 818; song++) {
        gm_score s;
        snprintf(path, sizeof path, "%s/pop909/%03d/%03d.mid", dir, song, song);
        if (gm_midi_read_file(path, &s, err)) {
            fprintf(stderr, "%s: %s\n", path, err);
            failed++;
            continue;
        }
        label *labs = NULL;
        snprintf(path, sizeof path, "%s/pop909/%03d/chord_midi.txt", dir, song);
        int nl = read_labels(path, &labs);
        if (nl < 0) {
            fprintf(stderr, "%s: unreadable\n", path);
            gm_score_free(&s);
            failed++;
            continue;
        }
        /* The file's own metre, then the downbeat-aligned bars. */
        int ok = eval_chords(&s, labs, nl, 1, 1, &own) == 0;
        int bpb = 4;
        snprintf(path, sizeof path, "%s/pop909/%03d/beat_midi.txt", dir, song);
        ok = ok && metre_from_beats(&s, path, &bpb) == 0 && eval_chords(&s, labs, nl, 1, 1, &beats) == 0 &&
             eval_chords(&s, labs, nl, 2, 1, &half_bar) == 0 && eval_chords(&s, labs, nl, 2, 2, &half_half) == 0;
        if (ok) spacing[bpb]++;
        songs += ok;
        failed += !ok;

        gm_key ref, k;
        snprintf(path, sizeof path, "%s/pop909/%03d/key_audio.txt", dir, song);
        if (read_key(path, &ref) == 0) {
            double t0 = gm_now_s();
            k = gm_key_find(&s);
            t_key += gm_now_s() - t0;
            key_n++;
            key_exact += k.tonic == ref.tonic && k.minor == ref.minor;
            int sig = gm_key_shift_to_c(k) == gm_key_shift_to_c(ref);
            key_sig += sig;
            key_rel += sig && k.minor != ref.minor;
            /* Off by a fifth, same mode: the neighbouring signature. */
            int d = ((gm_key_shift_to_c(k) - gm_key_shift_to_c(ref)) % 12 + 12) % 12;
            key_fifth += !sig && (d == 5 || d == 7);
        }
        free(labs);
        gm_score_free(&s);
    }
    double t_all = gm_now_s() - t_start;

    printf("\nPOP909 chord recognition vs chord_midi.txt (%d songs, %d failed)\n", songs, failed);
    printf("bars: downbeat-aligned, %d songs of 4 beats/bar, %d of 6, %d other\n\n", spacing[4], spacing[6],
           songs - spacing[4] - spacing[6]);
    /* Columns: the tallies, and which of their counts each row shows. */
    const tally *col[4] = {&beats, &half_bar, &half_half, &own};
    printf("%-40s %11s %11s %11s %11s\n", "", "downbeat", "half bars,", "half bars,", "file's");
    printf("%-40s %11s %11s %11s %11s\n", "", "bars", "bar chords", "half-bar", "metre");
#define ROW_N(name, field) do { printf("%-40s", name); for (int c = 0; c < 4; c++) printf(" %11ld", col[c]->field); printf("\n"); } while (0)
#define ROW_P(name, ok, of) do { printf("%-40s", name); for (int c = 0; c < 4; c++) printf(" %10.1f%%", pct(col[c]->ok, col[c]->of)); printf("\n"); } while (0)
    ROW_N("frames (bars or half bars)", bars);
    ROW_N("  labelled N (excluded)", n_bars);
    ROW_N("  no label (excluded)", unlabelled);
    ROW_N("  evaluated", labelled);
    ROW_P("root accuracy", root_ok, labelled);
    ROW_N("frames with a mappable quality", mapped);
    ROW_P("root+quality accuracy (mappable)", mapped_ok, mapped);
    ROW_P("root+quality accuracy (exact labels only)", exact_ok, exact);
    ROW_P("root+triad accuracy (7ths folded, mappable)", triad_ok, mapped);
#undef ROW_N
#undef ROW_P

    printf("\nper POP909 quality (downbeat bars): bars, root acc, root+quality acc\n");
    int order[MAX_RAW];
    for (int i = 0; i < n_raw; i++) order[i] = i;
    for (int i = 0; i < n_raw; i++)
        for (int j = i + 1; j < n_raw; j++)
            if (beats.by_raw[order[j]][0] > beats.by_raw[order[i]][0]) {
                int x = order[i]; order[i] = order[j]; order[j] = x;
            }
    for (int i = 0; i < n_raw; i++) {
        int r = order[i];
        if (!beats.by_raw[r][0]) continue;
        label l;
        char lab[40];
        snprintf(lab, sizeof lab, "C:%s", raw_quality_names[r]);
        parse_label(lab, &l);
        const char *map = l.map == MAP_EXACT ? "exact" : l.map == MAP_REDUCED ? "reduced" : "other";
        if (l.map == MAP_OTHER)
            printf("  %-10s %-8s %7ld %6.1f%%       -\n", raw_quality_names[r], map, beats.by_raw[r][0],
                   pct(beats.by_raw[r][1], beats.by_raw[r][0]));
        else
            printf("  %-10s %-8s %7ld %6.1f%% %6.1f%%\n", raw_quality_names[r], map, beats.by_raw[r][0],
                   pct(beats.by_raw[r][1], beats.by_raw[r][0]), pct(beats.by_raw_q[r], beats.by_raw[r][0]));
    }
    static const char *qn[GM_N_QUALITIES] = {"maj", "min", "aug", "dim", "7", "maj7", "m7", "m7b5"};
    printf("\nour qualities on evaluated bars:");
    for (int q = 0; q < GM_N_QUALITIES; q++) printf(" %s %.1f%%", qn[q], pct(beats.pred_q[q], beats.labelled));
    printf("\n\nkey (gm_key_find on the whole MIDI) vs longest key of key_audio.txt, %d songs\n", key_n);
    printf("  %-42s %6.1f%%\n", "same tonic and mode", pct(key_exact, key_n));
    printf("  %-42s %6.1f%%\n", "same key signature (same shift to C/Am)", pct(key_sig, key_n));
    printf("  %-42s %6.1f%%\n", "  of which relative major/minor swapped", pct(key_rel, key_n));
    printf("  %-42s %6.1f%%\n", "off by a fifth (neighbouring signature)", pct(key_fifth, key_n));
    printf("\ntime in gm_chords_recognize: %.2f s for %ld downbeat bars (%.1f us/bar), %.2f s for %ld file-metre"
           " bars;\n  %.3f s in gm_key_find; %.2f s in all (reading MIDI and labels included)\n",
           beats.seconds, beats.bars, 1e6 * beats.seconds / (beats.bars ? beats.bars : 1), own.seconds, own.bars, t_key,
           t_all);
    return 0;
}
