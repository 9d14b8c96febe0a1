/*
 * formats/layouts.c - quantized layouts of other tools read as logical
 * tensors (see layouts.h; the layouts are FORMATS.md 5.8-5.12).
 *
 * layouts_apply() walks the tensors once.  Each tensor is tried as the
 * anchor of a layout (its main part: "X_packed", "X.qweight", "X" with
 * "X.quant_state...", "X_scale" or, for "X.weight", "X.SCB"): its siblings
 * are looked up by name, every dtype, shape and size is checked against the
 * layout, and only when all of it fits do the parts become one logical
 * tensor.  The decoding recipe (struct layout) is fixed
 * then; reading decodes element by element from the parts' mapped bytes,
 * with no state shared between calls, so several threads may read at once.
 */
#include "formats/layouts.h"

#include <stdlib.h>
#include <string.h>

/* The largest bitsandbytes quant_state JSON we parse (real ones are about
 * 200 bytes). */
#define LAYOUT_MAX_STATE 65536

/* The largest bitsandbytes block size we accept (its own maximum is 4096). */
#define LAYOUT_MAX_BLOCK (1u << 20)

enum layout_kind {
	LK_CT_PACKED,	/* compressed-tensors pack-quantized (int32 words) */
	LK_CT_INT,	/* compressed-tensors int8 weight, not packed */
	LK_CT_FLOAT,	/* compressed-tensors fp8 weight */
	LK_CT_MXFP4,	/* compressed-tensors mxfp4-pack-quantized */
	LK_CT_NVFP4,	/* compressed-tensors nvfp4-pack-quantized */
	LK_GPTQ,
	LK_AWQ,
	LK_BNB4,	/* bitsandbytes NF4 / FP4 */
	LK_BNB8,	/* bitsandbytes LLM.int8() */
};

/* What each part is for; a layout uses some of them. */
enum layout_role {
	R_Q,		/* the codes */
	R_SCALE,
	R_ZERO,
	R_GIDX,
	R_SHAPE,	/* compressed-tensors weight_shape */
	R_ABSMAX,
	R_QMAP,
	R_NABSMAX,
	R_NQMAP,
	R_STATE,	/* bitsandbytes quant_state JSON */
	R_FORMAT,	/* bitsandbytes 8-bit weight_format */
	R_GSCALE,	/* NVFP4 weight_global_scale */
	R_COUNT
};

struct layout {
	enum layout_kind kind;
	char scheme[64];
	int part[R_COUNT];	/* index into t->parts, -1 if absent */
	uint64_t rows, cols;	/* the weight as [out, in] */
	unsigned bits, pf;	/* bits per code; codes per 32-bit word (0:
				 * GPTQ 3-bit, where codes straddle words) */
	uint64_t qwords;	/* words per row of the codes (CT) */
	uint64_t zwords;	/* words per group row of the zeros (GPTQ) */
	uint64_t group;		/* input columns per group; 0: one group */
	uint64_t ngroups;
	uint64_t s_row, s_grp;	/* scale (and unpacked zero) index:
				 * o * s_row + g * s_grp */
	int zero_v1;		/* GPTQ: the stored zero is z - 1 */
	/* bitsandbytes 4-bit */
	uint64_t numel, block, nblocks, nested_block;
	int dq;			/* absmax double-quantized */
	float nested_offset;
	float qmap[16];
	float nmap[256];
};

/* AWQ packs output column 8c + j into nibble awq_nibble[j] of word c
 * (its order 0 2 4 6 1 3 5 7, inverted). */
static const unsigned awq_nibble[8] = { 0, 4, 1, 5, 2, 6, 3, 7 };

/* ---- reading parts ---- */

static int is_int(enum dtype d)
{
	return d == DT_I8 || d == DT_U8 || d == DT_I16 || d == DT_U16 ||
	       d == DT_I32 || d == DT_U32 || d == DT_I64 || d == DT_U64;
}

/* A part we may read element by element: contiguous, not empty. */
static int plain_part(const struct tensor *p)
{
	const struct dtype_info *di = dtype_get(p->dtype);

	return p->params > 0 && p->data && !p->strided && !p->layout &&
	       di->block == 1;
}

static int int_part(const struct tensor *p)
{
	return plain_part(p) && is_int(p->dtype);
}

static int float_part(const struct tensor *p)
{
	const struct dtype_info *di = dtype_get(p->dtype);

	return plain_part(p) && di->is_float && di->decode;
}

static uint32_t get_u32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

/* Element k of an integer part (int_part() checked, k < params). */
static int64_t part_int(const struct tensor *p, uint64_t k)
{
	const unsigned char *b;
	uint64_t v = 0;
	unsigned size;

	if (p->dtype == DT_I32)		/* g_idx, the common case */
		return (int32_t)get_u32(p->data + k * 4);
	size = dtype_get(p->dtype)->block_bytes;
	b = p->data + k * size;
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)b[i] << (8 * i);
	switch (p->dtype) {
	case DT_I8:
		return (int8_t)v;
	case DT_I16:
		return (int16_t)v;
	case DT_I32:
		return (int32_t)v;
	default:
		return (int64_t)v;	/* unsigned, or I64 */
	}
}

/* Element k of a 32-bit part, as unsigned bits. */
static uint32_t part_word(const struct tensor *p, uint64_t k)
{
	return get_u32(p->data + k * 4);
}

/* Element k of a float part (float_part() checked). */
static float part_float(const struct tensor *p, uint64_t k)
{
	const struct dtype_info *di = dtype_get(p->dtype);
	float f;

	di->decode(p->data + k * di->block_bytes, &f, 1);
	return f;
}

/* ---- recognising ---- */

/* One layout found, before it becomes a tensor. */
struct found {
	size_t role[R_COUNT];	/* tensor index, or NONE */
	struct layout L;
	char *name;		/* the logical name (owned) */
	int ndim;
	uint64_t shape[MODEL_MAX_DIMS];
	uint64_t params;
};

#define NONE ((size_t)-1)

struct ctx {
	struct model *m;
	const size_t *owner;	/* group of each tensor, NONE if free */
	const json_t *qc;	/* config.json's quantization_config */
};

/* a * b into *r; 0 on overflow. */
static int mul_ok(uint64_t a, uint64_t b, uint64_t *r)
{
	if (a && b > UINT64_MAX / a)
		return 0;
	*r = a * b;
	return 1;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/* Does name end with suffix?  Returns the length before it, or -1. */
static long strip(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	if (n <= s || strcmp(name + n - s, suffix) != 0)
		return -1;
	return (long)(n - s);
}

/* prefix[0..len) + suffix, allocated. */
static char *join(const char *prefix, long len, const char *suffix)
{
	size_t s = strlen(suffix);
	char *name = xmalloc((size_t)len + s + 1);

	memcpy(name, prefix, (size_t)len);
	memcpy(name + len, suffix, s + 1);
	return name;
}

/* Is there a tensor named prefix[0..len) + suffix (free or not)? */
static int exists(const struct ctx *c, const char *prefix, long len,
		  const char *suffix)
{
	char *name = join(prefix, len, suffix);
	int found = model_find(c->m, name) != NULL;

	free(name);
	return found;
}

/* The free tensor named prefix[0..len) + suffix, or NONE. */
static size_t sibling(const struct ctx *c, const char *prefix, long len,
		      const char *suffix)
{
	char *name = join(prefix, len, suffix);
	const struct tensor *t = model_find(c->m, name);
	size_t i;

	free(name);
	if (!t)
		return NONE;
	i = (size_t)(t - c->m->tensors);
	return c->owner[i] == NONE ? i : NONE;
}

static const struct tensor *T(const struct ctx *c, size_t i)
{
	return &c->m->tensors[i];
}

static void found_init(struct found *f, enum layout_kind kind)
{
	memset(f, 0, sizeof(*f));
	for (int r = 0; r < R_COUNT; r++)
		f->role[r] = NONE;
	f->L.kind = kind;
}

static void set_2d(struct found *f, uint64_t rows, uint64_t cols)
{
	f->ndim = 2;
	f->shape[0] = rows;
	f->shape[1] = cols;
	f->L.rows = rows;
	f->L.cols = cols;
}

/* An integer from a JSON value, or -1 if it is not a non-negative one. */
static long long json_nonneg(const json_t *v)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	return (long long)json_integer_value(v);
}

static int method_is(const json_t *qc, const char *name)
{
	const json_t *v = json_object_get(qc, "quant_method");

	return json_is_string(v) && strcmp(json_string_value(v), name) == 0;
}

/*
 * The groups of a compressed-tensors weight: scale is [rows, 1] or [rows]
 * (per output row), one element (per tensor), or [rows, ng]
 * (groups of the input columns).  The group size comes from the config
 * when it gives one that fits, else from the shapes.  0 if it fits nothing.
 */
static int ct_groups(const struct ctx *c, const struct tensor *s,
		     struct found *f)
{
	struct layout *L = &f->L;
	const json_t *groups, *g;
	const char *key;
	uint64_t ng;

	if (s->ndim == 2 && s->shape[0] == L->rows && s->shape[1]) {
		ng = s->shape[1];
	} else if (s->params == 1) {
		L->ngroups = 1;
		L->s_row = L->s_grp = 0;
		return 1;
	} else if (s->ndim == 1 && s->shape[0] == L->rows) {
		ng = 1;
	} else {
		return 0;
	}
	L->ngroups = ng;
	L->s_row = ng;
	L->s_grp = 1;
	if (ng == 1)
		return 1;
	if (ng > L->cols)
		return 0;
	groups = c->qc ? json_object_get(c->qc, "config_groups") : NULL;
	json_object_foreach((json_t *)groups, key, g) {
		long long gs = json_nonneg(json_object_get(
			json_object_get(g, "weights"), "group_size"));

		if (gs > 0 && ceil_div(L->cols, (uint64_t)gs) == ng) {
			L->group = (uint64_t)gs;
			return 1;
		}
	}
	L->group = ceil_div(L->cols, ng);
	return ceil_div(L->cols, L->group) == ng;
}

/* Is b a num_bits the config allows (any, when it names none)? */
static int ct_bits_allowed(const struct ctx *c, unsigned b)
{
	const json_t *groups, *g;
	const char *key;
	int named = 0;

	groups = c->qc ? json_object_get(c->qc, "config_groups") : NULL;
	json_object_foreach((json_t *)groups, key, g) {
		long long nb = json_nonneg(json_object_get(
			json_object_get(g, "weights"), "num_bits"));

		if (nb < 0)
			continue;
		named = 1;
		if ((unsigned long long)nb == b)
			return 1;
	}
	return !named;
}

/* X_g_idx (weight_g_idx): one integer per input column. */
static int ct_gidx(const struct ctx *c, const char *name, long len,
		   struct found *f)
{
	size_t gi = sibling(c, name, len, "_g_idx");

	if (gi == NONE)
		return 1;
	if (!int_part(T(c, gi)) || T(c, gi)->params != f->L.cols ||
	    f->L.ngroups < 1)
		return 0;
	f->role[R_GIDX] = gi;
	return 1;
}

/* "-g128", "-ch" or "-tensor" */
static const char *gran_name(const struct layout *L, char *buf, size_t n)
{
	if (L->s_row == 0 && L->s_grp == 0)
		snprintf(buf, n, "-tensor");
	else if (L->ngroups == 1)
		snprintf(buf, n, "-ch");
	else
		snprintf(buf, n, "-g%llu", (unsigned long long)L->group);
	return buf;
}

/*
 * X_shape (weight_shape): the weight's shape, in which the packed tensor's
 * rows are the first dimensions; the elements of a row are the rest.  Sets
 * f's shape and *cols; 0 if it does not fit the packed tensor q.
 */
static int ct_shape(const struct tensor *sh, const struct tensor *q,
		    struct found *f, uint64_t *cols)
{
	uint64_t n = 1;

	if (!int_part(sh) || sh->params < 1 || sh->params > MODEL_MAX_DIMS ||
	    q->shape[0] == 0)
		return 0;
	for (uint64_t k = 0; k < sh->params; k++) {
		int64_t d = part_int(sh, k);

		if (d <= 0 || !mul_ok(n, (uint64_t)d, &n))
			return 0;
		f->shape[k] = (uint64_t)d;
	}
	if (n % q->shape[0])
		return 0;
	f->ndim = (int)sh->params;
	*cols = n / q->shape[0];
	return 1;
}

/*
 * compressed-tensors mxfp4- and nvfp4-pack-quantized (FORMATS.md 5.7):
 * weight_packed uint8 [out, in / 2], two E2M1 codes a byte, element 2i in
 * the low nibble; MXFP4: weight_scale E8M0 codes [out, in / 32]; NVFP4:
 * weight_scale FP8 E4M3 [out, in / 16] and weight_global_scale [1].
 * weight_shape, when present, gives in.
 */
static int rec_ct_fp4(const struct ctx *c, size_t i, long len,
		      struct found *f)
{
	const struct tensor *q = T(c, i), *s, *gs;
	const char *name = q->name;
	size_t si, gsi, shi;
	uint64_t cols;
	char *lname;
	int nv;

	if (q->ndim != 2 || !plain_part(q))
		return 0;
	si = sibling(c, name, len, "_scale");
	gsi = sibling(c, name, len, "_global_scale");
	shi = sibling(c, name, len, "_shape");
	if (si == NONE)
		return 0;
	s = T(c, si);
	nv = gsi != NONE;
	if (!plain_part(s) || s->ndim != 2 || s->shape[0] != q->shape[0] ||
	    (nv ? s->dtype != DT_F8_E4M3 :
		  s->dtype != DT_U8 && s->dtype != DT_F8_E8M0))
		return 0;
	if (nv) {
		gs = T(c, gsi);
		if (!float_part(gs) || gs->params != 1)
			return 0;
	}
	found_init(f, nv ? LK_CT_NVFP4 : LK_CT_MXFP4);
	if (!mul_ok(q->shape[1], 2, &cols))
		return 0;
	set_2d(f, q->shape[0], cols);
	if (shi != NONE) {
		if (!ct_shape(T(c, shi), q, f, &cols) ||
		    ceil_div(cols, 2) != q->shape[1])
			return 0;
		f->L.cols = cols;
	}
	f->L.group = nv ? 16 : 32;
	f->L.ngroups = s->shape[1];
	f->L.s_row = s->shape[1];
	f->L.s_grp = 1;
	if (ceil_div(cols, f->L.group) != f->L.ngroups)
		return 0;
	lname = join(name, len, "");
	if (model_find(c->m, lname)) {
		free(lname);
		return 0;
	}
	f->name = lname;
	f->role[R_Q] = i;
	f->role[R_SCALE] = si;
	f->role[R_SHAPE] = shi;
	f->role[R_GSCALE] = gsi;
	snprintf(f->L.scheme, sizeof(f->L.scheme), "ct-%s",
		 nv ? "nvfp4" : "mxfp4");
	return 1;
}

/*
 * compressed-tensors pack-quantized: X_packed anchors (X is "....weight"),
 * with X_scale, X_shape, and X_zero_point, X_g_idx when they are there.
 * len is the length of X.
 */
static int rec_ct_packed(const struct ctx *c, size_t i, long len,
			 struct found *f)
{
	const struct tensor *q = T(c, i), *s, *z;
	const char *name = q->name;
	size_t si, shi, zi;
	uint64_t cols;
	unsigned nfit = 0, bits = 0;
	char gran[24];
	char *lname;

	/* M.qweight would make M.weight too: two layouts, neither is sure */
	if (len > 7 && memcmp(name + len - 7, ".weight", 7) == 0 &&
	    exists(c, name, len - 7, ".qweight"))
		return 0;
	if (q->dtype == DT_U8)
		return rec_ct_fp4(c, i, len, f);
	if (q->dtype != DT_I32 || q->ndim != 2 || !int_part(q))
		return 0;
	found_init(f, LK_CT_PACKED);
	si = sibling(c, name, len, "_scale");
	shi = sibling(c, name, len, "_shape");
	if (si == NONE || shi == NONE)
		return 0;
	s = T(c, si);
	if (!float_part(s) || !ct_shape(T(c, shi), q, f, &cols) ||
	    cols / 32 > q->shape[1])
		return 0;
	f->L.rows = q->shape[0];
	f->L.cols = cols;
	for (unsigned b = 2; b <= 8; b *= 2)
		if (ceil_div(cols, 32 / b) == q->shape[1] &&
		    ct_bits_allowed(c, b)) {
			nfit++;
			bits = b;
		}
	if (nfit != 1)
		return 0;	/* no width fits, or the shapes cannot say */
	f->L.bits = bits;
	f->L.pf = 32 / bits;
	f->L.qwords = q->shape[1];
	if (!ct_groups(c, s, f) || !ct_gidx(c, name, len, f))
		return 0;
	zi = sibling(c, name, len, "_zero_point");
	if (zi != NONE) {
		z = T(c, zi);
		/* packed along the output rows, like the codes along the
		 * input columns; per-tensor zero points are not packed */
		if (!int_part(z) || f->L.s_row == 0 || z->dtype != DT_I32 ||
		    z->ndim != 2 ||
		    z->shape[0] != ceil_div(f->L.rows, f->L.pf) ||
		    z->shape[1] != f->L.ngroups)
			return 0;
		f->role[R_ZERO] = zi;
	}
	lname = join(name, len, "");
	if (model_find(c->m, lname)) {
		free(lname);
		return 0;
	}
	f->name = lname;
	f->role[R_Q] = i;
	f->role[R_SCALE] = si;
	f->role[R_SHAPE] = shi;
	snprintf(f->L.scheme, sizeof(f->L.scheme), "ct-int%u%s%s", bits,
		 gran_name(&f->L, gran, sizeof(gran)),
		 zi != NONE ? "-asym" : "");
	return 1;
}

/* compressed-tensors int-quantized / float-quantized: X (int8 or fp8;
 * "....weight") with X_scale, and X_zero_point, X_g_idx when there.  A
 * tensor of more than 2 dimensions is a matrix of shape[0] rows. */
static int rec_ct_plain(const struct ctx *c, size_t i, struct found *f)
{
	const struct tensor *q = T(c, i), *s, *z;
	const char *name = q->name;
	long len = (long)strlen(name);
	size_t si, zi;
	char gran[24];

	if (q->ndim < 1 || !plain_part(q) ||
	    (q->dtype != DT_I8 && q->dtype != DT_F8_E4M3 &&
	     q->dtype != DT_F8_E5M2))
		return 0;
	si = sibling(c, name, len, "_scale");
	if (si == NONE)
		return 0;
	found_init(f, q->dtype == DT_I8 ? LK_CT_INT : LK_CT_FLOAT);
	s = T(c, si);
	if (!float_part(s) || q->shape[0] == 0)
		return 0;
	set_2d(f, q->shape[0], q->params / q->shape[0]);
	f->ndim = q->ndim;
	memcpy(f->shape, q->shape, sizeof(f->shape));
	if (!ct_groups(c, s, f) || !ct_gidx(c, name, len, f))
		return 0;
	zi = sibling(c, name, len, "_zero_point");
	if (zi != NONE) {
		z = T(c, zi);
		/* not packed: one per scale */
		if (f->L.kind != LK_CT_INT || !int_part(z) ||
		    z->params != s->params)
			return 0;
		f->role[R_ZERO] = zi;
	}
	f->name = xstrdup(name);
	f->role[R_Q] = i;
	f->role[R_SCALE] = si;
	snprintf(f->L.scheme, sizeof(f->L.scheme), "ct-%s%s%s",
		 q->dtype == DT_I8 ? "int8" :
		 q->dtype == DT_F8_E4M3 ? "fp8" : "fp8-e5m2",
		 gran_name(&f->L, gran, sizeof(gran)),
		 zi != NONE ? "-asym" : "");
	return 1;
}

/* The bits and group size a GPTQ or AWQ config gives (0 and -2 if not). */
static void gptq_config(const json_t *qc, long long *bits, long long *group)
{
	const json_t *b = json_object_get(qc, "bits"), *g;

	if (!b)
		b = json_object_get(qc, "w_bit");
	g = json_object_get(qc, "group_size");
	if (!g)
		g = json_object_get(qc, "q_group_size");
	*bits = json_is_integer(b) ? (long long)json_integer_value(b) : 0;
	*group = json_is_integer(g) ? (long long)json_integer_value(g) : -2;
}

/* GPTQ and AWQ: X.qweight anchors, with X.qzeros and X.scales. */
static int rec_gptq_awq(const struct ctx *c, size_t i, struct found *f)
{
	const struct tensor *q = T(c, i), *s, *z, *gi = NULL;
	const char *name = q->name;
	long len = strip(name, ".qweight");
	size_t si, zi, gii;
	long long bits, group;
	int awq;
	uint64_t rows, cols, ng;
	const json_t *fmt;
	char *lname;

	if (len < 0 || q->dtype != DT_I32 || q->ndim != 2 || !int_part(q) ||
	    exists(c, name, len, ".weight_packed"))
		return 0;
	si = sibling(c, name, len, ".scales");
	zi = sibling(c, name, len, ".qzeros");
	gii = sibling(c, name, len, ".g_idx");
	if (si == NONE || zi == NONE)
		return 0;
	s = T(c, si);
	z = T(c, zi);
	if (!float_part(s) || s->ndim != 2 || !int_part(z) ||
	    z->dtype != DT_I32 || z->ndim != 2 || s->shape[0] == 0)
		return 0;
	if (gii != NONE) {
		gi = T(c, gii);
		if (!int_part(gi) || gi->ndim != 1)
			return 0;
	}
	gptq_config(c->qc, &bits, &group);
	/* Which of the two: the config says, else the shapes do (GPTQ's
	 * qweight has the output columns unpacked, AWQ's packs them). */
	if (c->qc && method_is(c->qc, "awq"))
		awq = 1;
	else if (c->qc && method_is(c->qc, "gptq"))
		awq = 0;
	else if (q->shape[1] == s->shape[1])
		awq = 0, bits = 0, group = -2;
	else if (s->shape[1] / 8 == q->shape[1] && s->shape[1] % 8 == 0)
		awq = 1, bits = 0, group = -2;
	else
		return 0;
	found_init(f, awq ? LK_AWQ : LK_GPTQ);
	ng = s->shape[0];
	if (awq) {
		if (bits == 0)
			bits = 4;
		if (bits != 4 || gi || !mul_ok(q->shape[1], 8, &cols) ||
		    cols != s->shape[1])
			return 0;
		rows = q->shape[0];	/* the input features */
		if (z->shape[0] != ng || z->shape[1] != q->shape[1])
			return 0;
		f->L.pf = 8;
	} else {
		uint64_t qbits, zw;

		/* qweight has in * bits / 32 rows: with a g_idx of in
		 * entries, the bits follow. */
		if (bits == 0 && gi && gi->params &&
		    mul_ok(q->shape[0], 32, &qbits) &&
		    qbits % gi->params == 0)
			bits = (long long)(qbits / gi->params);
		if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
			return 0;
		/* 3-bit: AutoGPTQ packs 32 codes into 3 words, a code
		 * straddling two of them (FORMATS.md 5.11), so in is a
		 * multiple of 32. */
		f->L.pf = bits == 3 ? 0 : 32 / (unsigned)bits;
		cols = s->shape[1];
		if (bits == 3) {
			zw = cols % 32 ? 0 : cols / 32 * 3;
			if (q->shape[0] % 3 ||
			    !mul_ok(q->shape[0] / 3, 32, &rows))
				return 0;
		} else {
			zw = ceil_div(cols, f->L.pf);
			if (!mul_ok(q->shape[0], f->L.pf, &rows))
				return 0;
		}
		if (q->shape[1] != cols || (gi && gi->params != rows) ||
		    z->shape[0] != ng || !zw || z->shape[1] != zw)
			return 0;
		f->L.zwords = z->shape[1];
		fmt = c->qc ? json_object_get(c->qc, "checkpoint_format") :
			      NULL;
		/* GPTQ v1 stores z - 1; gptq_v2 (GPTQModel) stores z. */
		f->L.zero_v1 = !(json_is_string(fmt) &&
				 strcmp(json_string_value(fmt), "gptq_v2") == 0);
	}
	f->L.bits = (unsigned)bits;
	/* rows counted the input features; the logical weight is [out, in] */
	set_2d(f, cols, rows);
	if (rows == 0 || cols == 0 || ng > rows)
		return 0;
	if (group == -2 || group == 0)	/* not in the config */
		group = (long long)ceil_div(rows, ng);
	else if (group == -1 || (uint64_t)group >= rows)
		group = (long long)rows;	/* one group */
	else if (group < 0)
		return 0;
	if (ceil_div(rows, (uint64_t)group) != ng)
		return 0;
	f->L.group = (uint64_t)group;
	f->L.ngroups = ng;
	f->L.s_row = 1;
	f->L.s_grp = cols;
	lname = join(name, len, ".weight");
	if (model_find(c->m, lname)) {
		free(lname);
		return 0;
	}
	f->name = lname;
	f->role[R_Q] = i;
	f->role[R_SCALE] = si;
	f->role[R_ZERO] = zi;
	f->role[R_GIDX] = gii;
	if (ng == 1)
		snprintf(f->L.scheme, sizeof(f->L.scheme), "%s-int%u-ch",
			 awq ? "awq" : "gptq", f->L.bits);
	else
		snprintf(f->L.scheme, sizeof(f->L.scheme), "%s-int%u-g%llu",
			 awq ? "awq" : "gptq", f->L.bits,
			 (unsigned long long)f->L.group);
	return 1;
}

/* Fill dst[0..n) from a float part of exactly n elements. */
static int read_table(const struct tensor *p, float *dst, uint64_t n)
{
	if (!float_part(p) || p->params != n)
		return 0;
	for (uint64_t k = 0; k < n; k++)
		dst[k] = part_float(p, k);
	return 1;
}

/* bitsandbytes' quant_state: the JSON fields of a 4-bit weight. */
static int bnb_state(const struct tensor *st, const char *type,
		     struct found *f)
{
	json_t *j, *v, *shape;
	json_error_t je;
	uint64_t numel = 1;
	long long bs;
	size_t k;
	int ok = 0;

	if (!plain_part(st) || (st->dtype != DT_U8 && st->dtype != DT_I8) ||
	    st->nbytes > LAYOUT_MAX_STATE)
		return 0;
	j = json_loadb((const char *)st->data, (size_t)st->nbytes, 0, &je);
	if (!json_is_object(j))
		goto out;
	v = json_object_get(j, "quant_type");
	if (v && (!json_is_string(v) ||
		  strcmp(json_string_value(v), type) != 0))
		goto out;
	bs = json_nonneg(json_object_get(j, "blocksize"));
	shape = json_object_get(j, "shape");
	if (bs <= 0 || bs > LAYOUT_MAX_BLOCK || !json_is_array(shape) ||
	    json_array_size(shape) > MODEL_MAX_DIMS)
		goto out;
	json_array_foreach(shape, k, v) {
		long long d = json_nonneg(v);

		if (d < 0 || !mul_ok(numel, (uint64_t)d, &numel))
			goto out;
		f->shape[k] = (uint64_t)d;
	}
	f->ndim = (int)json_array_size(shape);
	if (numel == 0)
		goto out;
	f->L.numel = numel;
	f->L.block = (uint64_t)bs;
	f->L.nblocks = ceil_div(numel, (uint64_t)bs);
	v = json_object_get(j, "nested_blocksize");
	if (v) {
		long long nb = json_nonneg(v);
		const json_t *off = json_object_get(j, "nested_offset");

		if (nb <= 0 || nb > LAYOUT_MAX_BLOCK || !json_is_number(off))
			goto out;
		f->L.dq = 1;
		f->L.nested_block = (uint64_t)nb;
		f->L.nested_offset = (float)json_number_value(off);
	}
	ok = 1;
out:
	json_decref(j);
	return ok;
}

/* bitsandbytes 4-bit: X.weight with X.weight.quant_state.bitsandbytes__nf4
 * (or __fp4), X.weight.absmax, X.weight.quant_map, and with double
 * quantization X.weight.nested_absmax and X.weight.nested_quant_map. */
static int rec_bnb4(const struct ctx *c, size_t i, struct found *f)
{
	const struct tensor *q = T(c, i), *a;
	const char *name = q->name, *type = "nf4";
	long len = (long)strlen(name);
	size_t sti, ai, mi, nai = NONE, nmi = NONE;

	sti = sibling(c, name, len, ".quant_state.bitsandbytes__nf4");
	if (sti == NONE) {
		sti = sibling(c, name, len, ".quant_state.bitsandbytes__fp4");
		type = "fp4";
	}
	if (sti == NONE)
		return 0;
	found_init(f, LK_BNB4);
	ai = sibling(c, name, len, ".absmax");
	mi = sibling(c, name, len, ".quant_map");
	if (ai == NONE || mi == NONE || !plain_part(q) ||
	    !bnb_state(T(c, sti), type, f) ||
	    q->nbytes != f->L.numel / 2 + f->L.numel % 2 ||
	    !read_table(T(c, mi), f->L.qmap, 16))
		return 0;
	a = T(c, ai);
	if (a->params != f->L.nblocks || !plain_part(a))
		return 0;
	if (f->L.dq) {
		nai = sibling(c, name, len, ".nested_absmax");
		nmi = sibling(c, name, len, ".nested_quant_map");
		if (nai == NONE || nmi == NONE || a->dtype != DT_U8 ||
		    !float_part(T(c, nai)) ||
		    T(c, nai)->params !=
			    ceil_div(f->L.nblocks, f->L.nested_block) ||
		    !read_table(T(c, nmi), f->L.nmap, 256))
			return 0;
	} else if (!float_part(a)) {
		return 0;
	}
	f->name = xstrdup(name);
	f->params = f->L.numel;
	f->role[R_Q] = i;
	f->role[R_STATE] = sti;
	f->role[R_ABSMAX] = ai;
	f->role[R_QMAP] = mi;
	f->role[R_NABSMAX] = nai;
	f->role[R_NQMAP] = nmi;
	snprintf(f->L.scheme, sizeof(f->L.scheme), "bnb-%s%s", type,
		 f->L.dq ? "-dq" : "");
	if (f->L.block != 64)
		snprintf(f->L.scheme + strlen(f->L.scheme),
			 sizeof(f->L.scheme) - strlen(f->L.scheme), "-b%llu",
			 (unsigned long long)f->L.block);
	return 1;
}

/* bitsandbytes LLM.int8(): X.weight (int8) with X.SCB, one scale a row. */
static int rec_bnb8(const struct ctx *c, size_t i, long len, struct found *f)
{
	const struct tensor *q = T(c, i);
	size_t si, fi;

	if (q->dtype != DT_I8 || q->ndim != 2 || !plain_part(q))
		return 0;
	si = sibling(c, q->name, len, ".SCB");
	if (si == NONE || !float_part(T(c, si)) ||
	    T(c, si)->params != q->shape[0])
		return 0;
	found_init(f, LK_BNB8);
	set_2d(f, q->shape[0], q->shape[1]);
	fi = sibling(c, q->name, (long)strlen(q->name), "_format");
	if (fi != NONE && T(c, fi)->params > 1)
		fi = NONE;	/* not the one-byte layout flag */
	f->name = xstrdup(q->name);
	f->role[R_Q] = i;
	f->role[R_SCALE] = si;
	f->role[R_FORMAT] = fi;
	snprintf(f->L.scheme, sizeof(f->L.scheme), "bnb-int8");
	return 1;
}

static int recognise(const struct ctx *c, size_t i, struct found *f)
{
	const char *name = T(c, i)->name;
	long len;

	len = strip(name, "_packed");
	if (len >= 0)
		return rec_ct_packed(c, i, len, f);
	if (strip(name, ".qweight") >= 0)
		return rec_gptq_awq(c, i, f);
	if (rec_bnb4(c, i, f))
		return 1;
	len = strip(name, ".weight");
	return (len >= 0 && rec_bnb8(c, i, len, f)) || rec_ct_plain(c, i, f);
}

/* config.json's quantization_config, if the model has one. */
static const json_t *quant_config(const struct model *m)
{
	for (size_t i = 0; i < m->nmeta; i++) {
		const json_t *qc;

		if (strcmp(m->meta[i].key, "config.json") != 0)
			continue;
		qc = json_object_get(m->meta[i].value, "quantization_config");
		if (json_is_object(qc))
			return qc;
	}
	return NULL;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* Make f (parts taken from old[]) into the logical tensor lt. */
static void make_logical(const struct tensor *old, struct found *f,
			 struct tensor *lt)
{
	size_t idx[R_COUNT], n = 0;
	struct layout *L = xmalloc(sizeof(*L));

	for (int r = 0; r < R_COUNT; r++)
		if (f->role[r] != NONE)
			idx[n++] = f->role[r];
	qsort(idx, n, sizeof(idx[0]), cmp_size);
	memset(lt, 0, sizeof(*lt));
	lt->name = f->name;
	lt->dtype = DT_F32;
	lt->ndim = f->ndim;
	memcpy(lt->shape, f->shape, sizeof(lt->shape));
	lt->params = f->params;		/* found_params() checked it */
	lt->parts = xcalloc(n, sizeof(*lt->parts));
	lt->nparts = n;
	*L = f->L;
	for (int r = 0; r < R_COUNT; r++)
		L->part[r] = -1;
	for (size_t k = 0; k < n; k++) {
		lt->parts[k] = old[idx[k]];
		lt->nbytes += old[idx[k]].nbytes;
		for (int r = 0; r < R_COUNT; r++)
			if (f->role[r] == idx[k])
				L->part[r] = (int)k;
	}
	lt->src = lt->parts[0].src;
	lt->data = NULL;
	lt->layout = L;
	lt->scheme = L->scheme;
}

/* The logical shape's element count, checked (2-D layouts set it here). */
static int found_params(struct found *f)
{
	uint64_t n = 1;

	for (int d = 0; d < f->ndim; d++)
		if (!mul_ok(n, f->shape[d], &n))
			return 0;
	f->params = n;
	return n > 0;
}

size_t layouts_apply(struct model *m)
{
	size_t n = m->ntensors, nf = 0, af = 0, k = 0, nparts = 0;
	size_t *owner, *first;
	struct found *fs = NULL;
	struct tensor *nt;
	struct ctx c;

	if (!n)
		return 0;
	owner = xmalloc(n * sizeof(*owner));
	for (size_t i = 0; i < n; i++)
		owner[i] = NONE;
	c.m = m;
	c.owner = owner;
	c.qc = quant_config(m);
	for (size_t i = 0; i < n; i++) {
		struct found f;
		int free_parts = 1;

		f.name = NULL;

		if (owner[i] != NONE || m->tensors[i].layout)
			continue;
		if (!recognise(&c, i, &f) || !found_params(&f)) {
			free(f.name);
			continue;
		}
		for (int r = 0; r < R_COUNT; r++)
			if (f.role[r] != NONE && owner[f.role[r]] != NONE)
				free_parts = 0;
		if (!free_parts) {
			free(f.name);
			continue;
		}
		if (nf == af) {
			af = af ? 2 * af : 16;
			fs = xrealloc(fs, af * sizeof(*fs));
		}
		for (int r = 0; r < R_COUNT; r++)
			if (f.role[r] != NONE) {
				owner[f.role[r]] = nf;
				nparts++;
			}
		fs[nf++] = f;
	}
	if (!nf) {
		free(owner);
		return 0;
	}
	/* Each logical tensor takes the place of its first part. */
	first = xmalloc(nf * sizeof(*first));
	for (size_t g = 0; g < nf; g++)
		first[g] = NONE;
	for (size_t i = 0; i < n; i++)
		if (owner[i] != NONE && first[owner[i]] == NONE)
			first[owner[i]] = i;
	nt = xcalloc(n - nparts + nf, sizeof(*nt));
	for (size_t i = 0; i < n; i++) {
		if (owner[i] == NONE)
			nt[k++] = m->tensors[i];
		else if (first[owner[i]] == i)
			make_logical(m->tensors, &fs[owner[i]], &nt[k++]);
	}
	free(m->tensors);
	m->tensors = nt;
	m->ntensors = k;
	m->tensors_alloc = n - nparts + nf;
	free(first);
	free(fs);
	free(owner);
	return nf;
}

void layout_release(struct tensor *t)
{
	for (size_t k = 0; k < t->nparts; k++)
		free(t->parts[k].name);
	free(t->parts);
	free(t->layout);
	t->parts = NULL;
	t->nparts = 0;
	t->layout = NULL;
	t->scheme = NULL;
}

/* ---- decoding ---- */

static const struct tensor *P(const struct tensor *t, const struct layout *L,
			      enum layout_role r)
{
	return L->part[r] >= 0 ? &t->parts[L->part[r]] : NULL;
}

/* Bits [p, p + b) (b <= 8) of the little-endian bit stream made of the
 * words base, base + stride, base + 2 * stride ... of q: GPTQ's codes and
 * zeros, where code k of a run sits at bit k * b (a 3-bit code may
 * straddle two words; the shapes checked keep both inside q). */
static uint32_t stream_bits(const struct tensor *q, uint64_t base,
			    uint64_t stride, uint64_t p, unsigned b)
{
	uint64_t r = p / 32;
	unsigned sh = (unsigned)(p % 32);
	uint32_t v = part_word(q, base + r * stride) >> sh;

	if (sh + b > 32)
		v |= part_word(q, base + (r + 1) * stride) << (32 - sh);
	return v & ((1u << b) - 1);
}

/* The code at [o, i] of the weight, as a float (exact for integers). */
static float code_at(const struct layout *L, const struct tensor *q,
		     uint64_t o, uint64_t i)
{
	uint32_t w, mask = (1u << L->bits) - 1;

	switch (L->kind) {
	case LK_CT_PACKED:
		w = part_word(q, o * L->qwords + i / L->pf);
		return (float)((int)((w >> (L->bits * (i % L->pf))) & mask) -
			       (1 << (L->bits - 1)));
	case LK_CT_INT:
		return (float)part_int(q, o * L->cols + i);
	case LK_CT_FLOAT:
		return part_float(q, o * L->cols + i);
	case LK_GPTQ:	/* [in * bits / 32, out], packed along the input */
		return (float)stream_bits(q, o, L->rows, i * L->bits,
					  L->bits);
	case LK_AWQ:	/* [in, out / 8], packed along the output */
		w = part_word(q, i * (L->rows / 8) + o / 8);
		return (float)((w >> (4 * awq_nibble[o % 8])) & 15);
	default:
		return 0;
	}
}

/* The zero point of output row o in group g. */
static float zero_at(const struct layout *L, const struct tensor *z,
		     uint64_t o, uint64_t g)
{
	uint32_t w, mask = (1u << L->bits) - 1;

	if (!z)
		return 0;
	switch (L->kind) {
	case LK_CT_PACKED:	/* [ceil(out / pf), groups], offset binary */
		w = part_word(z, o / L->pf * L->ngroups + g);
		return (float)((int)((w >> (L->bits * (o % L->pf))) & mask) -
			       (1 << (L->bits - 1)));
	case LK_CT_INT:
		return (float)part_int(z, o * L->s_row + g * L->s_grp);
	case LK_GPTQ:	/* [groups, out * bits / 32], along the output */
		w = stream_bits(z, g * L->zwords, 1, o * L->bits, L->bits);
		return (float)(L->zero_v1 ? (w + 1) & mask : w);
	case LK_AWQ:
		w = part_word(z, g * (L->rows / 8) + o / 8);
		return (float)((w >> (4 * awq_nibble[o % 8])) & 15);
	default:
		return 0;
	}
}

/* compressed-tensors, GPTQ, AWQ: x = (q - z) * s of the element's group. */
static int read_grouped(const struct tensor *t, const struct layout *L,
			uint64_t first, size_t n, float *out, struct err *e)
{
	const struct tensor *q = P(t, L, R_Q), *s = P(t, L, R_SCALE);
	const struct tensor *z = P(t, L, R_ZERO), *gi = P(t, L, R_GIDX);
	uint64_t o = first / L->cols, i = first % L->cols;
	uint64_t last_o = UINT64_MAX, last_g = UINT64_MAX;
	float sc = 0, zc = 0;

	for (size_t k = 0; k < n; k++) {
		uint64_t g = 0;

		if (gi) {
			int64_t v = part_int(gi, i);

			if (v < 0 || (uint64_t)v >= L->ngroups) {
				err_set(e, "tensor '%s': %s[%llu] = %lld is not one of its %llu groups",
					t->name, gi->name,
					(unsigned long long)i, (long long)v,
					(unsigned long long)L->ngroups);
				return -1;
			}
			g = (uint64_t)v;
		} else if (L->group) {
			g = i / L->group;
		}
		if (o != last_o || g != last_g) {
			sc = part_float(s, o * L->s_row + g * L->s_grp);
			zc = zero_at(L, z, o, g);
			last_o = o;
			last_g = g;
		}
		out[k] = (code_at(L, q, o, i) - zc) * sc;
		if (++i == L->cols) {
			i = 0;
			o++;
		}
	}
	return 0;
}

/* compressed-tensors MXFP4 / NVFP4: x = e2m1(code) * scale of its block
 * (NVFP4: divided by the global scale). */
static void read_fp4(const struct tensor *t, const struct layout *L,
		     uint64_t first, size_t n, float *out)
{
	const struct tensor *q = P(t, L, R_Q), *s = P(t, L, R_SCALE);
	const struct tensor *gs = P(t, L, R_GSCALE);
	uint64_t o = first / L->cols, i = first % L->cols;
	float g = gs ? part_float(gs, 0) : 1;

	for (size_t k = 0; k < n; k++) {
		unsigned char byte = q->data[o * q->shape[1] + i / 2];
		unsigned char sb = s->data[o * L->s_row + i / L->group];
		float x = e2m1_to_f32(i % 2 ? byte >> 4 : byte & 15);

		if (L->kind == LK_CT_MXFP4)
			out[k] = x * e8m0_to_f32(sb);
		else
			out[k] = x * fp8_e4m3_to_f32(sb) / g;
		if (++i == L->cols) {
			i = 0;
			o++;
		}
	}
}

/* bitsandbytes 4-bit: x = quant_map[code] * absmax[block]. */
static void read_bnb4(const struct tensor *t, const struct layout *L,
		      uint64_t first, size_t n, float *out)
{
	const struct tensor *q = P(t, L, R_Q), *a = P(t, L, R_ABSMAX);
	const struct tensor *na = P(t, L, R_NABSMAX);
	uint64_t last_b = UINT64_MAX;
	float am = 0;

	for (size_t k = 0; k < n; k++) {
		uint64_t x = first + k, b = x / L->block;
		unsigned char byte = q->data[x / 2];
		unsigned code = x % 2 ? byte & 15 : byte >> 4;

		if (b != last_b) {
			if (L->dq) {
				/* nested_quant_map[code] * nested_absmax + offset,
				 * in float32 as bitsandbytes computes it */
				float v = L->nmap[a->data[b]];

				v *= part_float(na, b / L->nested_block);
				am = v + L->nested_offset;
			} else {
				am = part_float(a, b);
			}
			last_b = b;
		}
		out[k] = L->qmap[code] * am;
	}
}

/* bitsandbytes LLM.int8(): x = q * SCB[row] / 127. */
static void read_bnb8(const struct tensor *t, const struct layout *L,
		      uint64_t first, size_t n, float *out)
{
	const struct tensor *q = P(t, L, R_Q), *s = P(t, L, R_SCALE);
	uint64_t o = first / L->cols, i = first % L->cols;
	float sc = part_float(s, o);

	for (size_t k = 0; k < n; k++) {
		out[k] = (float)(int8_t)q->data[o * L->cols + i] * sc / 127.0f;
		if (++i == L->cols && k + 1 < n) {
			i = 0;
			sc = part_float(s, ++o);
		}
	}
}

int layout_read_f32(const struct tensor *t, uint64_t first, size_t n,
		    float *out, struct err *e)
{
	const struct layout *L = t->layout;

	switch (L->kind) {
	case LK_BNB4:
		read_bnb4(t, L, first, n, out);
		return 0;
	case LK_BNB8:
		read_bnb8(t, L, first, n, out);
		return 0;
	case LK_CT_MXFP4:
	case LK_CT_NVFP4:
		read_fp4(t, L, first, n, out);
		return 0;
	default:
		return read_grouped(t, L, first, n, out, e);
	}
}
