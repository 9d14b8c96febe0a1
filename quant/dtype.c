/*
 * quant/dtype.c - the dtype table and the float conversions behind it.
 *
 * Every conversion works on bit patterns with integer arithmetic, so the
 * results depend neither on the FP rounding mode, nor on flush-to-zero, nor
 * on whether the CPU has F16C: a file decodes to the same floats everywhere.
 * The only float operations left are an exact int-to-float conversion
 * (f16 subnormals) and C's conversion of the integer dtypes, which the
 * contract asks for.
 */
#include "quant/dtype.h"

#include <pthread.h>
#include <string.h>

#include "quant/bytes.h"
#include "quant/encode.h"
#include "quant/ggml.h"

#define QNAN_BITS 0x7fc00000u

/* Elements per trip of the bulk decoders' vectorisable inner loop. */
#define CHUNK 16

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

/*
 * Round the magnitude a (f32 bits without the sign; finite) to a format
 * with mbits mantissa bits and exponent bias, ties to even; the result is
 * the magnitude code.  A code past the largest finite one means overflow;
 * the callers decide what that becomes.  Subnormal results keep the bits
 * shifted out of the 24-bit significand for the rounding, so a carry out
 * of the subnormals gives the smallest normal code by itself.
 */
static uint32_t round_mag(uint32_t a, int mbits, int bias)
{
	int e = (int)(a >> 23), exp = e - 127 + bias, shift;
	uint32_t m = a & 0x7fffff, code, rest, half;

	/* Zero and f32 subnormals lie below half the smallest subnormal of
	 * every format this is used for (bias <= 16). */
	if (e == 0)
		return 0;
	if (exp >= 1) {
		shift = 23 - mbits;
		code = (uint32_t)exp << mbits | m >> shift;
	} else {
		shift = 23 - mbits + 1 - exp;
		/* half would exceed the significand: rounds to zero */
		if (shift > 24)
			return 0;
		m |= 0x800000;
		code = m >> shift;
	}
	rest = m & ((1u << shift) - 1);
	half = 1u << (shift - 1);
	if (rest > half || (rest == half && (code & 1)))
		code++;
	return code;
}

/*
 * f32 bits of the magnitude code mag of a small float format without
 * special values in mag; exact.  Subnormals are normalised by moving the
 * top set bit of m into the implicit position.
 */
static uint32_t minifloat_bits(unsigned mag, int mbits, int bias)
{
	unsigned e = mag >> mbits, m = mag & ((1u << mbits) - 1);
	int p;

	if (e)
		return (uint32_t)((int)e - bias + 127) << 23 |
		       (uint32_t)m << (23 - mbits);
	if (!m)
		return 0;
	for (p = mbits - 1; !(m >> p); p--)
		;
	return (uint32_t)(p + 1 - bias - mbits + 127) << 23 |
	       ((uint32_t)m << (23 - p) & 0x7fffff);
}

/* ---- f16, bf16, tf32 ---- */

/*
 * Branch-free, with masks rather than conditionals, so the bulk loop
 * vectorises (GCC will not if-convert a float operation it has sunk into
 * a branch).  Normal numbers and Inf/NaN only need the exponent rebiased
 * (NaN payloads are kept, as numpy and PyTorch do).  A subnormal M * 2^-24
 * is normalised by converting M to float, which is exact, then taking 24
 * off the exponent of that float's bits.
 */
static inline uint32_t f16_bits(uint32_t h)
{
	uint32_t sign = (h & 0x8000) << 16, em = h & 0x7fff;
	uint32_t norm = (em << 13) + ((uint32_t)(127 - 15) << 23);
	uint32_t sub = f32_bits((float)(int32_t)em) - (24u << 23);
	uint32_t is_special = -(uint32_t)(em >= 0x7c00);
	uint32_t is_sub = -(uint32_t)(em < 0x400);
	uint32_t nonzero = -(uint32_t)(em != 0);

	norm += is_special & (uint32_t)(128 - 16) << 23;
	return sign | (((sub & is_sub) | (norm & ~is_sub)) & nonzero);
}

float f16_to_f32(uint16_t h)
{
	return bits_f32(f16_bits(h));
}

uint16_t f32_to_f16(float f)
{
	uint32_t u = f32_bits(f), sign = u >> 16 & 0x8000;
	uint32_t a = u & 0x7fffffff, h;

	if (a > 0x7f800000)
		return (uint16_t)(sign | 0x7e00);
	/* Infinity and everything too large give codes past 0x7c00; the
	 * rounding carry of 65520 lands on 0x7c00 exactly. */
	h = round_mag(a, 10, 15);
	if (h > 0x7c00)
		h = 0x7c00;
	return (uint16_t)(sign | h);
}

float bf16_to_f32(uint16_t b)
{
	return bits_f32((uint32_t)b << 16);
}

float code16_to_f32(enum dtype d, uint16_t code)
{
	return d == DT_BF16 ? bf16_to_f32(code) : f16_to_f32(code);
}

uint16_t f32_to_bf16(float f)
{
	uint32_t u = f32_bits(f);

	if ((u & 0x7fffffff) > 0x7f800000)
		return (uint16_t)(u >> 16 | 0x0040);
	/* Cannot wrap: the largest non-NaN pattern is 0xff800000. */
	return (uint16_t)((u + 0x7fff + (u >> 16 & 1)) >> 16);
}

float f32_round_tf32(float f)
{
	uint32_t u = f32_bits(f);

	if ((u & 0x7f800000) == 0x7f800000)
		return f;
	return bits_f32((u + 0xfff + (u >> 13 & 1)) & 0xffffe000);
}

/* ---- FP8, E8M0, E2M1 ---- */

static uint32_t e4m3_bits(uint8_t b)
{
	uint32_t sign = (uint32_t)(b & 0x80) << 24;

	if ((b & 0x7f) == 0x7f)
		return sign | QNAN_BITS;
	return sign | minifloat_bits(b & 0x7f, 3, 7);
}

/* E5M2 is the top byte of an f16. */
static uint32_t e5m2_bits(uint8_t b)
{
	return f16_bits((uint32_t)b << 8);
}

/* FNUZ: no infinity, no -0; the -0 pattern is the only NaN. */
static uint32_t fnuz_bits(uint8_t b, int mbits, int bias)
{
	if (b == 0x80)
		return QNAN_BITS;
	return (uint32_t)(b & 0x80) << 24 | minifloat_bits(b & 0x7f, mbits,
							   bias);
}

/* 0 is 2^-127, an f32 subnormal; 0xff is the only NaN. */
static inline uint32_t e8m0_bits(uint32_t b)
{
	uint32_t v = b ? b << 23 : 0x00400000;

	return b == 0xff ? QNAN_BITS : v;
}

float fp8_e4m3_to_f32(uint8_t b)
{
	return bits_f32(e4m3_bits(b));
}

float fp8_e5m2_to_f32(uint8_t b)
{
	return bits_f32(e5m2_bits(b));
}

float fp8_e4m3fnuz_to_f32(uint8_t b)
{
	return bits_f32(fnuz_bits(b, 3, 8));
}

float fp8_e5m2fnuz_to_f32(uint8_t b)
{
	return bits_f32(fnuz_bits(b, 2, 16));
}

float e8m0_to_f32(uint8_t b)
{
	return bits_f32(e8m0_bits(b));
}

/*
 * PyTorch's casts keep the sign of a NaN (0xff for -NaN), so we do too.
 * Past the largest finite code (0x7e) lies the NaN pattern 0x7f: that is
 * where the non-saturating cast lands, as PyTorch's does for |x| > 464.
 */
uint8_t f32_to_fp8_e4m3(float f, int saturate)
{
	uint32_t u = f32_bits(f), sign = u >> 24 & 0x80;
	uint32_t a = u & 0x7fffffff, c;

	if (a > 0x7f800000)
		return (uint8_t)(sign | 0x7f);
	c = round_mag(a, 3, 7);
	if (c > 0x7e)
		c = saturate ? 0x7e : 0x7f;
	return (uint8_t)(sign | c);
}

uint8_t f32_to_fp8_e5m2(float f, int saturate)
{
	uint32_t u = f32_bits(f), sign = u >> 24 & 0x80;
	uint32_t a = u & 0x7fffffff, c;

	if (a > 0x7f800000)
		return (uint8_t)(sign | 0x7f);
	c = round_mag(a, 2, 15);
	if (c > 0x7b)
		c = saturate ? 0x7b : 0x7c;
	return (uint8_t)(sign | c);
}

float e2m1_to_f32(uint8_t code)
{
	return bits_f32((uint32_t)(code & 8) << 28 |
			minifloat_bits(code & 7, 1, 1));
}

/*
 * E2M1 has no NaN: a NaN saturates like infinity, keeping its sign, as
 * ONNX's Cast and oneDNN do.
 */
uint8_t f32_to_e2m1(float f)
{
	uint32_t u = f32_bits(f), sign = u >> 28 & 0x8, c;

	c = round_mag(u & 0x7fffffff, 1, 1);
	if (c > 7 || (u & 0x7fffffff) > 0x7f800000)
		c = 7;
	return (uint8_t)(sign | c);
}

/*
 * A C cast does the same in the default rounding mode; this does it in
 * every mode.  Same scheme as round_mag: rebias, shift the significand
 * right (further for subnormal results), round the dropped bits to even;
 * a carry may reach the infinity pattern, which is then correct.
 */
static uint32_t f64_bits_to_f32_bits(uint64_t u)
{
	uint32_t sign = (uint32_t)(u >> 32) & 0x80000000;
	int e = (int)(u >> 52 & 0x7ff), exp = e - 1023 + 127, shift;
	uint64_t m = u & 0xfffffffffffffull, code, rest, half;

	if (e == 0x7ff)	/* Inf, or NaN made quiet keeping the top payload */
		return sign | 0x7f800000 |
		       (m ? 0x400000 | (uint32_t)(m >> 29) : 0);
	if (exp >= 255)
		return sign | 0x7f800000;
	if (exp >= 1) {
		shift = 29;
		code = (uint64_t)exp << 23 | m >> shift;
	} else {
		shift = 29 + 1 - exp;
		/* double subnormals, and half the result's unit beyond sig */
		if (e == 0 || shift > 53)
			return sign;
		m |= 1ull << 52;
		code = m >> shift;
	}
	rest = m & ((1ull << shift) - 1);
	half = 1ull << (shift - 1);
	if (rest > half || (rest == half && (code & 1)))
		code++;
	return sign | (uint32_t)code;
}

/* ---- bulk decoders ---- */

/*
 * A decoder for a one-element block type: BITS(p) gives the f32 bit
 * pattern of the element at p.  Whole chunks are decoded into a local
 * array first: the compiler then needs no proof that src and dst do not
 * overlap, and at -O2 GCC vectorises only loops with a fixed trip count
 * and no such runtime check.
 */
#define DEFINE_DECODER(name, size, BITS)				\
static void name(const unsigned char *src, float *dst, size_t n)	\
{									\
	size_t i = 0;							\
									\
	for (; n - i >= CHUNK; i += CHUNK) {				\
		uint32_t v[CHUNK];					\
									\
		for (int j = 0; j < CHUNK; j++)				\
			v[j] = BITS(src + (i + j) * (size));		\
		memcpy(dst + i, v, sizeof(v));				\
	}								\
	for (; i < n; i++) {						\
		uint32_t v = BITS(src + i * (size));			\
									\
		memcpy(dst + i, &v, sizeof(v));				\
	}								\
}

/* Element readers for DEFINE_DECODER; integers use C's conversion. */
static inline uint32_t rd_f64(const unsigned char *p)
{
	return f64_bits_to_f32_bits(load_le64(p));
}

static inline uint32_t rd_f16(const unsigned char *p)
{
	return f16_bits(load_le16(p));
}

static inline uint32_t rd_bf16(const unsigned char *p)
{
	return (uint32_t)load_le16(p) << 16;
}

static inline uint32_t rd_e8m0(const unsigned char *p)
{
	return e8m0_bits(*p);
}

static inline uint32_t rd_i64(const unsigned char *p)
{
	uint64_t u = load_le64(p);
	int64_t v;

	memcpy(&v, &u, sizeof(v));
	return f32_bits((float)v);
}

static inline uint32_t rd_i32(const unsigned char *p)
{
	uint32_t u = load_le32(p);
	int32_t v;

	memcpy(&v, &u, sizeof(v));
	return f32_bits((float)v);
}

static inline uint32_t rd_i16(const unsigned char *p)
{
	uint16_t u = load_le16(p);
	int16_t v;

	memcpy(&v, &u, sizeof(v));
	return f32_bits((float)v);
}

static inline uint32_t rd_i8(const unsigned char *p)
{
	int8_t v;

	memcpy(&v, p, sizeof(v));
	return f32_bits((float)v);
}

static inline uint32_t rd_u64(const unsigned char *p)
{
	return f32_bits((float)load_le64(p));
}

static inline uint32_t rd_u32(const unsigned char *p)
{
	return f32_bits((float)load_le32(p));
}

static inline uint32_t rd_u16(const unsigned char *p)
{
	return f32_bits((float)load_le16(p));
}

static inline uint32_t rd_u8(const unsigned char *p)
{
	return f32_bits((float)*p);
}

/* A byte other than 0 or 1 is still true, as a conversion to _Bool says. */
static inline uint32_t rd_bool(const unsigned char *p)
{
	return f32_bits((float)(_Bool)*p);
}

DEFINE_DECODER(decode_f64, 8, rd_f64)
DEFINE_DECODER(decode_f16, 2, rd_f16)
DEFINE_DECODER(decode_bf16, 2, rd_bf16)

/*
 * F16 through the F16C instruction when the CPU has it: 8 values per
 * instruction instead of a dozen integer operations per value (the
 * portable decoder above took a quarter of the time of quantizing an F16
 * GGUF to Q8_0, write and check, in bench/scale).  VCVTPH2PS gives the
 * bits f16_bits() gives for every code except the signalling NaNs, which
 * it quiets; a group of 8 codes holding one goes through the portable
 * decoder, so the floats are the same on every CPU.
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("avx,f16c")))
static void decode_f16_f16c(const unsigned char *src, float *dst, size_t n)
{
	const __m128i abs = _mm_set1_epi16(0x7fff), inf = _mm_set1_epi16(0x7c00);
	const __m128i qbit = _mm_set1_epi16(0x0200);
	size_t i = 0;

	for (; n - i >= 8; i += 8) {
		__m128i h = _mm_loadu_si128((const __m128i *)(src + 2 * i));

		/* The input streams from memory (a mapped file): ask for it
		 * 2 KB ahead, a cache line every four groups. */
		if (!(i & 31))
			_mm_prefetch((const char *)src + 2 * i + 2048,
				     _MM_HINT_T0);
		/* NaN: |h| > 0x7c00 (|h| <= 0x7fff: a signed compare is
		 * right); signalling: the quiet bit 0x200 clear. */
		__m128i nan = _mm_cmpgt_epi16(_mm_and_si128(h, abs), inf);
		__m128i quiet = _mm_cmpeq_epi16(_mm_and_si128(h, qbit), qbit);

		if (_mm_movemask_epi8(_mm_andnot_si128(quiet, nan)))
			decode_f16(src + 2 * i, dst + i, 8);
		else	/* little-endian codes, as the file stores them */
			_mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
	}
	if (i < n)
		decode_f16(src + 2 * i, dst + i, n - i);
}

static void decode_f16_best(const unsigned char *src, float *dst, size_t n)
{
	if (cpu_has_f16c(0))
		decode_f16_f16c(src, dst, n);
	else
		decode_f16(src, dst, n);
}
#else
#define decode_f16_best decode_f16
#endif

DEFINE_DECODER(decode_e8m0, 1, rd_e8m0)
DEFINE_DECODER(decode_i64, 8, rd_i64)
DEFINE_DECODER(decode_i32, 4, rd_i32)
DEFINE_DECODER(decode_i16, 2, rd_i16)
DEFINE_DECODER(decode_i8, 1, rd_i8)
DEFINE_DECODER(decode_u64, 8, rd_u64)
DEFINE_DECODER(decode_u32, 4, rd_u32)
DEFINE_DECODER(decode_u16, 2, rd_u16)
DEFINE_DECODER(decode_u8, 1, rd_u8)
DEFINE_DECODER(decode_bool, 1, rd_bool)

#if HOST_LE
/* memmove: a caller decoding F32 in place is harmless. */
static void decode_f32(const unsigned char *src, float *dst, size_t n)
{
	memmove(dst, src, n * sizeof(*dst));
}
#else
static inline uint32_t rd_f32(const unsigned char *p)
{
	return load_le32(p);
}

DEFINE_DECODER(decode_f32, 4, rd_f32)
#endif

/*
 * The 8-bit floats decode through 256-entry tables of f32 bit patterns,
 * filled once from the scalar conversions.
 */
static uint32_t tab_e4m3[256], tab_e5m2[256];
static uint32_t tab_e4m3fnuz[256], tab_e5m2fnuz[256];
static pthread_once_t fp8_once = PTHREAD_ONCE_INIT;

static void fp8_tables_fill(void)
{
	for (unsigned b = 0; b < 256; b++) {
		tab_e4m3[b] = e4m3_bits((uint8_t)b);
		tab_e5m2[b] = e5m2_bits((uint8_t)b);
		tab_e4m3fnuz[b] = fnuz_bits((uint8_t)b, 3, 8);
		tab_e5m2fnuz[b] = fnuz_bits((uint8_t)b, 2, 16);
	}
}

static void decode_table(const unsigned char *src, float *dst, size_t n,
			 const uint32_t *tab)
{
	pthread_once(&fp8_once, fp8_tables_fill);
	for (size_t i = 0; i < n; i++)
		memcpy(dst + i, &tab[src[i]], sizeof(*dst));
}

static void decode_e4m3(const unsigned char *src, float *dst, size_t n)
{
	decode_table(src, dst, n, tab_e4m3);
}

static void decode_e5m2(const unsigned char *src, float *dst, size_t n)
{
	decode_table(src, dst, n, tab_e5m2);
}

static void decode_e4m3fnuz(const unsigned char *src, float *dst, size_t n)
{
	decode_table(src, dst, n, tab_e4m3fnuz);
}

static void decode_e5m2fnuz(const unsigned char *src, float *dst, size_t n)
{
	decode_table(src, dst, n, tab_e5m2fnuz);
}

/* One byte holds elements 2i (low nibble) and 2i + 1 (high nibble). */
static void decode_f4(const unsigned char *src, float *dst, size_t nblocks)
{
	static const float e2m1[16] = {
		0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
		-0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f,
	};

	for (size_t i = 0; i < nblocks; i++) {
		dst[2 * i] = e2m1[src[i] & 0xf];
		dst[2 * i + 1] = e2m1[src[i] >> 4];
	}
}

/* ---- the table ---- */

static const struct dtype_info dtypes[DT_COUNT]	= {
	/*		  name		block bytes decode	   is_float st ggml */
	[DT_NONE]	= { "?",		1, 0, NULL,		0, 0, -1 },
	[DT_F64]	= { "F64",		1, 8, decode_f64,	1, 1, 28 },
	[DT_F32]	= { "F32",		1, 4, decode_f32,	1, 1, 0 },
	[DT_F16]	= { "F16",		1, 2, decode_f16_best,	1, 1, 1 },
	[DT_BF16]	= { "BF16",		1, 2, decode_bf16,	1, 1, 30 },
	[DT_F8_E4M3]	= { "F8_E4M3",		1, 1, decode_e4m3,	1, 1, -1 },
	[DT_F8_E5M2]	= { "F8_E5M2",		1, 1, decode_e5m2,	1, 1, -1 },
	[DT_F8_E4M3FNUZ]	= { "F8_E4M3FNUZ",	1, 1, decode_e4m3fnuz,	1, 1, -1 },
	[DT_F8_E5M2FNUZ]	= { "F8_E5M2FNUZ",	1, 1, decode_e5m2fnuz,	1, 1, -1 },
	[DT_F8_E8M0]	= { "F8_E8M0",		1, 1, decode_e8m0,	1, 1, -1 },
	[DT_F6_E2M3]	= { "F6_E2M3",		4, 3, NULL,		1, 1, -1 },
	[DT_F6_E3M2]	= { "F6_E3M2",		4, 3, NULL,		1, 1, -1 },
	[DT_F4]		= { "F4",		2, 1, decode_f4,	1, 1, -1 },
	[DT_C64]	= { "C64",		1, 8, NULL,		1, 1, -1 },
	[DT_I64]	= { "I64",		1, 8, decode_i64,	0, 1, 27 },
	[DT_I32]	= { "I32",		1, 4, decode_i32,	0, 1, 26 },
	[DT_I16]	= { "I16",		1, 2, decode_i16,	0, 1, 25 },
	[DT_I8]		= { "I8",		1, 1, decode_i8,	0, 1, 24 },
	[DT_U64]	= { "U64",		1, 8, decode_u64,	0, 1, -1 },
	[DT_U32]	= { "U32",		1, 4, decode_u32,	0, 1, -1 },
	[DT_U16]	= { "U16",		1, 2, decode_u16,	0, 1, -1 },
	[DT_U8]		= { "U8",		1, 1, decode_u8,	0, 1, -1 },
	[DT_BOOL]	= { "BOOL",		1, 1, decode_bool,	0, 1, -1 },
	/* GGUF blocks: decoders come with quant/ggml.c */
	[DT_Q4_0]	= { "Q4_0",		32, 18, ggml_decode_q4_0,	0, 0, 2 },
	[DT_Q4_1]	= { "Q4_1",		32, 20, ggml_decode_q4_1,	0, 0, 3 },
	[DT_Q5_0]	= { "Q5_0",		32, 22, ggml_decode_q5_0,	0, 0, 6 },
	[DT_Q5_1]	= { "Q5_1",		32, 24, ggml_decode_q5_1,	0, 0, 7 },
	[DT_Q8_0]	= { "Q8_0",		32, 34, ggml_decode_q8_0,	0, 0, 8 },
	[DT_Q8_1]	= { "Q8_1",		32, 36, ggml_decode_q8_1,	0, 0, 9 },
	[DT_Q2_K]	= { "Q2_K",		256, 84, ggml_decode_q2_k,	0, 0, 10 },
	[DT_Q3_K]	= { "Q3_K",		256, 110, ggml_decode_q3_k,	0, 0, 11 },
	[DT_Q4_K]	= { "Q4_K",		256, 144, ggml_decode_q4_k,	0, 0, 12 },
	[DT_Q5_K]	= { "Q5_K",		256, 176, ggml_decode_q5_k,	0, 0, 13 },
	[DT_Q6_K]	= { "Q6_K",		256, 210, ggml_decode_q6_k,	0, 0, 14 },
	[DT_Q8_K]	= { "Q8_K",		256, 292, ggml_decode_q8_k,	0, 0, 15 },
	[DT_IQ2_XXS]	= { "IQ2_XXS",	256, 66, NULL,		0, 0, 16 },
	[DT_IQ2_XS]	= { "IQ2_XS",	256, 74, NULL,		0, 0, 17 },
	[DT_IQ3_XXS]	= { "IQ3_XXS",	256, 98, NULL,		0, 0, 18 },
	[DT_IQ1_S]	= { "IQ1_S",		256, 50, NULL,		0, 0, 19 },
	[DT_IQ4_NL]	= { "IQ4_NL",	32, 18, ggml_decode_iq4_nl,	0, 0, 20 },
	[DT_IQ3_S]	= { "IQ3_S",		256, 110, NULL,		0, 0, 21 },
	[DT_IQ2_S]	= { "IQ2_S",		256, 82, NULL,		0, 0, 22 },
	[DT_IQ4_XS]	= { "IQ4_XS",	256, 136, ggml_decode_iq4_xs,	0, 0, 23 },
	[DT_IQ1_M]	= { "IQ1_M",		256, 56, NULL,		0, 0, 29 },
	[DT_TQ1_0]	= { "TQ1_0",		256, 54, ggml_decode_tq1_0,	0, 0, 34 },
	[DT_TQ2_0]	= { "TQ2_0",		256, 66, ggml_decode_tq2_0,	0, 0, 35 },
	[DT_MXFP4]	= { "MXFP4",		32, 17, ggml_decode_mxfp4,	0, 0, 39 },
	[DT_NVFP4]	= { "NVFP4",		64, 36, NULL,		0, 0, 40 },
	[DT_Q1_0]	= { "Q1_0",		128, 18, ggml_decode_q1_0,	0, 0, 41 },
	[DT_Q2_0]	= { "Q2_0",		64, 18, ggml_decode_q2_0,	0, 0, 42 },
	/* not a safetensors dtype: torch and numpy only */
	[DT_C128]	= { "C128",		1, 16, NULL,		1, 0, -1 },
};

const struct dtype_info *dtype_get(enum dtype d)
{
	/* The cast also sends negative values out of range. */
	if ((unsigned)d >= DT_COUNT)
		d = DT_NONE;
	return &dtypes[d];
}

enum dtype dtype_from_name(const char *name)
{
	if (!name)
		return DT_NONE;
	for (int d = DT_NONE + 1; d < DT_COUNT; d++)
		if (!strcmp(dtypes[d].name, name))
			return (enum dtype)d;
	return DT_NONE;
}

enum dtype dtype_from_ggml(uint32_t id)
{
	for (int d = DT_NONE + 1; d < DT_COUNT; d++)
		if (dtypes[d].ggml >= 0 && (uint32_t)dtypes[d].ggml == id)
			return (enum dtype)d;
	return DT_NONE;
}

double dtype_bits(enum dtype d)
{
	const struct dtype_info *di = dtype_get(d);

	return 8.0 * di->block_bytes / di->block;
}
