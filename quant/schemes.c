/*
 * quant/schemes.c - the table of quantization schemes, what they cost, where
 * they apply, and the streaming error of a scheme on a tensor.
 *
 * One row per scheme: its storage (bits per element code, side planes of
 * scales and zero points, per-tensor constants) gives its size for every
 * shape and the alignment of chunks; its kernels (quant/intq.c,
 * quant/floatq.c, quant/ggml.c) do the work.  Adding a scheme is one row
 * here plus its kernels.
 */
#include "quant/schemes.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/ggml.h"

/* The longest outer row a per-row scheme reads at once (values). */
#define MAX_ROW ((uint64_t)1 << 24)

/* ---- GGUF rows: ggml's blocks ---- */

static uint64_t gg_q(const struct scheme_ctx *c, uint64_t first,
		     const float *x, size_t n, unsigned char *dst)
{
	(void)first;
	/* n is whole blocks (the block divides the row length), and
	 * scheme_applies() checked that ggml has this quantizer. */
	ggml_quantize(c->s->ggml, x, dst, n);
	return 0;
}

static void gg_dq(const struct scheme_ctx *c, uint64_t first,
		  const unsigned char *src, size_t n, float *y)
{
	const struct dtype_info *di = dtype_get(c->s->ggml);

	(void)first;
	di->decode(src, y, n / di->block);
}

/* ---- the table ---- */

#define NONE { 0, 0 }
#define GGUF(name, t, block, bytes, desc)				\
	{ name, desc, 0, t, 0, { { block, 8 * (bytes) }, NONE }, 0,	\
	  NULL, gg_q, gg_dq }

const struct scheme schemes[] = {
	/* name, description, flags, ggml type,
	 * code bits, side planes { group (0: per outer row), bits },
	 * per-tensor bytes, prepass, quantize, dequantize */
	{ "f32", "float32, unchanged (the reference)",
	  SCHEME_CAST, DT_NONE, 32, { NONE, NONE }, 0,
	  NULL, fq_f32_q, fq_f32_dq },
	{ "tf32", "float32 rounded to TF32's 10 mantissa bits, stored as f32",
	  SCHEME_CAST, DT_NONE, 32, { NONE, NONE }, 0,
	  NULL, fq_tf32_q, fq_tf32_dq },
	{ "f16", "IEEE half precision, round to nearest even",
	  SCHEME_CAST, DT_NONE, 16, { NONE, NONE }, 0,
	  NULL, fq_f16_q, fq_f16_dq },
	{ "bf16", "bfloat16, round to nearest even",
	  SCHEME_CAST, DT_NONE, 16, { NONE, NONE }, 0,
	  NULL, fq_bf16_q, fq_bf16_dq },
	{ "fp8-e4m3", "FP8 E4M3FN, per-tensor f32 scale absmax/448, saturating",
	  0, DT_NONE, 8, { NONE, NONE }, 4,
	  fq_pre_absmax, fq_e4m3_q, fq_e4m3_dq },
	{ "fp8-e5m2", "FP8 E5M2, per-tensor f32 scale absmax/57344, saturating",
	  0, DT_NONE, 8, { NONE, NONE }, 4,
	  fq_pre_absmax, fq_e5m2_q, fq_e5m2_dq },
	{ "int8", "int8 symmetric, f32 scale per row (absmax/127)",
	  0, DT_NONE, 8, { { 0, 32 }, NONE }, 0,
	  NULL, iq_int8_q, iq_int8_dq },
	{ "int8-tensor",
	  "int8 symmetric, one f32 scale per tensor (absmax/127)",
	  0, DT_NONE, 8, { NONE, NONE }, 4,
	  fq_pre_absmax, iq_int8t_q, iq_int8t_dq },
	{ "int4-g128", "int4 symmetric, groups of 128, f16 scale absmax/7",
	  0, DT_NONE, 4, { { 128, 16 }, NONE }, 0,
	  NULL, iq_int4_q, iq_int4_dq },
	{ "int4-g128-asym",
	  "uint4 asymmetric, groups of 128, f16 scale and 4-bit zero point",
	  0, DT_NONE, 4, { { 128, 16 }, { 128, 4 } }, 0,
	  NULL, iq_int4a_q, iq_int4a_dq },
	{ "nf4", "bitsandbytes NF4, blocks of 64, f32 absmax",
	  SCHEME_FLAT, DT_NONE, 4, { { 64, 32 }, NONE }, 0,
	  NULL, fq_nf4_q, fq_nf4_dq },
	{ "nf4-dq",
	  "bitsandbytes NF4, absmax double-quantized to 8 bits (QLoRA)",
	  SCHEME_FLAT, DT_NONE, 4, { { 64, 8 }, { 64 * 256, 32 } }, 4,
	  fq_pre_nf4dq, fq_nf4dq_q, fq_nf4dq_dq },
	{ "fp4", "bitsandbytes FP4, blocks of 64, f32 absmax",
	  SCHEME_FLAT, DT_NONE, 4, { { 64, 32 }, NONE }, 0,
	  NULL, fq_fp4_q, fq_fp4_dq },
	{ "mxfp4", "OCP MXFP4: E2M1 in blocks of 32, shared E8M0 scale",
	  0, DT_NONE, 4, { { 32, 8 }, NONE }, 0,
	  NULL, fq_mxfp4_q, fq_mxfp4_dq },
	GGUF("q8_0", DT_Q8_0, 32, 34,
	     "GGUF Q8_0: blocks of 32, int8 and an f16 scale"),
	GGUF("q4_0", DT_Q4_0, 32, 18,
	     "GGUF Q4_0: blocks of 32, 4-bit and an f16 scale"),
	GGUF("q4_1", DT_Q4_1, 32, 20,
	     "GGUF Q4_1: blocks of 32, 4-bit, f16 scale and min"),
	GGUF("q5_0", DT_Q5_0, 32, 22,
	     "GGUF Q5_0: blocks of 32, 5-bit and an f16 scale"),
	GGUF("q5_1", DT_Q5_1, 32, 24,
	     "GGUF Q5_1: blocks of 32, 5-bit, f16 scale and min"),
	GGUF("q2_k", DT_Q2_K, 256, 84,
	     "GGUF Q2_K: blocks of 256, 2-bit, 4-bit scales and mins"),
	GGUF("q3_k", DT_Q3_K, 256, 110,
	     "GGUF Q3_K: blocks of 256, 3-bit, 6-bit scales"),
	GGUF("q4_k", DT_Q4_K, 256, 144,
	     "GGUF Q4_K: blocks of 256, 4-bit, 6-bit scales and mins"),
	GGUF("q5_k", DT_Q5_K, 256, 176,
	     "GGUF Q5_K: blocks of 256, 5-bit, 6-bit scales and mins"),
	GGUF("q6_k", DT_Q6_K, 256, 210,
	     "GGUF Q6_K: blocks of 256, 6-bit, 8-bit scales"),
	{ "ternary", "BitNet b1.58: {-1, 0, 1} times the tensor's mean |x|",
	  0, DT_NONE, 2, { NONE, NONE }, 4,
	  fq_pre_absmean, fq_ternary_q, fq_ternary_dq },
	{ "binary", "sign(x) times the row's mean |x|, 1 bit",
	  0, DT_NONE, 1, { { 0, 32 }, NONE }, 0,
	  NULL, fq_binary_q, fq_binary_dq },
};

const size_t nschemes = sizeof(schemes) / sizeof(schemes[0]);

const struct scheme *scheme_find(const char *name)
{
	for (size_t i = 0; name && i < nschemes; i++)
		if (strcmp(schemes[i].name, name) == 0)
			return &schemes[i];
	return NULL;
}

/* ---- geometry ---- */

static uint64_t shape_params(const struct scheme_shape *sh)
{
	uint64_t p = 1;

	for (int i = 0; i < sh->ndim; i++)
		p *= sh->dim[i];
	return p;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static uint64_t lcm(uint64_t a, uint64_t b)
{
	return a / gcd(a, b) * b;
}

void scheme_ctx_init(struct scheme_ctx *c, const struct scheme *s,
		     const struct scheme_shape *shape)
{
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->shape = *shape;
	c->params = shape_params(shape);
	c->cols = shape->ndim ? shape->dim[shape->ndim - 1] : 1;
	c->row = shape->ndim && shape->dim[0] ? c->params / shape->dim[0] :
						c->params;
}

void scheme_pre_init(struct scheme_pre *p)
{
	memset(p, 0, sizeof(*p));
}

void scheme_pre_merge(struct scheme_pre *into, const struct scheme_pre *from)
{
	into->sum += from->sum;
	into->n += from->n;
	if (from->absmax > into->absmax)
		into->absmax = from->absmax;
}

void scheme_prepared(struct scheme_ctx *c, const struct scheme_pre *p)
{
	c->absmax = p->absmax;
	c->mean = p->n ? (float)(p->sum / (double)p->n) : 0.0f;
}

/* Entries of plane pl for n elements (n whole rows for per-row planes). */
static uint64_t plane_groups(const struct scheme_ctx *c,
			     const struct scheme_plane *pl, uint64_t n)
{
	if (pl->group)
		return ceil_div(n, pl->group);
	return c->row ? ceil_div(n, c->row) : 0;
}

static uint64_t layout_bytes(const struct scheme_ctx *c, uint64_t n, int k)
{
	const struct scheme *s = c->s;
	uint64_t off = ceil_div(n * s->code_bits, 8);

	for (int i = 0; i < k - 1 && i < 2; i++)
		if (s->side[i].bits)
			off += ceil_div(plane_groups(c, &s->side[i], n) *
					s->side[i].bits, 8);
	return k == 0 ? 0 : off;
}

size_t scheme_plane_offset(const struct scheme_ctx *c, size_t n, int k)
{
	return (size_t)layout_bytes(c, n, k);
}

size_t scheme_chunk_bytes(const struct scheme_ctx *c, size_t n)
{
	return (size_t)layout_bytes(c, n, 3);
}

uint64_t scheme_bytes(const struct scheme *s, const struct scheme_shape *sh)
{
	struct scheme_ctx c;

	scheme_ctx_init(&c, s, sh);
	return layout_bytes(&c, c.params, 3) + s->tensor_bytes;
}

double scheme_bits(const struct scheme *s, const struct scheme_shape *sh)
{
	uint64_t p = shape_params(sh);

	return p ? 8.0 * (double)scheme_bytes(s, sh) / (double)p : 0.0;
}

uint64_t scheme_align(const struct scheme_ctx *c)
{
	const struct scheme *s = c->s;
	uint64_t a = 1;

	if (s->code_bits && s->code_bits < 8)
		a = 8 / gcd(s->code_bits, 8);
	for (int i = 0; i < 2; i++) {
		const struct scheme_plane *pl = &s->side[i];
		uint64_t g = pl->group ? pl->group : c->row;

		if (!pl->bits || !g)
			continue;
		if (pl->bits % 8)
			g *= 8 / gcd(pl->bits, 8);
		a = lcm(a, g);
	}
	return a;
}

/* ---- where a scheme applies ---- */

const char *scheme_applies(const struct scheme *s,
			   const struct scheme_shape *shape)
{
	static _Thread_local char why[96];
	struct scheme_ctx c;
	unsigned block = s->side[0].bits ? s->side[0].group : 0;

	if (shape->ndim < 0 || shape->ndim > SCHEME_MAX_DIMS)
		return "bad shape";
	if (s->flags & SCHEME_CAST)
		return NULL;
	if (shape->ndim == 0)
		return "scalar kept";
	if (shape->ndim == 1)
		return "1-D tensor kept";
	scheme_ctx_init(&c, s, shape);
	if (c.params == 0)
		return "empty tensor";
	if (s->ggml != DT_NONE && !ggml_can_quantize(s->ggml))
		return "no quantizer for this GGUF type";
	if (!(s->flags & SCHEME_FLAT) && block > 1 && c.cols % block) {
		snprintf(why, sizeof(why),
			 "row length %llu is not a multiple of %u",
			 (unsigned long long)c.cols, block);
		return why;
	}
	if (scheme_align(&c) > MAX_ROW) {
		snprintf(why, sizeof(why),
			 "outer row of %llu values is too long for per-row scales",
			 (unsigned long long)c.row);
		return why;
	}
	return NULL;
}

const char *scheme_applies_to(const struct scheme *s, enum dtype stored,
			      const struct scheme_shape *shape)
{
	switch (stored) {
	case DT_I64: case DT_I32: case DT_I16: case DT_I8:
	case DT_U64: case DT_U32: case DT_U16: case DT_U8:
		return "integer tensor kept";
	case DT_BOOL:
		return "boolean tensor kept";
	default:
		break;
	}
	if (!dtype_get(stored)->decode)
		return "values of this dtype cannot be decoded";
	return scheme_applies(s, shape);
}

/* ---- the error, streamed over chunks and threads ---- */

/* Values per piece: a chunk is read and measured this many at a time, so
 * that values, reconstruction and codes stay in the first caches. */
#define PIECE 8192

size_t scheme_piece(const struct scheme_ctx *c)
{
	uint64_t a = scheme_align(c);

	return (size_t)(a >= PIECE ? a : PIECE / a * a);
}

struct job {
	const struct scheme *s;
	const struct scheme_ctx *c;
	chunk_read_fn *read;
	void *arg;
	size_t piece;
	struct scheme_pre *pre;		/* per chunk (pass 1) */
	struct err_acc *acc;		/* per chunk (pass 2) */
};

/* Scratch per thread: x and y of a piece, then its packed bytes. */
static size_t scratch_bytes(const struct job *j)
{
	return 2 * j->piece * sizeof(float) +
	       scheme_chunk_bytes(j->c, j->piece) + 64;
}

static int pre_work(void *arg, const struct compute_chunk *ch)
{
	struct job *j = arg;
	float *x = ch->scratch;
	struct scheme_pre p;

	scheme_pre_init(&p);
	for (size_t off = 0; off < ch->n; off += j->piece) {
		size_t n = ch->n - off < j->piece ? ch->n - off : j->piece;

		if (j->read(j->arg, ch->first + off, n, x))
			return -1;
		j->s->prepass(j->c, &p, ch->first + off, x, n);
	}
	/* one store: neighbouring slots belong to other threads */
	j->pre[ch->index] = p;
	return 0;
}

static int err_work(void *arg, const struct compute_chunk *ch)
{
	struct job *j = arg;
	float *x = ch->scratch, *y = x + j->piece;
	unsigned char *q = (unsigned char *)(y + j->piece);
	struct err_acc a;

	err_acc_init(&a);
	for (size_t off = 0; off < ch->n; off += j->piece) {
		size_t n = ch->n - off < j->piece ? ch->n - off : j->piece;
		uint64_t first = ch->first + off;

		if (j->read(j->arg, first, n, x))
			return -1;
		a.clipped += j->s->quantize(j->c, first, x, n, q);
		j->s->dequantize(j->c, first, q, n, y);
		err_acc_add(&a, x, y, n);
	}
	j->acc[ch->index] = a;
	return 0;
}

/* Progress of one of two passes, scaled into half of the caller's. */
struct half {
	const struct compute_ctl *ctl;
	double base;
};

static void half_progress(void *arg, double done)
{
	const struct half *h = arg;

	h->ctl->progress(h->ctl->arg, h->base + done / 2);
}

int scheme_error(const struct scheme *s, const struct scheme_shape *shape,
		 chunk_read_fn *read, void *arg, const struct compute_ctl *ctl,
		 struct err_acc *acc)
{
	struct scheme_ctx c;
	struct compute_job cj;
	struct compute_ctl pc;
	struct half h;
	struct job j;
	uint64_t nchunks;
	int rc;

	err_acc_init(acc);
	if (scheme_applies(s, shape))
		return -2;
	scheme_ctx_init(&c, s, shape);
	memset(&j, 0, sizeof(j));
	j.s = s;
	j.c = &c;
	j.read = read;
	j.arg = arg;
	j.piece = scheme_piece(&c);
	memset(&cj, 0, sizeof(cj));
	cj.count = c.params;
	cj.align = (size_t)scheme_align(&c);
	cj.scratch = scratch_bytes(&j);
	cj.arg = &j;
	nchunks = compute_nchunks(&cj);
	if (nchunks > SIZE_MAX / sizeof(struct err_acc))
		return -1;

	/* With two passes, each reports half of the progress. */
	if (ctl && ctl->progress && s->prepass) {
		pc = *ctl;
		pc.progress = half_progress;
		pc.arg = &h;
		h.ctl = ctl;
		h.base = 0;
		ctl = &pc;
	}
	if (s->prepass) {
		struct scheme_pre p;

		j.pre = calloc((size_t)nchunks, sizeof(*j.pre));
		if (!j.pre)
			return -1;
		cj.fn = pre_work;
		rc = compute_run(&cj, ctl);
		scheme_pre_init(&p);
		for (uint64_t i = 0; i < nchunks && !rc; i++)
			scheme_pre_merge(&p, &j.pre[i]);
		free(j.pre);
		if (rc)
			return rc;
		scheme_prepared(&c, &p);
		h.base = 0.5;
	}
	j.acc = calloc((size_t)nchunks, sizeof(*j.acc));
	if (!j.acc)
		return -1;
	cj.fn = err_work;
	rc = compute_run(&cj, ctl);
	for (uint64_t i = 0; i < nchunks && !rc; i++)
		err_acc_merge(acc, &j.acc[i]);
	free(j.acc);
	return rc;
}

/* The rows of a sample: row i is source row i * rows / nrows. */
struct sample {
	chunk_read_fn *read;
	void *arg;
	uint64_t rows, nrows, rowlen;
};

static int sample_read(void *ctx, uint64_t first, size_t n, float *out)
{
	const struct sample *sm = ctx;

	while (n) {
		uint64_t r = first / sm->rowlen, off = first % sm->rowlen;
		uint64_t src = r * sm->rows / sm->nrows;
		size_t k = sm->rowlen - off < n ? (size_t)(sm->rowlen - off) : n;

		if (sm->read(sm->arg, src * sm->rowlen + off, k, out))
			return -1;
		first += k;
		out += k;
		n -= k;
	}
	return 0;
}

int scheme_error_sampled(const struct scheme *s,
			 const struct scheme_shape *shape,
			 chunk_read_fn *read, void *arg,
			 const struct compute_ctl *ctl, uint64_t max_values,
			 struct err_acc *acc, uint64_t *measured)
{
	struct scheme_shape sub = *shape;
	struct sample sm;
	uint64_t params = shape_params(shape);

	if (measured)
		*measured = params;
	if (shape->ndim < 2 || params <= max_values || !shape->dim[0])
		return scheme_error(s, shape, read, arg, ctl, acc);
	sm.read = read;
	sm.arg = arg;
	sm.rows = shape->dim[0];
	sm.rowlen = params / sm.rows;
	sm.nrows = max_values / sm.rowlen;
	if (sm.nrows < 1)
		sm.nrows = 1;
	if (sm.nrows >= sm.rows)
		return scheme_error(s, shape, read, arg, ctl, acc);
	sub.dim[0] = sm.nrows;
	if (measured)
		*measured = sm.nrows * sm.rowlen;
	return scheme_error(s, &sub, sample_read, &sm, ctl, acc);
}
