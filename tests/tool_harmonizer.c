/* tool_harmonizer.c — the learnt harmoniser's logits in C against PyTorch's
 * (tests/test_harmonizer.sh; python/harmonizer.py selftest writes the files).
 *
 *   tool_harmonizer MODEL.gguf H.f32 LOGITS.f32 [RESAVED.gguf]
 *
 * H.f32: [T][36] melody frames; LOGITS.f32: [T][96] PyTorch's logits. Prints
 * "max |C - torch| X" and exits 0; with RESAVED, the model is first written
 * by gm_model_save and read back (the harmoniser must survive). Exit 1 on a
 * bad file, 2 when the model has no harmoniser. */
#include "getmusic.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static float *slurp(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *v = malloc(sz > 0 ? (size_t)sz : 1);
    if (v && fread(v, 1, (size_t)sz, f) != (size_t)sz) { free(v); v = NULL; }
    fclose(f);
    *n = sz / (long)sizeof(float);
    return v;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: tool_harmonizer MODEL.gguf H.f32 LOGITS.f32 [RESAVED.gguf]\n"); return 1; }
    char err[GM_ERR_SIZE];
    gm_model *m = gm_model_load(argv[1], err);
    if (m && argc > 4) {
        if (gm_model_save(m, argv[4], NULL, err)) { fprintf(stderr, "%s\n", err); return 1; }
        gm_model_free(m);
        m = gm_model_load(argv[4], err);
    }
    if (!m) { fprintf(stderr, "%s\n", err); return 1; }
    const gm_harmonizer *net = gm_model_harmonizer(m);
    if (!net) { fprintf(stderr, "%s: no harmoniser\n", argv[1]); gm_model_free(m); return 2; }
    long nh, nl;
    float *h = slurp(argv[2], &nh), *want = slurp(argv[3], &nl);
    if (!h || !want || nh % 36 || nl != nh / 36 * 96) { fprintf(stderr, "bad input files\n"); return 1; }
    int T = (int)(nh / 36);
    float *got = malloc((size_t)nl * sizeof *got);
    if (!got || gm_harmonizer_logits(net, h, T, got, err)) { fprintf(stderr, "%s\n", err); return 1; }
    double worst = 0;
    for (long i = 0; i < nl; i++) worst = fmax(worst, fabs((double)got[i] - want[i]));
    printf("max |C - torch| %.3g over %ld logits\n", worst, nl);
    free(h), free(want), free(got);
    gm_model_free(m);
    return 0;
}
