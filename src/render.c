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

int gm_render_wav(const gm_score *s, const char *wav_path, const gm_render_params *pp,
                  gm_render_stats *stats, char *err) {
    gm_render_params p = pp ? *pp : gm_render_default_params();
    gm_render_stats st;
    memset(&st, 0, sizeof st);
    if (stats) memset(stats, 0, sizeof *stats);
    if (err) err[0] = 0;

    fluid_settings_t *settings = NULL;
    fluid_synth_t *synth = NULL;
    gm_tempo *tempos = NULL;
    double *tsec = NULL;
    ev_t *ev = NULL;
    int *track_chan = NULL;
    float *fbuf = NULL;
    uint8_t *obuf = NULL;
    uint16_t *held = NULL; /* [n_slots][128] notes sounding per channel and key */
    gm_atomic_file out = {0};
    FILE *f = NULL; /* out.f once open */
    int rc = -1;

    /* ---- arguments ---- */
    if (!s || !wav_path || !wav_path[0]) return gm_fail(err, "render: missing score or output path");
    if (s->ticks_per_quarter <= 0) return gm_fail(err, "score has no valid ticks per quarter (%d)", s->ticks_per_quarter);
    if (p.sample_rate < 8000 || p.sample_rate > 96000)
        return gm_fail(err, "sample rate %d Hz is outside 8000..96000", p.sample_rate);
    if (!(p.gain >= 0 && p.gain <= 10)) return gm_fail(err, "gain %g is outside 0..10", p.gain);
    if (!(p.tail_s >= 0 && p.tail_s <= 60)) return gm_fail(err, "tail %g s is outside 0..60", p.tail_s);
    if (!(p.max_seconds > 0)) p.max_seconds = 7200.0;
    const char *sf = p.soundfont && p.soundfont[0] ? p.soundfont : gm_render_find_soundfont();
    if (!sf)
        return gm_fail(err, "no SoundFont found: install fluid-soundfont-gm or timgm6mb-soundfont, "
                            "or give one (--soundfont FILE.sf2 or GETMUSIC_SOUNDFONT)");
    gm_strlcpy(st.soundfont, sf, sizeof st.soundfont);
    {
        FILE *probe = fopen(sf, "rb");
        if (!probe) return gm_fail(err, "cannot open SoundFont '%s': %s", sf, strerror(errno));
        fclose(probe);
    }

    /* ---- tempo map (a sorted copy: in-memory scores may be unsorted) ---- */
    tempo_map tm = {.n = s->n_tempos > 0 ? s->n_tempos : 0, .tpq = (double)s->ticks_per_quarter};
    if (tm.n) {
        tempos = malloc((size_t)tm.n * sizeof *tempos);
        tsec = malloc((size_t)tm.n * sizeof *tsec);
        if (!tempos || !tsec) { gm_fail(err, "out of memory"); goto done; }
        memcpy(tempos, s->tempos, (size_t)tm.n * sizeof *tempos);
        for (int i = 0; i < tm.n; i++)
            if (tempos[i].tick < 0) tempos[i].tick = 0;
        qsort(tempos, (size_t)tm.n, sizeof *tempos, tempo_cmp);
        double sec = 0, usec = 500000;
        int64_t at = 0;
        for (int i = 0; i < tm.n; i++) {
            sec += (double)(tempos[i].tick - at) * usec / 1e6 / tm.tpq;
            tsec[i] = sec;
            at = tempos[i].tick;
            usec = tempos[i].usec_per_quarter;
        }
        tm.t = tempos;
        tm.sec = tsec;
    }

    /* ---- length: refuse too long before allocating anything big ---- */
    size_t n_notes = 0;
    double end_s = 0;
    for (int ti = 0; ti < s->n_tracks; ti++) {
        const gm_track *t = &s->tracks[ti];
        for (size_t i = 0; i < t->n_notes; i++) {
            const gm_note *n = &t->notes[i];
            int64_t on = n->tick > 0 ? n->tick : 0;
            int64_t dur = n->duration > 0 ? n->duration : 1;
            int64_t off = dur > INT64_MAX - on ? INT64_MAX : on + dur;
            double e = tm_seconds(&tm, off);
            if (e > end_s) end_s = e;
        }
        n_notes += t->n_notes;
    }
    if (!(end_s <= p.max_seconds)) {
        gm_fail(err, "the piece lasts %.0f s, over the %.0f s limit", end_s, p.max_seconds);
        goto done;
    }
    const double rate = (double)p.sample_rate;
    const int64_t total = (int64_t)llround((end_s + p.tail_s) * rate);
    if ((uint64_t)total * 4u > 0xFFFFFFFFu - 36u) {
        gm_fail(err, "%.0f s at %d Hz is too long for a WAV file (4 GiB)", end_s + p.tail_s, p.sample_rate);
        goto done;
    }

    /* ---- synthesizer (no driver, shell or server: we call it ourselves) ---- */
    fs_quiet();
    settings = new_fluid_settings();
    if (!settings) { gm_fail(err, "FluidSynth: cannot create settings"); goto done; }
    int n_slots = 16;
    chan_slot slots[MAX_CHANNELS];
    memset(slots, 0, sizeof slots);
    track_chan = malloc((size_t)(s->n_tracks > 0 ? s->n_tracks : 1) * sizeof *track_chan);
    if (!track_chan) { gm_fail(err, "out of memory"); goto done; }
    for (int ti = 0; ti < s->n_tracks; ti++) {
        const gm_track *t = &s->tracks[ti];
        track_chan[ti] = -1;
        if (!t->n_notes) continue;
        int drum = t->is_drum ? 1 : 0;
        int prog = t->program >= 0 && t->program <= 127 ? t->program : 0;
        int want = drum ? 9 : (t->channel >= 0 && t->channel <= 15 && t->channel != 9 ? t->channel : -1);
        track_chan[ti] = chan_pick(slots, &n_slots, want, drum, prog);
        if (track_chan[ti] < 0) { gm_fail(err, "too many instruments to render"); goto done; }
        if (track_chan[ti] != t->channel) st.tracks_moved++;
    }
    for (int c = 0; c < n_slots; c++) st.channels += slots[c].used;
    fluid_settings_setnum(settings, "synth.sample-rate", rate);
    fluid_settings_setnum(settings, "synth.gain", p.gain);
    fluid_settings_setint(settings, "synth.midi-channels", (n_slots + 15) / 16 * 16);
    fluid_settings_setint(settings, "synth.polyphony", 1024);
    fluid_settings_setint(settings, "synth.cpu-cores", 1);
    fluid_settings_setint(settings, "synth.threadsafe-api", 0);
    fluid_settings_setint(settings, "synth.lock-memory", 0);
    fluid_settings_setint(settings, "synth.reverb.active", p.effects ? 1 : 0);
    fluid_settings_setint(settings, "synth.chorus.active", p.effects ? 1 : 0);
    fluid_settings_setint(settings, "synth.verbose", 0);
    synth = new_fluid_synth(settings);
    if (!synth) {
        gm_fail(err, "FluidSynth: cannot create a synthesizer%s%s", fs_first_error[0] ? ": " : "", fs_first_error);
        goto done;
    }
    glib_mute gm;
    glib_mute_on(&gm);
    int sfid = fluid_synth_sfload(synth, sf, 1);
    glib_mute_off(&gm);
    if (sfid == FLUID_FAILED) {
        gm_fail(err, "cannot load SoundFont '%s': %s", sf, fs_first_error[0] ? fs_first_error : "not a SoundFont 2 file");
        goto done;
    }
    for (int c = 0; c < n_slots; c++) {
        if (!slots[c].used) continue;
        /* Drum channels take their kit from bank 128 (FluidSynth's rule for
         * a drum-type channel; missing kits fall back to 128:0). */
        fluid_synth_set_channel_type(synth, c, slots[c].drum ? CHANNEL_TYPE_DRUM : CHANNEL_TYPE_MELODIC);
        fluid_synth_bank_select(synth, c, slots[c].drum ? 128 : 0);
        fluid_synth_program_change(synth, c, slots[c].program);
    }

    /* ---- events, in frame order ---- */
    if (n_notes > (SIZE_MAX / sizeof *ev) / 2) { gm_fail(err, "too many notes"); goto done; }
    ev = malloc((n_notes ? 2 * n_notes : 1) * sizeof *ev);
    if (!ev) { gm_fail(err, "out of memory (%zu notes)", n_notes); goto done; }
    size_t n_ev = 0;
    for (int ti = 0; ti < s->n_tracks; ti++) {
        const gm_track *t = &s->tracks[ti];
        if (track_chan[ti] < 0) continue;
        for (size_t i = 0; i < t->n_notes; i++) {
            const gm_note *n = &t->notes[i];
            int64_t on = n->tick > 0 ? n->tick : 0;
            int64_t dur = n->duration > 0 ? n->duration : 1;
            int64_t off = dur > INT64_MAX - on ? INT64_MAX : on + dur;
            int64_t f_on = (int64_t)llround(tm_seconds(&tm, on) * rate);
            int64_t f_off = (int64_t)llround(tm_seconds(&tm, off) * rate);
            if (f_off <= f_on) f_off = f_on + 1; /* every note sounds, however short */
            uint8_t vel = n->velocity ? (n->velocity > 127 ? 127 : n->velocity) : 1;
            ev[n_ev++] = (ev_t){.frame = f_on, .on = 1, .key = n->pitch & 127, .vel = vel, .chan = (uint16_t)track_chan[ti]};
            ev[n_ev++] = (ev_t){.frame = f_off, .on = 0, .key = n->pitch & 127, .chan = (uint16_t)track_chan[ti]};
        }
    }
    qsort(ev, n_ev, sizeof *ev, ev_cmp);

    /* ---- output file ---- */
    fbuf = malloc(2 * BLOCK * sizeof *fbuf);
    obuf = malloc(4 * BLOCK);
    if (!fbuf || !obuf) { gm_fail(err, "out of memory"); goto done; }
    if (gm_atomic_open(&out, wav_path, err)) goto done;
    f = out.f;
    uint8_t hdr[44];
    wav_header(hdr, (uint32_t)p.sample_rate, (uint32_t)(total * 4));
    if (fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr) { gm_fail(err, "cannot write '%s': %s", wav_path, strerror(errno)); goto done; }

    /* ---- synthesis ---- */
    /* A note-off only ends a key when no other note of it is still held on
     * that channel, so overlapping notes of one pitch (two tracks sharing a
     * channel, or doubled notes) sound for their full lengths. */
    held = calloc((size_t)n_slots * 128, sizeof *held);
    if (!held) { gm_fail(err, "out of memory"); goto done; }
    size_t e = 0;
    int64_t pos = 0;
    const int64_t report_every = (int64_t)rate / 4 > 0 ? (int64_t)rate / 4 : 1;
    int64_t next_report = 0;
    while (pos < total) {
        int fill = 0;
        while (fill < BLOCK && pos < total) {
            for (; e < n_ev && ev[e].frame <= pos; e++) {
                const ev_t *x = &ev[e];
                uint16_t *h = &held[(size_t)x->chan * 128 + x->key];
                if (x->on) {
                    if (fluid_synth_noteon(synth, x->chan, x->key, x->vel) == FLUID_OK) st.notes++;
                    if (*h < UINT16_MAX) (*h)++;
                } else if (*h && --(*h) == 0) {
                    fluid_synth_noteoff(synth, x->chan, x->key);
                }
            }
            int64_t stop = e < n_ev && ev[e].frame < total ? ev[e].frame : total;
            int64_t n = stop - pos;
            if (n > BLOCK - fill) n = BLOCK - fill;
            float *b = fbuf + 2 * fill;
            if (fluid_synth_write_float(synth, (int)n, b, 0, 2, b, 1, 2) != FLUID_OK) {
                gm_fail(err, "FluidSynth failed while rendering%s%s", fs_first_error[0] ? ": " : "", fs_first_error);
                goto done;
            }
            fill += (int)n;
            pos += n;
        }
        for (int i = 0; i < 2 * fill; i++) {
            float x = fbuf[i] * 32767.0f;
            long v;
            if (x >= 32767.0f) { v = 32767; st.clipped += x >= 32767.5f; }
            else if (x <= -32768.0f) { v = -32768; st.clipped += x <= -32768.5f; }
            else v = lrintf(x);
            int a = (int)(v < 0 ? -v : v);
            if (a > st.peak) st.peak = a > 32767 ? 32767 : a;
            uint16_t u = (uint16_t)(int16_t)v;
            obuf[2 * i] = (uint8_t)u;
            obuf[2 * i + 1] = (uint8_t)(u >> 8);
        }
        if (fwrite(obuf, 4, (size_t)fill, f) != (size_t)fill) {
            gm_fail(err, "cannot write '%s': %s", wav_path, strerror(errno));
            goto done;
        }
        if (p.progress && (pos >= next_report || pos == total)) {
            p.progress(p.user_data, (size_t)pos, (size_t)total);
            next_report = pos + report_every;
        }
    }
    if (p.progress && total == 0) p.progress(p.user_data, 0, 0);

    /* ---- finish: flush, sync, rename ---- */
    if (gm_atomic_commit(&out, err)) goto done;
    st.frames = (size_t)total;
    st.seconds = (double)total / rate;
    rc = 0;

done:
    gm_atomic_abort(&out); /* does nothing after a commit */
    free(held);
    free(obuf);
    free(fbuf);
    free(ev);
    free(track_chan);
    free(tsec);
    free(tempos);
    if (synth) delete_fluid_synth(synth);
    if (settings) delete_fluid_settings(settings);
    if (stats) *stats = st;
    return rc;
}

#endif /* GM_NO_FLUIDSYNTH */
