/* transcribe_eval.c — scoring transcriptions (see transcribe_eval.h). */
#include "transcribe_eval.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static gm_fmeasure fmeasure(int matched, int n_est, int n_ref) {
    gm_fmeasure r = {0, 0, 0, matched, n_est, n_ref};
    r.precision = n_est ? (double)matched / n_est : 0;
    r.recall = n_ref ? (double)matched / n_ref : 0;
    r.f = r.precision + r.recall > 0 ? 2 * r.precision * r.recall / (r.precision + r.recall) : 0;
    if (n_est == 0 && n_ref == 0) r.precision = r.recall = r.f = 1;
    return r;
}

gm_fmeasure gm_eval_beats(const double *est, int n_est, const double *ref, int n_ref, double window, double skip_s) {
    int i = 0, j = 0, matched = 0, ne = 0, nr = 0;
    for (int k = 0; k < n_est; k++) ne += est[k] >= skip_s;
    for (int k = 0; k < n_ref; k++) nr += ref[k] >= skip_s;
    while (i < n_est && est[i] < skip_s) i++;
    while (j < n_ref && ref[j] < skip_s) j++;
    /* Both sorted and the window under half a beat: a merge finds the
     * one-to-one matching. */
    while (i < n_est && j < n_ref) {
        double d = est[i] - ref[j];
        if (fabs(d) <= window) matched++, i++, j++;
        else if (d < 0) i++;
        else j++;
    }
    return fmeasure(matched, ne, nr);
}

gm_fmeasure gm_eval_notes(const gm_audio_note *est, int n_est, const gm_audio_note *ref, int n_ref, double window,
                          int octave) {
    uint8_t *used = calloc((size_t)(n_est > 0 ? n_est : 1), 1);
    int matched = 0, lo = 0;
    if (!used) return fmeasure(0, n_est, n_ref);
    for (int r = 0; r < n_ref; r++) { /* both sorted by onset */
        while (lo < n_est && est[lo].start < ref[r].start - window) lo++;
        int best = -1;
        for (int e = lo; e < n_est && est[e].start <= ref[r].start + window; e++) {
            int same = octave ? est[e].pitch % 12 == ref[r].pitch % 12 : est[e].pitch == ref[r].pitch;
            if (!used[e] && same &&
                (best < 0 || fabs(est[e].start - ref[r].start) < fabs(est[best].start - ref[r].start)))
                best = e;
        }
        if (best >= 0) used[best] = 1, matched++;
    }
    free(used);
    return fmeasure(matched, n_est, n_ref);
}

static int majmin(int q) {
    return q == GM_Q_MAJ || q == GM_Q_DOM7 || q == GM_Q_MAJ7 ? 0 : q == GM_Q_MIN || q == GM_Q_MIN7 ? 1 : 2 + q;
}

gm_chord_score gm_eval_chords(const gm_transcription *tr, const gm_timed_chord *ref, int n_ref, const double *beats,
                              int n_beats) {
    gm_chord_score s = {0};
    int root = 0, mm = 0, full = 0, k = 0;
    for (int b = 0; b < n_beats; b++) {
        /* The middle of the beat: chords change on beats, and an estimate
         * a few ms late must not be judged by the chord before it. */
        double len = b + 1 < n_beats ? beats[b + 1] - beats[b] : b > 0 ? beats[b] - beats[b - 1] : 0;
        double t = beats[b] + 0.5 * len;
        gm_chord r = {-1, -1};
        for (int i = 0; i < n_ref; i++)
            if (ref[i].start <= t && t < ref[i].end) r = ref[i].chord;
        if (r.root < 0) continue;
        while (k + 1 < tr->n_chords && tr->chord_start[k + 1] <= t) k++;
        gm_chord e = tr->n_chords && tr->chord_start[k] <= t && t < tr->chord_start[tr->n_chords] ? tr->chords[k]
                                                                                                 : (gm_chord){-1, -1};
        s.beats++;
        root += e.root == r.root;
        mm += e.root == r.root && majmin(e.quality) == majmin(r.quality);
        full += e.root == r.root && e.quality == r.quality;
    }
    if (s.beats) s.root = (double)root / s.beats, s.majmin = (double)mm / s.beats, s.full = (double)full / s.beats;
    return s;
}

int gm_eval_read_beats(const char *path, double **times, uint8_t **down, int *n, char *err) {
    FILE *f = fopen(path, "r");
    if (!f) return gm_fail(err, "cannot open %s", path);
    double *t = NULL;
    uint8_t *d = NULL;
    int cap = 0, k = 0;
    double a, b, c;
    while (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3) {
        if (k == cap) {
            cap = cap ? 2 * cap : 512;
            double *nt = realloc(t, (size_t)cap * sizeof *t);
            uint8_t *nd = nt ? realloc(d, (size_t)cap) : NULL;
            if (nt) t = nt;
            if (!nd) { free(t); free(d); fclose(f); return gm_fail(err, "out of memory"); }
            d = nd;
        }
        t[k] = a, d[k++] = c != 0;
    }
    fclose(f);
    *times = t, *n = k;
    if (down) *down = d;
    else free(d);
    return 0;
}

int gm_eval_melody_notes(const gm_score *s, double max_s, gm_audio_note **out, int *n, char *err) {
    size_t total = 0;
    for (int i = 0; i < s->n_tracks; i++)
        if (gm_track_role(&s->tracks[i]) == GM_ROLE_LEAD) total += s->tracks[i].n_notes;
    gm_audio_note *v = malloc((total ? total : 1) * sizeof *v);
    if (!v) return gm_fail(err, "out of memory");
    int k = 0;
    for (int i = 0; i < s->n_tracks; i++) {
        const gm_track *t = &s->tracks[i];
        if (gm_track_role(t) != GM_ROLE_LEAD) continue;
        for (size_t j = 0; j < t->n_notes; j++) {
            double a = gm_score_tick_to_seconds(s, t->notes[j].tick);
            if (a >= max_s) continue;
            v[k++] = (gm_audio_note){a, gm_score_tick_to_seconds(s, t->notes[j].tick + t->notes[j].duration),
                                      t->notes[j].pitch};
        }
    }
    /* Tracks were walked one after another: sort by onset. */
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && v[j].start < v[j - 1].start; j--) {
            gm_audio_note x = v[j];
            v[j] = v[j - 1], v[j - 1] = x;
        }
    *out = v, *n = k;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* One song end to end                                                       */
/* ------------------------------------------------------------------------ */

/* Keeps the notes starting before max_s (lead tracks only when melody),
 * cut at max_s. */
static void cut_score(gm_score *s, double max_s, int melody) {
    int64_t end = gm_score_seconds_to_tick(s, max_s);
    for (int i = 0; i < s->n_tracks; i++) {
        gm_track *t = &s->tracks[i];
        size_t k = 0;
        int drop = melody && gm_track_role(t) != GM_ROLE_LEAD;
        for (size_t j = 0; j < t->n_notes && !drop; j++) {
            gm_note n = t->notes[j];
            if (n.tick >= end) continue;
            if (n.tick + n.duration > end) n.duration = end - n.tick;
            t->notes[k++] = n;
        }
        t->n_notes = k;
    }
    s->end_tick = end;
}

/* Renders the (cut) song to wav and transcribes it. */
static int render_transcribe(const gm_score *src, double max_s, int melody, const char *wav, gm_score *out,
                             gm_transcription *tr, double *secs, char *err) {
    gm_score s;
    if (gm_score_copy(&s, src)) return gm_fail(err, "out of memory");
    if (max_s > 0) cut_score(&s, max_s, melody);
    else if (melody) cut_score(&s, 1e9, 1);
    gm_render_params rp = gm_render_default_params();
    rp.tail_s = 0.5;
    int rc = gm_render_wav(&s, wav, &rp, NULL, err);
    gm_score_free(&s);
    if (rc) return -1;
    double t0 = gm_now_s();
    rc = gm_transcribe_file(wav, NULL, out, tr, err);
    *secs = gm_now_s() - t0;
    unlink(wav); /* a whole song is 40 MB of WAV */
    return rc;
}

int gm_eval_song(const char *data_dir, const char *song, double seconds, const char *tmp_dir, gm_song_eval *o,
                 char *err) {
    char path[1024], wav[1024];
    memset(o, 0, sizeof *o);
    double lim = seconds > 0 ? seconds : 1e9;
    gm_score ref, est;
    gm_transcription tr;
    snprintf(path, sizeof path, "%s/pop909/%s/%s.mid", data_dir, song, song);
    if (gm_midi_read_file(path, &ref, err)) return -1;
    double *bt = NULL;
    uint8_t *bd = NULL;
    gm_timed_chord *ch = NULL;
    gm_audio_note *rn = NULL, *wn = NULL;
    int nb = 0, nc = 0, nr = 0, nw = 0, rc = -1;
    snprintf(path, sizeof path, "%s/pop909/%s/beat_midi.txt", data_dir, song);
    if (gm_eval_read_beats(path, &bt, &bd, &nb, err)) goto done;
    snprintf(path, sizeof path, "%s/pop909/%s/chord_midi.txt", data_dir, song);
    if (gm_timed_chords_load(path, &ch, &nc, err)) goto done;
    if (gm_eval_melody_notes(&ref, lim, &rn, &nr, err)) goto done;
    while (nb > 0 && bt[nb - 1] >= lim) nb--;

    snprintf(wav, sizeof wav, "%s/%s_mix.wav", tmp_dir, song);
    if (render_transcribe(&ref, seconds, 0, wav, &est, &tr, &o->mix_s, err)) goto done;
    o->audio_s = tr.seconds;
    o->beats = gm_eval_beats(tr.beats, tr.n_beats, bt, nb, 0.07, 5);
    {
        double *ed = malloc((size_t)(tr.n_beats + 1) * sizeof *ed), *rd = malloc((size_t)(nb + 1) * sizeof *rd);
        int ne = 0, nrd = 0;
        for (int i = 0; ed && i < tr.n_beats; i++) if (tr.downbeat[i]) ed[ne++] = tr.beats[i];
        for (int i = 0; rd && i < nb; i++) if (bd[i]) rd[nrd++] = bt[i];
        if (ed && rd) o->downbeats = gm_eval_beats(ed, ne, rd, nrd, 0.07, 0);
        free(ed);
        free(rd);
    }
    o->chords = gm_eval_chords(&tr, ch, nc, bt, nb);
    o->notes_mix = gm_eval_notes(tr.notes, tr.n_notes, rn, nr, 0.05, 1);
    gm_transcription_free(&tr);
    gm_score_free(&est);

    snprintf(wav, sizeof wav, "%s/%s_mel.wav", tmp_dir, song);
    if (render_transcribe(&ref, seconds, 1, wav, &est, &tr, &o->mel_s, err)) goto done;
    o->notes = gm_eval_notes(tr.notes, tr.n_notes, rn, nr, 0.05, 0);
    o->notes_octave = gm_eval_notes(tr.notes, tr.n_notes, rn, nr, 0.05, 1);
    if (!gm_eval_melody_notes(&est, 1e9, &wn, &nw, err)) o->notes_q = gm_eval_notes(wn, nw, rn, nr, 0.05, 0);
    gm_transcription_free(&tr);
    gm_score_free(&est);
    rc = 0;
done:
    gm_score_free(&ref);
    GM_FREE_ALL(bt, bd, ch, rn, wn);
    return rc;
}
