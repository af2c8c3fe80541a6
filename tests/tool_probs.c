/* tool_probs.c — helper of tests/test_convert.sh: loads a model file with
 * gm_model_load and writes the x̂0 probabilities of one forward.
 *   tool_probs MODEL.gguf IN.bin OUT.bin
 * IN.bin: i32 B, L, then x (B, R, L) i32, cond (B, R, L) i32, t (B) i32,
 * and for a model with bar positions pos (B, L) i32.
 * OUT.bin: probabilities (B, R, L, V) f32. Exit 1 with a reason on error. */
#include "model/getdiff.h"
#include "getmusic.h"
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: tool_probs MODEL.gguf IN.bin OUT.bin\n"); return 1; }
    char err[GM_ERR_SIZE];
    gm_model *m = gm_model_load(argv[1], err);
    if (!m) { fprintf(stderr, "tool_probs: %s\n", err); return 1; }
    gd_model *net = gm_model_net(m);
    const gd_config *c = gd_model_config(net);
    FILE *f = fopen(argv[2], "rb");
    int32_t hdr[2];
    if (!f || fread(hdr, 4, 2, f) != 2 || hdr[0] < 1 || hdr[0] > 64 || hdr[1] < 1 || hdr[1] > c->max_cols) {
        fprintf(stderr, "tool_probs: bad input file\n");
        return 1;
    }
    int B = hdr[0], L = hdr[1], R = c->R, V = c->V;
    size_t n = (size_t)B * R * L;
    int32_t *x = malloc(n * 4), *cd = malloc(n * 4), *t = malloc((size_t)B * 4);
    uint8_t *cond = malloc(n), *pos = malloc((size_t)B * L);
    float *p = malloc(n * (size_t)V * 4), *o = malloc(n * (size_t)V * 4);
    if (fread(x, 4, n, f) != n || fread(cd, 4, n, f) != n || fread(t, 4, (size_t)B, f) != (size_t)B) {
        fprintf(stderr, "tool_probs: short input\n");
        return 1;
    }
    for (int i = 0; c->Q > 0 && i < B * L; i++) {
        int32_t q;
        if (fread(&q, 4, 1, f) != 1 || q < 0 || q >= c->Q) { fprintf(stderr, "tool_probs: bad bar positions\n"); return 1; }
        pos[i] = (uint8_t)q;
    }
    fclose(f);
    for (size_t i = 0; i < n; i++) cond[i] = (uint8_t)cd[i];
    if (gd_forward(net, x, cond, pos, t, B, L, 0, err)) { fprintf(stderr, "tool_probs: %s\n", err); return 1; }
    gd_probs(net, p); /* (B, L, R, V) → (B, R, L, V) */
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++)
            for (int r = 0; r < R; r++)
                for (int v = 0; v < V; v++)
                    o[(((size_t)b * R + r) * L + l) * V + v] = p[(((size_t)b * L + l) * R + r) * V + v];
    f = fopen(argv[3], "wb");
    if (!f || fwrite(o, 4, n * (size_t)V, f) != n * (size_t)V) { fprintf(stderr, "tool_probs: cannot write\n"); return 1; }
    fclose(f);
    gm_model_free(m);
    free(x); free(cd); free(t); free(cond); free(pos); free(p); free(o);
    return 0;
}
