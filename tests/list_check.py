#!/usr/bin/python3
"""tests/list_check.py - `qscope list --json` against an independent reader.

usage: tests/list_check.py [SEED]      (from the project root; QSCOPE=./qscope)

Writes safetensors files and sharded model folders that qscope has never seen
(seeded RNG, the seed is printed; pass it back to reproduce a run), lists each
with `$QSCOPE list --json PATH` and `$QSCOPE list PATH`, and compares with
what was written: the exact key sets, names, dtypes, shapes, params, bytes,
totals and order (FORMATS.md 1.1-1.5).  The writer is checked by the
independent reader below before qscope sees anything, so a FAIL means the
two readers disagree about a file that is known to be good.  Also checks that
qscope leaves its input unmodified (sha256 of every file, before and after).

Prints one line per case ("ok   what" / "FAIL what: why") and ends with
"N passed, N failed"; exit status 1 if anything failed.  Standard library
only; everything is written under a temporary folder.

The reader here (read_safetensors, read_folder) is also imported by
tests/malformed.py, so it lives in a module without side effects on import.
"""
import hashlib
import json
import os
import re
import struct
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qstest import Tally, run_qscope, seeded_rng  # noqa: E402


# What list --json says in "format" for a single safetensors file.  A folder
# may name its own format (the contract only says "str"); it must start
# with this.
FORMAT = "safetensors"

# ---------------------------------------------------------------------------
# The independent reader (FORMATS.md 1.1-1.5)
# ---------------------------------------------------------------------------

# FORMATS.md 1.2: every dtype string and its bits per element.
DTYPE_BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8,
    "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64,
    "U64": 64,
}
MAX_HEADER = 100_000_000  # FORMATS.md 1.1
MAX_DIMS = 8              # formats/model.h MODEL_MAX_DIMS
U64 = 1 << 64
INDEX_NAME = "model.safetensors.index.json"


class Bad(Exception):
    """A file breaks a rule.

    rule: a short code (see RULES in tests/malformed.py);
    names: the tensor(s) the problem is about (a message should name one);
    path: the file the problem is in (for folders: the shard or the index).
    """

    def __init__(self, rule, detail="", names=(), path=None):
        super().__init__("%s: %s" % (rule, detail) if detail else rule)
        self.rule = rule
        self.detail = detail
        self.names = tuple(names)
        self.path = path


class _Obj(dict):
    """A JSON object that remembers keys it saw more than once."""
    dups = ()


def _pairs(items):
    o = _Obj()
    dups = []
    for k, v in items:
        if k in o:
            dups.append(k)
        o[k] = v
    o.dups = dups
    return o


def _no_constant(s):
    raise ValueError("%s is not JSON" % s)


def _walk_strings_and_dups(v, top=True, owner=None):
    """Reject what a C JSON parser (jansson) rejects but Python accepts:
    lone surrogates, NUL in strings; report duplicate keys below the top
    (naming the top-level key they are under: a tensor's entry)."""
    if isinstance(v, str):
        if "\0" in v:
            raise Bad("json", "NUL in a string")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise Bad("json", "lone surrogate in a string")
    elif isinstance(v, list):
        for x in v:
            _walk_strings_and_dups(x, False, owner)
    elif isinstance(v, dict):
        if not top and getattr(v, "dups", ()):
            raise Bad("duplicate-key", "duplicate key %r in an object" % v.dups[0],
                      [owner] if owner is not None else ())
        for k, x in v.items():
            _walk_strings_and_dups(k, False, owner)
            _walk_strings_and_dups(x, False, k if top else owner)


def parse_json(text, strict=True):
    """Parse JSON text like a careful C reader would.

    strict: the document must start at the first byte and may be followed only
    by spaces (FORMATS.md 1.1: starts with '{', padded with 0x20), integers
    must fit int64.  Not strict: any JSON whitespace around it, integers up to
    2**64-1 (what the reference Rust reader accepts)."""
    lo, hi = (-(1 << 63), (1 << 63) - 1) if strict else (-(1 << 63), U64 - 1)

    def pint(s):
        i = int(s)
        if not lo <= i <= hi:
            raise ValueError("integer out of range")
        return i

    dec = json.JSONDecoder(object_pairs_hook=_pairs, parse_int=pint,
                           parse_constant=_no_constant)
    try:
        if strict:
            v, end = dec.raw_decode(text, 0)
            if text[end:].strip(" "):
                raise ValueError("bytes after the JSON value")
        else:
            v = dec.decode(text)
    except ValueError as e:  # JSONDecodeError is a ValueError
        raise Bad("json", str(e))
    _walk_strings_and_dups(v)
    return v


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def read_safetensors(data, strict=True):
    """Parse one safetensors file (bytes) per FORMATS.md 1.3, plus: no
    duplicate names, at most MAX_DIMS dimensions (strict), __metadata__ of
    strings.  Returns {"N", "metadata", "tensors": [dict(name, dtype, shape,
    begin, end, params, bytes)] in header order}; raises Bad."""
    size = len(data)
    if size == 0:
        raise Bad("empty")
    if size < 8:
        raise Bad("short", "%d bytes" % size)
    n = struct.unpack_from("<Q", data, 0)[0]
    if n > MAX_HEADER:
        raise Bad("limit", "N = %d" % n)
    if 8 + n > size:
        raise Bad("short", "N = %d, file %d bytes" % (n, size))
    try:
        text = data[8:8 + n].decode("utf-8")
    except UnicodeDecodeError as e:
        raise Bad("json", "header is not UTF-8: %s" % e)
    top = parse_json(text, strict)
    if not isinstance(top, dict):
        raise Bad("object", type(top).__name__)
    if top.dups:
        raise Bad("duplicate", "duplicate key %r" % top.dups[0],
                  names=[top.dups[0]])

    metadata = None
    tensors = []
    for name, e in top.items():
        if name == "__metadata__":
            # The reference reader's Option<HashMap<String, String>> takes
            # null for "absent"; FORMATS.md 1.1 says an object.
            if e is None and not strict:
                continue
            if not isinstance(e, dict) or not all(isinstance(v, str)
                                                  for v in e.values()):
                raise Bad("metadata", repr(e)[:60])
            metadata = dict(e)
            continue
        who = [name]
        if not isinstance(e, dict):
            raise Bad("entry", repr(e)[:60], who)
        for field in ("dtype", "shape", "data_offsets"):
            if field not in e:
                raise Bad("missing-" + field, "", who)
        if strict and set(e) - {"dtype", "shape", "data_offsets"}:
            raise Bad("extra", repr(sorted(e)), who)
        dt, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if not isinstance(dt, str):
            raise Bad("dtype-type", repr(dt), who)
        if dt not in DTYPE_BITS:
            raise Bad("dtype", repr(dt), who)
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0
                                                  for d in shape):
            raise Bad("shape", repr(shape)[:60], who)
        if strict and len(shape) > MAX_DIMS:
            raise Bad("dims", "%d dimensions" % len(shape), who)
        if (not isinstance(offs, list) or len(offs) != 2 or
                not all(_is_int(o) and o >= 0 for o in offs)):
            raise Bad("offsets", repr(offs)[:60], who)
        begin, end = offs
        if end < begin:
            raise Bad("order", "[%d, %d]" % (begin, end), who)
        numel = 1
        for d in shape:  # left to right, like a checked C loop
            numel *= d
            if numel >= U64:
                raise Bad("overflow", "shape product", who)
        bits = numel * DTYPE_BITS[dt]
        if bits >= U64 or numel * DTYPE_BITS[dt] // 8 >= U64:
            raise Bad("overflow", "bit count", who)
        if bits % 8:
            raise Bad("whole", "%d x %d bits" % (numel, DTYPE_BITS[dt]), who)
        if end - begin != bits // 8:
            raise Bad("needs", "span %d, needs %d" % (end - begin, bits // 8),
                      who)
        tensors.append(dict(name=name, dtype=dt, shape=list(shape),
                            begin=begin, end=end, params=numel,
                            bytes=bits // 8))

    # FORMATS.md 1.3 step 4: sorted by (begin, end), each begins where the
    # previous one ended.
    start, prev = 0, None
    for t in sorted(tensors, key=lambda t: (t["begin"], t["end"])):
        if t["begin"] != start:
            who = [t["name"]] + ([prev["name"]] if prev else [])
            raise Bad("gap" if t["begin"] > start else "overlaps",
                      "%r at %d, expected %d" % (t["name"], t["begin"], start),
                      who)
        start, prev = t["end"], t
    buf = size - 8 - n
    if start > buf:
        raise Bad("past", "data ends at %d, buffer %d" % (start, buf),
                  [prev["name"]] if prev else [])
    if start < buf:
        raise Bad("after", "%d extra bytes" % (buf - start),
                  [prev["name"]] if prev else [])
    return dict(N=n, metadata=metadata, tensors=tensors)


def read_file(path, strict=True):
    with open(path, "rb") as f:
        data = f.read()
    try:
        return read_safetensors(data, strict)
    except Bad as e:
        e.path = e.path or path
        raise


def _bad_shard_name(s):
    return (not isinstance(s, str) or not s or "/" in s or "\\" in s or
            s in (".", "..") or "\0" in s)


def read_folder(folder, strict=True):
    """A model folder: with model.safetensors.index.json, the shards in the
    order its weight_map first names them, each weight_map entry checked
    against its shard; without, every *.safetensors file in name order.
    Names must be unique across shards.  Returns (shard paths, tensors)."""
    index = os.path.join(folder, INDEX_NAME)
    if os.path.exists(index):
        with open(index, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("utf-8")
            doc = parse_json(text.strip(" \t\r\n"), strict)
        except UnicodeDecodeError as e:
            raise Bad("json", str(e), path=index)
        except Bad as e:
            e.path = index
            raise
        if not isinstance(doc, dict):
            raise Bad("index-object", type(doc).__name__, path=index)
        wm = doc.get("weight_map")
        if not isinstance(wm, dict):
            raise Bad("weight_map", "no weight_map object", path=index)
        shards = []
        for tname, shard in wm.items():
            if not isinstance(shard, str):
                raise Bad("weight_map-value", repr(shard), [tname], path=index)
            if _bad_shard_name(shard):
                raise Bad("shard", repr(shard), [tname], path=index)
            if shard not in shards:
                shards.append(shard)
        for s in shards:
            if not os.path.isfile(os.path.join(folder, s)):
                raise Bad("missing", s, path=os.path.join(folder, s))
    else:
        wm = None
        shards = sorted(f for f in os.listdir(folder)
                        if f.endswith(".safetensors"))
    paths = [os.path.join(folder, s) for s in shards]
    tensors, where = [], {}
    for s, p in zip(shards, paths):
        r = read_file(p, strict)
        for t in r["tensors"]:
            if t["name"] in where:
                raise Bad("both", "%r in %s and %s" % (t["name"], where[t["name"]], s),
                          [t["name"]], path=p)
            where[t["name"]] = s
            tensors.append(t)
    if wm is not None:
        for tname, shard in wm.items():
            if where.get(tname) != shard:
                raise Bad("not-in", "%r not in %s" % (tname, shard), [tname],
                          path=index)
    return paths, tensors


# ---------------------------------------------------------------------------
# Writing files
# ---------------------------------------------------------------------------

def header_bytes(items, style="compact", ensure_ascii=False, pad=0):
    """JSON text of an object with these (key, value) items in this order,
    right-padded with pad spaces, as UTF-8."""
    obj = dict(items)
    assert len(obj) == len(items), "duplicate keys: write those by hand"
    if style == "compact":
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=ensure_ascii)
    elif style == "spaced":
        text = json.dumps(obj, ensure_ascii=ensure_ascii)
    else:
        text = json.dumps(obj, indent=1, ensure_ascii=ensure_ascii)
    return text.encode("utf-8") + b" " * pad


def pad_to(n, multiple=8):
    return (-n) % multiple


def nbytes_of(dtype, shape):
    n = 1
    for d in shape:
        n *= d
    return n * DTYPE_BITS[dtype] // 8


def make_file(tensors, metadata=None, meta_pos=0, header_order=None,
              style="compact", ensure_ascii=False, pad=None):
    """tensors: list of (name, dtype, shape, data) in data order; offsets are
    assigned contiguously from 0.  header_order: indexes into tensors, the
    order the header lists them (default: data order).  pad: spaces after
    the JSON (None: to a multiple of 8).  Returns (file bytes, expected
    listing in header order)."""
    entries, off, blob = [], 0, []
    for name, dtype, shape, data in tensors:
        assert len(data) == nbytes_of(dtype, shape), name
        entries.append((name, {"dtype": dtype, "shape": list(shape),
                               "data_offsets": [off, off + len(data)]}))
        off += len(data)
        blob.append(data)
    order = header_order if header_order is not None else range(len(tensors))
    items = [entries[i] for i in order]
    if metadata is not None:
        items.insert(min(meta_pos, len(items)), ("__metadata__", metadata))
    h = header_bytes(items, style, ensure_ascii, 0)
    h += b" " * (pad_to(len(h)) if pad is None else pad)
    expected = []
    for i in order:
        name, dtype, shape, data = tensors[i]
        params = 1
        for d in shape:
            params *= d
        expected.append(dict(name=name, dtype=dtype, shape=list(shape),
                             params=params, bytes=len(data)))
    return struct.pack("<Q", len(h)) + h + b"".join(blob), expected


# FORMATS.md 7.7, byte for byte.
FILE_7_7_HEADER = (b'{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],'
                   b'"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[3],'
                   b'"data_offsets":[8,11]}}')
FILE_7_7 = (struct.pack("<Q", 144) + FILE_7_7_HEADER + b" " * 6 +
            bytes.fromhex("0000803f000000c0010203"))

# ---------------------------------------------------------------------------
# Random models
# ---------------------------------------------------------------------------

RANDOM_DTYPES = ["F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I64",
                 "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL"]
WORDS = ["model", "layers", "self_attn", "q_proj", "k_proj", "v_proj",
         "o_proj", "mlp", "gate_proj", "up_proj", "down_proj", "weight",
         "bias", "scale", "embed_tokens", "norm", "lm_head", "experts",
         "input_layernorm", "rotary_emb", "inv_freq", "qweight", "zeros"]
# Characters that stress JSON escaping and UTF-8: two- and three-byte
# characters, one outside the BMP (a surrogate pair when escaped), spaces,
# quotes, backslashes, a slash, an apostrophe.
ODD = ["ñ", "层", "é", "😀", " ", '"', "\\", "/", "'", "Ω", "\u00a0"]


def random_name(rng, taken):
    while True:
        parts = []
        for _ in range(rng.randint(1, 6)):
            if rng.random() < 0.3:
                parts.append(str(rng.randint(0, 40)))
            else:
                parts.append(rng.choice(WORDS))
        name = ".".join(parts)
        if rng.random() < 0.25:
            for _ in range(rng.randint(1, 3)):
                i = rng.randint(0, len(name))
                name = name[:i] + rng.choice(ODD) + name[i:]
        if name not in taken and name != "__metadata__":
            taken.add(name)
            return name


def random_shape(rng):
    while True:
        ndim = rng.choice([0, 1, 1, 2, 2, 2, 3, 4])
        shape = [rng.choice([1, 2, 3, 4, 5, 7, 8, 16, 32]) for _ in range(ndim)]
        if ndim and rng.random() < 0.12:
            shape[rng.randrange(ndim)] = 0
            if rng.random() < 0.5:  # a zero-size tensor with a large dim
                i = rng.randrange(ndim)
                if shape[i]:
                    shape[i] = rng.choice([100000, 1 << 31, 1 << 40])
        n = 1
        for d in shape:
            n *= d
        if n <= 2048:
            return shape


def random_data(rng, dtype, shape):
    n = nbytes_of(dtype, shape)
    if dtype == "BOOL":
        return bytes(rng.randint(0, 1) for _ in range(n))
    return rng.randbytes(n)


def random_metadata(rng):
    md = {}
    for _ in range(rng.randint(0, 3)):
        k = rng.choice(["format", "author", "note", "层", "q\"uote"])
        md[k] = rng.choice(["pt", "tf", "", "ñandú 层 \"x\" \\ y", "a\tb",
                            str(rng.randint(0, 10**6))])
    return md


def random_tensors(rng, count, taken):
    out = []
    for _ in range(count):
        dtype = rng.choice(RANDOM_DTYPES)
        shape = random_shape(rng)
        out.append((random_name(rng, taken), dtype, shape,
                    random_data(rng, dtype, shape)))
    return out


def random_file(rng, count, taken):
    """A random valid file: bytes, expected listing, description."""
    tensors = random_tensors(rng, count, taken)
    order = list(range(count))
    how = []
    r = rng.random()
    if r < 0.6:
        rng.shuffle(order)
        how.append("shuffled header")
    elif r < 0.8:
        order.reverse()
        how.append("reversed header")
    metadata, meta_pos = None, 0
    if rng.random() < 0.5:
        metadata = random_metadata(rng)
        meta_pos = rng.randint(0, count)
        how.append("metadata@%d" % meta_pos)
    style = rng.choice(["compact", "compact", "spaced", "indent"])
    ensure_ascii = rng.random() < 0.3
    pad = rng.choice([None, None, 0, rng.randint(1, 17)])
    how.append(style + (" ascii" if ensure_ascii else ""))
    how.append("pad8" if pad is None else "pad%d" % pad)
    data, exp = make_file(tensors, metadata, meta_pos, order, style,
                          ensure_ascii, pad)
    return data, exp, ", ".join(how)


def shard_name(k, n):
    return "model-%05d-of-%05d.safetensors" % (k, n)


def random_folder(rng, root, label, with_index, extras=()):
    """Write a sharded model folder; returns (path, expected, description)."""
    folder = os.path.join(root, label)
    os.mkdir(folder)
    nshards = rng.randint(2, 4)
    taken, expected, weight_map, total = set(), [], [], 0
    for k in range(1, nshards + 1):
        data, exp, _ = random_file(rng, rng.randint(1, 6), taken)
        name = shard_name(k, nshards)
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
        expected += exp
        group = [(t["name"], name) for t in exp]
        rng.shuffle(group)  # first mentions stay in shard order
        weight_map += group
        total += sum(t["bytes"] for t in exp)
    how = ["%d shards" % nshards]
    if with_index:
        index = {}
        if "bad-total" in extras:
            index["metadata"] = {"total_size": total + 12345}
            how.append("wrong total_size")
        elif rng.random() < 0.7:
            index["metadata"] = {"total_size": total}
        index["weight_map"] = dict(weight_map)
        with open(os.path.join(folder, INDEX_NAME), "w") as f:
            json.dump(index, f, indent=rng.choice([None, 2]))
        how.append("index")
    else:
        how.append("no index")
    if "config" in extras:
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump({"architectures": ["LlamaForCausalLM"],
                       "model_type": "llama", "hidden_size": 8}, f)
        how.append("config.json")
    return folder, expected, ", ".join(how)


# ---------------------------------------------------------------------------
# Running qscope and comparing
# ---------------------------------------------------------------------------

def sha_tree(path):
    """sha256 of a file, or of every file in a folder (with the file list)."""
    if os.path.isdir(path):
        return {n: sha_tree(os.path.join(path, n))
                for n in sorted(os.listdir(path))}
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


TENSOR_KEYS = {"name", "dtype", "shape", "params", "bytes"}
TOP_KEYS = {"path", "format", "metadata", "tensors", "params", "bytes"}


def compare_listing(got, path, expected, folder=False):
    """Problems (strings) between list --json output and the expectation."""
    p = []
    if not isinstance(got, dict):
        return ["top level is %s, not an object" % type(got).__name__]
    if set(got) != TOP_KEYS:
        p.append("top-level keys %s, expected %s" % (sorted(got), sorted(TOP_KEYS)))
    if got.get("path") != path:
        p.append("path %r, expected %r" % (got.get("path"), path))
    fmt = got.get("format")
    if not isinstance(fmt, str) or not (fmt.startswith(FORMAT) if folder
                                        else fmt == FORMAT):
        p.append("format %r, expected %r" % (fmt, FORMAT))
    ts = got.get("tensors")
    if not isinstance(ts, list):
        return p + ["tensors is %r, not a list" % type(ts).__name__]
    for k in ("params", "bytes"):
        want = sum(t[k] for t in expected)
        if not _is_int(got.get(k)) or got.get(k) != want:
            p.append("total %s %r, expected %d" % (k, got.get(k), want))
    if len(ts) != len(expected):
        p.append("%d tensors, expected %d" % (len(ts), len(expected)))
    gnames = [t.get("name") if isinstance(t, dict) else None for t in ts]
    enames = [t["name"] for t in expected]
    if gnames != enames:
        if sorted(map(repr, gnames)) == sorted(map(repr, enames)):
            i = next(i for i, (a, b) in enumerate(zip(gnames, enames)) if a != b)
            p.append("order differs at #%d: got %r, expected %r" % (i, gnames[i], enames[i]))
        else:
            missing = [n for n in enames if n not in gnames]
            extra = [n for n in gnames if n not in enames]
            p.append("names differ: missing %r, unexpected %r" % (missing[:3], extra[:3]))
    byname = {t.get("name"): t for t in ts if isinstance(t, dict)}
    for i, e in enumerate(expected):
        t = byname.get(e["name"])
        if t is None:
            continue
        if set(t) != TENSOR_KEYS:
            p.append("%r: keys %s, expected %s" % (e["name"], sorted(t), sorted(TENSOR_KEYS)))
        for k in ("dtype", "shape", "params", "bytes"):
            v = t.get(k)
            ok = v == e[k]
            if k in ("params", "bytes"):
                ok = ok and _is_int(v)
            if k == "shape":
                ok = ok and isinstance(v, list) and all(_is_int(d) for d in v)
            if not ok:
                p.append("%r: %s %r, expected %r" % (e["name"], k, v, e[k]))
    for t in ts:
        if not isinstance(t, dict):
            p.append("a tensor entry is %r, not an object" % (t,))
    return p


def listed(*args):
    """qscope ARGS, which must exit 0 and print nothing on stderr: its
    stdout (bytes; None if it did not exit 0) and the problems so far."""
    r = run_qscope(*args)
    if r.problem():
        return None, [r.problem()]
    if r.rc != 0:
        return None, ["exit status %d, stderr %r" % (r.rc, r.err.decode("utf-8", "replace").strip())]
    p = []
    if r.err:
        p.append("exit 0 but stderr %r" % r.err.decode("utf-8", "replace")[:200])
    return r.out, p


def check_json_run(path, expected, folder=False):
    """Run list --json PATH; problems (list of strings)."""
    out, p = listed("list", "--json", path)
    if out is None:
        return p
    try:
        got = json.loads(out.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return p + ["stdout is not JSON (%s): %r" % (e, out[:200])]
    return p + compare_listing(got, path, expected, folder)


def dtype_mentioned(dtype, text):
    return re.search(r"(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])" % re.escape(dtype),
                     text) is not None


def check_human_run(path, expected):
    out, p = listed("list", path)
    if out is None:
        return p
    text = out.decode("utf-8", "replace")
    if not text.strip():
        p.append("printed nothing")
    for dt in sorted({t["dtype"] for t in expected}):
        if not dtype_mentioned(dt, text):
            p.append("dtype %s not mentioned" % dt)
    return p


# ---------------------------------------------------------------------------
# Known-value cases
# ---------------------------------------------------------------------------

def known_cases(rng):
    """(label, file bytes, expected listing) with values worked out by hand."""
    cases = []
    cases.append(("FORMATS.md 7.7 163-byte file", FILE_7_7, [
        dict(name="a", dtype="F32", shape=[2], params=2, bytes=8),
        dict(name="b", dtype="U8", shape=[3], params=3, bytes=3)]))
    # The reference crate's doc example: N = 60, not a multiple of 8.
    h = b'{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}'
    cases.append(("crate example, unpadded 60-byte header",
                  struct.pack("<Q", 60) + h + bytes(16),
                  [dict(name="test", dtype="I32", shape=[2, 2], params=4, bytes=16)]))
    cases.append(("empty header {}", struct.pack("<Q", 2) + b"{}", []))
    cases.append(("only __metadata__",
                  struct.pack("<Q", 32) + b'{"__metadata__":{"format":"pt"}}', []))
    # Every dtype of FORMATS.md 1.2, four elements each (sub-byte ones too:
    # F4 packs 2 per byte, F6 4 per 3 bytes).
    ts = []
    for dt in sorted(DTYPE_BITS):
        ts.append(("all." + dt.lower(), dt, [4], rng.randbytes(nbytes_of(dt, [4]))))
    data, exp = make_file(ts)
    assert {e["name"]: e["bytes"] for e in exp}["all.f4"] == 2
    assert {e["name"]: e["bytes"] for e in exp}["all.f6_e2m3"] == 3
    assert {e["name"]: e["bytes"] for e in exp}["all.c64"] == 32
    cases.append(("all 22 dtypes x 4 elements", data, exp))
    # Scalars, exactly 8 dimensions, zero-size tensors (with huge dims) at
    # the same offset as their neighbours.
    ts = [("scalar.f64", "F64", [], rng.randbytes(8)),
          ("empty.a", "F32", [0, 1 << 40], b""),
          ("dims8", "U8", [1, 2, 1, 2, 1, 1, 1, 3], rng.randbytes(12)),
          ("empty.b", "BF16", [4, 0], b""),
          ("scalar.bool", "BOOL", [], b"\x01"),
          ("empty.c", "I64", [0], b"")]
    data, exp = make_file(ts, header_order=[5, 3, 1, 0, 2, 4])
    cases.append(("scalars, 8 dims, zero-size tensors [0, 2**40]", data, exp))
    # Zero-size tensors sharing an offset with the next tensor: sorted by
    # (begin, end) they come first, sorted by begin alone it is a tie.
    ts = [("x", "U8", [3], b"abc"), ("z0", "F32", [0], b""),
          ("y", "U16", [2], b"wxyz"), ("z1", "F32", [2, 0], b""),
          ("z2", "I8", [0], b"")]
    data, exp = make_file(ts, header_order=[4, 2, 3, 0, 1])
    cases.append(("zero-size tensors at shared offsets", data, exp))
    # Names with control characters must round-trip through JSON escaping.
    ts = [("tab\tname", "F16", [1], b"\x00\x3c"),
          ("new\nline", "F16", [1], b"\x00\x3c"),
          ("esc\x1b[31mred", "U8", [1], b"\x07"),
          ("del\x7f", "U8", [1], b"\x07")]
    data, exp = make_file(ts)
    cases.append(("names with control characters", data, exp))
    # Unicode and JSON escapes, written both raw and \u-escaped.
    ts = [("ñandú.层.😀", "F32", [1], bytes(4)),
          ('quote".back\\slash/solidus', "F32", [1], bytes(4)),
          ("'single quotes'", "F32", [1], bytes(4)),
          ("  spaces  ", "F32", [1], bytes(4))]
    for ascii_ in (False, True):
        data, exp = make_file(ts, ensure_ascii=ascii_, header_order=[2, 0, 3, 1])
        cases.append(("unicode/quote names, %s" % ("\\u-escaped" if ascii_ else "raw UTF-8"),
                      data, exp))
    # A long name and many tensors.
    ts = [("long." + "x" * 3000, "U8", [1], b"\x01")]
    ts += [("t.%d" % i, "U8", [1], bytes([i & 255])) for i in range(3000)]
    data, exp = make_file(ts, header_order=list(range(3000, -1, -1)))
    cases.append(("3001 tensors, one with a 3005-byte name", data, exp))
    # Header much larger than the data, padding not to 8.
    data, exp = make_file([("w", "F32", [1], bytes(4))], pad=4093)
    cases.append(("4093 spaces of header padding", data, exp))
    return cases


# ---------------------------------------------------------------------------

def self_check(path, expected, folder):
    """The independent reader must accept what we wrote and agree with it."""
    try:
        if folder:
            _, ts = read_folder(path)
        else:
            ts = read_file(path)["tensors"]
    except Bad as e:
        return ["independent reader rejects it: %s (%s)" % (e, e.path)]
    got = [dict(name=t["name"], dtype=t["dtype"], shape=t["shape"],
                params=t["params"], bytes=t["bytes"]) for t in ts]
    if got != expected:
        return ["independent reader disagrees with the writer"]
    return []


def changed(before, after):
    """Problems if sha_tree() results differ."""
    if before == after:
        return []
    if isinstance(before, dict):
        return ["files changed, added or removed: %r" % sorted(
            k for k in set(before) | set(after) if before.get(k) != after.get(k))]
    return ["sha256 changed"]


def main():
    # A fixed seed by default, so CI is repeatable; "random" for a new one.
    rng = seeded_rng()
    tally = Tally(detail=5)

    with tempfile.TemporaryDirectory(prefix="qscope-list-") as root:
        todo = []  # (label, path, expected, is folder)
        # FORMATS.md 7.7 itself first: the bytes are as documented.
        p = []
        if len(FILE_7_7) != 163:
            p.append("7.7 file is %d bytes" % len(FILE_7_7))
        data, _ = make_file([("a", "F32", [2], bytes.fromhex("0000803f000000c0")),
                             ("b", "U8", [3], b"\x01\x02\x03")],
                            metadata={"format": "pt"})
        if data != FILE_7_7:
            p.append("make_file does not reproduce FORMATS.md 7.7")
        tally.case("writer: FORMATS.md 7.7 reproduced byte for byte", p)

        for i, (label, data, exp) in enumerate(known_cases(rng)):
            path = os.path.join(root, "known-%02d.safetensors" % i)
            with open(path, "wb") as f:
                f.write(data)
            todo.append((label, path, exp, False))

        for i in range(60):
            count = rng.choice([0, 1, 2, 3, 5, 8, 13, 20, rng.randint(0, 20)])
            data, exp, how = random_file(rng, count, set())
            path = os.path.join(root, "random-%02d.safetensors" % i)
            with open(path, "wb") as f:
                f.write(data)
            todo.append(("random file %02d (%d tensors, %s)" % (i, count, how),
                         path, exp, False))

        for i in range(10):
            with_index = i < 6
            extras = []
            if i in (1, 7):
                extras.append("config")
            if i == 2:
                extras.append("bad-total")
            path, exp, how = random_folder(rng, root, "folder-%02d" % i,
                                           with_index, extras)
            todo.append(("sharded folder %02d (%d tensors, %s)" % (i, len(exp), how),
                         path, exp, True))

        # The generator must be right before qscope is judged by it.
        bad = []
        for label, path, exp, folder in todo:
            for q in self_check(path, exp, folder):
                bad.append("%s: %s" % (label, q))
        tally.case("independent reader accepts all %d generated inputs" % len(todo), bad)

        if not tally.have_qscope():
            return tally.finish()

        for label, path, exp, folder in todo:
            before = sha_tree(path)
            tally.case(label + ": list --json", check_json_run(path, exp, folder))
            tally.case(label + ": list", check_human_run(path, exp))
            if folder and os.path.exists(os.path.join(path, INDEX_NAME)):
                index = os.path.join(path, INDEX_NAME)
                tally.case(label + ": list --json of the index file itself",
                           check_json_run(index, exp, True))
            after = sha_tree(path)
            tally.case(label + ": input unmodified", changed(before, after))
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
