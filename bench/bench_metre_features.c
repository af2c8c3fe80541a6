/*
 * bench_metre_features.c — the learnt downbeat classifier's training data: for each
 * POP909 song, the inputs metre.c computes per beat (src/music/metre.h) and
 * the beat's place in its bar according to beat_midi.txt.
 *
 *   bench_metre_features [DATA_DIR] > features.txt      (bench/metre_train.py reads it)
 *
 * Per song a line "song NAME valid V beats_per_bar B aligned A n N b0 T tpq Q"
 * (beat i at tick T + i·Q), then N
 * lines of GM_METRE_INPUTS numbers and the label: beats since the last
 * annotated downbeat (0..3, 4 for the fifth beat on of a long bar), -1 before
 * the first. B is the annotation's usual bar (its most common downbeat
 * spacing, 6 read as 3); A is 1 when 90% of its beats lie within 70 ms of
 * one of metre.c's beats (otherwise the beats are not the same and the
 * labels mean nothing).
 */
#include "getmusic.h"
#include "music/metre.h"
#include "pop909_names.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Labels from beat_midi.txt ("seconds beat-flag downbeat-flag"). */
static int song(const char *dir, const char *name) {
    char path[4200], err[GM_ERR_SIZE];
    snprintf(path, sizeof path, "%s/pop909/%s/%s.mid", dir, name, name);
    gm_score s;
    if (gm_midi_read_file(path, &s, err)) { fprintf(stderr, "%s: %s\n", path, err); return -1; }
    float *x = NULL;
    int n = 0;
    int64_t b0 = 0;
    if (gm_metre_beat_inputs(&s, &x, &n, &b0, err)) { fprintf(stderr, "%s: %s\n", name, err); gm_score_free(&s); return -1; }
    snprintf(path, sizeof path, "%s/pop909/%s/beat_midi.txt", dir, name);
    FILE *f = fopen(path, "r");
    int *label = malloc((size_t)n * sizeof *label), *down = calloc((size_t)n, sizeof *down);
    if (!f || !label || !down) { fprintf(stderr, "%s: cannot read %s\n", name, path); return -1; }
    double t, a, b;
    int beats = 0, near = 0, last = -1, line = 0, hist[13] = {0}, first = n;
    int tpq = s.ticks_per_quarter;
    while (fscanf(f, "%lf %lf %lf", &t, &a, &b) == 3) {
        int64_t tick = gm_score_seconds_to_tick(&s, t);
        int64_t i = (tick - b0 + tpq / 2) / tpq;
        if (i < 0) i = 0;
        if (i >= n) i = n - 1;
        beats++;
        near += fabs(gm_score_tick_to_seconds(&s, b0 + i * tpq) - t) <= 0.070;
        if (b == 1.0) {
            if (last >= 0 && line - last <= 12) hist[line - last]++;
            last = line;
            down[i] = 1;
            if (i < first) first = (int)i;
        }
        line++;
    }
    fclose(f);
    int bpb = 4;
    for (int k = 1; k <= 12; k++)
        if (hist[k] > hist[bpb]) bpb = k;
    for (int i = 0, since = -1; i < n; i++) {
        if (down[i]) since = 0;
        label[i] = since < 0 ? -1 : since > 4 ? 4 : since;
        if (since >= 0) since++;
    }
    snprintf(path, sizeof path, "%s/%s.mid", name, name);
    printf("song %s valid %d beats_per_bar %d aligned %d n %d b0 %lld tpq %d\n", name,
           gm_song_is_validation(path, 10) == 1, bpb == 6 ? 3 : bpb, beats && near >= 0.9 * beats, n, (long long)b0, tpq);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < GM_METRE_INPUTS; k++) printf("%.5g ", x[(size_t)i * GM_METRE_INPUTS + k]);
        printf("%d\n", label[i]);
    }
    free(x), free(label), free(down);
    gm_score_free(&s);
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : getenv("GETMUSIC_DATA") ? getenv("GETMUSIC_DATA") : "../shared/data";
    char path[4200];
    snprintf(path, sizeof path, "%s/pop909", dir);
    char **names = NULL;
    int n = pop909_names(path, POP909_ALL, &names);
    if (n < 0) { fprintf(stderr, "cannot open %s\n", path); return 1; }
    int bad = 0;
    for (int i = 0; i < n; i++) bad += song(dir, names[i]) != 0, free(names[i]);
    free(names);
    return bad ? 1 : 0;
}
