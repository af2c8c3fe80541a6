/*
 * score_file.c — score files as a whole: read into memory (every reader's
 * one size limit), told apart by their content (MIDI or MusicXML) or, when
 * written, by their name; the formats themselves are midi.c's and
 * musicxml.c's.
 */
#include "getmusic.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int gm_path_is_musicxml(const char *path) {
    const char *dot = path ? strrchr(path, '.') : NULL;
    return dot && (!strcasecmp(dot, ".musicxml") || !strcasecmp(dot, ".xml") || !strcasecmp(dot, ".mxl"));
}

/* ======================================================================== */
/* Reading whole files                                                       */
/* ======================================================================== */

typedef int (*mem_reader)(const uint8_t *data, size_t n, gm_score *out, char *err);

/* A score file's bytes, whole (from path, or fd when path is NULL), handed
 * to read_mem; what names the kind of file in messages. The reason does not
 * repeat the path: callers name the file themselves ("song.mid: not a MIDI
 * file (no MThd header)"). Every reader's limit, MIDI's too, is 64 MiB. */
static int read_whole(const char *path, int fd, const char *what, mem_reader read_mem, gm_score *out, char *err) {
    uint8_t *data;
    size_t n;
    memset(out, 0, sizeof *out);
    if (gm_read_whole(path, fd, GM_SCORE_FILE_MAX_BYTES, what, &data, &n, err)) return -1;
    int rc = read_mem(data, n, out, err);
    free(data);
    return rc;
}

int gm_score_read_fd(int fd, gm_score *out, char *err) {
    return read_whole(NULL, fd, "score file", gm_score_read_mem, out, err);
}
int gm_score_read_file(const char *path, gm_score *out, char *err) {
    return read_whole(path, -1, "score file", gm_score_read_mem, out, err);
}
int gm_musicxml_read_file(const char *path, gm_score *out, char *err) {
    return read_whole(path, -1, "score file", gm_musicxml_read_mem, out, err);
}
int gm_midi_read_file(const char *path, gm_score *out, char *err) {
    return read_whole(path, -1, "MIDI file", gm_midi_read_mem, out, err);
}
int gm_midi_read_fd(int fd, gm_score *out, char *err) {
    return read_whole(NULL, fd, "MIDI file", gm_midi_read_mem, out, err);
}

/* MIDI by its header; XML text (a byte-order mark, '<' after blanks) or a
 * zip is MusicXML; anything else goes to the MIDI reader for its message. */
int gm_score_read_mem(const uint8_t *data, size_t size, gm_score *out, char *err) {
    size_t i = 0;
    if (size >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF) i = 3;
    while (i < size && i < 4096 && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n')) i++;
    int xml = i < size && data[i] == '<';
    int zip = size >= 4 && !memcmp(data, "PK\3\4", 4);
    if (xml || zip) return gm_musicxml_read_mem(data, size, out, err);
    return gm_midi_read_mem(data, size, out, err);
}

int gm_score_write_file(const char *path, const gm_score *s, char *err) {
    if (gm_path_is_musicxml(path)) return gm_musicxml_write_file(path, s, err);
    return gm_midi_write_file(path, s, err);
}
