/* cmd_convert.c — `getmusic convert IN -o OUT`: a score from one format to
 * the other (MIDI, MusicXML, compressed MusicXML), optionally only some of
 * its tracks and with chord labels as chord symbols: a POP909 song becomes a
 * lead sheet with `--tracks MELODY --chord-labels chord_midi.txt`. */
#include "cli.h"
#include "getmusic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void usage_convert(FILE *f) {
    fprintf(f,
            "usage: getmusic convert IN -o OUT [options]\n"
            "  Reads a MIDI or MusicXML file (.musicxml, .xml, compressed .mxl; told apart by\n"
            "  content; '-' is standard input) and writes OUT as MusicXML when its name ends\n"
            "  in .musicxml, .xml or .mxl, else as MIDI ('-': MIDI on standard output). Bar\n"
            "  lines come from a POP909 beat_midi.txt beside IN, as for every command.\n"
            "options:\n"
            "  -o, --output OUT        the file to write (atomically)\n"
            "  --tracks A,B            keep only these tracks: a track's name or its class\n"
            "                          (lead, counter, piano, guitar, bass, strings, drums, other)\n"
            "  --chord-labels FILE     chord labels as chord symbols, in place of IN's own: lines\n"
            "                          'start_s end_s label' as POP909's chord_midi.txt\n"
            "  --no-chords             leave IN's chord symbols out\n"
            "  --quiet                 no summary\n");
}

/* 1 when track t is named in the comma-separated list (by name or class). */
static int track_wanted(const gm_track *t, const char *list) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (!strcasecmp(tok, t->name) || !strcasecmp(tok, gm_role_name(gm_track_role(t)))) return 1;
    return 0;
}

static void keep_tracks(gm_score *s, const char *list) {
    int k = 0;
    for (int i = 0; i < s->n_tracks; i++) {
        if (!track_wanted(&s->tracks[i], list)) { free(s->tracks[i].notes); continue; }
        s->tracks[k++] = s->tracks[i];
    }
    s->n_tracks = k;
}

/* Labels (seconds) → the score's chord symbols; a gap between two labels
 * is "no chord". */
static int labels_to_symbols(gm_score *s, const char *path, char *err) {
    gm_timed_chord *tc = NULL;
    int n = 0;
    if (gm_timed_chords_load(path, &tc, &n, err)) return -1;
    free(s->symbols);
    s->symbols = NULL;
    s->n_symbols = 0;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        gm_chord_symbol c = {gm_score_seconds_to_tick(s, tc[i].start), tc[i].chord.root, tc[i].chord.quality, -1,
                             GM_SYMBOL_MUSICXML, ""};
        gm_chord_name(tc[i].chord, c.text, sizeof c.text);
        if (c.root < 0) strcpy(c.text, "N.C.");
        rc = gm_score_add_symbol(s, &c);
        if (!rc && (i + 1 == n || tc[i + 1].start > tc[i].end + 0.05)) {
            gm_chord_symbol nc = {gm_score_seconds_to_tick(s, tc[i].end), -1, -1, -1, GM_SYMBOL_MUSICXML, "N.C."};
            if (i + 1 < n) rc = gm_score_add_symbol(s, &nc);
        }
    }
    free(tc);
    if (rc) return snprintf(err, GM_ERR_SIZE, "out of memory"), -1;
    gm_score_sort(s);
    return 0;
}

int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *tracks = NULL, *labels = NULL;
    int quiet = 0, no_chords = 0;
    const cli_opt opts[] = {
        CLI_STR("--output", "-o", &out),
        CLI_STR("--tracks", NULL, &tracks),
        CLI_STR("--chord-labels", NULL, &labels),
        CLI_FLAG("--quiet", "-q", &quiet),
        CLI_FLAG("--no-chords", NULL, &no_chords),
        CLI_END,
    };
    cli_one_input one = {"convert", NULL};
    int status = cli_parse_options("convert", argc, argv, opts, cli_word_one_input, &one);
    if (status) return status;
    in = one.in;
    if (!in || !out) return cli_fail(EXIT_USAGE, "usage: getmusic convert IN -o OUT [--tracks A,B] [--chord-labels FILE]");
    char err[GM_ERR_SIZE];
    gm_score s;
    if (cli_read_score(in, &s, NULL, err)) return cli_fail(EXIT_USAGE, "%s: %s", cli_shown(in), err);
    if (tracks) keep_tracks(&s, tracks);
    if (no_chords) s.n_symbols = 0;
    if (labels && labels_to_symbols(&s, labels, err)) {
        gm_score_free(&s);
        return cli_fail(EXIT_USAGE, "--chord-labels: %s", err);
    }
    int rc = cli_write_midi(out, &s, err);
    if (rc) {
        gm_score_free(&s);
        return cli_fail(EXIT_USAGE, "%s", err);
    }
    if (!quiet)
        fprintf(stderr, "%s: wrote %s: %d track%s, %zu notes, %d chord symbol%s\n", cli_prog,
                cli_is_std(out) ? "standard output" : out, s.n_tracks, s.n_tracks == 1 ? "" : "s",
                gm_score_n_notes(&s), s.n_symbols, s.n_symbols == 1 ? "" : "s");
    gm_score_free(&s);
    return 0;
}
