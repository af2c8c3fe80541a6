/* cmd_render.c — `getmusic render IN.mid -o OUT.wav`: a MIDI file to a WAV
 * file through FluidSynth (src/audio/render.c). */
#include "cli.h"
#include "getmusic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void usage_render(FILE *f) {
    gm_render_params d = gm_render_default_params();
    const char *sf = gm_render_find_soundfont();
    fprintf(f,
            "usage: getmusic render IN.mid -o OUT.wav [options]\n"
            "  Plays a MIDI file through FluidSynth into a 16-bit stereo WAV file (offline,\n"
            "  no sound card). The file appears complete or not at all.\n"
            "options:\n"
            "  -o, --output FILE    WAV file to write (required)\n"
            "  --soundfont SF2      General MIDI SoundFont (default: $GETMUSIC_SOUNDFONT, else FluidR3_GM,\n"
            "                       else TimGM6mb; found now: %s)\n"
            "  --sample-rate N      Hz, 8000..96000 (%d)\n"
            "  --gain X             FluidSynth master gain, 0..10 (%.2g)\n"
            "  --tail S             seconds after the last note ends, 0..60 (%.2g)\n"
            "  --no-effects         no reverb and chorus\n"
            "  --quiet              no progress bar, no summary\n",
            sf ? sf : "none", d.sample_rate, d.gain, d.tail_s);
}

int cmd_render(int argc, char **argv) {
    gm_render_params p = gm_render_default_params();
    const char *in = NULL, *out = NULL;
    int quiet = 0;
    const cli_opt opts[] = {
        CLI_STR("--output", "-o", &out),
        CLI_STR("--soundfont", NULL, &p.soundfont),
        CLI_INT("--sample-rate", NULL, &p.sample_rate, 8000, 96000),
        CLI_DOUBLE("--gain", NULL, &p.gain, 0, 10),
        CLI_DOUBLE("--tail", NULL, &p.tail_s, 0, 60),
        CLI_SET("--no-effects", NULL, &p.effects, 0),
        CLI_FLAG("--quiet", NULL, &quiet),
        CLI_END,
    };
    cli_one_input one = {"render", NULL};
    int status = cli_parse_options("render", argc, argv, opts, cli_word_one_input, &one);
    in = one.in;
    if (status) return status;
    if (!in) return cli_fail(EXIT_USAGE, "render: give a MIDI file (getmusic render IN.mid -o OUT.wav)");
    if (!out) return cli_fail(EXIT_USAGE, "render: give the WAV file to write with -o OUT.wav");

    char err[GM_ERR_SIZE];
    gm_score s;
    if (cli_read_midi(in, &s, err)) return cli_fail(EXIT_USAGE, "render: %s: %s", cli_shown(in), err);

    cli_progress pr = {.on = !quiet && isatty(2), .label = "render", .last_pct = -1};
    clock_gettime(CLOCK_MONOTONIC, &pr.t0);
    p.progress = cli_progress_cb;
    p.user_data = &pr;
    gm_render_stats st;
    int rc = gm_render_wav(&s, out, &p, &st, err);
    gm_score_free(&s);
    if (rc) {
        if (pr.on && pr.last_pct >= 0) fputc('\n', stderr); /* end the bar's line */
        return cli_fail(EXIT_USAGE, "render: %s", err);
    }
    if (!quiet) {
        printf("%s: %.1f s of %d Hz stereo audio, %zu notes on %d channel%s, SoundFont %s\n", out, st.seconds,
               p.sample_rate, st.notes, st.channels, st.channels == 1 ? "" : "s", st.soundfont);
        if (st.clipped)
            fprintf(stderr, "%s: render: warning: %zu samples clipped; try a lower --gain (now %.2g)\n", cli_prog,
                    st.clipped, p.gain);
    }
    return 0;
}
