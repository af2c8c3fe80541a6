#!/usr/bin/env bash
# test_transcribe_cli.sh — `getmusic transcribe`: usage errors, files that
# are not audio (one line, exit 1), the bundled example rendered and
# transcribed (a MIDI file `getmusic info` reads, a JSON report, --bpm and
# --metre written into the file, --melody/--chords), and a spoken voice from
# espeak-ng when it is installed. Skips when audio support or FluidSynth is
# not built in.
set -u
GM=${GETMUSIC_BIN:-build/getmusic}
PY=${PYTHON:-/usr/bin/python3}
cd "$(dirname "$0")/.."
. tests/lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if "$GM" transcribe --help | grep -q "NOT built"; then
  echo "SKIP: getmusic built without libsndfile/aubio: transcribe not checked" >&2
  echo "test_transcribe_cli: 0 passed, 0 failed, 1 skipped"; exit 0
fi
expect 0 "transcribe --help" -- "$GM" transcribe --help
expect 1 "no arguments" -- "$GM" transcribe
expect 1 "no -o" -- "$GM" transcribe x.wav
expect 1 "unknown option" -- "$GM" transcribe x.wav -o "$tmp/x.mid" --frob
expect 1 "bad bpm" -- "$GM" transcribe x.wav -o "$tmp/x.mid" --bpm 5
expect 1 "bad metre" -- "$GM" transcribe x.wav -o "$tmp/x.mid" --metre 4/3
expect 1 "missing file" -- "$GM" transcribe "$tmp/none.wav" -o "$tmp/x.mid"
expect 1 "a MIDI file is not audio" -- "$GM" transcribe examples/melody.mid -o "$tmp/x.mid"
head -c 20 /dev/urandom > "$tmp/junk.wav"
expect 1 "random bytes" -- "$GM" transcribe "$tmp/junk.wav" -o "$tmp/x.mid"
[ ! -e "$tmp/x.mid" ] && ok || bad "a failed transcription wrote $tmp/x.mid"

if ! "$GM" render examples/melody.mid -o "$tmp/song.wav" --quiet 2>/dev/null; then
  echo "SKIP: render failed (no FluidSynth or SoundFont): the round trip is not checked" >&2; skip=$((skip+1))
else
  expect 0 "transcribe the rendered example" -- "$GM" transcribe "$tmp/song.wav" -o "$tmp/song.mid" --quiet
  info=$("$GM" info "$tmp/song.mid" 2>&1)
  grep -q "melody" <<<"$info" && grep -q "chords" <<<"$info" && ok || bad "info of the result lacks melody/chords tracks: $info"
  grep -Eq "melody .*lead|lead.*melody" <<<"$info" && ok || bad "the melody track is not the lead class: $info"
  "$GM" transcribe "$tmp/song.wav" -o "$tmp/song2.mid" --json > "$tmp/r.json" 2>"$tmp/err" && ok || bad "--json failed: $(cat "$tmp/err")"
  if "$PY" -c 'import json' 2>/dev/null; then
    "$PY" - "$tmp/r.json" <<'PYEOF' && ok || bad "--json report: $(head -c 300 "$tmp/r.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["seconds"] > 10 and len(d["beats"]) > 8 and len(d["chords"]) > 4 and len(d["notes"]) > 10, d.keys()
assert all(c["name"] for c in d["chords"]) and 40 < d["bpm"] < 240
PYEOF
  fi
  "$GM" transcribe "$tmp/song.wav" -o "$tmp/b.mid" --bpm 100 --metre 3/4 --melody --quiet && ok || bad "--bpm --metre --melody"
  info=$("$GM" info "$tmp/b.mid" --json 2>&1)
  grep -q '"bpm": 100\.000' <<<"$info" && grep -q '"numerator": 3, "denominator": 4' <<<"$info" && ok || bad "--bpm 100 --metre 3/4 not in the file: $(head -c 400 <<<"$info")"
  grep -q '"name": "melody"' <<<"$info" && ok || bad "--melody wrote no melody track: $(head -c 400 <<<"$info")"
  grep -q '"name": "chords"' <<<"$info" && bad "--melody wrote a chord track" || ok
  "$GM" transcribe "$tmp/song.wav" -o - --quiet > "$tmp/stdout.mid" && [ "$(head -c 4 "$tmp/stdout.mid")" = MThd ] && ok || bad "-o - does not write MIDI to stdout"
fi

if command -v espeak-ng >/dev/null 2>&1; then
  espeak-ng -w "$tmp/voice.wav" "la la la la, sing a little song for me" 2>/dev/null
  expect 0 "transcribe espeak-ng speech" -- "$GM" transcribe "$tmp/voice.wav" -o "$tmp/voice.mid" --quiet
else
  echo "SKIP: espeak-ng not installed: no voice check" >&2; skip=$((skip+1))
fi

finish test_transcribe_cli
