/*
 * formats/safetensors_write.c - quantized models out as safetensors, and the
 * check of a written model against its input (formats/safetensors_write.h
 * has the layouts and the contracts).
 *
 * How: every input tensor becomes one or more output tensors ("parts"),
 * each fed from one plane of the scheme's packed chunks (quant/schemes.h:
 * codes, then side planes), from the input's bytes (kept tensors) or from
 * a small blob made beforehand (per-tensor scales, code tables, JSON).
 * The tensor is streamed a piece at a time over compute_run()'s threads,
 * cut exactly as scheme_error() cuts it, so per-tensor statistics have the
 * bits `qscope try` sees; each piece's planes go with pwrite() to their
 * place in the output (or, when verifying, are compared with the written
 * file's bytes).  Nothing grows with the tensor but the zero points of
 * int4-g128-asym, which are packed across rows and so are gathered whole
 * (one byte per 128 values).
 */
#include "formats/safetensors_write.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "formats/formats.h"
#include "formats/guard.h"
#include "formats/pages.h"
#include "quant/bytes.h"
#include "quant/compute.h"

/* Bytes of a kept tensor copied at a time. */
#define COPY_CHUNK ((uint64_t)4 << 20)

/* ---- layouts ---- */

enum layout {
	L_COPY,		/* kept: the input's bytes */
	L_CAST,		/* f32 tf32 f16 bf16: the packed chunk itself */
	L_FP8,		/* codes + NAME_scale */
	L_CT_INT,	/* compressed-tensors pack-quantized */
	L_CT_MX,	/* compressed-tensors mxfp4-pack-quantized */
	L_BNB,		/* bitsandbytes 4-bit */
	L_GGUF,		/* verify only: one GGUF tensor, the packed chunk */
};

enum feed {
	F_COPY,		/* input bytes */
	F_CHUNK,	/* the whole packed chunk */
	F_CODES,	/* plane 0 */
	F_SIDE1,	/* plane 1 */
	F_SIDE2,	/* plane 2 */
	F_INT8,		/* plane 0 as offset-binary bytes in int32 rows */
	F_ZEROS,	/* plane 2 repacked along rows (made at the end) */
	F_BLOB,		/* made beforehand */
};

static int is(const struct scheme *s, const char *name)
{
	return s && strcmp(s->name, name) == 0;
}

static enum layout layout_of(const struct scheme *s)
{
	if (!s)
		return L_COPY;
	if (s->flags & SCHEME_CAST)
		return L_CAST;
	if (is(s, "fp8-e4m3") || is(s, "fp8-e5m2"))
		return L_FP8;
	if (is(s, "int8") || is(s, "int8-tensor") || is(s, "int4-g128") ||
	    is(s, "int4-g128-asym"))
		return L_CT_INT;
	if (is(s, "mxfp4"))
		return L_CT_MX;
	if (is(s, "nf4") || is(s, "nf4-dq") || is(s, "fp4"))
		return L_BNB;
	return L_GGUF;		/* no safetensors layout */
}

const char *safetensors_layout(const struct scheme *s)
{
	if (layout_of(s) != L_GGUF)
		return NULL;
	if (s->ggml != DT_NONE)
		return "a GGUF block type has no safetensors layout; write GGUF";
	return "no safetensors layout that other tools read";
}

const char *safetensors_layout_for(const struct scheme *s,
				   const struct tensor *t)
{
	const char *why = safetensors_layout(s);

	if (why)
		return why;
	if (layout_of(s) == L_CT_MX && t->ndim != 2)
		return "mxfp4-pack-quantized holds 2-D tensors only";
	return NULL;
}

/* What element of the compressed-tensors int formats: bits per code. */
static unsigned ct_bits(const struct scheme *s)
{
	return s->code_bits;
}

/* ---- parts ---- */

struct part {
	char *name;
	enum dtype dtype;
	int ndim;
	uint64_t shape[MODEL_MAX_DIMS];
	uint64_t nbytes;
	enum feed feed;
	unsigned char *blob;	/* F_BLOB, F_ZEROS */
	size_t item;
	const struct tensor *from;	/* F_COPY: the stored tensor copied */
	int shard;
	uint64_t offset;	/* in its shard's data section */
	const struct tensor *out;	/* verifying: the written tensor */
};

struct item {
	const struct tensor *t;
	const struct scheme *s;
	enum layout layout;
	struct scheme_ctx c;
	uint64_t rows, cols;	/* the matrix the int formats see */
	size_t p_codes, p_side1, p_side2, p_zeros;	/* parts or NONE */
	unsigned char *zeros;	/* int4-g128-asym: a zero point per group */
	int shard;
};

#define NONE ((size_t)-1)

struct work {
	const struct model *m;
	struct item *items;
	size_t nitems;
	struct part *parts;
	size_t nparts, aparts;
	int gguf;		/* verify a GGUF output */
	/* output */
	int nshards;
	int *fds;
	uint64_t *data_start;	/* per shard: file offset of the data */
	uint64_t *data_len;
	/* verify */
	int verify;
	const struct model *out;
	uint64_t values, bytes;
	/* progress */
	uint64_t done, total;	/* done: updated atomically */
	write_progress_fn *cb;
	void *arg;
	volatile int cancel;
	/* first failure from any thread */
	pthread_mutex_t mu;
	int failed;
	struct err *e;
	const char *who;	/* out, for messages */
};

static void fail(struct work *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct work *w, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&w->mu);
	if (!w->failed) {
		w->failed = 1;
		va_start(ap, fmt);
		vsnprintf(w->e->msg, sizeof(w->e->msg), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&w->mu);
	__atomic_store_n(&w->cancel, 1, __ATOMIC_RELAXED);
}

static size_t add_part(struct work *w, size_t item, const char *name,
		       const char *suffix, enum dtype d, int ndim,
		       const uint64_t *shape, enum feed feed)
{
	struct part *p;
	const struct dtype_info *di = dtype_get(d);
	uint64_t n = 1;
	size_t len = strlen(name) + strlen(suffix) + 1;

	if (w->nparts == w->aparts) {
		w->aparts = w->aparts ? 2 * w->aparts : 64;
		w->parts = xrealloc(w->parts, w->aparts * sizeof(*w->parts));
	}
	p = &w->parts[w->nparts];
	memset(p, 0, sizeof(*p));
	p->name = xmalloc(len);
	snprintf(p->name, len, "%s%s", name, suffix);
	p->dtype = d;
	p->ndim = ndim;
	for (int i = 0; i < ndim; i++) {
		p->shape[i] = shape[i];
		n *= shape[i];
	}
	p->nbytes = n / di->block * di->block_bytes;
	p->feed = feed;
	p->item = item;
	p->shard = w->items[item].shard;
	return w->nparts++;
}

static void set_blob(struct part *p, const void *b, size_t n)
{
	p->blob = xmalloc(n ? n : 1);
	memcpy(p->blob, b, n);
	p->nbytes = n;
}

/* ---- per-tensor statistics, as scheme_error() takes them ---- */

struct pre_job {
	const struct scheme_ctx *c;
	struct tensor_reader *r;
	size_t piece;
	struct scheme_pre *pre;
};

static int pre_work(void *arg, const struct compute_chunk *ch)
{
	struct pre_job *j = arg;
	float *x = ch->scratch;
	struct scheme_pre p;

	scheme_pre_init(&p);
	for (size_t off = 0; off < ch->n; off += j->piece) {
		size_t n = ch->n - off < j->piece ? ch->n - off : j->piece;

		if (tensor_reader_read(j->r, ch->first + off, n, x))
			return -1;
		j->c->s->prepass(j->c, &p, ch->first + off, x, n);
	}
	j->pre[ch->index] = p;
	return 0;
}

static int prepare(struct work *w, struct item *it)
{
	struct scheme_shape sh;
	struct tensor_reader r;
	struct compute_job cj;
	struct pre_job j;
	struct scheme_pre p;
	uint64_t nch;
	int rc;

	sh.ndim = it->t->ndim;
	for (int i = 0; i < it->t->ndim; i++)
		sh.dim[i] = it->t->shape[i];
	scheme_ctx_init(&it->c, it->s, &sh);
	if (!it->s->prepass)
		return 0;
	memset(&cj, 0, sizeof(cj));
	memset(&j, 0, sizeof(j));
	j.c = &it->c;
	j.piece = scheme_piece(&it->c);
	cj.count = it->c.params;
	cj.align = (size_t)scheme_align(&it->c);
	cj.scratch = j.piece * sizeof(float) + 64;
	cj.fn = pre_work;
	cj.arg = &j;
	nch = compute_nchunks(&cj);
	j.pre = xcalloc((size_t)nch + 1, sizeof(*j.pre));
	tensor_reader_init(&r, w->m, it->t);
	j.r = &r;
	rc = compute_run(&cj, NULL);
	if (rc && r.failed)
		*w->e = r.e;
	else if (rc)
		err_set(w->e, "'%s': tensor '%s': cannot be read", w->m->path,
			it->t->name);
	tensor_reader_release(&r);
	scheme_pre_init(&p);
	for (uint64_t i = 0; i < nch && !rc; i++)
		scheme_pre_merge(&p, &j.pre[i]);
	free(j.pre);
	if (rc)
		return -1;
	scheme_prepared(&it->c, &p);
	return 0;
}

/* A per-tensor constant as the scheme's dequantize gives it: the value of
 * a code that means 1.0 (so the scale is whatever dequantize multiplies
 * by, with no formula repeated here). */
static float scale_of(const struct item *it)
{
	unsigned char q[64];
	float y[8];

	memset(q, 0, sizeof(q));
	if (is(it->s, "fp8-e4m3"))
		q[0] = 0x38;		/* 1.0 in E4M3 */
	else if (is(it->s, "fp8-e5m2"))
		q[0] = 0x3c;		/* 1.0 in E5M2 */
	else
		q[0] = 1;		/* int8-tensor: code 1 */
	it->s->dequantize(&it->c, 0, q, 1, y);
	return y[0];
}

/* nf4-dq's offset (the mean of the block absmax values): a block whose
 * dynamic-code index is 127 (0.0) and whose code is 15 (1.0) dequantizes
 * to exactly that. */
static float dq_offset(const struct item *it)
{
	struct scheme_ctx c = it->c;
	unsigned char q[64];
	float y[64];
	size_t off1, off2;

	/* one block of 64 values in a tensor of just that block */
	c.params = 64;
	memset(q, 0xff, sizeof(q));
	off1 = scheme_plane_offset(&c, 64, 1);
	off2 = scheme_plane_offset(&c, 64, 2);
	q[off1] = 127;
	memset(q + off2, 0, 4);
	it->s->dequantize(&c, 0, q, 64, y);
	return y[0];
}

static const char *torch_dtype(enum dtype d)
{
	switch (d) {
	case DT_F16:
		return "float16";
	case DT_BF16:
		return "bfloat16";
	default:
		return "float32";
	}
}

static void put_f32s(unsigned char *b, const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u;

		memcpy(&u, &v[i], 4);
		store_le32(b + 4 * i, u);
	}
}

/* The blobs of item i's parts, once its context is prepared. */
static void make_blobs(struct work *w, size_t i)
{
	struct item *it = &w->items[i];

	for (size_t k = 0; k < w->nparts; k++) {
		struct part *p = &w->parts[k];
		const char *suffix;
		size_t nl;

		if (p->item != i || p->feed != F_BLOB)
			continue;
		nl = strlen(it->t->name);
		suffix = p->name + nl;
		if (strcmp(suffix, "_scale") == 0) {
			unsigned char b[4];
			float s = scale_of(it);

			put_f32s(b, &s, 1);
			set_blob(p, b, 4);
		} else if (strcmp(suffix, "_shape") == 0) {
			unsigned char b[8 * MODEL_MAX_DIMS];

			for (int d = 0; d < it->t->ndim; d++) {
				store_le32(b + 8 * d, (uint32_t)it->t->shape[d]);
				store_le32(b + 8 * d + 4,
					   (uint32_t)(it->t->shape[d] >> 32));
			}
			set_blob(p, b, 8 * (size_t)it->t->ndim);
		} else if (strcmp(suffix, ".quant_map") == 0) {
			unsigned char b[64];

			put_f32s(b, is(it->s, "fp4") ? fq_fp4_code :
						       fq_nf4_code, 16);
			set_blob(p, b, 64);
		} else if (strcmp(suffix, ".nested_quant_map") == 0) {
			unsigned char b[1024];

			put_f32s(b, fq_dynamic_code, 256);
			set_blob(p, b, 1024);
		} else {	/* .quant_state.bitsandbytes__* */
			json_t *j = json_object(), *sh = json_array();
			char *s;

			json_object_set_new(j, "quant_type", json_string(
				is(it->s, "fp4") ? "fp4" : "nf4"));
			json_object_set_new(j, "blocksize", json_integer(64));
			json_object_set_new(j, "dtype", json_string(
				torch_dtype(it->t->dtype)));
			for (int d = 0; d < it->t->ndim; d++)
				json_array_append_new(sh, json_integer(
					(json_int_t)it->t->shape[d]));
			json_object_set_new(j, "shape", sh);
			if (is(it->s, "nf4-dq")) {
				json_object_set_new(j, "nested_blocksize",
						    json_integer(256));
				json_object_set_new(j, "nested_dtype",
						    json_string("float32"));
				json_object_set_new(j, "nested_offset",
					json_real((double)dq_offset(it)));
			}
			s = json_dumps(j, JSON_INDENT(0) | JSON_PRESERVE_ORDER);
			if (!s) {
				fputs("qscope: out of memory\n", stderr);
				abort();
			}
			set_blob(p, s, strlen(s));
			p->shape[0] = p->nbytes;
			free(s);
			json_decref(j);
		}
	}
}

/* The parts of every tensor; -1 with e filled when one cannot be written
 * (or, verifying, when the output lacks one). */
static int make_parts(struct work *w, const struct scheme *const *schemes)
{
	const struct model *m = w->m;

	w->items = xcalloc(m->ntensors + 1, sizeof(*w->items));
	w->nitems = m->ntensors;
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];
		struct item *it = &w->items[i];
		const struct scheme *s = schemes ? schemes[i] : NULL;
		const char *why;
		uint64_t sh[MODEL_MAX_DIMS];
		uint64_t one = 1;

		it->t = t;
		it->s = s;
		it->p_codes = it->p_side1 = it->p_side2 = it->p_zeros = NONE;
		it->layout = layout_of(s);
		if (s && w->gguf)
			it->layout = L_GGUF;
		if (s && !w->gguf && (why = safetensors_layout_for(s, t))) {
			err_set(w->e, "'%s': tensor '%s': %s: %s", w->who,
				t->name, s->name, why);
			return -1;
		}
		for (size_t k = 0; !s && !w->gguf && k < (t->layout ?
							  t->nparts : 1); k++) {
			const struct tensor *pt = t->layout ? &t->parts[k] : t;

			if (dtype_get(pt->dtype)->safetensors)
				continue;
			err_set(w->e, "'%s': tensor '%s' is %s, which safetensors cannot hold; give it a scheme (e.g. bf16) in the plan",
				w->who, pt->name, dtype_get(pt->dtype)->name);
			return -1;
		}
		if (s && !dtype_get(t->dtype)->decode) {
			err_set(w->e, "'%s': tensor '%s': values of %s cannot be decoded",
				m->path, t->name, dtype_get(t->dtype)->name);
			return -1;
		}
		if (s) {
			struct scheme_shape ss;

			ss.ndim = t->ndim;
			for (int d = 0; d < t->ndim; d++)
				ss.dim[d] = t->shape[d];
			if ((why = scheme_applies(s, &ss))) {
				err_set(w->e, "'%s': tensor '%s': %s does not apply: %s",
					w->who, t->name, s->name, why);
				return -1;
			}
			scheme_ctx_init(&it->c, s, &ss);
		}
		switch (it->layout) {
		case L_COPY:
			/* a logical tensor (formats/layouts.h) is kept as
			 * the stored tensors it was read from */
			for (size_t k = 0; k < (t->layout ? t->nparts : 1);
			     k++) {
				const struct tensor *pt = t->layout ?
							  &t->parts[k] : t;
				size_t pi = add_part(w, i, pt->name, "",
						     pt->dtype, pt->ndim,
						     pt->shape, F_COPY);

				w->parts[pi].from = pt;
				if (!k)
					it->p_codes = pi;
			}
			break;
		case L_GGUF: {
			struct part *p;

			it->p_codes = add_part(w, i, t->name, "", t->dtype,
					       t->ndim, t->shape, F_CHUNK);
			p = &w->parts[it->p_codes];
			p->dtype = s->ggml != DT_NONE ? s->ggml :
				   is(s, "f16") ? DT_F16 :
				   is(s, "bf16") ? DT_BF16 : DT_F32;
			p->nbytes = scheme_bytes(s, &it->c.shape);
			break;
		}
		case L_CAST:
			it->p_codes = add_part(w, i, t->name, "",
				is(s, "f16") ? DT_F16 : is(s, "bf16") ? DT_BF16 :
				DT_F32, t->ndim, t->shape, F_CHUNK);
			break;
		case L_FP8:
			it->p_codes = add_part(w, i, t->name, "",
				is(s, "fp8-e4m3") ? DT_F8_E4M3 : DT_F8_E5M2,
				t->ndim, t->shape, F_CODES);
			add_part(w, i, t->name, "_scale", DT_F32, 1, &one,
				 F_BLOB);
			break;
		case L_CT_INT: {
			unsigned b = ct_bits(s), pf = 32 / b;
			int per_row = is(s, "int8") || is(s, "int8-tensor");

			it->cols = per_row ? it->c.row : it->c.cols;
			it->rows = it->c.params / it->cols;
			sh[0] = it->rows;
			sh[1] = (it->cols + pf - 1) / pf;
			it->p_codes = add_part(w, i, t->name, "_packed", DT_I32,
					       2, sh, b == 8 ? F_INT8 : F_CODES);
			if (is(s, "int8-tensor")) {
				add_part(w, i, t->name, "_scale", DT_F32, 1,
					 &one, F_BLOB);
			} else if (is(s, "int8")) {
				sh[1] = 1;
				it->p_side1 = add_part(w, i, t->name, "_scale",
						       DT_F32, 2, sh, F_SIDE1);
			} else {
				sh[1] = it->cols / 128;
				it->p_side1 = add_part(w, i, t->name, "_scale",
						       DT_F16, 2, sh, F_SIDE1);
			}
			if (is(s, "int4-g128-asym")) {
				sh[0] = (it->rows + 7) / 8;
				sh[1] = it->cols / 128;
				it->p_zeros = add_part(w, i, t->name,
						       "_zero_point", DT_I32, 2,
						       sh, F_ZEROS);
				it->zeros = xcalloc(it->rows * sh[1] + 1, 1);
			}
			sh[0] = (uint64_t)t->ndim;
			add_part(w, i, t->name, "_shape", DT_I64, 1, sh,
				 F_BLOB);
			break;
		}
		case L_CT_MX:
			it->cols = it->c.cols;
			it->rows = it->c.params / it->cols;
			sh[0] = it->rows;
			sh[1] = it->cols / 2;
			it->p_codes = add_part(w, i, t->name, "_packed", DT_U8,
					       2, sh, F_CODES);
			sh[1] = it->cols / 32;
			it->p_side1 = add_part(w, i, t->name, "_scale", DT_U8,
					       2, sh, F_SIDE1);
			break;
		case L_BNB: {
			uint64_t nb = (it->c.params + 63) / 64;
			int dq = is(s, "nf4-dq");

			sh[0] = (it->c.params + 1) / 2;
			sh[1] = 1;
			it->p_codes = add_part(w, i, t->name, "", DT_U8, 2, sh,
					       F_CODES);
			it->p_side1 = add_part(w, i, t->name, ".absmax",
					       dq ? DT_U8 : DT_F32, 1, &nb,
					       F_SIDE1);
			sh[0] = 16;
			add_part(w, i, t->name, ".quant_map", DT_F32, 1, sh,
				 F_BLOB);
			if (dq) {
				sh[0] = (nb + 255) / 256;
				it->p_side2 = add_part(w, i, t->name,
						       ".nested_absmax", DT_F32,
						       1, sh, F_SIDE2);
				sh[0] = 256;
				add_part(w, i, t->name, ".nested_quant_map",
					 DT_F32, 1, sh, F_BLOB);
			}
			sh[0] = 0;	/* set with the JSON */
			add_part(w, i, t->name, is(s, "fp4") ?
				 ".quant_state.bitsandbytes__fp4" :
				 ".quant_state.bitsandbytes__nf4", DT_U8, 1, sh,
				 F_BLOB);
			break;
		}
		}
	}
	return 0;
}

/* Two parts of one name: the output could not say which is which. */
static int check_names(struct work *w)
{
	struct model names;
	struct err e2;

	memset(&names, 0, sizeof(names));
	for (size_t k = 0; k < w->nparts; k++)
		if (!model_add_tensor(&names, w->parts[k].name, &e2)) {
			err_set(w->e, "'%s': two output tensors would be named '%s'; rename or keep one of them",
				w->who, w->parts[k].name);
			model_release(&names);
			return -1;
		}
	model_release(&names);
	return 0;
}

/* ---- moving bytes: to the output, or compared with it ---- */

static void emit(struct work *w, size_t pi, uint64_t off, const void *src,
		 uint64_t n)
{
	const struct part *p = &w->parts[pi];

	if (!n || w->failed)
		return;
	if (off + n > p->nbytes || off + n < off) {
		fail(w, "'%s': tensor '%s': internal error: bytes %llu..%llu past its %llu",
		     w->who, p->name, (unsigned long long)off,
		     (unsigned long long)(off + n),
		     (unsigned long long)p->nbytes);
		return;
	}
	if (w->verify) {
		if (memcmp(p->out->data + off, src, (size_t)n) != 0) {
			const unsigned char *a = p->out->data + off, *b = src;
			uint64_t k = 0;

			while (a[k] == b[k])
				k++;
			fail(w, "'%s': tensor '%s': byte %llu is 0x%02x, the scheme gives 0x%02x",
			     w->who, p->name, (unsigned long long)(off + k),
			     a[k], b[k]);
			return;
		}
		__atomic_add_fetch(&w->bytes, n, __ATOMIC_RELAXED);
		return;
	}
	{
		const unsigned char *b = src;
		uint64_t at = w->data_start[p->shard] + p->offset + off;

		while (n) {
			size_t k = n > ((size_t)1 << 30) ? (size_t)1 << 30 :
							   (size_t)n;
			ssize_t r = pwrite(w->fds[p->shard], b, k, (off_t)at);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				fail(w, "'%s': cannot write: %s", w->who,
				     strerror(r < 0 ? errno : ENOSPC));
				return;
			}
			b += r;
			at += (uint64_t)r;
			n -= (uint64_t)r;
			__atomic_add_fetch(&w->done, (uint64_t)r,
					   __ATOMIC_RELAXED);
		}
	}
}

static int tick(struct work *w)
{
	if (w->failed)
		return -1;
	if (w->cb && w->cb(__atomic_load_n(&w->done, __ATOMIC_RELAXED),
			   w->total, w->arg)) {
		fail(w, "'%s': interrupted; nothing was written", w->who);
		return -1;
	}
	return 0;
}

/* A kept tensor's bytes come from the input's mapping, which raises
 * SIGBUS where the file was cut short under it: they are gathered into a
 * buffer under formats/guard.h, then written from there. */
struct gather {
	const struct tensor *t;
	unsigned char *buf;
	uint64_t first;		/* contiguous: the first byte */
	size_t n;		/* bytes (contiguous) or elements (strided) */
	uint64_t *idx;		/* strided: the next element's index */
};

static int gather_flat(void *arg)
{
	struct gather *g = arg;

	memcpy(g->buf, g->t->data + g->first, g->n);
	return 0;
}

static int gather_strided(void *arg)
{
	struct gather *g = arg;
	const struct tensor *t = g->t;
	size_t es = dtype_get(t->dtype)->block_bytes;

	for (size_t k = 0; k < g->n; k++) {
		uint64_t at = 0;

		for (int d = 0; d < t->ndim; d++)
			at += g->idx[d] * t->strides[d];
		memcpy(g->buf + k * es, t->data + at * es, es);
		for (int d = t->ndim - 1; d >= 0; d--) {
			if (++g->idx[d] < t->shape[d])
				break;
			g->idx[d] = 0;
		}
	}
	return 0;
}

/* A kept tensor: its bytes (gathered in row-major order when strided). */
static void copy_part(struct work *w, size_t pi)
{
	const struct tensor *t = w->parts[pi].from;
	size_t es = t->strided ? dtype_get(t->dtype)->block_bytes : 1;
	size_t cap = (size_t)(COPY_CHUNK / es);
	uint64_t idx[MODEL_MAX_DIMS];
	uint64_t count = t->strided ? t->params : t->nbytes;
	struct gather g;

	memset(idx, 0, sizeof(idx));
	memset(&g, 0, sizeof(g));
	g.t = t;
	g.idx = idx;
	g.buf = xmalloc(cap * es);
	for (uint64_t at = 0; at < count && !w->failed; at += g.n) {
		g.first = at;
		g.n = count - at < cap ? (size_t)(count - at) : cap;
		if (guard_run(t->strided ? gather_strided : gather_flat,
			      &g) == GUARD_FAULT) {
			fail(w, "'%s': tensor '%s': the file was cut short while it was read",
			     t->src ? t->src->path : w->who, t->name);
			break;
		}
		emit(w, pi, at * es, g.buf, g.n * es);
		tick(w);
	}
	free(g.buf);
}

/* int8 codes of elements [first, first + n) as offset-binary bytes of
 * int32 rows: each row padded with zero bytes to whole words. */
static void emit_int8(struct work *w, struct item *it, uint64_t first,
		      const unsigned char *q, size_t n)
{
	uint64_t wrow = (it->cols + 3) / 4 * 4;
	unsigned char buf[4096];

	while (n) {
		uint64_t r = first / it->cols, c = first % it->cols;
		size_t k = it->cols - c < n ? (size_t)(it->cols - c) : n;
		size_t done = 0;

		while (done < k) {
			size_t m = k - done < sizeof(buf) ? k - done :
							    sizeof(buf);

			for (size_t j = 0; j < m; j++)
				buf[j] = q[done + j] ^ 0x80;
			emit(w, it->p_codes, r * wrow + c + done, buf, m);
			done += m;
		}
		if (c + k == it->cols && wrow > it->cols) {
			static const unsigned char z[4];

			emit(w, it->p_codes, r * wrow + it->cols, z,
			     wrow - it->cols);
		}
		first += k;
		q += k;
		n -= k;
	}
}

struct q_job {
	struct work *w;
	struct item *it;
	struct tensor_reader *r;
	size_t piece;
	int values;		/* verify the values too */
	const struct tensor *vt;	/* ...read from this tensor */
	float scale;		/* ...times this (1, or FP8's written scale
				 * when the reader sees the codes alone) */
};

static int q_work(void *arg, const struct compute_chunk *ch)
{
	struct q_job *j = arg;
	struct work *w = j->w;
	struct item *it = j->it;
	const struct scheme_ctx *c = &it->c;
	float *x = ch->scratch, *y = x + j->piece, *z = y + j->piece;
	unsigned char *q = (unsigned char *)(z + j->piece);

	for (size_t off = 0; off < ch->n && !w->failed; off += j->piece) {
		size_t n = ch->n - off < j->piece ? ch->n - off : j->piece;
		uint64_t first = ch->first + off;
		size_t o1 = scheme_plane_offset(c, n, 1);
		size_t o2 = scheme_plane_offset(c, n, 2);
		size_t o3 = scheme_plane_offset(c, n, 3);
		uint64_t b1 = scheme_plane_offset(c, first, 1);
		uint64_t b2 = scheme_plane_offset(c, first, 2);
		uint64_t b3 = scheme_plane_offset(c, first, 3);

		if (tensor_reader_read(j->r, first, n, x))
			return -1;
		it->s->quantize(c, first, x, n, q);
		if (j->values) {
			struct err e2;
			const struct tensor *p = j->vt;

			it->s->dequantize(c, first, q, n, y);
			if (tensor_read_f32(w->out, p, first, n, z, &e2)) {
				fail(w, "%s", e2.msg);
				return -1;
			}
			for (size_t i = 0; i < n; i++) {
				float v = j->scale != 1.0f ? z[i] * j->scale :
							     z[i];
				uint32_t a, b;

				memcpy(&a, &v, 4);
				memcpy(&b, &y[i], 4);
				if (a != b && !(isnan(v) && isnan(y[i]))) {
					fail(w, "'%s': tensor '%s': value %llu reads back as %.9g, the scheme gives %.9g",
					     w->who, p->name,
					     (unsigned long long)(first + i),
					     (double)v, (double)y[i]);
					return -1;
				}
			}
			__atomic_add_fetch(&w->values, n, __ATOMIC_RELAXED);
		}
		switch (it->layout) {
		case L_CAST:
		case L_GGUF:
			emit(w, it->p_codes, b3, q, o3);
			break;
		case L_CT_INT:
			if (ct_bits(it->s) == 8)
				emit_int8(w, it, first, q, n);
			else
				emit(w, it->p_codes, b1, q, o1);
			if (it->p_side1 != NONE)
				emit(w, it->p_side1, b2 - b1, q + o1, o2 - o1);
			if (it->zeros) {
				/* two 4-bit zero points per byte, group 2g
				 * in the low nibble; chunks hold an even
				 * number of groups */
				uint64_t g0 = first / 128;

				for (size_t g = 0; g < n / 128; g++)
					it->zeros[g0 + g] = q[o2 + g / 2] >>
							    4 * (g % 2) & 0xf;
			}
			break;
		default:	/* FP8, MX, bitsandbytes: planes as they are */
			emit(w, it->p_codes, b1, q, o1);
			if (it->p_side1 != NONE)
				emit(w, it->p_side1, b2 - b1, q + o1, o2 - o1);
			if (it->p_side2 != NONE)
				emit(w, it->p_side2, b3 - b2, q + o2, o3 - o2);
			break;
		}
	}
	return w->failed ? -1 : 0;
}

static void progress_fn(void *arg, double done)
{
	struct work *w = arg;

	(void)done;
	tick(w);
}

/* int4-g128-asym's zero points, packed eight rows to an int32 word. */
static void emit_zeros(struct work *w, struct item *it)
{
	struct part *p = &w->parts[it->p_zeros];
	uint64_t gpr = it->cols / 128, wr = (it->rows + 7) / 8;
	unsigned char *b = xcalloc((size_t)(wr * gpr * 4) + 1, 1);

	for (uint64_t r = 0; r < it->rows; r++)
		for (uint64_t g = 0; g < gpr; g++) {
			uint64_t word = (r / 8) * gpr + g;
			unsigned k = (unsigned)(r % 8);

			b[4 * word + k / 2] |= (unsigned char)
				(it->zeros[r * gpr + g] << 4 * (k % 2));
		}
	emit(w, it->p_zeros, 0, b, p->nbytes);
	free(b);
}

static int run_item(struct work *w, struct item *it)
{
	struct tensor_reader r;
	struct compute_job cj;
	struct compute_ctl ctl;
	struct q_job j;
	int rc;

	for (size_t k = 0; k < w->nparts; k++)
		if (w->parts[k].item == (size_t)(it - w->items) &&
		    w->parts[k].feed == F_BLOB)
			emit(w, k, 0, w->parts[k].blob, w->parts[k].nbytes);
	if (it->layout == L_COPY) {
		for (size_t k = 0; k < w->nparts; k++)
			if (w->parts[k].item == (size_t)(it - w->items) &&
			    w->parts[k].feed == F_COPY)
				copy_part(w, k);
		return w->failed ? -1 : 0;
	}
	memset(&j, 0, sizeof(j));
	j.w = w;
	j.it = it;
	j.piece = scheme_piece(&it->c);
	j.scale = 1.0f;
	if (w->verify) {
		/* Values: from the logical tensor when the reader folds the
		 * parts into one (formats/layouts.h), else from the codes
		 * where they are values (casts, GGUF types, FP8 times its
		 * scale). */
		const struct tensor *lt = model_find(w->out, it->t->name);

		if (lt && lt->layout) {
			j.values = 1;
			j.vt = lt;
		} else if (it->layout == L_CAST || it->layout == L_GGUF ||
			   it->layout == L_FP8) {
			j.values = 1;
			j.vt = w->parts[it->p_codes].out;
		}
		if (j.values && it->layout == L_FP8 && !lt->layout) {
			const struct tensor *st = w->parts[it->p_codes + 1].out;
			struct err e2;

			if (tensor_read_f32(w->out, st, 0, 1, &j.scale, &e2)) {
				fail(w, "%s", e2.msg);
				return -1;
			}
		}
	}
	memset(&cj, 0, sizeof(cj));
	cj.count = it->c.params;
	cj.align = (size_t)scheme_align(&it->c);
	cj.scratch = 3 * j.piece * sizeof(float) +
		     scheme_chunk_bytes(&it->c, j.piece) + 64;
	cj.fn = q_work;
	cj.arg = &j;
	memset(&ctl, 0, sizeof(ctl));
	ctl.cancel = &w->cancel;
	ctl.progress = progress_fn;
	ctl.arg = w;
	tensor_reader_init(&r, w->m, it->t);
	j.r = &r;
	rc = compute_run(&cj, &ctl);
	if (rc && r.failed)
		fail(w, "%s", r.e.msg);
	tensor_reader_release(&r);
	if (rc && !w->failed)
		fail(w, "'%s': tensor '%s': could not be converted", w->who,
		     it->t->name);
	if (!w->failed && it->zeros)
		emit_zeros(w, it);
	free(it->zeros);	/* one byte per group: not kept for the model */
	it->zeros = NULL;
	tick(w);
	return w->failed ? -1 : 0;
}

/* ---- the files ---- */

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = xmalloc(n);

	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static size_t elem_size(enum dtype d)
{
	const struct dtype_info *di = dtype_get(d);

	return di->block == 1 ? di->block_bytes : 1;
}

/* Offsets of each shard's parts: largest elements first. */
static void place(struct work *w)
{
	static const size_t sizes[] = { 8, 4, 2, 1 };

	w->data_len = xcalloc((size_t)w->nshards + 1, sizeof(*w->data_len));
	for (size_t z = 0; z < 4; z++)
		for (size_t k = 0; k < w->nparts; k++) {
			struct part *p = &w->parts[k];
			size_t es = elem_size(p->dtype);

			if (es > 8)
				es = 8;
			if (es != sizes[z])
				continue;
			p->offset = w->data_len[p->shard];
			w->data_len[p->shard] += p->nbytes;
		}
}

/* Module names for a config: "x" for "x.weight". */
static char *module_of(const char *name)
{
	char *m = xstrdup(name);
	size_t n = strlen(m);

	if (n > 7 && strcmp(m + n - 7, ".weight") == 0)
		m[n - 7] = '\0';
	return m;
}

static json_t *ct_args(const struct scheme *s)
{
	json_t *a = json_object();
	int fl = is(s, "fp8-e4m3") || is(s, "mxfp4");

	json_object_set_new(a, "num_bits", json_integer(
		fl ? (is(s, "mxfp4") ? 4 : 8) : (json_int_t)s->code_bits));
	json_object_set_new(a, "type", json_string(fl ? "float" : "int"));
	json_object_set_new(a, "symmetric",
			    json_boolean(!is(s, "int4-g128-asym")));
	json_object_set_new(a, "strategy", json_string(
		is(s, "int8") ? "channel" :
		is(s, "int8-tensor") || is(s, "fp8-e4m3") ? "tensor" :
		"group"));
	json_object_set_new(a, "group_size",
		is(s, "mxfp4") ? json_integer(32) :
		is(s, "int4-g128") || is(s, "int4-g128-asym") ?
		json_integer(128) : json_null());
	json_object_set_new(a, "block_structure", json_null());
	json_object_set_new(a, "dynamic", json_false());
	json_object_set_new(a, "actorder", json_null());
	json_object_set_new(a, "observer", json_string("minmax"));
	return a;
}

static const char *ct_format(const struct scheme *s)
{
	if (is(s, "fp8-e4m3"))
		return "float-quantized";
	if (is(s, "mxfp4"))
		return "mxfp4-pack-quantized";
	return "pack-quantized";
}

/* The quantization_config that describes what was written, or NULL (with
 * info->note saying why when something was quantized). */
static json_t *quant_config(struct work *w, struct safetensors_written *info)
{
	int ct = 0, bnb = 0, bnb_mixed = 0, e5m2 = 0;
	const struct scheme *bs = NULL;
	json_t *qc, *ignore;

	for (size_t i = 0; i < w->nitems; i++) {
		const struct scheme *s = w->items[i].s;
		enum layout l = w->items[i].layout;

		if (l == L_CT_INT || l == L_CT_MX || is(s, "fp8-e4m3")) {
			ct = 1;
		} else if (l == L_BNB) {
			bnb_mixed |= bs && bs != s;
			bs = s;
			bnb = 1;
		} else if (is(s, "fp8-e5m2")) {
			e5m2 = 1;
		}
	}
	if (ct && bnb) {
		snprintf(info->note, sizeof(info->note), "%s",
			 "compressed-tensors and bitsandbytes layouts in one model: no quantization_config describes both");
		return NULL;
	}
	if (bnb_mixed) {
		snprintf(info->note, sizeof(info->note), "%s",
			 "several bitsandbytes quant types in one model: no quantization_config describes them");
		return NULL;
	}
	if (e5m2) {
		snprintf(info->note, sizeof(info->note), "%s",
			 "fp8-e5m2 weights have no quantization_config (compressed-tensors stores E4M3 only)");
		return NULL;
	}
	if (!ct && !bnb)
		return NULL;
	ignore = json_array();
	for (size_t i = 0; i < w->nitems; i++) {
		const struct item *it = &w->items[i];

		if (it->t->ndim == 2 && it->layout != L_CT_INT &&
		    it->layout != L_CT_MX && it->layout != L_BNB &&
		    !is(it->s, "fp8-e4m3")) {
			char *mn = module_of(it->t->name);

			json_array_append_new(ignore, json_string(mn));
			free(mn);
		}
	}
	qc = json_object();
	if (bnb) {
		json_object_set_new(qc, "quant_method", json_string("bitsandbytes"));
		json_object_set_new(qc, "load_in_4bit", json_true());
		json_object_set_new(qc, "load_in_8bit", json_false());
		json_object_set_new(qc, "bnb_4bit_quant_type",
				    json_string(is(bs, "fp4") ? "fp4" : "nf4"));
		json_object_set_new(qc, "bnb_4bit_use_double_quant",
				    json_boolean(is(bs, "nf4-dq")));
		json_object_set_new(qc, "bnb_4bit_compute_dtype",
				    json_string("bfloat16"));
		json_object_set_new(qc, "bnb_4bit_quant_storage",
				    json_string("uint8"));
		json_object_set_new(qc, "llm_int8_skip_modules", ignore);
		snprintf(info->method, sizeof(info->method), "bitsandbytes");
		return qc;
	} else {
		json_t *groups = json_object();
		const char *fmt = NULL;
		int mixed = 0, g = 0;

		for (size_t k = 0; k < nschemes; k++) {
			const struct scheme *s = &schemes[k];
			json_t *grp, *targets = json_array();
			char gname[32];

			for (size_t i = 0; i < w->nitems; i++)
				if (w->items[i].s == s) {
					char *mn = module_of(w->items[i].t->name);

					json_array_append_new(targets,
							      json_string(mn));
					free(mn);
				}
			if (!json_array_size(targets) ||
			    !(layout_of(s) == L_CT_INT ||
			      layout_of(s) == L_CT_MX || is(s, "fp8-e4m3"))) {
				json_decref(targets);
				continue;
			}
			if (fmt && strcmp(fmt, ct_format(s)))
				mixed = 1;
			fmt = ct_format(s);
			grp = json_object();
			json_object_set_new(grp, "targets", targets);
			json_object_set_new(grp, "weights", ct_args(s));
			json_object_set_new(grp, "input_activations", json_null());
			json_object_set_new(grp, "output_activations", json_null());
			json_object_set_new(grp, "format", json_string(fmt));
			snprintf(gname, sizeof(gname), "group_%d", g++);
			json_object_set_new(groups, gname, grp);
		}
		json_object_set_new(qc, "quant_method",
				    json_string("compressed-tensors"));
		json_object_set_new(qc, "format", json_string(
			mixed ? "mixed-precision" : fmt));
		json_object_set_new(qc, "quantization_status",
				    json_string("compressed"));
		json_object_set_new(qc, "config_groups", groups);
		json_object_set_new(qc, "ignore", ignore);
		json_object_set_new(qc, "kv_cache_scheme", json_null());
		snprintf(info->method, sizeof(info->method),
			 "compressed-tensors");
		return qc;
	}
}

/* The header of shard s: __metadata__, then the tensors by offset. */
static char *shard_header(struct work *w, int s, json_t *meta, size_t *len)
{
	json_t *h = json_object();
	char *txt;
	size_t n, padded;
	size_t *order = xcalloc(w->nparts + 1, sizeof(*order)), no = 0;

	json_object_set(h, "__metadata__", meta);
	for (size_t k = 0; k < w->nparts; k++)
		if (w->parts[k].shard == s)
			order[no++] = k;
	/* by offset: insertion sort over what place() laid out */
	for (size_t a = 1; a < no; a++)
		for (size_t b = a; b > 0 && w->parts[order[b - 1]].offset >
					    w->parts[order[b]].offset; b--) {
			size_t t = order[b];

			order[b] = order[b - 1];
			order[b - 1] = t;
		}
	for (size_t i = 0; i < no; i++) {
		const struct part *p = &w->parts[order[i]];
		json_t *t = json_object(), *sh = json_array(), *off = json_array();

		json_object_set_new(t, "dtype",
				    json_string(dtype_get(p->dtype)->name));
		for (int d = 0; d < p->ndim; d++)
			json_array_append_new(sh, json_integer(
				(json_int_t)p->shape[d]));
		json_object_set_new(t, "shape", sh);
		json_array_append_new(off, json_integer((json_int_t)p->offset));
		json_array_append_new(off, json_integer(
			(json_int_t)(p->offset + p->nbytes)));
		json_object_set_new(t, "data_offsets", off);
		json_object_set_new(h, p->name, t);
	}
	free(order);
	txt = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(h);
	if (!txt) {
		fputs("qscope: out of memory\n", stderr);
		abort();
	}
	n = strlen(txt);
	padded = (n + 7) / 8 * 8;
	txt = xrealloc(txt, 8 + padded + 1);
	memmove(txt + 8, txt, n);
	memset(txt + 8 + n, ' ', padded - n);
	for (int i = 0; i < 8; i++)
		txt[i] = (char)((uint64_t)padded >> 8 * i & 0xff);
	*len = 8 + padded;
	return txt;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

struct target {
	char *final;
	char *tmp;
	int fd;
};

static int same_inode(const struct stat *a, const char *path)
{
	struct stat b;

	return stat(path, &b) == 0 && a->st_dev == b.st_dev &&
	       a->st_ino == b.st_ino;
}

/* Refuse a target that is an input file, or exists without force. */
static int check_target(const struct model *m, const char *path, int force,
			struct err *e)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return 0;
	for (size_t i = 0; i < m->nsources; i++)
		if (same_inode(&st, m->sources[i]->path)) {
			err_set(e, "'%s': is one of the input's files; write elsewhere",
				path);
			return -1;
		}
	if (S_ISDIR(st.st_mode)) {
		err_set(e, "'%s': is a folder", path);
		return -1;
	}
	if (!force) {
		err_set(e, "'%s': already exists; use --force to replace it",
			path);
		return -1;
	}
	return 0;
}

static int write_all(int fd, const void *p, size_t n, uint64_t at)
{
	const unsigned char *b = p;

	while (n) {
		ssize_t r = pwrite(fd, b, n, (off_t)at);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ENOSPC;
			return -1;
		}
		b += r;
		at += (uint64_t)r;
		n -= (size_t)r;
	}
	return 0;
}

static int open_temp(struct target *tg, struct err *e)
{
	tg->tmp = out_temp_name(tg->final);
	tg->fd = mkstemp(tg->tmp);
	if (tg->fd < 0) {
		err_set(e, "'%s': cannot create a file next to it: %s",
			tg->final, strerror(errno));
		free(tg->tmp);
		tg->tmp = NULL;
		return -1;
	}
	/* Held while we live: out_remove_stale() leaves it alone even when
	 * our pid means nothing to it (another PID namespace). */
	flock(tg->fd, LOCK_EX | LOCK_NB);
	if (fchmod(tg->fd, out_file_mode()) != 0) {
		err_set(e, "'%s': %s", tg->tmp, strerror(errno));
		return -1;
	}
	return 0;
}

static int finish_temp(struct target *tg, struct err *e)
{
	if (fsync(tg->fd) != 0 || close(tg->fd) != 0) {
		tg->fd = -1;
		err_set(e, "'%s': cannot write: %s", tg->final,
			strerror(errno));
		return -1;
	}
	tg->fd = -1;
	return 0;
}

/* A small JSON file to a target. */
static int write_json_target(struct target *tg, json_t *j, struct err *e,
			     uint64_t *bytes)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	int rc;

	if (!s) {
		fputs("qscope: out of memory\n", stderr);
		abort();
	}
	if (open_temp(tg, e)) {
		free(s);
		return -1;
	}
	rc = write_all(tg->fd, s, strlen(s), 0) ||
	     write_all(tg->fd, "\n", 1, strlen(s));
	*bytes += strlen(s) + 1;
	free(s);
	if (rc) {
		err_set(e, "'%s': cannot write: %s", tg->final, strerror(errno));
		return -1;
	}
	return finish_temp(tg, e);
}

static void work_release(struct work *w)
{
	for (size_t k = 0; k < w->nparts; k++) {
		free(w->parts[k].name);
		free(w->parts[k].blob);
	}
	for (size_t i = 0; i < w->nitems; i++)
		free(w->items[i].zeros);
	free(w->parts);
	free(w->items);
	free(w->fds);
	free(w->data_start);
	free(w->data_len);
	pthread_mutex_destroy(&w->mu);
}

static void work_init(struct work *w, const struct model *m, const char *who,
		      struct err *e)
{
	memset(w, 0, sizeof(*w));
	w->m = m;
	w->who = who;
	w->e = e;
	w->nshards = 1;
	pthread_mutex_init(&w->mu, NULL);
}

int safetensors_write(const struct model *m, const struct scheme *const *schemes,
		      const char *out, unsigned flags, write_progress_fn *cb,
		      void *arg, struct safetensors_written *info,
		      struct err *e)
{
	struct safetensors_written dummy;
	int force = (flags & SAFETENSORS_WRITE_FORCE) != 0;
	int folder = !ends_with(out, ".safetensors");
	const struct source **srcs = NULL;
	struct target *tg = NULL;
	size_t ntg = 0, nsrc = 0;
	json_t *meta = NULL, *qc = NULL, *config = NULL;
	char *dir = NULL;
	int made_dir = 0, rc = -1;
	struct work w;
	struct stat st;

	if (!info)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	work_init(&w, m, out, e);
	w.cb = cb;
	w.arg = arg;

	/* Which file each tensor goes to: like its input file, in a
	 * folder; else all in one. */
	srcs = xcalloc(m->ntensors + 1, sizeof(*srcs));
	if (make_parts(&w, schemes) || check_names(&w))
		goto out;
	for (size_t i = 0; i < m->ntensors; i++) {
		size_t k = 0;

		while (k < nsrc && srcs[k] != m->tensors[i].src)
			k++;
		if (k == nsrc)
			srcs[nsrc++] = m->tensors[i].src;
		w.items[i].shard = folder ? (int)k : 0;
	}
	w.nshards = folder && nsrc > 1 ? (int)nsrc : 1;
	for (size_t k = 0; k < w.nparts; k++)
		w.parts[k].shard = w.items[w.parts[k].item].shard;

	/* Per-tensor statistics first: the blobs need them. */
	for (size_t i = 0; i < w.nitems; i++) {
		if (w.items[i].s && prepare(&w, &w.items[i]))
			goto out;
		make_blobs(&w, i);
		if (tick(&w))
			goto out;
	}
	place(&w);

	/* Metadata of every file. */
	meta = json_object();
	json_object_set_new(meta, "format", json_string("pt"));
	for (size_t i = 0; i < m->nmeta; i++) {
		const char *k = m->meta[i].key;

		if (strncmp(k, "__metadata__.", 13) == 0 &&
		    strcmp(k + 13, "format") != 0 &&
		    strcmp(k + 13, "quantization_config") != 0 &&
		    json_is_string(m->meta[i].value))
			json_object_set(meta, k + 13, m->meta[i].value);
	}
	qc = quant_config(&w, info);
	if (qc) {
		char *s = json_dumps(qc, JSON_COMPACT | JSON_PRESERVE_ORDER);

		json_object_set_new(meta, "quantization_config",
				    json_string(s ? s : "{}"));
		free(s);
	}

	/* Targets. */
	if (folder) {
		dir = xstrdup(out);
		if (stat(out, &st) == 0) {
			if (!S_ISDIR(st.st_mode)) {
				err_set(e, "'%s': is not a folder (name a .safetensors file, or a folder)",
					out);
				goto out;
			}
			if (same_inode(&st, m->path)) {
				err_set(e, "'%s': is the input folder; write elsewhere",
					out);
				goto out;
			}
		}
	} else {
		const char *slash = strrchr(out, '/');

		dir = xstrdup(slash ? out : ".");
		if (slash)
			dir[slash == out ? 1 : slash - out] = '\0';
	}
	tg = xcalloc((size_t)w.nshards + 3, sizeof(*tg));
	for (int s = 0; s < w.nshards; s++) {
		char name[64];

		if (!folder) {
			tg[ntg].final = xstrdup(out);
		} else {
			if (w.nshards == 1)
				snprintf(name, sizeof(name), "model.safetensors");
			else
				snprintf(name, sizeof(name),
					 "model-%05d-of-%05d.safetensors",
					 s + 1, w.nshards);
			tg[ntg].final = join(dir, name);
		}
		tg[ntg++].fd = -1;
	}
	if (folder && w.nshards > 1) {
		tg[ntg].final = join(dir, "model.safetensors.index.json");
		tg[ntg++].fd = -1;
	}
	for (size_t i = 0; folder && i < m->nmeta; i++)
		if (strcmp(m->meta[i].key, "config.json") == 0 &&
		    json_is_object(m->meta[i].value))
			config = json_deep_copy(m->meta[i].value);
	if (config) {
		if (qc)
			json_object_set(config, "quantization_config", qc);
		else
			json_object_del(config, "quantization_config");
		tg[ntg].final = join(dir, "config.json");
		tg[ntg++].fd = -1;
	}
	for (size_t k = 0; k < ntg; k++)
		if (check_target(m, tg[k].final, force, e))
			goto out;
	if (folder && stat(dir, &st) != 0) {
		if (mkdir(dir, 0777) != 0) {
			err_set(e, "'%s': cannot make the folder: %s", dir,
				strerror(errno));
			goto out;
		}
		made_dir = 1;
	}

	/* The shards: headers, then every tensor's bytes. */
	w.fds = xcalloc((size_t)w.nshards + 1, sizeof(*w.fds));
	w.data_start = xcalloc((size_t)w.nshards + 1, sizeof(*w.data_start));
	for (int s = 0; s < w.nshards; s++) {
		size_t hl;
		char *h = shard_header(&w, s, meta, &hl);

		w.data_start[s] = hl;
		w.total += hl + w.data_len[s];
		if (open_temp(&tg[s], e)) {
			free(h);
			goto out;
		}
		w.fds[s] = tg[s].fd;
		if (write_all(tg[s].fd, h, hl, 0)) {
			err_set(e, "'%s': cannot write: %s", out,
				strerror(errno));
			free(h);
			goto out;
		}
		w.done += hl;
		free(h);
	}
	for (size_t i = 0; i < w.nitems; i++)
		if (run_item(&w, &w.items[i]))
			goto out;
	for (int s = 0; s < w.nshards; s++)
		if (finish_temp(&tg[s], e))
			goto out;
	info->bytes = w.total;
	if (folder && w.nshards > 1) {
		json_t *idx = json_object(), *md = json_object();
		json_t *wm = json_object();
		uint64_t sum = 0;

		for (size_t k = 0; k < w.nparts; k++) {
			const char *base = strrchr(tg[w.parts[k].shard].final,
						   '/');

			sum += w.parts[k].nbytes;
			json_object_set_new(wm, w.parts[k].name,
					    json_string(base + 1));
		}
		json_object_set_new(md, "total_size",
				    json_integer((json_int_t)sum));
		json_object_set_new(idx, "metadata", md);
		json_object_set_new(idx, "weight_map", wm);
		rc = write_json_target(&tg[w.nshards], idx, e, &info->bytes);
		json_decref(idx);
		if (rc)
			goto out;
		rc = -1;
	}
	if (config && write_json_target(&tg[ntg - 1], config, e,
					&info->bytes))
		goto out;
	/* A cancel during the fsyncs still stops us before the renames. */
	if (tick(&w))
		goto out;
	for (size_t k = 0; k < ntg; k++) {
		if (rename(tg[k].tmp, tg[k].final) != 0) {
			err_set(e, "'%s': cannot rename the finished file into place: %s",
				tg[k].final, strerror(errno));
			goto out;
		}
		free(tg[k].tmp);
		tg[k].tmp = NULL;
	}
	sync_dir(dir);
	info->files = ntg;
	rc = 0;
out:
	for (size_t k = 0; tg && k < ntg; k++) {
		if (tg[k].fd >= 0)
			close(tg[k].fd);
		if (tg[k].tmp) {
			unlink(tg[k].tmp);
			free(tg[k].tmp);
		}
		free(tg[k].final);
	}
	if (rc && made_dir)
		rmdir(dir);
	free(tg);
	free(dir);
	free(srcs);
	json_decref(meta);
	json_decref(qc);
	json_decref(config);
	work_release(&w);
	return rc;
}

/* ---- checking what was written ---- */

/* The stored tensor called name: a part of the logical tensor logical when
 * the reader folded the parts into one, else a tensor of its own. */
static const struct tensor *stored(const struct model *om,
				   const char *logical, const char *name)
{
	const struct tensor *lt = model_find(om, logical);

	if (lt && lt->layout)
		for (size_t k = 0; k < lt->nparts; k++)
			if (strcmp(lt->parts[k].name, name) == 0)
				return &lt->parts[k];
	return model_find(om, name);
}

int written_verify(const struct model *m, const struct scheme *const *schemes,
		   const char *out, int gguf, uint64_t *values, uint64_t *bytes,
		   struct err *e)
{
	struct model om;
	struct work w;
	int rc = -1;

	*values = *bytes = 0;
	if (model_open(&om, out, e))
		return -1;
	work_init(&w, m, out, e);
	w.gguf = gguf;
	w.verify = 1;
	w.out = &om;
	if (make_parts(&w, schemes))
		goto out;
	for (size_t i = 0; i < w.nitems; i++) {
		if (w.items[i].s && prepare(&w, &w.items[i]))
			goto out;
		make_blobs(&w, i);
	}
	for (size_t k = 0; k < w.nparts; k++) {
		struct part *p = &w.parts[k];
		const struct tensor *t = stored(&om,
						w.items[p->item].t->name,
						p->name);

		if (!t) {
			err_set(e, "'%s': tensor '%s' is missing", out,
				p->name);
			goto out;
		}
		if (t->dtype != p->dtype || t->nbytes != p->nbytes ||
		    t->strided) {
			err_set(e, "'%s': tensor '%s' is %s of %llu bytes, expected %s of %llu",
				out, p->name, dtype_get(t->dtype)->name,
				(unsigned long long)t->nbytes,
				dtype_get(p->dtype)->name,
				(unsigned long long)p->nbytes);
			goto out;
		}
		p->out = t;
	}
	{
		size_t stored_n = 0;

		for (size_t i = 0; i < om.ntensors; i++)
			stored_n += om.tensors[i].layout ?
				    om.tensors[i].nparts : 1;
		if (stored_n != w.nparts) {
			err_set(e, "'%s': holds %zu tensors, expected %zu",
				out, stored_n, w.nparts);
			goto out;
		}
	}
	for (size_t i = 0; i < w.nitems; i++) {
		if (run_item(&w, &w.items[i]))
			goto out;
		/* Drop the mapped pages just compared, so that memory stays
		 * flat however big the model (formats/pages.h). */
		for (size_t k = 0; k < w.nparts; k++)
			if (w.parts[k].item == i) {
				if (w.parts[k].out)
					pages_done(w.parts[k].out);
				if (w.parts[k].from)
					pages_done(w.parts[k].from);
			}
	}
	*values = w.values;
	*bytes = w.bytes;
	rc = 0;
out:
	work_release(&w);
	model_release(&om);
	return rc;
}
