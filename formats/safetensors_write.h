/*
 * formats/safetensors_write.h - writing a quantized model as safetensors,
 * and checking a written model (safetensors or GGUF) against the input.
 *
 * safetensors_write() takes any model qscope reads and a scheme per tensor
 * (quant/schemes.h; NULL: keep it as stored, copied byte for byte) and
 * writes it in the layouts other tools load (FORMATS.md 5.8, 5.10):
 *  - f32, tf32, f16, bf16: an ordinary F32 / F16 / BF16 tensor;
 *  - fp8-e4m3, fp8-e5m2: NAME as F8_E4M3 / F8_E5M2 and NAME_scale, F32 [1]
 *    ("x.weight_scale" for "x.weight"; compressed-tensors' float-quantized
 *    layout), value = code * scale;
 *  - int8, int8-tensor, int4-g128, int4-g128-asym: compressed-tensors
 *    pack-quantized: NAME_packed I32 [rows, ceil(cols * bits / 32)] with the
 *    codes as offset binary (q + 2^(bits-1)), first element in the low bits
 *    of a word, a row padded with zero bits to whole words; NAME_scale
 *    ([rows, cols / 128] F16 for the int4 groups, [rows, 1] F32 per row for
 *    int8, [1] F32 for int8-tensor); NAME_zero_point I32
 *    [ceil(rows / 8), cols / 128] packed along rows (int4-g128-asym only);
 *    NAME_shape I64 [ndim], the tensor's shape.  rows x cols is the tensor
 *    as a matrix: cols is the innermost dimension for the groups, and
 *    params / dim[0] for the per-row int8;
 *  - mxfp4: compressed-tensors mxfp4-pack-quantized: NAME_packed U8
 *    [rows, cols / 2] (element 2i in the low nibble), NAME_scale U8
 *    [rows, cols / 32] (E8M0 codes); 2-D tensors only;
 *  - nf4, fp4, nf4-dq: bitsandbytes' serialized Linear4bit: NAME U8
 *    [(params + 1) / 2, 1] (first element in the high nibble),
 *    NAME.absmax (F32 per block of 64, or U8 codes with double
 *    quantization), NAME.quant_map F32 [16], with double quantization
 *    NAME.nested_absmax F32 and NAME.nested_quant_map F32 [256], and
 *    NAME.quant_state.bitsandbytes__nf4 (or __fp4), U8: the JSON of
 *    quant_type, blocksize, dtype, shape (and nested_blocksize,
 *    nested_dtype, nested_offset);
 *  - the GGUF block types, ternary and binary have no safetensors layout
 *    (safetensors_layout() says so before anything is written).
 * A tensor kept as it is (scheme NULL) is copied byte for byte; one that
 * qscope reads through another tool's quantized layout (formats/layouts.h)
 * is kept as the stored tensors it came from, and a scheme given to it
 * works on the values the layout decodes to.
 * Every byte of a part is what the scheme's quantize gives (the packing
 * only moves bits), so the values read back are the scheme's dequantized
 * ones bit for bit.
 *
 * Files: out ending in ".safetensors" is one file.  Otherwise out is a
 * folder (made if missing) holding model.safetensors, or, when the input's
 * tensors came from several files, one shard per input file
 * (model-00001-of-0000N.safetensors, each tensor in the shard numbered
 * like its input file) and model.safetensors.index.json; plus config.json,
 * the input's, with "quantization_config" set when the quantized tensors
 * all belong to one method (compressed-tensors, or bitsandbytes with one
 * quant type).  Every file's __metadata__ has "format": "pt", the input's
 * string entries, and that quantization_config as a JSON string.
 * Within a file, tensors are ordered by element size, largest first (then
 * in the model's order), so that each one is aligned to its element size.
 *
 * Atomic: every file goes to a temporary ".NAME.tmp-PID-XXXXXX" in the target
 * folder, is fsynced, and only when all are complete are they renamed into
 * place; on any failure or a cancel from the progress callback every
 * temporary file (and a folder made for the output) is removed; what a
 * killed writer left, the callers remove before the next write of the same
 * target (out_remove_stale(), formats/outfile.h).  The bytes of kept
 * tensors are read from the input's mapping under formats/guard.h: an
 * input cut short meanwhile is an error naming it, not a SIGBUS.  An
 * existing target needs SAFETENSORS_WRITE_FORCE; a target that is one of
 * the input's files (or the input folder itself) is refused.  The input is
 * only read.  No curses, no output on the terminal.
 */
#ifndef QSCOPE_FORMATS_SAFETENSORS_WRITE_H
#define QSCOPE_FORMATS_SAFETENSORS_WRITE_H

#include <stdint.h>

#include "formats/model.h"
#include "quant/schemes.h"

/* Called now and then with the bytes written so far and the total; a
 * nonzero return cancels (the error says "interrupted"). */
typedef int write_progress_fn(uint64_t done, uint64_t total, void *arg);

enum safetensors_write_flags {
	SAFETENSORS_WRITE_FORCE = 1 << 0,	/* replace existing files */
};

/* NULL if s can be written to safetensors, else why not. */
const char *safetensors_layout(const struct scheme *s);

/* NULL if s can be written for t in safetensors, else why not (such a
 * tensor is kept by the caller, who says so). */
const char *safetensors_layout_for(const struct scheme *s,
				   const struct tensor *t);

struct safetensors_written {
	size_t files;		/* files put in place */
	uint64_t bytes;		/* their bytes */
	char method[64];	/* quant_method of config's quantization_config,
				 * "" when none was written */
	char note[256];		/* why none was, when something was quantized */
};

/*
 * Write m to out with schemes[i] for tensor i (NULL: copied).  Refuses,
 * with e filled and nothing written: a scheme without a layout, a tensor
 * kept in a dtype safetensors cannot name (GGUF blocks), values that
 * cannot be decoded, two output tensors of one name, an out that is the
 * input, an existing target without the force flag.  cb may be NULL;
 * info (may be NULL) is filled on success.  Returns 0 or -1.
 */
int safetensors_write(const struct model *m, const struct scheme *const *schemes,
		      const char *out, unsigned flags, write_progress_fn *cb,
		      void *arg, struct safetensors_written *info,
		      struct err *e);

/*
 * Check a written model: open out (model_open) and, for every tensor i of
 * m, compare what was written with what schemes[i] gives on m's values
 * now: kept tensors byte for byte; every part of a quantized one byte for
 * byte with the scheme's quantize; and where qscope reads the written
 * tensor as values (plain casts, FP8 with its scale, GGUF types), those
 * values bit for bit with the scheme's dequantize.  gguf: out is a GGUF
 * written by gguf_write() (one tensor per input tensor, in the scheme's
 * GGUF type or cast).  *values gets how many values were compared as
 * values, *bytes how many bytes.  Returns 0, or -1 with e naming the
 * first tensor that differs.
 */
int written_verify(const struct model *m, const struct scheme *const *schemes,
		   const char *out, int gguf, uint64_t *values, uint64_t *bytes,
		   struct err *e);

#endif
