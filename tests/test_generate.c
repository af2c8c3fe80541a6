/* test_generate.c — gm_generate: conditions kept note for note, infilling
 * confined to its bars, continuation, windows over long pieces, determinism,
 * transposition, chord guidance and the errors of bad requests. A tiny
 * random model drives the structural tests (fast, and its random choices
 * put notes everywhere); the shipped model gets a sanity run. */
#include "getmusic.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[GM_ERR_SIZE];

/* A tiny model on the default layout with a vocabulary of single pitches
 * (plus chords and durations): max_cols columns per window. */
static gm_model *tiny_model(int max_cols) {
    gm_layout l;
    gm_layout_preset(&l, "default", NULL);
    gm_vocab_builder *b = gm_vocab_builder_new(&l);
    uint8_t triad[3] = {60, 64, 67};
    int piano = gm_layout_find(&l, "piano");
    for (int i = 0; i < 20; i++) gm_vocab_builder_add(b, piano, triad, 3, 100);
    gm_vocab *v = gm_vocab_builder_finish(b, 1.0, 0, err);
    gm_vocab_builder_free(b);
    gm_model_params p = gm_model_default_params();
    p.embd = 16;
    p.hidden = 32;
    p.layers = 1;
    p.heads = 2;
    p.ffn = 64;
    p.max_cols = max_cols;
    gm_model *m = v ? gm_model_new(&p, &l, v, 7, err) : NULL;
    gm_vocab_free(v);
    return m;
}

/* A melody (lead) and block chords (piano) over `bars` bars of num/4, 480 tpq;
 * key shifted by `transpose` semitones. */
static void make_song(gm_score *s, int bars, int num, int transpose) {
    gm_score_init(s, 480);
    gm_score_add_tempo(s, 0, 600000);
    gm_score_add_timesig(s, 0, num, 4);
    int lead = gm_score_add_track(s, "Melody", 73, 0, 0);
    int chords = gm_score_add_track(s, "Chords", 0, 1, 0);
    const int scale[7] = {0, 2, 4, 5, 7, 9, 11};
    const int roots[4] = {0, 7, 9, 5}; /* C G Am F */
    int64_t bar = (int64_t)num * 480;
    for (int b = 0; b < bars; b++) {
        for (int q = 0; q < num; q++) /* one quarter note per beat, slightly off the grid */
            gm_track_add_note(&s->tracks[lead], b * bar + q * 480 + (q == 1 ? 7 : 0), 400,
                              60 + transpose + scale[(b * 3 + q) % 7], 90, 0);
        int r = roots[b % 4];
        int third = (r == 9) ? 3 : 4;
        int notes[3] = {48 + r, 48 + r + third, 48 + r + 7};
        for (int k = 0; k < 3; k++) gm_track_add_note(&s->tracks[chords], b * bar, bar - 10, notes[k] + transpose, 70, 1);
    }
    gm_score_sort(s);
}

/* Is note n of track t of `a` also in some track of `b` with the same name,
 * program and channel, with every field unchanged? */
static int note_in(const gm_score *b, const gm_track *t, const gm_note *n) {
    for (int i = 0; i < b->n_tracks; i++) {
        const gm_track *u = &b->tracks[i];
        if (strcmp(u->name, t->name) || u->program != t->program || u->channel != t->channel) continue;
        for (size_t k = 0; k < u->n_notes; k++) {
            const gm_note *m = &u->notes[k];
            if (m->tick == n->tick && m->duration == n->duration && m->pitch == n->pitch &&
                m->velocity == n->velocity && m->channel == n->channel)
                return 1;
        }
    }
    return 0;
}

static size_t count_generated(const gm_score *s, int *only_cls_ok, const gm_layout *l, uint32_t targets) {
    size_t n = 0;
    *only_cls_ok = 1;
    for (int i = 0; i < s->n_tracks; i++)
        for (size_t k = 0; k < s->tracks[i].n_notes; k++)
            if (s->tracks[i].notes[k].flags & GM_NOTE_GENERATED) {
                n++;
                int c = gm_layout_classify(l, &s->tracks[i]);
                if (c < 0 || !(targets >> c & 1)) *only_cls_ok = 0;
            }
    return n;
}

static void test_accompaniment(gm_model *m) {
    const gm_layout *l = gm_model_layout(m);
    gm_score in, out;
    make_song(&in, 8, 4, 0);
    int piano = gm_layout_find(l, "piano"), drums = gm_layout_find(l, "drums"), lead = gm_layout_find(l, "lead");
    gm_generate_params p = gm_generate_default_params();
    p.targets = 1u << drums | 1u << gm_layout_find(l, "counter");
    p.steps = 6;
    gm_generate_report rep;
    int rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0, "generate: %s", err);
    if (rc) { gm_score_free(&in); return; }
    /* every source note is in the output unchanged */
    size_t missing = 0;
    for (int i = 0; i < in.n_tracks; i++)
        for (size_t k = 0; k < in.tracks[i].n_notes; k++) missing += !note_in(&out, &in.tracks[i], &in.tracks[i].notes[k]);
    CHECK(missing == 0, "%zu source notes changed or lost", missing);
    CHECK(rep.notes_kept == gm_score_n_notes(&in), "kept %zu of %zu", rep.notes_kept, gm_score_n_notes(&in));
    int ok;
    size_t gen = count_generated(&out, &ok, l, p.targets);
    CHECK(gen > 0 && gen == rep.notes_generated, "generated %zu, report %zu", gen, rep.notes_generated);
    CHECK(ok, "a generated note is in a track that is not a target");
    CHECK(gm_score_n_notes(&out) == gm_score_n_notes(&in) + gen, "output has other notes than input + generated");
    CHECK(rep.given == (1u << lead | 1u << piano), "given classes %x", rep.given);
    CHECK(rep.n_bars == 8 && rep.n_windows == 1, "bars %d windows %d", rep.n_bars, rep.n_windows);
    CHECK(rep.chords_given && rep.chords && rep.chords[0].root == 0 && rep.chords[1].root == 7,
          "chords recognised from the input: %d %d", rep.chords ? rep.chords[0].root : -9, rep.chords ? rep.chords[1].root : -9);
    /* the drum track is a drum track on channel 10, and nothing sounds past the end */
    int found = 0;
    int64_t end = 8 * 4 * 480;
    for (int i = 0; i < out.n_tracks; i++) {
        const gm_track *t = &out.tracks[i];
        if (gm_layout_classify(l, t) == drums) {
            found = 1;
            CHECK(t->is_drum && t->channel == 9, "drums on channel %d", t->channel);
        }
        for (size_t k = 0; k < t->n_notes; k++)
            if (t->notes[k].tick + t->notes[k].duration > end) { CHECK(0, "note past the end in %s", t->name); break; }
    }
    CHECK(found, "no drum track written");
    CHECK(out.n_tempos == in.n_tempos && out.tempos[0].usec_per_quarter == 600000, "tempo map not kept");
    /* the same request again: the same bytes; another seed: other bytes */
    gm_score out2, out3;
    uint8_t *b1 = NULL, *b2 = NULL, *b3 = NULL;
    size_t n1 = 0, n2 = 0, n3 = 0;
    CHECK(gm_generate(m, &in, &p, &out2, NULL, err) == 0, "%s", err);
    p.seed = 99;
    CHECK(gm_generate(m, &in, &p, &out3, NULL, err) == 0, "%s", err);
    gm_midi_write_mem(&out, &b1, &n1, err);
    gm_midi_write_mem(&out2, &b2, &n2, err);
    gm_midi_write_mem(&out3, &b3, &n3, err);
    CHECK(n1 == n2 && b1 && b2 && !memcmp(b1, b2, n1), "same seed, different output");
    CHECK(!(n1 == n3 && !memcmp(b1, b3, n1)), "another seed, the same output");
    free(b1), free(b2), free(b3);
    gm_score_free(&out2);
    gm_score_free(&out3);
    gm_generate_report_free(&rep);
    gm_score_free(&out);
    gm_score_free(&in);
}

/* A bare melody has its chords chosen (gm_chords_harmonize), in every bar
 * from its first note to its last, rests included; a texture has them
 * recognised; --chords melody harmonises the lead of a texture. */
static void test_bare_melody(gm_model *m) {
    const gm_layout *l = gm_model_layout(m);
    gm_score in, out;
    make_song(&in, 8, 4, 0);
    in.tracks[1].n_notes = 0; /* the chords gone: the melody alone */
    for (size_t k = 0; k < in.tracks[0].n_notes; k++) /* and a bar of rest in it */
        if (in.tracks[0].notes[k].tick >= 3 * 1920 && in.tracks[0].notes[k].tick < 4 * 1920) in.tracks[0].notes[k].pitch = 0;
    size_t kept = 0;
    for (size_t k = 0; k < in.tracks[0].n_notes; k++)
        if (in.tracks[0].notes[k].pitch) in.tracks[0].notes[kept++] = in.tracks[0].notes[k];
    in.tracks[0].n_notes = kept;
    gm_generate_params p = gm_generate_default_params();
    p.targets = 1u << gm_layout_find(l, "piano");
    p.steps = 3;
    gm_generate_report rep;
    int rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0, "generate (melody alone): %s", err);
    if (!rc) {
        CHECK(rep.chords_given && rep.chords_harmonized, "a bare melody's chords: given %d harmonised %d", rep.chords_given,
              rep.chords_harmonized);
        int missing = 0;
        for (int i = 0; i < rep.n_bars * rep.chord_frames_per_bar; i++) missing += rep.chords[i].root < 0;
        CHECK(missing == 0, "%d frames without a chord (the bar of rest must have one)", missing);
        gm_score_free(&out);
        gm_generate_report_free(&rep);
    }
    gm_score_free(&in);

    make_song(&in, 8, 4, 0);
    p.chord_mode = GM_CHORDS_INPUT;
    rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0 && !rep.chords_harmonized, "a texture's chords are recognised: %s", err);
    if (!rc) { gm_score_free(&out); gm_generate_report_free(&rep); }
    p.chord_mode = GM_CHORDS_HARMONIZE;
    rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0 && rep.chords_harmonized, "--chords melody on a texture: %s", err);
    if (!rc) { gm_score_free(&out); gm_generate_report_free(&rep); }
    gm_score_free(&in);
}

static void test_replace_and_infill(gm_model *m) {
    const gm_layout *l = gm_model_layout(m);
    int piano = gm_layout_find(l, "piano");
    gm_score in, out;
    make_song(&in, 12, 4, 0);
    gm_generate_params p = gm_generate_default_params();
    p.targets = 1u << piano;
    p.steps = 5;
    gm_bar_range r[2] = {{4, 7}, {10, 10}}; /* bars 5-8 and 11 */
    p.ranges = r;
    p.n_ranges = 2;
    gm_generate_report rep;
    int rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0, "infill: %s", err);
    if (rc) { gm_score_free(&in); return; }
    const int64_t bar = 4 * 480;
    size_t kept_outside = 0, bad = 0, gen = 0, outside_in = 0;
    for (int i = 0; i < in.n_tracks; i++)
        for (size_t k = 0; k < in.tracks[i].n_notes; k++) {
            const gm_note *n = &in.tracks[i].notes[k];
            int b = (int)(n->tick / bar);
            int masked = gm_layout_classify(l, &in.tracks[i]) == piano && ((b >= 4 && b <= 7) || b == 10);
            if (!masked) outside_in++, kept_outside += note_in(&out, &in.tracks[i], n);
        }
    CHECK(kept_outside == outside_in, "infill changed %zu notes outside its bars", outside_in - kept_outside);
    for (int i = 0; i < out.n_tracks; i++)
        for (size_t k = 0; k < out.tracks[i].n_notes; k++) {
            const gm_note *n = &out.tracks[i].notes[k];
            int b = (int)(n->tick / bar);
            int in_range = (b >= 4 && b <= 7) || b == 10;
            if (n->flags & GM_NOTE_GENERATED) {
                gen++;
                bad += !in_range || gm_layout_classify(l, &out.tracks[i]) != piano;
            } else if (gm_layout_classify(l, &out.tracks[i]) == piano && in_range) {
                bad++; /* an old piano note left in a regenerated bar */
            }
        }
    CHECK(bad == 0, "%zu notes break the infilling bars", bad);
    CHECK(gen > 0, "nothing infilled");
    /* the infilled notes joined the input's piano track: still one piano track */
    int n_piano = 0;
    for (int i = 0; i < out.n_tracks; i++) n_piano += gm_layout_classify(l, &out.tracks[i]) == piano;
    CHECK(n_piano == 1, "%d piano tracks after infilling", n_piano);
    gm_generate_report_free(&rep);
    gm_score_free(&out);

    /* Whole-track replacement: the input's piano is gone, a new one written. */
    p.n_ranges = 0;
    p.ranges = NULL;
    rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0, "replace: %s", err);
    if (!rc) {
        size_t old = 0;
        for (int i = 0; i < out.n_tracks; i++)
            for (size_t k = 0; k < out.tracks[i].n_notes; k++)
                old += gm_layout_classify(l, &out.tracks[i]) == piano && !(out.tracks[i].notes[k].flags & GM_NOTE_GENERATED);
        CHECK(old == 0, "%zu old piano notes left after replacing the piano", old);
        CHECK(rep.given == 1u << gm_layout_find(l, "lead"), "given %x", rep.given);
        gm_generate_report_free(&rep);
        gm_score_free(&out);
    }
    gm_score_free(&in);
}

static void test_continue(gm_model *m) {
    const gm_layout *l = gm_model_layout(m);
    gm_score in, out;
    make_song(&in, 6, 3, 0); /* 3/4 */
    gm_generate_params p = gm_generate_default_params();
    p.continue_bars = 4;
    p.steps = 4;
    gm_generate_report rep;
    int rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0, "continue: %s", err);
    if (rc) { gm_score_free(&in); return; }
    CHECK(rep.n_bars == 10, "bars after continuing 6 by 4: %d", rep.n_bars);
    CHECK(rep.targets == (1u << gm_layout_find(l, "lead") | 1u << gm_layout_find(l, "piano")),
          "continuation targets the input's tracks: %x", rep.targets);
    const int64_t bar = 3 * 480;
    size_t missing = 0, early = 0, gen = 0;
    for (int i = 0; i < in.n_tracks; i++)
        for (size_t k = 0; k < in.tracks[i].n_notes; k++) missing += !note_in(&out, &in.tracks[i], &in.tracks[i].notes[k]);
    for (int i = 0; i < out.n_tracks; i++)
        for (size_t k = 0; k < out.tracks[i].n_notes; k++)
            if (out.tracks[i].notes[k].flags & GM_NOTE_GENERATED) gen++, early += out.tracks[i].notes[k].tick < 6 * bar;
    CHECK(missing == 0, "%zu input notes changed", missing);
    CHECK(gen > 0 && early == 0, "generated %zu, %zu before the new bars", gen, early);
    gm_barmap bm;
    CHECK(gm_barmap_build(&bm, &out, 4, err) == 0 && bm.n_bars == 10 && bm.bar_num[9] == 3,
          "output bars %d (3/4 kept)", bm.n_bars);
    gm_barmap_free(&bm);
    gm_generate_report_free(&rep);
    gm_score_free(&out);
    gm_score_free(&in);
}

/* A piece of 40 bars with a model window of 4 bars (64 columns). */
static void test_windows(void) {
    gm_model *m = tiny_model(64);
    CHECK(m != NULL, "tiny model: %s", err);
    if (!m) return;
    const gm_layout *l = gm_model_layout(m);
    gm_score in, out;
    make_song(&in, 40, 4, 0);
    gm_generate_params p = gm_generate_default_params();
    p.targets = 1u << gm_layout_find(l, "drums");
    p.steps = 3;
    gm_generate_report rep;
    int rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0, "windows: %s", err);
    if (!rc) {
        /* context of a quarter window (1 bar) → 3 new bars per later window */
        CHECK(rep.n_windows == 1 + 12, "%d windows for 40 bars in 4-bar windows", rep.n_windows);
        int bars_with_drums[40] = {0};
        for (int i = 0; i < out.n_tracks; i++)
            for (size_t k = 0; k < out.tracks[i].n_notes; k++)
                if (out.tracks[i].notes[k].flags & GM_NOTE_GENERATED) {
                    int b = (int)(out.tracks[i].notes[k].tick / (4 * 480));
                    if (b >= 0 && b < 40) bars_with_drums[b] = 1;
                }
        int covered = 0;
        for (int b = 0; b < 40; b++) covered += bars_with_drums[b];
        CHECK(covered >= 36, "generated notes in only %d of 40 bars", covered);
        gm_generate_report_free(&rep);
        gm_score_free(&out);
    }
    /* A window that is asked for smaller than the model's. */
    p.window_cols = 32;
    rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0 && rep.n_windows > 13, "2-bar windows: %d (%s)", rep.n_windows, rc ? err : "");
    if (!rc) {
        gm_generate_report_free(&rep);
        gm_score_free(&out);
    }
    gm_score_free(&in);
    gm_model_free(m);
}

/* 32 bars of 6/4 = 768 columns in 512-column windows: bar lines (24 apart)
 * do not divide the window, which once left the planner stuck at the end
 * (POP909 songs 280, 662, 756). */
static void test_windows_6_4(gm_model *m) {
    const gm_layout *l = gm_model_layout(m);
    gm_score in, out;
    make_song(&in, 32, 6, 0);
    gm_generate_params p = gm_generate_default_params();
    p.targets = 1u << gm_layout_find(l, "drums");
    p.steps = 2;
    gm_generate_report rep;
    int rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0 && rep.n_windows >= 2 && rep.n_windows <= 3, "6/4: rc %d, %d windows (%s)", rc, rc ? 0 : rep.n_windows, err);
    if (!rc) {
        gm_generate_report_free(&rep);
        gm_score_free(&out);
    }
    gm_score_free(&in);
}

static void test_transpose_and_scratch(gm_model *m) {
    const gm_layout *l = gm_model_layout(m);
    gm_score in, out;
    make_song(&in, 4, 4, 2); /* D major */
    gm_generate_params p = gm_generate_default_params();
    p.targets = 1u << gm_layout_find(l, "counter");
    p.steps = 3;
    gm_generate_report rep;
    int rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0, "%s", err);
    if (!rc) {
        CHECK(rep.shift == -2 && rep.key.tonic == 2 && !rep.key.minor, "D major input: shift %d, key %d", rep.shift, rep.key.tonic);
        CHECK(rep.chords_given && rep.chords[0].root == 2, "first chord back in D: root %d", rep.chords[0].root);
        size_t missing = 0;
        for (int i = 0; i < in.n_tracks; i++)
            for (size_t k = 0; k < in.tracks[i].n_notes; k++) missing += !note_in(&out, &in.tracks[i], &in.tracks[i].notes[k]);
        CHECK(missing == 0, "%zu notes moved by the transposition", missing);
        gm_generate_report_free(&rep);
        gm_score_free(&out);
    }
    gm_score_free(&in);

    /* From scratch, chords given, with guidance (two forwards per step). */
    gm_chord ch[4];
    gm_chord_parse("C", &ch[0], NULL), gm_chord_parse("Am", &ch[1], NULL);
    gm_chord_parse("F", &ch[2], NULL), gm_chord_parse("G7", &ch[3], NULL);
    p = gm_generate_default_params();
    p.new_bars = 6;
    p.chord_mode = GM_CHORDS_GIVEN;
    p.chords = ch;
    p.n_chords = 4;
    p.chord_guidance = 2.0f;
    p.steps = 4;
    rc = gm_generate(m, NULL, &p, &out, &rep, err);
    CHECK(rc == 0, "from scratch: %s", err);
    if (!rc) {
        CHECK(rep.n_bars == 6 && rep.targets == (1u << l->n_classes) - 1, "bars %d targets %x", rep.n_bars, rep.targets);
        CHECK(rep.chords[4].root == 0 && rep.chords[5].root == 9 && rep.chords[5].quality == GM_Q_MIN,
              "given chords repeat: %d %d", rep.chords[4].root, rep.chords[5].root);
        CHECK(out.n_timesigs == 1 && out.timesigs[0].numerator == 4 && out.n_tempos == 1, "new piece metre/tempo");
        CHECK(rep.notes_generated > 0, "nothing generated from scratch");
        gm_generate_report_free(&rep);
        /* The drums' own temperature: equal to the temperature, it is the same
         * sampler as 0 ("the temperature"). */
        gm_score a, b;
        p.drum_temperature = p.temperature;
        int ra = gm_generate(m, NULL, &p, &a, NULL, err);
        p.drum_temperature = 0;
        int rb = gm_generate(m, NULL, &p, &b, NULL, err);
        int same = ra == 0 && rb == 0 && a.n_tracks == b.n_tracks;
        for (int t = 0; same && t < a.n_tracks; t++) {
            same = a.tracks[t].n_notes == b.tracks[t].n_notes;
            for (size_t k = 0; same && k < a.tracks[t].n_notes; k++)
                same = a.tracks[t].notes[k].tick == b.tracks[t].notes[k].tick && a.tracks[t].notes[k].pitch == b.tracks[t].notes[k].pitch;
        }
        CHECK(same, "drum temperature = temperature is the plain sampler: %s", err);
        if (!ra) gm_score_free(&a);
        if (!rb) gm_score_free(&b);
        gm_score_free(&out);
    }
}

static void test_errors(gm_model *m) {
    const gm_layout *l = gm_model_layout(m);
    gm_score in, out;
    make_song(&in, 4, 4, 0);
    gm_generate_params p = gm_generate_default_params();
    p.steps = 2;
    /* each bad request: -1, a message, out untouched */
    gm_generate_params q;
    q = p, q.targets = 1u << l->n_classes;
    CHECK(gm_generate(m, &in, &q, &out, NULL, err) == -1 && strstr(err, "layout"), "class outside the layout: %s", err);
    gm_bar_range r = {2, 9};
    q = p, q.targets = 1u << 2, q.ranges = &r, q.n_ranges = 1;
    CHECK(gm_generate(m, &in, &q, &out, NULL, err) == -1 && strstr(err, "outside the piece"), "bars outside: %s", err);
    q = p, q.steps = 0;
    CHECK(gm_generate(m, &in, &q, &out, NULL, err) == -1, "0 steps accepted");
    q = p, q.steps = 101;
    CHECK(gm_generate(m, &in, &q, &out, NULL, err) == -1, "101 steps accepted");
    q = p, q.temperature = 0;
    CHECK(gm_generate(m, &in, &q, &out, NULL, err) == -1, "temperature 0 accepted");
    q = p, q.continue_bars = 2;
    CHECK(gm_generate(m, NULL, &q, &out, NULL, err) == -1, "continuing nothing accepted");
    q = p, q.new_bars = 0;
    CHECK(gm_generate(m, NULL, &q, &out, NULL, err) == -1, "a piece of 0 bars accepted");
    q = p, q.ranges = &r, q.n_ranges = 1, q.continue_bars = 2;
    CHECK(gm_generate(m, &in, &q, &out, NULL, err) == -1, "infill and continue together accepted");
    gm_chord bad = {12, 0};
    q = p, q.chord_mode = GM_CHORDS_GIVEN, q.chords = &bad, q.n_chords = 1;
    CHECK(gm_generate(m, &in, &q, &out, NULL, err) == -1, "chord root 12 accepted");
    q = p, q.chord_guidance = -1;
    CHECK(gm_generate(m, &in, &q, &out, NULL, err) == -1, "negative guidance accepted");
    q = p, q.drum_style_guidance = -0.5f;
    CHECK(gm_generate(m, &in, &q, &out, NULL, err) == -1 && strstr(err, "drum style guidance"), "negative drum style guidance accepted");
    q = p, q.drum_chord_guidance = NAN;
    CHECK(gm_generate(m, &in, &q, &out, NULL, err) == -1 && strstr(err, "drum chord guidance"), "NaN drum chord guidance accepted");
    q = p, q.drum_temperature = -0.5f;
    CHECK(gm_generate(m, &in, &q, &out, NULL, err) == -1 && strstr(err, "drum temperature"), "negative drum temperature: %s", err);
    /* an input with every class already present and no targets named */
    gm_score full;
    make_song(&full, 2, 4, 0);
    gm_score_add_track(&full, "Bridge", 71, 3, 0);
    gm_track_add_note(&full.tracks[full.n_tracks - 1], 0, 100, 70, 80, 3);
    int d = gm_score_add_track(&full, "Drums", 0, 9, 1);
    gm_track_add_note(&full.tracks[d], 0, 100, 36, 80, 9);
    CHECK(gm_generate(m, &full, &p, &out, NULL, err) == -1 && strstr(err, "every track"), "nothing to do: %s", err);
    gm_score_free(&full);
    gm_score_free(&in);
}

/* Chords at the model's resolution: a half-bar model gets both halves of
 * given bars and recognises per half bar; a bar model takes each bar's first
 * half; the resolution survives saving and loading. */
static void test_chord_frames(gm_model *m) {
    gm_score in, out;
    make_song(&in, 4, 4, 2); /* D major: chords come back in the input's key */
    gm_generate_params p = gm_generate_default_params();
    p.steps = 2;
    p.targets = 1u << gm_layout_find(gm_model_layout(m), "piano");
    /* "C G | Am F", repeated over 4 bars */
    gm_chord given[4] = {{0, GM_Q_MAJ}, {7, GM_Q_MAJ}, {9, GM_Q_MIN}, {5, GM_Q_MAJ}};
    p.chord_mode = GM_CHORDS_GIVEN;
    p.chords = given;
    p.n_chords = 4;
    p.chord_frames_per_bar = 2;
    gm_generate_report rep;
    CHECK(gm_model_chord_frames(m) == 1, "a new model has one chord per bar");
    int rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0 && rep.chord_frames_per_bar == 1 && rep.chords[0].root == 0 && rep.chords[1].root == 9 &&
              rep.chords[2].root == 0 && rep.chords[3].root == 9,
          "bar model takes the first halves: %s", err);
    if (!rc) { gm_generate_report_free(&rep); gm_score_free(&out); }

    CHECK(gm_model_set_chord_frames(m, 2, err) == 0, "%s", err);
    rc = gm_generate(m, &in, &p, &out, &rep, err);
    int ok = rc == 0 && rep.chord_frames_per_bar == 2;
    for (int i = 0; ok && i < 8; i++) ok = rep.chords[i].root == given[i % 4].root && rep.chords[i].quality == given[i % 4].quality;
    CHECK(ok, "half-bar model gets both halves, repeated: %s", err);
    if (!rc) { gm_generate_report_free(&rep); gm_score_free(&out); }

    /* One chord per bar given to a half-bar model: both halves. */
    p.n_chords = 2, p.chord_frames_per_bar = 1;
    rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0 && rep.chords[0].root == 0 && rep.chords[1].root == 0 && rep.chords[2].root == 7 && rep.chords[3].root == 7,
          "bar chords fill both halves: %s", err);
    if (!rc) { gm_generate_report_free(&rep); gm_score_free(&out); }
    p.n_chords = 3, p.chord_frames_per_bar = 2;
    CHECK(gm_generate(m, &in, &p, &out, NULL, err) == -1 && strstr(err, "whole bars"), "3 halves: %s", err);

    /* Recognised per half bar (the song's chords change per bar: equal halves). */
    p.chord_mode = GM_CHORDS_INPUT;
    rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0 && rep.chords_given && rep.chords[0].root == 2 && rep.chords[1].root == 2 && rep.chords[2].root == 9 &&
              rep.chords[7].root == 7,
          "recognised halves in D: %d %d %d %d (%s)", rc ? -9 : rep.chords[0].root, rc ? -9 : rep.chords[1].root,
          rc ? -9 : rep.chords[2].root, rc ? -9 : rep.chords[7].root, err);
    if (!rc) { gm_generate_report_free(&rep); gm_score_free(&out); }

    /* The resolution is in the model file. */
    char path[] = "/tmp/gm_test_frames_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    CHECK(fd >= 0 && gm_model_save(m, path, "test", err) == 0, "save: %s", err);
    gm_model *m2 = gm_model_load(path, err);
    CHECK(m2 && gm_model_chord_frames(m2) == 2, "frames after load: %s", err);
    gm_model_free(m2);
    unlink(path);
    CHECK(gm_model_set_chord_frames(m, 3, err) != 0 && gm_model_chord_frames(m) == 2, "3 frames refused");
    gm_model_set_chord_frames(m, 1, err);
    gm_score_free(&in);
}

/* An input track of no class is passed through unchanged. */
static void test_unmapped(gm_model *m) {
    const gm_layout *l = gm_model_layout(m);
    gm_score in, out;
    make_song(&in, 4, 4, 0);
    /* a GM program no class of this layout takes, if there is one */
    int fx = gm_score_add_track(&in, "Extra", 0, 5, 0);
    int prog = -1;
    for (int pr = 0; pr < 128 && prog < 0; pr++) {
        in.tracks[fx].program = pr;
        if (gm_layout_classify(l, &in.tracks[fx]) < 0) prog = pr;
    }
    if (prog < 0) {
        SKIP("every GM program takes a class in layout '%s': no track to pass through", l->name);
        gm_score_free(&in);
        return;
    }
    gm_track_add_note(&in.tracks[fx], 100, 1000, 50, 60, 5);
    gm_score_sort(&in);
    gm_generate_params p = gm_generate_default_params();
    p.targets = 1u << gm_layout_find(l, "drums");
    p.steps = 2;
    gm_generate_report rep;
    int rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0, "%s", err);
    if (!rc) {
        CHECK(rep.n_unmapped == 1, "unmapped tracks %d", rep.n_unmapped);
        CHECK(note_in(&out, &in.tracks[fx], &in.tracks[fx].notes[0]), "the unmapped track was not passed through");
        gm_generate_report_free(&rep);
        gm_score_free(&out);
    }
    gm_score_free(&in);
}

/* Distinct drum onset ticks of the generated drum notes of s. */
static size_t drum_onsets(const gm_score *s) {
    size_t n = 0;
    for (int i = 0; i < s->n_tracks; i++) {
        const gm_track *t = &s->tracks[i];
        int64_t last = -1;
        for (size_t k = 0; t->is_drum && k < t->n_notes; k++) /* notes are sorted by tick */
            if ((t->notes[k].flags & GM_NOTE_GENERATED) && t->notes[k].tick != last) n++, last = t->notes[k].tick;
    }
    return n;
}

/* Asked for counter and drums only, the shipped model once played a near-silent
 * part for some seeds (10 drum notes in 16 bars for seed 1): the sampler's
 * sharpening decided whether a 16th had a hit (models/README.md, "Why the drums
 * dropped out"). Two-stage drum sampling: at least 3 onsets a bar for seeds
 * 1-8 (one stage, drum_hit_temperature 0, is printed beside it: 10 onsets for
 * seed 1 with the stage-4 model). */
static void test_drum_presence(gm_model *m, const gm_score *in) {
    const gm_layout *l = gm_model_layout(m);
    const int bars = 16;
    size_t fewest[2] = {SIZE_MAX, SIZE_MAX};
    for (int two = 0; two < 2; two++)
        for (int seed = 1; seed <= 8; seed++) {
            gm_generate_params p = gm_generate_default_params();
            p.targets = 1u << gm_layout_find(l, "drums") | 1u << gm_layout_find(l, "counter");
            p.seed = (uint64_t)seed;
            if (!two) p.drum_hit_temperature = 0;
            gm_score out;
            if (gm_generate(m, in, &p, &out, NULL, err)) {
                CHECK(0, "%s", err);
                return;
            }
            size_t n = drum_onsets(&out);
            if (n < fewest[two]) fewest[two] = n;
            gm_score_free(&out);
        }
    CHECK(fewest[1] >= 3 * (size_t)bars, "counter + drums, seeds 1-8: as few as %zu drum onsets in %d bars", fewest[1], bars);
    fprintf(stderr, "  counter + drums, seeds 1-8, fewest drum onsets in %d bars: %zu two-stage, %zu one-stage\n", bars,
            fewest[1], fewest[0]);
}

/* The shipped model on the bundled example: plausible parts. */
static void test_shipped(void) {
    struct stat st;
    if (stat("models/default.gguf", &st) || stat("examples/melody.mid", &st)) {
        SKIP("models/default.gguf or examples/melody.mid absent");
        return;
    }
    gm_model *m = gm_model_load("models/default.gguf", err);
    CHECK(m != NULL, "%s", err);
    gm_score in, out;
    if (!m || gm_midi_read_file("examples/melody.mid", &in, err)) {
        CHECK(0, "%s", err);
        gm_model_free(m);
        return;
    }
    const gm_layout *l = gm_model_layout(m);
    gm_generate_params p = gm_generate_default_params();
    /* The demo's three tracks. Asked for counter and drums alone, the shipped
     * model (stage 4) plays thin drums for some seeds: 10 notes in 16 bars for
     * seed 1 (models/README.md, "Where it falls short"). */
    p.targets = 1u << gm_layout_find(l, "drums") | 1u << gm_layout_find(l, "counter") | 1u << gm_layout_find(l, "piano");
    p.steps = 10;
    gm_generate_report rep;
    int rc = gm_generate(m, &in, &p, &out, &rep, err);
    CHECK(rc == 0, "%s", err);
    /* trained on half-bar chords since 3b1d6b7: two per bar */
    CHECK(gm_model_chord_frames(m) == 2 && (rc || rep.chord_frames_per_bar == 2), "shipped model: two chords per bar");
    if (!rc) {
        size_t drum_notes = 0, wild = 0, roland = 0, counter_notes = 0;
        for (int i = 0; i < out.n_tracks; i++) {
            const gm_track *t = &out.tracks[i];
            for (size_t k = 0; k < t->n_notes; k++) {
                if (!(t->notes[k].flags & GM_NOTE_GENERATED)) continue;
                if (t->is_drum) drum_notes++, roland += gm_drum_key_gm(t->notes[k].pitch) != t->notes[k].pitch;
                else if (t->cls == gm_layout_find(l, "counter"))
                    counter_notes++, wild += t->notes[k].pitch < 36 || t->notes[k].pitch > 96;
            }
        }
        CHECK(drum_notes >= 16, "only %zu drum notes in 16 bars", drum_notes);
        CHECK(counter_notes >= 8 && wild == 0, "%zu of %zu counter-melody notes outside C2..C7", wild, counter_notes);
        CHECK(roland == 0, "%zu generated drum notes on Roland-only keys (22, 26, 58), not General MIDI", roland);
        gm_generate_report_free(&rep);
        gm_score_free(&out);
    }
    test_drum_presence(m, &in);
    gm_score_free(&in);
    gm_model_free(m);
}

int main(void) {
    gm_model *m = tiny_model(512);
    CHECK(m != NULL, "tiny model: %s", err);
    if (m) {
        test_accompaniment(m);
        test_bare_melody(m);
        test_replace_and_infill(m);
        test_continue(m);
        test_windows_6_4(m);
        test_transpose_and_scratch(m);
        test_errors(m);
        test_chord_frames(m);
        test_unmapped(m);
        gm_model_free(m);
    }
    test_windows();
    test_shipped();
    return test_done("test_generate");
}
