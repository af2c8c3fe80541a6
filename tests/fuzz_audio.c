/* fuzz_audio.c — libFuzzer target for the audio reader (src/audio/audio.c).
 *
 * Any input: gm_audio_open_mem must return (no crash, no leak); a rejection
 * leaves a one-line reason. When it opens, reading to the end must stop
 * (bounded by a frame budget), and every sample read must be finite.
 *
 *   make fuzz-audio FUZZ_SECONDS=600     (corpus: build/fuzz-audio-corpus + tests/fuzz-seeds-audio)
 */
#include "getmusic.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[GM_ERR_SIZE];
    gm_audio *a = gm_audio_open_mem(data, size, err);
    if (!a) {
        if (!err[0] || strchr(err, '\n')) __builtin_trap();
        return 0;
    }
    gm_audio_info info = gm_audio_get_info(a);
    if (info.sample_rate < 1000 || info.channels < 1 || info.channels > 64) __builtin_trap();
    float buf[4096];
    long total = 0;
    for (int reads = 0; reads < 4096; reads++) { /* a header may claim any length: cap the work */
        long got = gm_audio_read(a, buf, 4096, err);
        if (got < 0) {
            if (!err[0] || strchr(err, '\n')) __builtin_trap();
            break;
        }
        if (got == 0) break;
        for (long i = 0; i < got; i++)
            if (!isfinite(buf[i]) || fabsf(buf[i]) > 8) __builtin_trap();
        total += got;
    }
    (void)total;
    gm_audio_close(a);
    return 0;
}
