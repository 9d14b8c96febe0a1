#!/usr/bin/python3
"""tests/malformed.py - qscope on malformed safetensors files and folders.

usage: tests/malformed.py [SEED]      (from the project root; QSCOPE=./qscope)

Every case is written to a temporary folder and opened with
`$QSCOPE list PATH` and `$QSCOPE list --json PATH`.  Each run must exit with
status 2, print nothing on stdout and exactly one line on stderr that starts
with "qscope: ", names the file (the path as passed; for a folder, the shard
or index at fault), contains the expected fragment (case-insensitive) and,
for a problem with one tensor, the tensor's name in single quotes.  Nothing
may die by a signal or run past the timeout, and no input may change.

Then: a valid file truncated at every byte offset (exit 2, one line naming
the file), and seeded single-byte changes in the header region (exit 0 or
2; on 0 the listing must match the independent reader's, on 2 the
independent reader must reject the file too).

Before qscope is run on anything, the independent reader in
tests/list_check.py checks that each case breaks exactly the rule it is
meant to break.

The table: CASES and FOLDER_CASES are (name, builder, rule) tuples, with an
optional fourth element overriding the fragment for that one case.  RULES
maps each rule to the fragment the message must contain (a tuple: any of
them).  When the reader's wording changes, a fragment is one edit.

Prints one line per case ("ok   what" / "FAIL what: why") and ends with
"N passed, N failed"; exit status 1 if anything failed.
"""
import json
import os
import random
import struct
import sys
import tempfile

sys.dont_write_bytecode = True  # never write __pycache__ into the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from list_check import (  # noqa: E402
    Bad, FILE_7_7, FILE_7_7_HEADER, INDEX_NAME, compare_listing,
    make_file, nbytes_of, read_folder, read_safetensors, run_qscope, sha_tree,
    shard_name)
from qstest import Tally, in_parallel, seeded_rng  # noqa: E402

# rule -> fragment the one-line message must contain (case-insensitive); a
# tuple means any one of them.
RULES = {
    "empty": "file is empty",
    "short": ("too short", "past the end of the file"),
    "limit": "exceeds the limit",
    "json": "not valid JSON",
    "object": "not a JSON object",
    "duplicate": "duplicate",
    # A repeated field inside one entry: the JSON library names the key and
    # the byte, not the entry.
    "duplicate-key": "duplicate key 'dtype'",
    "entry": "is not an object",
    "missing-dtype": "missing 'dtype'",
    "missing-shape": "missing 'shape'",
    "missing-data_offsets": "missing 'data_offsets'",
    "dtype": "unknown dtype",
    "dtype-type": "dtype",
    "shape": "shape",
    "dims": "dimensions",
    "offsets": "data_offsets",
    "order": "before begin",
    "overflow": "overflow",
    "whole": "whole bytes",
    "needs": "needs",
    "gap": "gap",
    "overlaps": "overlaps",
    "past": "past the end",
    "after": "after the last tensor",
    "metadata": "__metadata__",
    "unknown": "unknown format",
    "nosuch": "no such file",
    # folders
    "missing": "missing",
    "not-in": "not in",
    "both": "appears in both",
    "weight_map": "weight_map",
    "weight_map-value": ("weight_map", "shard"),
    "index-object": ("not a JSON object", "weight_map"),
    "shard": "shard",
}

# Problems with one tensor: the message must also name it, in single quotes.
TENSOR_RULES = {"duplicate", "entry", "missing-dtype", "missing-shape",
                "missing-data_offsets", "dtype", "dtype-type", "shape", "dims",
                "offsets", "order", "overflow", "whole", "needs", "gap",
                "overlaps", "both", "not-in"}


# ---------------------------------------------------------------------------
# Building files
# ---------------------------------------------------------------------------

class Raw(str):
    """A JSON fragment written as is (NaN, invalid JSON, ...)."""


def jtext(v):
    """JSON text of v, with Raw fragments (at any depth) written as is."""
    if isinstance(v, Raw):
        return v
    if isinstance(v, dict):
        return obj(*v.items())
    if isinstance(v, list):
        return "[" + ",".join(jtext(x) for x in v) + "]"
    return json.dumps(v)


def obj(*pairs):
    """JSON object text from (key, value) pairs; keys may repeat."""
    return "{" + ",".join(json.dumps(k) + ":" + jtext(v) for k, v in pairs) + "}"


def st(header, data=b"", n=None, pad=True):
    """A safetensors file: header (str or bytes), padded with spaces to a
    multiple of 8 unless pad is False; n overrides the length field."""
    h = header.encode("utf-8") if isinstance(header, str) else header
    if pad:
        h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h) if n is None else n) + h + data


def T(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


A = ("a", T("F32", [2], 0, 8))        # FORMATS.md 7.7's tensors
B = ("b", T("U8", [3], 8, 11))
D11 = bytes.fromhex("0000803f000000c0010203")
OK = ("ok", T("U8", [3], 0, 3))       # a good tensor beside a bad one


def bad(entry, data_len=11):
    """'ok' at [0,3] and a tensor 'bad.t' with the given entry; the data is
    as long as 'bad.t' would need if it were [3, data_len]."""
    return st(obj(OK, ("bad.t", entry)), bytes(data_len))


def with_bad(**kw):
    """'bad.t' = F32 [2] at [3, 11] with fields replaced (None: removed)."""
    e = {"dtype": "F32", "shape": [2], "data_offsets": [3, 11]}
    for k, v in kw.items():
        k = k.replace("offsets", "data_offsets")
        if v is None:
            del e[k]
        else:
            e[k] = v
    return bad(e)


META = ("__metadata__", {"format": "pt"})


def random_bytes(seed):
    """64 bytes that look like no checkpoint (byte 8 is not '{')."""
    r = random.Random(seed)
    while True:
        b = r.randbytes(64)
        if b[8] != ord("{") and b[0] not in b"\x80PG\x93\x1f\x28{":
            return b


CASES = [
    # -- size and length field
    ("empty file", b"", "empty"),
    ("1-byte file", b"\x00", "short"),
    ("7 bytes of the 7.7 file", FILE_7_7[:7], "short"),
    ("8 bytes, N = 0", struct.pack("<Q", 0), "json", ("not valid JSON", "too short")),
    ("N = 100 but 2 header bytes", st("{}", pad=False, n=100), "short"),
    ("7.7 file cut one byte into the header", FILE_7_7[:151], "short"),
    ("N = 100000001 (7.7 file)", struct.pack("<Q", 100000001) + FILE_7_7[8:], "limit"),
    ("N = 2**63", struct.pack("<Q", 1 << 63) + FILE_7_7[8:], "limit"),
    ("N = 2**64-1 (8 + N overflows)", struct.pack("<Q", (1 << 64) - 1) + FILE_7_7[8:], "limit"),
    ("N = 100000000 exactly, file short", struct.pack("<Q", 100000000) + FILE_7_7[8:], "short"),
    # -- header JSON
    ("header JSON cut short", st('{"a":{"dtype":"F32"'), "json"),
    ("header: garbage after the object", st(obj(A, B) + "x", D11), "json"),
    ("header padded with NUL bytes, not spaces",
     struct.pack("<Q", 144) + FILE_7_7_HEADER + b"\0" * 6 + D11, "json"),
    ("header: byte 0xff in a name", st(obj(A, B).encode().replace(b'"a"', b'"\xff"'), D11), "json"),
    ("header: overlong UTF-8 c0 af in a name",
     st(obj(A, B).encode().replace(b'"a"', b'"\xc0\xaf"'), D11), "json"),
    ("header: UTF-8-encoded surrogate ed a0 80 in a name",
     st(obj(A, B).encode().replace(b'"a"', b'"\xed\xa0\x80"'), D11), "json"),
    ("header: escaped lone surrogate \\ud800 in a name",
     st(obj(A, B).replace('"a"', '"\\ud800"'), D11), "json"),
    ("header: \\u0000 in a name", st(obj(A, B).replace('"a"', '"a\\u0000b"'), D11), "json"),
    ("header: NaN in __metadata__", st(obj(("__metadata__", {"k": Raw("NaN")}), A, B), D11), "json"),
    ("header: shape dim 2**63 (beyond int64)", bad(T("U8", [Raw(str(1 << 63))], 3, 3), 3),
     "json", ("not valid JSON", "shape", "overflow")),
    ("header is a JSON array", st('[{"a":1}]'), "object"),
    # -- names and entries
    ("duplicate tensor name", st(obj(A, B, ("a", T("F32", [2], 0, 8))), D11), "duplicate"),
    ("duplicate __metadata__", st(obj(META, A, META, B), D11), "duplicate"),
    ("duplicate field in a tensor entry",
     st('{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]},'
        '"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}', D11), "duplicate-key"),
    ("tensor entry is a number", bad(5, 3), "entry"),
    ("tensor entry is an array", bad(["F32", [2], [3, 11]]), "entry"),
    ("tensor entry is a string", bad("F32", 3), "entry"),
    ("tensor entry is null", bad(None, 3), "entry"),
    ("missing dtype", with_bad(dtype=None), "missing-dtype"),
    ("missing shape", with_bad(shape=None), "missing-shape"),
    ("missing data_offsets", with_bad(offsets=None), "missing-data_offsets"),
    # -- dtype
    ("dtype F128", with_bad(dtype="F128"), "dtype"),
    ("dtype f32 (lower case)", with_bad(dtype="f32"), "dtype"),
    ("dtype float32", with_bad(dtype="float32"), "dtype"),
    ("dtype empty string", with_bad(dtype=""), "dtype"),
    ("dtype Q8_0 (a GGUF type)", with_bad(dtype="Q8_0"), "dtype"),
    ("dtype 'F32 ' (trailing space)", with_bad(dtype="F32 "), "dtype"),
    ("dtype is a number", with_bad(dtype=5), "dtype-type"),
    ("dtype is null", with_bad(dtype=Raw("null")), "dtype-type"),
    # -- shape
    ("shape [-2]", with_bad(shape=[-2]), "shape"),
    ("shape [2.0]", with_bad(shape=Raw("[2.0]")), "shape"),
    ("shape [2e0]", with_bad(shape=Raw("[2e0]")), "shape"),
    ('shape ["2"]', with_bad(shape=["2"]), "shape"),
    ("shape [[2]]", with_bad(shape=[[2]]), "shape"),
    ("shape [true, 2]", with_bad(shape=[True, 2]), "shape"),
    ("shape [2, null]", with_bad(shape=[2, None]), "shape"),
    ('shape "2"', with_bad(shape="2"), "shape"),
    ("shape 2", with_bad(shape=2), "shape"),
    ("shape null", with_bad(shape=Raw("null")), "shape"),
    ("shape {}", with_bad(shape={}), "shape"),
    ("shape with 9 dimensions", bad(T("F32", [1] * 9, 3, 7), 7), "dims"),
    # -- data_offsets
    ("data_offsets [3]", with_bad(offsets=[3]), "offsets"),
    ("data_offsets [3, 11, 11]", with_bad(offsets=[3, 11, 11]), "offsets"),
    ("data_offsets []", with_bad(offsets=[]), "offsets"),
    ("data_offsets [-3, 5]", bad(T("F32", [2], -3, 5), 11), "offsets"),
    ("data_offsets [3.0, 11.0]", with_bad(offsets=Raw("[3.0,11.0]")), "offsets"),
    ('data_offsets ["3", "11"]', with_bad(offsets=["3", "11"]), "offsets"),
    ('data_offsets "3,11"', with_bad(offsets="3,11"), "offsets"),
    ("data_offsets [3, null]", with_bad(offsets=[3, None]), "offsets"),
    ("data_offsets null", with_bad(offsets=Raw("null")), "offsets"),
    ("data_offsets {}", with_bad(offsets={}), "offsets"),
    ("data_offsets [11, 3] (end before begin)", with_bad(offsets=[11, 3]), "order"),
    ("zero-size tensor at [5, 3]", bad(T("F32", [0], 5, 3), 3), "order"),
    # -- sizes
    ("shape [2**40, 2**40] overflows", with_bad(shape=[1 << 40, 1 << 40]), "overflow"),
    ("U8 [2**32, 2**32]: element count overflows", with_bad(dtype="U8", shape=[1 << 32, 1 << 32]), "overflow"),
    ("F64 [2**32, 2**31]: byte count overflows", with_bad(dtype="F64", shape=[1 << 32, 1 << 31]), "overflow"),
    ("F32 [2**62]: byte count overflows", with_bad(shape=[1 << 62]), "overflow"),
    ("shape [2**40, 2**40, 0]: overflows before the 0", bad(T("F32", [1 << 40, 1 << 40, 0], 3, 3), 3), "overflow"),
    ("F4 [3]: odd element count", bad(T("F4", [3], 3, 5), 5), "whole"),
    ("F4 [1, 3]", bad(T("F4", [1, 3], 3, 5), 5), "whole"),
    ("F6_E2M3 [3]: 18 bits", bad(T("F6_E2M3", [3], 3, 6), 6), "whole"),
    ("F6_E3M2 [] (scalar, 6 bits)", bad(T("F6_E3M2", [], 3, 4), 4), "whole"),
    ("F32 [2] spanning 7 bytes", bad(T("F32", [2], 3, 10), 10), "needs"),
    ("7.7 with b at [8,10] (size mismatch)", st(obj(META, A, ("b", T("U8", [3], 8, 10))), D11[:10]), "needs"),
    ("F32 [] scalar spanning 8 bytes", bad(T("F32", [], 3, 11), 11), "needs"),
    ("F32 [0] spanning 4 bytes", bad(T("F32", [0], 3, 7), 7), "needs"),
    ("F4 [4] spanning 4 bytes (needs 2)", bad(T("F4", [4], 3, 7), 7), "needs"),
    ("C64 [1] spanning 4 bytes (needs 8)", bad(T("C64", [1], 3, 7), 7), "needs"),
    ("BF16 [2, 3] spanning 6 bytes", bad(T("BF16", [2, 3], 3, 9), 9), "needs"),
    # -- layout of the byte buffer
    ("7.7 with b at [9,12] (gap)", st(obj(META, A, ("b", T("U8", [3], 9, 12))), bytes(12)), "gap"),
    ("first tensor at 4", st(obj(("a", T("F32", [2], 4, 12))), bytes(12)), "gap"),
    ("gap, header not in offset order",
     st(obj(("c", T("U8", [2], 10, 12)), ("a", T("F32", [2], 0, 8))), bytes(12)), "gap"),
    ("zero-size tensor past the last tensor", st(obj(A, ("z", T("F32", [0], 9, 9))), bytes(8)),
     "gap", ("gap", "past the end")),
    ("overlapping tensors", st(obj(A, ("b", T("U8", [3], 6, 9))), bytes(9)), "overlaps"),
    ("two tensors at [0,8]", st(obj(A, ("c", T("F32", [2], 0, 8))), bytes(8)), "overlaps"),
    ("overlap, header not in offset order",
     st(obj(("b", T("U8", [3], 6, 9)), A), bytes(9)), "overlaps"),
    ("zero-size tensor inside another", st(obj(A, ("z", T("F32", [0], 4, 4))), bytes(8)), "overlaps"),
    ("7.7 missing its last byte", FILE_7_7[:-1], "past"),
    ("tensor [0,8] with no data", st(obj(A)), "past"),
    ("F32 [2**40] at [0, 2**42], 8 data bytes", st(obj(("big", T("F32", [1 << 40], 0, 1 << 42))), bytes(8)), "past"),
    ("U8 [2**60] at [0, 2**60]", st(obj(("big", T("U8", [1 << 60], 0, 1 << 60))), bytes(8)), "past"),
    ("7.7 plus one byte", FILE_7_7 + b"\0", "after"),
    ("{} plus 4 bytes", st("{}", b"abcd"), "after"),
    # -- __metadata__
    ('__metadata__ "pt"', st(obj(("__metadata__", "pt"), A, B), D11), "metadata"),
    ("__metadata__ 5", st(obj(("__metadata__", 5), A, B), D11), "metadata"),
    ('__metadata__ ["pt"]', st(obj(("__metadata__", ["pt"]), A, B), D11), "metadata"),
    # "__metadata__": null is accepted, as the reference reader (an Option)
    # and MLX's writer do; see real/ml-explore__...adapters.safetensors.
    ('__metadata__ {"k": 1}', st(obj(("__metadata__", {"k": 1}), A, B), D11), "metadata"),
    ('__metadata__ {"k": null}', st(obj(("__metadata__", {"k": None}), A, B), D11), "metadata"),
    ('__metadata__ {"k": {"a": "b"}}', st(obj(("__metadata__", {"k": {"a": "b"}}), A, B), D11), "metadata"),
    ('__metadata__ {"k": ["a"]}', st(obj(A, ("__metadata__", {"k": ["a"]}), B), D11), "metadata"),
    # -- not safetensors at all
    ("64 random bytes", random_bytes(7), "unknown"),
    ("a text file", b"hello, this is a text file\nand not a checkpoint at all\n", "unknown"),
    ("path that does not exist", None, "nosuch"),
]


# Folder cases: a builder is a dict {relative path: bytes}, written under
# root/<case>/model (so "../x" lands beside the folder); the path given to
# qscope is the model folder.
def shard_file(*tensors):
    """A valid shard holding (name, dtype, shape) tensors."""
    data, _ = make_file([(n, d, s, bytes(nbytes_of(d, s))) for n, d, s in tensors],
                        metadata={"format": "pt"})
    return data


S1, S2 = shard_name(1, 2), shard_name(2, 2)
SHARD1 = shard_file(("s1.a", "F32", [2]), ("s1.b", "U8", [3]))
SHARD2 = shard_file(("s2.a", "I16", [2]), ("s2.b", "BOOL", [1]))
WM = {"s1.a": S1, "s1.b": S1, "s2.a": S2, "s2.b": S2}


def index(wm=WM, **extra):
    d = {"metadata": {"total_size": 19}}
    d.update(extra)
    if wm is not None:
        d["weight_map"] = wm
    return json.dumps(d).encode()


def folder(*, idx=True, s1=SHARD1, s2=SHARD2, **more):
    files = {S1: s1, S2: s2}
    if idx is True:
        files[INDEX_NAME] = index()
    elif idx is not None:
        files[INDEX_NAME] = idx
    for k, v in more.items():
        files[k.replace("__", "/").replace("DOTDOT", "..")] = v
    return {k: v for k, v in files.items() if v is not None}


FOLDER_CASES = [
    ("folder: index names a missing shard", folder(s2=None), "missing"),
    ("folder: weight_map puts s1.a in the wrong shard",
     folder(idx=index(dict(WM, **{"s1.a": S2}))), "not-in"),
    ("folder: weight_map names a tensor no shard has",
     folder(idx=index(dict(WM, ghost=S1))), "not-in"),
    ("folder: the same tensor in two shards (index)",
     folder(s2=shard_file(("s2.a", "I16", [2]), ("s1.a", "F32", [2]))), "both"),
    ("folder: the same tensor in two shards (no index)",
     folder(idx=None, s2=shard_file(("s1.b", "U8", [3]), ("s2.b", "BOOL", [1]))), "both"),
    ("folder: index not JSON", folder(idx=b'{"weight_map": {"s1.a": '), "json"),
    ("folder: index not UTF-8", folder(idx=index().replace(b"s1.a", b"s1.\xff")), "json"),
    ("folder: index without weight_map", folder(idx=index(None)), "weight_map"),
    ("folder: weight_map is an array", folder(idx=index(None, weight_map=[S1, S2])), "weight_map"),
    ("folder: index is a JSON array", folder(idx=b"[1, 2]"), "index-object"),
    ("folder: weight_map value is a number", folder(idx=index(dict(WM, **{"s2.b": 2}))),
     "weight_map-value"),
    ("folder: shard named ../" + S2,
     folder(idx=index(dict(WM, **{"s2.a": "../" + S2, "s2.b": "../" + S2})), s2=None,
            **{"DOTDOT__" + S2: SHARD2}), "shard"),
    ("folder: shard named sub/" + S2,
     folder(idx=index(dict(WM, **{"s2.a": "sub/" + S2, "s2.b": "sub/" + S2})), s2=None,
            **{"sub__" + S2: SHARD2}), "shard"),
    ("folder: shard named ..", folder(idx=index(dict(WM, **{"s2.a": "..", "s2.b": ".."}))), "shard"),
    ("folder: shard with a gap (index)",
     folder(s2=st(obj(("s2.a", T("I16", [2], 1, 5))), bytes(5))), "gap"),
    ("folder: shard with a bad dtype (no index)",
     folder(idx=None, s2=st(obj(("s2.a", T("I17", [2], 0, 4))), bytes(4))), "dtype"),
    ("folder: empty shard (no index)", folder(idx=None, s2=b""), "empty"),
    ("folder: shard cut to 5 bytes (no index)", folder(idx=None, s2=SHARD2[:5]), "short"),
    ("folder: shard that is a text file (no index)",
     folder(idx=None, s2=b"this is not a safetensors file, whatever its name\n"), "unknown"),
]
# The absolute-path case needs the temporary folder's name: see main().


# ---------------------------------------------------------------------------
# Checking one run
# ---------------------------------------------------------------------------

def fragments(rule, override=None):
    f = override if override is not None else RULES[rule]
    return f if isinstance(f, tuple) else (f,)


def check_error_run(args, paths, frags, names):
    """Run qscope; it must fail cleanly.  paths: the message must contain
    one of them; frags: one of these (case-insensitive); names: if any, one
    of them in single quotes.  Returns (problems, message)."""
    r = run_qscope(*args)
    if r.problem():
        return [r.problem()], None
    p = []
    err = r.err.decode("utf-8", "replace")
    if r.rc != 2:
        return ["exit status %d, expected 2; stderr %r; stdout %r"
                % (r.rc, err[:200], r.out[:100])], None
    if r.out:
        p.append("stdout not empty: %r" % r.out[:120])
    if err.count("\n") != 1 or not err.endswith("\n"):
        p.append("stderr is %d lines, expected exactly one" % len(err.splitlines()))
    msg = err.splitlines()[0] if err.splitlines() else ""
    if not msg.startswith("qscope: "):
        p.append("message does not start with 'qscope: '")
    if paths and not any(x in msg for x in paths):
        p.append("message does not name %s" % " or ".join(paths))
    if frags and not any(f.lower() in msg.lower() for f in frags):
        p.append("message lacks %s" % " / ".join(repr(f) for f in frags))
    if names and not any("'%s'" % n in msg for n in names):
        p.append("message does not name tensor %s" % " or ".join("'%s'" % n for n in names))
    if p:
        p.insert(0, "stderr %r" % err)
    return p, msg


def intended(path, is_folder):
    """What the independent reader says about a case: the Bad, or None.
    It knows only safetensors: a file it rejects whose byte 8 (where the
    JSON header starts) is not '{' (nor '[', for the not-an-object case)
    counts as 'unknown'."""
    try:
        if is_folder:
            read_folder(path)
        else:
            with open(path, "rb") as f:
                read_safetensors(f.read())
    except Bad as e:
        if not is_folder:
            e.path = path
        if e.path.endswith(".safetensors") and os.path.isfile(e.path):
            with open(e.path, "rb") as f:
                head = f.read(9)
            if len(head) == 9 and head[8:9] not in (b"{", b"["):
                e.rule, e.names = "unknown", ()
        return e
    except FileNotFoundError:
        return Bad("nosuch", path=path)
    return None


def run_case(tally, label, path, rule, override, is_folder, folder_path=None):
    """Self-check, then both runs.  path: what qscope is given."""
    e = intended(path, is_folder)
    if e is None or e.rule != rule:
        tally.case(label + ": generator", [
            "the independent reader says %s, the case means %r"
            % ("the input is fine" if e is None else "%r (%s)" % (e.rule, e), rule)])
        return
    paths = [path]
    if is_folder:
        paths = [e.path] if e.path else [path]
        idx = os.path.join(path, INDEX_NAME)
        if rule in ("missing", "not-in") and os.path.exists(idx):
            paths.append(idx)
            if rule == "not-in":
                paths += [os.path.join(path, f) for f in os.listdir(path)
                          if f.endswith(".safetensors")]
        if rule == "both":
            paths = [os.path.join(path, f) for f in os.listdir(path)
                     if f.endswith(".safetensors")]
    names = [n for n in e.names if n != "__metadata__"] if rule in TENSOR_RULES else []
    before = sha_tree(folder_path or path) if os.path.exists(path) else None
    for args in (["list", path], ["list", "--json", path]):
        p, msg = check_error_run(args, paths, fragments(rule, override), names)
        what = label + (" (--json)" if "--json" in args else "")
        tally.case(what if p or "--json" in args else "%s: %s" % (what, msg), p)
    if before is not None and sha_tree(folder_path or path) != before:
        tally.case(label + ": input unmodified", ["the input changed"])


def write_tree(base, files):
    for rel, data in files.items():
        p = os.path.normpath(os.path.join(base, rel))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)


# ---------------------------------------------------------------------------
# Truncations and byte changes of one good file
# ---------------------------------------------------------------------------

def good_file(rng):
    ts = [("model.w", "F32", [2, 3], rng.randbytes(24)),
          ("model.b", "BF16", [4], rng.randbytes(8)),
          ("ids", "U8", [5], rng.randbytes(5))]
    return make_file(ts, metadata={"format": "pt"}, meta_pos=1, header_order=[2, 0, 1])


def check_flip(path, data):
    """After one changed byte: exit 0 with the listing the independent
    reader gives, or exit 2 on a file the strict independent reader rejects."""
    r = run_qscope("list", "--json", path)
    if r.problem():
        return [r.problem()], None
    err = r.err.decode("utf-8", "replace")
    if r.rc == 2:
        p = []
        if r.out:
            p.append("stdout not empty")
        if err.count("\n") != 1 or not err.endswith("\n") or not err.startswith("qscope: "):
            p.append("stderr is not one 'qscope: ' line: %r" % err)
        elif path not in err:
            p.append("message does not name the file: %r" % err)
        try:
            read_safetensors(data, strict=True)
            p.append("qscope rejects a file the independent reader accepts: %r" % err)
        except Bad:
            pass
        return p, "exit 2"
    if r.rc != 0:
        return ["exit status %d, expected 0 or 2; stderr %r" % (r.rc, err)], None
    try:
        want = read_safetensors(data, strict=False)
    except Bad as e:
        return ["qscope accepts a file the independent reader rejects (%s)" % e], None
    try:
        got = json.loads(r.out.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return ["stdout is not JSON: %s" % e], None
    exp = [dict(name=t["name"], dtype=t["dtype"], shape=t["shape"],
                params=t["params"], bytes=t["bytes"]) for t in want["tensors"]]
    return ((["exit 0 but stderr %r" % err] if err else []) +
            compare_listing(got, path, exp)), "exit 0, listing as expected"


# ---------------------------------------------------------------------------

def main():
    # A fixed seed by default, so CI is repeatable; "random" for a new one.
    rng = seeded_rng()
    tally = Tally(detail=5)
    have_qscope = tally.have_qscope()

    with tempfile.TemporaryDirectory(prefix="qscope-malformed-") as root:
        # A good file and a good folder first: the builders are right, and
        # qscope leaves its input alone.
        data, exp = make_file([("a", "F32", [2], D11[:8]), ("b", "U8", [3], D11[8:])],
                              metadata={"format": "pt"})
        good = os.path.join(root, "good.safetensors")
        with open(good, "wb") as f:
            f.write(data)
        gdir = os.path.join(root, "good-folder", "model")
        write_tree(gdir, folder())
        p = []
        for what, fn in (("file", lambda: read_safetensors(data)),
                         ("folder", lambda: read_folder(gdir))):
            try:
                fn()
            except Bad as e:
                p.append("independent reader rejects the good %s: %s" % (what, e))
        tally.case("generator: the good file and folder are good", p)

        if have_qscope:
            for path, is_folder in ((good, False), (gdir, True)):
                before = sha_tree(path)
                r = run_qscope("list", "--json", path)
                p = [r.problem()] if r.problem() else []
                if not p and r.rc != 0:
                    p.append("exit status %d, stderr %r" % (r.rc, r.err.decode("utf-8", "replace")))
                if sha_tree(path) != before:
                    p.append("the input changed (sha256)")
                tally.case("valid %s lists (exit 0) and is unmodified" % ("folder" if is_folder else "file"), p)

        # The table.
        cases = [(c[0], c[1], c[2], c[3] if len(c) > 3 else None, False) for c in CASES]
        absdir = os.path.join(root, "elsewhere")
        write_tree(absdir, {S2: SHARD2})
        abs_case = folder(idx=index(dict(WM, **{"s2.a": os.path.join(absdir, S2),
                                                "s2.b": os.path.join(absdir, S2)})), s2=None)
        folder_cases = FOLDER_CASES + [("folder: shard named by an absolute path", abs_case, "shard")]
        cases += [(c[0], c[1], c[2], c[3] if len(c) > 3 else None, True) for c in folder_cases]
        for i, (label, builder, rule, override, is_folder) in enumerate(cases):
            if is_folder:
                top = os.path.join(root, "f%03d" % i)
                path = os.path.join(top, "model")
                write_tree(path, builder)
                run_case_or_check(tally, label, path, rule, override, True, top, have_qscope)
            else:
                path = os.path.join(root, "c%03d.safetensors" % i)
                if builder is not None:
                    with open(path, "wb") as f:
                        f.write(builder() if callable(builder) else builder)
                run_case_or_check(tally, label, path, rule, override, False, None, have_qscope)

        # Truncation at every offset, then changed bytes in the header.
        data, exp = good_file(rng)
        n = struct.unpack_from("<Q", data)[0]
        p = []
        for k in range(len(data)):
            try:
                read_safetensors(data[:k])
                p.append("truncated at %d still parses" % k)
            except Bad:
                pass
        try:
            read_safetensors(data)
        except Bad as e:
            p.append("the untruncated file does not parse: %s" % e)
        tally.case("generator: %d-byte file, every truncation breaks it" % len(data), p)
        if have_qscope:
            # Each run on a file of its own, several at a time.
            def cut(k):
                path = os.path.join(root, "cut-%d.safetensors" % k)
                with open(path, "wb") as f:
                    f.write(data[:k])
                return check_error_run(["list", path], [path], (), [])
            for k, (p, msg) in enumerate(in_parallel(cut, range(len(data)))):
                tally.case("truncated at %d of %d%s" % (k, len(data), "" if p else ": " + msg), p)

            # Half the changes are any other byte; half are a byte the
            # header already uses (a digit, a dtype letter, a quote...),
            # which leaves more files that still parse.
            alphabet = sorted(set(data[8:8 + n]))
            flips = []
            for j in range(200):
                pos = rng.randrange(8 + n)
                if j % 2:
                    new = data[pos] ^ rng.randint(1, 255)
                else:
                    new = rng.choice([c for c in alphabet if c != data[pos]])
                flips.append((j, pos, new))

            def flip(jpn):
                j, pos, new = jpn
                path = os.path.join(root, "flip-%d.safetensors" % j)
                changed = data[:pos] + bytes([new]) + data[pos + 1:]
                with open(path, "wb") as f:
                    f.write(changed)
                return check_flip(path, changed)
            for (j, pos, new), (p, how) in zip(flips, in_parallel(flip, flips)):
                tally.case("byte %d: %r -> %r%s" % (pos, bytes([data[pos]]), bytes([new]),
                                                     ": " + how if how and not p else ""), p)
    return tally.finish()


def run_case_or_check(tally, label, path, rule, override, is_folder, top, have_qscope):
    if have_qscope:
        run_case(tally, label, path, rule, override, is_folder, top)
        return
    e = intended(path, is_folder)
    tally.case(label + ": generator",
               [] if e is not None and e.rule == rule else
               ["the independent reader says %s, the case means %r"
                % ("the input is fine" if e is None else "%r (%s)" % (e.rule, e), rule)])


if __name__ == "__main__":
    sys.exit(main())
