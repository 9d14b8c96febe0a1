/*
 * views/tensors.c - the first screen: the model's tensors as a tree.
 *
 *  demo/model  safetensors · 39 tensors · 14.7M params · 28.1 MiB  tree, by name
 *  name                      dtype  shape         params      bytes  share
 *  ▾ model                   BF16   38 tensors     14.2M   27.1 MiB  96.5% ██████████
 *      embed_tokens.weight   BF16   [2048, 512]     1.0M    2.0 MiB   7.1% ██▌
 *    ▸ layers                BF16   36 tensors     13.1M   25.0 MiB  88.9% ██████████
 *  ...
 *  BF16 14.7M params 28.1 MiB                         3/5  ? help  / search  q quit
 *
 * The tree (views/tree.h) groups names by their dotted structure; a group
 * row sums its tensors.  Left/Right fold and unfold, Enter opens a tensor's
 * histogram (views/histogram.c), T shows every tensor in one flat list,
 * s sorts by name, size or dtype, / searches names as you type: the rows
 * and these keys are views/treeview.h's, shared with the diff screen.
 *
 * Targets: f/F step a row's number format, t (or =) opens the sweep of
 * every format, B asks for a size ("3.5G", "4.25 bpw") and sets the
 * targets of least total squared error within it (every (tensor, format)
 * pair is computed first, on the worker, then quant/plan.h plan_budget()
 * chooses), e shows the error as relative error or SQNR in dB, c opens
 * the compare screen on a tensor.  When the preview leaves the worker
 * idle, the dtype doctor examines the model (views/doctor.h, the report
 * the d screen shows) and marks each tensor with a finding, and every
 * group above it, in the left margin: '!' an error, '?' a warning.
 *
 * Text is made once (labels and full names sanitized and measured in
 * enter(), or when first needed); draw() only lays it out for the current
 * width, so a resize costs nothing.  The share column gives each row's part
 * of the model's bytes as a percentage, and a bar scaled to the largest of
 * its siblings (the flat list: the largest tensor), as ncdu does.  Columns
 * give way from the right when the terminal is narrow (share, then params
 * and shape), so that names keep a useful width.  Long full names lose
 * their start ("…0.self_attn.q_proj.weight"): the start is what most
 * names share, the end is what tells them apart.
 */
#include "views/view.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/stat.h>
#include <wchar.h>

#include "formats/model.h"
#include "quant/dtype.h"
#include "quant/plan.h"
#include "views/preview.h"
#include "formats/planfile.h"
#include "formats/safetensors_write.h"
#include "views/compare.h"
#include "views/doctor.h"
#include "views/sweep.h"
#include "views/write.h"
#include "views/tree.h"
#include "views/treeview.h"
#include "views/units.h"
#include "views/widgets.h"

/* Names get up to NAME_WANT columns before the share column goes, and at
 * least NAME_MIN before params and shape go. */
#define NAME_WANT	44
#define NAME_MIN	16
/* Widest a shape column gets; longer shapes are cropped. */
#define SHAPE_MAX	24
/* Share bar width: shrinks from MAX to MIN to give names room. */
#define BAR_MAX		10
#define BAR_MIN		5

struct tensors_state {
	struct treeview tv;	/* the tree, its rows, the search */
	uint64_t *kid_max;	/* per node: the largest child's bytes */
	uint64_t tensor_max;	/* the largest tensor's bytes */
	struct text path, summary, totals;
	int dtype_w, shape_w, params_w, bytes_w, pct_w;
	char msg[160];		/* for the status line, until the next key */
	/* the quantization preview: a target per tensor, its error and size */
	struct preview pv;
	struct agg *agg;	/* per node, remade by each draw */
	int fmt_w;
	int norm_scheme;	/* an exact cast: computes a kept tensor's norm */
	char plan_path[256];	/* the plan file last saved or loaded */
	enum { IN_SEARCH, IN_SAVE, IN_LOAD, IN_WRITE, IN_BUDGET } input;
	struct write_arg write;	/* what the write screen is given */
	char write_default[1024];
	struct sweep_arg sweep;	/* what the sweep screen is given */
	struct compare_arg cmp;	/* what the compare screen is given */
	int sqnr;		/* the error as SQNR in dB, not relative */
	/* a byte budget: every (tensor, scheme) pair computed, then the
	 * targets of least error within it (quant/plan.h plan_budget()) */
	struct {
		int on;		/* computing the pairs */
		uint64_t bytes;
		char what[48];	/* the budget as understood: "10.0 MiB" */
		size_t known, total;
	} bud;
	/* the dtype doctor's findings (views/doctor.h), once known */
	unsigned char *badge;	/* per node: BADGE_* */
	int badges_done;
};

/* A node's doctor badge: the worst finding at or under it.  The glyph
 * says it, not only the colour. */
enum { BADGE_NONE, BADGE_WARNING, BADGE_ERROR };
static const char badge_glyph[] = { ' ', '?', '!' };

/* A node's preview figures: its tensors' sums. */
struct agg {
	uint64_t after;		/* bytes with the targets */
	double sse, sxx;	/* of the quantized tensors computed so far */
	size_t pending;		/* quantized tensors not computed yet */
	size_t unknown;		/* kept tensors whose norm is not known yet */
	size_t quantized;	/* tensors with a target */
	int target;		/* the common target; AGG_MIXED if they differ */
};

#define AGG_UNSET	(-3)
#define AGG_MIXED	(-2)

/* Widths of the columns at the current terminal width; 0 = hidden. */
struct layout {
	int name, dtype, shape, params, bytes, fmt, after, err, pct, bar;
};

/* Width of the error column: "~12.34%". */
#define ERR_W	7

static int load_plan(struct tensors_state *st, const char *path);

static const char *const sort_names[TREE_NSORTS] = { "name", "size", "dtype" };

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

/* ---- numbers and text of a row ---- */

static const char *node_dtype(const struct tree_node *nd)
{
	if (nd->tensor)
		return tensor_type_name(nd->tensor);	/* a scheme, for a
							 * quantized layout */
	return nd->dtype >= 0 && nd->dtype < DT_COUNT ?
	       dtype_get((enum dtype)nd->dtype)->name : "mixed";
}

static void node_shape(const struct tree_node *nd, char *buf, size_t n)
{
	if (nd->tensor)
		tensor_shape_str(nd->tensor, buf, n);
	else
		snprintf(buf, n, "%zu tensor%s", nd->ntensors,
			 nd->ntensors == 1 ? "" : "s");
}

static void format_pct(uint64_t part, uint64_t total, char *out, size_t n)
{
	double share = total ? (double)part / (double)total : 0;

	if (total == 0)
		snprintf(out, n, "-");
	else if (share > 0 && share < 0.0005)
		snprintf(out, n, "<0.1%%");	/* not 0.0%: it is not nothing */
	else
		snprintf(out, n, "%.1f%%", 100.0 * share);
}

/* ---- enter / leave ---- */

struct dtype_sum {
	enum dtype dt;
	uint64_t params, bytes;
	size_t count;
};

static int cmp_sum(const void *a, const void *b)
{
	const struct dtype_sum *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return (int)x->dt - (int)y->dt;
}

/* "BF16 1.0M params 2.0 MiB · F32 ..." into a text. */
static int make_totals(struct tensors_state *st, const struct model *m,
		       int ascii)
{
	struct dtype_sum sum[DT_COUNT];
	size_t cap = 64 * DT_COUNT, len = 0;
	char *buf = malloc(cap);
	int rc;

	if (!buf)
		return -1;
	buf[0] = '\0';
	memset(sum, 0, sizeof(sum));
	for (int d = 0; d < DT_COUNT; d++)
		sum[d].dt = (enum dtype)d;
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];
		int d = (unsigned)t->dtype < DT_COUNT ? (int)t->dtype : 0;

		sum[d].params += t->params;
		sum[d].bytes += t->nbytes;
		sum[d].count++;
	}
	qsort(sum, DT_COUNT, sizeof(sum[0]), cmp_sum);
	for (int d = 0; d < DT_COUNT; d++) {
		char p[16], b[16];

		if (!sum[d].count)
			continue;
		units_count(sum[d].params, p, sizeof(p));
		units_bytes(sum[d].bytes, b, sizeof(b));
		len += (size_t)snprintf(buf + len, cap - len, "%s%s %s params %s",
					len ? (ascii ? " | " : " \u00b7 ") : "",
					dtype_get(sum[d].dt)->name, p, b);
		if (len >= cap)
			break;
	}
	rc = text_make(&st->totals, buf, ascii);
	free(buf);
	return rc;
}

/*
 * The title's summary: "safetensors · 39 tensors · 14.7M params · 28.1 MiB",
 * then, once the doctor's report r is known and has findings, what it
 * found and the key of its screen: "· doctor: 2 errors, 1 warning (d)".
 */
static int make_summary(struct view *v, const struct doctor_report *r)
{
	struct tensors_state *st = v->state;
	const struct model *m = v->model;
	int ascii = v->env->ascii;
	const char *sep = ascii ? " | " : " \u00b7 ";
	char buf[384], p[16], b[16], key[32];
	size_t len;

	units_count(m->params, p, sizeof(p));
	units_bytes(m->nbytes, b, sizeof(b));
	len = (size_t)snprintf(buf, sizeof(buf), "%s%s%zu tensor%s%s%s params%s%s",
			       m->format ? m->format : "?", sep, m->ntensors,
			       m->ntensors == 1 ? "" : "s", sep, p, sep, b);
	if (r && r->errors + r->warnings && len < sizeof(buf)) {
		char e[32] = "", wn[32] = "";

		if (r->errors)
			snprintf(e, sizeof(e), "%zu error%s%s", r->errors,
				 r->errors == 1 ? "" : "s",
				 r->warnings ? ", " : "");
		if (r->warnings)
			snprintf(wn, sizeof(wn), "%zu warning%s", r->warnings,
				 r->warnings == 1 ? "" : "s");
		snprintf(buf + len, sizeof(buf) - len, "%sdoctor: %s%s (%s)",
			 sep, e, wn,
			 v->env->keys(ACT_DOCTOR, 1, key, sizeof(key)));
	}
	text_release(&st->summary);
	return text_make(&st->summary, buf, ascii);
}

static void tensors_leave(struct view *v)
{
	struct tensors_state *st = v->state;

	free(st->kid_max);
	free(st->agg);
	free(st->badge);
	doctor_session_stop(v->env);
	preview_release(&st->pv, v->env);
	treeview_release(&st->tv);
	text_release(&st->path);
	text_release(&st->summary);
	text_release(&st->totals);
}

/* How tensors compare in the sort chosen (struct treeview_sorts). */
static int cmp_nodes(const void *ctx, size_t a, size_t b, int full)
{
	const struct tensors_state *st = ctx;

	return tree_cmp(&st->tv.tree, a, b, (enum tree_sort)st->tv.sort,
			st->tv.reverse, full);
}

static const struct treeview_sorts sorts = {
	cmp_nodes, sort_names, TREE_NSORTS
};

static int tensors_enter(struct view *v, const struct model *m, struct err *e)
{
	struct tensors_state *st = v->state;
	int ascii = v->env->ascii;
	char buf[256], p[16], b[16];

	st->dtype_w = (int)strlen("dtype");
	st->shape_w = (int)strlen("shape");
	st->params_w = (int)strlen("params");
	st->bytes_w = (int)strlen("bytes");
	st->pct_w = (int)strlen("share") - 1;
	if (treeview_init(&st->tv, m, ascii, &sorts, st,
			  st->msg, sizeof(st->msg)) < 0 ||
	    preview_init(&st->pv, m) < 0)
		goto oom;
	st->norm_scheme = (int)(scheme_find("f32") - schemes);
	st->fmt_w = (int)strlen("format");
	for (size_t k = 0; k < nschemes; k++)
		st->fmt_w = max_int(st->fmt_w, (int)strlen(schemes[k].name));
	st->agg = calloc(st->tv.tree.n, sizeof(*st->agg));
	st->kid_max = calloc(st->tv.tree.n, sizeof(*st->kid_max));
	st->badge = calloc(st->tv.tree.n, sizeof(*st->badge));
	if (!st->kid_max || !st->agg || !st->badge)
		goto oom;
	for (size_t i = 1; i < st->tv.tree.n; i++) {
		const struct tree_node *nd = &st->tv.tree.nodes[i];
		char pct[16];

		if (nd->parent == TREE_NONE)
			continue;	/* merged into its parent */
		if (nd->bytes > st->kid_max[nd->parent])
			st->kid_max[nd->parent] = nd->bytes;
		if (nd->tensor && nd->bytes > st->tensor_max)
			st->tensor_max = nd->bytes;
		node_shape(nd, buf, sizeof(buf));
		st->shape_w = max_int(st->shape_w, (int)strlen(buf));
		st->dtype_w = max_int(st->dtype_w, (int)strlen(node_dtype(nd)));
		units_count(nd->params, p, sizeof(p));
		st->params_w = max_int(st->params_w, (int)strlen(p));
		units_bytes(nd->bytes, b, sizeof(b));
		st->bytes_w = max_int(st->bytes_w, (int)strlen(b));
		format_pct(nd->bytes, m->nbytes, pct, sizeof(pct));
		st->pct_w = max_int(st->pct_w, (int)strlen(pct));
	}
	if (st->shape_w > SHAPE_MAX)
		st->shape_w = SHAPE_MAX;
	/* open as much of the structure as the first screen shows */
	tree_open_to_fit(&st->tv.tree, treeview_page(v));
	if (treeview_rebuild(&st->tv, TREE_NONE) < 0)
		goto oom;

	if (text_make(&st->path, m->path ? m->path : "", ascii) < 0)
		goto oom;
	if (make_summary(v, NULL) < 0)
		goto oom;
	if (make_totals(st, m, ascii) < 0)
		goto oom;
	if (v->env->plan) {
		load_plan(st, v->env->plan);	/* says how it went */
		snprintf(st->plan_path, sizeof(st->plan_path), "%s",
			 v->env->plan);
	}
	return 0;
oom:
	err_set(e, "out of memory while listing the tensors");
	return -1;
}

/* ---- layout and drawing ---- */

static void compute_layout(const struct tensors_state *st, int cols,
			   struct layout *L)
{
	/* the order columns give way in when the terminal is narrow */
	int *drop[4];
	int fixed, k = 0;
	int need = treeview_name_need(&st->tv);
	int want = need < NAME_WANT ? need : NAME_WANT;

	L->dtype = st->dtype_w;
	L->shape = st->shape_w;
	L->params = st->params_w;
	L->bytes = st->bytes_w;
	L->pct = st->pct_w;
	L->bar = BAR_MAX;
	L->fmt = L->after = L->err = 0;
	if (st->pv.ntargets) {
		L->fmt = st->fmt_w;
		L->after = st->bytes_w;
		L->err = ERR_W;
	}
	drop[0] = &L->bar;
	drop[1] = &L->pct;
	drop[2] = &L->params;
	drop[3] = &L->shape;
	for (;;) {
		/* one column of margin on each side */
		fixed = 2 + W_GAP + L->dtype + W_GAP + L->bytes;
		if (L->shape)
			fixed += W_GAP + L->shape;
		if (L->params)
			fixed += W_GAP + L->params;
		if (L->fmt)
			fixed += 3 * W_GAP + L->fmt + L->after + L->err;
		if (L->pct)
			fixed += W_GAP + L->pct;
		if (L->bar)
			fixed += 1 + L->bar;
		L->name = cols - fixed;
		/* a narrower bar before a cropped name */
		if (L->bar > BAR_MIN && L->name < need) {
			int give = need - L->name;

			if (give > L->bar - BAR_MIN)
				give = L->bar - BAR_MIN;
			L->bar -= give;
			L->name += give;
		}
		if (k == 4 || L->name >= (k < 2 ? want : NAME_MIN))
			break;
		*drop[k++] = 0;
	}
	/* short names: keep the columns next to them, the slack on the right */
	if (L->name > max_int(need, NAME_MIN))
		L->name = max_int(need, NAME_MIN);
	if (L->name < 1)
		L->name = 1;
}

static void set_role(WINDOW *w, const struct view_env *env, enum role r,
		     int selected)
{
	wattrset(w, env->attr[selected ? CR_SELECTED : r]);
}

static void draw_title(const struct view *v, WINDOW *w,
		       const struct tensors_state *st)
{
	const struct view_env *env = v->env;
	int cols = v->cols, avail = cols - 2, path_w;

	wattrset(w, env->attr[CR_TITLE]);
	mvwhline(w, 0, 0, ' ', cols);
	wmove(w, 0, 1);
	/* the path, then the summary; at narrow widths the summary wins,
	 * since the person knows what they opened */
	path_w = avail - W_GAP - st->summary.width;
	if (path_w >= 12 || (path_w >= st->path.width && st->path.width)) {
		if (path_w > st->path.width)
			path_w = st->path.width;
		w_text(w, env, &st->path, path_w, CROP_MIDDLE, 0);
		w_spaces(w, W_GAP);
		w_text(w, env, &st->summary, st->summary.width, CROP_END, 0);
	} else {
		w_text(w, env, &st->summary, avail, CROP_END, 0);
	}
}

static void draw_columns(const struct view *v, WINDOW *w,
			 const struct tensors_state *st, const struct layout *L)
{
	const struct treeview_col c[] = {
		{ "dtype", L->dtype, 0 }, { "shape", L->shape, 0 },
		{ "params", L->params, 1 }, { "bytes", L->bytes, 1 },
		{ "format", L->fmt, 0 }, { "after", L->after, 1 },
		{ st->sqnr ? "SQNR dB" : "error", L->err, 1 },
	};

	/* format, after and error: only with targets (their widths 0) */
	treeview_draw_titles(v, w, L->name, c, sizeof(c) / sizeof(c[0]));
	if (L->pct) {
		w_spaces(w, W_GAP);
		w_str(w, "share", (int)strlen("share"), 0);
		w_spaces(w, L->pct + (L->bar ? 1 + L->bar : 0) - (int)strlen("share"));
		wmove(w, 1, getcurx(w) - (L->pct + (L->bar ? 1 + L->bar : 0)) +
		      (int)strlen("share"));
	}
	/* how the rows are shown, at the right end when there is room */
	treeview_draw_mode(v, w, &st->tv);
}

/* ---- the preview columns ---- */

static size_t tensor_index(const struct tensors_state *st,
			   const struct tree_node *nd)
{
	return (size_t)(nd->tensor - st->pv.m->tensors);
}

/* Every node's preview sums, leaves up (children come after their parent
 * in nodes[]). */
static void aggregate(struct tensors_state *st)
{
	for (size_t i = 0; i < st->tv.tree.n; i++) {
		struct agg *a = &st->agg[i];

		memset(a, 0, sizeof(*a));
		a->target = AGG_UNSET;
	}
	for (size_t i = st->tv.tree.n; i-- > 0;) {
		const struct tree_node *nd = &st->tv.tree.nodes[i];
		struct agg *a = &st->agg[i], *p;

		if (nd->tensor) {
			size_t t = tensor_index(st, nd);
			int s = st->pv.target[t];

			a->after = preview_bytes(&st->pv, t);
			a->target = s;
			if (s != PV_KEEP) {
				const struct pv_result *r =
					preview_get(&st->pv, t, s);

				a->quantized = 1;
				if (r && r->state == PV_DONE) {
					a->sse = r->acc.sse;
					a->sxx = r->acc.sxx;
				} else if (!r) {
					a->pending = 1;
				}
			} else if (preview_applies(&st->pv, t, st->norm_scheme)) {
				/* kept: no error, but its norm counts, so that
				 * a group's error is over all its values */
				if (!preview_norm(&st->pv, t, &a->sxx))
					a->unknown = 1;
			}
		}
		if (i == 0 || nd->parent == TREE_NONE)
			continue;
		p = &st->agg[nd->parent];
		p->after += a->after;
		p->sse += a->sse;
		p->sxx += a->sxx;
		p->pending += a->pending;
		p->unknown += a->unknown;
		p->quantized += a->quantized;
		if (p->target == AGG_UNSET)
			p->target = a->target;
		else if (p->target != a->target)
			p->target = AGG_MIXED;
	}
}

/* "0.83%", "~0.83%" while some are still computed, "..." for none yet,
 * "-" when nothing is quantized.  As SQNR (sqnr set): "41.6" dB, "inf"
 * when exact. */
static void format_err(const struct agg *a, int sqnr, char *buf, size_t n)
{
	double rel;

	if (!a->quantized) {
		snprintf(buf, n, "-");
		return;
	}
	if (a->pending == a->quantized) {
		snprintf(buf, n, "...");
		return;
	}
	rel = a->sxx > 0 ? sqrt(a->sse / a->sxx) : 0;
	if (sqnr && rel == 0)
		snprintf(buf, n, "%sinf", a->pending || a->unknown ? "~" : "");
	else if (sqnr)
		snprintf(buf, n, "%s%.1f", a->pending || a->unknown ? "~" : "",
			 -20 * log10(rel));
	else if (rel > 0 && rel < 0.00005)
		snprintf(buf, n, "%s<0.01%%", a->pending || a->unknown ? "~" : "");
	else
		snprintf(buf, n, "%s%.*f%%", a->pending || a->unknown ? "~" : "",
			 rel * 100 < 10 ? 2 : 1, rel * 100);
}

/* ---- the doctor's badges ---- */

/* Once the session's doctor report is known (views/doctor.h), mark each
 * tensor with a finding and every group above it; 1 if it just was. */
static int take_badges(struct view *v)
{
	struct tensors_state *st = v->state;
	const struct doctor_report *r = doctor_session_report(v->model);
	size_t *node_of;

	if (st->badges_done || !r)
		return 0;
	st->badges_done = 1;
	node_of = calloc(v->model->ntensors + 1, sizeof(*node_of));
	if (!node_of)
		return 0;
	for (size_t i = 0; i < st->tv.tree.n; i++)
		if (st->tv.tree.nodes[i].tensor)
			node_of[tensor_index(st, &st->tv.tree.nodes[i])] = i;
	for (size_t k = 0; k < r->n; k++) {
		const struct doctor_finding *f = &r->f[k];
		unsigned char b = f->severity == DOCTOR_ERROR ? BADGE_ERROR :
				  f->severity == DOCTOR_WARNING ?
				  BADGE_WARNING : BADGE_NONE;

		if (!f->tensor || b == BADGE_NONE)
			continue;
		for (size_t i = node_of[f->tensor - v->model->tensors];
		     i != TREE_NONE; i = st->tv.tree.nodes[i].parent)
			if (st->badge[i] < b)
				st->badge[i] = b;
	}
	free(node_of);
	make_summary(v, r);
	return 1;
}

static void draw_preview(WINDOW *w, const struct tensors_state *st, size_t i,
			 const struct layout *L)
{
	const struct agg *a = &st->agg[i];
	char buf[32];

	w_spaces(w, W_GAP);
	w_str(w, a->target == AGG_MIXED ? "mixed" :
	      a->target < 0 ? "keep" : schemes[a->target].name, L->fmt, 0);
	w_spaces(w, W_GAP);
	units_bytes(a->after, buf, sizeof(buf));
	w_str(w, buf, L->after, 1);
	w_spaces(w, W_GAP);
	format_err(a, st->sqnr, buf, sizeof(buf));
	w_str(w, buf, L->err, 1);
}

static void draw_row(const struct view *v, WINDOW *w, int y, size_t i,
		     int sel, const void *layout)
{
	const struct tensors_state *st = v->state;
	const struct layout *L = layout;
	const struct view_env *env = v->env;
	const struct tree_node *nd = &st->tv.tree.nodes[i];
	char buf[64];
	uint64_t scale;

	set_role(w, env, CR_NORMAL, sel);
	mvwhline(w, y, 0, ' ', v->cols);
	if (st->badge[i]) {
		/* in the margin, so that no column moves */
		set_role(w, env, CR_WARNING, sel);
		mvwaddch(w, y, 0, (chtype)badge_glyph[st->badge[i]]);
		set_role(w, env, CR_NORMAL, sel);
	}
	wmove(w, y, 1);
	treeview_draw_name(v, w, &st->tv, i, L->name);
	w_spaces(w, W_GAP);
	set_role(w, env, CR_DTYPE, sel);
	w_str(w, node_dtype(nd), L->dtype, 0);
	set_role(w, env, CR_NORMAL, sel);
	if (L->shape) {
		w_spaces(w, W_GAP);
		node_shape(nd, buf, sizeof(buf));
		if ((int)strlen(buf) > L->shape && L->shape > 1) {
			/* cropped at the end, with a mark */
			buf[L->shape - 1] = '\0';
			w_str(w, buf, L->shape - 1, 0);
			if (env->ascii)
				waddch(w, '~');
			else
				waddwstr(w, L"\u2026");
		} else {
			w_str(w, buf, L->shape, 0);
		}
	}
	if (L->params) {
		w_spaces(w, W_GAP);
		units_count(nd->params, buf, sizeof(buf));
		w_str(w, buf, L->params, 1);
	}
	w_spaces(w, W_GAP);
	units_bytes(nd->bytes, buf, sizeof(buf));
	w_str(w, buf, L->bytes, 1);
	if (L->fmt)
		draw_preview(w, st, i, L);
	if (L->pct) {
		w_spaces(w, W_GAP);
		format_pct(nd->bytes, v->model->nbytes, buf, sizeof(buf));
		w_str(w, buf, L->pct, 1);
	}
	if (L->bar) {
		scale = st->tv.flat ? st->tensor_max :
			nd->parent != TREE_NONE ? st->kid_max[nd->parent] : 0;
		w_spaces(w, 1);
		set_role(w, env, CR_BAR, sel);
		w_hbar(w, env, scale ? (double)nd->bytes / (double)scale : 0,
		       L->bar);
	}
}

/* Columns w_status() gives pos and the hints on the right. */
static int hints_width(const struct view *v, const char *pos,
		       const struct w_hint *hints, size_t n)
{
	int width = (int)strlen(pos);
	char key[32];

	for (size_t i = 0; i < n; i++)
		if (*v->env->keys(hints[i].act, 1, key, sizeof(key)))
			width += W_GAP + (int)strlen(key) + 1 +
				 (int)strlen(hints[i].label);
	return width;
}

static void tensors_draw(const struct view *v, WINDOW *w)
{
	static const struct w_hint hints[] = {
		{ ACT_HELP, "help" },
		{ ACT_SEARCH, "search" },
		{ ACT_QUIT, "quit" },
	};
	struct tensors_state *st = v->state;
	struct layout L;
	int cursor_y;
	char pos[48];

	if (st->pv.ntargets)
		aggregate(st);
	compute_layout(st, v->cols, &L);
	draw_title(v, w, st);
	draw_columns(v, w, st, &L);
	cursor_y = treeview_draw_rows(v, w, &st->tv, draw_row, &L);
	treeview_pos(&st->tv, pos, sizeof(pos));
	if (st->bud.on) {
		struct text t;
		char line[160], stop[32];

		snprintf(line, sizeof(line),
			 "budget %s: computing %zu of %zu pairs (%s stops)",
			 st->bud.what, st->bud.known, st->bud.total,
			 v->env->keys(ACT_BACK, 1, stop, sizeof(stop)));
		if (text_make(&t, line, v->env->ascii) == 0) {
			/* how to stop matters more than the usual hints */
			w_status(v, w, &t, pos, hints,
				 t.width + W_GAP + hints_width(v, pos, hints, 3)
				 > v->cols - 2 ? 0 : 3);
			text_release(&t);
		}
	} else if (st->msg[0]) {
		struct text t;

		if (text_make(&t, st->msg, v->env->ascii) == 0) {
			/* a message too long to share the line has it */
			if (t.width + W_GAP + hints_width(v, pos, hints, 3) >
			    v->cols - 2)
				w_status(v, w, NULL, NULL, NULL, 0);
			else
				w_status(v, w, NULL, pos, hints, 3);
			wattrset(w, v->env->attr[CR_WARNING]);
			wmove(w, v->lines - 1, 1);
			w_text(w, v->env, &t, t.width < v->cols - 2 ?
			       t.width : v->cols - 2, CROP_END, 0);
			text_release(&t);
		}
	} else if (st->pv.ntargets) {
		struct text t;
		char line[256], before[16], after[16], err[32];
		const struct agg *a = &st->agg[0];
		uint64_t params = v->model->params;

		units_bytes(v->model->nbytes, before, sizeof(before));
		units_bytes(a->after, after, sizeof(after));
		format_err(a, st->sqnr, err, sizeof(err));
		snprintf(line, sizeof(line), "%s -> %s, %.2f bpw, %s %s%s%s",
			 before, after,
			 params ? 8.0 * (double)a->after / (double)params : 0,
			 st->sqnr ? "SQNR" : "error", err,
			 st->sqnr && strcmp(err, "-") && strcmp(err, "...") ?
			 " dB" : "",
			 a->pending + a->unknown ? ", computing " : "");
		if (a->pending + a->unknown)
			snprintf(line + strlen(line), sizeof(line) - strlen(line),
				 "%zu", a->pending + a->unknown);
		if (text_make(&t, line, v->env->ascii) == 0) {
			w_status(v, w, &t, pos, hints, 3);
			text_release(&t);
		}
	} else {
		w_status(v, w, &st->totals, pos, hints, 3);
	}
	wattrset(w, v->env->attr[CR_NORMAL]);
	wmove(w, cursor_y, 0);
}

static enum view_effect plan_input(struct view *v, const char *text,
				   enum input_event ev);
static enum view_effect budget_input(struct view *v, const char *text,
				     enum input_event ev);

static enum view_effect tensors_input(struct view *v, const char *text,
				      enum input_event ev)
{
	struct tensors_state *st = v->state;

	st->msg[0] = '\0';
	if (st->input == IN_BUDGET)
		return budget_input(v, text, ev);
	if (st->input != IN_SEARCH)
		return plan_input(v, text, ev);
	return treeview_input(&st->tv, text, ev);
}

/* ---- targets and plans ---- */

/* The tensors (model indices) at or under node i, in tree order, into
 * *out (malloc'd); their number, or TREE_NONE when out of memory. */
static size_t tensors_under(const struct tensors_state *st, size_t i,
			    size_t **out)
{
	size_t n = tree_under(&st->tv.tree, i, out);

	for (size_t k = 0; n != TREE_NONE && k < n; k++)
		(*out)[k] = tensor_index(st, &st->tv.tree.nodes[(*out)[k]]);
	return n;
}

/* Step the target of every tensor under node i to the next (dir 1) or
 * previous (-1) scheme that applies to at least one of them, keep
 * included; a scheme that does not apply to a tensor keeps it. */
static void cycle_target(struct view *v, size_t i, int dir)
{
	struct tensors_state *st = v->state;
	size_t *ts, n = tensors_under(st, i, &ts);
	int cur, pos = 0, ncand = 0;
	int *cand;

	if (n == TREE_NONE || n == 0) {
		if (n == 0)
			free(ts);
		return;
	}
	cand = malloc((nschemes + 1) * sizeof(*cand));
	if (!cand) {
		free(ts);
		return;
	}
	cand[ncand++] = PV_KEEP;
	for (size_t k = 0; k < nschemes; k++)
		for (size_t j = 0; j < n; j++)
			if (preview_applies(&st->pv, ts[j], (int)k)) {
				cand[ncand++] = (int)k;
				break;
			}
	/* where we are: the common target, else keep */
	cur = st->pv.target[ts[0]];
	for (size_t j = 1; j < n; j++)
		if (st->pv.target[ts[j]] != cur)
			cur = PV_KEEP;
	for (int k = 0; k < ncand; k++)
		if (cand[k] == cur)
			pos = k;
	pos = (pos + dir + ncand) % ncand;
	for (size_t j = 0; j < n; j++)
		preview_set(&st->pv, ts[j], cand[pos]);
	free(cand);
	free(ts);
}

/* Apply scheme s (or PV_KEEP) to every tensor under node i (the sweep
 * screen's pick). */
static void tensors_apply(void *owner, size_t i, int s)
{
	struct tensors_state *st = owner;
	size_t *ts, n = tensors_under(st, i, &ts);

	if (n == TREE_NONE)
		return;
	for (size_t j = 0; j < n; j++)
		preview_set(&st->pv, ts[j], s);
	free(ts);
}

/* Write the targets as a short plan to path: temporary file, rename. */
static int save_plan(struct tensors_state *st, const char *path)
{
	const struct model *m = st->pv.m;
	const char **names = malloc((m->ntensors + 1) * sizeof(*names));
	const struct scheme **assign = malloc((m->ntensors + 1) * sizeof(*assign));
	struct plan p;
	char tmp[512];
	FILE *f;
	int rc = -1;

	plan_init(&p);
	if (!names || !assign) {
		snprintf(st->msg, sizeof(st->msg), "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m->ntensors; i++) {
		names[i] = m->tensors[i].name ? m->tensors[i].name : "";
		assign[i] = st->pv.target[i] == PV_KEEP ? NULL :
			    &schemes[st->pv.target[i]];
	}
	plan_compress(&p, names, assign, m->ntensors);
	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
	f = fopen(tmp, "wx");
	if (!f) {
		snprintf(st->msg, sizeof(st->msg), "cannot write '%.100s': %s",
			 path, strerror(errno));
		goto out;
	}
	if (plan_write(&p, f) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		snprintf(st->msg, sizeof(st->msg), "cannot write '%.100s': %s",
			 path, strerror(errno));
		fclose(f);
		unlink(tmp);
		goto out;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		snprintf(st->msg, sizeof(st->msg), "cannot write '%.100s': %s",
			 path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	snprintf(st->msg, sizeof(st->msg), "saved %zu rule%s to %.120s", p.n,
		 p.n == 1 ? "" : "s", path);
	rc = 0;
out:
	plan_release(&p);
	free(names);
	free(assign);
	return rc;
}


/* Read the plan at path and set every tensor's target from it. */
static int load_plan(struct tensors_state *st, const char *path)
{
	const struct model *m = st->pv.m;
	struct plan p;
	char msg[256];
	size_t set = 0;

	plan_init(&p);
	if (plan_read_file(&p, path, msg, sizeof(msg)) < 0) {
		snprintf(st->msg, sizeof(st->msg), "%.150s", msg);
		plan_release(&p);
		return -1;
	}
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];
		struct plan_choice c;
		struct scheme_shape sh;

		tensor_scheme_shape(t, &sh);
		plan_choose(&p, t->name ? t->name : "", t->dtype, &sh,
			    t->params, t->nbytes, &c);
		preview_set(&st->pv, i, c.scheme ?
			    (int)(c.scheme - schemes) : PV_KEEP);
		set += c.scheme != NULL;
	}
	snprintf(st->msg, sizeof(st->msg),
		 "loaded %zu rule%s from %.100s: %zu tensor%s quantized",
		 p.n, p.n == 1 ? "" : "s", path, set, set == 1 ? "" : "s");
	plan_release(&p);
	return 0;
}

static enum view_effect plan_input(struct view *v, const char *text,
				   enum input_event ev)
{
	struct tensors_state *st = v->state;
	int save = st->input == IN_SAVE;

	if (ev == INPUT_EDIT)
		return VIEW_REDRAW;
	if (st->input == IN_WRITE) {
		st->input = IN_SEARCH;
		if (ev == INPUT_CANCEL)
			return VIEW_REDRAW;
		st->write.pv = &st->pv;
		snprintf(st->write.out, sizeof(st->write.out), "%s",
			 *text ? text : st->write_default);
		v->push_ops = &view_write_ops;
		v->push_arg = &st->write;
		return VIEW_PUSH;
	}
	st->input = IN_SEARCH;
	if (ev == INPUT_CANCEL)
		return VIEW_REDRAW;
	if (!*text)
		text = st->plan_path;	/* Enter alone: the last one */
	if (!*text) {
		snprintf(st->msg, sizeof(st->msg), "no file name given");
		return VIEW_REDRAW;
	}
	if ((save ? save_plan(st, text) : load_plan(st, text)) == 0 &&
	    text != st->plan_path)
		snprintf(st->plan_path, sizeof(st->plan_path), "%s", text);
	return VIEW_LAYOUT;
}

/* A prompt naming the last plan file: "save plan to [qscope.plan]: ". */
static const char *plan_prompt(struct tensors_state *st, int save)
{
	static char buf[320];

	if (!st->plan_path[0])
		snprintf(st->plan_path, sizeof(st->plan_path), "qscope.plan");
	snprintf(buf, sizeof(buf), "%s [%.200s]: ",
		 save ? "save plan to" : "load plan from", st->plan_path);
	return buf;
}

/* ---- a byte budget ---- */

/*
 * Read a budget: a size ("3.5G", "900M", "10 MiB", "2GB"; K, M, G, T and
 * KiB ... TiB count in 1024s, as every size on the screens does; KB ... TB
 * in 1000s) or bits per weight over the whole model ("4.25 bpw").  0 with
 * *bytes and what (the budget as understood, for the status line) set, or
 * -1 with what holding the reason.
 */
static int parse_budget(const char *text, uint64_t params, uint64_t *bytes,
			char *what, size_t n)
{
	static const struct { const char *unit; double mul; } units[] = {
		{ "b", 1 },
		{ "k", 1024.0 }, { "kib", 1024.0 }, { "kb", 1e3 },
		{ "m", 1048576.0 }, { "mib", 1048576.0 }, { "mb", 1e6 },
		{ "g", 1073741824.0 }, { "gib", 1073741824.0 }, { "gb", 1e9 },
		{ "t", 1099511627776.0 }, { "tib", 1099511627776.0 },
		{ "tb", 1e12 },
	};
	char unit[8];
	char *end;
	double x = strtod(text, &end);
	size_t k = 0;

	if (end == text || !isfinite(x) || x <= 0) {
		snprintf(what, n, "not a size or bits per weight");
		return -1;
	}
	while (*end == ' ')
		end++;
	for (; *end && *end != ' ' && k + 1 < sizeof(unit); end++)
		unit[k++] = (char)(*end >= 'A' && *end <= 'Z' ?
				   *end - 'A' + 'a' : *end);
	unit[k] = '\0';
	while (*end == ' ')
		end++;
	if (*end) {
		snprintf(what, n, "one number and one unit");
		return -1;
	}
	if (strcmp(unit, "bpw") == 0) {
		if (!params || x > 64) {
			snprintf(what, n, "bits per weight from 0 to 64");
			return -1;
		}
		*bytes = (uint64_t)(x * (double)params / 8);
		snprintf(what, n, "%g bpw", x);
		return 0;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(unit, units[i].unit) == 0) {
			if (x * units[i].mul >= 1.8e19) {
				snprintf(what, n, "too large");
				return -1;
			}
			*bytes = (uint64_t)(x * units[i].mul);
			units_bytes(*bytes, what, n);
			return 0;
		}
	snprintf(what, n, k ? "unknown unit" : "a unit is needed");
	return -1;
}

/* Count the pairs known; ask for the first unknown one while the worker
 * is free.  1 once every pair is known. */
static int budget_step(struct view *v)
{
	struct tensors_state *st = v->state;
	int started = 0;

	st->bud.known = 0;
	for (size_t t = 0; t < v->model->ntensors; t++)
		for (size_t s = 0; s < nschemes; s++) {
			if (!preview_applies(&st->pv, t, (int)s))
				continue;
			if (preview_get(&st->pv, t, (int)s))
				st->bud.known++;
			else if (!started && !preview_busy(&st->pv))
				preview_want(&st->pv, v->env, t, (int)s,
					     &started);
		}
	return st->bud.known == st->bud.total;
}

/* Every pair known: the targets of least error within the budget. */
static void budget_finish(struct view *v)
{
	struct tensors_state *st = v->state;
	const struct model *m = v->model;
	struct plan_item *items = calloc(m->ntensors + 1, sizeof(*items));
	struct plan_cand *cand = calloc(st->bud.total + m->ntensors + 1,
					sizeof(*cand));
	size_t *choice = calloc(m->ntensors + 1, sizeof(*choice));
	size_t k = 0;
	uint64_t total;
	char got[16], err[32];

	st->bud.on = 0;
	if (!items || !cand || !choice) {
		snprintf(st->msg, sizeof(st->msg), "out of memory");
		goto out;
	}
	for (size_t t = 0; t < m->ntensors; t++) {
		items[t].cand = &cand[k];
		cand[k++] = (struct plan_cand){ NULL, m->tensors[t].nbytes, 0 };
		for (size_t s = 0; s < nschemes; s++) {
			const struct pv_result *r = preview_get(&st->pv, t,
								(int)s);

			/* a format that turns values into inf is no choice */
			if (!r || r->state != PV_DONE || r->acc.to_inf ||
			    !isfinite(r->acc.sse))
				continue;
			cand[k++] = (struct plan_cand){ &schemes[s], r->bytes,
							r->acc.sse };
		}
		items[t].n = (size_t)(&cand[k] - items[t].cand);
	}
	if (plan_budget(items, m->ntensors, st->bud.bytes, choice, &total)) {
		units_bytes(total, got, sizeof(got));
		snprintf(st->msg, sizeof(st->msg),
			 "budget %s cannot be met: the smallest is %s; targets "
			 "unchanged", st->bud.what, got);
		goto out;
	}
	for (size_t t = 0; t < m->ntensors; t++) {
		const struct scheme *sc = items[t].cand[choice[t]].scheme;

		preview_set(&st->pv, t, sc ? (int)(sc - schemes) : PV_KEEP);
	}
	aggregate(st);
	units_bytes(st->agg[0].after, got, sizeof(got));
	if (!st->pv.ntargets) {
		snprintf(st->msg, sizeof(st->msg),
			 "budget %s: the model fits as stored (%s)",
			 st->bud.what, got);
		goto out;
	}
	format_err(&st->agg[0], st->sqnr, err, sizeof(err));
	snprintf(st->msg, sizeof(st->msg), "budget %s: %s, %.2f bpw, %s %s%s",
		 st->bud.what, got, m->params ? 8.0 * (double)st->agg[0].after /
		 (double)m->params : 0, st->sqnr ? "SQNR" : "error", err,
		 st->sqnr ? " dB" : "");
out:
	free(items);
	free(cand);
	free(choice);
}

/* Stop computing the pairs; those known stay known. */
static void budget_stop(struct view *v)
{
	struct tensors_state *st = v->state;

	st->bud.on = 0;
	preview_stop(&st->pv, v->env);
	snprintf(st->msg, sizeof(st->msg),
		 "budget stopped: %zu of %zu pairs computed, kept for the next "
		 "one", st->bud.known, st->bud.total);
}

static enum view_effect budget_input(struct view *v, const char *text,
				     enum input_event ev)
{
	struct tensors_state *st = v->state;
	const struct model *m = v->model;

	if (ev == INPUT_EDIT)
		return VIEW_REDRAW;
	st->input = IN_SEARCH;
	if (ev == INPUT_CANCEL || !*text)
		return VIEW_REDRAW;
	if (parse_budget(text, m->params, &st->bud.bytes, st->bud.what,
			 sizeof(st->bud.what)) < 0) {
		snprintf(st->msg, sizeof(st->msg),
			 "budget '%.40s': %s (3.5G, 900M, 4.25 bpw)", text,
			 st->bud.what);
		return VIEW_REDRAW;
	}
	st->bud.total = 0;
	for (size_t t = 0; t < m->ntensors; t++)
		for (size_t s = 0; s < nschemes; s++)
			st->bud.total += preview_applies(&st->pv, t, (int)s);
	if (!st->bud.total) {
		snprintf(st->msg, sizeof(st->msg),
			 "budget: no format applies to any tensor");
		return VIEW_REDRAW;
	}
	st->bud.known = 0;
	st->bud.on = 1;
	/* the doctor waits: the worker runs one job at a time */
	doctor_session_stop(v->env);
	return VIEW_REDRAW;
}

/* ---- the order of work: the selected rows first ---- */

/* Ask for the targets of the tensors under node i; 1 once one started. */
static int want_node(struct view *v, size_t i)
{
	struct tensors_state *st = v->state;
	size_t *ts, n = tensors_under(st, i, &ts);
	int started = 0;

	if (n == TREE_NONE)
		return 0;
	for (size_t j = 0; j < n && !started; j++)
		if (st->pv.target[ts[j]] != PV_KEEP)
			preview_want(&st->pv, v->env, ts[j],
				     st->pv.target[ts[j]], &started);
	free(ts);
	return started;
}

/* Start the next pair the targets need, if any and the worker is free. */
static void want_targets(struct view *v)
{
	struct tensors_state *st = v->state;
	const struct view_list *l = &st->tv.list;
	size_t page = treeview_page(v);

	if (!st->pv.ntargets || preview_busy(&st->pv))
		return;
	if (l->n && want_node(v, st->tv.rows[l->sel]))
		return;
	for (size_t r = l->top; r < l->n && r < l->top + page; r++)
		if (want_node(v, st->tv.rows[r]))
			return;
	for (size_t t = 0; t < v->model->ntensors; t++) {
		int started = 0;

		if (st->pv.target[t] != PV_KEEP)
			preview_want(&st->pv, v->env, t, st->pv.target[t],
				     &started);
		if (started)
			return;
	}
	/* last, the norms of the kept tensors (read once, exactly) */
	for (size_t t = 0; t < v->model->ntensors; t++) {
		int started = 0;
		double sxx;

		if (st->pv.target[t] == PV_KEEP &&
		    !preview_norm(&st->pv, t, &sxx))
			preview_want(&st->pv, v->env, t, st->norm_scheme,
				     &started);
		if (started)
			break;
	}
}

/*
 * The worker runs one job at a time, in order: first the pairs the screen
 * shows (or a budget needs), then the doctor's examination for the
 * badges, which gives way (kept, resumed later) whenever a pair is wanted.
 */
static enum view_effect tensors_poll(struct view *v)
{
	struct tensors_state *st = v->state;
	int got = preview_collect(&st->pv);
	enum view_effect eff = got ? VIEW_REDRAW : VIEW_NONE;

	doctor_session_poll();
	if (take_badges(v))
		eff |= VIEW_REDRAW;
	if (st->bud.on && got == 2) {
		budget_stop(v);		/* Ctrl-C */
		return eff | VIEW_REDRAW;
	}
	if (st->bud.on) {
		if (budget_step(v)) {
			budget_finish(v);
			return eff | VIEW_LAYOUT;
		}
	} else {
		want_targets(v);
	}
	if (preview_busy(&st->pv))
		doctor_session_stop(v->env);
	else
		doctor_session_start(v->model, v->env, 0);
	return eff;
}

/* ---- actions ---- */

static enum view_effect open_tensor(struct view *v, size_t i)
{
	struct tensors_state *st = v->state;

	v->push_ops = &view_histogram_ops;
	v->push_arg = st->tv.tree.nodes[i].tensor;
	return VIEW_PUSH;
}

/* The compare screen on tensor node i, with its target, or when it has
 * none the first format f would give it. */
static enum view_effect compare(struct view *v, size_t i)
{
	struct tensors_state *st = v->state;
	const struct scheme *sc;
	size_t t;
	int s;

	if (i == TREE_NONE)
		return VIEW_NONE;
	if (!st->tv.tree.nodes[i].tensor) {
		snprintf(st->msg, sizeof(st->msg),
			 "compare works on one tensor: select a tensor");
		return VIEW_REDRAW;
	}
	t = tensor_index(st, &st->tv.tree.nodes[i]);
	s = st->pv.target[t];
	if (s == PV_KEEP) {
		sc = compare_default_scheme(&v->model->tensors[t]);
		if (!sc) {
			snprintf(st->msg, sizeof(st->msg),
				 "no number format to compare with applies to this tensor");
			return VIEW_REDRAW;
		}
		snprintf(st->msg, sizeof(st->msg),
			 "compared with %s (the target is keep)", sc->name);
	} else {
		sc = &schemes[s];
	}
	st->cmp.m = v->model;
	st->cmp.tensor = t;
	st->cmp.scheme = sc;
	v->push_ops = &view_compare_ops;
	v->push_arg = &st->cmp;
	return VIEW_PUSH;
}

static enum view_effect act(struct view *v, enum action a)
{
	struct tensors_state *st = v->state;
	size_t i = treeview_selected(&st->tv);
	const struct tree_node *nd = i != TREE_NONE ? &st->tv.tree.nodes[i] :
				     NULL;

	st->msg[0] = '\0';
	switch (a) {
	case ACT_OPEN:
	case ACT_EXPAND:
		if (nd && nd->tensor)
			return open_tensor(v, i);
		return treeview_act(v, &st->tv, a);
	case ACT_SEARCH:
		st->input = IN_SEARCH;
		return treeview_act(v, &st->tv, a);
	case ACT_FORMAT_NEXT:
	case ACT_FORMAT_PREV:
		if (i == TREE_NONE)
			return VIEW_NONE;
		cycle_target(v, i, a == ACT_FORMAT_NEXT ? 1 : -1);
		return VIEW_LAYOUT;
	case ACT_SWEEP:
		if (i == TREE_NONE)
			return VIEW_NONE;
		st->sweep.pv = &st->pv;
		st->sweep.tree = &st->tv.tree;
		st->sweep.node = i;
		st->sweep.owner = st;
		st->sweep.apply = tensors_apply;
		v->push_ops = &view_sweep_ops;
		v->push_arg = &st->sweep;
		return VIEW_PUSH;
	case ACT_WRITE: {
		static char prompt[1100];

		write_default_out(&st->pv, st->write_default,
				  sizeof(st->write_default));
		if (write_check(&st->pv, st->write_default, st->msg,
				sizeof(st->msg)) < 0)
			return VIEW_REDRAW;
		snprintf(prompt, sizeof(prompt), "write %s to [%.1000s]: ",
			 write_format_name(st->write_default),
			 st->write_default);
		st->input = IN_WRITE;
		v->prompt = prompt;
		return VIEW_INPUT;
	}
	case ACT_BUDGET:
		if (st->bud.on)
			return VIEW_NONE;
		st->input = IN_BUDGET;
		v->prompt = "budget (3.5G, 900M, 4.25 bpw): ";
		return VIEW_INPUT;
	case ACT_BACK:
		if (!st->bud.on)
			return VIEW_PASS;
		budget_stop(v);
		return VIEW_REDRAW;
	case ACT_METRIC:
		st->sqnr = !st->sqnr;
		snprintf(st->msg, sizeof(st->msg), "error shown as %s",
			 st->sqnr ? "SQNR in dB: -20 log10(relative error)" :
			 "relative error: ||y - x|| / ||x||");
		return VIEW_REDRAW;
	case ACT_COMPARE:
		return compare(v, i);
	case ACT_PLAN_SAVE:
	case ACT_PLAN_LOAD:
		st->input = a == ACT_PLAN_SAVE ? IN_SAVE : IN_LOAD;
		v->prompt = plan_prompt(st, a == ACT_PLAN_SAVE);
		return VIEW_INPUT;
	default:
		return treeview_act(v, &st->tv, a);
	}
}

static enum view_effect tensors_act(struct view *v, enum action a)
{
	enum view_effect eff = act(v, a);

	/* the screen on top has the worker first; the doctor resumes when
	 * this one is back on top (or in its own screen) */
	if (eff & VIEW_PUSH)
		doctor_session_stop(v->env);
	return eff;
}

static enum view_effect tensors_mouse(struct view *v, int y, int x,
				      enum mouse_event ev)
{
	(void)x;
	return treeview_mouse(v, &((struct tensors_state *)v->state)->tv, y,
			      ev);
}

static const enum action tensors_actions[] = {
	ACT_OPEN, ACT_EXPAND, ACT_COLLAPSE, ACT_EXPAND_ALL, ACT_FLAT,
	ACT_SORT, ACT_SORT_REV, ACT_SEARCH, ACT_SEARCH_NEXT, ACT_SEARCH_PREV,
	ACT_FORMAT_NEXT, ACT_FORMAT_PREV, ACT_SWEEP, ACT_COMPARE, ACT_BUDGET,
	ACT_METRIC, ACT_PLAN_SAVE, ACT_PLAN_LOAD, ACT_WRITE, ACT_NONE,
};

const struct view_ops view_tensors_ops = {
	.name = "tensors",
	.state_size = sizeof(struct tensors_state),
	.enter = tensors_enter,
	.draw = tensors_draw,
	.act = tensors_act,
	.leave = tensors_leave,
	.input = tensors_input,
	.mouse = tensors_mouse,
	.poll = tensors_poll,
	.actions = tensors_actions,
};
