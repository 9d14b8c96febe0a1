#!/usr/bin/python3
"""bench/sampling.py - how far `qscope try --sample` estimates are from the
exact figures, and how much faster they come.

usage: bench/sampling.py [--qscope Q] [--model M] [--sample N]
                         [--schemes a,b,...] [--names GLOB ...]

For each scheme: `qscope try --json` exact and with --sample N on the same
tensors; prints the model's total relative error both ways, the relative
difference of the estimate, the worst per-tensor difference among the
tensors that were sampled, and the time of each run.  Defaults: ./qscope on
demo/model, a sample of 65536 values, eight schemes.  Writes
bench/results/sampling.json.
"""
import argparse
import json
import os
import subprocess
import sys
import time


def run(cmd):
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit("%s: exit %d: %s" % (" ".join(cmd), r.returncode,
                                     r.stderr.strip()))
    return json.loads(r.stdout), dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qscope", default="./qscope")
    ap.add_argument("--model", default="demo/model")
    ap.add_argument("--sample", default="65536")
    ap.add_argument("--schemes", default="int8,int4-g128,nf4,fp8-e4m3,"
                    "mxfp4,q8_0,q4_k,ternary")
    ap.add_argument("--names", nargs="*", default=[])
    a = ap.parse_args()

    out = []
    print("%-10s %11s %11s %9s %9s %9s %9s %9s" %
          ("scheme", "exact", "sampled", "diff", "median", "worst",
           "exact s", "sample s"))
    for s in a.schemes.split(","):
        ex, tex = run([a.qscope, "try", "--json", a.model, s] + a.names)
        sa, tsa = run([a.qscope, "try", "--json", "--sample", a.sample,
                       a.model, s] + a.names)
        per = sorted(abs(ts["rel_err"] / te["rel_err"] - 1)
                     for te, ts in zip(ex["tensors"], sa["tensors"])
                     if "sampled" in ts and te.get("rel_err") and
                     ts.get("rel_err"))
        worst = per[-1] if per else 0.0
        median = per[len(per) // 2] if per else 0.0
        e, m = ex["total"]["rel_err"], sa["total"]["rel_err"]
        diff = abs(m / e - 1) if e else 0.0
        print("%-10s %11.5g %11.5g %8.2f%% %8.2f%% %8.2f%% %9.2f %9.2f" %
              (s, e, m, 100 * diff, 100 * median, 100 * worst, tex, tsa))
        out.append({"scheme": s, "rel_err": e, "rel_err_sampled": m,
                    "diff": diff, "median_tensor_diff": median,
                    "worst_tensor_diff": worst,
                    "seconds": tex, "seconds_sampled": tsa})
    os.makedirs("bench/results", exist_ok=True)
    with open("bench/results/sampling.json", "w") as f:
        json.dump({"model": a.model, "sample": a.sample, "rows": out}, f,
                  indent=1)


if __name__ == "__main__":
    main()
