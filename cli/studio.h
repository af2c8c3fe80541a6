/* studio.h — what the files of `getmusic studio` share (issue 11).
 *
 *   cmd_studio.c     the subcommand: options, start, wait for Ctrl-C, stop
 *   studio_server.c  HTTP through libmicrohttpd: Host check, body limits,
 *                    the page's files (compiled in), hands /api/ to the API
 *   studio_api.c     the JSON API: routes, options, replies
 *   studio_store.c   songs and their versions, the job queue and its worker
 *                    thread, rendered WAV/PNG cache; every bound lives here
 *   studio_json.c    a growable string buffer and a small JSON reader
 *
 * Threads: libmicrohttpd runs one thread per connection; every handler
 * takes the store's one mutex for what it reads or changes, and never holds
 * it across slow work (generation, rendering). One worker thread generates.
 */
#ifndef GM_STUDIO_H
#define GM_STUDIO_H
#include <stddef.h>
#include <stdint.h>

#include "getmusic.h"

/* ---- bounds (the README states the memory bound they give) ---- */
#define ST_MAX_UPLOAD (8u << 20)   /* bytes of a MIDI upload */
#define ST_MAX_JSON (64u << 10)    /* bytes of a JSON request body */
#define ST_MAX_SONGS 8             /* songs kept; the oldest is evicted */
#define ST_MAX_VERSIONS 16         /* versions per song; the oldest generated one goes */
#define ST_MAX_NOTES 400000        /* notes of one version */
#define ST_MAX_STORE_NOTES 2000000 /* notes of every version together (48 MB) */
#define ST_MAX_CACHE (192u << 20)  /* rendered WAV + PNG bytes kept */
#define ST_MAX_JOBS 64             /* jobs remembered (finished ones forgotten first) */
#define ST_MAX_QUEUED 16           /* jobs waiting; more are refused (503) */
#define ST_MAX_SECONDS 600.0       /* longest piece rendered to WAV */
#define ST_MAX_CONNECTIONS 256     /* open connections (libmicrohttpd refuses more) */
#define ST_MAX_INFLIGHT (64u << 20) /* bytes of request bodies being received, all together */

/* ---- string buffer (studio_json.c) ---- */
typedef struct {
    char *s;     /* NUL-terminated, malloc'd; NULL until the first append */
    size_t n;    /* length without the NUL */
    size_t cap;
    int oom;     /* an append failed: the text is incomplete */
} sbuf;
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_str(sbuf *b, const char *s); /* a JSON string literal, escaped */
void sb_free(sbuf *b);

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
/* m: the model (owned from here on); tmpdir: a private folder for renders. */
studio *studio_new(gm_model *m, const char *tmpdir, char *err);
void studio_free(studio *st); /* stops the worker (cancelling a running job) */

/* What a handler answers: status, MIME type, body (owned blob or text). */
typedef struct {
    int status;
    const char *type;        /* "application/json", "audio/wav", ... */
    sbuf text;               /* the body when blob is NULL */
    st_blob *blob;           /* or these bytes (one reference owned by the reply) */
    char filename[96];       /* non-empty: Content-Disposition attachment */
} st_reply;

/* Handles one /api/ request. path: the URL path ("/api/songs/3"); query:
 * the value of ?mute= (NULL when absent) and ?name=; body: the request body. */
typedef struct { const char *mute, *name, *download; } st_query;
void studio_api(studio *st, const char *method, const char *path, const st_query *q, const uint8_t *body,
                size_t n, st_reply *r);
void st_blob_release(st_blob *b); /* drops one reference (atomic: any thread) */

/* ---- store internals shared with the API (studio_store.c) ---- */
enum { ST_WAV, ST_PNG, ST_JSON, ST_MID, ST_N_CACHED };
typedef struct {
    int num;             /* number in its song: 0 = the upload (or the empty start) */
    int from;            /* version it was generated from; -1 for version 0 */
    char label[192];     /* what made it: "upload", "piano,drums · steps 10 · seed 1" */
    gm_score score;      /* notes carry GM_NOTE_GENERATED where the model wrote them */
    size_t n_notes;
    st_blob *cache[ST_N_CACHED]; /* ST_WAV (for mute set wav_key), ST_PNG, ST_JSON, ST_MID; NULL = none.
                                    Shared by every reply, so concurrent reads cost one copy */
    char wav_key[128];
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

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED };
typedef struct {
    int id;              /* 0 = free slot */
    int song, from;      /* input: song id and version */
    int state;           /* JOB_* */
    int step, steps;     /* denoising progress */
    int version;         /* result version (JOB_DONE) */
    volatile int cancel; /* read by gm_generate between steps */
    char error[GM_ERR_SIZE];
    char label[192];
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
st_song *st_song_find(studio *st, int id);                 /* locked */
st_version *st_version_find(st_song *s, int num);          /* locked */
int st_song_ids(studio *st, int *ids, int max);            /* locked: ids ascending */
/* Adds a song with version 0 = *score (moved in); returns its id or -1. */
int st_song_add(studio *st, gm_score *score, const char *name, const char *chords, char *err);
/* Queues a job (moved in, ownership of its arrays too); returns the id or -1 (queue full). */
int st_job_submit(studio *st, st_job *j, char *err);
st_job *st_job_find(studio *st, int id);                   /* locked */
int st_job_position(studio *st, const st_job *j);          /* locked: 0 = running/next */
int st_job_cancel(studio *st, int id);                     /* 0, or -1 for an unknown job */
/* Rendered WAV (mute: track indices to silence, as text "0,2") or PNG of a
 * version, cached; NULL with err. The returned blob carries one reference. */
st_blob *st_render_wav(studio *st, int song, int num, const char *mute, char *err);
st_blob *st_render_png(studio *st, int song, int num, char *err);
st_blob *st_blob_new(const void *data, size_t n);
/* Locked: a version's cached bytes of one kind (a new reference) or NULL;
 * keeping b (the cache takes its own reference) within ST_MAX_CACHE. */
st_blob *st_cache_get(st_version *v, int kind);
void st_cache_put(studio *st, st_version *v, int kind, st_blob *b);

/* ---- HTTP (studio_server.c) ---- */
typedef struct studio_server studio_server;
/* Binds host:port (port 0 = any free port) and serves until stopped. */
studio_server *studio_server_start(studio *st, const char *host, int port, char *err);
int studio_server_port(const studio_server *s);
void studio_server_stop(studio_server *s);

/* The page's files, compiled in (build/studio_web.c, from web/). */
typedef struct { const char *name; const unsigned char *data; size_t size; } studio_web_file;
extern const studio_web_file studio_web_files[];
extern const size_t studio_web_n_files;

/* Host header check (studio_server.c; exposed for tests of the rule). */
int studio_host_ok(const char *host_header, const char *bound_host, int port);
#endif
