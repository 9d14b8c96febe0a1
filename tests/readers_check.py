#!/usr/bin/python3
"""tests/readers_check.py - zip streaming, unpack limits, folders of several
checkpoints, complex tensors and PyTorch zips in unusual member orders.

usage: tests/readers_check.py          (from the project root; QSCOPE=./qscope)

Writes its files with numpy, torch, zipfile and tarfile into a temporary
folder, then checks:
- a 300 MB (QS_READERS_BIG_MB) deflated .npz member and a torch checkpoint whose deflated
  storages are large: `list` peaks far below the member's size (the child's
  ru_maxrss through os.wait4), values agree with numpy/torch, and no
  temporary file is left in $TMPDIR;
- zip bombs (a member claiming what it really holds, 1000:1; a member
  claiming less than it holds) and a gzip bomb: refused with one line
  naming QSCOPE_MAX_RATIO, before allocating what they expand to;
  QSCOPE_MAX_RATIO / QSCOPE_MAX_UNPACKED let them through, or refuse a
  file under a small limit; malformed values are errors;
- folders: unrelated checkpoints (two safetensors, a .gguf beside a
  .safetensors, a safetensors and a torch file holding the same names) list
  every tensor prefixed with its file and name the files in the
  "checkpoints" metadata; shards without an index stay one model; a tar of
  such a folder reads the same;
- complex64/complex128 tensors from torch and numpy (both byte orders)
  list with dtype C64/C128, shape and bytes, and stats says their values
  are not decoded while the other tensors get statistics;
- torch zips with directory entries first, members in reverse order, and a
  600-character root folder (longer than torch's own reader takes) list
  the tensors saved; a zip whose first member looks like torch's but is
  not is read as a plain archive.

Prints "ok   what" / "FAIL what: why" lines and ends with "N passed,
N failed"; exit status 1 if anything failed.  Needs python3-numpy and
python3-torch.
"""
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib

import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qstest  # noqa: E402
from qstest import QSCOPE, finish, report  # noqa: E402

TIMEOUT = 300
# The large deflated member's size; the sanitizer run asks for a smaller
# one (still well past the 64 MiB kept in memory), for time.
BIG_MB = int(os.environ.get("QS_READERS_BIG_MB", "300"))


class Run:
    pass


# qscope is started by a small helper interpreter, not by this process:
# a child's ru_maxrss counts what the process it was forked from held
# (numpy, torch and the arrays here), which would hide the figure measured.
HELPER = r"""
import json, os, subprocess, sys, time
for line in sys.stdin:
    q = json.loads(line)
    with open(q["out"], "wb") as fo, open(q["err"], "wb") as fe:
        p = subprocess.Popen(q["argv"], stdout=fo, stderr=fe, env=q["env"])
        end = time.monotonic() + q["timeout"]
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > end:
                p.kill()
            time.sleep(0.01)
    print(json.dumps({"rc": os.waitstatus_to_exitcode(status),
                      "rss": ru.ru_maxrss}), flush=True)
"""
helper = None


def run(args, env=None):
    """Run qscope with args; out, err, rc and the child's peak RSS (KB,
    from os.wait4 in the helper)."""
    global helper
    if helper is None:
        helper = subprocess.Popen(["/usr/bin/python3", "-c", HELPER],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
    e = dict(os.environ)
    if env:
        e.update(env)
    fd, out = tempfile.mkstemp()
    os.close(fd)
    fd, err = tempfile.mkstemp()
    os.close(fd)
    try:
        helper.stdin.write(json.dumps({"argv": [QSCOPE] + args, "env": e,
                                       "out": out, "err": err,
                                       "timeout": TIMEOUT}) + "\n")
        helper.stdin.flush()
        res = json.loads(helper.stdout.readline())
        r = Run()
        with open(out, "rb") as f:
            r.out = f.read().decode("utf-8", "replace")
        with open(err, "rb") as f:
            r.err = f.read().decode("utf-8", "replace")
        r.rc = res["rc"]
        r.rss = res["rss"]
        return r
    finally:
        os.unlink(out)
        os.unlink(err)


def qjson(cmd, path, env=None):
    r = run([cmd, "--json", path], env)
    if r.rc != 0:
        return None, "%s exit %d: %s" % (cmd, r.rc, r.err.strip()[:200]), r
    try:
        return json.loads(r.out), None, r
    except ValueError as e:
        return None, "%s printed no JSON (%s)" % (cmd, e), r


def close(a, b, rel=1e-6, ab=1e-12):
    if a is None or b is None:
        return a is b
    return abs(a - b) <= ab + rel * max(abs(a), abs(b))


def refusal(r, frag):
    """Problems with r as a refusal: exit 2, one line, frag in it."""
    lines = r.err.strip().splitlines()
    if r.rc != 2:
        return ["exit %d (want 2): %s" % (r.rc, r.err.strip()[:200])]
    if len(lines) != 1:
        return ["%d lines on stderr" % len(lines)]
    if frag not in lines[0]:
        return ["message %r lacks %r" % (lines[0][:200], frag)]
    return []


def want_of(arrays):
    """{name: (dtype, shape, min, max, mean)} of numpy arrays."""
    names = {"float32": "F32", "float16": "F16", "float64": "F64",
             "int64": "I64", "int32": "I32", "uint8": "U8"}
    out = {}
    for n, a in arrays.items():
        v = np.asarray(a, dtype=np.float64).ravel()
        out[n] = (names[str(a.dtype)], list(a.shape), float(v.min()),
                  float(v.max()), float(v.mean()))
    return out


def check_model(what, path, arrays, env=None, rss_max_kb=None,
                meta_files=None):
    """list and stats of path against {name: ndarray}; names must match
    exactly (prefixes included)."""
    want = want_of(arrays)
    lst, err, r = qjson("list", path, env)
    if err:
        return report(what, [err])
    problems = []
    if rss_max_kb is not None and r.rss > rss_max_kb:
        problems.append("list peak RSS %d KB > %d KB" % (r.rss, rss_max_kb))
    got = {t["name"]: t for t in lst["tensors"]}
    if sorted(got) != sorted(want):
        problems.append("names %r, want %r" % (sorted(got)[:6],
                                               sorted(want)[:6]))
    for n, (dt, shape, _, _, _) in want.items():
        t = got.get(n)
        if t and (t["dtype"], t["shape"]) != (dt, shape):
            problems.append("%s: %s %r, want %s %r" % (n, t["dtype"],
                                                       t["shape"], dt, shape))
    md = lst.get("metadata") or {}
    if meta_files is not None:
        if md.get("checkpoints") != meta_files:
            problems.append("metadata checkpoints %r, want %r" %
                            (md.get("checkpoints"), meta_files))
    elif "checkpoints" in md:
        problems.append("metadata checkpoints %r for one model" %
                        md["checkpoints"])
    if not problems:
        st, err, _ = qjson("stats", path, env)
        if err:
            problems.append(err)
        else:
            sg = {t["name"]: t for t in st["tensors"]}
            for n, (_, _, mn, mx, mean) in want.items():
                s = sg.get(n, {})
                if not (close(s.get("min"), mn) and close(s.get("max"), mx)
                        and close(s.get("mean"), mean, 1e-5, 1e-9)):
                    problems.append("%s: stats %r/%r/%r, want %r/%r/%r" % (
                        n, s.get("min"), s.get("max"), s.get("mean"),
                        mn, mx, mean))
    report(what, problems)


def low_entropy(n, seed, dtype=np.float32):
    """n values of 16 kinds: deflate packs them about 3:1, quickly."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 16, n, dtype=np.uint8).astype(dtype) - 7.5


def rezip(src, dst, method=zipfile.ZIP_DEFLATED, order=None, dirs=False,
          rename=None, level=1):
    """Copy the zip src to dst with another method, member order, root."""
    with zipfile.ZipFile(src) as zin, \
            zipfile.ZipFile(dst, "w", method, compresslevel=level) as z:
        names = zin.namelist()
        new = [rename(n) if rename else n for n in names]
        if dirs:
            for d in sorted({n.split("/")[0] + "/" for n in new}):
                z.writestr(zipfile.ZipInfo(d), b"")
        idx = order(list(range(len(names)))) if order else range(len(names))
        for i in idx:
            info = zipfile.ZipInfo(new[i])
            info.compress_type = method
            with z.open(info, "w", force_zip64=True) as f:
                f.write(zin.read(names[i]))


def write_safetensors(path, tensors):
    """tensors: {name: float32/float16 ndarray}."""
    kinds = {"float32": "F32", "float16": "F16"}
    qstest.write_safetensors(path, [
        (n, kinds[str(a.dtype)], a.shape,
         np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes())
        for n, a in tensors.items()])


def write_gguf(path, tensors):
    """A GGUF v3 file of F32 tensors and no KVs."""
    def s(x):
        x = x.encode()
        return struct.pack("<Q", len(x)) + x
    infos, data = b"", b""
    for n, a in tensors.items():
        a = np.ascontiguousarray(a, dtype="<f4")
        infos += s(n) + struct.pack("<I", a.ndim)
        infos += b"".join(struct.pack("<Q", d) for d in reversed(a.shape))
        infos += struct.pack("<IQ", 0, len(data))
        data += a.tobytes()
        data += b"\0" * (-len(data) % 32)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 0) + infos
    head += b"\0" * (-len(head) % 32)
    with open(path, "wb") as f:
        f.write(head + data)


def leftover_temp(tmpdir):
    return [f for f in os.listdir(tmpdir) if f.startswith("qscope-")]


# ---- 1. deflated zip members stream to a temporary file ----

def streaming_cases(tmp):
    tdir = os.path.join(tmp, "tmpdir")
    os.mkdir(tdir)
    env = {"TMPDIR": tdir}

    big = low_entropy(BIG_MB * 250 * 1000, 1)         # float32: BIG_MB MB
    p = os.path.join(tmp, "big.npz")
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("w.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array(f, big)
    csize = os.path.getsize(p)
    # The compressed file is mapped (its pages count); the large member
    # must not be in memory: allow the file plus 48 MB.
    limit = (csize >> 10) + 48 * 1024
    r = run(["list", "--json", p], env)
    problems = []
    if r.rc != 0:
        problems.append("exit %d: %s" % (r.rc, r.err.strip()[:200]))
    elif r.rss > limit:
        problems.append("peak RSS %d KB > %d KB" % (r.rss, limit))
    print("     %d MB deflated .npz member (%d MB compressed): list peak "
          "RSS %d MB" % (BIG_MB, csize >> 20, r.rss >> 10))
    report("%d MB deflated .npz member lists in %d MB (limit %d MB)" %
           (BIG_MB, r.rss >> 10, limit >> 10), problems)
    check_model("%d MB deflated .npz member: values" % BIG_MB, p, {"w": big},
                env)
    report("no temporary file left behind", leftover_temp(tdir))
    del big

    # A torch checkpoint whose storages are deflated: one past the memory
    # threshold (a temporary file), one small (memory), one stored view.
    sd = {"big": torch.from_numpy(low_entropy(24 * 1000 * 1000, 2)),
          "small": torch.arange(12, dtype=torch.float16).reshape(3, 4),
          "t": torch.arange(6, dtype=torch.int64).reshape(2, 3).t()}
    tp = os.path.join(tmp, "torch-plain.pt")
    torch.save(sd, tp)
    dp = os.path.join(tmp, "torch-deflated.pt")
    rezip(tp, dp)
    arrays = {k: v.numpy() for k, v in
              torch.load(dp, weights_only=True).items()}
    check_model("torch zip with deflated storages (96 MB one to a temp file)",
                dp, arrays, env, rss_max_kb=(os.path.getsize(dp) >> 10) +
                48 * 1024)
    report("no temporary file left behind (torch)", leftover_temp(tdir))


# ---- 1 and 2. bombs and the limits' environment variables ----

def raw_zip(path, name, payload, usize):
    """A zip of one deflated member whose sizes say usize (a lie or not)."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    comp = c.compress(payload) + c.flush()
    crc = zlib.crc32(payload)
    nm = name.encode()
    lh = struct.pack("<IHHHHHIIIHH", 0x04034b50, 20, 0, 8, 0, 0, crc,
                     len(comp), usize, len(nm), 0) + nm
    cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 20, 20, 0, 8, 0, 0,
                     crc, len(comp), usize, len(nm), 0, 0, 0, 0, 0, 0) + nm
    body = lh + comp
    eocd = struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, 1, 1, len(cd),
                       len(body), 0)
    with open(path, "wb") as f:
        f.write(body + cd + eocd)


def npy_bytes(a):
    b = io.BytesIO()
    np.lib.format.write_array(b, a)
    return b.getvalue()


def limit_cases(tmp):
    zeros = np.zeros(40 * 1000 * 1000, dtype=np.float32)    # 160 MB
    payload = npy_bytes(zeros)
    bomb = os.path.join(tmp, "bomb.zip")
    raw_zip(bomb, "m/zeros.npy", payload, len(payload))
    r = run(["list", bomb])
    p = refusal(r, "set QSCOPE_MAX_RATIO to allow more")
    if not p and r.rss > 40 * 1024:
        p.append("peak RSS %d KB: allocated what it claims" % r.rss)
    report("zip bomb (160 MB of zeros, ~1000:1) refused before inflating: "
           "%s" % r.err.strip()[-90:], p)
    check_model("zip bomb accepted with QSCOPE_MAX_RATIO=2000", bomb,
                {"m/zeros": zeros}, {"QSCOPE_MAX_RATIO": "2000"})

    # A member claiming 1 MB that inflates to 160 MB: stopped at 1 MB.
    liar = os.path.join(tmp, "liar.zip")
    raw_zip(liar, "zeros.npy", payload, 1 << 20)
    r = run(["list", liar], {"QSCOPE_MAX_RATIO": "100000"})
    p = refusal(r, "inflates to more than the 1048576 bytes it claims")
    if not p and r.rss > 40 * 1024:
        p.append("peak RSS %d KB" % r.rss)
    report("zip member claiming 1 MB of its 160 MB refused (%d MB RSS)" %
           (r.rss >> 10), p)

    # The same payload in a .npz (npz reader) and under torch's reader.
    r = run(["list", bomb], {"QSCOPE_MAX_UNPACKED": "100M",
                             "QSCOPE_MAX_RATIO": "2000"})
    report("QSCOPE_MAX_UNPACKED=100M refuses a 160 MB member",
           refusal(r, "set QSCOPE_MAX_UNPACKED to allow more"))
    npz = os.path.join(tmp, "bomb.npz")
    raw_zip(npz, "zeros.npy", payload, len(payload))
    report("npz bomb refused", refusal(run(["list", npz]),
                                       "QSCOPE_MAX_RATIO"))
    check_model("npz bomb accepted with QSCOPE_MAX_RATIO=5000 and "
                "QSCOPE_MAX_UNPACKED=64G", npz, {"zeros": zeros},
                {"QSCOPE_MAX_RATIO": "5000", "QSCOPE_MAX_UNPACKED": "64G"})

    # libarchive's path: a gzip bomb.
    gz = os.path.join(tmp, "zeros.npy.gz")
    with open(gz, "wb") as f:
        f.write(subprocess.run(["gzip", "-c"], input=payload,
                               capture_output=True, check=True).stdout)
    r = run(["list", gz])
    report("gzip bomb refused: %s" % r.err.strip()[-70:],
           refusal(r, "expands more than 200x"))
    check_model("gzip bomb accepted with QSCOPE_MAX_RATIO=2000", gz,
                {"": zeros}, {"QSCOPE_MAX_RATIO": "2000"})
    r = run(["list", gz], {"QSCOPE_MAX_RATIO": "2000",
                           "QSCOPE_MAX_UNPACKED": "1M"})
    report("QSCOPE_MAX_UNPACKED=1M refuses the .gz",
           refusal(r, "unpacks to more than 1 MiB"))

    for var, val in (("QSCOPE_MAX_RATIO", "abc"), ("QSCOPE_MAX_RATIO", "0"),
                     ("QSCOPE_MAX_RATIO", "-5"),
                     ("QSCOPE_MAX_UNPACKED", "64X"),
                     ("QSCOPE_MAX_UNPACKED", "99999999999999999999"),
                     ("QSCOPE_MAX_UNPACKED", "20000000T")):
        r = run(["list", gz], {var: val})
        report("%s=%s is an error" % (var, val), refusal(r, var))
    for val in ("64G", "64GiB", "64GB", "1T", "68719476736"):
        r = run(["list", gz], {"QSCOPE_MAX_UNPACKED": val,
                               "QSCOPE_MAX_RATIO": "2000"})
        report("QSCOPE_MAX_UNPACKED=%s accepted" % val,
               [] if r.rc == 0 else ["exit %d: %s" % (r.rc, r.err[:150])])


# ---- 3. folders of several checkpoints ----

def folder_cases(tmp):
    rng = np.random.default_rng(3)
    a = {"w": rng.standard_normal((4, 8)).astype(np.float32),
         "b": rng.standard_normal(8).astype(np.float32)}
    b = {"w": rng.standard_normal((2, 3)).astype(np.float16)}

    d = os.path.join(tmp, "two")
    os.mkdir(d)
    write_safetensors(os.path.join(d, "model-a.safetensors"), a)
    write_safetensors(os.path.join(d, "model-b.safetensors"), b)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"torch_dtype": "float32"}, f)
    want = {"model-a.safetensors:" + k: v for k, v in a.items()}
    want.update({"model-b.safetensors:" + k: v for k, v in b.items()})
    check_model("folder of two unrelated safetensors: every tensor, "
                "prefixed by file", d, want,
                meta_files=["model-a.safetensors", "model-b.safetensors"])
    check_model("one of them opens alone", os.path.join(
        d, "model-a.safetensors"), a)
    t = os.path.join(tmp, "two.tar")
    with tarfile.open(t, "w") as tf:
        tf.add(d, "two")
    check_model("a tar of that folder reads the same", t,
                {"two/" + k: v for k, v in want.items()},
                meta_files=["two/model-a.safetensors",
                            "two/model-b.safetensors"])

    d = os.path.join(tmp, "gguf-and-st")
    os.mkdir(d)
    g = {"tok.weight": rng.standard_normal((3, 5)).astype(np.float32)}
    write_gguf(os.path.join(d, "model.gguf"), g)
    write_safetensors(os.path.join(d, "model.safetensors"), a)
    want = {"model.gguf:" + k: v for k, v in g.items()}
    want.update({"model.safetensors:" + k: v for k, v in a.items()})
    check_model("folder with a .gguf beside a .safetensors", d, want,
                meta_files=["model.gguf", "model.safetensors"])

    # The same model twice (safetensors and torch): same names, no clash.
    d = os.path.join(tmp, "both-formats")
    os.mkdir(d)
    write_safetensors(os.path.join(d, "model.safetensors"), a)
    torch.save({k: torch.from_numpy(v) for k, v in a.items()},
               os.path.join(d, "pytorch_model.bin"))
    want = {"model.safetensors:" + k: v for k, v in a.items()}
    want.update({"pytorch_model.bin:" + k: v for k, v in a.items()})
    check_model("folder with model.safetensors and pytorch_model.bin", d,
                want, meta_files=["model.safetensors", "pytorch_model.bin"])

    # Shards without an index: one model, names unprefixed.
    d = os.path.join(tmp, "shards")
    os.mkdir(d)
    write_safetensors(os.path.join(d, "model-00001-of-00002.safetensors"),
                      {"w": a["w"]})
    write_safetensors(os.path.join(d, "model-00002-of-00002.safetensors"),
                      {"b": a["b"]})
    check_model("shards without an index stay one model", d, a)
    t = os.path.join(tmp, "shards.tar")
    with tarfile.open(t, "w") as tf:
        tf.add(d, "shards")
    check_model("a tar of the shards too", t, a)
    # ...but a third, unrelated file separates them all.
    write_safetensors(os.path.join(d, "extra.safetensors"), b)
    want = {"model-00001-of-00002.safetensors:w": a["w"],
            "model-00002-of-00002.safetensors:b": a["b"],
            "extra.safetensors:w": b["w"]}
    check_model("shards beside an unrelated file: all prefixed", d, want,
                meta_files=["extra.safetensors",
                            "model-00001-of-00002.safetensors",
                            "model-00002-of-00002.safetensors"])

    # Several .npy arrays: each its own file.
    d = os.path.join(tmp, "npys")
    os.mkdir(d)
    np.save(os.path.join(d, "x.npy"), a["w"])
    np.save(os.path.join(d, "y.npy"), a["b"])
    check_model("folder of .npy arrays", d, {"x.npy:": a["w"],
                                             "y.npy:": a["b"]},
                meta_files=["x.npy", "y.npy"])


# ---- 4. complex tensors ----

def complex_cases(tmp):
    rng = np.random.default_rng(4)
    c64 = (rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
           ).astype(np.complex64)
    c128 = (rng.standard_normal(5) + 1j * rng.standard_normal(5))
    real = rng.standard_normal(6).astype(np.float32)
    files = []
    p = os.path.join(tmp, "complex.pt")
    torch.save({"c64": torch.from_numpy(c64),
                "c128": torch.from_numpy(c128),
                "c64t": torch.from_numpy(c64).t(),
                "real": torch.from_numpy(real)}, p)
    files.append((p, {"c64": ("C64", [3, 4], 96), "c128": ("C128", [5], 80),
                      "c64t": ("C64", [4, 3], 96), "real": ("F32", [6], 24)}))
    for order in ("<", ">"):
        p = os.path.join(tmp, "complex%s.npz" % ("be" if order == ">"
                                                 else "le"))
        np.savez(p, c8=c64.astype(order + "c8"),
                 c16=c128.astype(order + "c16"), real=real)
        files.append((p, {"c8": ("C64", [3, 4], 96),
                          "c16": ("C128", [5], 80),
                          "real": ("F32", [6], 24)}))
    for p, want in files:
        lst, err, _ = qjson("list", p)
        if err:
            report("complex tensors list: %s" % os.path.basename(p), [err])
            continue
        got = {t["name"]: (t["dtype"], t["shape"], t["bytes"])
               for t in lst["tensors"]}
        report("complex tensors list with dtype, shape, bytes: %s" %
               os.path.basename(p),
               [] if got == want else ["got %r" % got])
        r = run(["stats", p])
        lines = {ln.split()[0]: ln for ln in r.out.splitlines()[2:]
                 if ln.strip()}
        problems = [] if r.rc == 0 else ["stats exit %d: %s" % (
            r.rc, r.err.strip()[:150])]
        for n, (dt, _, _) in want.items():
            ln = lines.get(n, "")
            cannot = "cannot be decoded" in ln
            if cannot != dt.startswith("C"):
                problems.append("stats line for %s: %r" % (n, ln))
        report("stats: complex values said not decoded, others computed: %s"
               % os.path.basename(p), problems)


# ---- 5. torch zips in other member orders ----

def torch_order_cases(tmp):
    sd = {"a.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3),
          "b": torch.ones(4, dtype=torch.float16),
          "c": torch.arange(10, dtype=torch.int32)[2:8:2]}
    src = os.path.join(tmp, "order.pt")
    torch.save(sd, src)
    arrays = {k: v.numpy() for k, v in sd.items()}
    variants = [
        ("directory entries first (as zip -r writes)", {"dirs": True,
                                                       "method":
                                                       zipfile.ZIP_STORED}),
        ("members in reverse order", {"order": lambda x: x[::-1],
                                      "method": zipfile.ZIP_STORED}),
        ("a 600-character root folder", {"rename": lambda n: "r" * 600 +
                                         n[n.index("/"):],
                                         "method": zipfile.ZIP_STORED}),
        ("reversed, deflated, long root", {"order": lambda x: x[::-1],
                                           "rename": lambda n: "x" * 300 +
                                           n[n.index("/"):]}),
    ]
    for label, kw in variants:
        p = os.path.join(tmp, "order-%d.pt" % len(label))
        rezip(src, p, **kw)
        # torch reads these too, except root names past its own limit.
        try:
            back = torch.load(p, weights_only=True)
            ok = all(torch.equal(back[k], sd[k]) for k in sd)
        except RuntimeError:
            ok = len(label) > 0 and "600" in label
        lst, err, _ = qjson("list", p)
        problems = [] if ok else ["torch.load disagrees"]
        if err:
            problems.append(err)
        elif lst.get("format") not in ("pytorch-zip", None):
            problems.append("format %r" % lst.get("format"))
        report("torch zip, %s: format pytorch-zip" % label, problems)
        check_model("torch zip, %s: values" % label, p, arrays)

    # A plain zip whose first member carries torch's writer markings (data
    # descriptor, no CRC in the local header) under a long folder name:
    # not a checkpoint, read as an archive of its .npy.
    p = os.path.join(tmp, "not-torch.zip")

    class Pipe(io.RawIOBase):
        """A file that cannot seek, so zipfile streams (flag bit 3)."""
        def __init__(self, f):
            self.f = f

        def writable(self):
            return True

        def write(self, b):
            return self.f.write(b)

    v = np.arange(5, dtype=np.float32)
    with open(p, "wb") as f:
        with zipfile.ZipFile(Pipe(f), "w", zipfile.ZIP_STORED) as z:
            z.writestr("d" * 600 + "/notes.txt", b"hello")
            z.writestr("arrays/v.npy", npy_bytes(v))
    with open(p, "rb") as f:
        head = f.read(8)
    flag = struct.unpack_from("<H", head, 6)[0]
    if not flag & 8:
        report("plain zip with torch-like first member", ["zipfile did not "
                                                         "stream"])
    else:
        check_model("plain zip with a torch-like first member reads as an "
                    "archive", p, {"": v})


def main():
    tmp = tempfile.mkdtemp(prefix="qs-readers-")
    try:
        streaming_cases(tmp)
        limit_cases(tmp)
        folder_cases(tmp)
        complex_cases(tmp)
        torch_order_cases(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if helper:
            helper.stdin.close()
            helper.wait()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
