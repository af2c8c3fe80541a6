/*
 * getscore.c — GETScore: the duration tokens, the vocabulary (load, save,
 * build from corpus counts, exact and closest lookup) and the token grid
 * (score → grid → score).
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
 *   - A compound is every distinct pitch of one track starting at one grid
 *     step; the duration row holds the duration of the first note in
 *     (pitch, duration) order, i.e. of the lowest pitch (its shortest copy
 *     when repeated). Where a track has no onset both rows are <pad>.
 *   - Chord rows hold (root, quality) over all columns of a bar; a bar with
 *     no chord ("N.C.") is left as <pad> in both rows (track_generation.py).
 *   - A class whose pitch row is all <pad> becomes EMPTY in both rows.
 *
 * Our additions: out-of-vocabulary compounds are replaced by the closest
 * in-vocabulary subset (most notes kept) instead of being dropped; bars of
 * any metre take their own number of columns (from gm_barmap); the chord
 * rows may hold a chord per half bar (gm_grid_encode_frames: the first
 * ceil(n/2) columns of an n-column bar, then the rest), as pop music
 * often changes chord every two beats.
 */
#include "getmusic.h"
#include "util.h"

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
/* Pitch sets as 128-bit masks                                               */
/* ======================================================================== */

typedef struct { uint64_t w[2]; } pmask; /* bit p = pitch p (drums: GM key) */

static inline void pm_set(pmask *m, int p) { m->w[p >> 6] |= 1ull << (p & 63); }
static inline int pm_has(pmask m, int p) { return (int)((m.w[p >> 6] >> (p & 63)) & 1); }
static inline int pm_count(pmask m) { return __builtin_popcountll(m.w[0]) + __builtin_popcountll(m.w[1]); }
static inline int pm_eq(pmask a, pmask b) { return a.w[0] == b.w[0] && a.w[1] == b.w[1]; }
static inline int pm_subset(pmask a, pmask b) { return !(a.w[0] & ~b.w[0]) && !(a.w[1] & ~b.w[1]); }
static inline int pm_empty(pmask m) { return !m.w[0] && !m.w[1]; }

/* Sorted pitches of a mask into out[128]; returns the count. */
static int pm_list(pmask m, uint8_t *out) {
    int n = 0;
    for (int k = 0; k < 2; k++)
        for (uint64_t w = m.w[k]; w; w &= w - 1) out[n++] = (uint8_t)(64 * k + __builtin_ctzll(w));
    return n;
}

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

/* Kinds of token other than a class's pitch token (which is kind = class). */
enum { K_DUR = -3, K_PAD = -4, K_ROOT = -1, K_QUAL = -2 };

#define N_FIXED (GM_N_DURATIONS + 1) /* durations + <pad> before the classes */

struct gm_vocab {
    int n;                          /* real tokens: ids 0..n-1; EMPTY = n, MASK = n+1 */
    int cap;
    int n_classes;
    gm_class cls[GM_MAX_CLASSES];   /* names, prefixes, drum flags of the layout */
    int cls_begin[GM_MAX_CLASSES];  /* [n_classes] first id of the class block */
    int cls_end[GM_MAX_CLASSES];    /* [n_classes] one past its last id */
    int root_begin, qual_begin;     /* first id of the 12 roots, of the 8 qualities */
    int8_t *kind;                   /* [cap] class index, or K_* */
    uint8_t *odd;                   /* [cap] 1 = pitch token naming a pitch outside the class's
                                       range (the original has 12 bass tokens with negative
                                       pitches): kept for its id, never looked up or chosen */
    pmask *mask;                    /* [cap] pitch set of pitch tokens, else zero */
    uint32_t *count;                /* [cap] corpus count from the file / builder */
    uint32_t *text_off;             /* [cap] offset of the token string in text */
    char *text;                     /* [text_cap] NUL-terminated token strings */
    size_t text_len, text_cap;
    int32_t *hash;                  /* [hash_cap] pitch-token ids, -1 = free slot */
    size_t hash_cap;
};

void gm_vocab_free(gm_vocab *v) {
    if (!v) return;
    free(v->kind);
    free(v->odd);
    free(v->mask);
    free(v->count);
    free(v->text_off);
    free(v->text);
    free(v->hash);
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

/* Parses dict.txt text in buf (len bytes, NUL at buf[len]; modified, freed
 * here). `path` names the source in messages. */
static gm_vocab *vocab_parse(char *buf, size_t len, const char *path, const gm_layout *l, char *err) {
    gm_vocab *v = vocab_new(l->cls, l->n_classes);
    if (!v) {
        free(buf);
        gm_fail(err, "out of memory");
        return NULL;
    }
    /* Line-by-line state: the fixed 16, then class blocks in layout order,
     * then roots and qualities, then the end of file. */
    int line_no = 0, cls = -1, chord_at = 0;
    int have_single[128]; /* [pitch] 1 once the current class block has it */
    memset(have_single, 0, sizeof have_single);
    const char *why = NULL;
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        char *next = nl ? nl + 1 : end;
        if (eol > p && eol[-1] == '\r') eol--; /* tolerate CRLF files */
        *eol = 0;
        line_no++;
        if (memchr(p, 0, (size_t)(eol - p))) { why = "NUL byte in line"; goto bad_line; }
        char *tab = strchr(p, '\t');
        if (!tab || tab == p) { why = "expected token<TAB>count"; goto bad_line; }
        *tab = 0;
        const char *tok = p, *cnt = tab + 1;
        if (!*cnt) { why = "missing count"; goto bad_line; }
        unsigned long long count = 0;
        for (const char *q = cnt; *q; q++) {
            if (*q < '0' || *q > '9') { why = "count is not a non-negative integer"; goto bad_line; }
            count = count * 10 + (unsigned)(*q - '0');
            if (count > UINT32_MAX) { why = "count too large"; goto bad_line; }
        }
        int id = v->n;
        pmask z = {{0, 0}};
        if (id < GM_N_DURATIONS) {
            char want[16];
            snprintf(want, sizeof want, "T%d", id + 1);
            if (strcmp(tok, want)) {
                gm_fail(err, "%s:%d: expected duration token '%s', got '%s'", path, line_no, want, tok);
                goto fail;
            }
            if (vocab_push(v, K_DUR, z, (uint32_t)count, tok)) goto oom;
        } else if (id == GM_N_DURATIONS) {
            if (strcmp(tok, "<pad>")) {
                gm_fail(err, "%s:%d: expected '<pad>', got '%s'", path, line_no, tok);
                goto fail;
            }
            if (vocab_push(v, K_PAD, z, (uint32_t)count, tok)) goto oom;
        } else if (chord_at == 0 && looks_like_pitch_token(tok)) {
            /* A pitch token: this class's block, or the start of the next. */
            if (cls < 0 || tok[0] != l->cls[cls].prefix) {
                if (cls >= 0)
                    for (int q = 0; q < 128; q++)
                        if (!have_single[q]) {
                            gm_fail(err, "%s: class '%s' (%c) lacks the single pitch %d (block ends at line %d)",
                                    path, l->cls[cls].name, l->cls[cls].prefix, q + (l->cls[cls].is_drum ? 128 : 0),
                                    line_no - 1);
                            goto fail;
                        }
                if (cls + 1 >= l->n_classes || tok[0] != l->cls[cls + 1].prefix) {
                    if (cls + 1 >= l->n_classes)
                        gm_fail(err, "%s:%d: token '%s' after the last class of layout '%s'; expected chord root 'C'"
                                " (vocabulary and layout do not match)", path, line_no, tok, l->name);
                    else
                        gm_fail(err, "%s:%d: token '%s' where layout '%s' expects class '%s' (prefix %c)"
                                " (vocabulary and layout do not match)", path, line_no, tok, l->name,
                                l->cls[cls + 1].name, l->cls[cls + 1].prefix);
                    goto fail;
                }
                if (cls >= 0) v->cls_end[cls] = v->n;
                cls++;
                v->cls_begin[cls] = v->n;
                memset(have_single, 0, sizeof have_single);
            }
            pmask m;
            int odd;
            if (parse_pitches(tok + 1, l->cls[cls].is_drum, &m, &odd, &why)) goto bad_line;
            if (pm_count(m) == 1 && !odd) {
                uint8_t one[128];
                pm_list(m, one);
                have_single[one[0]] = 1;
            }
            if (vocab_push(v, cls, m, (uint32_t)count, tok)) goto oom;
            v->odd[v->n - 1] = (uint8_t)odd;
        } else {
            /* Chord roots, then qualities, in the fixed order. */
            if (chord_at == 0) {
                if (cls + 1 != l->n_classes) {
                    int c = cls + 1;
                    gm_fail(err, "%s:%d: got '%s' where layout '%s' expects class '%s' (prefix %c)"
                            " (vocabulary and layout do not match)", path, line_no, tok, l->name,
                            l->cls[c].name, l->cls[c].prefix);
                    goto fail;
                }
                for (int q = 0; q < 128; q++)
                    if (!have_single[q]) {
                        gm_fail(err, "%s: class '%s' (%c) lacks the single pitch %d", path, l->cls[cls].name,
                                l->cls[cls].prefix, q + (l->cls[cls].is_drum ? 128 : 0));
                        goto fail;
                    }
                v->cls_end[cls] = v->n;
                v->root_begin = v->n;
            }
            if (chord_at >= 12 + GM_N_QUALITIES) { why = "extra line after the chord qualities"; goto bad_line; }
            const char *want = chord_at < 12 ? root_names[chord_at] : quality_names[chord_at - 12];
            if (strcmp(tok, want)) {
                gm_fail(err, "%s:%d: expected chord %s '%s', got '%s'", path, line_no,
                        chord_at < 12 ? "root" : "quality", want, tok);
                goto fail;
            }
            if (chord_at == 12) v->qual_begin = v->n;
            if (vocab_push(v, chord_at < 12 ? K_ROOT : K_QUAL, z, (uint32_t)count, tok)) goto oom;
            chord_at++;
        }
        p = next;
    }
    if (chord_at != 12 + GM_N_QUALITIES) {
        gm_fail(err, "%s: truncated after line %d (expected %s)", path, line_no,
                v->n <= GM_N_DURATIONS ? "the duration tokens and <pad>"
                : cls + 1 < l->n_classes ? "more track classes" : "12 chord roots and 8 qualities");
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

bad_line:
    gm_fail(err, "%s:%d: %s", path, line_no, why);
    goto fail;
oom:
    gm_fail(err, "out of memory");
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
    else if (cls == -1) b = v->root_begin, e = v->root_begin + 12;
    else if (cls == -2) b = v->qual_begin, e = v->qual_begin + GM_N_QUALITIES;
    else if (cls == -3) b = 0, e = GM_N_DURATIONS;
    else return -1;
    if (begin) *begin = b;
    if (end) *end = e;
    return 0;
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
static int vocab_closest_mask(const gm_vocab *v, int cls, pmask q) {
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
    return vocab_closest_mask(v, cls, m);
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

/* ======================================================================== */
/* Token grid: encode                                                        */
/* ======================================================================== */

#define GRID_SPQ 4 /* one column = one 16th note */

static int check_vocab_layout(const gm_vocab *v, const gm_layout *l, char *err) {
    if (!v || !l) return gm_fail(err, "missing vocabulary or layout");
    if (v->n_classes != l->n_classes)
        return gm_fail(err, "vocabulary has %d track classes, layout '%s' has %d", v->n_classes, l->name,
                       l->n_classes);
    for (int c = 0; c < l->n_classes; c++)
        if (v->cls[c].prefix != l->cls[c].prefix || v->cls[c].is_drum != l->cls[c].is_drum)
            return gm_fail(err, "vocabulary class %d (prefix %c) does not match layout class '%s' (prefix %c)", c,
                           v->cls[c].prefix, l->cls[c].name, l->cls[c].prefix);
    return 0;
}

/* Column of a note end: nearest grid step (halves round up, as
 * gm_barmap_tick_to_col does) but not clamped to the last column, so a note
 * ending at or near the end of the piece keeps its length. */
static int64_t end_col(const gm_barmap *bm, int64_t tick) {
    int64_t tpq = bm->ticks_per_quarter, spq = bm->steps_per_quarter;
    if (tick <= 0) return 0;
    int64_t last = bm->bar_tick[bm->n_bars];
    if (tick >= last) return bm->n_cols + (2 * (tick - last) * spq + tpq) / (2 * tpq);
    int b = gm_barmap_bar_of_tick(bm, tick);
    int64_t c = bm->bar_col[b] + (2 * (tick - bm->bar_tick[b]) * spq + tpq) / (2 * tpq);
    return c < bm->bar_col[b + 1] ? c : bm->bar_col[b + 1];
}

/* One note of a class, placed on the grid. */
typedef struct {
    int32_t col;
    int32_t steps;      /* length in grid steps, >= 0 */
    uint8_t pitch;
} gnote;

static int cmp_gnote(const void *a, const void *b) {
    const gnote *x = a, *y = b;
    if (x->col != y->col) return x->col < y->col ? -1 : 1;
    if (x->pitch != y->pitch) return x->pitch < y->pitch ? -1 : 1;
    return (x->steps > y->steps) - (x->steps < y->steps);
}

int gm_grid_encode(gm_grid *g, const gm_score *s, const gm_layout *l, const gm_vocab *v,
                   const gm_chord *chords, gm_encode_stats *stats, char *err) {
    return gm_grid_encode_frames(g, s, l, v, chords, 1, stats, err);
}

/* Chord rows: each frame's root and quality over all its columns; a frame
 * with no chord stays <pad> (the original skips "N.C." bars); no chords at
 * all leaves the rows EMPTY. */
static int encode_chords(gm_grid *g, const gm_vocab *v, const gm_chord *chords, int frames, char *err) {
    const int R = g->n_rows, pad = gm_vocab_pad(v), empty = gm_vocab_empty(v);
    int32_t *rrow = g->tok + (size_t)(R - 2) * g->n_cols; /* [n_cols] chord roots */
    int32_t *qrow = g->tok + (size_t)(R - 1) * g->n_cols; /* [n_cols] chord qualities */
    for (int b = 0; b < g->bm.n_bars; b++)
        for (int k = 0; k < frames; k++) {
            int rt = empty, qt = empty;
            if (chords) {
                gm_chord ch = chords[b * frames + k];
                if (ch.root >= 0 && ch.root < 12 && ch.quality >= 0 && ch.quality < GM_N_QUALITIES)
                    rt = v->root_begin + ch.root, qt = v->qual_begin + ch.quality;
                else if (ch.root == -1)
                    rt = qt = pad;
                else
                    return gm_fail(err, "bar %d: invalid chord (root %d, quality %d)", b + 1, ch.root, ch.quality);
            }
            int j1 = gm_barmap_frame_col(&g->bm, b, frames, k + 1);
            for (int j = gm_barmap_frame_col(&g->bm, b, frames, k); j < j1; j++) rrow[j] = rt, qrow[j] = qt;
        }
    return 0;
}

int gm_grid_chords(const gm_grid *g, const gm_vocab *v, int frames, gm_chord *out, char *err) {
    if (!g || !g->tok || !v || !out) return gm_fail(err, "grid chords: null argument");
    if (frames < 1 || frames > GM_MAX_CHORD_FRAMES)
        return gm_fail(err, "grid chords: %d frames per bar (1..%d allowed)", frames, GM_MAX_CHORD_FRAMES);
    if (g->n_rows < 2) return gm_fail(err, "grid has no chord rows");
    const int32_t *rrow = g->tok + (size_t)(g->n_rows - 2) * g->n_cols;
    const int32_t *qrow = g->tok + (size_t)(g->n_rows - 1) * g->n_cols;
    for (int b = 0; b < g->bm.n_bars; b++)
        for (int k = 0; k < frames; k++) {
            int j = gm_barmap_frame_col(&g->bm, b, frames, k);
            gm_chord c = {-1, -1};
            if (j < gm_barmap_frame_col(&g->bm, b, frames, k + 1) && rrow[j] >= v->root_begin &&
                rrow[j] < v->root_begin + 12 && qrow[j] >= v->qual_begin && qrow[j] < v->qual_begin + GM_N_QUALITIES)
                c = (gm_chord){(int8_t)(rrow[j] - v->root_begin), (int8_t)(qrow[j] - v->qual_begin)};
            out[b * frames + k] = c;
        }
    return 0;
}

int gm_grid_encode_frames(gm_grid *g, const gm_score *s, const gm_layout *l, const gm_vocab *v,
                          const gm_chord *chords, int frames, gm_encode_stats *stats, char *err) {
    memset(g, 0, sizeof *g);
    if (frames < 1 || frames > GM_MAX_CHORD_FRAMES)
        return gm_fail(err, "%d chords per bar (1..%d allowed)", frames, GM_MAX_CHORD_FRAMES);
    gm_encode_stats st;
    memset(&st, 0, sizeof st);
    if (!s) return gm_fail(err, "no score");
    if (check_vocab_layout(v, l, err)) return -1;

    /* The bar map must cover every note even when end_tick is stale; it
     * only reads the score, so a shallow copy with a fixed end is enough. */
    gm_score cover = *s;
    for (int i = 0; i < s->n_tracks; i++)
        for (size_t k = 0; k < s->tracks[i].n_notes; k++) {
            const gm_note *n = &s->tracks[i].notes[k];
            if (n->tick + n->duration > cover.end_tick) cover.end_tick = n->tick + n->duration;
        }
    if (gm_barmap_build(&g->bm, &cover, GRID_SPQ, err)) return -1;

    int nc = l->n_classes;
    g->n_rows = gm_layout_rows(l);
    g->n_cols = g->bm.n_cols;
    size_t cells = (size_t)g->n_rows * (size_t)g->n_cols;
    g->tok = malloc(cells * sizeof *g->tok);
    int *track_cls = malloc(((size_t)s->n_tracks + 1) * sizeof *track_cls); /* [n_tracks] */
    gnote *gn = NULL;
    if (!g->tok || !track_cls) goto oom;
    const int pad = gm_vocab_pad(v), empty = gm_vocab_empty(v);
    for (size_t i = 0; i < cells; i++) g->tok[i] = pad;

    for (int i = 0; i < s->n_tracks; i++) {
        const gm_track *t = &s->tracks[i];
        track_cls[i] = gm_layout_classify(l, t);
        if (track_cls[i] < 0) {
            if (t->n_notes) st.tracks_unmapped++;
        } else {
            st.notes_in += t->n_notes;
        }
    }
    gn = malloc((st.notes_in ? st.notes_in : 1) * sizeof *gn); /* [notes of one class] */
    if (!gn) goto oom;

    for (int c = 0; c < nc; c++) {
        int32_t *prow = g->tok + (size_t)(2 * c) * g->n_cols;     /* [n_cols] pitch row */
        int32_t *drow = g->tok + (size_t)(2 * c + 1) * g->n_cols; /* [n_cols] duration row */
        size_t n = 0;
        for (int i = 0; i < s->n_tracks; i++) {
            if (track_cls[i] != c) continue;
            const gm_track *t = &s->tracks[i];
            for (size_t k = 0; k < t->n_notes; k++) {
                const gm_note *nt = &t->notes[k];
                int col = gm_barmap_tick_to_col(&g->bm, nt->tick);
                int64_t steps = end_col(&g->bm, nt->tick + nt->duration) - col;
                gn[n].col = col;
                gn[n].steps = (int32_t)(steps < 0 ? 0 : steps > INT32_MAX ? INT32_MAX : steps);
                gn[n].pitch = nt->pitch;
                n++;
            }
        }
        if (n == 0) { /* absent class: EMPTY, as the original marks unused tracks */
            for (int j = 0; j < g->n_cols; j++) prow[j] = drow[j] = empty;
            continue;
        }
        qsort(gn, n, sizeof *gn, cmp_gnote);
        for (size_t a = 0; a < n;) {
            size_t e = a;
            pmask q = {{0, 0}};
            while (e < n && gn[e].col == gn[a].col) pm_set(&q, gn[e++].pitch);
            int id = vocab_closest_mask(v, c, q);
            pmask kept = {{0, 0}};
            if (id >= 0) kept = v->mask[id];
            if (id >= 0 && !pm_eq(kept, q)) st.compounds_oov++;
            /* Duration: the first kept note in (pitch, length) order — the
             * lowest pitch and its shortest copy, as in the original. */
            int dur = -1;
            for (size_t k = a; k < e; k++)
                if (pm_has(kept, gn[k].pitch)) {
                    dur = gm_duration_token(gn[k].steps);
                    break;
                }
            if (id >= 0) {
                prow[gn[a].col] = id;
                drow[gn[a].col] = dur;
            }
            /* Each (column, pitch) decodes to one note with the shared
             * duration: with several copies of a pitch, the copy that has
             * that duration (if any) survives and the others are lost. */
            for (size_t k = a; k < e;) {
                size_t r = k;
                int match = 0;
                for (; r < e && gn[r].pitch == gn[k].pitch; r++) match |= gm_duration_token(gn[r].steps) == dur;
                if (!pm_has(kept, gn[k].pitch)) {
                    st.notes_dropped += r - k;
                } else {
                    st.notes_onset_pitch++;
                    st.notes_exact += (size_t)match;
                    st.notes_dropped += r - k - 1;
                }
                k = r;
            }
            a = e;
        }
    }

    if (encode_chords(g, v, chords, frames, err)) goto fail;
    free(gn);
    free(track_cls);
    if (stats) *stats = st;
    return 0;
oom:
    gm_fail(err, "out of memory encoding %d columns", g->n_cols);
fail:
    free(gn);
    free(track_cls);
    gm_grid_free(g);
    return -1;
}

void gm_grid_free(gm_grid *g) {
    if (!g) return;
    free(g->tok);
    gm_barmap_free(&g->bm);
    memset(g, 0, sizeof *g);
}

/* ======================================================================== */
/* Token grid: decode                                                        */
/* ======================================================================== */

/* Tick (in ticks of `tpq`) of a column. Grids made without a bar map
 * (all zero) fall back to a uniform 16th-note grid. */
static int64_t col_tick(const gm_barmap *bm, int col, int tpq) {
    if (bm->n_bars > 0 && bm->bar_tick && bm->ticks_per_quarter > 0) {
        int64_t t = gm_barmap_col_to_tick(bm, col);
        if (bm->ticks_per_quarter == tpq) return t;
        return (2 * t * tpq + bm->ticks_per_quarter) / (2 * (int64_t)bm->ticks_per_quarter);
    }
    int spq = bm->steps_per_quarter > 0 ? bm->steps_per_quarter : GRID_SPQ;
    return ((int64_t)col * tpq * 2 + spq) / (2 * spq);
}

int gm_grid_decode(const gm_grid *g, const gm_layout *l, const gm_vocab *v,
                   const gm_score *tmpl, gm_score *out, char *err) {
    gm_score_init(out, tmpl ? tmpl->ticks_per_quarter : 480);
    if (!g || !g->tok) return gm_fail(err, "no grid");
    if (check_vocab_layout(v, l, err)) return -1;
    if (g->n_rows != gm_layout_rows(l))
        return gm_fail(err, "grid has %d rows, layout '%s' needs %d", g->n_rows, l->name, gm_layout_rows(l));
    const int tpq = out->ticks_per_quarter;
    const gm_barmap *bm = &g->bm;
    int spq = bm->steps_per_quarter > 0 ? bm->steps_per_quarter : GRID_SPQ;

    /* Tempo map, metre and key: the template's, or 120 bpm and the metre
     * of the grid's bars. */
    if (tmpl) {
        for (int i = 0; i < tmpl->n_tempos; i++)
            if (gm_score_add_tempo(out, tmpl->tempos[i].tick, tmpl->tempos[i].usec_per_quarter)) goto oom;
        for (int i = 0; i < tmpl->n_timesigs; i++)
            if (gm_score_add_timesig(out, tmpl->timesigs[i].tick, tmpl->timesigs[i].numerator,
                                     tmpl->timesigs[i].denominator))
                goto oom;
        for (int i = 0; i < tmpl->n_keysigs; i++)
            if (gm_score_add_keysig(out, tmpl->keysigs[i].tick, tmpl->keysigs[i].sharps, tmpl->keysigs[i].minor))
                goto oom;
    } else {
        if (gm_score_add_tempo(out, 0, 500000)) goto oom;
        int pn = 0, pd = 0;
        for (int b = 0; b < bm->n_bars; b++) {
            if (bm->bar_num[b] == pn && bm->bar_den[b] == pd) continue;
            pn = bm->bar_num[b];
            pd = bm->bar_den[b];
            if (gm_score_add_timesig(out, col_tick(bm, bm->bar_col[b], tpq), pn, pd)) goto oom;
        }
        if (bm->n_bars == 0 && gm_score_add_timesig(out, 0, 4, 4)) goto oom;
    }

    int next_channel = 0;
    for (int c = 0; c < l->n_classes; c++) {
        const gm_class *k = &l->cls[c];
        const int32_t *prow = g->tok + (size_t)(2 * c) * g->n_cols;     /* [n_cols] */
        const int32_t *drow = g->tok + (size_t)(2 * c + 1) * g->n_cols; /* [n_cols] */
        int b = v->cls_begin[c], e = v->cls_end[c];
        int any = 0;
        for (int j = 0; j < g->n_cols && !any; j++) any = prow[j] >= b && prow[j] < e;
        if (!any) continue;
        int channel = 9;
        if (!k->is_drum) {
            if (next_channel == 9) next_channel++;
            channel = next_channel % 16;
            next_channel++;
        }
        int ti = gm_score_add_track(out, k->name, k->out_program, channel, k->is_drum);
        if (ti < 0) goto oom;
        gm_track *t = &out->tracks[ti];
        t->cls = c;
        uint8_t p[128];
        for (int j = 0; j < g->n_cols; j++) {
            /* A pitch token needs a duration token beside it (the original
             * drops cells where either row is <pad>); tokens of another
             * class's block are ignored. */
            if (prow[j] < b || prow[j] >= e || drow[j] < 0 || drow[j] >= GM_N_DURATIONS) continue;
            int64_t tick = col_tick(bm, j, tpq);
            int64_t dur = ((int64_t)gm_duration_steps[drow[j]] * tpq * 2 + spq) / (2 * spq);
            int np = pm_list(v->mask[prow[j]], p);
            for (int i = 0; i < np; i++)
                if (gm_track_add_note(t, tick, dur, p[i], k->velocity, channel)) goto oom;
        }
    }
    int64_t end = col_tick(bm, g->n_cols, tpq);
    if (end > out->end_tick) out->end_tick = end;
    gm_score_sort(out);
    return 0;
oom:
    gm_score_free(out);
    return gm_fail(err, "out of memory decoding the grid");
}

/* ======================================================================== */
/* Text dump                                                                 */
/* ======================================================================== */

typedef struct { char *s; size_t len, cap; int oom; } sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = 1; return; }
        if (b->s && b->len + (size_t)k < b->cap) { b->len += (size_t)k; return; }
        size_t cap = b->cap ? 2 * b->cap : 4096;
        while (cap < b->len + (size_t)k + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) { b->oom = 1; return; }
        b->s = ns;
        b->cap = cap;
    }
}

/*
 * A header (size, and the rows that are EMPTY throughout, which are not
 * repeated per bar), then one block per bar with one line per row that has
 * something other than <pad> in it, listing "offset:token" for each non-pad
 * cell. A run of one token (chord rows) is written once with "xN", so a 4/4
 * bar takes a handful of short lines:
 *
 *   bar 2  cols 16..31  4/4
 *     lead.pitch     0:M72 4:M74 8:M76
 *     lead.dur       0:T4 4:T4 8:T5
 *     chord.root     0:C x16
 */
static void row_name(char *buf, size_t n, const gm_layout *l, int r) {
    if (r < 2 * l->n_classes)
        snprintf(buf, n, "%s.%s", l->cls[r / 2].name, r % 2 ? "dur" : "pitch");
    else
        snprintf(buf, n, "chord.%s", r % 2 ? "quality" : "root");
}

int gm_grid_dump(const gm_grid *g, const gm_layout *l, const gm_vocab *v, char **out_text, char *err) {
    *out_text = NULL;
    if (!g || !g->tok) return gm_fail(err, "no grid");
    if (check_vocab_layout(v, l, err)) return -1;
    if (g->n_rows != gm_layout_rows(l)) return gm_fail(err, "grid rows do not match the layout");
    sbuf sb = {0};
    const int pad = gm_vocab_pad(v);
    int have_bars = g->bm.n_bars > 0 && g->bm.bar_col;
    int n_bars = have_bars ? g->bm.n_bars : (g->n_cols + 15) / 16;
    sb_printf(&sb, "grid: %d rows x %d cols, %d bars, layout %s, vocabulary %d tokens\n", g->n_rows, g->n_cols,
              n_bars, l->name, v->n);
    /* [n_rows] 1 = the row is EMPTY in every column */
    uint8_t *all_empty = calloc((size_t)g->n_rows, 1);
    if (!all_empty) return gm_fail(err, "out of memory");
    int n_all_empty = 0;
    for (int r = 0; r < g->n_rows; r++) {
        const int32_t *row = g->tok + (size_t)r * g->n_cols; /* [n_cols] */
        int j = 0;
        while (j < g->n_cols && row[j] == v->n) j++;
        if (j == g->n_cols && g->n_cols > 0) {
            char name[48];
            row_name(name, sizeof name, l, r);
            sb_printf(&sb, "%s%s", n_all_empty++ ? ", " : "EMPTY rows: ", name);
            all_empty[r] = 1;
        }
    }
    if (n_all_empty) sb_printf(&sb, "\n");
    for (int bar = 0; bar < n_bars; bar++) {
        int c0 = have_bars ? g->bm.bar_col[bar] : 16 * bar;
        int c1 = have_bars ? g->bm.bar_col[bar + 1] : (16 * bar + 16 < g->n_cols ? 16 * bar + 16 : g->n_cols);
        if (have_bars)
            sb_printf(&sb, "bar %d  cols %d..%d  %d/%d\n", bar + 1, c0, c1 - 1, g->bm.bar_num[bar], g->bm.bar_den[bar]);
        else
            sb_printf(&sb, "bar %d  cols %d..%d\n", bar + 1, c0, c1 - 1);
        for (int r = 0; r < g->n_rows; r++) {
            const int32_t *row = g->tok + (size_t)r * g->n_cols; /* [n_cols] */
            int any = 0;
            for (int j = c0; j < c1 && !any; j++) any = row[j] != pad;
            if (!any || all_empty[r]) continue;
            char name[48];
            row_name(name, sizeof name, l, r);
            sb_printf(&sb, "  %-14s", name);
            for (int j = c0; j < c1;) {
                int k = j + 1;
                while (k < c1 && row[k] == row[j]) k++;
                if (row[j] != pad) {
                    const char *t = gm_vocab_token(v, row[j]);
                    if (k - j > 1)
                        sb_printf(&sb, " %d:%s x%d", j - c0, t ? t : "?", k - j);
                    else
                        sb_printf(&sb, " %d:%s", j - c0, t ? t : "?");
                    j = k;
                } else {
                    j++;
                }
            }
            sb_printf(&sb, "\n");
        }
    }
    free(all_empty);
    if (sb.oom) {
        free(sb.s);
        return gm_fail(err, "out of memory writing the grid dump");
    }
    *out_text = sb.s;
    return 0;
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
