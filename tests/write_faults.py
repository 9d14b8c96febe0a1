#!/usr/bin/python3
"""tests/write_faults.py - `qscope quantize` when writing goes wrong.

usage: tests/write_faults.py          (from the project root; QSCOPE=./qscope)

The writer (formats/gguf.c) promises: the output goes to a temporary file
next to OUT that is fsynced and renamed; on any failure the temporary file
is removed, nothing appears at OUT and the input is never touched.  Each
check runs qscope on a ~16 MB F32 GGUF this script writes, and looks at the
exit status (2, never a signal), stderr (one line naming the problem), the
folder (no OUT, no temporary) and the input (sha256 before and after):

  - disk full: RLIMIT_FSIZE (with SIGXFSZ left at its default, which qscope
    must ignore itself), and, where a private mount namespace can be had
    (root, unshare), a real 256 KB tmpfs that runs out of space;
  - SIGKILL mid-write: no OUT (the hidden temporary may stay behind: it is
    named .OUT.tmp-PID-XXXXXX, PID the killed writer's, and nothing else);
    the next write of the same OUT removes it and says so on stderr, for
    GGUF and for safetensors, and leaves alone a temporary whose process
    still runs;
  - a folder that cannot be written: /sys (EACCES even for root), a
    read-only bind mount (EROFS, in a private mount namespace), and a
    chmod 0555 folder unless running as root;
  - OUT through a symbolic link to the input, OUT as the input by another
    spelling (dir/../name), OUT inside the input file (ENOTDIR);
  - the input cut short while quantize has it mapped (SIGBUS): exit 2 with
    a message, no OUT, no temporary; for GGUF output (converted and
    copied tensors) and for safetensors output (copied tensors).
(The input as OUT by name and through a hard link, an existing OUT without
--force and SIGINT are tests/quantize_check.py's.)

Prints "ok ..."/"FAIL ..." lines and "N passed, N failed"; exit 1 on any
failure.
"""
import hashlib
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qstest import check, finish, ok, write_text  # noqa: E402

QSCOPE = os.path.abspath(os.environ.get("QSCOPE", "./qscope"))
TIMEOUT = 60


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf(path, rows=2048, cols=1024, ntensors=2, norms_first=False):
    """An F32 GGUF v3: ntensors matrices of rows x cols and norm vectors
    (which quantize copies as they are), after them or before them."""
    kv = [gstr("general.architecture") + struct.pack("<I", 8) + gstr("llama"),
          gstr("general.alignment") + struct.pack("<II", 4, 32)]
    tensors = [("blk.%d.attn_q.weight" % i, [rows, cols]) for i in range(ntensors)]
    norms = [("blk.%d.attn_norm.weight" % i, [cols]) for i in range(4)]
    tensors = norms + tensors if norms_first else tensors + norms
    info, off, sizes = b"", 0, []
    for name, shape in tensors:
        n = 4
        for d in shape:
            n *= d
        info += gstr(name) + struct.pack("<I", len(shape))
        info += b"".join(struct.pack("<Q", d) for d in reversed(shape))
        info += struct.pack("<IQ", 0, off)
        sizes.append(n)
        off += n + (-n % 32)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)) + b"".join(kv) + info
    head += b"\0" * (-len(head) % 32)
    block = struct.pack("<256f", *[((i * 37) % 101 - 50) / 25.0 for i in range(256)])
    with open(path, "wb") as f:
        f.write(head)
        for n in sizes:
            f.write((block * (n // len(block) + 1))[:n])
            f.write(b"\0" * (-n % 32))
    return len(head)


def write_safetensors(path, rows=2048, cols=1024, ntensors=4):
    """An F32 safetensors file: ntensors matrices of rows x cols, then
    norm vectors.  Returns the length of its header."""
    import json
    tensors = [("blk.%d.attn_q.weight" % i, [rows, cols]) for i in range(ntensors)]
    tensors += [("blk.%d.attn_norm.weight" % i, [cols]) for i in range(4)]
    hdr, off = {}, 0
    for name, shape in tensors:
        n = 4
        for d in shape:
            n *= d
        hdr[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    block = struct.pack("<256f", *[((i * 37) % 101 - 50) / 25.0 for i in range(256)])
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        f.write((block * (off // len(block) + 1))[:off])
    return 8 + len(h)


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def temps(folder, out):
    pre = "." + os.path.basename(out) + ".tmp-"
    try:
        return [n for n in os.listdir(folder) if n.startswith(pre)]
    except OSError:
        return []


def run(args, preexec=None):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=TIMEOUT, preexec_fn=preexec)


def refusal(r, frag=None):
    """Why r is not a clean refusal ('' when it is)."""
    err = r.stderr.decode("utf-8", "replace")
    if r.returncode < 0:
        return "killed by signal %d" % -r.returncode
    if r.returncode != 2:
        return "exit %d, stderr %r" % (r.returncode, err[-300:])
    lines = [l for l in err.splitlines() if l.strip()]
    if not lines or not lines[-1].startswith("qscope: "):
        return "no message on stderr: %r" % err[-300:]
    if frag and frag not in err:
        return "message %r lacks %r" % (err.strip()[-300:], frag)
    return ""


def quantize(inp, out, typ="Q8_0", extra=()):
    return [QSCOPE, "quantize", inp, "--type", typ, "-o", out] + list(extra)


def have_unshare():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    try:
        r = subprocess.run(["unshare", "-m", "sh", "-c",
                            "mount -t tmpfs -o size=64k none /mnt 2>/dev/null || "
                            "mount -t tmpfs -o size=64k none \"$TMPDIR\""],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=10, env=dict(os.environ, TMPDIR=tempfile.gettempdir()))
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def in_namespace(tag, setup, folder, cmd):
    """Run cmd in a private mount namespace after the shell commands of
    setup; prints the names left in folder after qscope ran, after a
    line TAG, on stdout."""
    script = "%s || exit 99\n\"$@\"\nrc=$?\necho %s\nls -A %s\nexit $rc\n" % (
        setup, tag, folder)
    return run(["unshare", "-m", "sh", "-c", script, "sh"] + cmd)


def left_after(r, tag):
    out = r.stdout.decode("utf-8", "replace")
    return out.split(tag + "\n", 1)[1].split() if tag + "\n" in out else None


def disk_full(tmp, inp, h):
    out = os.path.join(tmp, "full.gguf")

    def small_fsize():
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 10, 256 << 10))

    r = run(quantize(inp, out), preexec=small_fsize)
    why = refusal(r) or (os.path.exists(out) and "OUT exists") or \
        (temps(tmp, out) and "temporary left: %s" % temps(tmp, out)) or \
        (sha(inp) != h and "input changed") or ""
    check("disk full (RLIMIT_FSIZE 256 KB, SIGXFSZ at its default): exit 2, "
          "no OUT, no temporary, input unchanged", not why, why)

    if not have_unshare():
        ok("skipped: a full tmpfs (needs root and unshare -m)")
        return
    mnt = os.path.join(tmp, "tiny")
    os.mkdir(mnt)
    r = in_namespace("LEFT", "mount -t tmpfs -o size=256k none %s" % mnt, mnt,
                     quantize(inp, os.path.join(mnt, "o.gguf")))
    left = left_after(r, "LEFT")
    why = ("namespace setup failed" if r.returncode == 99 else refusal(r)) or \
        (left is None and "no listing") or (left and "left in the tmpfs: %s" % left) or \
        (sha(inp) != h and "input changed") or ""
    check("disk full (a 256 KB tmpfs, ENOSPC): exit 2, the tmpfs left empty, "
          "input unchanged", not why, why)


def killed(tmp, inp, h):
    out = os.path.join(tmp, "killed.gguf")
    p = subprocess.Popen(quantize(inp, out, "Q4_K"), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    t0, seen = time.time(), False
    while time.time() - t0 < TIMEOUT and p.poll() is None:
        if temps(tmp, out):
            seen = True
            break
    p.send_signal(signal.SIGKILL)
    p.wait()
    left = temps(tmp, out)
    why = (not seen and "the write finished before the kill") or \
        (os.path.exists(out) and "OUT exists after SIGKILL") or \
        (sha(inp) != h and "input changed") or \
        (len(left) > 1 and "more than one temporary: %s" % left) or ""
    check("SIGKILL mid-write: no OUT, input unchanged, at most the hidden "
          "temporary %s left" % (left[0] if left else "(none)"), not why, why)
    for n in left:
        os.unlink(os.path.join(tmp, n))


def until_temp(p, folder, out):
    """Wait until the writer p has made its temporary; True if it did."""
    t0 = time.time()
    while time.time() - t0 < TIMEOUT and p.poll() is None:
        if temps(folder, out):
            return True
    return False


def stale_removed(tmp, inp, h):
    """A killed writer's temporary is removed by the next write of the
    same OUT, which says so; one whose process lives is left alone."""
    st_in = os.path.join(tmp, "stale-in.safetensors")
    write_safetensors(st_in)
    plan = write_text(tmp, "stale.plan", "*.attn_q.weight int8\n")
    for what, out, cmd in (
            ("GGUF", os.path.join(tmp, "stale.gguf"),
             lambda o: quantize(inp, o, "Q4_K")),
            ("safetensors", os.path.join(tmp, "stale.safetensors"),
             lambda o: [QSCOPE, "quantize", st_in, "--plan", plan, "-o", o])):
        p = subprocess.Popen(cmd(out), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        seen = until_temp(p, tmp, out)
        p.send_signal(signal.SIGKILL)
        p.wait()
        left = temps(tmp, out)
        pid_named = len(left) == 1 and \
            left[0].startswith(".%s.tmp-%d-" % (os.path.basename(out), p.pid))
        # a temporary of a process that runs (this one): not stale
        alive = ".%s.tmp-%d-abcdef" % (os.path.basename(out), os.getpid())
        open(os.path.join(tmp, alive), "w").close()
        r = run(cmd(out))
        err = r.stderr.decode("utf-8", "replace")
        now = temps(tmp, out)
        why = (not seen and "the write finished before the kill") or \
            (not pid_named and "temporaries after the kill: %s (pid %d)" % (left, p.pid)) or \
            (r.returncode != 0 and "second run: exit %d: %r" % (r.returncode, err[-300:])) or \
            ("removed a stale temporary '%s'" % os.path.join(tmp, left[0]) not in err and
             "stderr does not say so: %r" % err[-300:]) or \
            (now != [alive] and "temporaries after the second run: %s" % now) or \
            (not os.path.exists(out) and "no OUT") or ""
        check("%s: SIGKILL leaves .OUT.tmp-PID-XXXXXX; the next write of OUT "
              "removes it and says so, and leaves a live process's alone" % what,
              not why, why)
        for n in temps(tmp, out):
            os.unlink(os.path.join(tmp, n))
        if os.path.exists(out):
            os.unlink(out)
    if sha(inp) != h:
        check("stale temporaries: input unchanged", False, "input changed")


def unwritable(tmp, inp, h):
    if os.path.isdir("/sys"):
        r = run(quantize(inp, "/sys/qscope-test.gguf"))
        why = refusal(r) or (os.path.exists("/sys/qscope-test.gguf") and "OUT exists") or ""
        check("OUT in a folder nobody may write (/sys): exit 2 with a message",
              not why, why)
    if have_unshare():
        ro = os.path.join(tmp, "ro")
        os.mkdir(ro)
        r = in_namespace("LEFT", "mount --bind -o ro %s %s" % (ro, ro), ro,
                         quantize(inp, os.path.join(ro, "o.gguf")))
        left = left_after(r, "LEFT")
        why = ("namespace setup failed" if r.returncode == 99 else
               refusal(r, "Read-only")) or (left and "left: %s" % left) or \
            (sha(inp) != h and "input changed") or ""
        check("OUT on a read-only bind mount (EROFS): exit 2 with the reason, "
              "nothing written", not why, why)
    else:
        ok("skipped: a read-only bind mount (needs root and unshare -m)")
    if os.geteuid() != 0:
        d = os.path.join(tmp, "locked")
        os.mkdir(d, 0o555)
        r = run(quantize(inp, os.path.join(d, "o.gguf")))
        why = refusal(r, "Permission denied") or (os.listdir(d) and "files appeared") or ""
        check("OUT in a chmod 0555 folder: exit 2 with the reason", not why, why)
        os.chmod(d, 0o755)
    else:
        ok("skipped: a chmod 0555 folder (root may write it; /sys and "
           "the read-only mount stand in)")


def same_as_input(tmp, inp, h):
    link = os.path.join(tmp, "link.gguf")
    os.symlink(os.path.basename(inp), link)
    r = run(quantize(inp, link, extra=["--force"]))
    why = refusal(r) or (not os.path.islink(link) and "the link was replaced") or \
        (sha(inp) != h and "input changed") or ""
    check("OUT a symbolic link to the input, with --force: refused, input "
          "unchanged", not why, why)
    os.unlink(link)

    sub = os.path.join(tmp, "sub")
    os.makedirs(sub, exist_ok=True)
    other = os.path.join(sub, "..", os.path.basename(inp))
    r = run(quantize(inp, other, extra=["--force"]))
    why = refusal(r) or (sha(inp) != h and "input changed") or ""
    check("OUT the input spelled dir/../name, with --force: refused, input "
          "unchanged", not why, why)

    inside = os.path.join(inp, "member.gguf")
    r = run(quantize(inp, inside, extra=["--force"]))
    why = refusal(r) or (sha(inp) != h and "input changed") or ""
    check("OUT inside the input file (input/member.gguf): refused, input "
          "unchanged", not why, why)


def after_cut(p, stopped, inp, hdr, out, frag, late):
    """Cut INP short past its header of HDR bytes, let qscope (P, stopped
    if STOPPED) go on and end.  What is wrong ('' if nothing: a refusal
    saying FRAG, no OUT, no temporary; LATE if P was never stopped), and
    the end of its message; any temporary is removed."""
    os.truncate(inp, hdr + 64)
    if stopped:
        p.send_signal(signal.SIGCONT)
    err = p.stderr.read()
    r = subprocess.CompletedProcess(p.args, p.wait(timeout=TIMEOUT), None, err)
    folder = os.path.dirname(out)
    why = (not stopped and late) or refusal(r, frag) or \
        (os.path.exists(out) and "OUT exists") or \
        (temps(folder, out) and "temporary left: %s" % temps(folder, out)) or ""
    for n in temps(folder, out):
        os.unlink(os.path.join(folder, n))
    return why, err.decode().strip()[-120:]


def cut_short(tmp):
    """Truncate the input once quantize has mapped it."""
    inp = os.path.join(tmp, "victim.gguf")
    out = os.path.join(tmp, "victim-out.gguf")
    for typ, what, frag in (("Q8_0", "converting", "cut short"),
                            ("F32", "copying", "cut short")):
        hdr = write_gguf(inp, ntensors=8, norms_first=typ == "F32")
        p = subprocess.Popen(quantize(inp, out, typ, ["--force"]),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t0, stopped = time.time(), False
        while time.time() - t0 < TIMEOUT and p.poll() is None:
            try:
                with open("/proc/%d/maps" % p.pid) as f:
                    if inp in f.read():
                        p.send_signal(signal.SIGSTOP)
                        stopped = True
                        break
            except OSError:
                break
        why, err = after_cut(p, stopped, inp, hdr, out, frag,
                             "qscope finished before the input was mapped")
        check("input cut short while mapped (SIGBUS), %s tensors: exit 2 with "
              "a message, no OUT, no temporary (%s)" % (what, err),
              not why, why)


def cut_short_safetensors(tmp):
    """Truncate a safetensors input while its tensors are copied to a
    safetensors output: stopped once the output's temporary exists (the
    input is open and mapped by then), truncated, continued."""
    inp = os.path.join(tmp, "victim.safetensors")
    out = os.path.join(tmp, "victim-out.safetensors")
    plan = write_text(tmp, "norms.plan", "*.attn_norm.weight f16\n")
    hdr = write_safetensors(inp, ntensors=8)
    p = subprocess.Popen([QSCOPE, "quantize", inp, "--plan", plan, "-o", out],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stopped = False
    if until_temp(p, tmp, out):
        p.send_signal(signal.SIGSTOP)
        stopped = True
    why, err = after_cut(p, stopped, inp, hdr, out, "cut short",
                         "qscope finished before its output was begun")
    check("input cut short while mapped (SIGBUS), copying tensors to "
          "safetensors: exit 2 with a message, no OUT, no temporary (%s)"
          % err, not why, why)


def main():
    if not os.access(QSCOPE, os.X_OK):
        check("qscope binary", False, "%s is not executable (set QSCOPE)" % QSCOPE)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            inp = os.path.join(tmp, "in.gguf")
            hdr = write_gguf(inp)
            h = sha(inp)
            r = run(quantize(inp, os.path.join(tmp, "ok.gguf")))
            check("the input quantizes when nothing goes wrong", r.returncode == 0,
                  r.stderr.decode()[-300:])
            os.unlink(os.path.join(tmp, "ok.gguf"))
            disk_full(tmp, inp, h)
            killed(tmp, inp, h)
            stale_removed(tmp, inp, h)
            unwritable(tmp, inp, h)
            same_as_input(tmp, inp, h)
            cut_short(tmp)
            cut_short_safetensors(tmp)
    sys.exit(finish())


if __name__ == "__main__":
    main()
