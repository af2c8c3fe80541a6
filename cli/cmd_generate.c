/* cmd_generate.c — `getmusic generate`: write tracks with the model
 * (accompaniment, infilling, continuation, from scratch). */
#include "cli.h"

#include "getmusic.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void usage_generate(FILE *f) {
    fprintf(f,
            "usage: getmusic generate [IN.mid] -o OUT.mid [options]\n\n"
            "IN and OUT may be MusicXML (.musicxml, .xml, .mxl); OUT as MusicXML also gets the\n"
            "chords followed as chord symbols.\n"
            "Writes the tracks you name (--targets) to fit the tracks IN.mid has; every\n"
            "note of the other tracks is kept as it is. A track written anew is named by\n"
            "its class (\"piano\", \"drums\"); one only partly rewritten (--bars,\n"
            "--continue) keeps its name. IN.mid '-' reads standard input.\n\n"
            "  -o, --output OUT.mid    the result (written atomically); '-' writes it to\n"
            "                          standard output (messages stay on standard error)\n"
            "  --force                 allow OUT.mid to be IN.mid (replacing the input)\n"
            "  --targets a,b           tracks to write, e.g. piano,drums (the model's tracks:\n"
            "                          see 'getmusic info --model'; default: the ones IN lacks)\n"
            "  --bars A-B[,C-D...]     infill: regenerate only these bars (1-based) of the\n"
            "                          targets; may be given more than once\n"
            "  --bars N                without IN.mid: a new piece of N bars (4/4, 120 bpm)\n"
            "  --continue N            append N bars to the targets (default: every track IN has)\n"
            "  --chords SPEC           the chord condition: 'input' (default: IN's chord symbols,\n"
            "                          MusicXML <harmony> or chord names in MIDI text events, when\n"
            "                          it has them, else recognised from all of IN, per half bar\n"
            "                          with a half-bar model, so a replaced chord track still\n"
            "                          gives its harmony; a bare melody has its chords chosen, as\n"
            "                          'melody'; '--chords input' recognises even with symbols),\n"
            "                          'kept' (only from the notes that are kept), 'melody'\n"
            "                          (chosen for the melody by a model of POP909's chord\n"
            "                          labels), 'none' (the model picks the harmony), chord\n"
            "                          names repeated over the piece, or a file\n"
            "                          of them. Names: \"C G Am F\" is one chord per bar (4 bars);\n"
            "                          with '|' bars are marked and a bar takes one chord or two\n"
            "                          (its halves): \"C G | Am F\" is 2 bars, \"C | G D\" is C for\n"
            "                          a bar, then G and D (in a file, line ends also end bars)\n"
            "  --chord-guidance X      classifier-free guidance on the chords, X >= 0 (default 1;\n"
            "                          0 = off, half the work; 2-3 follows the chords closer still)\n"
            "  --model M.gguf          default: the shipped model (models/default.gguf)\n"
            "  --steps N               denoising steps per window, 1..the model's diffusion steps (100)\n"
            "                          (default 10; more is slower, not better by the musical\n"
            "                          figures of models/README.md)\n"
            "  --seed S                same seed, same output, byte for byte (default 1)\n"
            "  --temperature X         sampling temperature > 0 (default 1)\n"
            "  --drum-temperature X    the drums' own temperature (default 0.5: a steadier groove)\n"
            "  --drum-style NAME       the drums' style, for a model with styles (getmusic info --model\n"
            "                          lists them; default pop where the model has it, else any)\n"
            "  --drum-style-guidance X  how far the drums lean into their style, against the\n"
            "                          model's style-blind drums, X >= 0 (default 1.5; 0 = off)\n"
            "  --drum-chord-guidance X  the drums' own weight of chord guidance (default 1)\n"
            "  --drum-hit-temperature X  hit or rest first, at the model's odds sharpened by X (default 0.5);\n"
            "                          then which hit at the drum temperature (0: one stage, as before)\n"
            "  --top-k K               sample among the K most likely tokens (default 5; 0 = all)\n"
            "  --window-bars N         bars per model window (default: as many as fit)\n"
            CLI_METRE_HELP
            "  --render OUT.wav        also render the result to audio\n"
            "  --plot OUT.png          also draw the result (generated notes marked)\n"
            "  --json                  a machine-readable summary on stdout\n"
            "  --quiet                 no progress bar, no summary\n");
}

/* "9-16,20-24" or "9" → ranges appended (0-based). */
static int parse_ranges(const char *s, gm_bar_range **v, int *n) {
    const char *q = s;
    while (*q) {
        char *end;
        errno = 0;
        long a = strtol(q, &end, 10), b = a;
        if (end == q || errno) return -1;
        if (*end == '-') {
            const char *q2 = end + 1;
            b = strtol(q2, &end, 10);
            if (end == q2 || errno) return -1;
        }
        if (a < 1 || b < a || b > INT_MAX / 2) return -1;
        gm_bar_range *nv = realloc(*v, (size_t)(*n + 1) * sizeof **v);
        if (!nv) return -1;
        *v = nv;
        (*v)[(*n)++] = (gm_bar_range){(int)a - 1, (int)b - 1};
        if (*end == ',') end++;
        else if (*end) return -1;
        q = end;
    }
    return *n ? 0 : -1;
}

/* A bar's chords as --chords writes them: "C", or "C G" when its halves
 * differ ("C N" when only the first half has one). 0 when it has none. */
static int bar_chords(const gm_generate_report *rep, int b, char *out, size_t n) {
    const int F = rep->chord_frames_per_bar;
    const gm_chord *c = rep->chords + (size_t)b * F;
    int same = 1, any = 0;
    for (int k = 0; k < F; k++) {
        any |= c[k].root >= 0;
        same &= c[k].root == c[0].root && c[k].quality == c[0].quality;
    }
    if (!any) return 0;
    char a[16], z[16];
    gm_chord_name(c[0], a, sizeof a);
    if (same) snprintf(out, n, "%s", a);
    else snprintf(out, n, "%s %s", a, gm_chord_name(c[F - 1], z, sizeof z));
    return 1;
}

/* The same file under two names ("in.mid", "./in.mid", a link): writing the
 * output would replace the input. Same device and inode says so for every
 * spelling, symbolic and hard links included. */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (!a || cli_is_std(a) || cli_is_std(b) || stat(a, &sa) || stat(b, &sb)) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static char *read_text_file(const char *path, size_t max) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max, f) : 0;
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    return buf;
}

/* One run of `getmusic generate`: the options as given, then what each
 * stage makes. gen_cmd_free releases whatever the stages got to. */
typedef struct {
    /* options */
    const char *in, *out_path, *model_path, *targets_s, *chords_s, *wav, *png, *bars_arg;
    gm_bar_range *ranges;
    int n_ranges, json, quiet, force;
    long window_bars;
    /* stages */
    gm_model *model;
    const gm_layout *l;     /* the model's */
    gm_generate_params p;   /* most options land here directly (defaults: the library's) */
    gm_chord *chords;       /* --chords NAMES, parsed */
    char warning[256];      /* a target that came out empty or nearly so, or "" */
    gm_metre_request metre_req; /* --metre, --pickup */
    gm_metre metre;             /* the input's bars and where they came from */
    gm_score song, result;
    int have_song, have_result;
    int chords_from_symbols; /* the input's chord symbols are the given chords */
    gm_generate_report rep;
    double secs;            /* gm_generate's wall time */
} gen_cmd;

static void gen_cmd_init(gen_cmd *j) {
    memset(j, 0, sizeof *j);
    j->p = gm_generate_default_params(); /* the one home of the defaults */
    j->metre_req.pickup = -1;
}

static void gen_cmd_free(gen_cmd *j) {
    gm_generate_report_free(&j->rep);
    gm_metre_free(&j->metre);
    if (j->have_result) gm_score_free(&j->result);
    if (j->have_song) gm_score_free(&j->song);
    free(j->chords);
    gm_model_free(j->model);
    free(j->ranges);
}

/* The input file: one at a time. */
static int gen_word(void *user, const char *word) {
    gen_cmd *j = user;
    if (j->in) return cli_fail(EXIT_USAGE, "generate: one input file at a time ('%s' is extra)", word);
    j->in = word;
    return 0;
}

/* --bars: with an input, ranges to regenerate; without, the length (decided
 * in gen_parse_args). */
static int gen_bars_option(void *user, const char *opt, const char *val) {
    gen_cmd *j = user;
    (void)opt;
    j->bars_arg = val;
    if (parse_ranges(val, &j->ranges, &j->n_ranges))
        return cli_fail(EXIT_USAGE, "--bars: '%s' is not a bar range like 9-16 or 9-16,25-32", val);
    return 0;
}

static int gen_metre_option(void *user, const char *opt, const char *val) {
    return cli_metre_option(opt, val, &((gen_cmd *)user)->metre_req) ? EXIT_USAGE : 0;
}

/* The options, and the rules between them. */
static int gen_parse_args(gen_cmd *j, int argc, char **argv) {
    gm_generate_params *p = &j->p; /* most options land here directly (defaults: the library's) */
    const cli_opt opts[] = {
        CLI_STR("--output", "-o", &j->out_path),
        CLI_STR("--model", NULL, &j->model_path),
        CLI_STR("--targets", NULL, &j->targets_s),
        CLI_STR("--chords", NULL, &j->chords_s),
        CLI_STR("--render", NULL, &j->wav),
        CLI_STR("--plot", NULL, &j->png),
        CLI_CALL("--bars", NULL, gen_bars_option),
        CLI_INT("--continue", NULL, &p->continue_bars, 1, GM_MAX_GENERATE_BARS),
        CLI_INT("--steps", NULL, &p->steps, INT_MIN, INT_MAX), /* gm_generate checks them against the model */
        CLI_INT("--top-k", NULL, &p->top_k, 0, 1000000),
        CLI_LONG("--window-bars", NULL, &j->window_bars, 1, 10000),
        CLI_U64("--seed", NULL, &p->seed, 0, LONG_MAX),
        CLI_FLOAT("--temperature", NULL, &p->temperature, 1e-3, 100),
        CLI_FLOAT("--drum-temperature", NULL, &p->drum_temperature, 1e-3, 100),
        CLI_STR("--drum-style", NULL, &p->drum_style),
        CLI_CALL("--metre", "--pickup", gen_metre_option),
        CLI_FLOAT("--drum-hit-temperature", NULL, &p->drum_hit_temperature, 0, 100),
        CLI_FLOAT("--chord-guidance", NULL, &p->chord_guidance, 0, 100),
        CLI_FLOAT("--drum-style-guidance", NULL, &p->drum_style_guidance, 0, 100),
        CLI_FLOAT("--drum-chord-guidance", NULL, &p->drum_chord_guidance, 0, 100),
        CLI_FLAG("--json", NULL, &j->json),
        CLI_FLAG("--force", NULL, &j->force),
        CLI_FLAG("--quiet", "-q", &j->quiet),
        CLI_END,
    };
    int status = cli_parse_options("generate", argc, argv, opts, gen_word, j);
    if (status) return status;
    if (!j->out_path) return cli_fail(EXIT_USAGE, "usage: getmusic generate [IN.mid] -o OUT.mid [--targets piano,drums] ... (--help for all)");
    if (!j->in) {
        /* From scratch: --bars N is the length. */
        if (!j->bars_arg || j->n_ranges != 1 || j->ranges[0].first != j->ranges[0].last)
            return cli_fail(EXIT_USAGE, "without an input file, give the length: --bars N");
        j->p.new_bars = j->ranges[0].first + 1;
        j->n_ranges = 0;
        if (j->p.continue_bars) return cli_fail(EXIT_USAGE, "--continue needs an input file");
    }
    if (j->n_ranges && j->p.continue_bars) return cli_fail(EXIT_USAGE, "--bars and --continue do not go together");
    if (!j->force && same_file(j->in, j->out_path))
        return cli_fail(EXIT_USAGE, "generate: -o %s would replace the input; give another name, or --force", j->out_path);
    if (j->json && cli_is_std(j->out_path)) return cli_fail(EXIT_USAGE, "--json and -o - both write to standard output");
    return 0;
}

static int gen_load_model(gen_cmd *j) {
    char err[GM_ERR_SIZE];
    if (!j->model_path && !(j->model_path = cli_default_model()))
        return cli_fail(EXIT_USAGE, "no model found: pass --model M.gguf or set GETMUSIC_MODEL");
    if (!(j->model = gm_model_load(j->model_path, err))) return cli_fail(EXIT_USAGE, "%s", err);
    j->l = gm_model_layout(j->model);
    return 0;
}

/* --targets a,b: class names of the model's layout → p.targets bits. */
static int gen_parse_targets(gen_cmd *j) {
    if (!j->targets_s) return 0;
    const gm_layout *l = j->l;
    char *copy = strdup(j->targets_s);
    if (!copy) return cli_fail(EXIT_INTERNAL, "out of memory");
    for (char *tok = strtok(copy, ", "); tok; tok = strtok(NULL, ", ")) {
        char err[GM_ERR_SIZE];
        int c = cli_find_class(l, tok, err);
        if (c < 0) {
            free(copy);
            return cli_fail(EXIT_USAGE, "%s", err);
        }
        j->p.targets |= 1u << c;
    }
    free(copy);
    if (!j->p.targets) return cli_fail(EXIT_USAGE, "--targets: no track named");
    return 0;
}

/* --chords: a mode (input, kept, none), or chord names given inline or in
 * a file, which take both halves of every bar. */
static int gen_parse_chords(gen_cmd *j) {
    const char *spec = j->chords_s;
    if (!spec) return 0;
    gm_generate_params *p = &j->p;
    char *text = NULL, err[GM_ERR_SIZE];
    struct stat st;
    if (strcmp(spec, "input") && strcmp(spec, "kept") && strcmp(spec, "none") && stat(spec, &st) == 0 &&
        S_ISREG(st.st_mode)) { /* chord names in a file */
        if (st.st_size > (1 << 20) || !(text = read_text_file(spec, 1 << 20)))
            return cli_fail(EXIT_USAGE, "--chords: cannot read '%s'", spec);
    }
    int bad = cli_chord_spec(text ? text : spec, p, &j->chords, err);
    free(text);
    if (bad) return cli_fail(EXIT_USAGE, "--chords: %s", err);
    if (!j->in && (p->chord_mode == GM_CHORDS_INPUT || p->chord_mode == GM_CHORDS_CONDITIONS ||
                   p->chord_mode == GM_CHORDS_HARMONIZE))
        return cli_fail(EXIT_USAGE, "--chords %s needs an input file", spec);
    return 0;
}

/* A lead sheet's chord symbols (MusicXML <harmony>, chord names in MIDI
 * text events) are the chords to follow when --chords says nothing: both
 * halves of every bar, as --chords NAMES gives them. */
static int gen_chords_from_symbols(gen_cmd *j) {
    char err[GM_ERR_SIZE];
    gm_barmap bm;
    if (j->chords_s || !j->song.n_symbols) return 0;
    if (gm_barmap_build(&bm, &j->song, GM_STEPS_PER_QUARTER, err)) return cli_fail(EXIT_USAGE, "%s: %s", j->in, err);
    int rc = 0;
    if (bm.n_bars > 0) {
        if (!(j->chords = malloc(sizeof *j->chords * 2 * (size_t)bm.n_bars))) rc = cli_fail(EXIT_INTERNAL, "out of memory");
        else if (gm_chords_from_symbols(&j->song, &bm, 2, j->chords, err)) rc = cli_fail(EXIT_USAGE, "%s: %s", j->in, err);
        else {
            j->p.chord_mode = GM_CHORDS_GIVEN;
            j->p.chords = j->chords;
            j->p.chord_frames_per_bar = 2;
            j->p.n_chords = 2 * bm.n_bars;
            j->chords_from_symbols = 1;
        }
    }
    gm_barmap_free(&bm);
    return rc;
}

/* Reads IN (if any), says which of its tracks the model has no class for,
 * and turns --window-bars into columns: bars of the song's first metre, or
 * of 4/4 for a new piece (what gm_generate writes). */
static int gen_read_input(gen_cmd *j) {
    char err[GM_ERR_SIZE];
    int first_bar_cols = gm_grid_bar_cols(4, 4);
    if (j->in) {
        if (cli_read_song(j->in, &j->song, &j->metre_req, &j->metre, err))
            return cli_fail(EXIT_USAGE, "%s: %s", cli_shown(j->in), err);
        j->have_song = 1;
        int status = gen_chords_from_symbols(j);
        if (status) return status;
        for (int i = 0; i < j->song.n_tracks; i++) {
            const gm_track *t = &j->song.tracks[i];
            if (t->n_notes && gm_layout_classify(j->l, t) < 0 && !j->quiet && !j->json)
                fprintf(stderr, "%s: track '%s' (%s%s) is no track of the model; copied unchanged\n", cli_prog,
                        t->name[0] ? t->name : "unnamed", t->is_drum ? "drums" : "program ",
                        t->is_drum ? "" : cli_program_names[t->program & 127]);
        }
        if (j->window_bars) {
            gm_barmap bm;
            if (gm_barmap_build(&bm, &j->song, GM_STEPS_PER_QUARTER, err)) return cli_fail(EXIT_USAGE, "%s: %s", j->in, err);
            if (bm.n_bars) first_bar_cols = bm.bar_col[1] - bm.bar_col[0];
            gm_barmap_free(&bm);
        }
    }
    if (j->window_bars) j->p.window_cols = (int)(j->window_bars * first_bar_cols);
    return 0;
}

/* The model's work, with a progress bar on a terminal. */
static int gen_run(gen_cmd *j) {
    gm_generate_params *p = &j->p;
    char err[GM_ERR_SIZE];
    p->ranges = j->ranges;
    p->n_ranges = j->n_ranges;
    cli_progress bar = {.on = !j->quiet && !j->json && isatty(2), .label = "generating", .last_pct = -1};
    clock_gettime(CLOCK_MONOTONIC, &bar.t0);
    p->progress = cli_progress_cb;
    p->user_data = &bar;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int failed = gm_generate(j->model, j->have_song ? &j->song : NULL, p, &j->result, &j->rep, err);
    p->progress = NULL, p->user_data = NULL; /* bar dies with this frame */
    if (failed) {
        if (bar.on) fputc('\n', stderr);
        /* Requests the model cannot serve are the user's to fix. */
        return cli_fail(EXIT_USAGE, "%s", err);
    }
    cli_target_warning(j->l, &j->result, p, &j->rep, j->warning, sizeof j->warning);
    j->have_result = 1;
    j->secs = cli_since(&t0);
    return 0;
}

/* A score written as MusicXML shows the chords the model followed as chord
 * symbols: the report's, one per change, in place of the input's. A MIDI
 * file gets them (as marker events) when they were chosen for a bare
 * melody, so that `info` of the result names them. */
static int gen_symbols_from_report(gen_cmd *j, int source) {
    const gm_generate_report *rep = &j->rep;
    gm_score *s = &j->result;
    gm_barmap bm;
    char err[GM_ERR_SIZE];
    if (!rep->chords_given || !rep->chords) return 0;
    if (gm_barmap_build(&bm, s, GM_STEPS_PER_QUARTER, err)) return cli_fail(EXIT_INTERNAL, "%s", err);
    free(s->symbols);
    s->symbols = NULL;
    s->n_symbols = 0;
    const int F = rep->chord_frames_per_bar, nb = rep->n_bars < bm.n_bars ? rep->n_bars : bm.n_bars;
    gm_chord last = {-2, -2};
    int rc = 0;
    for (int f = 0; f < nb * F && !rc; f++) {
        gm_chord c = rep->chords[f];
        if (c.root == last.root && c.quality == last.quality) continue;
        gm_chord_symbol sym = {gm_barmap_frame_tick(&bm, f / F, F, f % F), c.root, c.quality, -1, (uint8_t)source, ""};
        gm_chord_name(c, sym.text, sizeof sym.text);
        if (c.root < 0) strcpy(sym.text, "N.C.");
        rc = gm_score_add_symbol(s, &sym);
        last = c;
    }
    gm_barmap_free(&bm);
    return rc ? cli_fail(EXIT_INTERNAL, "out of memory") : 0;
}

/* The MIDI (or MusicXML) file, then --render's WAV and --plot's piano roll. */
static int gen_write_outputs(gen_cmd *j) {
    char err[GM_ERR_SIZE];
    if (gm_path_is_musicxml(j->out_path) ? gen_symbols_from_report(j, GM_SYMBOL_MUSICXML)
        : j->rep.chords_harmonized && !j->result.n_symbols && gen_symbols_from_report(j, GM_SYMBOL_MARKER))
        return EXIT_INTERNAL;
    if (cli_write_midi(j->out_path, &j->result, err)) return cli_fail(EXIT_USAGE, "%s", err);
    if (j->wav) {
        gm_render_params rp = gm_render_default_params();
        if (gm_render_wav(&j->result, j->wav, &rp, NULL, err)) return cli_fail(EXIT_USAGE, "--render: %s", err);
    }
    if (j->png) {
        gm_roll_params rp = gm_roll_default_params();
        const gm_generate_report *rep = &j->rep;
        if (rep->chords_given) { /* the chords the model was given, over the bars */
            rp.chords = rep->chords;
            rp.n_chords = rep->n_bars * rep->chord_frames_per_bar;
            rp.chord_frames_per_bar = rep->chord_frames_per_bar;
        }
        if (gm_plot_pianoroll(&j->result, j->l, &rp, j->png, err)) return cli_fail(EXIT_USAGE, "--plot: %s", err);
    }
    return 0;
}

/* The names of the classes set in `bits`, as a JSON array on stdout. */
static void json_classes(const gm_layout *l, unsigned bits) {
    printf("[");
    for (int k = 0, f = 0; k < l->n_classes; k++)
        if (bits >> k & 1) { printf(f++ ? ", " : ""); cli_json_str(l->cls[k].name); }
    printf("]");
}

/* Where the chords came from, in a word (--json's chord_source). */
static const char *chord_source(const gen_cmd *j, const gm_generate_report *rep) {
    if (!rep->chords_given) return "none";
    if (j->chords_from_symbols) return "symbols";
    if (j->p.chord_mode == GM_CHORDS_GIVEN) return "given";
    return rep->chords_harmonized ? "harmonised" : "recognised";
}

static void gen_print_json(const gen_cmd *j, const char *key) {
    const gm_generate_report *rep = &j->rep;
    printf("{\"input\": ");
    if (j->in) cli_json_str(j->in); else printf("null");
    printf(", \"output\": ");
    cli_json_str(j->out_path);
    printf(", \"model\": ");
    cli_json_str(j->model_path);
    printf(", \"bars\": %d, \"windows\": %d, \"steps\": %d, \"seed\": %llu, \"key\": ", rep->n_bars, rep->n_windows,
           j->p.steps, (unsigned long long)j->p.seed);
    cli_json_str(key);
    printf(", \"targets\": ");
    json_classes(j->l, rep->targets);
    printf(", \"given\": ");
    json_classes(j->l, rep->given);
    printf(", \"unmapped_tracks\": %d, \"notes_kept\": %zu, \"notes_generated\": %zu, \"chord_source\": \"%s\", \"chords\": ",
           rep->n_unmapped, rep->notes_kept, rep->notes_generated, chord_source(j, rep));
    if (!rep->chords_given) printf("null");
    else {
        printf("[");
        for (int b = 0; b < rep->n_bars; b++) {
            printf(b ? ", " : "");
            char names[40];
            if (bar_chords(rep, b, names, sizeof names)) cli_json_str(names);
            else printf("null");
        }
        printf("]");
    }
    printf(", \"drum_style\": ");
    cli_json_str(rep->drum_style);
    if (j->in) {
        char m[16];
        snprintf(m, sizeof m, "%d/%d", j->metre.numerator, j->metre.denominator);
        printf(", \"metre\": ");
        cli_json_str(m);
        printf(", \"metre_source\": ");
        cli_json_str(gm_metre_source_name(j->metre.source));
    }
    printf(", \"warning\": ");
    if (j->warning[0]) cli_json_str(j->warning);
    else printf("null");
    printf(", \"seconds\": %.3f", j->secs);
    if (j->wav) { printf(", \"wav\": "); cli_json_str(j->wav); }
    if (j->png) { printf(", \"png\": "); cli_json_str(j->png); }
    printf("}\n");
}

static void gen_print_text(const gen_cmd *j, const char *key) {
    const gm_generate_report *rep = &j->rep;
    char names_t[256] = "", names_g[256] = "";
    for (int k = 0; k < j->l->n_classes; k++) {
        char *dst = rep->targets >> k & 1 ? names_t : rep->given >> k & 1 ? names_g : NULL;
        if (!dst) continue;
        strncat(dst, dst[0] ? "," : "", 255 - strlen(dst));
        strncat(dst, j->l->cls[k].name, 255 - strlen(dst));
    }
    fprintf(stderr, "%s: wrote %s: %d bars in %s, %zu notes generated for %s (given: %s; chords: %s), %d window%s, %.1f s\n",
            cli_prog, cli_is_std(j->out_path) ? "standard output" : j->out_path, rep->n_bars, key, rep->notes_generated,
            names_t, names_g[0] ? names_g : "nothing",
            j->chords_from_symbols && rep->chords_given ? "the input's chord symbols" : chord_source(j, rep), rep->n_windows,
            rep->n_windows == 1 ? "" : "s", j->secs);
    if (j->in && j->metre.source == GM_METRE_INFERRED)
        fprintf(stderr, "%s: bars of %d/%d inferred from the music (the file's time signatures say nothing usable; "
                "--metre to choose)\n", cli_prog, j->metre.numerator, j->metre.denominator);
    if (j->wav) fprintf(stderr, "%s: wrote %s\n", cli_prog, j->wav);
    if (j->png) fprintf(stderr, "%s: wrote %s\n", cli_prog, j->png);
    if (j->warning[0]) fprintf(stderr, "%s: warning: %s\n", cli_prog, j->warning);
}

/* Options → model → what to write (targets, chords, the input) → the model's
 * work → files → a summary (JSON on stdout, or a line on stderr). */
int cmd_generate(int argc, char **argv) {
    gen_cmd j;
    gen_cmd_init(&j);
    int status = gen_parse_args(&j, argc, argv);
    if (!status) status = gen_load_model(&j);
    if (!status) status = gen_parse_targets(&j);
    if (!status) status = gen_parse_chords(&j);
    if (!status) status = gen_read_input(&j);
    if (!status) status = gen_run(&j);
    if (!status) status = gen_write_outputs(&j);
    if (!status) {
        char key[32];
        gm_key_name(j.rep.key, key, sizeof key);
        if (j.json) gen_print_json(&j, key);
        else if (!j.quiet) gen_print_text(&j, key);
    }
    gen_cmd_free(&j);
    return status;
}
