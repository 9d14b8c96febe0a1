/*
 * Unit tests for formats/npy.c: .npy files written here (every header
 * form the parser must take, Fortran order, big-endian) and damaged ones.
 */
#include <stdlib.h>
#include <unistd.h>

#include "formats/formats.h"
#include "tests/check.h"

/* Write a version-1 .npy with this header dict and data; returns the path. */
static const char *npy_file(const char *dict, const void *data, size_t n,
			    int version)
{
	static char path[64];
	unsigned char buf[4096];
	size_t hl = strlen(dict), pre = version == 1 ? 10 : 12, len;
	int fd;

	memcpy(buf, "\x93NUMPY", 6);
	buf[6] = (unsigned char)version;
	buf[7] = 0;
	buf[8] = (unsigned char)hl;
	buf[9] = (unsigned char)(hl >> 8);
	if (version != 1)
		buf[10] = buf[11] = 0;
	memcpy(buf + pre, dict, hl);
	memcpy(buf + pre + hl, data, n);
	len = pre + hl + n;
	snprintf(path, sizeof(path), "/tmp/qscope-npy-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		CHECK(!"cannot write a temporary file");
	if (fd >= 0)
		close(fd);
	return path;
}

/* Open dict+data; 0 and the model, or -1 and the message in e. */
static int open_npy(struct model *m, struct err *e, const char *dict,
		    const void *data, size_t n, int version)
{
	const char *p = npy_file(dict, data, n, version);
	int rc = model_open(m, p, e);

	unlink(p);
	return rc;
}

TEST(npy_c_order_f32)
{
	float d[6] = { 1, 2, 3, 4, 5, 6 }, v[6];
	struct model m;
	struct err e = { "" };

	CHECK_EQ_I(open_npy(&m, &e, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }   \n",
			    d, sizeof(d), 1), 0);
	CHECK_STR(m.format, "npy");
	CHECK_EQ_U(m.ntensors, 1);
	CHECK_STR(m.tensors[0].name, "");
	CHECK_EQ_I(m.tensors[0].ndim, 2);
	CHECK_EQ_U(m.tensors[0].shape[1], 3);
	CHECK_EQ_I(m.tensors[0].strided, 0);
	CHECK_EQ_I(tensor_read_f32(&m, &m.tensors[0], 0, 6, v, &e), 0);
	CHECK_FBITS(v[5], 6.0f);
	model_release(&m);
}

TEST(npy_fortran_order)
{
	/* A 2x3x2 array stored column-major; logical a[i][j][k] =
	 * 100i + 10j + k. */
	float d[12], v[12];
	struct model m;
	struct err e = { "" };
	int n = 0;

	for (int k = 0; k < 2; k++)
		for (int j = 0; j < 3; j++)
			for (int i = 0; i < 2; i++)
				d[n++] = (float)(100 * i + 10 * j + k);
	CHECK_EQ_I(open_npy(&m, &e, "{\"shape\": (2,3,2), \"fortran_order\": True, \"descr\": \"<f4\"}\n",
			    d, sizeof(d), 2), 0);
	CHECK_EQ_I(m.tensors[0].strided, 1);
	CHECK_EQ_I(tensor_read_f32(&m, &m.tensors[0], 0, 12, v, &e), 0);
	n = 0;
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 3; j++)
			for (int k = 0; k < 2; k++, n++)
				CHECK_FBITS(v[n], (float)(100 * i + 10 * j + k));
	/* Every sub-range starts and stops in the right place. */
	for (int a = 0; a < 12; a++)
		for (int b = a; b <= 12; b++) {
			float w[12];

			CHECK_EQ_I(tensor_read_f32(&m, &m.tensors[0],
						   (uint64_t)a, (size_t)(b - a),
						   w, &e), 0);
			CHECK(memcmp(w, v + a, (size_t)(b - a) * 4) == 0);
		}
	CHECK_EQ_I(tensor_read_f32(&m, &m.tensors[0], 11, 2, v, &e), -1);
	model_release(&m);
}

TEST(npy_big_endian_and_ints)
{
	static const unsigned char be[] = { 0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0 };
	static const unsigned char i16[] = { 0xff, 0xfe, 0x00, 0x07 };
	static const unsigned char b1[] = { 0, 1, 1 };
	struct model m;
	struct err e = { "" };
	float v[3];

	CHECK_EQ_I(open_npy(&m, &e, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
			    be, sizeof(be), 1), 0);
	CHECK_EQ_U(m.tensors[0].dtype, DT_F32);
	CHECK_EQ_I(tensor_read_f32(&m, &m.tensors[0], 0, 2, v, &e), 0);
	CHECK_FBITS(v[0], 1.0f);
	CHECK_FBITS(v[1], -2.0f);
	model_release(&m);

	CHECK_EQ_I(open_npy(&m, &e, "{'descr': '>i2', 'fortran_order': False, 'shape': (2L,), }",
			    i16, sizeof(i16), 3), 0);
	CHECK_EQ_I(tensor_read_f32(&m, &m.tensors[0], 0, 2, v, &e), 0);
	CHECK_FBITS(v[0], -2.0f);
	CHECK_FBITS(v[1], 7.0f);
	model_release(&m);

	CHECK_EQ_I(open_npy(&m, &e, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
			    b1, sizeof(b1), 1), 0);
	CHECK_EQ_U(m.tensors[0].dtype, DT_BOOL);
	model_release(&m);

	/* 0-d */
	CHECK_EQ_I(open_npy(&m, &e, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
			    "\0\0\0\0\0\0\xf0\x3f", 8, 1), 0);
	CHECK_EQ_I(m.tensors[0].ndim, 0);
	CHECK_EQ_U(m.tensors[0].params, 1);
	CHECK_EQ_I(tensor_read_f32(&m, &m.tensors[0], 0, 1, v, &e), 0);
	CHECK_FBITS(v[0], 1.0f);
	model_release(&m);
}

TEST(npy_refused)
{
	static const struct {
		const char *dict, *msg;
	} bad[] = {
		{ "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
		  "object arrays (pickled Python objects) are not read" },
		{ "{'descr': '<U4', 'fortran_order': False, 'shape': (2,), }",
		  "numpy dtype '<U4' is not read" },
		{ "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
		  "structured dtypes" },
		{ "{'descr': '<f4', 'fortran_order': False}", "lacks" },
		{ "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
		  "True or False" },
		{ "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
		  "non-negative" },
		{ "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}",
		  "more than 8" },
		{ "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
		  "64 bits" },
		{ "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
		  "repeated" },
		{ "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x",
		  "after the dict" },
		{ "{'descr': '<f4', 'fortran_order': False, 'shape': (2,", "shape" },
		{ "{'descr: '<f4'", "" },
		{ "{'descr': '<f4', 'fortran_order': False, 'shape': (1000,)}",
		  "truncated" },
		{ "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
		  "overflows" },
	};
	float d[2] = { 0 };
	struct model m;
	struct err e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.msg[0] = '\0';
		CHECK_EQ_I(open_npy(&m, &e, bad[i].dict, d, sizeof(d), 1), -1);
		if (!strstr(e.msg, bad[i].msg))
			CHECK_STR(e.msg, bad[i].msg);
		CHECK(strchr(e.msg, '\n') == NULL);
	}
	/* A header length past the end of the file, every truncation. */
	{
		const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
		const char *p = npy_file(dict, d, sizeof(d), 1);
		size_t full = 10 + strlen(dict) + sizeof(d);

		for (size_t cut = 1; cut < full; cut++) {
			CHECK_EQ_I(truncate(p, (off_t)cut), 0);
			CHECK_EQ_I(model_open(&m, p, &e), -1);
		}
		unlink(p);
	}
}
