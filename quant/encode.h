/*
 * quant/encode.h - float32 to F16 and BF16 in bulk, as the writers store
 * them (little-endian codes).
 *
 * The bytes are those of f32_to_f16() and f32_to_bf16() (quant/dtype.h)
 * element by element, on every CPU: round to nearest even, overflow to
 * infinity, every NaN to the quiet NaN of its sign (F16: 0x7e00; BF16: the
 * top half with the quiet bit set).  Where the CPU has them, AVX2 (BF16)
 * and F16C (F16) do eight or sixteen values an instruction.  No I/O, no
 * allocation; any thread.
 */
#ifndef QSCOPE_QUANT_ENCODE_H
#define QSCOPE_QUANT_ENCODE_H

#include <stddef.h>

/* n floats at x to 2 n bytes at out. */
void encode_f16(const float *x, unsigned char *out, size_t n);
void encode_bf16(const float *x, unsigned char *out, size_t n);

/*
 * What the CPU offers, asked once (CPUID, XGETBV): 1 if it has AVX and
 * F16C and the OS saves the YMM registers (for want_avx2: AVX2 too).
 * CPUID directly: not every compiler knows "f16c" for
 * __builtin_cpu_supports().  quant/dtype.c decodes F16 with it too.
 */
int cpu_has_f16c(int want_avx2);

#endif
