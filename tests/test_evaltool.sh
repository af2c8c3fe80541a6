#!/usr/bin/env bash
# test_evaltool.sh — the evaluation harness' parts (bench/bench_evaltool.c,
# bench/eval.sh): the validation song list, cropping to N bars, the
# rule-based accompaniment's tracks, and the table built from `getmusic eval`
# JSON (hand-made here, so that part needs no data and no model). The POP909
# checks skip with a message when ../shared/data is missing.
set -u
GM=${GETMUSIC_BIN:-build/getmusic}
TOOL=${GETMUSIC_EVALTOOL:-build/bench_evaltool}
PY=${PYTHON:-/usr/bin/python3}
DATA=${GETMUSIC_DATA:-../shared/data}
cd "$(dirname "$0")/.."
. tests/lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# info --json field of a file: jpath FILE PYTHON-EXPRESSION-ON-d
jq_info() { "$GM" info "$1" --json | "$PY" -c "import json,sys; d=json.load(sys.stdin); print($2)"; }

# ---- usage -----------------------------------------------------------------
"$TOOL" >/dev/null 2>&1; [ $? -eq 1 ] && ok || bad "no arguments: want exit 1"
"$TOOL" crop a.mid 2>/dev/null; [ $? -eq 1 ] && ok || bad "crop without OUT/--bars: want exit 1"
"$TOOL" crop "$tmp/none.mid" "$tmp/o.mid" --bars 4 2>/dev/null; [ $? -eq 1 ] && ok || bad "crop of a missing file: want exit 1"
"$TOOL" rules "$tmp/none.mid" "$tmp/o.mid" 2>/dev/null; [ $? -eq 1 ] && ok || bad "rules on a missing file: want exit 1"

# ---- on POP909 -------------------------------------------------------------
if [ ! -d "$DATA/pop909/004" ]; then
  echo "test_evaltool: SKIP POP909 checks ($DATA/pop909 not found)"
  skip=$((skip+1))
elif [ ! -x "$PY" ]; then
  echo "test_evaltool: SKIP POP909 checks ($PY missing)"
  skip=$((skip+1))
else
  "$TOOL" list-valid "$DATA/pop909" > "$tmp/valid.txt"
  n=$(wc -l < "$tmp/valid.txt")
  [ "$n" -eq 113 ] && ok || bad "list-valid: $n songs, want 113 (models/README.md)"
  [ "$(head -n 1 "$tmp/valid.txt")" = "004/004.mid" ] && ok || bad "list-valid: first is $(head -n 1 "$tmp/valid.txt"), want 004/004.mid"
  grep -qx "001/001.mid" "$tmp/valid.txt" && bad "list-valid: 001 is a training song" || ok
  n0=$("$TOOL" list-valid "$DATA/pop909" --percent 0 | wc -l)
  [ "$n0" -eq 0 ] && ok || bad "list-valid --percent 0: $n0 songs"

  src="$DATA/pop909/004/004.mid"
  full=$(jq_info "$src" 'd["bars"]')
  if "$TOOL" crop "$src" "$tmp/gt.mid" --bars 32; then ok; else bad "crop 004 --bars 32"; fi
  [ "$(jq_info "$tmp/gt.mid" 'd["bars"]')" = 32 ] && ok || bad "crop: not 32 bars"
  # the bar lines of beat_midi.txt are written in: same chords in bars 1-32
  [ "$(jq_info "$tmp/gt.mid" '" ".join(d["chords"])')" = "$(jq_info "$src" '" ".join(d["chords"][:32])')" ] && ok \
    || bad "crop: chords of the 32 bars differ from the song's"
  [ "$(jq_info "$tmp/gt.mid" '",".join(t["class"] or "-" for t in d["tracks"])')" = "lead,counter,piano" ] && ok \
    || bad "crop: tracks are not lead, counter, piano"
  "$TOOL" crop "$src" "$tmp/all.mid" --bars 100000 && [ "$(jq_info "$tmp/all.mid" 'd["bars"]')" = "$full" ] && ok \
    || bad "crop --bars beyond the end: not the song's $full bars"
  [ "$(jq_info "$tmp/all.mid" 'd["notes"]')" = "$(jq_info "$src" 'd["notes"]')" ] && ok || bad "crop beyond the end lost notes"

  # --from-downbeat: 004's half-bar lead-in left out, 32 whole bars of 4/4 from tick 0
  if "$TOOL" crop "$src" "$tmp/db.mid" --bars 32 --from-downbeat; then ok; else bad "crop --from-downbeat"; fi
  [ "$(jq_info "$tmp/db.mid" '"%d %s" % (d["bars"], [(t["tick"], t["numerator"]) for t in d["time_signatures"]])')" = "32 [(0, 4)]" ] \
    && ok || bad "crop --from-downbeat: not 32 bars of 4/4 from tick 0: $(jq_info "$tmp/db.mid" 'd["time_signatures"]')"
  [ "$(jq_info "$tmp/db.mid" '" ".join(d["chords"])')" = "$(jq_info "$src" '" ".join(d["chords"][1:33])')" ] && ok \
    || bad "crop --from-downbeat: chords differ from the song's bars 2-33"
  [ "$(jq_info "$tmp/db.mid" 'd["end_tick"]')" = $((32 * 4 * 480)) ] && ok || bad "crop --from-downbeat: end is not 32 bars"
  "$TOOL" rules "$tmp/db.mid" "$tmp/dbrules.mid" && [ "$(jq_info "$tmp/dbrules.mid" 'd["tracks"][2]["notes"]')" = $((32 * 12)) ] \
    && ok || bad "rules on 32 whole bars: not 12 drum notes per bar"

  if "$TOOL" rules "$tmp/gt.mid" "$tmp/rules.mid"; then ok; else bad "rules on the cropped song"; fi
  [ "$(jq_info "$tmp/rules.mid" '",".join(t["class"] or "-" for t in d["tracks"])')" = "lead,piano,drums" ] && ok \
    || bad "rules: tracks are not lead, piano, drums: $(jq_info "$tmp/rules.mid" '[t["class"] for t in d["tracks"]]')"
  [ "$(jq_info "$tmp/rules.mid" 'd["bars"]')" = 32 ] && ok || bad "rules: not 32 bars"
  [ "$(jq_info "$tmp/rules.mid" 'd["tracks"][0]["notes"]')" = "$(jq_info "$tmp/gt.mid" 'd["tracks"][0]["notes"]')" ] && ok \
    || bad "rules: the lead's notes changed"
  # one bass note and 3-4 chord tones per bar; 8 eighths of hi-hat + 4 kicks/snares per 4/4 bar
  # (004 starts with a half-bar lead-in)
  pn=$(jq_info "$tmp/rules.mid" 'd["tracks"][1]["notes"]')
  [ "$pn" -ge 128 ] && [ "$pn" -le 160 ] && ok || bad "rules: $pn piano notes for 32 bars, want 128..160"
  dn=$(jq_info "$tmp/rules.mid" 'd["tracks"][2]["notes"]')
  [ "$dn" -eq $((31 * 12 + 6)) ] && ok || bad "rules: $dn drum notes for 31.5 bars, want 378"
  # block chords on the recognised chords: recognising the output gives them back
  [ "$(jq_info "$tmp/rules.mid" '" ".join(d["chords"])')" = "$(jq_info "$tmp/gt.mid" '" ".join(d["chords"])')" ] && ok \
    || bad "rules: chords of the output differ from the input's"
  "$TOOL" rules "$tmp/gt.mid" "$tmp/rules2.mid" --no-drums && \
    [ "$(jq_info "$tmp/rules2.mid" '",".join(t["class"] or "-" for t in d["tracks"])')" = "lead,piano" ] && ok \
    || bad "rules --no-drums: tracks are not lead, piano"
fi

# ---- the table from hand-made `getmusic eval --json` output -----------------
if [ ! -x "$PY" ]; then
  echo "test_evaltool: SKIP table check ($PY missing)"; skip=$((skip+1))
else
  d="$tmp/eval"; mkdir -p "$d/json" "$d/rules" "$d/model-s100" "$d/model-s10"
  "$PY" - "$d" <<'EOF'
import json, os, sys
d = sys.argv[1]
nan = None
def f(song, system, x, chord, piano, counter, h={}):
    piece = {k: x for k in ["pitch_range", "n_pitches_used", "n_pitch_classes_used", "polyphony", "polyphony_rate",
             "pitch_in_scale_rate", "scale_consistency", "pitch_entropy", "pitch_class_entropy", "empty_beat_rate",
             "empty_measure_rate", "groove_consistency", "drum_in_pattern_rate", "drum_pattern_consistency"]}
    piece["drum_pattern_consistency"] = nan if system == "gt" else 0.9
    tracks = [{"class": "piano", "notes": 5, "metrics": {}, "overlap": piano},
              {"class": "drums", "notes": 5, "metrics": {}, "overlap": nan}]
    if counter is not None:
        tracks.append({"class": "counter", "notes": 5, "metrics": {}, "overlap": counter})
    for t in tracks:  # chord tones of pitched classes, drum feel of drums (null where not given)
        t["chord_tones" if t["class"] != "drums" else "drum_feel"] = h.get(t["class"])
    return {"file": "out/eval/%s/%s.mid" % (system, song), "ref": "out/eval/gt/%s.mid" % song, "bars": 32,
            "piece": piece, "tracks": tracks, "chord_accuracy": chord}
one = {"pitch": 1.0, "duration": 1.0, "ioi": 1.0}
w = lambda system, files: json.dump({"files": files, "mean": {}}, open(os.path.join(d, "json", system + ".json"), "w"))
ct = lambda c, fl: {"ctr": c, "floor": fl, "notes": 10, "unlabelled": 0}
ROCK = (1, 2, 2, 8, 0, 0)  # both 2 and 4, kick / snare / hat per bar, empty bars, fills
def feel(a, b, c, p=ROCK):
    keys = ("both_backbeats", "kick_per_bar", "snare_per_bar", "hat_per_bar", "empty_bars", "fills")
    return dict({"snare_on_2_4": a, "kick_on_1": b, "bar_repetition": c, "snare_onsets": 8, "bars": 4, "bar_pairs": 3,
                 "empty_bar_count": 0, "span_bars": 4, "phrases": 1}, **dict(zip(keys, p)))
w("gt", [f("004", "gt", 2.0, 1.0, one, one, {"piano": ct(1.0, 0.5), "counter": ct(0.8, 0.4)}),
         f("007", "gt", 4.0, 1.0, one, one, {"piano": ct(1.0, 0.5), "counter": ct(0.6, 0.6)})])
w("rules", [f("004", "rules", 1.0, 0.5, {"pitch": 0.2, "duration": 0.4, "ioi": 0.6}, None,
              {"piano": ct(0.6, 0.4), "drums": feel(1, 1, 1)}),
            f("007", "rules", 3.0, nan, {"pitch": 0.4, "duration": 0.6, "ioi": 0.8}, None,
              {"piano": ct(0.8, 0.4), "drums": feel(1, 1, 1)})])
w("model-s100", [f("004", "model-s100", 1.5, 0.8, one, one,
                   {"piano": ct(0.5, 0.45), "drums": feel(0.2, 0.4, 0.3, (0.5, 1.0, 1.5, 4.0, 0.3, nan))}),
                 f("007", "model-s100", 2.5, 0.6, one, one, {"drums": feel(0.4, nan, 0.1, (0.1, 3.0, 0.5, 2.0, 0.1, 0.5))})])
w("groove", [{"file": "g/%d.mid" % i, "ref": None, "bars": 8, "piece": {}, "chord_accuracy": None,
              "tracks": [{"class": "drums", "notes": 9, "metrics": {}, "overlap": None, "chord_tones": None,
                          "drum_feel": feel(0.3 + 0.2 * i, 0.6 + 0.2 * i, 0.4 + 0.2 * i,
                                            (0.6 + 0.2 * i, 3.5 + i, 2.5, 6 + i, 0, 0.5 * i))}]} for i in range(2)])
w("groove-noghost", [{"file": "g/%d.mid" % i, "ref": None, "bars": 8, "piece": {}, "chord_accuracy": None,
                      "tracks": [{"class": "drums", "notes": 9, "metrics": {}, "overlap": None, "chord_tones": None,
                                  "drum_feel": feel(0.9, 0.8, 0.7, (0.7, 3.8, 2.6, 5.8, 0.1 * i, nan))}]}
                     for i in range(2)])
w("model-s10", [f("004", "model-s10", 9.0, 0.1, one, one)])
for system, t in [("rules", "004 0.01\n007 0.03\n"), ("model-s100", "004 10\n007 20\n"), ("model-s10", "004 1.5\n")]:
    open(os.path.join(d, system, "times.tsv"), "w").write(t)
json.dump({"model": "m.gguf", "model_info": "info", "model_sha256": "ab" * 32, "model_date": "today", "date": "today",
           "bars": 32, "steps": 100, "seed": 1, "sweep_songs": 1, "valid_total": 113, "tracks": "counter,piano,drums",
           "machine": "test", "chord_line": "CHORD LINE", "sweep": [100, 10], "notes": [], "songs": ["004", "007"]},
          open(os.path.join(d, "meta.json"), "w"))
EOF
  printf 'before\n<!-- eval:begin -->\nold table\n<!-- eval:end -->\nafter\n' > "$tmp/README.md"
  if EVAL_DIR="$d" EVAL_README="$tmp/README.md" bench/eval.sh build table > "$tmp/table.txt" 2> "$tmp/table.err"; then ok
  else bad "eval.sh table: exit $? ($(cat "$tmp/table.err"))"; fi
  row() { grep -F "| $1 | $2 |" "$tmp/table.txt"; }
  # columns: system songs PCE PE polyphony groove empty scale drum chord piano counter (overlaps),
  # piano CTR (floor), counter CTR (floor), snare 2&4, snare both 2&4, kick 1, bar repetition,
  # kick/snare/hat per bar, empty bars, fills, s/song
  # (no drums overlap column: no row has a drums overlap)
  row "ground truth" 2 | grep -qF "| 3.000 | 3.000 | 3.000 | 3.000 | 3.000 | 3.000 | – | 1.000 | 1.00/1.00/1.00 | 1.00/1.00/1.00 | 1.00 (0.50) | 0.70 (0.50) | – | – | – | – | – | – | – | – |" \
    && ok || bad "table: ground truth row: $(row "ground truth" 2)"
  row "rule-based" 2 | grep -qF "| 2.000 | 2.000 | 2.000 | 2.000 | 2.000 | 2.000 | 0.900 | 0.500 | 0.30/0.50/0.70 | – | 0.70 (0.40) | – | 1.00 | 1.00 | 1.00 | 1.00 | 2.0/2.0/8.0 | 0.00 | 0.00 | 0.02 |" \
    && ok || bad "table: rule-based row (null chord accuracy left out of the mean): $(row "rule-based" 2)"
  # a song without chord tones and undefined kick and fill figures are left out of the means
  row "getmusic, 100 steps" 2 | grep -qF "| 0.700 | 1.00/1.00/1.00 | 1.00/1.00/1.00 | 0.50 (0.45) | – | 0.30 | 0.30 | 0.40 | 0.20 | 2.0/1.0/3.0 | 0.20 | 0.50 | 15.0 |" \
    && ok || bad "table: getmusic 100 steps row: $(row "getmusic, 100 steps" 2)"
  row "real drummers (Groove validation)" 2 | grep -qF "| – | – | – | – | – | – | – | – | – | – | – | – | 0.40 | 0.70 | 0.70 | 0.50 | 4.0/2.5/6.5 | 0.00 | 0.25 | – |" \
    && ok || bad "table: real drummers row: $(row "real drummers (Groove validation)" 2)"
  row "real drummers, ghost notes left out (as trained)" 2 | grep -qF "| 0.90 | 0.70 | 0.80 | 0.70 | 3.8/2.6/5.8 | 0.05 | – | – |" \
    && ok || bad "table: real drummers without ghost notes row: $(row "real drummers, ghost notes left out (as trained)" 2)"
  row "getmusic, 100 steps" 1 | grep -qF "| 1.500 |" && ok || bad "table: sweep row at 100 steps (first song only): $(row "getmusic, 100 steps" 1)"
  row "getmusic, 10 steps" 1 | grep -qF "| 9.000 |" && ok || bad "table: sweep row at 10 steps: $(row "getmusic, 10 steps" 1)"
  grep -q "CHORD LINE" "$tmp/table.txt" && ok || bad "table: chord recognition line missing"
  grep -q "drums overlap" "$tmp/table.txt" && bad "table: a drums column with nothing in it" || ok
  [ "$(head -n 2 "$tmp/README.md")" = "$(printf 'before\n<!-- eval:begin -->')" ] && [ "$(tail -n 2 "$tmp/README.md")" = "$(printf '<!-- eval:end -->\nafter')" ] \
    && ! grep -q "old table" "$tmp/README.md" && grep -qF "| ground truth | 2 |" "$tmp/README.md" && ok \
    || bad "table: README not rewritten between the markers only"
  printf 'no markers\n' > "$tmp/README2.md"
  EVAL_DIR="$d" EVAL_README="$tmp/README2.md" bench/eval.sh build table > /dev/null 2>&1 && bad "table: README without markers accepted" || ok
fi

finish test_evaltool
