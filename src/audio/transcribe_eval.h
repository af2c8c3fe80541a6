/* transcribe_eval.h — scoring a transcription against POP909's labels (the
 * MIREX-style figures of bench/bench_transcribe.c and tests/test_transcribe.c).
 * Internal: not part of getmusic.h. */
#ifndef GM_TRANSCRIBE_EVAL_H
#define GM_TRANSCRIBE_EVAL_H
#include "getmusic.h"

typedef struct { double precision, recall, f; int matched, n_est, n_ref; } gm_fmeasure;

/* Beats (seconds, sorted): one-to-one matches within ±window. Beats before
 * `skip_s` are left out of both lists (MIREX trims the first 5 s). */
gm_fmeasure gm_eval_beats(const double *est, int n_est, const double *ref, int n_ref, double window, double skip_s);

/* Notes: a match has onsets within ±window and equal pitch (octave = 1:
 * equal pitch class, octave errors forgiven); one-to-one, nearest first. */
gm_fmeasure gm_eval_notes(const gm_audio_note *est, int n_est, const gm_audio_note *ref, int n_ref, double window,
                          int octave);

/* Chords sampled at the middle of each reference beat: the estimate's
 * half-bar chord sounding there against the label sounding there (beats under N or
 * unlabelled are skipped). Root, maj/min (7 and maj7 count as maj, m7 as
 * min, others exact) and all 8 qualities. */
typedef struct { int beats; double root, majmin, full; } gm_chord_score;
gm_chord_score gm_eval_chords(const gm_transcription *tr, const gm_timed_chord *ref, int n_ref, const double *beats,
                              int n_beats);

/* POP909's beat_midi.txt: *times malloc'd [*n] (every line is a beat),
 * *down (may be NULL) malloc'd [*n] downbeat flags. 0 or -1 with err. */
int gm_eval_read_beats(const char *path, double **times, uint8_t **down, int *n, char *err);
/* Notes of the tracks whose role is lead, in seconds, onsets before max_s. */
int gm_eval_melody_notes(const gm_score *s, double max_s, gm_audio_note **out, int *n, char *err);
#endif

/* One POP909 song, end to end: its first `seconds` (0 = all) rendered with
 * gm_render_wav twice into tmp_dir (the full mix, and the MELODY track
 * alone), both transcribed with default parameters and scored. */
typedef struct {
    double audio_s;            /* length of the mix */
    double mix_s, mel_s;       /* seconds spent transcribing each */
    gm_fmeasure beats;         /* mix beats vs beat_midi.txt, ±70 ms, first 5 s trimmed */
    gm_fmeasure downbeats;     /* mix downbeats vs beat_midi.txt's, ±70 ms */
    gm_chord_score chords;     /* mix chords at the reference beats vs chord_midi.txt */
    gm_fmeasure notes, notes_octave;   /* melody render's notes vs MELODY, ±50 ms (octave forgiven) */
    gm_fmeasure notes_q;       /* the same for the written (quantised) lead track */
    gm_fmeasure notes_mix;     /* melody from the full mix, octave forgiven */
} gm_song_eval;
int gm_eval_song(const char *data_dir, const char *song, double seconds, const char *tmp_dir, gm_song_eval *out,
                 char *err);
