/*
 * tui/cmd_check.c - qscope check [--json] [--cast CAST] PATH
 *
 * The dtype doctor for a person or a CI job: every finding of
 * doctor_report_build() (views/doctor.h) one per line,
 *
 *	severity  kind  tensor  detail
 *
 * ("-" for the tensor of a model-wide finding), then a summary line; or
 * with --json {"findings": [{"tensor", "kind", "severity", "detail",
 * "counts": {...}}], "errors": N, "warnings": N, "checked": N}.  Exit
 * status 1 when any finding is an error (a cast that breaks, mislabelled
 * bytes), 0 otherwise, 2 on bad usage or unreadable input.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/cmds.h"
#include "tui/progress.h"
#include "views/doctor.h"

static const char check_usage[] =
	"usage: qscope check [--json] [--cast f16|bf16|fp8-e4m3|fp8-e5m2] PATH\n";

static void check_json(const struct doctor_report *r)
{
	json_t *root = json_object(), *list = json_array();

	if (!root || !list) {
		fprintf(stderr, "qscope: out of memory\n");
		exit(EXIT_BAD);
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct doctor_finding *f = &r->f[i];
		json_t *o = json_object();

		json_object_set_new(o, "tensor", f->tensor ?
				    json_string(f->tensor->name) : json_null());
		json_object_set_new(o, "kind", json_string(f->kind));
		json_object_set_new(o, "severity",
				    json_string(doctor_severity_name(f->severity)));
		json_object_set_new(o, "detail", json_string(f->detail));
		json_object_set(o, "counts", f->counts);
		json_array_append_new(list, o);
	}
	json_object_set_new(root, "findings", list);
	json_object_set_new(root, "errors", json_integer((json_int_t)r->errors));
	json_object_set_new(root, "warnings",
			    json_integer((json_int_t)r->warnings));
	json_object_set_new(root, "checked", json_integer((json_int_t)r->checked));
	json_print(root);
	putchar('\n');
	json_decref(root);
}

static void check_text(const struct doctor_report *r)
{
	char name[1024];

	for (size_t i = 0; i < r->n; i++) {
		const struct doctor_finding *f = &r->f[i];

		printf("%-7s  %-9s  %s  %s\n",
		       doctor_severity_name(f->severity), f->kind,
		       f->tensor ? text_sanitize(f->tensor->name, name,
						 sizeof(name)) : "-",
		       f->detail);
	}
	printf("%zu error%s, %zu warning%s, %zu tensor%s checked\n",
	       r->errors, r->errors == 1 ? "" : "s", r->warnings,
	       r->warnings == 1 ? "" : "s", r->checked,
	       r->checked == 1 ? "" : "s");
}

/* Tensors 0 .. done-1 are examined: their bytes are done. */
struct check_progress {
	struct progress p;
	const struct model *m;
	size_t upto;
	uint64_t done;
};

static int on_progress(void *arg, size_t done, size_t total)
{
	struct check_progress *c = arg;

	(void)total;
	while (c->upto < done && c->upto < c->m->ntensors)
		c->done += c->m->tensors[c->upto++].nbytes;
	progress_set(&c->p, c->done);
	return 0;
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "cast", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct doctor_report r;
	struct check_progress prog;
	struct model m;
	struct err e = { "" };
	int json = 0, cast = -1, c, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "jc:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'c':
			cast = doctor_cast_from_name(optarg);
			if (cast < 0)
				usage_error("check: --cast wants f16, bf16, "
					    "fp8-e4m3 or fp8-e5m2, not '%s'",
					    optarg);
			break;
		case 'h':
			fputs(check_usage, stdout);
			return finish_stdout();
		default:
			usage_error("%s", "check: bad option");
		}
	}
	if (optind >= argc)
		usage_error("%s", "check needs a PATH");
	if (optind + 1 < argc)
		usage_error("check takes one PATH, not also '%s'",
			    argv[optind + 1]);
	if (open_or_report(&m, argv[optind]))
		return EXIT_BAD;
	progress_init(&prog.p, "check", m.nbytes);
	prog.m = &m;
	prog.upto = 0;
	prog.done = 0;
	rc = doctor_report_build(&m, cast, on_progress, &prog, &r, &e);
	progress_clear(&prog.p);
	if (rc < 0) {
		fprintf(stderr, "qscope: %s\n", e.msg);
		model_release(&m);
		return EXIT_BAD;
	}
	if (json)
		check_json(&r);
	else
		check_text(&r);
	rc = finish_stdout();
	if (!rc && r.errors)
		rc = EXIT_PROBLEMS;
	doctor_report_release(&r);
	model_release(&m);
	return rc;
}
