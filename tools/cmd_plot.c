/* cmd_plot.c — `getmusic plot` (placeholder until its issue lands). */
#include "cli.h"

void usage_plot(FILE *f) { fprintf(f, "getmusic plot: not in this build yet\n"); }

int cmd_plot(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return die(EXIT_USAGE, "'plot' is not in this build yet");
}
