/* test_render.c — WAV rendering through FluidSynth: header fields, length
 * from the tempo map, sound where notes play and silence before and after,
 * note timing to the frame block, channel assignment, and that failures
 * leave no file behind and never touch an existing one. Rendering checks
 * skip (with a message) when no SoundFont is installed. */
#include "getmusic.h"
#include "test.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Largest |sample| over frames [a, b) of a 16-bit stereo buffer. */
static int peak(const int16_t *pcm, size_t frames, size_t a, size_t b) {
    int m = 0;
    if (b > frames) b = frames;
    for (size_t i = 2 * a; i < 2 * b; i++) m = abs(pcm[i]) > m ? abs(pcm[i]) : m;
    return m;
}

/* Files in the test folder whose name contains `part`. */
static int count_files(const char *part) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)))
        if (strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

static int file_is(const char *path, const char *text) {
    size_t n;
    uint8_t *d = test_slurp(path, &n);
    int same = d && n == strlen(text) && !memcmp(d, text, n);
    free(d);
    return same;
}

typedef struct { size_t calls, last_done, last_total; int monotonic; } prog_rec;
static void on_progress(void *u, size_t done, size_t total) {
    prog_rec *r = u;
    if (r->calls && done < r->last_done) r->monotonic = 0;
    r->calls++;
    r->last_done = done;
    r->last_total = total;
}

/* A small score: 480 tpq, 120 bpm then 60 bpm from tick 1920.
 *   piano (ch 0, program 0):   C4  tick 1920, one beat   → 2.0 .. 3.0 s
 *   strings (ch 0, program 48): E4 tick 2400, one beat   → 3.0 .. 4.0 s (shares ch 0: moved)
 *   drums (ch 9):              kick tick 2880, half beat → 4.0 .. 4.5 s
 * Nothing sounds before 2.0 s. */
static void build_score(gm_score *s) {
    gm_score_init(s, 480);
    gm_score_add_tempo(s, 1920, 1000000); /* 60 bpm; unsorted on purpose */
    gm_score_add_tempo(s, 0, 500000);     /* 120 bpm */
    int p = gm_score_add_track(s, "Piano", 0, 0, 0);
    gm_track_add_note(&s->tracks[p], 1920, 480, 60, 100, 0);
    int st = gm_score_add_track(s, "Strings", 48, 0, 0);
    gm_track_add_note(&s->tracks[st], 2400, 480, 64, 100, 0);
    int d = gm_score_add_track(s, "Drums", 0, 9, 1);
    gm_track_add_note(&s->tracks[d], 2880, 240, 36, 110, 9);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/gm_test_render.XXXXXX");
    if (!mkdtemp(dir)) { fprintf(stderr, "cannot make a temporary folder\n"); return 1; }
    char wav[512], junk[512], err[GM_ERR_SIZE];
#ifdef GM_NO_FLUIDSYNTH
    {   /* Built without FluidSynth (no libfluidsynth-dev): rendering says so. */
        gm_score e;
        gm_score_init(&e, 480);
        path_in(wav, sizeof wav, "out.wav");
        CHECK(gm_render_wav(&e, wav, NULL, NULL, err) == -1 && strstr(err, "FluidSynth"), "stub: %s", err);
        CHECK(access(wav, F_OK) != 0, "stub left a file");
        gm_score_free(&e);
        rmdir(dir);
        SKIP("built without FluidSynth (install libfluidsynth-dev): rendering not checked");
        return test_done("test_render");
    }
#endif

    /* ---- defaults and SoundFont lookup ---- */
    gm_render_params d = gm_render_default_params();
    CHECK(d.sample_rate == 44100 && d.gain > 0 && d.tail_s > 0 && d.soundfont == NULL && d.max_seconds == 7200,
          "defaults: %d Hz, gain %g, tail %g", d.sample_rate, d.gain, d.tail_s);
    const char *old_env = getenv("GETMUSIC_SOUNDFONT");
    char *saved = old_env ? strdup(old_env) : NULL;
    setenv("GETMUSIC_SOUNDFONT", "/no/such/font.sf2", 1);
    const char *f = gm_render_find_soundfont();
    CHECK(f && !strcmp(f, "/no/such/font.sf2"), "GETMUSIC_SOUNDFONT honoured: %s", f ? f : "NULL");
    if (saved) setenv("GETMUSIC_SOUNDFONT", saved, 1);
    else unsetenv("GETMUSIC_SOUNDFONT");
    free(saved);

    gm_score s;
    build_score(&s);

    /* ---- failures: clear reason, no file, an existing file untouched ---- */
    path_in(wav, sizeof wav, "out.wav");
    gm_render_params p = gm_render_default_params();
    p.soundfont = "/no/such/font.sf2";
    err[0] = 0;
    CHECK(gm_render_wav(&s, wav, &p, NULL, err) == -1 && strstr(err, "/no/such/font.sf2"), "missing SoundFont: %s", err);
    CHECK(access(wav, F_OK) != 0, "missing SoundFont left a file");
    test_write_text(wav, "precious");
    CHECK(gm_render_wav(&s, wav, &p, NULL, err) == -1, "missing SoundFont over an existing file");
    CHECK(file_is(wav, "precious"), "existing file changed by a failed render");
    path_in(junk, sizeof junk, "junk.sf2");
    test_write_text(junk, "this is not a SoundFont");
    p.soundfont = junk;
    err[0] = 0;
    CHECK(gm_render_wav(&s, wav, &p, NULL, err) == -1 && strstr(err, "junk.sf2") && !strchr(err, '\n'),
          "junk SoundFont: %s", err);
    CHECK(file_is(wav, "precious"), "existing file changed by a junk SoundFont");
    CHECK(count_files(".tmp.") == 0, "temporary files left behind");
    p = gm_render_default_params();
    p.sample_rate = 1000;
    CHECK(gm_render_wav(&s, wav, &p, NULL, err) == -1 && strstr(err, "sample rate"), "bad sample rate: %s", err);
    p = gm_render_default_params();
    p.gain = -1;
    CHECK(gm_render_wav(&s, wav, &p, NULL, err) == -1, "negative gain accepted");
    CHECK(gm_render_wav(NULL, wav, NULL, NULL, err) == -1 && gm_render_wav(&s, "", NULL, NULL, err) == -1,
          "NULL score / empty path accepted");

    /* Which SoundFont the rendering checks use: the one the user set, else the
     * small TimGM6mb (fast under sanitizers), else whatever is installed. */
    const char *sf = getenv("GETMUSIC_SOUNDFONT");
    if (!sf || !sf[0]) sf = access("/usr/share/sounds/sf2/TimGM6mb.sf2", R_OK) == 0 ? "/usr/share/sounds/sf2/TimGM6mb.sf2"
                                                                                  : gm_render_find_soundfont();
    if (!sf || access(sf, R_OK) != 0) {
        SKIP("no readable SoundFont (%s; install timgm6mb-soundfont or fluid-soundfont-gm): rendering not checked",
             sf ? sf : "none found");
        gm_score_free(&s);
        remove(junk);
        remove(wav);
        rmdir(dir);
        return test_done("test_render");
    }

    /* A piece longer than the limit: refused before any work, file untouched. */
    {
        gm_score lng;
        gm_score_init(&lng, 480);
        int t = gm_score_add_track(&lng, "Long", 0, 0, 0);
        gm_track_add_note(&lng.tracks[t], (int64_t)480 * 2 * 3 * 3600, 480, 60, 100, 0); /* 3 hours at 120 bpm */
        p = gm_render_default_params();
        p.soundfont = sf;
        err[0] = 0;
        CHECK(gm_render_wav(&lng, wav, &p, NULL, err) == -1 && strstr(err, "limit"), "3-hour piece: %s", err);
        CHECK(file_is(wav, "precious"), "existing file changed by a refused long piece");
        /* until_tick: a short note rendered as long as a longer piece
         * (one track of a song alone keeps the song's length). */
        gm_score_free(&lng);
        gm_score_init(&lng, 480);
        t = gm_score_add_track(&lng, "Short", 0, 0, 0);
        gm_track_add_note(&lng.tracks[t], 0, 240, 60, 100, 0); /* 0.25 s at 120 bpm */
        char wav2[600];
        path_in(wav2, sizeof wav2, "until.wav");
        p.sample_rate = 8000;
        p.tail_s = 0;
        p.until_tick = 480 * 8; /* 4 s */
        gm_render_stats us;
        CHECK(gm_render_wav(&lng, wav2, &p, &us, err) == 0 && us.frames == 4 * 8000, "until_tick: %zu frames (%s)",
              us.frames, err);
        p.until_tick = 0;
        CHECK(gm_render_wav(&lng, wav2, &p, &us, err) == 0 && us.frames == 2000, "without until_tick: %zu frames",
              us.frames);
        remove(wav2);
        gm_score_free(&lng);
    }
    /* An output folder that does not exist. */
    {
        char bad[600];
        snprintf(bad, sizeof bad, "%s/no-such-folder/out.wav", dir);
        p = gm_render_default_params();
        p.soundfont = sf;
        err[0] = 0;
        CHECK(gm_render_wav(&s, bad, &p, NULL, err) == -1 && err[0], "missing output folder: %s", err);
    }

    /* ---- a real render over the existing file ---- */
    chmod(wav, 0640);
    p = gm_render_default_params();
    p.soundfont = sf;
    p.sample_rate = 22050;
    p.tail_s = 3.0;
    prog_rec pr = {.monotonic = 1};
    p.progress = on_progress;
    p.user_data = &pr;
    gm_render_stats st;
    err[0] = 0;
    int rc = gm_render_wav(&s, wav, &p, &st, err);
    CHECK(rc == 0, "render failed: %s", err);
    CHECK(count_files(".tmp.") == 0, "temporary files left behind after success");
    struct stat sb;
    CHECK(stat(wav, &sb) == 0 && (sb.st_mode & 0777) == 0640, "existing file's mode not kept: %o", (unsigned)(sb.st_mode & 0777));

    /* gm_score_tick_to_seconds wants sorted tempos; the renderer sorts its own. */
    gm_score sorted;
    CHECK(gm_score_copy(&sorted, &s) == 0, "copy");
    gm_score_sort(&sorted);
    const double end_s = gm_score_tick_to_seconds(&sorted, 2880 + 240);
    gm_score_free(&sorted);
    CHECK(fabs(end_s - 4.5) < 1e-9, "tempo map: piece ends at %g s, want 4.5", end_s);
    const size_t want_frames = (size_t)llround((end_s + 3.0) * 22050);
    CHECK(st.frames == want_frames && fabs(st.seconds - 7.5) < 1e-3, "stats: %zu frames (%g s), want %zu", st.frames,
          st.seconds, want_frames);
    CHECK(st.notes == 3, "stats: %zu notes played, want 3", st.notes);
    CHECK(st.channels == 3 && st.tracks_moved == 1, "stats: %d channels, %d tracks moved; want 3 and 1", st.channels,
          st.tracks_moved);
    CHECK(!strcmp(st.soundfont, sf), "stats: SoundFont %s", st.soundfont);
    CHECK(st.peak > 0 && st.clipped == 0, "stats: peak %d, %zu clipped", st.peak, st.clipped);
    CHECK(pr.calls >= 2 && pr.monotonic && pr.last_done == want_frames && pr.last_total == want_frames,
          "progress: %zu calls, last %zu/%zu", pr.calls, pr.last_done, pr.last_total);

    size_t n = 0;
    uint8_t *w = test_slurp(wav, &n);
    CHECK(w && n >= 44, "cannot read the WAV back");
    if (w && n >= 44) {
        uint32_t data = rd32(w + 40);
        CHECK(!memcmp(w, "RIFF", 4) && !memcmp(w + 8, "WAVE", 4) && !memcmp(w + 12, "fmt ", 4) && !memcmp(w + 36, "data", 4),
              "RIFF/WAVE/fmt/data tags");
        CHECK(rd32(w + 4) == n - 8, "RIFF size %u, file %zu", rd32(w + 4), n);
        CHECK(rd32(w + 16) == 16 && rd16(w + 20) == 1 && rd16(w + 22) == 2, "fmt: size %u, format %u, channels %u",
              rd32(w + 16), rd16(w + 20), rd16(w + 22));
        CHECK(rd32(w + 24) == 22050 && rd32(w + 28) == 22050 * 4 && rd16(w + 32) == 4 && rd16(w + 34) == 16,
              "fmt: rate %u, byte rate %u, align %u, bits %u", rd32(w + 24), rd32(w + 28), rd16(w + 32), rd16(w + 34));
        CHECK(data == n - 44 && data == want_frames * 4, "data size %u, file %zu, want %zu", data, n, want_frames * 4);

        size_t frames = (n - 44) / 4;
        int16_t *pcm = malloc(frames * 2 * sizeof *pcm);
        for (size_t i = 0; i < frames * 2; i++) pcm[i] = (int16_t)rd16(w + 44 + 2 * i);
        const size_t sr = 22050;
        /* Silence, exactly, before the first note (2.0 s); the first sound
         * within FluidSynth's 64-frame block of it. */
        size_t first = 0;
        while (first < frames && pcm[2 * first] == 0 && pcm[2 * first + 1] == 0) first++;
        CHECK(first >= 2 * sr && first <= 2 * sr + 64 + 16, "first sound at frame %zu, want %zu..%zu (tempo map)", first,
              2 * sr, 2 * sr + 80);
        CHECK(peak(pcm, frames, 0, 2 * sr) == 0, "sound before the first note");
        /* Sound where each note plays. */
        CHECK(peak(pcm, frames, 2 * sr + sr / 20, 2 * sr + sr / 2) > 300, "piano note silent: peak %d",
              peak(pcm, frames, 2 * sr + sr / 20, 2 * sr + sr / 2));
        CHECK(peak(pcm, frames, 3 * sr + sr / 5, 3 * sr + 4 * sr / 5) > 300, "strings note silent: peak %d",
              peak(pcm, frames, 3 * sr + sr / 5, 3 * sr + 4 * sr / 5));
        CHECK(peak(pcm, frames, 4 * sr, 4 * sr + sr / 4) > 300, "drum hit silent: peak %d", peak(pcm, frames, 4 * sr, 4 * sr + sr / 4));
        /* Near silence well after the end (the last second of a 3 s tail). */
        CHECK(peak(pcm, frames, frames - sr, frames) <= 16, "not silent at the end: peak %d", peak(pcm, frames, frames - sr, frames));
        free(pcm);
    }
    free(w);

    /* ---- an empty score renders the tail, all silence ---- */
    {
        gm_score e;
        gm_score_init(&e, 96);
        p = gm_render_default_params();
        p.soundfont = sf;
        p.sample_rate = 8000;
        p.tail_s = 0.5;
        char ew[600];
        snprintf(ew, sizeof ew, "%s/empty.wav", dir);
        CHECK(gm_render_wav(&e, ew, &p, &st, err) == 0, "empty score: %s", err);
        w = test_slurp(ew, &n);
        CHECK(w && n == 44 + 4000 * 4 && st.notes == 0 && st.peak == 0, "empty score: %zu bytes, peak %d", n, st.peak);
        free(w);
        gm_score_free(&e);
        remove(ew);
    }

    gm_score_free(&s);
    remove(junk);
    remove(wav);
    rmdir(dir);
    return test_done("test_render");
}
