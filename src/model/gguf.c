/*
 * gguf.c — GGUF v3 model files: writing (atomically) and reading (mmap'd,
 * validated).
 *
 * Layout (ggml docs/gguf.md), all little-endian:
 *   "GGUF" | u32 version = 3 | u64 tensor_count | u64 kv_count
 *   kv_count × { string key | u32 value type | value }
 *       string = u64 length + bytes (no NUL); bool = 1 byte;
 *       array  = u32 element type + u64 n + n packed elements
 *   tensor_count × { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml type
 *                    | u64 offset (relative to the data section) }
 *   padding to `general.alignment` (u32, default 32)
 *   tensor data: each tensor at an aligned offset, padded to the alignment
 *
 * The writer emits tensors in the order they were added, each followed by
 * padding to the alignment (the last one too, as ggml and gguf-py do: ggml's
 * own reader reads the padded size of the data section).
 *
 * The reader maps the file read-only and checks, before anything is used:
 * the magic and version, that the counts can fit in the file (refused before
 * any allocation), every length against the bytes left, value and element
 * types (nested arrays refused), non-empty keys and names without NUL bytes,
 * unique keys and tensor names, general.alignment (a u32 power of two),
 * n_dims 1..4, every ne ≥ 1 with a product no larger than the file, tensor
 * types F32/F16, offsets that are multiples of the alignment, data ranges
 * inside the file, aligned to the element size and not overlapping. After
 * that the context is read-only, so several threads may share it.
 *
 * Not guarded against: another process truncating the file while it is
 * mapped (the kernel then raises SIGBUS on access; nothing in user space can
 * check that cheaply). Hosts must be little-endian; both directions refuse
 * to run on a big-endian host rather than produce byte-swapped files.
 */
#include "getmusic.h" /* GM_ERR_SIZE */
#include "gguf.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_VERSION 3
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_KEY_ALIGNMENT "general.alignment"
#define GGUF_MAX_DIMS 4
#define GGUF_HEADER_BYTES 24
/* Smallest possible records, used to refuse absurd counts before allocating:
 * a kv is a key length (8) + type (4) + a one-byte value with an empty key;
 * a tensor info is a name length (8) + n_dims (4) + one ne (8) + type (4) +
 * offset (8). */
#define GGUF_MIN_KV_BYTES 13
#define GGUF_MIN_TENSOR_BYTES 32
#define GGUF_N_TYPES 13 /* value types 0..12 */

/* Under AddressSanitizer the file is read into a heap block of exactly its
 * size instead of being mapped: ASan cannot see a read past the end of a
 * file that stays inside its last mapped page, but it does see one past a
 * heap block, so the sanitizer and fuzz builds check the bounds checks to
 * the byte. */
#if defined(__SANITIZE_ADDRESS__)
#define GGUF_HEAP_COPY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GGUF_HEAP_COPY 1
#endif
#endif
#ifndef GGUF_HEAP_COPY
#define GGUF_HEAP_COPY 0
#endif

/* ======================================================================== */
/* Shared helpers                                                            */
/* ======================================================================== */

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Size of a scalar value type; 0 for strings, arrays and unknown types. */
static size_t scalar_size(uint32_t type) {
    switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

static const char *type_name(uint32_t type) {
    static const char *names[GGUF_N_TYPES] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                              "bool", "string", "array", "u64", "i64", "f64"};
    return type < GGUF_N_TYPES ? names[type] : "unknown";
}

static size_t tensor_elem_size(int type) { return type == GGUF_TENSOR_F32 ? 4 : 2; }

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static int is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

/* ======================================================================== */
/* Half precision                                                            */
/* ======================================================================== */

/* float → IEEE binary16, round to nearest, ties to even, in integer
 * arithmetic so the result does not depend on the FPU rounding mode or
 * -ffast-math. Overflow gives ±inf, NaN stays a (quiet) NaN. */
static uint16_t f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    u &= 0x7FFFFFFFu;
    if (u >= 0x7F800000u) return (uint16_t)(sign | (u > 0x7F800000u ? 0x7E00u : 0x7C00u));
    if (u >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* ≥ 65520 rounds to inf */
    if (u < 0x38800000u) {                                   /* below 2^-14: subnormal half */
        if (u <= 0x33000000u) return sign;                   /* ≤ 2^-25 (a tie) rounds to 0 */
        uint32_t e = u >> 23, m = (u & 0x7FFFFFu) | 0x800000u;
        uint32_t shift = 126 - e; /* value = m·2^(e-150), half unit 2^-24 */
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h); /* h = 0x400 is the smallest normal: still right */
    }
    uint32_t h = ((u >> 23) - 112) << 10 | (u & 0x7FFFFFu) >> 13;
    uint32_t rem = u & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* a carry rounds the exponent up */
    return (uint16_t)(sign | h);
}

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu, u;
    if (e == 0) {
        if (m == 0) {
            u = sign;
        } else { /* subnormal: normalise */
            e = 113;
            while (!(m & 0x400u)) { m <<= 1; e--; }
            u = sign | e << 23 | (m & 0x3FFu) << 13;
        }
    } else if (e == 31) {
        u = sign | 0x7F800000u | m << 13;
    } else {
        u = sign | (e + 112) << 23 | m << 13;
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ======================================================================== */
/* Writer                                                                    */
/* ======================================================================== */

/* A key and its value, serialised as it goes in the file after the type
 * field (so writing is a copy and a replaced key simply swaps bytes). */
typedef struct {
    char *key;
    uint32_t type;
    uint8_t *val;
    size_t n_val;
} w_kv;

typedef struct {
    char *name;
    int type;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    size_t n_bytes;     /* in the file */
    const float *data;  /* the caller's, read at write time */
} w_tensor;

struct gguf_writer {
    w_kv *kv;
    size_t n_kv, cap_kv;
    w_tensor *t;
    size_t n_t, cap_t;
    /* The first failed set/add, reported again by gguf_write_file so that
     * callers may chain calls and check once. */
    char err[GM_ERR_SIZE];
};

/* Values serialised into a gm_buf (util.h), little-endian as the host. */
static void bb_u32(gm_buf *b, uint32_t v) { gm_buf_put(b, &v, 4); }
static void bb_u64(gm_buf *b, uint64_t v) { gm_buf_put(b, &v, 8); }
static void bb_str(gm_buf *b, const char *s) {
    size_t n = strlen(s);
    bb_u64(b, n);
    gm_buf_put(b, s, n);
}

/* Records the first error of a set/add call; returns -1. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int w_fail(gguf_writer *w, const char *fmt, ...) {
    if (w && !w->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->err, sizeof w->err, fmt, ap);
        va_end(ap);
    }
    return -1;
}

gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* Stores key = (type, serialised value), taking ownership of b->p; an
 * existing key is replaced where it stands (its position is kept). */
static int w_set(gguf_writer *w, const char *key, uint32_t type, gm_buf *b) {
    if (!w || !key || !key[0]) {
        free(b->p);
        return w_fail(w, "gguf_set: missing or empty key");
    }
    if (b->oom) {
        free(b->p);
        return w_fail(w, "gguf_set('%s'): out of memory", key);
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = b->p;
            w->kv[i].n_val = b->n;
            return 0;
        }
    }
    char *k = strdup(key);
    if (k && gm_grow(&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv, 16)) { free(k); k = NULL; }
    if (!k) {
        free(b->p);
        return w_fail(w, "gguf_set('%s'): out of memory", key);
    }
    w->kv[w->n_kv++] = (w_kv){k, type, b->p, b->n};
    return 0;
}

static int w_set_scalar(gguf_writer *w, const char *key, uint32_t type, const void *v, size_t n) {
    gm_buf b = {0};
    gm_buf_put(&b, v, n);
    return w_set(w, key, type, &b);
}

int gguf_set_u32(gguf_writer *w, const char *key, uint32_t v) { return w_set_scalar(w, key, GGUF_TYPE_UINT32, &v, 4); }
int gguf_set_i32(gguf_writer *w, const char *key, int32_t v) { return w_set_scalar(w, key, GGUF_TYPE_INT32, &v, 4); }
int gguf_set_u64(gguf_writer *w, const char *key, uint64_t v) { return w_set_scalar(w, key, GGUF_TYPE_UINT64, &v, 8); }
int gguf_set_f32(gguf_writer *w, const char *key, float v) { return w_set_scalar(w, key, GGUF_TYPE_FLOAT32, &v, 4); }

int gguf_set_str(gguf_writer *w, const char *key, const char *v) {
    if (!v) return w_fail(w, "gguf_set_str('%s'): NULL value", key ? key : "");
    gm_buf b = {0};
    bb_str(&b, v);
    return w_set(w, key, GGUF_TYPE_STRING, &b);
}

int gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *v, size_t n) {
    if (n && !v) return w_fail(w, "gguf_set_arr_str('%s'): NULL array", key ? key : "");
    for (size_t i = 0; i < n; i++)
        if (!v[i]) return w_fail(w, "gguf_set_arr_str('%s'): element %zu is NULL", key ? key : "", i);
    gm_buf b = {0};
    bb_u32(&b, GGUF_TYPE_STRING);
    bb_u64(&b, n);
    for (size_t i = 0; i < n; i++) bb_str(&b, v[i]);
    return w_set(w, key, GGUF_TYPE_ARRAY, &b);
}

static int w_set_arr(gguf_writer *w, const char *key, uint32_t elem, const void *v, size_t n) {
    size_t es = scalar_size(elem);
    if (n && !v) return w_fail(w, "gguf_set_arr('%s'): NULL array", key ? key : "");
    if (n > SIZE_MAX / es) return w_fail(w, "gguf_set_arr('%s'): array too large", key ? key : "");
    gm_buf b = {0};
    bb_u32(&b, elem);
    bb_u64(&b, n);
    gm_buf_put(&b, v, n * es);
    return w_set(w, key, GGUF_TYPE_ARRAY, &b);
}

int gguf_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, size_t n) { return w_set_arr(w, key, GGUF_TYPE_INT32, v, n); }
int gguf_set_arr_u32(gguf_writer *w, const char *key, const uint32_t *v, size_t n) { return w_set_arr(w, key, GGUF_TYPE_UINT32, v, n); }
int gguf_set_arr_f32(gguf_writer *w, const char *key, const float *v, size_t n) { return w_set_arr(w, key, GGUF_TYPE_FLOAT32, v, n); }

int gguf_add_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne, const float *data) {
    if (!w) return -1;
    if (!name || !name[0]) return w_fail(w, "gguf_add_tensor: missing or empty name");
    if (type != GGUF_TENSOR_F32 && type != GGUF_TENSOR_F16)
        return w_fail(w, "gguf_add_tensor('%s'): unsupported tensor type %d", name, type);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne)
        return w_fail(w, "gguf_add_tensor('%s'): %d dimensions (1 to %d allowed)", name, n_dims, GGUF_MAX_DIMS);
    if (!data) return w_fail(w, "gguf_add_tensor('%s'): NULL data", name);
    /* Elements bounded so that bytes (×4) fit in int64 and size_t. */
    const uint64_t max_elems = (uint64_t)(SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX) / 4;
    uint64_t n = 1;
    w_tensor t = {.type = type, .n_dims = n_dims, .data = data};
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 1) return w_fail(w, "gguf_add_tensor('%s'): ne[%d] = %lld", name, d, (long long)t.ne[d]);
        if ((uint64_t)t.ne[d] > max_elems / n) return w_fail(w, "gguf_add_tensor('%s'): tensor too large", name);
        n *= (uint64_t)t.ne[d];
    }
    t.n_bytes = (size_t)n * tensor_elem_size(type);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return w_fail(w, "gguf_add_tensor: duplicate tensor name '%s'", name);
    if (gm_grow(&w->t, &w->cap_t, w->n_t, sizeof *w->t, 16)) return w_fail(w, "gguf_add_tensor('%s'): out of memory", name);
    if (!(t.name = strdup(name))) return w_fail(w, "gguf_add_tensor('%s'): out of memory", name);
    w->t[w->n_t++] = t;
    return 0;
}

/* ---- output ------------------------------------------------------------- */

/* A FILE with a running position and a sticky error, so the writing code is
 * straight-line and checked once at the end. */
typedef struct {
    FILE *f;
    uint64_t pos;
    int err; /* first errno, or EIO */
} wout;

static void out_put(wout *o, const void *p, size_t n) {
    if (!o->err && n && fwrite(p, 1, n, o->f) != n) o->err = errno ? errno : EIO;
    o->pos += n;
}
static void out_pad(wout *o, uint64_t align) {
    static const uint8_t zeros[64];
    uint64_t n = align_up(o->pos, align) - o->pos;
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        out_put(o, zeros, k);
        n -= k;
    }
}

/* Header, metadata and tensor infos, serialised as the values are (bb_*). */
static void put_head(const gguf_writer *w, gm_buf *b, uint32_t align, int add_align_key) {
    gm_buf_put(b, "GGUF", 4);
    bb_u32(b, GGUF_VERSION);
    bb_u64(b, w->n_t);
    bb_u64(b, w->n_kv + (add_align_key ? 1 : 0));
    for (size_t i = 0; i < w->n_kv; i++) {
        bb_str(b, w->kv[i].key);
        bb_u32(b, w->kv[i].type);
        gm_buf_put(b, w->kv[i].val, w->kv[i].n_val);
    }
    if (add_align_key) {
        bb_str(b, GGUF_KEY_ALIGNMENT);
        bb_u32(b, GGUF_TYPE_UINT32);
        bb_u32(b, align);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const w_tensor *t = &w->t[i];
        bb_str(b, t->name);
        bb_u32(b, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) bb_u64(b, (uint64_t)t->ne[d]);
        bb_u32(b, (uint32_t)t->type);
        bb_u64(b, off);
        off += align_up(t->n_bytes, align);
    }
}

/* The head, then the tensors' data, streamed (a model is too large to
 * build in memory twice), each padded to the alignment. */
static void write_body(const gguf_writer *w, wout *o, uint32_t align, int add_align_key) {
    gm_buf head = {0};
    put_head(w, &head, align, add_align_key);
    if (head.oom) o->err = ENOMEM;
    out_put(o, head.p, head.n);
    gm_buf_free(&head);
    out_pad(o, align);
    for (size_t i = 0; i < w->n_t; i++) {
        const w_tensor *t = &w->t[i];
        if (t->type == GGUF_TENSOR_F32) {
            out_put(o, t->data, t->n_bytes);
        } else {
            uint16_t buf[4096];
            size_t n = t->n_bytes / 2;
            for (size_t j = 0; j < n;) {
                size_t k = n - j < 4096 ? n - j : 4096;
                for (size_t q = 0; q < k; q++) buf[q] = f32_to_f16(t->data[j + q]);
                out_put(o, buf, k * 2);
                j += k;
            }
        }
        out_pad(o, align);
    }
}

int gguf_write_file(gguf_writer *w, const char *path, char *err) {
    if (err) err[0] = 0;
    if (!w || !path || !path[0]) return gm_fail(err, "gguf_write_file: missing writer or path");
    if (!host_is_little_endian()) return gm_fail(err, "GGUF writing needs a little-endian host");
    if (w->err[0]) return gm_fail(err, "%s", w->err);

    uint32_t align = GGUF_DEFAULT_ALIGNMENT;
    int add_align_key = 1;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, GGUF_KEY_ALIGNMENT) != 0) continue;
        if (w->kv[i].type == GGUF_TYPE_UINT32) memcpy(&align, w->kv[i].val, 4);
        if (w->kv[i].type != GGUF_TYPE_UINT32 || !is_pow2(align))
            return gm_fail(err, "%s must be a u32 power of two", GGUF_KEY_ALIGNMENT);
        add_align_key = 0;
    }

    /* Readers see the old file or the new one, never a partial one. */
    gm_atomic_file a;
    if (gm_atomic_open(&a, path, err)) return -1;
    wout o = {.f = a.f};
    write_body(w, &o, align, add_align_key);
    if (o.err) {
        gm_atomic_abort(&a);
        return gm_fail(err, "cannot write '%s': %s", path, strerror(o.err));
    }
    return gm_atomic_commit(&a, err);
}

/* ======================================================================== */
/* Reader                                                                    */
/* ======================================================================== */

typedef struct {
    char *key;               /* NUL-terminated copy */
    uint32_t type;           /* GGUF_TYPE_* */
    uint32_t elem_type;      /* arrays: element type */
    uint64_t n;              /* arrays: elements; strings: bytes */
    const uint8_t *val;      /* into the mapping: scalar, string bytes, first element */
    uint64_t *str_off;       /* string arrays: file offset of each element's length */
} r_kv;

struct gguf_ctx {
    uint8_t *map;            /* the file: mapped, or a heap copy (GGUF_HEAP_COPY) */
    size_t size;
    int heap;                /* map is malloc'd, not mmap'd */
    uint32_t version;
    uint32_t alignment;
    r_kv *kv;                /* file order */
    int64_t n_kv;
    r_kv **kv_sorted;        /* by key, for lookups */
    gguf_tensor *t;          /* file order; names are malloc'd copies */
    int64_t n_t;
    gguf_tensor **t_sorted;  /* by name */
};

/* A bounds-checked cursor over the mapping: every read first checks the
 * bytes left, so pos ≤ size always holds. */
typedef struct {
    const uint8_t *p;
    size_t size, pos;
} cur;

static size_t left(const cur *c) { return c->size - c->pos; }

static int rd_u32(cur *c, uint32_t *v) {
    if (left(c) < 4) return -1;
    memcpy(v, c->p + c->pos, 4);
    c->pos += 4;
    return 0;
}
static int rd_u64(cur *c, uint64_t *v) {
    if (left(c) < 8) return -1;
    memcpy(v, c->p + c->pos, 8);
    c->pos += 8;
    return 0;
}
/* A gguf string: u64 length, then that many bytes (must be in the file). */
static int rd_str(cur *c, const uint8_t **s, uint64_t *n) {
    if (rd_u64(c, n) || *n > left(c)) return -1;
    *s = c->p + c->pos;
    c->pos += (size_t)*n;
    return 0;
}

/* A key or tensor name as a C string: non-empty, no NUL inside (a NUL would
 * make two different names compare equal as C strings). */
static char *dup_name(const uint8_t *s, uint64_t n) {
    if (!n || memchr(s, 0, (size_t)n)) return NULL;
    char *p = malloc((size_t)n + 1);
    if (p) {
        memcpy(p, s, (size_t)n);
        p[n] = 0;
    }
    return p;
}

static int cmp_kv(const void *a, const void *b) {
    return strcmp((*(r_kv *const *)a)->key, (*(r_kv *const *)b)->key);
}
static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(gguf_tensor *const *)a)->name, (*(gguf_tensor *const *)b)->name);
}
static int cmp_tensor_data(const void *a, const void *b) {
    const uint8_t *x = (*(gguf_tensor *const *)a)->data, *y = (*(gguf_tensor *const *)b)->data;
    return x < y ? -1 : x > y;
}

/* Sorts the n pointers of index (keys or tensors) by cmp, as qsort does;
 * the position of the first that compares equal to the one before it (a
 * duplicate name), or 0 when all differ. */
static int64_t sort_index(void *index, int64_t n, size_t size, int (*cmp)(const void *, const void *)) {
    qsort(index, (size_t)n, size, cmp);
    const char *p = index;
    for (int64_t i = 1; i < n; i++)
        if (!cmp(p + (size_t)(i - 1) * size, p + (size_t)i * size)) return i;
    return 0;
}

#define TRUNC "truncated or corrupt file: "

/* Reads one value of key kv->key (its type field first). */
static int parse_value(cur *c, r_kv *kv, char *err) {
    const char *k = kv->key;
    if (rd_u32(c, &kv->type)) return gm_fail(err, TRUNC "type of key '%s' runs past the end", k);
    if (kv->type >= GGUF_N_TYPES) return gm_fail(err, "key '%s' has unknown value type %u", k, kv->type);
    if (kv->type == GGUF_TYPE_STRING) {
        if (rd_str(c, &kv->val, &kv->n))
            return gm_fail(err, TRUNC "string value of key '%s' runs past the end", k);
        return 0;
    }
    if (kv->type != GGUF_TYPE_ARRAY) {
        size_t sz = scalar_size(kv->type);
        if (left(c) < sz) return gm_fail(err, TRUNC "value of key '%s' runs past the end", k);
        kv->val = c->p + c->pos;
        c->pos += sz;
        return 0;
    }
    if (rd_u32(c, &kv->elem_type) || rd_u64(c, &kv->n))
        return gm_fail(err, TRUNC "array header of key '%s' runs past the end", k);
    if (kv->elem_type == GGUF_TYPE_ARRAY) return gm_fail(err, "key '%s' is a nested array (not supported)", k);
    if (kv->elem_type >= GGUF_N_TYPES)
        return gm_fail(err, "array key '%s' has unknown element type %u", k, kv->elem_type);
    if (kv->elem_type != GGUF_TYPE_STRING) {
        size_t sz = scalar_size(kv->elem_type);
        if (kv->n > left(c) / sz)
            return gm_fail(err, TRUNC "array '%s' (%llu elements) runs past the end", k, (unsigned long long)kv->n);
        kv->val = c->p + c->pos;
        c->pos += (size_t)kv->n * sz;
        return 0;
    }
    /* Each string takes at least its 8-byte length: bound n before the
     * offset table is allocated. */
    if (kv->n > left(c) / 8)
        return gm_fail(err, TRUNC "string array '%s' (%llu elements) runs past the end", k, (unsigned long long)kv->n);
    kv->val = c->p + c->pos;
    if (kv->n && !(kv->str_off = malloc((size_t)kv->n * sizeof *kv->str_off))) return gm_fail(err, "out of memory");
    for (uint64_t i = 0; i < kv->n; i++) {
        const uint8_t *s;
        uint64_t len;
        kv->str_off[i] = c->pos;
        if (rd_str(c, &s, &len))
            return gm_fail(err, TRUNC "string %llu of array '%s' runs past the end", (unsigned long long)i, k);
    }
    return 0;
}

/* The name of key or tensor (what) #i, read at the cursor into *out as a C
 * string (dup_name). */
static int read_name(cur *c, const char *what, int64_t i, char **out, char *err) {
    const uint8_t *s;
    uint64_t n;
    if (rd_str(c, &s, &n)) return gm_fail(err, TRUNC "name of %s #%lld runs past the end", what, (long long)i);
    if (!(*out = dup_name(s, n))) {
        if (!n || memchr(s, 0, (size_t)n))
            return gm_fail(err, "%s #%lld has an empty name or a NUL byte in it", what, (long long)i);
        return gm_fail(err, "out of memory");
    }
    return 0;
}

static int parse_kvs(gguf_ctx *g, cur *c, char *err) {
    for (int64_t i = 0; i < g->n_kv; i++) {
        r_kv *kv = &g->kv[i];
        if (read_name(c, "key", i, &kv->key, err) || parse_value(c, kv, err)) return -1;
    }
    if (!g->n_kv) return 0;
    for (int64_t i = 0; i < g->n_kv; i++) g->kv_sorted[i] = &g->kv[i];
    int64_t dup = sort_index(g->kv_sorted, g->n_kv, sizeof *g->kv_sorted, cmp_kv);
    return dup ? gm_fail(err, "duplicate key '%s'", g->kv_sorted[dup]->key) : 0;
}

static const r_kv *find_kv(const gguf_ctx *g, const char *key) {
    if (!g || !key || !g->n_kv) return NULL;
    r_kv probe = {.key = (char *)key}, *pp = &probe;
    r_kv **hit = bsearch(&pp, g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_kv);
    return hit ? *hit : NULL;
}

static int parse_tensor_infos(gguf_ctx *g, cur *c, uint64_t *offsets, char *err) {
    for (int64_t i = 0; i < g->n_t; i++) {
        gguf_tensor *t = &g->t[i];
        char *name;
        uint32_t n_dims, type;
        if (read_name(c, "tensor", i, &name, err)) return -1;
        t->name = name;
        if (rd_u32(c, &n_dims)) return gm_fail(err, TRUNC "info of tensor '%s' runs past the end", t->name);
        if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
            return gm_fail(err, "tensor '%s' has %u dimensions (1 to %d allowed)", t->name, n_dims, GGUF_MAX_DIMS);
        t->n_dims = (int)n_dims;
        /* Elements ≤ file size (each takes ≥ 2 bytes), checked by division
         * so the product never overflows. */
        uint64_t n_el = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            uint64_t ne = 1;
            if (d < t->n_dims && rd_u64(c, &ne))
                return gm_fail(err, TRUNC "shape of tensor '%s' runs past the end", t->name);
            if (ne < 1) return gm_fail(err, "tensor '%s' has ne[%d] = 0", t->name, d);
            if (ne > (uint64_t)g->size / n_el)
                return gm_fail(err, "tensor '%s' has more elements than the file has bytes", t->name);
            n_el *= ne;
            t->ne[d] = (int64_t)ne;
        }
        t->n_elements = (int64_t)n_el;
        if (rd_u32(c, &type) || rd_u64(c, &offsets[i]))
            return gm_fail(err, TRUNC "info of tensor '%s' runs past the end", t->name);
        if (type != GGUF_TENSOR_F32 && type != GGUF_TENSOR_F16)
            return gm_fail(err, "unsupported tensor type %u for '%s' (only F32 and F16)", type, t->name);
        t->type = (int)type;
        t->n_bytes = (size_t)n_el * tensor_elem_size(t->type);
    }
    return 0;
}

/* Places each tensor's data in the file and checks the ranges. */
static int place_tensors(gguf_ctx *g, uint64_t data_start, const uint64_t *offsets, char *err) {
    for (int64_t i = 0; i < g->n_t; i++) {
        gguf_tensor *t = &g->t[i];
        uint64_t off = offsets[i];
        if (off % g->alignment)
            return gm_fail(err, "tensor '%s' offset %llu is not a multiple of the alignment %u", t->name,
                           (unsigned long long)off, g->alignment);
        if (data_start > g->size || off > g->size - data_start || t->n_bytes > g->size - data_start - off)
            return gm_fail(err, TRUNC "data of tensor '%s' (%zu bytes at %llu) runs past the end of the file (%zu bytes)",
                           t->name, t->n_bytes, (unsigned long long)(data_start + off), g->size);
        /* With an alignment of 1 or 2 the data could sit at an odd address
         * (the mapping itself is page-aligned); refuse, so callers may read
         * tensor data as float/uint16 arrays. */
        if ((data_start + off) % tensor_elem_size(t->type))
            return gm_fail(err, "data of tensor '%s' is not aligned to its element size", t->name);
        t->data = g->map + data_start + off;
    }
    if (!g->n_t) return 0;
    for (int64_t i = 0; i < g->n_t; i++) g->t_sorted[i] = &g->t[i];
    int64_t dup = sort_index(g->t_sorted, g->n_t, sizeof *g->t_sorted, cmp_tensor_name);
    if (dup) return gm_fail(err, "duplicate tensor name '%s'", g->t_sorted[dup]->name);
    /* Overlap check on a scratch order by address; t_sorted is re-sorted by
     * name afterwards. */
    qsort(g->t_sorted, (size_t)g->n_t, sizeof *g->t_sorted, cmp_tensor_data);
    for (int64_t i = 1; i < g->n_t; i++) {
        const gguf_tensor *a = g->t_sorted[i - 1], *b = g->t_sorted[i];
        if ((const uint8_t *)a->data + a->n_bytes > (const uint8_t *)b->data)
            return gm_fail(err, "data of tensors '%s' and '%s' overlap", a->name, b->name);
    }
    qsort(g->t_sorted, (size_t)g->n_t, sizeof *g->t_sorted, cmp_tensor_name);
    return 0;
}

static int parse(gguf_ctx *g, char *err) {
    cur c = {g->map, g->size, 0};
    uint64_t n_t, n_kv;
    if (g->size < 4 || memcmp(g->map, "GGUF", 4) != 0) return gm_fail(err, "not a GGUF file (bad magic)");
    if (rd_u32(&(cur){g->map, g->size, 4}, &g->version))
        return gm_fail(err, TRUNC "%zu bytes, shorter than a GGUF header", g->size);
    if (g->version != GGUF_VERSION) {
        /* A big-endian GGUF file shows its version byte-swapped. */
        if (g->version == (uint32_t)GGUF_VERSION << 24)
            return gm_fail(err, "unsupported GGUF version %u (a big-endian file?)", g->version);
        return gm_fail(err, "unsupported GGUF version %u (only %d)", g->version, GGUF_VERSION);
    }
    c.pos = 8;
    if (rd_u64(&c, &n_t) || rd_u64(&c, &n_kv))
        return gm_fail(err, TRUNC "%zu bytes, shorter than a GGUF header", g->size);
    /* Refuse counts the file cannot hold before allocating anything. */
    uint64_t room = g->size - GGUF_HEADER_BYTES;
    if (n_kv > room / GGUF_MIN_KV_BYTES)
        return gm_fail(err, TRUNC "%llu keys cannot fit in %zu bytes", (unsigned long long)n_kv, g->size);
    if (n_t > room / GGUF_MIN_TENSOR_BYTES)
        return gm_fail(err, TRUNC "%llu tensors cannot fit in %zu bytes", (unsigned long long)n_t, g->size);
    if (n_kv * GGUF_MIN_KV_BYTES + n_t * GGUF_MIN_TENSOR_BYTES > room)
        return gm_fail(err, TRUNC "%llu keys and %llu tensors cannot fit in %zu bytes", (unsigned long long)n_kv,
                       (unsigned long long)n_t, g->size);
    g->n_kv = (int64_t)n_kv;
    g->n_t = (int64_t)n_t;
    if (n_kv && (!(g->kv = calloc(n_kv, sizeof *g->kv)) || !(g->kv_sorted = calloc(n_kv, sizeof *g->kv_sorted))))
        return gm_fail(err, "out of memory");
    if (n_t && (!(g->t = calloc(n_t, sizeof *g->t)) || !(g->t_sorted = calloc(n_t, sizeof *g->t_sorted))))
        return gm_fail(err, "out of memory");
    if (parse_kvs(g, &c, err)) return -1;

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const r_kv *a = find_kv(g, GGUF_KEY_ALIGNMENT);
    if (a) {
        if (a->type == GGUF_TYPE_UINT32) memcpy(&g->alignment, a->val, 4);
        if (a->type != GGUF_TYPE_UINT32 || !is_pow2(g->alignment))
            return gm_fail(err, "%s must be a u32 power of two (got a %s%s)", GGUF_KEY_ALIGNMENT,
                           type_name(a->type), a->type == GGUF_TYPE_UINT32 ? " that is not" : "");
    }

    uint64_t *offsets = n_t ? malloc(n_t * sizeof *offsets) : NULL;
    if (n_t && !offsets) return gm_fail(err, "out of memory");
    int rc = parse_tensor_infos(g, &c, offsets, err);
    if (!rc) rc = place_tensors(g, align_up(c.pos, g->alignment), offsets, err);
    free(offsets);
    return rc;
}

static int load_map(gguf_ctx *g, int fd, const char *path, char *err) {
    void *m = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) return gm_fail(err, "cannot map '%s': %s", path, strerror(errno));
    g->map = m;
    return 0;
}

/* Page-aligned like a mapping, so tensor data keeps its file alignment. */
static int load_heap(gguf_ctx *g, int fd, const char *path, char *err) {
    void *m = NULL;
    if (posix_memalign(&m, 4096, g->size)) return gm_fail(err, "out of memory");
    for (size_t got = 0; got < g->size;) {
        ssize_t r = pread(fd, (uint8_t *)m + got, g->size - got, (off_t)got);
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            free(m);
            return gm_fail(err, "cannot read '%s': %s", path, strerror(e));
        }
        got += (size_t)r;
    }
    g->map = m;
    g->heap = 1;
    return 0;
}

gguf_ctx *gguf_open(const char *path, char *err) {
    if (err) err[0] = 0;
    if (!path) { gm_fail(err, "gguf_open: NULL path"); return NULL; }
    if (!host_is_little_endian()) { gm_fail(err, "GGUF reading needs a little-endian host"); return NULL; }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { gm_fail(err, "cannot open '%s': %s", path, strerror(errno)); return NULL; }
    gguf_ctx *g = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        gm_fail(err, "cannot stat '%s': %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        gm_fail(err, "'%s' is not a regular file", path);
    } else if (st.st_size == 0) {
        gm_fail(err, "'%s' is empty, not a GGUF file", path);
    } else if ((uint64_t)st.st_size > SIZE_MAX) {
        gm_fail(err, "'%s' is too large to map", path);
    } else if (!(g = calloc(1, sizeof *g))) {
        gm_fail(err, "out of memory");
    } else {
        g->size = (size_t)st.st_size;
        if (GGUF_HEAP_COPY ? load_heap(g, fd, path, err) : load_map(g, fd, path, err)) {
            free(g);
            g = NULL;
        } else if (parse(g, err)) {
            gguf_close(g);
            g = NULL;
        }
    }
    close(fd); /* the mapping stays valid without the descriptor */
    return g;
}

void gguf_close(gguf_ctx *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv && g->kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str_off);
    }
    for (int64_t i = 0; i < g->n_t && g->t; i++) free((char *)g->t[i].name);
    GM_FREE_ALL(g->kv, g->kv_sorted, g->t, g->t_sorted);
    if (g->heap) free(g->map);
    else if (g->map) munmap(g->map, g->size);
    free(g);
}

/* ---- queries ------------------------------------------------------------ */

uint32_t gguf_version(const gguf_ctx *g) { return g ? g->version : 0; }
int64_t gguf_n_keys(const gguf_ctx *g) { return g ? g->n_kv : 0; }
const char *gguf_key_name(const gguf_ctx *g, int64_t i) {
    return g && i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}
int gguf_key_type(const gguf_ctx *g, const char *key) {
    const r_kv *kv = find_kv(g, key);
    return kv ? (int)kv->type : -1;
}

/* The key, if present and of the given type (elem_type for arrays). */
static const r_kv *get_typed(const gguf_ctx *g, const char *key, uint32_t type, uint32_t elem, char *err) {
    if (err) err[0] = 0;
    const r_kv *kv = find_kv(g, key);
    if (!kv) {
        gm_fail(err, "missing key '%s'", key ? key : "(null)");
        return NULL;
    }
    if (kv->type != type) {
        gm_fail(err, "key '%s' is a %s, expected a %s", key, type_name(kv->type), type_name(type));
        return NULL;
    }
    if (type == GGUF_TYPE_ARRAY && kv->elem_type != elem) {
        gm_fail(err, "key '%s' is an array of %s, expected %s", key, type_name(kv->elem_type), type_name(elem));
        return NULL;
    }
    return kv;
}

static int get_scalar(const gguf_ctx *g, const char *key, uint32_t type, void *out, char *err) {
    const r_kv *kv = get_typed(g, key, type, 0, err);
    if (!kv) return -1;
    if (out) memcpy(out, kv->val, scalar_size(type));
    return 0;
}

int gguf_get_u32(const gguf_ctx *g, const char *key, uint32_t *out, char *err) { return get_scalar(g, key, GGUF_TYPE_UINT32, out, err); }
int gguf_get_i32(const gguf_ctx *g, const char *key, int32_t *out, char *err) { return get_scalar(g, key, GGUF_TYPE_INT32, out, err); }
int gguf_get_u64(const gguf_ctx *g, const char *key, uint64_t *out, char *err) { return get_scalar(g, key, GGUF_TYPE_UINT64, out, err); }
int gguf_get_f32(const gguf_ctx *g, const char *key, float *out, char *err) { return get_scalar(g, key, GGUF_TYPE_FLOAT32, out, err); }

static int copy_str(const uint8_t *s, uint64_t n, char **out, char *err) {
    char *p = malloc((size_t)n + 1);
    if (!p) return gm_fail(err, "out of memory");
    memcpy(p, s, (size_t)n);
    p[n] = 0;
    *out = p;
    return 0;
}

int gguf_get_str(const gguf_ctx *g, const char *key, char **out, char *err) {
    const r_kv *kv = get_typed(g, key, GGUF_TYPE_STRING, 0, err);
    if (!kv) return -1;
    if (!out) return gm_fail(err, "gguf_get_str('%s'): NULL out", key);
    return copy_str(kv->val, kv->n, out, err);
}

int gguf_get_arr_n(const gguf_ctx *g, const char *key, int elem_type, size_t *n, char *err) {
    if (elem_type < 0 || elem_type >= GGUF_N_TYPES || elem_type == GGUF_TYPE_ARRAY)
        return gm_fail(err, "gguf_get_arr_n('%s'): bad element type %d", key ? key : "(null)", elem_type);
    const r_kv *kv = get_typed(g, key, GGUF_TYPE_ARRAY, (uint32_t)elem_type, err);
    if (!kv) return -1;
    if (n) *n = (size_t)kv->n;
    return 0;
}

/* The pointer is into the mapping at whatever offset the file put the array,
 * so it may be unaligned for the element type: copy out with memcpy. */
int gguf_get_arr_data(const gguf_ctx *g, const char *key, int elem_type, const void **data, size_t *n, char *err) {
    if (elem_type < 0 || elem_type >= GGUF_N_TYPES || !scalar_size((uint32_t)elem_type))
        return gm_fail(err, "gguf_get_arr_data('%s'): element type %d is not numeric", key ? key : "(null)", elem_type);
    const r_kv *kv = get_typed(g, key, GGUF_TYPE_ARRAY, (uint32_t)elem_type, err);
    if (!kv) return -1;
    if (data) *data = kv->val;
    if (n) *n = (size_t)kv->n;
    return 0;
}

int gguf_get_arr_str(const gguf_ctx *g, const char *key, size_t i, char **out, char *err) {
    const r_kv *kv = get_typed(g, key, GGUF_TYPE_ARRAY, GGUF_TYPE_STRING, err);
    if (!kv) return -1;
    if (i >= kv->n)
        return gm_fail(err, "index %zu out of range for array '%s' (%llu strings)", i, key, (unsigned long long)kv->n);
    if (!out) return gm_fail(err, "gguf_get_arr_str('%s'): NULL out", key);
    uint64_t len;
    memcpy(&len, g->map + kv->str_off[i], 8); /* bounds checked at open */
    return copy_str(g->map + kv->str_off[i] + 8, len, out, err);
}

int64_t gguf_n_tensors(const gguf_ctx *g) { return g ? g->n_t : 0; }

const gguf_tensor *gguf_tensor_at(const gguf_ctx *g, int64_t i) {
    return g && i >= 0 && i < g->n_t ? &g->t[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_ctx *g, const char *name) {
    if (!g || !name || !g->n_t) return NULL;
    gguf_tensor probe = {.name = name}, *pp = &probe;
    gguf_tensor **hit = bsearch(&pp, g->t_sorted, (size_t)g->n_t, sizeof *g->t_sorted, cmp_tensor_name);
    return hit ? *hit : NULL;
}

/* Formats ne[0..n_dims-1] as "[a, b, c]". */
static void shape_str(char *buf, size_t cap, int n_dims, const int64_t *ne) {
    size_t k = 0;
    buf[0] = 0;
    for (int d = 0; d < n_dims && k < cap; d++) {
        int w = snprintf(buf + k, cap - k, "%s%lld", d ? ", " : "[", (long long)ne[d]);
        if (w < 0) return;
        k += (size_t)w;
    }
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

/* Shapes compare with trailing 1s ignored: ggml writes n_dims without
 * trailing unit dimensions, so a (1, n) bias may come back with n_dims 1. */
int gguf_read_f32(const gguf_ctx *g, const char *name, int n_dims, const int64_t *ne, float *out, char *err) {
    if (err) err[0] = 0;
    const gguf_tensor *t = gguf_find_tensor(g, name);
    if (!t) return gm_fail(err, "missing tensor '%s'", name ? name : "(null)");
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne || !out)
        return gm_fail(err, "gguf_read_f32('%s'): bad arguments (n_dims %d)", name, n_dims);
    int same = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        if ((d < n_dims ? ne[d] : 1) != t->ne[d]) same = 0;
    if (!same) {
        char want[96], have[96];
        shape_str(want, sizeof want, n_dims, ne);
        shape_str(have, sizeof have, t->n_dims, t->ne);
        return gm_fail(err, "tensor '%s' has shape %s, expected %s", name, have, want);
    }
    if (t->type == GGUF_TENSOR_F32) {
        memcpy(out, t->data, t->n_bytes);
    } else {
        const uint8_t *p = t->data;
        for (int64_t i = 0; i < t->n_elements; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = f16_to_f32(h);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Listing the metadata (public: gm_gguf_keys)                               */
/* ------------------------------------------------------------------------ */

/* A scalar of GGUF type `type` at p, as text. The file is little-endian;
 * so are the machines we build for (gguf_open refuses others). */
static void scalar_text(uint32_t type, const uint8_t *p, char *out, size_t n) {
    union { uint8_t b[8]; uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            float f32; uint64_t u64; int64_t i64; double f64; } v;
    memset(&v, 0, sizeof v);
    memcpy(v.b, p, scalar_size(type)); /* 0 bytes for a type without a scalar */
    switch (type) {
    case GGUF_TYPE_UINT8: snprintf(out, n, "%u", v.u8); break;
    case GGUF_TYPE_INT8: snprintf(out, n, "%d", v.i8); break;
    case GGUF_TYPE_UINT16: snprintf(out, n, "%u", v.u16); break;
    case GGUF_TYPE_INT16: snprintf(out, n, "%d", v.i16); break;
    case GGUF_TYPE_UINT32: snprintf(out, n, "%u", v.u32); break;
    case GGUF_TYPE_INT32: snprintf(out, n, "%d", v.i32); break;
    case GGUF_TYPE_FLOAT32: snprintf(out, n, "%.9g", v.f32); break;
    case GGUF_TYPE_BOOL: snprintf(out, n, "%s", v.u8 ? "true" : "false"); break;
    case GGUF_TYPE_UINT64: snprintf(out, n, "%llu", (unsigned long long)v.u64); break;
    case GGUF_TYPE_INT64: snprintf(out, n, "%lld", (long long)v.i64); break;
    case GGUF_TYPE_FLOAT64: snprintf(out, n, "%.17g", v.f64); break;
    default: snprintf(out, n, "?"); break;
    }
}

int gm_gguf_keys(const char *path, gm_gguf_key_fn fn, void *user, char *err) {
    if (!path || !fn) return gm_fail(err, "gguf keys: missing path or callback");
    gguf_ctx *g = gguf_open(path, err);
    if (!g) return -1;
    char *text = malloc(GM_GGUF_VALUE_MAX);
    if (!text) {
        gguf_close(g);
        return gm_fail(err, "out of memory");
    }
    for (int64_t i = 0; i < g->n_kv; i++) {
        const r_kv *kv = &g->kv[i];
        if (kv->type == GGUF_TYPE_STRING) {
            /* At most GM_GGUF_VALUE_MAX - 1 bytes: a key may hold a whole
             * document, a listing wants its start. */
            size_t len = kv->n < GM_GGUF_VALUE_MAX - 1 ? (size_t)kv->n : GM_GGUF_VALUE_MAX - 1;
            memcpy(text, kv->val, len);
            text[len] = 0;
        } else if (kv->type == GGUF_TYPE_ARRAY) {
            snprintf(text, GM_GGUF_VALUE_MAX, "[%llu elements]", (unsigned long long)kv->n);
        } else {
            scalar_text(kv->type, kv->val, text, GM_GGUF_VALUE_MAX);
        }
        if (fn(user, kv->key, text)) break;
    }
    free(text);
    gguf_close(g);
    return 0;
}
