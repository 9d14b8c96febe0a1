/*
 * quant/stats.c - statistics of values and of errors (see stats.h).
 *
 * The three hot loops (vstats_add, hist_add, err_acc_add) are written with
 * GCC/Clang vector extensions over a fixed number of lanes: 8 floats, whose
 * sums go into 8 double lanes.  Two reasons:
 *  - at -O2 GCC vectorises neither a floating-point reduction (that needs
 *    reassociation, i.e. -ffast-math, which qscope never uses) nor a loop
 *    that needs a scalar epilogue; explicit lanes make the vector code the
 *    only code, whatever the cost model;
 *  - the order of every addition is fixed by the source (lane j takes
 *    elements 8i + j; lanes are added in a fixed tree at the end), so the
 *    results are the same bit for bit on every CPU, with SSE2 or AVX2, and
 *    for every number of threads that feeds the same chunks.
 * On x86-64 the kernels are also compiled for AVX2 and picked at run time
 * (KERNEL below); the AVX2 build does the same operations in the same
 * order (no FMA: the project builds with -ffp-contract=off).
 *
 * NaN and infinity are classified on the bit pattern and replaced by a
 * neutral value with masks (0 for sums, +inf/-inf for min/max), so nothing
 * branches per element.  Products of two floats are exact in double; sums
 * round once per addition, in double.
 *
 * No I/O, no curses.
 */
#include "quant/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef float v8sf __attribute__((vector_size(32)));
typedef int32_t v8si __attribute__((vector_size(32)));
typedef int32_t v4si __attribute__((vector_size(16)));
typedef double v4df __attribute__((vector_size(32)));
typedef int64_t v4di __attribute__((vector_size(32)));

#include "quant/kernel.h"

#define F32_EXP 0x7f800000	/* exponent bits: all set = inf or NaN */
#define F32_NEG_INF (-8388608)	/* 0xff800000 as int32 */

/* Runs of at most this many elements keep the int32 lane counters (n / 8
 * each) far from overflow. */
#define RUN ((size_t)1 << 30)

static inline uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

/* Split a v8sf into its two halves, widened to double.  (A loop of fixed
 * length: GCC 12 lowers __builtin_convertvector(v4sf -> v4df) to halves
 * and shuffles, but vectorises this loop to one conversion per half.) */
#define WIDEN(v, lo, hi)						\
	do {								\
		float f_[8];						\
		double d_[8];						\
		memcpy(f_, &(v), sizeof(f_));				\
		for (int j_ = 0; j_ < 8; j_++)				\
			d_[j_] = f_[j_];				\
		memcpy(&(lo), d_, sizeof(lo));				\
		memcpy(&(hi), d_ + 4, sizeof(hi));			\
	} while (0)

/* Load 8 floats at p as two v4df. */
#define LOAD_WIDEN(p, lo, hi)						\
	do {								\
		double d_[8];						\
		for (int j_ = 0; j_ < 8; j_++)				\
			d_[j_] = (p)[j_];				\
		memcpy(&(lo), d_, sizeof(lo));				\
		memcpy(&(hi), d_ + 4, sizeof(hi));			\
	} while (0)

/* Lanes of a v4df pair, added in a fixed order. */
#define HSUM(a, b)							\
	((((a)[0] + (a)[1]) + ((a)[2] + (a)[3])) +			\
	 (((b)[0] + (b)[1]) + ((b)[2] + (b)[3])))

static void abort_oom(void *p)
{
	/* No I/O in quant/: running out of memory for a few bins is fatal,
	 * as everywhere else in qscope. */
	if (!p)
		abort();
}

/* ---- values ---- */

void vstats_init(struct vstats *s)
{
	memset(s, 0, sizeof(*s));
	s->min = INFINITY;
	s->max = -INFINITY;
}

BODY void vstats_run_body(struct vstats *s, const float *x, size_t n)
{
	v8sf mn, mx;
	v8si cnan = { 0 }, cfin = { 0 }, czero = { 0 };
	v4df s0 = { 0 }, s1 = { 0 }, q0 = { 0 }, q1 = { 0 };
	double sum, sumsq, tsum = 0, tsq = 0, lo = INFINITY, hi = -INFINITY;
	uint64_t nan = 0, fin = 0, zeros = 0;
	size_t i;

	mn = (v8sf)((v8si){ 0 } + F32_EXP);
	mx = (v8sf)((v8si){ 0 } + F32_NEG_INF);
	for (i = 0; n - i >= 8; i += 8) {
		v8sf v, f, vlo, vhi;
		v8si b, a, ok, bf, lt, gt;
		v4df d0, d1;

		memcpy(&v, x + i, sizeof(v));
		b = (v8si)v;
		a = b & 0x7fffffff;
		ok = a < F32_EXP;		/* -1 where finite */
		cnan -= a > F32_EXP;
		cfin -= ok;
		czero -= a == 0;
		bf = b & ok;			/* non-finite -> +0 */
		vlo = (v8sf)(bf | (~ok & F32_EXP));
		vhi = (v8sf)(bf | (~ok & F32_NEG_INF));
		lt = vlo < mn;
		mn = (v8sf)(((v8si)vlo & lt) | ((v8si)mn & ~lt));
		gt = vhi > mx;
		mx = (v8sf)(((v8si)vhi & gt) | ((v8si)mx & ~gt));
		f = (v8sf)bf;
		WIDEN(f, d0, d1);
		s0 += d0;
		s1 += d1;
		q0 += d0 * d0;
		q1 += d1 * d1;
	}
	for (; i < n; i++) {
		uint32_t a = f32_bits(x[i]) & 0x7fffffff;
		double d = x[i];

		if (a > F32_EXP) {
			nan++;
		} else if (a < F32_EXP) {
			fin++;
			zeros += a == 0;
			tsum += d;
			tsq += d * d;
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
	}
	for (int j = 0; j < 8; j++) {
		nan += (uint32_t)cnan[j];
		fin += (uint32_t)cfin[j];
		zeros += (uint32_t)czero[j];
		lo = mn[j] < lo ? mn[j] : lo;
		hi = mx[j] > hi ? mx[j] : hi;
	}
	sum = HSUM(s0, s1) + tsum;
	sumsq = HSUM(q0, q1) + tsq;

	s->count += n;
	s->nan += nan;
	s->inf += n - nan - fin;
	s->zeros += zeros;
	s->sum += sum;
	s->sumsq += sumsq;
	if (fin) {
		double am = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);

		s->min = lo < s->min ? lo : s->min;
		s->max = hi > s->max ? hi : s->max;
		s->absmax = am > s->absmax ? am : s->absmax;
	}
}

KERNEL(vstats_run, (struct vstats *s, const float *x, size_t n), (s, x, n))

void vstats_add(struct vstats *s, const float *x, size_t n)
{
	while (n) {
		size_t m = n < RUN ? n : RUN;

		vstats_run(s, x, m);
		x += m;
		n -= m;
	}
}

void vstats_merge(struct vstats *into, const struct vstats *from)
{
	into->count += from->count;
	into->nan += from->nan;
	into->inf += from->inf;
	into->zeros += from->zeros;
	into->sum += from->sum;
	into->sumsq += from->sumsq;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
	if (from->absmax > into->absmax)
		into->absmax = from->absmax;
}

static uint64_t finite_count(const struct vstats *s)
{
	return s->count - s->nan - s->inf;
}

/* The mean is kept inside [min, max] (rounding of the sum could step just
 * outside), so a constant tensor has its constant as mean. */
double vstats_mean(const struct vstats *s)
{
	uint64_t n = finite_count(s);
	double m;

	if (!n)
		return NAN;
	if (s->min == s->max)
		return s->min;
	m = s->sum / (double)n;
	return m < s->min ? s->min : m > s->max ? s->max : m;
}

/* sumsq/n - mean^2 in double: exact enough unless |mean| exceeds the
 * spread by many orders of magnitude; never negative; 0 when min == max. */
double vstats_std(const struct vstats *s)
{
	uint64_t n = finite_count(s);
	double m, v;

	if (!n)
		return NAN;
	if (s->min == s->max)
		return 0;
	m = s->sum / (double)n;
	v = s->sumsq / (double)n - m * m;
	return v > 0 ? sqrt(v) : 0;
}

/* ---- histogram ----
 *
 * Bin i covers [edge(i), edge(i+1)), the last one [edge(n-1), hi], with
 * edge(i) = i * ((hi - lo) / n) + lo in double and edge(n) = hi: the edges
 * numpy.linspace(lo, hi, n + 1) gives, so the counts are those of
 * numpy.histogram(x.astype(float64), n, (lo, hi)).  A value's bin is
 * estimated as (x - lo) * (n / (hi - lo)) and, when that lands near an
 * edge (hist_eps), settled by comparing x with the edges themselves.
 */

static double hist_step(const struct histogram *h)
{
	return (h->hi - h->lo) / h->nbins;
}

static double hist_edge(const struct histogram *h, double step, unsigned i)
{
	return i >= h->nbins ? h->hi : (double)i * step + h->lo;
}

/* The bin of x, lo <= x <= hi, from an estimate k (any value). */
static unsigned bin_settle(const struct histogram *h, double step, double x,
			   double f)
{
	unsigned k;

	if (!(f > 0))
		k = 0;
	else if (f >= h->nbins - 1)
		k = h->nbins - 1;
	else
		k = (unsigned)f;
	while (k > 0 && x < hist_edge(h, step, k))
		k--;
	while (k + 1 < h->nbins && x >= hist_edge(h, step, k + 1))
		k++;
	return k;
}

static double hist_scale(const struct histogram *h)
{
	return h->hi > h->lo ? h->nbins / (h->hi - h->lo) : 0;
}

/*
 * How far (in bins) an estimate may be from the exact position of x: the
 * estimate and the edges each carry a few rounding errors of 2^-53
 * relative to max(|lo|, |hi|), which is up to 2^24 bin widths times nbins
 * when lo and hi are neighbouring floats.  The bound is taken 2^7 times
 * larger.  Beyond a quarter of a bin the estimate is not used at all (2:
 * no fraction passes); with one bin there is nothing to settle (-1).
 */
static double hist_eps(const struct histogram *h)
{
	double m = fabs(h->lo) > fabs(h->hi) ? fabs(h->lo) : fabs(h->hi);
	double eps;

	if (h->nbins <= 1)
		return -1;
	if (!(h->hi > h->lo))
		return 2;
	eps = 1e-6 + h->nbins * 0x1p-44 * (1 + m / (h->hi - h->lo));
	return eps < 0.25 ? eps : 2;
}

int hist_bin(const struct histogram *h, double x)
{
	if (!(x >= h->lo && x <= h->hi))
		return -1;
	return (int)bin_settle(h, hist_step(h), x, (x - h->lo) * hist_scale(h));
}

void hist_init(struct histogram *h, double lo, double hi, unsigned nbins)
{
	if (nbins < 1 || lo == hi)
		nbins = 1;
	h->lo = lo;
	h->hi = hi;
	h->nbins = nbins;
	h->counts = calloc(nbins, sizeof(*h->counts));
	abort_oom(h->counts);
	h->below = 0;
	h->above = 0;
}

/* Count one value the slow way. */
static void hist_one(struct histogram *h, double step, double scale,
		     uint64_t *counts, float v)
{
	double x = v;

	if (!isfinite(x))
		return;
	if (x < h->lo)
		h->below++;
	else if (x > h->hi)
		h->above++;
	else
		counts[bin_settle(h, step, x, (x - h->lo) * scale)]++;
}

/*
 * In two steps per piece of HPIECE values, so that the counting never
 * waits on the vector code (nor the other way round):
 *  1. blocks of 8 values get their bins estimated in double lanes.  A
 *     lane is "plain" when x is finite, inside [lo, hi] and its estimate
 *     is not within hist_eps() of an edge; the others get the index
 *     nbins, a spare counter;
 *  2. the indexes are counted into NTAB tables in turn, so that runs of
 *     equal bins do not wait on each other's stores.  After every 32, if
 *     the spare counter moved, those of the 32 that went there are
 *     counted one by one.  (Values exactly on an edge are common: BF16
 *     data holds many powers of two.)  With more than LOCAL_BINS bins
 *     there is one table, h->counts itself, and each index is tested.
 */
#define HPIECE 2048

/* The bin indexes (or nb) of the 4 values in v4df d, stored at k. */
#define HIST_INDEX4(d, k)						\
	do {								\
		v4df f_;						\
		v4di ok_, lt_;						\
		v4si k1_, k2_, same_;					\
									\
		/* in range (NaN compares false; inf is out) */		\
		ok_ = ((d) >= lo) & ((d) <= hi);			\
		f_ = ((d) - lo) * scale;				\
		/* clamp to [0, nbins - 1/2]: past the last interior	\
		 * edge, far enough from it, is the last bin */		\
		f_ = (v4df)((v4di)f_ & (f_ > 0));			\
		lt_ = f_ < top;						\
		f_ = (v4df)(((v4di)f_ & lt_) | ((v4di)vtop & ~lt_));	\
		f_ = (v4df)(((v4di)f_ & ok_) | ((v4di)vspare & ~ok_));	\
		/* near an edge when f - eps and f + eps fall in	\
		 * different bins */					\
		k1_ = __builtin_convertvector(f_ - eps, v4si);		\
		k2_ = __builtin_convertvector(f_ + eps, v4si);		\
		same_ = k1_ == k2_;					\
		k1_ = (k1_ & same_) | (nb & ~same_);			\
		memcpy((k), &k1_, sizeof(k1_));				\
	} while (0)

BODY void hist_index_body(const struct histogram *h, int32_t *k,
			  const float *x, size_t n)
{
	const double scale = hist_scale(h), lo = h->lo, hi = h->hi;
	const double top = h->nbins - 0.5, e = hist_eps(h);
	const double eps = e > 0 ? e : 0;	/* one bin: no edge inside */
	const v4df vtop = (v4df){ 0 } + top;
	const v4df vspare = (v4df){ 0 } + (h->nbins + 0.5);
	const int32_t nb = (int32_t)h->nbins;

	for (size_t i = 0; n - i >= 8; i += 8) {
		v4df d0, d1;

		LOAD_WIDEN(x + i, d0, d1);
		HIST_INDEX4(d0, k + i);
		HIST_INDEX4(d1, k + i + 4);
	}
}

/* Count tables: NTAB of them, (nbins + 1 + TGAP) entries apart; the gap
 * keeps them from being a multiple of 4 KiB apart (which would make the
 * CPU take a store to one for the source of the next load from another). */
#define NTAB 4
#define TGAP 8

KERNEL(hist_index,
       (const struct histogram *h, int32_t *k, const float *x, size_t n),
       (h, k, x, n))

/* Up to this many bins the tables are on the stack. */
#define LOCAL_BINS 1024

static void hist_run(struct histogram *h, uint64_t *c, size_t stride,
		     const float *x, size_t n)
{
	const double step = hist_step(h), scale = hist_scale(h);
	const int32_t nb = (int32_t)h->nbins;
	uint64_t *c1 = c ? c + stride : NULL, *c2 = c ? c1 + stride : NULL;
	uint64_t *c3 = c ? c2 + stride : NULL, seen = 0;
	int32_t k[HPIECE];

	while (n) {
		size_t m = n < HPIECE ? n : HPIECE, m8 = m / 8 * 8, i;

		hist_index(h, k, x, m8);
		for (i = 0; i < m8 && !c; i++) {	/* one table */
			if (k[i] == nb)
				hist_one(h, step, scale, h->counts, x[i]);
			else
				h->counts[k[i]]++;
		}
		for (i = 0; i < m8 && c; i += 32) {
			size_t e = i + 32 < m8 ? i + 32 : m8;

			for (size_t j = i; j < e; j += 4) {
				c[k[j]]++;
				c1[k[j + 1]]++;
				c2[k[j + 2]]++;
				c3[k[j + 3]]++;
			}
			if (c[nb] + c1[nb] + c2[nb] + c3[nb] == seen)
				continue;
			for (size_t j = i; j < e; j++)
				if (k[j] == nb)
					hist_one(h, step, scale, c, x[j]);
			seen = c[nb] + c1[nb] + c2[nb] + c3[nb];
		}
		for (i = m8; i < m; i++)
			hist_one(h, step, scale, c ? c : h->counts, x[i]);
		x += m;
		n -= m;
	}
}

void hist_add(struct histogram *h, const float *x, size_t n)
{
	uint64_t c[NTAB * (LOCAL_BINS + 1 + TGAP)];
	size_t stride = h->nbins + 1 + TGAP;

	if (h->nbins > LOCAL_BINS) {
		hist_run(h, NULL, 0, x, n);
		return;
	}
	memset(c, 0, NTAB * stride * sizeof(*c));
	hist_run(h, c, stride, x, n);
	for (unsigned i = 0; i < h->nbins; i++)
		for (int t = 0; t < NTAB; t++)
			h->counts[i] += c[t * stride + i];
}

void hist_merge(struct histogram *into, const struct histogram *from)
{
	unsigned n = into->nbins < from->nbins ? into->nbins : from->nbins;

	for (unsigned i = 0; i < n; i++)
		into->counts[i] += from->counts[i];
	into->below += from->below;
	into->above += from->above;
}

void hist_release(struct histogram *h)
{
	free(h->counts);
	memset(h, 0, sizeof(*h));
}

/* ---- errors ----
 *
 * Pairs (x, y) with x finite count in n.  When y is finite too, the pair
 * adds to sse, sxx, syy, sxy and max_abs: the norms and the cosine are
 * those of the finite part, and what went to infinity or NaN is reported
 * apart, in to_inf (and so in clipped_share).
 */

void err_acc_init(struct err_acc *a)
{
	memset(a, 0, sizeof(*a));
}

BODY void err_run_body(struct err_acc *acc, const float *x, const float *y,
		      size_t n)
{
	v4df e0 = { 0 }, e1 = { 0 }, xx0 = { 0 }, xx1 = { 0 };
	v4df yy0 = { 0 }, yy1 = { 0 }, xy0 = { 0 }, xy1 = { 0 };
	v4df mx0 = { 0 }, mx1 = { 0 };
	v8si cn = { 0 }, cinf = { 0 }, cnz = { 0 }, cfl = { 0 };
	double sse = 0, sxx = 0, syy = 0, sxy = 0, mx = 0;
	uint64_t nn = 0, ninf = 0, nnz = 0, nfl = 0;
	size_t i;

	for (i = 0; n - i >= 8; i += 8) {
		v8sf vx, vy, fx, fy;
		v8si ax, ay, okx, oky, ok, nz;
		v4df dx0, dx1, dy0, dy1, df0, df1, ad0, ad1;
		v4di g0, g1;

		memcpy(&vx, x + i, sizeof(vx));
		memcpy(&vy, y + i, sizeof(vy));
		ax = (v8si)vx & 0x7fffffff;
		ay = (v8si)vy & 0x7fffffff;
		okx = ax < F32_EXP;
		oky = ay < F32_EXP;
		ok = okx & oky;
		nz = okx & (ax != 0);
		cn -= okx;
		cinf -= okx & ~oky;
		cnz -= nz;
		cfl -= nz & (ay == 0);
		fx = (v8sf)((v8si)vx & ok);
		fy = (v8sf)((v8si)vy & ok);
		WIDEN(fx, dx0, dx1);
		WIDEN(fy, dy0, dy1);
		df0 = dy0 - dx0;
		df1 = dy1 - dx1;
		e0 += df0 * df0;
		e1 += df1 * df1;
		xx0 += dx0 * dx0;
		xx1 += dx1 * dx1;
		yy0 += dy0 * dy0;
		yy1 += dy1 * dy1;
		xy0 += dx0 * dy0;
		xy1 += dx1 * dy1;
		ad0 = (v4df)((v4di)df0 & 0x7fffffffffffffffLL);
		ad1 = (v4df)((v4di)df1 & 0x7fffffffffffffffLL);
		g0 = ad0 > mx0;
		g1 = ad1 > mx1;
		mx0 = (v4df)(((v4di)ad0 & g0) | ((v4di)mx0 & ~g0));
		mx1 = (v4df)(((v4di)ad1 & g1) | ((v4di)mx1 & ~g1));
	}
	for (; i < n; i++) {
		uint32_t ax = f32_bits(x[i]) & 0x7fffffff;
		uint32_t ay = f32_bits(y[i]) & 0x7fffffff;
		double dx = x[i], dy = y[i], df;

		if (ax >= F32_EXP)
			continue;
		nn++;
		if (ax) {
			nnz++;
			nfl += ay == 0;
		}
		if (ay >= F32_EXP) {
			ninf++;
			continue;
		}
		df = dy - dx;
		sse += df * df;
		sxx += dx * dx;
		syy += dy * dy;
		sxy += dx * dy;
		mx = fabs(df) > mx ? fabs(df) : mx;
	}
	for (int j = 0; j < 8; j++) {
		nn += (uint32_t)cn[j];
		ninf += (uint32_t)cinf[j];
		nnz += (uint32_t)cnz[j];
		nfl += (uint32_t)cfl[j];
	}
	for (int j = 0; j < 4; j++) {
		mx = mx0[j] > mx ? mx0[j] : mx;
		mx = mx1[j] > mx ? mx1[j] : mx;
	}
	acc->n += nn;
	acc->to_inf += ninf;
	acc->nonzero += nnz;
	acc->flushed += nfl;
	acc->sse += HSUM(e0, e1) + sse;
	acc->sxx += HSUM(xx0, xx1) + sxx;
	acc->syy += HSUM(yy0, yy1) + syy;
	acc->sxy += HSUM(xy0, xy1) + sxy;
	if (mx > acc->max_abs)
		acc->max_abs = mx;
}

KERNEL(err_run, (struct err_acc *acc, const float *x, const float *y, size_t n),
       (acc, x, y, n))

void err_acc_add(struct err_acc *a, const float *x, const float *y, size_t n)
{
	while (n) {
		size_t m = n < RUN ? n : RUN;

		err_run(a, x, y, m);
		x += m;
		y += m;
		n -= m;
	}
}

void err_acc_merge(struct err_acc *into, const struct err_acc *from)
{
	into->n += from->n;
	into->sse += from->sse;
	into->sxx += from->sxx;
	into->syy += from->syy;
	into->sxy += from->sxy;
	if (from->max_abs > into->max_abs)
		into->max_abs = from->max_abs;
	into->to_inf += from->to_inf;
	into->nonzero += from->nonzero;
	into->flushed += from->flushed;
	into->clipped += from->clipped;
}

/*
 * With nothing measured (n == 0) the reconstruction is exact: rmse and
 * rel_err 0, sqnr +inf, cosine 1, shares 0.  rel_err is +inf when x is all
 * zeros but y is not (and sqnr -inf).
 */
void err_acc_finish(const struct err_acc *a, struct err_metrics *m)
{
	m->rmse = a->n ? sqrt(a->sse / (double)a->n) : 0;
	if (a->sse == 0)
		m->rel_err = 0;
	else if (a->sxx == 0)
		m->rel_err = INFINITY;
	else
		m->rel_err = sqrt(a->sse) / sqrt(a->sxx);
	if (a->sse == 0)
		m->sqnr_db = INFINITY;
	else if (a->sxx == 0)
		m->sqnr_db = -INFINITY;
	else
		m->sqnr_db = 10 * log10(a->sxx / a->sse);
	if (a->sxx == 0 && a->syy == 0) {
		m->cosine = 1;
	} else if (a->sxx == 0 || a->syy == 0) {
		m->cosine = 0;
	} else {
		m->cosine = a->sxy / sqrt(a->sxx * a->syy);
		if (m->cosine > 1)
			m->cosine = 1;
		else if (m->cosine < -1)
			m->cosine = -1;
	}
	m->max_abs_err = a->max_abs;
	m->clipped_share = a->n ? (double)(a->clipped + a->to_inf) / (double)a->n
				: 0;
	m->flushed_share = a->nonzero ? (double)a->flushed / (double)a->nonzero
				      : 0;
}
