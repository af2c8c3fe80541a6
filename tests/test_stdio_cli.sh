#!/usr/bin/env bash
# test_stdio_cli.sh — '-' as standard input wherever the CLI reads a MIDI
# file (info, dump, eval, plot, render): the same result as the file itself,
# one-line errors for an empty or foreign stream, '-' read at most once.
# (generate's '-' and -o '-' are in test_generate_cli.sh: they need the model.)
set -u
GM=${GETMUSIC_BIN:-build/getmusic}
cd "$(dirname "$0")/.."
. tests/lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ex=examples/melody.mid

# The same output as from the file, apart from the name it prints.
same() { # same WHAT CMD... (run with the file, then with '-' < file)
  local what=$1; shift
  local a b
  a=$("$@" "$ex" 2>&1 | sed "s|$ex|NAME|g"); b=$("$@" - < "$ex" 2>&1 | sed 's|standard input|NAME|g; s|^file      - |file      NAME |; s|"-"|"NAME"|g')
  [ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "$what: '-' differs from the file"
}
same "info" "$GM" info
same "info --json" "$GM" info --json
same "dump" "$GM" dump
same "eval" "$GM" eval --json

# One-line reasons, exit 1.
one_err() { # one_err WHAT INPUT_FILE CMD...
  local what=$1 input=$2; shift 2
  local err; err=$("$@" < "$input" 2>&1 >/dev/null); local rc=$?
  [ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$err" | grep -c .)" -eq 1 ] && grep -q "standard input" <<<"$err" \
    && ok || bad "$what: exit $rc, want 1 and one line naming standard input ($err)"
}
printf 'not a midi file at all' > "$tmp/junk"
one_err "info of an empty stream" /dev/null "$GM" info -
one_err "info of junk" "$tmp/junk" "$GM" info -
one_err "plot of junk" "$tmp/junk" "$GM" plot - -o "$tmp/x.png"
one_err "render of an empty stream" /dev/null "$GM" render - -o "$tmp/x.wav"
err=$("$GM" eval - --ref - < "$ex" 2>&1); [ $? -eq 1 ] && grep -q "once" <<<"$err" && ok || bad "eval - --ref - is refused: $err"
err=$("$GM" plot - --given - -o "$tmp/x.png" < "$ex" 2>&1); [ $? -eq 1 ] && grep -q "once" <<<"$err" && ok || bad "plot - --given - is refused: $err"
[ ! -e "$tmp/x.png" ] && [ ! -e "$tmp/x.wav" ] && ok || bad "a failed request wrote its output"

# Files written from a stream equal those written from the file.
"$GM" plot "$ex" -o "$tmp/f.png" --no-title && "$GM" plot - -o "$tmp/p.png" --no-title < "$ex" && cmp -s "$tmp/f.png" "$tmp/p.png" \
  && ok || bad "plot - differs from plot FILE"
"$GM" plot "$ex" --given "$ex" -o "$tmp/g1.png" && "$GM" plot "$ex" --given - -o "$tmp/g2.png" < "$ex" &&
  cmp -s "$tmp/g1.png" "$tmp/g2.png" && ok || bad "plot --given - differs from --given FILE"
if "$GM" render "$ex" -o "$tmp/f.wav" --quiet 2>/dev/null; then
  "$GM" render - -o "$tmp/p.wav" --quiet < "$ex" && cmp -s "$tmp/f.wav" "$tmp/p.wav" && ok || bad "render - differs from render FILE"
else
  echo "SKIP: render (no FluidSynth or SoundFont)" >&2
fi
# A pipe (not a regular file: no size known in advance) reads the same.
cat "$ex" | "$GM" info - > "$tmp/pipe.txt" && "$GM" info - < "$ex" > "$tmp/redir.txt" && cmp -s "$tmp/pipe.txt" "$tmp/redir.txt" \
  && ok || bad "info from a pipe differs"
"$GM" --help | grep -q "named '-' is standard input" && ok || bad "--help does not say what '-' means"

finish test_stdio_cli
