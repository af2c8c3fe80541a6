/* studio_disk.c — the studio's data folder (issue 22): the songs and their
 * versions, kept across restarts.
 *
 *   DIR/ID/song.json   {"id", "name", "chords", "seq", "next_num"}
 *   DIR/ID/vN.gmv      one version: a text head ("getmusic-studio-version 1",
 *                      then a one-line JSON object: num, from, label,
 *                      settings, warning), then the score in binary
 *                      (little-endian, every count bounded), then an FNV-1a
 *                      checksum of all that precedes it.
 *
 * Every file is written atomically (util.h: temporary file, fsync, rename),
 * so a crash leaves the old file or the new one. Names are made from
 * numbers only. On start, whatever cannot be read (a truncated file, a bad
 * checksum, a count out of bounds, a folder that is not a song) is skipped
 * with one line on stderr, never trusted. The store (studio_store.c) bounds
 * what is kept, so the folder is bounded too; it drops the files of what it
 * evicts. */
#include "studio.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

struct st_disk { char dir[512]; };

#define HEAD "getmusic-studio-version 1\n"
#define MAX_HEAD_LINE (8u << 10)
#define MAX_FILE (64u << 20)

static int mkdirs(const char *path) {
    char p[600];
    gm_strlcpy(p, path, sizeof p);
    for (char *q = p + 1; *q; q++)
        if (*q == '/') {
            *q = 0;
            if (mkdir(p, 0755) && errno != EEXIST) return -1;
            *q = '/';
        }
    return mkdir(p, 0755) && errno != EEXIST ? -1 : 0;
}

st_disk *st_disk_open(const char *dir, char *err) {
    if (!dir || !dir[0] || strlen(dir) > 400) { gm_fail(err, "--data: give a folder (at most 400 characters)"); return NULL; }
    if (mkdirs(dir)) { gm_fail(err, "--data %s: cannot make the folder: %s", dir, strerror(errno)); return NULL; }
    struct stat sb;
    if (stat(dir, &sb) || !S_ISDIR(sb.st_mode) || access(dir, W_OK | X_OK)) {
        gm_fail(err, "--data %s: not a folder this user can write", dir);
        return NULL;
    }
    st_disk *d = calloc(1, sizeof *d);
    if (!d) { gm_fail(err, "out of memory"); return NULL; }
    gm_strlcpy(d->dir, dir, sizeof d->dir);
    return d;
}

void st_disk_close(st_disk *d) { free(d); }
const char *st_disk_dir(const st_disk *d) { return d->dir; }

/* ======================================================================== */
/* Encoding                                                                  */
/* ======================================================================== */

static uint32_t fnv1a(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static void put_u8(gm_buf *b, unsigned v) { uint8_t x = (uint8_t)v; gm_buf_put(b, &x, 1); }
static void put_u32(gm_buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    gm_buf_put(b, x, 4);
}
static void put_i64(gm_buf *b, int64_t v) {
    put_u32(b, (uint32_t)((uint64_t)v & 0xFFFFFFFFu));
    put_u32(b, (uint32_t)((uint64_t)v >> 32));
}

int st_disk_encode_version(const st_version *v, uint8_t **out, size_t *n) {
    gm_buf b = {0};
    gm_buf h = {0};
    gm_buf_printf(&h, "%s{\"num\": %d, \"from\": %d, \"label\": ", HEAD, v->num, v->from);
    gm_buf_json_str(&h, v->label);
    gm_buf_printf(&h, ", \"settings\": ");
    gm_buf_json_str(&h, v->settings);
    gm_buf_printf(&h, ", \"warning\": ");
    gm_buf_json_str(&h, v->warning);
    gm_buf_printf(&h, "}\n");
    if (h.oom) { gm_buf_free(&h); return -1; }
    gm_buf_put(&b, h.p, h.n);
    gm_buf_free(&h);
    const gm_score *s = &v->score;
    put_u32(&b, (uint32_t)s->ticks_per_quarter);
    put_u32(&b, (uint32_t)s->midi_format);
    put_i64(&b, s->end_tick);
    put_u32(&b, (uint32_t)s->n_tempos);
    for (int i = 0; i < s->n_tempos; i++) put_i64(&b, s->tempos[i].tick), put_u32(&b, s->tempos[i].usec_per_quarter);
    put_u32(&b, (uint32_t)s->n_timesigs);
    for (int i = 0; i < s->n_timesigs; i++)
        put_i64(&b, s->timesigs[i].tick), put_u8(&b, s->timesigs[i].numerator), put_u8(&b, s->timesigs[i].denominator);
    put_u32(&b, (uint32_t)s->n_keysigs);
    for (int i = 0; i < s->n_keysigs; i++)
        put_i64(&b, s->keysigs[i].tick), put_u8(&b, (uint8_t)s->keysigs[i].sharps), put_u8(&b, s->keysigs[i].minor);
    put_u32(&b, (uint32_t)s->n_tracks);
    for (int i = 0; i < s->n_tracks; i++) {
        const gm_track *t = &s->tracks[i];
        char name[64] = {0};
        gm_strlcpy(name, t->name, sizeof name);
        gm_buf_put(&b, name, sizeof name);
        put_u32(&b, (uint32_t)t->program), put_u32(&b, (uint32_t)t->channel), put_u32(&b, (uint32_t)t->is_drum);
        put_u32(&b, (uint32_t)t->source_track);
        put_u32(&b, (uint32_t)t->n_notes);
        for (size_t k = 0; k < t->n_notes; k++) {
            const gm_note *x = &t->notes[k];
            put_i64(&b, x->tick), put_i64(&b, x->duration);
            put_u8(&b, x->pitch), put_u8(&b, x->velocity), put_u8(&b, x->channel), put_u8(&b, x->flags);
        }
    }
    put_u32(&b, b.oom ? 0 : fnv1a(b.p, b.n));
    if (b.oom) { gm_buf_free(&b); return -1; }
    *out = b.p;
    *n = b.n;
    return 0;
}

char *st_disk_encode_song(const st_song *s) {
    gm_buf b = {0};
    gm_buf_printf(&b, "{\"id\": %d, \"name\": ", s->id);
    gm_buf_json_str(&b, s->name);
    gm_buf_printf(&b, ", \"chords\": ");
    gm_buf_json_str(&b, s->chords);
    gm_buf_printf(&b, ", \"seq\": %llu, \"next_num\": %d}\n", (unsigned long long)s->seq, s->next_num);
    if (b.oom) { gm_buf_free(&b); return NULL; }
    return gm_buf_text(&b);
}

/* ======================================================================== */
/* Files                                                                     */
/* ======================================================================== */

static long write_file(const char *path, const void *data, size_t n, char *err) {
    return gm_atomic_write(path, data, n, err) ? -1 : (long)n;
}

long st_disk_write(st_disk *d, int song, int num, const void *data, size_t n, char *err) {
    char path[700];
    snprintf(path, sizeof path, "%s/%d", d->dir, song);
    if (mkdir(path, 0755) && errno != EEXIST) return gm_fail(err, "cannot make %s: %s", path, strerror(errno));
    if (num < 0) snprintf(path, sizeof path, "%s/%d/song.json", d->dir, song);
    else snprintf(path, sizeof path, "%s/%d/v%d.gmv", d->dir, song, num);
    return write_file(path, data, n, err);
}

void st_disk_drop_version(st_disk *d, int song, int num) {
    char path[700];
    snprintf(path, sizeof path, "%s/%d/v%d.gmv", d->dir, song, num);
    unlink(path);
}

void st_disk_drop_song(st_disk *d, int song) {
    char path[700];
    snprintf(path, sizeof path, "%s/%d", d->dir, song);
    DIR *dd = opendir(path);
    if (dd) {
        struct dirent *e;
        while ((e = readdir(dd))) {
            if (e->d_name[0] == '.') continue;
            char f[1000];
            snprintf(f, sizeof f, "%s/%s", path, e->d_name);
            unlink(f);
        }
        closedir(dd);
    }
    rmdir(path);
}

/* ======================================================================== */
/* Reading back                                                              */
/* ======================================================================== */

static uint8_t *slurp(const char *path, size_t *n, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) { gm_fail(err, "cannot open: %s", strerror(errno)); return NULL; }
    uint8_t *p = NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) || sb.st_size < 0 || (uint64_t)sb.st_size > MAX_FILE) gm_fail(err, "too large or unreadable");
    else if (!(p = malloc((size_t)sb.st_size + 1))) gm_fail(err, "out of memory");
    else if (fread(p, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) { gm_fail(err, "cannot read"); free(p); p = NULL; }
    else { p[sb.st_size] = 0; *n = (size_t)sb.st_size; }
    fclose(f);
    return p;
}

typedef struct { const uint8_t *p, *end; int bad; } rbuf;
static void get(rbuf *r, void *d, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) { r->bad = 1; memset(d, 0, n); return; }
    memcpy(d, r->p, n);
    r->p += n;
}
static uint32_t get_u32(rbuf *r) {
    uint8_t x[4];
    get(r, x, 4);
    return x[0] | x[1] << 8 | x[2] << 16 | (uint32_t)x[3] << 24;
}
static uint8_t get_u8(rbuf *r) { uint8_t x; get(r, &x, 1); return x; }
static int64_t get_i64(rbuf *r) {
    uint64_t lo = get_u32(r), hi = get_u32(r);
    return (int64_t)(lo | hi << 32);
}

/* Bounds of what a version may hold (the store's, and sane MIDI). */
#define MAX_EVENTS 1000000u
#define MAX_TRACKS 4096u

static st_version *read_version(const char *path, int want_num, char *err) {
    size_t n = 0;
    uint8_t *data = slurp(path, &n, err);
    if (!data) return NULL;
    st_version *v = NULL;
    jobj o = {0};
    size_t hl = strlen(HEAD);
    const uint8_t *nl = n > hl ? memchr(data + hl, '\n', n - hl < MAX_HEAD_LINE ? n - hl : MAX_HEAD_LINE) : NULL;
    if (n < hl + 4 || memcmp(data, HEAD, hl) || !nl) { gm_fail(err, "not a studio version file"); goto out; }
    uint32_t sum = (uint32_t)data[n - 4] | (uint32_t)data[n - 3] << 8 | (uint32_t)data[n - 2] << 16 | (uint32_t)data[n - 1] << 24;
    if (fnv1a(data, n - 4) != sum) { gm_fail(err, "checksum does not match (truncated or changed)"); goto out; }
    if (jobj_parse(&o, (const char *)data + hl, (size_t)(nl - data - hl), err)) goto out;
    const jval *num = jobj_get(&o, "num"), *from = jobj_get(&o, "from"), *label = jobj_get(&o, "label"),
               *settings = jobj_get(&o, "settings"), *warning = jobj_get(&o, "warning");
    if (!num || num->type != JV_NUM || num->num != want_num || !from || from->type != JV_NUM || from->num < -1 ||
        from->num >= want_num + (want_num == 0) || !label || label->type != JV_STR) {
        gm_fail(err, "its head is not a version's");
        goto out;
    }
    if (!(v = st_version_alloc())) { gm_fail(err, "out of memory"); goto out; }
    v->num = want_num;
    v->from = (int)from->num;
    gm_strlcpy(v->label, label->str, sizeof v->label);
    gm_strlcpy(v->settings, settings && settings->type == JV_STR ? settings->str : "{}", sizeof v->settings);
    gm_strlcpy(v->warning, warning && warning->type == JV_STR ? warning->str : "", sizeof v->warning);
    rbuf r = {nl + 1, data + n - 4, 0};
    gm_score *s = &v->score;
    uint32_t ppq = get_u32(&r);
    if (ppq < 1 || ppq > 32767) { gm_fail(err, "ticks per quarter %u out of range", ppq); goto bad; }
    gm_score_init(s, (int)ppq);
    s->midi_format = (int)get_u32(&r);
    s->end_tick = get_i64(&r);
    uint32_t k = get_u32(&r);
    if (k > MAX_EVENTS) goto count;
    for (uint32_t i = 0; i < k && !r.bad; i++) {
        int64_t t = get_i64(&r);
        uint32_t u = get_u32(&r);
        if (t < 0 || !u || gm_score_add_tempo(s, t, u)) goto count;
    }
    k = get_u32(&r);
    if (k > MAX_EVENTS) goto count;
    for (uint32_t i = 0; i < k && !r.bad; i++) {
        int64_t t = get_i64(&r);
        int nu = get_u8(&r), de = get_u8(&r);
        if (t < 0 || nu < 1 || de < 1 || gm_score_add_timesig(s, t, nu, de)) goto count;
    }
    k = get_u32(&r);
    if (k > MAX_EVENTS) goto count;
    for (uint32_t i = 0; i < k && !r.bad; i++) {
        int64_t t = get_i64(&r);
        int sh = (int8_t)get_u8(&r), mi = get_u8(&r);
        if (t < 0 || gm_score_add_keysig(s, t, sh, mi)) goto count;
    }
    k = get_u32(&r);
    if (k > MAX_TRACKS) goto count;
    size_t notes = 0;
    for (uint32_t i = 0; i < k && !r.bad; i++) {
        char name[65] = {0};
        get(&r, name, 64);
        int prog = (int)get_u32(&r), ch = (int)get_u32(&r), drum = (int)get_u32(&r), src = (int)get_u32(&r);
        uint32_t nn = get_u32(&r);
        if (prog < 0 || prog > 127 || ch < 0 || ch > 15 || (drum != 0 && drum != 1) || nn > ST_MAX_NOTES ||
            (notes += nn) > ST_MAX_NOTES || (size_t)(r.end - r.p) < (size_t)nn * 20)
            goto count;
        int ti = gm_score_add_track(s, name, prog, ch, drum);
        if (ti < 0) goto count;
        s->tracks[ti].source_track = src;
        gm_track *t = &s->tracks[ti];
        for (uint32_t q = 0; q < nn; q++) {
            int64_t tick = get_i64(&r), dur = get_i64(&r);
            int pitch = get_u8(&r), vel = get_u8(&r), c = get_u8(&r), fl = get_u8(&r);
            if (tick < 0 || dur < 1 || tick > s->end_tick || pitch > 127 || gm_track_add_note(t, tick, dur, pitch, vel, c))
                goto count;
            t->notes[t->n_notes - 1].flags = (uint8_t)fl;
        }
    }
    if (r.bad || r.p != r.end) goto count;
    v->n_notes = notes;
    goto out;
count:
    gm_fail(err, "its score is damaged (a count or value out of range)");
bad:
    gm_score_free(&v->score);
    free(v);
    v = NULL;
out:
    jobj_free(&o);
    free(data);
    return v;
}

static int num_cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* A whole decimal number 1..999999999 naming a file, or -1. */
static int name_num(const char *s, const char *prefix, const char *suffix) {
    size_t pl = strlen(prefix), sl = strlen(suffix), n = strlen(s);
    if (n <= pl + sl || strncmp(s, prefix, pl) || strcmp(s + n - sl, suffix) || n - pl - sl > 9) return -1;
    int v = 0;
    for (size_t i = pl; i < n - sl; i++) {
        if (s[i] < '0' || s[i] > '9' || (i == pl && s[i] == '0' && n - pl - sl > 1)) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static st_song *read_song(st_disk *d, int id) {
    char path[700], err[GM_ERR_SIZE] = "";
    snprintf(path, sizeof path, "%s/%d/song.json", d->dir, id);
    size_t n = 0;
    uint8_t *text = slurp(path, &n, err);
    jobj o = {0};
    st_song *s = NULL;
    if (!text || jobj_parse(&o, (const char *)text, n, err)) {
        fprintf(stderr, "%s: studio: skipped %s: %s\n", cli_prog, path, err);
        free(text);
        return NULL;
    }
    const jval *jid = jobj_get(&o, "id"), *name = jobj_get(&o, "name"), *chords = jobj_get(&o, "chords"),
               *seq = jobj_get(&o, "seq"), *next = jobj_get(&o, "next_num");
    if (!jid || jid->type != JV_NUM || jid->num != id || !name || name->type != JV_STR || !seq || seq->type != JV_NUM ||
        seq->num < 0 || !next || next->type != JV_NUM || next->num < 1 || next->num > 1e9) {
        fprintf(stderr, "%s: studio: skipped %s: not a song record\n", cli_prog, path);
        goto out;
    }
    if (!(s = calloc(1, sizeof *s))) goto out;
    s->id = id;
    gm_strlcpy(s->name, name->str, sizeof s->name);
    gm_strlcpy(s->chords, chords && chords->type == JV_STR ? chords->str : "", sizeof s->chords);
    s->seq = (uint64_t)seq->num;
    s->next_num = (int)next->num;
    /* Its versions, in order; more than the store keeps: the upload and the newest. */
    snprintf(path, sizeof path, "%s/%d", d->dir, id);
    DIR *dd = opendir(path);
    int nums[1024], nn = 0;
    struct dirent *e;
    while (dd && (e = readdir(dd)) && nn < 1024) {
        /* Any number: a version written just before a crash, whose song
         * record was not rewritten yet, is read too (next_num follows). */
        int k = name_num(e->d_name, "v", ".gmv");
        if (k >= 0) nums[nn++] = k;
    }
    if (dd) closedir(dd);
    qsort(nums, (size_t)nn, sizeof *nums, num_cmp);
    for (int i = 0; i < nn; i++) {
        if (nums[i] != 0 && nn - i > ST_MAX_VERSIONS - 1) continue; /* over the bound: the newest are kept */
        snprintf(path, sizeof path, "%s/%d/v%d.gmv", d->dir, id, nums[i]);
        st_version *v = read_version(path, nums[i], err);
        if (!v) {
            fprintf(stderr, "%s: studio: skipped %s: %s\n", cli_prog, path, err);
            continue;
        }
        if (s->n_versions == 0 && v->num != 0) { /* a song starts with its version 0 */
            fprintf(stderr, "%s: studio: skipped %s: the song's version 0 is missing\n", cli_prog, path);
            gm_score_free(&v->score);
            free(v);
            continue;
        }
        if (s->n_versions == ST_MAX_VERSIONS) { gm_score_free(&v->score); free(v); continue; }
        s->v[s->n_versions++] = v;
    }
    if (!s->n_versions) {
        fprintf(stderr, "%s: studio: skipped song %d in %s: none of its versions could be read\n", cli_prog, id,
                d->dir);
        free(s);
        s = NULL;
    }
out:
    jobj_free(&o);
    free(text);
    return s;
}

void st_disk_load(st_disk *d, void (*add)(void *user, st_song *s), void *user) {
    DIR *dd = opendir(d->dir);
    if (!dd) return;
    int ids[4096], n = 0;
    struct dirent *e;
    while ((e = readdir(dd)) && n < 4096) {
        if (e->d_name[0] == '.') continue;
        int id = name_num(e->d_name, "", "");
        if (id > 0) ids[n++] = id;
        else fprintf(stderr, "%s: studio: ignored %s/%s: not a song's folder\n", cli_prog, d->dir, e->d_name);
    }
    closedir(dd);
    qsort(ids, (size_t)n, sizeof *ids, num_cmp);
    for (int i = 0; i < n; i++) {
        st_song *s = read_song(d, ids[i]);
        if (s) add(user, s);
    }
}
