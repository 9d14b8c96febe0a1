#!/usr/bin/python3
"""tests/schemes_numpy.py - `qscope try` against an independent numpy
implementation of every non-GGUF scheme.

Writes safetensors files (struct + json, nothing else) holding random
tensors of shapes and distributions the unit tests never use, runs
`qscope try --json FILE SCHEME` for every scheme, and compares each
tensor's rmse, rel_err, sqnr_db, cosine and max_abs_err with the same
definitions (FORMATS.md 6.1) computed here from a numpy quantizer written
from the scheme's formula (FORMATS.md 5 and issue 3).  RMSE must agree
within 1 % (the issue's bar; in practice they agree to ~1e-6), and so
must the others (sqnr within 0.05 dB, cosine within 1e-6).  Also checks
which tensors are skipped, the byte counts and the totals, and the error
of every scheme on N(0, 1) data against FORMATS.md 6.3.

Output: "ok   ..." / "FAIL ..." lines, then "N passed, N failed"; exit 1 on
any failure.  QSCOPE names the binary (default ./qscope).  Fixed seed.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qstest  # noqa: E402
from qstest import QSCOPE, check, finish  # noqa: E402

RNG = np.random.default_rng(20260822)


def report(ok, what):
    """The checks here put the verdict first."""
    check(what, ok)


# ---- safetensors, written by hand ----

def bf16_bits(x):
    """float32 -> bfloat16 bit patterns, round to nearest even."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return r


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype string, ndarray of float32 values)."""
    parts = []
    for name, dt, a in tensors:
        if dt == "F32":
            raw = a.astype("<f4").tobytes()
        elif dt == "F16":
            raw = a.astype("<f2").tobytes()
        elif dt == "BF16":
            raw = bf16_bits(a).astype("<u2").tobytes()
        elif dt == "I64":
            raw = a.astype("<i8").tobytes()
        else:
            raise ValueError(dt)
        parts.append((name, dt, a.shape, raw))
    qstest.write_safetensors(path, parts)


def stored_values(dt, a):
    """The float32 values qscope reads back from a tensor stored as dt."""
    if dt == "F32":
        return a.astype(np.float32)
    if dt == "F16":
        return a.astype(np.float16).astype(np.float32)
    if dt == "BF16":
        return (bf16_bits(a).astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


# ---- the schemes, from their formulas ----

f32 = np.float32


def rows_of(x):
    """Per-row view: one row per index of the outermost dimension."""
    return x.reshape(x.shape[0], -1)


def nearest_grid(v, grid, even_ties=True):
    """Nearest of the ascending non-negative grid to |v| (saturating),
    ties to the even index (RNE on the grid's codes); keeps v's sign."""
    a = np.minimum(np.abs(v.astype(np.float64)), grid[-1])
    i = np.clip(np.searchsorted(grid, a), 1, len(grid) - 1)
    lo, hi = grid[i - 1], grid[i]
    dlo, dhi = a - lo, hi - a
    pick_hi = (dhi < dlo) | ((dhi == dlo) & ((i % 2) == 0))
    m = np.where(pick_hi, hi, lo)
    return np.where(np.signbit(v), -m, m)


def fp8_grid(mbits, bias, maxv):
    vals = []
    for c in range(128):
        e, m = c >> mbits, c & ((1 << mbits) - 1)
        v = (m * 2.0 ** (1 - bias - mbits) if e == 0
             else (1 + m / 2.0 ** mbits) * 2.0 ** (e - bias))
        if v <= maxv:
            vals.append(v)
    return np.array(vals)


E4M3 = fp8_grid(3, 7, 448.0)
E5M2 = fp8_grid(2, 15, 57344.0)
E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], dtype=np.float64)

NF4 = np.array([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
    0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0], dtype=np.float32)
FP4_MAG = (np.array([0, 0.0625, 8, 12, 4, 6, 2, 3], dtype=np.float32)
           / f32(12))
# bitsandbytes codes a value by comparing it (x > t) with fixed thresholds:
# NF4's are the midpoints of its table; FP4's are the literals of its
# CUDA decision tree (FORMATS.md 5.8), which differ from the midpoints in
# the 7th digit, so a value in between goes up where a nearest-value
# search would go down.
NF4_MID = ((NF4[:-1].astype(np.float64) + NF4[1:]) / 2).astype(np.float32)
FP4_TREE = np.array([0.00260417, 0.0859375, 0.20833333, 0.29166667,
                     0.4166667, 0.583333, 0.8333333], dtype=np.float32)
FP4_BY_RANK = np.array([0, 1, 6, 7, 4, 5, 2, 3])   # magnitude order


def dynamic_code():
    """bitsandbytes' signed dynamic 8-bit code (FORMATS.md Appendix A),
    by its construction; float64 linspace (torch's f32 linspace may differ
    in a last bit, which moves no metric measurably)."""
    data = []
    for i in range(7):
        n = 2 ** i + 1
        b = np.linspace(0.1, 1, n).astype(np.float32)
        means = (b[:-1] + b[1:]) / f32(2)
        v = (means * 10.0 ** (i - 6)).astype(np.float32)
        data += list(v) + list(-v)
    data += [0.0, 1.0]
    return np.sort(np.array(data, dtype=np.float32))


DYN = dynamic_code()


def argmin_code(v, code, chunk=1 << 16):
    """Index of the nearest code entry (first on ties), as torch.argmin."""
    out = np.empty(v.size, dtype=np.int64)
    vf = v.reshape(-1)
    for s in range(0, vf.size, chunk):
        d = np.abs(vf[s:s + chunk, None] - code[None, :])
        out[s:s + chunk] = np.argmin(d, axis=1)
    return out.reshape(v.shape)


def f16r(v):
    return v.astype(np.float32).astype(np.float16).astype(np.float32)


def q_cast(kind):
    def q(x):
        if kind == "f32":
            return x.copy()
        if kind == "f16":
            return f16r(x)
        u = x.view(np.uint32).astype(np.uint64)
        if kind == "bf16":
            return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16).astype(
                np.uint32).view(np.float32)
        r = ((u + 0xFFF + ((u >> 13) & 1)) & 0xFFFFE000).astype(np.uint32)
        return r.view(np.float32)
    return q


def q_fp8(grid, maxv):
    def q(x):
        am = f32(np.abs(x).max())
        s = am / f32(maxv) if am > 0 else f32(1)
        v = (x / s).astype(np.float32)
        return (nearest_grid(v, grid).astype(np.float32) * s).astype(
            np.float32)
    return q


def q_int8(x):
    r = rows_of(x)
    s = (np.abs(r).max(axis=1, keepdims=True) / f32(127)).astype(np.float32)
    safe = np.where(s > 0, s, f32(1))
    qv = np.clip(np.rint(r / safe), -127, 127)
    y = np.where(s > 0, qv.astype(np.float32) * s, f32(0))
    return y.astype(np.float32).reshape(x.shape)


def q_int8_tensor(x):
    s = f32(np.abs(x).max()) / f32(127)
    if s == 0:
        return np.zeros_like(x)
    return (np.clip(np.rint(x / s), -127, 127).astype(np.float32) * s
            ).astype(np.float32)


def groups(x, g):
    return x.reshape(-1, g)


def q_int4(x):
    r = groups(x, 128)
    s = f16r(np.abs(r).max(axis=1, keepdims=True) / f32(7))
    safe = np.where(s > 0, s, f32(1))
    qv = np.clip(np.rint(r / safe), -8, 7).astype(np.float32)
    return np.where(s > 0, qv * s, f32(0)).astype(np.float32).reshape(x.shape)


def q_int4_asym(x):
    r = groups(x, 128)
    mn = r.min(axis=1, keepdims=True)
    mx = r.max(axis=1, keepdims=True)
    s = f16r((mx - mn) / f32(15))
    safe = np.where(s > 0, s, f32(1))
    z = np.clip(np.rint(-mn / safe), 0, 15)
    qv = np.clip(np.rint(r / safe) + z, 0, 15)
    y = ((qv - z).astype(np.float32) * s).astype(np.float32)
    return np.where(s > 0, y, f32(0)).reshape(x.shape)


def bnb_blocks(x):
    """Flattened, in blocks of 64 (the last padded); absmax per block."""
    f = x.reshape(-1)
    n = f.size
    pad = -n % 64
    b = np.concatenate([f, np.zeros(pad, np.float32)]).reshape(-1, 64)
    am = np.abs(b).max(axis=1, keepdims=True).astype(np.float32)
    inv = np.where(am > 0, f32(1) / np.where(am > 0, am, f32(1)), f32(0))
    v = np.clip(b * inv, -1, 1).astype(np.float32)
    return b, am, v, n


def above(v, thresholds):
    """How many thresholds t have v > t."""
    return np.searchsorted(thresholds, v, side="left")


def q_nf4(x):
    b, am, v, n = bnb_blocks(x)
    idx = above(v, NF4_MID)
    y = (NF4[idx] * am).astype(np.float32)
    return y.reshape(-1)[:n].reshape(x.shape)


def q_nf4_dq(x):
    b, am, v, n = bnb_blocks(x)
    idx = above(v, NF4_MID)
    a = am.reshape(-1)
    offset = f32(a.astype(np.float64).mean())
    d = (a - offset).astype(np.float32)
    pad = -d.size % 256
    dg = np.concatenate([d, np.zeros(pad, np.float32)]).reshape(-1, 256)
    nested = np.abs(dg).max(axis=1, keepdims=True).astype(np.float32)
    inv = np.where(nested > 0, f32(1) / np.where(nested > 0, nested, f32(1)),
                   f32(0))
    vv = np.clip(dg * inv, -1, 1).astype(np.float32)
    di = np.where(nested > 0, argmin_code(vv, DYN), 127)
    a2 = (DYN[di] * nested + offset).astype(np.float32).reshape(-1)[:a.size]
    y = (NF4[idx] * a2[:, None]).astype(np.float32)
    return y.reshape(-1)[:n].reshape(x.shape)


def q_fp4(x):
    b, am, v, n = bnb_blocks(x)
    mag = FP4_MAG[FP4_BY_RANK[above(np.abs(v), FP4_TREE)]]
    y = (np.where(v < 0, -mag, mag) * am).astype(np.float32)
    return y.reshape(-1)[:n].reshape(x.shape)


def q_mxfp4(x):
    r = groups(x, 32).astype(np.float64)
    am = np.abs(r).max(axis=1, keepdims=True)
    _, ex = np.frexp(am)
    e = np.where(am >= np.finfo(np.float32).tiny, ex - 1 - 2, -127)
    e = np.maximum(e, -127)
    v = np.ldexp(r, -e)
    y = np.ldexp(nearest_grid(v, E2M1), e)
    return y.astype(np.float32).reshape(x.shape)


def q_ternary(x):
    s = f32(np.abs(x).astype(np.float64).mean())
    if s == 0:
        return np.zeros_like(x)
    return (np.clip(np.rint(x / s), -1, 1).astype(np.float32) * s).astype(
        np.float32)


def q_binary(x):
    r = rows_of(x)
    s = np.abs(r).astype(np.float64).mean(axis=1, keepdims=True).astype(
        np.float32)
    return np.where(r >= 0, s, -s).astype(np.float32).reshape(x.shape)


def b_codes(bits, *planes, tensor=0):
    """Bytes: codes of `bits` bits, side planes (entries, bits each)."""
    def f(shape):
        n = int(np.prod(shape))
        out = -(-n * bits // 8) + tensor
        for p in planes:
            k = p(shape, n)
            out += -(-k[0] * k[1] // 8)
        return out
    return f


def per_row(bits):
    return lambda shape, n: (shape[0], bits)


def per(g, bits):
    return lambda shape, n: (-(-n // g), bits)


# name: (quantizer, bytes(shape), block along the row or 0, flat blocks)
SCHEMES = {
    "f32": (q_cast("f32"), b_codes(32), 0, "cast"),
    "tf32": (q_cast("tf32"), b_codes(32), 0, "cast"),
    "f16": (q_cast("f16"), b_codes(16), 0, "cast"),
    "bf16": (q_cast("bf16"), b_codes(16), 0, "cast"),
    "fp8-e4m3": (q_fp8(E4M3, 448.0), b_codes(8, tensor=4), 0, ""),
    "fp8-e5m2": (q_fp8(E5M2, 57344.0), b_codes(8, tensor=4), 0, ""),
    "int8": (q_int8, b_codes(8, per_row(32)), 0, ""),
    "int8-tensor": (q_int8_tensor, b_codes(8, tensor=4), 0, ""),
    "int4-g128": (q_int4, b_codes(4, per(128, 16)), 128, ""),
    "int4-g128-asym": (q_int4_asym, b_codes(4, per(128, 16), per(128, 4)),
                       128, ""),
    "nf4": (q_nf4, b_codes(4, per(64, 32)), 0, "flat"),
    "nf4-dq": (q_nf4_dq, b_codes(4, per(64, 8), per(16384, 32), tensor=4),
               0, "flat"),
    "fp4": (q_fp4, b_codes(4, per(64, 32)), 0, "flat"),
    "mxfp4": (q_mxfp4, b_codes(4, per(32, 8)), 32, ""),
    "ternary": (q_ternary, b_codes(2, tensor=4), 0, ""),
    "binary": (q_binary, b_codes(1, per_row(32)), 0, ""),
}


def metrics(x, y):
    x = x.astype(np.float64).reshape(-1)
    y = y.astype(np.float64).reshape(-1)
    d = y - x
    sse, sxx, syy, sxy = (d * d).sum(), (x * x).sum(), (y * y).sum(), \
        (x * y).sum()
    # the conventions of quant/stats.c's err_acc_finish(): an exact
    # reconstruction has rel_err 0 and an infinite SQNR (null in JSON);
    # cosine is 1 when both vectors are zero and 0 when only one is
    return {
        "rmse": np.sqrt(sse / x.size),
        "rel_err": (0.0 if sse == 0 else
                    np.sqrt(sse / sxx) if sxx > 0 else None),
        "sqnr_db": 10 * np.log10(sxx / sse) if sse > 0 and sxx > 0 else None,
        "cosine": (sxy / (np.sqrt(sxx) * np.sqrt(syy))
                   if sxx > 0 and syy > 0 else
                   1.0 if sxx == 0 and syy == 0 else 0.0),
        "max_abs_err": np.abs(d).max(),
        "sse": sse, "sxx": sxx,
    }


def close(got, want, key):
    if want is None or got is None:
        return got is None and want is None
    if key == "sqnr_db":
        return abs(got - want) <= 0.05
    if key == "cosine":
        return abs(got - want) <= 1e-6
    tol = 0.01 * abs(want) + (1e-12 if key != "max_abs_err" else 1e-7)
    return abs(got - want) <= tol


def run_try(path, scheme, *names):
    p = subprocess.run([QSCOPE, "try", "--json", path, scheme, *names],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        return None, p.stderr.strip()
    return json.loads(p.stdout), None


# ---- the tensors: shapes and distributions the unit tests do not use ----

def make_tensors():
    t = []

    def add(name, dt, a):
        t.append((name, dt, a.astype(np.float32)))

    rs = np.exp(RNG.normal(0, 1, (96, 1)))     # row scales over 7 orders
    add("blk.0.ffn.w", "F32", RNG.normal(0, 0.02, (96, 640)) * rs)
    add("blk.0.attn.q", "BF16", RNG.standard_t(3, (160, 384)) * 0.05)
    add("blk.1.ffn.w", "F16", RNG.laplace(0, 0.1, (72, 1152)))
    u = RNG.uniform(-3, 1, (40, 896))
    u[5, :] = 0.0                                  # an all-zero row
    u[6, 100:300] = 0.25                           # a constant stretch
    add("blk.1.uniform", "F32", u)
    o = RNG.normal(0, 1, (33, 256))
    o[RNG.random((33, 256)) < 0.002] *= 80          # outliers
    add("blk.2.outliers", "F32", o)
    add("blk.2.conv", "F32", RNG.normal(0, 0.3, (12, 5, 3, 128)))
    add("blk.3.odd", "F32", RNG.normal(0, 1, (17, 100)))  # rows of 100
    add("blk.3.odd2", "BF16", RNG.normal(0, 1, (11, 200)))  # other reason
    add("blk.3.bias", "F32", RNG.normal(0, 1, (384,)))    # 1-D: kept
    add("blk.3.tiny", "F32", RNG.normal(0, 1e-30, (9, 512)))
    add("blk.4.sparse", "F32", RNG.normal(0, 1, (64, 2048)) *
        (RNG.random((64, 2048)) < 0.1))
    add("blk.4.big", "F32", RNG.normal(0, 1, (130, 16384)))  # 2+ nf4-dq groups
    t.append(("position_ids", "I64", np.arange(64).reshape(1, 64)))
    return t


def expected_skip(scheme, a, dt):
    _, _, block, kind = SCHEMES[scheme]
    if dt == "I64":
        return "integer tensor kept"
    if kind == "cast":
        return None
    if a.ndim == 1:
        return "1-D tensor kept"
    if block and a.shape[-1] % block:
        return "row length %d is not a multiple of %d" % (a.shape[-1], block)
    return None


def check_file(path, tensors):
    worst = {}
    for scheme, (quant, nbytes, _, _) in SCHEMES.items():
        out, err = run_try(path, scheme)
        if out is None:
            report(False, "%s: qscope try failed: %s" % (scheme, err))
            continue
        got = {e["name"]: e for e in out["tensors"]}
        report(out["scheme"] == scheme and len(got) == len(tensors),
               "%s: %d tensors listed" % (scheme, len(got)))
        before = after = 0
        sse = sxx = 0.0
        for name, dt, a in tensors:
            e = got.get(name, {})
            x = stored_values(dt, a)
            nb = x.size * {"F32": 4, "F16": 2, "BF16": 2, "I64": 8}[dt]
            before += nb
            skip = expected_skip(scheme, a, dt)
            if skip:
                report(e.get("skipped") == skip and e.get("bytes") == nb,
                       "%s %s: skipped (%s)" % (scheme, name, skip))
                after += nb
                continue
            if "skipped" in e:
                report(False, "%s %s: skipped: %s" % (scheme, name,
                                                      e["skipped"]))
                continue
            y = quant(x)
            m = metrics(x, y)
            bad = [k for k in ("rmse", "rel_err", "sqnr_db", "cosine",
                               "max_abs_err") if not close(e.get(k), m[k], k)]
            want_bytes = nbytes(a.shape)
            if e.get("bytes") != want_bytes:
                bad.append("bytes %s != %d" % (e.get("bytes"), want_bytes))
            if abs(e.get("bits_per_weight", 0) - 8.0 * want_bytes / x.size) \
                    > 1e-9:
                bad.append("bits_per_weight")
            if e.get("rmse") is not None and m["rmse"] > 0:
                r = abs(e["rmse"] / m["rmse"] - 1)
                worst[scheme] = max(worst.get(scheme, 0), r)
            report(not bad, "%s %s: rmse %.6g (numpy %.6g)%s" % (
                scheme, name, e.get("rmse") or 0, m["rmse"],
                "; differ: " + ", ".join(bad) if bad else ""))
            after += want_bytes
            sse += m["sse"]
            sxx += m["sxx"]
        tot = out["total"]
        rel = np.sqrt(sse / sxx)
        report(tot["bytes_before"] == before and tot["bytes_after"] == after
               and abs(tot["rel_err"] - rel) <= 0.01 * rel,
               "%s: totals %d -> %d bytes, rel_err %.6g (numpy %.6g)" % (
                   scheme, tot["bytes_before"], tot["bytes_after"],
                   tot["rel_err"], rel))
    for s in SCHEMES:
        print("     %-15s largest RMSE difference from numpy: %.2e"
              % (s, worst.get(s, 0)))


# FORMATS.md 6.3: MSE on N(0, 1), 256 x 4096; RMSE within 1 % (2 % for
# int8, whose per-row maxima vary from sample to sample).
GAUSS_63 = {
    "f16": 4.30e-8, "tf32": 4.30e-8, "bf16": 2.75e-6, "q8_0": 2.864e-5,
    "int8": 7.44e-5, "fp8-e4m3": 7.00e-4, "fp8-e5m2": 2.76e-3,
    "q6_k": 3.140e-4, "q5_1": 1.430e-3, "q5_k": 1.304e-3, "q5_0": 1.822e-3,
    "q4_1": 6.112e-3, "q4_k": 5.098e-3, "q4_0": 7.385e-3, "nf4": 8.451e-3,
    "nf4-dq": 8.455e-3, "fp4": 1.485e-2, "int4-g128-asym": 1.009e-2,
    "int4-g128": 1.372e-2, "mxfp4": 1.323e-2, "q3_k": 2.273e-2,
    "q2_k": 8.789e-2, "ternary": 2.629e-1,
}


def check_gaussian(path):
    for scheme, mse in GAUSS_63.items():
        out, err = run_try(path, scheme)
        if out is None:
            report(False, "6.3 %s: %s" % (scheme, err))
            continue
        rmse = out["tensors"][0]["rmse"]
        tol = 0.02 if scheme == "int8" else 0.01
        report(abs(rmse / np.sqrt(mse) - 1) <= tol,
               "6.3 %s: RMSE %.5g vs FORMATS.md %.5g" % (
                   scheme, rmse, np.sqrt(mse)))


def check_sampled(path, tensors):
    """--sample N: a tensor larger than N values is measured on whole rows
    i * R / n (n = N // row length), exactly as numpy on those rows;
    smaller ones as without --sample."""
    n_max = 20000
    for scheme in ("int8", "int4-g128", "nf4"):
        quant = SCHEMES[scheme][0]
        p = subprocess.run([QSCOPE, "try", "--json", "--sample", "20000",
                            path, scheme], capture_output=True, text=True)
        if p.returncode != 0:
            report(False, "try --sample %s: %s" % (scheme, p.stderr.strip()))
            continue
        out = json.loads(p.stdout)
        got = {e["name"]: e for e in out["tensors"]}
        for name, dt, a in tensors:
            e = got[name]
            if "skipped" in e or a.ndim < 2:
                continue
            x = stored_values(dt, a)
            rows, rowlen = x.shape[0], x.size // x.shape[0]
            n = max(1, n_max // rowlen)
            if x.size <= n_max or n >= rows:
                ok = "sampled" not in e
                what = "whole"
            else:
                xs = x.reshape(rows, -1)[[i * rows // n for i in range(n)]]
                xs = xs.reshape((n,) + x.shape[1:])
                m = metrics(xs, quant(xs))
                ok = (abs(e.get("sampled", 0) - n / rows) < 1e-12 and
                      close(e.get("rel_err"), m["rel_err"], "rel_err"))
                what = "%d of %d rows" % (n, rows)
            report(ok, "try --sample 20000 %s %s: %s" % (scheme, name, what))
        report(out["total"].get("sampled") is True,
               "try --sample %s: the total says it is an estimate" % scheme)
    p = subprocess.run([QSCOPE, "try", "--sample", "0", path, "int8"],
                       capture_output=True, text=True)
    report(p.returncode == 2 and "--sample" in p.stderr,
           "try --sample 0: exit %d" % p.returncode)


def main():
    with tempfile.TemporaryDirectory() as d:
        tensors = make_tensors()
        path = os.path.join(d, "mixed.safetensors")
        write_safetensors(path, tensors)
        check_file(path, tensors)

        # a glob selects, and an unknown scheme is one line and exit 2
        out, err = run_try(path, "int8", "blk.1.*")
        report(out is not None and
               [e["name"] for e in out["tensors"]] ==
               ["blk.1.ffn.w", "blk.1.uniform"], "glob blk.1.* selects two")
        p = subprocess.run([QSCOPE, "try", path, "int3"],
                           capture_output=True, text=True)
        report(p.returncode == 2 and p.stderr ==
               "qscope: unknown scheme 'int3' (see 'qscope schemes')\n",
               "unknown scheme: exit %d, %r" % (p.returncode, p.stderr))

        check_sampled(path, tensors)

        gpath = os.path.join(d, "gauss.safetensors")
        write_safetensors(gpath, [("w", "F32", RNG.standard_normal(
            (256, 4096)).astype(np.float32))])
        check_gaussian(gpath)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
