/*
 * quant/doctor.c - the dtype doctor's arithmetic (see doctor.h).
 */
#include "quant/doctor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name, *dtype;
	enum dtype target;
	double min_normal;	/* below: the target's subnormal range */
	double lossy;		/* relative error above which it is lossy */
} casts[DOCTOR_CAST_COUNT] = {
	/* F32 -> F16 rounding alone gives at most 2^-11 relative error,
	 * about 2.8e-4 in RMS: 1e-3 means real loss (subnormals). */
	[DOCTOR_CAST_F16]  = { "f16", "F16", DT_F16, 0x1.0p-14, 1e-3 },
	/* F16 -> BF16 loses 3 mantissa bits: about 1.6e-3 RMS. */
	[DOCTOR_CAST_BF16] = { "bf16", "BF16", DT_BF16, 0x1.0p-126, 1e-2 },
	/* 3 and 2 mantissa bits: about 3.6e-2 and 7e-2 RMS. */
	[DOCTOR_CAST_E4M3] = { "fp8-e4m3", "F8_E4M3", DT_F8_E4M3, 0x1.0p-6, 0.1 },
	[DOCTOR_CAST_E5M2] = { "fp8-e5m2", "F8_E5M2", DT_F8_E5M2, 0x1.0p-14, 0.2 },
};

const char *doctor_cast_name(enum doctor_cast c)
{
	return c < DOCTOR_CAST_COUNT ? casts[c].name : "?";
}

const char *doctor_cast_dtype(enum doctor_cast c)
{
	return c < DOCTOR_CAST_COUNT ? casts[c].dtype : "?";
}

int doctor_cast_from_name(const char *s)
{
	for (int i = 0; i < DOCTOR_CAST_COUNT; i++)
		if (strcmp(s, casts[i].name) == 0)
			return i;
	return -1;
}

enum dtype doctor_cast_target(enum doctor_cast c)
{
	return c < DOCTOR_CAST_COUNT ? casts[c].target : DT_NONE;
}

double doctor_lossy_rel_err(enum doctor_cast c)
{
	return c < DOCTOR_CAST_COUNT ? casts[c].lossy : 0;
}

float doctor_cast_value(enum doctor_cast c, float x)
{
	switch (c) {
	case DOCTOR_CAST_F16:
		return f16_to_f32(f32_to_f16(x));
	case DOCTOR_CAST_BF16:
		return bf16_to_f32(f32_to_bf16(x));
	case DOCTOR_CAST_E4M3:
		return fp8_e4m3_to_f32(f32_to_fp8_e4m3(x, 0));
	case DOCTOR_CAST_E5M2:
		return fp8_e5m2_to_f32(f32_to_fp8_e5m2(x, 0));
	default:
		return x;
	}
}

void doctor_acc_init(struct doctor_acc *a)
{
	memset(a, 0, sizeof(*a));
}

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

/* n values v into r. */
static void reading_add(struct doctor_reading *r, float v, uint64_t n)
{
	float m = fabsf(v);

	if (!isfinite(v)) {
		r->nonfinite += n;
		return;
	}
	if (v == 0) {
		r->zero += n;
		return;
	}
	if (v > 0)
		r->positive += n;
	if (m >= 1e-6f && m <= 1e3f)
		r->sane += n;
	r->nz += n;
	r->octs[(f32_bits(v) & 0x7fffffffu) >> 20] += n;
}

static void reading_merge(struct doctor_reading *into,
			  const struct doctor_reading *from)
{
	into->nonfinite += from->nonfinite;
	into->zero += from->zero;
	into->sane += from->sane;
	into->positive += from->positive;
	into->nz += from->nz;
	for (int i = 0; i < DOCTOR_OCT_BINS; i++)
		into->octs[i] += from->octs[i];
}

/* n values v, whose 16-bit pattern is b when stored is DT_F16 or DT_BF16.
 * (With n == 1 every sum is what adding them one by one gives.) */
static void acc_value(struct doctor_acc *a, enum dtype stored,
		      enum doctor_cast c, double min_normal, float v,
		      uint16_t b, uint64_t n)
{
	float y;
	double d;

	if (stored == DT_F16 || stored == DT_BF16) {
		reading_add(&a->as_f16, f16_to_f32(b), n);
		reading_add(&a->as_bf16, bf16_to_f32(b), n);
	}
	if (isnan(v)) {
		a->nan += n;
		return;
	}
	if (isinf(v)) {
		a->inf += n;
		return;
	}
	if (fabsf(v) > a->absmax)
		a->absmax = fabsf(v);
	if (v == 0)
		return;
	a->nonzero += n;
	y = doctor_cast_value(c, v);
	if (!isfinite(y)) {
		a->overflow += n;
		return;
	}
	if (y == 0)
		a->flushed += n;
	else if (fabsf(y) < min_normal)
		a->subnormal += n;
	d = (double)y - (double)v;
	a->sxx += (double)n * ((double)v * v);
	a->see += (double)n * (d * d);
}

static double cast_min_normal(enum doctor_cast c)
{
	return c < DOCTOR_CAST_COUNT ? casts[c].min_normal : 0;
}

void doctor_acc_add(struct doctor_acc *a, enum dtype stored,
		    enum doctor_cast c, const float *x, size_t n)
{
	double min_normal = cast_min_normal(c);

	a->count += n;
	for (size_t i = 0; i < n; i++) {
		float v = x[i];
		uint16_t b = 0;

		if (stored == DT_BF16)
			b = (uint16_t)(f32_bits(v) >> 16);
		else if (stored == DT_F16)
			b = f32_to_f16(v);
		acc_value(a, stored, c, min_normal, v, b, 1);
	}
}

void doctor_acc_merge(struct doctor_acc *into, const struct doctor_acc *from)
{
	into->count += from->count;
	into->nan += from->nan;
	into->inf += from->inf;
	into->nonzero += from->nonzero;
	into->overflow += from->overflow;
	into->flushed += from->flushed;
	into->subnormal += from->subnormal;
	into->sxx += from->sxx;
	into->see += from->see;
	if (from->absmax > into->absmax)
		into->absmax = from->absmax;
	reading_merge(&into->as_f16, &from->as_f16);
	reading_merge(&into->as_bf16, &from->as_bf16);
}

const char *doctor_verdict_name(enum doctor_verdict v)
{
	switch (v) {
	case DOCTOR_SAFE:
		return "safe";
	case DOCTOR_LOSSY:
		return "lossy";
	default:
		return "breaks";
	}
}

double doctor_rel_err(const struct doctor_acc *a)
{
	return a->sxx > 0 ? sqrt(a->see / a->sxx) : 0;
}

enum doctor_verdict doctor_verdict(const struct doctor_acc *a,
				   enum doctor_cast c)
{
	double nz = a->nonzero ? (double)a->nonzero : 1;

	if (a->overflow > 0 || (double)a->flushed / nz > DOCTOR_FLUSH_BREAK)
		return DOCTOR_BREAKS;
	if (a->flushed > 0 || (double)a->subnormal / nz > DOCTOR_SUBNORMAL_LOSSY ||
	    doctor_rel_err(a) > doctor_lossy_rel_err(c))
		return DOCTOR_LOSSY;
	return DOCTOR_SAFE;
}

/* ---- mislabelled bytes ---- */

/* The q-quantile of log2|x|, interpolated inside its eighth of an
 * octave (log2 of 1 + m is close enough to linear over an eighth). */
static double log2_quantile(const struct doctor_reading *r, double q)
{
	double want = q * (double)r->nz, cum = 0;

	for (int i = 0; i < DOCTOR_OCT_BINS; i++) {
		double c = (double)r->octs[i];

		if (c > 0 && cum + c >= want)
			return (double)(i - 127 * 8) / 8 + (want - cum) / c / 8;
		cum += c;
	}
	return (double)(DOCTOR_OCT_BINS - 127 * 8) / 8;
}

double doctor_spread(const struct doctor_reading *r)
{
	if (r->nz < 2)
		return 0;
	return log2_quantile(r, 0.75) - log2_quantile(r, 0.25);
}

/* 1 inside [lo, hi], falling linearly to 0 at lo0 and hi0. */
static double ramp(double x, double lo0, double lo, double hi, double hi0)
{
	if (x <= lo0 || x >= hi0)
		return 0;
	if (x < lo)
		return (x - lo0) / (lo - lo0);
	if (x > hi)
		return (hi0 - x) / (hi0 - hi);
	return 1;
}

double doctor_plausibility(const struct doctor_reading *r, uint64_t count)
{
	double nz, sane, bad, pos, p;

	if (count == 0 || r->nz == 0)
		return 0;
	nz = (double)r->nz;
	sane = (double)r->sane / nz;
	bad = (double)r->nonfinite / (double)count;
	pos = (double)r->positive / nz;
	p = sane;
	/* trained weights have no NaN/inf to speak of */
	p *= ramp(bad, -1, 0, 1e-3, 0.05);
	/* Gaussian weights: 1.85 octaves; Laplace 2.3; uniform 1.6.  Read
	 * the wrong way, the exponent bits move by 3 places: 8 times wider
	 * or narrower. */
	p *= ramp(doctor_spread(r), 0.4, 1.0, 4.0, 8.0);
	/* weights are about as often negative as positive */
	p *= ramp(pos, 0.1, 0.3, 0.7, 0.9);
	return p;
}

enum dtype doctor_mislabel(const struct doctor_acc *a, enum dtype stored,
			   double *confidence)
{
	const struct doctor_reading *lab, *oth;
	double pl, po;

	*confidence = 0;
	if (stored == DT_F16) {
		lab = &a->as_f16;
		oth = &a->as_bf16;
	} else if (stored == DT_BF16) {
		lab = &a->as_bf16;
		oth = &a->as_f16;
	} else {
		return DT_NONE;
	}
	if (lab->nz < DOCTOR_MISLABEL_MIN || oth->nz < DOCTOR_MISLABEL_MIN)
		return DT_NONE;
	pl = doctor_plausibility(lab, a->count);
	po = doctor_plausibility(oth, a->count);
	/* Only a clear call: the labelled reading implausible, the other
	 * one plausible.  Odd but genuine tensors (norms near 1, all
	 * positive) are implausible both ways and are never flagged. */
	if (pl > 0.2 || po < 0.8)
		return DT_NONE;
	*confidence = po - pl;
	return stored == DT_F16 ? DT_BF16 : DT_F16;
}

/* ---- over a reader, on several threads ---- */

struct djob {
	chunk_read_fn *rd;
	void *ctx;
	enum dtype stored;
	enum doctor_cast cast;
	struct doctor_acc *acc;	/* one per thread */
};

/* Small pieces that stay in the first-level cache. */
#define PIECE 8192

static int dwork(void *arg, const struct compute_chunk *c)
{
	struct djob *j = arg;
	float *x = c->scratch;

	for (size_t off = 0; off < c->n; off += PIECE) {
		size_t k = c->n - off < PIECE ? c->n - off : PIECE;

		if (j->rd(j->ctx, c->first + off, k, x))
			return -1;
		doctor_acc_add(&j->acc[c->thread], j->stored, j->cast, x, k);
	}
	return 0;
}

int doctor_tensor(chunk_read_fn *rd, void *ctx, uint64_t count,
		  enum dtype stored, enum doctor_cast c,
		  const struct compute_ctl *ctl, struct doctor_acc *a)
{
	struct djob j = { rd, ctx, stored, c, NULL };
	struct compute_job job = { count, 0, PIECE * sizeof(float), dwork, &j };
	unsigned nt;
	int rc;

	doctor_acc_init(a);
	if (count == 0)
		return 0;
	nt = compute_threads(&job, ctl);
	j.acc = calloc(nt, sizeof(*j.acc));
	if (!j.acc)
		return -1;
	rc = compute_run(&job, ctl);
	for (unsigned i = 0; i < nt; i++)
		doctor_acc_merge(a, &j.acc[i]);
	free(j.acc);
	return rc;
}

/*
 * A 16-bit tensor: every figure is a function of the code, so the codes
 * are counted (compute_codes16(), no decoding) and each distinct code is
 * looked at once, weighted by its count.  The sums go in code order
 * instead of element order: the same counts, sums that may differ from
 * doctor_tensor()'s in the last bits.
 */
int doctor_tensor16(chunk_codes16_fn *rd16, void *ctx, uint64_t count,
		    enum dtype stored, enum doctor_cast c,
		    const struct compute_ctl *ctl, struct doctor_acc *a)
{
	struct compute_count *l;
	size_t nl;
	double min_normal = cast_min_normal(c);
	int rc;

	doctor_acc_init(a);
	if (stored != DT_F16 && stored != DT_BF16)
		return -1;
	if (count == 0)
		return 0;
	rc = compute_codes16(rd16, ctx, count, ctl, &l, &nl);
	if (rc)
		return rc;
	a->count = count;
	for (size_t i = 0; i < nl; i++) {
		uint16_t b = (uint16_t)l[i].key;
		float v = code16_to_f32(stored, b);

		acc_value(a, stored, c, min_normal, v, b, l[i].n);
	}
	free(l);
	return 0;
}

/* ---- metadata ---- */

enum dtype doctor_torch_dtype(const char *s)
{
	static const struct {
		const char *name;
		enum dtype d;
	} names[] = {
		{ "float16", DT_F16 }, { "half", DT_F16 },
		{ "bfloat16", DT_BF16 },
		{ "float32", DT_F32 }, { "float", DT_F32 },
		{ "float64", DT_F64 }, { "double", DT_F64 },
	};

	if (!s)
		return DT_NONE;
	if (strncmp(s, "torch.", 6) == 0)
		s += 6;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].d;
	return DT_NONE;
}

enum dtype doctor_gguf_ftype(long ftype)
{
	/* llama_ftype (llama.h); the mixes (_S/_M/_L) name their main
	 * type.  IQ3_XS and other mixes whose main type is not plain are
	 * left out: no call is better than a wrong one. */
	switch (ftype) {
	case 0: return DT_F32;
	case 1: return DT_F16;
	case 2: return DT_Q4_0;
	case 3: return DT_Q4_1;
	case 7: return DT_Q8_0;
	case 8: return DT_Q5_0;
	case 9: return DT_Q5_1;
	case 10: return DT_Q2_K;
	case 11: case 12: case 13: return DT_Q3_K;
	case 14: case 15: return DT_Q4_K;
	case 16: case 17: return DT_Q5_K;
	case 18: return DT_Q6_K;
	case 19: return DT_IQ2_XXS;
	case 20: return DT_IQ2_XS;
	case 23: return DT_IQ3_XXS;
	case 24: return DT_IQ1_S;
	case 25: return DT_IQ4_NL;
	case 26: return DT_IQ3_S;
	case 28: return DT_IQ2_S;
	case 30: return DT_IQ4_XS;
	case 31: return DT_IQ1_M;
	case 32: return DT_BF16;
	case 36: return DT_TQ1_0;
	case 37: return DT_TQ2_0;
	default: return DT_NONE;
	}
}

int doctor_dtype_mismatch(enum dtype declared, const uint64_t params[DT_COUNT],
			  enum dtype *main)
{
	uint64_t best = 0;

	*main = DT_NONE;
	for (int d = 0; d < DT_COUNT; d++)
		if (params[d] > best) {
			best = params[d];
			*main = (enum dtype)d;
		}
	if (declared == DT_NONE || declared >= DT_COUNT || best == 0)
		return 0;
	return params[declared] == 0;
}
