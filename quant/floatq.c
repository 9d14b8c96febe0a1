/*
 * quant/floatq.c - the kernels of the float-like schemes: plain casts
 * (f32, tf32, f16, bf16), FP8 with a per-tensor scale, bitsandbytes NF4 and
 * FP4 (with and without double quantization), OCP MXFP4, BitNet ternary and
 * sign-times-mean binary.  The table that names them is quant/schemes.c;
 * the layout of a packed chunk (codes, then side planes) is explained in
 * quant/schemes.h and given for each scheme below.
 *
 * Every rounding here is round-to-nearest-even on exact bit patterns or on
 * single float operations, written so the results do not depend on the
 * compiler vectorising a loop or not: the small-float encoders below give
 * the same codes as quant/dtype.c's scalar conversions (the unit tests
 * compare them).  Inner loops run over fixed-size groups with restrict
 * pointers so that GCC at -O2 vectorises them; they are BODY/KERNEL pairs
 * (quant/kernel.h), built for SSE2 and for AVX2 with the same bits.
 */
#include "quant/schemes.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "quant/kernel.h"
#include "quant/qcommon.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_LE 1
#else
#define HOST_LE 0
#endif

/* Largest finite |x| of x[0..n), adding the infinities to *ninf. */
BODY void absmax_inf_k_body(const float *restrict x, size_t n, uint64_t *ninf,
			    float *out)
{
	uint32_t m = 0, k = 0;
	size_t i = 0;

	for (; n - i >= 64; i += 64) {
		uint32_t mb = 0;

		for (int j = 0; j < 64; j++) {
			uint32_t a = fbits(x[i + j]) & 0x7fffffff;
			uint32_t fin = -(uint32_t)(a < F32_INF_BITS);

			mb = (a & fin) > mb ? (a & fin) : mb;
			k += a == F32_INF_BITS;
		}
		m = mb > m ? mb : m;
	}
	for (; i < n; i++) {
		uint32_t a = finite_mag(x[i]);

		m = a > m ? a : m;
		k += (fbits(x[i]) & 0x7fffffff) == F32_INF_BITS;
	}
	*ninf += k;
	*out = bitsf(m);
}
KERNEL(absmax_inf_k, (const float *restrict x, size_t n, uint64_t *ninf,
		      float *out),
       (x, n, ninf, out))

static inline float absmax_inf(const float *restrict x, size_t n,
			       uint64_t *ninf)
{
	float r;

	absmax_inf_k(x, n, ninf, &r);
	return r;
}

/* Sum of the finite |x| of x[0..n) in double, and how many there were;
 * four partial sums, always in the same order. */
static double abssum_of(const float *x, size_t n, uint64_t *count)
{
	double s[4] = { 0, 0, 0, 0 };
	uint64_t k = 0;
	size_t i = 0;

	for (; n - i >= 4; i += 4)
		for (int j = 0; j < 4; j++) {
			uint32_t a = fbits(x[i + j]) & 0x7fffffff;
			uint32_t fin = -(uint32_t)(a < F32_INF_BITS);

			s[j] += (double)bitsf(a & fin);
			k += fin & 1;
		}
	for (; i < n; i++) {
		uint32_t a = fbits(x[i]) & 0x7fffffff;
		int fin = a < F32_INF_BITS;

		s[0] += fin ? (double)bitsf(a) : 0.0;
		k += (uint64_t)fin;
	}
	*count += k;
	return (s[0] + s[1]) + (s[2] + s[3]);
}

/*
 * Magnitude code of a (the bits of |v|, not NaN) in a binary float format
 * with mbits mantissa bits and exponent bias, round to nearest even, not
 * saturated: a code past the largest finite one means overflow.  Normal
 * results rebias the exponent and round the dropped mantissa bits (a carry
 * moves into the exponent by itself); results below the smallest normal
 * count units of the smallest subnormal, |v| * 2^(bias - 1 + mbits), which
 * the magic addition rounds.  Both are computed and one is selected, so a
 * loop of these has no branch.
 */
static inline uint32_t mf_code(uint32_t a, int mbits, int bias)
{
	int shift = 23 - mbits;
	uint32_t half = (1u << (shift - 1)) - 1 + ((a >> shift) & 1);
	uint32_t norm = (a - ((uint32_t)(127 - bias) << 23) + half) >> shift;
	float unit = bitsf((uint32_t)(127 + bias - 1 + mbits) << 23);
	uint32_t sub = fbits(bitsf(a) * unit + RNE_MAGIC) - fbits(RNE_MAGIC);

	uint32_t m = -(uint32_t)(a < (uint32_t)(128 - bias) << 23);

	/* a mask, not ?:, so GCC cannot sink the float operations into a
	 * branch (it will not if-convert them back, and the loop would not
	 * vectorise) */
	return (sub & m) | (norm & ~m);
}

#define F32_ONE 0x3f800000u	/* 1.0f */
#define F32_FOUR 0x40800000u	/* 4.0f */

/* ---- casts: f32, tf32, f16, bf16 ----
 *
 * Codes only, no side data: f32 and tf32 as little-endian float32 (tf32
 * keeps 10 mantissa bits, rounded to nearest even, and is stored as f32),
 * f16 and bf16 as little-endian 16-bit patterns.  NaN stays NaN; overflow
 * gives infinity (no saturation). */

/* Decode n codes of a cast stored as dtype t. */
static void cast_dq(enum dtype t, const unsigned char *src, size_t n, float *y)
{
	dtype_get(t)->decode(src, y, n);
}

uint64_t fq_f32_q(const struct scheme_ctx *c, uint64_t first, const float *x,
		  size_t n, unsigned char *dst)
{
	(void)c;
	(void)first;
	if (HOST_LE)
		memcpy(dst, x, n * sizeof(*x));
	else
		for (size_t i = 0; i < n; i++)
			st_f32(dst + 4 * i, x[i]);
	return 0;
}

void fq_f32_dq(const struct scheme_ctx *c, uint64_t first,
	       const unsigned char *src, size_t n, float *y)
{
	(void)c;
	(void)first;
	cast_dq(DT_F32, src, n, y);
}

static inline uint32_t tf32_bits(uint32_t u)
{
	uint32_t r = (u + 0xfff + ((u >> 13) & 1)) & 0xffffe000;

	return (u & F32_INF_BITS) == F32_INF_BITS ? u : r;
}

BODY void tf32_group_body(const float *restrict x, uint32_t *restrict out)
{
	for (int j = 0; j < 64; j++)
		out[j] = tf32_bits(fbits(x[j]));
}
KERNEL(tf32_group, (const float *restrict x, uint32_t *restrict out),
       (x, out))

uint64_t fq_tf32_q(const struct scheme_ctx *c, uint64_t first, const float *x,
		   size_t n, unsigned char *dst)
{
	size_t i = 0;

	(void)c;
	(void)first;
	for (; n - i >= 64; i += 64) {
		uint32_t v[64];

		tf32_group(x + i, v);
		if (HOST_LE)
			memcpy(dst + 4 * i, v, sizeof(v));
		else
			for (int j = 0; j < 64; j++)
				store_le32(dst + 4 * (i + j), v[j]);
	}
	for (; i < n; i++)
		store_le32(dst + 4 * i, tf32_bits(fbits(x[i])));
	return 0;
}

void fq_tf32_dq(const struct scheme_ctx *c, uint64_t first,
		const unsigned char *src, size_t n, float *y)
{
	fq_f32_dq(c, first, src, n, y);
}

/* f32 -> f16 bits exactly as f32_to_f16() (quant/dtype.c), branch-free. */
static inline uint16_t f16_of(uint32_t u)
{
	uint32_t a = u & 0x7fffffff, h = mf_code(a, 10, 15);
	uint32_t over = -(uint32_t)(h > 0x7c00);
	uint32_t nan = -(uint32_t)(a > F32_INF_BITS);

	/* masks again: a ?: that makes h dead would sink mf_code's float
	 * operations into a branch */
	h = (h & ~over) | (0x7c00 & over);
	h = (h & ~nan) | (0x7e00 & nan);
	return (uint16_t)((u >> 16 & 0x8000) | h);
}

static inline uint16_t bf16_of(uint32_t u)
{
	uint32_t r = (u + 0x7fff + ((u >> 16) & 1)) >> 16;
	uint32_t m = -(uint32_t)((u & 0x7fffffff) > F32_INF_BITS);

	return (uint16_t)(((u >> 16 | 0x40) & m) | (r & ~m));
}

BODY void f16_group_body(const float *restrict x, uint16_t *restrict out)
{
	for (int j = 0; j < 64; j++)
		out[j] = f16_of(fbits(x[j]));
}
KERNEL(f16_group, (const float *restrict x, uint16_t *restrict out),
       (x, out))

BODY void bf16_group_body(const float *restrict x, uint16_t *restrict out)
{
	for (int j = 0; j < 64; j++)
		out[j] = bf16_of(fbits(x[j]));
}
KERNEL(bf16_group, (const float *restrict x, uint16_t *restrict out),
       (x, out))

/* A 16-bit cast of n values: groups of 64 by the kernel group, the tail
 * one at a time by one; little-endian codes. */
static inline void cast16_q(const float *x, size_t n, unsigned char *dst,
			    void (*group)(const float *restrict,
					  uint16_t *restrict),
			    uint16_t (*one)(uint32_t))
{
	size_t i = 0;

	for (; n - i >= 64; i += 64) {
		uint16_t v[64];

		group(x + i, v);
		if (HOST_LE)
			memcpy(dst + 2 * i, v, sizeof(v));
		else
			for (int j = 0; j < 64; j++)
				store_le16(dst + 2 * (i + j), v[j]);
	}
	for (; i < n; i++)
		store_le16(dst + 2 * i, one(fbits(x[i])));
}

uint64_t fq_f16_q(const struct scheme_ctx *c, uint64_t first, const float *x,
		  size_t n, unsigned char *dst)
{
	(void)c;
	(void)first;
	cast16_q(x, n, dst, f16_group, f16_of);
	return 0;
}

void fq_f16_dq(const struct scheme_ctx *c, uint64_t first,
	       const unsigned char *src, size_t n, float *y)
{
	(void)c;
	(void)first;
	cast_dq(DT_F16, src, n, y);
}

uint64_t fq_bf16_q(const struct scheme_ctx *c, uint64_t first, const float *x,
		   size_t n, unsigned char *dst)
{
	(void)c;
	(void)first;
	cast16_q(x, n, dst, bf16_group, bf16_of);
	return 0;
}

void fq_bf16_dq(const struct scheme_ctx *c, uint64_t first,
		const unsigned char *src, size_t n, float *y)
{
	(void)c;
	(void)first;
	cast_dq(DT_BF16, src, n, y);
}

/* ---- FP8 with a per-tensor scale ----
 *
 * s = absmax / max finite (448 for E4M3FN, 57344 for E5M2), float32, taken
 * over the finite values of the whole tensor (prepass); 1 when that is 0.
 * Codes: one byte per element, fp8(x / s) rounded to nearest even and
 * saturated to +-max (compressed-tensors' clamp-then-cast); NaN gives the
 * NaN code 0x7f (with x's sign).  No side data; s is the per-tensor float32
 * constant (4 bytes).  Dequantize: f32(code) * s.  A value is counted as
 * clipped when rounding without saturation would have left the finite
 * range (only infinities, as s comes from the finite absmax).
 */

struct fp8fmt {
	int mbits, bias;
	uint32_t maxcode;	/* largest finite magnitude code */
	float max;
};

static const struct fp8fmt fmt_e4m3 = { 3, 7, 0x7e, 448.0f };
static const struct fp8fmt fmt_e5m2 = { 2, 15, 0x7b, 57344.0f };

static float fp8_scale(const struct scheme_ctx *c, float max)
{
	float s = c->absmax / max;

	return s > 0 && s <= 3.4028234663852886e38f ? s : 1.0f;
}

/* Codes for 64 values; returns how many saturated. */
BODY void fp8_group_k_body(const float *restrict x, unsigned char *restrict d,
			   float s, int mbits, int bias, uint32_t maxcode,
			   uint32_t *out)
{
	uint32_t clipped = 0;

	for (int j = 0; j < 64; j++) {
		uint32_t u = fbits(x[j] / s), a = u & 0x7fffffff;
		uint32_t code = mf_code(a, mbits, bias);
		uint32_t nan = a > F32_INF_BITS, over = code > maxcode;

		clipped += over & !nan;
		code = over ? maxcode : code;
		code = nan ? 0x7f : code;
		d[j] = (unsigned char)((u >> 24 & 0x80) | code);
	}
	*out = clipped;
}
KERNEL(fp8_group_k, (const float *restrict x, unsigned char *restrict d,
		     float s, int mbits, int bias, uint32_t maxcode,
		     uint32_t *out),
       (x, d, s, mbits, bias, maxcode, out))

/* What fp8_group() needs: the format and the scale. */
struct fp8arg {
	const struct fp8fmt *f;
	float s;
};

static uint32_t fp8_group(const float *restrict x, unsigned char *restrict d,
			  const void *arg)
{
	const struct fp8arg *a = arg;
	uint32_t r;

	fp8_group_k(x, d, a->s, a->f->mbits, a->f->bias, a->f->maxcode, &r);
	return r;
}

static uint64_t fp8_q(const struct scheme_ctx *c, const float *x, size_t n,
		      unsigned char *dst, const struct fp8fmt *f)
{
	struct fp8arg a = { f, fp8_scale(c, f->max) };

	return bytes_by64(x, n, dst, fp8_group, &a);
}

static float tab_e4m3[256], tab_e5m2[256], tab_e2m1[16];
static pthread_once_t tabs_once = PTHREAD_ONCE_INIT;

static void tabs_fill(void)
{
	for (unsigned b = 0; b < 256; b++) {
		tab_e4m3[b] = fp8_e4m3_to_f32((uint8_t)b);
		tab_e5m2[b] = fp8_e5m2_to_f32((uint8_t)b);
	}
	for (unsigned b = 0; b < 16; b++)
		tab_e2m1[b] = e2m1_to_f32((uint8_t)b);
}

static void fp8_dq(const struct scheme_ctx *c, const unsigned char *src,
		   size_t n, float *y, const float *tab, float max)
{
	float s = fp8_scale(c, max);

	pthread_once(&tabs_once, tabs_fill);
	for (size_t i = 0; i < n; i++)
		y[i] = tab[src[i]] * s;
}

uint64_t fq_e4m3_q(const struct scheme_ctx *c, uint64_t first, const float *x,
		   size_t n, unsigned char *dst)
{
	(void)first;
	return fp8_q(c, x, n, dst, &fmt_e4m3);
}

void fq_e4m3_dq(const struct scheme_ctx *c, uint64_t first,
		const unsigned char *src, size_t n, float *y)
{
	(void)first;
	fp8_dq(c, src, n, y, tab_e4m3, fmt_e4m3.max);
}

uint64_t fq_e5m2_q(const struct scheme_ctx *c, uint64_t first, const float *x,
		   size_t n, unsigned char *dst)
{
	(void)first;
	return fp8_q(c, x, n, dst, &fmt_e5m2);
}

void fq_e5m2_dq(const struct scheme_ctx *c, uint64_t first,
		const unsigned char *src, size_t n, float *y)
{
	(void)first;
	fp8_dq(c, src, n, y, tab_e5m2, fmt_e5m2.max);
}

/* ---- prepasses ---- */

void fq_pre_absmax(const struct scheme_ctx *c, struct scheme_pre *p,
		   uint64_t first, const float *x, size_t n)
{
	float m = absmax_of(x, n);

	(void)c;
	(void)first;
	if (m > p->absmax)
		p->absmax = m;
}

void fq_pre_absmean(const struct scheme_ctx *c, struct scheme_pre *p,
		    uint64_t first, const float *x, size_t n)
{
	(void)c;
	(void)first;
	p->sum += abssum_of(x, n, &p->n);
}

/* ---- bitsandbytes NF4 and FP4, blocks of 64 ----
 *
 * The tensor is flattened and cut into blocks of 64 consecutive values; the
 * last block may be short (as bitsandbytes' quantize_4bit).  Per block,
 * absmax = max |x| over its finite values (float32); v = x * (1 / absmax)
 * clamped to [-1, 1]; the code is the nearest entry of the 16-value table
 * as bitsandbytes' CUDA kernels find it: NF4 compares v with the 15
 * midpoints (a value on a midpoint takes the lower code), FP4 follows the
 * decision tree on |v| with the sign (v < 0) in bit 3; the tree's
 * thresholds are float literals that differ from the exact midpoints in
 * the 7th digit (0.583333 against 0.5833333...), which this keeps.  An
 * all-zero block gives code 7 (NF4's 0.0) or 0 (FP4's 0.0); so does NaN.
 * Codes: two per byte, the first element of a pair in the HIGH nibble
 * (byte i = code[2i] << 4 | code[2i+1]; an odd count is padded with a zero
 * nibble), as bitsandbytes packs its uint8 weight.  Side plane: the float32
 * absmax of each block, little-endian.  Dequantize: table[code] * absmax.
 */

const float fq_nf4_code[16] = {
	-1.0f, -0.6961928009986877f, -0.5250730514526367f,
	-0.39491748809814453f, -0.28444138169288635f, -0.18477343022823334f,
	-0.09105003625154495f, 0.0f, 0.07958029955625534f,
	0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
	0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

/* Midpoints between adjacent NF4 codes, as bitsandbytes' kernel has them. */
static const float nf4_mid[15] = {
	-0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f,
	-0.33967943489551544f, -0.23460740596055984f, -0.13791173323988914f,
	-0.045525018125772476f, 0.03979014977812767f, 0.1202552504837513f,
	0.2035212516784668f, 0.2920137718319893f, 0.3893125355243683f,
	0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f,
};

/* bitsandbytes FP4: sign in bit 3; magnitudes 0, 1/192, 8/12, 1, 4/12,
 * 6/12, 2/12, 3/12 for codes 0..7 (the table normalised by 12). */
const float fq_fp4_code[16] = {
	0.0f, 0.005208333333f, 0.6666666667f, 1.0f, 0.3333333333f, 0.5f,
	0.1666666667f, 0.25f,
	-0.0f, -0.005208333333f, -0.6666666667f, -1.0f, -0.3333333333f, -0.5f,
	-0.1666666667f, -0.25f,
};

enum { BNB_BLOCK = 64, DQ_GROUP = 256 };

/* Values in the block that starts at i of n (the last may be short). */
static inline size_t bnb_len(size_t n, size_t i)
{
	return n - i < BNB_BLOCK ? n - i : BNB_BLOCK;
}

/* Thresholds of bitsandbytes' FP4 decision tree, ascending. */
static const float fp4_mid[7] = {
	0.00260417f, 0.0859375f, 0.20833333f, 0.29166667f, 0.4166667f,
	0.583333f, 0.8333333f,
};

/* How many of the 15 NF4 midpoints lie below v: its code. */
static inline int32_t nf4_rank(float v)
{
	return (int32_t)(v > nf4_mid[0]) + (v > nf4_mid[1]) +
	       (v > nf4_mid[2]) + (v > nf4_mid[3]) + (v > nf4_mid[4]) +
	       (v > nf4_mid[5]) + (v > nf4_mid[6]) + (v > nf4_mid[7]) +
	       (v > nf4_mid[8]) + (v > nf4_mid[9]) + (v > nf4_mid[10]) +
	       (v > nf4_mid[11]) + (v > nf4_mid[12]) + (v > nf4_mid[13]) +
	       (v > nf4_mid[14]);
}

/* FP4 magnitude code of a = |v|: the rank among the tree's thresholds,
 * then rank -> code {0, 1, 6, 7, 4, 5, 2, 3}, i.e. bit 2 flipped when
 * bit 1 is set. */
static inline int32_t fp4_mag(float a)
{
	int32_t r = (int32_t)(a > fp4_mid[0]) + (a > fp4_mid[1]) +
		    (a > fp4_mid[2]) + (a > fp4_mid[3]) + (a > fp4_mid[4]) +
		    (a > fp4_mid[5]) + (a > fp4_mid[6]);

	return r ^ ((r & 2) << 1);
}

/*
 * Codes of one full block of 64 values with scale inv = 1 / absmax into
 * c[]: the number of midpoints below v (x > t in bitsandbytes' tree, so a
 * value on a midpoint takes the lower code); vectorises over the values.
 */
BODY void nf4_codes64_body(const float *restrict x, float inv,
			   unsigned char *restrict c)
{
	/* int32 first: narrowed at once, GCC would sum in bytes, repacking
	 * after every comparison */
	int32_t k[BNB_BLOCK];

	for (int j = 0; j < BNB_BLOCK; j++)
		k[j] = nf4_rank(clampmag(x[j] * inv, F32_ONE));
	for (int j = 0; j < BNB_BLOCK; j++)
		c[j] = (unsigned char)k[j];
}
KERNEL(nf4_codes64, (const float *restrict x, float inv,
		     unsigned char *restrict c),
       (x, inv, c))

BODY void fp4_codes64_body(const float *restrict x, float inv,
			   unsigned char *restrict c)
{
	int32_t k[BNB_BLOCK];

	for (int j = 0; j < BNB_BLOCK; j++) {
		float v = clampmag(x[j] * inv, F32_ONE);

		k[j] = fp4_mag(fabsf(v)) | (v < 0 ? 8 : 0);
	}
	for (int j = 0; j < BNB_BLOCK; j++)
		c[j] = (unsigned char)k[j];
}
KERNEL(fp4_codes64, (const float *restrict x, float inv,
		     unsigned char *restrict c),
       (x, inv, c))

/* The same for a short block, one value at a time. */
static unsigned bnb_code1(float x, float inv, int fp4)
{
	float v = clampmag(x * inv, F32_ONE);

	if (!fp4)
		return (unsigned)nf4_rank(v);
	return (unsigned)(fp4_mag(fabsf(v)) | (v < 0 ? 8 : 0));
}

/* Codes of one block of n <= 64 values into c[]; returns the absmax and
 * adds the saturated values (infinities) to *clipped. */
static float bnb_block(const float *x, size_t n, int fp4, unsigned char *c,
		       uint64_t *clipped)
{
	float absmax = absmax_inf(x, n, clipped), inv;

	if (!(absmax > 0)) {
		memset(c, fp4 ? 0 : 7, n);
		return absmax;
	}
	inv = 1.0f / absmax;
	if (n == BNB_BLOCK && fp4)
		fp4_codes64(x, inv, c);
	else if (n == BNB_BLOCK)
		nf4_codes64(x, inv, c);
	else
		for (size_t j = 0; j < n; j++)
			c[j] = (unsigned char)bnb_code1(x[j], inv, fp4);
	return absmax;
}

/* Two codes per byte, high nibble first. */
static void pack_hi(unsigned char *dst, const unsigned char *c, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		dst[i / 2] = (unsigned char)(c[i] << 4 | c[i + 1]);
	if (i < n)
		dst[i / 2] = (unsigned char)(c[i] << 4);
}

static inline unsigned nib_hi(const unsigned char *src, size_t i)
{
	return i & 1 ? src[i / 2] & 0xf : src[i / 2] >> 4;
}

static uint64_t bnb_q(const struct scheme_ctx *c, const float *x, size_t n,
		      unsigned char *dst, int fp4)
{
	unsigned char *side = dst + scheme_plane_offset(c, n, 1);
	uint64_t clipped = 0;

	for (size_t i = 0, b = 0; i < n; i += BNB_BLOCK, b++) {
		size_t m = bnb_len(n, i);
		unsigned char code[BNB_BLOCK];

		st_f32(side + 4 * b, bnb_block(x + i, m, fp4, code, &clipped));
		pack_hi(dst + i / 2, code, m);
	}
	return clipped;
}

static void bnb_dq(const struct scheme_ctx *c, const unsigned char *src,
		   size_t n, float *y, const float *tab)
{
	const unsigned char *side = src + scheme_plane_offset(c, n, 1);

	for (size_t i = 0, b = 0; i < n; i += BNB_BLOCK, b++) {
		size_t m = bnb_len(n, i);
		float absmax = ld_f32(side + 4 * b);

		for (size_t j = 0; j < m; j++)
			y[i + j] = tab[nib_hi(src, i + j)] * absmax;
	}
}

uint64_t fq_nf4_q(const struct scheme_ctx *c, uint64_t first, const float *x,
		  size_t n, unsigned char *dst)
{
	(void)first;
	return bnb_q(c, x, n, dst, 0);
}

void fq_nf4_dq(const struct scheme_ctx *c, uint64_t first,
	       const unsigned char *src, size_t n, float *y)
{
	(void)first;
	bnb_dq(c, src, n, y, fq_nf4_code);
}

uint64_t fq_fp4_q(const struct scheme_ctx *c, uint64_t first, const float *x,
		  size_t n, unsigned char *dst)
{
	(void)first;
	return bnb_q(c, x, n, dst, 1);
}

void fq_fp4_dq(const struct scheme_ctx *c, uint64_t first,
	       const unsigned char *src, size_t n, float *y)
{
	(void)first;
	bnb_dq(c, src, n, y, fq_fp4_code);
}

/* ---- nf4-dq: NF4 with double quantization (QLoRA) ----
 *
 * The 4-bit codes are NF4's, computed with the exact absmax.  The absmax
 * values are then quantized: offset = mean of all the tensor's block absmax
 * values (prepass; float32); per group of 256 blocks (16384 values; the
 * last group may be short) nested = max |absmax - offset| (float32) and
 * each absmax - offset becomes the index of the nearest entry of
 * bitsandbytes' signed dynamic code (Appendix A) to
 * (absmax - offset) * (1 / nested), ties to the lower index (torch.argmin);
 * a group where nested is 0 gets index 127 (0.0).
 * Codes as NF4; side plane 1: one byte per block (the dynamic-code index);
 * side plane 2: float32 nested absmax per group; per tensor: the float32
 * offset.  Dequantize: absmax' = dyn[index] * nested + offset, then
 * NF4 table[code] * absmax'.
 */

const float fq_dynamic_code[256] = {
	-0.992968738f, -0.978906214f, -0.96484375f, -0.950781226f,
	-0.936718702f, -0.922656238f, -0.908593774f, -0.89453125f,
	-0.880468726f, -0.866406202f, -0.852343738f, -0.838281214f,
	-0.82421875f, -0.810156226f, -0.796093702f, -0.782031238f,
	-0.767968774f, -0.75390625f, -0.739843786f, -0.725781262f,
	-0.711718798f, -0.697656274f, -0.68359375f, -0.669531286f,
	-0.655468762f, -0.641406238f, -0.627343774f, -0.61328125f,
	-0.599218726f, -0.585156262f, -0.571093798f, -0.557031274f,
	-0.54296875f, -0.528906226f, -0.514843762f, -0.500781238f,
	-0.486718774f, -0.47265625f, -0.458593726f, -0.444531262f,
	-0.430468738f, -0.416406214f, -0.40234375f, -0.388281226f,
	-0.374218762f, -0.360156238f, -0.346093714f, -0.33203125f,
	-0.317968726f, -0.303906262f, -0.289843738f, -0.275781274f,
	-0.26171875f, -0.247656256f, -0.233593762f, -0.219531253f,
	-0.205468744f, -0.19140625f, -0.177343741f, -0.163281247f,
	-0.149218753f, -0.135156244f, -0.12109375f, -0.107031256f,
	-0.0985937491f, -0.0957812443f, -0.0929687545f, -0.0901562497f,
	-0.0873437524f, -0.0845312476f, -0.0817187428f, -0.078906253f,
	-0.0760937482f, -0.0732812509f, -0.0704687461f, -0.0676562563f,
	-0.0648437515f, -0.0620312467f, -0.0592187531f, -0.0564062484f,
	-0.053593751f, -0.05078125f, -0.047968749f, -0.0451562516f,
	-0.0423437469f, -0.0395312496f, -0.0367187522f, -0.0339062475f,
	-0.0310937501f, -0.0282812472f, -0.0254687499f, -0.0226562507f,
	-0.0198437497f, -0.0170312505f, -0.0142187504f, -0.0114062503f,
	-0.00971874967f, -0.00915624946f, -0.00859375019f, -0.00803124998f,
	-0.00746874977f, -0.00690625003f, -0.00634374982f, -0.00578125007f,
	-0.00521875033f, -0.00465624966f, -0.00409374991f, -0.00353124971f,
	-0.00296874996f, -0.00240624999f, -0.00184375001f, -0.00128124992f,
	-0.000943750085f, -0.000831249985f, -0.00071875006f, -0.000606250076f,
	-0.000493750034f, -0.000381250022f, -0.000268750038f, -0.000156250011f,
	-8.87499991e-05f, -6.62500024e-05f, -4.37499984e-05f, -2.12499981e-05f,
	-7.7499999e-06f, -3.25000019e-06f, -5.50000038e-07f, 0.0f,
	5.50000038e-07f, 3.25000019e-06f, 7.7499999e-06f, 2.12499981e-05f,
	4.37499984e-05f, 6.62500024e-05f, 8.87499991e-05f, 0.000156250011f,
	0.000268750038f, 0.000381250022f, 0.000493750034f, 0.000606250076f,
	0.00071875006f, 0.000831249985f, 0.000943750085f, 0.00128124992f,
	0.00184375001f, 0.00240624999f, 0.00296874996f, 0.00353124971f,
	0.00409374991f, 0.00465624966f, 0.00521875033f, 0.00578125007f,
	0.00634374982f, 0.00690625003f, 0.00746874977f, 0.00803124998f,
	0.00859375019f, 0.00915624946f, 0.00971874967f, 0.0114062503f,
	0.0142187504f, 0.0170312505f, 0.0198437497f, 0.0226562507f,
	0.0254687499f, 0.0282812472f, 0.0310937501f, 0.0339062475f,
	0.0367187522f, 0.0395312496f, 0.0423437469f, 0.0451562516f,
	0.047968749f, 0.05078125f, 0.053593751f, 0.0564062484f,
	0.0592187531f, 0.0620312467f, 0.0648437515f, 0.0676562563f,
	0.0704687461f, 0.0732812509f, 0.0760937482f, 0.078906253f,
	0.0817187428f, 0.0845312476f, 0.0873437524f, 0.0901562497f,
	0.0929687545f, 0.0957812443f, 0.0985937491f, 0.107031256f,
	0.12109375f, 0.135156244f, 0.149218753f, 0.163281247f,
	0.177343741f, 0.19140625f, 0.205468744f, 0.219531253f,
	0.233593762f, 0.247656256f, 0.26171875f, 0.275781274f,
	0.289843738f, 0.303906262f, 0.317968726f, 0.33203125f,
	0.346093714f, 0.360156238f, 0.374218762f, 0.388281226f,
	0.40234375f, 0.416406214f, 0.430468738f, 0.444531262f,
	0.458593726f, 0.47265625f, 0.486718774f, 0.500781238f,
	0.514843762f, 0.528906226f, 0.54296875f, 0.557031274f,
	0.571093798f, 0.585156262f, 0.599218726f, 0.61328125f,
	0.627343774f, 0.641406238f, 0.655468762f, 0.669531286f,
	0.68359375f, 0.697656274f, 0.711718798f, 0.725781262f,
	0.739843786f, 0.75390625f, 0.767968774f, 0.782031238f,
	0.796093702f, 0.810156226f, 0.82421875f, 0.838281214f,
	0.852343738f, 0.866406202f, 0.880468726f, 0.89453125f,
	0.908593774f, 0.922656238f, 0.936718702f, 0.950781226f,
	0.96484375f, 0.978906214f, 0.992968738f, 1.0f,
};

/* Index of the dynamic-code entry nearest to v, ties to the lower one. */
static unsigned dyn_nearest(float v)
{
	unsigned lo = 0, hi = 255;

	if (!(v > fq_dynamic_code[0]))
		return 0;
	if (v >= fq_dynamic_code[255])
		return 255;
	/* invariant: code[lo] < v <= code[hi] */
	while (hi - lo > 1) {
		unsigned mid = (lo + hi) / 2;

		if (fq_dynamic_code[mid] < v)
			lo = mid;
		else
			hi = mid;
	}
	return fabsf(v - fq_dynamic_code[lo]) <=
	       fabsf(v - fq_dynamic_code[hi]) ? lo : hi;
}

void fq_pre_nf4dq(const struct scheme_ctx *c, struct scheme_pre *p,
		  uint64_t first, const float *x, size_t n)
{
	(void)c;
	(void)first;
	for (size_t i = 0; i < n; i += BNB_BLOCK) {
		size_t m = bnb_len(n, i);

		p->sum += absmax_of(x + i, m);
		p->n++;
	}
}

uint64_t fq_nf4dq_q(const struct scheme_ctx *c, uint64_t first,
		    const float *x, size_t n, unsigned char *dst)
{
	unsigned char *idx = dst + scheme_plane_offset(c, n, 1);
	unsigned char *nest = dst + scheme_plane_offset(c, n, 2);
	const size_t gsize = (size_t)BNB_BLOCK * DQ_GROUP;
	uint64_t clipped = 0;

	(void)first;
	for (size_t g0 = 0, g = 0; g0 < n; g0 += gsize, g++) {
		size_t gn = n - g0 < gsize ? n - g0 : gsize, nb = 0;
		float a[DQ_GROUP], nested = 0, inv;

		for (size_t i = 0; i < gn; i += BNB_BLOCK, nb++) {
			size_t m = bnb_len(gn, i);
			unsigned char code[BNB_BLOCK];

			a[nb] = bnb_block(x + g0 + i, m, 0, code, &clipped) -
				c->mean;
			if (fabsf(a[nb]) > nested)
				nested = fabsf(a[nb]);
			pack_hi(dst + (g0 + i) / 2, code, m);
		}
		st_f32(nest + 4 * g, nested);
		inv = 1.0f / nested;
		for (size_t b = 0; b < nb; b++) {
			float v = a[b] * inv;

			v = v > 1.0f ? 1.0f : v < -1.0f ? -1.0f : v;
			idx[g * DQ_GROUP + b] = (unsigned char)
				(nested > 0 ? dyn_nearest(v) : 127);
		}
	}
	return clipped;
}

void fq_nf4dq_dq(const struct scheme_ctx *c, uint64_t first,
		 const unsigned char *src, size_t n, float *y)
{
	const unsigned char *idx = src + scheme_plane_offset(c, n, 1);
	const unsigned char *nest = src + scheme_plane_offset(c, n, 2);

	(void)first;
	for (size_t i = 0, b = 0; i < n; i += BNB_BLOCK, b++) {
		size_t m = bnb_len(n, i);
		float nested = ld_f32(nest + 4 * (b / DQ_GROUP));
		float absmax = fq_dynamic_code[idx[b]] * nested + c->mean;

		for (size_t j = 0; j < m; j++)
			y[i + j] = fq_nf4_code[nib_hi(src, i + j)] * absmax;
	}
}

/* ---- MXFP4 (OCP Microscaling), blocks of 32 along a row ----
 *
 * Per block: amax = max finite |x|; shared exponent
 * e = floor(log2(amax)) - 2 (emax of E2M1), at least -127 (an all-zero or
 * subnormal block gets -127); scale X = 2^e, stored as its E8M0 code e + 127.
 * Elements: E2M1 of x / X (exact: X is a power of two), round to nearest
 * even, saturating to +-6; NaN gives code 0.  Values whose unsaturated
 * rounding would pass 6 (|x / X| >= 7) are counted as clipped: with the
 * floor rule amax / X lies in [4, 8), so the largest values of a block
 * can clip by up to 25 %, as the spec's rule does.
 * Codes: two per byte, element 2i in the LOW nibble (OCP / PyTorch
 * float4_e2m1fn_x2 / compressed-tensors mxfp4-pack-quantized order).  Side
 * plane: one E8M0 byte per block.  Dequantize: e2m1(code) * 2^e (exact).
 */

enum { MX_BLOCK = 32 };

BODY void mx_block_k_body(const float *restrict x, unsigned char *restrict d,
			  unsigned char *e8, uint32_t *out)
{
	uint32_t m = 0, clipped = 0, code[MX_BLOCK];
	int e;
	float inv;

	for (int j = 0; j < MX_BLOCK; j++) {
		uint32_t a = finite_mag(x[j]);

		m = a > m ? a : m;
	}
	e = (int)(m >> 23) - 127 - 2;
	if (e < -127)
		e = -127;
	*e8 = (unsigned char)(e + 127);
	inv = bitsf((uint32_t)(127 - e) << 23);
	for (int j = 0; j < MX_BLOCK; j++) {
		uint32_t u = fbits(x[j] * inv), a = u & 0x7fffffff;
		uint32_t c = mf_code(a, 1, 1);
		uint32_t nan = a > F32_INF_BITS, over = c > 7;

		clipped += over & !nan;
		c = over ? 7 : c;
		c |= u >> 28 & 8;
		code[j] = nan ? 0 : c;
	}
	for (int j = 0; j < MX_BLOCK / 2; j++)
		d[j] = (unsigned char)(code[2 * j] | code[2 * j + 1] << 4);
	*out = clipped;
}
KERNEL(mx_block_k, (const float *restrict x, unsigned char *restrict d,
		    unsigned char *e8, uint32_t *out),
       (x, d, e8, out))

static inline uint32_t mx_block(const float *restrict x,
				unsigned char *restrict d, unsigned char *e8)
{
	uint32_t r;

	mx_block_k(x, d, e8, &r);
	return r;
}

uint64_t fq_mxfp4_q(const struct scheme_ctx *c, uint64_t first,
		    const float *x, size_t n, unsigned char *dst)
{
	unsigned char *side = dst + scheme_plane_offset(c, n, 1);
	uint64_t clipped = 0;

	(void)first;
	/* n is a multiple of 32: the block divides the row length */
	for (size_t i = 0; i + MX_BLOCK <= n; i += MX_BLOCK)
		clipped += mx_block(x + i, dst + i / 2, side + i / MX_BLOCK);
	return clipped;
}

void fq_mxfp4_dq(const struct scheme_ctx *c, uint64_t first,
		 const unsigned char *src, size_t n, float *y)
{
	const unsigned char *side = src + scheme_plane_offset(c, n, 1);

	(void)first;
	pthread_once(&tabs_once, tabs_fill);
	for (size_t i = 0; i + MX_BLOCK <= n; i += MX_BLOCK) {
		float s = e8m0_to_f32(side[i / MX_BLOCK]);

		for (int j = 0; j < MX_BLOCK; j += 2) {
			unsigned b = src[(i + j) / 2];

			y[i + j] = tab_e2m1[b & 0xf] * s;
			y[i + j + 1] = tab_e2m1[b >> 4] * s;
		}
	}
}

/* ---- ternary: BitNet b1.58 absmean ----
 *
 * s = mean |x| over the finite values of the whole tensor (prepass, summed
 * in double, stored as float32); q = clamp(round(x / s), -1, 1), ties to
 * even; NaN, and every value when s is 0, give 0.  Values with
 * |round(x / s)| > 1 are counted as clipped.
 * Codes: 2 bits each, stored as q + 1 in {0, 1, 2}, four per byte, element
 * 4i + k in bits 2k..2k+1 of byte i (padding codes 0).  This is
 * llama.cpp-like element order within a chunk; Hugging Face's BitNet
 * layout interleaves four row blocks instead and needs the whole tensor.
 * No side data; s is the per-tensor float32 constant.
 * Dequantize: (code - 1) * s.
 */

/* Codes q + 1 of 64 values; returns how many saturated. */
BODY void tern_group_k_body(const float *restrict x, float s,
			    unsigned char *restrict d, uint32_t *out)
{
	uint32_t clipped = 0;
	unsigned char c[64];

	for (int j = 0; j < 64; j++) {
		int q = (int)rne(clampmag(x[j] / s, F32_FOUR));

		clipped += (uint32_t)(q > 1) | (uint32_t)(q < -1);
		q = q > 1 ? 1 : q;
		q = q < -1 ? -1 : q;
		c[j] = (unsigned char)(q + 1);
	}
	for (int j = 0; j < 16; j++)
		d[j] = (unsigned char)(c[4 * j] | c[4 * j + 1] << 2 |
				       c[4 * j + 2] << 4 | c[4 * j + 3] << 6);
	*out = clipped;
}
KERNEL(tern_group_k, (const float *restrict x, float s,
		      unsigned char *restrict d, uint32_t *out),
       (x, s, d, out))

static inline uint32_t tern_group(const float *restrict x, float s,
				  unsigned char *restrict d)
{
	uint32_t r;

	tern_group_k(x, s, d, &r);
	return r;
}

uint64_t fq_ternary_q(const struct scheme_ctx *c, uint64_t first,
		      const float *x, size_t n, unsigned char *dst)
{
	float s = c->mean;
	uint64_t clipped = 0;
	size_t i = 0;

	(void)first;
	if (!(s > 0) || !(s <= 3.4028234663852886e38f)) {
		/* every code 1 (zero); padding codes 0 */
		memset(dst, 0x55, (n + 3) / 4);
		if (n % 4)
			dst[n / 4] = (unsigned char)(0x55 >> 2 * (4 - n % 4));
		return 0;
	}
	for (; n - i >= 64; i += 64)
		clipped += tern_group(x + i, s, dst + i / 4);
	if (i < n) {
		float xt[64];
		unsigned char dt[16];
		size_t m = n - i;

		memcpy(xt, x + i, m * sizeof(*x));
		for (size_t j = m; j < 64; j++)
			xt[j] = 0.0f;
		clipped += tern_group(xt, s, dt);
		/* padding codes are 0, not the 1 of the zeros added */
		if (m % 4)
			dt[m / 4] &= (unsigned char)((1u << 2 * (m % 4)) - 1);
		memcpy(dst + i / 4, dt, (m + 3) / 4);
	}
	return clipped;
}

void fq_ternary_dq(const struct scheme_ctx *c, uint64_t first,
		   const unsigned char *src, size_t n, float *y)
{
	float s = c->mean > 0 && c->mean <= 3.4028234663852886e38f ?
		  c->mean : 0.0f;
	const float v[4] = { -s, 0.0f, s, 0.0f };

	(void)first;
	for (size_t i = 0; i < n; i++)
		y[i] = v[src[i / 4] >> 2 * (i % 4) & 3];
}

/* ---- binary: sign(x) * mean |x| per outer row ----
 *
 * Per outer row, s = mean |x| over its finite values (double sum, stored as
 * float32); each value becomes +s when x >= 0 (zero included) and -s
 * otherwise (NaN too).  Codes: 1 bit each, set for +s; element 8i + k of
 * the chunk in bit k of byte i (LSB first; the chunk starts on a byte and a
 * row).  Side plane: float32 s per row.  Dequantize: bit ? s : -s.
 */

/* Bit k of byte i of d: x[8i + k] >= 0, for nbytes bytes. */
BODY void sign_bits_body(const float *restrict x, size_t nbytes,
			 unsigned char *restrict d)
{
	for (size_t i = 0; i < nbytes; i++) {
		unsigned b = 0;

		for (int k = 0; k < 8; k++)
			b |= (unsigned)(x[8 * i + k] >= 0) << k;
		d[i] = (unsigned char)b;
	}
}
KERNEL(sign_bits, (const float *restrict x, size_t nbytes,
		   unsigned char *restrict d),
       (x, nbytes, d))

uint64_t fq_binary_q(const struct scheme_ctx *c, uint64_t first,
		     const float *x, size_t n, unsigned char *dst)
{
	unsigned char *side = dst + scheme_plane_offset(c, n, 1);
	size_t row = (size_t)c->row;

	(void)first;
	for (size_t r = 0; r * row < n; r++) {
		uint64_t k = 0;
		double sum = abssum_of(x + r * row, row, &k);

		st_f32(side + 4 * r, k ? (float)(sum / (double)k) : 0.0f);
	}
	sign_bits(x, n / 8, dst);
	if (n % 8) {
		float v[8] = { -1, -1, -1, -1, -1, -1, -1, -1 };

		memcpy(v, x + n / 8 * 8, n % 8 * sizeof(*x));
		sign_bits(v, 1, dst + n / 8);
	}
	return 0;
}

void fq_binary_dq(const struct scheme_ctx *c, uint64_t first,
		  const unsigned char *src, size_t n, float *y)
{
	const unsigned char *side = src + scheme_plane_offset(c, n, 1);
	size_t row = (size_t)c->row;

	(void)first;
	for (size_t r = 0; r * row < n; r++) {
		const float s = ld_f32(side + 4 * r), v[2] = { -s, s };
		const size_t i0 = r * row;

		for (size_t i = i0; i < i0 + row; i++)
			y[i] = v[src[i / 8] >> (i % 8) & 1];
	}
}
