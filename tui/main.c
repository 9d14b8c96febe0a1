/*
 * tui/main.c - the command line: batch commands print without curses; with
 * no command, the interactive browser (on two paths, the diff screen).
 *
 * Exit status: 0 fine, 1 a check found problems, 2 bad usage or unreadable
 * input.  Every failure is one line on stderr: "qscope: 'path': what".
 */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include "formats/model.h"
#include "tui/cmds.h"
#include "formats/planfile.h"
#include "tui/tui.h"

static const char usage_text[] =
	"usage: qscope [--color=WHEN] [--ascii] [--no-mouse] [--plan PLAN] [PATH]\n"
	"       qscope [--color=WHEN] [--ascii] [--no-mouse] A B\n"
	"       qscope list [--json] PATH\n"
	"       qscope meta [--json] PATH\n"
	"       qscope stats [--json] [--bins N] PATH [NAME...]\n"
	"       qscope check [--json] [--cast f16|bf16|fp8-e4m3|fp8-e5m2] PATH\n"
	"       qscope schemes [--json]\n"
	"       qscope try [--json] [--threads N] PATH SCHEME [NAME...]\n"
	"       qscope quantize PATH --type TYPE [--type-for GLOB=TYPE...] -o OUT\n"
	"                       [--force]\n"
	"       qscope quantize PATH --plan PLAN -o OUT [--format safetensors|gguf]\n"
	"                       [--force]\n"
	"       qscope plan [--llama-quantize [-o OUT]] PLAN PATH\n"
	"       qscope diff [--json] [--threads N] [--sort file|err] A B [NAME...]\n"
	"       qscope --help | --version\n"
	"\n"
	"Inspect machine-learning checkpoints and try number formats on them.\n"
	"PATH is a safetensors, GGUF, PyTorch (.bin .pt .pth), .npy or .npz file,\n"
	"a model folder, or any of them in a tar, zip, .zst, .gz or .xz archive.\n"
	"Files are recognised by their bytes.  With no PATH: the built-in demo;\n"
	"with two, A and B: their tensors paired and compared, as by diff.\n"
	"NAME selects tensors by name or glob ('*.mlp.*').\n"
	"\n"
	"commands:\n"
	"  list      tensors with dtype, shape, params and bytes; totals by dtype\n"
	"  meta      metadata: GGUF keys, safetensors __metadata__, config.json\n"
	"  stats     min, max, mean, std, absmax, zeros, NaN, Inf, histogram\n"
	"  check     dtype doctor: what a BF16/FP16/FP8 cast would break;\n"
	"            exit 1 when something breaks\n"
	"  schemes   every number format with its bits per weight\n"
	"  try       error and size of a number format, per tensor and in total\n"
	"  quantize  write the model with other number formats: a plan of\n"
	"            GLOB SCHEME rules, to safetensors or GGUF; checked after\n"
	"  plan      what a plan does to a model; --llama-quantize: the same\n"
	"            plan as llama-quantize flags\n"
	"  diff      per-tensor error between two checkpoints (Hugging Face and\n"
	"            GGUF names paired)\n"
	"\n"
	"options:\n"
	"  --color=WHEN   auto (default; off when NO_COLOR is set), always, never\n"
	"  --ascii        draw with ASCII characters only\n"
	"  --no-mouse     leave the mouse to the terminal (select, copy)\n"
	"  --plan PLAN    start the browser with the targets of a plan file\n"
	"  -h, --help     show this help\n"
	"  -V, --version  show the version\n"
	"\n"
	"Exit status: 0 fine, 1 a check found problems, 2 bad usage or\n"
	"unreadable input.  See qscope(1).\n";

void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "qscope: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'qscope --help'.\n");
	exit(EXIT_BAD);
}

int open_or_report(struct model *m, const char *path)
{
	struct err e = { "" };

	if (model_open(m, path, &e) == 0)
		return 0;
	fprintf(stderr, "qscope: %s\n", e.msg);
	return -1;
}

/* Finish writing stdout; a failed write (full disk, closed pipe) is an
 * error, not a silent truncation. */
int finish_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "qscope: cannot write the output: %s\n",
			strerror(errno));
		return EXIT_BAD;
	}
	return 0;
}

/* Print a JSON value compactly; strings stay UTF-8. */
void json_print(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

	if (!s) {
		fprintf(stderr, "qscope: out of memory\n");
		exit(EXIT_BAD);
	}
	fputs(s, stdout);
	free(s);
}

int run_path_command(int argc, char **argv, const char *name,
		     void (*text)(const struct model *),
		     void (*json)(const struct model *))
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct model m;
	int as_json = 0, c;

	optind = 1;
	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			as_json = 1;
			break;
		case 'h':
			printf("usage: qscope %s [--json] PATH\n", name);
			return finish_stdout();
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		usage_error("%s needs exactly one PATH", name);
	if (open_or_report(&m, argv[optind]))
		return EXIT_BAD;
	(as_json ? json : text)(&m);
	model_release(&m);
	return finish_stdout();
}

int name_matches(const char *name, char **pats, int npats, char *used)
{
	int hit = npats == 0;

	for (int i = 0; i < npats; i++)
		if (strcmp(name, pats[i]) == 0 || fnmatch(pats[i], name, 0) == 0) {
			if (used)
				used[i] = 1;
			hit = 1;
		}
	return hit;
}

/* Display width of a UTF-8 string (sanitized: every character printable). */
int text_width(const char *s)
{
	mbstate_t st;
	int w = 0;

	memset(&st, 0, sizeof(st));
	while (*s) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, s, MB_CUR_MAX, &st);
		int cw;

		if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
			/* Not decodable in this locale: count bytes. */
			memset(&st, 0, sizeof(st));
			w++;
			s++;
			continue;
		}
		cw = wcwidth(wc);
		w += cw > 0 ? cw : 0;
		s += k;
	}
	return w;
}

/* ---- the interactive browser ---- */

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * The built-in demo: next to the program in a build tree (demo/model,
 * or ../demo/model for build-asan/qscope), else where `make install` put it.
 */
static const char *demo_path(char *buf, size_t n)
{
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (len > 0) {
		char *slash;

		exe[len] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		snprintf(buf, n, "%s/demo/model", exe);
		if (is_dir(buf))
			return buf;
		snprintf(buf, n, "%s/../demo/model", exe);
		if (is_dir(buf))
			return buf;
	}
	snprintf(buf, n, "%s/demo", DATADIR);
	return buf;
}

/* Is path a plan file qscope can read?  0, or -1 after a message. */
static int check_plan_file(const char *path)
{
	char msg[1024];
	struct plan p;
	int rc;

	plan_init(&p);
	rc = plan_read_file(&p, path, msg, sizeof(msg));
	if (rc < 0)
		fprintf(stderr, "qscope: %s\n", msg);
	plan_release(&p);
	return rc;
}

static int run_tui(const char *path, const struct tui_options *o)
{
	struct model m;
	struct err e = { "" };
	char demo[PATH_MAX + 32];
	int rc;

	if (!path) {
		path = demo_path(demo, sizeof(demo));
		if (!is_dir(path)) {
			fprintf(stderr, "qscope: '%s': the demo checkpoint is missing; run 'make' to generate it, or give a PATH\n",
				path);
			return EXIT_BAD;
		}
	}
	if (o->plan && check_plan_file(o->plan) < 0)
		return EXIT_BAD;	/* said before the screen takes over */
	if (open_or_report(&m, path))
		return EXIT_BAD;
	rc = tui_run(&m, o, &e);
	model_release(&m);
	if (rc) {
		fprintf(stderr, "qscope: %s\n", e.msg);
		return EXIT_BAD;
	}
	return 0;
}

/* qscope A B: both models opened (a bad one said before the screen takes
 * over), then the diff screen. */
static int run_tui_diff(const char *pa, const char *pb,
			const struct tui_options *o)
{
	struct model ma, mb;
	struct err e = { "" };
	int rc;

	if (o->plan)
		usage_error("%s", "--plan takes one PATH, not two");
	if (open_or_report(&ma, pa))
		return EXIT_BAD;
	if (open_or_report(&mb, pb)) {
		model_release(&ma);
		return EXIT_BAD;
	}
	rc = tui_run_diff(&ma, &mb, o, &e);
	model_release(&mb);
	model_release(&ma);
	if (rc) {
		fprintf(stderr, "qscope: %s\n", e.msg);
		return EXIT_BAD;
	}
	return 0;
}

/* A word that names no file and looks like no path: a mistyped command
 * ("qscope lsit x"), not a model. */
static int looks_like_command(const char *s)
{
	struct stat st;

	return stat(s, &st) != 0 && !strchr(s, '/') && !strchr(s, '.');
}

/* Batch commands: one line each; the code lives in tui/cmd_*.c. */
static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "list", cmd_list },
	{ "meta", cmd_meta },
	{ "stats", cmd_stats },
	{ "check", cmd_check },
	{ "schemes", cmd_schemes },
	{ "try", cmd_try },
	{ "quantize", cmd_quantize },
	{ "plan", cmd_plan },
	{ "diff", cmd_diff },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "color", required_argument, NULL, 'c' },
		{ "ascii", no_argument, NULL, 'a' },
		{ "no-mouse", no_argument, NULL, 'M' },
		{ "plan", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct tui_options o = { TUI_COLOR_AUTO, 0, 0, NULL };
	int c;

	/* Characters only: numbers are read and written in the C locale. */
	setlocale(LC_CTYPE, "");

	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (strcmp(optarg, "auto") == 0)
				o.color = TUI_COLOR_AUTO;
			else if (strcmp(optarg, "always") == 0)
				o.color = TUI_COLOR_ALWAYS;
			else if (strcmp(optarg, "never") == 0)
				o.color = TUI_COLOR_NEVER;
			else
				usage_error("--color must be auto, always or never, not '%s'",
					    optarg);
			break;
		case 'M':
			o.no_mouse = 1;
			break;
		case 'p':
			o.plan = optarg;
			break;
		case 'a':
			o.ascii = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return finish_stdout();
		case 'V':
			printf("qscope %s (ncursesw, jansson %s)\n",
			       QSCOPE_VERSION, JANSSON_VERSION);
			return finish_stdout();
		default:
			fprintf(stderr, "Try 'qscope --help'.\n");
			return EXIT_BAD;
		}
	}
	if (optind < argc) {
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(argv[optind], commands[i].name) == 0)
				return commands[i].run(argc - optind,
						       argv + optind);
		if (argc - optind > 2 ||
		    (argc - optind == 2 && looks_like_command(argv[optind])))
			usage_error("unknown command '%s'", argv[optind]);
		if (argc - optind == 2)
			return run_tui_diff(argv[optind], argv[optind + 1], &o);
		return run_tui(argv[optind], &o);
	}
	return run_tui(NULL, &o);
}
