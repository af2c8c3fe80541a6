/* test_midi.c — Standard MIDI File reading and writing: hand-built files for
 * every rule of the reader, a write → read round-trip property on random
 * scores, and (when ../shared/data exists) the fixtures, POP909 and Groove. */
#include "getmusic.h"
#include "test.h"

#include <ctype.h>
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>

/* ======================================================================== */
/* Building files by hand                                                    */
/* ======================================================================== */

/* Appends the bytes of a hex string ("90 3C 64"; 'x' quotes ASCII up to the
 * next quote: "'Song'") to buf. */
static size_t hex(uint8_t *buf, size_t n, const char *h) {
    while (*h) {
        if (*h == '\'') {
            for (h++; *h && *h != '\''; h++) buf[n++] = (uint8_t)*h;
            if (*h) h++;
        } else if (isxdigit((unsigned char)h[0]) && isxdigit((unsigned char)h[1])) {
            char t[3] = {h[0], h[1], 0};
            buf[n++] = (uint8_t)strtoul(t, NULL, 16);
            h += 2;
        } else {
            h++;
        }
    }
    return n;
}

/* A whole file: MThd(format, division) then one MTrk per track string
 * (NULL-terminated list), each with its true length. */
static size_t smf(uint8_t *buf, int format, unsigned division, const char **tracks) {
    int nt = 0;
    while (tracks[nt]) nt++;
    uint8_t hdr[14] = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, (uint8_t)format, 0, (uint8_t)nt,
                       (uint8_t)(division >> 8), (uint8_t)division};
    memcpy(buf, hdr, 14);
    size_t n = 14;
    for (int i = 0; i < nt; i++) {
        memcpy(buf + n, "MTrk", 4);
        size_t len_at = n + 4;
        n = hex(buf, n + 8, tracks[i]);
        size_t len = n - len_at - 4;
        buf[len_at] = (uint8_t)(len >> 24); buf[len_at + 1] = (uint8_t)(len >> 16);
        buf[len_at + 2] = (uint8_t)(len >> 8); buf[len_at + 3] = (uint8_t)len;
    }
    return n;
}

static uint8_t g_buf[1 << 16];
static char g_err[GM_ERR_SIZE];

/* Reads g_buf[0..n) and checks success. */
static int read_ok(size_t n, gm_score *s, const char *what) {
    g_err[0] = 0;
    int rc = gm_midi_read_mem(g_buf, n, s, g_err);
    CHECK(rc == 0, "%s: read failed: %s", what, g_err);
    return rc == 0;
}

/* Checks a rejection: non-zero status, a non-empty one-line reason (that
 * contains `needle` when given) and `out` left freed. */
static void read_rejected(const uint8_t *data, size_t n, const char *needle, const char *what) {
    gm_score s;
    memset(&s, 0x55, sizeof s);
    g_err[0] = 0;
    int rc = gm_midi_read_mem(data, n, &s, g_err);
    CHECK(rc != 0, "%s: should be rejected", what);
    CHECK(g_err[0] && !strchr(g_err, '\n'), "%s: one-line reason, got '%s'", what, g_err);
    if (needle) CHECK(strstr(g_err, needle) != NULL, "%s: reason '%s' lacks '%s'", what, g_err, needle);
    CHECK(s.tracks == NULL && s.n_tracks == 0 && s.tempos == NULL && s.n_tempos == 0, "%s: out not freed", what);
    if (rc == 0) gm_score_free(&s);
}

static int note_is(const gm_note *n, int64_t tick, int64_t dur, int pitch, int vel) {
    return n->tick == tick && n->duration == dur && n->pitch == pitch && n->velocity == vel;
}

/* ======================================================================== */
/* Reader rules, one hand-built file each                                    */
/* ======================================================================== */

static void test_type0_split(void) {
    const char *trk[] = {"00 FF 03 04 'Song' 00 C1 21 00 90 3C 64 00 91 40 50 60 80 3C 00 00 81 40 00 00 FF 2F 00", NULL};
    gm_score s;
    if (!read_ok(smf(g_buf, 0, 96, trk), &s, "type 0")) return;
    CHECK(s.midi_format == 0 && s.ticks_per_quarter == 96, "format %d tpq %d", s.midi_format, s.ticks_per_quarter);
    CHECK(s.n_tracks == 2, "tracks %d", s.n_tracks);
    if (s.n_tracks == 2) {
        gm_track *a = &s.tracks[0], *b = &s.tracks[1];
        CHECK(a->channel == 0 && a->program == 0 && b->channel == 1 && b->program == 33, "channels/programs");
        CHECK(!strcmp(a->name, "Song") && !strcmp(b->name, "Song"), "names '%s' '%s'", a->name, b->name);
        CHECK(a->source_track == 0 && b->source_track == 0 && !a->is_drum && !b->is_drum, "source/drum");
        CHECK(a->n_notes == 1 && note_is(&a->notes[0], 0, 96, 60, 100) && a->notes[0].channel == 0, "note a");
        CHECK(b->n_notes == 1 && note_is(&b->notes[0], 0, 96, 64, 80) && b->notes[0].channel == 1, "note b");
    }
    CHECK(s.end_tick == 96, "end %lld", (long long)s.end_tick);
    gm_score_free(&s);
}

static void test_running_status(void) {
    /* Running status after a note-on, then kept across a text meta and a
     * sysex (what tolerant readers do), velocity-0 note-ons as note-offs,
     * and stray system common / real-time bytes skipped. */
    const char *trk[] = {"00 90 3C 64 60 3C 00 00 3E 64 00 FF 01 02 'hi' 60 3E 00"
                         " 00 F0 03 7E 7F F7 00 40 64 60 40 00"
                         " 00 F1 7F 00 F8 00 F2 01 02 00 41 64 60 41 00 00 FF 2F 00", NULL};
    gm_score s;
    if (!read_ok(smf(g_buf, 0, 96, trk), &s, "running status")) return;
    CHECK(s.n_tracks == 1, "tracks %d", s.n_tracks);
    if (s.n_tracks == 1) {
        gm_track *t = &s.tracks[0];
        CHECK(t->n_notes == 4, "notes %zu", t->n_notes);
        if (t->n_notes == 4) {
            CHECK(note_is(&t->notes[0], 0, 96, 60, 100), "n0");
            CHECK(note_is(&t->notes[1], 96, 96, 62, 100), "n1 across meta");
            CHECK(note_is(&t->notes[2], 192, 96, 64, 100), "n2 across sysex");
            CHECK(note_is(&t->notes[3], 288, 96, 65, 100), "n3 across F1/F8/F2");
        }
    }
    CHECK(s.end_tick == 384, "end %lld", (long long)s.end_tick);
    gm_score_free(&s);
}

static void test_overlaps_and_open_notes(void) {
    /* Two same-pitch notes overlapping pair FIFO; a note-off without a note
     * is ignored; a zero-length note gets duration 1; a note still open at
     * the end of the track ends there (tick 40). */
    const char *trk[] = {"00 90 3C 64 0A 3C 50 0A 80 3C 00 0A 3C 00 00 80 30 00"
                         " 00 90 41 64 00 41 00 00 3E 70 0A FF 2F 00", NULL};
    gm_score s;
    if (!read_ok(smf(g_buf, 0, 480, trk), &s, "overlaps")) return;
    CHECK(s.n_tracks == 1 && s.tracks[0].n_notes == 4, "tracks %d", s.n_tracks);
    if (s.n_tracks == 1 && s.tracks[0].n_notes == 4) {
        gm_note *n = s.tracks[0].notes;
        CHECK(note_is(&n[0], 0, 20, 60, 100), "first on, first off: %lld %lld", (long long)n[0].tick, (long long)n[0].duration);
        CHECK(note_is(&n[1], 10, 20, 60, 80), "second");
        CHECK(note_is(&n[2], 30, 10, 62, 112), "open note closed at end of track");
        CHECK(note_is(&n[3], 30, 1, 65, 100), "zero length → 1");
    }
    CHECK(s.end_tick == 40, "end %lld", (long long)s.end_tick);
    gm_score_free(&s);
}

static void test_programs(void) {
    /* Program changes split a channel into one track per program; the
     * program at the note's start counts (a change while it sounds does
     * not). In format 1, a track that sets no program takes the one set
     * for its channel in another chunk (here the conductor). */
    const char *trk[] = {"00 FF 03 03 'Con' 00 C2 18 00 FF 2F 00",
                         "00 FF 03 02 'P1' 00 C0 05 00 90 3C 64 60 80 3C 00 00 C0 07 00 90 3C 64 30 C0 09 30 80 3C 00 00 FF 2F 00",
                         "00 92 3C 64 60 82 3C 00 00 FF 2F 00", NULL};
    gm_score s;
    if (!read_ok(smf(g_buf, 1, 96, trk), &s, "programs")) return;
    CHECK(s.n_tracks == 3, "tracks %d (conductor without notes dropped)", s.n_tracks);
    if (s.n_tracks == 3) {
        CHECK(s.tracks[0].program == 5 && s.tracks[0].n_notes == 1 && s.tracks[0].source_track == 1, "prog 5");
        CHECK(s.tracks[1].program == 7 && s.tracks[1].n_notes == 1 && note_is(&s.tracks[1].notes[0], 96, 96, 60, 100), "prog 7");
        CHECK(!strcmp(s.tracks[0].name, "P1") && !strcmp(s.tracks[1].name, "P1"), "names");
        CHECK(s.tracks[2].program == 24 && s.tracks[2].channel == 2 && s.tracks[2].source_track == 2 && !s.tracks[2].name[0],
              "global program %d", s.tracks[2].program);
    }
    gm_score_free(&s);
}

static void test_drums(void) {
    const char *trk[] = {"00 99 24 64 30 89 24 00 00 99 26 50 30 26 00 00 FF 2F 00", NULL};
    gm_score s;
    if (!read_ok(smf(g_buf, 0, 96, trk), &s, "drums")) return;
    CHECK(s.n_tracks == 1 && s.tracks[0].is_drum == 1 && s.tracks[0].channel == 9 && s.tracks[0].n_notes == 2, "drum track");
    if (s.n_tracks == 1 && s.tracks[0].n_notes == 2)
        CHECK(note_is(&s.tracks[0].notes[1], 48, 48, 38, 80) && s.tracks[0].notes[1].channel == 9, "snare");
    gm_score_free(&s);
}

static void test_meta(void) {
    const char *trk[] = {"00 FF 51 03 07 A1 20 00 FF 58 04 06 03 18 08 00 FF 59 02 FD 01"
                         " 83 00 FF 51 03 0F 42 40 00 FF 58 04 03 02 18 08 00 FF 59 02 02 00 00 FF 2F 00", NULL};
    gm_score s;
    if (!read_ok(smf(g_buf, 1, 96, trk), &s, "meta")) return;
    CHECK(s.n_tracks == 0, "no notes, no tracks");
    CHECK(s.n_tempos == 2 && s.tempos[0].tick == 0 && s.tempos[0].usec_per_quarter == 500000 &&
          s.tempos[1].tick == 384 && s.tempos[1].usec_per_quarter == 1000000, "tempos");
    CHECK(s.n_timesigs == 2 && s.timesigs[0].numerator == 6 && s.timesigs[0].denominator == 8 &&
          s.timesigs[1].tick == 384 && s.timesigs[1].numerator == 3 && s.timesigs[1].denominator == 4, "metres");
    CHECK(s.n_keysigs == 2 && s.keysigs[0].sharps == -3 && s.keysigs[0].minor == 1 &&
          s.keysigs[1].tick == 384 && s.keysigs[1].sharps == 2 && s.keysigs[1].minor == 0, "keys");
    CHECK(s.end_tick == 384, "end %lld", (long long)s.end_tick);
    gm_score_free(&s);
}

static void test_type2_and_structure(void) {
    /* Type 2: sequences one after another. */
    const char *trk[] = {"00 90 3C 64 60 80 3C 00 00 FF 2F 00", "00 90 40 64 30 80 40 00 30 FF 2F 00", NULL};
    gm_score s;
    if (read_ok(smf(g_buf, 2, 96, trk), &s, "type 2")) {
        CHECK(s.n_tracks == 2 && s.midi_format == 2, "tracks");
        if (s.n_tracks == 2) {
            CHECK(note_is(&s.tracks[0].notes[0], 0, 96, 60, 100), "seq 1");
            CHECK(note_is(&s.tracks[1].notes[0], 96, 48, 64, 100) && s.tracks[1].source_track == 1, "seq 2 after seq 1");
        }
        CHECK(s.end_tick == 192, "end %lld", (long long)s.end_tick);
        gm_score_free(&s);
    }

    /* Header longer than 6 bytes, an unknown chunk, garbage after the end. */
    size_t n = hex(g_buf, 0, "'MThd' 00 00 00 08 00 01 00 01 00 60 AB CD 'XFIH' 00 00 00 03 01 02 03"
                             " 'MTrk' 00 00 00 0C 00 90 3C 64 60 80 3C 00 00 FF 2F 00 2A 2A");
    if (read_ok(n, &s, "odd structure")) {
        CHECK(s.n_tracks == 1 && s.tracks[0].n_notes == 1 && s.ticks_per_quarter == 96, "one note");
        gm_score_free(&s);
    }

    /* A chunk whose length runs past the end of the file: read to the end;
     * the event cut in half ends the track at its delta (tick 192). */
    n = hex(g_buf, 0, "'MThd' 00 00 00 06 00 00 00 01 00 60 'MTrk' 00 00 10 00"
                      " 00 90 3C 64 60 80 3C 00 00 90 3E 64 60 80 3E");
    if (read_ok(n, &s, "truncated chunk")) {
        CHECK(s.n_tracks == 1 && s.tracks[0].n_notes == 2, "two notes");
        if (s.n_tracks == 1 && s.tracks[0].n_notes == 2)
            CHECK(note_is(&s.tracks[0].notes[1], 96, 96, 62, 100), "cut note closed at the end");
        CHECK(s.end_tick == 192, "end %lld", (long long)s.end_tick);
        gm_score_free(&s);
    }

    /* RIFF RMID wrapper around an SMF. */
    n = hex(g_buf, 0, "'RIFF' 2A 00 00 00 'RMID' 'data' 1E 00 00 00 'MThd' 00 00 00 06 00 00 00 01 00 60"
                      " 'MTrk' 00 00 00 08 00 90 3C 64 60 80 3C 00");
    if (read_ok(n, &s, "RMID")) {
        CHECK(s.n_tracks == 1 && s.tracks[0].n_notes == 1, "RMID note");
        gm_score_free(&s);
    }

    /* Track names: first of the chunk, 63 bytes at most, no broken UTF-8. */
    char t1[600];
    snprintf(t1, sizeof t1, "00 FF 03 40 '%s' C3 A9 00 FF 03 02 'no' 00 90 3C 64 60 80 3C 00", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghij"); /* 62 + é */
    const char *trk2[] = {t1, NULL};
    if (read_ok(smf(g_buf, 0, 96, trk2), &s, "long name")) {
        CHECK(s.n_tracks == 1 && strlen(s.tracks[0].name) == 62 && s.tracks[0].name[0] == 'a', "name '%s'", s.tracks[0].name);
        gm_score_free(&s);
    }
}

static void test_smpte(void) {
    /* 25 fps × 40 ticks = 1000 ticks/s → 500 per quarter at 120 bpm; the
     * file's own tempo event is ignored (SMPTE ticks are real time). */
    const char *trk[] = {"00 FF 51 03 0F 42 40 00 90 3C 64 83 74 80 3C 00 00 FF 2F 00", NULL};
    gm_score s;
    if (read_ok(smf(g_buf, 0, 0xE728, trk), &s, "SMPTE 25x40")) {
        CHECK(s.ticks_per_quarter == 500 && s.n_tempos == 0, "tpq %d tempos %d", s.ticks_per_quarter, s.n_tempos);
        CHECK(s.n_tracks == 1 && note_is(&s.tracks[0].notes[0], 0, 500, 60, 100), "note kept in ticks");
        gm_score_free(&s);
    }
    /* Odd ticks per second: tpq = ticks/s and one tempo of 1 s per quarter. */
    if (read_ok(smf(g_buf, 0, 0xE701, trk), &s, "SMPTE 25x1")) {
        CHECK(s.ticks_per_quarter == 25 && s.n_tempos == 1 && s.tempos[0].usec_per_quarter == 1000000, "tpq %d", s.ticks_per_quarter);
        gm_score_free(&s);
    }
    /* 29.97 drop frame: 30 nominal, stretched by 1001/1000. */
    if (read_ok(smf(g_buf, 0, 0xE350, trk), &s, "SMPTE 29.97x80")) {
        CHECK(s.ticks_per_quarter == 1200 && s.n_tempos == 1 && s.tempos[0].usec_per_quarter == 500500, "tpq %d", s.ticks_per_quarter);
        gm_score_free(&s);
    }
    size_t n = smf(g_buf, 0, 0xFFFF, trk);
    read_rejected(g_buf, n, "frame rate", "SMPTE fps 1");
    n = smf(g_buf, 0, 0xE800, trk);
    read_rejected(g_buf, n, "ticks per frame", "SMPTE 0 ticks per frame");
}

static void test_rejections(void) {
    const char *trk[] = {"00 90 3C 64 60 80 3C 00 00 FF 2F 00", NULL};
    size_t n = smf(g_buf, 1, 0, trk);
    read_rejected(g_buf, n, "division 0", "zero division");

    const char *vlq[] = {"80 80 80 80 00 90 3C 64 60 80 3C 00", NULL};
    n = smf(g_buf, 0, 96, vlq);
    read_rejected(g_buf, n, "4 bytes", "VLQ too long");

    const char *meta_vlq[] = {"00 FF 01 80 80 80 80 01 'x'", NULL};
    n = smf(g_buf, 0, 96, meta_vlq);
    read_rejected(g_buf, n, "4 bytes", "meta length VLQ too long");

    const char *nostatus[] = {"00 3C 64 60 80 3C 00", NULL};
    n = smf(g_buf, 0, 96, nostatus);
    read_rejected(g_buf, n, "without a status", "data byte first");

    const char *baddata[] = {"00 90 3C 90 60 80 3C 00", NULL};
    n = smf(g_buf, 0, 96, baddata);
    read_rejected(g_buf, n, "data byte", "status byte as data");

    n = smf(g_buf, 3, 96, trk);
    read_rejected(g_buf, n, "format", "format 3");

    read_rejected(g_buf, 0, "empty", "empty input");
    read_rejected(NULL, 0, "empty", "NULL input");
    const uint8_t text[] = "This is not a MIDI file, just some text.\n";
    read_rejected(text, sizeof text - 1, "not a MIDI", "text");
    n = hex(g_buf, 0, "'MThd' 00 00 00 06 00 01");
    read_rejected(g_buf, n, "truncated", "truncated header");
    n = hex(g_buf, 0, "'MThd' 00 00 00 04 00 01 00 01 00 60");
    read_rejected(g_buf, n, "short", "header length 4");

    /* Thousands of tiny chunks splitting into more tracks than the cap: a
     * refusal, not gigabytes of track headers. */
    size_t nchunks = 4200, cap = 14 + nchunks * (8 + 16 * 4);
    uint8_t *big = malloc(cap);
    n = hex(big, 0, "'MThd' 00 00 00 06 00 01 10 68 00 60");
    for (size_t c = 0; c < nchunks; c++) {
        n = hex(big, n, "'MTrk' 00 00 00 40");
        for (int ch = 0; ch < 16; ch++) { big[n++] = 0; big[n++] = (uint8_t)(0x90 | ch); big[n++] = 60; big[n++] = 100; }
    }
    read_rejected(big, n, "too many tracks", "track cap");
    free(big);

    /* Missing file: one-line reason (the caller names the path). */
    gm_score s;
    CHECK(gm_midi_read_file("/nonexistent/x.mid", &s, g_err) != 0 && strstr(g_err, "No such file"), "missing file: %s", g_err);
}

/* ======================================================================== */
/* Write → read round trips                                                  */
/* ======================================================================== */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}
static int rnd_in(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

static int cmp_full(const void *a, const void *b) {
    const gm_note *x = a, *y = b;
    if (x->tick != y->tick) return x->tick < y->tick ? -1 : 1;
    if (x->pitch != y->pitch) return x->pitch - y->pitch;
    if (x->duration != y->duration) return x->duration < y->duration ? -1 : 1;
    if (x->velocity != y->velocity) return x->velocity - y->velocity;
    return x->channel - y->channel;
}

/* Exact comparison of two scores: everything a MIDI round trip keeps. */
static int same_score(const gm_score *a, const gm_score *b, const char *what) {
    int ok = 1;
#define SAME(cond, ...) do { if (!(cond)) { if (ok) CHECK(cond, __VA_ARGS__); ok = 0; } } while (0)
    SAME(a->ticks_per_quarter == b->ticks_per_quarter, "%s: tpq %d vs %d", what, a->ticks_per_quarter, b->ticks_per_quarter);
    SAME(a->end_tick == b->end_tick, "%s: end %lld vs %lld", what, (long long)a->end_tick, (long long)b->end_tick);
    SAME(a->n_tempos == b->n_tempos, "%s: tempos %d vs %d", what, a->n_tempos, b->n_tempos);
    for (int i = 0; ok && i < a->n_tempos; i++)
        SAME(a->tempos[i].tick == b->tempos[i].tick && a->tempos[i].usec_per_quarter == b->tempos[i].usec_per_quarter, "%s: tempo %d", what, i);
    SAME(a->n_timesigs == b->n_timesigs, "%s: metres %d vs %d", what, a->n_timesigs, b->n_timesigs);
    for (int i = 0; ok && i < a->n_timesigs; i++)
        SAME(a->timesigs[i].tick == b->timesigs[i].tick && a->timesigs[i].numerator == b->timesigs[i].numerator &&
             a->timesigs[i].denominator == b->timesigs[i].denominator, "%s: metre %d", what, i);
    SAME(a->n_keysigs == b->n_keysigs, "%s: keys %d vs %d", what, a->n_keysigs, b->n_keysigs);
    for (int i = 0; ok && i < a->n_keysigs; i++)
        SAME(a->keysigs[i].tick == b->keysigs[i].tick && a->keysigs[i].sharps == b->keysigs[i].sharps &&
             a->keysigs[i].minor == b->keysigs[i].minor, "%s: key %d", what, i);
    SAME(a->n_tracks == b->n_tracks, "%s: tracks %d vs %d", what, a->n_tracks, b->n_tracks);
    for (int t = 0; ok && t < a->n_tracks; t++) {
        const gm_track *x = &a->tracks[t], *y = &b->tracks[t];
        SAME(!strcmp(x->name, y->name), "%s: track %d name '%s' vs '%s'", what, t, x->name, y->name);
        SAME(x->program == y->program && x->channel == y->channel && x->is_drum == y->is_drum,
             "%s: track %d program/channel/drum %d/%d/%d vs %d/%d/%d", what, t, x->program, x->channel, x->is_drum, y->program, y->channel, y->is_drum);
        SAME(x->n_notes == y->n_notes, "%s: track %d notes %zu vs %zu", what, t, x->n_notes, y->n_notes);
        if (!ok) break;
        gm_note *p = malloc(x->n_notes * sizeof *p + 1), *q = malloc(y->n_notes * sizeof *q + 1);
        memcpy(p, x->notes, x->n_notes * sizeof *p);
        memcpy(q, y->notes, y->n_notes * sizeof *q);
        qsort(p, x->n_notes, sizeof *p, cmp_full);
        qsort(q, y->n_notes, sizeof *q, cmp_full);
        for (size_t i = 0; ok && i < x->n_notes; i++)
            SAME(cmp_full(&p[i], &q[i]) == 0, "%s: track %d note %zu: %lld+%lld p%d v%d c%d vs %lld+%lld p%d v%d c%d", what, t, i,
                 (long long)p[i].tick, (long long)p[i].duration, p[i].pitch, p[i].velocity, p[i].channel,
                 (long long)q[i].tick, (long long)q[i].duration, q[i].pitch, q[i].velocity, q[i].channel);
        free(p);
        free(q);
    }
#undef SAME
    return ok;
}

/* write_mem then read_mem; returns 0 on success. */
static int roundtrip(const gm_score *in, gm_score *out, const char *what) {
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = gm_midi_write_mem(in, &data, &size, g_err);
    CHECK(rc == 0, "%s: write failed: %s", what, g_err);
    if (rc) return -1;
    rc = gm_midi_read_mem(data, size, out, g_err);
    CHECK(rc == 0, "%s: re-read failed: %s", what, g_err);
    free(data);
    return rc;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* What a MIDI round trip can give back: same-pitch notes of one track paired
 * FIFO (the i-th start, in order of (tick, duration, velocity), with the i-th
 * end), empty tracks dropped, notes on the track's channel. */
static void expected_after_roundtrip(const gm_score *in, gm_score *want) {
    gm_score_init(want, in->ticks_per_quarter);
    for (int i = 0; i < in->n_tempos; i++) gm_score_add_tempo(want, in->tempos[i].tick, in->tempos[i].usec_per_quarter);
    for (int i = 0; i < in->n_timesigs; i++) gm_score_add_timesig(want, in->timesigs[i].tick, in->timesigs[i].numerator, in->timesigs[i].denominator);
    for (int i = 0; i < in->n_keysigs; i++) gm_score_add_keysig(want, in->keysigs[i].tick, in->keysigs[i].sharps, in->keysigs[i].minor);
    /* The file ends after its last event, tempo and metre changes too. */
    want->end_tick = in->end_tick;
    for (int i = 0; i < in->n_tempos; i++) if (in->tempos[i].tick > want->end_tick) want->end_tick = in->tempos[i].tick;
    for (int i = 0; i < in->n_timesigs; i++) if (in->timesigs[i].tick > want->end_tick) want->end_tick = in->timesigs[i].tick;
    for (int i = 0; i < in->n_keysigs; i++) if (in->keysigs[i].tick > want->end_tick) want->end_tick = in->keysigs[i].tick;
    for (int t = 0; t < in->n_tracks; t++) {
        const gm_track *x = &in->tracks[t];
        if (!x->n_notes) continue;
        int ch = x->is_drum ? 9 : x->channel;
        int k = gm_score_add_track(want, x->name, x->program, ch, ch == 9);
        gm_note *starts = malloc(x->n_notes * sizeof *starts);
        int64_t *ends = malloc(x->n_notes * sizeof *ends);
        for (int pitch = 0; pitch < 128; pitch++) {
            size_t m = 0;
            for (size_t i = 0; i < x->n_notes; i++)
                if (x->notes[i].pitch == pitch) { starts[m] = x->notes[i]; ends[m] = x->notes[i].tick + x->notes[i].duration; m++; }
            qsort(starts, m, sizeof *starts, cmp_full);
            qsort(ends, m, sizeof *ends, cmp_i64);
            for (size_t i = 0; i < m; i++)
                gm_track_add_note(&want->tracks[k], starts[i].tick, ends[i] - starts[i].tick, pitch, starts[i].velocity, ch);
        }
        free(starts);
        free(ends);
    }
    gm_score_sort(want);
}

static void random_score(gm_score *s) {
    static const int tpqs[] = {96, 120, 384, 480, 960};
    gm_score_init(s, tpqs[rnd_in(0, 4)]);
    int64_t span = (int64_t)s->ticks_per_quarter * rnd_in(4, 64);
    int nt = rnd_in(0, 6);
    for (int t = 0; t < nt; t++) {
        char name[64];
        int len = rnd_in(0, 20);
        for (int i = 0; i < len; i++) name[i] = (char)rnd_in(32, 126);
        name[len] = 0;
        int drum = rnd_in(0, 4) == 0, ch = drum ? 9 : rnd_in(0, 15);
        if (ch == 9 && !drum) ch = 0;
        int k = gm_score_add_track(s, name, rnd_in(0, 127), ch, drum);
        int nn = rnd_in(0, 4) == 0 ? 0 : rnd_in(1, 120);
        int lo = rnd_in(30, 70), hi = lo + rnd_in(0, 12); /* narrow range: many same-pitch overlaps */
        for (int i = 0; i < nn; i++) {
            int64_t tick = rnd() % (uint32_t)span;
            if (rnd_in(0, 3) == 0) tick -= tick % s->ticks_per_quarter; /* many shared onsets */
            int64_t dur = rnd_in(0, 5) == 0 ? 1 : rnd_in(1, 4 * s->ticks_per_quarter);
            gm_track_add_note(&s->tracks[k], tick, dur, rnd_in(lo, hi), rnd_in(1, 127), ch);
        }
    }
    int ntempo = rnd_in(0, 4), nsig = rnd_in(0, 3), nkey = rnd_in(0, 2);
    for (int i = 0; i < ntempo; i++) gm_score_add_tempo(s, i ? rnd() % (uint32_t)span : 0, (uint32_t)rnd_in(200000, 1500000));
    for (int i = 0; i < nsig; i++) gm_score_add_timesig(s, i ? rnd() % (uint32_t)span : 0, rnd_in(1, 13), 1 << rnd_in(0, 5));
    for (int i = 0; i < nkey; i++) gm_score_add_keysig(s, rnd() % (uint32_t)span, rnd_in(-7, 7), rnd_in(0, 1));
    s->end_tick = rnd_in(0, 1) ? span : 0;
    gm_score_sort(s);
}

static void test_roundtrip_property(void) {
    int failures = 0;
    for (int iter = 0; iter < 300 && failures < 3; iter++) {
        gm_score s, want, got, again;
        random_score(&s);
        char what[64];
        snprintf(what, sizeof what, "random score %d", iter);
        expected_after_roundtrip(&s, &want);
        if (roundtrip(&s, &got, what) == 0) {
            if (!same_score(&want, &got, what)) failures++;
            /* and a second trip changes nothing at all */
            if (roundtrip(&got, &again, what) == 0) {
                if (!same_score(&got, &again, what)) failures++;
                gm_score_free(&again);
            }
            gm_score_free(&got);
        }
        gm_score_free(&want);
        gm_score_free(&s);
    }
    CHECK(failures == 0, "round-trip failures: %d", failures);

    /* A gap longer than a 4-byte delta can hold is bridged, not refused. */
    gm_score s, got;
    gm_score_init(&s, 480);
    int k = gm_score_add_track(&s, "far", 1, 0, 0);
    gm_track_add_note(&s.tracks[k], 0, 10, 60, 90, 0);
    gm_track_add_note(&s.tracks[k], (int64_t)1 << 30, 10, 62, 90, 0);
    gm_score_sort(&s);
    if (roundtrip(&s, &got, "huge gap") == 0) {
        same_score(&s, &got, "huge gap");
        gm_score_free(&got);
    }
    gm_score_free(&s);
}

static void test_write_file(void) {
    char dir[] = "/tmp/gm-test-midi-XXXXXX";
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    char path[256];
    snprintf(path, sizeof path, "%s/out.mid", dir);
    gm_score s, got;
    gm_score_init(&s, 480);
    int k = gm_score_add_track(&s, "Piano", 0, 0, 0);
    gm_track_add_note(&s.tracks[k], 0, 480, 60, 90, 0);
    gm_score_add_tempo(&s, 0, 600000);
    gm_score_sort(&s);
    CHECK(gm_midi_write_file(path, &s, g_err) == 0, "write_file: %s", g_err);
    CHECK(gm_midi_write_file(path, &s, g_err) == 0, "overwrite: %s", g_err);
    if (gm_midi_read_file(path, &got, g_err) == 0) {
        same_score(&s, &got, "write_file");
        CHECK(got.midi_format == 1 && got.n_tempos == 1, "format 1");
        gm_score_free(&got);
    } else {
        CHECK(0, "read_file: %s", g_err);
    }
    /* A failed write leaves the old file as it was. */
    s.ticks_per_quarter = 40000;
    CHECK(gm_midi_write_file(path, &s, g_err) != 0 && strstr(g_err, "ticks per quarter"), "tpq 40000: %s", g_err);
    s.ticks_per_quarter = 480;
    if (gm_midi_read_file(path, &got, g_err) == 0) {
        CHECK(gm_score_n_notes(&got) == 1, "old file kept");
        gm_score_free(&got);
    } else {
        CHECK(0, "old file unreadable: %s", g_err);
    }
    /* No temporary left behind. */
    int entries = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) if (e->d_name[0] != '.') entries++;
    if (d) closedir(d);
    CHECK(entries == 1, "files in dir: %d", entries);
    char bad[300];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.mid", dir);
    CHECK(gm_midi_write_file(bad, &s, g_err) != 0 && g_err[0] && !strchr(g_err, '\n'), "bad dir: %s", g_err);
    /* A directory is not a MIDI file. */
    CHECK(gm_midi_read_file(dir, &got, g_err) != 0 && strstr(g_err, "directory"), "dir: %s", g_err);
    unlink(path);
    rmdir(dir);
    gm_score_free(&s);
}

/* ======================================================================== */
/* Data: fixtures, POP909, Groove                                            */
/* ======================================================================== */

typedef struct { char **a; size_t n, cap; } pathlist;

static int has_mid_ext(const char *name) {
    size_t n = strlen(name);
    return (n > 4 && !strcasecmp(name + n - 4, ".mid")) || (n > 5 && !strcasecmp(name + n - 5, ".midi"));
}

/* Every file (or every .mid file) under dir, sorted. */
static void list_files(const char *dir, int mid_only, pathlist *out) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st)) continue;
        if (S_ISDIR(st.st_mode)) { list_files(p, mid_only, out); continue; }
        if (mid_only && !has_mid_ext(e->d_name)) continue;
        if (out->n == out->cap) { out->cap = out->cap ? 2 * out->cap : 256; out->a = realloc(out->a, out->cap * sizeof *out->a); }
        out->a[out->n++] = strdup(p);
    }
    closedir(d);
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static void pathlist_free(pathlist *l) { for (size_t i = 0; i < l->n; i++) free(l->a[i]); free(l->a); }

/* Reads a file and checks its round trip; returns 1 if read. */
static int read_and_roundtrip(const char *path, int *rt_fail) {
    gm_score s, got;
    if (gm_midi_read_file(path, &s, g_err)) return 0;
    if (roundtrip(&s, &got, path) == 0) {
        if (!same_score(&s, &got, path)) (*rt_fail)++;
        gm_score_free(&got);
    } else {
        (*rt_fail)++;
    }
    gm_score_free(&s);
    return 1;
}

static void test_data(void) {
    const char *data = test_data_dir();
    if (!data) { SKIP("no ../shared/data: fixture, POP909 and Groove MIDI tests skipped"); return; }
    char dir[512];
    int rt_fail = 0;

    /* Fixtures: every .mid is read or rejected with a one-line reason. */
    snprintf(dir, sizeof dir, "%s/fixtures/midi", data);
    pathlist l = {0};
    list_files(dir, 1, &l);
    qsort(l.a, l.n, sizeof *l.a, cmp_str);
    int n_read = 0, n_rej = 0;
    for (size_t i = 0; i < l.n; i++) {
        gm_score s;
        g_err[0] = 0;
        if (gm_midi_read_file(l.a[i], &s, g_err) == 0) {
            gm_score_free(&s);
            read_and_roundtrip(l.a[i], &rt_fail);
            n_read++;
        } else {
            CHECK(g_err[0] && !strchr(g_err, '\n') && strlen(g_err) < GM_ERR_SIZE, "%s: reason '%s'", l.a[i], g_err);
            fprintf(stderr, "fixture rejected: %s: %s\n", l.a[i], g_err);
            n_rej++;
        }
    }
    CHECK(l.n > 0, "no fixtures under %s", dir);
    fprintf(stderr, "fixtures: %d read, %d rejected\n", n_read, n_rej);
    pathlist_free(&l);

    /* POP909: all 818 songs read and round-trip. */
    int pop = 0;
    for (int i = 1; i <= 818; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/pop909/%03d/%03d.mid", data, i, i);
        int ok = read_and_roundtrip(p, &rt_fail);
        CHECK(ok, "POP909 %s: %s", p, g_err);
        pop += ok;
    }
    CHECK(pop == 818, "POP909 read %d of 818", pop);

    /* Groove: all 1021 files. */
    snprintf(dir, sizeof dir, "%s/groove", data);
    l = (pathlist){0};
    list_files(dir, 1, &l);
    int groove = 0;
    for (size_t i = 0; i < l.n; i++) {
        int ok = read_and_roundtrip(l.a[i], &rt_fail);
        CHECK(ok, "Groove %s: %s", l.a[i], g_err);
        groove += ok;
    }
    CHECK(l.n == 1021 && groove == 1021, "Groove files %zu, read %d (want 1021)", l.n, groove);
    pathlist_free(&l);
    CHECK(rt_fail == 0, "data round-trip failures: %d", rt_fail);
}

int main(void) {
    test_type0_split();
    test_running_status();
    test_overlaps_and_open_notes();
    test_programs();
    test_drums();
    test_meta();
    test_type2_and_structure();
    test_smpte();
    test_rejections();
    test_roundtrip_property();
    test_write_file();
    test_data();
    return test_done("test_midi");
}
