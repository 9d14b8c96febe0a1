#!/usr/bin/python3
"""bench/schemes_numpy.py - the peer of bench/schemes.c in numpy.

The same computation on the same kind of tensor (4096 x 4096, N(0, 1),
stored as BF16): decode to float32, quantize, dequantize, and the error sums
(sse, sum x^2, sum y^2, sum xy, max |y - x|), for the schemes numpy does
simply: int8 (per row), int4-g128, fp8-e4m3 (nearest code by a sorted-table
lookup) and nf4 (nearest of 16 codes).  Best of 3.  Prints each time next
to qscope's (bench/results/schemes.json, written by bench/schemes.c in the
same `make bench`) with the ratio, and writes bench/results/schemes_numpy.json.
"""
import json
import os
import sys
import time

import numpy as np

RESULTS = "bench/results"
f32 = np.float32


def make_tensor():
    rng = np.random.default_rng(42)
    x = rng.standard_normal((4096, 4096), dtype=np.float32)
    u = x.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def decode(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def err(x, y):
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    d = y64 - x64
    return ((d * d).sum(), (x64 * x64).sum(), (y64 * y64).sum(),
            (x64 * y64).sum(), np.abs(d).max())


def int8(x):
    s = np.abs(x).max(axis=1, keepdims=True) / f32(127)
    q = np.clip(np.rint(x / s), -127, 127).astype(np.int8)
    return q.astype(np.float32) * s


def int4_g128(x):
    g = x.reshape(-1, 128)
    s = (np.abs(g).max(axis=1, keepdims=True) / f32(7)).astype(
        np.float16).astype(np.float32)
    q = np.clip(np.rint(g / s), -8, 7).astype(np.int8)
    return (q.astype(np.float32) * s).reshape(x.shape)


def e4m3_table():
    vals = []
    for c in range(127):                 # 0x7f is NaN
        e, m = c >> 3, c & 7
        vals.append(m * 2.0 ** -9 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7))
    return np.array(vals, dtype=np.float32)


E4M3 = e4m3_table()
E4M3_MID = ((E4M3[:-1].astype(np.float64) + E4M3[1:]) / 2)


def fp8_e4m3(x):
    s = np.abs(x).max() / f32(448)
    a = np.abs(x / s)
    i = np.searchsorted(E4M3_MID, a)     # ties go down (even codes differ
    q = E4M3[np.minimum(i, 126)]         # from RNE only on exact ties)
    return np.copysign(q, x) * s


NF4 = np.array([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
    0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0], dtype=np.float32)
NF4_MID = (NF4[:-1] + NF4[1:]) / 2


def nf4(x):
    b = x.reshape(-1, 64)
    am = np.abs(b).max(axis=1, keepdims=True)
    v = b * (f32(1) / am)
    code = np.searchsorted(NF4_MID, v, side="left").astype(np.uint8)
    return (NF4[code] * am).reshape(x.shape)


SCHEMES = {"int8": int8, "int4-g128": int4_g128, "fp8-e4m3": fp8_e4m3,
           "nf4": nf4}


def main():
    b = make_tensor()
    ours = {}
    try:
        with open(os.path.join(RESULTS, "schemes.json")) as f:
            for s in json.load(f)["schemes"]:
                ours[s["name"]] = s
    except (OSError, ValueError, KeyError):
        pass
    print("schemes, numpy %s: 4096x4096 BF16 N(0,1), decode + quantize + "
          "dequantize + error, best of 3" % np.__version__)
    print("%-10s %10s %12s %12s %9s %9s" % ("SCHEME", "numpy", "qscope 1T",
                                            "qscope 2T", "ratio 1T",
                                            "ratio 2T"))
    out = []
    for name, fn in SCHEMES.items():
        best = 1e30
        for _ in range(3):
            t = time.perf_counter()
            x = decode(b)
            sse, sxx, _, _, _ = err(x, fn(x))
            best = min(best, time.perf_counter() - t)
        ms = best * 1e3
        row = {"name": name, "numpy_ms": round(ms, 3),
               "rmse": float(np.sqrt(sse / x.size))}
        o = ours.get(name)
        if o:
            row["qscope_ms_1_thread"] = o["ms_1_thread"]
            row["qscope_ms_2_threads"] = o["ms_2_threads"]
            row["ratio_1_thread"] = round(ms / o["ms_1_thread"], 2)
            row["ratio_2_threads"] = round(ms / o["ms_2_threads"], 2)
            print("%-10s %8.1fms %10.1fms %10.1fms %8.1fx %8.1fx" % (
                name, ms, o["ms_1_thread"], o["ms_2_threads"],
                row["ratio_1_thread"], row["ratio_2_threads"]))
        else:
            print("%-10s %8.1fms   (no bench/results/schemes.json: run "
                  "build/bench-schemes first)" % (name, ms))
        out.append(row)
        sys.stdout.flush()
    try:
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "schemes_numpy.json"), "w") as f:
            json.dump({"bench": "schemes_numpy", "numpy": np.__version__,
                       "schemes": out}, f, indent=1)
            f.write("\n")
        print("wrote %s/schemes_numpy.json" % RESULTS)
    except OSError as e:
        print("cannot write results: %s" % e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
