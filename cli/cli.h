/* cli.h — what the subcommand files of the command-line tool share. Each
 * subcommand is `int cmd_NAME(int argc, char **argv)` with argv after the
 * command name; it returns the process exit status (0 ok, 1 bad input or
 * usage, 2 internal failure) and prints its own one-line reasons via cli_fail(). */
#ifndef GM_CLI_H
#define GM_CLI_H
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "getmusic.h"

#define EXIT_USAGE 1
#define EXIT_INTERNAL 2

extern const char *cli_prog; /* "getmusic", the prefix of every message */

/* Prints "getmusic: <reason>" to stderr and returns status, so that a
 * command can `return cli_fail(EXIT_USAGE, ...)`; it does not exit. */
int cli_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whole-string number in [lo, hi] into *out, or -1 after a one-line message. */
int cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out);
int cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out);

/* ---- options: one table per command, one parser for all ----
 * A command lists its options once, each with where its value goes and the
 * range it takes; cli_parse_options walks argv against the table. Build
 * entries with the macros below: they check the destination's type. */
typedef enum { CLI_K_FLAG, CLI_K_SET, CLI_K_STR, CLI_K_INT, CLI_K_LONG, CLI_K_U32, CLI_K_U64, CLI_K_FLOAT,
               CLI_K_DOUBLE, CLI_K_CALL } cli_opt_kind;
/* An option's own handler: 0, or the exit status after a one-line message. */
typedef int (*cli_opt_fn)(void *user, const char *opt, const char *val);
typedef struct {
    const char *name, *alias; /* "--output", "-o" (alias may be NULL) */
    cli_opt_kind kind;
    void *dst;                /* where the value goes (the macro's pointer type) */
    long lo, hi;              /* whole numbers: the range; CLI_SET: the value stored */
    double dlo, dhi;          /* CLI_FLOAT, CLI_DOUBLE: the range */
    cli_opt_fn fn;            /* CLI_CALL */
} cli_opt;
#define CLI_TYPED(T, p) ((void *)(1 ? (p) : (T *)0)) /* a warning when p is not a T * */
#define CLI_FLAG(n, a, p) {n, a, CLI_K_FLAG, CLI_TYPED(int, p), 0, 0, 0, 0, NULL}          /* *p = 1 */
#define CLI_SET(n, a, p, v) {n, a, CLI_K_SET, CLI_TYPED(int, p), v, 0, 0, 0, NULL}         /* *p = v */
#define CLI_STR(n, a, p) {n, a, CLI_K_STR, CLI_TYPED(const char *, p), 0, 0, 0, 0, NULL}
#define CLI_INT(n, a, p, lo, hi) {n, a, CLI_K_INT, CLI_TYPED(int, p), lo, hi, 0, 0, NULL}
#define CLI_LONG(n, a, p, lo, hi) {n, a, CLI_K_LONG, CLI_TYPED(long, p), lo, hi, 0, 0, NULL}
#define CLI_U32(n, a, p, lo, hi) {n, a, CLI_K_U32, CLI_TYPED(uint32_t, p), lo, hi, 0, 0, NULL}
#define CLI_U64(n, a, p, lo, hi) {n, a, CLI_K_U64, CLI_TYPED(uint64_t, p), lo, hi, 0, 0, NULL}
#define CLI_FLOAT(n, a, p, lo, hi) {n, a, CLI_K_FLOAT, CLI_TYPED(float, p), 0, 0, lo, hi, NULL}
#define CLI_DOUBLE(n, a, p, lo, hi) {n, a, CLI_K_DOUBLE, CLI_TYPED(double, p), 0, 0, lo, hi, NULL}
#define CLI_CALL(n, a, f) {n, a, CLI_K_CALL, NULL, 0, 0, 0, 0, f} /* f(user, option, value) */
#define CLI_END {NULL, NULL, CLI_K_FLAG, NULL, 0, 0, 0, 0, NULL}
/* What a command does with a word that is not an option (an input file):
 * 0, or the exit status after a message. */
typedef int (*cli_word_fn)(void *user, const char *word);
/* -h or --help was given. Not an exit status (those are 0..255): a command
 * hands it back like any failed status (`if (status) return status;`, after
 * its cleanup), and main prints that command's usage and exits 0. */
#define CLI_HELP 256
/* Walks argv against opts (ended by CLI_END): stores each option's value,
 * hands each other word to word(user, ...) (NULL: words are refused).
 * 0; CLI_HELP for -h/--help; or the exit status after a one-line message
 * ("CMD: unknown option ...", "X needs a value", a value out of range). */
int cli_parse_options(const char *cmd, int argc, char **argv, const cli_opt *opts, cli_word_fn word, void *user);
/* A word handler for commands of one input: *(const char **)user takes it;
 * a second is "CMD: one input at a time ('B' is extra)" (cmd from user[1]). */
typedef struct { const char *cmd, *in; } cli_one_input;
int cli_word_one_input(void *user, const char *word);
/* The words of a command of one song with --bars (dump, plot): the song
 * (first, for cli_word_one_input) and the 1-based range. */
typedef struct {
    cli_one_input one;
    long bar_a, bar_b;
} cli_song_bars;
/* --bars "A-B" or "A" (A >= 1, B >= A) into the cli_song_bars at user. */
int cli_bars_option(void *user, const char *opt, const char *val);

/* Progress bar on stderr (only when on: a terminal and not --quiet/--json). */
typedef struct { int on; const char *label; struct timespec t0; int last_pct; } cli_progress;
double cli_since(const struct timespec *t0);        /* seconds since t0 (monotonic) */
void cli_progress_cb(void *user, size_t done, size_t total); /* user: cli_progress* */

void cli_json_str(const char *s); /* a JSON string literal on stdout (gm_json_fstr of util.h elsewhere) */
/* The song summary `info --json` prints (no newline), written to out:
 * cmd_info.c, shared with the studio's upload and version replies. */
void cli_song_info_json(FILE *out, const char *file, const gm_score *s, const gm_barmap *bm, const gm_layout *layout,
                        const gm_chord *chords, gm_key key);
/* The same with the metre and where it came from ("metre": {...}; NULL: none). */
void cli_song_info_json_metre(FILE *out, const char *file, const gm_score *s, const gm_barmap *bm, const gm_layout *layout,
                              const gm_chord *chords, gm_key key, const gm_metre *metre);
extern const char *cli_program_names[128];

/* generate's options, read the same by the CLI and the studio. */
/* The class of the model's layout named `name`, or -1 with err naming them all. */
int cli_find_class(const gm_layout *l, const char *name, char *err);
/* --chords: input, kept, none, or chord names ("C G | Am F", both halves of
 * every bar; *chords is then theirs, the caller frees it). 0, or -1 with err. */
int cli_chord_spec(const char *spec, gm_generate_params *p, gm_chord **chords, char *err);
/* "drums asked for, none written (try another seed or drum style)", or "" (w). */
void cli_target_warning(const gm_layout *l, const gm_score *out, const gm_generate_params *p,
                        const gm_generate_report *rep, char *w, size_t wn);

/* "-" stands for standard input or output wherever the CLI reads or writes
 * a MIDI file, as in other Unix tools. cli_shown names it in messages. */
int cli_is_std(const char *path);
const char *cli_shown(const char *path); /* "standard input" for "-" */
/* gm_score_read_file (MIDI or MusicXML, by content), or standard input for
 * "-" (refused when a terminal). */
int cli_read_midi(const char *path, gm_score *s, char *err);
/* gm_score_write_file (MusicXML for .musicxml/.xml/.mxl, else MIDI), or all
 * the MIDI bytes to standard output in one go for "-". */
int cli_write_midi(const char *path, const gm_score *s, char *err);
/* Takes the bar lines from a POP909-style beat_midi.txt beside the MIDI
 * file (POP909 declares 1/4 or 2/4); 1 when applied, 0 when there is none, it
 * is unusable (the file's own metre stays) or the song came from "-". */
int cli_metre_from_beats(gm_score *s, const char *midi_path);
/* --metre auto|file|N/D or --pickup BEATS (generate, info, plot) into req
 * (start it as {0, 0, -1, 0}); 0, or the exit status after a message. */
int cli_metre_option(const char *opt, const char *val, gm_metre_request *req);
#define CLI_METRE_HELP \
    "  --metre M               the bars: auto (default: the file's time signatures, a\n" \
    "                          beat_midi.txt beside it, or inferred from the music when\n" \
    "                          the file's are absent or 1/4 all through), file, or 3/4, 6/8 ...\n" \
    "  --pickup BEATS          beats before the first downbeat (default: from the music)\n"
/* The bar grid of a song read from path: a metre asked for wins, then a
 * beat_midi.txt beside the file, then gm_score_settle_metre. *out says which
 * (gm_metre_free it; req may be NULL). 0, or -1 with err. */
int cli_settle_metre(gm_score *s, const char *path, const gm_metre_request *req, gm_metre *out, char *err);
/* cli_read_midi, then cli_settle_metre with no request (*metre_from_beats:
 * the bars came from beat_midi.txt). 0, or -1 with err (nothing to free). */
int cli_read_score(const char *path, gm_score *s, int *metre_from_beats, char *err);
/* cli_read_midi, then cli_settle_metre(req) into *metre. 0, or -1 with err. */
int cli_read_song(const char *path, gm_score *s, const gm_metre_request *req, gm_metre *metre, char *err);
/* Path of the shipped model (see cli.c for the search order) or NULL. */
const char *cli_default_model(void);

/* The commands. Each is cli/cmd_NAME.c with two entry points:
 * `int cmd_NAME(int argc, char **argv)` gets the arguments after the
 * command name and returns the exit status; `void usage_NAME(FILE *f)`
 * prints its --help. main.c dispatches them from one table (cli_commands);
 * to add a command, declare its pair here and give it one line there. */
int cmd_info(int argc, char **argv);
int cmd_prepare(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_render(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_plot_log(int argc, char **argv);
int cmd_transcribe(int argc, char **argv); /* a recording to MIDI: cmd_transcribe.c */
int cmd_convert(int argc, char **argv);    /* MIDI <-> MusicXML, lead sheets: cmd_convert.c */
int cmd_studio(int argc, char **argv); /* the browser studio: cmd_studio.c + studio_*.c */
void usage_info(FILE *f);
void usage_prepare(FILE *f);
void usage_dump(FILE *f);
void usage_train(FILE *f);
void usage_generate(FILE *f);
void usage_eval(FILE *f);
void usage_render(FILE *f);
void usage_plot(FILE *f);
void usage_plot_log(FILE *f);
void usage_transcribe(FILE *f);
void usage_convert(FILE *f);
void usage_studio(FILE *f);
#endif
