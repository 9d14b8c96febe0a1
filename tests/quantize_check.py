#!/usr/bin/python3
"""End-to-end checks of `qscope quantize`, with a GGUF parser of our own.

Runs the program named by $QSCOPE (default ./qscope) on the fixtures in
$QS_FIXTURES (default ../shared/fixtures) and on files this script writes:

  - the F32 fixture quantized with --type Q8_0 (and F16) gives the tensor
    bytes and the metadata of the file llama-quantize wrote;
  - every output follows the layout ggml's reader demands, checked by the
    parser below (not qscope's): version 3, unique keys, the alignment,
    data at the aligned end of the header, each tensor at the sum of the
    aligned sizes before it, zero padding, the KVs of the input in order
    with general.quantization_version (u32 2) and general.file_type at the
    end;
  - refusals, each exit 2 with one line on stderr, the input unchanged
    (sha256): the input as OUT (by name and through a hard link), an
    existing OUT without --force, a non-GGUF input, a bad TYPE;
  - --type-for globs, in order, later wins; a row the block does not divide
    keeps its type and says so;
  - SIGINT during a long write (a ~50 MB F32 GGUF this script writes)
    leaves no temporary file and no OUT, and an existing OUT as it was.

Prints one `ok`/`FAIL` line per check, then `N passed, N failed`; exits 1
on any failure.  Python 3 standard library only.
"""
import hashlib
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from array import array

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qstest import (  # noqa: E402
    FIXTURES, QSCOPE, check, finish, quantize_plan, run, write_safetensors,
    write_text)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---- an independent GGUF reader (FORMATS.md 2; ggml's rules) ----

# ggml type id: (name, block, bytes per block)
GGML_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 20: ("IQ4_NL", 32, 18),
    23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}
TYPE_IDS = {v[0]: k for k, v in GGML_TYPES.items()}
SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f",
          7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
U32, STRING, ARRAY = 4, 8, 9


class GGUF:
    """Header, KVs (with their raw bytes) and tensor infos of a file."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.b = f.read()
        self.pos = 0
        self.problems = []
        b = self.b
        if b[:4] != b"GGUF":
            raise ValueError("bad magic")
        self.pos = 4
        self.version = self.u32()
        if self.version not in (2, 3):
            raise ValueError("version %d" % self.version)
        nt, nkv = self.u64(), self.u64()
        self.kvs = []  # (key, type, value, raw bytes of type+value)
        for _ in range(nkv):
            key = self.string()
            start = self.pos
            t = self.u32()
            v = self.value(t)
            self.kvs.append((key, t, v, b[start:self.pos]))
        self.tensors = []  # (name, ne, type id, offset)
        for _ in range(nt):
            name = self.string()
            nd = self.u32()
            ne = [self.u64() for _ in range(nd)]
            t = self.u32()
            off = self.u64()
            self.tensors.append((name, ne, t, off))
        self.header_end = self.pos
        kv = dict((k, (t, v)) for k, t, v, _ in reversed(self.kvs))
        self.alignment = kv["general.alignment"][1] \
            if "general.alignment" in kv else 32
        a = self.alignment
        self.data_start = (self.header_end + a - 1) // a * a \
            if self.tensors else self.header_end
        self.kv = kv

    def u32(self):
        v, = struct.unpack_from("<I", self.b, self.pos)
        self.pos += 4
        return v

    def u64(self):
        v, = struct.unpack_from("<Q", self.b, self.pos)
        self.pos += 8
        return v

    def string(self):
        n = self.u64()
        s = self.b[self.pos:self.pos + n]
        if len(s) != n:
            raise ValueError("string past the end")
        self.pos += n
        return s.decode("utf-8", "replace")

    def value(self, t):
        if t == STRING:
            return self.string()
        if t == ARRAY:
            et, n = self.u32(), self.u64()
            return [self.value(et) for _ in range(n)]
        v, = struct.unpack_from(SCALAR[t], self.b, self.pos)
        self.pos += struct.calcsize(SCALAR[t])
        return v

    def size(self, ne, t):
        n = 1
        for x in ne:
            n *= x
        _, blk, bb = GGML_TYPES[t]
        return n // blk * bb

    def data(self, name):
        for n, ne, t, off in self.tensors:
            if n == name:
                s = self.data_start + off
                return t, self.b[s:s + self.size(ne, t)]
        return None, None

    def layout_problems(self):
        """What ggml's reader (gguf.cpp) would refuse, and our padding."""
        p = []
        keys = [k for k, _, _, _ in self.kvs]
        if len(set(keys)) != len(keys):
            p.append("repeated keys")
        if "general.alignment" in self.kv:
            t, a = self.kv["general.alignment"]
            if t != U32 or a == 0 or a & (a - 1):
                p.append("bad general.alignment")
        names = [n for n, _, _, _ in self.tensors]
        if len(set(names)) != len(names):
            p.append("repeated tensor names")
        a = self.alignment
        expect = 0
        for n, ne, t, off in self.tensors:
            if len(n.encode()) >= 64:
                p.append("name '%s' too long for ggml" % n)
            if len(ne) > 4 or t not in GGML_TYPES:
                p.append("'%s': dims or type" % n)
                continue
            if ne and ne[0] % GGML_TYPES[t][1]:
                p.append("'%s': row not whole blocks" % n)
            if off != expect:
                p.append("'%s': offset %d, ggml wants %d" % (n, off, expect))
            sz = self.size(ne, t)
            pad = self.b[self.data_start + off + sz:
                         self.data_start + off + (sz + a - 1) // a * a]
            if pad.strip(b"\0"):
                p.append("'%s': padding not zero" % n)
            expect = off + (sz + a - 1) // a * a
        if self.b[self.header_end:self.data_start].strip(b"\0"):
            p.append("header padding not zero")
        if len(self.b) != self.data_start + expect:
            p.append("file is %d bytes, layout says %d"
                     % (len(self.b), self.data_start + expect))
        quantized = any(GGML_TYPES[t][1] > 1 for _, _, t, _ in self.tensors
                        if t in GGML_TYPES)
        qv = self.kv.get("general.quantization_version")
        if quantized and qv != (U32, 2):
            p.append("general.quantization_version is %r" % (qv,))
        return p


# ---- a GGUF writer, for inputs the fixtures do not have ----

def gguf_bytes(kvs, tensors, alignment=32):
    """kvs: [(key, type, packed value bytes)]; tensors: [(name, ne, F32
    data bytes)].  Follows ggml's layout."""
    def s(x):
        x = x.encode()
        return struct.pack("<Q", len(x)) + x
    out = [b"GGUF", struct.pack("<IQQ", 3, len(tensors), len(kvs))]
    for k, t, v in kvs:
        out.append(s(k) + struct.pack("<I", t) + v)
    off = 0
    for name, ne, data in tensors:
        out.append(s(name) + struct.pack("<I", len(ne)) +
                   b"".join(struct.pack("<Q", x) for x in ne) +
                   struct.pack("<IQ", 0, off))
        off += (len(data) + alignment - 1) // alignment * alignment
    head = b"".join(out)
    body = [head, b"\0" * (-len(head) % alignment)]
    for _, _, data in tensors:
        body.append(data)
        body.append(b"\0" * (-len(data) % alignment))
    return b"".join(body)


def kv_str(v):
    v = v.encode()
    return struct.pack("<Q", len(v)) + v


def f32_rows(rows, cols, seed):
    """rows x cols F32 bytes: a few random rows, repeated (fast)."""
    rnd = random.Random(seed)
    pattern = array("f", (rnd.gauss(0, 0.02) for _ in range(cols * 4)))
    pattern = pattern.tobytes()
    rep = (rows + 3) // 4
    return (pattern * rep)[:rows * cols * 4]


# ---- the checks ----

def one_line(r):
    return r.stderr.count("\n") == 1 and r.stderr.startswith("qscope: ")


def main():
    gg = os.path.join(FIXTURES, "gguf")
    master = os.path.join(gg, "tiny-llama-f32.gguf")
    if not os.path.exists(master):
        print("skip: no fixtures at %s" % FIXTURES)
        print("0 passed, 0 failed")
        return 0
    tmp = tempfile.mkdtemp(prefix="qscope-quantize-")
    try:
        checks(tmp, gg, master)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


def same_as_llama(out, ref_path, label):
    """Tensor bytes by name, and KVs in order, against llama.cpp's file."""
    got, ref = GGUF(out), GGUF(ref_path)
    names = [n for n, _, _, _ in ref.tensors]
    diff = [n for n in names if got.data(n) != ref.data(n)]
    check("%s: %d tensors byte-identical to llama-quantize's"
          % (label, len(names) - len(diff)),
          not diff and len(got.tensors) == len(ref.tensors),
          "differ: %s" % diff[:5])
    ours = [(k, t, raw) for k, t, _, raw in got.kvs]
    theirs = [(k, t, raw) for k, t, _, raw in ref.kvs]
    check("%s: KVs equal to llama-quantize's, in order (%d)"
          % (label, len(theirs)), ours == theirs,
          "ours %s / theirs %s" % ([k for k, _, _ in ours][-4:],
                                   [k for k, _, _ in theirs][-4:]))
    probs = got.layout_problems()
    check("%s: layout as ggml demands" % label, not probs, "; ".join(probs))


def checks(tmp, gg, master):
    master_sum = sha256(master)
    out = os.path.join(tmp, "q8.gguf")

    # Q8_0 and F16, against llama-quantize's files.
    r = run("quantize", master, "--type", "Q8_0", "-o", out)
    check("quantize --type Q8_0 exits 0 with nothing on stderr",
          r.returncode == 0 and r.stderr == "",
          "exit %d: %s" % (r.returncode, r.stderr))
    if r.returncode == 0:
        same_as_llama(out, os.path.join(gg, "tiny-llama-f32.Q8_0.gguf"),
                      "Q8_0")
        check("summary: tensors per type and bytes before -> after",
              "Q8_0" in r.stdout and "F32" in r.stdout and
              "7617856 -> 2035040" in r.stdout, r.stdout)
        g, m = GGUF(out), GGUF(master)
        # KV order: the input's, then quantization_version, file_type.
        keys = [k for k, _, _, _ in g.kvs]
        want = [k for k, _, _, _ in m.kvs if k != "general.file_type"]
        want += ["general.quantization_version", "general.file_type"]
        check("KV order: input's, then quantization_version, file_type",
              keys == want, "%s" % keys)
        check("general.file_type u32 7 (MOSTLY_Q8_0)",
              g.kv.get("general.file_type") == (U32, 7),
              repr(g.kv.get("general.file_type")))
        types = {n: GGML_TYPES[t][0] for n, _, t, _ in g.tensors}
        check("1-D norms stay F32, matrices Q8_0",
              all(types[n] == ("F32" if "norm" in n else "Q8_0")
                  for n in types), repr(types))
    out16 = os.path.join(tmp, "f16.gguf")
    r = run("quantize", master, "--type", "f16", "-o", out16)
    if r.returncode == 0:
        same_as_llama(out16, os.path.join(gg, "tiny-llama-f32.F16.gguf"),
                      "F16")
    else:
        check("quantize --type f16", False, r.stderr)

    # Same file: by name and through a hard link; the input unchanged.
    copy = os.path.join(tmp, "in.gguf")
    shutil.copyfile(master, copy)
    before = sha256(copy)
    r = run("quantize", copy, "--type", "Q8_0", "-o", copy, "--force")
    check("OUT = input: exit 2, one line",
          r.returncode == 2 and one_line(r) and
          "is the input file; write elsewhere" in r.stderr, r.stderr)
    link = os.path.join(tmp, "hardlink.gguf")
    os.link(copy, link)
    r = run("quantize", copy, "--type", "Q8_0", "-o", link, "--force")
    check("OUT = a hard link to the input: exit 2, one line",
          r.returncode == 2 and one_line(r) and
          "is the input file; write elsewhere" in r.stderr, r.stderr)
    r = run("quantize", copy, "--type", "Q8_0", "-o", link)
    check("OUT = a hard link, without --force: still refused as the input",
          r.returncode == 2 and "is the input file" in r.stderr, r.stderr)
    os.unlink(link)
    check("input unchanged (sha256)", sha256(copy) == before)

    # Existing OUT.
    exist = os.path.join(tmp, "exists.gguf")
    with open(exist, "wb") as f:
        f.write(b"keep me")
    r = run("quantize", master, "--type", "Q8_0", "-o", exist)
    with open(exist, "rb") as f:
        kept = f.read() == b"keep me"
    check("existing OUT without --force: exit 2, one line, OUT kept",
          r.returncode == 2 and one_line(r) and kept and
          "already exists; use --force" in r.stderr, r.stderr)
    r = run("quantize", master, "--type", "Q8_0", "-o", exist, "--force")
    check("existing OUT with --force: replaced",
          r.returncode == 0 and GGUF(exist).kv["general.file_type"][1] == 7,
          r.stderr)

    # --type-for: in order, later wins; only weights quantize converts.
    glob = os.path.join(tmp, "glob.gguf")
    r = run("quantize", master, "--type", "Q8_0",
            "--type-for", "blk.*.ffn_*=Q4_0",
            "--type-for", "blk.1.ffn_down.weight=q6_k",
            "--type-for", "*norm*=F16",
            "-o", glob)
    if r.returncode == 0:
        types = {n: GGML_TYPES[t][0] for n, _, t, _ in GGUF(glob).tensors}

        def want(n):
            if "norm" in n:
                return "F32"
            if n == "blk.1.ffn_down.weight":
                return "Q6_K"
            if ".ffn_" in n:
                return "Q4_0"
            return "Q8_0"
        bad = {n: t for n, t in types.items() if t != want(n)}
        check("--type-for globs applied in order, later wins", not bad,
              repr(bad))
        check("--type-for matching only norms says so",
              "'*norm*': matches no tensor that quantize converts"
              in r.stderr, r.stderr)
        # file_type: Q4_0 holds the most parameters (the FFNs).
        check("general.file_type follows the main type (Q4_0 = 2)",
              GGUF(glob).kv["general.file_type"] == (U32, 2),
              repr(GGUF(glob).kv["general.file_type"]))
        probs = GGUF(glob).layout_problems()
        check("mixed types: layout as ggml demands", not probs,
              "; ".join(probs))
    else:
        check("--type-for run", False, r.stderr)

    # Non-GGUF input, bad TYPE, missing arguments.
    st = os.path.join(FIXTURES, "real",
                      "huggingface__safetensors__samples_overall.safetensors")
    if os.path.exists(st):
        r = run("quantize", st, "--type", "Q8_0", "-o",
                os.path.join(tmp, "st.gguf"))
        check("non-GGUF input: exit 2, one line",
              r.returncode == 2 and one_line(r) and
              "'%s': quantize writes GGUF, and needs a GGUF input for now"
              % st in r.stderr, r.stderr)
    for args, label in ((["--type", "Q9_9"], "bad TYPE"),
                        (["--type", "F8_E4M3"], "a TYPE GGUF cannot hold"),
                        (["--type", "IQ2_XXS"], "a TYPE qscope cannot write"),
                        (["--type", "Q8_0", "--type-for", "x=nope"],
                         "bad --type-for TYPE"),
                        (["--type", "Q8_0", "--type-for", "noequals"],
                         "--type-for without =")):
        o = os.path.join(tmp, "bad.gguf")
        r = run("quantize", master, *args, "-o", o)
        check(label + ": exit 2, one line, nothing written",
              r.returncode == 2 and one_line(r) and not os.path.exists(o),
              "exit %d: %r" % (r.returncode, r.stderr))
    r = run("quantize", master, "--type", "Q8_0")
    check("no -o: exit 2", r.returncode == 2, r.stderr)

    # A row the block does not divide keeps its type, and says so.
    odd = os.path.join(tmp, "odd.gguf")
    with open(odd, "wb") as f:
        f.write(gguf_bytes(
            [("general.architecture", STRING, kv_str("llama"))],
            [("odd.weight", [100, 4], f32_rows(4, 100, 1)),
             ("even.weight", [256, 4], f32_rows(4, 256, 2))]))
    oddout = os.path.join(tmp, "odd.out.gguf")
    r = run("quantize", odd, "--type", "Q8_0", "-o", oddout)
    check("kept 'odd.weight' as F32 with one line on stderr",
          r.returncode == 0 and r.stderr ==
          "qscope: kept 'odd.weight' as F32: row of 100 is not a multiple of 32\n",
          r.stderr)
    if r.returncode == 0:
        types = {n: GGML_TYPES[t][0] for n, _, t, _ in GGUF(oddout).tensors}
        check("odd.weight F32, even.weight Q8_0",
              types == {"odd.weight": "F32", "even.weight": "Q8_0"},
              repr(types))

    check("fixture unchanged by every run (sha256)",
          sha256(master) == master_sum)

    same_type_checks(tmp, gg)
    sharded_checks(tmp)
    interrupt_checks(tmp)


def same_type_checks(tmp, gg):
    """A plan rule whose GGUF type is the tensor's own: gguf_write copies
    it, and the check after writing compares it with the input."""
    q6 = os.path.join(gg, "tiny-llama-f32.Q6_K.gguf")
    if not os.path.exists(q6):
        return
    plan = write_text(tmp, "q6.plan", "* q6_k\n")
    out = os.path.join(tmp, "q6.gguf")
    if quantize_plan("--plan q6_k on a Q6_K GGUF: exit 0, verified",
                     q6, plan, out, "verified:").passed:
        got, ref = GGUF(out), GGUF(q6)
        diff = [n for n, _, _, _ in ref.tensors if got.data(n) != ref.data(n)]
        check("--plan q6_k on a Q6_K GGUF: every tensor copied byte for byte",
              not diff, "differ: %s" % diff[:5])


def st_header(path):
    with open(path, "rb") as f:
        n, = struct.unpack("<Q", f.read(8))
        import json
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return h


def st_write(path, tensors):
    """F32 tensors, each (name, rows, cols, seed of its values)."""
    write_safetensors(path, [(name, "F32", [rows, cols],
                              f32_rows(rows, cols, seed))
                             for name, rows, cols, seed in tensors])


def sharded_checks(tmp):
    """A sharded safetensors input (two shards and an index): -o
    x.safetensors is one file, as named; -o a folder shards like the
    input, with an index."""
    import json
    src = os.path.join(tmp, "sharded")
    os.mkdir(src)
    shards = {"model-00001-of-00002.safetensors":
              [("a.weight", 64, 128, 1), ("b.weight", 64, 128, 2)],
              "model-00002-of-00002.safetensors":
              [("c.weight", 64, 128, 3), ("d.norm", 1, 128, 4)]}
    wm = {}
    for fn, ts in shards.items():
        st_write(os.path.join(src, fn), ts)
        for t in ts:
            wm[t[0]] = fn
    with open(os.path.join(src, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": wm}, f)
    plan = write_text(tmp, "sh.plan", "*.weight int8\n")

    one = os.path.join(tmp, "one.safetensors")
    if quantize_plan("sharded input, -o x.safetensors: exit 0, one file",
                     src, plan, one, "files: 1,").passed:
        names = set(st_header(one))
        check("sharded input, -o x.safetensors: every tensor in the one "
              "file, no index beside it",
              {"a.weight_packed", "b.weight_packed", "c.weight_packed",
               "d.norm"} <= names and
              not [n for n in os.listdir(tmp) if n.endswith(".index.json")],
              repr(sorted(names)))

    folder = os.path.join(tmp, "sharded-out") + "/"
    if quantize_plan("sharded input, -o FOLDER/: exit 0, two shards and an "
                     "index", src, plan, folder, "files: 3,").passed:
        with open(folder + "model.safetensors.index.json") as f:
            got = json.load(f)["weight_map"]
        where = {k.split("_packed")[0].split("_scale")[0]
                 .split("_shape")[0]: v for k, v in got.items()}
        check("sharded input, -o FOLDER/: each tensor in the shard of the "
              "same number as its input file", where == wm,
              "%r != %r" % (where, wm))


def big_input(path, copies):
    """An F32 GGUF of `copies` 8 MB matrices and a norm, alignment 64."""
    cols, rows = 4096, 512
    data = f32_rows(rows, cols, 7)
    tensors = [("blk.%d.ffn_up.weight" % i, [cols, rows], data)
               for i in range(copies)]
    tensors.append(("output_norm.weight", [cols], f32_rows(1, cols, 8)))
    with open(path, "wb") as f:
        f.write(gguf_bytes(
            [("general.architecture", STRING, kv_str("llama")),
             ("general.alignment", U32, struct.pack("<I", 64))],
            tensors, alignment=64))


def interrupt_once(big, outdir, out):
    """Start writing big as IQ4_XS (the slowest type qscope writes), send
    SIGINT once the temporary file is there.  Returns (caught, exit
    status, stderr, new entries in outdir)."""
    names = set(os.listdir(outdir))
    p = subprocess.Popen([QSCOPE, "quantize", big, "--type", "IQ4_XS",
                          "-o", out, "--force"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.time() + 20
    seen = False
    while time.time() < deadline and p.poll() is None:
        if any(".tmp-" in n for n in os.listdir(outdir)):
            seen = True
            time.sleep(0.002)
            break
        time.sleep(0.0005)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    left = set(os.listdir(outdir)) - names
    return seen and p.returncode != 0, p.returncode, err, left


def interrupt_checks(tmp):
    """SIGINT during the write of a ~50 MB F32 input (a 4x bigger one if
    this machine wrote it too fast to catch)."""
    big = os.path.join(tmp, "big.gguf")
    big_input(big, 6)
    size = os.path.getsize(big)
    outdir = os.path.join(tmp, "out")
    os.mkdir(outdir)
    out = os.path.join(outdir, "big.Q4_K.gguf")

    # Uninterrupted first: alignment 64 kept, layout right.
    r = run("quantize", big, "--type", "Q4_K", "-o", out)
    if r.returncode == 0:
        g = GGUF(out)
        check("%d MB input, alignment 64 kept, layout as ggml demands"
              % (size >> 20), g.alignment == 64 and not g.layout_problems(),
              "; ".join(g.layout_problems()))
        os.unlink(out)
    else:
        check("big input quantizes", False, r.stderr)

    for existing in (False, True):
        what = "with an existing OUT" if existing else "without OUT"
        if existing:
            with open(out, "wb") as f:
                f.write(b"old")
        before = sha256(big)
        caught, rc, err, left = interrupt_once(big, outdir, out)
        if not caught:
            # Put OUT back as it was, then try a bigger input.
            if existing:
                with open(out, "wb") as f:
                    f.write(b"old")
            elif os.path.exists(out):
                os.unlink(out)
            big_input(big, 24)
            before = sha256(big)
            caught, rc, err, left = interrupt_once(big, outdir, out)
        if not caught:
            check("SIGINT %s: caught mid-write" % what, False,
                  "the write ended before the signal (exit %d)" % rc)
            continue
        check("SIGINT %s: exit 2, 'interrupted' on one line" % what,
              rc == 2 and "interrupted; nothing was written" in err and
              err.count("\n") == 1, "exit %d: %r" % (rc, err))
        check("SIGINT %s: no temporary file left" % what, not left,
              repr(left))
        if existing:
            with open(out, "rb") as f:
                check("SIGINT: existing OUT kept", f.read() == b"old")
        else:
            check("SIGINT: no OUT", not os.path.exists(out))
        check("SIGINT %s: input unchanged (sha256)" % what,
              sha256(big) == before)


if __name__ == "__main__":
    sys.exit(main())
