#!/usr/bin/env bash
# test_model_listens.sh — the shipped model follows its conditions, checked in
# token space with python/probe.py on POP909 songs (their chord_midi.txt labels
# in the chord rows), so that a model which ignores the chords (as every model
# up to 2026-11-26 nearly did) or ignores its input altogether (a run stuck in
# the unigram plateau) cannot be shipped unnoticed:
#  - piano: the first-step prediction's chord-tone share with the chord rows
#    given is at least 0.70, and at least 0.20 above the same with them EMPTY;
#  - counter: given above empty by at least 0.08;
#  - removing the lead changes some probability by more than 0.01;
#  - drums (eight Groove grooves of the validation split), for a model with bar
#    positions: its first-step prediction puts at least 1.2 times its mean
#    kick mass on the bar's first 16th (a model without them cannot: 1.000),
#    and at least 1.3 times its mean snare mass on beats 2 and 4 (the shipped
#    model: 1.52 since stage 4, 1.08 before; Groove's own grooves: 1.7).
# The songs are prepared with the model's own vocabulary (prepare --vocab MODEL).
# Skips without python3-torch or ../shared/data.
set -u
cd "$(dirname "$0")/.."
GM=${GETMUSIC_BIN:-build/getmusic}
PY=/usr/bin/python3
MODEL=${GETMUSIC_MODEL:-models/default.gguf}
DATA=${GETMUSIC_DATA:-../shared/data}/pop909
. tests/lib.sh
skip() { echo "  ($1: model probe skipped)" >&2; echo "test_model_listens: 0 passed, 0 failed, 1 skipped"; exit 0; }
"$PY" -c "import torch, numpy" 2>/dev/null || skip "python3-torch missing"
[ -d "$DATA/001" ] || skip "$DATA not found"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# Ten songs of the shipped model's validation split (see models/README.md: the
# same songs make eval scores), chord labels beside each.
mkdir -p "$tmp/in"
for s in 004 007 010 017 019 047 055 057 061 068; do cp -r "$DATA/$s" "$tmp/in/" 2>/dev/null; done
GROOVE=$(dirname "$DATA")/groove
for g in drummer1/session3/10_rock-folk_90_beat_4-4 drummer1/session3/8_rock_135_beat_4-4 drummer2/session2/9_rock_130_beat_4-4 \
         drummer3/session2/25_hiphop_92_beat_4-4 drummer5/session2/11_soul_96_beat_4-4 drummer7/session1/11_rock_93_beat_4-4 \
         drummer7/session1/12_funk_102_beat_4-4 drummer7/session2/77_funk_100_beat_4-4; do
  cp "$GROOVE/$g.mid" "$tmp/in/groove_$(basename "$g").mid" 2>/dev/null
done
"$GM" prepare "$tmp/in" -o "$tmp/c" --vocab "$MODEL" --valid-percent 100 --quiet >/dev/null 2>"$tmp/err" \
  && ok || bad "prepare: $(cat "$tmp/err")"

if "$PY" python/probe.py "$MODEL" "$tmp/c" --segments 8 --json >"$tmp/p.json" 2>"$tmp/err"; then ok; else bad "probe: $(cat "$tmp/err")"; fi
"$PY" - "$tmp/p.json" "$MODEL" <<'EOF' && ok || bad "the model does not follow its conditions (see above)"
import json, sys
sys.path.insert(0, "python")
import model as M
r = json.load(open(sys.argv[1]))["classes"]
p, c = r["piano"], r["counter"]
print("  piano chord tones %.3f given / %.3f empty; counter %.3f / %.3f; lead sensitivity %.2e"
      % (p["chord_tones_given"], p["chord_tones_empty"], c["chord_tones_given"], c["chord_tones_empty"],
         p["sensitivity"]), file=sys.stderr)
assert p["chord_tones_given"] >= 0.70, "piano chord tones with chords given below 0.70"
assert p["chord_tones_given"] - p["chord_tones_empty"] >= 0.20, "piano hardly depends on the chord rows"
assert c["chord_tones_given"] - c["chord_tones_empty"] >= 0.08, "counter hardly depends on the chord rows"
assert p["sensitivity"] > 0.01, "the piano does not depend on the lead (unigram plateau?)"
d = r.get("drums")
if d and d.get("kick_on_1_lift") is not None:
    print("  drums: kick on 1 %.3f x the mean, snare on 2 and 4 %.3f x" % (d["kick_on_1_lift"], d["snare_on_2_4_lift"]),
          file=sys.stderr)
if M.config_from_gguf(M.gguf_py.GGUFReader(sys.argv[2])).Q:   # the model has bar positions
    assert d and d["kick_on_1_lift"] >= 1.2, "a model with bar positions that does not put the kick on beat 1"
    assert d["snare_on_2_4_lift"] >= 1.3, "a model with bar positions that does not put the snare on the backbeat"
EOF

# A bad model path is a one-line error, exit 1.
"$PY" python/probe.py "$tmp/none.gguf" "$tmp/c" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && ok || bad "missing model: rc $rc, $(cat "$tmp/err")"

finish test_model_listens
