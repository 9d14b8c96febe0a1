/*
 * Unit tests for the F16 decoder of the dtype table (quant/dtype.c): the
 * F16C path, where the CPU has it, gives the bits of the portable
 * f16_to_f32() for every code, signalling NaNs included, at every start
 * and length (groups of 8 and the tail).
 */
#include <stdlib.h>

#include "quant/dtype.h"
#include "tests/check.h"

TEST(dtype_f16_decoder_every_code)
{
	const struct dtype_info *di = dtype_get(DT_F16);
	unsigned char *src = malloc(2 * 65536 + 16);
	float *out = malloc(sizeof(float) * (65536 + 8));
	uint64_t bad = 0;

	CHECK(src != NULL && out != NULL);
	if (!src || !out) {
		free(src);
		free(out);
		return;
	}
	for (uint32_t c = 0; c < 65536; c++) {
		src[2 * c] = c & 0xff;
		src[2 * c + 1] = c >> 8;
	}
	/* every start in a group of 8, the rest of the codes from there */
	for (size_t off = 0; off < 8; off++) {
		di->decode(src + 2 * off, out, 65536 - off);
		for (size_t i = 0; i < 65536 - off; i++) {
			float want = f16_to_f32((uint16_t)(off + i));

			bad += memcmp(&out[i], &want, sizeof(want)) != 0;
		}
	}
	/* short runs: tails only, and a group with one signalling NaN */
	for (size_t n = 0; n <= 17; n++) {
		di->decode(src + 2 * 0x7bf8, out, n);
		for (size_t i = 0; i < n; i++) {
			float want = f16_to_f32((uint16_t)(0x7bf8 + i));

			bad += memcmp(&out[i], &want, sizeof(want)) != 0;
		}
	}
	CHECK_EQ_U(bad, 0);
	/* a signalling NaN keeps its payload and stays signalling */
	di->decode(src + 2 * 0x7c01, out, 8);
	uint32_t u;

	memcpy(&u, &out[0], 4);
	CHECK_EQ_U(u, 0x7f802000);
	free(src);
	free(out);
}
