/*
 * gguf.h — GGUF v3 model files: typed key-value metadata and named tensors,
 * little-endian, 32-byte aligned data, memory-mapped on load.
 *
 * Every read is validated: a truncated, corrupted or foreign file gives a
 * one-line error, never a crash (offsets, sizes and counts are checked against
 * the file size before use).
 */
#ifndef GM_GGUF_H
#define GM_GGUF_H
#include <stddef.h>
#include <stdint.h>

/* GGUF value types (spec numbering). */
enum {
    GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2, GGUF_TYPE_INT16 = 3, GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5, GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7, GGUF_TYPE_STRING = 8, GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11, GGUF_TYPE_FLOAT64 = 12,
};
/* Tensor types we read and write (ggml numbering). */
enum { GGUF_TENSOR_F32 = 0, GGUF_TENSOR_F16 = 1 };

/* ---- writing ------------------------------------------------------------ */
typedef struct gguf_writer gguf_writer;
gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
int gguf_set_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_set_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_set_u64(gguf_writer *w, const char *key, uint64_t v);
int gguf_set_f32(gguf_writer *w, const char *key, float v);
int gguf_set_str(gguf_writer *w, const char *key, const char *v);
int gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *v, size_t n);
int gguf_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, size_t n);
int gguf_set_arr_u32(gguf_writer *w, const char *key, const uint32_t *v, size_t n);
int gguf_set_arr_f32(gguf_writer *w, const char *key, const float *v, size_t n);
/* Adds a tensor; dims in GGUF order (ne[0] = fastest/innermost, i.e. a
 * row-major (rows, cols) matrix is ne = {cols, rows}). data is copied at
 * write time, so it must stay valid until gguf_write_file returns.
 * type: GGUF_TENSOR_F32 or GGUF_TENSOR_F16 (data is always given as float;
 * F16 is converted on write). */
int gguf_add_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne, const float *data);
/* Writes atomically (temporary file + fsync + rename). */
int gguf_write_file(gguf_writer *w, const char *path, char *err);

/* ---- reading ------------------------------------------------------------ */
typedef struct gguf_ctx gguf_ctx;
typedef struct {
    const char *name;
    int type;            /* GGUF_TENSOR_* */
    int n_dims;
    int64_t ne[4];       /* GGUF order, unused dims = 1 */
    int64_t n_elements;
    const void *data;    /* into the mapping */
    size_t n_bytes;
} gguf_tensor;

gguf_ctx *gguf_open(const char *path, char *err);
void gguf_close(gguf_ctx *c);
uint32_t gguf_version(const gguf_ctx *c);
int64_t gguf_n_keys(const gguf_ctx *c);
const char *gguf_key_name(const gguf_ctx *c, int64_t i);
int gguf_key_type(const gguf_ctx *c, const char *key); /* -1 if absent */
/* Typed getters: 0 on success; -1 (with err) if absent or of another type. */
int gguf_get_u32(const gguf_ctx *c, const char *key, uint32_t *out, char *err);
int gguf_get_i32(const gguf_ctx *c, const char *key, int32_t *out, char *err);
int gguf_get_u64(const gguf_ctx *c, const char *key, uint64_t *out, char *err);
int gguf_get_f32(const gguf_ctx *c, const char *key, float *out, char *err);
/* Strings point into the mapping and are NOT NUL-terminated in the file:
 * the getter returns a malloc'd NUL-terminated copy (caller frees). */
int gguf_get_str(const gguf_ctx *c, const char *key, char **out, char *err);
/* Arrays: element count and, for numeric arrays, a pointer to the packed
 * little-endian elements in the mapping (elem type must match). */
int gguf_get_arr_n(const gguf_ctx *c, const char *key, int elem_type, size_t *n, char *err);
int gguf_get_arr_data(const gguf_ctx *c, const char *key, int elem_type, const void **data, size_t *n, char *err);
/* i-th string of a string array, malloc'd copy. */
int gguf_get_arr_str(const gguf_ctx *c, const char *key, size_t i, char **out, char *err);
int64_t gguf_n_tensors(const gguf_ctx *c);
const gguf_tensor *gguf_tensor_at(const gguf_ctx *c, int64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_ctx *c, const char *name); /* NULL if absent */
/* Copies a tensor into float32 (converting F16) after checking its shape
 * equals ne[0..n_dims-1]. */
int gguf_read_f32(const gguf_ctx *c, const char *name, int n_dims, const int64_t *ne, float *out, char *err);

#endif
