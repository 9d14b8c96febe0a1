#!/usr/bin/python3
"""bench/scale/peers.py - what a person would run instead of qscope, timed
inside the process (interpreter start and imports left out); bench/scale/
run.py runs it as a child and prints the ratios.  Prints one JSON object.

  peers.py stats FOLDER NAME RUNS  numpy: min, max, mean, std and a 64-bin
      histogram over [min, max] of a BF16 tensor of a sharded safetensors
      folder, read with np.frombuffer from the mapped shard (BF16 to float32
      by a 16-bit shift of the uint16 codes); best of RUNS
  peers.py q8_0 FOLDER NAME RUNS   numpy: GGUF Q8_0 quantize + dequantize
      of the same tensor (blocks of 32, scale absmax / 127 stored as f16,
      round half to even where ggml rounds half away: a negligible
      difference for timing), relative error; 1024 rows at a time
  peers.py torch FILE - 1          torch.load (plain; Debian's torch has no
      mmap=True) of a PyTorch zip checkpoint
"""
import json
import mmap
import os
import struct
import sys
import time


def tensor_u16(folder, name):
    import numpy as np
    with open(os.path.join(folder, "model.safetensors.index.json")) as f:
        shard = json.load(f)["weight_map"][name]
    fh = open(os.path.join(folder, shard), "rb")
    mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    (hlen,) = struct.unpack("<Q", mm[:8])
    info = json.loads(mm[8:8 + hlen])[name]
    a, b = info["data_offsets"]
    u = np.frombuffer(mm, dtype=np.uint16, count=(b - a) // 2,
                      offset=8 + hlen + a)
    return u.reshape(info["shape"])


def stats(folder, name, runs):
    import numpy as np
    best = None
    for _ in range(runs):
        t = time.perf_counter()
        x = (tensor_u16(folder, name).astype(np.uint32) << 16).view(np.float32)
        lo, hi = float(x.min()), float(x.max())
        mean, std = float(x.mean(dtype=np.float64)), float(x.std(dtype=np.float64))
        h, _ = np.histogram(x, bins=64, range=(lo, hi))
        t = time.perf_counter() - t
        best = t if best is None or t < best else best
        del x
    return {"seconds": best, "min": lo, "max": hi, "mean": mean, "std": std,
            "hist_total": int(h.sum())}


def q8_0(folder, name, runs):
    import numpy as np
    best = None
    for _ in range(runs):
        t = time.perf_counter()
        u = tensor_u16(folder, name)
        sse = sxx = 0.0
        for r in range(0, u.shape[0], 1024):
            x = (u[r:r + 1024].astype(np.uint32) << 16).view(np.float32)
            b = x.reshape(-1, 32)
            d = np.abs(b).max(axis=1, keepdims=True) / np.float32(127)
            inv = np.divide(np.float32(1), d, out=np.zeros_like(d),
                            where=d != 0)
            q = np.rint(b * inv).astype(np.int8)
            y = q.astype(np.float32) * d.astype(np.float16).astype(np.float32)
            e = (y - b).astype(np.float64)
            sse += float((e * e).sum())
            sxx += float((b.astype(np.float64) ** 2).sum())
        t = time.perf_counter() - t
        best = t if best is None or t < best else best
    return {"seconds": best, "rel_err": (sse / sxx) ** 0.5}


def torch_load(path):
    import torch
    t = time.perf_counter()
    sd = torch.load(path)
    t = time.perf_counter() - t
    return {"seconds": t, "tensors": len(sd)}


def main():
    what, path, name, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if what == "stats":
        r = stats(path, name, runs)
    elif what == "q8_0":
        r = q8_0(path, name, runs)
    elif what == "torch":
        r = torch_load(path)
    else:
        sys.exit("peers.py: unknown '%s'" % what)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
