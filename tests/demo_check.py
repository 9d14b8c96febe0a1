#!/usr/bin/python3
"""Check the built-in demo checkpoint with an independent reader (numpy).

usage: demo_check.py [DEMO_DIR]   (default demo/model; MKDEMO names the
generator, default build/mkdemo, run again to check determinism)

Prints one line per check and ends with 'N passed, N failed'.
"""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import warnings

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qstest import Tally  # noqa: E402

# Casting to FP16 is meant to overflow here; numpy warns about it.
warnings.simplefilter("ignore", RuntimeWarning)

demo = sys.argv[1] if len(sys.argv) > 1 else "demo/model"
mkdemo = os.environ.get("MKDEMO", "build/mkdemo")
tally = Tally(prefix="demo ")
check = tally.check


V, H, L, I = 2048, 512, 4, 1376
expect = {"model.embed_tokens.weight": [V, H], "model.norm.weight": [H],
          "lm_head.weight": [V, H]}
for i in range(L):
    p = "model.layers.%d." % i
    expect[p + "input_layernorm.weight"] = [H]
    expect[p + "post_attention_layernorm.weight"] = [H]
    for x in "qkvo":
        expect[p + "self_attn.%s_proj.weight" % x] = [H, H]
    expect[p + "mlp.gate_proj.weight"] = [I, H]
    expect[p + "mlp.up_proj.weight"] = [I, H]
    expect[p + "mlp.down_proj.weight"] = [H, I]

idx = json.load(open(os.path.join(demo, "model.safetensors.index.json")))
cfg = json.load(open(os.path.join(demo, "config.json")))
check("config.json describes the model",
      cfg.get("hidden_size") == H and cfg.get("intermediate_size") == I and
      cfg.get("num_hidden_layers") == L and cfg.get("vocab_size") == V and
      cfg.get("torch_dtype") == "bfloat16", str(cfg))
check("index names every tensor", set(idx["weight_map"]) == set(expect))

tensors, total, layout_errors = {}, 0, []
shards = sorted(set(idx["weight_map"].values()))
check("two shards", shards == ["model-00001-of-00002.safetensors",
                               "model-00002-of-00002.safetensors"], str(shards))
for shard in shards:
    raw = open(os.path.join(demo, shard), "rb").read()
    n, = struct.unpack("<Q", raw[:8])
    hdr = json.loads(raw[8:8 + n])
    if n % 8:
        layout_errors.append("%s: header length %d not a multiple of 8" % (shard, n))
    if list(hdr)[0] != "__metadata__":
        layout_errors.append("%s: __metadata__ is not first" % shard)
    start = 0
    for name, e in hdr.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        if e["dtype"] != "BF16" or e["shape"] != expect.get(name):
            layout_errors.append("%s: %s %s" % (name, e["dtype"], e["shape"]))
        if b != start or en - b != 2 * int(np.prod(e["shape"])):
            layout_errors.append("%s: offsets %s" % (name, e["data_offsets"]))
        if idx["weight_map"].get(name) != shard:
            layout_errors.append("%s: index says %s" % (name, idx["weight_map"].get(name)))
        start = en
        u = np.frombuffer(raw, dtype="<u2", count=(en - b) // 2, offset=8 + n + b)
        tensors[name] = (u.astype(np.uint32) << 16).view(np.float32).reshape(e["shape"])
    if 8 + n + start != len(raw):
        layout_errors.append("%s: file size %d, tensors end at %d" % (shard, len(raw), 8 + n + start))
    total += start
check("safetensors layout (BF16, contiguous, padded header)", not layout_errors,
      "; ".join(layout_errors[:3]))
check("index total_size is the sum of tensor bytes",
      idx["metadata"]["total_size"] == total, "%s vs %d" % (idx["metadata"], total))

# The values the doctor will look for.
down1 = tensors["model.layers.1.mlp.down_proj.weight"]
over = int((np.abs(down1) > 65504).sum())
check("layers.1.mlp.down_proj has values beyond FP16's range", over > 0 and
      int(np.isinf(down1.astype(np.float16)).sum()) == over, "%d" % over)
v2 = np.abs(tensors["model.layers.2.self_attn.v_proj.weight"])
tiny = (v2 > 0) & (v2 < 2.0 ** -24)
check("layers.2.self_attn.v_proj has values below FP16's smallest subnormal",
      tiny.sum() > 0 and (v2.astype(np.float16)[tiny] == 0).all(), "%d" % tiny.sum())
others = [nm for nm, t in tensors.items()
          if nm not in ("model.layers.1.mlp.down_proj.weight",
                        "model.layers.2.self_attn.v_proj.weight")
          and (not np.isfinite(t.astype(np.float16)).all()
               or ((np.abs(t) > 0) & (np.abs(t) < 2.0 ** -24)).any())]
check("no other tensor breaks in FP16", not others, ", ".join(others[:3]))
check("every value finite", all(np.isfinite(t).all() for t in tensors.values()))

# Realistic enough to be worth looking at.
for kind in ("q_proj", "k_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
    vals = np.concatenate([t.ravel() for nm, t in tensors.items() if kind in nm])
    s = float(vals[np.abs(vals) < 0.3].std())
    check("%s std about 0.02" % kind, 0.018 < s < 0.022, "%.5f" % s)
emb = tensors["model.embed_tokens.weight"]
rs = emb.std(axis=1)
check("embedding rows spread in scale", np.percentile(rs, 95) > 1.5 * np.percentile(rs, 5),
      "p5 %.4f p95 %.4f" % (np.percentile(rs, 5), np.percentile(rs, 95)))
norms = np.concatenate([t for nm, t in tensors.items() if "norm" in nm])
check("norms near 1.0", abs(float(norms.mean()) - 1) < 0.02 and float(norms.std()) < 0.1,
      "mean %.4f std %.4f" % (norms.mean(), norms.std()))
big = [int((np.abs(tensors["model.layers.%d.mlp.down_proj.weight" % i]) >= 0.5).sum())
       for i in range(L)]
check("outliers in every down_proj", all(b >= 8 for b in big), str(big))

# Deterministic: the generator writes the same bytes again.
if os.access(mkdemo, os.X_OK):
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([mkdemo, tmp], capture_output=True, text=True)
        same = r.returncode == 0 and all(
            hashlib.sha256(open(os.path.join(tmp, f), "rb").read()).digest() ==
            hashlib.sha256(open(os.path.join(demo, f), "rb").read()).digest()
            for f in shards + ["model.safetensors.index.json", "config.json"])
        check("generator is deterministic", same, r.stderr.strip())
else:
    check("generator is deterministic", False, "no %s" % mkdemo)

sys.exit(tally.finish())
