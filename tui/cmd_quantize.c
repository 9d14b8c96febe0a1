/*
 * tui/cmd_quantize.c - qscope quantize PATH --type TYPE
 *                      [--type-for GLOB=TYPE ...] -o OUT [--force]
 *
 * Like llama.cpp's llama-quantize with --pure and per-tensor overrides:
 * the tensors llama.cpp would quantize (name ending in "weight", two or
 * more dimensions, and not one of the kinds it always keeps: norms, MoE
 * router gates, position embeddings, conv1d and RWKV mixing weights...)
 * become TYPE; each --type-for applies to those of them whose name matches
 * GLOB (fnmatch), in the order given, so a later one wins.  Every other
 * tensor is copied as it is.  A tensor whose row length the type's block
 * does not divide keeps its type, and stderr says so (llama.cpp would fall
 * back to another type instead).  The file is written by gguf_write()
 * (formats/gguf.h): temporary file, fsync, rename; an interrupt (SIGINT,
 * SIGTERM, SIGHUP) removes the temporary file and leaves OUT as it was.
 *
 * Output: progress on stderr while it runs, only when stderr is a
 * terminal; then a summary on stdout: tensors per type, bytes before and
 * after, time.  Exit 0, or 2 with one line on stderr.
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
#include "tui/cmds.h"
#include "views/units.h"

#define PROGRESS_EVERY 0.1	/* seconds between progress redraws */

static const char quantize_usage[] =
	"usage: qscope quantize PATH --type TYPE [--type-for GLOB=TYPE ...] -o OUT [--force]\n";

/* Name fragments of weights llama.cpp never quantizes (llama-quant.cpp,
 * tensor_allows_quantization); matched anywhere in the name. */
static const char *const never_quantized[] = {
	"_norm.weight", "ffn_gate_inp.weight", "altup", "laurel",
	"per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight",
	"time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
	"time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
	"time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight",
	"time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
	"time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
	"time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd.",
};

/* ...and whole names it keeps (BERT position and token-type tables). */
static const char *const never_quantized_names[] = {
	"position_embd.weight", "token_types.weight",
};

/* A tensor llama.cpp's quantize would convert. */
static int quantizable(const struct tensor *t)
{
	size_t n = strlen(t->name);

	if (t->ndim < 2 || n < 6 || strcmp(t->name + n - 6, "weight") != 0)
		return 0;
	for (size_t i = 0; i < sizeof(never_quantized) / sizeof(*never_quantized); i++)
		if (strstr(t->name, never_quantized[i]))
			return 0;
	for (size_t i = 0; i < sizeof(never_quantized_names) /
				   sizeof(*never_quantized_names); i++)
		if (strcmp(t->name, never_quantized_names[i]) == 0)
			return 0;
	return 1;
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

struct progress {
	int tty;		/* draw on stderr */
	int drawn;		/* a line is on the screen */
	double last;
	const char *out;
};

static void progress_clear(struct progress *p)
{
	if (p->drawn)
		fputs("\r\033[K", stderr);
	p->drawn = 0;
}

static int on_progress(uint64_t done, uint64_t total, void *arg)
{
	struct progress *p = arg;
	char a[32], b[32];
	double t;

	if (interrupted)
		return 1;
	if (!p->tty)
		return 0;
	t = now();
	if (p->drawn && t - p->last < PROGRESS_EVERY && done < total)
		return 0;
	p->last = t;
	units_bytes(done, a, sizeof(a));
	units_bytes(total, b, sizeof(b));
	fprintf(stderr, "\r\033[Kqscope: writing: %3d%%  %s of %s",
		total ? (int)(done * 100 / total) : 100, a, b);
	p->drawn = 1;
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

int cmd_quantize(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "type-for", required_argument, NULL, 'T' },
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rule *rules = NULL;
	size_t nrules = 0;
	enum dtype type = DT_NONE, *types = NULL;
	const char *out = NULL, *path;
	int force = 0, c, rc = EXIT_BAD;
	struct model m;
	struct err e = { "" };
	struct progress p;
	struct stat st;
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
	if (type == DT_NONE && !nrules)
		usage_error("%s", "quantize needs --type TYPE (or --type-for GLOB=TYPE)");
	if (!out || !*out)
		usage_error("%s", "quantize needs -o OUT");
	path = argv[optind];

	if (open_or_report(&m, path))
		goto done;
	if (!m.format || strcmp(m.format, "gguf") != 0) {
		fprintf(stderr, "qscope: '%s': quantize writes GGUF, and needs a GGUF input for now\n",
			path);
		goto release;
	}
	if (!force && stat(out, &st) == 0 && !S_ISDIR(st.st_mode) &&
	    !same_file(out, path)) {
		fprintf(stderr, "qscope: '%s': already exists; use --force to replace it\n",
			out);
		goto release;
	}

	types = xcalloc(m.ntensors + 1, sizeof(*types));
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
	}

	memset(&p, 0, sizeof(p));
	p.tty = isatty(STDERR_FILENO);
	p.out = out;
	catch_signals();
	t0 = now();
	if (gguf_write(&m, types, out, force ? GGUF_WRITE_FORCE : 0,
		       on_progress, &p, &e) != 0) {
		progress_clear(&p);
		fprintf(stderr, "qscope: %s\n", e.msg);
		goto release;
	}
	progress_clear(&p);
	summary(&m, types, out, now() - t0);
	rc = finish_stdout();
release:
	model_release(&m);
done:
	for (size_t r = 0; r < nrules; r++)
		free(rules[r].glob);
	free(rules);
	free(types);
	return rc;
}
