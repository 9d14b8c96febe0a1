#!/usr/bin/python3
"""tests/hostile.py - qscope on hostile and broken input.

usage: tests/hostile.py            (from the project root; QSCOPE=./qscope)

Every run is `qscope list PATH` or `qscope stats PATH` with a time limit; it
must exit 0 or 2, never by a signal, and print a "qscope: " line on stderr
whenever it exits 2.  Each child's peak RSS is measured (os.wait4).

  - truncation and flips: small checkpoints of the formats that
    tests/malformed.py (safetensors) and tests/gguf_malformed.py (GGUF) do
    not already cut up: npy, npz, PyTorch zip, legacy torch, TorchScript,
    tar, tar.gz, tar.zst, .zst, stored and deflated zip.  Each is cut at
    offsets of its metadata (npy header, zip local headers, data.pkl and
    central directory, tar header blocks, the first bytes of a compressed
    stream) and in its data, and has single bytes flipped.  A minimum
    always runs (8 metadata cuts spread evenly, 2 data cuts, 10 flips per
    file; 4, 2 and 6 when a run takes over 30 ms, as under ASan); then more cuts and flips, in a seeded order, while the script is
    younger than BUDGET seconds: every metadata offset on an idle machine
    with the normal build, the minimum only under ASan on a busy one.  The
    ok line says how many ran.
  - size lies: shapes whose product overflows 64 bits, counts in the
    billions, lengths of 2^63, offsets past the end, zip members claiming a
    terabyte, tar members claiming 8 GB, decompression bombs (.gz, .zst and
    .tar.gz of gigabytes of zeros): refused (exit 2) with a peak RSS under
    200 MB.
  - pickle attacks inside a PyTorch zip and a legacy file, beyond those of
    tests/torch_check.py: posix.system, STACK_GLOBAL builtins.eval, GLOBAL
    subprocess.Popen, builtins.exec inside a dict, OBJ of os.system,
    REDUCE on functools.partial, numpy's _reconstruct and
    copyreg._reconstructor, memo abuse (an index never put, one list
    fetched 100000 times into itself), nested lists
    closed 100000 deep, BINUNICODE8 / BINBYTES8 / LONG4 lengths of 2^31 to
    2^64, tensor records whose storage or shape claims 2^62 elements or
    more: refused with exit 2 under 200 MB, and the marker file the
    payloads would create does not exist (python's own pickle.loads is run
    on the live payloads first, in a child, to prove that they do create
    it).
  - the fuzzers' regression inputs (tests/fuzz/regress/HARNESS/*), laid
    out the way their harness lays them out (tests/fuzz/harness.h).

Prints "ok ..."/"FAIL ..." lines and "N passed, N failed"; exit 1 on any
failure.
"""
import concurrent.futures
import gzip
import io
import json
import os
import random
import signal
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qstest import check, finish  # noqa: E402

QSCOPE = os.path.abspath(os.environ.get("QSCOPE", "./qscope"))
FIX = os.environ.get("QS_FIXTURES", "../shared/fixtures")
TIMEOUT = 20            # seconds per run
BUDGET = 35.0           # more cuts and flips while the script is younger
RSS_LIMIT = 200 << 10   # KB
# ASan keeps freed memory in quarantine; a small one keeps RSS honest.
ENV = dict(os.environ)
ENV["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                             "quarantine_size_mb=16"]))

START = time.time()


class Run:
    pass


class Spawner:
    """A small process, forked before this script grows, that runs qscope
    for us: fork() of a big Python is slow, and a child's peak RSS
    (ru_maxrss from wait4) counts what its parent held before exec()."""

    def __init__(self):
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(w1)
            os.close(r2)
            self.serve(os.fdopen(r1, "rb"), os.fdopen(w2, "wb"))
            os._exit(0)
        os.close(r1)
        os.close(w2)
        self.to = os.fdopen(w1, "wb")
        self.back = os.fdopen(r2, "rb")

    @staticmethod
    def serve(fin, fout):
        quick = dict(ENV, ASAN_OPTIONS=ENV["ASAN_OPTIONS"] + ":detect_leaks=0")
        for line in fin:
            args, leaks = json.loads(line)
            with tempfile.TemporaryFile() as errf:
                pid = os.fork()
                if pid == 0:
                    try:
                        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
                        os.dup2(errf.fileno(), 2)
                        os.execve(args[0], args, ENV if leaks else quick)
                    finally:
                        os._exit(127)
                t0, timeout = time.time(), False
                while True:
                    got, status, ru = os.wait4(pid, os.WNOHANG)
                    if got == pid:
                        break
                    if not timeout and time.time() - t0 > TIMEOUT:
                        os.kill(pid, signal.SIGKILL)
                        timeout = True
                    time.sleep(0.001)
                errf.seek(0)
                err = errf.read().decode("utf-8", "replace")
            rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            fout.write(json.dumps([rc, ru.ru_maxrss, timeout, err]).encode() + b"\n")
            fout.flush()

    def run(self, args, leaks):
        self.to.write(json.dumps([args, leaks]).encode() + b"\n")
        self.to.flush()
        r = Run()
        r.rc, r.rss, r.timeout, r.err = json.loads(self.back.readline())
        return r


SPAWNERS = None


def run(*args, leaks=True):
    """qscope ARGS: a Run with rc (negative: a signal), err, rss (KB of the
    child's peak) and timeout.  leaks=False turns off LeakSanitizer's exit
    scan (half the cost of an ASan run) where runs are many.  Thread-safe:
    one spawner per caller."""
    sp = SPAWNERS.get()
    try:
        return sp.run([QSCOPE] + list(args), leaks)
    finally:
        SPAWNERS.put(sp)



def problem(r, want_refusal=False):
    """'' when r is a clean exit 0 or a clean refusal, else what is wrong."""
    if r.timeout:
        return "ran past %d s" % TIMEOUT
    if r.rc < 0:
        return "killed by signal %d (%s)" % (-r.rc, r.err.strip()[-300:])
    if r.rc not in (0, 2):
        return "exit %d: %s" % (r.rc, r.err.strip()[-300:])
    if r.rc == 2 and "qscope: " not in r.err:
        return "exit 2 without a message"
    if want_refusal and r.rc != 2:
        return "accepted (exit 0)"
    if "AddressSanitizer" in r.err or "runtime error" in r.err:
        return "sanitizer: " + r.err.strip()[-300:]
    return ""


# ---- small files of every kind ----

def st(tensors, meta=None):
    hdr, data = {}, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dt, shape, b in tensors:
        hdr[name] = {"dtype": dt, "shape": shape,
                     "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


SMALL_ST = st([("a.weight", "F32", [4, 8], struct.pack("<32f", *range(32))),
               ("b.bias", "BF16", [8], b"\x80\x3f" * 8)], meta={"format": "pt"})


def zstd(data):
    r = subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE, check=True)
    return r.stdout


def tar_of(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return b.getvalue()


def zip_of(files, method):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z:
        for name, data in files:
            z.writestr(name, data)
    return b.getvalue()


def fixture(rel):
    p = os.path.join(FIX, rel)
    if not os.path.exists(p):
        return None
    with open(p, "rb") as f:
        return f.read()


def zip_regions(data):
    """Metadata byte ranges of a zip: local headers, small members
    (data.pkl, version...) whole, central directory to the end."""
    regions = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = z.infolist()
        cd = min([len(data)] + [data.rfind(b"PK\x01\x02", 0, len(data))])
        for i in infos:
            o = i.header_offset
            n, x = struct.unpack("<HH", data[o + 26:o + 30])
            start = o + 30 + n + x
            regions.append((o, start))
            if "/data/" not in i.filename and not i.filename.endswith(".npy") \
                    or i.compress_size <= 256:
                regions.append((start, start + i.compress_size))
            else:
                regions.append((start, start + 128))   # an npy header
        first_cd = data.find(b"PK\x01\x02")
        regions.append((first_cd if first_cd >= 0 else cd, len(data)))
    return regions


def npy_regions(data):
    if data[6] == 1:
        n = 10 + struct.unpack("<H", data[8:10])[0]
    else:
        n = 12 + struct.unpack("<I", data[8:12])[0]
    return [(0, n)]


def tar_regions(data):
    regions, o = [], 0
    while o + 512 <= len(data):
        regions.append((o, o + 512))
        if data[o:o + 512] == b"\0" * 512:
            break
        size = int(data[o + 124:o + 136].strip(b"\0 ") or b"0", 8)
        o += 512 + (size + 511) // 512 * 512
    return regions


def cases():
    """(label, bytes, metadata ranges) of the files cut up below."""
    out = []
    import numpy as np
    b = io.BytesIO()
    np.save(b, np.arange(24, dtype="<f4").reshape(2, 3, 4))
    npy = b.getvalue()
    out.append(("npy (numpy.save)", npy, npy_regions(npy)))
    b = io.BytesIO()
    np.save(b, np.asfortranarray(np.arange(12, dtype=">f8").reshape(3, 4)))
    out.append(("npy big-endian Fortran order", b.getvalue(), npy_regions(b.getvalue())))
    b = io.BytesIO()
    np.savez(b, a=np.arange(6, dtype="<f4"), b=np.ones((2, 2), dtype="<i2"))
    out.append(("npz (numpy.savez)", b.getvalue(), zip_regions(b.getvalue())))
    b = io.BytesIO()
    np.savez_compressed(b, a=np.arange(40, dtype="<f4"))
    out.append(("npz (savez_compressed)", b.getvalue(), zip_regions(b.getvalue())))
    for rel, label in (
            ("real/tracel-ai__burn__crates_burn-store_src_pytorch_tests_reader_test_data_bfloat16.pt",
             "PyTorch zip (burn bfloat16.pt)"),
            ("real/huggingface__candle__candle-core_tests_fortran_tensor_3d.pth",
             "PyTorch zip (candle fortran_tensor_3d.pth)"),
            ("torch/torchscript-module.pt", "TorchScript zip")):
        d = fixture(rel)
        if d is not None:
            out.append((label, d, zip_regions(d)))
    d = fixture("real/tracel-ai__burn__crates_burn-store_src_pytorch_tests_reader_test_data_legacy_shared_storage.pt")
    if d is not None:
        out.append(("legacy torch (burn legacy_shared_storage.pt)", d, [(0, len(d))]))
    tar = tar_of([("m/config.json", b'{"a": 1}'), ("m/model.safetensors", SMALL_ST)])
    out.append(("tar of a model folder", tar, tar_regions(tar)))
    out.append(("tar.gz", gzip.compress(tar, mtime=0), [(0, 64)]))
    out.append(("tar.zst", zstd(tar), [(0, 64)]))
    out.append(("safetensors.zst", zstd(SMALL_ST), [(0, 64)]))
    for m, tag in ((zipfile.ZIP_STORED, "stored"), (zipfile.ZIP_DEFLATED, "deflated")):
        z = zip_of([("m/config.json", b"{}"), ("m/model.safetensors", SMALL_ST)], m)
        out.append(("zip, %s members" % tag, z, zip_regions(z)))
    return out


def offsets_of(regions, size):
    s = set()
    for a, b in regions:
        s.update(range(max(0, a), min(size, b)))
    return sorted(s)


def spread(xs, n):
    """n elements of xs, evenly spaced (all when n >= len(xs))."""
    if n >= len(xs):
        return list(xs)
    return [xs[i * len(xs) // n] for i in range(n)]


def cut_and_flip(tmp, pool):
    """Every variant runs `stats` (which opens the file as `list` does,
    then decodes every value); every fourth runs `list` too.  A fixed
    minimum per file always runs; the remaining metadata offsets run in a
    seeded random order, all files in turn, until the script is BUDGET
    seconds old (on a loaded machine or under ASan: the minimum only)."""
    rng = random.Random(9)
    plans = []
    # A slow build (ASan) or a busy machine gets half the minimum.
    probe = os.path.join(tmp, "probe")
    with open(probe, "wb") as f:
        f.write(SMALL_ST)
    t0 = time.time()
    for _ in range(4):
        run("list", probe, leaks=False)
    slow = (time.time() - t0) / 4 > 0.03
    ncut, nflip = (4, 6) if slow else (8, 10)
    for label, data, regions in cases():
        meta = offsets_of(regions, len(data))
        first = spread(meta, ncut)
        rest = [o for o in meta if o not in set(first)]
        rng.shuffle(rest)
        datas = spread([o for o in range(len(data)) if o not in set(meta)], 2)

        def flip():
            o, x = rng.randrange(len(data)), rng.randrange(1, 256)
            b = bytearray(data)
            b[o] ^= x
            return ("byte %d ^ 0x%02x" % (o, x), bytes(b))

        must = [("cut at %d" % o, data[:o]) for o in first + datas]
        must += [flip() for _ in range(nflip)]
        # Past the minimum: three more cuts for every flip.
        more = []
        for k, o in enumerate(rest):
            more.append(("cut at %d" % o, data[:o]))
            if k % 3 == 2:
                more.append(flip())
        more.reverse()          # popped from the end
        plans.append(dict(label=label, size=len(data), nmeta=len(meta),
                          ncut=len(first), ndata=len(datas), nflip=nflip,
                          must=must, rest=more, bad=[]))
    counter = [0]

    def one(job):
        plan, what, b, k = job
        path = os.path.join(tmp, "v%d" % k)
        with open(path, "wb") as f:
            f.write(b)
        for cmd in ("stats", "list") if k % 4 == 0 else ("stats",):
            why = problem(run(cmd, path, leaks=k % 8 == 0))
            if why:
                plan["bad"].append("%s (%s): %s" % (what, cmd, why))
        os.unlink(path)

    def batch(jobs):
        list(pool.map(one, jobs))

    jobs = []
    for plan in plans:
        for what, b in plan["must"]:
            counter[0] += 1
            jobs.append((plan, what, b, counter[0]))
    batch(jobs)
    while time.time() - START < BUDGET:
        jobs = []
        for plan in plans:
            for _ in range(4):
                if plan["rest"]:
                    what, b = plan["rest"].pop()
                    counter[0] += 1
                    plan["ncut" if what.startswith("cut") else "nflip"] += 1
                    jobs.append((plan, what, b, counter[0]))
        if not jobs:
            break
        batch(jobs)
    for plan in plans:
        bad = plan["bad"]
        cut = "all" if not plan["rest"] else "%d of" % plan["ncut"]
        check("%s (%d bytes): cut at %s the %d metadata offsets and at %d in the "
              "data, %d single-byte flips: exit 0 or 2, no signal, no hang"
              % (plan["label"], plan["size"], cut, plan["nmeta"], plan["ndata"],
                 plan["nflip"]),
              not bad, "; ".join(bad[:3]) + (" (+%d more)" % (len(bad) - 3) if len(bad) > 3 else ""))


# ---- size lies ----

def npy_with(header, body=b""):
    h = header.encode()
    h += b" " * (-(len(h) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + body


def zip_raw(name, data, usize=None, csize=None, method=0, zip64=None, offset_lie=None):
    """One-member zip with sizes as given (the local header tells the
    truth about the name; sizes may lie)."""
    nb = name.encode()
    usize = len(data) if usize is None else usize
    csize = len(data) if csize is None else csize
    extra = b""
    u32, c32 = usize, csize
    if zip64:
        extra = struct.pack("<HHQQ", 1, 16, usize, csize)
        u32 = c32 = 0xFFFFFFFF
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0, 0,
                        c32, u32, len(nb), len(extra)) + nb + extra
    body = local + data
    cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, method, 0, 0, 0,
                     c32, u32, len(nb), len(extra), 0, 0, 0, 0,
                     0 if offset_lie is None else offset_lie) + nb + extra
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd), len(body), 0)
    return body + cd + eocd


def gz_bomb(mb, head=b""):
    """A gzip stream of head and mb MB of zeros (about 1000:1)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [c.compress(head)]
    zeros = b"\0" * (1 << 20)
    for _ in range(mb):
        out.append(c.compress(zeros))
    out.append(c.flush())
    return b"".join(out)


def zst_bomb(mb):
    """mb MB of zeros as zstd frames of 16 MB each, one after the other."""
    return zstd(b"\0" * (16 << 20)) * (mb // 16)


def tar_header(name, size_field):
    h = bytearray(512)
    h[0:len(name)] = name.encode()
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = size_field
    h[136:148] = b"00000000000\0"
    h[156] = ord("0")
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def size_lies(tmp, pool):
    global GZ_BOMB
    GZ_BOMB = gz_bomb(128)
    big = struct.pack("<Q", 1 << 62)
    lies = [
        ("npy: shape product overflows 64 bits",
         npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }")),
        ("npy: shape (2^63,) of 4-byte floats",
         npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775808,), }")),
        ("npy: 10^12 elements claimed, 16 bytes there",
         npy_with("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }", b"\0" * 16)),
        ("npy: a dimension of 2^64 (does not fit)",
         npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551616,), }")),
        ("npy v2: header length 2^32-1",
         b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFFF) + b"{'descr': '<f4'"),
        ("npy: a string dtype of 2^40 characters",
         npy_with("{'descr': '<U1099511627776', 'fortran_order': False, 'shape': (4,), }")),
        ("safetensors: header length 2^62", big + b"{}"),
        ("safetensors: 2001 dimensions",
         (lambda h: struct.pack("<Q", len(h)) + h)(
             b'{"a":{"dtype":"F32","shape":[' + b"1," * 2000 + b'1],"data_offsets":[0,4]}}    ')),
        ("zip: a stored member claiming 1 TB (zip64)",
         zip_raw("m/model.safetensors", SMALL_ST, usize=1 << 40, csize=1 << 40, zip64=True)),
        ("zip: a deflated member claiming 1 TB from 100 bytes (zip64)",
         zip_raw("m/model.safetensors", b"\x03\x00" * 50, usize=1 << 40, csize=100, method=8, zip64=True)),
        ("zip: a member at an offset past the end",
         zip_raw("model.safetensors", SMALL_ST, offset_lie=0x7FFFFFFF)),
        ("zip: 2^32-1 byte member in a small file",
         zip_raw("model.safetensors", SMALL_ST, usize=0xFFFFFFFE, csize=0xFFFFFFFE)),
        ("tar: a member claiming 8 GB (octal 77777777777)",
         tar_header("model.safetensors", b"77777777777\0") + SMALL_ST[:512] + b"\0" * 1024),
        ("tar: a member claiming 2^62 bytes (base-256 size)",
         tar_header("model.safetensors", b"\x80" + b"\0" * 3 + b"\x40" + b"\0" * 7) +
         SMALL_ST[:512] + b"\0" * 1024),
        ("decompression bomb: .gz of 128 MB of zeros", GZ_BOMB),
        ("decompression bomb: .zst of 512 MB of zeros", zst_bomb(512)),
        ("decompression bomb: .tar.gz whose member is 128 MB of zeros of 4 GB claimed",
         gz_bomb(128, tar_header("model.safetensors", b"%011o\0" % (4 << 30)))),
        ("decompression bomb: a zip member deflating 64 MB of zeros 1000:1 claiming 64 KB",
         zip_raw("model.safetensors",
                 (lambda c: c.compress(b"\0" * (64 << 20)) + c.flush())(
                     zlib.compressobj(1, zlib.DEFLATED, -15)),
                 usize=65536, csize=None, method=8)),
    ]
    def one(k_lie):
        k, (label, data) = k_lie
        path = os.path.join(tmp, "lie%d" % k)
        with open(path, "wb") as f:
            f.write(data)
        bad, rss, msg = [], 0, ""
        for cmd in ("list", "stats"):
            r = run(cmd, path)
            rss = max(rss, r.rss)
            why = problem(r, want_refusal=True)
            if why:
                bad.append("%s: %s" % (cmd, why))
            elif r.rss > RSS_LIMIT:
                bad.append("%s: peak RSS %d MB" % (cmd, r.rss >> 10))
            msg = r.err.strip().splitlines()[-1][:110] if r.err.strip() else ""
        os.unlink(path)
        return label, bad, rss, msg

    for label, bad, rss, msg in pool.map(one, enumerate(lies)):
        check("%s: refused, peak RSS %d MB (%s)" % (label, rss >> 10, msg),
              not bad, "; ".join(bad))


# ---- pickle attacks ----

def torch_zip(pkl, storages=()):
    files = [("archive/data.pkl", pkl), ("archive/version", b"3\n")]
    files += [("archive/data/%s" % k, v) for k, v in storages]
    return zip_of(files, zipfile.ZIP_STORED)


LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."


def su(s):
    """SHORT_BINUNICODE."""
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def attacks(marker):
    sh = "touch " + marker
    return [
        ("GLOBAL posix.system + REDUCE", True,
         b"\x80\x02cposix\nsystem\nX" + struct.pack("<I", len(sh)) + sh.encode() + b"\x85R."),
        ("STACK_GLOBAL builtins.eval + REDUCE", True,
         b"\x80\x04" + su("builtins") + su("eval") + b"\x93" +
         su("open(%r, 'w').close()" % marker) + b"\x85R."),
        ("GLOBAL subprocess.Popen + REDUCE", True,
         b"\x80\x02csubprocess\nPopen\n(" + b"(" + su("touch") + su(marker) + b"ltR."),
        ("GLOBAL builtins.exec inside a state dict", True,
         b"\x80\x02}q\x00(X\x01\x00\x00\x00wcbuiltins\nexec\n" +
         su("open(%r, 'w').close()" % marker) + b"\x85Ru."),
        ("OBJ of os.system", True,
         b"\x80\x02(cos\nsystem\n" + su(sh) + b"o."),
        ("REDUCE on functools.partial (not on the allow-list)", False,
         b"\x80\x02cfunctools\npartial\ncbuiltins\nlen\n\x85R."),
        ("REDUCE on numpy.core.multiarray._reconstruct", False,
         b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n)R."),

        ("REDUCE on torch.load", False,
         b"\x80\x02ctorch\nload\n" + su(marker) + b"\x85R."),
        ("BUILD of __setstate__ through copyreg._reconstructor", False,
         b"\x80\x02ccopyreg\n_reconstructor\ncos\n_wrap_close\ncbuiltins\nobject\nN\x87R}b."),
        ("memo: BINGET of an index never put", False,
         b"\x80\x02]h\x05."),
        ("memo: one list put once and fetched 100000 times into itself", False,
         b"\x80\x02]q\x00(" + b"h\x00" * 100000 + b"e."),
        ("deep nesting: 100000 nested lists", False,
         b"\x80\x02" + b"(" * 100000 + b"N" + b"l" * 100000 + b"."),
        ("BINUNICODE8 of length 2^63", False,
         b"\x80\x04\x8d" + struct.pack("<Q", 1 << 63) + b"abc."),
        ("BINBYTES8 of length 2^64-1", False,
         b"\x80\x04\x8e" + struct.pack("<Q", (1 << 64) - 1) + b"abc."),
        ("LONG4 of 2^31-1 bytes", False,
         b"\x80\x02\x8b\xff\xff\xff\x7f\x01."),
        ("a tensor whose storage claims 2^62 elements", False,
         b"\x80\x02}(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n"
         b"((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu"
         b"\x8a\x08" + struct.pack("<Q", 1 << 62) + b"tQK\x00\x8a\x08" + struct.pack("<Q", 1 << 62)
         + b"\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtRu."),
        ("a tensor with 2^32 x 2^32 x 2^32 shape over a 64-byte storage", False,
         b"\x80\x02}(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n"
         b"((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x10tQK\x00"
         b"(\x8a\x05\x00\x00\x00\x00\x01\x8a\x05\x00\x00\x00\x00\x01\x8a\x05\x00\x00\x00\x00\x01t"
         b"K\x01K\x01K\x01\x87\x89ccollections\nOrderedDict\n)RtRu."),
    ]


def live(payload, marker):
    """Does python's own unpickler run this payload (create marker)?"""
    code = ("import pickle,sys\n"
            "try:\n pickle.loads(sys.stdin.buffer.read())\nexcept Exception:\n pass\n")
    try:
        subprocess.run([sys.executable, "-c", code], input=payload, timeout=20,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pass
    made = os.path.exists(marker)
    if made:
        os.unlink(marker)
    return made


def pickle_attacks(tmp, pool):
    marker = os.path.join(tmp, "PWNED")
    storage = [("0", struct.pack("<16f", *range(16)))]
    jobs = []
    for k, (label, is_code, pkl) in enumerate(attacks(marker)):
        if is_code:
            proven = live(pkl, marker)
            check("pickle attack '%s': python's pickle.loads does run it" % label, proven,
                  "the payload did not create the marker under python")
        kinds = [("PyTorch zip", torch_zip(pkl, storage))]
        # In a legacy file the payload is read as the sys_info pickle; a
        # tensor record only means something in the zip's data.pkl.
        if not label.startswith("a tensor"):
            kinds.append(("legacy file", LEGACY_MAGIC + b"\x80\x02}q\x00." + pkl))
        for kind, data in kinds:
            path = os.path.join(tmp, "attack%d-%d.pt" % (k, len(jobs)))
            with open(path, "wb") as f:
                f.write(data)
            jobs.append((label, kind, path))

    def one(job):
        label, kind, path = job
        bad, msg = [], ""
        # stats opens as list does; once per attack is enough.
        for cmd in ("list", "stats") if kind == "PyTorch zip" else ("list",):
            r = run(cmd, path)
            why = problem(r, want_refusal=True)
            if why:
                bad.append("%s: %s" % (cmd, why))
            elif r.rss > RSS_LIMIT:
                bad.append("%s: peak RSS %d MB" % (cmd, r.rss >> 10))
            msg = r.err.strip().splitlines()[-1][:100] if r.err.strip() else ""
        return label, kind, bad, msg

    for label, kind, bad, msg in pool.map(one, jobs):
        check("pickle attack in a %s, %s: refused (%s)" % (kind, label, msg),
              not bad, "; ".join(bad))
    # The marker is checked once every run is over: a payload that ran
    # in any of them would have left it.
    check("pickle attacks: no payload ran (%s does not exist)" % os.path.basename(marker),
          not os.path.exists(marker), "THE MARKER EXISTS: a payload ran")


# ---- the fuzzers' regression inputs ----

def shard(name):
    return st([(name, "F32", [2, 2], struct.pack("<4f", 1, -2, 0.5, 3))])


def lay_out(harness, data, d):
    """Put data where the harness puts it; return the path to open."""
    legacy = data[:4] == b"\x80\x02\x8a\x0a"
    if harness == "index":
        for i, n in ((1, "a.weight"), (2, "b.weight")):
            with open(os.path.join(d, "model-0000%d-of-00002.safetensors" % i), "wb") as f:
                f.write(shard(n))
        name, path = "model.safetensors.index.json", d
    elif harness == "config":
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(shard("a.weight"))
        name, path = "config.json", d
    else:
        name = "input"
        path = os.path.join(d, name)
        if harness == "pickle" and not legacy:
            data = torch_zip(data, [("0", bytes((i * 37 + 11) & 255 for i in range(64)))])
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    return path


def regressions(tmp, pool):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz", "regress")
    if not os.path.isdir(root):
        check("fuzz regressions", True)
        return
    for harness in sorted(os.listdir(root)):
        if harness == "plan":   # not a model: `make fuzz-replay` runs those
            continue
        for name in sorted(os.listdir(os.path.join(root, harness))):
            with open(os.path.join(root, harness, name), "rb") as f:
                data = f.read()
            d = tempfile.mkdtemp(dir=tmp)
            path = lay_out(harness, data, d)
            bad = []
            for cmd in ("list", "stats"):
                why = problem(run(cmd, path))
                if why:
                    bad.append("%s: %s" % (cmd, why))
            check("fuzz regression %s/%s: exit 0 or 2, no signal" % (harness, name),
                  not bad, "; ".join(bad))


def main():
    if not os.access(QSCOPE, os.X_OK):
        check("qscope binary", False, "%s is not executable (set QSCOPE)" % QSCOPE)
    else:
        global SPAWNERS
        import queue
        SPAWNERS = queue.Queue()
        for _ in range(2):
            SPAWNERS.put(Spawner())
        t0 = START
        with tempfile.TemporaryDirectory() as tmp, \
                concurrent.futures.ThreadPoolExecutor(2) as pool:
            for part in (regressions, pickle_attacks, size_lies, cut_and_flip):
                t1 = time.time()
                part(tmp, pool)
                print("(%s: %.1f s)" % (part.__name__, time.time() - t1))
        print("(%.1f s in all)" % (time.time() - t0))
        sps = [SPAWNERS.get() for _ in range(SPAWNERS.qsize())]
        for sp in sps:          # each holds the others' pipes: close all
            sp.to.close()
        for sp in sps:
            os.waitpid(sp.pid, 0)
    sys.exit(finish())


main()
