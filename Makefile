# getmusic — build, test, bench, demo. See README.md.
CC      ?= gcc
CFLAGS  ?= -O2 -g
# OpenBLAS: Debian's OpenMP build, linked by path, so that its threads and
# our OpenMP regions share one libgomp pool instead of two pools fighting over
# two cores (whatever the system's libblas alternative points at).
OPENBLAS_DIR ?= /usr/lib/x86_64-linux-gnu/openblas-openmp
ifneq ($(wildcard $(OPENBLAS_DIR)/libopenblas.so.0),)
  BLAS_CFLAGS := -I/usr/include/x86_64-linux-gnu/openblas-openmp
  BLAS_LIBS   := -L$(OPENBLAS_DIR) -l:libopenblas.so.0 -Wl,-rpath,$(OPENBLAS_DIR)
else
  BLAS_LIBS   := -lopenblas
endif
# `override` so that `make CFLAGS=...` (as sanitize does) keeps these.
override CFLAGS += -std=c11 -Wall -Wextra -D_GNU_SOURCE -Iinclude -Isrc -pthread -fopenmp $(BLAS_CFLAGS)
# FluidSynth renders WAV (src/audio/render.c). Without its headers the library still
# builds, and rendering returns an error saying so (tests skip). GLib (a
# FluidSynth dependency) lets render.c mute the glib messages that Debian's
# libinstpatch SoundFont loader prints on a bad file.
ifneq ($(wildcard /usr/include/fluidsynth.h),)
  GLIB_LIBS := $(shell pkg-config --libs glib-2.0 2>/dev/null)
  FLUIDSYNTH_LIBS := -lfluidsynth $(GLIB_LIBS)
  ifneq ($(GLIB_LIBS),)
    override CFLAGS += $(shell pkg-config --cflags glib-2.0 2>/dev/null) -DGM_GLIB_LOG
  endif
else
  override CFLAGS += -DGM_NO_FLUIDSYNTH
endif
# Audio in (src/audio/audio.c, src/audio/transcribe.c): libsndfile and aubio. Without
# their headers, transcription returns an error saying so (tests skip).
ifneq ($(and $(wildcard /usr/include/sndfile.h),$(wildcard /usr/include/aubio/aubio.h)),)
  AUDIO_LIBS := -laubio -lsndfile
else
  override CFLAGS += -DGM_NO_AUDIO
endif
# MusicXML (src/music/musicxml*.c): libxml2, and libzip for compressed .mxl. Without
# their headers, reading or writing MusicXML returns an error saying so.
ifneq ($(and $(wildcard /usr/include/libxml2/libxml/parser.h),$(wildcard /usr/include/zip.h)),)
  override CFLAGS += -I/usr/include/libxml2
  MUSICXML_LIBS := -lxml2 -lzip
else
  override CFLAGS += -DGM_NO_MUSICXML
endif
override LDLIBS += $(BLAS_LIBS) -fopenmp -lpng -lm -pthread $(FLUIDSYNTH_LIBS) $(AUDIO_LIBS) $(MUSICXML_LIBS)
BUILD   ?= build

# The library, a folder per layer (src/music, src/model, src/audio, src/draw,
# src/eval) around src/util.c; objects keep the folder (build/obj/music/midi.o).
LIB_SRC   := $(sort $(wildcard src/*.c src/*/*.c))
LIB_HDR   := $(wildcard include/*.h src/*.h src/*/*.h)
LIB_OBJ   := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC))
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_BIN  := $(patsubst tests/%.c,$(BUILD)/%,$(TEST_SRC))
TEST_SH   := $(sort $(wildcard tests/test_*.sh))
PYTHON    ?= /usr/bin/python3

.PHONY: all test sanitize fuzz fuzz-audio fuzz-musicxml bench demo deps clean mpi eval
all: $(BUILD)/getmusic $(BUILD)/libgetmusic.a

$(BUILD)/obj/%.o: src/%.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libgetmusic.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The browser studio: cli/studio/studio_*.c plus its page (cli/studio/web/*)
# compiled in as C arrays. Its HTTP server is libmicrohttpd; without its
# header the CLI still builds and `getmusic studio` says what is missing.
STUDIO_SRC := $(sort $(wildcard cli/studio/studio_*.c)) $(BUILD)/studio_web.c
ifneq ($(wildcard /usr/include/microhttpd.h),)
  STUDIO_LIBS := -lmicrohttpd
else
  STUDIO_CFLAGS := -DGM_NO_MHD
endif
STUDIO_WEB := $(sort $(wildcard cli/studio/web/*)) examples/melody.mid
$(BUILD)/studio_web.c: $(STUDIO_WEB) cli/studio/embed_web.sh
	@mkdir -p $(dir $@)
	cli/studio/embed_web.sh $(STUDIO_WEB) > $@.tmp && mv $@.tmp $@

# The CLI: cli/main.c (the command table) + cli/cli.c (shared helpers) + one
# cli/cmd_NAME.c per command (+ the studio's files, cli/studio/).
CLI_SRC := cli/main.c cli/cli.c $(sort $(wildcard cli/cmd_*.c))
$(BUILD)/getmusic: $(CLI_SRC) $(STUDIO_SRC) cli/cli.h cli/studio/studio.h $(BUILD)/libgetmusic.a
	$(CC) $(CFLAGS) $(STUDIO_CFLAGS) -Icli $(LDFLAGS) $(CLI_SRC) $(STUDIO_SRC) $(BUILD)/libgetmusic.a $(LDLIBS) $(STUDIO_LIBS) -o $@

$(BUILD)/test_%: tests/test_%.c $(wildcard tests/*.h) $(BUILD)/libgetmusic.a
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(BUILD)/libgetmusic.a $(LDLIBS) -o $@

# The usage example that opens include/getmusic.h, cut out of its comment
# (from "#include <stdio.h>" to the closing brace), for tests/test_example.c.
$(BUILD)/getmusic_example.c: include/getmusic.h
	@mkdir -p $(dir $@)
	sed -n '/^ \*     #include <stdio.h>/,/^ \*     }$$/{s/^ \*     //;s/^ \*$$//;p}' $< > $@.tmp && mv $@.tmp $@
$(BUILD)/test_example: $(BUILD)/getmusic_example.c
$(BUILD)/test_example: override CFLAGS += -I$(BUILD)

$(BUILD)/tool_%: tests/tool_%.c $(BUILD)/libgetmusic.a
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(BUILD)/libgetmusic.a $(LDLIBS) -o $@

# Every test binary, then the total "N passed, N failed" line.
test: $(TEST_BIN) $(BUILD)/getmusic $(BUILD)/tool_probs $(BUILD)/tool_harmonizer $(BUILD)/bench_evaltool $(BUILD)/bench_harmonize
	@GETMUSIC_BIN=$(abspath $(BUILD)/getmusic) GETMUSIC_TOOL_PROBS=$(abspath $(BUILD)/tool_probs) \
	    GETMUSIC_TOOL_HARMONIZER=$(abspath $(BUILD)/tool_harmonizer) GETMUSIC_BENCH_HARMONIZE=$(abspath $(BUILD)/bench_harmonize) \
	    GETMUSIC_EVALTOOL=$(abspath $(BUILD)/bench_evaltool) tests/run.sh $(TEST_BIN) $(TEST_SH)

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize:
	$(MAKE) test BUILD=build-san CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined"

# libFuzzer target for the MIDI reader. FUZZ_SECONDS=600 for a long run.
FUZZ_SECONDS ?= 30
# What the MIDI reader needs: the score, and chord symbols in text events.
MIDI_FUZZ_SRC := src/music/midi.c src/music/score.c src/music/chord_symbol.c src/music/chord.c src/music/chord_text.c \
                 src/util.c
$(BUILD)/fuzz_midi: tests/fuzz_midi.c $(MIDI_FUZZ_SRC) include/getmusic.h
	@mkdir -p $(BUILD)
	clang -std=c11 -O1 -g -D_GNU_SOURCE -Iinclude -Isrc -fsanitize=fuzzer,address,undefined \
	    tests/fuzz_midi.c $(MIDI_FUZZ_SRC) -lm -pthread -o $@
fuzz: $(BUILD)/fuzz_midi fuzz-audio fuzz-musicxml
	@mkdir -p $(BUILD)/fuzz-corpus
	$(BUILD)/fuzz_midi -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	    -timeout=10 $(BUILD)/fuzz-corpus tests/fuzz-seeds

# libFuzzer target for the audio reader (libsndfile through sf_open_virtual).
$(BUILD)/fuzz_audio: tests/fuzz_audio.c src/audio/audio.c src/util.c include/getmusic.h
	@mkdir -p $(BUILD)
	clang -std=c11 -O1 -g -D_GNU_SOURCE -Iinclude -Isrc -fsanitize=fuzzer,address,undefined \
	    tests/fuzz_audio.c src/audio/audio.c src/util.c -lsndfile -lm -pthread -o $@
fuzz-audio: $(BUILD)/fuzz_audio
	@mkdir -p $(BUILD)/fuzz-audio-corpus
	$(BUILD)/fuzz_audio -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	    -timeout=10 $(BUILD)/fuzz-audio-corpus tests/fuzz-seeds-audio

# libFuzzer target for the MusicXML reader (and writer), .mxl zips included.
MXL_FUZZ_SRC := src/music/musicxml.c src/music/musicxml_write.c src/music/chord_symbol.c src/music/chord.c \
                src/music/chord_text.c src/music/midi.c src/music/score.c src/music/score_file.c src/util.c
$(BUILD)/fuzz_musicxml: tests/fuzz_musicxml.c $(MXL_FUZZ_SRC) include/getmusic.h
	@mkdir -p $(BUILD)
	clang -std=c11 -O1 -g -D_GNU_SOURCE -Iinclude -Isrc -I/usr/include/libxml2 -fsanitize=fuzzer,address,undefined \
	    tests/fuzz_musicxml.c $(MXL_FUZZ_SRC) -lxml2 -lzip -lm -pthread -o $@
fuzz-musicxml: $(BUILD)/fuzz_musicxml
	@mkdir -p $(BUILD)/fuzz-musicxml-corpus
	$(BUILD)/fuzz_musicxml -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	    -timeout=10 $(BUILD)/fuzz-musicxml-corpus tests/fuzz-seeds-musicxml

$(BUILD)/bench_%: bench/bench_%.c $(wildcard bench/*.h) $(BUILD)/libgetmusic.a
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(BUILD)/libgetmusic.a $(LDLIBS) -o $@

# Data-parallel training build: `mpirun -np N build/getmusic-mpi train ...`.
MPICC ?= mpicc
$(BUILD)/getmusic-mpi: $(CLI_SRC) $(STUDIO_SRC) cli/cli.h $(LIB_SRC) $(LIB_HDR)
	@mkdir -p $(BUILD)
	OMPI_CC=$(CC) $(MPICC) $(CFLAGS) $(STUDIO_CFLAGS) -Icli -DGM_MPI $(LDFLAGS) $(CLI_SRC) $(STUDIO_SRC) $(LIB_SRC) $(LDLIBS) $(STUDIO_LIBS) -o $@
mpi: $(BUILD)/getmusic-mpi

bench: $(BUILD)/getmusic
	@PYTHON=$(PYTHON) bench/run.sh $(BUILD)/getmusic

# The shipped model against the ground truth and a rule-based accompaniment on
# the validation songs (EVAL_SONGS, EVAL_BARS, EVAL_STEPS, EVAL_MODEL: see
# bench/eval.sh); the table goes into models/README.md.
eval: $(BUILD)/getmusic $(BUILD)/bench_evaltool $(BUILD)/bench_chord_accuracy
	@PYTHON=$(PYTHON) bench/eval.sh $(BUILD)

demo:
	@scripts/demo.sh

deps:
	@scripts/install-deps.sh

clean:
	rm -rf build build-san
