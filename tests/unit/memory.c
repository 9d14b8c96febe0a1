/*
 * Unit tests for views/memory.h: the size of a model in each format of the
 * memory screen, checked against sizes worked out here by hand from each
 * format's definition (codes, scales, per-tensor constants), on a model
 * built in memory from shapes alone.
 */
#include "tests/check.h"
#include "views/memory.h"

/* Rows of memory_table(), in its order. */
enum { NOW, FP32, TF32, FP16, BF16, FP8, INT8, INT4, NF4, NF4DQ, Q8_0, Q4_K,
       TERNARY };

static void add(struct model *m, const char *name, enum dtype d, int ndim,
		uint64_t d0, uint64_t d1, uint64_t d2)
{
	struct err e = { "" };
	struct tensor *t = model_add_tensor(m, name, &e);
	uint64_t dims[3] = { d0, d1, d2 };

	t->dtype = d;
	t->ndim = ndim;
	for (int i = 0; i < ndim; i++)
		t->shape[i] = dims[i];
	CHECK_EQ_I(tensor_set_size(t, "test", &e), 0);
	m->params += t->params;
	m->nbytes += t->nbytes;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

TEST(memory_table_sizes)
{
	struct memory_row r[MEMORY_ROWS];
	struct model m;
	/* a: a 4096 x 4096 matrix; norm: 1-D; odd: rows of 100, which no
	 * block of 32 or more divides; conv: 3-D, rows of 128; ids: integers */
	const uint64_t a = 4096 * 4096, norm = 4096, odd = 100 * 100;
	const uint64_t conv = 2 * 64 * 128, ids = 8 * 8;
	const uint64_t floats = a + norm + odd + conv;
	const uint64_t stored = 2 * a + 4 * norm + 2 * odd + 2 * conv + 8 * ids;

	memset(&m, 0, sizeof(m));
	add(&m, "a", DT_BF16, 2, 4096, 4096, 0);
	add(&m, "norm", DT_F32, 1, 4096, 0, 0);
	add(&m, "odd", DT_BF16, 2, 100, 100, 0);
	add(&m, "conv", DT_F16, 3, 2, 64, 128);
	add(&m, "ids", DT_I64, 2, 8, 8, 0);

	CHECK_EQ_I(memory_table(&m, r), 0);
	CHECK(r[NOW].scheme == NULL);
	CHECK_STR(r[Q4_K].label, "Q4_K");
	CHECK_STR(r[FP8].tag, "fp8");
	CHECK_EQ_U(r[NOW].bytes, stored);
	CHECK_EQ_U(r[NOW].kept, 0);

	/* casts: every float tensor, whatever its shape; integers stay */
	CHECK_EQ_U(r[FP32].bytes, 4 * floats + 8 * ids);
	CHECK_EQ_U(r[TF32].bytes, 4 * floats + 8 * ids);
	CHECK_EQ_U(r[FP16].bytes, 2 * floats + 8 * ids);
	CHECK_EQ_U(r[BF16].bytes, 2 * floats + 8 * ids);
	CHECK_EQ_U(r[FP16].kept, 1);
	CHECK_EQ_U(r[FP16].why[MEMORY_WHY_INT], 1);

	/* FP8: a byte each and a 4-byte scale per tensor; 1-D kept */
	CHECK_EQ_U(r[FP8].bytes, (a + 4) + (odd + 4) + (conv + 4) +
				 4 * norm + 8 * ids);
	/* INT8: a byte each and a float scale per outer row (conv: 2) */
	CHECK_EQ_U(r[INT8].bytes, (a + 4 * 4096) + (odd + 4 * 100) +
				  (conv + 4 * 2) + 4 * norm + 8 * ids);
	/* INT4 g128: half a byte each, a 2-byte scale per 128; odd kept */
	CHECK_EQ_U(r[INT4].bytes, (a / 2 + 2 * a / 128) +
				  (conv / 2 + 2 * conv / 128) + 4 * norm +
				  2 * odd + 8 * ids);
	CHECK_EQ_U(r[INT4].kept, 3);
	CHECK_EQ_U(r[INT4].why[MEMORY_WHY_SHAPE], 1);
	CHECK_EQ_U(r[INT4].why[MEMORY_WHY_ROW], 1);
	CHECK_EQ_U(r[INT4].why[MEMORY_WHY_INT], 1);
	CHECK_EQ_U(r[INT4].kept_params, norm + odd + ids);
	CHECK_EQ_U(r[INT4].kept_bytes, 4 * norm + 2 * odd + 8 * ids);
	/* NF4: blocks of 64 over the flattened tensor, the last one short,
	 * each with a 4-byte absmax: odd applies */
	CHECK_EQ_U(r[NF4].bytes, (a / 2 + 4 * (a / 64)) +
				 (odd / 2 + 4 * ceil_div(odd, 64)) +
				 (conv / 2 + 4 * (conv / 64)) + 4 * norm +
				 8 * ids);
	/* NF4 double quant: 1-byte absmax per 64, a 4-byte scale per 256
	 * blocks (16384 values), and a 4-byte offset per tensor */
	CHECK_EQ_U(r[NF4DQ].bytes,
		   (a / 2 + a / 64 + 4 * (a / 16384) + 4) +
		   (odd / 2 + ceil_div(odd, 64) + 4 + 4) +
		   (conv / 2 + conv / 64 + 4 + 4) + 4 * norm + 8 * ids);
	/* Q8_0: 34 bytes per 32 values; odd kept */
	CHECK_EQ_U(r[Q8_0].bytes, a / 32 * 34 + conv / 32 * 34 + 4 * norm +
				  2 * odd + 8 * ids);
	/* Q4_K: 144 bytes per 256 values; conv's rows of 128 kept too */
	CHECK_EQ_U(r[Q4_K].bytes, a / 256 * 144 + 4 * norm + 2 * odd +
				  2 * conv + 8 * ids);
	CHECK_EQ_U(r[Q4_K].kept, 4);
	CHECK_EQ_U(r[Q4_K].why[MEMORY_WHY_ROW], 2);
	/* ternary: 2 bits each and a 4-byte scale per tensor */
	CHECK_EQ_U(r[TERNARY].bytes, (a / 4 + 4) + (odd / 4 + 4) +
				     (conv / 4 + 4) + 4 * norm + 8 * ids);

	/* bits per weight: over every weight of the model */
	CHECK_NEAR(memory_bits(&r[Q8_0], m.params),
		   8.0 * (double)r[Q8_0].bytes / (double)(floats + ids), 1e-12);
	CHECK_NEAR(memory_bits(&r[NOW], m.params),
		   8.0 * (double)stored / (double)(floats + ids), 1e-12);
	model_release(&m);
}

TEST(memory_table_empty)
{
	struct memory_row r[MEMORY_ROWS];
	struct model m;

	memset(&m, 0, sizeof(m));
	CHECK_EQ_I(memory_table(&m, r), 0);
	for (int i = 0; i < MEMORY_ROWS; i++) {
		CHECK_EQ_U(r[i].bytes, 0);
		CHECK_EQ_U(r[i].kept, 0);
		CHECK(memory_bits(&r[i], 0) == 0.0);
	}
	model_release(&m);
}

TEST(memory_fits_budgets)
{
	/* budgets are GiB, ascending, and the ones the screen promises */
	static const unsigned want[] = { 8, 12, 16, 24, 48, 80 };

	CHECK_EQ_U(memory_nbudgets, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < memory_nbudgets && i < 6; i++)
		CHECK_EQ_U(memory_budgets[i], want[i]);
	CHECK(memory_fits((uint64_t)24 << 30, 24));
	CHECK(!memory_fits(((uint64_t)24 << 30) + 1, 24));
	CHECK(memory_fits(0, 8));
	/* 80 GiB does not wrap around in 32 bits */
	CHECK(!memory_fits((uint64_t)81 << 30, 80));
	CHECK(memory_fits((uint64_t)79 << 30, 80));
}

TEST(memory_table_repeats)
{
	/* tensors of one shape are worked out once: the sums must be those
	 * of each tensor on its own, in whatever order they come */
	struct memory_row one[MEMORY_ROWS], three[MEMORY_ROWS];
	struct model a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	add(&a, "w", DT_BF16, 2, 256, 512, 0);
	add(&a, "norm", DT_F32, 1, 512, 0, 0);
	add(&a, "odd", DT_F16, 2, 3, 100, 0);
	add(&b, "w0", DT_BF16, 2, 256, 512, 0);
	add(&b, "norm0", DT_F32, 1, 512, 0, 0);
	add(&b, "w1", DT_BF16, 2, 256, 512, 0);
	add(&b, "odd0", DT_F16, 2, 3, 100, 0);
	add(&b, "odd1", DT_F16, 2, 3, 100, 0);
	add(&b, "norm1", DT_F32, 1, 512, 0, 0);
	add(&b, "w2", DT_BF16, 2, 256, 512, 0);
	add(&b, "norm2", DT_F32, 1, 512, 0, 0);
	add(&b, "odd2", DT_F16, 2, 3, 100, 0);
	/* same shape, other dtype: not the same kind */
	add(&b, "w3", DT_F32, 2, 256, 512, 0);
	CHECK_EQ_I(memory_table(&a, one), 0);
	CHECK_EQ_I(memory_table(&b, three), 0);
	for (int i = 0; i < MEMORY_ROWS; i++) {
		uint64_t w3 = i == NOW ? 4 * 256 * 512 :
			      one[i].scheme ? scheme_bytes(one[i].scheme,
				&(struct scheme_shape){ 2, { 256, 512 } }) : 0;

		CHECK_EQ_U(three[i].bytes, 3 * one[i].bytes + w3);
		CHECK_EQ_U(three[i].kept, 3 * one[i].kept);
		CHECK_EQ_U(three[i].kept_params, 3 * one[i].kept_params);
		CHECK_EQ_U(three[i].kept_bytes, 3 * one[i].kept_bytes);
		for (int k = 0; k < MEMORY_WHY_COUNT; k++)
			CHECK_EQ_U(three[i].why[k], 3 * one[i].why[k]);
	}
	model_release(&a);
	model_release(&b);
}
