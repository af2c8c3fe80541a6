/* test_plot.c — the canvas primitives and the training-loss chart. */
#include "getmusic.h"
#include "plot.h"
#include "test.h"

#include <glob.h>
#include <limits.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_dir[64];

static const char *tmp_path(const char *name) {
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", tmp_dir, name);
    return p;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* Temporary files left next to path by an atomic write. */
static size_t leftover_tmps(const char *path) {
    char pat[300];
    snprintf(pat, sizeof pat, "%s.tmp*", path);
    glob_t g;
    size_t n = glob(pat, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    globfree(&g);
    return n;
}

/* A PNG read back as 8-bit RGB; NULL pixels on failure. */
typedef struct { int w, h; uint8_t *px; } image;

static image read_png(const char *path) {
    image im = {0, 0, NULL};
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&pi, path)) return im;
    pi.format = PNG_FORMAT_RGB;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(pi));
    if (buf && png_image_finish_read(&pi, NULL, buf, 0, NULL)) {
        im.w = (int)pi.width;
        im.h = (int)pi.height;
        im.px = buf;
    } else {
        free(buf);
        png_image_free(&pi);
    }
    return im;
}

static size_t count_rgb(const image *im, gm_rgb c) {
    size_t n = 0;
    for (size_t i = 0; i < (size_t)im->w * im->h; i++)
        n += im->px[3 * i] == c.r && im->px[3 * i + 1] == c.g && im->px[3 * i + 2] == c.b;
    return n;
}

static int same(gm_rgb a, gm_rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

static size_t canvas_count(const gm_canvas *c, gm_rgb col) {
    size_t n = 0;
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) n += same(gm_canvas_get_pixel(c, x, y), col);
    return n;
}

/* ---- canvas ------------------------------------------------------------- */

static void test_canvas(void) {
    const gm_rgb W = GM_RGB(255, 255, 255), R = GM_RGB(200, 0, 0), B = GM_RGB(0, 0, 200);
    CHECK(gm_canvas_new(0, 10, W) == NULL, "zero width refused");
    CHECK(gm_canvas_new(10, -1, W) == NULL, "negative height refused");
    CHECK(gm_canvas_new(GM_CANVAS_MAX_SIDE + 1, 10, W) == NULL, "too wide refused");
    gm_canvas_free(NULL); /* no-op */

    gm_canvas *c = gm_canvas_new(60, 40, W);
    CHECK(c != NULL, "canvas 60x40");
    if (!c) return;
    CHECK(canvas_count(c, W) == 60 * 40, "new canvas is all background");

    /* a 1 px line sets both end points and nothing far off it */
    gm_canvas_line(c, 3, 4, 41, 30, 1, R);
    CHECK(same(gm_canvas_get_pixel(c, 3, 4), R), "line start set");
    CHECK(same(gm_canvas_get_pixel(c, 41, 30), R), "line end set");
    size_t n = canvas_count(c, R);
    CHECK(n == 39, "a 1 px line from x=3 to x=41 (x-major) has 39 pixels, got %zu", n);
    CHECK(same(gm_canvas_get_pixel(c, 41, 4), W), "far corner untouched");
    /* reversed direction gives the same end points */
    gm_canvas_line(c, 50, 35, 50, 5, 1, B);
    CHECK(same(gm_canvas_get_pixel(c, 50, 5), B) && same(gm_canvas_get_pixel(c, 50, 35), B), "vertical line ends");
    CHECK(canvas_count(c, B) == 31, "vertical line has 31 pixels, got %zu", canvas_count(c, B));
    /* a single point */
    gm_canvas_line(c, 55, 2, 55, 2, 1, B);
    CHECK(same(gm_canvas_get_pixel(c, 55, 2), B), "zero-length line draws its point");

    /* thickness 3: the neighbours across the line are set too */
    gm_canvas_fill_rect(c, 0, 0, 60, 40, W);
    gm_canvas_line(c, 10, 20, 40, 20, 3, R);
    CHECK(same(gm_canvas_get_pixel(c, 25, 19), R) && same(gm_canvas_get_pixel(c, 25, 21), R), "3 px line is 3 px tall");
    CHECK(same(gm_canvas_get_pixel(c, 25, 18), W) && same(gm_canvas_get_pixel(c, 25, 22), W), "and no taller");
    CHECK(canvas_count(c, R) == 33 * 3, "3 px horizontal line covers 33x3, got %zu", canvas_count(c, R));

    /* fill_rect */
    gm_canvas_fill_rect(c, 0, 0, 60, 40, W);
    gm_canvas_fill_rect(c, 5, 6, 7, 8, B);
    CHECK(canvas_count(c, B) == 56, "7x8 rect");
    CHECK(same(gm_canvas_get_pixel(c, 5, 6), B) && same(gm_canvas_get_pixel(c, 11, 13), B) &&
              same(gm_canvas_get_pixel(c, 12, 13), W) && same(gm_canvas_get_pixel(c, 11, 14), W),
          "rect corners");

    /* text: some pixels, all inside the reported box */
    gm_canvas_fill_rect(c, 0, 0, 60, 40, W);
    int tw = gm_canvas_text(c, 2, 3, "0.5e-3", 1, R);
    CHECK(tw == gm_canvas_text_width("0.5e-3", 1) && tw == 6 * 6 - 1, "text width %d", tw);
    size_t on = canvas_count(c, R), inside = 0;
    for (int y = 3; y < 3 + 7; y++)
        for (int x = 2; x < 2 + tw; x++) inside += same(gm_canvas_get_pixel(c, x, y), R);
    CHECK(on > 20 && inside == on, "text draws %zu pixels, %zu of them in its box", on, inside);
    CHECK(gm_canvas_text_width("", 2) == 0 && gm_canvas_text_width("ab", 2) == 22, "text_width");
    gm_canvas_fill_rect(c, 0, 0, 60, 40, W);
    gm_canvas_text(c, 0, 0, "E", 2, R);
    CHECK(canvas_count(c, R) == 18 * 4, "'E' at scale 2 is 18 dots of 2x2, got %zu", canvas_count(c, R));
    gm_canvas_fill_rect(c, 0, 0, 60, 40, W);
    gm_canvas_text(c, 0, 0, "\xe2\x82\xac", 1, R); /* one UTF-8 character -> one box */
    CHECK(canvas_count(c, R) == 20, "unknown character is a 5x7 box outline, got %zu", canvas_count(c, R));
    CHECK(gm_canvas_text_width("\xe2\x82\xac", 1) == 5, "UTF-8 character is one cell");
    /* capitals without a glyph fall back to lower case */
    gm_canvas *c2 = gm_canvas_new(10, 10, W);
    if (c2) {
        gm_canvas_fill_rect(c, 0, 0, 60, 40, W);
        gm_canvas_text(c, 0, 0, "S", 1, R);
        gm_canvas_text(c2, 0, 0, "s", 1, R);
        int eq = 1;
        for (int y = 0; y < 10; y++)
            for (int x = 0; x < 10; x++) eq &= same(gm_canvas_get_pixel(c, x, y), gm_canvas_get_pixel(c2, x, y));
        CHECK(eq, "'S' falls back to 's'");
        gm_canvas_free(c2);
    }

    /* off-canvas drawing is clipped, not a crash (and not a long walk) */
    gm_canvas_fill_rect(c, 0, 0, 60, 40, W);
    gm_canvas_line(c, -1000000000, -1000000000, 1000000000, 1000000000, 1, R);
    CHECK(same(gm_canvas_get_pixel(c, 0, 0), R) && same(gm_canvas_get_pixel(c, 39, 39), R), "huge diagonal clipped");
    CHECK(canvas_count(c, R) == 40, "huge diagonal paints 40 pixels, got %zu", canvas_count(c, R));
    gm_canvas_fill_rect(c, 0, 0, 60, 40, W);
    gm_canvas_line(c, INT_MIN, INT_MIN, INT_MAX, INT_MIN, 64, R);
    gm_canvas_line(c, -10, 100, 100, 100, 5, R);
    gm_canvas_line(c, -100000, 20, 100000, 20, 5, R); /* crosses the canvas: 60x5 px */
    gm_canvas_line(c, INT_MIN, INT_MAX, INT_MAX, INT_MIN, 0, R); /* thickness 0 -> 1 */
    gm_canvas_fill_rect(c, INT_MAX - 2, INT_MAX - 2, INT_MAX, INT_MAX, R);
    gm_canvas_fill_rect(c, INT_MIN, INT_MIN, -1, 5, R);
    gm_canvas_set_pixel(c, -1, 0, R);
    gm_canvas_set_pixel(c, 60, 0, R);
    gm_canvas_set_pixel(c, 0, 40, R);
    gm_canvas_text(c, INT_MAX - 3, 0, "0123456789", 16, R);
    gm_canvas_text(c, -100, INT_MIN, "abc", 3, R);
    CHECK(same(gm_canvas_get_pixel(c, -5, -5), GM_RGB(0, 0, 0)), "get_pixel outside is black");
    size_t painted = canvas_count(c, R);
    CHECK(painted > 0 && painted < 60 * 40, "off-canvas drawing clipped (%zu pixels painted)", painted);
    gm_canvas_fill_rect(c, 0, 0, 60, 40, W);
    gm_canvas_text(c, -12, 0, "ab0", 1, R); /* first two glyphs fully left of the canvas */
    CHECK(canvas_count(c, R) > 0 && same(gm_canvas_get_pixel(c, 0, 0), W), "partly visible text");

    /* the clip rectangle */
    gm_canvas_fill_rect(c, 0, 0, 60, 40, W);
    gm_canvas_set_clip(c, 10, 10, 20, 15);
    gm_canvas_fill_rect(c, 0, 0, 60, 40, B);
    gm_canvas_line(c, 0, 12, 59, 12, 3, B);
    gm_canvas_text(c, 0, 0, "8888888888", 4, B);
    CHECK(canvas_count(c, B) == 50, "drawing limited to the 10x5 clip, got %zu", canvas_count(c, B));
    gm_canvas_set_clip(c, 50, 50, -5, -5); /* empty, and out of range */
    gm_canvas_line(c, 0, 0, 59, 39, 3, R);
    gm_canvas_fill_rect(c, 0, 0, 60, 40, R);
    CHECK(canvas_count(c, R) == 0, "empty clip draws nothing");
    gm_canvas_reset_clip(c);
    gm_canvas_fill_rect(c, 0, 0, 60, 40, R);
    CHECK(canvas_count(c, R) == 60 * 40, "reset clip");

    /* PNG round trip, pixel exact */
    gm_canvas_fill_rect(c, 0, 0, 60, 40, W);
    gm_canvas_line(c, 0, 0, 59, 39, 2, B);
    gm_canvas_text(c, 5, 25, "val", 1, R);
    char err[GM_ERR_SIZE] = "";
    const char *png = tmp_path("canvas.png");
    CHECK(gm_canvas_write_png(c, png, err) == 0, "write_png: %s", err);
    image im = read_png(png);
    CHECK(im.px && im.w == 60 && im.h == 40, "png read back %dx%d", im.w, im.h);
    if (im.px) CHECK(memcmp(im.px, c->rgb, 60 * 40 * 3) == 0, "png pixels equal the canvas");
    CHECK(leftover_tmps(png) == 0, "no temporary file left");
    free(im.px);
    err[0] = 0;
    CHECK(gm_canvas_write_png(c, "/nonexistent-dir-gm/x.png", err) == -1 && err[0], "unwritable folder: %s", err);
    CHECK(strchr(err, '\n') == NULL, "error is one line");
    gm_canvas_free(c);
}

/* ---- loss chart --------------------------------------------------------- */

/* A decaying, noisy loss; validation every 10 steps; keys in varying order;
 * junk, a NaN line, a nested value, and a truncated last line. */
static void write_synthetic_log(const char *path, int with_val) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    uint32_t s = 12345;
    for (int step = 1; step <= 400; step++) {
        s = s * 1664525u + 1013904223u;
        double noise = ((s >> 8) / 16777216.0 - 0.5) * 0.6;
        double base = 3.0 * exp(-step / 60.0) + 0.04;
        double loss = base * (1 + noise);
        if (step % 3 == 0)
            fprintf(f, "{\"loss\": %.6f, \"lr\": 1e-4, \"step\": %d, \"epoch\": 0}\n", loss, step);
        else
            fprintf(f, "{\"step\": %d, \"epoch\": 0, \"loss\": %.6f, \"lr\": 5.08e-05, \"cols_per_s\": 1492.6, \"time_s\": %.1f}\n",
                    step, loss, step * 1.4);
        if (with_val && step % 10 == 0)
            fprintf(f, "{\"step\": %d, \"val_loss\": %.6f, \"note\": \"a, \\\"quoted\\\" } string\", \"x\": {\"a\": [1, 2]}}\n",
                    step, base * 1.15);
        if (step == 50) fputs("this is not json\n\n   \n{\"step\": 51, \"loss\": NaN}\n{}\n", f);
    }
    fputs("{\"step\": 401, \"epoch\": 0, \"loss\": 0.0", f); /* the writer is mid-line */
    fclose(f);
}

static void test_chart(void) {
    char err[GM_ERR_SIZE] = "";
    const char *log = tmp_path("train.log.jsonl"), *png = tmp_path("loss.png");
    write_synthetic_log(log, 1);
    int rc = gm_plot_losses(log, png, 800, 480, err);
    CHECK(rc == 0, "plot: %s", err);
    CHECK(leftover_tmps(png) == 0, "no temporary file left");
    image im = read_png(png);
    CHECK(im.px && im.w == 800 && im.h == 480, "png is 800x480, got %dx%d", im.w, im.h);
    if (im.px) {
        size_t white = count_rgb(&im, GM_RGB(255, 255, 255)), total = (size_t)im.w * im.h;
        size_t tr = count_rgb(&im, GM_PLOT_TRAIN_RGB), ema = count_rgb(&im, GM_PLOT_EMA_RGB),
               va = count_rgb(&im, GM_PLOT_VAL_RGB), dark = count_rgb(&im, GM_RGB(40, 40, 40));
        CHECK(white > total / 2 && white < total - 5000, "not blank: %zu of %zu white", white, total);
        /* far more than the legend swatches (< 100 px each) */
        CHECK(tr > 300, "raw train colour: %zu px", tr);
        CHECK(ema > 600, "train EMA colour: %zu px", ema);
        CHECK(va > 400, "val colour: %zu px", va);
        CHECK(dark > 400, "text drawn: %zu px", dark);
        CHECK(im.px[0] == 255 && im.px[1] == 255 && im.px[2] == 255, "white background");
    }
    free(im.px);

    /* no val lines: the val colour is absent, legend included */
    const char *log2 = tmp_path("noval.jsonl"), *png2 = tmp_path("noval.png");
    write_synthetic_log(log2, 0);
    CHECK(gm_plot_losses(log2, png2, 400, 300, err) == 0, "plot without val: %s", err);
    im = read_png(png2);
    CHECK(im.px && im.w == 400 && im.h == 300, "400x300");
    if (im.px) {
        CHECK(count_rgb(&im, GM_PLOT_VAL_RGB) == 0, "no val colour without val lines");
        CHECK(count_rgb(&im, GM_PLOT_EMA_RGB) > 200, "EMA drawn");
    }
    free(im.px);

    /* overwriting an existing PNG works (rename over it) */
    CHECK(gm_plot_losses(log2, png2, GM_PLOT_MIN_W, GM_PLOT_MIN_H, err) == 0, "smallest size: %s", err);
    im = read_png(png2);
    CHECK(im.px && im.w == GM_PLOT_MIN_W && im.h == GM_PLOT_MIN_H, "overwritten at the smallest size");
    free(im.px);

    /* a flat loss (linear axis, zero span) and a single point */
    const char *one = tmp_path("one.jsonl"), *flat = tmp_path("flat.jsonl");
    write_text(one, "{\"step\": 7, \"loss\": 0.5, \"val_loss\": 0.6}\n");
    CHECK(gm_plot_losses(one, png2, 400, 300, err) == 0, "single line: %s", err);
    write_text(flat, "{\"step\": 1, \"loss\": 0.5}\n{\"step\": 2, \"loss\": 0.5}\n{\"step\": 2, \"loss\": 0}\n");
    CHECK(gm_plot_losses(flat, png2, 400, 300, err) == 0, "flat loss with a zero: %s", err);
    write_text(flat, "{\"step\": 1e6, \"loss\": 1e-9}\n{\"step\": 3e6, \"loss\": 1e3}\n{\"step\": -5, \"loss\": -2}\n");
    CHECK(gm_plot_losses(flat, png2, 400, 300, err) == 0, "extreme values: %s", err);
    write_text(flat, "{\"step\": 1, \"loss\": 1e-30}\n{\"step\": 2, \"loss\": 1e30}\n");
    CHECK(gm_plot_losses(flat, png2, 400, 300, err) == 0, "60 decades: %s", err);
    write_text(flat, "{\"step\": 1e17, \"loss\": 1}\n{\"step\": 1, \"loss\": 1e300}\n{\"step\": 1, \"loss\": 1e-300}\n");
    CHECK(gm_plot_losses(flat, png2, 400, 300, err) == 0, "absurd magnitudes dropped, tiny kept: %s", err);
    write_text(flat, "{\"step\": 1, \"loss\": 5e-324}\n{\"step\": 1, \"loss\": 5e-324}\n");
    CHECK(gm_plot_losses(flat, png2, 400, 300, err) == 0, "denormal flat loss: %s", err);
    write_text(flat, "{\"step\": 3, \"loss\": 0.5}\n{\"step\": 3, \"loss\": 0.5}\n");
    CHECK(gm_plot_losses(flat, png2, 400, 300, err) == 0, "one step, one value: %s", err);
    write_text(flat, "  {\"val_loss\" : 0.3 , \"step\" : 2 }  \r\n");
    CHECK(gm_plot_losses(flat, png2, 400, 300, err) == 0, "val-only line, spaces, CRLF: %s", err);

    /* errors: each a one-line message, and no PNG written */
    const char *bad = tmp_path("bad.jsonl"), *nopng = tmp_path("never.png");
    static const char *const unusable[] = {
        "",
        "\n\n  \n",
        "not json\n{\"step\": 1, \"loss\": NaN}\n{\"step\": 1, \"loss\": \"0.5\"}\n",
        "{\"step\": 1, \"loss\": 0.3} trailing\n{\"loss\": 0.3}\n{\"step\": 1, \"val_loss_x\": 0.3}\n",
        "{\"step\": 1, \"loss\": 0.3\n[1, 2]\n{\"step\" 1, \"loss\": 0.3}\n{\"step\": 1,, \"loss\": 0.3}\n",
        "{\"step\": 1, \"loss\": 0.3, }\n{\"step\": 1 \"loss\": 0.3}\n{\"step\": 1, \"loss\": [0.3}\n",
    };
    for (size_t i = 0; i < sizeof unusable / sizeof *unusable; i++) {
        write_text(bad, unusable[i]);
        err[0] = 0;
        rc = gm_plot_losses(bad, nopng, 400, 300, err);
        CHECK(rc == -1 && err[0] && !strchr(err, '\n'), "unusable log %zu refused: %s", i, err);
        CHECK(strstr(err, i < 2 ? "empty" : "no usable line") != NULL, "message for log %zu: %s", i, err);
    }
    err[0] = 0;
    CHECK(gm_plot_losses(tmp_path("missing.jsonl"), nopng, 400, 300, err) == -1 && strstr(err, "cannot open"),
          "missing log: %s", err);
    err[0] = 0;
    CHECK(gm_plot_losses(tmp_dir, nopng, 400, 300, err) == -1 && err[0], "a folder as log: %s", err);
    err[0] = 0;
    CHECK(gm_plot_losses(log, nopng, 100, 300, err) == -1 && err[0], "too small: %s", err);
    CHECK(gm_plot_losses(log, nopng, 400, 100000, err) == -1, "too tall");
    CHECK(gm_plot_losses(NULL, nopng, 400, 300, err) == -1 && gm_plot_losses(log, NULL, 400, 300, NULL) == -1,
          "null arguments");
    err[0] = 0;
    CHECK(gm_plot_losses(log, "/nonexistent-dir-gm/loss.png", 400, 300, err) == -1 && err[0], "unwritable png: %s", err);
    CHECK(!file_exists(nopng) && leftover_tmps(nopng) == 0, "no PNG written on errors");

    /* every truncation of a line: no crash; only the whole line is usable */
    const char *full = "{\"step\": 40, \"epoch\": 0, \"loss\": 0.055234, \"lr\": 1.1e-05, \"val_loss\": 0.075969, \"time_s\": 56.3}";
    size_t len = strlen(full), ok = 0;
    for (size_t k = 1; k <= len; k++) {
        char buf[256];
        memcpy(buf, full, k);
        buf[k] = 0;
        write_text(bad, buf);
        ok += gm_plot_losses(bad, nopng, GM_PLOT_MIN_W, GM_PLOT_MIN_H, NULL) == 0;
    }
    CHECK(ok == 1, "of %zu truncations only the whole line plots, got %zu", len, ok);
    unlink(nopng);
}

/* GM_PLOT_LOG=LOG [GM_PLOT_OUT=PNG]: also plots a real log, for a look by eye. */
static void plot_real_log(void) {
    const char *path = getenv("GM_PLOT_LOG");
    if (!path) return;
    char err[GM_ERR_SIZE] = "";
    const char *out = getenv("GM_PLOT_OUT") ? getenv("GM_PLOT_OUT") : tmp_path("real.png");
    CHECK(gm_plot_losses(path, out, 900, 500, err) == 0, "real log %s: %s", path, err);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/gm_test_plot_%ld", (long)getpid());
    if (mkdir(tmp_dir, 0700)) {
        fprintf(stderr, "cannot create %s\n", tmp_dir);
        return 1;
    }
    test_canvas();
    test_chart();
    plot_real_log();
    if (!t_fail) { /* keep the files of a failed run for a look */
        glob_t g;
        if (glob(tmp_path("*"), 0, NULL, &g) == 0)
            for (size_t i = 0; i < g.gl_pathc; i++) unlink(g.gl_pathv[i]);
        globfree(&g);
        rmdir(tmp_dir);
    }
    return test_done("test_plot");
}
