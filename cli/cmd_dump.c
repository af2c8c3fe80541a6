/* cmd_dump.c — `getmusic dump`: a song's GETScore token grid as text. */
#include "cli.h"

#include "getmusic.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A vocabulary of the song's own tokens (every compound it plays), so that
 * a dump without --vocab loses nothing. NULL after a message. */
static gm_vocab *song_vocab(const gm_score *s, const gm_layout *layout) {
    char err[GM_ERR_SIZE];
    gm_vocab_builder *b = gm_vocab_builder_new(layout);
    if (!b) { cli_fail(EXIT_INTERNAL, "out of memory"); return NULL; }
    for (int i = 0; i < s->n_tracks; i++) {
        const gm_track *t = &s->tracks[i];
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
    gm_vocab *v = gm_vocab_builder_finish(b, 1.0, 0, err);
    gm_vocab_builder_free(b);
    if (!v) cli_fail(EXIT_INTERNAL, "%s", err);
    return v;
}

/* The dump has one block per bar starting with "bar N": prints the lines
 * before the first block and the blocks of bars a..b. */
static void print_bars(const char *text, long a, long b) {
    int bar = 0;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
        int n;
        if (sscanf(line, "bar %d", &n) == 1) bar = n;
        if (bar == 0 || (bar >= a && bar <= b)) fwrite(line, 1, len, stdout);
        line += len;
    }
}

void usage_dump(FILE *f) {
    fprintf(f, "usage: getmusic dump SONG.mid [--vocab VOCAB] [--layout L] [--bars A-B]\n"
               "  Prints the song's GETScore token grid as text, one block per bar.\n"
               "  --vocab VOCAB   a dict.txt-format vocabulary (default: one built from the\n"
               "                  song's own notes, so nothing is lost)\n"
               "  --layout L      track layout: default or original (default: default)\n"
               "  --bars A-B      only these bars (1-based)\n"
               "SONG.mid '-' reads standard input.\n");
}

int cmd_dump(int argc, char **argv) {
    const char *in = NULL, *vocab_path = NULL, *layout_name = "default";
    cli_song_bars args = {{"dump", NULL}, 1, LONG_MAX};
    const cli_opt opts[] = {
        CLI_STR("--vocab", NULL, &vocab_path),
        CLI_STR("--layout", NULL, &layout_name),
        CLI_CALL("--bars", NULL, cli_bars_option),
        CLI_END,
    };
    int parsed = cli_parse_options("dump", argc, argv, opts, cli_word_one_input, &args);
    if (parsed) return parsed;
    in = args.one.in;
    long bar_a = args.bar_a, bar_b = args.bar_b;
    if (!in) return cli_fail(EXIT_USAGE, "usage: getmusic dump SONG.mid [--vocab VOCAB] [--layout L] [--bars A-B]");
    char err[GM_ERR_SIZE];
    gm_layout layout;
    if (gm_layout_preset(&layout, layout_name, err)) return cli_fail(EXIT_USAGE, "%s", err);
    gm_score s;
    if (cli_read_midi(in, &s, err)) return cli_fail(EXIT_USAGE, "%s: %s", cli_shown(in), err);
    int status = 0;
    gm_vocab *v = NULL;
    gm_barmap bm = {0};
    gm_chord *chords = NULL;
    gm_grid g = {0};
    char *text = NULL;
    if (gm_score_quantize(&s, GM_STEPS_PER_QUARTER, err) || gm_barmap_build(&bm, &s, GM_STEPS_PER_QUARTER, err)) { status = cli_fail(EXIT_USAGE, "%s: %s", in, err); goto out; }
    for (int i = 0; i < s.n_tracks; i++) s.tracks[i].cls = gm_layout_classify(&layout, &s.tracks[i]);
    if (vocab_path) {
        if (!(v = gm_vocab_load(vocab_path, &layout, err))) { status = cli_fail(EXIT_USAGE, "%s", err); goto out; }
    } else if (!(v = song_vocab(&s, &layout))) {
        status = EXIT_INTERNAL;
        goto out;
    }
    if (!(chords = malloc((size_t)bm.n_bars * sizeof *chords)) || gm_chords_recognize(&s, &bm, chords, err)) {
        status = cli_fail(EXIT_INTERNAL, "chord recognition failed");
        goto out;
    }
    if (gm_grid_encode(&g, &s, &layout, v, chords, NULL, err)) { status = cli_fail(EXIT_USAGE, "%s: %s", in, err); goto out; }
    if (bar_a > g.bm.n_bars) { status = cli_fail(EXIT_USAGE, "--bars: the piece has %d bars", g.bm.n_bars); goto out; }
    if (bar_b > g.bm.n_bars) bar_b = g.bm.n_bars;
    if (gm_grid_dump(&g, &layout, v, &text, err)) { status = cli_fail(EXIT_INTERNAL, "%s", err); goto out; }
    if (bar_a == 1 && bar_b == g.bm.n_bars) fputs(text, stdout);
    else print_bars(text, bar_a, bar_b);
out:
    free(text);
    gm_grid_free(&g);
    free(chords);
    gm_barmap_free(&bm);
    gm_vocab_free(v);
    gm_score_free(&s);
    return status;
}
