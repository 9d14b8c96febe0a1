/*
 * Unit tests for quant/ggml.c: the FORMATS.md 7.4 vectors; edge cases
 * (zeros, constants, outliers, subnormals, NaN and infinity); the error on
 * Gaussian data against FORMATS.md 6.3; the fast quantizers against the
 * plain transcription of ggml's reference code; and, the main proof, byte
 * identity with the files llama-quantize wrote (../shared/fixtures/gguf),
 * read with a small GGUF parser of our own so that these tests do not
 * depend on formats/.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "quant/dtype.h"
#include "quant/encode.h"
#include "quant/ggml.h"
#include "tests/check.h"

/* Stop a loop after this many failures so a bug does not flood the log. */
#define MAX_FAILS 8

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Every type ggml_quantize() must support, and those it decodes. */
static const enum dtype quant_types[] = {
	DT_Q4_0, DT_Q4_1, DT_Q5_0, DT_Q5_1, DT_Q8_0, DT_Q8_1, DT_Q2_K,
	DT_Q3_K, DT_Q4_K, DT_Q5_K, DT_Q6_K, DT_Q8_K, DT_IQ4_NL, DT_IQ4_XS,
	DT_TQ1_0, DT_TQ2_0, DT_MXFP4, DT_Q1_0, DT_Q2_0,
};

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

/* xorshift64*: a fixed sequence, so failures reproduce. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* Uniform in (0, 1). */
static double unif(uint64_t *s)
{
	return ((double)(rnd(s) >> 11) + 0.5) / 9007199254740992.0;
}

static float gauss(uint64_t *s)
{
	return (float)(sqrt(-2 * log(unif(s))) * cos(6.283185307179586 *
						      unif(s)));
}

static size_t qbytes(enum dtype t, size_t n)
{
	const struct dtype_info *di = dtype_get(t);

	return n / di->block * di->block_bytes;
}

/* Quantize then decode n values; returns the decoded buffer (malloc). */
static float *round_trip(enum dtype t, const float *x, size_t n,
			 unsigned char **qout)
{
	unsigned char *q = xmalloc(qbytes(t, n));
	float *y = xmalloc(n * sizeof(float));

	CHECK_EQ_I(ggml_quantize(t, x, q, n), 0);
	dtype_get(t)->decode(q, y, n / dtype_get(t)->block);
	if (qout)
		*qout = q;
	else
		free(q);
	return y;
}

static void hex_to_bytes(const char *hex, unsigned char *out, size_t *n)
{
	size_t k = 0;

	for (const char *p = hex; *p; p++) {
		unsigned v;

		if (*p == ' ' || *p == '\n')
			continue;
		if (sscanf(p, "%2x", &v) != 1)
			break;
		out[k++] = (unsigned char)v;
		p++;
	}
	*n = k;
}

/* quantize(t, x) is exactly the bytes in hex. */
static void check_bytes(enum dtype t, const float *x, size_t n,
			const char *hex)
{
	unsigned char want[512], got[512], ref[512];
	size_t nw;

	hex_to_bytes(hex, want, &nw);
	CHECK_EQ_U(nw, qbytes(t, n));
	memset(got, 0xcc, sizeof(got));
	CHECK_EQ_I(ggml_quantize(t, x, got, n), 0);
	CHECK_EQ_I(ggml_quantize_ref(t, x, ref, n), 0);
	for (size_t i = 0; i < nw; i++) {
		if (!check_report(__FILE__, __LINE__, got[i] == want[i],
				  "%s byte %zu: %02x, want %02x",
				  dtype_get(t)->name, i, got[i], want[i]))
			break;
	}
	CHECK(memcmp(got, ref, nw) == 0);
}

/* ---- FORMATS.md 7.4 ---- */

TEST(ggml_vectors_input_a)
{
	float x[32], y[32];
	unsigned char q[64];

	for (int k = 0; k < 32; k++)
		x[k] = (float)(k - 16) / 8;
	check_bytes(DT_Q8_0, x, 32,
		    "0824 81 89 91 99 a1 a9 b1 b9 c0 c8 d0 d8 e0 e8 f0 f8"
		    " 00 08 10 18 20 28 30 38 40 47 4f 57 5f 67 6f 77");
	check_bytes(DT_Q4_0, x, 32,
		    "0034 80 91 91 a2 a2 b3 b3 c4 c4 d5 d5 e6 e6 f7 f7 f8");
	check_bytes(DT_Q4_1, x, 32,
		    "2234 00c0 80 80 91 91 a2 a2 b3 b3 c4 c4 d5 d5 e6 e6 f7 f7");
	check_bytes(DT_Q5_0, x, 32,
		    "0030 0000ffff 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff");
	check_bytes(DT_Q5_1, x, 32,
		    "0030 00c0 0000ffff 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff");
	check_bytes(DT_MXFP4, x, 32,
		    "7e 0e 0e 1d 1d 2d 2d 3c 3c 4c 4b 4b 5a 5a 59 59 60");

	/* Q8_0 decodes to qs * fp16(0x2408). */
	ggml_quantize(DT_Q8_0, x, q, 32);
	ggml_decode_q8_0(q, y, 1);
	CHECK_NEAR(y[0], -1.99987793, 5e-8);
	CHECK_NEAR(y[5], -1.36999512, 5e-8);
	CHECK_NEAR(y[20], 0.50390625, 5e-8);
	CHECK_NEAR(y[30], 1.7479248, 5e-8);
	CHECK_FBITS(y[0], -127 * 0x1.02p-6f);
	/* Q4_0: q_k = min(15, floor(k/2 + 0.5)), value (q - 8) / 4. */
	ggml_quantize(DT_Q4_0, x, q, 32);
	ggml_decode_q4_0(q, y, 1);
	for (int k = 0; k < 32; k++) {
		int qk = (k + 1) / 2 < 15 ? (k + 1) / 2 : 15;

		CHECK_FBITS(y[k], (float)(qk - 8) / 4);
	}
	/* MXFP4: half-scale 0.25, x_0 = -2 is code 0xE. */
	ggml_quantize(DT_MXFP4, x, q, 32);
	ggml_decode_mxfp4(q, y, 1);
	CHECK_FBITS(y[0], -2.0f);
	CHECK_FBITS(y[16], 0.0f);
	CHECK_FBITS(y[31], 2.0f);	/* 1.875: nearest grid value 2 */
	/* Q5_0 and Q5_1 are exact on this input. */
	ggml_quantize(DT_Q5_0, x, q, 32);
	ggml_decode_q5_0(q, y, 1);
	for (int k = 0; k < 32; k++)
		CHECK_FBITS(y[k], x[k]);
	ggml_quantize(DT_Q5_1, x, q, 32);
	ggml_decode_q5_1(q, y, 1);
	for (int k = 0; k < 32; k++)
		CHECK_FBITS(y[k], x[k]);
}

static const char q4_k_b[] =
	"4d1cfc27fffcfffcbfbdb7b5ffdc7f5c8019a23bd56df78129b34cd57e08912a"
	"c45ce67f18a23bc46df78019b34bd56e8019a23bd56df78129b34cd57e08912a"
	"c45ce67f18a23bc46df78019b34bd56e8019a23bd56df78129b34cd57e08912a"
	"c45ce67f18a23bc46df78019b34bd56e8019a23bd56df78129b34cd57e08912a"
	"c45ce67f18a23bc46df78019b34bd56e";

static const char q6_k_b[] =
	"c0752adf8439ee9348fda2570cb1661bb0ab26119c17028d78f37e69e4df5a45"
	"c0553acfa4391ea3280d92770c91760bde7c33d17f36d4ab4900ae4c13b17716"
	"05358cbc04338bd2025a99e11068b0ef3788ce10468cde1466acd2246abbf243"
	"79b0014888cf10579dee1566ade3347bbbf3338ac1015999d01057afef2666bd"
	"78d278822d871d78d268872d87d278d223882248dd779d22881277dd678c2288"
	"779d66882244116799228812449d6788224811449d6688224811679922881244"
	"5ca45cada4989ba097909295898083868a11";

TEST(ggml_vectors_input_b)
{
	float x[256], y[256];
	unsigned char q[256];

	for (int k = 0; k < 256; k++)
		x[k] = (float)((37 * k) % 64 - 32) / 16 + (float)(k / 64) / 4;
	check_bytes(DT_Q4_K, x, 256, q4_k_b);
	check_bytes(DT_Q6_K, x, 256, q6_k_b);

	ggml_quantize(DT_Q4_K, x, q, 256);
	ggml_decode_q4_k(q, y, 1);
	CHECK_NEAR(y[0], -1.96490479, 5e-8);
	CHECK_NEAR(y[1], 0.416484833, 5e-9);
	CHECK_NEAR(y[2], -1.43570709, 5e-8);
	CHECK_NEAR(y[3], 0.945682526, 5e-9);
	CHECK_NEAR(y[255], 0.358001709, 5e-9);
	ggml_quantize(DT_Q6_K, x, q, 256);
	ggml_decode_q6_k(q, y, 1);
	CHECK_NEAR(y[0], -1.99060059, 5e-8);
	CHECK_NEAR(y[1], 0.311031342, 5e-9);
	CHECK_NEAR(y[2], -1.3685379, 5e-8);
	CHECK_NEAR(y[3], 0.933094025, 5e-9);
}

/* Decoders on hand-made blocks whose values follow from FORMATS.md 2.4/2.5. */
TEST(ggml_decode_known_blocks)
{
	unsigned char b[292];
	float y[256];

	/* IQ4_NL: d = 0.5, nibbles 0..15 then 15..0 */
	memset(b, 0, sizeof(b));
	b[0] = 0x00, b[1] = 0x38;
	for (int j = 0; j < 16; j++)
		b[2 + j] = (unsigned char)(j | (15 - j) << 4);
	ggml_decode_iq4_nl(b, y, 1);
	CHECK_FBITS(y[0], -63.5f);
	CHECK_FBITS(y[8], 0.5f);
	CHECK_FBITS(y[15], 56.5f);
	CHECK_FBITS(y[16], 56.5f);
	CHECK_FBITS(y[31], -63.5f);
	/* IQ4_XS: d = 1, sub-block ib has ls = 32 + ib (scales_h 0b10 each) */
	memset(b, 0, sizeof(b));
	b[0] = 0x00, b[1] = 0x3c;
	b[2] = 0xaa, b[3] = 0xaa;
	for (int ib = 0; ib < 8; ib++)
		b[4 + ib / 2] |= (unsigned char)(ib << 4 * (ib % 2));
	memset(b + 8, 0x98, 128);	/* low nibble 8 (1), high 9 (13) */
	ggml_decode_iq4_xs(b, y, 1);
	for (int ib = 0; ib < 8; ib++) {
		CHECK_FBITS(y[32 * ib], (float)ib);
		CHECK_FBITS(y[32 * ib + 16], (float)(13 * ib));
	}
	/* TQ2_0: d = 2; byte m of chunk c holds elements 128c + m + 32n */
	memset(b, 0, sizeof(b));
	for (int m = 0; m < 64; m++)
		b[m] = 0x24;	/* n=0: 0 (-1), n=1: 1 (0), n=2: 2 (+1), n=3: 0 */
	b[64] = 0x00, b[65] = 0x40;
	ggml_decode_tq2_0(b, y, 1);
	for (int c = 0; c < 2; c++)
		for (int m = 0; m < 32; m++) {
			CHECK_FBITS(y[128 * c + m], -2.0f);
			CHECK_FBITS(y[128 * c + m + 32], 0.0f);
			CHECK_FBITS(y[128 * c + m + 64], 2.0f);
			CHECK_FBITS(y[128 * c + m + 96], -2.0f);
		}
	/* TQ1_0: a byte of trits (2,0,1,2,1) is ceil(v*256/243) of
	 * v = 2*81 + 0*27 + 1*9 + 2*3 + 1 = 178 */
	memset(b, 0, sizeof(b));
	memset(b, (178 * 256 + 242) / 243, 48);
	memset(b + 48, ((2 * 27 + 0 * 9 + 1 * 3 + 2) * 3 * 256 + 242) / 243, 4);
	b[52] = 0x00, b[53] = 0x3c;
	ggml_decode_tq1_0(b, y, 1);
	{
		static const float t[5] = { 1, -1, 0, 1, 0 };

		for (int n = 0; n < 5; n++) {
			CHECK_FBITS(y[32 * n], t[n]);
			CHECK_FBITS(y[160 + 16 * n], t[n]);
		}
		for (int n = 0; n < 4; n++)
			CHECK_FBITS(y[240 + 4 * n], t[n]);
	}
	/* Q8_K: f32 d = 0.5 */
	memset(b, 0, sizeof(b));
	b[2] = 0x00, b[3] = 0x3f;
	b[4] = 0x81, b[5] = 0x7f, b[6] = 3;
	ggml_decode_q8_k(b, y, 1);
	CHECK_FBITS(y[0], -63.5f);
	CHECK_FBITS(y[1], 63.5f);
	CHECK_FBITS(y[2], 1.5f);
	CHECK_FBITS(y[3], 0.0f);
	/* Q8_1: qs after d and s */
	memset(b, 0, sizeof(b));
	b[0] = 0x00, b[1] = 0x3c, b[2] = 0xff, b[3] = 0x7b;
	b[4] = 0xfe;
	ggml_decode_q8_1(b, y, 1);
	CHECK_FBITS(y[0], -2.0f);
	CHECK_FBITS(y[1], 0.0f);
	/* MXFP4: e = 0 and 1 are 2^-128 and 2^-127 halves, e = 255 is 2^127 */
	memset(b, 0, sizeof(b));
	b[0] = 0, b[1] = 0x71;
	ggml_decode_mxfp4(b, y, 1);
	CHECK_FBITS(y[0], 0x1p-128f);
	CHECK_FBITS(y[16], 12 * 0x1p-128f);
	b[0] = 255;
	ggml_decode_mxfp4(b, y, 1);
	CHECK_FBITS(y[0], 0x1p127f);
	CHECK(isinf(y[16]));
	/* Q1_0 and Q2_0 */
	memset(b, 0, sizeof(b));
	b[0] = 0x00, b[1] = 0x40, b[2] = 0x05;
	ggml_decode_q1_0(b, y, 1);
	CHECK_FBITS(y[0], 2.0f);
	CHECK_FBITS(y[1], -2.0f);
	CHECK_FBITS(y[2], 2.0f);
	CHECK_FBITS(y[127], -2.0f);
	b[2] = 0xe4;	/* 0, 1, 2, 3 */
	ggml_decode_q2_0(b, y, 1);
	CHECK_FBITS(y[0], -2.0f);
	CHECK_FBITS(y[1], 0.0f);
	CHECK_FBITS(y[2], 2.0f);
	CHECK_FBITS(y[3], 4.0f);
	CHECK_FBITS(y[4], -2.0f);
}

/* ---- API ---- */

TEST(ggml_api)
{
	float x[256] = { 0 };
	unsigned char q[512];

	for (size_t i = 0; i < ARRAY_SIZE(quant_types); i++) {
		enum dtype t = quant_types[i];

		CHECK(ggml_can_quantize(t));
		CHECK(dtype_get(t)->decode != NULL);
		CHECK_EQ_I(ggml_quantize(t, x, q, 0), 0);
		if (dtype_get(t)->block > 1)
			CHECK_EQ_I(ggml_quantize(t, x, q, 1), -1);
	}
	for (int d = DT_NONE; d < DT_COUNT; d++) {
		int known = 0;

		for (size_t i = 0; i < ARRAY_SIZE(quant_types); i++)
			known |= quant_types[i] == (enum dtype)d;
		CHECK_EQ_I(ggml_can_quantize((enum dtype)d), known);
		if (!known)
			CHECK_EQ_I(ggml_quantize((enum dtype)d, x, q, 256), -1);
	}
	CHECK(!ggml_can_quantize(DT_COUNT));
	CHECK(!ggml_can_quantize((enum dtype)-1));
	CHECK(dtype_get(DT_IQ2_XXS)->decode == NULL);
	CHECK(dtype_get(DT_NVFP4)->decode == NULL);
}

/* ---- edge cases ---- */

/* Every block decodes to exactly zero (either sign). */
TEST(ggml_edge_zero)
{
	float x[512] = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(quant_types); i++) {
		enum dtype t = quant_types[i];
		float *y = round_trip(t, x, 512, NULL);
		int bad = 0;

		for (int k = 0; k < 512 && bad < MAX_FAILS; k++)
			if (!check_report(__FILE__, __LINE__, y[k] == 0,
					  "%s: zero[%d] -> %g",
					  dtype_get(t)->name, k, y[k]))
				bad++;
		free(y);
	}
}

/*
 * A constant block comes back within the precision of the type's scales:
 * the constant lands on a top level whose scale is an fp16 (2^-11), a
 * 6-bit sub-scale of it, or for MXFP4 a power of two times an E2M1 value
 * (saturating at 6/8 of the next power, so up to 25 % off, as OCP MX).
 * Tiny constants, whose scales fall into fp16's subnormals, are in
 * ggml_edge_tiny.
 */
TEST(ggml_edge_constant)
{
	static const float consts[] = { 0.37f, -1.0f, 12.5f, -300.0f, 1000.0f };
	float x[512];

	for (size_t c = 0; c < ARRAY_SIZE(consts); c++) {
		for (int k = 0; k < 512; k++)
			x[k] = consts[c];
		for (size_t i = 0; i < ARRAY_SIZE(quant_types); i++) {
			enum dtype t = quant_types[i];
			float *y = round_trip(t, x, 512, NULL);
			double worst = 0, tol = t == DT_MXFP4 ? 0.25 : 1.0 / 128;

			for (int k = 0; k < 512; k++) {
				double e = fabs((double)y[k] - consts[c]) /
					   fabs(consts[c]);

				worst = e > worst ? e : worst;
			}
			check_report(__FILE__, __LINE__, worst <= tol,
				     "%s: constant %g: relative error %g",
				     dtype_get(t)->name, consts[c], worst);
			free(y);
		}
	}
}

/* One huge value in Gaussian data: the outlier survives (within what the
 * type's scale precision allows), the rest stays finite, and blocks
 * without the outlier are untouched by it. */
TEST(ggml_edge_outlier)
{
	enum { N = 1024 };
	float x[N], x2[N];
	uint64_t s = 7;

	for (int k = 0; k < N; k++)
		x[k] = gauss(&s);
	memcpy(x2, x, sizeof(x));
	x[300] = 1e4f;
	for (size_t i = 0; i < ARRAY_SIZE(quant_types); i++) {
		enum dtype t = quant_types[i];
		unsigned block = dtype_get(t)->block;
		unsigned char *q, *q2;
		float *y = round_trip(t, x, N, &q);
		float *y2 = round_trip(t, x2, N, &q2);
		size_t bb = dtype_get(t)->block_bytes;
		size_t ob = 300 / block;
		int finite = 1;

		for (int k = 0; k < N; k++)
			finite &= isfinite(y[k]) != 0;
		CHECK(finite);
		/* Q1_0 keeps only mean |x|; MXFP4 saturates (see above) */
		if (t != DT_Q1_0)
			check_report(__FILE__, __LINE__,
				     fabsf(y[300] - 1e4f) <=
					     1e4f * (t == DT_MXFP4 ? 0.25f : 2e-3f),
				     "%s: outlier 1e4 -> %g",
				     dtype_get(t)->name, y[300]);
		/* blocks are independent */
		CHECK(memcmp(q, q2, ob * bb) == 0);
		CHECK(memcmp(q + (ob + 1) * bb, q2 + (ob + 1) * bb,
			     (N / block - ob - 1) * bb) == 0);
		free(q);
		free(q2);
		free(y);
		free(y2);
	}
}

/* Subnormal and tiny inputs: nothing becomes NaN, infinite, or larger
 * than the input's range. */
TEST(ggml_edge_tiny)
{
	static const float scales[] = { 1e-40f, 1e-38f, 1e-30f, 1e-20f,
					0x1p-149f, 1e-8f };
	float x[512];
	uint64_t s = 11;

	for (size_t c = 0; c < ARRAY_SIZE(scales); c++) {
		float amax = 0;

		for (int k = 0; k < 512; k++) {
			x[k] = gauss(&s) * scales[c];
			amax = fabsf(x[k]) > amax ? fabsf(x[k]) : amax;
		}
		for (size_t i = 0; i < ARRAY_SIZE(quant_types); i++) {
			enum dtype t = quant_types[i];
			float *y = round_trip(t, x, 512, NULL);
			int ok = 1;

			for (int k = 0; k < 512; k++)
				ok &= isfinite(y[k]) && fabsf(y[k]) <= 2 * amax;
			check_report(__FILE__, __LINE__, ok,
				     "%s: values of scale %g", dtype_get(t)->name,
				     scales[c]);
			free(y);
		}
	}
}

/*
 * NaN and infinity do not crash, are deterministic, give the same bytes
 * through the fast and the reference paths, and stay inside their block.
 * What they decode to depends on the type (as in ggml): a NaN is skipped
 * by the max search of Q4_0/Q5_0/Q8_K/K-quants but poisons the block's
 * scale in Q4_1/Q5_1 (min/max) and the sums of the k-quant searches; an
 * infinity becomes the scale, so the block's other values decode to 0 or
 * NaN.  No type promises anything better than "this block is garbage".
 */
TEST(ggml_edge_nan_inf)
{
	enum { N = 1024 };
	static const float specials[] = { NAN, -NAN, INFINITY, -INFINITY };
	float x[N];
	uint64_t s = 13;

	for (size_t c = 0; c < ARRAY_SIZE(specials); c++) {
		for (int k = 0; k < N; k++)
			x[k] = gauss(&s);
		x[5] = specials[c];
		x[300] = specials[c];
		x[301] = -specials[c];
		for (size_t i = 0; i < ARRAY_SIZE(quant_types); i++) {
			enum dtype t = quant_types[i];
			size_t nb = qbytes(t, N);
			unsigned block = dtype_get(t)->block;
			unsigned char *q = xmalloc(nb), *r = xmalloc(nb);
			float *y = xmalloc(N * sizeof(float));
			int ok = 1;

			CHECK_EQ_I(ggml_quantize(t, x, q, N), 0);
			CHECK_EQ_I(ggml_quantize_ref(t, x, r, N), 0);
			check_report(__FILE__, __LINE__, memcmp(q, r, nb) == 0,
				     "%s: special %g: fast != ref",
				     dtype_get(t)->name, specials[c]);
			dtype_get(t)->decode(q, y, N / block);
			/* blocks without a special value decode finite */
			for (int k = 0; k < N; k++) {
				unsigned b = (unsigned)k / block;

				if (b != 5 / block && b != 300 / block &&
				    b != 301 / block)
					ok &= isfinite(y[k]) != 0;
			}
			check_report(__FILE__, __LINE__, ok,
				     "%s: special %g leaks out of its block",
				     dtype_get(t)->name, specials[c]);
			free(q);
			free(r);
			free(y);
		}
	}
}

/* ---- error on N(0, 1) data (FORMATS.md 6.3) ---- */

TEST(ggml_gaussian_error)
{
	/* RMSE from FORMATS.md 6.3 (2^20 samples) where it gives one;
	 * otherwise our own measurement, as an upper bound. */
	static const struct {
		enum dtype t;
		double rmse;
		int exact;	/* 1: FORMATS.md figure, +-3 % */
	} want[] = {
		{ DT_Q8_0, 5.351e-3, 1 }, { DT_Q6_K, 1.772e-2, 1 },
		{ DT_Q5_1, 3.782e-2, 1 }, { DT_Q5_K, 3.611e-2, 1 },
		{ DT_Q5_0, 4.268e-2, 1 }, { DT_Q4_1, 7.818e-2, 1 },
		{ DT_Q4_K, 7.140e-2, 1 }, { DT_Q4_0, 8.594e-2, 1 },
		{ DT_MXFP4, 1.150e-1, 1 }, { DT_Q3_K, 1.508e-1, 1 },
		{ DT_Q2_K, 2.965e-1, 1 },
		{ DT_Q8_1, 5.5e-3, 0 }, { DT_Q8_K, 7.5e-3, 0 },
		{ DT_IQ4_NL, 8.5e-2, 0 }, { DT_IQ4_XS, 8.5e-2, 0 },
		{ DT_TQ1_0, 0.85, 0 }, { DT_TQ2_0, 0.85, 0 },
		{ DT_Q2_0, 0.75, 0 }, { DT_Q1_0, 0.62, 0 },
	};
	enum { N = 1 << 18 };
	float *x = xmalloc(N * sizeof(float));
	uint64_t s = 2024;

	for (int k = 0; k < N; k++)
		x[k] = gauss(&s);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		float *y = round_trip(want[i].t, x, N, NULL);
		double se = 0, rmse;

		for (int k = 0; k < N; k++)
			se += ((double)y[k] - x[k]) * ((double)y[k] - x[k]);
		rmse = sqrt(se / N);
		if (want[i].exact)
			check_report(__FILE__, __LINE__,
				     fabs(rmse / want[i].rmse - 1) <= 0.03,
				     "%s: RMSE %.4g, FORMATS.md says %.4g",
				     dtype_get(want[i].t)->name, rmse,
				     want[i].rmse);
		else
			check_report(__FILE__, __LINE__, rmse <= want[i].rmse,
				     "%s: RMSE %.4g > %.4g",
				     dtype_get(want[i].t)->name, rmse,
				     want[i].rmse);
		free(y);
	}
	free(x);
}

/* ---- fast paths against the reference transcription ---- */

/* Data that probes ties, ranges and degenerate blocks. */
static void fill(float *x, size_t n, int kind, uint64_t *s)
{
	for (size_t k = 0; k < n; k++) {
		switch (kind) {
		case 0:	/* N(0,1) */
			x[k] = gauss(s);
			break;
		case 1:	/* N(0, 0.02), like weights */
			x[k] = 0.02f * gauss(s);
			break;
		case 2:	/* small integers and halves: exact ties */
			x[k] = (float)((int)(rnd(s) % 33) - 16) / 2;
			break;
		case 3:	/* one-signed */
			x[k] = fabsf(gauss(s)) + 0.5f;
			break;
		case 4:	/* sparse: mostly zero, runs of equal values */
			x[k] = rnd(s) % 4 ? 0.0f : (float)(rnd(s) % 3);
			break;
		case 5:	/* wide dynamic range */
			x[k] = gauss(s) * ldexpf(1, (int)(rnd(s) % 40) - 20);
			break;
		case 6:	/* Gaussian with outliers */
			x[k] = rnd(s) % 97 ? gauss(s) : 50 * gauss(s);
			break;
		default:	/* random bit patterns, NaN and Inf included */
		{
			uint32_t u = (uint32_t)rnd(s);

			/* Only the default NaN: which operand's payload an
			 * operation on two NaNs keeps is up to the compiler's
			 * operand order, and ggml's nearest_int() turns that
			 * payload into a level. */
			if ((u & 0x7fffffff) > 0x7f800000)
				u = (u & 0x80000000) | 0x7fc00000;
			memcpy(&x[k], &u, 4);
			break;
		}
		}
	}
	/* Some constant and all-zero blocks in every kind. */
	if (n >= 1024 && kind != 7) {
		for (size_t k = 256; k < 512; k++)
			x[k] = 0;
		for (size_t k = 512; k < 768; k++)
			x[k] = x[100];
	}
}

TEST(ggml_fast_equals_ref)
{
	enum { N = 256 * 128, KINDS = 8 };
	float *x = xmalloc(N * sizeof(float));
	unsigned char *q = xmalloc(N * 2), *r = xmalloc(N * 2);
	uint64_t s = 5;

	for (int kind = 0; kind < KINDS; kind++) {
		fill(x, N, kind, &s);
		for (size_t i = 0; i < ARRAY_SIZE(quant_types); i++) {
			enum dtype t = quant_types[i];
			size_t nb = qbytes(t, N), bb = dtype_get(t)->block_bytes;

			memset(q, 0xa5, nb);
			memset(r, 0x5a, nb);
			CHECK_EQ_I(ggml_quantize(t, x, q, N), 0);
			CHECK_EQ_I(ggml_quantize_ref(t, x, r, N), 0);
			for (size_t b = 0; b < nb; b += bb)
				if (!check_report(__FILE__, __LINE__,
						  memcmp(q + b, r + b, bb) == 0,
						  "%s: data kind %d: block %zu differs",
						  dtype_get(t)->name, kind, b / bb))
					break;
		}
	}
	free(x);
	free(q);
	free(r);
}

/*
 * The bulk F16 and BF16 encoders (vector paths where the CPU has them)
 * against the scalar conversions, pattern by pattern: every exponent with
 * mantissas around the rounding points of both formats, random patterns,
 * NaNs with payloads (alone and among ordinary values in a vector) and
 * the overflow edges; at odd lengths from unaligned addresses.
 */
TEST(encode_f16_bf16_bulk)
{
	enum { N = 1 << 16 };
	float *x = xmalloc((N + 1) * sizeof(float));
	unsigned char *a = xmalloc(2 * N + 1), *b = xmalloc(2 * N + 1);
	static const uint32_t edges[] = {
		0x477fefff, 0x477ff000, 0x477ff001, 0x7f7fffff, 0x7f800000,
		0x7f800001, 0x7fbfffff, 0x7fc00000, 0x7fffffff, 0x33000000,
		0x33000001, 0x387fc000, 0x38800000, 0x00000001, 0x80000000,
	};
	uint64_t s = 23;
	size_t k = 0;

	for (uint32_t e = 0; e < 256; e++)
		for (uint32_t m = 0; m < 64 && k < N / 2; m++) {
			/* the bits below F16's and BF16's last place */
			uint32_t lo = (m & 7) << 10 | (m & 7) * 0x7f;
			uint32_t u = e << 23 | (m >> 3) << 13 | lo |
				     (m & 1) << 15 | (e & 1) << 31;

			memcpy(&x[1 + k++], &u, 4);
		}
	for (; k < N; k++) {
		uint32_t u = (uint32_t)rnd(&s);

		if (k % 61 == 0)
			u = edges[(k / 61) % ARRAY_SIZE(edges)] |
			    (uint32_t)(k & 1) << 31;
		memcpy(&x[1 + k], &u, 4);
	}
	for (size_t n = 1; n <= N; n = n * 3 + 1) {
		size_t fails = 0;

		encode_f16(x + 1, a + 1, n);
		encode_bf16(x + 1, b + 1, n);
		for (size_t i = 0; i < n && fails < MAX_FAILS; i++) {
			uint16_t h = f32_to_f16(x[1 + i]);
			uint16_t g = f32_to_bf16(x[1 + i]);

			fails += !check_report(__FILE__, __LINE__,
					       a[1 + 2 * i] == (h & 0xff) &&
					       a[2 + 2 * i] == h >> 8,
					       "f16 of value %zu of %zu", i, n);
			fails += !check_report(__FILE__, __LINE__,
					       b[1 + 2 * i] == (g & 0xff) &&
					       b[2 + 2 * i] == g >> 8,
					       "bf16 of value %zu of %zu", i, n);
		}
	}
	free(x);
	free(a);
	free(b);
}

/* Odd block counts and unaligned buffers take the same path as any other. */
TEST(ggml_fast_tails)
{
	enum { N = 256 * 13 };
	float *x = xmalloc((N + 1) * sizeof(float));
	unsigned char *q = xmalloc(N * 2 + 1), *r = xmalloc(N * 2 + 1);
	uint64_t s = 17;

	fill(x + 1, N, 0, &s);
	for (size_t i = 0; i < ARRAY_SIZE(quant_types); i++) {
		enum dtype t = quant_types[i];
		unsigned block = dtype_get(t)->block;

		for (size_t n = block; n <= N; n += n < 8 * 256 ? block : 5 * block) {
			size_t nb = qbytes(t, n);

			memset(q, 0, nb + 1);
			memset(r, 0, nb + 1);
			ggml_quantize(t, x + 1, q + 1, n);
			ggml_quantize_ref(t, x + 1, r + 1, n);
			if (!check_report(__FILE__, __LINE__,
					  memcmp(q, r, nb + 1) == 0,
					  "%s: %zu values", dtype_get(t)->name, n))
				break;
		}
	}
	free(x);
	free(q);
	free(r);
}

/* ---- the fixtures: a small GGUF v3 reader of our own ---- */

struct gg_tensor {
	char name[64];
	uint32_t type;
	uint64_t nel;
	uint64_t nbytes;
	const unsigned char *data;
};

struct gg_file {
	unsigned char *buf;
	size_t size;
	uint64_t ntensors;
	struct gg_tensor *t;
};

struct cursor {
	const unsigned char *p, *end;
	int bad;
};

static const unsigned char *take(struct cursor *c, uint64_t n)
{
	const unsigned char *p = c->p;

	if (c->bad || n > (uint64_t)(c->end - c->p)) {
		c->bad = 1;
		return NULL;
	}
	c->p += n;
	return p;
}

static uint64_t take_le(struct cursor *c, int n)
{
	const unsigned char *p = take(c, (uint64_t)n);
	uint64_t v = 0;

	for (int i = n - 1; p && i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Skip one value of GGUF type vt (arrays recurse one level). */
static void skip_value(struct cursor *c, uint32_t vt, int depth)
{
	static const int size[13] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

	if (vt == 8) {
		take(c, take_le(c, 8));
	} else if (vt == 9 && depth == 0) {
		uint32_t et = (uint32_t)take_le(c, 4);
		uint64_t n = take_le(c, 8);

		if (et != 8 && et < 13 && et != 9)
			take(c, n > UINT64_MAX / 8 ? UINT64_MAX : n * (uint64_t)size[et]);
		else
			for (uint64_t i = 0; i < n && !c->bad; i++)
				skip_value(c, et, 1);
	} else if (vt < 13 && size[vt]) {
		take(c, (uint64_t)size[vt]);
	} else {
		c->bad = 1;
	}
}

static void gg_release(struct gg_file *f)
{
	free(f->buf);
	free(f->t);
	memset(f, 0, sizeof(*f));
}

/* Read a whole GGUF v3 file; 0 or -1 (with a note printed). */
static int gg_open(struct gg_file *f, const char *path)
{
	FILE *fp = fopen(path, "rb");
	struct cursor c;
	uint64_t nkv, align = 32, data_start;
	long size;

	memset(f, 0, sizeof(*f));
	if (!fp || fseek(fp, 0, SEEK_END) || (size = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET)) {
		printf("    %s: %s\n", path, strerror(errno));
		if (fp)
			fclose(fp);
		return -1;
	}
	f->size = (size_t)size;
	f->buf = xmalloc(f->size);
	if (fread(f->buf, 1, f->size, fp) != f->size) {
		printf("    %s: short read\n", path);
		fclose(fp);
		gg_release(f);
		return -1;
	}
	fclose(fp);
	c.p = f->buf;
	c.end = f->buf + f->size;
	c.bad = 0;
	if (f->size < 24 || memcmp(f->buf, "GGUF", 4) ||
	    (take(&c, 4), take_le(&c, 4)) != 3)
		goto bad;
	f->ntensors = take_le(&c, 8);
	nkv = take_le(&c, 8);
	if (f->ntensors > 4096)
		goto bad;
	for (uint64_t i = 0; i < nkv && !c.bad; i++) {
		uint64_t klen = take_le(&c, 8);
		const unsigned char *key = take(&c, klen);
		uint32_t vt = (uint32_t)take_le(&c, 4);

		if (key && klen == 17 && !memcmp(key, "general.alignment", 17) &&
		    vt == 4)
			align = take_le(&c, 4);
		else
			skip_value(&c, vt, 0);
	}
	if (c.bad || !align || (align & (align - 1)))
		goto bad;
	f->t = xmalloc((size_t)f->ntensors * sizeof(*f->t));
	for (uint64_t i = 0; i < f->ntensors; i++) {
		struct gg_tensor *t = &f->t[i];
		uint64_t len = take_le(&c, 8);
		const unsigned char *name = take(&c, len);
		uint32_t nd = (uint32_t)take_le(&c, 4);

		if (!name || len >= sizeof(t->name) || nd > 4)
			goto bad;
		memcpy(t->name, name, len);
		t->name[len] = '\0';
		t->nel = 1;
		for (uint32_t d = 0; d < nd; d++) {
			uint64_t ne = take_le(&c, 8);

			if (ne > (1ull << 40))
				goto bad;
			t->nel *= ne;
		}
		t->type = (uint32_t)take_le(&c, 4);
		t->data = (const unsigned char *)(uintptr_t)take_le(&c, 8);
	}
	if (c.bad)
		goto bad;
	data_start = (uint64_t)(c.p - f->buf);
	data_start += (align - data_start % align) % align;
	for (uint64_t i = 0; i < f->ntensors; i++) {
		struct gg_tensor *t = &f->t[i];
		const struct dtype_info *di =
			dtype_get(dtype_from_ggml(t->type));
		uint64_t off = (uint64_t)(uintptr_t)t->data;

		if (di->block_bytes == 0 || t->nel % di->block)
			goto bad;
		t->nbytes = t->nel / di->block * di->block_bytes;
		if (off > f->size || data_start > f->size - off ||
		    t->nbytes > f->size - off - data_start)
			goto bad;
		t->data = f->buf + data_start + off;
	}
	return 0;
bad:
	printf("    %s: not a GGUF v3 file we can read\n", path);
	gg_release(f);
	return -1;
}

static const struct gg_tensor *gg_find(const struct gg_file *f,
				       const char *name)
{
	for (uint64_t i = 0; i < f->ntensors; i++)
		if (!strcmp(f->t[i].name, name))
			return &f->t[i];
	return NULL;
}

/* The tensor's values as float32 (malloc), through the dtype table. */
static float *gg_values(const struct gg_tensor *t)
{
	enum dtype d = dtype_from_ggml(t->type);
	float *v = xmalloc((size_t)t->nel * sizeof(float));

	dtype_get(d)->decode(t->data, v, (size_t)(t->nel / dtype_get(d)->block));
	return v;
}

struct fixture {
	const char *file, *source;
};

static const struct fixture fixtures[] = {
	{ "tiny-llama-f32.Q8_0.gguf", "tiny-llama-f32.gguf" },
	{ "tiny-llama-f32.Q6_K.gguf", "tiny-llama-f32.gguf" },
	{ "tiny-llama-f32.Q5_K_M.gguf", "tiny-llama-f32.gguf" },
	{ "tiny-llama-f32.Q5_1.gguf", "tiny-llama-f32.gguf" },
	{ "tiny-llama-f32.Q5_0.gguf", "tiny-llama-f32.gguf" },
	{ "tiny-llama-f32.Q4_K_M.gguf", "tiny-llama-f32.gguf" },
	{ "tiny-llama-f32.Q4_1.gguf", "tiny-llama-f32.gguf" },
	{ "tiny-llama-f32.Q4_0.gguf", "tiny-llama-f32.gguf" },
	{ "tiny-llama-f32.Q3_K_M.gguf", "tiny-llama-f32.gguf" },
	{ "tiny-llama-f32.Q2_K.gguf", "tiny-llama-f32.gguf" },
	{ "tiny-llama-f32.IQ4_NL.gguf", "tiny-llama-f32.gguf" },
	{ "tiny-llama-f32.IQ4_XS.gguf", "tiny-llama-f32.gguf" },
	{ "tiny-llama-f32.TQ2_0.gguf", "tiny-llama-f32.gguf" },
	{ "tiny-llama-f16.Q4_K_M.gguf", "tiny-llama-f16.gguf" },
	{ "tiny-llama-bf16.Q4_K_M.gguf", "tiny-llama-bf16.gguf" },
};

static int is_block_type(uint32_t ggml_type)
{
	return dtype_get(dtype_from_ggml(ggml_type))->block > 1;
}

/* Print a note and return NULL when the fixtures are absent. */
static const char *gguf_dir(char *buf, size_t size)
{
	const char *dir = check_fixtures();

	if (!dir) {
		printf("    note: no fixtures folder (QS_FIXTURES or "
		       "../shared/fixtures): skipped\n");
		return NULL;
	}
	snprintf(buf, size, "%s/gguf", dir);
	return buf;
}

/*
 * Quantize the master's values of every block-typed tensor and compare
 * with the bytes llama-quantize wrote, tensor by tensor.
 */
TEST(ggml_fixtures_bytes)
{
	char dirbuf[4096], path[4200];
	const char *dir = gguf_dir(dirbuf, sizeof(dirbuf));

	if (!dir)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		struct gg_file q, src;
		unsigned same = 0, total = 0;
		char types[256] = "";

		snprintf(path, sizeof(path), "%s/%s", dir, fixtures[i].file);
		if (!check_report(__FILE__, __LINE__, gg_open(&q, path) == 0,
				  "%s", path))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, fixtures[i].source);
		if (!check_report(__FILE__, __LINE__, gg_open(&src, path) == 0,
				  "%s", path)) {
			gg_release(&q);
			continue;
		}
		for (uint64_t k = 0; k < q.ntensors; k++) {
			const struct gg_tensor *t = &q.t[k], *st;
			enum dtype d = dtype_from_ggml(t->type);
			unsigned char *out;
			float *v;
			int ok;

			if (!is_block_type(t->type))
				continue;
			total++;
			st = gg_find(&src, t->name);
			if (!check_report(__FILE__, __LINE__,
					  st && st->nel == t->nel &&
					  ggml_can_quantize(d),
					  "%s: %s: no source or no quantizer",
					  fixtures[i].file, t->name))
				continue;
			v = gg_values(st);
			out = xmalloc((size_t)t->nbytes);
			CHECK_EQ_I(ggml_quantize(d, v, out, (size_t)t->nel), 0);
			ok = memcmp(out, t->data, (size_t)t->nbytes) == 0;
			if (!ok) {
				size_t bb = dtype_get(d)->block_bytes, nbad = 0;

				for (size_t b = 0; b < t->nbytes; b += bb)
					nbad += memcmp(out + b, t->data + b, bb) != 0;
				check_report(__FILE__, __LINE__, 0,
					     "%s: %s (%s): %zu of %zu blocks differ",
					     fixtures[i].file, t->name,
					     dtype_get(d)->name, nbad,
					     (size_t)(t->nbytes / bb));
			} else {
				same++;
				if (!strstr(types, dtype_get(d)->name) &&
				    strlen(types) < sizeof(types) - 16) {
					strcat(types, " ");
					strcat(types, dtype_get(d)->name);
				}
			}
			free(out);
			free(v);
		}
		printf("    %s: %u/%u quantized tensors byte-identical (%s )\n",
		       fixtures[i].file, same, total, types);
		gg_release(&q);
		gg_release(&src);
	}
}

static double jnum(const json_t *j)
{
	return json_number_value(j);
}

/*
 * Our decoders against the reference readers' expectations: the first 8
 * values, min and max exactly, the sum to 1e-9 (FORMATS: double sums).
 */
TEST(ggml_fixtures_decode)
{
	char dirbuf[4096], path[4200];
	const char *dir = gguf_dir(dirbuf, sizeof(dirbuf));

	if (!dir)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		struct gg_file f;
		json_error_t jerr;
		json_t *exp, *tensors, *et;
		size_t k;
		unsigned checked = 0;

		snprintf(path, sizeof(path), "%s/%s", dir, fixtures[i].file);
		if (!check_report(__FILE__, __LINE__, gg_open(&f, path) == 0,
				  "%s", path))
			continue;
		snprintf(path, sizeof(path), "%s/%s.expected.json", dir,
			 fixtures[i].file);
		exp = json_load_file(path, JSON_DECODE_INT_AS_REAL, &jerr);
		if (!check_report(__FILE__, __LINE__, exp != NULL, "%s: %s",
				  path, jerr.text)) {
			gg_release(&f);
			continue;
		}
		tensors = json_object_get(exp, "tensors");
		CHECK_EQ_U(json_array_size(tensors), f.ntensors);
		json_array_foreach(tensors, k, et) {
			const char *name = json_string_value(json_object_get(et, "name"));
			const struct gg_tensor *t = name ? gg_find(&f, name) : NULL;
			const json_t *first = json_object_get(et, "first");
			double sum = 0, sumsq, scale, mn = INFINITY, mx = -INFINITY;
			float *v;

			if (!check_report(__FILE__, __LINE__, t != NULL,
					  "%s: no tensor '%s'", fixtures[i].file,
					  name ? name : "?"))
				continue;
			CHECK_STR(dtype_get(dtype_from_ggml(t->type))->name,
				  json_string_value(json_object_get(et, "dtype")));
			if (!is_block_type(t->type))
				continue;
			v = gg_values(t);
			for (size_t j = 0; j < json_array_size(first); j++)
				check_report(__FILE__, __LINE__,
					     (double)v[j] == jnum(json_array_get(first, j)),
					     "%s: %s[%zu] = %.17g, expected %.17g",
					     fixtures[i].file, name, j, v[j],
					     jnum(json_array_get(first, j)));
			for (uint64_t j = 0; j < t->nel; j++) {
				sum += v[j];
				mn = v[j] < mn ? v[j] : mn;
				mx = v[j] > mx ? v[j] : mx;
			}
			sumsq = jnum(json_object_get(et, "sumsq"));
			scale = sqrt((double)t->nel * sumsq);
			check_report(__FILE__, __LINE__,
				     mn == jnum(json_object_get(et, "min")) &&
				     mx == jnum(json_object_get(et, "max")),
				     "%s: %s: min %.17g max %.17g",
				     fixtures[i].file, name, mn, mx);
			check_report(__FILE__, __LINE__,
				     fabs(sum - jnum(json_object_get(et, "sum"))) <=
					     1e-9 * scale,
				     "%s: %s: sum %.17g, expected %.17g",
				     fixtures[i].file, name, sum,
				     jnum(json_object_get(et, "sum")));
			checked++;
			free(v);
		}
		CHECK(checked > 0);
		json_decref(exp);
		gg_release(&f);
	}
}
