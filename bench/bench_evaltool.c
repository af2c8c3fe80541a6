/*
 * bench_evaltool.c — helpers for the evaluation harness (bench/eval.sh,
 * `make eval`): which POP909 songs are held out, cropping a song to its
 * first bars (the ground truth), and the rule-based accompaniment baseline.
 * Library API only; this tool prints, the library does not.
 *
 *   bench_evaltool list-valid POP909_DIR [--percent P]
 *       The validation songs of `getmusic prepare` (default P = 10): one
 *       "NNN/NNN.mid" per line (path relative to POP909_DIR), sorted.
 *   bench_evaltool corpus-valid CORPUS_DIR
 *       The same list read from a prepared corpus (songs with a validation
 *       segment), to cross-check list-valid; Groove files are listed too.
 *   bench_evaltool list-groove-valid GROOVE_DIR [--percent P]
 *       The Groove MIDI files of `getmusic prepare`'s validation split (the
 *       same hash of the path relative to GROOVE_DIR) that are 4/4 grooves
 *       (info.csv: time_signature 4-4, beat_type beat; fills are a bar or
 *       two of something else, not a groove): one path relative to
 *       GROOVE_DIR per line, sorted. The "real drummers" of the drum feel.
 *   bench_evaltool crop IN.mid OUT.mid --bars N [--from-downbeat]
 *       Bar lines from POP909's beat_midi.txt beside IN when there is one
 *       (written into OUT as time signatures), then the first N bars: notes
 *       starting before the end of bar N, cut at it; tempo map, metre and key
 *       kept up to there. Nothing else is copied. --from-downbeat: when the
 *       beat file gives a lead-in bar (music before the first annotated
 *       downbeat), leave it out: OUT starts at that downbeat (tick 0) with
 *       the tempo, metre and key in effect there, and has N whole bars.
 *       POP909's chord_midi.txt beside IN, when there is one, is cropped the
 *       same way (times moved to OUT's start, spans cut at its end) into
 *       OUT's name with .chord_midi.txt for .mid, where `getmusic eval`
 *       finds the chord labels of the chord-tone ratio. --melody-only: every
 *       track but the melody (lead role) left empty, a bare melody.
 *   bench_evaltool rules IN.mid OUT.mid [--no-drums]
 *       The rule-based floor: IN's lead track(s) (default layout) kept note
 *       for note, plus
 *         piano: each bar's chord (gm_chords_recognize over all of IN, the
 *           same chords `generate --chords input` gives the model) as a block
 *           chord held for the whole bar, every chord tone in the octave
 *           G3..F#4 around middle C (close position), velocity 70, and the
 *           chord root in octave 2 (C2..B2) as a held bass note, velocity 80;
 *           program 0, MIDI channel 3; no notes for a bar without a chord (N).
 *         drums (unless --no-drums): channel 10, a plain rock beat on every
 *           bar: bass drum (36) on odd beats (1 and 3 in 4/4), snare (38) on
 *           even beats (2 and 4), closed hi-hat (42) on every eighth; beats
 *           counted from the start of the bar, hits past its end dropped
 *           (so a short lead-in bar gets the first part of the pattern).
 *       Bars come from beat_midi.txt beside IN when present, as for crop.
 *   bench_evaltool model MODEL.gguf
 *       One line: the model's provenance text, sizes and parameter count.
 *
 * Exit status: 0 ok, 1 bad input or usage (one line on stderr), 2 internal.
 */
#include "getmusic.h"
#include "util.h" /* gm_grow */

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Prints "bench_evaltool: <reason>" on stderr and returns status. */
static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_evaltool: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return status;
}

/* ======================================================================== */
/* Reading a song with its POP909 bar lines                                  */
/* ======================================================================== */

/* Reads IN; when beat_midi.txt lies beside it, bar lines from there. */
static int read_song(const char *in, gm_score *s, char *err) {
    if (gm_midi_read_file(in, s, err)) return -1;
    char beats[4200];
    const char *slash = strrchr(in, '/');
    snprintf(beats, sizeof beats, "%.*s%sbeat_midi.txt", slash ? (int)(slash - in) : 0, in, slash ? "/" : "");
    if (access(beats, R_OK) == 0 && gm_score_metre_from_beat_file(s, beats, err)) {
        gm_score_free(s);
        return -1;
    }
    return 0;
}

/* ======================================================================== */
/* list-valid, corpus-valid                                                  */
/* ======================================================================== */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The list-* commands' output: names gathered, then printed sorted. */
typedef struct { char **v; size_t n, cap; } name_list;

static int names_push(name_list *l, const char *s) {
    if (gm_grow(&l->v, &l->cap, l->n, sizeof *l->v, 256)) return -1;
    if (!(l->v[l->n] = strdup(s))) return -1;
    l->n++;
    return 0;
}

/* Prints and frees the list; oom: a push failed (nothing printed, exit 2). */
static int names_print_sorted(name_list *l, int oom) {
    if (!oom && l->n) qsort(l->v, l->n, sizeof *l->v, cmp_str); /* qsort(NULL, 0) is undefined */
    for (size_t i = 0; i < l->n; i++) {
        if (!oom) printf("%s\n", l->v[i]);
        free(l->v[i]);
    }
    free(l->v);
    return oom ? fail(2, "out of memory") : 0;
}

/* "DIR [--percent P]" of the list-* commands; 1 (with a message) on bad usage. */
static int dir_percent_args(int argc, char **argv, const char *cmd, const char *what, const char **dir, int *percent) {
    *dir = NULL;
    *percent = 10;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--percent") && i + 1 < argc) *percent = atoi(argv[++i]);
        else if (!*dir) *dir = argv[i];
        else return fail(1, "%s: extra argument '%s'", cmd, argv[i]);
    }
    if (!*dir) return fail(1, "usage: bench_evaltool %s %s [--percent P]", cmd, what);
    return 0;
}

static int cmd_list_valid(int argc, char **argv) {
    const char *dir;
    int percent;
    if (dir_percent_args(argc, argv, "list-valid", "POP909_DIR", &dir, &percent)) return 1;
    DIR *d = opendir(dir);
    if (!d) return fail(1, "cannot open folder %s", dir);
    name_list names = {0};
    int oom = 0;
    struct dirent *e;
    while (!oom && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strlen(e->d_name) > 64) continue;
        char rel[160], path[4400];
        snprintf(rel, sizeof rel, "%.64s/%.64s.mid", e->d_name, e->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        if (access(path, R_OK) != 0) continue; /* LICENSE, stray files */
        if (gm_song_is_validation(rel, percent) != 1) continue;
        oom = names_push(&names, rel) != 0;
    }
    closedir(d);
    return names_print_sorted(&names, oom);
}

/* info.csv's columns by name: the file's and those we filter on. */
static int csv_col(char **f, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(f[i], name)) return i;
    return -1;
}

/* Splits line (in place) at commas; info.csv has no quoted fields. */
static int csv_split(char *line, char **f, int max) {
    int n = 0;
    line[strcspn(line, "\r\n")] = 0;
    for (char *p = line; n < max;) {
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = 0;
        p = c + 1;
    }
    return n;
}

static int cmd_list_groove_valid(int argc, char **argv) {
    const char *dir;
    int percent;
    if (dir_percent_args(argc, argv, "list-groove-valid", "GROOVE_DIR", &dir, &percent)) return 1;
    char path[4400], line[2048], head[2048];
    snprintf(path, sizeof path, "%s/info.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f) return fail(1, "cannot open %s", path);
    char *h[32], *v[32];
    int nh = fgets(head, sizeof head, f) ? csv_split(head, h, 32) : 0;
    int c_file = csv_col(h, nh, "midi_filename"), c_ts = csv_col(h, nh, "time_signature"),
        c_type = csv_col(h, nh, "beat_type");
    if (c_file < 0 || c_ts < 0 || c_type < 0) {
        fclose(f);
        return fail(1, "%s: no midi_filename, time_signature and beat_type columns", path);
    }
    name_list names = {0};
    int oom = 0;
    while (!oom && fgets(line, sizeof line, f)) {
        int nv = csv_split(line, v, 32);
        if (nv != nh || strcmp(v[c_ts], "4-4") || strcmp(v[c_type], "beat")) continue;
        if (gm_song_is_validation(v[c_file], percent) != 1) continue;
        oom = names_push(&names, v[c_file]) != 0;
    }
    fclose(f);
    return names_print_sorted(&names, oom);
}

static int cmd_corpus_valid(int argc, char **argv) {
    if (argc != 1) return fail(1, "usage: bench_evaltool corpus-valid CORPUS_DIR");
    gm_corpus c;
    char err[GM_ERR_SIZE];
    if (gm_corpus_load(&c, argv[0], err)) return fail(1, "%s: %s", argv[0], err);
    uint8_t *valid = calloc(c.n_songs ? c.n_songs : 1, 1);
    if (!valid) {
        gm_corpus_free(&c);
        return fail(2, "out of memory");
    }
    for (size_t i = 0; i < c.n_segments; i++)
        if (c.seg_valid[i] && c.seg_song[i] < c.n_songs) valid[c.seg_song[i]] = 1;
    for (size_t i = 0; i < c.n_songs; i++)
        if (valid[i]) printf("%s\n", c.song_names[i]);
    free(valid);
    gm_corpus_free(&c);
    return 0;
}

/* ======================================================================== */
/* crop                                                                      */
/* ======================================================================== */

/* Keeps the events of arr[0..n) that matter in [from, cut), shifted by
 * -from: the last one at or before `from` (moved to 0) and those inside. */
#define WINDOW_EVENTS(arr, n, from, cut)                                              \
    do {                                                                              \
        int k_ = 0;                                                                   \
        for (int i_ = 0; i_ < (n); i_++) {                                            \
            int last_before = (arr)[i_].tick <= (from) &&                             \
                              (i_ + 1 == (n) || (arr)[i_ + 1].tick > (from));         \
            if (!last_before && ((arr)[i_].tick <= (from) || (arr)[i_].tick >= (cut))) \
                continue;                                                             \
            (arr)[k_] = (arr)[i_];                                                    \
            (arr)[k_].tick = last_before ? 0 : (arr)[i_].tick - (from);               \
            k_++;                                                                     \
        }                                                                             \
        (n) = k_;                                                                     \
    } while (0)

/* POP909's chord_midi.txt beside `in`, cropped to [from_s, cut_s) and moved
 * to start at 0, into OUT's name with .chord_midi.txt; nothing without one.
 * 0, or the exit status after a message. */
static int crop_chords(const char *in, const char *out, double from_s, double cut_s) {
    char src[4200], dst[4200], line[512];
    const char *slash = strrchr(in, '/'), *dot = strrchr(out, '.');
    snprintf(src, sizeof src, "%.*s%schord_midi.txt", slash ? (int)(slash - in) : 0, in, slash ? "/" : "");
    if (access(src, R_OK) != 0) return 0;
    snprintf(dst, sizeof dst, "%.*s.chord_midi.txt", dot && !strchr(dot, '/') ? (int)(dot - out) : (int)strlen(out), out);
    FILE *f = fopen(src, "r"), *o = fopen(dst, "w");
    int status = !f || !o ? fail(1, "cannot crop %s into %s", src, dst) : 0;
    for (int no = 1; !status && fgets(line, sizeof line, f); no++) {
        double a, b;
        char label[128];
        if (sscanf(line, "%lf %lf %127s", &a, &b, label) != 3) {
            status = line[strspn(line, " \t\r\n")] ? fail(1, "%s: line %d is not 'start end label'", src, no) : 0;
            continue;
        }
        if (a < from_s) a = from_s;
        if (b > cut_s) b = cut_s;
        if (b > a) fprintf(o, "%.6f\t%.6f\t%s\n", a - from_s, b - from_s, label);
    }
    if (f) fclose(f);
    if (o && fclose(o) && !status) status = fail(1, "cannot write %s", dst);
    return status;
}

static int cmd_crop(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    long bars = 0;
    int from_downbeat = 0, melody_only = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--bars") && i + 1 < argc) bars = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--from-downbeat")) from_downbeat = 1;
        else if (!strcmp(argv[i], "--melody-only")) melody_only = 1;
        else if (!in) in = argv[i];
        else if (!out) out = argv[i];
        else return fail(1, "crop: extra argument '%s'", argv[i]);
    }
    if (!in || !out || bars < 1)
        return fail(1, "usage: bench_evaltool crop IN.mid OUT.mid --bars N [--from-downbeat] [--melody-only] (N >= 1)");
    char err[GM_ERR_SIZE];
    gm_score s;
    if (read_song(in, &s, err)) return fail(1, "%s: %s", in, err);
    gm_barmap bm;
    if (gm_barmap_build(&bm, &s, GM_STEPS_PER_QUARTER, err)) {
        gm_score_free(&s);
        return fail(1, "%s: %s", in, err);
    }
    /* The beat file's bars: a lead-in (one bar, or more when it is longer
     * than a bar), then bars from the first downbeat (its second time
     * signature). Starting there puts every beat on a
     * multiple of a quarter note from tick 0, which is where MusPy's beat,
     * measure and drum-pattern metrics look for them. */
    int first = 0;
    if (from_downbeat && s.n_timesigs == 2 && s.timesigs[1].tick > 0) /* lead-in: a bar or more */
        for (int b = 1; b < bm.n_bars && !first; b++)
            if (bm.bar_tick[b] == s.timesigs[1].tick) first = b;
    int last = first + bars < bm.n_bars ? first + (int)bars : bm.n_bars;
    int64_t from = bm.bar_tick[first], cut = bm.bar_tick[last];
    gm_barmap_free(&bm);
    int status = crop_chords(in, out, gm_score_tick_to_seconds(&s, from), gm_score_tick_to_seconds(&s, cut));
    if (status) {
        gm_score_free(&s);
        return status;
    }

    /* Notes starting in [from, cut), cut at the end; a note of the lead-in
     * still sounding at the downbeat goes with the lead-in. */
    for (int i = 0; i < s.n_tracks; i++) {
        gm_track *t = &s.tracks[i];
        size_t k = 0;
        if (melody_only && (t->is_drum || gm_track_role(t) != GM_ROLE_LEAD)) t->n_notes = 0;
        for (size_t j = 0; j < t->n_notes; j++) {
            gm_note nt = t->notes[j];
            if (nt.tick < from || nt.tick >= cut) continue;
            if (nt.tick + nt.duration > cut) nt.duration = cut - nt.tick;
            nt.tick -= from;
            t->notes[k++] = nt;
        }
        t->n_notes = k;
    }
    /* Tempo, metre and key in effect at the start, and their changes before
     * the cut (one exactly at the cut would only open an empty bar). */
    WINDOW_EVENTS(s.tempos, s.n_tempos, from, cut);
    WINDOW_EVENTS(s.timesigs, s.n_timesigs, from, cut);
    WINDOW_EVENTS(s.keysigs, s.n_keysigs, from, cut);
    s.end_tick = cut - from;
    gm_score_sort(&s);
    int rc = gm_midi_write_file(out, &s, err);
    gm_score_free(&s);
    if (rc) return fail(1, "%s: %s", out, err);
    return 0;
}

/* ======================================================================== */
/* rules                                                                     */
/* ======================================================================== */

/* Semitones above the root of each quality's chord tones (GM_Q_* order). */
static const int chord_tones[GM_N_QUALITIES][4] = {
    {0, 4, 7, -1}, {0, 3, 7, -1}, {0, 4, 8, -1}, {0, 3, 6, -1},
    {0, 4, 7, 10}, {0, 4, 7, 11}, {0, 3, 7, 10}, {0, 3, 6, 10},
};

#define CHORD_LOW 55   /* G3: chord tones in G3..F#4, around middle C */
#define BASS_LOW 36    /* C2: roots in C2..B2 */
#define CHORD_VEL 70
#define BASS_VEL 80
#define PIANO_CH 2     /* MIDI channel 3, as POP909's PIANO track */

static int add_piano(gm_score *o, const gm_barmap *bm, const gm_chord *chords) {
    int ti = gm_score_add_track(o, "Piano (rules)", 0, PIANO_CH, 0);
    if (ti < 0) return -1;
    gm_track *t = &o->tracks[ti];
    for (int b = 0; b < bm->n_bars; b++) {
        gm_chord c = chords[b];
        if (c.root < 0 || c.quality < 0 || c.quality >= GM_N_QUALITIES) continue;
        int64_t at = bm->bar_tick[b], len = bm->bar_tick[b + 1] - at;
        if (len < 1) continue;
        if (gm_track_add_note(t, at, len, BASS_LOW + c.root, BASS_VEL, PIANO_CH)) return -1;
        for (int k = 0; k < 4 && chord_tones[c.quality][k] >= 0; k++) {
            int pc = (c.root + chord_tones[c.quality][k]) % 12;
            int p = CHORD_LOW + ((pc - CHORD_LOW % 12) % 12 + 12) % 12;
            if (gm_track_add_note(t, at, len, p, CHORD_VEL, PIANO_CH)) return -1;
        }
    }
    return 0;
}

static int add_drums(gm_score *o, const gm_barmap *bm) {
    int ti = gm_score_add_track(o, "Drums (rules)", 0, 9, 1);
    if (ti < 0) return -1;
    gm_track *t = &o->tracks[ti];
    for (int b = 0; b < bm->n_bars; b++) {
        int64_t at = bm->bar_tick[b], end = bm->bar_tick[b + 1];
        int64_t beat = (int64_t)4 * bm->ticks_per_quarter / (bm->bar_den[b] ? bm->bar_den[b] : 4);
        int64_t eighth = beat / 2 > 0 ? beat / 2 : 1;
        for (int e = 0; at + e * eighth < end; e++) {
            int64_t tk = at + e * eighth, d = eighth;
            if (tk + d > end) d = end - tk;
            if (gm_track_add_note(t, tk, d, 42, 70, 9)) return -1;
            if (e % 2) continue;
            int pitch = (e / 2) % 2 ? 38 : 36; /* beat 1, 3, ... kick; 2, 4, ... snare */
            if (gm_track_add_note(t, tk, d, pitch, (e / 2) % 2 ? 90 : 100, 9)) return -1;
        }
    }
    return 0;
}

static int cmd_rules(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int drums = 1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--no-drums")) drums = 0;
        else if (!in) in = argv[i];
        else if (!out) out = argv[i];
        else return fail(1, "rules: extra argument '%s'", argv[i]);
    }
    if (!in || !out) return fail(1, "usage: bench_evaltool rules IN.mid OUT.mid [--no-drums]");
    char err[GM_ERR_SIZE];
    gm_layout layout;
    if (gm_layout_preset(&layout, "default", err)) return fail(2, "%s", err);
    int lead = gm_layout_find(&layout, "lead");
    gm_score s, o;
    if (read_song(in, &s, err)) return fail(1, "%s: %s", in, err);
    gm_barmap bm;
    if (gm_barmap_build(&bm, &s, GM_STEPS_PER_QUARTER, err)) {
        gm_score_free(&s);
        return fail(1, "%s: %s", in, err);
    }
    gm_chord *chords = malloc((size_t)bm.n_bars * sizeof *chords);
    if (!chords || gm_chords_recognize(&s, &bm, chords, err)) {
        free(chords);
        gm_barmap_free(&bm);
        gm_score_free(&s);
        return fail(2, "%s: chord recognition failed: %s", in, chords ? err : "out of memory");
    }

    /* The output: IN's tempo map, metre and key, its lead track(s), then ours. */
    int status = 2, leads = 0;
    gm_score_init(&o, s.ticks_per_quarter);
    for (int i = 0; i < s.n_tempos; i++)
        if (gm_score_add_tempo(&o, s.tempos[i].tick, s.tempos[i].usec_per_quarter)) goto done;
    for (int i = 0; i < s.n_timesigs; i++)
        if (gm_score_add_timesig(&o, s.timesigs[i].tick, s.timesigs[i].numerator, s.timesigs[i].denominator)) goto done;
    for (int i = 0; i < s.n_keysigs; i++)
        if (gm_score_add_keysig(&o, s.keysigs[i].tick, s.keysigs[i].sharps, s.keysigs[i].minor)) goto done;
    for (int i = 0; i < s.n_tracks; i++) {
        const gm_track *st = &s.tracks[i];
        if (gm_layout_classify(&layout, st) != lead) continue;
        int k = gm_score_add_track(&o, st->name, st->program, st->channel, st->is_drum);
        if (k < 0) goto done;
        for (size_t j = 0; j < st->n_notes; j++) {
            const gm_note *n = &st->notes[j];
            if (gm_track_add_note(&o.tracks[k], n->tick, n->duration, n->pitch, n->velocity, n->channel)) goto done;
        }
        leads++;
    }
    if (add_piano(&o, &bm, chords)) goto done;
    if (drums && add_drums(&o, &bm)) goto done;
    o.end_tick = bm.bar_tick[bm.n_bars];
    gm_score_sort(&o);
    if (gm_midi_write_file(out, &o, err)) {
        status = fail(1, "%s: %s", out, err);
        goto written;
    }
    if (!leads) fprintf(stderr, "bench_evaltool: %s: warning: no lead track\n", in);
    status = 0;
    goto written;
done:
    fail(2, "out of memory");
written:
    gm_score_free(&o);
    free(chords);
    gm_barmap_free(&bm);
    gm_score_free(&s);
    return status;
}

/* ======================================================================== */
/* model                                                                     */
/* ======================================================================== */

static int cmd_model(int argc, char **argv) {
    if (argc != 1) return fail(1, "usage: bench_evaltool model MODEL.gguf");
    char err[GM_ERR_SIZE];
    gm_model *m = gm_model_load(argv[0], err);
    if (!m) return fail(1, "%s: %s", argv[0], err);
    gm_model_params p = gm_model_sizes(m);
    const char *src = gm_model_source(m);
    printf("%s; embedding %d, hidden %d, %d layers, %d heads, %d columns, %d diffusion steps, %zu parameters\n",
           src[0] ? src : "(no source recorded)", p.embd, p.hidden, p.layers, p.heads, p.max_cols,
           p.diffusion_steps, gm_model_n_params(m));
    gm_model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "list-valid")) return cmd_list_valid(argc - 2, argv + 2);
    if (!strcmp(cmd, "list-groove-valid")) return cmd_list_groove_valid(argc - 2, argv + 2);
    if (!strcmp(cmd, "corpus-valid")) return cmd_corpus_valid(argc - 2, argv + 2);
    if (!strcmp(cmd, "crop")) return cmd_crop(argc - 2, argv + 2);
    if (!strcmp(cmd, "rules")) return cmd_rules(argc - 2, argv + 2);
    if (!strcmp(cmd, "model")) return cmd_model(argc - 2, argv + 2);
    fprintf(stderr, "usage: bench_evaltool list-valid POP909_DIR [--percent P] | corpus-valid CORPUS_DIR |\n"
                    "       list-groove-valid GROOVE_DIR [--percent P] |\n"
                    "       crop IN.mid OUT.mid --bars N | rules IN.mid OUT.mid [--no-drums] | model MODEL.gguf\n");
    return 1;
}
