/*
 * Unit tests for quant/schemes.c, quant/intq.c and quant/floatq.c: the
 * table and its names; bits per weight and bytes; where schemes apply;
 * chunk alignment and plane offsets; for every scheme, dequantize(quantize
 * (x)) against values this file computes from the formula (nearest codes by
 * brute-force search over the code tables, scales with ldexp/frexp and
 * nearbyint), and packed bytes against the documented layouts and the
 * FORMATS.md vectors (7.1, 7.2, 7.4 Q8_0, 7.5 NF4); chunked quantization
 * against one-shot; all-zero, constant, NaN/Inf and subnormal inputs; the
 * streamed error with several threads and chunk sizes.
 */
#include <float.h>
#include <stdlib.h>

#include "quant/dtype.h"
#include "quant/ggml.h"
#include "quant/schemes.h"
#include "tests/check.h"

#define MAX_FAILS 8
#define N4096 ((uint64_t)4096 * 4096)

static void *zalloc(size_t n)
{
	void *p = calloc(n ? n : 1, 1);

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static double unif(uint64_t *s)
{
	return ((double)(rnd(s) >> 11) + 0.5) / 9007199254740992.0;
}

static float gauss(uint64_t *s)
{
	return (float)(sqrt(-2 * log(unif(s))) * cos(6.283185307179586 *
						      unif(s)));
}

static float fbits(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static uint32_t bitsf(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static struct scheme_shape shape2(uint64_t r, uint64_t c)
{
	struct scheme_shape sh = { 2, { r, c } };

	return sh;
}

static const struct scheme *S(const char *name)
{
	const struct scheme *s = scheme_find(name);

	if (!s) {
		fprintf(stderr, "no scheme %s\n", name);
		exit(2);
	}
	return s;
}

/* float32 little-endian at p. */
static float ld_f32(const unsigned char *p)
{
	return fbits((uint32_t)p[0] | (uint32_t)p[1] << 8 |
		     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static uint16_t ld_16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* A whole tensor in one go: prepass, quantize, dequantize.  q must hold
 * scheme_chunk_bytes(params); returns the clipped count. */
static uint64_t whole(const struct scheme *s, const struct scheme_shape *sh,
		      const float *x, unsigned char *q, float *y,
		      struct scheme_ctx *cout)
{
	struct scheme_ctx c;
	uint64_t clipped;

	scheme_ctx_init(&c, s, sh);
	if (s->prepass) {
		struct scheme_pre p;

		scheme_pre_init(&p);
		s->prepass(&c, &p, 0, x, c.params);
		scheme_prepared(&c, &p);
	}
	clipped = s->quantize(&c, 0, x, c.params, q);
	s->dequantize(&c, 0, q, c.params, y);
	if (cout)
		*cout = c;
	return clipped;
}

/* Round trip of n values as a [1, n] tensor; y and q allocated. */
static uint64_t trip(const char *name, const float *x, size_t n,
		     unsigned char **q, float **y, struct scheme_ctx *c)
{
	struct scheme_shape sh = shape2(1, n);
	const struct scheme *s = S(name);
	struct scheme_ctx cc;
	uint64_t clipped;

	scheme_ctx_init(&cc, s, &sh);
	*q = zalloc(scheme_chunk_bytes(&cc, n) + 1);
	*y = zalloc(n * sizeof(float));
	clipped = whole(s, &sh, x, *q, *y, c);
	return clipped;
}

/* Nearest value of tab[0..n) to v (finite), ties to the code with an even
 * mantissa (even index among the magnitudes); magnitudes only. */
static int nearest_even(const double *mag, int n, double v)
{
	int best = 0;

	for (int i = 1; i < n; i++) {
		double d = fabs(mag[i] - v), db = fabs(mag[best] - v);

		if (d < db || (d == db && !(i & 1)))
			best = i;
	}
	return best;
}

/* ---- the table ---- */

TEST(schemes_table)
{
	static const char *const names[] = {
		"f32", "tf32", "f16", "bf16", "fp8-e4m3", "fp8-e5m2", "int8",
		"int8-tensor", "int4-g128", "int4-g128-asym", "nf4", "nf4-dq",
		"fp4", "mxfp4", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
		"q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "ternary", "binary",
	};

	CHECK_EQ_U(nschemes, sizeof(names) / sizeof(names[0]));
	for (size_t i = 0; i < nschemes && i < sizeof(names) / sizeof(names[0]);
	     i++) {
		CHECK_STR(schemes[i].name, names[i]);
		CHECK(scheme_find(names[i]) == &schemes[i]);
		CHECK(schemes[i].desc && *schemes[i].desc &&
		      strlen(schemes[i].desc) < 70);
		CHECK(schemes[i].quantize && schemes[i].dequantize);
	}
	CHECK(scheme_find("Q4_K") == NULL);
	CHECK(scheme_find("int4") == NULL);
	CHECK(scheme_find("") == NULL);
	CHECK(scheme_find(NULL) == NULL);
	/* the GGUF rows name their block type */
	CHECK_EQ_I(S("q4_k")->ggml, DT_Q4_K);
	CHECK_EQ_I(S("q8_0")->ggml, DT_Q8_0);
	CHECK_EQ_I(S("int8")->ggml, DT_NONE);
	/* the rows with a per-tensor statistic have a prepass */
	CHECK(S("fp8-e4m3")->prepass && S("fp8-e5m2")->prepass &&
	      S("int8-tensor")->prepass && S("ternary")->prepass &&
	      S("nf4-dq")->prepass);
	CHECK(!S("int8")->prepass && !S("nf4")->prepass &&
	      !S("q4_k")->prepass);
}

TEST(schemes_bits_4096)
{
	static const struct {
		const char *name;
		double bits;
	} want[] = {
		{ "f32", 32 }, { "tf32", 32 }, { "f16", 16 }, { "bf16", 16 },
		{ "fp8-e4m3", 8 + 32.0 / N4096 }, { "fp8-e5m2", 8 + 32.0 / N4096 },
		{ "int8", 8 + 32.0 / 4096 }, { "int8-tensor", 8 + 32.0 / N4096 },
		{ "int4-g128", 4.125 }, { "int4-g128-asym", 4.15625 },
		{ "nf4", 4.5 },
		{ "nf4-dq", 4 + 8.0 / 64 + 32.0 / 16384 + 32.0 / N4096 },
		{ "fp4", 4.5 }, { "mxfp4", 4.25 }, { "q8_0", 8.5 },
		{ "q4_0", 4.5 }, { "q4_1", 5 }, { "q5_0", 5.5 }, { "q5_1", 6 },
		{ "q2_k", 2.625 }, { "q3_k", 3.4375 }, { "q4_k", 4.5 },
		{ "q5_k", 5.5 }, { "q6_k", 6.5625 },
		{ "ternary", 2 + 32.0 / N4096 }, { "binary", 1 + 32.0 / 4096 },
	};
	struct scheme_shape sh = shape2(4096, 4096);

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		double b = scheme_bits(S(want[i].name), &sh);

		check_report(__FILE__, __LINE__, fabs(b - want[i].bits) < 1e-12,
			     "%s: %.9f bits, want %.9f", want[i].name, b,
			     want[i].bits);
	}
	CHECK_EQ_U(scheme_bytes(S("int4-g128"), &sh), N4096 / 2 + N4096 / 128 * 2);
	CHECK_EQ_U(scheme_bytes(S("int4-g128-asym"), &sh),
		   N4096 / 2 + N4096 / 128 * 2 + N4096 / 256);
	CHECK_EQ_U(scheme_bytes(S("int8"), &sh), N4096 + 4096 * 4);
	CHECK_EQ_U(scheme_bytes(S("q4_k"), &sh), N4096 / 256 * 144);
	CHECK_EQ_U(scheme_bytes(S("q8_0"), &sh), N4096 / 32 * 34);
	CHECK_EQ_U(scheme_bytes(S("nf4-dq"), &sh),
		   N4096 / 2 + N4096 / 64 + N4096 / 16384 * 4 + 4);
	CHECK_EQ_U(scheme_bytes(S("f32"), &sh), N4096 * 4);
}

TEST(schemes_bytes_odd_shapes)
{
	struct scheme_shape sh;

	/* bitsandbytes: 21 values = 11 code bytes + one short block */
	sh = shape2(3, 7);
	CHECK_EQ_U(scheme_bytes(S("nf4"), &sh), 11 + 4);
	CHECK_EQ_U(scheme_bytes(S("fp4"), &sh), 11 + 4);
	/* 65 values: 33 code bytes, 2 block indices, 1 nested absmax, offset */
	sh = shape2(1, 65);
	CHECK_EQ_U(scheme_bytes(S("nf4-dq"), &sh), 33 + 2 + 4 + 4);
	/* 6 ternary values: 2 bytes + the scale */
	sh = shape2(2, 3);
	CHECK_EQ_U(scheme_bytes(S("ternary"), &sh), 2 + 4);
	/* 15 signs: 2 bytes + 3 row scales */
	sh = shape2(3, 5);
	CHECK_EQ_U(scheme_bytes(S("binary"), &sh), 2 + 12);
	CHECK_EQ_U(scheme_bytes(S("int8"), &sh), 15 + 12);
	CHECK_EQ_U(scheme_bytes(S("int8-tensor"), &sh), 15 + 4);
	CHECK_EQ_U(scheme_bytes(S("fp8-e4m3"), &sh), 15 + 4);
	CHECK_EQ_U(scheme_bytes(S("bf16"), &sh), 30);
	/* three groups of 128: the third zero point in a byte of its own */
	sh = shape2(3, 128);
	CHECK_EQ_U(scheme_bytes(S("int4-g128-asym"), &sh), 192 + 6 + 2);
	/* a 3-D tensor: rows are the outermost index */
	sh.ndim = 3;
	sh.dim[0] = 2;
	sh.dim[1] = 3;
	sh.dim[2] = 64;
	CHECK_EQ_U(scheme_bytes(S("int8"), &sh), 384 + 2 * 4);
	CHECK_NEAR(scheme_bits(S("int8"), &sh), 8 + 64.0 / 384, 1e-12);
	/* a scalar cast */
	sh.ndim = 0;
	CHECK_EQ_U(scheme_bytes(S("f16"), &sh), 2);
	CHECK_NEAR(scheme_bits(S("f16"), &sh), 16, 0);
}

TEST(schemes_applies)
{
	struct scheme_shape sh = { 1, { 4096 } };

	CHECK_STR(scheme_applies(S("int8"), &sh), "1-D tensor kept");
	CHECK_STR(scheme_applies(S("q4_k"), &sh), "1-D tensor kept");
	CHECK_STR(scheme_applies(S("nf4"), &sh), "1-D tensor kept");
	CHECK(scheme_applies(S("f16"), &sh) == NULL);
	CHECK(scheme_applies(S("bf16"), &sh) == NULL);
	sh.ndim = 0;
	CHECK_STR(scheme_applies(S("ternary"), &sh), "scalar kept");
	CHECK(scheme_applies(S("f32"), &sh) == NULL);

	sh = shape2(64, 100);
	CHECK_STR(scheme_applies(S("int4-g128"), &sh),
		  "row length 100 is not a multiple of 128");
	CHECK_STR(scheme_applies(S("q8_0"), &sh),
		  "row length 100 is not a multiple of 32");
	CHECK_STR(scheme_applies(S("mxfp4"), &sh),
		  "row length 100 is not a multiple of 32");
	CHECK(scheme_applies(S("int8"), &sh) == NULL);
	CHECK(scheme_applies(S("ternary"), &sh) == NULL);
	CHECK(scheme_applies(S("binary"), &sh) == NULL);
	CHECK(scheme_applies(S("fp8-e4m3"), &sh) == NULL);
	/* bitsandbytes blocks the flattened tensor */
	CHECK(scheme_applies(S("nf4"), &sh) == NULL);
	CHECK(scheme_applies(S("nf4-dq"), &sh) == NULL);
	CHECK(scheme_applies(S("fp4"), &sh) == NULL);

	sh = shape2(8, 4160);	/* 130 blocks of 32, 16.25 of 256 */
	CHECK(scheme_applies(S("q4_0"), &sh) == NULL);
	CHECK_STR(scheme_applies(S("q4_k"), &sh),
		  "row length 4160 is not a multiple of 256");
	CHECK_STR(scheme_applies(S("int4-g128-asym"), &sh),
		  "row length 4160 is not a multiple of 128");
	sh = shape2(8, 4096);
	for (size_t i = 0; i < nschemes; i++)
		CHECK(scheme_applies(&schemes[i], &sh) == NULL);
	sh = shape2(0, 4096);
	CHECK_STR(scheme_applies(S("int8"), &sh), "empty tensor");

	/* blocks run along the innermost dimension */
	sh.ndim = 3;
	sh.dim[0] = 4;
	sh.dim[1] = 128;
	sh.dim[2] = 96;
	CHECK(scheme_applies(S("q8_0"), &sh) == NULL);
	CHECK(scheme_applies(S("int4-g128"), &sh) != NULL);

	sh = shape2(4, 256);
	CHECK_STR(scheme_applies_to(S("int8"), DT_I64, &sh),
		  "integer tensor kept");
	CHECK_STR(scheme_applies_to(S("f16"), DT_U8, &sh),
		  "integer tensor kept");
	CHECK_STR(scheme_applies_to(S("f16"), DT_BOOL, &sh),
		  "boolean tensor kept");
	CHECK_STR(scheme_applies_to(S("q4_k"), DT_F6_E2M3, &sh),
		  "values of this dtype cannot be decoded");
	CHECK(scheme_applies_to(S("q4_k"), DT_BF16, &sh) == NULL);
	CHECK(scheme_applies_to(S("int8"), DT_Q4_K, &sh) == NULL);
}

TEST(schemes_align_and_planes)
{
	struct scheme_shape sh = shape2(10, 100);
	struct scheme_ctx c;

	scheme_ctx_init(&c, S("int8"), &sh);
	CHECK_EQ_U(scheme_align(&c), 100);
	CHECK_EQ_U(scheme_plane_offset(&c, 300, 1), 300);
	CHECK_EQ_U(scheme_chunk_bytes(&c, 300), 300 + 12);
	sh = shape2(3, 5);
	scheme_ctx_init(&c, S("binary"), &sh);
	CHECK_EQ_U(scheme_align(&c), 40);	/* whole rows, whole bytes */
	CHECK_EQ_U(scheme_chunk_bytes(&c, 15), 2 + 12);
	sh = shape2(4, 512);
	scheme_ctx_init(&c, S("int4-g128-asym"), &sh);
	CHECK_EQ_U(scheme_align(&c), 256);	/* zero points pair up */
	CHECK_EQ_U(scheme_plane_offset(&c, 256, 1), 128);
	CHECK_EQ_U(scheme_plane_offset(&c, 256, 2), 128 + 4);
	CHECK_EQ_U(scheme_plane_offset(&c, 256, 3), 128 + 4 + 1);
	scheme_ctx_init(&c, S("nf4-dq"), &sh);
	CHECK_EQ_U(scheme_align(&c), 16384);
	CHECK_EQ_U(scheme_chunk_bytes(&c, 65), 33 + 2 + 4);
	scheme_ctx_init(&c, S("nf4"), &sh);
	CHECK_EQ_U(scheme_align(&c), 64);
	CHECK_EQ_U(scheme_plane_offset(&c, 65, 1), 33);
	CHECK_EQ_U(scheme_chunk_bytes(&c, 65), 33 + 8);
	scheme_ctx_init(&c, S("mxfp4"), &sh);
	CHECK_EQ_U(scheme_align(&c), 32);
	CHECK_EQ_U(scheme_chunk_bytes(&c, 64), 32 + 2);
	scheme_ctx_init(&c, S("q4_k"), &sh);
	CHECK_EQ_U(scheme_align(&c), 256);
	CHECK_EQ_U(scheme_chunk_bytes(&c, 512), 288);
	scheme_ctx_init(&c, S("ternary"), &sh);
	CHECK_EQ_U(scheme_align(&c), 4);
	scheme_ctx_init(&c, S("f16"), &sh);
	CHECK_EQ_U(scheme_align(&c), 1);
	scheme_ctx_init(&c, S("int8-tensor"), &sh);
	CHECK_EQ_U(scheme_align(&c), 1);
}

/* ---- casts ---- */

TEST(schemes_casts_vectors)
{
	/* FORMATS.md 7.1: input bits, f16, bf16, tf32 bits */
	static const uint32_t v[][4] = {
		{ 0x00000000, 0x0000, 0x0000, 0x00000000 },
		{ 0x80000000, 0x8000, 0x8000, 0x80000000 },
		{ 0x3F800000, 0x3C00, 0x3F80, 0x3F800000 },
		{ 0x3DCCCCCD, 0x2E66, 0x3DCD, 0x3DCCC000 },
		{ 0x3EAAAAAB, 0x3555, 0x3EAB, 0x3EAAA000 },
		{ 0x477FEF00, 0x7BFF, 0x4780, 0x477FE000 },
		{ 0x477FF000, 0x7C00, 0x4780, 0x47800000 },
		{ 0x3F801000, 0x3C00, 0x3F80, 0x3F800000 },
		{ 0x3F803000, 0x3C02, 0x3F80, 0x3F804000 },
		{ 0x3F818000, 0x3C0C, 0x3F82, 0x3F818000 },
		{ 0x33800000, 0x0001, 0x3380, 0x33800000 },
		{ 0x33000000, 0x0000, 0x3300, 0x33000000 },
		{ 0x33400000, 0x0001, 0x3340, 0x33400000 },
		{ 0x7F7FFFFF, 0x7C00, 0x7F80, 0x7F800000 },
		{ 0xFF800000, 0xFC00, 0xFF80, 0xFF800000 },
		{ 0x7FC00000, 0x7E00, 0x7FC0, 0x7FC00000 },
		{ 0x00010000, 0x0000, 0x0001, 0x00010000 },
	};
	enum { N = sizeof(v) / sizeof(v[0]) };
	float x[N];
	unsigned char *q;
	float *y;

	for (int i = 0; i < N; i++)
		x[i] = fbits(v[i][0]);
	/* casts apply to 1-D tensors too */
	CHECK_EQ_U(trip("f16", x, N, &q, &y, NULL), 0);
	for (int i = 0; i < N; i++) {
		CHECK_EQ_U(ld_16(q + 2 * i), v[i][1]);
		CHECK_FBITS(y[i], f16_to_f32((uint16_t)v[i][1]));
	}
	free(q);
	free(y);
	trip("bf16", x, N, &q, &y, NULL);
	for (int i = 0; i < N; i++) {
		CHECK_EQ_U(ld_16(q + 2 * i), v[i][2]);
		CHECK_FBITS(y[i], fbits(v[i][2] << 16));
	}
	free(q);
	free(y);
	trip("tf32", x, N, &q, &y, NULL);
	for (int i = 0; i < N; i++) {
		CHECK_EQ_U(bitsf(ld_f32(q + 4 * i)), v[i][3]);
		CHECK_FBITS(y[i], fbits(v[i][3]));
	}
	free(q);
	free(y);
	trip("f32", x, N, &q, &y, NULL);
	CHECK(memcmp(y, x, sizeof(x)) == 0);
	free(q);
	free(y);
}

/* The branch-free encoders against quant/dtype.c's scalar conversions on
 * random bit patterns and on every exponent. */
TEST(schemes_casts_match_dtype)
{
	enum { N = 1 << 16 };
	float *x = zalloc(N * sizeof(float));
	unsigned char *q;
	float *y;
	uint64_t seed = 7;
	int fails = 0;

	for (int i = 0; i < N; i++) {
		uint32_t u = (uint32_t)rnd(&seed);

		if (i < 512)	/* every exponent, both signs */
			u = (uint32_t)i << 23 | (u & 0x807fffff);
		x[i] = fbits(u);
	}
	trip("f16", x, N, &q, &y, NULL);
	for (int i = 0; i < N && fails < MAX_FAILS; i++)
		if (ld_16(q + 2 * i) != f32_to_f16(x[i]))
			fails += !check_report(__FILE__, __LINE__, 0,
					       "f16 of 0x%08x: 0x%04x, want 0x%04x",
					       bitsf(x[i]), ld_16(q + 2 * i),
					       f32_to_f16(x[i]));
	free(q);
	free(y);
	trip("bf16", x, N, &q, &y, NULL);
	for (int i = 0; i < N && fails < MAX_FAILS; i++)
		if (ld_16(q + 2 * i) != f32_to_bf16(x[i]))
			fails += !check_report(__FILE__, __LINE__, 0,
					       "bf16 of 0x%08x: 0x%04x, want 0x%04x",
					       bitsf(x[i]), ld_16(q + 2 * i),
					       f32_to_bf16(x[i]));
	free(q);
	free(y);
	trip("tf32", x, N, &q, &y, NULL);
	for (int i = 0; i < N && fails < MAX_FAILS; i++) {
		float want = f32_round_tf32(x[i]);

		if (bitsf(y[i]) != bitsf(want))
			fails += !check_report(__FILE__, __LINE__, 0,
					       "tf32 of 0x%08x: 0x%08x, want 0x%08x",
					       bitsf(x[i]), bitsf(y[i]),
					       bitsf(want));
	}
	free(q);
	free(y);
	free(x);
}

/* ---- FP8 ---- */

/* The E4M3FN / E5M2 magnitude of code c (0..0x7f, finite codes). */
static double fp8_mag(int c, int mbits, int bias)
{
	int e = c >> mbits, m = c & ((1 << mbits) - 1);

	if (!e)
		return ldexp(m, 1 - bias - mbits);
	return ldexp((1 << mbits) + m, e - bias - mbits);
}

TEST(schemes_fp8_vectors)
{
	/* absmax 448: s = 1, so the codes are FORMATS.md 7.2's */
	static const struct {
		float x;
		unsigned char e4m3;
	} v[] = {
		{ 448.0f, 0x7e }, { 0.1f, 0x1d }, { -1.5f, 0xbc },
		{ 1.0625f, 0x38 }, { 1.1875f, 0x3a }, { 240.0f, 0x77 },
		{ 0x1p-9f, 0x01 }, { 0x1p-10f, 0x00 }, { 0x3p-11f, 0x01 },
		{ 0.0155f, 0x08 }, { -0.0f, 0x80 }, { 0.0f, 0x00 },
	};
	enum { N = sizeof(v) / sizeof(v[0]) };
	float x[N + 3];
	unsigned char *q;
	float *y;
	struct scheme_ctx c;

	for (int i = 0; i < N; i++)
		x[i] = v[i].x;
	x[N] = NAN;
	x[N + 1] = INFINITY;
	x[N + 2] = -INFINITY;
	CHECK_EQ_U(trip("fp8-e4m3", x, N + 3, &q, &y, &c), 2);
	CHECK_FBITS(c.absmax, 448.0f);
	for (int i = 0; i < N; i++) {
		CHECK_EQ_U(q[i], v[i].e4m3);
		CHECK_FBITS(y[i], fp8_e4m3_to_f32(v[i].e4m3));
	}
	CHECK_EQ_U(q[N], 0x7f);		/* NaN stays NaN */
	CHECK(isnan(y[N]));
	CHECK_EQ_U(q[N + 1], 0x7e);	/* infinities saturate */
	CHECK_EQ_U(q[N + 2], 0xfe);
	CHECK_FBITS(y[N + 2], -448.0f);
	free(q);
	free(y);
}

/* Random tensors: codes are the nearest of all finite codes to x / s,
 * ties to even, found by search; s = absmax / max. */
static void fp8_random(const char *name, int mbits, int bias, double max,
		       uint64_t seed)
{
	enum { N = 4000 };
	float x[N];
	double mag[128];
	int nmag = 0, fails = 0;
	unsigned char *q;
	float *y;
	struct scheme_ctx c;
	float s;

	for (int k = 0; k < 128; k++) {
		double m = fp8_mag(k, mbits, bias);

		if (m <= max)
			mag[nmag++] = m;
	}
	for (int i = 0; i < N; i++)
		x[i] = gauss(&seed) * (i % 7 == 0 ? 1e-3f : 1.0f);
	x[17] = 0;
	x[18] = -0.0f;
	trip(name, x, N, &q, &y, &c);
	s = c.absmax / (float)max;
	for (int i = 0; i < N && fails < MAX_FAILS; i++) {
		double v = (double)(x[i] / s);
		int code = nearest_even(mag, nmag, fabs(v));
		unsigned want = (unsigned)code | (signbit(x[i]) ? 0x80u : 0);
		float wy = (float)(signbit(x[i]) ? -mag[code] : mag[code]) * s;

		if (q[i] != want || bitsf(y[i]) != bitsf(wy))
			fails += !check_report(__FILE__, __LINE__, 0,
				"%s x=%.9g: code 0x%02x y %.9g, want 0x%02x %.9g",
				name, x[i], q[i], y[i], want, wy);
	}
	free(q);
	free(y);
}

TEST(schemes_fp8_formula)
{
	fp8_random("fp8-e4m3", 3, 7, 448, 11);
	fp8_random("fp8-e5m2", 2, 15, 57344, 12);
}

/* ---- int8 ---- */

TEST(schemes_int8_rows)
{
	/* row 0: s = 1; 63.5 and 2.5 tie to even; row 1 zeros; row 2
	 * constant; row 3 with NaN and infinity */
	float x[4][6] = {
		{ 127, 63.5f, -0.5f, 1.5f, 2.5f, -127 },
		{ 0, 0, 0, -0.0f, 0, 0 },
		{ 3, 3, 3, 3, 3, 3 },
		{ 1, NAN, INFINITY, -2, -INFINITY, 0.25f },
	};
	static const signed char want0[6] = { 127, 64, 0, 2, 2, -127 };
	struct scheme_shape sh = shape2(4, 6);
	struct scheme_ctx c;
	unsigned char q[24 + 16];
	float y[24];

	CHECK_EQ_U(whole(S("int8"), &sh, &x[0][0], q, y, &c), 2);
	for (int j = 0; j < 6; j++) {
		CHECK_EQ_I((signed char)q[j], want0[j]);
		CHECK_FBITS(y[j], (float)want0[j]);
	}
	CHECK_FBITS(ld_f32(q + 24), 1.0f);
	for (int j = 0; j < 6; j++) {
		CHECK_EQ_U(q[6 + j], 0);
		CHECK_FBITS(y[6 + j], 0.0f);
	}
	CHECK_FBITS(ld_f32(q + 28), 0.0f);
	CHECK_FBITS(ld_f32(q + 32), 3.0f / 127.0f);
	for (int j = 0; j < 6; j++) {
		CHECK_EQ_U(q[12 + j], 127);
		CHECK_FBITS(y[12 + j], 127.0f * (3.0f / 127.0f));
	}
	{
		float s = 2.0f / 127.0f;

		CHECK_FBITS(ld_f32(q + 36), s);
		CHECK_EQ_I((signed char)q[18], (int)nearbyintf(1 / s));
		CHECK_EQ_I((signed char)q[19], 0);		/* NaN */
		CHECK_EQ_I((signed char)q[20], 127);		/* +inf */
		CHECK_EQ_I((signed char)q[21], -127);
		CHECK_EQ_I((signed char)q[22], -127);		/* -inf */
		CHECK_EQ_I((signed char)q[23], (int)nearbyintf(0.25f / s));
		CHECK_FBITS(y[23], nearbyintf(0.25f / s) * s);
	}
}

TEST(schemes_int8_formula)
{
	enum { R = 5, C = 333 };
	float *x = zalloc(R * C * sizeof(float)), *y;
	unsigned char *q;
	uint64_t seed = 21;
	struct scheme_shape sh = shape2(R, C);
	struct scheme_ctx c;
	int fails = 0;

	for (int i = 0; i < R * C; i++)
		x[i] = gauss(&seed) * (float)(1 + i / C);
	y = zalloc(R * C * sizeof(float));
	q = zalloc(R * C + 4 * R);
	whole(S("int8"), &sh, x, q, y, &c);
	for (int r = 0; r < R; r++) {
		float am = 0, s;

		for (int j = 0; j < C; j++)
			am = fmaxf(am, fabsf(x[r * C + j]));
		s = am / 127.0f;
		CHECK_FBITS(ld_f32(q + R * C + 4 * r), s);
		for (int j = 0; j < C && fails < MAX_FAILS; j++) {
			int i = r * C + j;
			float qq = nearbyintf(x[i] / s);

			if ((signed char)q[i] != (int)qq || y[i] != qq * s)
				fails += !check_report(__FILE__, __LINE__, 0,
					"int8 [%d]: %d %.9g, want %d %.9g", i,
					(signed char)q[i], y[i], (int)qq, qq * s);
		}
	}
	/* int8-tensor: one scale */
	whole(S("int8-tensor"), &sh, x, q, y, &c);
	{
		float am = 0, s;

		for (int i = 0; i < R * C; i++)
			am = fmaxf(am, fabsf(x[i]));
		s = am / 127.0f;
		CHECK_FBITS(c.absmax, am);
		for (int i = 0; i < R * C && fails < MAX_FAILS; i++) {
			float qq = nearbyintf(x[i] / s);

			if ((signed char)q[i] != (int)qq || y[i] != qq * s)
				fails += !check_report(__FILE__, __LINE__, 0,
					"int8-tensor [%d]: %d, want %d", i,
					(signed char)q[i], (int)qq);
		}
	}
	free(x);
	free(y);
	free(q);
}

/* ---- int4 groups ---- */

TEST(schemes_int4_sym)
{
	enum { C = 256 };
	float x[C], y[C];
	unsigned char q[C / 2 + 4];
	struct scheme_shape sh = shape2(1, C);
	uint64_t seed = 5;
	int fails = 0;

	/* group 0: (k - 64) / 8, absmax 8; group 1: random */
	for (int k = 0; k < 128; k++)
		x[k] = (float)(k - 64) / 8.0f;
	for (int k = 128; k < C; k++)
		x[k] = gauss(&seed);
	CHECK_EQ_U(whole(S("int4-g128"), &sh, x, q, y, NULL), 0);
	for (int g = 0; g < 2; g++) {
		float am = 0, s;

		for (int k = 0; k < 128; k++)
			am = fmaxf(am, fabsf(x[128 * g + k]));
		s = f16_to_f32(f32_to_f16(am / 7.0f));
		CHECK_EQ_U(ld_16(q + C / 2 + 2 * g), f32_to_f16(am / 7.0f));
		for (int k = 0; k < 128 && fails < MAX_FAILS; k++) {
			int i = 128 * g + k;
			float qq = fminf(fmaxf(nearbyintf(x[i] / s), -8), 7);
			unsigned nib = i & 1 ? q[i / 2] >> 4 : q[i / 2] & 0xf;

			if (nib != (unsigned)(qq + 8) || y[i] != qq * s)
				fails += !check_report(__FILE__, __LINE__, 0,
					"int4 [%d]: %u %.9g, want %d %.9g", i,
					nib, y[i], (int)qq + 8, qq * s);
		}
	}
	/* group 0's extreme: -8 / 8 * 7 = -7 */
	CHECK_EQ_U(q[0] & 0xf, 1);
}

TEST(schemes_int4_asym)
{
	enum { C = 384 };
	float x[C], y[C];
	unsigned char q[C / 2 + 6 + 2];
	struct scheme_shape sh = shape2(1, C);
	uint64_t seed = 6;
	int fails = 0;

	for (int k = 0; k < 128; k++)	/* min -1, max 3 */
		x[k] = -1.0f + 4.0f * (float)k / 127.0f;
	for (int k = 128; k < 256; k++)
		x[k] = gauss(&seed);
	for (int k = 256; k < C; k++)	/* all positive: zero clamps to 0 */
		x[k] = 2.0f + (float)(k % 7);
	whole(S("int4-g128-asym"), &sh, x, q, y, NULL);
	for (int g = 0; g < 3; g++) {
		float mn = INFINITY, mx = -INFINITY, s, z;

		for (int k = 0; k < 128; k++) {
			mn = fminf(mn, x[128 * g + k]);
			mx = fmaxf(mx, x[128 * g + k]);
		}
		s = f16_to_f32(f32_to_f16((mx - mn) / 15.0f));
		z = fminf(fmaxf(nearbyintf(-mn / s), 0), 15);
		CHECK_EQ_U(ld_16(q + C / 2 + 2 * g), f32_to_f16((mx - mn) / 15));
		CHECK_EQ_U((q[C / 2 + 6 + g / 2] >> 4 * (g % 2)) & 0xf,
			   (unsigned)z);
		for (int k = 0; k < 128 && fails < MAX_FAILS; k++) {
			int i = 128 * g + k;
			float qq = fminf(fmaxf(nearbyintf(x[i] / s) + z, 0), 15);
			unsigned nib = i & 1 ? q[i / 2] >> 4 : q[i / 2] & 0xf;

			if (nib != (unsigned)qq || y[i] != (qq - z) * s)
				fails += !check_report(__FILE__, __LINE__, 0,
					"asym [%d]: %u %.9g, want %d %.9g", i,
					nib, y[i], (int)qq, (qq - z) * s);
		}
	}
	CHECK_EQ_U(q[C / 2 + 6 + 1], 0);	/* padding nibble */
}

/* ---- bitsandbytes ---- */

TEST(schemes_nf4_vector)
{
	/* FORMATS.md 7.5.  Its packed hex has 0xef for byte 29 (elements 58
	 * and 59), but its own code list, and the math, give 14 for element
	 * 59: v = 27/32 = 0.84375 < 0.8614784, the 14/15 midpoint.  So 0xee. */
	static const unsigned char want[32] = {
		0x00, 0x00, 0x01, 0x11, 0x11, 0x11, 0x12, 0x22, 0x22, 0x33,
		0x33, 0x44, 0x45, 0x55, 0x66, 0x67, 0x77, 0x88, 0x99, 0x9a,
		0xaa, 0xbb, 0xbc, 0xcc, 0xcd, 0xdd, 0xde, 0xee, 0xee, 0xee,
		0xff, 0xff,
	};
	/* the code list of 7.5, element by element */
	static const unsigned char codes[64] = {
		0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3,
		3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 9, 9, 9, 10, 10,
		10, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14,
		14, 14, 14, 15, 15, 15, 15,
	};
	float x[64];
	unsigned char *q;
	float *y;

	for (int k = 0; k < 64; k++)
		x[k] = (float)(k - 32) / 16.0f;
	CHECK_EQ_U(trip("nf4", x, 64, &q, &y, NULL), 0);
	CHECK(memcmp(q, want, 32) == 0);
	for (int k = 0; k < 64; k++)
		CHECK_EQ_U(k & 1 ? q[k / 2] & 0xf : q[k / 2] >> 4, codes[k]);
	CHECK(memcmp(q + 32, "\x00\x00\x00\x40", 4) == 0);
	for (int k = 0; k <= 4; k++)
		CHECK_FBITS(y[k], -2.0f);
	for (int k = 5; k <= 12; k++)
		CHECK_NEAR(y[k], -1.3923856, 1e-7);
	for (int k = 60; k < 64; k++)
		CHECK_FBITS(y[k], 2.0f);
	free(q);
	free(y);
}

/* Nearest entry of tab (sorted or not) to v, ties to the lower index. */
static int nearest_lower(const float *tab, int n, float v)
{
	int best = 0;

	for (int i = 1; i < n; i++)
		if (fabsf(v - tab[i]) < fabsf(v - tab[best]))
			best = i;
	return best;
}

/* bitsandbytes' coding of v = x * (1 / absmax): the number of thresholds
 * t with v > t.  NF4's thresholds are the midpoints of its table; FP4's
 * are the literals of bitsandbytes' decision tree (FORMATS.md 5.8), on |v|,
 * ranking the magnitudes 0, 1/192, 2/12, 3/12, 4/12, 6/12, 8/12, 1. */
static int nf4_by_midpoints(float v)
{
	int k = 0;

	for (int i = 0; i < 15; i++)
		k += v > (float)(((double)fq_nf4_code[i] + fq_nf4_code[i + 1]) /
				 2);
	return k;
}

static int fp4_by_tree(float v)
{
	static const float t[7] = { 0.00260417f, 0.0859375f, 0.20833333f,
				    0.29166667f, 0.4166667f, 0.583333f,
				    0.8333333f };
	static const int code_of_rank[8] = { 0, 1, 6, 7, 4, 5, 2, 3 };
	int k = 0;

	for (int i = 0; i < 7; i++)
		k += fabsf(v) > t[i];
	return code_of_rank[k] | (v < 0 ? 8 : 0);
}

/* bitsandbytes 4-bit by the formula: per block absmax, v = x * (1/absmax),
 * coded as above. */
static void bnb_random(const char *name, const float *tab, int fp4,
		       size_t n, uint64_t seed)
{
	float *x = zalloc(n * sizeof(float));
	unsigned char *q;
	float *y;
	int fails = 0;

	for (size_t i = 0; i < n; i++)
		x[i] = gauss(&seed);
	if (n > 70)
		for (int k = 64; k < 70; k++)	/* a block with zeros */
			x[k] = 0;
	trip(name, x, n, &q, &y, NULL);
	for (size_t b = 0; b * 64 < n; b++) {
		size_t m = n - b * 64 < 64 ? n - b * 64 : 64;
		float am = 0, inv;

		for (size_t j = 0; j < m; j++)
			am = fmaxf(am, fabsf(x[b * 64 + j]));
		CHECK_FBITS(ld_f32(q + (n + 1) / 2 + 4 * b), am);
		inv = 1.0f / am;
		for (size_t j = 0; j < m && fails < MAX_FAILS; j++) {
			size_t i = b * 64 + j;
			float v = x[i] * inv;
			int code = fp4 ? fp4_by_tree(v) : nf4_by_midpoints(v);
			unsigned nib = i & 1 ? q[i / 2] & 0xf : q[i / 2] >> 4;

			if (nib != (unsigned)code || y[i] != tab[code] * am)
				fails += !check_report(__FILE__, __LINE__, 0,
					"%s [%zu] v=%.9g: code %u, want %d",
					name, i, v, nib, code);
		}
	}
	free(x);
	free(q);
	free(y);
}

TEST(schemes_bnb_formula)
{
	bnb_random("nf4", fq_nf4_code, 0, 64 * 20, 31);
	bnb_random("nf4", fq_nf4_code, 0, 65, 32);	/* one-element tail */
	bnb_random("nf4", fq_nf4_code, 0, 100, 33);
	bnb_random("fp4", fq_fp4_code, 1, 64 * 20, 34);
	bnb_random("fp4", fq_fp4_code, 1, 129, 35);
	/* the tables */
	CHECK_FBITS(fq_nf4_code[7], 0.0f);
	CHECK_FBITS(fq_nf4_code[0], -1.0f);
	CHECK_FBITS(fq_fp4_code[3], 1.0f);
	CHECK_FBITS(fq_fp4_code[1], 1.0f / 192.0f);
	CHECK_FBITS(fq_fp4_code[2], 8.0f / 12.0f);
	CHECK_FBITS(fq_fp4_code[6], 2.0f / 12.0f);
}

TEST(schemes_bnb_tail_and_zero)
{
	float x[65] = { 0 }, *y;
	unsigned char *q;

	x[64] = -3.5f;	/* a one-element last block: exact */
	trip("nf4", x, 65, &q, &y, NULL);
	for (int k = 0; k < 64; k++)
		CHECK_FBITS(y[k], 0.0f);
	CHECK_EQ_U(q[0], 0x77);		/* zero block: NF4 code 7 */
	CHECK_EQ_U(q[32], 0x00);	/* code 0 = -1, padding nibble 0 */
	CHECK_FBITS(y[64], -3.5f);
	CHECK_FBITS(ld_f32(q + 33), 0.0f);
	CHECK_FBITS(ld_f32(q + 37), 3.5f);
	free(q);
	free(y);
	trip("fp4", x, 65, &q, &y, NULL);
	CHECK_EQ_U(q[32], 0xb0);	/* -1.0: sign | magnitude code 3 */
	CHECK_FBITS(y[64], -3.5f);
	CHECK_FBITS(y[3], 0.0f);
	free(q);
	free(y);
}

TEST(schemes_nf4dq_formula)
{
	/* 2.5 groups of 256 blocks: the last group is short */
	enum { NB = 640, N = NB * 64 - 10 };
	float *x = zalloc(N * sizeof(float)), *y, am[NB];
	unsigned char *q;
	uint64_t seed = 41;
	double sum = 0;
	float offset;
	int fails = 0;
	struct scheme_ctx c;
	size_t nblk = (N + 63) / 64;
	const unsigned char *idx, *nest;

	for (size_t i = 0; i < N; i++)
		x[i] = gauss(&seed) * (float)(1 + (i / 64) % 5);
	trip("nf4-dq", x, N, &q, &y, &c);
	idx = q + (N + 1) / 2;
	nest = idx + nblk;
	for (size_t b = 0; b < nblk; b++) {
		am[b] = 0;
		for (size_t j = b * 64; j < N && j < b * 64 + 64; j++)
			am[b] = fmaxf(am[b], fabsf(x[j]));
		sum += am[b];
	}
	offset = (float)(sum / (double)nblk);
	CHECK_FBITS(c.mean, offset);
	for (size_t g = 0; g * 256 < nblk; g++) {
		float nested = 0, inv;

		for (size_t b = g * 256; b < nblk && b < g * 256 + 256; b++)
			nested = fmaxf(nested, fabsf(am[b] - offset));
		CHECK_FBITS(ld_f32(nest + 4 * g), nested);
		inv = 1.0f / nested;
		for (size_t b = g * 256; b < nblk && b < g * 256 + 256 &&
		     fails < MAX_FAILS; b++) {
			int want = nearest_lower(fq_dynamic_code, 256,
						 (am[b] - offset) * inv);
			float a2 = fq_dynamic_code[want] * nested + offset;

			if (idx[b] != want)
				fails += !check_report(__FILE__, __LINE__, 0,
					"nf4-dq block %zu: index %u, want %d",
					b, idx[b], want);
			for (size_t j = b * 64; j < N && j < b * 64 + 64; j++) {
				unsigned nib = j & 1 ? q[j / 2] & 0xf :
						       q[j / 2] >> 4;
				int code = nf4_by_midpoints(x[j] *
							    (1.0f / am[b]));

				if (nib != (unsigned)code ||
				    y[j] != fq_nf4_code[code] * a2) {
					fails += !check_report(__FILE__,
						__LINE__, 0,
						"nf4-dq [%zu]: %u %.9g, want %d %.9g",
						j, nib, y[j], code,
						fq_nf4_code[code] * a2);
					break;
				}
			}
		}
	}
	/* the dynamic code: Appendix A's construction points */
	CHECK_FBITS(fq_dynamic_code[127], 0.0f);
	CHECK_FBITS(fq_dynamic_code[255], 1.0f);
	CHECK_NEAR(fq_dynamic_code[0], -0.99296875, 1e-7);
	for (int i = 1; i < 256; i++)
		CHECK(fq_dynamic_code[i] > fq_dynamic_code[i - 1]);
	free(x);
	free(q);
	free(y);
}

/* ---- MXFP4 ---- */

TEST(schemes_mxfp4_formula)
{
	enum { N = 32 * 40 };
	static const double e2m1[8] = { 0, 0.5, 1, 1.5, 2, 3, 4, 6 };
	float *x = zalloc(N * sizeof(float)), *y;
	unsigned char *q;
	uint64_t seed = 51, clipped, want_clipped = 0;
	int fails = 0;

	for (int i = 0; i < N; i++)
		x[i] = gauss(&seed) * ldexpf(1, (i / 32) % 9 - 4);
	for (int k = 32; k < 64; k++)	/* an all-zero block */
		x[k] = 0;
	for (int k = 64; k < 96; k++)	/* a subnormal block */
		x[k] = (float)(k - 80) * 0x1p-140f;
	clipped = trip("mxfp4", x, N, &q, &y, NULL);
	for (int b = 0; b < N / 32; b++) {
		float am = 0;
		int e, ex;

		for (int j = 0; j < 32; j++)
			am = fmaxf(am, fabsf(x[32 * b + j]));
		e = -127;
		if (am >= FLT_MIN) {
			frexpf(am, &ex);	/* am = f * 2^ex, f in [0.5, 1) */
			e = ex - 1 - 2;
			e = e < -127 ? -127 : e;
		}
		CHECK_EQ_U(q[N / 2 + b], (unsigned)(e + 127));
		for (int j = 0; j < 32 && fails < MAX_FAILS; j++) {
			int i = 32 * b + j;
			double v = ldexp(x[i], -e);
			int code = nearest_even(e2m1, 8, fabs(v));
			unsigned nib = i & 1 ? q[i / 2] >> 4 : q[i / 2] & 0xf;
			float wy = (float)ldexp(x[i] < 0 ? -e2m1[code] :
					       e2m1[code], e);

			want_clipped += fabs(v) >= 7;
			code |= x[i] < 0 ? 8 : 0;
			if (nib != (unsigned)code || bitsf(y[i]) != bitsf(wy))
				fails += !check_report(__FILE__, __LINE__, 0,
					"mxfp4 [%d] v=%.9g: %u %.9g, want %d %.9g",
					i, v, nib, y[i], code, wy);
		}
	}
	CHECK_EQ_U(clipped, want_clipped);
	CHECK(want_clipped > 0);
	free(x);
	free(q);
	free(y);
}

TEST(schemes_mxfp4_vector)
{
	/* FORMATS.md 7.4 input A, in OCP packing: the exponent byte is
	 * ggml's 0x7e; codes RNE (ggml picks the lower code on ties) */
	float x[32];
	unsigned char *q;
	float *y;

	for (int k = 0; k < 32; k++)
		x[k] = (float)(k - 16) / 8.0f;
	CHECK_EQ_U(trip("mxfp4", x, 32, &q, &y, NULL), 0);
	CHECK_EQ_U(q[16], 0x7e);
	CHECK_EQ_U(q[0] & 0xf, 0xe);	/* -2 / 0.5 = -4: code 0xe */
	CHECK_FBITS(y[0], -2.0f);
	CHECK_FBITS(y[17], 0.0f);	/* 0.125 / 0.5 = 0.25: tie to 0 */
	CHECK_FBITS(y[19], 0.5f);	/* 0.375 / 0.5 = 0.75: tie to 1.0 */
	CHECK_FBITS(y[31], 2.0f);	/* 1.875 / 0.5 = 3.75 -> 4 */
	free(q);
	free(y);
	/* 7 * 2^e clips; 6.9 does not */
	for (int k = 0; k < 32; k++)
		x[k] = 0;
	x[0] = 7.0f;
	x[1] = 6.9f;
	x[2] = -INFINITY;
	CHECK_EQ_U(trip("mxfp4", x, 32, &q, &y, NULL), 2);
	CHECK_EQ_U(q[16], 127);
	CHECK_FBITS(y[0], 6.0f);
	CHECK_FBITS(y[1], 6.0f);
	CHECK_FBITS(y[2], -6.0f);
	free(q);
	free(y);
}

/* ---- GGUF rows ---- */

TEST(schemes_gguf_rows)
{
	static const unsigned char q8_0_a[34] = {
		0x08, 0x24, 0x81, 0x89, 0x91, 0x99, 0xa1, 0xa9, 0xb1, 0xb9,
		0xc0, 0xc8, 0xd0, 0xd8, 0xe0, 0xe8, 0xf0, 0xf8, 0x00, 0x08,
		0x10, 0x18, 0x20, 0x28, 0x30, 0x38, 0x40, 0x47, 0x4f, 0x57,
		0x5f, 0x67, 0x6f, 0x77,
	};
	enum { N = 512 };
	float x[N], *y, want[N];
	unsigned char *q, ref[N * 2];
	uint64_t seed = 61;

	for (int k = 0; k < 32; k++)
		x[k] = (float)(k - 16) / 8.0f;
	trip("q8_0", x, 32, &q, &y, NULL);
	CHECK(memcmp(q, q8_0_a, 34) == 0);
	CHECK_FBITS(y[0], -1.99987793f);
	free(q);
	free(y);
	for (int i = 0; i < N; i++)
		x[i] = gauss(&seed);
	for (size_t i = 0; i < nschemes; i++) {
		const struct scheme *s = &schemes[i];
		const struct dtype_info *di = dtype_get(s->ggml);

		if (s->ggml == DT_NONE)
			continue;
		CHECK(ggml_can_quantize(s->ggml));
		CHECK_EQ_I(ggml_quantize(s->ggml, x, ref, N), 0);
		di->decode(ref, want, N / di->block);
		trip(s->name, x, N, &q, &y, NULL);
		check_report(__FILE__, __LINE__,
			     memcmp(q, ref, N / di->block * di->block_bytes) == 0 &&
			     memcmp(y, want, sizeof(want)) == 0,
			     "%s: bytes or values differ from ggml's", s->name);
		free(q);
		free(y);
	}
}

/* ---- ternary and binary ---- */

TEST(schemes_ternary)
{
	enum { N = 203 };	/* a partial last byte */
	float x[N], *y;
	unsigned char *q;
	uint64_t seed = 71, clipped, want_clipped = 0;
	double sum = 0;
	float s;
	struct scheme_ctx c;
	int fails = 0;

	for (int i = 0; i < N; i++)
		x[i] = gauss(&seed);
	x[5] = NAN;
	x[6] = INFINITY;
	for (int i = 0; i < N; i++)
		sum += isfinite(x[i]) ? fabs(x[i]) : 0;
	clipped = trip("ternary", x, N, &q, &y, &c);
	CHECK_NEAR(c.mean, sum / (N - 2), 1e-6 * c.mean);
	s = c.mean;
	for (int i = 0; i < N && fails < MAX_FAILS; i++) {
		float r = isnan(x[i]) ? 0 : nearbyintf(fmaxf(fminf(x[i] / s, 9),
							      -9));
		float t = fmaxf(fminf(r, 1), -1);
		unsigned code = q[i / 4] >> 2 * (i % 4) & 3;

		want_clipped += fabsf(r) > 1;
		if (code != (unsigned)(t + 1) || y[i] != t * s)
			fails += !check_report(__FILE__, __LINE__, 0,
				"ternary [%d]: %u %.9g, want %d %.9g", i, code,
				y[i], (int)t + 1, t * s);
	}
	CHECK_EQ_U(clipped, want_clipped);
	CHECK_EQ_U(q[N / 4] >> 2 * (N % 4), 0);	/* padding codes 0 */
	free(q);
	free(y);
	/* all zero: scale 0, codes 1 */
	memset(x, 0, sizeof(x));
	trip("ternary", x, 7, &q, &y, NULL);
	CHECK_EQ_U(q[0], 0x55);
	CHECK_EQ_U(q[1], 0x15);
	for (int i = 0; i < 7; i++)
		CHECK_FBITS(y[i], 0.0f);
	free(q);
	free(y);
}

TEST(schemes_binary)
{
	float x[3][5] = {
		{ 1, -2, 0, -0.0f, 4 },
		{ 0, 0, 0, 0, 0 },
		{ -1, NAN, INFINITY, 3, -3 },
	};
	struct scheme_shape sh = shape2(3, 5);
	unsigned char q[2 + 12];
	float y[15];
	float s0 = 7.0f / 5.0f, s2 = 7.0f / 3.0f;
	/* bits LSB first, set for x >= 0 (zeros too, NaN not) */
	unsigned bits = 0x1d | 31u << 5 | 1u << 12 | 1u << 13;
	CHECK_EQ_U(whole(S("binary"), &sh, &x[0][0], q, y, NULL), 0);
	CHECK_EQ_U(q[0] | q[1] << 8, bits & 0x7fff);
	CHECK_FBITS(ld_f32(q + 2), s0);
	CHECK_FBITS(ld_f32(q + 6), 0.0f);
	CHECK_FBITS(ld_f32(q + 10), s2);
	CHECK_FBITS(y[0], s0);
	CHECK_FBITS(y[1], -s0);
	CHECK_FBITS(y[3], s0);
	CHECK_FBITS(y[7], 0.0f);
	CHECK_FBITS(y[10], -s2);
	CHECK_FBITS(y[13], s2);
}

/* ---- every scheme: edge inputs, chunking ---- */

/* The schemes that apply to shape sh. */
#define FOR_APPLICABLE(s, sh)						\
	for (const struct scheme *s = schemes; s < schemes + nschemes; s++) \
		if (scheme_applies(s, sh) == NULL)

TEST(schemes_all_zero_and_constant)
{
	enum { R = 2, C = 512 };
	struct scheme_shape sh = shape2(R, C);
	float x[R * C], y[R * C];
	unsigned char *q = zalloc(R * C * 4 + 64);

	FOR_APPLICABLE(s, &sh) {
		int bad = 0;

		memset(x, 0, sizeof(x));
		CHECK_EQ_U(whole(s, &sh, x, q, y, NULL), 0);
		for (int i = 0; i < R * C; i++)
			bad += y[i] != 0;
		check_report(__FILE__, __LINE__, !bad, "%s: zeros give %d non-zero",
			     s->name, bad);
		/* constant 0.75: every scheme but the asymmetric int4 (range 0
		 * loses the group) and binary/ternary (exact) comes close */
		for (int i = 0; i < R * C; i++)
			x[i] = 0.75f;
		whole(s, &sh, x, q, y, NULL);
		bad = 0;
		for (int i = 0; i < R * C; i++) {
			double tol = s->code_bits <= 4 ? 0.01 : 1e-3;

			if (!strcmp(s->name, "int4-g128-asym"))
				bad += y[i] != 0;
			else if (!strcmp(s->name, "q2_k") ||
				 !strcmp(s->name, "q3_k"))
				bad += !(fabsf(y[i] - 0.75f) < 0.1f);
			else
				bad += !(fabs(y[i] - 0.75) <= tol * 0.75);
		}
		check_report(__FILE__, __LINE__, !bad,
			     "%s: constant 0.75 off in %d values (y[0] %.9g)",
			     s->name, bad, y[0]);
	}
	free(q);
}

TEST(schemes_nan_inf_subnormal)
{
	enum { R = 2, C = 512 };
	struct scheme_shape sh = shape2(R, C);
	float x[R * C], y[R * C];
	unsigned char *q = zalloc(R * C * 4 + 64);
	uint64_t seed = 81;

	for (int i = 0; i < R * C; i++)
		x[i] = gauss(&seed);
	x[3] = NAN;
	x[300] = INFINITY;
	x[301] = -INFINITY;
	x[900] = -NAN;
	for (int i = 512; i < 640; i++)		/* a subnormal stretch */
		x[i] = (float)(i - 576) * 0x1p-140f;
	FOR_APPLICABLE(s, &sh) {
		int bad = 0;

		whole(s, &sh, x, q, y, NULL);
		/* away from the blocks holding non-finite values, finite
		 * inputs come back finite */
		for (int i = 512; i < 768; i++)
			bad += !isfinite(y[i]);
		check_report(__FILE__, __LINE__, !bad,
			     "%s: %d finite values came back non-finite",
			     s->name, bad);
	}
	/* subnormals: bf16 keeps them (rounded), f16 flushes them, the
	 * block formats keep them to their own precision */
	{
		float sub[4] = { 0x1p-130f, -0x3p-133f, 0x1p-149f, 0 }, *yy;
		unsigned char *qq;

		trip("bf16", sub, 4, &qq, &yy, NULL);
		CHECK_FBITS(yy[0], 0x1p-130f);
		CHECK_FBITS(yy[1], -0x3p-133f);
		free(qq);
		free(yy);
		trip("f16", sub, 4, &qq, &yy, NULL);
		CHECK_FBITS(yy[0], 0.0f);
		CHECK_FBITS(yy[1], -0.0f);
		free(qq);
		free(yy);
	}
	free(q);
}

/* Chunked (smallest aligned chunks, planes split and appended) equals one
 * shot, for every scheme. */
TEST(schemes_chunks_equal_whole)
{
	enum { R = 48, C = 768 };	/* 2.25 nf4-dq groups */
	struct scheme_shape sh = shape2(R, C);
	float *x = zalloc(R * C * sizeof(float)), *y1, *y2;
	unsigned char *q1, *q2, *part;
	uint64_t seed = 91;

	for (int i = 0; i < R * C; i++)
		x[i] = gauss(&seed) * (float)(1 + i % 3);
	y1 = zalloc(R * C * sizeof(float));
	y2 = zalloc(R * C * sizeof(float));
	q1 = zalloc(R * C * 4 + 64);
	q2 = zalloc(R * C * 4 + 64);
	part = zalloc(R * C * 4 + 64);
	FOR_APPLICABLE(s, &sh) {
		struct scheme_ctx c;
		uint64_t a, c1, c2 = 0;
		size_t off[3] = { 0, 0, 0 }, base[3];

		c1 = whole(s, &sh, x, q1, y1, &c);
		a = scheme_align(&c);
		/* plane bases in the whole tensor's layout */
		base[0] = 0;
		base[1] = scheme_plane_offset(&c, R * C, 1);
		base[2] = scheme_plane_offset(&c, R * C, 2);
		for (uint64_t f = 0; f < (uint64_t)R * C; f += a) {
			size_t n = (size_t)(R * C - f < a ? R * C - f : a);

			c2 += s->quantize(&c, f, x + f, n, part);
			s->dequantize(&c, f, part, n, y2 + f);
			for (int k = 0; k < 3; k++) {
				size_t lo = scheme_plane_offset(&c, n, k);
				size_t hi = scheme_plane_offset(&c, n, k + 1);

				memcpy(q2 + base[k] + off[k], part + lo, hi - lo);
				off[k] += hi - lo;
			}
		}
		check_report(__FILE__, __LINE__,
			     memcmp(q1, q2, scheme_chunk_bytes(&c, R * C)) == 0 &&
			     memcmp(y1, y2, R * C * sizeof(float)) == 0 &&
			     c1 == c2,
			     "%s: chunks of %llu differ from one shot", s->name,
			     (unsigned long long)a);
	}
	free(x);
	free(y1);
	free(y2);
	free(q1);
	free(q2);
	free(part);
}

/* ---- the streamed error ---- */

struct src {
	const float *x;
	uint64_t fail_at;	/* read fails at this element; ~0: never */
};

static int read_src(void *arg, uint64_t first, size_t n, float *out)
{
	const struct src *s = arg;

	if (first + n > s->fail_at)
		return -1;
	memcpy(out, s->x + first, n * sizeof(float));
	return 0;
}

TEST(schemes_error_streamed)
{
	enum { R = 48, C = 1024 };
	struct scheme_shape sh = shape2(R, C);
	float *x = zalloc(R * C * sizeof(float)), *y = zalloc(R * C * 4);
	unsigned char *q = zalloc(R * C * 4 + 64);
	struct src src = { x, ~(uint64_t)0 };
	uint64_t seed = 101;

	for (int i = 0; i < R * C; i++)
		x[i] = gauss(&seed);
	x[77] = INFINITY;
	FOR_APPLICABLE(s, &sh) {
		struct err_acc want, got;
		static const struct compute_ctl runs[] = {
			{ 1, NULL, NULL, NULL }, { 2, NULL, NULL, NULL },
			{ 3, NULL, NULL, NULL }, { 0, NULL, NULL, NULL },
		};
		uint64_t clipped = whole(s, &sh, x, q, y, NULL);

		err_acc_init(&want);
		err_acc_add(&want, x, y, R * C);
		want.clipped += clipped;
		for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
			int rc = scheme_error(s, &sh, read_src, &src, &runs[r],
					      &got);

			check_report(__FILE__, __LINE__,
				     rc == 0 && got.n == want.n &&
				     got.clipped == want.clipped &&
				     got.max_abs == want.max_abs &&
				     fabs(got.sse - want.sse) <= 1e-9 * want.sse &&
				     fabs(got.sxy - want.sxy) <= 1e-9 * want.sxy,
				     "%s run %zu: rc %d, sse %.17g vs %.17g, clipped %llu vs %llu",
				     s->name, r, rc, got.sse, want.sse,
				     (unsigned long long)got.clipped,
				     (unsigned long long)want.clipped);
		}
	}
	/* the same sums, bit for bit, whatever the number of threads */
	{
		struct compute_ctl r1 = { 1, NULL, NULL, NULL };
		struct compute_ctl r3 = { 3, NULL, NULL, NULL };
		struct err_acc a, b;

		scheme_error(S("nf4"), &sh, read_src, &src, &r1, &a);
		scheme_error(S("nf4"), &sh, read_src, &src, &r3, &b);
		CHECK(a.sse == b.sse && a.sxx == b.sxx && a.syy == b.syy);
	}
	/* failures */
	{
		struct compute_ctl r = { 2, NULL, NULL, NULL };
		struct err_acc a;
		struct scheme_shape one = { 1, { 100 } };
		volatile int cancel = 1;

		src.fail_at = 20000;
		CHECK_EQ_I(scheme_error(S("int8"), &sh, read_src, &src, &r, &a),
			   -1);
		CHECK_EQ_I(scheme_error(S("fp8-e4m3"), &sh, read_src, &src, &r,
					&a), -1);
		src.fail_at = ~(uint64_t)0;
		CHECK_EQ_I(scheme_error(S("int8"), &one, read_src, &src, &r, &a),
			   -2);
		r.cancel = &cancel;
		CHECK_EQ_I(scheme_error(S("int8"), &sh, read_src, &src, &r, &a),
			   1);
	}
	free(x);
	free(y);
	free(q);
}

/* A sample is the tensor made of the rows it takes (row i * R / n), so
 * its sums equal scheme_error() on those rows copied out; a tensor not
 * larger than the sample, or of one dimension, is measured whole. */
TEST(schemes_error_sampled)
{
	enum { R = 40, C = 512, N = 7 };
	struct scheme_shape sh = shape2(R, C), sub = shape2(N, C);
	struct scheme_shape flat = { 1, { R * C } };
	float *x = zalloc(R * C * sizeof(float));
	float *rows = zalloc(N * C * sizeof(float));
	struct src src = { x, ~(uint64_t)0 }, srows = { rows, ~(uint64_t)0 };
	struct compute_ctl r2 = { 2, NULL, NULL, NULL };
	uint64_t seed = 7, measured;

	for (int i = 0; i < R * C; i++)
		x[i] = gauss(&seed) * (1 + i / C);
	for (int i = 0; i < N; i++)
		memcpy(rows + i * C, x + (i * R / N) * C, C * sizeof(float));
	FOR_APPLICABLE(s, &sh) {
		struct err_acc want, got;
		int rc = scheme_error_sampled(s, &sh, read_src, &src, &r2,
					      N * C + C / 2, &got, &measured);

		scheme_error(s, &sub, read_src, &srows, &r2, &want);
		check_report(__FILE__, __LINE__,
			     rc == 0 && measured == N * C && got.n == want.n &&
			     got.sse == want.sse && got.sxx == want.sxx &&
			     got.max_abs == want.max_abs,
			     "%s: rc %d, measured %llu, sse %.17g vs %.17g",
			     s->name, rc, (unsigned long long)measured, got.sse,
			     want.sse);
	}
	{
		struct err_acc want, got;

		scheme_error(S("int8"), &sh, read_src, &src, &r2, &want);
		CHECK_EQ_I(scheme_error_sampled(S("int8"), &sh, read_src, &src,
						&r2, R * C, &got, &measured), 0);
		CHECK(measured == R * C && got.sse == want.sse);
		scheme_error(S("f16"), &flat, read_src, &src, &r2, &want);
		CHECK_EQ_I(scheme_error_sampled(S("f16"), &flat, read_src,
						&src, &r2, 100, &got,
						&measured), 0);
		CHECK(measured == R * C && got.sse == want.sse);
		/* fewer values than a row: one row */
		CHECK_EQ_I(scheme_error_sampled(S("int8"), &sh, read_src, &src,
						&r2, 10, &got, &measured), 0);
		CHECK(measured == C);
	}
	free(x);
	free(rows);
}

/* The FORMATS.md 6.3 reference numbers on 2^20 N(0,1) values, as 256 rows
 * of 4096: MSE within a few per cent (the sample differs). */
TEST(schemes_gaussian_reference)
{
	static const struct {
		const char *name;
		double mse;
	} ref[] = {
		{ "f16", 4.30e-8 }, { "tf32", 4.30e-8 }, { "bf16", 2.75e-6 },
		{ "q8_0", 2.864e-5 }, { "fp8-e4m3", 7.00e-4 },
		{ "fp8-e5m2", 2.76e-3 }, { "q6_k", 3.140e-4 },
		{ "q5_1", 1.430e-3 }, { "q5_k", 1.304e-3 }, { "q5_0", 1.822e-3 },
		{ "q4_1", 6.112e-3 }, { "q4_k", 5.098e-3 }, { "q4_0", 7.385e-3 },
		{ "nf4", 8.451e-3 }, { "nf4-dq", 8.455e-3 }, { "fp4", 1.485e-2 },
		{ "int4-g128-asym", 1.009e-2 }, { "int4-g128", 1.372e-2 },
		{ "mxfp4", 1.323e-2 }, { "q3_k", 2.273e-2 }, { "q2_k", 8.789e-2 },
		{ "ternary", 2.629e-1 }, { "int8", 7.44e-5 },
	};
	enum { R = 256, C = 4096 };
	struct scheme_shape sh = shape2(R, C);
	float *x = zalloc((size_t)R * C * sizeof(float));
	struct src src = { x, ~(uint64_t)0 };
	uint64_t seed = 2024;

	for (size_t i = 0; i < (size_t)R * C; i++)
		x[i] = gauss(&seed);
	for (size_t i = 0; i < sizeof(ref) / sizeof(ref[0]); i++) {
		struct err_acc a;
		double mse;
		/* int8's per-row maxima vary most from sample to sample */
		double tol = !strcmp(ref[i].name, "int8") ? 0.05 : 0.02;

		CHECK_EQ_I(scheme_error(S(ref[i].name), &sh, read_src, &src,
					NULL, &a), 0);
		mse = a.sse / (double)a.n;
		check_report(__FILE__, __LINE__,
			     fabs(mse / ref[i].mse - 1) <= tol,
			     "%s: MSE %.4g, FORMATS.md 6.3 says %.4g",
			     ref[i].name, mse, ref[i].mse);
	}
	free(x);
}
