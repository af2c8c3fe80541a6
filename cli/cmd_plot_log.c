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
    int w = 900, h = 500;
    const cli_opt opts[] = {
        CLI_STR("--output", "-o", &out),
        CLI_INT("--width", NULL, &w, GM_PLOT_MIN_W, GM_PLOT_MAX_SIDE),
        CLI_INT("--height", NULL, &h, GM_PLOT_MIN_H, GM_PLOT_MAX_SIDE),
        CLI_END,
    };
    cli_one_input one = {"plot-log", NULL};
    int status = cli_parse_options("plot-log", argc, argv, opts, cli_word_one_input, &one);
    if (status) return status;
    in = one.in;
    if (!in || !out) return cli_fail(EXIT_USAGE, "usage: getmusic plot-log MODEL.gguf.log.jsonl -o LOSS.png [--width W --height H]");
    char err[GM_ERR_SIZE];
    if (gm_plot_losses(in, out, w, h, err)) return cli_fail(EXIT_USAGE, "plot-log: %s", err);
    return 0;
}
