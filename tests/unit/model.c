/*
 * Unit tests for formats/: struct model, the safetensors reader and
 * tensor_read_f32(), checked against the shared fixtures' independent
 * expectations and against files written here.
 */
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include "formats/formats.h"
#include "tests/check.h"

/* Write bytes to a fresh temporary file; returns its path (static). */
static const char *write_tmp(const void *data, size_t n)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/qscope-unit-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, data, n) != (ssize_t)n) {
		CHECK(!"cannot write a temporary file");
		return path;
	}
	close(fd);
	return path;
}

/* A safetensors file from a header; data is n bytes of the given pattern. */
static const char *st_file(const char *header, const void *data, size_t n)
{
	size_t hl = strlen(header);
	unsigned char *buf = xmalloc(8 + hl + n);
	const char *p;

	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
	memcpy(buf + 8, header, hl);
	if (n)
		memcpy(buf + 8 + hl, data, n);
	p = write_tmp(buf, 8 + hl + n);
	free(buf);
	return p;
}

TEST(model_minimal_file)
{
	/* FORMATS.md 7.7: 'a' = F32 [1, -2], 'b' = U8 [1, 2, 3]. */
	static const unsigned char data[] = { 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0,
					      1, 2, 3 };
	const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
			  "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
			  "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[8,11]}}      ";
	const char *path = st_file(hdr, data, sizeof(data));
	struct model m;
	struct err e = { "" };
	float v[3];

	CHECK_EQ_I(model_open(&m, path, &e), 0);
	CHECK_EQ_U(m.ntensors, 2);
	CHECK_STR(m.format, "safetensors");
	CHECK_EQ_U(m.params, 5);
	CHECK_EQ_U(m.nbytes, 11);
	CHECK_EQ_U(m.nmeta, 1);
	if (m.nmeta == 1) {
		CHECK_STR(m.meta[0].key, "__metadata__.format");
		CHECK_STR(json_string_value(m.meta[0].value), "pt");
	}
	if (m.ntensors == 2) {
		CHECK_STR(m.tensors[0].name, "a");
		CHECK_EQ_I(tensor_read_f32(&m, &m.tensors[0], 0, 2, v, &e), 0);
		CHECK_FBITS(v[0], 1.0f);
		CHECK_FBITS(v[1], -2.0f);
		CHECK_EQ_I(tensor_read_f32(&m, &m.tensors[1], 1, 2, v, &e), 0);
		CHECK_FBITS(v[0], 2.0f);
		CHECK_FBITS(v[1], 3.0f);
		/* Out of range is an error, never a read past the tensor. */
		CHECK_EQ_I(tensor_read_f32(&m, &m.tensors[1], 2, 2, v, &e), -1);
		CHECK(strstr(e.msg, "outside") != NULL);
		CHECK(model_find(&m, "b") == &m.tensors[1]);
		CHECK(model_find(&m, "c") == NULL);
	}
	model_release(&m);
	unlink(path);
}

TEST(model_f4_partial_blocks)
{
	/* F4 packs two elements a byte, element 2i in the low nibble: codes
	 * 0..15 in order give 0 .5 1 1.5 2 3 4 6 -0 -.5 -1 -1.5 -2 -3 -4 -6. */
	static const float want[16] = { 0, .5f, 1, 1.5f, 2, 3, 4, 6,
					-0.0f, -.5f, -1, -1.5f, -2, -3, -4, -6 };
	unsigned char data[8];
	const char *path;
	struct model m;
	struct err e = { "" };
	float v[16];

	for (int i = 0; i < 8; i++)
		data[i] = (unsigned char)((2 * i) | ((2 * i + 1) << 4));
	path = st_file("{\"q\":{\"dtype\":\"F4\",\"shape\":[4,4],\"data_offsets\":[0,8]}}",
		       data, sizeof(data));
	CHECK_EQ_I(model_open(&m, path, &e), 0);
	if (m.ntensors == 1) {
		CHECK_EQ_U(m.tensors[0].params, 16);
		CHECK_EQ_U(m.tensors[0].nbytes, 8);
		/* Every start and length, so both partial ends are hit. */
		for (unsigned first = 0; first < 16; first++) {
			for (unsigned n = 0; first + n <= 16; n++) {
				int bad = 0;

				memset(v, 0x55, sizeof(v));
				if (tensor_read_f32(&m, &m.tensors[0], first, n,
						    v, &e) != 0)
					bad = 1;
				for (unsigned i = 0; i < n; i++)
					if (memcmp(&v[i], &want[first + i], 4))
						bad = 1;
				if (!check_report(__FILE__, __LINE__, !bad,
						  "F4 elements %u..%u: %s", first,
						  first + n, e.msg))
					goto out;
			}
		}
	}
out:
	model_release(&m);
	unlink(path);
}

TEST(model_natural_order)
{
	CHECK(natural_cmp("layers.9", "layers.10") < 0);
	CHECK(natural_cmp("layers.10", "layers.9") > 0);
	CHECK(natural_cmp("a01", "a1") == 0);
	CHECK(natural_cmp("model-00002-of-00003", "model-00010-of-00003") < 0);
	CHECK(natural_cmp("abc", "abd") < 0);
	CHECK(natural_cmp("ab", "abc") < 0);
	CHECK(natural_cmp("", "") == 0);
}

TEST(model_text_sanitize)
{
	char out[64];

	CHECK_STR(text_sanitize("plain.name", out, sizeof(out)), "plain.name");
	CHECK_STR(text_sanitize("a\x1b[31mb", out, sizeof(out)), "a\\x1b[31mb");
	CHECK_STR(text_sanitize("\xe5\xb1\x82", out, sizeof(out)), "\xe5\xb1\x82");
	CHECK_STR(text_sanitize("bad\xff", out, sizeof(out)), "bad\\xff");
	/* Truncated sequence, overlong encoding, C1 control (U+0085). */
	CHECK_STR(text_sanitize("\xe5\xb1", out, sizeof(out)), "\\xe5\\xb1");
	CHECK_STR(text_sanitize("\xc0\xaf", out, sizeof(out)), "\\xc0\\xaf");
	CHECK_STR(text_sanitize("\xc2\x85", out, sizeof(out)), "\\xc2\\x85");
	CHECK_STR(text_sanitize("tab\there", out, sizeof(out)), "tab\\x09here");
	/* Never past the buffer, never half a character. */
	CHECK_STR(text_sanitize("abcdef", out, 4), "abc");
	CHECK_STR(text_sanitize("\x01", out, 4), "");
	CHECK_STR(text_sanitize("a\xe5\xb1\x82", out, 4), "a");
}

/* ---- every safetensors fixture against its expectation ---- */

static double jnum(const json_t *j)
{
	return json_number_value(j);
}

static uint64_t jint(const json_t *j)
{
	return (uint64_t)json_number_value(j);
}

/* Compare one decoded tensor with the expectation's statistics. */
static void check_values(const char *file, const struct model *m,
			 const struct tensor *t, const json_t *exp)
{
	enum { CHUNK = 1000 };	/* odd size: chunk ends fall mid-row */
	float *buf = xmalloc(CHUNK * sizeof(float));
	double sum = 0, mn = INFINITY, mx = -INFINITY;
	uint64_t nan = 0, inf = 0;
	const json_t *first = json_object_get(exp, "first");
	struct err e = { "" };

	for (uint64_t at = 0; at < t->params; at += CHUNK) {
		size_t n = t->params - at < CHUNK ? t->params - at : CHUNK;

		if (!check_report(__FILE__, __LINE__,
				  tensor_read_f32(m, t, at, n, buf, &e) == 0,
				  "%s: %s: %s", file, t->name, e.msg))
			break;
		for (size_t i = 0; i < n; i++) {
			double x = buf[i];

			if (at + i < json_array_size(first)) {
				const json_t *f = json_array_get(first, at + i);

				if (json_is_string(f))
					check_report(__FILE__, __LINE__,
						     !isfinite(x),
						     "%s: %s[%zu] = %g, expected %s",
						     file, t->name, (size_t)(at + i),
						     x, json_string_value(f));
				else
					check_report(__FILE__, __LINE__,
						     x == (double)(float)jnum(f),
						     "%s: %s[%zu] = %.17g, expected %.17g",
						     file, t->name, (size_t)(at + i),
						     x, jnum(f));
			}
			if (isnan(x)) {
				nan++;
			} else if (isinf(x)) {
				inf++;
			} else {
				sum += x;
				mn = x < mn ? x : mn;
				mx = x > mx ? x : mx;
			}
		}
	}
	free(buf);
	check_report(__FILE__, __LINE__,
		     nan == jint(json_object_get(exp, "nan")) &&
		     inf == jint(json_object_get(exp, "inf")),
		     "%s: %s: nan %llu inf %llu", file, t->name,
		     (unsigned long long)nan, (unsigned long long)inf);
	if (nan + inf < t->params) {
		double es = jnum(json_object_get(exp, "sum"));
		double scale = sqrt((double)t->params *
				    jnum(json_object_get(exp, "sumsq")));

		/* min/max are exact float values; integers beyond 2^24
		 * round in float32, so compare at float precision. */
		check_report(__FILE__, __LINE__,
			     (float)mn == (float)jnum(json_object_get(exp, "min")) &&
			     (float)mx == (float)jnum(json_object_get(exp, "max")),
			     "%s: %s: min %.9g max %.9g", file, t->name, mn, mx);
		check_report(__FILE__, __LINE__,
			     fabs(sum - es) <= 1e-6 * scale + 1e-6 * fabs(es),
			     "%s: %s: sum %.17g, expected %.17g", file, t->name,
			     sum, es);
	}
}

static void check_fixture(const char *dir, const char *rel)
{
	char path[4096], epath[4096];
	json_error_t jerr;
	json_t *exp, *tensors, *et;
	struct model m;
	struct err e = { "" };
	size_t i;

	snprintf(epath, sizeof(epath), "%s/%s.expected.json", dir, rel);
	/* Integer sums can pass 2^63: read every integer as a double. */
	exp = json_load_file(epath, JSON_DECODE_INT_AS_REAL, &jerr);
	if (!check_report(__FILE__, __LINE__, exp != NULL, "%s: %s", epath,
			  jerr.text))
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (strcmp(json_string_value(json_object_get(exp, "format")),
		   "safetensors-index-json") == 0)
		*strrchr(path, '/') = '\0';	/* the folder */
	if (!check_report(__FILE__, __LINE__, model_open(&m, path, &e) == 0,
			  "%s", e.msg)) {
		json_decref(exp);
		return;
	}
	tensors = json_object_get(exp, "tensors");
	CHECK_EQ_U(m.ntensors, json_array_size(tensors));
	json_array_foreach(tensors, i, et) {
		const char *name = json_string_value(json_object_get(et, "name"));
		const struct tensor *t = model_find(&m, name);

		if (!check_report(__FILE__, __LINE__, t != NULL, "%s: no '%s'",
				  rel, name))
			continue;
		/* Single files list in header order, as the expectation. */
		if (m.nsources == 1)
			check_report(__FILE__, __LINE__, t == &m.tensors[i],
				     "%s: '%s' out of order", rel, name);
		CHECK_STR(dtype_get(t->dtype)->name,
			  json_string_value(json_object_get(et, "dtype")));
		CHECK_EQ_U(t->params, jint(json_object_get(et, "params")));
		CHECK_EQ_U(t->nbytes, jint(json_object_get(et, "bytes")));
		if (json_object_get(et, "data_offset"))
			CHECK_EQ_U(t->offset,
				   jint(json_object_get(et, "data_offset")));
		if (json_object_get(et, "sum") && dtype_get(t->dtype)->decode)
			check_values(rel, &m, t, et);
	}
	model_release(&m);
	json_decref(exp);
}

TEST(model_fixtures)
{
	static const char *const files[] = {
		"safetensors/st-all-dtypes.safetensors",
		"safetensors/llama-tiny/llama-tiny-bf16.safetensors",
		"safetensors/sharded/model-00001-of-00002.safetensors",
		"safetensors/sharded/model.safetensors.index.json",
		"doctor/bf16-range-overflow.safetensors",
		"doctor/mislabeled-bf16-as-f16.safetensors",
		"doctor/mislabeled-f16-as-bf16.safetensors",
		"real/huggingface__safetensors__samples_overall.safetensors",
		"real/ml-explore__mlx-examples__llms_adapters_adapters.safetensors",
		"real/tracel-ai__burn__crates_burn-store_safetensors-tests_tests_multi_layer_multi_layer.safetensors",
		"real/huggingface__candle__candle-examples_examples_csm_voices.safetensors",
		"real/syoyo__safetensors-cpp__gen_model.safetensors",
		"real/snakers4__silero-vad__src_silero_vad_data_silero_vad_16k.safetensors",
	};
	const char *dir = check_fixtures();

	if (!dir) {
		printf("    (no fixtures folder; set QS_FIXTURES)\n");
		return;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		check_fixture(dir, files[i]);
}

TEST(model_folder_config)
{
	const char *dir = check_fixtures();
	char path[4096];
	struct model m;
	struct err e = { "" };
	int found = 0;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/safetensors/llama-tiny", dir);
	CHECK_EQ_I(model_open(&m, path, &e), 0);
	CHECK_EQ_U(m.ntensors, 12);
	for (size_t i = 0; i < m.nmeta; i++) {
		if (strcmp(m.meta[i].key, "config.json") == 0) {
			found = 1;
			CHECK(json_is_object(m.meta[i].value));
			CHECK_STR(json_string_value(json_object_get(m.meta[i].value,
								    "torch_dtype")),
				  "bfloat16");
		}
	}
	CHECK(found);
	model_release(&m);
}

/* More shards than the first growth of the source list: tensors must keep
 * pointing at their sources while the list grows. */
TEST(model_many_shards)
{
	char dir[] = "/tmp/qscope-unit-shards-XXXXXX";
	char path[256], index[8192];
	size_t o;
	struct model m;
	struct err e = { "" };
	enum { N = 40 };

	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	o = (size_t)snprintf(index, sizeof(index), "{\"weight_map\":{");
	for (int i = 0; i < N; i++) {
		char hdr[128], shard[64];
		unsigned char data[4] = { 0, 0, 0x80, 0x3f };
		size_t hl;
		FILE *f;

		snprintf(shard, sizeof(shard), "model-%05d-of-%05d.safetensors",
			 i + 1, N);
		snprintf(path, sizeof(path), "%s/%s", dir, shard);
		hl = (size_t)snprintf(hdr, sizeof(hdr),
				      "{\"t%d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
				      i);
		f = fopen(path, "wb");
		if (!f)
			break;
		for (int k = 0; k < 8; k++)
			fputc((int)((hl >> (8 * k)) & 0xff), f);
		fwrite(hdr, 1, hl, f);
		fwrite(data, 1, 4, f);
		fclose(f);
		o += (size_t)snprintf(index + o, sizeof(index) - o, "%s\"t%d\":\"%s\"",
				      i ? "," : "", i, shard);
	}
	snprintf(index + o, sizeof(index) - o, "}}");

	/* Without an index: every shard, in natural order. */
	CHECK_EQ_I(model_open(&m, dir, &e), 0);
	CHECK_EQ_U(m.ntensors, N);
	for (size_t i = 0; i < m.ntensors; i++)
		CHECK(strstr(m.tensors[i].src->path, ".safetensors") != NULL);
	model_release(&m);

	/* With one. */
	snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
	{
		FILE *f = fopen(path, "w");

		if (f) {
			fputs(index, f);
			fclose(f);
		}
	}
	CHECK_EQ_I(model_open(&m, dir, &e), 0);
	CHECK_EQ_U(m.ntensors, N);
	if (m.ntensors == N)
		CHECK_STR(m.tensors[N - 1].name, "t39");
	model_release(&m);

	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "%s/model-%05d-of-%05d.safetensors",
			 dir, i + 1, N);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
	unlink(path);
	rmdir(dir);
}
