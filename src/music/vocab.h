/*
 * vocab.h — private to the library: the vocabulary's representation, shared
 * by vocab.c (which builds, loads and queries it) and grid.c (whose encoder
 * looks compounds up by pitch set and whose decoder reads them back). Users
 * of the library see only the opaque gm_vocab of getmusic.h.
 */
#ifndef GM_VOCAB_H
#define GM_VOCAB_H
#include "getmusic.h"

#include <stdint.h>

/* ---- pitch sets as 128-bit masks ---------------------------------------- */

typedef struct { uint64_t w[2]; } pmask; /* bit p = pitch p (drums: GM key) */

static inline void pm_set(pmask *m, int p) { m->w[p >> 6] |= 1ull << (p & 63); }
static inline int pm_has(pmask m, int p) { return (int)((m.w[p >> 6] >> (p & 63)) & 1); }
static inline int pm_count(pmask m) { return __builtin_popcountll(m.w[0]) + __builtin_popcountll(m.w[1]); }
static inline int pm_eq(pmask a, pmask b) { return a.w[0] == b.w[0] && a.w[1] == b.w[1]; }
static inline int pm_subset(pmask a, pmask b) { return !(a.w[0] & ~b.w[0]) && !(a.w[1] & ~b.w[1]); }
static inline int pm_empty(pmask m) { return !m.w[0] && !m.w[1]; }

/* Sorted pitches of a mask into out[128]; returns the count. */
static inline int pm_list(pmask m, uint8_t *out) {
    int n = 0;
    for (int k = 0; k < 2; k++)
        for (uint64_t w = m.w[k]; w; w &= w - 1) out[n++] = (uint8_t)(64 * k + __builtin_ctzll(w));
    return n;
}

/* ---- the vocabulary ------------------------------------------------------ */

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

/* The closest in-vocabulary subset of pitch set q in class cls (most pitches
 * kept, then the larger corpus count, then the lower id), or -1. */
int gm_vocab_closest_mask(const gm_vocab *v, int cls, pmask q);

#endif
