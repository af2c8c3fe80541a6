/*
 * getmusic — the command-line tool.
 *
 *   getmusic info SONG.mid [--json] [--layout L]
 *   getmusic info --model MODEL.gguf [--json]
 *   getmusic prepare DIR... -o CORPUS [--vocab V] [options]
 *   getmusic dump SONG.mid [--vocab V] [--layout L] [--bars A-B]
 *
 * Exit status: 0 ok, 1 bad input or usage (one line on stderr), 2 internal
 * failure. Progress bars go to stderr, only on a terminal and without --quiet.
 */
#include "getmusic.h"
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef GM_MPI
#include <mpi.h>
#endif

#include "cli.h"

/* getmusic info --model MODEL.gguf: sizes, layout, vocabulary, token features. */
static int info_model(const char *path, int json) {
    char err[GM_ERR_SIZE];
    gm_model *m = gm_model_load(path, err);
    if (!m) return die(EXIT_USAGE, "%s", err);
    gm_model_params s = gm_model_sizes(m);
    const gm_layout *l = gm_model_layout(m);
    const gm_vocab *v = gm_model_vocab(m);
    if (json) {
        printf("{\"model\": ");
        json_str(path);
        printf(", \"parameters\": %zu, \"embd\": %d, \"hidden\": %d, \"layers\": %d, \"heads\": %d, \"ffn\": %d, "
               "\"max_cols\": %d, \"diffusion_steps\": %d, \"token_features\": %d, \"vocab_size\": %d, \"layout\": ",
               gm_model_n_params(m), s.embd, s.hidden, s.layers, s.heads, s.ffn, s.max_cols, s.diffusion_steps,
               s.token_features, gm_vocab_size(v));
        json_str(l->name);
        printf(", \"classes\": [");
        for (int c = 0; c < l->n_classes; c++) {
            printf("%s", c ? ", " : "");
            json_str(l->cls[c].name);
        }
        printf("], \"source\": ");
        json_str(gm_model_source(m));
        printf("}\n");
    } else {
        printf("model     %s\n", path);
        printf("network   %.2f M parameters: embd %d, hidden %d, %d layers, %d heads, ffn %d, up to %d columns, "
               "%d diffusion steps\n", gm_model_n_params(m) / 1e6, s.embd, s.hidden, s.layers, s.heads, s.ffn,
               s.max_cols, s.diffusion_steps);
        if (s.token_features) printf("tokens    %d tokens, pitch-factorised (%d token features)\n", gm_vocab_size(v), s.token_features);
        else printf("tokens    %d tokens, one vector each (no token features)\n", gm_vocab_size(v));
        printf("layout    %s:", l->name);
        for (int c = 0; c < l->n_classes; c++) printf(" %s%s", l->cls[c].name, l->cls[c].is_drum ? " (drums)" : "");
        printf("\nsource    %s\n", gm_model_source(m)[0] ? gm_model_source(m) : "-");
    }
    gm_model_free(m);
    return 0;
}

static int cmd_info(int argc, char **argv) {
    const char *in = NULL, *layout_name = "default", *model = NULL;
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--layout") && i + 1 < argc) layout_name = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1]) return die(EXIT_USAGE, "info: unknown option '%s'", argv[i]);
        else if (!in) in = argv[i];
        else return die(EXIT_USAGE, "info: one file at a time ('%s' is extra)", argv[i]);
    }
    if (model && !in) return info_model(model, json);
    if (model) return die(EXIT_USAGE, "info: a song or --model, not both");
    if (!in) return die(EXIT_USAGE, "usage: getmusic info SONG.mid [--json] [--layout default|original]\n"
                                    "       getmusic info --model MODEL.gguf [--json]");
    char err[GM_ERR_SIZE];
    gm_layout layout;
    if (gm_layout_preset(&layout, layout_name, err)) return die(EXIT_USAGE, "%s", err);
    gm_score s;
    if (cli_read_midi(in, &s, err)) return die(EXIT_USAGE, "%s: %s", cli_shown(in), err);
    /* A POP909-style beat annotation beside the file gives the real bar lines. */
    int metre_from_beats = cli_metre_from_beats(&s, in);
    gm_barmap bm;
    if (gm_barmap_build(&bm, &s, 4, err)) {
        gm_score_free(&s);
        return die(EXIT_USAGE, "%s: %s", in, err);
    }
    gm_chord *chords = malloc((size_t)bm.n_bars * sizeof *chords);
    if (!chords || gm_chords_recognize(&s, &bm, chords, err)) {
        free(chords);
        gm_barmap_free(&bm);
        gm_score_free(&s);
        return die(EXIT_INTERNAL, "%s: chord recognition failed: %s", in, chords ? err : "out of memory");
    }
    gm_key key = gm_key_find(&s);
    char kb[32], cb[16];
    gm_key_name(key, kb, sizeof kb);
    double secs = gm_score_tick_to_seconds(&s, s.end_tick);

    if (json) {
        printf("{\"file\": ");
        json_str(in);
        printf(", \"format\": %d, \"ticks_per_quarter\": %d, \"end_tick\": %lld, \"seconds\": %.3f, \"bars\": %d, "
               "\"columns\": %d, \"notes\": %zu, \"key\": ",
               s.midi_format, s.ticks_per_quarter, (long long)s.end_tick, secs, bm.n_bars, bm.n_cols, gm_score_n_notes(&s));
        json_str(kb);
        printf(", \"key_shift_to_c\": %d, \"layout\": ", gm_key_shift_to_c(key));
        json_str(layout.name);
        printf(", \"tempos\": [");
        for (int i = 0; i < s.n_tempos; i++)
            printf("%s{\"tick\": %lld, \"bar\": %d, \"bpm\": %.3f}", i ? ", " : "", (long long)s.tempos[i].tick,
                   gm_barmap_bar_of_tick(&bm, s.tempos[i].tick) + 1, 60e6 / s.tempos[i].usec_per_quarter);
        printf("], \"time_signatures\": [");
        for (int i = 0; i < s.n_timesigs; i++)
            printf("%s{\"tick\": %lld, \"bar\": %d, \"numerator\": %d, \"denominator\": %d}", i ? ", " : "",
                   (long long)s.timesigs[i].tick, gm_barmap_bar_of_tick(&bm, s.timesigs[i].tick) + 1,
                   s.timesigs[i].numerator, s.timesigs[i].denominator);
        printf("], \"tracks\": [");
        for (int i = 0; i < s.n_tracks; i++) {
            const gm_track *t = &s.tracks[i];
            int cls = gm_layout_classify(&layout, t);
            printf("%s{\"index\": %d, \"name\": ", i ? ", " : "", i);
            json_str(t->name);
            printf(", \"channel\": %d, \"program\": %d, \"program_name\": ", t->channel + 1, t->program);
            json_str(t->is_drum ? "Drum kit" : gm_program_names[t->program & 127]);
            printf(", \"drums\": %s, \"notes\": %zu, \"role\": ", t->is_drum ? "true" : "false", t->n_notes);
            json_str(gm_role_name(gm_track_role(t)));
            printf(", \"class\": ");
            if (cls >= 0) json_str(layout.cls[cls].name); else printf("null");
            printf("}");
        }
        printf("], \"chords\": [");
        for (int b = 0; b < bm.n_bars; b++) {
            printf("%s", b ? ", " : "");
            json_str(gm_chord_name(chords[b], cb, sizeof cb));
        }
        printf("]}\n");
    } else {
        int mins = (int)(secs / 60);
        printf("file      %s (MIDI type %d, %d ticks per quarter)\n", in, s.midi_format, s.ticks_per_quarter);
        printf("length    %d bars, %d:%04.1f, %zu notes\n", bm.n_bars, mins, secs - 60 * mins, gm_score_n_notes(&s));
        printf("tempo    ");
        if (!s.n_tempos) printf(" 120 bpm (default)");
        for (int i = 0; i < s.n_tempos && i < 8; i++)
            printf(" %.1f bpm (bar %d)%s", 60e6 / s.tempos[i].usec_per_quarter, gm_barmap_bar_of_tick(&bm, s.tempos[i].tick) + 1,
                   i + 1 < s.n_tempos ? "," : "");
        if (s.n_tempos > 8) printf(" ... %d changes in all", s.n_tempos);
        printf("\nmetre    ");
        if (!s.n_timesigs) printf(" 4/4 (default)");
        for (int i = 0; i < s.n_timesigs && i < 8; i++)
            printf(" %d/%d (bar %d)%s", s.timesigs[i].numerator, s.timesigs[i].denominator,
                   gm_barmap_bar_of_tick(&bm, s.timesigs[i].tick) + 1, i + 1 < s.n_timesigs ? "," : "");
        if (s.n_timesigs > 8) printf(" ... %d changes in all", s.n_timesigs);
        if (metre_from_beats) printf("  (bars from the beat_midi.txt beside the file)");
        printf("\nkey       %s (shift to C major / A minor: %+d)\n", kb, gm_key_shift_to_c(key));
        printf("tracks    (layout '%s')\n", layout.name);
        printf("   #  %-20s %3s  %-24s %6s  %-8s %s\n", "name", "ch", "program", "notes", "role", "class");
        for (int i = 0; i < s.n_tracks; i++) {
            const gm_track *t = &s.tracks[i];
            int cls = gm_layout_classify(&layout, t);
            char pn[40];
            if (t->is_drum) snprintf(pn, sizeof pn, "drums");
            else snprintf(pn, sizeof pn, "%d %s", t->program, gm_program_names[t->program & 127]);
            printf("  %2d  %-20.20s %3d  %-24.24s %6zu  %-8s %s\n", i, t->name[0] ? t->name : "-", t->channel + 1, pn,
                   t->n_notes, gm_role_name(gm_track_role(t)), cls >= 0 ? layout.cls[cls].name : "(none: passed through)");
        }
        printf("chords    (one per bar)\n");
        for (int b = 0; b < bm.n_bars; b++) {
            if (b % 8 == 0) printf("  %4d |", b + 1);
            printf(" %-6s", gm_chord_name(chords[b], cb, sizeof cb));
            if (b % 8 == 7 || b + 1 == bm.n_bars) printf("\n");
        }
    }
    free(chords);
    gm_barmap_free(&bm);
    gm_score_free(&s);
    return 0;
}

/* ======================================================================== */
/* prepare                                                                   */
/* ======================================================================== */

static void usage_prepare(FILE *f) {
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
    if (!(*vm = gm_model_load(p->vocab_path, err))) return die(EXIT_USAGE, "prepare: --vocab: %s", err), 1;
    const char *name = gm_model_layout(*vm)->name;
    if (layout_given && strcmp(p->layout, name)) {
        gm_model_free(*vm);
        *vm = NULL;
        return die(EXIT_USAGE, "prepare: --layout %s, but %s has layout '%s'", p->layout, p->vocab_path, name), 1;
    }
    p->layout = name;
    p->vocab = gm_model_vocab(*vm);
    return 0;
}

static int cmd_prepare(int argc, char **argv) {
    gm_prepare_params p = gm_prepare_default_params();
    const char *out = NULL;
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    int n_in = 0, quiet = 0, json = 0, status = 0, layout_given = 0;
    long v = 0;
    double x = 0;
    if (!inputs) return die(EXIT_INTERNAL, "out of memory");
    for (int i = 0; i < argc && !status; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage_prepare(stdout); free(inputs); return 0; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) { if (!val) status = die(EXIT_USAGE, "%s needs a folder", a); out = val; i++; }
        else if (!strcmp(a, "--vocab")) { if (!val) status = die(EXIT_USAGE, "--vocab needs a file"); p.vocab_path = val; i++; }
        else if (!strcmp(a, "--layout")) { if (!val) status = die(EXIT_USAGE, "--layout needs a name"); p.layout = val; layout_given = 1; i++; }
        else if (!strcmp(a, "--window")) { if (parse_int(a, val, 16, 65536, &v)) status = 1; p.window_cols = (int)v; i++; }
        else if (!strcmp(a, "--hop")) { if (parse_int(a, val, 1, 65536, &v)) status = 1; p.hop_cols = (int)v; i++; }
        else if (!strcmp(a, "--coverage")) { if (parse_double(a, val, 0.001, 1.0, &x)) status = 1; p.vocab_coverage = x; i++; }
        else if (!strcmp(a, "--min-count")) { if (parse_int(a, val, 0, 1000000000, &v)) status = 1; p.vocab_min_count = (uint32_t)v; i++; }
        else if (!strcmp(a, "--valid-percent")) { if (parse_int(a, val, 0, 100, &v)) status = 1; p.valid_percent = (int)v; i++; }
        else if (!strcmp(a, "--threads")) { if (parse_int(a, val, 1, 64, &v)) status = 1; p.n_threads = (int)v; i++; }
        else if (!strcmp(a, "--no-transpose")) p.transpose_to_c = 0;
        else if (!strcmp(a, "--chord-frames")) { if (parse_int(a, val, 1, GM_MAX_CHORD_FRAMES, &v)) status = 1; p.chord_frames_per_bar = (int)v; i++; }
        else if (!strcmp(a, "--no-chord-labels")) p.chord_labels = 0;
        else if (!strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (a[0] == '-' && a[1]) status = die(EXIT_USAGE, "prepare: unknown option '%s' (see getmusic prepare --help)", a);
        else inputs[n_in++] = a;
    }
    if (!status && !out) status = die(EXIT_USAGE, "prepare: give the corpus folder with -o CORPUS");
    if (!status && !n_in) status = die(EXIT_USAGE, "prepare: give at least one folder or MIDI file");
    if (status) { free(inputs); return status; }
    if (p.hop_cols > p.window_cols) { free(inputs); return die(EXIT_USAGE, "--hop (%d) must not exceed --window (%d)", p.hop_cols, p.window_cols); }
    gm_model *vm = NULL; /* --vocab MODEL.gguf: the model lends its vocabulary and layout */
    if (prepare_vocab_of_model(&p, layout_given, &vm)) { free(inputs); return EXIT_USAGE; }

    progress pr = {.on = !quiet && !json && isatty(2), .label = "prepare", .last_pct = -1};
    clock_gettime(CLOCK_MONOTONIC, &pr.t0);
    p.progress = progress_cb;
    p.user_data = &pr;
    gm_prepare_summary sm;
    char err[GM_ERR_SIZE];
    int failed = gm_prepare(inputs, n_in, out, &p, &sm, err);
    gm_model_free(vm);
    free(inputs);
    if (failed) return die(EXIT_USAGE, "prepare: %s", err);
    if (json) {
        char path[4200];
        snprintf(path, sizeof path, "%s/summary.json", out);
        FILE *f = fopen(path, "r");
        int c;
        if (f) { while ((c = fgetc(f)) != EOF) putchar(c); fclose(f); }
    } else {
        printf("corpus    %s\n", out);
        printf("songs     %zu used (%zu validation), %zu of %zu files skipped\n", sm.songs, sm.songs_valid, sm.n_skipped, sm.files);
        printf("segments  %zu train, %zu validation (%zu duplicates, %zu empty dropped)\n", sm.segments_train,
               sm.segments_valid, sm.segments_duplicate, sm.segments_empty);
        printf("notes     %zu: %.2f%% keep onset and pitch through encode/decode, %.2f%% also the duration token;"
               " %zu out-of-vocabulary compounds\n", sm.notes_in, sm.notes_in ? 100.0 * sm.notes_onset_pitch / sm.notes_in : 0.0,
               sm.notes_in ? 100.0 * sm.notes_exact / sm.notes_in : 0.0, sm.compounds_oov);
        printf("chords    %d per bar; human labels (chord_midi.txt) in %zu songs, recognised in %zu",
               sm.chord_frames_per_bar, sm.songs_chord_labels, sm.songs - sm.songs_chord_labels);
        if (sm.songs_labels_bad) printf(" (%zu with unreadable labels)", sm.songs_labels_bad);
        printf("\nvocab     %d tokens\n", sm.vocab_size);
        printf("time      %.2f s\n", sm.seconds);
        for (size_t i = 0; i < sm.n_skipped && i < 10; i++) printf("skipped   %s: %s\n", sm.skipped[i].path, sm.skipped[i].reason);
        if (sm.n_skipped > 10) printf("skipped   ... %zu more in %s/summary.txt\n", sm.n_skipped - 10, out);
    }
    gm_prepare_summary_free(&sm);
    return 0;
}

/* ======================================================================== */
/* train                                                                     */
/* ======================================================================== */

static volatile int stop_flag;
static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

static void usage_train(FILE *f) {
    gm_train_params d = gm_train_default_params();
    fprintf(f,
            "usage: getmusic train CORPUS -o MODEL.gguf [options]\n"
            "  Trains GETDiff on a prepared corpus. Writes MODEL.gguf (EMA weights), MODEL.gguf.ckpt\n"
            "  (checkpoint: resume with --resume) and MODEL.gguf.log.jsonl (plot with plot-log).\n"
            "  Ctrl-C writes a checkpoint and stops.\n"
            "options:\n"
            "  -o, --output FILE    model file to write (required)\n"
            "  --resume             continue from MODEL.gguf.ckpt (same corpus, same --seed)\n"
            "  --init MODEL.gguf    fine-tune from a model file (its vocabulary must be the corpus')\n"
            "  --steps N            optimizer steps in all (%d)\n"
            "  --stop-after N       stop after N steps of this run, with a checkpoint (train in chunks)\n"
            "  --batch N            segments per micro-batch (%d)\n"
            "  --accum N            micro-batches per step, gradient accumulation (%d)\n"
            "  --lr X               peak learning rate (%g), --lr-min X final (%g)\n"
            "  --warmup N           warm-up steps (%d)\n"
            "  --weight-decay X     AdamW weight decay (%g)\n"
            "  --clip X             gradient-norm clip, 0 = off (%g)\n"
            "  --ema-decay X        EMA decay (%g), --ema-every N steps (%d)\n"
            "  --eval-every N       steps between validation losses (%d), --eval-segments N (%d)\n"
            "  --ckpt-every N       steps between checkpoints (%d)\n"
            "  --embd N --hidden N --layers N --heads N --ffn N --dropout X   sizes of a new model\n"
            "                       (default %d %d %d %d %d %g)\n"
            "  --token-features     a new model gets pitch-factorised token embeddings: each token's\n"
            "                       vector adds its pitches' (drum keys', chord root's, chord tones')\n"
            "                       vectors (dev/MODEL.md); --init and --resume keep the model's setting\n"
            "  --chord-given P      P(chords given) in the original task mix (0.25)\n"
            "  --accomp P           P(accompaniment task: lead and chords given, the rest targets) (0)\n"
            "  --drum-overlay P     P(a Groove drum part laid into a drum-less segment) (0)\n"
            "  --threads N          threads (default: all cores)\n"
            "  --seed N             (%llu)\n"
            "  --quiet              no progress line\n",
            d.steps, d.batch, d.accum, d.lr, d.lr_min, d.warmup, d.weight_decay, d.clip, d.ema_decay, d.ema_every,
            d.eval_every, d.eval_segments, d.ckpt_every, d.sizes.embd, d.sizes.hidden, d.sizes.layers, d.sizes.heads,
            d.sizes.ffn, d.sizes.dropout, (unsigned long long)d.seed);
}

typedef struct { int on; } train_ui;

static void train_progress(void *user, const gm_train_progress *p) {
    train_ui *ui = user;
    if (!ui->on) return;
    char val[32] = "-";
    if (!isnan(p->val_loss)) snprintf(val, sizeof val, "%.4f", p->val_loss);
    int eta = (int)p->eta_s;
    fprintf(stderr, "\rstep %d/%d  epoch %d  loss %.4f  val %s  lr %.2e  %.0f col/s  ETA %dh%02dm%02ds ", p->step, p->steps,
            p->epoch, p->loss, val, p->lr, p->cols_per_s, eta / 3600, eta / 60 % 60, eta % 60);
    if (p->evaluated || p->step == p->steps) fputc('\n', stderr);
    fflush(stderr);
}

static int cmd_train(int argc, char **argv, int rank, int world) {
    gm_train_params p = gm_train_default_params();
    p.rank = rank;
    p.world = world;
    int quiet = 0, status = 0;
    long v = 0;
    double x = 0;
    for (int i = 0; i < argc && !status; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
#define INT_OPT(name, lo, hi, field) else if (!strcmp(a, name)) { if (parse_int(a, val, lo, hi, &v)) status = 1; else field = (int)v; i++; }
#define FLT_OPT(name, lo, hi, field) else if (!strcmp(a, name)) { if (parse_double(a, val, lo, hi, &x)) status = 1; else field = (float)x; i++; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage_train(stdout); return 0; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) { if (!val) status = die(EXIT_USAGE, "%s needs a file", a); p.out = val; i++; }
        else if (!strcmp(a, "--init")) { if (!val) status = die(EXIT_USAGE, "--init needs a model file"); p.init = val; i++; }
        else if (!strcmp(a, "--resume")) p.resume = 1;
        else if (!strcmp(a, "--token-features")) p.sizes.token_features = GM_TOKEN_FEATURES;
        else if (!strcmp(a, "--quiet")) quiet = 1;
        INT_OPT("--steps", 1, 100000000, p.steps)
        INT_OPT("--stop-after", 1, 100000000, p.stop_after)
        INT_OPT("--batch", 1, 256, p.batch)
        INT_OPT("--accum", 1, 4096, p.accum)
        INT_OPT("--warmup", 0, 100000000, p.warmup)
        INT_OPT("--ema-every", 1, 1000000, p.ema_every)
        INT_OPT("--eval-every", 1, 100000000, p.eval_every)
        INT_OPT("--eval-segments", 1, 1000000, p.eval_segments)
        INT_OPT("--ckpt-every", 1, 100000000, p.ckpt_every)
        INT_OPT("--threads", 1, 64, p.threads)
        INT_OPT("--embd", 1, 4096, p.sizes.embd)
        INT_OPT("--hidden", 2, 16384, p.sizes.hidden)
        INT_OPT("--layers", 1, 128, p.sizes.layers)
        INT_OPT("--heads", 1, 256, p.sizes.heads)
        INT_OPT("--ffn", 1, 65536, p.sizes.ffn)
        FLT_OPT("--lr", 1e-9, 1.0, p.lr)
        FLT_OPT("--lr-min", 0.0, 1.0, p.lr_min)
        FLT_OPT("--weight-decay", 0.0, 10.0, p.weight_decay)
        FLT_OPT("--clip", 0.0, 1e9, p.clip)
        FLT_OPT("--chord-given", 0.0, 1.0, p.chord_given)
        FLT_OPT("--accomp", 0.0, 1.0, p.accomp)
        FLT_OPT("--drum-overlay", 0.0, 1.0, p.drum_overlay)
        FLT_OPT("--ema-decay", 0.0, 0.999999, p.ema_decay)
        FLT_OPT("--dropout", 0.0, 0.9, p.sizes.dropout)
        else if (!strcmp(a, "--seed")) { if (parse_int(a, val, 0, 2147483647, &v)) status = 1; else p.seed = (uint64_t)v; i++; }
        else if (a[0] == '-' && a[1]) status = die(EXIT_USAGE, "train: unknown option '%s' (see getmusic train --help)", a);
        else if (!p.corpus) p.corpus = a;
        else status = die(EXIT_USAGE, "train: one corpus at a time ('%s' is extra)", a);
#undef INT_OPT
#undef FLT_OPT
    }
    if (status) return status;
    if (!p.corpus) return die(EXIT_USAGE, "train: give the corpus folder (from getmusic prepare)");
    if (!p.out) return die(EXIT_USAGE, "train: give the model file to write with -o MODEL.gguf");
    if (p.sizes.hidden % p.sizes.heads || (p.sizes.hidden / p.sizes.heads) % 2)
        return die(EXIT_USAGE, "--hidden (%d) must be a multiple of --heads (%d) with an even quotient", p.sizes.hidden, p.sizes.heads);
    if (p.resume && p.init) return die(EXIT_USAGE, "--resume and --init exclude each other");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    p.stop = &stop_flag;
    train_ui ui = {.on = !quiet && rank == 0 && isatty(2)};
    p.progress = train_progress;
    p.user_data = &ui;
    char err[GM_ERR_SIZE];
    if (gm_train(&p, err)) return die(EXIT_USAGE, "train: %s", err);
    if (rank == 0) {
        if (stop_flag) fprintf(stderr, "%sstopped: checkpoint written to %s.ckpt (continue with --resume)\n", ui.on ? "\n" : "", p.out);
        else printf("model      %s\ncheckpoint %s.ckpt (--resume continues from it)\nlog        %s.log.jsonl\n", p.out, p.out, p.out);
    }
    return 0;
}

/* ======================================================================== */
/* plot-log                                                                  */
/* ======================================================================== */

static int cmd_plot_log(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    long w = 900, h = 500;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) { if (!val) return die(EXIT_USAGE, "%s needs a file", a); out = val; i++; }
        else if (!strcmp(a, "--width")) { if (parse_int(a, val, GM_PLOT_MIN_W, GM_PLOT_MAX_SIDE, &w)) return EXIT_USAGE; i++; }
        else if (!strcmp(a, "--height")) { if (parse_int(a, val, GM_PLOT_MIN_H, GM_PLOT_MAX_SIDE, &h)) return EXIT_USAGE; i++; }
        else if (a[0] == '-' && a[1]) return die(EXIT_USAGE, "plot-log: unknown option '%s'", a);
        else if (!in) in = a;
        else return die(EXIT_USAGE, "plot-log: one log at a time");
    }
    if (!in || !out) return die(EXIT_USAGE, "usage: getmusic plot-log MODEL.gguf.log.jsonl -o LOSS.png [--width W --height H]");
    char err[GM_ERR_SIZE];
    if (gm_plot_losses(in, out, (int)w, (int)h, err)) return die(EXIT_USAGE, "plot-log: %s", err);
    return 0;
}

/* ======================================================================== */
/* dump                                                                      */
/* ======================================================================== */

static int cmd_dump(int argc, char **argv) {
    const char *in = NULL, *vocab_path = NULL, *layout_name = "default";
    long bar_a = 1, bar_b = LONG_MAX;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--vocab") && i + 1 < argc) vocab_path = argv[++i];
        else if (!strcmp(argv[i], "--layout") && i + 1 < argc) layout_name = argv[++i];
        else if (!strcmp(argv[i], "--bars") && i + 1 < argc) {
            const char *r = argv[++i];
            char *end;
            bar_a = strtol(r, &end, 10);
            bar_b = *end == '-' ? strtol(end + 1, &end, 10) : bar_a;
            if (*end || bar_a < 1 || bar_b < bar_a) return die(EXIT_USAGE, "--bars: '%s' is not a range like 9-16", r);
        } else if (argv[i][0] == '-' && argv[i][1]) return die(EXIT_USAGE, "dump: unknown option '%s'", argv[i]);
        else if (!in) in = argv[i];
        else return die(EXIT_USAGE, "dump: one file at a time");
    }
    if (!in) return die(EXIT_USAGE, "usage: getmusic dump SONG.mid [--vocab VOCAB] [--layout L] [--bars A-B]");
    char err[GM_ERR_SIZE];
    gm_layout layout;
    if (gm_layout_preset(&layout, layout_name, err)) return die(EXIT_USAGE, "%s", err);
    gm_score s;
    if (cli_read_midi(in, &s, err)) return die(EXIT_USAGE, "%s: %s", cli_shown(in), err);
    int status = 0;
    gm_vocab *v = NULL;
    gm_barmap bm = {0};
    gm_chord *chords = NULL;
    gm_grid g = {0};
    char *text = NULL;
    if (gm_score_quantize(&s, 4, err) || gm_barmap_build(&bm, &s, 4, err)) { status = die(EXIT_USAGE, "%s: %s", in, err); goto out; }
    for (int i = 0; i < s.n_tracks; i++) s.tracks[i].cls = gm_layout_classify(&layout, &s.tracks[i]);
    if (vocab_path) {
        if (!(v = gm_vocab_load(vocab_path, &layout, err))) { status = die(EXIT_USAGE, "%s", err); goto out; }
    } else {
        /* No vocabulary given: one of this song's own tokens, so nothing is lost. */
        gm_vocab_builder *b = gm_vocab_builder_new(&layout);
        if (!b) { status = die(EXIT_INTERNAL, "out of memory"); goto out; }
        for (int i = 0; i < s.n_tracks; i++) {
            const gm_track *t = &s.tracks[i];
            if (t->cls < 0) continue;
            for (size_t k = 0; k < t->n_notes;) { /* notes sorted by tick: group onsets */
                uint8_t set[128];
                int m = 0;
                size_t j = k;
                for (; j < t->n_notes && t->notes[j].tick == t->notes[k].tick; j++)
                    if (!m || set[m - 1] != t->notes[j].pitch) set[m++] = t->notes[j].pitch;
                gm_vocab_builder_add(b, t->cls, set, m, 1);
                k = j;
            }
        }
        v = gm_vocab_builder_finish(b, 1.0, 0, err);
        gm_vocab_builder_free(b);
        if (!v) { status = die(EXIT_INTERNAL, "%s", err); goto out; }
    }
    if (!(chords = malloc((size_t)bm.n_bars * sizeof *chords)) || gm_chords_recognize(&s, &bm, chords, err)) {
        status = die(EXIT_INTERNAL, "chord recognition failed");
        goto out;
    }
    if (gm_grid_encode(&g, &s, &layout, v, chords, NULL, err)) { status = die(EXIT_USAGE, "%s: %s", in, err); goto out; }
    if (bar_a > g.bm.n_bars) { status = die(EXIT_USAGE, "--bars: the piece has %d bars", g.bm.n_bars); goto out; }
    if (bar_b > g.bm.n_bars) bar_b = g.bm.n_bars;
    if (gm_grid_dump(&g, &layout, v, &text, err)) { status = die(EXIT_INTERNAL, "%s", err); goto out; }
    /* The dump has one block per bar starting with "bar N": print the asked range. */
    if (bar_a == 1 && bar_b == g.bm.n_bars) fputs(text, stdout);
    else {
        int bar = 0;
        for (char *line = text; *line;) {
            char *nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
            int b;
            if (sscanf(line, "bar %d", &b) == 1) bar = b;
            if (bar == 0 || (bar >= bar_a && bar <= bar_b)) fwrite(line, 1, len, stdout);
            line += len;
        }
    }
out:
    free(text);
    gm_grid_free(&g);
    free(chords);
    gm_barmap_free(&bm);
    gm_vocab_free(v);
    gm_score_free(&s);
    return status;
}

/* ======================================================================== */
/* main                                                                      */
/* ======================================================================== */

static void usage(FILE *f) {
    fprintf(f,
            "getmusic %s — arrange music with GETMusic on the CPU\n\n"
            "usage:\n"
            "  getmusic info SONG.mid [--json] [--layout L]     tracks, classes, tempo, metre, bars, key, chords\n"
            "  getmusic info --model MODEL.gguf [--json]        a model's sizes, layout, vocabulary, token features\n"
            "  getmusic prepare DIR... -o CORPUS [options]      MIDI folders → training corpus (+ vocabulary)\n"
            "  getmusic dump SONG.mid [--vocab V] [--bars A-B]  the GETScore token grid as text\n"
            "  getmusic train CORPUS -o MODEL.gguf [options]    train (or --resume, or --init to fine-tune)\n"
            "  getmusic generate [IN.mid] -o OUT.mid [options]  write tracks: --targets piano,drums, --bars 9-16,\n"
            "                                                   --continue N, --chords \"C G Am F\", --render, --plot\n"
            "  getmusic eval GEN... [--ref REF...] [--json]     MusPy metrics; with --ref chord accuracy, overlaps\n"
            "  getmusic render IN.mid -o OUT.wav [--soundfont S] audio through FluidSynth\n"
            "  getmusic plot IN.mid -o OUT.png [--given ORIG]   piano roll, generated notes marked\n"
            "  getmusic plot-log LOG.jsonl -o LOSS.png          loss curves of a training log\n"
            "  getmusic transcribe IN.wav -o OUT.mid [options]  beats, bars, chords and melody from a recording\n"
            "  getmusic --version | --help\n\n"
            "A MIDI file named '-' is standard input (info, dump, generate, eval, render,\n"
            "plot) or, for generate -o, standard output.\n"
            "Run 'getmusic COMMAND --help' for a command's options.\n",
            GM_VERSION);
}

char *openblas_get_corename(void); /* OpenBLAS's cblas.h; declared here to keep its header out */

/* The OpenBLAS kernels this CPU deserves when OpenBLAS chose its generic
 * SSE3 ones ("Prescott"), else NULL. Debian 12's OpenBLAS 0.3.21 does not
 * recognise some newer Xeons (a Sapphire Rapids under a hypervisor, cpuid
 * name "Intel Xeon Processor") and falls back to them: generate was 2.5 to
 * 3.7x slower than with the AVX-512 kernels, measured on a 32-bar song. */
static const char *cli_better_blas_core(void) {
    const char *core = openblas_get_corename();
    if (!core || strcasecmp(core, "prescott")) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

/* Run-time settings that libgomp and OpenBLAS read only when they load:
 * set them and restart once (the user's own values are respected).
 * - OMP_WAIT_POLICY=passive: OpenMP threads that spin between parallel
 *   regions steal the core the BLAS call or the next region needs (2 cores,
 *   often shared): measured 1.4x faster training steps, even when idle.
 * - OPENBLAS_CORETYPE: see cli_better_blas_core. */
static void cli_restart_tuned(char **argv) {
    int restart = 0;
    if (!getenv("OMP_WAIT_POLICY")) restart |= setenv("OMP_WAIT_POLICY", "passive", 1) == 0;
    const char *core = getenv("OPENBLAS_CORETYPE") ? NULL : cli_better_blas_core();
    if (core) restart |= setenv("OPENBLAS_CORETYPE", core, 1) == 0;
    if (restart) execv("/proc/self/exe", argv);
}

int main(int argc, char **argv) {
    cli_restart_tuned(argv);
    if (argc < 2) { usage(stderr); return EXIT_USAGE; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) { usage(stdout); return 0; }
    if (!strcmp(cmd, "--version")) { printf("getmusic %s\n", GM_VERSION); return 0; }
    if (!strcmp(cmd, "transcribe")) return cmd_transcribe(argc - 2, argv + 2); /* its own --help */
    if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
        if (!strcmp(cmd, "prepare")) { usage_prepare(stdout); return 0; }
        if (!strcmp(cmd, "train")) { usage_train(stdout); return 0; }
        if (!strcmp(cmd, "generate")) { usage_generate(stdout); return 0; }
        if (!strcmp(cmd, "eval")) { usage_eval(stdout); return 0; }
        if (!strcmp(cmd, "render")) { usage_render(stdout); return 0; }
        if (!strcmp(cmd, "plot")) { usage_plot(stdout); return 0; }
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(cmd, "prepare")) return cmd_prepare(argc - 2, argv + 2);
    if (!strcmp(cmd, "dump")) return cmd_dump(argc - 2, argv + 2);
    if (!strcmp(cmd, "train")) {
#ifdef GM_MPI
        /* Data-parallel training: every rank runs this; rank 0 writes files. */
        int rank = 0, world = 1;
        MPI_Init(&argc, &argv);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &world);
        int rc = cmd_train(argc - 2, argv + 2, rank, world);
        MPI_Finalize();
        return rc;
#else
        return cmd_train(argc - 2, argv + 2, 0, 1);
#endif
    }
    if (!strcmp(cmd, "plot-log")) return cmd_plot_log(argc - 2, argv + 2);
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "render")) return cmd_render(argc - 2, argv + 2);
    if (!strcmp(cmd, "plot")) return cmd_plot(argc - 2, argv + 2);
    usage(stderr);
    return die(EXIT_USAGE, "unknown command '%s'", cmd);
}
