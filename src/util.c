/* util.c — the few helpers every library file needs: the atomic file write,
 * the random number generator, the monotonic clock, the byte buffer, the
 * doubling array, freeing a list of pointers, JSON strings and the
 * MIDI-folder walk (see util.h). */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ======================================================================== */
/* Atomic file write                                                         */
/* ======================================================================== */

static void atomic_release(gm_atomic_file *a) {
    free(a->tmp);
    free(a->path);
    a->f = NULL;
    a->tmp = a->path = NULL;
}

int gm_atomic_open(gm_atomic_file *a, const char *path, char *err) {
    memset(a, 0, sizeof *a);
    if (!path || !*path) return gm_fail(err, "no output path");
    size_t n = strlen(path);
    a->path = strdup(path);
    a->tmp = malloc(n + sizeof ".tmp.XXXXXX");
    if (!a->path || !a->tmp) {
        atomic_release(a);
        return gm_fail(err, "out of memory");
    }
    memcpy(a->tmp, path, n);
    memcpy(a->tmp + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        gm_fail(err, "cannot create a temporary file next to '%s': %s", path, strerror(errno));
        atomic_release(a);
        return -1;
    }
    struct stat st;
    (void)fchmod(fd, stat(path, &st) == 0 ? (st.st_mode & 07777) : 0644);
    if (!(a->f = fdopen(fd, "wb"))) {
        gm_fail(err, "cannot write '%s': %s", path, strerror(errno));
        close(fd);
        unlink(a->tmp);
        atomic_release(a);
        return -1;
    }
    return 0;
}

void gm_atomic_abort(gm_atomic_file *a) {
    if (!a->f) return;
    fclose(a->f);
    unlink(a->tmp);
    atomic_release(a);
}

/* Makes a completed rename durable; best effort (some filesystems refuse
 * fsync on a folder, and the data itself is already on disk). */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) {
        gm_strlcpy(dir, ".", sizeof dir);
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir) return;
        memcpy(dir, path, n ? n : 1); /* "/x" → "/" */
        dir[n ? n : 1] = 0;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

int gm_atomic_commit(gm_atomic_file *a, char *err) {
    if (!a->f) return gm_fail(err, "atomic write: no open file");
    int e = 0;
    const char *what = "write";
    if (fflush(a->f) || ferror(a->f)) e = errno ? errno : EIO;
    if (!e && fsync(fileno(a->f))) e = errno;
    if (fclose(a->f) && !e) e = errno ? errno : EIO;
    a->f = NULL;
    if (!e && rename(a->tmp, a->path)) {
        e = errno;
        what = "rename the temporary file over";
    }
    if (e) {
        gm_fail(err, "cannot %s '%s': %s", what, a->path, strerror(e));
        unlink(a->tmp);
        atomic_release(a);
        return -1;
    }
    sync_parent_dir(a->path);
    atomic_release(a);
    return 0;
}

int gm_atomic_write(const char *path, const void *data, size_t n, char *err) {
    gm_atomic_file a;
    if (gm_atomic_open(&a, path, err)) return -1;
    (void)fwrite(data, 1, n, a.f); /* a short write sets the error flag: commit reports it */
    return gm_atomic_commit(&a, err);
}

/* ======================================================================== */
/* Whole files                                                               */
/* ======================================================================== */

static int read_fd_whole(int fd, size_t max, const char *what, uint8_t **out, size_t *out_n, char *err) {
    struct stat st;
    if (fstat(fd, &st)) return gm_fail(err, "cannot stat: %s", strerror(errno));
    if (S_ISDIR(st.st_mode)) return gm_fail(err, "is a directory, not a %s", what);
    if (st.st_size > (off_t)max)
        return gm_fail(err, "%s too large (%lld bytes, limit %zu MiB)", what, (long long)st.st_size, max >> 20);
    /* Read until EOF rather than trusting st_size (pipes, files that grow);
     * one byte past the limit is enough to know it is too large. */
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 65536, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) return gm_fail(err, "out of memory reading a %zu-byte file", cap);
    for (;;) {
        if (n == cap) {
            if (cap > max) { free(buf); return gm_fail(err, "%s too large (limit %zu MiB)", what, max >> 20); }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); return gm_fail(err, "out of memory reading a file of over %zu bytes", cap); }
            buf = nb;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) { free(buf); return gm_fail(err, "read failed: %s", strerror(errno)); }
        if (k == 0) break;
        n += (size_t)k;
    }
    *out = buf;
    *out_n = n;
    return 0;
}

int gm_read_whole(const char *path, int fd, size_t max, const char *what, uint8_t **out, size_t *n, char *err) {
    *out = NULL;
    *n = 0;
    if (path && (fd = open(path, O_RDONLY)) < 0) return gm_fail(err, "cannot open: %s", strerror(errno));
    int rc = read_fd_whole(fd, max, what, out, n, err);
    if (path) close(fd);
    return rc;
}

/* ======================================================================== */
/* Random numbers (splitmix64)                                               */
/* ======================================================================== */

uint64_t gd_rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double gd_rng_uniform(uint64_t *s) { return (double)(gd_rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

/* ======================================================================== */
/* Clock                                                                     */
/* ======================================================================== */

double gm_now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

long gm_peak_rss_mb(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) ? 0 : ru.ru_maxrss / 1024; /* Linux: KiB */
}

/* ======================================================================== */
/* Growable byte buffer                                                      */
/* ======================================================================== */

/* Room for `more` bytes after the n held (and one more, for a NUL). */
static int buf_reserve(gm_buf *b, size_t more) {
    if (b->oom) return -1;
    if (more >= SIZE_MAX - b->n) { b->oom = 1; return -1; }
    size_t need = b->n + more + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) { cap = need; break; }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) { b->oom = 1; return -1; }
    b->p = p;
    b->cap = cap;
    return 0;
}

void gm_buf_put(gm_buf *b, const void *data, size_t n) {
    if (!n || buf_reserve(b, n)) return;
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = 0;
}

void gm_buf_printf(gm_buf *b, const char *fmt, ...) {
    char small[256]; /* most pieces fit: format once */
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k < 0) { b->oom = 1; return; }
    if (buf_reserve(b, (size_t)k)) return;
    if ((size_t)k < sizeof small) {
        memcpy(b->p + b->n, small, (size_t)k + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf((char *)b->p + b->n, (size_t)k + 1, fmt, ap);
        va_end(ap);
    }
    b->n += (size_t)k;
}

void gm_buf_free(gm_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ======================================================================== */
/* Doubling array                                                            */
/* ======================================================================== */

int gm_grow(void *arrp, size_t *cap, size_t n, size_t elem, size_t first) {
    if (n < *cap) return 0;
    size_t c = *cap;
    do {
        if (c > SIZE_MAX / 2) return -1;
        c = c ? 2 * c : (first ? first : 1);
    } while (c <= n);
    if (!elem || c > SIZE_MAX / elem) return -1;
    void *a; /* the caller's T *, read and written as bytes: T * and void * share a representation */
    memcpy(&a, arrp, sizeof a);
    void *p = realloc(a, c * elem);
    if (!p) return -1;
    memcpy(arrp, &p, sizeof p);
    *cap = c;
    return 0;
}

/* ======================================================================== */
/* Freeing a list of pointers                                                */
/* ======================================================================== */

void gm_free_all(void *const *ptrs, size_t n) {
    for (size_t i = 0; i < n; i++) free(ptrs[i]);
}

/* ======================================================================== */
/* JSON strings                                                              */
/* ======================================================================== */

void gm_buf_json_str(gm_buf *b, const char *s) {
    gm_buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') gm_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20) gm_buf_printf(b, "\\u%04x", *p);
        else gm_buf_put(b, p, 1);
    }
    gm_buf_put(b, "\"", 1);
}

void gm_json_fstr(FILE *f, const char *s) {
    gm_buf b = {0};
    gm_buf_json_str(&b, s);
    if (!b.oom) fwrite(b.p, 1, b.n, f);
    gm_buf_free(&b);
}

/* ======================================================================== */
/* MIDI folders                                                              */
/* ======================================================================== */

int gm_is_midi_name(const char *s) {
    size_t n = strlen(s);
    return (n > 4 && !strcasecmp(s + n - 4, ".mid")) || (n > 5 && !strcasecmp(s + n - 5, ".midi"));
}

static int walk_midi(const char *dir, const char *rel, int depth, gm_walk_fn fn, void *user_data, char *err) {
    if (depth > 32) return 0;
    DIR *d = opendir(dir);
    if (!d) return gm_fail(err, "cannot open folder %s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096], name[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            snprintf(name, sizeof name, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= (int)sizeof name)
            continue;
        struct stat st;
        if (lstat(path, &st)) continue;
        if (S_ISDIR(st.st_mode)) rc = walk_midi(path, name, depth + 1, fn, user_data, err);
        else if ((S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) && gm_is_midi_name(e->d_name))
            rc = fn(user_data, path, name);
    }
    closedir(d);
    return rc;
}

int gm_walk_midi(const char *dir, gm_walk_fn fn, void *user_data, char *err) {
    return walk_midi(dir, "", 0, fn, user_data, err);
}
