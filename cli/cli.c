/* cli.c — helpers shared by the commands of the CLI (cli/cmd_*.c): messages,
 * option parsing, the progress bar, JSON strings, GM program names. */
#include "cli.h"

#include "getmusic.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


const char *cli_prog = "getmusic";

/* Prints "getmusic: <reason>" and returns the exit status to use. */
int cli_fail(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", cli_prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

/* Whole-string integer in [lo, hi], or -1 with a message. */
int cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out) {
    if (!s) { cli_fail(EXIT_USAGE, "%s needs a value", opt); return -1; }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_fail(EXIT_USAGE, "%s: '%s' is not a whole number in %ld..%ld", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out) {
    if (!s) { cli_fail(EXIT_USAGE, "%s needs a value", opt); return -1; }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        cli_fail(EXIT_USAGE, "%s: '%s' is not a number in %g..%g", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* ======================================================================== */
/* Options                                                                   */
/* ======================================================================== */

static const cli_opt *find_option(const cli_opt *opts, const char *a) {
    for (const cli_opt *o = opts; o->name; o++)
        if (!strcmp(a, o->name) || (o->alias && !strcmp(a, o->alias))) return o;
    return NULL;
}

/* The option's value into its destination. 0, or an exit status. */
static int store_option(const cli_opt *o, const char *a, const char *val, void *user) {
    long v;
    double x;
    switch (o->kind) {
    case CLI_K_STR: *(const char **)o->dst = val; return 0;
    case CLI_K_CALL: return o->fn(user, a, val);
    case CLI_K_FLOAT:
    case CLI_K_DOUBLE:
        if (cli_parse_double(a, val, o->dlo, o->dhi, &x)) return EXIT_USAGE;
        if (o->kind == CLI_K_FLOAT) *(float *)o->dst = (float)x;
        else *(double *)o->dst = x;
        return 0;
    default:
        if (cli_parse_int(a, val, o->lo, o->hi, &v)) return EXIT_USAGE;
        if (o->kind == CLI_K_INT) *(int *)o->dst = (int)v;
        else if (o->kind == CLI_K_LONG) *(long *)o->dst = v;
        else if (o->kind == CLI_K_U32) *(uint32_t *)o->dst = (uint32_t)v;
        else *(uint64_t *)o->dst = (uint64_t)v;
        return 0;
    }
}

int cli_parse_options(const char *cmd, int argc, char **argv, const cli_opt *opts, cli_word_fn word, void *user) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return CLI_HELP;
        const cli_opt *o = find_option(opts, a);
        int status = 0;
        if (!o && a[0] == '-' && a[1]) {
            status = cli_fail(EXIT_USAGE, "%s: unknown option '%s' (see %s %s --help)", cmd, a, cli_prog, cmd);
        } else if (!o) {
            status = word ? word(user, a) : cli_fail(EXIT_USAGE, "%s: '%s' is not an option (see %s %s --help)", cmd, a, cli_prog, cmd);
        } else if (o->kind == CLI_K_FLAG || o->kind == CLI_K_SET) {
            *(int *)o->dst = o->kind == CLI_K_FLAG ? 1 : (int)o->lo;
        } else if (!val) {
            status = cli_fail(EXIT_USAGE, "%s needs a value", a);
        } else {
            i++;
            status = store_option(o, a, val, user);
        }
        if (status) return status;
    }
    return 0;
}

int cli_word_one_input(void *user, const char *word) {
    cli_one_input *one = user;
    if (one->in) return cli_fail(EXIT_USAGE, "%s: one input at a time ('%s' is extra)", one->cmd, word);
    one->in = word;
    return 0;
}

int cli_bars_option(void *user, const char *opt, const char *val) {
    cli_song_bars *a = user;
    char *end;
    long x = strtol(val, &end, 10), y = x;
    int ok = end != val && x >= 1;
    if (ok && *end == '-') {
        const char *q = end + 1;
        y = strtol(q, &end, 10);
        ok = end != q;
    }
    if (!ok || *end || y < x) return cli_fail(EXIT_USAGE, "%s: %s: '%s' is not a range like 9-16", a->one.cmd, opt, val);
    a->bar_a = x;
    a->bar_b = y;
    return 0;
}

/* ======================================================================== */
/* Progress bar                                                              */
/* ======================================================================== */

double cli_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

void cli_progress_cb(void *user, size_t done, size_t total) {
    cli_progress *p = user;
    if (!p->on || !total) return;
    int pct = (int)(100.0 * (double)done / (double)total);
    if (pct == p->last_pct && done != total) return;
    p->last_pct = pct;
    double el = cli_since(&p->t0);
    double eta = done ? el * (double)(total - done) / (double)done : 0;
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r%s [%s] %3d%%  %.1fs elapsed, ETA %.1fs ", p->label, bar, pct, el, eta);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

/* ======================================================================== */
/* GM program names (info, generate)                                          */
/* ======================================================================== */

const char *cli_program_names[128] = {
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano", "Electric Piano 1",
    "Electric Piano 2", "Harpsichord", "Clavinet", "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba",
    "Xylophone", "Tubular Bells", "Dulcimer", "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ",
    "Reed Organ", "Accordion", "Harmonica", "Tango Accordion", "Nylon Guitar", "Steel Guitar", "Jazz Guitar",
    "Clean Guitar", "Muted Guitar", "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics", "Acoustic Bass",
    "Finger Bass", "Pick Bass", "Fretless Bass", "Slap Bass 1", "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
    "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani",
    "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs", "Voice Oohs",
    "Synth Voice", "Orchestra Hit", "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section",
    "Synth Brass 1", "Synth Brass 2", "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn",
    "Bassoon", "Clarinet", "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle",
    "Ocarina", "Square Lead", "Sawtooth Lead", "Calliope Lead", "Chiff Lead", "Charang Lead", "Voice Lead",
    "Fifths Lead", "Bass + Lead", "New Age Pad", "Warm Pad", "Polysynth Pad", "Choir Pad", "Bowed Pad",
    "Metallic Pad", "Halo Pad", "Sweep Pad", "Rain FX", "Soundtrack FX", "Crystal FX", "Atmosphere FX",
    "Brightness FX", "Goblins FX", "Echoes FX", "Sci-fi FX", "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba",
    "Bagpipe", "Fiddle", "Shanai", "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom",
    "Synth Drum", "Reverse Cymbal", "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring",
    "Helicopter", "Applause", "Gunshot",
};

void cli_json_str(const char *s) { gm_json_fstr(stdout, s); }

/* ======================================================================== */
/* Options of generate, shared with the studio                               */
/* ======================================================================== */

int cli_find_class(const gm_layout *l, const char *name, char *err) {
    int c = gm_layout_find(l, name);
    if (c >= 0) return c;
    char names[256] = "";
    for (int k = 0; k < l->n_classes; k++) {
        strncat(names, k ? ", " : "", sizeof names - strlen(names) - 1);
        strncat(names, l->cls[k].name, sizeof names - strlen(names) - 1);
    }
    return gm_fail(err, "unknown track '%.40s': the model's tracks are %s", name, names);
}

/* A target class that came out empty or nearly so (fewer notes than one in
 * four of the bars written), in w ("" when none): the studio says it on the
 * version, generate on stderr and in --json, so that "asked for drums, got
 * none" is never silent. */
void cli_target_warning(const gm_layout *l, const gm_score *out, const gm_generate_params *p,
                           const gm_generate_report *rep, char *w, size_t wn) {
    int bars = rep->n_bars;
    if (p->n_ranges) {
        bars = 0;
        for (int i = 0; i < p->n_ranges; i++) bars += p->ranges[i].last - p->ranges[i].first + 1;
    } else if (p->continue_bars) bars = p->continue_bars;
    w[0] = 0;
    for (int c = 0; c < l->n_classes; c++) {
        if (!(rep->targets >> c & 1)) continue;
        size_t n = 0;
        for (int t = 0; t < out->n_tracks; t++) {
            if (gm_layout_classify(l, &out->tracks[t]) != c) continue;
            for (size_t k = 0; k < out->tracks[t].n_notes; k++) n += out->tracks[t].notes[k].flags & GM_NOTE_GENERATED;
        }
        if (4 * n >= (size_t)bars && n > 0) continue;
        size_t len = strlen(w);
        if (n == 0)
            snprintf(w + len, wn - len, "%s%s asked for, none written", len ? "; " : "", l->cls[c].name);
        else
            snprintf(w + len, wn - len, "%s%s asked for, only %zu note%s in %d bar%s", len ? "; " : "", l->cls[c].name,
                     n, n == 1 ? "" : "s", bars, bars == 1 ? "" : "s");
    }
    if (w[0]) {
        size_t len = strlen(w);
        int dc = gm_layout_find(l, "drums");
        snprintf(w + len, wn - len, " (try another seed%s)", dc >= 0 && (rep->targets >> dc & 1) ? " or drum style" : "");
    }
}

int cli_chord_spec(const char *spec, gm_generate_params *p, gm_chord **chords, char *err) {
    if (!strcmp(spec, "input")) p->chord_mode = GM_CHORDS_INPUT;
    else if (!strcmp(spec, "kept")) p->chord_mode = GM_CHORDS_CONDITIONS;
    else if (!strcmp(spec, "none")) p->chord_mode = GM_CHORDS_NONE;
    else if (!strcmp(spec, "melody")) p->chord_mode = GM_CHORDS_HARMONIZE;
    else {
        int n_bars = 0;
        if (gm_chords_parse_bars(spec, chords, &n_bars, err)) return -1;
        p->chord_mode = GM_CHORDS_GIVEN;
        p->chords = *chords;
        p->chord_frames_per_bar = 2; /* both halves of every bar */
        p->n_chords = 2 * n_bars;
    }
    return 0;
}


/* ======================================================================== */
/* Reading a song the way every command does                                 */
/* ======================================================================== */

int cli_is_std(const char *path) { return path && !strcmp(path, "-"); }

const char *cli_shown(const char *path) { return cli_is_std(path) ? "standard input" : path; }

/* MIDI or MusicXML, told apart by the content (standard input too). */
int cli_read_midi(const char *path, gm_score *s, char *err) {
    if (!cli_is_std(path)) return gm_score_read_file(path, s, err);
    /* Waiting for a MIDI file typed at a terminal would look like a hang. */
    if (isatty(0)) {
        snprintf(err, GM_ERR_SIZE, "is a terminal; pipe a MIDI file in (getmusic ... - < song.mid)");
        return -1;
    }
    return gm_score_read_fd(0, s, err);
}

int cli_write_midi(const char *path, const gm_score *s, char *err) {
    if (!cli_is_std(path)) return gm_score_write_file(path, s, err);
    uint8_t *data = NULL;
    size_t size = 0;
    if (gm_midi_write_mem(s, &data, &size, err)) return -1;
    /* One write of the whole file: a reader never gets a truncated song
     * mixed with an error, and a closed pipe is reported, not ignored. */
    int bad = fwrite(data, 1, size, stdout) != size || fflush(stdout);
    free(data);
    if (bad) snprintf(err, GM_ERR_SIZE, "cannot write to standard output: %s", strerror(errno ? errno : EIO));
    return bad ? -1 : 0;
}

int cli_metre_from_beats(gm_score *s, const char *midi_path) {
    if (cli_is_std(midi_path)) return 0; /* no folder to look in */
    char beats[4200], err[GM_ERR_SIZE];
    const char *slash = strrchr(midi_path, '/');
    snprintf(beats, sizeof beats, "%.*s%sbeat_midi.txt", slash ? (int)(slash - midi_path) : 0, midi_path,
             slash ? "/" : "");
    return access(beats, R_OK) == 0 && gm_score_metre_from_beat_file(s, beats, err) == 0;
}

int cli_metre_option(const char *opt, const char *val, gm_metre_request *req) {
    if (!val) return cli_fail(EXIT_USAGE, "%s needs a value", opt);
    if (!strcmp(opt, "--pickup")) {
        long n;
        if (cli_parse_int(opt, val, 0, 64, &n)) return EXIT_USAGE;
        req->pickup = (int)n;
        return 0;
    }
    int num = 0, den = 0, used = 0;
    req->keep_file = !strcmp(val, "file");
    req->numerator = req->denominator = 0;
    if (!strcmp(val, "auto") || req->keep_file) return 0;
    if (sscanf(val, "%d/%d%n", &num, &den, &used) != 2 || val[used] || num < 1 || num > 64 ||
        (den != 2 && den != 4 && den != 8 && den != 16))
        return cli_fail(EXIT_USAGE, "--metre: '%s' is not auto, file or a metre like 3/4 or 6/8", val);
    req->numerator = num, req->denominator = den;
    return 0;
}

int cli_settle_metre(gm_score *s, const char *path, const gm_metre_request *req, gm_metre *out, char *err) {
    memset(out, 0, sizeof *out);
    int asked = req && (req->numerator || req->pickup >= 0 || req->keep_file);
    if (!asked && cli_metre_from_beats(s, path)) {
        out->numerator = s->n_timesigs ? s->timesigs[s->n_timesigs - 1].numerator : 4;
        out->denominator = s->n_timesigs ? s->timesigs[s->n_timesigs - 1].denominator : 4;
        out->downbeat_tick = s->n_timesigs > 1 ? s->timesigs[1].tick : 0;
        out->confidence = 1;
        out->source = GM_METRE_BEAT_FILE;
        return 0;
    }
    return gm_score_settle_metre(s, req, out, err);
}

int cli_read_score(const char *path, gm_score *s, int *metre_from_beats, char *err) {
    gm_metre m;
    if (cli_read_midi(path, s, err)) return -1;
    if (cli_settle_metre(s, path, NULL, &m, err)) { gm_score_free(s); return -1; }
    if (metre_from_beats) *metre_from_beats = m.source == GM_METRE_BEAT_FILE;
    gm_metre_free(&m);
    return 0;
}

int cli_read_song(const char *path, gm_score *s, const gm_metre_request *req, gm_metre *metre, char *err) {
    if (cli_read_midi(path, s, err)) return -1;
    if (cli_settle_metre(s, path, req, metre, err)) { gm_score_free(s); return -1; }
    return 0;
}

/* The shipped model: $GETMUSIC_MODEL, else models/default.gguf beside the
 * executable's folder (build/../models, the source tree), an installed
 * share/getmusic, or the working directory. */
const char *cli_default_model(void) {
    static char buf[4200];
    const char *env = getenv("GETMUSIC_MODEL");
    if (env && *env) return env;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            const char *rel[] = {"/../models/default.gguf", "/../share/getmusic/default.gguf", "/models/default.gguf"};
            for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
                snprintf(buf, sizeof buf, "%s%s", exe, rel[i]);
                if (access(buf, R_OK) == 0) return buf;
            }
        }
    }
    if (access("models/default.gguf", R_OK) == 0) return "models/default.gguf";
    if (access("/usr/local/share/getmusic/default.gguf", R_OK) == 0) return "/usr/local/share/getmusic/default.gguf";
    return NULL;
}
