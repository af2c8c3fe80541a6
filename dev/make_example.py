#!/usr/bin/env python3
"""Writes examples/melody.mid: a short self-written melody (16 bars, 4/4,
100 bpm) with block chords (C G Am F, four times), and examples/melody.chords.
Plain bytes, no dependencies; committed output, public domain (CC0)."""
import struct, os

TPQ = 480
chords = [("C", [48, 52, 55]), ("G", [43, 47, 50]), ("Am", [45, 48, 52]), ("F", [41, 45, 48])]
# (pitch, beats) per bar, 4 beats each; 0 = rest
phrases = [
    [(64, 1), (67, 1), (72, 1.5), (71, .5)], [(67, 2), (62, 1), (65, 1)],
    [(64, 1), (69, 1), (72, 1), (69, 1)],   [(65, 2), (0, 1), (60, 1)],
    [(64, .5), (65, .5), (67, 1), (72, 1), (67, 1)], [(71, 1), (74, 1), (67, 2)],
    [(69, 1.5), (67, .5), (64, 1), (69, 1)], [(72, 3), (0, 1)],
]
melody = phrases + phrases[:6] + [[(69, 1), (71, 1), (72, 1), (74, 1)], [(72, 4)]]

def vlq(n):
    out = [n & 0x7f]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7f)); n >>= 7
    return bytes(reversed(out))

def track(events):  # events: (tick, bytes), sorted
    data, last = b"", 0
    for t, ev in sorted(events, key=lambda e: (e[0], e[1][0] & 0xf0 != 0x80)):
        data += vlq(t - last) + ev; last = t
    data += vlq(0) + b"\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(data)) + data

def name(s): return b"\xff\x03" + vlq(len(s)) + s.encode()

conductor = [(0, b"\xff\x51\x03" + (600000).to_bytes(3, "big")), (0, b"\xff\x58\x04\x04\x02\x18\x08"),
             (0, b"\xff\x59\x02\x00\x00"), (0, name("getmusic example"))]
mel = [(0, name("Melody")), (0, bytes([0xc0, 73]))]
t = 0
for bar in melody:
    for p, beats in bar:
        d = int(beats * TPQ)
        if p: mel += [(t, bytes([0x90, p, 96])), (t + d, bytes([0x80, p, 0]))]
        t += d
ch = [(0, name("Chords")), (0, bytes([0xc1, 0]))]
for b in range(16):
    for p in chords[b % 4][1]:
        ch += [(b * 4 * TPQ, bytes([0x91, p, 72])), ((b * 4 + 4) * TPQ, bytes([0x81, p, 0]))]
os.makedirs("examples", exist_ok=True)
with open("examples/melody.mid", "wb") as f:
    f.write(b"MThd" + struct.pack(">IHHH", 6, 1, 3, TPQ) + track(conductor) + track(mel) + track(ch))
with open("examples/melody.chords", "w") as f:
    f.write(" ".join(chords[b % 4][0] for b in range(16)) + "\n")
