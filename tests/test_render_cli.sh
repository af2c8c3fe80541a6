#!/usr/bin/env bash
# test_render_cli.sh — `getmusic render`: usage errors, a real render of the
# bundled example (WAV header and length checked), failures that leave an
# existing file alone. Rendering checks skip when no SoundFont is installed.
set -u
GM=${GETMUSIC_BIN:-build/getmusic}
cd "$(dirname "$0")/.."
. tests/lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if "$GM" render examples/melody.mid -o "$tmp/probe.wav" --soundfont /nonexistent.sf2 2>&1 | grep -q "no FluidSynth"; then
  echo "SKIP: getmusic built without FluidSynth (install libfluidsynth-dev): render not checked" >&2
  echo "test_render_cli: 0 passed, 0 failed, 1 skipped"; exit 0
fi
expect 0 "render --help" -- "$GM" render --help
"$GM" render --help | grep -q -- "--soundfont" && ok || bad "render --help does not mention --soundfont"
expect 1 "render without arguments" -- "$GM" render
expect 1 "render without -o" -- "$GM" render examples/melody.mid
expect 1 "render without input" -- "$GM" render -o "$tmp/x.wav"
expect 1 "render two inputs" -- "$GM" render examples/melody.mid examples/melody.mid -o "$tmp/x.wav"
expect 1 "render unknown option" -- "$GM" render examples/melody.mid -o "$tmp/x.wav" --frob
expect 1 "render bad sample rate" -- "$GM" render examples/melody.mid -o "$tmp/x.wav" --sample-rate 12
expect 1 "render bad gain" -- "$GM" render examples/melody.mid -o "$tmp/x.wav" --gain loud
expect 1 "render missing input" -- "$GM" render "$tmp/nope.mid" -o "$tmp/x.wav"
printf 'not a midi file' > "$tmp/junk.mid"
expect 1 "render junk input" -- "$GM" render "$tmp/junk.mid" -o "$tmp/x.wav"
expect 1 "render missing SoundFont" -- "$GM" render examples/melody.mid -o "$tmp/x.wav" --soundfont "$tmp/nope.sf2"
[ ! -e "$tmp/x.wav" ] && ok || bad "a failed render left $tmp/x.wav"
printf 'precious' > "$tmp/keep.wav"
printf 'not a soundfont' > "$tmp/junk.sf2"
expect 1 "render junk SoundFont" -- "$GM" render examples/melody.mid -o "$tmp/keep.wav" --soundfont "$tmp/junk.sf2"
[ "$(cat "$tmp/keep.wav")" = precious ] && ok || bad "a failed render changed an existing file"
[ -z "$(ls "$tmp" | grep '\.tmp\.')" ] && ok || bad "temporary files left: $(ls "$tmp")"

sf=${GETMUSIC_SOUNDFONT:-}
[ -z "$sf" ] && [ -r /usr/share/sounds/sf2/TimGM6mb.sf2 ] && sf=/usr/share/sounds/sf2/TimGM6mb.sf2
[ -z "$sf" ] && [ -r /usr/share/sounds/sf2/FluidR3_GM.sf2 ] && sf=/usr/share/sounds/sf2/FluidR3_GM.sf2
if [ -z "$sf" ] || [ ! -r "$sf" ]; then
  echo "SKIP: no SoundFont installed: render not checked" >&2; skip=$((skip+1))
else
  out=$("$GM" render examples/melody.mid -o "$tmp/keep.wav" --soundfont "$sf" --sample-rate 22050 --tail 1 2>"$tmp/err"); rc=$?
  [ "$rc" -eq 0 ] && ok || bad "render example: exit $rc ($(cat "$tmp/err"))"
  [ ! -s "$tmp/err" ] && ok || bad "render example wrote to stderr in a pipe: $(cat "$tmp/err")"
  grep -q "keep.wav: 39.4 s of 22050 Hz stereo audio, 100 notes" <<<"$out" && ok || bad "render summary: $out"
  # melody.mid: 16 bars of 4/4 at 100 bpm = 38.4 s, + 1 s tail = 39.4 s = 868770 frames at 22050 Hz.
  if [ -x /usr/bin/python3 ]; then
    /usr/bin/python3 - "$tmp/keep.wav" <<'PY' && ok || bad "WAV check"
import struct, sys, wave
w = wave.open(sys.argv[1])
assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 22050), w.getparams()
assert w.getnframes() == 868770, w.getnframes()
pcm = struct.unpack("<%dh" % (2 * w.getnframes()), w.readframes(w.getnframes()))
assert max(abs(x) for x in pcm[: 2 * 22050]) > 300, "silent where the melody plays"
assert max(abs(x) for x in pcm[-2 * 4410:]) <= 16, "not silent at the end"
PY
  else
    [ "$(stat -c %s "$tmp/keep.wav")" -eq $((44 + 868770 * 4)) ] && ok || bad "WAV size $(stat -c %s "$tmp/keep.wav")"
  fi
  out=$("$GM" render examples/melody.mid -o "$tmp/q.wav" --soundfont "$sf" --sample-rate 8000 --quiet 2>&1); rc=$?
  [ "$rc" -eq 0 ] && [ -z "$out" ] && [ -s "$tmp/q.wav" ] && ok || bad "render --quiet: exit $rc, output '$out'"
  GETMUSIC_SOUNDFONT="$sf" "$GM" render examples/melody.mid -o "$tmp/e.wav" --sample-rate 8000 | grep -q "SoundFont $sf" \
    && ok || bad "GETMUSIC_SOUNDFONT not used"
fi
finish test_render_cli
