/* cmd_eval.c — `getmusic eval`: MusPy's metrics of generated MIDI files, per
 * piece and per track class, and with --ref the accompaniment metrics
 * against reference files (histogram overlap areas per class, chord
 * accuracy); per class, what a musician hears: the chord-tone ratio against
 * chord labels (POP909's chord_midi.txt beside the reference, a file, or
 * chord names) with its chord-blind floor, and the drum feel. The metrics live in src/eval/metrics.c; this file finds the files,
 * pairs them, groups tracks by class, runs the files on a few threads and
 * prints a table or JSON.
 *
 * Pairing: GEN and REF arguments are each expanded in the order given, a
 * folder into its *.mid / *.midi files (recursively, sorted by path), and
 * the i-th GEN file is paired with the i-th REF file. Two folders with the
 * same file names therefore pair by name; the counts must be equal. */
#include "cli.h"
#include "getmusic.h"
#include "util.h" /* gm_walk_midi */

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 1000000
#define MAX_GROUPS 64

void usage_eval(FILE *f) {
    fprintf(f,
            "usage: getmusic eval GEN... [--ref REF...] [options]\n"
            "  MusPy's metrics (MusPy's definitions and quirks) of each generated file, for\n"
            "  the whole piece and per track class; with --ref, against reference files:\n"
            "  overlap area (sum of min(p, q)) of the pitch, duration and inter-onset-interval\n"
            "  histograms of each class, and chord accuracy (chords per bar of the generated\n"
            "  classes vs the reference's chords).\n"
            "  GEN, REF              MIDI files or folders (recursively *.mid, *.midi); the\n"
            "                        i-th GEN file pairs with the i-th REF file, folders\n"
            "                        listed in path order; the counts must match; '-'\n"
            "                        (once) reads a file from standard input\n"
            "  --ref REF...          reference files: every following argument that is not\n"
            "                        an option\n"
            "  --tracks a,b          classes scored for overlap, chord accuracy, chord tones\n"
            "                        and drum feel (default: every class)\n"
            "  --chord-labels FILE   chord labels for the chord-tone ratio of every file, in\n"
            "                        POP909's chord_midi.txt format (start_s end_s Root:quality)\n"
            "  --chords NAMES        or chords by name on the generated file's bars, as\n"
            "                        generate takes them: \"C G Am F\" (one per bar, repeated),\n"
            "                        \"C G | Am F\" ('|' between bars, two share a bar)\n"
            "  --layout L            track classes: default|original (default: default)\n"
            "  --ghost-velocity V    leave out snare strokes softer than V first, as prepare\n"
            "                        does (default 0: score every note)\n"
            "  --json                one JSON object on stdout (NaN as null)\n"
            "  --quiet               no progress bar\n"
            "  --threads N           files evaluated at once (default: all cores)\n"
            "  Times are in the file's ticks (MusPy's resolution = ticks per quarter); the\n"
            "  measure is the metre covering most of the piece; the scale of\n"
            "  pitch_in_scale_rate is the piece's key; drum_in_pattern_rate uses the duple\n"
            "  pattern. A beat_midi.txt (POP909) beside a file gives its bar lines.\n"
            "  Chord tones (CTR): duration-weighted share (weights clipped to 0.05-2 s) of a\n"
            "  pitched class's notes that are tones of the chord sounding at their onset; the\n"
            "  floor scores the same notes with the class's own pitch-class distribution in\n"
            "  place of their pitches. Labels: --chords or --chord-labels, else NAME.chord_midi.txt\n"
            "  or chord_midi.txt beside the reference (beside GEN without --ref); none: no CTR.\n"
            "  Drum feel on the bar grid (16ths), over the full bars with drums: snare (37, 38,\n"
            "  40) onsets on beats 2 and 4 / all; bars with a kick (35, 36) on beat 1; mean\n"
            "  Jaccard of neighbouring bars' (kick|snare|hat|other, 16th) onset sets; and\n"
            "  presence: bars with a snare on both 2 and 4 (every backbeat of the metre);\n"
            "  kick, snare and hi-hat or ride onsets per bar; full bars without drums\n"
            "  between the first and last bar with drums / full bars there; fills, 4-bar\n"
            "  phrases (bars 1-4, 5-8, ...) whose last bar strays from the phrase's most\n"
            "  common bar more than its other bars do (by 1 - Jaccard >= 0.25) / phrases.\n");
}

/* ======================================================================== */
/* Finding files                                                             */
/* ======================================================================== */

typedef struct { char **v; size_t n, cap; } path_list;

static int list_add(path_list *l, const char *p) {
    if (l->n >= MAX_FILES) return -1;
    if (gm_grow(&l->v, &l->cap, l->n, sizeof *l->v, 64)) return -1;
    if (!(l->v[l->n] = strdup(p))) return -1;
    l->n++;
    return 0;
}

static void list_free(path_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* gm_walk_midi's visitor: one more file, or the walk stops (after a message). */
static int walk_add(void *user_data, const char *path, const char *name) {
    (void)name;
    if (!list_add(user_data, path)) return 0;
    cli_fail(EXIT_USAGE, "eval: too many files (limit %d) or out of memory", MAX_FILES);
    return -1;
}

/* Expands the arguments in order: a file as itself, a folder into its MIDI
 * files sorted by path. 0, or -1 after a message. */
static int expand(char **args, int n, path_list *out) {
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (cli_is_std(args[i])) { /* standard input: one file */
            if (list_add(out, args[i])) return cli_fail(EXIT_USAGE, "eval: too many files or out of memory"), -1;
            continue;
        }
        if (stat(args[i], &st)) return cli_fail(EXIT_USAGE, "eval: %s: %s", args[i], strerror(errno)), -1;
        if (S_ISDIR(st.st_mode)) {
            size_t first = out->n;
            char dir[4096];
            snprintf(dir, sizeof dir, "%s", args[i]);
            size_t k = strlen(dir);
            while (k > 1 && dir[k - 1] == '/') dir[--k] = 0; /* "gen/" → "gen": no "gen//a.mid" */
            char err[GM_ERR_SIZE] = "";
            int rc = gm_walk_midi(dir, walk_add, out, err);
            if (rc && err[0]) return cli_fail(EXIT_USAGE, "eval: %s", err), -1;
            if (rc) return -1;
            if (out->n == first) return cli_fail(EXIT_USAGE, "eval: no MIDI files (*.mid, *.midi) in %s", args[i]), -1;
            qsort(out->v + first, out->n - first, sizeof *out->v, cmp_str);
        } else if (list_add(out, args[i])) {
            return cli_fail(EXIT_USAGE, "eval: too many files or out of memory"), -1;
        }
    }
    return 0;
}

/* ======================================================================== */
/* Per-file work                                                             */
/* ======================================================================== */

/* The drum-feel figures eval reports, in this order: placement, then
 * presence (include/getmusic.h, gm_drum_feel). */
enum { FEEL_BACKBEAT, FEEL_KICK_ONE, FEEL_REPETITION, FEEL_BOTH, FEEL_KICKS, FEEL_SNARES, FEEL_HATS, FEEL_EMPTY,
       FEEL_FILLS, N_FEEL };
static const char *feel_keys[N_FEEL] = {"snare_on_2_4",  "kick_on_1",   "bar_repetition",
                                        "both_backbeats", "kick_per_bar", "snare_per_bar",
                                        "hat_per_bar",   "empty_bars",  "fills"};
static const char *feel_cols[N_FEEL] = {"snare24", "kick1",  "barRep", "both24", "kick/b",
                                        "snare/b", "hat/b", "gapBars", "fills"};

static void feel_values(const gm_drum_feel *f, double v[N_FEEL]) {
    v[FEEL_BACKBEAT] = f->backbeat;
    v[FEEL_KICK_ONE] = f->kick_on_one;
    v[FEEL_REPETITION] = f->repetition;
    v[FEEL_BOTH] = f->both_backbeats;
    v[FEEL_KICKS] = f->kick_per_bar;
    v[FEEL_SNARES] = f->snare_per_bar;
    v[FEEL_HATS] = f->hat_per_bar;
    v[FEEL_EMPTY] = f->empty_bars;
    v[FEEL_FILLS] = f->fills;
}

/* A group of tracks: the tracks of one layout class, or the unmapped tracks
 * of one name. */
typedef struct {
    char name[80];
    int cls;                  /* layout class, or -1 (unmapped tracks, by name) */
    size_t notes;             /* notes of the generated file's tracks */
    int n_tracks;             /* generated file's tracks in the group */
    gm_metrics m;             /* MusPy's metrics of those tracks */
    int scored;               /* overlap computed (reference given, class selected) */
    double ov[GM_N_OVERLAPS]; /* overlap areas against the reference's group */
    int has_ctr;              /* chord-tone ratio computed (labels found, pitched notes, selected) */
    gm_chord_tone_ratio ctr;
    int has_feel;             /* drum feel computed (drum tracks, selected) */
    gm_drum_feel feel;
} group_res;

typedef struct {
    const char *gen, *ref;    /* paths (ref NULL without --ref) */
    int status;               /* 0 ok, else the exit status of its error */
    char err[GM_ERR_SIZE + 256];
    int bars;                 /* bars of the generated file (16th grid bar map) */
    gm_metrics piece;
    group_res *g;             /* [n_groups], classes in layout order, then unmapped names */
    int n_groups;
    size_t cap_groups;
    double chord_acc;         /* NaN when not computed */
    int has_chord;
    char labels[4400];        /* where the chord labels came from ("" = none) */
} file_res;

typedef struct {
    gm_layout layout;
    uint32_t selected;        /* classes named by --tracks (bit per class), 0 = none given */
    const char *labels_path;  /* --chord-labels */
    const char *chord_names;  /* --chords */
    int ghost_velocity;       /* --ghost-velocity: soft snare strokes left out first */
    file_res *res;
    size_t n_files;
    size_t next, done;        /* under lock */
    int stop;
    pthread_mutex_t lock;
    cli_progress prog;
} eval_job;

/* Name of the group of track i: its class's name, or its own name. */
static void group_name(const gm_layout *l, const gm_score *s, int i, int cls, char *out, size_t n) {
    if (cls >= 0) {
        snprintf(out, n, "%s", l->cls[cls].name);
        return;
    }
    const char *tn = s->tracks[i].name;
    if (!tn[0]) snprintf(out, n, "track %d", i + 1);
    else if (gm_layout_find(l, tn) >= 0) snprintf(out, n, "%s (unmapped)", tn);
    else snprintf(out, n, "%s", tn);
}

/* Index of group `name` in r, adding it (in the order met) if absent; -1
 * when there are too many or memory is out. */
static int group_get(file_res *r, const char *name, int cls) {
    for (int k = 0; k < r->n_groups; k++)
        if (!strcmp(r->g[k].name, name)) return k;
    if (r->n_groups == MAX_GROUPS) return -1;
    if (gm_grow(&r->g, &r->cap_groups, r->n_groups, sizeof *r->g, 8)) return -1;
    group_res *g = &r->g[r->n_groups];
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    g->cls = cls;
    for (int k = 0; k < GM_N_OVERLAPS; k++) g->ov[k] = NAN;
    return r->n_groups++;
}

/* mask[i] = 1 for the tracks of s in group `name`. */
static void group_mask(const gm_layout *l, const gm_score *s, const char *name, uint8_t *mask) {
    char gn[80];
    for (int i = 0; i < s->n_tracks; i++) {
        group_name(l, s, i, gm_layout_classify(l, &s->tracks[i]), gn, sizeof gn);
        mask[i] = !strcmp(gn, name);
    }
}

/* Sort key of a group: layout classes in layout order, then unmapped names. */
static int group_rank(int cls) { return cls < 0 ? GM_MAX_CLASSES : cls; }

/* Stable insertion sort by rank (a few groups), so unmapped names keep the
 * order they were met in. */
static void sort_groups(group_res *g, int n) {
    for (int a = 1; a < n; a++) {
        group_res t = g[a];
        int b = a;
        while (b > 0 && group_rank(g[b - 1].cls) > group_rank(t.cls)) {
            g[b] = g[b - 1];
            b--;
        }
        g[b] = t;
    }
}

static int fail(file_res *r, int status, const char *path, const char *why) {
    r->status = status;
    snprintf(r->err, sizeof r->err, "%s: %s", path, why);
    return -1;
}

/* Chord labels for r: --chords, --chord-labels, else NAME.chord_midi.txt or
 * chord_midi.txt beside the reference (beside GEN without one). r->labels
 * says which; "" and l->n = 0 when there are none. 0, or -1 after fail(). */
static int find_labels(const eval_job *job, file_res *r, const gm_score *gen, gm_chord_labels *l) {
    char err[GM_ERR_SIZE];
    memset(l, 0, sizeof *l);
    r->labels[0] = 0;
    if (job->chord_names) {
        if (gm_chord_labels_per_bar(gen, job->chord_names, l, err)) return fail(r, EXIT_USAGE, "--chords", err);
        snprintf(r->labels, sizeof r->labels, "--chords");
        return 0;
    }
    const char *path = job->labels_path;
    char cand[2][4200];
    if (!path) {
        const char *beside = r->ref ? r->ref : r->gen;
        if (cli_is_std(beside)) return 0; /* no folder to look in */
        const char *slash = strrchr(beside, '/'), *dot = strrchr(beside, '.');
        int dir = slash ? (int)(slash - beside + 1) : 0;
        int stem = dot && dot > beside + dir ? (int)(dot - beside) : (int)strlen(beside);
        snprintf(cand[0], sizeof cand[0], "%.*s.chord_midi.txt", stem, beside);
        snprintf(cand[1], sizeof cand[1], "%.*schord_midi.txt", dir, beside);
        for (int k = 0; k < 2 && !path; k++)
            if (access(cand[k], R_OK) == 0) path = cand[k];
        if (!path) return 0;
    }
    if (gm_chord_labels_load(path, l, err)) {
        r->status = EXIT_USAGE; /* err names the file */
        snprintf(r->err, sizeof r->err, "%s", err);
        return -1;
    }
    snprintf(r->labels, sizeof r->labels, "%.4300s", path);
    return 0;
}

/* Chord tones of a group's pitched tracks and feel of its drum tracks
 * (mask: the group's tracks in gen). 0, or -1 after fail(). */
static int musician_metrics(file_res *r, group_res *g, const gm_score *gen, const uint8_t *mask,
                            const gm_chord_labels *l) {
    char err[GM_ERR_SIZE];
    int pitched = 0, drums = 0;
    for (int i = 0; i < gen->n_tracks; i++)
        if (mask[i] && gen->tracks[i].n_notes) {
            if (gen->tracks[i].is_drum) drums = 1;
            else pitched = 1;
        }
    if (pitched && r->labels[0]) {
        if (gm_metrics_chord_tones(gen, mask, l, &g->ctr, err)) return fail(r, EXIT_INTERNAL, r->gen, err);
        g->has_ctr = 1;
    }
    if (drums) {
        if (gm_metrics_drum_feel(gen, mask, &g->feel, err)) return fail(r, EXIT_INTERNAL, r->gen, err);
        g->has_feel = 1;
    }
    return 0;
}

/* One file's figures, from reading it (and its reference) to the last
 * metric. About 100 lines: a straight sequence of library calls, each with
 * its own error path into one cleanup. */

/* The bar lines eval judges the drums on: a beat_midi.txt beside the file,
 * else the file's own time signatures as written (generate writes the grid
 * it used), inferred from the music only when the file says nothing usable
 * (none, or 1/4 all through). */
static void eval_bars(gm_score *s, const char *path) {
    char err[GM_ERR_SIZE];
    gm_metre m;
    if (cli_metre_from_beats(s, path) || gm_metre_file_trust(s) < GM_METRE_DEGENERATE) return;
    if (gm_score_settle_metre(s, NULL, &m, err) == 0) gm_metre_free(&m);
}

/* Chord accuracy: the selected pitched classes of the generation against
 * the whole reference (its chords are the song's harmony). mg: scratch
 * track mask of gen. 0, or -1 after fail(). */
static int chord_accuracy(const eval_job *job, file_res *r, const gm_score *gen, const gm_score *ref, uint8_t *mg) {
    const gm_layout *l = &job->layout;
    char err[GM_ERR_SIZE];
    int any = 0;
    for (int c = 0; c < l->n_classes; c++)
        if (!l->cls[c].is_drum && (!job->selected || (job->selected & (1u << c)))) any = 1;
    if (!any) return 0;
    for (int i = 0; i < gen->n_tracks; i++) {
        int c = gm_layout_classify(l, &gen->tracks[i]);
        mg[i] = c >= 0 && !l->cls[c].is_drum && (!job->selected || (job->selected & (1u << c)));
    }
    if (gm_metrics_chord_accuracy(gen, mg, ref, NULL, &r->chord_acc, NULL, err)) return fail(r, EXIT_INTERNAL, r->gen, err);
    r->has_chord = 1;
    return 0;
}

static int eval_file(const eval_job *job, file_res *r) {
    const gm_layout *l = &job->layout;
    char err[GM_ERR_SIZE];
    gm_score gen, ref;
    int have_ref = r->ref != NULL, rc = -1;
    uint8_t *mg = NULL, *mr = NULL;
    gm_chord_labels labels = {0};
    r->chord_acc = NAN;
    if (cli_read_midi(r->gen, &gen, err)) return fail(r, EXIT_USAGE, cli_shown(r->gen), err);
    if (have_ref && cli_read_midi(r->ref, &ref, err)) {
        gm_score_free(&gen);
        return fail(r, EXIT_USAGE, cli_shown(r->ref), err);
    }
    eval_bars(&gen, r->gen);
    if (have_ref) eval_bars(&ref, r->ref);
    gm_score_drop_ghost_notes(&gen, job->ghost_velocity);
    if (have_ref) gm_score_drop_ghost_notes(&ref, job->ghost_velocity);
    mg = calloc((size_t)gen.n_tracks + 1, 1);
    mr = calloc(have_ref ? (size_t)ref.n_tracks + 1 : 1, 1);
    if (!mg || !mr) {
        fail(r, EXIT_INTERNAL, r->gen, "out of memory");
        goto done;
    }
    gm_barmap bm;
    if (gm_barmap_build(&bm, &gen, GM_STEPS_PER_QUARTER, err)) {
        fail(r, EXIT_USAGE, r->gen, err);
        goto done;
    }
    r->bars = bm.n_bars;
    gm_barmap_free(&bm);
    if (find_labels(job, r, &gen, &labels)) goto done;
    if (gm_metrics_compute(&gen, NULL, NULL, &r->piece, err)) {
        fail(r, EXIT_INTERNAL, r->gen, err);
        goto done;
    }

    /* Groups met in the generated file, then those only the reference has
     * (a class the generation left out still gets its overlap: NaN). */
    char gn[80];
    for (int side = 0; side < 1 + have_ref; side++) {
        const gm_score *s = side ? &ref : &gen;
        for (int i = 0; i < s->n_tracks; i++) {
            int cls = gm_layout_classify(l, &s->tracks[i]);
            group_name(l, s, i, cls, gn, sizeof gn);
            int k = group_get(r, gn, cls);
            if (k < 0) {
                fail(r, EXIT_USAGE, side ? r->ref : r->gen, "more than 64 track groups, or out of memory");
                goto done;
            }
            if (!side) {
                r->g[k].notes += s->tracks[i].n_notes;
                r->g[k].n_tracks++;
            }
        }
    }
    sort_groups(r->g, r->n_groups);
    for (int k = 0; k < r->n_groups; k++) {
        group_res *g = &r->g[k];
        group_mask(l, &gen, g->name, mg);
        if (gm_metrics_compute(&gen, mg, NULL, &g->m, err)) {
            fail(r, EXIT_INTERNAL, r->gen, err);
            goto done;
        }
        if (job->selected && (g->cls < 0 || !(job->selected & (1u << g->cls)))) continue;
        if (musician_metrics(r, g, &gen, mg, &labels)) goto done;
        if (!have_ref) continue;
        group_mask(l, &ref, g->name, mr);
        if (gm_metrics_overlap(&gen, mg, &ref, mr, g->ov, err)) {
            fail(r, EXIT_INTERNAL, r->gen, err);
            goto done;
        }
        g->scored = 1;
    }

    if (have_ref && chord_accuracy(job, r, &gen, &ref, mg)) goto done;
    rc = 0;
done:
    gm_chord_labels_free(&labels);
    free(mg);
    free(mr);
    gm_score_free(&gen);
    if (have_ref) gm_score_free(&ref);
    return rc;
}

static void *worker(void *arg) {
    eval_job *job = arg;
    for (;;) {
        pthread_mutex_lock(&job->lock);
        size_t i = job->next;
        int stop = job->stop || i >= job->n_files;
        if (!stop) job->next++;
        pthread_mutex_unlock(&job->lock);
        if (stop) return NULL;
        int rc = eval_file(job, &job->res[i]);
        pthread_mutex_lock(&job->lock);
        if (rc) job->stop = 1; /* a bad file ends the run: no use scoring the rest */
        job->done++;
        cli_progress_cb(&job->prog, job->done, job->n_files);
        pthread_mutex_unlock(&job->lock);
    }
}

/* ======================================================================== */
/* Output                                                                    */
/* ======================================================================== */

typedef struct { double sum; long n; } acc;
static void acc_add(acc *a, double v) {
    if (!isnan(v)) {
        a->sum += v;
        a->n++;
    }
}
static double acc_mean(const acc *a) { return a->n ? a->sum / (double)a->n : NAN; }

/* Means over the files (NaN values skipped, as numpy.nanmean), per group. */
typedef struct {
    char name[80];
    int cls;
    acc m[GM_N_METRICS]; /* over files whose generation has tracks of the group */
    acc ov[GM_N_OVERLAPS];
    int scored;          /* scored in some file */
    size_t notes;
    acc ctr, floor;      /* over files with chord tones for the group */
    int has_ctr;
    acc feel[N_FEEL];    /* the drum-feel figures, FEEL_* order */
    int has_feel;
} group_mean;

typedef struct {
    acc piece[GM_N_METRICS];
    acc chord, ov[GM_N_OVERLAPS];
    int any_chord, any_ref, any_ctr, any_feel;
    group_mean g[MAX_GROUPS];
    int n_groups;
} means;

static void compute_means(const file_res *res, size_t n, int have_ref, means *mn) {
    memset(mn, 0, sizeof *mn);
    mn->any_ref = have_ref;
    for (size_t f = 0; f < n; f++) {
        const file_res *r = &res[f];
        for (int k = 0; k < GM_N_METRICS; k++) acc_add(&mn->piece[k], r->piece.v[k]);
        if (r->has_chord) {
            mn->any_chord = 1;
            acc_add(&mn->chord, r->chord_acc);
        }
        for (int j = 0; j < r->n_groups; j++) {
            const group_res *g = &r->g[j];
            int k = 0;
            while (k < mn->n_groups && strcmp(mn->g[k].name, g->name)) k++;
            if (k == mn->n_groups) {
                if (k == MAX_GROUPS) continue;
                memset(&mn->g[k], 0, sizeof mn->g[k]);
                snprintf(mn->g[k].name, sizeof mn->g[k].name, "%s", g->name);
                mn->g[k].cls = g->cls;
                mn->n_groups++;
            }
            group_mean *m = &mn->g[k];
            m->notes += g->notes;
            if (g->n_tracks)
                for (int q = 0; q < GM_N_METRICS; q++) acc_add(&m->m[q], g->m.v[q]);
            if (g->has_ctr) {
                m->has_ctr = mn->any_ctr = 1;
                acc_add(&m->ctr, g->ctr.ctr);
                acc_add(&m->floor, g->ctr.floor);
            }
            if (g->has_feel) {
                m->has_feel = mn->any_feel = 1;
                double fv[N_FEEL];
                feel_values(&g->feel, fv);
                for (int q = 0; q < N_FEEL; q++) acc_add(&m->feel[q], fv[q]);
            }
            if (g->scored) {
                m->scored = 1;
                for (int q = 0; q < GM_N_OVERLAPS; q++) {
                    acc_add(&m->ov[q], g->ov[q]);
                    acc_add(&mn->ov[q], g->ov[q]);
                }
            }
        }
    }
    /* Classes in layout order, then the unmapped names (stable). */
    for (int a = 1; a < mn->n_groups; a++) {
        group_mean t = mn->g[a];
        int b = a;
        while (b > 0 && group_rank(mn->g[b - 1].cls) > group_rank(t.cls)) {
            mn->g[b] = mn->g[b - 1];
            b--;
        }
        mn->g[b] = t;
    }
}

static void json_num(double v) {
    if (isnan(v) || isinf(v)) printf("null");
    else printf("%.10g", v);
}

/* {"name": value, ...} of n figures named by name(k). */
static void json_named(const double *v, int n, const char *(*name)(int)) {
    printf("{");
    for (int k = 0; k < n; k++) {
        printf("%s\"%s\":", k ? "," : "", name(k));
        json_num(v[k]);
    }
    printf("}");
}

static void json_metrics(const double *v) { json_named(v, GM_N_METRICS, gm_metric_name); }

static void json_overlap(const double *ov) { json_named(ov, GM_N_OVERLAPS, gm_overlap_name); }

/* {"ctr":..,"floor":..[,"notes":..,"unlabelled":..]} or null. */
static void json_ctr(int has, double ctr, double floor, const gm_chord_tone_ratio *full) {
    if (!has) {
        printf("null");
        return;
    }
    printf("{\"ctr\":");
    json_num(ctr);
    printf(",\"floor\":");
    json_num(floor);
    if (full) printf(",\"notes\":%zu,\"unlabelled\":%zu", full->notes, full->unlabelled);
    printf("}");
}

/* {"snare_on_2_4":..,"kick_on_1":.., ... (feel_keys)[,counts]} or null. */
static void json_feel(int has, const double v[N_FEEL], const gm_drum_feel *full) {
    if (!has) {
        printf("null");
        return;
    }
    printf("{");
    for (int k = 0; k < N_FEEL; k++) {
        printf("%s\"%s\":", k ? "," : "", feel_keys[k]);
        json_num(v[k]);
    }
    if (full)
        printf(",\"snare_onsets\":%zu,\"bars\":%d,\"bar_pairs\":%d,\"empty_bar_count\":%d,\"span_bars\":%d,"
               "\"phrases\":%d",
               full->snare_onsets, full->bars, full->pairs, full->empty_bar_count, full->span_bars, full->phrases);
    printf("}");
}

/* Means of the drum-feel figures over the files (FEEL_* order). */
static void feel_means(const group_mean *g, double v[N_FEEL]) {
    for (int k = 0; k < N_FEEL; k++) v[k] = acc_mean(&g->feel[k]);
}

static void print_json(const file_res *res, size_t n, const means *mn) {
    printf("{\"files\":[");
    for (size_t f = 0; f < n; f++) {
        const file_res *r = &res[f];
        printf("%s{\"file\":", f ? "," : "");
        cli_json_str(r->gen);
        printf(",\"ref\":");
        if (r->ref) cli_json_str(r->ref); else printf("null");
        printf(",\"bars\":%d,\"piece\":", r->bars);
        json_metrics(r->piece.v);
        printf(",\"tracks\":[");
        for (int k = 0; k < r->n_groups; k++) {
            const group_res *g = &r->g[k];
            printf("%s{\"class\":", k ? "," : "");
            cli_json_str(g->name);
            printf(",\"notes\":%zu,\"metrics\":", g->notes);
            json_metrics(g->m.v);
            printf(",\"overlap\":");
            if (g->scored) json_overlap(g->ov); else printf("null");
            printf(",\"chord_tones\":");
            json_ctr(g->has_ctr, g->ctr.ctr, g->ctr.floor, &g->ctr);
            double fv[N_FEEL];
            feel_values(&g->feel, fv);
            printf(",\"drum_feel\":");
            json_feel(g->has_feel, fv, &g->feel);
            printf("}");
        }
        printf("],\"chord_accuracy\":");
        if (r->has_chord) json_num(r->chord_acc); else printf("null");
        printf(",\"chord_labels\":");
        if (r->labels[0]) cli_json_str(r->labels); else printf("null");
        printf("}");
    }
    double v[GM_N_METRICS], ov[GM_N_OVERLAPS];
    for (int k = 0; k < GM_N_METRICS; k++) v[k] = acc_mean(&mn->piece[k]);
    printf("],\"mean\":{\"piece\":");
    json_metrics(v);
    printf(",\"chord_accuracy\":");
    if (mn->any_chord) json_num(acc_mean(&mn->chord)); else printf("null");
    printf(",\"overlap\":");
    for (int k = 0; k < GM_N_OVERLAPS; k++) ov[k] = acc_mean(&mn->ov[k]);
    if (mn->any_ref) json_overlap(ov); else printf("null");
    printf(",\"tracks\":{");
    for (int j = 0; j < mn->n_groups; j++) {
        const group_mean *g = &mn->g[j];
        printf("%s", j ? "," : "");
        cli_json_str(g->name);
        printf(":{\"overlap\":");
        for (int k = 0; k < GM_N_OVERLAPS; k++) ov[k] = acc_mean(&g->ov[k]);
        if (g->scored) json_overlap(ov); else printf("null");
        printf(",\"chord_tones\":");
        json_ctr(g->has_ctr, acc_mean(&g->ctr), acc_mean(&g->floor), NULL);
        double fv[N_FEEL];
        feel_means(g, fv);
        printf(",\"drum_feel\":");
        json_feel(g->has_feel, fv, NULL);
        printf("}");
    }
    printf("}}}\n");
}

/* Short column headers, in GM_M_* order, then the overlaps and chords. */
static const char *short_names[GM_N_METRICS] = {"range", "pitches", "pcs",    "poly",   "polyR",  "inScale", "scaleC",
                                                "pEnt",  "pcEnt",   "emptyB", "emptyM", "groove", "drumP",   "drumC"};
static const char *short_ov[GM_N_OVERLAPS] = {"ovPitch", "ovDur", "ovIOI"};

static void cell(double v, int present) {
    if (!present || isnan(v)) printf(" %7s", "-");
    else printf(" %7.3f", v);
}

/* What a row shows of the musician's figures: CTR and floor, drum feel. */
typedef struct { int show_ctr, show_feel; double ctr[2], feel[N_FEEL]; int has_ctr, has_feel; } hears;

static void row(int wname, const char *name, const char *cls, const char *notes, const double *m, const double *ov,
                int has_ov, double chord, int has_chord, int with_ref, const hears *h) {
    printf("%-*.*s  %-12.12s %7s", wname, wname, name, cls, notes);
    for (int k = 0; k < GM_N_METRICS; k++) cell(m ? m[k] : NAN, m != NULL);
    if (with_ref) {
        for (int k = 0; k < GM_N_OVERLAPS; k++) cell(has_ov ? ov[k] : NAN, has_ov);
        cell(chord, has_chord);
    }
    if (h->show_ctr)
        for (int k = 0; k < 2; k++) cell(h->ctr[k], h->has_ctr);
    if (h->show_feel)
        for (int k = 0; k < N_FEEL; k++) cell(h->feel[k], h->has_feel);
    printf("\n");
}

static hears hears_of(const means *mn, int has_ctr, double ctr, double floor, int has_feel,
                      const double feel[N_FEEL]) {
    hears h = {mn->any_ctr, mn->any_feel, {ctr, floor}, {0}, has_ctr, has_feel};
    memcpy(h.feel, feel, sizeof h.feel);
    return h;
}

static void print_table(const file_res *res, size_t n, const means *mn, int have_ref) {
    int w = 4;
    for (size_t f = 0; f < n; f++) {
        int k = (int)strlen(res[f].gen);
        if (k > w) w = k;
    }
    if (w > 40) w = 40;
    printf("%-*s  %-12s %7s", w, "file", "class", "notes");
    for (int k = 0; k < GM_N_METRICS; k++) printf(" %7s", short_names[k]);
    if (have_ref) {
        for (int k = 0; k < GM_N_OVERLAPS; k++) printf(" %7s", short_ov[k]);
        printf(" %7s", "chords");
    }
    if (mn->any_ctr) printf(" %7s %7s", "CTR", "floor");
    if (mn->any_feel)
        for (int k = 0; k < N_FEEL; k++) printf(" %7s", feel_cols[k]);
    printf("\n");
    double no_feel[N_FEEL];
    for (int k = 0; k < N_FEEL; k++) no_feel[k] = NAN;
    hears none = hears_of(mn, 0, NAN, NAN, 0, no_feel);
    char notes[32], name[64];
    for (size_t f = 0; f < n; f++) {
        const file_res *r = &res[f];
        size_t total = 0;
        for (int k = 0; k < r->n_groups; k++) total += r->g[k].notes;
        snprintf(notes, sizeof notes, "%zu", total);
        /* a long path keeps its end, where the file name is */
        size_t len = strlen(r->gen);
        if ((int)len > w) snprintf(name, sizeof name, "..%s", r->gen + len - (size_t)(w - 2));
        else snprintf(name, sizeof name, "%s", r->gen);
        row(w, name, "(piece)", notes, r->piece.v, NULL, 0, r->chord_acc, r->has_chord, have_ref, &none);
        for (int k = 0; k < r->n_groups; k++) {
            const group_res *g = &r->g[k];
            snprintf(notes, sizeof notes, "%zu", g->notes);
            double fv[N_FEEL];
            feel_values(&g->feel, fv);
            hears h = hears_of(mn, g->has_ctr, g->ctr.ctr, g->ctr.floor, g->has_feel, fv);
            row(w, "", g->name, notes, g->n_tracks ? g->m.v : NULL, g->ov, g->scored, NAN, 0, have_ref, &h);
        }
    }
    double v[GM_N_METRICS], ov[GM_N_OVERLAPS];
    for (int k = 0; k < GM_N_METRICS; k++) v[k] = acc_mean(&mn->piece[k]);
    for (int k = 0; k < GM_N_OVERLAPS; k++) ov[k] = acc_mean(&mn->ov[k]);
    char label[48];
    snprintf(label, sizeof label, "mean of %zu", n);
    row(w, label, "(piece)", "", v, ov, have_ref, acc_mean(&mn->chord), mn->any_chord, have_ref, &none);
    for (int j = 0; j < mn->n_groups; j++) {
        const group_mean *g = &mn->g[j];
        for (int k = 0; k < GM_N_METRICS; k++) v[k] = acc_mean(&g->m[k]);
        for (int k = 0; k < GM_N_OVERLAPS; k++) ov[k] = acc_mean(&g->ov[k]);
        double fv[N_FEEL];
        feel_means(g, fv);
        hears h = hears_of(mn, g->has_ctr, acc_mean(&g->ctr), acc_mean(&g->floor), g->has_feel, fv);
        row(w, "", g->name, "", v, ov, g->scored, NAN, 0, have_ref, &h);
    }
    printf("\ncolumns: range pitch_range, pitches n_pitches_used, pcs n_pitch_classes_used, poly polyphony,\n"
           "  polyR polyphony_rate, inScale pitch_in_scale_rate (the piece's key), scaleC scale_consistency,\n"
           "  pEnt pitch_entropy, pcEnt pitch_class_entropy, emptyB empty_beat_rate, emptyM empty_measure_rate,\n"
           "  groove groove_consistency, drumP drum_in_pattern_rate (duple), drumC drum_pattern_consistency%s\n"
           "  (MusPy's definitions; '-' = undefined; means skip undefined values)\n",
           have_ref ? ";\n  ovPitch/ovDur/ovIOI overlap areas with the reference's class, chords chord accuracy" : "");
    if (mn->any_ctr)
        printf("  CTR chord-tone ratio against the chord labels, floor its chord-blind floor (the class's own\n"
               "  pitch-class distribution in place of each note's pitch class)\n");
    if (mn->any_feel)
        printf("  snare24 snare onsets on beats 2 and 4 / all, kick1 bars with a kick on beat 1 / bars with\n"
               "  drums, barRep mean Jaccard of neighbouring bars' (kick|snare|hat|other, 16th) onsets,\n"
               "  both24 bars with a snare on both 2 and 4 / bars with drums, kick/b snare/b hat/b onsets\n"
               "  (hat: hi-hat or ride) per bar with drums, gapBars bars without drums between the first and last with drums /\n"
               "  bars there, fills 4-bar phrases ending in a fill / phrases\n");
}

/* ======================================================================== */
/* The command                                                               */
/* ======================================================================== */

/* --tracks a,b: class names of the job's layout → job->selected bits.
 * 0, or the exit status after a message. */
static int eval_parse_tracks(eval_job *job, const char *tracks) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", tracks);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int c = gm_layout_find(&job->layout, t);
        if (c < 0) {
            char known[256] = "";
            for (int k = 0; k < job->layout.n_classes; k++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
                         job->layout.cls[k].name);
            return cli_fail(EXIT_USAGE, "eval: --tracks: no class '%s' in layout '%s' (known: %s)", t, job->layout.name,
                            known);
        }
        job->selected |= 1u << c;
    }
    if (!job->selected) return cli_fail(EXIT_USAGE, "eval: --tracks needs class names, such as piano,drums");
    return 0;
}

/* Evaluates every file of the job on `threads` threads (this one
 * included), with a progress bar when show_progress. */
static void eval_run_workers(eval_job *job, long threads, int show_progress) {
    pthread_mutex_init(&job->lock, NULL);
    job->prog.on = show_progress;
    job->prog.label = "eval";
    job->prog.last_pct = -1;
    clock_gettime(CLOCK_MONOTONIC, &job->prog.t0);
    pthread_t tid[256];
    int started = 0;
    for (long t = 1; t < threads; t++) {
        if (pthread_create(&tid[started], NULL, worker, job)) break; /* fewer threads: still correct */
        started++;
    }
    worker(job);
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    pthread_mutex_destroy(&job->lock);
    if (job->prog.on && job->done < job->n_files) fputc('\n', stderr); /* end a bar cut short */
}

/* Longer than our usual 80 lines, on purpose: the options and the rules
 * between them in the order their errors are reported, then the three
 * stages (expand the file lists, run the workers, print). Splitting the
 * checks would scatter one command's contract over several functions. */
/* Every file pair scored on `threads` workers, then the table or JSON. */
static int eval_files(eval_job *job, const path_list *gl, const path_list *rl, int have_ref, long threads, int json,
                      int quiet) {
    job->n_files = gl->n;
    job->res = calloc(gl->n, sizeof *job->res);
    if (!job->res) return cli_fail(EXIT_INTERNAL, "eval: out of memory for %zu files", gl->n);
    for (size_t f = 0; f < gl->n; f++) {
        job->res[f].gen = gl->v[f];
        job->res[f].ref = have_ref ? rl->v[f] : NULL;
        job->res[f].chord_acc = NAN;
    }
    if (!threads) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c > 0 ? c : 1;
    }
    if ((size_t)threads > gl->n) threads = (long)gl->n;
    eval_run_workers(job, threads, !quiet && !json && isatty(2));
    for (size_t f = 0; f < gl->n; f++)
        if (job->res[f].status) return cli_fail(job->res[f].status, "eval: %s", job->res[f].err);
    means *mn = malloc(sizeof *mn);
    if (!mn) return cli_fail(EXIT_INTERNAL, "eval: out of memory");
    compute_means(job->res, gl->n, have_ref, mn);
    if (json) print_json(job->res, gl->n, mn);
    else print_table(job->res, gl->n, mn, have_ref);
    free(mn);
    return fflush(stdout) ? cli_fail(EXIT_INTERNAL, "eval: cannot write the output") : 0;
}

/* The command line: options, then GEN files, --ref and REF files. */
typedef struct {
    char **gen, **ref; /* [argc] each */
    int n_gen, n_ref, in_ref;
} eval_words;

static int eval_word(void *user, const char *word) {
    eval_words *w = user;
    if (w->in_ref) w->ref[w->n_ref++] = (char *)word;
    else w->gen[w->n_gen++] = (char *)word;
    return 0;
}

int cmd_eval(int argc, char **argv) {
    const char *layout_name = "default", *tracks = NULL;
    int json = 0, quiet = 0;
    long threads = 0;
    eval_words w = {calloc((size_t)argc + 1, sizeof *w.gen), calloc((size_t)argc + 1, sizeof *w.ref), 0, 0, 0};
    int status = EXIT_USAGE;
    path_list gl = {0}, rl = {0};
    eval_job job;
    memset(&job, 0, sizeof job);
    if (!w.gen || !w.ref) {
        status = cli_fail(EXIT_INTERNAL, "eval: out of memory");
        goto out;
    }
    const cli_opt opts[] = {
        CLI_FLAG("--json", NULL, &json),
        CLI_FLAG("--quiet", NULL, &quiet),
        CLI_FLAG("--ref", NULL, &w.in_ref), /* the words after it are references */
        CLI_STR("--tracks", NULL, &tracks),
        CLI_STR("--layout", NULL, &layout_name),
        CLI_LONG("--threads", NULL, &threads, 1, 256),
        CLI_STR("--chord-labels", NULL, &job.labels_path),
        CLI_STR("--chords", NULL, &job.chord_names),
        CLI_INT("--ghost-velocity", NULL, &job.ghost_velocity, 0, 128),
        CLI_END,
    };
    status = cli_parse_options("eval", argc, argv, opts, eval_word, &w);
    if (status) goto out;
    status = EXIT_USAGE;
    const int have_ref = w.in_ref, n_gen = w.n_gen, n_ref = w.n_ref;
    char **gen_args = w.gen, **ref_args = w.ref;
    if (!n_gen) {
        status = cli_fail(EXIT_USAGE, "usage: getmusic eval GEN... [--ref REF...] [--tracks a,b] [--json] (see --help)");
        goto out;
    }
    if (have_ref && !n_ref) {
        status = cli_fail(EXIT_USAGE, "eval: --ref needs at least one file or folder");
        goto out;
    }
    if (job.labels_path && job.chord_names) {
        status = cli_fail(EXIT_USAGE, "eval: give --chord-labels or --chords, not both");
        goto out;
    }
    if (job.labels_path && access(job.labels_path, R_OK) != 0) {
        status = cli_fail(EXIT_USAGE, "eval: --chord-labels: cannot read %s", job.labels_path);
        goto out;
    }
    char err[GM_ERR_SIZE];
    if (gm_layout_preset(&job.layout, layout_name, err)) {
        status = cli_fail(EXIT_USAGE, "eval: %s", err);
        goto out;
    }
    if (tracks && (status = eval_parse_tracks(&job, tracks))) goto out;
    int n_std = 0;
    for (int i = 0; i < n_gen; i++) n_std += cli_is_std(gen_args[i]);
    for (int i = 0; i < n_ref; i++) n_std += cli_is_std(ref_args[i]);
    if (n_std > 1) {
        status = cli_fail(EXIT_USAGE, "eval: standard input ('-') can be read once");
        goto out;
    }
    if (expand(gen_args, n_gen, &gl) || (have_ref && expand(ref_args, n_ref, &rl))) goto out;
    if (have_ref && gl.n != rl.n) {
        status = cli_fail(EXIT_USAGE, "eval: %zu generated file%s but %zu reference%s: the counts must match", gl.n,
                     gl.n == 1 ? "" : "s", rl.n, rl.n == 1 ? "" : "s");
        goto out;
    }

    status = eval_files(&job, &gl, &rl, have_ref, threads, json, quiet);
out:
    for (size_t f = 0; job.res && f < job.n_files; f++) free(job.res[f].g);
    free(job.res);
    list_free(&gl);
    list_free(&rl);
    free(w.gen);
    free(w.ref);
    return status;
}
