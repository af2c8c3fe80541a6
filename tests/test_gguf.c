/* test_gguf.c — GGUF files: a write → read round trip of every value kind and
 * F32/F16 tensors of several shapes, half-precision rounding (all 65536 half
 * values and the tie cases), the atomic write, and robustness: every
 * truncation, every byte of the metadata overwritten with edge values, random
 * corruptions, and hand-made foreign or broken files that must each fail with
 * their own one-line reason. Run it under ASan/UBSan (make sanitize) to prove
 * the corrupt inputs are read within bounds. */
#include "getmusic.h"
#include "model/gguf.h"
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <unistd.h>

static char tmp_dir[64];

/* A path inside the test's temporary folder (two rotating buffers). */
static const char *tpath(const char *name) {
    static char buf[2][256];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_dir, name);
    return buf[k];
}

static int one_line(const char *err) { return err[0] && !strchr(err, '\n'); }

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) { /* xorshift64*, fixed seed: reproducible */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static int write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(p, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

/* ======================================================================== */
/* Building files by hand                                                    */
/* ======================================================================== */

typedef struct { uint8_t p[16384]; size_t n; } fb;

static void fb_bytes(fb *b, const void *p, size_t n) { memcpy(b->p + b->n, p, n); b->n += n; }
static void fb_u8(fb *b, uint8_t v) { fb_bytes(b, &v, 1); }
static void fb_u32(fb *b, uint32_t v) { fb_bytes(b, &v, 4); }
static void fb_u64(fb *b, uint64_t v) { fb_bytes(b, &v, 8); }
static void fb_str(fb *b, const char *s) { fb_u64(b, strlen(s)); fb_bytes(b, s, strlen(s)); }
static void fb_pad(fb *b, size_t a) { while (b->n % a) fb_u8(b, 0); }
static void fb_header(fb *b, uint64_t n_tensors, uint64_t n_kv) {
    b->n = 0;
    fb_bytes(b, "GGUF", 4);
    fb_u32(b, 3);
    fb_u64(b, n_tensors);
    fb_u64(b, n_kv);
}
/* A tensor info: name, n_dims, ne[], type, offset. */
static void fb_tensor(fb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off) {
    fb_str(b, name);
    fb_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) fb_u64(b, ne[d]);
    fb_u32(b, type);
    fb_u64(b, off);
}

/* Writes b to a file and expects gguf_open to fail with `needle` in a
 * one-line reason. */
static void expect_error(const char *what, const fb *b, const char *needle) {
    char err[GM_ERR_SIZE] = "";
    const char *path = tpath("bad.gguf");
    CHECK(write_bytes(path, b->p, b->n) == 0, "%s: write", what);
    gguf_ctx *g = gguf_open(path, err);
    CHECK(!g, "%s: opened a broken file", what);
    CHECK(one_line(err) && strstr(err, needle), "%s: error '%s' lacks '%s'", what, err, needle);
    gguf_close(g);
}

static gguf_ctx *open_fb(const fb *b, char *err) {
    const char *path = tpath("hand.gguf");
    if (write_bytes(path, b->p, b->n)) return NULL;
    return gguf_open(path, err);
}

/* ======================================================================== */
/* Half precision reference                                                  */
/* ======================================================================== */

/* The value of half bit pattern h, computed independently of gguf.c. */
static float half_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v;
    if (e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexpf((float)m, -24);
    else v = ldexpf((float)(1024 + m), e - 25);
    return s ? -v : v;
}

/* ======================================================================== */
/* Round trip                                                                */
/* ======================================================================== */

#define N_W2 15
static float w2[N_W2], one_v[1] = {-2.5f}, h3[12], x4[12], h1[7];

static void fill_tensors(void) {
    for (int i = 0; i < N_W2; i++) w2[i] = (float)i * 0.37f - 2.0f;
    for (int i = 0; i < 12; i++) h3[i] = sinf((float)i) * 100.0f;
    for (int i = 0; i < 12; i++) x4[i] = 1.0f / (float)(i + 1);
    for (int i = 0; i < 7; i++) h1[i] = (float)i * 1e-3f - 3e-3f;
}

/* The writer used by the round trip and the robustness tests. */
static gguf_writer *make_writer(void) {
    static const char *strs[] = {"x", "", "longer string \xc3\xbc"};
    static const int32_t ai[] = {-1, 0, 7, INT32_MIN, INT32_MAX};
    static const uint32_t au[] = {1, 2, 3, UINT32_MAX};
    static const float af[] = {0.5f, -1.25f, 1e30f};
    gguf_writer *w = gguf_writer_new();
    int rc = 0;
    rc |= gguf_set_str(w, "general.architecture", "getmusic");
    rc |= gguf_set_u32(w, "dup", 1); /* replaced below, keeps its place */
    rc |= gguf_set_u32(w, "a.u32", 0xDEADBEEFu);
    rc |= gguf_set_i32(w, "a.i32", -123456);
    rc |= gguf_set_u64(w, "a.u64", (UINT64_C(1) << 40) + 5);
    rc |= gguf_set_f32(w, "a.f32", 3.25f);
    rc |= gguf_set_str(w, "a.empty", "");
    rc |= gguf_set_arr_str(w, "v.str", strs, 3);
    rc |= gguf_set_arr_i32(w, "v.i32", ai, 5);
    rc |= gguf_set_arr_u32(w, "v.u32", au, 4);
    rc |= gguf_set_arr_f32(w, "v.f32", af, 3);
    rc |= gguf_set_arr_i32(w, "v.none", NULL, 0);
    rc |= gguf_set_str(w, "dup", "two");
    CHECK(rc == 0, "setters");
    rc = 0;
    rc |= gguf_add_tensor(w, "w.2d", GGUF_TENSOR_F32, 2, (const int64_t[]){5, 3}, w2);
    rc |= gguf_add_tensor(w, "one", GGUF_TENSOR_F32, 1, (const int64_t[]){1}, one_v);
    rc |= gguf_add_tensor(w, "h.3d", GGUF_TENSOR_F16, 3, (const int64_t[]){3, 2, 2}, h3);
    rc |= gguf_add_tensor(w, "x.4d", GGUF_TENSOR_F32, 4, (const int64_t[]){2, 3, 1, 2}, x4);
    rc |= gguf_add_tensor(w, "h1", GGUF_TENSOR_F16, 1, (const int64_t[]){7}, h1);
    CHECK(rc == 0, "add_tensor");
    return w;
}
#define LAST_TENSOR_BYTES 14 /* h1: 7 halves */
#define DATA_BYTES (64 + 32 + 32 + 64 + 32) /* each tensor padded to 32 */

static void test_roundtrip(const char *path) {
    char err[GM_ERR_SIZE] = "";
    gguf_writer *w = make_writer();
    CHECK(gguf_write_file(w, path, err) == 0, "write: %s", err);
    gguf_writer_free(w);

    gguf_ctx *g = gguf_open(path, err);
    CHECK(g != NULL, "open: %s", err);
    if (!g) return;
    CHECK(gguf_version(g) == 3, "version %u", gguf_version(g));

    /* keys in insertion order, the replaced one in its first place, the
     * alignment key added last */
    static const char *order[] = {"general.architecture", "dup", "a.u32", "a.i32", "a.u64", "a.f32", "a.empty",
                                  "v.str", "v.i32", "v.u32", "v.f32", "v.none", "general.alignment"};
    CHECK(gguf_n_keys(g) == 13, "n_keys %lld", (long long)gguf_n_keys(g));
    for (int i = 0; i < 13 && i < gguf_n_keys(g); i++)
        CHECK(strcmp(gguf_key_name(g, i), order[i]) == 0, "key %d is %s", i, gguf_key_name(g, i));
    CHECK(gguf_key_name(g, 13) == NULL && gguf_key_name(g, -1) == NULL, "key_name out of range");
    CHECK(gguf_key_type(g, "dup") == GGUF_TYPE_STRING, "dup type");
    CHECK(gguf_key_type(g, "v.str") == GGUF_TYPE_ARRAY, "array type");
    CHECK(gguf_key_type(g, "nope") == -1, "absent type");

    uint32_t u32 = 0, al = 0;
    int32_t i32 = 0;
    uint64_t u64 = 0;
    float f32 = 0;
    char *s = NULL;
    CHECK(gguf_get_u32(g, "a.u32", &u32, err) == 0 && u32 == 0xDEADBEEFu, "u32 %x %s", u32, err);
    CHECK(gguf_get_i32(g, "a.i32", &i32, err) == 0 && i32 == -123456, "i32 %d", i32);
    CHECK(gguf_get_u64(g, "a.u64", &u64, err) == 0 && u64 == (UINT64_C(1) << 40) + 5, "u64");
    CHECK(gguf_get_f32(g, "a.f32", &f32, err) == 0 && f32 == 3.25f, "f32 %g", f32);
    CHECK(gguf_get_u32(g, "general.alignment", &al, err) == 0 && al == 32, "alignment %u", al);
    CHECK(gguf_get_str(g, "general.architecture", &s, err) == 0 && s && strcmp(s, "getmusic") == 0, "str");
    free(s);
    s = NULL;
    CHECK(gguf_get_str(g, "a.empty", &s, err) == 0 && s && s[0] == 0, "empty str");
    free(s);
    s = NULL;
    CHECK(gguf_get_str(g, "dup", &s, err) == 0 && s && strcmp(s, "two") == 0, "replaced key");
    free(s);

    size_t n = 0;
    const void *data = NULL;
    static const char *strs[] = {"x", "", "longer string \xc3\xbc"};
    CHECK(gguf_get_arr_n(g, "v.str", GGUF_TYPE_STRING, &n, err) == 0 && n == 3, "arr_str n %zu", n);
    for (size_t i = 0; i < 3; i++) {
        s = NULL;
        CHECK(gguf_get_arr_str(g, "v.str", i, &s, err) == 0 && s && strcmp(s, strs[i]) == 0, "arr_str %zu", i);
        free(s);
    }
    static const int32_t ai[] = {-1, 0, 7, INT32_MIN, INT32_MAX};
    static const uint32_t au[] = {1, 2, 3, UINT32_MAX};
    static const float af[] = {0.5f, -1.25f, 1e30f};
    CHECK(gguf_get_arr_data(g, "v.i32", GGUF_TYPE_INT32, &data, &n, err) == 0 && n == 5 && memcmp(data, ai, sizeof ai) == 0,
          "arr_i32");
    CHECK(gguf_get_arr_data(g, "v.u32", GGUF_TYPE_UINT32, &data, &n, err) == 0 && n == 4 && memcmp(data, au, sizeof au) == 0,
          "arr_u32");
    CHECK(gguf_get_arr_data(g, "v.f32", GGUF_TYPE_FLOAT32, &data, &n, err) == 0 && n == 3 && memcmp(data, af, sizeof af) == 0,
          "arr_f32");
    n = 99;
    CHECK(gguf_get_arr_n(g, "v.none", GGUF_TYPE_INT32, &n, err) == 0 && n == 0, "empty array");
    CHECK(gguf_get_arr_data(g, "v.none", GGUF_TYPE_INT32, &data, &n, err) == 0 && n == 0, "empty array data");

    /* tensors, in the order added */
    static const char *names[] = {"w.2d", "one", "h.3d", "x.4d", "h1"};
    static const int types[] = {GGUF_TENSOR_F32, GGUF_TENSOR_F32, GGUF_TENSOR_F16, GGUF_TENSOR_F32, GGUF_TENSOR_F16};
    static const int dims[] = {2, 1, 3, 4, 1};
    static const int64_t nes[][4] = {{5, 3, 1, 1}, {1, 1, 1, 1}, {3, 2, 2, 1}, {2, 3, 1, 2}, {7, 1, 1, 1}};
    const float *src[] = {w2, one_v, h3, x4, h1};
    CHECK(gguf_n_tensors(g) == 5, "n_tensors %lld", (long long)gguf_n_tensors(g));
    for (int i = 0; i < 5 && i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        CHECK(strcmp(t->name, names[i]) == 0, "tensor %d name %s", i, t->name);
        CHECK(gguf_find_tensor(g, names[i]) == t, "find %s", names[i]);
        CHECK(t->type == types[i] && t->n_dims == dims[i], "tensor %s type %d dims %d", t->name, t->type, t->n_dims);
        CHECK(memcmp(t->ne, nes[i], sizeof nes[i]) == 0, "tensor %s ne", t->name);
        int64_t ne_prod = nes[i][0] * nes[i][1] * nes[i][2] * nes[i][3];
        CHECK(t->n_elements == ne_prod, "tensor %s n_elements", t->name);
        CHECK(t->n_bytes == (size_t)ne_prod * (types[i] == GGUF_TENSOR_F32 ? 4 : 2), "tensor %s n_bytes", t->name);
        CHECK((uintptr_t)t->data % 32 == 0, "tensor %s data not 32-byte aligned", t->name);
        float out[16] = {0};
        CHECK(gguf_read_f32(g, names[i], dims[i], nes[i], out, err) == 0, "read_f32 %s: %s", names[i], err);
        int ok = 1;
        for (int64_t k = 0; k < ne_prod; k++) {
            float x = src[i][k];
            if (types[i] == GGUF_TENSOR_F32) ok &= out[k] == x;
            else ok &= fabsf(out[k] - x) <= fabsf(x) * 0x1p-11f + 0x1p-25f;
        }
        CHECK(ok, "tensor %s values", names[i]);
    }
    CHECK(gguf_tensor_at(g, 5) == NULL && gguf_tensor_at(g, -1) == NULL, "tensor_at out of range");
    CHECK(gguf_find_tensor(g, "nope") == NULL, "find absent tensor");
    /* trailing unit dimensions do not matter */
    float o1[1] = {0};
    CHECK(gguf_read_f32(g, "one", 3, (const int64_t[]){1, 1, 1}, o1, err) == 0 && o1[0] == -2.5f, "(1,1,1) = (1): %s", err);
    CHECK(gguf_read_f32(g, "x.4d", 4, (const int64_t[]){2, 3, 1, 2}, (float[12]){0}, err) == 0, "4d");

    /* ---- getter errors ---- */
    err[0] = 0;
    CHECK(gguf_get_u32(g, "missing.key", &u32, err) == -1 && strstr(err, "missing key 'missing.key'"), "missing: %s", err);
    CHECK(gguf_get_u32(g, "dup", &u32, err) == -1 && strstr(err, "'dup'") && strstr(err, "string"), "wrong type: %s", err);
    CHECK(gguf_get_i32(g, "a.u32", &i32, err) == -1 && strstr(err, "expected a i32"), "u32 as i32: %s", err);
    CHECK(gguf_get_f32(g, "v.f32", &f32, err) == -1 && strstr(err, "array"), "array as f32: %s", err);
    CHECK(gguf_get_str(g, "a.u32", &s, err) == -1, "u32 as str");
    CHECK(gguf_get_arr_n(g, "v.u32", GGUF_TYPE_INT32, &n, err) == -1 && strstr(err, "array of u32"), "elem type: %s", err);
    CHECK(gguf_get_arr_n(g, "a.u32", GGUF_TYPE_UINT32, &n, err) == -1, "scalar as array");
    CHECK(gguf_get_arr_data(g, "v.str", GGUF_TYPE_STRING, &data, &n, err) == -1 && strstr(err, "not numeric"),
          "string array data: %s", err);
    CHECK(gguf_get_arr_str(g, "v.str", 3, &s, err) == -1 && strstr(err, "out of range"), "arr_str index: %s", err);
    CHECK(gguf_get_arr_str(g, "v.i32", 0, &s, err) == -1, "arr_str on i32 array");
    CHECK(gguf_get_u32(g, "missing.key", &u32, NULL) == -1, "NULL err");
    CHECK(gguf_read_f32(g, "nope", 1, (const int64_t[]){1}, o1, err) == -1 && strstr(err, "missing tensor 'nope'"),
          "missing tensor: %s", err);
    float big[15];
    CHECK(gguf_read_f32(g, "w.2d", 2, (const int64_t[]){3, 5}, big, err) == -1 && strstr(err, "[5, 3]") &&
              strstr(err, "[3, 5]"),
          "shape mismatch: %s", err);
    CHECK(gguf_read_f32(g, "w.2d", 1, (const int64_t[]){15}, big, err) == -1, "flattened shape refused");
    gguf_close(g);
    gguf_close(NULL);
    gguf_writer_free(NULL);
}

/* ======================================================================== */
/* Writer options and errors                                                 */
/* ======================================================================== */

static void test_writer_errors(void) {
    char err[GM_ERR_SIZE] = "";
    float v[4] = {1, 2, 3, 4};
    gguf_writer *w = gguf_writer_new();
    CHECK(gguf_add_tensor(w, "t", GGUF_TENSOR_F32, 1, (const int64_t[]){4}, v) == 0, "add");
    CHECK(gguf_add_tensor(w, "t", GGUF_TENSOR_F32, 1, (const int64_t[]){4}, v) == -1, "duplicate tensor");
    CHECK(gguf_add_tensor(w, "u", GGUF_TENSOR_F32, 5, (const int64_t[]){1, 1, 1, 1, 4}, v) == -1, "5 dims");
    CHECK(gguf_add_tensor(w, "u", GGUF_TENSOR_F32, 0, (const int64_t[]){4}, v) == -1, "0 dims");
    CHECK(gguf_add_tensor(w, "u", GGUF_TENSOR_F32, 2, (const int64_t[]){4, 0}, v) == -1, "ne 0");
    CHECK(gguf_add_tensor(w, "u", 2, 1, (const int64_t[]){4}, v) == -1, "type 2");
    CHECK(gguf_add_tensor(w, "u", GGUF_TENSOR_F32, 1, (const int64_t[]){4}, NULL) == -1, "NULL data");
    CHECK(gguf_add_tensor(w, "", GGUF_TENSOR_F32, 1, (const int64_t[]){4}, v) == -1, "empty name");
    CHECK(gguf_set_str(w, "k", NULL) == -1, "NULL string");
    CHECK(gguf_set_u32(w, "", 1) == -1, "empty key");
    CHECK(gguf_set_arr_str(w, "k", (const char *const[]){"a", NULL}, 2) == -1, "NULL array string");
    /* the first failure is reported by the write, and nothing is written */
    CHECK(gguf_write_file(w, tpath("never.gguf"), err) == -1 && strstr(err, "duplicate tensor name 't'"),
          "sticky error: %s", err);
    CHECK(access(tpath("never.gguf"), F_OK) != 0, "nothing written after an error");
    gguf_writer_free(w);
    CHECK(gguf_write_file(NULL, tpath("never.gguf"), err) == -1, "NULL writer");

    /* a caller-set alignment is used and not duplicated */
    w = gguf_writer_new();
    gguf_set_u32(w, "general.alignment", 64);
    gguf_add_tensor(w, "a", GGUF_TENSOR_F32, 1, (const int64_t[]){3}, v);
    gguf_add_tensor(w, "b", GGUF_TENSOR_F16, 1, (const int64_t[]){1}, v);
    CHECK(gguf_write_file(w, tpath("a64.gguf"), err) == 0, "alignment 64: %s", err);
    gguf_writer_free(w);
    gguf_ctx *g = gguf_open(tpath("a64.gguf"), err);
    CHECK(g && gguf_n_keys(g) == 1, "alignment 64: open %s", err);
    if (g) {
        CHECK((uintptr_t)gguf_tensor_at(g, 0)->data % 64 == 0 && (uintptr_t)gguf_tensor_at(g, 1)->data % 64 == 0,
              "64-byte aligned data");
        CHECK((const uint8_t *)gguf_tensor_at(g, 1)->data - (const uint8_t *)gguf_tensor_at(g, 0)->data == 64,
              "tensor padded to 64");
    }
    gguf_close(g);

    w = gguf_writer_new();
    gguf_set_u32(w, "general.alignment", 48);
    CHECK(gguf_write_file(w, tpath("never.gguf"), err) == -1 && strstr(err, "power of two"), "alignment 48: %s", err);
    gguf_set_u64(w, "general.alignment", 32);
    CHECK(gguf_write_file(w, tpath("never.gguf"), err) == -1 && strstr(err, "u32"), "u64 alignment: %s", err);
    gguf_writer_free(w);

    /* an empty writer makes a valid file */
    w = gguf_writer_new();
    CHECK(gguf_write_file(w, tpath("empty.gguf"), err) == 0, "empty writer: %s", err);
    gguf_writer_free(w);
    g = gguf_open(tpath("empty.gguf"), err);
    CHECK(g && gguf_n_tensors(g) == 0 && gguf_n_keys(g) == 1, "empty file: %s", err);
    gguf_close(g);
}

/* ======================================================================== */
/* Half precision                                                            */
/* ======================================================================== */

static void test_f16(void) {
    char err[GM_ERR_SIZE] = "";
    /* every half value survives float → half → float exactly */
    float *all = malloc(65536 * sizeof *all), *back = malloc(65536 * sizeof *back);
    for (int h = 0; h < 65536; h++) all[h] = half_value((uint16_t)h);
    /* tie and boundary cases: input, expected */
    static const float cases[][2] = {
        {1.0f + 0x1p-11f, 1.0f},                       /* tie → even (down) */
        {1.0f + 3 * 0x1p-11f, 1.0f + 0x1p-9f},         /* tie → even (up) */
        {1.0f + 0x1p-11f + 0x1p-20f, 1.0f + 0x1p-10f}, /* just above a tie */
        {65504.0f, 65504.0f},
        {65519.0f, 65504.0f},
        {65520.0f, INFINITY}, /* tie between 65504 (odd) and 65536 → inf */
        {1e6f, INFINITY},
        {-1e6f, -INFINITY},
        {0x1p-24f, 0x1p-24f},   /* smallest subnormal */
        {0x1p-25f, 0.0f},       /* tie → even (zero) */
        {0x1.8p-24f, 0x1p-23f}, /* 1.5 units: tie → even (2 units) */
        {0x1.4p-24f, 0x1p-24f},
        {0x1p-26f, 0.0f},
        {1e-10f, 0.0f},
        {0x1.ffcp-15f, 0x1p-14f}, /* rounds from the subnormal range up to the smallest normal */
        {0x1.ff8p-15f, 0x1.ff8p-15f},
        {-0.0f, -0.0f},
        {3.14159265f, 3.140625f},
    };
    enum { N_CASES = sizeof cases / sizeof *cases };
    float in[N_CASES + 1], out[N_CASES + 1];
    for (int i = 0; i < N_CASES; i++) in[i] = cases[i][0];
    in[N_CASES] = NAN;

    enum { N_RAND = 4096 };
    float *rnd = malloc(N_RAND * sizeof *rnd), *rback = malloc(N_RAND * sizeof *rback);
    for (int i = 0; i < N_RAND; i++) {
        /* log-uniform magnitudes over the normal half range, random sign */
        float m = ldexpf(1.0f + (float)(rng() % 1000000) / 1e6f, (int)(rng() % 30) - 14);
        rnd[i] = (rng() & 1) ? -m : m;
    }

    gguf_writer *w = gguf_writer_new();
    gguf_add_tensor(w, "all", GGUF_TENSOR_F16, 2, (const int64_t[]){256, 256}, all);
    gguf_add_tensor(w, "cases", GGUF_TENSOR_F16, 1, (const int64_t[]){N_CASES + 1}, in);
    gguf_add_tensor(w, "rand", GGUF_TENSOR_F16, 1, (const int64_t[]){N_RAND}, rnd);
    CHECK(gguf_write_file(w, tpath("f16.gguf"), err) == 0, "write f16: %s", err);
    gguf_writer_free(w);
    gguf_ctx *g = gguf_open(tpath("f16.gguf"), err);
    CHECK(g != NULL, "open f16: %s", err);
    if (g) {
        CHECK(gguf_read_f32(g, "all", 2, (const int64_t[]){256, 256}, back, err) == 0, "read all: %s", err);
        int bad = 0;
        for (int h = 0; h < 65536; h++) {
            int same = isnan(all[h]) ? isnan(back[h]) : memcmp(&all[h], &back[h], 4) == 0;
            if (!same && bad++ < 3) fprintf(stderr, "half %04x: %a -> %a\n", h, all[h], back[h]);
        }
        CHECK(bad == 0, "%d of 65536 half values changed", bad);
        /* and the raw bits are the half patterns themselves */
        const uint16_t *raw = gguf_find_tensor(g, "all")->data;
        bad = 0;
        for (int h = 0; h < 65536; h++)
            if (!isnan(all[h]) && raw[h] != h) bad++;
        CHECK(bad == 0, "%d half bit patterns differ", bad);

        CHECK(gguf_read_f32(g, "cases", 1, (const int64_t[]){N_CASES + 1}, out, err) == 0, "read cases: %s", err);
        for (int i = 0; i < N_CASES; i++)
            CHECK(memcmp(&out[i], &cases[i][1], 4) == 0, "f16(%a) = %a, expected %a", cases[i][0], out[i], cases[i][1]);
        CHECK(isnan(out[N_CASES]), "NaN stays NaN");

        CHECK(gguf_read_f32(g, "rand", 1, (const int64_t[]){N_RAND}, rback, err) == 0, "read rand: %s", err);
        bad = 0;
        for (int i = 0; i < N_RAND; i++) {
            /* within half an ulp (2^-11 relative), and the nearest: the
             * neighbouring halves are no closer */
            float x = rnd[i], y = rback[i];
            if (!(fabsf(x - y) <= fabsf(x) * 0x1p-11f)) bad++;
        }
        CHECK(bad == 0, "%d random values off by more than half an ulp", bad);
    }
    gguf_close(g);
    free(all);
    free(back);
    free(rnd);
    free(rback);
}

/* ======================================================================== */
/* Atomic write                                                              */
/* ======================================================================== */

/* Files in tmp_dir whose name starts with prefix. */
static int count_prefixed(const char *prefix) {
    DIR *d = opendir(tmp_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    if (d) closedir(d);
    return n;
}

static void test_atomic(void) {
    char err[GM_ERR_SIZE] = "";
    const char *target = tpath("keep.gguf");
    CHECK(write_bytes(target, "old contents", 12) == 0, "seed target");

    /* a failing write leaves the old file as it was and no temporary */
    gguf_writer *w = gguf_writer_new();
    gguf_set_u32(w, "general.alignment", 3);
    CHECK(gguf_write_file(w, tpath("keep.gguf"), err) == -1, "bad alignment must fail");
    gguf_writer_free(w);
    size_t n = 0;
    uint8_t *p = test_slurp(tpath("keep.gguf"), &n);
    CHECK(p && n == 12 && memcmp(p, "old contents", 12) == 0, "target untouched");
    free(p);

    /* a folder that does not exist */
    w = make_writer();
    CHECK(gguf_write_file(w, tpath("no/such/dir/x.gguf"), err) == -1 && one_line(err) && strstr(err, "no/such/dir"),
          "missing folder: %s", err);

    /* the target is a folder: the whole file is written, the rename fails,
     * the temporary is removed and the folder stays */
    const char *dirt = tpath("adir.gguf");
    CHECK(mkdir(dirt, 0755) == 0, "mkdir");
    char inner[300];
    snprintf(inner, sizeof inner, "%s/inside", dirt);
    CHECK(write_bytes(inner, "x", 1) == 0, "file in folder");
    CHECK(gguf_write_file(w, tpath("adir.gguf"), err) == -1 && strstr(err, "rename"), "rename over a folder: %s", err);
    struct stat st;
    CHECK(stat(inner, &st) == 0, "folder contents kept");
    unlink(inner);
    rmdir(tpath("adir.gguf"));

    /* a successful write replaces the old file, readable by others */
    CHECK(gguf_write_file(w, tpath("keep.gguf"), err) == 0, "overwrite: %s", err);
    gguf_writer_free(w);
    gguf_ctx *g = gguf_open(tpath("keep.gguf"), err);
    CHECK(g && gguf_n_tensors(g) == 5, "overwritten file reads: %s", err);
    gguf_close(g);
    CHECK(stat(tpath("keep.gguf"), &st) == 0 && (st.st_mode & 0777) == 0644, "mode %o", (unsigned)(st.st_mode & 0777));
    CHECK(count_prefixed("keep.gguf.tmp") == 0 && count_prefixed("adir.gguf.tmp") == 0, "temporaries left behind");
}

/* ======================================================================== */
/* Robustness                                                                */
/* ======================================================================== */

/* Reads everything an opened file offers, so that ASan sees any access
 * outside the mapping. Returns 0 if every access that should work did. */
static int exercise(const gguf_ctx *g) {
    char err[GM_ERR_SIZE];
    int ok = 1;
    volatile uint32_t sink = 0;
    for (int64_t i = 0; i < gguf_n_keys(g); i++) {
        const char *k = gguf_key_name(g, i);
        int type = gguf_key_type(g, k);
        uint64_t v = 0;
        char *s = NULL;
        switch (type) {
        case GGUF_TYPE_UINT32: ok &= gguf_get_u32(g, k, (uint32_t *)&v, err) == 0; break;
        case GGUF_TYPE_INT32: ok &= gguf_get_i32(g, k, (int32_t *)&v, err) == 0; break;
        case GGUF_TYPE_UINT64: ok &= gguf_get_u64(g, k, &v, err) == 0; break;
        case GGUF_TYPE_FLOAT32: ok &= gguf_get_f32(g, k, (float *)&v, err) == 0; break;
        case GGUF_TYPE_STRING:
            ok &= gguf_get_str(g, k, &s, err) == 0;
            free(s);
            break;
        case GGUF_TYPE_ARRAY: {
            int found = 0;
            for (int et = 0; et <= GGUF_TYPE_FLOAT64; et++) {
                size_t n = 0;
                if (et == GGUF_TYPE_ARRAY || gguf_get_arr_n(g, k, et, &n, err)) continue;
                found = 1;
                if (et == GGUF_TYPE_STRING) {
                    for (size_t j = 0; j < n; j++) {
                        s = NULL;
                        ok &= gguf_get_arr_str(g, k, j, &s, err) == 0;
                        if (s) sink += (uint8_t)s[0];
                        free(s);
                    }
                } else {
                    const uint8_t *d = NULL;
                    ok &= gguf_get_arr_data(g, k, et, (const void **)&d, &n, err) == 0;
                    if (n) sink += d[0] + d[n - 1]; /* first and last byte-ish */
                }
            }
            ok &= found;
            break;
        }
        default: ok &= type >= 0; break;
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        ok &= gguf_find_tensor(g, t->name) == t;
        float *buf = malloc((size_t)t->n_elements * sizeof *buf);
        ok &= buf && gguf_read_f32(g, t->name, t->n_dims, t->ne, buf, err) == 0;
        if (buf) {
            uint32_t bits;
            memcpy(&bits, &buf[t->n_elements - 1], 4);
            sink += bits;
        }
        free(buf);
    }
    (void)sink;
    return ok;
}

static void test_truncation(const char *full_path) {
    size_t size = 0;
    uint8_t *full = test_slurp(full_path, &size);
    CHECK(full && size > 0, "read file");
    if (!full) return;
    const char *path = tpath("trunc.gguf");
    CHECK(write_bytes(path, full, size) == 0, "copy");
    /* the last tensor's padding may go; anything before its end may not */
    size_t need = size - (32 - LAST_TENSOR_BYTES % 32) % 32;
    int bad = 0, loaded = 0;
    for (size_t len = size + 1; len-- > 0;) {
        char err[GM_ERR_SIZE] = "";
        if (truncate(path, (off_t)len) != 0) { bad++; break; }
        gguf_ctx *g = gguf_open(path, err);
        int expect_ok = len >= need;
        if (g) loaded++;
        if (expect_ok ? !(g && exercise(g)) : (g != NULL || !one_line(err))) {
            if (bad++ < 3) fprintf(stderr, "truncated to %zu of %zu: %s\n", len, size, g ? "loaded" : err);
        }
        gguf_close(g);
    }
    CHECK(bad == 0, "%d of %zu truncations misbehaved", bad, size + 1);
    CHECK(loaded == (int)(size - need + 1), "%d truncations loaded", loaded);
    free(full);
}

/* Overwrites one byte at a time: every byte of the header, metadata and
 * tensor infos with edge values, then random bytes anywhere. Each file must
 * load (and read within bounds) or fail with a one-line reason. */
static void test_corruption(const char *full_path) {
    size_t size = 0;
    uint8_t *full = test_slurp(full_path, &size);
    if (!full) return;
    const char *path = tpath("corrupt.gguf");
    CHECK(write_bytes(path, full, size) == 0, "copy");
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open rw");
    if (fd < 0) { free(full); return; }
    size_t meta = size - DATA_BYTES; /* where the tensor data starts */
    int bad = 0, loaded = 0, tried = 0;
    for (int round = 0; round < 2; round++) {
        size_t n_iter = round == 0 ? meta * 5 : 500;
        for (size_t it = 0; it < n_iter; it++) {
            size_t pos;
            uint8_t v;
            if (round == 0) {
                pos = it / 5;
                uint8_t b = full[pos];
                const uint8_t vals[5] = {0x00, 0xFF, (uint8_t)(b ^ 0x01), (uint8_t)(b ^ 0x80), (uint8_t)(b + 1)};
                v = vals[it % 5];
            } else {
                pos = (size_t)(rng() % size);
                v = (uint8_t)rng();
            }
            if (v == full[pos]) continue;
            if (pwrite(fd, &v, 1, (off_t)pos) != 1) { bad++; break; }
            char err[GM_ERR_SIZE] = "";
            gguf_ctx *g = gguf_open(path, err);
            tried++;
            if (g) loaded++;
            if (g ? !exercise(g) : !one_line(err)) {
                if (bad++ < 3) fprintf(stderr, "byte %zu = %02x: %s\n", pos, v, g ? "loaded but unreadable" : err);
            }
            gguf_close(g);
            if (pwrite(fd, &full[pos], 1, (off_t)pos) != 1) { bad++; break; }
        }
    }
    close(fd);
    CHECK(bad == 0, "%d of %d corruptions misbehaved", bad, tried);
    CHECK(loaded < tried && loaded > 0, "%d of %d corruptions loaded", loaded, tried);
    free(full);
}

/* ======================================================================== */
/* Hand-made files                                                           */
/* ======================================================================== */

static void test_handmade(void) {
    static fb b;
    char err[GM_ERR_SIZE] = "";

    /* foreign and short files */
    b.n = 0;
    expect_error("zero bytes", &b, "empty");
    fb_bytes(&b, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
    expect_error("PNG", &b, "not a GGUF file");
    b.n = 0;
    fb_bytes(&b, "GGU", 3);
    expect_error("3 bytes", &b, "not a GGUF file");
    b.n = 0;
    fb_bytes(&b, "GGUF", 4);
    expect_error("magic only", &b, "shorter than a GGUF header");
    b.n = 0;
    fb_bytes(&b, "GGUF", 4);
    fb_u32(&b, 1);
    fb_u32(&b, 0);
    fb_u32(&b, 0);
    expect_error("GGUF v1", &b, "unsupported GGUF version 1");
    fb_header(&b, 0, 0);
    memcpy(b.p + 4, "\2\0\0\0", 4);
    expect_error("GGUF v2", &b, "unsupported GGUF version 2");
    memcpy(b.p + 4, "\0\0\0\3", 4);
    expect_error("big-endian", &b, "big-endian");
    fb_header(&b, 0, 0);
    b.n = 20;
    expect_error("short header", &b, "shorter than a GGUF header");

    /* counts */
    fb_header(&b, UINT64_C(1) << 62, 0);
    expect_error("2^62 tensors", &b, "tensors cannot fit");
    fb_header(&b, 0, UINT64_C(1) << 62);
    expect_error("2^62 keys", &b, "keys cannot fit");
    fb_header(&b, UINT64_MAX, UINT64_MAX);
    expect_error("max counts", &b, "cannot fit");
    fb_header(&b, 0, 3);
    fb_str(&b, "k");
    fb_u32(&b, GGUF_TYPE_UINT8);
    fb_u8(&b, 1);
    fb_pad(&b, 8);
    expect_error("3 keys in room for 2", &b, "cannot fit");

    /* keys */
    fb_header(&b, 0, 1);
    fb_u64(&b, 1000);
    fb_bytes(&b, "abc\0\0\0\0\0\0\0\0\0\0", 13);
    expect_error("key length past EOF", &b, "name of key #0 runs past the end");
    fb_header(&b, 0, 1);
    fb_str(&b, "s");
    fb_u32(&b, GGUF_TYPE_STRING);
    fb_u64(&b, UINT64_C(1) << 63);
    fb_bytes(&b, "abcd", 4);
    expect_error("string value past EOF", &b, "string value of key 's' runs past the end");
    fb_header(&b, 0, 1);
    fb_str(&b, "k");
    fb_u32(&b, 13);
    fb_u32(&b, 0);
    expect_error("value type 13", &b, "key 'k' has unknown value type 13");
    fb_header(&b, 0, 1);
    fb_str(&b, "k");
    fb_u32(&b, GGUF_TYPE_UINT64);
    fb_u32(&b, 7);
    expect_error("u64 value past EOF", &b, "value of key 'k' runs past the end");
    fb_header(&b, 0, 1);
    fb_str(&b, "nest");
    fb_u32(&b, GGUF_TYPE_ARRAY);
    fb_u32(&b, GGUF_TYPE_ARRAY);
    fb_u64(&b, 1);
    fb_u32(&b, GGUF_TYPE_UINT8);
    fb_u64(&b, 1);
    fb_u8(&b, 0);
    expect_error("nested array", &b, "key 'nest' is a nested array");
    fb_header(&b, 0, 1);
    fb_str(&b, "arr");
    fb_u32(&b, GGUF_TYPE_ARRAY);
    fb_u32(&b, 77);
    fb_u64(&b, 0);
    expect_error("array element type 77", &b, "array key 'arr' has unknown element type 77");
    fb_header(&b, 0, 1);
    fb_str(&b, "arr");
    fb_u32(&b, GGUF_TYPE_ARRAY);
    fb_u32(&b, GGUF_TYPE_UINT32);
    fb_u64(&b, UINT64_C(1) << 61);
    fb_u32(&b, 1);
    expect_error("array count 2^61", &b, "array 'arr' (2305843009213693952 elements) runs past the end");
    fb_header(&b, 0, 1);
    fb_str(&b, "sa");
    fb_u32(&b, GGUF_TYPE_ARRAY);
    fb_u32(&b, GGUF_TYPE_STRING);
    fb_u64(&b, UINT64_C(1) << 62);
    fb_str(&b, "one");
    expect_error("string array count 2^62", &b, "string array 'sa'");
    fb_header(&b, 0, 1);
    fb_str(&b, "sa");
    fb_u32(&b, GGUF_TYPE_ARRAY);
    fb_u32(&b, GGUF_TYPE_STRING);
    fb_u64(&b, 2);
    fb_str(&b, "one");
    fb_u64(&b, 50);
    fb_bytes(&b, "two", 3);
    expect_error("array string past EOF", &b, "string 1 of array 'sa' runs past the end");
    fb_header(&b, 0, 2);
    fb_str(&b, "k");
    fb_u32(&b, GGUF_TYPE_UINT8);
    fb_u8(&b, 1);
    fb_str(&b, "k");
    fb_u32(&b, GGUF_TYPE_INT8);
    fb_u8(&b, 2);
    expect_error("duplicate key", &b, "duplicate key 'k'");
    fb_header(&b, 0, 1);
    fb_str(&b, "");
    fb_u32(&b, GGUF_TYPE_UINT8);
    fb_u8(&b, 1);
    expect_error("empty key", &b, "key #0 has an empty name");
    fb_header(&b, 0, 1);
    fb_u64(&b, 3);
    fb_bytes(&b, "a\0b", 3);
    fb_u32(&b, GGUF_TYPE_UINT8);
    fb_u8(&b, 1);
    expect_error("NUL in key", &b, "NUL byte");

    /* alignment */
    fb_header(&b, 0, 1);
    fb_str(&b, "general.alignment");
    fb_u32(&b, GGUF_TYPE_UINT32);
    fb_u32(&b, 3);
    expect_error("alignment 3", &b, "general.alignment must be a u32 power of two");
    fb_header(&b, 0, 1);
    fb_str(&b, "general.alignment");
    fb_u32(&b, GGUF_TYPE_UINT32);
    fb_u32(&b, 0);
    expect_error("alignment 0", &b, "power of two");
    fb_header(&b, 0, 1);
    fb_str(&b, "general.alignment");
    fb_u32(&b, GGUF_TYPE_UINT64);
    fb_u64(&b, 32);
    expect_error("u64 alignment", &b, "(got a u64)");

    /* tensor infos: one F32 tensor of 8 elements (32 bytes) unless varied */
    const uint64_t ne8[] = {8}, ne2x4[] = {2, 4};
#define ONE_TENSOR(name, nd, ne, type, off)   \
    do {                                      \
        fb_header(&b, 1, 0);                  \
        fb_tensor(&b, name, nd, ne, type, off); \
        fb_pad(&b, 32);                       \
        for (int z = 0; z < 32; z++) fb_u8(&b, 0); \
    } while (0)
    ONE_TENSOR("t", 1, ne8, GGUF_TENSOR_F32, 0);
    gguf_ctx *g = open_fb(&b, err);
    CHECK(g && gguf_n_tensors(g) == 1 && gguf_find_tensor(g, "t")->n_bytes == 32, "hand-made tensor: %s", err);
    gguf_close(g);
    ONE_TENSOR("t", 7, ((const uint64_t[]){1, 1, 1, 1, 1, 1, 8}), GGUF_TENSOR_F32, 0);
    expect_error("n_dims 7", &b, "tensor 't' has 7 dimensions");
    ONE_TENSOR("t", 0, ne8, GGUF_TENSOR_F32, 0);
    expect_error("n_dims 0", &b, "tensor 't' has 0 dimensions");
    ONE_TENSOR("t", 2, ((const uint64_t[]){8, 0}), GGUF_TENSOR_F32, 0);
    expect_error("ne 0", &b, "tensor 't' has ne[1] = 0");
    ONE_TENSOR("t", 2, ((const uint64_t[]){UINT64_C(1) << 40, UINT64_C(1) << 40}), GGUF_TENSOR_F32, 0);
    expect_error("ne 2^40 x 2^40", &b, "tensor 't' has more elements than the file has bytes");
    ONE_TENSOR("t", 1, ((const uint64_t[]){UINT64_MAX}), GGUF_TENSOR_F32, 0);
    expect_error("ne 2^64-1", &b, "more elements");
    ONE_TENSOR("t", 1, ne8, 2, 0);
    expect_error("Q4_0 tensor", &b, "unsupported tensor type 2 for 't'");
    ONE_TENSOR("t", 1, ne8, 0xFFFFFFFFu, 0);
    expect_error("tensor type 2^32-1", &b, "unsupported tensor type 4294967295 for 't'");
    ONE_TENSOR("t", 1, ne8, GGUF_TENSOR_F32, 32);
    expect_error("offset past EOF", &b, "data of tensor 't' (32 bytes at");
    ONE_TENSOR("t", 1, ne8, GGUF_TENSOR_F32, UINT64_MAX - 31);
    expect_error("offset 2^64-32", &b, "runs past the end");
    ONE_TENSOR("t", 1, ((const uint64_t[]){9}), GGUF_TENSOR_F32, 0);
    expect_error("data one element short", &b, "data of tensor 't' (36 bytes");
    ONE_TENSOR("t", 1, ne8, GGUF_TENSOR_F32, 4);
    expect_error("misaligned offset", &b, "tensor 't' offset 4 is not a multiple of the alignment 32");
    ONE_TENSOR("", 1, ne8, GGUF_TENSOR_F32, 0);
    expect_error("empty tensor name", &b, "tensor #0 has an empty name");
    /* (these two are long enough to pass the count check) */
    fb_header(&b, 1, 0);
    fb_u64(&b, 40);
    for (int z = 0; z < 30; z++) fb_u8(&b, 't');
    expect_error("tensor name past EOF", &b, "name of tensor #0 runs past the end");
    fb_header(&b, 1, 0);
    fb_str(&b, "t");
    fb_u32(&b, 4);
    for (int z = 0; z < 3; z++) fb_u64(&b, 1);
    expect_error("shape past EOF", &b, "shape of tensor 't' runs past the end");

    fb_header(&b, 2, 0);
    fb_tensor(&b, "t", 1, ne8, GGUF_TENSOR_F32, 0);
    fb_tensor(&b, "t", 2, ne2x4, GGUF_TENSOR_F16, 32);
    fb_pad(&b, 32);
    for (int z = 0; z < 64; z++) fb_u8(&b, 0);
    expect_error("duplicate tensor name", &b, "duplicate tensor name 't'");
    fb_header(&b, 2, 0);
    fb_tensor(&b, "a", 1, ((const uint64_t[]){16}), GGUF_TENSOR_F32, 0);
    fb_tensor(&b, "b", 1, ne8, GGUF_TENSOR_F32, 32);
    fb_pad(&b, 32);
    for (int z = 0; z < 64; z++) fb_u8(&b, 0);
    expect_error("overlap", &b, "data of tensors 'a' and 'b' overlap");

    /* alignment 1: data may start anywhere, but floats must still be
     * 4-byte aligned in the file */
    for (int shift = 0; shift < 2; shift++) {
        fb_header(&b, 1, 1);
        fb_str(&b, "general.alignment");
        fb_u32(&b, GGUF_TYPE_UINT32);
        fb_u32(&b, 1);
        size_t info_end = b.n + 8 + 1 + 4 + 8 + 4 + 8;
        uint64_t off = (4 - info_end % 4) % 4 + (uint64_t)shift;
        fb_tensor(&b, "t", 1, ne8, GGUF_TENSOR_F32, off);
        for (uint64_t z = 0; z < off + 32; z++) fb_u8(&b, 0);
        if (shift) {
            expect_error("unaligned float data", &b, "data of tensor 't' is not aligned to its element size");
        } else {
            g = open_fb(&b, err);
            CHECK(g && (uintptr_t)gguf_tensor_at(g, 0)->data % 4 == 0, "alignment 1: %s", err);
            gguf_close(g);
        }
    }

    /* header only: no keys, no tensors, no padding */
    fb_header(&b, 0, 0);
    g = open_fb(&b, err);
    CHECK(g && gguf_n_keys(g) == 0 && gguf_n_tensors(g) == 0 && gguf_key_type(g, "x") == -1 &&
              gguf_find_tensor(g, "x") == NULL,
          "bare header: %s", err);
    gguf_close(g);

    /* every value type, scalar and array, as other writers may use them */
    static const uint8_t val8[8] = {0x81, 2, 3, 4, 5, 6, 7, 8};
    fb_header(&b, 0, 2 * 13 - 2);
    for (uint32_t t = 0; t <= GGUF_TYPE_FLOAT64; t++) {
        char key[16];
        if (t == GGUF_TYPE_ARRAY) continue;
        snprintf(key, sizeof key, "s%u", t);
        fb_str(&b, key);
        fb_u32(&b, t);
        if (t == GGUF_TYPE_STRING) fb_str(&b, "str");
        else fb_bytes(&b, val8, t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_INT8 || t == GGUF_TYPE_BOOL ? 1
                                : t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_INT16                  ? 2
                                : t >= GGUF_TYPE_UINT64                                           ? 8
                                                                                                  : 4);
        snprintf(key, sizeof key, "a%u", t);
        fb_str(&b, key);
        fb_u32(&b, GGUF_TYPE_ARRAY);
        fb_u32(&b, t);
        fb_u64(&b, 2);
        for (int k = 0; k < 2; k++) {
            if (t == GGUF_TYPE_STRING) fb_str(&b, k ? "bb" : "a");
            else fb_bytes(&b, val8, t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_INT8 || t == GGUF_TYPE_BOOL ? 1
                                    : t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_INT16                  ? 2
                                    : t >= GGUF_TYPE_UINT64                                           ? 8
                                                                                                      : 4);
        }
    }
    g = open_fb(&b, err);
    CHECK(g && gguf_n_keys(g) == 24, "all value types: %s", err);
    if (g) {
        for (int t = 0; t <= GGUF_TYPE_FLOAT64; t++) {
            char key[16];
            if (t == GGUF_TYPE_ARRAY) continue;
            snprintf(key, sizeof key, "s%d", t);
            CHECK(gguf_key_type(g, key) == t, "type of %s", key);
            snprintf(key, sizeof key, "a%d", t);
            size_t n = 0;
            const void *d = NULL;
            CHECK(gguf_key_type(g, key) == GGUF_TYPE_ARRAY && gguf_get_arr_n(g, key, t, &n, err) == 0 && n == 2,
                  "array %s: %s", key, err);
            if (t != GGUF_TYPE_STRING)
                CHECK(gguf_get_arr_data(g, key, t, &d, &n, err) == 0 && n == 2 && memcmp(d, val8, 1) == 0, "data %s", key);
        }
        uint32_t u = 0;
        CHECK(gguf_get_u32(g, "s0", &u, err) == -1 && strstr(err, "key 's0' is a u8"), "u8 as u32: %s", err);
        CHECK(gguf_get_u32(g, "s4", &u, err) == 0 && u == 0x04030281u, "u32 bytes %08x", u);
        char *s = NULL;
        CHECK(gguf_get_arr_str(g, "a8", 1, &s, err) == 0 && s && strcmp(s, "bb") == 0, "string array element");
        free(s);
        CHECK(exercise(g), "exercise all types");
    }
    gguf_close(g);

    /* not files */
    CHECK(!gguf_open(tpath("does-not-exist.gguf"), err) && strstr(err, "cannot open"), "missing file: %s", err);
    CHECK(!gguf_open(tmp_dir, err) && strstr(err, "not a regular file"), "folder: %s", err);
    CHECK(!gguf_open(tpath("does-not-exist.gguf"), NULL), "NULL err");
}

/* ======================================================================== */

static void remove_tmp_dir(void) {
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') unlink(tpath(e->d_name));
    if (d) closedir(d);
    rmdir(tmp_dir);
}

/* gm_gguf_keys: every key in file order, values as text, long strings cut,
 * the walk stopped by the callback, a foreign file refused. */
typedef struct { int n, stop_at; char keys[8][64], vals[8][GM_GGUF_VALUE_MAX]; } key_list;

static int collect_key(void *user, const char *key, const char *value) {
    key_list *k = user;
    if (k->n < 8) {
        snprintf(k->keys[k->n], sizeof k->keys[0], "%s", key);
        snprintf(k->vals[k->n], sizeof k->vals[0], "%s", value);
    }
    return ++k->n == k->stop_at;
}

static void test_key_listing(void) {
    char err[GM_ERR_SIZE];
    char *long_str = malloc(3 * GM_GGUF_VALUE_MAX);
    memset(long_str, 'x', 3 * GM_GGUF_VALUE_MAX - 1);
    long_str[3 * GM_GGUF_VALUE_MAX - 1] = 0;
    const int32_t arr[3] = {1, 2, 3};
    gguf_writer *w = gguf_writer_new();
    CHECK(gguf_set_u32(w, "a.u32", 7) == 0 && gguf_set_i32(w, "b.i32", -5) == 0 && gguf_set_str(w, "c.str", "hello") == 0 &&
              gguf_set_arr_i32(w, "d.arr", arr, 3) == 0 && gguf_set_str(w, "e.long", long_str) == 0 &&
              gguf_write_file(w, tpath("keys.gguf"), err) == 0,
          "write keys: %s", err);
    gguf_writer_free(w);
    free(long_str);
    static key_list k; /* big: off the stack */
    memset(&k, 0, sizeof k);
    CHECK(gm_gguf_keys(tpath("keys.gguf"), collect_key, &k, err) == 0, "list: %s", err);
    CHECK(k.n == 6, "six keys (with the writer's general.alignment last): %d", k.n);
    CHECK(!strcmp(k.keys[0], "a.u32") && !strcmp(k.vals[0], "7"), "u32: %s = %s", k.keys[0], k.vals[0]);
    CHECK(!strcmp(k.keys[1], "b.i32") && !strcmp(k.vals[1], "-5"), "i32: %s = %s", k.keys[1], k.vals[1]);
    CHECK(!strcmp(k.keys[2], "c.str") && !strcmp(k.vals[2], "hello"), "str: %s = %s", k.keys[2], k.vals[2]);
    CHECK(!strcmp(k.keys[3], "d.arr") && !strcmp(k.vals[3], "[3 elements]"), "array: %s = %s", k.keys[3], k.vals[3]);
    CHECK(!strcmp(k.keys[4], "e.long") && strlen(k.vals[4]) == GM_GGUF_VALUE_MAX - 1, "long string cut: %zu bytes",
          strlen(k.vals[4]));
    CHECK(!strcmp(k.keys[5], "general.alignment") && !strcmp(k.vals[5], "32"), "alignment: %s = %s", k.keys[5], k.vals[5]);
    memset(&k, 0, sizeof k);
    k.stop_at = 2;
    CHECK(gm_gguf_keys(tpath("keys.gguf"), collect_key, &k, err) == 0 && k.n == 2, "the callback stops the walk: %d", k.n);
    FILE *f = fopen(tpath("notgguf.bin"), "wb");
    if (f) { fputs("not a gguf file at all", f); fclose(f); }
    CHECK(gm_gguf_keys(tpath("notgguf.bin"), collect_key, &k, err) == -1 && err[0], "foreign file refused");
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/test_gguf.XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        CHECK(0, "mkdtemp");
        return test_done("test_gguf");
    }
    fill_tensors();
    char full[256];
    snprintf(full, sizeof full, "%s", tpath("full.gguf"));
    test_roundtrip(full);
    test_writer_errors();
    test_f16();
    test_atomic();
    test_truncation(full);
    test_corruption(full);
    test_handmade();
    test_key_listing();
    remove_tmp_dir();
    return test_done("test_gguf");
}
