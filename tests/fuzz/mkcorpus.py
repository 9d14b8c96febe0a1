#!/usr/bin/python3
"""tests/fuzz/mkcorpus.py - (re)build the fuzzers' seed corpora.

usage: tests/fuzz/mkcorpus.py [QSCOPE]     (from the project root)

Writes tests/fuzz/corpus/NAME/ for every harness in tests/fuzz/: the small
shared fixtures (QS_FIXTURES, default ../shared/fixtures; bytes copied, a
few KB each), small files made here with the standard library, numpy and
torch, and GGUF files written by `qscope quantize`.  Each seed is named by
where it came from.  The corpora are committed; run this again only when
a reader learns something new.
"""
import bz2
import gzip
import io
import json
import lzma
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile

sys.dont_write_bytecode = True

FIX = os.environ.get("QS_FIXTURES", "../shared/fixtures")
QSCOPE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("QSCOPE", "./qscope")
OUT = "tests/fuzz/corpus"
MAX = 64 * 1024          # the harnesses run with -max_len=65536


def put(harness, name, data):
    if len(data) > MAX:
        raise SystemExit("seed %s/%s is %d bytes, more than %d" % (harness, name, len(data), MAX))
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def fixture(rel):
    with open(os.path.join(FIX, rel), "rb") as f:
        return f.read()


def st(tensors, meta=None, pad=True):
    """A safetensors file: tensors is [(name, dtype, shape, bytes)]."""
    hdr, data = {}, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dt, shape, b in tensors:
        hdr[name] = {"dtype": dt, "shape": shape,
                     "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(hdr, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def f32(*xs):
    return struct.pack("<%df" % len(xs), *xs)


def small_safetensors():
    return {
        "f32": st([("w", "F32", [2, 2], f32(1, -2, 0.5, 3))]),
        "meta": st([("a.weight", "BF16", [4], b"\x80\x3f" * 4),
                    ("b.bias", "F16", [2], b"\x00\x3c\x00\xc0")],
                   meta={"format": "pt", "note": "x"}),
        "scalar-empty": st([("s", "F64", [], struct.pack("<d", 2.5)),
                            ("e", "I32", [0, 3], b"")]),
        "fp8-int": st([("a", "F8_E4M3", [4], b"\x38\x7f\xff\x00"),
                       ("b", "F8_E5M2", [4], b"\x3c\x7c\x7f\x80"),
                       ("c", "I8", [2], b"\x01\xff"),
                       ("d", "U64", [1], struct.pack("<Q", 7)),
                       ("e", "BOOL", [3], b"\x00\x01\x01")]),
    }


def i32(*xs):
    return struct.pack("<%di" % len(xs), *xs)


def f16s(n):
    return b"\x00\x3c" * n


def quantized_layouts():
    """Small files in other tools' quantized layouts (formats/layouts.c):
    GPTQ, AWQ, compressed-tensors pack-quantized, bitsandbytes NF4."""
    codes = lambda n: i32(*[(0x76543210 * (k + 1)) & 0x7FFFFFFF for k in range(n)])
    state = json.dumps({"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16",
                        "shape": [8, 16]}).encode()
    return {
        "gptq": st([("l.qweight", "I32", [4, 16], codes(64)),
                    ("l.scales", "F16", [2, 16], f16s(32)),
                    ("l.qzeros", "I32", [2, 2], codes(4)),
                    ("l.g_idx", "I32", [32], i32(*[k // 16 for k in range(32)]))]),
        "awq": st([("l.qweight", "I32", [32, 2], codes(64)),
                   ("l.scales", "F16", [2, 16], f16s(32)),
                   ("l.qzeros", "I32", [2, 2], codes(4))]),
        "ct-packed": st([("l.weight_packed", "I32", [16, 4], codes(64)),
                         ("l.weight_scale", "F16", [16, 1], f16s(16)),
                         ("l.weight_shape", "I64", [2], struct.pack("<2q", 16, 32))]),
        "bnb-nf4": st([("l.weight", "U8", [64, 1], bytes(range(64))),
                       ("l.weight.absmax", "F32", [2], f32(1.0, 0.5)),
                       ("l.weight.quant_map", "F32", [16], f32(*[k / 8 - 1 for k in range(16)])),
                       ("l.weight.quant_state.bitsandbytes__nf4", "U8", [len(state)], state)]),
    }


def gen_safetensors():
    for k, v in small_safetensors().items():
        put("safetensors", "made-" + k, v)
    for k, v in quantized_layouts().items():
        put("safetensors", "layout-" + k, v)
    for rel in ["real/huggingface__safetensors__samples_overall.safetensors",
                "real/syoyo__safetensors-cpp__gen_model.safetensors",
                "real/tracel-ai__burn__crates_burn-store_safetensors-tests_tests_multi_layer_multi_layer.safetensors",
                "safetensors/st-all-dtypes.safetensors",
                "doctor/bf16-range-overflow.safetensors",
                "bad/bad-offsets.safetensors",
                "bad/syoyo__safetensors-cpp__test_safetensors_abuse_attempt_1.safetensors"]:
        put("safetensors", os.path.basename(rel), fixture(rel))


def gen_index():
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    base = {"metadata": {"total_size": 32},
            "weight_map": {"a.weight": shards[0], "b.weight": shards[1]}}
    put("index", "made-two-shards", json.dumps(base, indent=2).encode())
    put("index", "made-one-shard", json.dumps(
        {"weight_map": {"a.weight": shards[0]}}).encode())
    put("index", "made-extra-metadata", json.dumps(
        {"metadata": {"total_size": 32, "format": "pt", "n": [1, 2]},
         "weight_map": {"b.weight": shards[1], "a.weight": shards[0]}}).encode())
    put("index", "made-missing-shard", json.dumps(
        {"weight_map": {"a.weight": shards[0], "c": "model-00003-of-00003.safetensors"}}).encode())
    put("index", "model.safetensors.index.json",
        fixture("safetensors/sharded/model.safetensors.index.json"))


def gen_config():
    put("config", "config.json", fixture("safetensors/llama-tiny/config.json"))
    put("config", "made-nested", json.dumps(
        {"architectures": ["LlamaForCausalLM"], "torch_dtype": "bfloat16",
         "rope_scaling": {"type": "linear", "factor": 2.0}, "vocab_size": 32000,
         "tie_word_embeddings": False, "eos_token_id": [1, 2], "x": None,
         "quantization_config": {"bits": 4, "group_size": 128}}).encode())
    put("config", "made-empty", b"{}")


def fixture_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_f32(tensors):
    """A GGUF v3 file of F32 tensors [(name, shape, bytes)] and a few keys
    of every kind (string, u32, f32, bool, array of strings and of i32)."""
    kv = [gguf_str("general.architecture") + struct.pack("<I", 8) + gguf_str("llama"),
          gguf_str("general.alignment") + struct.pack("<II", 4, 32),
          gguf_str("llama.rope.freq_base") + struct.pack("<If", 6, 10000.0),
          gguf_str("general.flag") + struct.pack("<IB", 7, 1),
          gguf_str("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3)
          + gguf_str("a") + gguf_str("b") + gguf_str("<s>"),
          gguf_str("x.ids") + struct.pack("<IIQ", 9, 5, 2) + struct.pack("<ii", -1, 7)]
    info, data = b"", b""
    for name, shape, b in tensors:
        data += b"\0" * (-len(data) % 32)
        info += gguf_str(name) + struct.pack("<I", len(shape))
        info += b"".join(struct.pack("<Q", d) for d in reversed(shape))
        info += struct.pack("<IQ", 0, len(data))
        data += b
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)) + b"".join(kv) + info
    head += b"\0" * (-len(head) % 32)
    return head + data


def run_quantize(src, typ, out):
    r = subprocess.run([QSCOPE, "quantize", src, "--type", typ, "-o", out, "--force"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        print("quantize %s: %s" % (typ, r.stderr.decode().strip()))
        return None
    with open(out, "rb") as f:
        return f.read()


def gen_gguf(tmp):
    for rel in ["real/zackshen__gguf__tests_test-le-v3.gguf",
                "real/zackshen__gguf__tests_test-be-v3.gguf"]:
        put("gguf", os.path.basename(rel), fixture(rel))
    # Small tensors (rows of 256, so that every block type fits) written
    # by qscope's own GGUF writer, one file per type.
    import numpy as np
    rng = np.random.default_rng(9)
    w = rng.standard_normal((2, 256)).astype(np.float32)
    b = rng.standard_normal((8,)).astype(np.float32)
    src = os.path.join(tmp, "small.gguf")
    with open(src, "wb") as f:
        f.write(gguf_f32([("blk.0.w", [2, 256], w.tobytes()),
                          ("blk.0.b", [8], b.tobytes())]))
    put("gguf", "made-f32", fixture_bytes(src))
    for typ in ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS",
                "TQ2_0"]:
        data = run_quantize(src, typ, os.path.join(tmp, "q.gguf"))
        if data is not None:
            put("gguf", "qscope-" + typ, data)


def torch_zips(tmp):
    """Small PyTorch zips made by torch.save: {name: bytes}."""
    import torch
    out = {}
    t = torch.arange(16, dtype=torch.float32)      # 64 bytes: storage '0'
    cases = {
        "plain": {"w": t},
        "views": {"a": t.view(4, 4).t(), "b": t[3:9], "c": t.view(4, 4)[:, 1]},
        "nested": {"model": {"layer": [t.view(2, 8)], "step": 3, "lr": 0.5,
                             "name": "x", "flag": True, "none": None}},
        "bare": t.view(2, 2, 4),
        "tuple": (t.view(16), t[:0]),
        "dtypes": {"h": t.to(torch.float16), "b": t.to(torch.bfloat16)[:8],
                   "i": torch.arange(8, dtype=torch.int64)},
        "expand": {"e": t[:1].expand(1000000)},
    }
    for k, v in cases.items():
        p = os.path.join(tmp, k + ".pt")
        torch.save(v, p)
        with open(p, "rb") as f:
            out[k] = f.read()
    p = os.path.join(tmp, "legacy.pt")
    torch.save({"w": t.view(4, 4), "v": t[2:6]}, p, _use_new_zipfile_serialization=False)
    with open(p, "rb") as f:
        out["legacy"] = f.read()
    return out


def data_pkl(zbytes):
    with zipfile.ZipFile(io.BytesIO(zbytes)) as z:
        for n in z.namelist():
            if n.endswith("/data.pkl"):
                return z.read(n)
    return None


def gen_pickle(zips):
    for k, v in zips.items():
        if k == "legacy":
            put("pickle", "made-legacy", v)
        elif k not in ("dtypes",):
            p = data_pkl(v)
            put("pickle", "made-" + k, p)
    for rel in ["real/tracel-ai__burn__crates_burn-store_src_pytorch_tests_reader_test_data_legacy_shared_storage.pt",
                "real/tracel-ai__burn__crates_burn-store_src_pytorch_tests_reader_test_data_legacy_uncloned_views.pt"]:
        put("pickle", os.path.basename(rel), fixture(rel))
    for rel in ["real/tracel-ai__burn__crates_burn-store_src_pytorch_tests_reader_test_data_bfloat16.pt",
                "real/tracel-ai__burn__crates_burn-store_src_pytorch_tests_reader_test_data_mixed_types.pt",
                "real/huggingface__candle__candle-core_tests_fortran_tensor_3d.pth",
                "real/mmaitre314__picklescan__tests_data_new_pytorch_model.bin",
                "torch/whole-module.pt", "torch/torchscript-module.pt",
                "torch/mixed-dtypes.pt"]:
        p = data_pkl(fixture(rel))
        if p:
            put("pickle", os.path.basename(rel) + ".data.pkl", p)
    # The unpickler's refusals: a global outside the allow-list, and
    # memo use.
    put("pickle", "made-global-refused",
        b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00echo\x85R.")
    put("pickle", "made-memo", b"\x80\x02]q\x00(h\x00h\x00e\x94h\x00.")


def gen_zip(zips, tmp):
    for k in ("plain", "views", "dtypes"):
        put("zip", "torch-" + k, zips[k])
    for rel in ["real/tracel-ai__burn__crates_burn-store_src_pytorch_tests_reader_test_data_bfloat16.pt",
                "real/huggingface__candle__candle-core_tests_fortran_tensor_3d.pth",
                "real/huggingface__candle__candle-core_tests_test.npz",
                "real/openai__whisper__whisper_assets_mel_filters.npz"]:
        put("zip", os.path.basename(rel), fixture(rel))
    sts = small_safetensors()
    for comp, tag in ((zipfile.ZIP_STORED, "stored"), (zipfile.ZIP_DEFLATED, "deflated")):
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w", comp) as z:
            z.writestr("m/config.json", b'{"model_type":"llama"}')
            z.writestr("m/model.safetensors", sts["meta"])
            z.writestr("m/f32.safetensors", sts["f32"])
        put("zip", "made-%s.zip" % tag, b.getvalue())
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        with z.open("w.safetensors", "w", force_zip64=True) as f:
            f.write(sts["f32"])
    put("zip", "made-zip64.zip", b.getvalue())


def gen_archive():
    sts = small_safetensors()
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in (("m/config.json", b'{"a":1}'),
                           ("m/model.safetensors", sts["meta"]),
                           ("m/x.safetensors", sts["f32"])):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    tar = b.getvalue()
    put("archive", "made.tar", tar)
    put("archive", "made.tar.gz", gzip.compress(tar, mtime=0))
    put("archive", "made.tar.xz", lzma.compress(tar))
    put("archive", "made.tar.bz2", bz2.compress(tar))
    put("archive", "made.safetensors.gz", gzip.compress(sts["meta"], mtime=0))
    put("archive", "made.safetensors.xz", lzma.compress(sts["fp8-int"]))
    for src, name in ((tar, "made.tar.zst"), (sts["f32"], "made.safetensors.zst")):
        r = subprocess.run(["zstd", "-q", "-c", "-19"], input=src, stdout=subprocess.PIPE,
                           check=True)
        put("archive", name, r.stdout)
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("dir/" + "long" * 40 + ".safetensors")
        ti.size = len(sts["f32"])
        t.addfile(ti, io.BytesIO(sts["f32"]))
    put("archive", "made-pax.tar", b.getvalue())


def gen_npy(tmp):
    import numpy as np
    arrays = {
        "f32": np.arange(6, dtype="<f4").reshape(2, 3),
        "f64-fortran": np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3)),
        "f16-be": np.arange(4, dtype=">f2"),
        "i64-0d": np.array(5, dtype="<i8"),
        "u8-empty": np.zeros((0, 4), dtype="u1"),
        "bool": np.array([True, False, True]),
        "i16-3d": np.arange(24, dtype="<i2").reshape(2, 3, 4),
    }
    for k, a in arrays.items():
        b = io.BytesIO()
        np.save(b, a)
        put("npy", "made-%s.npy" % k, b.getvalue())
    b = io.BytesIO()
    np.lib.format.write_array(b, arrays["f32"], version=(2, 0))
    put("npy", "made-v2.npy", b.getvalue())
    b = io.BytesIO()
    np.savez(b, a=arrays["f32"], b=arrays["i16-3d"])
    put("npy", "made.npz", b.getvalue())
    b = io.BytesIO()
    np.savez_compressed(b, a=arrays["f64-fortran"], c=arrays["bool"])
    put("npy", "made-compressed.npz", b.getvalue())
    for rel in ["real/huggingface__candle__candle-core_tests_test.npy",
                "real/numpy__numpy__numpy_lib_tests_data_py3-objarr.npy",
                "real/huggingface__candle__candle-core_tests_test.npz"]:
        put("npy", os.path.basename(rel), fixture(rel))


def gen_plan():
    put("plan", "made-basic", b"# qscope plan\n*.embed_tokens.*   bf16\n*norm*             keep\n"
        b"*.self_attn.*      q8_0\n*                  q4_k\n")
    put("plan", "made-escapes", b"model.layers.[0-3].*  Q6_K\n*mlp.down_proj*  q5_k # comment\n"
        b"a\\ b\\#c  f16\n\n#\n*  keep\n")
    out = subprocess.run([QSCOPE, "schemes"], stdout=subprocess.PIPE, check=True).stdout
    names = [l.split()[0] for l in out.decode().splitlines()[1:] if l.strip()]
    names = [n for n in names if n != "bits"] + ["keep"]
    lines = ["*.layers.%d.*  %s" % (i, n.upper() if i % 2 else n) for i, n in enumerate(names)]
    put("plan", "made-every-scheme", ("# qscope plan\n" + "\n".join(lines) + "\n").encode())


def main():
    with tempfile.TemporaryDirectory() as tmp:
        gen_safetensors()
        gen_index()
        gen_config()
        gen_gguf(tmp)
        zips = torch_zips(tmp)
        gen_pickle(zips)
        gen_zip(zips, tmp)
        gen_archive()
        gen_npy(tmp)
        gen_plan()
    for h in sorted(os.listdir(OUT)):
        fs = os.listdir(os.path.join(OUT, h))
        total = sum(os.path.getsize(os.path.join(OUT, h, f)) for f in fs)
        print("%-12s %3d seeds %8d bytes" % (h, len(fs), total))


main()
