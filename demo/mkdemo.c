/*
 * demo/mkdemo.c - write qscope's built-in demo checkpoint.
 *
 * Usage: mkdemo OUTDIR
 *
 * Writes into OUTDIR (created if needed) a small Llama-shaped model the way
 * Hugging Face tooling stores one: two BF16 safetensors shards, their
 * model.safetensors.index.json and a config.json.  The demo has to be
 * worth looking at, so besides plain gaussian weights it holds the things
 * qscope exists to show: per-row scale spread, outlier weights in the MLP,
 * values that overflow FP16 and values that flush to zero in FP16 (see
 * "What the values are" below).
 *
 * The output is the same bytes on every run and machine: values come from
 * our own PRNG (xoshiro256** seeded per tensor from its name, so a tensor's
 * values do not depend on the order tensors are written in), gaussians from
 * Marsaglia's polar form of Box-Muller in double, and the rounding to BF16
 * is the project's f32_to_bf16().  Only sqrt(), log() and exp() come from
 * libm; an ulp of difference there would almost never survive the rounding
 * to 8 bits of mantissa.
 *
 * Every file is written to a hidden temporary name in OUTDIR and fsynced;
 * only when all four are complete are they renamed into place, the index
 * last (the Makefile uses it as the stamp), so a failed run changes nothing.
 * Exit status: 0 done, 1 an error (one line on stderr, temporaries removed),
 * 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "quant/dtype.h"

/* ---- the model ---- */

#define VOCAB		2048
#define HIDDEN		512
#define LAYERS		4
#define INTER		1376
#define HEADS		8
#define KV_HEADS	8
#define HEAD_DIM	(HIDDEN / HEADS)
#define MAX_POS		2048

#define NSHARDS		2
/* Layers below this go to the first shard with the embeddings; that splits
 * the bytes about in half (14.75 MB each). */
#define SHARD1_LAYERS	(LAYERS / 2)

/* 1 embedding + 9 per layer + final norm + lm_head */
#define MAX_TENSORS	(3 + 9 * LAYERS)
#define MAX_COLS	(INTER > HIDDEN ? INTER : HIDDEN)

/* Changing this changes every byte of the demo (and any test that pins
 * its numbers); there is no reason to. */
#define DEMO_SEED	UINT64_C(0x71736370e0de0001)

#define INDEX_NAME	"model.safetensors.index.json"
#define CONFIG_NAME	"config.json"
#define PATH_SIZE	4096

enum kind {
	K_EMBED,
	K_NORM,
	K_ATTN,		/* q, k, v, o */
	K_MLP_IN,	/* gate, up: [INTER, HIDDEN] */
	K_MLP_DOWN,	/* [HIDDEN, INTER] */
	K_HEAD,
};

struct spec {
	char name[64];
	enum kind kind;
	int layer;		/* -1 outside the decoder layers */
	int ndim;		/* 1 or 2 */
	uint32_t rows, cols;	/* a 1-d tensor is one row */
	int shard;
	uint64_t begin, end;	/* data_offsets within its shard */
};

static struct spec specs[MAX_TENSORS];
static int nspecs;

/* Per shard, the tensors in data order, and the size of the byte buffer. */
static struct spec *shard_tensors[NSHARDS][MAX_TENSORS];
static int shard_ntensors[NSHARDS];
static uint64_t shard_bytes[NSHARDS];

/* ---- errors and temporaries ---- */

/* The temporaries not yet renamed, so that any error can remove them. */
#define MAX_TEMPS	(NSHARDS + 2)
static char temps[MAX_TEMPS][PATH_SIZE];

static void remove_temps(void)
{
	int i;

	for (i = 0; i < MAX_TEMPS; i++)
		if (temps[i][0]) {
			unlink(temps[i]);
			temps[i][0] = '\0';
		}
}

static void die(const char *path, const char *what)
	__attribute__((noreturn));

static void die(const char *path, const char *what)
{
	fprintf(stderr, "mkdemo: '%s': %s\n", path, what);
	remove_temps();
	exit(1);
}

/* "what: strerror(errno)"; errno is read before anything can change it. */
static void die_errno(const char *path, const char *what)
	__attribute__((noreturn));

static void die_errno(const char *path, const char *what)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
	die(path, msg);
}

static void make_path(char *out, const char *dir, const char *fmt,
		      const char *name)
{
	char base[PATH_SIZE];
	int n;

	snprintf(base, sizeof(base), fmt, name);
	n = snprintf(out, PATH_SIZE, "%s/%s", dir, base);
	if (n < 0 || n >= PATH_SIZE)
		die(dir, "path too long");
}

/* ---- random numbers ---- */

struct rng {
	uint64_t s[4];
	int have_spare;
	double spare;
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* FNV-1a: a tensor's seed depends on its name only. */
static uint64_t hash_name(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

/* salt separates independent streams of the same tensor. */
static void rng_seed(struct rng *r, const char *name, uint64_t salt)
{
	uint64_t x = DEMO_SEED ^ hash_name(name) ^ salt;
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
	r->have_spare = 0;
	r->spare = 0;
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna) */
static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* In [0, 1), 53 bits. */
static double rng_uniform(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Below n; the modulo bias is immaterial for n this small. */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(rng_next(r) % n);
}

static double rng_sign(struct rng *r)
{
	return rng_next(r) >> 63 ? -1.0 : 1.0;
}

/* N(0, 1): the polar method needs no cos(), and gives two per log(). */
static double rng_normal(struct rng *r)
{
	double u, v, s, f;

	if (r->have_spare) {
		r->have_spare = 0;
		return r->spare;
	}
	do {
		u = 2.0 * rng_uniform(r) - 1.0;
		v = 2.0 * rng_uniform(r) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	f = sqrt(-2.0 * log(s) / s);
	r->spare = v * f;
	r->have_spare = 1;
	return u * f;
}

/* Magnitude log-uniform in [lo, hi), random sign.  Each draw is its own
 * statement: C leaves the order of operands unspecified, and gcc and clang
 * do pick different orders. */
static double rng_loguniform(struct rng *r, double lo, double hi)
{
	double sign = rng_sign(r);
	double u = rng_uniform(r);

	return sign * lo * exp(u * log(hi / lo));
}

/* ---- what the values are ----
 *
 * Embeddings, projections and lm_head: N(0, 0.02^2), the usual Llama
 * initializer_range, with each row's scale multiplied by a log-normal factor
 * exp(sigma z - sigma^2) (its mean square is 1, so the tensor's std stays
 * about 0.02).  Trained models show this spread between rows (token norms
 * in the embeddings, channel norms in the projections), and it is what
 * makes per-row or per-group quantization scales worth having.
 *
 * Norm weights: 1 + N(0, 0.05^2), near their initial value of 1.
 *
 * Ordinary draws with |x| < 2^-24 (the smallest FP16 subnormal) are drawn
 * again: about one value in a million would otherwise flush to zero in FP16
 * by chance, all over the model, and the BF16/FP16 doctor should find
 * exactly the two planted problems below and nothing else.
 *
 * Then the planted values:
 *
 *  - Every mlp.down_proj has DOWN_CHANNELS input channels (columns) holding
 *    large weights, 0.5 to 4 in magnitude (25 to 200 std), in
 *    DOWN_ROWS rows each; every gate_proj and up_proj has MLP_IN_OUTLIERS
 *    single large weights.  Real LLMs have them: a few intermediate
 *    channels feeding down_proj carry outliers ("emergent outlier
 *    features", Dettmers et al. 2022, LLM.int8(); "super weights" in
 *    mlp.down_proj, Yu et al. 2024).  They are what ruins a naive per-tensor
 *    or large-block quantization, which the "try formats" view shows.
 *
 *  - model.layers.1.mlp.down_proj.weight holds +-70000 and +-1.2e5
 *    (HUGE_PLANTS).  BF16 has FP32's exponent range and keeps them; FP16's
 *    largest finite value is 65504, so loading this BF16 checkpoint as FP16
 *    turns them into infinities, and the first forward pass into NaN.  This
 *    is the "BF16 model breaks in FP16" case qscope check reports.
 *
 *  - model.layers.2.self_attn.v_proj.weight has one head's rows
 *    (TINY_HEAD) at magnitudes 1e-9 to 1e-8, as a head that weight decay
 *    drove towards zero.  BF16 holds them as normal numbers; all are below
 *    half of FP16's smallest subnormal (2^-25, about 2.98e-8), so in FP16
 *    the whole block flushes to zero and the head goes silent.
 */

#define STD_WEIGHT	0.02
#define STD_NORM	0.05
#define FP16_MIN_SUB	0x1.0p-24

#define DOWN_CHANNELS	6
#define DOWN_ROWS	8
#define MLP_IN_OUTLIERS	3
#define OUTLIER_LO	0.5
#define OUTLIER_HI	4.0

#define HUGE_LAYER	1
#define TINY_LAYER	2
#define TINY_HEAD	5
#define TINY_LO		1e-9
#define TINY_HI		1e-8

#define MAX_PLANTS	(DOWN_CHANNELS * DOWN_ROWS + 8)

struct plant {
	uint32_t row, col;
	float value;
};

/* Row, column, value: two in input channel 300, two in 1025.  Where they
 * are matters only to tests that look for them. */
static const struct plant huge_plants[] = {
	{ 7, 300, 70000.0f },
	{ 130, 300, -70000.0f },
	{ 260, 1025, 1.2e5f },
	{ 401, 1025, -1.2e5f },
};

/* The state of one tensor being generated. */
struct gen {
	const struct spec *t;
	struct rng r;		/* the gaussian stream */
	double sigma;		/* log-normal spread of row scales */
	struct plant plants[MAX_PLANTS];
	int nplants;
	uint32_t tiny_begin, tiny_end;	/* rows [begin, end) are tiny */
};

static void add_plant(struct gen *g, uint32_t row, uint32_t col, double v)
{
	if (g->nplants == MAX_PLANTS)
		die(g->t->name, "too many planted values (a bug in mkdemo)");
	g->plants[g->nplants].row = row;
	g->plants[g->nplants].col = col;
	g->plants[g->nplants].value = (float)v;
	g->nplants++;
}

static int plant_at(const struct gen *g, uint32_t row, uint32_t col)
{
	int i;

	for (i = 0; i < g->nplants; i++)
		if (g->plants[i].row == row && g->plants[i].col == col)
			return 1;
	return 0;
}

static int column_taken(const uint32_t *cols, int n, uint32_t c)
{
	int i;

	for (i = 0; i < n; i++)
		if (cols[i] == c)
			return 1;
	return 0;
}

static void gen_init(struct gen *g, const struct spec *t)
{
	struct rng pr;	/* placement: apart from the values' stream */
	uint32_t cols[DOWN_CHANNELS];
	uint32_t row, col;
	size_t i;
	int c, k;

	memset(g, 0, sizeof(*g));
	g->t = t;
	rng_seed(&g->r, t->name, 0);
	rng_seed(&pr, t->name, UINT64_C(0x706c616e74730000));

	switch (t->kind) {
	case K_EMBED:
		g->sigma = 0.30;
		break;
	case K_ATTN:
		g->sigma = 0.20;
		break;
	case K_MLP_IN:
	case K_MLP_DOWN:
		g->sigma = 0.15;
		break;
	case K_HEAD:
		g->sigma = 0.25;
		break;
	case K_NORM:
		break;
	}

	if (t->kind == K_MLP_DOWN) {
		for (c = 0; c < DOWN_CHANNELS; c++) {
			do
				cols[c] = rng_below(&pr, t->cols);
			while (column_taken(cols, c, cols[c]));
			for (k = 0; k < DOWN_ROWS; k++) {
				do
					row = rng_below(&pr, t->rows);
				while (plant_at(g, row, cols[c]));
				add_plant(g, row, cols[c],
					  rng_loguniform(&pr, OUTLIER_LO,
							 OUTLIER_HI));
			}
		}
	}
	if (t->kind == K_MLP_IN)
		for (k = 0; k < MLP_IN_OUTLIERS; k++) {
			row = rng_below(&pr, t->rows);
			col = rng_below(&pr, t->cols);
			add_plant(g, row, col,
				  rng_loguniform(&pr, OUTLIER_LO, OUTLIER_HI));
		}
	/* Added last, so they win over a random outlier in the same place. */
	if (t->kind == K_MLP_DOWN && t->layer == HUGE_LAYER)
		for (i = 0; i < sizeof(huge_plants) / sizeof(*huge_plants); i++)
			add_plant(g, huge_plants[i].row, huge_plants[i].col,
				  huge_plants[i].value);
	if (t->kind == K_ATTN && t->layer == TINY_LAYER &&
	    strstr(t->name, ".v_proj.")) {
		g->tiny_begin = TINY_HEAD * HEAD_DIM;
		g->tiny_end = g->tiny_begin + HEAD_DIM;
	}
}

/* A normal draw times scale, redrawn while it would flush in FP16. */
static float draw(struct rng *r, double scale)
{
	float v;

	do
		v = (float)(scale * rng_normal(r));
	while (fabsf(v) < (float)FP16_MIN_SUB);
	return v;
}

static void gen_row(struct gen *g, uint32_t row, float *out)
{
	const struct spec *t = g->t;
	double scale;
	uint32_t c;
	int i;

	if (t->kind == K_NORM) {
		for (c = 0; c < t->cols; c++)
			out[c] = (float)(1.0 + STD_NORM * rng_normal(&g->r));
	} else if (row >= g->tiny_begin && row < g->tiny_end) {
		for (c = 0; c < t->cols; c++)
			out[c] = (float)rng_loguniform(&g->r, TINY_LO, TINY_HI);
	} else {
		scale = STD_WEIGHT * exp(g->sigma * rng_normal(&g->r) -
					 g->sigma * g->sigma);
		for (c = 0; c < t->cols; c++)
			out[c] = draw(&g->r, scale);
	}
	for (i = 0; i < g->nplants; i++)
		if (g->plants[i].row == row)
			out[g->plants[i].col] = g->plants[i].value;
}

/* ---- the tensor list ---- */

static void add_spec(enum kind kind, int layer, int ndim, uint32_t rows,
		     uint32_t cols, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void add_spec(enum kind kind, int layer, int ndim, uint32_t rows,
		     uint32_t cols, const char *fmt, ...)
{
	struct spec *t = &specs[nspecs++];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->name, sizeof(t->name), fmt, ap);
	va_end(ap);
	t->kind = kind;
	t->layer = layer;
	t->ndim = ndim;
	t->rows = rows;
	t->cols = cols;
	/* Embeddings and the first layers first; then the rest, the final
	 * norm and lm_head. */
	t->shard = layer >= 0 ? layer >= SHARD1_LAYERS : kind != K_EMBED;
}

static int cmp_spec_name(const void *a, const void *b)
{
	const struct spec *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static void build_specs(void)
{
	static const char *const attn[] = { "q", "k", "v", "o" };
	uint32_t rows;
	int i, j, s;

	add_spec(K_EMBED, -1, 2, VOCAB, HIDDEN, "model.embed_tokens.weight");
	for (i = 0; i < LAYERS; i++) {
		add_spec(K_NORM, i, 1, 1, HIDDEN,
			 "model.layers.%d.input_layernorm.weight", i);
		for (j = 0; j < 4; j++) {
			/* k and v have one row per KV head dimension */
			rows = (j == 1 || j == 2) ? KV_HEADS * HEAD_DIM
						  : HIDDEN;
			add_spec(K_ATTN, i, 2, rows, HIDDEN,
				 "model.layers.%d.self_attn.%s_proj.weight",
				 i, attn[j]);
		}
		add_spec(K_NORM, i, 1, 1, HIDDEN,
			 "model.layers.%d.post_attention_layernorm.weight", i);
		add_spec(K_MLP_IN, i, 2, INTER, HIDDEN,
			 "model.layers.%d.mlp.gate_proj.weight", i);
		add_spec(K_MLP_IN, i, 2, INTER, HIDDEN,
			 "model.layers.%d.mlp.up_proj.weight", i);
		add_spec(K_MLP_DOWN, i, 2, HIDDEN, INTER,
			 "model.layers.%d.mlp.down_proj.weight", i);
	}
	add_spec(K_NORM, -1, 1, 1, HIDDEN, "model.norm.weight");
	add_spec(K_HEAD, -1, 2, VOCAB, HIDDEN, "lm_head.weight");

	/* The reference writer orders by dtype, largest first, then by
	 * name; all ours are BF16, so by name (FORMATS.md 1.4). */
	for (i = 0; i < nspecs; i++) {
		s = specs[i].shard;
		shard_tensors[s][shard_ntensors[s]++] = &specs[i];
	}
	for (s = 0; s < NSHARDS; s++) {
		qsort(shard_tensors[s], shard_ntensors[s],
		      sizeof(shard_tensors[s][0]), cmp_spec_name);
		for (i = 0; i < shard_ntensors[s]; i++) {
			struct spec *t = shard_tensors[s][i];

			t->begin = shard_bytes[s];
			t->end = t->begin + (uint64_t)t->rows * t->cols * 2;
			shard_bytes[s] = t->end;
		}
	}
}

static void shard_name(char *out, size_t size, int s)
{
	snprintf(out, size, "model-%05d-of-%05d.safetensors", s + 1, NSHARDS);
}

/* ---- output ---- */

static unsigned char obuf[1 << 20];

struct out {
	int fd;
	const char *path;	/* the temporary */
	size_t len;		/* bytes waiting in obuf */
	uint64_t total;		/* bytes written so far */
};

static void out_open(struct out *o, int slot, const char *dir,
		     const char *name)
{
	char fmt[64];

	/* Hidden, so that the glob in `make install` never picks one up. */
	snprintf(fmt, sizeof(fmt), ".%%s.tmp-%ld", (long)getpid());
	make_path(temps[slot], dir, fmt, name);
	o->path = temps[slot];
	o->len = 0;
	o->total = 0;
	o->fd = open(o->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (o->fd < 0) {
		char path[PATH_SIZE];

		/* Not ours to remove: keep the name for the message only. */
		memcpy(path, temps[slot], PATH_SIZE);
		temps[slot][0] = '\0';
		die_errno(path, "cannot create");
	}
}

static void out_flush(struct out *o)
{
	const unsigned char *p = obuf;
	size_t n = o->len;
	ssize_t w;

	while (n) {
		w = write(o->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			die_errno(o->path, "cannot write");
		if (w == 0) {
			errno = ENOSPC;
			die_errno(o->path, "cannot write");
		}
		p += w;
		n -= (size_t)w;
	}
	o->total += o->len;
	o->len = 0;
}

static void out_bytes(struct out *o, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t k;

	while (n) {
		if (o->len == sizeof(obuf))
			out_flush(o);
		k = sizeof(obuf) - o->len;
		if (k > n)
			k = n;
		memcpy(obuf + o->len, s, k);
		o->len += k;
		s += k;
		n -= k;
	}
}

static void out_close(struct out *o, uint64_t expect)
{
	out_flush(o);
	if (o->total != expect)
		die(o->path, "size differs from the plan (a bug in mkdemo)");
	if (fsync(o->fd) < 0)
		die_errno(o->path, "cannot fsync");
	if (close(o->fd) < 0)
		die_errno(o->path, "cannot close");
	o->fd = -1;
}

/* ---- the files ---- */

static void die_oom(void) __attribute__((noreturn));

static void die_oom(void)
{
	fprintf(stderr, "mkdemo: out of memory\n");
	remove_temps();
	exit(1);
}

static json_t *jcheck(json_t *j)
{
	if (!j)
		die_oom();
	return j;
}

static void jset(json_t *obj, const char *key, json_t *value)
{
	if (json_object_set_new(obj, key, jcheck(value)) < 0)
		die_oom();
}

static void jappend(json_t *arr, json_t *value)
{
	if (json_array_append_new(arr, jcheck(value)) < 0)
		die_oom();
}

/* Compact, "__metadata__" first, tensors in data order (FORMATS.md 1.4);
 * jansson keeps the order of insertion. */
static char *shard_header(int s)
{
	json_t *h = jcheck(json_object());
	json_t *meta = jcheck(json_object());
	char *text;
	int i;

	jset(meta, "format", json_string("pt"));
	jset(h, "__metadata__", meta);
	for (i = 0; i < shard_ntensors[s]; i++) {
		const struct spec *t = shard_tensors[s][i];
		json_t *e = jcheck(json_object());
		json_t *shape = jcheck(json_array());
		json_t *offs = jcheck(json_array());

		if (t->ndim == 2)
			jappend(shape, json_integer(t->rows));
		jappend(shape, json_integer(t->cols));
		jappend(offs, json_integer((json_int_t)t->begin));
		jappend(offs, json_integer((json_int_t)t->end));
		jset(e, "dtype", json_string("BF16"));
		jset(e, "shape", shape);
		jset(e, "data_offsets", offs);
		jset(h, t->name, e);
	}
	text = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	if (!text)
		die_oom();
	return text;
}

static void write_shard(int s, const char *dir)
{
	static float row[MAX_COLS];
	unsigned char le[8];
	char name[64];
	struct out o;
	struct gen g;
	char *header;
	size_t hlen, padded;
	uint64_t expect;
	uint32_t r, c;
	uint16_t b;
	int i, k;

	shard_name(name, sizeof(name), s);
	header = shard_header(s);
	hlen = strlen(header);
	padded = (hlen + 7) & ~(size_t)7;	/* data starts 8-aligned */
	expect = 8 + padded + shard_bytes[s];

	out_open(&o, s, dir, name);
	for (k = 0; k < 8; k++)
		le[k] = (unsigned char)((uint64_t)padded >> (8 * k));
	out_bytes(&o, le, 8);
	out_bytes(&o, header, hlen);
	out_bytes(&o, "       ", padded - hlen);
	free(header);

	for (i = 0; i < shard_ntensors[s]; i++) {
		const struct spec *t = shard_tensors[s][i];

		gen_init(&g, t);
		for (r = 0; r < t->rows; r++) {
			gen_row(&g, r, row);
			if (sizeof(obuf) - o.len < 2 * (size_t)t->cols)
				out_flush(&o);
			for (c = 0; c < t->cols; c++) {
				b = f32_to_bf16(row[c]);
				obuf[o.len++] = (unsigned char)(b & 0xff);
				obuf[o.len++] = (unsigned char)(b >> 8);
			}
		}
	}
	out_close(&o, expect);
}

/* Indented, sorted, newline-terminated, as transformers writes both. */
static void write_json(int slot, const char *dir, const char *name, json_t *j)
{
	struct out o;
	char *text;
	size_t len;

	text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS |
			  JSON_REAL_PRECISION(15));
	if (!text)
		die_oom();
	len = strlen(text);
	out_open(&o, slot, dir, name);
	out_bytes(&o, text, len);
	out_bytes(&o, "\n", 1);
	out_close(&o, len + 1);
	free(text);
}

static void write_config(int slot, const char *dir)
{
	json_t *j = jcheck(json_object());
	json_t *arch = jcheck(json_array());

	jappend(arch, json_string("LlamaForCausalLM"));
	jset(j, "architectures", arch);
	jset(j, "attention_bias", json_false());
	jset(j, "bos_token_id", json_integer(1));
	jset(j, "eos_token_id", json_integer(2));
	jset(j, "hidden_act", json_string("silu"));
	jset(j, "hidden_size", json_integer(HIDDEN));
	jset(j, "initializer_range", json_real(STD_WEIGHT));
	jset(j, "intermediate_size", json_integer(INTER));
	jset(j, "max_position_embeddings", json_integer(MAX_POS));
	jset(j, "model_type", json_string("llama"));
	jset(j, "num_attention_heads", json_integer(HEADS));
	jset(j, "num_hidden_layers", json_integer(LAYERS));
	jset(j, "num_key_value_heads", json_integer(KV_HEADS));
	jset(j, "rms_norm_eps", json_real(1e-05));
	jset(j, "rope_theta", json_real(10000.0));
	jset(j, "tie_word_embeddings", json_false());
	jset(j, "torch_dtype", json_string("bfloat16"));
	jset(j, "vocab_size", json_integer(VOCAB));
	write_json(slot, dir, CONFIG_NAME, j);
	json_decref(j);
}

static void write_index(int slot, const char *dir)
{
	json_t *j = jcheck(json_object());
	json_t *meta = jcheck(json_object());
	json_t *map = jcheck(json_object());
	char name[64];
	uint64_t total = 0;
	int i;

	for (i = 0; i < nspecs; i++) {
		shard_name(name, sizeof(name), specs[i].shard);
		jset(map, specs[i].name, json_string(name));
		total += specs[i].end - specs[i].begin;
	}
	/* Tensor bytes, not file bytes, as transformers counts. */
	jset(meta, "total_size", json_integer((json_int_t)total));
	jset(j, "metadata", meta);
	jset(j, "weight_map", map);
	write_json(slot, dir, INDEX_NAME, j);
	json_decref(j);
}

/* mkdir -p: the Makefile passes demo/model, an installer may pass more. */
static void make_dir(const char *dir)
{
	char buf[PATH_SIZE];
	struct stat st;
	size_t n = strlen(dir);
	char *p;

	if (n == 0)
		die(dir, "empty directory name");
	if (n >= sizeof(buf))
		die(dir, "path too long");
	memcpy(buf, dir, n + 1);
	for (p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (p[-1] != '/') {
			char save = *p;

			*p = '\0';
			if (mkdir(buf, 0777) < 0 && errno != EEXIST)
				die_errno(buf, "cannot create directory");
			*p = save;
		}
		if (*p == '\0')
			break;
	}
	if (stat(dir, &st) < 0)
		die_errno(dir, "cannot stat");
	if (!S_ISDIR(st.st_mode))
		die(dir, "not a directory");
}

/* Make the renames durable; a file system that cannot fsync a
 * directory (EINVAL) has nothing more to give. */
static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		die_errno(dir, "cannot open directory");
	if (fsync(fd) < 0 && errno != EINVAL)
		die_errno(dir, "cannot fsync directory");
	close(fd);
}

static void usage(void)
{
	fprintf(stderr, "usage: mkdemo OUTDIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	char final[PATH_SIZE];
	char name[64];
	const char *dir;
	int slot;

	if (getopt(argc, argv, "") != -1 || argc - optind != 1)
		usage();
	dir = argv[optind];

	make_dir(dir);
	build_specs();

	/* Slots: the shards, then config.json, then the index. */
	for (slot = 0; slot < NSHARDS; slot++)
		write_shard(slot, dir);
	write_config(NSHARDS, dir);
	write_index(NSHARDS + 1, dir);

	for (slot = 0; slot < MAX_TEMPS; slot++) {
		if (slot < NSHARDS)
			shard_name(name, sizeof(name), slot);
		else
			snprintf(name, sizeof(name), "%s",
				 slot == NSHARDS ? CONFIG_NAME : INDEX_NAME);
		make_path(final, dir, "%s", name);
		if (rename(temps[slot], final) < 0)
			die_errno(final, "cannot rename into place");
		temps[slot][0] = '\0';
	}
	sync_dir(dir);
	return 0;
}
