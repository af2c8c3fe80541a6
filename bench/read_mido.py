#!/usr/bin/env python3
"""Reference for `make bench`: read every MIDI file under the given folders
with mido (Debian python3-mido) and pair notes, as `getmusic prepare` must at
the least. Prints files, notes and seconds as one JSON line."""
import json, os, sys, time
import mido

def files(roots):
    for r in roots:
        for d, _, fs in os.walk(r):
            for f in sorted(fs):
                if f.lower().endswith((".mid", ".midi")):
                    yield os.path.join(d, f)

t0 = time.perf_counter()
n_files = n_notes = n_bad = 0
for path in files(sys.argv[1:]):
    try:
        m = mido.MidiFile(path)
    except Exception:
        n_bad += 1
        continue
    n_files += 1
    for tr in m.tracks:
        open_notes, t = {}, 0
        for msg in tr:
            t += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                open_notes.setdefault((msg.channel, msg.note), []).append(t)
            elif msg.type in ("note_off", "note_on"):
                q = open_notes.get((msg.channel, msg.note))
                if q:
                    q.pop(0); n_notes += 1
print(json.dumps({"files": n_files, "rejected": n_bad, "notes": n_notes, "seconds": time.perf_counter() - t0}))
