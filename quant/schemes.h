/*
 * quant/schemes.h - quantization schemes: one table, one row per scheme.
 *
 * A scheme turns float32 values into the bytes a number format stores
 * (quantize) and back (dequantize), and says what that costs (bytes and
 * bits per weight for a shape) and where it applies.  The table is in
 * quant/schemes.c; the kernels behind it in quant/intq.c (integer groups),
 * quant/floatq.c (casts, small floats, codebooks) and quant/ggml.c (GGUF
 * blocks).  No I/O, no curses.
 *
 * How a tensor is quantized, a chunk at a time (scheme_error() does this
 * over a reader callback, on several threads):
 *
 *	struct scheme_ctx c;
 *	scheme_ctx_init(&c, s, &shape);
 *	if (s->prepass) {			per-tensor statistics first
 *		struct scheme_pre p;
 *		scheme_pre_init(&p);
 *		for each chunk:  s->prepass(&c, &p, first, x, n);
 *		scheme_prepared(&c, &p);
 *	}
 *	for each chunk:  clipped += s->quantize(&c, first, x, n, packed);
 *			 s->dequantize(&c, first, packed, n, y);
 *
 * Chunks start at multiples of scheme_align(&c) elements and hold a
 * multiple of it, except the last, which ends where the tensor ends.  Once
 * the context is prepared it is read-only: chunks may be quantized in any
 * order, from several threads at once.
 *
 * Packed bytes of a chunk: the element codes (as the format's weight tensor
 * stores them), then the side data of the same elements, plane after plane
 * (scales, zero points, block absmax values), each in element order.
 * Per-tensor constants (the FP8 or ternary scale, nf4-dq's offset) live in
 * the context.  A writer that stores codes and each side plane as separate
 * tensors splits every chunk at scheme_plane_offset().  GGUF rows store
 * whole blocks, scales and codes interleaved, exactly as a .gguf file does.
 * Each row's layout is documented next to its kernels.
 *
 * Shapes: dim[0] is the outermost dimension.  A "row" for per-row scales
 * (int8, binary) is one index of the outermost dimension, params / dim[0]
 * values, read whole; blocks and groups run along the innermost dimension
 * (the "row length", dim[ndim-1]), which they must divide, except for the
 * bitsandbytes formats, which block the flattened tensor and allow a short
 * last block as bitsandbytes does.
 *
 * Non-finite inputs never crash anything.  Statistics (absmax, mean |x|,
 * min, max) are taken over finite values; an infinity saturates to the
 * largest code of its block (counted as clipped); a NaN becomes the NaN code
 * where the format has one (casts, FP8) and the code of zero elsewhere.
 * Error metrics ignore pairs whose original is not finite (quant/stats.h).
 */
#ifndef QSCOPE_QUANT_SCHEMES_H
#define QSCOPE_QUANT_SCHEMES_H

#include <stddef.h>
#include <stdint.h>

#include "quant/compute.h"
#include "quant/dtype.h"
#include "quant/stats.h"

#define SCHEME_MAX_DIMS 8

struct scheme_shape {
	int ndim;			/* 0 for a scalar */
	uint64_t dim[SCHEME_MAX_DIMS];	/* outermost first */
};

/* Per-tensor statistics from the first pass, over finite values; merged
 * by adding, so chunks may be measured in any order. */
struct scheme_pre {
	double sum;	/* sum |x| (ternary), or of block absmax (nf4-dq) */
	uint64_t n;	/* how many terms sum holds */
	float absmax;	/* max |x| (fp8, int8-tensor) */
};

struct scheme;

/* One tensor being quantized: its geometry, and what the prepass found. */
struct scheme_ctx {
	const struct scheme *s;
	struct scheme_shape shape;
	uint64_t params;	/* product of the shape (1 for a scalar) */
	uint64_t cols;		/* row length: innermost dimension */
	uint64_t row;		/* one outer row: params / dim[0] */
	float absmax;		/* prepass: max |x| */
	float mean;		/* prepass: sum / n as float32 (0 if no n) */
};

/* Side data: one entry of bits bits per group of elements (group 0: one
 * per outer row). */
struct scheme_plane {
	unsigned group;
	unsigned bits;
};

struct scheme {
	const char *name;	/* as the user types it: "int4-g128" */
	const char *desc;	/* one line */
	unsigned flags;		/* SCHEME_* below */
	enum dtype ggml;	/* GGUF rows: the block type; else DT_NONE */
	/* Storage, which gives bytes and bits per weight for any shape:
	 * code_bits per element, then up to two side planes, then
	 * tensor_bytes of per-tensor constants.  A GGUF row is one plane of
	 * whole blocks (group = block, bits = 8 * block bytes). */
	unsigned code_bits;
	struct scheme_plane side[2];
	unsigned tensor_bytes;
	/* First pass over a chunk; NULL when no per-tensor statistic is
	 * needed.  Adds to p. */
	void (*prepass)(const struct scheme_ctx *c, struct scheme_pre *p,
			uint64_t first, const float *x, size_t n);
	/* x[0..n), elements first.. of the tensor, into dst (packed chunk);
	 * returns how many finite values were saturated. */
	uint64_t (*quantize)(const struct scheme_ctx *c, uint64_t first,
			     const float *x, size_t n, unsigned char *dst);
	void (*dequantize)(const struct scheme_ctx *c, uint64_t first,
			   const unsigned char *src, size_t n, float *y);
};

enum {
	SCHEME_CAST = 1 << 0,	/* a plain cast: applies to any shape */
	SCHEME_FLAT = 1 << 1,	/* blocks over the flattened tensor, the
				 * last may be short (bitsandbytes) */
};

/* The table, in the order `qscope schemes` lists it. */
extern const struct scheme schemes[];
extern const size_t nschemes;

/* The row named name (exact); NULL if none. */
const struct scheme *scheme_find(const char *name);

/* NULL if s applies to this shape, else why not: "1-D tensor kept",
 * "row length 100 is not a multiple of 128", ...  (A reason with numbers
 * lives in a per-thread buffer that the next call overwrites: copy it to
 * keep it.) */
const char *scheme_applies(const struct scheme *s,
			   const struct scheme_shape *shape);

/* As scheme_applies(), and the stored dtype must hold float values:
 * integer and boolean tensors are kept, undecodable ones are refused. */
const char *scheme_applies_to(const struct scheme *s, enum dtype stored,
			      const struct scheme_shape *shape);

/* Bytes of the whole tensor after quantization: codes, scales, zero
 * points, per-tensor constants (code tables, fixed by the format, are not
 * counted). */
uint64_t scheme_bytes(const struct scheme *s, const struct scheme_shape *sh);
/* 8 * scheme_bytes / params. */
double scheme_bits(const struct scheme *s, const struct scheme_shape *sh);

/* Fill c for a tensor of this shape (prepass results zeroed). */
void scheme_ctx_init(struct scheme_ctx *c, const struct scheme *s,
		     const struct scheme_shape *shape);
void scheme_pre_init(struct scheme_pre *p);
void scheme_pre_merge(struct scheme_pre *into, const struct scheme_pre *from);
/* Copy the statistics of the whole tensor into the context. */
void scheme_prepared(struct scheme_ctx *c, const struct scheme_pre *p);

/* Elements a chunk must be a multiple of. */
uint64_t scheme_align(const struct scheme_ctx *c);
/* Offset in a packed chunk of n elements of part k: 0 the codes, 1 and 2
 * the side planes, 3 the end (the chunk's size in bytes). */
size_t scheme_plane_offset(const struct scheme_ctx *c, size_t n, int k);
size_t scheme_chunk_bytes(const struct scheme_ctx *c, size_t n);

/* ---- the error of a scheme on a tensor, streamed ---- */

/*
 * Quantize, dequantize and compare the tensor that read gives (elements
 * [0, params) of a tensor of this shape), through compute_run()
 * (quant/compute.h): chunks on ctl's threads, each done in pieces of about
 * 8 Ki values that stay in the cache, so memory is a few pieces per thread
 * whatever the tensor's size (but a whole outer row for per-row scales).
 * Schemes with a prepass read the tensor twice; progress then runs over
 * [0, 0.5] and [0.5, 1].  acc gets the error, clipped values included.
 * Chunks' results are merged in chunk order: the same bits for any number
 * of threads.  ctl may be NULL.  Returns 0; 1 when cancelled; -1 when the
 * reader failed (or threads or memory failed); -2 when s does not apply to
 * the shape.
 */
int scheme_error(const struct scheme *s, const struct scheme_shape *shape,
		 chunk_read_fn *read, void *arg, const struct compute_ctl *ctl,
		 struct err_acc *acc);

/*
 * scheme_error() on a deterministic sample of the tensor, for an estimate
 * at a fraction of the cost: whole outer rows, evenly spaced, about
 * max_values values in all (at least one row), quantized as a tensor of
 * those rows.  A tensor of one dimension, or not larger than max_values, is
 * taken whole.  acc holds the sample's sums: sse/sxx estimates the
 * tensor's relative error (and SQNR, cosine); counts and the largest error
 * are the sample's.  A per-tensor scale (fp8, ternary) comes from the
 * sample too, so an outlier outside it is missed.  *measured (may be
 * NULL) gets how many values were measured: all of them when the tensor
 * was taken whole.  Returns as scheme_error().
 */
int scheme_error_sampled(const struct scheme *s,
			 const struct scheme_shape *shape,
			 chunk_read_fn *read, void *arg,
			 const struct compute_ctl *ctl, uint64_t max_values,
			 struct err_acc *acc, uint64_t *measured);

/* Values a piece of scheme_error() holds for context c. */
size_t scheme_piece(const struct scheme_ctx *c);

/* ---- kernels (quant/intq.c, quant/floatq.c), for the table ---- */

#define SCHEME_KERNEL(k)						\
	uint64_t k##_q(const struct scheme_ctx *c, uint64_t first,	\
		       const float *x, size_t n, unsigned char *dst);	\
	void k##_dq(const struct scheme_ctx *c, uint64_t first,	\
		    const unsigned char *src, size_t n, float *y)

SCHEME_KERNEL(fq_f32);
SCHEME_KERNEL(fq_tf32);
SCHEME_KERNEL(fq_f16);
SCHEME_KERNEL(fq_bf16);
SCHEME_KERNEL(fq_e4m3);
SCHEME_KERNEL(fq_e5m2);
SCHEME_KERNEL(fq_nf4);
SCHEME_KERNEL(fq_nf4dq);
SCHEME_KERNEL(fq_fp4);
SCHEME_KERNEL(fq_mxfp4);
SCHEME_KERNEL(fq_ternary);
SCHEME_KERNEL(fq_binary);
SCHEME_KERNEL(iq_int8);
SCHEME_KERNEL(iq_int8t);
SCHEME_KERNEL(iq_int4);
SCHEME_KERNEL(iq_int4a);

void fq_pre_absmax(const struct scheme_ctx *c, struct scheme_pre *p,
		   uint64_t first, const float *x, size_t n);
void fq_pre_absmean(const struct scheme_ctx *c, struct scheme_pre *p,
		    uint64_t first, const float *x, size_t n);
void fq_pre_nf4dq(const struct scheme_ctx *c, struct scheme_pre *p,
		  uint64_t first, const float *x, size_t n);

/* The code tables, for tests and writers. */
extern const float fq_nf4_code[16];
extern const float fq_fp4_code[16];
extern const float fq_dynamic_code[256];	/* FORMATS.md Appendix A */

#endif
