/*
 * harmonizer.c — the learnt bare-melody harmoniser: a small bidirectional
 * GRU (python/harmonizer.py trains it on POP909's chord labels) that a model
 * file may carry beside its network, as tensors `harmonizer.*` and keys
 * `getmusic.harmonizer.*`. It reads a melody frame by frame and scores every
 * chord in every frame; src/model/harmonize.c turns the scores into a progression.
 *
 * The network (PyTorch's nn.Linear / nn.GRU, gate order r, z, n):
 *   x_t   = [log(1 + 2·h_t) (36), 1 on a bar's first half]      input [T][37]
 *   e_t   = ReLU(W_in x_t + b_in)                                [T][H]
 *   layer l, direction d (forward in time, or backward):
 *     r = σ(W_ir i + b_ir + W_hr s + b_hr)
 *     z = σ(W_iz i + b_iz + W_hz s + b_hz)
 *     n = tanh(W_in i + b_in + r ⊙ (W_hn s + b_hn))
 *     s' = (1 - z) ⊙ n + z ⊙ s                                   s starts at 0
 *   the layer's output is [forward ; backward] at each t          [T][2H]
 *   logits_t = W_out o_t + b_out                                 [T][96]
 * Checked against PyTorch by tests/test_python_train.sh (selftest).
 */
#include "getmusic.h"
#include "harmonizer.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_IN 37
#define N_OUT (12 * GM_N_QUALITIES)
#define MAX_LAYERS 4
#define MAX_HIDDEN 512

typedef struct {
    float *w_ih, *w_hh; /* [3H][in], [3H][H] */
    float *b_ih, *b_hh; /* [3H] */
    int in;             /* H for layer 0, 2H after */
} gru_dir;

struct gm_harmonizer {
    int hidden, layers;
    float *in_w, *in_b;            /* [H][37], [H] */
    gru_dir gru[MAX_LAYERS][2];    /* [layer][forward, backward] */
    float *out_w, *out_b;          /* [96][2H], [96] */
    char *source;                  /* how it was trained */
    float *block;                  /* every array above, one allocation */
};

void gm_harmonizer_free(gm_harmonizer *h) {
    if (!h) return;
    free(h->block);
    free(h->source);
    free(h);
}

const char *gm_harmonizer_source(const gm_harmonizer *h) { return h && h->source ? h->source : ""; }

/* ======================================================================== */
/* The tensors, in one table                                                 */
/* ======================================================================== */

typedef struct {
    char name[64];
    float **dst;
    int n_dims;
    int64_t rows, cols; /* cols only for 2-D */
} tensor_slot;

/* Fills slots (at most 4 + 16·layers) for h's sizes; returns the count. */
static int slots_of(gm_harmonizer *h, tensor_slot *s) {
    const int H = h->hidden;
    int n = 0;
    s[n++] = (tensor_slot){"harmonizer.in.weight", &h->in_w, 2, H, N_IN};
    s[n++] = (tensor_slot){"harmonizer.in.bias", &h->in_b, 1, H, 0};
    for (int l = 0; l < h->layers; l++)
        for (int d = 0; d < 2; d++) {
            gru_dir *g = &h->gru[l][d];
            const char *dn = d ? "bwd" : "fwd";
            g->in = l ? 2 * H : H;
            s[n] = (tensor_slot){"", &g->w_ih, 2, 3 * H, g->in};
            snprintf(s[n++].name, 64, "harmonizer.gru.%d.%s.weight_ih", l, dn);
            s[n] = (tensor_slot){"", &g->w_hh, 2, 3 * H, H};
            snprintf(s[n++].name, 64, "harmonizer.gru.%d.%s.weight_hh", l, dn);
            s[n] = (tensor_slot){"", &g->b_ih, 1, 3 * H, 0};
            snprintf(s[n++].name, 64, "harmonizer.gru.%d.%s.bias_ih", l, dn);
            s[n] = (tensor_slot){"", &g->b_hh, 1, 3 * H, 0};
            snprintf(s[n++].name, 64, "harmonizer.gru.%d.%s.bias_hh", l, dn);
        }
    s[n++] = (tensor_slot){"harmonizer.out.weight", &h->out_w, 2, N_OUT, 2 * H};
    s[n++] = (tensor_slot){"harmonizer.out.bias", &h->out_b, 1, N_OUT, 0};
    return n;
}

static size_t slot_size(const tensor_slot *s) { return (size_t)s->rows * (size_t)(s->n_dims == 2 ? s->cols : 1); }

/* ======================================================================== */
/* Model file                                                                */
/* ======================================================================== */

int gm_harmonizer_read(const gguf_ctx *g, gm_harmonizer **out, char *err) {
    *out = NULL;
    if (gguf_key_type(g, "getmusic.harmonizer.hidden") < 0) return 0; /* a model without one */
    uint32_t H, L;
    char e2[GM_ERR_SIZE];
    if (gguf_get_u32(g, "getmusic.harmonizer.hidden", &H, e2) || gguf_get_u32(g, "getmusic.harmonizer.layers", &L, e2))
        return gm_fail(err, "harmoniser: %s", e2);
    if (H < 1 || H > MAX_HIDDEN || L < 1 || L > MAX_LAYERS)
        return gm_fail(err, "harmoniser: hidden %u, layers %u (1..%d, 1..%d allowed)", H, L, MAX_HIDDEN, MAX_LAYERS);
    gm_harmonizer *h = calloc(1, sizeof *h);
    tensor_slot s[4 + 4 * 2 * MAX_LAYERS];
    if (!h) return gm_fail(err, "out of memory");
    h->hidden = (int)H;
    h->layers = (int)L;
    int n = slots_of(h, s);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += slot_size(&s[i]);
    if (!(h->block = malloc(total * sizeof *h->block))) {
        gm_harmonizer_free(h);
        return gm_fail(err, "out of memory");
    }
    float *p = h->block;
    for (int i = 0; i < n; i++) {
        int64_t ne[2] = {s[i].n_dims == 2 ? s[i].cols : s[i].rows, s[i].rows};
        *s[i].dst = p;
        if (!gguf_find_tensor(g, s[i].name) || gguf_read_f32(g, s[i].name, s[i].n_dims, ne, p, e2)) {
            gm_fail(err, "harmoniser: tensor %s: %s", s[i].name, gguf_find_tensor(g, s[i].name) ? e2 : "missing");
            gm_harmonizer_free(h);
            return -1;
        }
        for (size_t k = 0; k < slot_size(&s[i]); k++)
            if (!isfinite(p[k])) {
                gm_fail(err, "harmoniser: tensor %s holds a non-finite value", s[i].name);
                gm_harmonizer_free(h);
                return -1;
            }
        p += slot_size(&s[i]);
    }
    if (gguf_key_type(g, "getmusic.harmonizer.source") >= 0) gguf_get_str(g, "getmusic.harmonizer.source", &h->source, NULL);
    *out = h;
    return 0;
}

int gm_harmonizer_write(const gm_harmonizer *h, gguf_writer *w) {
    tensor_slot s[4 + 4 * 2 * MAX_LAYERS];
    int n = slots_of((gm_harmonizer *)h, s), bad = 0; /* slots_of only takes the arrays' addresses */
    bad |= gguf_set_u32(w, "getmusic.harmonizer.hidden", (uint32_t)h->hidden);
    bad |= gguf_set_u32(w, "getmusic.harmonizer.layers", (uint32_t)h->layers);
    if (h->source) bad |= gguf_set_str(w, "getmusic.harmonizer.source", h->source);
    for (int i = 0; i < n && !bad; i++) {
        int64_t ne[2] = {s[i].n_dims == 2 ? s[i].cols : s[i].rows, s[i].rows};
        bad |= gguf_add_tensor(w, s[i].name, GGUF_TENSOR_F32, s[i].n_dims, ne, *s[i].dst);
    }
    return bad ? -1 : 0;
}

/* ======================================================================== */
/* Forward                                                                   */
/* ======================================================================== */

static inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* y[r] = b[r] + Σ_c W[r][c] x[c], W: [rows][cols]. */
static void affine(float *y, const float *W, const float *b, const float *x, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        const float *w = W + (size_t)r * cols;
        float acc = b[r];
        for (int c = 0; c < cols; c++) acc += w[c] * x[c];
        y[r] = acc;
    }
}

/* One direction of one layer: in [T][g->in] → out (stride 2H, at column
 * offset col) [T][H]. gi, gh: [3H] scratch; s: [H] state. */
static void gru_pass(const gru_dir *g, int H, const float *in, int T, int backward, float *out, int col, float *gi,
                     float *gh, float *s) {
    memset(s, 0, (size_t)H * sizeof *s);
    for (int k = 0; k < T; k++) {
        int t = backward ? T - 1 - k : k;
        affine(gi, g->w_ih, g->b_ih, in + (size_t)t * g->in, 3 * H, g->in);
        affine(gh, g->w_hh, g->b_hh, s, 3 * H, H);
        for (int j = 0; j < H; j++) {
            float r = sigmoid(gi[j] + gh[j]), z = sigmoid(gi[H + j] + gh[H + j]);
            float n = tanhf(gi[2 * H + j] + r * gh[2 * H + j]);
            s[j] = (1 - z) * n + z * s[j];
        }
        memcpy(out + (size_t)t * 2 * H + col, s, (size_t)H * sizeof *s);
    }
}

int gm_harmonizer_logits(const gm_harmonizer *net, const float *h, int T, float *logits, char *err) {
    if (!net || !h || !logits || T < 0) return gm_fail(err, "harmoniser: null argument");
    const int H = net->hidden;
    float *x = malloc((size_t)T * N_IN * sizeof *x);          /* [T][37] */
    float *a = malloc((size_t)T * 2 * H * sizeof *a);         /* [T][2H] layer input (first: [T][H]) */
    float *b = malloc((size_t)T * 2 * H * sizeof *b);         /* [T][2H] layer output */
    float *scratch = malloc((size_t)7 * H * sizeof *scratch); /* gi [3H], gh [3H], s [H] */
    if (!x || !a || !b || !scratch) {
        free(x), free(a), free(b), free(scratch);
        return gm_fail(err, "harmoniser: out of memory for %d frames", T);
    }
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < 36; i++) x[(size_t)t * N_IN + i] = log1pf(2 * h[(size_t)t * 36 + i]);
        x[(size_t)t * N_IN + 36] = t % 2 == 0;
        float *e = a + (size_t)t * H;
        affine(e, net->in_w, net->in_b, x + (size_t)t * N_IN, H, N_IN);
        for (int j = 0; j < H; j++) e[j] = e[j] > 0 ? e[j] : 0;
    }
    for (int l = 0; l < net->layers; l++) {
        for (int d = 0; d < 2; d++)
            gru_pass(&net->gru[l][d], H, a, T, d, b, d * H, scratch, scratch + 3 * H, scratch + 6 * H);
        float *t = a; a = b; b = t;
    }
    for (int t = 0; t < T; t++)
        affine(logits + (size_t)t * N_OUT, net->out_w, net->out_b, a + (size_t)t * 2 * H, N_OUT, 2 * H);
    free(x), free(a), free(b), free(scratch);
    return 0;
}
