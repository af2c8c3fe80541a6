/*
 * bench_harmonize.c — the bare-melody harmoniser's tables and its figures.
 *
 *   bench_harmonize learn [DATA_DIR] > src/model/harmony_table.h
 *       Counts, on POP909's training songs (not `prepare`'s 10% validation
 *       split), the chord labels of chord_midi.txt per frame (half bars and
 *       whole bars, bars from beat_midi.txt, every song moved to C major /
 *       A minor by its whole-texture key as `prepare` does) and the MELODY
 *       track's notes in them, and prints the harmoniser's log-probability
 *       tables as C (src/model/harmonize.c includes them).
 *   bench_harmonize eval [DATA_DIR] [--frames F] [--songs N] [--model M.gguf]
 *       On the validation songs, as a user's bare melody meets `generate`:
 *       the MELODY track alone, its key found from the melody, moved to C;
 *       chords chosen by the harmoniser (the HMM, or with --model the
 *       model's learnt harmoniser, one net or an ensemble) and, for comparison, by the
 *       recogniser (gm_chords_recognize_frames, what generate used before)
 *       against the song's labels moved the same way: root and root+quality
 *       accuracy per frame, chord changes per bar, and the melody's
 *       chord-tone ratio (duration-weighted, capped at two quarters a note)
 *       against each system's chords.
 *
 *       Ablation switches (environment): HARMONY_FOLD=1 folds the chosen
 *       sevenths onto triads; HARMONY_KEY_FROM_SONG=1 moves each song to C by
 *       its whole texture's key instead of the melody's (what the key costs).
 *   bench_harmonize dump OUT.bin [DATA_DIR]
 *       Every song's half-bar melody histograms and labels (both splits),
 *       for python/harmonizer.py.
 *
 * DATA_DIR defaults to $GETMUSIC_DATA or ../shared/data. Library API only.
 */
#include "getmusic.h"
#include "pop909_names.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NQ GM_N_QUALITIES
#define NCH (12 * NQ)

/* ======================================================================== */
/* One song: melody, bars, labels in C                                       */
/* ======================================================================== */

typedef struct {
    gm_score mel;       /* the MELODY track(s), moved to C */
    gm_barmap bm;
    int nf;             /* frames */
    gm_chord *labels;   /* [nf] the song's labels in C (root -1: none) */
    int64_t *fticks;    /* [nf+1] */
    float *h;           /* [nf][3][12] */
} song;

static void song_free(song *s) {
    gm_score_free(&s->mel);
    gm_barmap_free(&s->bm);
    free(s->labels);
    free(s->fticks);
    free(s->h);
}

/* Keeps only lead-role tracks of sc (POP909: MELODY). */
static void keep_melody(gm_score *sc) {
    for (int i = 0; i < sc->n_tracks; i++)
        if (sc->tracks[i].is_drum || gm_track_role(&sc->tracks[i]) != GM_ROLE_LEAD) sc->tracks[i].n_notes = 0;
}

/* Loads song dir/NNN: key from the whole texture (learn) or from the melody
 * alone (eval), as generate would see a bare melody. 0 ok, -1 skip. */
static int song_load(const char *dir, const char *name, int frames, int key_from_melody, song *so) {
    char path[4400], err[GM_ERR_SIZE];
    memset(so, 0, sizeof *so);
    snprintf(path, sizeof path, "%s/%s/%s.mid", dir, name, name);
    if (gm_midi_read_file(path, &so->mel, err)) return -1;
    snprintf(path, sizeof path, "%s/%s/beat_midi.txt", dir, name);
    if (access(path, R_OK) || gm_score_metre_from_beat_file(&so->mel, path, err)) goto fail;
    int shift = key_from_melody ? 0 : gm_key_shift_to_c(gm_key_find(&so->mel));
    keep_melody(&so->mel);
    if (key_from_melody) shift = gm_key_shift_to_c(gm_key_find(&so->mel));
    gm_score_transpose(&so->mel, shift);
    if (gm_score_quantize(&so->mel, GM_STEPS_PER_QUARTER, err) || gm_barmap_build(&so->bm, &so->mel, GM_STEPS_PER_QUARTER, err))
        goto fail;
    so->nf = so->bm.n_bars * frames;
    gm_timed_chord *lab = NULL;
    int nl = 0;
    snprintf(path, sizeof path, "%s/%s/chord_midi.txt", dir, name);
    so->labels = malloc((size_t)so->nf * sizeof *so->labels);
    so->fticks = malloc(((size_t)so->nf + 1) * sizeof *so->fticks);
    so->h = malloc((size_t)so->nf * 36 * sizeof *so->h);
    if (!so->labels || !so->fticks || !so->h || gm_timed_chords_load(path, &lab, &nl, err) ||
        gm_chords_from_timed(&so->mel, &so->bm, frames, lab, nl, shift, so->labels, err)) {
        free(lab);
        goto fail;
    }
    free(lab);
    if (!gm_harmony_frames(&so->mel, &so->bm, frames, so->fticks, so->h)) goto fail;
    return 0;
fail:
    song_free(so);
    return -1;
}


static int chord_index(gm_chord c) { return c.root < 0 ? -1 : c.root * NQ + c.quality; }

/* ======================================================================== */
/* learn                                                                     */
/* ======================================================================== */

typedef struct {
    double uni[NCH];
    double tr[3][NCH][NCH];   /* GM_HARMONY_BAR_START, _MID_BAR (half bars), _BAR (bars) */
    double em[NQ][3][12];     /* by interval above the root, per quality */
    double ea[NCH][3][12];    /* by pitch class, per chord (all in C) */
    int songs;
} counts;

static void count_song(counts *k, const song *so, int frames) {
    for (int f = 0; f < so->nf; f++) {
        int c = chord_index(so->labels[f]);
        if (c < 0) continue;
        if (frames == 2) {
            k->uni[c] += 1;
            for (int cls = 0; cls < 3; cls++)
                for (int pc = 0; pc < 12; pc++) {
                    k->em[c % NQ][cls][(pc - c / NQ + 12) % 12] += so->h[((size_t)f * 3 + cls) * 12 + pc];
                    k->ea[c][cls][pc] += so->h[((size_t)f * 3 + cls) * 12 + pc];
                }
        }
        int p = f > 0 ? chord_index(so->labels[f - 1]) : -1;
        if (p < 0) continue;
        int t = frames == 1 ? GM_HARMONY_BAR : f % 2 ? GM_HARMONY_MID_BAR : GM_HARMONY_BAR_START;
        k->tr[t][p][c] += 1;
    }
}

static void print_table(const counts *k) {
    double tot = 0;
    for (int c = 0; c < NCH; c++) tot += k->uni[c] + 1;
    double pu[NCH];
    printf("/* harmony_table.h — the bare-melody harmoniser's tables (src/model/harmonize.c),\n"
           " * written by `bench_harmonize learn` from %d POP909 training songs: natural\n"
           " * logs, chords as root*8 + quality in C major / A minor. Do not edit. */\n", k->songs);
    printf("static const float harmony_unigram[%d] = {", NCH);
    for (int c = 0; c < NCH; c++) {
        pu[c] = (k->uni[c] + 1) / tot;
        printf("%s%.3f", c ? "," : "", log(pu[c]));
    }
    printf("};\n");
    /* P(c2 | c1) = (n(c1, c2) + A·P(c2)) / (n(c1) + A): rare chords lean on the unigram. */
    const double A = 4;
    /* One table row a line, every row and block with its comma, braces that
     * open or close a block on lines of their own: rows that differ only in
     * their numbers look alike, wherever they stand. */
    printf("static const float harmony_trans[3][%d][%d] = {\n", NCH, NCH);
    for (int t = 0; t < 3; t++) {
        printf("{\n");
        for (int a = 0; a < NCH; a++) {
            double n = 0;
            for (int b = 0; b < NCH; b++) n += k->tr[t][a][b];
            printf("{");
            for (int b = 0; b < NCH; b++) printf("%s%.2f", b ? "," : "", log((k->tr[t][a][b] + A * pu[b]) / (n + A)));
            printf("},\n");
        }
        printf("},\n");
    }
    printf("};\n");
    /* P(pc | chord, class) = (n + B·P(interval | quality, class)) / (N + B):
     * a chord heard little leans on what its quality does in every key. */
    const double B = 400; /* quarters: 20 and 100 scored the same (bench_harmonize eval) */
    printf("static const float harmony_emit[%d][3][12] = {\n", NCH);
    for (int c = 0; c < NCH; c++) {
        printf("{");
        for (int cls = 0; cls < 3; cls++) {
            double n = 0, nr = 0;
            for (int i = 0; i < 12; i++) n += k->ea[c][cls][i], nr += k->em[c % NQ][cls][i] + 0.5;
            printf("%s{", cls ? "," : "");
            for (int pc = 0; pc < 12; pc++) {
                double rel = (k->em[c % NQ][cls][(pc - c / NQ + 12) % 12] + 0.5) / nr;
                printf("%s%.3f", pc ? "," : "", log((k->ea[c][cls][pc] + B * rel) / (n + B)));
            }
            printf("}");
        }
        printf("},\n");
    }
    printf("};\n");
}

static int cmd_learn(const char *data) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/pop909", data);
    char **names = NULL;
    int n = pop909_names(dir, POP909_TRAIN, &names);
    if (n <= 0) { fprintf(stderr, "bench_harmonize: no POP909 songs in %s\n", dir); return 1; }
    counts *k = calloc(1, sizeof *k);
    if (!k) return 2;
    for (int i = 0; i < n; i++) {
        int used = 0;
        for (int frames = 1; frames <= 2; frames++) {
            song so;
            if (song_load(dir, names[i], frames, 0, &so)) continue;
            count_song(k, &so, frames);
            song_free(&so);
            used = 1;
        }
        k->songs += used;
        free(names[i]);
    }
    free(names);
    print_table(k);
    free(k);
    return 0;
}

/* ======================================================================== */
/* eval                                                                      */
/* ======================================================================== */

static int key_from_song; /* eval: the song's key, not the melody's (what the key costs) */

typedef struct { double root, exact, n, changes, ctr_num, ctr_den, overlap; } score;

static int has_tone(gm_chord c, int pc) { return c.root >= 0 && (gm_chord_tones(c) >> pc & 1); }

static void score_song(score *sc, const song *so, const gm_chord *ch) {
    for (int f = 0; f < so->nf; f++) {
        if (f > 0 && chord_index(ch[f]) != chord_index(ch[f - 1])) sc->changes += 1;
        const float *h = so->h + (size_t)f * 36;
        for (int cls = 0; cls < 3; cls++)
            for (int pc = 0; pc < 12; pc++) {
                sc->ctr_num += h[cls * 12 + pc] * has_tone(ch[f], pc);
                sc->ctr_den += h[cls * 12 + pc];
            }
        if (so->labels[f].root < 0) continue;
        sc->n += 1;
        sc->root += ch[f].root == so->labels[f].root;
        sc->exact += chord_index(ch[f]) == chord_index(so->labels[f]);
        /* A part that plays ch's tones evenly: the share of them in the label. */
        int in = 0, all = 0;
        for (int pc = 0; pc < 12; pc++)
            if (has_tone(ch[f], pc)) all++, in += has_tone(so->labels[f], pc);
        sc->overlap += all ? (double)in / all : 0;
    }
}

static int cmd_eval(const char *data, int frames, int max_songs, const gm_harmonizer *net) {
    char dir[4200], err[GM_ERR_SIZE];
    snprintf(dir, sizeof dir, "%s/pop909", data);
    char **names = NULL;
    int n = pop909_names(dir, POP909_VALIDATION, &names);
    if (n <= 0) { fprintf(stderr, "bench_harmonize: no POP909 songs in %s\n", dir); return 1; }
    score lab = {0}, har = {0}, rec = {0};
    double bars = 0;
    int used = 0;
    for (int i = 0; i < n && (!max_songs || used < max_songs); i++) {
        song so;
        if (song_load(dir, names[i], frames, !key_from_song, &so)) continue;
        gm_chord *a = malloc((size_t)so.nf * sizeof *a), *b = malloc((size_t)so.nf * sizeof *b);
        if (a && b && !gm_chords_harmonize(&so.mel, &so.bm, frames, net, a, err) &&
            !gm_chords_recognize_frames(&so.mel, &so.bm, frames, b, err)) {
            score_song(&lab, &so, so.labels);
            if (getenv("HARMONY_FOLD"))
                for (int f = 0; f < so.nf; f++) {
                    static const int8_t fold[NQ] = {GM_Q_MAJ, GM_Q_MIN, GM_Q_AUG, GM_Q_DIM, GM_Q_MAJ, GM_Q_MAJ, GM_Q_MIN, GM_Q_DIM};
                    if (a[f].quality >= 0) a[f].quality = fold[a[f].quality];
                }
            score_song(&har, &so, a);
            score_song(&rec, &so, b);
            bars += so.bm.n_bars;
            used++;
        } else {
            fprintf(stderr, "bench_harmonize: %s: %s\n", names[i], err);
        }
        free(a);
        free(b);
        song_free(&so);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    printf("%d validation songs, %.0f bars, %d chord%s per bar, the melody alone (key from the melody), harmonised by ",
           used, bars, frames, frames > 1 ? "s" : "");
    if (net) printf("the learnt harmoniser (%d net%s)\n", gm_harmonizer_members(net), gm_harmonizer_members(net) > 1 ? "s" : "");
    else printf("the HMM\n");
    printf("%-22s %8s %8s %14s %12s %14s\n", "chords", "root", "exact", "changes/bar", "melody CTR", "tones in label");
    const score *s3[3] = {&lab, &har, &rec};
    const char *nm[3] = {"labels (composer)", "harmonised", "recognised (before)"};
    for (int k = 0; k < 3; k++)
        printf("%-22s %7.1f%% %7.1f%% %14.2f %12.3f %14.3f\n", nm[k], 100 * s3[k]->root / s3[k]->n,
               100 * s3[k]->exact / s3[k]->n, s3[k]->changes / bars, s3[k]->ctr_num / s3[k]->ctr_den, s3[k]->overlap / s3[k]->n);
    return 0;
}

/* ======================================================================== */
/* dump (for trying learnt harmonisers in Python)                            */
/* ======================================================================== */

/* OUT: per song int32 n_frames, int32 validation, then per frame float32
 * h[36] and int32 label (chord index in C, -1 none); half-bar frames, key
 * from the melody as generate sees it. */
static int cmd_dump(const char *data, const char *out) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/pop909", data);
    FILE *fo = fopen(out, "wb");
    if (!fo) { fprintf(stderr, "bench_harmonize: cannot write %s\n", out); return 1; }
    for (int valid = 0; valid <= 1; valid++) {
        char **names = NULL;
        int n = pop909_names(dir, valid, &names);
        for (int i = 0; i < n; i++) {
            song so;
            if (!song_load(dir, names[i], 2, 1, &so)) {
                int32_t hd[2] = {so.nf, valid};
                fwrite(hd, sizeof hd, 1, fo);
                for (int f = 0; f < so.nf; f++) {
                    int32_t lab = chord_index(so.labels[f]);
                    fwrite(so.h + (size_t)f * 36, sizeof(float), 36, fo);
                    fwrite(&lab, sizeof lab, 1, fo);
                }
                song_free(&so);
            }
            free(names[i]);
        }
        free(names);
    }
    return fclose(fo) ? 1 : 0;
}

int main(int argc, char **argv) {
    const char *env = getenv("GETMUSIC_DATA");
    const char *data = env && *env ? env : "../shared/data";
    if (argc < 2) {
        fprintf(stderr, "usage: bench_harmonize learn|eval [DATA_DIR] [--frames F] [--songs N]\n");
        return 1;
    }
    int frames = 2, songs = 0;
    const char *model = NULL; /* eval --model M.gguf: its learnt harmoniser instead of the HMM */
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--frames") && i + 1 < argc) frames = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--songs") && i + 1 < argc) songs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!(i == 2 && !strcmp(argv[1], "dump"))) data = argv[i]; /* dump's first word is its OUT */
    }
    if (getenv("HARMONY_KEY_FROM_SONG")) key_from_song = 1;
    if (frames < 1 || frames > 2) { fprintf(stderr, "bench_harmonize: --frames 1 or 2\n"); return 1; }
    if (!strcmp(argv[1], "learn")) return cmd_learn(data);
    if (!strcmp(argv[1], "eval")) {
        gm_model *m = NULL;
        char err[GM_ERR_SIZE];
        if (model && !(m = gm_model_load(model, err))) { fprintf(stderr, "bench_harmonize: %s\n", err); return 1; }
        const gm_harmonizer *net = m ? gm_model_harmonizer(m) : NULL;
        if (m && !net) { fprintf(stderr, "bench_harmonize: %s has no harmoniser\n", model); return 1; }
        int rc = cmd_eval(data, frames, songs, net);
        gm_model_free(m);
        return rc;
    }
    if (!strcmp(argv[1], "dump") && argc >= 3) return cmd_dump(data, argv[2]);
    fprintf(stderr, "bench_harmonize: unknown command '%s'\n", argv[1]);
    return 1;
}
