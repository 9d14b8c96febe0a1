/*
 * tui/cmd_stats.c - qscope stats [--json] [--bins N] PATH [NAME...]
 *
 * Statistics and a histogram of every tensor's values (or of the tensors
 * whose names match one of the NAMEs, fnmatch globs), through
 * compute_stats() on all CPUs.  Everything is computed before anything is
 * printed, so a failure never leaves half a JSON document.  A tensor whose
 * dtype qscope cannot decode is listed as skipped, with the reason.
 */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/compute.h"
#include "tui/cmds.h"

#define DEFAULT_BINS 64
#define MAX_BINS 65536

static const char stats_usage[] =
	"usage: qscope stats [--json] [--bins N] PATH [NAME...]\n";

struct one {
	const struct tensor *t;
	int skipped;
	struct vstats vs;
	struct histogram h;
};

/* ---- JSON ---- */

/* A double as JSON: enough digits to read back the same double, C locale
 * (main() leaves LC_NUMERIC alone); null for NaN or infinity. */
static void put_num(double x)
{
	if (isfinite(x))
		printf("%.17g", x);
	else
		fputs("null", stdout);
}

static void put_tensor_json(const struct one *o)
{
	json_t *name = json_string(o->t->name);
	const struct vstats *s = &o->vs;
	int none = s->count == s->nan + s->inf;

	fputs("{\"name\": ", stdout);
	if (!name) {
		fprintf(stderr, "qscope: out of memory\n");
		exit(EXIT_BAD);
	}
	json_print(name);
	json_decref(name);
	if (o->skipped) {
		json_t *why = json_sprintf("values of dtype %s cannot be decoded",
					   dtype_get(o->t->dtype)->name);

		fputs(", \"skipped\": ", stdout);
		json_print(why);
		json_decref(why);
		fputc('}', stdout);
		return;
	}
	printf(", \"count\": %llu, \"min\": ", (unsigned long long)s->count);
	put_num(none ? NAN : s->min);
	fputs(", \"max\": ", stdout);
	put_num(none ? NAN : s->max);
	fputs(", \"mean\": ", stdout);
	put_num(vstats_mean(s));
	fputs(", \"std\": ", stdout);
	put_num(vstats_std(s));
	fputs(", \"absmax\": ", stdout);
	put_num(s->absmax);
	printf(", \"zeros\": %llu, \"nan\": %llu, \"inf\": %llu",
	       (unsigned long long)s->zeros, (unsigned long long)s->nan,
	       (unsigned long long)s->inf);
	fputs(", \"histogram\": {\"lo\": ", stdout);
	put_num(none ? NAN : o->h.lo);
	fputs(", \"hi\": ", stdout);
	put_num(none ? NAN : o->h.hi);
	fputs(", \"counts\": [", stdout);
	for (unsigned i = 0; i < o->h.nbins; i++)
		printf("%s%llu", i ? ", " : "",
		       (unsigned long long)o->h.counts[i]);
	fputs("]}}", stdout);
}

static void stats_json(const struct one *all, size_t n)
{
	fputs("{\"tensors\": [", stdout);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ",\n  " : "\n  ", stdout);
		put_tensor_json(&all[i]);
	}
	printf("%s]}\n", n ? "\n" : "");
}

/* ---- the table ---- */

enum { C_NAME, C_DTYPE, C_COUNT, C_MIN, C_MAX, C_MEAN, C_STD, C_ABSMAX,
       C_ZEROS, C_NAN, C_INF, NCOLS };

static const char *const heads[NCOLS] = {
	"NAME", "DTYPE", "COUNT", "MIN", "MAX", "MEAN", "STD", "ABSMAX",
	"ZEROS", "NAN", "INF",
};

#define CELL 40

static void fmt_num(char *out, double x)
{
	if (isfinite(x))
		snprintf(out, CELL, "%.6g", x);
	else
		snprintf(out, CELL, "-");
}

/* Cells of one row (the name column is filled by the caller). */
static void row_cells(const struct one *o, char cell[NCOLS][CELL])
{
	const struct vstats *s = &o->vs;
	int none = s->count == s->nan + s->inf;

	snprintf(cell[C_DTYPE], CELL, "%s", dtype_get(o->t->dtype)->name);
	snprintf(cell[C_COUNT], CELL, "%llu", (unsigned long long)o->t->params);
	if (o->skipped) {
		for (int c = C_MIN; c < NCOLS; c++)
			cell[c][0] = '\0';
		return;
	}
	fmt_num(cell[C_MIN], none ? NAN : s->min);
	fmt_num(cell[C_MAX], none ? NAN : s->max);
	fmt_num(cell[C_MEAN], vstats_mean(s));
	fmt_num(cell[C_STD], vstats_std(s));
	fmt_num(cell[C_ABSMAX], none ? NAN : s->absmax);
	snprintf(cell[C_ZEROS], CELL, "%llu", (unsigned long long)s->zeros);
	snprintf(cell[C_NAN], CELL, "%llu", (unsigned long long)s->nan);
	snprintf(cell[C_INF], CELL, "%llu", (unsigned long long)s->inf);
}

static void stats_text(const struct model *m, const struct one *all, size_t n)
{
	char name[1024], cell[NCOLS][CELL];
	int w[NCOLS];

	for (int c = 0; c < NCOLS; c++)
		w[c] = (int)strlen(heads[c]);
	for (size_t i = 0; i < n; i++) {
		int nw = text_width(text_sanitize(all[i].t->name, name,
						  sizeof(name)));

		w[C_NAME] = nw > w[C_NAME] ? nw : w[C_NAME];
		row_cells(&all[i], cell);
		for (int c = C_DTYPE; c < NCOLS; c++) {
			int cw = (int)strlen(cell[c]);

			w[c] = cw > w[c] ? cw : w[c];
		}
	}

	printf("%s  (%s, %zu tensor%s)\n\n",
	       text_sanitize(m->path, name, sizeof(name)), m->format, n,
	       n == 1 ? "" : "s");
	printf("%-*s  %-*s", w[C_NAME], heads[C_NAME], w[C_DTYPE],
	       heads[C_DTYPE]);
	for (int c = C_COUNT; c < NCOLS; c++)
		printf("  %*s", w[c], heads[c]);
	putchar('\n');
	for (size_t i = 0; i < n; i++) {
		const struct one *o = &all[i];

		text_sanitize(o->t->name, name, sizeof(name));
		row_cells(o, cell);
		printf("%s%*s  %-*s  %*s", name, w[C_NAME] - text_width(name),
		       "", w[C_DTYPE], cell[C_DTYPE], w[C_COUNT],
		       cell[C_COUNT]);
		if (o->skipped) {
			printf("  (values of dtype %s cannot be decoded)\n",
			       cell[C_DTYPE]);
			continue;
		}
		for (int c = C_MIN; c < NCOLS; c++)
			printf("  %*s", w[c], cell[c]);
		putchar('\n');
	}
}

/* ---- the command ---- */

static unsigned parse_bins(const char *s)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		usage_error("stats: --bins wants a number from 1 to 65536, not '%s'", s);
	v = strtoul(s, &end, 10);
	if (*end || v < 1 || v > MAX_BINS)
		usage_error("stats: --bins wants a number from 1 to 65536, not '%s'", s);
	return (unsigned)v;
}

/* Statistics of every selected tensor into all[] (histograms only if
 * keep_hist); 0, or -1 after the message. */
static int compute_all(const struct model *m, struct one *all, size_t n,
		       unsigned nbins, int keep_hist)
{
	for (size_t i = 0; i < n; i++) {
		struct one *o = &all[i];
		struct err e = { "" };
		int rc;

		if (!dtype_get(o->t->dtype)->decode) {
			o->skipped = 1;
			continue;
		}
		/* The reads map the tensor a window of a few MB at a time
		 * ahead of them and drop the windows behind them
		 * (formats/pages.h): one call per window instead of a page
		 * fault per 4 KiB, and the resident set stays at a few
		 * windows whatever the tensor's size. */
		rc = tensor_stats(m, o->t, nbins, NULL, &o->vs, &o->h, &e);
		if (!rc && !keep_hist)	/* the table shows no bins */
			hist_release(&o->h);
		if (rc) {
			fprintf(stderr, "qscope: '%s': %s\n", m->path, e.msg);
			return -1;
		}
	}
	return 0;
}

int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "bins", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct model m;
	struct one *all;
	char **pat;
	unsigned nbins = DEFAULT_BINS;
	size_t n = 0;
	int json = 0, npat, c, rc = 0;

	/* 0: start afresh (main() scanned with '+'), so that options may
	 * also follow PATH; "--" ends them. */
	optind = 0;
	while ((c = getopt_long(argc, argv, "jb:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'b':
			nbins = parse_bins(optarg);
			break;
		case 'h':
			fputs(stats_usage, stdout);
			return finish_stdout();
		default:
			usage_error("%s", "stats: bad option");
		}
	}
	if (optind >= argc)
		usage_error("%s", "stats needs a PATH");
	pat = argv + optind + 1;
	npat = argc - optind - 1;
	if (open_or_report(&m, argv[optind]))
		return EXIT_BAD;

	for (int i = 0; i < npat; i++) {
		size_t k;

		for (k = 0; k < m.ntensors; k++)
			if (name_matches(m.tensors[k].name, pat + i, 1, NULL))
				break;
		if (k == m.ntensors) {
			char safe[1024];

			fprintf(stderr, "qscope: '%s': no tensor matches '%s'\n",
				m.path, text_sanitize(pat[i], safe, sizeof(safe)));
			model_release(&m);
			return EXIT_BAD;
		}
	}
	all = xcalloc(m.ntensors ? m.ntensors : 1, sizeof(*all));
	for (size_t k = 0; k < m.ntensors; k++)
		if (name_matches(m.tensors[k].name, pat, npat, NULL))
			all[n++].t = &m.tensors[k];

	if (compute_all(&m, all, n, nbins, json)) {
		rc = EXIT_BAD;
	} else {
		if (json)
			stats_json(all, n);
		else
			stats_text(&m, all, n);
		rc = finish_stdout();
	}
	for (size_t i = 0; i < n; i++)
		hist_release(&all[i].h);
	free(all);
	model_release(&m);
	return rc;
}
