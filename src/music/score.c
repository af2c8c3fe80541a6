/*
 * score.c — the score model (tracks, notes, tempo map, metre), bar lines on
 * the column grid, quantisation, and the GM program / track name → track
 * class mapping with the layout presets.
 */
#include "getmusic.h"
#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================== */
/* Score containers                                                          */
/* ======================================================================== */

void gm_score_init(gm_score *s, int ticks_per_quarter) {
    memset(s, 0, sizeof *s);
    s->ticks_per_quarter = ticks_per_quarter > 0 ? ticks_per_quarter : 480;
    s->midi_format = 1;
}

void gm_score_free(gm_score *s) {
    if (!s) return;
    for (int i = 0; i < s->n_tracks; i++) free(s->tracks[i].notes);
    GM_FREE_ALL(s->tracks, s->tempos, s->timesigs, s->keysigs, s->symbols);
    memset(s, 0, sizeof *s);
}

int gm_score_add_track(gm_score *s, const char *name, int program, int channel, int is_drum) {
    if (gm_grow(&s->tracks, &s->cap_tracks, s->n_tracks, sizeof *s->tracks, 8)) return -1;
    gm_track *t = &s->tracks[s->n_tracks];
    memset(t, 0, sizeof *t);
    if (name) gm_strlcpy(t->name, name, sizeof t->name);
    t->program = program & 127;
    t->channel = channel & 15;
    t->is_drum = is_drum ? 1 : 0;
    t->source_track = -1;
    t->cls = -1;
    return s->n_tracks++;
}

int gm_track_add_note(gm_track *t, int64_t tick, int64_t duration, int pitch, int velocity, int channel) {
    if (gm_grow(&t->notes, &t->cap_notes, t->n_notes, sizeof *t->notes, 64)) return -1;
    gm_note *n = &t->notes[t->n_notes++];
    n->tick = tick < 0 ? 0 : tick;
    n->duration = duration < 1 ? 1 : duration;
    n->pitch = (uint8_t)(pitch & 127);
    n->velocity = (uint8_t)(velocity < 1 ? 1 : velocity > 127 ? 127 : velocity);
    n->channel = (uint8_t)(channel & 15);
    n->flags = 0;
    return 0;
}

/* Grows an event array by one slot; returns the slot or NULL. Tempo, metre
 * and key arrays hold tens of entries, so a realloc per event is fine. */
static void *grow_one(void **arr, int *n, size_t elem) {
    void *p = realloc(*arr, (size_t)(*n + 1) * elem);
    if (!p) return NULL;
    *arr = p;
    return (char *)p + (size_t)(*n)++ * elem;
}

int gm_score_add_tempo(gm_score *s, int64_t tick, uint32_t usec) {
    gm_tempo *t = grow_one((void **)&s->tempos, &s->n_tempos, sizeof *t);
    if (!t) return -1;
    t->tick = tick;
    t->usec_per_quarter = usec ? usec : 500000;
    return 0;
}

int gm_score_add_timesig(gm_score *s, int64_t tick, int num, int den) {
    gm_timesig *t = grow_one((void **)&s->timesigs, &s->n_timesigs, sizeof *t);
    if (!t) return -1;
    t->tick = tick;
    t->numerator = (uint8_t)(num < 1 ? 1 : num > 255 ? 255 : num);
    t->denominator = (uint8_t)(den < 1 ? 4 : den > 128 ? 128 : den);
    return 0;
}

int gm_score_add_keysig(gm_score *s, int64_t tick, int sharps, int minor) {
    gm_keysig *k = grow_one((void **)&s->keysigs, &s->n_keysigs, sizeof *k);
    if (!k) return -1;
    k->tick = tick;
    k->sharps = (int8_t)(sharps < -7 ? -7 : sharps > 7 ? 7 : sharps);
    k->minor = minor ? 1 : 0;
    return 0;
}

/* A song holds hundreds of chord symbols, so the array doubles (at each
 * power of two) rather than growing by one. */
int gm_score_add_symbol(gm_score *s, const gm_chord_symbol *sym) {
    int n = s->n_symbols;
    if (n >= 16 && !(n & (n - 1))) {
        gm_chord_symbol *v = realloc(s->symbols, (size_t)n * 2 * sizeof *v);
        if (!v) return -1;
        s->symbols = v;
    } else if (n == 0) {
        if (!(s->symbols = malloc(16 * sizeof *s->symbols))) return -1;
    }
    gm_chord_symbol *c = &s->symbols[s->n_symbols++];
    *c = *sym;
    c->text[sizeof c->text - 1] = 0;
    return 0;
}

static void *dup_array(const void *src, size_t n, size_t elem) {
    if (n == 0 || !src) return NULL;
    void *p = malloc(n * elem);
    if (p) memcpy(p, src, n * elem);
    return p;
}

int gm_score_copy(gm_score *dst, const gm_score *src) {
    gm_score_init(dst, src->ticks_per_quarter);
    dst->midi_format = src->midi_format;
    dst->end_tick = src->end_tick;
    dst->tempos = dup_array(src->tempos, (size_t)src->n_tempos, sizeof(gm_tempo));
    dst->timesigs = dup_array(src->timesigs, (size_t)src->n_timesigs, sizeof(gm_timesig));
    dst->keysigs = dup_array(src->keysigs, (size_t)src->n_keysigs, sizeof(gm_keysig));
    if (src->n_symbols > 0) { /* room as gm_score_add_symbol expects: 16, or the next power of two */
        size_t cap = 16;
        while (cap < (size_t)src->n_symbols) cap *= 2;
        if ((dst->symbols = malloc(cap * sizeof *dst->symbols)))
            memcpy(dst->symbols, src->symbols, (size_t)src->n_symbols * sizeof *dst->symbols);
    }
    if ((src->n_tempos && !dst->tempos) || (src->n_timesigs && !dst->timesigs) ||
        (src->n_keysigs && !dst->keysigs) || (src->n_symbols && !dst->symbols))
        goto fail;
    dst->n_symbols = src->n_symbols;
    dst->n_tempos = src->n_tempos;
    dst->n_timesigs = src->n_timesigs;
    dst->n_keysigs = src->n_keysigs;
    for (int i = 0; i < src->n_tracks; i++) {
        const gm_track *st = &src->tracks[i];
        int k = gm_score_add_track(dst, st->name, st->program, st->channel, st->is_drum);
        if (k < 0) goto fail;
        gm_track *dt = &dst->tracks[k];
        dt->source_track = st->source_track;
        dt->cls = st->cls;
        if (st->n_notes) {
            dt->notes = malloc(st->n_notes * sizeof *dt->notes);
            if (!dt->notes) goto fail;
            memcpy(dt->notes, st->notes, st->n_notes * sizeof *dt->notes);
            dt->n_notes = dt->cap_notes = st->n_notes;
        }
    }
    return 0;
fail:
    gm_score_free(dst);
    return -1;
}

static int cmp_note(const void *a, const void *b) {
    const gm_note *x = a, *y = b;
    if (x->tick != y->tick) return x->tick < y->tick ? -1 : 1;
    if (x->pitch != y->pitch) return x->pitch < y->pitch ? -1 : 1;
    if (x->duration != y->duration) return x->duration < y->duration ? -1 : 1;
    return 0;
}
/* Event arrays sort by tick; equal ticks keep their order (later one wins
 * when the metre or tempo is looked up), hence insertion sort (stable). */
#define STABLE_SORT_BY_TICK(arr, n, T)                                     \
    for (int i_ = 1; i_ < (n); i_++) {                                     \
        T v_ = (arr)[i_];                                                  \
        int j_ = i_ - 1;                                                   \
        while (j_ >= 0 && (arr)[j_].tick > v_.tick) { (arr)[j_ + 1] = (arr)[j_]; j_--; } \
        (arr)[j_ + 1] = v_;                                                \
    }

void gm_score_sort(gm_score *s) {
    int64_t end = s->end_tick;
    for (int i = 0; i < s->n_tracks; i++) {
        gm_track *t = &s->tracks[i];
        if (t->n_notes > 1) qsort(t->notes, t->n_notes, sizeof *t->notes, cmp_note);
        for (size_t k = 0; k < t->n_notes; k++)
            if (t->notes[k].tick + t->notes[k].duration > end) end = t->notes[k].tick + t->notes[k].duration;
    }
    STABLE_SORT_BY_TICK(s->tempos, s->n_tempos, gm_tempo);
    STABLE_SORT_BY_TICK(s->timesigs, s->n_timesigs, gm_timesig);
    STABLE_SORT_BY_TICK(s->keysigs, s->n_keysigs, gm_keysig);
    STABLE_SORT_BY_TICK(s->symbols, s->n_symbols, gm_chord_symbol);
    s->end_tick = end;
}

size_t gm_score_n_notes(const gm_score *s) {
    size_t n = 0;
    for (int i = 0; i < s->n_tracks; i++) n += s->tracks[i].n_notes;
    return n;
}

/* ======================================================================== */
/* Bar map: bar lines and their grid columns                                 */
/* ======================================================================== */

/* A piece longer than this many columns (about 260,000 bars of 4/4) is
 * refused: real music is far shorter, and a corrupt delta time must not make
 * us allocate gigabytes. */
#define GM_MAX_COLS (1 << 22)

void gm_barmap_free(gm_barmap *bm) {
    if (!bm) return;
    GM_FREE_ALL(bm->bar_tick, bm->bar_col, bm->bar_num, bm->bar_den);
    memset(bm, 0, sizeof *bm);
}

/* Rounded a*b/c for non-negative a, positive b and c, without overflow for
 * the sizes we allow (ticks < 2^40, b < 2^16). */
static int64_t muldiv_round(int64_t a, int64_t b, int64_t c) { return (2 * a * b + c) / (2 * c); }

int gm_grid_bar_cols(int numerator, int denominator) {
    if (numerator < 1 || denominator < 1) return 0;
    int64_t c = muldiv_round((int64_t)numerator * 4, GM_STEPS_PER_QUARTER, denominator);
    return c < 1 ? 1 : (int)c;
}

int gm_barmap_build(gm_barmap *bm, const gm_score *s, int spq, char *err) {
    memset(bm, 0, sizeof *bm);
    if (spq < 1 || spq > 96) return gm_fail(err, "grid resolution %d steps per quarter is out of range 1..96", spq);
    int64_t tpq = s->ticks_per_quarter;
    if (tpq < 1) return gm_fail(err, "ticks per quarter must be positive");
    bm->steps_per_quarter = spq;
    bm->ticks_per_quarter = (int)tpq;
    int64_t end = s->end_tick > 0 ? s->end_tick : 1;

    /* Two passes: count bars, then fill. Metre at bar start = the last time
     * signature at or before it; a time signature falling inside a bar ends
     * that bar early (the short bar keeps its own column count). */
    int cap = 0, n = 0;
    int64_t cols = 0;
    for (int pass = 0; pass < 2; pass++) {
        int64_t tick = 0;
        int ts = -1;
        n = 0;
        cols = 0;
        while (tick < end || n == 0) {
            while (ts + 1 < s->n_timesigs && s->timesigs[ts + 1].tick <= tick) ts++;
            int num = ts >= 0 ? s->timesigs[ts].numerator : 4;
            int den = ts >= 0 ? s->timesigs[ts].denominator : 4;
            /* Bar length in ticks: num * (4/den) quarters. */
            int64_t len = muldiv_round((int64_t)num * 4, tpq, den);
            if (len < 1) len = 1;
            int64_t next = tick + len;
            if (ts + 1 < s->n_timesigs && s->timesigs[ts + 1].tick < next && s->timesigs[ts + 1].tick > tick)
                next = s->timesigs[ts + 1].tick;
            int64_t c = muldiv_round(next - tick, spq, tpq);
            if (c < 1) c = 1;
            if (pass == 1) {
                bm->bar_tick[n] = tick;
                bm->bar_col[n] = (int)cols;
                bm->bar_num[n] = (uint8_t)num;
                bm->bar_den[n] = (uint8_t)den;
            }
            cols += c;
            n++;
            tick = next;
            if (cols > GM_MAX_COLS) {
                gm_barmap_free(bm);
                return gm_fail(err, "piece is too long (over %d grid columns)", GM_MAX_COLS);
            }
            if (pass == 1) {
                bm->bar_tick[n] = tick;
                bm->bar_col[n] = (int)cols;
            }
        }
        if (pass == 0) {
            cap = n;
            bm->bar_tick = malloc((size_t)(cap + 1) * sizeof *bm->bar_tick);
            bm->bar_col = malloc((size_t)(cap + 1) * sizeof *bm->bar_col);
            bm->bar_num = malloc((size_t)cap);
            bm->bar_den = malloc((size_t)cap);
            if (!bm->bar_tick || !bm->bar_col || !bm->bar_num || !bm->bar_den) {
                gm_barmap_free(bm);
                return gm_fail(err, "out of memory for %d bars", cap);
            }
        }
    }
    bm->n_bars = n;
    bm->n_cols = (int)cols;
    return 0;
}

int gm_barmap_bar_of_tick(const gm_barmap *bm, int64_t tick) {
    int lo = 0, hi = bm->n_bars - 1; /* last bar whose start <= tick */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (bm->bar_tick[mid] <= tick) lo = mid; else hi = mid - 1;
    }
    return lo;
}

int gm_barmap_bar_of_col(const gm_barmap *bm, int col) {
    int lo = 0, hi = bm->n_bars - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (bm->bar_col[mid] <= col) lo = mid; else hi = mid - 1;
    }
    return lo;
}

void gm_barmap_positions(const gm_barmap *bm, uint8_t *pos, int max_pos) {
    for (int b = 0; b < bm->n_bars; b++)
        for (int j = bm->bar_col[b]; j < bm->bar_col[b + 1]; j++) {
            int k = j - bm->bar_col[b];
            pos[j] = (uint8_t)(k < max_pos ? k : max_pos - 1);
        }
}

/* Column of a tick, nearest grid step, in [0, n_cols] (n_cols = the end). */
static int64_t tick_to_col_unclamped(const gm_barmap *bm, int64_t tick) {
    if (tick <= 0) return 0;
    if (tick >= bm->bar_tick[bm->n_bars]) /* past the end: extend the last bar's grid */
        return bm->n_cols + muldiv_round(tick - bm->bar_tick[bm->n_bars], bm->steps_per_quarter, bm->ticks_per_quarter);
    int b = gm_barmap_bar_of_tick(bm, tick);
    int64_t c = bm->bar_col[b] + muldiv_round(tick - bm->bar_tick[b], bm->steps_per_quarter, bm->ticks_per_quarter);
    return c < bm->bar_col[b + 1] ? c : bm->bar_col[b + 1];
}

int gm_barmap_tick_to_col(const gm_barmap *bm, int64_t tick) {
    int64_t c = tick_to_col_unclamped(bm, tick);
    if (c > bm->n_cols - 1) c = bm->n_cols - 1;
    return (int)c;
}

int64_t gm_barmap_col_to_tick(const gm_barmap *bm, int col) {
    if (col <= 0) return 0;
    if (col >= bm->n_cols)
        return bm->bar_tick[bm->n_bars] + muldiv_round(col - bm->n_cols, bm->ticks_per_quarter, bm->steps_per_quarter);
    int b = gm_barmap_bar_of_col(bm, col);
    return bm->bar_tick[b] + muldiv_round(col - bm->bar_col[b], bm->ticks_per_quarter, bm->steps_per_quarter);
}

int gm_barmap_frame_col(const gm_barmap *bm, int bar, int frames, int k) {
    int a = bm->bar_col[bar], n = bm->bar_col[bar + 1] - a;
    if (frames < 1) frames = 1;
    if (k <= 0) return a;
    if (k >= frames) return a + n;
    return a + (k * n + frames - 1) / frames;
}

/* From the bar's own start, so a short bar (cut by a time signature) keeps
 * its frames inside it. */
int64_t gm_barmap_frame_tick(const gm_barmap *bm, int bar, int frames, int k) {
    if (k <= 0) return bm->bar_tick[bar];
    if (k >= frames) return bm->bar_tick[bar + 1];
    int64_t t = bm->bar_tick[bar] + muldiv_round(gm_barmap_frame_col(bm, bar, frames, k) - bm->bar_col[bar],
                                                 bm->ticks_per_quarter, bm->steps_per_quarter);
    return t < bm->bar_tick[bar + 1] ? t : bm->bar_tick[bar + 1];
}

/* Ghost notes are the soft snare strokes between a drummer's accents: in
 * Groove MIDI a third of all snare onsets are below velocity 60, spread over
 * every 16th, while the accents sit on beats 2 and 4. A model that learns them
 * as plain snare hits plays a roll where the drummer played a backbeat. */
size_t gm_score_drop_ghost_notes(gm_score *s, int below) {
    size_t dropped = 0;
    for (int i = 0; below > 0 && i < s->n_tracks; i++) {
        gm_track *t = &s->tracks[i];
        if (!t->is_drum) continue;
        size_t k = 0;
        for (size_t j = 0; j < t->n_notes; j++) {
            if (gm_drum_kit_group(t->notes[j].pitch) == GM_KIT_SNARE && t->notes[j].velocity < below) dropped++;
            else t->notes[k++] = t->notes[j];
        }
        t->n_notes = k;
    }
    return dropped;
}

int gm_drum_key_gm(int key) {
    switch (key) {
    case 22: return 42;
    case 26: return 46;
    case 58: return 43;
    default: return key;
    }
}

int gm_drum_kit_group(int key) {
    switch (gm_drum_key_gm(key)) {
    case 35: case 36: return GM_KIT_KICK;
    case 37: case 38: case 40: return GM_KIT_SNARE;
    case 42: case 44: case 46: return GM_KIT_HAT;
    default: return GM_KIT_OTHER;
    }
}

int gm_score_quantize(gm_score *s, int spq, char *err) {
    gm_score_sort(s);
    gm_barmap bm;
    if (gm_barmap_build(&bm, s, spq, err)) return -1;
    for (int i = 0; i < s->n_tracks; i++) {
        gm_track *t = &s->tracks[i];
        for (size_t k = 0; k < t->n_notes; k++) {
            gm_note *n = &t->notes[k];
            int64_t c0 = tick_to_col_unclamped(&bm, n->tick);
            int64_t c1 = tick_to_col_unclamped(&bm, n->tick + n->duration);
            if (c1 <= c0) c1 = c0 + 1; /* a note never vanishes: at least one step */
            n->tick = gm_barmap_col_to_tick(&bm, (int)c0);
            n->duration = gm_barmap_col_to_tick(&bm, (int)c1) - n->tick;
            if (n->duration < 1) n->duration = 1;
        }
    }
    gm_barmap_free(&bm);
    gm_score_sort(s);
    return 0;
}

/* ======================================================================== */
/* Track classes                                                             */
/* ======================================================================== */

static const char *role_names[GM_N_ROLES] = {"lead", "counter", "piano", "guitar", "bass", "strings", "drums", "other"};

const char *gm_role_name(int role) { return role >= 0 && role < GM_N_ROLES ? role_names[role] : "?"; }

/*
 * GM program family → role. This is the table of README.md, "Track
 * classes":
 *
 *   programs  family                     role
 *   0–7       piano                      piano
 *   8–15      chromatic percussion       piano
 *   16–23     organ                      piano
 *   24–31     guitar                     guitar
 *   32–39     bass                       bass
 *   40–55     strings, ensemble          strings
 *   56–63     brass                      lead
 *   64–71     reed                       lead
 *   72–79     pipe                       lead
 *   80–87     synth lead                 lead
 *   88–95     synth pad                  strings
 *   96–103    synth effects              strings (mostly pad-like)
 *   104–108   sitar, banjo, shamisen, koto, kalimba   guitar (plucked)
 *   109–111   bagpipe, fiddle, shanai    lead
 *   112–119   percussive (bells, toms)   other
 *   120–127   sound effects              other
 *   channel 10 (any program)             drums
 */
int gm_program_role(int program, int is_drum) {
    if (is_drum) return GM_ROLE_DRUMS;
    program &= 127;
    if (program < 24) return GM_ROLE_PIANO;
    if (program < 32) return GM_ROLE_GUITAR;
    if (program < 40) return GM_ROLE_BASS;
    if (program < 56) return GM_ROLE_STRINGS;
    if (program < 88) return GM_ROLE_LEAD;
    if (program < 104) return GM_ROLE_STRINGS;
    if (program < 109) return GM_ROLE_GUITAR;
    if (program < 112) return GM_ROLE_LEAD;
    return GM_ROLE_OTHER;
}

/* Case-insensitive substring test. */
static int name_has(const char *name, const char *word) {
    size_t n = strlen(word);
    for (const char *p = name; *p; p++) {
        size_t k = 0;
        while (k < n && p[k] && tolower((unsigned char)p[k]) == word[k]) k++;
        if (k == n) return 1;
    }
    return 0;
}

/*
 * Track name → role, checked before the program (POP909 stores every track
 * as program 0, so its MELODY/BRIDGE/PIANO names are what tell them apart):
 *   melody, vocal, voice, lead, sing  → lead
 *   bridge, counter                  → counter
 *   bass → bass; guitar → guitar; string → strings; piano → piano
 * A drum track (channel 10) is always drums whatever its name.
 */
int gm_track_role(const gm_track *t) {
    if (t->is_drum) return GM_ROLE_DRUMS;
    static const struct { const char *word; int role; } names[] = {
        {"melody", GM_ROLE_LEAD}, {"vocal", GM_ROLE_LEAD}, {"voice", GM_ROLE_LEAD},
        {"lead", GM_ROLE_LEAD},   {"sing", GM_ROLE_LEAD},  {"bridge", GM_ROLE_COUNTER},
        {"counter", GM_ROLE_COUNTER}, {"bass", GM_ROLE_BASS}, {"guitar", GM_ROLE_GUITAR},
        {"string", GM_ROLE_STRINGS},  {"piano", GM_ROLE_PIANO},
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (name_has(t->name, names[i].word)) return names[i].role;
    return gm_program_role(t->program, 0);
}

#define R(x) (1u << GM_ROLE_##x)

/* Layout presets. `roles` are taken first; `fallback` roles go to a class
 * when no class of the layout takes them first. Velocities of the original
 * are from GETMusic's decoder (lead 114, bass/drums/piano 98, guitar 82,
 * strings 50). */
static const gm_layout preset_original = {
    "original", 6,
    {
        {"lead", 'M', 0, 80, 114, R(LEAD), R(COUNTER)},
        {"bass", 'B', 0, 32, 98, R(BASS), 0},
        {"drums", 'D', 1, 0, 98, R(DRUMS), 0},
        {"guitar", 'G', 0, 25, 82, R(GUITAR), 0},
        {"piano", 'P', 0, 0, 98, R(PIANO), R(OTHER)},
        {"strings", 'S', 0, 48, 50, R(STRINGS), 0},
    },
};

/* Our default: what POP909 (MELODY, BRIDGE, PIANO) and Groove (drums)
 * support. Guitar, bass, strings and other accompaniment fall back to piano. */
static const gm_layout preset_default = {
    "default", 4,
    {
        {"lead", 'M', 0, 80, 114, R(LEAD), 0},
        {"counter", 'R', 0, 71, 90, R(COUNTER), 0},
        {"piano", 'P', 0, 0, 98, R(PIANO), R(GUITAR) | R(BASS) | R(STRINGS) | R(OTHER)},
        {"drums", 'D', 1, 0, 98, R(DRUMS), 0},
    },
};
#undef R

int gm_layout_preset(gm_layout *l, const char *name, char *err) {
    if (!name || !strcmp(name, "default")) *l = preset_default;
    else if (!strcmp(name, "original")) *l = preset_original;
    else return gm_fail(err, "unknown track layout '%s' (known: default, original)", name);
    return 0;
}

int gm_layout_find(const gm_layout *l, const char *class_name) {
    for (int i = 0; i < l->n_classes; i++)
        if (!strcmp(l->cls[i].name, class_name)) return i;
    return -1;
}

int gm_layout_classify(const gm_layout *l, const gm_track *t) {
    int role = gm_track_role(t);
    uint32_t bit = 1u << role;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < l->n_classes; i++) {
            const gm_class *c = &l->cls[i];
            if (c->is_drum != t->is_drum) continue; /* drums never mix with pitched classes */
            if ((pass == 0 ? c->roles : c->fallback) & bit) return i;
        }
    return -1;
}

/* ======================================================================== */
/* Time in seconds, and bar lines from beat annotations                      */
/* ======================================================================== */

double gm_score_tick_to_seconds(const gm_score *s, int64_t tick) {
    double sec = 0, usec = 500000;
    int64_t at = 0;
    for (int i = 0; i < s->n_tempos && s->tempos[i].tick < tick; i++) {
        sec += (double)(s->tempos[i].tick - at) * usec / 1e6 / s->ticks_per_quarter;
        at = s->tempos[i].tick;
        usec = s->tempos[i].usec_per_quarter;
    }
    return sec + (double)(tick - at) * usec / 1e6 / s->ticks_per_quarter;
}

int64_t gm_score_seconds_to_tick(const gm_score *s, double sec) {
    double t0 = 0, usec = 500000;
    int64_t tick = 0;
    for (int i = 0; i < s->n_tempos; i++) {
        double dt = (double)(s->tempos[i].tick - tick) * usec / 1e6 / s->ticks_per_quarter;
        if (t0 + dt > sec) break;
        t0 += dt;
        tick = s->tempos[i].tick;
        usec = s->tempos[i].usec_per_quarter;
    }
    double t = (double)tick + (sec - t0) * 1e6 / usec * s->ticks_per_quarter;
    return t < 0 ? 0 : t > 1e15 ? (int64_t)1e15 : (int64_t)(t + 0.5);
}

int gm_score_metre_from_beat_file(gm_score *s, const char *path, char *err) {
    FILE *f = fopen(path, "r");
    if (!f) return gm_fail(err, "cannot open %s", path);
    double t, a, b, first_t = 0;
    int first = -1, since = -1, lines = 0;
    long hist[17] = {0}; /* downbeat spacings in beats */
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lf %lf %lf", &t, &a, &b) != 3) {
            fclose(f);
            return gm_fail(err, "%s: line %d is not 'seconds beat downbeat'", path, lines + 1);
        }
        if (b == 1.0) {
            if (first < 0) { first = lines; first_t = t; }
            else if (since > 0 && since <= 16) hist[since]++;
            since = 0;
        }
        if (since >= 0) since++;
        lines++;
    }
    fclose(f);
    if (first < 0) return gm_fail(err, "%s: no downbeat marked", path);
    int n = 4;
    for (int k = 1; k <= 16; k++)
        if (hist[k] > hist[n]) n = k;
    int64_t d0 = gm_score_seconds_to_tick(s, first_t);
    s->n_timesigs = 0;
    if (gm_score_add_timesig(s, 0, n, 4) || (d0 > 0 && gm_score_add_timesig(s, d0, n, 4)))
        return gm_fail(err, "out of memory");
    return 0;
}
