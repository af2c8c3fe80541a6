/* fuzz_musicxml.c — libFuzzer target for the MusicXML reader and writer.
 *
 * Any input (XML text, or a zip for .mxl): gm_musicxml_read_mem must return
 * (bounded, no crash, no leak) with a one-line reason when it refuses. When
 * it reads a score, writing that as MusicXML and reading it back must
 * succeed with no more notes (the writer's grid may merge or cut notes);
 * otherwise __builtin_trap() reports it.
 *
 *   make fuzz-musicxml FUZZ_SECONDS=600   (corpus: build/fuzz-musicxml-corpus + tests/fuzz-seeds-musicxml)
 */
#include "getmusic.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gm_score s, back;
    char err[GM_ERR_SIZE];
    if (gm_musicxml_read_mem(data, size, &s, err)) {
        if (!err[0] || strchr(err, '\n')) __builtin_trap();
        return 0;
    }
    uint8_t *out = NULL;
    size_t n = 0;
    if (gm_musicxml_write_mem(&s, &out, &n, err)) __builtin_trap();
    if (gm_musicxml_read_mem(out, n, &back, err)) __builtin_trap();
    if (gm_score_n_notes(&back) > gm_score_n_notes(&s)) __builtin_trap();
    gm_score_free(&back);
    gm_score_free(&s);
    free(out);
    return 0;
}
