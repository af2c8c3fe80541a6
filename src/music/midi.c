/*
 * midi.c — Standard MIDI File reading (types 0, 1, 2) into a gm_score and
 * writing a gm_score back as a type 1 file.
 *
 * Reading is tolerant where real files are sloppy and strict where a file is
 * plainly broken:
 *   tolerated  header length > 6 (extra bytes skipped), unknown chunks,
 *              a chunk or an event running past the end of the file (the
 *              track ends there), garbage after the last chunk, running
 *              status kept across meta and sysex events, system common /
 *              real-time bytes (F1..FE) inside a track (skipped with their
 *              data bytes), a missing end-of-track event, RIFF/RMID wrappers.
 *   rejected   empty or non-MIDI input, a file over 64 MiB, a truncated
 *              header, a format other than 0/1/2, division 0, SMPTE
 *              division with a frame rate other than 24/25/29.97/30 or zero
 *              ticks per frame, a variable-length quantity over 4 bytes, a
 *              data byte with no status before it, a status byte where a
 *              data byte belongs.
 *
 * Notes are paired FIFO per (track chunk, channel, pitch): the first open
 * note-on is closed by the first note-off (or note-on with velocity 0). The
 * writer emits note-ons of equal (tick, pitch) in order of duration and
 * note-offs before note-ons at the same tick, so write → read gives back the
 * same notes. (Same-pitch notes *nested* inside one another, [0,30) around
 * [5,15), cannot survive any MIDI round trip: the event stream is the same as
 * for [0,15) and [5,30). They come back in that FIFO form.)
 *
 * Tracks: one gm_track per (chunk, channel, program), the program being the
 * one in effect when the note starts: the chunk's own last program change on
 * that channel, else (type 1) the last one for that channel at or before the
 * note in any chunk (some files keep every program change in the first
 * track), else 0. Name = the chunk's first track name; tracks without notes
 * are dropped, while tempo, metre and key events of every chunk are kept.
 * Type 2 chunks are independent sequences, placed one after another in time.
 * SMPTE division: see set_division(). Chord symbols in text, lyric, marker
 * or cue events: see text_event() and getmusic.h.
 *
 * Bounds: every event consumes at least one byte, a note at least three, so
 * the number of notes and program changes is bounded by the file size; the
 * split tracks are capped at GM_MIDI_MAX_TRACKS; ticks saturate at
 * GM_MIDI_MAX_TICK so sums cannot overflow.
 */
#include "getmusic.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GM_MIDI_MAX_BYTES GM_SCORE_FILE_MAX_BYTES
#define GM_MIDI_MAX_TICK (INT64_C(1) << 60)    /* tick sums saturate here */
#define GM_MIDI_MAX_TRACKS 65536               /* (chunk, channel, program) tracks */
#define GM_VLQ_MAX 0x0FFFFFFFu                 /* largest 4-byte VLQ */

/* ======================================================================== */
/* Small byte helpers                                                        */
/* ======================================================================== */

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static int64_t tick_add(int64_t a, int64_t b) {
    return (a > GM_MIDI_MAX_TICK - b) ? GM_MIDI_MAX_TICK : a + b;
}

/* Reads a variable-length quantity at p[*i] (i < n). Returns 0 on success,
 * 1 when the chunk ends inside it (truncated: the track ends), -1 when it is
 * longer than the 4 bytes the standard allows. */
static int read_vlq(const uint8_t *p, size_t n, size_t *i, uint32_t *out) {
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        if (*i >= n) return 1;
        uint8_t b = p[(*i)++];
        v = (v << 7) | (b & 0x7Fu);
        if (!(b & 0x80)) { *out = v; return 0; }
    }
    return -1;
}

/* ======================================================================== */
/* Reader state                                                              */
/* ======================================================================== */

/* An open note-on waiting for its note-off. Open notes of one (channel,
 * pitch) form a FIFO list through `next`; freed slots go on a free list. */
typedef struct {
    int64_t tick;
    int32_t next;
    int32_t track;      /* gm_track index the note goes into */
    uint8_t velocity;
} pend_note;

/* Program changes of one channel over the whole file (format 1 only), used
 * for notes whose own track chunk never set a program on their channel:
 * some sequencers put every program change in the first track. */
typedef struct { int64_t tick; uint32_t seq; uint8_t program; } prog_change;
typedef struct { prog_change *a; size_t n, cap; } prog_line;

/* A text, lyric, marker or cue event that may be a chord symbol: kept until
 * the whole file is read, since whether an event type carries chords is
 * judged over all of its events (gm_midi_read_mem's comment in getmusic.h). */
typedef struct {
    int64_t tick;
    uint32_t seq;               /* file order, for a stable sort */
    uint8_t type;               /* 1, 5, 6, 7 */
    int8_t root, quality, bass;
    char text[32];
} sym_cand;
#define GM_MIDI_MAX_SYMBOLS 100000 /* candidates kept; a type with more is not chords */

typedef struct {
    gm_score *s;
    char *err;
    int format;
    int smpte;                  /* 1: SMPTE division, tempo events ignored */
    int pass;                   /* 0 = collect programs, 1 = notes and metas */
    size_t chunk_off;           /* file offset of the chunk data (messages) */
    int chunk_idx;
    /* open notes */
    pend_note *pool;
    int32_t n_pool, free_head;
    size_t cap_pool;
    int32_t n_open;             /* open notes (skips the close-all scan) */
    int32_t head[16 * 128], tail[16 * 128];
    /* per chunk */
    int track_of[16][128];      /* gm_track index per (channel, program), -1 */
    int program[16];            /* program set in this chunk, -1 = none yet */
    char name[64];
    int have_name;
    /* whole file */
    prog_line prog[16];
    uint32_t prog_seq;
    sym_cand *cand;             /* chord symbol candidates */
    uint32_t n_cand;
    size_t cap_cand;
    uint8_t sym_bad[8];         /* per meta type: an event that is no chord name */
    uint8_t sym_rich[8];        /* per meta type: an event that is more than a bare letter */
    uint32_t sym_count[8];
} reader;

static int reader_fail_oom(reader *r) { return gm_fail(r->err, "out of memory while reading MIDI"); }

/* Copies a text meta event into a track name: at most 63 bytes, stopping at
 * NUL, control characters made spaces (names end up on one-line outputs),
 * and no UTF-8 sequence cut in half by the truncation. */
static void copy_name(char *dst, const uint8_t *src, uint32_t len) {
    size_t k = 0;
    for (; k < len && k < 63 && src[k]; k++) dst[k] = (char)(src[k] < 0x20 || src[k] == 0x7F ? ' ' : src[k]);
    if (k == 63 && len > 63) { /* drop a trailing partial UTF-8 sequence */
        size_t j = k;
        while (j > 0 && ((uint8_t)dst[j - 1] & 0xC0) == 0x80) j--;
        if (j > 0 && ((uint8_t)dst[j - 1] & 0xC0) == 0xC0) {
            uint8_t lead = (uint8_t)dst[j - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
            if (k - (j - 1) < need) k = j - 1;
        }
    }
    dst[k] = 0;
}

static int prog_compare(const void *a, const void *b) {
    const prog_change *x = a, *y = b;
    if (x->tick != y->tick) return x->tick < y->tick ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Program in effect on `ch` at `tick` from any chunk (last change at or
 * before it), or 0 (the GM default) when there is none. */
static int global_program(const reader *r, int ch, int64_t tick) {
    const prog_line *l = &r->prog[ch];
    size_t lo = 0, hi = l->n; /* first index with tick > `tick` */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->a[mid].tick <= tick) lo = mid + 1; else hi = mid;
    }
    return lo ? l->a[lo - 1].program : 0;
}

/* ======================================================================== */
/* Channel events                                                            */
/* ======================================================================== */

static int note_on(reader *r, int ch, int pitch, int velocity, int64_t tick) {
    int prog = r->program[ch] >= 0 ? r->program[ch]
             : r->format == 1 ? global_program(r, ch, tick) : 0;
    int ti = r->track_of[ch][prog];
    if (ti < 0) {
        /* A track costs ~200 bytes for a few bytes of file (a program change
         * and a note), so many tiny chunks could blow memory up: cap them. */
        if (r->s->n_tracks >= GM_MIDI_MAX_TRACKS)
            return gm_fail(r->err, "too many tracks (over %d channel/program combinations)", GM_MIDI_MAX_TRACKS);
        ti = gm_score_add_track(r->s, "", prog, ch, ch == 9);
        if (ti < 0) return reader_fail_oom(r);
        gm_track *t = &r->s->tracks[ti];
        t->source_track = r->chunk_idx;
        /* start small (gm_track_add_note doubles from here): most split
         * tracks of odd files hold a handful of notes */
        t->notes = malloc(8 * sizeof *t->notes);
        if (!t->notes) return reader_fail_oom(r);
        t->cap_notes = 8;
        r->track_of[ch][prog] = ti;
    }
    int32_t slot = r->free_head;
    if (slot >= 0) {
        r->free_head = r->pool[slot].next;
    } else {
        if (gm_grow(&r->pool, &r->cap_pool, r->n_pool, sizeof *r->pool, 256)) return reader_fail_oom(r);
        slot = r->n_pool++;
    }
    pend_note *pn = &r->pool[slot];
    pn->tick = tick;
    pn->next = -1;
    pn->track = ti;
    pn->velocity = (uint8_t)velocity;
    int key = ch * 128 + pitch;
    if (r->tail[key] >= 0) r->pool[r->tail[key]].next = slot; else r->head[key] = slot;
    r->tail[key] = slot;
    r->n_open++;
    return 0;
}

/* Closes the oldest open note of (ch, pitch); a stray note-off is ignored. */
static int note_off(reader *r, int ch, int pitch, int64_t tick) {
    int key = ch * 128 + pitch;
    int32_t slot = r->head[key];
    if (slot < 0) return 0;
    pend_note *pn = &r->pool[slot];
    r->head[key] = pn->next;
    if (r->head[key] < 0) r->tail[key] = -1;
    pn->next = r->free_head;
    r->free_head = slot;
    r->n_open--;
    /* gm_track_add_note turns a zero-length note into duration 1 */
    if (gm_track_add_note(&r->s->tracks[pn->track], pn->tick, tick - pn->tick, pitch, pn->velocity, ch))
        return reader_fail_oom(r);
    return 0;
}

static int program_change(reader *r, int ch, int program, int64_t tick) {
    if (r->pass == 1) { r->program[ch] = program; return 0; }
    prog_line *l = &r->prog[ch];
    if (gm_grow(&l->a, &l->cap, l->n, sizeof *l->a, 16)) return reader_fail_oom(r);
    l->a[l->n++] = (prog_change){tick, r->prog_seq++, (uint8_t)program};
    return 0;
}

/* ======================================================================== */
/* Meta events                                                               */
/* ======================================================================== */

/* Text-like event (type 1, 5, 6 or 7): a chord symbol candidate when its
 * whole text is a chord name; otherwise its type carries no chords. */
static int text_event(reader *r, int type, const uint8_t *d, uint32_t len, int64_t tick) {
    char text[32];
    size_t a = 0, z = len;
    while (a < z && (d[a] == ' ' || d[a] == '\t' || d[a] == '\r' || d[a] == '\n' || d[a] == 0)) a++;
    while (z > a && (d[z - 1] == ' ' || d[z - 1] == '\t' || d[z - 1] == '\r' || d[z - 1] == '\n' || d[z - 1] == 0)) z--;
    if (z == a || r->sym_bad[type]) return 0; /* blank (a writer's filler), or already not chords */
    gm_chord c;
    int bass = -1;
    if (z - a >= sizeof text || memchr(d + a, 0, z - a)) { r->sym_bad[type] = 1; return 0; }
    memcpy(text, d + a, z - a);
    text[z - a] = 0;
    if (gm_chord_symbol_parse(text, &c, &bass, NULL) || r->n_cand >= GM_MIDI_MAX_SYMBOLS) {
        r->sym_bad[type] = 1;
        return 0;
    }
    if (gm_grow(&r->cand, &r->cap_cand, r->n_cand, sizeof *r->cand, 64)) return reader_fail_oom(r);
    sym_cand *k = &r->cand[r->n_cand];
    *k = (sym_cand){tick, r->n_cand, (uint8_t)type, c.root, c.quality, (int8_t)bass, ""};
    r->n_cand++;
    memcpy(k->text, text, z - a + 1);
    r->sym_count[type]++;
    if (z - a > 1) r->sym_rich[type] = 1;
    return 0;
}

static int cand_compare(const void *a, const void *b) {
    const sym_cand *x = a, *y = b;
    if (x->tick != y->tick) return x->tick < y->tick ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The candidates of every type that passed, as the score's symbols. */
static int keep_symbols(reader *r) {
    if (r->n_cand > 1) qsort(r->cand, r->n_cand, sizeof *r->cand, cand_compare);
    for (uint32_t i = 0; i < r->n_cand; i++) {
        const sym_cand *k = &r->cand[i];
        if (r->sym_bad[k->type] || (!r->sym_rich[k->type] && r->sym_count[k->type] <= 8)) continue;
        gm_chord_symbol cs = {k->tick, k->root, k->quality, k->bass, k->type, ""};
        memcpy(cs.text, k->text, sizeof cs.text);
        if (gm_score_add_symbol(r->s, &cs)) return reader_fail_oom(r);
    }
    return 0;
}

static int meta_event(reader *r, int type, const uint8_t *d, uint32_t len, int64_t tick) {
    if (r->pass == 0) return 0;
    gm_score *s = r->s;
    switch (type) {
    case 0x01: case 0x05: case 0x06: case 0x07: /* text, lyric, marker, cue: chord symbols? */
        return text_event(r, type, d, len, tick);
    case 0x03: /* track name: the first one of the chunk */
        if (!r->have_name) { copy_name(r->name, d, len); r->have_name = 1; }
        break;
    case 0x51: /* tempo: microseconds per quarter, 24 bits */
        if (len >= 3 && !r->smpte)
            if (gm_score_add_tempo(s, tick, (uint32_t)d[0] << 16 | (uint32_t)d[1] << 8 | d[2])) return reader_fail_oom(r);
        break;
    case 0x58: /* time signature: nn dd cc bb, denominator = 2^dd */
        if (len >= 2)
            if (gm_score_add_timesig(s, tick, d[0], 1 << (d[1] > 7 ? 7 : d[1]))) return reader_fail_oom(r);
        break;
    case 0x59: /* key signature: sf (signed sharps), mi */
        if (len >= 2)
            if (gm_score_add_keysig(s, tick, (int8_t)d[0], d[1] ? 1 : 0)) return reader_fail_oom(r);
        break;
    default: break; /* copyright, instrument name, SMPTE offset, sequencer specific: skipped */
    }
    return 0;
}

/* ======================================================================== */
/* One track chunk                                                           */
/* ======================================================================== */

/* Parses the events of one MTrk chunk starting at tick `base`. Returns the
 * chunk's end tick (end of track, or the last event) in *end_out. */
static int parse_chunk(reader *r, const uint8_t *p, size_t n, int64_t base, int64_t *end_out) {
    size_t i = 0;
    int64_t tick = base;
    uint8_t status = 0;   /* running status; kept across meta and sysex */
    int rc = 0;
    while (i < n) {
        uint32_t delta;
        int v = read_vlq(p, n, &i, &delta);
        if (v > 0) break;
        if (v < 0) { rc = gm_fail(r->err, "track %d: delta time longer than 4 bytes at offset %zu", r->chunk_idx, r->chunk_off + i); break; }
        tick = tick_add(tick, delta);
        if (i >= n) break;
        uint8_t b = p[i];
        if (b == 0xFF) { /* meta: FF type len data */
            if (i + 2 > n) break;
            int type = p[i + 1];
            uint32_t len;
            i += 2;
            v = read_vlq(p, n, &i, &len);
            if (v > 0) break;
            if (v < 0) { rc = gm_fail(r->err, "track %d: meta length longer than 4 bytes at offset %zu", r->chunk_idx, r->chunk_off + i); break; }
            if (len > n - i) break; /* truncated: the track ends here */
            if (type == 0x2F) break;  /* end of track */
            if ((rc = meta_event(r, type, p + i, len, tick))) break;
            i += len;
        } else if (b == 0xF0 || b == 0xF7) { /* sysex / escape: F0 len data */
            uint32_t len;
            i++;
            v = read_vlq(p, n, &i, &len);
            if (v > 0) break;
            if (v < 0) { rc = gm_fail(r->err, "track %d: sysex length longer than 4 bytes at offset %zu", r->chunk_idx, r->chunk_off + i); break; }
            if (len > n - i) break;
            i += len;
        } else if (b > 0xF0) {
            /* System common / real-time bytes do not belong in a file, but
             * some writers leave them: skip them with their data bytes
             * (F1 and F3 take one, F2 two) and keep the running status. */
            int nd = b == 0xF2 ? 2 : (b == 0xF1 || b == 0xF3) ? 1 : 0;
            i++;
            for (int k = 0; k < nd && i < n && p[i] < 0x80; k++) i++;
        } else {
            if (b & 0x80) { status = b; i++; }
            else if (!status) { rc = gm_fail(r->err, "track %d: data byte 0x%02X without a status byte at offset %zu", r->chunk_idx, b, r->chunk_off + i); break; }
            int kind = status >> 4, ch = status & 15;
            int nd = (kind == 0xC || kind == 0xD) ? 1 : 2;
            if (i + (size_t)nd > n) break;
            uint8_t d1 = p[i], d2 = nd == 2 ? p[i + 1] : 0;
            if ((d1 | d2) & 0x80) { rc = gm_fail(r->err, "track %d: status byte 0x%02X where a data byte belongs at offset %zu", r->chunk_idx, (d1 & 0x80) ? d1 : d2, r->chunk_off + i + ((d1 & 0x80) ? 0 : 1)); break; }
            i += (size_t)nd;
            if (kind == 0xC) rc = program_change(r, ch, d1, tick);
            else if (r->pass == 1 && kind == 0x9 && d2) rc = note_on(r, ch, d1, d2, tick);
            else if (r->pass == 1 && (kind == 0x8 || kind == 0x9)) rc = note_off(r, ch, d1, tick);
            if (rc) break;
        }
    }
    *end_out = tick;
    return rc;
}

/* Pass 1 of a chunk: notes and metas, then close what is still open at the
 * end of the track and name the chunk's tracks. */
static int read_chunk_notes(reader *r, const uint8_t *p, size_t n, int64_t base, int64_t *end_out) {
    int first_track = r->s->n_tracks;
    memset(r->track_of, 0xFF, sizeof r->track_of);
    for (int c = 0; c < 16; c++) r->program[c] = -1;
    r->have_name = 0;
    r->name[0] = 0;
    int64_t end;
    int rc = parse_chunk(r, p, n, base, &end);
    for (int key = 0; key < 16 * 128 && r->n_open && !rc; key++)
        while (r->head[key] >= 0 && !rc) rc = note_off(r, key / 128, key % 128, end);
    if (rc) return rc;
    for (int t = first_track; t < r->s->n_tracks; t++) gm_strlcpy(r->s->tracks[t].name, r->name, sizeof r->s->tracks[t].name);
    *end_out = end;
    return 0;
}

/* ======================================================================== */
/* File structure                                                            */
/* ======================================================================== */

/* Division: bit 15 clear = ticks per quarter. Bit 15 set = SMPTE: the high
 * byte is minus the frame rate (24, 25, 29 = 29.97 drop frame, 30), the low
 * byte ticks per frame. We convert rather than reject: ticks stay as in the
 * file and the score gets a tempo map giving the same seconds, namely
 * tpq = ticks_per_second / 2 at the default 120 bpm (no tempo event) when
 * that is a whole number, else tpq = ticks_per_second with one tempo event
 * of 1 s per quarter; 29.97 fps stretches the tempo by 1001/1000. Tempo
 * events in an SMPTE file are ignored, since its ticks are real time. */
static int set_division(reader *r, uint16_t div) {
    gm_score *s = r->s;
    if (div == 0) return gm_fail(r->err, "invalid MIDI division 0 (ticks per quarter note must be > 0)");
    if (!(div & 0x8000)) { s->ticks_per_quarter = div; return 0; }
    int fps = -(int)(int8_t)(div >> 8), tpf = div & 0xFF;
    if (fps != 24 && fps != 25 && fps != 29 && fps != 30)
        return gm_fail(r->err, "SMPTE division with invalid frame rate %d (want 24, 25, 29 or 30)", fps);
    if (tpf == 0) return gm_fail(r->err, "SMPTE division with 0 ticks per frame");
    int nominal = fps == 29 ? 30 : fps, tps = nominal * tpf;
    uint32_t usec = 500000;
    if (tps % 2 == 0) s->ticks_per_quarter = tps / 2;
    else { s->ticks_per_quarter = tps; usec = 1000000; }
    if (fps == 29) usec = usec / 1000 * 1001;
    r->smpte = 1;
    if (usec != 500000 && gm_score_add_tempo(s, 0, usec)) return reader_fail_oom(r);
    return 0;
}

/* Walks the chunks after the header: calls the pass's parser on each MTrk
 * (up to n_tracks of them), skipping unknown chunk types. */
static int walk_chunks(reader *r, const uint8_t *data, size_t size, size_t pos, int n_tracks) {
    int64_t base = 0;
    int idx = 0;
    while (idx < n_tracks && size - pos >= 8) {
        uint32_t len = be32(data + pos + 4);
        int is_track = memcmp(data + pos, "MTrk", 4) == 0;
        pos += 8;
        size_t avail = size - pos, n = len < avail ? len : avail; /* tolerant of truncation */
        if (is_track) {
            int64_t end = 0;
            r->chunk_idx = idx;
            r->chunk_off = pos;
            int rc;
            if (r->pass == 0) {
                rc = parse_chunk(r, data + pos, n, 0, &end);
            } else {
                /* Type 2 chunks are independent sequences: each starts where
                 * everything before it ended, so they play one after another. */
                rc = read_chunk_notes(r, data + pos, n, r->format == 2 ? base : 0, &end);
                if (end > r->s->end_tick) r->s->end_tick = end;
                if (r->format == 2) base = r->s->end_tick;
            }
            if (rc) return rc;
            idx++;
        }
        pos += n;
    }
    return 0;
}

int gm_midi_read_mem(const uint8_t *data, size_t size, gm_score *out, char *err) {
    gm_score_init(out, 480);
    reader r;
    memset(&r, 0, sizeof r);
    r.s = out;
    r.err = err;
    r.free_head = -1;
    memset(r.head, 0xFF, sizeof r.head);
    memset(r.tail, 0xFF, sizeof r.tail);
    int rc = -1;

    if (!data || size == 0) { gm_fail(err, "empty file (0 bytes), not a MIDI file"); goto done; }
    if (size > GM_MIDI_MAX_BYTES) { gm_fail(err, "MIDI file too large (%zu bytes, limit 64 MiB)", size); goto done; }
    /* RIFF 'RMID' wrapper: the SMF is the payload of its "data" chunk. */
    if (size >= 12 && !memcmp(data, "RIFF", 4) && !memcmp(data + 8, "RMID", 4)) {
        size_t pos = 12;
        while (size - pos >= 8 && memcmp(data + pos, "data", 4)) {
            uint32_t len = data[pos + 4] | (uint32_t)data[pos + 5] << 8 | (uint32_t)data[pos + 6] << 16 | (uint32_t)data[pos + 7] << 24;
            size_t skip = (size_t)len + (len & 1);
            if (skip > size - pos - 8) { pos = size; break; }
            pos += 8 + skip;
        }
        if (size - pos < 8) { gm_fail(err, "RIFF RMID file without a data chunk"); goto done; }
        uint32_t len = data[pos + 4] | (uint32_t)data[pos + 5] << 8 | (uint32_t)data[pos + 6] << 16 | (uint32_t)data[pos + 7] << 24;
        data += pos + 8;
        size -= pos + 8;
        if (len < size) size = len;
    }
    if (size < 4 || memcmp(data, "MThd", 4)) { gm_fail(err, "not a MIDI file (no MThd header)"); goto done; }
    if (size < 14) { gm_fail(err, "truncated MIDI header (%zu bytes)", size); goto done; }
    uint32_t hlen = be32(data + 4);
    if (hlen < 6) { gm_fail(err, "MIDI header too short (length %u, want 6)", hlen); goto done; }
    if (hlen > size - 8) { gm_fail(err, "truncated MIDI header (length %u, file has %zu bytes)", hlen, size); goto done; }
    r.format = be16(data + 8);
    int n_tracks = be16(data + 10);
    if (r.format > 2) { gm_fail(err, "unsupported MIDI format %d (want 0, 1 or 2)", r.format); goto done; }
    if (set_division(&r, be16(data + 12))) goto done;
    out->midi_format = r.format;
    size_t pos = 8 + (size_t)hlen;

    /* Pass 0 (format 1 with several chunks only): program changes of every
     * chunk, so a track that never sets its own program takes the one set
     * for its channel elsewhere in the file. */
    if (r.format == 1 && n_tracks > 1) {
        r.pass = 0;
        if (walk_chunks(&r, data, size, pos, n_tracks)) goto done;
        for (int c = 0; c < 16; c++)
            if (r.prog[c].n > 1) qsort(r.prog[c].a, r.prog[c].n, sizeof *r.prog[c].a, prog_compare);
    }
    r.pass = 1;
    if (walk_chunks(&r, data, size, pos, n_tracks)) goto done;
    if (keep_symbols(&r)) goto done;
    gm_score_sort(out);
    rc = 0;
done:
    free(r.pool);
    free(r.cand);
    for (int c = 0; c < 16; c++) free(r.prog[c].a);
    if (rc) gm_score_free(out);
    return rc;
}

/* gm_midi_read_file and gm_midi_read_fd read the file whole with every
 * other score reader, in score_file.c, then call gm_midi_read_mem. */

/* ======================================================================== */
/* Writing                                                                   */
/* ======================================================================== */

static void put1(gm_buf *b, uint8_t v) { gm_buf_put(b, &v, 1); }
static void put_be(gm_buf *b, uint32_t v, int bytes) {
    for (int k = bytes - 1; k >= 0; k--) put1(b, (uint8_t)(v >> (8 * k)));
}
static void put_vlq(gm_buf *b, uint32_t v) {
    uint8_t tmp[4];
    int k = 0;
    tmp[k++] = v & 0x7F;
    while ((v >>= 7) && k < 4) tmp[k++] = (uint8_t)(0x80 | (v & 0x7F));
    while (k) put1(b, tmp[--k]);
}

/* Track writer: keeps the current tick and running status. A gap longer
 * than a 4-byte VLQ can hold is bridged with empty text events, which every
 * reader skips. Meta events cancel running status (as the standard says). */
typedef struct { gm_buf *b; int64_t tick; uint8_t status; } trk;

static void put_delta(trk *t, int64_t tick) {
    if (tick < t->tick) tick = t->tick;
    int64_t d = tick - t->tick;
    while (d > (int64_t)GM_VLQ_MAX) {
        put_vlq(t->b, GM_VLQ_MAX);
        gm_buf_put(t->b, "\xFF\x01\x00", 3);
        t->status = 0;
        d -= GM_VLQ_MAX;
    }
    put_vlq(t->b, (uint32_t)d);
    t->tick = tick;
}
static void put_meta(trk *t, int64_t tick, uint8_t type, const void *data, uint32_t len) {
    put_delta(t, tick);
    put1(t->b, 0xFF);
    put1(t->b, type);
    put_vlq(t->b, len);
    gm_buf_put(t->b, data, len);
    t->status = 0;
}
static void put_channel(trk *t, int64_t tick, uint8_t status, uint8_t d1, int d2) {
    put_delta(t, tick);
    if (status != t->status) put1(t->b, status);
    t->status = status;
    put1(t->b, d1);
    if (d2 >= 0) put1(t->b, (uint8_t)d2);
}

/* Starts an MTrk chunk; returns the offset of its length field. */
static size_t begin_chunk(gm_buf *b) {
    gm_buf_put(b, "MTrk\0\0\0\0", 8);
    return b->n - 4;
}
static void end_chunk(trk *t, size_t len_at, int64_t end_tick) {
    put_meta(t, end_tick, 0x2F, NULL, 0);
    if (t->b->oom) return;
    size_t len = t->b->n - len_at - 4;
    uint8_t *p = t->b->p + len_at;
    p[0] = (uint8_t)(len >> 24); p[1] = (uint8_t)(len >> 16); p[2] = (uint8_t)(len >> 8); p[3] = (uint8_t)len;
}

/* Conductor events: kind 0 = time signature, 1 = key, 2 = tempo, 3 = chord
 * symbol; sorted by
 * (tick, kind, index) so each kind keeps its array order. */
typedef struct { int64_t tick; int kind, idx; } cev;
static int cev_compare(const void *a, const void *b) {
    const cev *x = a, *y = b;
    if (x->tick != y->tick) return x->tick < y->tick ? -1 : 1;
    if (x->kind != y->kind) return x->kind - y->kind;
    return x->idx - y->idx;
}

/* Note events of one track. Offs come before ons at the same tick (a note
 * ending where the next starts), ons of the same (tick, pitch) go shortest
 * first so that FIFO pairing on reading gives back the same durations. */
typedef struct { int64_t tick, dur; uint8_t on, pitch, vel; } nev;
static int nev_compare(const void *a, const void *b) {
    const nev *x = a, *y = b;
    if (x->tick != y->tick) return x->tick < y->tick ? -1 : 1;
    if (x->on != y->on) return x->on - y->on;
    if (x->pitch != y->pitch) return x->pitch - y->pitch;
    if (x->dur != y->dur) return x->dur < y->dur ? -1 : 1;
    return x->vel - y->vel;
}

static int64_t clamp_tick(int64_t t) { return t < 0 ? 0 : t > GM_MIDI_MAX_TICK ? GM_MIDI_MAX_TICK : t; }

/* Off tick of a note as written (duration >= 1, saturating at the cap). */
static int64_t note_off_tick(const gm_note *n, int64_t on) {
    int64_t dur = n->duration < 1 ? 1 : n->duration > GM_MIDI_MAX_TICK ? GM_MIDI_MAX_TICK : n->duration;
    int64_t off = clamp_tick(on + dur);
    return off <= on ? on + 1 : off; /* on + 1 only at the tick cap */
}

/* The tick every chunk ends at: the latest of end_tick and every event, so
 * the score's length survives the round trip. */
static int64_t score_end_tick(const gm_score *s) {
    int64_t end = clamp_tick(s->end_tick);
    for (int i = 0; i < s->n_tempos; i++) if (clamp_tick(s->tempos[i].tick) > end) end = clamp_tick(s->tempos[i].tick);
    for (int i = 0; i < s->n_timesigs; i++) if (clamp_tick(s->timesigs[i].tick) > end) end = clamp_tick(s->timesigs[i].tick);
    for (int i = 0; i < s->n_keysigs; i++) if (clamp_tick(s->keysigs[i].tick) > end) end = clamp_tick(s->keysigs[i].tick);
    for (int i = 0; i < s->n_symbols; i++) if (clamp_tick(s->symbols[i].tick) > end) end = clamp_tick(s->symbols[i].tick);
    for (int ti = 0; ti < s->n_tracks; ti++)
        for (size_t i = 0; i < s->tracks[ti].n_notes; i++) {
            const gm_note *n = &s->tracks[ti].notes[i];
            int64_t off = note_off_tick(n, clamp_tick(n->tick));
            if (off > end) end = off;
        }
    return end;
}

/* A chord symbol as the event type it came in (a MusicXML one as text),
 * with its text as written, else its name ("Bb", "Am7/G"). */
static void write_symbol(trk *t, int64_t tick, const gm_chord_symbol *c) {
    char name[48];
    size_t n = strnlen(c->text, sizeof c->text);
    if (n) memcpy(name, c->text, n);
    else {
        static const char *pcs[12] = {"C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"};
        gm_chord_name((gm_chord){c->root, c->root >= 0 ? c->quality : -1}, name, 24);
        if (c->root >= 0 && c->bass >= 0 && c->bass < 12) strcat(name, "/"), strcat(name, pcs[(int)c->bass]);
        if (c->root < 0) strcpy(name, "N.C.");
        n = strlen(name);
    }
    uint8_t type = c->source == 5 || c->source == 6 || c->source == 7 ? c->source : 1;
    put_meta(t, tick, type, name, (uint32_t)n);
}

/* Conductor track: time signatures, keys, tempos, chord symbols, in tick order. */
static int write_conductor(gm_buf *b, const gm_score *s, int64_t end, char *err) {
    size_t nce = (size_t)(s->n_tempos > 0 ? s->n_tempos : 0) + (size_t)(s->n_timesigs > 0 ? s->n_timesigs : 0) +
                 (size_t)(s->n_keysigs > 0 ? s->n_keysigs : 0) + (size_t)(s->n_symbols > 0 ? s->n_symbols : 0), k = 0;
    cev *ce = malloc((nce ? nce : 1) * sizeof *ce);
    if (!ce) return gm_fail(err, "out of memory while writing MIDI");
    for (int i = 0; i < s->n_timesigs; i++) ce[k++] = (cev){clamp_tick(s->timesigs[i].tick), 0, i};
    for (int i = 0; i < s->n_keysigs; i++) ce[k++] = (cev){clamp_tick(s->keysigs[i].tick), 1, i};
    for (int i = 0; i < s->n_tempos; i++) ce[k++] = (cev){clamp_tick(s->tempos[i].tick), 2, i};
    for (int i = 0; i < s->n_symbols; i++) ce[k++] = (cev){clamp_tick(s->symbols[i].tick), 3, i};
    if (nce > 1) qsort(ce, nce, sizeof *ce, cev_compare);
    trk t = {b, 0, 0};
    size_t len_at = begin_chunk(b);
    for (size_t i = 0; i < nce; i++) {
        uint8_t d[4];
        if (ce[i].kind == 0) {
            const gm_timesig *ts = &s->timesigs[ce[i].idx];
            int dd = 0;
            while (dd < 7 && (2 << dd) <= ts->denominator) dd++; /* floor(log2) */
            d[0] = ts->numerator; d[1] = (uint8_t)dd; d[2] = 24; d[3] = 8;
            put_meta(&t, ce[i].tick, 0x58, d, 4);
        } else if (ce[i].kind == 1) {
            const gm_keysig *ks = &s->keysigs[ce[i].idx];
            d[0] = (uint8_t)ks->sharps; d[1] = ks->minor ? 1 : 0;
            put_meta(&t, ce[i].tick, 0x59, d, 2);
        } else if (ce[i].kind == 3) {
            write_symbol(&t, ce[i].tick, &s->symbols[ce[i].idx]);
        } else {
            uint32_t us = s->tempos[ce[i].idx].usec_per_quarter;
            if (us == 0) us = 500000;
            if (us > 0xFFFFFF) us = 0xFFFFFF;
            d[0] = (uint8_t)(us >> 16); d[1] = (uint8_t)(us >> 8); d[2] = (uint8_t)us;
            put_meta(&t, ce[i].tick, 0x51, d, 3);
        }
    }
    end_chunk(&t, len_at, end);
    free(ce);
    return 0;
}

/* One gm_track's chunk: name, program, notes. Notes go on the track's
 * channel (9 for drums), so that the file reads back as the same tracks.
 * *ne is the caller's event buffer, grown here and reused across tracks. */
static int write_track(gm_buf *b, const gm_track *tr, int64_t end, nev **ne, char *err) {
    int ch = tr->is_drum ? 9 : (tr->channel & 15);
    nev *e = realloc(*ne, (tr->n_notes ? 2 * tr->n_notes : 1) * sizeof *e);
    if (!e) return gm_fail(err, "out of memory while writing MIDI");
    *ne = e;
    for (size_t i = 0; i < tr->n_notes; i++) {
        const gm_note *n = &tr->notes[i];
        int64_t on = clamp_tick(n->tick), off = note_off_tick(n, on);
        uint8_t pitch = (uint8_t)(n->pitch & 127);
        uint8_t vel = (uint8_t)(n->velocity < 1 ? 1 : n->velocity > 127 ? 127 : n->velocity);
        e[2 * i] = (nev){on, off - on, 1, pitch, vel};
        e[2 * i + 1] = (nev){off, 0, 0, pitch, 0};
    }
    size_t nne = 2 * tr->n_notes;
    if (nne > 1) qsort(e, nne, sizeof *e, nev_compare);
    trk t = {b, 0, 0};
    size_t len_at = begin_chunk(b);
    size_t name_len = strnlen(tr->name, sizeof tr->name);
    if (name_len) put_meta(&t, 0, 0x03, tr->name, (uint32_t)name_len);
    put_channel(&t, 0, (uint8_t)(0xC0 | ch), (uint8_t)(tr->program & 127), -1);
    for (size_t i = 0; i < nne; i++) /* note-off as note-on velocity 0: running status */
        put_channel(&t, e[i].tick, (uint8_t)(0x90 | ch), e[i].pitch, e[i].on ? e[i].vel : 0);
    end_chunk(&t, len_at, end);
    return 0;
}

int gm_midi_write_mem(const gm_score *s, uint8_t **out_data, size_t *out_size, char *err) {
    gm_buf b = {0};
    nev *ne = NULL;
    int rc = -1;
    *out_data = NULL;
    *out_size = 0;
    if (s->ticks_per_quarter < 1 || s->ticks_per_quarter > 0x7FFF) {
        gm_fail(err, "cannot write %d ticks per quarter (MIDI allows 1..32767)", s->ticks_per_quarter);
        goto done;
    }
    if (s->n_tracks < 0 || s->n_tracks > 0xFFFE) {
        gm_fail(err, "cannot write %d tracks (MIDI allows 65534 plus the conductor)", s->n_tracks);
        goto done;
    }
    const int64_t end = score_end_tick(s);
    gm_buf_put(&b, "MThd\0\0\0\6\0\1", 10);
    put_be(&b, (uint32_t)s->n_tracks + 1, 2);
    put_be(&b, (uint32_t)s->ticks_per_quarter, 2);
    if (write_conductor(&b, s, end, err)) goto done;
    for (int ti = 0; ti < s->n_tracks; ti++)
        if (write_track(&b, &s->tracks[ti], end, &ne, err)) goto done;
    if (b.oom) { gm_fail(err, "out of memory while writing MIDI"); goto done; }
    rc = 0;
done:
    free(ne);
    if (rc) gm_buf_free(&b);
    else { *out_data = b.p; *out_size = b.n; }
    return rc;
}

/* Writes atomically (util.h): a reader never sees a half-written file and
 * an old one survives a failure. */
int gm_midi_write_file(const char *path, const gm_score *s, char *err) {
    uint8_t *data = NULL;
    size_t size = 0;
    if (gm_midi_write_mem(s, &data, &size, err)) return -1;
    int rc = gm_atomic_write(path, data, size, err);
    free(data);
    return rc;
}
