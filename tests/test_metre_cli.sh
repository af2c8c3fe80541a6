#!/usr/bin/env bash
# test_metre_cli.sh — where `info` says the bars come from (the file, a
# beat_midi.txt beside it, inferred from the music, given by --metre), and
# --metre / --pickup's one-line refusals. POP909 song 001 (1/4 and 2/4 in
# its file) when the shared data is there.
set -u
GM=${GETMUSIC_BIN:-build/getmusic}
cd "$(dirname "$0")/.."
. tests/lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
DATA=${GETMUSIC_DATA:-../shared/data}

metre_line() { "$GM" info "$@" | grep '^metre'; }
has() { # has WHAT TEXT PATTERN
  grep -q -- "$3" <<<"$2" && ok || bad "$1: '$2' lacks '$3'"
}

has "melody: the file's" "$(metre_line examples/melody.mid)" "(file)"
has "melody --metre 3/4" "$(metre_line examples/melody.mid --metre 3/4)" "3/4 (bar 1)"
has "melody --metre 3/4: given" "$(metre_line examples/melody.mid --metre 3/4)" "(given)"
has "melody --pickup 1" "$(metre_line examples/melody.mid --metre 4/4 --pickup 1)" "4/4 (bar 2)"
json=$("$GM" info examples/melody.mid --json)
has "json metre" "$json" '"metre": {"numerator": 4, "denominator": 4'
has "json source" "$json" '"source": "file"'

expect 1 "--metre 3" -- "$GM" info examples/melody.mid --metre 3
expect 1 "--metre 3/5" -- "$GM" info examples/melody.mid --metre 3/5
expect 1 "--metre 7/4" -- "$GM" info examples/melody.mid --metre 7/4
expect 1 "--pickup -1" -- "$GM" info examples/melody.mid --pickup -1
expect 1 "--metre no value" -- "$GM" info examples/melody.mid --metre
expect 1 "generate --metre x" -- "$GM" generate examples/melody.mid -o "$tmp/x.mid" --metre x

if [ -f "$DATA/pop909/001/001.mid" ]; then
  cp "$DATA/pop909/001/001.mid" "$tmp/001.mid"
  alone=$(metre_line "$tmp/001.mid")
  has "001 alone" "$alone" "(inferred from the music"
  has "001 alone: 4/4" "$alone" "4/4 (bar 1)"
  has "001 with beat_midi.txt" "$(metre_line "$DATA/pop909/001/001.mid")" "(beat_midi.txt beside the file)"
  has "001 --metre file" "$(metre_line "$tmp/001.mid" --metre file)" "2/4 (bar 1)  (file)"
  has "001 json" "$("$GM" info "$tmp/001.mid" --json)" '"source": "inferred from the music"'
  bars=$("$GM" info "$tmp/001.mid" | sed -nE 's/^length +([0-9]+) bars.*/\1/p')
  [ "${bars:-0}" -ge 70 ] && [ "${bars:-0}" -le 80 ] && ok || bad "001 alone: $bars bars, want about 75 (4/4)"
else
  skip=$((skip+1)); echo "SKIP: no POP909 data" >&2
fi
finish test_metre_cli
