/*
 * metre.h — private to the library and its benches: the per-beat inputs of
 * the learnt downbeat classifier in metre.c, so that bench/metre_features.c
 * writes exactly what the classifier reads, for bench/metre_train.py to
 * learn from (and write src/music/metre_net.h).
 */
#ifndef GM_METRE_H
#define GM_METRE_H
#include "getmusic.h"

#include <stdint.h>

/* Numbers per beat: onsets, bass onsets, harmony change (as the cues), bass
 * and treble onsets on each 16th, pitch-class change over 1, 2 and 4 beats
 * (bass, treble), beats held by notes starting there (bass, treble),
 * sounding weight (bass, treble) and its change from the beat before. Each
 * is over its mean in the piece, so that no piece wins by its loudness. */
#define GM_METRE_INPUTS 23

/* The file's beats as metre.c finds them (beat i at tick b0 + i·tpq) and
 * their inputs, x[n][GM_METRE_INPUTS] (malloc'd). Returns 0, or -1 with err. */
int gm_metre_beat_inputs(const gm_score *s, float **x, int *n, int64_t *b0, char *err);

#endif
