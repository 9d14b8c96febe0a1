#!/usr/bin/python3
"""tests/layouts_check.py - quantized layouts of other tools read as logical
tensors.

usage: tests/layouts_check.py [SEED]     (from the project root; QSCOPE=./qscope)

No quantization library is installable here, so this writes the checkpoints
itself, following the layout definitions of FORMATS.md 5.8-5.12: random
float32 weights are quantized with numpy (compressed-tensors pack-quantized
int4/int8 with and without zero points and act-order, int8 and fp8
float-quantized, MXFP4 and NVFP4; GPTQ v1 and gptq_v2, 2, 3, 4 and 8 bits
(3-bit packed as AutoGPTQ packs it), with and without act-order and config; AWQ GEMM; bitsandbytes NF4, FP4, NF4 with double quantization and
LLM.int8()), the parts are written as safetensors (single files, folders
with config.json, a sharded folder, a tar archive), and the dequantized
float32 values are computed here from the stored parts by the definitions.

Then `qscope list --json` must show each weight as one logical tensor (name,
scheme as its dtype, logical shape, bytes = sum of its parts, "scheme",
"bits_per_weight", "parts" in file order) placed where its first part was,
with every other tensor untouched; the text listing folds the parts under
it; `qscope stats --json` of each logical tensor must give exactly the
count, zeros, min and max of the values of the definition, the histogram
bin by bin, and mean and std to 1e-12 / 1e-9 (tests/stats_check.py's
expected()); `qscope try` and `qscope check` on a logical tensor must agree
with the same commands on a plain F32 file holding the expected values.
The test data make a misplaced code visible in these figures: act-order
group indices and groups smaller than a packed word put neighbouring codes
under different scales, and an odd-length 4-bit tensor puts the padding
nibble next to a real code.  Layouts that are incomplete or inconsistent
must stay plain tensors, and a group index past the groups must give a
one-line error (exit 2), not a crash.

Prints "ok ..." / "FAIL ..." lines and ends with "N passed, N failed"; exit
status 1 on any failure.  Files go to a temporary folder.
"""
import json
import math
import os
import sys
import tarfile
import tempfile

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats_check import expected as stats_expected  # noqa: E402
from qstest import check, fail, finish, run_rc  # noqa: E402
from qstest import write_safetensors as write_st  # noqa: E402

TIMEOUT = 60
NBINS = 97
SEED = int(sys.argv[1]) if len(sys.argv) > 1 else 20261127
RNG = np.random.default_rng(SEED)
F32 = np.float32


# ---------------------------------------------------------------------------
# safetensors, written by hand (FORMATS.md 1.1)
# ---------------------------------------------------------------------------

NP_DTYPE = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
            np.dtype(np.int32): "I32", np.dtype(np.int64): "I64",
            np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8"}


def part(name, arr, dtype=None):
    """A tensor to write: (name, dtype string, shape, bytes).  arr holds
    the stored bits (uint16 for BF16, uint8 for F8_E4M3)."""
    arr = np.array(arr, order="C")  # keeps a 0-d array 0-d
    dt = dtype or NP_DTYPE[arr.dtype]
    return (name, dt, list(arr.shape), arr.astype(arr.dtype.newbyteorder("<")).tobytes())


def write_folder(path, parts, qc=None, shards=None):
    """A model folder: config.json (with quantization_config qc) and one
    model.safetensors, or shards: a list of name lists (with an index)."""
    os.makedirs(path, exist_ok=True)
    cfg = {"architectures": ["LlamaForCausalLM"], "torch_dtype": "bfloat16"}
    if qc is not None:
        cfg["quantization_config"] = qc
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)
    if not shards:
        write_st(os.path.join(path, "model.safetensors"), parts)
        return
    byname = {p[0]: p for p in parts}
    wmap = {}
    for k, names in enumerate(shards):
        fn = "model-%05d-of-%05d.safetensors" % (k + 1, len(shards))
        write_st(os.path.join(path, fn), [byname[n] for n in names])
        for n in names:
            wmap[n] = fn
    with open(os.path.join(path, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wmap}, f)


def bf16(x):
    """float32 -> (bfloat16 bits, their float32 values), round to nearest
    even."""
    u = np.asarray(x, F32).view(np.uint32).astype(np.uint64)
    b = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return b, (b.astype(np.uint32) << 16).view(F32)


def f16(x):
    h = np.asarray(x, F32).astype(np.float16)
    return h, h.astype(F32)


def rint(x):
    return np.rint(x)  # ties to even, as torch.round


def weights(rows, cols, scale=0.05):
    w = (RNG.standard_normal((rows, cols)) * scale).astype(F32)
    w[RNG.random(w.shape) < 0.01] *= 8  # a few outliers
    return w


def pack_rows(u, b):
    """Unsigned codes u [R, C] (< 2**b) packed into int32 words along each
    row: element c in word c // pf at bits b * (c % pf) (FORMATS.md 5.10,
    5.11); rows padded with zero codes."""
    pf = 32 // b
    r, c = u.shape
    w = -(-c // pf)
    pad = np.zeros((r, w * pf), np.uint64)
    pad[:, :c] = u
    pad = pad.reshape(r, w, pf)
    words = np.zeros((r, w), np.uint64)
    for k in range(pf):
        words |= pad[:, :, k] << np.uint64(b * k)
    return words.astype(np.uint32).view(np.int32)


def pack3_rows(u):
    """AutoGPTQ's 3-bit packing (qlinear_cuda_old.py pack(), the loop
    FORMATS.md 5.11 refers to), along each row of u [R, C], C a multiple of
    32: every 32 codes in 3 words.  Codes 0-9 at bits 3k of word 0; code
    10's low two bits at bits 30-31 of word 0 and its high bit at bit 0 of
    word 1; codes 11-20 at bits 3(k - 11) + 1 of word 1; code 21's low bit
    at bit 31 of word 1 and its high two at bits 0-1 of word 2; codes 22-31
    at bits 3(k - 22) + 2 of word 2."""
    r, c = u.shape
    assert c % 32 == 0
    u = u.astype(np.uint64).reshape(r, c // 32, 32)
    w = np.zeros((r, c // 32, 3), np.uint64)
    m32 = np.uint64(0xffffffff)
    for k in range(10):
        w[..., 0] |= u[..., k] << np.uint64(3 * k)
    w[..., 0] |= (u[..., 10] << np.uint64(30)) & m32
    w[..., 1] |= (u[..., 10] >> np.uint64(2)) & np.uint64(1)
    for k in range(11, 21):
        w[..., 1] |= u[..., k] << np.uint64(3 * (k - 11) + 1)
    w[..., 1] |= (u[..., 21] << np.uint64(31)) & m32
    w[..., 2] |= (u[..., 21] >> np.uint64(1)) & np.uint64(3)
    for k in range(22, 32):
        w[..., 2] |= u[..., k] << np.uint64(3 * (k - 22) + 2)
    return (w.reshape(r, c // 32 * 3) & m32).astype(np.uint32).view(np.int32)


def pack_gptq(u, b):
    return pack3_rows(u) if b == 3 else pack_rows(u, b)


# ---------------------------------------------------------------------------
# The layouts.  Each maker returns (parts, logical) where logical is
# {"name", "scheme", "shape", "parts": [names], "values": float32 array}.
# ---------------------------------------------------------------------------

def ct_pack(prefix, w, bits, group, asym=False, actorder=False,
            scale_dt="BF16", base=None, shape=None):
    """compressed-tensors pack-quantized (FORMATS.md 5.9, 5.10): parts
    BASE_packed, BASE_scale... of the weight BASE (PREFIX.weight); shape:
    the weight's shape when it has more than 2 dimensions (w is then the
    matrix of its first dimensions by the last ones)."""
    base = base or prefix + ".weight"
    out, inp = w.shape
    qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if group:
        ng = -(-inp // group)
        gidx = np.arange(inp) // group
        if actorder:
            gidx = RNG.permutation(gidx)
    else:
        ng, gidx = 1, np.zeros(inp, np.int64)
    s = np.zeros((out, ng), F32)
    z = np.zeros((out, ng), np.int64)
    for g in range(ng):
        x = w[:, gidx == g]
        if asym:
            lo = np.minimum(x.min(1), 0)
            hi = np.maximum(x.max(1), 0)
            s[:, g] = np.maximum((hi - lo) / F32(qmax - qmin), 1e-7)
        else:
            s[:, g] = np.maximum(np.abs(x).max(1) / F32((qmax - qmin) / 2), 1e-7)
    sbits, sval = bf16(s) if scale_dt == "BF16" else f16(s)
    if asym:
        for g in range(ng):
            x = w[:, gidx == g]
            lo = np.minimum(x.min(1), 0)
            z[:, g] = np.clip(rint(qmin - lo / sval[:, g]), qmin, qmax)
    q = np.clip(rint(w / sval[:, gidx]) + z[:, gidx], qmin, qmax).astype(np.int64)
    off = 1 << (bits - 1)
    shape = shape or [out, inp]
    parts = [part(base + "_packed", pack_rows(q + off, bits)),
             part(base + "_scale", sbits, scale_dt)]
    if asym:
        zp = pack_rows(np.ascontiguousarray((z + off).T), bits).T
        parts.append(part(base + "_zero_point", zp))
    if actorder:
        parts.append(part(base + "_g_idx", gidx.astype(np.int32)))
    parts.append(part(base + "_shape", np.array(shape, np.int64)))
    vals = (q - z[:, gidx]).astype(F32) * sval[:, gidx]
    gran = ("-g%d" % group) if group and ng > 1 else "-ch"
    scheme = "ct-int%d%s%s" % (bits, gran, "-asym" if asym else "")
    return parts, logical(base, scheme, shape, parts, vals)


def e4m3_table():
    v = np.zeros(256, F32)
    for c in range(256):
        e, m = (c >> 3) & 15, c & 7
        mag = m * 2.0 ** -9 if e == 0 else 2.0 ** (e - 7) * (1 + m / 8)
        v[c] = -mag if c & 0x80 else mag
        if c & 0x7F == 0x7F:
            v[c] = np.nan
    return v


def ct_fp8(prefix, w, per_tensor, base=None):
    """compressed-tensors float-quantized FP8 E4M3 (FORMATS.md 5.10): BASE
    (PREFIX.weight) and BASE_scale."""
    base = base or prefix + ".weight"
    tab = e4m3_table()
    pos = tab[:127]
    if per_tensor:
        s = np.array([np.abs(w).max() / 448], F32)
        sbits, sval, sdt = s, s, "F32"
        sfull = np.full(w.shape, s[0], F32)
    else:
        sbits, sval = bf16(np.abs(w).max(1, keepdims=True) / F32(448))
        sdt = "BF16"
        sfull = np.broadcast_to(sval, w.shape)
    x = np.clip(w / sfull, -448, 448)
    code = np.abs(np.abs(x)[..., None] - pos).argmin(-1).astype(np.uint8)
    code |= np.where(x < 0, 0x80, 0).astype(np.uint8)
    parts = [part(base, code, "F8_E4M3"), part(base + "_scale", sbits, sdt)]
    vals = tab[code] * sfull
    return parts, logical(base,
                          "ct-fp8-tensor" if per_tensor else "ct-fp8-ch",
                          list(w.shape), parts, vals)


E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3,
                 -4, -6], F32)


def ct_fp4(prefix, w, nv):
    """compressed-tensors mxfp4- / nvfp4-pack-quantized (FORMATS.md 5.5,
    5.7): E2M1 codes two a byte, element 2i in the low nibble; MXFP4 an
    E8M0 scale per 32, NVFP4 an FP8 scale per 16 and a global scale."""
    out, inp = w.shape
    g = 16 if nv else 32
    ng = -(-inp // g)
    gi = np.arange(inp) // g
    amax = np.zeros((out, ng), F32)
    for k in range(ng):
        amax[:, k] = np.abs(w[:, gi == k]).max(1)
    if nv:
        gs = F32(448 * 6) / np.abs(w).max()
        tab = e4m3_table()
        want = np.maximum(gs * amax / F32(6), F32(0.125))
        sc = np.abs(want[..., None] - tab[None, None, :127]).argmin(-1).astype(np.uint8)
        sval = tab[sc]
        x = w * gs / sval[:, gi]
    else:
        e = np.floor(np.log2(np.maximum(amax, 1e-30))) - 2
        sc = np.clip(e + 127, 0, 254).astype(np.uint8)
        sval = np.ldexp(F32(1), sc.astype(np.int32) - 127).astype(F32)
        x = w / sval[:, gi]
    code = np.abs(np.clip(x, -6, 6)[..., None] - E2M1[None, None, :8] * np.sign(
        np.where(x < 0, -1, 1))[..., None]).argmin(-1)
    code = (code | np.where(x < 0, 8, 0)).astype(np.uint8)
    pad = np.zeros((out, inp + inp % 2), np.uint8)
    pad[:, :inp] = code
    packed = (pad[:, 0::2] | pad[:, 1::2] << 4).astype(np.uint8)
    parts = [part(prefix + ".weight_packed", packed),
             part(prefix + ".weight_scale", sc, "F8_E4M3" if nv else "U8")]
    if nv:
        parts.append(part(prefix + ".weight_global_scale", np.array([gs], F32)))
        vals = E2M1[code] * sval[:, gi] / gs
    else:
        vals = E2M1[code] * sval[:, gi]
    parts.append(part(prefix + ".weight_shape", np.array([out, inp], np.int64)))
    return parts, logical(prefix + ".weight", "ct-nvfp4" if nv else "ct-mxfp4",
                          [out, inp], parts, vals)


def ct_int8(prefix, w):
    """compressed-tensors int-quantized: int8 weight, per-row F32 scale and
    int8 zero point (asymmetric)."""
    lo = np.minimum(w.min(1), 0)
    hi = np.maximum(w.max(1), 0)
    s = ((hi - lo) / F32(255)).astype(F32)[:, None]
    z = np.clip(rint(-128 - lo[:, None] / s), -128, 127)
    q = np.clip(rint(w / s) + z, -128, 127).astype(np.int8)
    parts = [part(prefix + ".weight", q), part(prefix + ".weight_scale", s),
             part(prefix + ".weight_zero_point", z.astype(np.int8))]
    vals = (q.astype(F32) - z.astype(F32)) * s
    return parts, logical(prefix + ".weight", "ct-int8-ch-asym",
                          list(w.shape), parts, vals)


def gptq(prefix, w, bits, group, actorder=False, v1=True, with_gidx=True):
    """GPTQ (FORMATS.md 5.11): asymmetric, qweight [in/pf, out] packed along
    the input, qzeros [groups, out/pf] holding z - 1 (v1) or z (v2)."""
    out, inp = w.shape
    maxq = (1 << bits) - 1
    g_size = group if group > 0 else inp
    ng = -(-inp // g_size)
    gidx = np.arange(inp) // g_size
    if actorder:
        gidx = RNG.permutation(gidx)
    wt = w.T  # [in, out]
    s = np.zeros((ng, out), F32)
    z = np.zeros((ng, out), np.int64)
    for g in range(ng):
        x = wt[gidx == g]
        lo = np.minimum(x.min(0), 0)
        hi = np.maximum(x.max(0), 0)
        s[g] = (hi - lo) / F32(maxq)
    s16, sval = f16(np.maximum(s, 1e-4))
    for g in range(ng):
        x = wt[gidx == g]
        z[g] = np.clip(rint(-np.minimum(x.min(0), 0) / sval[g]), 0, maxq)
    q = np.clip(rint(wt / sval[gidx]) + z[gidx], 0, maxq).astype(np.int64)
    stored_z = (z - 1) & maxq if v1 else z
    parts = [part(prefix + ".qweight", pack_gptq(np.ascontiguousarray(q.T), bits).T),
             part(prefix + ".qzeros", pack_gptq(stored_z, bits)),
             part(prefix + ".scales", s16)]
    if with_gidx:
        parts.append(part(prefix + ".g_idx", gidx.astype(np.int32)))
    vals = (sval[gidx] * (q - z[gidx]).astype(F32)).T
    gran = ("-g%d" % g_size) if ng > 1 else "-ch"
    return parts, logical(prefix + ".weight", "gptq-int%d%s" % (bits, gran),
                          [out, inp], parts, np.ascontiguousarray(vals))


AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]


def awq_pack(u):
    """[R, C] 4-bit codes -> [R, C / 8] words, nibble k of word c holding
    column 8c + AWQ_ORDER[k] (FORMATS.md 5.12)."""
    r, c = u.shape
    words = np.zeros((r, c // 8), np.uint64)
    for k in range(8):
        words |= u[:, AWQ_ORDER[k]::8].astype(np.uint64) << np.uint64(4 * k)
    return words.astype(np.uint32).view(np.int32)


def awq(prefix, w, group):
    """AutoAWQ GEMM (FORMATS.md 5.9, 5.12)."""
    out, inp = w.shape
    ng = inp // group
    wt = w.T
    s = np.zeros((ng, out), F32)
    z = np.zeros((ng, out), np.int64)
    for g in range(ng):
        x = wt[g * group:(g + 1) * group]
        s[g] = np.maximum(x.max(0) - x.min(0), 1e-5) / F32(15)
    s16, sval = f16(s)
    for g in range(ng):
        x = wt[g * group:(g + 1) * group]
        z[g] = np.clip(-rint(x.min(0) / sval[g]), 0, 15)
    gi = np.arange(inp) // group
    q = np.clip(rint(wt / sval[gi]) + z[gi], 0, 15).astype(np.int64)
    parts = [part(prefix + ".qweight", awq_pack(q)),
             part(prefix + ".qzeros", awq_pack(z)),
             part(prefix + ".scales", s16)]
    vals = ((q - z[gi]).astype(F32) * sval[gi]).T
    return parts, logical(prefix + ".weight", "awq-int4-g%d" % group,
                          [out, inp], parts, np.ascontiguousarray(vals))


NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367,
                -0.39491748809814453, -0.28444138169288635,
                -0.18477343022823334, -0.09105003625154495, 0.0,
                0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
                0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                0.7229568362236023, 1.0], F32)
FP4_POS = [0, 0.0625, 8, 12, 4, 6, 2, 3]
FP4 = np.array([v / 12 for v in FP4_POS] + [-v / 12 for v in FP4_POS], F32)


def dynamic_map():
    """bitsandbytes' signed dynamic 8-bit code (FORMATS.md Appendix A),
    built in float32 from its construction."""
    vals = []
    for i in range(7):
        a = np.linspace(0.1, 1, 2 ** i + 1, dtype=F32)
        m = (a[:-1] + a[1:]) / F32(2)
        vals += list(F32(10.0 ** (i - 6)) * m) + list(-F32(10.0 ** (i - 6)) * m)
    vals += [0.0, 1.0]
    return np.array(sorted(vals), F32)


def nearest(table, v):
    return np.abs(v[:, None] - table[None, :]).argmin(1)


def bnb4(prefix, w, qtype, blocksize, dq=False, base=None):
    """bitsandbytes 4-bit (FORMATS.md 5.8) of the weight BASE
    (PREFIX.weight)."""
    table = NF4 if qtype == "nf4" else FP4
    flat = w.reshape(-1)
    n = flat.size
    nb = -(-n // blocksize)
    absmax = np.array([np.abs(flat[b * blocksize:(b + 1) * blocksize]).max()
                       for b in range(nb)], F32)
    blk = np.arange(n) // blocksize
    codes = nearest(table, np.clip(flat * (F32(1) / absmax[blk]), -1, 1))
    padded = np.zeros(n + n % 2, np.uint8)
    padded[:n] = codes
    packed = (padded[0::2] << 4 | padded[1::2]).astype(np.uint8)[:, None]
    state = {"quant_type": qtype, "blocksize": blocksize, "dtype": "bfloat16",
             "shape": list(w.shape)}
    name = base or prefix + ".weight"
    parts = [part(name, packed)]
    if dq:
        nmap = dynamic_map()
        offset = F32(absmax.mean())
        cen = absmax - offset
        nnb = -(-nb // 256)
        nabs = np.array([np.abs(cen[b * 256:(b + 1) * 256]).max()
                         for b in range(nnb)], F32)
        nblk = np.arange(nb) // 256
        acode = nearest(nmap, cen / nabs[nblk]).astype(np.uint8)
        am = nmap[acode] * nabs[nblk] + offset
        state.update(nested_blocksize=256, nested_dtype="float32",
                     nested_offset=float(offset))
        parts += [part(name + ".absmax", acode),
                  part(name + ".quant_map", table),
                  part(name + ".nested_absmax", nabs),
                  part(name + ".nested_quant_map", nmap)]
    else:
        am = absmax
        parts += [part(name + ".absmax", absmax),
                  part(name + ".quant_map", table)]
    js = np.frombuffer(json.dumps(state).encode(), np.uint8)
    parts.append(part(name + ".quant_state.bitsandbytes__" + qtype, js))
    vals = (table[codes] * am[blk]).reshape(w.shape)
    scheme = "bnb-%s%s%s" % (qtype, "-dq" if dq else "",
                             "" if blocksize == 64 else "-b%d" % blocksize)
    return parts, logical(name, scheme, list(w.shape), parts, vals)


def bnb8(prefix, w):
    """bitsandbytes LLM.int8() (FORMATS.md 5.8)."""
    scb = np.abs(w).max(1).astype(F32)
    cb = np.clip(rint(w * F32(127) / scb[:, None]), -127, 127).astype(np.int8)
    parts = [part(prefix + ".weight", cb), part(prefix + ".SCB", scb),
             part(prefix + ".weight_format", np.zeros((), np.uint8))]
    vals = cb.astype(F32) * scb[:, None] / F32(127)
    return parts, logical(prefix + ".weight", "bnb-int8", list(w.shape),
                          parts, vals)


def logical(name, scheme, shape, parts, vals):
    return {"name": name, "scheme": scheme, "shape": shape,
            "parts": [p[0] for p in parts],
            "values": np.asarray(vals, F32).reshape(-1)}


def plain(name, arr, dtype=None):
    return part(name, arr, dtype)


# ---------------------------------------------------------------------------
# Running qscope and checking what it says
# ---------------------------------------------------------------------------

def run(*args):
    return run_rc(*args, timeout=TIMEOUT)


def run_json(what, *args):
    rc, out, err = run(*args)
    if rc != 0:
        fail(what, "exit %s: %s" % (rc, err.strip()[:300]))
        return None
    try:
        return json.loads(out)
    except ValueError as e:
        fail(what, "not JSON: %s" % e)
        return None


def nbytes_of(p):
    return len(p[3])


def expect_listing(parts, logicals):
    """What list --json must say: logical tensors at their first part's
    place, every other tensor as written."""
    owner = {}
    for lg in logicals:
        for n in lg["parts"]:
            owner[n] = lg
    byname = {p[0]: p for p in parts}
    seen, rows = set(), []
    for p in parts:
        lg = owner.get(p[0])
        if lg is None:
            rows.append({"name": p[0], "dtype": p[1], "shape": p[2],
                         "params": int(np.prod(p[2], dtype=np.int64)),
                         "bytes": nbytes_of(p)})
            continue
        if lg["name"] in seen:
            continue
        seen.add(lg["name"])
        # parts in file order
        order = [q[0] for q in parts if q[0] in set(lg["parts"])]
        total = sum(nbytes_of(byname[n]) for n in order)
        params = int(np.prod(lg["shape"], dtype=np.int64))
        rows.append({"name": lg["name"], "dtype": lg["scheme"],
                     "shape": lg["shape"], "params": params, "bytes": total,
                     "scheme": lg["scheme"],
                     "bits_per_weight": 8.0 * total / params,
                     "parts": [{"name": n, "dtype": byname[n][1],
                                "shape": byname[n][2],
                                "bytes": nbytes_of(byname[n])}
                               for n in order]})
    return rows


def strip_prefix(name, prefix):
    return name[len(prefix):] if prefix and name.startswith(prefix) else name


def check_listing(what, path, parts, logicals, prefix=""):
    doc = run_json(what + ": list --json", "list", "--json", path)
    if doc is None:
        return None
    got = doc["tensors"]
    for t in got:
        t["name"] = strip_prefix(t["name"], prefix)
        for p in t.get("parts", []):
            p["name"] = strip_prefix(p["name"], prefix)
    want = expect_listing(parts, logicals)
    why = []
    if [t["name"] for t in got] != [t["name"] for t in want]:
        why.append("names %s, expected %s" % ([t["name"] for t in got],
                                              [t["name"] for t in want]))
    else:
        for g, w in zip(got, want):
            if set(g) != set(w):
                why.append("%s: keys %s, expected %s" % (w["name"], sorted(g),
                                                          sorted(w)))
                continue
            for k in w:
                if k == "bits_per_weight":
                    if not math.isclose(g[k], w[k], rel_tol=1e-12):
                        why.append("%s: %s %r, expected %r" % (w["name"], k, g[k], w[k]))
                elif g[k] != w[k]:
                    why.append("%s: %s %r, expected %r" % (w["name"], k, g[k], w[k]))
    tot = sum(t["bytes"] for t in want)
    if doc["bytes"] != tot:
        why.append("total bytes %r, expected %r" % (doc["bytes"], tot))
    tp = sum(t["params"] for t in want)
    if doc["params"] != tp:
        why.append("total params %r, expected %r" % (doc["params"], tp))
    check(what + ": list --json shows %d logical tensors" % len(logicals),
          not why, "; ".join(why[:3]))
    return doc


def check_text(what, path, logicals):
    """The text listing: each logical tensor's row says its scheme, and its
    parts follow it, indented by two spaces."""
    rc, out, err = run("list", path)
    if rc != 0:
        fail(what + ": list", "exit %s: %s" % (rc, err.strip()))
        return
    lines = out.splitlines()
    why = []
    for lg in logicals:
        at = [k for k, ln in enumerate(lines)
              if ln.split() and ln.split()[0].endswith(lg["name"])
              and not ln.startswith(" ")]
        if len(at) != 1:
            why.append("%s: %d rows" % (lg["name"], len(at)))
            continue
        k = at[0]
        if lines[k].split()[1] != lg["scheme"]:
            why.append("%s: dtype column %r" % (lg["name"], lines[k].split()[1]))
        sub = lines[k + 1:k + 1 + len(lg["parts"])]
        names = [ln.split()[0] for ln in sub]
        if (not all(ln.startswith("  ") and not ln.startswith("   ") for ln in sub)
                or [n[-len(p):] for n, p in zip(names, lg["parts"])] != lg["parts"]):
            why.append("%s: parts not folded under it: %r" % (lg["name"], sub))
    summary = [ln.split()[0] for ln in lines if ln.split()]
    for lg in logicals:
        if summary.count(lg["scheme"]) != 1:  # the totals by type
            why.append("no total for %s" % lg["scheme"])
    check(what + ": text listing folds the parts", not why, "; ".join(why[:3]))


def check_values(what, path, lg, full_name=None):
    name = full_name or lg["name"]
    doc = run_json(what + ": stats " + lg["name"], "stats", "--json",
                   "--bins", str(NBINS), path, name)
    if doc is None:
        return
    if len(doc["tensors"]) != 1:
        fail(what + ": stats " + lg["name"], "%d tensors" % len(doc["tensors"]))
        return
    got = doc["tensors"][0]
    vals = [float(v) for v in lg["values"]]
    e = stats_expected(vals, NBINS)
    why = []
    for k in ("count", "nan", "inf", "zeros", "min", "max", "absmax"):
        if got.get(k) != e[k]:
            why.append("%s %r, expected %r" % (k, got.get(k), e[k]))
    sc = e["absmax"] or 1
    if got.get("mean") is None or abs(got["mean"] - e["mean"]) > 1e-12 * abs(e["mean"]) + 1e-15 * sc:
        why.append("mean %r, expected %r" % (got.get("mean"), e["mean"]))
    if got.get("std") is None or abs(got["std"] - e["std"]) > 1e-9 * e["std"] + 1e-12 * sc:
        why.append("std %r, expected %r" % (got.get("std"), e["std"]))
    h = got.get("histogram", {})
    if h.get("counts") != e["hist"]["counts"] or h.get("lo") != e["hist"]["lo"] \
            or h.get("hi") != e["hist"]["hi"]:
        why.append("histogram differs")
    check("%s: %s decodes to the values of the definition (%s, %d values)"
          % (what, lg["name"], lg["scheme"], len(vals)), not why,
          "; ".join(why[:4]))


def check_try_and_check(what, path, lg, tmp):
    """try and check treat the logical tensor as they treat a plain F32
    tensor of the same values."""
    ref = os.path.join(tmp, "ref-%s.safetensors" % lg["name"].replace("/", "_"))
    write_st(ref, [part(lg["name"], lg["values"].reshape(lg["shape"]))])
    for scheme in ("int8", "q4_0"):
        a = run_json(what + ": try", "try", "--json", path, scheme, lg["name"])
        b = run_json(what + ": try (reference)", "try", "--json", ref, scheme)
        if a is None or b is None:
            return
        ta, tb = a["tensors"][0], b["tensors"][0]
        if "skipped" in ta or "skipped" in tb:
            check("%s: try %s skips %s as it skips the decoded values"
                  % (what, scheme, lg["name"]), ta.get("skipped") == tb.get("skipped"),
                  "%r != %r" % (ta, tb))
            continue
        why = ["%s %r != %r" % (k, ta[k], tb[k])
               for k in ("rmse", "rel_err", "sqnr_db", "cosine", "max_abs_err")
               if not (ta[k] == tb[k] or (ta[k] is not None and tb[k] is not None
                                           and math.isclose(ta[k], tb[k], rel_tol=1e-9)))]
        check("%s: try %s on %s gives what it gives on the decoded values"
              % (what, scheme, lg["name"]), not why, "; ".join(why))
    rca, outa, erra = run("check", "--json", path)
    rcb, outb, errb = run("check", "--json", ref)
    try:
        fa = [f for f in json.loads(outa)["findings"] if f.get("tensor") == lg["name"]]
        fb = [f for f in json.loads(outb)["findings"] if f.get("tensor") == lg["name"]]
    except (ValueError, KeyError, TypeError):
        fail(what + ": check", "exit %s/%s: %s %s" % (rca, rcb, erra.strip(), errb.strip()))
        return
    for f in fa + fb:
        f.pop("tensor", None)
    check("%s: check on %s finds what it finds on the decoded values"
          % (what, lg["name"]), rca in (0, 1) and fa == fb, "%r != %r" % (fa, fb))


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------

def ct_case(tmp):
    parts, logicals = [], []
    parts.append(plain("model.embed_tokens.weight", bf16(weights(32, 96))[0], "BF16"))
    for p, lg in (ct_pack("model.layers.0.self_attn.q_proj", weights(24, 96), 4, 16),
                  ct_pack("model.layers.0.self_attn.k_proj", weights(20, 100), 4, 16, asym=True),
                  ct_pack("model.layers.0.mlp.up_proj", weights(10, 30), 8, 0, scale_dt="F16"),
                  ct_pack("model.layers.0.mlp.gate_proj", weights(16, 64), 4, 8, actorder=True),
                  ct_pack("model.layers.0.mlp.down_proj", weights(12, 64), 4, 2, asym=True)):
        parts += p
        logicals.append(lg)
    parts.append(plain("model.layers.0.input_layernorm.weight", bf16(np.ones(96, F32))[0], "BF16"))
    parts.append(plain("lm_head.weight", bf16(weights(32, 96))[0], "BF16"))
    qc = {"quant_method": "compressed-tensors", "format": "pack-quantized",
          "quantization_status": "compressed",
          "config_groups": {
              "group_0": {"targets": ["re:.*q_proj"], "weights": {
                  "num_bits": 4, "type": "int", "symmetric": True,
                  "strategy": "group", "group_size": 16}},
              "group_1": {"targets": ["re:.*k_proj"], "weights": {
                  "num_bits": 4, "type": "int", "symmetric": False,
                  "strategy": "group", "group_size": 16}},
              "group_2": {"targets": ["re:.*up_proj"], "weights": {
                  "num_bits": 8, "type": "int", "symmetric": True,
                  "strategy": "channel", "group_size": None}},
              "group_3": {"targets": ["re:.*gate_proj"], "weights": {
                  "num_bits": 4, "type": "int", "symmetric": True,
                  "strategy": "group", "group_size": 8, "actorder": "group"}},
              "group_4": {"targets": ["re:.*down_proj"], "weights": {
                  "num_bits": 4, "type": "int", "symmetric": False,
                  "strategy": "group", "group_size": 2}}},
          "ignore": ["lm_head"]}
    path = os.path.join(tmp, "ct")
    write_folder(path, parts, qc)
    return "compressed-tensors pack-quantized", path, parts, logicals


def ct_float_case(tmp):
    parts, logicals = [], []
    for p, lg in (ct_fp8("model.layers.0.mlp.up_proj", weights(16, 40), False),
                  ct_fp8("model.layers.0.mlp.down_proj", weights(40, 16), True),
                  ct_int8("model.layers.0.mlp.gate_proj", weights(16, 40)),
                  ct_fp4("model.layers.1.mlp.up_proj", weights(12, 70), False),
                  ct_fp4("model.layers.1.mlp.down_proj", weights(10, 50), True)):
        parts += p
        logicals.append(lg)
    parts.append(plain("model.layers.0.mlp.down_proj.input_scale", np.array([0.5], F32)))
    path = os.path.join(tmp, "ct-float.safetensors")  # a single file, no config
    write_st(path, parts)
    return ("compressed-tensors float/int/fp4-quantized (single file)", path,
            parts, logicals)


def gptq_case(tmp):
    parts, logicals = [], []
    for p, lg in (gptq("model.layers.0.self_attn.o_proj", weights(48, 128), 4, 32),
                  gptq("model.layers.0.mlp.down_proj", weights(40, 128), 4, 32, actorder=True)):
        parts += p
        logicals.append(lg)
    parts.append(plain("model.layers.0.mlp.down_proj.bias", f16(weights(1, 40)[0])[0]))
    names = [p[0] for p in parts]
    # the qweights in one shard, everything else in the other
    shards = [[n for n in names if n.endswith(".qweight")],
              [n for n in names if not n.endswith(".qweight")]]
    order = shards[0] + shards[1]
    byname = {p[0]: p for p in parts}
    parts = [byname[n] for n in order]
    qc = {"quant_method": "gptq", "bits": 4, "group_size": 32, "desc_act": True,
          "sym": False, "checkpoint_format": "gptq"}
    path = os.path.join(tmp, "gptq")
    write_folder(path, parts, qc, shards=shards)
    return "GPTQ v1, sharded", path, parts, logicals


def gptq_more_cases(tmp):
    cases = []
    # gptq_v2: zeros stored as they are; 2-bit
    p1, lg1 = gptq("model.layers.1.mlp.up_proj", weights(32, 64), 2, 16, v1=False)
    path = os.path.join(tmp, "gptq-v2")
    write_folder(path, p1, {"quant_method": "gptq", "bits": 2, "group_size": 16,
                            "checkpoint_format": "gptq_v2"})
    cases.append(("GPTQ gptq_v2 2-bit", path, p1, [lg1]))
    # group_size -1: one group over all inputs
    p3, lg3 = gptq("model.layers.3.mlp.up_proj", weights(16, 64), 4, -1)
    path = os.path.join(tmp, "gptq-ch")
    write_folder(path, p3, {"quant_method": "gptq", "bits": 4, "group_size": -1})
    cases.append(("GPTQ one group", path, p3, [lg3]))
    # no config at all: the bits from g_idx's length, the group from the
    # scales' rows; v1 zeros
    p2, lg2 = gptq("model.layers.2.mlp.up_proj", weights(24, 64), 8, 16)
    path = os.path.join(tmp, "gptq8.safetensors")
    write_st(path, p2)
    cases.append(("GPTQ 8-bit, single file without config", path, p2, [lg2]))
    # 3-bit: 32 codes in 3 words, codes 10 and 21 straddling two words;
    # act-order, groups of 32, v1 zeros (their words straddle too)
    p4, lg4 = gptq("model.layers.4.mlp.down_proj", weights(64, 128), 3, 32,
                   actorder=True)
    path = os.path.join(tmp, "gptq3")
    write_folder(path, p4, {"quant_method": "gptq", "bits": 3, "group_size": 32,
                            "desc_act": True, "checkpoint_format": "gptq"})
    cases.append(("GPTQ 3-bit, act-order", path, p4, [lg4]))
    # 3-bit without config: the bits from qweight's rows and g_idx's length
    p5, lg5 = gptq("model.layers.5.mlp.up_proj", weights(96, 64), 3, 16)
    path = os.path.join(tmp, "gptq3.safetensors")
    write_st(path, p5)
    cases.append(("GPTQ 3-bit, single file without config", path, p5, [lg5]))
    return cases


def awq_case(tmp):
    parts, logicals = [], []
    for p, lg in (awq("model.layers.0.self_attn.v_proj", weights(40, 64), 32),
                  awq("model.layers.0.mlp.down_proj", weights(16, 96), 16)):
        parts += p
        logicals.append(lg)
    path = os.path.join(tmp, "awq")
    write_folder(path, parts, {"quant_method": "awq", "bits": 4,
                               "group_size": 32, "zero_point": True,
                               "version": "gemm"})
    # the second layer's group differs from the config's: it cannot be
    # that layout, so it must stay plain
    lg_bad = logicals.pop()
    return "AWQ GEMM", path, parts, logicals, lg_bad


def bnb_case(tmp):
    parts, logicals = [], []
    for p, lg in (bnb4("model.layers.0.self_attn.q_proj", weights(24, 40), "nf4", 64),
                  bnb4("model.layers.0.self_attn.k_proj", weights(7, 9), "fp4", 128),
                  bnb4("model.layers.0.mlp.down_proj", weights(64, 300), "nf4", 64, dq=True),
                  bnb8("model.layers.1.mlp.down_proj", weights(12, 20))):
        parts += p
        logicals.append(lg)
    parts.append(plain("model.layers.0.self_attn.q_proj.bias", bf16(weights(1, 24)[0])[0], "BF16"))
    path = os.path.join(tmp, "bnb")
    write_folder(path, parts, {"quant_method": "bitsandbytes", "load_in_4bit": True,
                               "bnb_4bit_quant_type": "nf4",
                               "bnb_4bit_use_double_quant": True})
    return "bitsandbytes", path, parts, logicals


def names_case(tmp):
    """The layouts under names that do not end in .weight (as qscope's own
    safetensors writer names them: NAME_packed, NAME_scale, NAME.absmax...),
    and a 3-dimensional weight."""
    parts, logicals = [], []
    for p, lg in (ct_pack("", weights(12, 64), 4, 16, base="experts.w1",
                          shape=[3, 4, 64]),
                  ct_pack("", weights(6, 40), 8, 0, base="w2", asym=True),
                  ct_fp8("", weights(5, 8), True, base="emb"),
                  bnb4("", weights(3, 50), "nf4", 64, dq=True, base="norm_like")):
        parts += p
        logicals.append(lg)
    path = os.path.join(tmp, "names.safetensors")
    write_st(path, parts)
    return "names of any form", path, parts, logicals


def half_case(tmp):
    """Incomplete or inconsistent layouts: every tensor stays plain."""
    parts = []
    p, _ = gptq("a", weights(16, 64), 4, 32)
    parts += [x for x in p if not x[0].endswith(".qzeros")]       # no zeros
    p, _ = gptq("b", weights(16, 64), 4, 32)
    parts += [x if not x[0].endswith(".qzeros") else
              part("b.qzeros", np.zeros((3, 2), np.int32)) for x in p]  # wrong shape
    p, _ = ct_pack("c", weights(8, 32), 4, 16)
    parts += [x if not x[0].endswith(".weight_shape") else
              part("c.weight_shape", np.array([8, 200], np.int64)) for x in p]
    p, _ = bnb4("d", weights(8, 16), "nf4", 64)
    parts += [x if ".quant_state." not in x[0] else
              part(x[0], np.frombuffer(b"{not json", np.uint8)) for x in p]
    p, _ = bnb4("e", weights(8, 16), "nf4", 64)
    st = json.dumps({"quant_type": "nf4", "blocksize": 32, "dtype": "bfloat16",
                     "shape": [8, 16]}).encode()   # 4 blocks, 2 absmax
    parts += [x if ".quant_state." not in x[0] else
              part(x[0], np.frombuffer(st, np.uint8)) for x in p]
    p, _ = gptq("f", weights(16, 64), 4, 32)
    parts += p + [part("f.weight", f16(weights(16, 64))[0])]  # name taken
    p, _ = ct_pack("g", weights(8, 4), 4, 0)  # 4 columns: 2, 4 or 8 bits?
    parts += p
    p, _ = ct_pack("h", weights(8, 64), 4, 16)  # both would be h.weight
    parts += p + gptq("h", weights(16, 64), 4, 32)[0]
    path = os.path.join(tmp, "half.safetensors")
    write_st(path, parts)
    return "incomplete layouts", path, parts


def main():
    print("seed %d (rerun: tests/layouts_check.py %d)" % (SEED, SEED))
    with tempfile.TemporaryDirectory(prefix="qscope-layouts-") as tmp:
        cases = [ct_case(tmp), ct_float_case(tmp), gptq_case(tmp)]
        cases += gptq_more_cases(tmp)
        what, awq_path, parts, logicals, awq_bad = awq_case(tmp)
        cases.append((what, awq_path, parts, logicals))
        cases.append(bnb_case(tmp))
        cases.append(names_case(tmp))
        for what, path, parts, logicals in cases:
            check_listing(what, path, parts, logicals)
            check_text(what, path, logicals)
            for lg in logicals:
                check_values(what, path, lg)
        doc = run_json("AWQ list", "list", "--json", awq_path)
        names = [t["name"] for t in doc["tensors"]] if doc else []
        check("AWQ: a layer whose groups do not fit the config stays plain",
              all(n in names for n in awq_bad["parts"]), "%r" % names)

        # try and check on a logical tensor, once per family
        for what, path, parts, logicals in cases:
            check_try_and_check(what, path, logicals[-1], tmp)

        # a tar archive of a folder: names carry the member prefix, the
        # config inside the archive still counts
        what, path, parts, logicals = cases[0]
        tpath = os.path.join(tmp, "ct.tar")
        with tarfile.open(tpath, "w") as tf:
            tf.add(path, arcname="ct")
        doc = run_json("archive list", "list", "--json", tpath)
        if doc:
            pre = [t["name"][:-len("model.embed_tokens.weight")] for t in doc["tensors"]
                   if t["name"].endswith("model.embed_tokens.weight")]
            prefix = pre[0] if pre else ""
            check_listing("tar archive of the compressed-tensors folder", tpath,
                          parts, logicals, prefix)
            check_values("tar archive", tpath, logicals[1], prefix + logicals[1]["name"])

        # incomplete layouts stay plain
        what, path, parts = half_case(tmp)
        doc = check_listing(what + " stay plain", path, parts, [])
        if doc:
            check(what + ": no tensor has a scheme",
                  not any("scheme" in t or "parts" in t for t in doc["tensors"]))
        rc, out, err = run("stats", "--json", path)
        check(what + ": stats reads every plain part", rc == 0, err.strip())

        # a group index past the groups: listed, but reading it is an error
        p, lg = gptq("model.layers.0.mlp.up_proj", weights(16, 64), 4, 32)
        p = [x if not x[0].endswith(".g_idx") else
             part(x[0], np.array([0] * 63 + [999], np.int32)) for x in p]
        bad = os.path.join(tmp, "badgidx.safetensors")
        write_st(bad, p)
        check_listing("GPTQ with a g_idx past its groups", bad, p, [lg])
        rc, out, err = run("stats", bad, lg["name"])
        lines = err.strip().splitlines()
        check("GPTQ with a g_idx past its groups: stats says so on one line, exit 2",
              rc == 2 and len(lines) == 1 and "g_idx" in err and "999" in err,
              "exit %s: %r" % (rc, err))

    return finish()


if __name__ == "__main__":
    sys.exit(main())
