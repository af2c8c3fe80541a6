/* cmd_prepare.c — `getmusic prepare`: folders of MIDI files → a training
 * corpus (and its vocabulary). */
#include "cli.h"

#include "getmusic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

void usage_prepare(FILE *f) {
    fprintf(f,
            "usage: getmusic prepare DIR|FILE... -o CORPUS [options]\n"
            "  Walks folders of MIDI files and writes a training corpus folder:\n"
            "  corpus.bin, vocab.txt, summary.txt, summary.json.\n"
            "options:\n"
            "  -o, --output DIR      corpus folder to write (required)\n"
            "  --vocab FILE          use this vocabulary instead of building one: a dict.txt-format\n"
            "                        file, or a model (.gguf) to fine-tune with --init (its layout too)\n"
            "  --layout NAME         track layout: default (lead, counter, piano, drums) or original\n"
            "  --window N            columns per segment (default 512 = 32 bars of 4/4)\n"
            "  --hop N               columns between segment starts (default 256)\n"
            "  --coverage X          vocabulary frequency rule: cumulative share (default 0.9)\n"
            "  --min-count N         vocabulary frequency rule: count above N (default 10)\n"
            "  --valid-percent P     songs held out for validation (default 10)\n"
            "  --threads N           worker threads (default: all cores)\n"
            "  --no-transpose        keep songs in their own key (default: to C major / A minor)\n"
            "  --chord-frames N      chords per bar in the chord rows: 2 = per half bar (default),\n"
            "                        1 = per bar (as the original GETMusic and models before 2)\n"
            "  --no-chord-labels     recognise every song's chords, even where a POP909\n"
            "                        chord_midi.txt beside the MIDI file has human labels\n"
            "                        (default: use the labels, moved to C with the song)\n"
            "  --exclude GLOB        leave out the files whose path inside their input folder\n"
            "                        matches GLOB ('*' also crosses '/'); repeatable, e.g.\n"
            "                        --exclude '*_jazz*' for Groove's jazz grooves\n"
            "  --ghost-velocity V    leave out snare strokes (keys 37, 38, 40) softer than V\n"
            "                        (default 60; 0 keeps all): the grid has no velocity, so a\n"
            "                        drummer's ghost notes would come back as full hits\n"
            "  --quiet               no progress bar\n"
            "  --json                print the summary as JSON on stdout\n");
}

/* `prepare --vocab MODEL.gguf`: a corpus for fine-tuning a model must use its
 * vocabulary and layout; take both from the file instead of asking the user
 * to extract them. Other paths stay dict.txt files. Returns 0 or prints. */
static int prepare_vocab_of_model(gm_prepare_params *p, int layout_given, gm_model **vm) {
    size_t n = p->vocab_path ? strlen(p->vocab_path) : 0;
    if (n < 5 || strcasecmp(p->vocab_path + n - 5, ".gguf")) return 0;
    char err[GM_ERR_SIZE];
    if (!(*vm = gm_model_load(p->vocab_path, err))) return cli_fail(EXIT_USAGE, "prepare: --vocab: %s", err), 1;
    const char *name = gm_model_layout(*vm)->name;
    if (layout_given && strcmp(p->layout, name)) {
        gm_model_free(*vm);
        *vm = NULL;
        return cli_fail(EXIT_USAGE, "prepare: --layout %s, but %s has layout '%s'", p->layout, p->vocab_path, name), 1;
    }
    p->layout = name;
    p->vocab = gm_model_vocab(*vm);
    return 0;
}

/* The command line's words (input folders and files), --exclude patterns
 * and whether --layout was given. */
typedef struct {
    const char **inputs;
    int n_in;
    const char **excl;
    int n_excl;
    gm_prepare_params *p;
    int layout_given;
} prepare_args;

static int add_input(void *user, const char *word) {
    prepare_args *a = user;
    a->inputs[a->n_in++] = word;
    return 0;
}
static int exclude_option(void *user, const char *opt, const char *val) {
    prepare_args *a = user;
    if (!*val) return cli_fail(EXIT_USAGE, "%s needs a pattern", opt);
    a->excl[a->n_excl++] = val;
    return 0;
}
static int layout_option(void *user, const char *opt, const char *val) {
    prepare_args *a = user;
    (void)opt;
    a->p->layout = val;
    a->layout_given = 1;
    return 0;
}

int cmd_prepare(int argc, char **argv) {
    gm_prepare_params p = gm_prepare_default_params();
    const char *out = NULL;
    /* One allocation: the inputs, then the --exclude patterns. */
    const char **inputs = calloc(2 * ((size_t)argc + 1), sizeof *inputs), **excl = inputs ? inputs + argc + 1 : NULL;
    int quiet = 0, json = 0;
    if (!inputs) return cli_fail(EXIT_INTERNAL, "out of memory");
    p.exclude = excl;
    prepare_args args = {inputs, 0, excl, 0, &p, 0};
    const cli_opt opts[] = {
        CLI_STR("--output", "-o", &out),
        CLI_STR("--vocab", NULL, &p.vocab_path),
        CLI_CALL("--layout", NULL, layout_option),
        CLI_INT("--window", NULL, &p.window_cols, 16, 65536),
        CLI_INT("--hop", NULL, &p.hop_cols, 1, 65536),
        CLI_DOUBLE("--coverage", NULL, &p.vocab_coverage, 0.001, 1.0),
        CLI_U32("--min-count", NULL, &p.vocab_min_count, 0, 1000000000),
        CLI_INT("--valid-percent", NULL, &p.valid_percent, 0, 100),
        CLI_INT("--threads", NULL, &p.n_threads, 1, 64),
        CLI_SET("--no-transpose", NULL, &p.transpose_to_c, 0),
        CLI_INT("--chord-frames", NULL, &p.chord_frames_per_bar, 1, GM_MAX_CHORD_FRAMES),
        CLI_SET("--no-chord-labels", NULL, &p.chord_labels, 0),
        CLI_CALL("--exclude", NULL, exclude_option),
        CLI_INT("--ghost-velocity", NULL, &p.ghost_velocity, 0, 128),
        CLI_FLAG("--quiet", NULL, &quiet),
        CLI_FLAG("--json", NULL, &json),
        CLI_END,
    };
    int status = cli_parse_options("prepare", argc, argv, opts, add_input, &args);
    int n_in = args.n_in, n_excl = args.n_excl, layout_given = args.layout_given;
    if (!status && !out) status = cli_fail(EXIT_USAGE, "prepare: give the corpus folder with -o CORPUS");
    if (!status && !n_in) status = cli_fail(EXIT_USAGE, "prepare: give at least one folder or MIDI file");
    if (status) { free(inputs); return status; }
    p.n_exclude = n_excl;
    if (p.hop_cols > p.window_cols) { free(inputs); return cli_fail(EXIT_USAGE, "--hop (%d) must not exceed --window (%d)", p.hop_cols, p.window_cols); }
    gm_model *vm = NULL; /* --vocab MODEL.gguf: the model lends its vocabulary and layout */
    if (prepare_vocab_of_model(&p, layout_given, &vm)) { free(inputs); return EXIT_USAGE; }

    cli_progress pr = {.on = !quiet && !json && isatty(2), .label = "prepare", .last_pct = -1};
    clock_gettime(CLOCK_MONOTONIC, &pr.t0);
    p.progress = cli_progress_cb;
    p.user_data = &pr;
    gm_prepare_summary sm;
    char err[GM_ERR_SIZE];
    int failed = gm_prepare(inputs, n_in, out, &p, &sm, err);
    gm_model_free(vm);
    free(inputs);
    if (failed) return cli_fail(EXIT_USAGE, "prepare: %s", err);
    if (json) {
        char path[4200];
        snprintf(path, sizeof path, "%s/summary.json", out);
        FILE *f = fopen(path, "r");
        int c;
        if (f) { while ((c = fgetc(f)) != EOF) putchar(c); fclose(f); }
    } else {
        printf("corpus    %s\n", out);
        printf("songs     %zu used (%zu validation), %zu of %zu files skipped", sm.songs, sm.songs_valid, sm.n_skipped, sm.files);
        printf(sm.files_excluded ? ", %zu excluded by pattern\n" : "\n", sm.files_excluded);
        printf("segments  %zu train, %zu validation (%zu duplicates, %zu empty dropped)\n", sm.segments_train,
               sm.segments_valid, sm.segments_duplicate, sm.segments_empty);
        printf("notes     %zu: %.2f%% keep onset and pitch through encode/decode, %.2f%% also the duration token;"
               " %zu out-of-vocabulary compounds\n", sm.notes_in, sm.notes_in ? 100.0 * sm.notes_onset_pitch / sm.notes_in : 0.0,
               sm.notes_in ? 100.0 * sm.notes_exact / sm.notes_in : 0.0, sm.compounds_oov);
        printf("chords    %d per bar; human labels (chord_midi.txt) in %zu songs, recognised in %zu",
               sm.chord_frames_per_bar, sm.songs_chord_labels, sm.songs - sm.songs_chord_labels);
        if (sm.songs_labels_bad) printf(" (%zu with unreadable labels)", sm.songs_labels_bad);
        printf("\nghosts    %zu soft snare strokes (velocity below %d) left out\n", sm.ghost_notes_dropped, p.ghost_velocity);
        printf("vocab     %d tokens\n", sm.vocab_size);
        printf("time      %.2f s\n", sm.seconds);
        for (size_t i = 0; i < sm.n_skipped && i < 10; i++) printf("skipped   %s: %s\n", sm.skipped[i].path, sm.skipped[i].reason);
        if (sm.n_skipped > 10) printf("skipped   ... %zu more in %s/summary.txt\n", sm.n_skipped - 10, out);
    }
    gm_prepare_summary_free(&sm);
    return 0;
}
