/* test_util.c — the library's shared helpers (src/util.c): the atomic file
 * write (commit replaces, abort leaves the old file and no temporary, a
 * missing folder is an error), the random number generator's pinned stream,
 * the monotonic clock, the byte buffer, the doubling array and the JSON
 * string escaper. */
#include "test.h"
#include "util.h"

#include <dirent.h>
#include <unistd.h>

static char dir[64];

static const char *tpath(const char *name) {
    static char buf[2][256];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int one_line(const char *err) { return err[0] && !strchr(err, '\n'); }

/* The file's whole content, or "" when missing (static buffer). */
static const char *slurp(const char *path) {
    static char buf[256];
    buf[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Files in the test folder: a leftover temporary would show up here. */
static int n_files(void) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static void test_commit(void) {
    char err[256] = "";
    const char *target = tpath("out.txt");
    test_write_text(target, "old");
    chmod(target, 0640);
    gm_atomic_file a;
    CHECK(gm_atomic_open(&a, target, err) == 0, "open: %s", err);
    fputs("new content", a.f);
    fflush(a.f);
    CHECK(strcmp(slurp(target), "old") == 0, "before commit the target is untouched: '%s'", slurp(target));
    CHECK(n_files() == 2, "the temporary lies beside the target (%d files)", n_files());
    CHECK(gm_atomic_commit(&a, err) == 0, "commit: %s", err);
    CHECK(strcmp(slurp(target), "new content") == 0, "commit replaced the target: '%s'", slurp(target));
    CHECK(n_files() == 1, "no temporary left after commit (%d files)", n_files());
    struct stat st;
    CHECK(stat(target, &st) == 0 && (st.st_mode & 0777) == 0640, "existing mode kept: %o", st.st_mode & 0777);
    gm_atomic_abort(&a); /* spent: does nothing */
    CHECK(strcmp(slurp(target), "new content") == 0, "abort after commit does nothing");

    const char *fresh = tpath("fresh.txt");
    CHECK(gm_atomic_open(&a, fresh, err) == 0 && gm_atomic_commit(&a, err) == 0, "empty file: %s", err);
    CHECK(stat(fresh, &st) == 0 && (st.st_mode & 0777) == 0644 && st.st_size == 0, "a new file is 0644 and empty");
    unlink(fresh);
    unlink(target);
}

static void test_abort(void) {
    char err[256] = "";
    const char *target = tpath("keep.txt");
    test_write_text(target, "old");
    gm_atomic_file a;
    CHECK(gm_atomic_open(&a, target, err) == 0, "open: %s", err);
    fputs("half", a.f);
    gm_atomic_abort(&a);
    CHECK(strcmp(slurp(target), "old") == 0, "abort leaves the target: '%s'", slurp(target));
    CHECK(n_files() == 1, "abort leaves no temporary (%d files)", n_files());
    CHECK(a.f == NULL && a.tmp == NULL, "the struct is spent");
    gm_atomic_file zero = {0};
    gm_atomic_abort(&zero); /* a zeroed struct: nothing to do */
    unlink(target);

    /* Never opened: the failure path of gm_atomic_open leaves it spent too. */
    CHECK(gm_atomic_open(&a, "", err) == -1 && one_line(err), "empty path: %s", err);
    gm_atomic_abort(&a);
}

static void test_errors(void) {
    char err[256] = "";
    gm_atomic_file a;
    const char *missing = tpath("no/such/folder/x.mid");
    CHECK(gm_atomic_open(&a, missing, err) == -1, "a missing folder is an error");
    CHECK(one_line(err) && strstr(err, missing), "the reason names the target: %s", err);
    CHECK(a.f == NULL, "nothing open after a failure");
    gm_atomic_abort(&a);

    /* The target is a folder: the rename fails, the temporary is removed. */
    const char *sub = tpath("adir");
    mkdir(sub, 0755);
    err[0] = 0;
    CHECK(gm_atomic_open(&a, sub, err) == 0, "open beside a folder: %s", err);
    if (!err[0]) {
        fputs("x", a.f);
        CHECK(gm_atomic_commit(&a, err) == -1 && one_line(err) && strstr(err, sub) && strstr(err, "rename"), "rename over a folder fails: %s", err);
        CHECK(n_files() == 1, "no temporary left after a failed commit (%d files)", n_files());
    }
    rmdir(sub);
}

/* splitmix64's published stream from seed 0; golden files and fixed-seed
 * tests depend on it, so it must never change. */
static void test_rng(void) {
    uint64_t s = 0;
    CHECK(gd_rng_next(&s) == 0xE220A8397B1DCDAFull, "first value from seed 0");
    CHECK(gd_rng_next(&s) == 0x6E789E6AA1B965F4ull, "second value from seed 0");
    uint64_t a = 42, b = 42;
    double u = gd_rng_uniform(&a);
    CHECK(u >= 0 && u < 1 && u == (double)(gd_rng_next(&b) >> 11) / 9007199254740992.0, "uniform = top 53 bits");
}

static void test_clock(void) {
    double t0 = gm_now_s(), t1 = gm_now_s();
    CHECK(t0 > 0 && t1 >= t0, "monotonic: %f then %f", t0, t1);
}

/* The byte buffer: appends, text, and a size past SIZE_MAX refused (oom,
 * contents kept, later appends ignored). */
static void test_buf(void) {
    gm_buf b = {0};
    gm_buf_put(&b, "ab", 2);
    gm_buf_printf(&b, "%d-%s", 42, "x");
    CHECK(b.n == 6 && !strcmp(gm_buf_text(&b), "ab42-x") && !b.oom, "'%s' (%zu)", gm_buf_text(&b), b.n);
    char big[1000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int i = 0; i < 10; i++) gm_buf_printf(&b, "%s", big);
    CHECK(b.n == 6 + 10 * 999 && strlen(gm_buf_text(&b)) == b.n && !b.oom, "long text: %zu", b.n);
    gm_buf_put(&b, "z", SIZE_MAX);
    CHECK(b.oom && b.n == 6 + 10 * 999, "a size past SIZE_MAX is refused");
    gm_buf_put(&b, "z", 1);
    CHECK(b.n == 6 + 10 * 999, "after oom, appends do nothing");
    gm_buf_free(&b);
    CHECK(!b.p && !b.n && !b.oom, "free empties");
    gm_buf_put(&b, NULL, 0);
    CHECK(!b.p && !b.oom, "an empty append allocates nothing");
}

/* The doubling array: first elements, then twice as many each time it is
 * full; nothing moves while there is room; a size past SIZE_MAX is refused
 * with the array as it was. */
static void test_grow(void) {
    int *a = NULL;
    size_t cap = 0, caps[5], k = 0;
    int ok = 1;
    for (size_t n = 0; n < 40; n++) {
        size_t before = cap;
        ok &= gm_grow(&a, &cap, n, sizeof *a, 5) == 0 && n < cap;
        a[n] = (int)n;
        if (cap != before && k < 5) caps[k++] = cap;
    }
    CHECK(ok && k == 4 && caps[0] == 5 && caps[1] == 10 && caps[2] == 20 && caps[3] == 40, "growth 5, 10, 20, 40");
    for (size_t n = 0; ok && n < 40; n++) ok &= a[n] == (int)n;
    CHECK(ok, "elements kept across growth");
    int *was = a;
    CHECK(gm_grow(&a, &cap, cap, SIZE_MAX / 8, 1) == -1 && a == was && cap == 40, "overflow refused, array as it was");
    free(a);
}

/* One JSON escaper: quotes, backslashes and control bytes, onto a buffer
 * and onto a FILE alike. */
static void test_json_str(void) {
    gm_buf b = {0};
    gm_buf_json_str(&b, "a\"b\\c\n\x01é");
    CHECK(!strcmp(gm_buf_text(&b), "\"a\\\"b\\\\c\\u000a\\u0001é\""), "%s", gm_buf_text(&b));
    const char *path = tpath("json.txt");
    FILE *f = fopen(path, "wb");
    if (f) {
        gm_json_fstr(f, "a\"b\\c\n\x01é");
        fclose(f);
    }
    CHECK(!strcmp(slurp(path), gm_buf_text(&b)), "file '%s'", slurp(path));
    unlink(path);
    gm_buf_free(&b);
    CHECK(gm_atomic_write(tpath("w.txt"), "hello", 5, NULL) == 0 && !strcmp(slurp(tpath("w.txt")), "hello"),
          "gm_atomic_write");
    unlink(tpath("w.txt"));
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/gm_test_util_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_commit();
    test_abort();
    test_errors();
    test_rng();
    test_clock();
    test_buf();
    test_grow();
    test_json_str();
    rmdir(dir);
    return test_done("test_util");
}
