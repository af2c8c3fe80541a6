#!/usr/bin/env bash
# test_plot_cli.sh — `getmusic plot`: a PNG piano roll of the bundled
# example, its options, exit codes and one-line errors; with python3, the
# pixels: bar lines of the piece's metre (a beat_midi.txt beside the file
# included) and the generated style under --given.
set -u
GM=${GETMUSIC_BIN:-build/getmusic}
cd "$(dirname "$0")/.."
. tests/lib.sh
is_png() { [ "$(head -c 8 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; }
png_width() { od -An -tu1 -j16 -N4 "$1" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}'; }
png_height() { od -An -tu1 -j20 -N4 "$1" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}'; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
M=examples/melody.mid

# ---- usage and bad input ---------------------------------------------------
expect 0 "plot --help" -- "$GM" plot --help
expect 1 "plot without arguments" -- "$GM" plot
expect 1 "plot without -o" -- "$GM" plot "$M"
expect 1 "plot without input" -- "$GM" plot -o "$tmp/x.png"
expect 1 "-o without value" -- "$GM" plot "$M" -o
expect 1 "missing file" -- "$GM" plot "$tmp/nope.mid" -o "$tmp/x.png"
printf 'not a midi file at all' > "$tmp/junk.mid"
expect 1 "junk MIDI" -- "$GM" plot "$tmp/junk.mid" -o "$tmp/x.png"
expect 1 "unknown option" -- "$GM" plot "$M" -o "$tmp/x.png" --frob
expect 1 "two inputs" -- "$GM" plot "$M" "$M" -o "$tmp/x.png"
expect 1 "bars reversed" -- "$GM" plot "$M" -o "$tmp/x.png" --bars 9-3
expect 1 "bars not a range" -- "$GM" plot "$M" -o "$tmp/x.png" --bars abc
expect 1 "bar zero" -- "$GM" plot "$M" -o "$tmp/x.png" --bars 0-4
expect 1 "bars after the end" -- "$GM" plot "$M" -o "$tmp/x.png" --bars 40-41
expect 1 "width too small" -- "$GM" plot "$M" -o "$tmp/x.png" --width 10
expect 1 "width not a number" -- "$GM" plot "$M" -o "$tmp/x.png" --width abc
expect 1 "height too large" -- "$GM" plot "$M" -o "$tmp/x.png" --height 100000
expect 1 "height too small for the rows" -- "$GM" plot "$M" -o "$tmp/x.png" --height 120 --bars-per-row 1
expect 1 "bars per row zero" -- "$GM" plot "$M" -o "$tmp/x.png" --bars-per-row 0
expect 1 "unknown layout" -- "$GM" plot "$M" -o "$tmp/x.png" --layout nope
expect 1 "missing --given file" -- "$GM" plot "$M" -o "$tmp/x.png" --given "$tmp/nope.mid"
expect 1 "junk --given file" -- "$GM" plot "$M" -o "$tmp/x.png" --given "$tmp/junk.mid"
expect 1 "unwritable output" -- "$GM" plot "$M" -o "$tmp/no-such-dir/x.png"
[ ! -e "$tmp/x.png" ] && ok || bad "a PNG was written by a failing command"
[ -z "$(ls "$tmp" | grep -v junk.mid)" ] && ok || bad "files left behind: $(ls "$tmp")"

# ---- plots -----------------------------------------------------------------
expect 0 "plot example" -- "$GM" plot "$M" -o "$tmp/roll.png"
is_png "$tmp/roll.png" && ok || bad "roll.png is not a PNG"
w=$(png_width "$tmp/roll.png"); h=$(png_height "$tmp/roll.png")
[ "$w" -ge 480 ] && [ "$w" -le 2400 ] && [ "$h" -ge 120 ] && [ "$h" -le 8192 ] && ok || bad "automatic size ${w}x${h}"
expect 0 "plot bars 9-12 at 800 px" -- "$GM" plot "$M" -o "$tmp/part.png" --bars 9-12 --width 800
is_png "$tmp/part.png" && [ "$(png_width "$tmp/part.png")" -eq 800 ] && ok || bad "part.png is not an 800 px wide PNG"
expect 0 "plot fixed size" -- "$GM" plot "$M" -o "$tmp/fixed.png" --width 1200 --height 900 --no-chords --no-title
[ "$(png_width "$tmp/fixed.png")" -eq 1200 ] && [ "$(png_height "$tmp/fixed.png")" -eq 900 ] && ok || bad "fixed.png not 1200x900"
expect 0 "bars past the end are clipped" -- "$GM" plot "$M" -o "$tmp/tail.png" --bars 15-99
expect 0 "one bar" -- "$GM" plot "$M" -o "$tmp/one.png" --bars 3
expect 0 "rows of 4 bars" -- "$GM" plot "$M" -o "$tmp/rows.png" --bars-per-row 4 --layout original --title "Melody, 4 bars a row"
[ "$(png_height "$tmp/rows.png")" -gt "$h" ] && ok || bad "4 rows are not taller than 1"
expect 0 "--given itself" -- "$GM" plot "$M" -o "$tmp/same.png" --given "$M"
cmp -s "$tmp/same.png" "$tmp/roll.png" && ok || bad "--given itself: not the plain roll (notes marked generated?)"
cp "$tmp/roll.png" "$tmp/over.png"
expect 0 "overwrite an existing PNG" -- "$GM" plot "$M" -o "$tmp/over.png" --bars 1-2
[ "$(png_width "$tmp/over.png")" -ne "$w" ] && ok || bad "over.png not replaced"

# ---- pixels (python3's zlib decodes the PNG) --------------------------------
if [ -x /usr/bin/python3 ]; then
  # probe PNG: the number of bar lines crossed by the row just under the
  # first frame line, and 1 when a magenta (generated-edge) pixel shows up
  # on the way (rows are decoded only as far as that row: pure Python is
  # slow; the legend shows the generated style near the top whenever any
  # note is generated)
  probe() {
    /usr/bin/python3 - "$1" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
pos, idat, w, h = 8, b'', 0, 0
while pos < len(data):
    n, typ = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if typ == b'IHDR':
        w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
        assert depth == 8 and ctype == 2
    elif typ == b'IDAT':
        idat += body
    pos += 12 + n
raw, stride = zlib.decompress(idat), 3 * w
def rows():
    prev = bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 3] if i >= 3 else 0
            b = prev[i]
            c = prev[i - 3] if i >= 3 else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        yield [tuple(line[3 * x:3 * x + 3]) for x in range(w)]
BAR, MAGENTA = (110, 110, 110), (230, 0, 126)
top, lines, magenta = None, 0, False
for y, row in enumerate(rows()):
    magenta = magenta or MAGENTA in row
    if top is None and sum(p == BAR for p in row) > w // 4: top = y
    if top is not None and y == top + 2:
        inside = False
        for p in row:
            lines += p == BAR and not inside
            inside = p == BAR
        break
print(lines, int(magenta))
EOF
  }
  bars=$("$GM" info "$M" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bars"])')
  read -r lines magenta < <(probe "$tmp/roll.png")
  [ "$lines" -eq $((bars + 1)) ] && ok || bad "roll.png: $lines bar lines, want $((bars + 1))"
  [ "$magenta" -eq 0 ] && ok || bad "roll.png: generated style without --given"
  read -r lines magenta < <(probe "$tmp/part.png")
  [ "$lines" -eq 5 ] && ok || bad "bars 9-12: $lines bar lines, want 5"

  # a beat annotation beside the file: bars of 3 beats (as POP909 gives them)
  mkdir -p "$tmp/song"; cp "$M" "$tmp/song/song.mid"
  /usr/bin/python3 -c 'for i in range(64): print("%.3f 1 %d" % (i * 0.6, i % 3 == 0))' > "$tmp/song/beat_midi.txt"
  bars3=$("$GM" info "$tmp/song/song.mid" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bars"])')
  expect 0 "plot with beat_midi.txt" -- "$GM" plot "$tmp/song/song.mid" -o "$tmp/beats.png"
  read -r lines magenta < <(probe "$tmp/beats.png")
  [ "$bars3" -ne "$bars" ] && [ "$lines" -eq $((bars3 + 1)) ] && ok || bad "beat file: $lines bar lines, want $((bars3 + 1)) (info: $bars3 bars)"

  # --given an input with only the first notes: the rest is generated
  /usr/bin/python3 - "$tmp/few.mid" <<'EOF'
import struct, sys
ev = b''
for i, p in enumerate((60, 64, 67)):  # three quarter notes, program 73 (flute) like the melody
    ev += bytes([0, 0x90, p, 100, 0x60, 0x80, p, 0]) if i else bytes([0, 0xC0, 73, 0, 0x90, p, 100, 0x60, 0x80, p, 0])
ev += b'\x00\xff\x2f\x00'
open(sys.argv[1], 'wb').write(b'MThd' + struct.pack('>IHHH', 6, 0, 1, 96) + b'MTrk' + struct.pack('>I', len(ev)) + ev)
EOF
  expect 0 "--given a shorter file" -- "$GM" plot "$M" -o "$tmp/gen.png" --given "$tmp/few.mid"
  read -r lines magenta < <(probe "$tmp/gen.png")
  [ "$magenta" -eq 1 ] && ok || bad "--given: no generated style"
fi

finish test_plot_cli
