#!/usr/bin/python3
"""tests/stats_check.py - `qscope stats` against values computed here.

usage: tests/stats_check.py [SEED]      (from the project root; QSCOPE=./qscope)

Writes safetensors files that qscope has never seen (seeded RNG; the seed is
printed, pass it back to reproduce a run): F32 with NaN, both infinities,
zeros of both signs and subnormals; BF16 and F16 with values on bin edges;
integers; a constant; all-NaN; an empty tensor; a C64 tensor qscope cannot
decode; tensors long enough to cross its chunks.  Runs
`$QSCOPE stats --json` on them and checks the document against the schema
({"tensors": [{"name", "count", "min", "max", "mean", "std", "absmax",
"zeros", "nan", "inf", "histogram": {"lo", "hi", "counts"}}]}, or
{"name", "skipped"}), every number against an independent computation in
Python (float64 sums; the histogram by its definition: bins of equal width
over [min, max], edges i * ((hi - lo) / n) + lo as numpy.linspace makes them,
a value in the last bin whose edge is <= it, hi in the last bin), then the
options (--bins, NAME globs, errors) and the table form.

Prints one line per case ("ok   what" / "FAIL what: why") and ends with
"N passed, N failed"; exit status 1 if anything failed.  Standard library
only; files go to a temporary folder.
"""
import json
import math
import os
import random
import re
import struct
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qstest  # noqa: E402
from qstest import check, fail, finish, ok, run_rc  # noqa: E402

TIMEOUT = 60
KEYS = {"name", "count", "min", "max", "mean", "std", "absmax", "zeros",
        "nan", "inf", "histogram"}


# ---------------------------------------------------------------------------
# Writing safetensors files (FORMATS.md 1.1-1.5) and decoding the values back
# ---------------------------------------------------------------------------

def f32(v):
    """v rounded to float32, as a Python float."""
    return struct.unpack("<f", struct.pack("<f", v))[0]


def enc(dtype, vals):
    """(bytes, decoded float values) of vals stored as dtype."""
    if dtype == "F32":
        b = struct.pack("<%df" % len(vals), *vals)
        return b, list(struct.unpack("<%df" % len(vals), b))
    if dtype == "F16":
        b = struct.pack("<%de" % len(vals), *vals)
        return b, list(struct.unpack("<%de" % len(vals), b))
    if dtype == "BF16":
        # Keep the top half of the float32 pattern (truncation: qscope
        # only decodes, so how the bits came about does not matter).
        hi = [struct.unpack("<I", struct.pack("<f", v))[0] >> 16 for v in vals]
        b = struct.pack("<%dH" % len(hi), *hi)
        return b, [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in hi]
    if dtype == "I8":
        b = struct.pack("<%db" % len(vals), *vals)
        return b, [float(v) for v in vals]
    if dtype == "U8":
        b = struct.pack("<%dB" % len(vals), *vals)
        return b, [float(v) for v in vals]
    if dtype == "C64":
        b = struct.pack("<%df" % (2 * len(vals)), *[x for v in vals for x in (v, -v)])
        return b, None
    raise ValueError(dtype)


def write_safetensors(path, tensors):
    """tensors: [(name, dtype, shape, values)]; returns {name: decoded}."""
    parts, decoded = [], {}
    for name, dtype, shape, vals in tensors:
        b, decoded[name] = enc(dtype, vals)
        parts.append((name, dtype, shape, b))
    qstest.write_safetensors(path, parts)
    return decoded


# ---------------------------------------------------------------------------
# The expected statistics
# ---------------------------------------------------------------------------

def expected(vals, nbins):
    fin = [v for v in vals if math.isfinite(v)]
    e = {"count": len(vals), "nan": sum(1 for v in vals if math.isnan(v)),
         "inf": sum(1 for v in vals if math.isinf(v)),
         "zeros": sum(1 for v in fin if v == 0)}
    if not fin:
        e.update(min=None, max=None, mean=None, std=None, absmax=0,
                 hist={"lo": None, "hi": None, "counts": [0]})
        return e
    lo, hi = min(fin), max(fin)
    mean = math.fsum(fin) / len(fin)
    e.update(min=lo, max=hi, mean=mean, absmax=max(abs(lo), abs(hi)),
             std=math.sqrt(math.fsum((v - mean) ** 2 for v in fin) / len(fin)))
    n = 1 if lo == hi else nbins
    counts = [0] * n
    step = (hi - lo) / n
    edges = [i * step + lo for i in range(n)]
    for v in fin:
        k = 0
        # the last bin whose edge is <= v (bisect over the edges)
        a, b = 0, n - 1
        while a < b:
            m = (a + b + 1) // 2
            if edges[m] <= v:
                a = m
            else:
                b = m - 1
        k = a
        counts[k] += 1
    e["hist"] = {"lo": lo, "hi": hi, "counts": counts}
    return e


def close(a, b, rel, ab=0.0):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= ab + rel * max(abs(a), abs(b))


def compare(what, got, vals, nbins):
    """Check one tensor of the JSON against the values."""
    if set(got) != KEYS:
        fail(what, "keys %s" % sorted(got))
        return
    e = expected(vals, nbins)
    why = []
    for k in ("count", "nan", "inf", "zeros"):
        if not isinstance(got[k], int) or isinstance(got[k], bool) or got[k] != e[k]:
            why.append("%s %r, expected %r" % (k, got[k], e[k]))
    # min, max, absmax are float32 values printed to round-trip: exact.
    for k in ("min", "max", "absmax"):
        if got[k] != e[k] or (got[k] is not None and not isinstance(got[k], (int, float))):
            why.append("%s %r, expected %r" % (k, got[k], e[k]))
    scale = e["absmax"] or 1
    if not close(got["mean"], e["mean"], 1e-12, 1e-15 * scale):
        why.append("mean %r, expected %r" % (got["mean"], e["mean"]))
    if not close(got["std"], e["std"], 1e-9, 1e-12 * scale):
        why.append("std %r, expected %r" % (got["std"], e["std"]))
    h = got["histogram"]
    if not isinstance(h, dict) or set(h) != {"lo", "hi", "counts"}:
        why.append("histogram %r" % (h,))
    else:
        if h["lo"] != e["hist"]["lo"] or h["hi"] != e["hist"]["hi"]:
            why.append("histogram range [%r, %r], expected [%r, %r]" % (
                h["lo"], h["hi"], e["hist"]["lo"], e["hist"]["hi"]))
        if h["counts"] != e["hist"]["counts"]:
            diff = [i for i, (a, b) in enumerate(zip(h["counts"], e["hist"]["counts"]))
                    if a != b]
            why.append("histogram counts differ (%d bins, expected %d; first "
                       "difference at bin %s)" % (len(h["counts"]),
                                                  len(e["hist"]["counts"]),
                                                  diff[:1]))
    if why:
        fail(what, "; ".join(why[:3]))
    else:
        ok(what)


def run(*args):
    return run_rc(*args, timeout=TIMEOUT)


def stats_json(what, *args):
    rc, out, err = run("stats", "--json", *args)
    if rc != 0:
        fail(what, "exit %s: %s" % (rc, err.strip()[:200]))
        return None
    if re.search(r"\b(nan|NaN|inf|Infinity)\b", out.replace('"', " ")) and \
            not re.search(r'"(nan|inf)"', out):
        fail(what, "non-JSON number in the output")
        return None
    try:
        doc = json.loads(out)
    except ValueError as ex:
        fail(what, "not JSON: %s" % ex)
        return None
    if set(doc) != {"tensors"} or not isinstance(doc["tensors"], list):
        fail(what, "top level %s" % sorted(doc))
        return None
    return doc


# ---------------------------------------------------------------------------

def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else random.randrange(1 << 30)
    print("seed %d" % seed)
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="qscope-stats-")
    path = os.path.join(tmp, "values.safetensors")

    mixed = [rng.gauss(0, 1) for _ in range(1000)]
    mixed[10:20] = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-45,
                    -1e-40, 3.4e38, -3.4e38, math.nan]
    big = [rng.gauss(0, 0.02) for _ in range(7 * 10001)]
    big[123] *= 50
    # BF16 values land on edges often (powers of two); F16 likewise.
    bf = [rng.choice([0.5, -0.25, 0.125, 1.0, -1.0, 0.0]) if i % 7 == 0
          else rng.gauss(0, 0.3) for i in range(20000)]
    tensors = [
        ("f32.mixed", "F32", [1000], mixed),
        ("f32.big", "F32", [7, 10001], big),
        ("bf16.edges", "BF16", [20000], bf),
        ("f16.edges", "F16", [100, 200], [max(-60000.0, min(60000.0, v * 100)) for v in bf]),
        # past 128 Ki values qscope counts BF16 and F16 values by code
        ("bf16.big", "BF16", [400, 400], [rng.gauss(0, 0.02) if i % 5 else
                                          rng.choice([0.0, 1.0, -0.5, 1e-9])
                                          for i in range(160000)]),
        ("f16.big", "F16", [400, 400], [rng.gauss(0, 2) if i % 9 else
                                        rng.choice([0.0, -0.0, 6e-8, -65504.0, 1e-5])
                                        for i in range(160000)]),
        ("i8.ramp", "I8", [256], list(range(-128, 128))),
        ("u8.small", "U8", [3, 5], [rng.randrange(256) for _ in range(15)]),
        ("const", "F32", [513], [0.1] * 513),
        ("all.nan", "F32", [9], [math.nan] * 9),
        ("empty", "F32", [0], []),
        ("scalar", "BF16", [], [-2.5]),
        ("complex", "C64", [4], [1.0, 2.0, 3.0, 4.0]),
    ]
    decoded = write_safetensors(path, tensors)
    names = [t[0] for t in tensors]

    # -- the whole file, default 64 bins --
    doc = stats_json("stats --json", path)
    if doc:
        got = {t.get("name"): t for t in doc["tensors"]}
        check("stats --json: one entry per tensor, in file order",
              [t.get("name") for t in doc["tensors"]] == names,
              "names %s" % [t.get("name") for t in doc["tensors"]])
        for name in names:
            if name not in got:
                continue
            if decoded[name] is None:
                check("%s: skipped with the reason" % name,
                      got[name] == {"name": name, "skipped":
                                    "values of dtype C64 cannot be decoded"},
                      "got %r" % got[name])
            else:
                compare("%s (64 bins)" % name, got[name], decoded[name], 64)

    # -- --bins, and NAME globs --
    doc = stats_json("stats --bins 7 'f*' const", "--bins", "7", path,
                     "f*", "const")
    if doc:
        sel = [t["name"] for t in doc["tensors"]]
        check("NAME globs select, in file order",
              sel == ["f32.mixed", "f32.big", "f16.edges", "f16.big", "const"],
              "got %s" % sel)
        for t in doc["tensors"]:
            compare("%s (7 bins)" % t["name"], t, decoded[t["name"]], 7)
    doc = stats_json("stats --bins 1", "--bins", "1", path, "bf16.edges")
    if doc:
        compare("bf16.edges (1 bin)", doc["tensors"][0], decoded["bf16.edges"], 1)
    doc = stats_json("stats --bins 1000", "--bins", "1000", path, "f32.big")
    if doc:
        compare("f32.big (1000 bins)", doc["tensors"][0], decoded["f32.big"], 1000)

    # options may follow PATH; "--" ends them
    rc, out, err = run("stats", path, "const", "--bins", "5", "--json")
    rc2, out2, err2 = run("stats", "--json", "--bins", "5", "--", path, "const")
    check("options after PATH, and --",
          rc == 0 and rc2 == 0 and out == out2 and
          json.loads(out)["tensors"][0]["histogram"]["counts"] == [513],
          "exit %s/%s: %s%s" % (rc, rc2, err[:100], err2[:100]))

    # -- errors: exit 2, one line on stderr --
    for what, args in [
            ("a NAME that matches nothing", [path, "f32.mixed", "nope*"]),
            ("--bins 0", ["--bins", "0", path]),
            ("--bins x", ["--bins", "x", path]),
            ("no PATH", []),
            ("a missing file", [os.path.join(tmp, "missing.safetensors")])]:
        rc, out, err = run("stats", *args)
        lines = [l for l in err.splitlines() if l.strip()]
        check("error: %s exits 2 with a message" % what,
              rc == 2 and lines and lines[0].startswith("qscope: ") and out == "",
              "exit %s, stdout %r, stderr %r" % (rc, out[:80], err[:200]))
    rc, out, err = run("stats", path, "nope*")
    check("error: the NAME is named, in one line",
          rc == 2 and len(err.strip().splitlines()) == 1 and "nope*" in err,
          "stderr %r" % err)

    # -- the table --
    rc, out, err = run("stats", path)
    lines = out.splitlines()
    head = [l for l in lines if l.startswith("NAME")]
    if rc != 0 or len(head) != 1:
        fail("stats (table)", "exit %s, header %r, stderr %r" % (rc, head, err[:200]))
    else:
        cols = head[0].split()
        rows = lines[lines.index(head[0]) + 1:]
        want = ["NAME", "DTYPE", "COUNT", "MIN", "MAX", "MEAN", "STD",
                "ABSMAX", "ZEROS", "NAN", "INF"]
        check("table: columns", cols == want, "got %s" % cols)
        check("table: one row per tensor",
              [r.split()[0] for r in rows if r.strip()] == names,
              "rows %s" % [r.split()[:1] for r in rows])
        # numbers right-aligned under their headings
        end = head[0].index("COUNT") + len("COUNT")
        check("table: columns aligned",
              all(len(r) >= end and r[end - 1] != " " for r in rows if r.strip()),
              "rows %r" % rows[:3])
        cplx = [r for r in rows if r.startswith("complex")]
        check("table: the undecodable tensor says why",
              cplx and "cannot be decoded" in cplx[0], "row %r" % cplx)

    # -- a sharded folder: the demo checkpoint, if built --
    if os.path.isdir("demo/model"):
        doc = stats_json("stats --json demo/model", "demo/model")
        rc, out, err = run("list", "--json", "demo/model")
        if doc and rc == 0:
            lst = json.loads(out)
            check("demo: counts add up to the params of list",
                  sum(t["count"] for t in doc["tensors"]) == lst["params"] and
                  all(sum(t["histogram"]["counts"]) == t["count"] - t["nan"] - t["inf"]
                      for t in doc["tensors"]),
                  "stats %d, list %d" % (sum(t["count"] for t in doc["tensors"]),
                                         lst["params"]))

    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
