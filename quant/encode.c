/*
 * quant/encode.c - float32 to F16 and BF16 in bulk (quant/encode.h).
 *
 * The portable loops call the scalar conversions of quant/dtype.c, which
 * are the definition.  The vector paths give the same bits:
 *  - BF16 is integer arithmetic on the bit patterns, the scalar code's
 *    expression eight lanes at a time;
 *  - F16 goes through VCVTPS2PH with round-to-nearest-even in the
 *    instruction (not the MXCSR mode), which rounds, overflows to
 *    infinity and handles subnormals as f32_to_f16() does; only NaN
 *    differs (it keeps part of the payload), so a group of eight holding
 *    a NaN goes through the scalar code.
 */
#include "quant/encode.h"

#include <stdint.h>
#include <string.h>

#include "quant/bytes.h"
#include "quant/dtype.h"

static void f16_scalar(const float *x, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_le16(out + 2 * i, f32_to_f16(x[i]));
}

static void bf16_scalar(const float *x, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_le16(out + 2 * i, f32_to_bf16(x[i]));
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
	HOST_LE
#include <cpuid.h>
#include <immintrin.h>

__attribute__((target("avx,f16c")))
static void f16_f16c(const float *x, unsigned char *out, size_t n)
{
	size_t i = 0;

	for (; n - i >= 8; i += 8) {
		__m256 v = _mm256_loadu_ps(x + i);

		if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)))
			f16_scalar(x + i, out + 2 * i, 8);
		else
			_mm_storeu_si128((__m128i *)(out + 2 * i),
					 _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
	}
	f16_scalar(x + i, out + 2 * i, n - i);
}

/* f32_to_bf16() on eight lanes. */
__attribute__((target("avx2")))
static inline __m256i bf16_lanes(__m256i u)
{
	const __m256i abs = _mm256_set1_epi32(0x7fffffff);
	const __m256i inf = _mm256_set1_epi32(0x7f800000);
	__m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16),
				       _mm256_set1_epi32(1));
	__m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u,
				_mm256_set1_epi32(0x7fff)), odd), 16);
	__m256i q = _mm256_or_si256(_mm256_srli_epi32(u, 16),
				    _mm256_set1_epi32(0x40));
	/* |u| <= 0x7fffffff: the signed compare is right */
	__m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), inf);

	return _mm256_blendv_epi8(r, q, nan);
}

__attribute__((target("avx2")))
static void bf16_avx2(const float *x, unsigned char *out, size_t n)
{
	size_t i = 0;

	for (; n - i >= 16; i += 16) {
		__m256i a = bf16_lanes(_mm256_loadu_si256((const __m256i *)(x + i)));
		__m256i b = bf16_lanes(_mm256_loadu_si256((const __m256i *)(x + i + 8)));
		/* codes fit 16 bits, so the saturating pack only packs; it
		 * works within 128-bit halves, the permute restores order */
		__m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b),
						     0xd8);

		_mm256_storeu_si256((__m256i *)(out + 2 * i), p);
	}
	bf16_scalar(x + i, out + 2 * i, n - i);
}

/* CPUID leaf 1 ECX: OSXSAVE, AVX, F16C (bits 27-29); XCR0 saves the YMM
 * registers (bits 1, 2).  AVX2 from leaf 7 EBX bit 5. */
int cpu_has_f16c(int want_avx2)
{
	static int known = -1;
	int v = __atomic_load_n(&known, __ATOMIC_RELAXED);

	if (v < 0) {
		unsigned a, b, c, d, lo, hi;

		v = 0;
		if (__get_cpuid(1, &a, &b, &c, &d) &&
		    (c & (7u << 27)) == (7u << 27)) {
			__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
			if ((lo & 6) == 6) {
				v = 1;
				if (__get_cpuid_count(7, 0, &a, &b, &c, &d) &&
				    (b & (1u << 5)))
					v = 3;
			}
		}
		__atomic_store_n(&known, v, __ATOMIC_RELAXED);
	}
	return want_avx2 ? v == 3 : v != 0;
}

void encode_f16(const float *x, unsigned char *out, size_t n)
{
	if (cpu_has_f16c(0))
		f16_f16c(x, out, n);
	else
		f16_scalar(x, out, n);
}

void encode_bf16(const float *x, unsigned char *out, size_t n)
{
	if (cpu_has_f16c(1))
		bf16_avx2(x, out, n);
	else
		bf16_scalar(x, out, n);
}
#else
int cpu_has_f16c(int want_avx2)
{
	(void)want_avx2;
	return 0;
}

void encode_f16(const float *x, unsigned char *out, size_t n)
{
	f16_scalar(x, out, n);
}

void encode_bf16(const float *x, unsigned char *out, size_t n)
{
	bf16_scalar(x, out, n);
}
#endif
