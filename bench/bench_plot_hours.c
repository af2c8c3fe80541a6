/*
 * bench_plot_hours — the musical figures of a model against its training hours,
 * as a PNG (models/figures-vs-hours.png), drawn with libgetmusic's canvas.
 *
 *   bench_plot_hours TABLE.tsv OUT.png [TITLE]
 *
 * TABLE.tsv: a header "hours<TAB>name<TAB>name..." (one column per figure,
 * every figure a share in 0..1), then at most one row "target<TAB>v..." (a
 * dotted line per figure; "-" for none), then rows "H<TAB>v<TAB>v..." of
 * measurements ("-" where a figure was not measured), in any order. A row
 * may end with a further column: a label drawn at its x under the axis
 * (where a training stage starts). Lines starting with # are comments.
 */
#include "getmusic.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIG 8
#define MAX_ROWS 256

typedef struct {
    int n_fig, n_rows;
    char name[MAX_FIG][64];
    double target[MAX_FIG];     /* NAN: none */
    double x[MAX_ROWS];
    double y[MAX_ROWS][MAX_FIG]; /* NAN: not measured */
    char label[MAX_ROWS][32];
} table;

static const gm_rgb colours[MAX_FIG] = {{31, 119, 180}, {44, 160, 44}, {214, 39, 40}, {255, 127, 14},
                                        {148, 103, 189}, {140, 86, 75}, {23, 190, 207}, {188, 189, 34}};

static double cell(const char *s) { return strcmp(s, "-") ? atof(s) : NAN; }

/* Splits line at tabs into at most n fields (in place); returns the count. */
static int split_tabs(char *line, char **f, int n) {
    int k = 0;
    line[strcspn(line, "\r\n")] = 0;
    for (char *p = line; k < n && p;) {
        f[k++] = p;
        p = strchr(p, '\t');
        if (p) *p++ = 0;
    }
    return k;
}

static int read_table(const char *path, table *t) {
    FILE *f = fopen(path, "r");
    if (!f) return fprintf(stderr, "plot_hours: cannot read %s\n", path), -1;
    char line[2048], *fl[MAX_FIG + 2];
    memset(t, 0, sizeof *t);
    for (int i = 0; i < MAX_FIG; i++) t->target[i] = NAN;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        int k = split_tabs(line, fl, MAX_FIG + 2);
        if (!t->n_fig) {
            t->n_fig = k - 1 < MAX_FIG ? k - 1 : MAX_FIG;
            for (int i = 0; i < t->n_fig; i++) snprintf(t->name[i], sizeof t->name[i], "%s", fl[i + 1]);
        } else if (!strcmp(fl[0], "target")) {
            for (int i = 0; i < t->n_fig && i + 1 < k; i++) t->target[i] = cell(fl[i + 1]);
        } else if (t->n_rows < MAX_ROWS) {
            int r = t->n_rows++;
            t->x[r] = atof(fl[0]);
            for (int i = 0; i < t->n_fig; i++) t->y[r][i] = i + 1 < k ? cell(fl[i + 1]) : NAN;
            if (k > t->n_fig + 1) snprintf(t->label[r], sizeof t->label[r], "%s", fl[t->n_fig + 1]);
        }
    }
    fclose(f);
    if (t->n_fig < 1 || t->n_rows < 1) return fprintf(stderr, "plot_hours: %s has no figures or no rows\n", path), -1;
    return 0;
}

typedef struct { int x0, y0, x1, y1; double xmax; } frame; /* plot area in pixels, x from 0 to xmax hours */

static int px(const frame *f, double h) { return f->x0 + (int)lround((f->x1 - f->x0) * h / f->xmax); }
static int py(const frame *f, double v) { return f->y1 - (int)lround((f->y1 - f->y0) * v); }

static void axes(gm_canvas *c, const frame *f) {
    gm_rgb grid = GM_RGB(225, 225, 225), ink = GM_RGB(40, 40, 40);
    char buf[32];
    for (int i = 0; i <= 10; i += 2) {
        gm_canvas_line(c, f->x0, py(f, i / 10.0), f->x1, py(f, i / 10.0), 1, grid);
        snprintf(buf, sizeof buf, "%.1f", i / 10.0);
        gm_canvas_text(c, f->x0 - gm_canvas_text_width(buf, 2) - 8, py(f, i / 10.0) - 7, buf, 2, ink);
    }
    double step = f->xmax > 8 ? 2 : f->xmax > 4 ? 1 : 0.5;
    for (double h = 0; h <= f->xmax + 1e-9; h += step) {
        gm_canvas_line(c, px(f, h), f->y0, px(f, h), f->y1, 1, grid);
        snprintf(buf, sizeof buf, step < 1 ? "%.1f" : "%.0f", h);
        gm_canvas_text(c, px(f, h) - gm_canvas_text_width(buf, 2) / 2, f->y1 + 8, buf, 2, ink);
    }
    gm_canvas_line(c, f->x0, f->y1, f->x1, f->y1, 2, ink);
    gm_canvas_line(c, f->x0, f->y0, f->x0, f->y1, 2, ink);
}

static void dotted(gm_canvas *c, const frame *f, double v, gm_rgb col) {
    for (int x = f->x0; x < f->x1; x += 12) gm_canvas_line(c, x, py(f, v), x + 5 < f->x1 ? x + 5 : f->x1, py(f, v), 1, col);
}

/* One figure: its measurements joined in hour order (skipping gaps). */
static void series(gm_canvas *c, const frame *f, const table *t, const int *order, int i) {
    int px_prev = -1, py_prev = -1;
    for (int k = 0; k < t->n_rows; k++) {
        int r = order[k];
        double v = t->y[r][i];
        if (isnan(v)) continue;
        int x = px(f, t->x[r]), y = py(f, v);
        if (px_prev >= 0) gm_canvas_line(c, px_prev, py_prev, x, y, 3, colours[i]);
        gm_canvas_fill_rect(c, x - 4, y - 4, 9, 9, colours[i]);
        px_prev = x;
        py_prev = y;
    }
    if (!isnan(t->target[i])) dotted(c, f, t->target[i], colours[i]);
}

static void legend(gm_canvas *c, const frame *f, const table *t) {
    int x = f->x0, y = 56;
    for (int i = 0; i < t->n_fig; i++) {
        int w = gm_canvas_text_width(t->name[i], 2);
        if (x + 30 + w > f->x1) x = f->x0, y += 24;
        gm_canvas_fill_rect(c, x, y + 4, 22, 6, colours[i]);
        gm_canvas_text(c, x + 30, y, t->name[i], 2, GM_RGB(40, 40, 40));
        x += 30 + w + 28;
    }
}

int main(int argc, char **argv) {
    if (argc < 3) return fprintf(stderr, "usage: plot_hours TABLE.tsv OUT.png [TITLE]\n"), 2;
    static table t;
    if (read_table(argv[1], &t)) return 1;
    int order[MAX_ROWS];
    double xmax = 0;
    for (int r = 0; r < t.n_rows; r++) order[r] = r, xmax = t.x[r] > xmax ? t.x[r] : xmax;
    for (int a = 1; a < t.n_rows; a++) /* insertion sort by hours */
        for (int b = a; b > 0 && t.x[order[b]] < t.x[order[b - 1]]; b--) {
            int s = order[b];
            order[b] = order[b - 1];
            order[b - 1] = s;
        }
    gm_canvas *c = gm_canvas_new(1400, 860, GM_RGB(255, 255, 255));
    if (!c) return fprintf(stderr, "plot_hours: out of memory\n"), 1;
    frame f = {90, 120, 1370, 700, xmax > 0 ? xmax * 1.04 : 1};
    gm_canvas_text(c, f.x0, 16, argc > 3 ? argv[3] : "musical figures against training hours", 3, GM_RGB(20, 20, 20));
    legend(c, &f, &t);
    axes(c, &f);
    for (int i = 0; i < t.n_fig; i++) series(c, &f, &t, order, i);
    for (int k = 0, n = 0; k < t.n_rows; k++) { /* stage labels, staggered over three lines */
        int r = order[k];
        if (!t.label[r][0]) continue;
        int x = px(&f, t.x[r]), w = gm_canvas_text_width(t.label[r], 2), y = f.y1 + 32 + 20 * (n++ % 3);
        gm_canvas_line(c, x, f.y1, x, y + 14, 1, GM_RGB(150, 150, 150));
        gm_canvas_text(c, x + 4 + w < c->w ? x + 4 : x - 4 - w, y, t.label[r], 2, GM_RGB(90, 90, 90));
    }
    gm_canvas_text(c, f.x1 - gm_canvas_text_width("training hours", 2), f.y1 + 120, "training hours", 2, GM_RGB(40, 40, 40));
    gm_canvas_text(c, f.x0, f.y1 + 120, "dotted: targets", 2, GM_RGB(90, 90, 90));
    char err[GM_ERR_SIZE];
    int rc = gm_canvas_write_png(c, argv[2], err);
    if (rc) fprintf(stderr, "plot_hours: %s\n", err);
    gm_canvas_free(c);
    return rc ? 1 : 0;
}
