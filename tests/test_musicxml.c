/* test_musicxml.c — the MusicXML reader on hand-written scores with exact
 * expected notes (parts, voices, chords, ties, tuplets, grace notes, rests,
 * repeats and voltas, tempo, metre changes, a pickup, a transposing part,
 * percussion, harmony), score-timewise, compressed .mxl, the writer's round
 * trip, and malformed files (each a one-line error, never a crash). */
#include "getmusic.h"
#include "test.h"

#include <unistd.h>

#ifndef GM_NO_MUSICXML
#include <zip.h>
#endif

static char g_err[GM_ERR_SIZE];

static int read_xml(const char *xml, gm_score *s) {
    g_err[0] = 0;
    return gm_musicxml_read_mem((const uint8_t *)xml, strlen(xml), s, g_err);
}

/* A note of track t at (tick, pitch) with this duration exists. */
static int has_note(const gm_track *t, int64_t tick, int pitch, int64_t dur) {
    for (size_t i = 0; i < t->n_notes; i++)
        if (t->notes[i].tick == tick && t->notes[i].pitch == pitch && t->notes[i].duration == dur) return 1;
    return 0;
}

/* ======================================================================== */
/* A lead sheet with everything                                              */
/* ======================================================================== */

#define P(step, oct) "<pitch><step>" step "</step><octave>" #oct "</octave></pitch>"
#define PA(step, alter, oct) "<pitch><step>" step "</step><alter>" #alter "</alter><octave>" #oct "</octave></pitch>"
#define N(pitch, dur) "<note>" pitch "<duration>" #dur "</duration><voice>1</voice><type>quarter</type></note>\n"

static const char *k_score =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<!DOCTYPE score-partwise PUBLIC \"-//Recordare//DTD MusicXML 3.1 Partwise//EN\" \"http://www.musicxml.org/dtds/partwise.dtd\">\n"
    "<score-partwise version=\"3.1\"><part-list>\n"
    "<score-part id=\"P1\"><part-name>Melody</part-name><score-instrument id=\"P1-I1\"><instrument-name>Flute</instrument-name></score-instrument>"
    "<midi-instrument id=\"P1-I1\"><midi-channel>1</midi-channel><midi-program>74</midi-program></midi-instrument></score-part>\n"
    "<score-part id=\"P2\"><part-name>Clarinet in Bb</part-name><midi-instrument id=\"P2-I1\"><midi-channel>2</midi-channel>"
    "<midi-program>72</midi-program></midi-instrument></score-part>\n"
    "<score-part id=\"P3\"><part-name>Drumset</part-name>"
    "<score-instrument id=\"P3-I36\"><instrument-name>Bass Drum</instrument-name></score-instrument>"
    "<score-instrument id=\"P3-I39\"><instrument-name>Snare</instrument-name></score-instrument>"
    "<midi-instrument id=\"P3-I36\"><midi-channel>10</midi-channel><midi-unpitched>36</midi-unpitched></midi-instrument>"
    "<midi-instrument id=\"P3-I39\"><midi-channel>10</midi-channel><midi-unpitched>39</midi-unpitched></midi-instrument></score-part>\n"
    "</part-list>\n"
    /* ---- P1 ---- */
    "<part id=\"P1\">\n"
    "<measure number=\"0\" implicit=\"yes\"><attributes><divisions>2</divisions><key><fifths>-1</fifths><mode>major</mode></key>"
    "<time><beats>4</beats><beat-type>4</beat-type></time></attributes>\n"
    "<direction><direction-type><metronome><beat-unit>quarter</beat-unit><per-minute>100</per-minute></metronome></direction-type></direction>\n"
    N(P("G", 4), 2) "</measure>\n"
    "<measure number=\"1\">\n"
    "<harmony><root><root-step>F</root-step></root><kind>major</kind></harmony>\n"
    "<note><grace/>" P("E", 5) "<voice>1</voice><type>eighth</type></note>\n"
    N(P("A", 4), 2) "<note><chord/>" P("C", 5) "<duration>2</duration><voice>1</voice><type>quarter</type></note>\n"
    "<note><rest/><duration>1</duration><voice>1</voice><type>eighth</type></note>\n"
    "<note>" PA("B", -1, 4) "<duration>1</duration><tie type=\"start\"/><voice>1</voice><type>eighth</type></note>\n"
    "<harmony><root><root-step>C</root-step></root><kind>dominant</kind><bass><bass-step>E</bass-step></bass></harmony>\n"
    "<note>" PA("B", -1, 4) "<duration>4</duration><tie type=\"stop\"/><tie type=\"start\"/><voice>1</voice><type>half</type></note>\n"
    "<backup><duration>8</duration></backup>\n"
    "<note>" P("F", 3) "<duration>8</duration><voice>2</voice><type>whole</type></note>\n"
    "</measure>\n"
    "<measure number=\"2\"><barline location=\"left\"><repeat direction=\"forward\"/></barline>\n"
    "<attributes><divisions>6</divisions><time><beats>3</beats><beat-type>4</beat-type></time></attributes>\n"
    "<note>" PA("B", -1, 4) "<duration>6</duration><tie type=\"stop\"/><voice>1</voice><type>quarter</type></note>\n"
    "<note>" P("D", 5) "<duration>2</duration><voice>1</voice><type>eighth</type><time-modification><actual-notes>3</actual-notes><normal-notes>2</normal-notes></time-modification></note>\n"
    "<note>" P("E", 5) "<duration>2</duration><voice>1</voice><type>eighth</type></note>\n"
    "<note>" P("F", 5) "<duration>2</duration><voice>1</voice><type>eighth</type></note>\n"
    "<note><rest/><duration>6</duration><voice>1</voice><type>quarter</type></note>\n"
    "</measure>\n"
    "<measure number=\"3\"><barline location=\"left\"><ending number=\"1\" type=\"start\"/></barline>\n"
    N(P("G", 4), 18) "<barline location=\"right\"><ending number=\"1\" type=\"stop\"/><repeat direction=\"backward\"/></barline></measure>\n"
    "<measure number=\"4\"><barline location=\"left\"><ending number=\"2\" type=\"start\"/></barline>\n"
    N(P("A", 4), 18) "<barline location=\"right\"><ending number=\"2\" type=\"discontinue\"/></barline></measure>\n"
    "<measure number=\"5\"><attributes><time><beats>4</beats><beat-type>4</beat-type></time></attributes><sound tempo=\"120\"/>\n"
    "<harmony><root><root-step>G</root-step></root><kind>major</kind><degree><degree-value>7</degree-value>"
    "<degree-alter>0</degree-alter><degree-type>add</degree-type></degree></harmony>\n"
    N(P("C", 5), 24) "</measure>\n"
    "</part>\n"
    /* ---- P2: a B-flat clarinet, written a tone above concert (its A7 is G7) ---- */
    "<part id=\"P2\">\n"
    "<measure number=\"0\" implicit=\"yes\"><attributes><divisions>1</divisions><transpose><diatonic>-1</diatonic><chromatic>-2</chromatic></transpose></attributes>"
    "<note><rest/><duration>1</duration><voice>1</voice></note></measure>\n"
    "<measure number=\"1\">" N(P("D", 5), 4) "</measure>\n"
    "<measure number=\"2\"><note><rest measure=\"yes\"/><duration>3</duration><voice>1</voice></note></measure>\n"
    "<measure number=\"3\"><note><rest measure=\"yes\"/><duration>3</duration><voice>1</voice></note></measure>\n"
    "<measure number=\"4\"><note><rest measure=\"yes\"/><duration>3</duration><voice>1</voice></note></measure>\n"
    "<measure number=\"5\"><harmony><root><root-step>A</root-step></root><kind>dominant</kind></harmony>" N(P("E", 4), 4) "</measure>\n"
    "</part>\n"
    /* ---- P3: percussion ---- */
    "<part id=\"P3\">\n"
    "<measure number=\"0\" implicit=\"yes\"><attributes><divisions>1</divisions><clef><sign>percussion</sign></clef></attributes>"
    "<note><unpitched><display-step>F</display-step><display-octave>4</display-octave></unpitched><duration>1</duration>"
    "<instrument id=\"P3-I36\"/><voice>1</voice></note></measure>\n"
    "<measure number=\"1\"><note><unpitched><display-step>C</display-step><display-octave>5</display-octave></unpitched>"
    "<duration>1</duration><instrument id=\"P3-I39\"/><voice>1</voice></note><forward><duration>3</duration></forward></measure>\n"
    "</part>\n"
    "</score-partwise>\n";

static void check_lead_sheet(const gm_score *s, const char *what) {
    CHECK(s->ticks_per_quarter == 480, "%s: tpq %d", what, s->ticks_per_quarter);
    CHECK(s->n_tracks == 3, "%s: %d tracks", what, s->n_tracks);
    if (s->n_tracks != 3) return;
    const gm_track *m = &s->tracks[0], *c = &s->tracks[1], *d = &s->tracks[2];
    CHECK(!strcmp(m->name, "Melody") && m->program == 73 && m->channel == 0 && !m->is_drum, "%s: melody track", what);
    CHECK(gm_track_role(m) == GM_ROLE_LEAD, "%s: the melody part is lead", what);
    CHECK(!strcmp(c->name, "Clarinet in Bb") && c->program == 71 && c->channel == 1, "%s: clarinet track", what);
    CHECK(d->is_drum && d->channel == 9 && !strcmp(d->name, "Drumset"), "%s: drum track", what);
    /* bars: pickup 0-480, 1: 480-2400, 2: 2400-3840, volta 1: -5280,
     * 2 again: -6720, volta 2: -8160, 5: -10080 */
    static const int64_t mel[][3] = {
        {0, 67, 480},     {480, 69, 480},   {480, 72, 480},   {1200, 70, 1680}, {480, 53, 1920},
        {2880, 74, 160},  {3040, 76, 160},  {3200, 77, 160},  {3840, 67, 1440}, {5280, 70, 480},
        {5760, 74, 160},  {5920, 76, 160},  {6080, 77, 160},  {6720, 69, 1440}, {8160, 72, 1920},
    };
    CHECK(m->n_notes == sizeof mel / sizeof *mel, "%s: melody has %zu notes", what, m->n_notes);
    for (size_t i = 0; i < sizeof mel / sizeof *mel; i++)
        CHECK(has_note(m, mel[i][0], (int)mel[i][1], mel[i][2]), "%s: melody note %lld %lld %lld", what,
              (long long)mel[i][0], (long long)mel[i][1], (long long)mel[i][2]);
    CHECK(c->n_notes == 2 && has_note(c, 480, 72, 1920) && has_note(c, 8160, 62, 1920), "%s: clarinet at concert pitch", what);
    CHECK(d->n_notes == 2 && has_note(d, 0, 35, 480) && has_note(d, 480, 38, 480), "%s: drum keys from midi-unpitched", what);
    CHECK(s->n_tempos == 2 && s->tempos[0].tick == 0 && s->tempos[0].usec_per_quarter == 600000 &&
          s->tempos[1].tick == 8160 && s->tempos[1].usec_per_quarter == 500000, "%s: tempos", what);
    static const int ts[][3] = {{0, 1, 4}, {480, 4, 4}, {2400, 3, 4}, {8160, 4, 4}};
    int ok = s->n_timesigs == 4;
    for (int i = 0; ok && i < 4; i++)
        ok = s->timesigs[i].tick == ts[i][0] && s->timesigs[i].numerator == ts[i][1] && s->timesigs[i].denominator == ts[i][2];
    CHECK(ok, "%s: time signatures (%d)", what, s->n_timesigs);
    CHECK(s->n_keysigs >= 1 && s->keysigs[0].sharps == -1 && !s->keysigs[0].minor, "%s: key F major", what);
    CHECK(s->end_tick == 10080, "%s: end %lld", what, (long long)s->end_tick);
    static const int sym[][4] = {{480, 5, GM_Q_MAJ, -1}, {1440, 0, GM_Q_DOM7, 4}, {8160, 7, GM_Q_DOM7, -1}};
    ok = s->n_symbols == 3;
    for (int i = 0; ok && i < 3; i++)
        ok = s->symbols[i].tick == sym[i][0] && s->symbols[i].root == sym[i][1] && s->symbols[i].quality == sym[i][2] &&
             s->symbols[i].bass == sym[i][3];
    CHECK(ok, "%s: chord symbols F, C7/E, G7 (once) (%d)", what, s->n_symbols);
    if (s->n_symbols >= 2) CHECK(!strcmp(s->symbols[1].text, "C7/E"), "%s: text '%s'", what, s->symbols[1].text);
}

static void test_lead_sheet(void) {
    gm_score s;
    int rc = read_xml(k_score, &s);
    CHECK(rc == 0, "read: %s", g_err);
    if (rc) return;
    check_lead_sheet(&s, "partwise");
    /* Through the writer and back: every note, the metre, tempo and symbols. */
    uint8_t *x = NULL;
    size_t n = 0;
    gm_score back;
    if (gm_musicxml_write_mem(&s, &x, &n, g_err) == 0 && gm_musicxml_read_mem(x, n, &back, g_err) == 0) {
        check_lead_sheet(&back, "written and read back");
        gm_score_free(&back);
    } else {
        CHECK(0, "write → read: %s", g_err);
    }
    free(x);
    /* Any-format reader and the MIDI round trip keep it too. */
    gm_score any;
    CHECK(gm_score_read_mem((const uint8_t *)k_score, strlen(k_score), &any, g_err) == 0 && any.n_tracks == 3, "by content: %s", g_err);
    gm_score_free(&any);
    gm_score_free(&s);
}

/* The same notes written time-wise read the same. */
static void test_timewise(void) {
    const char *tw =
        "<score-timewise><part-list><score-part id=\"A\"><part-name>Lead</part-name></score-part>"
        "<score-part id=\"B\"><part-name>Bass</part-name><midi-instrument id=\"B1\"><midi-program>33</midi-program></midi-instrument></score-part></part-list>"
        "<measure number=\"1\"><part id=\"A\"><attributes><divisions>1</divisions><time><beats>2</beats><beat-type>4</beat-type></time></attributes>"
        N(P("C", 5), 1) N(P("D", 5), 1) "</part><part id=\"B\"><attributes><divisions>1</divisions></attributes>" N(P("C", 3), 2) "</part></measure>"
        "<measure number=\"2\"><part id=\"A\">" N(P("E", 5), 2) "</part><part id=\"B\">" N(P("G", 2), 2) "</part></measure>"
        "</score-timewise>";
    gm_score s;
    if (read_xml(tw, &s)) { CHECK(0, "timewise: %s", g_err); return; }
    CHECK(s.n_tracks == 2 && s.tracks[0].n_notes == 3 && s.tracks[1].n_notes == 2, "timewise: tracks and notes");
    if (s.n_tracks == 2) {
        CHECK(has_note(&s.tracks[0], 0, 72, 480) && has_note(&s.tracks[0], 480, 74, 480) && has_note(&s.tracks[0], 960, 76, 960), "timewise lead");
        CHECK(has_note(&s.tracks[1], 0, 48, 960) && has_note(&s.tracks[1], 960, 43, 960) && s.tracks[1].program == 32, "timewise bass");
    }
    CHECK(s.n_timesigs == 1 && s.timesigs[0].numerator == 2 && s.end_tick == 1920, "timewise metre");
    gm_score_free(&s);
}

/* ======================================================================== */
/* Writer round trip on a generated-looking score                            */
/* ======================================================================== */

static void test_writer_roundtrip(void) {
    gm_score s;
    gm_score_init(&s, 480);
    gm_score_add_tempo(&s, 0, 500000);
    gm_score_add_tempo(&s, 1920 * 2, 400000);
    gm_score_add_timesig(&s, 0, 4, 4);
    gm_score_add_timesig(&s, 1920 * 3, 3, 4);
    gm_score_add_keysig(&s, 0, 2, 0);
    int p = gm_score_add_track(&s, "piano", 0, 2, 0), dr = gm_score_add_track(&s, "drums", 0, 9, 1);
    gm_track *pt = &s.tracks[p];
    /* chords, a held note under moving ones (two voices), a note across the
     * bar line, dotted and sixteenth lengths, a long note over three bars */
    int64_t notes[][3] = {{0, 60, 960},    {0, 64, 960},   {0, 67, 960},   {960, 62, 240},  {1200, 65, 360},
                          {0, 48, 1920},   {1680, 72, 720}, {1920, 71, 120}, {2040, 69, 120}, {2400, 40, 1920 * 2 + 480},
                          {1920 * 3, 76, 1440}, {1920 * 3 + 240, 79, 960}};
    for (size_t i = 0; i < sizeof notes / sizeof *notes; i++) gm_track_add_note(pt, notes[i][0], notes[i][2], (int)notes[i][1], 98, 2);
    for (int k = 0; k < 12; k++) gm_track_add_note(&s.tracks[dr], k * 480, 120, k % 4 == 1 || k % 4 == 3 ? 38 : 36, 98, 9);
    for (int k = 0; k < 24; k++) gm_track_add_note(&s.tracks[dr], k * 240, 60, 42, 80, 9);
    gm_chord_symbol cs[] = {{0, 0, GM_Q_MAJ, -1, 0, "C"}, {960, 2, GM_Q_MIN7, -1, 0, "Dm7"}, {1920, 7, GM_Q_DOM7, 11, 0, "G7/B"},
                            {3840, -1, -1, -1, 0, "N.C."}, {5760, 9, GM_Q_M7B5, -1, 0, "Am7b5"}};
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) gm_score_add_symbol(&s, &cs[i]);
    gm_score_sort(&s);
    uint8_t *x = NULL;
    size_t n = 0;
    gm_score b;
    if (gm_musicxml_write_mem(&s, &x, &n, g_err) || gm_musicxml_read_mem(x, n, &b, g_err)) {
        CHECK(0, "round trip: %s", g_err);
        free(x);
        gm_score_free(&s);
        return;
    }
    CHECK(strstr((char *)x, "<unpitched>") && strstr((char *)x, "<midi-unpitched>39</midi-unpitched>") &&
          strstr((char *)x, "<harmony>") && strstr((char *)x, "<tie type=\"start\"/>") && strstr((char *)x, "<dot/>"),
          "the text has unpitched drums, harmony, ties, dots");
    CHECK(b.ticks_per_quarter == 480 && b.n_tracks == 2, "tracks %d", b.n_tracks);
    for (int t = 0; t < 2 && b.n_tracks == 2; t++) {
        const gm_track *a = &s.tracks[t], *c = &b.tracks[t];
        int same = a->n_notes == c->n_notes && a->is_drum == c->is_drum && !strcmp(a->name, c->name);
        for (size_t i = 0; same && i < a->n_notes; i++)
            same = c->notes[i].tick == a->notes[i].tick && c->notes[i].pitch == a->notes[i].pitch &&
                   c->notes[i].duration == a->notes[i].duration && c->notes[i].velocity == a->notes[i].velocity;
        CHECK(same, "track %d: the same notes (%zu, %zu)", t, a->n_notes, c->n_notes);
    }
    CHECK(b.n_tempos == 2 && b.tempos[1].tick == 3840 && b.tempos[1].usec_per_quarter == 400000, "tempos");
    CHECK(b.n_timesigs == 2 && b.timesigs[1].tick == 5760 && b.timesigs[1].numerator == 3, "metre");
    CHECK(b.n_keysigs == 1 && b.keysigs[0].sharps == 2, "key");
    int same = b.n_symbols == s.n_symbols;
    for (int i = 0; same && i < s.n_symbols; i++)
        same = b.symbols[i].tick == s.symbols[i].tick && b.symbols[i].root == s.symbols[i].root &&
               b.symbols[i].quality == s.symbols[i].quality && b.symbols[i].bass == s.symbols[i].bass;
    CHECK(same, "chord symbols (%d of %d)", b.n_symbols, s.n_symbols);
    gm_score_free(&b);
    free(x);
    /* .mxl through a file, and .musicxml */
    char path[] = "/tmp/gm_test_mxl_XXXXXX";
    if (mkdtemp(path)) {
        char f1[64], f2[64];
        snprintf(f1, sizeof f1, "%s/a.mxl", path);
        snprintf(f2, sizeof f2, "%s/a.musicxml", path);
        CHECK(gm_score_write_file(f1, &s, g_err) == 0 && gm_score_write_file(f2, &s, g_err) == 0, "write files: %s", g_err);
        gm_score c1, c2;
        CHECK(gm_score_read_file(f1, &c1, g_err) == 0 && gm_score_n_notes(&c1) == gm_score_n_notes(&s) && c1.n_symbols == 5, ".mxl: %s", g_err);
        CHECK(gm_musicxml_read_file(f2, &c2, g_err) == 0 && gm_score_n_notes(&c2) == gm_score_n_notes(&s), ".musicxml: %s", g_err);
        size_t zn = 0;
        uint8_t *z = test_slurp(f1, &zn);
        CHECK(z && zn > 30 && !memcmp(z, "PK\3\4", 4) && !memcmp(z + 30, "mimetype", 8), ".mxl starts with its stored mimetype");
        free(z);
        gm_score_free(&c1);
        gm_score_free(&c2);
        unlink(f1), unlink(f2), rmdir(path);
    }
    gm_score_free(&s);
}

/* ======================================================================== */
/* Malformed files                                                           */
/* ======================================================================== */

/* A minimal score around one measure's content. */
static char *one_measure(const char *attrs, const char *content) {
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "<score-partwise><part-list><score-part id=\"P1\"><part-name>x</part-name></score-part></part-list>"
             "<part id=\"P1\"><measure number=\"1\"><attributes>%s</attributes>%s</measure></part></score-partwise>",
             attrs, content);
    return buf;
}

static void expect_error(const char *what, const uint8_t *data, size_t n, const char *want) {
    gm_score s;
    g_err[0] = 0;
    int rc = gm_musicxml_read_mem(data, n, &s, g_err);
    CHECK(rc != 0 && g_err[0] && !strchr(g_err, '\n') && (!want || strstr(g_err, want)), "%s: rc %d, '%s'", what, rc, g_err);
    if (rc == 0) gm_score_free(&s);
}

static void expect_xml_error(const char *what, const char *xml, const char *want) {
    expect_error(what, (const uint8_t *)xml, strlen(xml), want);
}

#ifndef GM_NO_MUSICXML
/* A zip in memory of (name, data, size) entries; *n its size. */
static uint8_t *make_zip(const char **names, const char **data, const size_t *sizes, int k, size_t *n) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *z = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    zip_source_keep(src);
    for (int i = 0; i < k; i++) zip_file_add(z, names[i], zip_source_buffer(z, data[i], sizes[i], 0), 0);
    zip_close(z);
    zip_stat_t st;
    zip_source_stat(src, &st);
    uint8_t *out = malloc(st.size);
    zip_source_open(src);
    zip_source_read(src, out, st.size);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&ze);
    *n = st.size;
    return out;
}
#endif

static void test_malformed(void) {
    expect_error("empty", (const uint8_t *)"", 0, "empty");
    char trunc[300];
    memcpy(trunc, k_score, sizeof trunc - 1);
    trunc[sizeof trunc - 1] = 0;
    expect_xml_error("truncated XML", trunc, "bad XML");
    expect_xml_error("not XML at all", "<<<>>>", "bad XML");
    expect_xml_error("another root", "<html><body/></html>", "not MusicXML");
    expect_xml_error("no part list", "<score-partwise><part id=\"P1\"/></score-partwise>", "part-list");
    expect_xml_error("no measures", "<score-partwise><part-list><score-part id=\"P1\"/></part-list><part id=\"P1\"/></score-partwise>", "no measures");
    expect_xml_error("missing divisions", one_measure("", N(P("C", 4), 1)), "divisions");
    expect_xml_error("divisions 0", one_measure("<divisions>0</divisions>", N(P("C", 4), 1)), "divisions");
    expect_xml_error("divisions -3", one_measure("<divisions>-3</divisions>", N(P("C", 4), 1)), "divisions");
    expect_xml_error("huge duration", one_measure("<divisions>1</divisions>", N(P("C", 4), 1e15)), "duration");
    expect_xml_error("negative duration", one_measure("<divisions>1</divisions>", N(P("C", 4), -4)), "duration");
    expect_xml_error("duration not a number", one_measure("<divisions>1</divisions>", N(P("C", 4), abc)), "duration");
    expect_xml_error("note without duration", one_measure("<divisions>1</divisions>", "<note>" P("C", 4) "</note>"), "duration");
    expect_xml_error("alter -100", one_measure("<divisions>1</divisions>", N(PA("C", -100, 4), 1)), "alter");
    expect_xml_error("above MIDI", one_measure("<divisions>1</divisions>", N(PA("B", 12, 9), 1)), "range");
    expect_xml_error("step H", one_measure("<divisions>1</divisions>", N(P("H", 4), 1)), "step");
    expect_xml_error("octave 12", one_measure("<divisions>1</divisions>", N(P("C", 12), 1)), "octave");
    expect_xml_error("unknown kind", one_measure("<divisions>1</divisions>",
                     "<harmony><root><root-step>C</root-step></root><kind>weird</kind></harmony>" N(P("C", 4), 4)), "kind");
    expect_xml_error("harmony root H", one_measure("<divisions>1</divisions>",
                     "<harmony><root><root-step>H</root-step></root><kind>major</kind></harmony>" N(P("C", 4), 4)), "root");
    expect_xml_error("beats 1000000", one_measure("<divisions>1</divisions><time><beats>1000000</beats><beat-type>4</beat-type></time>", ""), "beats");
    expect_xml_error("beat type 3", one_measure("<divisions>1</divisions><time><beats>4</beats><beat-type>3</beat-type></time>", ""), "beat type");
    expect_xml_error("repeat 1000 times", one_measure("<divisions>1</divisions>",
                     N(P("C", 4), 4) "<barline><repeat direction=\"backward\" times=\"1000\"/></barline>"), "times");
    expect_xml_error("unpitched without key", one_measure("<divisions>1</divisions>",
                     "<note><unpitched/><duration>1</duration></note>"), "unpitched");
    expect_xml_error("opus", "<opus><title>x</title></opus>", "opus");
    /* 10^6 measures; and repeats playing out to more than 100,000 bars */
    size_t big = 1000000 * 10 + 400;
    char *m = malloc(big);
    if (m) {
        size_t k = (size_t)sprintf(m, "<score-partwise><part-list><score-part id=\"P1\"/></part-list><part id=\"P1\">");
        for (int i = 0; i < 1000000; i++) memcpy(m + k, "<measure/>", 10), k += 10;
        k += (size_t)sprintf(m + k, "</part></score-partwise>");
        expect_error("a million measures", (const uint8_t *)m, k, "measures");
        k = (size_t)sprintf(m, "<score-partwise><part-list><score-part id=\"P1\"/></part-list><part id=\"P1\">"
                               "<measure><attributes><divisions>1</divisions></attributes></measure>");
        for (int i = 0; i < 10000; i++) k += (size_t)sprintf(m + k, "<measure><barline><repeat direction=\"backward\" times=\"16\"/></barline></measure>");
        k += (size_t)sprintf(m + k, "</part></score-partwise>");
        expect_error("repeats to 160,000 bars", (const uint8_t *)m, k, "100000 bars");
        free(m);
    }
#ifndef GM_NO_MUSICXML
    /* .mxl: not a zip, a container naming a missing file, a zip bomb */
    expect_error("PK but no zip", (const uint8_t *)"PK\3\4garbagegarbagegarbage", 25, "zip");
    const char *container = "<container><rootfiles><rootfile full-path=\"nowhere.xml\"/></rootfiles></container>";
    const char *names[] = {"META-INF/container.xml", "score.xml"};
    const char *datas[] = {container, k_score};
    size_t sizes[] = {strlen(container), strlen(k_score)};
    size_t zn = 0;
    uint8_t *z = make_zip(names, datas, sizes, 2, &zn);
    expect_error("container points nowhere", z, zn, "lacks");
    free(z);
    const char *c2 = "<container><rootfiles/></container>";
    datas[0] = c2, sizes[0] = strlen(c2);
    z = make_zip(names, datas, sizes, 2, &zn);
    expect_error("container names nothing", z, zn, "no score");
    free(z);
    const char *bad_container = "<container><rootfiles>";
    datas[0] = bad_container, sizes[0] = strlen(bad_container);
    z = make_zip(names, datas, sizes, 2, &zn);
    expect_error("container not XML", z, zn, "container.xml");
    free(z);
    size_t bomb_n = (size_t)80 << 20;
    char *bomb = malloc(bomb_n);
    if (bomb) {
        memset(bomb, ' ', bomb_n);
        memcpy(bomb, "<score-partwise>", 16);
        const char *bn[] = {"score.musicxml"};
        const char *bd[] = {bomb};
        z = make_zip(bn, bd, &bomb_n, 1, &zn);
        free(bomb);
        CHECK(zn < ((size_t)1 << 20), "the bomb is small (%zu bytes)", zn);
        expect_error("zip bomb", z, zn, "64 MiB");
        free(z);
    }
    /* A good .mxl without container.xml: the one score file inside. */
    const char *gn[] = {"song.musicxml"};
    const char *gd[] = {k_score};
    size_t gs[] = {strlen(k_score)};
    z = make_zip(gn, gd, gs, 1, &zn);
    gm_score s;
    CHECK(gm_musicxml_read_mem(z, zn, &s, g_err) == 0 && s.n_tracks == 3, ".mxl without container: %s", g_err);
    if (s.n_tracks == 3) gm_score_free(&s);
    free(z);
#endif
    /* Negative alter is a flat, not an error. */
    gm_score s2;
    CHECK(read_xml(one_measure("<divisions>1</divisions>", N(PA("B", -1, 3), 1) N(PA("C", -1, 4), 1)), &s2) == 0 &&
          s2.n_tracks == 1 && has_note(&s2.tracks[0], 0, 58, 480) && has_note(&s2.tracks[0], 480, 59, 480), "flats: %s", g_err);
    if (s2.n_tracks) gm_score_free(&s2);
}

int main(void) {
#ifdef GM_NO_MUSICXML
    SKIP("built without libxml2/libzip: MusicXML not tested");
    return test_done("test_musicxml");
#endif
    test_lead_sheet();
    test_timewise();
    test_writer_roundtrip();
    test_malformed();
    return test_done("test_musicxml");
}
