/* cmd_transcribe.c — `getmusic transcribe IN.wav -o OUT.mid`: beats, bars,
 * chords and melody of a recording as a MIDI file (src/audio/transcribe.c). */
#include "cli.h"
#include "getmusic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void usage_transcribe(FILE *f) {
    fprintf(f,
            "usage: getmusic transcribe IN.wav -o OUT.mid [options]\n"
            "  A recording (WAV, FLAC, OGG%s; any rate, mono or stereo) to a MIDI file: a\n"
            "  tempo map following the beats, bars from the downbeats, a 'melody' track\n"
            "  (the lead; monophonic pitch tracking) and a 'chords' track (block chords,\n"
            "  one per half bar). Then: getmusic generate OUT.mid -o ARR.mid --targets piano,drums\n"
            "options:\n"
            "  -o, --output FILE    MIDI file to write (required; '-' = standard output)\n"
            "  --melody             write the melody track only\n"
            "  --chords             write the chord track only (both: the default)\n"
            "  --bpm X              hold this tempo (20..400) instead of tracking the beats\n"
            "  --metre N/D          bar metre: 4/4 (default), 3/4, 6/8, 2/2 ...\n"
            "  --no-quantize        melody notes where they sound, not snapped to 16ths\n"
            "  --json               the report as JSON on stdout (beats, chords, notes)\n"
            "  --quiet              no progress bar, no summary\n",
            gm_audio_backend() ? ", MP3 where libsndfile has it" : "; audio support NOT built");
}

/* "3/4" → 3, 4; -1 when malformed. */
static int parse_metre(const char *s, int *num, int *den) {
    char tail;
    if (!s || sscanf(s, "%d/%d%c", num, den, &tail) != 2) return -1;
    return 0;
}

static void print_json(const char *in, const char *out, const gm_transcription *t, const gm_transcribe_params *p) {
    char buf[16];
    printf("{\"file\": ");
    cli_json_str(in);
    printf(", \"output\": ");
    cli_json_str(out);
    printf(", \"seconds\": %.3f, \"sample_rate\": %d, \"channels\": %d, \"bpm\": %.2f, \"tuning_cents\": %.1f, "
           "\"metre\": \"%d/%d\", \"beats_per_bar\": %d, \"beats\": [",
           t->seconds, t->sample_rate, t->channels, t->bpm, t->tuning_cents, p->metre_num, p->metre_den, t->beats_per_bar);
    for (int i = 0; i < t->n_beats; i++) printf("%s%.3f", i ? ", " : "", t->beats[i]);
    printf("], \"downbeats\": [");
    for (int i = 0, k = 0; i < t->n_beats; i++)
        if (t->downbeat[i]) printf("%s%.3f", k++ ? ", " : "", t->beats[i]);
    printf("], \"chords\": [");
    for (int i = 0; i < t->n_chords; i++) {
        printf("%s{\"start\": %.3f, \"end\": %.3f, \"name\": ", i ? ", " : "", t->chord_start[i], t->chord_start[i + 1]);
        cli_json_str(gm_chord_name(t->chords[i], buf, sizeof buf));
        printf("}");
    }
    printf("], \"notes\": [");
    for (int i = 0; i < t->n_notes; i++)
        printf("%s{\"start\": %.3f, \"end\": %.3f, \"pitch\": %d}", i ? ", " : "", t->notes[i].start, t->notes[i].end,
               t->notes[i].pitch);
    printf("]}\n");
}

/* One line: length, tempo, bars, the first chords, the notes. */
static void print_summary(const char *in, const char *out, const gm_transcription *t, const gm_score *s) {
    char buf[16];
    fprintf(stderr, "%s: %.1f s, %d Hz, %d channel%s; %.1f bpm, %d beats; tuning %+.0f cents; chords", in, t->seconds,
            t->sample_rate, t->channels, t->channels == 1 ? "" : "s", t->bpm, t->n_beats, t->tuning_cents);
    int shown = 0;
    for (int i = 0; i < t->n_chords && shown < 8; i++)
        if (i == 0 || t->chords[i].root != t->chords[i - 1].root || t->chords[i].quality != t->chords[i - 1].quality)
            fprintf(stderr, " %s", gm_chord_name(t->chords[i], buf, sizeof buf)), shown++;
    fprintf(stderr, "%s; %d melody notes -> %s (%zu notes written)\n", shown >= 8 ? " ..." : "", t->n_notes,
            cli_shown(out), gm_score_n_notes(s));
}

/* The command line's words: the recording, and where --metre goes. */
typedef struct {
    cli_one_input one; /* first: cli_word_one_input reads it */
    gm_transcribe_params *p;
} transcribe_args;

static int metre_option(void *user, const char *opt, const char *val) {
    gm_transcribe_params *p = ((transcribe_args *)user)->p;
    (void)opt;
    if (parse_metre(val, &p->metre_num, &p->metre_den) || p->metre_num < 1 || p->metre_num > 32 ||
        (p->metre_den != 2 && p->metre_den != 4 && p->metre_den != 8))
        return cli_fail(EXIT_USAGE, "--metre needs N/D with N in 1..32 and D 2, 4 or 8 (got '%s')", val);
    return 0;
}

int cmd_transcribe(int argc, char **argv) {
    gm_transcribe_params p = gm_transcribe_default_params();
    const char *in = NULL, *out = NULL;
    int quiet = 0, json = 0, only_melody = 0, only_chords = 0;
    const cli_opt opts[] = {
        CLI_STR("--output", "-o", &out),
        CLI_DOUBLE("--bpm", NULL, &p.bpm, 20, 400),
        CLI_CALL("--metre", "--meter", metre_option),
        CLI_FLAG("--melody", NULL, &only_melody),
        CLI_FLAG("--chords", NULL, &only_chords),
        CLI_SET("--no-quantize", NULL, &p.quantize, 0),
        CLI_FLAG("--json", NULL, &json),
        CLI_FLAG("--quiet", NULL, &quiet),
        CLI_END,
    };
    transcribe_args args = {{"transcribe", NULL}, &p};
    int status = cli_parse_options("transcribe", argc, argv, opts, cli_word_one_input, &args);
    in = args.one.in;
    if (status) return status;
    if (!in) return cli_fail(EXIT_USAGE, "transcribe: give a recording (getmusic transcribe IN.wav -o OUT.mid)");
    if (!out) return cli_fail(EXIT_USAGE, "transcribe: give the MIDI file to write with -o OUT.mid");
    if (cli_is_std(in)) return cli_fail(EXIT_USAGE, "transcribe: read from a file, not standard input (the reader seeks)");
    if (json && cli_is_std(out)) return cli_fail(EXIT_USAGE, "transcribe: --json and -o - both want standard output");
    if (only_melody != only_chords) p.melody = only_melody, p.chords = only_chords;

    cli_progress pr = {.on = !quiet && !json && isatty(2), .label = "transcribe", .last_pct = -1};
    clock_gettime(CLOCK_MONOTONIC, &pr.t0);
    p.progress = cli_progress_cb;
    p.user_data = &pr;
    char err[GM_ERR_SIZE];
    gm_score s;
    gm_transcription t;
    if (gm_transcribe_file(in, &p, &s, &t, err)) return cli_fail(EXIT_USAGE, "transcribe: %s", err);
    int rc = cli_write_midi(out, &s, err);
    if (rc) status = cli_fail(EXIT_USAGE, "transcribe: %s: %s", cli_shown(out), err);
    else if (json) print_json(in, out, &t, &p);
    else if (!quiet) print_summary(in, out, &t, &s);
    gm_transcription_free(&t);
    gm_score_free(&s);
    return status;
}
