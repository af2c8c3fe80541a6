/* cmd_plot_log.c — `getmusic plot-log`: a training log's loss curves as PNG. */
#include "cli.h"

#include "getmusic.h"

#include <stdio.h>
#include <string.h>

void usage_plot_log(FILE *f) {
    fprintf(f, "usage: getmusic plot-log MODEL.gguf.log.jsonl -o LOSS.png [--width W --height H]\n"
               "  Draws the loss curves of a training log (train writes MODEL.gguf.log.jsonl):\n"
               "  the raw training loss, its moving average and the validation loss.\n"
               "  -o, --output FILE   the PNG to write (required)\n"
               "  --width W           pixels, %d..%d (default 900)\n"
               "  --height H          pixels, %d..%d (default 500)\n",
            GM_PLOT_MIN_W, GM_PLOT_MAX_SIDE, GM_PLOT_MIN_H, GM_PLOT_MAX_SIDE);
}

int cmd_plot_log(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    long w = 900, h = 500;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) { if (!val) return cli_fail(EXIT_USAGE, "%s needs a file", a); out = val; i++; }
        else if (!strcmp(a, "--width")) { if (cli_parse_int(a, val, GM_PLOT_MIN_W, GM_PLOT_MAX_SIDE, &w)) return EXIT_USAGE; i++; }
        else if (!strcmp(a, "--height")) { if (cli_parse_int(a, val, GM_PLOT_MIN_H, GM_PLOT_MAX_SIDE, &h)) return EXIT_USAGE; i++; }
        else if (a[0] == '-' && a[1]) return cli_fail(EXIT_USAGE, "plot-log: unknown option '%s'", a);
        else if (!in) in = a;
        else return cli_fail(EXIT_USAGE, "plot-log: one log at a time");
    }
    if (!in || !out) return cli_fail(EXIT_USAGE, "usage: getmusic plot-log MODEL.gguf.log.jsonl -o LOSS.png [--width W --height H]");
    char err[GM_ERR_SIZE];
    if (gm_plot_losses(in, out, (int)w, (int)h, err)) return cli_fail(EXIT_USAGE, "plot-log: %s", err);
    return 0;
}
