/*
 * canvas.c — a tiny RGB rasteriser: canvas, clipped lines and rectangles, a
 * built-in 5x7 bitmap font, atomic PNG output. The loss chart (plot_loss.c)
 * and the piano roll (plot_roll.c) draw with it.
 *
 * The canvas is a plain [h][w][3] byte array with a clip rectangle. Every
 * drawing primitive clips, so callers may pass any coordinates: lines are
 * first cut to the clip rectangle (Liang–Barsky, in double) so that a far
 * away end point costs nothing, then walked with Bresenham. There is no
 * anti-aliasing: every series has one exact colour, which keeps the PNGs
 * small and lets tests find the series by colour.
 */
#include "getmusic.h" /* GM_ERR_SIZE, getmusic_plot.h */
#include "util.h"

#include <png.h> /* before setjmp.h: older libpng insists */
#include <setjmp.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Canvas                                                                    */
/* ------------------------------------------------------------------------ */

gm_canvas *gm_canvas_new(int w, int h, gm_rgb bg) {
    if (w < 1 || h < 1 || w > GM_CANVAS_MAX_SIDE || h > GM_CANVAS_MAX_SIDE) return NULL;
    gm_canvas *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->rgb = malloc((size_t)w * (size_t)h * 3);
    if (!c->rgb) {
        free(c);
        return NULL;
    }
    c->w = w;
    c->h = h;
    gm_canvas_reset_clip(c);
    gm_canvas_fill_rect(c, 0, 0, w, h, bg);
    return c;
}

void gm_canvas_free(gm_canvas *c) {
    if (!c) return;
    free(c->rgb);
    free(c);
}

void gm_canvas_reset_clip(gm_canvas *c) {
    c->clip_x0 = c->clip_y0 = 0;
    c->clip_x1 = c->w;
    c->clip_y1 = c->h;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void gm_canvas_set_clip(gm_canvas *c, int x0, int y0, int x1, int y1) {
    c->clip_x0 = clampi(x0, 0, c->w);
    c->clip_y0 = clampi(y0, 0, c->h);
    c->clip_x1 = clampi(x1, c->clip_x0, c->w);
    c->clip_y1 = clampi(y1, c->clip_y0, c->h);
}

static inline void put(gm_canvas *c, int x, int y, gm_rgb col) {
    uint8_t *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    p[0] = col.r;
    p[1] = col.g;
    p[2] = col.b;
}

void gm_canvas_set_pixel(gm_canvas *c, int x, int y, gm_rgb col) {
    if (x >= c->clip_x0 && x < c->clip_x1 && y >= c->clip_y0 && y < c->clip_y1) put(c, x, y, col);
}

gm_rgb gm_canvas_get_pixel(const gm_canvas *c, int x, int y) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return GM_RGB(0, 0, 0);
    const uint8_t *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    return GM_RGB(p[0], p[1], p[2]);
}

void gm_canvas_fill_rect(gm_canvas *c, int x, int y, int w, int h, gm_rgb col) {
    /* 64-bit so that x + w cannot overflow for any int arguments */
    long long x0 = x, y0 = y, x1 = (long long)x + w, y1 = (long long)y + h;
    if (x0 < c->clip_x0) x0 = c->clip_x0;
    if (y0 < c->clip_y0) y0 = c->clip_y0;
    if (x1 > c->clip_x1) x1 = c->clip_x1;
    if (y1 > c->clip_y1) y1 = c->clip_y1;
    for (long long yy = y0; yy < y1; yy++)
        for (long long xx = x0; xx < x1; xx++) put(c, (int)xx, (int)yy, col);
}

/* Liang–Barsky: cuts the segment to [xmin, xmax] × [ymin, ymax]; 0 when
 * nothing is left. An unclipped segment keeps its end points exactly. */
static int clip_segment(double *x0, double *y0, double *x1, double *y1,
                        double xmin, double ymin, double xmax, double ymax) {
    double dx = *x1 - *x0, dy = *y1 - *y0, t0 = 0, t1 = 1;
    double p[4] = {-dx, dx, -dy, dy};
    double q[4] = {*x0 - xmin, xmax - *x0, *y0 - ymin, ymax - *y0};
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0) {
            if (q[i] < 0) return 0; /* parallel to this edge and outside */
            continue;
        }
        double r = q[i] / p[i];
        if (p[i] < 0) {
            if (r > t1) return 0;
            if (r > t0) t0 = r;
        } else {
            if (r < t0) return 0;
            if (r < t1) t1 = r;
        }
    }
    double ox = *x0, oy = *y0;
    if (t1 < 1) {
        *x1 = ox + t1 * dx;
        *y1 = oy + t1 * dy;
    }
    if (t0 > 0) {
        *x0 = ox + t0 * dx;
        *y0 = oy + t0 * dy;
    }
    return 1;
}

void gm_canvas_line(gm_canvas *c, int x0, int y0, int x1, int y1, int thickness, gm_rgb col) {
    int t = clampi(thickness, 1, 64);
    if (c->clip_x1 <= c->clip_x0 || c->clip_y1 <= c->clip_y0) return;
    /* Clip to the clip rectangle grown by the brush, so that a thick line
     * running just outside still paints its inner edge. */
    double ax = x0, ay = y0, bx = x1, by = y1;
    if (!clip_segment(&ax, &ay, &bx, &by, c->clip_x0 - t, c->clip_y0 - t, c->clip_x1 - 1 + t,
                      c->clip_y1 - 1 + t))
        return;
    long xa = lround(ax), ya = lround(ay), xb = lround(bx), yb = lround(by);
    long dx = labs(xb - xa), dy = -labs(yb - ya);
    long sx = xa < xb ? 1 : -1, sy = ya < yb ? 1 : -1, e = dx + dy;
    int off = (t - 1) / 2;
    for (;;) {
        if (t == 1)
            gm_canvas_set_pixel(c, (int)xa, (int)ya, col);
        else
            gm_canvas_fill_rect(c, (int)xa - off, (int)ya - off, t, t, col);
        if (xa == xb && ya == yb) break;
        long e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            xa += sx;
        }
        if (e2 <= dx) {
            e += dx;
            ya += sy;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* 5x7 bitmap font                                                           */
/* ------------------------------------------------------------------------ */

/* 5x7 glyphs plus a descender row (used by g j p q y ,), top row first;
 * bit 4 is the leftmost column. */
static const struct glyph { char ch; uint8_t rows[8]; } FONT[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E, 0}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E, 0}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F, 0}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E, 0}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02, 0}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E, 0}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E, 0}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E, 0}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C, 0}},
    {' ', {0, 0, 0, 0, 0, 0, 0, 0}},                      {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C, 0}},
    {',', {0, 0, 0, 0, 0, 0x0C, 0x04, 0x08}},             {'-', {0, 0, 0, 0x1F, 0, 0, 0, 0}},
    {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0, 0}},       {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0}}, {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0, 0}},
    {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0, 0}},       {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0, 0}},
    {'_', {0, 0, 0, 0, 0, 0, 0x1F, 0}},                   {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A, 0}},
    {'\'', {0x04, 0x04, 0x08, 0, 0, 0, 0, 0}},            {'!', {0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04, 0}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04, 0}},    {'[', {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E, 0}},
    {']', {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E, 0}}, {'&', {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D, 0}},
    {'*', {0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0, 0}},       {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0}},
    {'<', {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0}}, {'>', {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11, 0}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E, 0}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E, 0}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C, 0}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F, 0}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10, 0}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F, 0}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11, 0}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E, 0}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C, 0}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F, 0}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11, 0}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10, 0}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D, 0}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11, 0}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E, 0}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04, 0}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A, 0}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11, 0}},
    {'Y', {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04, 0}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F, 0}},
    {'a', {0, 0, 0x0E, 0x01, 0x0F, 0x11, 0x0F, 0}},       {'b', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E, 0}},
    {'c', {0, 0, 0x0E, 0x10, 0x10, 0x11, 0x0E, 0}},       {'d', {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F, 0}},
    {'e', {0, 0, 0x0E, 0x11, 0x1F, 0x10, 0x0E, 0}},       {'f', {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08, 0}},
    {'g', {0, 0, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}},    {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0}},
    {'i', {0x04, 0, 0x0C, 0x04, 0x04, 0x04, 0x0E, 0}},    {'j', {0x02, 0, 0x06, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'k', {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0}}, {'l', {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E, 0}},
    {'m', {0, 0, 0x1A, 0x15, 0x15, 0x11, 0x11, 0}},       {'n', {0, 0, 0x16, 0x19, 0x11, 0x11, 0x11, 0}},
    {'o', {0, 0, 0x0E, 0x11, 0x11, 0x11, 0x0E, 0}},       {'p', {0, 0, 0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10}},
    {'q', {0, 0, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x01}},    {'r', {0, 0, 0x16, 0x19, 0x10, 0x10, 0x10, 0}},
    {'s', {0, 0, 0x0E, 0x10, 0x0E, 0x01, 0x1E, 0}},       {'t', {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06, 0}},
    {'u', {0, 0, 0x11, 0x11, 0x11, 0x13, 0x0D, 0}},       {'v', {0, 0, 0x11, 0x11, 0x11, 0x0A, 0x04, 0}},
    {'w', {0, 0, 0x11, 0x11, 0x15, 0x15, 0x0A, 0}},       {'x', {0, 0, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0}},
    {'y', {0, 0, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E}},    {'z', {0, 0, 0x1F, 0x02, 0x04, 0x08, 0x1F, 0}},
};
static const uint8_t GLYPH_BOX[8] = {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F, 0};
#define FONT_W 5
#define FONT_H GM_CANVAS_FONT_H /* body height (7); the cell is FONT_ROWS tall */
#define FONT_ROWS 8
#define FONT_ADVANCE 6 /* glyph plus one column of space */

static const uint8_t *glyph_rows(unsigned char ch) {
    for (size_t i = 0; i < sizeof FONT / sizeof *FONT; i++)
        if ((unsigned char)FONT[i].ch == ch) return FONT[i].rows;
    return GLYPH_BOX;
}

int gm_canvas_text_width(const char *s, int scale) {
    scale = clampi(scale, 1, 16);
    long long n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) n++; /* one cell per UTF-8 character */
    long long w = n ? (n * FONT_ADVANCE - 1) * scale : 0;
    return w > 0x3fffffff ? 0x3fffffff : (int)w;
}

int gm_canvas_text(gm_canvas *c, int x, int y, const char *s, int scale, gm_rgb col) {
    scale = clampi(scale, 1, 16);
    long long gx = x; /* 64-bit: a long string far right must not overflow */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) == 0x80) continue;
        /* only glyphs that touch the clip rectangle are drawn */
        if (gx < c->clip_x1 && gx + FONT_W * scale > c->clip_x0 && (long long)y < c->clip_y1 &&
            (long long)y + FONT_ROWS * scale > c->clip_y0) {
            const uint8_t *g = glyph_rows(*p);
            for (int r = 0; r < FONT_ROWS; r++)
                for (int b = 0; b < FONT_W; b++)
                    if (g[r] >> (FONT_W - 1 - b) & 1)
                        gm_canvas_fill_rect(c, (int)gx + b * scale, y + r * scale, scale, scale, col);
        }
        gx += FONT_ADVANCE * scale;
    }
    return gm_canvas_text_width(s, scale);
}

/* ------------------------------------------------------------------------ */
/* PNG output                                                                */
/* ------------------------------------------------------------------------ */

typedef struct { char msg[160]; } png_err_ctx;

static void on_png_error(png_structp png, png_const_charp msg) {
    png_err_ctx *e = png_get_error_ptr(png);
    if (e) gm_strlcpy(e->msg, msg ? msg : "unknown error", sizeof e->msg);
    png_longjmp(png, 1);
}

/* The default handler prints to stderr; library code stays quiet. */
static void on_png_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

int gm_canvas_write_png(const gm_canvas *c, const char *path, char *err) {
    if (!c || !c->rgb || !path || !*path) return gm_fail(err, "write png: null argument");
    gm_atomic_file a;
    if (gm_atomic_open(&a, path, err)) return -1;
    FILE *f = a.f;

    /* Everything that the error path frees is set before setjmp and not
     * changed after it, so no volatile is needed. */
    png_err_ctx pe = {{0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &pe, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int rc = -1;
    if (!png || !info) {
        gm_fail(err, "write png '%s': out of memory", path);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        gm_fail(err, "write png '%s': libpng: %s", path, pe.msg);
        goto done;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < c->h; y++) png_write_row(png, c->rgb + (size_t)y * (size_t)c->w * 3);
    png_write_end(png, info);
    rc = 0;

done:
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    if (rc) {
        gm_atomic_abort(&a);
        return rc;
    }
    return gm_atomic_commit(&a, err);
}
