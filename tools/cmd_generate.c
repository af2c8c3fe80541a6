/* cmd_generate.c — `getmusic generate` (placeholder until its issue lands). */
#include "cli.h"

void usage_generate(FILE *f) { fprintf(f, "getmusic generate: not in this build yet\n"); }

int cmd_generate(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return die(EXIT_USAGE, "'generate' is not in this build yet");
}
