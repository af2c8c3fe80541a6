/* cmd_eval.c — `getmusic eval` (placeholder until its issue lands). */
#include "cli.h"

void usage_eval(FILE *f) { fprintf(f, "getmusic eval: not in this build yet\n"); }

int cmd_eval(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return die(EXIT_USAGE, "'eval' is not in this build yet");
}
