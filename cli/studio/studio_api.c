/* studio_api.c — the studio's JSON API (README "getmusic studio" lists it).
 *
 *   GET  /api/model                          the model's tracks and generate's defaults
 *   POST /api/songs                          body: a MIDI file → {"id", "version": 0, "info"}
 *   POST /api/songs/new                      {"bars", "metre", "tempo", "chords", "name"} → the same
 *   GET  /api/songs                          the songs in the store
 *   GET  /api/songs/ID                       a song and its versions
 *   POST /api/songs/ID/generate              generate's options as JSON → {"job"}
 *   GET  /api/songs/ID/versions/N.json       the notes, bars, chords of a version (the page draws it)
 *   GET  /api/songs/ID/versions/N.mid|.musicxml|.wav|.png   the version as MIDI, a score, audio (?mute=0,2), picture
 *   GET  /api/songs/ID/versions/N/tracks/T.EXT    track T alone, compressed (EXT: GET /api/model's stems.ext)
 *   GET  /api/jobs/ID                        {"state", "step", "steps", "position", "version", "error", "warning"}
 *   POST /api/jobs/ID/cancel (or DELETE /api/jobs/ID)
 *
 * Errors are {"error": "one line"} with a 4xx status (5xx for our own
 * failures): an upload the library refuses (not MIDI, too long, too many
 * bars for chord recognition) is a 4xx and nothing is stored or evicted.
 * Audio answers Range requests (206). Requests carry ids only; no request
 * text reaches a path. */
#include "studio.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "util.h"

/* cli_program_names: cli.h */

static void reply_error(st_reply *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reply_error(st_reply *r, int status, const char *fmt, ...) {
    char msg[GM_ERR_SIZE + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gm_buf_free(&r->text);
    r->status = status;
    r->type = "application/json";
    gm_buf_printf(&r->text, "{\"error\": ");
    gm_buf_json_str(&r->text, msg);
    gm_buf_printf(&r->text, "}\n");
}

/* A JSON reply whose text the caller has written. */
static void reply_json(st_reply *r, int status) {
    r->status = r->text.oom ? 500 : status;
    r->type = "application/json";
    if (r->text.oom) reply_error(r, 500, "out of memory");
}

/* Letters, digits, '-', '_' of a display name ("my song.mid" → "my_song"). */
static void safe_name(char *dst, size_t n, const char *src) {
    const char *base = src ? src : "";
    for (const char *p = base; *p; p++)
        if (*p == '/' || *p == '\\') base = p + 1;
    size_t k = 0;
    for (const char *p = base; *p && k + 1 < n; p++) {
        if (*p == '.' && (!strcasecmp(p, ".mid") || !strcasecmp(p, ".midi"))) break;
        char c = *p;
        dst[k++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ? c : '_';
    }
    dst[k] = 0;
    if (!k) gm_strlcpy(dst, "song", n);
}

/* ======================================================================== */
/* A song as JSON                                                            */
/* ======================================================================== */

/* The summary `getmusic info --json` prints, for a score in the store: the
 * CLI's own writer (cli_song_info_json), into memory. */
static int json_info(gm_buf *b, const gm_score *s, const gm_layout *l, const char *name, char *err) {
    gm_barmap bm;
    if (gm_barmap_build(&bm, s, GM_STEPS_PER_QUARTER, err)) return -1;
    gm_chord *chords = malloc((size_t)(bm.n_bars ? bm.n_bars : 1) * sizeof *chords);
    char *text = NULL;
    size_t n = 0;
    int rc = -1;
    if (!chords) {
        gm_fail(err, "out of memory");
    } else if (!gm_chords_recognize(s, &bm, chords, err)) {
        FILE *f = open_memstream(&text, &n);
        if (f) {
            cli_song_info_json(f, name, s, &bm, l, chords, gm_key_find(s));
            rc = fclose(f) ? -1 : 0;
        }
        if (rc) gm_fail(err, "out of memory");
        else gm_buf_printf(b, "%s", text);
    }
    free(text);
    free(chords);
    gm_barmap_free(&bm);
    return rc;
}

/* Bars (tick, metre), chords per frame, tempo map and every note: what the
 * page needs to draw the roll and move the playhead. */
static int json_view(gm_buf *b, const gm_score *s, int frames, char *err) {
    gm_barmap bm;
    if (gm_barmap_build(&bm, s, GM_STEPS_PER_QUARTER, err)) return -1;
    size_t nf = (size_t)(bm.n_bars ? bm.n_bars : 1) * frames;
    gm_chord *ch = malloc(nf * sizeof *ch);
    if (!ch || gm_chords_recognize_frames(s, &bm, frames, ch, err)) {
        if (!ch) gm_fail(err, "out of memory");
        free(ch);
        gm_barmap_free(&bm);
        return -1;
    }
    char cb[16];
    gm_buf_printf(b, "\"ppq\": %d, \"end_tick\": %lld, \"chord_frames\": %d, \"bars\": [", s->ticks_per_quarter,
              (long long)s->end_tick, frames);
    for (int i = 0; i < bm.n_bars; i++)
        gm_buf_printf(b, "%s[%lld, %d, %d]", i ? ", " : "", (long long)bm.bar_tick[i], bm.bar_num[i], bm.bar_den[i]);
    gm_buf_printf(b, "], \"bar_end\": %lld, \"frame_chords\": [", (long long)bm.bar_tick[bm.n_bars]);
    for (int i = 0; i < bm.n_bars * frames; i++) {
        gm_buf_printf(b, "%s", i ? ", " : "");
        gm_buf_json_str(b, gm_chord_name(ch[i], cb, sizeof cb));
    }
    gm_buf_printf(b, "], \"tempo_map\": [");
    for (int i = 0; i < s->n_tempos; i++)
        gm_buf_printf(b, "%s[%lld, %u]", i ? ", " : "", (long long)s->tempos[i].tick, s->tempos[i].usec_per_quarter);
    gm_buf_printf(b, "], \"notes\": [");
    for (int i = 0; i < s->n_tracks; i++) {
        const gm_track *t = &s->tracks[i];
        gm_buf_printf(b, "%s[", i ? ", " : "");
        for (size_t k = 0; k < t->n_notes; k++) {
            const gm_note *n = &t->notes[k];
            gm_buf_printf(b, "%s[%lld,%lld,%d,%d,%d]", k ? "," : "", (long long)n->tick, (long long)n->duration, n->pitch,
                      n->velocity, n->flags & GM_NOTE_GENERATED ? 1 : 0);
        }
        gm_buf_printf(b, "]");
    }
    gm_buf_printf(b, "]");
    free(ch);
    gm_barmap_free(&bm);
    return 0;
}

static void json_song(gm_buf *b, const st_song *s) {
    gm_buf_printf(b, "{\"id\": %d, \"name\": ", s->id);
    gm_buf_json_str(b, s->name);
    gm_buf_printf(b, ", \"chords\": ");
    gm_buf_json_str(b, s->chords);
    gm_buf_printf(b, ", \"versions\": [");
    for (int i = 0; i < s->n_versions; i++) {
        const st_version *v = s->v[i];
        gm_buf_printf(b, "%s{\"version\": %d, \"from\": %d, \"notes\": %zu, \"tracks\": %d, \"label\": ", i ? ", " : "",
                  v->num, v->from, v->n_notes, v->score.n_tracks);
        gm_buf_json_str(b, v->label);
        gm_buf_printf(b, ", \"warning\": ");
        gm_buf_json_str(b, v->warning);
        gm_buf_printf(b, ", \"settings\": %s}", v->settings[0] == '{' ? v->settings : "{}");
    }
    gm_buf_printf(b, "]}");
}

/* What the library makes of a piece before the studio keeps it: the
 * summary (`info --json`) in *info, and the checks generating and drawing
 * it would meet (bar map: length; chord recognition: bars). -1 with the
 * library's one-line message when it refuses. */
static int check_piece(studio *st, const gm_score *s, const char *name, gm_buf *info, char *err) {
    if (json_info(info, s, st_layout(st), name, err)) return -1;
    gm_buf view = {0};
    int bad = json_view(&view, s, st_chord_frames(st), err);
    if (!bad && (view.oom || info->oom)) bad = gm_fail(err, "out of memory");
    gm_buf_free(&view);
    return bad;
}

/* {"id", "version": 0, "name", "info": {...}, "evicted": [ids]} for a song just added. */
static void reply_new_song(studio *st, st_reply *r, int id, const char *info, const int *evicted) {
    st_lock(st);
    st_song *s = st_song_find(st, id);
    if (!s) {
        st_unlock(st);
        reply_error(r, 503, "the song was evicted at once (the store is busy); try again");
        return;
    }
    gm_buf_printf(&r->text, "{\"id\": %d, \"version\": 0, \"name\": ", id);
    gm_buf_json_str(&r->text, s->name);
    st_unlock(st);
    gm_buf_printf(&r->text, ", \"info\": %s, \"evicted\": [", info);
    for (int i = 0; evicted[i]; i++) gm_buf_printf(&r->text, "%s%d", i ? ", " : "", evicted[i]);
    gm_buf_printf(&r->text, "], \"kept\": %d}\n", ST_MAX_SONGS);
    reply_json(r, 201);
}

/* ======================================================================== */
/* Songs: upload, start from nothing                                         */
/* ======================================================================== */

static void api_upload(studio *st, const st_query *q, const uint8_t *body, size_t n, st_reply *r) {
    char err[GM_ERR_SIZE], name[64];
    if (!n) { reply_error(r, 400, "the body is empty: send a MIDI file"); return; }
    gm_score s;
    /* The CLI's own reader and checks (MIDI, MusicXML or .mxl, by content):
     * anything else is a clear error. One upload is read at a time: the
     * reader may use up to 16x the file's size, and the memory bound counts
     * that once. */
    static pthread_mutex_t read_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&read_mu);
    int bad = gm_score_read_mem(body, n, &s, err);
    pthread_mutex_unlock(&read_mu);
    if (bad) { reply_error(r, 400, "not a usable MIDI or MusicXML file: %s", err); return; }
    if (!gm_score_n_notes(&s)) { gm_score_free(&s); reply_error(r, 400, "the MIDI file has no notes"); return; }
    if (gm_score_n_notes(&s) > ST_MAX_NOTES) {
        reply_error(r, 413, "%zu notes is more than the studio keeps per song (%d)", gm_score_n_notes(&s), ST_MAX_NOTES);
        gm_score_free(&s);
        return;
    }
    gm_metre metre; /* an upload has no beat_midi.txt: bars from the music when the file's say nothing */
    if (gm_score_settle_metre(&s, NULL, &metre, err) == 0) gm_metre_free(&metre);
    safe_name(name, sizeof name, q->name);
    /* Checked and summarised before it is stored: what the library refuses
     * takes no slot and evicts nothing. */
    gm_buf info = {0};
    if (check_piece(st, &s, name, &info, err)) {
        gm_score_free(&s);
        gm_buf_free(&info);
        reply_error(r, 422, "the studio cannot use this MIDI file: %s", err);
        return;
    }
    int evicted[ST_MAX_SONGS + 1];
    int id = st_song_add(st, &s, name, NULL, evicted, err);
    if (id < 0) { gm_buf_free(&info); reply_error(r, 413, "%s", err); return; }
    reply_new_song(st, r, id, gm_buf_text(&info), evicted);
    gm_buf_free(&info);
}

/* Whole number option in [lo, hi]; *out untouched when absent. */
static int opt_int(const jobj *o, const char *key, long long lo, long long hi, long long *out, char *err) {
    const jval *v = jobj_get(o, key);
    if (!v || v->type == JV_NULL) return 0;
    double d = v->type == JV_NUM ? v->num : NAN;
    char *end = NULL;
    if (v->type == JV_STR) { errno = 0; d = strtod(v->str, &end); if (*end || errno) d = NAN; }
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d))
        return gm_fail(err, "%s: give a whole number in %lld..%lld", key, lo, hi);
    *out = (long long)d;
    return 0;
}

static int opt_num(const jobj *o, const char *key, double lo, double hi, double *out, char *err) {
    const jval *v = jobj_get(o, key);
    if (!v || v->type == JV_NULL) return 0;
    double d = v->type == JV_NUM ? v->num : NAN;
    char *end = NULL;
    if (v->type == JV_STR) { errno = 0; d = strtod(v->str, &end); if (*end || errno) d = NAN; }
    if (!(d >= lo && d <= hi)) return gm_fail(err, "%s: give a number in %g..%g", key, lo, hi);
    *out = d;
    return 0;
}

static const char *opt_str(const jobj *o, const char *key) {
    const jval *v = jobj_get(o, key);
    return v && v->type == JV_STR ? v->str : NULL;
}

/* POST /api/songs/new: an empty piece of some bars in a metre and tempo,
 * with chords to generate over (kept with the song as its default). */
static void api_new_song(studio *st, const uint8_t *body, size_t n, st_reply *r) {
    char err[GM_ERR_SIZE] = "", name[64];
    jobj o;
    if (jobj_parse(&o, (const char *)body, n, err)) { reply_error(r, 400, "%s", err); return; }
    long long bars = 8, tempo = 120, num = 4, den = 4;
    const char *metre = opt_str(&o, "metre"), *chords = opt_str(&o, "chords");
    int bad = opt_int(&o, "bars", 1, ST_MAX_BARS, &bars, err) || opt_int(&o, "tempo", 20, 400, &tempo, err);
    if (!bad && metre && (sscanf(metre, "%lld/%lld", &num, &den) != 2 || num < 1 || num > 32 ||
                          (den != 2 && den != 4 && den != 8 && den != 16)))
        bad = gm_fail(err, "metre: give n/d like 4/4, 3/4 or 6/8");
    gm_chord *parsed = NULL;
    int n_bars_given = 0;
    if (!bad && chords && chords[0] && gm_chords_parse_bars(chords, &parsed, &n_bars_given, err)) bad = 1;
    free(parsed);
    safe_name(name, sizeof name, opt_str(&o, "name") ? opt_str(&o, "name") : "new");
    if (bad) { jobj_free(&o); reply_error(r, 400, "%s", err); return; }
    gm_score s;
    gm_score_init(&s, 480);
    if (gm_score_add_tempo(&s, 0, (uint32_t)(60e6 / (double)tempo)) || gm_score_add_timesig(&s, 0, (int)num, (int)den)) {
        gm_score_free(&s);
        jobj_free(&o);
        reply_error(r, 500, "out of memory");
        return;
    }
    s.end_tick = bars * 480 * 4 * num / den; /* the bars exist before any note does */
    gm_buf info = {0};
    if (check_piece(st, &s, name, &info, err)) {
        gm_score_free(&s);
        gm_buf_free(&info);
        jobj_free(&o);
        reply_error(r, 422, "%s", err);
        return;
    }
    int evicted[ST_MAX_SONGS + 1];
    int id = st_song_add(st, &s, name, chords && chords[0] ? chords : "C", evicted, err);
    jobj_free(&o);
    if (id < 0) { gm_buf_free(&info); reply_error(r, 413, "%s", err); return; }
    reply_new_song(st, r, id, gm_buf_text(&info), evicted);
    gm_buf_free(&info);
}

/* ======================================================================== */
/* Generate                                                                  */
/* ======================================================================== */

/* "9-16,20-24" (1-based) → 0-based ranges inside the piece's n_bars. */
static int parse_bars(const char *s, int n_bars, gm_bar_range **out, int *n, char *err) {
    const char *q = s;
    while (*q) {
        char *end;
        errno = 0;
        long a = strtol(q, &end, 10), b = a;
        if (end == q || errno) return gm_fail(err, "bars: '%s' is not a bar range like 9-16", s);
        if (*end == '-') {
            const char *q2 = end + 1;
            b = strtol(q2, &end, 10);
            if (end == q2 || errno) return gm_fail(err, "bars: '%s' is not a bar range like 9-16", s);
        }
        if (a < 1 || b < a) return gm_fail(err, "bars: '%s' is not a bar range like 9-16", s);
        if (b > n_bars) return gm_fail(err, "bars %ld-%ld are outside the piece (%d bars)", a, b, n_bars);
        if (*n >= 64) return gm_fail(err, "bars: too many ranges");
        gm_bar_range *nv = realloc(*out, (size_t)(*n + 1) * sizeof *nv);
        if (!nv) return gm_fail(err, "out of memory");
        *out = nv;
        nv[(*n)++] = (gm_bar_range){(int)a - 1, (int)b - 1};
        while (*end == ',' || *end == ' ') end++;
        q = end;
    }
    return *n ? 0 : gm_fail(err, "bars: no range given");
}

/* targets: ["piano", "drums"] or "piano,drums" → class bits. */
static int parse_targets(const jval *v, const gm_layout *l, uint32_t *bits, gm_buf *label, char *err) {
    char *copy = NULL;
    int n = 0;
    const char *names[GM_MAX_CLASSES * 4];
    if (v->type == JV_ARR)
        for (int i = 0; i < v->n_items && n < (int)(sizeof names / sizeof *names); i++) names[n++] = v->items[i];
    else if (v->type == JV_STR && (copy = strdup(v->str))) {
        char *save = NULL;
        for (char *t = strtok_r(copy, ", ", &save); t && n < (int)(sizeof names / sizeof *names); t = strtok_r(NULL, ", ", &save))
            names[n++] = t;
    } else return gm_fail(err, "targets: give a list of track names");
    for (int i = 0; i < n; i++) {
        int c = cli_find_class(l, names[i], err);
        if (c < 0) {
            free(copy);
            return -1;
        }
        if (!(*bits >> c & 1)) gm_buf_printf(label, "%s%s", label->n ? "," : "", l->cls[c].name);
        *bits |= 1u << c;
    }
    free(copy);
    return n ? 0 : gm_fail(err, "targets: name at least one track");
}

/* Options of generate (names as the CLI's) → job j; the song is locked. */
static int job_options(studio *st, const st_song *s, const jobj *o, st_job *j, char *err) {
    const gm_layout *l = st_layout(st);
    long long from = s->v[s->n_versions - 1]->num, steps = j->p.steps, seed = (long long)j->p.seed, top_k = j->p.top_k;
    long long cont = 0;
    double temp = j->p.temperature, drum_temp = j->p.drum_temperature, guid = j->p.chord_guidance;
    double hit_temp = j->p.drum_hit_temperature, style_guid = j->p.drum_style_guidance, drum_guid = j->p.drum_chord_guidance;
    const char *style = opt_str(o, "drum_style");
    if (style && st_drum_style_find(st, style) < 0)
        return gm_fail(err, "drum_style: '%.32s' is not one of the model's styles (GET /api/model lists them)", style);
    if (style) gm_strlcpy(j->drum_style, style, sizeof j->drum_style);
    if (opt_num(o, "drum_hit_temperature", 0, 100, &hit_temp, err) ||
        opt_num(o, "drum_style_guidance", 0, 100, &style_guid, err) ||
        opt_num(o, "drum_chord_guidance", 0, 100, &drum_guid, err))
        return -1;
    j->p.drum_hit_temperature = (float)hit_temp;
    j->p.drum_style_guidance = (float)style_guid;
    j->p.drum_chord_guidance = (float)drum_guid;
    if (opt_int(o, "version", 0, INT_MAX, &from, err) || opt_int(o, "steps", 1, st_diffusion_steps(st), &steps, err) ||
        opt_int(o, "seed", 0, 9007199254740991LL, &seed, err) || opt_int(o, "top_k", 0, 1000000, &top_k, err) ||
        opt_int(o, "continue", 0, ST_MAX_BARS, &cont, err) || opt_num(o, "temperature", 1e-3, 100, &temp, err) ||
        opt_num(o, "drum_temperature", 1e-3, 100, &drum_temp, err) || opt_num(o, "chord_guidance", 0, 100, &guid, err))
        return -1;
    const st_version *v = st_version_find((st_song *)s, (int)from);
    if (!v) return gm_fail(err, "version: song %d has no version %lld", s->id, from);
    j->song = s->id;
    j->from = (int)from;
    j->p.steps = (int)steps;
    j->p.seed = (uint64_t)seed;
    j->p.top_k = (int)top_k;
    j->p.temperature = (float)temp;
    j->p.drum_temperature = (float)drum_temp;
    j->p.chord_guidance = (float)guid;
    j->p.continue_bars = (int)cont;
    gm_buf label = {0};
    const jval *t = jobj_get(o, "targets");
    int bad = t && t->type != JV_NULL && parse_targets(t, l, &j->p.targets, &label, err);
    const jval *bv = jobj_get(o, "bars");
    if (!bad && bv && bv->type != JV_NULL) {
        gm_barmap bm;
        char text[32];
        const char *bs = bv->type == JV_STR ? bv->str : NULL;
        if (bv->type == JV_NUM) { snprintf(text, sizeof text, "%.0f", bv->num); bs = text; }
        if (!bs) bad = gm_fail(err, "bars: give a range like \"9-16\"");
        else if (gm_barmap_build(&bm, &v->score, GM_STEPS_PER_QUARTER, err)) bad = 1;
        else {
            bad = parse_bars(bs, bm.n_bars, &j->ranges, &j->p.n_ranges, err);
            gm_barmap_free(&bm);
            j->p.ranges = j->ranges;
            if (!bad) gm_buf_printf(&label, "%sbars %s", label.n ? " · " : "", bs);
        }
    }
    if (!bad && cont && j->p.n_ranges) bad = gm_fail(err, "bars and continue do not go together");
    if (!bad && cont) gm_buf_printf(&label, "%s+%lld bars", label.n ? " · " : "", cont);
    const char *c = opt_str(o, "chords");
    if (!c && s->chords[0]) c = s->chords; /* a piece started from nothing has its chords */
    if (!bad && c && cli_chord_spec(c, &j->p, &j->chords, err)) bad = 1;
    if (!bad && v->n_notes == 0 && !j->p.targets) j->p.targets = (1u << l->n_classes) - 1;
    gm_buf_printf(&label, "%sv%lld · %lld steps · seed %lld", label.n ? " · " : "", from, steps, seed);
    if (j->drum_style[0]) gm_buf_printf(&label, " · %s drums", j->drum_style);
    gm_strlcpy(j->label, gm_buf_text(&label) ? gm_buf_text(&label) : "", sizeof j->label);
    gm_buf_free(&label);
    /* The options as they were taken, kept with the version it makes. */
    gm_buf set = {0};
    gm_buf_printf(&set, "{\"version\": %lld, \"targets\": [", from);
    for (int ci = 0, k = 0; ci < l->n_classes; ci++)
        if (j->p.targets >> ci & 1) { gm_buf_printf(&set, "%s", k++ ? ", " : ""); gm_buf_json_str(&set, l->cls[ci].name); }
    gm_buf_printf(&set, "], \"bars\": ");
    if (j->p.n_ranges && bv && bv->type == JV_STR) gm_buf_json_str(&set, bv->str);
    else if (j->p.n_ranges) gm_buf_printf(&set, "\"%d-%d\"", j->ranges[0].first + 1, j->ranges[0].last + 1);
    else gm_buf_printf(&set, "null");
    gm_buf_printf(&set, ", \"continue\": %lld, \"steps\": %lld, \"seed\": %lld, \"temperature\": %g, "
              "\"drum_temperature\": %g, \"drum_hit_temperature\": %g, \"chord_guidance\": %g, \"top_k\": %lld, "
              "\"drum_style_guidance\": %g, \"drum_chord_guidance\": %g, \"drum_style\": ", cont, steps, seed, temp,
              drum_temp, hit_temp, guid, top_k, style_guid, drum_guid);
    if (j->drum_style[0]) gm_buf_json_str(&set, j->drum_style);
    else gm_buf_printf(&set, "null");
    gm_buf_printf(&set, ", \"chords\": ");
    if (c) gm_buf_json_str(&set, c);
    else gm_buf_printf(&set, "null");
    gm_buf_printf(&set, "}");
    gm_strlcpy(j->settings, gm_buf_text(&set) && !set.oom && set.n < sizeof j->settings ? gm_buf_text(&set) : "{}", sizeof j->settings);
    gm_buf_free(&set);
    return bad ? -1 : 0;
}

static void api_generate(studio *st, int song, const uint8_t *body, size_t n, st_reply *r) {
    char err[GM_ERR_SIZE] = "";
    jobj o;
    if (jobj_parse(&o, (const char *)body, n, err)) { reply_error(r, 400, "%s", err); return; }
    st_job j;
    memset(&j, 0, sizeof j);
    j.p = gm_generate_default_params();
    st_lock(st);
    st_song *s = st_song_find(st, song);
    int bad = !s ? (gm_fail(err, "no song %d (it may have been evicted)", song), 404)
                 : job_options(st, s, &o, &j, err) ? 400 : 0;
    st_unlock(st);
    jobj_free(&o);
    if (bad) {
        free(j.ranges);
        free(j.chords);
        reply_error(r, bad, "%s", err);
        return;
    }
    int id = st_job_submit(st, &j, err);
    if (id < 0) {
        free(j.ranges);
        free(j.chords);
        reply_error(r, 503, "%s", err);
        return;
    }
    gm_buf_printf(&r->text, "{\"job\": %d}\n", id);
    reply_json(r, 202);
}

/* ======================================================================== */
/* Reads                                                                     */
/* ======================================================================== */

static void api_job(studio *st, int id, st_reply *r) {
    static const char *names[] = {"queued", "running", "done", "failed", "cancelled"};
    st_lock(st);
    st_job *j = st_job_find(st, id);
    if (!j) {
        st_unlock(st);
        reply_error(r, 404, "no job %d (finished jobs are forgotten after %d more)", id, ST_MAX_JOBS);
        return;
    }
    /* steps: what the job runs in all, steps a window times windows (a
     * piece longer than the model's window takes several). */
    int per = j->p.steps > 0 ? j->p.steps : 1, windows = j->steps > per ? (j->steps + per - 1) / per : 1;
    gm_buf_printf(&r->text, "{\"job\": %d, \"song\": %d, \"from\": %d, \"state\": \"%s\", \"step\": %d, \"steps\": %d, "
              "\"steps_per_window\": %d, \"windows\": %d, \"position\": %d, \"version\": ", j->id, j->song, j->from,
              names[j->state], j->step, j->steps, per, windows,
              j->state == JOB_QUEUED || j->state == JOB_RUNNING ? st_job_position(st, j) : 0);
    if (j->state == JOB_DONE) gm_buf_printf(&r->text, "%d", j->version);
    else gm_buf_printf(&r->text, "null");
    gm_buf_printf(&r->text, ", \"error\": ");
    if (j->state == JOB_FAILED || j->state == JOB_CANCELLED) gm_buf_json_str(&r->text, j->error);
    else gm_buf_printf(&r->text, "null");
    gm_buf_printf(&r->text, ", \"warning\": ");
    if (j->state == JOB_DONE && j->warning[0]) gm_buf_json_str(&r->text, j->warning);
    else gm_buf_printf(&r->text, "null");
    gm_buf_printf(&r->text, ", \"evicted_version\": ");
    if (j->state == JOB_DONE && j->evicted_version >= 0) gm_buf_printf(&r->text, "%d", j->evicted_version);
    else gm_buf_printf(&r->text, "null");
    gm_buf_printf(&r->text, ", \"label\": ");
    gm_buf_json_str(&r->text, j->label);
    gm_buf_printf(&r->text, "}\n");
    st_unlock(st);
    reply_json(r, 200);
}

static void api_model(studio *st, st_reply *r) {
    const gm_layout *l = st_layout(st);
    gm_generate_params d = gm_generate_default_params();
    gm_buf_printf(&r->text, "{\"layout\": ");
    gm_buf_json_str(&r->text, l->name);
    gm_buf_printf(&r->text, ", \"classes\": [");
    for (int c = 0; c < l->n_classes; c++) {
        gm_buf_printf(&r->text, "%s{\"name\": ", c ? ", " : "");
        gm_buf_json_str(&r->text, l->cls[c].name);
        gm_buf_printf(&r->text, ", \"drums\": %s}", l->cls[c].is_drum ? "true" : "false");
    }
    gm_buf_printf(&r->text, "], \"drum_styles\": [");
    for (int i = 0; st_drum_style_name(st, i); i++) {
        gm_buf_printf(&r->text, "%s", i ? ", " : "");
        gm_buf_json_str(&r->text, st_drum_style_name(st, i));
    }
    gm_buf_printf(&r->text, "], \"chord_frames\": %d, \"defaults\": {\"steps\": %d, \"seed\": %llu, \"temperature\": %g, "
              "\"drum_temperature\": %g, \"drum_hit_temperature\": %g, \"drum_style\": \"%s\", \"chord_guidance\": %g, "
              "\"drum_style_guidance\": %g, \"drum_chord_guidance\": %g, \"top_k\": %d}, \"limits\": {\"upload_bytes\": %u, \"songs\": %d, \"versions\": %d, \"steps\": %d}, "
              "\"stems\": {\"ext\": \"%s\", \"type\": \"%s\"}}\n",
              st_chord_frames(st), d.steps, (unsigned long long)d.seed, d.temperature, d.drum_temperature,
              d.drum_hit_temperature, st_drum_style_default(st), d.chord_guidance, d.drum_style_guidance, d.drum_chord_guidance, d.top_k, ST_MAX_UPLOAD, ST_MAX_SONGS, ST_MAX_VERSIONS, st_diffusion_steps(st),
              st_stem_ext(), st_stem_mime());
    reply_json(r, 200);
}

static void api_songs(studio *st, int id, st_reply *r) {
    st_lock(st);
    if (id >= 0) {
        st_song *s = st_song_find(st, id);
        if (!s) { st_unlock(st); reply_error(r, 404, "no song %d (it may have been evicted)", id); return; }
        json_song(&r->text, s);
    } else {
        /* Every song, oldest first: the store holds at most ST_MAX_SONGS. */
        int ids[ST_MAX_SONGS], n = st_song_ids(st, ids, ST_MAX_SONGS);
        gm_buf_printf(&r->text, "{\"songs\": [");
        for (int i = 0; i < n; i++) {
            gm_buf_printf(&r->text, "%s", i ? ", " : "");
            json_song(&r->text, st_song_find(st, ids[i]));
        }
        gm_buf_printf(&r->text, "]}");
    }
    gm_buf_printf(&r->text, "\n");
    st_unlock(st);
    reply_json(r, 200);
}

/* GET /api/songs/ID/versions/N.EXT: json (the page's view), mid, musicxml, wav, png. */
static void api_version(studio *st, int song, int num, const char *ext, const st_query *q, st_reply *r) {
    char err[GM_ERR_SIZE] = "", name[64] = "song";
    st_lock(st);
    st_song *s = st_song_find(st, song);
    st_version *v = st_version_find(s, num);
    if (!v) {
        st_unlock(st);
        reply_error(r, 404, "no version %d of song %d", num, song);
        return;
    }
    gm_strlcpy(name, s->name, sizeof name);
    if (q->download) snprintf(r->filename, sizeof r->filename, "%s-v%d.%s", name, num, ext);
    int kind = !strcmp(ext, "json") ? ST_JSON : !strcmp(ext, "mid") ? ST_MID : !strcmp(ext, "musicxml") ? ST_MUSICXML : -1;
    if (kind >= 0) {
        /* Made once per version and shared: 200 readers cost one copy. */
        r->status = 200;
        r->type = kind == ST_JSON ? "application/json" : kind == ST_MID ? "audio/midi" : "application/vnd.recordare.musicxml+xml";
        if ((r->blob = st_cache_get(st, v, kind))) { st_unlock(st); return; }
        gm_buf t = {0};
        uint8_t *data = NULL;
        size_t size = 0;
        int bad = 0;
        if (kind == ST_JSON) {
            gm_buf_printf(&t, "{\"song\": %d, \"version\": %d, \"from\": %d, \"label\": ", song, num, v->from);
            gm_buf_json_str(&t, v->label);
            gm_buf_printf(&t, ", \"info\": ");
            bad = json_info(&t, &v->score, st_layout(st), name, err);
            if (!bad) gm_buf_printf(&t, ", ");
            bad = bad || json_view(&t, &v->score, st_chord_frames(st), err);
            gm_buf_printf(&t, "}\n");
            if (!bad && t.oom) bad = gm_fail(err, "out of memory");
            data = t.p, size = t.n;
        } else if (kind == ST_MID) {
            bad = gm_midi_write_mem(&v->score, &data, &size, err);
        } else { /* a score for MuseScore and the like */
            bad = gm_musicxml_write_mem(&v->score, &data, &size, err);
        }
        if (!bad && !(r->blob = st_blob_new(data, size))) bad = gm_fail(err, "out of memory");
        if (!bad) st_cache_put(st, v, kind, r->blob);
        st_unlock(st);
        if (kind == ST_JSON) gm_buf_free(&t);
        else free(data);
        if (bad) reply_error(r, 500, "%s", err);
        return;
    }
    st_unlock(st);
    int wav = !strcmp(ext, "wav"), status = 500;
    if (!wav && strcmp(ext, "png")) { reply_error(r, 404, "versions come as .json, .mid, .musicxml, .wav or .png"); return; }
    r->blob = st_render(st, song, num, wav ? ST_WAV : ST_PNG, -1, q->mute, &status, err);
    if (!r->blob) { reply_error(r, status, "%s", err); return; }
    r->status = 200;
    r->type = wav ? "audio/wav" : "image/png";
    r->ranges = wav;
}

/* GET /api/songs/ID/versions/N/tracks/T.EXT: track T of the version alone,
 * rendered once and compressed (the page mixes these). */
static void api_stem(studio *st, int song, int num, int track, const char *ext, const st_query *q, st_reply *r) {
    char err[GM_ERR_SIZE] = "";
    int status = 500;
    if (strcmp(ext, st_stem_ext())) {
        reply_error(r, 404, "tracks come as .%s", st_stem_ext());
        return;
    }
    if (q->download) snprintf(r->filename, sizeof r->filename, "song%d-v%d-track%d.%s", song, num, track, ext);
    r->blob = st_render(st, song, num, ST_STEM, track, NULL, &status, err);
    if (!r->blob) { reply_error(r, status, "%s", err); return; }
    r->status = 200;
    r->type = st_stem_mime();
    r->ranges = 1;
}

/* ======================================================================== */
/* Routing                                                                   */
/* ======================================================================== */

/* Reads a decimal id (1..9 digits) at *p and moves past it. */
static int take_id(const char **p, int *out) {
    int n = 0, v = 0;
    while ((*p)[n] >= '0' && (*p)[n] <= '9' && n < 9) v = v * 10 + ((*p)[n++] - '0');
    if (!n || ((*p)[n] >= '0' && (*p)[n] <= '9')) return -1;
    *p += n;
    *out = v;
    return 0;
}

/* Does path continue with exactly `rest` (after an id)? */
static int is(const char *p, const char *rest) { return !strcmp(p, rest); }

void studio_api(studio *st, const char *method, const char *path, const st_query *q, const uint8_t *body, size_t n,
                st_reply *r) {
    memset(r, 0, sizeof *r);
    const int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    int id, num;
    const char *p;
    if (is(path, "/api/model")) { if (get) { api_model(st, r); return; } goto method; }
    if (is(path, "/api/songs")) {
        if (post) api_upload(st, q, body, n, r);
        else if (get) api_songs(st, -1, r);
        else goto method;
        return;
    }
    if (is(path, "/api/songs/new")) { if (post) { api_new_song(st, body, n, r); return; } goto method; }
    if (!strncmp(path, "/api/songs/", 11) && (p = path + 11, !take_id(&p, &id))) {
        if (is(p, "")) { if (get) { api_songs(st, id, r); return; } goto method; }
        if (is(p, "/generate")) { if (post) { api_generate(st, id, body, n, r); return; } goto method; }
        if (!strncmp(p, "/versions/", 10) && (p += 10, !take_id(&p, &num))) {
            int track;
            if (*p == '.') {
                if (get) { api_version(st, id, num, p + 1, q, r); return; }
                goto method;
            }
            if (!strncmp(p, "/tracks/", 8) && (p += 8, !take_id(&p, &track)) && *p == '.') {
                if (get) { api_stem(st, id, num, track, p + 1, q, r); return; }
                goto method;
            }
        }
    }
    if (!strncmp(path, "/api/jobs/", 10) && (p = path + 10, !take_id(&p, &id))) {
        if (is(p, "") && get) { api_job(st, id, r); return; }
        if ((is(p, "") && !strcmp(method, "DELETE")) || (is(p, "/cancel") && post)) {
            if (st_job_cancel(st, id)) { reply_error(r, 404, "no job %d", id); return; }
            api_job(st, id, r);
            return;
        }
        goto method;
    }
    reply_error(r, 404, "no such API: %s %s (see the README, 'getmusic studio')", method, path);
    return;
method:
    reply_error(r, 405, "%s is not allowed on %s", method, path);
}
