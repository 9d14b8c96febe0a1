/*
 * Unit tests for formats/layouts.c: quantized layouts read as logical
 * tensors, element by element at known positions, on the test vectors of
 * FORMATS.md (5.10's packed word, 7.5's NF4 block) and on words built so
 * that every code's place shows (AWQ's interleaved order, GPTQ's z - 1).
 * tests/layouts_check.py covers whole generated checkpoints.
 */
#include <stdlib.h>
#include <unistd.h>

#include "formats/formats.h"
#include "tests/check.h"

/* One tensor of a file written here. */
struct st_tensor {
	const char *name;
	const char *dtype;
	const char *shape;	/* JSON, e.g. "[1, 2]" */
	const void *data;
	size_t n;
};

/* Write a safetensors file holding ts[0..n) into a temporary file; returns
 * its path (static). */
static const char *st_write(const struct st_tensor *ts, int n)
{
	static char path[64];
	char hdr[8192];
	size_t hl = 0, off = 0;
	unsigned char len[8];
	FILE *f;
	int fd;

	hl += (size_t)snprintf(hdr + hl, sizeof(hdr) - hl, "{");
	for (int i = 0; i < n; i++) {
		hl += (size_t)snprintf(hdr + hl, sizeof(hdr) - hl,
				       "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
				       i ? "," : "", ts[i].name, ts[i].dtype,
				       ts[i].shape, off, off + ts[i].n);
		off += ts[i].n;
	}
	hl += (size_t)snprintf(hdr + hl, sizeof(hdr) - hl, "}");
	while (hl % 8)
		hdr[hl++] = ' ';
	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)((uint64_t)hl >> (8 * i));
	snprintf(path, sizeof(path), "/tmp/qscope-unit-XXXXXX");
	fd = mkstemp(path);
	f = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (!f) {
		CHECK(!"cannot write a temporary file");
		return path;
	}
	fwrite(len, 1, 8, f);
	fwrite(hdr, 1, hl, f);
	for (int i = 0; i < n; i++)
		fwrite(ts[i].data, 1, ts[i].n, f);
	fclose(f);
	return path;
}

static void put32(unsigned char *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

static void putf(unsigned char *b, float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	put32(b, u);
}

/* Open path; the tensor named name must be a logical one of scheme. */
static const struct tensor *open_logical(struct model *m, const char *path,
					 const char *name, const char *scheme)
{
	struct err e = { "" };
	const struct tensor *t;
	int rc = model_open(m, path, &e);

	unlink(path);	/* mapped: the model keeps its bytes */
	if (!CHECK(rc == 0))
		return NULL;
	t = model_find(m, name);
	if (!CHECK(t != NULL) || !CHECK(t->scheme != NULL))
		return NULL;
	CHECK_STR(t->scheme, scheme);
	CHECK_STR(tensor_type_name(t), scheme);
	return t;
}

TEST(layouts_ct_packed_word)
{
	/* FORMATS.md 5.10: q = {1, 2, -8, 7, 0, 0, 0, 0} -> 0x8888F0A9; a
	 * second word 0x01234567 holds q = -1 ... -8 (first element in the
	 * low bits).  16 columns: only 4-bit codes fit two words a row. */
	static const float want[16] = { 1, 2, -8, 7, 0, 0, 0, 0,
					-1, -2, -3, -4, -5, -6, -7, -8 };
	unsigned char w[8], s[4], sh[16] = { 1, 0, 0, 0, 0, 0, 0, 0,
					     16, 0, 0, 0, 0, 0, 0, 0 };
	struct st_tensor ts[] = {
		{ "l.weight_packed", "I32", "[1, 2]", w, 8 },
		{ "l.weight_scale", "F32", "[1, 1]", s, 4 },
		{ "l.weight_shape", "I64", "[2]", sh, 16 },
	};
	const struct tensor *t;
	struct model m;
	struct err e = { "" };
	float v[16];

	put32(w, 0x8888F0A9u);
	put32(w + 4, 0x01234567u);
	putf(s, 0.5f);
	t = open_logical(&m, st_write(ts, 3), "l.weight", "ct-int4-ch");
	if (t) {
		CHECK_EQ_U(m.ntensors, 1);
		CHECK_EQ_U(t->ndim, 2);
		CHECK_EQ_U(t->shape[0], 1);
		CHECK_EQ_U(t->shape[1], 16);
		CHECK_EQ_U(t->nbytes, 8 + 4 + 16);
		CHECK_EQ_U(t->nparts, 3);
		CHECK_STR(t->parts[0].name, "l.weight_packed");
		CHECK(t->data == NULL);
		CHECK(tensor_read_f32(&m, t, 0, 16, v, &e) == 0);
		for (int i = 0; i < 16; i++)
			CHECK(v[i] == want[i] * 0.5f);
		/* a range starting inside a word */
		CHECK(tensor_read_f32(&m, t, 5, 6, v, &e) == 0);
		for (int i = 0; i < 6; i++)
			CHECK(v[i] == want[5 + i] * 0.5f);
		CHECK(tensor_read_f32(&m, t, 15, 2, v, &e) == -1);
	}
	model_release(&m);
}

TEST(layouts_nf4_block)
{
	/* FORMATS.md 7.5: x_k = (k - 32) / 16, absmax 2.0, high nibble
	 * first.  The sheet's packed bytes say 0xef for byte 29, but its
	 * codes (and the thresholds: v_59 = 0.84375 < 0.8614784) give 14, 14
	 * for k = 58, 59: 0xee. */
	static const unsigned char packed[32] = {
		0x00, 0x00, 0x01, 0x11, 0x11, 0x11, 0x12, 0x22, 0x22, 0x33,
		0x33, 0x44, 0x45, 0x55, 0x66, 0x67, 0x77, 0x88, 0x99, 0x9a,
		0xaa, 0xbb, 0xbc, 0xcc, 0xcd, 0xdd, 0xde, 0xee, 0xee, 0xee,
		0xff, 0xff };
	static const int codes[64] = {
		0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3,
		3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 9, 9, 9, 10, 10,
		10, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14,
		14, 14, 14, 15, 15, 15, 15 };
	static const float nf4[16] = {
		-1.0f, -0.6961928009986877f, -0.5250730514526367f,
		-0.39491748809814453f, -0.28444138169288635f,
		-0.18477343022823334f, -0.09105003625154495f, 0.0f,
		0.07958029955625534f, 0.16093020141124725f,
		0.24611230194568634f, 0.33791524171829224f,
		0.44070982933044434f, 0.5626170039176941f,
		0.7229568362236023f, 1.0f };
	static const char state[] =
		"{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float32\", \"shape\": [64]}";
	unsigned char absmax[4], map[64];
	char shape[32];
	struct st_tensor ts[] = {
		{ "m.weight", "U8", "[32, 1]", packed, 32 },
		{ "m.weight.absmax", "F32", "[1]", absmax, 4 },
		{ "m.weight.quant_map", "F32", "[16]", map, 64 },
		{ "m.weight.quant_state.bitsandbytes__nf4", "U8", shape, state,
		  sizeof(state) - 1 },
	};
	const struct tensor *t;
	struct model m;
	struct err e = { "" };
	float v[64];

	snprintf(shape, sizeof(shape), "[%zu]", sizeof(state) - 1);
	putf(absmax, 2.0f);
	for (int i = 0; i < 16; i++)
		putf(map + 4 * i, nf4[i]);
	t = open_logical(&m, st_write(ts, 4), "m.weight", "bnb-nf4");
	if (t) {
		CHECK_EQ_U(t->ndim, 1);
		CHECK_EQ_U(t->params, 64);
		CHECK_EQ_U(t->nparts, 4);
		for (int k = 0; k < 64; k += 2)
			CHECK(packed[k / 2] == (codes[k] << 4 | codes[k + 1]));
		CHECK(tensor_read_f32(&m, t, 0, 64, v, &e) == 0);
		for (int k = 0; k < 64; k++)
			CHECK(v[k] == nf4[codes[k]] * 2.0f);
		CHECK(v[0] == -2.0f && v[4] == -2.0f && v[63] == 2.0f);
		CHECK(v[5] == -1.3923856019973755f);
		CHECK(tensor_read_f32(&m, t, 33, 3, v, &e) == 0);
		CHECK(v[0] == nf4[7] * 2.0f && v[1] == nf4[8] * 2.0f &&
		      v[2] == nf4[8] * 2.0f);
	}
	model_release(&m);
}

TEST(layouts_awq_order)
{
	/* One input row, 8 output columns in one word: nibble i holds column
	 * ORDER[i] (0 2 4 6 1 3 5 7).  Column j's code is j + 8 and its zero
	 * j % 3, so x[j] = j + 8 - j % 3 only if every nibble is placed. */
	static const int order[8] = { 0, 2, 4, 6, 1, 3, 5, 7 };
	unsigned char q[4], z[4], s[32];
	struct st_tensor ts[] = {
		{ "a.qweight", "I32", "[1, 1]", q, 4 },
		{ "a.qzeros", "I32", "[1, 1]", z, 4 },
		{ "a.scales", "F32", "[1, 8]", s, 32 },
	};
	uint32_t qw = 0, zw = 0;
	const struct tensor *t;
	struct model m;
	struct err e = { "" };
	float v[8];

	for (int i = 0; i < 8; i++) {
		qw |= (uint32_t)(order[i] + 8) << (4 * i);
		zw |= (uint32_t)(order[i] % 3) << (4 * i);
		putf(s + 4 * i, 1.0f);
	}
	put32(q, qw);
	put32(z, zw);
	t = open_logical(&m, st_write(ts, 3), "a.weight", "awq-int4-ch");
	if (t) {
		CHECK_EQ_U(t->shape[0], 8);	/* [out, in] */
		CHECK_EQ_U(t->shape[1], 1);
		CHECK(tensor_read_f32(&m, t, 0, 8, v, &e) == 0);
		for (int j = 0; j < 8; j++)
			CHECK(v[j] == (float)(j + 8 - j % 3));
	}
	model_release(&m);
}

TEST(layouts_gptq_zero_minus_one)
{
	/* GPTQ v1, 4-bit, 8 inputs x 8 outputs, one group: word o of qweight
	 * holds input row k in nibble k; qzeros' nibble o holds z - 1 (mod
	 * 16).  Code (k + o) & 15, zero o: x[o][k] = ((k + o) & 15) - o, and
	 * z = 0 is stored as 15. */
	unsigned char q[32], z[4], s[32], g[32];
	struct st_tensor ts[] = {
		{ "b.qweight", "I32", "[1, 8]", q, 32 },
		{ "b.qzeros", "I32", "[1, 1]", z, 4 },
		{ "b.scales", "F32", "[1, 8]", s, 32 },
		{ "b.g_idx", "I32", "[8]", g, 32 },
	};
	uint32_t zw = 0;
	const struct tensor *t;
	struct model m;
	struct err e = { "" };
	float v[64];

	for (int o = 0; o < 8; o++) {
		uint32_t w = 0;

		for (int k = 0; k < 8; k++)
			w |= (uint32_t)((k + o) & 15) << (4 * k);
		put32(q + 4 * o, w);
		zw |= (uint32_t)((o + 15) & 15) << (4 * o);
		putf(s + 4 * o, 0.25f);
		put32(g + 4 * o, 0);
	}
	put32(z, zw);
	t = open_logical(&m, st_write(ts, 4), "b.weight", "gptq-int4-ch");
	if (t) {
		CHECK_EQ_U(t->shape[0], 8);
		CHECK_EQ_U(t->shape[1], 8);
		CHECK(tensor_read_f32(&m, t, 0, 64, v, &e) == 0);
		for (int o = 0; o < 8; o++)
			for (int k = 0; k < 8; k++)
				CHECK(v[o * 8 + k] ==
				      0.25f * (float)(((k + o) & 15) - o));
	}
	model_release(&m);
}

TEST(layouts_half_stays_plain)
{
	/* A quant_map of 15 entries is not bitsandbytes' layout. */
	static const char state[] =
		"{\"quant_type\": \"nf4\", \"blocksize\": 64, \"shape\": [64]}";
	unsigned char packed[32] = { 0 }, absmax[4], map[60] = { 0 };
	char shape[32];
	struct st_tensor ts[] = {
		{ "m.weight", "U8", "[32, 1]", packed, 32 },
		{ "m.weight.absmax", "F32", "[1]", absmax, 4 },
		{ "m.weight.quant_map", "F32", "[15]", map, 60 },
		{ "m.weight.quant_state.bitsandbytes__nf4", "U8", shape, state,
		  sizeof(state) - 1 },
	};
	struct model m;
	struct err e = { "" };
	const char *path;

	snprintf(shape, sizeof(shape), "[%zu]", sizeof(state) - 1);
	putf(absmax, 1.0f);
	path = st_write(ts, 4);
	CHECK(model_open(&m, path, &e) == 0);
	unlink(path);
	CHECK_EQ_U(m.ntensors, 4);
	for (size_t i = 0; i < m.ntensors; i++)
		CHECK(m.tensors[i].scheme == NULL && !m.tensors[i].nparts);
	CHECK_STR(tensor_type_name(&m.tensors[0]), "U8");
	model_release(&m);
}

TEST(layouts_mxfp4_nibbles)
{
	/* compressed-tensors mxfp4: element 2i in the low nibble (FORMATS.md
	 * 5.5), one E8M0 scale a 32; element i holds code i % 16, and the
	 * second block's scale is 2^-2. */
	unsigned char q[32], s[2] = { 127, 125 };
	struct st_tensor ts[] = {
		{ "c.weight_packed", "U8", "[1, 32]", q, 32 },
		{ "c.weight_scale", "U8", "[1, 2]", s, 2 },
	};
	const struct tensor *t;
	struct model m;
	struct err e = { "" };
	float v[64];

	for (int j = 0; j < 32; j++)
		q[j] = (unsigned char)((2 * j) % 16 | ((2 * j + 1) % 16) << 4);
	t = open_logical(&m, st_write(ts, 2), "c.weight", "ct-mxfp4");
	if (t) {
		CHECK_EQ_U(t->shape[1], 64);
		CHECK(tensor_read_f32(&m, t, 0, 64, v, &e) == 0);
		for (int i = 0; i < 64; i++)
			CHECK(v[i] == e2m1_to_f32((uint8_t)(i % 16)) *
					      (i < 32 ? 1.0f : 0.25f));
	}
	model_release(&m);
}
