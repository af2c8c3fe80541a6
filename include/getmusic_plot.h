/*
 * getmusic_plot.h — public API of libgetmusic, drawing part (included by
 * getmusic.h; include that): a tiny RGB rasteriser (canvas, clipped lines
 * and rectangles, a built-in 5x7 bitmap font, atomic PNG output:
 * src/draw/canvas.c), the training-loss chart (src/draw/plot_loss.c) and the
 * multi-track piano roll (src/draw/plot_roll.c) drawn with it.
 *
 * Conventions as in getmusic.h: functions that can fail return 0 / -1 and
 * write a one-line reason into `err` (GM_ERR_SIZE bytes, may be NULL);
 * constructors return NULL on failure; nothing here prints or exits.
 * Drawing calls never fail: whatever falls outside the canvas (or the clip
 * rectangle) is dropped.
 */
#ifndef GETMUSIC_PLOT_H
#define GETMUSIC_PLOT_H
#include "getmusic.h" /* gm_score, gm_layout, gm_chord */
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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

/* Text in the built-in 5x7 font: digits, a-z, A-Z, space and
 * . , - + ( ) : / = _ # ' ! ? [ ] & * % < >; anything else is drawn as a
 * hollow box, one per UTF-8 character. (x, y) is the top-left corner,
 * scale 1..16 multiplies the glyph size: a glyph cell is 6*scale wide and
 * 7*scale tall, plus one row below for the descenders of g j p q y ,.
 * Returns the drawn width in pixels, as gm_canvas_text_width. */
#define GM_CANVAS_FONT_H 7 /* glyph body height in pixels at scale 1 (for laying out text) */
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

/* ---- piano roll ---------------------------------------------------------- */

/*
 * x = time on the columns of the score's bar map (4 steps per quarter, so a
 * 4/4 bar is 16 columns, 3/4 is 12, 6/8 is 12; a note is placed at its exact
 * tick, not rounded to the grid), y = pitch. Pitched tracks share one pitch
 * area fitted to their notes (at least two octaves, a semitone of margin,
 * black-key rows shaded, a line and a label "C4" = MIDI 60 at every C);
 * drums get a band below it with one lane per drum key that is played
 * (lowest key at the bottom, labelled "kick", "snare", ...). Above the roll:
 * the title, a legend (one entry per track that has notes: colour, name,
 * "(class)" of the layout) and, when any note has GM_NOTE_GENERATED, the
 * two note styles. Over every bar: its number (with the metre at the first
 * bar and wherever it changes) and its chord name.
 *
 * Long pieces wrap into systems (rows) of whole bars, like a printed score:
 * all systems share one time scale, so bars line up, and every system
 * starts at the left edge. Automatic width: the piece in one system at
 * GM_ROLL_COL_PX pixels per column when that is at most GM_ROLL_AUTO_MAX_W
 * wide (stretched to at least GM_ROLL_AUTO_MIN_W); else GM_ROLL_AUTO_MAX_W
 * wide, with as few systems as hold the bars at GM_ROLL_COL_PX and the bars
 * spread evenly over them (no stub of a last system). A given width packs
 * the same way; bars_per_row fixes the bars per system instead (automatic
 * width then: that many bars at GM_ROLL_COL_PX, up to GM_ROLL_MAX_SIDE).
 * Either way the columns are scaled so that the fullest system fills the
 * width. Automatic height: 4..10 px per semitone (more for a narrow
 * range), shrunk down to 1 px when the roll would be taller than
 * GM_ROLL_MAX_SIDE; a given height is filled from the top with the largest
 * semitone height that fits (up to 16 px). Drum lanes are 4 px taller than
 * a semitone row (at most 12 px), labelled from 8 px on; drum hits are
 * drawn one column (a 16th) long whatever their duration.
 *
 * Colours are exact (no anti-aliasing), so tests can find every track:
 * track slot k (the k-th track that has notes, in score order; slots
 * repeat after GM_ROLL_N_COLOURS) is drawn with gm_roll_fill(k, generated)
 * inside a 1 px gm_roll_edge(k, generated) outline (notes under 3 px wide
 * or tall are filled with the edge colour when generated, the fill colour
 * when given). Given notes: solid colour, outline a darker shade of it.
 * Generated notes: a light tint of the track colour, outlined in
 * GM_ROLL_GENERATED_EDGE, the same for every track.
 */
#define GM_ROLL_N_COLOURS 10
#define GM_ROLL_COLOURS                                                                              \
    {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189}, {140, 86, 75}, \
     {188, 189, 34}, {23, 190, 207}, {57, 59, 121}, {0, 110, 110}}
#define GM_ROLL_GENERATED_EDGE GM_RGB(230, 0, 126) /* magenta: no track colour is near it */
#define GM_ROLL_BAR_RGB        GM_RGB(110, 110, 110) /* bar lines and the frame, 1 px */
#define GM_ROLL_BEAT_RGB       GM_RGB(226, 226, 226) /* beat lines inside bars */
#define GM_ROLL_OCTAVE_RGB     GM_RGB(196, 196, 196) /* under every C row */
#define GM_ROLL_BLACK_KEY_RGB  GM_RGB(244, 244, 244) /* rows of C# D# F# G# A#, drum lanes 2, 4, ... */
#define GM_ROLL_BG_RGB         GM_RGB(255, 255, 255)
#define GM_ROLL_TEXT_RGB       GM_RGB(40, 40, 40)    /* title, legend, pitch and drum labels */
#define GM_ROLL_BARNUM_RGB     GM_RGB(120, 120, 120) /* bar numbers and metres */
#define GM_ROLL_CHORD_RGB      GM_RGB(20, 40, 110)   /* chord names */

#define GM_ROLL_COL_PX 6          /* natural pixels per grid column (a 4/4 bar: 96 px) */
#define GM_ROLL_AUTO_MIN_W 480
#define GM_ROLL_AUTO_MAX_W 2400
#define GM_ROLL_MIN_W 320
#define GM_ROLL_MIN_H 120
#define GM_ROLL_MAX_SIDE 8192

/* Fill and outline colours of a note of track slot k (any k >= 0). */
gm_rgb gm_roll_fill(int k, int generated);
gm_rgb gm_roll_edge(int k, int generated);

typedef struct {
    int width, height;        /* pixels; 0 = automatic (see above) */
    int first_bar, last_bar;  /* 0-based, inclusive; -1 = from the first / to the last bar */
    int bars_per_row;         /* bars per system; 0 = automatic (as many as fit the width) */
    const gm_chord *chords;   /* chord of frame i of the whole piece (i < n_chords); NULL =
                                 recognise with gm_chords_recognize; non-NULL with
                                 n_chords = 0: no chord names */
    int n_chords;
    int chord_frames_per_bar; /* frames of `chords` per bar: 0 or 1 = bars, 2 = half bars */
    const char *title;        /* drawn at the top; NULL = none */
} gm_roll_params;

gm_roll_params gm_roll_default_params(void); /* all automatic, all bars, recognised chords, no title */

/* A drawn piano roll: the canvas and where things went on it. */
typedef struct gm_roll gm_roll;

typedef struct {
    int n_bars;               /* bars of the whole piece (bar map at 4 steps per quarter) */
    int first_bar, last_bar;  /* the bars drawn, 0-based inclusive */
    int n_systems;            /* rows of bars */
    int pitch_lo, pitch_hi;   /* pitch rows drawn (inclusive); pitch_hi < pitch_lo when none */
    int n_drum_lanes;
    int semitone_px, lane_px; /* row heights */
    double col_px;            /* pixels per grid column */
    int n_generated;          /* notes drawn in the generated style (starting in the drawn bars) */
} gm_roll_info;

/* Draws the roll of `s` (notes need not be sorted). l: the layout whose
 * class names the legend shows (NULL: none). p: NULL = defaults. Returns
 * NULL with err on bad parameters (size out of GM_ROLL_MIN_W..MAX_SIDE,
 * bars outside the piece, a roll that cannot fit the size) or when memory
 * runs out. An empty score draws an empty one-bar roll. */
gm_roll *gm_roll_draw(const gm_score *s, const gm_layout *l, const gm_roll_params *p, char *err);
void gm_roll_free(gm_roll *r);
const gm_canvas *gm_roll_canvas(const gm_roll *r);
gm_roll_info gm_roll_get_info(const gm_roll *r);
/* Pixel inside the note of `pitch` (drum key when drum) that starts at
 * `tick`: one pixel right of and below its top-left corner (where the fill
 * begins, inside the outline). 0, or -1 when that spot is not drawn (bar
 * outside the range, pitch or drum lane absent). */
int gm_roll_note_xy(const gm_roll *r, int64_t tick, int pitch, int drum, int *x, int *y);
/* The bar line at the start of bar `bar` (first_bar..last_bar, or
 * last_bar + 1 for the line closing the last drawn bar), in the system where
 * that bar starts: x and the line's vertical extent [y0, y1]. 0, or -1 for
 * a bar outside the drawn range. */
int gm_roll_bar_line(const gm_roll *r, int bar, int *x, int *y0, int *y1);

/* gm_roll_draw, then gm_canvas_write_png (atomic: nothing is left behind
 * on failure). */
int gm_plot_pianoroll(const gm_score *s, const gm_layout *l, const gm_roll_params *p, const char *png_path,
                      char *err);

/* Marks what a generator added: every note of `s` with no match in `given`
 * gets GM_NOTE_GENERATED, every matched note loses it. A match has the same
 * pitch, an onset within half a 16th (compared in quarter notes, so the two
 * files may differ in ticks per quarter) and a track of the same kind: the
 * same class of layout `l` when the track has one (a model's output names
 * its tracks after classes and uses the class program), else the same
 * program and drum flag. Returns the number of notes marked, or -1 with err
 * (out of memory). */
long gm_roll_mark_generated(gm_score *s, const gm_score *given, const gm_layout *l, char *err);

#ifdef __cplusplus
}
#endif
#endif /* GETMUSIC_PLOT_H */
