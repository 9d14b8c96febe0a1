/*
 * formats/pairs.c - pairing two checkpoints' tensors and comparing a pair
 * (see pairs.h).
 */
#include "formats/pairs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/names.h"
#include "quant/dtype.h"

/* A tensor's name with an archive member's prefix ("dir/x.safetensors:")
 * left out: what the renaming table sees. */
static const char *bare_name(const char *name)
{
	const char *c = strrchr(name, ':');

	return c ? c + 1 : name;
}

/* Renaming never lengthens a name by more than this (a table stem grows
 * by at most a few characters). */
#define RENAME_SLACK 64

/* The GGUF spelling of name (the name itself when the table has no row),
 * allocated; *flags gets the row's flags (0 without one). */
static char *canon_name(const char *name, unsigned *flags)
{
	const char *bare = bare_name(name);
	size_t n = strlen(bare) + RENAME_SLACK;
	char *out = xmalloc(n);

	*flags = 0;
	if (names_to_gguf(bare, out, n, flags) == 0)
		return out;
	*flags = 0;
	memcpy(out, bare, strlen(bare) + 1);
	return out;
}

/* ---- metadata the q/k permutation needs ---- */

static const json_t *meta_get(const struct model *m, const char *key)
{
	for (size_t i = 0; i < m->nmeta; i++)
		if (strcmp(m->meta[i].key, key) == 0)
			return m->meta[i].value;
	return NULL;
}

static const char *meta_arch(const struct model *m)
{
	const json_t *v = meta_get(m, "general.architecture");

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A positive integer, or 0. */
static uint64_t json_count(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) > 0 ?
	       (uint64_t)json_integer_value(v) : 0;
}

/*
 * Head count for q (kv 0) or k (kv 1): from the GGUF keys of g
 * ("<arch>.attention.head_count[_kv]"), else from config.json of h
 * ("num_attention_heads", "num_key_value_heads").  0 when unknown.
 */
static uint64_t head_count(const struct model *g, const struct model *h,
			   int kv)
{
	const char *arch = meta_arch(g);
	const json_t *cfg = meta_get(h, "config.json");
	uint64_t n = 0, nkv = 0;

	if (arch) {
		char key[160];

		snprintf(key, sizeof(key), "%s.attention.head_count", arch);
		n = json_count(meta_get(g, key));
		snprintf(key, sizeof(key), "%s.attention.head_count_kv", arch);
		nkv = json_count(meta_get(g, key));
	}
	if (!n && json_is_object(cfg)) {
		n = json_count(json_object_get(cfg, "num_attention_heads"));
		nkv = json_count(json_object_get(cfg, "num_key_value_heads"));
	}
	return kv && nkv ? nkv : n;
}

/*
 * Does this pair need the q/k permutation undone, and with how many heads?
 *
 * llama.cpp's converter permutes the rows of q_proj and k_proj of llama
 * models per attention head ("reverse permute": Hugging Face checkpoints
 * keep a row order made for their rotary embedding code, and GGUF, like
 * Meta's original checkpoints, the other one).  So GGUF attn_q of a
 * llama model holds HF q_proj's rows, reordered; compared as they are,
 * the pair would show errors near sqrt(2) where nothing changed.  When
 * exactly one side has a Hugging Face q_proj/k_proj name (the table's
 * NAMES_PERMUTED_* flags), the other side is a GGUF of an architecture
 * whose converter permutes (names_arch_permutes()) or a checkpoint in
 * Meta's names, the rows of that other side are read back in Hugging
 * Face order.  The head count comes from the GGUF keys, else from
 * config.json.  Returns the number of heads (the side to unpermute in
 * *side: 0 for A, 1 for B), 0 when nothing needs undoing, or -1 when the
 * layout differs but cannot be undone (head count unknown, or rows not a
 * multiple of 2 x heads).
 */
static int64_t pair_permutation(const struct model *ma, const struct model *mb,
				const struct pair *p, unsigned fa, unsigned fb,
				int *side)
{
	const unsigned perm = NAMES_PERMUTED_Q | NAMES_PERMUTED_K;
	const struct model *other, *hf;
	const struct tensor *t;
	const char *arch;
	unsigned f;
	uint64_t heads, rows;
	const char *bare;
	char *tmp;
	int gguf_named;

	if ((fa & perm) == (fb & perm))
		return 0;
	*side = (fa & perm) ? 1 : 0;
	other = *side ? mb : ma;
	hf = *side ? ma : mb;
	t = *side ? p->b : p->a;
	f = (fa | fb) & perm;
	arch = meta_arch(other);
	if (arch) {
		if (!names_arch_permutes(arch))
			return 0;
	} else {
		/* GGUF names without an architecture: nothing to go by. */
		bare = bare_name(t->name);
		tmp = xmalloc(strlen(bare) + RENAME_SLACK);
		gguf_named = names_to_hf(bare, tmp, strlen(bare) +
					 RENAME_SLACK) == 0;
		free(tmp);
		if (gguf_named)
			return 0;
	}
	heads = head_count(other, hf, (f & NAMES_PERMUTED_K) != 0);
	if (t->ndim < 1 || t->ndim > 2)
		return -1;
	rows = t->shape[0];
	if (!heads || heads > rows / 2 || rows % (2 * heads))
		return -1;
	return (int64_t)heads;
}

/* ---- classifying a pair ---- */

static int same_shape(const struct tensor *a, const struct tensor *b)
{
	if (a->ndim != b->ndim)
		return 0;
	for (int d = 0; d < a->ndim; d++)
		if (a->shape[d] != b->shape[d])
			return 0;
	return 1;
}

/* 2-D, not square, and each the other's transpose. */
static int transposed_shape(const struct tensor *a, const struct tensor *b)
{
	return a->ndim == 2 && b->ndim == 2 && a->shape[0] != a->shape[1] &&
	       a->shape[0] == b->shape[1] && a->shape[1] == b->shape[0];
}

/* A square 2-D weight whose name on one side only is a GPT-2 Conv1D one
 * (attn.c_proj is [n_embd, n_embd]): the converter transposed it too,
 * which the shapes cannot tell. */
static int transposed_square(const struct tensor *a, unsigned fa,
			     unsigned fb)
{
	return a->ndim == 2 && a->shape[0] == a->shape[1] &&
	       ((fa ^ fb) & NAMES_TRANSPOSED);
}

static void pair_classify(const struct model *ma, const struct model *mb,
			  struct pair *p, unsigned fa, unsigned fb)
{
	int64_t heads;
	int side = 0;

	p->dtype_changed = p->a->dtype != p->b->dtype;
	if (!same_shape(p->a, p->b)) {
		p->change = transposed_shape(p->a, p->b) ? PAIR_TRANSPOSED :
			    PAIR_SHAPE;
	} else if (transposed_square(p->a, fa, fb)) {
		p->change = PAIR_TRANSPOSED;
	} else {
		heads = pair_permutation(ma, mb, p, fa, fb, &side);
		if (heads < 0) {
			p->change = PAIR_LAYOUT;
			p->why = "q/k rows permuted per head; head count unknown";
			return;
		}
		p->heads = (uint64_t)heads;
		p->perm_side = side;
		p->change = p->dtype_changed ? PAIR_DTYPE : PAIR_SAME;
	}
	if (p->change != PAIR_SHAPE &&
	    (!dtype_get(p->a->dtype)->decode || !dtype_get(p->b->dtype)->decode))
		p->undecodable = 1;
}

const char *pair_change_name(enum pair_change c)
{
	switch (c) {
	case PAIR_DTYPE:
		return "dtype";
	case PAIR_SHAPE:
		return "shape";
	case PAIR_LAYOUT:
		return "layout";
	case PAIR_TRANSPOSED:
		return "transposed";
	default:
		return NULL;
	}
}

int pair_comparable(const struct pair *p)
{
	return !p->undecodable && p->change != PAIR_SHAPE &&
	       p->change != PAIR_LAYOUT;
}

/* ---- pairing ---- */

struct canon {
	char *name;		/* GGUF spelling */
	unsigned flags;
	size_t index;		/* tensor index in its model */
};

static int canon_cmp(const void *x, const void *y)
{
	const struct canon *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	if (c)
		return c;
	return a->index < b->index ? -1 : a->index > b->index;
}

void pairs_match(struct pairing *pg, const struct model *ma,
		 const struct model *mb)
{
	const struct tensor **by_a = xcalloc(ma->ntensors + 1, sizeof(*by_a));
	unsigned *flags_a = xcalloc(ma->ntensors + 1, sizeof(*flags_a));
	unsigned *flags_b = xcalloc(ma->ntensors + 1, sizeof(*flags_b));
	struct canon *cb = xcalloc(mb->ntensors + 1, sizeof(*cb));
	char *done_b = xcalloc(mb->ntensors + 1, 1);
	size_t ncb = 0, np = 0;

	memset(pg, 0, sizeof(*pg));
	pg->pairs = xcalloc(ma->ntensors + 1, sizeof(*pg->pairs));
	pg->only_a = xcalloc(ma->ntensors + 1, 1);
	pg->only_b = xcalloc(mb->ntensors + 1, 1);
	for (size_t i = 0; i < ma->ntensors; i++) {
		const struct tensor *b = model_find(mb, ma->tensors[i].name);

		if (b) {
			by_a[i] = b;
			done_b[b - mb->tensors] = 1;
		}
	}
	for (size_t j = 0; j < mb->ntensors; j++) {
		if (done_b[j])
			continue;
		cb[ncb].name = canon_name(mb->tensors[j].name, &cb[ncb].flags);
		cb[ncb].index = j;
		ncb++;
	}
	qsort(cb, ncb, sizeof(*cb), canon_cmp);
	for (size_t i = 0; i < ma->ntensors; i++) {
		struct canon *hit = NULL;
		size_t lo = 0, hi = ncb;
		unsigned f;
		char *buf;

		if (by_a[i])
			continue;
		buf = canon_name(ma->tensors[i].name, &f);
		/* the first B tensor of that spelling not paired yet */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (strcmp(cb[mid].name, buf) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < ncb && strcmp(cb[lo].name, buf) == 0; lo++)
			if (!done_b[cb[lo].index]) {
				hit = &cb[lo];
				break;
			}
		free(buf);
		if (!hit)
			continue;
		by_a[i] = &mb->tensors[hit->index];
		done_b[hit->index] = 1;
		flags_a[i] = f;
		flags_b[i] = hit->flags;
	}
	for (size_t i = 0; i < ma->ntensors; i++) {
		struct pair *p = &pg->pairs[np];

		if (!by_a[i]) {
			pg->only_a[i] = 1;
			pg->nonly_a++;
			continue;
		}
		p->a = &ma->tensors[i];
		p->b = by_a[i];
		p->order = np++;
		pair_classify(ma, mb, p, flags_a[i], flags_b[i]);
	}
	pg->n = np;
	for (size_t j = 0; j < mb->ntensors; j++) {
		pg->only_b[j] = !done_b[j];
		pg->nonly_b += !done_b[j];
	}
	for (size_t j = 0; j < ncb; j++)
		free(cb[j].name);
	free(done_b);
	free(cb);
	free(flags_b);
	free(flags_a);
	free(by_a);
}

void pairs_release(struct pairing *pg)
{
	free(pg->pairs);
	free(pg->only_a);
	free(pg->only_b);
	memset(pg, 0, sizeof(*pg));
}

/* ---- reading a pair ---- */

/*
 * Element e of the tensor in Hugging Face row order: row r = e / cols is
 * row names_permuted_row(r) of the stored (GGUF) tensor.  Rows are read
 * whole or in part, so block types decode only the blocks they touch.
 */
struct perm_reader {
	struct tensor_reader *in;
	uint64_t rows, cols, heads;
};

static int perm_read(void *arg, uint64_t first, size_t n, float *out)
{
	struct perm_reader *p = arg;

	while (n) {
		uint64_t r = first / p->cols, off = first % p->cols;
		uint64_t take = p->cols - off;
		uint64_t g = names_permuted_row(r, p->rows, p->heads);

		if (take > n)
			take = n;
		if (tensor_reader_read(p->in, g * p->cols + off, (size_t)take,
				       out))
			return -1;
		first += take;
		out += take;
		n -= (size_t)take;
	}
	return 0;
}

/* Both sides' readers, set up for p. */
struct pair_readers {
	struct tensor_reader ra, rb;
	struct perm_reader pr;
	struct compute_pair cp;
};

static void readers_init(struct pair_readers *r, const struct model *ma,
			 const struct model *mb, const struct pair *p)
{
	memset(r, 0, sizeof(*r));
	tensor_reader_init(&r->ra, ma, p->a);
	tensor_reader_init(&r->rb, mb, p->b);
	r->cp.ra = tensor_reader_read;
	r->cp.ca = &r->ra;
	r->cp.rb = tensor_reader_read;
	r->cp.cb = &r->rb;
	r->cp.count = p->a->params;
	if (p->change == PAIR_TRANSPOSED) {
		r->cp.transposed = 1;
		r->cp.rows = p->a->shape[0];
		r->cp.cols = p->a->shape[1];
	}
	if (p->heads) {
		const struct tensor *t = p->perm_side ? p->b : p->a;

		r->pr.in = p->perm_side ? &r->rb : &r->ra;
		r->pr.rows = t->shape[0];
		r->pr.cols = t->ndim == 2 ? t->shape[1] : 1;
		r->pr.heads = p->heads;
		if (p->perm_side) {
			r->cp.rb = perm_read;
			r->cp.cb = &r->pr;
		} else {
			r->cp.ra = perm_read;
			r->cp.ca = &r->pr;
		}
	}
}

/* Release the readers; for a failed run (rc < 0), say why in e. */
static void readers_release(struct pair_readers *r, const struct model *ma,
			    const struct model *mb, const struct pair *p,
			    int rc, struct err *e)
{
	if (rc < 0) {
		if (r->ra.failed)
			err_set(e, "'%s': %s", ma->path, r->ra.e.msg);
		else if (r->rb.failed)
			err_set(e, "'%s': %s", mb->path, r->rb.e.msg);
		else
			err_set(e, "tensor '%s': out of memory or threads",
				p->a->name);
	}
	tensor_reader_release(&r->ra);
	tensor_reader_release(&r->rb);
}

int pair_compare(const struct model *ma, const struct model *mb,
		 const struct pair *p, const struct compute_ctl *ctl,
		 struct err_acc *acc, struct err *e)
{
	struct pair_readers r;
	int rc;

	readers_init(&r, ma, mb, p);
	rc = compute_compare_pair(&r.cp, ctl, acc);
	readers_release(&r, ma, mb, p, rc, e);
	return rc;
}

int pair_diff(const struct model *ma, const struct model *mb,
	      const struct pair *p, unsigned nbins,
	      const struct compute_ctl *ctl, struct err_acc *acc,
	      struct vstats *vs, struct histogram *h, struct err *e)
{
	struct pair_readers r;
	int rc;

	readers_init(&r, ma, mb, p);
	rc = compute_diff(&r.cp, nbins, ctl, acc, vs, h);
	readers_release(&r, ma, mb, p, rc, e);
	return rc;
}
