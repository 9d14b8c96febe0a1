/*
 * quant/grid.c - representable values of each scheme, and the streamed
 * before/after comparison of one tensor (quant/grid.h).
 *
 * The block rules follow the kernels' own formulas (quant/intq.c,
 * quant/floatq.c) without their final roundings (a scale stored as f16,
 * nf4-dq's 8-bit absmax): a value's level is found by rounding to the
 * nearest one, which such small differences do not move.  GGUF blocks
 * carry their scales, and k-quants search for them, so while comparing,
 * those are read back from the quantized blocks (FORMATS.md 2.5) instead.
 */
#include "quant/grid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/dtype.h"

/* Blocks whose scale is kept for the median; past it, every k-th. */
#define MAX_BLOCKS ((uint64_t)1 << 22)

/* ---- levels of each scheme ---- */

enum table { T_INT, T_NF4, T_FP4, T_E2M1, T_E4M3, T_E5M2 };

static const struct grid_row {
	const char *name;
	enum grid_kind kind;
	enum grid_rule rule;
	uint64_t block;		/* 0: outer row; UINT64_MAX: tensor */
	double div;
	enum table table;
	int lo, hi;		/* T_INT: the integer codes lo..hi */
	int zero_min, estimated;
	double limit;
} rows[] = {
#define LIM(name, lim) { name, GRID_LIMIT, GRID_R_NONE, 0, 0, T_INT, 0, 0, \
			 0, 0, lim }
#define LEV(name, rule, block, div, table, lo, hi, zm, est)		\
	{ name, GRID_LEVELS, rule, block, div, table, lo, hi, zm, est, 0 }
	{ "f32", GRID_NONE, GRID_R_NONE, 0, 0, T_INT, 0, 0, 0, 0, 0 },
	/* (2 - 2^-10) * 2^127, (2 - 2^-7) * 2^127 */
	LIM("tf32", 3.4011621342146535e38),
	LIM("f16", GRID_F16_MAX),
	LIM("bf16", 3.3895313892515355e38),
	LEV("fp8-e4m3", GRID_R_TENSOR, UINT64_MAX, 448, T_E4M3, 0, 0, 0, 0),
	LEV("fp8-e5m2", GRID_R_TENSOR, UINT64_MAX, 57344, T_E5M2, 0, 0, 0, 0),
	LEV("int8", GRID_R_ABSMAX, 0, 127, T_INT, -127, 127, 0, 0),
	LEV("int8-tensor", GRID_R_TENSOR, UINT64_MAX, 127, T_INT, -127, 127,
	    0, 0),
	LEV("int4-g128", GRID_R_ABSMAX, 128, 7, T_INT, -8, 7, 0, 0),
	LEV("int4-g128-asym", GRID_R_ZERO, 128, 15, T_INT, 0, 15, 0, 0),
	LEV("nf4", GRID_R_ABSMAX, 64, 1, T_NF4, 0, 0, 0, 0),
	LEV("nf4-dq", GRID_R_ABSMAX, 64, 1, T_NF4, 0, 0, 0, 0),
	LEV("fp4", GRID_R_ABSMAX, 64, 1, T_FP4, 0, 0, 0, 0),
	LEV("mxfp4", GRID_R_MX, 32, 0, T_E2M1, 0, 0, 0, 0),
	LEV("q8_0", GRID_R_ABSMAX, 32, 127, T_INT, -127, 127, 0, 0),
	LEV("q4_0", GRID_R_SIGNED, 32, 8, T_INT, -8, 7, 0, 0),
	LEV("q4_1", GRID_R_MINMAX, 32, 15, T_INT, 0, 15, 0, 0),
	LEV("q5_0", GRID_R_SIGNED, 32, 16, T_INT, -16, 15, 0, 0),
	LEV("q5_1", GRID_R_MINMAX, 32, 31, T_INT, 0, 31, 0, 0),
	/* k-quants: per sub-block d * sc (and a min dmin * m); the rule
	 * here is ggml's first guess, before its search for a better one */
	LEV("q2_k", GRID_R_MINMAX, 16, 3, T_INT, 0, 3, 1, 1),
	LEV("q3_k", GRID_R_SIGNED, 16, 4, T_INT, -4, 3, 0, 1),
	LEV("q4_k", GRID_R_MINMAX, 32, 15, T_INT, 0, 15, 1, 1),
	LEV("q5_k", GRID_R_MINMAX, 32, 31, T_INT, 0, 31, 1, 1),
	LEV("q6_k", GRID_R_SIGNED, 16, 32, T_INT, -32, 31, 0, 1),
	LEV("ternary", GRID_R_MEAN, UINT64_MAX, 0, T_INT, -1, 1, 0, 0),
	LEV("binary", GRID_R_ROWMEAN, 0, 0, T_INT, -1, 1, 0, 0),
#undef LIM
#undef LEV
};

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

/* Sort g's codes and drop repeats (-0 and +0 are one level). */
static void codes_settle(struct grid *g)
{
	unsigned k = 0;

	qsort(g->code, g->n, sizeof(float), cmp_float);
	for (unsigned i = 0; i < g->n; i++)
		if (k == 0 || g->code[i] != g->code[k - 1])
			g->code[k++] = g->code[i] == 0 ? 0.0f : g->code[i];
	g->n = k;
}

/* Every finite value of a one-byte float format. */
static void codes_fp8(struct grid *g, enum dtype d)
{
	const struct dtype_info *di = dtype_get(d);

	g->n = 0;
	for (unsigned b = 0; b < 256; b++) {
		unsigned char c = (unsigned char)b;
		float v;

		di->decode(&c, &v, 1);
		if (isfinite(v))
			g->code[g->n++] = v;
	}
}

static void codes_e2m1(struct grid *g)
{
	static const float mag[8] = { 0, 0.5f, 1, 1.5f, 2, 3, 4, 6 };

	g->n = 0;
	for (int i = 0; i < 8; i++) {
		g->code[g->n++] = mag[i];
		g->code[g->n++] = -mag[i];
	}
}

int grid_init(struct grid *g, const struct scheme *s)
{
	const struct grid_row *r = NULL;

	memset(g, 0, sizeof(*g));
	for (size_t i = 0; s && i < sizeof(rows) / sizeof(rows[0]); i++)
		if (strcmp(rows[i].name, s->name) == 0)
			r = &rows[i];
	if (!r)
		return -1;
	g->kind = r->kind;
	g->rule = r->rule;
	g->limit = r->limit;
	g->block = r->block;
	g->div = r->div;
	g->zero_min = r->zero_min;
	g->estimated = r->estimated;
	if (g->kind != GRID_LEVELS)
		return 0;
	switch (r->table) {
	case T_INT:
		if (r->rule == GRID_R_ROWMEAN) {	/* binary: no zero */
			g->code[g->n++] = -1;
			g->code[g->n++] = 1;
			break;
		}
		for (int q = r->lo; q <= r->hi; q++)
			g->code[g->n++] = (float)q;
		break;
	case T_NF4:
		memcpy(g->code, fq_nf4_code, sizeof(fq_nf4_code));
		g->n = 16;
		break;
	case T_FP4:
		memcpy(g->code, fq_fp4_code, sizeof(fq_fp4_code));
		g->n = 16;
		break;
	case T_E2M1:
		codes_e2m1(g);
		break;
	case T_E4M3:
		codes_fp8(g, DT_F8_E4M3);
		break;
	case T_E5M2:
		codes_fp8(g, DT_F8_E5M2);
		break;
	}
	codes_settle(g);
	return 0;
}

/* ---- a block's scale ---- */

struct span {
	float absmax, min, max, ext;	/* ext: the largest-|x| value */
	double abssum;
	uint64_t n;			/* finite values */
};

static void span_of(const float *x, size_t n, struct span *sp)
{
	memset(sp, 0, sizeof(*sp));
	for (size_t i = 0; i < n; i++) {
		float a = fabsf(x[i]);

		if (!isfinite(x[i]))
			continue;
		if (sp->n == 0 || x[i] < sp->min)
			sp->min = x[i];
		if (sp->n == 0 || x[i] > sp->max)
			sp->max = x[i];
		if (a > sp->absmax) {	/* strict: the first one wins */
			sp->absmax = a;
			sp->ext = x[i];
		}
		sp->abssum += a;
		sp->n++;
	}
}

void grid_block(const struct grid *g, const struct scheme_ctx *c,
		const float *x, size_t n, float *scale, float *off)
{
	struct span sp;
	float s = 0, o = 0;

	if (g->rule == GRID_R_TENSOR) {
		s = c->absmax / (float)g->div;
		/* FP8 (fp8_scale()) takes 1 for an empty or overflowing
		 * scale; int8-tensor keeps 0, which makes every code 0 */
		if (!(s > 0 && s <= 3.4028234663852886e38f) && g->div != 127)
			s = 1;
		*scale = s;
		*off = 0;
		return;
	}
	if (g->rule == GRID_R_MEAN) {
		*scale = c->mean;
		*off = 0;
		return;
	}
	span_of(x, n, &sp);
	switch (g->rule) {
	case GRID_R_ABSMAX:
		s = sp.absmax / (float)g->div;
		break;
	case GRID_R_SIGNED:
		s = sp.ext / -(float)g->div;
		break;
	case GRID_R_MINMAX:
		o = g->zero_min && sp.min > 0 ? 0 : sp.min;
		s = (sp.max - o) / (float)g->div;
		break;
	case GRID_R_ZERO:
		s = (sp.max - sp.min) / (float)g->div;
		if (s > 0) {
			float z = rintf(-sp.min / s);

			z = z < 0 ? 0 : z > (float)g->div ? (float)g->div : z;
			o = -z * s;
		}
		break;
	case GRID_R_MX:
		if (sp.absmax > 0) {
			int e = ilogbf(sp.absmax) - 2;

			s = ldexpf(1, e < -127 ? -127 : e);
		} else {
			s = ldexpf(1, -127);
		}
		break;
	case GRID_R_ROWMEAN:
		s = sp.n ? (float)(sp.abssum / (double)sp.n) : 0;
		break;
	default:
		break;
	}
	*scale = s;
	*off = o;
}

unsigned grid_nearest(const struct grid *g, float v)
{
	unsigned lo = 0, hi = g->n ? g->n - 1 : 0;

	if (g->n == 0 || v <= g->code[0])
		return 0;
	if (v >= g->code[hi])
		return hi;
	/* code[lo] < v < code[hi]: narrow to neighbours */
	while (hi - lo > 1) {
		unsigned mid = lo + (hi - lo) / 2;

		if (g->code[mid] <= v)
			lo = mid;
		else
			hi = mid;
	}
	return v - g->code[lo] <= g->code[hi] - v ? lo : hi;
}

/* ---- columns of a plot ---- */

void grid_columns(const struct histogram *h, double *col, int width)
{
	for (int c = 0; c < width; c++) {
		unsigned b0 = (unsigned)((uint64_t)c * h->nbins /
					 (unsigned)width);
		unsigned b1 = (unsigned)((uint64_t)(c + 1) * h->nbins /
					 (unsigned)width);

		col[c] = 0;
		if (b1 <= b0)
			b1 = b0 + 1;	/* more columns than bins */
		for (unsigned k = b0; k < b1 && k < h->nbins; k++)
			col[c] += (double)h->counts[k];
	}
}

int grid_column(double lo, double hi, int width, double v)
{
	struct histogram h = { lo, hi, width > 0 ? (unsigned)width : 1, NULL,
			       0, 0 };

	if (lo == hi)
		return v == lo ? 0 : -1;
	return hist_bin(&h, v);
}

/* ---- the streamed comparison ---- */

/* Per chunk: what pass 1 found. */
struct pass1 {
	struct scheme_pre pre;
	float min, max;
	uint64_t finite, over;
};

/* Per thread. */
struct tstate {
	struct histogram x, y, e;
	double emin, emax;
	uint64_t used[GRID_MAX];
};

struct cjob {
	const struct scheme *s;
	struct scheme_ctx c;
	struct grid *g;
	chunk_read_fn *read;
	void *arg;
	size_t piece;
	uint64_t block;		/* elements per block; 0 one per tensor */
	uint64_t stride;	/* every stride-th block is kept */
	struct pass1 *p1;	/* per chunk */
	struct err_acc *acc;	/* per chunk */
	struct tstate *ts;	/* per thread */
	float *scales, *offs;	/* per kept block */
};

static size_t piece_len(const struct cjob *j, const struct compute_chunk *ch,
			size_t off)
{
	return ch->n - off < j->piece ? ch->n - off : j->piece;
}

static int pass1_work(void *arg, const struct compute_chunk *ch)
{
	struct cjob *j = arg;
	float *x = ch->scratch;
	struct pass1 p;

	memset(&p, 0, sizeof(p));
	scheme_pre_init(&p.pre);
	for (size_t off = 0; off < ch->n; off += j->piece) {
		size_t n = piece_len(j, ch, off);

		if (j->read(j->arg, ch->first + off, n, x))
			return -1;
		/* the prepass sees the same pieces as in scheme_error() */
		if (j->s->prepass)
			j->s->prepass(&j->c, &p.pre, ch->first + off, x, n);
		for (size_t i = 0; i < n; i++) {
			if (!isfinite(x[i]))
				continue;
			if (p.finite == 0 || x[i] < p.min)
				p.min = x[i];
			if (p.finite == 0 || x[i] > p.max)
				p.max = x[i];
			p.finite++;
			p.over += fabsf(x[i]) >= GRID_F16_INF;
		}
	}
	j->p1[ch->index] = p;
	return 0;
}

/* ---- GGUF blocks: the scales they store ---- */

static float le_f16(const unsigned char *p)
{
	return f16_to_f32((uint16_t)(p[0] | p[1] << 8));
}

/* Sub-block j's 6-bit scale and min of a Q4_K or Q5_K block (FORMATS.md
 * 2.5.6, get_scale_min_k4). */
static void k4_scale_min(int j, const unsigned char *s, unsigned *sc,
			 unsigned *m)
{
	if (j < 4) {
		*sc = s[j] & 63;
		*m = s[j + 4] & 63;
	} else {
		*sc = (s[j + 4] & 0xf) | (s[j - 4] >> 6) << 4;
		*m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
	}
}

/*
 * The sub-blocks of GGUF block b of type t: value = off[k] + scale[k] *
 * code, with the codes of the grid's row (q - 8 for Q4_0, L for Q4_K...).
 * Returns how many sub-blocks (each block / that many values); 0 for a
 * type unknown here.
 */
static unsigned gguf_subs(enum dtype t, const unsigned char *b, float *scale,
			  float *off)
{
	float d, dmin;

	switch (t) {
	case DT_Q8_0: case DT_Q4_0: case DT_Q5_0:
		scale[0] = le_f16(b);
		off[0] = 0;
		return 1;
	case DT_Q4_1: case DT_Q5_1:
		scale[0] = le_f16(b);
		off[0] = le_f16(b + 2);
		return 1;
	case DT_Q2_K:		/* scales[16] qs[64] d dmin */
		d = le_f16(b + 80);
		dmin = le_f16(b + 82);
		for (int k = 0; k < 16; k++) {
			scale[k] = d * (float)(b[k] & 0xf);
			off[k] = -dmin * (float)(b[k] >> 4);
		}
		return 16;
	case DT_Q3_K:		/* hmask[32] qs[64] scales[12] d */
		d = le_f16(b + 108);
		for (int k = 0; k < 16; k++) {
			const unsigned char *s = b + 96;
			int lo = k < 8 ? s[k] & 0xf : s[k - 8] >> 4;
			int hi = (s[8 + k % 4] >> (2 * (k / 4))) & 3;

			scale[k] = d * (float)((lo | hi << 4) - 32);
			off[k] = 0;
		}
		return 16;
	case DT_Q4_K: case DT_Q5_K:	/* d dmin scales[12] ... */
		d = le_f16(b);
		dmin = le_f16(b + 2);
		for (int k = 0; k < 8; k++) {
			unsigned sc, m;

			k4_scale_min(k, b + 4, &sc, &m);
			scale[k] = d * (float)sc;
			off[k] = -dmin * (float)m;
		}
		return 8;
	case DT_Q6_K:		/* ql[128] qh[64] scales[16] d */
		d = le_f16(b + 208);
		for (int k = 0; k < 16; k++) {
			scale[k] = d * (float)(signed char)b[192 + k];
			off[k] = 0;
		}
		return 16;
	default:
		return 0;
	}
}

/* Keep the scale of the block that starts at element first. */
static void keep_scale(struct cjob *j, uint64_t first, float s, float o)
{
	uint64_t b;

	if (!j->block)
		return;
	b = first / j->block;
	if (b % j->stride)
		return;
	j->scales[b / j->stride] = fabsf(s);
	j->offs[b / j->stride] = j->g->rule == GRID_R_ZERO && s > 0 ? o / s : o;
}

/* Count the levels the values y take at scale s and offset o. */
static void count_levels(struct cjob *j, struct tstate *t, const float *x,
			 const float *y, size_t n, float s, float o)
{
	for (size_t i = 0; i < n; i++) {
		float v = s != 0 ? (y[i] - o) / s : 0;

		if (isfinite(y[i]) && isfinite(x[i]))
			t->used[grid_nearest(j->g, v)]++;
	}
}

/* Levels taken by the values y of one block of values x. */
static void block_levels(struct cjob *j, struct tstate *t, uint64_t first,
			 const float *x, const float *y, size_t n)
{
	float s, o;

	grid_block(j->g, &j->c, x, n, &s, &o);
	if (j->block)
		keep_scale(j, first, s, o);
	count_levels(j, t, x, y, n, s, o);
}

/* The same for a piece of GGUF blocks q, from the scales they hold. */
static void gguf_levels(struct cjob *j, struct tstate *t, uint64_t first,
			const float *x, const float *y, size_t n,
			const unsigned char *q)
{
	const struct dtype_info *di = dtype_get(j->s->ggml);
	float sc[16], of[16];

	for (size_t b = 0; b * di->block < n; b++) {
		unsigned ns = gguf_subs(j->s->ggml, q + b * di->block_bytes,
					sc, of);
		size_t sub = ns ? di->block / ns : 0;

		for (unsigned k = 0; k < ns; k++) {
			size_t i = b * di->block + k * sub;

			keep_scale(j, first + i, sc[k], of[k]);
			count_levels(j, t, x + i, y + i, sub, sc[k], of[k]);
		}
	}
}

/* Quantize and dequantize one piece: x read, y filled; clipped values
 * returned. */
static uint64_t piece_qdq(struct cjob *j, uint64_t first, const float *x,
			  float *y, size_t n)
{
	unsigned char *q = (unsigned char *)(y + j->piece);
	uint64_t clipped = j->s->quantize(&j->c, first, x, n, q);

	j->s->dequantize(&j->c, first, q, n, y);
	return clipped;
}

static int pass2_work(void *arg, const struct compute_chunk *ch)
{
	struct cjob *j = arg;
	struct tstate *t = &j->ts[ch->thread];
	float *x = ch->scratch, *y = x + j->piece;
	struct err_acc a;

	err_acc_init(&a);
	for (size_t off = 0; off < ch->n; off += j->piece) {
		size_t n = piece_len(j, ch, off);
		uint64_t first = ch->first + off;
		uint64_t bl = j->block ? j->block : n;

		if (j->read(j->arg, first, n, x))
			return -1;
		a.clipped += piece_qdq(j, first, x, y, n);
		err_acc_add(&a, x, y, n);
		hist_add(&t->x, x, n);
		hist_add(&t->y, y, n);
		for (size_t i = 0; i < n; i++) {
			double e = (double)y[i] - (double)x[i];

			if (!isfinite(e))
				continue;
			if (e < t->emin)
				t->emin = e;
			if (e > t->emax)
				t->emax = e;
		}
		if (j->g->kind != GRID_LEVELS)
			continue;
		if (j->s->ggml != DT_NONE) {
			gguf_levels(j, t, first, x, y, n,
				    (const unsigned char *)(y + j->piece));
			continue;
		}
		/* pieces start on a block: blocks divide the row, or (flat
		 * formats) the last block of the tensor is short */
		for (size_t i = 0; i < n; i += bl)
			block_levels(j, t, first + i, x + i, y + i,
				     n - i < bl ? n - i : bl);
	}
	j->acc[ch->index] = a;
	return 0;
}

static int pass3_work(void *arg, const struct compute_chunk *ch)
{
	struct cjob *j = arg;
	struct tstate *t = &j->ts[ch->thread];
	float *x = ch->scratch, *y = x + j->piece;

	for (size_t off = 0; off < ch->n; off += j->piece) {
		size_t n = piece_len(j, ch, off);
		uint64_t first = ch->first + off;

		if (j->read(j->arg, first, n, x))
			return -1;
		piece_qdq(j, first, x, y, n);
		for (size_t i = 0; i < n; i++) {
			int b = hist_bin(&t->e, (double)y[i] - (double)x[i]);

			if (b >= 0)
				t->e.counts[b]++;
		}
	}
	return 0;
}

static float median_of(float *a, uint64_t n)
{
	if (n == 0)
		return 0;
	qsort(a, (size_t)n, sizeof(float), cmp_float);
	return a[n / 2];
}

static void tstates_release(struct tstate *ts, unsigned nt)
{
	for (unsigned i = 0; ts && i < nt; i++) {
		hist_release(&ts[i].x);
		hist_release(&ts[i].y);
		hist_release(&ts[i].e);
	}
	free(ts);
}

/* Pass 1 and what follows from it: the range, the prepared context. */
static int range_pass(struct cjob *j, struct compute_job *cj, uint64_t nch,
		      const struct compute_ctl *ctl, struct grid_result *r,
		      double *lo, double *hi)
{
	struct scheme_pre pre;
	uint64_t finite = 0;
	int rc;

	j->p1 = calloc((size_t)nch, sizeof(*j->p1));
	if (!j->p1)
		return -1;
	cj->fn = pass1_work;
	rc = compute_run_part(cj, ctl, 0, 0.25);
	scheme_pre_init(&pre);
	*lo = *hi = 0;
	for (uint64_t i = 0; i < nch && !rc; i++) {
		const struct pass1 *p = &j->p1[i];

		scheme_pre_merge(&pre, &p->pre);
		r->f16_over += p->over;
		if (!p->finite)
			continue;
		if (!finite || p->min < *lo)
			*lo = p->min;
		if (!finite || p->max > *hi)
			*hi = p->max;
		finite += p->finite;
	}
	free(j->p1);
	if (!rc && j->s->prepass)
		scheme_prepared(&j->c, &pre);
	return rc;
}

/* Room for the kept block scales; the stride that keeps them few. */
static int blocks_alloc(struct cjob *j, struct grid_result *r)
{
	uint64_t nb, kept;

	if (j->g->kind != GRID_LEVELS || j->g->block == UINT64_MAX) {
		j->block = 0;
		return 0;
	}
	j->block = j->g->block ? j->g->block : j->c.row;
	if (!j->block)
		return -1;
	nb = (j->c.params + j->block - 1) / j->block;
	j->stride = nb > MAX_BLOCKS ? (nb + MAX_BLOCKS - 1) / MAX_BLOCKS : 1;
	kept = (nb + j->stride - 1) / j->stride;
	r->blocks = nb;
	r->sampled = j->stride > 1;
	j->scales = calloc((size_t)kept, sizeof(float));
	j->offs = calloc((size_t)kept, sizeof(float));
	return j->scales && j->offs ? 0 : -1;
}

/* The median scale (and offset) of the kept blocks. */
static void blocks_median(struct cjob *j, struct grid_result *r)
{
	float s, o;
	uint64_t kept;

	if (j->g->kind != GRID_LEVELS)
		return;
	if (!j->block) {
		grid_block(j->g, &j->c, NULL, 0, &s, &o);
		r->scale = s;
		r->off = o;
		r->blocks = 1;
		return;
	}
	kept = (r->blocks + j->stride - 1) / j->stride;
	r->scale = median_of(j->scales, kept);
	r->off = median_of(j->offs, kept);
	if (j->g->rule == GRID_R_ZERO)	/* kept as -zero: back to a value */
		r->off = rint(r->off) * r->scale;
}

static int merge_threads(struct cjob *j, unsigned nt, uint64_t nch,
			 struct grid_result *r, double *emin, double *emax)
{
	*emin = INFINITY;
	*emax = -INFINITY;
	for (uint64_t i = 0; i < nch; i++)
		err_acc_merge(&r->acc, &j->acc[i]);
	for (unsigned i = 0; i < nt; i++) {
		struct tstate *t = &j->ts[i];

		hist_merge(&r->x, &t->x);
		hist_merge(&r->y, &t->y);
		for (unsigned k = 0; k < GRID_MAX; k++)
			r->used[k] += t->used[k];
		if (t->emin < *emin)
			*emin = t->emin;
		if (t->emax > *emax)
			*emax = t->emax;
	}
	if (!(*emin <= *emax))
		*emin = *emax = 0;
	return 0;
}

int grid_compare(const struct scheme *s, const struct scheme_shape *shape,
		 chunk_read_fn *read, void *arg, unsigned nbins,
		 const struct compute_ctl *ctl, struct grid_result *r)
{
	struct cjob j;
	struct compute_job cj;
	uint64_t nch;
	unsigned nt;
	double lo, hi, emin, emax;
	int rc;

	memset(r, 0, sizeof(*r));
	err_acc_init(&r->acc);
	if (scheme_applies(s, shape))
		return -2;
	memset(&j, 0, sizeof(j));
	j.s = s;
	scheme_ctx_init(&j.c, s, shape);
	grid_init(&r->g, s);
	j.g = &r->g;
	j.read = read;
	j.arg = arg;
	j.piece = scheme_piece(&j.c);
	memset(&cj, 0, sizeof(cj));
	cj.count = j.c.params;
	cj.align = (size_t)scheme_align(&j.c);
	cj.scratch = 2 * j.piece * sizeof(float) +
		     scheme_chunk_bytes(&j.c, j.piece) + 64;
	cj.arg = &j;
	nch = compute_nchunks(&cj);
	nt = compute_threads(&cj, ctl);
	if (nch > SIZE_MAX / sizeof(struct err_acc))
		return -1;

	rc = range_pass(&j, &cj, nch, ctl, r, &lo, &hi);
	if (rc)
		return rc;
	j.acc = calloc((size_t)nch, sizeof(*j.acc));
	j.ts = calloc(nt, sizeof(*j.ts));
	if (!j.acc || !j.ts || blocks_alloc(&j, r) < 0) {
		rc = -1;
		goto out;
	}
	for (unsigned i = 0; i < nt; i++) {
		hist_init(&j.ts[i].x, lo, hi, nbins);
		hist_init(&j.ts[i].y, lo, hi, nbins);
		j.ts[i].emin = INFINITY;
		j.ts[i].emax = -INFINITY;
	}
	cj.fn = pass2_work;
	rc = compute_run_part(&cj, ctl, 0.25, 0.45);
	if (rc)
		goto out;
	hist_init(&r->x, lo, hi, nbins);
	hist_init(&r->y, lo, hi, nbins);
	merge_threads(&j, nt, nch, r, &emin, &emax);
	blocks_median(&j, r);

	for (unsigned i = 0; i < nt; i++)
		hist_init(&j.ts[i].e, emin, emax, nbins);
	cj.fn = pass3_work;
	rc = compute_run_part(&cj, ctl, 0.7, 0.3);
	if (rc)
		goto out;
	hist_init(&r->e, emin, emax, nbins);
	for (unsigned i = 0; i < nt; i++)
		hist_merge(&r->e, &j.ts[i].e);
out:
	tstates_release(j.ts, nt);
	free(j.acc);
	free(j.scales);
	free(j.offs);
	if (rc) {
		grid_result_release(r);
		err_acc_init(&r->acc);
	}
	return rc;
}

void grid_result_release(struct grid_result *r)
{
	hist_release(&r->x);
	hist_release(&r->y);
	hist_release(&r->e);
}
