/*
 * main.c — the command-line tool's entry point: restarts once with tuned
 * run-time settings, then dispatches `getmusic COMMAND ...` through the
 * command table below. Each command lives in cli/cmd_NAME.c.
 */
#include "cli.h"

#include "getmusic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* One command: `getmusic NAME ...`. help holds its lines of the overview
 * that `getmusic --help` prints, "ARGS\tSUMMARY" each (a line starting
 * with a tab continues the summary above it). */
typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *f);
    const char *help;
} cli_command;

/* Every command, in the order the overview lists them. To add one, write
 * cli/cmd_NAME.c (cmd_NAME and usage_NAME, declared in cli.h) and add its
 * line here: dispatch, `getmusic NAME --help` and the overview follow. */
static const cli_command cli_commands[] = {
    {"info", cmd_info, usage_info,
     "SONG.mid [--json] [--layout L]\ttracks, classes, tempo, metre, bars, key, chords\n"
     "--model MODEL.gguf [--json]\ta model's tracks, sizes, vocabulary, provenance"},
    {"prepare", cmd_prepare, usage_prepare, "DIR... -o CORPUS [options]\tMIDI folders → training corpus (+ vocabulary)"},
    {"dump", cmd_dump, usage_dump, "SONG.mid [--vocab V] [--bars A-B]\tthe GETScore token grid as text"},
    {"train", cmd_train, usage_train, "CORPUS -o MODEL.gguf [options]\ttrain (or --resume, or --init to fine-tune)"},
    {"generate", cmd_generate, usage_generate,
     "[IN.mid] -o OUT.mid [options]\twrite tracks: --targets piano,drums, --bars 9-16,\n"
     "\t--continue N, --chords \"C G Am F\", --render, --plot"},
    {"eval", cmd_eval, usage_eval, "GEN... [--ref REF...] [--json]\tMusPy metrics; with --ref chord accuracy, overlaps"},
    {"convert", cmd_convert, usage_convert, "IN -o OUT [--tracks A,B] [--chord-labels F]\tMIDI <-> MusicXML (.musicxml, .mxl); lead sheets"},
    {"render", cmd_render, usage_render, "IN.mid -o OUT.wav [--soundfont S]\taudio through FluidSynth"},
    {"plot", cmd_plot, usage_plot, "IN.mid -o OUT.png [--given ORIG]\tpiano roll, generated notes marked"},
    {"plot-log", cmd_plot_log, usage_plot_log, "LOG.jsonl -o LOSS.png\tloss curves of a training log"},
    {"transcribe", cmd_transcribe, usage_transcribe, "IN.wav -o OUT.mid [--bpm X] [--metre 3/4] [--json]\ta recording to beats, chords and melody"},
    {"studio", cmd_studio, usage_studio, "[--port 8080] [--host H] [--model M]\tarrange in the browser (local web app, JSON API)"},
};
#define N_COMMANDS (sizeof cli_commands / sizeof *cli_commands)

static const cli_command *find_command(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(cli_commands[i].name, name)) return &cli_commands[i];
    return NULL;
}

/* The overview, from the table: "  getmusic NAME ARGS" padded to the
 * summary column. */
static void usage(FILE *f) {
    fprintf(f, "getmusic %s — arrange music with GETMusic on the CPU\n\nusage:\n", GM_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        for (const char *line = cli_commands[i].help; *line;) {
            const char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
            if (!nl) nl = line + strlen(line);
            char head[128] = "";
            if (tab && tab > line) snprintf(head, sizeof head, "getmusic %s %.*s", cli_commands[i].name, (int)(tab - line), line);
            const char *sum = tab && tab < nl ? tab + 1 : nl;
            fprintf(f, "  %-48s %.*s\n", head, (int)(nl - sum), sum);
            line = *nl ? nl + 1 : nl;
        }
    }
    fprintf(f, "  getmusic --version | --help\n\n"
               "A MIDI file named '-' is standard input (info, dump, generate, eval, render,\n"
               "plot) or, for generate -o, standard output.\n"
               "Run 'getmusic COMMAND --help' for a command's options.\n");
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
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) { usage(stdout); return 0; }
    if (!strcmp(name, "--version")) { printf("getmusic %s\n", GM_VERSION); return 0; }
    const cli_command *cmd = find_command(name);
    if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
        if (cmd) cmd->usage(stdout);
        else usage(stdout);
        return 0;
    }
    if (cmd) {
        int status = cmd->run(argc - 2, argv + 2);
        if (status == CLI_HELP) cmd->usage(stdout); /* -h or --help after other words */
        return status == CLI_HELP ? 0 : status;
    }
    usage(stderr);
    return cli_fail(EXIT_USAGE, "unknown command '%s'", name);
}
