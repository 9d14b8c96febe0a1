/*
 * Unit tests for quant/grid.c: the levels of each scheme against
 * hand-computed numbers (FORMATS.md's NF4 codes, int4 steps, ternary, the
 * ends of the FP8 grids), the block rules, the nearest level, and the
 * streamed comparison against scheme_error() (the same figures, bit for
 * bit) and against its own counts.
 */
#include <stdlib.h>

#include "quant/dtype.h"
#include "quant/grid.h"
#include "quant/schemes.h"
#include "tests/check.h"

static void grid_of(struct grid *g, const char *name)
{
	const struct scheme *s = scheme_find(name);

	CHECK(s != NULL);
	CHECK_EQ_I(grid_init(g, s), 0);
}

TEST(grid_nf4_codes)
{
	/* FORMATS.md: the 16 NF4 codes, ascending */
	static const double nf4[16] = {
		-1.0, -0.6961928009986877, -0.5250730514526367,
		-0.39491748809814453, -0.28444138169288635,
		-0.18477343022823334, -0.09105003625154495, 0.0,
		0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
		0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
		0.7229568362236023, 1.0,
	};
	struct grid g;

	grid_of(&g, "nf4");
	CHECK_EQ_I(g.kind, GRID_LEVELS);
	CHECK_EQ_U(g.n, 16);
	CHECK_EQ_U(g.block, 64);
	for (int i = 0; i < 16; i++)
		CHECK_FBITS(g.code[i], (float)nf4[i]);
	grid_of(&g, "nf4-dq");
	CHECK_EQ_U(g.n, 16);
	/* FP4: -0 and +0 are one level, so 15 */
	grid_of(&g, "fp4");
	CHECK_EQ_U(g.n, 15);
	CHECK_FBITS(g.code[0], -1.0f);
	CHECK_FBITS(g.code[7], 0.0f);
	CHECK_NEAR(g.code[8], 1.0 / 192, 1e-9);
	CHECK_FBITS(g.code[14], 1.0f);
}

TEST(grid_nf4_block)
{
	struct grid g;
	struct scheme_ctx c;
	float x[64], s, o;

	memset(&c, 0, sizeof(c));
	grid_of(&g, "nf4");
	for (int i = 0; i < 64; i++)
		x[i] = (float)(i - 32) / 16;	/* -2 .. 1.9375 */
	grid_block(&g, &c, x, 64, &s, &o);
	CHECK_FBITS(s, 2.0f);		/* absmax */
	CHECK_FBITS(o, 0.0f);
	/* -2 is code -1; 0.5 / 2 = 0.25 is nearest 0.24611 (index 10) */
	CHECK_EQ_U(grid_nearest(&g, -1.0f), 0);
	CHECK_EQ_U(grid_nearest(&g, 0.25f), 10);
	CHECK_EQ_U(grid_nearest(&g, 0.0f), 7);
	CHECK_EQ_U(grid_nearest(&g, 5.0f), 15);
	CHECK_EQ_U(grid_nearest(&g, -5.0f), 0);
}

TEST(grid_int4_steps)
{
	struct grid g;
	struct scheme_ctx c;
	float x[128], s, o;

	memset(&c, 0, sizeof(c));
	grid_of(&g, "int4-g128");
	CHECK_EQ_U(g.n, 16);
	CHECK_FBITS(g.code[0], -8.0f);
	CHECK_FBITS(g.code[15], 7.0f);
	for (int i = 0; i < 128; i++)
		x[i] = i % 2 ? 0.25f : -0.125f;
	x[5] = -3.5f;			/* absmax 3.5: scale 3.5 / 7 = 0.5 */
	grid_block(&g, &c, x, 128, &s, &o);
	CHECK_FBITS(s, 0.5f);
	CHECK_FBITS(o, 0.0f);
	/* -3.5 / 0.5 = -7: index 1 (codes start at -8) */
	CHECK_EQ_U(grid_nearest(&g, -3.5f / s), 1);

	/* asymmetric: [-1, 2] gives scale 3 / 15 = 0.2, zero 5, offset -1 */
	grid_of(&g, "int4-g128-asym");
	CHECK_EQ_U(g.n, 16);
	CHECK_FBITS(g.code[0], 0.0f);
	for (int i = 0; i < 128; i++)
		x[i] = 0;
	x[3] = -1;
	x[9] = 2;
	grid_block(&g, &c, x, 128, &s, &o);
	CHECK_NEAR(s, 0.2, 1e-7);
	CHECK_NEAR(o, -1.0, 1e-6);

	/* int8: 255 steps, per outer row */
	grid_of(&g, "int8");
	CHECK_EQ_U(g.n, 255);
	CHECK_EQ_U(g.block, 0);
	CHECK_FBITS(g.code[0], -127.0f);
	CHECK_FBITS(g.code[254], 127.0f);

	/* q4_0: d = max / -8 with max the signed extreme */
	grid_of(&g, "q4_0");
	for (int i = 0; i < 32; i++)
		x[i] = 0.5f;
	x[7] = 4;
	grid_block(&g, &c, x, 32, &s, &o);
	CHECK_FBITS(s, -0.5f);
	CHECK_EQ_U(grid_nearest(&g, 4 / s), 0);	/* q = -8 */
}

TEST(grid_ternary_binary)
{
	struct grid g;
	struct scheme_ctx c;
	float x[8] = { 1, -1, 3, -3, 0, 0, 2, -2 }, s, o;

	memset(&c, 0, sizeof(c));
	grid_of(&g, "ternary");
	CHECK_EQ_U(g.n, 3);
	CHECK_FBITS(g.code[0], -1.0f);
	CHECK_FBITS(g.code[1], 0.0f);
	CHECK_FBITS(g.code[2], 1.0f);
	CHECK_EQ_U(g.block, UINT64_MAX);
	c.mean = 0.75f;			/* gamma = mean |x| of the tensor */
	grid_block(&g, &c, NULL, 0, &s, &o);
	CHECK_FBITS(s, 0.75f);

	grid_of(&g, "binary");
	CHECK_EQ_U(g.n, 2);
	CHECK_FBITS(g.code[0], -1.0f);
	CHECK_FBITS(g.code[1], 1.0f);
	grid_block(&g, &c, x, 8, &s, &o);	/* mean |x| = 12 / 8 */
	CHECK_FBITS(s, 1.5f);
}

TEST(grid_fp8_ends)
{
	struct grid g;
	struct scheme_ctx c;
	float s, o;

	memset(&c, 0, sizeof(c));
	grid_of(&g, "fp8-e4m3");
	/* 126 positive, 126 negative, one zero */
	CHECK_EQ_U(g.n, 253);
	CHECK_FBITS(g.code[0], -448.0f);
	CHECK_FBITS(g.code[252], 448.0f);
	CHECK_FBITS(g.code[126], 0.0f);
	CHECK_FBITS(g.code[127], 0.001953125f);	/* 2^-9, least subnormal */
	CHECK_FBITS(g.code[251], 416.0f);
	c.absmax = 896;
	grid_block(&g, &c, NULL, 0, &s, &o);
	CHECK_FBITS(s, 2.0f);			/* absmax / 448 */

	grid_of(&g, "fp8-e5m2");
	CHECK_EQ_U(g.n, 247);
	CHECK_FBITS(g.code[0], -57344.0f);
	CHECK_FBITS(g.code[246], 57344.0f);
	CHECK_FBITS(g.code[124], 1.52587890625e-05f);	/* 2^-16 */
	CHECK_FBITS(g.code[245], 49152.0f);

	grid_of(&g, "mxfp4");
	CHECK_EQ_U(g.n, 15);
	CHECK_FBITS(g.code[14], 6.0f);
	{
		float x[32] = { 5, -0.25f };

		grid_block(&g, &c, x, 32, &s, &o);
		CHECK_FBITS(s, 1.0f);	/* 2^(floor(log2 5) - 2) */
		x[0] = 0.3f;
		grid_block(&g, &c, x, 32, &s, &o);
		CHECK_FBITS(s, 0.0625f);
	}
}

TEST(grid_casts)
{
	struct grid g;

	grid_of(&g, "f16");
	CHECK_EQ_I(g.kind, GRID_LIMIT);
	CHECK_NEAR(g.limit, 65504, 0);
	grid_of(&g, "bf16");
	CHECK_EQ_I(g.kind, GRID_LIMIT);
	CHECK_NEAR(g.limit, 3.3895313892515355e38, 1e24);
	grid_of(&g, "f32");
	CHECK_EQ_I(g.kind, GRID_NONE);
	/* every row of the table is known here */
	for (size_t i = 0; i < nschemes; i++)
		CHECK_EQ_I(grid_init(&g, &schemes[i]), 0);
}

TEST(grid_columns_sum)
{
	struct histogram h;
	double col[7], sum = 0;
	float x[100];

	for (int i = 0; i < 100; i++)
		x[i] = (float)i;
	hist_init(&h, 0, 99, 20);
	hist_add(&h, x, 100);
	grid_columns(&h, col, 7);
	for (int c = 0; c < 7; c++)
		sum += col[c];
	CHECK_NEAR(sum, 100, 0);
	hist_release(&h);
	CHECK_EQ_I(grid_column(0, 10, 10, -1), -1);
	CHECK_EQ_I(grid_column(0, 10, 10, 0), 0);
	CHECK_EQ_I(grid_column(0, 10, 10, 10), 9);
	CHECK_EQ_I(grid_column(0, 10, 10, 5.5), 5);
}

/* ---- the streamed comparison ---- */

struct mem {
	const float *x;
};

static int mem_read(void *ctx, uint64_t first, size_t n, float *out)
{
	struct mem *m = ctx;

	memcpy(out, m->x + first, n * sizeof(float));
	return 0;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static void check_compare(const char *name, const float *x,
			  const struct scheme_shape *sh, uint64_t n)
{
	const struct scheme *s = scheme_find(name);
	struct mem m = { x };
	struct compute_ctl ctl = { 3, NULL, NULL, NULL };
	struct grid_result r;
	struct err_acc acc;
	uint64_t hx = 0, hy = 0, he = 0, used = 0;

	CHECK_EQ_I(scheme_error(s, sh, mem_read, &m, &ctl, &acc), 0);
	CHECK_EQ_I(grid_compare(s, sh, mem_read, &m, 64, &ctl, &r), 0);
	/* the same figures as `qscope try`, bit for bit */
	CHECK(memcmp(&acc, &r.acc, sizeof(acc)) == 0);
	for (unsigned b = 0; b < 64; b++) {
		hx += r.x.counts[b];
		hy += r.y.counts[b];
		he += r.e.counts[b];
	}
	CHECK_EQ_U(hx, n);
	CHECK_EQ_U(hy + r.y.below + r.y.above, n);
	CHECK_EQ_U(he, n);
	for (unsigned k = 0; k < GRID_MAX; k++)
		used += r.used[k];
	if (r.g.kind == GRID_LEVELS)
		CHECK_EQ_U(used, n);
	CHECK(r.scale > 0);
	grid_result_release(&r);
}

TEST(grid_compare_try)
{
	struct scheme_shape sh = { 2, { 96, 512 } };
	uint64_t n = 96 * 512, seed = 7;
	float *x = malloc(n * sizeof(float));
	static const char *names[] = {
		"int4-g128", "int4-g128-asym", "nf4", "fp4", "nf4-dq",
		"mxfp4", "fp8-e4m3", "int8", "ternary", "binary", "q4_0",
		"q4_k", "q6_k", "q8_0",
	};

	CHECK(x != NULL);
	if (!x)
		return;
	for (uint64_t i = 0; i < n; i++)
		x[i] = (float)((double)(rnd(&seed) >> 11) / 9007199254740992.0 -
			       0.5);
	x[1000] = 40;			/* an outlier */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		check_compare(names[i], x, &sh, n);
	free(x);
}

TEST(grid_compare_levels)
{
	/* int4-g128 on rows whose absmax is 7: scale 1 in every group, the
	 * values are the integers -7..7, so level -8 is dead and the others
	 * hold exactly the values put there */
	struct scheme_shape sh = { 2, { 4, 128 } };
	const struct scheme *s = scheme_find("int4-g128");
	float x[512];
	struct mem m = { x };
	struct grid_result r;

	for (int i = 0; i < 512; i++)
		x[i] = (float)(i % 15 - 7);
	CHECK_EQ_I(grid_compare(s, &sh, mem_read, &m, 16, NULL, &r), 0);
	CHECK_NEAR(r.scale, 1.0, 0);
	CHECK_EQ_U(r.blocks, 4);
	CHECK_EQ_U(r.used[0], 0);		/* -8 */
	CHECK_EQ_U(r.used[1], 35);		/* -7: 512 / 15 rounds */
	CHECK_EQ_U(r.acc.sse == 0, 1);
	CHECK_EQ_U(r.f16_over, 0);
	grid_result_release(&r);

	/* f16: values past 65520 overflow */
	s = scheme_find("f16");
	x[3] = 70144;
	x[4] = -65520;
	x[5] = 65519;
	CHECK_EQ_I(grid_compare(s, &sh, mem_read, &m, 16, NULL, &r), 0);
	CHECK_EQ_U(r.f16_over, 2);
	CHECK_EQ_U(r.acc.to_inf, 2);
	grid_result_release(&r);
}

/* Codes of each level, counted from the packed GGUF blocks themselves. */
static void gguf_codes(const char *name, const float *x, uint64_t n,
		       uint64_t *count)
{
	const struct scheme *s = scheme_find(name);
	struct scheme_shape sh = { 2, { n / 512, 512 } };
	struct scheme_ctx c;
	const struct dtype_info *di = dtype_get(s->ggml);
	unsigned char *q;

	scheme_ctx_init(&c, s, &sh);
	q = malloc(scheme_chunk_bytes(&c, n));
	CHECK(q != NULL);
	if (!q)
		return;
	s->quantize(&c, 0, x, n, q);
	for (uint64_t b = 0; b < n / di->block; b++) {
		const unsigned char *p = q + b * di->block_bytes;

		switch (s->ggml) {
		case DT_Q8_0:	/* d, then 32 int8: index q + 127 */
			for (int i = 0; i < 32; i++)
				count[(signed char)p[2 + i] + 127]++;
			break;
		case DT_Q4_0:	/* d, then 16 bytes of two nibbles: q */
			for (int i = 0; i < 16; i++) {
				count[p[2 + i] & 0xf]++;
				count[p[2 + i] >> 4]++;
			}
			break;
		case DT_Q4_K:	/* d dmin scales[12], then 128 bytes: L */
			for (int i = 0; i < 128; i++) {
				count[p[16 + i] & 0xf]++;
				count[p[16 + i] >> 4]++;
			}
			break;
		default:
			CHECK(0);
		}
	}
	free(q);
}

TEST(grid_compare_gguf_levels)
{
	/* the levels counted while comparing are the codes in the blocks */
	static const char *names[] = { "q8_0", "q4_0", "q4_k" };
	uint64_t n = 8 * 512, seed = 11;
	float *x = malloc(n * sizeof(float));
	struct scheme_shape sh = { 2, { 8, 512 } };

	CHECK(x != NULL);
	if (!x)
		return;
	for (uint64_t i = 0; i < n; i++)
		x[i] = (float)((double)(rnd(&seed) >> 11) /
			       9007199254740992.0) * (i % 7 ? 1.0f : -3.0f);
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		uint64_t want[GRID_MAX] = { 0 };
		struct mem m = { x };
		struct grid_result r;
		int same = 1;

		gguf_codes(names[k], x, n, want);
		CHECK_EQ_I(grid_compare(scheme_find(names[k]), &sh, mem_read,
					&m, 32, NULL, &r), 0);
		for (unsigned i = 0; i < GRID_MAX; i++)
			same &= want[i] == r.used[i];
		if (!CHECK(same))
			printf("    %s: levels differ from the codes\n",
			       names[k]);
		grid_result_release(&r);
	}
	free(x);
}
