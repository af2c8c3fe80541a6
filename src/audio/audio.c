/*
 * audio.c — reading recordings: WAV, FLAC, OGG/Vorbis, Opus and (where the
 * installed libsndfile has it) MP3, at any sample rate, mixed down to mono.
 *
 * The reader streams: gm_audio_read hands out blocks of mono samples, and
 * the only buffer held is one block of interleaved frames, so an hour-long
 * file costs the same memory as a second-long one (transcribe.c keeps only
 * per-frame features). Files are opened by path or from memory (through
 * libsndfile's virtual I/O, which is what the fuzz target drives).
 *
 * Why clean the samples: a float WAV can hold NaN, infinities or values far
 * outside [-1, 1]; the analysis downstream (FFTs, YIN) would spread a single
 * NaN over every later frame. Non-finite samples read as 0 and the rest are
 * clamped to [-8, 8] (a clipped but finite signal).
 *
 * Built without libsndfile (-DGM_NO_AUDIO), every entry point returns an
 * error saying so.
 */
#include "getmusic.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef GM_NO_AUDIO
#include <sndfile.h>

/* Bounds on what a header may claim: beyond these the file is corrupt or
 * not music (libsndfile accepts up to 1024 channels and any rate). */
#define AUDIO_MAX_CHANNELS 64
#define AUDIO_MIN_RATE 1000
#define AUDIO_MAX_RATE 768000
#define AUDIO_BLOCK 4096 /* frames per read from libsndfile */

struct gm_audio {
    SNDFILE *sf;
    SF_INFO info;
    /* Memory source for sf_open_virtual (borrowed; NULL for files). */
    const unsigned char *mem;
    sf_count_t mem_size, mem_pos;
    float *block; /* [AUDIO_BLOCK * channels] interleaved frames */
};

/* ------------------------------------------------------------------------ */
/* Virtual I/O over a memory buffer                                          */
/* ------------------------------------------------------------------------ */

static sf_count_t vio_len(void *u) { return ((gm_audio *)u)->mem_size; }

static sf_count_t vio_seek(sf_count_t off, int whence, void *u) {
    gm_audio *a = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? a->mem_pos : a->mem_size;
    sf_count_t p = base + off;
    if (p < 0) p = 0; /* libsndfile probes with odd offsets; never let pos go negative */
    if (p > a->mem_size) p = a->mem_size;
    a->mem_pos = p;
    return p;
}

static sf_count_t vio_read(void *dst, sf_count_t n, void *u) {
    gm_audio *a = u;
    sf_count_t left = a->mem_size - a->mem_pos;
    if (n > left) n = left;
    if (n <= 0) return 0;
    memcpy(dst, a->mem + a->mem_pos, (size_t)n);
    a->mem_pos += n;
    return n;
}

static sf_count_t vio_write(const void *src, sf_count_t n, void *u) {
    (void)src, (void)n, (void)u;
    return 0; /* read-only */
}

static sf_count_t vio_tell(void *u) { return ((gm_audio *)u)->mem_pos; }

/* ------------------------------------------------------------------------ */
/* Opening                                                                   */
/* ------------------------------------------------------------------------ */

/* Checks the header's claims and allocates the block; frees `a` on failure. */
static gm_audio *finish_open(gm_audio *a, const char *what, char *err) {
    if (!a->sf) {
        /* sf_strerror(NULL) holds the reason of the last failed open. */
        gm_fail(err, "%s: not a readable audio file (%s)", what, sf_strerror(NULL));
        free(a);
        return NULL;
    }
    const SF_INFO *i = &a->info;
    const char *bad = i->channels < 1 || i->channels > AUDIO_MAX_CHANNELS ? "channel count"
                      : i->samplerate < AUDIO_MIN_RATE || i->samplerate > AUDIO_MAX_RATE ? "sample rate"
                                                                                        : NULL;
    if (bad) {
        gm_fail(err, "%s: unusable %s in the header (%d channels, %d Hz)", what, bad, i->channels, i->samplerate);
        gm_audio_close(a);
        return NULL;
    }
    /* Integer formats come out in [-1, 1]; float files keep their values. */
    sf_command(a->sf, SFC_SET_NORM_FLOAT, NULL, SF_TRUE);
    a->block = malloc((size_t)AUDIO_BLOCK * (size_t)i->channels * sizeof *a->block);
    if (!a->block) {
        gm_fail(err, "%s: out of memory", what);
        gm_audio_close(a);
        return NULL;
    }
    return a;
}

gm_audio *gm_audio_open(const char *path, char *err) {
    if (!path) return gm_fail(err, "audio: no file named"), NULL;
    gm_audio *a = calloc(1, sizeof *a);
    if (!a) return gm_fail(err, "%s: out of memory", path), NULL;
    a->sf = sf_open(path, SFM_READ, &a->info);
    return finish_open(a, path, err);
}

gm_audio *gm_audio_open_mem(const void *data, size_t size, char *err) {
    if (!data && size) return gm_fail(err, "audio: null buffer"), NULL;
    gm_audio *a = calloc(1, sizeof *a);
    if (!a) return gm_fail(err, "audio: out of memory"), NULL;
    static const unsigned char empty[1];
    a->mem = data ? data : empty;
    a->mem_size = (sf_count_t)size;
    SF_VIRTUAL_IO vio = {vio_len, vio_seek, vio_read, vio_write, vio_tell};
    a->sf = sf_open_virtual(&vio, SFM_READ, &a->info, a);
    return finish_open(a, "audio in memory", err);
}

gm_audio_info gm_audio_get_info(const gm_audio *a) {
    gm_audio_info r = {0};
    if (!a) return r;
    r.sample_rate = a->info.samplerate;
    r.channels = a->info.channels;
    /* libsndfile reports SF_COUNT_MAX when the length is unknown (pipes,
     * some OGG streams); a corrupt header can claim anything, so this is
     * a hint for progress bars, never a size to allocate. */
    r.frames = a->info.frames >= 0 && a->info.frames < ((sf_count_t)1 << 50) ? (int64_t)a->info.frames : -1;
    SF_FORMAT_INFO fi = {.format = a->info.format & SF_FORMAT_TYPEMASK};
    if (sf_command(NULL, SFC_GET_FORMAT_MAJOR, &fi, sizeof fi) == 0 && fi.name) gm_strlcpy(r.format, fi.name, sizeof r.format);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */
/* ------------------------------------------------------------------------ */

long gm_audio_read(gm_audio *a, float *out, size_t n, char *err) {
    if (!a || !out) return gm_fail(err, "audio: null argument");
    if (n > AUDIO_BLOCK) n = AUDIO_BLOCK;
    const int ch = a->info.channels;
    sf_count_t got = sf_readf_float(a->sf, a->block, (sf_count_t)n);
    if (got < 0) return gm_fail(err, "audio: read failed (%s)", sf_strerror(a->sf));
    if (got == 0 && sf_error(a->sf) != SF_ERR_NO_ERROR)
        return gm_fail(err, "audio: read failed (%s)", sf_strerror(a->sf));
    for (sf_count_t f = 0; f < got; f++) {
        const float *fr = a->block + (size_t)f * (size_t)ch;
        double sum = 0;
        for (int c = 0; c < ch; c++) {
            float v = fr[c];
            if (!isfinite(v)) v = 0;
            sum += v < -8 ? -8 : v > 8 ? 8 : v;
        }
        out[f] = (float)(sum / ch); /* mixdown: the mean keeps a mono copy in stereo at its level */
    }
    return (long)got;
}

void gm_audio_close(gm_audio *a) {
    if (!a) return;
    if (a->sf) sf_close(a->sf);
    free(a->block);
    free(a);
}

const char *gm_audio_backend(void) { return sf_version_string(); }

#else /* GM_NO_AUDIO */

struct gm_audio { int unused; };

#define NO_AUDIO "audio support not built (install libsndfile1-dev and libaubio-dev, then rebuild)"

gm_audio *gm_audio_open(const char *path, char *err) {
    (void)path;
    gm_fail(err, NO_AUDIO);
    return NULL;
}
gm_audio *gm_audio_open_mem(const void *data, size_t size, char *err) {
    (void)data, (void)size;
    gm_fail(err, NO_AUDIO);
    return NULL;
}
gm_audio_info gm_audio_get_info(const gm_audio *a) {
    (void)a;
    gm_audio_info r = {0};
    return r;
}
long gm_audio_read(gm_audio *a, float *out, size_t n, char *err) {
    (void)a, (void)out, (void)n;
    return gm_fail(err, NO_AUDIO);
}
void gm_audio_close(gm_audio *a) { (void)a; }
const char *gm_audio_backend(void) { return NULL; }
#endif
