/*
 * plot.h — a tiny RGB rasteriser (canvas, clipped lines and rectangles, a
 * built-in 5x7 bitmap font, atomic PNG output) and the training-loss chart
 * drawn with it. The piano-roll plot reuses the canvas.
 *
 * Conventions as in getmusic.h: functions that can fail return 0 / -1 and
 * write a one-line reason into `err` (GM_ERR_SIZE bytes, may be NULL);
 * constructors return NULL on failure; nothing here prints or exits.
 * Drawing calls never fail: whatever falls outside the canvas (or the clip
 * rectangle) is dropped.
 */
#ifndef GM_PLOT_H
#define GM_PLOT_H
#include <stdint.h>

/* ---- canvas ------------------------------------------------------------- */

typedef struct { uint8_t r, g, b; } gm_rgb;
#define GM_RGB(r, g, b) ((gm_rgb){(uint8_t)(r), (uint8_t)(g), (uint8_t)(b)})

#define GM_CANVAS_MAX_SIDE 16384 /* pixels, per side */

typedef struct {
    int w, h;         /* size in pixels, 1..GM_CANVAS_MAX_SIDE */
    uint8_t *rgb;     /* [h][w][3], row-major, top row first */
    int clip_x0, clip_y0, clip_x1, clip_y1; /* drawing limited to
                                               clip_x0 <= x < clip_x1,
                                               clip_y0 <= y < clip_y1 */
} gm_canvas;

/* A w×h canvas filled with bg; NULL when a side is out of range or memory
 * runs out. */
gm_canvas *gm_canvas_new(int w, int h, gm_rgb bg);
void gm_canvas_free(gm_canvas *c);
/* Limits drawing to [x0, x1) × [y0, y1) intersected with the canvas. */
void gm_canvas_set_clip(gm_canvas *c, int x0, int y0, int x1, int y1);
void gm_canvas_reset_clip(gm_canvas *c);
void gm_canvas_set_pixel(gm_canvas *c, int x, int y, gm_rgb col);
/* The pixel at (x, y); black outside the canvas. */
gm_rgb gm_canvas_get_pixel(const gm_canvas *c, int x, int y);
/* Fills w×h pixels with top-left corner (x, y). */
void gm_canvas_fill_rect(gm_canvas *c, int x, int y, int w, int h, gm_rgb col);
/* Bresenham line from (x0, y0) to (x1, y1), both end points included;
 * thickness 1..64 px (a square brush centred on the line). */
void gm_canvas_line(gm_canvas *c, int x0, int y0, int x1, int y1, int thickness, gm_rgb col);

/* Text in the built-in 5x7 font: digits, a-z, E M A (other capitals fall
 * back to lower case), space . , - + ( ) : / = _ ; anything else is drawn as
 * a hollow box, one per UTF-8 character. (x, y) is the top-left corner,
 * scale 1..16 multiplies the glyph size: a glyph cell is 6*scale wide and
 * 7*scale tall, plus one row below for the descenders of g j p q y ,.
 * Returns the drawn width in pixels, as gm_canvas_text_width. */
int gm_canvas_text(gm_canvas *c, int x, int y, const char *s, int scale, gm_rgb col);
int gm_canvas_text_width(const char *s, int scale);

/* Writes an 8-bit RGB PNG atomically (a temporary file in the same folder,
 * renamed over path when complete). */
int gm_canvas_write_png(const gm_canvas *c, const char *path, char *err);

/* ---- training-loss chart ------------------------------------------------ */

/* Colours of the series, exact (no anti-aliasing), so tests can find them. */
#define GM_PLOT_TRAIN_RGB GM_RGB(160, 192, 232) /* raw training loss, 1 px */
#define GM_PLOT_EMA_RGB   GM_RGB(24, 82, 168)   /* its moving average, 2 px */
#define GM_PLOT_VAL_RGB   GM_RGB(228, 104, 16)  /* validation loss, points + line */

#define GM_PLOT_MIN_W 240
#define GM_PLOT_MIN_H 180
#define GM_PLOT_MAX_SIDE 8192

/* Reads a trainer JSON-lines log (one object per line with numeric "step"
 * and "loss" and/or "val_loss"; other keys ignored; lines that do not parse,
 * e.g. a half-written last line, are skipped) and draws a width×height PNG:
 * x = step, y = loss (log scale when the values span more than a factor of
 * 20), raw training loss, its exponential moving average (span ≈ 5% of the
 * points) and the validation loss. Fails when the log cannot be read or has
 * no usable line, or the PNG cannot be written. */
int gm_plot_losses(const char *log_path, const char *png_path, int width, int height, char *err);

#endif
