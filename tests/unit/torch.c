/*
 * Unit tests for formats/pickle.c and formats/torch.c: the restricted
 * unpickler on hand-written pickles (FORMATS.md 7.8 and malicious ones),
 * torch zips built here, and the shared torch fixtures' values.
 */
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "formats/formats.h"
#include "formats/pickle.h"
#include "tests/check.h"

/* FORMATS.md 7.8: OrderedDict(w = arange(6).reshape(2, 3).float()). */
static const char pkl_78_hex[] =
	"800263636f6c6c656374696f6e730a4f726465726564446963740a710029527101580100000077710263746f7263682e"
	"5f7574696c730a5f72656275696c645f74656e736f725f76320a71032828580700000073746f72616765710463746f72"
	"63680a466c6f617453746f726167650a71055801000000307106580300000063707571074b06747108514b004b024b03"
	"8671094b034b0186710a8968002952710b74710c52710d732e";

static size_t unhex(const char *h, unsigned char *out)
{
	size_t n = 0;

	for (; h[0] && h[1]; h += 2) {
		unsigned x;

		sscanf(h, "%2x", &x);
		out[n++] = (unsigned char)x;
	}
	return n;
}

struct member {
	const char *name;
	const void *data;
	size_t len;
};

static void put16(unsigned char **p, unsigned v)
{
	*(*p)++ = (unsigned char)v;
	*(*p)++ = (unsigned char)(v >> 8);
}

static void put32(unsigned char **p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p, v >> 16);
}

/* A stored zip of the members, written to a temporary file (path static). */
static const char *zip_file(const struct member *m, int n)
{
	static char path[64];
	size_t cap = 4096;
	unsigned char *buf, *p;
	uint32_t offs[16];
	unsigned char *cd;
	int fd;

	for (int i = 0; i < n; i++)
		cap += m[i].len + 2 * strlen(m[i].name) + 128;
	buf = p = xmalloc(cap);
	for (int i = 0; i < n; i++) {
		uint32_t crc = (uint32_t)crc32(0, m[i].data, (uInt)m[i].len);

		offs[i] = (uint32_t)(p - buf);
		put32(&p, 0x04034b50);
		put16(&p, 20);
		put16(&p, 0);
		put16(&p, 0);
		put16(&p, 0);
		put16(&p, 0);
		put32(&p, crc);
		put32(&p, (uint32_t)m[i].len);
		put32(&p, (uint32_t)m[i].len);
		put16(&p, (unsigned)strlen(m[i].name));
		put16(&p, 0);
		memcpy(p, m[i].name, strlen(m[i].name));
		p += strlen(m[i].name);
		memcpy(p, m[i].data, m[i].len);
		p += m[i].len;
	}
	cd = p;
	for (int i = 0; i < n; i++) {
		put32(&p, 0x02014b50);
		put16(&p, 20);
		put16(&p, 20);
		put16(&p, 0);
		put16(&p, 0);
		put16(&p, 0);
		put16(&p, 0);
		put32(&p, (uint32_t)crc32(0, m[i].data, (uInt)m[i].len));
		put32(&p, (uint32_t)m[i].len);
		put32(&p, (uint32_t)m[i].len);
		put16(&p, (unsigned)strlen(m[i].name));
		put16(&p, 0);
		put16(&p, 0);
		put16(&p, 0);
		put16(&p, 0);
		put32(&p, 0);
		put32(&p, offs[i]);
		memcpy(p, m[i].name, strlen(m[i].name));
		p += strlen(m[i].name);
	}
	put32(&p, 0x06054b50);
	put16(&p, 0);
	put16(&p, 0);
	put16(&p, (unsigned)n);
	put16(&p, (unsigned)n);
	put32(&p, (uint32_t)(p - cd - 12));
	put32(&p, (uint32_t)(cd - buf));
	put16(&p, 0);

	snprintf(path, sizeof(path), "/tmp/qscope-torch-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, buf, (size_t)(p - buf)) != p - buf)
		CHECK(!"cannot write a temporary file");
	if (fd >= 0)
		close(fd);
	free(buf);
	return path;
}

static const float arange6[6] = { 0, 1, 2, 3, 4, 5 };

TEST(torch_pickle_78)
{
	unsigned char pk[512];
	size_t n = unhex(pkl_78_hex, pk);
	struct pickle p;
	struct err e = { "" };
	const struct pk_obj *r, *t;

	CHECK_EQ_I(pickle_load(&p, pk, n, "t", &e), 0);
	r = p.root;
	if (CHECK(r && r->kind == PK_DICT && r->n == 2)) {
		CHECK_STR(r->items[0]->s, "w");
		t = r->items[1];
		CHECK_EQ_I(t->kind, PK_TENSOR);
		CHECK_EQ_I(t->ndim, 2);
		CHECK_EQ_U(t->shape[0], 2);
		CHECK_EQ_U(t->shape[1], 3);
		CHECK_EQ_U(t->stride[0], 3);
		CHECK_EQ_U(t->stride[1], 1);
		CHECK_EQ_I(t->dtype, DT_F32);
		CHECK_STR(t->storage->key, "0");
		CHECK_EQ_U(t->storage->numel, 6);
	}
	CHECK_EQ_U(p.end, n);
	pickle_release(&p);
}

TEST(torch_zip_78)
{
	unsigned char pk[512];
	size_t n = unhex(pkl_78_hex, pk);
	struct member m[] = {
		{ "anyroot/data.pkl", pk, n },
		{ "anyroot/data/0", arange6, sizeof(arange6) },
		{ "anyroot/version", "3\n", 2 },
	};
	struct model md;
	struct err e = { "" };
	float v[6];

	if (!CHECK(model_open(&md, zip_file(m, 3), &e) == 0))
		printf("    %s\n", e.msg);
	if (md.ntensors == 1) {
		CHECK_STR(md.format, "pytorch-zip");
		CHECK_STR(md.tensors[0].name, "w");
		CHECK_EQ_U(md.tensors[0].nbytes, 24);
		CHECK_EQ_I(md.tensors[0].strided, 0);
		CHECK_EQ_I(tensor_read_f32(&md, &md.tensors[0], 0, 6, v, &e), 0);
		for (int i = 0; i < 6; i++)
			CHECK_FBITS(v[i], arange6[i]);
	}
	model_release(&md);
}

/* The 7.8 pickle with its stride and shape patched: a transposed view. */
TEST(torch_zip_transposed)
{
	unsigned char pk[512];
	size_t n = unhex(pkl_78_hex, pk);
	struct member m[] = {
		{ "r/data.pkl", pk, n },
		{ "r/data/0", arange6, sizeof(arange6) },
	};
	struct model md;
	struct err e = { "" };
	static const float want[6] = { 0, 3, 1, 4, 2, 5 };
	float v[6];

	/* size (2, 3) -> (3, 2), stride (3, 1) -> (1, 3) */
	for (size_t i = 0; i + 8 < n; i++)
		if (memcmp(pk + i, "\x4b\x02\x4b\x03\x86", 5) == 0)
			pk[i + 1] = 3, pk[i + 3] = 2;
		else if (memcmp(pk + i, "\x4b\x03\x4b\x01\x86", 5) == 0)
			pk[i + 1] = 1, pk[i + 3] = 3;
	CHECK_EQ_I(model_open(&md, zip_file(m, 2), &e), 0);
	if (md.ntensors == 1) {
		CHECK_EQ_I(md.tensors[0].strided, 1);
		CHECK_EQ_I(tensor_read_f32(&md, &md.tensors[0], 0, 6, v, &e), 0);
		for (int i = 0; i < 6; i++)
			CHECK_FBITS(v[i], want[i]);
		/* a range starting mid-row */
		CHECK_EQ_I(tensor_read_f32(&md, &md.tensors[0], 3, 2, v, &e), 0);
		CHECK_FBITS(v[0], 4);
		CHECK_FBITS(v[1], 2);
	}
	model_release(&md);
}

TEST(torch_zip_storage_too_big)
{
	unsigned char pk[512];
	size_t n = unhex(pkl_78_hex, pk);
	struct member m[] = {
		{ "r/data.pkl", pk, n },
		{ "r/data/0", arange6, 20 },	/* the storage claims 24 */
	};
	struct model md;
	struct err e = { "" };

	CHECK_EQ_I(model_open(&md, zip_file(m, 2), &e), -1);
	CHECK(strstr(e.msg, "storage '0' claims 6 elements") != NULL);
}

/* Run a pickle; 0 or -1, message in e. */
static int run(const void *bytes, size_t n, struct err *e)
{
	struct pickle p;
	int rc = pickle_load(&p, bytes, n, "t", e);

	pickle_release(&p);
	return rc;
}

#define RUN_FAILS(bytes, fragment)					\
	do {								\
		struct err e_ = { "" };					\
		CHECK_EQ_I(run(bytes, sizeof(bytes) - 1, &e_), -1);	\
		if (!CHECK(strstr(e_.msg, fragment) != NULL))		\
			printf("    message: %s\n", e_.msg);		\
	} while (0)

TEST(torch_pickle_refuses)
{
	RUN_FAILS("\x80\x02" "cos\nsystem\n" "X\x02\0\0\0id" "\x85R.",
		  "global 'os.system' is not allowed");
	RUN_FAILS("cbuiltins\neval\n(S'1'\ntR.",
		  "global 'builtins.eval' is not allowed");
	RUN_FAILS("\x80\x04\x8c\x0asubprocess\x8c\x05Popen\x93)R.",
		  "global 'subprocess.Popen' is not allowed");
	/* an unknown class may be constructed inertly, never called */
	RUN_FAILS("cmymod\nfunc\n)R.",
		  "global 'mymod.func' is not allowed (REDUCE would call it)");
	RUN_FAILS("ctorch\nFloatStorage\n)R.",
		  "global 'torch.FloatStorage' is not allowed");
	RUN_FAILS("(cos\nsystem\nS'id'\ni.", "not allowed");
	RUN_FAILS("(cmymod\nC\no.", "OBJ is not allowed");
	RUN_FAILS("]q\x01h\x02.", "memo index 2 was never stored");
	RUN_FAILS("]r\xff\xff\xff\xff.", "memo index 4294967295 is out of range");
	RUN_FAILS("X\xff\xff\xff\x7f" "abc.", "needs 2147483647 bytes");
	RUN_FAILS("]", "ends without STOP");
	RUN_FAILS("a.", "APPEND on a short stack");
	RUN_FAILS("}K\x01" "a.", "APPEND on a dict");
	RUN_FAILS("\x82\x01.", "extension registry");
	RUN_FAILS("\xff.", "unknown opcode 0xff");
}

TEST(torch_pickle_deep)
{
	size_t n = 200000;
	unsigned char *b = xmalloc(n + 1);
	struct err e = { "" };

	memset(b, '(', n);
	b[n] = '.';
	CHECK_EQ_I(run(b, n + 1, &e), -1);
	CHECK(strstr(e.msg, "nesting deeper than 1000") != NULL);
	/* lists nested by APPEND: the walk refuses them */
	for (size_t i = 0; i < n / 2; i++)
		b[i] = ']';
	for (size_t i = n / 2; i < n - 1; i++)
		b[i] = 'a';
	b[n - 1] = '.';
	{
		struct pickle p;

		CHECK_EQ_I(pickle_load(&p, b, n, "t", &e), 0);
		pickle_release(&p);
	}
	free(b);
}

TEST(torch_zip_deep_and_unknown)
{
	/* 5000 nested lists: parsed, then refused by the walk */
	size_t depth = 5000, n = 2 * depth + 1;
	unsigned char *b = xmalloc(n);
	struct model md;
	struct err e = { "" };

	memset(b, ']', depth);
	memset(b + depth, 'a', depth - 1);
	b[n - 2] = '.';
	{
		struct member m[] = { { "r/data.pkl", b, n - 1 } };

		CHECK_EQ_I(model_open(&md, zip_file(m, 1), &e), -1);
		CHECK(strstr(e.msg, "nests deeper than 1000") != NULL);
	}
	free(b);
	{
		/* an object of an unknown class: its state is walked */
		static const char pk[] = "cmymod\nKlass\n)\x81}X\x05\0\0\0epochK\x07sb.";
		struct member m[] = { { "r/data.pkl", pk, sizeof(pk) - 1 } };

		CHECK_EQ_I(model_open(&md, zip_file(m, 1), &e), 0);
		if (CHECK(md.nmeta == 1)) {
			CHECK_STR(md.meta[0].key, "epoch");
			CHECK_EQ_I(json_integer_value(md.meta[0].value), 7);
		}
		model_release(&md);
	}
}

TEST(torch_legacy_sniff)
{
	static const unsigned char head[] = {
		0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20,
		0x6a, 0xa8, 0x50, 0x19, '.', 0x80, 0x02,
	};
	const struct format *f = format_sniff(head, sizeof(head));

	CHECK(f && strcmp(f->name, "pytorch-legacy") == 0);
}

/* Fixture values: views-shared.pt stores base = arange(4096) and views. */
TEST(torch_fixture_views)
{
	const char *dir = check_fixtures();
	char path[4096];
	struct model m;
	struct err e = { "" };
	const struct tensor *t;
	float v[64];

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/torch/views-shared.pt", dir);
	if (!CHECK(model_open(&m, path, &e) == 0)) {
		printf("    %s\n", e.msg);
		return;
	}
	CHECK_EQ_U(m.ntensors, 10);
	if ((t = model_find(&m, "transposed")) != NULL) {
		CHECK_EQ_I(t->strided, 1);
		CHECK_EQ_I(tensor_read_f32(&m, t, 64, 3, v, &e), 0);
		CHECK_FBITS(v[0], 1);	/* [1][0] = base[0 * 64 + 1] */
		CHECK_FBITS(v[1], 65);
		CHECK_FBITS(v[2], 129);
	}
	if ((t = model_find(&m, "column")) != NULL) {
		CHECK_EQ_I(tensor_read_f32(&m, t, 0, 2, v, &e), 0);
		CHECK_FBITS(v[0], 5);
		CHECK_FBITS(v[1], 69);
	}
	if ((t = model_find(&m, "offset_slice")) != NULL) {
		CHECK_EQ_I(tensor_read_f32(&m, t, 0, 1, v, &e), 0);
		CHECK_FBITS(v[0], 100);
	}
	if ((t = model_find(&m, "expanded")) != NULL) {
		CHECK_EQ_U(t->nbytes, 128);
		CHECK_EQ_I(tensor_read_f32(&m, t, 8, 8, v, &e), 0);
		for (int i = 0; i < 8; i++)
			CHECK_FBITS(v[i], (float)i);
	}
	if ((t = model_find(&m, "every_other")) != NULL) {
		CHECK_EQ_I(tensor_read_f32(&m, t, 2047, 1, v, &e), 0);
		CHECK_FBITS(v[0], 4094);
	}
	model_release(&m);
}

TEST(torch_fixture_nested_meta)
{
	const char *dir = check_fixtures();
	char path[4096];
	struct model m;
	struct err e = { "" };
	int found = 0;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/torch/nested-meta.pt", dir);
	if (!CHECK(model_open(&m, path, &e) == 0)) {
		printf("    %s\n", e.msg);
		return;
	}
	CHECK(model_find(&m, "optimizer_states.0.state.0.exp_avg") != NULL);
	CHECK(model_find(&m, "extra.nested.deeper.t") != NULL);
	for (size_t i = 0; i < m.nmeta; i++) {
		if (strcmp(m.meta[i].key, "args.arch") == 0) {
			CHECK_STR(json_string_value(m.meta[i].value),
				  "gpt2_tiny");
			found++;
		}
		if (strcmp(m.meta[i].key, "epoch") == 0) {
			CHECK_EQ_I(json_integer_value(m.meta[i].value), 3);
			found++;
		}
	}
	CHECK_EQ_I(found, 2);
	model_release(&m);
}
