/*
 * test.h — a tiny test harness. Each test binary counts checks and ends with
 * the plain line "NAME: N passed, N failed[, N skipped]" and exits non-zero
 * on any failure. tests/run.sh adds the binaries up.
 */
#ifndef GM_TEST_H
#define GM_TEST_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int t_pass, t_fail, t_skip;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            t_pass++;                                                      \
        } else {                                                           \
            t_fail++;                                                      \
            fprintf(stderr, "FAIL %s:%d: (%s) ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

#define SKIP(...)                                                          \
    do {                                                                   \
        t_skip++;                                                          \
        fprintf(stderr, "SKIP: ");                                         \
        fprintf(stderr, __VA_ARGS__);                                      \
        fputc('\n', stderr);                                               \
    } while (0)

/* ../shared/data when present (CI has it), else NULL: data tests then skip. */
static inline const char *test_data_dir(void) {
    static const char *cands[] = {"../shared/data", "../../shared/data"};
    const char *env = getenv("GETMUSIC_DATA");
    struct stat st;
    if (env && stat(env, &st) == 0) return env;
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++)
        if (stat(cands[i], &st) == 0 && S_ISDIR(st.st_mode)) return cands[i];
    return NULL;
}

/* The whole file in memory (caller frees; *size its length), or NULL. */
static inline uint8_t *test_slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = n >= 0 ? malloc(n > 0 ? (size_t)n : 1) : NULL;
    if (d && fread(d, 1, (size_t)n, f) != (size_t)n) { free(d); d = NULL; }
    fclose(f);
    *size = n > 0 ? (size_t)n : 0;
    return d;
}

/* Writes text to path (a fixture); a file that cannot be made shows up
 * later as a failed check of what reads it. */
static inline void test_write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static inline int test_done(const char *name) {
    if (t_skip)
        printf("%s: %d passed, %d failed, %d skipped\n", name, t_pass, t_fail, t_skip);
    else
        printf("%s: %d passed, %d failed\n", name, t_pass, t_fail);
    return t_fail ? 1 : 0;
}
#ifdef GETMUSIC_H
/* s sorted and its bar map (16ths) into bm, for tests that work bar by bar:
 * 0, or -1 after a failed check (nothing to free then). */
static inline int test_barmap(gm_score *s, gm_barmap *bm) {
    gm_score_sort(s);
    char err[GM_ERR_SIZE] = "";
    int rc = gm_barmap_build(bm, s, 4, err);
    CHECK(rc == 0, "barmap: %s", err);
    return rc ? -1 : 0;
}
#endif

#endif
