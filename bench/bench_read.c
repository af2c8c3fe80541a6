/* bench_read.c — reads every MIDI file named on stdin (one path a line) with
 * gm_midi_read_file, on one thread, and prints files, notes and seconds as
 * one JSON line: the side of `make bench` that mido is compared against. */
#include "getmusic.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int main(void) {
    char path[4096], err[GM_ERR_SIZE];
    size_t files = 0, bad = 0, notes = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (fgets(path, sizeof path, stdin)) {
        path[strcspn(path, "\n")] = 0;
        gm_score s;
        if (gm_midi_read_file(path, &s, err)) { bad++; continue; }
        files++;
        notes += gm_score_n_notes(&s);
        gm_score_free(&s);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("{\"files\": %zu, \"rejected\": %zu, \"notes\": %zu, \"seconds\": %.4f}\n", files, bad, notes,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}
