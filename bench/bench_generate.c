/* bench_generate.c — the C side of `make bench` for a full generation.
 *
 *   bench_generate default  OUTDIR STEPS [DATA [MODEL]]   MODEL: models/default.gguf
 *   bench_generate original OUTDIR STEPS [DATA]
 *
 * A 512-column (32 bars of 4/4) accompaniment problem: the lead rows and the
 * two chord rows given, every other track class a target (all cells MASK).
 * The melody is the first 32 bars of POP909 001 (DATA/pop909/001/001.mid,
 * prepared as `getmusic prepare` does: bars from beat_midi.txt, transposed to
 * C, quantised, chords recognised); without the data, examples/melody.mid
 * repeated to 512 columns. `original` is GETMusic's 86 M configuration with
 * its own layout and vocabulary (DATA/getmusic-examples/dict.txt) and random
 * weights, saved as OUTDIR/original.gguf for the PyTorch side.
 *
 * Writes OUTDIR/SIZE.prob (the problem and, for a correctness check, the x̂0
 * probabilities of a few masked cells at the first step's t; format below,
 * read by bench/sample_torch.py), then times gd_sample with STEPS steps on
 * 2 threads. Prints one JSON line: seconds, network calls, per-call time and
 * where the time goes (one forward timed alone; the rest of a step — x̂0 of
 * the masked cells, sampling, reveal order — by difference).
 *
 * SIZE.prob, little-endian: "GMGENP01", i32 R L V pad steps T top_k probe_t
 * n_probe, f32 temperature, u64 seed, i32 x[R·L], i32 cond[R·L], i32 lo[R],
 * i32 hi[R], i32 probe (r, l)[n_probe], f32 probs[n_probe][V].
 * OUTDIR/SIZE.gen: the generated grid, i32 x[R·L]. */
#include "util.h" /* gm_now_s, gm_peak_rss_mb */
#include "model/diffusion.h"
#include "model/getdiff.h"
#include "getmusic.h"
#include "model/model.h"
#include "model/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define COLS 512   /* 32 bars of 4/4 at 16ths */
#define N_PROBE 8

static int die(const char *what, const char *err) {
    fprintf(stderr, "bench_generate: %s%s%s\n", what, err ? ": " : "", err ? err : "");
    return 1;
}

/* The song's grid in the model's layout and vocabulary (as `prepare` makes
 * it). source: the file used, for the report. */
static int encode_melody(gm_grid *g, const gm_layout *l, const gm_vocab *v, const char *data, const char **source,
                         char *err) {
    static char path[4200], beats[4200];
    snprintf(path, sizeof path, "%s/pop909/001/001.mid", data);
    snprintf(beats, sizeof beats, "%s/pop909/001/beat_midi.txt", data);
    int pop = access(path, R_OK) == 0;
    if (!pop) snprintf(path, sizeof path, "examples/melody.mid");
    *source = path;
    gm_score s;
    if (gm_midi_read_file(path, &s, err)) return -1;
    int rc = -1;
    gm_barmap bm = {0};
    gm_chord *chords = NULL;
    if (pop && access(beats, R_OK) == 0 && gm_score_metre_from_beat_file(&s, beats, err)) goto out;
    gm_score_transpose(&s, gm_key_shift_to_c(gm_key_find(&s)));
    if (gm_score_quantize(&s, GM_STEPS_PER_QUARTER, err) || gm_barmap_build(&bm, &s, GM_STEPS_PER_QUARTER, err)) goto out;
    if (!(chords = malloc((size_t)bm.n_bars * sizeof *chords))) { snprintf(err, GM_ERR_SIZE, "out of memory"); goto out; }
    if (gm_chords_recognize(&s, &bm, chords, err)) goto out;
    rc = gm_grid_encode(g, &s, l, v, chords, NULL, err);
out:
    free(chords);
    gm_barmap_free(&bm);
    gm_score_free(&s);
    return rc;
}

/* Timestep of denoising step i of S (diffusion.c's step_t). */
static int step_t(int i, int S, int T) { return S == 1 ? 0 : (int)lround((double)(T - 1) * (S - 1 - i) / (S - 1)); }

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_generate default|original OUTDIR STEPS [DATA [MODEL]]\n");
        return 1;
    }
    const char *size = argv[1], *outdir = argv[2];
    int steps = atoi(argv[3]);
    const char *data = argc > 4 ? argv[4] : "../shared/data";
    const char *model_path = argc > 5 ? argv[5] : "models/default.gguf";
    int original = !strcmp(size, "original");
    if (!original && strcmp(size, "default")) return die("SIZE is default or original", NULL);
    nn_set_threads(2);
    char err[GM_ERR_SIZE], path[4200];

    /* ---- the model ------------------------------------------------------ */
    gm_model *gm;
    if (original) {
        gm_layout lay;
        if (gm_layout_preset(&lay, "original", err)) return die("layout", err);
        snprintf(path, sizeof path, "%s/getmusic-examples/dict.txt", data);
        gm_vocab *voc = gm_vocab_load(path, &lay, err);
        if (!voc) return die(path, err);
        gm_model_params mp = gm_model_original_params();
        gm = gm_model_new(&mp, &lay, voc, 1, err);
        gm_vocab_free(voc);
        if (!gm) return die("original model", err);
        snprintf(path, sizeof path, "%s/original.gguf", outdir);
        if (gm_model_save(gm, path, "bench_generate: random weights", err)) return die(path, err);
    } else if (!(gm = gm_model_load(model_path, err))) {
        return die(model_path, err);
    }
    gd_model *net = gm_model_net(gm);
    const gd_config *c = gd_model_config(net);
    const gm_layout *lay = gm_model_layout(gm);
    const gm_vocab *voc = gm_model_vocab(gm);
    const int R = c->R, V = c->V, E = c->E, T = c->T, L = COLS, MASK = V + 1, pad = gm_vocab_pad(voc);
    if (L > c->max_cols) return die("the model is shorter than 512 columns", NULL);
    if (steps < 1 || steps > T) return die("STEPS must be in 1..T", NULL);

    /* ---- the problem: lead + chords given, every other class a target ---- */
    gm_grid g;
    const char *source;
    if (encode_melody(&g, lay, voc, data, &source, err)) return die("melody", err);
    if (g.n_rows != R) return die("grid rows differ from the model's", NULL);
    int lead = gm_layout_find(lay, "lead");
    if (lead < 0) lead = 0;
    size_t n = (size_t)R * L;
    int32_t *x = malloc(n * sizeof *x), *cond32 = malloc(n * sizeof *cond32);
    uint8_t *cond = malloc(n), *pos = malloc((size_t)L), *song_pos = malloc((size_t)g.n_cols);
    int32_t *pos32 = malloc((size_t)L * sizeof *pos32);
    int lo[64], hi[64], n_masked = 0;
    if (R > 64 || !x || !cond32 || !cond || !pos || !song_pos || !pos32) return die("out of memory", NULL);
    /* each column's position in its bar (a model with bar positions reads it; short songs repeat) */
    gm_barmap_positions(&g.bm, song_pos, GM_BAR_POSITIONS);
    for (int l = 0; l < L; l++) pos32[l] = pos[l] = song_pos[l % g.n_cols];
    free(song_pos);
    for (int r = 0; r < R; r++) {
        int given = r == 2 * lead || r == 2 * lead + 1 || r >= R - 2;
        gm_vocab_row_range(voc, r, &lo[r], &hi[r]);
        for (int l = 0; l < L; l++) {
            size_t i = (size_t)r * L + l;
            x[i] = given ? g.tok[(size_t)r * g.n_cols + l % g.n_cols] : MASK; /* short songs repeat */
            cond[i] = (uint8_t)given;
            cond32[i] = given;
            n_masked += !given;
        }
    }
    int src_cols = g.n_cols;
    gm_grid_free(&g);

    /* ---- the first step's x̂0 for a few masked cells (correctness probe);
     *      this forward is also the warm-up ------------------------------ */
    int probe_t = step_t(0, steps, T), probe[N_PROBE][2], np = 0;
    int targets[64], n_targets = 0;
    for (int r = 0; r < R; r++)
        if (!cond[(size_t)r * L]) targets[n_targets++] = r;
    for (int j = 0; j < N_PROBE && n_targets; j++) {
        probe[np][0] = targets[j % n_targets];
        probe[np][1] = (j * 67 + 5) % L;
        np++;
    }
    float *rows = malloc((size_t)256 * E * sizeof *rows), *probs = malloc((size_t)256 * V * sizeof *probs);
    if (!rows || !probs) return die("out of memory", NULL);
    if (gd_forward(net, x, cond, pos, &probe_t, 1, L, 0, err)) return die("forward", err);
    const float *cells = gd_model_cells(net); /* (L, R, E) */
    const gd_params *pp = gd_model_p(net);
    for (int j = 0; j < np; j++)
        memcpy(rows + (size_t)j * E, cells + ((size_t)probe[j][1] * R + probe[j][0]) * E, (size_t)E * sizeof(float));
    nn_tied_softmax(probs, rows, gd_model_tok(net), pp->lm_b, np, E, V);

    snprintf(path, sizeof path, "%s/%s.prob", outdir, size);
    FILE *f = fopen(path, "wb");
    if (!f) return die(path, "cannot write");
    float temperature = 1.0f;
    uint64_t seed = 1;
    int32_t hdr[9] = {R, L, V, pad, steps, T, 0, probe_t, np};
    fwrite("GMGENP02", 1, 8, f);
    fwrite(hdr, 4, 9, f);
    fwrite(&temperature, 4, 1, f);
    fwrite(&seed, 8, 1, f);
    fwrite(x, 4, n, f);
    fwrite(cond32, 4, n, f);
    for (int r = 0; r < R; r++) fwrite(&lo[r], 4, 1, f);
    for (int r = 0; r < R; r++) fwrite(&hi[r], 4, 1, f);
    for (int j = 0; j < np; j++) fwrite(probe[j], 4, 2, f);
    fwrite(probs, 4, (size_t)np * V, f);
    fwrite(pos32, 4, (size_t)L, f); /* version 2: bar positions [L] */
    if (fclose(f)) return die(path, "write failed");

    /* ---- one forward alone (best of a few: the machine is shared); the
     *      rest of a step (x̂0 of the masked cells, sampling, reveal order)
     *      is the sampler's time less its forwards ---------------------- */
    double forward_s = 1e30;
    for (int k = 0; k < (original ? 2 : 3); k++) {
        double t0 = gm_now_s();
        gd_forward(net, x, cond, pos, &probe_t, 1, L, 0, err);
        double dt = gm_now_s() - t0;
        if (dt < forward_s) forward_s = dt;
    }
    /* Network calls: steps with cells still masked (rows reveal n_r·(i+1)/(S−1)
     * by step i, so the last step, t = 0, finds none when S > 1). */
    int forwards = 0;
    for (int i = 0; i < steps; i++) {
        long left = 0;
        for (int r = 0; r < R; r++) {
            long nr = cond[(size_t)r * L] ? 0 : L;
            left += steps == 1 || i == 0 ? nr : nr - nr * i / (steps - 1);
        }
        if (left <= 0) break;
        forwards++;
    }

    /* ---- the generation ------------------------------------------------- */
    gd_sample_params sp = gd_sample_default_params();
    sp.steps = steps;
    sp.seed = seed;
    sp.temperature = temperature;
    double t0 = gm_now_s();
    if (gd_sample(net, x, cond, pos, L, lo, hi, pad, &sp, err)) return die("sample", err);
    double seconds = gm_now_s() - t0;
    int left = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        int r = (int)(i / L);
        left += x[i] == MASK;
        if (!cond[i] && !(x[i] == pad || (x[i] >= lo[r] && x[i] < hi[r]))) bad++;
    }
    if (left || bad) {
        fprintf(stderr, "bench_generate: %d cells left masked, %d out of range\n", left, bad);
        return 1;
    }
    /* The result, for sample_torch.py's like-for-like check (onsets per row). */
    snprintf(path, sizeof path, "%s/%s.gen", outdir, size);
    if (!(f = fopen(path, "wb")) || fwrite(x, 4, n, f) != n || fclose(f)) return die(path, "cannot write");
    double fw_total = forwards * forward_s;
    printf("{\"size\": \"%s\", \"melody\": \"%s\", \"melody_cols\": %d, \"R\": %d, \"L\": %d, \"V\": %d, "
           "\"params\": %zu, \"steps\": %d, \"masked_cells\": %d, \"forwards\": %d, \"seconds\": %.3f, "
           "\"s_per_forward\": %.4f, \"forward_s\": %.4f, \"est_forward_total_s\": %.3f, \"est_rest_s\": %.3f, "
           "\"peak_rss_mb\": %ld}\n",
           size, source, src_cols, R, L, V, gd_model_n_params(net), steps, n_masked, forwards, seconds,
           forwards ? seconds / forwards : 0, forward_s, fw_total, seconds - fw_total, gm_peak_rss_mb());
    gm_model_free(gm);
    free(x); free(cond32); free(cond); free(pos); free(pos32); free(rows); free(probs);
    return 0;
}
