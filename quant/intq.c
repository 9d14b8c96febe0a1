/*
 * quant/intq.c - the kernels of the integer schemes: int8 with a scale per
 * outer row or per tensor, and int4 in groups of 128 along a row,
 * symmetric or with a zero point.  The table that names them is
 * quant/schemes.c; the layout of a packed chunk (codes, then side planes)
 * is explained in quant/schemes.h and given for each scheme below.
 *
 * round() is round-to-nearest-even (torch.round, numpy.round), done on a
 * single float value that is first clamped into a small range, so it is
 * exact; NaN gives the code of zero.  Inner loops run over fixed-size
 * groups with restrict pointers, so that GCC at -O2 vectorises them; they
 * are BODY/KERNEL pairs (quant/kernel.h), built for SSE2 and for AVX2 with
 * the same bits.
 */
#include "quant/schemes.h"

#include <string.h>

#include "quant/kernel.h"
#include "quant/qcommon.h"

#define F16_MAX_BITS 0x7bff	/* 65504 */
#define F32_64 0x42800000u	/* 64.0f */
#define F32_256 0x43800000u	/* 256.0f */

/* ---- int8: symmetric, q in [-127, 127] ----
 *
 * int8 (per outer row): s = row absmax / 127 (float32, over finite values);
 * int8-tensor: s = tensor absmax / 127 (prepass).  q = round(x / s) clamped
 * to [-127, 127]; a zero scale gives q = 0.  Saturated values (only
 * infinities) are counted as clipped.
 * Codes: one signed byte per element (two's complement), row-major.
 * Side plane (int8 only): float32 s per row, little-endian.  int8-tensor
 * keeps s as its per-tensor float32 constant.  Dequantize: q * s.
 */

BODY void int8_group_k_body(const float *restrict x, signed char *restrict d,
			    float s, uint32_t *out)
{
	uint32_t clipped = 0;

	for (int j = 0; j < 64; j++) {
		int q = (int)rne(clampmag(x[j] / s, F32_256));

		clipped += (uint32_t)(q > 127) | (uint32_t)(q < -127);
		q = q > 127 ? 127 : q;
		q = q < -127 ? -127 : q;
		d[j] = (signed char)q;
	}
	*out = clipped;
}
KERNEL(int8_group_k, (const float *restrict x, signed char *restrict d, float s,
		      uint32_t *out),
       (x, d, s, out))

static uint32_t int8_group(const float *restrict x, unsigned char *restrict d,
			   const void *arg)
{
	uint32_t r;

	int8_group_k(x, (signed char *)d, *(const float *)arg, &r);
	return r;
}

/* Codes of n values with scale s (0: all zero); returns the clipped. */
static uint64_t int8_span(const float *x, size_t n, float s, signed char *d)
{
	if (!(s > 0)) {
		memset(d, 0, n);
		return 0;
	}
	return bytes_by64(x, n, (unsigned char *)d, int8_group, &s);
}

BODY void int8_back64_body(const signed char *restrict q, float s,
			   float *restrict y)
{
	for (int j = 0; j < 64; j++)
		y[j] = (float)q[j] * s;
}
KERNEL(int8_back64, (const signed char *restrict q, float s, float *restrict y),
       (q, s, y))

static void int8_back(const signed char *q, size_t n, float s, float *y)
{
	size_t i = 0;

	for (; n - i >= 64; i += 64)
		int8_back64(q + i, s, y + i);
	for (; i < n; i++)
		y[i] = (float)q[i] * s;
}

uint64_t iq_int8_q(const struct scheme_ctx *c, uint64_t first, const float *x,
		   size_t n, unsigned char *dst)
{
	unsigned char *side = dst + scheme_plane_offset(c, n, 1);
	size_t row = (size_t)c->row;
	uint64_t clipped = 0;

	(void)first;
	for (size_t r = 0; r * row < n; r++) {
		float s = absmax_of(x + r * row, row) / 127.0f;

		st_f32(side + 4 * r, s);
		clipped += int8_span(x + r * row, row, s,
				     (signed char *)dst + r * row);
	}
	return clipped;
}

void iq_int8_dq(const struct scheme_ctx *c, uint64_t first,
		const unsigned char *src, size_t n, float *y)
{
	const unsigned char *side = src + scheme_plane_offset(c, n, 1);
	size_t row = (size_t)c->row;

	(void)first;
	for (size_t r = 0; r * row < n; r++)
		int8_back((const signed char *)src + r * row, row,
			  ld_f32(side + 4 * r), y + r * row);
}

uint64_t iq_int8t_q(const struct scheme_ctx *c, uint64_t first,
		    const float *x, size_t n, unsigned char *dst)
{
	(void)first;
	return int8_span(x, n, c->absmax / 127.0f, (signed char *)dst);
}

void iq_int8t_dq(const struct scheme_ctx *c, uint64_t first,
		 const unsigned char *src, size_t n, float *y)
{
	(void)first;
	int8_back((const signed char *)src, n, c->absmax / 127.0f, y);
}

/* ---- int4 in groups of 128 along a row ----
 *
 * int4-g128 (symmetric): per group, s = f16(absmax / 7) (float32 division,
 * then rounded to f16; a scale past the f16 range is stored as 65504 and
 * values then clip), q = clamp(round(x / s), -8, 7) with the f16 scale
 * read back as float32, the one dequantization uses.
 * Codes: q + 8 as 4 bits, two per byte, element 2i in the LOW nibble (the
 * bytes of compressed-tensors' int32 pack-quantized words on a
 * little-endian machine).  Side plane: f16 scale per group.
 * Dequantize: (code - 8) * s.
 *
 * int4-g128-asym: per group, min and max over finite values;
 * s = f16((max - min) / 15); zero = clamp(round(-min / s), 0, 15);
 * q = clamp(round(x / s) + zero, 0, 15).  A group with max == min has s = 0:
 * zero and q are 0 and the group dequantizes to 0 (exact for zeros; a
 * constant non-zero group is lost, as the formula says).  NaN gives
 * q = zero.  Codes as int4-g128 but unsigned (q itself); side plane 1: f16
 * scale per group; side plane 2: 4-bit zero point per group, two per byte,
 * group 2j in the low nibble.  Dequantize: (q - zero) * s.
 *
 * Values whose rounded code lies outside the range are counted as clipped.
 */

enum { G4 = 128 };

/* f16 of v (>= 0), kept finite; back as float32 in *s. */
static uint16_t scale16(float v, float *s)
{
	uint16_t h = f32_to_f16(v);

	if (h >= 0x7c00)
		h = F16_MAX_BITS;
	*s = f16_to_f32(h);
	return h;
}

/* q = clamp(round(x / s) + z, lo, hi) for a group, plus off, into u;
 * NaN gives z. */
BODY void int4_group_k_body(const float *restrict x, unsigned char *restrict u,
			    float s, int z, int lo, int hi, int off,
			    uint32_t *out)
{
	uint32_t clipped = 0;

	for (int j = 0; j < G4; j++) {
		int q = (int)rne(clampmag(x[j] / s, F32_64)) + z;

		clipped += (uint32_t)(q > hi) | (uint32_t)(q < lo);
		q = q > hi ? hi : q;
		q = q < lo ? lo : q;
		u[j] = (unsigned char)(q + off);
	}
	*out = clipped;
}
KERNEL(int4_group_k, (const float *restrict x, unsigned char *restrict u,
		      float s, int z, int lo, int hi, int off, uint32_t *out),
       (x, u, s, z, lo, hi, off, out))

static inline uint32_t int4_group(const float *restrict x,
				  unsigned char *restrict u, float s, int z,
				  int lo, int hi, int off)
{
	uint32_t r;

	int4_group_k(x, u, s, z, lo, hi, off, &r);
	return r;
}

BODY void pack_lo_body(unsigned char *restrict d,
		       const unsigned char *restrict u)
{
	for (int j = 0; j < G4 / 2; j++)
		d[j] = (unsigned char)(u[2 * j] | u[2 * j + 1] << 4);
}
KERNEL(pack_lo, (unsigned char *restrict d, const unsigned char *restrict u),
       (d, u))

uint64_t iq_int4_q(const struct scheme_ctx *c, uint64_t first, const float *x,
		   size_t n, unsigned char *dst)
{
	unsigned char *side = dst + scheme_plane_offset(c, n, 1);
	uint64_t clipped = 0;

	(void)first;
	for (size_t i = 0; i + G4 <= n; i += G4) {
		unsigned char u[G4];
		float s;

		store_le16(side + 2 * (i / G4),
			scale16(absmax_of(x + i, G4) / 7.0f, &s));
		if (s > 0)
			clipped += int4_group(x + i, u, s, 0, -8, 7, 8);
		else
			memset(u, 8, sizeof(u));
		pack_lo(dst + i / 2, u);
	}
	return clipped;
}

BODY void int4_back_body(const unsigned char *restrict q, float s, float z,
			 float *restrict y)
{
	for (int j = 0; j < G4 / 2; j++) {
		y[2 * j] = ((float)(q[j] & 0xf) - z) * s;
		y[2 * j + 1] = ((float)(q[j] >> 4) - z) * s;
	}
}
KERNEL(int4_back, (const unsigned char *restrict q, float s, float z,
		   float *restrict y),
       (q, s, z, y))

void iq_int4_dq(const struct scheme_ctx *c, uint64_t first,
		const unsigned char *src, size_t n, float *y)
{
	const unsigned char *side = src + scheme_plane_offset(c, n, 1);

	(void)first;
	for (size_t i = 0; i + G4 <= n; i += G4)
		int4_back(src + i / 2, f16_to_f32(load_le16(side + 2 * (i / G4))),
			  8.0f, y + i);
}

/* Order-preserving int32 key of a float (for min/max that vectorise). */
static inline int32_t fkey(float x)
{
	uint32_t u = fbits(x);

	return (int32_t)(u ^ ((uint32_t)((int32_t)u >> 31) & 0x7fffffff));
}

static inline float unkey(int32_t k)
{
	uint32_t u = (uint32_t)k;

	return bitsf(u ^ ((uint32_t)((int32_t)u >> 31) & 0x7fffffff));
}

/* Finite min and max of a group (0 and 0 when none is finite). */
BODY void minmax_group_body(const float *restrict x, float *mn, float *mx)
{
	int32_t lo = INT32_MAX, hi = INT32_MIN;

	for (int j = 0; j < G4; j++) {
		/* masks, not ?:, or the reductions do not vectorise */
		uint32_t fin = -(uint32_t)((fbits(x[j]) & 0x7fffffff) <
					   F32_INF_BITS);
		uint32_t k = (uint32_t)fkey(x[j]);
		int32_t kl = (int32_t)((k & fin) | (0x7fffffffu & ~fin));
		int32_t kh = (int32_t)((k & fin) | (0x80000000u & ~fin));

		lo = kl < lo ? kl : lo;
		hi = kh > hi ? kh : hi;
	}
	if (lo > hi) {
		*mn = *mx = 0.0f;
		return;
	}
	*mn = unkey(lo);
	*mx = unkey(hi);
}
KERNEL(minmax_group, (const float *restrict x, float *mn, float *mx),
       (x, mn, mx))

uint64_t iq_int4a_q(const struct scheme_ctx *c, uint64_t first,
		    const float *x, size_t n, unsigned char *dst)
{
	unsigned char *scales = dst + scheme_plane_offset(c, n, 1);
	unsigned char *zeros = dst + scheme_plane_offset(c, n, 2);
	uint64_t clipped = 0;

	(void)first;
	memset(zeros, 0, scheme_plane_offset(c, n, 3) -
			 scheme_plane_offset(c, n, 2));
	for (size_t i = 0, g = 0; i + G4 <= n; i += G4, g++) {
		unsigned char u[G4];
		float mn, mx, s;
		int z = 0;

		minmax_group(x + i, &mn, &mx);
		store_le16(scales + 2 * g, scale16((mx - mn) / 15.0f, &s));
		if (s > 0) {
			z = (int)rne(clampmag(-mn / s, F32_64));
			z = z < 0 ? 0 : z > 15 ? 15 : z;
			clipped += int4_group(x + i, u, s, z, 0, 15, 0);
		} else {
			memset(u, 0, sizeof(u));
		}
		pack_lo(dst + i / 2, u);
		zeros[g / 2] |= (unsigned char)(z << 4 * (g % 2));
	}
	return clipped;
}

void iq_int4a_dq(const struct scheme_ctx *c, uint64_t first,
		 const unsigned char *src, size_t n, float *y)
{
	const unsigned char *scales = src + scheme_plane_offset(c, n, 1);
	const unsigned char *zeros = src + scheme_plane_offset(c, n, 2);

	(void)first;
	for (size_t i = 0, g = 0; i + G4 <= n; i += G4, g++)
		int4_back(src + i / 2, f16_to_f32(load_le16(scales + 2 * g)),
			  (float)(zeros[g / 2] >> 4 * (g % 2) & 0xf), y + i);
}
