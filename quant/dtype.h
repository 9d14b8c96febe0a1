/*
 * quant/dtype.h - stored element types and their conversions to and from
 * float32.
 *
 * One table (dtype.c) has a row per stored dtype: its name as the file
 * formats spell it, how many elements make a block and how many bytes a
 * block takes (1 element / 4 bytes for F32; 2 elements / 1 byte for packed
 * F4; 32 / 34 for a GGUF Q8_0 block later), and the function that decodes
 * whole blocks to float32 (NULL when qscope cannot decode the values).
 * Conversions round to nearest, ties to even, keep NaN and infinity, and are
 * bit-exact with PyTorch, numpy and ggml (../shared/reference/FORMATS.md §5).
 * No I/O, no curses.
 */
#ifndef QSCOPE_QUANT_DTYPE_H
#define QSCOPE_QUANT_DTYPE_H

#include <stddef.h>
#include <stdint.h>

enum dtype {
	DT_NONE = 0,	/* not a dtype (unknown name) */
	DT_F64,
	DT_F32,
	DT_F16,
	DT_BF16,
	DT_F8_E4M3,	/* E4M3FN: no infinity, S.1111.111 is NaN */
	DT_F8_E5M2,
	DT_F8_E4M3FNUZ,
	DT_F8_E5M2FNUZ,
	DT_F8_E8M0,
	DT_F6_E2M3,
	DT_F6_E3M2,
	DT_F4,		/* E2M1, two per byte, element 2i in the low nibble */
	DT_C64,		/* two float32: torch.complex64, numpy complex64 */
	DT_I64,
	DT_I32,
	DT_I16,
	DT_I8,
	DT_U64,
	DT_U32,
	DT_U16,
	DT_U8,
	DT_BOOL,
	/* GGUF block types (ggml_type ids in the table; FORMATS.md 2.4) */
	DT_Q4_0,
	DT_Q4_1,
	DT_Q5_0,
	DT_Q5_1,
	DT_Q8_0,
	DT_Q8_1,
	DT_Q2_K,
	DT_Q3_K,
	DT_Q4_K,
	DT_Q5_K,
	DT_Q6_K,
	DT_Q8_K,
	DT_IQ2_XXS,
	DT_IQ2_XS,
	DT_IQ3_XXS,
	DT_IQ1_S,
	DT_IQ4_NL,
	DT_IQ3_S,
	DT_IQ2_S,
	DT_IQ4_XS,
	DT_IQ1_M,
	DT_TQ1_0,
	DT_TQ2_0,
	DT_MXFP4,
	DT_NVFP4,
	DT_Q1_0,
	DT_Q2_0,
	/* Complex (real, imaginary) pairs: listed, values not decoded (a
	 * value is two numbers); C64 above is the safetensors one. */
	DT_C128,	/* two float64: torch.complex128, numpy complex128 */
	DT_COUNT
};

/* Decode nblocks whole blocks at src (little-endian) into dst. */
typedef void dtype_decode_fn(const unsigned char *src, float *dst,
			     size_t nblocks);

struct dtype_info {
	const char *name;	/* safetensors spelling; ggml's for GGUF blocks */
	unsigned block;		/* elements per block */
	unsigned block_bytes;	/* bytes per block */
	dtype_decode_fn *decode;	/* NULL: values not decodable */
	int is_float;		/* a floating-point type (F* and friends) */
	int safetensors;	/* a dtype a safetensors header may name */
	int ggml;		/* its ggml_type id in GGUF files; -1 if none */
};

/* The row of d; a row with name "?" for DT_NONE or out-of-range values. */
const struct dtype_info *dtype_get(enum dtype d);

/* The dtype named name (exact, case-sensitive); DT_NONE if none. */
enum dtype dtype_from_name(const char *name);

/* The dtype with this ggml_type id; DT_NONE for removed or unknown ids. */
enum dtype dtype_from_ggml(uint32_t id);

/* Bits per element: 8 * block_bytes / block, as a double (4.0 for F4). */
double dtype_bits(enum dtype d);

/* ---- scalar conversions (round to nearest even) ---- */

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);		/* overflow gives infinity */

float bf16_to_f32(uint16_t b);
uint16_t f32_to_bf16(float f);		/* NaN kept quiet */

/* The value of a 16-bit code of dtype d: DT_BF16, else read as DT_F16. */
float code16_to_f32(enum dtype d, uint16_t code);

float f32_round_tf32(float f);		/* keep 10 mantissa bits */

/* FP8.  saturate: 1 clamps finite overflow (and infinity) to +-max finite,
 * as quantizers want; 0 follows PyTorch's cast (E4M3 overflow gives NaN,
 * E5M2 overflow gives infinity).  NaN stays NaN either way. */
float fp8_e4m3_to_f32(uint8_t b);
uint8_t f32_to_fp8_e4m3(float f, int saturate);
float fp8_e5m2_to_f32(uint8_t b);
uint8_t f32_to_fp8_e5m2(float f, int saturate);

float fp8_e4m3fnuz_to_f32(uint8_t b);
float fp8_e5m2fnuz_to_f32(uint8_t b);
float e8m0_to_f32(uint8_t b);

/* FP4 E2M1 code (low 4 bits), saturating to +-6. */
float e2m1_to_f32(uint8_t code);
uint8_t f32_to_e2m1(float f);

#endif
