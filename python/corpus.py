"""
python/corpus.py — reads a corpus folder written by `getmusic prepare`
(corpus.bin + vocab.txt), validating it as src/music/corpus.c does: magic,
version, header size and CRC32, index and token checksums, the vocabulary's
checksum and size, token ids in range. Any mismatch raises CorpusError with a
one-line reason.

    c = Corpus("corpus")
    c.tokens            # numpy uint16 (n_segments, R, W)
    c.seg_valid         # numpy bool (n_segments)
    c.seg_pos           # numpy uint8 (n_segments, W): each column's position in its bar (version 3; None before)
    c.layout            # {"name", "classes": [{"name","prefix","is_drum","out_program","velocity","roles","fallback"}]}
    c.vocab_tokens, c.vocab_counts   # lists, ids = positions
    c.V, c.R, c.W, c.EMPTY, c.MASK

Layout of corpus.bin (little-endian; the comment at the top of src/music/corpus.c
is the authority):
  magic "GMCORPUS", u32 version, u32 header_bytes, u32 n_rows, u32 window_cols,
  u32 vocab_size, u32 vocab_crc, u64 n_segments, u64 n_songs, u32 index_crc,
  u32 tokens_crc, layout (char name[32], u32 n_classes, per class {char name[32],
  u8 prefix, u8 is_drum, u8 out_program, u8 velocity, u32 roles, u32 fallback}),
  [version 2: u32 chord_frames_per_bar], [version 3: u32 positions_crc], u32 header_crc;
  index: per song {u16 len, bytes}, per segment {u32 song, u32 col, u8 valid};
  tokens: u16 [n_segments][n_rows][window_cols];
  [version 3: positions: u8 [n_segments][window_cols], docs/MODEL.md "Bar positions"].
"""

import os
import struct
import zlib

import numpy as np

MAGIC = b"GMCORPUS"
VERSIONS = (1, 2, 3)
BAR_POSITIONS = 32   # docs/MODEL.md "Bar positions": positions are 0..31


class CorpusError(Exception):
    pass


def _u32(d, o):
    return struct.unpack_from("<I", d, o)[0]


def _u64(d, o):
    return struct.unpack_from("<Q", d, o)[0]


def _name32(b):
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CorpusError("cannot open %s: %s" % (path, e.strerror))


def parse_vocab(data, path):
    """vocab.txt bytes (dict.txt format: token<TAB>count per line, ids = line numbers)."""
    tokens, counts = [], []
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        if not line:
            continue
        tok, sep, cnt = line.rpartition("\t")
        if not sep or not cnt.strip().isdigit():
            raise CorpusError("%s:%d: expected token<TAB>count" % (path, n))
        tokens.append(tok)
        counts.append(int(cnt))
    return tokens, counts


class Corpus:
    def __init__(self, folder):
        path = os.path.join(folder, "corpus.bin")
        d = _read(path)
        if len(d) < 80:
            raise CorpusError("%s: too short to be a corpus" % path)
        if d[:8] != MAGIC:
            raise CorpusError("%s: not a getmusic corpus (bad magic)" % path)
        self.version = _u32(d, 8)
        if self.version not in VERSIONS:
            raise CorpusError("%s: corpus version %d, this reader knows %s" % (path, self.version, VERSIONS))
        hb = _u32(d, 12)
        if hb < 84 or hb > len(d):
            raise CorpusError("%s: corrupt header size" % path)
        if zlib.crc32(d[: hb - 4]) != _u32(d, hb - 4):
            raise CorpusError("%s: header checksum mismatch (corrupt file)" % path)
        R, W, V, vocab_crc = _u32(d, 16), _u32(d, 20), _u32(d, 24), _u32(d, 28)
        n_seg, n_songs = _u64(d, 32), _u64(d, 40)
        index_crc, tokens_crc = _u32(d, 48), _u32(d, 52)
        lname = _name32(d[56:88])
        nc = _u32(d, 88)
        extra = {1: 0, 2: 4, 3: 8}[self.version]
        if not (1 <= nc <= 16) or hb != 56 + 36 + nc * 44 + extra + 4 or R != 2 * nc + 2 or not (1 <= W <= 65536) or V < 17:
            raise CorpusError("%s: inconsistent header (rows %d, classes %d, window %d)" % (path, R, nc, W))
        classes, q = [], 92
        for _ in range(nc):
            classes.append({"name": _name32(d[q:q + 32]), "prefix": chr(d[q + 32]), "is_drum": d[q + 33],
                            "out_program": d[q + 34], "velocity": d[q + 35], "roles": _u32(d, q + 36),
                            "fallback": _u32(d, q + 40)})
            q += 44
        self.chord_frames_per_bar = _u32(d, q) if self.version >= 2 else 1
        positions_crc = _u32(d, q + 4) if self.version >= 3 else None
        if self.chord_frames_per_bar not in (1, 2):
            raise CorpusError("%s: chord_frames_per_bar %d (1 or 2 expected)" % (path, self.chord_frames_per_bar))
        self.layout = {"name": lname, "classes": classes}
        # index: song names, then segments
        off = hb
        names = []
        for _ in range(n_songs):
            if off + 2 > len(d):
                raise CorpusError("%s: truncated song table" % path)
            n = struct.unpack_from("<H", d, off)[0]
            if off + 2 + n > len(d):
                raise CorpusError("%s: truncated song table" % path)
            names.append(d[off + 2: off + 2 + n].decode("utf-8", "replace"))
            off += 2 + n
        seg_bytes = R * W * 2
        pos_bytes = W if self.version >= 3 else 0
        if off + n_seg * 9 > len(d) or len(d) - off - n_seg * 9 != n_seg * (seg_bytes + pos_bytes):
            raise CorpusError("%s: file size does not match %d segments of %dx%d (truncated?)" % (path, n_seg, R, W))
        if zlib.crc32(d[hb: off + n_seg * 9]) != index_crc:
            raise CorpusError("%s: index checksum mismatch (corrupt file)" % path)
        idx = np.frombuffer(d, dtype=np.dtype([("song", "<u4"), ("col", "<u4"), ("valid", "u1")]),
                            count=n_seg, offset=off)
        if n_seg and (idx["song"].max() >= n_songs or idx["valid"].max() > 1):
            raise CorpusError("%s: a segment has a bad song index" % path)
        off += n_seg * 9
        pos_off = off + n_seg * seg_bytes
        if zlib.crc32(d[off:pos_off]) != tokens_crc:
            raise CorpusError("%s: token checksum mismatch (corrupt file)" % path)
        self.tokens = np.frombuffer(d, dtype="<u2", count=n_seg * R * W, offset=off).reshape(n_seg, R, W).copy()
        self.seg_pos = None
        if self.version >= 3:
            if zlib.crc32(d[pos_off:]) != positions_crc:
                raise CorpusError("%s: bar position checksum mismatch (corrupt file)" % path)
            self.seg_pos = np.frombuffer(d, dtype="u1", offset=pos_off).reshape(n_seg, W).copy()
            if n_seg and int(self.seg_pos.max()) >= BAR_POSITIONS:
                raise CorpusError("%s: bar position %d outside 0..%d" % (path, int(self.seg_pos.max()), BAR_POSITIONS - 1))
        if n_seg and int(self.tokens.max()) > V + 1:
            raise CorpusError("%s: token %d outside the vocabulary" % (path, int(self.tokens.max())))
        self.seg_song = idx["song"].astype(np.int64)
        self.seg_col = idx["col"].astype(np.int64)
        self.seg_valid = idx["valid"].astype(bool)
        self.song_names = names
        vpath = os.path.join(folder, "vocab.txt")
        vbytes = _read(vpath)
        if zlib.crc32(vbytes) != vocab_crc:
            raise CorpusError("%s does not match the corpus (checksum)" % vpath)
        self.vocab_tokens, self.vocab_counts = parse_vocab(vbytes, vpath)
        if len(self.vocab_tokens) != V:
            raise CorpusError("%s: %d tokens, corpus says %d" % (vpath, len(self.vocab_tokens), V))
        self.folder, self.R, self.W, self.V = folder, R, W, V
        self.EMPTY, self.MASK = V, V + 1
        self.n_classes = nc

    def split(self):
        """(train indices, validation indices), numpy int64, in corpus order."""
        i = np.arange(len(self.seg_valid))
        return i[~self.seg_valid], i[self.seg_valid]
