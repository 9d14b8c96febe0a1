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
 * core (formats/pairs.h, which the diff screen shares): relative error
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
 *    no head count known), with no metrics; "transposed" when both are
 *    2-D, not square, and each the other's transpose (GPT-2's Conv1D
 *    weights, [in, out], against the converter's [out, in]): compared
 *    with B read transposed, with metrics, whatever the dtypes;
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

#include "formats/pairs.h"
#include "quant/compute.h"
#include "tui/cmds.h"
#include "tui/progress.h"

/* A pair as this command prints it. */
struct row {
	struct pair p;
	int compared;		/* metrics are valid */
	struct err_acc acc;
	struct err_metrics met;
	size_t order;		/* index among the rows kept, for a stable sort */
};

/* 0, or -1 after a message (a read failed, or memory or threads ran out). */
static int compare_row(const struct model *ma, const struct model *mb,
		       struct row *r, const struct compute_ctl *ctl,
		       struct progress *prog)
{
	struct err e = { "" };

	if (!pair_comparable(&r->p))
		return 0;
	if (pair_compare(ma, mb, &r->p, ctl, &r->acc, &e)) {
		progress_clear(prog);
		fprintf(stderr, "qscope: %s\n", e.msg);
		return -1;
	}
	err_acc_finish(&r->acc, &r->met);
	r->compared = 1;
	return 0;
}

/* ---- output ---- */

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *row_json(const struct row *r)
{
	const char *changed = pair_change_name(r->p.change);
	json_t *j = json_object();
	int c = r->compared;

	json_object_set_new(j, "a", json_string(r->p.a->name));
	json_object_set_new(j, "b", json_string(r->p.b->name));
	json_object_set_new(j, "rel_err", c ? num(r->met.rel_err) :
				json_null());
	json_object_set_new(j, "sqnr_db", c ? num(r->met.sqnr_db) :
				json_null());
	json_object_set_new(j, "cosine", c ? num(r->met.cosine) : json_null());
	json_object_set_new(j, "max_abs_err", c ? num(r->met.max_abs_err) :
				json_null());
	json_object_set_new(j, "changed", changed ? json_string(changed) :
				json_null());
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

static void print_json(const struct row *rows, size_t np,
		       const struct model *ma, const char *only_a,
		       const struct model *mb, const char *only_b)
{
	fputs("{\"pairs\": [", stdout);
	for (size_t i = 0; i < np; i++) {
		json_t *j = row_json(&rows[i]);

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

/* What changed, after the names: shapes, dtypes, notes. */
static void print_change(const struct pair *p)
{
	char s1[96], s2[96];

	if (p->change == PAIR_SHAPE || p->change == PAIR_TRANSPOSED) {
		printf("  %s -> %s", tensor_shape_str(p->a, s1, sizeof(s1)),
		       tensor_shape_str(p->b, s2, sizeof(s2)));
		if (p->change == PAIR_TRANSPOSED && p->dtype_changed)
			printf(", %s -> %s", dtype_get(p->a->dtype)->name,
			       dtype_get(p->b->dtype)->name);
	} else if (p->change == PAIR_DTYPE) {
		printf("  %s -> %s", dtype_get(p->a->dtype)->name,
		       dtype_get(p->b->dtype)->name);
	} else if (p->why) {
		printf("  (%s)", p->why);
	}
	if (p->heads && !p->undecodable)
		printf("  (q/k rows put back in head order)");
	if (p->undecodable)
		printf("  (values not decodable)");
}

static void print_text(const struct row *rows, size_t np,
		       const struct model *ma, const char *only_a, size_t na,
		       const struct model *mb, const char *only_b, size_t nb)
{
	char name[1024], other[1024];
	double sse = 0, sxx = 0;
	size_t ncompared = 0;

	printf("%9s %8s %9s %10s  %-7s %s\n", "REL_ERR", "SQNR_DB", "COSINE",
	       "MAX_ERR", "CHANGED", "NAME");
	for (size_t i = 0; i < np; i++) {
		const struct row *r = &rows[i];
		const struct pair *p = &r->p;
		const char *changed = pair_change_name(p->change);
		double nan = NAN;

		put_num("%*.4g", 9, r->compared ? r->met.rel_err : nan);
		putchar(' ');
		put_num("%*.2f", 8, r->compared ? r->met.sqnr_db : nan);
		putchar(' ');
		put_num("%*.6f", 9, r->compared ? r->met.cosine : nan);
		putchar(' ');
		put_num("%*.4g", 10, r->compared ? r->met.max_abs_err : nan);
		printf("  %-7s %s", changed ? changed : "",
		       text_sanitize(p->a->name, name, sizeof(name)));
		if (strcmp(p->a->name, p->b->name) != 0)
			printf(" -> %s", text_sanitize(p->b->name, other,
						       sizeof(other)));
		print_change(p);
		putchar('\n');
		if (r->compared) {
			ncompared++;
			sse += r->acc.sse;
			sxx += r->acc.sxx;
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
	const struct row *a = x, *b = y;
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
	struct progress prog;
	uint64_t total = 0;
	struct model ma, mb;
	struct pairing pg;
	struct row *rows;
	char *only_a, *only_b, *used;
	size_t nkept = 0, na = 0, nb = 0;
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
	pairs_match(&pg, &ma, &mb);
	rows = xcalloc(pg.n + 1, sizeof(*rows));
	only_a = pg.only_a;
	only_b = pg.only_b;

	for (size_t i = 0; i < pg.n; i++) {
		const struct pair *p = &pg.pairs[i];
		int a_hit, b_hit;

		a_hit = name_matches(p->a->name, pats, npats, used);
		b_hit = name_matches(p->b->name, pats, npats, used);
		if (!a_hit && !b_hit)
			continue;
		rows[nkept].p = *p;
		rows[nkept].order = nkept;
		nkept++;
	}
	for (size_t i = 0; i < ma.ntensors; i++) {
		if (only_a[i] && !name_matches(ma.tensors[i].name, pats, npats,
					       used))
			only_a[i] = 0;
		na += only_a[i];
	}
	for (size_t j = 0; j < mb.ntensors; j++) {
		if (only_b[j] && !name_matches(mb.tensors[j].name, pats, npats,
					       used))
			only_b[j] = 0;
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

	for (size_t i = 0; i < nkept; i++)
		total += rows[i].p.a->nbytes;
	progress_init(&prog, "diff", total);
	ctl.progress = progress_fraction;
	ctl.arg = &prog;
	for (size_t i = 0; i < nkept && !rc; i++) {
		progress_piece(&prog, rows[i].p.a->nbytes);
		if (compare_row(&ma, &mb, &rows[i], &ctl, &prog))
			rc = EXIT_BAD;
		else if (rows[i].p.undecodable) {
			progress_clear(&prog);
			note_undecodable(&ma, &mb, &rows[i].p);
		}
	}
	progress_clear(&prog);
	if (!rc) {
		if (by_err)
			qsort(rows, nkept, sizeof(*rows), err_cmp);
		if (json)
			print_json(rows, nkept, &ma, only_a, &mb, only_b);
		else
			print_text(rows, nkept, &ma, only_a, na, &mb, only_b,
				   nb);
		rc = finish_stdout();
	}
	free(rows);
	pairs_release(&pg);
	free(used);
	model_release(&mb);
	model_release(&ma);
	return rc;
}
