/*
 * corpus.c — training-corpus preparation and loading.
 *
 * prepare: folders of MIDI files → a corpus folder:
 *   corpus.bin    segments of `window_cols` columns (versioned, CRC32-checked)
 *   vocab.txt     the vocabulary (dict.txt format) the segments are written in
 *   summary.txt   what happened, for people
 *   summary.json  the same, for machines
 *
 * Pipeline (threads work on whole files; nothing is shared but counters):
 *   1. read → classify tracks → find key, transpose to C → quantise to 16ths →
 *      chords per frame (bar or half bar; from chord_midi.txt beside the file
 *      when there is one, else recognised) → count compound pitch tokens
 *      (thread-local builders)
 *   2. vocabulary: merge the counts and apply the frequency rule (or load one)
 *   3. encode every song as a grid, cut bar-aligned windows, hash them
 *   4. (serial, in song order) drop empty and duplicate segments, split by
 *      song, write.
 *
 * corpus.bin layout (little-endian):
 *   magic "GMCORPUS", u32 version, u32 header_bytes,
 *   u32 n_rows, u32 window_cols, u32 vocab_size, u32 vocab_crc,
 *   u64 n_segments, u64 n_songs, u32 index_crc, u32 tokens_crc,
 *   layout: char name[32], u32 n_classes, per class {char name[32], u8 prefix,
 *           u8 is_drum, u8 out_program, u8 velocity, u32 roles, u32 fallback},
 *   u32 chord_frames_per_bar (version 2 on),
 *   u32 positions_crc (version 3 on),
 *   u32 header_crc (of every header byte before it)
 *   so header_bytes = 56 + 36 + 44·n_classes + 4 + 4 + 4.
 *
 * Version 2 (half-bar chords) added chord_frames_per_bar: 1 = the chord rows
 * hold one chord per bar (as version 1 did); 2 = one per half bar, the first
 * ceil(n/2) columns of an n-column bar holding its first chord and the rest
 * its second (gm_barmap_frame_col). A model trained on the corpus records it
 * as the GGUF key getmusic.chord_frames_per_bar (see model.c). Version 1
 * corpora are refused with a message to prepare them again.
 *
 * Version 3 (bar positions) added, after the tokens, each column's position in
 * its bar (docs/MODEL.md "Bar positions": grid steps from the bar line,
 * clipped to 31; past the song's end the last bar's metre goes on), with its
 * CRC in the header. Version 2 corpora are refused the same way.
 *   index:     per song {u16 len, bytes}, per segment {u32 song, u32 col, u8 valid}
 *   tokens:    u16 [n_segments][n_rows][window_cols]
 *   positions: u8  [n_segments][window_cols]
 */
#include "getmusic.h"
#include "util.h"

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CORPUS_MAGIC "GMCORPUS"
#define CORPUS_VERSION 3u
#define MAX_FILES 1000000

/* ======================================================================== */
/* CRC32 (IEEE), bytes and little-endian helpers                             */
/* ======================================================================== */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}
static uint32_t crc32_update(uint32_t crc, const void *data, size_t n) {
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* Little-endian values into a gm_buf: every section is built in memory,
 * checksummed, and written in one go. */
static void buf_u8(gm_buf *b, uint8_t v) { gm_buf_put(b, &v, 1); }
static void buf_u16(gm_buf *b, uint16_t v) { uint8_t x[2] = {v & 0xff, v >> 8}; gm_buf_put(b, x, 2); }
static void buf_u32(gm_buf *b, uint32_t v) {
    uint8_t x[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24};
    gm_buf_put(b, x, 4);
}
static void buf_u64(gm_buf *b, uint64_t v) { buf_u32(b, (uint32_t)v); buf_u32(b, (uint32_t)(v >> 32)); }
static uint16_t rd_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd_u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd_u64(const uint8_t *p) { return rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32; }

/* 64-bit FNV-1a, for segment de-duplication and the validation split. */
static uint64_t fnv1a(const void *data, size_t n, uint64_t h) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_SEED 0xcbf29ce484222325ull

/* ======================================================================== */
/* Finding the files                                                         */
/* ======================================================================== */

typedef struct { char *path; char *name; } input_file; /* name: relative to its input root */

typedef struct { input_file *v; size_t n, cap; } file_list;

static int list_add(file_list *l, const char *path, const char *name) {
    if (l->n >= MAX_FILES) return -1;
    if (gm_grow(&l->v, &l->cap, l->n, sizeof *l->v, 256)) return -1;
    l->v[l->n].path = strdup(path);
    l->v[l->n].name = strdup(name);
    if (!l->v[l->n].path || !l->v[l->n].name) return -1;
    l->n++;
    return 0;
}

/* gm_walk_midi's visitor: one more input file, or the walk stops. */
typedef struct { file_list *l; char *err; } walk_ctx;
static int walk_add(void *user_data, const char *path, const char *name) {
    walk_ctx *w = user_data;
    if (list_add(w->l, path, name)) return gm_fail(w->err, "too many files (limit %d) or out of memory", MAX_FILES);
    return 0;
}

static int cmp_file(const void *a, const void *b) {
    return strcmp(((const input_file *)a)->path, ((const input_file *)b)->path);
}

/* ======================================================================== */
/* Per-song work                                                             */
/* ======================================================================== */

typedef struct {
    int ok;                  /* read and used */
    char reason[GM_ERR_SIZE];
    gm_score score;          /* classified (track.cls), transposed, quantised */
    gm_chord *chords;        /* [n_bars * chord frames per bar] */
    int n_bars;
    int labelled;            /* chords from chord_midi.txt */
    int labels_bad;          /* chord_midi.txt there but unreadable: recognised instead */
    size_t tracks_unmapped;
    size_t ghosts_dropped;   /* soft snare strokes left out (gm_score_drop_ghost_notes) */
    /* after encoding */
    int n_segments;
    uint16_t *seg_tokens;    /* [n_segments][n_rows][window_cols] */
    uint32_t *seg_col;       /* [n_segments] */
    uint8_t *seg_pos;        /* [n_segments][window_cols] bar positions */
    uint64_t *seg_hash;      /* [n_segments] */
    int *seg_nonempty;       /* [n_segments] */
    gm_encode_stats stats;
} song;

typedef struct { int col; uint8_t pitch; } col_pitch;
static int cmp_col_pitch(const void *a, const void *b) {
    const col_pitch *x = a, *y = b;
    return x->col != y->col ? (x->col < y->col ? -1 : 1) : (int)x->pitch - (int)y->pitch;
}

/* Counts, for every class, the pitch set starting at each column: these are
 * exactly the compound tokens gm_grid_encode will look up. */
static int count_compounds(gm_vocab_builder *b, const gm_score *s, const gm_barmap *bm, int n_classes) {
    size_t total = gm_score_n_notes(s);
    col_pitch *cp = malloc((total ? total : 1) * sizeof *cp);
    if (!cp) return -1;
    for (int c = 0; c < n_classes; c++) {
        size_t n = 0;
        for (int i = 0; i < s->n_tracks; i++) {
            const gm_track *t = &s->tracks[i];
            if (t->cls != c) continue;
            for (size_t k = 0; k < t->n_notes; k++)
                cp[n++] = (col_pitch){gm_barmap_tick_to_col(bm, t->notes[k].tick), t->notes[k].pitch};
        }
        qsort(cp, n, sizeof *cp, cmp_col_pitch);
        uint8_t set[128];
        for (size_t i = 0; i < n;) {
            int m = 0;
            size_t j = i;
            for (; j < n && cp[j].col == cp[i].col; j++)
                if (m == 0 || set[m - 1] != cp[j].pitch) set[m++] = cp[j].pitch;
            if (gm_vocab_builder_add(b, c, set, m, 1)) { free(cp); return -1; }
            i = j;
        }
    }
    free(cp);
    return 0;
}

/* POP909 keeps human chord labels in chord_midi.txt beside each song; they
 * are the harmony a listener hears, which our recogniser matches only about
 * 60% of the time, so a song that has them trains on them. Fills so->chords
 * from the labels (roots moved by the song's transposition `shift`) and
 * returns 1, or returns 0 when there are none or they are unreadable. */
static int chords_from_label_file(song *so, const char *midi_path, const gm_score *s, const gm_barmap *bm,
                                  int frames, int shift) {
    char path[4200], err[GM_ERR_SIZE];
    const char *slash = strrchr(midi_path, '/');
    snprintf(path, sizeof path, "%.*s%schord_midi.txt", slash ? (int)(slash - midi_path) : 0, midi_path, slash ? "/" : "");
    if (access(path, R_OK)) return 0;
    gm_timed_chord *labels = NULL;
    int n = 0;
    if (gm_timed_chords_read(path, &labels, &n, err) || gm_chords_from_timed(s, bm, frames, labels, n, shift, so->chords, err)) {
        so->labels_bad = 1;
        free(labels);
        return 0;
    }
    free(labels);
    so->labelled = 1;
    return 1;
}

/* Stage 1 for one file. Returns 0 with so->ok set or cleared; -1 only for
 * out of memory in the builder. */
static int analyse_song(song *so, const input_file *f, const gm_layout *l, const gm_prepare_params *p,
                        gm_vocab_builder *b) {
    char err[GM_ERR_SIZE];
    gm_score *s = &so->score;
    if (gm_midi_read_file(f->path, s, err)) {
        gm_strlcpy(so->reason, err, sizeof so->reason);
        return 0;
    }
    /* POP909 declares 1/4 or 2/4; its beat_midi.txt beside the file has the
     * real downbeats, so bars (and chords per bar) follow the music. */
    char beats[4200];
    const char *slash = strrchr(f->path, '/');
    snprintf(beats, sizeof beats, "%.*s%sbeat_midi.txt", slash ? (int)(slash - f->path) : 0, f->path, slash ? "/" : "");
    if (access(beats, R_OK) == 0 && gm_score_metre_from_beat_file(s, beats, err)) {
        gm_strlcpy(so->reason, err, sizeof so->reason);
        gm_score_free(s);
        return 0;
    }
    so->ghosts_dropped = gm_score_drop_ghost_notes(s, p->ghost_velocity);
    int used = 0;
    for (int i = 0; i < s->n_tracks; i++) {
        s->tracks[i].cls = gm_layout_classify(l, &s->tracks[i]);
        if (s->tracks[i].cls < 0) so->tracks_unmapped++;
        else used += s->tracks[i].n_notes > 0;
    }
    if (!used) {
        snprintf(so->reason, sizeof so->reason, "no track maps to a class of layout '%s'", l->name);
        gm_score_free(s);
        return 0;
    }
    int shift = p->transpose_to_c ? gm_key_shift_to_c(gm_key_find(s)) : 0;
    gm_score_transpose(s, shift);
    gm_barmap bm;
    if (gm_score_quantize(s, GM_STEPS_PER_QUARTER, err) || gm_barmap_build(&bm, s, GM_STEPS_PER_QUARTER, err)) {
        gm_strlcpy(so->reason, err, sizeof so->reason);
        gm_score_free(s);
        return 0;
    }
    so->n_bars = bm.n_bars;
    const int frames = p->chord_frames_per_bar;
    so->chords = malloc((size_t)bm.n_bars * frames * sizeof *so->chords);
    int rc = 0;
    if (!so->chords ||
        (!(p->chord_labels && chords_from_label_file(so, f->path, s, &bm, frames, shift)) &&
         gm_chords_recognize_frames(s, &bm, frames, so->chords, err))) {
        gm_strlcpy(so->reason, so->chords ? err : "out of memory", sizeof so->reason);
        gm_score_free(s);
    } else if (b && count_compounds(b, s, &bm, l->n_classes)) {
        rc = -1;
    } else {
        so->ok = 1;
    }
    gm_barmap_free(&bm);
    return rc;
}

/* Bar positions of a song's n columns and W more past its end, where the
 * last bar's metre goes on (a window reaching past the end still has
 * positions): pos [n + W]. */
static void song_positions(const gm_barmap *bm, int W, uint8_t *pos) {
    gm_barmap_positions(bm, pos, GM_BAR_POSITIONS);
    const int last = bm->bar_col[bm->n_bars - 1], len = bm->n_cols - last; /* len >= 1: a bar has a column */
    for (int j = bm->n_cols; j < bm->n_cols + W; j++) {
        int k = (j - last) % len;
        pos[j] = (uint8_t)(k < GM_BAR_POSITIONS ? k : GM_BAR_POSITIONS - 1);
    }
}

/* Stage 3 for one song: encode and cut bar-aligned windows. */
static int segment_song(song *so, const gm_layout *l, const gm_vocab *v, int W, int hop, int frames, char *err) {
    gm_grid g;
    if (gm_grid_encode_frames(&g, &so->score, l, v, so->chords, frames, &so->stats, err)) return -1;
    int R = g.n_rows, empty = gm_vocab_empty(v), pad = gm_vocab_pad(v);
    /* Window starts: bar lines, each the first one at least `hop` after the last. */
    int max_seg = g.n_cols / (hop > 0 ? hop : 1) + 2;
    so->seg_tokens = malloc((size_t)max_seg * R * W * sizeof *so->seg_tokens);
    so->seg_col = malloc((size_t)max_seg * sizeof *so->seg_col);
    so->seg_pos = malloc((size_t)max_seg * W);
    uint8_t *song_pos = malloc((size_t)g.n_cols + W); /* [n_cols + W] */
    so->seg_hash = malloc((size_t)max_seg * sizeof *so->seg_hash);
    so->seg_nonempty = malloc((size_t)max_seg * sizeof *so->seg_nonempty);
    if (!so->seg_tokens || !so->seg_col || !so->seg_pos || !song_pos || !so->seg_hash || !so->seg_nonempty) {
        free(song_pos);
        gm_grid_free(&g);
        return gm_fail(err, "out of memory cutting segments");
    }
    song_positions(&g.bm, W, song_pos);
    int n = 0, next = 0;
    for (int b = 0; b < g.bm.n_bars && n < max_seg; b++) {
        int start = g.bm.bar_col[b];
        if (start < next) continue;
        uint16_t *dst = so->seg_tokens + (size_t)n * R * W; /* [R][W] */
        int nonempty = 0;
        for (int r = 0; r < R; r++)
            for (int c = 0; c < W; c++) {
                int col = start + c;
                int32_t t = col < g.n_cols ? g.tok[(size_t)r * g.n_cols + col] : empty;
                dst[(size_t)r * W + c] = (uint16_t)t;
                /* a pitch row with an onset */
                if (gm_row_kind_of(l->n_classes, r) == GM_ROW_PITCH && t != pad && t != empty) nonempty = 1;
            }
        memcpy(so->seg_pos + (size_t)n * W, song_pos + start, (size_t)W);
        so->seg_col[n] = (uint32_t)start;
        so->seg_hash[n] = fnv1a(dst, (size_t)R * W * sizeof *dst, FNV_SEED);
        so->seg_nonempty[n] = nonempty;
        n++;
        next = start + hop;
        if (start + W >= g.n_cols) break; /* this window reaches the end */
    }
    so->n_segments = n;
    free(song_pos);
    gm_grid_free(&g);
    return 0;
}

static void song_free(song *so) {
    if (so->ok) gm_score_free(&so->score);
    GM_FREE_ALL(so->chords, so->seg_tokens, so->seg_col, so->seg_pos, so->seg_hash, so->seg_nonempty);
}

/* ======================================================================== */
/* Thread pool over songs                                                    */
/* ======================================================================== */

typedef struct {
    pthread_mutex_t mu;
    size_t next, n;          /* next index to take, count */
    size_t done, total;      /* progress */
    int stage;               /* 1 analyse, 3 segment */
    int failed;
    char err[GM_ERR_SIZE];
    const file_list *files;
    song *songs;
    const gm_layout *layout;
    const gm_vocab *vocab;
    const gm_prepare_params *p;
    gm_vocab_builder **builders; /* [n_threads] for stage 1, or NULL when a vocab is given */
} pool;

typedef struct { pool *pl; int id; } worker_arg;

static void *worker(void *arg) {
    worker_arg *wa = arg;
    pool *pl = wa->pl;
    for (;;) {
        pthread_mutex_lock(&pl->mu);
        size_t i = pl->failed ? pl->n : pl->next++;
        pthread_mutex_unlock(&pl->mu);
        if (i >= pl->n) break;
        char err[GM_ERR_SIZE] = "";
        int rc;
        song *so = &pl->songs[i];
        if (pl->stage == 1) {
            rc = analyse_song(so, &pl->files->v[i], pl->layout, pl->p, pl->builders ? pl->builders[wa->id] : NULL);
            if (rc) snprintf(err, sizeof err, "out of memory counting tokens");
        } else {
            rc = so->ok ? segment_song(so, pl->layout, pl->vocab, pl->p->window_cols, pl->p->hop_cols,
                                       pl->p->chord_frames_per_bar, err)
                        : 0;
        }
        pthread_mutex_lock(&pl->mu);
        if (rc && !pl->failed) {
            pl->failed = 1;
            snprintf(pl->err, sizeof pl->err, "%.120s: %.130s", pl->files->v[i].name, err);
        }
        pl->done++;
        if (pl->p->progress) pl->p->progress(pl->p->user_data, pl->done, pl->total);
        pthread_mutex_unlock(&pl->mu);
    }
    return NULL;
}

static int run_pool(pool *pl, int n_threads) {
    pthread_t th[64];
    worker_arg args[64];
    int started = 0;
    pl->next = 0;
    for (int t = 0; t < n_threads; t++) {
        args[t] = (worker_arg){pl, t};
        if (pthread_create(&th[t], NULL, worker, &args[t])) break;
        started++;
    }
    if (!started) worker(&(worker_arg){pl, 0}); /* no threads: do it here */
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    return pl->failed ? -1 : 0;
}

/* ======================================================================== */
/* Writing                                                                   */
/* ======================================================================== */

static int write_atomic(const char *path, const gm_buf *parts, int n_parts, char *err) {
    gm_atomic_file a;
    if (gm_atomic_open(&a, path, err)) return -1;
    for (int i = 0; i < n_parts; i++)
        if (parts[i].n && fwrite(parts[i].p, 1, parts[i].n, a.f) != parts[i].n) break;
    /* A short write leaves the stream's error flag set: commit reports it. */
    return gm_atomic_commit(&a, err);
}

static uint32_t file_crc(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    uint8_t b[65536];
    size_t n;
    uint32_t crc = 0;
    while ((n = fread(b, 1, sizeof b, f)) > 0) crc = crc32_update(crc, b, n);
    fclose(f);
    return crc;
}

static void put_name32(gm_buf *b, const char *s) {
    char x[32] = {0};
    gm_strlcpy(x, s, sizeof x);
    gm_buf_put(b, x, 32);
}


static void write_summaries(const char *dir, const gm_prepare_summary *sm, const gm_layout *l, const gm_prepare_params *p) {
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.txt", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "getmusic corpus (layout %s, window %d columns, hop %d)\n", l->name, p->window_cols, p->hop_cols);
        fprintf(f, "files found        %zu (%zu more excluded by pattern)\nsongs used         %zu (%zu held out for validation)\n", sm->files, sm->files_excluded, sm->songs, sm->songs_valid);
        fprintf(f, "segments           %zu train, %zu validation\n", sm->segments_train, sm->segments_valid);
        fprintf(f, "segments dropped   %zu duplicate, %zu empty\n", sm->segments_duplicate, sm->segments_empty);
        fprintf(f, "notes encoded      %zu: onset and pitch kept %.2f%%, also duration token %.2f%%; compounds out of vocabulary %zu\n",
                sm->notes_in, sm->notes_in ? 100.0 * sm->notes_onset_pitch / sm->notes_in : 0.0,
                sm->notes_in ? 100.0 * sm->notes_exact / sm->notes_in : 0.0, sm->compounds_oov);
        fprintf(f, "chords             %d per bar; from chord_midi.txt labels in %zu songs (%zu unreadable, recognised), recognised in the rest\n",
                sm->chord_frames_per_bar, sm->songs_chord_labels, sm->songs_labels_bad);
        fprintf(f, "ghost notes        %zu snare strokes softer than velocity %d left out\n", sm->ghost_notes_dropped, p->ghost_velocity);
        fprintf(f, "tracks unmapped    %zu\nvocabulary         %d tokens:", sm->tracks_unmapped, sm->vocab_size);
        for (int c = 0; c < l->n_classes; c++) fprintf(f, " %s %d", l->cls[c].name, sm->vocab_class_size[c]);
        fprintf(f, "\nseconds            %.2f\nskipped files      %zu\n", sm->seconds, sm->n_skipped);
        for (size_t i = 0; i < sm->n_skipped; i++) fprintf(f, "  %s: %s\n", sm->skipped[i].path, sm->skipped[i].reason);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/summary.json", dir);
    f = fopen(path, "w");
    if (f) {
        fprintf(f, "{\"layout\": ");
        gm_json_fstr(f, l->name);
        fprintf(f, ", \"window_cols\": %d, \"hop_cols\": %d, \"files\": %zu, \"files_excluded\": %zu, \"songs\": %zu, \"songs_valid\": %zu, "
                   "\"segments_train\": %zu, \"segments_valid\": %zu, \"segments_duplicate\": %zu, \"segments_empty\": %zu, "
                   "\"notes_in\": %zu, \"notes_exact\": %zu, \"notes_onset_pitch\": %zu, \"compounds_oov\": %zu, \"tracks_unmapped\": %zu, "
                   "\"chord_frames_per_bar\": %d, \"songs_chord_labels\": %zu, \"songs_labels_bad\": %zu, "
                   "\"ghost_velocity\": %d, \"ghost_notes_dropped\": %zu, \"vocab_size\": %d, \"vocab_classes\": {",
                p->window_cols, p->hop_cols, sm->files, sm->files_excluded, sm->songs, sm->songs_valid, sm->segments_train, sm->segments_valid,
                sm->segments_duplicate, sm->segments_empty, sm->notes_in, sm->notes_exact, sm->notes_onset_pitch, sm->compounds_oov,
                sm->tracks_unmapped, sm->chord_frames_per_bar, sm->songs_chord_labels, sm->songs_labels_bad,
                p->ghost_velocity, sm->ghost_notes_dropped, sm->vocab_size);
        for (int c = 0; c < l->n_classes; c++) {
            fprintf(f, "%s", c ? ", " : "");
            gm_json_fstr(f, l->cls[c].name);
            fprintf(f, ": %d", sm->vocab_class_size[c]);
        }
        fprintf(f, "}, \"seconds\": %.3f, \"skipped\": [", sm->seconds);
        for (size_t i = 0; i < sm->n_skipped; i++) {
            fprintf(f, "%s{\"path\": ", i ? ", " : "");
            gm_json_fstr(f, sm->skipped[i].path);
            fprintf(f, ", \"reason\": ");
            gm_json_fstr(f, sm->skipped[i].reason);
            fprintf(f, "}");
        }
        fprintf(f, "]}\n");
        fclose(f);
    }
}

/* ======================================================================== */
/* gm_prepare                                                                */
/* ======================================================================== */

gm_prepare_params gm_prepare_default_params(void) {
    return (gm_prepare_params){
        .layout = "default", .window_cols = 512, .hop_cols = 256,
        .vocab_coverage = 0.9, .vocab_min_count = 10, .valid_percent = 10,
        .n_threads = 0, .transpose_to_c = 1, .chord_frames_per_bar = 2, .chord_labels = 1, .ghost_velocity = 60,
    };
}

void gm_prepare_summary_free(gm_prepare_summary *sum) {
    if (!sum) return;
    free(sum->skipped);
    sum->skipped = NULL;
    sum->n_skipped = 0;
}

/* Song → validation split: a hash of its name, so the split is stable when
 * files are added and every segment of a song lands on one side. */
static int song_is_valid(const char *name, int percent) { return (int)(fnv1a(name, strlen(name), FNV_SEED) % 100) < percent; }
int gm_song_is_validation(const char *name, int valid_percent) { return name && song_is_valid(name, valid_percent); }

/* Hash set of segment hashes (open addressing), to find duplicates. */
typedef struct { uint64_t *keys; size_t *who; size_t cap; } hset;

/* One prepare run: its inputs, the songs and what is written. Owned memory
 * is released by prep_free (zeroed storage frees as nothing). */
typedef struct {
    gm_prepare_params p;
    gm_layout layout;
    int n_threads;
    file_list files;
    size_t files_excluded;       /* left out by p.exclude */
    song *songs;                 /* [files.n] */
    gm_vocab_builder **builders; /* [n_threads] stage 1, NULL when a vocabulary is given */
    gm_vocab *vocab;             /* owned unless it is p.vocab (borrowed) */
    pool pl;
    int pool_ready;
    hset hs;
    gm_buf head, index, seg_index, toks, poss; /* corpus.bin's parts (seg_index joins index) */
    size_t n_songs, n_out;       /* songs and segments written */
} prep_job;

static void prep_free(prep_job *j) {
    if (j->pool_ready) pthread_mutex_destroy(&j->pl.mu);
    free(j->hs.keys);
    free(j->hs.who);
    gm_buf_free(&j->head);
    gm_buf_free(&j->index);
    gm_buf_free(&j->seg_index);
    gm_buf_free(&j->toks);
    gm_buf_free(&j->poss);
    if (j->vocab != j->p.vocab) gm_vocab_free(j->vocab);
    if (j->builders)
        for (int t = 0; t < j->n_threads; t++) gm_vocab_builder_free(j->builders[t]);
    free(j->builders);
    if (j->songs)
        for (size_t i = 0; i < j->files.n; i++) song_free(&j->songs[i]);
    free(j->songs);
    for (size_t i = 0; i < j->files.n; i++) { free(j->files.v[i].path); free(j->files.v[i].name); }
    free(j->files.v);
}

static int check_prepare_params(prep_job *j, const char *out_dir, char *err) {
    const gm_prepare_params *p = &j->p;
    if (p->window_cols < 16 || p->window_cols > 65536) return gm_fail(err, "window of %d columns is out of range 16..65536", p->window_cols);
    if (p->hop_cols < 1 || p->hop_cols > p->window_cols) return gm_fail(err, "hop of %d columns must be in 1..window (%d)", p->hop_cols, p->window_cols);
    if (p->valid_percent < 0 || p->valid_percent > 100) return gm_fail(err, "validation share %d%% is out of range 0..100", p->valid_percent);
    if (!(p->vocab_coverage > 0 && p->vocab_coverage <= 1)) return gm_fail(err, "vocabulary coverage must be in (0, 1]");
    if (strlen(out_dir) > 4000) return gm_fail(err, "output folder name is too long");
    if (p->chord_frames_per_bar < 1 || p->chord_frames_per_bar > GM_MAX_CHORD_FRAMES)
        return gm_fail(err, "%d chords per bar is out of range 1..%d", p->chord_frames_per_bar, GM_MAX_CHORD_FRAMES);
    if (gm_layout_preset(&j->layout, p->layout, err)) return -1;
    j->n_threads = p->n_threads > 0 ? p->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (j->n_threads < 1) j->n_threads = 1;
    if (j->n_threads > 64) j->n_threads = 64;
    return 0;
}

/* Leaves out the files whose name (relative to their input) matches one of
 * the exclude patterns; returns how many. */
static size_t exclude_files(file_list *fl, const gm_prepare_params *p) {
    size_t k = 0, n0 = fl->n;
    for (size_t i = 0; i < fl->n; i++) {
        int hit = 0;
        for (int e = 0; e < p->n_exclude && !hit; e++) hit = fnmatch(p->exclude[e], fl->v[i].name, 0) == 0;
        if (hit) {
            free(fl->v[i].path);
            free(fl->v[i].name);
        } else {
            fl->v[k++] = fl->v[i];
        }
    }
    fl->n = k;
    return n0 - k;
}

/* The MIDI files of the inputs (folders walked, each folder's files sorted,
 * exclusions left out), and the output folder. */
static int find_files(prep_job *j, const char *const *inputs, int n_inputs, const char *out_dir, char *err) {
    file_list *fl = &j->files;
    for (int i = 0; i < n_inputs; i++) {
        struct stat st;
        if (stat(inputs[i], &st)) return gm_fail(err, "cannot read %s: %s", inputs[i], strerror(errno));
        if (S_ISDIR(st.st_mode)) {
            size_t before = fl->n;
            walk_ctx w = {fl, err};
            if (gm_walk_midi(inputs[i], walk_add, &w, err)) return -1;
            qsort(fl->v + before, fl->n - before, sizeof *fl->v, cmp_file);
        } else {
            const char *base = strrchr(inputs[i], '/');
            if (list_add(fl, inputs[i], base ? base + 1 : inputs[i])) return gm_fail(err, "out of memory");
        }
    }
    j->files_excluded = exclude_files(fl, &j->p);
    if (!fl->n && j->files_excluded) return gm_fail(err, "every MIDI file of the inputs matched an exclude pattern");
    if (!fl->n) return gm_fail(err, "no MIDI files (*.mid, *.midi) found in the inputs");
    if (mkdir(out_dir, 0777) && errno != EEXIST) return gm_fail(err, "cannot create folder %s: %s", out_dir, strerror(errno));
    if (!(j->songs = calloc(fl->n, sizeof *j->songs))) return gm_fail(err, "out of memory");
    return 0;
}

/* Stage 1 on every song in the pool (thread-local token counts when the
 * vocabulary is to be built). */
static int analyse_all(prep_job *j, char *err) {
    if (!j->p.vocab_path && !j->p.vocab) {
        if (!(j->builders = calloc((size_t)j->n_threads, sizeof *j->builders))) return gm_fail(err, "out of memory");
        for (int t = 0; t < j->n_threads; t++)
            if (!(j->builders[t] = gm_vocab_builder_new(&j->layout))) return gm_fail(err, "out of memory");
    }
    j->pl = (pool){.n = j->files.n, .total = 2 * j->files.n, .stage = 1, .files = &j->files, .songs = j->songs,
                   .layout = &j->layout, .p = &j->p, .builders = j->builders};
    pthread_mutex_init(&j->pl.mu, NULL);
    j->pool_ready = 1;
    if (run_pool(&j->pl, j->n_threads)) return gm_fail(err, "%s", j->pl.err);
    return 0;
}

/* Stage 2: the given vocabulary (a model's, borrowed, or a file), or the
 * merged counts under the frequency rule. */
static int make_vocab(prep_job *j, char *err) {
    if (j->p.vocab) {
        j->vocab = (gm_vocab *)j->p.vocab;
    } else if (j->p.vocab_path) {
        if (!(j->vocab = gm_vocab_load(j->p.vocab_path, &j->layout, err))) return -1;
    } else {
        for (int t = 1; t < j->n_threads; t++)
            if (gm_vocab_builder_merge(j->builders[0], j->builders[t])) return gm_fail(err, "out of memory");
        if (!(j->vocab = gm_vocab_builder_finish(j->builders[0], j->p.vocab_coverage, j->p.vocab_min_count, err))) return -1;
    }
    if (gm_vocab_size(j->vocab) + 2 > 65535)
        return gm_fail(err, "vocabulary of %d tokens does not fit 16-bit segments", gm_vocab_size(j->vocab));
    return 0;
}

/* Stage 3 on every song in the pool: encode and cut windows. */
static int segment_all(prep_job *j, char *err) {
    j->pl.stage = 3;
    j->pl.vocab = j->vocab;
    j->pl.done = j->files.n;
    if (run_pool(&j->pl, j->n_threads)) return gm_fail(err, "%s", j->pl.err);
    return 0;
}

/* The skipped file and its reason into the summary. */
static int note_skipped(gm_prepare_summary *sm, const char *path, const char *reason) {
    gm_prepare_skip *sk = realloc(sm->skipped, (sm->n_skipped + 1) * sizeof *sk);
    if (!sk) return -1;
    sm->skipped = sk;
    gm_strlcpy(sk[sm->n_skipped].path, path, sizeof sk->path);
    gm_strlcpy(sk[sm->n_skipped].reason, reason, sizeof sk->reason);
    sm->n_skipped++;
    return 0;
}

/* 1 when segment seg (R·W tokens, its hash h) equals one kept before; else
 * it is remembered as kept segment n_out. */
static int is_duplicate(prep_job *j, const uint16_t *seg, uint64_t h, size_t seg_bytes) {
    hset *hs = &j->hs;
    size_t at = h & (hs->cap - 1);
    for (; hs->who[at]; at = (at + 1) & (hs->cap - 1))
        if (hs->keys[at] == h && !memcmp(j->toks.p + (hs->who[at] - 1) * seg_bytes, seg, seg_bytes)) return 1;
    hs->keys[at] = h;
    hs->who[at] = j->n_out + 1;
    return 0;
}

/* One analysed song into the corpus parts: its name, then each of its
 * segments that is neither empty nor a duplicate, on its split's side. */
static void add_song(prep_job *j, size_t i, gm_prepare_summary *sm) {
    const song *so = &j->songs[i];
    const int R = gm_layout_rows(&j->layout), W = j->p.window_cols;
    const size_t seg_bytes = (size_t)R * W * sizeof(uint16_t);
    int valid = song_is_valid(j->files.v[i].name, j->p.valid_percent);
    sm->songs++;
    sm->songs_valid += valid;
    sm->notes_in += so->stats.notes_in;
    sm->notes_exact += so->stats.notes_exact;
    sm->notes_onset_pitch += so->stats.notes_onset_pitch;
    sm->compounds_oov += so->stats.compounds_oov;
    sm->tracks_unmapped += so->tracks_unmapped;
    sm->ghost_notes_dropped += so->ghosts_dropped;
    sm->songs_chord_labels += (size_t)so->labelled;
    sm->songs_labels_bad += (size_t)so->labels_bad;
    size_t name_len = strlen(j->files.v[i].name);
    if (name_len > 65535) name_len = 65535;
    buf_u16(&j->index, (uint16_t)name_len);
    gm_buf_put(&j->index, j->files.v[i].name, name_len);
    for (int k = 0; k < so->n_segments; k++) {
        const uint16_t *seg = so->seg_tokens + (size_t)k * R * W;
        if (!so->seg_nonempty[k]) { sm->segments_empty++; continue; }
        if (is_duplicate(j, seg, so->seg_hash[k], seg_bytes)) { sm->segments_duplicate++; continue; }
        gm_buf_put(&j->toks, seg, seg_bytes);
        gm_buf_put(&j->poss, so->seg_pos + (size_t)k * W, (size_t)W);
        buf_u32(&j->seg_index, (uint32_t)j->n_songs);
        buf_u32(&j->seg_index, so->seg_col[k]);
        buf_u8(&j->seg_index, (uint8_t)valid);
        if (valid) sm->segments_valid++; else sm->segments_train++;
        j->n_out++;
    }
    j->n_songs++;
}

/* Stage 4 (serial, in song order): skipped files noted, segments de-duplicated
 * and split by song. */
static int collect_segments(prep_job *j, gm_prepare_summary *sm, char *err) {
    size_t total = 0;
    for (size_t i = 0; i < j->files.n; i++) total += j->songs[i].ok ? (size_t)j->songs[i].n_segments : 0;
    for (j->hs.cap = 16; j->hs.cap < 2 * total + 16;) j->hs.cap *= 2;
    j->hs.keys = calloc(j->hs.cap, sizeof *j->hs.keys);
    j->hs.who = calloc(j->hs.cap, sizeof *j->hs.who); /* 1 + index of the kept segment, 0 = free slot */
    if (!j->hs.keys || !j->hs.who) return gm_fail(err, "out of memory");
    for (size_t i = 0; i < j->files.n; i++) {
        if (!j->songs[i].ok) {
            if (note_skipped(sm, j->files.v[i].path, j->songs[i].reason)) return gm_fail(err, "out of memory");
        } else {
            add_song(j, i, sm);
        }
    }
    gm_buf_put(&j->index, j->seg_index.p, j->seg_index.n);
    if (j->index.oom || j->toks.oom || j->poss.oom || j->seg_index.oom) return gm_fail(err, "out of memory building the corpus");
    return 0;
}

/* corpus.bin's header (the layout at the top of this file). */
static void build_header(prep_job *j, uint32_t vocab_crc) {
    gm_buf *h = &j->head;
    gm_buf_put(h, CORPUS_MAGIC, 8);
    buf_u32(h, CORPUS_VERSION);
    buf_u32(h, 0); /* header_bytes, patched below */
    buf_u32(h, (uint32_t)gm_layout_rows(&j->layout));
    buf_u32(h, (uint32_t)j->p.window_cols);
    buf_u32(h, (uint32_t)gm_vocab_size(j->vocab));
    buf_u32(h, vocab_crc);
    buf_u64(h, j->n_out);
    buf_u64(h, j->n_songs);
    buf_u32(h, crc32_update(0, j->index.p, j->index.n));
    buf_u32(h, crc32_update(0, j->toks.p, j->toks.n));
    put_name32(h, j->layout.name);
    buf_u32(h, (uint32_t)j->layout.n_classes);
    for (int c = 0; c < j->layout.n_classes; c++) {
        const gm_class *k = &j->layout.cls[c];
        put_name32(h, k->name);
        buf_u8(h, (uint8_t)k->prefix);
        buf_u8(h, (uint8_t)k->is_drum);
        buf_u8(h, (uint8_t)k->out_program);
        buf_u8(h, (uint8_t)k->velocity);
        buf_u32(h, k->roles);
        buf_u32(h, k->fallback);
    }
    buf_u32(h, (uint32_t)j->p.chord_frames_per_bar);
    buf_u32(h, crc32_update(0, j->poss.p, j->poss.n));
    if (h->oom) return;
    uint32_t hb = (uint32_t)h->n + 4;
    memcpy(h->p + 12, (uint8_t[4]){hb & 0xff, (hb >> 8) & 0xff, (hb >> 16) & 0xff, hb >> 24}, 4);
    buf_u32(h, crc32_update(0, h->p, h->n));
}

/* vocab.txt first (the header records its checksum), then corpus.bin. */
static int write_corpus(prep_job *j, const char *out_dir, char *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/vocab.txt", out_dir);
    if (gm_vocab_save(j->vocab, path, err)) return -1;
    build_header(j, file_crc(path));
    if (j->head.oom) return gm_fail(err, "out of memory");
    snprintf(path, sizeof path, "%s/corpus.bin", out_dir);
    gm_buf parts[4] = {j->head, j->index, j->toks, j->poss};
    return write_atomic(path, parts, 4, err);
}

int gm_prepare(const char *const *inputs, int n_inputs, const char *out_dir, const gm_prepare_params *pp,
               gm_prepare_summary *sm, char *err) {
    memset(sm, 0, sizeof *sm);
    double t0 = gm_now_s();
    prep_job j;
    memset(&j, 0, sizeof j);
    j.p = pp ? *pp : gm_prepare_default_params();
    sm->chord_frames_per_bar = j.p.chord_frames_per_bar;
    int rc = check_prepare_params(&j, out_dir, err) || find_files(&j, inputs, n_inputs, out_dir, err) ||
             analyse_all(&j, err) || make_vocab(&j, err) || segment_all(&j, err) || collect_segments(&j, sm, err) ||
             write_corpus(&j, out_dir, err)
                 ? -1
                 : 0;
    sm->files = j.files.n;
    sm->files_excluded = j.files_excluded;
    if (!rc) {
        sm->vocab_size = gm_vocab_size(j.vocab);
        for (int c = 0; c < j.layout.n_classes; c++) {
            int b0, b1;
            gm_vocab_range(j.vocab, c, &b0, &b1);
            sm->vocab_class_size[c] = b1 - b0;
        }
        sm->seconds = gm_now_s() - t0;
        write_summaries(out_dir, sm, &j.layout, &j.p);
    }
    prep_free(&j);
    if (rc) gm_prepare_summary_free(sm);
    return rc;
}

/* ======================================================================== */
/* Loading                                                                   */
/* ======================================================================== */

void gm_corpus_free(gm_corpus *c) {
    if (!c) return;
    gm_vocab_free(c->vocab);
    GM_FREE_ALL(c->tokens, c->seg_song, c->seg_col, c->seg_pos, c->seg_valid);
    if (c->song_names)
        for (size_t i = 0; i < c->n_songs; i++) free(c->song_names[i]);
    free(c->song_names);
    memset(c, 0, sizeof *c);
}

/* A corpus.bin read into memory while gm_corpus_load parses it: the bytes,
 * the header's counts and checksums, and where the parse has got to. */
typedef struct {
    const char *path;  /* corpus.bin, for messages */
    const uint8_t *d;  /* the whole file */
    size_t size;
    size_t hb;         /* header bytes (checksum included) */
    int R, W, V;       /* rows, window columns, vocabulary size */
    uint64_t n_seg, n_songs;
    uint32_t vocab_crc, index_crc, tokens_crc, positions_crc;
    size_t off;        /* parse position: after the index, the start of the tokens */
} corpus_file;

/* The whole file into *out (the caller frees it); at least the 80 bytes no
 * header is shorter than. */
static int corpus_read_file(const char *path, uint8_t **out, size_t *out_size, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return gm_fail(err, "cannot open %s: %s", path, strerror(errno));
    uint8_t *d = NULL;
    int rc = -1;
    struct stat st;
    if (fstat(fileno(f), &st) || st.st_size < 80) { gm_fail(err, "%s: too short to be a corpus", path); goto out; }
    size_t size = (size_t)st.st_size;
    d = malloc(size);
    if (!d) { gm_fail(err, "%s: out of memory (%zu bytes)", path, size); goto out; }
    if (fread(d, 1, size, f) != size) { gm_fail(err, "%s: read error", path); goto out; }
    *out = d;
    *out_size = size;
    d = NULL;
    rc = 0;
out:
    fclose(f);
    free(d);
    return rc;
}

/* Magic, version, header checksum, counts, the layout's classes and the
 * chords per bar: into cf and c->layout, n_rows, window_cols,
 * chord_frames_per_bar. */
static int corpus_parse_header(gm_corpus *c, corpus_file *cf, char *err) {
    const uint8_t *d = cf->d;
    const char *path = cf->path;
    if (memcmp(d, CORPUS_MAGIC, 8)) return gm_fail(err, "%s: not a getmusic corpus (bad magic)", path);
    if (rd_u32(d + 8) == 1) return gm_fail(err, "%s: corpus version 1 (one chord per bar, before half-bar chords); prepare it again with this build", path);
    if (rd_u32(d + 8) == 2) return gm_fail(err, "%s: corpus version 2 (before bar positions); prepare it again with this build", path);
    if (rd_u32(d + 8) != CORPUS_VERSION) return gm_fail(err, "%s: corpus version %u, this build reads %u", path, rd_u32(d + 8), CORPUS_VERSION);
    size_t hb = cf->hb = rd_u32(d + 12);
    if (hb < 84 || hb > cf->size) return gm_fail(err, "%s: corrupt header size", path);
    if (crc32_update(0, d, hb - 4) != rd_u32(d + hb - 4)) return gm_fail(err, "%s: header checksum mismatch (corrupt file)", path);
    int R = cf->R = (int)rd_u32(d + 16), W = cf->W = (int)rd_u32(d + 20), V = cf->V = (int)rd_u32(d + 24);
    cf->vocab_crc = rd_u32(d + 28);
    cf->n_seg = rd_u64(d + 32), cf->n_songs = rd_u64(d + 40);
    cf->index_crc = rd_u32(d + 48), cf->tokens_crc = rd_u32(d + 52);
    const uint8_t *q = d + 56;
    memcpy(c->layout.name, q, 32);
    c->layout.name[31] = 0;
    uint32_t nc = rd_u32(q + 32);
    q += 36;
    if (nc < 1 || nc > GM_MAX_CLASSES || hb != 56 + 36 + nc * 44 + 4 + 4 + 4 || R != 2 * (int)nc + 2 || W < 1 || W > 65536 || V < 17)
        return gm_fail(err, "%s: inconsistent header (rows %d, classes %u, window %d)", path, R, nc, W);
    c->layout.n_classes = (int)nc;
    for (uint32_t k = 0; k < nc; k++, q += 44) {
        gm_class *cl = &c->layout.cls[k];
        memcpy(cl->name, q, 32);
        cl->name[31] = 0;
        cl->prefix = (char)q[32];
        cl->is_drum = q[33];
        cl->out_program = q[34];
        cl->velocity = q[35];
        cl->roles = rd_u32(q + 36);
        cl->fallback = rd_u32(q + 40);
    }
    c->n_rows = R;
    c->window_cols = W;
    c->chord_frames_per_bar = (int)rd_u32(q);
    cf->positions_crc = rd_u32(q + 4);
    if (c->chord_frames_per_bar < 1 || c->chord_frames_per_bar > GM_MAX_CHORD_FRAMES)
        return gm_fail(err, "%s: %d chords per bar in the header (1..%d allowed)", path, c->chord_frames_per_bar, GM_MAX_CHORD_FRAMES);
    return 0;
}

/* The index after the header: song names, then each segment's song, first
 * column and validation flag; a bounds-checked walk that also checks the file
 * size against the segments' tokens and positions. Leaves cf->off at the
 * tokens. */
static int corpus_parse_index(gm_corpus *c, corpus_file *cf, char *err) {
    const uint8_t *d = cf->d;
    const char *path = cf->path;
    const size_t size = cf->size, hb = cf->hb;
    const uint64_t n_seg = cf->n_seg, n_songs = cf->n_songs;
    size_t off = hb;
    if (n_songs > size || n_seg > size) return gm_fail(err, "%s: corrupt counts", path);
    c->song_names = calloc(n_songs ? n_songs : 1, sizeof *c->song_names);
    c->seg_song = malloc((n_seg ? n_seg : 1) * sizeof *c->seg_song);
    c->seg_col = malloc((n_seg ? n_seg : 1) * sizeof *c->seg_col);
    c->seg_valid = malloc(n_seg ? n_seg : 1);
    if (!c->song_names || !c->seg_song || !c->seg_col || !c->seg_valid) return gm_fail(err, "out of memory");
    c->n_songs = n_songs;
    for (size_t i = 0; i < n_songs; i++) {
        if (off + 2 > size) return gm_fail(err, "%s: truncated song table", path);
        size_t len = rd_u16(d + off);
        if (off + 2 + len > size) return gm_fail(err, "%s: truncated song table", path);
        if (!(c->song_names[i] = strndup((const char *)d + off + 2, len))) return gm_fail(err, "out of memory");
        off += 2 + len;
    }
    size_t seg_bytes = (size_t)cf->R * cf->W * 2;
    if (off + n_seg * 9 > size || size - off - n_seg * 9 != n_seg * (seg_bytes + cf->W))
        return gm_fail(err, "%s: file size does not match %llu segments of %dx%d (truncated?)", path, (unsigned long long)n_seg, cf->R, cf->W);
    if (crc32_update(0, d + hb, off + n_seg * 9 - hb) != cf->index_crc) return gm_fail(err, "%s: index checksum mismatch (corrupt file)", path);
    for (size_t i = 0; i < n_seg; i++, off += 9) {
        c->seg_song[i] = rd_u32(d + off);
        c->seg_col[i] = rd_u32(d + off + 4);
        c->seg_valid[i] = d[off + 8];
        if (c->seg_song[i] >= n_songs || c->seg_valid[i] > 1) return gm_fail(err, "%s: segment %zu has a bad song index", path, i);
    }
    cf->off = off;
    return 0;
}

/* The segments' tokens (R, W) and bar positions (W) after the index, each
 * checked against its checksum and its range. */
static int corpus_parse_tokens(gm_corpus *c, const corpus_file *cf, char *err) {
    const uint8_t *d = cf->d;
    const char *path = cf->path;
    const size_t off = cf->off, n_seg = cf->n_seg, R = (size_t)cf->R, W = (size_t)cf->W;
    size_t seg_bytes = R * W * 2;
    if (crc32_update(0, d + off, n_seg * seg_bytes) != cf->tokens_crc) return gm_fail(err, "%s: token checksum mismatch (corrupt file)", path);
    const uint8_t *pos_data = d + off + n_seg * seg_bytes;
    if (crc32_update(0, pos_data, n_seg * W) != cf->positions_crc) return gm_fail(err, "%s: bar position checksum mismatch (corrupt file)", path);
    c->tokens = malloc(n_seg ? n_seg * seg_bytes : 1);
    c->seg_pos = malloc(n_seg ? n_seg * W : 1);
    if (!c->tokens || !c->seg_pos) return gm_fail(err, "out of memory");
    for (size_t i = 0; i < n_seg * W; i++)
        if ((c->seg_pos[i] = pos_data[i]) >= GM_BAR_POSITIONS) return gm_fail(err, "%s: bar position %u outside 0..%d", path, pos_data[i], GM_BAR_POSITIONS - 1);
    for (size_t i = 0; i < n_seg * R * W; i++) {
        c->tokens[i] = rd_u16(d + off + 2 * i);
        if (c->tokens[i] > cf->V + 1) return gm_fail(err, "%s: token %u outside the vocabulary", path, c->tokens[i]);
    }
    c->n_segments = n_seg;
    return 0;
}

int gm_corpus_load(gm_corpus *c, const char *dir, char *err) {
    memset(c, 0, sizeof *c);
    char path[4200], vpath[4200];
    if (strlen(dir) > 4000) return gm_fail(err, "corpus folder name is too long");
    snprintf(path, sizeof path, "%s/corpus.bin", dir);
    uint8_t *d = NULL;
    corpus_file cf = {.path = path};
    if (corpus_read_file(path, &d, &cf.size, err)) return -1;
    cf.d = d;
    int rc = -1;
    if (corpus_parse_header(c, &cf, err) || corpus_parse_index(c, &cf, err) || corpus_parse_tokens(c, &cf, err))
        goto out;
    snprintf(vpath, sizeof vpath, "%s/vocab.txt", dir);
    if (file_crc(vpath) != cf.vocab_crc) { gm_fail(err, "%s does not match the corpus (checksum)", vpath); goto out; }
    if (!(c->vocab = gm_vocab_load(vpath, &c->layout, err))) goto out;
    if (gm_vocab_size(c->vocab) != cf.V) { gm_fail(err, "%s: %d tokens, corpus says %d", vpath, gm_vocab_size(c->vocab), cf.V); goto out; }
    rc = 0;
out:
    free(d);
    if (rc) gm_corpus_free(c);
    return rc;
}
