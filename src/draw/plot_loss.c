/*
 * plot_loss.c — the training-loss chart: a trainer's JSON-lines log drawn as
 * a PNG (raw loss, its moving average, validation loss) on the canvas of
 * canvas.c.
 *
 * The log is read with a small flat-object scanner (not strstr: "loss" is a
 * suffix of "val_loss"), tolerant of a line cut short by a writer that is
 * still running, and of NaN / Infinity values as Python's json module writes
 * them (such values are dropped).
 */
#include "getmusic.h" /* GM_ERR_SIZE, getmusic_plot.h */
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Log reading                                                               */
/* ------------------------------------------------------------------------ */

typedef struct { double x, y; size_t order; } point;
typedef struct { point *v; size_t n, cap; } series;

static int series_push(series *s, double x, double y) {
    if (gm_grow(&s->v, &s->cap, s->n, sizeof *s->v, 256)) return -1;
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

/* A chart's frame and ticks, worked out before anything is drawn. */
typedef struct {
    frame f;
    tick yt[MAX_TICKS], xt[MAX_TICKS];
    int nyt, nxt;
    int title_scale;
} chart;

/* Data ranges, the layout (title, "loss" label, plot, tick labels, "step"
 * label), and the ticks of both axes. */
static void chart_layout(chart *ch, const gm_canvas *c, const series *train, const series *val) {
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    const series *all[2] = {train, val};
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < all[s]->n; i++) {
            const point *p = &all[s]->v[i];
            xmin = fmin(xmin, p->x), xmax = fmax(xmax, p->x);
            ymin = fmin(ymin, p->y), ymax = fmax(ymax, p->y);
        }
    frame *f = &ch->f;
    f->logy = ymin > 0 && ymax / ymin > 20;

    int W = c->w, H = c->h;
    ch->title_scale = W >= 400 && H >= 260 ? 2 : 1;
    f->top = 8 + GM_CANVAS_FONT_H * ch->title_scale + 8 + GM_CANVAS_FONT_H + 6;
    int bottom = 1 + 4 + 4 + GM_CANVAS_FONT_H + 6 + GM_CANVAS_FONT_H + 8;
    int right = 28;
    f->ph = H - f->top - bottom;

    if (f->logy) {
        double lo = log10(ymin), hi = log10(ymax), pad = 0.04 * (hi - lo);
        f->y0 = lo - pad;
        f->y1 = hi + pad;
        ch->nyt = log_ticks(f->y0, f->y1, ch->yt);
    } else {
        double span = ymax - ymin, pad = span > 0 ? 0.05 * span : (ymax != 0 ? 0.1 * fabs(ymax) : 1);
        f->y0 = ymin - pad;
        f->y1 = ymax + pad;
        if (ymin >= 0 && f->y0 < 0) f->y0 = 0; /* losses are not negative: keep 0 as the floor */
        ch->nyt = linear_ticks(&f->y0, &f->y1, f->ph / 45, 0, ch->yt);
    }
    int ylw = 0;
    for (int i = 0; i < ch->nyt; i++) {
        int w = gm_canvas_text_width(ch->yt[i].label, 1);
        if (w > ylw) ylw = w;
    }
    f->left = 10 + ylw + 4 + 4;
    f->pw = W - f->left - right;

    /* x ticks: fewer when the labels would crowd each other */
    ch->nxt = 0;
    for (int target = f->pw / 80 > 1 ? f->pw / 80 : 1; target >= 1; target = target * 2 / 3) {
        f->x0 = xmin;
        f->x1 = xmax > xmin ? xmax : xmin + 1;
        ch->nxt = linear_ticks(&f->x0, &f->x1, target, 1, ch->xt);
        int xlw = gm_canvas_text_width(ch->xt[ch->nxt - 1].label, 1);
        if (target == 1 || (xlw + 16) * ch->nxt <= f->pw) break;
    }
}

/* The row of y tick i. */
static int chart_tick_y(const chart *ch, int i) {
    const frame *f = &ch->f;
    return f->top + f->ph - 1 - (int)lround((ch->yt[i].v - f->y0) / (f->y1 - f->y0) * (f->ph - 1));
}

/* Grid, then the series clipped to the plot rectangle. */
static void chart_plot(gm_canvas *c, const chart *ch, const series *train, const double *ema, const series *val) {
    const frame *f = &ch->f;
    for (int i = 0; i < ch->nyt; i++) {
        int y = chart_tick_y(ch, i);
        gm_canvas_line(c, f->left, y, f->left + f->pw - 1, y, 1, COL_GRID);
    }
    for (int i = 0; i < ch->nxt; i++) {
        int x = map_x(f, ch->xt[i].v);
        gm_canvas_line(c, x, f->top, x, f->top + f->ph - 1, 1, COL_GRID);
    }
    gm_canvas_set_clip(c, f->left, f->top, f->left + f->pw, f->top + f->ph);
    polyline(c, f, train->v, NULL, train->n, 1, GM_PLOT_TRAIN_RGB);
    polyline(c, f, train->v, ema, train->n, 2, GM_PLOT_EMA_RGB);
    polyline(c, f, val->v, NULL, val->n, 2, GM_PLOT_VAL_RGB);
    for (size_t i = 0; i < val->n; i++)
        gm_canvas_fill_rect(c, map_x(f, val->v[i].x) - 2, map_y(f, val->v[i].y) - 2, 5, 5, GM_PLOT_VAL_RGB);
    gm_canvas_reset_clip(c);
}

/* Axes with ticks and labels. */
static void chart_axes(gm_canvas *c, const chart *ch) {
    const frame *f = &ch->f;
    int xa = f->left - 1, ya = f->top + f->ph; /* the axis lines sit just outside the plot */
    gm_canvas_line(c, xa, f->top, xa, ya, 1, COL_AXIS);
    gm_canvas_line(c, xa, ya, f->left + f->pw - 1, ya, 1, COL_AXIS);
    gm_canvas_line(c, f->left, f->top - 1, f->left + f->pw - 1, f->top - 1, 1, COL_FRAME);
    gm_canvas_line(c, f->left + f->pw, f->top - 1, f->left + f->pw, ya, 1, COL_FRAME);
    for (int i = 0; i < ch->nyt; i++) {
        int y = chart_tick_y(ch, i);
        gm_canvas_line(c, xa - 4, y, xa - 1, y, 1, COL_AXIS);
        gm_canvas_text(c, xa - 4 - 4 - gm_canvas_text_width(ch->yt[i].label, 1), y - 3, ch->yt[i].label, 1, COL_TEXT);
    }
    for (int i = 0; i < ch->nxt; i++) {
        int x = map_x(f, ch->xt[i].v);
        gm_canvas_line(c, x, ya + 1, x, ya + 4, 1, COL_AXIS);
        gm_canvas_text(c, x - gm_canvas_text_width(ch->xt[i].label, 1) / 2, ya + 4 + 4, ch->xt[i].label, 1, COL_TEXT);
    }
    const char *xl = "step", *yl = f->logy ? "loss (log scale)" : "loss";
    gm_canvas_text(c, f->left + (f->pw - gm_canvas_text_width(xl, 1)) / 2, ya + 4 + 4 + GM_CANVAS_FONT_H + 6, xl, 1, COL_TEXT);
    gm_canvas_text(c, 10, f->top - GM_CANVAS_FONT_H - 6, yl, 1, COL_TEXT);
}

static void draw_chart(gm_canvas *c, const series *train, const double *ema, const series *val) {
    chart ch = {0};
    chart_layout(&ch, c, train, val);
    chart_plot(c, &ch, train, ema, val);
    chart_axes(c, &ch);
    const char *title = "getmusic training loss";
    gm_canvas_text(c, (c->w - gm_canvas_text_width(title, ch.title_scale)) / 2, 8, title, ch.title_scale, COL_TEXT);
    draw_legend(c, &ch.f, train->n > 0, val->n > 0);
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
    GM_FREE_ALL(ema, train.v, val.v);
    return rc;
}

