/*
 * vocab.c — the GETScore vocabulary: the duration tokens, and the token
 * table itself (load and save dict.txt, build from corpus counts, exact and
 * closest lookup). The token grid that uses it is grid.c.
 *
 * Facts taken from the original GETMusic preprocessing (microsoft/muzic,
 * getmusic/preprocess/{to_oct,make_dict,binarize}.py), restated here so
 * the rules below can be checked without reading Python:
 *
 *   - Vocabulary order: T1..T15 (durations), <pad>, then one block per
 *     track class (lead M, bass B, drums D, guitar G, piano P, strings S),
 *     each block = the 128 single pitches in pitch order followed by the
 *     kept compounds in descending corpus count, then the 12 chord roots
 *     (C C# D Eb E F F# G Ab A Bb B) and 8 qualities (null m + dim seven
 *     maj7 m7 m7b5). Singles are written with count 0.
 *   - Drum pitches are written +128 ("D164 170" = kick 36 + hi-hat 42).
 *   - Frequency rule (make_dict.py): only compounds (2+ distinct pitches)
 *     are counted; total = sum of the class's compound counts; walking the
 *     compounds by descending count with a running sum that includes the
 *     current one, a compound is kept while `running < 0.9 * total` AND
 *     `count > threshold`; the first failure ends the class. The original
 *     dict.txt shows threshold 500 (smallest kept counts are 501-502 in
 *     drums, piano and strings; bass and guitar stop on the 90% share).
 *   - The lead class is special-cased: its compounds are never counted, so
 *     it holds exactly the 128 singles (a lead chord was simply dropped as
 *     out of vocabulary). We keep that rule for the class that takes the
 *     lead role first (gm_vocab_builder_set_monophonic overrides it).
 *   - A compound token names every distinct pitch of one track starting at
 *     one grid step (see grid.c).
 *
 * Our addition: out-of-vocabulary compounds are replaced by the closest
 * in-vocabulary subset (most notes kept) instead of being dropped
 * (gm_vocab_closest; grid.c applies it).
 */
#include "getmusic.h"
#include "util.h"
#include "vocab.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ======================================================================== */
/* Durations                                                                 */
/* ======================================================================== */

/* Token k (0..14, written "T(k+1)") decodes to this many 16th notes. */
const int gm_duration_steps[GM_N_DURATIONS] = {1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 28, 36, 44, 52};

/*
 * Nearest duration value; an exact tie (5, 7, 11, 14, 18, 22, 26, 32, 40,
 * 48 steps) goes to the shorter value, which is also what the original
 * does there (its table floors every length to the value at or below it).
 * Away from ties we round to nearest where the original floors (33 steps
 * → 36 here, 28 there): a decoded note then ends closer to where it did.
 * Zero and negative lengths become one step; anything past 52 clips.
 */
int gm_duration_token(int steps) {
    if (steps <= gm_duration_steps[0]) return 0;
    if (steps >= gm_duration_steps[GM_N_DURATIONS - 1]) return GM_N_DURATIONS - 1;
    int i = 0;
    while (gm_duration_steps[i + 1] <= steps) i++; /* steps[i] <= steps < steps[i+1] */
    return steps - gm_duration_steps[i] <= gm_duration_steps[i + 1] - steps ? i : i + 1;
}

/* ======================================================================== */
/* Pitch sets: ordering and hashing (the mask itself is in vocab.h)          */
/* ======================================================================== */


/* Lexicographic order of the sorted pitch lists ({60} < {60 64} < {61}):
 * the tie-break that makes vocabulary order independent of input order. */
static int pm_cmp_lex(pmask a, pmask b) {
    uint8_t la[128], lb[128];
    int na = pm_list(a, la), nb = pm_list(b, lb);
    for (int i = 0; i < na && i < nb; i++)
        if (la[i] != lb[i]) return la[i] < lb[i] ? -1 : 1;
    return na < nb ? -1 : na > nb;
}

/* splitmix64 finaliser: a cheap, well-mixed hash of (class, pitch set). */
static uint64_t mix64(uint64_t x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
static uint64_t pm_hash(int cls, pmask m) {
    return mix64(m.w[0] ^ mix64(m.w[1] ^ mix64((uint64_t)(cls + 1))));
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

/* ======================================================================== */
/* Vocabulary                                                                */
/* ======================================================================== */

static const char *const root_names[12] = {"C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"};
/* Same order as GM_Q_* (and as the original's kind_dict). */
static const char *const quality_names[GM_N_QUALITIES] = {"null", "m", "+", "dim", "seven", "maj7", "m7", "m7b5"};

void gm_vocab_free(gm_vocab *v) {
    if (!v) return;
    GM_FREE_ALL(v->kind, v->odd, v->mask, v->count, v->text_off, v->text, v->hash);
    free(v);
}

static gm_vocab *vocab_new(const gm_class *cls, int n_classes) {
    gm_vocab *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->n_classes = n_classes;
    for (int c = 0; c < n_classes; c++) v->cls[c] = cls[c];
    v->root_begin = v->qual_begin = -1;
    return v;
}

/* Appends a token string; returns -1 out of memory. */
static int vocab_push(gm_vocab *v, int kind, pmask m, uint32_t count, const char *s) {
    if (v->n == v->cap) {
        int cap = v->cap ? 2 * v->cap : 1024;
        int8_t *k = realloc(v->kind, (size_t)cap * sizeof *k);
        if (k) v->kind = k;
        uint8_t *od = realloc(v->odd, (size_t)cap * sizeof *od);
        if (od) v->odd = od;
        pmask *mm = realloc(v->mask, (size_t)cap * sizeof *mm);
        if (mm) v->mask = mm;
        uint32_t *c = realloc(v->count, (size_t)cap * sizeof *c);
        if (c) v->count = c;
        uint32_t *o = realloc(v->text_off, (size_t)cap * sizeof *o);
        if (o) v->text_off = o;
        if (!k || !od || !mm || !c || !o) return -1;
        v->cap = cap;
    }
    size_t len = strlen(s) + 1;
    if (v->text_len + len > v->text_cap) {
        size_t cap = v->text_cap ? 2 * v->text_cap : 16384;
        while (cap < v->text_len + len) cap *= 2;
        if (cap > UINT32_MAX) return -1;
        char *t = realloc(v->text, cap);
        if (!t) return -1;
        v->text = t;
        v->text_cap = cap;
    }
    memcpy(v->text + v->text_len, s, len);
    v->text_off[v->n] = (uint32_t)v->text_len;
    v->text_len += len;
    v->kind[v->n] = (int8_t)kind;
    v->odd[v->n] = 0;
    v->mask[v->n] = m;
    v->count[v->n] = count;
    v->n++;
    return 0;
}

/* Canonical token string of a pitch set: prefix + pitches, drums + 128. */
static void pitch_token_string(char *buf, size_t n, char prefix, int is_drum, pmask m) {
    uint8_t p[128];
    int k = pm_list(m, p);
    size_t at = 0;
    buf[at++] = prefix;
    for (int i = 0; i < k && at + 5 < n; i++)
        at += (size_t)snprintf(buf + at, n - at, i ? " %d" : "%d", p[i] + (is_drum ? 128 : 0));
    buf[at] = 0;
}

static int vocab_push_pitch(gm_vocab *v, int cls, pmask m, uint32_t count) {
    char buf[128 * 4 + 8];
    pitch_token_string(buf, sizeof buf, v->cls[cls].prefix, v->cls[cls].is_drum, m);
    return vocab_push(v, cls, m, count, buf);
}

/* Builds the (class, pitch set) → id table. Returns the id of a duplicate
 * token (>= 0), -1 when all are distinct, -2 out of memory. */
static int vocab_index(gm_vocab *v) {
    free(v->hash);
    v->hash_cap = pow2_at_least(2 * (size_t)v->n + 1);
    v->hash = malloc(v->hash_cap * sizeof *v->hash);
    if (!v->hash) return -2;
    memset(v->hash, 0xff, v->hash_cap * sizeof *v->hash);
    for (int id = 0; id < v->n; id++) {
        int c = v->kind[id];
        if (c < 0 || v->odd[id]) continue;
        size_t h = (size_t)pm_hash(c, v->mask[id]) & (v->hash_cap - 1);
        while (v->hash[h] >= 0) {
            int o = v->hash[h];
            if (v->kind[o] == c && pm_eq(v->mask[o], v->mask[id])) return id;
            h = (h + 1) & (v->hash_cap - 1);
        }
        v->hash[h] = id;
    }
    return -1;
}

static int vocab_find(const gm_vocab *v, int cls, pmask m) {
    if (!v->hash || pm_empty(m)) return -1;
    size_t h = (size_t)pm_hash(cls, m) & (v->hash_cap - 1);
    while (v->hash[h] >= 0) {
        int o = v->hash[h];
        if (v->kind[o] == cls && pm_eq(v->mask[o], m)) return o;
        h = (h + 1) & (v->hash_cap - 1);
    }
    return -1;
}

/* Durations and <pad>: ids 0..15, the same in every vocabulary. */
static int vocab_push_fixed(gm_vocab *v) {
    pmask z = {{0, 0}};
    char buf[16];
    for (int k = 0; k < GM_N_DURATIONS; k++) {
        snprintf(buf, sizeof buf, "T%d", k + 1);
        if (vocab_push(v, K_DUR, z, 0, buf)) return -1;
    }
    return vocab_push(v, K_PAD, z, 0, "<pad>");
}

static int vocab_push_chords(gm_vocab *v) {
    pmask z = {{0, 0}};
    v->root_begin = v->n;
    for (int r = 0; r < 12; r++)
        if (vocab_push(v, K_ROOT, z, 0, root_names[r])) return -1;
    v->qual_begin = v->n;
    for (int q = 0; q < GM_N_QUALITIES; q++)
        if (vocab_push(v, K_QUAL, z, 0, quality_names[q])) return -1;
    return 0;
}

/* Layout sanity shared by load and build: prefixes must tell classes apart
 * (they are how dict.txt assigns tokens to blocks). */
static int check_layout(const gm_layout *l, char *err) {
    if (!l || l->n_classes < 1 || l->n_classes > GM_MAX_CLASSES)
        return gm_fail(err, "track layout must have 1..%d classes", GM_MAX_CLASSES);
    for (int c = 0; c < l->n_classes; c++) {
        char p = l->cls[c].prefix;
        if (!((p >= 'A' && p <= 'Z') || (p >= 'a' && p <= 'z')) || p == 'T')
            return gm_fail(err, "class '%s' has token prefix '%c'; a letter other than T is needed",
                           l->cls[c].name, p ? p : '?');
        for (int d = 0; d < c; d++)
            if (l->cls[d].prefix == p)
                return gm_fail(err, "classes '%s' and '%s' share token prefix '%c'", l->cls[d].name,
                               l->cls[c].name, p);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Loading dict.txt                                                          */
/* ------------------------------------------------------------------------ */

/* Largest vocabulary file we read: the original is 190 KB. */
#define VOCAB_MAX_BYTES (64u << 20)

/* Parses "P60 64 67" style pitch lists after the prefix: decimal numbers
 * without leading zeros, one space apart, strictly increasing (so the
 * string is the canonical one). Drum values lie in 128..255 and are stored
 * as GM keys. Pitched values may be negative: the original dict.txt has
 * bass tokens such as "B-9 14 38 59 86" (a transposition that was not
 * folded back into range); *odd is then set and only the in-range pitches
 * go into the mask, as the original decoder plays those and skips the
 * negative ones. Returns 0 or -1 with a reason in why. */
static int parse_pitches(const char *s, int is_drum, pmask *out, int *odd, const char **why) {
    pmask m = {{0, 0}};
    int prev = INT_MIN;
    const char *p = s;
    *odd = 0;
    for (;;) {
        int neg = 0;
        if (*p == '-' && !is_drum) neg = 1, p++;
        if (*p < '0' || *p > '9') { *why = "expected a pitch number"; return -1; }
        if (*p == '0' && ((p[1] >= '0' && p[1] <= '9') || neg)) { *why = "pitch with a leading zero or -0"; return -1; }
        int val = 0;
        while (*p >= '0' && *p <= '9') {
            val = val * 10 + (*p - '0');
            if (val > 255) { *why = "pitch out of range"; return -1; }
            p++;
        }
        if (neg) val = -val;
        int lo = is_drum ? 128 : 0;
        if (val < -128 || val > lo + 127 || (is_drum && val < lo)) {
            *why = is_drum ? "drum pitch outside 128..255" : "pitch outside -128..127";
            return -1;
        }
        if (val <= prev) { *why = "pitches not strictly increasing"; return -1; }
        prev = val;
        if (val < lo) *odd = 1;
        else pm_set(&m, val - lo);
        if (!*p) break;
        if (*p != ' ') { *why = "unexpected character"; return -1; }
        p++;
    }
    *out = m;
    return 0;
}

/* Is this a pitch token of some class (a letter then a digit)? */
static int looks_like_pitch_token(const char *tok) {
    const char *d = tok[0] && tok[1] == '-' ? tok + 2 : tok + 1;
    return tok[0] && tok[0] != 'T' && *d >= '0' && *d <= '9';
}

static gm_vocab *vocab_parse(char *buf, size_t len, const char *path, const gm_layout *l, char *err);

gm_vocab *gm_vocab_load(const char *path, const gm_layout *l, char *err) {
    if (check_layout(l, err)) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        gm_fail(err, "cannot open vocabulary %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            cap = cap ? 2 * cap : 262144;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                gm_fail(err, "out of memory reading %s", path);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, 65536, f);
        len += got;
        if (len > VOCAB_MAX_BYTES) {
            free(buf);
            fclose(f);
            gm_fail(err, "%s: vocabulary file larger than %u bytes", path, VOCAB_MAX_BYTES);
            return NULL;
        }
        if (got < 65536) break;
    }
    int rd_err = ferror(f);
    fclose(f);
    if (rd_err) {
        free(buf);
        gm_fail(err, "read error on %s", path);
        return NULL;
    }
    buf[len] = 0;

    return vocab_parse(buf, len, path, l, err);
}

gm_vocab *gm_vocab_parse(const char *text, size_t len, const char *name, const gm_layout *l, char *err) {
    if (check_layout(l, err)) return NULL;
    if (len > VOCAB_MAX_BYTES) {
        gm_fail(err, "%s: vocabulary larger than %u bytes", name, VOCAB_MAX_BYTES);
        return NULL;
    }
    char *buf = malloc(len + 1);
    if (!buf) {
        gm_fail(err, "out of memory");
        return NULL;
    }
    memcpy(buf, text, len);
    buf[len] = 0;
    return vocab_parse(buf, len, name, l, err);
}

/* vocab_parse's state between lines: the fixed 16, then class blocks in
 * layout order, then roots and qualities, then the end of file. */
typedef struct {
    gm_vocab *v;
    const gm_layout *l;
    const char *path;     /* for messages */
    int line_no;          /* 1-based, of the line being read */
    int cls;              /* the class block being read, -1 before the first */
    int chord_at;         /* chord tokens read so far (12 roots, then the qualities) */
    int have_single[128]; /* [pitch] 1 once the current class block has it */
    const char *why;      /* what is wrong with the line, for VL_BAD */
} vocab_reader;

/* How a line went: VL_BAD is reported as "path:line: why", the others have
 * set err already (VL_OOM has not: "out of memory"). */
enum { VL_OK = 0, VL_BAD, VL_FAIL, VL_OOM };

/* "token<TAB>count" of one line (NUL-terminated at eol) into *tok (the line,
 * cut at the tab) and *count. */
static int vocab_line_fields(char *p, const char *eol, const char **tok, uint32_t *count, const char **why) {
    if (memchr(p, 0, (size_t)(eol - p))) { *why = "NUL byte in line"; return VL_BAD; }
    char *tab = strchr(p, '\t');
    if (!tab || tab == p) { *why = "expected token<TAB>count"; return VL_BAD; }
    *tab = 0;
    const char *cnt = tab + 1;
    if (!*cnt) { *why = "missing count"; return VL_BAD; }
    unsigned long long c = 0;
    for (const char *q = cnt; *q; q++) {
        if (*q < '0' || *q > '9') { *why = "count is not a non-negative integer"; return VL_BAD; }
        c = c * 10 + (unsigned)(*q - '0');
        if (c > UINT32_MAX) { *why = "count too large"; return VL_BAD; }
    }
    *tok = p;
    *count = (uint32_t)c;
    return VL_OK;
}

/* A class block must hold every single pitch (the encoder's fallback for any
 * note); block_end > 0 names the line the block ended on in the message. */
static int vocab_check_singles(const vocab_reader *rd, int block_end, char *err) {
    const gm_class *c = &rd->l->cls[rd->cls];
    for (int q = 0; q < 128; q++)
        if (!rd->have_single[q]) {
            if (block_end > 0)
                gm_fail(err, "%s: class '%s' (%c) lacks the single pitch %d (block ends at line %d)", rd->path,
                        c->name, c->prefix, q + (c->is_drum ? 128 : 0), block_end);
            else
                gm_fail(err, "%s: class '%s' (%c) lacks the single pitch %d", rd->path, c->name, c->prefix,
                        q + (c->is_drum ? 128 : 0));
            return VL_FAIL;
        }
    return VL_OK;
}

/* A pitch token: this class's block, or the start of the next. */
static int vocab_line_pitch(vocab_reader *rd, const char *tok, uint32_t count, char *err) {
    gm_vocab *v = rd->v;
    const gm_layout *l = rd->l;
    if (rd->cls < 0 || tok[0] != l->cls[rd->cls].prefix) {
        if (rd->cls >= 0 && vocab_check_singles(rd, rd->line_no - 1, err)) return VL_FAIL;
        const int next = rd->cls + 1;
        if (next >= l->n_classes || tok[0] != l->cls[next].prefix) {
            if (next >= l->n_classes)
                gm_fail(err, "%s:%d: token '%s' after the last class of layout '%s'; expected chord root 'C'"
                        " (vocabulary and layout do not match)", rd->path, rd->line_no, tok, l->name);
            else
                gm_fail(err, "%s:%d: token '%s' where layout '%s' expects class '%s' (prefix %c)"
                        " (vocabulary and layout do not match)", rd->path, rd->line_no, tok, l->name,
                        l->cls[next].name, l->cls[next].prefix);
            return VL_FAIL;
        }
        if (rd->cls >= 0) v->cls_end[rd->cls] = v->n;
        rd->cls = next;
        v->cls_begin[rd->cls] = v->n;
        memset(rd->have_single, 0, sizeof rd->have_single);
    }
    pmask m;
    int odd;
    if (parse_pitches(tok + 1, l->cls[rd->cls].is_drum, &m, &odd, &rd->why)) return VL_BAD;
    if (pm_count(m) == 1 && !odd) {
        uint8_t one[128];
        pm_list(m, one);
        rd->have_single[one[0]] = 1;
    }
    if (vocab_push(v, rd->cls, m, count, tok)) return VL_OOM;
    v->odd[v->n - 1] = (uint8_t)odd;
    return VL_OK;
}

/* Chord roots, then qualities, in the fixed order; the first one closes the
 * last class block. */
static int vocab_line_chord(vocab_reader *rd, const char *tok, uint32_t count, char *err) {
    gm_vocab *v = rd->v;
    const gm_layout *l = rd->l;
    const pmask z = {{0, 0}};
    if (rd->chord_at == 0) {
        if (rd->cls + 1 != l->n_classes) {
            int c = rd->cls + 1;
            gm_fail(err, "%s:%d: got '%s' where layout '%s' expects class '%s' (prefix %c)"
                    " (vocabulary and layout do not match)", rd->path, rd->line_no, tok, l->name,
                    l->cls[c].name, l->cls[c].prefix);
            return VL_FAIL;
        }
        if (vocab_check_singles(rd, 0, err)) return VL_FAIL;
        v->cls_end[rd->cls] = v->n;
        v->root_begin = v->n;
    }
    const int at = rd->chord_at;
    if (at >= 12 + GM_N_QUALITIES) { rd->why = "extra line after the chord qualities"; return VL_BAD; }
    const char *want = at < 12 ? root_names[at] : quality_names[at - 12];
    if (strcmp(tok, want)) {
        gm_fail(err, "%s:%d: expected chord %s '%s', got '%s'", rd->path, rd->line_no, at < 12 ? "root" : "quality",
                want, tok);
        return VL_FAIL;
    }
    if (at == 12) v->qual_begin = v->n;
    if (vocab_push(v, at < 12 ? K_ROOT : K_QUAL, z, count, tok)) return VL_OOM;
    rd->chord_at++;
    return VL_OK;
}

/* One line (NUL-terminated at eol): the durations and <pad> first, then
 * pitch tokens, then chords. */
static int vocab_parse_line(vocab_reader *rd, char *p, const char *eol, char *err) {
    gm_vocab *v = rd->v;
    const char *tok;
    uint32_t count;
    int st = vocab_line_fields(p, eol, &tok, &count, &rd->why);
    if (st) return st;
    const int id = v->n;
    const pmask z = {{0, 0}};
    if (id < GM_N_DURATIONS) {
        char want[16];
        snprintf(want, sizeof want, "T%d", id + 1);
        if (strcmp(tok, want)) {
            gm_fail(err, "%s:%d: expected duration token '%s', got '%s'", rd->path, rd->line_no, want, tok);
            return VL_FAIL;
        }
        return vocab_push(v, K_DUR, z, count, tok) ? VL_OOM : VL_OK;
    }
    if (id == GM_N_DURATIONS) {
        if (strcmp(tok, "<pad>")) {
            gm_fail(err, "%s:%d: expected '<pad>', got '%s'", rd->path, rd->line_no, tok);
            return VL_FAIL;
        }
        return vocab_push(v, K_PAD, z, count, tok) ? VL_OOM : VL_OK;
    }
    if (rd->chord_at == 0 && looks_like_pitch_token(tok)) return vocab_line_pitch(rd, tok, count, err);
    return vocab_line_chord(rd, tok, count, err);
}


/* Parses dict.txt text in buf (len bytes, NUL at buf[len]; modified, freed
 * here). `path` names the source in messages. */
static gm_vocab *vocab_parse(char *buf, size_t len, const char *path, const gm_layout *l, char *err) {
    gm_vocab *v = vocab_new(l->cls, l->n_classes);
    if (!v) {
        free(buf);
        gm_fail(err, "out of memory");
        return NULL;
    }
    vocab_reader rd = {.v = v, .l = l, .path = path, .cls = -1};
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        char *next = nl ? nl + 1 : end;
        if (eol > p && eol[-1] == '\r') eol--; /* tolerate CRLF files */
        *eol = 0;
        rd.line_no++;
        int st = vocab_parse_line(&rd, p, eol, err);
        if (st == VL_BAD) gm_fail(err, "%s:%d: %s", path, rd.line_no, rd.why);
        if (st == VL_OOM) gm_fail(err, "out of memory");
        if (st) goto fail;
        p = next;
    }
    if (rd.chord_at != 12 + GM_N_QUALITIES) {
        gm_fail(err, "%s: truncated after line %d (expected %s)", path, rd.line_no,
                v->n <= GM_N_DURATIONS ? "the duration tokens and <pad>"
                : rd.cls + 1 < l->n_classes ? "more track classes" : "12 chord roots and 8 qualities");
        goto fail;
    }
    free(buf);
    int dup = vocab_index(v);
    if (dup == -2) {
        gm_vocab_free(v);
        gm_fail(err, "out of memory");
        return NULL;
    }
    if (dup >= 0) {
        gm_fail(err, "%s:%d: duplicate token '%s'", path, dup + 1, v->text + v->text_off[dup]);
        gm_vocab_free(v);
        return NULL;
    }
    return v;
fail:
    free(buf);
    gm_vocab_free(v);
    return NULL;
}

int gm_vocab_save(const gm_vocab *v, const char *path, char *err) {
    if (!v || !path) return gm_fail(err, "no vocabulary or path");
    gm_atomic_file a;
    if (gm_atomic_open(&a, path, err)) return -1;
    /* A failed fprintf leaves the stream's error flag set: commit reports it. */
    for (int id = 0; id < v->n; id++)
        if (fprintf(a.f, "%s\t%u\n", v->text + v->text_off[id], v->count[id]) < 0) break;
    return gm_atomic_commit(&a, err);
}

/* ------------------------------------------------------------------------ */
/* Queries                                                                   */
/* ------------------------------------------------------------------------ */

int gm_vocab_size(const gm_vocab *v) { return v->n; }
int gm_vocab_pad(const gm_vocab *v) { (void)v; return GM_N_DURATIONS; }
int gm_vocab_empty(const gm_vocab *v) { return v->n; }
int gm_vocab_mask(const gm_vocab *v) { return v->n + 1; }
int gm_vocab_n_classes(const gm_vocab *v) { return v->n_classes; }

int gm_vocab_range(const gm_vocab *v, int cls, int *begin, int *end) {
    int b, e;
    if (cls >= 0 && cls < v->n_classes) b = v->cls_begin[cls], e = v->cls_end[cls];
    else if (cls == GM_RANGE_ROOTS) b = v->root_begin, e = v->root_begin + 12;
    else if (cls == GM_RANGE_QUALITIES) b = v->qual_begin, e = v->qual_begin + GM_N_QUALITIES;
    else if (cls == GM_RANGE_DURATIONS) b = 0, e = GM_N_DURATIONS;
    else return -1;
    if (begin) *begin = b;
    if (end) *end = e;
    return 0;
}

int gm_vocab_row_range(const gm_vocab *v, int row, int *begin, int *end) {
    const int nc = v->n_classes;
    if (row < 0 || row >= 2 * nc + 2) return -1;
    static const int range_of_kind[] = {[GM_ROW_DURATION] = GM_RANGE_DURATIONS, [GM_ROW_CHORD_ROOT] = GM_RANGE_ROOTS,
                                        [GM_ROW_CHORD_QUALITY] = GM_RANGE_QUALITIES};
    gm_row_kind k = gm_row_kind_of(nc, row);
    return gm_vocab_range(v, k == GM_ROW_PITCH ? gm_row_class(nc, row) : range_of_kind[k], begin, end);
}

const char *gm_vocab_token(const gm_vocab *v, int id) {
    if (id >= 0 && id < v->n) return v->text + v->text_off[id];
    if (id == v->n) return "EMPTY";
    if (id == v->n + 1) return "MASK";
    return NULL;
}

uint32_t gm_vocab_count(const gm_vocab *v, int id) { return id >= 0 && id < v->n ? v->count[id] : 0; }

/* Mask of a pitch list; -1 on a pitch outside 0..127 or an empty list. */
static int mask_of(const uint8_t *pitches, int n, pmask *m) {
    pmask r = {{0, 0}};
    if (!pitches || n < 1) return -1;
    for (int i = 0; i < n; i++) {
        if (pitches[i] > 127) return -1;
        pm_set(&r, pitches[i]);
    }
    *m = r;
    return 0;
}

int gm_vocab_lookup(const gm_vocab *v, int cls, const uint8_t *pitches, int n) {
    pmask m;
    if (cls < 0 || cls >= v->n_classes || mask_of(pitches, n, &m)) return -1;
    return vocab_find(v, cls, m);
}

/* Closest subset by mask: most pitches kept, then the larger corpus count,
 * then the lower id. A linear scan of the class block (at most a few
 * thousand tokens): it runs only for out-of-vocabulary compounds. */
int gm_vocab_closest_mask(const gm_vocab *v, int cls, pmask q) {
    int id = vocab_find(v, cls, q);
    if (id >= 0) return id;
    int best = -1, best_n = 0;
    uint32_t best_count = 0;
    for (int t = v->cls_begin[cls]; t < v->cls_end[cls]; t++) {
        if (v->odd[t] || !pm_subset(v->mask[t], q)) continue;
        int k = pm_count(v->mask[t]);
        if (k > best_n || (k == best_n && v->count[t] > best_count)) {
            best = t;
            best_n = k;
            best_count = v->count[t];
        }
    }
    return best;
}

int gm_vocab_closest(const gm_vocab *v, int cls, const uint8_t *pitches, int n) {
    pmask m;
    if (cls < 0 || cls >= v->n_classes || mask_of(pitches, n, &m)) return -1;
    return gm_vocab_closest_mask(v, cls, m);
}

int gm_vocab_pitches(const gm_vocab *v, int id, uint8_t *out) {
    if (id < 0 || id >= v->n || v->kind[id] < 0) return 0;
    return pm_list(v->mask[id], out);
}

/* ======================================================================== */
/* Building a vocabulary from corpus counts                                  */
/* ======================================================================== */

typedef struct {
    pmask m;
    uint64_t count;
    int32_t cls;        /* -1 = free slot */
} bentry;

struct gm_vocab_builder {
    gm_layout l;
    uint8_t mono[GM_MAX_CLASSES];          /* [n_classes] 1 = singles only (the lead rule) */
    uint64_t single[GM_MAX_CLASSES][128];  /* [n_classes][pitch] counts of single-pitch tokens */
    bentry *tab;                           /* [cap] open addressing over (class, pitch set) */
    size_t cap, used;
};

gm_vocab_builder *gm_vocab_builder_new(const gm_layout *l) {
    if (check_layout(l, NULL)) return NULL;
    gm_vocab_builder *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->l = *l;
    /* The original never counts lead compounds: the class that takes the
     * lead role first keeps only its 128 single pitches. */
    for (int c = 0; c < l->n_classes; c++)
        b->mono[c] = (l->cls[c].roles & (1u << GM_ROLE_LEAD)) && !l->cls[c].is_drum;
    b->cap = 4096;
    b->tab = malloc(b->cap * sizeof *b->tab);
    if (!b->tab) {
        free(b);
        return NULL;
    }
    for (size_t i = 0; i < b->cap; i++) b->tab[i].cls = -1;
    return b;
}

void gm_vocab_builder_free(gm_vocab_builder *b) {
    if (!b) return;
    free(b->tab);
    free(b);
}

int gm_vocab_builder_set_monophonic(gm_vocab_builder *b, int cls, int on) {
    if (!b || cls < 0 || cls >= b->l.n_classes) return -1;
    b->mono[cls] = on ? 1 : 0;
    return 0;
}

static int builder_grow(gm_vocab_builder *b) {
    size_t cap = 2 * b->cap;
    bentry *t = malloc(cap * sizeof *t);
    if (!t) return -1;
    for (size_t i = 0; i < cap; i++) t[i].cls = -1;
    for (size_t i = 0; i < b->cap; i++) {
        if (b->tab[i].cls < 0) continue;
        size_t h = (size_t)pm_hash(b->tab[i].cls, b->tab[i].m) & (cap - 1);
        while (t[h].cls >= 0) h = (h + 1) & (cap - 1);
        t[h] = b->tab[i];
    }
    free(b->tab);
    b->tab = t;
    b->cap = cap;
    return 0;
}

static int builder_add_mask(gm_vocab_builder *b, int cls, pmask m, uint64_t count) {
    if (pm_count(m) == 1) {
        uint8_t p[128];
        pm_list(m, p);
        b->single[cls][p[0]] += count;
        return 0;
    }
    if (b->mono[cls]) return 0;
    if (2 * (b->used + 1) > b->cap && builder_grow(b)) return -1; /* keep load under 1/2 */
    size_t h = (size_t)pm_hash(cls, m) & (b->cap - 1);
    while (b->tab[h].cls >= 0) {
        if (b->tab[h].cls == cls && pm_eq(b->tab[h].m, m)) {
            b->tab[h].count += count;
            return 0;
        }
        h = (h + 1) & (b->cap - 1);
    }
    b->tab[h].cls = cls;
    b->tab[h].m = m;
    b->tab[h].count = count;
    b->used++;
    return 0;
}

int gm_vocab_builder_add(gm_vocab_builder *b, int cls, const uint8_t *pitches, int n, uint32_t count) {
    pmask m;
    if (!b || cls < 0 || cls >= b->l.n_classes || mask_of(pitches, n, &m)) return -1;
    return builder_add_mask(b, cls, m, count);
}

int gm_vocab_builder_merge(gm_vocab_builder *dst, const gm_vocab_builder *src) {
    if (!dst || !src || dst->l.n_classes != src->l.n_classes) return -1;
    for (int c = 0; c < src->l.n_classes; c++) {
        if (dst->l.cls[c].prefix != src->l.cls[c].prefix) return -1;
        for (int p = 0; p < 128; p++) dst->single[c][p] += src->single[c][p];
    }
    for (size_t i = 0; i < src->cap; i++)
        if (src->tab[i].cls >= 0 && builder_add_mask(dst, src->tab[i].cls, src->tab[i].m, src->tab[i].count))
            return -1;
    return 0;
}

/* Descending count, then lexicographic pitch-set order. */
static int cmp_bentry(const void *a, const void *b) {
    const bentry *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return pm_cmp_lex(x->m, y->m);
}

static uint32_t clamp32(uint64_t x) { return x > UINT32_MAX ? UINT32_MAX : (uint32_t)x; }

gm_vocab *gm_vocab_builder_finish(const gm_vocab_builder *b, double coverage, uint32_t min_count, char *err) {
    if (!b) {
        gm_fail(err, "no vocabulary builder");
        return NULL;
    }
    if (!(coverage >= 0.0)) {
        gm_fail(err, "vocabulary coverage %g is negative or not a number", coverage);
        return NULL;
    }
    gm_vocab *v = vocab_new(b->l.cls, b->l.n_classes);
    bentry *list = v ? malloc((b->used ? b->used : 1) * sizeof *list) : NULL;
    if (!v || !list || vocab_push_fixed(v)) goto oom;
    for (int c = 0; c < b->l.n_classes; c++) {
        v->cls_begin[c] = v->n;
        /* The 128 singles, in pitch order, always present. Unlike the
         * original (which writes 0) we keep their real counts: they break
         * ties when an out-of-vocabulary compound shrinks to one note. */
        for (int p = 0; p < 128; p++) {
            pmask m = {{0, 0}};
            pm_set(&m, p);
            if (vocab_push_pitch(v, c, m, clamp32(b->single[c][p]))) goto oom;
        }
        size_t n = 0;
        uint64_t total = 0;
        for (size_t i = 0; i < b->cap; i++)
            if (b->tab[i].cls == c) {
                list[n++] = b->tab[i];
                total += b->tab[i].count;
            }
        qsort(list, n, sizeof *list, cmp_bentry);
        /* The original rule: the running sum includes the current compound
         * and must stay strictly below coverage × total; the count must
         * exceed min_count; the first compound failing either ends it.
         * Coverage >= 1 lifts the share limit (with the strict < even 1.0
         * would drop the last compound, which is never what a caller asking
         * for everything means). */
        double limit = coverage * (double)total;
        uint64_t run = 0;
        for (size_t i = 0; i < n; i++) {
            run += list[i].count;
            if (!((coverage >= 1.0 || (double)run < limit) && list[i].count > min_count)) break;
            if (vocab_push_pitch(v, c, list[i].m, clamp32(list[i].count))) goto oom;
        }
        v->cls_end[c] = v->n;
    }
    if (vocab_push_chords(v)) goto oom;
    free(list);
    if (vocab_index(v) != -1) { /* distinct by construction; -2 = out of memory */
        gm_vocab_free(v);
        gm_fail(err, "out of memory");
        return NULL;
    }
    return v;
oom:
    free(list);
    gm_vocab_free(v);
    gm_fail(err, "out of memory building the vocabulary");
    return NULL;
}

int gm_vocab_text(const gm_vocab *v, char **out, size_t *out_len, char *err) {
    size_t cap = 16;
    for (int id = 0; id < v->n; id++) cap += strlen(v->text + v->text_off[id]) + 12;
    char *buf = malloc(cap);
    if (!buf) return gm_fail(err, "out of memory");
    size_t len = 0;
    for (int id = 0; id < v->n; id++)
        len += (size_t)snprintf(buf + len, cap - len, "%s\t%u\n", v->text + v->text_off[id], v->count[id]);
    *out = buf;
    *out_len = len;
    return 0;
}

