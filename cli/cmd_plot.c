/* cmd_plot.c — `getmusic plot`: a multi-track piano roll of a MIDI file as a
 * PNG (src/draw/plot_roll.c draws it). With --given ORIG.mid, the notes that ORIG does
 * not have are drawn as generated, so `getmusic generate`'s additions stand
 * out. A POP909 beat_midi.txt beside the file gives the bar lines, as in
 * `getmusic info`. */
#include "cli.h"
#include "getmusic.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void usage_plot(FILE *f) {
    fprintf(f,
            "usage: getmusic plot IN.mid -o OUT.png [options]\n"
            "  A piano roll: time across (bars of the piece's metre, numbered, with chord\n"
            "  names), pitch up, drums in lanes below, one colour per track. IN.mid '-'\n"
            "  reads standard input.\n"
            "  --given ORIG.mid      draw the notes of IN that ORIG lacks as generated (light\n"
            "                        fill, magenta outline): what 'generate' added\n"
            "  --bars A-B            only bars A..B (1-based, inclusive; 'A' = one bar)\n"
            "  --width N             image width in pixels, %d..%d (default: automatic,\n"
            "                        up to %d; long pieces wrap into rows of bars)\n"
            "  --height N            image height in pixels, %d..%d (default: automatic)\n"
            "  --bars-per-row N      bars per row (default: as many as fit the width)\n"
            "  --layout L            track classes for the legend and --given: default|original\n"
            "  --title TEXT          title (default: the file name, none for -); --no-title for none\n"
            "  --no-chords           no chord names over the bars\n"
            "  A beat_midi.txt (POP909 beat annotation) beside IN.mid gives the bar lines;\n"
            "  without one, a file whose metre is absent or 1/4 all through gets the\n"
            "  bars inferred from the music (as generate and info).\n",
            GM_ROLL_MIN_W, GM_ROLL_MAX_SIDE, GM_ROLL_AUTO_MAX_W, GM_ROLL_MIN_H, GM_ROLL_MAX_SIDE);
}


/* --given ORIG.mid: marks the notes of s that ORIG lacks as generated.
 * 0, or the exit status after a message. */
static int plot_mark_given(gm_score *s, const char *in, const char *given_path, const gm_layout *layout) {
    char err[GM_ERR_SIZE];
    gm_score given;
    if (cli_is_std(in) && cli_is_std(given_path))
        return cli_fail(EXIT_USAGE, "plot: standard input ('-') can be read once: give IN or --given as a file");
    if (cli_read_midi(given_path, &given, err)) return cli_fail(EXIT_USAGE, "%s: %s", cli_shown(given_path), err);
    long n = gm_roll_mark_generated(s, &given, layout, err);
    gm_score_free(&given);
    if (n < 0) return cli_fail(EXIT_INTERNAL, "plot: %s", err);
    return 0;
}

/* --bars A-B (1-based) against the piece's bars, checked on the same bar
 * map the roll uses (over every note end), into p's 0-based range. */
static int plot_bar_range(const gm_score *s, const char *in, long bar_a, long bar_b, gm_roll_params *p) {
    char err[GM_ERR_SIZE];
    gm_barmap bm;
    gm_score tmp = *s; /* shallow, read only */
    for (int i = 0; i < s->n_tracks; i++)
        for (size_t k = 0; k < s->tracks[i].n_notes; k++)
            if (s->tracks[i].notes[k].tick + s->tracks[i].notes[k].duration > tmp.end_tick)
                tmp.end_tick = s->tracks[i].notes[k].tick + s->tracks[i].notes[k].duration;
    if (gm_barmap_build(&bm, &tmp, GM_STEPS_PER_QUARTER, err)) return cli_fail(EXIT_USAGE, "%s: %s", in, err);
    int n_bars = bm.n_bars;
    gm_barmap_free(&bm);
    if (bar_a > n_bars) return cli_fail(EXIT_USAGE, "plot: --bars: the piece has %d bar%s", n_bars, n_bars == 1 ? "" : "s");
    p->first_bar = (int)bar_a - 1;
    p->last_bar = (int)(bar_b > n_bars ? n_bars : bar_b) - 1;
    return 0;
}

int cmd_plot(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *given_path = NULL, *layout_name = "default", *title = NULL;
    long bar_a = 0, bar_b = 0, width = 0, height = 0, per_row = 0;
    int no_title = 0, no_chords = 0;
    cli_song_bars args = {{"plot", NULL}, 0, 0};
    const cli_opt opts[] = {
        CLI_STR("-o", "--output", &out),
        CLI_STR("--given", NULL, &given_path),
        CLI_CALL("--bars", NULL, cli_bars_option),
        CLI_LONG("--width", NULL, &width, GM_ROLL_MIN_W, GM_ROLL_MAX_SIDE),
        CLI_LONG("--height", NULL, &height, GM_ROLL_MIN_H, GM_ROLL_MAX_SIDE),
        CLI_LONG("--bars-per-row", NULL, &per_row, 1, 100000),
        CLI_STR("--layout", NULL, &layout_name),
        CLI_STR("--title", NULL, &title),
        CLI_FLAG("--no-title", NULL, &no_title),
        CLI_FLAG("--no-chords", NULL, &no_chords),
        CLI_END,
    };
    int parsed = cli_parse_options("plot", argc, argv, opts, cli_word_one_input, &args);
    if (parsed) return parsed;
    in = args.one.in, bar_a = args.bar_a, bar_b = args.bar_b;
    if (!in || !out) return cli_fail(EXIT_USAGE, "usage: getmusic plot IN.mid -o OUT.png [--given ORIG.mid] [--bars A-B] [--width N]");

    char err[GM_ERR_SIZE];
    gm_layout layout;
    if (gm_layout_preset(&layout, layout_name, err)) return cli_fail(EXIT_USAGE, "plot: %s", err);
    gm_score s;
    gm_metre metre;
    if (cli_read_song(in, &s, NULL, &metre, err)) return cli_fail(EXIT_USAGE, "%s: %s", cli_shown(in), err);
    gm_metre_free(&metre);
    int status = given_path ? plot_mark_given(&s, in, given_path, &layout) : 0;
    if (status) goto out;

    gm_roll_params p = gm_roll_default_params();
    p.width = (int)width;
    p.height = (int)height;
    p.bars_per_row = (int)per_row;
    static const gm_chord none[1];
    if (no_chords) p.chords = none, p.n_chords = 0;
    const char *base = strrchr(in, '/');
    /* A song from standard input has no name to show. */
    p.title = no_title || (!title && cli_is_std(in)) ? NULL : title ? title : base ? base + 1 : in;
    if (bar_a && (status = plot_bar_range(&s, in, bar_a, bar_b, &p))) goto out;
    if (gm_plot_pianoroll(&s, &layout, &p, out, err)) status = cli_fail(EXIT_USAGE, "plot: %s", err);
out:
    gm_score_free(&s);
    return status;
}
