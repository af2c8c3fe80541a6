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

#include "util.h"

struct studio {
    pthread_mutex_t mu;
    pthread_cond_t wake;       /* a job was queued, or quit */
    pthread_mutex_t render_mu; /* FluidSynth's log handlers are process-wide: one render at a time */
    pthread_t worker;
    int worker_started, quit;
    gm_model *model;           /* owned; used by the worker only (layout read by all) */
    char tmpdir[512];
    st_song *songs[ST_MAX_SONGS];
    int next_song;
    size_t store_notes;        /* notes of every version of every song */
    size_t cache_bytes;        /* bytes of every cached render (WAV, PNG, JSON, MIDI) */
    st_job jobs[ST_MAX_JOBS];
    int next_job;
    uint64_t seq;
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

static void version_drop_cache(studio *st, st_version *v) {
    for (int k = 0; k < ST_N_CACHED; k++) {
        if (v->cache[k]) st->cache_bytes -= v->cache[k]->size;
        blob_unref_locked(v->cache[k]);
        v->cache[k] = NULL;
    }
    v->wav_key[0] = 0;
}

st_blob *st_cache_get(st_version *v, int kind) {
    st_blob *b = v->cache[kind];
    if (b) blob_ref(b);
    return b;
}

void st_cache_put(studio *st, st_version *v, int kind, st_blob *b) {
    if (b->size > ST_MAX_CACHE) return;
    if (v->cache[kind]) {
        st->cache_bytes -= v->cache[kind]->size;
        blob_unref_locked(v->cache[kind]);
        v->cache[kind] = NULL;
    }
    /* Over the budget: every other cache goes (it is all re-made on demand). */
    for (int i = 0; i < ST_MAX_SONGS && st->cache_bytes + b->size > ST_MAX_CACHE; i++)
        for (int k = 0; st->songs[i] && k < st->songs[i]->n_versions; k++) version_drop_cache(st, st->songs[i]->v[k]);
    blob_ref(b);
    st->cache_bytes += b->size;
    v->cache[kind] = b;
}

static void version_free(studio *st, st_version *v) {
    if (!v) return;
    version_drop_cache(st, v);
    st->store_notes -= v->n_notes;
    gm_score_free(&v->score);
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

/* Slot of the oldest song other than `keep`, or -1. */
static int oldest_song(studio *st, const st_song *keep) {
    int best = -1;
    for (int i = 0; i < ST_MAX_SONGS; i++)
        if (st->songs[i] && st->songs[i] != keep && (best < 0 || st->songs[i]->seq < st->songs[best]->seq)) best = i;
    return best;
}

/* Evicts the oldest songs (never `keep`) until `notes` more fit the budget. */
static int make_room_for_notes(studio *st, size_t notes, const st_song *keep) {
    while (st->store_notes + notes > ST_MAX_STORE_NOTES) {
        int i = oldest_song(st, keep);
        if (i < 0) return -1;
        song_free(st, st->songs[i]);
        st->songs[i] = NULL;
    }
    return 0;
}

/* ======================================================================== */
/* Songs and versions                                                        */
/* ======================================================================== */

/* Appends a version (score moved in) to song s, evicting its oldest
 * generated version when full; returns the version or NULL (budget). */
static st_version *version_add(studio *st, st_song *s, gm_score *score, int from, const char *label, char *err) {
    size_t n = gm_score_n_notes(score);
    if (n > ST_MAX_NOTES) {
        gm_fail(err, "%zu notes is more than the studio keeps per version (%d)", n, ST_MAX_NOTES);
        return NULL;
    }
    if (make_room_for_notes(st, n, s)) {
        gm_fail(err, "the store is full");
        return NULL;
    }
    st_version *v = calloc(1, sizeof *v);
    if (!v) { gm_fail(err, "out of memory"); return NULL; }
    if (s->n_versions == ST_MAX_VERSIONS) { /* keep version 0 (the start), drop the oldest after it */
        version_free(st, s->v[1]);
        memmove(&s->v[1], &s->v[2], (size_t)(ST_MAX_VERSIONS - 2) * sizeof *s->v);
        s->n_versions--;
    }
    v->num = s->next_num++;
    v->from = from;
    gm_strlcpy(v->label, label, sizeof v->label);
    v->score = *score;
    memset(score, 0, sizeof *score);
    v->n_notes = n;
    st->store_notes += n;
    s->v[s->n_versions++] = v;
    return v;
}

int st_song_add(studio *st, gm_score *score, const char *name, const char *chords, char *err) {
    st_song *s = calloc(1, sizeof *s);
    if (!s) { gm_score_free(score); return gm_fail(err, "out of memory"); }
    int slot = -1;
    pthread_mutex_lock(&st->mu);
    for (int i = 0; i < ST_MAX_SONGS && slot < 0; i++)
        if (!st->songs[i]) slot = i;
    if (slot < 0) { /* full: the oldest song goes */
        slot = oldest_song(st, NULL);
        song_free(st, st->songs[slot]);
        st->songs[slot] = NULL;
    }
    s->id = ++st->next_song;
    s->seq = ++st->seq;
    gm_strlcpy(s->name, name, sizeof s->name);
    gm_strlcpy(s->chords, chords ? chords : "", sizeof s->chords);
    st->songs[slot] = s;
    int id = s->id;
    if (!version_add(st, s, score, -1, chords && chords[0] ? "new piece" : "upload", err)) {
        st->songs[slot] = NULL;
        song_free(st, s);
        id = -1;
    }
    pthread_mutex_unlock(&st->mu);
    if (id < 0) gm_score_free(score);
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
            if ((o->state == JOB_DONE || o->state == JOB_FAILED) && (slot < 0 || o->seq < st->jobs[slot].seq)) slot = i;
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
    int id = n->id;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->mu);
    return id;
}

int st_job_cancel(studio *st, int id) {
    pthread_mutex_lock(&st->mu);
    st_job *j = st_job_find(st, id);
    if (j && j->state == JOB_QUEUED) { /* never started: fail it now */
        j->state = JOB_FAILED;
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
 * and returns with the mutex held; releases it while generating. */
static void run_job(studio *st, st_job *j) {
    char err[GM_ERR_SIZE] = "";
    gm_score in, out;
    st_version *v = st_version_find(st_song_find(st, j->song), j->from);
    if (!v) {
        j->state = JOB_FAILED;
        snprintf(j->error, sizeof j->error, "song %d version %d is no longer in the store", j->song, j->from);
        return;
    }
    if (gm_score_copy(&in, &v->score)) {
        j->state = JOB_FAILED;
        gm_strlcpy(j->error, "out of memory", sizeof j->error);
        return;
    }
    job_progress jp = {st, j};
    gm_generate_params p = j->p;
    p.progress = on_progress;
    p.user_data = &jp;
    p.cancel = &j->cancel;
    p.drum_style = j->drum_style[0] ? j->drum_style : NULL;
    pthread_mutex_unlock(&st->mu);
    int rc = gm_generate(st->model, &in, &p, &out, NULL, err);
    gm_score_free(&in);
    pthread_mutex_lock(&st->mu);
    if (rc) {
        j->state = JOB_FAILED;
        gm_strlcpy(j->error, err, sizeof j->error);
        return;
    }
    st_song *s = st_song_find(st, j->song);
    st_version *nv = s ? version_add(st, s, &out, j->from, j->label, err) : NULL;
    if (!nv) {
        if (!s) snprintf(err, sizeof err, "song %d was evicted from the store while generating", j->song);
        gm_score_free(&out);
        j->state = JOB_FAILED;
        gm_strlcpy(j->error, err, sizeof j->error);
        return;
    }
    j->version = nv->num;
    j->step = j->steps;
    j->state = JOB_DONE;
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
        run_job(st, next);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* ======================================================================== */
/* Rendering (WAV, PNG), cached per version                                  */
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

/* Copy of a version's score under the lock, or its cached render of `kind`
 * (for a WAV: of the same mute set) in *cached; -1 with err when absent. */
static int copy_version(studio *st, int song, int num, gm_score *out, st_blob **cached, int kind,
                        const char *key, char *err) {
    pthread_mutex_lock(&st->mu);
    st_version *v = st_version_find(st_song_find(st, song), num);
    int rc = -1;
    if (!v) gm_fail(err, "no version %d of song %d", num, song);
    else if (v->cache[kind] && (kind != ST_WAV || !strcmp(v->wav_key, key))) {
        *cached = st_cache_get(v, kind);
        rc = 0;
    } else if (gm_score_copy(out, &v->score)) gm_fail(err, "out of memory");
    else rc = 0;
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* Keeps b as version (song, num)'s cached render when it still exists. */
static void cache_store(studio *st, int song, int num, st_blob *b, int kind, const char *key) {
    pthread_mutex_lock(&st->mu);
    st_version *v = st_version_find(st_song_find(st, song), num);
    if (v) {
        st_cache_put(st, v, kind, b);
        if (kind == ST_WAV) gm_strlcpy(v->wav_key, key, sizeof v->wav_key);
    }
    pthread_mutex_unlock(&st->mu);
}

/* "0,2" → tracks 0 and 2 lose their notes. Unknown indices are errors. */
static int apply_mute(gm_score *s, const char *mute, char *err) {
    for (const char *p = mute; p && *p;) {
        char *end;
        long i = strtol(p, &end, 10);
        if (end == p || i < 0 || i >= s->n_tracks) return gm_fail(err, "mute: '%s' names no track", mute);
        s->tracks[i].n_notes = 0;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return gm_fail(err, "mute: '%s' is not a list of track numbers", mute);
    }
    return 0;
}

st_blob *st_render_wav(studio *st, int song, int num, const char *mute, char *err) {
    char key[128];
    if (mute && strlen(mute) >= sizeof key) { gm_fail(err, "mute: too long"); return NULL; }
    gm_strlcpy(key, mute ? mute : "", sizeof key);
    gm_score s;
    st_blob *b = NULL;
    if (copy_version(st, song, num, &s, &b, ST_WAV, key, err)) return NULL;
    if (b) return b;
    if (apply_mute(&s, key, err)) { gm_score_free(&s); return NULL; }
    char path[600];
    snprintf(path, sizeof path, "%s/render.wav", st->tmpdir);
    gm_render_params rp = gm_render_default_params();
    rp.max_seconds = ST_MAX_SECONDS;
    pthread_mutex_lock(&st->render_mu);
    if (gm_render_wav(&s, path, &rp, NULL, err) == 0) b = slurp_and_unlink(path, err);
    pthread_mutex_unlock(&st->render_mu);
    gm_score_free(&s);
    if (b) cache_store(st, song, num, b, ST_WAV, key);
    return b;
}

st_blob *st_render_png(studio *st, int song, int num, char *err) {
    gm_score s;
    st_blob *b = NULL;
    if (copy_version(st, song, num, &s, &b, ST_PNG, "", err)) return NULL;
    if (b) return b;
    char path[600], title[96];
    snprintf(path, sizeof path, "%s/render.png", st->tmpdir);
    snprintf(title, sizeof title, "song %d, version %d", song, num);
    gm_roll_params rp = gm_roll_default_params();
    rp.title = title;
    pthread_mutex_lock(&st->render_mu);
    if (gm_plot_pianoroll(&s, st_layout(st), &rp, path, err) == 0) b = slurp_and_unlink(path, err);
    pthread_mutex_unlock(&st->render_mu);
    gm_score_free(&s);
    if (b) cache_store(st, song, num, b, ST_PNG, "");
    return b;
}

/* ======================================================================== */
/* Life cycle                                                                */
/* ======================================================================== */

studio *studio_new(gm_model *m, const char *tmpdir, char *err) {
    studio *st = calloc(1, sizeof *st);
    if (!st) { gm_model_free(m); gm_fail(err, "out of memory"); return NULL; }
    st->model = m;
    gm_strlcpy(st->tmpdir, tmpdir, sizeof st->tmpdir);
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->render_mu, NULL);
    pthread_cond_init(&st->wake, NULL);
    if (pthread_create(&st->worker, NULL, worker_main, st)) {
        gm_fail(err, "cannot start the generation thread");
        studio_free(st);
        return NULL;
    }
    st->worker_started = 1;
    return st;
}

void studio_free(studio *st) {
    if (!st) return;
    pthread_mutex_lock(&st->mu);
    st->quit = 1;
    for (int i = 0; i < ST_MAX_JOBS; i++) st->jobs[i].cancel = 1;
    pthread_cond_broadcast(&st->wake);
    pthread_mutex_unlock(&st->mu);
    if (st->worker_started) pthread_join(st->worker, NULL);
    for (int i = 0; i < ST_MAX_SONGS; i++) song_free(st, st->songs[i]);
    for (int i = 0; i < ST_MAX_JOBS; i++) job_clear(&st->jobs[i]);
    gm_model_free(st->model);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->render_mu);
    pthread_cond_destroy(&st->wake);
    free(st);
}
