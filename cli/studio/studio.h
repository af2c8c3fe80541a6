/* studio.h — what the files of `getmusic studio` share.
 *
 *   cmd_studio.c     the subcommand: options, start, wait for Ctrl-C, stop
 *   studio_server.c  HTTP through libmicrohttpd: Host check, body limits,
 *                    the page's files (compiled in), hands /api/ to the API
 *   studio_api.c     the JSON API: routes, options, replies
 *   studio_store.c   songs and their versions, the job queue and its worker
 *                    thread, the render pool and its bounded cache (full-mix
 *                    WAV, one compressed stem per track, PNG); every bound lives here
 *   studio_disk.c    the data folder (--data): songs and versions kept across
 *                    restarts, written atomically, read back with checks
 *   studio_audio.c   a rendered WAV → a compressed stem (libsndfile)
 *   studio_json.c    a growable string buffer and a small JSON reader
 *
 * Threads: libmicrohttpd runs one thread per connection; every handler
 * takes the store's one mutex for what it reads or changes, and never holds
 * it across slow work (generation, rendering, disk). One worker thread
 * generates; ST_RENDER_THREADS render (a bounded queue feeds them).
 */
#ifndef GM_STUDIO_H
#define GM_STUDIO_H
#include <stddef.h>
#include <stdint.h>

#include "getmusic.h"
#include "util.h" /* gm_buf */

/* ---- bounds (the README states the memory bound they give) ---- */
#define ST_MAX_UPLOAD (8u << 20)   /* bytes of a MIDI upload */
#define ST_MAX_JSON (64u << 10)    /* bytes of a JSON request body */
#define ST_MAX_SONGS 8             /* songs kept; the oldest is evicted */
#define ST_MAX_VERSIONS 16         /* versions per song; the oldest generated one goes */
#define ST_MAX_NOTES 400000        /* notes of one version */
#define ST_MAX_STORE_NOTES 2000000 /* notes of every version together (48 MB) */
#define ST_MAX_CACHE (192u << 20)  /* rendered WAV + stems + PNG + JSON + MIDI bytes kept (least recently used go first) */
#define ST_RENDER_THREADS 2        /* renders at once (FluidSynth itself one at a time; encoding beside it) */
#define ST_MAX_RENDERS 32          /* renders waiting or running; more are refused (503) */
#define ST_HEADER_SECONDS 10       /* a request's headers must arrive within this (slow clients dropped) */
#define ST_BODY_SECONDS 120        /* and its body within this after them */
#define ST_MAX_JOBS 64             /* jobs remembered (finished ones forgotten first) */
#define ST_MAX_QUEUED 16           /* jobs waiting; more are refused (503) */
#define ST_MAX_BARS 256            /* bars of a new song, or appended by one job (the library
                                      takes GM_MAX_GENERATE_BARS; a studio job stays short) */
#define ST_MAX_SECONDS 600.0       /* longest piece rendered to WAV */
#define ST_MAX_CONNECTIONS 256     /* open connections (libmicrohttpd refuses more) */
#define ST_MAX_INFLIGHT (64u << 20) /* bytes of request bodies being received, all together */

/* ---- text: replies are built in a gm_buf, strings by gm_buf_json_str (util.h) ---- */

/* ---- JSON reader (studio_json.c): one flat object of options ---- */
enum { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR };
typedef struct {
    char key[32];
    int type;        /* JV_* */
    double num;      /* JV_NUM, JV_BOOL (0/1) */
    char *str;       /* JV_STR: decoded, owned */
    char **items;    /* JV_ARR: [n_items] strings or numbers as text, owned */
    int n_items;
} jval;
#define J_MAX_KEYS 32
typedef struct { jval v[J_MAX_KEYS]; int n; } jobj;
/* Parses `{ "key": value, ... }` (values: strings, numbers, booleans, null,
 * arrays of those); nested objects are refused. 0, or -1 with err. */
int jobj_parse(jobj *o, const char *text, size_t len, char *err);
const jval *jobj_get(const jobj *o, const char *key);
void jobj_free(jobj *o);

/* ---- shared, reference-counted bytes (WAV, PNG, MIDI replies) ---- */
typedef struct {
    int refs;        /* references, changed atomically */
    size_t size;
    uint8_t data[];  /* [size] */
} st_blob;

/* ---- the store (studio_store.c) ---- */
typedef struct studio studio; /* opaque */
typedef struct st_disk st_disk; /* the data folder (studio_disk.c) */
/* m: the model (owned from here on); tmpdir: a private folder for renders. */
studio *studio_new(gm_model *m, const char *tmpdir, st_disk *disk, char *err); /* disk: owned, may be NULL */
int studio_n_songs(studio *st);
void studio_free(studio *st); /* stops the worker (cancelling a running job) */

/* What a handler answers: status, MIME type, body (owned blob or text). */
typedef struct {
    int status;
    const char *type;        /* "application/json", "audio/wav", ... */
    gm_buf text;             /* the body when blob is NULL */
    st_blob *blob;           /* or these bytes (one reference owned by the reply) */
    char filename[96];       /* non-empty: Content-Disposition attachment */
    int ranges;              /* the blob may be sent in part (Range: bytes=...; audio) */
} st_reply;

/* Handles one /api/ request. path: the URL path ("/api/songs/3"); query:
 * the value of ?mute= (NULL when absent) and ?name=; body: the request body. */
typedef struct { const char *mute, *name, *download; } st_query;
void studio_api(studio *st, const char *method, const char *path, const st_query *q, const uint8_t *body,
                size_t n, st_reply *r);
void st_blob_release(st_blob *b); /* drops one reference (atomic: any thread) */

/* ---- store internals shared with the API (studio_store.c) ---- */
enum { ST_WAV, ST_PNG, ST_JSON, ST_MID, ST_MUSICXML, ST_N_CACHED };
#define ST_STEM ST_N_CACHED /* a render kind beside those: one track's audio (compressed) */
typedef struct {
    int num;             /* number in its song: 0 = the upload (or the empty start) */
    int from;            /* version it was generated from; -1 for version 0 */
    char label[192];     /* what made it: "upload", "piano,drums · steps 10 · seed 1" */
    char settings[768];  /* generate's options that made it, a JSON object ("{}" for version 0) */
    char warning[256];   /* "" or what came out unlike what was asked ("drums: none written") */
    gm_score score;      /* notes carry GM_NOTE_GENERATED where the model wrote them */
    size_t n_notes;
    st_blob *cache[ST_N_CACHED]; /* ST_WAV (for mute set wav_key), ST_PNG, ST_JSON, ST_MID, ST_MUSICXML; NULL = none.
                                    Shared by every reply, so concurrent reads cost one copy */
    uint64_t used[ST_N_CACHED];  /* when each was last read (the cache drops the least recent) */
    char wav_key[128];
    st_blob **stems;     /* [n_stems] one track's audio each, NULL = not rendered */
    uint64_t *stem_used;
    int n_stems;         /* = score.n_tracks once allocated */
} st_version;

typedef struct {
    int id;
    char name[64];       /* display name only (never a path) */
    char chords[256];    /* chords given when started from nothing ("" = none) */
    uint64_t seq;        /* creation order (eviction) */
    int n_versions;
    st_version *v[ST_MAX_VERSIONS]; /* ascending num */
    int next_num;
} st_song;

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED };
typedef struct {
    int id;              /* 0 = free slot */
    int song, from;      /* input: song id and version */
    int state;           /* JOB_* */
    int step, steps;     /* denoising progress: steps done, steps in all (steps a window x windows) */
    int version;         /* result version (JOB_DONE) */
    volatile int cancel; /* read by gm_generate between steps */
    char error[GM_ERR_SIZE];
    char label[192];
    char settings[768];  /* the options, as JSON, kept with the version it makes */
    char warning[256];   /* of the result: a target that came out empty or nearly so */
    int evicted_version; /* the version dropped to make room for the result, or -1 */
    uint64_t seq;
    gm_generate_params p;   /* ranges and chords below are owned; p.drum_style is set from
                               drum_style when the job runs (the job is copied into its slot) */
    char drum_style[GM_DRUM_STYLE_NAME]; /* "" = the default */
    gm_bar_range *ranges;
    gm_chord *chords;
} st_job;

/* Locked accessors for studio_api.c. */
void st_lock(studio *st);
void st_unlock(studio *st);
const gm_layout *st_layout(studio *st);
/* The model's drum styles (gm_model_drum_style_name / _find; names never change). */
const char *st_drum_style_name(studio *st, int i);
int st_drum_style_find(studio *st, const char *name);
const char *st_drum_style_default(studio *st);
int st_chord_frames(studio *st);
int st_diffusion_steps(studio *st); /* the model's: generate's steps are 1..this */
st_song *st_song_find(studio *st, int id);                 /* locked */
st_version *st_version_find(st_song *s, int num);          /* locked */
int st_song_ids(studio *st, int *ids, int max);            /* locked: ids ascending */
/* Adds a song with version 0 = *score (moved in); returns its id or -1.
 * evicted (may be NULL): the ids of songs dropped to make room, ending with 0. */
int st_song_add(studio *st, gm_score *score, const char *name, const char *chords, int evicted[ST_MAX_SONGS + 1],
                char *err);
/* Queues a job (moved in, ownership of its arrays too); returns the id or -1 (queue full). */
int st_job_submit(studio *st, st_job *j, char *err);
st_job *st_job_find(studio *st, int id);                   /* locked */
int st_job_position(studio *st, const st_job *j);          /* locked: 0 = running/next */
int st_job_cancel(studio *st, int id);                     /* 0, or -1 for an unknown job */
/* A version rendered, through the render pool and its cache: kind ST_WAV
 * (the full mix; mute: track indices to silence, as text "0,2"), ST_PNG, or
 * ST_STEM (track `track` alone, compressed: st_stem_format). NULL with err
 * and *status (404 no such version or track, 422 refused by the library,
 * 503 too many renders). The returned blob carries one reference. */
st_blob *st_render(studio *st, int song, int num, int kind, int track, const char *mute, int *status, char *err);
/* The stems' format: file extension and MIME type ("ogg", "audio/ogg"). */
const char *st_stem_ext(void);
const char *st_stem_mime(void);
int st_stem_rate(void); /* Hz the stems are rendered at (Opus: 48000) */
/* studio_audio.c: the WAV at wav_path as a compressed file at out_path (the
 * format of st_stem_ext; for "wav", a copy). 0, or -1 with err. */
int st_encode_stem(const char *wav_path, const char *out_path, char *err);
st_blob *st_blob_new(const void *data, size_t n);
/* The data folder (studio_disk.c). Paths are made from numbers only. */
/* Opens (making it when missing) the folder; NULL with err. */
st_disk *st_disk_open(const char *dir, char *err);
void st_disk_close(st_disk *d);
const char *st_disk_dir(const st_disk *d);
/* Under the store's lock, what to write (fast, in memory): a version's
 * file (malloc'd bytes) and a song's record (malloc'd text); -1/NULL when
 * out of memory. Without the lock, writing it: num -1 = the song's record.
 * Returns the bytes written, or -1 with err. */
int st_disk_encode_version(const st_version *v, uint8_t **out, size_t *n);
char *st_disk_encode_song(const st_song *s);
long st_disk_write(st_disk *d, int song, int num, const void *data, size_t n, char *err);
void st_disk_drop_song(st_disk *d, int song);
void st_disk_drop_version(st_disk *d, int song, int num);
/* Reads every song back, in id order: calls add() for each (the song with
 * its versions, moved to the callee); what cannot be read is skipped with a
 * line on stderr. */
void st_disk_load(st_disk *d, void (*add)(void *user, st_song *s), void *user);
/* Versions: a fresh one, and freeing one's score (the cache is the store's). */
st_version *st_version_alloc(void);
/* Locked: a version's cached bytes of one kind (a new reference) or NULL;
 * keeping b (the cache takes its own reference) within ST_MAX_CACHE. */
st_blob *st_cache_get(studio *st, st_version *v, int kind);
void st_cache_put(studio *st, st_version *v, int kind, st_blob *b);

/* ---- HTTP (studio_server.c) ---- */
typedef struct studio_server studio_server;
/* Binds host:port (port 0 = any free port) and serves until stopped. */
/* header_s: seconds a request's headers may take (0 = ST_HEADER_SECONDS). */
studio_server *studio_server_start(studio *st, const char *host, int port, int header_s, char *err);
int studio_server_port(const studio_server *s);
void studio_server_stop(studio_server *s);

/* The page's files, compiled in (build/studio_web.c, from cli/studio/web/). */
typedef struct { const char *name; const unsigned char *data; size_t size; } studio_web_file;
extern const studio_web_file studio_web_files[];
extern const size_t studio_web_n_files;

/* Host header check (studio_server.c; exposed for tests of the rule). */
int studio_host_ok(const char *host_header, const char *bound_host, int port);
#endif
