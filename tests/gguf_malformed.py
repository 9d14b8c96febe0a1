#!/usr/bin/python3
"""tests/gguf_malformed.py - qscope on GGUF files written here, good and broken.

usage: tests/gguf_malformed.py [SEED]   (from the project root; QSCOPE=./qscope)

A small GGUF writer (FORMATS.md 2.1-2.2; v1, v2, v3, standard library only)
makes every file.  Good files (every value type, arrays of arrays, broken
UTF-8, long arrays, scalars, empty tensors, duplicate keys, split models)
must list with `$QSCOPE list --json` exactly as written.  Broken ones (the
CASES table: absurd counts and lengths, bad types, dimensions, alignment,
offsets, ...; truncation at every byte of a file's header, KV and
tensor-info region; seeded byte changes) must exit 2 with exactly one
stderr line, "qscope: '<path>': ...", holding the case's fragment, and
nothing on stdout.  No run may die by a signal or take more than 10 s, and
the largest child's peak memory (RUSAGE_CHILDREN) must stay under 100 MB:
nothing may be allocated because a file claims a big count.

Split models: a model written whole and as three shards
(NAME-0000i-of-00003.gguf, split.no/count/tensors.count as llama.cpp's
gguf-split writes them) must list the same through any shard and the
folder; so must gguf/tiny-llama-f32.gguf from the shared fixtures, split
here by a small reader of its own.

Prints one line per case ("ok   what" / "FAIL what: why") and ends with
"N passed, N failed"; exit status 1 if anything failed.
"""
import json
import os
import resource
import struct
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qstest import (  # noqa: E402
    FIXTURES, Tally, in_parallel, run_qscope, seeded_rng)

TIMEOUT = 10            # seconds per run
MAX_RSS_KB = 100 * 1024  # peak memory of any qscope run
FIRST = 8               # array items list --json keeps

# GGUF value types (FORMATS.md 2.1): name -> (id, struct format)
VT = {"u8": (0, "<B"), "i8": (1, "<b"), "u16": (2, "<H"), "i16": (3, "<h"),
      "u32": (4, "<I"), "i32": (5, "<i"), "f32": (6, "<f"), "bool": (7, "<B"),
      "string": (8, None), "array": (9, None), "u64": (10, "<Q"),
      "i64": (11, "<q"), "f64": (12, "<d")}
VT_NAME = {v[0]: k for k, v in VT.items()}

# ggml types used here (FORMATS.md 2.4): name -> (id, block, bytes per block)
GT = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18),
      "Q8_0": (8, 32, 34), "Q4_K": (12, 256, 144), "Q6_K": (14, 256, 210),
      "I8": (24, 1, 1), "I16": (25, 1, 2), "I32": (26, 1, 4),
      "I64": (27, 1, 8), "F64": (28, 1, 8), "BF16": (30, 1, 2)}
GT_NAME = {v[0]: k for k, v in GT.items()}


class Raw(bytes):
    """Bytes written as they are, in place of an encoded value."""


# ---------------------------------------------------------------------------
# The writer
# ---------------------------------------------------------------------------

class Writer:
    def __init__(self, version=3):
        self.v1 = version == 1
        self.b = bytearray()

    def n(self, x):
        """A count, length or dimension: u32 in v1, u64 after."""
        self.b += struct.pack("<I" if self.v1 else "<Q", x)

    def u32(self, x):
        self.b += struct.pack("<I", x)

    def u64(self, x):
        self.b += struct.pack("<Q", x)

    def string(self, s):
        if isinstance(s, Raw):
            self.b += s
            return
        s = s.encode() if isinstance(s, str) else s
        self.n(len(s))
        self.b += s

    def value(self, t, v):
        if isinstance(v, Raw):
            self.b += v
        elif t == "string":
            self.string(v)
        elif t == "array":
            et, items = v
            self.u32(VT[et][0])
            self.n(len(items))
            for x in items:
                self.value(et, x)
        else:
            self.b += struct.pack(VT[t][1], v)


def tensor_bytes(dtype, shape):
    _, block, bb = GT[dtype]
    n = 1
    for d in shape:
        n *= d
    return n // block * bb


def build(kvs=(), tensors=(), version=3, magic=b"GGUF", n_tensors=None,
          n_kv=None, align=32, cut=None, pad=True):
    """A GGUF file.  kvs: (key, type, value); the type may be an int id and
    the value Raw bytes.  tensors: dicts with name, dtype, shape, data and
    optional overrides: ne (dims as stored), type (ggml id), offset."""
    w = Writer(version)
    w.b += magic
    w.u32(version)
    w.n(len(tensors) if n_tensors is None else n_tensors)
    w.n(len(kvs) if n_kv is None else n_kv)
    for key, t, v in kvs:
        w.string(key)
        w.u32(VT[t][0] if isinstance(t, str) else t)
        w.value(t if isinstance(t, str) else VT_NAME.get(t, "?"), v)
    at = 0
    offsets = []
    for t in tensors:
        if "offset" in t:
            offsets.append(t["offset"])
        else:
            at += (-at) % align
            offsets.append(at)
            at += len(t["data"])
    for t, off in zip(tensors, offsets):
        w.string(t["name"])
        ne = t.get("ne", list(reversed(t["shape"])))
        w.u32(len(ne) if "n_dims" not in t else t["n_dims"])
        for d in ne:
            w.n(d)
        w.u32(t.get("type", GT[t["dtype"]][0] if t["dtype"] in GT else 0))
        w.u64(off)
    if pad:
        w.b += bytes((-len(w.b)) % align)
    data_start = len(w.b)
    for t, off in zip(tensors, offsets):
        # Data goes where the offset says, unless that is absurdly far.
        if "offset" not in t or off + len(t["data"]) <= 1 << 16:
            need = data_start + off + len(t["data"])
            if len(w.b) < need:
                w.b += bytes(need - len(w.b))
            w.b[data_start + off:need] = t["data"]
    out = bytes(w.b)
    return out if cut is None else out[:cut]


def T(name, dtype, shape, data=None, **kw):
    d = dict(name=name, dtype=dtype, shape=list(shape), **kw)
    d["data"] = data if data is not None else bytes(tensor_bytes(dtype, shape))
    return d


# ---------------------------------------------------------------------------
# What list --json should say about a good file
# ---------------------------------------------------------------------------

def clean_utf8(b):
    """qscope's rule: each byte that does not begin a valid UTF-8 sequence,
    and NUL, becomes U+FFFD."""
    out, i = [], 0
    while i < len(b):
        for k in (1, 2, 3, 4):
            try:
                ch = b[i:i + k].decode("utf-8")
            except UnicodeDecodeError:
                continue
            if len(ch) == 1 and ch != "\0":
                out.append(ch)
                i += k
                break
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


def expect_value(t, v):
    if t == "string":
        return clean_utf8(v.encode() if isinstance(v, str) else v)
    if t == "array":
        et, items = v
        return {"type": et, "len": len(items),
                "first": [expect_value(et, x) for x in items[:FIRST]]}
    if t == "f32":
        return struct.unpack("<f", struct.pack("<f", v))[0]
    if t == "bool":
        return bool(v)
    if t == "u64" and v >= 1 << 63:
        return str(v)
    return v


def expect_listing(kvs, tensors):
    md = {}
    for key, t, v in kvs:
        k = clean_utf8(key.encode() if isinstance(key, str) else key)
        md.setdefault(k, expect_value(t, v))
    ts = []
    for t in tensors:
        n = 1
        for d in t["shape"]:
            n *= d
        ts.append({"name": clean_utf8(t["name"].encode() if isinstance(t["name"], str)
                                      else t["name"]),
                   "dtype": t["dtype"], "shape": t["shape"], "params": n,
                   "bytes": tensor_bytes(t["dtype"], t["shape"])})
    return md, ts


def compare(got, md, ts):
    """Problems between list --json output and the expectation."""
    p = []
    if got.get("format") != "gguf":
        p.append("format %r" % got.get("format"))
    if md is not None and got.get("metadata") != md:
        g = got.get("metadata") or {}
        diff = sorted(k for k in set(g) | set(md) if g.get(k) != md.get(k))
        p.append("metadata differs at %r: got %r, expected %r"
                 % (diff[:3], [g.get(k) for k in diff[:1]], [md.get(k) for k in diff[:1]]))
    gt = [{k: t.get(k) for k in ("name", "dtype", "shape", "params", "bytes")}
          for t in got.get("tensors", [])]
    if gt != ts:
        for i, (a, b) in enumerate(zip(gt, ts)):
            if a != b:
                p.append("tensor %d: got %r, expected %r" % (i, a, b))
                break
        else:
            p.append("%d tensors, expected %d" % (len(gt), len(ts)))
    for k in ("params", "bytes"):
        if got.get(k) != sum(t[k] for t in ts):
            p.append("total %s %r" % (k, got.get(k)))
    return p


# ---------------------------------------------------------------------------
# Running qscope
# ---------------------------------------------------------------------------

def run(*args):
    return run_qscope(*args, timeout=TIMEOUT)


def check_good(path, md, ts, args=("list", "--json")):
    r = run(*args, path)
    if r.problem():
        return [r.problem()]
    if r.rc != 0:
        return ["exit %d: %s" % (r.rc, r.err.decode("utf-8", "replace").strip())]
    try:
        got = json.loads(r.out.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return ["stdout is not JSON: %s" % e]
    return compare(got, md, ts)


def check_error(path, frag, args=("list",), paths=None):
    """Exit 2, nothing on stdout, one stderr line naming path (or one of
    paths) and holding frag, if any.  Returns (problems, message)."""
    r = run(*args, path)
    if r.problem():
        return [r.problem()], None
    err = r.err.decode("utf-8", "replace")
    if r.rc != 2:
        return ["exit %d, expected 2; stderr %r" % (r.rc, err[:200])], None
    p = []
    if r.out:
        p.append("stdout not empty: %r" % r.out[:100])
    if err.count("\n") != 1 or not err.endswith("\n"):
        p.append("stderr is %d lines: %r" % (len(err.splitlines()), err[:300]))
    msg = err.splitlines()[0] if err else ""
    if not any(msg.startswith("qscope: '%s': " % x) for x in paths or [path]):
        p.append("message does not start with \"qscope: '%s': \": %r" % (path, msg))
    if frag and frag.lower() not in msg.lower():
        p.append("message lacks %r: %r" % (frag, msg))
    return p, msg


# ---------------------------------------------------------------------------
# Good files
# ---------------------------------------------------------------------------

def f32s(*xs):
    return struct.pack("<%df" % len(xs), *xs)


EVERY_KV = [
    ("general.architecture", "string", "llama"),
    ("k.u8", "u8", 255), ("k.i8", "i8", -128), ("k.u16", "u16", 65535),
    ("k.i16", "i16", -32768), ("k.u32", "u32", 4294967295),
    ("k.i32", "i32", -2147483648), ("k.f32", "f32", 1e-5),
    ("k.bool.t", "bool", 1), ("k.bool.f", "bool", 0),
    ("k.string", "string", "grüße ✓"), ("k.u64", "u64", (1 << 64) - 1),
    ("k.u64.small", "u64", 7), ("k.i64", "i64", -(1 << 63)),
    ("k.f64", "f64", 0.1),
    ("k.arr.i32", "array", ("i32", [1, -2, 3])),
    ("k.arr.f32", "array", ("f32", [0.5 * i for i in range(20)])),
    ("k.arr.str", "array", ("string", ["t%d" % i for i in range(1000)])),
    ("k.arr.bool", "array", ("bool", [1, 0] * 10)),
    ("k.arr.empty", "array", ("u64", [])),
    ("k.arr.nested", "array", ("array", [("u8", [1, 2]), ("string", ["x"]),
                                         ("array", [("f64", [2.5])])])),
]

EVERY_T = [T("token_embd.weight", "F32", [4, 8], f32s(*range(32))),
           T("blk.0.attn_norm.weight", "F32", [8]),
           T("blk.0.q8", "Q8_0", [2, 64]), T("blk.0.q4k", "Q4_K", [1, 256]),
           T("blk.0.f16", "F16", [3, 5]), T("blk.0.bf16", "BF16", [2, 2, 2, 2]),
           T("ids", "I32", [7])]


def good_cases():
    """(label, bytes, kvs, tensors): files that must list as written."""
    g = []
    for v in (1, 2, 3):
        g.append(("v%d: every value type, 7 tensors" % v,
                  build(EVERY_KV, EVERY_T, version=v), EVERY_KV, EVERY_T))
    kv = [("general.alignment", "u32", 64)] + EVERY_KV[:3]
    g.append(("general.alignment 64", build(kv, EVERY_T, align=64), kv, EVERY_T))
    kv = [("general.alignment", "u32", 1)]
    ts = [T("a", "I8", [3]), T("b", "I8", [5])]
    g.append(("general.alignment 1, unpadded tensors", build(kv, ts, align=1), kv, ts))
    g.append(("metadata only, no tensors", build(EVERY_KV, []), EVERY_KV, []))
    g.append(("no metadata, no tensors", build([], []), [], []))
    ts = [T("scalar", "F32", [], ne=[], data=f32s(3.0)), T("empty", "F32", [0, 4]),
          T("after", "F32", [2])]
    g.append(("n_dims 0 (a scalar) and a zero-size tensor", build([], ts), [], ts))
    kv = [("bad\xffkey".encode("latin-1"), "string", b"a\xffb\0c\xc0\xafd\xed\xa0\x80e\xf0\x9f\x98")]
    ts = [T(b"w\xfe\xff", "F32", [2])]
    g.append(("invalid UTF-8 in a key, a value and a name becomes U+FFFD",
              build(kv, ts), kv, ts))
    kv = [("tokenizer.ggml.tokens", "array", ("string", ["▁tok%d" % i for i in range(40000)])),
          ("tokenizer.ggml.scores", "array", ("f32", [-float(i) for i in range(40000)]))]
    g.append(("40000-item arrays, summarised", build(kv, []), kv, []))
    kv = [("dup", "u32", 1), ("dup", "string", "second")]
    g.append(("a repeated key: the first counts", build(kv, []), kv, []))
    ts = [T("a", "F32", [8], offset=64), T("b", "F32", [8], offset=0)]
    g.append(("data not in tensor-info order, with a gap", build([], ts), [], ts))
    return g


# ---------------------------------------------------------------------------
# Broken files: (label, builder, fragment)
# ---------------------------------------------------------------------------

GOOD_KV = [("general.architecture", "string", "llama"), ("n", "u32", 5)]
GOOD_T = [T("a", "F32", [2, 4]), T("b", "F32", [8])]


def kv_with(t, v, key="k"):
    return build(GOOD_KV + [(key, t, v)], GOOD_T)


def t_with(**kw):
    t = dict(T("bad", "F32", [4]))
    t.update(kw)
    return build(GOOD_KV, [GOOD_T[0], t])


U64 = struct.Struct("<Q")


def absurd_cases():
    """Counts and lengths that a reader must not believe (memory checked)."""
    c = []
    for n in (1 << 63, (1 << 64) - 1, (1 << 48) - 1, 10 ** 9):
        c.append(("n_tensors = %d" % n, build(GOOD_KV, GOOD_T, n_tensors=n), "n_tensors = %d" % n))
        c.append(("n_kv = %d" % n, build(GOOD_KV, GOOD_T, n_kv=n), "n_kv = %d" % n))
    c.append(("v1: n_tensors = 2^32-1", build(GOOD_KV, GOOD_T, version=1, n_tensors=(1 << 32) - 1),
              "cannot fit"))
    c.append(("v1: n_kv = 2^32-1", build(GOOD_KV, GOOD_T, version=1, n_kv=(1 << 32) - 1),
              "cannot fit"))
    c.append(("n_tensors = 3 + n_kv = 4, 2 of each real",
              build(GOOD_KV, GOOD_T, n_tensors=3, n_kv=4), None))
    for n in (1 << 63, (1 << 64) - 1, 1 << 40):
        c.append(("key length %d" % n, build(GOOD_KV + [(Raw(U64.pack(n) + b"k"), "u32", 1)], GOOD_T),
                  "key length %d exceeds" % n))
        c.append(("string value length %d" % n, kv_with("string", Raw(U64.pack(n) + b"x")),
                  "string length %d exceeds" % n))
        c.append(("tensor name length %d" % n,
                  build(GOOD_KV, [GOOD_T[0], dict(GOOD_T[1], name=Raw(U64.pack(n) + b"b"))]),
                  "name length %d exceeds" % n))
    c.append(("v1: string length 2^32-1", build([("k", "string", Raw(struct.pack("<I", (1 << 32) - 1)))],
                                                 GOOD_T, version=1), "exceeds"))
    for et, n in (("u8", 3 * 10 ** 9), ("u64", 1 << 62), ("string", 10 ** 9),
                  ("array", 4 * 10 ** 9), ("bool", (1 << 64) - 1), ("f64", 1 << 61)):
        c.append(("array of %d %s" % (n, et),
                  kv_with("array", Raw(struct.pack("<IQ", VT[et][0], n) + bytes(16))),
                  "array of %d %s values cannot fit" % (n, et)))
    c.append(("v1: array of 2^32-1 u32", build([("k", "array", Raw(struct.pack("<II", 4, (1 << 32) - 1)))],
                                                GOOD_T, version=1), "cannot fit"))
    item = struct.pack("<Q", 1 << 63)
    strs = b"".join(struct.pack("<Q", 1) + b"s" for _ in range(5)) + item + b"zz"
    c.append(("array item 5 of 9: string length 2^63",
              kv_with("array", Raw(struct.pack("<IQ", 8, 9) + strs)), "array item 5 of 9: string length"))
    c.append(("dims [2^32, 2^32, 2^32] overflow", t_with(ne=[1 << 32] * 3), "overflow"))
    c.append(("F32 [2^23, 2^40]: 2^65 bytes", t_with(ne=[1 << 40, 1 << 23]), "overflow"))
    c.append(("I8 [2^23, 2^40]: 2^63 elements", t_with(dtype="I8", type=24, ne=[1 << 40, 1 << 23]),
              "more than 2^63-1"))
    c.append(("dim 2^63", t_with(ne=[1 << 63]), "more than 2^63-1"))
    c.append(("dim 2^64-1", t_with(ne=[(1 << 64) - 1]), "more than 2^63-1"))
    c.append(("F64 [2^61]: byte count overflows", t_with(dtype="F64", type=28, ne=[1 << 61]),
              "overflow"))
    return c


def nested(depth):
    b = b""
    for _ in range(depth):
        b += struct.pack("<IQ", 9, 1)
    return b + struct.pack("<IQ", 0, 0)


def broken_cases():
    c = []
    base = build(GOOD_KV, GOOD_T)
    c.append(("magic GGUX", b"GGUX" + base[4:], "unknown format"))
    c.append(("version 0", base[:4] + struct.pack("<I", 0) + base[8:], "version 0 is not valid"))
    c.append(("version 4", base[:4] + struct.pack("<I", 4) + base[8:], "version 4 is not supported"))
    c.append(("version 0xFFFFFFFF", base[:4] + struct.pack("<I", 0xFFFFFFFF) + base[8:],
              "is not supported"))
    c.append(("big-endian (version 0x03000000)", base[:4] + struct.pack(">I", 3) + base[8:],
              "big-endian GGUF is not supported"))
    for m in (b"lmgg", b"fmgg", b"tjgg"):
        c.append(("legacy magic %s" % m.decode(), m + base[4:], "legacy ggml file"))
    c.append(("file is just 'GGUF'", b"GGUF", "end of file"))
    c.append(("header cut after the version", base[:8], "end of file"))
    # values
    c.append(("bool 2", kv_with("bool", 2), "bool value 2 is neither 0 nor 1"))
    c.append(("bool 255", kv_with("bool", 255), "bool value 255"))
    c.append(("array of bools with a 2 at item 30",
              kv_with("array", ("bool", [0] * 30 + [2] + [1] * 5)), "array item 30 of 36: bool value 2"))
    c.append(("value type 13", kv_with(13, Raw(b"\0" * 8)), "unknown value type 13"))
    c.append(("value type 2^32-1", kv_with(0xFFFFFFFF, Raw(b"\0" * 8)), "unknown value type 4294967295"))
    c.append(("array element type 13", kv_with("array", Raw(struct.pack("<IQ", 13, 1) + bytes(8))),
              "unknown array element type 13"))
    c.append(("arrays nested 100 deep", kv_with("array", Raw(nested(100))), "nested"))
    c.append(("empty key", kv_with("u32", 1, key=""), "empty key"))
    c.append(("string value cut by the end of the file",
              build(GOOD_KV + [("k", "string", Raw(U64.pack(10) + b"abc"))], [], pad=False),
              "string length 10 exceeds the 3 bytes left"))
    c.append(("u64 value cut by the end of the file",
              build([("k", "u64", Raw(b"\1\2\3"))], [], pad=False), "end of file at offset"))
    # alignment
    for a, frag in ((0, "general.alignment = 0 is not a power of two"),
                    (3, "general.alignment = 3 is not a power of two"),
                    (48, "not a power of two"), (0x80000001, "not a power of two")):
        c.append(("general.alignment %d" % a, build([("general.alignment", "u32", a)], GOOD_T), frag))
    c.append(("general.alignment as u64", build([("general.alignment", "u64", 32)], GOOD_T),
              "general.alignment must be a u32"))
    c.append(("general.alignment as string", build([("general.alignment", "string", "32")], GOOD_T),
              "general.alignment must be a u32"))
    # tensor infos
    c.append(("n_dims 5", t_with(ne=[4, 1, 1, 1, 1]), "n_dims = 5, more than 4"))
    c.append(("n_dims 2^32-1", t_with(ne=[4], n_dims=0xFFFFFFFF), "n_dims = 4294967295"))
    c.append(("type 4 (removed Q4_2)", t_with(type=4), "unknown or removed ggml type 4"))
    c.append(("type 31 (removed Q4_0_4_4)", t_with(type=31), "ggml type 31"))
    c.append(("type 99", t_with(type=99), "unknown or removed ggml type 99"))
    c.append(("type 2^32-1", t_with(type=0xFFFFFFFF), "ggml type 4294967295"))
    c.append(("Q4_0 row of 48", t_with(dtype="Q4_0", type=2, ne=[48]),
              "row length 48 is not a multiple of Q4_0's block of 32"))
    c.append(("empty tensor name", t_with(name=""), "empty name"))
    c.append(("tensor name twice", t_with(name="a"), "tensor 'a': name appears twice"))
    c.append(("misaligned offset 4", t_with(offset=4), "offset 4 is not a multiple of the alignment 32"))
    c.append(("offset 32 with general.alignment 64",
              build([("general.alignment", "u32", 64)], [T("a", "F32", [8], offset=0),
                                                          T("b", "F32", [8], offset=32)]),
              "not a multiple of the alignment 64"))
    c.append(("overlapping tensors", t_with(offset=0), "overlaps tensor 'a'"))
    c.append(("offset past the end", t_with(offset=1 << 20), "runs past the end of the file"))
    c.append(("offset 2^64-32 (wraps)", t_with(offset=(1 << 64) - 32), "overflows"))
    ok = build(GOOD_KV, GOOD_T)
    c.append(("data one byte short", ok[:-1], "tensor 'b': data ["))
    c.append(("data section missing", ok[:len(ok) - 64], "runs past the end"))
    return c


# ---------------------------------------------------------------------------
# Split models
# ---------------------------------------------------------------------------

def read_gguf(b):
    """A small reader for a little-endian v2/v3 file: (raw KVs, tensor
    infos, data section start).  Raw KVs keep their encoded values."""
    pos = 8
    nt, nkv = struct.unpack_from("<QQ", b, pos)
    pos += 16

    def skip(t, pos):
        if t == 8:
            (n,) = struct.unpack_from("<Q", b, pos)
            return pos + 8 + n
        if t == 9:
            et, n = struct.unpack_from("<IQ", b, pos)
            pos += 12
            for _ in range(n):
                pos = skip(et, pos)
            return pos
        return pos + {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}[t]

    kvs, align = [], 32
    for _ in range(nkv):
        (n,) = struct.unpack_from("<Q", b, pos)
        key = b[pos + 8:pos + 8 + n].decode()
        pos += 8 + n
        (t,) = struct.unpack_from("<I", b, pos)
        end = skip(t, pos + 4)
        kvs.append((key, t, Raw(b[pos + 4:end])))
        if key == "general.alignment":
            (align,) = struct.unpack_from("<I", b, pos + 4)
        pos = end
    infos = []
    for _ in range(nt):
        (n,) = struct.unpack_from("<Q", b, pos)
        name = b[pos + 8:pos + 8 + n].decode()
        pos += 8 + n
        (nd,) = struct.unpack_from("<I", b, pos)
        ne = list(struct.unpack_from("<%dQ" % nd, b, pos + 4))
        pos += 4 + 8 * nd
        t, off = struct.unpack_from("<IQ", b, pos)
        pos += 12
        infos.append((name, ne, t, off))
    pos += (-pos) % align
    return kvs, infos, pos, align


def split_into(b, nshards, dirpath, prefix):
    """Write b as nshards files the way gguf-split does: shard 1 has every
    KV, the others only split.*; tensors in order, packed and aligned."""
    kvs, infos, start, align = read_gguf(b)
    per = -(-len(infos) // nshards)
    paths = []
    for i in range(nshards):
        part = infos[i * per:(i + 1) * per]
        skv = [("split.no", "u16", i), ("split.count", "u16", nshards),
               ("split.tensors.count", "i32", len(infos))]
        ts = []
        for name, ne, t, off in part:
            gname = GT_NAME[t]
            shape = list(reversed(ne))
            data = b[start + off:start + off + tensor_bytes(gname, shape)]
            ts.append(T(name, gname, shape, data, ne=ne, type=t))
        allkv = (kvs if i == 0 else [kv for kv in kvs if kv[0] == "general.alignment"]) + skv
        path = os.path.join(dirpath, "%s-%05d-of-%05d.gguf" % (prefix, i + 1, nshards))
        with open(path, "wb") as f:
            f.write(build(allkv, ts, align=align))
        paths.append(path)
    return paths


def check_split(tally, root, label, whole, nshards, md_extra=True):
    """whole (bytes of a GGUF) split into nshards: every shard and the
    folder must list what whole lists, plus the split.* metadata."""
    d = os.path.join(root, label.replace(" ", "-").replace("/", "_"))
    os.makedirs(d)
    wpath = os.path.join(root, label.replace(" ", "-").replace("/", "_") + ".whole.gguf")
    with open(wpath, "wb") as f:
        f.write(whole)
    r = run("list", "--json", wpath)
    if r.rc != 0:
        tally.case("%s: the whole file lists" % label, ["exit %s %r" % (r.rc, r.err[:200])])
        return
    want = json.loads(r.out)
    md = dict(want["metadata"])
    md.update({"split.no": 0, "split.count": nshards, "split.tensors.count": len(want["tensors"])})
    paths = split_into(whole, nshards, d, "model")
    for p in paths + [d]:
        tally.case("%s: %s lists as the whole file" % (label, os.path.relpath(p, root)),
                   check_good(p, md, want["tensors"]))
    return paths


def split_cases(tally, root):
    whole = build(EVERY_KV, EVERY_T)
    paths = check_split(tally, root, "split 3", whole, 3)
    fx = os.path.join(FIXTURES, "gguf", "tiny-llama-f32.gguf")
    if os.path.exists(fx):
        with open(fx, "rb") as f:
            check_split(tally, root, "fixture tiny-llama-f32 split 3", f.read(), 3)
        with open(fx, "rb") as f:
            check_split(tally, root, "fixture tiny-llama-f32 split 5", f.read(), 5)
    else:
        tally.case("split of the fixture", ["no %s (set QS_FIXTURES)" % fx])
    if not paths:
        return
    # Broken split models, each in a copy of the folder.
    def variant(name, change, frag, which=0):
        """Split, break, open shard `which` (or the path change returns);
        the message may name any shard: the one at fault."""
        d = os.path.join(root, "split-" + name.replace(" ", "-"))
        os.makedirs(d)
        ps = split_into(whole, 3, d, "model")
        t = change(d, ps)
        target = t if isinstance(t, str) else ps[which]
        p, msg = check_error(target, frag, paths=[target] + ps)
        tally.case("split: %s%s" % (name, "" if p else ": " + msg), p)

    def rewrite(path, **kw):
        kvs, infos, start, align = read_gguf(open(path, "rb").read())
        b = open(path, "rb").read()
        kvs = [(k, kw.get(k, (t, v))[0], kw[k][1] if k in kw else v) for k, t, v in kvs]
        ts = [T(n, GT_NAME[t], list(reversed(ne)),
                b[start + off:start + off + tensor_bytes(GT_NAME[t], list(reversed(ne)))],
                ne=ne, type=t) for n, ne, t, off in infos]
        with open(path, "wb") as f:
            f.write(build(kvs, ts))

    variant("shard 3 missing", lambda d, ps: os.unlink(ps[2]), "shard 3 of 3 of this split model is missing")
    variant("shard 2 missing, opening shard 3", lambda d, ps: os.unlink(ps[1]),
            "shard 2 of 3 of this split model is missing", which=2)
    variant("shard 2 says split.no 2",
            lambda d, ps: rewrite(ps[1], **{"split.no": ("u16", 2)}), "split.no = 2")
    variant("shard 3 says split.count 4",
            lambda d, ps: rewrite(ps[2], **{"split.count": ("u16", 4)}), "split.count = 4")
    variant("split.tensors.count 99 everywhere",
            lambda d, ps: [rewrite(p, **{"split.tensors.count": ("i32", 99)}) for p in ps],
            "split.tensors.count = 99")
    variant("shard 1 missing, opening shard 2", lambda d, ps: os.unlink(ps[0]),
            "shard 1 of 3 of this split model is missing", which=1)

    def rename(d, ps):
        os.rename(ps[0], os.path.join(d, "renamed.gguf"))
        return os.path.join(d, "renamed.gguf")
    variant("shard 1 renamed", rename, "the other shards cannot be found")


# ---------------------------------------------------------------------------

def main():
    rng = seeded_rng()
    tally = Tally()
    if not tally.have_qscope():
        return tally.finish()

    with tempfile.TemporaryDirectory(prefix="qscope-gguf-") as root:
        n = 0

        def write(b, ext=".gguf"):
            nonlocal n
            n += 1
            p = os.path.join(root, "c%03d%s" % (n, ext))
            with open(p, "wb") as f:
                f.write(b)
            return p

        # Absurd claims first: their memory is measured on its own.
        for label, b, frag in absurd_cases():
            p = write(b)
            for args in (("list",), ("list", "--json")):
                probs, msg = check_error(p, frag, args)
                tally.case("%s%s%s" % (label, " (--json)" if len(args) > 1 else "",
                                       "" if probs or len(args) > 1 else ": " + msg), probs)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        tally.case("peak memory on absurd counts: %d KB" % rss,
                   [] if rss < MAX_RSS_KB else ["%d KB, over %d KB" % (rss, MAX_RSS_KB)])

        for label, b, kvs, ts in good_cases():
            md, exp = expect_listing(kvs, ts)
            p = write(b)
            tally.case("good: " + label, check_good(p, md, exp))
        # the text form and meta run on the richest file
        p = write(build(EVERY_KV, EVERY_T))
        for args in (("list",), ("meta",), ("meta", "--json")):
            r = run(*args, p)
            probs = [r.problem()] if r.problem() else []
            if not probs and (r.rc != 0 or r.err):
                probs.append("exit %d, stderr %r" % (r.rc, r.err[:200]))
            if not probs and args == ("meta", "--json"):
                got = json.loads(r.out)
                keys = [e["key"] for e in got["metadata"]]
                if keys != [k for k, _, _ in EVERY_KV]:
                    probs.append("keys %r" % keys[:5])
                types = {e["key"]: e["type"] for e in got["metadata"]}
                if types.get("k.arr.str") != "array[string]" or types.get("k.f32") != "f32":
                    probs.append("types %r" % types)
            tally.case("good: qscope %s runs" % " ".join(args), probs)

        for label, b, frag in broken_cases():
            p = write(b)
            for args in (("list",), ("list", "--json")):
                probs, msg = check_error(p, frag, args)
                tally.case("%s%s%s" % (label, " (--json)" if len(args) > 1 else "",
                                       "" if probs or len(args) > 1 else ": " + msg), probs)

        # Every truncation of a small file's header, KV and tensor-info
        # region (and the padding after it), in v3 and v1.
        for v in (3, 1):
            kv = EVERY_KV[:9] + [EVERY_KV[16], EVERY_KV[20]]
            full = build(kv, GOOD_T, version=v)
            region = first_data(full, v)
            bad = []

            def cut(k, v=v, full=full):
                path = os.path.join(root, "cut-v%d-%d.gguf" % (v, k))
                with open(path, "wb") as f:
                    f.write(full[:k])
                return check_error(path, None)[0]
            for k, probs in enumerate(in_parallel(cut, range(region + 1))):
                if probs:
                    bad.append("cut at %d: %s" % (k, probs[0]))
            tally.case("v%d: truncated at each of the %d bytes before the data, exit 2 with one line"
                       % (v, region + 1), bad)
            p = os.path.join(root, "cut-v%d.gguf" % v)
            with open(p, "wb") as f:
                f.write(full)
            probs = check_good(p, None, expect_listing(kv, GOOD_T)[1])
            tally.case("v%d: the untruncated file lists" % v, probs)

        # Seeded byte changes in the header region: exit 0 (JSON on
        # stdout) or 2 (one line), never a crash or a hang.
        full = build(EVERY_KV[:9] + [EVERY_KV[16], EVERY_KV[20]], GOOD_T)
        region = first_data(full, 3)
        outcomes = {0: 0, 2: 0}
        bad = []
        flips = []
        for j in range(300):
            pos = rng.randrange(region)
            new = full[pos] ^ rng.choice([1, 2, 4, 8, 16, 32, 64, 128, rng.randint(1, 255)])
            flips.append((j, pos, new))

        def flip(jpn):
            j, pos, new = jpn
            path = os.path.join(root, "flip-%d.gguf" % j)
            with open(path, "wb") as f:
                f.write(full[:pos] + bytes([new]) + full[pos + 1:])
            return path, run("list", "--json", path)
        for (j, pos, new), (p, r) in zip(flips, in_parallel(flip, flips)):
            if r.problem():
                bad.append("byte %d -> %#x: %s" % (pos, new, r.problem()))
                continue
            if r.rc == 0:
                try:
                    json.loads(r.out)
                except ValueError:
                    bad.append("byte %d -> %#x: exit 0 without JSON" % (pos, new))
            elif r.rc == 2:
                err = r.err.decode("utf-8", "replace")
                if err.count("\n") != 1 or not err.startswith("qscope: '%s': " % p) or r.out:
                    bad.append("byte %d -> %#x: %r" % (pos, new, err[:200]))
            else:
                bad.append("byte %d -> %#x: exit %d" % (pos, new, r.rc))
            outcomes[r.rc] = outcomes.get(r.rc, 0) + 1
        tally.case("300 seeded byte changes: %d listed, %d refused, no crash"
                   % (outcomes.get(0, 0), outcomes.get(2, 0)), bad)

        split_cases(tally, root)

        # The shared bad fixtures, once more under this contract.
        bad_dir = os.path.join(FIXTURES, "bad")
        if os.path.isdir(bad_dir):
            for f in sorted(os.listdir(bad_dir)):
                if f.endswith(".gguf"):
                    probs, msg = check_error(os.path.join(bad_dir, f), None)
                    tally.case("bad/%s%s" % (f, "" if probs else ": " + msg), probs)

        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        tally.case("peak memory of every run: %d KB" % rss,
                   [] if rss < MAX_RSS_KB else ["%d KB, over %d KB" % (rss, MAX_RSS_KB)])

    return tally.finish()


def first_data(b, version):
    """Where the data section of a file written by build() starts."""
    pos = 8
    fmt, sz = ("<I", 4) if version == 1 else ("<Q", 8)
    nt = struct.unpack_from(fmt, b, pos)[0]
    nkv = struct.unpack_from(fmt, b, pos + sz)[0]
    pos += 2 * sz

    def n(pos):
        return struct.unpack_from(fmt, b, pos)[0], pos + sz

    def skip(t, pos):
        if t == 8:
            k, pos = n(pos)
            return pos + k
        if t == 9:
            (et,) = struct.unpack_from("<I", b, pos)
            k, pos = n(pos + 4)
            for _ in range(k):
                pos = skip(et, pos)
            return pos
        return pos + {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}[t]

    for _ in range(nkv):
        k, pos = n(pos)
        pos += k
        (t,) = struct.unpack_from("<I", b, pos)
        pos = skip(t, pos + 4)
    for _ in range(nt):
        k, pos = n(pos)
        pos += k
        (nd,) = struct.unpack_from("<I", b, pos)
        pos += 4 + nd * sz + 4 + 8
    return pos + (-pos) % 32


if __name__ == "__main__":
    sys.exit(main())
