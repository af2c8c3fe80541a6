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
 * its bar (dev/MODEL.md "Bar positions": grid steps from the bar line,
 * clipped to 31; past the song's end the last bar's metre goes on), with its
 * CRC in the header. Version 2 corpora are refused the same way.
 *   index:     per song {u16 len, bytes}, per segment {u32 song, u32 col, u8 valid}
 *   tokens:    u16 [n_segments][n_rows][window_cols]
 *   positions: u8  [n_segments][window_cols]
 */
#include "getmusic.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
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

/* A growable byte buffer, so every section is built in memory, checksummed,
 * and written in one go. */
typedef struct { uint8_t *p; size_t n, cap; int oom; } buf;
static void buf_put(buf *b, const void *d, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void buf_u8(buf *b, uint8_t v) { buf_put(b, &v, 1); }
static void buf_u16(buf *b, uint16_t v) { uint8_t x[2] = {v & 0xff, v >> 8}; buf_put(b, x, 2); }
static void buf_u32(buf *b, uint32_t v) {
    uint8_t x[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24};
    buf_put(b, x, 4);
}
static void buf_u64(buf *b, uint64_t v) { buf_u32(b, (uint32_t)v); buf_u32(b, (uint32_t)(v >> 32)); }
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

static int has_midi_ext(const char *s) {
    size_t n = strlen(s);
    return (n > 4 && !strcasecmp(s + n - 4, ".mid")) || (n > 5 && !strcasecmp(s + n - 5, ".midi"));
}

static int list_add(file_list *l, const char *path, const char *name) {
    if (l->n >= MAX_FILES) return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        input_file *v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].path = strdup(path);
    l->v[l->n].name = strdup(name);
    if (!l->v[l->n].path || !l->v[l->n].name) return -1;
    l->n++;
    return 0;
}

/* Recursive walk. Symbolic links to folders are not followed (no cycles),
 * depth is bounded. */
static int walk(file_list *l, const char *dir, const char *rel, int depth, char *err) {
    if (depth > 32) return 0;
    DIR *d = opendir(dir);
    if (!d) return gm_fail(err, "cannot open folder %s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096], name[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(name, sizeof name, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        struct stat st;
        if (lstat(path, &st)) continue;
        if (S_ISDIR(st.st_mode)) rc = walk(l, path, name, depth + 1, err);
        else if ((S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) && has_midi_ext(e->d_name) && list_add(l, path, name))
            rc = gm_fail(err, "too many files (limit %d) or out of memory", MAX_FILES);
    }
    closedir(d);
    return rc;
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
    if (gm_score_quantize(s, 4, err) || gm_barmap_build(&bm, s, 4, err)) {
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
    uint8_t *song_pos = malloc((size_t)g.n_cols + 1); /* [n_cols] */
    so->seg_hash = malloc((size_t)max_seg * sizeof *so->seg_hash);
    so->seg_nonempty = malloc((size_t)max_seg * sizeof *so->seg_nonempty);
    if (!so->seg_tokens || !so->seg_col || !so->seg_pos || !song_pos || !so->seg_hash || !so->seg_nonempty) {
        free(song_pos);
        gm_grid_free(&g);
        return gm_fail(err, "out of memory cutting segments");
    }
    gm_barmap_positions(&g.bm, song_pos, GM_BAR_POSITIONS);
    const int last_bar = g.bm.bar_col[g.bm.n_bars - 1], last_len = g.n_cols - last_bar;
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
                /* a pitch row (even rows before the chord rows) with an onset */
                if (r < R - 2 && !(r & 1) && t != pad && t != empty) nonempty = 1;
            }
        for (int c = 0; c < W; c++) { /* past the end, the last bar's metre goes on */
            int col = start + c, k = col < g.n_cols ? -1 : (col - last_bar) % (last_len > 0 ? last_len : 16);
            so->seg_pos[(size_t)n * W + c] = k < 0 ? song_pos[col] : (uint8_t)(k < GM_BAR_POSITIONS ? k : GM_BAR_POSITIONS - 1);
        }
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
    free(so->chords);
    free(so->seg_tokens);
    free(so->seg_col);
    free(so->seg_pos);
    free(so->seg_hash);
    free(so->seg_nonempty);
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
            snprintf(pl->err, sizeof pl->err, "%s: %s", pl->files->v[i].name, err);
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

static int write_atomic(const char *path, const buf *parts, int n_parts, char *err) {
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

static void put_name32(buf *b, const char *s) {
    char x[32] = {0};
    gm_strlcpy(x, s, sizeof x);
    buf_put(b, x, 32);
}

/* JSON string with the escapes JSON requires. */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void write_summaries(const char *dir, const gm_prepare_summary *sm, const gm_layout *l, const gm_prepare_params *p) {
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.txt", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "getmusic corpus (layout %s, window %d columns, hop %d)\n", l->name, p->window_cols, p->hop_cols);
        fprintf(f, "files found        %zu\nsongs used         %zu (%zu held out for validation)\n", sm->files, sm->songs, sm->songs_valid);
        fprintf(f, "segments           %zu train, %zu validation\n", sm->segments_train, sm->segments_valid);
        fprintf(f, "segments dropped   %zu duplicate, %zu empty\n", sm->segments_duplicate, sm->segments_empty);
        fprintf(f, "notes encoded      %zu: onset and pitch kept %.2f%%, also duration token %.2f%%; compounds out of vocabulary %zu\n",
                sm->notes_in, sm->notes_in ? 100.0 * sm->notes_onset_pitch / sm->notes_in : 0.0,
                sm->notes_in ? 100.0 * sm->notes_exact / sm->notes_in : 0.0, sm->compounds_oov);
        fprintf(f, "chords             %d per bar; from chord_midi.txt labels in %zu songs (%zu unreadable, recognised), recognised in the rest\n",
                sm->chord_frames_per_bar, sm->songs_chord_labels, sm->songs_labels_bad);
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
        json_str(f, l->name);
        fprintf(f, ", \"window_cols\": %d, \"hop_cols\": %d, \"files\": %zu, \"songs\": %zu, \"songs_valid\": %zu, "
                   "\"segments_train\": %zu, \"segments_valid\": %zu, \"segments_duplicate\": %zu, \"segments_empty\": %zu, "
                   "\"notes_in\": %zu, \"notes_exact\": %zu, \"notes_onset_pitch\": %zu, \"compounds_oov\": %zu, \"tracks_unmapped\": %zu, "
                   "\"chord_frames_per_bar\": %d, \"songs_chord_labels\": %zu, \"songs_labels_bad\": %zu, "
                   "\"vocab_size\": %d, \"vocab_classes\": {",
                p->window_cols, p->hop_cols, sm->files, sm->songs, sm->songs_valid, sm->segments_train, sm->segments_valid,
                sm->segments_duplicate, sm->segments_empty, sm->notes_in, sm->notes_exact, sm->notes_onset_pitch, sm->compounds_oov,
                sm->tracks_unmapped, sm->chord_frames_per_bar, sm->songs_chord_labels, sm->songs_labels_bad, sm->vocab_size);
        for (int c = 0; c < l->n_classes; c++) {
            fprintf(f, "%s", c ? ", " : "");
            json_str(f, l->cls[c].name);
            fprintf(f, ": %d", sm->vocab_class_size[c]);
        }
        fprintf(f, "}, \"seconds\": %.3f, \"skipped\": [", sm->seconds);
        for (size_t i = 0; i < sm->n_skipped; i++) {
            fprintf(f, "%s{\"path\": ", i ? ", " : "");
            json_str(f, sm->skipped[i].path);
            fprintf(f, ", \"reason\": ");
            json_str(f, sm->skipped[i].reason);
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
    gm_prepare_params p = {0};
    p.layout = "default";
    p.window_cols = 512;
    p.hop_cols = 256;
    p.vocab_coverage = 0.9;
    p.vocab_min_count = 10;
    p.valid_percent = 10;
    p.n_threads = 0;
    p.transpose_to_c = 1;
    p.chord_frames_per_bar = 2;
    p.chord_labels = 1;
    return p;
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

int gm_prepare(const char *const *inputs, int n_inputs, const char *out_dir, const gm_prepare_params *pp,
               gm_prepare_summary *sm, char *err) {
    gm_prepare_params p = pp ? *pp : gm_prepare_default_params();
    memset(sm, 0, sizeof *sm);
    double t0 = gm_now_s();
    if (p.window_cols < 16 || p.window_cols > 65536) return gm_fail(err, "window of %d columns is out of range 16..65536", p.window_cols);
    if (p.hop_cols < 1 || p.hop_cols > p.window_cols) return gm_fail(err, "hop of %d columns must be in 1..window (%d)", p.hop_cols, p.window_cols);
    if (p.valid_percent < 0 || p.valid_percent > 100) return gm_fail(err, "validation share %d%% is out of range 0..100", p.valid_percent);
    if (!(p.vocab_coverage > 0 && p.vocab_coverage <= 1)) return gm_fail(err, "vocabulary coverage must be in (0, 1]");
    if (strlen(out_dir) > 4000) return gm_fail(err, "output folder name is too long");
    if (p.chord_frames_per_bar < 1 || p.chord_frames_per_bar > GM_MAX_CHORD_FRAMES)
        return gm_fail(err, "%d chords per bar is out of range 1..%d", p.chord_frames_per_bar, GM_MAX_CHORD_FRAMES);
    sm->chord_frames_per_bar = p.chord_frames_per_bar;
    gm_layout layout;
    if (gm_layout_preset(&layout, p.layout, err)) return -1;
    int n_threads = p.n_threads > 0 ? p.n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 64) n_threads = 64;

    int rc = -1;
    file_list files = {0};
    song *songs = NULL;
    gm_vocab_builder **builders = NULL;
    gm_vocab *vocab = NULL;
    buf head = {0}, index = {0}, toks = {0}, poss = {0};
    hset hs = {0};

    /* --- find the files --------------------------------------------------- */
    for (int i = 0; i < n_inputs; i++) {
        struct stat st;
        if (stat(inputs[i], &st)) { gm_fail(err, "cannot read %s: %s", inputs[i], strerror(errno)); goto done; }
        if (S_ISDIR(st.st_mode)) {
            size_t before = files.n;
            if (walk(&files, inputs[i], "", 0, err)) goto done;
            qsort(files.v + before, files.n - before, sizeof *files.v, cmp_file);
        } else {
            const char *base = strrchr(inputs[i], '/');
            if (list_add(&files, inputs[i], base ? base + 1 : inputs[i])) { gm_fail(err, "out of memory"); goto done; }
        }
    }
    sm->files = files.n;
    if (!files.n) { gm_fail(err, "no MIDI files (*.mid, *.midi) found in the inputs"); goto done; }
    if (mkdir(out_dir, 0777) && errno != EEXIST) { gm_fail(err, "cannot create folder %s: %s", out_dir, strerror(errno)); goto done; }

    songs = calloc(files.n, sizeof *songs);
    if (!songs) { gm_fail(err, "out of memory"); goto done; }

    /* --- stage 1: analyse ------------------------------------------------- */
    if (!p.vocab_path && !p.vocab) {
        builders = calloc((size_t)n_threads, sizeof *builders);
        if (!builders) { gm_fail(err, "out of memory"); goto done; }
        for (int t = 0; t < n_threads; t++)
            if (!(builders[t] = gm_vocab_builder_new(&layout))) { gm_fail(err, "out of memory"); goto done; }
    }
    pool pl = {.n = files.n, .total = 2 * files.n, .stage = 1, .files = &files, .songs = songs,
               .layout = &layout, .p = &p, .builders = builders};
    pthread_mutex_init(&pl.mu, NULL);
    if (run_pool(&pl, n_threads)) { gm_strlcpy(err, pl.err, GM_ERR_SIZE); goto done_pool; }

    /* --- stage 2: vocabulary ---------------------------------------------- */
    if (p.vocab) {
        vocab = (gm_vocab *)p.vocab; /* borrowed: not freed below */
    } else if (p.vocab_path) {
        if (!(vocab = gm_vocab_load(p.vocab_path, &layout, err))) goto done_pool;
    } else {
        for (int t = 1; t < n_threads; t++)
            if (gm_vocab_builder_merge(builders[0], builders[t])) { gm_fail(err, "out of memory"); goto done_pool; }
        if (!(vocab = gm_vocab_builder_finish(builders[0], p.vocab_coverage, p.vocab_min_count, err))) goto done_pool;
    }
    if (gm_vocab_size(vocab) + 2 > 65535) { gm_fail(err, "vocabulary of %d tokens does not fit 16-bit segments", gm_vocab_size(vocab)); goto done_pool; }

    /* --- stage 3: encode and cut ------------------------------------------ */
    pl.stage = 3;
    pl.vocab = vocab;
    pl.done = files.n;
    if (run_pool(&pl, n_threads)) { gm_strlcpy(err, pl.err, GM_ERR_SIZE); goto done_pool; }

    /* --- stage 4: dedupe, split, write ------------------------------------ */
    int R = gm_layout_rows(&layout), W = p.window_cols;
    size_t seg_bytes = (size_t)R * W * sizeof(uint16_t);
    size_t total_segs = 0;
    for (size_t i = 0; i < files.n; i++) total_segs += songs[i].ok ? (size_t)songs[i].n_segments : 0;
    hs.cap = 16;
    while (hs.cap < 2 * total_segs + 16) hs.cap *= 2;
    hs.keys = calloc(hs.cap, sizeof *hs.keys);
    hs.who = calloc(hs.cap, sizeof *hs.who); /* 1 + index of the kept segment, 0 = free slot */
    if (!hs.keys || !hs.who) { gm_fail(err, "out of memory"); goto done_pool; }
    size_t n_songs = 0, n_out = 0;
    buf seg_index = {0};
    for (size_t i = 0; i < files.n; i++) {
        song *so = &songs[i];
        if (!so->ok) {
            gm_prepare_skip *sk = realloc(sm->skipped, (sm->n_skipped + 1) * sizeof *sk);
            if (!sk) { free(seg_index.p); gm_fail(err, "out of memory"); goto done_pool; }
            sm->skipped = sk;
            gm_strlcpy(sk[sm->n_skipped].path, files.v[i].path, sizeof sk->path);
            gm_strlcpy(sk[sm->n_skipped].reason, so->reason, sizeof sk->reason);
            sm->n_skipped++;
            continue;
        }
        int valid = song_is_valid(files.v[i].name, p.valid_percent);
        sm->songs++;
        sm->songs_valid += valid;
        sm->notes_in += so->stats.notes_in;
        sm->notes_exact += so->stats.notes_exact;
        sm->notes_onset_pitch += so->stats.notes_onset_pitch;
        sm->compounds_oov += so->stats.compounds_oov;
        sm->tracks_unmapped += so->tracks_unmapped;
        sm->songs_chord_labels += (size_t)so->labelled;
        sm->songs_labels_bad += (size_t)so->labels_bad;
        size_t name_len = strlen(files.v[i].name);
        if (name_len > 65535) name_len = 65535;
        buf_u16(&index, (uint16_t)name_len);
        buf_put(&index, files.v[i].name, name_len);
        for (int k = 0; k < so->n_segments; k++) {
            if (!so->seg_nonempty[k]) { sm->segments_empty++; continue; }
            const uint16_t *seg = so->seg_tokens + (size_t)k * R * W;
            /* look the segment up; equal hashes are compared in full */
            size_t h = so->seg_hash[k] & (hs.cap - 1);
            int dup = 0;
            while (hs.who[h]) {
                if (hs.keys[h] == so->seg_hash[k]) {
                    size_t w = hs.who[h] - 1;
                    if (!memcmp(toks.p + w * seg_bytes, seg, seg_bytes)) { dup = 1; break; }
                }
                h = (h + 1) & (hs.cap - 1);
            }
            if (dup) { sm->segments_duplicate++; continue; }
            hs.keys[h] = so->seg_hash[k];
            hs.who[h] = n_out + 1;
            buf_put(&toks, seg, seg_bytes);
            buf_put(&poss, so->seg_pos + (size_t)k * W, (size_t)W);
            buf_u32(&seg_index, (uint32_t)n_songs);
            buf_u32(&seg_index, so->seg_col[k]);
            buf_u8(&seg_index, (uint8_t)valid);
            if (valid) sm->segments_valid++; else sm->segments_train++;
            n_out++;
        }
        n_songs++;
    }
    buf_put(&index, seg_index.p, seg_index.n);
    free(seg_index.p);
    if (index.oom || toks.oom || poss.oom || seg_index.oom) { gm_fail(err, "out of memory building the corpus"); goto done_pool; }

    /* vocabulary first: the corpus header records its checksum */
    char path[4200];
    snprintf(path, sizeof path, "%s/vocab.txt", out_dir);
    if (gm_vocab_save(vocab, path, err)) goto done_pool;
    uint32_t vocab_crc = file_crc(path);
    buf_put(&head, CORPUS_MAGIC, 8);
    buf_u32(&head, CORPUS_VERSION);
    buf_u32(&head, 0); /* header_bytes, patched below */
    buf_u32(&head, (uint32_t)R);
    buf_u32(&head, (uint32_t)W);
    buf_u32(&head, (uint32_t)gm_vocab_size(vocab));
    buf_u32(&head, vocab_crc);
    buf_u64(&head, n_out);
    buf_u64(&head, n_songs);
    buf_u32(&head, crc32_update(0, index.p, index.n));
    buf_u32(&head, crc32_update(0, toks.p, toks.n));
    put_name32(&head, layout.name);
    buf_u32(&head, (uint32_t)layout.n_classes);
    for (int c = 0; c < layout.n_classes; c++) {
        const gm_class *k = &layout.cls[c];
        put_name32(&head, k->name);
        buf_u8(&head, (uint8_t)k->prefix);
        buf_u8(&head, (uint8_t)k->is_drum);
        buf_u8(&head, (uint8_t)k->out_program);
        buf_u8(&head, (uint8_t)k->velocity);
        buf_u32(&head, k->roles);
        buf_u32(&head, k->fallback);
    }
    buf_u32(&head, (uint32_t)p.chord_frames_per_bar);
    buf_u32(&head, crc32_update(0, poss.p, poss.n));
    if (head.oom) { gm_fail(err, "out of memory"); goto done_pool; }
    uint32_t hb = (uint32_t)head.n + 4;
    memcpy(head.p + 12, (uint8_t[4]){hb & 0xff, (hb >> 8) & 0xff, (hb >> 16) & 0xff, hb >> 24}, 4);
    buf_u32(&head, crc32_update(0, head.p, head.n));
    snprintf(path, sizeof path, "%s/corpus.bin", out_dir);
    buf parts[4] = {head, index, toks, poss};
    if (write_atomic(path, parts, 4, err)) goto done_pool;

    sm->vocab_size = gm_vocab_size(vocab);
    for (int c = 0; c < layout.n_classes; c++) {
        int b0, b1;
        gm_vocab_range(vocab, c, &b0, &b1);
        sm->vocab_class_size[c] = b1 - b0;
    }
    sm->seconds = gm_now_s() - t0;
    write_summaries(out_dir, sm, &layout, &p);
    rc = 0;

done_pool:
    pthread_mutex_destroy(&pl.mu);
done:
    free(hs.keys);
    free(hs.who);
    free(head.p);
    free(index.p);
    free(toks.p);
    free(poss.p);
    if (vocab != p.vocab) gm_vocab_free(vocab);
    if (builders)
        for (int t = 0; t < n_threads; t++) gm_vocab_builder_free(builders[t]);
    free(builders);
    if (songs)
        for (size_t i = 0; i < files.n; i++) song_free(&songs[i]);
    free(songs);
    for (size_t i = 0; i < files.n; i++) { free(files.v[i].path); free(files.v[i].name); }
    free(files.v);
    if (rc) gm_prepare_summary_free(sm);
    return rc;
}

/* ======================================================================== */
/* Loading                                                                   */
/* ======================================================================== */

void gm_corpus_free(gm_corpus *c) {
    if (!c) return;
    gm_vocab_free(c->vocab);
    free(c->tokens);
    free(c->seg_song);
    free(c->seg_col);
    free(c->seg_pos);
    free(c->seg_valid);
    if (c->song_names)
        for (size_t i = 0; i < c->n_songs; i++) free(c->song_names[i]);
    free(c->song_names);
    memset(c, 0, sizeof *c);
}

int gm_corpus_load(gm_corpus *c, const char *dir, char *err) {
    memset(c, 0, sizeof *c);
    char path[4200];
    if (strlen(dir) > 4000) return gm_fail(err, "corpus folder name is too long");
    snprintf(path, sizeof path, "%s/corpus.bin", dir);
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
    if (memcmp(d, CORPUS_MAGIC, 8)) { gm_fail(err, "%s: not a getmusic corpus (bad magic)", path); goto out; }
    if (rd_u32(d + 8) == 1) { gm_fail(err, "%s: corpus version 1 (one chord per bar, before half-bar chords); prepare it again with this build", path); goto out; }
    if (rd_u32(d + 8) == 2) { gm_fail(err, "%s: corpus version 2 (before bar positions); prepare it again with this build", path); goto out; }
    if (rd_u32(d + 8) != CORPUS_VERSION) { gm_fail(err, "%s: corpus version %u, this build reads %u", path, rd_u32(d + 8), CORPUS_VERSION); goto out; }
    size_t hb = rd_u32(d + 12);
    if (hb < 84 || hb > size) { gm_fail(err, "%s: corrupt header size", path); goto out; }
    if (crc32_update(0, d, hb - 4) != rd_u32(d + hb - 4)) { gm_fail(err, "%s: header checksum mismatch (corrupt file)", path); goto out; }
    int R = (int)rd_u32(d + 16), W = (int)rd_u32(d + 20), V = (int)rd_u32(d + 24);
    uint32_t vocab_crc = rd_u32(d + 28);
    uint64_t n_seg = rd_u64(d + 32), n_songs = rd_u64(d + 40);
    uint32_t index_crc = rd_u32(d + 48), tokens_crc = rd_u32(d + 52);
    const uint8_t *q = d + 56;
    memcpy(c->layout.name, q, 32);
    c->layout.name[31] = 0;
    uint32_t nc = rd_u32(q + 32);
    q += 36;
    if (nc < 1 || nc > GM_MAX_CLASSES || hb != 56 + 36 + nc * 44 + 4 + 4 + 4 || R != 2 * (int)nc + 2 || W < 1 || W > 65536 || V < 17) {
        gm_fail(err, "%s: inconsistent header (rows %d, classes %u, window %d)", path, R, nc, W);
        goto out;
    }
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
    uint32_t positions_crc = rd_u32(q + 4);
    if (c->chord_frames_per_bar < 1 || c->chord_frames_per_bar > GM_MAX_CHORD_FRAMES) {
        gm_fail(err, "%s: %d chords per bar in the header (1..%d allowed)", path, c->chord_frames_per_bar, GM_MAX_CHORD_FRAMES);
        goto out;
    }
    /* index: names then segments; bounds-checked walk */
    size_t off = hb;
    if (n_songs > size || n_seg > size) { gm_fail(err, "%s: corrupt counts", path); goto out; }
    c->song_names = calloc(n_songs ? n_songs : 1, sizeof *c->song_names);
    c->seg_song = malloc((n_seg ? n_seg : 1) * sizeof *c->seg_song);
    c->seg_col = malloc((n_seg ? n_seg : 1) * sizeof *c->seg_col);
    c->seg_valid = malloc(n_seg ? n_seg : 1);
    if (!c->song_names || !c->seg_song || !c->seg_col || !c->seg_valid) { gm_fail(err, "out of memory"); goto out; }
    c->n_songs = n_songs;
    for (size_t i = 0; i < n_songs; i++) {
        if (off + 2 > size) { gm_fail(err, "%s: truncated song table", path); goto out; }
        size_t len = rd_u16(d + off);
        if (off + 2 + len > size) { gm_fail(err, "%s: truncated song table", path); goto out; }
        if (!(c->song_names[i] = strndup((const char *)d + off + 2, len))) { gm_fail(err, "out of memory"); goto out; }
        off += 2 + len;
    }
    size_t seg_bytes = (size_t)R * W * 2;
    if (off + n_seg * 9 > size || size - off - n_seg * 9 != n_seg * (seg_bytes + W)) {
        gm_fail(err, "%s: file size does not match %llu segments of %dx%d (truncated?)", path, (unsigned long long)n_seg, R, W);
        goto out;
    }
    if (crc32_update(0, d + hb, off + n_seg * 9 - hb) != index_crc) { gm_fail(err, "%s: index checksum mismatch (corrupt file)", path); goto out; }
    for (size_t i = 0; i < n_seg; i++, off += 9) {
        c->seg_song[i] = rd_u32(d + off);
        c->seg_col[i] = rd_u32(d + off + 4);
        c->seg_valid[i] = d[off + 8];
        if (c->seg_song[i] >= n_songs || c->seg_valid[i] > 1) { gm_fail(err, "%s: segment %zu has a bad song index", path, i); goto out; }
    }
    if (crc32_update(0, d + off, n_seg * seg_bytes) != tokens_crc) { gm_fail(err, "%s: token checksum mismatch (corrupt file)", path); goto out; }
    const uint8_t *pos_data = d + off + n_seg * seg_bytes;
    if (crc32_update(0, pos_data, n_seg * W) != positions_crc) { gm_fail(err, "%s: bar position checksum mismatch (corrupt file)", path); goto out; }
    c->tokens = malloc(n_seg ? n_seg * seg_bytes : 1);
    c->seg_pos = malloc(n_seg ? n_seg * W : 1);
    if (!c->tokens || !c->seg_pos) { gm_fail(err, "out of memory"); goto out; }
    for (size_t i = 0; i < n_seg * W; i++)
        if ((c->seg_pos[i] = pos_data[i]) >= GM_BAR_POSITIONS) { gm_fail(err, "%s: bar position %u outside 0..%d", path, pos_data[i], GM_BAR_POSITIONS - 1); goto out; }
    for (size_t i = 0; i < n_seg * R * W; i++) {
        c->tokens[i] = rd_u16(d + off + 2 * i);
        if (c->tokens[i] > V + 1) { gm_fail(err, "%s: token %u outside the vocabulary", path, c->tokens[i]); goto out; }
    }
    c->n_segments = n_seg;
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    if (file_crc(path) != vocab_crc) { gm_fail(err, "%s does not match the corpus (checksum)", path); goto out; }
    if (!(c->vocab = gm_vocab_load(path, &c->layout, err))) goto out;
    if (gm_vocab_size(c->vocab) != V) { gm_fail(err, "%s: %d tokens, corpus says %d", path, gm_vocab_size(c->vocab), V); goto out; }
    rc = 0;
out:
    if (f) fclose(f);
    free(d);
    if (rc) gm_corpus_free(c);
    return rc;
}
