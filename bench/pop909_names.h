/* bench/pop909_names.h — the song folders (NNN) of POP909_DIR, sorted: all of
 * them, or one side of prepare's validation split (gm_song_is_validation at
 * 10%). For the benches that walk POP909 song by song. */
#ifndef GM_BENCH_POP909_NAMES_H
#define GM_BENCH_POP909_NAMES_H
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "getmusic.h"

enum { POP909_ALL = -1, POP909_TRAIN = 0, POP909_VALIDATION = 1 };

static int pop909_cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names into *out (each and the array malloc'd; free both); returns how
 * many, or -1 when the folder cannot be opened or memory runs out. */
static inline int pop909_names(const char *pop909_dir, int which, char ***out) {
    *out = NULL;
    DIR *d = opendir(pop909_dir);
    if (!d) return -1;
    int n = 0, cap = 1024;
    char **v = malloc(cap * sizeof *v); /* [cap]: POP909 has 909 songs */
    struct dirent *e;
    while (v && (e = readdir(d)) && n < cap) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || strlen(e->d_name) > 64) continue;
        char rel[160];
        snprintf(rel, sizeof rel, "%.64s/%.64s.mid", e->d_name, e->d_name);
        if (which == POP909_ALL || gm_song_is_validation(rel, 10) == which) v[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (!v) return -1;
    if (n > 1) qsort(v, (size_t)n, sizeof *v, pop909_cmp_name);
    *out = v;
    return n;
}
#endif
