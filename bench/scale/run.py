#!/usr/bin/python3
"""bench/scale/run.py - `make bench-scale`: qscope on checkpoints of real
size, next to the machine's memory bandwidth and to the peers (numpy,
torch.load) measured in the same run.

The checkpoints are made once by bench/scale/gen (C) and
bench/scale/gen_torch.py under $QS_SCALE_DIR (default bench/scale-data)
and reused while their stamps hold the generators' versions:
  llama-7b/           Llama-7B shapes, BF16, 13.5 GB in 3 safetensors shards
  tinyllama-f16.gguf  TinyLlama-1.1B shapes, F16, 2.2 GB
  llama-550m.pt       llama shapes, BF16, 1.1 GB, torch.save zip

Every qscope run is a child process started with posix_spawn (so that it
does not inherit this interpreter's memory) and reaped with wait4: wall
time from spawn to exit, peak RSS from ru_maxrss.  Peak RSS counts the
pages of mapped files the process touched, not only its own allocations.
Rates are GB/s of stored bytes (1 GB = 1e9 bytes).  A figure is the best of
RUNS runs unless said otherwise.  Before each rate the files are read once
(so the rates are of data in the page cache, as in the issue's llama.cpp
figures), and the share of the data resident is recorded.

Prints a table and writes bench/results/scale.json.

usage: run.py --qscope Q --membw M [--quick]
  QS_SCALE_DIR  where the checkpoints are (default bench/scale-data)
  --quick       one run per figure, and no whole-model q4_k error
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

DIR = os.environ.get("QS_SCALE_DIR", "bench/scale-data")
HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = "bench/results"
ST = os.path.join(DIR, "llama-7b")
GGUF = os.path.join(DIR, "tinyllama-f16.gguf")
PT = os.path.join(DIR, "llama-550m.pt")
EMBED = "model.embed_tokens.weight"
EMBED_BYTES = 32000 * 4096 * 2

# llama.cpp's llama-quantize on a machine of this kind (2 threads, the
# 2 GB F16 GGUF in page cache), from issue 10: GB/s read, not measured here.
LLAMA_CPP = {"q8_0": 0.24, "q4_0": 0.39, "q4_k": 0.038, "bf16": 0.49}
LLAMA_CPP_RSS_MB = 2200

rows = []       # (what, figure, target/peer, note) for the table
out = {"dir": DIR}


def row(what, figure, ref="", note=""):
    rows.append((what, figure, ref, note))
    print("  %-44s %-26s %s %s" % (what, figure, ref, note), flush=True)


def spawn(argv, stdout_path=None):
    """Run argv; return (wall s, peak RSS MB, exit status, stdout text)."""
    fd, tmp = tempfile.mkstemp(prefix="qscope-scale-")
    os.close(fd)
    acts = [(os.POSIX_SPAWN_OPEN, 1, stdout_path or tmp,
             os.O_WRONLY | os.O_TRUNC, 0o644),
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)]
    t = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=acts)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t
    with open(tmp, errors="replace") as f:
        text = f.read()
    os.unlink(tmp)
    code = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_maxrss / 1024, code, text


def best(argv, runs):
    """Best wall time of runs runs, with the peak RSS of the worst run."""
    walls, rss, text = [], 0, ""
    for _ in range(runs):
        w, r, code, text = spawn(argv)
        if code != 0:
            sys.exit("bench-scale: %s exited with %d" % (" ".join(argv), code))
        walls.append(w)
        rss = max(rss, r)
    return min(walls), rss, text


def files_of(path):
    if os.path.isdir(path):
        return sorted(os.path.join(path, f) for f in os.listdir(path)
                      if not f.startswith("."))
    return [path]


def resident(args, path):
    """Share of path's bytes in the page cache (0..1)."""
    r = subprocess.run([args.membw, "resident"] + files_of(path),
                       capture_output=True, text=True, check=True)
    a, b = r.stdout.split()
    return int(a) / max(int(b), 1)


def warm(args, path):
    """Read path once so that rates are of cached data; return the share
    that was resident before."""
    before = resident(args, path)
    for f in files_of(path):
        with open(f, "rb", buffering=0) as fh:
            while fh.read(16 << 20):
                pass
    return before


def size_of(path):
    return sum(os.path.getsize(f) for f in files_of(path))


# ---- TUI first screen ----

def tmux(*a):
    return subprocess.run(["tmux", "-L", "qscope-bench-scale"] + list(a),
                          capture_output=True, text=True)


def first_screen(argv, marks, timeout=30.0):
    """Seconds from starting argv in a 120x40 tmux pane until every string
    of marks is on the screen, and the polling interval (the figure's
    granularity: the largest gap between two captures)."""
    tmux("kill-server")
    env = ["env", "TERM=tmux-256color", "LANG=C.UTF-8"]
    t0 = time.perf_counter()
    tmux("new-session", "-d", "-s", "s", "-x", "120", "-y", "40",
         " ".join(env + argv + ["; sleep 30"]))
    last, gap, seen = t0, 0.0, None
    while time.perf_counter() - t0 < timeout:
        scr = tmux("capture-pane", "-p", "-t", "s").stdout
        t = time.perf_counter()
        gap = max(gap, t - last)
        last = t
        if all(m in scr for m in marks):
            seen = t - t0
            break
    tmux("kill-server")
    return seen, gap


# ---- the measurements ----

def bench_open(args, runs):
    print("open + list (wall, peak RSS)", flush=True)
    out["list"] = {}
    for name, path, tw, tr in (("7B safetensors, 3 shards", ST, 0.1, 30),
                               ("GGUF F16 2.2 GB", GGUF, None, None),
                               ("torch zip 1.1 GB", PT, None, None)):
        w, r, _ = best([args.qscope, "list", path], runs)
        out["list"][path] = {"wall_s": w, "peak_rss_mb": r}
        ref = "target < %g ms, < %g MB" % (tw * 1e3, tr) if tw else ""
        row("list " + name, "%.0f ms, %.1f MB" % (w * 1e3, r), ref)


def bench_tui(args, runs):
    print("first screen in the TUI (tmux 120x40)", flush=True)
    out["tui"] = {}
    cases = (("baseline: a shell printing two words", None,
              ["sh", "-c", "'echo screen ready; echo ? help'"]),
             ("7B safetensors", ST, [args.qscope, ST]),
             ("GGUF F16", GGUF, [args.qscope, GGUF]))
    for what, path, argv in cases:
        marks = ["? help", "tensors" if path else "screen ready"]
        if path:
            marks.append("embed" if path == ST else "token_embd")
        got = [first_screen(argv, marks) for _ in range(runs)]
        if any(s is None for s, _ in got):
            row("first screen: " + what, "not seen in 30 s")
            out["tui"][what] = None
            continue
        s = min(g[0] for g in got)
        gap = max(g[1] for g in got)
        out["tui"][what] = {"seconds": s, "poll_interval_s": gap}
        row("first screen: " + what, "%.0f ms" % (s * 1e3),
            "(polled every <= %.0f ms)" % (gap * 1e3))


def bench_stats(args, runs, memcpy):
    print("statistics of the embedding (32000 x 4096 BF16, 262 MB)",
          flush=True)
    cached = warm(args, ST)
    out["cached_before_7b"] = cached
    w, r, _ = best([args.qscope, "stats", "--json", ST, EMBED], runs)
    lw, _, _ = best([args.qscope, "list", ST], runs)
    gbs = EMBED_BYTES / 1e9 / w
    out["stats_embed"] = {"wall_s": w, "open_s": lw, "gb_s": gbs,
                          "peak_rss_mb": r}
    row("qscope stats embedding (incl. open)", "%.3f s, %.2f GB/s" % (w, gbs),
        "memcpy %.2f GB/s" % memcpy, "RSS %.0f MB" % r)
    # numpy peer, in its own process: times inside it (no interpreter
    # start), plus its wall and RSS
    w2, r2, code, text = spawn(["/usr/bin/python3",
                                os.path.join(HERE, "peers.py"), "stats",
                                ST, EMBED, str(runs)])
    if code == 0:
        p = json.loads(text)
        out["stats_embed"]["numpy"] = dict(p, wall_s=w2, peak_rss_mb=r2)
        row("numpy stats embedding (in-process)", "%.3f s, %.2f GB/s" % (
            p["seconds"], EMBED_BYTES / 1e9 / p["seconds"]),
            "qscope %.1fx faster" % (p["seconds"] / w), "RSS %.0f MB" % r2)
    else:
        row("numpy stats embedding", "failed (%d)" % code)


def try_one(args, path, scheme, globs, runs):
    w, r, text = best([args.qscope, "try", "--json", path, scheme] + globs,
                      runs)
    j = json.loads(text)
    return w, r, j


def bench_try(args, runs, memcpy, whole):
    print("error of a scheme (qscope try)", flush=True)
    out["try"] = {}
    cases = [("q8_0", [EMBED], "embedding"),
             ("q4_k", [EMBED], "embedding"),
             ("q4_k", ["model.layers.0.*"], "layer 0 (9 tensors, 405 MB)"),
             ("q8_0", ["model.layers.0.*"], "layer 0 (9 tensors, 405 MB)")]
    if whole:
        cases.append(("q4_k", [], "whole 7B model (13.5 GB)"))
    for scheme, globs, what in cases:
        n = 1 if not globs else runs
        w, r, j = try_one(args, ST, scheme, globs, n)
        nbytes = j["total"]["bytes_before"]
        gbs = nbytes / 1e9 / w
        key = "%s %s" % (scheme, what)
        out["try"][key] = {"wall_s": w, "gb_s": gbs, "peak_rss_mb": r,
                           "bytes": nbytes, "rel_err": j["total"]["rel_err"],
                           "runs": n}
        row("try %s, %s" % (scheme, what), "%.2f s, %.3f GB/s" % (w, gbs),
            "RSS %.0f MB" % r, "rel err %.5f" % j["total"]["rel_err"])
    w2, r2, code, text = spawn(["/usr/bin/python3",
                                os.path.join(HERE, "peers.py"), "q8_0",
                                ST, EMBED, str(runs)])
    if code == 0:
        p = json.loads(text)
        q = out["try"]["q8_0 embedding"]
        out["try"]["q8_0 embedding"]["numpy"] = dict(p, wall_s=w2,
                                                     peak_rss_mb=r2)
        row("numpy q8_0 error, embedding (in-process)", "%.2f s, %.3f GB/s" % (
            p["seconds"], EMBED_BYTES / 1e9 / p["seconds"]),
            "qscope %.1fx faster" % (p["seconds"] / q["wall_s"]),
            "rel err %.5f, RSS %.0f MB" % (p["rel_err"], r2))
    else:
        row("numpy q8_0 error", "failed (%d)" % code)


def disk_write(path, size=512 << 20):
    """GB/s of writing size bytes to path and fsyncing it."""
    buf = b"\x5a" * (8 << 20)
    t = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for _ in range(size // len(buf)):
            os.write(fd, buf)
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(path)
    return size / 1e9 / (time.perf_counter() - t)


def bench_quantize(args, runs):
    print("quantize the 2.2 GB F16 GGUF (write + verify)", flush=True)
    out["quantize"] = {}
    warm(args, GGUF)
    odir = os.path.join(DIR, "out")
    os.makedirs(odir, exist_ok=True)
    # What the disk takes: qscope fsyncs its output before renaming it
    # into place, so a written byte costs at least this.
    disk = disk_write(os.path.join(odir, "disk-probe"))
    out["disk_write_fsync_gb_s"] = disk
    row("disk write of 512 MiB + fsync", "%.2f GB/s" % disk, "",
        "(bounds 'out' of every write below)")
    nin = os.path.getsize(GGUF)
    # The output on disk, then on tmpfs (when there is one): the second
    # shows the conversion without the disk's fsync under it.
    places = [("", odir)]
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        places.append(("tmpfs", tempfile.mkdtemp(prefix="qscope-scale-",
                                                 dir="/dev/shm")))
    for t in ("q8_0", "q4_0", "q4_k", "bf16"):
        for where, pdir in places:
            d = quantize_one(args, t, os.path.join(pdir, t + ".gguf"), nin)
            out["quantize"][t + ("_" + where if where else "")] = d
            row("quantize --type %s%s: write" % (
                t, " (%s)" % where if where else ""),
                "%.1f s, in %.2f out %.2f GB/s" % (
                    d["write_s"], d["in_gb_s"], d["out_gb_s"]),
                "llama.cpp* %.3f GB/s (%.1fx)" % (
                    LLAMA_CPP[t], d["in_gb_s"] / LLAMA_CPP[t]),
                "+ verify %.1f s; RSS %.0f MB (llama.cpp* %d MB)" % (
                    d["verify_s"], d["peak_rss_mb"], LLAMA_CPP_RSS_MB))
    for _, pdir in places:
        os.rmdir(pdir)


def quantize_one(args, t, o, nin):
    """qscope quantize of the GGUF to type t into o (removed after)."""
    w, r, code, text = spawn([args.qscope, "quantize", GGUF, "--type", t,
                              "-o", o, "--force"])
    if code != 0:
        sys.exit("bench-scale: quantize --type %s exited %d" % (t, code))
    nout = os.path.getsize(o)
    os.unlink(o)
    m = re.search(r"^time: ([0-9.]+) s", text, re.M)
    v = re.search(r"^verified: .*\(([0-9.]+) s\)", text, re.M)
    tw = float(m.group(1)) if m else w
    tv = float(v.group(1)) if v else 0.0
    return {"wall_s": w, "write_s": tw, "verify_s": tv,
            "in_gb_s": nin / 1e9 / tw, "out_gb_s": nout / 1e9 / tw,
            "peak_rss_mb": r, "bytes_in": nin, "bytes_out": nout,
            "llama_cpp_in_gb_s": LLAMA_CPP[t]}


def bench_torch(args, runs):
    print("PyTorch zip (1.1 GB)", flush=True)
    warm(args, PT)
    w, r, _ = best([args.qscope, "list", PT], runs)
    w2, r2, code, text = spawn(["/usr/bin/python3",
                                os.path.join(HERE, "peers.py"), "torch",
                                PT, "", "1"])
    d = {"qscope_list_s": w, "qscope_rss_mb": r}
    if code == 0:
        p = json.loads(text)
        d["torch_load"] = dict(p, wall_s=w2, peak_rss_mb=r2)
        row("torch.load (plain) of the zip", "%.2f s in-process, %.2f s wall"
            % (p["seconds"], w2), "qscope list %.0fx faster" % (w2 / w),
            "RSS %.0f MB vs %.0f MB" % (r2, r))
    else:
        row("torch.load", "failed (%d)" % code)
    out["torch"] = d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qscope", required=True)
    ap.add_argument("--membw", required=True)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    runs = 1 if args.quick else 3
    for p in (ST, GGUF, PT):
        if not os.path.exists(p):
            sys.exit("bench-scale: '%s' is missing (run bench/scale/gen)" % p)
    t0 = time.time()
    memcpy = float(subprocess.run([args.membw, "memcpy"], check=True,
                                  capture_output=True, text=True).stdout)
    out["memcpy_gb_s"] = memcpy
    out["cpus"] = os.cpu_count()
    out["load_avg_start"] = os.getloadavg()
    print("memcpy of 1 GiB: %.2f GB/s; load average %.1f on %d CPUs" % (
        memcpy, os.getloadavg()[0], os.cpu_count()), flush=True)
    bench_open(args, runs)
    bench_tui(args, runs)
    bench_stats(args, runs, memcpy)
    bench_try(args, runs, memcpy, not args.quick)
    bench_quantize(args, runs)
    bench_torch(args, runs)
    out["load_avg_end"] = os.getloadavg()
    out["seconds"] = time.time() - t0
    print("* llama.cpp figures are from issue 10, measured elsewhere "
          "(llama-quantize is not installed here).")
    print("done in %.0f s" % out["seconds"])
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "scale.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
