/* fuzz_gguf.c — libFuzzer target for the GGUF reader.
 *
 * Any input: gguf_open must return (no crash, no leak); a rejection must
 * leave a one-line reason; an accepted file must answer every getter for
 * every key and tensor it lists. gguf_open reads a path, so each input goes
 * to a per-process temporary file first. Under ASan gguf.c reads the file
 * into an exactly-sized heap block, so any read past the end is reported.
 *
 *   clang -std=c11 -O1 -g -D_GNU_SOURCE -Iinclude -Isrc -fsanitize=fuzzer,address,undefined \
 *       tests/fuzz_gguf.c src/model/gguf.c src/util.c -lm -o build/fuzz_gguf
 *   build/fuzz_gguf -max_total_time=600 CORPUS_DIR
 */
#include "getmusic.h"
#include "model/gguf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_file[64];
static void remove_tmp(void) { unlink(tmp_file); }

/* In /dev/shm when there is one: a disk-backed /tmp makes every run slow. */
static const char *tmp_path(void) {
    if (!tmp_file[0]) {
        snprintf(tmp_file, sizeof tmp_file, "%s/fuzz_gguf.%ld.gguf",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
        atexit(remove_tmp);
    }
    return tmp_file;
}

/* Reads every key and tensor; any failure of a getter that should succeed
 * traps. */
static void exercise(const gguf_ctx *g) {
    char err[GM_ERR_SIZE];
    for (int64_t i = 0; i < gguf_n_keys(g); i++) {
        const char *k = gguf_key_name(g, i);
        int type = gguf_key_type(g, k);
        uint64_t v;
        char *s = NULL;
        if (type < 0) __builtin_trap();
        if (type == GGUF_TYPE_UINT32 && gguf_get_u32(g, k, (uint32_t *)&v, err)) __builtin_trap();
        if (type == GGUF_TYPE_UINT64 && gguf_get_u64(g, k, &v, err)) __builtin_trap();
        if (type == GGUF_TYPE_STRING) {
            if (gguf_get_str(g, k, &s, err)) __builtin_trap();
            free(s);
        }
        if (type != GGUF_TYPE_ARRAY) continue;
        int found = 0;
        for (int et = 0; et <= GGUF_TYPE_FLOAT64; et++) {
            size_t n;
            if (et == GGUF_TYPE_ARRAY || gguf_get_arr_n(g, k, et, &n, err)) continue;
            found = 1;
            if (et == GGUF_TYPE_STRING) {
                for (size_t j = 0; j < n; j++) {
                    if (gguf_get_arr_str(g, k, j, &s, err)) __builtin_trap();
                    free(s);
                }
            } else {
                const uint8_t *d;
                if (gguf_get_arr_data(g, k, et, (const void **)&d, &n, err)) __builtin_trap();
                volatile uint8_t sink = n ? d[0] : 0;
                (void)sink;
            }
        }
        if (!found) __builtin_trap();
    }
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        if (gguf_find_tensor(g, t->name) != t) __builtin_trap();
        float *buf = malloc((size_t)t->n_elements * sizeof *buf);
        if (!buf || gguf_read_f32(g, t->name, t->n_dims, t->ne, buf, err)) __builtin_trap();
        free(buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(tmp_path(), "wb");
    if (!f) return 0;
    size_t w = fwrite(data, 1, size, f);
    if (fclose(f) != 0 || w != size) return 0;
    char err[GM_ERR_SIZE];
    gguf_ctx *g = gguf_open(tmp_path(), err);
    if (!g) {
        if (!err[0] || strchr(err, '\n')) __builtin_trap();
        return 0;
    }
    exercise(g);
    gguf_close(g);
    return 0;
}
