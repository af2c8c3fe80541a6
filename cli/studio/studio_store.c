/* studio_store.c — the studio's memory: songs and their versions, the job
 * queue with its one worker thread, and the cache of rendered WAV and PNG.
 *
 * Everything here is bounded (studio.h: ST_MAX_*), so a long session cannot
 * fill memory: the oldest song goes when a new one would exceed ST_MAX_SONGS
 * or the store's note budget, the oldest generated version of a song when it
 * has ST_MAX_VERSIONS, rendered bytes beyond ST_MAX_CACHE, finished jobs
 * beyond ST_MAX_JOBS. Nothing a request names reaches the file system: songs
 * and versions are numbers, and renders go to fixed names in a private
 * folder made at start (mkdtemp).
 *
 * One mutex guards it all; slow work (generation, rendering) runs on deep
 * copies with the mutex released. Blobs are reference-counted so that a
 * reply being sent keeps its bytes when the cache drops them. */
#include "studio.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

/* One render asked for: requests for the same thing share it. */
typedef struct {
    int id;                /* 0 = free slot; ids grow, so the smallest queued one is the oldest */
    int song, num, kind, track;
    char key[128];         /* ST_WAV: the mute set */
    int state;             /* 0 queued, 1 running, 2 done */
    int waiters;           /* requests waiting for it; the last one frees the slot */
    st_blob *out;          /* done: the bytes (one reference held here), or NULL */
    int status;            /* done without bytes: 404, 422, 500 */
    char err[GM_ERR_SIZE];
} rtask;

#define DROP_MAX (4 * ST_MAX_SONGS + 4 * ST_MAX_VERSIONS)

struct studio {
    pthread_mutex_t mu;
    pthread_cond_t wake;       /* a job was queued, or quit */
    pthread_mutex_t render_mu; /* FluidSynth's log handlers are process-wide: one synthesis at a time */
    pthread_cond_t render_wake; /* a render was queued, or quit */
    pthread_cond_t render_done; /* a render finished */
    pthread_mutex_t disk_mu;   /* the data folder's writes and removals, in order; taken before mu, never under it */
    pthread_t worker, renderers[ST_RENDER_THREADS];
    int worker_started, n_renderers, quit;
    gm_model *model;           /* owned; used by the worker only (layout read by all) */
    st_disk *disk;             /* owned; NULL = nothing kept */
    char tmpdir[512];
    st_song *songs[ST_MAX_SONGS];
    int next_song;
    size_t store_notes;        /* notes of every version of every song */
    size_t cache_bytes;        /* bytes of every cached render (WAV, stems, PNG, JSON, MIDI) */
    uint64_t clock;            /* ticks at each cache read (least recently used goes first) */
    st_job jobs[ST_MAX_JOBS];
    int next_job;
    uint64_t seq;
    rtask renders[ST_MAX_RENDERS];
    int next_render;
    /* Evicted under the lock, removed from the folder after it (disk_mu). */
    int drop_song[DROP_MAX], n_drop_song;
    struct { int song, num; } drop_ver[DROP_MAX];
    int n_drop_ver;
};

/* ======================================================================== */
/* Blobs and small helpers                                                   */
/* ======================================================================== */

st_blob *st_blob_new(const void *data, size_t n) {
    st_blob *b = malloc(sizeof *b + n);
    if (!b) return NULL;
    b->refs = 1;
    b->size = n;
    if (n) memcpy(b->data, data, n);
    return b;
}

/* Counts are atomic: a reply being sent drops its reference from
 * libmicrohttpd's thread, without the store's mutex. */
static void blob_unref_locked(st_blob *b) {
    if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) free(b);
}

static void blob_ref(st_blob *b) { __atomic_add_fetch(&b->refs, 1, __ATOMIC_ACQ_REL); }

void st_blob_release(st_blob *b) { blob_unref_locked(b); }

void st_lock(studio *st) { pthread_mutex_lock(&st->mu); }
void st_unlock(studio *st) { pthread_mutex_unlock(&st->mu); }
const gm_layout *st_layout(studio *st) { return gm_model_layout(st->model); }
const char *st_drum_style_name(studio *st, int i) { return gm_model_drum_style_name(st->model, i); }
int st_drum_style_find(studio *st, const char *name) { return gm_model_drum_style_find(st->model, name); }
const char *st_drum_style_default(studio *st) { return gm_model_drum_style_default(st->model); }
int st_chord_frames(studio *st) { return gm_model_chord_frames(st->model); }
int st_diffusion_steps(studio *st) { return gm_model_sizes(st->model).diffusion_steps; }

/* ======================================================================== */
/* The cache: every rendered or serialised form of a version, bounded in     */
/* bytes, the least recently read dropped first                              */
/* ======================================================================== */

/* Slot i of a version: its ST_N_CACHED kinds, then one stem per track. */
static st_blob **cache_slot(st_version *v, int i, uint64_t **used) {
    if (i < ST_N_CACHED) { *used = &v->used[i]; return &v->cache[i]; }
    *used = &v->stem_used[i - ST_N_CACHED];
    return &v->stems[i - ST_N_CACHED];
}
static int cache_slots(const st_version *v) { return ST_N_CACHED + v->n_stems; }

static void slot_drop(studio *st, st_blob **b) {
    if (!*b) return;
    st->cache_bytes -= (*b)->size;
    blob_unref_locked(*b);
    *b = NULL;
}

static void version_drop_cache(studio *st, st_version *v) {
    uint64_t *u;
    for (int i = 0; i < cache_slots(v); i++) slot_drop(st, cache_slot(v, i, &u));
    v->wav_key[0] = 0;
}

/* Drops the least recently read renders until `need` more bytes fit. */
static void cache_make_room(studio *st, size_t need) {
    while (st->cache_bytes + need > ST_MAX_CACHE) {
        st_blob **oldest = NULL;
        uint64_t best = UINT64_MAX, *u;
        for (int i = 0; i < ST_MAX_SONGS; i++)
            for (int k = 0; st->songs[i] && k < st->songs[i]->n_versions; k++) {
                st_version *v = st->songs[i]->v[k];
                for (int c = 0; c < cache_slots(v); c++) {
                    st_blob **b = cache_slot(v, c, &u);
                    if (*b && *u < best) best = *u, oldest = b;
                }
            }
        if (!oldest) return;
        slot_drop(st, oldest);
    }
}

st_blob *st_cache_get(studio *st, st_version *v, int kind) {
    st_blob *b = v->cache[kind];
    if (b) {
        blob_ref(b);
        v->used[kind] = ++st->clock;
    }
    return b;
}

/* Keeps b in slot i of v (the cache takes its own reference). */
static void cache_put_slot(studio *st, st_version *v, int i, st_blob *b) {
    if (b->size > ST_MAX_CACHE) return;
    uint64_t *u;
    slot_drop(st, cache_slot(v, i, &u));
    cache_make_room(st, b->size);
    blob_ref(b);
    st->cache_bytes += b->size;
    *cache_slot(v, i, &u) = b;
    *u = ++st->clock;
}

void st_cache_put(studio *st, st_version *v, int kind, st_blob *b) { cache_put_slot(st, v, kind, b); }

st_version *st_version_alloc(void) {
    st_version *v = calloc(1, sizeof *v);
    if (v) strcpy(v->settings, "{}");
    return v;
}

static void version_free(studio *st, st_version *v) {
    if (!v) return;
    version_drop_cache(st, v);
    st->store_notes -= v->n_notes;
    gm_score_free(&v->score);
    free(v->stems);
    free(v->stem_used);
    free(v);
}

static void song_free(studio *st, st_song *s) {
    if (!s) return;
    for (int i = 0; i < s->n_versions; i++) version_free(st, s->v[i]);
    free(s);
}

st_song *st_song_find(studio *st, int id) {
    for (int i = 0; i < ST_MAX_SONGS; i++)
        if (st->songs[i] && st->songs[i]->id == id) return st->songs[i];
    return NULL;
}

st_version *st_version_find(st_song *s, int num) {
    for (int i = 0; s && i < s->n_versions; i++)
        if (s->v[i]->num == num) return s->v[i];
    return NULL;
}

int st_song_ids(studio *st, int *ids, int max) {
    int n = 0;
    for (int i = 0; i < ST_MAX_SONGS && n < max; i++)
        if (st->songs[i]) ids[n++] = st->songs[i]->id;
    for (int i = 1; i < n; i++) /* insertion sort: at most ST_MAX_SONGS */
        for (int k = i; k > 0 && ids[k - 1] > ids[k]; k--) {
            int t = ids[k];
            ids[k] = ids[k - 1];
            ids[k - 1] = t;
        }
    return n;
}

int studio_n_songs(studio *st) {
    int ids[ST_MAX_SONGS];
    pthread_mutex_lock(&st->mu);
    int n = st_song_ids(st, ids, ST_MAX_SONGS);
    pthread_mutex_unlock(&st->mu);
    return n;
}

/* Slot of the oldest song other than `keep`, or -1. */
static int oldest_song(studio *st, const st_song *keep) {
    int best = -1;
    for (int i = 0; i < ST_MAX_SONGS; i++)
        if (st->songs[i] && st->songs[i] != keep && (best < 0 || st->songs[i]->seq < st->songs[best]->seq)) best = i;
    return best;
}

/* Evicts the song in slot i (its files go after the lock: flush_drops). */
static void evict_song(studio *st, int i, int *evicted, int *n_evicted) {
    st_song *s = st->songs[i];
    if (evicted && *n_evicted < ST_MAX_SONGS) evicted[(*n_evicted)++] = s->id;
    if (st->n_drop_song < DROP_MAX) st->drop_song[st->n_drop_song++] = s->id;
    song_free(st, s);
    st->songs[i] = NULL;
}

/* Evicts the oldest songs (never `keep`) until `notes` more fit the budget. */
static int make_room_for_notes(studio *st, size_t notes, const st_song *keep, int *evicted, int *n_evicted) {
    while (st->store_notes + notes > ST_MAX_STORE_NOTES) {
        int i = oldest_song(st, keep);
        if (i < 0) return -1;
        evict_song(st, i, evicted, n_evicted);
    }
    return 0;
}

/* ======================================================================== */
/* The data folder: what changed is written after the lock is released      */
/* ======================================================================== */

/* Removes the files of what was evicted. Called with disk_mu held. */
static void flush_drops_disk_locked(studio *st) {
    int songs[DROP_MAX], n_songs;
    struct { int song, num; } vers[DROP_MAX];
    int n_vers;
    pthread_mutex_lock(&st->mu);
    n_songs = st->n_drop_song;
    memcpy(songs, st->drop_song, (size_t)n_songs * sizeof *songs);
    n_vers = st->n_drop_ver;
    memcpy(vers, st->drop_ver, (size_t)n_vers * sizeof *vers);
    st->n_drop_song = st->n_drop_ver = 0;
    pthread_mutex_unlock(&st->mu);
    for (int i = 0; i < n_songs; i++) st_disk_drop_song(st->disk, songs[i]);
    for (int i = 0; i < n_vers; i++) st_disk_drop_version(st->disk, vers[i].song, vers[i].num);
}

/* Writes song `id`'s record and its version `num` (-1: the record only),
 * after removing what was evicted. Never called with the store's lock held.
 * A song evicted meanwhile is not written (checked under the lock, with
 * disk_mu held, so no file outlives its song). */
static void persist(studio *st, int id, int num) {
    if (!st->disk) return;
    pthread_mutex_lock(&st->disk_mu);
    flush_drops_disk_locked(st);
    pthread_mutex_lock(&st->mu);
    st_song *s = st_song_find(st, id);
    st_version *v = s && num >= 0 ? st_version_find(s, num) : NULL;
    char *rec = s ? st_disk_encode_song(s) : NULL;
    uint8_t *vb = NULL;
    size_t vn = 0;
    int vok = v && !st_disk_encode_version(v, &vb, &vn);
    pthread_mutex_unlock(&st->mu);
    char err[GM_ERR_SIZE];
    if ((s && !rec) || (v && !vok)) fprintf(stderr, "%s: studio: song %d not saved: out of memory\n", cli_prog, id);
    /* The version first: a record names only versions that are there. */
    if (vok && st_disk_write(st->disk, id, num, vb, vn, err) < 0)
        fprintf(stderr, "%s: studio: song %d version %d not saved: %s\n", cli_prog, id, num, err);
    if (rec && st_disk_write(st->disk, id, -1, rec, strlen(rec), err) < 0)
        fprintf(stderr, "%s: studio: song %d not saved: %s\n", cli_prog, id, err);
    free(vb);
    free(rec);
    pthread_mutex_unlock(&st->disk_mu);
}

static void flush_drops(studio *st) {
    if (!st->disk) return;
    pthread_mutex_lock(&st->disk_mu);
    flush_drops_disk_locked(st);
    pthread_mutex_unlock(&st->disk_mu);
}

/* ======================================================================== */
/* Songs and versions                                                        */
/* ======================================================================== */

/* Appends a version (score moved in) to song s, evicting its oldest
 * generated version when full (*evicted_num, else -1); returns the version
 * or NULL (budget). Locked. */
static st_version *version_add(studio *st, st_song *s, gm_score *score, int from, const char *label,
                               const char *settings, const char *warning, int *evicted_num, char *err) {
    size_t n = gm_score_n_notes(score);
    if (evicted_num) *evicted_num = -1;
    if (n > ST_MAX_NOTES) {
        gm_fail(err, "%zu notes is more than the studio keeps per version (%d)", n, ST_MAX_NOTES);
        return NULL;
    }
    if (make_room_for_notes(st, n, s, NULL, NULL)) {
        gm_fail(err, "the store is full");
        return NULL;
    }
    st_version *v = st_version_alloc();
    if (!v) { gm_fail(err, "out of memory"); return NULL; }
    if (s->n_versions == ST_MAX_VERSIONS) { /* keep version 0 (the start), drop the oldest after it */
        if (evicted_num) *evicted_num = s->v[1]->num;
        if (st->n_drop_ver < DROP_MAX) st->drop_ver[st->n_drop_ver].song = s->id, st->drop_ver[st->n_drop_ver++].num = s->v[1]->num;
        version_free(st, s->v[1]);
        memmove(&s->v[1], &s->v[2], (size_t)(ST_MAX_VERSIONS - 2) * sizeof *s->v);
        s->n_versions--;
    }
    v->num = s->next_num++;
    v->from = from;
    gm_strlcpy(v->label, label, sizeof v->label);
    if (settings) gm_strlcpy(v->settings, settings, sizeof v->settings);
    if (warning) gm_strlcpy(v->warning, warning, sizeof v->warning);
    v->score = *score;
    memset(score, 0, sizeof *score);
    v->n_notes = n;
    st->store_notes += n;
    s->v[s->n_versions++] = v;
    return v;
}

int st_song_add(studio *st, gm_score *score, const char *name, const char *chords, int evicted[ST_MAX_SONGS + 1],
                char *err) {
    int n_evicted = 0, dummy[ST_MAX_SONGS + 1];
    if (!evicted) evicted = dummy;
    evicted[0] = 0;
    /* Refused before anything is evicted: a song the store could never hold. */
    size_t n = gm_score_n_notes(score);
    if (n > ST_MAX_NOTES) {
        gm_score_free(score);
        return gm_fail(err, "%zu notes is more than the studio keeps per song (%d)", n, ST_MAX_NOTES);
    }
    st_song *s = calloc(1, sizeof *s);
    if (!s) { gm_score_free(score); return gm_fail(err, "out of memory"); }
    int slot = -1;
    pthread_mutex_lock(&st->mu);
    for (int i = 0; i < ST_MAX_SONGS && slot < 0; i++)
        if (!st->songs[i]) slot = i;
    if (slot < 0) { /* full: the oldest song goes */
        slot = oldest_song(st, NULL);
        evict_song(st, slot, evicted, &n_evicted);
    }
    s->id = ++st->next_song;
    s->seq = ++st->seq;
    gm_strlcpy(s->name, name, sizeof s->name);
    gm_strlcpy(s->chords, chords ? chords : "", sizeof s->chords);
    if (make_room_for_notes(st, n, NULL, evicted, &n_evicted)) { /* cannot happen: n <= ST_MAX_NOTES < the budget */
        pthread_mutex_unlock(&st->mu);
        free(s);
        gm_score_free(score);
        return gm_fail(err, "the store is full");
    }
    for (int i = 0; i < ST_MAX_SONGS && !st->songs[slot]; i++) /* the budget may have freed a slot below */
        if (!st->songs[i]) { slot = i; break; }
    st->songs[slot] = s;
    int id = s->id;
    if (!version_add(st, s, score, -1, chords && chords[0] ? "new piece" : "upload", NULL, NULL, NULL, err)) {
        st->songs[slot] = NULL;
        song_free(st, s);
        id = -1;
    }
    evicted[n_evicted] = 0;
    pthread_mutex_unlock(&st->mu);
    if (id < 0) gm_score_free(score);
    else persist(st, id, 0);
    return id;
}

/* ======================================================================== */
/* Jobs                                                                      */
/* ======================================================================== */

static void job_clear(st_job *j) {
    free(j->ranges);
    free(j->chords);
    memset(j, 0, sizeof *j);
}

static int job_finished(const st_job *j) {
    return j->state == JOB_DONE || j->state == JOB_FAILED || j->state == JOB_CANCELLED;
}

st_job *st_job_find(studio *st, int id) {
    for (int i = 0; i < ST_MAX_JOBS; i++)
        if (st->jobs[i].id && st->jobs[i].id == id) return &st->jobs[i];
    return NULL;
}

int st_job_position(studio *st, const st_job *j) {
    int ahead = 0;
    for (int i = 0; i < ST_MAX_JOBS; i++) {
        const st_job *o = &st->jobs[i];
        if (o->id && o != j && (o->state == JOB_RUNNING || (o->state == JOB_QUEUED && o->seq < j->seq))) ahead++;
    }
    return ahead;
}

int st_job_submit(studio *st, st_job *j, char *err) {
    pthread_mutex_lock(&st->mu);
    int queued = 0, slot = -1;
    for (int i = 0; i < ST_MAX_JOBS; i++) {
        st_job *o = &st->jobs[i];
        if (o->id && o->state == JOB_QUEUED) queued++;
        /* A free slot, else the oldest finished job's. */
        if (!o->id && slot < 0) slot = i;
    }
    if (slot < 0)
        for (int i = 0; i < ST_MAX_JOBS; i++) {
            st_job *o = &st->jobs[i];
            if (job_finished(o) && (slot < 0 || o->seq < st->jobs[slot].seq)) slot = i;
        }
    if (queued >= ST_MAX_QUEUED || slot < 0) {
        pthread_mutex_unlock(&st->mu);
        return gm_fail(err, "the generation queue is full (%d waiting); try again when one has finished", queued);
    }
    job_clear(&st->jobs[slot]);
    st_job *n = &st->jobs[slot];
    *n = *j;
    memset(j, 0, sizeof *j); /* its arrays now belong to the slot */
    n->id = ++st->next_job;
    n->seq = ++st->seq;
    n->state = JOB_QUEUED;
    n->steps = n->p.steps;
    n->evicted_version = -1;
    int id = n->id;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->mu);
    return id;
}

int st_job_cancel(studio *st, int id) {
    pthread_mutex_lock(&st->mu);
    st_job *j = st_job_find(st, id);
    if (j && j->state == JOB_QUEUED) { /* never started: cancelled now */
        j->state = JOB_CANCELLED;
        gm_strlcpy(j->error, "cancelled", sizeof j->error);
    } else if (j && j->state == JOB_RUNNING) {
        j->cancel = 1; /* gm_generate stops at its next step */
    }
    pthread_mutex_unlock(&st->mu);
    return j ? 0 : -1;
}

typedef struct { studio *st; st_job *j; } job_progress;

static void on_progress(void *user, size_t done, size_t total) {
    job_progress *jp = user;
    pthread_mutex_lock(&jp->st->mu);
    jp->j->step = (int)done;
    jp->j->steps = (int)total;
    pthread_mutex_unlock(&jp->st->mu);
}

/* Runs job j (state RUNNING; its slot is not reused while running). Called
 * and returns with the mutex held; releases it while generating. Returns
 * the version made (to be written to the data folder), or -1. */
static int run_job(studio *st, st_job *j) {
    char err[GM_ERR_SIZE] = "";
    gm_score in, out;
    st_version *v = st_version_find(st_song_find(st, j->song), j->from);
    if (!v) {
        j->state = JOB_FAILED;
        snprintf(j->error, sizeof j->error, "song %d version %d is no longer in the store", j->song, j->from);
        return -1;
    }
    if (gm_score_copy(&in, &v->score)) {
        j->state = JOB_FAILED;
        gm_strlcpy(j->error, "out of memory", sizeof j->error);
        return -1;
    }
    job_progress jp = {st, j};
    gm_generate_params p = j->p;
    p.progress = on_progress;
    p.user_data = &jp;
    p.cancel = &j->cancel;
    p.drum_style = j->drum_style[0] ? j->drum_style : NULL;
    pthread_mutex_unlock(&st->mu);
    gm_generate_report rep;
    memset(&rep, 0, sizeof rep);
    int rc = gm_generate(st->model, &in, &p, &out, &rep, err);
    gm_score_free(&in);
    char warning[256] = "";
    if (!rc) cli_target_warning(st_layout(st), &out, &p, &rep, warning, sizeof warning);
    gm_generate_report_free(&rep);
    pthread_mutex_lock(&st->mu);
    if (rc) {
        j->state = j->cancel ? JOB_CANCELLED : JOB_FAILED;
        gm_strlcpy(j->error, j->cancel ? "cancelled" : err, sizeof j->error);
        return -1;
    }
    st_song *s = st_song_find(st, j->song);
    st_version *nv = s ? version_add(st, s, &out, j->from, j->label, j->settings, warning, &j->evicted_version, err) : NULL;
    if (!nv) {
        if (!s) snprintf(err, sizeof err, "song %d was evicted from the store while generating", j->song);
        gm_score_free(&out);
        j->state = JOB_FAILED;
        gm_strlcpy(j->error, err, sizeof j->error);
        return -1;
    }
    gm_strlcpy(j->warning, warning, sizeof j->warning);
    j->version = nv->num;
    j->step = j->steps;
    j->state = JOB_DONE;
    return nv->num;
}

/* The worker: the oldest queued job, one at a time, until quit. */
static void *worker_main(void *arg) {
    studio *st = arg;
    pthread_mutex_lock(&st->mu);
    while (!st->quit) {
        st_job *next = NULL;
        for (int i = 0; i < ST_MAX_JOBS; i++) {
            st_job *o = &st->jobs[i];
            if (o->id && o->state == JOB_QUEUED && (!next || o->seq < next->seq)) next = o;
        }
        if (!next) {
            pthread_cond_wait(&st->wake, &st->mu);
            continue;
        }
        next->state = JOB_RUNNING;
        int song = next->song, made = run_job(st, next);
        if (made >= 0) { /* kept: written with the lock released */
            pthread_mutex_unlock(&st->mu);
            persist(st, song, made);
            pthread_mutex_lock(&st->mu);
        }
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* ======================================================================== */
/* Rendering (full-mix WAV, a track's stem, PNG): a pool of ST_RENDER_THREADS */
/* fed by a queue of at most ST_MAX_RENDERS; results cached per version      */
/* ======================================================================== */

/* Reads a whole file into a blob and removes it. */
static st_blob *slurp_and_unlink(const char *path, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) { gm_fail(err, "cannot read the rendered file"); return NULL; }
    st_blob *b = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (b = malloc(sizeof *b + (size_t)n))) {
            b->refs = 1;
            b->size = (size_t)n;
            if (fread(b->data, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
        }
    }
    fclose(f);
    unlink(path);
    if (!b) gm_fail(err, "cannot read the rendered file");
    return b;
}

/* "0,2" → tracks 0 and 2 lose their notes (s may be NULL: only checked
 * against n_tracks). Unknown indices are errors. */
static int apply_mute(gm_score *s, int n_tracks, const char *mute, char *err) {
    for (const char *p = mute; p && *p;) {
        char *end;
        long i = strtol(p, &end, 10);
        if (end == p || i < 0 || i >= n_tracks) return gm_fail(err, "mute: '%s' names no track", mute);
        if (s) s->tracks[i].n_notes = 0;
        if (*end && *end != ',') return gm_fail(err, "mute: '%s' is not a list of track numbers", mute);
        p = *end == ',' ? end + 1 : end;
    }
    return 0;
}

/* The cached result for a request, with a new reference, or NULL. Locked. */
static st_blob *cached(studio *st, st_version *v, int kind, int track, const char *key) {
    if (kind == ST_STEM) {
        if (track >= v->n_stems || !v->stems[track]) return NULL;
        blob_ref(v->stems[track]);
        v->stem_used[track] = ++st->clock;
        return v->stems[track];
    }
    if (kind == ST_WAV && strcmp(v->wav_key, key)) return NULL;
    return st_cache_get(st, v, kind);
}

/* Keeps a finished render in its version's cache. Locked. */
static void cache_result(studio *st, st_version *v, int kind, int track, const char *key, st_blob *b) {
    if (kind == ST_STEM) {
        if (!v->stems) {
            int n = v->score.n_tracks;
            v->stems = calloc((size_t)(n ? n : 1), sizeof *v->stems);
            v->stem_used = calloc((size_t)(n ? n : 1), sizeof *v->stem_used);
            if (!v->stems || !v->stem_used) {
                free(v->stems), free(v->stem_used);
                v->stems = NULL, v->stem_used = NULL;
                return;
            }
            v->n_stems = n;
        }
        if (track < v->n_stems) cache_put_slot(st, v, ST_N_CACHED + track, b);
        return;
    }
    cache_put_slot(st, v, kind, b);
    if (kind == ST_WAV) gm_strlcpy(v->wav_key, key, sizeof v->wav_key);
}

/* The end of the last note of s, in ticks (every stem lasts this long). */
static int64_t last_note_end(const gm_score *s) {
    int64_t e = 0;
    for (int t = 0; t < s->n_tracks; t++)
        for (size_t k = 0; k < s->tracks[t].n_notes; k++) {
            const gm_note *n = &s->tracks[t].notes[k];
            if (n->tick + n->duration > e) e = n->tick + n->duration;
        }
    return e;
}

/* One render, without the lock: score s (ours to change) → bytes. */
static st_blob *render_one(studio *st, int id, gm_score *s, int kind, int track, const char *key, int *status,
                           char *err) {
    char path[700], out[700];
    st_blob *b = NULL;
    *status = 422; /* what the library refuses: too long, no SoundFont */
    if (kind == ST_PNG) {
        snprintf(path, sizeof path, "%s/render-%d.png", st->tmpdir, id);
        gm_roll_params rp = gm_roll_default_params();
        rp.title = "";
        if (gm_plot_pianoroll(s, st_layout(st), &rp, path, err) == 0) b = slurp_and_unlink(path, err);
        return b;
    }
    gm_render_params rp = gm_render_default_params();
    rp.max_seconds = ST_MAX_SECONDS;
    if (kind == ST_STEM) {
        rp.until_tick = last_note_end(s);
        rp.sample_rate = st_stem_rate();
        for (int t = 0; t < s->n_tracks; t++)
            if (t != track) s->tracks[t].n_notes = 0;
    } else if (apply_mute(s, s->n_tracks, key, err)) {
        return NULL;
    }
    snprintf(path, sizeof path, "%s/render-%d.wav", st->tmpdir, id);
    pthread_mutex_lock(&st->render_mu);
    int rc = gm_render_wav(s, path, &rp, NULL, err);
    pthread_mutex_unlock(&st->render_mu);
    if (rc) return NULL;
    if (kind == ST_WAV) return slurp_and_unlink(path, err);
    snprintf(out, sizeof out, "%s/render-%d.%s", st->tmpdir, id, st_stem_ext());
    rc = st_encode_stem(path, out, err);
    unlink(path);
    if (rc) { unlink(out); *status = 500; return NULL; }
    return slurp_and_unlink(out, err);
}

static void *renderer_main(void *arg) {
    studio *st = arg;
    pthread_mutex_lock(&st->mu);
    while (!st->quit) {
        rtask *t = NULL;
        for (int i = 0; i < ST_MAX_RENDERS; i++) {
            rtask *o = &st->renders[i];
            if (o->id && o->state == 0 && (!t || o->id < t->id)) t = o;
        }
        if (!t) {
            pthread_cond_wait(&st->render_wake, &st->mu);
            continue;
        }
        t->state = 1;
        st_version *v = st_version_find(st_song_find(st, t->song), t->num);
        gm_score s;
        int ok = v && !gm_score_copy(&s, &v->score);
        if (!ok) {
            t->status = v ? 500 : 404;
            gm_strlcpy(t->err, v ? "out of memory" : "the version was evicted while waiting to be rendered", sizeof t->err);
        } else {
            int id = t->id, kind = t->kind, track = t->track, status = 500;
            char key[128], err[GM_ERR_SIZE] = "";
            gm_strlcpy(key, t->key, sizeof key);
            pthread_mutex_unlock(&st->mu);
            st_blob *b = render_one(st, id, &s, kind, track, key, &status, err);
            gm_score_free(&s);
            pthread_mutex_lock(&st->mu);
            if (b) {
                v = st_version_find(st_song_find(st, t->song), t->num);
                if (v) cache_result(st, v, kind, track, key, b);
                t->out = b; /* the task's reference */
            } else {
                t->status = status;
                gm_strlcpy(t->err, err[0] ? err : "rendering failed", sizeof t->err);
            }
        }
        t->state = 2;
        pthread_cond_broadcast(&st->render_done);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

st_blob *st_render(studio *st, int song, int num, int kind, int track, const char *mute, int *status, char *err) {
    char key[128];
    if (mute && strlen(mute) >= sizeof key) { *status = 422; gm_fail(err, "mute: too long"); return NULL; }
    gm_strlcpy(key, kind == ST_WAV && mute ? mute : "", sizeof key);
    pthread_mutex_lock(&st->mu);
    st_version *v = st_version_find(st_song_find(st, song), num);
    st_blob *b = NULL;
    rtask *t = NULL;
    if (!v) { *status = 404; gm_fail(err, "no version %d of song %d", num, song); goto out; }
    if (kind == ST_STEM && (track < 0 || track >= v->score.n_tracks)) {
        *status = 404;
        gm_fail(err, "version %d of song %d has no track %d", num, song, track);
        goto out;
    }
    if (kind == ST_WAV && apply_mute(NULL, v->score.n_tracks, key, err)) { *status = 422; goto out; }
    if ((b = cached(st, v, kind, track, key))) goto out;
    for (int i = 0; i < ST_MAX_RENDERS && !t; i++) { /* the same render already asked for */
        rtask *o = &st->renders[i];
        if (o->id && o->song == song && o->num == num && o->kind == kind && o->track == track && !strcmp(o->key, key) &&
            (o->state < 2 || o->out))
            t = o;
    }
    for (int i = 0; i < ST_MAX_RENDERS && !t; i++)
        if (!st->renders[i].id) {
            t = &st->renders[i];
            memset(t, 0, sizeof *t);
            t->id = ++st->next_render;
            t->song = song, t->num = num, t->kind = kind, t->track = track;
            gm_strlcpy(t->key, key, sizeof t->key);
            pthread_cond_signal(&st->render_wake);
        }
    if (!t) {
        *status = 503;
        gm_fail(err, "%d renders are waiting; try again in a moment", ST_MAX_RENDERS);
        goto out;
    }
    t->waiters++;
    while (t->state != 2) pthread_cond_wait(&st->render_done, &st->mu);
    if (t->out) blob_ref(b = t->out);
    else { *status = t->status; gm_strlcpy(err, t->err, GM_ERR_SIZE); }
    if (--t->waiters == 0) {
        blob_unref_locked(t->out);
        memset(t, 0, sizeof *t);
    }
out:
    pthread_mutex_unlock(&st->mu);
    return b;
}

/* ======================================================================== */
/* Life cycle                                                                */
/* ======================================================================== */

/* A song read back from the data folder joins the store (at start, before
 * any thread runs), within the same bounds as a new one. */
static void load_song(void *user, st_song *s) {
    studio *st = user;
    size_t notes = 0;
    for (int i = 0; i < s->n_versions; i++) notes += s->v[i]->n_notes;
    int slot = -1;
    for (int i = 0; i < ST_MAX_SONGS && slot < 0; i++)
        if (!st->songs[i]) slot = i;
    if (slot < 0 || st->store_notes + notes > ST_MAX_STORE_NOTES) {
        /* Over the bounds (a folder from a larger build, or edited): the
         * oldest make room, as when adding. */
        int dummy[ST_MAX_SONGS + 1], nd = 0;
        if (slot < 0) evict_song(st, slot = oldest_song(st, NULL), dummy, &nd);
        if (make_room_for_notes(st, notes, NULL, dummy, &nd)) {
            fprintf(stderr, "%s: studio: skipped song %d: larger than the store holds\n", cli_prog, s->id);
            for (int i = 0; i < s->n_versions; i++) { gm_score_free(&s->v[i]->score); free(s->v[i]); }
            free(s);
            return;
        }
        for (int i = 0; i < ST_MAX_SONGS; i++)
            if (!st->songs[i]) { slot = i; break; }
    }
    for (int i = 0; i < s->n_versions; i++) {
        st->store_notes += s->v[i]->n_notes;
        if (s->v[i]->num >= s->next_num) s->next_num = s->v[i]->num + 1;
    }
    st->songs[slot] = s;
    if (s->id > st->next_song) st->next_song = s->id;
    if (s->seq > st->seq) st->seq = s->seq;
}

studio *studio_new(gm_model *m, const char *tmpdir, st_disk *disk, char *err) {
    studio *st = calloc(1, sizeof *st);
    if (!st) { gm_model_free(m); st_disk_close(disk); gm_fail(err, "out of memory"); return NULL; }
    st->model = m;
    st->disk = disk;
    gm_strlcpy(st->tmpdir, tmpdir, sizeof st->tmpdir);
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->render_mu, NULL);
    pthread_mutex_init(&st->disk_mu, NULL);
    pthread_cond_init(&st->wake, NULL);
    pthread_cond_init(&st->render_wake, NULL);
    pthread_cond_init(&st->render_done, NULL);
    if (disk) {
        st_disk_load(disk, load_song, st);
        flush_drops(st);
    }
    if (pthread_create(&st->worker, NULL, worker_main, st)) {
        gm_fail(err, "cannot start the generation thread");
        studio_free(st);
        return NULL;
    }
    st->worker_started = 1;
    for (int i = 0; i < ST_RENDER_THREADS; i++) {
        if (pthread_create(&st->renderers[i], NULL, renderer_main, st)) {
            gm_fail(err, "cannot start the render threads");
            studio_free(st);
            return NULL;
        }
        st->n_renderers++;
    }
    return st;
}

void studio_free(studio *st) {
    if (!st) return;
    pthread_mutex_lock(&st->mu);
    st->quit = 1;
    for (int i = 0; i < ST_MAX_JOBS; i++) st->jobs[i].cancel = 1;
    pthread_cond_broadcast(&st->wake);
    pthread_cond_broadcast(&st->render_wake);
    pthread_mutex_unlock(&st->mu);
    if (st->worker_started) pthread_join(st->worker, NULL);
    for (int i = 0; i < st->n_renderers; i++) pthread_join(st->renderers[i], NULL);
    for (int i = 0; i < ST_MAX_SONGS; i++) song_free(st, st->songs[i]);
    for (int i = 0; i < ST_MAX_JOBS; i++) job_clear(&st->jobs[i]);
    for (int i = 0; i < ST_MAX_RENDERS; i++) blob_unref_locked(st->renders[i].out);
    gm_model_free(st->model);
    st_disk_close(st->disk);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->render_mu);
    pthread_mutex_destroy(&st->disk_mu);
    pthread_cond_destroy(&st->wake);
    pthread_cond_destroy(&st->render_wake);
    pthread_cond_destroy(&st->render_done);
    free(st);
}
