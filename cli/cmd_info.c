/* cmd_info.c — `getmusic info`: what a song holds (tracks and their classes,
 * tempo, metre, bars, key, chords) or, with --model, what a model file holds. */
#include "cli.h"

#include "getmusic.h"
#include "util.h" /* gm_json_fstr */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- info --model ------------------------------------------------------ */

/* Keys that describe the model's structure (shown as sizes, layout, rows
 * and vocabulary); every other key of the file is provenance: where the
 * weights came from and how they were trained. */
static int structural_key(const char *k) {
    static const char *const exact[] = {
        "general.architecture", "general.alignment", "getmusic.rows", "getmusic.vocab_size", "getmusic.embd", "getmusic.hidden",
        "getmusic.layers", "getmusic.heads", "getmusic.ffn", "getmusic.max_cols", "getmusic.diffusion_steps",
        "getmusic.dropout", "getmusic.layout", "getmusic.tokens", "getmusic.token_counts",
        "getmusic.chord_frames_per_bar", "getmusic.token_features", "getmusic.bar_positions", "getmusic.drum_styles",
        "getmusic.harmonizer.hidden", "getmusic.harmonizer.layers", "getmusic.harmonizer.members",
        "getmusic.harmonizer.source"};
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        if (!strcmp(k, exact[i])) return 1;
    return !strncmp(k, "getmusic.layout.", 16);
}

typedef struct { int json, n; } provenance_out;

static int print_provenance_key(void *user, const char *key, const char *value) {
    provenance_out *o = user;
    if (structural_key(key)) return 0;
    if (o->json) {
        printf("%s", o->n ? ", " : "");
        cli_json_str(key);
        printf(": ");
        cli_json_str(value);
    } else {
        printf("  %-28s %.200s%s\n", key, value, strlen(value) > 200 ? " ..." : "");
    }
    o->n++;
    return 0;
}

/* Row r of the model's grid: its track (or "chords"), kind and how many
 * tokens it may hold besides <pad>, from the vocabulary's ranges. */
static void model_row(const gm_layout *l, const gm_vocab *v, int r, const char **track, const char **kind, int *n) {
    static const char *const kinds[] = {[GM_ROW_PITCH] = "pitch", [GM_ROW_DURATION] = "duration",
                                        [GM_ROW_CHORD_ROOT] = "root", [GM_ROW_CHORD_QUALITY] = "quality"};
    int b = 0, e = 0, cls = gm_row_class(l->n_classes, r);
    gm_vocab_row_range(v, r, &b, &e);
    *track = cls < 0 ? "chords" : l->cls[cls].name;
    *kind = kinds[gm_row_kind_of(l->n_classes, r)];
    *n = e - b;
}

static void info_model_json(const char *path, gm_model *m) {
    gm_model_params s = gm_model_sizes(m);
    const gm_layout *l = gm_model_layout(m);
    const gm_vocab *v = gm_model_vocab(m);
    printf("{\"model\": ");
    cli_json_str(path);
    printf(", \"parameters\": %zu, \"embd\": %d, \"hidden\": %d, \"layers\": %d, \"heads\": %d, \"ffn\": %d, "
           "\"max_cols\": %d, \"diffusion_steps\": %d, \"token_features\": %d, \"bar_positions\": %d, "
           "\"vocab_size\": %d, \"chord_frames_per_bar\": %d, \"layout\": ",
           gm_model_n_params(m), s.embd, s.hidden, s.layers, s.heads, s.ffn, s.max_cols, s.diffusion_steps,
           s.token_features, s.bar_positions, gm_vocab_size(v), gm_model_chord_frames(m));
    cli_json_str(l->name);
    printf(", \"harmonizer\": ");
    if (gm_model_harmonizer(m)) cli_json_str(gm_harmonizer_source(gm_model_harmonizer(m)));
    else printf("null");
    printf(", \"drum_styles\": [");
    for (int i = 0; i < s.drum_styles; i++) {
        printf(i ? ", " : "");
        cli_json_str(gm_model_drum_style_name(m, i));
    }
    printf("], \"classes\": [");
    for (int c = 0; c < l->n_classes; c++) {
        printf("%s", c ? ", " : "");
        cli_json_str(l->cls[c].name);
    }
    printf("], \"drums\": [");
    for (int c = 0, f = 0; c < l->n_classes; c++)
        if (l->cls[c].is_drum) { printf("%s", f++ ? ", " : ""); cli_json_str(l->cls[c].name); }
    printf("], \"rows\": [");
    for (int r = 0; r < gm_layout_rows(l); r++) {
        const char *track, *kind;
        int n;
        model_row(l, v, r, &track, &kind, &n);
        printf("%s{\"row\": %d, \"track\": ", r ? ", " : "", r);
        cli_json_str(track);
        printf(", \"kind\": \"%s\", \"tokens\": %d}", kind, n);
    }
    printf("], \"source\": ");
    cli_json_str(gm_model_source(m));
    printf(", \"provenance\": {");
    provenance_out o = {.json = 1};
    char err[GM_ERR_SIZE];
    gm_gguf_keys(path, print_provenance_key, &o, err); /* the file just loaded: fails only in a race */
    printf("}}\n");
}

static void info_model_text(const char *path, gm_model *m) {
    gm_model_params s = gm_model_sizes(m);
    const gm_layout *l = gm_model_layout(m);
    const gm_vocab *v = gm_model_vocab(m);
    printf("model     %s\n", path);
    printf("network   %.2f M parameters: embd %d, hidden %d, %d layers, %d heads, ffn %d, up to %d columns, "
           "%d diffusion steps\n", gm_model_n_params(m) / 1e6, s.embd, s.hidden, s.layers, s.heads, s.ffn,
           s.max_cols, s.diffusion_steps);
    if (s.token_features) printf("tokens    %d tokens, pitch-factorised (%d token features)\n", gm_vocab_size(v), s.token_features);
    else printf("tokens    %d tokens, one vector each (no token features)\n", gm_vocab_size(v));
    if (s.bar_positions) printf("bars      each column's position in its bar is an input (%d positions)\n", s.bar_positions);
    if (s.drum_styles) {
        printf("styles   ");
        for (int i = 0; i < s.drum_styles; i++) printf(" %s", gm_model_drum_style_name(m, i));
        printf(" (generate --drum-style)\n");
    }
    printf("layout    %s:", l->name);
    for (int c = 0; c < l->n_classes; c++) printf(" %s%s", l->cls[c].name, l->cls[c].is_drum ? " (drums)" : "");
    printf("\nchords    %d per bar\n", gm_model_chord_frames(m));
    const gm_harmonizer *hz = gm_model_harmonizer(m);
    if (hz) printf("harmoniser learnt, for bare melodies: %s\n", gm_harmonizer_source(hz)[0] ? gm_harmonizer_source(hz) : "-");
    else printf("harmoniser none in the file: a bare melody's chords come from the built-in HMM\n");
    printf("source    %s\n", gm_model_source(m)[0] ? gm_model_source(m) : "-");
    printf("rows      %d; the tokens each may hold (and <pad>):\n", gm_layout_rows(l));
    for (int r = 0; r < gm_layout_rows(l); r++) {
        const char *track, *kind;
        int n;
        model_row(l, v, r, &track, &kind, &n);
        printf("  %2d  %-10s %-9s %5d\n", r, track, kind, n);
    }
    printf("provenance (the file's other keys):\n");
    provenance_out o = {0};
    char err[GM_ERR_SIZE];
    gm_gguf_keys(path, print_provenance_key, &o, err);
    if (!o.n) printf("  (none)\n");
}

/* getmusic info --model MODEL.gguf: sizes, layout, rows and their
 * vocabularies, provenance. */
static int info_model(const char *path, int json) {
    char err[GM_ERR_SIZE];
    gm_model *m = gm_model_load(path, err);
    if (!m) return cli_fail(EXIT_USAGE, "%s", err);
    if (json) info_model_json(path, m);
    else info_model_text(path, m);
    gm_model_free(m);
    return 0;
}

/* ---- info SONG.mid ------------------------------------------------------ */

void usage_info(FILE *f) {
    fprintf(f, "usage: getmusic info SONG.mid [--json] [--layout default|original] [--metre M] [--pickup BEATS]\n"
               "       getmusic info --model MODEL.gguf [--json]\n"
               "  A song: its tracks (channel, program, notes, role, the layout's class),\n"
               "  tempo, metre, bars, key and chords per bar, and the chord symbols the file holds\n"
               "  (MusicXML <harmony>, chord names in MIDI text events). SONG.mid (or .musicxml,\n"
               "  .mxl) '-' reads standard input.\n"
               "  A model: its tracks (classes), vocabulary size per row, architecture sizes,\n"
               "  parameter count and the training provenance the file records.\n"
               "  --json          one JSON object on stdout\n"
               "  --layout L      the layout whose classes the tracks get (default: default)\n"
               "  The metre line says where the bars come from: the file, a beat_midi.txt\n"
               "  beside it, or inferred from the music (when the file's are absent or 1/4\n"
               "  all through).\n" CLI_METRE_HELP);
}

/* What info shows of a song: the score with its bar lines, the chord of
 * every bar, the key. */
typedef struct {
    const char *path;
    gm_layout layout;
    gm_score s;
    gm_metre metre;         /* the bars and where they came from (file, beat_midi.txt, inferred) */
    gm_barmap bm;
    gm_chord *chords;       /* [bm.n_bars] */
    gm_key key;
    double secs;
} song_facts;

static void song_facts_free(song_facts *f) {
    free(f->chords);
    gm_metre_free(&f->metre);
    gm_barmap_free(&f->bm);
    gm_score_free(&f->s);
}

/* Reads the song and works out its facts. 0, or the exit status after a
 * one-line message (nothing left to free). */
static int song_facts_load(song_facts *f, const char *in, const char *layout_name, const gm_metre_request *req) {
    char err[GM_ERR_SIZE];
    memset(f, 0, sizeof *f);
    f->path = in;
    if (gm_layout_preset(&f->layout, layout_name, err)) return cli_fail(EXIT_USAGE, "%s", err);
    /* The bars: the file's, a POP909 beat annotation beside it, or the music's. */
    if (cli_read_song(in, &f->s, req, &f->metre, err)) return cli_fail(EXIT_USAGE, "%s: %s", cli_shown(in), err);
    if (gm_barmap_build(&f->bm, &f->s, GM_STEPS_PER_QUARTER, err)) {
        song_facts_free(f);
        return cli_fail(EXIT_USAGE, "%s: %s", in, err);
    }
    f->chords = malloc((size_t)f->bm.n_bars * sizeof *f->chords);
    if (!f->chords || gm_chords_recognize(&f->s, &f->bm, f->chords, err)) {
        int oom = !f->chords;
        song_facts_free(f);
        return cli_fail(EXIT_INTERNAL, "%s: chord recognition failed: %s", in, oom ? "out of memory" : err);
    }
    f->key = gm_key_find(&f->s);
    f->secs = gm_score_tick_to_seconds(&f->s, f->s.end_tick);
    return 0;
}

/* Where a chord symbol was read from. */
static const char *symbol_source(int src) {
    switch (src) {
    case GM_SYMBOL_MUSICXML: return "musicxml";
    case GM_SYMBOL_TEXT: return "text";
    case GM_SYMBOL_LYRIC: return "lyric";
    case GM_SYMBOL_MARKER: return "marker";
    case GM_SYMBOL_CUE: return "cue";
    default: return "other";
    }
}

/* Beat of a tick in its bar, 1-based, in beats of the bar's denominator. */
static double symbol_beat(const gm_score *s, const gm_barmap *bm, int64_t tick, int *bar) {
    int b = gm_barmap_bar_of_tick(bm, tick);
    *bar = b + 1;
    if (b < 0 || b >= bm->n_bars) return 1;
    return 1 + (double)(tick - bm->bar_tick[b]) * bm->bar_den[b] / (4.0 * s->ticks_per_quarter);
}

/* The song summary of `info --json` (also the studio's, cli.h). */
void cli_song_info_json(FILE *out, const char *file, const gm_score *s, const gm_barmap *bm, const gm_layout *layout,
                        const gm_chord *chords, gm_key key) {
    cli_song_info_json_metre(out, file, s, bm, layout, chords, key, NULL);
}

void cli_song_info_json_metre(FILE *out, const char *file, const gm_score *s, const gm_barmap *bm, const gm_layout *layout,
                              const gm_chord *chords, gm_key key, const gm_metre *metre) {
    char kb[32], cb[16];
    gm_key_name(key, kb, sizeof kb);
    fprintf(out, "{\"file\": ");
    gm_json_fstr(out, file);
    fprintf(out, ", \"format\": %d, \"ticks_per_quarter\": %d, \"end_tick\": %lld, \"seconds\": %.3f, \"bars\": %d, "
            "\"columns\": %d, \"notes\": %zu, \"key\": ",
            s->midi_format, s->ticks_per_quarter, (long long)s->end_tick, gm_score_tick_to_seconds(s, s->end_tick),
            bm->n_bars, bm->n_cols, gm_score_n_notes(s));
    gm_json_fstr(out, kb);
    fprintf(out, ", \"key_shift_to_c\": %d, \"layout\": ", gm_key_shift_to_c(key));
    gm_json_fstr(out, layout->name);
    fprintf(out, ", \"tempos\": [");
    for (int i = 0; i < s->n_tempos; i++)
        fprintf(out, "%s{\"tick\": %lld, \"bar\": %d, \"bpm\": %.3f}", i ? ", " : "", (long long)s->tempos[i].tick,
                gm_barmap_bar_of_tick(bm, s->tempos[i].tick) + 1, 60e6 / s->tempos[i].usec_per_quarter);
    fprintf(out, "], \"time_signatures\": [");
    for (int i = 0; i < s->n_timesigs; i++)
        fprintf(out, "%s{\"tick\": %lld, \"bar\": %d, \"numerator\": %d, \"denominator\": %d}", i ? ", " : "",
                (long long)s->timesigs[i].tick, gm_barmap_bar_of_tick(bm, s->timesigs[i].tick) + 1,
                s->timesigs[i].numerator, s->timesigs[i].denominator);
    fprintf(out, "]");
    if (metre) {
        fprintf(out, ", \"metre\": {\"numerator\": %d, \"denominator\": %d, \"first_downbeat_tick\": %lld, "
                "\"odd_bars\": %d, \"confidence\": %.3f, \"source\": ", metre->numerator, metre->denominator,
                (long long)metre->downbeat_tick, metre->n_odd_bars, metre->confidence);
        gm_json_fstr(out, gm_metre_source_name(metre->source));
        fprintf(out, "}");
    }
    fprintf(out, ", \"tracks\": [");
    for (int i = 0; i < s->n_tracks; i++) {
        const gm_track *t = &s->tracks[i];
        int cls = gm_layout_classify(layout, t);
        fprintf(out, "%s{\"index\": %d, \"name\": ", i ? ", " : "", i);
        gm_json_fstr(out, t->name);
        fprintf(out, ", \"channel\": %d, \"program\": %d, \"program_name\": ", t->channel + 1, t->program);
        gm_json_fstr(out, t->is_drum ? "Drum kit" : cli_program_names[t->program & 127]);
        fprintf(out, ", \"drums\": %s, \"notes\": %zu, \"role\": ", t->is_drum ? "true" : "false", t->n_notes);
        gm_json_fstr(out, gm_role_name(gm_track_role(t)));
        fprintf(out, ", \"class\": ");
        if (cls >= 0) gm_json_fstr(out, layout->cls[cls].name); else fprintf(out, "null");
        fprintf(out, "}");
    }
    fprintf(out, "], \"chords\": [");
    for (int b = 0; b < bm->n_bars; b++) {
        fprintf(out, "%s", b ? ", " : "");
        gm_json_fstr(out, gm_chord_name(chords[b], cb, sizeof cb));
    }
    fprintf(out, "], \"chord_symbols\": [");
    for (int i = 0; i < s->n_symbols; i++) {
        const gm_chord_symbol *c = &s->symbols[i];
        int bar;
        double beat = symbol_beat(s, bm, c->tick, &bar);
        fprintf(out, "%s{\"tick\": %lld, \"bar\": %d, \"beat\": %.4g, \"text\": ", i ? ", " : "", (long long)c->tick, bar, beat);
        gm_json_fstr(out, c->text);
        fprintf(out, ", \"chord\": ");
        if (c->root >= 0) gm_json_fstr(out, gm_chord_name((gm_chord){c->root, c->quality}, cb, sizeof cb));
        else fprintf(out, "null");
        fprintf(out, ", \"source\": ");
        gm_json_fstr(out, symbol_source(c->source));
        fprintf(out, "}");
    }
    fprintf(out, "]}");
}

static void info_song_text(const song_facts *f) {
    const gm_score *s = &f->s;
    const gm_barmap *bm = &f->bm;
    const gm_layout *layout = &f->layout;
    char kb[32], cb[16];
    gm_key_name(f->key, kb, sizeof kb);
    int mins = (int)(f->secs / 60);
    if (gm_path_is_musicxml(f->path)) printf("file      %s (MusicXML, %d ticks per quarter)\n", f->path, s->ticks_per_quarter);
    else printf("file      %s (MIDI type %d, %d ticks per quarter)\n", f->path, s->midi_format, s->ticks_per_quarter);
    printf("length    %d bars, %d:%04.1f, %zu notes\n", bm->n_bars, mins, f->secs - 60 * mins, gm_score_n_notes(s));
    printf("tempo    ");
    if (!s->n_tempos) printf(" 120 bpm (default)");
    for (int i = 0; i < s->n_tempos && i < 8; i++)
        printf(" %.1f bpm (bar %d)%s", 60e6 / s->tempos[i].usec_per_quarter, gm_barmap_bar_of_tick(bm, s->tempos[i].tick) + 1,
               i + 1 < s->n_tempos ? "," : "");
    if (s->n_tempos > 8) printf(" ... %d changes in all", s->n_tempos);
    printf("\nmetre    ");
    if (!s->n_timesigs) printf(" 4/4 (default)");
    for (int i = 0; i < s->n_timesigs && i < 8; i++)
        printf(" %d/%d (bar %d)%s", s->timesigs[i].numerator, s->timesigs[i].denominator,
               gm_barmap_bar_of_tick(bm, s->timesigs[i].tick) + 1, i + 1 < s->n_timesigs ? "," : "");
    if (s->n_timesigs > 8) printf(" ... %d changes in all", s->n_timesigs);
    printf("  (%s", gm_metre_source_name(f->metre.source));
    if (f->metre.source == GM_METRE_BEAT_FILE) printf(" beside the file");
    if (f->metre.source == GM_METRE_INFERRED) {
        printf(", confidence %.2f", f->metre.confidence);
        if (f->metre.n_odd_bars) printf(", %d odd bar%s", f->metre.n_odd_bars, f->metre.n_odd_bars == 1 ? "" : "s");
    }
    printf(")");
    printf("\nkey       %s (shift to C major / A minor: %+d)\n", kb, gm_key_shift_to_c(f->key));
    printf("tracks    (layout '%s')\n", layout->name);
    printf("   #  %-20s %3s  %-24s %6s  %-8s %s\n", "name", "ch", "program", "notes", "role", "class");
    for (int i = 0; i < s->n_tracks; i++) {
        const gm_track *t = &s->tracks[i];
        int cls = gm_layout_classify(layout, t);
        char pn[40];
        if (t->is_drum) snprintf(pn, sizeof pn, "drums");
        else snprintf(pn, sizeof pn, "%d %s", t->program, cli_program_names[t->program & 127]);
        printf("  %2d  %-20.20s %3d  %-24.24s %6zu  %-8s %s\n", i, t->name[0] ? t->name : "-", t->channel + 1, pn,
               t->n_notes, gm_role_name(gm_track_role(t)), cls >= 0 ? layout->cls[cls].name : "(none: passed through)");
    }
    printf("chords    (one per bar)\n");
    for (int b = 0; b < bm->n_bars; b++) {
        if (b % 8 == 0) printf("  %4d |", b + 1);
        printf(" %-6s", gm_chord_name(f->chords[b], cb, sizeof cb));
        if (b % 8 == 7 || b + 1 == bm->n_bars) printf("\n");
    }
    if (!s->n_symbols) return;
    printf("symbols   %d chord symbol%s in the file (%s; bar.beat, as written)\n", s->n_symbols,
           s->n_symbols == 1 ? "" : "s", symbol_source(s->symbols[0].source));
    for (int i = 0; i < s->n_symbols; i++) {
        int bar;
        double beat = symbol_beat(s, bm, s->symbols[i].tick, &bar);
        char at[32];
        snprintf(at, sizeof at, "%d.%g", bar, beat);
        if (i % 6 == 0) printf("  ");
        printf(" %-7s %-9s", at, s->symbols[i].text);
        if (i % 6 == 5 || i + 1 == s->n_symbols) printf("\n");
    }
}

/* The command line's words: the song, and --metre / --pickup. */
typedef struct {
    cli_one_input one; /* first: cli_word_one_input reads it */
    gm_metre_request req;
} info_args;

static int metre_option(void *user, const char *opt, const char *val) {
    return cli_metre_option(opt, val, &((info_args *)user)->req) ? EXIT_USAGE : 0;
}

int cmd_info(int argc, char **argv) {
    const char *in = NULL, *layout_name = "default", *model = NULL;
    int json = 0;
    info_args args = {{"info", NULL}, {0, 0, -1, 0}};
    const cli_opt opts[] = {
        CLI_FLAG("--json", NULL, &json),
        CLI_CALL("--metre", "--pickup", metre_option),
        CLI_STR("--model", NULL, &model),
        CLI_STR("--layout", NULL, &layout_name),
        CLI_END,
    };
    int parsed = cli_parse_options("info", argc, argv, opts, cli_word_one_input, &args);
    if (parsed) return parsed;
    in = args.one.in;
    gm_metre_request req = args.req;
    if (model && !in) return info_model(model, json);
    if (model) return cli_fail(EXIT_USAGE, "info: a song or --model, not both");
    if (!in) return cli_fail(EXIT_USAGE, "usage: getmusic info SONG.mid [--json] [--layout default|original]\n"
                                    "       getmusic info --model MODEL.gguf [--json]");
    song_facts f;
    int status = song_facts_load(&f, in, layout_name, &req);
    if (status) return status;
    if (json) {
        cli_song_info_json_metre(stdout, f.path, &f.s, &f.bm, &f.layout, f.chords, f.key, &f.metre);
        printf("\n");
    } else {
        info_song_text(&f);
    }
    song_facts_free(&f);
    return 0;
}
