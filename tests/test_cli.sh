#!/usr/bin/env bash
# test_cli.sh — the command line contract: exit codes, one-line errors,
# info/prepare/dump on the bundled example, JSON that parses.
set -u
GM=${GETMUSIC_BIN:-build/getmusic}
cd "$(dirname "$0")/.."
. tests/lib.sh
EXPECT_LINES=any   # usage errors here print the usage text after the reason
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
expect 1 "no arguments" -- "$GM"
expect 0 "--help" -- "$GM" --help
expect 0 "--version" -- "$GM" --version
expect 1 "unknown command" -- "$GM" frobnicate
expect 1 "info without file" -- "$GM" info
expect 1 "info on a missing file" -- "$GM" info "$tmp/nope.mid"
printf 'not a midi file at all' > "$tmp/junk.mid"
expect 1 "info on junk" -- "$GM" info "$tmp/junk.mid"
msg=$("$GM" info "$tmp/junk.mid" 2>&1 >/dev/null); [ "$(printf '%s\n' "$msg" | wc -l)" -eq 1 ] && ok || bad "junk: reason is not one line: $msg"
expect 1 "info unknown option" -- "$GM" info examples/melody.mid --frob
expect 1 "info unknown layout" -- "$GM" info examples/melody.mid --layout nope
expect 0 "info example" -- "$GM" info examples/melody.mid
out=$("$GM" info examples/melody.mid)
grep -q "Melody.*lead" <<<"$out" && ok || bad "info: Melody not classed as lead"
grep -q "Chords.*piano" <<<"$out" && ok || bad "info: Chords track not classed as piano"
grep -q "16 bars" <<<"$out" && ok || bad "info: not 16 bars"
grep -q "100.0 bpm" <<<"$out" && ok || bad "info: tempo not 100 bpm"
grep -q "C major" <<<"$out" && ok || bad "info: key not C major"
grep -Eq "^ +1 \| C +G +Am +F " <<<"$out" && ok || bad "info: chords of bars 1-4 not C G Am F: $(grep -E '^ +1 \|' <<<"$out")"
if [ -x /usr/bin/python3 ]; then
  "$GM" info examples/melody.mid --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["bars"]==16 and len(d["chords"])==16 and d["tracks"][0]["class"]=="lead"' && ok || bad "info --json"
fi
expect 1 "prepare without -o" -- "$GM" prepare examples
expect 1 "prepare without inputs" -- "$GM" prepare -o "$tmp/c"
expect 1 "prepare bad window" -- "$GM" prepare examples -o "$tmp/c" --window 0
expect 1 "prepare bad hop" -- "$GM" prepare examples -o "$tmp/c" --hop abc
expect 1 "prepare hop > window" -- "$GM" prepare examples -o "$tmp/c" --window 64 --hop 128
expect 1 "prepare no midi" -- "$GM" prepare "$tmp/nothing-here" -o "$tmp/c"
expect 0 "prepare example" -- "$GM" prepare examples -o "$tmp/c" --quiet --valid-percent 0 --window 128 --hop 64
[ -s "$tmp/c/corpus.bin" ] && [ -s "$tmp/c/vocab.txt" ] && [ -s "$tmp/c/summary.txt" ] && ok || bad "prepare: files missing"
if [ -x /usr/bin/python3 ]; then
  /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["songs"]==1 and d["segments_train"]>=3, d' "$tmp/c/summary.json" && ok || bad "summary.json"
fi
# --vocab MODEL.gguf: the model's vocabulary, the same corpus as from its tokens in a dict file.
if [ -s models/default.gguf ]; then
  expect 0 "prepare --vocab model" -- "$GM" prepare examples -o "$tmp/cm" --quiet --valid-percent 0 --vocab models/default.gguf
  expect 0 "prepare --vocab its dict" -- "$GM" prepare examples -o "$tmp/cd" --quiet --valid-percent 0 --vocab "$tmp/cm/vocab.txt"
  [ "$(wc -l <"$tmp/cm/vocab.txt")" -eq "$("$GM" info --model models/default.gguf | sed -nE 's/^tokens +([0-9]+) .*/\1/p' | head -n 1)" ] \
    && cmp -s "$tmp/cm/corpus.bin" "$tmp/cd/corpus.bin" && ok || bad "prepare --vocab MODEL.gguf: not the model's vocabulary"
  expect 1 "prepare --vocab model, other layout" -- "$GM" prepare examples -o "$tmp/cx" --vocab models/default.gguf --layout original
fi
# info --model: what the file holds, checked against the file itself read by
# python/gguf_py.py (not against other lines of the same output): sizes, the
# layout's tracks and drums, one row per grid row with the tokens of its kind
# in the file's token list, the parameter count, and as provenance exactly the
# file's other keys. The text form must show the same rows as the JSON.
if [ -s models/default.gguf ]; then
  expect 0 "info --model" -- "$GM" info --model models/default.gguf
  "$GM" info --model models/default.gguf > "$tmp/mi.txt"
  "$GM" info --model models/default.gguf --json > "$tmp/mi.json"
  grep -qE '^  getmusic\.source +python/train\.py' "$tmp/mi.txt" && ok || bad "info --model: no provenance getmusic.source"
  /usr/bin/python3 - "$tmp/mi.json" "$tmp/mi.txt" <<'PY' && ok || bad "info --model: text rows or layout line differ from --json, or rows do not add up to the vocabulary"
import json, re, sys
j = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
rows = [(int(r), t, k, int(n)) for r, t, k, n in
        re.findall(r"^ +(\d+)  (\S+) +(pitch|duration|root|quality) +(\d+)$", text, re.M)]
assert rows == [(r["row"], r["track"], r["kind"], r["tokens"]) for r in j["rows"]], rows
assert re.search(r"^rows +%d;" % len(j["rows"]), text, re.M)
drums = set(j["drums"])
layout = "layout    %s: %s" % (j["layout"], " ".join(c + (" (drums)" if c in drums else "") for c in j["classes"]))
assert layout in text.splitlines(), layout
assert re.search(r"^tokens +%d tokens" % j["vocab_size"], text, re.M)
# What holds for any model: the rows' tokens (durations shared, counted once) and <pad> make the vocabulary.
assert j["parameters"] > 0 and j["classes"] and len(j["rows"]) == 2 * len(j["classes"]) + 2
n_dur = {r["tokens"] for r in j["rows"] if r["kind"] == "duration"}
assert len(n_dur) == 1, n_dur
assert sum(r["tokens"] for r in j["rows"] if r["kind"] != "duration") + n_dur.pop() + 1 == j["vocab_size"]
assert "getmusic.source" in j["provenance"] and "getmusic.tokens" not in j["provenance"]
PY
  if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    /usr/bin/python3 - models/default.gguf "$tmp/mi.json" <<'PY' && ok || bad "info --model --json: not what the file holds"
import json, sys
sys.path.insert(0, "python")
from gguf_py import GGUFReader
import numpy as np
g, j = GGUFReader(sys.argv[1]), json.load(open(sys.argv[2]))
kv = g.kv
for k in ("embd", "hidden", "layers", "heads", "ffn", "max_cols", "diffusion_steps", "vocab_size"):
    assert j[k] == kv["getmusic." + k], (k, j[k], kv["getmusic." + k])
for k in ("token_features", "bar_positions"):
    assert j[k] == kv.get("getmusic." + k, 0), (k, j[k])
assert j["chord_frames_per_bar"] == kv.get("getmusic.chord_frames_per_bar", 1)
assert j["parameters"] == sum(int(np.prod(t.shape)) for n, t in g.tensors.items() if not n.startswith("harmonizer."))  # the network's; the harmoniser rides beside it
names, drum = kv["getmusic.layout.names"], kv["getmusic.layout.is_drum"]
assert j["layout"] == kv["getmusic.layout"] and j["classes"] == names, j["classes"]
assert j["drums"] == [n for n, d in zip(names, drum) if d], j["drums"]
assert len(j["rows"]) == kv["getmusic.rows"] == 2 * len(names) + 2
tokens = kv["getmusic.tokens"]
assert len(tokens) == j["vocab_size"]
# The token list: durations T1.., <pad>, one block per class by its prefix,
# then the 12 chord roots and the qualities.
n_dur = sum(1 for t in tokens if t[0] == "T" and t[1:].isdigit())
pad = tokens.index("<pad>")
assert pad == n_dur
classes = tokens[pad + 1:len(tokens) - 20]
want = []
for c, (name, prefix) in enumerate(zip(names, kv["getmusic.layout.prefixes"])):
    want += [(2 * c, name, "pitch", sum(1 for t in classes if t[0] == prefix)), (2 * c + 1, name, "duration", n_dur)]
want += [(2 * len(names), "chords", "root", 12), (2 * len(names) + 1, "chords", "quality", 8)]
got = [(r["row"], r["track"], r["kind"], r["tokens"]) for r in j["rows"]]
assert got == want, (got, want)
assert sum(n for _, _, k, n in want if k != "duration") + n_dur + 1 == j["vocab_size"]
structural = {"general.architecture", "general.alignment", "getmusic.rows", "getmusic.vocab_size", "getmusic.embd",
              "getmusic.hidden", "getmusic.layers", "getmusic.heads", "getmusic.ffn", "getmusic.max_cols",
              "getmusic.diffusion_steps", "getmusic.dropout", "getmusic.layout", "getmusic.tokens",
              "getmusic.token_counts", "getmusic.chord_frames_per_bar", "getmusic.token_features",
              "getmusic.bar_positions", "getmusic.drum_styles"}
assert j["drum_styles"] == (kv.get("getmusic.drum_styles") or []), j["drum_styles"]
prov = {k: v for k, v in kv.items()
        if k not in structural and not k.startswith("getmusic.layout.") and not k.startswith("getmusic.harmonizer.")}
assert j["harmonizer"] == kv.get("getmusic.harmonizer.source"), j["harmonizer"]
assert set(j["provenance"]) == set(prov) and "getmusic.source" in prov, (j["provenance"], prov)
for k, v in prov.items():
    if isinstance(v, str):
        assert j["provenance"][k] == v, (k, j["provenance"][k], v)
assert j["source"] == kv["getmusic.source"]
PY
  else
    echo "test_cli: info --model against the file SKIPPED (/usr/bin/python3 cannot import numpy)"
  fi
fi
expect 1 "info --model on junk" -- "$GM" info --model "$tmp/junk.mid"
expect 0 "dump example" -- "$GM" dump examples/melody.mid --bars 1-2
"$GM" dump examples/melody.mid --bars 2-2 | grep -q "^bar 2" && ok || bad "dump: bar 2 block missing"
expect 1 "dump bars outside" -- "$GM" dump examples/melody.mid --bars 40-41
expect 1 "dump bad bars" -- "$GM" dump examples/melody.mid --bars 9-3
finish test_cli
