/* test_plot.c — the canvas primitives (src/draw/canvas.c), the training-loss chart
 * (src/draw/plot_loss.c) and the piano roll (src/draw/plot_roll.c). */
#include "getmusic.h"
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
    /* every capital (and the sharp of chord names) has its own glyph: not
     * the box of an unknown character, not its lower case */
    gm_canvas *c2 = gm_canvas_new(10, 10, W), *c3 = gm_canvas_new(10, 10, W);
    if (c2 && c3) {
        gm_canvas_text(c3, 0, 0, "\x01", 1, R); /* the box */
        int own = 0;
        for (char ch = 'A'; ch <= 'Z' + 1; ch++) {
            char up[2] = {ch <= 'Z' ? ch : '#', 0}, low[2] = {(char)(ch <= 'Z' ? ch - 'A' + 'a' : '?'), 0};
            gm_canvas_fill_rect(c, 0, 0, 60, 40, W);
            gm_canvas_fill_rect(c2, 0, 0, 10, 10, W);
            gm_canvas_text(c, 0, 0, up, 1, R);
            gm_canvas_text(c2, 0, 0, low, 1, R);
            int eq_low = 1, eq_box = 1;
            for (int y = 0; y < 10; y++)
                for (int x = 0; x < 10; x++) {
                    eq_low &= same(gm_canvas_get_pixel(c, x, y), gm_canvas_get_pixel(c2, x, y));
                    eq_box &= same(gm_canvas_get_pixel(c, x, y), gm_canvas_get_pixel(c3, x, y));
                }
            own += !eq_low && !eq_box && canvas_count(c, R) > 0;
        }
        CHECK(own == 27, "A-Z and # have their own glyphs: %d of 27", own);
    }
    gm_canvas_free(c2);
    gm_canvas_free(c3);

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
    test_write_text(one, "{\"step\": 7, \"loss\": 0.5, \"val_loss\": 0.6}\n");
    CHECK(gm_plot_losses(one, png2, 400, 300, err) == 0, "single line: %s", err);
    test_write_text(flat, "{\"step\": 1, \"loss\": 0.5}\n{\"step\": 2, \"loss\": 0.5}\n{\"step\": 2, \"loss\": 0}\n");
    CHECK(gm_plot_losses(flat, png2, 400, 300, err) == 0, "flat loss with a zero: %s", err);
    test_write_text(flat, "{\"step\": 1e6, \"loss\": 1e-9}\n{\"step\": 3e6, \"loss\": 1e3}\n{\"step\": -5, \"loss\": -2}\n");
    CHECK(gm_plot_losses(flat, png2, 400, 300, err) == 0, "extreme values: %s", err);
    test_write_text(flat, "{\"step\": 1, \"loss\": 1e-30}\n{\"step\": 2, \"loss\": 1e30}\n");
    CHECK(gm_plot_losses(flat, png2, 400, 300, err) == 0, "60 decades: %s", err);
    test_write_text(flat, "{\"step\": 1e17, \"loss\": 1}\n{\"step\": 1, \"loss\": 1e300}\n{\"step\": 1, \"loss\": 1e-300}\n");
    CHECK(gm_plot_losses(flat, png2, 400, 300, err) == 0, "absurd magnitudes dropped, tiny kept: %s", err);
    test_write_text(flat, "{\"step\": 1, \"loss\": 5e-324}\n{\"step\": 1, \"loss\": 5e-324}\n");
    CHECK(gm_plot_losses(flat, png2, 400, 300, err) == 0, "denormal flat loss: %s", err);
    test_write_text(flat, "{\"step\": 3, \"loss\": 0.5}\n{\"step\": 3, \"loss\": 0.5}\n");
    CHECK(gm_plot_losses(flat, png2, 400, 300, err) == 0, "one step, one value: %s", err);
    test_write_text(flat, "  {\"val_loss\" : 0.3 , \"step\" : 2 }  \r\n");
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
        test_write_text(bad, unusable[i]);
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
        test_write_text(bad, buf);
        ok += gm_plot_losses(bad, nopng, GM_PLOT_MIN_W, GM_PLOT_MIN_H, NULL) == 0;
    }
    CHECK(ok == 1, "of %zu truncations only the whole line plots, got %zu", len, ok);
    unlink(nopng);
}


/* ---- piano roll --------------------------------------------------------- */

static const gm_rgb ROLL_UI[] = {GM_ROLL_GENERATED_EDGE, GM_ROLL_BAR_RGB,    GM_ROLL_BEAT_RGB,   GM_ROLL_OCTAVE_RGB,
                                 GM_ROLL_BLACK_KEY_RGB,  GM_ROLL_BG_RGB,     GM_ROLL_TEXT_RGB,   GM_ROLL_BARNUM_RGB,
                                 GM_ROLL_CHORD_RGB};

static void test_roll_colours(void) {
    /* every note colour (fill, tint, edge of every slot) differs from every
     * other and from the frame, grid and text colours: tests and eyes can
     * tell them apart */
    enum { N = 3 * GM_ROLL_N_COLOURS + sizeof ROLL_UI / sizeof *ROLL_UI };
    gm_rgb all[N];
    int n = 0;
    for (int k = 0; k < GM_ROLL_N_COLOURS; k++) {
        all[n++] = gm_roll_fill(k, 0);
        all[n++] = gm_roll_fill(k, 1);
        all[n++] = gm_roll_edge(k, 0);
    }
    for (size_t i = 0; i < sizeof ROLL_UI / sizeof *ROLL_UI; i++) all[n++] = ROLL_UI[i];
    int clashes = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) clashes += same(all[i], all[j]);
    CHECK(clashes == 0, "roll colours are all distinct (%d clashes)", clashes);
    for (int k = 0; k < GM_ROLL_N_COLOURS; k++) {
        CHECK(same(gm_roll_edge(k, 1), GM_ROLL_GENERATED_EDGE), "generated edge of slot %d", k);
        gm_rgb f = gm_roll_fill(k, 0), t = gm_roll_fill(k, 1), e = gm_roll_edge(k, 0);
        CHECK(t.r >= f.r && t.g >= f.g && t.b >= f.b && t.r + t.g + t.b > f.r + f.g + f.b + 60, "tint %d is lighter", k);
        CHECK(e.r <= f.r && e.g <= f.g && e.b <= f.b && e.r + e.g + e.b < f.r + f.g + f.b, "given edge %d is darker", k);
    }
    CHECK(same(gm_roll_fill(GM_ROLL_N_COLOURS + 2, 0), gm_roll_fill(2, 0)), "slots repeat after the palette");
}

static void add_note(gm_score *s, int t, int64_t tick, int64_t dur, int pitch, int generated) {
    gm_track *tr = &s->tracks[t];
    gm_track_add_note(tr, tick, dur, pitch, 100, tr->channel);
    if (generated) tr->notes[tr->n_notes - 1].flags |= GM_NOTE_GENERATED;
}

/* Number of runs of colour col along row y. */
static int runs_in_row(const gm_canvas *c, int y, gm_rgb col, int *first_x) {
    int runs = 0, in = 0;
    for (int x = 0; x < c->w; x++) {
        int on = same(gm_canvas_get_pixel(c, x, y), col);
        if (on && !in && runs++ == 0 && first_x) *first_x = x;
        in = on;
    }
    return runs;
}

static size_t canvas_count_in(const gm_canvas *c, gm_rgb col, int x0, int y0, int x1, int y1) {
    size_t n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) n += same(gm_canvas_get_pixel(c, x, y), col);
    return n;
}

/* Lead (flute), an empty track, Keys (piano), Drums: four 4/4 bars at 480
 * ticks per quarter, generated notes in bars 3 and 4; added out of order
 * and with end_tick left at 0 (the roll must not rely on gm_score_sort). */
static void build_band(gm_score *s) {
    gm_score_init(s, 480);
    gm_score_add_track(s, "Lead", 73, 0, 0);
    gm_score_add_track(s, "Nothing", 40, 1, 0);
    gm_score_add_track(s, "Keys", 0, 2, 0);
    gm_score_add_track(s, "Drums", 0, 9, 1);
    add_note(s, 0, 480, 480, 76, 0);
    add_note(s, 0, 0, 480, 72, 0);
    add_note(s, 0, 1920, 960, 79, 0);
    add_note(s, 0, 2 * 1920, 960, 74, 1); /* generated, bar 3 */
    add_note(s, 2, 0, 1920, 48, 0);
    add_note(s, 2, 0, 1920, 55, 0);
    add_note(s, 2, 1920, 1920, 53, 0);
    add_note(s, 2, 3 * 1920, 1920, 50, 1); /* generated, bar 4 */
    for (int q = 0; q < 12; q++) add_note(s, 3, q * 480, 60, q % 2 ? 38 : 36, 0);
    add_note(s, 3, 3 * 1920 + 240, 60, 42, 1); /* generated hat, bar 4 */
}

static void test_roll_band(void) {
    char err[GM_ERR_SIZE] = "";
    gm_score s;
    build_band(&s);
    gm_layout l;
    gm_layout_preset(&l, "default", err);
    gm_roll_params p = gm_roll_default_params();
    p.title = "Band";
    gm_roll *r = gm_roll_draw(&s, &l, &p, err);
    CHECK(r != NULL, "draw: %s", err);
    if (!r) {
        gm_score_free(&s);
        return;
    }
    const gm_canvas *c = gm_roll_canvas(r);
    gm_roll_info in = gm_roll_get_info(r);
    CHECK(in.n_bars == 4 && in.first_bar == 0 && in.last_bar == 3, "4 bars, all drawn: %d (%d..%d)", in.n_bars,
          in.first_bar, in.last_bar);
    CHECK(in.n_systems == 1, "one system, got %d", in.n_systems);
    CHECK(in.pitch_lo <= 47 && in.pitch_hi >= 80 && in.pitch_hi - in.pitch_lo + 1 >= 25, "pitch range %d..%d",
          in.pitch_lo, in.pitch_hi);
    CHECK(in.n_drum_lanes == 3, "lanes for keys 36 38 42, got %d", in.n_drum_lanes);
    CHECK(in.n_generated == 3, "3 generated notes drawn, got %d", in.n_generated);
    /* 64 columns at 6 px are narrower than the automatic minimum: stretched */
    CHECK(in.col_px > GM_ROLL_COL_PX && c->w == GM_ROLL_AUTO_MIN_W, "short piece stretched to %d px (%g px/column)", c->w,
          in.col_px);
    CHECK(c->w >= GM_ROLL_AUTO_MIN_W && c->w <= GM_ROLL_AUTO_MAX_W, "automatic width %d", c->w);

    /* every note: its fill inside, its outline at the corner; tracks take
     * slots in order, skipping the empty one (Keys is slot 1, Drums 2) */
    static const int slot_of_track[4] = {0, -1, 1, 2};
    int bad_fill = 0, bad_edge = 0, missing = 0;
    for (int t = 0; t < s.n_tracks; t++)
        for (size_t k = 0; k < s.tracks[t].n_notes; k++) {
            const gm_note *n = &s.tracks[t].notes[k];
            int gen = n->flags & GM_NOTE_GENERATED, x, y;
            if (gm_roll_note_xy(r, n->tick, n->pitch, s.tracks[t].is_drum, &x, &y)) {
                missing++;
                continue;
            }
            bad_fill += !same(gm_canvas_get_pixel(c, x, y), gm_roll_fill(slot_of_track[t], gen));
            bad_edge += !same(gm_canvas_get_pixel(c, x - 1, y - 1), gm_roll_edge(slot_of_track[t], gen));
        }
    CHECK(missing == 0 && bad_fill == 0 && bad_edge == 0, "notes drawn in place: %d missing, %d bad fills, %d bad edges",
          missing, bad_fill, bad_edge);
    /* generated notes show the generated style, given ones never do */
    int x, y, x2, y2;
    gm_roll_note_xy(r, 2 * 1920, 74, 0, &x, &y);
    CHECK(same(gm_canvas_get_pixel(c, x - 1, y), GM_ROLL_GENERATED_EDGE), "generated note: magenta outline");
    CHECK(same(gm_canvas_get_pixel(c, x + 5, y + 1), gm_roll_fill(0, 1)), "generated note: light fill");
    gm_roll_note_xy(r, 0, 72, 0, &x, &y);
    CHECK(same(gm_canvas_get_pixel(c, x + 5, y + 1), gm_roll_fill(0, 0)), "given note: solid fill");
    /* higher pitch higher up, later notes further right, drums below */
    gm_roll_note_xy(r, 480, 76, 0, &x2, &y2);
    CHECK(y2 == y - 4 * in.semitone_px && x2 > x, "76 is 4 rows above 72 (%d vs %d) and later (%d vs %d)", y2, y, x2, x);
    gm_roll_note_xy(r, 0, 36, 1, &x2, &y2);
    int xk, yk;
    gm_roll_note_xy(r, 0, 48, 0, &xk, &yk);
    CHECK(y2 > yk && x2 == xk, "kick below the lowest pitch, same onset x");
    gm_roll_note_xy(r, 480, 38, 1, &x, &y);
    CHECK(y < y2, "snare lane above the kick lane");
    CHECK(gm_roll_note_xy(r, 0, 100, 0, &x, &y) == -1 && gm_roll_note_xy(r, 0, 44, 1, &x, &y) == -1 &&
              gm_roll_note_xy(r, 4 * 1920, 60, 0, &x, &y) == -1,
          "absent pitch, drum lane and bar are not located");

    /* each track's colour shows beyond its legend swatch (16x8 px) */
    for (int k = 0; k < 3; k++)
        CHECK(canvas_count(c, gm_roll_fill(k, 0)) > 16 * 8 + 50, "slot %d colour: %zu px", k, canvas_count(c, gm_roll_fill(k, 0)));
    CHECK(canvas_count(c, gm_roll_fill(3, 0)) == 0, "no fourth slot (the empty track takes none)");
    /* bar lines: 5 (4 bars + the closing one) evenly spaced; the top pitch
     * row is the margin above the highest note, so nothing covers them */
    int bx[5], by0 = 0, by1 = 0, ok_lines = 1;
    for (int b = 0; b <= 4; b++) {
        ok_lines &= gm_roll_bar_line(r, b, &bx[b], &by0, &by1) == 0;
        ok_lines &= same(gm_canvas_get_pixel(c, bx[b], by0 + 2), GM_ROLL_BAR_RGB) &&
                    same(gm_canvas_get_pixel(c, bx[b], by1), GM_ROLL_BAR_RGB);
    }
    CHECK(ok_lines, "bar lines at the reported places");
    int even = 1;
    for (int b = 0; b < 4; b++) even &= fabs((bx[b + 1] - bx[b]) - 16 * in.col_px) <= 1;
    CHECK(even, "4/4 bars are 16 columns apart");
    int first_x = -1;
    CHECK(runs_in_row(c, by0 + 2, GM_ROLL_BAR_RGB, &first_x) == 5 && first_x == bx[0], "a row crosses 5 bar lines");
    CHECK(gm_roll_bar_line(r, 5, &x, NULL, NULL) == -1 && gm_roll_bar_line(r, -1, &x, NULL, NULL) == -1,
          "bar lines outside the range");
    /* chord names (recognised), bar numbers, title and legend text */
    CHECK(canvas_count_in(c, GM_ROLL_CHORD_RGB, bx[0], 0, bx[4], by0) > 40, "chord names over the bars");
    CHECK(canvas_count_in(c, GM_ROLL_BARNUM_RGB, bx[0], 0, bx[4], by0) > 20, "bar numbers");
    CHECK(canvas_count(c, GM_ROLL_TEXT_RGB) > 200, "title, legend, labels");
    /* the legend shows the given/generated swatches */
    CHECK(canvas_count_in(c, GM_ROLL_GENERATED_EDGE, 0, 0, c->w, by0) > 20, "legend: generated swatch");
    gm_roll_free(r);

    /* no chord names when told so */
    p.chords = (const gm_chord[1]){{-1, -1}};
    p.n_chords = 0;
    r = gm_roll_draw(&s, &l, &p, err);
    CHECK(r && canvas_count(gm_roll_canvas(r), GM_ROLL_CHORD_RGB) == 0, "chords off: no chord text");
    gm_roll_free(r);
    /* given chords: C for bar 2 only */
    gm_chord given[2] = {{-1, -1}, {0, GM_Q_MAJ}};
    p.chords = given;
    p.n_chords = 2;
    r = gm_roll_draw(&s, &l, &p, err);
    if (r) {
        int b1x, b2x;
        gm_roll_bar_line(r, 1, &b1x, &by0, NULL);
        gm_roll_bar_line(r, 2, &b2x, NULL, NULL);
        const gm_canvas *cc = gm_roll_canvas(r);
        size_t in_bar2 = canvas_count_in(cc, GM_ROLL_CHORD_RGB, b1x, 0, b2x, by0);
        CHECK(in_bar2 > 5 && in_bar2 == canvas_count(cc, GM_ROLL_CHORD_RGB), "given chord drawn over bar 2 only");
    }
    gm_roll_free(r);

    /* layout NULL, no title, part of the piece: bars 2..3 */
    p = gm_roll_default_params();
    p.first_bar = 1;
    p.last_bar = 2;
    r = gm_roll_draw(&s, NULL, &p, err);
    CHECK(r != NULL, "bars 2-3: %s", err);
    if (r) {
        in = gm_roll_get_info(r);
        CHECK(in.first_bar == 1 && in.last_bar == 2 && in.n_bars == 4, "range kept");
        CHECK(gm_roll_note_xy(r, 0, 72, 0, &x, &y) == -1 && gm_roll_note_xy(r, 1920, 79, 0, &x, &y) == 0,
              "only notes of the range are located");
        CHECK(in.n_generated == 1, "one generated note in bars 2-3, got %d", in.n_generated);
        CHECK(in.pitch_lo == 52 && in.pitch_hi == 80, "range fitted to the drawn notes (53..79): %d..%d", in.pitch_lo,
              in.pitch_hi);
        gm_roll_bar_line(r, 1, &x, NULL, NULL);
        gm_roll_bar_line(r, 3, &x2, NULL, NULL);
        CHECK(fabs((x2 - x) - 32 * in.col_px) <= 1, "two bars wide");
    }
    gm_roll_free(r);

    /* fixed size: exactly that, filled */
    p = gm_roll_default_params();
    p.width = 1000;
    p.height = 700;
    r = gm_roll_draw(&s, &l, &p, err);
    CHECK(r && gm_roll_canvas(r)->w == 1000 && gm_roll_canvas(r)->h == 700, "1000x700 as asked: %s", err);
    if (r) {
        in = gm_roll_get_info(r);
        CHECK(in.semitone_px > 10, "a tall image gets taller rows: %d px", in.semitone_px);
        int bl0, bl4;
        gm_roll_bar_line(r, 0, &bl0, NULL, NULL);
        gm_roll_bar_line(r, 4, &bl4, NULL, NULL);
        CHECK(bl4 > 1000 - 40 && bl4 < 1000, "the bars fill the width (closing line at %d)", bl4);
    }
    gm_roll_free(r);
    gm_score_free(&s);
}

static void test_roll_metre(void) {
    char err[GM_ERR_SIZE] = "";
    /* 3/4 for 4 bars, then 4/4 for 2 */
    gm_score s;
    gm_score_init(&s, 96);
    gm_score_add_timesig(&s, 0, 3, 4);
    gm_score_add_timesig(&s, 4 * 3 * 96, 4, 4);
    gm_score_add_track(&s, "Waltz", 0, 0, 0);
    for (int q = 0; q < 4 * 3 + 2 * 4; q++) add_note(&s, 0, q * 96, 96, 60 + q % 7, 0);
    gm_score_sort(&s);
    gm_roll *r = gm_roll_draw(&s, NULL, NULL, err);
    CHECK(r != NULL, "3/4 piece: %s", err);
    if (r) {
        gm_roll_info in = gm_roll_get_info(r);
        CHECK(in.n_bars == 6, "4 bars of 3/4 + 2 of 4/4, got %d", in.n_bars);
        int x[7], y0;
        for (int b = 0; b <= 6; b++) gm_roll_bar_line(r, b, &x[b], &y0, NULL);
        int w34 = x[1] - x[0], w44 = x[5] - x[4];
        CHECK(w34 == 12 * GM_ROLL_COL_PX && x[4] - x[0] == 4 * w34, "3/4 bars are 12 columns: %d px", w34);
        CHECK(w44 == 16 * GM_ROLL_COL_PX && x[6] - x[5] == w44, "4/4 bars are 16 columns: %d px", w44);
        CHECK(runs_in_row(gm_roll_canvas(r), y0 + 2, GM_ROLL_BAR_RGB, NULL) == 7, "7 bar lines across");
        /* beat lines: 2 inside each 3/4 bar, 3 inside each 4/4 bar */
        CHECK(runs_in_row(gm_roll_canvas(r), y0 + 2, GM_ROLL_BEAT_RGB, NULL) == 4 * 2 + 2 * 3, "beat lines");
    }
    gm_roll_free(r);
    gm_score_free(&s);

    /* 6/8: beat lines on the dotted quarters (one inside each bar) */
    gm_score_init(&s, 480);
    gm_score_add_timesig(&s, 0, 6, 8);
    gm_score_add_track(&s, "Jig", 0, 0, 0);
    for (int e = 0; e < 12; e++) add_note(&s, 0, e * 240, 240, 67, 0);
    gm_score_sort(&s);
    r = gm_roll_draw(&s, NULL, NULL, err);
    if (r) {
        int x0, x1, y0;
        gm_roll_bar_line(r, 0, &x0, &y0, NULL);
        gm_roll_bar_line(r, 1, &x1, NULL, NULL);
        CHECK(gm_roll_get_info(r).n_bars == 2 && fabs((x1 - x0) - 12 * gm_roll_get_info(r).col_px) <= 1,
              "6/8 bars are 12 columns");
        CHECK(runs_in_row(gm_roll_canvas(r), y0 + 2, GM_ROLL_BEAT_RGB, NULL) == 2, "6/8: one beat line per bar");
    }
    CHECK(r != NULL, "6/8 piece: %s", err);
    gm_roll_free(r);
    gm_score_free(&s);
}

static void test_roll_long(void) {
    char err[GM_ERR_SIZE] = "";
    gm_score s;
    gm_score_init(&s, 480);
    gm_score_add_track(&s, "Piano", 0, 0, 0);
    for (int b = 0; b < 64; b++) add_note(&s, 0, b * 1920, 1920, 48 + b % 24, b >= 60);
    gm_score_sort(&s);
    /* automatic: wraps at GM_ROLL_AUTO_MAX_W into balanced systems */
    gm_roll *r = gm_roll_draw(&s, NULL, NULL, err);
    CHECK(r != NULL, "64 bars: %s", err);
    if (r) {
        gm_roll_info in = gm_roll_get_info(r);
        const gm_canvas *c = gm_roll_canvas(r);
        CHECK(c->w == GM_ROLL_AUTO_MAX_W && in.n_systems >= 2, "wrapped: %d px wide, %d systems", c->w, in.n_systems);
        CHECK(in.n_generated == 4, "4 generated, got %d", in.n_generated);
        /* systems start at the same x, one below the other */
        int xs0, ys0, xs1, ys1, found = 0;
        gm_roll_bar_line(r, 0, &xs0, &ys0, NULL);
        for (int b = 1; b < 64 && !found; b++) {
            gm_roll_bar_line(r, b, &xs1, &ys1, NULL);
            if (ys1 != ys0) found = b;
        }
        CHECK(found > 0 && xs1 == xs0 && ys1 > ys0, "bar %d opens the second system at the left edge", found + 1);
        CHECK(64 - (in.n_systems - 1) * found >= found / 2, "the last system is not a stub");
        int x, y, found_notes = 0;
        for (int b = 0; b < 64; b++)
            found_notes += gm_roll_note_xy(r, b * 1920, 48 + b % 24, 0, &x, &y) == 0 &&
                           same(gm_canvas_get_pixel(c, x, y), gm_roll_fill(0, b >= 60));
        CHECK(found_notes == 64, "every bar's note drawn in its system: %d of 64", found_notes);
    }
    gm_roll_free(r);
    /* given width and bars per row */
    gm_roll_params p = gm_roll_default_params();
    p.bars_per_row = 8;
    p.width = 900;
    r = gm_roll_draw(&s, NULL, &p, err);
    CHECK(r && gm_roll_get_info(r).n_systems == 8 && gm_roll_canvas(r)->w == 900, "8 systems of 8 bars in 900 px");
    if (r) {
        int x0, x8, y0, y8;
        gm_roll_bar_line(r, 0, &x0, &y0, NULL);
        gm_roll_bar_line(r, 8, &x8, &y8, NULL);
        CHECK(x0 == x8 && y8 > y0, "bar 9 starts the second row");
    }
    gm_roll_free(r);
    /* a height that cannot hold 8 systems */
    p.height = GM_ROLL_MIN_H;
    err[0] = 0;
    r = gm_roll_draw(&s, NULL, &p, err);
    CHECK(r == NULL && err[0] && !strchr(err, '\n'), "too low for 8 systems: %s", err);
    gm_score_free(&s);
}

static void test_roll_edges(void) {
    char err[GM_ERR_SIZE] = "";
    /* empty score: an empty one-bar roll */
    gm_score e;
    gm_score_init(&e, 480);
    gm_roll *r = gm_roll_draw(&e, NULL, NULL, err);
    CHECK(r != NULL, "empty score draws: %s", err);
    if (r) {
        gm_roll_info in = gm_roll_get_info(r);
        const gm_canvas *c = gm_roll_canvas(r);
        CHECK(in.n_bars == 1 && in.n_systems == 1 && in.n_drum_lanes == 0 && in.pitch_hi > in.pitch_lo, "one empty bar");
        int notes = 0;
        for (int k = 0; k < GM_ROLL_N_COLOURS; k++) notes += canvas_count(c, gm_roll_fill(k, 0)) > 0;
        CHECK(notes == 0 && canvas_count(c, GM_ROLL_BAR_RGB) > 100, "frame, no notes");
    }
    gm_roll_free(r);
    const char *png = tmp_path("empty.png");
    CHECK(gm_plot_pianoroll(&e, NULL, NULL, png, err) == 0 && file_exists(png), "empty roll written: %s", err);
    gm_score_free(&e);

    /* drums only: no pitch rows */
    gm_score_init(&e, 480);
    gm_score_add_track(&e, "Kit", 0, 9, 1);
    for (int q = 0; q < 8; q++) add_note(&e, 0, q * 480, 30, q % 2 ? 38 : 36, 0);
    add_note(&e, 0, 0, 30, 100, 0); /* a key without a name */
    r = gm_roll_draw(&e, NULL, NULL, err);
    CHECK(r && gm_roll_get_info(r).pitch_hi < gm_roll_get_info(r).pitch_lo && gm_roll_get_info(r).n_drum_lanes == 3,
          "drums only: lanes, no pitch rows: %s", err);
    int x, y;
    if (r) CHECK(gm_roll_note_xy(r, 480, 38, 1, &x, &y) == 0 && same(gm_canvas_get_pixel(gm_roll_canvas(r), x, y), gm_roll_fill(0, 0)),
                 "snare hit drawn");
    gm_roll_free(r);

    /* bad parameters, each a one-line error and no file */
    gm_roll_params p;
    const char *never = tmp_path("never-roll.png");
    struct { int w, h, a, b, per_row; const char *what; } bad[] = {
        {100, 0, -1, -1, 0, "too narrow"},   {0, 50, -1, -1, 0, "too low"},     {9000, 0, -1, -1, 0, "too wide"},
        {0, 0, 2, 3, 0, "bars past the end"}, {0, 0, 1, 0, 0, "first after last"}, {0, 0, -2, -1, 0, "negative bar"},
        {0, 0, -1, -1, -1, "negative bars per row"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        p = gm_roll_default_params();
        p.width = bad[i].w, p.height = bad[i].h, p.first_bar = bad[i].a, p.last_bar = bad[i].b;
        p.bars_per_row = bad[i].per_row;
        err[0] = 0;
        CHECK(gm_plot_pianoroll(&e, NULL, &p, never, err) == -1 && err[0] && !strchr(err, '\n'), "%s refused: %s",
              bad[i].what, err);
    }
    CHECK(gm_roll_draw(NULL, NULL, NULL, err) == NULL && gm_plot_pianoroll(&e, NULL, NULL, NULL, err) == -1,
          "null arguments");
    CHECK(!file_exists(never) && leftover_tmps(never) == 0, "no file on bad parameters");
    err[0] = 0;
    CHECK(gm_plot_pianoroll(&e, NULL, NULL, "/nonexistent-dir-gm/roll.png", err) == -1 && err[0] && !strchr(err, '\n'),
          "unwritable path: %s", err);
    CHECK(!file_exists("/nonexistent-dir-gm/roll.png"), "nothing written there");
    gm_roll_free(NULL);
    gm_score_free(&e);

    /* the PNG holds exactly the canvas */
    gm_score s;
    build_band(&s);
    r = gm_roll_draw(&s, NULL, NULL, err);
    png = tmp_path("band.png");
    CHECK(r && gm_plot_pianoroll(&s, NULL, NULL, png, err) == 0, "band written: %s", err);
    image im = read_png(png);
    if (r) {
        const gm_canvas *c = gm_roll_canvas(r);
        CHECK(im.px && im.w == c->w && im.h == c->h && !memcmp(im.px, c->rgb, (size_t)c->w * c->h * 3),
              "PNG pixels equal the canvas");
        CHECK(im.px && count_rgb(&im, GM_ROLL_GENERATED_EDGE) > 0 && count_rgb(&im, gm_roll_fill(1, 0)) > 0,
              "note colours in the file");
    }
    CHECK(leftover_tmps(png) == 0, "no temporary file left");
    free(im.px);
    gm_roll_free(r);
    gm_score_free(&s);
}

static void test_mark_generated(void) {
    char err[GM_ERR_SIZE] = "";
    gm_layout l;
    gm_layout_preset(&l, "default", err);
    /* the input (480 tpq): a flute melody and a piano */
    gm_score given, out;
    gm_score_init(&given, 480);
    gm_score_add_track(&given, "Melody", 73, 0, 0);
    gm_score_add_track(&given, "Piano", 0, 1, 0);
    add_note(&given, 0, 0, 480, 72, 0);
    add_note(&given, 0, 480, 480, 74, 0);
    add_note(&given, 0, 1000, 480, 76, 0); /* off the grid: 2.083 quarters */
    add_note(&given, 1, 0, 1920, 48, 0);
    /* the output (960 tpq), as a generator writes it: tracks named after
     * classes with class programs, onsets on the 16th grid */
    gm_score_init(&out, 960);
    gm_score_add_track(&out, "lead", 80, 0, 0);
    gm_score_add_track(&out, "piano", 0, 1, 0);
    gm_score_add_track(&out, "drums", 0, 9, 1);
    add_note(&out, 0, 0, 960, 72, 1);      /* given (flag must be cleared) */
    add_note(&out, 0, 960, 960, 74, 0);    /* given */
    add_note(&out, 0, 2 * 960, 960, 76, 0); /* given, snapped 0.083 quarters earlier */
    add_note(&out, 0, 3 * 960, 960, 77, 0); /* new */
    add_note(&out, 0, 960, 960, 75, 0);    /* new pitch at a given onset */
    add_note(&out, 1, 0, 3840, 48, 0);     /* given */
    add_note(&out, 1, 0, 3840, 72, 0);     /* melody's pitch and onset, but in the piano: new */
    add_note(&out, 1, 240 * 3, 960, 48, 0); /* 0.75 quarters off: new */
    add_note(&out, 2, 0, 120, 36, 0);      /* drums: new */
    long n = gm_roll_mark_generated(&out, &given, &l, err);
    CHECK(n == 5, "5 notes marked, got %ld (%s)", n, err);
    static const int want[3][5] = {{0, 0, 0, 1, 1}, {0, 1, 1}, {1}};
    int wrong = 0;
    for (int t = 0; t < 3; t++)
        for (size_t k = 0; k < out.tracks[t].n_notes; k++)
            wrong += ((out.tracks[t].notes[k].flags & GM_NOTE_GENERATED) != 0) != want[t][k];
    CHECK(wrong == 0, "the right notes marked (%d wrong)", wrong);
    /* against itself: nothing is new, every flag cleared */
    CHECK(gm_roll_mark_generated(&out, &out, &l, err) == 0, "a score against itself");
    CHECK(gm_roll_mark_generated(&given, &out, NULL, err) == 3, "without a layout, programs decide: %s", err);
    CHECK(gm_roll_mark_generated(NULL, &given, &l, err) == -1 && err[0], "null score");
    gm_score_free(&given);
    gm_score_free(&out);
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
    test_roll_colours();
    test_roll_band();
    test_roll_metre();
    test_roll_long();
    test_roll_edges();
    test_mark_generated();
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
