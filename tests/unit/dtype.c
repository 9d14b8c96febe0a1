/*
 * Unit tests for quant/dtype.c: the FORMATS.md 7.1-7.3 vectors; every f16,
 * bf16 and 8-bit float pattern against values computed here with ldexp; f32
 * rounding against a brute-force search for the nearest representable
 * value; the dtype table; the bulk decoders on unaligned little-endian
 * buffers.  Nothing here calls dtype.c to compute an expected value.
 */
#include <fenv.h>
#include <float.h>
#include <stdlib.h>

#include "quant/dtype.h"
#include "tests/check.h"

/* Stop a loop after this many failures so a bug does not flood the log. */
#define MAX_FAILS 8

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

/* xorshift64*: a fixed sequence, so failures reproduce. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* got is want exactly: same zero sign, any NaN for NaN. */
static int same_value(float got, double want)
{
	if (isnan(want))
		return isnan(got);
	return (double)got == want && !signbit(got) == !signbit(want);
}

/*
 * Value of the magnitude code mag of a binary float format with mbits
 * mantissa bits and exponent bias, reading every exponent as finite.
 */
static double mf_value(unsigned mag, int mbits, int bias)
{
	unsigned e = mag >> mbits, m = mag & ((1u << mbits) - 1);

	if (e)
		return ldexp((double)((1u << mbits) + m),
			     (int)e - bias - mbits);
	return ldexp((double)m, 1 - bias - mbits);
}

static double with_sign(int neg, double v)
{
	return neg ? -v : v;
}

static double f16_formula(unsigned h)
{
	unsigned mag = h & 0x7fff;

	if (mag > 0x7c00)
		return NAN;
	if (mag == 0x7c00)
		return with_sign(h & 0x8000, INFINITY);
	return with_sign(h & 0x8000, mf_value(mag, 10, 15));
}

static double bf16_formula(unsigned b)
{
	unsigned mag = b & 0x7fff;

	if (mag > 0x7f80)
		return NAN;
	if (mag == 0x7f80)
		return with_sign(b & 0x8000, INFINITY);
	return with_sign(b & 0x8000, mf_value(mag, 7, 127));
}

static double e4m3_formula(unsigned b)
{
	if ((b & 0x7f) == 0x7f)
		return NAN;
	return with_sign(b & 0x80, mf_value(b & 0x7f, 3, 7));
}

static double e5m2_formula(unsigned b)
{
	if ((b & 0x7f) > 0x7c)
		return NAN;
	if ((b & 0x7f) == 0x7c)
		return with_sign(b & 0x80, INFINITY);
	return with_sign(b & 0x80, mf_value(b & 0x7f, 2, 15));
}

static double e4m3fnuz_formula(unsigned b)
{
	if (b == 0x80)
		return NAN;
	return with_sign(b & 0x80, mf_value(b & 0x7f, 3, 8));
}

static double e5m2fnuz_formula(unsigned b)
{
	if (b == 0x80)
		return NAN;
	return with_sign(b & 0x80, mf_value(b & 0x7f, 2, 16));
}

static double e8m0_formula(unsigned b)
{
	return b == 0xff ? NAN : ldexp(1.0, (int)b - 127);
}

static double e2m1_formula(unsigned c)
{
	static const double mag[8] = { 0, 0.5, 1, 1.5, 2, 3, 4, 6 };

	return with_sign(c & 8, mag[c & 7]);
}

/* ---- FORMATS.md 7.1-7.3 ---- */

TEST(dtype_vectors_f16_bf16_tf32)
{
	static const struct {
		uint32_t in;
		uint16_t f16;
		double f16_val;
		uint16_t bf16;
		double bf16_val;
		uint32_t tf32;
	} v[] = {
		{ 0x00000000, 0x0000, 0, 0x0000, 0, 0x00000000 },
		{ 0x80000000, 0x8000, -0.0, 0x8000, -0.0, 0x80000000 },
		{ 0x3f800000, 0x3c00, 1, 0x3f80, 1, 0x3f800000 },
		{ 0xc0000000, 0xc000, -2, 0xc000, -2, 0xc0000000 },
		{ 0x3dcccccd, 0x2e66, 0.0999755859, 0x3dcd, 0.100097656,
		  0x3dccc000 },
		{ 0x3eaaaaab, 0x3555, 0.333251953, 0x3eab, 0.333984375,
		  0x3eaaa000 },
		{ 0x477fe000, 0x7bff, 65504, 0x4780, 65536, 0x477fe000 },
		{ 0x477fef00, 0x7bff, 65504, 0x4780, 65536, 0x477fe000 },
		{ 0x477ff000, 0x7c00, INFINITY, 0x4780, 65536, 0x47800000 },
		{ 0x3f801000, 0x3c00, 1, 0x3f80, 1, 0x3f800000 },
		{ 0x3f803000, 0x3c02, 1.00195312, 0x3f80, 1, 0x3f804000 },
		{ 0x3f808000, 0x3c04, 1.00390625, 0x3f80, 1, 0x3f808000 },
		{ 0x3f818000, 0x3c0c, 1.01171875, 0x3f82, 1.015625,
		  0x3f818000 },
		{ 0x38800000, 0x0400, 6.103515625e-5, 0x3880, 6.10351562e-5,
		  0x38800000 },
		{ 0x33800000, 0x0001, 5.96046448e-8, 0x3380, 5.96046448e-8,
		  0x33800000 },
		{ 0x33000000, 0x0000, 0, 0x3300, 2.98023224e-8, 0x33000000 },
		{ 0x33400000, 0x0001, 5.96046448e-8, 0x3340, 4.47034836e-8,
		  0x33400000 },
		{ 0x322bcc77, 0x0000, 0, 0x322c, 1.00117177e-8, 0x322bc000 },
		{ 0x7f7fffff, 0x7c00, INFINITY, 0x7f80, INFINITY, 0x7f800000 },
		{ 0x7f800000, 0x7c00, INFINITY, 0x7f80, INFINITY, 0x7f800000 },
		{ 0xff800000, 0xfc00, -INFINITY, 0xff80, -INFINITY,
		  0xff800000 },
		{ 0x7fc00000, 0x7e00, NAN, 0x7fc0, NAN, 0x7fc00000 },
		{ 0x00010000, 0x0000, 0, 0x0001, 9.18354962e-41, 0x00010000 },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		float f = fbits(v[i].in), h = f16_to_f32(v[i].f16);
		float b = bf16_to_f32(v[i].bf16);

		CHECK_EQ_U(f32_to_f16(f), v[i].f16);
		CHECK_EQ_U(f32_to_bf16(f), v[i].bf16);
		CHECK_EQ_U(bitsf(f32_round_tf32(f)), v[i].tf32);
		/* The sheet prints 9 significant digits. */
		if (isnan(v[i].f16_val) || isinf(v[i].f16_val))
			CHECK_FBITS(h, (float)v[i].f16_val);
		else
			CHECK_NEAR(h, v[i].f16_val, fabs(v[i].f16_val) * 1e-8);
		if (isnan(v[i].bf16_val) || isinf(v[i].bf16_val))
			CHECK_FBITS(b, (float)v[i].bf16_val);
		else
			CHECK_NEAR(b, v[i].bf16_val, fabs(v[i].bf16_val) * 1e-8);
		CHECK(!signbit(h) == !signbit(v[i].f16_val));
		CHECK(!signbit(b) == !signbit(v[i].bf16_val));
	}
	/* Section 5.1-5.3 facts. */
	CHECK_FBITS(f16_to_f32(0x7bff), 65504.0f);
	CHECK_FBITS(f16_to_f32(0x0400), 0x1p-14f);
	CHECK_FBITS(f16_to_f32(0x0001), 0x1p-24f);
	CHECK_EQ_U(f32_to_f16(0x1p-25f * 1.0000001f), 0x0001);
	CHECK_EQ_U(f32_to_f16(fbits(0x7fa00001)), 0x7e00);	/* sNaN */
	CHECK_EQ_U(f32_to_f16(fbits(0xffc00000)), 0xfe00);
	CHECK_FBITS(bf16_to_f32(0x7f7f), 3.3895314e38f);
	CHECK_EQ_U(f32_to_bf16(fbits(0x7f800001)), 0x7fc0);	/* sNaN */
	CHECK_EQ_U(f32_to_bf16(fbits(0xff812345)), 0xffc1);
	CHECK_EQ_U(f32_to_bf16(fbits(0x7f7f8000)), 0x7f80);
	CHECK_EQ_U(f32_to_bf16(fbits(0x7f7f7fff)), 0x7f7f);
	CHECK_EQ_U(bitsf(f32_round_tf32(fbits(0x7fa00001))), 0x7fa00001);
	CHECK_EQ_U(bitsf(f32_round_tf32(fbits(0xff7fffff))), 0xff800000);
	CHECK_EQ_U(bitsf(f32_round_tf32(fbits(0x00001000))), 0x00000000);
	CHECK_EQ_U(bitsf(f32_round_tf32(fbits(0x00003000))), 0x00004000);
}

TEST(dtype_vectors_fp8)
{
	static const struct {
		float in;
		uint8_t e4_sat, e4, e5_sat, e5;
	} v[] = {
		{ 0.0f, 0x00, 0x00, 0x00, 0x00 },
		{ -0.0f, 0x80, 0x80, 0x80, 0x80 },
		{ 1.0f, 0x38, 0x38, 0x3c, 0x3c },
		{ -1.5f, 0xbc, 0xbc, 0xbe, 0xbe },
		{ 0.1f, 0x1d, 0x1d, 0x2e, 0x2e },
		{ 1.0625f, 0x38, 0x38, 0x3c, 0x3c },
		{ 1.1875f, 0x3a, 0x3a, 0x3d, 0x3d },
		{ 240.0f, 0x77, 0x77, 0x5c, 0x5c },
		{ 448.0f, 0x7e, 0x7e, 0x5f, 0x5f },
		{ 464.0f, 0x7e, 0x7e, 0x5f, 0x5f },
		{ 500.0f, 0x7e, 0x7f, 0x60, 0x60 },
		{ -1000.0f, 0xfe, 0xff, 0xe4, 0xe4 },
		{ 57344.0f, 0x7e, 0x7f, 0x7b, 0x7b },
		{ 61440.0f, 0x7e, 0x7f, 0x7b, 0x7c },
		{ 65536.0f, 0x7e, 0x7f, 0x7b, 0x7c },
		{ INFINITY, 0x7e, 0x7f, 0x7b, 0x7c },
		{ NAN, 0x7f, 0x7f, 0x7f, 0x7f },
		{ 0.0155f, 0x08, 0x08, 0x24, 0x24 },
		{ 0x1p-9f, 0x01, 0x01, 0x18, 0x18 },
		{ 0x1p-10f, 0x00, 0x00, 0x14, 0x14 },
		{ 0x3p-11f, 0x01, 0x01, 0x16, 0x16 },
		{ 0x1p-16f, 0x00, 0x00, 0x01, 0x01 },
		{ 0x1p-17f, 0x00, 0x00, 0x00, 0x00 },
		/* Not in the sheet: the sign of -Inf and of a NaN is kept
		 * (PyTorch's casts OR the sign into every result). */
		{ -INFINITY, 0xfe, 0xff, 0xfb, 0xfc },
		{ -NAN, 0xff, 0xff, 0xff, 0xff },
		/* (464, 480) rounds to the NaN pattern when not saturating */
		{ 465.0f, 0x7e, 0x7f, 0x5f, 0x5f },
		{ 479.0f, 0x7e, 0x7f, 0x5f, 0x5f },
		{ 480.0f, 0x7e, 0x7f, 0x60, 0x60 },	/* tie: even 0x60 */
		{ 61439.0f, 0x7e, 0x7f, 0x7b, 0x7b },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CHECK_EQ_U(f32_to_fp8_e4m3(v[i].in, 1), v[i].e4_sat);
		CHECK_EQ_U(f32_to_fp8_e4m3(v[i].in, 0), v[i].e4);
		CHECK_EQ_U(f32_to_fp8_e5m2(v[i].in, 1), v[i].e5_sat);
		CHECK_EQ_U(f32_to_fp8_e5m2(v[i].in, 0), v[i].e5);
	}
	/* Decoded values the sheet names (5.4, 7.2). */
	CHECK_FBITS(fp8_e4m3_to_f32(0x1d), 0.1015625f);
	CHECK_FBITS(fp8_e5m2_to_f32(0x2e), 0.09375f);
	CHECK_FBITS(fp8_e4m3_to_f32(0x77), 240.0f);
	CHECK_FBITS(fp8_e5m2_to_f32(0x5c), 256.0f);
	CHECK_FBITS(fp8_e4m3_to_f32(0x7e), 448.0f);
	CHECK_FBITS(fp8_e4m3_to_f32(0xfe), -448.0f);
	CHECK_FBITS(fp8_e5m2_to_f32(0x5f), 448.0f);
	CHECK_FBITS(fp8_e5m2_to_f32(0x60), 512.0f);
	CHECK_FBITS(fp8_e5m2_to_f32(0xe4), -1024.0f);
	CHECK_FBITS(fp8_e5m2_to_f32(0x7b), 57344.0f);
	CHECK_FBITS(fp8_e5m2_to_f32(0x7c), INFINITY);
	CHECK_FBITS(fp8_e5m2_to_f32(0xfc), -INFINITY);
	CHECK(isnan(fp8_e5m2_to_f32(0x7d)) && isnan(fp8_e5m2_to_f32(0xff)));
	CHECK(isnan(fp8_e4m3_to_f32(0x7f)) && isnan(fp8_e4m3_to_f32(0xff)));
	CHECK_FBITS(fp8_e4m3_to_f32(0x38), 1.0f);
	CHECK_FBITS(fp8_e5m2_to_f32(0x3c), 1.0f);
	CHECK_FBITS(fp8_e4m3_to_f32(0x08), 0.015625f);
	CHECK_FBITS(fp8_e4m3_to_f32(0x01), 0x1p-9f);
	CHECK_FBITS(fp8_e5m2_to_f32(0x04), 0x1p-14f);
	CHECK_FBITS(fp8_e5m2_to_f32(0x01), 0x1p-16f);
	CHECK_FBITS(fp8_e4m3_to_f32(0x80), -0.0f);
	/* FNUZ: max 240 / 57344, 0x80 the only NaN, no infinity. */
	CHECK_FBITS(fp8_e4m3fnuz_to_f32(0x7f), 240.0f);
	CHECK_FBITS(fp8_e4m3fnuz_to_f32(0xff), -240.0f);
	CHECK_FBITS(fp8_e5m2fnuz_to_f32(0x7f), 57344.0f);
	CHECK_FBITS(fp8_e5m2fnuz_to_f32(0x7c), 32768.0f);
	CHECK(isnan(fp8_e4m3fnuz_to_f32(0x80)));
	CHECK(isnan(fp8_e5m2fnuz_to_f32(0x80)));
	CHECK_FBITS(fp8_e4m3fnuz_to_f32(0x40), 1.0f);
	CHECK_FBITS(fp8_e5m2fnuz_to_f32(0x40), 1.0f);
	CHECK_FBITS(fp8_e4m3fnuz_to_f32(0x01), 0x1p-10f);
	CHECK_FBITS(fp8_e5m2fnuz_to_f32(0x01), 0x1p-17f);
}

TEST(dtype_vectors_e2m1_e8m0)
{
	static const struct {
		float in;
		uint8_t code;
	} v[] = {
		{ 0.0f, 0x0 }, { 0.25f, 0x0 }, { 0.3f, 0x1 }, { 0.75f, 0x2 },
		{ 1.25f, 0x2 }, { 1.75f, 0x4 }, { 2.5f, 0x4 }, { 3.5f, 0x6 },
		{ 5.0f, 0x6 }, { 5.5f, 0x7 }, { 7.0f, 0x7 }, { -0.75f, 0xa },
		{ -6.0f, 0xf },
		/* The sheet's interval ends, just inside and outside. */
		{ 0.2500001f, 0x1 }, { 0.7499999f, 0x1 }, { 1.2500001f, 0x3 },
		{ 1.7499999f, 0x3 }, { 2.5000002f, 0x5 }, { 3.4999998f, 0x5 },
		{ 5.0000005f, 0x7 }, { 1e30f, 0x7 },
		/* Not in the sheet: -0 and tiny negatives keep the sign;
		 * Inf saturates; NaN, which E2M1 lacks, saturates too with
		 * its sign (ONNX Cast gives 6 for NaN; oneDNN +-6). */
		{ -0.0f, 0x8 }, { -0.1f, 0x8 }, { INFINITY, 0x7 },
		{ -INFINITY, 0xf }, { NAN, 0x7 }, { -NAN, 0xf },
	};
	static const float e2m1[16] = {
		0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
		-0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f,
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK_EQ_U(f32_to_e2m1(v[i].in), v[i].code);
	for (unsigned c = 0; c < 16; c++) {
		CHECK_FBITS(e2m1_to_f32((uint8_t)c), e2m1[c]);
		CHECK(same_value(e2m1_to_f32((uint8_t)c), e2m1_formula(c)));
		/* only the low 4 bits count */
		CHECK_FBITS(e2m1_to_f32((uint8_t)(c | 0xf0)), e2m1[c]);
		CHECK_EQ_U(f32_to_e2m1(e2m1[c]), c);
	}
	CHECK_FBITS(e8m0_to_f32(0x7f), 1.0f);
	CHECK_FBITS(e8m0_to_f32(0x80), 2.0f);
	CHECK_FBITS(e8m0_to_f32(0x7e), 0.5f);
	CHECK_EQ_U(bitsf(e8m0_to_f32(0x00)), 0x00400000);
	CHECK_FBITS(e8m0_to_f32(0xfe), 0x1p127f);
	CHECK(isnan(e8m0_to_f32(0xff)));
}

/* ---- every pattern ---- */

TEST(dtype_f16_all_patterns)
{
	unsigned char *buf = malloc(2 * 65536 + 1), *src = buf + 1;
	float *out = malloc(65536 * sizeof(*out));
	int bad = 0;

	for (unsigned h = 0; h < 65536; h++) {
		float f = f16_to_f32((uint16_t)h);
		double want = f16_formula(h);
		uint16_t back = f32_to_f16(f);
		int ok;

		ok = check_report(__FILE__, __LINE__, same_value(f, want),
				  "f16 0x%04x: %.9g, want %.9g", h, f, want);
		if (isnan(want))
			ok &= check_report(__FILE__, __LINE__,
					   back == ((h & 0x8000) | 0x7e00) &&
					   !signbit(f) == !(h & 0x8000),
					   "f16 NaN 0x%04x: back 0x%04x", h,
					   back);
		else
			ok &= check_report(__FILE__, __LINE__, back == h,
					   "f16 0x%04x: back 0x%04x", h, back);
		if (!ok && ++bad > MAX_FAILS)
			break;
		src[2 * h] = (unsigned char)h;
		src[2 * h + 1] = (unsigned char)(h >> 8);
	}
	/* The bulk decoder, from an odd address, agrees bit for bit. */
	dtype_get(DT_F16)->decode(src, out, 65536);
	bad = 0;
	for (unsigned h = 0; h < 65536 && bad <= MAX_FAILS; h++)
		if (!check_report(__FILE__, __LINE__,
				  bitsf(out[h]) == bitsf(f16_to_f32((uint16_t)h)),
				  "bulk f16 0x%04x: 0x%08x", h, bitsf(out[h])))
			bad++;
	free(buf);
	free(out);
}

TEST(dtype_bf16_all_patterns)
{
	unsigned char *buf = malloc(2 * 65536 + 3), *src = buf + 3;
	float *out = malloc(65536 * sizeof(*out));
	int bad = 0;

	for (unsigned b = 0; b < 65536; b++) {
		float f = bf16_to_f32((uint16_t)b);
		double want = bf16_formula(b);
		uint16_t back = f32_to_bf16(f);
		int ok;

		ok = check_report(__FILE__, __LINE__, same_value(f, want),
				  "bf16 0x%04x: %.9g, want %.9g", b, f, want);
		/* Decoding is exact, so NaN comes back forced quiet. */
		if (isnan(want))
			ok &= check_report(__FILE__, __LINE__,
					   back == (b | 0x0040),
					   "bf16 NaN 0x%04x: back 0x%04x", b,
					   back);
		else
			ok &= check_report(__FILE__, __LINE__, back == b,
					   "bf16 0x%04x: back 0x%04x", b, back);
		if (!ok && ++bad > MAX_FAILS)
			break;
		src[2 * b] = (unsigned char)b;
		src[2 * b + 1] = (unsigned char)(b >> 8);
	}
	dtype_get(DT_BF16)->decode(src, out, 65536);
	bad = 0;
	for (unsigned b = 0; b < 65536 && bad <= MAX_FAILS; b++)
		if (!check_report(__FILE__, __LINE__,
				  bitsf(out[b]) == b << 16,
				  "bulk bf16 0x%04x: 0x%08x", b, bitsf(out[b])))
			bad++;
	free(buf);
	free(out);
}

static const struct fp8_type {
	const char *name;
	enum dtype dt;
	float (*decode)(uint8_t);
	double (*formula)(unsigned);
} fp8_types[] = {
	{ "e4m3", DT_F8_E4M3, fp8_e4m3_to_f32, e4m3_formula },
	{ "e5m2", DT_F8_E5M2, fp8_e5m2_to_f32, e5m2_formula },
	{ "e4m3fnuz", DT_F8_E4M3FNUZ, fp8_e4m3fnuz_to_f32, e4m3fnuz_formula },
	{ "e5m2fnuz", DT_F8_E5M2FNUZ, fp8_e5m2fnuz_to_f32, e5m2fnuz_formula },
	{ "e8m0", DT_F8_E8M0, e8m0_to_f32, e8m0_formula },
};

TEST(dtype_fp8_all_patterns)
{
	unsigned char buf[257];
	float out[256];

	for (unsigned b = 0; b < 256; b++)
		buf[b + 1] = (unsigned char)b;
	for (size_t t = 0; t < sizeof(fp8_types) / sizeof(fp8_types[0]); t++) {
		const struct fp8_type *ft = &fp8_types[t];

		dtype_get(ft->dt)->decode(buf + 1, out, 256);
		for (unsigned b = 0; b < 256; b++) {
			float f = ft->decode((uint8_t)b);
			double want = ft->formula(b);

			check_report(__FILE__, __LINE__, same_value(f, want),
				     "%s 0x%02x: %.9g, want %.9g", ft->name,
				     b, f, want);
			check_report(__FILE__, __LINE__,
				     same_value(out[b], want),
				     "bulk %s 0x%02x: %.9g, want %.9g",
				     ft->name, b, out[b], want);
		}
	}
	/* Encoding what was decoded gives the code back; NaN comes back
	 * as the NaN of its sign, E5M2 infinity saturates to the max. */
	for (unsigned b = 0; b < 256; b++) {
		float e4 = fp8_e4m3_to_f32((uint8_t)b);
		float e5 = fp8_e5m2_to_f32((uint8_t)b);
		unsigned nan = (b & 0x80) | 0x7f;
		unsigned e5sat = isinf(e5) ? (b & 0x80) | 0x7b : b;

		CHECK_EQ_U(f32_to_fp8_e4m3(e4, 0), isnan(e4) ? nan : b);
		CHECK_EQ_U(f32_to_fp8_e4m3(e4, 1), isnan(e4) ? nan : b);
		CHECK_EQ_U(f32_to_fp8_e5m2(e5, 0), isnan(e5) ? nan : b);
		CHECK_EQ_U(f32_to_fp8_e5m2(e5, 1), isnan(e5) ? nan : e5sat);
	}
}

/* ---- f32 rounding against a brute-force search ---- */

/*
 * A target format: magnitude codes 0..max are finite and increase with
 * their value; code max + 1 read as finite is the first value past the
 * range, so an input that rounds to it (or lies beyond it) overflows and
 * gets the code ovf.
 */
struct target {
	const char *name;
	int mbits, bias;
	uint32_t max, sign, ovf;
	uint32_t (*conv)(float);
	uint32_t nan;		/* NaN code for +NaN; sign added for -NaN */
};

static uint32_t conv_f16(float f)
{
	return f32_to_f16(f);
}

static uint32_t conv_bf16(float f)
{
	return f32_to_bf16(f);
}

static uint32_t conv_e4m3_sat(float f)
{
	return f32_to_fp8_e4m3(f, 1);
}

static uint32_t conv_e4m3(float f)
{
	return f32_to_fp8_e4m3(f, 0);
}

static uint32_t conv_e5m2_sat(float f)
{
	return f32_to_fp8_e5m2(f, 1);
}

static uint32_t conv_e5m2(float f)
{
	return f32_to_fp8_e5m2(f, 0);
}

static uint32_t conv_e2m1(float f)
{
	return f32_to_e2m1(f);
}

static const struct target targets[] = {
	{ "f16", 10, 15, 0x7bff, 0x8000, 0x7c00, conv_f16, 0x7e00 },
	{ "bf16", 7, 127, 0x7f7f, 0x8000, 0x7f80, conv_bf16, 0 },
	{ "e4m3 sat", 3, 7, 0x7e, 0x80, 0x7e, conv_e4m3_sat, 0x7f },
	{ "e4m3", 3, 7, 0x7e, 0x80, 0x7f, conv_e4m3, 0x7f },
	{ "e5m2 sat", 2, 15, 0x7b, 0x80, 0x7b, conv_e5m2_sat, 0x7f },
	{ "e5m2", 2, 15, 0x7b, 0x80, 0x7c, conv_e5m2, 0x7f },
	{ "e2m1", 1, 1, 0x7, 0x8, 0x7, conv_e2m1, 0x7 },
};

/*
 * The nearest of the sorted values vals[0..max + 1] to |f| by binary
 * search; halfway goes to the even code.  Midpoints of neighbours and
 * the input are all exact in double.
 */
static uint32_t ref_round(const struct target *t, const double *vals, float f)
{
	double x = fabs((double)f);
	uint32_t sign = signbit(f) ? t->sign : 0, lo = 0, hi = t->max + 1, c;

	if (x >= vals[hi])
		return sign | t->ovf;
	/* invariant: vals[lo] <= x < vals[hi] */
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (vals[mid] <= x)
			lo = mid;
		else
			hi = mid;
	}
	if (x == vals[lo])
		c = lo;
	else if (x < (vals[lo] + vals[hi]) / 2)
		c = lo;
	else if (x > (vals[lo] + vals[hi]) / 2)
		c = hi;
	else
		c = lo & 1 ? hi : lo;
	return sign | (c > t->max ? t->ovf : c);
}

static int check_round(const struct target *t, const double *vals, float f)
{
	uint32_t got = t->conv(f), want;

	if (isnan(f))
		want = t->nan ? (signbit(f) ? t->sign : 0) | t->nan
			      : (bitsf(f) >> 16 | 0x40);
	else
		want = ref_round(t, vals, f);
	return check_report(__FILE__, __LINE__, got == want,
			    "%s(%.9g = 0x%08x): 0x%x, want 0x%x", t->name, f,
			    bitsf(f), got, want);
}

/* f, its neighbours in float, and their negatives. */
static int check_round_around(const struct target *t, const double *vals,
			      float f)
{
	float g[3] = { nextafterf(f, -INFINITY), f, nextafterf(f, INFINITY) };
	int ok = 1;

	for (int i = 0; i < 3; i++) {
		ok &= check_round(t, vals, g[i]);
		ok &= check_round(t, vals, -g[i]);
	}
	return ok;
}

TEST(dtype_round_brute_force)
{
	static const uint32_t nans[] = { 0x7fc00000, 0xffc00000, 0x7f800001,
					 0xff812345, 0x7fffffff };
	static const float edges[] = { 0.0f, FLT_MIN, FLT_MAX, INFINITY,
				       0x1p-149f, 0x1p-126f * 0.5f, 1.0f };

	for (size_t ti = 0; ti < sizeof(targets) / sizeof(targets[0]); ti++) {
		const struct target *t = &targets[ti];
		double *vals = malloc((t->max + 2) * sizeof(*vals));
		int emin = 1 - t->bias - t->mbits;	/* min subnormal 2^emin */
		int emax;
		uint64_t s = 0x9e3779b97f4a7c15ull + ti;
		int bad = 0;

		for (uint32_t c = 0; c <= t->max + 1; c++)
			vals[c] = mf_value(c, t->mbits, t->bias);
		emax = ilogb(vals[t->max + 1]);

		/* Every value, every midpoint, one float either side. */
		for (uint32_t c = 0; c <= t->max + 1 && bad <= MAX_FAILS; c++) {
			int ok = 1;

			if (vals[c] <= FLT_MAX)
				ok &= check_round_around(t, vals,
							 (float)vals[c]);
			if (c <= t->max && (vals[c] + vals[c + 1]) / 2 <= FLT_MAX)
				ok &= check_round_around(t, vals,
					(float)((vals[c] + vals[c + 1]) / 2));
			if (!ok)
				bad++;
		}
		for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
			check_round_around(t, vals, edges[i]);
		for (size_t i = 0; i < sizeof(nans) / sizeof(nans[0]); i++)
			check_round(t, vals, fbits(nans[i]));

		/* Random floats: any bit pattern, and ones whose exponent
		 * lies in or near the target's range. */
		for (int i = 0; i < 40000 && bad <= MAX_FAILS; i++) {
			uint64_t r = rnd(&s);
			uint32_t any = (uint32_t)r, near;
			int e = emin - 3 + (int)((r >> 32) % (uint64_t)(emax - emin + 6));

			e += 127;
			if (e < 0)
				e = 0;
			if (e > 254)
				e = 254;
			near = (uint32_t)(r >> 63) << 31 | (uint32_t)e << 23 |
			       ((uint32_t)(r >> 40) & 0x7fffff);
			if (!check_round(t, vals, fbits(any)) ||
			    !check_round(t, vals, fbits(near)))
				bad++;
		}
		free(vals);
	}
}

/* TF32: the nearest of the two 10-bit-mantissa neighbours, in double. */
TEST(dtype_tf32_random)
{
	uint64_t s = 12345;
	int bad = 0;

	for (int i = 0; i < 200000 && bad <= MAX_FAILS; i++) {
		uint32_t u = (uint32_t)rnd(&s), lo, hi, want;
		double x, vlo, vhi;

		if (i & 1)	/* exercise halfway cases often */
			u = (u & 0xffffe000) | 0x1000;
		if ((u & 0x7f800000) == 0x7f800000)
			continue;
		lo = u & 0xffffe000;
		hi = lo + 0x2000;
		x = fabs((double)fbits(u));
		vlo = fabs((double)fbits(lo));
		vhi = (hi & 0x7f800000) == 0x7f800000 ? ldexp(1, 128)
						      : fabs((double)fbits(hi));
		if (x < (vlo + vhi) / 2)
			want = lo;
		else if (x > (vlo + vhi) / 2)
			want = hi;
		else
			want = lo & 0x2000 ? hi : lo;
		if (!check_report(__FILE__, __LINE__,
				  bitsf(f32_round_tf32(fbits(u))) == want,
				  "tf32(0x%08x): 0x%08x, want 0x%08x", u,
				  bitsf(f32_round_tf32(fbits(u))), want))
			bad++;
	}
}

/* F64 decoding rounds as a C cast does (in the default rounding mode). */
TEST(dtype_f64_decode)
{
	static const double edge[] = {
		0.0, -0.0, 1.0, 0.1, -1e300, 1e-300, DBL_MIN, DBL_MAX,
		INFINITY, -INFINITY, NAN, FLT_MAX, -FLT_MAX,
		(double)FLT_MAX + 0x1p103, (double)FLT_MAX + 0x1p103 - 0x1p50,
		(double)FLT_MAX + 0x1p104, 0x1p-149, 0x1p-150,
		0x1p-150 + 0x1p-200, 0x3p-151, 0x1p-126, 0x1p-126 - 0x1p-160,
		0x1p-127, 1.0 + 0x1p-24, 1.0 + 0x3p-24, 1.0 + 0x1p-24 + 0x1p-60,
	};
	enum { N = 4096 + sizeof(edge) / sizeof(edge[0]) };
	unsigned char *buf = malloc(8 * N + 5), *src = buf + 5;
	float *out = malloc(N * sizeof(*out));
	double *d = malloc(N * sizeof(*d));
	uint64_t s = 777;
	int bad = 0;

	for (size_t i = 0; i < N; i++) {
		uint64_t u = rnd(&s);

		if (i < sizeof(edge) / sizeof(edge[0])) {
			d[i] = edge[i];
			memcpy(&u, &d[i], 8);
		} else {
			/* exponent near float's range for most; ties often */
			if (i % 4)
				u = (u & 0x800fffffffffffffull) |
				    (uint64_t)(1023 - 155 + (u >> 52) % 290) << 52;
			if (i % 3 == 0)
				u = (u & ~0x1fffffffull) | 0x10000000;
			memcpy(&d[i], &u, 8);
		}
		for (int k = 0; k < 8; k++)
			src[8 * i + k] = (unsigned char)(u >> (8 * k));
	}
	dtype_get(DT_F64)->decode(src, out, N);
	for (size_t i = 0; i < N && bad <= MAX_FAILS; i++) {
		float want = (float)d[i];

		if (!check_report(__FILE__, __LINE__,
				  bitsf(out[i]) == bitsf(want) ||
				  (isnan(out[i]) && isnan(want)),
				  "f64 %a: 0x%08x, want 0x%08x", d[i],
				  bitsf(out[i]), bitsf(want)))
			bad++;
	}
	free(buf);
	free(out);
	free(d);
}

/* Every scalar conversion of f (and the f16 decoding of h), mixed. */
static uint32_t all_conversions(float f, uint16_t h)
{
	uint32_t r = (uint32_t)f32_to_f16(f) ^ (uint32_t)f32_to_bf16(f) << 16;

	r ^= (f32_to_fp8_e4m3(f, 1) | f32_to_fp8_e4m3(f, 0) << 8 |
	      f32_to_fp8_e5m2(f, 1) << 16 |
	      (uint32_t)f32_to_fp8_e5m2(f, 0) << 24) * 3u;
	r ^= (uint32_t)f32_to_e2m1(f) << 7;
	r ^= bitsf(f32_round_tf32(f)) * 5u;
	return r ^ bitsf(f16_to_f32(h)) * 7u;
}

/*
 * The conversions work on bit patterns, so another FP rounding mode must
 * not change a single result.  (The integer dtypes are exempt: they use
 * C's conversion, which follows the mode.)
 */
TEST(dtype_rounding_mode_independent)
{
	static const int modes[] = {
#ifdef FE_UPWARD
		FE_UPWARD,
#endif
#ifdef FE_DOWNWARD
		FE_DOWNWARD,
#endif
#ifdef FE_TOWARDZERO
		FE_TOWARDZERO,
#endif
	};
	enum { N = 65536 };
	uint32_t *in = malloc(N * sizeof(*in)), *want = malloc(N * sizeof(*want));
	uint32_t *want64 = malloc(N * sizeof(*want64));
	unsigned char *src = malloc(8 * N);
	float *out = malloc(N * sizeof(*out));
	uint64_t s = 4242;
	int saved = fegetround();

	for (size_t i = 0; i < N; i++) {
		uint64_t r = rnd(&s);

		/* half of them in the small formats' range */
		in[i] = i & 1 ? (uint32_t)r
			      : ((uint32_t)r & 0x83ffffff) | 0x30000000;
		for (int k = 0; k < 8; k++)
			src[8 * i + k] = (unsigned char)(r >> (8 * k));
		want[i] = all_conversions(fbits(in[i]), (uint16_t)i);
	}
	dtype_get(DT_F64)->decode(src, out, N);
	for (size_t i = 0; i < N; i++)
		want64[i] = bitsf(out[i]);
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		int bad = 0;

		fesetround(modes[m]);
		for (size_t i = 0; i < N && bad <= MAX_FAILS; i++)
			if (!check_report(__FILE__, __LINE__,
					  all_conversions(fbits(in[i]),
							  (uint16_t)i) == want[i],
					  "mode %zu, input 0x%08x", m, in[i]))
				bad++;
		dtype_get(DT_F64)->decode(src, out, N);
		fesetround(saved);
		for (size_t i = 0; i < N && bad <= MAX_FAILS; i++)
			if (!check_report(__FILE__, __LINE__,
					  bitsf(out[i]) == want64[i],
					  "mode %zu: f64 element %zu", m, i))
				bad++;
	}
	fesetround(saved);
	free(in);
	free(want);
	free(want64);
	free(src);
	free(out);
}

/* ---- the table ---- */

static const struct {
	const char *name;
	unsigned block, block_bytes;
	int decodable, is_float;
	double bits;
	int ggml;	/* ggml_type id, -1 if none; 0 is F32 */
} rows[DT_COUNT] = {
	[DT_F64] = { "F64", 1, 8, 1, 1, 64, 28 },
	[DT_F32] = { "F32", 1, 4, 1, 1, 32, 0 },
	[DT_F16] = { "F16", 1, 2, 1, 1, 16, 1 },
	[DT_BF16] = { "BF16", 1, 2, 1, 1, 16, 30 },
	[DT_F8_E4M3] = { "F8_E4M3", 1, 1, 1, 1, 8, -1 },
	[DT_F8_E5M2] = { "F8_E5M2", 1, 1, 1, 1, 8, -1 },
	[DT_F8_E4M3FNUZ] = { "F8_E4M3FNUZ", 1, 1, 1, 1, 8, -1 },
	[DT_F8_E5M2FNUZ] = { "F8_E5M2FNUZ", 1, 1, 1, 1, 8, -1 },
	[DT_F8_E8M0] = { "F8_E8M0", 1, 1, 1, 1, 8, -1 },
	[DT_F6_E2M3] = { "F6_E2M3", 4, 3, 0, 1, 6, -1 },
	[DT_F6_E3M2] = { "F6_E3M2", 4, 3, 0, 1, 6, -1 },
	[DT_F4] = { "F4", 2, 1, 1, 1, 4, -1 },
	[DT_C64] = { "C64", 1, 8, 0, 1, 64, -1 },
	[DT_I64] = { "I64", 1, 8, 1, 0, 64, 27 },
	[DT_I32] = { "I32", 1, 4, 1, 0, 32, 26 },
	[DT_I16] = { "I16", 1, 2, 1, 0, 16, 25 },
	[DT_I8] = { "I8", 1, 1, 1, 0, 8, 24 },
	[DT_U64] = { "U64", 1, 8, 1, 0, 64, -1 },
	[DT_U32] = { "U32", 1, 4, 1, 0, 32, -1 },
	[DT_U16] = { "U16", 1, 2, 1, 0, 16, -1 },
	[DT_U8] = { "U8", 1, 1, 1, 0, 8, -1 },
	[DT_BOOL] = { "BOOL", 1, 1, 1, 0, 8, -1 },
	/* GGUF block types: bits per weight from FORMATS.md 2.4 */
	[DT_Q4_0] = { "Q4_0", 32, 18, 1, 0, 4.5, 2 },
	[DT_Q4_1] = { "Q4_1", 32, 20, 1, 0, 5.0, 3 },
	[DT_Q5_0] = { "Q5_0", 32, 22, 1, 0, 5.5, 6 },
	[DT_Q5_1] = { "Q5_1", 32, 24, 1, 0, 6.0, 7 },
	[DT_Q8_0] = { "Q8_0", 32, 34, 1, 0, 8.5, 8 },
	[DT_Q8_1] = { "Q8_1", 32, 36, 1, 0, 9.0, 9 },
	[DT_Q2_K] = { "Q2_K", 256, 84, 1, 0, 2.625, 10 },
	[DT_Q3_K] = { "Q3_K", 256, 110, 1, 0, 3.4375, 11 },
	[DT_Q4_K] = { "Q4_K", 256, 144, 1, 0, 4.5, 12 },
	[DT_Q5_K] = { "Q5_K", 256, 176, 1, 0, 5.5, 13 },
	[DT_Q6_K] = { "Q6_K", 256, 210, 1, 0, 6.5625, 14 },
	[DT_Q8_K] = { "Q8_K", 256, 292, 1, 0, 9.125, 15 },
	[DT_IQ2_XXS] = { "IQ2_XXS", 256, 66, 0, 0, 2.0625, 16 },
	[DT_IQ2_XS] = { "IQ2_XS", 256, 74, 0, 0, 2.3125, 17 },
	[DT_IQ3_XXS] = { "IQ3_XXS", 256, 98, 0, 0, 3.0625, 18 },
	[DT_IQ1_S] = { "IQ1_S", 256, 50, 0, 0, 1.5625, 19 },
	[DT_IQ4_NL] = { "IQ4_NL", 32, 18, 1, 0, 4.5, 20 },
	[DT_IQ3_S] = { "IQ3_S", 256, 110, 0, 0, 3.4375, 21 },
	[DT_IQ2_S] = { "IQ2_S", 256, 82, 0, 0, 2.5625, 22 },
	[DT_IQ4_XS] = { "IQ4_XS", 256, 136, 1, 0, 4.25, 23 },
	[DT_IQ1_M] = { "IQ1_M", 256, 56, 0, 0, 1.75, 29 },
	[DT_TQ1_0] = { "TQ1_0", 256, 54, 1, 0, 1.6875, 34 },
	[DT_TQ2_0] = { "TQ2_0", 256, 66, 1, 0, 2.0625, 35 },
	[DT_MXFP4] = { "MXFP4", 32, 17, 1, 0, 4.25, 39 },
	[DT_NVFP4] = { "NVFP4", 64, 36, 0, 0, 4.5, 40 },
	[DT_Q1_0] = { "Q1_0", 128, 18, 1, 0, 1.125, 41 },
	[DT_Q2_0] = { "Q2_0", 64, 18, 1, 0, 2.25, 42 },
	[DT_C128] = { "C128", 1, 16, 0, 1, 128, -1 },
};

TEST(dtype_table_rows)
{
	for (int d = DT_NONE + 1; d < DT_COUNT; d++) {
		const struct dtype_info *di = dtype_get((enum dtype)d);

		CHECK_STR(di->name, rows[d].name);
		CHECK_EQ_I(dtype_from_name(rows[d].name), d);
		CHECK_EQ_U(di->block, rows[d].block);
		CHECK_EQ_U(di->block_bytes, rows[d].block_bytes);
		CHECK_EQ_I(di->decode != NULL, rows[d].decodable);
		CHECK_EQ_I(!!di->is_float, rows[d].is_float);
		CHECK(dtype_bits((enum dtype)d) == rows[d].bits);
		CHECK_EQ_I(di->ggml, rows[d].ggml);
		if (rows[d].ggml >= 0)
			CHECK_EQ_I(dtype_from_ggml((uint32_t)rows[d].ggml), d);
		/* Only the safetensors spellings are safetensors dtypes. */
		CHECK_EQ_I(di->safetensors, d < DT_Q4_0);
	}
	/* Removed and unknown ggml types. */
	CHECK_EQ_I(dtype_from_ggml(4), DT_NONE);
	CHECK_EQ_I(dtype_from_ggml(31), DT_NONE);
	CHECK_EQ_I(dtype_from_ggml(36), DT_NONE);
	CHECK_EQ_I(dtype_from_ggml(43), DT_NONE);
	CHECK_EQ_I(dtype_from_ggml(0xffffffffu), DT_NONE);
}

TEST(dtype_unknown)
{
	static const char *const not_names[] = {
		"?", "", "f32", "F8_E4M3FN", "F32 ", " F32", "FP16", "BFLOAT16",
		"F", "F3", "F322", "bool",
	};
	const struct dtype_info *none = dtype_get(DT_NONE);

	CHECK_STR(none->name, "?");
	CHECK(none->decode == NULL);
	CHECK(none->block >= 1);
	CHECK(dtype_get(DT_COUNT) == none);
	CHECK(dtype_get((enum dtype)(DT_COUNT + 100)) == none);
	CHECK(dtype_get((enum dtype)-1) == none);
	CHECK(dtype_get((enum dtype)0x7fffffff) == none);
	CHECK(dtype_bits(DT_COUNT) == dtype_bits(DT_NONE));
	for (size_t i = 0; i < sizeof(not_names) / sizeof(not_names[0]); i++)
		CHECK_EQ_I(dtype_from_name(not_names[i]), DT_NONE);
	CHECK_EQ_I(dtype_from_name(NULL), DT_NONE);
	CHECK(dtype_bits(DT_F4) == 4.0);
}

/* ---- bulk decoding ---- */

/* Little-endian value of n bytes at p, assembled here independently. */
static uint64_t le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Two's complement value of the n-byte pattern u, without casts that
 * the C standard leaves to the implementation. */
static int64_t sx(uint64_t u, int n)
{
	uint64_t top = 1ull << (8 * n - 1);

	if (n < 8)
		u &= (top << 1) - 1;
	return u & top ? -(int64_t)(((top << 1) - 1 - u) & (top - 1)) - 1
		       : (int64_t)u;
}

/* Element k of a buffer of dtype d at src, as this file reads it. */
static float ref_elem(enum dtype d, const unsigned char *src, size_t k)
{
	const unsigned char *p;
	double dv;
	uint64_t u;

	switch (d) {
	case DT_F64:
		u = le(src + 8 * k, 8);
		memcpy(&dv, &u, 8);
		return (float)dv;
	case DT_F32:
		u = le(src + 4 * k, 4);
		return fbits((uint32_t)u);
	case DT_F16:
		return (float)f16_formula((unsigned)le(src + 2 * k, 2));
	case DT_BF16:
		return (float)bf16_formula((unsigned)le(src + 2 * k, 2));
	case DT_F8_E4M3:
		return (float)e4m3_formula(src[k]);
	case DT_F8_E5M2:
		return (float)e5m2_formula(src[k]);
	case DT_F8_E4M3FNUZ:
		return (float)e4m3fnuz_formula(src[k]);
	case DT_F8_E5M2FNUZ:
		return (float)e5m2fnuz_formula(src[k]);
	case DT_F8_E8M0:
		return (float)e8m0_formula(src[k]);
	case DT_F4:
		p = src + k / 2;
		return (float)e2m1_formula(k & 1 ? *p >> 4 : *p & 0xf);
	case DT_I64:
		return (float)sx(le(src + 8 * k, 8), 8);
	case DT_I32:
		return (float)sx(le(src + 4 * k, 4), 4);
	case DT_I16:
		return (float)sx(le(src + 2 * k, 2), 2);
	case DT_I8:
		return (float)sx(src[k], 1);
	case DT_U64:
		return (float)le(src + 8 * k, 8);
	case DT_U32:
		return (float)le(src + 4 * k, 4);
	case DT_U16:
		return (float)le(src + 2 * k, 2);
	case DT_U8:
		return (float)src[k];
	case DT_BOOL:
		return src[k] ? 1.0f : 0.0f;
	default:
		return NAN;
	}
}

/*
 * Decode n blocks of d from src = buf + off (random bytes) and compare
 * with ref_elem; nothing past the last element may be written.
 */
static void check_decode(enum dtype d, size_t n, int off, uint64_t *s)
{
	const struct dtype_info *di = dtype_get(d);
	const uint32_t guard = 0x7fbadbad;
	unsigned char buf[8 * 70 + 8];
	const unsigned char *src = buf + off;
	float out[2 * 70 + 4];
	size_t nel = n * di->block;
	int bad = 0;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rnd(s);
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		out[i] = fbits(guard);
	di->decode(src, out, n);
	for (size_t k = 0; k < nel && bad <= MAX_FAILS; k++) {
		float want = ref_elem(d, src, k);
		int ok = bitsf(out[k]) == bitsf(want) ||
			 (isnan(out[k]) && isnan(want));

		if (!check_report(__FILE__, __LINE__, ok,
				  "%s[%zu] (n %zu, offset %d): 0x%08x, want 0x%08x",
				  di->name, k, n, off, bitsf(out[k]),
				  bitsf(want)))
			bad++;
	}
	CHECK_EQ_U(bitsf(out[nel]), guard);
}

/* Every decodable dtype, from every alignment, with counts around the
 * decoders' chunk size. */
TEST(dtype_decode_every_type)
{
	static const size_t counts[] = { 0, 1, 3, 15, 16, 17, 33, 70 };
	uint64_t s = 99;

	/* GGUF blocks (DT_Q4_0 on) are tested in tests/unit/ggml.c. */
	for (int d = DT_NONE + 1; d < DT_Q4_0; d++) {
		if (!dtype_get((enum dtype)d)->decode)
			continue;
		for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
			for (int off = 0; off < 8; off++)
				check_decode((enum dtype)d, counts[i], off, &s);
	}
}

/* A few buffers written out by hand. */
TEST(dtype_decode_known_bytes)
{
	static const unsigned char f32[] = { 0xff, 0, 0, 0x80, 0x3f,
					     0, 0, 0xc0, 0xc0 };
	static const unsigned char f64[] = { 0xff, 0x9a, 0x99, 0x99, 0x99,
					     0x99, 0x99, 0xb9, 0x3f };
	static const unsigned char f16[] = { 0xff, 0x00, 0x3c, 0xff, 0x7b,
					     0x00, 0xfc, 0x01, 0x00 };
	static const unsigned char bf16[] = { 0xff, 0x80, 0x3f, 0xc0,
					      0x7f, 0x01, 0x00 };
	static const unsigned char i8[] = { 0x80, 0xff, 0x7f, 0x00 };
	static const unsigned char i16[] = { 0xff, 0x00, 0x80, 0xff, 0xff };
	static const unsigned char i64[] = { 0xff, 0, 0, 0, 0, 0, 0, 0, 0x80,
					     0xff, 0xff, 0xff, 0xff, 0xff,
					     0xff, 0xff, 0xff };
	static const unsigned char u64[] = { 0xff, 0xff, 0xff, 0xff, 0xff,
					     0xff, 0xff, 0xff, 0xff };
	static const unsigned char u32[] = { 0xff, 0x01, 0x00, 0x00, 0x01 };
	static const unsigned char bools[] = { 0, 1, 2, 0xff };
	static const unsigned char f4[] = { 0x72, 0x8f };
	float o[8];

	dtype_get(DT_F32)->decode(f32 + 1, o, 2);
	CHECK_FBITS(o[0], 1.0f);
	CHECK_FBITS(o[1], -6.0f);
	dtype_get(DT_F64)->decode(f64 + 1, o, 1);
	CHECK_FBITS(o[0], 0.1f);
	dtype_get(DT_F16)->decode(f16 + 1, o, 4);
	CHECK_FBITS(o[0], 1.0f);
	CHECK_FBITS(o[1], 65504.0f);
	CHECK_FBITS(o[2], -INFINITY);
	CHECK_FBITS(o[3], 0x1p-24f);
	dtype_get(DT_BF16)->decode(bf16 + 1, o, 3);
	CHECK_FBITS(o[0], 1.0f);
	CHECK(isnan(o[1]));
	CHECK_FBITS(o[2], 0x1p-133f);
	dtype_get(DT_I8)->decode(i8, o, 4);
	CHECK_FBITS(o[0], -128.0f);
	CHECK_FBITS(o[1], -1.0f);
	CHECK_FBITS(o[2], 127.0f);
	CHECK_FBITS(o[3], 0.0f);
	dtype_get(DT_I16)->decode(i16 + 1, o, 2);
	CHECK_FBITS(o[0], -32768.0f);
	CHECK_FBITS(o[1], -1.0f);
	dtype_get(DT_I64)->decode(i64 + 1, o, 2);
	CHECK_FBITS(o[0], -0x1p63f);
	CHECK_FBITS(o[1], -1.0f);
	dtype_get(DT_U64)->decode(u64 + 1, o, 1);
	CHECK_FBITS(o[0], 0x1p64f);
	dtype_get(DT_U32)->decode(u32 + 1, o, 1);
	CHECK_FBITS(o[0], 0x1p24f);	/* 2^24 + 1 rounds to even */
	dtype_get(DT_BOOL)->decode(bools, o, 4);
	CHECK_FBITS(o[0], 0.0f);
	CHECK_FBITS(o[1], 1.0f);
	CHECK_FBITS(o[2], 1.0f);
	CHECK_FBITS(o[3], 1.0f);
	/* Element 2i in the low nibble: 0x72 is 1.0 then 6.0. */
	dtype_get(DT_F4)->decode(f4, o, 2);
	CHECK_FBITS(o[0], 1.0f);
	CHECK_FBITS(o[1], 6.0f);
	CHECK_FBITS(o[2], -6.0f);
	CHECK_FBITS(o[3], -0.0f);
}
