/* test_train_overlay.c — the training sample's drum overlay (src/model/train.c
 * overlay_drums, a static function: this file includes train.c itself, so
 * the archive's train.o is never linked beside it). A Groove part is laid
 * beside a song bar by bar: each column takes the drum column of the same
 * bar and bar position, a rest where the drum bar lacks that position, and
 * the part starts again past its last bar; python/sampling.py lay_by_bars
 * follows the same rule (tests/test_python_train.sh, the same cases). */
#include "model/train.c"
#include "test.h"

enum { W = 40, R = 10, V = 300, DRUM_ROW = 6 };

/* Lays drum segment 1 (tokens 100 + column, 200 + column; 4/4 bars) beside a
 * song whose bars have the given lengths; the result's drum pitch row into out. */
static void lay(const int *bar_len, int n_bars, int32_t *out) {
    static uint16_t tok[2 * R * W];
    static uint8_t seg_pos[2 * W];
    static int scratch[(2 + GM_BAR_POSITIONS) * W];
    int32_t x0[R * W];
    uint8_t pos[W];
    uint32_t pool[1] = {1};
    trainer tr = {0};
    tr.R = R, tr.W = W, tr.V = V, tr.drum_class = 3, tr.drum_pool = pool, tr.n_drum_pool = 1, tr.overlay_bar = scratch;
    for (int i = 0; i < 2 * R * W; i++) tok[i] = V;
    for (int l = 0; l < W; l++) {
        tok[R * W + DRUM_ROW * W + l] = (uint16_t)(100 + l);
        tok[R * W + (DRUM_ROW + 1) * W + l] = (uint16_t)(200 + l);
        seg_pos[W + l] = (uint8_t)(l % 16);
    }
    tr.corpus.tokens = tok, tr.corpus.seg_pos = seg_pos;
    for (int b = 0, k = 0; b < n_bars; b++)
        for (int j = 0; j < bar_len[b] && k < W; j++) pos[k++] = (uint8_t)j;
    for (int i = 0; i < R * W; i++) x0[i] = V;
    for (int l = 0; l < W; l++) x0[l] = 60; /* a lead note in every column: the song goes on */
    uint64_t rng = 1;
    overlay_drums(&tr, x0, pos, &rng);
    for (int l = 0; l < W; l++) out[l] = x0[DRUM_ROW * W + l];
}

int main(void) {
    const int pad = gm_vocab_pad(NULL);
    int32_t got[W], want[W];
    /* a 4/4 bar, then two 3/4 bars: the third bar has 8 drum columns, then rests */
    lay((const int[]){16, 12, 12}, 3, got);
    for (int l = 0; l < W; l++) want[l] = l < 16 ? 100 + l : l < 28 ? 100 + l : l < 36 ? 104 + l : pad;
    for (int l = 0; l < W; l++) CHECK(got[l] == want[l], "4/4 + 3/4 + 3/4, column %d: %d, want %d", l, got[l], want[l]);
    /* a 5/4 bar (its fifth beat a rest), two one-beat bars, then a fourth bar: the part again from its first */
    lay((const int[]){20, 4, 4, 12}, 4, got);
    for (int l = 0; l < W; l++)
        want[l] = l < 16 ? 100 + l : l < 20 ? pad : l < 24 ? 96 + l : l < 28 ? 108 + l : 72 + l;
    for (int l = 0; l < W; l++) CHECK(got[l] == want[l], "5/4 + 1/4 + 1/4 + 3/4, column %d: %d, want %d", l, got[l], want[l]);
    /* plain 4/4 bars: column by column, as before */
    lay((const int[]){16, 16, 16}, 3, got);
    for (int l = 0; l < W; l++) CHECK(got[l] == 100 + l, "4/4 bars, column %d: %d", l, got[l]);
    return test_done("test_train_overlay");
}
