/*
 * render.c — a score to a WAV file through FluidSynth, offline.
 *
 * Every note becomes a note-on and a note-off at a sample position taken
 * from the tempo map; the events are sorted and fed to the synthesizer
 * between the blocks it renders, so nothing runs in real time and no audio
 * driver, MIDI driver, shell or player is created. FluidSynth applies an
 * event at its next internal 64-frame block, so events land up to 63 frames
 * (1.4 ms at 44.1 kHz) late, all by the same rule.
 *
 * Output: 16-bit stereo PCM WAV, written atomically (util.h), so a reader
 * never sees a half-written file and an existing one survives any failure.
 */
#include "getmusic.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef GM_NO_FLUIDSYNTH
#include <fluidsynth.h>
#endif
#if !defined(GM_NO_FLUIDSYNTH) && defined(GM_GLIB_LOG)
#include <glib.h>
#endif

gm_render_params gm_render_default_params(void) {
    gm_render_params p = {
        .soundfont = NULL,
        .sample_rate = 44100,
        .gain = 0.5,
        .tail_s = 1.5,
        .effects = 1,
        .max_seconds = 7200.0,
        .until_tick = 0,
        .progress = NULL,
        .user_data = NULL,
    };
    return p;
}

/* ======================================================================== */
/* Finding a SoundFont                                                       */
/* ======================================================================== */

const char *gm_render_find_soundfont(void) {
    /* FluidR3 first (the better GM set, 140 MB), then TimGM6mb (6 MB, what
     * CI installs), then whatever the system calls its default. */
    static const char *const cands[] = {
        "/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2",
        "/usr/share/sounds/sf2/TimGM6mb.sf2",   "/usr/share/soundfonts/TimGM6mb.sf2",
        "/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/soundfonts/default.sf2",
    };
    const char *env = getenv("GETMUSIC_SOUNDFONT");
    if (env && env[0]) return env;
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++)
        if (access(cands[i], R_OK) == 0) return cands[i];
    return NULL;
}

#ifdef GM_NO_FLUIDSYNTH

int gm_render_wav(const gm_score *s, const char *wav_path, const gm_render_params *p,
                  gm_render_stats *stats, char *err) {
    (void)s, (void)wav_path, (void)p;
    if (stats) memset(stats, 0, sizeof *stats);
    return gm_fail(err, "this build has no FluidSynth (install libfluidsynth-dev and rebuild)");
}

#else

/* ======================================================================== */
/* FluidSynth's log: captured, never printed                                 */
/* ======================================================================== */

/* The handlers are process-wide; the message buffer is per thread, since
 * FluidSynth logs on the thread that called it (we render with one core).
 * The first error since fs_quiet() is kept: it is the cause ("Not a RIFF
 * file"), later ones are consequences ("Failed to load SoundFont"). */
static _Thread_local char fs_first_error[GM_ERR_SIZE];

static void fs_log(int level, const char *message, void *data) {
    (void)data;
    if (level <= FLUID_ERR && message && !fs_first_error[0])
        gm_strlcpy(fs_first_error, message, sizeof fs_first_error);
}

static void fs_quiet(void) {
    for (int level = FLUID_PANIC; level <= FLUID_DBG; level++) fluid_set_log_function(level, fs_log, NULL);
    fs_first_error[0] = 0;
}

/* When FluidSynth's own SoundFont loader rejects a file, Debian's build hands
 * it to libinstpatch (DLS), which reports through glib straight to stderr
 * ("CRITICAL **: ipatch_container_init_iter: assertion ... failed"). Glib's
 * handlers for those domains are swapped for a silent one around the load
 * only. Without GM_GLIB_LOG (no glib headers at build time) this is a no-op. */
#ifdef GM_GLIB_LOG
static void glib_silent(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data) {
    (void)domain, (void)level, (void)message, (void)data;
}
static const char *const glib_domains[] = {NULL, "libInstPatch", "GLib", "GLib-GObject"};
#define N_GLIB_DOMAINS (sizeof glib_domains / sizeof *glib_domains)
typedef struct { guint id[N_GLIB_DOMAINS]; } glib_mute;
static void glib_mute_on(glib_mute *m) {
    const GLogLevelFlags all = (GLogLevelFlags)(G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION);
    for (size_t i = 0; i < N_GLIB_DOMAINS; i++) m->id[i] = g_log_set_handler(glib_domains[i], all, glib_silent, NULL);
}
static void glib_mute_off(glib_mute *m) {
    for (size_t i = 0; i < N_GLIB_DOMAINS; i++)
        if (m->id[i]) g_log_remove_handler(glib_domains[i], m->id[i]);
}
#else
typedef struct { int unused; } glib_mute;
static void glib_mute_on(glib_mute *m) { (void)m; }
static void glib_mute_off(glib_mute *m) { (void)m; }
#endif

/* ======================================================================== */
/* Channels: one (drum flag, program) per synthesizer channel                */
/* ======================================================================== */

/* FluidSynth takes more than 16 channels (synth.midi-channels, multiples of
 * 16), so every distinct (drum, program) gets a channel of its own and no
 * track ever plays with another's instrument: tracks keep their own channel
 * when it is free or holds the same instrument; otherwise they move to a free
 * one (0..15 except 9 first, then 16 and up). Drums prefer channel 9. */
#define MAX_CHANNELS 256

typedef struct { int used, drum, program; } chan_slot;

static int chan_pick(chan_slot *sl, int *n_slots, int want, int drum, int program) {
    if (want >= 0 && want < *n_slots) {
        if (!sl[want].used) goto take;
        if (sl[want].drum == drum && sl[want].program == program) return want;
    }
    for (int c = 0; c < *n_slots; c++)
        if (sl[c].used && sl[c].drum == drum && sl[c].program == program) return c;
    for (want = 0; want < 16; want++)
        if (!sl[want].used && (drum || want != 9)) goto take;
    if (*n_slots < MAX_CHANNELS) { want = (*n_slots)++; goto take; }
    return -1; /* cannot happen: 128 programs × 2 kinds fit in 256 */
take:
    sl[want].used = 1;
    sl[want].drum = drum;
    sl[want].program = program;
    return want;
}

/* ======================================================================== */
/* Events                                                                    */
/* ======================================================================== */

typedef struct {
    int64_t frame;   /* sample frame at which it happens */
    uint8_t on;      /* 0 note-off, 1 note-on: offs first at equal frames */
    uint8_t key, vel;
    uint16_t chan;
} ev_t;

static int ev_cmp(const void *a, const void *b) {
    const ev_t *x = a, *y = b;
    if (x->frame != y->frame) return x->frame < y->frame ? -1 : 1;
    if (x->on != y->on) return (int)x->on - (int)y->on;
    if (x->chan != y->chan) return (int)x->chan - (int)y->chan;
    return (int)x->key - (int)y->key;
}

static int tempo_cmp(const void *a, const void *b) {
    const gm_tempo *x = a, *y = b;
    return x->tick < y->tick ? -1 : x->tick > y->tick;
}

/* Seconds of a tick through a sorted tempo map, the same rule as
 * gm_score_tick_to_seconds (120 bpm before the first tempo; a tempo at the
 * note's own tick applies from it on), with a binary search so that files
 * with thousands of tempo changes stay fast. */
typedef struct {
    const gm_tempo *t;
    double *sec;    /* [n] seconds at t[i].tick */
    int n;
    double tpq;
} tempo_map;

static double tm_seconds(const tempo_map *m, int64_t tick) {
    int lo = 0, hi = m->n; /* first index with t[i].tick >= tick */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (m->t[mid].tick < tick) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return (double)tick * 500000.0 / 1e6 / m->tpq;
    const gm_tempo *t = &m->t[lo - 1];
    return m->sec[lo - 1] + (double)(tick - t->tick) * t->usec_per_quarter / 1e6 / m->tpq;
}

/* ======================================================================== */
/* WAV                                                                       */
/* ======================================================================== */

static void le16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void le32(uint8_t *p, uint32_t v) { le16(p, v & 0xFFFF), le16(p + 2, v >> 16); }

static void wav_header(uint8_t h[44], uint32_t rate, uint32_t data_bytes) {
    memcpy(h, "RIFF", 4);
    le32(h + 4, 36 + data_bytes);
    memcpy(h + 8, "WAVEfmt ", 8);
    le32(h + 16, 16);            /* fmt chunk size */
    le16(h + 20, 1);             /* PCM */
    le16(h + 22, 2);             /* channels */
    le32(h + 24, rate);
    le32(h + 28, rate * 4);      /* bytes per second */
    le16(h + 32, 4);             /* bytes per frame */
    le16(h + 34, 16);            /* bits per sample */
    memcpy(h + 36, "data", 4);
    le32(h + 40, data_bytes);
}

/* ======================================================================== */
/* Rendering                                                                 */
/* ======================================================================== */

#define BLOCK 4096 /* frames per write to the file */

/* One rendering: the inputs, then what each stage builds. render_job_free
 * releases whatever the stages got to. */
typedef struct {
    const gm_score *s;
    const char *path;
    gm_render_params p;
    gm_render_stats st;
    const char *sf;               /* the SoundFont used */
    tempo_map tm;                 /* over tempos/tsec, a sorted copy */
    gm_tempo *tempos;
    double *tsec;
    size_t n_notes;
    double rate;                  /* frames per second */
    int64_t total;                /* frames to write: the piece plus the tail */
    fluid_settings_t *settings;
    fluid_synth_t *synth;
    chan_slot slots[MAX_CHANNELS];
    int n_slots;
    int *track_chan;              /* [n_tracks] synthesizer channel, -1 = silent track */
    ev_t *ev;                     /* [n_ev] note-ons and -offs, in frame order */
    size_t n_ev;
    float *fbuf;                  /* [2 * BLOCK] the synthesizer's stereo floats */
    uint8_t *obuf;                /* [4 * BLOCK] the same as 16-bit little-endian PCM */
    uint16_t *held;               /* [n_slots][128] notes sounding per channel and key */
    gm_atomic_file out;
} render_job;

static void render_job_free(render_job *j) {
    gm_atomic_abort(&j->out); /* does nothing after a commit */
    GM_FREE_ALL(j->held, j->obuf, j->fbuf, j->ev, j->track_chan, j->tsec, j->tempos);
    if (j->synth) delete_fluid_synth(j->synth);
    if (j->settings) delete_fluid_settings(j->settings);
}

/* Parameters in range and a SoundFont that opens. */
static int render_check_args(render_job *j, char *err) {
    const gm_score *s = j->s;
    gm_render_params *p = &j->p;
    if (!s || !j->path || !j->path[0]) return gm_fail(err, "render: missing score or output path");
    if (s->ticks_per_quarter <= 0) return gm_fail(err, "score has no valid ticks per quarter (%d)", s->ticks_per_quarter);
    if (p->sample_rate < 8000 || p->sample_rate > 96000)
        return gm_fail(err, "sample rate %d Hz is outside 8000..96000", p->sample_rate);
    if (!(p->gain >= 0 && p->gain <= 10)) return gm_fail(err, "gain %g is outside 0..10", p->gain);
    if (!(p->tail_s >= 0 && p->tail_s <= 60)) return gm_fail(err, "tail %g s is outside 0..60", p->tail_s);
    if (!(p->max_seconds > 0)) p->max_seconds = 7200.0;
    j->sf = p->soundfont && p->soundfont[0] ? p->soundfont : gm_render_find_soundfont();
    if (!j->sf)
        return gm_fail(err, "no SoundFont found: install fluid-soundfont-gm or timgm6mb-soundfont, "
                            "or give one (--soundfont FILE.sf2 or GETMUSIC_SOUNDFONT)");
    gm_strlcpy(j->st.soundfont, j->sf, sizeof j->st.soundfont);
    FILE *probe = fopen(j->sf, "rb");
    if (!probe) return gm_fail(err, "cannot open SoundFont '%s': %s", j->sf, strerror(errno));
    fclose(probe);
    return 0;
}

/* The tempo map, from a sorted copy: in-memory scores may be unsorted. */
static int render_tempo_map(render_job *j, char *err) {
    const gm_score *s = j->s;
    tempo_map *tm = &j->tm;
    *tm = (tempo_map){.n = s->n_tempos > 0 ? s->n_tempos : 0, .tpq = (double)s->ticks_per_quarter};
    if (!tm->n) return 0;
    j->tempos = malloc((size_t)tm->n * sizeof *j->tempos);
    j->tsec = malloc((size_t)tm->n * sizeof *j->tsec);
    if (!j->tempos || !j->tsec) return gm_fail(err, "out of memory");
    memcpy(j->tempos, s->tempos, (size_t)tm->n * sizeof *j->tempos);
    for (int i = 0; i < tm->n; i++)
        if (j->tempos[i].tick < 0) j->tempos[i].tick = 0;
    qsort(j->tempos, (size_t)tm->n, sizeof *j->tempos, tempo_cmp);
    double sec = 0, usec = 500000;
    int64_t at = 0;
    for (int i = 0; i < tm->n; i++) {
        sec += (double)(j->tempos[i].tick - at) * usec / 1e6 / tm->tpq;
        j->tsec[i] = sec;
        at = j->tempos[i].tick;
        usec = j->tempos[i].usec_per_quarter;
    }
    tm->t = j->tempos;
    tm->sec = j->tsec;
    return 0;
}

/* A note's onset and end in ticks, made safe: no negative onset, at least
 * one tick long, no overflow. */
static void note_span(const gm_note *n, int64_t *on, int64_t *off) {
    *on = n->tick > 0 ? n->tick : 0;
    int64_t dur = n->duration > 0 ? n->duration : 1;
    *off = dur > INT64_MAX - *on ? INT64_MAX : *on + dur;
}

/* The length in frames; a piece too long is refused here, before anything
 * big is allocated. */
static int render_measure(render_job *j, char *err) {
    const gm_score *s = j->s;
    double end_s = 0;
    for (int ti = 0; ti < s->n_tracks; ti++) {
        const gm_track *t = &s->tracks[ti];
        for (size_t i = 0; i < t->n_notes; i++) {
            int64_t on, off;
            note_span(&t->notes[i], &on, &off);
            double e = tm_seconds(&j->tm, off);
            if (e > end_s) end_s = e;
        }
        j->n_notes += t->n_notes;
    }
    if (j->p.until_tick > 0) {
        double u = tm_seconds(&j->tm, j->p.until_tick);
        if (u > end_s) end_s = u;
    }
    if (!(end_s <= j->p.max_seconds))
        return gm_fail(err, "the piece lasts %.0f s, over the %.0f s limit", end_s, j->p.max_seconds);
    j->rate = (double)j->p.sample_rate;
    j->total = (int64_t)llround((end_s + j->p.tail_s) * j->rate);
    if ((uint64_t)j->total * 4u > 0xFFFFFFFFu - 36u)
        return gm_fail(err, "%.0f s at %d Hz is too long for a WAV file (4 GiB)", end_s + j->p.tail_s, j->p.sample_rate);
    return 0;
}

/* A synthesizer channel for every track that has notes (see chan_pick). */
static int render_assign_channels(render_job *j, char *err) {
    const gm_score *s = j->s;
    j->n_slots = 16;
    j->track_chan = malloc((size_t)(s->n_tracks > 0 ? s->n_tracks : 1) * sizeof *j->track_chan);
    if (!j->track_chan) return gm_fail(err, "out of memory");
    for (int ti = 0; ti < s->n_tracks; ti++) {
        const gm_track *t = &s->tracks[ti];
        j->track_chan[ti] = -1;
        if (!t->n_notes) continue;
        int drum = t->is_drum ? 1 : 0;
        int prog = t->program >= 0 && t->program <= 127 ? t->program : 0;
        int want = drum ? 9 : (t->channel >= 0 && t->channel <= 15 && t->channel != 9 ? t->channel : -1);
        j->track_chan[ti] = chan_pick(j->slots, &j->n_slots, want, drum, prog);
        if (j->track_chan[ti] < 0) return gm_fail(err, "too many instruments to render");
        if (j->track_chan[ti] != t->channel) j->st.tracks_moved++;
    }
    for (int c = 0; c < j->n_slots; c++) j->st.channels += j->slots[c].used;
    return 0;
}

/* The synthesizer (no driver, shell or server: we call it ourselves), its
 * SoundFont, and every used channel's instrument. */
static int render_open_synth(render_job *j, char *err) {
    fs_quiet();
    fluid_settings_t *set = j->settings = new_fluid_settings();
    if (!set) return gm_fail(err, "FluidSynth: cannot create settings");
    if (render_assign_channels(j, err)) return -1;
    fluid_settings_setnum(set, "synth.sample-rate", j->rate);
    fluid_settings_setnum(set, "synth.gain", j->p.gain);
    fluid_settings_setint(set, "synth.midi-channels", (j->n_slots + 15) / 16 * 16);
    fluid_settings_setint(set, "synth.polyphony", 1024);
    fluid_settings_setint(set, "synth.cpu-cores", 1);
    fluid_settings_setint(set, "synth.threadsafe-api", 0);
    fluid_settings_setint(set, "synth.lock-memory", 0);
    fluid_settings_setint(set, "synth.reverb.active", j->p.effects ? 1 : 0);
    fluid_settings_setint(set, "synth.chorus.active", j->p.effects ? 1 : 0);
    fluid_settings_setint(set, "synth.verbose", 0);
    if (!(j->synth = new_fluid_synth(set)))
        return gm_fail(err, "FluidSynth: cannot create a synthesizer%s%s", fs_first_error[0] ? ": " : "", fs_first_error);
    glib_mute gm;
    glib_mute_on(&gm);
    int sfid = fluid_synth_sfload(j->synth, j->sf, 1);
    glib_mute_off(&gm);
    if (sfid == FLUID_FAILED)
        return gm_fail(err, "cannot load SoundFont '%s': %s", j->sf, fs_first_error[0] ? fs_first_error : "not a SoundFont 2 file");
    for (int c = 0; c < j->n_slots; c++) {
        if (!j->slots[c].used) continue;
        /* Drum channels take their kit from bank 128 (FluidSynth's rule for
         * a drum-type channel; missing kits fall back to 128:0). */
        fluid_synth_set_channel_type(j->synth, c, j->slots[c].drum ? CHANNEL_TYPE_DRUM : CHANNEL_TYPE_MELODIC);
        fluid_synth_bank_select(j->synth, c, j->slots[c].drum ? 128 : 0);
        fluid_synth_program_change(j->synth, c, j->slots[c].program);
    }
    return 0;
}

/* Every note as a note-on and a note-off at sample frames, in frame order. */
static int render_events(render_job *j, char *err) {
    const gm_score *s = j->s;
    if (j->n_notes > (SIZE_MAX / sizeof *j->ev) / 2) return gm_fail(err, "too many notes");
    ev_t *ev = j->ev = malloc((j->n_notes ? 2 * j->n_notes : 1) * sizeof *ev);
    if (!ev) return gm_fail(err, "out of memory (%zu notes)", j->n_notes);
    size_t n_ev = 0;
    for (int ti = 0; ti < s->n_tracks; ti++) {
        const gm_track *t = &s->tracks[ti];
        if (j->track_chan[ti] < 0) continue;
        uint16_t chan = (uint16_t)j->track_chan[ti];
        for (size_t i = 0; i < t->n_notes; i++) {
            const gm_note *n = &t->notes[i];
            int64_t on, off;
            note_span(n, &on, &off);
            int64_t f_on = (int64_t)llround(tm_seconds(&j->tm, on) * j->rate);
            int64_t f_off = (int64_t)llround(tm_seconds(&j->tm, off) * j->rate);
            if (f_off <= f_on) f_off = f_on + 1; /* every note sounds, however short */
            uint8_t vel = n->velocity ? (n->velocity > 127 ? 127 : n->velocity) : 1;
            ev[n_ev++] = (ev_t){.frame = f_on, .on = 1, .key = n->pitch & 127, .vel = vel, .chan = chan};
            ev[n_ev++] = (ev_t){.frame = f_off, .on = 0, .key = n->pitch & 127, .chan = chan};
        }
    }
    qsort(ev, n_ev, sizeof *ev, ev_cmp);
    j->n_ev = n_ev;
    return 0;
}

/* The buffers, the temporary output file and its WAV header. */
static int render_open_output(render_job *j, char *err) {
    j->fbuf = malloc(2 * BLOCK * sizeof *j->fbuf);
    j->obuf = malloc(4 * BLOCK);
    j->held = calloc((size_t)j->n_slots * 128, sizeof *j->held);
    if (!j->fbuf || !j->obuf || !j->held) return gm_fail(err, "out of memory");
    if (gm_atomic_open(&j->out, j->path, err)) return -1;
    uint8_t hdr[44];
    wav_header(hdr, (uint32_t)j->p.sample_rate, (uint32_t)(j->total * 4));
    if (fwrite(hdr, 1, sizeof hdr, j->out.f) != sizeof hdr)
        return gm_fail(err, "cannot write '%s': %s", j->path, strerror(errno));
    return 0;
}

/* Plays the events due at frame `pos` from *e on. A note-off only ends a
 * key when no other note of it is still held on that channel, so
 * overlapping notes of one pitch (two tracks sharing a channel, or doubled
 * notes) sound for their full lengths. */
static void render_play_due(render_job *j, size_t *e, int64_t pos) {
    for (; *e < j->n_ev && j->ev[*e].frame <= pos; (*e)++) {
        const ev_t *x = &j->ev[*e];
        uint16_t *h = &j->held[(size_t)x->chan * 128 + x->key];
        if (x->on) {
            if (fluid_synth_noteon(j->synth, x->chan, x->key, x->vel) == FLUID_OK) j->st.notes++;
            if (*h < UINT16_MAX) (*h)++;
        } else if (*h && --(*h) == 0) {
            fluid_synth_noteoff(j->synth, x->chan, x->key);
        }
    }
}

/* fill stereo frames of fbuf → 16-bit PCM in obuf, counting clipped
 * samples and the peak. */
static void render_to_pcm16(render_job *j, int fill) {
    for (int i = 0; i < 2 * fill; i++) {
        float x = j->fbuf[i] * 32767.0f;
        long v;
        if (x >= 32767.0f) { v = 32767; j->st.clipped += x >= 32767.5f; }
        else if (x <= -32768.0f) { v = -32768; j->st.clipped += x <= -32768.5f; }
        else v = lrintf(x);
        int a = (int)(v < 0 ? -v : v);
        if (a > j->st.peak) j->st.peak = a > 32767 ? 32767 : a;
        uint16_t u = (uint16_t)(int16_t)v;
        j->obuf[2 * i] = (uint8_t)u;
        j->obuf[2 * i + 1] = (uint8_t)(u >> 8);
    }
}

/* The piece, BLOCK frames per write: the synthesizer runs from event to
 * event, so every note starts on its exact frame. */
static int render_synthesize(render_job *j, char *err) {
    size_t e = 0;
    int64_t pos = 0;
    const int64_t report_every = (int64_t)j->rate / 4 > 0 ? (int64_t)j->rate / 4 : 1;
    int64_t next_report = 0;
    while (pos < j->total) {
        int fill = 0;
        while (fill < BLOCK && pos < j->total) {
            render_play_due(j, &e, pos);
            int64_t stop = e < j->n_ev && j->ev[e].frame < j->total ? j->ev[e].frame : j->total;
            int64_t n = stop - pos;
            if (n > BLOCK - fill) n = BLOCK - fill;
            float *b = j->fbuf + 2 * fill;
            if (fluid_synth_write_float(j->synth, (int)n, b, 0, 2, b, 1, 2) != FLUID_OK)
                return gm_fail(err, "FluidSynth failed while rendering%s%s", fs_first_error[0] ? ": " : "", fs_first_error);
            fill += (int)n;
            pos += n;
        }
        render_to_pcm16(j, fill);
        if (fwrite(j->obuf, 4, (size_t)fill, j->out.f) != (size_t)fill)
            return gm_fail(err, "cannot write '%s': %s", j->path, strerror(errno));
        if (j->p.progress && (pos >= next_report || pos == j->total)) {
            j->p.progress(j->p.user_data, (size_t)pos, (size_t)j->total);
            next_report = pos + report_every;
        }
    }
    if (j->p.progress && j->total == 0) j->p.progress(j->p.user_data, 0, 0);
    return 0;
}

/* Checks → tempo map → length → synthesizer → events → file → synthesis →
 * commit (flush, sync, rename). */
int gm_render_wav(const gm_score *s, const char *wav_path, const gm_render_params *pp,
                  gm_render_stats *stats, char *err) {
    render_job j;
    memset(&j, 0, sizeof j);
    j.s = s;
    j.path = wav_path;
    j.p = pp ? *pp : gm_render_default_params();
    if (stats) memset(stats, 0, sizeof *stats);
    if (err) err[0] = 0;
    if (render_check_args(&j, err)) return -1; /* stats stay zero */
    int rc = render_tempo_map(&j, err);
    if (!rc) rc = render_measure(&j, err);
    if (!rc) rc = render_open_synth(&j, err);
    if (!rc) rc = render_events(&j, err);
    if (!rc) rc = render_open_output(&j, err);
    if (!rc) rc = render_synthesize(&j, err);
    if (!rc) rc = gm_atomic_commit(&j.out, err);
    if (!rc) {
        j.st.frames = (size_t)j.total;
        j.st.seconds = (double)j.total / j.rate;
    }
    render_job_free(&j);
    if (stats) *stats = j.st;
    return rc ? -1 : 0;
}

#endif /* GM_NO_FLUIDSYNTH */
