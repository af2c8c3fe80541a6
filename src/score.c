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
    free(s->tracks);
    free(s->tempos);
    free(s->timesigs);
    free(s->keysigs);
    memset(s, 0, sizeof *s);
}

int gm_score_add_track(gm_score *s, const char *name, int program, int channel, int is_drum) {
    if (s->n_tracks == s->cap_tracks) {
        int cap = s->cap_tracks ? 2 * s->cap_tracks : 8;
        gm_track *t = realloc(s->tracks, (size_t)cap * sizeof *t);
        if (!t) return -1;
        s->tracks = t;
        s->cap_tracks = cap;
    }
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
    if (t->n_notes == t->cap_notes) {
        size_t cap = t->cap_notes ? 2 * t->cap_notes : 64;
        gm_note *n = realloc(t->notes, cap * sizeof *n);
        if (!n) return -1;
        t->notes = n;
        t->cap_notes = cap;
    }
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
    if ((src->n_tempos && !dst->tempos) || (src->n_timesigs && !dst->timesigs) ||
        (src->n_keysigs && !dst->keysigs))
        goto fail;
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
    s->end_tick = end;
}

size_t gm_score_n_notes(const gm_score *s) {
    size_t n = 0;
    for (int i = 0; i < s->n_tracks; i++) n += s->tracks[i].n_notes;
    return n;
}
