/*
 * quant/ggml.c - GGUF block kernels: ggml's reference quantizers and its
 * dequantizers, bit-exact.
 *
 * Bit-exactness rests on three things.  Every float expression is written
 * with ggml's operand order and types (a float times an int converts the
 * int first; `w*l*l` is (w*l)*l), and the Makefile keeps the compiler from
 * fusing a multiply and an add (-ffp-contract=off).  ggml's nearest_int()
 * is its bit trick, kept as is, because it is not a rounding function for
 * large or non-finite arguments and those cases must come out the same.
 * And C's float-to-integer conversions that are undefined for NaN or
 * out-of-range values go through cvt_i32(), which gives what x86-64's
 * cvttss2si gives (the build ggml's reference output comes from), instead
 * of undefined behaviour.
 *
 * The file has three parts: helpers; the reference transcription of each
 * quantizer (the *_ref functions, in ggml's order and shape, slow, kept as
 * the yardstick the tests hold the fast paths to); the fast quantizers and
 * the decoders.  The fast paths compute the same float operations in the
 * same order per block, but for several blocks or sub-blocks at once in
 * vector lanes, which is where their speed comes from.
 */
#include "quant/ggml.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "quant/bytes.h"

/* ---- helpers ---- */

#define QK_K 256
#define GROUP_MAX_EPS 1e-15f

static inline float half_at(const unsigned char *p)
{
	return f16_to_f32(load_le16(p));
}

static inline void put_half(unsigned char *p, float f)
{
	store_le16(p, f32_to_f16(f));
}

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

/* ggml's nearest_int: exact round-to-even for |f| <= 4194303, and
 * well-defined garbage beyond (NaN gives 0), as in ggml. */
static inline int nearest_int(float f)
{
	uint32_t i = fbits(f + 12582912.f);

	return (int)(i & 0x007fffff) - 0x00400000;
}

/*
 * C's conversion of a float to an integer type, as x86-64 does it: toward
 * zero, and INT32_MIN for NaN and for values outside int32.  Conversions to
 * narrower types keep the low bits of that (to_i8, to_u8).
 */
static inline int32_t cvt_i32(float f)
{
	if (!(f > -2147483904.0f && f < 2147483648.0f))
		return INT32_MIN;
	return (int32_t)f;
}

static inline int to_i8(int v)
{
	return (int)(int8_t)(uint8_t)((unsigned)v & 0xff);
}

static inline unsigned to_u8(int v)
{
	return (unsigned)v & 0xff;
}

/* roundf() then a conversion to int as above. */
static inline int32_t round_i32(float f)
{
	return cvt_i32(roundf(f));
}

/* lroundf() as glibc does it on x86-64, truncated to int the way ggml's
 * `int xi = lroundf(v) + 1` is: LONG_MIN for NaN, infinity and |v| >= 2^63.
 * Only the low 32 bits matter here. */
static inline int lround_plus1(float f)
{
	if (!(fabsf(f) < 0x1p31f))
		return isfinite(f) && fabsf(f) < 0x1p63f ?
			(int)(uint32_t)((uint64_t)(int64_t)roundf(f) + 1) : 1;
	return (int)roundf(f) + 1;
}

static const int8_t kvalues_iq4nl[16] = {
	-127, -104, -83, -65, -49, -35, -22, -10,
	1, 13, 25, 38, 53, 69, 89, 113,
};

/* E2M1 values times two, so that they are integers. */
static const int8_t kvalues_mxfp4[16] = {
	0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12,
};

/* E8M0 scale halved: 2^(e - 128), subnormal for e < 2, never NaN. */
static inline float e8m0_half(unsigned e)
{
	return bitsf(e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23);
}

/* ---- reference quantizers: ggml's code, transcribed ---- */

/*
 * The value of largest magnitude among v[0..n-1], the first on a tie; 0 if
 * all are 0 or NaN.  *amax gets its magnitude.
 */
static float max_by_magnitude(const float *v, int n, float *amax)
{
	float max = 0, am = 0;

	for (int j = 0; j < n; j++) {
		float a = fabsf(v[j]);

		if (a > am) {
			am = a;
			max = v[j];
		}
	}
	*amax = am;
	return max;
}

/* d into the block's first two bytes; returns ggml's inverse of d (0 for
 * 0). */
static float put_d(unsigned char *y, float d)
{
	put_half(y, d);
	return d ? 1.0f / d : 0.0f;
}

/* ggml's MAX(amax, fabsf(v)) over v[0..n-1], from 0. */
static float abs_max(const float *v, int n)
{
	float amax = 0.0f;

	for (int j = 0; j < n; j++)
		amax = amax > fabsf(v[j]) ? amax : fabsf(v[j]);
	return amax;
}

/* The least and the greatest of v[0..n-1], from +-FLT_MAX as in ggml. */
static void min_max(const float *v, int n, float *min, float *max)
{
	float lo = 3.40282347e38f, hi = -3.40282347e38f;

	for (int j = 0; j < n; j++) {
		if (v[j] < lo)
			lo = v[j];
		if (v[j] > hi)
			hi = v[j];
	}
	*min = lo;
	*max = hi;
}

/*
 * Q4_1 and Q5_1: d = (max - min) / nmax over the block's 32 values x, and
 * min, into the block; returns ggml's inverse of d, and the min in *min.
 */
static float put_d_min(const float *x, unsigned char *y, int nmax,
		       float *min)
{
	float max;

	min_max(x, 32, min, &max);
	const float id = put_d(y, (max - *min) / nmax);

	put_half(y + 2, *min);
	return id;
}

static void q4_0_ref(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += 18) {
		float amax;
		const float max = max_by_magnitude(x, 32, &amax);
		const float d = max / -8;
		const float id = put_d(y, d);

		for (int j = 0; j < 16; j++) {
			const float x0 = x[j] * id;
			const float x1 = x[16 + j] * id;
			int q0 = to_i8(cvt_i32(x0 + 8.5f));
			int q1 = to_i8(cvt_i32(x1 + 8.5f));

			q0 = q0 < 15 ? q0 : 15;
			q1 = q1 < 15 ? q1 : 15;
			y[2 + j] = (unsigned char)(to_u8(q0) | to_u8(q1) << 4);
		}
	}
}

static void q4_1_ref(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += 20) {
		float min;
		const float id = put_d_min(x, y, 15, &min);

		for (int j = 0; j < 16; j++) {
			const float x0 = (x[j] - min) * id;
			const float x1 = (x[16 + j] - min) * id;
			int q0 = to_i8(cvt_i32(x0 + 0.5f));
			int q1 = to_i8(cvt_i32(x1 + 0.5f));

			q0 = q0 < 15 ? q0 : 15;
			q1 = q1 < 15 ? q1 : 15;
			y[4 + j] = (unsigned char)(to_u8(q0) | to_u8(q1) << 4);
		}
	}
}

static void q5_0_ref(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += 22) {
		float amax;
		const float max = max_by_magnitude(x, 32, &amax);
		uint32_t qh = 0;
		const float d = max / -16;
		const float id = put_d(y, d);

		for (int j = 0; j < 16; j++) {
			const float x0 = x[j] * id;
			const float x1 = x[16 + j] * id;
			int q0 = to_i8(cvt_i32(x0 + 16.5f));
			int q1 = to_i8(cvt_i32(x1 + 16.5f));
			unsigned u0, u1;

			u0 = to_u8(q0 < 31 ? q0 : 31);
			u1 = to_u8(q1 < 31 ? q1 : 31);
			y[6 + j] = (unsigned char)((u0 & 0xf) | (u1 & 0xf) << 4);
			qh |= ((u0 & 0x10u) >> 4) << j;
			qh |= ((u1 & 0x10u) >> 4) << (j + 16);
		}
		store_le32(y + 2, qh);
	}
}

static void q5_1_ref(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += 24) {
		float min;
		uint32_t qh = 0;
		const float id = put_d_min(x, y, 31, &min);

		for (int j = 0; j < 16; j++) {
			const float x0 = (x[j] - min) * id;
			const float x1 = (x[16 + j] - min) * id;
			unsigned u0 = to_u8(cvt_i32(x0 + 0.5f));
			unsigned u1 = to_u8(cvt_i32(x1 + 0.5f));

			y[8 + j] = (unsigned char)((u0 & 0xf) | (u1 & 0xf) << 4);
			qh |= ((u0 & 0x10u) >> 4) << j;
			qh |= ((u1 & 0x10u) >> 4) << (j + 16);
		}
		store_le32(y + 4, qh);
	}
}

static void q8_0_ref(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += 34) {
		const float d = abs_max(x, 32) / 127;
		const float id = put_d(y, d);

		for (int j = 0; j < 32; j++)
			y[2 + j] = (unsigned char)to_u8(round_i32(x[j] * id));
	}
}

static void q8_1_ref(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += 36) {
		int sum = 0;
		const float d = abs_max(x, 32) / 127;
		const float id = put_d(y, d);

		for (int j = 0; j < 16; j++) {
			int q0 = to_i8(round_i32(x[j] * id));
			int q1 = to_i8(round_i32(x[16 + j] * id));

			y[4 + j] = (unsigned char)to_u8(q0);
			y[4 + 16 + j] = (unsigned char)to_u8(q1);
			sum += q0 + q1;
		}
		put_half(y + 2, (float)sum * d);
	}
}

static void mxfp4_ref(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += 17) {
		float amax = 0.0f;
		unsigned e;

		for (int j = 0; j < 32; j++)
			if (amax < fabsf(x[j]))
				amax = fabsf(x[j]);
		e = amax > 0.0f ?
			to_u8(cvt_i32(floorf(log2f(amax)) - 2 + 127)) : 0;
		const float d = e8m0_half(e);

		y[0] = (unsigned char)e;
		for (int j = 0; j < 16; j++) {
			unsigned q[2];

			for (int h = 0; h < 2; h++) {
				float v = x[j + 16 * h];
				float best = fabsf(kvalues_mxfp4[0] * d - v);

				q[h] = 0;
				for (unsigned k = 1; k < 16; k++) {
					float err = fabsf(kvalues_mxfp4[k] * d - v);

					if (err < best) {
						q[h] = k;
						best = err;
					}
				}
			}
			y[1 + j] = (unsigned char)(q[0] | q[1] << 4);
		}
	}
}

static void tq1_0_ref(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, y += 54) {
		const float d = abs_max(x, QK_K);
		const float id = d ? 1.0f / d : 0.0f;

		put_half(y + 52, d);
		/* 5 elements per byte, along 32 bytes, then along 16 */
		for (int m = 0; m < 32; m++) {
			unsigned q = 0;

			for (int n = 0; n < 5; n++)
				q = (q * 3 + (unsigned)lround_plus1(x[m + n * 32] * id)) & 0xff;
			y[m] = (unsigned char)((q * 256 + 242) / 243);
		}
		x += 160;
		for (int m = 0; m < 16; m++) {
			unsigned q = 0;

			for (int n = 0; n < 5; n++)
				q = (q * 3 + (unsigned)lround_plus1(x[m + n * 16] * id)) & 0xff;
			y[32 + m] = (unsigned char)((q * 256 + 242) / 243);
		}
		x += 80;
		/* 4 elements per byte, the first in the top trit */
		for (int j = 0; j < 4; j++) {
			unsigned q = 0;

			for (int m = 0; m < 4; m++)
				q = (q * 3 + (unsigned)lround_plus1(x[j + m * 4] * id)) & 0xff;
			q = (q * 3) & 0xff;
			y[48 + j] = (unsigned char)((q * 256 + 242) / 243);
		}
		x += 16;
	}
}

static void tq2_0_ref(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, y += 66) {
		const float d = abs_max(x, QK_K);
		const float id = d ? 1.0f / d : 0.0f;

		put_half(y + 64, d);
		for (int j = 0; j < 64; j += 32) {
			for (int m = 0; m < 32; m++) {
				unsigned q = 0;

				for (int n = 0; n < 4; n++) {
					int xi = lround_plus1(x[m + n * 32] * id);

					q += ((unsigned)xi & 3) << (2 * n);
				}
				y[j + m] = (unsigned char)q;
			}
			x += 128;
		}
	}
}

/* Q1_0 and Q2_0 (ggml 2026; FORMATS.md 2.5.15). */
static void q1_0_ref(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 128, y += 18) {
		float sum_abs = 0.0f;

		for (int j = 0; j < 128; j++)
			sum_abs += fabsf(x[j]);
		put_half(y, sum_abs / 128);
		memset(y + 2, 0, 16);
		for (int j = 0; j < 128; j++)
			if (x[j] >= 0.0f)
				y[2 + j / 8] |= (unsigned char)(1u << (j % 8));
	}
}

static void q2_0_ref(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 64, y += 18) {
		float amax = 0.0f;

		for (int j = 0; j < 64; j++)
			if (fabsf(x[j]) > amax)
				amax = fabsf(x[j]);
		const float d = amax;
		const float id = d > 0.0f ? 1.0f / d : 0.0f;

		put_half(y, d);
		memset(y + 2, 0, 16);
		for (int j = 0; j < 64; j++) {
			int q = round_i32(x[j] * id) + 1;

			q = q < 0 ? 0 : q > 3 ? 3 : q;
			y[2 + j / 4] |= (unsigned char)(q << (j % 4) * 2);
		}
	}
}

/* ---- k-quant helpers (ggml-quants.c), same operation order ---- */

/*
 * The first pass of make_qx_quants and make_q3_quants: *max is the value
 * of x of largest magnitude; the levels l of x at scale -nmax / *max,
 * clamped to -nmax..nmax-1, go to L as l + off, and *sumlx and *suml2 get
 * their sums weighted by x*x.  Returns 0, with L zeroed, when x is all
 * below GROUP_MAX_EPS.
 */
static int first_levels(int n, int nmax, const float *x, int8_t *L, int off,
			float *max, float *sumlx, float *suml2)
{
	float amax, slx = 0, sl2 = 0;

	*max = max_by_magnitude(x, n, &amax);
	if (amax < GROUP_MAX_EPS) {
		for (int i = 0; i < n; i++)
			L[i] = 0;
		return 0;
	}
	float iscale = (float)-nmax / *max;

	for (int i = 0; i < n; i++) {
		int l = nearest_int(iscale * x[i]);

		l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
		L[i] = (int8_t)(l + off);
		float w = x[i] * x[i];

		slx += w * x[i] * l;
		sl2 += w * l * l;
	}
	*sumlx = slx;
	*suml2 = sl2;
	return 1;
}

static float make_qx_quants(int n, int nmax, const float *x, int8_t *L)
{
	float max, sumlx, suml2;

	if (!first_levels(n, nmax, x, L, nmax, &max, &sumlx, &suml2))
		return 0.f;
	float scale = suml2 ? sumlx / suml2 : 0.0f;
	float best = scale * sumlx;

	for (int is = -9; is <= 9; is++) {
		if (is == 0)
			continue;
		float iscale = -(nmax + 0.1f * is) / max;

		sumlx = suml2 = 0;
		for (int i = 0; i < n; i++) {
			int l = nearest_int(iscale * x[i]);

			l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
			float w = x[i] * x[i];

			sumlx += w * x[i] * l;
			suml2 += w * l * l;
		}
		if (suml2 > 0 && sumlx * sumlx > best * suml2) {
			for (int i = 0; i < n; i++) {
				int l = nearest_int(iscale * x[i]);

				l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
				L[i] = (int8_t)(nmax + l);
			}
			scale = sumlx / suml2;
			best = scale * sumlx;
		}
	}
	return scale;
}

static float make_q3_quants(int n, int nmax, const float *x, int8_t *L)
{
	float max, sumlx, suml2;

	if (!first_levels(n, nmax, x, L, 0, &max, &sumlx, &suml2))
		return 0.f;
	for (int itry = 0; itry < 5; itry++) {
		int n_changed = 0;

		for (int i = 0; i < n; i++) {
			float w = x[i] * x[i];
			float slx = sumlx - w * x[i] * L[i];

			if (slx > 0) {
				float sl2 = suml2 - w * L[i] * L[i];
				int new_l = nearest_int(x[i] * sl2 / slx);

				new_l = new_l < -nmax ? -nmax :
					new_l > nmax - 1 ? nmax - 1 : new_l;
				if (new_l != L[i]) {
					slx += w * x[i] * new_l;
					sl2 += w * new_l * new_l;
					if (sl2 > 0 &&
					    slx * slx * suml2 > sumlx * sumlx * sl2) {
						L[i] = (int8_t)new_l;
						sumlx = slx;
						suml2 = sl2;
						n_changed++;
					}
				}
			}
		}
		if (!n_changed)
			break;
	}
	for (int i = 0; i < n; i++)
		L[i] = (int8_t)(L[i] + nmax);
	return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

static float make_qkx2_quants(int n, int nmax, const float *x,
			      const float *weights, uint8_t *L,
			      float *the_min, uint8_t *Laux, float rmin,
			      float rdelta, int nstep, int use_mad)
{
	float min = x[0], max = x[0];
	float sum_w = weights[0];
	float sum_x = sum_w * x[0];

	for (int i = 1; i < n; i++) {
		if (x[i] < min)
			min = x[i];
		if (x[i] > max)
			max = x[i];
		float w = weights[i];

		sum_w += w;
		sum_x += w * x[i];
	}
	if (min > 0)
		min = 0;
	if (max == min) {
		for (int i = 0; i < n; i++)
			L[i] = 0;
		*the_min = -min;
		return 0.f;
	}
	float iscale = nmax / (max - min);
	float scale = 1 / iscale;
	float best_error = 0;

	for (int i = 0; i < n; i++) {
		int l = nearest_int(iscale * (x[i] - min));

		L[i] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
		float diff = scale * L[i] + min - x[i];

		diff = use_mad ? fabsf(diff) : diff * diff;
		best_error += weights[i] * diff;
	}
	for (int is = 0; is <= nstep; is++) {
		iscale = (rmin + rdelta * is + nmax) / (max - min);
		float sum_l = 0, sum_l2 = 0, sum_xl = 0;

		for (int i = 0; i < n; i++) {
			int l = nearest_int(iscale * (x[i] - min));

			l = l < 0 ? 0 : l > nmax ? nmax : l;
			Laux[i] = (uint8_t)l;
			float w = weights[i];

			sum_l += w * l;
			sum_l2 += w * l * l;
			sum_xl += w * l * x[i];
		}
		float D = sum_w * sum_l2 - sum_l * sum_l;

		if (D > 0) {
			float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
			float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;

			if (this_min > 0) {
				this_min = 0;
				this_scale = sum_xl / sum_l2;
			}
			float cur_error = 0;

			for (int i = 0; i < n; i++) {
				float diff = this_scale * Laux[i] + this_min - x[i];

				diff = use_mad ? fabsf(diff) : diff * diff;
				cur_error += weights[i] * diff;
			}
			if (cur_error < best_error) {
				for (int i = 0; i < n; i++)
					L[i] = Laux[i];
				best_error = cur_error;
				scale = this_scale;
				min = this_min;
			}
		}
	}
	*the_min = -min;
	return scale;
}

static void get_scale_min_k4(int j, const unsigned char *q, unsigned *d,
			     unsigned *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (q[j + 4] & 0xf) | (q[j - 4] >> 6) << 4;
		*m = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
	}
}

/* Sub-block j's scale and min of a Q4_K or Q5_K block with super-block d
 * and dmin, as ggml's decoders compute them. */
static void scale_min_k4(int j, const unsigned char *q, float d, float dmin,
			 float *dl, float *ml)
{
	unsigned sc, m;

	get_scale_min_k4(j, q, &sc, &m);
	*dl = d * sc;
	*ml = dmin * m;
}

/* The sixteen 6-bit signed scales of a Q3_K block, minus 32. */
static void q3_k_scales(const unsigned char *s, int sc[16])
{
	for (int j = 0; j < 16; j++) {
		int lo = j < 8 ? s[j] & 0xf : s[j - 8] >> 4;

		sc[j] = (lo | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32;
	}
}

/* The 2-bit packing of Q2_K and Q3_K: four elements 32 apart per byte. */
static void pack_2bit(const uint8_t *L, unsigned char *qs)
{
	for (int j = 0; j < QK_K; j += 128)
		for (int l = 0; l < 32; l++)
			qs[j / 4 + l] = (unsigned char)(L[j + l] |
				L[j + l + 32] << 2 | L[j + l + 64] << 4 |
				L[j + l + 96] << 6);
}

/*
 * Q2_K: the sixteen 4-bit scales (low nibbles) and mins (high nibbles) and
 * the super-block's d and dmin, from the sub-blocks' scales and mins.
 */
static void q2_k_put_scales(unsigned char *y, const float *scales,
			    const float *mins)
{
	float max_scale = 0, max_min = 0;

	for (int j = 0; j < 16; j++) {
		if (scales[j] > max_scale)
			max_scale = scales[j];
		if (mins[j] > max_min)
			max_min = mins[j];
	}
	if (max_scale > 0) {
		float iscale = 15.f / max_scale;

		for (int j = 0; j < 16; j++)
			y[j] = (unsigned char)to_u8(nearest_int(iscale * scales[j]));
		put_half(y + 80, max_scale / 15.f);
	} else {
		memset(y, 0, 16);
		put_half(y + 80, 0.f);
	}
	if (max_min > 0) {
		float iscale = 15.f / max_min;

		for (int j = 0; j < 16; j++) {
			int l = nearest_int(iscale * mins[j]);

			y[j] = (unsigned char)(y[j] | to_u8((int)((unsigned)l << 4)));
		}
		put_half(y + 82, max_min / 15.f);
	} else {
		put_half(y + 82, 0.f);
	}
}

static void q2_k_ref(const float *x, unsigned char *y, size_t nb)
{
	uint8_t L[QK_K], Laux[16];
	float weights[16], mins[16], scales[16];

	for (size_t i = 0; i < nb; i++, x += QK_K, y += 84) {
		for (int j = 0; j < 16; j++) {
			for (int l = 0; l < 16; l++)
				weights[l] = fabsf(x[16 * j + l]);
			scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights,
						     L + 16 * j, &mins[j], Laux,
						     -0.5f, 0.1f, 15, 1);
		}
		q2_k_put_scales(y, scales, mins);
		for (int j = 0; j < 16; j++) {
			const float d = half_at(y + 80) * (y[j] & 0xf);

			if (!d)
				continue;
			const float dm = half_at(y + 82) * (y[j] >> 4);

			for (int ii = 0; ii < 16; ii++) {
				int l = nearest_int((x[16 * j + ii] + dm) / d);

				L[16 * j + ii] = (uint8_t)(l < 0 ? 0 : l > 3 ? 3 : l);
			}
		}
		pack_2bit(L, y + 16);
	}
}

/*
 * Q3_K: the sixteen 6-bit scales (low nibbles, then the high bits) and the
 * super-block's d, from the sub-blocks' scales and the one of largest
 * magnitude.
 */
static void q3_k_put_scales(unsigned char *y, const float *scales,
			    float max_scale)
{
	unsigned char *sc12 = y + 96;

	memset(sc12, 0, 12);
	if (max_scale) {
		float iscale = -32.f / max_scale;

		for (int j = 0; j < 16; j++) {
			int l = to_i8(nearest_int(iscale * scales[j]));

			l = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
			if (j < 8)
				sc12[j] = (unsigned char)(l & 0xf);
			else
				sc12[j - 8] |= (unsigned char)((l & 0xf) << 4);
			l >>= 4;
			sc12[j % 4 + 8] |= (unsigned char)(l << (2 * (j / 4)));
		}
		put_half(y + 108, 1 / iscale);
	} else {
		put_half(y + 108, 0.f);
	}
}

/* Q3_K's levels (0 to 7) into the block: the high bit into hmask, the low
 * two bits packed; L keeps the low two bits. */
static void q3_k_pack(int8_t *L, unsigned char *y)
{
	memset(y, 0, 32);
	for (int j = 0; j < QK_K; j++) {
		if (L[j] > 3) {
			y[j % 32] |= (unsigned char)(1u << (j / 32));
			L[j] -= 4;
		}
	}
	pack_2bit((const uint8_t *)L, y + 32);
}

static void q3_k_ref(const float *x, unsigned char *y, size_t nb)
{
	int8_t L[QK_K];
	float scales[16];

	for (size_t i = 0; i < nb; i++, x += QK_K, y += 110) {
		float max_scale, amax;
		int sc[16];

		for (int j = 0; j < 16; j++)
			scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
		max_scale = max_by_magnitude(scales, 16, &amax);
		q3_k_put_scales(y, scales, max_scale);
		q3_k_scales(y + 96, sc);
		for (int j = 0; j < 16; j++) {
			float d = half_at(y + 108) * sc[j];

			if (!d)
				continue;
			for (int ii = 0; ii < 16; ii++) {
				int l = nearest_int(x[16 * j + ii] / d);

				l = l < -4 ? -4 : l > 3 ? 3 : l;
				L[16 * j + ii] = (int8_t)(l + 4);
			}
		}
		q3_k_pack(L, y);
	}
}

/*
 * Q4_K and Q5_K: the eight 6-bit scales and mins (get_scale_min_k4's
 * layout) and the super-block's d and dmin, from the sub-blocks' scales and
 * mins.
 */
static void q45_k_put_scales(unsigned char *y, const float *scales,
			     const float *mins)
{
	unsigned char *sc12 = y + 4;
	float max_scale = 0, max_min = 0;

	for (int j = 0; j < 8; j++) {
		if (scales[j] > max_scale)
			max_scale = scales[j];
		if (mins[j] > max_min)
			max_min = mins[j];
	}

	float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
	float inv_min = max_min > 0 ? 63.f / max_min : 0.f;

	for (int j = 0; j < 8; j++) {
		unsigned ls = to_u8(nearest_int(inv_scale * scales[j]));
		unsigned lm = to_u8(nearest_int(inv_min * mins[j]));

		ls = ls < 63 ? ls : 63;
		lm = lm < 63 ? lm : 63;
		if (j < 4) {
			sc12[j] = (unsigned char)ls;
			sc12[j + 4] = (unsigned char)lm;
		} else {
			sc12[j + 4] = (unsigned char)((ls & 0xf) | (lm & 0xf) << 4);
			sc12[j - 4] |= (unsigned char)((ls >> 4) << 6);
			sc12[j] |= (unsigned char)((lm >> 4) << 6);
		}
	}
	put_half(y, max_scale / 63.f);
	put_half(y + 2, max_min / 63.f);
}

/* Q4_K's (nmax 15) or Q5_K's (nmax 31) levels into the block: Q4_K's as
 * nibbles, Q5_K's low nibbles the same and their fifth bits into qh. */
static void q45_k_pack(const uint8_t *L, unsigned char *y, int nmax)
{
	if (nmax == 15) {
		for (int j = 0; j < 4; j++)
			for (int l = 0; l < 32; l++)
				y[16 + 32 * j + l] = (unsigned char)(L[64 * j + l] |
					L[64 * j + 32 + l] << 4);
	} else {
		unsigned char *qh = y + 16, *ql = y + 48;

		memset(qh, 0, 32);
		for (int c = 0; c < 4; c++) {
			for (int j = 0; j < 32; j++) {
				int l1 = L[64 * c + j], l2 = L[64 * c + 32 + j];

				qh[j] |= (unsigned char)((l1 >> 4) << (2 * c) |
							 (l2 >> 4) << (2 * c + 1));
				ql[32 * c + j] = (unsigned char)((l1 & 0xf) |
								 (l2 & 0xf) << 4);
			}
		}
	}
}

/* Q4_K and Q5_K share everything but the range and the search. */
static void q45_k_ref(const float *x, unsigned char *y, size_t nb, int nmax)
{
	uint8_t L[QK_K], Laux[32];
	float weights[32], mins[8], scales[8];
	const size_t bsize = nmax == 15 ? 144 : 176;

	for (size_t i = 0; i < nb; i++, x += QK_K, y += bsize) {
		unsigned char *sc12 = y + 4;

		for (int j = 0; j < 8; j++) {
			float sum_x2 = 0;

			for (int l = 0; l < 32; l++)
				sum_x2 += x[32 * j + l] * x[32 * j + l];
			float av_x = sqrtf(sum_x2 / 32);

			for (int l = 0; l < 32; l++)
				weights[l] = av_x + fabsf(x[32 * j + l]);
			if (nmax == 15)
				scales[j] = make_qkx2_quants(32, 15, x + 32 * j,
					weights, L + 32 * j, &mins[j], Laux,
					-1.f, 0.1f, 20, 0);
			else
				scales[j] = make_qkx2_quants(32, 31, x + 32 * j,
					weights, L + 32 * j, &mins[j], Laux,
					-0.5f, 0.1f, 15, 0);
		}
		q45_k_put_scales(y, scales, mins);
		for (int j = 0; j < 8; j++) {
			unsigned sc, m;

			get_scale_min_k4(j, sc12, &sc, &m);
			const float d = half_at(y) * sc;

			if (!d)
				continue;
			const float dm = half_at(y + 2) * m;

			for (int ii = 0; ii < 32; ii++) {
				int l = nearest_int((x[32 * j + ii] + dm) / d);

				L[32 * j + ii] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
			}
		}
		q45_k_pack(L, y, nmax);
	}
}

static void q4_k_ref(const float *x, unsigned char *y, size_t nb)
{
	q45_k_ref(x, y, nb, 15);
}

static void q5_k_ref(const float *x, unsigned char *y, size_t nb)
{
	q45_k_ref(x, y, nb, 31);
}

static void q6_k_pack(const int8_t *L, unsigned char *y)
{
	unsigned char *ql = y, *qh = y + 128;

	for (int j = 0; j < QK_K; j += 128) {
		for (int l = 0; l < 32; l++) {
			const unsigned q1 = L[j + l] & 0xf, q2 = L[j + l + 32] & 0xf;
			const unsigned q3 = L[j + l + 64] & 0xf, q4 = L[j + l + 96] & 0xf;

			ql[l] = (unsigned char)(q1 | q3 << 4);
			ql[l + 32] = (unsigned char)(q2 | q4 << 4);
			qh[l] = (unsigned char)(L[j + l] >> 4 | (L[j + l + 32] >> 4) << 2 |
				(L[j + l + 64] >> 4) << 4 | (L[j + l + 96] >> 4) << 6);
		}
		ql += 64;
		qh += 32;
	}
}

/*
 * Q6_K: the sixteen 8-bit scales and the super-block's d, from the
 * sub-blocks' scales, the one of largest magnitude and that magnitude.
 * Returns 0, with the whole block zeroed, when all scales are tiny.
 */
static int q6_k_put_scales(unsigned char *y, const float *scales,
			   float max_scale, float max_abs_scale)
{
	if (max_abs_scale < GROUP_MAX_EPS) {
		memset(y, 0, 210);
		return 0;
	}
	float iscale = -128.f / max_scale;

	put_half(y + 208, 1 / iscale);
	for (int ib = 0; ib < 16; ib++) {
		int v = nearest_int(iscale * scales[ib]);

		y[192 + ib] = (unsigned char)to_u8(v < 127 ? v : 127);
	}
	return 1;
}

static void q6_k_ref(const float *x, unsigned char *y, size_t nb)
{
	int8_t L[QK_K];
	float scales[16];

	for (size_t i = 0; i < nb; i++, x += QK_K, y += 210) {
		float max_scale, max_abs_scale;

		for (int ib = 0; ib < 16; ib++)
			scales[ib] = make_qx_quants(16, 32, x + 16 * ib,
						    L + 16 * ib);
		max_scale = max_by_magnitude(scales, 16, &max_abs_scale);
		if (!q6_k_put_scales(y, scales, max_scale, max_abs_scale))
			continue;
		for (int j = 0; j < 16; j++) {
			float d = half_at(y + 208) * (int8_t)y[192 + j];

			if (!d)
				continue;
			for (int ii = 0; ii < 16; ii++) {
				int l = nearest_int(x[16 * j + ii] / d);

				l = l < -32 ? -32 : l > 31 ? 31 : l;
				L[16 * j + ii] = (int8_t)(l + 32);
			}
		}
		q6_k_pack(L, y);
	}
}

static void q8_k_ref(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += QK_K, y += 292) {
		float amax;
		const float max = max_by_magnitude(x, QK_K, &amax);

		/* ggml leaves bsums unset here; they are the sums of zeros */
		if (!amax) {
			memset(y, 0, 292);
			continue;
		}
		const float iscale = -127.f / max;

		for (int j = 0; j < QK_K; j++) {
			int v = nearest_int(iscale * x[j]);

			y[4 + j] = (unsigned char)to_u8(v < 127 ? v : 127);
		}
		for (int j = 0; j < 16; j++) {
			int sum = 0;

			for (int ii = 0; ii < 16; ii++)
				sum += (int8_t)y[4 + 16 * j + ii];
			store_le16(y + 260 + 2 * j, (uint16_t)(unsigned)sum);
		}
		store_le32(y, fbits(1 / iscale));
	}
}

/* ggml's best_index_int8 as of early 2025 (llama.cpp b4748, the fixtures'
 * build): ties at the midpoint go up, decided in float. */
static inline int best_index_int8(const int8_t *val, float x)
{
	int ml = 0, mu = 15;

	if (x <= val[0])
		return 0;
	if (x >= val[15])
		return 15;
	while (mu - ml > 1) {
		int mav = (ml + mu) / 2;

		if (x < val[mav])
			mu = mav;
		else
			ml = mav;
	}
	return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

/*
 * ggml's quantize_row_iq4_nl_impl without importance weights and with
 * ntry = 7 (what quantize_iq4_nl and quantize_iq4_xs pass): sbs is 32 for
 * IQ4_NL, 256 for IQ4_XS.  y is the block: d, then for IQ4_XS scales_h
 * and scales_l, then the nibbles at q4.
 */
/*
 * IQ4_XS: the super-block's d and the eight 6-bit sub-block scales
 * (scales_h, scales_l), from the sub-blocks' scales and the one of largest
 * magnitude; idl gets the inverse of each sub-block's scale (0 for 0).
 */
static void iq4_xs_put_scales(unsigned char *y, const float *scales,
			      float max_scale, float *idl)
{
	unsigned scales_h = 0;
	float d = -max_scale / 32;
	float id = d ? 1 / d : 0.f;

	put_half(y, d);
	for (int ib = 0; ib < 8; ib++) {
		int l = nearest_int(id * scales[ib]);

		l = l < -32 ? -32 : l > 31 ? 31 : l;
		float dl = d * l;

		idl[ib] = dl ? 1 / dl : 0.f;
		l += 32;
		if (ib % 2 == 0)
			y[4 + ib / 2] = (unsigned char)(l & 0xf);
		else
			y[4 + ib / 2] |= (unsigned char)((l & 0xf) << 4);
		scales_h |= (unsigned)(l >> 4) << 2 * ib;
	}
	store_le16(y + 2, (uint16_t)scales_h);
}

static void iq4_impl(int sbs, const float *x, unsigned char *y,
		     unsigned char *q4)
{
	const int8_t *values = kvalues_iq4nl;
	const int ntry = 7;
	uint8_t L[QK_K];
	float scales[8], weight[32];
	float max_scale = 0, amax_scale = 0;

	memset(q4, 0, (size_t)sbs / 2);
	put_half(y, 0.f);
	for (int ib = 0; ib < sbs / 32; ib++) {
		const float *xb = x + 32 * ib;
		uint8_t *Lb = L + 32 * ib;
		float amax;
		const float max = max_by_magnitude(xb, 32, &amax);

		for (int j = 0; j < 32; j++)
			weight[j] = xb[j] * xb[j];
		if (amax < GROUP_MAX_EPS) {
			scales[ib] = 0;
			continue;
		}
		float d = -max / values[0];
		float id = 1 / d;
		float sumqx = 0, sumq2 = 0;

		for (int j = 0; j < 32; j++) {
			float al = id * xb[j];
			int l = best_index_int8(values, al);
			float q = values[l], w = weight[j];

			Lb[j] = (uint8_t)l;
			sumqx += w * q * xb[j];
			sumq2 += w * q * q;
		}
		d = sumqx / sumq2;
		float best = d * sumqx;

		for (int itry = -ntry; itry <= ntry; itry++) {
			id = (itry + values[0]) / max;
			sumqx = sumq2 = 0;
			for (int j = 0; j < 32; j++) {
				float al = id * xb[j];
				int l = best_index_int8(values, al);
				float q = values[l], w = weight[j];

				sumqx += w * q * xb[j];
				sumq2 += w * q * q;
			}
			if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
				d = sumqx / sumq2;
				best = d * sumqx;
			}
		}
		scales[ib] = d;
		if (fabsf(d) > amax_scale) {
			amax_scale = fabsf(d);
			max_scale = d;
		}
	}
	if (sbs > 32) {
		float idl[8];

		iq4_xs_put_scales(y, scales, max_scale, idl);
		for (int ib = 0; ib < sbs / 32; ib++)
			for (int j = 0; j < 32; j++)
				L[32 * ib + j] = (uint8_t)best_index_int8(values,
							idl[ib] * x[32 * ib + j]);
	} else {
		float id = scales[0] ? 1 / scales[0] : 0;

		put_half(y, scales[0]);
		for (int j = 0; j < 32; j++)
			L[j] = (uint8_t)best_index_int8(values, id * x[j]);
	}
	for (int i = 0; i < sbs / 32; i++)
		for (int j = 0; j < 16; j++)
			q4[16 * i + j] = (unsigned char)(L[32 * i + j] |
							 L[32 * i + 16 + j] << 4);
}

static void iq4_nl_ref(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += 18)
		iq4_impl(32, x, y, y + 2);
}

static void iq4_xs_ref(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += QK_K, y += 136)
		iq4_impl(QK_K, x, y, y + 8);
}

/* ---- fast k-quants: the same arithmetic, VL sub-blocks at once ---- */

/*
 * GCC/Clang vector extensions: one lane per sub-block, so every lane does
 * exactly the float operations, in exactly the order, of ggml's scalar
 * code for its sub-block (the sums still run element by element), and a
 * branch of the scalar code becomes a mask.  Comparisons give the same
 * masks as the scalar branches, NaN included (a comparison with NaN is
 * false in both).  Lanes whose arithmetic the scalar code would have
 * skipped (a division by a zero range, say) compute garbage that a mask
 * then throws away; nothing here traps.
 *
 * Eight lanes want AVX2: this part is compiled for it and used only when
 * the CPU has it (cpu_fast()); elsewhere the reference code runs, which
 * is as fast as ggml's own.  AVX2 does not bring FMA with it, and
 * -ffp-contract=off would keep the compiler from using it anyway.
 */
#if (defined(__x86_64__) || defined(__i386__)) && \
	(defined(__GNUC__) || defined(__clang__))
#define HAVE_FAST 1
#include <immintrin.h>
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif

#define VL 8
typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(VL * sizeof(int32_t))));
/* The same at any float's address: a load of one is a plain unaligned
 * vector load (a memcpy into a vf may go through the stack in halves and
 * stall the load that reads it back whole). */
typedef float vf_at __attribute__((vector_size(VL * sizeof(float)),
				    aligned(sizeof(float)), may_alias));

static inline vf vsel(vi m, vf a, vf b)
{
	return (vf)((m & (vi)a) | (~m & (vi)b));
}

static inline vi vseli(vi m, vi a, vi b)
{
	return (m & a) | (~m & b);
}

static inline vi vnearest(vf f)
{
	vi i = (vi)(f + 12582912.f);

	return (i & 0x007fffff) - 0x00400000;
}

static inline vi vclamp(vi l, int lo, int hi)
{
	l = vseli(l < lo, l - l + lo, l);
	return vseli(l > hi, l - l + hi, l);
}

static inline vf vabs(vf a)
{
	return (vf)((vi)a & 0x7fffffff);
}

static inline vf vfloat(vi a)
{
	return __builtin_convertvector(a, vf);
}

static inline int vany(vi m)
{
	int32_t acc = 0;

	for (int j = 0; j < VL; j++)
		acc |= m[j];
	return acc != 0;
}

/* Lanes j of rows i: xt[i][j] = x[stride * j + i], for VL sub-blocks. */
static void transpose_in(const float *x, int n, int stride, vf *xt)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < VL; j++)
			xt[i][j] = x[stride * j + i];
}

/*
 * make_qkx2_quants for VL sub-blocks of n <= 32 values at once (x and w
 * transposed).  L gets the levels, scale and the_min the results.
 */
static void qkx2_lanes(int n, int nmax, const vf *x, const vf *w, vi *L,
		       vf *scale_out, vf *the_min, float rmin, float rdelta,
		       int nstep, int use_mad)
{
	const vf zero = { 0 };
	vf xm[32], lf[32];
	vi Laux[32];
	vf min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];

	for (int i = 1; i < n; i++) {
		min = vsel(x[i] < min, x[i], min);
		max = vsel(x[i] > max, x[i], max);
		sum_w += w[i];
		sum_x += w[i] * x[i];
	}
	min = vsel(min > 0, zero, min);
	const vi degenerate = max == min;
	vf iscale = (float)nmax / (max - min);
	vf scale = 1 / iscale;
	vf best_error = zero;

	for (int i = 0; i < n; i++) {
		xm[i] = x[i] - min;
		L[i] = vclamp(vnearest(iscale * xm[i]), 0, nmax);
		vf diff = scale * vfloat(L[i]) + min - x[i];

		diff = use_mad ? vabs(diff) : diff * diff;
		best_error += w[i] * diff;
	}
	for (int is = 0; is <= nstep; is++) {
		iscale = (rmin + rdelta * is + nmax) / (max - min);
		vf sum_l = zero, sum_l2 = zero, sum_xl = zero;

		for (int i = 0; i < n; i++) {
			Laux[i] = vclamp(vnearest(iscale * xm[i]), 0, nmax);
			lf[i] = vfloat(Laux[i]);
			sum_l += w[i] * lf[i];
			sum_l2 += w[i] * lf[i] * lf[i];
			sum_xl += w[i] * lf[i] * x[i];
		}
		vf D = sum_w * sum_l2 - sum_l * sum_l;
		/* ggml returned early for degenerate lanes: they adopt nothing */
		vi ok = (D > 0) & ~degenerate;

		if (!vany(ok))
			continue;
		vf this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
		vf this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
		vi pos = this_min > 0;

		this_min = vsel(pos, zero, this_min);
		this_scale = vsel(pos, sum_xl / sum_l2, this_scale);
		vf cur_error = zero;

		for (int i = 0; i < n; i++) {
			vf diff = this_scale * lf[i] + this_min - x[i];

			diff = use_mad ? vabs(diff) : diff * diff;
			cur_error += w[i] * diff;
		}
		ok &= cur_error < best_error;
		if (!vany(ok))
			continue;
		for (int i = 0; i < n; i++)
			L[i] = vseli(ok, Laux[i], L[i]);
		best_error = vsel(ok, cur_error, best_error);
		scale = vsel(ok, this_scale, scale);
		min = vsel(ok, this_min, min);
		/* ggml goes on from the adopted min: x - min changes too */
		for (int i = 0; i < n; i++)
			xm[i] = x[i] - min;
	}
	for (int i = 0; i < n; i++)
		L[i] = vseli(degenerate, L[i] - L[i], L[i]);
	*scale_out = vsel(degenerate, zero, scale);
	*the_min = -min;
}

/* Per lane, the value of largest magnitude among x[0..n-1] (as
 * max_by_magnitude); *tiny marks the lanes whose magnitude is below
 * GROUP_MAX_EPS. */
static inline vf vmax_by_magnitude(int n, const vf *x, vi *tiny)
{
	const vf zero = { 0 };
	vf amax = zero, max = zero;

	for (int i = 0; i < n; i++) {
		vf ax = vabs(x[i]);
		vi m = ax > amax;

		amax = vsel(m, ax, amax);
		max = vsel(m, x[i], max);
	}
	*tiny = amax < GROUP_MAX_EPS;
	return max;
}

/*
 * first_levels for VL sub-blocks of n, the tiny lanes aside: the levels at
 * scale -nmax / max into l (without the offset), x*x into w, x*x*x into
 * wx, and the weighted sums into *sumlx and *suml2.
 */
static inline void first_levels_lanes(int n, int nmax, const vf *x, vf max,
				      vi *l, vf *w, vf *wx, vf *sumlx,
				      vf *suml2)
{
	const vf iscale = (float)-nmax / max;
	vf slx = { 0 }, sl2 = { 0 };

	for (int i = 0; i < n; i++) {
		l[i] = vclamp(vnearest(iscale * x[i]), -nmax, nmax - 1);
		vf lf = vfloat(l[i]);

		w[i] = x[i] * x[i];
		wx[i] = w[i] * x[i];
		slx += wx[i] * lf;
		sl2 += w[i] * lf * lf;
	}
	*sumlx = slx;
	*suml2 = sl2;
}

/* make_qx_quants (rmse_type 1, no weights) for VL sub-blocks of n. */
static vf qx_lanes(int n, int nmax, const vf *x, vi *L)
{
	const vf zero = { 0 };
	vf w[32], wx[32];
	vf sumlx, suml2;
	vi l[32];
	vi tiny;
	const vf max = vmax_by_magnitude(n, x, &tiny);

	first_levels_lanes(n, nmax, x, max, l, w, wx, &sumlx, &suml2);
	for (int i = 0; i < n; i++)
		L[i] = l[i] + nmax;
	vf scale = vsel(suml2 != 0, sumlx / suml2, zero);
	vf best = scale * sumlx;

	for (int is = -9; is <= 9; is++) {
		if (is == 0)
			continue;
		vf iscale = -(nmax + 0.1f * is) / max;

		sumlx = suml2 = zero;
		for (int i = 0; i < n; i++) {
			l[i] = vclamp(vnearest(iscale * x[i]), -nmax, nmax - 1);
			vf lf = vfloat(l[i]);

			sumlx += wx[i] * lf;
			suml2 += w[i] * lf * lf;
		}
		vi better = (suml2 > 0) & (sumlx * sumlx > best * suml2);

		if (!vany(better))
			continue;
		for (int i = 0; i < n; i++)
			L[i] = vseli(better, l[i] + nmax, L[i]);
		scale = vsel(better, sumlx / suml2, scale);
		best = vsel(better, scale * sumlx, best);
	}
	for (int i = 0; i < n; i++)
		L[i] = vseli(tiny, L[i] - L[i], L[i]);
	return vsel(tiny, zero, scale);
}

/* make_q3_quants (do_rmse) for VL sub-blocks of n; L is 0..2*nmax-1. */
static vf q3_lanes(int n, int nmax, const vf *x, vi *L)
{
	const vf zero = { 0 };
	vf w[32], wx[32];
	vf sumlx, suml2;
	vi tiny;
	const vf max = vmax_by_magnitude(n, x, &tiny);

	first_levels_lanes(n, nmax, x, max, L, w, wx, &sumlx, &suml2);
	/* A pass that changes nothing in a lane would change nothing again,
	 * so running every lane until none changes is ggml's per-lane stop. */
	for (int itry = 0; itry < 5; itry++) {
		vi changed = { 0 };

		for (int i = 0; i < n; i++) {
			vf lf = vfloat(L[i]);
			vf slx = sumlx - wx[i] * lf;
			vi m = slx > 0;

			if (!vany(m))
				continue;
			vf sl2 = suml2 - w[i] * lf * lf;
			vi new_l = vclamp(vnearest(x[i] * sl2 / slx), -nmax,
					  nmax - 1);
			vf nf = vfloat(new_l);

			m &= new_l != L[i];
			slx += wx[i] * nf;
			sl2 += w[i] * nf * nf;
			m &= (sl2 > 0) & (slx * slx * suml2 > sumlx * sumlx * sl2);
			L[i] = vseli(m, new_l, L[i]);
			sumlx = vsel(m, slx, sumlx);
			suml2 = vsel(m, sl2, suml2);
			changed |= m;
		}
		if (!vany(changed))
			break;
	}
	for (int i = 0; i < n; i++)
		L[i] = vseli(tiny, L[i] - L[i], L[i] + nmax);
	return vsel(tiny, zero, vsel(suml2 > 0, sumlx / suml2, zero));
}

static void q2_k_fast(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += QK_K, y += 84) {
		vf xt[2][16], wt[16], sv[2], mv[2], dv = { 0 }, dmv = { 0 };
		vi L[2][16];
		uint8_t Lb[QK_K];
		float scales[16], mins[16];

		for (int g = 0; g < 2; g++) {
			transpose_in(x + 128 * g, 16, 16, xt[g]);
			for (int l = 0; l < 16; l++)
				wt[l] = vabs(xt[g][l]);
			qkx2_lanes(16, 3, xt[g], wt, L[g], &sv[g], &mv[g],
				   -0.5f, 0.1f, 15, 1);
			for (int j = 0; j < VL; j++) {
				scales[8 * g + j] = sv[g][j];
				mins[8 * g + j] = mv[g][j];
			}
		}
		q2_k_put_scales(y, scales, mins);
		const float d = half_at(y + 80), dmin = half_at(y + 82);

		for (int g = 0; g < 2; g++) {
			for (int j = 0; j < VL; j++) {
				dv[j] = d * (y[8 * g + j] & 0xf);
				dmv[j] = dmin * (y[8 * g + j] >> 4);
			}
			vi keep = dv == 0;

			for (int l = 0; l < 16; l++) {
				vi q = vclamp(vnearest((xt[g][l] + dmv) / dv), 0, 3);

				q = vseli(keep, L[g][l], q);
				for (int j = 0; j < VL; j++)
					Lb[16 * (8 * g + j) + l] = (uint8_t)q[j];
			}
		}
		pack_2bit(Lb, y + 16);
	}
}

static void q3_k_fast(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += QK_K, y += 110) {
		vf xt[2][16], sv[2], dv = { 0 };
		vi L[2][16];
		int8_t Lb[QK_K];
		float scales[16], max_scale, amax;

		for (int g = 0; g < 2; g++) {
			transpose_in(x + 128 * g, 16, 16, xt[g]);
			sv[g] = q3_lanes(16, 4, xt[g], L[g]);
			for (int j = 0; j < VL; j++)
				scales[8 * g + j] = sv[g][j];
		}
		max_scale = max_by_magnitude(scales, 16, &amax);
		q3_k_put_scales(y, scales, max_scale);
		int sc[16];
		const float d = half_at(y + 108);

		q3_k_scales(y + 96, sc);
		for (int g = 0; g < 2; g++) {
			for (int j = 0; j < VL; j++)
				dv[j] = d * sc[8 * g + j];
			vi keep = dv == 0;

			for (int l = 0; l < 16; l++) {
				vi q = vclamp(vnearest(xt[g][l] / dv), -4, 3) + 4;

				q = vseli(keep, L[g][l], q);
				for (int j = 0; j < VL; j++)
					Lb[16 * (8 * g + j) + l] = (int8_t)q[j];
			}
		}
		q3_k_pack(Lb, y);
	}
}

static void q45_k_fast(const float *x, unsigned char *y, size_t nb, int nmax)
{
	const size_t bsize = nmax == 15 ? 144 : 176;

	for (size_t i = 0; i < nb; i++, x += QK_K, y += bsize) {
		unsigned char *sc12 = y + 4;
		vf xt[32], wt[32], sv, mv, av = { 0 }, dv = { 0 }, dmv = { 0 };
		vf sum_x2 = { 0 };
		vi L[32];
		uint8_t Lb[QK_K];

		transpose_in(x, 32, 32, xt);
		for (int l = 0; l < 32; l++)
			sum_x2 += xt[l] * xt[l];
		for (int j = 0; j < VL; j++)
			av[j] = sqrtf(sum_x2[j] / 32);
		for (int l = 0; l < 32; l++)
			wt[l] = av + vabs(xt[l]);
		if (nmax == 15)
			qkx2_lanes(32, 15, xt, wt, L, &sv, &mv, -1.f, 0.1f, 20, 0);
		else
			qkx2_lanes(32, 31, xt, wt, L, &sv, &mv, -0.5f, 0.1f, 15, 0);
		float scales[8], mins[8];

		for (int j = 0; j < VL; j++) {
			scales[j] = sv[j];
			mins[j] = mv[j];
		}
		q45_k_put_scales(y, scales, mins);
		const float d = half_at(y), dmin = half_at(y + 2);

		for (int j = 0; j < 8; j++) {
			unsigned sc, m;

			get_scale_min_k4(j, sc12, &sc, &m);
			dv[j] = d * sc;
			dmv[j] = dmin * m;
		}
		vi keep = dv == 0;

		for (int l = 0; l < 32; l++) {
			vi q = vclamp(vnearest((xt[l] + dmv) / dv), 0, nmax);

			q = vseli(keep, L[l], q);
			for (int j = 0; j < VL; j++)
				Lb[32 * j + l] = (uint8_t)q[j];
		}
		q45_k_pack(Lb, y, nmax);
	}
}

static void q4_k_fast(const float *x, unsigned char *y, size_t nb)
{
	q45_k_fast(x, y, nb, 15);
}

static void q5_k_fast(const float *x, unsigned char *y, size_t nb)
{
	q45_k_fast(x, y, nb, 31);
}

static void q6_k_fast(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += QK_K, y += 210) {
		vf xt[2][16], sv[2], dv = { 0 };
		vi L[2][16];
		int8_t Lb[QK_K];
		float scales[16], max_scale, max_abs_scale;

		for (int g = 0; g < 2; g++) {
			transpose_in(x + 128 * g, 16, 16, xt[g]);
			sv[g] = qx_lanes(16, 32, xt[g], L[g]);
			for (int j = 0; j < VL; j++)
				scales[8 * g + j] = sv[g][j];
		}
		max_scale = max_by_magnitude(scales, 16, &max_abs_scale);
		if (!q6_k_put_scales(y, scales, max_scale, max_abs_scale))
			continue;
		const float d = half_at(y + 208);

		for (int g = 0; g < 2; g++) {
			for (int j = 0; j < VL; j++)
				dv[j] = d * (int8_t)y[192 + 8 * g + j];
			vi keep = dv == 0;

			for (int l = 0; l < 16; l++) {
				vi q = vclamp(vnearest(xt[g][l] / dv), -32, 31) + 32;

				q = vseli(keep, L[g][l], q);
				for (int j = 0; j < VL; j++)
					Lb[16 * (8 * g + j) + l] = (int8_t)q[j];
			}
		}
		q6_k_pack(Lb, y);
	}
}

/* ---- fast 32-element blocks: lanes are the block's elements ---- */

/*
 * The scalar code's max and min searches are order-independent once the
 * values are finite, and its conversions are then in range; so a block
 * with a NaN or an infinity (or whose inverse scale overflows) goes
 * through the reference code instead, and every other block through
 * vectors.
 */
static inline int load_finite(const float *x, int n, vf *v)
{
	vi bad = { 0 };

	for (int k = 0; k < n / VL; k++) {
		v[k] = *(const vf_at *)(x + VL * k);
		bad |= (vi)vabs(v[k]) >= 0x7f800000;
	}
	return !vany(bad);
}

/* Lane-wise then across lanes, with the scalar code's strict compares. */
static inline float vmax_abs(const vf *v, int nv)
{
	vf m = vabs(v[0]);
	float r;

	for (int k = 1; k < nv; k++)
		m = vsel(vabs(v[k]) > m, vabs(v[k]), m);
	r = m[0];
	for (int j = 1; j < VL; j++)
		r = m[j] > r ? m[j] : r;
	return r;
}

/* roundf(v) for finite |v| < 2^31: trunc, then away from zero at .5 */
static inline vi vround(vf v)
{
	vi t = __builtin_convertvector(v, vi);
	vi up = vabs(v - vfloat(t)) >= 0.5f;

	return t + (up & ((v < 0) | 1));
}

/* C's truncating conversion, for finite values in range. */
static inline vi vtrunc(vf v)
{
	return __builtin_convertvector(v, vi);
}

/* The value with the largest magnitude, the first one on ties. */
static inline float signed_max(const float *x, const vf *v)
{
	float amax = vmax_abs(v, 4);
	int j = 0;

	while (fabsf(x[j]) != amax)
		j++;
	return x[j];
}

/*
 * Four vectors of 32-bit lanes to 16-bit, then to 8-bit lanes with the
 * saturating packs (signed, or unsigned when u), which work within
 * 128-bit halves: the 4-byte groups come out as q0[0-3] q1[0-3] q2[0-3]
 * q3[0-3] q0[4-7] ... q3[4-7], and the permute puts them back in element
 * order.  Saturating is the truncating conversion of the scalar code for
 * lanes in [-128, 127] (signed) or [0, 255] (unsigned).
 */
static inline __m256i pack_bytes(const vi *q, int u)
{
	__m256i a = _mm256_packs_epi32((__m256i)q[0], (__m256i)q[1]);
	__m256i b = _mm256_packs_epi32((__m256i)q[2], (__m256i)q[3]);

	return _mm256_permutevar8x32_epi32(u ? _mm256_packus_epi16(a, b) :
					       _mm256_packs_epi16(a, b),
					   _mm256_setr_epi32(0, 4, 1, 5, 2, 6,
							     3, 7));
}

/* A 32-element block's levels q, each in [-128, 127], as bytes. */
static inline void put_bytes32(const vi *q, unsigned char *out)
{
	_mm256_storeu_si256((__m256i *)out, pack_bytes(q, 0));
}

static void q8_0_fast(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += 34) {
		vf v[4];
		vi q[4];

		if (!load_finite(x, 32, v)) {
			q8_0_ref(x, y, 1);
			continue;
		}
		const float d = vmax_abs(v, 4) / 127;
		const float id = d ? 1.0f / d : 0.0f;

		if (!(id < 0x1p30f)) {
			q8_0_ref(x, y, 1);
			continue;
		}
		for (int k = 0; k < 4; k++)
			q[k] = vround(v[k] * id);
		put_bytes32(q, y + 2);
		put_half(y, d);
	}
}

/* A 32-element block's levels q (element VL*k+j in q[k][j]) into qs as
 * nibbles, elements j and j+16 a byte, and, where qh is not NULL (Q5_0,
 * Q5_1), their fifth bits into the 32-bit qh. */
static inline void put_levels32(const vi *q, unsigned char *qs,
				unsigned char *qh)
{
	vi n[4];

	/* byte j: element j's low nibble, element j + 16's high one */
	for (int k = 0; k < 2; k++) {
		n[k] = (q[k] & 0xf) | (q[k + 2] & 0xf) << 4;
		n[k + 2] = n[k] - n[k];
	}
	_mm_storeu_si128((__m128i *)qs,
			 _mm256_castsi256_si128(pack_bytes(n, 1)));
	if (qh) {
		uint32_t bits = 0;

		/* bit 4 of each lane to the sign bit, then one bit a lane */
		for (int k = 0; k < 4; k++)
			bits |= (uint32_t)_mm256_movemask_ps((__m256)(q[k] << 27))
				<< (VL * k);
		store_le32(qh, bits);
	}
}

/* Q4_0 and Q5_0: nmax 16 for Q4_0, 32 for Q5_0 (levels 0..nmax-1). */
static void qx_0_fast(const float *x, unsigned char *y, size_t nb, int nmax)
{
	const size_t bsize = nmax == 16 ? 18 : 22;
	const float half = nmax / 2, bias = half + 0.5f;

	for (size_t i = 0; i < nb; i++, x += 32, y += bsize) {
		unsigned char *qs = y + (nmax == 16 ? 2 : 6);
		vf v[4];
		vi q[4];

		if (!load_finite(x, 32, v)) {
			(nmax == 16 ? q4_0_ref : q5_0_ref)(x, y, 1);
			continue;
		}
		const float d = signed_max(x, v) / -half;
		const float id = d ? 1.0f / d : 0.0f;

		if (!(id < 0x1p30f)) {
			(nmax == 16 ? q4_0_ref : q5_0_ref)(x, y, 1);
			continue;
		}
		put_half(y, d);
		for (int k = 0; k < 4; k++) {
			q[k] = vtrunc(v[k] * id + bias);
			q[k] = vseli(q[k] > nmax - 1, q[k] - q[k] + nmax - 1, q[k]);
		}
		put_levels32(q, qs, nmax == 32 ? y + 2 : NULL);
	}
}

static void q4_0_fast(const float *x, unsigned char *y, size_t nb)
{
	qx_0_fast(x, y, nb, 16);
}

static void q5_0_fast(const float *x, unsigned char *y, size_t nb)
{
	qx_0_fast(x, y, nb, 32);
}

/* Q4_1 and Q5_1: nmax 15 or 31. */
static void qx_1_fast(const float *x, unsigned char *y, size_t nb, int nmax)
{
	const size_t bsize = nmax == 15 ? 20 : 24;

	for (size_t i = 0; i < nb; i++, x += 32, y += bsize) {
		unsigned char *qs = y + (nmax == 15 ? 4 : 8);
		vf v[4], vmin, vmax;
		vi q[4];
		float min, max;

		if (!load_finite(x, 32, v)) {
			(nmax == 15 ? q4_1_ref : q5_1_ref)(x, y, 1);
			continue;
		}
		vmin = vmax = v[0];
		for (int k = 1; k < 4; k++) {
			vmin = vsel(v[k] < vmin, v[k], vmin);
			vmax = vsel(v[k] > vmax, v[k], vmax);
		}
		min = vmin[0];
		max = vmax[0];
		for (int j = 1; j < VL; j++) {
			min = vmin[j] < min ? vmin[j] : min;
			max = vmax[j] > max ? vmax[j] : max;
		}
		const float d = (max - min) / nmax;
		const float id = d ? 1.0f / d : 0.0f;

		if (!(id < 0x1p30f) || !(max - min < 0x1p127f)) {
			(nmax == 15 ? q4_1_ref : q5_1_ref)(x, y, 1);
			continue;
		}
		put_half(y, d);
		put_half(y + 2, min);
		for (int k = 0; k < 4; k++) {
			q[k] = vtrunc((v[k] - min) * id + 0.5f);
			if (nmax == 15)
				q[k] = vseli(q[k] > 15, q[k] - q[k] + 15, q[k]);
		}
		put_levels32(q, qs, nmax == 31 ? y + 4 : NULL);
	}
}

static void q4_1_fast(const float *x, unsigned char *y, size_t nb)
{
	qx_1_fast(x, y, nb, 15);
}

static void q5_1_fast(const float *x, unsigned char *y, size_t nb)
{
	qx_1_fast(x, y, nb, 31);
}

/* ---- fast IQ4_NL / IQ4_XS: lanes are blocks (NL) or sub-blocks (XS) ---- */

/*
 * best_index_int8() on kvalues_iq4nl is a step function: it picks level
 * m exactly when x >= the midpoint of levels m-1 and m (its float
 * comparison of the two distances is monotone in x, and these midpoints
 * are where it flips; a NaN picks 15 in both).  So the level is a count
 * of midpoints passed, and the level's value a sum of the steps passed.
 */
static const float iq4_mid[15] = {
	-115.5f, -93.5f, -74.0f, -57.0f, -42.0f, -28.5f, -16.0f, -4.5f,
	7.0f, 19.0f, 31.5f, 45.5f, 61.0f, 79.0f, 101.0f,
};

static inline vi iq4_index(vf x, vf *value)
{
	vi l = { 0 };
	vf q = x - x - 127;

	for (int m = 0; m < 15; m++) {
		vi past = ~(vi)(x < iq4_mid[m]);

		l -= past;
		q += vsel(past, q - q + (float)(kvalues_iq4nl[m + 1] - kvalues_iq4nl[m]),
			  q - q);
	}
	if (value)
		*value = q;
	return l;
}

/* The first part of quantize_row_iq4_nl_impl for VL blocks of 32: the
 * scale each block would take on its own (0 for an all-tiny block). */
static vf iq4_scales(const vf *x)
{
	const vf zero = { 0 };
	vf amax = zero, max = zero, w[32], wx[32];

	for (int j = 0; j < 32; j++) {
		vf ax = vabs(x[j]);
		vi m = ax > amax;

		w[j] = x[j] * x[j];
		amax = vsel(m, ax, amax);
		max = vsel(m, x[j], max);
	}
	const vi tiny = amax < GROUP_MAX_EPS;
	vf d = -max / kvalues_iq4nl[0];
	vf id = 1 / d;
	vf sumqx = zero, sumq2 = zero, q;

	for (int j = 0; j < 32; j++) {
		iq4_index(id * x[j], &q);
		wx[j] = w[j] * q;	/* w*q, not w*x: ggml's order */
		sumqx += wx[j] * x[j];
		sumq2 += wx[j] * q;
	}
	d = sumqx / sumq2;
	vf best = d * sumqx;

	for (int itry = -7; itry <= 7; itry++) {
		id = (float)(itry + kvalues_iq4nl[0]) / max;
		sumqx = sumq2 = zero;
		for (int j = 0; j < 32; j++) {
			iq4_index(id * x[j], &q);
			vf wq = w[j] * q;

			sumqx += wq * x[j];
			sumq2 += wq * q;
		}
		vi better = (sumq2 > 0) & (sumqx * sumqx > best * sumq2);

		d = vsel(better, sumqx / sumq2, d);
		best = vsel(better, d * sumqx, best);
	}
	return vsel(tiny, zero, d);
}

static void iq4_nl_fast(const float *x, unsigned char *y, size_t nb)
{
	size_t i = 0;

	for (; nb - i >= VL; i += VL, x += 32 * VL, y += 18 * VL) {
		vf xt[32], sc, id;
		vi L[32];

		transpose_in(x, 32, 32, xt);
		sc = iq4_scales(xt);
		id = vsel(sc != 0, 1 / sc, sc - sc);
		for (int j = 0; j < 32; j++)
			L[j] = iq4_index(id * xt[j], NULL);
		for (int b = 0; b < VL; b++) {
			put_half(y + 18 * b, sc[b]);
			for (int j = 0; j < 16; j++)
				y[18 * b + 2 + j] = (unsigned char)(L[j][b] |
								    L[j + 16][b] << 4);
		}
	}
	iq4_nl_ref(x, y, nb - i);
}

static void iq4_xs_fast(const float *x, unsigned char *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += QK_K, y += 136) {
		vf xt[32], sc, idl;
		vi L[32];
		float scales[8], idls[8], max_scale = 0, amax_scale = 0;

		transpose_in(x, 32, 32, xt);
		sc = iq4_scales(xt);
		for (int ib = 0; ib < 8; ib++) {
			if (fabsf(sc[ib]) > amax_scale) {
				amax_scale = fabsf(sc[ib]);
				max_scale = sc[ib];
			}
		}
		for (int ib = 0; ib < 8; ib++)
			scales[ib] = sc[ib];
		iq4_xs_put_scales(y, scales, max_scale, idls);
		for (int ib = 0; ib < 8; ib++)
			idl[ib] = idls[ib];
		for (int j = 0; j < 32; j++)
			L[j] = iq4_index(idl * xt[j], NULL);
		for (int ib = 0; ib < 8; ib++)
			for (int j = 0; j < 16; j++)
				y[8 + 16 * ib + j] = (unsigned char)(L[j][ib] |
								     L[j + 16][ib] << 4);
	}
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
#define HAVE_FAST 0
#endif

/* ---- decoders (ggml's dequantize_row_*) ---- */

void ggml_decode_q4_0(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 18, dst += 32) {
		const float d = half_at(src);

		for (int j = 0; j < 16; j++) {
			dst[j] = ((src[2 + j] & 0xf) - 8) * d;
			dst[j + 16] = ((src[2 + j] >> 4) - 8) * d;
		}
	}
}

void ggml_decode_q4_1(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 20, dst += 32) {
		const float d = half_at(src), m = half_at(src + 2);

		for (int j = 0; j < 16; j++) {
			dst[j] = (src[4 + j] & 0xf) * d + m;
			dst[j + 16] = (src[4 + j] >> 4) * d + m;
		}
	}
}

void ggml_decode_q5_0(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 22, dst += 32) {
		const float d = half_at(src);
		const uint32_t qh = load_le32(src + 2);

		for (int j = 0; j < 16; j++) {
			int h0 = (qh >> j) << 4 & 0x10, h1 = (qh >> (j + 12)) & 0x10;

			dst[j] = (((src[6 + j] & 0xf) | h0) - 16) * d;
			dst[j + 16] = (((src[6 + j] >> 4) | h1) - 16) * d;
		}
	}
}

void ggml_decode_q5_1(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 24, dst += 32) {
		const float d = half_at(src), m = half_at(src + 2);
		const uint32_t qh = load_le32(src + 4);

		for (int j = 0; j < 16; j++) {
			int h0 = (qh >> j) << 4 & 0x10, h1 = (qh >> (j + 12)) & 0x10;

			dst[j] = ((src[8 + j] & 0xf) | h0) * d + m;
			dst[j + 16] = ((src[8 + j] >> 4) | h1) * d + m;
		}
	}
}

void ggml_decode_q8_0(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 34, dst += 32) {
		const float d = half_at(src);

		for (int j = 0; j < 32; j++)
			dst[j] = (int8_t)src[2 + j] * d;
	}
}

/* ggml has no Q8_1 dequantizer; the value is qs * d, s being a sum. */
void ggml_decode_q8_1(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 36, dst += 32) {
		const float d = half_at(src);

		for (int j = 0; j < 32; j++)
			dst[j] = (int8_t)src[4 + j] * d;
	}
}

void ggml_decode_q2_k(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 84) {
		const float d = half_at(src + 80), min = half_at(src + 82);
		const unsigned char *q = src + 16;
		int is = 0;

		for (int n = 0; n < QK_K; n += 128, q += 32) {
			for (int shift = 0; shift < 8; shift += 2) {
				for (int h = 0; h < 2; h++) {
					unsigned sc = src[is++];
					float dl = d * (sc & 0xf), ml = min * (sc >> 4);

					for (int l = 0; l < 16; l++)
						*dst++ = dl * ((q[16 * h + l] >> shift) & 3) - ml;
				}
			}
		}
	}
}

void ggml_decode_q3_k(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 110) {
		const float d_all = half_at(src + 108);
		const unsigned char *hm = src, *q = src + 32;
		int sc[16], is = 0;
		unsigned m = 1;

		q3_k_scales(src + 96, sc);
		for (int n = 0; n < QK_K; n += 128, q += 32) {
			for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
				for (int h = 0; h < 2; h++) {
					float dl = d_all * sc[is++];

					for (int l = 0; l < 16; l++)
						*dst++ = dl * ((int)((q[16 * h + l] >> shift) & 3) -
							((hm[16 * h + l] & m) ? 0 : 4));
				}
			}
		}
	}
}

void ggml_decode_q4_k(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 144) {
		const float d = half_at(src), min = half_at(src + 2);
		const unsigned char *q = src + 16;

		for (int j = 0; j < 8; j += 2, q += 32) {
			float d1, m1, d2, m2;

			scale_min_k4(j, src + 4, d, min, &d1, &m1);
			scale_min_k4(j + 1, src + 4, d, min, &d2, &m2);

			for (int l = 0; l < 32; l++)
				*dst++ = d1 * (q[l] & 0xf) - m1;
			for (int l = 0; l < 32; l++)
				*dst++ = d2 * (q[l] >> 4) - m2;
		}
	}
}

void ggml_decode_q5_k(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 176) {
		const float d = half_at(src), min = half_at(src + 2);
		const unsigned char *qh = src + 16, *ql = src + 48;
		unsigned u1 = 1, u2 = 2;

		for (int j = 0; j < 8; j += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
			float d1, m1, d2, m2;

			scale_min_k4(j, src + 4, d, min, &d1, &m1);
			scale_min_k4(j + 1, src + 4, d, min, &d2, &m2);

			for (int l = 0; l < 32; l++)
				*dst++ = d1 * ((ql[l] & 0xf) + (qh[l] & u1 ? 16 : 0)) - m1;
			for (int l = 0; l < 32; l++)
				*dst++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
		}
	}
}

void ggml_decode_q6_k(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 210) {
		const float d = half_at(src + 208);
		const unsigned char *ql = src, *qh = src + 128;
		const unsigned char *sc = src + 192;

		for (int n = 0; n < QK_K; n += 128, ql += 64, qh += 32, sc += 8) {
			for (int l = 0; l < 32; l++) {
				int is = l / 16;
				int q1 = ((ql[l] & 0xf) | ((qh[l] >> 0) & 3) << 4) - 32;
				int q2 = ((ql[l + 32] & 0xf) | ((qh[l] >> 2) & 3) << 4) - 32;
				int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
				int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;

				dst[n + l] = d * (int8_t)sc[is] * q1;
				dst[n + l + 32] = d * (int8_t)sc[is + 2] * q2;
				dst[n + l + 64] = d * (int8_t)sc[is + 4] * q3;
				dst[n + l + 96] = d * (int8_t)sc[is + 6] * q4;
			}
		}
		dst += QK_K;
	}
}

void ggml_decode_q8_k(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 292, dst += QK_K) {
		const float d = bitsf(load_le32(src));

		for (int j = 0; j < QK_K; j++)
			dst[j] = d * (int8_t)src[4 + j];
	}
}

void ggml_decode_iq4_nl(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 18, dst += 32) {
		const float d = half_at(src);

		for (int j = 0; j < 16; j++) {
			dst[j] = d * kvalues_iq4nl[src[2 + j] & 0xf];
			dst[j + 16] = d * kvalues_iq4nl[src[2 + j] >> 4];
		}
	}
}

void ggml_decode_iq4_xs(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 136) {
		const float d = half_at(src);
		const unsigned scales_h = load_le16(src + 2);
		const unsigned char *qs = src + 8;

		for (int ib = 0; ib < 8; ib++, qs += 16, dst += 32) {
			int ls = ((src[4 + ib / 2] >> 4 * (ib % 2)) & 0xf) |
				 ((scales_h >> 2 * ib) & 3) << 4;
			const float dl = d * (ls - 32);

			for (int j = 0; j < 16; j++) {
				dst[j] = dl * kvalues_iq4nl[qs[j] & 0xf];
				dst[j + 16] = dl * kvalues_iq4nl[qs[j] >> 4];
			}
		}
	}
}

/* The trit in the top of b * 3^n (8-bit wrap-around), minus one. */
static inline float trit(unsigned b, unsigned pow3)
{
	unsigned q = (b * pow3) & 0xff;

	return (float)((int)((q * 3) >> 8) - 1);
}

void ggml_decode_tq1_0(const unsigned char *src, float *dst, size_t nb)
{
	static const unsigned pow3[5] = { 1, 3, 9, 27, 81 };

	for (size_t i = 0; i < nb; i++, src += 54) {
		const float d = half_at(src + 52);

		for (int n = 0; n < 5; n++)
			for (int m = 0; m < 32; m++)
				*dst++ = trit(src[m], pow3[n]) * d;
		for (int n = 0; n < 5; n++)
			for (int m = 0; m < 16; m++)
				*dst++ = trit(src[32 + m], pow3[n]) * d;
		for (int n = 0; n < 4; n++)
			for (int j = 0; j < 4; j++)
				*dst++ = trit(src[48 + j], pow3[n]) * d;
	}
}

void ggml_decode_tq2_0(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 66) {
		const float d = half_at(src + 64);

		for (int j = 0; j < 64; j += 32)
			for (int l = 0; l < 4; l++)
				for (int m = 0; m < 32; m++)
					*dst++ = (float)((int)((src[j + m] >> (2 * l)) & 3) - 1) * d;
	}
}

void ggml_decode_mxfp4(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 17, dst += 32) {
		const float d = e8m0_half(src[0]);

		for (int j = 0; j < 16; j++) {
			dst[j] = kvalues_mxfp4[src[1 + j] & 0xf] * d;
			dst[j + 16] = kvalues_mxfp4[src[1 + j] >> 4] * d;
		}
	}
}

void ggml_decode_q1_0(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 18, dst += 128) {
		const float d = half_at(src), neg_d = -d;

		for (int j = 0; j < 128; j++)
			dst[j] = (src[2 + j / 8] >> (j % 8)) & 1 ? d : neg_d;
	}
}

void ggml_decode_q2_0(const unsigned char *src, float *dst, size_t nb)
{
	for (size_t i = 0; i < nb; i++, src += 18, dst += 64) {
		const float d = half_at(src);

		for (int j = 0; j < 64; j++)
			dst[j] = ((int)((src[2 + j / 4] >> (j % 4) * 2) & 3) - 1) * d;
	}
}

/* ---- the table ---- */

typedef void quant_fn(const float *x, unsigned char *y, size_t nblocks);

struct kernel {
	enum dtype t;
	quant_fn *fast;	/* NULL: the reference code is the fast one */
	quant_fn *ref;
};

#if HAVE_FAST
#define FAST(f) f
#else
#define FAST(f) NULL
#endif

static const struct kernel kernels[] = {
	{ DT_Q4_0, FAST(q4_0_fast), q4_0_ref },
	{ DT_Q4_1, FAST(q4_1_fast), q4_1_ref },
	{ DT_Q5_0, FAST(q5_0_fast), q5_0_ref },
	{ DT_Q5_1, FAST(q5_1_fast), q5_1_ref },
	{ DT_Q8_0, FAST(q8_0_fast), q8_0_ref },
	{ DT_Q8_1, NULL, q8_1_ref },
	{ DT_Q2_K, FAST(q2_k_fast), q2_k_ref },
	{ DT_Q3_K, FAST(q3_k_fast), q3_k_ref },
	{ DT_Q4_K, FAST(q4_k_fast), q4_k_ref },
	{ DT_Q5_K, FAST(q5_k_fast), q5_k_ref },
	{ DT_Q6_K, FAST(q6_k_fast), q6_k_ref },
	{ DT_Q8_K, NULL, q8_k_ref },
	{ DT_IQ4_NL, FAST(iq4_nl_fast), iq4_nl_ref },
	{ DT_IQ4_XS, FAST(iq4_xs_fast), iq4_xs_ref },
	{ DT_TQ1_0, NULL, tq1_0_ref },
	{ DT_TQ2_0, NULL, tq2_0_ref },
	{ DT_MXFP4, NULL, mxfp4_ref },
	{ DT_Q1_0, NULL, q1_0_ref },
	{ DT_Q2_0, NULL, q2_0_ref },
};

static const struct kernel *kernel_of(enum dtype t)
{
	for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++)
		if (kernels[i].t == t)
			return &kernels[i];
	return NULL;
}

int ggml_can_quantize(enum dtype t)
{
	return kernel_of(t) != NULL;
}

/* 1 if the CPU runs the fast kernels (compiled for AVX2). */
static int cpu_fast(void)
{
#if HAVE_FAST
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
#else
	return 0;
#endif
}

static int quantize(enum dtype t, const float *src, void *dst, size_t n,
		    int ref)
{
	const struct kernel *k = kernel_of(t);
	unsigned block;

	if (!k)
		return -1;
	block = dtype_get(t)->block;
	if (n % block)
		return -1;
	(ref || !k->fast || !cpu_fast() ? k->ref : k->fast)(src, dst,
								  n / block);
	return 0;
}

int ggml_quantize(enum dtype t, const float *src, void *dst, size_t n)
{
	return quantize(t, src, dst, n, 0);
}

int ggml_quantize_ref(enum dtype t, const float *src, void *dst, size_t n)
{
	return quantize(t, src, dst, n, 1);
}
