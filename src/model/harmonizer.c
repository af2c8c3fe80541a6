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
 * An ensemble (key getmusic.harmonizer.members = K > 1, tensors
 * `harmonizer.<k>.*`) is K such nets of the same sizes, trained alike from
 * different seeds; its scores are the log of the members' mean posterior,
 * log(1/K Σ_k softmax(logits_k)). A lone net (no members key, tensors
 * `harmonizer.*`, the older files) gives its logits.
 * Checked against PyTorch by tests/test_harmonizer.sh (selftest).
 */
#include "getmusic.h"
#include "harmonizer.h"
#include "nn.h"
#include "util.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_IN 37
#define N_OUT (12 * GM_N_QUALITIES)
#define MAX_LAYERS 4
#define MAX_HIDDEN 512
#define MAX_MEMBERS 16
#define MAX_SLOTS (4 + 4 * 2 * MAX_LAYERS) /* tensors of one member */

typedef struct {
    float *w_ih, *w_hh; /* [3H][in], [3H][H] */
    float *b_ih, *b_hh; /* [3H] */
    int in;             /* H for layer 0, 2H after */
} gru_dir;

typedef struct {
    float *in_w, *in_b;            /* [H][37], [H] */
    gru_dir gru[MAX_LAYERS][2];    /* [layer][forward, backward] */
    float *out_w, *out_b;          /* [96][2H], [96] */
} member;

struct gm_harmonizer {
    int hidden, layers, n_members; /* every member has the same sizes */
    member m[MAX_MEMBERS];
    char *source;                  /* how it was trained */
    float *block;                  /* every member's arrays, one allocation */
};

void gm_harmonizer_free(gm_harmonizer *h) {
    if (!h) return;
    free(h->block);
    free(h->source);
    free(h);
}

const char *gm_harmonizer_source(const gm_harmonizer *h) { return h && h->source ? h->source : ""; }

int gm_harmonizer_members(const gm_harmonizer *h) { return h ? h->n_members : 0; }

/* ======================================================================== */
/* The tensors, in one table                                                 */
/* ======================================================================== */

typedef struct {
    char name[64];
    float **dst;
    int n_dims;
    int64_t rows, cols; /* cols only for 2-D */
} tensor_slot;

/* Fills slots (at most MAX_SLOTS) of member k for h's sizes; returns the
 * count. A lone net's tensors are `harmonizer.*`, an ensemble's member k's
 * `harmonizer.<k>.*`. */
static int slots_of(gm_harmonizer *h, int k, tensor_slot *s) {
    const int H = h->hidden;
    member *m = &h->m[k];
    char pre[24];
    if (h->n_members == 1) snprintf(pre, sizeof pre, "harmonizer.");
    else snprintf(pre, sizeof pre, "harmonizer.%d.", k);
    int n = 0;
    s[n] = (tensor_slot){"", &m->in_w, 2, H, N_IN};
    snprintf(s[n++].name, 64, "%sin.weight", pre);
    s[n] = (tensor_slot){"", &m->in_b, 1, H, 0};
    snprintf(s[n++].name, 64, "%sin.bias", pre);
    for (int l = 0; l < h->layers; l++)
        for (int d = 0; d < 2; d++) {
            gru_dir *g = &m->gru[l][d];
            const char *dn = d ? "bwd" : "fwd";
            g->in = l ? 2 * H : H;
            s[n] = (tensor_slot){"", &g->w_ih, 2, 3 * H, g->in};
            snprintf(s[n++].name, 64, "%sgru.%d.%s.weight_ih", pre, l, dn);
            s[n] = (tensor_slot){"", &g->w_hh, 2, 3 * H, H};
            snprintf(s[n++].name, 64, "%sgru.%d.%s.weight_hh", pre, l, dn);
            s[n] = (tensor_slot){"", &g->b_ih, 1, 3 * H, 0};
            snprintf(s[n++].name, 64, "%sgru.%d.%s.bias_ih", pre, l, dn);
            s[n] = (tensor_slot){"", &g->b_hh, 1, 3 * H, 0};
            snprintf(s[n++].name, 64, "%sgru.%d.%s.bias_hh", pre, l, dn);
        }
    s[n] = (tensor_slot){"", &m->out_w, 2, N_OUT, 2 * H};
    snprintf(s[n++].name, 64, "%sout.weight", pre);
    s[n] = (tensor_slot){"", &m->out_b, 1, N_OUT, 0};
    snprintf(s[n++].name, 64, "%sout.bias", pre);
    return n;
}

static size_t slot_size(const tensor_slot *s) { return (size_t)s->rows * (size_t)(s->n_dims == 2 ? s->cols : 1); }

/* ======================================================================== */
/* Model file                                                                */
/* ======================================================================== */

/* Reads the n tensors of s into p onwards (pointing each slot at its place);
 * returns the floats read, or -1 with err. */
static int64_t read_slots(const gguf_ctx *g, tensor_slot *s, int n, float *p, char *err) {
    char e2[GM_ERR_SIZE];
    int64_t used = 0;
    for (int i = 0; i < n; i++) {
        int64_t ne[2] = {s[i].n_dims == 2 ? s[i].cols : s[i].rows, s[i].rows};
        float *q = p + used;
        *s[i].dst = q;
        if (!gguf_find_tensor(g, s[i].name) || gguf_read_f32(g, s[i].name, s[i].n_dims, ne, q, e2))
            return gm_fail(err, "harmoniser: tensor %s: %s", s[i].name, gguf_find_tensor(g, s[i].name) ? e2 : "missing");
        for (size_t k = 0; k < slot_size(&s[i]); k++)
            if (!isfinite(q[k])) return gm_fail(err, "harmoniser: tensor %s holds a non-finite value", s[i].name);
        used += (int64_t)slot_size(&s[i]);
    }
    return used;
}

/* The sizes the file gives: hidden, layers, members (1 when the key is absent). */
static int read_sizes(const gguf_ctx *g, uint32_t *H, uint32_t *L, uint32_t *K, char *err) {
    char e2[GM_ERR_SIZE];
    *K = 1;
    if (gguf_get_u32(g, "getmusic.harmonizer.hidden", H, e2) || gguf_get_u32(g, "getmusic.harmonizer.layers", L, e2) ||
        (gguf_key_type(g, "getmusic.harmonizer.members") >= 0 && gguf_get_u32(g, "getmusic.harmonizer.members", K, e2)))
        return gm_fail(err, "harmoniser: %s", e2);
    if (*H < 1 || *H > MAX_HIDDEN || *L < 1 || *L > MAX_LAYERS || *K < 1 || *K > MAX_MEMBERS)
        return gm_fail(err, "harmoniser: hidden %u, layers %u, members %u (1..%d, 1..%d, 1..%d allowed)", *H, *L, *K,
                       MAX_HIDDEN, MAX_LAYERS, MAX_MEMBERS);
    return 0;
}

int gm_harmonizer_read(const gguf_ctx *g, gm_harmonizer **out, char *err) {
    *out = NULL;
    if (gguf_key_type(g, "getmusic.harmonizer.hidden") < 0) return 0; /* a model without one */
    uint32_t H, L, K;
    if (read_sizes(g, &H, &L, &K, err)) return -1;
    gm_harmonizer *h = calloc(1, sizeof *h);
    tensor_slot s[MAX_SLOTS];
    if (!h) return gm_fail(err, "out of memory");
    h->hidden = (int)H;
    h->layers = (int)L;
    h->n_members = (int)K;
    int n = slots_of(h, 0, s);
    size_t per = 0; /* floats of one member */
    for (int i = 0; i < n; i++) per += slot_size(&s[i]);
    if (!(h->block = malloc(per * K * sizeof *h->block))) {
        gm_harmonizer_free(h);
        return gm_fail(err, "out of memory");
    }
    for (int k = 0; k < (int)K; k++) {
        n = slots_of(h, k, s);
        if (read_slots(g, s, n, h->block + per * k, err) < 0) {
            gm_harmonizer_free(h);
            return -1;
        }
    }
    if (gguf_key_type(g, "getmusic.harmonizer.source") >= 0) gguf_get_str(g, "getmusic.harmonizer.source", &h->source, NULL);
    *out = h;
    return 0;
}

int gm_harmonizer_write(const gm_harmonizer *h, gguf_writer *w) {
    tensor_slot s[MAX_SLOTS];
    int bad = 0;
    bad |= gguf_set_u32(w, "getmusic.harmonizer.hidden", (uint32_t)h->hidden);
    bad |= gguf_set_u32(w, "getmusic.harmonizer.layers", (uint32_t)h->layers);
    if (h->n_members > 1) bad |= gguf_set_u32(w, "getmusic.harmonizer.members", (uint32_t)h->n_members);
    if (h->source) bad |= gguf_set_str(w, "getmusic.harmonizer.source", h->source);
    for (int k = 0; k < h->n_members && !bad; k++) {
        int n = slots_of((gm_harmonizer *)h, k, s); /* slots_of only takes the arrays' addresses */
        for (int i = 0; i < n && !bad; i++) {
            int64_t ne[2] = {s[i].n_dims == 2 ? s[i].cols : s[i].rows, s[i].rows};
            bad |= gguf_add_tensor(w, s[i].name, GGUF_TENSOR_F32, s[i].n_dims, ne, *s[i].dst);
        }
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

/* Member m's logits ([T][96]) of input x ([T][37]). a, b: [T][2H] scratch;
 * scratch: [7H]. */
static void member_logits(const gm_harmonizer *net, const member *m, const float *x, int T, float *a, float *b,
                          float *scratch, float *logits) {
    const int H = net->hidden;
    for (int t = 0; t < T; t++) {
        float *e = a + (size_t)t * H; /* the first layer's input: [T][H] */
        affine(e, m->in_w, m->in_b, x + (size_t)t * N_IN, H, N_IN);
        for (int j = 0; j < H; j++) e[j] = e[j] > 0 ? e[j] : 0;
    }
    for (int l = 0; l < net->layers; l++) {
        for (int d = 0; d < 2; d++)
            gru_pass(&m->gru[l][d], H, a, T, d, b, d * H, scratch, scratch + 3 * H, scratch + 6 * H);
        float *t = a; a = b; b = t;
    }
    for (int t = 0; t < T; t++)
        affine(logits + (size_t)t * N_OUT, m->out_w, m->out_b, a + (size_t)t * 2 * H, N_OUT, 2 * H);
}

int gm_harmonizer_logits(const gm_harmonizer *net, const float *h, int T, float *logits, char *err) {
    if (!net || !h || !logits || T < 0) return gm_fail(err, "harmoniser: null argument");
    const int H = net->hidden, K = net->n_members;
    float *x = malloc((size_t)T * N_IN * sizeof *x);                   /* [T][37] */
    float *a = malloc((size_t)T * 2 * H * sizeof *a);                  /* [T][2H] layer input */
    float *b = malloc((size_t)T * 2 * H * sizeof *b);                  /* [T][2H] layer output */
    float *scratch = malloc((size_t)7 * H * sizeof *scratch);          /* gi [3H], gh [3H], s [H] */
    float *one = K > 1 ? malloc((size_t)T * N_OUT * sizeof *one) : NULL; /* [T][96] a member's logits */
    if (!x || !a || !b || !scratch || (K > 1 && !one)) {
        GM_FREE_ALL(x, a, b, scratch, one);
        return gm_fail(err, "harmoniser: out of memory for %d frames", T);
    }
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < 36; i++) x[(size_t)t * N_IN + i] = log1pf(2 * h[(size_t)t * 36 + i]);
        x[(size_t)t * N_IN + 36] = t % 2 == 0;
    }
    if (K == 1) {
        member_logits(net, &net->m[0], x, T, a, b, scratch, logits);
    } else { /* the log of the members' mean posterior */
        memset(logits, 0, (size_t)T * N_OUT * sizeof *logits);
        for (int k = 0; k < K; k++) {
            member_logits(net, &net->m[k], x, T, a, b, scratch, one);
            nn_softmax_forward(one, T, N_OUT); /* [T][96] member k's posterior */
            for (size_t i = 0; i < (size_t)T * N_OUT; i++) logits[i] += one[i] / (float)K;
        }
        for (size_t i = 0; i < (size_t)T * N_OUT; i++) logits[i] = logf(logits[i] > FLT_MIN ? logits[i] : FLT_MIN);
    }
    GM_FREE_ALL(x, a, b, scratch, one);
    return 0;
}
