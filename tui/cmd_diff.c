/*
 * tui/cmd_diff.c - qscope diff [--json] [--threads N] [--sort file|err]
 *                               A B [NAME...]
 *
 * Compare two checkpoints tensor by tensor: what a quantization, a
 * conversion or a fine-tune changed.  A and B are anything model_open()
 * reads.  Tensors are paired by name: first the same name on both sides,
 * then through the table of renamings between Hugging Face and GGUF names
 * (formats/names.h), so a safetensors checkpoint pairs with its GGUF.
 * Each pair is decoded to float32 and compared a chunk at a time on every
 * core (compute_compare(), quant/compute.h): relative error
 * ||a - b|| / ||a|| (A is the reference), SQNR, cosine and max |a - b|
 * (quant/stats.h), over the finite values of A.
 *
 * JSON: {"pairs": [{"a", "b", "rel_err", "sqnr_db", "cosine",
 * "max_abs_err", "changed"}], "only_a": [names], "only_b": [names]}.
 * Decisions:
 *  - "changed" is null when shape and dtype agree; "shape" when the shapes
 *    differ (no metrics: nothing to compare element by element); "dtype"
 *    when only the stored dtypes differ (with metrics); "layout" when the
 *    shapes agree but the elements are known to be stored in another
 *    order that cannot be undone here (q/k rows permuted per head with
 *    no head count known, see pair_permutation()), with no metrics.
 *    GPT-2's Conv1D weights, which the converter transposes, show as
 *    "shape";
 *  - GGUF shapes are compared as qscope's GGUF reader shows them, outermost
 *    first (ne[] reversed), which is the Hugging Face order of the same
 *    weight: [n_ff, n_embd] for ffn_up on both sides;
 *  - a number that is not finite is null: sqnr_db of two equal tensors
 *    (infinite) and rel_err of an all-zero A;
 *  - a pair whose values one side cannot decode (IQ2_XXS...) keeps null
 *    metrics, and stderr says so;
 *  - pairs come in A's order (--sort err: largest relative error first,
 *    pairs without metrics last); only_a in A's order, only_b in B's.
 * NAME (exact or glob) keeps the pairs either of whose names matches, and
 * the unpaired tensors that match; a NAME that matches nothing is an
 * error.  Exit 0 whatever the differences, 2 for bad usage, an unreadable
 * file or a read failure.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/names.h"
#include "quant/compute.h"
#include "tui/cmds.h"

struct pair {
	const struct tensor *a, *b;
	const char *changed;	/* NULL, "shape", "dtype", "layout" */
	const char *why;	/* for text output: what "layout" means */
	int compared;		/* metrics are valid */
	int permuted;		/* one side's q/k rows were put back */
	int undecodable;	/* a side's dtype cannot be decoded */
	struct err_acc acc;
	struct err_metrics met;
	size_t order;		/* index in A's order, for a stable sort */
};

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

/* ---- a reader that puts permuted q/k rows back ---- */

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

/*
 * Pair A's tensors with B's: same name first, then the same GGUF
 * spelling.  pairs gets them in A's order; fa/fb (one per pair) the
 * renaming flags of each side's name; done_b marks B's paired tensors.
 */
static size_t pair_up(const struct model *ma, const struct model *mb,
		      struct pair *pairs, unsigned *fa, unsigned *fb,
		      char *done_b)
{
	const struct tensor **by_a = xcalloc(ma->ntensors + 1, sizeof(*by_a));
	unsigned *flags_a = xcalloc(ma->ntensors + 1, sizeof(*flags_a));
	unsigned *flags_b = xcalloc(ma->ntensors + 1, sizeof(*flags_b));
	struct canon *cb = xcalloc(mb->ntensors + 1, sizeof(*cb));
	size_t ncb = 0, np = 0;

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
		if (!by_a[i])
			continue;
		memset(&pairs[np], 0, sizeof(pairs[np]));
		pairs[np].a = &ma->tensors[i];
		pairs[np].b = by_a[i];
		pairs[np].order = np;
		fa[np] = flags_a[i];
		fb[np] = flags_b[i];
		np++;
	}
	for (size_t j = 0; j < ncb; j++)
		free(cb[j].name);
	free(cb);
	free(flags_b);
	free(flags_a);
	free(by_a);
	return np;
}

/* ---- comparing one pair ---- */

static int same_shape(const struct tensor *a, const struct tensor *b)
{
	if (a->ndim != b->ndim)
		return 0;
	for (int d = 0; d < a->ndim; d++)
		if (a->shape[d] != b->shape[d])
			return 0;
	return 1;
}

/* 0, or -1 after a message (a read failed, or memory or threads ran out). */
static int compare_pair(const struct model *ma, const struct model *mb,
			struct pair *p, unsigned fa, unsigned fb,
			const struct compute_ctl *ctl)
{
	struct tensor_reader ra, rb;
	struct perm_reader pr;
	chunk_read_fn *fna = tensor_reader_read, *fnb = tensor_reader_read;
	void *ca = &ra, *cb = &rb;
	int64_t heads;
	int side = 0, rc;

	if (!same_shape(p->a, p->b)) {
		p->changed = "shape";
		return 0;
	}
	heads = pair_permutation(ma, mb, p, fa, fb, &side);
	if (heads < 0) {
		p->changed = "layout";
		p->why = "q/k rows permuted per head; head count unknown";
		return 0;
	}
	if (p->a->dtype != p->b->dtype)
		p->changed = "dtype";
	if (!dtype_get(p->a->dtype)->decode || !dtype_get(p->b->dtype)->decode) {
		p->undecodable = 1;
		return 0;
	}
	tensor_reader_init(&ra, ma, p->a);
	tensor_reader_init(&rb, mb, p->b);
	if (heads > 0) {
		const struct tensor *t = side ? p->b : p->a;

		pr.in = side ? &rb : &ra;
		pr.rows = t->shape[0];
		pr.cols = t->ndim == 2 ? t->shape[1] : 1;
		pr.heads = (uint64_t)heads;
		if (side) {
			fnb = perm_read;
			cb = &pr;
		} else {
			fna = perm_read;
			ca = &pr;
		}
		p->permuted = 1;
	}
	rc = compute_compare(fna, ca, fnb, cb, p->a->params, ctl, &p->acc);
	if (rc) {
		if (ra.failed)
			fprintf(stderr, "qscope: '%s': %s\n", ma->path,
				ra.e.msg);
		else if (rb.failed)
			fprintf(stderr, "qscope: '%s': %s\n", mb->path,
				rb.e.msg);
		else
			fprintf(stderr, "qscope: tensor '%s': out of memory or threads\n",
				p->a->name);
	} else {
		err_acc_finish(&p->acc, &p->met);
		p->compared = 1;
	}
	tensor_reader_release(&ra);
	tensor_reader_release(&rb);
	return rc ? -1 : 0;
}

/* ---- output ---- */

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *pair_json(const struct pair *p)
{
	json_t *j = json_object();
	int c = p->compared;

	json_object_set_new(j, "a", json_string(p->a->name));
	json_object_set_new(j, "b", json_string(p->b->name));
	json_object_set_new(j, "rel_err", c ? num(p->met.rel_err) :
				json_null());
	json_object_set_new(j, "sqnr_db", c ? num(p->met.sqnr_db) :
				json_null());
	json_object_set_new(j, "cosine", c ? num(p->met.cosine) : json_null());
	json_object_set_new(j, "max_abs_err", c ? num(p->met.max_abs_err) :
				json_null());
	json_object_set_new(j, "changed", p->changed ?
				json_string(p->changed) : json_null());
	return j;
}

static void print_names_json(const char *key, const struct model *m,
			     const char *keep)
{
	int first = 1;

	printf(", \"%s\": [", key);
	for (size_t i = 0; i < m->ntensors; i++) {
		json_t *s;

		if (!keep[i])
			continue;
		s = json_string(m->tensors[i].name);
		fputs(first ? "" : ", ", stdout);
		json_print(s);
		json_decref(s);
		first = 0;
	}
	putchar(']');
}

static void print_json(const struct pair *pairs, size_t np,
		       const struct model *ma, const char *only_a,
		       const struct model *mb, const char *only_b)
{
	fputs("{\"pairs\": [", stdout);
	for (size_t i = 0; i < np; i++) {
		json_t *j = pair_json(&pairs[i]);

		fputs(i ? ",\n  " : "\n  ", stdout);
		json_print(j);
		json_decref(j);
	}
	fputs(np ? "\n]" : "]", stdout);
	print_names_json("only_a", ma, only_a);
	print_names_json("only_b", mb, only_b);
	fputs("}\n", stdout);
}

/* A metric in a fixed-width text column; "-" when not a number. */
static void put_num(const char *fmt, int width, double v)
{
	if (isnan(v))
		printf("%*s", width, "-");
	else if (isinf(v))
		printf("%*s", width, v > 0 ? "inf" : "-inf");
	else
		printf(fmt, width, v);
}

static void print_only(const char *what, const char *path,
		       const struct model *m, const char *keep, size_t n)
{
	char name[1024], safe[1024];

	if (!n)
		return;
	printf("\nonly in %s '%s' (%zu):\n", what,
	       text_sanitize(path, safe, sizeof(safe)), n);
	for (size_t i = 0; i < m->ntensors; i++)
		if (keep[i])
			printf("  %s\n", text_sanitize(m->tensors[i].name, name,
						       sizeof(name)));
}

static void print_text(const struct pair *pairs, size_t np,
		       const struct model *ma, const char *only_a, size_t na,
		       const struct model *mb, const char *only_b, size_t nb)
{
	char name[1024], other[1024], s1[96], s2[96];
	double sse = 0, sxx = 0;
	size_t ncompared = 0;

	printf("%9s %8s %9s %10s  %-7s %s\n", "REL_ERR", "SQNR_DB", "COSINE",
	       "MAX_ERR", "CHANGED", "NAME");
	for (size_t i = 0; i < np; i++) {
		const struct pair *p = &pairs[i];
		double nan = NAN;

		put_num("%*.4g", 9, p->compared ? p->met.rel_err : nan);
		putchar(' ');
		put_num("%*.2f", 8, p->compared ? p->met.sqnr_db : nan);
		putchar(' ');
		put_num("%*.6f", 9, p->compared ? p->met.cosine : nan);
		putchar(' ');
		put_num("%*.4g", 10, p->compared ? p->met.max_abs_err : nan);
		printf("  %-7s %s", p->changed ? p->changed : "",
		       text_sanitize(p->a->name, name, sizeof(name)));
		if (strcmp(p->a->name, p->b->name) != 0)
			printf(" -> %s", text_sanitize(p->b->name, other,
						       sizeof(other)));
		if (p->changed && strcmp(p->changed, "shape") == 0)
			printf("  %s -> %s",
			       tensor_shape_str(p->a, s1, sizeof(s1)),
			       tensor_shape_str(p->b, s2, sizeof(s2)));
		else if (p->changed && strcmp(p->changed, "dtype") == 0)
			printf("  %s -> %s", dtype_get(p->a->dtype)->name,
			       dtype_get(p->b->dtype)->name);
		else if (p->why)
			printf("  (%s)", p->why);
		if (p->permuted)
			printf("  (q/k rows put back in head order)");
		if (p->undecodable)
			printf("  (values not decodable)");
		putchar('\n');
		if (p->compared) {
			ncompared++;
			sse += p->acc.sse;
			sxx += p->acc.sxx;
		}
	}
	printf("\n%zu pairs, %zu compared", np, ncompared);
	if (sxx > 0) {
		double rel = sqrt(sse / sxx);

		printf(": relative error %.4g", rel);
		if (rel > 0)
			printf(" (SQNR %.2f dB)", -20 * log10(rel));
		else
			printf(" (equal)");
	}
	printf("; %zu only in A, %zu only in B\n", na, nb);
	print_only("A", ma->path, ma, only_a, na);
	print_only("B", mb->path, mb, only_b, nb);
}

/* One line on stderr for a pair left without figures. */
static void note_undecodable(const struct model *ma, const struct model *mb,
			     const struct pair *p)
{
	int in_a = !dtype_get(p->a->dtype)->decode;
	const struct tensor *t = in_a ? p->a : p->b;
	char name[1024];

	fprintf(stderr, "qscope: '%s': tensor '%s': values of dtype %s cannot be decoded; pair not compared\n",
		(in_a ? ma : mb)->path,
		text_sanitize(t->name, name, sizeof(name)),
		dtype_get(t->dtype)->name);
}

/* --sort err: largest relative error first, pairs without one last. */
static int err_cmp(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	double ea = a->compared ? a->met.rel_err : NAN;
	double eb = b->compared ? b->met.rel_err : NAN;
	int na = isnan(ea), nb = isnan(eb);

	if (na != nb)
		return na - nb;
	if (!na && ea != eb)
		return ea > eb ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

int cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "threads", required_argument, NULL, 't' },
		{ "sort", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: qscope diff [--json] [--threads N] [--sort file|err] A B [NAME...]\n";
	struct compute_ctl ctl = { 0, NULL, NULL, NULL };
	struct model ma, mb;
	struct pair *pairs;
	unsigned *fa, *fb;
	char *done_b, *only_a, *only_b, *used;
	size_t np, nkept = 0, na = 0, nb = 0;
	int json = 0, by_err = 0, c, npats, rc = 0;
	char **pats;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+jt:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 't': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || end == optarg || v < 1 || v > 64)
				usage_error("diff: --threads must be 1 to 64, not '%s'",
					    optarg);
			ctl.threads = (unsigned)v;
			break;
		}
		case 's':
			if (strcmp(optarg, "err") == 0)
				by_err = 1;
			else if (strcmp(optarg, "file") == 0)
				by_err = 0;
			else
				usage_error("diff: --sort must be file or err, not '%s'",
					    optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return finish_stdout();
		default:
			usage_error("diff: unknown option '%s'",
				    argv[optind - 1]);
		}
	}
	if (argc - optind < 2)
		usage_error("%s", "diff needs two paths, A and B");
	if (open_or_report(&ma, argv[optind]))
		return EXIT_BAD;
	if (open_or_report(&mb, argv[optind + 1])) {
		model_release(&ma);
		return EXIT_BAD;
	}
	pats = argv + optind + 2;
	npats = argc - optind - 2;
	used = xcalloc((size_t)npats + 1, 1);
	pairs = xcalloc(ma.ntensors + 1, sizeof(*pairs));
	fa = xcalloc(ma.ntensors + 1, sizeof(*fa));
	fb = xcalloc(ma.ntensors + 1, sizeof(*fb));
	done_b = xcalloc(mb.ntensors + 1, 1);
	only_a = xcalloc(ma.ntensors + 1, 1);
	only_b = xcalloc(mb.ntensors + 1, 1);

	np = pair_up(&ma, &mb, pairs, fa, fb, done_b);
	for (size_t i = 0; i < ma.ntensors; i++)
		only_a[i] = 1;
	for (size_t i = 0; i < np; i++) {
		struct pair *p = &pairs[i];
		int a_hit, b_hit;

		only_a[p->a - ma.tensors] = 0;
		a_hit = name_matches(p->a->name, pats, npats, used);
		b_hit = name_matches(p->b->name, pats, npats, used);
		if (!a_hit && !b_hit)
			continue;
		pairs[nkept] = *p;
		pairs[nkept].order = nkept;
		fa[nkept] = fa[i];
		fb[nkept] = fb[i];
		nkept++;
	}
	for (size_t i = 0; i < ma.ntensors; i++) {
		if (only_a[i] && !name_matches(ma.tensors[i].name, pats, npats,
					       used))
			only_a[i] = 0;
		na += only_a[i];
	}
	for (size_t j = 0; j < mb.ntensors; j++) {
		only_b[j] = !done_b[j] &&
			    name_matches(mb.tensors[j].name, pats, npats, used);
		nb += only_b[j];
	}
	for (int i = 0; i < npats && !rc; i++)
		if (!used[i]) {
			char safe[256];

			fprintf(stderr, "qscope: no tensor of '%s' or '%s' matches '%s'\n",
				ma.path, mb.path,
				text_sanitize(pats[i], safe, sizeof(safe)));
			rc = EXIT_BAD;
		}

	for (size_t i = 0; i < nkept && !rc; i++) {
		if (compare_pair(&ma, &mb, &pairs[i], fa[i], fb[i], &ctl))
			rc = EXIT_BAD;
		else if (pairs[i].undecodable)
			note_undecodable(&ma, &mb, &pairs[i]);
	}
	if (!rc) {
		if (by_err)
			qsort(pairs, nkept, sizeof(*pairs), err_cmp);
		if (json)
			print_json(pairs, nkept, &ma, only_a, &mb, only_b);
		else
			print_text(pairs, nkept, &ma, only_a, na, &mb, only_b,
				   nb);
		rc = finish_stdout();
	}
	free(only_b);
	free(only_a);
	free(done_b);
	free(fb);
	free(fa);
	free(pairs);
	free(used);
	model_release(&mb);
	model_release(&ma);
	return rc;
}
