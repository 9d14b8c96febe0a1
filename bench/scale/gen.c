/*
 * bench/scale/gen.c - writes the large synthetic checkpoints that
 * `make bench-scale` (bench/scale/run.py) measures on, streaming, in a few
 * MB of memory whatever their size:
 *  - llama-7b/: a Hugging Face model folder of Llama-7B shapes (hidden 4096,
 *    32 layers, MLP 11008, vocab 32000), BF16, 6.74 G parameters
 *    (13.5 GB) in 3 safetensors shards with model.safetensors.index.json
 *    and config.json;
 *  - tinyllama-f16.gguf: a GGUF v3 of TinyLlama-1.1B shapes (hidden 2048,
 *    22 layers, MLP 5632, 4 KV heads, vocab 32000), F16 matrices and F32
 *    norms as llama.cpp's converter writes them (2.2 GB).
 * (The ~1 GB PyTorch zip is written by bench/scale/gen_torch.py.)
 *
 * The values are deterministic pseudo-random numbers of a realistic
 * spread: a normal distribution of std 0.02 (read from a 64 Ki-entry table
 * of its quantiles, indexed by 16 bits of a xorshift64* stream seeded by
 * the tensor's name), with a few outlier input channels (columns 7, 1337,
 * 2024 and 3001 of every matrix, std 0.32 = 16 times the rest), and the
 * norm weights near 1 (1 + N(0, 0.05)).  The writers are hand-written here
 * because the project's writers (gguf_write, safetensors_write) convert a
 * model that already exists on disk; the files are checked by opening
 * them with qscope itself (run.py does `qscope list` on each).
 *
 * Each checkpoint is written to a temporary name and renamed into place,
 * then a stamp file "NAME.stamp" holding the generator version is written
 * next to it; a checkpoint whose stamp holds this version is kept as it
 * is, so the data is made once and reused by later runs.
 *
 * usage: gen DIR   (DIR: $QS_SCALE_DIR, by default bench/scale-data)
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "quant/dtype.h"

/* Bump when the bytes written change: older data is then made again. */
#define GEN_VERSION "qscope-scale-gen 1"

#define BUF_BYTES (4u << 20)

static const char *dir;

static void die(const char *what, const char *path)
{
	fprintf(stderr, "gen: '%s': %s: %s\n", path, what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- values ---- */

/* Quantiles of N(0, 1) at (i + 0.5) / 65536, by bisection on erfc. */
static double normal_q[65536];
static uint16_t bf16_w[65536], bf16_o[65536];	/* std 0.02, outliers */
static uint16_t f16_w[65536], f16_o[65536];

static void tables_init(void)
{
	for (int i = 0; i < 65536; i++) {
		double p = (i + 0.5) / 65536, lo = -8, hi = 8;

		for (int k = 0; k < 60; k++) {
			double mid = (lo + hi) / 2;

			/* P(X < mid) = erfc(-mid / sqrt 2) / 2 */
			if (0.5 * erfc(-mid / sqrt(2.0)) < p)
				lo = mid;
			else
				hi = mid;
		}
		normal_q[i] = (lo + hi) / 2;
		bf16_w[i] = f32_to_bf16((float)(0.02 * normal_q[i]));
		bf16_o[i] = f32_to_bf16((float)(0.32 * normal_q[i]));
		f16_w[i] = f32_to_f16((float)(0.02 * normal_q[i]));
		f16_o[i] = f32_to_f16((float)(0.32 * normal_q[i]));
	}
}

static const uint64_t outlier_cols[] = { 7, 1337, 2024, 3001 };

struct rng {
	uint64_t s;
};

static void rng_seed(struct rng *r, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */

	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	r->s = h ? h : 1;
}

static inline uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

/* One row of cols 16-bit codes from table w, outlier columns from o. */
static void fill_row(struct rng *r, uint16_t *row, uint64_t cols,
		     const uint16_t *w, const uint16_t *o)
{
	uint64_t c = 0;

	for (; c + 4 <= cols; c += 4) {
		uint64_t x = rng_next(r);

		row[c] = w[x & 0xffff];
		row[c + 1] = w[(x >> 16) & 0xffff];
		row[c + 2] = w[(x >> 32) & 0xffff];
		row[c + 3] = w[x >> 48];
	}
	for (; c < cols; c++)
		row[c] = w[rng_next(r) >> 48];
	for (size_t k = 0; k < sizeof(outlier_cols) / sizeof(*outlier_cols); k++)
		if (outlier_cols[k] < cols)
			row[outlier_cols[k]] = o[rng_next(r) >> 48];
}

/* ---- buffered output ---- */

struct out {
	int fd;
	const char *path;
	unsigned char *buf;
	size_t len;
	uint64_t written;
};

static void out_flush(struct out *o)
{
	size_t done = 0;

	while (done < o->len) {
		ssize_t w = write(o->fd, o->buf + done, o->len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("cannot write", o->path);
		done += (size_t)w;
	}
	o->written += o->len;
	o->len = 0;
}

static void out_put(struct out *o, const void *p, size_t n)
{
	const unsigned char *s = p;

	while (n) {
		size_t k = BUF_BYTES - o->len < n ? BUF_BYTES - o->len : n;

		memcpy(o->buf + o->len, s, k);
		o->len += k;
		s += k;
		n -= k;
		if (o->len == BUF_BYTES)
			out_flush(o);
	}
}

static void out_open(struct out *o, const char *path)
{
	o->path = path;
	o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o->fd < 0)
		die("cannot create", path);
	o->buf = malloc(BUF_BYTES);
	if (!o->buf) {
		fprintf(stderr, "gen: out of memory\n");
		exit(1);
	}
	o->len = 0;
	o->written = 0;
}

static void out_close(struct out *o)
{
	out_flush(o);
	if (close(o->fd))
		die("cannot write", o->path);
	free(o->buf);
}

/* A matrix [rows, cols] of 16-bit codes, or a vector (rows == 1, norm). */
static void put_matrix(struct out *o, const char *name, uint64_t rows,
		       uint64_t cols, const uint16_t *w, const uint16_t *ol)
{
	uint16_t *row = malloc(cols * sizeof(*row));
	struct rng r;

	if (!row) {
		fprintf(stderr, "gen: out of memory\n");
		exit(1);
	}
	rng_seed(&r, name);
	for (uint64_t i = 0; i < rows; i++) {
		fill_row(&r, row, cols, w, ol);
		out_put(o, row, cols * sizeof(*row));
	}
	free(row);
}

/* A norm weight: n values 1 + 0.05 N(0, 1), as bf16 (bf16 == 0: f32). */
static void put_norm(struct out *o, const char *name, uint64_t n, int bf16)
{
	struct rng r;

	rng_seed(&r, name);
	for (uint64_t i = 0; i < n; i++) {
		float v = (float)(1.0 + 0.05 * normal_q[rng_next(&r) >> 48]);

		if (bf16) {
			uint16_t b = f32_to_bf16(v);

			out_put(o, &b, 2);
		} else {
			out_put(o, &v, 4);
		}
	}
}

/* ---- stamps ---- */

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (!p)
		exit(1);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

static int stamp_ok(const char *name)
{
	char *p = path_join(dir, name), buf[64] = "";
	FILE *f = fopen(p, "r");
	int ok = 0;

	if (f) {
		ok = fgets(buf, sizeof(buf), f) &&
		     strncmp(buf, GEN_VERSION, strlen(GEN_VERSION)) == 0 &&
		     buf[strlen(GEN_VERSION)] == '\n';
		fclose(f);
	}
	free(p);
	return ok;
}

static int exists(const char *name)
{
	char *p = path_join(dir, name);
	struct stat st;
	int ok = stat(p, &st) == 0;

	free(p);
	return ok;
}

static void unlink_in_dir(const char *name)
{
	char *p = path_join(dir, name);

	if (unlink(p) && errno != ENOENT)
		die("cannot remove", p);
	free(p);
}

static void stamp_write(const char *name)
{
	char *p = path_join(dir, name);
	FILE *f = fopen(p, "w");

	if (!f || fprintf(f, "%s\n", GEN_VERSION) < 0 || fclose(f))
		die("cannot write", p);
	free(p);
}

/* ---- llama-7b: sharded safetensors ---- */

#define L7_HIDDEN 4096ull
#define L7_LAYERS 32
#define L7_MLP 11008ull
#define L7_VOCAB 32000ull
#define L7_SHARDS 3

struct st_tensor {
	char name[96];
	uint64_t rows, cols;	/* cols == 0: a norm of rows values */
	int shard;
};

static struct st_tensor l7[4 + 9 * L7_LAYERS];
static size_t nl7;

static void l7_add(const char *name, uint64_t rows, uint64_t cols, int shard)
{
	struct st_tensor *t = &l7[nl7++];

	snprintf(t->name, sizeof(t->name), "%s", name);
	t->rows = rows;
	t->cols = cols;
	t->shard = shard;
}

static uint64_t st_bytes(const struct st_tensor *t)
{
	return 2 * t->rows * (t->cols ? t->cols : 1);
}

static void l7_build(void)
{
	static const char *const attn[] = { "q_proj", "k_proj", "v_proj",
					    "o_proj" };
	char n[96];

	l7_add("model.embed_tokens.weight", L7_VOCAB, L7_HIDDEN, 0);
	for (int l = 0; l < L7_LAYERS; l++) {
		/* layers 0-10, 11-21, 22-31: three shards of ~4.5 GB */
		int s = l <= 10 ? 0 : l <= 21 ? 1 : 2;

		snprintf(n, sizeof(n), "model.layers.%d.input_layernorm.weight", l);
		l7_add(n, L7_HIDDEN, 0, s);
		for (int k = 0; k < 4; k++) {
			snprintf(n, sizeof(n), "model.layers.%d.self_attn.%s.weight",
				 l, attn[k]);
			l7_add(n, L7_HIDDEN, L7_HIDDEN, s);
		}
		snprintf(n, sizeof(n), "model.layers.%d.post_attention_layernorm.weight", l);
		l7_add(n, L7_HIDDEN, 0, s);
		snprintf(n, sizeof(n), "model.layers.%d.mlp.gate_proj.weight", l);
		l7_add(n, L7_MLP, L7_HIDDEN, s);
		snprintf(n, sizeof(n), "model.layers.%d.mlp.up_proj.weight", l);
		l7_add(n, L7_MLP, L7_HIDDEN, s);
		snprintf(n, sizeof(n), "model.layers.%d.mlp.down_proj.weight", l);
		l7_add(n, L7_HIDDEN, L7_MLP, s);
	}
	l7_add("model.norm.weight", L7_HIDDEN, 0, 2);
	l7_add("lm_head.weight", L7_VOCAB, L7_HIDDEN, 2);
}

static char *shard_name(int s)
{
	char *p = malloc(64);

	if (!p)
		exit(1);
	snprintf(p, 64, "model-%05d-of-%05d.safetensors", s + 1, L7_SHARDS);
	return p;
}

/* The safetensors header of shard s: JSON padded with spaces to a
 * multiple of 8 (as the safetensors library writes it). */
static char *st_header(int s, uint64_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *h = malloc(cap);
	uint64_t off = 0;

	if (!h)
		exit(1);
	n += (size_t)snprintf(h + n, cap - n, "{\"__metadata__\":{\"format\":\"pt\"}");
	for (size_t i = 0; i < nl7; i++) {
		const struct st_tensor *t = &l7[i];

		if (t->shard != s)
			continue;
		if (t->cols)
			n += (size_t)snprintf(h + n, cap - n,
				",\"%s\":{\"dtype\":\"BF16\",\"shape\":[%llu,%llu],"
				"\"data_offsets\":[%llu,%llu]}", t->name,
				(unsigned long long)t->rows,
				(unsigned long long)t->cols,
				(unsigned long long)off,
				(unsigned long long)(off + st_bytes(t)));
		else
			n += (size_t)snprintf(h + n, cap - n,
				",\"%s\":{\"dtype\":\"BF16\",\"shape\":[%llu],"
				"\"data_offsets\":[%llu,%llu]}", t->name,
				(unsigned long long)t->rows,
				(unsigned long long)off,
				(unsigned long long)(off + st_bytes(t)));
		off += st_bytes(t);
		if (n + 512 > cap) {
			fprintf(stderr, "gen: header too long\n");
			exit(1);
		}
	}
	h[n++] = '}';
	while (n % 8)
		h[n++] = ' ';
	*len = n;
	return h;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f))
		die("cannot write", path);
}

static void gen_llama7b(void)
{
	char *folder = path_join(dir, "llama-7b");
	uint64_t total = 0;
	double t0 = now();

	unlink_in_dir("llama-7b.stamp");
	if (mkdir(folder, 0755) && errno != EEXIST)
		die("cannot create", folder);
	l7_build();
	for (int s = 0; s < L7_SHARDS; s++) {
		char *name = shard_name(s), *path = path_join(folder, name);
		char *tmp = path_join(folder, ".shard.tmp");
		uint64_t hlen, le;
		char *h = st_header(s, &hlen);
		struct out o;

		out_open(&o, tmp);
		le = hlen;	/* little-endian u64 (x86, arm64) */
		out_put(&o, &le, 8);
		out_put(&o, h, hlen);
		for (size_t i = 0; i < nl7; i++) {
			const struct st_tensor *t = &l7[i];

			if (t->shard != s)
				continue;
			if (t->cols)
				put_matrix(&o, t->name, t->rows, t->cols,
					   bf16_w, bf16_o);
			else
				put_norm(&o, t->name, t->rows, 1);
			total += st_bytes(t);
		}
		out_close(&o);
		if (rename(tmp, path))
			die("cannot rename", tmp);
		fprintf(stderr, "gen: %s (%.1f GB, %.0f s)\n", path,
			o.written / 1e9, now() - t0);
		free(h);
		free(name);
		free(path);
		free(tmp);
	}

	/* index and config */
	size_t cap = 1 << 16, n = 0;
	char *ix = malloc(cap);

	if (!ix)
		exit(1);
	n += (size_t)snprintf(ix + n, cap - n,
		"{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n"
		"  \"weight_map\": {", (unsigned long long)total);
	for (size_t i = 0; i < nl7; i++) {
		char *sn = shard_name(l7[i].shard);

		n += (size_t)snprintf(ix + n, cap - n, "%s\n    \"%s\": \"%s\"",
				      i ? "," : "", l7[i].name, sn);
		free(sn);
	}
	n += (size_t)snprintf(ix + n, cap - n, "\n  }\n}\n");
	char *p = path_join(folder, "model.safetensors.index.json");

	write_text(p, ix);
	free(p);
	free(ix);
	p = path_join(folder, "config.json");
	write_text(p,
		"{\n  \"architectures\": [\"LlamaForCausalLM\"],\n"
		"  \"model_type\": \"llama\",\n  \"hidden_size\": 4096,\n"
		"  \"intermediate_size\": 11008,\n  \"num_hidden_layers\": 32,\n"
		"  \"num_attention_heads\": 32,\n  \"num_key_value_heads\": 32,\n"
		"  \"vocab_size\": 32000,\n  \"max_position_embeddings\": 4096,\n"
		"  \"rms_norm_eps\": 1e-05,\n  \"torch_dtype\": \"bfloat16\",\n"
		"  \"tie_word_embeddings\": false\n}\n");
	free(p);
	free(folder);
	stamp_write("llama-7b.stamp");
}

/* ---- tinyllama-f16.gguf ---- */

#define TL_HIDDEN 2048ull
#define TL_LAYERS 22
#define TL_MLP 5632ull
#define TL_KV 256ull		/* 4 KV heads of 64 */
#define TL_VOCAB 32000ull
#define GGUF_ALIGN 32

enum { GT_F32 = 0, GT_F16 = 1 };
enum { KV_U32 = 4, KV_F32 = 6, KV_STRING = 8 };

struct gg_tensor {
	char name[64];
	uint64_t ne0, ne1;	/* ne0: row length; ne1 == 0: a vector */
	uint64_t offset;
};

static struct gg_tensor gt[3 + 9 * TL_LAYERS];
static size_t ngt;

static uint64_t gg_bytes(const struct gg_tensor *t)
{
	return t->ne1 ? 2 * t->ne0 * t->ne1 : 4 * t->ne0;
}

static void gg_add(const char *name, uint64_t ne0, uint64_t ne1)
{
	snprintf(gt[ngt].name, sizeof(gt[ngt].name), "%s", name);
	gt[ngt].ne0 = ne0;
	gt[ngt].ne1 = ne1;
	ngt++;
}

static void put_u32(struct out *o, uint32_t v) { out_put(o, &v, 4); }
static void put_u64(struct out *o, uint64_t v) { out_put(o, &v, 8); }

static void put_str(struct out *o, const char *s)
{
	put_u64(o, strlen(s));
	out_put(o, s, strlen(s));
}

static void kv_str(struct out *o, const char *k, const char *v)
{
	put_str(o, k);
	put_u32(o, KV_STRING);
	put_str(o, v);
}

static void kv_u32(struct out *o, const char *k, uint32_t v)
{
	put_str(o, k);
	put_u32(o, KV_U32);
	put_u32(o, v);
}

static void kv_f32(struct out *o, const char *k, float v)
{
	put_str(o, k);
	put_u32(o, KV_F32);
	out_put(o, &v, 4);
}

static void gen_gguf(void)
{
	char *path = path_join(dir, "tinyllama-f16.gguf");
	char *tmp = path_join(dir, ".gguf.tmp");
	char n[64];
	uint64_t off = 0;
	double t0 = now();
	struct out o;

	unlink_in_dir("tinyllama-f16.stamp");
	gg_add("token_embd.weight", TL_HIDDEN, TL_VOCAB);
	for (int l = 0; l < TL_LAYERS; l++) {
		snprintf(n, sizeof(n), "blk.%d.attn_norm.weight", l);
		gg_add(n, TL_HIDDEN, 0);
		snprintf(n, sizeof(n), "blk.%d.attn_q.weight", l);
		gg_add(n, TL_HIDDEN, TL_HIDDEN);
		snprintf(n, sizeof(n), "blk.%d.attn_k.weight", l);
		gg_add(n, TL_HIDDEN, TL_KV);
		snprintf(n, sizeof(n), "blk.%d.attn_v.weight", l);
		gg_add(n, TL_HIDDEN, TL_KV);
		snprintf(n, sizeof(n), "blk.%d.attn_output.weight", l);
		gg_add(n, TL_HIDDEN, TL_HIDDEN);
		snprintf(n, sizeof(n), "blk.%d.ffn_norm.weight", l);
		gg_add(n, TL_HIDDEN, 0);
		snprintf(n, sizeof(n), "blk.%d.ffn_gate.weight", l);
		gg_add(n, TL_HIDDEN, TL_MLP);
		snprintf(n, sizeof(n), "blk.%d.ffn_up.weight", l);
		gg_add(n, TL_HIDDEN, TL_MLP);
		snprintf(n, sizeof(n), "blk.%d.ffn_down.weight", l);
		gg_add(n, TL_MLP, TL_HIDDEN);
	}
	gg_add("output_norm.weight", TL_HIDDEN, 0);
	gg_add("output.weight", TL_HIDDEN, TL_VOCAB);

	out_open(&o, tmp);
	out_put(&o, "GGUF", 4);
	put_u32(&o, 3);
	put_u64(&o, ngt);
	put_u64(&o, 12);		/* KVs below */
	kv_str(&o, "general.architecture", "llama");
	kv_str(&o, "general.name", "qscope synthetic TinyLlama-1.1B shapes");
	kv_u32(&o, "llama.context_length", 2048);
	kv_u32(&o, "llama.embedding_length", TL_HIDDEN);
	kv_u32(&o, "llama.block_count", TL_LAYERS);
	kv_u32(&o, "llama.feed_forward_length", TL_MLP);
	kv_u32(&o, "llama.rope.dimension_count", 64);
	kv_u32(&o, "llama.attention.head_count", 32);
	kv_u32(&o, "llama.attention.head_count_kv", 4);
	kv_f32(&o, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
	kv_u32(&o, "general.file_type", 1);	/* MOSTLY_F16 */
	kv_u32(&o, "general.alignment", GGUF_ALIGN);
	for (size_t i = 0; i < ngt; i++) {
		struct gg_tensor *t = &gt[i];

		t->offset = off;
		put_str(&o, t->name);
		put_u32(&o, t->ne1 ? 2 : 1);
		put_u64(&o, t->ne0);
		if (t->ne1)
			put_u64(&o, t->ne1);
		put_u32(&o, t->ne1 ? GT_F16 : GT_F32);
		put_u64(&o, off);
		off += (gg_bytes(t) + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN;
	}
	/* data starts at the aligned end of the header */
	static const unsigned char zero[GGUF_ALIGN];
	uint64_t pos = o.written + o.len;

	out_put(&o, zero, (size_t)((GGUF_ALIGN - pos % GGUF_ALIGN) % GGUF_ALIGN));
	for (size_t i = 0; i < ngt; i++) {
		const struct gg_tensor *t = &gt[i];
		uint64_t b = gg_bytes(t);

		if (t->ne1)
			put_matrix(&o, t->name, t->ne1, t->ne0, f16_w, f16_o);
		else
			put_norm(&o, t->name, t->ne0, 0);
		out_put(&o, zero, (size_t)((GGUF_ALIGN - b % GGUF_ALIGN) % GGUF_ALIGN));
	}
	out_close(&o);
	if (rename(tmp, path))
		die("cannot rename", tmp);
	fprintf(stderr, "gen: %s (%.1f GB, %.0f s)\n", path, o.written / 1e9,
		now() - t0);
	free(path);
	free(tmp);
	stamp_write("tinyllama-f16.stamp");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen DIR\n");
		return 2;
	}
	dir = argv[1];
	if (mkdir(dir, 0755) && errno != EEXIST)
		die("cannot create", dir);
	tables_init();
	if (!stamp_ok("llama-7b.stamp") ||
	    !exists("llama-7b/model.safetensors.index.json"))
		gen_llama7b();
	if (!stamp_ok("tinyllama-f16.stamp") || !exists("tinyllama-f16.gguf"))
		gen_gguf();
	return 0;
}
