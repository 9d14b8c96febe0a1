/*
 * Unit tests for formats/gguf.c: every GGUF fixture against its
 * independent expectation (names, dtypes, shapes, sizes, data offsets,
 * metadata, decoded values), the refused ones (big-endian, legacy ggml,
 * bad/), and small files written here: v1/v2/v3, every value type, broken
 * UTF-8, arrays of arrays, split models.
 */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/formats.h"
#include "tests/check.h"

/* ---- fixtures ---- */

/* gguf-py's type names (expected.json) as qscope's. */
static const char *type_name(const char *gg)
{
	static const char *const map[][2] = {
		{ "UINT8", "u8" }, { "INT8", "i8" }, { "UINT16", "u16" },
		{ "INT16", "i16" }, { "UINT32", "u32" }, { "INT32", "i32" },
		{ "FLOAT32", "f32" }, { "BOOL", "bool" }, { "STRING", "string" },
		{ "ARRAY", "array" }, { "UINT64", "u64" }, { "INT64", "i64" },
		{ "FLOAT64", "f64" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(gg, map[i][0]) == 0)
			return map[i][1];
	return "?";
}

static const struct meta *find_meta(const struct model *m, const char *key)
{
	for (size_t i = 0; i < m->nmeta; i++)
		if (strcmp(m->meta[i].key, key) == 0)
			return &m->meta[i];
	return NULL;
}

/* A metadata value as stored against the expectation's (first items of
 * arrays included): numbers exactly, strings, booleans. */
static int same_value(const json_t *got, const json_t *exp)
{
	if (json_is_number(exp))
		return json_is_number(got) &&
		       json_number_value(got) == json_number_value(exp);
	return json_equal(got, exp);
}

static void check_meta(const char *rel, const struct model *m,
		       const json_t *exp)
{
	const json_t *md = json_object_get(exp, "metadata");
	const json_t *types = json_object_get(exp, "metadata_types");
	const json_t *arrays = json_object_get(exp, "metadata_arrays");
	const json_t *hdr = json_object_get(exp, "header");
	const char *k;
	json_t *v;

	CHECK_EQ_U(m->nmeta, json_integer_value(json_object_get(hdr, "kv_count")));
	json_object_foreach((json_t *)md, k, v) {
		const struct meta *g = find_meta(m, k);

		if (!check_report(__FILE__, __LINE__, g != NULL,
				  "%s: no metadata '%s'", rel, k))
			continue;
		check_report(__FILE__, __LINE__,
			     strcmp(g->type, type_name(json_string_value(
						json_object_get(types, k)))) == 0,
			     "%s: '%s' has type %s", rel, k, g->type);
		check_report(__FILE__, __LINE__, same_value(g->value, v),
			     "%s: '%s' differs", rel, k);
	}
	json_object_foreach((json_t *)arrays, k, v) {
		const struct meta *g = find_meta(m, k);
		const json_t *first, *ef = json_object_get(v, "first");
		json_t *item;
		char tn[64];
		size_t i;

		if (!check_report(__FILE__, __LINE__, g != NULL,
				  "%s: no array '%s'", rel, k))
			continue;
		snprintf(tn, sizeof(tn), "array[%s]",
			 type_name(json_string_value(json_object_get(v, "type"))));
		CHECK_STR(g->type, tn);
		CHECK_STR(json_string_value(json_object_get(g->value, "type")),
			  type_name(json_string_value(json_object_get(v, "type"))));
		CHECK_EQ_U(json_integer_value(json_object_get(g->value, "len")),
			   json_integer_value(json_object_get(v, "len")));
		first = json_object_get(g->value, "first");
		CHECK_EQ_U(json_array_size(first),
			   json_integer_value(json_object_get(v, "len")) < 8 ?
			   json_integer_value(json_object_get(v, "len")) : 8);
		json_array_foreach(ef, i, item)
			check_report(__FILE__, __LINE__,
				     same_value(json_array_get(first, i), item),
				     "%s: '%s' item %zu differs", rel, k, i);
	}
}

/* Decode all of t and compare with the expectation: first values and
 * min/max bit for bit, NaN/Inf counts, the sum to double rounding. */
static void check_values(const char *rel, const struct model *m,
			 const struct tensor *t, const json_t *exp)
{
	enum { CHUNK = 1000 };	/* not a multiple of any block */
	float *buf = xmalloc(CHUNK * sizeof(float));
	double sum = 0, mn = INFINITY, mx = -INFINITY;
	uint64_t nan = 0, inf = 0;
	const json_t *first = json_object_get(exp, "first");
	struct err e = { "" };

	for (uint64_t at = 0; at < t->params; at += CHUNK) {
		size_t n = t->params - at < CHUNK ? t->params - at : CHUNK;

		if (!check_report(__FILE__, __LINE__,
				  tensor_read_f32(m, t, at, n, buf, &e) == 0,
				  "%s: %s", rel, e.msg))
			break;
		for (size_t i = 0; i < n; i++) {
			double x = buf[i];

			if (at + i < json_array_size(first)) {
				const json_t *f = json_array_get(first, at + i);
				const char *s = json_string_value(f);

				if (s)
					check_report(__FILE__, __LINE__,
						     strcmp(s, "nan") == 0 ? isnan(x) :
						     x == (s[0] == '-' ? -INFINITY : INFINITY),
						     "%s: %s[%zu] = %g, expected %s",
						     rel, t->name, (size_t)(at + i), x, s);
				else
					check_report(__FILE__, __LINE__,
						     x == json_number_value(f) &&
						     signbit(x) == signbit(json_number_value(f)),
						     "%s: %s[%zu] = %.17g, expected %.17g",
						     rel, t->name, (size_t)(at + i), x,
						     json_number_value(f));
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
		     nan == (uint64_t)json_number_value(json_object_get(exp, "nan")) &&
		     inf == (uint64_t)json_number_value(json_object_get(exp, "inf")),
		     "%s: %s: nan %llu inf %llu", rel, t->name,
		     (unsigned long long)nan, (unsigned long long)inf);
	if (nan + inf < t->params) {
		double es = json_number_value(json_object_get(exp, "sum"));
		double scale = sqrt((double)t->params *
				    json_number_value(json_object_get(exp, "sumsq")));

		check_report(__FILE__, __LINE__,
			     mn == json_number_value(json_object_get(exp, "min")) &&
			     mx == json_number_value(json_object_get(exp, "max")),
			     "%s: %s: min %.17g max %.17g", rel, t->name, mn, mx);
		check_report(__FILE__, __LINE__,
			     fabs(sum - es) <= 1e-9 * scale + 1e-300,
			     "%s: %s: sum %.17g, expected %.17g", rel, t->name,
			     sum, es);
	}
}

/* Open one fixture and compare; values too if with_values. */
static void check_fixture(const char *dir, const char *rel, int with_values)
{
	char path[4096], epath[4096];
	json_error_t jerr;
	json_t *exp, *tensors, *et;
	struct model m;
	struct err e = { "" };
	const char *order;
	size_t i;

	snprintf(epath, sizeof(epath), "%s/%s.expected.json", dir, rel);
	exp = json_load_file(epath, 0, &jerr);
	if (!check_report(__FILE__, __LINE__, exp != NULL, "%s: %s", epath,
			  jerr.text))
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	order = json_string_value(json_object_get(
		json_object_get(exp, "header"), "byte_order"));
	if (order && strcmp(order, "big") == 0) {
		/* Refused, by design (formats/gguf.c). */
		CHECK_EQ_I(model_open(&m, path, &e), -1);
		CHECK(strstr(e.msg, "big-endian GGUF is not supported") != NULL);
		json_decref(exp);
		return;
	}
	if (!check_report(__FILE__, __LINE__, model_open(&m, path, &e) == 0,
			  "%s", e.msg)) {
		json_decref(exp);
		return;
	}
	CHECK_STR(m.format, "gguf");
	tensors = json_object_get(exp, "tensors");
	CHECK_EQ_U(m.ntensors, json_array_size(tensors));
	json_array_foreach(tensors, i, et) {
		const char *name = json_string_value(json_object_get(et, "name"));
		const json_t *shape = json_object_get(et, "shape");
		const struct tensor *t = i < m.ntensors ? &m.tensors[i] : NULL;

		if (!check_report(__FILE__, __LINE__, t && !strcmp(t->name, name),
				  "%s: tensor %zu is not '%s'", rel, i, name))
			continue;
		CHECK_STR(dtype_get(t->dtype)->name,
			  json_string_value(json_object_get(et, "dtype")));
		CHECK_EQ_U(t->ndim, json_array_size(shape));
		for (int d = 0; d < t->ndim && d < (int)json_array_size(shape); d++)
			CHECK_EQ_U(t->shape[d],
				   json_integer_value(json_array_get(shape, d)));
		CHECK_EQ_U(t->params, json_integer_value(json_object_get(et, "params")));
		CHECK_EQ_U(t->nbytes, json_integer_value(json_object_get(et, "bytes")));
		CHECK_EQ_U(t->offset,
			   json_integer_value(json_object_get(et, "data_offset")));
		CHECK(t->data == t->src->data + t->offset);
		/* Values once the dtype's decoder exists (quant/ggml.c). */
		if (with_values && json_object_get(et, "sum") &&
		    dtype_get(t->dtype)->decode)
			check_values(rel, &m, t, et);
	}
	if (!with_values)
		check_meta(rel, &m, exp);
	model_release(&m);
	json_decref(exp);
}

/* Every GGUF fixture (format "gguf") in gguf/, doctor/ and real/. */
static void each_fixture(int with_values)
{
	static const char *const dirs[] = { "gguf", "doctor", "real" };
	const char *root = check_fixtures();
	int n = 0;

	if (!root) {
		printf("    (no fixtures folder; set QS_FIXTURES)\n");
		return;
	}
	for (size_t k = 0; k < sizeof(dirs) / sizeof(dirs[0]); k++) {
		char dpath[4096];
		struct dirent **names;
		int count;

		snprintf(dpath, sizeof(dpath), "%s/%s", root, dirs[k]);
		count = scandir(dpath, &names, NULL, alphasort);
		for (int i = 0; i < count; i++) {
			const char *f = names[i]->d_name;
			size_t len = strlen(f);
			char rel[1024];

			if (len > 19 && strcmp(f + len - 19, ".gguf.expected.json") == 0) {
				snprintf(rel, sizeof(rel), "%s/%.*s", dirs[k],
					 (int)(len - 14), f);
				check_fixture(root, rel, with_values);
				n++;
			}
			free(names[i]);
		}
		if (count >= 0)
			free(names);
	}
	/* 20 in gguf/, 1 in doctor/, 6 in real/ */
	CHECK(n >= 27);
}

TEST(gguf_fixtures_list)
{
	each_fixture(0);
}

TEST(gguf_fixtures_values)
{
	each_fixture(1);
}

/* Open path (under the fixtures) expecting failure with all fragments. */
static void refused(const char *rel, const char *frag1, const char *frag2)
{
	const char *root = check_fixtures();
	char path[4096];
	struct model m;
	struct err e = { "" };

	if (!root)
		return;
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	CHECK_EQ_I(model_open(&m, path, &e), -1);
	check_report(__FILE__, __LINE__,
		     strstr(e.msg, path) && strstr(e.msg, frag1) &&
		     (!frag2 || strstr(e.msg, frag2)),
		     "%s: message '%s'", rel, e.msg);
}

TEST(gguf_refused_fixtures)
{
	refused("real/ggml-org__whisper.cpp__models_for-tests-ggml-tiny.bin",
		"legacy ggml file", "not supported");
	refused("bad/bad-ntensors.gguf",
		"n_tensors = 281474976710655 cannot fit in a 1110112-byte file",
		NULL);
	refused("bad/bad-truncated-data.gguf",
		"tensor 'blk.0.ffn_up.weight': data [518240, 628832) runs past the end of the file (600000 bytes)",
		NULL);
	refused("bad/bad-truncated-header.gguf",
		"KV 13 'tokenizer.ggml.tokens'", "array item 314 of 384");
	refused("bad/uShure__llama-jni-bridge__models_ggml-vocab-bert-bge.gguf",
		"KV 5: key length 1572864 exceeds the 627333 bytes left in the file",
		NULL);
}

/* ---- files written here ---- */

struct gb {
	unsigned char *p;
	size_t n, cap;
	int v1;
};

static void gb_put(struct gb *b, const void *s, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void gb_le(struct gb *b, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++) {
		unsigned char c = (unsigned char)(v >> (8 * i));

		gb_put(b, &c, 1);
	}
}

/* A count, length or dimension: u32 in v1. */
static void gb_n(struct gb *b, uint64_t v)
{
	gb_le(b, v, b->v1 ? 4 : 8);
}

static void gb_strn(struct gb *b, const char *s, size_t n)
{
	gb_n(b, n);
	gb_put(b, s, n);
}

static void gb_str(struct gb *b, const char *s)
{
	gb_strn(b, s, strlen(s));
}

static void gb_key(struct gb *b, const char *key, uint32_t type)
{
	gb_str(b, key);
	gb_le(b, type, 4);
}

static void gb_tensor(struct gb *b, const char *name, int ndims,
		      const uint64_t *ne, uint32_t type, uint64_t offset)
{
	gb_str(b, name);
	gb_le(b, (uint64_t)ndims, 4);
	for (int i = 0; i < ndims; i++)
		gb_n(b, ne[i]);
	gb_le(b, type, 4);
	gb_le(b, offset, 8);
}

static void gb_pad(struct gb *b, size_t align)
{
	while (b->n % align)
		gb_le(b, 0, 1);
}

static void gb_header(struct gb *b, uint32_t version, uint64_t ntensors,
		      uint64_t nkv)
{
	b->n = 0;
	b->v1 = version == 1;
	gb_put(b, "GGUF", 4);
	gb_le(b, version, 4);
	gb_n(b, ntensors);
	gb_n(b, nkv);
}

static const char *write_file(const char *path, const struct gb *b)
{
	static char tmp[64];
	FILE *f;

	if (!path) {
		int fd;

		snprintf(tmp, sizeof(tmp), "/tmp/qscope-gguf-XXXXXX");
		fd = mkstemp(tmp);
		if (fd >= 0)
			close(fd);
		path = tmp;
	}
	f = fopen(path, "wb");
	if (!f || fwrite(b->p, 1, b->n, f) != b->n) {
		CHECK(!"cannot write a temporary file");
	}
	if (f)
		fclose(f);
	return path;
}

/*
 * A file with one KV of every type, arrays (long, nested, of strings),
 * broken UTF-8 in a key and a value, and two tensors: F32 ne [3, 2]
 * (shape [2, 3]) holding 0..5 and I8 ne [5] at offset 32.
 */
static void every_type(struct gb *b, uint32_t version)
{
	static const char bad_utf8[] = "a\xff" "b\0c\xe2\x82";
	float f;
	uint32_t fb;
	double d = -2.5;
	uint64_t db;
	const uint64_t ne1[] = { 3, 2 }, ne2[] = { 5 };

	gb_header(b, version, 2, 19);
	gb_key(b, "k.u8", 0); gb_le(b, 200, 1);
	gb_key(b, "k.i8", 1); gb_le(b, (uint8_t)-5, 1);
	gb_key(b, "k.u16", 2); gb_le(b, 65535, 2);
	gb_key(b, "k.i16", 3); gb_le(b, (uint16_t)-300, 2);
	gb_key(b, "k.u32", 4); gb_le(b, 4000000000u, 4);
	gb_key(b, "k.i32", 5); gb_le(b, (uint32_t)-70000, 4);
	f = 1e-5f;
	memcpy(&fb, &f, 4);
	gb_key(b, "k.f32", 6); gb_le(b, fb, 4);
	gb_key(b, "k.bool", 7); gb_le(b, 1, 1);
	gb_key(b, "k.string", 8); gb_str(b, "héllo");
	gb_key(b, "k.u64", 10); gb_le(b, UINT64_MAX, 8);
	gb_key(b, "k.i64", 11); gb_le(b, (uint64_t)INT64_MIN, 8);
	memcpy(&db, &d, 8);
	gb_key(b, "k.f64", 12); gb_le(b, db, 8);
	gb_key(b, "k.bad\xc0utf8", 8);
	gb_strn(b, bad_utf8, sizeof(bad_utf8) - 1);
	gb_key(b, "k.arr.u32", 9); gb_le(b, 4, 4); gb_n(b, 3);
	gb_le(b, 7, 4); gb_le(b, 8, 4); gb_le(b, 9, 4);
	gb_key(b, "k.arr.long", 9); gb_le(b, 8, 4); gb_n(b, 1000);
	for (int i = 0; i < 1000; i++) {
		char s[16];

		snprintf(s, sizeof(s), "t%d", i);
		gb_str(b, s);
	}
	gb_key(b, "k.arr.bool", 9); gb_le(b, 7, 4); gb_n(b, 20);
	for (int i = 0; i < 20; i++)
		gb_le(b, (uint64_t)(i & 1), 1);
	gb_key(b, "k.arr.nested", 9); gb_le(b, 9, 4); gb_n(b, 2);
	gb_le(b, 0, 4); gb_n(b, 2); gb_le(b, 1, 1); gb_le(b, 2, 1);
	gb_le(b, 8, 4); gb_n(b, 1); gb_str(b, "x");
	gb_key(b, "k.arr.empty", 9); gb_le(b, 12, 4); gb_n(b, 0);
	gb_key(b, "general.alignment", 4); gb_le(b, 32, 4);
	gb_tensor(b, "w", 2, ne1, 0, 0);
	gb_tensor(b, "i\xff", 1, ne2, 24, 32);
	gb_pad(b, 32);
	for (int i = 0; i < 6; i++) {
		f = (float)i;
		memcpy(&fb, &f, 4);
		gb_le(b, fb, 4);
	}
	gb_pad(b, 32);
	gb_put(b, "\x01\x02\x03\xfd\x80", 5);
}

static void check_every_type(uint32_t version)
{
	struct gb b = { NULL, 0, 0, 0 };
	struct model m;
	struct err e = { "" };
	const struct meta *md;
	const char *path;
	float v[6];

	every_type(&b, version);
	path = write_file(NULL, &b);
	free(b.p);
	if (!check_report(__FILE__, __LINE__, model_open(&m, path, &e) == 0,
			  "v%u: %s", version, e.msg)) {
		unlink(path);
		return;
	}
	CHECK_EQ_U(m.nmeta, 19);
#define META(k, t) ((md = find_meta(&m, k)) && strcmp(md->type, t) == 0)
	CHECK(META("k.u8", "u8") && json_integer_value(md->value) == 200);
	CHECK(META("k.i8", "i8") && json_integer_value(md->value) == -5);
	CHECK(META("k.u16", "u16") && json_integer_value(md->value) == 65535);
	CHECK(META("k.i16", "i16") && json_integer_value(md->value) == -300);
	CHECK(META("k.u32", "u32") &&
	      json_integer_value(md->value) == 4000000000ll);
	CHECK(META("k.i32", "i32") && json_integer_value(md->value) == -70000);
	CHECK(META("k.f32", "f32") &&
	      json_real_value(md->value) == (double)1e-5f);
	CHECK(META("k.bool", "bool") && json_is_true(md->value));
	CHECK(META("k.string", "string") &&
	      strcmp(json_string_value(md->value), "héllo") == 0);
	/* Beyond int64: kept exactly, as a decimal string. */
	CHECK(META("k.u64", "u64") &&
	      strcmp(json_string_value(md->value), "18446744073709551615") == 0);
	CHECK(META("k.i64", "i64") && json_integer_value(md->value) == INT64_MIN);
	CHECK(META("k.f64", "f64") && json_real_value(md->value) == -2.5);
	/* Invalid UTF-8 and NUL become U+FFFD, in keys and values. */
	CHECK(META("k.bad\xef\xbf\xbdutf8", "string"));
	if (md)
		CHECK_STR(json_string_value(md->value),
			  "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd");
	CHECK(META("k.arr.u32", "array[u32]"));
	if (md) {
		json_t *want = json_pack("{s:s, s:i, s:[i,i,i]}", "type", "u32",
					 "len", 3, "first", 7, 8, 9);

		CHECK(json_equal(md->value, want));
		json_decref(want);
	}
	/* A long array: its length and first 8 items only. */
	CHECK(META("k.arr.long", "array[string]"));
	if (md) {
		json_t *first = json_object_get(md->value, "first");

		CHECK_EQ_U(json_integer_value(json_object_get(md->value, "len")), 1000);
		CHECK_EQ_U(json_array_size(first), 8);
		CHECK_STR(json_string_value(json_array_get(first, 7)), "t7");
	}
	CHECK(META("k.arr.bool", "array[bool]"));
	if (md)
		CHECK(json_is_true(json_array_get(
			json_object_get(md->value, "first"), 1)));
	CHECK(META("k.arr.nested", "array[array]"));
	if (md) {
		json_t *want = json_pack(
			"{s:s, s:i, s:[{s:s, s:i, s:[i,i]}, {s:s, s:i, s:[s]}]}",
			"type", "array", "len", 2, "first",
			"type", "u8", "len", 2, "first", 1, 2,
			"type", "string", "len", 1, "first", "x");

		CHECK(json_equal(md->value, want));
		json_decref(want);
	}
	CHECK(META("k.arr.empty", "array[f64]") &&
	      json_array_size(json_object_get(md->value, "first")) == 0);
#undef META

	CHECK_EQ_U(m.ntensors, 2);
	if (m.ntensors == 2) {
		const struct tensor *w = &m.tensors[0], *i8 = &m.tensors[1];

		CHECK_STR(w->name, "w");
		CHECK_EQ_I(w->ndim, 2);
		CHECK_EQ_U(w->shape[0], 2);
		CHECK_EQ_U(w->shape[1], 3);
		CHECK_EQ_U(w->nbytes, 24);
		CHECK_EQ_U(w->offset % 32, 0);
		CHECK_EQ_I(tensor_read_f32(&m, w, 0, 6, v, &e), 0);
		for (int k = 0; k < 6; k++)
			CHECK_FBITS(v[k], (float)k);
		CHECK_STR(i8->name, "i\xef\xbf\xbd");
		CHECK_STR(dtype_get(i8->dtype)->name, "I8");
		CHECK_EQ_U(i8->offset, w->offset + 32);
		CHECK_EQ_I(tensor_read_f32(&m, i8, 0, 5, v, &e), 0);
		CHECK_FBITS(v[3], -3.0f);
		CHECK_FBITS(v[4], -128.0f);
	}
	model_release(&m);
	unlink(path);
}

TEST(gguf_every_type_v1)
{
	check_every_type(1);
}

TEST(gguf_every_type_v2)
{
	check_every_type(2);
}

TEST(gguf_every_type_v3)
{
	check_every_type(3);
}

/* A tiny v3 file: KVs from kv (already encoded, n of them), tensors. */
struct tinfo {
	const char *name;
	int ndims;
	uint64_t ne[5];
	uint32_t type;
	uint64_t offset;
};

static void tiny(struct gb *b, int nkv, void (*kv)(struct gb *),
		 const struct tinfo *ts, int nt, size_t data)
{
	gb_header(b, 3, (uint64_t)nt, (uint64_t)nkv);
	if (kv)
		kv(b);
	for (int i = 0; i < nt; i++)
		gb_tensor(b, ts[i].name, ts[i].ndims, ts[i].ne, ts[i].type,
			  ts[i].offset);
	gb_pad(b, 32);
	for (size_t i = 0; i < data; i++)
		gb_le(b, 0, 1);
}

/* Refused with a message naming the file and holding frag. */
static void expect_error(const struct gb *b, const char *frag)
{
	const char *path = write_file(NULL, b);
	struct model m;
	struct err e = { "" };

	CHECK_EQ_I(model_open(&m, path, &e), -1);
	check_report(__FILE__, __LINE__,
		     strstr(e.msg, path) && strstr(e.msg, frag),
		     "expected '%s' in '%s'", frag, e.msg);
	unlink(path);
}

static void kv_bool2(struct gb *b)
{
	gb_key(b, "b", 7);
	gb_le(b, 2, 1);
}

static void kv_align3(struct gb *b)
{
	gb_key(b, "general.alignment", 4);
	gb_le(b, 3, 4);
}

static void kv_align_str(struct gb *b)
{
	gb_key(b, "general.alignment", 8);
	gb_str(b, "32");
}

static void kv_empty_key(struct gb *b)
{
	gb_key(b, "", 4);
	gb_le(b, 3, 4);
}

TEST(gguf_errors)
{
	struct gb b = { NULL, 0, 0, 0 };
	const struct tinfo f32_4 = { "a", 1, { 4 }, 0, 0 };
	const struct tinfo two[] = { { "a", 1, { 8 }, 0, 0 },
				     { "b", 1, { 8 }, 0, 0 } };
	const struct tinfo dup[] = { { "a", 1, { 8 }, 0, 0 },
				     { "a", 1, { 8 }, 0, 32 } };
	struct tinfo t;

	tiny(&b, 1, kv_bool2, NULL, 0, 0);
	expect_error(&b, "KV 0 'b': bool value 2 is neither 0 nor 1");
	tiny(&b, 1, kv_align3, &f32_4, 1, 16);
	expect_error(&b, "general.alignment = 3 is not a power of two");
	tiny(&b, 1, kv_align_str, &f32_4, 1, 16);
	expect_error(&b, "general.alignment must be a u32");
	tiny(&b, 1, kv_empty_key, NULL, 0, 0);
	expect_error(&b, "KV 0: empty key");

	t = f32_4;
	t.ndims = 5;
	t.ne[1] = t.ne[2] = t.ne[3] = t.ne[4] = 1;
	tiny(&b, 0, NULL, &t, 1, 16);
	expect_error(&b, "tensor 'a': n_dims = 5, more than 4");
	t = f32_4;
	t.type = 4;
	tiny(&b, 0, NULL, &t, 1, 16);
	expect_error(&b, "tensor 'a': unknown or removed ggml type 4");
	t.type = 99;
	tiny(&b, 0, NULL, &t, 1, 16);
	expect_error(&b, "unknown or removed ggml type 99");
	t = f32_4;
	t.type = 8;	/* Q8_0: rows of 32 */
	t.ne[0] = 48;
	tiny(&b, 0, NULL, &t, 1, 64);
	expect_error(&b, "row length 48 is not a multiple of Q8_0's block of 32");
	t = f32_4;
	t.offset = 8;
	tiny(&b, 0, NULL, &t, 1, 64);
	expect_error(&b, "offset 8 is not a multiple of the alignment 32");
	t = f32_4;
	t.ndims = 4;
	t.ne[0] = t.ne[1] = t.ne[2] = t.ne[3] = 1ull << 20;
	tiny(&b, 0, NULL, &t, 1, 16);
	expect_error(&b, "overflows");
	t = f32_4;
	t.offset = 1ull << 40;
	tiny(&b, 0, NULL, &t, 1, 16);
	expect_error(&b, "runs past the end of the file");
	tiny(&b, 0, NULL, two, 2, 32);
	expect_error(&b, "tensor 'b': data [");
	expect_error(&b, "overlaps tensor 'a'");
	tiny(&b, 0, NULL, dup, 2, 64);
	expect_error(&b, "tensor 'a': name appears twice");

	tiny(&b, 0, NULL, NULL, 0, 0);
	b.p[4] = 0;
	expect_error(&b, "GGUF version 0 is not valid");
	b.p[4] = 4;
	expect_error(&b, "GGUF version 4 is not supported");
	b.p[4] = 0;
	b.p[7] = 3;
	expect_error(&b, "big-endian GGUF is not supported");
	free(b.p);
}

/* ---- split models ---- */

static uint32_t shard_no, shard_count, shard_total;

static void kv_split(struct gb *b)
{
	gb_key(b, "split.no", 2);
	gb_le(b, shard_no, 2);
	gb_key(b, "split.count", 2);
	gb_le(b, shard_count, 2);
	gb_key(b, "split.tensors.count", 5);
	gb_le(b, shard_total, 4);
	gb_key(b, "general.name", 8);
	gb_str(b, "split");
}

/* Write shard i (0-based) of 3 into dir, holding tensors s<i>.a, s<i>.b. */
static void write_shard(const char *dir, uint32_t i, uint32_t total)
{
	struct gb b = { NULL, 0, 0, 0 };
	char path[512], n1[16], n2[16];
	struct tinfo ts[2] = { { n1, 1, { 4 }, 0, 0 },
			       { n2, 2, { 2, 2 }, 0, 32 } };

	snprintf(n1, sizeof(n1), "s%u.a", i);
	snprintf(n2, sizeof(n2), "s%u.b", i);
	shard_no = i;
	shard_count = 3;
	shard_total = total;
	tiny(&b, 4, kv_split, ts, 2, 48);
	snprintf(path, sizeof(path), "%s/m-%05u-of-00003.gguf", dir, i + 1);
	write_file(path, &b);
	free(b.p);
}

static void check_split(const char *path)
{
	struct model m;
	struct err e = { "" };

	if (!check_report(__FILE__, __LINE__, model_open(&m, path, &e) == 0,
			  "%s", e.msg))
		return;
	CHECK_EQ_U(m.ntensors, 6);
	CHECK_EQ_U(m.nsources, 3);
	for (size_t i = 0; i < m.ntensors && i < 6; i++) {
		char want[16];

		snprintf(want, sizeof(want), "s%zu.%c", i / 2, "ab"[i % 2]);
		CHECK_STR(m.tensors[i].name, want);
	}
	/* One general.name, split.* from the first shard only. */
	CHECK_EQ_U(m.nmeta, 4);
	CHECK_STR(m.format, "gguf");
	model_release(&m);
}

TEST(gguf_split)
{
	char dir[] = "/tmp/qscope-split-XXXXXX", path[600];
	struct model m;
	struct err e = { "" };

	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	for (uint32_t i = 0; i < 3; i++)
		write_shard(dir, i, 6);
	for (int i = 1; i <= 3; i++) {
		snprintf(path, sizeof(path), "%s/m-%05d-of-00003.gguf", dir, i);
		check_split(path);
	}
	check_split(dir);

	/* A shard that disagrees on the total. */
	write_shard(dir, 1, 7);
	snprintf(path, sizeof(path), "%s/m-00001-of-00003.gguf", dir);
	CHECK_EQ_I(model_open(&m, path, &e), -1);
	CHECK(strstr(e.msg, "split.tensors.count = 7") != NULL);
	write_shard(dir, 1, 6);

	/* A missing shard. */
	snprintf(path, sizeof(path), "%s/m-00003-of-00003.gguf", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/m-00001-of-00003.gguf", dir);
	CHECK_EQ_I(model_open(&m, path, &e), -1);
	CHECK(strstr(e.msg, "shard 3 of 3 of this split model is missing") != NULL);
	for (int i = 1; i <= 2; i++) {
		snprintf(path, sizeof(path), "%s/m-%05d-of-00003.gguf", dir, i);
		unlink(path);
	}
	rmdir(dir);
}
