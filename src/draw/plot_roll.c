/*
 * plot_roll.c — the multi-track piano roll (systems of whole bars, legend,
 * bar numbers, chord names, generated notes marked) drawn on the canvas of
 * canvas.c, and gm_roll_mark_generated, which finds what a generator added.
 */
#include "getmusic.h" /* GM_ERR_SIZE, getmusic_plot.h */
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* One drawing of a piano roll: the inputs, and what the stages of
 * gm_roll_draw work out (bars, chords, track slots, legend, sizes) before
 * painting. roll_job_free releases the working arrays (and the roll, when
 * the drawing failed). */
typedef struct {
    const gm_score *s;
    const gm_layout *l;
    gm_roll_params p;
    gm_score sc;              /* s, shallow, with end_tick reaching every note end */
    int any_generated;
    gm_roll *r;               /* what is drawn; returned on success */
    int *slot;                /* [n_tracks] colour slot, -1 = a track without notes */
    legend_entry *leg;        /* [n_leg] */
    int n_leg;
    gm_chord *own_chords;     /* recognised here when p.chords is NULL */
    const gm_chord *chords;   /* what the header names: p.chords or own_chords */
    int n_chords, frames;     /* chord frames in all; frames per bar */
    int W;                    /* image width */
    long long H;              /* image height */
    int title_h, top;         /* title block height; top of the first system */
} roll_job;

/* Where one system goes: its bars [b0, b1), the header at `top`, the pitch
 * area from py (h px tall), x from xa to xb. */
typedef struct {
    gm_roll *r;
    gm_canvas *c;
    const gm_barmap *bm;
    const gm_roll_info *in;
    int s, b0, b1, top, py, h, xa, xb, sp, lp;
} sys_ctx;

/* Black-key rows and every other drum lane shaded; beat and octave lines. */
static void draw_system_grid(const sys_ctx *x) {
    const gm_roll *r = x->r;
    const gm_roll_info *in = x->in;
    for (int p = in->pitch_lo; p <= in->pitch_hi; p++) {
        int pc = p % 12;
        if (pc == 1 || pc == 3 || pc == 6 || pc == 8 || pc == 10)
            gm_canvas_fill_rect(x->c, x->xa, x->py + pitch_row_y(r, p), x->xb - x->xa, x->sp, GM_ROLL_BLACK_KEY_RGB);
    }
    for (int i = 1; i < in->n_drum_lanes; i += 2)
        gm_canvas_fill_rect(x->c, x->xa, x->py + lane_row_y(r, i), x->xb - x->xa, x->lp, GM_ROLL_BLACK_KEY_RGB);
    for (int b = x->b0; b < x->b1; b++) {
        int unit = beat_cols(x->bm, x->bm->bar_num[b], x->bm->bar_den[b]);
        if (unit * in->col_px < 4) continue;
        for (int col = x->bm->bar_col[b] + unit; col < x->bm->bar_col[b + 1]; col += unit) {
            int cx = col_x(r, x->s, col);
            gm_canvas_line(x->c, cx, x->py, cx, x->py + x->h - 1, 1, GM_ROLL_BEAT_RGB);
        }
    }
    for (int p = in->pitch_lo; p <= in->pitch_hi; p++)
        if (p % 12 == 0 && p > in->pitch_lo) {
            int y = x->py + pitch_row_y(r, p) + x->sp - 1;
            gm_canvas_line(x->c, x->xa, y, x->xb - 1, y, 1, GM_ROLL_OCTAVE_RGB);
        }
}

/* The frame, the pitch/drum separator and the bar lines. */
static void draw_system_frame(const sys_ctx *x) {
    int py = x->py, h = x->h;
    gm_canvas_line(x->c, x->xa, py - 1, x->xb, py - 1, 1, GM_ROLL_BAR_RGB);
    gm_canvas_line(x->c, x->xa, py + h, x->xb, py + h, 1, GM_ROLL_BAR_RGB);
    if (x->r->rows_h && x->in->n_drum_lanes)
        gm_canvas_line(x->c, x->xa, py + x->r->rows_h, x->xb, py + x->r->rows_h, 1, GM_ROLL_BAR_RGB);
    for (int b = x->b0; b <= x->b1; b++) {
        int bx = col_x(x->r, x->s, x->bm->bar_col[b]);
        gm_canvas_line(x->c, bx, py - 1, bx, py + h, 1, GM_ROLL_BAR_RGB);
    }
}

/* The left margin: a label at every C, the drum names (lanes from 8 px). */
static void draw_system_labels(const sys_ctx *x) {
    const gm_roll *r = x->r;
    char buf[64];
    gm_canvas_set_clip(x->c, 0, x->py - 4, x->xa - 4, x->py + x->h + 4);
    for (int p = x->in->pitch_lo; p <= x->in->pitch_hi; p++)
        if (p % 12 == 0) {
            const char *t = pitch_label(p, buf, sizeof buf);
            gm_canvas_text(x->c, x->xa - 6 - gm_canvas_text_width(t, 1), x->py + pitch_row_y(r, p) + (x->sp - 7) / 2, t, 1,
                           GM_ROLL_TEXT_RGB);
        }
    if (x->lp >= 8)
        for (int k = 0; k < 128; k++)
            if (r->lane_of_key[k] >= 0) {
                const char *t = drum_name(k, buf, sizeof buf);
                gm_canvas_text(x->c, x->xa - 6 - gm_canvas_text_width(t, 1),
                               x->py + lane_row_y(r, r->lane_of_key[k]) + (x->lp - 7) / 2, t, 1, GM_ROLL_TEXT_RGB);
            }
    gm_canvas_reset_clip(x->c);
}

/* Bar b's chord names: one per frame (bar or half bar) where the chord
 * changes; a chord held over the whole bar has the bar's room. *free_x:
 * the first x a name may start at (names never overlap). */
static void draw_bar_chords(const sys_ctx *x, const roll_job *j, int b, int x_next, int *free_x) {
    const gm_chord *chords = j->chords;
    int frames = j->frames, n_chords = j->n_chords;
    char buf[64];
    for (int k = 0; k < frames; k++) {
        int i = b * frames + k, e = k + 1;
        if (i >= n_chords || chords[i].root < 0) continue;
        if (k > 0 && chords[i].root == chords[i - 1].root && chords[i].quality == chords[i - 1].quality) continue;
        while (e < frames && i + e - k < n_chords && chords[i + e - k].root == chords[i].root &&
               chords[i + e - k].quality == chords[i].quality)
            e++;
        int xf = col_x(x->r, x->s, gm_barmap_frame_col(x->bm, b, frames, k));
        int xe = e == frames ? x_next : col_x(x->r, x->s, gm_barmap_frame_col(x->bm, b, frames, e));
        const char *t = gm_chord_name(chords[i], buf, sizeof buf);
        int w = gm_canvas_text_width(t, 1);
        if (xf + 3 >= *free_x && w + 5 <= xe - xf) {
            gm_canvas_text(x->c, xf + 3, x->top + ROLL_NUM_H, t, 1, GM_ROLL_CHORD_RGB);
            *free_x = xf + 3 + w + 4;
        }
    }
}

/* The header: bar numbers (with the metre where it is set or changes) and
 * chord names. */
static void draw_system_header(const sys_ctx *x, const roll_job *j) {
    const gm_barmap *bm = x->bm;
    char buf[64];
    int free_num = INT32_MIN, free_chord = INT32_MIN, metre_due = 0;
    for (int b = x->b0; b < x->b1; b++) {
        int bx = col_x(x->r, x->s, bm->bar_col[b]), x_next = col_x(x->r, x->s, bm->bar_col[b + 1]);
        /* the metre at the first bar and where it changes; a bar too
         * narrow for it (a short lead-in bar) passes it on to the next */
        metre_due |= b == x->in->first_bar || bm->bar_num[b] != bm->bar_num[b - 1] || bm->bar_den[b] != bm->bar_den[b - 1];
        snprintf(buf, sizeof buf, "%d  %d/%d", b + 1, bm->bar_num[b], bm->bar_den[b]);
        if (!metre_due || gm_canvas_text_width(buf, 1) + 4 > x_next - bx) snprintf(buf, sizeof buf, "%d", b + 1);
        else metre_due = 0;
        /* a short bar (a lead-in) whose number does not fit leaves the
         * room to the next bar's number */
        int w = gm_canvas_text_width(buf, 1);
        int yield = w + 4 > x_next - bx && b + 1 < x->b1 &&
                    bm->bar_col[b + 2] - bm->bar_col[b + 1] > bm->bar_col[b + 1] - bm->bar_col[b];
        if (bx + 2 >= free_num && !yield) {
            gm_canvas_text(x->c, bx + 2, x->top, buf, 1, GM_ROLL_BARNUM_RGB);
            free_num = bx + 2 + w + 6;
        }
        draw_bar_chords(x, j, b, x_next, &free_chord);
    }
}

/* The notes sounding in the system's bars: given ones first, generated
 * ones on top. Counts the generated notes that start here. */
static void draw_system_notes(const sys_ctx *x, const roll_job *j) {
    gm_roll *r = x->r;
    const gm_barmap *bm = x->bm;
    const gm_score *sc = j->s;
    int64_t t_lo = bm->bar_tick[x->b0], t_hi = bm->bar_tick[x->b1];
    gm_canvas_set_clip(x->c, x->xa, x->py, x->xb, x->py + x->h);
    for (int pass = 0; pass < 2; pass++)
        for (int ti = 0; ti < sc->n_tracks; ti++) {
            const gm_track *t = &sc->tracks[ti];
            if (j->slot[ti] < 0) continue;
            for (size_t k = 0; k < t->n_notes; k++) {
                const gm_note *n = &t->notes[k];
                int gen = (n->flags & GM_NOTE_GENERATED) != 0;
                if (gen != pass || n->tick >= t_hi || n->tick + n->duration <= t_lo) continue;
                double f0 = tick_fcol(bm, n->tick);
                int x0 = col_x(r, x->s, f0), x1, y, hh;
                if (t->is_drum) {
                    if (r->lane_of_key[n->pitch] < 0) continue;
                    x1 = col_x(r, x->s, f0 + 1); /* drum hits: one column long */
                    if (x1 - x0 < 3) x1 = x0 + 3;
                    y = x->py + lane_row_y(r, r->lane_of_key[n->pitch]);
                    hh = x->lp;
                } else {
                    if (n->pitch < x->in->pitch_lo || n->pitch > x->in->pitch_hi) continue;
                    x1 = col_x(r, x->s, tick_fcol(bm, n->tick + n->duration));
                    y = x->py + pitch_row_y(r, n->pitch);
                    hh = x->sp;
                }
                draw_note(x->c, x0, x1, y, hh, gm_roll_fill(j->slot[ti], gen), gm_roll_edge(j->slot[ti], gen), gen);
                if (gen && n->tick >= t_lo) r->info.n_generated++;
            }
        }
    gm_canvas_reset_clip(x->c);
}

/* System s with its header starting at y = top. */
static void draw_system(const roll_job *j, int s, int top) {
    gm_roll *r = j->r;
    sys_ctx x = {.r = r, .c = r->c, .bm = &r->bm, .in = &r->info, .s = s, .top = top};
    x.b0 = r->sys_bar[s], x.b1 = r->sys_bar[s + 1];
    x.py = top + ROLL_NUM_H + ROLL_CHORD_H + 1, x.h = sys_height(r);
    x.xa = r->plot_x, x.xb = col_x(r, s, r->bm.bar_col[x.b1]);
    x.sp = r->info.semitone_px, x.lp = r->info.lane_px;
    r->sys_y[s] = x.py;
    draw_system_grid(&x);
    draw_system_frame(&x);
    draw_system_labels(&x);
    draw_system_header(&x, j);
    draw_system_notes(&x, j);
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

static int roll_check_params(const gm_roll_params *p, const gm_score *s, char *err) {
    if (!s) return gm_fail(err, "piano roll: null score");
    if ((p->width && (p->width < GM_ROLL_MIN_W || p->width > GM_ROLL_MAX_SIDE)) ||
        (p->height && (p->height < GM_ROLL_MIN_H || p->height > GM_ROLL_MAX_SIDE)))
        return gm_fail(err, "piano roll: size %dx%d is outside %dx%d .. %dx%d (0 = automatic)", p->width, p->height,
                       GM_ROLL_MIN_W, GM_ROLL_MIN_H, GM_ROLL_MAX_SIDE, GM_ROLL_MAX_SIDE);
    if (p->bars_per_row < 0 || p->first_bar < -1 || p->last_bar < -1 || p->n_chords < 0)
        return gm_fail(err, "piano roll: negative bars per row, bar or chord count");
    return 0;
}

static void roll_job_free(roll_job *j, int failed) {
    GM_FREE_ALL(j->own_chords, j->slot, j->leg);
    if (failed) gm_roll_free(j->r);
}

/* The bar map and the bars to draw. The map must reach every note end, even
 * of a score built in memory whose end_tick was not brought up to date. */
static int roll_bars(roll_job *j, char *err) {
    const gm_score *s = j->s;
    gm_roll_info *in = &j->r->info;
    j->sc = *s; /* shallow: only read */
    for (int ti = 0; ti < s->n_tracks; ti++)
        for (size_t k = 0; k < s->tracks[ti].n_notes; k++) {
            const gm_note *n = &s->tracks[ti].notes[k];
            if (n->tick + n->duration > j->sc.end_tick) j->sc.end_tick = n->tick + n->duration;
            j->any_generated |= (n->flags & GM_NOTE_GENERATED) != 0;
        }
    if (gm_barmap_build(&j->r->bm, &j->sc, GM_STEPS_PER_QUARTER, err)) return -1;
    const gm_barmap *bm = &j->r->bm;
    in->n_bars = bm->n_bars;
    in->first_bar = j->p.first_bar < 0 ? 0 : j->p.first_bar;
    in->last_bar = j->p.last_bar < 0 ? bm->n_bars - 1 : j->p.last_bar;
    if (in->first_bar >= bm->n_bars || in->last_bar >= bm->n_bars || in->first_bar > in->last_bar)
        return gm_fail(err, "piano roll: bars %d..%d (0-based) are outside the piece's %d bars", in->first_bar,
                       in->last_bar, bm->n_bars);
    return 0;
}

/* The chords the header names: given, or recognised from the score. */
static int roll_chords(roll_job *j, char *err) {
    const gm_roll_params *p = &j->p;
    j->chords = p->chords;
    j->n_chords = p->chords ? p->n_chords : 0;
    j->frames = p->chords && p->chord_frames_per_bar > 1 ? p->chord_frames_per_bar : 1;
    if (j->chords) return 0;
    const gm_barmap *bm = &j->r->bm;
    if (!(j->own_chords = malloc((size_t)bm->n_bars * sizeof *j->own_chords)))
        return gm_fail(err, "piano roll: out of memory");
    if (gm_chords_recognize(&j->sc, bm, j->own_chords, err)) return -1;
    j->chords = j->own_chords;
    j->n_chords = bm->n_bars;
    return 0;
}

/* Track slots (colours) and the legend; the pitch range (*lo..*hi) and
 * drum lanes of the notes in the drawn bars. */
static void roll_tracks(roll_job *j, int *lo, int *hi) {
    const gm_score *s = j->s;
    gm_roll *r = j->r;
    const gm_roll_info *in = &r->info;
    int k_slot = 0;
    int64_t t_lo = r->bm.bar_tick[in->first_bar], t_hi = r->bm.bar_tick[in->last_bar + 1];
    for (int ti = 0; ti < s->n_tracks; ti++) {
        const gm_track *t = &s->tracks[ti];
        j->slot[ti] = t->n_notes ? k_slot++ : -1;
        if (j->slot[ti] < 0) continue;
        legend_entry *e = &j->leg[j->n_leg++];
        e->slot = j->slot[ti];
        int cls = j->l ? gm_layout_classify(j->l, t) : -1;
        char name[64];
        if (t->name[0]) gm_strlcpy(name, t->name, sizeof name);
        else snprintf(name, sizeof name, "track %d", ti + 1);
        if (!j->l) snprintf(e->text, sizeof e->text, "%s", name);
        else if (cls >= 0) snprintf(e->text, sizeof e->text, "%s (%s)", name, j->l->cls[cls].name);
        else snprintf(e->text, sizeof e->text, "%s (no class)", name);
        for (size_t k = 0; k < t->n_notes; k++) {
            const gm_note *n = &t->notes[k];
            if (n->tick >= t_hi || n->tick + n->duration <= t_lo) continue;
            if (t->is_drum) r->lane_of_key[n->pitch] = 1;
            else {
                if (n->pitch < *lo) *lo = n->pitch;
                if (n->pitch > *hi) *hi = n->pitch;
            }
        }
    }
    if (j->any_generated) {
        j->leg[j->n_leg++] = (legend_entry){"given", -1};
        j->leg[j->n_leg++] = (legend_entry){"generated", -2};
    }
}

/* Slots, legend, drum lanes (lowest key at the bottom) and the pitch rows:
 * the notes' range with a semitone of margin, at least ROLL_MIN_ROWS. */
static int roll_rows(roll_job *j, char *err) {
    const gm_score *s = j->s;
    gm_roll *r = j->r;
    gm_roll_info *in = &r->info;
    j->slot = calloc((size_t)(s->n_tracks > 0 ? s->n_tracks : 1), sizeof *j->slot);
    j->leg = calloc((size_t)s->n_tracks + 2, sizeof *j->leg);
    if (!j->slot || !j->leg) return gm_fail(err, "piano roll: out of memory");
    int lo = 128, hi = -1;
    for (int k = 0; k < 128; k++) r->lane_of_key[k] = -1;
    roll_tracks(j, &lo, &hi);
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
    return 0;
}

/* The left margin that fits the row labels: pitch names, and the drum
 * lanes' names. */
static int label_margin(const gm_roll *r) {
    char buf[64];
    int label_w = gm_canvas_text_width("C-1", 1);
    for (int k = 0; k < 128; k++)
        if (r->lane_of_key[k] >= 0) {
            int w = gm_canvas_text_width(drum_name(k, buf, sizeof buf), 1);
            if (w > label_w) label_w = w;
        }
    return 8 + label_w + 6;
}

/* The width (given, or automatic: see getmusic_plot.h), the left margin
 * that fits the labels, the bars of every system and the column scale. */
static int roll_width(roll_job *j, char *err) {
    gm_roll *r = j->r;
    r->plot_x = label_margin(r);
    gm_roll_info *in = &r->info;
    const gm_barmap *bm = &r->bm;
    const gm_roll_params *p = &j->p;
    int n_sel = in->last_bar - in->first_bar + 1;
    int total_cols = bm->bar_col[in->last_bar + 1] - bm->bar_col[in->first_bar];
    r->sys_bar = malloc((size_t)(n_sel + 1) * sizeof *r->sys_bar);
    r->sys_y = malloc((size_t)n_sel * sizeof *r->sys_y);
    if (!r->sys_bar || !r->sys_y) return gm_fail(err, "piano roll: out of memory");
    int W = p->width, max_cols;
    if (!W) {
        long long want_cols = total_cols;
        if (p->bars_per_row) {
            pack_systems(bm, in->first_bar, in->last_bar, p->bars_per_row, 0, r->sys_bar, &max_cols);
            want_cols = max_cols;
        }
        long long natural = r->plot_x + ROLL_RIGHT + want_cols * GM_ROLL_COL_PX;
        long long cap = p->bars_per_row ? GM_ROLL_MAX_SIDE : GM_ROLL_AUTO_MAX_W;
        W = (int)(natural < GM_ROLL_AUTO_MIN_W ? GM_ROLL_AUTO_MIN_W : natural > cap ? cap : natural);
    }
    int plot_w = W - r->plot_x - ROLL_RIGHT;
    double budget = (double)plot_w / GM_ROLL_COL_PX;
    in->n_systems = pack_systems(bm, in->first_bar, in->last_bar, p->bars_per_row, budget, r->sys_bar, &max_cols);
    if (!p->bars_per_row && in->n_systems > 1) {
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
    j->W = W;
    return 0;
}

/* The height: the largest semitone height that fits (given height, or
 * GM_ROLL_MAX_SIDE), below the title and the legend. */
static int roll_height(roll_job *j, char *err) {
    gm_roll *r = j->r;
    gm_roll_info *in = &r->info;
    const gm_roll_params *p = &j->p;
    int rows = in->pitch_hi - in->pitch_lo + 1;
    j->title_h = p->title && p->title[0] ? 8 + 16 + 8 : 8;
    int leg_lines = legend_flow(NULL, j->leg, j->n_leg, 10, 0, j->W - 10);
    j->top = j->title_h + leg_lines * ROLL_LEGEND_ROW + (leg_lines ? 8 : 0);
    int sp_pref = rows > 0 ? 360 / rows : 10;
    if (sp_pref < 4) sp_pref = 4;
    if (sp_pref > 10) sp_pref = 10;
    int limit = p->height ? p->height : GM_ROLL_MAX_SIDE, sp = p->height ? 16 : sp_pref;
    long long H = 0;
    for (; sp >= 1; sp--) {
        in->semitone_px = sp;
        in->lane_px = sp + 4 > 12 ? 12 : sp + 4;
        r->rows_h = rows * sp;
        r->lanes_y = r->rows_h + (r->rows_h ? 1 : 0);
        long long sys_h = ROLL_NUM_H + ROLL_CHORD_H + 1 + sys_height(r) + 1;
        H = j->top + in->n_systems * sys_h + (long long)(in->n_systems - 1) * ROLL_GAP + ROLL_BOTTOM;
        if (H <= limit) break;
    }
    if (sp < 1)
        return gm_fail(err, "piano roll: %d systems of %d bars do not fit %d px in height (%lld needed at 1 px a "
                       "semitone); draw fewer bars or a wider image",
                       in->n_systems, in->last_bar - in->first_bar + 1, limit, H);
    j->H = p->height ? p->height : H;
    return 0;
}

/* The canvas, the title, the legend and every system. */
static int roll_paint(roll_job *j, char *err) {
    gm_roll *r = j->r;
    if (!(r->c = gm_canvas_new(j->W, (int)j->H, GM_ROLL_BG_RGB)))
        return gm_fail(err, "piano roll: out of memory for %dx%lld pixels", j->W, j->H);
    if (j->title_h > 8) gm_canvas_text(r->c, 10, 8, j->p.title, 2, GM_ROLL_TEXT_RGB);
    legend_flow(r->c, j->leg, j->n_leg, 10, j->title_h + 1, j->W - 10);
    int y = j->top;
    for (int si = 0; si < r->info.n_systems; si++) {
        draw_system(j, si, y);
        y += ROLL_NUM_H + ROLL_CHORD_H + 1 + sys_height(r) + 1 + ROLL_GAP;
    }
    return 0;
}

/* Bars → chords → rows (slots, legend, pitch range, drum lanes) → width and
 * systems → height → paint. */
gm_roll *gm_roll_draw(const gm_score *s, const gm_layout *l, const gm_roll_params *pp, char *err) {
    roll_job j = {.s = s, .l = l, .p = pp ? *pp : gm_roll_default_params()};
    if (roll_check_params(&j.p, s, err)) return NULL;
    int rc = (j.r = calloc(1, sizeof *j.r)) ? 0 : gm_fail(err, "piano roll: out of memory");
    if (!rc) rc = roll_bars(&j, err);
    if (!rc) rc = roll_chords(&j, err);
    if (!rc) rc = roll_rows(&j, err);
    if (!rc) rc = roll_width(&j, err);
    if (!rc) rc = roll_height(&j, err);
    if (!rc) rc = roll_paint(&j, err);
    roll_job_free(&j, rc != 0);
    return rc ? NULL : j.r;
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
