/*
 * plot.c — a tiny RGB rasteriser and the training-loss chart.
 *
 * The canvas is a plain [h][w][3] byte array with a clip rectangle. Every
 * drawing primitive clips, so callers may pass any coordinates: lines are
 * first cut to the clip rectangle (Liang–Barsky, in double) so that a far
 * away end point costs nothing, then walked with Bresenham. There is no
 * anti-aliasing: every series has one exact colour, which keeps the PNGs
 * small and lets tests find the series by colour.
 *
 * The loss chart reads the trainer's JSON-lines log with a small flat-object
 * scanner (not strstr: "loss" is a suffix of "val_loss"), tolerant of a line
 * cut short by a writer that is still running, and of NaN / Infinity values
 * as Python's json module writes them (such values are dropped).
 */
#include "getmusic.h" /* GM_ERR_SIZE */
#include "plot.h"
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

/* 5x7 glyphs plus a descender row (g j p q y ,), top row first; bit 4 is
 * the leftmost column. */
static const struct glyph { char ch; uint8_t rows[8]; } FONT[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {' ', {0, 0, 0, 0, 0, 0, 0}},                      {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},
    {',', {0, 0, 0, 0, 0, 0x0C, 0x04, 0x08}},             {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
    {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},       {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}}, {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},
    {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},       {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},
    {'_', {0, 0, 0, 0, 0, 0, 0x1F}},                   {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}},
    {'\'', {0x04, 0x04, 0x08, 0, 0, 0, 0}},            {'!', {0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04}},    {'[', {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E}},
    {']', {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}}, {'&', {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D}},
    {'*', {0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0}},       {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'<', {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}}, {'>', {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'a', {0, 0, 0x0E, 0x01, 0x0F, 0x11, 0x0F}},       {'b', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}},
    {'c', {0, 0, 0x0E, 0x10, 0x10, 0x11, 0x0E}},       {'d', {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}},
    {'e', {0, 0, 0x0E, 0x11, 0x1F, 0x10, 0x0E}},       {'f', {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}},
    {'g', {0, 0, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}},    {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'i', {0x04, 0, 0x0C, 0x04, 0x04, 0x04, 0x0E}},    {'j', {0x02, 0, 0x06, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'k', {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}}, {'l', {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'m', {0, 0, 0x1A, 0x15, 0x15, 0x11, 0x11}},       {'n', {0, 0, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'o', {0, 0, 0x0E, 0x11, 0x11, 0x11, 0x0E}},       {'p', {0, 0, 0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10}},
    {'q', {0, 0, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x01}},       {'r', {0, 0, 0x16, 0x19, 0x10, 0x10, 0x10}},
    {'s', {0, 0, 0x0E, 0x10, 0x0E, 0x01, 0x1E}},       {'t', {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}},
    {'u', {0, 0, 0x11, 0x11, 0x11, 0x13, 0x0D}},       {'v', {0, 0, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'w', {0, 0, 0x11, 0x11, 0x15, 0x15, 0x0A}},       {'x', {0, 0, 0x11, 0x0A, 0x04, 0x0A, 0x11}},
    {'y', {0, 0, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E}},       {'z', {0, 0, 0x1F, 0x02, 0x04, 0x08, 0x1F}},
};
static const uint8_t GLYPH_BOX[8] = {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F};
#define FONT_W 5
#define FONT_H 7 /* body height; the cell is FONT_ROWS tall */
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

/* ------------------------------------------------------------------------ */
/* Log reading                                                               */
/* ------------------------------------------------------------------------ */

typedef struct { double x, y; size_t order; } point;
typedef struct { point *v; size_t n, cap; } series;

static int series_push(series *s, double x, double y) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        if (cap > SIZE_MAX / sizeof *s->v) return -1;
        point *v = realloc(s->v, cap * sizeof *v);
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n] = (point){x, y, s->n};
    s->n++;
    return 0;
}

/* The fields of one log line that the chart uses. */
typedef struct { double step, loss, val; int has_step, has_loss, has_val; } log_line;

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

/* Skips a JSON string starting at the opening quote; copies up to n-1 bytes
 * of it (escapes left as written) into out when out is given. NULL when it
 * does not end on this line. */
static const char *scan_string(const char *p, const char *end, char *out, size_t n) {
    size_t k = 0;
    for (p++; p < end; p++) {
        if (*p == '"') {
            if (out) out[k] = 0;
            return p + 1;
        }
        if (*p == '\\' && ++p == end) return NULL;
        if (out && k + 1 < n) out[k++] = *p;
    }
    return NULL;
}

/* Skips one JSON value of any kind. Numbers go through strtod, which also
 * takes NaN / Infinity (Python's json writes those); *num is set and *is_num
 * to 1 only for a finite number. */
static const char *scan_value(const char *p, const char *end, double *num, int *is_num) {
    *is_num = 0;
    if (p >= end) return NULL;
    if (*p == '"') return scan_string(p, end, NULL, 0);
    if (*p == '{' || *p == '[') { /* nested: skip, tracking depth and strings */
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                if (!(p = scan_string(p, end, NULL, 0))) return NULL;
                continue;
            }
            if (*p == '{' || *p == '[') depth++;
            if ((*p == '}' || *p == ']') && --depth == 0) return p + 1;
            p++;
        }
        return NULL;
    }
    static const char *const lits[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(lits[i]);
        if ((size_t)(end - p) >= k && !memcmp(p, lits[i], k)) return p + k;
    }
    char *q;
    double v = strtod(p, &q); /* the line is NUL-terminated, so q <= end */
    if (q == p || q > end) return NULL;
    if (isfinite(v)) {
        *num = v;
        *is_num = 1;
    }
    return q;
}

#define MAX_STEP 1e15
#define MAX_LOSS 1e30

/* 0 when the line is one complete JSON object. */
static int parse_line(const char *p, const char *end, log_line *r) {
    memset(r, 0, sizeof *r);
    p = skip_ws(p, end);
    if (p == end || *p++ != '{') return -1;
    p = skip_ws(p, end);
    if (p < end && *p == '}') return skip_ws(p + 1, end) == end ? 0 : -1;
    for (;;) {
        char key[16];
        double v = 0;
        int is_num;
        if (p == end || *p != '"' || !(p = scan_string(p, end, key, sizeof key))) return -1;
        p = skip_ws(p, end);
        if (p == end || *p++ != ':') return -1;
        p = skip_ws(p, end);
        if (!(p = scan_value(p, end, &v, &is_num))) return -1;
        /* magnitudes are bounded so that axis arithmetic stays exact enough
         * (step + 1 > step) and finite (max - min) */
        if (is_num && !strcmp(key, "step") && fabs(v) <= MAX_STEP) r->step = v, r->has_step = 1;
        if (is_num && !strcmp(key, "loss") && fabs(v) <= MAX_LOSS) r->loss = v, r->has_loss = 1;
        if (is_num && !strcmp(key, "val_loss") && fabs(v) <= MAX_LOSS) r->val = v, r->has_val = 1;
        p = skip_ws(p, end);
        if (p == end) return -1;
        if (*p == '}') return skip_ws(p + 1, end) == end ? 0 : -1;
        if (*p++ != ',') return -1;
        p = skip_ws(p, end);
    }
}

#define LOG_LINE_MAX 8192 /* longer lines are skipped, not read whole */

static int read_log(const char *path, series *train, series *val, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return gm_fail(err, "cannot open log '%s': %s", path, strerror(errno));
    char *line = malloc(LOG_LINE_MAX + 1);
    if (!line) {
        fclose(f);
        return gm_fail(err, "read log '%s': out of memory", path);
    }
    size_t n = 0, n_lines = 0, n_used = 0;
    int too_long = 0, rc = 0;
    for (;;) {
        int ch = getc(f);
        if (ch != EOF && ch != '\n') {
            if (n < LOG_LINE_MAX) line[n++] = (char)ch;
            else too_long = 1;
            continue;
        }
        line[n] = 0;
        const char *end = line + n;
        if (skip_ws(line, end) != end || too_long) { /* blank lines do not count */
            n_lines++;
            log_line r;
            if (!too_long && !parse_line(line, end, &r) && r.has_step && (r.has_loss || r.has_val)) {
                n_used++;
                if ((r.has_loss && series_push(train, r.step, r.loss)) ||
                    (r.has_val && series_push(val, r.step, r.val))) {
                    rc = gm_fail(err, "read log '%s': out of memory", path);
                    break;
                }
            }
        }
        n = 0;
        too_long = 0;
        if (ch == EOF) break;
    }
    if (!rc && ferror(f)) rc = gm_fail(err, "cannot read log '%s': %s", path, strerror(errno));
    else if (!rc && !n_lines) rc = gm_fail(err, "log '%s' is empty", path);
    else if (!rc && !n_used)
        rc = gm_fail(err, "log '%s' has no usable line (%zu lines, none a JSON object with numeric \"step\" and \"loss\" or \"val_loss\")",
                     path, n_lines);
    free(line);
    fclose(f);
    return rc;
}

/* By step; equal steps (a resumed run) keep the file order. */
static int point_cmp(const void *a, const void *b) {
    const point *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return p->order < q->order ? -1 : p->order > q->order;
}

/* ------------------------------------------------------------------------ */
/* Axes                                                                      */
/* ------------------------------------------------------------------------ */

#define MAX_TICKS 64
typedef struct { double v; char label[32]; } tick; /* v in axis units (log10 on a log axis) */

/* 1, 2 or 5 times a power of ten, near range / target. */
static double nice_step(double range, int target) {
    double raw = range / (target < 1 ? 1 : target);
    if (!(raw > 0) || !isfinite(raw)) return 1; /* degenerate range: any step will do */
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void format_linear(char *buf, size_t n, double v, double step) {
    int d = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) < step * 1e-6) v = 0; /* no "-0.0" */
    if (d > 6 || fabs(v) >= 1e9) snprintf(buf, n, "%.3g", v);
    else snprintf(buf, n, "%.*f", d, v);
}

/* Widens [*lo, *hi] to whole steps and fills ticks; returns their count. */
static int linear_ticks(double *lo, double *hi, int target, int integer, tick *t) {
    double s = nice_step(*hi - *lo, target);
    if (integer && s < 1) s = 1;
    double a = floor(*lo / s + 1e-9), b = ceil(*hi / s - 1e-9);
    if (b <= a) b = a + 1;
    *lo = a * s;
    *hi = b * s;
    int n = 0;
    for (double k = a; k <= b + 0.5 && n < MAX_TICKS; k++) {
        t[n].v = k * s;
        format_linear(t[n].label, sizeof t[n].label, t[n].v, s);
        n++;
    }
    return n;
}

/* Ticks at 1, 2, 5 × 10^k over short spans, at decades over long ones. */
static int log_ticks(double lo, double hi, tick *t) {
    double span = hi - lo;
    static const double mult[3] = {1, 2, 5};
    int n_mult = span <= 3 ? 3 : 1;
    int every = span > 8 ? (int)ceil(span / 8) : 1;
    int n = 0;
    for (int k = (int)floor(lo); k <= (int)ceil(hi) && n < MAX_TICKS; k++) {
        if (((k % every) + every) % every) continue;
        for (int i = 0; i < n_mult && n < MAX_TICKS; i++) {
            double v = log10(mult[i]) + k;
            if (v < lo - 1e-9 || v > hi + 1e-9) continue;
            t[n].v = v;
            if (k >= -4 && k <= 5)
                snprintf(t[n].label, sizeof t[n].label, "%.*f", k < 0 ? -k : 0, mult[i] * pow(10, k));
            else
                snprintf(t[n].label, sizeof t[n].label, "%.0fe%d", mult[i], k);
            n++;
        }
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* Loss chart                                                                */
/* ------------------------------------------------------------------------ */

#define COL_WHITE GM_RGB(255, 255, 255)
#define COL_AXIS  GM_RGB(0, 0, 0)
#define COL_GRID  GM_RGB(230, 230, 230)
#define COL_TEXT  GM_RGB(40, 40, 40)
#define COL_FRAME GM_RGB(150, 150, 150)

typedef struct {
    int left, top, pw, ph; /* plot rectangle: [left, left+pw) × [top, top+ph) */
    double x0, x1, y0, y1; /* axis ranges; y in log10 units when logy */
    int logy;
} frame;

static int map_x(const frame *f, double x) {
    return f->left + (int)lround((x - f->x0) / (f->x1 - f->x0) * (f->pw - 1));
}
static int map_y(const frame *f, double y) {
    double v = f->logy ? log10(y) : y;
    return f->top + f->ph - 1 - (int)lround((v - f->y0) / (f->y1 - f->y0) * (f->ph - 1));
}

static void polyline(gm_canvas *c, const frame *f, const point *p, const double *ys, size_t n, int thick, gm_rgb col) {
    for (size_t i = 0; i < n; i++) {
        int x = map_x(f, p[i].x), y = map_y(f, ys ? ys[i] : p[i].y);
        if (i == 0) gm_canvas_line(c, x, y, x, y, thick, col);
        else gm_canvas_line(c, map_x(f, p[i - 1].x), map_y(f, ys ? ys[i - 1] : p[i - 1].y), x, y, thick, col);
    }
}

/* Debiased exponential moving average (as TensorBoard smooths), span about
 * 5% of the points, so the curve neither lags behind nor starts from 0. */
static void moving_average(const point *p, size_t n, double *out) {
    double span = 0.05 * (double)n;
    if (span < 1) span = 1;
    double a = 2 / (span + 1), num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num = (1 - a) * num + a * p[i].y;
        den = (1 - a) * den + a;
        out[i] = num / den;
    }
}

static void draw_legend(gm_canvas *c, const frame *f, int has_train, int has_val) {
    const char *labels[3];
    int kind[3], n = 0;
    if (has_train) labels[n] = "train", kind[n++] = 0;
    if (has_train) labels[n] = "train EMA", kind[n++] = 1;
    if (has_val) labels[n] = "val", kind[n++] = 2;
    int tw = 0;
    for (int i = 0; i < n; i++) {
        int w = gm_canvas_text_width(labels[i], 1);
        if (w > tw) tw = w;
    }
    int sw = 22, row = 13;
    int bw = 8 + sw + 6 + tw + 8, bh = 6 + n * row + 2;
    int bx = f->left + f->pw - bw - 8, by = f->top + 8;
    if (bx < f->left + 2) bx = f->left + 2;
    gm_canvas_fill_rect(c, bx, by, bw, bh, COL_WHITE);
    gm_canvas_line(c, bx, by, bx + bw - 1, by, 1, COL_FRAME);
    gm_canvas_line(c, bx, by + bh - 1, bx + bw - 1, by + bh - 1, 1, COL_FRAME);
    gm_canvas_line(c, bx, by, bx, by + bh - 1, 1, COL_FRAME);
    gm_canvas_line(c, bx + bw - 1, by, bx + bw - 1, by + bh - 1, 1, COL_FRAME);
    for (int i = 0; i < n; i++) {
        int y = by + 6 + i * row + 3, x = bx + 8;
        if (kind[i] == 0) gm_canvas_line(c, x, y, x + sw - 1, y, 1, GM_PLOT_TRAIN_RGB);
        if (kind[i] == 1) gm_canvas_line(c, x, y, x + sw - 1, y, 2, GM_PLOT_EMA_RGB);
        if (kind[i] == 2) {
            gm_canvas_line(c, x, y, x + sw - 1, y, 2, GM_PLOT_VAL_RGB);
            gm_canvas_fill_rect(c, x + sw / 2 - 2, y - 2, 5, 5, GM_PLOT_VAL_RGB);
        }
        gm_canvas_text(c, x + sw + 6, y - 3, labels[i], 1, COL_TEXT);
    }
}

static void draw_chart(gm_canvas *c, const series *train, const double *ema, const series *val) {
    /* data ranges */
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    const series *all[2] = {train, val};
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < all[s]->n; i++) {
            const point *p = &all[s]->v[i];
            xmin = fmin(xmin, p->x), xmax = fmax(xmax, p->x);
            ymin = fmin(ymin, p->y), ymax = fmax(ymax, p->y);
        }
    frame f = {0};
    f.logy = ymin > 0 && ymax / ymin > 20;

    /* layout: title, "loss" label, plot, tick labels, "step" label */
    int W = c->w, H = c->h;
    int title_scale = W >= 400 && H >= 260 ? 2 : 1;
    f.top = 8 + FONT_H * title_scale + 8 + FONT_H + 6;
    int bottom = 1 + 4 + 4 + FONT_H + 6 + FONT_H + 8;
    int right = 28;
    f.ph = H - f.top - bottom;

    tick yt[MAX_TICKS], xt[MAX_TICKS];
    int nyt;
    if (f.logy) {
        double lo = log10(ymin), hi = log10(ymax), pad = 0.04 * (hi - lo);
        f.y0 = lo - pad;
        f.y1 = hi + pad;
        nyt = log_ticks(f.y0, f.y1, yt);
    } else {
        double span = ymax - ymin, pad = span > 0 ? 0.05 * span : (ymax != 0 ? 0.1 * fabs(ymax) : 1);
        f.y0 = ymin - pad;
        f.y1 = ymax + pad;
        if (ymin >= 0 && f.y0 < 0) f.y0 = 0; /* losses are not negative: keep 0 as the floor */
        nyt = linear_ticks(&f.y0, &f.y1, f.ph / 45, 0, yt);
    }
    int ylw = 0;
    for (int i = 0; i < nyt; i++) {
        int w = gm_canvas_text_width(yt[i].label, 1);
        if (w > ylw) ylw = w;
    }
    f.left = 10 + ylw + 4 + 4;
    f.pw = W - f.left - right;

    /* x ticks: fewer when the labels would crowd each other */
    int nxt = 0;
    for (int target = f.pw / 80 > 1 ? f.pw / 80 : 1; target >= 1; target = target * 2 / 3) {
        f.x0 = xmin;
        f.x1 = xmax > xmin ? xmax : xmin + 1;
        nxt = linear_ticks(&f.x0, &f.x1, target, 1, xt);
        int xlw = gm_canvas_text_width(xt[nxt - 1].label, 1);
        if (target == 1 || (xlw + 16) * nxt <= f.pw) break;
    }

    /* grid, then the series clipped to the plot rectangle */
    for (int i = 0; i < nyt; i++) {
        int y = f.top + f.ph - 1 - (int)lround((yt[i].v - f.y0) / (f.y1 - f.y0) * (f.ph - 1));
        gm_canvas_line(c, f.left, y, f.left + f.pw - 1, y, 1, COL_GRID);
    }
    for (int i = 0; i < nxt; i++) {
        int x = map_x(&f, xt[i].v);
        gm_canvas_line(c, x, f.top, x, f.top + f.ph - 1, 1, COL_GRID);
    }
    gm_canvas_set_clip(c, f.left, f.top, f.left + f.pw, f.top + f.ph);
    polyline(c, &f, train->v, NULL, train->n, 1, GM_PLOT_TRAIN_RGB);
    polyline(c, &f, train->v, ema, train->n, 2, GM_PLOT_EMA_RGB);
    polyline(c, &f, val->v, NULL, val->n, 2, GM_PLOT_VAL_RGB);
    for (size_t i = 0; i < val->n; i++)
        gm_canvas_fill_rect(c, map_x(&f, val->v[i].x) - 2, map_y(&f, val->v[i].y) - 2, 5, 5, GM_PLOT_VAL_RGB);
    gm_canvas_reset_clip(c);

    /* axes with ticks and labels */
    int xa = f.left - 1, ya = f.top + f.ph; /* the axis lines sit just outside the plot */
    gm_canvas_line(c, xa, f.top, xa, ya, 1, COL_AXIS);
    gm_canvas_line(c, xa, ya, f.left + f.pw - 1, ya, 1, COL_AXIS);
    gm_canvas_line(c, f.left, f.top - 1, f.left + f.pw - 1, f.top - 1, 1, COL_FRAME);
    gm_canvas_line(c, f.left + f.pw, f.top - 1, f.left + f.pw, ya, 1, COL_FRAME);
    for (int i = 0; i < nyt; i++) {
        int y = f.top + f.ph - 1 - (int)lround((yt[i].v - f.y0) / (f.y1 - f.y0) * (f.ph - 1));
        gm_canvas_line(c, xa - 4, y, xa - 1, y, 1, COL_AXIS);
        gm_canvas_text(c, xa - 4 - 4 - gm_canvas_text_width(yt[i].label, 1), y - 3, yt[i].label, 1, COL_TEXT);
    }
    for (int i = 0; i < nxt; i++) {
        int x = map_x(&f, xt[i].v);
        gm_canvas_line(c, x, ya + 1, x, ya + 4, 1, COL_AXIS);
        gm_canvas_text(c, x - gm_canvas_text_width(xt[i].label, 1) / 2, ya + 4 + 4, xt[i].label, 1, COL_TEXT);
    }
    const char *xl = "step", *yl = f.logy ? "loss (log scale)" : "loss";
    gm_canvas_text(c, f.left + (f.pw - gm_canvas_text_width(xl, 1)) / 2, ya + 4 + 4 + FONT_H + 6, xl, 1, COL_TEXT);
    gm_canvas_text(c, 10, f.top - FONT_H - 6, yl, 1, COL_TEXT);

    const char *title = "getmusic training loss";
    gm_canvas_text(c, (W - gm_canvas_text_width(title, title_scale)) / 2, 8, title, title_scale, COL_TEXT);
    draw_legend(c, &f, train->n > 0, val->n > 0);
}

int gm_plot_losses(const char *log_path, const char *png_path, int width, int height, char *err) {
    if (!log_path || !png_path) return gm_fail(err, "plot losses: null argument");
    if (width < GM_PLOT_MIN_W || height < GM_PLOT_MIN_H || width > GM_PLOT_MAX_SIDE || height > GM_PLOT_MAX_SIDE)
        return gm_fail(err, "plot losses: size %dx%d is outside %dx%d .. %dx%d", width, height, GM_PLOT_MIN_W,
                       GM_PLOT_MIN_H, GM_PLOT_MAX_SIDE, GM_PLOT_MAX_SIDE);
    series train = {0}, val = {0};
    double *ema = NULL;
    gm_canvas *c = NULL;
    int rc = -1;
    if (read_log(log_path, &train, &val, err)) goto done;
    if (train.n) qsort(train.v, train.n, sizeof *train.v, point_cmp);
    if (val.n) qsort(val.v, val.n, sizeof *val.v, point_cmp);
    ema = malloc((train.n ? train.n : 1) * sizeof *ema);
    c = gm_canvas_new(width, height, COL_WHITE);
    if (!ema || !c) {
        gm_fail(err, "plot losses: out of memory");
        goto done;
    }
    moving_average(train.v, train.n, ema);
    draw_chart(c, &train, ema, &val);
    rc = gm_canvas_write_png(c, png_path, err);
done:
    gm_canvas_free(c);
    free(ema);
    free(train.v);
    free(val.v);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Piano roll                                                                */
/* ------------------------------------------------------------------------ */

/*
 * Layout, top to bottom: title, legend, then one block per system:
 *
 *   bar numbers (and metres)      ROLL_NUM_H
 *   chord names                   ROLL_CHORD_H
 *   frame line                    1 px above the pitch area
 *   pitch rows, highest first     rows × semitone px
 *   separator                     1 px (only with both pitches and drums)
 *   drum lanes, highest key first lanes × lane px
 *   frame line                    1 px
 *
 * Time maps through the bar map: a tick becomes a fractional column (its
 * place inside its bar, linearly), so bars of any metre and length keep
 * their true proportions, and unquantised notes sit where they are played.
 * Every system starts at plot_x and uses one scale (col_px), so a column's
 * x is plot_x + (col - first column of the system) × col_px.
 */

static const uint8_t ROLL_COLOURS[GM_ROLL_N_COLOURS][3] = GM_ROLL_COLOURS;

static gm_rgb roll_base(int k) {
    if (k < 0) k = 0;
    const uint8_t *c = ROLL_COLOURS[k % GM_ROLL_N_COLOURS];
    return GM_RGB(c[0], c[1], c[2]);
}

gm_rgb gm_roll_fill(int k, int generated) {
    gm_rgb c = roll_base(k);
    if (!generated) return c;
    return GM_RGB(c.r + (255 - c.r) * 9 / 20, c.g + (255 - c.g) * 9 / 20, c.b + (255 - c.b) * 9 / 20); /* 45% to white */
}

gm_rgb gm_roll_edge(int k, int generated) {
    if (generated) return GM_ROLL_GENERATED_EDGE;
    gm_rgb c = roll_base(k);
    return GM_RGB(c.r / 2, c.g / 2, c.b / 2);
}

/* The legend's neutral swatches for the two note styles. */
#define ROLL_STYLE_FILL GM_RGB(150, 150, 150)
#define ROLL_STYLE_EDGE GM_RGB(75, 75, 75)
#define ROLL_STYLE_TINT GM_RGB(197, 197, 197) /* the fill, 45% to white */

#define ROLL_NUM_H 11    /* bar-number row */
#define ROLL_CHORD_H 11  /* chord row */
#define ROLL_GAP 18      /* between systems */
#define ROLL_RIGHT 14    /* right margin */
#define ROLL_BOTTOM 12   /* bottom margin */
#define ROLL_LEGEND_ROW 14
#define ROLL_MIN_ROWS 25 /* pitch rows: at least two octaves */

/* Short names of the GM percussion keys 35..81. */
static const char *const DRUM_NAMES[] = {
    "kick 2",     "kick",        "side stick", "snare",       "clap",      "snare 2",   "low floor tom",
    "closed hat", "floor tom",   "pedal hat",  "low tom",     "open hat",  "low mid tom", "hi mid tom",
    "crash",      "high tom",    "ride",       "china",       "ride bell", "tambourine", "splash",
    "cowbell",    "crash 2",     "vibraslap",  "ride 2",      "hi bongo",  "low bongo", "mute conga",
    "hi conga",   "low conga",   "hi timbale", "low timbale", "hi agogo",  "low agogo", "cabasa",
    "maracas",    "whistle",     "long whistle", "guiro",     "long guiro", "claves",   "hi wood",
    "low wood",   "mute cuica",  "cuica",      "mute tri",    "triangle",
};

static const char *drum_name(int key, char *buf, size_t n) {
    if (key >= 35 && key <= 81) return DRUM_NAMES[key - 35];
    snprintf(buf, n, "drum %d", key);
    return buf;
}

static const char *pitch_label(int p, char *buf, size_t n) {
    static const char *const names[12] = {"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"};
    snprintf(buf, n, "%s%d", names[p % 12], p / 12 - 1); /* 60 = C4 */
    return buf;
}

struct gm_roll {
    gm_canvas *c;
    gm_roll_info info;
    gm_barmap bm;
    int plot_x;
    int *sys_bar;          /* [n_systems + 1] first bar of each system; last = last_bar + 1 */
    int *sys_y;            /* [n_systems] top of the pitch area */
    int rows_h;            /* pitch rows × semitone px */
    int lanes_y;           /* offset of the drum lanes below the pitch area top */
    int lane_of_key[128];  /* drum lane (0 = bottom) or -1 */
};

/* Fractional column of a tick: its place inside its bar, linearly. */
static double tick_fcol(const gm_barmap *bm, int64_t tick) {
    int b = gm_barmap_bar_of_tick(bm, tick);
    int64_t t0 = bm->bar_tick[b], t1 = bm->bar_tick[b + 1];
    return bm->bar_col[b] + (double)(tick - t0) * (bm->bar_col[b + 1] - bm->bar_col[b]) / (double)(t1 - t0);
}

static int sys_of_bar(const gm_roll *r, int bar) {
    int lo = 0, hi = r->info.n_systems - 1; /* last system whose first bar <= bar */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (r->sys_bar[mid] <= bar) lo = mid; else hi = mid - 1;
    }
    return lo;
}

static int col_x(const gm_roll *r, int sys, double fcol) {
    double x = r->plot_x + (fcol - r->bm.bar_col[r->sys_bar[sys]]) * r->info.col_px;
    return x < -1e9 ? -1000000000 : x > 1e9 ? 1000000000 : (int)lround(x);
}

static int sys_height(const gm_roll *r) {
    int lanes = r->info.n_drum_lanes;
    return r->rows_h + (lanes ? (r->rows_h ? 1 : 0) + lanes * r->info.lane_px : 0);
}

/* Top of the row of pitch p / of drum lane i, relative to the pitch area top. */
static int pitch_row_y(const gm_roll *r, int p) { return (r->info.pitch_hi - p) * r->info.semitone_px; }
static int lane_row_y(const gm_roll *r, int lane) {
    return r->lanes_y + (r->info.n_drum_lanes - 1 - lane) * r->info.lane_px;
}

/* ---- legend --------------------------------------------------------------- */

typedef struct { char text[96]; int slot; /* track slot, or -1 given / -2 generated */ } legend_entry;

/* Lays out (and with a canvas, draws) the legend from (x0, y0) wrapping at
 * x_max; returns the number of lines. */
static int legend_flow(gm_canvas *c, const legend_entry *e, int n, int x0, int y0, int x_max) {
    if (!n) return 0;
    int x = x0, y = y0, lines = 1;
    for (int i = 0; i < n; i++) {
        int w = 18 + 6 + gm_canvas_text_width(e[i].text, 1);
        if (x > x0 && x + w > x_max) {
            x = x0;
            y += ROLL_LEGEND_ROW;
            lines++;
        }
        if (c) {
            gm_rgb fill, edge;
            if (e[i].slot >= 0) fill = gm_roll_fill(e[i].slot, 0), edge = gm_roll_edge(e[i].slot, 0);
            else if (e[i].slot == -1) fill = ROLL_STYLE_FILL, edge = ROLL_STYLE_EDGE;
            else fill = ROLL_STYLE_TINT, edge = GM_ROLL_GENERATED_EDGE;
            gm_canvas_fill_rect(c, x, y - 1, 18, 10, edge);
            gm_canvas_fill_rect(c, x + 1, y, 16, 8, fill);
            gm_canvas_text(c, x + 24, y, e[i].text, 1, GM_ROLL_TEXT_RGB);
        }
        x += w + 18;
    }
    return lines;
}

/* ---- drawing -------------------------------------------------------------- */

static void draw_note(gm_canvas *c, int x0, int x1, int y, int h, gm_rgb fill, gm_rgb edge, int generated) {
    int w = x1 - x0;
    if (w < 2) w = 2;
    if (w >= 3 && h >= 3) {
        gm_canvas_fill_rect(c, x0, y, w, h, edge);
        gm_canvas_fill_rect(c, x0 + 1, y + 1, w - 2, h - 2, fill);
    } else {
        gm_canvas_fill_rect(c, x0, y, w, h, generated ? edge : fill);
    }
}

/* Columns per beat line inside a bar of num/den (compound metres: the
 * dotted beat). */
static int beat_cols(const gm_barmap *bm, int num, int den) {
    int spq = bm->steps_per_quarter;
    int unit = den > 0 ? spq * 4 / den : spq;
    if (unit < 1) unit = 1;
    if (den == 8 && num > 3 && num % 3 == 0) unit *= 3;
    return unit;
}

static void draw_system(gm_roll *r, int s, int top, const gm_score *sc, const int *slot, const gm_chord *chords,
                        int n_chords, int frames) {
    gm_canvas *c = r->c;
    const gm_barmap *bm = &r->bm;
    const gm_roll_info *in = &r->info;
    int b0 = r->sys_bar[s], b1 = r->sys_bar[s + 1]; /* bars [b0, b1) */
    int py = top + ROLL_NUM_H + ROLL_CHORD_H + 1, h = sys_height(r);
    r->sys_y[s] = py;
    int xa = r->plot_x, xb = col_x(r, s, bm->bar_col[b1]); /* [xa, xb) */
    int sp = in->semitone_px, lp = in->lane_px;
    char buf[64];

    /* backgrounds: black-key rows, every other drum lane */
    for (int p = in->pitch_lo; p <= in->pitch_hi; p++) {
        int pc = p % 12;
        if (pc == 1 || pc == 3 || pc == 6 || pc == 8 || pc == 10)
            gm_canvas_fill_rect(c, xa, py + pitch_row_y(r, p), xb - xa, sp, GM_ROLL_BLACK_KEY_RGB);
    }
    for (int i = 1; i < in->n_drum_lanes; i += 2)
        gm_canvas_fill_rect(c, xa, py + lane_row_y(r, i), xb - xa, lp, GM_ROLL_BLACK_KEY_RGB);

    /* beat lines, octave lines */
    for (int b = b0; b < b1; b++) {
        int unit = beat_cols(bm, bm->bar_num[b], bm->bar_den[b]);
        if (unit * in->col_px < 4) continue;
        for (int col = bm->bar_col[b] + unit; col < bm->bar_col[b + 1]; col += unit) {
            int x = col_x(r, s, col);
            gm_canvas_line(c, x, py, x, py + h - 1, 1, GM_ROLL_BEAT_RGB);
        }
    }
    for (int p = in->pitch_lo; p <= in->pitch_hi; p++)
        if (p % 12 == 0 && p > in->pitch_lo) {
            int y = py + pitch_row_y(r, p) + sp - 1;
            gm_canvas_line(c, xa, y, xb - 1, y, 1, GM_ROLL_OCTAVE_RGB);
        }

    /* frame, separator, bar lines */
    gm_canvas_line(c, xa, py - 1, xb, py - 1, 1, GM_ROLL_BAR_RGB);
    gm_canvas_line(c, xa, py + h, xb, py + h, 1, GM_ROLL_BAR_RGB);
    if (r->rows_h && in->n_drum_lanes) gm_canvas_line(c, xa, py + r->rows_h, xb, py + r->rows_h, 1, GM_ROLL_BAR_RGB);
    for (int b = b0; b <= b1; b++) {
        int x = col_x(r, s, bm->bar_col[b]);
        gm_canvas_line(c, x, py - 1, x, py + h, 1, GM_ROLL_BAR_RGB);
    }

    /* left margin: C labels, drum names */
    gm_canvas_set_clip(c, 0, py - 4, xa - 4, py + h + 4);
    for (int p = in->pitch_lo; p <= in->pitch_hi; p++)
        if (p % 12 == 0) {
            const char *t = pitch_label(p, buf, sizeof buf);
            gm_canvas_text(c, xa - 6 - gm_canvas_text_width(t, 1), py + pitch_row_y(r, p) + (sp - 7) / 2, t, 1,
                           GM_ROLL_TEXT_RGB);
        }
    if (lp >= 8)
        for (int k = 0; k < 128; k++)
            if (r->lane_of_key[k] >= 0) {
                const char *t = drum_name(k, buf, sizeof buf);
                gm_canvas_text(c, xa - 6 - gm_canvas_text_width(t, 1), py + lane_row_y(r, r->lane_of_key[k]) + (lp - 7) / 2,
                               t, 1, GM_ROLL_TEXT_RGB);
            }
    gm_canvas_reset_clip(c);

    /* header: bar numbers (+ metre where it is set or changes), chords */
    int free_num = INT32_MIN, free_chord = INT32_MIN, metre_due = 0;
    for (int b = b0; b < b1; b++) {
        int x = col_x(r, s, bm->bar_col[b]), x_next = col_x(r, s, bm->bar_col[b + 1]);
        /* the metre at the first bar and where it changes; a bar too
         * narrow for it (a short lead-in bar) passes it on to the next */
        metre_due |= b == in->first_bar || bm->bar_num[b] != bm->bar_num[b - 1] || bm->bar_den[b] != bm->bar_den[b - 1];
        snprintf(buf, sizeof buf, "%d  %d/%d", b + 1, bm->bar_num[b], bm->bar_den[b]);
        if (!metre_due || gm_canvas_text_width(buf, 1) + 4 > x_next - x) snprintf(buf, sizeof buf, "%d", b + 1);
        else metre_due = 0;
        /* a short bar (a lead-in) whose number does not fit leaves the
         * room to the next bar's number */
        int w = gm_canvas_text_width(buf, 1);
        int yield = w + 4 > x_next - x && b + 1 < b1 &&
                    bm->bar_col[b + 2] - bm->bar_col[b + 1] > bm->bar_col[b + 1] - bm->bar_col[b];
        if (x + 2 >= free_num && !yield) {
            gm_canvas_text(c, x + 2, top, buf, 1, GM_ROLL_BARNUM_RGB);
            free_num = x + 2 + w + 6;
        }
        /* a name per frame (bar or half bar) where the chord changes; a
         * chord held over the whole bar has the bar's room */
        for (int k = 0; k < frames; k++) {
            int i = b * frames + k, e = k + 1;
            if (i >= n_chords || chords[i].root < 0) continue;
            if (k > 0 && chords[i].root == chords[i - 1].root && chords[i].quality == chords[i - 1].quality) continue;
            while (e < frames && i + e - k < n_chords && chords[i + e - k].root == chords[i].root &&
                   chords[i + e - k].quality == chords[i].quality)
                e++;
            int xf = col_x(r, s, gm_barmap_frame_col(bm, b, frames, k));
            int xe = e == frames ? x_next : col_x(r, s, gm_barmap_frame_col(bm, b, frames, e));
            const char *t = gm_chord_name(chords[i], buf, sizeof buf);
            int w = gm_canvas_text_width(t, 1);
            if (xf + 3 >= free_chord && w + 5 <= xe - xf) {
                gm_canvas_text(c, xf + 3, top + ROLL_NUM_H, t, 1, GM_ROLL_CHORD_RGB);
                free_chord = xf + 3 + w + 4;
            }
        }
    }

    /* notes: given ones first, generated ones on top */
    int64_t t_lo = bm->bar_tick[b0], t_hi = bm->bar_tick[b1];
    gm_canvas_set_clip(c, xa, py, xb, py + h);
    for (int pass = 0; pass < 2; pass++)
        for (int ti = 0; ti < sc->n_tracks; ti++) {
            const gm_track *t = &sc->tracks[ti];
            if (slot[ti] < 0) continue;
            for (size_t k = 0; k < t->n_notes; k++) {
                const gm_note *n = &t->notes[k];
                int gen = (n->flags & GM_NOTE_GENERATED) != 0;
                if (gen != pass || n->tick >= t_hi || n->tick + n->duration <= t_lo) continue;
                double f0 = tick_fcol(bm, n->tick);
                int x0 = col_x(r, s, f0), x1, y, hh;
                if (t->is_drum) {
                    if (r->lane_of_key[n->pitch] < 0) continue;
                    x1 = col_x(r, s, f0 + 1); /* drum hits: one column long */
                    if (x1 - x0 < 3) x1 = x0 + 3;
                    y = py + lane_row_y(r, r->lane_of_key[n->pitch]);
                    hh = lp;
                } else {
                    if (n->pitch < in->pitch_lo || n->pitch > in->pitch_hi) continue;
                    x1 = col_x(r, s, tick_fcol(bm, n->tick + n->duration));
                    y = py + pitch_row_y(r, n->pitch);
                    hh = sp;
                }
                draw_note(c, x0, x1, y, hh, gm_roll_fill(slot[ti], gen), gm_roll_edge(slot[ti], gen), gen);
                if (gen && n->tick >= t_lo) r->info.n_generated++;
            }
        }
    gm_canvas_reset_clip(c);
}

gm_roll_params gm_roll_default_params(void) {
    gm_roll_params p;
    memset(&p, 0, sizeof p);
    p.first_bar = p.last_bar = -1;
    return p;
}

void gm_roll_free(gm_roll *r) {
    if (!r) return;
    gm_canvas_free(r->c);
    gm_barmap_free(&r->bm);
    free(r->sys_bar);
    free(r->sys_y);
    free(r);
}

const gm_canvas *gm_roll_canvas(const gm_roll *r) { return r ? r->c : NULL; }

gm_roll_info gm_roll_get_info(const gm_roll *r) {
    gm_roll_info z;
    memset(&z, 0, sizeof z);
    return r ? r->info : z;
}

int gm_roll_note_xy(const gm_roll *r, int64_t tick, int pitch, int drum, int *x, int *y) {
    if (!r || tick < 0 || pitch < 0 || pitch > 127) return -1;
    const gm_roll_info *in = &r->info;
    int bar = gm_barmap_bar_of_tick(&r->bm, tick);
    if (bar < in->first_bar || bar > in->last_bar || tick >= r->bm.bar_tick[r->bm.n_bars]) return -1;
    int s = sys_of_bar(r, bar), row;
    if (drum) {
        if (r->lane_of_key[pitch] < 0) return -1;
        row = lane_row_y(r, r->lane_of_key[pitch]);
    } else {
        if (pitch < in->pitch_lo || pitch > in->pitch_hi) return -1;
        row = pitch_row_y(r, pitch);
    }
    if (x) *x = col_x(r, s, tick_fcol(&r->bm, tick)) + 1;
    if (y) *y = r->sys_y[s] + row + 1;
    return 0;
}

int gm_roll_bar_line(const gm_roll *r, int bar, int *x, int *y0, int *y1) {
    if (!r || bar < r->info.first_bar || bar > r->info.last_bar + 1) return -1;
    int s = sys_of_bar(r, bar);
    if (bar == r->info.last_bar + 1) s = r->info.n_systems - 1;
    if (x) *x = col_x(r, s, r->bm.bar_col[bar]);
    if (y0) *y0 = r->sys_y[s] - 1;
    if (y1) *y1 = r->sys_y[s] + sys_height(r);
    return 0;
}

/* Packs bars [first, last] into systems: bars_per_row each, or greedily as
 * many whole bars as fit `budget` columns (always at least one). Returns the
 * number of systems; sys_bar gets their first bars and last + 1. */
static int pack_systems(const gm_barmap *bm, int first, int last, int bars_per_row, double budget, int *sys_bar,
                        int *max_cols) {
    int n = 0, b = first;
    *max_cols = 1;
    while (b <= last) {
        sys_bar[n++] = b;
        int cols = 0, k = 0;
        while (b <= last) {
            int w = bm->bar_col[b + 1] - bm->bar_col[b];
            if (bars_per_row > 0 ? k == bars_per_row : (k > 0 && cols + w > budget)) break;
            cols += w;
            k++;
            b++;
        }
        if (cols > *max_cols) *max_cols = cols;
    }
    sys_bar[n] = last + 1;
    return n;
}

gm_roll *gm_roll_draw(const gm_score *s, const gm_layout *l, const gm_roll_params *pp, char *err) {
    gm_roll_params p = pp ? *pp : gm_roll_default_params();
    if (!s) {
        gm_fail(err, "piano roll: null score");
        return NULL;
    }
    if ((p.width && (p.width < GM_ROLL_MIN_W || p.width > GM_ROLL_MAX_SIDE)) ||
        (p.height && (p.height < GM_ROLL_MIN_H || p.height > GM_ROLL_MAX_SIDE))) {
        gm_fail(err, "piano roll: size %dx%d is outside %dx%d .. %dx%d (0 = automatic)", p.width, p.height,
                GM_ROLL_MIN_W, GM_ROLL_MIN_H, GM_ROLL_MAX_SIDE, GM_ROLL_MAX_SIDE);
        return NULL;
    }
    if (p.bars_per_row < 0 || p.first_bar < -1 || p.last_bar < -1 || p.n_chords < 0) {
        gm_fail(err, "piano roll: negative bars per row, bar or chord count");
        return NULL;
    }
    gm_roll *r = calloc(1, sizeof *r);
    int *slot = calloc((size_t)(s->n_tracks > 0 ? s->n_tracks : 1), sizeof *slot);
    legend_entry *leg = calloc((size_t)s->n_tracks + 2, sizeof *leg);
    gm_chord *own_chords = NULL;
    if (!r || !slot || !leg) {
        gm_fail(err, "piano roll: out of memory");
        goto fail;
    }
    gm_roll_info *in = &r->info;

    /* The bar map must reach every note end, even of a score built in
     * memory whose end_tick was not brought up to date. */
    gm_score sc = *s; /* shallow: only read */
    int any_generated = 0;
    for (int ti = 0; ti < s->n_tracks; ti++)
        for (size_t k = 0; k < s->tracks[ti].n_notes; k++) {
            const gm_note *n = &s->tracks[ti].notes[k];
            if (n->tick + n->duration > sc.end_tick) sc.end_tick = n->tick + n->duration;
            any_generated |= (n->flags & GM_NOTE_GENERATED) != 0;
        }
    if (gm_barmap_build(&r->bm, &sc, 4, err)) goto fail;
    const gm_barmap *bm = &r->bm;
    in->n_bars = bm->n_bars;
    in->first_bar = p.first_bar < 0 ? 0 : p.first_bar;
    in->last_bar = p.last_bar < 0 ? bm->n_bars - 1 : p.last_bar;
    if (in->first_bar >= bm->n_bars || in->last_bar >= bm->n_bars || in->first_bar > in->last_bar) {
        gm_fail(err, "piano roll: bars %d..%d (0-based) are outside the piece's %d bars", in->first_bar, in->last_bar,
                bm->n_bars);
        goto fail;
    }

    /* chords */
    const gm_chord *chords = p.chords;
    int n_chords = p.chords ? p.n_chords : 0;
    int frames = p.chords && p.chord_frames_per_bar > 1 ? p.chord_frames_per_bar : 1;
    if (!chords) {
        own_chords = malloc((size_t)bm->n_bars * sizeof *own_chords);
        if (!own_chords) {
            gm_fail(err, "piano roll: out of memory");
            goto fail;
        }
        if (gm_chords_recognize(&sc, bm, own_chords, err)) goto fail;
        chords = own_chords;
        n_chords = bm->n_bars;
    }

    /* track slots (colours) and legend; pitch range and drum lanes of the
     * notes in the drawn bars */
    int n_leg = 0, k_slot = 0, lo = 128, hi = -1;
    int64_t t_lo = bm->bar_tick[in->first_bar], t_hi = bm->bar_tick[in->last_bar + 1];
    for (int k = 0; k < 128; k++) r->lane_of_key[k] = -1;
    for (int ti = 0; ti < s->n_tracks; ti++) {
        const gm_track *t = &s->tracks[ti];
        slot[ti] = t->n_notes ? k_slot++ : -1;
        if (slot[ti] < 0) continue;
        legend_entry *e = &leg[n_leg++];
        e->slot = slot[ti];
        int cls = l ? gm_layout_classify(l, t) : -1;
        char name[64];
        if (t->name[0]) gm_strlcpy(name, t->name, sizeof name);
        else snprintf(name, sizeof name, "track %d", ti + 1);
        if (!l) snprintf(e->text, sizeof e->text, "%s", name);
        else if (cls >= 0) snprintf(e->text, sizeof e->text, "%s (%s)", name, l->cls[cls].name);
        else snprintf(e->text, sizeof e->text, "%s (no class)", name);
        for (size_t k = 0; k < t->n_notes; k++) {
            const gm_note *n = &t->notes[k];
            if (n->tick >= t_hi || n->tick + n->duration <= t_lo) continue;
            if (t->is_drum) r->lane_of_key[n->pitch] = 1;
            else {
                if (n->pitch < lo) lo = n->pitch;
                if (n->pitch > hi) hi = n->pitch;
            }
        }
    }
    if (any_generated) {
        leg[n_leg++] = (legend_entry){"given", -1};
        leg[n_leg++] = (legend_entry){"generated", -2};
    }
    for (int k = 0; k < 128; k++)
        if (r->lane_of_key[k] >= 0) r->lane_of_key[k] = in->n_drum_lanes++;
    if (hi >= 0) {
        lo--, hi++;
        int need = ROLL_MIN_ROWS - (hi - lo + 1);
        if (need > 0) lo -= need / 2, hi += need - need / 2;
        if (lo < 0) hi -= lo, lo = 0;
        if (hi > 127) lo -= hi - 127, hi = 127;
        if (lo < 0) lo = 0;
    } else if (in->n_drum_lanes) {
        lo = 1, hi = 0; /* drums only: no pitch rows */
    } else {
        lo = 48, hi = 72; /* nothing to show: C3..C5 */
    }
    in->pitch_lo = lo;
    in->pitch_hi = hi;
    int rows = hi - lo + 1;

    /* width: left margin fits the labels */
    char buf[64];
    int label_w = gm_canvas_text_width("C-1", 1);
    for (int k = 0; k < 128; k++)
        if (r->lane_of_key[k] >= 0) {
            int w = gm_canvas_text_width(drum_name(k, buf, sizeof buf), 1);
            if (w > label_w) label_w = w;
        }
    r->plot_x = 8 + label_w + 6;
    int n_sel = in->last_bar - in->first_bar + 1;
    int total_cols = bm->bar_col[in->last_bar + 1] - bm->bar_col[in->first_bar];
    r->sys_bar = malloc((size_t)(n_sel + 1) * sizeof *r->sys_bar);
    r->sys_y = malloc((size_t)n_sel * sizeof *r->sys_y);
    if (!r->sys_bar || !r->sys_y) {
        gm_fail(err, "piano roll: out of memory");
        goto fail;
    }
    int W = p.width, max_cols;
    if (!W) {
        long long want_cols = total_cols;
        if (p.bars_per_row) {
            pack_systems(bm, in->first_bar, in->last_bar, p.bars_per_row, 0, r->sys_bar, &max_cols);
            want_cols = max_cols;
        }
        long long natural = r->plot_x + ROLL_RIGHT + want_cols * GM_ROLL_COL_PX;
        long long cap = p.bars_per_row ? GM_ROLL_MAX_SIDE : GM_ROLL_AUTO_MAX_W;
        W = (int)(natural < GM_ROLL_AUTO_MIN_W ? GM_ROLL_AUTO_MIN_W : natural > cap ? cap : natural);
    }
    int plot_w = W - r->plot_x - ROLL_RIGHT;
    double budget = (double)plot_w / GM_ROLL_COL_PX;
    in->n_systems = pack_systems(bm, in->first_bar, in->last_bar, p.bars_per_row, budget, r->sys_bar, &max_cols);
    if (!p.bars_per_row && in->n_systems > 1) {
        /* Balance: the smallest budget that still packs into as many
         * systems, so the last one is not a stub and every system fills
         * the width at about the same scale. */
        int lo_b = 1, hi_b = (int)budget, m;
        while (lo_b < hi_b) {
            int mid = lo_b + (hi_b - lo_b) / 2;
            if (pack_systems(bm, in->first_bar, in->last_bar, 0, mid, r->sys_bar, &m) <= in->n_systems) hi_b = mid;
            else lo_b = mid + 1;
        }
        in->n_systems = pack_systems(bm, in->first_bar, in->last_bar, 0, lo_b, r->sys_bar, &max_cols);
    }
    in->col_px = (double)plot_w / max_cols;

    /* height: the largest semitone height that fits */
    int title_h = p.title && p.title[0] ? 8 + 16 + 8 : 8;
    int leg_lines = legend_flow(NULL, leg, n_leg, 10, 0, W - 10);
    int top = title_h + leg_lines * ROLL_LEGEND_ROW + (leg_lines ? 8 : 0);
    int sp_pref = rows > 0 ? 360 / rows : 10;
    if (sp_pref < 4) sp_pref = 4;
    if (sp_pref > 10) sp_pref = 10;
    int limit = p.height ? p.height : GM_ROLL_MAX_SIDE, sp = p.height ? 16 : sp_pref;
    long long H = 0;
    for (; sp >= 1; sp--) {
        in->semitone_px = sp;
        in->lane_px = sp + 4 > 12 ? 12 : sp + 4;
        r->rows_h = rows * sp;
        r->lanes_y = r->rows_h + (r->rows_h ? 1 : 0);
        long long sys_h = ROLL_NUM_H + ROLL_CHORD_H + 1 + sys_height(r) + 1;
        H = top + in->n_systems * sys_h + (long long)(in->n_systems - 1) * ROLL_GAP + ROLL_BOTTOM;
        if (H <= limit) break;
    }
    if (sp < 1) {
        gm_fail(err, "piano roll: %d systems of %d bars do not fit %d px in height (%lld needed at 1 px a semitone); "
                "draw fewer bars or a wider image", in->n_systems, n_sel, limit, H);
        goto fail;
    }
    if (p.height) H = p.height;

    r->c = gm_canvas_new(W, (int)H, GM_ROLL_BG_RGB);
    if (!r->c) {
        gm_fail(err, "piano roll: out of memory for %dx%lld pixels", W, H);
        goto fail;
    }
    if (title_h > 8) gm_canvas_text(r->c, 10, 8, p.title, 2, GM_ROLL_TEXT_RGB);
    legend_flow(r->c, leg, n_leg, 10, title_h + 1, W - 10);
    int y = top;
    for (int si = 0; si < in->n_systems; si++) {
        draw_system(r, si, y, s, slot, chords, n_chords, frames);
        y += ROLL_NUM_H + ROLL_CHORD_H + 1 + sys_height(r) + 1 + ROLL_GAP;
    }
    free(own_chords);
    free(slot);
    free(leg);
    return r;

fail:
    free(own_chords);
    free(slot);
    free(leg);
    gm_roll_free(r);
    return NULL;
}

int gm_plot_pianoroll(const gm_score *s, const gm_layout *l, const gm_roll_params *p, const char *png_path,
                      char *err) {
    if (!png_path) return gm_fail(err, "piano roll: null path");
    gm_roll *r = gm_roll_draw(s, l, p, err);
    if (!r) return -1;
    int rc = gm_canvas_write_png(r->c, png_path, err);
    gm_roll_free(r);
    return rc;
}

/* ---- what a generator added ------------------------------------------------ */

typedef struct { int key, pitch; double q; } given_note;

static int track_kind(const gm_layout *l, const gm_track *t) {
    int c = l ? gm_layout_classify(l, t) : -1;
    return c >= 0 ? c : 1000 + (t->is_drum ? 128 : t->program);
}

static int given_cmp(const void *a, const void *b) {
    const given_note *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    if (x->pitch != y->pitch) return x->pitch < y->pitch ? -1 : 1;
    return x->q < y->q ? -1 : x->q > y->q;
}

long gm_roll_mark_generated(gm_score *s, const gm_score *given, const gm_layout *l, char *err) {
    if (!s || !given) return gm_fail(err, "mark generated: null score");
    if (s->ticks_per_quarter < 1 || given->ticks_per_quarter < 1)
        return gm_fail(err, "mark generated: ticks per quarter must be positive");
    size_t n = gm_score_n_notes(given), m = 0;
    given_note *g = malloc((n ? n : 1) * sizeof *g);
    if (!g) return gm_fail(err, "mark generated: out of memory");
    for (int ti = 0; ti < given->n_tracks; ti++) {
        const gm_track *t = &given->tracks[ti];
        int key = track_kind(l, t);
        for (size_t k = 0; k < t->n_notes; k++)
            g[m++] = (given_note){key, t->notes[k].pitch, (double)t->notes[k].tick / given->ticks_per_quarter};
    }
    qsort(g, m, sizeof *g, given_cmp);
    const double tol = 0.125 + 1e-9; /* half a 16th, in quarters */
    long marked = 0;
    for (int ti = 0; ti < s->n_tracks; ti++) {
        gm_track *t = &s->tracks[ti];
        int key = track_kind(l, t);
        for (size_t k = 0; k < t->n_notes; k++) {
            gm_note *nt = &t->notes[k];
            given_note want = {key, nt->pitch, (double)nt->tick / s->ticks_per_quarter - tol};
            size_t a = 0, b = m; /* first entry >= want */
            while (a < b) {
                size_t mid = a + (b - a) / 2;
                if (given_cmp(&g[mid], &want) < 0) a = mid + 1; else b = mid;
            }
            int found = a < m && g[a].key == key && g[a].pitch == nt->pitch && g[a].q <= want.q + 2 * tol;
            if (found) nt->flags &= (uint8_t)~GM_NOTE_GENERATED;
            else {
                nt->flags |= GM_NOTE_GENERATED;
                marked++;
            }
        }
    }
    free(g);
    return marked;
}
