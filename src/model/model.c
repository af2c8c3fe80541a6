/*
 * model.c — a model = GETDiff weights + the track layout + the vocabulary,
 * and its GGUF file.
 *
 * GGUF keys (all written; on load the layout keys may be absent, then the
 * preset named by getmusic.layout is used — converted original checkpoints):
 *   general.architecture   "getmusic"
 *   getmusic.rows, .vocab_size, .embd, .hidden, .layers, .heads, .ffn,
 *   .max_cols, .diffusion_steps                      u32
 *   getmusic.layout                                  string preset name
 *   getmusic.layout.names        [string]  class names
 *   getmusic.layout.prefixes     string    one prefix letter per class
 *   getmusic.layout.is_drum, .programs, .velocities, .roles, .fallback  [i32]
 *   getmusic.tokens [string], getmusic.token_counts [u32]   the vocabulary
 *   getmusic.source                                  string provenance
 *   getmusic.chord_frames_per_bar  u32, 1 or 2: chords per bar in the chord
 *       rows the model was trained on (2 = half bars: the first ceil(n/2)
 *       columns of an n-column bar hold its first chord, the rest its
 *       second). Absent = 1 (models before it, converted originals). Set from
 *       the corpus header's chord_frames_per_bar (see corpus.c) by
 *       gm_model_set_chord_frames; always written.
 *   getmusic.token_features  u32, 0 or 280: pitch-factorised token embeddings
 *       (docs/MODEL.md "Token features"); absent = 0 (older models, converted
 *       originals); written only when 280.
 *   getmusic.bar_positions  u32, 0 or 32: each column's position in its bar
 *       added to the encoder's input (docs/MODEL.md "Bar positions"); absent
 *       = 0 (older models, converted originals); written only when 32.
 *   getmusic.drum_styles  [string], 2..8 names, the first "any": the bar
 *       position table holds 32 rows per style (docs/MODEL.md "Drum styles");
 *       absent = no styles. Needs bar_positions.
 * Tensors: the names of docs/MODEL.md, F32, ne = {in, out} for (out, in)
 * weights; lm_head.weight is tied and not stored. With token features,
 * embeddings.pitch_embeddings.weight (280, E); which features each token has
 * is derived from the vocabulary (model_set_token_features), never stored.
 * With bar positions, embeddings.bar_position_embeddings.weight (32, H);
 * with drum styles (32 · styles, H).
 */
#include "model.h"

#include "gguf.h"
#include "harmonizer.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct gm_model {
    gd_model *net;
    gm_model_params sizes;
    gm_layout layout;
    gm_vocab *vocab;
    char *source;
    int chord_frames; /* chords per bar in the chord rows, 1 or 2 */
    char style_names[GM_MAX_DRUM_STYLES][GM_DRUM_STYLE_NAME]; /* [sizes.drum_styles] */
    gm_harmonizer *harmonizer; /* NULL: none in the file (src/model/harmonizer.c) */
};

/* The names a model made here gets (python/model.py's DRUM_STYLES, the same order). */
static const char *const default_style_names[GM_MAX_DRUM_STYLES] = {"any", "pop", "funk", "hiphop", "jazz", "latin",
                                                                     "world", "other"};

gd_model *gm_model_net(gm_model *m) { return m->net; }
gm_model_params gm_model_sizes(const gm_model *m) { return m->sizes; }
const gm_layout *gm_model_layout(const gm_model *m) { return &m->layout; }
const gm_vocab *gm_model_vocab(const gm_model *m) { return m->vocab; }
const char *gm_model_source(const gm_model *m) { return m->source ? m->source : ""; }
size_t gm_model_n_params(const gm_model *m) { return gd_model_n_params(m->net); }
int gm_model_chord_frames(const gm_model *m) { return m->chord_frames; }
const gm_harmonizer *gm_model_harmonizer(const gm_model *m) { return m->harmonizer; }

const char *gm_model_drum_style_name(const gm_model *m, int i) {
    if (i == 0 && m->sizes.drum_styles == 0) return "any";
    return i >= 0 && i < m->sizes.drum_styles ? m->style_names[i] : NULL;
}

const char *gm_model_drum_style_default(const gm_model *m) {
    return gm_model_drum_style_find(m, "pop") >= 0 ? "pop" : "any";
}

int gm_model_drum_style_find(const gm_model *m, const char *name) {
    for (int i = 0; name && i < (m->sizes.drum_styles ? m->sizes.drum_styles : 1); i++)
        if (!strcmp(gm_model_drum_style_name(m, i), name)) return i;
    return -1;
}

int gm_model_set_chord_frames(gm_model *m, int frames, char *err) {
    if (frames < 1 || frames > GM_MAX_CHORD_FRAMES)
        return gm_fail(err, "%d chords per bar (1..%d allowed)", frames, GM_MAX_CHORD_FRAMES);
    m->chord_frames = frames;
    return 0;
}

gm_model_params gm_model_default_params(void) {
    gm_model_params p = {.embd = 64, .hidden = 256, .layers = 4, .heads = 4, .ffn = 1024, .max_cols = 512,
                         .diffusion_steps = 100, .dropout = 0.1f};
    return p;
}

gm_model_params gm_model_original_params(void) {
    gm_model_params p = {.embd = 96, .hidden = 768, .layers = 12, .heads = 12, .ffn = 3072, .max_cols = 1536,
                         .diffusion_steps = 100, .dropout = 0.1f};
    return p;
}

void gm_model_free(gm_model *m) {
    if (!m) return;
    gd_model_free(m->net);
    gm_vocab_free(m->vocab);
    gm_harmonizer_free(m->harmonizer);
    free(m->source);
    free(m);
}

static gd_config config_of(const gm_model_params *p, const gm_layout *l, int V) {
    gd_config c = {.R = gm_layout_rows(l), .V = V, .E = p->embd, .H = p->hidden, .NL = p->layers, .NH = p->heads,
                   .F = p->ffn, .max_cols = p->max_cols, .T = p->diffusion_steps, .dropout = p->dropout,
                   .P = p->token_features, .Q = p->bar_positions * (p->drum_styles ? p->drum_styles : 1)};
    return c;
}

/* ======================================================================== */
/* Token features (docs/MODEL.md "Token features")                            */
/* ======================================================================== */

/* Chord-tone intervals above the root, per quality (GM_Q_* order), as bits. */
static const uint16_t quality_intervals[GM_N_QUALITIES] = {
    1u << 0 | 1u << 4 | 1u << 7,             /* maj  (null) */
    1u << 0 | 1u << 3 | 1u << 7,             /* min  (m) */
    1u << 0 | 1u << 4 | 1u << 8,             /* aug  (+) */
    1u << 0 | 1u << 3 | 1u << 6,             /* dim */
    1u << 0 | 1u << 4 | 1u << 7 | 1u << 10,  /* 7    (seven) */
    1u << 0 | 1u << 4 | 1u << 7 | 1u << 11,  /* maj7 */
    1u << 0 | 1u << 3 | 1u << 7 | 1u << 10,  /* min7 (m7) */
    1u << 0 | 1u << 3 | 1u << 6 | 1u << 10,  /* m7b5 */
};

int gm_model_token_features(const gm_vocab *v, const gm_layout *l, int32_t **off_out, int32_t **idx_out, char *err) {
    int V = gm_vocab_size(v);
    int32_t *off = calloc((size_t)V + 1, sizeof *off), *idx = NULL;
    if (!off) return gm_fail(err, "out of memory");
    uint8_t pitches[128];
    /* Two walks over the vocabulary: count into off[id + 1], then fill. */
    for (int pass = 0; pass < 2; pass++) {
        for (int c = 0; c < l->n_classes; c++) {
            int b, e;
            if (gm_vocab_range(v, c, &b, &e)) continue;
            int base = l->cls[c].is_drum ? 128 : 0;
            for (int id = b; id < e; id++) {
                int n = gm_vocab_pitches(v, id, pitches); /* in-range pitches only (drums: GM keys) */
                if (!pass) off[id + 1] = n;
                else for (int k = 0; k < n; k++) idx[off[id] + k] = base + pitches[k];
            }
        }
        int b, e;
        if (!gm_vocab_range(v, GM_RANGE_ROOTS, &b, &e)) /* chord roots C..B: 256 + pitch class */
            for (int id = b; id < e; id++) {
                if (!pass) off[id + 1] = 1;
                else idx[off[id]] = 256 + (id - b);
            }
        if (!gm_vocab_range(v, GM_RANGE_QUALITIES, &b, &e)) /* qualities: 268 + each chord-tone interval */
            for (int id = b; id < e && id - b < GM_N_QUALITIES; id++) {
                int k = 0;
                for (int i = 0; i < 12; i++)
                    if (quality_intervals[id - b] >> i & 1) {
                        if (pass) idx[off[id] + k] = 268 + i;
                        k++;
                    }
                if (!pass) off[id + 1] = k;
            }
        if (!pass) {
            for (int id = 0; id < V; id++) off[id + 1] += off[id];
            if (!(idx = malloc(((size_t)off[V] + 1) * sizeof *idx))) { free(off); return gm_fail(err, "out of memory"); }
        }
    }
    *off_out = off;
    *idx_out = idx;
    return 0;
}

/* The network's feature membership from the model's vocabulary (P > 0). */
static int model_set_token_features(gm_model *m, char *err) {
    if (gd_model_config(m->net)->P <= 0) return 0;
    int32_t *off, *idx;
    if (gm_model_token_features(m->vocab, &m->layout, &off, &idx, err)) return -1;
    int rc = gd_model_set_features(m->net, off, idx, err);
    free(off);
    free(idx);
    return rc;
}

/* A private copy of a vocabulary, through its text form. */
static gm_vocab *vocab_copy(const gm_vocab *v, const gm_layout *l, char *err) {
    char *text;
    size_t len;
    if (gm_vocab_text(v, &text, &len, err)) return NULL;
    gm_vocab *c = gm_vocab_parse(text, len, "vocabulary", l, err);
    free(text);
    return c;
}

int gm_model_add_bar_positions(gm_model *m, char *err) {
    if (m->sizes.bar_positions) return 0;
    gd_config c = *gd_model_config(m->net);
    c.Q = GM_BAR_POSITIONS;
    gd_model *net = gd_model_new(&c, err);
    if (!net) return -1;
    /* every tensor the old network has, by name; the new table stays zero (calloc) */
    const float *src = gd_model_params(m->net);
    float *dst = gd_model_params(net);
    for (int i = 0; i < gd_model_n_tensors(m->net); i++) {
        const gd_tensor *t = gd_model_tensor(m->net, i), *u = gd_model_find(net, t->name);
        memcpy(dst + u->offset, src + t->offset, t->n * sizeof(float));
    }
    gd_model_free(m->net);
    m->net = net;
    m->sizes.bar_positions = GM_BAR_POSITIONS;
    return model_set_token_features(m, err);
}

gm_model *gm_model_new(const gm_model_params *p, const gm_layout *l, const gm_vocab *v, uint64_t seed, char *err) {
    if (gm_vocab_n_classes(v) != l->n_classes) {
        gm_fail(err, "vocabulary has %d track classes, layout '%s' has %d", gm_vocab_n_classes(v), l->name, l->n_classes);
        return NULL;
    }
    if (p->token_features != 0 && p->token_features != GM_TOKEN_FEATURES) {
        gm_fail(err, "token features must be 0 or %d, not %d", GM_TOKEN_FEATURES, p->token_features);
        return NULL;
    }
    if (p->bar_positions != 0 && p->bar_positions != GM_BAR_POSITIONS) {
        gm_fail(err, "bar positions must be 0 or %d, not %d", GM_BAR_POSITIONS, p->bar_positions);
        return NULL;
    }
    if (p->drum_styles != 0 && (p->drum_styles < 2 || p->drum_styles > GM_MAX_DRUM_STYLES || !p->bar_positions)) {
        gm_fail(err, "drum styles must be 0 or 2..%d, with bar positions", GM_MAX_DRUM_STYLES);
        return NULL;
    }
    gm_model *m = calloc(1, sizeof *m);
    if (!m) { gm_fail(err, "out of memory"); return NULL; }
    m->sizes = *p;
    for (int i = 0; i < p->drum_styles; i++) gm_strlcpy(m->style_names[i], default_style_names[i], GM_DRUM_STYLE_NAME);
    m->layout = *l;
    m->chord_frames = 1;
    gd_config c = config_of(p, l, gm_vocab_size(v));
    if (!(m->vocab = vocab_copy(v, l, err)) || !(m->net = gd_model_new(&c, err)) || model_set_token_features(m, err)) {
        gm_model_free(m);
        return NULL;
    }
    gd_model_init_random(m->net, seed);
    return m;
}

/* ======================================================================== */
/* Saving                                                                    */
/* ======================================================================== */

int gm_model_save(const gm_model *m, const char *path, const char *source, char *err) {
    gguf_writer *w = gguf_writer_new();
    if (!w) return gm_fail(err, "out of memory");
    int rc = gm_model_to_gguf(m, w, source) ? gm_fail(err, "out of memory building the model file")
                                              : gguf_write_file(w, path, err);
    gguf_writer_free(w);
    return rc;
}

int gm_model_to_gguf(const gm_model *m, gguf_writer *w, const char *source) {
    const gd_config *c = gd_model_config(m->net);
    const gm_layout *l = &m->layout;
    int bad = 0, V = gm_vocab_size(m->vocab);
    const char **names = malloc((size_t)V * sizeof *names);
    uint32_t *counts = malloc((size_t)V * sizeof *counts);
    if (!names || !counts) bad = 1;
    bad |= gguf_set_str(w, "general.architecture", "getmusic");
    bad |= gguf_set_u32(w, "getmusic.rows", (uint32_t)c->R);
    bad |= gguf_set_u32(w, "getmusic.vocab_size", (uint32_t)c->V);
    bad |= gguf_set_u32(w, "getmusic.embd", (uint32_t)c->E);
    bad |= gguf_set_u32(w, "getmusic.hidden", (uint32_t)c->H);
    bad |= gguf_set_u32(w, "getmusic.layers", (uint32_t)c->NL);
    bad |= gguf_set_u32(w, "getmusic.heads", (uint32_t)c->NH);
    bad |= gguf_set_u32(w, "getmusic.ffn", (uint32_t)c->F);
    bad |= gguf_set_u32(w, "getmusic.max_cols", (uint32_t)c->max_cols);
    bad |= gguf_set_u32(w, "getmusic.diffusion_steps", (uint32_t)c->T);
    bad |= gguf_set_f32(w, "getmusic.dropout", c->dropout);
    bad |= gguf_set_str(w, "getmusic.layout", l->name);
    const char *cn[GM_MAX_CLASSES];
    char prefixes[GM_MAX_CLASSES + 1];
    int32_t drum[GM_MAX_CLASSES], prog[GM_MAX_CLASSES], vel[GM_MAX_CLASSES], roles[GM_MAX_CLASSES], fb[GM_MAX_CLASSES];
    for (int i = 0; i < l->n_classes; i++) {
        cn[i] = l->cls[i].name;
        prefixes[i] = l->cls[i].prefix;
        drum[i] = l->cls[i].is_drum;
        prog[i] = l->cls[i].out_program;
        vel[i] = l->cls[i].velocity;
        roles[i] = (int32_t)l->cls[i].roles;
        fb[i] = (int32_t)l->cls[i].fallback;
    }
    prefixes[l->n_classes] = 0;
    bad |= gguf_set_arr_str(w, "getmusic.layout.names", cn, (size_t)l->n_classes);
    bad |= gguf_set_str(w, "getmusic.layout.prefixes", prefixes);
    bad |= gguf_set_arr_i32(w, "getmusic.layout.is_drum", drum, (size_t)l->n_classes);
    bad |= gguf_set_arr_i32(w, "getmusic.layout.programs", prog, (size_t)l->n_classes);
    bad |= gguf_set_arr_i32(w, "getmusic.layout.velocities", vel, (size_t)l->n_classes);
    bad |= gguf_set_arr_i32(w, "getmusic.layout.roles", roles, (size_t)l->n_classes);
    bad |= gguf_set_arr_i32(w, "getmusic.layout.fallback", fb, (size_t)l->n_classes);
    if (!bad) {
        for (int i = 0; i < V; i++) {
            names[i] = gm_vocab_token(m->vocab, i);
            counts[i] = gm_vocab_count(m->vocab, i);
        }
        bad |= gguf_set_arr_str(w, "getmusic.tokens", names, (size_t)V);
        bad |= gguf_set_arr_u32(w, "getmusic.token_counts", counts, (size_t)V);
    }
    const char *src = source ? source : m->source;
    if (src) bad |= gguf_set_str(w, "getmusic.source", src);
    if (c->P > 0) bad |= gguf_set_u32(w, "getmusic.token_features", (uint32_t)c->P);
    if (m->sizes.bar_positions) bad |= gguf_set_u32(w, "getmusic.bar_positions", (uint32_t)m->sizes.bar_positions);
    if (m->sizes.drum_styles) {
        const char *sn[GM_MAX_DRUM_STYLES];
        for (int i = 0; i < m->sizes.drum_styles; i++) sn[i] = m->style_names[i];
        bad |= gguf_set_arr_str(w, "getmusic.drum_styles", sn, (size_t)m->sizes.drum_styles);
    }
    bad |= gguf_set_u32(w, "getmusic.chord_frames_per_bar", (uint32_t)m->chord_frames);
    if (m->harmonizer) bad |= gm_harmonizer_write(m->harmonizer, w);
    const float *params = gd_model_params(m->net);
    for (int i = 0; i < gd_model_n_tensors(m->net) && !bad; i++) {
        const gd_tensor *t = gd_model_tensor(m->net, i);
        int64_t ne[2] = {t->n_dims == 2 ? t->shape[1] : t->shape[0], t->shape[0]};
        bad |= gguf_add_tensor(w, t->name, GGUF_TENSOR_F32, t->n_dims, ne, params + t->offset);
    }
    free(names);
    free(counts);
    return bad ? -1 : 0;
}

/* ======================================================================== */
/* Loading                                                                   */
/* ======================================================================== */

static int get_size(const gguf_ctx *g, const char *key, uint32_t lo, uint32_t hi, int *out, char *err) {
    uint32_t v;
    if (gguf_get_u32(g, key, &v, err)) return -1;
    if (v < lo || v > hi) return gm_fail(err, "%s = %u is outside %u..%u", key, v, lo, hi);
    *out = (int)v;
    return 0;
}

/* Layout from the file's keys, or from the preset it names. */
static int read_layout(const gguf_ctx *g, gm_layout *l, char *err) {
    char *name = NULL;
    if (gguf_get_str(g, "getmusic.layout", &name, err)) return -1;
    if (gguf_key_type(g, "getmusic.layout.names") < 0) {
        int rc = gm_layout_preset(l, name, err);
        free(name);
        return rc;
    }
    memset(l, 0, sizeof *l);
    gm_strlcpy(l->name, name, sizeof l->name);
    free(name);
    size_t n;
    if (gguf_get_arr_n(g, "getmusic.layout.names", GGUF_TYPE_STRING, &n, err)) return -1;
    if (n < 1 || n > GM_MAX_CLASSES) return gm_fail(err, "model has %zu track classes (1..%d allowed)", n, GM_MAX_CLASSES);
    l->n_classes = (int)n;
    char *pre = NULL;
    if (gguf_get_str(g, "getmusic.layout.prefixes", &pre, err)) return -1;
    int ok = strlen(pre) == n;
    for (size_t i = 0; ok && i < n; i++) l->cls[i].prefix = pre[i];
    free(pre);
    if (!ok) return gm_fail(err, "getmusic.layout.prefixes does not have one letter per class");
    const char *keys[5] = {"getmusic.layout.is_drum", "getmusic.layout.programs", "getmusic.layout.velocities",
                           "getmusic.layout.roles", "getmusic.layout.fallback"};
    for (int k = 0; k < 5; k++) {
        const void *d;
        size_t m;
        if (gguf_get_arr_data(g, keys[k], GGUF_TYPE_INT32, &d, &m, err)) return -1;
        if (m != n) return gm_fail(err, "%s has %zu entries, the layout %zu classes", keys[k], m, n);
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, (const char *)d + 4 * i, 4);
            gm_class *c = &l->cls[i];
            if (k == 0) c->is_drum = v != 0;
            else if (k == 1) c->out_program = v & 127;
            else if (k == 2) c->velocity = v < 1 ? 1 : v > 127 ? 127 : v;
            else if (k == 3) c->roles = (uint32_t)v;
            else c->fallback = (uint32_t)v;
        }
    }
    for (size_t i = 0; i < n; i++) {
        char *cn = NULL;
        if (gguf_get_arr_str(g, "getmusic.layout.names", i, &cn, err)) return -1;
        gm_strlcpy(l->cls[i].name, cn, sizeof l->cls[i].name);
        free(cn);
    }
    return 0;
}

/* Vocabulary from getmusic.tokens / token_counts, parsed as dict.txt text. */
static gm_vocab *read_vocab(const gguf_ctx *g, const gm_layout *l, char *err) {
    size_t n, nc;
    const void *cd;
    if (gguf_get_arr_n(g, "getmusic.tokens", GGUF_TYPE_STRING, &n, err)) return NULL;
    if (gguf_get_arr_data(g, "getmusic.token_counts", GGUF_TYPE_UINT32, &cd, &nc, err)) return NULL;
    if (nc != n) { gm_fail(err, "getmusic.token_counts has %zu entries, getmusic.tokens %zu", nc, n); return NULL; }
    size_t cap = 1024, len = 0;
    char *text = malloc(cap);
    if (!text) { gm_fail(err, "out of memory"); return NULL; }
    for (size_t i = 0; i < n; i++) {
        char *tok = NULL;
        if (gguf_get_arr_str(g, "getmusic.tokens", i, &tok, err)) { free(text); return NULL; }
        uint32_t count;
        memcpy(&count, (const char *)cd + 4 * i, 4);
        size_t need = strlen(tok) + 16;
        if (strchr(tok, '\n') || strchr(tok, '\t')) {
            free(tok);
            free(text);
            gm_fail(err, "getmusic.tokens[%zu] contains a tab or newline", i);
            return NULL;
        }
        if (len + need > cap) {
            while (len + need > cap) cap *= 2;
            char *nt = realloc(text, cap);
            if (!nt) { free(tok); free(text); gm_fail(err, "out of memory"); return NULL; }
            text = nt;
        }
        len += (size_t)snprintf(text + len, cap - len, "%s\t%u\n", tok, count);
        free(tok);
    }
    gm_vocab *v = gm_vocab_parse(text, len, "model vocabulary", l, err);
    free(text);
    return v;
}

/* An optional part of the architecture (token features, bar positions): key
 * absent or 0 = off (the original), else exactly `on`; its tensor must not be
 * present when the key says off. */
static int read_optional_part(const gguf_ctx *g, const char *key, int on, const char *tensor, int *out, char *err) {
    *out = 0;
    if (gguf_key_type(g, key) >= 0) {
        uint32_t v;
        if (gguf_get_u32(g, key, &v, err)) return -1;
        if (v != 0 && v != (uint32_t)on) return gm_fail(err, "%s = %u (0 or %d expected)", key, v, on);
        *out = (int)v;
    }
    if (!*out && gguf_find_tensor(g, tensor)) return gm_fail(err, "has %s but %s is 0 or absent", tensor, key);
    return 0;
}

/* getmusic.drum_styles: absent, or 2..8 distinct names of 1..15 letters,
 * digits or '-', the first "any"; only with bar positions. */
static int read_drum_styles(const gguf_ctx *g, gm_model *m, char *err) {
    m->sizes.drum_styles = 0;
    if (gguf_key_type(g, "getmusic.drum_styles") < 0) return 0;
    size_t n;
    if (gguf_get_arr_n(g, "getmusic.drum_styles", GGUF_TYPE_STRING, &n, err)) return -1;
    if (n < 2 || n > GM_MAX_DRUM_STYLES) return gm_fail(err, "getmusic.drum_styles has %zu names (2..%d)", n, GM_MAX_DRUM_STYLES);
    if (!m->sizes.bar_positions) return gm_fail(err, "getmusic.drum_styles without bar positions");
    for (size_t i = 0; i < n; i++) {
        char *name = NULL;
        if (gguf_get_arr_str(g, "getmusic.drum_styles", i, &name, err)) return -1;
        size_t len = strlen(name);
        int ok = len >= 1 && len < GM_DRUM_STYLE_NAME;
        for (size_t k = 0; ok && k < len; k++) ok = (name[k] >= 'a' && name[k] <= 'z') || (name[k] >= '0' && name[k] <= '9') || name[k] == '-';
        for (size_t k = 0; ok && k < i; k++) ok = strcmp(m->style_names[k], name) != 0;
        if (ok) gm_strlcpy(m->style_names[i], name, GM_DRUM_STYLE_NAME);
        free(name);
        if (!ok) return gm_fail(err, "getmusic.drum_styles[%zu] is not a distinct name of 1..%d letters", i, GM_DRUM_STYLE_NAME - 1);
    }
    if (strcmp(m->style_names[0], "any")) return gm_fail(err, "getmusic.drum_styles must begin with \"any\"");
    m->sizes.drum_styles = (int)n;
    return 0;
}

gm_model *gm_model_load(const char *path, char *err) {
    gguf_ctx *g = gguf_open(path, err);
    if (!g) return NULL;
    gm_model *m = gm_model_from_gguf(g, path, err);
    gguf_close(g);
    return m;
}

gm_model *gm_model_from_gguf(const gguf_ctx *g, const char *path, char *err) {
    char e2[GM_ERR_SIZE];
    gm_model *m = calloc(1, sizeof *m);
    char *arch = NULL;
    if (!m) { gm_fail(err, "out of memory"); goto fail; }
    if (gguf_get_str(g, "general.architecture", &arch, e2) || strcmp(arch, "getmusic")) {
        gm_fail(err, "%s: not a getmusic model (general.architecture is %s)", path, arch ? arch : "absent");
        goto fail;
    }
    int R = 0, V = 0;
    gm_model_params *p = &m->sizes;
    if (get_size(g, "getmusic.rows", 4, 2 * GM_MAX_CLASSES + 2, &R, e2) ||
        get_size(g, "getmusic.vocab_size", 17, 60000, &V, e2) ||
        get_size(g, "getmusic.embd", 1, 4096, &p->embd, e2) || get_size(g, "getmusic.hidden", 2, 16384, &p->hidden, e2) ||
        get_size(g, "getmusic.layers", 1, 128, &p->layers, e2) || get_size(g, "getmusic.heads", 1, 256, &p->heads, e2) ||
        get_size(g, "getmusic.ffn", 1, 65536, &p->ffn, e2) || get_size(g, "getmusic.max_cols", 1, 65536, &p->max_cols, e2) ||
        get_size(g, "getmusic.diffusion_steps", 2, 1000, &p->diffusion_steps, e2)) {
        gm_fail(err, "%s: %s", path, e2);
        goto fail;
    }
    m->chord_frames = 1; /* absent: models from before half-bar chords */
    if (gguf_key_type(g, "getmusic.chord_frames_per_bar") >= 0 &&
        get_size(g, "getmusic.chord_frames_per_bar", 1, GM_MAX_CHORD_FRAMES, &m->chord_frames, e2)) {
        gm_fail(err, "%s: %s", path, e2);
        goto fail;
    }
    p->dropout = 0.1f;
    float dr;
    if (gguf_key_type(g, "getmusic.dropout") >= 0 && gguf_get_f32(g, "getmusic.dropout", &dr, NULL) == 0 && dr >= 0 && dr < 1)
        p->dropout = dr;
    if (read_optional_part(g, "getmusic.token_features", GM_TOKEN_FEATURES, "embeddings.pitch_embeddings.weight",
                           &p->token_features, e2) ||
        read_optional_part(g, "getmusic.bar_positions", GM_BAR_POSITIONS, "embeddings.bar_position_embeddings.weight",
                           &p->bar_positions, e2) ||
        read_drum_styles(g, m, e2)) {
        gm_fail(err, "%s: %s", path, e2);
        goto fail;
    }
    if (read_layout(g, &m->layout, e2)) { gm_fail(err, "%s: %s", path, e2); goto fail; }
    if (gm_layout_rows(&m->layout) != R) {
        gm_fail(err, "%s: %d rows, but its layout '%s' has %d classes (%d rows)", path, R, m->layout.name,
                m->layout.n_classes, gm_layout_rows(&m->layout));
        goto fail;
    }
    if (!(m->vocab = read_vocab(g, &m->layout, e2))) { gm_fail(err, "%s: %s", path, e2); goto fail; }
    if (gm_vocab_size(m->vocab) != V) {
        gm_fail(err, "%s: vocabulary mismatch: %d tokens listed, getmusic.vocab_size says %d", path, gm_vocab_size(m->vocab), V);
        goto fail;
    }
    gd_config c = config_of(p, &m->layout, V);
    if (!(m->net = gd_model_new(&c, e2))) { gm_fail(err, "%s: %s", path, e2); goto fail; }
    float *params = gd_model_params(m->net);
    for (int i = 0; i < gd_model_n_tensors(m->net); i++) {
        const gd_tensor *t = gd_model_tensor(m->net, i);
        int64_t ne[2] = {t->n_dims == 2 ? t->shape[1] : t->shape[0], t->shape[0]};
        if (!gguf_find_tensor(g, t->name)) { gm_fail(err, "%s: tensor '%s' is missing", path, t->name); goto fail; }
        if (gguf_read_f32(g, t->name, t->n_dims, ne, params + t->offset, e2)) { gm_fail(err, "%s: %s", path, e2); goto fail; }
    }
    if (model_set_token_features(m, e2)) { gm_fail(err, "%s: %s", path, e2); goto fail; }
    if (gm_harmonizer_read(g, &m->harmonizer, e2)) { gm_fail(err, "%s: %s", path, e2); goto fail; }
    char *src = NULL;
    if (gguf_key_type(g, "getmusic.source") >= 0 && gguf_get_str(g, "getmusic.source", &src, NULL) == 0) m->source = src;
    free(arch);
    return m;
fail:
    free(arch);
    gm_model_free(m);
    return NULL;
}
