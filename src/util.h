/* util.h — small internal helpers shared by the library files: strings,
 * errors, the atomic file write, the random number generator, the clock, a
 * growable byte buffer and a doubling array, freeing a list of pointers,
 * JSON strings and MIDI folders (all but the first two live in util.c). */
#ifndef GM_UTIL_H
#define GM_UTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Copies at most n-1 bytes and always terminates. */
static inline void gm_strlcpy(char *dst, const char *src, size_t n) {
    if (!n) return;
    size_t k = strlen(src);
    if (k >= n) k = n - 1;
    memcpy(dst, src, k);
    dst[k] = 0;
}

/* Writes a formatted one-line reason into err (GM_ERR_SIZE bytes, may be NULL)
 * and returns -1, so error paths read `return gm_fail(err, "...", ...);`. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline int gm_fail(char *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, 256, fmt, ap);
        va_end(ap);
        for (char *p = err; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    return -1;
}

/* Atomic file write: the data goes to a temporary file beside the target (same
 * folder, so same filesystem, so rename() is atomic), which is flushed,
 * fsynced and renamed over the target, then the folder is fsynced. A reader
 * sees the old file or the new one, never part of one, and a failure leaves
 * the old file as it was. The file gets the target's mode if it exists, else
 * 0644 (mkstemp makes 0600; what we write is meant to be shared).
 *
 *     gm_atomic_file a;
 *     if (gm_atomic_open(&a, path, err)) return -1;
 *     ... fwrite(..., a.f) ...  (on an error of your own: gm_atomic_abort(&a))
 *     return gm_atomic_commit(&a, err);
 *
 * Both commit and abort release everything; after either, the struct is
 * spent (abort on a spent or zeroed struct does nothing). Error messages name
 * the target path. */
typedef struct {
    FILE *f;    /* write here */
    char *tmp;  /* the temporary file's path */
    char *path; /* the target */
} gm_atomic_file;

int gm_atomic_open(gm_atomic_file *a, const char *path, char *err);
int gm_atomic_commit(gm_atomic_file *a, char *err);
void gm_atomic_abort(gm_atomic_file *a);

/* Random numbers: splitmix64 (tiny, seedable, good enough for weight init,
 * dropout, corruption and sampling). One generator for the whole library:
 * golden files and fixed-seed tests pin its stream, so never change it. */
uint64_t gd_rng_next(uint64_t *s);
double gd_rng_uniform(uint64_t *s); /* [0, 1), 53 bits */

/* Seconds on the monotonic clock, for timing (never for dates). */
double gm_now_s(void);
/* The process's peak resident memory so far, in MiB (benches report it). */
long gm_peak_rss_mb(void);

/* A growable byte buffer, for what is serialised before it is written (MIDI,
 * GGUF, corpus files) and for text built piece by piece (the grid dump, the
 * studio's JSON). A zeroed struct is empty. An append that cannot be made
 * (out of memory, or a size past SIZE_MAX) sets oom and every later append
 * does nothing, so a writer appends freely and checks oom once at the end.
 * Both appends keep the bytes NUL-terminated (the NUL is not counted in n),
 * so text built with them is a C string. */
typedef struct {
    uint8_t *p;  /* malloc'd; NULL until the first append */
    size_t n;    /* bytes held */
    size_t cap;  /* bytes allocated */
    int oom;     /* an append failed: the contents are incomplete */
} gm_buf;

void gm_buf_put(gm_buf *b, const void *data, size_t n);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void gm_buf_printf(gm_buf *b, const char *fmt, ...);
void gm_buf_free(gm_buf *b); /* releases the bytes; the struct is empty again */
static inline char *gm_buf_text(const gm_buf *b) { return (char *)b->p; }

/* Writes the n bytes at data to path atomically (gm_atomic_open, one
 * fwrite, gm_atomic_commit). 0, or -1 with err naming the path. */
int gm_atomic_write(const char *path, const void *data, size_t n, char *err);

/* The whole of the file at path, or of fd when path is NULL, read to its
 * end (pipes and growing files too) and at most max bytes: *out malloc'd
 * (the caller frees it), *n its length. what names the kind of file in
 * messages ("is a directory, not a MIDI file", "MIDI file too large ...");
 * a message does not repeat the path (callers name the file). 0, or -1
 * with err. */
int gm_read_whole(const char *path, int fd, size_t max, const char *what, uint8_t **out, size_t *n, char *err);
/* The size limit of a score file read whole: MIDI, MusicXML (also after
 * unzipping .mxl); larger inputs are refused. */
#define GM_SCORE_FILE_MAX_BYTES ((size_t)64 << 20)

/* Room for element n of a doubling array: when n has reached *cap, the
 * array grows to twice *cap elements of elem bytes (first, when it has
 * none; more, should n be past *cap). arrp is the address of the array's
 * pointer, of any element type:
 *
 *     if (gm_grow(&s->tracks, &s->cap_tracks, s->n_tracks, sizeof *s->tracks, 8)) return -1;
 *
 * 0, or -1 when out of memory or the size overflows (array and *cap as
 * they were). */
int gm_grow(void *arrp, size_t *cap, size_t n, size_t elem, size_t first);

/* Frees the n pointers in ptrs (NULLs are fine): a destructor's members in
 * one call instead of a run of free()s. GM_FREE_ALL lists them in place:
 *
 *     GM_FREE_ALL(t->beats, t->downbeat, t->notes);
 */
void gm_free_all(void *const *ptrs, size_t n);
#define GM_FREE_ALL(...)                                                          \
    do {                                                                          \
        void *const gm_free_list_[] = {__VA_ARGS__};                              \
        gm_free_all(gm_free_list_, sizeof gm_free_list_ / sizeof *gm_free_list_); \
    } while (0)

/* s as a JSON string literal, quotes and the escapes JSON requires, onto
 * b, or onto f (the one escaper of the library, the CLI and the studio). */
void gm_buf_json_str(gm_buf *b, const char *s);
void gm_json_fstr(FILE *f, const char *s);

/* A MIDI file's name: ends in .mid or .midi, any case. */
int gm_is_midi_name(const char *name);

/* Calls fn(user_data, path, name) for every MIDI file under dir, folder by
 * folder in readdir's order (callers sort): path is dir/.../file, name the
 * same relative to dir. Hidden entries are skipped, links to folders are not
 * followed (no cycles), 32 levels at most, and a path longer than 4095 bytes
 * is left out. fn returning non-zero stops the walk, which returns that
 * value (fn writes its own message); a folder that cannot be opened is -1
 * with err. 0 when every file was visited. */
typedef int (*gm_walk_fn)(void *user_data, const char *path, const char *name);
int gm_walk_midi(const char *dir, gm_walk_fn fn, void *user_data, char *err);
#endif
