#!/usr/bin/python3
"""PyTorch checkpoints: qscope against torch.load, and hostile pickles.

With python3-torch installed, random state dicts of every dtype torch saves
(f32 f16 bf16 f64 i8 i16 i32 i64 u8 bool), transposed, sliced, expanded and
shared views, nested dicts with metadata, in the zip and the legacy format,
are saved with torch.save; `qscope list --json` and `stats --json` must match
torch.load(weights_only=True).  Without torch, zips are built by hand from
the pickle of FORMATS.md 7.8.

Always: malicious pickles written by hand (os.system, builtins.eval,
subprocess.Popen, REDUCE on a disallowed callable, deep nesting, huge memo
indices, a storage larger than its record, truncation) must exit 2 with one
line on stderr, quickly, and without the payload running (the file it would
create must not appear).

QSCOPE names the binary (default ./qscope).  Prints ok/FAIL lines and
'N passed, N failed'; exits 1 on failure.
"""
import json, math, os, random, shutil, struct, subprocess, sys, tempfile, time, zipfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qstest import QSCOPE, fail, finish, ok  # noqa: E402

QS = QSCOPE
tmp = tempfile.mkdtemp(prefix="qscope-torch-")


def qs(*args, timeout=60):
    t0 = time.time()
    try:
        p = subprocess.run([QS] + list(args), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "", "timed out", time.time() - t0
    return p.returncode, p.stdout, p.stderr, time.time() - t0


def zip_torch(path, members, root="archive"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(root + "/" + name, data)


# ---- pickle bytes by hand (FORMATS.md 3.4) ----

def uni(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def glob(mod, name):
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


PKL_78 = bytes.fromhex(
    "800263636f6c6c656374696f6e730a4f726465726564446963740a710029527101580100000077710263746f7263682e"
    "5f7574696c730a5f72656275696c645f74656e736f725f76320a71032828580700000073746f72616765710463746f72"
    "63680a466c6f617453746f726167650a71055801000000307106580300000063707571074b06747108514b004b024b03"
    "8671094b034b0186710a8968002952710b74710c52710d732e")
ARANGE6 = struct.pack("<6f", 0, 1, 2, 3, 4, 5)


def hand_checks():
    p = os.path.join(tmp, "hand78.pt")
    zip_torch(p, [("data.pkl", PKL_78), ("data/0", ARANGE6), ("version", b"3\n")], root="not_the_file_name")
    rc, out, err, _ = qs("list", "--json", p)
    if rc != 0:
        return fail("hand-built 7.8 zip lists", err.strip())
    t = json.loads(out)["tensors"]
    if [(x["name"], x["dtype"], x["shape"], x["bytes"]) for x in t] != [("w", "F32", [2, 3], 24)]:
        return fail("hand-built 7.8 zip lists", repr(t))
    rc, out, err, _ = qs("stats", "--json", p)
    s = json.loads(out)["tensors"][0] if rc == 0 else {}
    if (s.get("min"), s.get("max"), s.get("mean")) != (0, 5, 2.5):
        return fail("hand-built 7.8 zip stats", err.strip() or repr(s))
    ok("hand-built 7.8 zip: list and stats")


# ---- hostile inputs ----

def hostile_cases(mark):
    touch = "touch " + mark
    cases = []
    # os.system('touch MARK')
    cases.append(("os.system REDUCE", b"\x80\x02" + glob("os", "system") + uni(touch) + b"\x85R.", "os.system"))
    cases.append(("posix.system REDUCE", b"\x80\x02" + glob("posix", "system") + uni(touch) + b"\x85R.", "posix.system"))
    code = "__import__('os').system('%s')" % touch
    cases.append(("builtins.eval REDUCE", b"\x80\x02" + glob("builtins", "eval") + uni(code) + b"\x85R.", "builtins.eval"))
    cases.append(("__builtin__.exec REDUCE", b"\x80\x02" + glob("__builtin__", "exec") + uni(code) + b"\x85R.", "__builtin__.exec"))
    cases.append(("subprocess.Popen STACK_GLOBAL", b"\x80\x04" + b"\x8c\x0asubprocess\x8c\x05Popen\x93"
                  + b"]" + uni("touch") + b"a" + uni(mark) + b"a" + b"\x85R.", "subprocess.Popen"))
    # a class that is not on the list, called through REDUCE
    cases.append(("REDUCE on a disallowed callable", b"\x80\x02" + glob("torch.nn.modules.linear", "Linear")
                  + b"K\x02K\x03\x86R.", "torch.nn.modules.linear.Linear"))
    cases.append(("REDUCE on a storage class", b"\x80\x02" + glob("torch", "FloatStorage") + b")R.", "not allowed"))
    cases.append(("INST opcode", b"(" + b"i" + b"os\nsystem\n" + b".", "not allowed"))
    # an os.system hidden inside a tensor record's arguments
    cases.append(("os.system inside a state dict", b"\x80\x02" + glob("collections", "OrderedDict") + b")R"
                  + uni("w") + glob("os", "system") + uni(touch) + b"\x85Rs.", "os.system"))
    cases.append(("deep MARK nesting", b"\x80\x02" + b"(" * 100000 + b"." , "nesting deeper"))
    cases.append(("deep list nesting", b"\x80\x02" + b"]" * 100000 + b"a" * 99999 + b".", "deeper"))
    cases.append(("huge memo index PUT", b"\x80\x02]r\xff\xff\xff\xff.", "memo index"))
    cases.append(("huge memo index GET", b"\x80\x02]j\xf0\xff\xff\xff.", "memo index"))
    cases.append(("string longer than the pickle", b"\x80\x02X\xff\xff\xff\xff" + b"a" * 10 + b".", "bytes"))
    cases.append(("no STOP", b"\x80\x02]", "STOP"))
    return cases


def one_line(err):
    return len(err.strip().splitlines()) == 1


def hostile_checks():
    mark = os.path.join(tmp, "pwned")
    for what, pkl, frag in hostile_cases(mark):
        p = os.path.join(tmp, "evil.pt")
        zip_torch(p, [("data.pkl", pkl), ("version", b"3\n")])
        rc, out, err, dt = qs("list", p, timeout=30)
        if rc != 2:
            fail("refuses " + what, "exit %r: %s" % (rc, err.strip()[:200]))
        elif not one_line(err) or frag not in err:
            fail("refuses " + what, "message %r lacks %r" % (err.strip()[:200], frag))
        elif os.path.exists(mark):
            fail("refuses " + what, "the payload ran")
        elif dt > 10:
            fail("refuses " + what, "took %.1f s" % dt)
        else:
            ok("refuses %s (%s)" % (what, err.strip().split(": ", 2)[-1][:70]))
    # the same payload in the legacy format
    p = os.path.join(tmp, "evil-legacy.pt")
    with open(p, "wb") as f:
        f.write(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.")
        f.write(b"\x80\x02M\xe9\x03.")
        f.write(b"\x80\x02}.")
        f.write(b"\x80\x02" + glob("os", "system") + uni("touch " + mark) + b"\x85R.")
    rc, out, err, _ = qs("list", p)
    if rc == 2 and one_line(err) and "os.system" in err and not os.path.exists(mark):
        ok("refuses os.system in a legacy checkpoint")
    else:
        fail("refuses os.system in a legacy checkpoint", "exit %r: %s" % (rc, err.strip()[:200]))
    # a storage that claims more than its record holds
    p = os.path.join(tmp, "short-storage.pt")
    zip_torch(p, [("data.pkl", PKL_78), ("data/0", ARANGE6[:20]), ("version", b"3\n")])
    rc, out, err, _ = qs("list", p)
    if rc == 2 and one_line(err) and "storage '0'" in err:
        ok("refuses a storage larger than its record")
    else:
        fail("refuses a storage larger than its record", "exit %r: %s" % (rc, err.strip()[:200]))
    # a view reaching past its storage: size (2, 3) with stride (4, 1)
    pk = PKL_78.replace(b"K\x03K\x01\x86", b"K\x04K\x01\x86")
    p = os.path.join(tmp, "view-past.pt")
    zip_torch(p, [("data.pkl", pk), ("data/0", ARANGE6), ("version", b"3\n")])
    rc, out, err, _ = qs("list", p)
    if rc == 2 and one_line(err) and "reach" in err:
        ok("refuses a view reaching past its storage")
    else:
        fail("refuses a view reaching past its storage", "exit %r: %s" % (rc, err.strip()[:200]))
    # truncated data.pkl
    p = os.path.join(tmp, "truncated.pt")
    zip_torch(p, [("data.pkl", PKL_78[:100]), ("data/0", ARANGE6)])
    rc, out, err, _ = qs("list", p)
    if rc == 2 and one_line(err):
        ok("refuses a truncated data.pkl")
    else:
        fail("refuses a truncated data.pkl", "exit %r: %s" % (rc, err.strip()[:200]))


# ---- torch round trips ----

def torch_checks():
    try:
        import torch
    except ImportError:
        print("# python3-torch is not installed: torch round trips skipped")
        return
    torch.manual_seed(0)
    random.seed(0)
    esize = {torch.float32: 4, torch.float16: 2, torch.bfloat16: 2, torch.float64: 8, torch.int8: 1,
             torch.int16: 2, torch.int32: 4, torch.int64: 8, torch.uint8: 1, torch.bool: 1}
    dname = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
             torch.int8: "I8", torch.int16: "I16", torch.int32: "I32", torch.int64: "I64", torch.uint8: "U8",
             torch.bool: "BOOL"}

    def rand(dt, shape):
        if dt.is_floating_point:
            return (torch.randn(shape, dtype=torch.float64) * random.choice([0.02, 1, 300])).to(dt)
        if dt == torch.bool:
            return torch.rand(shape) > 0.5
        lo, hi = {torch.uint8: (0, 256), torch.int8: (-128, 128)}.get(dt, (-30000, 30000))
        return torch.randint(lo, hi, shape).to(dt)

    def state(seed):
        random.seed(seed)
        torch.manual_seed(seed)
        sd = {}
        for dt in esize:
            nd = random.randint(0, 4)
            shape = [random.randint(1, 9) for _ in range(nd)]
            sd["w_" + dname[dt].lower()] = rand(dt, shape)
        base = torch.randn(12, 20)
        sd["view.base"] = base
        sd["view.t"] = base.t()
        sd["view.slice"] = base[3:7, 5:15]
        sd["view.step"] = base[:, ::3]
        sd["view.col"] = base[:, 4]
        sd["view.expand"] = torch.randn(1, 6).expand(5, 6)
        sd["view.tied"] = base
        sd["view.permute"] = torch.randn(3, 4, 5).to(torch.float16).permute(2, 0, 1)
        sd["view.empty"] = torch.zeros(0, 7)
        sd["view.scalar"] = torch.tensor(2.5)
        nested = {"model": {"layers": [{"w": rand(torch.float32, [4, 4]), "b": rand(torch.bfloat16, [4])}
                                       for _ in range(2)]},
                  "epoch": 7, "lr": 0.125, "name": "tiny", "betas": (0.9, 0.999), "flags": [True, None],
                  "sd": sd}
        return nested

    def flatten(o, path, out, meta):
        if isinstance(o, torch.Tensor):
            out[path] = o
        elif isinstance(o, dict):
            for k, v in o.items():
                flatten(v, (path + "." if path else "") + str(k), out, meta)
        elif isinstance(o, (list, tuple)):
            for i, v in enumerate(o):
                flatten(v, (path + "." if path else "") + str(i), out, meta)
        else:
            meta[path] = o

    for seed, legacy in ((1, False), (2, False), (3, True)):
        obj = state(seed)
        what = "torch.save %s seed %d" % ("legacy" if legacy else "zip", seed)
        p = os.path.join(tmp, "rt%d.pt" % seed)
        torch.save(obj, p, _use_new_zipfile_serialization=not legacy)
        try:
            back = torch.load(p, weights_only=True)
        except Exception:
            # torch 1.13's weights-only unpickler lacks BINFLOAT (float
            # metadata); the file is our own, so the full loader is safe.
            back = torch.load(p, weights_only=False)
        tens, meta = {}, {}
        flatten(back, "", tens, meta)
        rc, out, err, _ = qs("list", "--json", p)
        if rc != 0:
            fail(what + ": list", err.strip()[:200])
            continue
        got = {t["name"]: t for t in json.loads(out)["tensors"]}
        problems = []
        if set(got) != set(tens):
            problems.append("names differ: %r" % sorted(set(got) ^ set(tens))[:5])
        for n, t in tens.items():
            g = got.get(n)
            if not g:
                continue
            want = (dname[t.dtype], list(t.shape), t.numel(), t.numel() * esize[t.dtype])
            have = (g["dtype"], g["shape"], g["params"], g["bytes"])
            if want != have:
                problems.append("%s: %r, torch says %r" % (n, have, want))
        rc, out, err, _ = qs("stats", "--json", p)
        if rc != 0:
            problems.append("stats: " + err.strip()[:200])
        else:
            st = {t["name"]: t for t in json.loads(out)["tensors"]}
            for n, t in tens.items():
                s = st.get(n)
                if s is None or t.numel() == 0:
                    continue
                x = t.to(torch.float32).to(torch.float64).flatten()
                fin = x[torch.isfinite(x)]
                want = {"min": fin.min().item(), "max": fin.max().item(), "mean": fin.mean().item(),
                        "zeros": int((x == 0).sum().item()), "count": t.numel()}
                for k, v in want.items():
                    h = s.get(k)
                    tol = 1e-6 * max(1.0, abs(v), fin.abs().max().item()) if k == "mean" else 0
                    if not isinstance(h, (int, float)) or abs(h - v) > tol:
                        problems.append("%s: %s %r, torch says %r" % (n, k, h, v))
        rc, out, err, _ = qs("meta", "--json", p)
        if rc != 0:
            problems.append("meta: " + err.strip()[:200])
        else:
            md = {m["key"]: m["value"] for m in json.loads(out)["metadata"]}
            for k, v in meta.items():
                if md.get(k, "missing") != v:
                    problems.append("meta %s: %r, torch says %r" % (k, md.get(k, "missing"), v))
        if problems:
            fail(what, problems[0] + (" (+%d more)" % (len(problems) - 1) if len(problems) > 1 else ""))
        else:
            ok("%s: %d tensors and %d metadata match torch.load" % (what, len(tens), len(meta)))


try:
    hand_checks()
    hostile_checks()
    torch_checks()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(finish())
