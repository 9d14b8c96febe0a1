/*
 * tui/cmd_plan.c - qscope plan [--llama-quantize [-o OUT]] PLAN PATH
 *
 * Without --llama-quantize: what PLAN does to the model at PATH, one line
 * per tensor (name, stored dtype, the rule's line, the scheme written or
 * "keep" with the reason, bytes before and after), then the totals in
 * bytes and bits per weight.  Nothing is read but the headers.
 *
 * With --llama-quantize: the same plan as one llama-quantize command line
 * on stdout, for people who finish the job with llama.cpp:
 *
 *	llama-quantize --pure --tensor-type 'REGEX=TYPE' ... PATH OUT TYPE
 *
 * Facts it rests on (llama.cpp src/llama-quant.cpp, tools/quantize): each
 * --tensor-type is a std::regex searched in the tensor name (the pattern
 * lowercased), the first that matches wins, and overrides are consulted
 * only when the default type (the positional TYPE) is a quantized one;
 * --pure turns off the per-tensor mixes of Q4_K_M and the like; 1-D
 * tensors, norms and a few other kinds are never converted.  So: every
 * rule but a final '*' becomes an anchored regex of its glob
 * (plan_glob_regex()), in plan order; the final '*' rule gives TYPE (the
 * llama-quantize name whose default type it is: q4_k is Q4_K_M, ...);
 * when that default is not a quantized type (f16, bf16, f32, keep) and
 * overrides are needed, TYPE is Q8_0 and a last override '^.*$=f16' (...)
 * stands for the default.  "keep" becomes the type the kept tensors
 * already have when they all have one.  On stderr, one line for each rule
 * without a llama.cpp equivalent (fp8, nf4, int4 groups, ...: left out)
 * and for tensors the two tools treat differently.  Exit 0, or 2.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/planfile.h"
#include "quant/plan.h"
#include "tui/cmds.h"
#include "views/units.h"


static const char plan_usage[] =
	"usage: qscope plan [--llama-quantize [-o OUT]] PLAN PATH\n";

/* llama-quantize's positional type whose default type is d, with --pure. */
static const char *llama_ftype(enum dtype d)
{
	switch (d) {
	case DT_Q4_0: return "Q4_0";
	case DT_Q4_1: return "Q4_1";
	case DT_Q5_0: return "Q5_0";
	case DT_Q5_1: return "Q5_1";
	case DT_Q8_0: return "Q8_0";
	case DT_Q2_K: return "Q2_K";
	case DT_Q3_K: return "Q3_K_M";
	case DT_Q4_K: return "Q4_K_M";
	case DT_Q5_K: return "Q5_K_M";
	case DT_Q6_K: return "Q6_K";
	case DT_F16: return "F16";
	case DT_BF16: return "BF16";
	case DT_F32: return "F32";
	default: return NULL;
	}
}

/* The ggml type a scheme writes in llama.cpp's terms; DT_NONE if none. */
static enum dtype llama_type(const struct scheme *s)
{
	if (!s)
		return DT_NONE;
	if (strcmp(s->name, "f32") == 0)
		return DT_F32;
	if (strcmp(s->name, "f16") == 0)
		return DT_F16;
	if (strcmp(s->name, "bf16") == 0)
		return DT_BF16;
	if (s->ggml != DT_NONE)
		return s->ggml;
	return DT_NONE;
}

static int is_quantized(enum dtype d)
{
	return d != DT_F32 && d != DT_F16 && d != DT_BF16 && d != DT_NONE;
}

/* The ggml name as llama-quantize's parse_ggml_type() reads it. */
static const char *lower(enum dtype d, char *buf, size_t n)
{
	const char *s = dtype_get(d)->name;
	size_t i = 0;

	for (; s[i] && i + 1 < n; i++)
		buf[i] = (char)tolower((unsigned char)s[i]);
	buf[i] = '\0';
	return buf;
}

/* Print s for a POSIX shell, in single quotes when needed. */
static void shell_word(const char *s)
{
	int plain = *s != '\0';

	for (const char *c = s; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("-_./=:,+", *c))
			plain = 0;
	if (plain) {
		fputs(s, stdout);
		return;
	}
	putchar('\'');
	for (const char *c = s; *c; c++)
		if (*c == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*c);
	putchar('\'');
}

static int read_plan(struct plan *p, const char *path)
{
	char msg[1024];

	if (plan_read_file(p, path, msg, sizeof(msg)) == 0)
		return 0;
	fprintf(stderr, "qscope: %s\n", msg);
	return -1;
}

static void choose_all(const struct plan *p, const struct model *m,
		       struct plan_choice *ch)
{
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];
		struct scheme_shape sh;

		tensor_scheme_shape(t, &sh);
		plan_choose(p, t->name, t->dtype, &sh, t->params, t->nbytes,
			    &ch[i]);
	}
}

/* ---- the plan, tensor by tensor ---- */

static int show(const struct plan *p, const char *plan_path,
		const struct model *m, const struct plan_choice *ch)
{
	struct plan_totals tot;
	char hb[32], ha[32], nb[512];

	plan_totals_init(&tot);
	printf("%-48s %-8s %5s %-14s %12s %12s\n", "TENSOR", "DTYPE", "RULE",
	       "SCHEME", "BYTES", "AFTER");
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct plan_choice *c = &ch[i];
		char line[16];

		if (c->rule >= 0)
			snprintf(line, sizeof(line), "%u",
				 p->rules[c->rule].line);
		else
			snprintf(line, sizeof(line), "-");
		printf("%-48s %-8s %5s %-14s %12llu %12llu%s%s\n",
		       text_sanitize(m->tensors[i].name, nb, sizeof(nb)),
		       dtype_get(m->tensors[i].dtype)->name, line,
		       c->scheme ? c->scheme->name : "keep",
		       (unsigned long long)c->bytes_before,
		       (unsigned long long)c->bytes_after,
		       c->why[0] ? "  " : "", c->why);
		plan_totals_add(&tot, c);
	}
	units_bytes(tot.bytes_before, hb, sizeof(hb));
	units_bytes(tot.bytes_after, ha, sizeof(ha));
	printf("total: %zu tensors, %zu converted, %zu kept; %llu -> %llu bytes (%s -> %s), %.3f -> %.3f bits per weight\n",
	       tot.tensors, tot.converted, tot.kept,
	       (unsigned long long)tot.bytes_before,
	       (unsigned long long)tot.bytes_after, hb, ha,
	       plan_totals_bpw_before(&tot), plan_totals_bpw_after(&tot));
	(void)plan_path;
	return finish_stdout();
}

/* ---- llama-quantize ---- */

/* The one stored type of the quantizable tensors whose first match is
 * rule r (r == -1: no rule); DT_NONE when none or several. */
static enum dtype kept_type(const struct model *m,
			    const struct plan_choice *ch, long r, int *count)
{
	enum dtype d = DT_NONE;

	*count = 0;
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];

		if (ch[i].rule != r || !plan_llama_quantizable(t->name, t->ndim))
			continue;
		if (*count && d != t->dtype)
			d = DT_COUNT;
		else if (!*count)
			d = t->dtype;
		(*count)++;
	}
	return d == DT_COUNT ? DT_NONE : d;
}

static int llama(const struct plan *p, const char *plan_path,
		 const struct model *m, const struct plan_choice *ch,
		 const char *path, const char *out)
{
	size_t nr = p->n;
	long def_rule = -1;
	enum dtype def = DT_NONE;
	const char *ftype;
	char **ov = xcalloc(p->n + 2, sizeof(*ov));
	size_t nov = 0, diff = 0;
	char rx[8192], tn[32];
	int exact = 1, n;

	if (!m->format || strcmp(m->format, "gguf") != 0)
		fprintf(stderr, "qscope: '%s': not a GGUF model; llama-quantize sees the names convert_hf_to_gguf.py gives, not these\n",
			path);
	if (nr && strcmp(p->rules[nr - 1].glob, "*") == 0) {
		def_rule = (long)nr - 1;
		nr--;
	}
	/* The default: the last rule's type, or what "keep" keeps. */
	if (def_rule >= 0 && p->rules[def_rule].scheme) {
		def = llama_type(p->rules[def_rule].scheme);
		if (def == DT_NONE) {
			fprintf(stderr, "qscope: %s:%u: '%s' has no llama.cpp equivalent; F16 stands for it\n",
				plan_path, p->rules[def_rule].line,
				p->rules[def_rule].scheme->name);
			def = DT_F16;
			exact = 0;
		}
	} else {
		def = kept_type(m, ch, def_rule, &n);
		if (n && def == DT_NONE) {
			fprintf(stderr, "qscope: %s: the tensors the plan keeps by default have several types; llama-quantize has no per-tensor keep, F16 stands for them\n",
				plan_path);
			def = DT_F16;
			exact = 0;
		} else if (!n) {
			def = DT_F16;	/* nothing left to keep */
		}
	}
	for (size_t r = 0; r < nr; r++) {
		const struct plan_rule *rule = &p->rules[r];
		enum dtype d = llama_type(rule->scheme);
		size_t len;

		if (!rule->scheme) {
			d = kept_type(m, ch, (long)r, &n);
			if (!n)
				continue;	/* llama keeps those too */
			if (d == DT_NONE) {
				fprintf(stderr, "qscope: %s:%u: keep: the tensors it keeps have several types; llama-quantize has no per-tensor keep; rule left out\n",
					plan_path, rule->line);
				exact = 0;
				continue;
			}
		} else if (d == DT_NONE) {
			fprintf(stderr, "qscope: %s:%u: '%s' has no llama.cpp equivalent; rule left out\n",
				plan_path, rule->line, rule->scheme->name);
			exact = 0;
			continue;
		}
		for (const char *c = rule->glob; *c; c++)
			if (isupper((unsigned char)*c)) {
				fprintf(stderr, "qscope: %s:%u: '%s' has capitals, which llama-quantize lowercases in patterns\n",
					plan_path, rule->line, rule->glob);
				exact = 0;
				break;
			}
		if (plan_glob_regex(rule->glob, rx, sizeof(rx))) {
			fprintf(stderr, "qscope: %s:%u: glob too long\n",
				plan_path, rule->line);
			free(ov);
			return EXIT_BAD;
		}
		len = strlen(rx) + 40;
		ov[nov] = xmalloc(len);
		snprintf(ov[nov], len, "%s=%s", rx, lower(d, tn, sizeof(tn)));
		nov++;
	}
	ftype = llama_ftype(def);
	if (!is_quantized(def) && nov) {
		/* overrides count only under a quantized default type */
		size_t len = 40;

		ov[nov] = xmalloc(len);
		snprintf(ov[nov], len, "^.*$=%s", lower(def, tn, sizeof(tn)));
		nov++;
		ftype = "Q8_0";
		fprintf(stderr, "qscope: llama-quantize applies --tensor-type only under a quantized default type: Q8_0 is given, and '^.*$=%s' stands for the default\n",
			tn);
	} else if (!ftype) {
		fprintf(stderr, "qscope: %s: the default %s has no llama-quantize type; Q8_0 stands for it\n",
			plan_path, dtype_get(def)->name);
		ftype = "Q8_0";
		exact = 0;
	}
	/* Tensors the two tools treat differently. */
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];
		int lq = plan_llama_quantizable(t->name, t->ndim);
		char nb[512];

		text_sanitize(t->name, nb, sizeof(nb));
		if (ch[i].scheme && !lq && llama_type(ch[i].scheme) != DT_NONE &&
		    llama_type(ch[i].scheme) != t->dtype) {
			if (diff++ < 8)
				fprintf(stderr, "qscope: '%s': the plan makes it %s; llama-quantize never converts it\n",
					nb, ch[i].scheme->name);
		} else if (!ch[i].scheme && ch[i].why[0] && lq) {
			if (diff++ < 8)
				fprintf(stderr, "qscope: '%s': the plan keeps it (%s); llama-quantize falls back to another type\n",
					nb, ch[i].why);
		}
	}
	if (diff > 8)
		fprintf(stderr, "qscope: ... and %zu more tensors\n", diff - 8);

	fputs("llama-quantize --pure", stdout);
	for (size_t k = 0; k < nov; k++) {
		fputs(" --tensor-type ", stdout);
		shell_word(ov[k]);
		free(ov[k]);
	}
	putchar(' ');
	shell_word(path);
	putchar(' ');
	shell_word(out);
	printf(" %s\n", ftype);
	free(ov);
	if (!exact)
		fprintf(stderr, "qscope: the command above is not the plan's exact equivalent (see above)\n");
	return finish_stdout();
}

int cmd_plan(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "llama-quantize", no_argument, NULL, 'l' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct plan p;
	struct model m;
	struct plan_choice *ch;
	const char *out = "OUT.gguf";
	int lq = 0, c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			lq = 1;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			fputs(plan_usage, stdout);
			return finish_stdout();
		default:
			usage_error("%s", "plan: bad option");
		}
	}
	if (argc - optind != 2)
		usage_error("%s", "plan needs PLAN and PATH");
	plan_init(&p);
	if (read_plan(&p, argv[optind])) {
		plan_release(&p);
		return EXIT_BAD;
	}
	if (open_or_report(&m, argv[optind + 1])) {
		plan_release(&p);
		return EXIT_BAD;
	}
	ch = xcalloc(m.ntensors + 1, sizeof(*ch));
	choose_all(&p, &m, ch);
	rc = lq ? llama(&p, argv[optind], &m, ch, argv[optind + 1], out) :
		  show(&p, argv[optind], &m, ch);
	free(ch);
	model_release(&m);
	plan_release(&p);
	return rc;
}
