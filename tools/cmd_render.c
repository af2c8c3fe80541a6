/* cmd_render.c — `getmusic render` (placeholder until its issue lands). */
#include "cli.h"

void usage_render(FILE *f) { fprintf(f, "getmusic render: not in this build yet\n"); }

int cmd_render(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return die(EXIT_USAGE, "'render' is not in this build yet");
}
