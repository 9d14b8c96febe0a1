/*
 * quant/ggml.h - GGUF block formats: quantize float32 to ggml's blocks and
 * decode them back, byte for byte and bit for bit as ggml does.
 *
 * The quantizers give the bytes of ggml's reference quantizers
 * (quantize_row_*_ref and, for IQ4_NL and IQ4_XS, quantize_iq4_*), i.e.
 * what llama-quantize writes without an importance matrix, when ggml is
 * built without fused multiply-add contraction (FORMATS.md 2.5.0).  The
 * decoders give the floats of ggml's dequantize_row_*.  Block layouts and
 * math: ../shared/reference/FORMATS.md 2.4 and 2.5.
 *
 * Inputs that are not finite never crash: NaN and infinity go through the
 * same arithmetic, and the float-to-integer conversions that are undefined
 * in C (and that ggml leaves undefined) give what x86-64 gives, so the
 * bytes are defined and match an x86-64 build of ggml.  One exception: a
 * NaN with a payload other than the default one may come out differently,
 * because which of two NaN operands an operation keeps depends on the
 * compiler's operand order, in ggml as here.  A block holding NaN or
 * infinity decodes to garbage (NaN, 0, or the infinity) in either case;
 * the other blocks are untouched by it.
 *
 * No I/O, no allocation, no global state: every function may run on many
 * threads at once on disjoint buffers.
 */
#ifndef QSCOPE_QUANT_GGML_H
#define QSCOPE_QUANT_GGML_H

#include <stddef.h>

#include "quant/dtype.h"

/*
 * Quantize n floats (n a multiple of the type's block) into dst exactly as
 * ggml's reference quantizer does, byte for byte.  dst holds
 * n / block * block_bytes bytes (dtype_get(t)).  Returns 0, or -1 when
 * qscope has no quantizer for t or n is not a multiple of the block.
 */
int ggml_quantize(enum dtype t, const float *src, void *dst, size_t n);

/* 1 if ggml_quantize() supports t. */
int ggml_can_quantize(enum dtype t);

/*
 * The same as ggml_quantize(), through a plain transcription of ggml's
 * reference code: slow, kept as the yardstick the fast paths are tested
 * against.  Same contract and return values.
 */
int ggml_quantize_ref(enum dtype t, const float *src, void *dst, size_t n);

/*
 * Decoders for the dtype table (dtype_decode_fn): nblocks whole blocks at
 * src, any alignment, to float32 at dst.  The IQ2/IQ3/IQ1 grid types and
 * NVFP4 have none.
 */
dtype_decode_fn ggml_decode_q4_0, ggml_decode_q4_1, ggml_decode_q5_0,
	ggml_decode_q5_1, ggml_decode_q8_0, ggml_decode_q8_1,
	ggml_decode_q2_k, ggml_decode_q3_k, ggml_decode_q4_k,
	ggml_decode_q5_k, ggml_decode_q6_k, ggml_decode_q8_k,
	ggml_decode_iq4_nl, ggml_decode_iq4_xs, ggml_decode_tq1_0,
	ggml_decode_tq2_0, ggml_decode_mxfp4, ggml_decode_q1_0,
	ggml_decode_q2_0;

#endif
