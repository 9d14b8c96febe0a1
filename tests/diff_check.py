#!/usr/bin/python3
"""End-to-end checks of `qscope diff`, against an independent computation.

Runs the program named by $QSCOPE (default ./qscope) on the fixtures in
$QS_FIXTURES (default ../shared/fixtures), on the demo checkpoint
(demo/model) and on files this script writes with numpy:

  - llama.cpp's F16 fixture against its Q4_K_M: per-tensor rel_err,
    sqnr_db, cosine and max_abs_err equal (to 1e-6 relative) what this
    script computes from its own GGUF reader and block decoders (F32, F16,
    BF16, Q8_0, Q4_K, Q6_K per FORMATS.md 2.5), and agree with the
    fixture's own vs_source figures (gguf-py's);
  - a model against itself (fixture and demo): zero error, cosine 1,
    nothing only on one side;
  - the demo (safetensors, Hugging Face names) against a GGUF twin this
    script writes the way llama.cpp's converter does (GGUF names, q/k rows
    permuted per head): every tensor pairs through the renaming table and
    the error is zero, both ways round; a twin of a non-permuting
    architecture (qwen2, rows not permuted) too; without a head count the
    q/k pairs say "layout";
  - the demo against copies `qscope quantize` wrote from the twin (Q8_0,
    Q4_K): the errors equal this script's and what `qscope try` predicts;
  - names that differ: only_a / only_b, a changed shape and a changed
    dtype (with metrics);
  - NAME globs, --sort err, --threads 1 and 2 bit-identical, text output;
  - bad input: exit 2 with one line on stderr.

Prints one `ok`/`FAIL` line per check, then `N passed, N failed`; exits 1
on any failure.
"""
import json
import math
import os
import shutil
import struct
import sys
import tempfile

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qstest import FIXTURES, check, finish, run  # noqa: E402

DEMO = "demo/model"
TOL = 1e-6


def diff_json(*args):
    r = run("diff", "--json", *args)
    if r.returncode != 0:
        raise RuntimeError("qscope diff %s: exit %d: %s"
                           % (" ".join(map(str, args)), r.returncode,
                              r.stderr.strip()))
    return json.loads(r.stdout)


# ---- GGUF, read and written here (FORMATS.md 2.1) ----

# ggml type id: (name, elements per block, bytes per block)
GGML = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 8: ("Q8_0", 32, 34),
        12: ("Q4_K", 256, 144), 14: ("Q6_K", 256, 210), 16: ("IQ2_XXS", 256, 66),
        30: ("BF16", 1, 2)}
GGML_ID = {v[0]: k for k, v in GGML.items()}
SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f",
          7: "<B", 10: "<Q", 11: "<q", 12: "<d"}


class Gguf:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = f.read()
        self.pos = 0
        assert self.buf[:4] == b"GGUF", path
        version, nt, nkv = struct.unpack_from("<IQQ", self.buf, 4)
        assert version == 3
        self.pos = 24
        self.kv = {}
        for _ in range(nkv):
            key = self.string()
            (vt,) = self.unpack("<I")
            self.kv[key] = self.value(vt)
        self.tensors = []
        for _ in range(nt):
            name = self.string()
            (nd,) = self.unpack("<I")
            ne = self.unpack("<%dQ" % nd)
            typ, off = self.unpack("<IQ")
            self.tensors.append((name, list(reversed(ne)), typ, off))
        align = self.kv.get("general.alignment", 32)
        self.data = (self.pos + align - 1) // align * align

    def unpack(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        (n,) = self.unpack("<Q")
        s = self.buf[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def value(self, vt):
        if vt == 8:
            return self.string()
        if vt == 9:
            et, n = self.unpack("<IQ")
            return [self.value(et) for _ in range(n)]
        return self.unpack(SCALAR[vt])[0]

    def names(self):
        return [t[0] for t in self.tensors]

    def values(self, name):
        """The tensor's values as float32, decoded here."""
        for n, shape, typ, off in self.tensors:
            if n == name:
                count = int(np.prod(shape))
                _, block, bb = GGML[typ]
                start = self.data + off
                raw = np.frombuffer(self.buf, np.uint8,
                                    count // block * bb, start)
                return DECODE[typ](raw, count).reshape(shape)
        raise KeyError(name)

    def shape(self, name):
        return [t[1] for t in self.tensors if t[0] == name][0]

    def dtype(self, name):
        return GGML[[t[2] for t in self.tensors if t[0] == name][0]][0]


def f16(raw):
    return raw.copy().view("<f2").astype(np.float32)


def dec_f32(raw, n):
    return raw.copy().view("<f4")


def dec_f16(raw, n):
    return f16(raw)


def dec_bf16(raw, n):
    return (raw.copy().view("<u2").astype(np.uint32) << 16).view(np.float32)


def dec_q8_0(raw, n):
    b = raw.reshape(-1, 34)
    d = f16(b[:, 0:2]).reshape(-1, 1)
    q = b[:, 2:].view(np.int8).astype(np.float32)
    return (q * d).reshape(-1)


def scale_min_k4(s):
    """The 6-bit scales and mins of the 8 sub-blocks (FORMATS.md 2.5.6)."""
    s = s.astype(np.uint32)
    sc = np.zeros((s.shape[0], 8), np.uint32)
    m = np.zeros((s.shape[0], 8), np.uint32)
    for j in range(8):
        if j < 4:
            sc[:, j] = s[:, j] & 63
            m[:, j] = s[:, j + 4] & 63
        else:
            sc[:, j] = (s[:, j + 4] & 0xF) | ((s[:, j - 4] >> 6) << 4)
            m[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
    return sc.astype(np.float32), m.astype(np.float32)


def dec_q4_k(raw, n):
    b = raw.reshape(-1, 144)
    d = f16(b[:, 0:2]).reshape(-1)
    dmin = f16(b[:, 2:4]).reshape(-1)
    sc, m = scale_min_k4(b[:, 4:16])
    qs = b[:, 16:]
    y = np.zeros((b.shape[0], 256), np.float32)
    for c in range(4):
        d1 = d * sc[:, 2 * c]
        m1 = dmin * m[:, 2 * c]
        d2 = d * sc[:, 2 * c + 1]
        m2 = dmin * m[:, 2 * c + 1]
        q = qs[:, 32 * c:32 * c + 32]
        y[:, 64 * c:64 * c + 32] = \
            d1[:, None] * (q & 0xF).astype(np.float32) - m1[:, None]
        y[:, 64 * c + 32:64 * c + 64] = \
            d2[:, None] * (q >> 4).astype(np.float32) - m2[:, None]
    return y.reshape(-1)


def dec_q6_k(raw, n):
    b = raw.reshape(-1, 210)
    ql = b[:, 0:128].astype(np.int32)
    qh = b[:, 128:192].astype(np.int32)
    sc = b[:, 192:208].view(np.int8).astype(np.float32)
    d = f16(b[:, 208:210]).reshape(-1)
    y = np.zeros((b.shape[0], 256), np.float32)
    for c in range(2):
        for l in range(32):
            s = l // 16
            a = ql[:, 64 * c + l]
            bq = ql[:, 64 * c + l + 32]
            h = qh[:, 32 * c + l]
            q1 = ((a & 0xF) | ((h >> 0) & 3) << 4) - 32
            q2 = ((bq & 0xF) | ((h >> 2) & 3) << 4) - 32
            q3 = ((a >> 4) | ((h >> 4) & 3) << 4) - 32
            q4 = ((bq >> 4) | ((h >> 6) & 3) << 4) - 32
            for k, q in enumerate((q1, q2, q3, q4)):
                ds = d * sc[:, 8 * c + s + 2 * k]
                y[:, 128 * c + l + 32 * k] = ds * q.astype(np.float32)
    return y.reshape(-1)


DECODE = {0: dec_f32, 1: dec_f16, 8: dec_q8_0, 12: dec_q4_k, 14: dec_q6_k,
          30: dec_bf16}


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf(path, kvs, tensors):
    """kvs: [(key, 'str'|'u32', value)]; tensors: [(name, type name,
    array[, shape])] with the array already in the stored dtype's bytes
    (uint16 for F16/BF16, float32 for F32, uint8 blocks with the shape
    given for block types)."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
    for key, typ, val in kvs:
        out += gguf_string(key)
        if typ == "str":
            out += struct.pack("<I", 8) + gguf_string(val)
        else:
            out += struct.pack("<II", 4, val)
    off = 0
    blobs = []
    for t in tensors:
        name, typ, arr = t[:3]
        shape = t[3] if len(t) > 3 else arr.shape
        data = np.ascontiguousarray(arr).tobytes()
        out += gguf_string(name)
        out += struct.pack("<I", len(shape))
        out += struct.pack("<%dQ" % len(shape), *reversed(shape))
        out += struct.pack("<IQ", GGML_ID[typ], off)
        blobs.append(data)
        off += (len(data) + 31) // 32 * 32
    out += b"\0" * ((-len(out)) % 32)
    for data in blobs:
        out += data + b"\0" * ((-len(data)) % 32)
    with open(path, "wb") as f:
        f.write(out)


# ---- safetensors (the demo is a sharded BF16 checkpoint) ----

def safetensors_read(path):
    """{name: (dtype, shape, raw uint8 array)} in header order."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack_from("<Q", buf, 0)
    head = json.loads(buf[8:8 + n])
    out = {}
    for name, info in head.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = (info["dtype"], info["shape"],
                     np.frombuffer(buf, np.uint8, e - b, 8 + n + b))
    return out


def demo_tensors():
    with open(os.path.join(DEMO, "model.safetensors.index.json")) as f:
        index = json.load(f)
    shards = sorted(set(index["weight_map"].values()))
    tensors = {}
    for s in shards:
        tensors.update(safetensors_read(os.path.join(DEMO, s)))
    return tensors


def bf16_values(raw, shape):
    return dec_bf16(raw, 0).reshape(shape)


# llama.cpp's names for the Hugging Face llama names (the part of the
# table the demo uses).
def hf_to_gguf(name):
    fixed = {"model.embed_tokens.weight": "token_embd.weight",
             "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    if name in fixed:
        return fixed[name]
    p = name.split(".")
    assert p[0] == "model" and p[1] == "layers", name
    rest = ".".join(p[3:])
    table = {"input_layernorm.weight": "attn_norm.weight",
             "post_attention_layernorm.weight": "ffn_norm.weight",
             "self_attn.q_proj.weight": "attn_q.weight",
             "self_attn.k_proj.weight": "attn_k.weight",
             "self_attn.v_proj.weight": "attn_v.weight",
             "self_attn.o_proj.weight": "attn_output.weight",
             "mlp.gate_proj.weight": "ffn_gate.weight",
             "mlp.up_proj.weight": "ffn_up.weight",
             "mlp.down_proj.weight": "ffn_down.weight"}
    return "blk.%s.%s" % (p[2], table[rest])


def permute(w, heads):
    """convert_hf_to_gguf's LlamaModel.permute."""
    return (w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def write_twin(path, tensors, arch="llama", heads=8, kv_heads=8,
               do_permute=True, head_keys=True):
    kvs = [("general.architecture", "str", arch)]
    if head_keys:
        kvs += [(arch + ".attention.head_count", "u32", heads),
                (arch + ".attention.head_count_kv", "u32", kv_heads)]
    out = []
    for name, (dtype, shape, raw) in tensors.items():
        assert dtype == "BF16"
        w = raw.copy().view("<u2").reshape(shape)
        if do_permute and name.endswith("q_proj.weight"):
            w = permute(w, heads)
        if do_permute and name.endswith("k_proj.weight"):
            w = permute(w, kv_heads)
        out.append((hf_to_gguf(name), "BF16", w))
    write_gguf(path, kvs, out)


# ---- the independent metrics ----

def metrics(a, b):
    x = a.astype(np.float64).reshape(-1)
    y = b.astype(np.float64).reshape(-1)
    sse = float(np.sum((y - x) ** 2))
    sxx = float(np.sum(x * x))
    syy = float(np.sum(y * y))
    sxy = float(np.sum(x * y))
    rel = math.sqrt(sse / sxx) if sxx > 0 else None
    sqnr = 10 * math.log10(sxx / sse) if sse > 0 and sxx > 0 else None
    cos = sxy / (math.sqrt(sxx) * math.sqrt(syy)) if sxx and syy else 1.0
    return {"rel_err": rel, "sqnr_db": sqnr, "cosine": cos,
            "max_abs_err": float(np.max(np.abs(y - x))) if x.size else 0.0,
            "sse": sse, "sxx": sxx}


def close(got, want, tol=TOL):
    if want is None or got is None:
        return got is None and want is None
    return abs(got - want) <= tol * max(abs(want), 1e-30)


def metrics_agree(p, want, tol=TOL):
    bad = [k for k in ("rel_err", "sqnr_db", "cosine", "max_abs_err")
           if not close(p[k], want[k], tol)]
    return not bad, ", ".join("%s %r != %r" % (k, p[k], want[k])
                              for k in bad)


def check_pairs(label, d, va, vb, changed_of, tol=TOL):
    """Every pair's metrics against the ones computed from va(name) and
    vb(name); changed_of(pair) is the expected "changed"."""
    bad = []
    for p in d["pairs"]:
        want = metrics(va(p["a"]), vb(p["b"]))
        ok, why = metrics_agree(p, want, tol)
        if not ok:
            bad.append("%s: %s" % (p["a"], why))
        if p["changed"] != changed_of(p):
            bad.append("%s: changed %r, expected %r"
                       % (p["a"], p["changed"], changed_of(p)))
    check("%s: %d pairs match the independent computation"
          % (label, len(d["pairs"])), not bad and d["pairs"], bad[:3])


def main():
    tmp = tempfile.mkdtemp(prefix="qscope-diff-")
    try:
        tests(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(finish())


def tests(tmp):
    g = os.path.join(FIXTURES, "gguf")
    f16p = os.path.join(g, "tiny-llama-f16.gguf")
    q4p = os.path.join(g, "tiny-llama-f16.Q4_K_M.gguf")
    have_fixtures = os.path.exists(f16p) and os.path.exists(q4p)

    if have_fixtures:
        fixture_tests(tmp, f16p, q4p)
    else:
        print("skip: no fixtures at %s" % FIXTURES)
    if os.path.isdir(os.path.join(FIXTURES, "safetensors", "sharded")):
        safetensors_tests()
    if os.path.exists(os.path.join(DEMO, "model.safetensors.index.json")):
        demo_tests(tmp)
    else:
        print("skip: no demo checkpoint at %s" % DEMO)
    gqa_tests(tmp)
    gpt2_tests(tmp)
    bad_input_tests(tmp, f16p if have_fixtures else None)


def fixture_tests(tmp, f16p, q4p):
    fa, fb = Gguf(f16p), Gguf(q4p)

    # The decoders here against gguf-py's figures in the expectations.
    exp = json.load(open(q4p + ".expected.json"))
    bad = []
    for t in exp["tensors"]:
        v = fb.values(t["name"]).reshape(-1).astype(np.float64)
        if [float(x) for x in v[:8]] != t["first"] or \
           abs(math.fsum(v) - t["sum"]) > \
           1e-9 * math.sqrt(t["params"] * t["sumsq"]) or \
           float(v.min()) != t["min"] or float(v.max()) != t["max"]:
            bad.append(t["name"])
    check("test's own Q4_K/Q6_K/F32 decoders agree with gguf-py's values",
          not bad, bad)

    d = diff_json(f16p, q4p)
    check("F16 vs Q4_K_M: 21 pairs, nothing only on one side",
          len(d["pairs"]) == 21 and d["only_a"] == [] and d["only_b"] == [],
          (len(d["pairs"]), d["only_a"], d["only_b"]))
    check("F16 vs Q4_K_M: pairs in the order of A",
          [p["a"] for p in d["pairs"]] == fa.names() and
          all(p["a"] == p["b"] for p in d["pairs"]))
    check("F16 vs Q4_K_M: exactly the JSON keys of the issue",
          set(d) == {"pairs", "only_a", "only_b"} and
          all(set(p) == {"a", "b", "rel_err", "sqnr_db", "cosine",
                         "max_abs_err", "changed"} for p in d["pairs"]))
    check_pairs("F16 vs Q4_K_M", d, fa.values, fb.values,
                lambda p: None if fa.dtype(p["a"]) == fb.dtype(p["b"])
                else "dtype")
    # gguf-py's own figures: max |error| exactly, RMSE from rel_err and
    # the source's sum of squares.
    src = {t["name"]: t for t in
           json.load(open(f16p + ".expected.json"))["tensors"]}
    bad = []
    for t in exp["tensors"]:
        p = [p for p in d["pairs"] if p["a"] == t["name"]][0]
        s = src[t["name"]]
        rmse = p["rel_err"] * math.sqrt(s["sumsq"] / s["params"])
        if p["max_abs_err"] != t["vs_source"]["max_abs_err"] or \
           not close(rmse, t["vs_source"]["rmse"], 1e-6):
            bad.append("%s: rmse %r vs %r, max %r vs %r"
                       % (t["name"], rmse, t["vs_source"]["rmse"],
                          p["max_abs_err"], t["vs_source"]["max_abs_err"]))
    check("F16 vs Q4_K_M: RMSE and max error equal the fixture's vs_source "
          "(gguf-py)", not bad, bad[:3])

    # Text output: a row per pair and the overall relative error.
    r = run("diff", f16p, q4p)
    lines = r.stdout.splitlines()
    tot = [l for l in lines if l.startswith("21 pairs, 21 compared")]
    sse = sum(metrics(fa.values(n), fb.values(n))["sse"] for n in fa.names())
    sxx = sum(metrics(fa.values(n), fb.values(n))["sxx"] for n in fa.names())
    want = "relative error %.4g" % math.sqrt(sse / sxx)
    check("text: header, 21 rows, totals line with the overall error",
          r.returncode == 0 and lines[0].split()[:4] ==
          ["REL_ERR", "SQNR_DB", "COSINE", "MAX_ERR"] and
          len(tot) == 1 and want in tot[0], r.stdout[-400:])

    # Threads do not change a bit; --sort err; NAME globs.
    one = run("diff", "--json", "--threads", "1", f16p, q4p).stdout
    two = run("diff", "--json", "--threads", "2", f16p, q4p).stdout
    check("--threads 1 and 2 give the same bytes", one == two and one)
    s = diff_json("--sort", "err", f16p, q4p)
    errs = [p["rel_err"] for p in s["pairs"]]
    check("--sort err: largest relative error first",
          errs == sorted(errs, reverse=True) and
          sorted(p["a"] for p in s["pairs"]) == sorted(fa.names()))
    s = diff_json(f16p, q4p, "blk.0.*", "output.weight")
    want = [n for n in fa.names() if n.startswith("blk.0.")] + \
        ["output.weight"]
    check("NAME globs keep the matching pairs",
          [p["a"] for p in s["pairs"]] == want, [p["a"] for p in s["pairs"]])

    # A model against itself.
    d = diff_json(f16p, f16p)
    check("F16 against itself: zero error, cosine 1, sqnr null",
          len(d["pairs"]) == 21 and
          all(p["rel_err"] == 0 and p["max_abs_err"] == 0 and
              p["cosine"] == 1 and p["sqnr_db"] is None and
              p["changed"] is None for p in d["pairs"]) and
          d["only_a"] == [] and d["only_b"] == [])

    # Names that differ, a changed shape, a changed dtype.
    kvs = [("general.architecture", "str", "llama")]
    out = []
    for name, shape, typ, _ in fa.tensors:
        if name.startswith("blk.1."):
            continue
        v = fa.values(name)
        if name == "blk.0.ffn_up.weight":
            out.append((name, "F16", v.astype("<f2").view("<u2").T.copy()))
        elif name == "blk.0.ffn_gate.weight":
            out.append((name, "F16", v[:-1].astype("<f2").view("<u2")))
        elif name == "blk.0.attn_v.weight":
            out.append((name, "F32", v.astype("<f4")))
        elif typ == 1:
            out.append((name, "F16", v.astype("<f2").view("<u2")))
        else:
            out.append((name, "F32", v.astype("<f4")))
    out.append(("extra.weight", "F32", np.ones((4, 32), np.float32)))
    edited = os.path.join(tmp, "edited.gguf")
    write_gguf(edited, kvs, out)
    d = diff_json(f16p, edited)
    by = {p["a"]: p for p in d["pairs"]}
    want_a = [n for n in fa.names() if n.startswith("blk.1.")]
    check("only_a: the tensors B lacks, in A's order", d["only_a"] == want_a,
          d["only_a"])
    check("only_b: the tensor A lacks", d["only_b"] == ["extra.weight"],
          d["only_b"])
    p = by["blk.0.ffn_up.weight"]
    check("a transposed shape: changed 'transposed', compared (zero error)",
          p["changed"] == "transposed" and p["rel_err"] == 0 and
          p["cosine"] == 1 and p["max_abs_err"] == 0, p)
    p = by["blk.0.ffn_gate.weight"]
    check("another shape: changed 'shape', no metrics",
          p["changed"] == "shape" and p["rel_err"] is None and
          p["cosine"] is None and p["max_abs_err"] is None, p)
    p = by["blk.0.attn_v.weight"]
    check("F16 -> F32 of the same values: changed 'dtype' with zero error",
          p["changed"] == "dtype" and p["rel_err"] == 0 and
          p["cosine"] == 1 and p["max_abs_err"] == 0, p)
    check("the other pairs unchanged",
          all(q["changed"] is None and q["rel_err"] == 0
              for n, q in by.items()
              if n not in ("blk.0.ffn_up.weight", "blk.0.ffn_gate.weight",
                           "blk.0.attn_v.weight")))
    d = diff_json(edited, f16p)
    check("swapped: only_a and only_b swap",
          d["only_a"] == ["extra.weight"] and d["only_b"] == want_a)

    # A dtype qscope cannot decode: no figures, a note, exit 0.
    kvs = [("general.architecture", "str", "llama")]
    w = np.linspace(-1, 1, 4 * 256, dtype=np.float32).reshape(4, 256)
    pa = os.path.join(tmp, "plain.gguf")
    pb = os.path.join(tmp, "iq2.gguf")
    write_gguf(pa, kvs, [("w.weight", "F32", w), ("v.weight", "F32", w)])
    blocks = np.arange(4 * 66, dtype=np.uint8)
    write_gguf(pb, kvs, [("w.weight", "IQ2_XXS", blocks, (4, 256)),
                         ("v.weight", "F32", w)])
    r = run("diff", "--json", pa, pb)
    d = json.loads(r.stdout) if r.returncode == 0 else {"pairs": []}
    p = [p for p in d["pairs"] if p["a"] == "w.weight"]
    err = r.stderr.strip().splitlines()
    check("an undecodable dtype (IQ2_XXS): 'dtype', null figures, one note",
          r.returncode == 0 and p and p[0]["changed"] == "dtype" and
          p[0]["rel_err"] is None and p[0]["max_abs_err"] is None and
          len(err) == 1 and "IQ2_XXS" in err[0] and "w.weight" in err[0],
          (r.returncode, r.stderr, p))
    check("... and the pair beside it is still compared",
          [q["rel_err"] for q in d["pairs"] if q["a"] == "v.weight"] == [0])


def st_values(t):
    dtype, shape, raw = t
    if dtype == "BF16":
        return dec_bf16(raw, 0).reshape(shape)
    assert dtype == "F16", dtype
    return f16(raw).reshape(shape)


def safetensors_tests():
    """The BF16 llama-tiny against the F16 copy of the same weights
    (sharded), and against itself inside archives."""
    st = os.path.join(FIXTURES, "safetensors")
    a = safetensors_read(os.path.join(st, "llama-tiny",
                                      "llama-tiny-bf16.safetensors"))
    b = {}
    for shard in ("model-00001-of-00002.safetensors",
                  "model-00002-of-00002.safetensors"):
        b.update(safetensors_read(os.path.join(st, "sharded", shard)))
    d = diff_json(os.path.join(st, "llama-tiny"), os.path.join(st, "sharded"))
    check("BF16 vs sharded F16: 12 pairs", len(d["pairs"]) == 12 and
          not d["only_a"] and not d["only_b"])
    check_pairs("BF16 vs sharded F16", d, lambda n: st_values(a[n]),
                lambda n: st_values(b[n]), lambda p: "dtype")
    for arc in ("llama-tiny-stored.zip", "llama-tiny.tar.zst"):
        path = os.path.join(FIXTURES, "archives", arc)
        if not os.path.exists(path):
            continue
        d = diff_json(os.path.join(st, "llama-tiny"), path)
        check("llama-tiny vs %s: 12 pairs, zero error" % arc,
              len(d["pairs"]) == 12 and
              all(p["rel_err"] == 0 and p["changed"] is None
                  for p in d["pairs"]), d["only_a"][:2])


def demo_tests(tmp):
    st = demo_tensors()
    names = list(st)
    hf = {n: bf16_values(st[n][2], st[n][1]) for n in names}

    d = diff_json(DEMO, DEMO)
    check("demo against itself: 39 pairs, zero error, cosine 1",
          len(d["pairs"]) == 39 and
          all(p["rel_err"] == 0 and p["cosine"] == 1 and
              p["changed"] is None for p in d["pairs"]) and
          not d["only_a"] and not d["only_b"])

    # The GGUF twin, written like llama.cpp's converter.
    twin = os.path.join(tmp, "demo-twin.gguf")
    write_twin(twin, st)
    tw = Gguf(twin)
    check("the twin's attn_q rows really are permuted",
          not np.array_equal(tw.values("blk.0.attn_q.weight"),
                             hf["model.layers.0.self_attn.q_proj.weight"]))
    for a, b, label in ((DEMO, twin, "demo vs GGUF twin"),
                        (twin, DEMO, "GGUF twin vs demo")):
        d = diff_json(a, b)
        ok = len(d["pairs"]) == 39 and not d["only_a"] and not d["only_b"]
        ok = ok and all(
            (hf_to_gguf(p["a"]) == p["b"]) if a == DEMO else
            (hf_to_gguf(p["b"]) == p["a"]) for p in d["pairs"])
        check(label + ": all 39 pair through the renaming table", ok,
              (len(d["pairs"]), d["only_a"][:3], d["only_b"][:3]))
        check(label + ": zero error everywhere (q/k permutation undone)",
              all(p["rel_err"] == 0 and p["cosine"] == 1 and
                  p["max_abs_err"] == 0 and p["changed"] is None
                  for p in d["pairs"]),
              [p for p in d["pairs"] if p["rel_err"] != 0][:2])

    # An architecture whose converter keeps the row order.
    qwen = os.path.join(tmp, "demo-qwen2.gguf")
    write_twin(qwen, st, arch="qwen2", do_permute=False)
    d = diff_json(DEMO, qwen)
    check("qwen2 twin (rows not permuted): zero error everywhere",
          len(d["pairs"]) == 39 and
          all(p["rel_err"] == 0 and p["changed"] is None
              for p in d["pairs"]))

    # No head count anywhere: the q/k pairs cannot be put back.
    bare = os.path.join(tmp, "bare")
    os.mkdir(bare)
    shutil.copy(os.path.join(DEMO, "model-00001-of-00002.safetensors"),
                os.path.join(bare, "model.safetensors"))
    nohead = os.path.join(tmp, "demo-nohead.gguf")
    write_twin(nohead, st, head_keys=False)
    d = diff_json(os.path.join(bare, "model.safetensors"), nohead)
    qk = [p for p in d["pairs"]
          if p["a"].endswith(("q_proj.weight", "k_proj.weight"))]
    rest = [p for p in d["pairs"] if p not in qk]
    check("no head count: q/k pairs say 'layout' with no metrics",
          qk and all(p["changed"] == "layout" and p["rel_err"] is None
                     for p in qk), qk[:2])
    check("no head count: the other pairs compare (zero error)",
          rest and all(p["rel_err"] == 0 for p in rest))

    # Copies quantized by qscope: errors equal this script's and try's.
    for typ in ("Q8_0", "Q4_K"):
        q = os.path.join(tmp, "demo-twin.%s.gguf" % typ)
        r = run("quantize", twin, "--type", typ, "-o", q)
        if r.returncode != 0:
            check("qscope quantize the twin to " + typ, False, r.stderr)
            continue
        qg = Gguf(q)
        d = diff_json(DEMO, q)
        inv = {hf_to_gguf(n): n for n in names}

        def vb(name, qg=qg):
            v = qg.values(name)
            n = inv[name]
            if n.endswith("q_proj.weight"):
                v = unpermute(v, 8)
            if n.endswith("k_proj.weight"):
                v = unpermute(v, 8)
            return v

        check_pairs("demo vs qscope's %s" % typ, d, lambda n: hf[n], vb,
                    lambda p, qg=qg: None if qg.dtype(p["b"]) == "BF16"
                    else "dtype")
        t = json.loads(run("try", "--json", DEMO, typ.lower()).stdout)
        pred = {x["name"]: x for x in t["tensors"]}
        bad = []
        nq = 0
        for p in d["pairs"]:
            if p["changed"] != "dtype":
                continue
            nq += 1
            if not close(p["rel_err"], pred[p["a"]]["rel_err"], 1e-9) or \
               p["max_abs_err"] != pred[p["a"]]["max_abs_err"]:
                bad.append((p["a"], p["rel_err"], pred[p["a"]]["rel_err"]))
        check("demo vs qscope's %s: %d quantized tensors' errors equal what "
              "try predicted" % (typ, nq), nq and not bad, bad[:3])


def write_safetensors(path, tensors):
    """tensors: {name: float32 array}, written as F32."""
    head, off, blobs = {}, 0, []
    for name, a in tensors.items():
        data = np.ascontiguousarray(a, "<f4").tobytes()
        head[name] = {"dtype": "F32", "shape": list(a.shape),
                      "data_offsets": [off, off + len(data)]}
        off += len(data)
        blobs.append(data)
    h = json.dumps(head).encode()
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def gqa_tests(tmp):
    """Grouped-query attention: 4 query heads, 2 key/value heads, head
    size 16; k is permuted with the key/value head count.  The head counts
    come from the GGUF keys, or else from the checkpoint's config.json."""
    rng = np.random.default_rng(5)
    hf = {"model.layers.0.self_attn.q_proj.weight":
          rng.standard_normal((64, 48)).astype(np.float32),
          "model.layers.0.self_attn.k_proj.weight":
          rng.standard_normal((32, 48)).astype(np.float32),
          "model.layers.0.self_attn.q_proj.bias":
          rng.standard_normal(64).astype(np.float32),
          "model.layers.0.self_attn.v_proj.weight":
          rng.standard_normal((32, 48)).astype(np.float32)}
    folder = os.path.join(tmp, "gqa")
    os.mkdir(folder)
    write_safetensors(os.path.join(folder, "model.safetensors"), hf)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"architectures": ["LlamaForCausalLM"],
                   "num_attention_heads": 4, "num_key_value_heads": 2}, f)
    out = []
    for n, w in hf.items():
        if "q_proj" in n:
            w = permute(w, 4)
        elif "k_proj" in n:
            w = permute(w, 2)
        g = n.replace("model.layers.0.self_attn.", "blk.0.attn_")
        g = g.replace("_proj", "")
        out.append((g, "F32", w))
    for keys in (True, False):
        kvs = [("general.architecture", "str", "llama")]
        if keys:
            kvs += [("llama.attention.head_count", "u32", 4),
                    ("llama.attention.head_count_kv", "u32", 2)]
        gg = os.path.join(tmp, "gqa-%d.gguf" % keys)
        write_gguf(gg, kvs, out)
        d = diff_json(folder, gg)
        check("GQA (4 q heads, 2 kv heads, head counts from %s): 4 pairs, "
              "zero error" % ("the GGUF" if keys else "config.json"),
              len(d["pairs"]) == 4 and
              all(p["rel_err"] == 0 and p["changed"] is None
                  for p in d["pairs"]), d["pairs"][:2])
    # A head count that does not divide the rows: "layout".
    kvs = [("general.architecture", "str", "llama"),
           ("llama.attention.head_count", "u32", 5),
           ("llama.attention.head_count_kv", "u32", 2)]
    gg = os.path.join(tmp, "gqa-odd.gguf")
    write_gguf(gg, kvs, out)
    d = diff_json(folder, gg)
    q = [p for p in d["pairs"] if "q_proj" in p["a"]]
    check("a head count that does not divide q's rows: 'layout'",
          len(q) == 2 and all(p["changed"] == "layout" for p in q), q)


def gpt2_tests(tmp):
    """GPT-2's Conv1D weights are stored [in, out] by Hugging Face and
    [out, in] by llama.cpp's converter: a tiny GPT-2-like checkpoint in
    the hub's names against a GGUF of the transposed weights pairs every
    tensor, compares the Conv1D ones transposed ("transposed") with zero
    error, square attn.c_proj included, and with the figures computed
    here once B is quantized."""
    rng = np.random.default_rng(7)
    e, ff = 64, 256
    hf = {"wte.weight": (50, e), "wpe.weight": (16, e),
          "h.0.ln_1.weight": (e,), "h.0.attn.c_attn.weight": (e, 3 * e),
          "h.0.attn.c_attn.bias": (3 * e,), "h.0.attn.c_proj.weight": (e, e),
          "h.0.ln_2.weight": (e,), "h.0.mlp.c_fc.weight": (e, ff),
          "h.0.mlp.c_proj.weight": (ff, e), "ln_f.weight": (e,)}
    # values that F16 holds exactly, so an F16 copy is still exact
    hf = {n: rng.standard_normal(s).astype(np.float16).astype(np.float32)
          for n, s in hf.items()}
    gg = {"wte": "token_embd", "wpe": "position_embd", "ln_f": "output_norm",
          "h.0.ln_1": "blk.0.attn_norm", "h.0.attn.c_attn": "blk.0.attn_qkv",
          "h.0.attn.c_proj": "blk.0.attn_output", "h.0.ln_2": "blk.0.ffn_norm",
          "h.0.mlp.c_fc": "blk.0.ffn_up", "h.0.mlp.c_proj": "blk.0.ffn_down"}
    conv = {n for n in hf if n.endswith("weight") and
            (".c_attn." in n or ".c_proj." in n or ".c_fc." in n)}

    def gname(n):
        stem, suffix = n.rsplit(".", 1)
        return gg[stem] + "." + suffix

    st = os.path.join(tmp, "gpt2.safetensors")
    write_safetensors(st, hf)
    kvs = [("general.architecture", "str", "gpt2")]
    for typ in ("F32", "F16"):
        out = []
        for n, w in hf.items():
            v = w.T.copy() if n in conv else w
            out.append((gname(n), typ,
                        v.astype("<f2").view("<u2") if typ == "F16"
                        else v.astype("<f4")))
        g = os.path.join(tmp, "gpt2-%s.gguf" % typ.lower())
        write_gguf(g, kvs, out)
        d = diff_json(st, g)
        by = {p["a"]: p for p in d["pairs"]}
        check("GPT-2 vs its %s GGUF: all %d tensors pair" % (typ, len(hf)),
              len(d["pairs"]) == len(hf) and not d["only_a"] and
              not d["only_b"] and
              all(gname(p["a"]) == p["b"] for p in d["pairs"]),
              (len(d["pairs"]), d["only_a"], d["only_b"]))
        bad = [n for n, p in by.items()
               if p["changed"] != ("transposed" if n in conv else
                                   ("dtype" if typ == "F16" else None))]
        check("GPT-2 vs %s GGUF: the Conv1D weights (square c_proj too) "
              "say 'transposed'" % typ, not bad,
              [(n, by[n]["changed"]) for n in bad])
        check("GPT-2 vs %s GGUF: rel_err 0 for the exact transposes" % typ,
              all(p["rel_err"] == 0 and p["max_abs_err"] == 0 and
                  p["cosine"] == 1 for p in d["pairs"]),
              [(p["a"], p["rel_err"]) for p in d["pairs"]
               if p["rel_err"] != 0][:3])
        if typ == "F32":
            f32 = g
    # B quantized: the figures of A against B's values transposed back.
    q = os.path.join(tmp, "gpt2-q8_0.gguf")
    r = run("quantize", f32, "--type", "q8_0", "-o", q)
    if r.returncode != 0:
        check("qscope quantize the GPT-2 GGUF to Q8_0", False, r.stderr)
        return
    qg = Gguf(q)
    d = diff_json(st, q)
    bad = []
    for p in d["pairs"]:
        vb = qg.values(p["b"])
        want = metrics(hf[p["a"]], vb.T if p["a"] in conv else vb)
        ok, why = metrics_agree(p, want)
        if not ok:
            bad.append("%s: %s" % (p["a"], why))
    nq = sum(p["rel_err"] not in (0, None) for p in d["pairs"])
    check("GPT-2 vs Q8_0 GGUF: %d quantized pairs, errors of A against B "
          "transposed back" % nq, nq >= 4 and not bad, bad[:3])

    # Bands: a tall and a very wide matrix (several bands of rows, the
    # last one short), one thread and two.
    big = {"tall.weight": rng.standard_normal((600, 300)).astype(np.float32),
           "wide.weight": rng.standard_normal((40, 30000)).astype(np.float32)}
    a = os.path.join(tmp, "bands.safetensors")
    write_safetensors(a, big)
    noise = {n: (w + 0.01 * rng.standard_normal(w.shape)).astype(np.float32)
             for n, w in big.items()}
    b = os.path.join(tmp, "bands-t.safetensors")
    write_safetensors(b, {n: w.T.copy() for n, w in noise.items()})
    one = run("diff", "--json", "--threads", "1", a, b)
    two = run("diff", "--json", "--threads", "2", a, b)
    d = json.loads(one.stdout) if one.returncode == 0 else {"pairs": []}
    bad = []
    for p in d["pairs"]:
        ok, why = metrics_agree(p, metrics(big[p["a"]], noise[p["a"]]))
        if not ok or p["changed"] != "transposed":
            bad.append("%s: %s %s" % (p["a"], p["changed"], why))
    check("transposed in bands (600x300, 40x30000): figures as computed "
          "here", len(d["pairs"]) == 2 and not bad, bad)
    check("transposed: --threads 1 and 2 give the same bytes",
          one.stdout == two.stdout and one.stdout)


def unpermute(w, heads):
    """The inverse of permute(): back to Hugging Face row order."""
    return (w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def bad_input_tests(tmp, f16p):
    some = f16p or os.path.join(DEMO, "model.safetensors.index.json")
    missing = os.path.join(tmp, "no-such-file.gguf")
    junk = os.path.join(tmp, "junk.bin")
    with open(junk, "wb") as f:
        f.write(b"this is not a checkpoint\n" * 10)
    cases = [
        ("no arguments", ["diff"]),
        ("one path", ["diff", some]),
        ("missing B", ["diff", some, missing]),
        ("missing A", ["diff", missing, some]),
        ("unrecognised B", ["diff", some, junk]),
        ("bad --threads", ["diff", "--threads", "0", some, some]),
        ("bad --sort", ["diff", "--sort", "size", some, some]),
        ("unknown option", ["diff", "--frobnicate", some, some]),
        ("NAME matching nothing", ["diff", some, some, "no.such.*"]),
    ]
    bad_dir = os.path.join(FIXTURES, "bad")
    if os.path.isdir(bad_dir):
        for f in sorted(os.listdir(bad_dir)):
            if not f.endswith(".md"):
                cases.append(("bad fixture " + f,
                              ["diff", some, os.path.join(bad_dir, f)]))
    for label, args in cases:
        r = run(*args)
        err = r.stderr.strip().splitlines()
        check("bad input (%s): exit 2, one line 'qscope: ...'" % label,
              r.returncode == 2 and r.stdout == "" and len(err) >= 1 and
              err[0].startswith("qscope: ") and
              (len(err) == 1 or err[1].startswith("Try 'qscope --help'")),
              (r.returncode, r.stderr[:300]))


if __name__ == "__main__":
    main()
