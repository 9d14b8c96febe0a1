/*
 * tui/cmd_quantize.c - qscope quantize PATH --plan PLAN -o OUT
 *                          [--format safetensors|gguf] [--force]
 *                      qscope quantize PATH --type TYPE
 *                          [--type-for GLOB=TYPE ...] -o OUT [--force]
 *
 * With --plan: each tensor gets the scheme of the first plan rule whose
 * glob matches its name (quant/plan.h), or is kept as stored when no rule
 * matches, the rule says keep, or the scheme does not apply to its shape
 * or dtype (stderr says so, one line per tensor; the 1-D, scalar and
 * integer tensors that a scheme never applies to are counted in one
 * line).  The output format is --format, else the name of OUT: a name
 * ending in ".safetensors" or a folder (an existing one, or a name ending
 * in '/') is safetensors (formats/safetensors_write.h), anything else
 * GGUF (formats/gguf.h, which needs a GGUF input).  A folder OUT of a
 * sharded input is sharded like it, with an index; an OUT named
 * "x.safetensors" is that one file, whatever the input (the name asks for
 * one file).  A rule whose scheme
 * the output format cannot hold is an error naming the plan line.  A
 * weight read through a quantized layout (formats/layouts.h) counts as
 * stored in its parts, not as F32: an f32 rule converts it.
 *
 * With --type: like llama.cpp's llama-quantize with --pure and per-tensor
 * overrides: the tensors llama.cpp would quantize
 * (plan_llama_quantizable()) become TYPE; each --type-for applies to those
 * of them whose name matches GLOB (fnmatch), in the order given, so a
 * later one wins.  Every other tensor is copied as it is.  A tensor whose
 * row length the type's block does not divide keeps its type, and stderr
 * says so (llama.cpp would fall back to another type instead).  GGUF only.
 *
 * Either way the output is written atomically (temporary file, fsync,
 * rename; an interrupt - SIGINT, SIGTERM, SIGHUP - removes the temporary
 * files and leaves OUT as it was; temporaries of OUT that a killed qscope
 * left are removed first, and stderr says so), then opened again and
 * checked against the input: every tensor's bytes equal what its scheme
 * gives (kept ones, and GGUF tensors already of their rule's type, which
 * are copied, equal the input's), and values qscope can read back equal
 * the scheme's dequantized values bit for bit (written_verify()).
 *
 * Output: progress on stderr while it runs, only when stderr is a
 * terminal; then a summary on stdout: tensors per type or scheme, bytes
 * before and after, time, and the check.  Exit 0, or 2 with one line on
 * stderr.
 */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "formats/outfile.h"
#include "formats/planfile.h"
#include "formats/safetensors_write.h"
#include "quant/plan.h"
#include "tui/cmds.h"
#include "tui/progress.h"
#include "views/units.h"


/* The largest plan file we read: a plan is a few lines. */

static const char quantize_usage[] =
	"usage: qscope quantize PATH --plan PLAN -o OUT [--format safetensors|gguf] [--force]\n"
	"       qscope quantize PATH --type TYPE [--type-for GLOB=TYPE ...] -o OUT [--force]\n";

/* A tensor llama.cpp's quantize would convert. */
static int quantizable(const struct tensor *t)
{
	return plan_llama_quantizable(t->name, t->ndim);
}

/* TYPE as a dtype gguf_write() can encode (case-insensitive), or exit 2
 * with one line naming the choices. */
static enum dtype parse_type(const char *s, const char *what)
{
	char list[1024];
	size_t len = 0;

	for (int d = 1; d < DT_COUNT; d++)
		if (gguf_can_encode(d) &&
		    strcasecmp(s, dtype_get(d)->name) == 0)
			return d;
	list[0] = '\0';
	for (int d = 1; d < DT_COUNT && len < sizeof(list); d++)
		if (gguf_can_encode(d))
			len += (size_t)snprintf(list + len, sizeof(list) - len,
						"%s%s", len ? " " : "",
						dtype_get(d)->name);
	fprintf(stderr, "qscope: %s '%s' is not a type quantize can write (%s)\n",
		what, s, list);
	exit(EXIT_BAD);
}

struct rule {
	char *glob;
	enum dtype type;
	int used;
};

/* ---- progress and interrupts ---- */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The writers' progress callback: the line of tui/progress.h (the
 * writers give the total with every call), and the interrupt flag. */
static int on_progress(uint64_t done, uint64_t total, void *arg)
{
	struct progress *p = arg;

	if (interrupted)
		return 1;
	p->total = total;
	if (total)	/* 0: per-tensor statistics before sizes are known */
		progress_set(p, done);
	return 0;
}

static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* Past a file size limit, write() should fail with EFBIG and the
	 * temporary file be removed, not the process be killed. */
	signal(SIGXFSZ, SIG_IGN);
}

/* ---- the summary ---- */

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void summary(const struct model *m, const enum dtype *types,
		    const char *out, double secs)
{
	struct {
		size_t n, converted;
		uint64_t bytes;
	} by[DT_COUNT];
	uint64_t before = 0, after = file_size(out);
	char name[1024], hb[32], ha[32];

	memset(by, 0, sizeof(by));
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];
		enum dtype d = types[i] != DT_NONE ? types[i] : t->dtype;
		const struct dtype_info *di = dtype_get(d);

		by[d].n++;
		by[d].converted += d != t->dtype;
		by[d].bytes += t->params / di->block * di->block_bytes;
	}
	for (size_t i = 0; i < m->nsources; i++)
		before += m->sources[i]->size;

	printf("wrote '%s': %zu tensors\n", text_sanitize(out, name, sizeof(name)),
	       m->ntensors);
	printf("  %-8s %8s %10s %14s\n", "TYPE", "TENSORS", "CONVERTED",
	       "BYTES");
	for (int d = 0; d < DT_COUNT; d++) {
		if (!by[d].n)
			continue;
		printf("  %-8s %8zu %10zu %14llu\n", dtype_get(d)->name,
		       by[d].n, by[d].converted,
		       (unsigned long long)by[d].bytes);
	}
	units_bytes(before, hb, sizeof(hb));
	units_bytes(after, ha, sizeof(ha));
	printf("bytes: %llu -> %llu (%s -> %s, %.1f%%)\n",
	       (unsigned long long)before, (unsigned long long)after, hb, ha,
	       before ? 100.0 * (double)after / (double)before : 0.0);
	printf("time: %.2f s (%.1f MB/s read)\n", secs,
	       secs > 0 ? (double)before / secs / 1e6 : 0.0);
}

/* ---- the command ---- */

/* 1 if path names the same file as the model's input path. */
static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Temporaries of OUT that a killed qscope left are removed before the
 * write (formats/outfile.h); say so. */
static void said_stale(const char *path, long pid, void *arg)
{
	char t[1024];

	(void)arg;
	fprintf(stderr, "qscope: removed a stale temporary '%s' (its writer, process %ld, is gone)\n",
		text_sanitize(path, t, sizeof(t)), pid);
}

/* Parse the plan file at path into p; 0, or -1 after a message. */
static int load_plan(struct plan *p, const char *path)
{
	char msg[1024];

	if (plan_read_file(p, path, msg, sizeof(msg)) == 0)
		return 0;
	fprintf(stderr, "qscope: %s\n", msg);
	return -1;
}

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void plan_summary(const struct model *m,
			 const struct plan_choice *ch, const char *out,
			 double secs, const struct plan_totals *tot)
{
	char name[1024], hb[32], ha[32];
	size_t count[64 + 1];
	uint64_t bytes[64 + 1];

	memset(count, 0, sizeof(count));
	memset(bytes, 0, sizeof(bytes));
	for (size_t i = 0; i < m->ntensors; i++) {
		size_t k = ch[i].scheme ? (size_t)(ch[i].scheme - schemes) :
					  nschemes;

		if (k > 64)
			k = 64;
		count[k]++;
		bytes[k] += ch[i].bytes_after;
	}
	printf("wrote '%s': %zu tensors, %zu converted, %zu kept\n",
	       text_sanitize(out, name, sizeof(name)), tot->tensors,
	       tot->converted, tot->kept);
	printf("  %-16s %8s %14s\n", "SCHEME", "TENSORS", "BYTES");
	for (size_t k = 0; k <= nschemes && k <= 64; k++)
		if (count[k])
			printf("  %-16s %8zu %14llu\n",
			       k < nschemes ? schemes[k].name : "keep",
			       count[k], (unsigned long long)bytes[k]);
	units_bytes(tot->bytes_before, hb, sizeof(hb));
	units_bytes(tot->bytes_after, ha, sizeof(ha));
	printf("bytes: %llu -> %llu (%s -> %s, %.2f -> %.2f bits per weight)\n",
	       (unsigned long long)tot->bytes_before,
	       (unsigned long long)tot->bytes_after, hb, ha,
	       plan_totals_bpw_before(tot), plan_totals_bpw_after(tot));
	printf("time: %.2f s (%.1f MB/s read)\n", secs,
	       secs > 0 ? (double)tot->bytes_before / secs / 1e6 : 0.0);
}

/* Reasons a scheme never applies that are not worth a line each. */
static int routine_keep(const char *why)
{
	return strcmp(why, "1-D tensor kept") == 0 ||
	       strcmp(why, "scalar kept") == 0 ||
	       strcmp(why, "integer tensor kept") == 0 ||
	       strcmp(why, "boolean tensor kept") == 0 ||
	       strcmp(why, "empty tensor") == 0;
}

/* Check what was written; prints the outcome, returns 0 or 2. */
static int check_written(const struct model *m,
			 const struct scheme *const *sch, const char *out,
			 int gguf)
{
	struct err e = { "" };
	uint64_t values, bytes;
	double t0 = now();
	int tty = isatty(STDERR_FILENO), rc;

	if (tty)
		fputs("qscope: checking the output against the input", stderr);
	rc = written_verify(m, sch, out, gguf, &values, &bytes, &e);
	if (tty)
		fputs("\r\033[K", stderr);
	if (rc) {
		fprintf(stderr, "qscope: check after writing failed: %s\n",
			e.msg);
		return EXIT_BAD;
	}
	printf("verified: %zu tensors re-read from the output, %llu bytes equal the schemes' quantized bytes, %llu values equal their dequantized values bit for bit (%.2f s)\n",
	       m->ntensors, (unsigned long long)bytes,
	       (unsigned long long)values, now() - t0);
	return 0;
}

static int quantize_plan(struct model *m, const char *plan_path,
			 const char *out, int st, int force)
{
	struct plan plan;
	struct plan_choice *ch = NULL;
	struct plan_totals tot;
	const struct scheme **sch = NULL;
	enum dtype *types = NULL;
	char *used = NULL;
	size_t routine = 0;
	struct progress p;
	struct err e = { "" };
	double t0;
	int rc = EXIT_BAD;

	plan_init(&plan);
	if (load_plan(&plan, plan_path))
		goto out;
	ch = xcalloc(m->ntensors + 1, sizeof(*ch));
	sch = xcalloc(m->ntensors + 1, sizeof(*sch));
	types = xcalloc(m->ntensors + 1, sizeof(*types));
	used = xcalloc(plan.n + 1, 1);
	plan_totals_init(&tot);
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];
		struct plan_choice *c = &ch[i];
		struct scheme_shape sh;
		char nb[512];

		tensor_scheme_shape(t, &sh);
		plan_choose(&plan, t->name, t->dtype, &sh, t->params,
			    t->nbytes, c);
		/* A weight read through a quantized layout decodes to F32
		 * but is not stored so: a cast to f32 converts it. */
		if (t->layout && !c->scheme && !c->why[0] && c->rule >= 0 &&
		    plan.rules[c->rule].scheme &&
		    (plan.rules[c->rule].scheme->flags & SCHEME_CAST)) {
			c->scheme = plan.rules[c->rule].scheme;
			c->bytes_after = scheme_bytes(c->scheme, &sh);
		}
		if (c->rule >= 0)
			used[c->rule] = 1;
		text_sanitize(t->name, nb, sizeof(nb));
		if (c->scheme) {
			const struct plan_rule *r = &plan.rules[c->rule];
			const char *why = st ? safetensors_layout(c->scheme) :
					       NULL;

			if (!st && gguf_type_of_scheme(c->scheme) == DT_NONE) {
				fprintf(stderr, "qscope: %s:%u: %s cannot be written to GGUF (write safetensors: --format safetensors)\n",
					plan_path, r->line, c->scheme->name);
				goto out;
			}
			if (why) {
				fprintf(stderr, "qscope: %s:%u: %s: %s\n",
					plan_path, r->line, c->scheme->name,
					why);
				goto out;
			}
			if (st && (why = safetensors_layout_for(c->scheme, t))) {
				fprintf(stderr, "qscope: kept '%s' as %s: %s: %s\n",
					nb, dtype_get(t->dtype)->name,
					c->scheme->name, why);
				c->scheme = NULL;
				c->bytes_after = c->bytes_before;
			}
		} else if (c->why[0] && routine_keep(c->why)) {
			routine++;
		} else if (c->why[0]) {
			fprintf(stderr, "qscope: kept '%s' as %s: %s\n", nb,
				dtype_get(t->dtype)->name, c->why);
		}
		sch[i] = c->scheme;
		types[i] = gguf_type_of_scheme(c->scheme);
		/* gguf_write() copies a tensor already of its type byte for
		 * byte: the check compares it with the input, not with the
		 * scheme run again on its decoded values. */
		if (!st && types[i] == t->dtype)
			sch[i] = NULL;
		plan_totals_add(&tot, c);
	}
	for (size_t r = 0; r < plan.n; r++)
		if (!used[r])
			fprintf(stderr, "qscope: %s:%u: rule '%s' matches no tensor\n",
				plan_path, plan.rules[r].line,
				plan.rules[r].glob);
	if (routine)
		fprintf(stderr, "qscope: kept %zu 1-D, scalar or integer tensors as they are (the schemes do not apply to them)\n",
			routine);

	progress_init(&p, "writing", 0);
	catch_signals();
	out_remove_stale(out, st && !ends_with(out, ".safetensors"),
			 said_stale, NULL);
	t0 = now();
	if (st) {
		struct safetensors_written info;

		if (safetensors_write(m, sch, out,
				      force ? SAFETENSORS_WRITE_FORCE : 0,
				      on_progress, &p, &info, &e) != 0) {
			progress_clear(&p);
			fprintf(stderr, "qscope: %s\n", e.msg);
			goto out;
		}
		progress_clear(&p);
		plan_summary(m, ch, out, now() - t0, &tot);
		printf("files: %zu, %llu bytes", info.files,
		       (unsigned long long)info.bytes);
		if (info.method[0])
			printf("; quantization_config: %s", info.method);
		printf("\n");
		if (info.note[0])
			fprintf(stderr, "qscope: note: %s\n", info.note);
	} else {
		if (gguf_write(m, types, out, force ? GGUF_WRITE_FORCE : 0,
			       on_progress, &p, &e) != 0) {
			progress_clear(&p);
			fprintf(stderr, "qscope: %s\n", e.msg);
			goto out;
		}
		progress_clear(&p);
		plan_summary(m, ch, out, now() - t0, &tot);
	}
	rc = check_written(m, sch, out, !st);
	if (!rc)
		rc = finish_stdout();
out:
	plan_release(&plan);
	free(ch);
	free(sch);
	free(types);
	free(used);
	return rc;
}

int cmd_quantize(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "type-for", required_argument, NULL, 'T' },
		{ "plan", required_argument, NULL, 'p' },
		{ "format", required_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rule *rules = NULL;
	size_t nrules = 0;
	enum dtype type = DT_NONE, *types = NULL;
	const struct scheme **sch = NULL;
	const char *out = NULL, *path, *plan = NULL, *format = NULL;
	int force = 0, c, rc = EXIT_BAD, st;
	struct model m;
	struct err e = { "" };
	struct progress p;
	struct stat sto;
	double t0;

	optind = 0;	/* re-initialise: permute, so PATH may come first */
	while ((c = getopt_long(argc, argv, "t:o:fh", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			type = parse_type(optarg, "--type");
			break;
		case 'T': {
			char *eq = strrchr(optarg, '=');

			if (!eq || eq == optarg || !eq[1]) {
				fprintf(stderr, "qscope: --type-for '%s': expected GLOB=TYPE\n",
					optarg);
				exit(EXIT_BAD);
			}
			rules = xrealloc(rules, (nrules + 1) * sizeof(*rules));
			rules[nrules].glob = xstrdup(optarg);
			rules[nrules].glob[eq - optarg] = '\0';
			rules[nrules].type = parse_type(eq + 1, "--type-for");
			rules[nrules].used = 0;
			nrules++;
			break;
		}
		case 'p':
			plan = optarg;
			break;
		case 'F':
			format = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'h':
			fputs(quantize_usage, stdout);
			return finish_stdout();
		default:
			usage_error("%s", "quantize: bad option");
		}
	}
	if (argc - optind != 1)
		usage_error("%s", "quantize needs exactly one PATH");
	if (plan && (type != DT_NONE || nrules))
		usage_error("%s", "quantize takes --plan or --type/--type-for, not both");
	if (!plan && type == DT_NONE && !nrules)
		usage_error("%s", "quantize needs --plan PLAN or --type TYPE (or --type-for GLOB=TYPE)");
	if (!out || !*out)
		usage_error("%s", "quantize needs -o OUT");
	if (format && strcmp(format, "safetensors") != 0 &&
	    strcmp(format, "gguf") != 0)
		usage_error("--format must be safetensors or gguf, not '%s'",
			    format);
	st = format ? strcmp(format, "safetensors") == 0 :
		      ends_with(out, ".safetensors") || ends_with(out, "/") ||
		      is_dir(out);
	if (st && !plan)
		usage_error("%s", "--type writes GGUF; give a --plan to write safetensors");
	path = argv[optind];

	if (open_or_report(&m, path))
		goto done;
	/* The writers refuse OUT when it is one of the input's files. */
	if (!st && (!m.format || strcmp(m.format, "gguf") != 0)) {
		fprintf(stderr, "qscope: '%s': quantize writes GGUF, and needs a GGUF input for now; with --plan it writes safetensors from any input (OUT ending in .safetensors, a folder, or --format safetensors)\n",
			path);
		goto release;
	}
	if (!st && !force && stat(out, &sto) == 0 && !S_ISDIR(sto.st_mode) &&
	    !same_file(out, path)) {
		fprintf(stderr, "qscope: '%s': already exists; use --force to replace it\n",
			out);
		goto release;
	}
	if (plan) {
		rc = quantize_plan(&m, plan, out, st, force);
		goto release;
	}

	types = xcalloc(m.ntensors + 1, sizeof(*types));
	sch = xcalloc(m.ntensors + 1, sizeof(*sch));
	for (size_t i = 0; i < m.ntensors; i++) {
		const struct tensor *t = &m.tensors[i];

		if (!quantizable(t))
			continue;
		types[i] = type;
		for (size_t r = 0; r < nrules; r++)
			if (fnmatch(rules[r].glob, t->name, 0) == 0) {
				types[i] = rules[r].type;
				rules[r].used = 1;
			}
	}
	for (size_t r = 0; r < nrules; r++)
		if (!rules[r].used)
			fprintf(stderr, "qscope: --type-for '%s': matches no tensor that quantize converts\n",
				rules[r].glob);
	/* Tensors the type does not fit keep theirs, and we say so. */
	for (size_t i = 0; i < m.ntensors; i++) {
		const struct tensor *t = &m.tensors[i];
		const struct dtype_info *to = dtype_get(types[i]);
		uint64_t row = t->shape[t->ndim - 1];	/* ndim >= 2 */
		char nb[512];

		if (types[i] == DT_NONE || types[i] == t->dtype)
			continue;
		text_sanitize(t->name, nb, sizeof(nb));
		if (row % to->block) {
			fprintf(stderr, "qscope: kept '%s' as %s: row of %llu is not a multiple of %u\n",
				nb, dtype_get(t->dtype)->name,
				(unsigned long long)row, to->block);
			types[i] = DT_NONE;
		} else if (!dtype_get(t->dtype)->decode) {
			fprintf(stderr, "qscope: kept '%s' as %s: its values cannot be decoded\n",
				nb, dtype_get(t->dtype)->name);
			types[i] = DT_NONE;
		}
		if (types[i] != DT_NONE)
			sch[i] = gguf_scheme_of_type(types[i]);
	}

	progress_init(&p, "writing", 0);
	catch_signals();
	out_remove_stale(out, 0, said_stale, NULL);
	t0 = now();
	if (gguf_write(&m, types, out, force ? GGUF_WRITE_FORCE : 0,
		       on_progress, &p, &e) != 0) {
		progress_clear(&p);
		fprintf(stderr, "qscope: %s\n", e.msg);
		goto release;
	}
	progress_clear(&p);
	summary(&m, types, out, now() - t0);
	for (size_t i = 0; i < m.ntensors; i++)
		if (types[i] != DT_NONE && types[i] != m.tensors[i].dtype &&
		    !sch[i]) {
			printf("not verified: %s has no row in the table of schemes\n",
			       dtype_get(types[i])->name);
			rc = finish_stdout();
			goto release;
		}
	rc = check_written(&m, sch, out, 1);
	if (!rc)
		rc = finish_stdout();
release:
	model_release(&m);
done:
	for (size_t r = 0; r < nrules; r++)
		free(rules[r].glob);
	free(rules);
	free(types);
	free(sch);
	return rc;
}
