"""
python/gguf_py.py — a small GGUF v3 writer and reader in pure Python (struct;
numpy for tensor data). The same format as src/model/gguf.c: little-endian, typed
key-value metadata, tensor infos, data aligned to 32 bytes (or the file's
general.alignment).

    w = GGUFWriter()
    w.add_str("general.architecture", "getmusic")
    w.add_u32("getmusic.rows", 14)
    w.add_arr_str("getmusic.tokens", ["T1", "T2"])
    w.add_tensor("embeddings.word_embeddings.weight", array)   # numpy, row-major
    w.write("model.gguf")                                      # atomic: temp + fsync + rename

    g = GGUFReader("model.gguf")
    g.kv["getmusic.rows"]              # value (python int/float/str/list)
    g.types["getmusic.rows"]           # GGUF value type (GGUF_UINT32, ...)
    g.tensors["embeddings.word_embeddings.weight"]   # numpy array, shape = reversed ne
    g.tensor_info[name]                # (ggml type, ne tuple in GGUF order, offset)

Tensor dims: GGUF lists ne[0] first = the innermost (fastest) dimension, so a
row-major (rows, cols) matrix — a Linear weight (out, in) — has ne = [cols, rows].
"""

import os
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32

# value types (GGUF spec)
GGUF_UINT8, GGUF_INT8, GGUF_UINT16, GGUF_INT16, GGUF_UINT32, GGUF_INT32, GGUF_FLOAT32, GGUF_BOOL, \
    GGUF_STRING, GGUF_ARRAY, GGUF_UINT64, GGUF_INT64, GGUF_FLOAT64 = range(13)

_SCALAR_FMT = {
    GGUF_UINT8: "<B", GGUF_INT8: "<b", GGUF_UINT16: "<H", GGUF_INT16: "<h", GGUF_UINT32: "<I",
    GGUF_INT32: "<i", GGUF_FLOAT32: "<f", GGUF_BOOL: "<?", GGUF_UINT64: "<Q", GGUF_INT64: "<q",
    GGUF_FLOAT64: "<d",
}

# tensor types (ggml numbering)
GGML_F32, GGML_F16 = 0, 1
_TENSOR_DTYPE = {GGML_F32: np.dtype("<f4"), GGML_F16: np.dtype("<f2")}


class GGUFError(Exception):
    pass


def _pad(n, align):
    return (align - n % align) % align


def _str_bytes(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


# ---------------------------------------------------------------------------
# Writer
# ---------------------------------------------------------------------------

class GGUFWriter:
    def __init__(self, alignment=DEFAULT_ALIGNMENT):
        self.alignment = alignment
        self._kv = []          # (key, bytes of type + value)
        self._keys = set()
        self._tensors = []     # (name, ggml type, ne, numpy array)
        if alignment != DEFAULT_ALIGNMENT:
            self.add_u32("general.alignment", alignment)

    # --- metadata ---
    def _add(self, key, payload):
        if key in self._keys:
            raise GGUFError("duplicate key %r" % key)
        self._keys.add(key)
        self._kv.append((key, payload))

    def add_scalar(self, key, vtype, value):
        self._add(key, struct.pack("<I", vtype) + struct.pack(_SCALAR_FMT[vtype], value))

    def add_u32(self, key, v):
        self.add_scalar(key, GGUF_UINT32, v)

    def add_i32(self, key, v):
        self.add_scalar(key, GGUF_INT32, v)

    def add_u64(self, key, v):
        self.add_scalar(key, GGUF_UINT64, v)

    def add_f32(self, key, v):
        self.add_scalar(key, GGUF_FLOAT32, v)

    def add_bool(self, key, v):
        self.add_scalar(key, GGUF_BOOL, bool(v))

    def add_str(self, key, v):
        self._add(key, struct.pack("<I", GGUF_STRING) + _str_bytes(v))

    def add_arr_str(self, key, values):
        body = b"".join(_str_bytes(v) for v in values)
        self._add(key, struct.pack("<IIQ", GGUF_ARRAY, GGUF_STRING, len(values)) + body)

    def add_arr(self, key, elem_type, values):
        fmt = _SCALAR_FMT[elem_type]
        arr = np.asarray(values, dtype=np.dtype(fmt))
        self._add(key, struct.pack("<IIQ", GGUF_ARRAY, elem_type, arr.size) + arr.tobytes())

    def add_arr_u32(self, key, values):
        self.add_arr(key, GGUF_UINT32, values)

    def add_arr_i32(self, key, values):
        self.add_arr(key, GGUF_INT32, values)

    def add_arr_f32(self, key, values):
        self.add_arr(key, GGUF_FLOAT32, values)

    # --- tensors ---
    def add_tensor(self, name, array, ttype=GGML_F32):
        """array: numpy, row-major; stored with ne = reversed(shape)."""
        if any(n == name for n, _, _, _ in self._tensors):
            raise GGUFError("duplicate tensor %r" % name)
        a = np.ascontiguousarray(array, dtype=_TENSOR_DTYPE[ttype])
        if a.ndim < 1 or a.ndim > 4:
            raise GGUFError("tensor %r: %d dims" % (name, a.ndim))
        self._tensors.append((name, ttype, tuple(reversed(a.shape)), a))

    def _header(self):
        out = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(self._tensors), len(self._kv))]
        for key, payload in self._kv:
            out.append(_str_bytes(key))
            out.append(payload)
        off = 0
        self._offsets = []
        for name, ttype, ne, a in self._tensors:
            out.append(_str_bytes(name))
            out.append(struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne))
            out.append(struct.pack("<IQ", ttype, off))
            self._offsets.append(off)
            off += a.nbytes + _pad(a.nbytes, self.alignment)
        hdr = b"".join(out)
        return hdr + b"\0" * _pad(len(hdr), self.alignment)

    def write(self, path):
        """Atomic: writes path.tmp.<pid> beside path, fsyncs, renames over path."""
        tmp = "%s.tmp.%d" % (path, os.getpid())
        try:
            with open(tmp, "wb") as f:
                f.write(self._header())
                for (_, _, _, a) in self._tensors:
                    f.write(a.tobytes())
                    f.write(b"\0" * _pad(a.nbytes, self.alignment))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


# ---------------------------------------------------------------------------
# Reader
# ---------------------------------------------------------------------------

def copy_kv(reader, writer, keep=lambda key: True, values=None):
    """Every key of reader that keep() accepts into writer with its own type
    (values: {key: new value} to write in place of the file's)."""
    values = values or {}
    for key, value in reader.kv.items():
        if not keep(key):
            continue
        value = values.get(key, value)
        vt = reader.types[key]
        if vt == GGUF_STRING:
            writer.add_str(key, value)
        elif vt == GGUF_ARRAY:
            et = reader.elem_types[key]
            writer.add_arr_str(key, value) if et == GGUF_STRING else writer.add_arr(key, et, value)
        else:
            writer.add_scalar(key, vt, value)


class GGUFReader:
    def __init__(self, path):
        with open(path, "rb") as f:
            self._buf = f.read()
        self._off = 0
        self.kv, self.types, self.tensor_info, self.tensors = {}, {}, {}, {}
        self.elem_types = {}  # array keys: their element type (to copy a file exactly)
        self._parse()

    def _need(self, n):
        if n < 0 or self._off + n > len(self._buf):
            raise GGUFError("truncated file (need %d bytes at offset %d, size %d)"
                            % (n, self._off, len(self._buf)))

    def _unpack(self, fmt):
        n = struct.calcsize(fmt)
        self._need(n)
        v = struct.unpack_from(fmt, self._buf, self._off)
        self._off += n
        return v if len(v) > 1 else v[0]

    def _string(self):
        n = self._unpack("<Q")
        self._need(n)
        s = self._buf[self._off:self._off + n]
        self._off += n
        try:
            return s.decode("utf-8")
        except UnicodeDecodeError:
            raise GGUFError("string is not UTF-8 at offset %d" % (self._off - n))

    def _value(self, vtype):
        if vtype in _SCALAR_FMT:
            return self._unpack(_SCALAR_FMT[vtype])
        if vtype == GGUF_STRING:
            return self._string()
        if vtype == GGUF_ARRAY:
            et, n = self._unpack("<IQ")
            if et == GGUF_STRING:
                return [self._string() for _ in range(n)]
            if et in _SCALAR_FMT:
                dt = np.dtype(_SCALAR_FMT[et])
                self._need(n * dt.itemsize)
                arr = np.frombuffer(self._buf, dtype=dt, count=n, offset=self._off)
                self._off += n * dt.itemsize
                return arr.tolist()
            raise GGUFError("unsupported array element type %d" % et)
        raise GGUFError("unknown value type %d" % vtype)

    def _parse(self):
        self._need(4)
        if self._buf[:4] != GGUF_MAGIC:
            raise GGUFError("not a GGUF file (bad magic)")
        self._off = 4
        self.version = self._unpack("<I")
        if self.version != 3:
            raise GGUFError("GGUF version %d (want 3)" % self.version)
        n_t, n_kv = self._unpack("<QQ")
        for _ in range(n_kv):
            key = self._string()
            vtype = self._unpack("<I")
            if key in self.kv:
                raise GGUFError("duplicate key %r" % key)
            self.types[key] = vtype
            if vtype == GGUF_ARRAY:
                self.elem_types[key] = struct.unpack_from("<I", self._buf, self._off)[0]
            self.kv[key] = self._value(vtype)
        align = self.kv.get("general.alignment", DEFAULT_ALIGNMENT)
        order = []
        for _ in range(n_t):
            name = self._string()
            nd = self._unpack("<I")
            if nd < 1 or nd > 4:
                raise GGUFError("tensor %r: %d dims" % (name, nd))
            ne = self._unpack("<%dQ" % nd)
            ne = (ne,) if nd == 1 else tuple(ne)
            ttype, off = self._unpack("<IQ")
            if name in self.tensor_info:
                raise GGUFError("duplicate tensor %r" % name)
            self.tensor_info[name] = (ttype, ne, off)
            order.append(name)
        self.data_start = self._off + _pad(self._off, align)
        for name in order:
            ttype, ne, off = self.tensor_info[name]
            if ttype not in _TENSOR_DTYPE:
                raise GGUFError("tensor %r: unsupported type %d" % (name, ttype))
            if off % align:
                raise GGUFError("tensor %r: offset %d not aligned" % (name, off))
            dt = _TENSOR_DTYPE[ttype]
            cnt = int(np.prod(ne))
            start = self.data_start + off
            if start + cnt * dt.itemsize > len(self._buf):
                raise GGUFError("tensor %r: data past end of file" % name)
            self.tensors[name] = np.frombuffer(self._buf, dtype=dt, count=cnt,
                                               offset=start).reshape(tuple(reversed(ne)))
