/*
 * quant/qcommon.h - small helpers shared by the scheme kernels
 * (quant/intq.c, quant/floatq.c): float bits, round to nearest even,
 * f32 loads and stores (byte order helpers are in quant/bytes.h), the finite absmax of a span, and the
 * loop that runs a 64-value group kernel over a span with a zero-padded
 * tail.  Internal to quant/; include after quant/kernel.h.
 */
#ifndef QSCOPE_QUANT_QCOMMON_H
#define QSCOPE_QUANT_QCOMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "quant/bytes.h"
#include "quant/kernel.h"

#define F32_INF_BITS 0x7f800000u
/* 1.5 * 2^23: adding and subtracting it rounds |v| < 2^22 to an integer,
 * ties to even, in the default rounding mode. */
#define RNE_MAGIC 12582912.0f

static inline uint32_t fbits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static inline float bitsf(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

/* Round to nearest even; v must lie within +-2^22. */
static inline float rne(float v)
{
	return (v + RNE_MAGIC) - RNE_MAGIC;
}

/*
 * v with its magnitude limited to the float whose bits are lim; NaN gives
 * +-0.  Done on the bits: GCC will not if-convert float selects that it
 * has sunk below a later float operation, and such loops do not vectorise.
 */
static inline float clampmag(float v, uint32_t lim)
{
	uint32_t u = fbits(v), a = u & 0x7fffffff;

	a = a > F32_INF_BITS ? 0 : a;
	a = a > lim ? lim : a;
	return bitsf(a | (u & 0x80000000));
}

static inline void st_f32(unsigned char *p, float f)
{
	store_le32(p, fbits(f));
}

static inline float ld_f32(const unsigned char *p)
{
	return bitsf(load_le32(p));
}

/* |x| as bits when x is finite, else 0: the integer order of these equals
 * the order of the magnitudes, so maxima vectorise as integer maxima. */
static inline uint32_t finite_mag(float x)
{
	uint32_t a = fbits(x) & 0x7fffffff;

	return a & -(uint32_t)(a < F32_INF_BITS);
}

/* Largest finite |x| of x[0..n). */
BODY void absmax_of_k_body(const float *restrict x, size_t n, float *out)
{
	uint32_t m = 0;
	size_t i = 0;

	for (; n - i >= 64; i += 64) {
		uint32_t mb = 0;

		for (int j = 0; j < 64; j++) {
			uint32_t a = finite_mag(x[i + j]);

			mb = a > mb ? a : mb;
		}
		m = mb > m ? mb : m;
	}
	for (; i < n; i++) {
		uint32_t a = finite_mag(x[i]);

		m = a > m ? a : m;
	}
	*out = bitsf(m);
}
KERNEL(absmax_of_k, (const float *restrict x, size_t n, float *out),
       (x, n, out))

static inline float absmax_of(const float *restrict x, size_t n)
{
	float r;

	absmax_of_k(x, n, &r);
	return r;
}

/* One byte code per value for a group of 64 values; returns how many were
 * clipped.  arg carries the scheme's parameters. */
typedef uint32_t group64_fn(const float *restrict x, unsigned char *restrict d,
			    const void *arg);

/*
 * Byte codes of n values, 64 at a time; a short tail is padded with zeros
 * to a whole group and only its n % 64 codes are kept.  Returns the
 * clipped values.
 */
static inline uint64_t bytes_by64(const float *x, size_t n, unsigned char *d,
				  group64_fn *group, const void *arg)
{
	uint64_t clipped = 0;
	size_t i = 0;

	for (; n - i >= 64; i += 64)
		clipped += group(x + i, d + i, arg);
	if (i < n) {
		float xt[64] = { 0 };
		unsigned char dt[64];

		memcpy(xt, x + i, (n - i) * sizeof(*x));
		clipped += group(xt, dt, arg);
		memcpy(d + i, dt, n - i);
	}
	return clipped;
}

#endif
