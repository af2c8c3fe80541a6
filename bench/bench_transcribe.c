/* bench_transcribe.c — `getmusic transcribe` measured on POP909 songs
 * rendered by our own renderer (src/audio/transcribe_eval.c, gm_eval_song): beats
 * and downbeats (F-measure, ±70 ms), chords per reference beat (root,
 * maj/min, all 8 qualities), melody notes (onset ±50 ms and pitch; octave
 * forgiven; the quantised lead track; the melody taken from the full mix),
 * and transcription time against audio length.
 *
 *   bench_transcribe DATA_DIR TMP_DIR SECONDS SONG...   (SECONDS 0 = whole songs)
 */
#include "getmusic.h"
#include "audio/transcribe_eval.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: bench_transcribe DATA_DIR TMP_DIR SECONDS SONG...\n");
        return 1;
    }
    double secs = atof(argv[3]);
    gm_song_eval sum = {0};
    int n = 0;
    printf("%-5s %7s %6s %6s | %6s %6s %6s | %6s %6s %6s %6s | %7s\n", "song", "audio s", "beatF", "downF", "root",
           "majmin", "full", "noteF", "octF", "quantF", "mixF", "x rt");
    for (int i = 4; i < argc; i++) {
        gm_song_eval e;
        char err[GM_ERR_SIZE];
        if (gm_eval_song(argv[1], argv[i], secs, argv[2], &e, err)) {
            fprintf(stderr, "bench_transcribe: %s: %s\n", argv[i], err);
            continue;
        }
        printf("%-5s %7.1f %6.3f %6.3f | %6.3f %6.3f %6.3f | %6.3f %6.3f %6.3f %6.3f | %7.1f\n", argv[i], e.audio_s,
               e.beats.f, e.downbeats.f, e.chords.root, e.chords.majmin, e.chords.full, e.notes.f, e.notes_octave.f,
               e.notes_q.f, e.notes_mix.f, e.audio_s / e.mix_s);
        fflush(stdout);
        sum.audio_s += e.audio_s, sum.mix_s += e.mix_s, sum.mel_s += e.mel_s;
        sum.beats.f += e.beats.f, sum.downbeats.f += e.downbeats.f;
        sum.chords.root += e.chords.root, sum.chords.majmin += e.chords.majmin, sum.chords.full += e.chords.full;
        sum.notes.f += e.notes.f, sum.notes_octave.f += e.notes_octave.f, sum.notes_q.f += e.notes_q.f;
        sum.notes_mix.f += e.notes_mix.f;
        n++;
    }
    if (!n) return 1;
    printf("%-5s %7.1f %6.3f %6.3f | %6.3f %6.3f %6.3f | %6.3f %6.3f %6.3f %6.3f | %7.1f\n", "mean", sum.audio_s / n,
           sum.beats.f / n, sum.downbeats.f / n, sum.chords.root / n, sum.chords.majmin / n, sum.chords.full / n,
           sum.notes.f / n, sum.notes_octave.f / n, sum.notes_q.f / n, sum.notes_mix.f / n, sum.audio_s / sum.mix_s);
    printf("transcription speed: %.1f s of mix audio in %.2f s (%.0fx real time), melody renders %.2f s\n", sum.audio_s,
           sum.mix_s, sum.audio_s / sum.mix_s, sum.mel_s);
    return 0;
}
