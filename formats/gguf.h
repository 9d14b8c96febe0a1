/*
 * formats/gguf.h - writing a GGUF file (formats/gguf.c reads them through
 * the table of formats in model.c; this is the writing half).
 *
 * gguf_write() takes a model read from GGUF and a type per tensor and
 * writes a GGUF v3 file that ggml's reader accepts:
 *  - the metadata KVs of the input, in order, their bytes copied verbatim
 *    (v1 inputs are widened to v3's 64-bit lengths); general.alignment is
 *    kept and is the alignment of the output; split.no, split.count and
 *    split.tensors.count are dropped (the output is one file), and so is
 *    any later copy of a repeated key (ggml refuses repeated keys; the first
 *    one is the one qscope's reader and gguf-py use);
 *  - when any tensor changes type, as llama-quantize does:
 *    general.quantization_version (u32 2) and general.file_type (u32, the
 *    llama.cpp ftype of the main type, gguf_ftype()) are removed from where
 *    they were and appended at the end, in that order.  The main type is
 *    the one that holds the most parameters.  With no ftype for it,
 *    general.file_type is left out;
 *  - when no tensor changes type, the KVs are copied as they are, and
 *    general.quantization_version is appended only if a tensor is of a
 *    block type and the input lacks it;
 *  - tensors in the model's order, shapes and names as read; a tensor
 *    whose type is unchanged is copied byte for byte, the others decoded to
 *    float32 a chunk at a time and encoded (ggml_quantize() for block
 *    types, round to nearest even for F16 and BF16);
 *  - data at offsets ggml demands: the first at the aligned end of the
 *    header, each next one at the previous offset plus its size rounded up
 *    to the alignment, zero padding between.
 *
 * Memory stays bounded by a few MB whatever the model's size: one thread
 * per CPU converts pieces of the tensors into a ring of a few buffers while
 * the calling thread writes the finished ones in order, and the input pages
 * already read are dropped from the process (madvise) as the write goes
 * on.  The progress callback runs in the calling thread.
 *
 * The input is never written: the output goes to a temporary file
 * ".NAME.tmp-PID-XXXXXX" next to out_path, is fsynced and then renamed over
 * out_path; on any failure (an error, a full disk, a cancel from the
 * progress callback) the temporary file is removed and nothing else
 * changes.  No curses, no output on the terminal.
 */
#ifndef QSCOPE_FORMATS_GGUF_H
#define QSCOPE_FORMATS_GGUF_H

#include <stdint.h>

#include "formats/model.h"

/* Called after each chunk with the bytes of the output written so far and
 * its final size; a nonzero return cancels the write (the error says
 * "interrupted"). */
typedef int gguf_progress_fn(uint64_t done, uint64_t total, void *arg);

enum gguf_write_flags {
	GGUF_WRITE_FORCE = 1 << 0,	/* replace an existing out_path */
};

/*
 * Write m (every tensor read from GGUF) to out_path as GGUF v3, tensor i
 * in types[i] (DT_NONE, or types NULL: its own type).  Refuses, with e
 * filled and nothing written: an out_path that is one of the input files
 * (the same inode, through a link or not), an existing out_path without
 * GGUF_WRITE_FORCE, a type that is not a GGUF type qscope can encode
 * (gguf_can_encode()), a row length the type's block does not divide, a
 * conversion from a type qscope cannot decode.  cb may be NULL.
 * Returns 0, or -1 with e filled ("'out_path': ...").
 */
int gguf_write(const struct model *m, const enum dtype *types,
	       const char *out_path, unsigned flags, gguf_progress_fn *cb,
	       void *arg, struct err *e);

/* 1 if gguf_write() can encode float32 values to d: F32, F16, BF16 and
 * every type ggml_can_quantize() knows. */
int gguf_can_encode(enum dtype d);

/*
 * The schemes of the table (quant/schemes.h) that GGUF holds, and their
 * GGUF types: the casts f32, f16 and bf16 as F32, F16 and BF16, and the
 * GGUF block schemes (q8_0, q4_k, ...) as their block type when
 * gguf_can_encode() it.  formats/gguf_types.c; qscope quantize and the
 * browser's write screen both choose types, and check what gguf_write()
 * wrote, through these.
 */
struct scheme;

/* The scheme whose GGUF encoding is d (the cast for F32, F16, BF16), or
 * NULL when the table has none. */
const struct scheme *gguf_scheme_of_type(enum dtype d);

/* The GGUF type scheme s writes; DT_NONE when GGUF has none (nf4,
 * int4-g128, ...) or s is NULL. */
enum dtype gguf_type_of_scheme(const struct scheme *s);

/* The names of the schemes GGUF holds, space-separated, into buf (n
 * bytes, NUL-terminated, cut short if it must be); returns the length. */
size_t gguf_scheme_names(char *buf, size_t n);

/* llama.cpp's general.file_type for a model whose main type is d (the
 * value llama.cpp's loader guesses: Q4_K gives 15 = MOSTLY_Q4_K_M, Q3_K 12
 * = Q3_K_M, Q5_K 17 = Q5_K_M, F32 0, F16 1, BF16 32, Q8_0 7, ...); -1 when
 * llama.cpp has none for d. */
int gguf_ftype(enum dtype d);

#endif
