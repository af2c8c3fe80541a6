#!/usr/bin/env bash
# make eval: the shipped model against two baselines on the POP909 songs held
# out from its training (the validation split, 113 songs), one table.
#
#   bench/eval.sh [BUILD_DIR]          everything (make eval)
#   bench/eval.sh [BUILD_DIR] table    only the table again, from EVAL_DIR's JSON
#
# Systems, each scored by `getmusic eval --json` against the ground truth:
#   ground truth  the song's first EVAL_BARS bars from its first annotated
#                 downbeat (bench_evaltool crop --from-downbeat: bar lines from
#                 beat_midi.txt, the lead-in left out so that beats fall on
#                 MusPy's grid), scored against itself
#   getmusic      `generate` on the ground truth: its lead kept note for note,
#                 counter, piano and drums generated, chords recognised from
#                 the whole input (--chords input), EVAL_STEPS steps, seed 1
#   rule-based    bench_evaltool rules: the lead, block chords + bass on each
#                 bar's recognised chord, a plain rock beat
# plus "quality against steps": getmusic on the first EVAL_SWEEP_SONGS songs
# at each of EVAL_SWEEP steps, every generate timed, and "real drummers": the
# drum feel of the Groove validation files (bench_evaltool list-groove-valid:
# 4/4 grooves of `prepare`'s validation split). The chord-tone ratios are
# against POP909's chord_midi.txt, cropped with the song (bench_evaltool
# crop writes gt/SONG.chord_midi.txt, where `getmusic eval` finds it). Songs run one after
# another (generation uses every core). The table (markdown) goes between the
# eval markers of models/README.md (EVAL_README; empty: nowhere) and stdout.
#
# Environment: EVAL_SONGS (0 = all), EVAL_BARS (32), EVAL_STEPS (10, generate's default),
# EVAL_MODEL (models/default.gguf), EVAL_SWEEP ("50 20 10"),
# EVAL_SWEEP_SONGS (20), EVAL_SEED (1), EVAL_MELODY (1: bare melodies), EVAL_GEN_ARGS (more generate options), EVAL_DIR (out/eval), EVAL_KEEP=1 to
# reuse the MIDI files and timings already in EVAL_DIR, GETMUSIC_DATA.
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
B=${1:-build}
MODE=${2:-all}
GM=$B/getmusic
TOOL=$B/bench_evaltool
PY=${PYTHON:-/usr/bin/python3}
DATA=${GETMUSIC_DATA:-../shared/data}
DIR=${EVAL_DIR:-out/eval}
SONGS=${EVAL_SONGS:-0}
BARS=${EVAL_BARS:-32}
STEPS=${EVAL_STEPS:-10}   # generate's default (src/model/generate.c)
MODEL=${EVAL_MODEL:-models/default.gguf}
SWEEP=${EVAL_SWEEP:-50 20 10}
SWEEP_SONGS=${EVAL_SWEEP_SONGS:-20}
SEED=${EVAL_SEED:-1}
GEN_ARGS=${EVAL_GEN_ARGS:-}   # more generate options (sampler settings), e.g. "--top-k 5"
README=${EVAL_README-models/README.md}
MELODY_ONLY=""   # EVAL_MELODY=1: the songs as bare melodies (every track but the melody left out)
[ "${EVAL_MELODY:-0}" = 1 ] && MELODY_ONLY=--melody-only
TRACKS=counter,piano,drums

say() { printf 'eval: %s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# 1 when this build's CLI has the subcommand (placeholders say "not in this build").
has_cmd() { ! "$GM" "$1" --help 2>&1 | grep -q 'not in this build'; }

# ======================================================================== #
# The table: per-file JSON → means over each row's songs → markdown          #
# ======================================================================== #
table() {
  "$PY" - "$DIR" "$README" <<'EOF'
import json, math, os, re, sys

d, readme = sys.argv[1], sys.argv[2]
meta = json.load(open(os.path.join(d, "meta.json")))

def song_of(path):
    return os.path.splitext(os.path.basename(path))[0]

def load(system):
    """Per-song results of one system: {song: file entry}, and {song: seconds}."""
    files, times = {}, {}
    p = os.path.join(d, "json", system + ".json")
    if os.path.exists(p):
        for f in json.load(open(p)).get("files", []):
            files[song_of(f["file"])] = f
    t = os.path.join(d, system, "times.tsv")
    if os.path.exists(t):
        for line in open(t):
            parts = line.split()
            if len(parts) == 2:
                times[parts[0]] = float(parts[1])
    return files, times

def mean(xs):
    xs = [x for x in xs if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)]
    return sum(xs) / len(xs) if xs else None

PIECE = ["pitch_class_entropy", "pitch_entropy", "polyphony", "groove_consistency",
         "empty_beat_rate", "scale_consistency", "drum_pattern_consistency"]
CLASSES = ["piano", "counter", "drums"]

# The drum-feel figures of `getmusic eval --json` the table shows (placement, then presence).
FEEL = ["snare_on_2_4", "both_backbeats", "kick_on_1", "bar_repetition",
        "kick_per_bar", "snare_per_bar", "hat_per_bar", "empty_bars", "fills"]

def class_entries(fs, c, key):
    """The `key` objects (chord_tones, drum_feel) of class c over files fs."""
    return [t.get(key) for f in fs for t in (f.get("tracks") or []) if t.get("class") == c and t.get(key)]

def hears(r, fs):
    """What a musician hears: CTR and floor per pitched class, drum feel."""
    for c in ("piano", "counter"):
        ct = class_entries(fs, c, "chord_tones")
        r["ctr_" + c] = (mean([x.get("ctr") for x in ct]), mean([x.get("floor") for x in ct])) if ct else None
    fe = class_entries(fs, "drums", "drum_feel")
    for k in FEEL:
        r[k] = mean([x.get(k) for x in fe]) if fe else None

def row(label, system, songs):
    files, times = load(system)
    fs = [files[s] for s in songs if s in files]
    if not fs:
        return None
    r = {"label": label, "songs": len(fs)}
    for m in PIECE:
        r[m] = mean([(f.get("piece") or {}).get(m) for f in fs])
    r["chord"] = mean([f.get("chord_accuracy") for f in fs])
    for c in CLASSES:
        ov = [t.get("overlap") for f in fs for t in (f.get("tracks") or []) if t.get("class") == c]
        ov = [o for o in ov if o]
        r[c] = [mean([o.get(k) for o in ov]) for k in ("pitch", "duration", "ioi")] if ov else None
    sec = [times[s] for s in songs if s in times and s in files]
    r["seconds"] = mean(sec)
    hears(r, fs)
    return r

def drummers_row(name, label):
    """Real drummers: the drum feel of every Groove file scored (no songs to match)."""
    p = os.path.join(d, "json", name)
    if not os.path.exists(p):
        return None
    fs = json.load(open(p)).get("files", [])
    if not fs:
        return None
    r = {"label": label, "songs": len(fs), "seconds": None, "chord": None}
    for m in PIECE:
        r[m] = None
    for c in CLASSES:
        r[c] = None
    hears(r, fs)
    return r

def num(x, fmt="%.3f"):
    return "–" if x is None else fmt % x

def trio(v):
    return "–" if v is None or all(x is None for x in v) else "/".join(num(x, "%.2f") for x in v)

songs = meta["songs"]
sweep_songs = songs[:meta["sweep_songs"]]
steps = meta["steps"]
rows = [row("ground truth", "gt", songs),
        row("getmusic, %d steps" % steps, "model-s%d" % steps, songs),
        row("rule-based", "rules", songs)]
for s in meta["sweep"]:
    if s == steps and len(sweep_songs) == len(songs):
        continue  # the same row as above
    rows.append(row("getmusic, %d steps" % s, "model-s%d" % s, sweep_songs))
rows = [r for r in rows if r]
drummers = [r for r in (drummers_row("groove.json", "real drummers (Groove validation)"),
                         drummers_row("groove-noghost.json", "real drummers, ghost notes left out (as trained)")) if r]

# A class whose overlap no row has (POP909 has no drums to compare with) gets no column.
shown = [c for c in CLASSES if any(trio(r[c]) != "–" for r in rows)]
def ctr(v):
    return "–" if v is None or v[0] is None else "%.2f (%s)" % (v[0], num(v[1], "%.2f"))

HEARS = ["piano CTR (floor)", "counter CTR (floor)", "snare 2&4", "snare both 2&4", "kick 1", "bar repetition",
         "kick/snare/hat per bar", "empty bars", "fills"]
def per_bar(r):
    v = [r[k] for k in ("kick_per_bar", "snare_per_bar", "hat_per_bar")]
    return "–" if all(x is None for x in v) else "/".join(num(x, "%.1f") for x in v)

def hears_cells(r):
    return [ctr(r["ctr_piano"]), ctr(r["ctr_counter"])] + \
           [num(r[k], "%.2f") for k in ("snare_on_2_4", "both_backbeats", "kick_on_1", "bar_repetition")] + \
           [per_bar(r), num(r["empty_bars"], "%.2f"), num(r["fills"], "%.2f")]

head = ["system", "songs", "PCE", "PE", "polyphony", "groove", "empty beats", "scale cons.", "drum pattern",
        "chord acc."] + ["%s overlap p/d/ioi" % c for c in shown] + HEARS + ["s/song"]
out = []
out.append("Measured by `make eval` on %s: model `%s` (sha256 `%s`, %s; %s)." %
           (meta["date"], meta["model"], meta["model_sha256"][:16], meta["model_date"], meta["model_info"]))
out.append("POP909 validation songs (%d of %d), the first %d bars of each from its first downbeat (bar lines from "
           "`beat_midi.txt`), seed %d; `getmusic generate --targets %s --chords input%s`." %
           (len(songs), meta["valid_total"], meta["bars"], meta["seed"], meta["tracks"],
            " " + meta["gen_args"] if meta.get("gen_args") else ""))
out.append("")
out.append("| " + " | ".join(head) + " |")
out.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
for r in rows:
    cells = [r["label"], str(r["songs"])] + [num(r[m]) for m in PIECE] + [num(r["chord"])] + \
            [trio(r[c]) for c in shown] + hears_cells(r) + \
            [num(r["seconds"], "%.2f" if (r["seconds"] or 0) < 10 else "%.1f")]
    out.append("| " + " | ".join(cells) + " |")
for dr in drummers:
    cells = [dr["label"], str(dr["songs"])] + ["–"] * (len(PIECE) + 1 + len(shown)) + hears_cells(dr) + ["–"]
    out.append("| " + " | ".join(cells) + " |")
out.append("")
missing = [c for c in CLASSES if c not in shown]
out.append("Means over songs (undefined values left out; – where none). Piece metrics are MusPy's "
           "(`getmusic eval`, all tracks, the kept melody included): PCE / PE pitch-class / pitch entropy, "
           "polyphony, groove consistency, empty-beat rate, scale consistency, drum-pattern consistency "
           "(undefined without drums, as in POP909). Chord acc.: share of bars where the chord recognised from "
           "the accompaniment (%s) equals the one recognised from the whole ground truth; the ground truth "
           "scores below 1 because its own accompaniment leaves the melody out. Overlap: Σ min(p, q) of the "
           "pitch / duration / inter-onset-interval histograms of that class against the ground truth's%s. "
           "s/song: wall seconds per song (`generate` with the model load, or the rule tool), %s. "
           "What a musician hears: CTR, chord-tone ratio of the class against the song's own chord labels "
           "(POP909's `chord_midi.txt`): duration-weighted share of notes (weights clipped to 0.05–2 s) whose pitch "
           "class is a tone of the chord sounding at the onset; in brackets its chord-blind floor (the same notes "
           "scored with the class's own pitch-class distribution). Drums on the bar grid (16ths), over the full bars "
           "with drums: snare onsets on beats 2 and 4 / all snare onsets; snare both 2&4, bars with a snare on both "
           "2 and 4 (placement alone can be met by a part with almost no snare: this is presence); bars with a kick "
           "on beat 1; bar repetition, mean Jaccard of neighbouring bars' (kick|snare|hat|other, 16th) onset sets; "
           "kick / snare / hi-hat or ride (42, 44, 46, 22, 26, 51, 53, 59) onsets per bar (each 16th once); empty bars, full bars without drums between the "
           "part's first and last bar with drums / full bars there; fills, 4-bar phrases (bars 1–4, 5–8, ... with "
           "drums in every bar) whose last bar strays from the phrase's most common bar more than its other bars "
           "do, by 1 − Jaccard ≥ 0.25 / phrases. Real drummers: the 4/4 grooves "
           "of Groove MIDI's files in `prepare`'s validation split (Groove's separate fill files left out; the fills a drummer plays inside a groove count in \"fills\"); \"ghost notes left out\": the same "
           "files without their snare strokes softer than velocity 60, as `prepare` writes them for training "
           "(`eval --ghost-velocity 60`)."
           % (", ".join(c for c in meta["tracks"].split(",") if c != "drums"),
              " (no %s column: POP909 has none to compare with)" % "/".join(missing) if missing else "",
              meta["machine"]))
if meta.get("chord_line"):
    out.append("")
    out.append(meta["chord_line"])
if meta.get("notes"):
    out.append("")
    out.extend(meta["notes"])
text = "\n".join(out) + "\n"
sys.stdout.write("\n" + text)

if readme:
    src = open(readme).read()
    begin, end = "<!-- eval:begin -->", "<!-- eval:end -->"
    if begin not in src or end not in src:
        sys.exit("eval: %s has no %s ... %s markers" % (readme, begin, end))
    a = src.index(begin) + len(begin)
    b = src.index(end)
    with open(readme + ".tmp", "w") as f:
        f.write(src[:a] + "\n" + text + src[b:])
    os.replace(readme + ".tmp", readme)
    sys.stderr.write("eval: table written into %s\n" % readme)
EOF
}

if [ "$MODE" = table ]; then table; exit 0; fi

# ======================================================================== #
# The run                                                                    #
# ======================================================================== #
if [ ! -d "$DATA/pop909" ]; then say "$DATA/pop909 not found; nothing to evaluate"; exit 0; fi
for f in "$GM" "$TOOL" "$B/bench_chord_accuracy"; do
  [ -x "$f" ] || { say "$f missing (make eval builds it)"; exit 1; }
done
[ -r "$MODEL" ] || { say "model $MODEL not found"; exit 1; }
have_gen=1; has_cmd generate || have_gen=0
have_eval=1; has_cmd eval || have_eval=0

[ "${EVAL_KEEP:-0}" = 1 ] || rm -rf "$DIR"
mkdir -p "$DIR/json" "$DIR/gt" "$DIR/rules"
rm -f "$DIR/failed.tsv" # failures are tried again
"$TOOL" list-valid "$DATA/pop909" > "$DIR/valid.txt"
valid_total=$(wc -l < "$DIR/valid.txt")
if [ "$SONGS" -gt 0 ]; then head -n "$SONGS" "$DIR/valid.txt" > "$DIR/songs.txt"; else cp "$DIR/valid.txt" "$DIR/songs.txt"; fi
mapfile -t songs < <(sed -E 's|.*/||; s|\.mid$||' "$DIR/songs.txt")
n=${#songs[@]}
say "$n of $valid_total validation songs, $BARS bars each, model $MODEL, $STEPS steps"
sweep_steps=()
for s in $SWEEP; do sweep_steps+=("$s"); done

# One timed generate of song $1 at $2 steps into model-s$2/ (kept when EVAL_KEEP
# left a file and a time). Failures are logged and leave the song out.
generate() {
  local song=$1 steps=$2 out="$DIR/model-s$2"
  mkdir -p "$out"
  if [ -s "$out/$song.mid" ] && grep -q "^$song " "$out/times.tsv" 2>/dev/null; then return 0; fi
  local t0 t1 rc=0
  t0=$(now)
  "$GM" generate "$DIR/gt/$song.mid" -o "$out/$song.mid" --targets "$TRACKS" --chords input \
    --model "$MODEL" --steps "$steps" --seed "$SEED" $GEN_ARGS --quiet > /dev/null 2>> "$DIR/errors.log" || rc=$?
  if [ "$rc" -eq 0 ]; then
    t1=$(now)
    echo "$song $(elapsed "$t0" "$t1")" >> "$out/times.tsv"
  else
    say "generate failed on $song at $steps steps: exit $rc (see $DIR/errors.log)"
    echo "$song $steps $rc" >> "$DIR/failed.tsv"
    rm -f "$out/$song.mid"
  fi
}

i=0
for song in "${songs[@]}"; do
  i=$((i + 1))
  src="$DATA/pop909/$song/$song.mid"
  if ! [ -s "$DIR/gt/$song.mid" ] || { [ -s "$(dirname "$src")/chord_midi.txt" ] && ! [ -s "$DIR/gt/$song.chord_midi.txt" ]; }; then
    "$TOOL" crop "$src" "$DIR/gt/$song.mid" --bars "$BARS" --from-downbeat $MELODY_ONLY
  fi
  if ! [ -s "$DIR/rules/$song.mid" ] || ! grep -q "^$song " "$DIR/rules/times.tsv" 2>/dev/null; then
    t0=$(now)
    "$TOOL" rules "$DIR/gt/$song.mid" "$DIR/rules/$song.mid"
    echo "$song $(elapsed "$t0" "$(now)")" >> "$DIR/rules/times.tsv"
  fi
  line="[$i/$n] $song"
  if [ "$have_gen" = 1 ]; then
    generate "$song" "$STEPS"
    t=$(sed -n "s/^$song //p" "$DIR/model-s$STEPS/times.tsv" | tail -n 1)
    if [ -n "$t" ]; then line="$line: generate $t s"; else line="$line: generate failed"; fi
  fi
  say "$line"
done
if [ "$have_gen" = 1 ]; then
  i=0
  for song in "${songs[@]:0:$SWEEP_SONGS}"; do
    i=$((i + 1))
    for s in "${sweep_steps[@]}"; do
      [ "$s" = "$STEPS" ] || generate "$song" "$s"
    done
    say "steps sweep [$i/$((n < SWEEP_SONGS ? n : SWEEP_SONGS))] $song"
  done
fi

if [ "$have_eval" = 0 ]; then
  say "'getmusic eval' is not in this build yet: nothing scored (MIDI files are in $DIR)"
  exit 1
fi

# Chord recognition against POP909's own labels (all 818 songs, downbeat bars).
ca=$("$B/bench_chord_accuracy" "$DATA" 2>/dev/null || true)
pick() { sed -nE "s/^$1 +([0-9.]+%).*/\1/p" <<<"$ca" | head -n 1; }
chord_line=""
if [ -n "$(pick 'root accuracy')" ]; then
  chord_line="Chord recognition (the chords every system is conditioned on and scored with) against POP909's \`chord_midi.txt\` labels, all songs, bars from \`beat_midi.txt\` (\`bench_chord_accuracy\`): root $(pick 'root accuracy'), root+quality $(pick 'root\+quality accuracy \(mappable\)'), root+triad (sevenths folded) $(pick 'root\+triad accuracy \(7ths folded, mappable\)')."
fi

notes=()
[ "$have_gen" = 1 ] || notes+=("(\`getmusic generate\` is not in this build: no getmusic rows.)")
if [ -s "$DIR/failed.tsv" ]; then # "song steps status" lines → one note per steps
  while read -r st; do
    notes+=("\`generate\` failed at $st steps (left out of those rows): $(awk -v s="$st" '$2 == s { printf "%s%s (exit %s)", n++ ? ", " : "", $1, $3 }' "$DIR/failed.tsv").")
  done < <(awk '{ print $2 }' "$DIR/failed.tsv" | sort -rn | uniq)
fi

# ---- scoring ---------------------------------------------------------------
score() { # system name, then the songs to score
  local sys=$1; shift
  local gen=() ref=()
  for song in "$@"; do
    [ -s "$DIR/$sys/$song.mid" ] || continue
    gen+=("$DIR/$sys/$song.mid"); ref+=("$DIR/gt/$song.mid")
  done
  [ ${#gen[@]} -gt 0 ] || return 0
  if "$GM" eval "${gen[@]}" --ref "${ref[@]}" --tracks "$TRACKS" --json > "$DIR/json/$sys.json.tmp" 2>> "$DIR/errors.log"; then
    mv "$DIR/json/$sys.json.tmp" "$DIR/json/$sys.json"
  else
    say "eval failed on $sys (see $DIR/errors.log)"
  fi
}
score gt "${songs[@]}"
score rules "${songs[@]}"
if [ "$have_gen" = 1 ]; then
  score "model-s$STEPS" "${songs[@]}"
  for s in "${sweep_steps[@]}"; do
    [ "$s" = "$STEPS" ] || score "model-s$s" "${songs[@]:0:$SWEEP_SONGS}"
  done
fi

# Real drummers: the drum feel of the Groove validation grooves (no reference).
if [ -r "$DATA/groove/info.csv" ]; then
  mapfile -t grooves < <("$TOOL" list-groove-valid "$DATA/groove" | sed "s|^|$DATA/groove/|")
  if [ ${#grooves[@]} -gt 0 ] && ! "$GM" eval "${grooves[@]}" --tracks drums --json --quiet > "$DIR/json/groove.json" 2>> "$DIR/errors.log"; then
    say "eval failed on the Groove validation files (see $DIR/errors.log)"
    rm -f "$DIR/json/groove.json"
  fi
  if [ ${#grooves[@]} -gt 0 ] && ! "$GM" eval "${grooves[@]}" --tracks drums --json --quiet --ghost-velocity 60 \
       > "$DIR/json/groove-noghost.json" 2>> "$DIR/errors.log"; then
    rm -f "$DIR/json/groove-noghost.json"
  fi
fi

# ---- what the table needs besides the JSON ----------------------------------
model_info=$("$TOOL" model "$MODEL" 2>/dev/null || echo "unreadable")
# The model's date: its last commit when git knows it, else the file's time.
model_date=$(git log -1 --format='committed %cs' -- "$MODEL" 2>/dev/null || true)
[ -n "$model_date" ] || model_date="file of $(date -u -r "$MODEL" +%Y-%m-%d)"
GEN_ARGS="$GEN_ARGS" "$PY" - "$DIR/meta.json" "$MODEL" "$model_info" "$(sha256sum "$MODEL" | cut -d' ' -f1)" \
  "$model_date" "$(date -u +%Y-%m-%d)" "$BARS" "$STEPS" "$SEED" "$SWEEP_SONGS" \
  "$valid_total" "$TRACKS" "$(nproc) cores of $(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -n 1)" \
  "$chord_line" "$SWEEP" "$DIR/songs.txt" "${notes[@]+"${notes[@]}"}" <<'EOF' || exit 1
import json, os, sys
a = sys.argv[1:]
songs = [l.strip().split("/")[-1][:-4] for l in open(a[15]) if l.strip()]
meta = {"model": a[1], "model_info": a[2], "model_sha256": a[3], "model_date": a[4],
        "date": a[5], "bars": int(a[6]), "steps": int(a[7]), "seed": int(a[8]), "sweep_songs": int(a[9]),
        "valid_total": int(a[10]), "tracks": a[11],
        "gen_args": os.environ.get("GEN_ARGS", ""), "machine": a[12], "chord_line": a[13],
        "sweep": [int(x) for x in a[14].split()], "notes": a[16:], "songs": songs}
json.dump(meta, open(a[0], "w"), indent=1)
EOF
table
