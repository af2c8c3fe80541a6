/* test_score.c — score containers, bar map, quantisation, track classes. */
#include "getmusic.h"
#include "test.h"

static void test_barmap_metres(void) {
    gm_score s;
    gm_score_init(&s, 480);
    /* 2 bars 4/4, 2 bars 3/4, 2 bars 6/8, then a 4/4 that starts mid-bar. */
    gm_score_add_timesig(&s, 0, 4, 4);
    gm_score_add_timesig(&s, 2 * 1920, 3, 4);
    gm_score_add_timesig(&s, 2 * 1920 + 2 * 1440, 6, 8);
    int64_t t68 = 2 * 1920 + 2 * 1440;
    gm_score_add_timesig(&s, t68 + 1440 + 720, 4, 4); /* mid-way through the 2nd 6/8 bar */
    s.end_tick = t68 + 1440 + 720 + 1920;
    gm_barmap bm;
    char err[GM_ERR_SIZE] = "";
    CHECK(gm_barmap_build(&bm, &s, 4, err) == 0, "%s", err);
    CHECK(bm.n_bars == 7, "n_bars %d", bm.n_bars);
    int want_col[] = {0, 16, 32, 44, 56, 68, 74, 90};
    for (int i = 0; i <= 7 && i <= bm.n_bars; i++) CHECK(bm.bar_col[i] == want_col[i], "bar %d col %d want %d", i, bm.bar_col[i], want_col[i]);
    CHECK(bm.bar_num[2] == 3 && bm.bar_den[2] == 4, "3/4");
    CHECK(bm.bar_num[4] == 6 && bm.bar_den[4] == 8, "6/8");
    CHECK(bm.n_cols == 90, "n_cols %d", bm.n_cols);
    /* tick ↔ column */
    CHECK(gm_barmap_tick_to_col(&bm, 0) == 0, "col 0");
    CHECK(gm_barmap_tick_to_col(&bm, 120) == 1, "16th");
    CHECK(gm_barmap_tick_to_col(&bm, 59) == 0 && gm_barmap_tick_to_col(&bm, 61) == 1, "rounding");
    CHECK(gm_barmap_tick_to_col(&bm, 3840) == 32, "3/4 start");
    for (int c = 0; c < bm.n_cols; c++) {
        int64_t t = gm_barmap_col_to_tick(&bm, c);
        CHECK(gm_barmap_tick_to_col(&bm, t) == c, "col %d tick %lld", c, (long long)t);
    }
    CHECK(gm_barmap_bar_of_col(&bm, 43) == 2 && gm_barmap_bar_of_col(&bm, 44) == 3, "bar of col");
    CHECK(gm_barmap_bar_of_tick(&bm, t68) == 4, "bar of tick");
    /* bar positions: 0.. from each bar line (the cut 6/8 bar has 6 columns), clipped at max_pos − 1 */
    uint8_t pos[90];
    gm_barmap_positions(&bm, pos, 32);
    CHECK(pos[0] == 0 && pos[15] == 15 && pos[16] == 0 && pos[43] == 11 && pos[44] == 0 && pos[67] == 11 &&
          pos[68] == 0 && pos[73] == 5 && pos[74] == 0 && pos[89] == 15, "bar positions");
    gm_barmap_positions(&bm, pos, 8);
    CHECK(pos[7] == 7 && pos[8] == 7 && pos[15] == 7 && pos[16] == 0, "bar positions clipped");
    gm_barmap_free(&bm);
    gm_score_free(&s);

    /* Empty score: one 4/4 bar. Absurd length: refused, not allocated. */
    gm_score_init(&s, 96);
    CHECK(gm_barmap_build(&bm, &s, 4, err) == 0 && bm.n_bars == 1 && bm.n_cols == 16, "empty score");
    gm_barmap_free(&bm);
    s.end_tick = (int64_t)1 << 40;
    CHECK(gm_barmap_build(&bm, &s, 4, err) != 0 && strstr(err, "too long"), "huge: %s", err);
    gm_score_free(&s);
}

static void test_quantize(void) {
    gm_score s;
    gm_score_init(&s, 480);
    int t = gm_score_add_track(&s, "x", 0, 0, 0);
    gm_track_add_note(&s.tracks[t], 7, 100, 60, 90, 0);     /* → 0, 120 */
    gm_track_add_note(&s.tracks[t], 1910, 30, 62, 90, 0);   /* → 1920, 120 (min 1 step) */
    gm_track_add_note(&s.tracks[t], 500, 430, 64, 90, 0);   /* → 480, 480 */
    gm_score_sort(&s);
    char err[GM_ERR_SIZE];
    CHECK(gm_score_quantize(&s, 4, err) == 0, "%s", err);
    gm_note *n = s.tracks[t].notes;
    CHECK(n[0].tick == 0 && n[0].duration == 120, "n0 %lld %lld", (long long)n[0].tick, (long long)n[0].duration);
    CHECK(n[1].tick == 480 && n[1].duration == 480, "n1 %lld %lld", (long long)n[1].tick, (long long)n[1].duration);
    CHECK(n[2].tick == 1920 && n[2].duration == 120, "n2 %lld %lld", (long long)n[2].tick, (long long)n[2].duration);
    /* In 6/8 at 96 tpq a 16th is 24 ticks; bar 2 starts at 288. */
    gm_score_free(&s);
    gm_score_init(&s, 96);
    gm_score_add_timesig(&s, 0, 6, 8);
    t = gm_score_add_track(&s, "x", 0, 0, 0);
    gm_track_add_note(&s.tracks[t], 290, 40, 60, 90, 0);
    gm_score_sort(&s);
    CHECK(gm_score_quantize(&s, 4, err) == 0, "%s", err);
    CHECK(s.tracks[t].notes[0].tick == 288 && s.tracks[t].notes[0].duration == 48, "6/8 note %lld %lld",
          (long long)s.tracks[t].notes[0].tick, (long long)s.tracks[t].notes[0].duration);
    gm_score_free(&s);
}

static void test_classes(void) {
    gm_layout def, orig;
    char err[GM_ERR_SIZE];
    CHECK(gm_layout_preset(&def, "default", err) == 0 && def.n_classes == 4, "default");
    CHECK(gm_layout_preset(&orig, "original", err) == 0 && orig.n_classes == 6, "original");
    CHECK(gm_layout_preset(&orig, "nope", err) != 0 && strstr(err, "nope"), "unknown preset");
    CHECK(gm_layout_rows(&orig) == 14, "14 rows");
    gm_layout_preset(&orig, "original", err);
    gm_track t;
    memset(&t, 0, sizeof t);
    struct { const char *name; int program, drum, want_def, want_orig; } cases[] = {
        {"MELODY", 0, 0, 0, 0},     {"BRIDGE", 0, 0, 1, 0},    {"PIANO", 0, 0, 2, 4},
        {"", 0, 0, 2, 4},           {"", 25, 0, 2, 3},          {"", 33, 0, 2, 1},
        {"", 48, 0, 2, 5},          {"", 90, 0, 2, 5},          {"", 65, 0, 0, 0},
        {"", 81, 0, 0, 0},          {"Drums", 0, 1, 3, 2},      {"", 118, 0, 2, 4},
        {"Vocal melody", 52, 0, 0, 0}, {"", 19, 0, 2, 4},       {"", 105, 0, 2, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(t.name, sizeof t.name, "%s", cases[i].name);
        t.program = cases[i].program;
        t.is_drum = cases[i].drum;
        CHECK(gm_layout_classify(&def, &t) == cases[i].want_def, "default: '%s' prog %d → %d", cases[i].name,
              cases[i].program, gm_layout_classify(&def, &t));
        CHECK(gm_layout_classify(&orig, &t) == cases[i].want_orig, "original: '%s' prog %d → %d", cases[i].name,
              cases[i].program, gm_layout_classify(&orig, &t));
    }
    /* Every program maps somewhere in both presets. */
    for (int p = 0; p < 128; p++) {
        t.name[0] = 0; t.program = p; t.is_drum = 0;
        CHECK(gm_layout_classify(&def, &t) >= 0, "default takes program %d", p);
    }
    CHECK(gm_layout_find(&def, "drums") == 3 && gm_layout_find(&def, "bass") == -1, "find");
}

static void test_copy(void) {
    gm_score s, c;
    gm_score_init(&s, 480);
    gm_score_add_tempo(&s, 0, 400000);
    gm_score_add_timesig(&s, 0, 3, 4);
    int t = gm_score_add_track(&s, "a", 5, 2, 0);
    for (int i = 0; i < 100; i++) gm_track_add_note(&s.tracks[t], i * 10, 10, 60 + i % 12, 80, 2);
    gm_score_sort(&s);
    CHECK(gm_score_copy(&c, &s) == 0, "copy");
    CHECK(c.n_tracks == 1 && c.tracks[0].n_notes == 100 && c.tracks[0].program == 5 && c.n_tempos == 1 &&
          c.timesigs[0].numerator == 3 && !strcmp(c.tracks[0].name, "a"), "copy contents");
    CHECK(c.end_tick == 1000, "end %lld", (long long)c.end_tick);
    CHECK(gm_score_n_notes(&c) == 100, "n notes");
    gm_score_free(&c);
    gm_score_free(&s);
}

/* Ghost notes: only soft snare strokes of drum tracks go; a pitched E2 (38)
 * and soft kicks and hats stay; below 0 keeps everything. */
static void test_drop_ghost_notes(void) {
    gm_score s;
    gm_score_init(&s, 480);
    int bass = gm_score_add_track(&s, "Bass", 33, 0, 0), drums = gm_score_add_track(&s, "Drums", 0, 9, 1);
    gm_track_add_note(&s.tracks[bass], 0, 480, 38, 20, 0);
    const int key[] = {38, 38, 40, 37, 36, 42, 38}, vel[] = {30, 59, 10, 50, 20, 20, 60};
    for (int i = 0; i < 7; i++) gm_track_add_note(&s.tracks[drums], i * 120, 60, key[i], vel[i], 9);
    CHECK(gm_score_drop_ghost_notes(&s, 0) == 0 && s.tracks[drums].n_notes == 7, "0 keeps all");
    CHECK(gm_score_drop_ghost_notes(&s, 60) == 4, "four soft snare strokes");
    CHECK(s.tracks[bass].n_notes == 1 && s.tracks[drums].n_notes == 3, "bass %zu drums %zu", s.tracks[bass].n_notes,
          s.tracks[drums].n_notes);
    CHECK(s.tracks[drums].notes[0].pitch == 36 && s.tracks[drums].notes[1].pitch == 42 &&
          s.tracks[drums].notes[2].pitch == 38 && s.tracks[drums].notes[2].tick == 720, "kept in order");
    gm_score_free(&s);
    CHECK(gm_drum_key_gm(22) == 42 && gm_drum_key_gm(26) == 46 && gm_drum_key_gm(58) == 43, "Roland keys to GM");
    int same = 1;
    for (int k = 0; k < 128; k++) same &= k == 22 || k == 26 || k == 58 || gm_drum_key_gm(k) == k;
    CHECK(same, "every other key unchanged");
    CHECK(gm_drum_kit_group(36) == GM_KIT_KICK && gm_drum_kit_group(40) == GM_KIT_SNARE && gm_drum_kit_group(44) == GM_KIT_HAT &&
              gm_drum_kit_group(22) == GM_KIT_HAT && gm_drum_kit_group(26) == GM_KIT_HAT && gm_drum_kit_group(58) == GM_KIT_OTHER &&
              gm_drum_kit_group(49) == GM_KIT_OTHER && gm_drum_kit_group(39) == GM_KIT_OTHER,
          "kit groups");
}

int main(void) {
    test_drop_ghost_notes();
    test_barmap_metres();
    test_quantize();
    test_classes();
    test_copy();
    return test_done("test_score");
}
