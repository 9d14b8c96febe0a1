/*
 * tui/cmd_try.c - qscope schemes [--json]
 *                 qscope try [--json] [--threads N] [--sample N] PATH SCHEME
 *                            [NAME...]
 *
 * `schemes` lists the table of quant/schemes.c with the bits per weight of
 * a 4096 x 4096 tensor.  `try` quantizes, dequantizes and compares every
 * tensor (or those whose names match the NAME globs, fnmatch(3)), streamed
 * a chunk at a time on every core, and prints the error and the size.
 *
 * JSON of try: {"scheme": str, "tensors": [{"name", "rmse", "rel_err",
 * "sqnr_db", "cosine", "max_abs_err", "bits_per_weight", "bytes"}],
 * "total": {"bytes_before", "bytes_after", "rel_err"}}.  Decisions:
 *  - a number that is not finite is null: sqnr_db of an exact
 *    reconstruction (no error at all) is null, and the entry then also has
 *    "exact": true; rel_err and sqnr_db of an all-zero tensor are null;
 *  - a tensor the scheme does not apply to is {"name", "skipped": reason,
 *    "bytes": its stored bytes}, and keeps those bytes in both totals;
 *  - total rel_err = sqrt(sum of squared errors / sum of x^2) over the
 *    tensors tried; null when none was;
 *  - metrics cover the finite values of a tensor (NaN and infinity in the
 *    original are left out, quant/stats.h);
 *  - "bytes" counts codes, scales, zero points and per-tensor constants
 *    (quant/schemes.h).
 * A NAME that matches no tensor is an error (exit 2), as a typo would
 * otherwise look like a model with nothing to try.
 *
 * --sample N: each tensor larger than N values is measured on about N of
 * them (whole rows, evenly spaced: scheme_error_sampled()), for a quick
 * estimate of a large model.  The text gains a SAMPLE column (the share of
 * the tensor measured); JSON rows measured on a sample get
 * "sampled": <share>, and the total "sampled": true when any was.
 */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/schemes.h"
#include "tui/cmds.h"
#include "tui/progress.h"
#include "views/units.h"

/* ---- qscope schemes ---- */

int cmd_schemes(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct scheme_shape sh = { 2, { 4096, 4096 } };
	int json = 0, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs("usage: qscope schemes [--json]\n", stdout);
			return finish_stdout();
		default:
			usage_error("%s", "schemes: bad option");
		}
	}
	if (optind != argc)
		usage_error("%s", "schemes takes no argument");

	if (json) {
		fputs("{\"shape\": [4096, 4096], \"schemes\": [", stdout);
		for (size_t i = 0; i < nschemes; i++) {
			const struct scheme *s = &schemes[i];
			json_t *j = json_pack("{s:s, s:f, s:I, s:s}",
					      "name", s->name,
					      "bits_per_weight",
					      scheme_bits(s, &sh),
					      "bytes",
					      (json_int_t)scheme_bytes(s, &sh),
					      "description", s->desc);

			fputs(i ? ",\n  " : "\n  ", stdout);
			json_print(j);
			json_decref(j);
		}
		fputs("\n]}\n", stdout);
		return finish_stdout();
	}
	printf("%-15s  %8s  %s\n", "SCHEME", "BITS/W", "DESCRIPTION");
	for (size_t i = 0; i < nschemes; i++)
		printf("%-15s  %8.4f  %s\n", schemes[i].name,
		       scheme_bits(&schemes[i], &sh), schemes[i].desc);
	printf("\nbits per weight of a 4096 x 4096 tensor, scales and zero "
	       "points included\n");
	return finish_stdout();
}

/* ---- qscope try ---- */

/* One line of the report. */
struct row {
	const struct tensor *t;
	const char *skipped;	/* reason (in why), or NULL when tried */
	char why[96];
	struct err_acc acc;
	struct err_metrics met;
	uint64_t bytes;		/* after (stored bytes when skipped) */
	double bits;
	double share;		/* of the values measured: 1 unless sampled */
};

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *row_json(const struct row *r)
{
	json_t *j = json_object();

	json_object_set_new(j, "name", json_string(r->t->name));
	if (r->skipped) {
		json_object_set_new(j, "skipped", json_string(r->skipped));
		json_object_set_new(j, "bytes",
				    json_integer((json_int_t)r->bytes));
		return j;
	}
	json_object_set_new(j, "rmse", num(r->met.rmse));
	json_object_set_new(j, "rel_err", num(r->met.rel_err));
	json_object_set_new(j, "sqnr_db", num(r->met.sqnr_db));
	json_object_set_new(j, "cosine", num(r->met.cosine));
	json_object_set_new(j, "max_abs_err", num(r->met.max_abs_err));
	json_object_set_new(j, "bits_per_weight", num(r->bits));
	json_object_set_new(j, "bytes", json_integer((json_int_t)r->bytes));
	if (r->acc.sse == 0 && r->acc.to_inf == 0)
		json_object_set_new(j, "exact", json_true());
	if (r->share < 1)
		json_object_set_new(j, "sampled", json_real(r->share));
	return j;
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

static void print_text(const char *scheme, const struct row *rows, size_t n,
		       uint64_t before, uint64_t after, double rel, int sample)
{
	char name[1024], b1[32], b2[32];

	printf("%10s %9s %8s %9s %10s %7s %6s %12s  %s%s\n", "RMSE", "REL_ERR",
	       "SQNR_DB", "COSINE", "MAX_ERR", "CLIP%", "BITS", "BYTES",
	       sample ? " SAMPLE  " : "", "NAME");
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];

		text_sanitize(r->t->name, name, sizeof(name));
		if (r->skipped) {
			printf("%-57s %12llu  %s\n", r->skipped,
			       (unsigned long long)r->bytes, name);
			continue;
		}
		put_num("%*.4g", 10, r->met.rmse);
		put_num(" %*.4g", 9, r->met.rel_err);
		put_num(" %*.2f", 8, r->met.sqnr_db);
		put_num(" %*.6f", 9, r->met.cosine);
		put_num(" %*.4g", 10, r->met.max_abs_err);
		put_num(" %*.3f", 7, 100 * r->met.clipped_share);
		put_num(" %*.3f", 6, r->bits);
		printf(" %12llu  ", (unsigned long long)r->bytes);
		if (sample && r->share < 1)
			printf("%6.2f%%  ", 100 * r->share);
		else if (sample)
			printf("%7s  ", "all");
		printf("%s\n", name);
	}
	units_bytes(before, b1, sizeof(b1));
	units_bytes(after, b2, sizeof(b2));
	printf("\n%s: %s -> %s", scheme, b1, b2);
	if (before)
		printf(" (%.1f%%)", 100.0 * (double)after / (double)before);
	for (size_t i = 0; i < n && sample; i++)
		if (rows[i].share < 1) {
			sample = 2;	/* an estimate: say so */
			break;
		}
	if (isfinite(rel))
		printf(", relative error %s%.4g (SQNR %.2f dB)",
		       sample == 2 ? "~" : "", rel,
		       rel > 0 ? -20 * log10(rel) : INFINITY);
	if (sample == 2)
		fputs(", estimated on samples", stdout);
	putchar('\n');
}

static void print_json(const char *scheme, const struct row *rows, size_t n,
		       uint64_t before, uint64_t after, double rel)
{
	int sampled = 0;

	json_t *j = json_string(scheme), *total;

	fputs("{\"scheme\": ", stdout);
	json_print(j);
	json_decref(j);
	fputs(", \"tensors\": [", stdout);
	for (size_t i = 0; i < n; i++) {
		sampled |= rows[i].share < 1;
		j = row_json(&rows[i]);
		fputs(i ? ",\n  " : "\n  ", stdout);
		json_print(j);
		json_decref(j);
	}
	total = json_pack("{s:I, s:I, s:o}",
			  "bytes_before", (json_int_t)before,
			  "bytes_after", (json_int_t)after,
			  "rel_err", num(rel));
	if (sampled)
		json_object_set_new(total, "sampled", json_true());
	printf("%s], \"total\": ", n ? "\n" : "");
	json_print(total);
	json_decref(total);
	fputs("}\n", stdout);
}

int cmd_try(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "threads", required_argument, NULL, 't' },
		{ "sample", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: qscope try [--json] [--threads N] [--sample N] PATH SCHEME [NAME...]\n";
	uint64_t sample = 0, total = 0;
	struct progress prog;
	char label[64];
	struct compute_ctl run = { 0, NULL, NULL, NULL };
	const struct scheme *s;
	struct model m;
	struct row *rows;
	size_t nrows = 0;
	uint64_t before = 0, after = 0;
	double sse = 0, sxx = 0, rel;
	char *used;
	int json = 0, c, npats, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+jt:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 's': {
			char *end;
			unsigned long long v = strtoull(optarg, &end, 10);

			if (*end == 'k' || *end == 'K')
				v *= 1000, end++;
			else if (*end == 'M')
				v *= 1000000, end++;
			if (*end || end == optarg || *optarg == '-' || v < 1 ||
			    v > 1000000000000ull)
				usage_error("try: --sample wants a number of values (like 262144 or 256k), not '%s'",
					    optarg);
			sample = v;
			break;
		}
		case 't': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || end == optarg || v < 1 || v > 64)
				usage_error("try: --threads must be 1 to 64, not '%s'",
					    optarg);
			run.threads = (unsigned)v;
			break;
		}
		case 'h':
			fputs(usage, stdout);
			return finish_stdout();
		default:
			usage_error("%s", "try: bad option");
		}
	}
	if (argc - optind < 2)
		usage_error("%s", "try needs a PATH and a SCHEME");
	s = scheme_find(argv[optind + 1]);
	if (!s) {
		char safe[256];

		fprintf(stderr, "qscope: unknown scheme '%s' (see 'qscope schemes')\n",
			text_sanitize(argv[optind + 1], safe, sizeof(safe)));
		return EXIT_BAD;
	}
	if (open_or_report(&m, argv[optind]))
		return EXIT_BAD;
	npats = argc - optind - 2;
	used = xcalloc((size_t)npats + 1, 1);
	rows = xcalloc(m.ntensors + 1, sizeof(*rows));
	for (size_t i = 0; i < m.ntensors; i++)
		if (name_matches(m.tensors[i].name, argv + optind + 2, npats,
				 used))
			total += m.tensors[i].nbytes;
	snprintf(label, sizeof(label), "try %s", s->name);
	progress_init(&prog, label, total);
	run.progress = progress_fraction;
	run.arg = &prog;

	for (size_t i = 0; i < m.ntensors && !rc; i++) {
		const struct tensor *t = &m.tensors[i];
		struct row *r;
		struct scheme_shape sh;
		struct tensor_reader rd;
		uint64_t measured;

		if (!name_matches(t->name, argv + optind + 2, npats, used))
			continue;
		r = &rows[nrows++];
		r->t = t;
		progress_piece(&prog, t->nbytes);
		tensor_scheme_shape(t, &sh);
		before += t->nbytes;
		r->skipped = t->ndim > SCHEME_MAX_DIMS ? "too many dimensions" :
			     scheme_applies_to(s, t->dtype, &sh);
		if (r->skipped) {
			/* the next call may reuse the reason's buffer */
			snprintf(r->why, sizeof(r->why), "%s", r->skipped);
			r->skipped = r->why;
			r->bytes = t->nbytes;
			after += t->nbytes;
			continue;
		}
		tensor_reader_init(&rd, &m, t);
		measured = t->params;
		switch (sample ? scheme_error_sampled(s, &sh, tensor_reader_read,
						      &rd, &run, sample,
						      &r->acc, &measured) :
			scheme_error(s, &sh, tensor_reader_read, &rd, &run,
				     &r->acc)) {
		case 0:
			break;
		default:
			progress_clear(&prog);
			if (rd.failed)
				fprintf(stderr, "qscope: '%s': %s\n", m.path,
					rd.e.msg);
			else
				fprintf(stderr, "qscope: '%s': tensor '%s': out of memory or threads\n",
					m.path, t->name);
			rc = EXIT_BAD;
			break;
		}
		tensor_reader_release(&rd);
		err_acc_finish(&r->acc, &r->met);
		r->share = t->params ? (double)measured / (double)t->params : 1;
		r->bytes = scheme_bytes(s, &sh);
		r->bits = scheme_bits(s, &sh);
		after += r->bytes;
		sse += r->acc.sse;
		sxx += r->acc.sxx;
	}
	progress_clear(&prog);
	for (int i = 0; i < npats && !rc; i++)
		if (!used[i]) {
			char safe[256];

			fprintf(stderr, "qscope: '%s': no tensor matches '%s'\n",
				m.path, text_sanitize(argv[optind + 2 + i], safe,
						      sizeof(safe)));
			rc = EXIT_BAD;
		}
	if (!rc) {
		rel = sxx > 0 ? sqrt(sse / sxx) : NAN;
		if (json)
			print_json(s->name, rows, nrows, before, after, rel);
		else
			print_text(s->name, rows, nrows, before, after, rel,
				   sample != 0);
		rc = finish_stdout();
	}
	free(rows);
	free(used);
	model_release(&m);
	return rc;
}
