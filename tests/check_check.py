#!/usr/bin/python3
"""tests/check_check.py - `qscope check` (the dtype doctor) on files it has
never seen, against numpy's own casts.

usage: tests/check_check.py [SEED]      (from the project root; QSCOPE=./qscope)

Writes safetensors files with a seeded numpy RNG: BF16 weights with planted
values that overflow FP16, BF16 weights with a block of tiny values that
flush to zero, BF16 bytes under an F16 header and F16 bytes under a BF16
header, clean F16/BF16/F32 weights, and a model folder whose config.json
says torch_dtype float16 over BF16 shards.  Runs `$QSCOPE check --json` and
compares the overflow / flush / subnormal counts with numpy's float16 cast
(round to nearest even) of the same values, the mislabel direction, the
config finding, and the exit statuses (1 when something breaks, 0 when
clean, 2 on bad input).

Prints "ok   what" / "FAIL what: why" lines and "N passed, N failed";
exit status 1 if anything failed.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qstest import QSCOPE, fail, finish, ok  # noqa: E402
from qstest import write_safetensors as write_st  # noqa: E402

TIMEOUT = 60


def to_bf16_bits(x):
    """float32 -> bf16 bit patterns, round to nearest even (finite x)."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_values(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def run(path, *opts):
    p = subprocess.run([QSCOPE, "check", "--json", *opts, path],
                       capture_output=True, timeout=TIMEOUT)
    try:
        doc = json.loads(p.stdout) if p.stdout else None
    except ValueError:
        doc = None
    return p.returncode, doc, p.stderr.decode(errors="replace")


def f16_counts(x):
    """What numpy's float16 cast does to the finite values x."""
    x = np.asarray(x, dtype=np.float32)
    x = x[np.isfinite(x)]
    with np.errstate(over="ignore"):
        y = x.astype(np.float16)
    nz = x != 0
    return {
        "overflow": int(np.sum(np.isinf(y))),
        "flushed": int(np.sum(nz & (y == 0))),
        "subnormal": int(np.sum((y != 0) & (np.abs(y) < 2.0 ** -14))),
    }


def findings(doc, tensor=None, kind=None):
    out = []
    for f in (doc or {}).get("findings", []):
        if tensor is not None and f.get("tensor") != tensor:
            continue
        if kind is not None and f.get("kind") != kind:
            continue
        out.append(f)
    return out


def check_counts(what, doc, tensor, want):
    fs = findings(doc, tensor, "cast")
    if len(fs) != 1:
        fail(what, "want one cast finding for %s, got %r" % (tensor, fs))
        return
    got = {k: fs[0]["counts"].get(k) for k in want}
    if got == want:
        ok("%s: %s" % (what, want))
    else:
        fail(what, "counts %r, numpy says %r" % (got, want))


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 20261127
    print("seed %d" % seed)
    rng = np.random.default_rng(seed)
    tmp = tempfile.mkdtemp(prefix="qscope-check-")

    def weights(shape, sd=0.02):
        w = rng.normal(0, sd, size=shape).astype(np.float32)
        # no chance flushes: a clean tensor is clean
        tiny = np.abs(w) < 2.0 ** -24
        w[tiny] = 2.0 ** -20
        return w

    # 1. BF16 that overflows FP16
    w = weights((128, 256))
    idx = rng.choice(w.size, size=9, replace=False)
    planted = [7e4, -7e4, 1.2e5, 65504, 65520, -65536, 3e38, 65280, -65000]
    w.flat[idx] = planted
    big = w.copy()
    b = to_bf16_bits(w)
    p = os.path.join(tmp, "overflow.safetensors")
    write_st(p, [("big", "BF16", w.shape, b.tobytes())])
    rc, doc, err = run(p)
    check_counts("BF16 overflow", doc, "big", f16_counts(bf16_values(b)))
    if rc == 1:
        ok("overflow exits 1")
    else:
        fail("overflow exit status", "%d (%s)" % (rc, err.strip()))

    # 2. BF16 with a dead head: a block of values that flush
    w = weights((256, 128))
    w[32:64] = rng.uniform(1e-9, 2.9e-8, size=(32, 128)) * \
        rng.choice([-1, 1], size=(32, 128))
    w[70, :5] = [2.0 ** -25, 2.0 ** -24, 3e-8, 6e-8, 1e-5]
    b = to_bf16_bits(w)
    p = os.path.join(tmp, "tiny.safetensors")
    write_st(p, [("tiny", "BF16", w.shape, b.tobytes())])
    rc, doc, err = run(p)
    want = f16_counts(bf16_values(b))
    check_counts("BF16 flush", doc, "tiny", want)
    if rc == 1 and want["flushed"] >= 4096:
        ok("flushed block exits 1")
    else:
        fail("flush exit status", "%d (%s)" % (rc, err.strip()))
    if not findings(doc, "tiny", "mislabel"):
        ok("a dead head is not a mislabel")
    else:
        fail("dead head", "flagged as mislabelled")

    # 3. mislabelled both ways, at several scales
    for sd in (0.005, 0.02, 0.1):
        w = weights((64, 512), sd)
        p = os.path.join(tmp, "bf16-as-f16.safetensors")
        write_st(p, [("w", "F16", w.shape, to_bf16_bits(w).tobytes())])
        rc, doc, err = run(p)
        fs = findings(doc, "w", "mislabel")
        if fs and fs[0]["counts"].get("plausible") == "BF16" and rc == 1:
            ok("BF16 bytes under F16 header (sd %g): found, confidence %.2f"
               % (sd, fs[0]["counts"]["confidence"]))
        else:
            fail("BF16 bytes under F16 header (sd %g)" % sd,
                 "rc %d, findings %r" % (rc, (doc or {}).get("findings")))
        p = os.path.join(tmp, "f16-as-bf16.safetensors")
        write_st(p, [("w", "BF16", w.shape, w.astype(np.float16).tobytes())])
        rc, doc, err = run(p)
        fs = findings(doc, "w", "mislabel")
        if fs and fs[0]["counts"].get("plausible") == "F16" and rc == 1:
            ok("F16 bytes under BF16 header (sd %g): found, confidence %.2f"
               % (sd, fs[0]["counts"]["confidence"]))
        else:
            fail("F16 bytes under BF16 header (sd %g)" % sd,
                 "rc %d, findings %r" % (rc, (doc or {}).get("findings")))

    # 4. clean tensors: nothing at all, exit 0
    tensors = []
    for sd in (0.002, 0.02, 0.3):
        w = weights((64, 256), max(sd, 0.02))
        tensors.append(("f16.%g" % sd, "F16", w.shape,
                        (rng.normal(0, sd, size=w.shape)
                         .astype(np.float16).tobytes())))
        tensors.append(("bf16.%g" % sd, "BF16", w.shape,
                        to_bf16_bits(w).tobytes()))
        tensors.append(("f32.%g" % sd, "F32", w.shape, w.tobytes()))
    norm = (1 + rng.normal(0, 0.05, size=256)).astype(np.float32)
    tensors.append(("norm.f16", "F16", norm.shape,
                    norm.astype(np.float16).tobytes()))
    tensors.append(("norm.bf16", "BF16", norm.shape,
                    to_bf16_bits(norm).tobytes()))
    tensors.append(("norm.f32", "F32", norm.shape, norm.tobytes()))
    p = os.path.join(tmp, "clean.safetensors")
    write_st(p, tensors)
    rc, doc, err = run(p)
    if rc == 0 and doc is not None and doc.get("findings") == []:
        ok("clean F16/BF16/F32 tensors: no findings, exit 0")
    else:
        fail("clean tensors", "rc %d, findings %r %s" %
             (rc, (doc or {}).get("findings"), err.strip()))

    # 5. a folder: config.json says float16, the shards hold BF16
    d = os.path.join(tmp, "folder")
    os.mkdir(d)
    wmap = {}
    for i in range(2):
        name = "model-%05d-of-00002.safetensors" % (i + 1)
        w = weights((64, 128))
        write_st(os.path.join(d, name),
                 [("layer%d.weight" % i, "BF16", w.shape,
                   to_bf16_bits(w).tobytes())])
        wmap["layer%d.weight" % i] = name
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 2 * 64 * 128 * 2},
                   "weight_map": wmap}, f)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"model_type": "llama", "torch_dtype": "float16"}, f)
    rc, doc, err = run(d)
    fs = findings(doc, None, "config")
    if (len(fs) == 1 and fs[0]["tensor"] is None and
            fs[0]["counts"].get("declared") == "F16" and
            fs[0]["counts"].get("stored") == "BF16" and rc == 0):
        ok("config.json float16 over BF16 shards: warned, exit 0")
    else:
        fail("config mismatch", "rc %d, findings %r %s" %
             (rc, (doc or {}).get("findings"), err.strip()))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"model_type": "llama", "torch_dtype": "bfloat16"}, f)
    rc, doc, err = run(d)
    if rc == 0 and doc is not None and doc.get("findings") == []:
        ok("config.json bfloat16 over BF16 shards: nothing")
    else:
        fail("config agreement", "rc %d, findings %r" %
             (rc, (doc or {}).get("findings")))

    # 6. --cast, text form, bad input
    p = os.path.join(tmp, "overflow.safetensors")
    rc, doc, err = run(p, "--cast", "bf16")
    if rc == 0 and not findings(doc, "big", "cast"):
        ok("--cast bf16 on BF16: no cast to check, exit 0")
    else:
        fail("--cast bf16", "rc %d %r" % (rc, doc))
    rc, doc, err = run(p, "--cast", "fp8-e4m3")
    fs = findings(doc, "big", "cast")
    # PyTorch's E4M3 cast: |x| > 464 rounds past 448 to NaN
    v = bf16_values(to_bf16_bits(big))
    want = int(np.sum(np.abs(v[np.isfinite(v)]) > 464))
    if fs and fs[0]["counts"]["overflow"] == want and rc == 1:
        ok("--cast fp8-e4m3: %d overflow, as expected" % want)
    else:
        fail("--cast fp8-e4m3", "rc %d, want %d overflow, %r" % (rc, want, fs))
    t = subprocess.run([QSCOPE, "check", p], capture_output=True,
                       timeout=TIMEOUT)
    lines = t.stdout.decode().splitlines()
    if (t.returncode == 1 and lines and lines[0].split()[:3] ==
            ["error", "cast", "big"]):
        ok("text form: '%s'" % lines[0])
    else:
        fail("text form", "rc %d %r" % (t.returncode, lines))
    for args, what in (([], "no PATH"), (["--cast", "f8", p], "bad --cast"),
                       ([os.path.join(tmp, "missing")], "missing file")):
        t = subprocess.run([QSCOPE, "check", *args], capture_output=True,
                           timeout=TIMEOUT)
        if t.returncode == 2:
            ok("%s exits 2" % what)
        else:
            fail(what, "exit %d" % t.returncode)

    for root, dirs, files in os.walk(tmp, topdown=False):
        for f in files:
            os.unlink(os.path.join(root, f))
        for dd in dirs:
            os.rmdir(os.path.join(root, dd))
    os.rmdir(tmp)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
