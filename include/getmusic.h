/*
 * getmusic.h — public API of libgetmusic.
 *
 * A C11 implementation of GETMusic (GETScore token grids + GETDiff discrete
 * diffusion) that arranges music: give it a MIDI file and the tracks you
 * want, and it writes them to fit. This header covers the whole library, in
 * the order a song travels: the score model and MIDI files, the time grid,
 * track classes, key and chords, the GETScore vocabulary and grid, corpus
 * preparation, the model file, training, generation, evaluation metrics and
 * audio rendering; drawing (canvas, loss chart, piano roll) is declared in
 * getmusic_plot.h, included at the end. Each section names its source file.
 *
 * Usage: a piano part for a melody (tests/test_example.c builds and runs
 * exactly these lines, from this comment):
 *
 *     #include <stdio.h>
 *     #include "getmusic.h"
 *
 *     int main(int argc, char **argv) { // example MODEL.gguf IN.mid OUT.mid
 *         char err[GM_ERR_SIZE] = "";
 *         gm_score in = {0}, out = {0};
 *         gm_model *m = argc == 4 ? gm_model_load(argv[1], err) : NULL;
 *         int rc = !m || gm_midi_read_file(argv[2], &in, err);
 *         if (!rc) {
 *             gm_generate_params p = gm_generate_default_params();
 *             int piano = gm_layout_find(gm_model_layout(m), "piano");
 *             p.targets = piano >= 0 ? 1u << piano : 0; // 0: every class the song lacks
 *             p.seed = 3;
 *             rc = gm_generate(m, &in, &p, &out, NULL, err) || gm_midi_write_file(argv[3], &out, err);
 *         }
 *         if (rc) fprintf(stderr, "%s\n", err);
 *         gm_score_free(&out);
 *         gm_score_free(&in);
 *         gm_model_free(m);
 *         return rc;
 *     }
 *
 * Threads: one gm_model per thread. gm_generate (and training) run the
 * network in working memory that belongs to the model (activations grown
 * to the longest window seen), which is why it takes a non-const
 * gm_model *: never run two generations on one gm_model at once; to
 * generate in parallel, load one gm_model per thread. Functions taking a
 * const gm_model * (gm_model_layout, gm_model_vocab, ...) only read what
 * loading set and may run beside a generation. Other objects (scores,
 * grids, vocabularies) are plain data: one writer or many readers. The one
 * process-wide call is gm_render_wav (FluidSynth's and GLib's log handlers
 * are global): render from one thread at a time.
 *
 * Conventions:
 *   - Functions that can fail return 0 on success and non-zero on failure;
 *     on failure they write a one-line, NUL-terminated reason into `err`
 *     (GM_ERR_SIZE bytes, may be NULL). Those returning a pointer return NULL
 *     on failure.
 *   - Nothing in the library prints to stdout or calls exit().
 *   - Lifecycle verbs. Whatever the caller must release, it releases with
 *     the one function named after its type, `gm_TYPE_free`; a NULL pointer,
 *     or a struct that is zeroed or already freed, makes it a no-op.
 *     Constructors are named for where the thing comes from:
 *       _new     an opaque object from parameters (returns a pointer)
 *       _init    an empty struct in caller storage (cannot fail)
 *       _load    from a file named by a path (vocabulary, model, corpus,
 *                chord labels, timed chords)
 *       _read    Standard MIDI File bytes into a gm_score (gm_midi_read_file,
 *                _mem, _fd: a path, memory, a descriptor)
 *       _parse   from text in memory
 *       _build, _encode, _finish, _draw   computed from other objects (bar
 *                map, token grid, vocabulary builder, piano roll)
 *     Caller-storage constructors take the struct to fill and initialise it
 *     first: after a failure there is nothing to free (freeing is harmless).
 *     Results a job fills in (gm_prepare's summary, gm_generate's report and
 *     score) pair with their type's free the same way. Plain arrays and
 *     strings handed out (gm_chords_parse_bars, gm_timed_chords_load,
 *     gm_grid_dump, gm_vocab_text) are released with free().
 *   - Parameters come as a struct with a gm_*_default_params() giving the
 *     values the CLI uses; change the fields you care about.
 *   - Renamed functions keep their old name as a #define (see "Old names"
 *     at the end), so code written against earlier versions still builds.
 */
#ifndef GETMUSIC_H
#define GETMUSIC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GM_ERR_SIZE 256
#define GM_VERSION "0.1.0"

/* ------------------------------------------------------------------------ */
/* Score model                                                              */
/* ------------------------------------------------------------------------ */

/* One note. Times are in MIDI ticks of the owning score. */
typedef struct {
    int64_t tick;       /* onset, ticks from the start of the piece (>= 0) */
    int64_t duration;   /* ticks, >= 1 after reading (zero-length notes become 1) */
    uint8_t pitch;      /* 0..127 (drums: GM percussion key) */
    uint8_t velocity;   /* 1..127 */
    uint8_t channel;    /* 0..15, as in the source file */
    uint8_t flags;      /* GM_NOTE_* bits */
} gm_note;

#define GM_NOTE_GENERATED 1u /* written by the model (plot marks these apart) */

/* One track: the notes of one (source MIDI track, channel, program). */
typedef struct {
    char name[64];      /* track name meta event, "" if none */
    int program;        /* GM program 0..127 in effect at the first note */
    int channel;        /* 0..15; 9 = GM drums */
    int is_drum;        /* 1 when channel 9 (or the track class is drums) */
    int source_track;   /* index of the MIDI track chunk it came from */
    int cls;            /* track class in some layout, -1 = none/unassigned. A cache
                           for the caller's bookkeeping: gm_layout_classify (a function
                           of the track's name, program and drum flag) is the truth, and
                           the grid encoder classifies afresh, so a stale value cannot
                           put a track in the wrong rows */
    gm_note *notes;     /* [n_notes], sorted by (tick, pitch) after reading */
    size_t n_notes;
    size_t cap_notes;
} gm_track;

typedef struct { int64_t tick; uint32_t usec_per_quarter; } gm_tempo;
/* denominator is the real note value (4 = quarter, 8 = eighth). */
typedef struct { int64_t tick; uint8_t numerator, denominator; } gm_timesig;
typedef struct { int64_t tick; int8_t sharps; uint8_t minor; } gm_keysig;

/* A chord symbol written in the file: a MusicXML <harmony>, or a MIDI text,
 * lyric, marker or cue event whose whole text is a chord name (see
 * gm_chord_symbol_parse). It sounds from `tick` until the next symbol. */
typedef struct {
    int64_t tick;
    int8_t root;        /* 0..11, -1 = no chord ("N.C.") */
    int8_t quality;     /* the nearest of our qualities (GM_Q_*), -1 with root -1 */
    int8_t bass;        /* pitch class of a written bass ("Bb/D": 2), -1 = none */
    uint8_t source;     /* GM_SYMBOL_MUSICXML, or the MIDI meta type it came in (1, 5, 6, 7) */
    char text[32];      /* as written ("F#m7b5", "Bb/D"); a MusicXML one spelt from its parts */
} gm_chord_symbol;
enum { GM_SYMBOL_MUSICXML = 0, GM_SYMBOL_TEXT = 1, GM_SYMBOL_LYRIC = 5, GM_SYMBOL_MARKER = 6, GM_SYMBOL_CUE = 7 };

typedef struct {
    int ticks_per_quarter;     /* > 0 (SMPTE files are converted or rejected) */
    int midi_format;           /* 0, 1 or 2 as read; 1 when built in memory */
    gm_track *tracks; int n_tracks; size_t cap_tracks;
    gm_tempo *tempos; int n_tempos;       /* sorted by tick; may be empty (= 120 bpm) */
    gm_timesig *timesigs; int n_timesigs; /* sorted by tick; may be empty (= 4/4) */
    gm_keysig *keysigs; int n_keysigs;    /* sorted by tick */
    int64_t end_tick;          /* last event tick (end of track), >= every note end */
    gm_chord_symbol *symbols; int n_symbols; /* chord symbols, sorted by tick (stable) */
} gm_score;

void gm_score_init(gm_score *s, int ticks_per_quarter);
void gm_score_free(gm_score *s);
/* Appends an empty track; returns its index or -1 (out of memory). */
int  gm_score_add_track(gm_score *s, const char *name, int program, int channel, int is_drum);
int  gm_track_add_note(gm_track *t, int64_t tick, int64_t duration, int pitch, int velocity, int channel);
int  gm_score_add_tempo(gm_score *s, int64_t tick, uint32_t usec_per_quarter);
int  gm_score_add_timesig(gm_score *s, int64_t tick, int numerator, int denominator);
int  gm_score_add_keysig(gm_score *s, int64_t tick, int sharps, int minor);
int  gm_score_add_symbol(gm_score *s, const gm_chord_symbol *sym); /* 0, or -1 out of memory */
int  gm_score_copy(gm_score *dst, const gm_score *src); /* deep copy; dst uninitialised */
void gm_score_sort(gm_score *s);          /* sort notes, tempos, metres; recompute end_tick */
size_t gm_score_n_notes(const gm_score *s);

/* ------------------------------------------------------------------------ */
/* MIDI files (src/music/midi.c)                                            */
/* ------------------------------------------------------------------------ */

/* Reads a Standard MIDI File (type 0, 1 or 2) into `out` (uninitialised on
 * entry; initialised on success, left freed on failure). Tracks are split per
 * (MIDI track, channel, program). Bounded: never loops forever; memory stays
 * within about 16× the file size (files over 64 MiB are refused).
 * Chord symbols: text (FF 01), lyric (05), marker (06) and cue (07) events
 * become s->symbols when their text is a chord name, judged per event type
 * over the whole file so that words are never read as chords: every
 * non-empty event of that type must parse (gm_chord_symbol_parse), and one
 * of them must be more than a bare letter or there must be more than 8 (a
 * marker stream "A", "B", "C" names sections). The writer puts them back
 * as the same event type in the conductor track. */
int gm_midi_read_mem(const uint8_t *data, size_t size, gm_score *out, char *err);
int gm_midi_read_file(const char *path, gm_score *out, char *err);
/* Reads an open descriptor to its end (a pipe, standard input: fd 0), the
 * same checks and the same 64 MiB limit as a file; does not close it. */
int gm_midi_read_fd(int fd, gm_score *out, char *err);
/* Writes a type 1 file: a conductor track (tempo, metre, key), then one track
 * per gm_track with its name and program change. Written to a temporary file
 * and renamed, so an existing file is never left half-written. */
int gm_midi_write_file(const char *path, const gm_score *s, char *err);
/* Same bytes into a malloc'd buffer (*out_data, caller frees). */
int gm_midi_write_mem(const gm_score *s, uint8_t **out_data, size_t *out_size, char *err);

/* ------------------------------------------------------------------------ */
/* Time grid: bars and columns (src/music/score.c)                          */
/* ------------------------------------------------------------------------ */

/* The GETScore grid: one column per 16th note, 4 per quarter, so a 4/4 bar
 * is 16 columns. Every grid, corpus and model uses it; pass it wherever a
 * function takes steps_per_quarter for the model's time grid (a caller
 * should not restate the number). */
#define GM_STEPS_PER_QUARTER 4

/* The bar lines of a score and their column positions on a grid of
 * `steps_per_quarter` steps per quarter note (4 = 16th notes). A bar in n/d
 * has n*4*steps_per_quarter/d columns (4/4 → 16, 3/4 → 12, 6/8 → 12). */
typedef struct {
    int steps_per_quarter; /* grid resolution, 4 = 16ths */
    int ticks_per_quarter; /* of the score it came from */
    int n_bars;
    int64_t *bar_tick;     /* [n_bars+1] start tick of each bar; last = end */
    int *bar_col;          /* [n_bars+1] first column of each bar; last = n_cols */
    uint8_t *bar_num;      /* [n_bars] time signature numerator of each bar */
    uint8_t *bar_den;      /* [n_bars] time signature denominator of each bar */
    int n_cols;
} gm_barmap;

/* Builds the bar map covering [0, max(end_tick, min_ticks)). */
int  gm_barmap_build(gm_barmap *bm, const gm_score *s, int steps_per_quarter, char *err);
void gm_barmap_free(gm_barmap *bm);
/* Column of a tick, rounded to the nearest grid step (clamped to [0,n_cols-1]). */
int  gm_barmap_tick_to_col(const gm_barmap *bm, int64_t tick);
/* Columns of one whole bar of numerator/denominator on the GETScore grid
 * (GM_STEPS_PER_QUARTER): 4/4 → 16, 3/4 → 12, 6/8 → 12, rounded like
 * gm_barmap_build; at least 1. 0 for a numerator or denominator below 1. */
int  gm_grid_bar_cols(int numerator, int denominator);
/* Tick of a column start. */
int64_t gm_barmap_col_to_tick(const gm_barmap *bm, int col);
/* Bar index containing a tick / a column. */
int  gm_barmap_bar_of_tick(const gm_barmap *bm, int64_t tick);
int  gm_barmap_bar_of_col(const gm_barmap *bm, int col);
/* pos[j] for columns j = 0..n_cols−1: the column's position in its bar in grid
 * steps (0 = the bar line), clipped to max_pos − 1 (what a model with bar
 * positions reads; docs/MODEL.md "Bar positions"). */
void gm_barmap_positions(const gm_barmap *bm, uint8_t *pos, int max_pos);

/* Chord frames: a bar cut into `frames` parts (1 = the bar, 2 = half bars)
 * for the chord rows. Part k of a bar of n columns starts at column
 * bar_col + ceil(k·n/frames): 16 columns → 8+8, 12 (3/4, 6/8) → 6+6, and an
 * odd count gives the first half the extra column (7/16: 4+3). Returns the
 * first column of part k (0..frames; k = frames is the next bar's start). */
#define GM_MAX_CHORD_FRAMES 2
int gm_barmap_frame_col(const gm_barmap *bm, int bar, int frames, int k);
/* The same as a tick (the start of that column; part `frames` = next bar). */
int64_t gm_barmap_frame_tick(const gm_barmap *bm, int bar, int frames, int k);

/* Seconds ↔ ticks through the tempo map (120 bpm before the first tempo). */
double  gm_score_tick_to_seconds(const gm_score *s, int64_t tick);
int64_t gm_score_seconds_to_tick(const gm_score *s, double seconds);

/* Bar lines from a beat annotation such as POP909's beat_midi.txt (lines of
 * "seconds is_beat is_downbeat"), for files whose declared metre is not the
 * music's (POP909 declares 1/4 or 2/4): replaces the time signatures with n/4
 * bars from the first downbeat on (n = the most common downbeat spacing in
 * beats) and a lead-in bar before it. Returns 0, or -1 with err. */
int gm_score_metre_from_beat_file(gm_score *s, const char *path, char *err);

/* ------------------------------------------------------------------------ */
/* Metre from the music (src/music/metre.c)                                 */
/* ------------------------------------------------------------------------ */

/* Where a score's bar grid comes from, and when the music decides it:
 *   beat_midi.txt  a beat annotation beside the file (POP909) wins, as read
 *                  by gm_score_metre_from_beat_file (the CLI looks for it);
 *   file           a trustworthy time signature is kept: any other than
 *                  the cases below;
 *   inferred       the file says nothing (no time signature) or nothing
 *                  usable (numerator 1 all through: 1/4, 1/8): the bars are
 *                  estimated from the notes (gm_metre_infer). A lone 4/4 or
 *                  2/4 at tick 0 (what a DAW writes by default), or 2/4 and
 *                  4/4 mended with 1/4 bars (POP909), is replaced only when
 *                  the estimate's bar lines differ from the file's (3/4 for
 *                  a waltz, a pickup, 4/4 for 2/4) and it is confident or
 *                  the notes lie off the file's 16ths (POP909);
 *   given          the caller's metre (--metre 3/4, --pickup BEATS).
 * The estimate keeps the tempo map and takes the file's quarter notes as
 * the beats; it finds where they fall (POP909's notes sit a fixed part of
 * a beat after the file's quarter lines), the beats per bar (2/4 only when
 * given, 3/4, 4/4, 6/8) and the first downbeat. A grid set here is plain
 * time signatures (a lead-in bar before the first downbeat when it is not
 * at 0), so a MIDI file written from the score carries it. An estimate
 * follows the piece's phase beat by beat and may put in odd bars (a bar of
 * 2 or 5 beats where the song drops or adds one), each its own signature. */
enum { GM_METRE_FILE = 0, GM_METRE_BEAT_FILE, GM_METRE_INFERRED, GM_METRE_GIVEN };
typedef struct {
    int numerator, denominator; /* the bar: 4/4, 3/4, 6/8 ... */
    int64_t downbeat_tick;      /* the first full bar starts here (< a bar); a lead-in bar before it */
    double confidence;          /* 0..1 for an estimate: the margins of its metre and phase; 1 otherwise */
    int source;                 /* GM_METRE_* */
    int n_odd_bars;             /* bars of another length the estimate put in (a beat dropped or added) */
    gm_timesig *timesigs;       /* [n_timesigs] the grid when it has odd bars (owned), else NULL */
    int n_timesigs;
} gm_metre;
void gm_metre_free(gm_metre *m);
/* "file", "beat_midi.txt", "inferred from the music", "given". */
const char *gm_metre_source_name(int source);

/* How far a score's own time signatures can be trusted for its bars. */
enum { GM_METRE_TRUSTED = 0, GM_METRE_WEAK, GM_METRE_DEGENERATE, GM_METRE_ABSENT };
int gm_metre_file_trust(const gm_score *s);

/* Estimates the bar grid from the notes. numerator 0: the metre too; else
 * bars of numerator/denominator (1 to 6 quarter notes) and only the phase.
 * Too little music (fewer than 4 beats with onsets) gives 4/4 (or the given
 * metre) from tick 0 with confidence 0. 0, or -1 with err. */
int gm_metre_infer(const gm_score *s, int numerator, int denominator, gm_metre *out, char *err);
/* Replaces the score's time signatures with m's grid. 0, or -1 with err. */
int gm_score_set_metre(gm_score *s, const gm_metre *m, char *err);

typedef struct {
    int numerator, denominator; /* 0: decide as above; else this metre, phase from the music */
    int pickup;                 /* >= 0: beats (of the denominator) before the first downbeat; -1: from the music */
    int keep_file;              /* 1: the file's time signatures whatever they are */
} gm_metre_request;
/* The decision above for a score read without a beat annotation (req may be
 * NULL: decide): keeps or replaces its time signatures and says which in
 * *out (for a kept file: its first metre, bars from 0). 0, or -1 with err. */
int gm_score_settle_metre(gm_score *s, const gm_metre_request *req, gm_metre *out, char *err);

/* Snaps every note onset to the nearest grid step and every duration to a
 * whole number of steps (>= 1), keeping bar lines where they are. */
int gm_score_quantize(gm_score *s, int steps_per_quarter, char *err);

/* Removes a drummer's ghost notes: the snare strokes (keys 37, 38, 40) of drum
 * tracks softer than `below_velocity` (0: none). The grid keeps no velocity,
 * so a ghost note encoded would come back as a full hit. Returns how many. */
size_t gm_score_drop_ghost_notes(gm_score *s, int below_velocity);

/* The General MIDI key a drum key sounds as. Groove MIDI was recorded on a
 * Roland TD-11, whose hi-hat edge strokes (22 closed, 26 open) are below GM's
 * kit (silent in a GM synthesizer) and whose floor-tom rim (58) is GM's
 * vibraslap; they become 42, 46 and 43, as the dataset's own playback mapping
 * does. Every other key is returned as it is. */
int gm_drum_key_gm(int key);

/* The part of the kit a drum key plays, for the drum-feel figures and the
 * ghost notes: kick (35, 36), snare (37, 38, 40), hi-hat (42, 44, 46, and
 * what gm_drum_key_gm makes a hi-hat), other. */
enum { GM_KIT_KICK = 0, GM_KIT_SNARE, GM_KIT_HAT, GM_KIT_OTHER, GM_KIT_GROUPS };
int gm_drum_kit_group(int key);

/* ------------------------------------------------------------------------ */
/* Track classes and layouts (src/music/score.c)                            */
/* ------------------------------------------------------------------------ */

/* Roles that GM program families (and track names) map to. */
enum {
    GM_ROLE_LEAD = 0,     /* melody: names melody/vocal/lead; brass, reed, pipe, synth lead */
    GM_ROLE_COUNTER,      /* counter-melody: name "bridge"/"counter" */
    GM_ROLE_PIANO,        /* piano, chromatic percussion, organ */
    GM_ROLE_GUITAR,       /* guitars */
    GM_ROLE_BASS,         /* basses */
    GM_ROLE_STRINGS,      /* strings, ensemble, synth pads */
    GM_ROLE_DRUMS,        /* channel 10 */
    GM_ROLE_OTHER,        /* synth effects, ethnic, percussive, sound effects */
    GM_N_ROLES
};
const char *gm_role_name(int role);
/* Role of a track from its name (first) and program/drum flag (then). */
int gm_track_role(const gm_track *t);
/* Role of a GM program by family alone (no name). */
int gm_program_role(int program, int is_drum);

#define GM_MAX_CLASSES 16

/* One track class of a model: two grid rows (pitch, duration). */
typedef struct {
    char name[32];        /* "lead", "piano", ... */
    char prefix;          /* vocabulary token prefix letter ('M','B','D','G','P','S',...) */
    int is_drum;          /* drums: pitches kept in their own token space, never transposed */
    int out_program;      /* GM program written on output */
    int velocity;         /* velocity written on output */
    uint32_t roles;       /* bit mask (1u << GM_ROLE_*) of roles this class takes first */
    uint32_t fallback;    /* roles it takes when no class takes them first */
} gm_class;

typedef struct {
    char name[32];        /* "original", "default" */
    int n_classes;
    gm_class cls[GM_MAX_CLASSES];
    /* Chords are always the last two rows (root, quality). */
} gm_layout;

/* Presets: "original" (lead, bass, drums, guitar, piano, strings) and
 * "default" (lead, counter, piano, drums). Returns 0 or -1 for an unknown name. */
int gm_layout_preset(gm_layout *l, const char *name, char *err);
static inline int gm_layout_rows(const gm_layout *l) { return 2 * l->n_classes + 2; }

/* The grid's rows: class c has its pitch row 2c and its duration row 2c+1;
 * the chord root and quality rows come last. These name that arithmetic. */
typedef enum { GM_ROW_PITCH, GM_ROW_DURATION, GM_ROW_CHORD_ROOT, GM_ROW_CHORD_QUALITY } gm_row_kind;
static inline int gm_row_pitch(int cls) { return 2 * cls; }
static inline int gm_row_duration(int cls) { return 2 * cls + 1; }
static inline int gm_row_chord_root(int n_classes) { return 2 * n_classes; }
static inline int gm_row_chord_quality(int n_classes) { return 2 * n_classes + 1; }
static inline int gm_row_is_chord(int n_classes, int row) { return row >= 2 * n_classes; }
/* The class of a track row, -1 for a chord row. */
static inline int gm_row_class(int n_classes, int row) { return row < 2 * n_classes ? row / 2 : -1; }
static inline gm_row_kind gm_row_kind_of(int n_classes, int row) {
    if (row < 2 * n_classes) return row % 2 ? GM_ROW_DURATION : GM_ROW_PITCH;
    return row == 2 * n_classes ? GM_ROW_CHORD_ROOT : GM_ROW_CHORD_QUALITY;
}
/* Class index of a track in this layout, or -1 if none takes it. */
int gm_layout_classify(const gm_layout *l, const gm_track *t);
int gm_layout_find(const gm_layout *l, const char *class_name); /* -1 if absent */

/* ------------------------------------------------------------------------ */
/* Key finding and transposition (src/music/key.c)                          */
/* ------------------------------------------------------------------------ */

typedef struct {
    int tonic;      /* pitch class 0..11 (0 = C) */
    int minor;      /* 0 major, 1 minor */
    float score;    /* match of the best ±1 scale template: in-scale share minus out-of-scale share, -1..1 */
} gm_key;

/* Key from a duration×velocity weighted pitch-class histogram of the
 * non-drum notes, matched to major/minor profiles. Empty score → C major. */
gm_key gm_key_find(const gm_score *s);
/* Semitones to add so the key becomes C major / A minor, in -5..+6. */
int  gm_key_shift_to_c(gm_key k);
/* Adds `semitones` to every non-drum pitch (octave-folded to stay in 0..127). */
void gm_score_transpose(gm_score *s, int semitones);
const char *gm_key_name(gm_key k, char *buf, size_t n); /* "Gb major" */

/* ------------------------------------------------------------------------ */
/* Chords: recognition (src/music/chord.c), names, progressions and        */
/* labels as text (src/music/chord_text.c)                                 */
/* ------------------------------------------------------------------------ */

/* Qualities in vocabulary order of the original dict.txt. */
enum { GM_Q_MAJ = 0, GM_Q_MIN, GM_Q_AUG, GM_Q_DIM, GM_Q_DOM7, GM_Q_MAJ7, GM_Q_MIN7, GM_Q_M7B5, GM_N_QUALITIES };

typedef struct {
    int8_t root;    /* 0..11, or -1 = no chord (N) */
    int8_t quality; /* GM_Q_*, or -1 when root is -1 */
} gm_chord;

/* One chord per bar of `bm` from the non-drum notes (lead tracks weigh 0.25),
 * smoothed by the HMM/Viterbi key-chord model (Magenta's parameters). Empty
 * bars carry a neighbouring chord; N (root -1) only when the piece has no
 * pitched note. More than 65,536 bars is an error. out: [bm->n_bars]. */
int gm_chords_recognize(const gm_score *s, const gm_barmap *bm, gm_chord *out, char *err);
/* The same over `frames_per_bar` frames per bar (1 or 2, see
 * gm_barmap_frame_col), with the chord and key change probabilities per
 * frame scaled so that a bar keeps the model's odds. out: [n_bars·frames],
 * frame k of bar b at out[b·frames + k]. */
int gm_chords_recognize_frames(const gm_score *s, const gm_barmap *bm, int frames_per_bar, gm_chord *out,
                               char *err);
/* The same model fed by a chromagram (from audio, src/audio/transcribe.c): one
 * frame per row, frames_per_bar (1 or 2) of them per bar. chroma:
 * [n_frames][12] non-negative energies (any scale, each row normalised
 * here; an all-zero row is a silent frame); bass: [n_frames][12] or NULL,
 * only used to name augmented triads. out: [n_frames]. */
int gm_chords_from_chroma(const float *chroma, const float *bass, int n_frames, int frames_per_bar, gm_chord *out,
                          char *err);
/* "C", "Am", "G7", "Bdim", "Fmaj7", "Em7", "Bm7b5", "Caug", "N" */
const char *gm_chord_name(gm_chord c, char *buf, size_t n);
/* One of our names, as gm_chord_name writes them and more: a root A-G with
 * up to two accidentals, an optional ':' (Harte's "B:maj"), and a suffix
 * that gm_chord_symbol_parse knows and whose tones are exactly one of our
 * eight qualities ("Am", "G7", "Bø", "E:hdim7"; not "Csus4", "C/E");
 * "N", "NC", "N.C." are no chord. 0, or -1 with err. */
int gm_chord_parse(const char *name, gm_chord *out, char *err);
/* A chord progression in bars, the one syntax that generate, eval and the
 * studio take: names separated by spaces or commas. Without '|' every name
 * is one bar ("C G Am F" = 4 bars). With '|', '|' and line ends separate
 * bars and a bar holds one name (the whole bar) or two (its halves):
 * "C G | Am F" = 2 bars of 2 chords; empty bars ("| C |") are skipped; a
 * third name in a bar is an error. out: malloc'd [2·n_bars], both halves of
 * every bar (a one-chord bar twice). Returns 0 or -1 with err (the first bad
 * name or bar). */
int gm_chords_parse_bars(const char *text, gm_chord **out, int *n_bars, char *err);

/* Human chord labels as chords of our vocabulary (for training data; the
 * metrics read the same files as tone sets, gm_chord_labels): POP909's
 * chord_midi.txt has one "start end label" line per chord, times in seconds
 * on the MIDI file's clock, labels Harte-style ("C#:min7", "A:maj/3", "N").
 * Every POP909 quality maps to the nearest of ours (see chord.c: hdim7 →
 * m7b5, dim7 → dim, sus2/sus4/maj6 → maj, sus4(b7) → 7, min6/minmaj7 →
 * min); inversions keep the root. */
typedef struct {
    double start, end;     /* seconds, 0 <= start <= end */
    gm_chord chord;        /* root -1 for N */
} gm_timed_chord;
/* One label's text → chord: 0, or -1 with err for an unknown root/quality. */
int gm_chord_label_nearest(const char *text, gm_chord *out, char *err);
/* Reads a label file: *out malloc'd [*n]. Malformed lines are an error
 * naming the line. */
int gm_timed_chords_load(const char *path, gm_timed_chord **out, int *n, char *err);
/* Chords per frame from labels: the label sounding longest in each frame
 * (seconds → ticks through s's tempo map), roots moved up by `shift`
 * semitones (the song's transposition); frames no label reaches are N.
 * out: [n_bars·frames_per_bar]. */
int gm_chords_from_timed(const gm_score *s, const gm_barmap *bm, int frames_per_bar, const gm_timed_chord *labels,
                         int n_labels, int shift, gm_chord *out, char *err);

/* Chords chosen for a bare melody (src/model/harmonize.c). With net (a model's
 * learnt harmoniser, gm_model_harmonizer): a bidirectional GRU (or an
 * ensemble of them) over the melody's half bars gives every chord a
 * posterior per frame, and each frame takes the chord whose tones the likely
 * chords share most (minimum risk). With
 * net NULL: a key-chord HMM whose transitions and melody emissions were
 * counted on POP909's human labels (training split), decoded by Viterbi.
 * Every pitched note of s is melody; s is best given in C major / A minor
 * (as generate moves it). frames_per_bar 1 or 2; out:
 * [n_bars·frames_per_bar], a chord in every frame (none, root -1, only when
 * s has no pitched note). The recogniser above is for textures that sound
 * their harmony; a melody implies it. */
typedef struct gm_harmonizer gm_harmonizer;
int gm_chords_harmonize(const gm_score *s, const gm_barmap *bm, int frames_per_bar, const gm_harmonizer *net,
                        gm_chord *out, char *err);
/* The learnt harmoniser's scores (src/model/harmonizer.c): h [T][36] half-bar
 * frames as gm_harmony_frames gives them (T even, a bar's halves in turn) →
 * logits [T][96], chords root·8 + quality, whose softmax is the chord
 * posterior (an ensemble's: the log of its members' mean posterior). Its
 * provenance text; how many nets it averages (1: a lone net). */
int gm_harmonizer_logits(const gm_harmonizer *net, const float *h, int T, float *logits, char *err);
const char *gm_harmonizer_source(const gm_harmonizer *net);
int gm_harmonizer_members(const gm_harmonizer *net);
/* What the harmoniser hears of a melody, for learning its tables
 * (bench/bench_harmonize.c): fticks [n_frames+1] the frames' start ticks, h
 * [n_frames][3][12] quarters of each pitch class struck on a beat, struck
 * off the beat, or held over from the frame before (each note capped at two
 * quarters). Returns 1 when any pitched note falls in the frames, else 0. */
enum { GM_HARMONY_ON_BEAT = 0, GM_HARMONY_OFF_BEAT, GM_HARMONY_HELD };
enum { GM_HARMONY_BAR_START = 0, GM_HARMONY_MID_BAR, GM_HARMONY_BAR }; /* transition tables: half bars, whole bars */
int gm_harmony_frames(const gm_score *s, const gm_barmap *bm, int frames_per_bar, int64_t *fticks, float *h);
/* 1 when the pitched notes of s are a bare melody, whose chords are to be
 * chosen rather than recognised: every pitched track is a lead, or at most
 * one pitched onset in ten meets another pitched note sounding. */
int gm_score_is_bare_melody(const gm_score *s);

/* ------------------------------------------------------------------------ */
/* Chord symbols as musicians write them (src/music/chord_symbol.c)        */
/* ------------------------------------------------------------------------ */

/* A lead-sheet chord name, strictly: the whole text (spaces around it aside)
 * must be a root A-G with an optional accidental (#, b, ♯, ♭), one of the
 * known suffixes (maj, m, min, -, aug, +, dim, °, o, 7, maj7, M7, Δ, m7, ø,
 * m7b5, dim7, 6, m6, sus2, sus4, sus, 7sus4, 9, m9, maj9, 11, 13, add9,
 * mM7, 5, 7b9, 7#9, 7b5, 7#5, ...) and an optional "/bass"; "N.C.", "NC",
 * "N" are no chord. The chord is the nearest of our eight qualities by
 * tones (gm_chord_quality_nearest): Csus4 → C, C9 → C7, Cdim7 → Cdim.
 * bass (may be NULL): the bass's pitch class, -1 when none. 0, or -1 with
 * err. */
int gm_chord_symbol_parse(const char *text, gm_chord *out, int *bass, char *err);
/* The tones of a MusicXML <kind> value ("major", "minor-seventh",
 * "dominant-ninth", "suspended-fourth", "Neapolitan", "none", ...) as
 * semitones above the root (bit i = i semitones; "none" gives 0, no chord).
 * 0, or -1 for an unknown kind. */
int gm_chord_kind_tones(const char *kind, uint16_t *tones);
/* Our quality nearest to a set of tones above the root (bit i = i
 * semitones): the most shared tones minus the quality's tones missing, ties
 * to the first in GM_Q_* order (so a triad before its seventh). */
int gm_chord_quality_nearest(uint16_t tones);
/* Given chords from the score's symbols, per frame of bm (frames_per_bar
 * 1 or 2), as gm_chords_from_timed does with labels: each symbol lasts until
 * the next (the last one to the end of the piece), the one sounding longest
 * in a frame wins, frames before the first symbol are N. out:
 * [n_bars·frames_per_bar]. 0, or -1 with err (also when s has no symbol). */
int gm_chords_from_symbols(const gm_score *s, const gm_barmap *bm, int frames_per_bar, gm_chord *out, char *err);

/* ------------------------------------------------------------------------ */
/* MusicXML (src/music/musicxml.c) and reading any score file              */
/* ------------------------------------------------------------------------ */

/* Reads MusicXML, uncompressed (.musicxml, .xml) or compressed (.mxl: a zip
 * whose META-INF/container.xml names the score), into `out` as the MIDI
 * reader would (uninitialised on entry, initialised on success): one track
 * per part (part-name, midi-program, midi-channel; a part of unpitched notes
 * is drums, keys from its instruments' midi-unpitched), voices and staves
 * merged, ties merged, grace and cue notes skipped, transposing parts moved
 * to concert pitch, repeats and volta endings played out (D.C., D.S. and coda
 * jumps are not followed), tempo (<sound tempo>, <metronome>), metre changes
 * and pickup or irregular bars as time signatures of their real length, key
 * signatures, <harmony> as chord symbols. score-timewise files are read too.
 * Bounded like the MIDI reader: 64 MiB of XML (also uncompressed), at most
 * 100,000 bars after repeats, every malformed file a one-line error. */
int gm_musicxml_read_mem(const uint8_t *data, size_t size, gm_score *out, char *err);
int gm_musicxml_read_file(const char *path, gm_score *out, char *err);
/* Writes score-partwise MusicXML 3.1: one part per track (part-name, its
 * GM program and channel), notes on a grid of 1/24 quarter split at bar
 * lines into tied notes of standard types (dots, triplets where a length
 * needs them), overlapping notes in voices, rests, time signatures, keys
 * and tempos; drum tracks as percussion parts (unpitched notes, an
 * instrument per key with its midi-unpitched); the score's chord symbols as
 * <harmony>. Written through a temporary file and renamed. */
int gm_musicxml_write_file(const char *path, const gm_score *s, char *err);
int gm_musicxml_write_mem(const gm_score *s, uint8_t **out_data, size_t *out_size, char *err);
/* Any score file by its content: MIDI (MThd, RIFF), MusicXML (XML text) or
 * compressed MusicXML (a zip). */
int gm_score_read_mem(const uint8_t *data, size_t size, gm_score *out, char *err);
int gm_score_read_file(const char *path, gm_score *out, char *err);
int gm_score_read_fd(int fd, gm_score *out, char *err); /* to its end, 64 MiB at most */
/* 1 when the path names a MusicXML file (.musicxml, .xml, .mxl; any case). */
int gm_path_is_musicxml(const char *path);
/* MusicXML for such a path, else MIDI (gm_midi_write_file). */
int gm_score_write_file(const char *path, const gm_score *s, char *err);

/* ------------------------------------------------------------------------ */
/* GETScore: vocabulary (src/music/vocab.c), token grid (src/music/grid.c) */
/* ------------------------------------------------------------------------ */

#define GM_N_DURATIONS 15
/* Duration tokens decode to these numbers of 16th notes. */
extern const int gm_duration_steps[GM_N_DURATIONS];
/* Token of a duration in grid steps (nearest, clipping to 1..52). */
int gm_duration_token(int steps);

typedef struct gm_vocab gm_vocab; /* opaque */

/* Loads the original GETMusic dict.txt (token<TAB>count per line, id = line
 * number) for the given layout (classes are matched by token prefix). */
gm_vocab *gm_vocab_load(const char *path, const gm_layout *l, char *err);
/* The same from text in memory (as stored in a model file); name is for messages. */
gm_vocab *gm_vocab_parse(const char *text, size_t len, const char *name, const gm_layout *l, char *err);
int  gm_vocab_save(const gm_vocab *v, const char *path, char *err); /* same text format */
/* The same text into a malloc'd buffer. */
int  gm_vocab_text(const gm_vocab *v, char **out, size_t *out_len, char *err);
void gm_vocab_free(gm_vocab *v);

/* Building from a corpus: count every compound pitch token per class, then
 * finish with the frequency rule (cumulative share < `coverage` (0.9) and count
 * > `min_count`; coverage >= 1 lifts the share limit). Single pitches of each
 * class are always in the vocabulary. */
typedef struct gm_vocab_builder gm_vocab_builder;
gm_vocab_builder *gm_vocab_builder_new(const gm_layout *l);
/* A monophonic class keeps only its 128 single pitches (its compounds are not
 * counted). As in the original, the class that takes the lead role first is
 * monophonic by default; this switches it per class. 0 or -1 (bad class). */
int  gm_vocab_builder_set_monophonic(gm_vocab_builder *b, int cls, int on);
/* pitches sorted unique, n >= 1; thread-safe only with external locking. */
int  gm_vocab_builder_add(gm_vocab_builder *b, int cls, const uint8_t *pitches, int n, uint32_t count);
int  gm_vocab_builder_merge(gm_vocab_builder *dst, const gm_vocab_builder *src);
gm_vocab *gm_vocab_builder_finish(const gm_vocab_builder *b, double coverage, uint32_t min_count, char *err);
void gm_vocab_builder_free(gm_vocab_builder *b);

int gm_vocab_size(const gm_vocab *v);      /* number of real tokens (ids 0..size-1) */
int gm_vocab_pad(const gm_vocab *v);       /* id of <pad> */
int gm_vocab_empty(const gm_vocab *v);     /* EMPTY = size */
int gm_vocab_mask(const gm_vocab *v);      /* MASK = size + 1 */
int gm_vocab_n_classes(const gm_vocab *v);
/* [begin, end) id range of class `cls` pitch tokens, of chord roots (cls =
 * GM_RANGE_ROOTS), of chord qualities (GM_RANGE_QUALITIES), of durations
 * (GM_RANGE_DURATIONS). */
#define GM_RANGE_ROOTS (-1)
#define GM_RANGE_QUALITIES (-2)
#define GM_RANGE_DURATIONS (-3)
int gm_vocab_range(const gm_vocab *v, int cls, int *begin, int *end);
/* The same for what grid row `row` holds (gm_row_kind_of): a class's pitch
 * tokens or the durations, the chord roots or qualities. <pad> is outside it. */
int gm_vocab_row_range(const gm_vocab *v, int row, int *begin, int *end);
const char *gm_vocab_token(const gm_vocab *v, int id); /* "P60 64 67", "T4", "<pad>", "EMPTY" */
uint32_t gm_vocab_count(const gm_vocab *v, int id);
/* Exact compound lookup (pitches sorted unique; drums as GM keys 0..127): id or -1. */
int gm_vocab_lookup(const gm_vocab *v, int cls, const uint8_t *pitches, int n);
/* Closest in-vocabulary subset: most notes kept, ties by corpus count. id or -1. */
int gm_vocab_closest(const gm_vocab *v, int cls, const uint8_t *pitches, int n);
/* Pitches of a pitch token of class cls: returns the count written to out[128]. */
int gm_vocab_pitches(const gm_vocab *v, int id, uint8_t *out);

/* The token grid: rows = 2 per class (pitch, duration) + 2 chord rows. */
typedef struct {
    int n_rows;
    int n_cols;
    int32_t *tok;       /* [n_rows][n_cols], row-major */
    gm_barmap bm;       /* bar lines → columns (owned) */
} gm_grid;

typedef struct {
    size_t notes_in;        /* notes of classified tracks */
    size_t notes_exact;     /* kept with the same onset column, pitch, duration token */
    size_t notes_onset_pitch; /* kept with the same onset column and pitch (any duration) */
    size_t notes_dropped;   /* lost to out-of-vocabulary subset choice or collisions */
    size_t compounds_oov;   /* compound tokens replaced by a closest subset */
    size_t tracks_unmapped; /* tracks no class took (not encoded) */
} gm_encode_stats;

/* Score (quantised or not: onsets are rounded to columns) → grid. Tracks are
 * classified with the layout; several tracks of one class are merged. chords:
 * [bm.n_bars] or NULL to leave chord rows as EMPTY. Absent classes are EMPTY. */
int gm_grid_encode(gm_grid *g, const gm_score *s, const gm_layout *l, const gm_vocab *v,
                   const gm_chord *chords, gm_encode_stats *stats, char *err);
/* The same with `frames_per_bar` chords per bar (1 or 2): chords
 * [bm.n_bars·frames], each written over its frame's columns (see
 * gm_barmap_frame_col); N (root -1) is <pad> in both rows. */
int gm_grid_encode_frames(gm_grid *g, const gm_score *s, const gm_layout *l, const gm_vocab *v,
                          const gm_chord *chords, int frames_per_bar, gm_encode_stats *stats, char *err);
/* The chord rows back as chords: the tokens at each frame's first column
 * (root -1 where either row is <pad>, EMPTY or not a chord token).
 * out: [g->bm.n_bars·frames_per_bar]. */
int gm_grid_chords(const gm_grid *g, const gm_vocab *v, int frames_per_bar, gm_chord *out, char *err);
/* Grid → score: one track per present class with its output program, name and
 * velocity; the template gives ticks per quarter, tempo map, metre, key
 * (may be NULL: 480 tpq, 120 bpm, the grid's bar map metre). */
int gm_grid_decode(const gm_grid *g, const gm_layout *l, const gm_vocab *v,
                   const gm_score *tmpl, gm_score *out, char *err);
void gm_grid_free(gm_grid *g);
/* Human-readable dump: one line per column range, token strings per row. */
int gm_grid_dump(const gm_grid *g, const gm_layout *l, const gm_vocab *v, char **out_text, char *err);

/* ------------------------------------------------------------------------ */
/* Corpus preparation (src/music/corpus.c)                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    const char *layout;        /* track layout preset, "default" */
    const char *vocab_path;    /* vocabulary to use (dict.txt format); NULL = build from the songs */
    const gm_vocab *vocab;     /* or this one, borrowed (e.g. a model's: gm_model_vocab); it
                                  must belong to `layout`; wins over vocab_path */
    int window_cols;           /* columns per training segment, 512 (32 bars of 4/4) */
    int hop_cols;              /* step between segment starts, 256 (half-window overlap) */
    double vocab_coverage;     /* frequency rule: cumulative share, 0.9 */
    uint32_t vocab_min_count;  /* frequency rule: count must exceed this, 10 */
    int valid_percent;         /* songs held out for validation, by song-name hash, 10 */
    int n_threads;             /* 0 = all online cores */
    int transpose_to_c;        /* 1: shift every song to C major / A minor */
    int chord_frames_per_bar;  /* chords per bar in the chord rows: 2 (half bars) or 1 */
    int chord_labels;          /* 1: a chord_midi.txt beside a MIDI file (POP909) gives its
                                  chords instead of the recogniser */
    const char *const *exclude; /* [n_exclude] glob patterns (fnmatch, '*' crosses '/'): files
                                  whose path relative to their input folder matches one are
                                  left out, e.g. Groove's styles without a pop backbeat */
    int n_exclude;
    int ghost_velocity;        /* drop snare strokes (keys 37, 38, 40) of drum tracks softer
                                  than this velocity, 60; 0 keeps them. The grid has no
                                  velocity, so a ghost note would come back as a full hit */
    /* Called from worker threads (serialised by the library) as files finish. */
    void (*progress)(void *user_data, size_t done, size_t total);
    void *user_data;
} gm_prepare_params;

gm_prepare_params gm_prepare_default_params(void);

/* One skipped input file and why. */
typedef struct { char path[512]; char reason[GM_ERR_SIZE]; } gm_prepare_skip;

typedef struct {
    size_t files;               /* MIDI files found (not excluded) */
    size_t files_excluded;      /* matched an exclude pattern */
    size_t songs;               /* read and used */
    size_t songs_valid;         /* of which held out */
    size_t segments_train, segments_valid;
    size_t segments_duplicate;  /* dropped as exact duplicates of an earlier segment */
    size_t segments_empty;      /* dropped: no note in any track */
    size_t notes_in, notes_exact, notes_onset_pitch, compounds_oov;
    size_t tracks_unmapped;
    size_t songs_chord_labels;  /* songs whose chords came from chord_midi.txt */
    size_t songs_labels_bad;    /* songs whose chord_midi.txt was unreadable (recognised instead) */
    size_t ghost_notes_dropped; /* snare strokes softer than ghost_velocity, left out */
    int chord_frames_per_bar;
    int vocab_class_size[GM_MAX_CLASSES];
    int vocab_size;
    gm_prepare_skip *skipped;   /* [n_skipped], owned; free with gm_prepare_summary_free */
    size_t n_skipped;
    double seconds;
} gm_prepare_summary;

/* Walks the inputs (files or folders, recursively, *.mid / *.midi), and
 * writes the corpus folder `out_dir`: corpus.bin (segments), vocab.txt,
 * summary.txt and summary.json. */
int  gm_prepare(const char *const *inputs, int n_inputs, const char *out_dir, const gm_prepare_params *p,
                gm_prepare_summary *sum, char *err);
void gm_prepare_summary_free(gm_prepare_summary *sum);

/* A prepared corpus, loaded and checked (magic, version, sizes, CRC32s). */
typedef struct {
    gm_layout layout;
    gm_vocab *vocab;
    int n_rows;                 /* 2 * n_classes + 2 */
    int window_cols;
    int chord_frames_per_bar;   /* 1 or 2 (corpus version 1: 1) */
    size_t n_segments;
    size_t n_songs;
    uint16_t *tokens;           /* [n_segments][n_rows][window_cols] */
    uint32_t *seg_song;         /* [n_segments] song index */
    uint32_t *seg_col;          /* [n_segments] first column in its song */
    uint8_t *seg_pos;           /* [n_segments][window_cols] each column's position in its bar (0..31) */
    uint8_t *seg_valid;         /* [n_segments] 1 = validation split */
    char **song_names;          /* [n_songs] path relative to its input folder */
} gm_corpus;

/* 1 when `prepare` holds the song out for validation: `name` is its path
 * relative to the input folder given to prepare ("001/001.mid" for
 * pop909/001/001.mid), valid_percent as in gm_prepare_params. */
int gm_song_is_validation(const char *name, int valid_percent);

int  gm_corpus_load(gm_corpus *c, const char *dir, char *err);
void gm_corpus_free(gm_corpus *c);

/* ------------------------------------------------------------------------ */
/* The model: weights + layout + vocabulary (src/model/model.c, gguf.c)    */
/* ------------------------------------------------------------------------ */

/* Sizes of a GETDiff network (rows and vocabulary come from layout and vocab). */
typedef struct {
    int embd;            /* cell embedding E (original 96) */
    int hidden;          /* H (768) */
    int layers;          /* (12) */
    int heads;           /* (12); hidden/heads must be even */
    int ffn;             /* (3072) */
    int max_cols;        /* longest window in columns (original 1536; training uses 512) */
    int diffusion_steps; /* T (100) */
    float dropout;       /* 0.1 */
    int token_features;  /* 0 (original) or GM_TOKEN_FEATURES: pitch-factorised token embeddings
                            (docs/MODEL.md "Token features"; GGUF getmusic.token_features) */
    int bar_positions;   /* 0 (original) or GM_BAR_POSITIONS: each column's position in its bar
                            added to the encoder input (docs/MODEL.md "Bar positions"; GGUF
                            getmusic.bar_positions) */
    int drum_styles;     /* 0 (none) or 2..GM_MAX_DRUM_STYLES: the bar-position table holds a
                            block per drum style, style 0 "any" (docs/MODEL.md "Drum styles";
                            GGUF getmusic.drum_styles, the names); needs bar_positions */
} gm_model_params;
#define GM_TOKEN_FEATURES 280
#define GM_BAR_POSITIONS 32
#define GM_MAX_DRUM_STYLES 8   /* 8 blocks of 32 positions: a column's row fits a byte */
#define GM_DRUM_STYLE_NAME 16  /* bytes of a style's name, NUL included */

typedef struct gm_model gm_model; /* opaque */

gm_model_params gm_model_default_params(void);  /* the size we train and ship */
gm_model_params gm_model_original_params(void); /* GETMusic's 86 M configuration */
/* A new randomly initialised model (vocabulary copied). */
gm_model *gm_model_new(const gm_model_params *p, const gm_layout *l, const gm_vocab *v, uint64_t seed, char *err);
/* Reads a GGUF model file; every size, key and tensor shape is checked. */
gm_model *gm_model_load(const char *path, char *err);
/* Writes GGUF atomically (temporary file + rename). source: provenance text. */
int  gm_model_save(const gm_model *m, const char *path, const char *source, char *err);
void gm_model_free(gm_model *m);
gm_model_params gm_model_sizes(const gm_model *m);
const gm_layout *gm_model_layout(const gm_model *m);
const gm_vocab *gm_model_vocab(const gm_model *m);
const char *gm_model_source(const gm_model *m); /* "" if none */
/* Chords per bar the model was trained with (GGUF getmusic.chord_frames_per_bar;
 * 1 when absent, as in models made before it); generate encodes at it. */
int  gm_model_chord_frames(const gm_model *m);
/* The learnt bare-melody harmoniser the file carries (tensors harmonizer.*,
 * python/harmonizer.py), or NULL. */
const gm_harmonizer *gm_model_harmonizer(const gm_model *m);
int  gm_model_set_chord_frames(gm_model *m, int frames_per_bar, char *err); /* 1 or 2 */
size_t gm_model_n_params(const gm_model *m);
/* Drum styles (docs/MODEL.md "Drum styles"): the name of style i (0 is "any"),
 * NULL outside 0..drum_styles-1; the index of a name, -1 when the model has no
 * such style (a model without styles has only "any", index 0). */
const char *gm_model_drum_style_name(const gm_model *m, int i);
int  gm_model_drum_style_find(const gm_model *m, const char *name);
/* The style generate plays when none is asked for: "pop" where the model has
 * it (what our users' songs are), else "any". */
const char *gm_model_drum_style_default(const gm_model *m);
/* Gives a model without bar positions a zero table of them (docs/MODEL.md "Bar
 * positions"), so it computes what it did and can learn them from there
 * (training with --init). No-op when it has them. */
int  gm_model_add_bar_positions(gm_model *m, char *err);

/* Every metadata key of a GGUF file, in file order, with its value as text:
 * numbers in decimal, strings as they are (their first GM_GGUF_VALUE_MAX - 1
 * bytes), arrays as "[N elements]". For showing what a model file records
 * (getmusic info --model lists the training provenance with it); the model
 * itself is read by gm_model_load. fn returning non-zero stops the walk.
 * 0, or -1 with err when the file is not readable GGUF. */
#define GM_GGUF_VALUE_MAX 1024
typedef int (*gm_gguf_key_fn)(void *user, const char *key, const char *value);
int gm_gguf_keys(const char *path, gm_gguf_key_fn fn, void *user, char *err);

/* ------------------------------------------------------------------------ */
/* Training (src/model/train.c)                                             */
/* ------------------------------------------------------------------------ */

typedef struct {
    int step, steps;            /* optimizer steps done, planned */
    int epoch;
    double loss;                /* mean training loss per sample since the last report */
    double val_loss;            /* last validation loss (NaN before the first) */
    double lr;
    double cols_per_s;
    double eta_s;
    int evaluated;              /* 1 when val_loss was just computed */
} gm_train_progress;

typedef struct {
    const char *corpus;         /* prepared corpus folder */
    const char *out;            /* MODEL.gguf: EMA weights; checkpoint at OUT.ckpt, log at OUT.log.jsonl */
    const char *init;           /* fine-tune from this model file (its vocabulary must be the corpus') */
    int resume;                 /* continue from OUT.ckpt */
    gm_model_params sizes;      /* for a new model */
    int batch;                  /* segments per micro-batch (4) */
    int accum;                  /* micro-batches per optimizer step (1) */
    int steps;                  /* optimizer steps in all (20000) */
    int warmup;                 /* linear warm-up steps (1000) */
    float lr, lr_min;           /* peak and final learning rate (1e-4 → 1e-6, linear decay) */
    float weight_decay;         /* AdamW (0.01) */
    float clip;                 /* global gradient-norm clip (0.5; 0 = off) */
    float ema_decay;            /* EMA decay per update (0.9) */
    int ema_every;              /* steps between EMA updates (100) */
    int eval_every;             /* steps between validation losses (500) */
    int eval_segments;          /* validation segments per evaluation (64) */
    int ckpt_every;             /* steps between checkpoints (500) */
    int threads;                /* 0 = all cores */
    uint64_t seed;
    int stop_after;             /* 0, or stop (with a checkpoint) after this many steps of this run */
    /* The task mix (what people use most is accompaniment); the defaults are the original's. */
    float chord_given;          /* P(chord rows are a condition) outside the accompaniment task (0.25) */
    float accomp;               /* P(accompaniment task: lead and chords given, every other track a target) (0) */
    float drum_overlay;         /* P(a Groove drum part laid into a drum-less training segment) (0) */
    volatile int *stop;         /* set to non-zero (e.g. by a signal handler) to checkpoint and stop */
    void (*progress)(void *user_data, const gm_train_progress *p);
    void *user_data;
    int rank, world;            /* data-parallel position (MPI builds); 0, 1 otherwise */
} gm_train_params;

gm_train_params gm_train_default_params(void);
/* Trains; returns 0 (finished or stopped cleanly with a checkpoint), -1 with err. */
int gm_train(const gm_train_params *p, char *err);

/* ------------------------------------------------------------------------ */
/* Generation (src/model/generate.c)                                        */
/* ------------------------------------------------------------------------ */
/* What the chord rows hold while generating. */
enum {
    GM_CHORDS_CONDITIONS = 0, /* recognised from the notes that are kept */
    GM_CHORDS_INPUT,          /* recognised from the whole input, replaced notes too (default) */
    GM_CHORDS_GIVEN,          /* the `chords` array of the parameters */
    GM_CHORDS_NONE,           /* none: chord rows EMPTY, the model chooses the harmony */
    GM_CHORDS_HARMONIZE       /* chosen for the melody (gm_chords_harmonize), whatever else
                                 the input holds. INPUT and CONDITIONS do this by themselves
                                 when the notes they read are a bare melody */
};

/* Generation's limits: gm_generate checks them, the front ends quote them.
 * continue_bars 0..GM_MAX_GENERATE_BARS, new_bars 1..GM_MAX_GENERATE_BARS;
 * steps 1..the model's diffusion_steps (gm_model_sizes). */
#define GM_MAX_GENERATE_BARS 100000

/* Bars are 0-based here (the CLI's --bars 9-16 is {8, 15}). */
typedef struct { int first, last; } gm_bar_range;

typedef struct {
    uint32_t targets;          /* classes to write, bit (1u << class); 0 = every class the input
                                  lacks (with continue_bars: every class it has) */
    const gm_bar_range *ranges; /* infilling: regenerate only these bars of the targets */
    int n_ranges;              /* 0 = every bar */
    int continue_bars;         /* > 0: append this many bars (metre and tempo of the last bar) */
    int new_bars;              /* without an input score: the length in bars (4/4, 120 bpm) */
    int chord_mode;            /* GM_CHORDS_* */
    const gm_chord *chords;    /* GM_CHORDS_GIVEN: chord_frames_per_bar per bar, repeated
                                  bar by bar when shorter than the piece */
    int n_chords;              /* entries in chords (a multiple of chord_frames_per_bar) */
    int chord_frames_per_bar;  /* of `chords`: 0 or 1 = one per bar, 2 = half bars. A
                                  model of 1 frame per bar takes each bar's first half */
    int steps;                 /* denoising steps per window, 1..T (10) */
    float temperature;         /* > 0 (1) */
    float drum_temperature;    /* > 0: the drum class's own temperature (a narrower one keeps a
                                  groove steadier without thinning the other tracks; 0.5);
                                  0 = temperature */
    float drum_hit_temperature; /* > 0: the drum pitch row is drawn in two stages, hit or rest
                                  from the model's odds sharpened by this temperature only (0.5),
                                  then which hit at drum_temperature and top_k; 0 = one stage
                                  (the sharpening then also decides whether there is a hit) */
    int top_k;                 /* sample among the k most likely tokens (5); 0 = all */
    const char *drum_style;    /* a model with drum styles plays the drums in this one
                                  (gm_model_drum_style_find); NULL = "pop" when the model has
                                  it, else "any". A model without styles takes NULL or "any" */
    uint64_t seed;             /* same seed, same model, same input: same output */
    float chord_guidance;      /* classifier-free guidance on the chord rows, >= 0 (1; 0 = off) */
    float drum_style_guidance; /* classifier-free guidance of the drum rows towards drum_style
                                  (against style "any"), >= 0; used when the style played is
                                  not "any" (1.5; 0 = off) */
    float drum_chord_guidance; /* the drum rows' own weight of chord guidance, >= 0 (1) */
    int window_cols;           /* columns per window, 0 = the model's longest (max_cols) */
    int context_cols;          /* columns of already written music before each later
                                  window's first new column, 0 = a quarter of the window */
    void (*progress)(void *user_data, size_t done, size_t total); /* denoising steps */
    void *user_data;
    const volatile int *cancel; /* non-NULL and set non-zero (another thread, a signal):
                                   stop at the next denoising step, fail with "cancelled" */
} gm_generate_params;

gm_generate_params gm_generate_default_params(void);

typedef struct {
    int n_bars;                /* bars of the output */
    int n_windows;             /* model windows run */
    int shift;                 /* semitones the input was moved by to reach C major / A minor */
    gm_key key;                /* key found in the input */
    uint32_t targets;          /* classes written (bit per class) */
    uint32_t given;            /* classes that conditioned the model */
    int n_unmapped;            /* input tracks of no class: copied unchanged */
    size_t notes_kept;         /* input notes copied unchanged */
    size_t notes_generated;    /* notes written by the model */
    int chords_given;          /* 1 when chords conditioned the model */
    int chords_harmonized;     /* 1 when they were chosen for a bare melody (gm_chords_harmonize) */
    int chord_frames_per_bar;  /* the model's: chords per bar in `chords` */
    char drum_style[GM_DRUM_STYLE_NAME]; /* the drum style played ("any" for a model without styles) */
    gm_chord *chords;          /* [n_bars·chord_frames_per_bar] chord condition per frame in the input's key
                                  (root -1 where none); free with gm_generate_report_free */
} gm_generate_report;

/* Writes the target tracks of `in` (NULL: from scratch) with the model and
 * returns the whole piece in `out` (uninitialised on entry; initialised on
 * success): every input track that is not a target is copied note for note;
 * a target track keeps its notes outside the regenerated bars; generated
 * notes carry GM_NOTE_GENERATED, one track per class (the class's name,
 * program and velocity) unless the input had a track of that class to add
 * them to; such a track takes the class's name when none of its own notes
 * is left (it was written anew), and keeps its name otherwise. The input is
 * moved to C for the model and the result moved back.
 * Pieces longer than a window are generated window after window, each
 * conditioned on what the ones before wrote. rep may be NULL. */
int gm_generate(gm_model *m, const gm_score *in, const gm_generate_params *p, gm_score *out,
                gm_generate_report *rep, char *err);
void gm_generate_report_free(gm_generate_report *rep);

/* ------------------------------------------------------------------------ */
/* Evaluation metrics (src/eval/metrics.c)                                  */
/* ------------------------------------------------------------------------ */
/* MusPy's metrics (muspy/metrics/metrics.py) with MusPy's definitions and
 * quirks, on a score or a subset of its tracks. Time steps are the score's
 * ticks (MusPy's `resolution` = ticks_per_quarter). A NaN value is where
 * MusPy returns nan; where MusPy would raise (no tracks at all, so its
 * max() over tracks fails) we also give NaN. Which notes count:
 *   pitched notes only (drum tracks skipped): n_pitches_used,
 *     n_pitch_classes_used, pitch_range (but see its quirk), polyphony,
 *     polyphony_rate, pitch_in_scale_rate, scale_consistency, pitch_entropy,
 *     pitch_class_entropy;
 *   every note, drums included: empty_beat_rate, empty_measure_rate,
 *     groove_consistency, and the piece length (max note end) that
 *     polyphony and polyphony_rate divide by;
 *   drum notes only: drum_in_pattern_rate, drum_pattern_consistency. */
enum {
    GM_M_PITCH_RANGE = 0,         /* highest - lowest pitched note; 0 with no note; -127 with only drum notes (MusPy) */
    GM_M_N_PITCHES_USED,          /* distinct pitches, 0..128 */
    GM_M_N_PITCH_CLASSES_USED,    /* distinct pitch classes, 0..12 */
    GM_M_POLYPHONY,               /* mean pitches on over the ticks where any is on */
    GM_M_POLYPHONY_RATE,          /* share of ticks with more than `polyphony_threshold` (2) pitches on */
    GM_M_PITCH_IN_SCALE_RATE,     /* share of pitched notes in the scale of `key` */
    GM_M_SCALE_CONSISTENCY,       /* largest pitch_in_scale_rate over the 24 major/natural-minor scales */
    GM_M_PITCH_ENTROPY,           /* bits, over the 128-bin note pitch histogram */
    GM_M_PITCH_CLASS_ENTROPY,     /* bits, over the 12-bin histogram */
    GM_M_EMPTY_BEAT_RATE,         /* share of beats (quarters) with no note sounding, 0..1 */
    GM_M_EMPTY_MEASURE_RATE,      /* the same per measure of `measure_resolution` ticks */
    GM_M_GROOVE_CONSISTENCY,      /* 1 - mean Hamming distance of neighbouring measures' onset vectors */
    GM_M_DRUM_IN_PATTERN_RATE,    /* share of drum onsets on the `drum_meter` grid of a quarter */
    GM_M_DRUM_PATTERN_CONSISTENCY,/* larger of the duple and triple drum_in_pattern_rate */
    GM_N_METRICS
};

typedef struct {
    double v[GM_N_METRICS]; /* indexed by GM_M_*; NaN = undefined (MusPy's nan) */
} gm_metrics;

/* MusPy's function name of metric m ("pitch_range", ...), NULL out of range. */
const char *gm_metric_name(int m);

enum { GM_METER_DUPLE = 0, GM_METER_TRIPLE = 1 };

typedef struct {
    int64_t measure_resolution; /* ticks per measure; 0 = gm_metrics_measure_resolution(s) */
    int key_tonic;              /* scale of pitch_in_scale_rate: pitch class 0..11; -1 = gm_key_find(whole score) */
    int key_minor;              /* with key_tonic >= 0: 0 major, 1 (natural) minor */
    int drum_meter;             /* GM_METER_DUPLE (default) or GM_METER_TRIPLE; see metrics.c */
    int polyphony_threshold;    /* polyphony_rate counts ticks with more pitches than this (2) */
} gm_metrics_params;

gm_metrics_params gm_metrics_default_params(void);

/* Ticks per measure of the metre that covers most of the piece (4/4 when
 * the score declares none): round(ticks_per_quarter * 4 * num / den). */
int64_t gm_metrics_measure_resolution(const gm_score *s);

/* MusPy's 14 metrics of the tracks of `s` whose track_mask[i] is non-zero
 * (track_mask: [s->n_tracks], NULL = every track), as MusPy computes them on
 * a Music holding only those tracks. p NULL = defaults. 0, or -1 with err
 * (bad parameters, out of memory). */
int gm_metrics_compute(const gm_score *s, const uint8_t *track_mask, const gm_metrics_params *p,
                       gm_metrics *out, char *err);

/* Accompaniment metrics against a reference. Histograms of the selected
 * tracks' notes (drums included, as keys):
 *   pitch:    128 bins of note pitch;
 *   duration: note length in 16th notes (rounded to the nearest, at least
 *             1), bins 1..32 then one bin for longer;
 *   ioi:      inter-onset interval: onsets of all selected tracks together,
 *             rounded to the 16th grid, distinct and sorted; the gaps
 *             between neighbours in 16ths, bins 1..32 then one for longer.
 * Overlap area = sum over bins of min(p, q) of the two histograms
 * normalised to sum 1: 1 for the same distribution, 0 for disjoint ones,
 * NaN when either histogram is empty. */
enum { GM_OVERLAP_PITCH = 0, GM_OVERLAP_DURATION, GM_OVERLAP_IOI, GM_N_OVERLAPS };
#define GM_OVERLAP_STEPS 32 /* duration and IOI bins: 1..32 16ths, index 32 = longer */

typedef struct {
    double pitch[128];                     /* note counts by pitch */
    double duration[GM_OVERLAP_STEPS + 1]; /* [k] = notes of k+1 16ths; [32] = longer */
    double ioi[GM_OVERLAP_STEPS + 1];      /* [k] = gaps of k+1 16ths; [32] = longer */
} gm_histograms;

const char *gm_overlap_name(int k); /* "pitch", "duration", "ioi"; NULL out of range */
/* Counts (not normalised) of the selected tracks (mask as above). */
int gm_metrics_histograms(const gm_score *s, const uint8_t *track_mask, gm_histograms *h, char *err);
/* out[GM_N_OVERLAPS]: overlap areas of gen's selected tracks against ref's. */
int gm_metrics_overlap(const gm_score *gen, const uint8_t *gen_mask, const gm_score *ref, const uint8_t *ref_mask,
                       double out[GM_N_OVERLAPS], char *err);

/* Chord accuracy: one chord per bar (gm_chords_recognize on a bar map of 16th
 * steps) of gen's selected tracks and of ref's selected tracks (each on its
 * own score's bar lines); the share of bars 0..min(bars)-1 with the same
 * root and quality (N = N counts as the same). *n_bars (may be NULL) gets
 * the bars compared. 0, or -1 with err. */
int gm_metrics_chord_accuracy(const gm_score *gen, const uint8_t *gen_mask, const gm_score *ref,
                              const uint8_t *ref_mask, double *accuracy, int *n_bars, char *err);

/* ------------------------------------------------------------------------ */
/* What a musician hears (src/eval/metrics.c; chord labels and tones:      */
/* src/music/chord_text.c)                                                 */
/* ------------------------------------------------------------------------ */
/* MusPy's metrics do not see harmony or feel (a random piano and a
 * wandering kit score like the ground truth on them). These do: the
 * chord-tone ratio of a pitched part against chord labels, with its
 * chord-blind floor, and three figures of a drum part on the bar grid. */

/* A chord over a span of time, as a set of pitch classes. */
typedef struct {
    double start, end;  /* seconds, start < end */
    uint16_t tones;     /* bit (1u << pc) per chord tone, pc 0 = C; never 0 */
} gm_chord_span;

/* Chord labels over time; spans where no chord is (N) are left out. */
typedef struct {
    gm_chord_span *v;   /* [n], sorted by start; where spans overlap, the later start holds */
    int n;
} gm_chord_labels;

/* Tones of one chord label in POP909's (Harte's) syntax, "Root:quality
 * [(degrees)][/bass]": "C:maj", "F#:min7/b7", "G:sus4(b7)", "D:(1,b3,5)",
 * "A:min(*5)"; a bare root ("C", "C/5") is major; "N" (and Harte's "X")
 * give 0. Qualities: maj min dim aug maj7 min7 7 dim7 hdim7 minmaj7 maj6
 * min6 9 maj9 min9 sus2 sus4 11 min11 13 maj13 min13 5 1. An inversion
 * keeps the chord's tones; the bass degree is a tone too (Harte), which in
 * POP909 it always is already. 0, or -1 with err. */
int gm_chord_label_tones(const char *label, uint16_t *tones, char *err);
/* Tones of one of our chords (gm_chord_recognize's), 0 for N. */
uint16_t gm_chord_tones(gm_chord c);

/* POP909's chord_midi.txt: lines "start_s end_s label" (spaces or tabs;
 * blank lines skipped); `name` is for messages. A malformed line is an
 * error naming it. out: uninitialised on entry, initialised on success. */
int gm_chord_labels_parse(const char *text, size_t len, const char *name, gm_chord_labels *out, char *err);
int gm_chord_labels_load(const char *path, gm_chord_labels *out, char *err);
/* Chords given by name on the bars of s (its bar map at 16ths, its tempo
 * map for seconds), in gm_chords_parse_bars' syntax (as `generate --chords`
 * takes them): "C G Am F" is one chord per bar, "C G | Am F" two per bar,
 * each on its half. Names are ours ("Am", "G7", gm_chord_parse) or Harte
 * labels ("A:min"). Shorter than the piece: repeated. */
int gm_chord_labels_per_bar(const gm_score *s, const char *names, gm_chord_labels *out, char *err);
void gm_chord_labels_free(gm_chord_labels *l);

/* Each note weighs its duration in seconds clipped to [0.05, 2], so a
 * held chord does not outweigh a phrase and a grace note still counts. */
#define GM_CTR_MIN_WEIGHT_S 0.05
#define GM_CTR_MAX_WEIGHT_S 2.0
/* A note is scored against the chord sounding this long after its onset,
 * so that an onset a hair before a labelled chord change takes the new
 * chord: POP909's label times come from audio, its notes sit on MIDI ticks
 * (why 20 ms: src/eval/metrics.c, timed_notes). */
#define GM_CTR_ONSET_SLACK_S 0.02

typedef struct {
    double ctr;         /* Σ w·[pc ∈ chord] / Σ w over the scored notes; NaN when none */
    double floor;       /* chord-blind floor: Σ w·Σ_{pc ∈ chord} p(pc) / Σ w, p the selected
                           notes' own duration-weighted pitch-class distribution (whole song) */
    double weight;      /* Σ w of the scored notes (seconds) */
    size_t notes;       /* notes scored: onset under a chord */
    size_t unlabelled;  /* pitched notes left out: onset where no chord is (N, outside the labels) */
} gm_chord_tone_ratio;

/* Chord-tone ratio of the selected pitched tracks of s (mask as for
 * gm_metrics_compute; drum tracks are skipped) against labels l, times
 * through s's tempo map. 0, or -1 with err. */
int gm_metrics_chord_tones(const gm_score *s, const uint8_t *track_mask, const gm_chord_labels *l,
                           gm_chord_tone_ratio *out, char *err);

/* Drum feel on the bar grid of s (its time signatures; POP909's come from
 * beat_midi.txt, see gm_score_metre_from_beat_file), of the selected drum
 * tracks (pitched tracks skipped). Every drum onset goes to the nearest
 * 16th of its bar; only bars as long as their metre count (a short lead-in
 * bar has no metrical positions), and only bars with a drum onset: a bar
 * where the drummer rests says nothing about where the kick falls. Groups:
 * gm_drum_kit_group's: kick, snare, hi-hat (Groove's Roland edge strokes 22 and 26 included), other.
 * Each distinct (group, 16th) of a bar is one onset (a flam is one snare).
 * Placement alone can be met by a part with almost no snare, so presence is
 * measured too: bars with the whole backbeat, onsets per bar, silent bars.
 *
 * Fills: a phrase is GM_PHRASE_BARS (4) consecutive bars aligned on the bar
 * map's numbers (bars 0-3, 4-7, ...), scored when all 4 are counted bars
 * (full, with a drum onset). S_b is bar b's set of (group, 16th) onsets; the
 * phrase's usual bar U is the set occurring most often among its 4 bars
 * (ties: the earliest); d(b) = 1 - Jaccard(S_b, U). The phrase ends in a fill
 * when d(last bar) > max(d of the 3 bars before it) and d(last) >=
 * GM_FILL_MIN_CHANGE. */
#define GM_PHRASE_BARS 4
#define GM_FILL_MIN_CHANGE 0.25

typedef struct {
    double backbeat;    /* snare onsets on even beats (2 and 4 in 4/4; 2 in 3/4; in 6/8 the
                           second dotted quarter) / snare onsets, each distinct 16th once;
                           NaN without snare */
    double kick_on_one; /* bars with a kick on beat 1 / bars; NaN without bars */
    double repetition;  /* mean Jaccard |A∩B|/|A∪B| of consecutive bars' sets of (group, 16th)
                           onsets, over pairs of neighbouring counted bars; NaN without a pair */
    size_t snare_onsets;
    int bars;           /* full bars with a drum onset (the counted bars) */
    int pairs;          /* neighbouring pairs of those */
    /* Presence. */
    double both_backbeats; /* bars with a snare onset on every backbeat position of their metre (the
                              positions of `backbeat`; a one-beat bar has none: not counted as
                              such a bar) / bars; NaN without bars */
    double kick_per_bar;   /* kick onsets / bars; NaN without bars */
    double snare_per_bar;  /* snare onsets / bars (= snare_onsets / bars); NaN without bars */
    double hat_per_bar;    /* hi-hat or ride onsets (42, 44, 46, 22, 26, 51, 53, 59: the cymbal
                              that keeps time) / bars; NaN without bars */
    double empty_bars;     /* empty_bar_count / span_bars; 0 when the span holds no full bar (a
                              one-bar part); NaN without drum onsets */
    double fills;          /* phrases ending in a fill / phrases (definition above); NaN without
                              a phrase */
    int empty_bar_count;   /* full bars without a drum onset from the part's first to its last bar
                              with one (rests inside the part, not an intro without drums) */
    int span_bars;         /* full bars in that span, the first and last included */
    int phrases;           /* phrases scored for fills */
} gm_drum_feel;

int gm_metrics_drum_feel(const gm_score *s, const uint8_t *track_mask, gm_drum_feel *out, char *err);

/* ------------------------------------------------------------------------ */
/* Audio rendering (src/audio/render.c)                                     */
/* ------------------------------------------------------------------------ */
/* Offline rendering of a score to a 16-bit stereo PCM WAV file through
 * FluidSynth and a General MIDI SoundFont. No audio device is opened, and
 * FluidSynth's own log is captured (its last error goes into `err`), never
 * printed. Note: FluidSynth's log handlers are process-wide; rendering
 * installs ours. */
typedef struct {
    const char *soundfont;   /* .sf2 path; NULL = gm_render_find_soundfont() */
    int sample_rate;         /* Hz, 8000..96000 (44100) */
    double gain;             /* FluidSynth master gain, 0..10 (0.5; FluidSynth's own default is 0.2) */
    double tail_s;           /* seconds rendered after the last note ends (release, reverb), 0..60 (1.5) */
    int effects;             /* 1: FluidSynth's reverb and chorus on (1) */
    double max_seconds;      /* longer pieces are refused (7200 = 2 hours) */
    int64_t until_tick;      /* > 0: render at least up to this tick (then the tail), even where
                                the notes end sooner: one track of a piece alone comes out as
                                long as the whole (0) */
    /* Called as audio is rendered: frames done of frames in all. */
    void (*progress)(void *user_data, size_t done, size_t total);
    void *user_data;
} gm_render_params;

typedef struct {
    double seconds;          /* audio written, tail included */
    size_t frames;           /* sample frames written (seconds * sample_rate) */
    size_t notes;            /* notes played */
    int channels;            /* synthesizer channels used */
    int tracks_moved;        /* tracks played on another channel than their own (shared with another program) */
    int peak;                /* largest |sample| written, 0..32767 */
    size_t clipped;          /* samples clipped to the 16-bit range (lower the gain) */
    char soundfont[512];     /* the SoundFont used */
} gm_render_stats;

gm_render_params gm_render_default_params(void);

/* The SoundFont to use when none is given: $GETMUSIC_SOUNDFONT when set and
 * non-empty (returned as is, even if missing, so the error names it), else
 * the first readable of FluidR3_GM.sf2, TimGM6mb.sf2 and default-GM.sf2 in
 * /usr/share/sounds/sf2 and /usr/share/soundfonts. NULL when none. */
const char *gm_render_find_soundfont(void);

/* Renders every note of `s` (tempo map applied; each track on its own
 * channel and program, drums on drum channels with bank 128) to `wav_path`:
 * from time 0 to the end of the last note plus p->tail_s. The file is
 * written beside the target under a temporary name and renamed over it when
 * complete, so an existing file is never left half-written. p may be NULL
 * (defaults); stats may be NULL. Returns 0, or -1 with a one-line err (no
 * SoundFont, SoundFont fails to load, cannot write, piece too long). */
int gm_render_wav(const gm_score *s, const char *wav_path, const gm_render_params *p,
                  gm_render_stats *stats, char *err);

/* ------------------------------------------------------------------------ */
/* Audio in and transcription                                               */
/* Recordings in (src/audio/audio.c, libsndfile) and transcription to a    */
/* score (src/audio/transcribe.c, aubio). Without those libraries every    */
/* call fails with a one-line reason.                                      */
/* ------------------------------------------------------------------------ */

typedef struct gm_audio gm_audio; /* opaque streaming reader */
typedef struct {
    int sample_rate;   /* Hz */
    int channels;      /* in the file; reads are mixed down to mono */
    int64_t frames;    /* length in sample frames, -1 when unknown */
    char format[64];   /* "WAV (Microsoft)", "FLAC (Free Lossless Audio Codec)", ... */
} gm_audio_info;

/* WAV, FLAC, OGG (and MP3 when libsndfile has it), any rate, 1..64 channels.
 * NULL with err for a missing, corrupt or non-audio file. open_mem borrows
 * `data` until gm_audio_close. */
gm_audio *gm_audio_open(const char *path, char *err);
gm_audio *gm_audio_open_mem(const void *data, size_t size, char *err);
gm_audio_info gm_audio_get_info(const gm_audio *a);
/* Up to n (at most 4096) mono frames (the channels' mean; NaN/inf read as 0)
 * into out[n]: frames read, 0 at the end, -1 with err on a read error. */
long gm_audio_read(gm_audio *a, float *out, size_t n, char *err);
void gm_audio_close(gm_audio *a);
const char *gm_audio_backend(void); /* libsndfile's version, NULL when not built */

typedef struct {
    double bpm;            /* > 0: this tempo, held (beats only phase-aligned); 0 = tracked (0) */
    int metre_num, metre_den; /* bar metre (4/4); n/8 with n divisible by 3 counts dotted quarters */
    int melody;            /* 1: write the lead track (1) */
    int chords;            /* 1: write the chord track (1) */
    int quantize;          /* 1: melody notes snapped to 16ths of the beat grid (1) */
    double max_seconds;    /* longer recordings are refused (14400 = 4 hours) */
    /* Called as audio is analysed: frames done of frames in all (0 when unknown). */
    void (*progress)(void *user_data, size_t done, size_t total);
    void *user_data;
} gm_transcribe_params;

typedef struct {
    double start, end;     /* seconds */
    int pitch;             /* MIDI pitch */
} gm_audio_note;

/* What transcription found, in seconds of the recording. */
typedef struct {
    double seconds;        /* audio length */
    int sample_rate, channels;
    double bpm;            /* median tempo of the beat grid */
    double tuning_cents;   /* deviation of the recording from A440, -50..50 */
    int beats_per_bar;     /* counted beats per bar (4/4: 4, 6/8: 2) */
    double *beats;         /* [n_beats] beat times (the tracked beats) */
    uint8_t *downbeat;     /* [n_beats] 1 at the first beat of a bar */
    int n_beats;
    gm_chord *chords;      /* [n_chords] one per half bar */
    double *chord_start;   /* [n_chords + 1] frame bounds in seconds */
    int n_chords;
    gm_audio_note *notes;  /* [n_notes] melody notes before quantisation */
    int n_notes;
} gm_transcription;

gm_transcribe_params gm_transcribe_default_params(void);
/* Beats, bars, chords and melody of a recording into `out` (uninitialised on
 * entry, initialised on success): a tempo map with one tempo per beat, time
 * signatures so that bars start on the found downbeats (a short lead-in bar
 * before the first), a "melody" track (the default layout's lead class) and
 * a "chords" track of block chords per half bar (piano: generate recognises
 * its harmony and may replace it). Silence gives a score without notes.
 * info may be NULL; else it is filled and freed by gm_transcription_free. */
int gm_transcribe_file(const char *path, const gm_transcribe_params *p, gm_score *out, gm_transcription *info,
                       char *err);
int gm_transcribe_mem(const void *data, size_t size, const gm_transcribe_params *p, gm_score *out,
                      gm_transcription *info, char *err);
void gm_transcription_free(gm_transcription *t);

/* ------------------------------------------------------------------------ */
/* Old names                                                                */
/* ------------------------------------------------------------------------ */

/* Renamed to follow the lifecycle verbs above; the old names still work. */
#define gm_timed_chords_read gm_timed_chords_load /* it reads a path: _load */

#ifdef __cplusplus
}
#endif

/* Drawing: raster canvas and PNG (src/draw/canvas.c), training-loss chart
 * (src/draw/plot_loss.c), piano roll (src/draw/plot_roll.c). A header of its own to
 * keep this one readable; part of the public API all the same. */
#include "getmusic_plot.h"

#endif /* GETMUSIC_H */
