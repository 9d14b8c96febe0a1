/*
 * Unit tests for quant/stats (moments, histograms, error metrics) and
 * quant/compute (the chunked, threaded driver), on inputs whose answers
 * are computed here by hand or by a plain scalar loop, and on the shared
 * safetensors fixtures against their independent expectations.
 */
#include <dirent.h>
#include <float.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "formats/model.h"
#include "quant/compute.h"
#include "quant/dtype.h"
#include "quant/stats.h"
#include "tests/check.h"

static float bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static int same_double(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* A deterministic generator: N(0, sd) by Box-Muller from an LCG. */
static uint64_t rng_state;

static double rng_unit(void)
{
	rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
	return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static float rng_normal(double sd)
{
	return (float)(sd * sqrt(-2 * log(rng_unit())) *
		       cos(6.283185307179586 * rng_unit()));
}

/* The statistics of x by a plain scalar loop (sums in order). */
static void ref_vstats(const float *x, size_t n, struct vstats *s)
{
	memset(s, 0, sizeof(*s));
	s->min = INFINITY;
	s->max = -INFINITY;
	s->count = n;
	for (size_t i = 0; i < n; i++) {
		double v = x[i];

		if (isnan(v)) {
			s->nan++;
			continue;
		}
		if (isinf(v)) {
			s->inf++;
			continue;
		}
		s->zeros += v == 0;
		s->sum += v;
		s->sumsq += v * v;
		s->min = v < s->min ? v : s->min;
		s->max = v > s->max ? v : s->max;
		s->absmax = fabs(v) > s->absmax ? fabs(v) : s->absmax;
	}
}

/* Counts and extremes exactly; sums exactly too when exact, else to
 * 1e-12 of their scale (a different order of additions). */
static int vstats_agree(const struct vstats *a, const struct vstats *b,
			int exact)
{
	double ts = 1e-12 * (sqrt((double)b->count * b->sumsq) + fabs(b->sum));
	double tq = 1e-12 * b->sumsq;

	if (exact)
		ts = tq = 0;
	return a->count == b->count && a->nan == b->nan && a->inf == b->inf &&
	       a->zeros == b->zeros && a->min == b->min && a->max == b->max &&
	       a->absmax == b->absmax && fabs(a->sum - b->sum) <= ts &&
	       fabs(a->sumsq - b->sumsq) <= tq;
}

#define CHECK_VSTATS(a, b, exact)					\
	check_report(__FILE__, __LINE__, vstats_agree(a, b, exact),	\
		     "count %llu/%llu nan %llu/%llu inf %llu/%llu "	\
		     "zeros %llu/%llu min %.9g/%.9g max %.9g/%.9g "	\
		     "sum %.17g/%.17g sumsq %.17g/%.17g",		\
		     (unsigned long long)(a)->count,			\
		     (unsigned long long)(b)->count,			\
		     (unsigned long long)(a)->nan,			\
		     (unsigned long long)(b)->nan,			\
		     (unsigned long long)(a)->inf,			\
		     (unsigned long long)(b)->inf,			\
		     (unsigned long long)(a)->zeros,			\
		     (unsigned long long)(b)->zeros, (a)->min, (b)->min, \
		     (a)->max, (b)->max, (a)->sum, (b)->sum, (a)->sumsq,	\
		     (b)->sumsq)

/* ---- moments ---- */

TEST(stats_moments_known)
{
	/* Quarters and small integers: every sum is exact in double. */
	static const float x[] = { 1, 2, 3, 4, -2, 0, 0.5f, -0.5f, -0.0f,
				   8, -8, 0.25f };
	struct vstats s;

	vstats_init(&s);
	vstats_add(&s, x, 12);
	CHECK_EQ_U(s.count, 12);
	CHECK_EQ_U(s.zeros, 2);
	CHECK_EQ_U(s.nan, 0);
	CHECK_EQ_U(s.inf, 0);
	CHECK(s.sum == 8.25);
	CHECK(s.sumsq == 1 + 4 + 9 + 16 + 4 + 0.25 + 0.25 + 64 + 64 + 0.0625);
	CHECK(s.min == -8);
	CHECK(s.max == 8);
	CHECK(s.absmax == 8);
	CHECK(vstats_mean(&s) == 8.25 / 12);
	CHECK_NEAR(vstats_std(&s),
		   sqrt(162.5625 / 12 - (8.25 / 12) * (8.25 / 12)), 1e-15);

	/* 1..4: mean 2.5, population std sqrt(1.25). */
	vstats_init(&s);
	vstats_add(&s, x, 4);
	CHECK(vstats_mean(&s) == 2.5);
	CHECK_NEAR(vstats_std(&s), sqrt(1.25), 1e-15);

	/* Every prefix, so each tail length after the 8-wide blocks is
	 * met; in two calls split everywhere, merged. */
	for (size_t n = 0; n <= 12; n++) {
		for (size_t cut = 0; cut <= n; cut++) {
			struct vstats a, b, r;

			vstats_init(&a);
			vstats_init(&b);
			vstats_add(&a, x, cut);
			vstats_add(&b, x + cut, n - cut);
			vstats_merge(&a, &b);
			ref_vstats(x, n, &r);
			CHECK_VSTATS(&a, &r, 1);
		}
	}
}

TEST(stats_nonfinite)
{
	float x[40];
	struct vstats s, r;

	for (int i = 0; i < 40; i++)
		x[i] = (float)(i - 20) / 8;
	x[3] = NAN;
	x[11] = INFINITY;
	x[12] = -INFINITY;
	x[30] = bits_f32(0xffc00001);	/* a negative NaN with payload */
	x[39] = bits_f32(0x7f800001);	/* a signalling NaN */
	vstats_init(&s);
	vstats_add(&s, x, 40);
	ref_vstats(x, 40, &r);
	CHECK_VSTATS(&s, &r, 1);
	CHECK_EQ_U(s.nan, 3);
	CHECK_EQ_U(s.inf, 2);
	CHECK(s.min == -20.0 / 8);
	CHECK(s.max == 18.0 / 8);
	CHECK(isfinite(s.sum) && isfinite(s.sumsq));

	/* Nothing finite: NaN moments, infinite extremes, absmax 0. */
	for (int i = 0; i < 40; i++)
		x[i] = i % 3 ? NAN : (i % 2 ? INFINITY : -INFINITY);
	vstats_init(&s);
	vstats_add(&s, x, 40);
	CHECK_EQ_U(s.count, 40);
	CHECK_EQ_U(s.nan + s.inf, 40);
	CHECK_EQ_U(s.inf, 14);
	CHECK(s.min == INFINITY && s.max == -INFINITY);
	CHECK(s.absmax == 0 && s.sum == 0 && s.sumsq == 0);
	CHECK(isnan(vstats_mean(&s)) && isnan(vstats_std(&s)));

	/* All infinite. */
	for (int i = 0; i < 40; i++)
		x[i] = INFINITY;
	vstats_init(&s);
	vstats_add(&s, x, 40);
	CHECK_EQ_U(s.inf, 40);
	CHECK_EQ_U(s.nan, 0);
	CHECK(isnan(vstats_mean(&s)));

	/* Empty. */
	vstats_init(&s);
	vstats_add(&s, x, 0);
	CHECK_EQ_U(s.count, 0);
	CHECK(isnan(vstats_mean(&s)) && isnan(vstats_std(&s)));
}

TEST(stats_constant_and_subnormal)
{
	float x[1000];
	struct vstats s, r;

	/* A constant: mean is the constant, std exactly 0. */
	for (int i = 0; i < 1000; i++)
		x[i] = 0.1f;
	vstats_init(&s);
	vstats_add(&s, x, 1000);
	CHECK(s.min == s.max);
	CHECK(vstats_mean(&s) == (double)0.1f);
	CHECK(vstats_std(&s) == 0);

	/* Subnormals are finite, non-zero values like any other. */
	x[0] = bits_f32(1);			/* smallest subnormal */
	x[1] = -bits_f32(0x007fffff);		/* largest subnormal */
	x[2] = FLT_MIN;
	x[3] = 0;
	x[4] = -bits_f32(3);
	x[5] = bits_f32(0x00400000);
	x[6] = -0.0f;
	x[7] = bits_f32(2);
	x[8] = bits_f32(0x00000100);
	vstats_init(&s);
	vstats_add(&s, x, 9);
	ref_vstats(x, 9, &r);
	CHECK_VSTATS(&s, &r, 0);
	CHECK_EQ_U(s.zeros, 2);
	CHECK(s.min == -(double)bits_f32(0x007fffff));
	CHECK(s.max == FLT_MIN);
	CHECK(s.sum != 0);
	CHECK(s.sumsq > 0);		/* squares of subnormals, in double */
}

TEST(stats_lengths)
{
	static const size_t lens[] = { 1, 7, 8, 9, 15, 16, 17, 63, 65, 1000,
				       8191, 8193, 65537 };
	size_t max = 65537;
	float *x = malloc(max * sizeof(float));

	rng_state = 1;
	for (size_t i = 0; i < max; i++)
		x[i] = rng_normal(3);
	x[777] = NAN;
	x[8000] = -INFINITY;
	x[12345] = 0;
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		for (size_t off = 0; off < 3; off++) {
			struct vstats s, r;
			size_t n = lens[l] - (lens[l] > off ? off : 0);

			vstats_init(&s);
			vstats_add(&s, x + off, n);
			ref_vstats(x + off, n, &r);
			CHECK_VSTATS(&s, &r, 0);
		}
	}
	free(x);
}

/* ---- histograms ---- */

/* The bin a value belongs to by the definition: the last i with
 * edge(i) <= x, edges as numpy.linspace makes them. */
static int ref_bin(double lo, double hi, unsigned nb, double x)
{
	double step = (hi - lo) / nb;
	int k = -1;

	if (!(x >= lo && x <= hi))
		return -1;
	for (unsigned i = 0; i < nb; i++)
		if ((double)i * step + lo <= x)
			k = (int)i;
	return k;
}

TEST(stats_hist_edges)
{
	/* Bins [0, .25) [.25, .5) [.5, .75) [.75, 1]: every edge value in
	 * the bin it opens, 1 in the last one; outside counted apart;
	 * NaN and infinity nowhere. */
	float x[] = { 0, 0.25f, 0.5f, 0.75f, 1, -0.0f,
		      0.24999999f, 0.5000001f, 0.99999994f,
		      -1e-9f, 1.0000001f, 7, NAN, INFINITY, -INFINITY };
	struct histogram h;

	hist_init(&h, 0, 1, 4);
	hist_add(&h, x, sizeof(x) / sizeof(x[0]));
	CHECK_EQ_U(h.counts[0], 3);	/* 0, -0, 0.24999999 */
	CHECK_EQ_U(h.counts[1], 1);
	CHECK_EQ_U(h.counts[2], 2);
	CHECK_EQ_U(h.counts[3], 3);	/* .75, 1, .99999994 */
	CHECK_EQ_U(h.below, 1);
	CHECK_EQ_U(h.above, 2);
	CHECK_EQ_I(hist_bin(&h, 0.75), 3);
	CHECK_EQ_I(hist_bin(&h, 1), 3);
	CHECK_EQ_I(hist_bin(&h, 1.5), -1);
	CHECK_EQ_I(hist_bin(&h, NAN), -1);
	hist_release(&h);

	/* [-1, 2] in 3 bins: edges -1, 0, 1, 2. */
	{
		float y[16];

		for (int i = 0; i < 16; i++)
			y[i] = (float)(i % 4) - 1;	/* -1 0 1 2 ... */
		hist_init(&h, -1, 2, 3);
		hist_add(&h, y, 16);
		CHECK_EQ_U(h.counts[0], 4);
		CHECK_EQ_U(h.counts[1], 4);
		CHECK_EQ_U(h.counts[2], 8);
		hist_release(&h);
	}
}

/* Edges that are not round: every value that sits on one (as a float),
 * and its neighbours, in the right bin; bins of many shapes. */
TEST(stats_hist_exact)
{
	static const struct {
		float lo, hi;
		unsigned nb;
	} cases[] = {
		{ -0.1f, 0.1f, 64 }, { -2.65625f, 1.953125f, 64 },
		{ 0.1f, 0.7f, 6 }, { 1, 1.0000002f, 64 }, { -3e38f, 3e38f, 64 },
		{ 0, 1e-44f, 7 }, { -1, 1, 1 }, { -5, 1e6f, 1000 },
		{ -1, 1, 2000 }, { 1000, 1000.001f, 10 },
	};
	enum { N = 4096 };
	float *x = malloc(N * sizeof(float));

	rng_state = 7;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		double lo = cases[c].lo, hi = cases[c].hi;
		unsigned nb = cases[c].nb;
		double step = (hi - lo) / nb;
		struct histogram h;
		uint64_t *want = calloc(nb, sizeof(*want)), below = 0, above = 0;
		size_t n = 0;
		int bad = 0;

		/* Each edge as a float and its two neighbours, then values
		 * spread over the range and a little outside it. */
		for (unsigned i = 0; i <= nb && n + 3 <= N / 2; i++) {
			float e = (float)(i == nb ? hi : (double)i * step + lo);

			x[n++] = e;
			x[n++] = nextafterf(e, -INFINITY);
			x[n++] = nextafterf(e, INFINITY);
		}
		while (n < N) {
			double v = lo + (hi - lo) * (rng_unit() * 1.2 - 0.1);

			x[n++] = (float)(v > FLT_MAX ? FLT_MAX :
					 v < -FLT_MAX ? -FLT_MAX : v);
		}
		hist_init(&h, lo, hi, nb);
		hist_add(&h, x, n);
		for (size_t i = 0; i < n; i++) {
			int k = ref_bin(lo, hi, nb, x[i]);

			if (k >= 0)
				want[k]++;
			else if (x[i] < lo)
				below++;
			else if (x[i] > hi)
				above++;
			if (hist_bin(&h, x[i]) != k)
				bad++;
		}
		check_report(__FILE__, __LINE__, bad == 0,
			     "case %zu: hist_bin differs from the definition %d times",
			     c, bad);
		check_report(__FILE__, __LINE__,
			     memcmp(want, h.counts, nb * sizeof(*want)) == 0 &&
			     below == h.below && above == h.above,
			     "case %zu [%.9g, %.9g] %u bins: counts differ", c,
			     lo, hi, nb);
		hist_release(&h);
		free(want);
	}
	free(x);
}

TEST(stats_hist_constant)
{
	float x[20];
	struct histogram h;

	for (int i = 0; i < 20; i++)
		x[i] = i < 10 ? 3.5f : (i < 15 ? 3 : 4);
	/* lo == hi: one bin, whatever was asked. */
	hist_init(&h, 3.5, 3.5, 64);
	CHECK_EQ_U(h.nbins, 1);
	hist_add(&h, x, 20);
	CHECK_EQ_U(h.counts[0], 10);
	CHECK_EQ_U(h.below, 5);
	CHECK_EQ_U(h.above, 5);
	hist_release(&h);
	/* 0 bins means 1. */
	hist_init(&h, 0, 1, 0);
	CHECK_EQ_U(h.nbins, 1);
	hist_release(&h);
}

TEST(stats_hist_merge)
{
	float x[100];
	struct histogram a, b, all;

	for (int i = 0; i < 100; i++)
		x[i] = (float)i / 10 - 2;
	hist_init(&a, -1, 5, 12);
	hist_init(&b, -1, 5, 12);
	hist_init(&all, -1, 5, 12);
	hist_add(&a, x, 37);
	hist_add(&b, x + 37, 63);
	hist_add(&all, x, 100);
	hist_merge(&a, &b);
	CHECK(memcmp(a.counts, all.counts, 12 * sizeof(*a.counts)) == 0);
	CHECK_EQ_U(a.below, all.below);
	CHECK_EQ_U(a.above, all.above);
	CHECK_EQ_U(a.below, 10);
	CHECK_EQ_U(a.above, 29);
	hist_release(&a);
	hist_release(&b);
	hist_release(&all);
	CHECK(a.counts == NULL);
}

/* ---- compute_stats ---- */

struct arr {
	const float *x;
	uint64_t fail_at;	/* a read covering this element fails */
};

static int arr_read(void *ctx, uint64_t first, size_t n, float *out)
{
	struct arr *a = ctx;

	if (a->fail_at >= first && a->fail_at < first + n)
		return -1;
	memcpy(out, a->x + first, n * sizeof(float));
	return 0;
}

/* Values whose blocks take both routes: BF16-exact blocks (counted by
 * value) and full-precision ones (binned value by value). */
static float *mixed_values(size_t n, int with_nonfinite)
{
	float *x = malloc((n ? n : 1) * sizeof(float));

	rng_state = 42;
	for (size_t i = 0; i < n; i++) {
		float v = rng_normal(0.02);

		if ((i / 8192) % 3 != 1)	/* BF16-valued blocks */
			v = bits_f32(f32_bits(v) & 0xffff0000);
		if (i % 100003 == 5)
			v *= 40;
		x[i] = v;
	}
	if (with_nonfinite && n > 20000) {
		x[3] = NAN;
		x[9000] = INFINITY;	/* in a full-precision block */
		x[17000] = -INFINITY;
		x[n - 1] = 0;
	}
	return x;
}

static void check_compute(const float *x, size_t n, unsigned nbins)
{
	struct arr a = { x, UINT64_MAX };
	struct vstats vs[5], r;
	struct histogram h[5], rh;

	ref_vstats(x, n, &r);
	if (r.count > r.nan + r.inf) {
		hist_init(&rh, r.min, r.max, nbins);
		hist_add(&rh, x, n);
	} else {
		hist_init(&rh, 0, 0, 1);
	}
	for (unsigned t = 1; t <= 4; t++) {
		struct compute_ctl ctl = { t, NULL, NULL, NULL };
		uint64_t tot = 0;

		CHECK_EQ_I(compute_stats(arr_read, &a, n, nbins, &ctl, &vs[t],
					 &h[t]), 0);
		CHECK_VSTATS(&vs[t], &r, 0);
		check_report(__FILE__, __LINE__, h[t].nbins == rh.nbins &&
			     memcmp(h[t].counts, rh.counts,
				    rh.nbins * sizeof(*rh.counts)) == 0,
			     "n %zu, %u threads: histogram differs", n, t);
		CHECK(h[t].lo == rh.lo && h[t].hi == rh.hi);
		for (unsigned i = 0; i < h[t].nbins; i++)
			tot += h[t].counts[i];
		CHECK_EQ_U(tot, r.count - r.nan - r.inf);
		CHECK_EQ_U(h[t].below + h[t].above, 0);
		/* Same chunks, same order of additions: the same bits for
		 * every number of threads. */
		if (t > 1)
			check_report(__FILE__, __LINE__,
				     same_double(vs[t].sum, vs[1].sum) &&
				     same_double(vs[t].sumsq, vs[1].sumsq),
				     "n %zu: sums of %u threads differ from 1", n, t);
	}
	for (unsigned t = 1; t <= 4; t++)
		hist_release(&h[t]);
	hist_release(&rh);
}

TEST(stats_compute_lengths)
{
	static const size_t lens[] = { 0, 1, 7, 9, 8191, 8193, 65535, 65536,
				       65537, 3 * 65536 + 8 * 1024 + 5 };

	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		float *x = mixed_values(lens[l], 1);

		check_compute(x, lens[l], 64);
		check_compute(x, lens[l], 1);
		free(x);
	}
}

TEST(stats_compute_special)
{
	enum { N = 140000 };	/* past TAB_MIN: both routes */
	float *x = malloc(N * sizeof(float));
	struct arr a = { x, UINT64_MAX };
	struct vstats vs;
	struct histogram h;

	/* Nothing finite: one empty bin. */
	for (size_t i = 0; i < N; i++)
		x[i] = i % 2 ? NAN : -INFINITY;
	CHECK_EQ_I(compute_stats(arr_read, &a, N, 64, NULL, &vs, &h), 0);
	CHECK_EQ_U(vs.nan, N / 2);
	CHECK_EQ_U(vs.inf, N / 2);
	CHECK_EQ_U(h.nbins, 1);
	CHECK_EQ_U(h.counts[0], 0);
	hist_release(&h);

	/* A constant: one bin holding everything. */
	for (size_t i = 0; i < N; i++)
		x[i] = -1.5f;
	CHECK_EQ_I(compute_stats(arr_read, &a, N, 64, NULL, &vs, &h), 0);
	CHECK_EQ_U(h.nbins, 1);
	CHECK_EQ_U(h.counts[0], N);
	CHECK(vstats_mean(&vs) == -1.5 && vstats_std(&vs) == 0);
	CHECK(vs.absmax == 1.5);
	hist_release(&h);

	/* Integers (small ones are their own table keys), subnormals and
	 * zeros of both signs. */
	for (size_t i = 0; i < N; i++)
		x[i] = (float)(int)(i % 201) - 100;
	x[100] = bits_f32(1);
	x[101] = -bits_f32(0x80);
	x[102] = -0.0f;
	check_compute(x, N, 200);
	check_compute(x, N, 64);
	free(x);
}

/* F16 data: every half code (subnormals, infinities, NaN with payloads)
 * is counted by code; blocks holding a value that is no half go the slow
 * way; both give the same numbers. */
TEST(stats_compute_f16)
{
	enum { N = 5 * 65536 + 1000 };
	float *x = malloc(N * sizeof(float));
	static const float odd[] = { 65536.0f, 65520.0f, 1 + 0x1p-20f,
				     0x1p-25f, 0x1.8p-24f, 1e-40f };

	for (size_t i = 0; i < N; i++)
		x[i] = f16_to_f32((uint16_t)(i * 7919));
	check_compute(x, N, 64);
	for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++)
		x[8192 * (3 * k + 1) + 77 * k] = k % 2 ? -odd[k] : odd[k];
	check_compute(x, N, 64);
	/* Only finite halves, narrow range: bins of several codes each. */
	for (size_t i = 0; i < N; i++)
		x[i] = f16_to_f32((uint16_t)(0x3800 + i % 0x400));
	check_compute(x, N, 64);
	check_compute(x, N, 1000);
	free(x);
}

/* F32 data of several shapes: narrow (bins far finer than the values'
 * spacing at 1), edges on round values, wide with outliers. */
TEST(stats_compute_f32)
{
	enum { N = 3 * 65536 + 333 };
	float *x = malloc(N * sizeof(float));

	rng_state = 11;
	for (size_t i = 0; i < N; i++)		/* narrow */
		x[i] = 1 + rng_normal(1e-3);
	check_compute(x, N, 64);
	for (size_t i = 0; i < N; i++)		/* edges on round values */
		x[i] = (float)(1 + rng_unit());
	x[5] = 1;
	x[N - 5] = 2;
	check_compute(x, N, 64);
	check_compute(x, N, 256);
	check_compute(x, N, 100);
	for (size_t i = 0; i < N; i++)		/* wide, with outliers */
		x[i] = rng_normal(0.02) * (i % 1009 ? 1 : 300);
	check_compute(x, N, 64);
	check_compute(x, N, 7);
	free(x);
}

static int progress_calls;
static double progress_last;
static volatile int stop_flag;

static void on_progress(void *arg, double done)
{
	int *cancel_after = arg;

	if (!(done >= progress_last && done <= 1))
		progress_last = -1;	/* went backwards: noted below */
	else
		progress_last = done;
	if (++progress_calls == *cancel_after)
		__atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
}

TEST(stats_compute_control)
{
	enum { N = 20 * 65536 };
	float *x = mixed_values(N, 0);
	struct arr a = { x, UINT64_MAX };
	int never = -1, after = 3;
	struct compute_ctl ctl = { 2, &stop_flag, on_progress, &never };
	struct vstats vs;
	struct histogram h;

	/* Progress: never backwards, ends at 1. */
	progress_calls = 0;
	progress_last = 0;
	stop_flag = 0;
	CHECK_EQ_I(compute_stats(arr_read, &a, N, 64, &ctl, &vs, &h), 0);
	CHECK(progress_calls > 2);
	CHECK(progress_last == 1);
	hist_release(&h);

	/* Cancelled from the progress callback: 1, nothing held. */
	progress_calls = 0;
	progress_last = 0;
	stop_flag = 0;
	ctl.arg = &after;
	CHECK_EQ_I(compute_stats(arr_read, &a, N, 64, &ctl, &vs, &h), 1);
	CHECK(h.counts == NULL);
	stop_flag = 0;

	/* A reader failure: -1, nothing held. */
	a.fail_at = N / 2 + 3;
	ctl.progress = NULL;
	CHECK_EQ_I(compute_stats(arr_read, &a, N, 64, &ctl, &vs, &h), -1);
	CHECK(h.counts == NULL);
	free(x);
}

/* ---- compute_stats16: codes counted, against their values binned ---- */

struct codes {
	const uint16_t *c;
	uint64_t fail_at;
	size_t runs;		/* hand the codes over in runs this long */
};

static int codes_read(void *ctx, uint64_t first, size_t n, codes16_fn *fn,
		      void *arg)
{
	struct codes *a = ctx;

	if (a->fail_at >= first && a->fail_at < first + n)
		return -1;
	for (size_t i = 0; i < n; i += a->runs)
		fn(arg, a->c + first + i, n - i < a->runs ? n - i : a->runs);
	return 0;
}

/* The same bits as compute_stats() over the decoded values, for every
 * thread count. */
static void check_codes(const uint16_t *c, size_t n, enum dtype dt,
			unsigned nbins)
{
	float *x = malloc((n ? n : 1) * sizeof(float));
	struct arr a = { x, UINT64_MAX };
	struct codes cr = { c, UINT64_MAX, 1000 };
	struct vstats r, vs;
	struct histogram rh, h;

	for (size_t i = 0; i < n; i++)
		x[i] = dt == DT_BF16 ? bf16_to_f32(c[i]) : f16_to_f32(c[i]);
	CHECK_EQ_I(compute_stats(arr_read, &a, n, nbins, NULL, &r, &rh), 0);
	for (unsigned t = 1; t <= 3; t++) {
		struct compute_ctl ctl = { t, NULL, NULL, NULL };

		CHECK_EQ_I(compute_stats16(codes_read, &cr, dt, n, nbins,
					   &ctl, &vs, &h), 0);
		check_report(__FILE__, __LINE__,
			     vs.count == r.count && vs.nan == r.nan &&
			     vs.inf == r.inf && vs.zeros == r.zeros &&
			     same_double(vs.sum, r.sum) &&
			     same_double(vs.sumsq, r.sumsq) &&
			     same_double(vs.min, r.min) &&
			     same_double(vs.max, r.max) &&
			     same_double(vs.absmax, r.absmax),
			     "%s, n %zu, %u threads: statistics differ",
			     dtype_get(dt)->name, n, t);
		check_report(__FILE__, __LINE__, h.nbins == rh.nbins &&
			     h.lo == rh.lo && h.hi == rh.hi &&
			     memcmp(h.counts, rh.counts,
				    rh.nbins * sizeof(*rh.counts)) == 0,
			     "%s, n %zu, %u threads: histogram differs",
			     dtype_get(dt)->name, n, t);
		hist_release(&h);
	}
	hist_release(&rh);
	free(x);
}

TEST(stats_compute16)
{
	static const size_t lens[] = { 0, 1, 9, 8193, 131071, 131072,
				       3 * 65536 + 8 * 1024 + 5 };
	static const uint16_t odd16[] = { 0x7c00, 0xfc00, 0x7e00, 0xfd01,
					  0x0001, 0x8001, 0x03ff, 0x7bff,
					  0xfbff, 0x0000, 0x8000 };
	static const uint16_t oddbf[] = { 0x7f80, 0xff80, 0x7fc0, 0xffc1,
					  0x0001, 0x8001, 0x007f, 0x7f7f,
					  0xff7f, 0x0000, 0x8000 };
	size_t nmax = lens[sizeof(lens) / sizeof(lens[0]) - 1];
	uint16_t *c = malloc(nmax * sizeof(*c));
	struct codes cr = { c, UINT64_MAX, 8192 };
	struct vstats vs;
	struct histogram h;

	for (int d = 0; d < 2; d++) {
		enum dtype dt = d ? DT_F16 : DT_BF16;
		const uint16_t *odd = d ? odd16 : oddbf;

		rng_state = 7;
		for (size_t i = 0; i < nmax; i++) {
			float v = rng_normal(0.02);

			c[i] = dt == DT_BF16 ? f32_to_bf16(v) : f32_to_f16(v);
		}
		for (size_t k = 0; k < sizeof(odd16) / sizeof(odd16[0]); k++)
			c[(k * 7919 + 3) % 131071] = odd[k];
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			check_codes(c, lens[l], dt, 64);
			check_codes(c, lens[l], dt, 7);
		}
		/* Every code once: all of them at the tables' ends. */
		for (size_t i = 0; i < 131072; i++)
			c[i] = (uint16_t)(i * 40503u);
		check_codes(c, 131072, dt, 64);
		check_codes(c, 131072, dt, 1000);
	}

	/* A reader failure: -1, nothing held; not a 16-bit dtype: -1. */
	cr.fail_at = nmax / 2;
	CHECK_EQ_I(compute_stats16(codes_read, &cr, DT_BF16, nmax, 64, NULL,
				   &vs, &h), -1);
	CHECK(h.counts == NULL);
	cr.fail_at = UINT64_MAX;
	CHECK_EQ_I(compute_stats16(codes_read, &cr, DT_F32, nmax, 64, NULL,
				   &vs, &h), -1);
	CHECK(h.counts == NULL);
	free(c);
}

/* compute_run itself: chunks aligned, each element once, thread ids in
 * range. */
struct seen {
	unsigned char *hit;
	size_t align;
	unsigned nt;
	int bad;
};

static int mark(void *arg, const struct compute_chunk *c)
{
	struct seen *s = arg;

	if (c->first % s->align || c->thread >= s->nt ||
	    c->first != c->index * c->chunk || !c->scratch)
		s->bad = 1;
	for (size_t i = 0; i < c->n; i++)
		s->hit[c->first + i]++;
	return 0;
}

TEST(stats_compute_run)
{
	static const size_t aligns[] = { 1, 256, 4096, 100000 };
	enum { N = 1000003 };
	unsigned char *hit = malloc(N);

	for (size_t i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		struct seen s = { hit, aligns[i], 0, 0 };
		struct compute_job job = { N, aligns[i], 64, mark, &s };
		struct compute_ctl ctl = { 3, NULL, NULL, NULL };
		size_t missed = 0;

		s.nt = compute_threads(&job, &ctl);
		CHECK(s.nt >= 1 && s.nt <= 3);
		CHECK_EQ_U(compute_chunk_size(&job) % aligns[i], 0);
		memset(hit, 0, N);
		CHECK_EQ_I(compute_run(&job, &ctl), 0);
		for (size_t k = 0; k < N; k++)
			missed += hit[k] != 1;
		CHECK_EQ_U(missed, 0);
		CHECK(!s.bad);
	}
	free(hit);
}

/* ---- errors ---- */

TEST(stats_err_known)
{
	float x[40], y[40];
	struct err_acc a;
	struct err_metrics m;

	/* Exact reconstruction. */
	for (int i = 0; i < 40; i++)
		x[i] = y[i] = (float)(i - 13) / 4;
	err_acc_init(&a);
	err_acc_add(&a, x, y, 40);
	err_acc_finish(&a, &m);
	CHECK_EQ_U(a.n, 40);
	CHECK(m.rmse == 0 && m.rel_err == 0 && m.max_abs_err == 0);
	CHECK(m.sqnr_db == INFINITY);
	CHECK(m.cosine == 1);
	CHECK(m.clipped_share == 0 && m.flushed_share == 0);

	/* y = 0: relative error 1, every non-zero value flushed. */
	memset(y, 0, sizeof(y));
	err_acc_init(&a);
	err_acc_add(&a, x, y, 40);
	err_acc_finish(&a, &m);
	CHECK(m.rel_err == 1);
	CHECK(m.sqnr_db == 0);
	CHECK(m.flushed_share == 1);
	CHECK_EQ_U(a.nonzero, 39);
	CHECK_EQ_U(a.flushed, 39);
	CHECK(m.cosine == 0);
	CHECK(m.max_abs_err == 26.0 / 4);

	/* x = 1 2 3 4, y = 1 2 3 5, in every lane position (10 copies). */
	for (int i = 0; i < 40; i++) {
		x[i] = (float)(i % 4 + 1);
		y[i] = x[i] + (i % 4 == 3);
	}
	err_acc_init(&a);
	err_acc_add(&a, x, y, 40);
	err_acc_finish(&a, &m);
	CHECK(a.sse == 10 && a.sxx == 300 && a.syy == 390 && a.sxy == 340);
	CHECK(m.rmse == 0.5);
	CHECK_NEAR(m.rel_err, 1 / sqrt(30), 1e-15);
	CHECK_NEAR(m.sqnr_db, 10 * log10(30), 1e-12);
	CHECK_NEAR(m.cosine, 34 / sqrt(30.0 * 39), 1e-15);
	CHECK(m.max_abs_err == 1);

	/* y = x but one value sent to infinity, one to NaN; a NaN in x is
	 * not a pair at all. */
	for (int i = 0; i < 40; i++)
		x[i] = y[i] = (float)(i + 1);
	y[5] = INFINITY;
	y[17] = NAN;
	x[30] = NAN;
	err_acc_init(&a);
	err_acc_add(&a, x, y, 40);
	a.clipped = 1;		/* as a saturating quantizer would add */
	err_acc_finish(&a, &m);
	CHECK_EQ_U(a.n, 39);
	CHECK_EQ_U(a.to_inf, 2);
	CHECK(a.sse == 0 && m.rel_err == 0);
	CHECK(m.clipped_share == 3.0 / 39);

	/* Both zero: cosine 1; only x zero, y not: cosine 0, rel inf. */
	memset(x, 0, sizeof(x));
	memset(y, 0, sizeof(y));
	err_acc_init(&a);
	err_acc_add(&a, x, y, 40);
	err_acc_finish(&a, &m);
	CHECK(m.cosine == 1 && m.rel_err == 0 && m.flushed_share == 0);
	y[3] = 1;
	err_acc_add(&a, x, y, 40);
	err_acc_finish(&a, &m);
	CHECK(m.cosine == 0 && m.rel_err == INFINITY);

	/* Nothing measured. */
	err_acc_init(&a);
	err_acc_finish(&a, &m);
	CHECK(m.rmse == 0 && m.rel_err == 0 && m.cosine == 1);
}

TEST(stats_err_lengths)
{
	enum { N = 1037 };
	float x[N], y[N];

	rng_state = 3;
	for (int i = 0; i < N; i++) {
		x[i] = rng_normal(1);
		y[i] = x[i] + rng_normal(0.01);
	}
	x[100] = 0;
	y[200] = 0;
	for (size_t n = 0; n <= N; n += n < 40 ? 1 : 97) {
		struct err_acc a, b;
		double sse = 0, sxx = 0, syy = 0, sxy = 0, mx = 0;
		uint64_t nz = 0, fl = 0;

		err_acc_init(&a);
		err_acc_add(&a, x, y, n / 3);
		err_acc_init(&b);
		err_acc_add(&b, x + n / 3, y + n / 3, n - n / 3);
		err_acc_merge(&a, &b);
		for (size_t i = 0; i < n; i++) {
			double d = (double)y[i] - x[i];

			sse += d * d;
			sxx += (double)x[i] * x[i];
			syy += (double)y[i] * y[i];
			sxy += (double)x[i] * y[i];
			mx = fabs(d) > mx ? fabs(d) : mx;
			nz += x[i] != 0;
			fl += x[i] != 0 && y[i] == 0;
		}
		check_report(__FILE__, __LINE__,
			     a.n == n && a.nonzero == nz && a.flushed == fl &&
			     a.max_abs == mx &&
			     fabs(a.sse - sse) <= 1e-12 * sse &&
			     fabs(a.sxx - sxx) <= 1e-12 * sxx &&
			     fabs(a.syy - syy) <= 1e-12 * syy &&
			     fabs(a.sxy - sxy) <= 1e-12 * fabs(sxy),
			     "n %zu: err_acc differs from the scalar sums", n);
	}
}

/* ---- the fixtures ---- */

struct tread {
	const struct model *m;
	const struct tensor *t;
};

static int tensor_reader(void *ctx, uint64_t first, size_t n, float *out)
{
	struct tread *r = ctx;
	struct err e;

	return tensor_read_f32(r->m, r->t, first, n, out, &e);
}

static int fixtures_checked, fixtures_codes;

static void check_fixture(const char *epath)
{
	char path[4096];
	json_error_t jerr;
	json_t *exp, *et;
	const char *fmt;
	struct model m;
	struct err e = { "" };
	size_t i;

	/* Integer sums can pass 2^63: read every integer as a double. */
	exp = json_load_file(epath, JSON_DECODE_INT_AS_REAL, &jerr);
	if (!check_report(__FILE__, __LINE__, exp != NULL, "%s: %s", epath,
			  jerr.text))
		return;
	fmt = json_string_value(json_object_get(exp, "format"));
	if (!fmt || (strcmp(fmt, "safetensors") &&
		     strcmp(fmt, "safetensors-index-json")) ||
	    !json_is_array(json_object_get(exp, "tensors"))) {
		json_decref(exp);
		return;
	}
	snprintf(path, sizeof(path), "%.*s", (int)(strlen(epath) - 14), epath);
	if (strcmp(fmt, "safetensors-index-json") == 0)
		*strrchr(path, '/') = '\0';	/* the folder */
	if (!check_report(__FILE__, __LINE__, model_open(&m, path, &e) == 0,
			  "%s", e.msg)) {
		json_decref(exp);
		return;
	}
	fixtures_checked++;
	json_array_foreach(json_object_get(exp, "tensors"), i, et) {
		const char *name = json_string_value(json_object_get(et, "name"));
		const struct tensor *t = model_find(&m, name);
		struct tread r = { &m, t };
		struct compute_ctl ctl = { 2, NULL, NULL, NULL };
		struct vstats vs;
		struct histogram h;
		double es, scale, emin, emax;
		uint64_t fin, tot = 0;

		if (!t || !json_object_get(et, "sum") ||
		    !dtype_get(t->dtype)->decode)
			continue;
		if (!check_report(__FILE__, __LINE__,
				  compute_stats(tensor_reader, &r, t->params, 64,
						&ctl, &vs, &h) == 0,
				  "%s: %s: compute_stats failed", path, name))
			continue;
		es = json_number_value(json_object_get(et, "sum"));
		scale = sqrt((double)t->params *
			     json_number_value(json_object_get(et, "sumsq")));
		check_report(__FILE__, __LINE__,
			     vs.nan == json_number_value(json_object_get(et, "nan")) &&
			     vs.inf == json_number_value(json_object_get(et, "inf")) &&
			     vs.count == t->params,
			     "%s: %s: count %llu nan %llu inf %llu", path, name,
			     (unsigned long long)vs.count,
			     (unsigned long long)vs.nan,
			     (unsigned long long)vs.inf);
		/* Values are float32 (integers past 2^24 and F64 are rounded
		 * to it), so sums agree to float precision. */
		check_report(__FILE__, __LINE__,
			     fabs(vs.sum - es) <= 1e-6 * scale + 1e-6 * fabs(es),
			     "%s: %s: sum %.17g, expected %.17g", path, name,
			     vs.sum, es);
		fin = vs.count - vs.nan - vs.inf;
		if (fin) {
			emin = json_number_value(json_object_get(et, "min"));
			emax = json_number_value(json_object_get(et, "max"));
			check_report(__FILE__, __LINE__,
				     (float)vs.min == (float)emin &&
				     (float)vs.max == (float)emax,
				     "%s: %s: min %.9g max %.9g, expected %.9g %.9g",
				     path, name, vs.min, vs.max, emin, emax);
		}
		for (unsigned k = 0; k < h.nbins; k++)
			tot += h.counts[k];
		CHECK_EQ_U(tot, fin);
		/* tensor_stats(): the codes of BF16 and F16 tensors counted
		 * straight from the file, the same bits. */
		{
			struct vstats v2;
			struct histogram h2;

			if (check_report(__FILE__, __LINE__,
					 tensor_stats(&m, t, 64, &ctl, &v2, &h2,
						      &e) == 0,
					 "%s: %s: %s", path, name, e.msg)) {
				check_report(__FILE__, __LINE__,
					     same_double(v2.sum, vs.sum) &&
					     same_double(v2.sumsq, vs.sumsq) &&
					     same_double(v2.min, vs.min) &&
					     same_double(v2.max, vs.max) &&
					     v2.count == vs.count &&
					     v2.nan == vs.nan &&
					     v2.zeros == vs.zeros &&
					     h2.nbins == h.nbins &&
					     memcmp(h2.counts, h.counts,
						    h.nbins * sizeof(*h.counts)) == 0,
					     "%s: %s: tensor_stats differs from compute_stats",
					     path, name);
				fixtures_codes += tensor_codes16(t) != DT_NONE;
				hist_release(&h2);
			}
		}
		hist_release(&h);
	}
	model_release(&m);
	json_decref(exp);
}

static void walk(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[4096];
		struct stat st;
		size_t l = strlen(de->d_name);

		if (de->d_name[0] == '.' || strcmp(de->d_name, "bad") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (stat(p, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			walk(p);
		else if (l > 14 && strcmp(de->d_name + l - 14, ".expected.json") == 0)
			check_fixture(p);
	}
	closedir(d);
}

TEST(stats_fixtures)
{
	const char *dir = check_fixtures();

	if (!dir)
		return;
	fixtures_checked = fixtures_codes = 0;
	walk(dir);
	CHECK(fixtures_checked >= 10);
	CHECK(fixtures_codes >= 5);	/* BF16 and F16 tensors among them */
}
