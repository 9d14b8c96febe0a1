#!/usr/bin/python3
"""bench/scale/gen_torch.py - writes the ~1 GB PyTorch checkpoint that
`make bench-scale` measures on: DIR/llama-550m.pt, a state_dict of llama
shapes (hidden 1536, 16 layers, MLP 4096, vocab 32000, BF16, 0.55 G
parameters, 1.1 GB) saved with torch.save (the zip format of PyTorch 1.6+).

Values as bench/scale/gen.c makes them: normal of std 0.02 with input
channels 7, 1337 (and any other below the row length of 2024, 3001) at 16
times that, norm weights 1 + N(0, 0.05); deterministic (torch.Generator
seeded per tensor).  Written to a temporary name and renamed, then the
stamp DIR/llama-550m.stamp holds the generator version; a file whose stamp
holds this version is kept.

usage: /usr/bin/python3 bench/scale/gen_torch.py DIR
"""
import os
import sys
import time
import zlib

import torch

VERSION = "qscope-scale-gen-torch 1"
HIDDEN, LAYERS, MLP, VOCAB = 1536, 16, 4096, 32000
OUTLIERS = (7, 1337, 2024, 3001)


def matrix(name, rows, cols):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    x = torch.randn(rows, cols, generator=g) * 0.02
    cols_out = [c for c in OUTLIERS if c < cols]
    x[:, cols_out] *= 16
    return x.to(torch.bfloat16)


def norm(name, n):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    return (1 + 0.05 * torch.randn(n, generator=g)).to(torch.bfloat16)


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "llama-550m.pt")
    stamp = os.path.join(d, "llama-550m.stamp")
    try:
        with open(stamp) as f:
            if f.read() == VERSION + "\n" and os.path.exists(path):
                return
    except OSError:
        pass
    if os.path.exists(stamp):
        os.unlink(stamp)
    t0 = time.time()
    sd = {"model.embed_tokens.weight": matrix("model.embed_tokens.weight",
                                              VOCAB, HIDDEN)}
    for i in range(LAYERS):
        p = "model.layers.%d." % i
        sd[p + "input_layernorm.weight"] = norm(p + "input_layernorm", HIDDEN)
        for k in ("q_proj", "k_proj", "v_proj", "o_proj"):
            n = p + "self_attn.%s.weight" % k
            sd[n] = matrix(n, HIDDEN, HIDDEN)
        sd[p + "post_attention_layernorm.weight"] = norm(
            p + "post_attention_layernorm", HIDDEN)
        for k, r, c in (("gate_proj", MLP, HIDDEN), ("up_proj", MLP, HIDDEN),
                        ("down_proj", HIDDEN, MLP)):
            n = p + "mlp.%s.weight" % k
            sd[n] = matrix(n, r, c)
    sd["model.norm.weight"] = norm("model.norm", HIDDEN)
    sd["lm_head.weight"] = matrix("lm_head.weight", VOCAB, HIDDEN)
    tmp = path + ".tmp"
    torch.save(sd, tmp)
    os.rename(tmp, path)
    with open(stamp, "w") as f:
        f.write(VERSION + "\n")
    print("gen_torch: %s (%.1f GB, %.0f s)" % (
        path, os.path.getsize(path) / 1e9, time.time() - t0), file=sys.stderr)


if __name__ == "__main__":
    main()
