/* studio_audio.c — a track rendered to WAV (FluidSynth, src/audio/render.c) →
 * the compressed stem the page mixes (issue 22). libsndfile writes it:
 * Ogg/Opus where this libsndfile has it (about 1/13 of the WAV's bytes and
 * quick to encode; Opus runs at 48 kHz, so stems are rendered at 48 kHz),
 * else Ogg/Vorbis, else FLAC (about 1/4), else the WAV itself (a build
 * without libsndfile). Chromium, Firefox and Safari decode all of them with
 * decodeAudioData. */
#include "studio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#ifndef GM_NO_AUDIO
#include <sndfile.h>

typedef struct { int format; const char *ext, *mime; int rate; } stem_fmt;
static const stem_fmt fmts[] = {
    {SF_FORMAT_OGG | SF_FORMAT_OPUS, "opus", "audio/ogg; codecs=opus", 48000},
    {SF_FORMAT_OGG | SF_FORMAT_VORBIS, "ogg", "audio/ogg", 44100},
    {SF_FORMAT_FLAC | SF_FORMAT_PCM_16, "flac", "audio/flac", 44100},
};

/* The first format this libsndfile writes (decided once). */
static const stem_fmt *pick(void) {
    static const stem_fmt *chosen;
    static int done;
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE)) return chosen;
    const stem_fmt *c = NULL;
    for (size_t i = 0; i < sizeof fmts / sizeof *fmts && !c; i++) {
        SF_INFO in = {.samplerate = fmts[i].rate, .channels = 2, .format = fmts[i].format};
        if (sf_format_check(&in)) c = &fmts[i];
    }
    chosen = c;
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    return chosen;
}

const char *st_stem_ext(void) { return pick() ? pick()->ext : "wav"; }
const char *st_stem_mime(void) { return pick() ? pick()->mime : "audio/wav"; }
int st_stem_rate(void) { return pick() ? pick()->rate : 44100; }

int st_encode_stem(const char *wav_path, const char *out_path, char *err) {
    const stem_fmt *f = pick();
    SF_INFO in = {0};
    SNDFILE *a = sf_open(wav_path, SFM_READ, &in);
    if (!a) return gm_fail(err, "cannot read the rendered track: %s", sf_strerror(NULL));
    if (!f) { /* no encoder: the WAV as it is */
        sf_close(a);
        return rename(wav_path, out_path) ? gm_fail(err, "cannot keep the rendered track") : 0;
    }
    SF_INFO out = {.samplerate = in.samplerate, .channels = in.channels, .format = f->format};
    SNDFILE *b = sf_open(out_path, SFM_WRITE, &out);
    if (!b) {
        sf_close(a);
        return gm_fail(err, "cannot write the compressed track: %s", sf_strerror(NULL));
    }
    /* Quality: Vorbis 0.3 (about 100 kbit/s for this music); Opus at its
     * default; FLAC is lossless. */
    double q = 0.3;
    if ((f->format & SF_FORMAT_SUBMASK) == SF_FORMAT_VORBIS) sf_command(b, SFC_SET_VBR_ENCODING_QUALITY, &q, sizeof q);
    enum { BLOCK = 8192 };
    float *buf = malloc(sizeof *buf * BLOCK * (size_t)(in.channels > 0 ? in.channels : 1));
    int rc = buf ? 0 : gm_fail(err, "out of memory");
    sf_count_t n;
    while (!rc && (n = sf_readf_float(a, buf, BLOCK)) > 0)
        if (sf_writef_float(b, buf, n) != n) rc = gm_fail(err, "cannot write the compressed track: %s", sf_strerror(b));
    free(buf);
    sf_close(a);
    if (sf_close(b) && !rc) rc = gm_fail(err, "cannot finish the compressed track");
    return rc;
}

#else /* built without libsndfile: stems are WAV */

const char *st_stem_ext(void) { return "wav"; }
const char *st_stem_mime(void) { return "audio/wav"; }
int st_stem_rate(void) { return 44100; }

int st_encode_stem(const char *wav_path, const char *out_path, char *err) {
    return rename(wav_path, out_path) ? gm_fail(err, "cannot keep the rendered track") : 0;
}
#endif
