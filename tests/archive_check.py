#!/usr/bin/python3
"""tests/archive_check.py - numpy files and archives against numpy itself.

usage: tests/archive_check.py          (from the project root; QSCOPE=./qscope)

Writes .npy files of every dtype qscope reads (C and Fortran order,
big-endian, 0-d, empty), .npz files (stored and deflated), and a small
sharded safetensors folder packed with Debian's tar, gzip, zstd and xz and
with python's zipfile; checks `qscope list --json` and `qscope stats --json`
against numpy (names, dtypes, shapes, params, bytes, min, max, mean, nan,
inf) and every archive against the folder it packs.  Then malformed inputs:
truncated .npy headers, an object array, a zip member claiming terabytes, a
gzip bomb (the ratio limit), a truncated .tar.gz - each must exit 2 with one
line on stderr and no crash.

Prints "ok   what" / "FAIL what: why" lines and ends with "N passed,
N failed"; exit status 1 if anything failed.  Needs python3-numpy.
"""
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qstest  # noqa: E402
from qstest import QSCOPE, finish, report  # noqa: E402

TIMEOUT = 60

DTYPES = {"f2": "F16", "f4": "F32", "f8": "F64", "i1": "I8", "i2": "I16",
          "i4": "I32", "i8": "I64", "u1": "U8", "u2": "U16", "u4": "U32",
          "u8": "U64", "b1": "BOOL"}


def run(*args):
    try:
        p = subprocess.run([QSCOPE] + list(args), capture_output=True,
                           text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, "timed out"
    return p, None


def qjson(cmd, path):
    p, err = run(cmd, "--json", path)
    if err:
        return None, err
    if p.returncode != 0:
        return None, "%s exit %d: %s" % (cmd, p.returncode,
                                          p.stderr.strip()[:200])
    try:
        return json.loads(p.stdout), None
    except ValueError as e:
        return None, "%s printed no JSON (%s)" % (cmd, e)


def close(a, b, rel=1e-6, ab=1e-30):
    if a is None or b is None:
        return a is b
    return abs(a - b) <= ab + rel * max(abs(a), abs(b))


def matches(got, name):
    return got == name or got.endswith(":" + name) or got.endswith("/" + name)


def expect(arrays):
    """What qscope should say of {name: ndarray}."""
    out = {}
    for name, a in arrays.items():
        kind = a.dtype.str[1:]
        v = np.asarray(a, dtype=np.float64).ravel()
        fin = v[np.isfinite(v)]
        out[name] = {
            "dtype": DTYPES[kind], "shape": list(a.shape),
            "params": int(a.size), "bytes": int(a.nbytes),
            "min": float(fin.min()) if fin.size else None,
            "max": float(fin.max()) if fin.size else None,
            "mean": float(fin.mean()) if fin.size else None,
            "nan": int(np.isnan(v).sum()), "inf": int(np.isinf(v).sum()),
        }
    return out


def check(what, path, want):
    """list and stats of path against want = expect(...)."""
    problems = []
    lst, err = qjson("list", path)
    if err:
        return report(what, [err])
    got = {t["name"]: t for t in lst["tensors"]}
    for name, w in want.items():
        g = [k for k in got if matches(k, name)]
        if not g:
            problems.append("missing %r (have %s)" % (name, sorted(got)[:4]))
            continue
        t = got[g[0]]
        for k in ("dtype", "shape", "params", "bytes"):
            if t.get(k) != w[k]:
                problems.append("%s: %s %r, expected %r" % (name, k,
                                                            t.get(k), w[k]))
    if len(got) != len(want):
        problems.append("%d tensors, expected %d" % (len(got), len(want)))
    if not problems:
        st, err = qjson("stats", path)
        if err:
            return report(what, [err])
        got = {t["name"]: t for t in st["tensors"]}
        for name, w in want.items():
            g = [k for k in got if matches(k, name)]
            if not g:
                problems.append("stats: missing %r" % name)
                continue
            t = got[g[0]]
            for k in ("min", "max"):
                if not close(t.get(k), w[k], 1e-7):
                    problems.append("%s: %s %r, expected %r" % (
                        name, k, t.get(k), w[k]))
            if w["mean"] is not None and not close(t.get("mean"), w["mean"],
                                                   1e-5, 1e-7):
                problems.append("%s: mean %r, expected %r" % (
                    name, t.get("mean"), w["mean"]))
            for k in ("nan", "inf"):
                if t.get(k) != w[k]:
                    problems.append("%s: %s %r, expected %r" % (
                        name, k, t.get(k), w[k]))
    report(what, problems)


def refused(what, path, needle=""):
    p, err = run("list", path)
    if err:
        return report(what, [err])
    lines = p.stderr.strip().splitlines()
    problems = []
    if p.returncode != 2:
        problems.append("exit %d, expected 2" % p.returncode)
    if len(lines) != 1:
        problems.append("%d lines on stderr: %r" % (len(lines),
                                                    p.stderr[:300]))
    elif needle not in lines[0]:
        problems.append("message %r lacks %r" % (lines[0], needle))
    report(what, problems)


def sample(rng, kind, shape):
    if kind == "b1":
        return rng.random(shape) < 0.5
    if kind[0] == "f":
        a = rng.standard_normal(shape).astype("<" + kind)
        if a.size > 3:
            a.flat[1] = np.nan
            a.flat[2] = -np.inf
        return a
    info = np.iinfo("<" + kind)
    return rng.integers(info.min, info.max, size=shape, dtype="<" + kind,
                        endpoint=True)


def npy_cases(tmp, rng):
    for kind in DTYPES:
        for order in ("C", "F"):
            for endian in ("<", ">"):
                if endian == ">" and kind in ("i1", "u1", "b1"):
                    continue
                a = sample(rng, kind, (3, 4, 5))
                a = np.asarray(a, dtype=endian + kind, order=order)
                if order == "F":
                    a = np.asfortranarray(a)
                name = "%s-%s-%s.npy" % (kind, order,
                                         "be" if endian == ">" else "le")
                p = os.path.join(tmp, name)
                np.save(p, a)
                check("npy %s" % name, p, expect({"": a}))
    a = np.array(3.5, dtype="<f8")
    p = os.path.join(tmp, "scalar.npy")
    np.save(p, a)
    check("npy 0-d", p, expect({"": a}))
    a = np.zeros((0, 3), dtype="<f4")
    p = os.path.join(tmp, "empty.npy")
    np.save(p, a)
    check("npy empty", p, expect({"": a}))
    # Version 2.0 (a header longer than 65535 bytes is what forces it;
    # numpy writes it when asked).
    from numpy.lib import format as npf
    a = sample(rng, "f4", (7, 9))
    p = os.path.join(tmp, "v2.npy")
    with open(p, "wb") as f:
        npf.write_array(f, a, version=(2, 0))
    check("npy version 2.0", p, expect({"": a}))
    p = os.path.join(tmp, "v3.npy")
    with open(p, "wb") as f:
        npf.write_array(f, a, version=(3, 0))
    check("npy version 3.0", p, expect({"": a}))


def npz_cases(tmp, rng):
    arrays = {"w": sample(rng, "f4", (16, 8)),
              "h": sample(rng, "f2", (33,)),
              "fort": np.asfortranarray(sample(rng, "f8", (4, 6))),
              "be": sample(rng, "i4", (10,)).astype(">i4"),
              "mask": sample(rng, "b1", (9,)),
              "s": np.array(7, dtype="<i8")}
    p = os.path.join(tmp, "stored.npz")
    np.savez(p, **arrays)
    check("npz stored", p, expect(arrays))
    p = os.path.join(tmp, "deflated.npz")
    np.savez_compressed(p, **arrays)
    check("npz deflated", p, expect(arrays))
    p = os.path.join(tmp, "positional.npz")
    np.savez(p, arrays["w"], arrays["h"])
    check("npz positional", p, expect({"arr_0": arrays["w"],
                                       "arr_1": arrays["h"]}))


def write_safetensors(path, tensors):
    names = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16",
             np.dtype("<i8"): "I64"}
    qstest.write_safetensors(path, [(n, names[a.dtype], a.shape, a.tobytes())
                                    for n, a in tensors.items()],
                             {"format": "pt"})


def archive_cases(tmp, rng):
    folder = os.path.join(tmp, "tiny")
    os.mkdir(folder)
    shards = [{"a.weight": sample(rng, "f4", (32, 16)),
               "a.bias": sample(rng, "f2", (32,))},
              {"b.weight": sample(rng, "f4", (8, 32)),
               "b.steps": np.arange(5, dtype="<i8")}]
    wmap, allt = {}, {}
    for i, s in enumerate(shards):
        fn = "model-%05d-of-%05d.safetensors" % (i + 1, len(shards))
        write_safetensors(os.path.join(folder, fn), s)
        for k in s:
            wmap[k] = fn
        allt.update(s)
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": wmap}, f)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"model_type": "tiny", "torch_dtype": "float32"}, f)
    want = expect(allt)
    check("folder itself", folder, want)

    tar = os.path.join(tmp, "tiny.tar")
    subprocess.run(["tar", "-cf", tar, "-C", tmp, "tiny"], check=True)
    check("tar", tar, want)
    for tool, ext in (("gzip", "gz"), ("zstd", "zst"), ("xz", "xz")):
        out = tar + "." + ext
        with open(tar, "rb") as fi, open(out, "wb") as fo:
            subprocess.run([tool, "-c"], stdin=fi, stdout=fo, check=True,
                           stderr=subprocess.DEVNULL)
        check("tar+%s" % tool, out, want)
    for method, label in ((zipfile.ZIP_STORED, "stored"),
                          (zipfile.ZIP_DEFLATED, "deflated")):
        zp = os.path.join(tmp, "tiny-%s.zip" % label)
        with zipfile.ZipFile(zp, "w", method) as z:
            for fn in sorted(os.listdir(folder)):
                z.write(os.path.join(folder, fn), "tiny/" + fn)
        check("zip %s" % label, zp, want)
    # A lone compressed safetensors file, and a lone compressed .npy.
    one = os.path.join(folder, "model-00001-of-00002.safetensors")
    for tool, ext in (("zstd", "zst"), ("gzip", "gz")):
        out = os.path.join(tmp, "one.safetensors." + ext)
        with open(one, "rb") as fi, open(out, "wb") as fo:
            subprocess.run([tool, "-c"], stdin=fi, stdout=fo, check=True,
                           stderr=subprocess.DEVNULL)
        check("lone .%s safetensors" % ext, out, expect(shards[0]))
    a = sample(rng, "f4", (5, 5))
    np.save(os.path.join(tmp, "lone.npy"), a)
    with open(os.path.join(tmp, "lone.npy"), "rb") as fi, \
            open(os.path.join(tmp, "lone.npy.zst"), "wb") as fo:
        subprocess.run(["zstd", "-c"], stdin=fi, stdout=fo, check=True,
                       stderr=subprocess.DEVNULL)
    check("lone .zst npy", os.path.join(tmp, "lone.npy.zst"),
          expect({"": a}))
    # Two unrelated checkpoints in one tar: names are prefixed.
    mix = os.path.join(tmp, "mix")
    os.mkdir(mix)
    np.save(os.path.join(mix, "x.npy"), a)
    shutil.copy(one, os.path.join(mix, "one.safetensors"))
    mt = os.path.join(tmp, "mix.tar")
    subprocess.run(["tar", "-cf", mt, "-C", tmp, "mix"], check=True)
    w = expect(dict(shards[0]))
    w["mix/x.npy:"] = expect({"": a})[""]
    check("tar of unrelated checkpoints", mt, w)
    lst, err = qjson("list", mt)
    names = sorted(t["name"] for t in lst["tensors"]) if lst else []
    report("unrelated members are prefixed",
           [] if "mix/one.safetensors:a.weight" in names else
           ["names %r" % names[:4]])
    return tar


def malformed_cases(tmp, tar):
    good = io.BytesIO()
    np.save(good, np.arange(6, dtype="<f4"))
    g = good.getvalue()
    hlen = struct.unpack("<H", g[8:10])[0]
    for cut in (5, 9, 20, 10 + hlen - 1, 10 + hlen + 3):
        p = os.path.join(tmp, "cut%d.npy" % cut)
        with open(p, "wb") as f:
            f.write(g[:cut])
        refused("truncated npy at %d bytes" % cut, p)
    p = os.path.join(tmp, "biglen.npy")
    with open(p, "wb") as f:
        f.write(g[:8] + b"\xff\xff" + g[10:])
    refused("npy header length past the end", p, "header")
    p = os.path.join(tmp, "obj.npy")
    np.save(p, np.array([1, "a", None], dtype=object), allow_pickle=True)
    refused("object array", p,
            "object arrays (pickled Python objects) are not read")

    # A zip member claiming terabytes (ZIP64 sizes rewritten).
    zp = os.path.join(tmp, "claims.zip")
    with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("huge.npy", g)
    data = bytearray(open(zp, "rb").read())
    cd = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, cd + 24, 0xFFFFFFFF)   # usize -> zip64
    # Append a zip64 extra field with 4 TiB as the uncompressed size.
    nlen, xlen, clen = struct.unpack_from("<HHH", data, cd + 28)
    extra = struct.pack("<HHQ", 1, 8, 4 << 40)
    pos = cd + 46 + nlen
    data[pos:pos] = extra
    struct.pack_into("<H", data, cd + 30, xlen + len(extra))
    eocd = data.rfind(b"PK\x05\x06")
    size = struct.unpack_from("<I", data, eocd + 12)[0]
    struct.pack_into("<I", data, eocd + 12, size + len(extra))
    with open(zp, "wb") as f:
        f.write(data)
    refused("zip member claiming 4 TiB", zp, "claims")

    # 200 MB of zeros, gzipped: refused by the ratio limit.
    bomb = os.path.join(tmp, "bomb.npy.gz")
    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        hdr, {"descr": "<f4", "fortran_order": False,
              "shape": (50 * 1000 * 1000,)})
    with open(bomb, "wb") as f:
        p = subprocess.Popen(["gzip", "-c"], stdin=subprocess.PIPE, stdout=f)
        p.stdin.write(hdr.getvalue())
        chunk = bytes(1 << 20)
        for _ in range(200):
            p.stdin.write(chunk)
        p.stdin.close()
        p.wait()
    refused("gzip bomb (200 MB of zeros)", bomb, "decompression bomb")

    tgz = os.path.join(tmp, "cut.tar.gz")
    whole = subprocess.run(["gzip", "-c", tar], capture_output=True,
                           check=True).stdout
    with open(tgz, "wb") as f:
        f.write(whole[:len(whole) // 2])
    refused("truncated .tar.gz", tgz, "truncated")
    tz = os.path.join(tmp, "cut.zip")
    with zipfile.ZipFile(tz, "w") as z:
        z.writestr("a.npy", g)
    with open(tz, "rb") as f:
        b = f.read()
    with open(tz, "wb") as f:
        f.write(b[:len(b) - 10])
    refused("truncated .zip", tz)
    p = os.path.join(tmp, "notar.tar.zst")
    with open(p, "wb") as f:
        f.write(b"\x28\xb5\x2f\xfd" + b"\x00" * 40)
    refused("garbage after a zstd magic", p)


def main():
    rng = np.random.default_rng(20261127)
    tmp = tempfile.mkdtemp(prefix="qscope-archive-")
    try:
        npy_cases(tmp, rng)
        npz_cases(tmp, rng)
        tar = archive_cases(tmp, rng)
        malformed_cases(tmp, tar)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(finish())


if __name__ == "__main__":
    main()
