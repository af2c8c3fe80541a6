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
            "  --chords SPEC           the chord condition: 'input' (default: recognised from all\n"
            "                          of IN, per half bar with a half-bar model, so a replaced\n"
            "                          chord track still gives its harmony), 'kept' (only from\n"
            "                          the notes that are kept), 'none' (the model picks the\n"
            "                          harmony), chord names repeated over the piece, or a file\n"
            "                          of them. Names: \"C G Am F\" is one chord per bar (4 bars);\n"
            "                          with '|' bars are marked and a bar takes one chord or two\n"
            "                          (its halves): \"C G | Am F\" is 2 bars, \"C | G D\" is C for\n"
            "                          a bar, then G and D (in a file, line ends also end bars)\n"
            "  --chord-guidance X      classifier-free guidance on the chords, X >= 0 (default 1;\n"
            "                          0 = off, half the work; 2-3 follows the chords closer still)\n"
            "  --model M.gguf          default: the shipped model (models/default.gguf)\n"
            "  --steps N               denoising steps per window, 1..100 (default 10; more is slower,\n"
            "                          not better by the musical figures of models/README.md)\n"
            "  --seed S                same seed, same output, byte for byte (default 1)\n"
            "  --temperature X         sampling temperature > 0 (default 1)\n"
            "  --top-k K               sample among the K most likely tokens (default 5; 0 = all)\n"
            "  --window-bars N         bars per model window (default: as many as fit)\n"
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

int cmd_generate(int argc, char **argv) {
    const char *in = NULL, *out_path = NULL, *model_path = NULL, *targets_s = NULL, *chords_s = NULL;
    const char *wav = NULL, *png = NULL;
    gm_bar_range *ranges = NULL;
    int n_ranges = 0, json = 0, quiet = 0, force = 0;
    const gm_generate_params dp = gm_generate_default_params(); /* the one home of the defaults */
    long new_bars = 0, cont = 0, steps = dp.steps, top_k = dp.top_k, window_bars = 0;
    long long seed = (long long)dp.seed;
    double temperature = dp.temperature, guidance = dp.chord_guidance;
    int status = EXIT_USAGE;
    char err[GM_ERR_SIZE] = "";
    const char *bars_arg = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        long tmp;
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) out_path = val;
        else if (!strcmp(a, "--model")) model_path = val;
        else if (!strcmp(a, "--targets")) targets_s = val;
        else if (!strcmp(a, "--chords")) chords_s = val;
        else if (!strcmp(a, "--render")) wav = val;
        else if (!strcmp(a, "--plot")) png = val;
        else if (!strcmp(a, "--bars")) {
            if (!val) { cli_fail(EXIT_USAGE, "--bars needs a value"); goto out; }
            bars_arg = val;
            /* With an input these are ranges; without, a length (decided below). */
            if (parse_ranges(val, &ranges, &n_ranges)) { cli_fail(EXIT_USAGE, "--bars: '%s' is not a bar range like 9-16 or 9-16,25-32", val); goto out; }
        } else if (!strcmp(a, "--continue")) { if (cli_parse_int(a, val, 1, 100000, &cont)) goto out; }
        else if (!strcmp(a, "--steps")) { if (cli_parse_int(a, val, 1, 100, &steps)) goto out; }
        else if (!strcmp(a, "--top-k")) { if (cli_parse_int(a, val, 0, 1000000, &top_k)) goto out; }
        else if (!strcmp(a, "--window-bars")) { if (cli_parse_int(a, val, 1, 10000, &window_bars)) goto out; }
        else if (!strcmp(a, "--seed")) {
            if (cli_parse_int(a, val, 0, LONG_MAX, &tmp)) goto out;
            seed = tmp;
        } else if (!strcmp(a, "--temperature")) { if (cli_parse_double(a, val, 1e-3, 100, &temperature)) goto out; }
        else if (!strcmp(a, "--chord-guidance")) { if (cli_parse_double(a, val, 0, 100, &guidance)) goto out; }
        else if (!strcmp(a, "--json")) takes = 0, json = 1;
        else if (!strcmp(a, "--force")) takes = 0, force = 1;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) takes = 0, quiet = 1;
        else if (a[0] == '-' && a[1]) { cli_fail(EXIT_USAGE, "generate: unknown option '%s' (see getmusic generate --help)", a); goto out; }
        else {
            takes = 0;
            if (in) { cli_fail(EXIT_USAGE, "generate: one input file at a time ('%s' is extra)", a); goto out; }
            in = a;
        }
        if (takes) {
            if (!val) { cli_fail(EXIT_USAGE, "%s needs a value", a); goto out; }
            i++;
        }
    }
    if (!out_path) { cli_fail(EXIT_USAGE, "usage: getmusic generate [IN.mid] -o OUT.mid [--targets piano,drums] ... (--help for all)"); goto out; }
    if (!in) {
        /* From scratch: --bars N is the length. */
        if (!bars_arg || n_ranges != 1 || ranges[0].first != ranges[0].last) {
            cli_fail(EXIT_USAGE, "without an input file, give the length: --bars N");
            goto out;
        }
        new_bars = ranges[0].first + 1;
        n_ranges = 0;
        if (cont) { cli_fail(EXIT_USAGE, "--continue needs an input file"); goto out; }
    }
    if (n_ranges && cont) { cli_fail(EXIT_USAGE, "--bars and --continue do not go together"); goto out; }
    if (!force && same_file(in, out_path)) {
        cli_fail(EXIT_USAGE, "generate: -o %s would replace the input; give another name, or --force", out_path);
        goto out;
    }
    if (json && cli_is_std(out_path)) { cli_fail(EXIT_USAGE, "--json and -o - both write to standard output"); goto out; }

    /* ---- model ---- */
    if (!model_path && !(model_path = cli_default_model())) {
        cli_fail(EXIT_USAGE, "no model found: pass --model M.gguf or set GETMUSIC_MODEL");
        goto out;
    }
    gm_model *model = gm_model_load(model_path, err);
    if (!model) { cli_fail(EXIT_USAGE, "%s", err); goto out; }
    const gm_layout *l = gm_model_layout(model);

    gm_generate_params p = gm_generate_default_params();
    gm_chord *chords = NULL;
    gm_score song, result;
    int have_song = 0, have_result = 0;
    gm_generate_report rep = {0};
    cli_progress bar = {0};

    /* ---- targets ---- */
    if (targets_s) {
        char *copy = strdup(targets_s);
        if (!copy) { status = cli_fail(EXIT_INTERNAL, "out of memory"); goto out_model; }
        for (char *tok = strtok(copy, ", "); tok; tok = strtok(NULL, ", ")) {
            int c = gm_layout_find(l, tok);
            if (c < 0) {
                char names[256] = "";
                for (int k = 0; k < l->n_classes; k++) {
                    strncat(names, k ? ", " : "", sizeof names - strlen(names) - 1);
                    strncat(names, l->cls[k].name, sizeof names - strlen(names) - 1);
                }
                cli_fail(EXIT_USAGE, "unknown track '%s': the model's tracks are %s", tok, names);
                free(copy);
                goto out_model;
            }
            p.targets |= 1u << c;
        }
        free(copy);
        if (!p.targets) { cli_fail(EXIT_USAGE, "--targets: no track named"); goto out_model; }
    }

    /* ---- chords ---- */
    if (chords_s) {
        struct stat st;
        if (!strcmp(chords_s, "input")) p.chord_mode = GM_CHORDS_INPUT;
        else if (!strcmp(chords_s, "kept")) p.chord_mode = GM_CHORDS_CONDITIONS;
        else if (!strcmp(chords_s, "none")) p.chord_mode = GM_CHORDS_NONE;
        else {
            char *text = NULL;
            if (stat(chords_s, &st) == 0 && S_ISREG(st.st_mode)) {
                if (st.st_size > (1 << 20) || !(text = read_text_file(chords_s, 1 << 20))) {
                    cli_fail(EXIT_USAGE, "--chords: cannot read '%s'", chords_s);
                    goto out_model;
                }
            }
            int n_bars_given = 0;
            int bad = gm_chords_parse_bars(text ? text : chords_s, &chords, &n_bars_given, err);
            free(text);
            if (bad) { cli_fail(EXIT_USAGE, "--chords: %s", err); goto out_model; }
            p.chord_mode = GM_CHORDS_GIVEN;
            p.chords = chords;
            p.chord_frames_per_bar = 2; /* both halves of every bar */
            p.n_chords = 2 * n_bars_given;
        }
        if (!in && (p.chord_mode == GM_CHORDS_INPUT || p.chord_mode == GM_CHORDS_CONDITIONS)) {
            cli_fail(EXIT_USAGE, "--chords %s needs an input file", chords_s);
            goto out_model;
        }
    }

    /* ---- input ---- */
    if (in) {
        if (cli_read_score(in, &song, NULL, err)) { cli_fail(EXIT_USAGE, "%s: %s", cli_shown(in), err); goto out_model; }
        have_song = 1;
        for (int i = 0; i < song.n_tracks; i++) {
            const gm_track *t = &song.tracks[i];
            if (t->n_notes && gm_layout_classify(l, t) < 0 && !quiet && !json)
                fprintf(stderr, "%s: track '%s' (%s%s) is no track of the model; copied unchanged\n", cli_prog,
                        t->name[0] ? t->name : "unnamed", t->is_drum ? "drums" : "program ",
                        t->is_drum ? "" : cli_program_names[t->program & 127]);
        }
        if (window_bars) {
            gm_barmap bm;
            if (gm_barmap_build(&bm, &song, GM_STEPS_PER_QUARTER, err)) { cli_fail(EXIT_USAGE, "%s: %s", in, err); goto out_model; }
            int cols = bm.n_bars ? bm.bar_col[1] - bm.bar_col[0] : 16;
            gm_barmap_free(&bm);
            p.window_cols = (int)(window_bars * cols);
        }
    } else if (window_bars) {
        p.window_cols = (int)window_bars * 16;
    }
    p.ranges = ranges;
    p.n_ranges = n_ranges;
    p.continue_bars = (int)cont;
    p.new_bars = (int)new_bars;
    p.steps = (int)steps;
    p.seed = (uint64_t)seed;
    p.temperature = (float)temperature;
    p.top_k = (int)top_k;
    p.chord_guidance = (float)guidance;
    bar.on = !quiet && !json && isatty(2);
    bar.label = "generating";
    bar.last_pct = -1;
    clock_gettime(CLOCK_MONOTONIC, &bar.t0);
    p.progress = cli_progress_cb;
    p.user_data = &bar;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (gm_generate(model, have_song ? &song : NULL, &p, &result, &rep, err)) {
        if (bar.on) fputc('\n', stderr);
        /* Requests the model cannot serve are the user's to fix. */
        status = cli_fail(EXIT_USAGE, "%s", err);
        goto out_model;
    }
    have_result = 1;
    double secs = cli_since(&t0);
    if (cli_write_midi(out_path, &result, err)) { status = cli_fail(EXIT_USAGE, "%s", err); goto out_model; }
    if (wav) {
        gm_render_params rp = gm_render_default_params();
        if (gm_render_wav(&result, wav, &rp, NULL, err)) { status = cli_fail(EXIT_USAGE, "--render: %s", err); goto out_model; }
    }
    if (png) {
        gm_roll_params rp = gm_roll_default_params();
        if (rep.chords_given) { /* the chords the model was given, over the bars */
            rp.chords = rep.chords;
            rp.n_chords = rep.n_bars * rep.chord_frames_per_bar;
            rp.chord_frames_per_bar = rep.chord_frames_per_bar;
        }
        if (gm_plot_pianoroll(&result, l, &rp, png, err)) { status = cli_fail(EXIT_USAGE, "--plot: %s", err); goto out_model; }
    }

    /* ---- summary ---- */
    char names_t[256] = "", names_g[256] = "", kb[32];
    for (int k = 0; k < l->n_classes; k++) {
        char *dst = rep.targets >> k & 1 ? names_t : rep.given >> k & 1 ? names_g : NULL;
        if (!dst) continue;
        strncat(dst, dst[0] ? "," : "", 255 - strlen(dst));
        strncat(dst, l->cls[k].name, 255 - strlen(dst));
    }
    gm_key_name(rep.key, kb, sizeof kb);
    if (json) {
        printf("{\"input\": ");
        if (in) cli_json_str(in); else printf("null");
        printf(", \"output\": ");
        cli_json_str(out_path);
        printf(", \"model\": ");
        cli_json_str(model_path);
        printf(", \"bars\": %d, \"windows\": %d, \"steps\": %ld, \"seed\": %lld, \"key\": ", rep.n_bars, rep.n_windows, steps, seed);
        cli_json_str(kb);
        printf(", \"targets\": [");
        for (int k = 0, f = 0; k < l->n_classes; k++)
            if (rep.targets >> k & 1) { printf(f++ ? ", " : ""); cli_json_str(l->cls[k].name); }
        printf("], \"given\": [");
        for (int k = 0, f = 0; k < l->n_classes; k++)
            if (rep.given >> k & 1) { printf(f++ ? ", " : ""); cli_json_str(l->cls[k].name); }
        printf("], \"unmapped_tracks\": %d, \"notes_kept\": %zu, \"notes_generated\": %zu, \"chords\": ", rep.n_unmapped,
               rep.notes_kept, rep.notes_generated);
        if (!rep.chords_given) printf("null");
        else {
            printf("[");
            for (int b = 0; b < rep.n_bars; b++) {
                printf(b ? ", " : "");
                char names[40];
                if (bar_chords(&rep, b, names, sizeof names)) cli_json_str(names);
                else printf("null");
            }
            printf("]");
        }
        printf(", \"seconds\": %.3f", secs);
        if (wav) { printf(", \"wav\": "); cli_json_str(wav); }
        if (png) { printf(", \"png\": "); cli_json_str(png); }
        printf("}\n");
    } else if (!quiet) {
        fprintf(stderr, "%s: wrote %s: %d bars in %s, %zu notes generated for %s (given: %s; chords: %s), %d window%s, %.1f s\n",
                cli_prog, cli_is_std(out_path) ? "standard output" : out_path, rep.n_bars, kb, rep.notes_generated, names_t, names_g[0] ? names_g : "nothing",
                rep.chords_given ? (p.chord_mode == GM_CHORDS_GIVEN ? "given" : "recognised") : "none",
                rep.n_windows, rep.n_windows == 1 ? "" : "s", secs);
        if (wav) fprintf(stderr, "%s: wrote %s\n", cli_prog, wav);
        if (png) fprintf(stderr, "%s: wrote %s\n", cli_prog, png);
    }
    status = 0;
out_model:
    gm_generate_report_free(&rep);
    if (have_result) gm_score_free(&result);
    if (have_song) gm_score_free(&song);
    free(chords);
    gm_model_free(model);
out:
    free(ranges);
    return status;
}
