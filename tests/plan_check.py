#!/usr/bin/python3
"""End-to-end checks of `qscope quantize --plan` and `qscope plan`, with a
reader of our own.

Runs $QSCOPE (default ./qscope) on the demo checkpoint (demo/model, two
BF16 shards) and on fixtures in $QS_FIXTURES (default ../shared/fixtures),
and reads every output back with the reader below, written here from
FORMATS.md with struct, json and numpy (nothing of qscope's):

  - safetensors: the header and its layout rules (8-byte length, offsets
    that tile the buffer, padding with spaces); plain casts; FP8 codes
    times NAME_scale; compressed-tensors pack-quantized int8/int4 words
    (offset binary, first element in the low bits, zero points packed
    along rows), mxfp4-pack-quantized nibbles and E8M0 scales;
    bitsandbytes NF4/FP4 (high nibble first, absmax, quant_map, nested
    absmax for double quantization, the quant_state JSON);
  - every quantized tensor's values equal those of the scheme as issue 3
    defines it, computed here in numpy float32: bit for bit for the casts,
    FP8, int8, int4, int4 asymmetric and MXFP4; for NF4/FP4 the block
    absmax bit for bit and each code the nearest of the table (a value
    within 1e-6 of a midpoint may go either way); the RMSE of every
    written tensor equals `qscope try`'s for the same scheme;
  - kept tensors are byte-identical to the input; config.json gets the
    quantization_config; sharded input gives shards and an index;
  - GGUF output through a plan: tensor bytes equal llama-quantize's in the
    fixtures (Q8_0), parsed here;
  - refusals and failures: an existing OUT without --force, OUT the input,
    a plan error (with its line number), a scheme the format cannot hold,
    a file-size limit and SIGINT mid-write: exit 2, one line, no output and
    no temporary file left; the input's bytes never change (sha256);
  - `qscope plan --llama-quantize`: the command line, its regexes checked
    against the tensor names with Python's re (first match wins, as
    llama-quantize), the rules without an equivalent named on stderr.

Prints one `ok`/`FAIL` line per check, then `N passed, N failed`; exits 1
on any failure.
"""
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qstest import (  # noqa: E402
    FIXTURES, QSCOPE, check, finish, quantize_plan, run, write_text)

DEMO = "demo/model"


def sha256_tree(path):
    h = hashlib.sha256()
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(path, f) for f in os.listdir(path))
    for f in files:
        h.update(f.encode())
        with open(f, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


def one_line_error(r):
    return r.returncode == 2 and len(r.stderr.strip().splitlines()) >= 1 \
        and r.stderr.startswith("qscope: ")


def leftovers(d):
    return [f for f in os.listdir(d) if ".tmp-" in f]


# ---- an independent safetensors reader (FORMATS.md 1) ----

DTYPES = {"F64": (np.float64, 8), "F32": (np.float32, 4),
          "F16": (np.float16, 2), "BF16": (np.uint16, 2),
          "F8_E4M3": (np.uint8, 1), "F8_E5M2": (np.uint8, 1),
          "I64": (np.int64, 8), "I32": (np.int32, 4), "I16": (np.int16, 2),
          "I8": (np.int8, 1), "U64": (np.uint64, 8), "U32": (np.uint32, 4),
          "U16": (np.uint16, 2), "U8": (np.uint8, 1), "BOOL": (np.uint8, 1)}


class ST:
    """One safetensors file: header checked, tensors as raw bytes."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.b = f.read()
        n, = struct.unpack_from("<Q", self.b, 0)
        self.problems = []
        if n % 8:
            self.problems.append("header length %d not a multiple of 8" % n)
        raw = self.b[8:8 + n]
        if raw.rstrip(b" ") != raw[:len(raw.rstrip(b" "))]:
            self.problems.append("bad padding")
        self.h = json.loads(raw.decode("utf-8"))
        self.meta = self.h.pop("__metadata__", None)
        self.base = 8 + n
        spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k)
                       for k, v in self.h.items())
        at = 0
        for b, e, k in spans:
            if b != at:
                self.problems.append("%s: begins at %d, expected %d" % (k, b, at))
            dt, size = DTYPES[self.h[k]["dtype"]]
            cnt = int(np.prod(self.h[k]["shape"], dtype=np.int64))
            if e - b != cnt * size:
                self.problems.append("%s: %d bytes for %d values" % (k, e - b, cnt))
            if b % size:
                self.problems.append("%s: offset %d not aligned" % (k, b))
            at = e
        if self.base + at != len(self.b):
            self.problems.append("file is %d bytes, tensors end at %d" %
                                 (len(self.b), self.base + at))

    def raw(self, name):
        b, e = self.h[name]["data_offsets"]
        return self.b[self.base + b:self.base + e]

    def array(self, name):
        v = self.h[name]
        dt, _ = DTYPES[v["dtype"]]
        return np.frombuffer(self.raw(name), dtype=dt).reshape(v["shape"])


class Model:
    """A file or a folder of shards (with or without an index)."""

    def __init__(self, path):
        self.files = {}
        self.where = {}
        self.index = None
        if os.path.isdir(path):
            ip = os.path.join(path, "model.safetensors.index.json")
            if os.path.exists(ip):
                with open(ip) as f:
                    self.index = json.load(f)
                names = sorted(set(self.index["weight_map"].values()))
            else:
                names = sorted(f for f in os.listdir(path)
                               if f.endswith(".safetensors"))
            for n in names:
                self.files[n] = ST(os.path.join(path, n))
        else:
            self.files[os.path.basename(path)] = ST(path)
        for fn, st in self.files.items():
            for k in st.h:
                self.where[k] = fn

    def st(self, name):
        return self.files[self.where[name]]

    def raw(self, name):
        return self.st(name).raw(name)

    def array(self, name):
        return self.st(name).array(name)

    def dtype(self, name):
        return self.st(name).h[name]["dtype"]

    def shape(self, name):
        return self.st(name).h[name]["shape"]


def f32_of(m, name):
    """Values of a plain float tensor as float32 (BF16 by shifting)."""
    a = m.array(name)
    dt = m.dtype(name)
    if dt == "BF16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


# ---- small float formats, from their bit definitions ----

def e4m3_table():
    t = np.zeros(256, np.float32)
    for b in range(256):
        s, e, m = b >> 7, (b >> 3) & 15, b & 7
        if e == 15 and m == 7:
            v = np.nan
        elif e == 0:
            v = m * 2.0 ** -9
        else:
            v = 2.0 ** (e - 7) * (1 + m / 8)
        t[b] = -v if s else v
    return t


def e5m2_table():
    t = np.zeros(256, np.float32)
    for b in range(256):
        s, e, m = b >> 7, (b >> 2) & 31, b & 3
        if e == 31:
            v = np.inf if m == 0 else np.nan
        elif e == 0:
            v = m * 2.0 ** -16
        else:
            v = 2.0 ** (e - 15) * (1 + m / 4)
        t[b] = -v if s else v
    return t


E4M3, E5M2 = e4m3_table(), e5m2_table()
E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3,
                 -4, -6], np.float32)
NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367,
                -0.39491748809814453, -0.28444138169288635,
                -0.18477343022823334, -0.09105003625154495, 0.0,
                0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
                0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                0.7229568362236023, 1.0], np.float32)


def round_to_grid(a, grid, maxcode):
    """Codes of |a| on an increasing grid of magnitudes (code = index),
    round to nearest, ties to the even code, saturating at maxcode."""
    a = np.minimum(a, grid[maxcode])
    i = np.searchsorted(grid[:maxcode + 1], a)
    i = np.clip(i, 1, maxcode)
    lo, hi = grid[i - 1], grid[i]
    dlo, dhi = a - lo, hi - a
    pick_hi = (dhi < dlo) | ((dhi == dlo) & ((i % 2) == 0))
    return np.where(pick_hi, i, i - 1)


def fp8_expected(x, table, maxcode, fmax):
    fin = np.isfinite(x)
    amax = np.float32(np.max(np.abs(x[fin]))) if fin.any() else np.float32(0)
    s = np.float32(amax / np.float32(fmax))
    if not (s > 0 and np.isfinite(s)):
        s = np.float32(1)
    v = (x / s).astype(np.float32)
    grid = np.abs(table[:maxcode + 1])
    code = round_to_grid(np.abs(v), grid, maxcode)
    y = (grid[code] * s).astype(np.float32)
    return np.where(np.signbit(v), -y, y).astype(np.float32), s


def bf16_round(x):
    u = x.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7fff + ((u >> 16) & 1)) >> 16).astype(np.uint32)
    return (r << 16).view(np.float32)


def int8_expected(x2, per_row):
    """x2 as [rows, cols]; scale per row or one for all."""
    ax = np.abs(np.where(np.isfinite(x2), x2, 0))
    amax = ax.max(axis=1, keepdims=True) if per_row else ax.max()
    s = (np.float32(1) * amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(np.rint(x2 / s), -127, 127) + 0.0   # integers: no -0
    q = np.where(s > 0, q, 0)
    return (q.astype(np.float32) * s).astype(np.float32), s


def int4_expected(x2, asym):
    rows, cols = x2.shape
    g = x2.reshape(rows, cols // 128, 128)
    if not asym:
        amax = np.abs(g).max(axis=2, keepdims=True)
        s16 = (amax / np.float32(7)).astype(np.float32).astype(np.float16)
        s16 = np.where(np.isinf(s16), np.float16(65504), s16)
        s = s16.astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.clip(np.rint(g / s), -8, 7) + 0.0    # integers: no -0
        q = np.where(s > 0, q, 0)
        y = (q.astype(np.float32) * s).astype(np.float32)
        return y.reshape(rows, cols), s16.reshape(rows, cols // 128)
    mn = g.min(axis=2, keepdims=True)
    mx = g.max(axis=2, keepdims=True)
    s16 = ((mx - mn) / np.float32(15)).astype(np.float32).astype(np.float16)
    s16 = np.where(np.isinf(s16), np.float16(65504), s16)
    s = s16.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.clip(np.rint(-mn / s), 0, 15)
        z = np.where(s > 0, z, 0)
        q = np.clip(np.rint(g / s) + z, 0, 15)
    q = np.where(s > 0, q, 0)
    y = ((q.astype(np.float32) - z.astype(np.float32)) * s).astype(np.float32)
    return y.reshape(rows, cols), s16.reshape(rows, cols // 128)


def mxfp4_expected(x2):
    rows, cols = x2.shape
    g = x2.reshape(rows, cols // 32, 32)
    amax = np.abs(g).max(axis=2, keepdims=True).astype(np.float32)
    e = ((amax.view(np.uint32) >> 23).astype(np.int64) - 127 - 2)
    e = np.maximum(e, -127)
    X = np.ldexp(np.float32(1), e).astype(np.float32)
    v = (g / X).astype(np.float32)
    code = round_to_grid(np.abs(v), E2M1[:8], 7)
    y = (E2M1[code] * X).astype(np.float32)
    y = np.where(np.signbit(v), -y, y)
    return y.reshape(rows, cols).astype(np.float32), (e + 127).reshape(
        rows, cols // 32)


# ---- the output layouts, read ----

def unpack_words(words, bits):
    """int32 words -> unsigned codes, first in the low bits."""
    w = words.astype(np.int64) & 0xffffffff
    pf = 32 // bits
    out = np.stack([(w >> (bits * k)) & ((1 << bits) - 1)
                    for k in range(pf)], axis=-1)
    return out.reshape(w.shape[0], -1)


def read_ct(m, name):
    """compressed-tensors pack-quantized / mxfp4: dequantized values."""
    base = name
    packed = m.array(base + "_packed")
    scale = m.array(base + "_scale")
    if m.dtype(base + "_packed") == "U8":      # mxfp4
        p = packed.astype(np.int64)
        codes = np.stack([p & 15, p >> 4], axis=-1).reshape(p.shape[0], -1)
        vals = E2M1[codes]
        X = np.ldexp(np.float32(1), scale.astype(np.int64) - 127).astype(
            np.float32)
        X = np.repeat(X, 32, axis=1)
        return (vals * X).astype(np.float32), None
    shape = [int(v) for v in m.array(base + "_shape")]
    rows = shape[0]
    cols = int(np.prod(shape)) // rows
    if scale.shape[-1] == 1 or scale.size == 1:   # int8
        u = unpack_words(packed, 8)[:, :cols]
        q = u - 128
        y = (q.astype(np.float32) * scale.astype(np.float32).reshape(
            -1, 1) if scale.size > 1 else q.astype(np.float32) *
            scale.astype(np.float32)[0]).astype(np.float32)
        return y.reshape(shape), None
    rows = int(np.prod(shape[:-1]))
    cols = shape[-1]
    u = unpack_words(packed, 4)[:, :cols]
    q = u - 8
    s = np.repeat(scale.astype(np.float32), 128, axis=1)
    zp = base + "_zero_point"
    if zp in m.where:
        zw = m.array(zp)          # [ceil(rows/8), groups], along rows
        zu = unpack_words(zw.T.copy(), 4)[:, :rows].T   # [rows, groups]
        z = np.repeat((zu - 8).astype(np.float32), 128, axis=1)
        y = ((q.astype(np.float32) - z) * s).astype(np.float32)
    else:
        y = (q.astype(np.float32) * s).astype(np.float32)
    return y.reshape(shape), scale


def read_bnb(m, name):
    """bitsandbytes 4-bit: (values, codes, absmax used, state JSON)."""
    state_key = [k for k in m.where if k.startswith(name + ".quant_state.")]
    state = json.loads(bytes(m.array(state_key[0])).decode())
    qmap = m.array(name + ".quant_map").astype(np.float32)
    p = m.array(name).reshape(-1).astype(np.int64)
    numel = int(np.prod(state["shape"]))
    codes = np.stack([p >> 4, p & 15], axis=-1).reshape(-1)[:numel]
    bs = state["blocksize"]
    absmax = m.array(name + ".absmax")
    if "nested_offset" in state:
        nmap = m.array(name + ".nested_quant_map").astype(np.float32)
        nabs = m.array(name + ".nested_absmax").astype(np.float32)
        nb = state["nested_blocksize"]
        grp = np.arange(absmax.size) // nb
        absmax = (nmap[absmax.astype(np.int64)] * nabs[grp] +
                  np.float32(state["nested_offset"])).astype(np.float32)
    blk = np.arange(numel) // bs
    y = (qmap[codes] * absmax[blk]).astype(np.float32)
    return y.reshape(state["shape"]), codes, absmax, state, qmap


def bits_equal(a, b):
    a = np.ascontiguousarray(a, np.float32)
    b = np.ascontiguousarray(b, np.float32)
    if a.shape != b.shape:
        return False, "shape %s vs %s" % (a.shape, b.shape)
    same = (a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))
    if same.all():
        return True, ""
    i = int(np.argmin(same.reshape(-1)))
    return False, "%d of %d differ, first at %d: %r vs %r" % (
        int((~same).sum()), same.size, i, float(a.reshape(-1)[i]),
        float(b.reshape(-1)[i]))


def try_rmse(path, scheme, name):
    r = run("try", "--json", path, scheme, name)
    if r.returncode != 0:
        return None
    d = json.loads(r.stdout)
    return d["tensors"][0].get("rmse")


def rmse(x, y):
    x = x.astype(np.float64).reshape(-1)
    y = y.astype(np.float64).reshape(-1)
    f = np.isfinite(x)
    return float(np.sqrt(np.mean((y[f] - x[f]) ** 2))) if f.any() else 0.0


# ---- the checks ----

PLAN_CT = """# compressed-tensors, FP8 and casts
*.embed_tokens.*      f16
*norm*                keep
*.self_attn.q_proj.*  int4-g128
*.self_attn.k_proj.*  int4-g128-asym
*.self_attn.v_proj.*  int8
*.self_attn.o_proj.*  int8-tensor
*.mlp.gate_proj.*     fp8-e4m3
*.mlp.up_proj.*       mxfp4
*.mlp.down_proj.*     int4-g128
lm_head.*             bf16
"""

PLAN_BNB = """*.self_attn.*  nf4-dq
*.mlp.*        nf4-dq
*              keep
"""

PLAN_MIX = """*.mlp.down_proj.*   fp4
*.mlp.*             nf4
*.self_attn.*       fp8-e5m2
*.embed_tokens.*    tf32
*                   keep
"""


def check_demo_ct(tmp, src):
    plan = write_text(tmp, "ct.plan", PLAN_CT)
    out = os.path.join(tmp, "ct.safetensors")
    t0 = time.time()
    r = run("quantize", DEMO, "--plan", plan, "-o", out)
    secs = time.time() - t0
    check("ct: quantize exits 0", r.returncode == 0, r.stderr)
    if r.returncode:
        return
    check("ct: verified after writing", "verified:" in r.stdout, r.stdout)
    check("ct: down_proj kept, and said so (row 1376 is not 128s)",
          "kept 'model.layers.0.mlp.down_proj.weight' as BF16: row length 1376 is not a multiple of 128"
          in r.stderr, r.stderr)
    m = Model(out)
    st = list(m.files.values())[0]
    check("ct: safetensors layout rules hold", not st.problems, st.problems)
    check("ct: __metadata__ format pt", st.meta and st.meta.get("format") == "pt",
          st.meta)
    qc = json.loads(st.meta.get("quantization_config", "{}"))
    check("ct: quantization_config is compressed-tensors, mixed formats",
          qc.get("quant_method") == "compressed-tensors" and
          qc.get("format") == "mixed-precision", qc)
    fmts = sorted({g["format"] for g in qc.get("config_groups", {}).values()})
    check("ct: config groups' formats", fmts == ["float-quantized",
          "mxfp4-pack-quantized", "pack-quantized"], fmts)
    asym = [g for g in qc.get("config_groups", {}).values()
            if g["weights"]["symmetric"] is False]
    check("ct: the asymmetric group targets k_proj",
          asym and sorted(asym[0]["targets"]) ==
          ["model.layers.%d.self_attn.k_proj" % i for i in range(4)], asym)

    bad = []
    rm = []
    for name in sorted(n for n in src.where):
        x = f32_of(src, name)
        try:
            if "norm" in name or "down_proj" in name or name == "lm_head.weight":
                if m.raw(name) != src.raw(name) or m.dtype(name) != src.dtype(name):
                    bad.append(name + ": kept tensor differs")
                continue
            if "embed_tokens" in name:
                ok, why = bits_equal(f32_of(m, name), x.astype(np.float16).astype(np.float32))
                if not ok or m.dtype(name) != "F16":
                    bad.append(name + ": " + why)
                continue
            if "gate_proj" in name:
                exp, s = fp8_expected(x, E4M3, 0x7e, 448)
                got = (E4M3[m.array(name)] * m.array(name + "_scale")[0]).astype(np.float32)
                ok, why = bits_equal(got, exp)
                if not ok or m.dtype(name) != "F8_E4M3":
                    bad.append(name + ": " + why)
                rm.append((name, "fp8-e4m3", rmse(x, got)))
                continue
            if "up_proj" in name:
                exp, e8 = mxfp4_expected(x.reshape(x.shape[0], -1))
                got, _ = read_ct(m, name)
                ok, why = bits_equal(got, exp)
                if not ok:
                    bad.append(name + ": " + why)
                if not np.array_equal(m.array(name + "_scale").astype(np.int64), e8):
                    bad.append(name + ": E8M0 scales differ")
                rm.append((name, "mxfp4", rmse(x, got)))
                continue
            if "v_proj" in name or "o_proj" in name:
                per_row = "v_proj" in name
                exp, s = int8_expected(x.reshape(x.shape[0], -1), per_row)
                got, _ = read_ct(m, name)
                ok, why = bits_equal(got.reshape(exp.shape), exp)
                if not ok:
                    bad.append(name + ": " + why)
                rm.append((name, "int8" if per_row else "int8-tensor", rmse(x, got)))
                continue
            if "q_proj" in name or "k_proj" in name:
                asym = "k_proj" in name
                exp, s16 = int4_expected(x.reshape(-1, x.shape[-1]), asym)
                got, sc = read_ct(m, name)
                ok, why = bits_equal(got.reshape(exp.shape), exp)
                if not ok:
                    bad.append(name + ": " + why)
                if m.dtype(name + "_scale") != "F16" or not np.array_equal(
                        sc.view(np.uint16), s16.view(np.uint16)):
                    bad.append(name + ": f16 scales differ")
                if list(m.array(name + "_shape")) != list(x.shape):
                    bad.append(name + ": weight_shape")
                rm.append((name, "int4-g128-asym" if asym else "int4-g128",
                           rmse(x, got)))
                continue
            bad.append(name + ": not covered by the test")
        except KeyError as k:
            bad.append("%s: missing %s" % (name, k))
    check("ct: every tensor equals the scheme's values bit for bit (independent numpy)",
          not bad, bad[:5])
    # the preview (qscope try) and the written file agree
    diffs = []
    for name, scheme, got in rm[::3]:
        want = try_rmse(DEMO, scheme, name)
        if want is None or abs(got - want) > 1e-6 * max(want, 1e-30):
            diffs.append((name, scheme, got, want))
    check("ct: RMSE of the written values equals `qscope try`'s", not diffs,
          diffs[:3])
    mb = sum(os.path.getsize(os.path.join(DEMO, f)) for f in os.listdir(DEMO)) / 1e6
    print("     (demo, %.1f MB in: %.2f s wall, %.0f MB/s, check included)" %
          (mb, secs, mb / secs))
    return out


def check_demo_bnb(tmp, src):
    plan = write_text(tmp, "bnb.plan", PLAN_BNB)
    out = os.path.join(tmp, "bnbdir")
    r = run("quantize", DEMO, "--plan", plan, "-o", out + "/")
    check("bnb: quantize to a folder exits 0", r.returncode == 0, r.stderr)
    if r.returncode:
        return
    names = sorted(os.listdir(out))
    check("bnb: sharded like the input, with an index and config.json",
          names == ["config.json", "model-00001-of-00002.safetensors",
                    "model-00002-of-00002.safetensors",
                    "model.safetensors.index.json"], names)
    m = Model(out)
    probs = [p for s in m.files.values() for p in s.problems]
    check("bnb: safetensors layout rules hold in every shard", not probs, probs)
    wm = m.index["weight_map"]
    check("bnb: the index names every tensor's shard",
          all(m.where[k] == v for k, v in wm.items()) and
          set(wm) == set(m.where), "")
    tot = sum(len(m.raw(k)) for k in wm)
    check("bnb: index total_size is the tensors' bytes",
          m.index["metadata"]["total_size"] == tot,
          (m.index["metadata"], tot))
    # each tensor in the shard numbered like its input file
    same_shard = all(m.where[k].split("-")[1] == src.where[k].split("-")[1]
                     for k in src.where if k in m.where)
    check("bnb: each tensor in the shard of its input file", same_shard, "")
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(DEMO, "config.json")) as f:
        cfg_in = json.load(f)
    qc = cfg.get("quantization_config", {})
    check("bnb: config.json is the input's plus a bitsandbytes quantization_config",
          qc.get("quant_method") == "bitsandbytes" and
          qc.get("bnb_4bit_quant_type") == "nf4" and
          qc.get("bnb_4bit_use_double_quant") is True and
          all(cfg[k] == v for k, v in cfg_in.items()), qc)
    bad = []
    for name in sorted(src.where):
        x = f32_of(src, name)
        if "norm" in name or "embed" in name or name == "lm_head.weight":
            if m.raw(name) != src.raw(name):
                bad.append(name + ": kept tensor differs")
            continue
        y, codes, absmax_used, state, qmap = read_bnb(m, name)
        if state.get("quant_type") != "nf4" or state.get("blocksize") != 64 \
                or state.get("dtype") != "bfloat16" or \
                state.get("shape") != list(x.shape) or \
                state.get("nested_blocksize") != 256:
            bad.append(name + ": quant_state %r" % state)
        if not np.array_equal(qmap, NF4):
            bad.append(name + ": quant_map is not NF4")
        flat = x.reshape(-1)
        nb = (flat.size + 63) // 64
        pad = np.zeros(nb * 64, np.float32)
        pad[:flat.size] = np.abs(flat)
        exact = pad.reshape(nb, 64).max(axis=1)
        # double quantization: offset the mean, nested absmax per 256
        off = np.float32(state["nested_offset"])
        if abs(float(off) - float(np.mean(exact.astype(np.float64)))) > \
                1e-6 * float(np.mean(exact)):
            bad.append(name + ": nested_offset is not the mean absmax")
        dev = (exact - off).astype(np.float32)
        ngr = (nb + 255) // 256
        nabs = m.array(name + ".nested_absmax")
        want = np.array([np.abs(dev[g * 256:(g + 1) * 256]).max()
                         for g in range(ngr)], np.float32)
        if not np.array_equal(nabs, want):
            bad.append(name + ": nested absmax differs")
        # codes: the nearest NF4 entry to x / exact absmax
        v = (flat * (np.float32(1) / np.repeat(exact, 64)[:flat.size])).astype(np.float32)
        dist = np.abs(v[:, None] - NF4[None, :])
        best = dist.min(axis=1)
        mine = dist[np.arange(v.size), codes]
        if not np.all(mine <= best + 1e-6):
            bad.append(name + ": a code is not the nearest")
        rmse_got = rmse(x, y)
        want_r = try_rmse(DEMO, "nf4-dq", name)
        if want_r is None or abs(rmse_got - want_r) > 1e-6 * want_r:
            bad.append(name + ": rmse %r vs try %r" % (rmse_got, want_r))
    check("bnb: NF4 double-quantized tensors decode as the scheme defines, RMSE equals try's",
          not bad, bad[:4])


def check_demo_mix(tmp, src):
    plan = write_text(tmp, "mix.plan", PLAN_MIX)
    out = os.path.join(tmp, "mix.safetensors")
    r = quantize_plan("mix: fp4, nf4, fp8-e5m2, tf32 to one file exits 0",
                      DEMO, plan, out)
    if r.returncode:
        return
    check("mix: says why no quantization_config",
          "note:" in r.stderr and "quantization_config" in r.stderr, r.stderr)
    m = Model(out)
    bad = []
    for name in sorted(src.where):
        x = f32_of(src, name)
        if "down_proj" in name:
            y, codes, am, state, qmap = read_bnb(m, name)
            if state["quant_type"] != "fp4" or "nested_offset" in state:
                bad.append(name + ": state")
            flat = x.reshape(-1)
            nb = (flat.size + 63) // 64
            pad = np.zeros(nb * 64, np.float32)
            pad[:flat.size] = np.abs(flat)
            if not np.array_equal(am, pad.reshape(nb, 64).max(axis=1)):
                bad.append(name + ": absmax")
            v = flat / np.repeat(am, 64)[:flat.size]
            dist = np.abs(v[:, None] - qmap[None, :])
            if not np.all(dist[np.arange(v.size), codes] <= dist.min(axis=1) + 1e-6):
                bad.append(name + ": fp4 code not nearest")
        elif ".mlp." in name:
            y, codes, am, state, qmap = read_bnb(m, name)
            if state["quant_type"] != "nf4" or m.dtype(name + ".absmax") != "F32":
                bad.append(name + ": state")
        elif "self_attn" in name:
            exp, s = fp8_expected(x, E5M2, 0x7b, 57344)
            got = (E5M2[m.array(name)] * m.array(name + "_scale")[0]).astype(np.float32)
            ok, why = bits_equal(got, exp)
            if not ok or m.dtype(name) != "F8_E5M2":
                bad.append(name + ": " + why)
        elif "embed" in name:
            u = x.view(np.uint32).astype(np.uint64)
            # tf32: keep 10 mantissa bits, round to nearest even
            r_ = ((u + 0xfff + ((u >> 13) & 1)) & ~np.uint64(0x1fff)).astype(np.uint32)
            ok, why = bits_equal(f32_of(m, name), r_.view(np.float32))
            if not ok or m.dtype(name) != "F32":
                bad.append(name + ": " + why)
        elif m.raw(name) != src.raw(name):
            bad.append(name + ": kept tensor differs")
    check("mix: FP4 (bitsandbytes), NF4, FP8 E5M2 and TF32 read back as defined",
          not bad, bad[:4])


def check_fixture_kinds(tmp):
    path = os.path.join(FIXTURES, "safetensors", "st-all-dtypes.safetensors")
    if not os.path.exists(path):
        check("fixture st-all-dtypes present", False, path)
        return
    plan = write_text(tmp, "all.plan", "f64 f32\nf32 bf16\nf8_* f16\n* bf16\n")
    out = os.path.join(tmp, "all.safetensors")
    before = sha256_tree(path)
    r = quantize_plan("all-dtypes: exits 0", path, plan, out)
    if r.returncode:
        return
    src, m = Model(path), Model(out)
    bad = []
    for name in src.where:
        dt = src.dtype(name)
        if dt in ("I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL") \
                or dt == "BF16":
            if m.raw(name) != src.raw(name) or m.dtype(name) != dt:
                bad.append(name + ": integer or BF16 tensor not kept as it was")
    x = src.array("f64")
    if not np.array_equal(m.array("f64").view(np.uint32),
                          x.astype(np.float32).view(np.uint32)):
        bad.append("f64 -> f32 differs")
    x = src.array("f32")
    ok, why = bits_equal(f32_of(m, "f32"), bf16_round(x))
    if not ok:
        bad.append("f32 -> bf16: " + why)
    for n, tab in (("f8_e4m3", E4M3), ("f8_e5m2", E5M2)):
        ok, why = bits_equal(f32_of(m, n), tab[src.array(n)].astype(np.float16).astype(np.float32))
        if not ok:
            bad.append(n + " -> f16: " + why)
    check("all-dtypes: casts exact, integer/BF16/empty tensors kept byte for byte",
          not bad, bad)
    check("all-dtypes: input unchanged", sha256_tree(path) == before, "")


def check_requantize(tmp, ct_out):
    """A quantized checkpoint as input: 'keep' copies every stored part;
    'f32' writes the values qscope reads through the layout."""
    if not ct_out:
        return
    keep = write_text(tmp, "keepall.plan", "*  keep\n")
    out = os.path.join(tmp, "re-keep.safetensors")
    r = quantize_plan("requantize: a compressed-tensors input kept whole, "
                      "exits 0", ct_out, keep, out, "verified:")
    if r.returncode:
        return
    a, b = Model(ct_out), Model(out)
    diff = [k for k in a.where if k not in b.where or a.raw(k) != b.raw(k)
            or a.dtype(k) != b.dtype(k) or a.shape(k) != b.shape(k)]
    check("requantize: every stored part byte-identical",
          not diff and set(a.where) == set(b.where), diff[:4])
    f32 = write_text(tmp, "f32.plan", "*norm* keep\n*  f32\n")
    out = os.path.join(tmp, "re-f32.safetensors")
    r = quantize_plan("requantize: f32 from a compressed-tensors input, "
                      "exits 0", ct_out, f32, out, "verified:")
    if r.returncode:
        return
    b = Model(out)
    bad = []
    for name in ("model.layers.1.self_attn.q_proj.weight",
                 "model.layers.2.self_attn.k_proj.weight",
                 "model.layers.3.self_attn.v_proj.weight"):
        want, _ = read_ct(a, name)
        ok, why = bits_equal(b.array(name), want.reshape(b.shape(name)))
        if not ok or b.dtype(name) != "F32":
            bad.append(name + ": " + why)
    check("requantize: f32 values are the layout's values bit for bit",
          not bad, bad)


def check_torch_views(tmp):
    """Strided torch views (transposed, sliced, expanded) kept: written in
    row-major order, byte for byte what torch's .contiguous() holds."""
    path = os.path.join(FIXTURES, "torch", "views-shared.pt")
    try:
        import torch
    except ImportError:
        check("torch views: python3-torch installed", False, "import torch")
        return
    if not os.path.exists(path):
        check("torch views fixture present", False, path)
        return
    plan = write_text(tmp, "keep.plan", "*  keep\n")
    out = os.path.join(tmp, "views.safetensors")
    r = quantize_plan("torch views: exits 0, verified", path, plan, out,
                      "verified:")
    if r.returncode:
        return
    m = Model(out)
    sd = torch.load(path, map_location="cpu")
    bad = [k for k, t in sd.items() if isinstance(t, torch.Tensor) and
           m.raw(k) != t.contiguous().numpy().tobytes()]
    check("torch views: strided tensors copied in row-major order",
          not bad and len(m.where) == len(sd), bad)


def check_refusals(tmp, demo_hash, ct_out):
    plan = write_text(tmp, "ok.plan", "* int8\n")
    if ct_out:
        h = sha256_tree(ct_out)
        r = run("quantize", DEMO, "--plan", os.path.join(tmp, "ct.plan"),
                "-o", ct_out)
        check("existing OUT without --force: exit 2, file unchanged",
              one_line_error(r) and "already exists" in r.stderr and
              sha256_tree(ct_out) == h, r.stderr)
        r = run("quantize", DEMO, "--plan", plan, "-o", ct_out, "--force")
        check("--force replaces it", r.returncode == 0 and
              sha256_tree(ct_out) != h and not leftovers(tmp), r.stderr)
        check("one line counts the 1-D tensors a scheme never applies to",
              "kept 9 1-D, scalar or integer tensors as they are" in r.stderr,
              r.stderr)
    shard = os.path.join(DEMO, "model-00001-of-00002.safetensors")
    r = run("quantize", DEMO, "--plan", plan, "-o", shard, "--force")
    check("OUT one of the input's files: refused even with --force",
          one_line_error(r) and "input" in r.stderr, r.stderr)
    r = run("quantize", DEMO, "--plan", plan, "-o", DEMO, "--force")
    check("OUT the input folder: refused", one_line_error(r) and
          "input" in r.stderr, r.stderr)
    bad = write_text(tmp, "bad.plan", "# ok\n*.mlp.*  int4\n* f16\n")
    out = os.path.join(tmp, "never.safetensors")
    r = run("quantize", DEMO, "--plan", bad, "-o", out)
    check("plan error names file and line", one_line_error(r) and
          r.stderr.strip() == "qscope: %s:2: unknown scheme 'int4' (see 'qscope schemes'; 'keep' keeps the stored dtype)" % bad
          and not os.path.exists(out), r.stderr)
    gg = write_text(tmp, "gg.plan", "*norm* keep\n* q4_k\n")
    r = run("quantize", DEMO, "--plan", gg, "-o", out)
    check("a GGUF block type to safetensors: refused with the plan line",
          one_line_error(r) and ("%s:2: q4_k" % gg) in r.stderr and
          not os.path.exists(out) and not leftovers(tmp), r.stderr)
    r = run("quantize", DEMO, "--plan", gg, "-o", os.path.join(tmp, "x.gguf"))
    check("GGUF output from a safetensors input: refused",
          one_line_error(r) and not os.path.exists(os.path.join(tmp, "x.gguf")),
          r.stderr)
    r = run("quantize", DEMO, "--plan", plan, "-o",
            os.path.join(tmp, "no", "such", "dir", "o.safetensors"))
    check("missing folder: exit 2, nothing made", one_line_error(r) and
          not os.path.exists(os.path.join(tmp, "no")), r.stderr)
    # a file-size limit: the write fails half-way
    lim = os.path.join(tmp, "lim")
    os.mkdir(lim)

    def small():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    r = subprocess.run([QSCOPE, "quantize", DEMO, "--plan", plan, "-o",
                        os.path.join(lim, "o.safetensors")],
                       capture_output=True, text=True, preexec_fn=small)
    check("write failure (file-size limit): exit 2, no file, no temporary",
          one_line_error(r) and os.listdir(lim) == [], (r.stderr, os.listdir(lim)))
    r = subprocess.run([QSCOPE, "quantize", DEMO, "--plan", plan, "-o",
                        os.path.join(lim, "sub") + "/"],
                       capture_output=True, text=True, preexec_fn=small)
    check("folder write failure: the folder it made is gone too",
          one_line_error(r) and os.listdir(lim) == [], (r.stderr, os.listdir(lim)))
    check("the demo's bytes are unchanged after everything",
          sha256_tree(DEMO) == demo_hash, "")


def check_sigint(tmp):
    """A long write interrupted: no output, no temporary file."""
    big = os.path.join(tmp, "big.safetensors")
    rng = np.random.default_rng(5)
    n = 4096 * 4096
    hdr = json.dumps({"w%d" % i: {"dtype": "F32", "shape": [4096, 4096],
                                  "data_offsets": [4 * n * i, 4 * n * (i + 1)]}
                      for i in range(2)}).encode()
    hdr += b" " * (-len(hdr) % 8)
    with open(big, "wb") as f:
        f.write(struct.pack("<Q", len(hdr)) + hdr)
        for i in range(2):
            f.write(rng.standard_normal(n, dtype=np.float32).tobytes())
    h = sha256_tree(big)
    plan = write_text(tmp, "big.plan", "* nf4-dq\n")
    d = os.path.join(tmp, "sig")
    os.mkdir(d)
    out = os.path.join(d, "o.safetensors")
    p = subprocess.Popen([QSCOPE, "quantize", big, "--plan", plan, "-o", out],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    so, se = p.communicate()
    if p.returncode == 0:
        check("SIGINT: finished before the signal; output complete",
              Model(out).files and not leftovers(d), se)
    else:
        check("SIGINT mid-write: exit 2, 'interrupted', no output, no temporary",
              p.returncode == 2 and "interrupted" in se and
              os.listdir(d) == [], (p.returncode, se, os.listdir(d)))
    check("SIGINT: input unchanged", sha256_tree(big) == h, "")
    os.unlink(big)


# ---- GGUF ----

GGML = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 8: ("Q8_0", 32, 34),
        12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
        14: ("Q6_K", 256, 210), 30: ("BF16", 1, 2), 2: ("Q4_0", 32, 18),
        3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24),
        10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110)}


def gguf_tensors(path):
    """{name: (type name, ne, raw bytes)} of a little-endian GGUF v2/v3."""
    b = open(path, "rb").read()
    pos = 4

    def u32():
        nonlocal pos
        v, = struct.unpack_from("<I", b, pos)
        pos += 4
        return v

    def u64():
        nonlocal pos
        v, = struct.unpack_from("<Q", b, pos)
        pos += 8
        return v

    def string():
        nonlocal pos
        n = u64()
        s = b[pos:pos + n]
        pos += n
        return s.decode()

    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def value(t):
        nonlocal pos
        if t == 8:
            return string()
        if t == 9:
            at = u32()
            n = u64()
            return [value(at) for _ in range(n)]
        v = b[pos:pos + sizes[t]]
        pos += sizes[t]
        if t == 4:
            return struct.unpack("<I", v)[0]
        return v

    assert b[:4] == b"GGUF"
    u32()
    nt, nkv = u64(), u64()
    kv = {}
    for _ in range(nkv):
        k = string()
        kv[k] = value(u32())
    infos = []
    for _ in range(nt):
        name = string()
        nd = u32()
        ne = [u64() for _ in range(nd)]
        t = u32()
        off = u64()
        infos.append((name, ne, t, off))
    a = kv.get("general.alignment", 32)
    start = (pos + a - 1) // a * a
    out = {}
    for name, ne, t, off in infos:
        tn, blk, bb = GGML[t]
        cnt = int(np.prod(ne))
        out[name] = (tn, ne, b[start + off:start + off + cnt // blk * bb])
    return out


def check_gguf(tmp):
    f32 = os.path.join(FIXTURES, "gguf", "tiny-llama-f32.gguf")
    ref = os.path.join(FIXTURES, "gguf", "tiny-llama-f32.Q8_0.gguf")
    if not os.path.exists(f32) or not os.path.exists(ref):
        check("gguf fixtures present", False, f32)
        return
    h = sha256_tree(f32)
    plan = write_text(tmp, "g.plan", "*_norm.*  keep\n*  q8_0\n")
    out = os.path.join(tmp, "g.gguf")
    r = quantize_plan("gguf: quantize --plan to GGUF exits 0 and is verified",
                      f32, plan, out, "verified:")
    if r.returncode:
        return
    mine, theirs, src = gguf_tensors(out), gguf_tensors(f32), gguf_tensors(ref)
    bad = []
    for name, (tn, ne, raw) in src.items():
        if tn == "Q8_0":
            if mine[name][0] != "Q8_0" or mine[name][2] != raw:
                bad.append(name)
        elif tn == "F32":
            if mine[name][2] != theirs[name][2]:
                bad.append(name + " (kept)")
    check("gguf: Q8_0 tensors byte-identical to llama-quantize's, norms kept",
          not bad and len(mine) == len(src), bad)
    check("gguf: input unchanged", sha256_tree(f32) == h, "")
    plan2 = write_text(tmp, "g2.plan", "*.attn_q.*  nf4\n* q8_0\n")
    plan3 = write_text(tmp, "g3.plan", "*.attn_q.*  nf4\n*_norm* keep\n* bf16\n")
    r = run("quantize", f32, "--plan", plan2, "-o", os.path.join(tmp, "g2.gguf"))
    check("gguf: a scheme GGUF cannot hold is refused with its plan line",
          one_line_error(r) and ("%s:1: nf4" % plan2) in r.stderr and
          not os.path.exists(os.path.join(tmp, "g2.gguf")), r.stderr)
    r = run("quantize", f32, "--plan", plan3, "-o", os.path.join(tmp, "g2.safetensors"))
    check("gguf input to safetensors: exits 0 and is verified",
          r.returncode == 0 and "verified:" in r.stdout, r.stderr)


def check_llama(tmp):
    f32 = os.path.join(FIXTURES, "gguf", "tiny-llama-f32.gguf")
    if not os.path.exists(f32):
        return
    plan = write_text(tmp, "l.plan", """token_embd.*    q8_0
*_norm*         keep
*.attn_v.*      q6_k
blk.1.*         q5_k
*.attn_q.*      nf4
*.attn_k.*      fp8-e4m3
*               q4_k
""")
    r = run("plan", "--llama-quantize", "-o", "out.gguf", plan, f32)
    check("llama-quantize: exits 0", r.returncode == 0, r.stderr)
    line = r.stdout.strip()
    check("llama-quantize: --pure, the input, OUT and Q4_K_M",
          line.startswith("llama-quantize --pure ") and
          line.endswith(" %s out.gguf Q4_K_M" % f32), line)
    over = re.findall(r"--tensor-type '([^']*)'", line)
    check("llama-quantize: one override per rule with an equivalent",
          [o.split("=")[-1] for o in over] == ["q8_0", "q6_k", "q5_k"], over)
    check("llama-quantize: nf4 and fp8 named on stderr",
          "l.plan:5: 'nf4' has no llama.cpp equivalent" in r.stderr and
          "l.plan:6: 'fp8-e4m3' has no llama.cpp equivalent" in r.stderr,
          r.stderr)
    # the overrides, first match wins, give the plan's types (where the
    # plan's rule has an equivalent)
    pats = [(re.compile(o.rsplit("=", 1)[0]), o.rsplit("=", 1)[1]) for o in over]
    want = {"token_embd.weight": "q8_0", "blk.0.attn_v.weight": "q6_k",
            "blk.1.attn_v.weight": "q6_k", "blk.1.ffn_up.weight": "q5_k",
            "blk.1.attn_q.weight": "q5_k", "blk.0.ffn_up.weight": "q4_k",
            "output.weight": "q4_k"}
    got = {}
    for name in want:
        t = "q4_k"
        for rx, ty in pats:
            if rx.search(name):
                t = ty
                break
        got[name] = t
    check("llama-quantize: the regexes pick the plan's types", got == want, got)
    plan2 = write_text(tmp, "l2.plan", "*.ffn_*  q4_0\n*  bf16\n")
    r = run("plan", "--llama-quantize", plan2, f32)
    line = r.stdout.strip()
    check("llama-quantize: an unquantized default becomes Q8_0 plus a last '.*' override",
          r.returncode == 0 and line.endswith(" OUT.gguf Q8_0") and
          "--tensor-type '^.*$=bf16'" in line and
          "--tensor-type '^.*\\.ffn_.*$=q4_0'" in line, line)
    r = run("plan", plan2, f32)
    check("plan PLAN PATH: a table and the totals", r.returncode == 0 and
          "blk.0.ffn_up.weight" in r.stdout and "total: 21 tensors" in r.stdout,
          r.stdout[-300:])


def main():
    if not os.path.isdir(DEMO):
        check("demo checkpoint present (run make)", False, DEMO)
        return finish()
    demo_hash = sha256_tree(DEMO)
    src = Model(DEMO)
    tmp = tempfile.mkdtemp(prefix="qscope-plan-")
    try:
        ct_out = check_demo_ct(tmp, src)
        check_demo_bnb(tmp, src)
        check_demo_mix(tmp, src)
        check_requantize(tmp, ct_out)
        check_fixture_kinds(tmp)
        check_torch_views(tmp)
        check_gguf(tmp)
        check_llama(tmp)
        check_refusals(tmp, demo_hash, ct_out)
        check_sigint(tmp)
        check("no temporary files left anywhere", not leftovers(tmp),
              leftovers(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
