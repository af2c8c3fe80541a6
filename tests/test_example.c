/*
 * test_example.c — the usage example at the top of include/getmusic.h,
 * cut out of the header by the Makefile ($(BUILD)/getmusic_example.c), built
 * and run on the bundled melody with the shipped model, so that the front
 * door's example cannot go stale.
 */
#include "test.h"

#define main example_main
#include "getmusic_example.c"
#undef main

#include <unistd.h>

int main(void) {
    const char *model = "models/default.gguf", *song = "examples/melody.mid";
    char out[] = "/tmp/gm_example_XXXXXX.mid";
    int fd = mkstemps(out, 4);
    CHECK(fd >= 0, "temporary file");
    if (fd >= 0) close(fd);
    char *argv[] = {"example", (char *)model, (char *)song, out, NULL};
    CHECK(example_main(4, argv) == 0, "the example failed");
    gm_score in, got;
    char err[GM_ERR_SIZE];
    CHECK(gm_midi_read_file(song, &in, err) == 0, "%s", err);
    CHECK(gm_midi_read_file(out, &got, err) == 0, "%s", err);
    CHECK(gm_score_n_notes(&got) > gm_score_n_notes(&in), "no note added");
    char *bad[] = {"example", "/nonexistent.gguf", (char *)song, out, NULL};
    CHECK(example_main(4, bad) != 0, "a missing model succeeded");
    gm_score_free(&in);
    gm_score_free(&got);
    unlink(out);
    printf("test_example: %d passed, %d failed\n", t_pass, t_fail);
    return t_fail != 0;
}
