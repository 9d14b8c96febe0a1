#!/usr/bin/python3
"""bench/stats_numpy.py - the computation of bench/stats.c in numpy.

For a 4096 x 4096 tensor (N(0, 0.02) with a few outliers) stored as BF16,
F16 and F32: decode to float32 (BF16: the uint16 codes shifted into the
top half; F16: astype), then count, min, max, mean, std, abs max, zeros,
NaN and Inf over the finite values, and np.histogram with 64 bins over
[min, max].  The time is the best of several runs (time.perf_counter,
monotonic), as in the C bench.  It then reads bench/results/stats.json
(written by build/bench-stats, which `make bench` runs first) and prints
qscope's speed over numpy's for the same dtype and thread count, writing
bench/results/stats_numpy.json.  For reference, np.histogram straight on
the float16 array (no decode first) is timed once.

usage: bench/stats_numpy.py [--quick]      (from the project root)
"""
import json
import os
import sys
import time

try:
    import numpy as np
except ImportError:
    print("numpy is not installed (Debian: python3-numpy); skipping the peer")
    sys.exit(0)

ROWS = COLS = 4096
BINS = 64
RESULTS = os.path.join("bench", "results")


def values():
    rng = np.random.default_rng(12345)
    x = rng.normal(0, 0.02, ROWS * COLS).astype(np.float32)
    x[::100003] *= 40
    return x


def stats(x):
    """The statistics and histogram of float32 x, as qscope computes them."""
    nan = np.isnan(x)
    inf = np.isinf(x)
    fin = x[~(nan | inf)] if nan.any() or inf.any() else x
    lo, hi = fin.min(), fin.max()
    d = fin.astype(np.float64)
    mean = d.mean()
    std = d.std()
    counts, _ = np.histogram(fin, bins=BINS, range=(float(lo), float(hi)))
    return dict(count=x.size, nan=int(nan.sum()), inf=int(inf.sum()),
                zeros=int((fin == 0).sum()), min=float(lo), max=float(hi),
                mean=float(mean), std=float(std),
                absmax=float(max(-lo, hi)), counts=counts)


def decode(dtype, raw):
    if dtype == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    if dtype == "F16":
        return raw.astype(np.float32)
    return raw


def best_of(fn, runs):
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    quick = "--quick" in sys.argv[1:]
    runs = 2 if quick else 5
    x = values()
    stored = {
        "BF16": (x.view(np.uint32) >> 16).astype(np.uint16),   # truncated
        "F16": x.astype(np.float16),
        "F32": x,
    }
    try:
        with open(os.path.join(RESULTS, "stats.json")) as f:
            ours = json.load(f)
    except (OSError, ValueError):
        ours = None
        print("no bench/results/stats.json (run build/bench-stats first): "
              "numpy figures only")

    print("numpy %s: statistics + %d-bin histogram of a %dx%d tensor, best of %d runs"
          % (np.__version__, BINS, ROWS, COLS, runs))
    print("%-5s %10s %8s   %s" % ("dtype", "numpy ms", "GB/s", "qscope speed-up (1 thread, 2 threads)"))
    out = {"bench": "stats_numpy", "numpy": np.__version__, "runs": runs,
           "results": []}
    for dtype, raw in stored.items():
        t = best_of(lambda: stats(decode(dtype, raw)), runs)
        gbs = raw.nbytes / t / 1e9
        ratio = []
        if ours:
            for r in ours.get("results", []):
                # numpy's array is in memory: against qscope's memory rows
                if r["dtype"] == dtype and r.get("from", "memory") == "memory":
                    ratio.append("%.1fx (%u thr, %.2f ms)" % (t * 1e3 / r["ms"],
                                                              r["threads"], r["ms"]))
        print("%-5s %10.1f %8.2f   %s" % (dtype, t * 1e3, gbs, ", ".join(ratio) or "-"))
        out["results"].append({"dtype": dtype, "ms": round(t * 1e3, 3),
                               "gbs": round(gbs, 3)})
    if not quick:
        f16 = stored["F16"]
        t = best_of(lambda: np.histogram(f16, bins=BINS,
                                         range=(float(f16.min()), float(f16.max()))), 1)
        print("(np.histogram on the float16 array itself, no decode: %.0f ms)" % (t * 1e3))
        out["f16_histogram_direct_ms"] = round(t * 1e3, 1)

    # Agreement: the same numbers as qscope's definition, on a small slice.
    s = stats(x[:100000])
    assert s["counts"].sum() == 100000 and s["nan"] == 0

    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "stats_numpy.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("\nwrote %s" % os.path.join(RESULTS, "stats_numpy.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
