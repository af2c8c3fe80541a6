/* fuzz_midi.c — libFuzzer target for the MIDI reader and writer.
 *
 * Any input: gm_midi_read_mem must return (bounded, no crash, no leak). When
 * it reads a score, writing it and reading that back must succeed with the
 * same number of notes; otherwise __builtin_trap() reports it.
 *
 *   make fuzz FUZZ_SECONDS=600     (corpus: build/fuzz-corpus + tests/fuzz-seeds)
 */
#include "getmusic.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gm_score s, back;
    char err[GM_ERR_SIZE];
    if (gm_midi_read_mem(data, size, &s, err)) {
        /* a rejection must leave a one-line reason */
        if (!err[0] || strchr(err, '\n')) __builtin_trap();
        return 0;
    }
    uint8_t *out = NULL;
    size_t n = 0;
    if (gm_midi_write_mem(&s, &out, &n, err)) __builtin_trap();
    if (gm_midi_read_mem(out, n, &back, err)) __builtin_trap();
    if (gm_score_n_notes(&back) != gm_score_n_notes(&s)) __builtin_trap();
    if (back.n_tempos != s.n_tempos || back.n_timesigs != s.n_timesigs || back.end_tick != s.end_tick) __builtin_trap();
    gm_score_free(&back);
    gm_score_free(&s);
    free(out);
    return 0;
}
