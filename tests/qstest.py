"""tests/qstest.py - what the Python test scripts share.

The tally of checks and its lines: "ok   WHAT" for a pass, "FAIL WHAT: why"
for a failure, and the closing "N passed, N failed" that tests/run adds
up; where qscope and the fixtures are; running qscope three ways (text,
a (status, out, err) triple, bytes in a Result); writing plans and
safetensors files.

The scripts run as `/usr/bin/python3 tests/X.py` from the project root, so
each puts its own folder first on sys.path before importing this module:

    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from qstest import check, finish  # noqa: E402

The module-level functions count on one tally shared by the script and
whatever test module it imports; a script that wants counts of its own
makes a Tally.
"""

import json
import os
import random
import struct
import subprocess
import sys
import time

QSCOPE = os.environ.get("QSCOPE", "./qscope")
FIXTURES = os.environ.get("QS_FIXTURES", "../shared/fixtures")


class Tally:
    """Counts passes and failures and prints a line for each.  prefix goes
    before every name; detail is how many problems after the first a
    failed report() lists, one a line."""

    def __init__(self, prefix="", detail=0):
        self.passed = self.failed = 0
        self.prefix = prefix
        self.detail = detail

    def ok(self, what):
        self.passed += 1
        print("ok   " + self.prefix + what)
        sys.stdout.flush()

    def fail(self, what, why=""):
        self.failed += 1
        why = str(why)
        print("FAIL " + self.prefix + what + (": " + why if why else ""))
        sys.stdout.flush()

    def check(self, what, cond, why=""):
        """ok(what) when cond holds, else fail(what, why); returns cond."""
        if cond:
            self.ok(what)
        else:
            self.fail(what, why)
        return cond

    def have_qscope(self):
        """Whether QSCOPE is a program to run; a failed case if not."""
        if os.path.isfile(QSCOPE) and os.access(QSCOPE, os.X_OK):
            return True
        self.fail("qscope binary",
                  "%s is not an executable file (set QSCOPE)" % QSCOPE)
        return False

    def report(self, what, problems):
        """ok(what) when problems is empty, else fail with the first of
        them and how many more there are; returns whether it passed."""
        if not problems:
            self.ok(what)
            return True
        more = len(problems) - 1
        self.fail(what, "%s%s" % (problems[0],
                                  " (+%d more)" % more if more else ""))
        for p in problems[1:1 + self.detail]:
            print("       %s" % p)
        sys.stdout.flush()
        return False

    # report() under the name the listing checks call it by
    case = report

    def finish(self):
        """Print the closing line; the exit status the script should end
        with (1 if anything failed)."""
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.stdout.flush()
        return 1 if self.failed else 0


TALLY = Tally()
ok = TALLY.ok
fail = TALLY.fail
check = TALLY.check
report = TALLY.report
finish = TALLY.finish
have_qscope = TALLY.have_qscope


def seeded_rng():
    """A random.Random for a script's cases, seeded from its first argument:
    1 by default, so that a run repeats; "random" for a new seed.  The seed
    is printed, with how to run again with it."""
    arg = sys.argv[1] if len(sys.argv) > 1 else "1"
    seed = int(time.time() * 1000) % 1000000 if arg == "random" else int(arg)
    print("seed %d (rerun: %s %d)" % (seed, sys.argv[0], seed))
    return random.Random(seed)


def run(*args, **kw):
    """qscope ARGS (each made a str) with stdout and stderr captured as
    text; keywords go to subprocess.run (timeout, env, input...)."""
    return subprocess.run([QSCOPE] + [str(a) for a in args],
                          capture_output=True, text=True, **kw)


def run_rc(*args, timeout=60):
    """qscope ARGS, its output as text: (exit status, stdout, stderr); the
    status None and stderr "timed out" if it ran past timeout seconds."""
    try:
        p = subprocess.run([QSCOPE] + list(args), capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "", "timed out"
    return p.returncode, p.stdout, p.stderr


class Result:
    """How a run of qscope ended: rc (negative: the signal that killed
    it), out and err (bytes), and why it did not run to its end (None
    if it did)."""

    def __init__(self, rc=None, out=b"", err=b"", why=None):
        self.rc, self.out, self.err, self.why = rc, out, err, why

    def problem(self):
        """Why the run itself failed (timeout, signal, not started), or None."""
        if self.why:
            return self.why
        if self.rc is not None and self.rc < 0:
            return "killed by signal %d; stderr %r" % (-self.rc, self.err[-300:])
        return None


def run_qscope(*args, timeout=10):
    """qscope ARGS with nothing on stdin, its output kept as bytes: a
    Result, whose why says if it timed out or could not start."""
    try:
        p = subprocess.run([QSCOPE] + list(args), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Result(why="timed out after %d s" % timeout)
    except OSError as e:
        return Result(why="cannot run %s: %s" % (QSCOPE, e))
    return Result(p.returncode, p.stdout, p.stderr)


def in_parallel(fn, items):
    """[fn(x) for x in items], run on as many threads as there are CPUs
    (QS_TEST_JOBS overrides): for loops of independent qscope runs, each
    on its own files.  Results come back in the order of items."""
    from concurrent.futures import ThreadPoolExecutor
    jobs = int(os.environ.get("QS_TEST_JOBS", "0") or 0) or os.cpu_count() or 1
    if jobs <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        return list(ex.map(fn, items))


def quantize_plan(what, src, plan, out, want=""):
    """qscope quantize SRC --plan PLAN -o OUT, checked as WHAT: it must
    exit 0 and print WANT.  The run, with the verdict as its .passed."""
    r = run("quantize", src, "--plan", plan, "-o", out)
    r.passed = check(what, r.returncode == 0 and want in r.stdout,
                     "exit %d: %s %s" % (r.returncode, r.stdout[-200:],
                                         r.stderr[-300:]))
    return r


def write_text(folder, name, text):
    """Write text to folder/name (a plan, most often); its path."""
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def write_safetensors(path, tensors, metadata=None):
    """A safetensors file (FORMATS.md 1.1): tensors are (name, dtype, shape,
    raw bytes), stored in that order; metadata, if given, goes first as
    __metadata__.  The header's length (the data begin 8 bytes past it)."""
    header = {} if metadata is None else {"__metadata__": metadata}
    blobs, at = [], 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return len(h)
