#!/usr/bin/env bash
# test_generate_cli.sh — `getmusic generate` on the command line: the shipped
# model found without configuration, byte-identical output for one seed,
# --json, infilling/continuation/from-scratch requests, and one-line errors
# with exit 1 for bad requests. Few steps: this tests the plumbing, not music.
set -u
GM=${GETMUSIC_BIN:-build/getmusic}
cd "$(dirname "$0")/.."
. tests/lib.sh
end() { finish test_generate_cli; exit; }  # the summary line and exit, also from a skip
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if [ ! -f models/default.gguf ]; then echo "SKIP: models/default.gguf absent" >&2; end; fi
ex=examples/melody.mid
S="--steps 4 --quiet"

expect 0 "generate --help" -- "$GM" generate --help
expect 1 "no output" -- "$GM" generate $ex
expect 1 "missing input" -- "$GM" generate "$tmp/nope.mid" -o "$tmp/x.mid"
printf 'MThd junk' > "$tmp/junk.mid"
expect 1 "junk input" -- "$GM" generate "$tmp/junk.mid" -o "$tmp/x.mid"
expect 1 "unknown track" -- "$GM" generate $ex -o "$tmp/x.mid" --targets piano,tuba
"$GM" generate $ex -o "$tmp/x.mid" --targets tuba 2>&1 | grep -q "lead, counter, piano, drums" && ok || bad "unknown track does not list the model's tracks"
expect 1 "bars outside the piece" -- "$GM" generate $ex -o "$tmp/x.mid" --targets piano --bars 9-40
expect 1 "bad bar range" -- "$GM" generate $ex -o "$tmp/x.mid" --targets piano --bars 9-x
expect 1 "bars and continue" -- "$GM" generate $ex -o "$tmp/x.mid" --bars 2-3 --continue 4
expect 1 "steps 0" -- "$GM" generate $ex -o "$tmp/x.mid" --steps 0
expect 1 "steps above T" -- "$GM" generate $ex -o "$tmp/x.mid" --steps 500
expect 1 "temperature 0" -- "$GM" generate $ex -o "$tmp/x.mid" --temperature 0
expect 1 "bad chord" -- "$GM" generate $ex -o "$tmp/x.mid" --chords "C Hm7"
expect 1 "scratch without --bars" -- "$GM" generate -o "$tmp/x.mid"
expect 1 "missing model" -- "$GM" generate $ex -o "$tmp/x.mid" --model "$tmp/none.gguf"
printf 'GGUF....' > "$tmp/bad.gguf"
expect 1 "foreign model" -- "$GM" generate $ex -o "$tmp/x.mid" --model "$tmp/bad.gguf"
expect 1 "unknown option" -- "$GM" generate $ex -o "$tmp/x.mid" --frob
[ ! -e "$tmp/x.mid" ] && ok || bad "a failed request wrote its output"

# The main job; same seed → same bytes; another seed → other bytes.
expect 0 "accompaniment" -- "$GM" generate $ex -o "$tmp/a.mid" --targets counter,drums --seed 5 $S
expect 0 "accompaniment again" -- "$GM" generate $ex -o "$tmp/b.mid" --targets counter,drums --seed 5 $S
expect 0 "another seed" -- "$GM" generate $ex -o "$tmp/c.mid" --targets counter,drums --seed 6 $S
cmp -s "$tmp/a.mid" "$tmp/b.mid" && ok || bad "same seed, different bytes"
cmp -s "$tmp/a.mid" "$tmp/c.mid" && bad "another seed, same bytes" || ok
info=$("$GM" info "$tmp/a.mid")
grep -q "Melody.*52.*lead" <<<"$info" && ok || bad "the melody's 52 notes are not all kept: $info"
grep -q "Chords.*48.*piano" <<<"$info" && ok || bad "the chord track's 48 notes are not all kept"
grep -q "drums.*drums" <<<"$info" && ok || bad "no drum track written"
# An existing output survives a failed request.
cp "$tmp/a.mid" "$tmp/keep.mid"
"$GM" generate $ex -o "$tmp/keep.mid" --targets tuba 2>/dev/null
cmp -s "$tmp/a.mid" "$tmp/keep.mid" && ok || bad "a failed request changed an existing output"

if [ -x /usr/bin/python3 ]; then
  "$GM" generate $ex -o "$tmp/j.mid" --targets piano --bars 5-8 --steps 4 --json |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["bars"]==16 and d["targets"]==["piano"] and d["given"]==["lead"] and d["notes_generated"]>0 and len(d["chords"])==16 and d["chords"][0]=="C", d' \
    && ok || bad "generate --json (infilling)"
  "$GM" generate $ex -o "$tmp/k.mid" --continue 4 --steps 3 --json |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["bars"]==20 and set(d["targets"])=={"lead","piano"}, d' \
    && ok || bad "generate --json (continuation)"
  # A target that comes out empty is said (here: a 1-step piano over one bar of rest can write little;
  # the field is always there, null when every target has notes).
  "$GM" generate $ex -o "$tmp/w.mid" --targets piano --steps 3 --json |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert "warning" in d and (d["warning"] is None or "asked for" in d["warning"]), d' \
    && ok || bad "generate --json reports a warning field"
  # Chords chosen for the melody (--chords melody), or recognised from the texture (default here).
  "$GM" generate $ex -o "$tmp/m.mid" --targets piano --chords melody --steps 3 --json |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["chord_source"]=="harmonised" and len(d["chords"])==16 and all(d["chords"]), d' \
    && ok || bad "generate --chords melody (harmonised, a chord in every bar)"
  "$GM" info "$tmp/m.mid" | grep -q "chord symbols in the file (marker" && ok || bad "info of a harmonised result names its chords (markers)"
  "$GM" generate $ex -o "$tmp/m.mid" --targets piano --steps 3 --json |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["chord_source"]=="recognised", d' \
    && ok || bad "generate: a melody with its chord track has its chords recognised"
  "$GM" generate $ex -o "$tmp/m.mid" --targets piano --steps 3 2>&1 | grep -q "chords: recognised" && ok || bad "the summary says where the chords came from"
  "$GM" generate -o "$tmp/s.mid" --bars 4 --chords "Am F C G" --targets piano,drums --steps 3 --json |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["bars"]==4 and d["chords"]==["Am","F","C","G"], d' \
    && ok || bad "generate --json (from scratch, chords given)"
fi
# Chords in bars: '|' marks bars of one chord or two (the halves).
expect 1 "three chords in a bar" -- "$GM" generate $ex -o "$tmp/x.mid" --chords "C G Am | F"
"$GM" generate $ex -o "$tmp/x.mid" --chords "C G Am | F" 2>&1 | grep -q "bar 1 has more than two chords" && ok || bad "three chords: the message names the bar"
expect 1 "bad name among bars" -- "$GM" generate $ex -o "$tmp/x.mid" --chords "C G | Am Xb7"
"$GM" generate $ex -o "$tmp/x.mid" --chords "C G | Am Xb7" 2>&1 | grep -q "'Xb7' is not a chord name" && ok || bad "bad name: the message names it"
expect 1 "no chord names" -- "$GM" generate $ex -o "$tmp/x.mid" --chords " | "
if [ -x /usr/bin/python3 ]; then
  # the shipped model (since 3b1d6b7) has two chords per bar: it takes both halves
  "$GM" generate -o "$tmp/s.mid" --bars 4 --chords "C G | Am F" --targets piano --steps 2 --json |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["chords"]==["C G","Am F","C G","Am F"], d' \
    && ok || bad "--chords 'C G | Am F' on the shipped half-bar model"
  # a model trained on a half-bar corpus (the default) gets both halves
  mkdir -p "$tmp/in"; cp $ex "$tmp/in/a.mid"
  "$GM" prepare "$tmp/in" -o "$tmp/c" --window 64 --hop 32 --valid-percent 0 --quiet >/dev/null 2>&1 &&
  "$GM" train "$tmp/c" -o "$tmp/hb.gguf" --embd 8 --hidden 16 --layers 1 --heads 2 --ffn 32 --steps 1 --warmup 1 \
      --threads 1 --quiet >/dev/null 2>&1 &&
  "$GM" generate -o "$tmp/s.mid" --model "$tmp/hb.gguf" --bars 3 --chords "C G | Am | F G7" --targets piano --steps 2 --json |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["chords"]==["C G","Am","F G7"], d' \
    && ok || bad "--chords 'C G | Am | F G7' on a half-bar model"
fi
printf 'Am F\nC G\n' > "$tmp/chords.txt"
expect 0 "chords from a file" -- "$GM" generate -o "$tmp/f.mid" --bars 4 --chords "$tmp/chords.txt" $S
printf '| Am F | C |\n| G7 |\n' > "$tmp/bars.txt"
expect 0 "chords in bars from a file" -- "$GM" generate -o "$tmp/f.mid" --bars 4 --chords "$tmp/bars.txt" $S
expect 0 "chord guidance" -- "$GM" generate $ex -o "$tmp/g.mid" --targets piano --chord-guidance 1.5 --top-k 5 --temperature 0.9 $S

# -o naming the input is refused (any spelling of it) unless --force.
cp $ex "$tmp/in.mid"; ln -s in.mid "$tmp/link.mid"
expect 1 "output is the input" -- "$GM" generate "$tmp/in.mid" -o "$tmp/in.mid" $S
expect 1 "output is the input, as ./" -- "$GM" generate "$tmp/in.mid" -o "$tmp/./in.mid" $S
expect 1 "output is the input, through a link" -- "$GM" generate "$tmp/link.mid" -o "$tmp/in.mid" $S
"$GM" generate "$tmp/in.mid" -o "$tmp/in.mid" $S 2>&1 | grep -q -- "--force" && ok || bad "the refusal does not mention --force"
cmp -s $ex "$tmp/in.mid" && ok || bad "a refused request changed the input"
expect 0 "--force replaces the input" -- "$GM" generate "$tmp/in.mid" -o "$tmp/in.mid" --targets drums --force $S
"$GM" info "$tmp/in.mid" | grep -q "drums.*drums" && ok || bad "--force did not write the result over the input"
"$GM" generate --help | grep -q -- "--force" && ok || bad "--force is not in the help"

# '-': the song from standard input, the result to standard output, clean
# (the summary goes to standard error); the same bytes as with files.
"$GM" generate $ex -o "$tmp/f1.mid" --targets piano,drums --seed 3 --steps 3 --quiet
"$GM" generate - -o - --targets piano,drums --seed 3 --steps 3 < $ex > "$tmp/p1.mid" 2>"$tmp/p1.err"
cmp -s "$tmp/f1.mid" "$tmp/p1.mid" && ok || bad "generate - -o - differs from generate with files"
grep -q "wrote standard output" "$tmp/p1.err" && ok || bad "the summary is not on standard error: $(cat "$tmp/p1.err")"
"$GM" generate - -o "$tmp/p2.mid" --targets piano,drums --seed 3 --steps 3 --quiet < $ex && cmp -s "$tmp/f1.mid" "$tmp/p2.mid" \
  && ok || bad "generate - -o FILE"
"$GM" generate $ex -o - --targets piano,drums --seed 3 --steps 3 --quiet | cmp -s "$tmp/f1.mid" - && ok || bad "generate FILE -o -"
err=$("$GM" generate - -o "$tmp/x2.mid" $S < /dev/null 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "^getmusic: standard input: empty" <<<"$err" && ok || bad "empty standard input: rc $rc, $err"
expect 1 "--json and -o - together" -- "$GM" generate $ex -o - --json $S

# A track written anew is named by its class; one partly rewritten keeps its name.
"$GM" generate $ex -o "$tmp/n1.mid" --targets piano $S
"$GM" info "$tmp/n1.mid" | grep -q " piano .*piano *piano" && ok || bad "a replaced track is not named by its class: $("$GM" info "$tmp/n1.mid")"
"$GM" info "$tmp/n1.mid" | grep -q "Chords" && bad "the replaced track kept the input's name" || ok
"$GM" generate $ex -o "$tmp/n2.mid" --targets piano --bars 5-8 $S
"$GM" info "$tmp/n2.mid" | grep -q "Chords.*piano" && ok || bad "an infilled track lost its name"
end
