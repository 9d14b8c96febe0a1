/*
 * Unit tests for the GGUF writer (formats/gguf.h):
 *  - round trip: every GGUF fixture read and written with its own types
 *    gives the same file, byte for byte, and the same model on re-reading;
 *  - re-quantizing the F32 fixture to each type mix llama-quantize wrote
 *    (gguf/tiny-llama-f32.<TYPE>.gguf; the type of each tensor is read from
 *    that file) gives tensor data byte-identical to llama.cpp's, and the
 *    same metadata KVs in the same order;
 *  - files written here: v1 input widened to v3, a split model joined,
 *    repeated keys, a tensor bigger than the writer's chunks;
 *  - refusals: the input as output (by name and through a hard link), an
 *    existing output without the force flag, types that do not fit;
 *  - failures leave nothing behind: output folder missing or read-only,
 *    disk full (a 1 MB tmpfs when we may mount one, else skipped with a
 *    note; RLIMIT_FSIZE always), a cancel from the progress callback.  The
 *    temporary file is gone, an existing output untouched, the input the
 *    same bytes as before.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "quant/ggml.h"
#include "tests/check.h"

/* ---- helpers ---- */

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = NULL;
	long len;

	*n = 0;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		p = xmalloc((size_t)len + 1);
		if (fread(p, 1, (size_t)len, f) != (size_t)len) {
			free(p);
			p = NULL;
		} else {
			*n = (size_t)len;
		}
	}
	fclose(f);
	return p;
}

static int spit(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(p, 1, n, f) == n;

	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/* Entries in dir other than . and ..; -1 if it cannot be read. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Remove every file in dir, then dir. */
static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[4096];

	if (d) {
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

static int fixture(char *out, size_t n, const char *rel)
{
	const char *root = check_fixtures();

	if (!root)
		return -1;
	snprintf(out, n, "%s/%s", root, rel);
	return access(out, R_OK) == 0 ? 0 : -1;
}

static int open_ok(struct model *m, const char *path)
{
	struct err e = { "" };

	return check_report(__FILE__, __LINE__, model_open(m, path, &e) == 0,
			    "open '%s': %s", path, e.msg);
}

/* Tensors of a and b equal: order, names, types, shapes, bytes. */
static void same_tensors(const struct model *a, const struct model *b,
			 const char *what)
{
	if (!check_report(__FILE__, __LINE__, a->ntensors == b->ntensors,
			  "%s: %zu tensors, then %zu", what, a->ntensors,
			  b->ntensors))
		return;
	for (size_t i = 0; i < a->ntensors; i++) {
		const struct tensor *x = &a->tensors[i], *y = &b->tensors[i];
		int same = strcmp(x->name, y->name) == 0 &&
			   x->dtype == y->dtype && x->ndim == y->ndim &&
			   x->nbytes == y->nbytes &&
			   memcmp(x->shape, y->shape, sizeof(x->shape)) == 0 &&
			   memcmp(x->data, y->data, x->nbytes) == 0;

		check_report(__FILE__, __LINE__, same, "%s: tensor %zu '%s' differs",
			     what, i, x->name);
	}
}

/* Metadata of a and b equal, entry by entry and in order. */
static void same_meta(const struct model *a, const struct model *b,
		      const char *what)
{
	if (!check_report(__FILE__, __LINE__, a->nmeta == b->nmeta,
			  "%s: %zu KVs, then %zu", what, a->nmeta, b->nmeta))
		return;
	for (size_t i = 0; i < a->nmeta; i++) {
		const struct meta *x = &a->meta[i], *y = &b->meta[i];

		check_report(__FILE__, __LINE__,
			     strcmp(x->key, y->key) == 0 &&
			     strcmp(x->type, y->type) == 0 &&
			     json_equal(x->value, y->value),
			     "%s: KV %zu '%s' differs ('%s')", what, i, x->key,
			     y->key);
	}
}

static const struct meta *meta_of(const struct model *m, const char *key)
{
	for (size_t i = 0; i < m->nmeta; i++)
		if (strcmp(m->meta[i].key, key) == 0)
			return &m->meta[i];
	return NULL;
}

/* A temporary folder for one test; rm_dir() it afterwards. */
static int tmp_dir(char *dir)
{
	strcpy(dir, "/tmp/qscope-gw-XXXXXX");
	return check_report(__FILE__, __LINE__, mkdtemp(dir) != NULL,
			    "mkdtemp: %s", strerror(errno)) ? 0 : -1;
}

/* ---- a small GGUF builder for the files written here ---- */

struct gb {
	unsigned char *p;
	size_t n, cap;
	int v1;
};

static void gb_put(struct gb *b, const void *x, size_t n)
{
	if (b->n + n > b->cap) {
		while (b->n + n > b->cap)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, x, n);
	b->n += n;
}

static void gb_le(struct gb *b, uint64_t v, int bytes)
{
	unsigned char x[8];

	for (int i = 0; i < bytes; i++)
		x[i] = (unsigned char)(v >> (8 * i));
	gb_put(b, x, (size_t)bytes);
}

/* A count or length: u32 in v1. */
static void gb_n(struct gb *b, uint64_t v)
{
	gb_le(b, v, b->v1 ? 4 : 8);
}

static void gb_str(struct gb *b, const char *s)
{
	gb_n(b, strlen(s));
	gb_put(b, s, strlen(s));
}

static void gb_kv_u32(struct gb *b, const char *k, uint32_t v)
{
	gb_str(b, k);
	gb_le(b, 4, 4);
	gb_le(b, v, 4);
}

static void gb_kv_str(struct gb *b, const char *k, const char *v)
{
	gb_str(b, k);
	gb_le(b, 8, 4);
	gb_str(b, v);
}

static void gb_kv_strs(struct gb *b, const char *k, int n)
{
	char s[32];

	gb_str(b, k);
	gb_le(b, 9, 4);
	gb_le(b, 8, 4);
	gb_n(b, (uint64_t)n);
	for (int i = 0; i < n; i++) {
		snprintf(s, sizeof(s), "tok%d", i);
		gb_str(b, s);
	}
}

static void gb_kv_f32s(struct gb *b, const char *k, int n)
{
	gb_str(b, k);
	gb_le(b, 9, 4);
	gb_le(b, 6, 4);
	gb_n(b, (uint64_t)n);
	for (int i = 0; i < n; i++) {
		float f = (float)i / 4;
		uint32_t u;

		memcpy(&u, &f, 4);
		gb_le(b, u, 4);
	}
}

/* F32 tensors, each rows x cols, values from a fixed pseudo-random walk;
 * infos then data, aligned to 32 and packed. */
struct gb_tensor {
	const char *name;
	uint64_t rows, cols;	/* rows 0: 1-D of cols */
};

static float gb_value(uint64_t i)
{
	uint32_t x = (uint32_t)(i * 2654435761u) ^ 0x5bd1e995u;

	x ^= x >> 15;
	x *= 0x2c1b3c6du;
	x ^= x >> 12;
	return ((float)(x & 0xFFFF) - 32768.0f) / 65536.0f;
}

static uint64_t gb_align = 32;

static void gb_tensors(struct gb *b, const struct gb_tensor *t, int n)
{
	uint64_t off = 0, a = gb_align;

	for (int i = 0; i < n; i++) {
		uint64_t cnt = t[i].cols * (t[i].rows ? t[i].rows : 1);

		gb_str(b, t[i].name);
		gb_le(b, t[i].rows ? 2 : 1, 4);
		gb_n(b, t[i].cols);
		if (t[i].rows)
			gb_n(b, t[i].rows);
		gb_le(b, 0, 4);		/* F32 */
		gb_le(b, off, 8);
		off += (cnt * 4 + a - 1) / a * a;
	}
	while (b->n % a)
		gb_put(b, "", 1);
	for (int i = 0; i < n; i++) {
		uint64_t cnt = t[i].cols * (t[i].rows ? t[i].rows : 1);

		for (uint64_t k = 0; k < cnt; k++) {
			float f = gb_value(k + (uint64_t)i * 7919);
			uint32_t u;

			memcpy(&u, &f, 4);
			gb_le(b, u, 4);
		}
		while (b->n % a)
			gb_put(b, "", 1);
	}
}

static void gb_header(struct gb *b, int version, uint64_t nt, uint64_t nkv)
{
	b->n = 0;
	b->v1 = version == 1;
	gb_put(b, "GGUF", 4);
	gb_le(b, (uint64_t)version, 4);
	gb_n(b, nt);
	gb_n(b, nkv);
}

/* ---- round trip ---- */

static int is_gguf_name(const char *s)
{
	size_t n = strlen(s);

	return n > 5 && strcmp(s + n - 5, ".gguf") == 0;
}

/* Write path with its own types into dir; the output must re-read to the
 * same model.  Returns 1 if the output is also the same file, byte for
 * byte. */
static int roundtrip(const char *path, const char *dir)
{
	char out[4096];
	struct model a, b;
	struct err e = { "" };
	unsigned char *x, *y;
	size_t nx, ny;
	int same;

	if (!open_ok(&a, path))
		return 0;
	snprintf(out, sizeof(out), "%s/rt.gguf", dir);
	unlink(out);
	if (!check_report(__FILE__, __LINE__,
			  gguf_write(&a, NULL, out, 0, NULL, NULL, &e) == 0,
			  "write '%s': %s", path, e.msg)) {
		model_release(&a);
		return 0;
	}
	if (open_ok(&b, out)) {
		same_tensors(&a, &b, path);
		same_meta(&a, &b, path);
		model_release(&b);
	}
	model_release(&a);
	x = slurp(path, &nx);
	y = slurp(out, &ny);
	same = x && y && nx == ny && memcmp(x, y, nx) == 0;
	free(x);
	free(y);
	CHECK_EQ_I(entries(dir), 1);	/* no temporary file left */
	unlink(out);
	return same;
}

TEST(gguf_write_roundtrip_fixtures)
{
	static const char *const extra[] = {
		/* general.alignment 64 */
		"real/zackshen__gguf__tests_test-le-v3.gguf",
		/* llama.cpp's converter; F16 and F32 */
		"real/ollama__ollama__api_data_llama-2-tiny-random.gguf",
		/* vocabularies: big arrays of strings, no tensors */
		"real/Raudbjorn__ggml-llama.cpp__models_ggml-vocab-gpt-2.gguf",
		"real/Raudbjorn__ggml-llama.cpp__models_ggml-vocab-llama-spm.gguf",
	};
	char dir[64], gdir[4096], path[8192];
	struct dirent *de;
	DIR *d;
	int n = 0, identical = 0;

	if (fixture(gdir, sizeof(gdir), "gguf") || tmp_dir(dir))
		return;
	d = opendir(gdir);
	while (d && (de = readdir(d))) {
		if (!is_gguf_name(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", gdir, de->d_name);
		n++;
		identical += roundtrip(path, dir);
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < sizeof(extra) / sizeof(*extra); i++) {
		if (fixture(path, sizeof(path), extra[i]))
			continue;
		n++;
		identical += roundtrip(path, dir);
	}
	/* Every fixture, whether gguf-py or llama.cpp wrote it, follows
	 * the layout ggml demands: the copy is the same file. */
	CHECK_EQ_I(n, 24);
	CHECK_EQ_I(identical, n);
	rm_dir(dir);
}

/* ---- re-quantizing the F32 master like llama-quantize ---- */

/*
 * Write the F32 master with each tensor in the type it has in the
 * llama.cpp file ref (a fixture name), then compare tensor data by name
 * and the KVs in order.  Returns the number of tensors whose bytes differ;
 * *kv_diff gets the number of KVs that differ.
 */
static int requantize(const char *master_rel, const char *ref_rel,
		      int *kv_diff)
{
	char master[4096], refp[4096], dir[64], out[128];
	struct model m, ref, got;
	struct err e = { "" };
	enum dtype *types;
	int bad = 0;

	*kv_diff = -1;
	if (fixture(master, sizeof(master), master_rel) ||
	    fixture(refp, sizeof(refp), ref_rel) || tmp_dir(dir))
		return -1;
	snprintf(out, sizeof(out), "%s/out.gguf", dir);
	if (!open_ok(&m, master))
		return -1;
	if (!open_ok(&ref, refp)) {
		model_release(&m);
		return -1;
	}
	types = xcalloc(m.ntensors, sizeof(*types));
	for (size_t i = 0; i < m.ntensors; i++) {
		const struct tensor *r = model_find(&ref, m.tensors[i].name);

		types[i] = r ? r->dtype : DT_NONE;
	}
	if (check_report(__FILE__, __LINE__,
			 gguf_write(&m, types, out, 0, NULL, NULL, &e) == 0,
			 "%s: %s", ref_rel, e.msg) &&
	    open_ok(&got, out)) {
		CHECK_EQ_U(got.ntensors, ref.ntensors);
		for (size_t i = 0; i < got.ntensors; i++) {
			const struct tensor *g = &got.tensors[i];
			const struct tensor *r = model_find(&ref, g->name);

			if (!r || r->dtype != g->dtype ||
			    r->nbytes != g->nbytes ||
			    memcmp(r->data, g->data, g->nbytes) != 0) {
				printf("    %s: tensor '%s' differs from llama.cpp's\n",
				       ref_rel, g->name);
				bad++;
			}
		}
		/* KVs: same keys, types and values, in the same order. */
		*kv_diff = 0;
		for (size_t i = 0; i < got.nmeta || i < ref.nmeta; i++) {
			const struct meta *x = i < got.nmeta ? &got.meta[i] : NULL;
			const struct meta *y = i < ref.nmeta ? &ref.meta[i] : NULL;

			if (!x || !y || strcmp(x->key, y->key) ||
			    strcmp(x->type, y->type) ||
			    !json_equal(x->value, y->value)) {
				char *vx = x ? json_dumps(x->value, JSON_ENCODE_ANY) : NULL;
				char *vy = y ? json_dumps(y->value, JSON_ENCODE_ANY) : NULL;

				printf("    %s: KV %zu: ours %s = %s, llama.cpp's %s = %s\n",
				       ref_rel, i, x ? x->key : "-", vx ? vx : "-",
				       y ? y->key : "-", vy ? vy : "-");
				free(vx);
				free(vy);
				(*kv_diff)++;
			}
		}
		model_release(&got);
	}
	CHECK_EQ_I(entries(dir), 1);
	rm_dir(dir);
	free(types);
	model_release(&ref);
	model_release(&m);
	return bad;
}

static void requantize_check(const char *master, const char *ref)
{
	int kv_diff, bad = requantize(master, ref, &kv_diff);

	if (bad < 0)
		return;		/* no fixtures */
	check_report(__FILE__, __LINE__, bad == 0,
		     "%s: %d tensors differ from llama.cpp's", ref, bad);
	check_report(__FILE__, __LINE__, kv_diff == 0,
		     "%s: %d KVs differ from llama.cpp's", ref, kv_diff);
}

#define F32_MASTER "gguf/tiny-llama-f32.gguf"

/* The three the issue names... */
TEST(gguf_write_requant_q8_0)
{
	requantize_check(F32_MASTER, "gguf/tiny-llama-f32.Q8_0.gguf");
}

TEST(gguf_write_requant_q4_0)	/* output.weight Q6_K */
{
	requantize_check(F32_MASTER, "gguf/tiny-llama-f32.Q4_0.gguf");
}

TEST(gguf_write_requant_q4_k_m)	/* Q4_K and three Q6_K */
{
	requantize_check(F32_MASTER, "gguf/tiny-llama-f32.Q4_K_M.gguf");
}

/* ...and every other mix llama-quantize wrote, from F32, F16 and BF16. */
TEST(gguf_write_requant_every_mix)
{
	static const char *const refs[] = {
		"Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q5_K_M", "Q6_K",
		"IQ4_NL", "IQ4_XS", "TQ2_0", "F16", "BF16",
	};
	char ref[128];

	for (size_t i = 0; i < sizeof(refs) / sizeof(*refs); i++) {
		snprintf(ref, sizeof(ref), "gguf/tiny-llama-f32.%s.gguf", refs[i]);
		requantize_check(F32_MASTER, ref);
	}
	requantize_check("gguf/tiny-llama-f16.gguf",
			 "gguf/tiny-llama-f16.Q4_K_M.gguf");
	requantize_check("gguf/tiny-llama-bf16.gguf",
			 "gguf/tiny-llama-bf16.Q4_K_M.gguf");
}

/* ---- files written here ---- */

/* A v1 file (u32 lengths) comes out as v3 with the same metadata. */
TEST(gguf_write_v1_widened)
{
	static const struct gb_tensor ts[] = { { "w.weight", 2, 64 },
					       { "b", 0, 64 } };
	struct gb b = { NULL, 0, 0, 0 };
	char dir[64], in[128], out[128];
	struct model a, c;
	struct err e = { "" };
	enum dtype types[2] = { DT_Q8_0, DT_NONE };
	unsigned char *x;
	size_t nx;

	if (tmp_dir(dir))
		return;
	snprintf(in, sizeof(in), "%s/v1.gguf", dir);
	snprintf(out, sizeof(out), "%s/v3.gguf", dir);
	gb_header(&b, 1, 2, 4);
	gb_kv_str(&b, "general.architecture", "llama");
	gb_kv_strs(&b, "tokenizer.ggml.tokens", 40);
	gb_kv_f32s(&b, "tokenizer.ggml.scores", 40);
	gb_kv_u32(&b, "general.file_type", 0);
	gb_tensors(&b, ts, 2);
	CHECK(spit(in, b.p, b.n) == 0);
	free(b.p);
	if (!open_ok(&a, in))
		goto out;
	if (check_report(__FILE__, __LINE__,
			 gguf_write(&a, types, out, 0, NULL, NULL, &e) == 0,
			 "%s", e.msg) && open_ok(&c, out)) {
		x = slurp(out, &nx);
		CHECK(x && nx > 8 && x[4] == 3 && x[5] == 0);
		free(x);
		CHECK_EQ_U(c.ntensors, 2);
		CHECK_EQ_I(c.tensors[0].dtype, DT_Q8_0);
		CHECK_EQ_I(c.tensors[1].dtype, DT_F32);
		CHECK(memcmp(c.tensors[1].data, a.tensors[1].data, 256) == 0);
		/* The four KVs, then quantization_version and file_type
		 * moved to the end, as llama-quantize does. */
		CHECK_EQ_U(c.nmeta, 5);
		if (c.nmeta == 5) {
			for (int i = 0; i < 3; i++) {
				CHECK_STR(c.meta[i].key, a.meta[i].key);
				CHECK_STR(c.meta[i].type, a.meta[i].type);
				CHECK(json_equal(c.meta[i].value, a.meta[i].value));
			}
			CHECK_STR(c.meta[3].key, "general.quantization_version");
			CHECK_EQ_I(json_integer_value(c.meta[3].value), 2);
			CHECK_STR(c.meta[4].key, "general.file_type");
			CHECK_STR(c.meta[4].type, "u32");
			/* Q8_0 holds the most parameters: MOSTLY_Q8_0 */
			CHECK_EQ_I(json_integer_value(c.meta[4].value), 7);
		}
		model_release(&c);
	}
	model_release(&a);
out:
	rm_dir(dir);
}

/* Repeated keys are written once (ggml refuses them); the first counts. */
TEST(gguf_write_repeated_key)
{
	static const struct gb_tensor ts[] = { { "w", 1, 32 } };
	struct gb b = { NULL, 0, 0, 0 };
	char dir[64], in[128], out[128];
	struct model a, c;
	struct err e = { "" };

	if (tmp_dir(dir))
		return;
	snprintf(in, sizeof(in), "%s/in.gguf", dir);
	snprintf(out, sizeof(out), "%s/out.gguf", dir);
	gb_header(&b, 3, 1, 3);
	gb_kv_str(&b, "general.name", "first");
	gb_kv_u32(&b, "x.y", 1);
	gb_kv_str(&b, "general.name", "second");
	gb_tensors(&b, ts, 1);
	CHECK(spit(in, b.p, b.n) == 0);
	free(b.p);
	if (open_ok(&a, in)) {
		CHECK_EQ_U(a.nmeta, 3);
		if (check_report(__FILE__, __LINE__,
				 gguf_write(&a, NULL, out, 0, NULL, NULL, &e) == 0,
				 "%s", e.msg) && open_ok(&c, out)) {
			CHECK_EQ_U(c.nmeta, 2);
			const struct meta *nm = meta_of(&c, "general.name");

			CHECK(nm && json_is_string(nm->value) &&
			      strcmp(json_string_value(nm->value), "first") == 0);
			model_release(&c);
		}
		model_release(&a);
	}
	rm_dir(dir);
}

/* A split model becomes one file: its tensors in shard order, its KVs
 * without split.no, split.count and split.tensors.count.  Only the second
 * shard has a general.alignment (64): it is the output's alignment. */
TEST(gguf_write_split_joined)
{
	char dir[64], path[128], out[128];
	struct model a, c;
	struct err e = { "" };

	if (tmp_dir(dir))
		return;
	for (int s = 0; s < 2; s++) {
		struct gb b = { NULL, 0, 0, 0 };
		char n1[16];
		struct gb_tensor ts[1] = { { n1, 3, 8 } };	/* 96 bytes */

		snprintf(n1, sizeof(n1), "t%d.weight", s);
		gb_header(&b, 3, 1, s ? 6 : 5);
		gb_kv_str(&b, "general.architecture", "llama");
		gb_kv_u32(&b, "split.no", (uint32_t)s);
		gb_kv_u32(&b, "split.count", 2);
		gb_str(&b, "split.tensors.count");
		gb_le(&b, 5, 4);	/* i32 */
		gb_le(&b, 2, 4);
		gb_kv_str(&b, s ? "only.second" : "only.first", "x");
		if (s)
			gb_kv_u32(&b, "general.alignment", 64);
		gb_align = s ? 64 : 32;
		gb_tensors(&b, ts, 1);
		gb_align = 32;
		snprintf(path, sizeof(path), "%s/m-%05d-of-00002.gguf", dir,
			 s + 1);
		CHECK(spit(path, b.p, b.n) == 0);
		free(b.p);
	}
	snprintf(path, sizeof(path), "%s/m-00002-of-00002.gguf", dir);
	snprintf(out, sizeof(out), "%s/joined.gguf", dir);
	if (open_ok(&a, path)) {
		if (check_report(__FILE__, __LINE__,
				 gguf_write(&a, NULL, out, 0, NULL, NULL, &e) == 0,
				 "%s", e.msg) && open_ok(&c, out)) {
			CHECK_EQ_U(c.ntensors, 2);
			CHECK_STR(c.tensors[0].name, "t0.weight");
			CHECK_STR(c.tensors[1].name, "t1.weight");
			CHECK_EQ_U(c.nsources, 1);
			CHECK_EQ_U(c.nmeta, 4);
			if (c.nmeta == 4) {
				CHECK_STR(c.meta[0].key, "general.architecture");
				CHECK_STR(c.meta[1].key, "only.first");
				CHECK_STR(c.meta[2].key, "only.second");
				CHECK_STR(c.meta[3].key, "general.alignment");
			}
			/* 96 bytes of data padded to 128, not 96. */
			CHECK_EQ_U(c.tensors[0].offset % 64, 0);
			CHECK_EQ_U(c.tensors[1].offset - c.tensors[0].offset, 128);
			same_tensors(&a, &c, "split");
			model_release(&c);
		}
		/* The output may not be one of the shards. */
		snprintf(path, sizeof(path), "%s/m-00001-of-00002.gguf", dir);
		CHECK(gguf_write(&a, NULL, path, GGUF_WRITE_FORCE, NULL, NULL,
				 &e) != 0);
		CHECK(strstr(e.msg, "is the input file; write elsewhere") != NULL);
		model_release(&a);
	}
	rm_dir(dir);
}

struct ticks {
	uint64_t calls, last, total;
	int monotonic;
	uint64_t stop_after;	/* cancel at this call; 0 never */
};

static int count_ticks(uint64_t done, uint64_t total, void *arg)
{
	struct ticks *t = arg;

	t->calls++;
	if (done < t->last || done > total)
		t->monotonic = 0;
	t->last = done;
	t->total = total;
	return t->stop_after && t->calls >= t->stop_after;
}

/* Tensors bigger than the writer's chunks (2^19 elements converted, 8 MB
 * copied at a time): the bytes are those of one whole-tensor conversion,
 * and progress goes up to the file size. */
TEST(gguf_write_big_tensor_chunks)
{
	static const struct gb_tensor ts[] = { { "big.weight", 1200, 2048 },
					       { "norm", 0, 2048 } };
	struct gb b = { NULL, 0, 0, 0 };
	char dir[64], in[128], out[128];
	struct model a, c;
	struct err e = { "" };
	struct ticks tk = { 0, 0, 0, 1, 0 };
	enum dtype types[2] = { DT_Q4_K, DT_NONE };
	const uint64_t n = 1200 * 2048;
	float *f;
	unsigned char *q;

	if (tmp_dir(dir))
		return;
	snprintf(in, sizeof(in), "%s/in.gguf", dir);
	snprintf(out, sizeof(out), "%s/out.gguf", dir);
	gb_header(&b, 3, 2, 1);
	gb_kv_str(&b, "general.architecture", "llama");
	gb_tensors(&b, ts, 2);
	CHECK(spit(in, b.p, b.n) == 0);
	free(b.p);
	if (!open_ok(&a, in))
		goto out;
	/* F32 copied: 9.4 MB, more than one copy chunk. */
	CHECK(gguf_write(&a, NULL, out, 0, count_ticks, &tk, &e) == 0);
	CHECK(tk.monotonic && tk.calls > 2);
	CHECK_EQ_U(tk.last, tk.total);
	if (open_ok(&c, out)) {
		same_tensors(&a, &c, "big copy");
		model_release(&c);
	}
	/* Q4_K: 2.4M elements in five conversion chunks. */
	CHECK(gguf_write(&a, types, out, GGUF_WRITE_FORCE, NULL, NULL,
			 &e) == 0);
	f = xmalloc(n * sizeof(float));
	q = xmalloc(n / 256 * 144);
	CHECK(tensor_read_f32(&a, &a.tensors[0], 0, n, f, &e) == 0);
	CHECK(ggml_quantize(DT_Q4_K, f, q, n) == 0);
	if (open_ok(&c, out)) {
		CHECK_EQ_I(c.tensors[0].dtype, DT_Q4_K);
		CHECK_EQ_U(c.tensors[0].nbytes, n / 256 * 144);
		CHECK(memcmp(c.tensors[0].data, q, n / 256 * 144) == 0);
		CHECK(memcmp(c.tensors[1].data, a.tensors[1].data, 2048 * 4) == 0);
		model_release(&c);
	}
	free(f);
	free(q);
	model_release(&a);
out:
	rm_dir(dir);
}

/* ---- refusals ---- */

TEST(gguf_write_refusals)
{
	static const struct gb_tensor ts[] = { { "w.weight", 4, 100 },
					       { "v.weight", 4, 256 } };
	struct gb b = { NULL, 0, 0, 0 };
	char dir[64], in[128], out[128], lnk[128], sub[128];
	struct model a, st;
	struct err e = { "" };
	enum dtype types[2] = { DT_NONE, DT_NONE };
	char st_path[4096];

	if (tmp_dir(dir))
		return;
	snprintf(in, sizeof(in), "%s/in.gguf", dir);
	snprintf(out, sizeof(out), "%s/out.gguf", dir);
	snprintf(lnk, sizeof(lnk), "%s/link.gguf", dir);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	gb_header(&b, 3, 2, 1);
	gb_kv_str(&b, "general.architecture", "llama");
	gb_tensors(&b, ts, 2);
	CHECK(spit(in, b.p, b.n) == 0);
	free(b.p);
	if (!open_ok(&a, in))
		goto out;

	/* The input itself, by its name and through a hard link. */
	CHECK(gguf_write(&a, NULL, in, GGUF_WRITE_FORCE, NULL, NULL, &e) != 0);
	CHECK(strstr(e.msg, "is the input file; write elsewhere") != NULL);
	CHECK(link(in, lnk) == 0);
	CHECK(gguf_write(&a, NULL, lnk, GGUF_WRITE_FORCE, NULL, NULL, &e) != 0);
	CHECK(strstr(e.msg, "link.gguf': is the input file; write elsewhere") != NULL);
	unlink(lnk);

	/* An existing file, without and with the force flag. */
	CHECK(spit(out, "old", 3) == 0);
	CHECK(gguf_write(&a, NULL, out, 0, NULL, NULL, &e) != 0);
	CHECK(strstr(e.msg, "out.gguf': already exists") != NULL);
	CHECK(gguf_write(&a, NULL, out, GGUF_WRITE_FORCE, NULL, NULL, &e) == 0);
	CHECK_EQ_I(entries(dir), 2);

	/* A folder. */
	CHECK(mkdir(sub, 0755) == 0);
	CHECK(gguf_write(&a, NULL, sub, GGUF_WRITE_FORCE, NULL, NULL, &e) != 0);
	CHECK(strstr(e.msg, "is a folder") != NULL);
	rmdir(sub);

	/* Types that do not fit: a row of 100 in blocks of 32; types that
	 * are not GGUF's or that qscope cannot write. */
	unlink(out);
	types[0] = DT_Q8_0;
	CHECK(gguf_write(&a, types, out, 0, NULL, NULL, &e) != 0);
	CHECK(strstr(e.msg, "tensor 'w.weight': row of 100 is not a multiple of Q8_0's block of 32") != NULL);
	types[0] = DT_NONE;
	types[1] = DT_F8_E4M3;
	CHECK(gguf_write(&a, types, out, 0, NULL, NULL, &e) != 0);
	CHECK(strstr(e.msg, "cannot write F8_E4M3") != NULL);
	types[1] = DT_IQ2_XXS;
	CHECK(gguf_write(&a, types, out, 0, NULL, NULL, &e) != 0);
	CHECK(strstr(e.msg, "cannot write IQ2_XXS") != NULL);
	CHECK_EQ_I(entries(dir), 1);	/* only the input */
	model_release(&a);

	/* A model that is not GGUF. */
	if (fixture(st_path, sizeof(st_path),
		    "real/syoyo__safetensors-cpp__gen_model.safetensors") == 0 &&
	    open_ok(&st, st_path)) {
		CHECK(gguf_write(&st, NULL, out, 0, NULL, NULL, &e) != 0);
		CHECK(strstr(e.msg, "only GGUF models can be written as GGUF") != NULL);
		model_release(&st);
	}
out:
	rm_dir(dir);
}

/* ---- failures leave nothing behind ---- */

struct snapshot {
	unsigned char *bytes;
	size_t n;
	struct stat st;
};

static void snap(struct snapshot *s, const char *path)
{
	s->bytes = slurp(path, &s->n);
	stat(path, &s->st);
}

/* path still holds the snapshot's bytes and was not touched. */
static int unchanged(struct snapshot *s, const char *path)
{
	struct snapshot now;
	int same;

	snap(&now, path);
	same = now.bytes && s->bytes && now.n == s->n &&
	       memcmp(now.bytes, s->bytes, s->n) == 0 &&
	       now.st.st_mtim.tv_sec == s->st.st_mtim.tv_sec &&
	       now.st.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec &&
	       now.st.st_ino == s->st.st_ino;
	free(now.bytes);
	return same;
}

/*
 * Write the F32 master (7.6 MB) to dir/name as Q8_0 or as is, expecting
 * failure with frag in the message; then dir holds exactly `left` entries
 * and the input is unchanged.
 */
static void fails_clean(const char *dir, const char *name, int convert,
			gguf_progress_fn *cb, void *arg, const char *frag,
			int left)
{
	char master[4096], out[4096];
	struct snapshot before;
	struct model m;
	struct err e = { "" };
	enum dtype *types = NULL;

	if (fixture(master, sizeof(master), F32_MASTER) || !open_ok(&m, master))
		return;
	snap(&before, master);
	snprintf(out, sizeof(out), "%s/%s", dir, name);
	if (convert) {
		types = xcalloc(m.ntensors, sizeof(*types));
		for (size_t i = 0; i < m.ntensors; i++)
			types[i] = m.tensors[i].ndim == 2 ? DT_Q8_0 : DT_NONE;
	}
	CHECK(gguf_write(&m, types, out, GGUF_WRITE_FORCE, cb, arg, &e) != 0);
	check_report(__FILE__, __LINE__, strstr(e.msg, frag) && strstr(e.msg, out),
		     "message '%s' lacks '%s'", e.msg, frag);
	check_report(__FILE__, __LINE__, entries(dir) == left,
		     "%s: %d entries, want %d", dir, entries(dir), left);
	CHECK(unchanged(&before, master));
	free(before.bytes);
	free(types);
	model_release(&m);
}

TEST(gguf_write_fails_cancel)
{
	char dir[64], out[128];
	struct ticks tk = { 0, 0, 0, 1, 3 };
	struct snapshot old;

	if (tmp_dir(dir))
		return;
	/* A cancel mid-way: no temporary file, and an existing output
	 * (replaced only at the end) keeps its bytes. */
	snprintf(out, sizeof(out), "%s/out.gguf", dir);
	CHECK(spit(out, "previous", 8) == 0);
	snap(&old, out);
	fails_clean(dir, "out.gguf", 1, count_ticks, &tk,
		    "interrupted; nothing was written", 1);
	CHECK(unchanged(&old, out));
	free(old.bytes);
	rm_dir(dir);
}

TEST(gguf_write_fails_no_folder)
{
	char dir[64];

	if (tmp_dir(dir))
		return;
	fails_clean(dir, "missing/out.gguf", 0, NULL, NULL,
		    "cannot create a file next to it: No such file or directory",
		    0);
	rm_dir(dir);
}

/* A read-only folder: a read-only tmpfs as root (root writes through
 * permission bits), else mode 0555. */
TEST(gguf_write_fails_read_only)
{
	char dir[64];
	int mounted = 0;

	if (tmp_dir(dir))
		return;
	if (geteuid() == 0) {
		if (mount("tmpfs", dir, "tmpfs", MS_RDONLY, "size=1m") != 0) {
			printf("    skip: read-only folder: cannot mount a tmpfs (%s)\n",
			       strerror(errno));
			rm_dir(dir);
			return;
		}
		mounted = 1;
	} else {
		chmod(dir, 0555);
	}
	fails_clean(dir, "out.gguf", 0, NULL, NULL,
		    "cannot create a file next to it", 0);
	if (mounted)
		umount2(dir, MNT_DETACH);
	chmod(dir, 0755);
	rm_dir(dir);
}

/* A full disk: 7.6 MB into a 1 MB tmpfs. */
TEST(gguf_write_fails_disk_full)
{
	char dir[64];

	if (tmp_dir(dir))
		return;
	if (mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0) {
		printf("    skip: disk full: cannot mount a 1 MB tmpfs (%s); the RLIMIT_FSIZE case stands in\n",
		       strerror(errno));
		rm_dir(dir);
		return;
	}
	fails_clean(dir, "out.gguf", 0, NULL, NULL,
		    "cannot write: No space left on device", 0);
	fails_clean(dir, "out.gguf", 1, NULL, NULL,
		    "cannot write: No space left on device", 0);
	umount2(dir, MNT_DETACH);
	rm_dir(dir);
}

/* A file size limit makes write() fail (EFBIG) as a full disk would; this
 * works without privileges. */
TEST(gguf_write_fails_file_size_limit)
{
	char dir[64];
	struct rlimit old, lim;
	void (*oldsig)(int);

	if (tmp_dir(dir))
		return;
	if (getrlimit(RLIMIT_FSIZE, &old) != 0) {
		rm_dir(dir);
		return;
	}
	lim = old;
	lim.rlim_cur = 1 << 20;
	oldsig = signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
		fails_clean(dir, "out.gguf", 1, NULL, NULL,
			    "cannot write: File too large", 0);
		setrlimit(RLIMIT_FSIZE, &old);
	}
	signal(SIGXFSZ, oldsig);
	rm_dir(dir);
}
