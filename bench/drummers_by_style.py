#!/usr/bin/env python3
"""
bench/drummers_by_style.py — the drum figures of Groove MIDI's real drummers,
per drum style (python/model.py GROOVE_STYLES: the styles `generate
--drum-style` offers), with their ghost notes left out as `prepare` does:
the reference that models/README.md's per-style tables compare with.

    /usr/bin/python3 bench/drummers_by_style.py [GROOVE_DIR] [--getmusic build/getmusic]

Every 4/4 beat file of Groove's info.csv (all splits; the fill files left out)
is scored by `getmusic eval --tracks drums --json --ghost-velocity 60`; the
table gives the mean over files of each figure (include/getmusic.h,
gm_drum_feel), as `make eval` does.
"""

import argparse
import collections
import csv
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import model as M  # noqa: E402

FIGURES = [("snare_on_2_4", "snare 2&4"), ("both_backbeats", "both 2&4"), ("kick_on_1", "kick 1"),
           ("bar_repetition", "repetition"), ("kick_per_bar", "kick/bar"), ("snare_per_bar", "snare/bar"),
           ("hat_per_bar", "hat/bar"), ("fills", "fills")]


def style_files(groove):
    """{our style: [4/4 beat files]} from Groove's info.csv."""
    by = collections.defaultdict(list)
    with open(os.path.join(groove, "info.csv")) as f:
        for r in csv.DictReader(f):
            if r["beat_type"] == "beat" and r["time_signature"] == "4-4":
                style = M.GROOVE_STYLES.get(r["style"].split("/")[0], "any")
                by[style].append(os.path.join(groove, r["midi_filename"]))
    return by


def means(gm, files):
    out = subprocess.run([gm, "eval", *files, "--tracks", "drums", "--json", "--quiet", "--ghost-velocity", "60"],
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit("drummers_by_style.py: getmusic eval failed: " + out.stderr.strip())
    vals = collections.defaultdict(list)
    for f in json.loads(out.stdout)["files"]:
        for t in f["tracks"]:
            feel = t.get("drum_feel") if t.get("class") == "drums" else None
            for k, _ in FIGURES:
                if feel and feel.get(k) is not None:
                    vals[k].append(feel[k])
    return {k: (sum(v) / len(v) if v else math.nan) for k, v in vals.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("groove", nargs="?", default=os.path.join("..", "shared", "data", "groove"))
    ap.add_argument("--getmusic", default=os.path.join("build", "getmusic"))
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.groove, "info.csv")):
        sys.exit("drummers_by_style.py: no %s/info.csv (Groove MIDI)" % a.groove)
    by = style_files(a.groove)
    print("| style | files | " + " | ".join(label for _, label in FIGURES) + " |")
    print("|---|---:|" + "---:|" * len(FIGURES))
    for style in M.DRUM_STYLES[1:]:
        if by.get(style):
            m = means(a.getmusic, by[style])
            print("| %s | %d | %s |" % (style, len(by[style]),
                                        " | ".join("%.2f" % m.get(k, math.nan) for k, _ in FIGURES)))


if __name__ == "__main__":
    main()
