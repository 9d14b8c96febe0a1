/*
 * views/diff.c - the diff screen (`qscope A B`): the pairs of two
 * checkpoints as a tree, with the error of B against A.
 *
 *  a.gguf -> b.gguf       21 pairs · 0 only in A · 0 only in B
 *  name                dtype       shape        params  rel err  SQNR dB ...
 *  ▾ blk                                                 ~0.0765    22.32
 *    ▾ 0
 *        attn_q.weight F16->Q4_K   [64, 64]       4.1K  0.07653    22.32 ...
 *  ▸ only in A
 *  computing 5/21                                  3/30  ? help  s sort  q quit
 *
 * Pairs come from formats/pairs.h, the code `qscope diff` prints from, so
 * a row shows the figures the batch command prints, formatted the same
 * way.  Pairs are compared on the background worker, one at a time: the
 * selected row's first, then the rows shown, then the rest; a group's
 * error is over all its pairs compared so far (the square root of their
 * summed squared error over their summed squared norm), marked '~' while
 * some are still to come.  Tensors found on one side only are listed under
 * the groups "only in A" and "only in B", kept at the end whatever the
 * sort.  s sorts by name, size (params), dtype or error (largest first),
 * S reverses; T shows the flat list; / searches the names as you type, n
 * and N find the next and previous match (views/treeview.h: the tree's
 * rows behave as on the tensor screen).  Enter on a pair opens the
 * histogram screen (views/histogram.h) on the difference B - A: its bins
 * and statistics, and the pair's error beside them, from the same two
 * reads (formats/pairs.h pair_diff(): a chunk at a time on the worker, B
 * read transposed or with q/k rows put back in order as for the figures
 * here).
 */
#include "views/diff.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/pairs.h"
#include "quant/compute.h"
#include "quant/dtype.h"
#include "quant/stats.h"
#include "views/histogram.h"
#include "views/tree.h"
#include "views/treeview.h"
#include "views/units.h"
#include "views/widgets.h"

/* Names get at least this many columns before other columns go. */
#define NAME_MIN	16
#define NAME_WANT	40
/* Widest a shape column gets; longer shapes are cropped. */
#define SHAPE_MAX	28
/* Widths of the figures: as `qscope diff` prints them. */
#define REL_W		9
#define SQNR_W		8
#define COS_W		9
#define MAX_W		10

/* The groups of the tensors on one side only (labels in the tree). */
#define ONLY_A		"only in A"
#define ONLY_B		"only in B"

enum item_kind { K_PAIR, K_ONLY_A, K_ONLY_B };

/* One row of the synthetic model the tree is built from. */
struct item {
	enum item_kind kind;
	size_t pair;			/* K_PAIR: index in pg.pairs */
	const struct tensor *t;		/* A's tensor, or the unpaired one */
};

enum res_state { R_NONE = 0, R_DONE, R_NOCMP, R_FAILED };

struct result {
	unsigned char state;	/* enum res_state */
	struct err_acc acc;
};

/* A node's figures: its pairs' sums, remade by each draw. */
struct agg {
	struct err_acc acc;	/* of the pairs compared */
	size_t done, pending;	/* pairs compared, pairs to come */
};

enum sort_key { BY_NAME, BY_SIZE, BY_DTYPE, BY_ERROR, NSORTS };

static const char *const sort_names[NSORTS] = {
	"name", "size", "dtype", "error"
};

/* The pair whose difference the histogram screen shows. */
struct dh_arg {
	const struct model *ma, *mb;
	const struct pair *p;
};

struct diff_state {
	const struct model *ma, *mb;
	struct pairing pg;
	struct result *res;	/* per pair */
	size_t ncmp, ndone;	/* pairs to compare, with a result */
	struct item *items;
	struct model syn;	/* only names, params, dtype: for the tree */
	struct treeview tv;	/* the tree, its rows, the search */
	char (*dtl)[48];	/* per node: its dtype label */
	unsigned char *rank;	/* per node: 0 pairs, 1 only A, 2 only B */
	struct agg *agg;	/* per node */
	struct text title;
	char summary[128];
	int dtype_w, shape_w, params_w;
	char msg[256];
	/* the pair being compared */
	struct job job;
	size_t job_pair;
	struct err_acc job_acc;
	/* what Enter opens: the histogram of a pair's difference */
	struct dh_arg harg;
	struct hist_source hsrc;
	char htitle[1400];
};

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

static const char *arrow(const struct view_env *env)
{
	return env->ascii ? "->" : "\u2192";
}

/* ---- text of a row ---- */

/*
 * Columns of s, text of ours (ASCII, and the arrow when not in ASCII
 * mode: one column each): its code points.
 */
static int cell_width(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Draw s (as cell_width() measures it) in exactly width columns, padded
 * (on the left when right is set) or cropped with a mark. */
static void put_cell(WINDOW *w, const struct view_env *env, const char *s,
		     int width, int right)
{
	int cw = cell_width(s);
	const char *p = s;

	if (cw <= width) {
		if (right)
			w_spaces(w, width - cw);
		waddstr(w, s);
		if (!right)
			w_spaces(w, width - cw);
		return;
	}
	if (width < 1)
		return;
	/* the first width - 1 code points, then the mark */
	for (int k = 0; k < width - 1 && *p; k++)
		do
			p++;
		while (((unsigned char)*p & 0xc0) == 0x80);
	waddnstr(w, s, (int)(p - s));
	if (env->ascii)
		waddch(w, '~');
	else
		waddwstr(w, L"\u2026");
}

static const struct item *node_item(const struct diff_state *st,
				    const struct tree_node *nd)
{
	return nd->tensor ? &st->items[nd->tensor - st->syn.tensors] : NULL;
}

static const struct pair *node_pair(const struct diff_state *st,
				    const struct tree_node *nd)
{
	const struct item *it = node_item(st, nd);

	return it && it->kind == K_PAIR ? &st->pg.pairs[it->pair] : NULL;
}

/* "F16" or "F16->Q4_K" of a tensor row. */
static void item_dtype(const struct view_env *env, const struct diff_state *st,
		       const struct item *it, char *buf, size_t n)
{
	const struct pair *p;

	if (it->kind != K_PAIR) {
		snprintf(buf, n, "%s", tensor_type_name(it->t));
		return;
	}
	p = &st->pg.pairs[it->pair];
	if (strcmp(tensor_type_name(p->a), tensor_type_name(p->b)) == 0)
		snprintf(buf, n, "%s", tensor_type_name(p->a));
	else
		snprintf(buf, n, "%s%s%s", tensor_type_name(p->a), arrow(env),
			 tensor_type_name(p->b));
}

static void node_shape(const struct view_env *env, const struct diff_state *st,
		       const struct tree_node *nd, char *buf, size_t n)
{
	const struct item *it = node_item(st, nd);
	const struct pair *p = node_pair(st, nd);
	char a[64], b[64];

	if (!it) {
		snprintf(buf, n, "%zu %s%s", nd->ntensors,
			 st->rank[nd - st->tv.tree.nodes] ? "tensor" : "pair",
			 nd->ntensors == 1 ? "" : "s");
	} else if (!p || (p->change != PAIR_SHAPE &&
			   p->change != PAIR_TRANSPOSED)) {
		tensor_shape_str(it->t, buf, n);
	} else {
		snprintf(buf, n, "%s %s %s", tensor_shape_str(p->a, a, sizeof(a)),
			 arrow(env), tensor_shape_str(p->b, b, sizeof(b)));
	}
}

/* ---- building ---- */

static void free_items(struct diff_state *st)
{
	for (size_t i = 0; st->syn.tensors && i < st->syn.ntensors; i++)
		free(st->syn.tensors[i].name);
	free(st->syn.tensors);
	free(st->items);
	st->syn.tensors = NULL;
	st->items = NULL;
}

/* The synthetic model: a tensor per pair (A's name), then the unpaired
 * ones under the "only in" groups.  -1 when out of memory. */
static int make_items(struct diff_state *st)
{
	size_t n = st->pg.n + st->pg.nonly_a + st->pg.nonly_b, k = 0;

	st->items = calloc(n + 1, sizeof(*st->items));
	st->syn.tensors = calloc(n + 1, sizeof(*st->syn.tensors));
	if (!st->items || !st->syn.tensors)
		return -1;
	for (int side = 0; side < 3; side++) {
		const struct model *m = side == 2 ? st->mb : st->ma;
		size_t count = side == 0 ? st->pg.n : m->ntensors;

		for (size_t i = 0; i < count; i++) {
			struct item *it = &st->items[k];
			struct tensor *t = &st->syn.tensors[k];
			const char *name;

			if (side == 1 && !st->pg.only_a[i])
				continue;
			if (side == 2 && !st->pg.only_b[i])
				continue;
			it->kind = side == 0 ? K_PAIR : side == 1 ? K_ONLY_A :
				   K_ONLY_B;
			it->pair = i;
			it->t = side == 0 ? st->pg.pairs[i].a : &m->tensors[i];
			name = it->t->name ? it->t->name : "";
			if (side == 0) {
				t->name = strdup(name);
			} else {
				t->name = malloc(strlen(name) + 16);
				if (t->name)
					sprintf(t->name, "%s.%s",
						side == 1 ? ONLY_A : ONLY_B,
						name);
			}
			if (!t->name)
				return -1;
			t->params = it->t->params;
			t->nbytes = it->t->nbytes;
			t->dtype = it->t->dtype;
			k++;
			st->syn.ntensors = k;
		}
	}
	return 0;
}

/* Per node: the dtype label (shared by every tensor under it, else
 * "mixed") and the rank that keeps the "only in" groups last. */
static void node_labels(const struct view_env *env, struct diff_state *st)
{
	for (size_t i = st->tv.tree.n; i-- > 1;) {
		struct tree_node *nd = &st->tv.tree.nodes[i];
		size_t p = nd->parent;
		const struct item *it = node_item(st, nd);

		if (p == TREE_NONE)
			continue;
		if (it) {
			item_dtype(env, st, it, st->dtl[i], sizeof(st->dtl[i]));
			st->rank[i] = (unsigned char)it->kind;
		}
		/* children come after their parent: they are done first */
		if (p == 0)
			continue;
		if (!st->dtl[p][0])
			memcpy(st->dtl[p], st->dtl[i], sizeof(st->dtl[p]));
		else if (strcmp(st->dtl[p], st->dtl[i]) != 0)
			snprintf(st->dtl[p], sizeof(st->dtl[p]), "mixed");
		if (st->rank[i] > st->rank[p])
			st->rank[p] = st->rank[i];
	}
}

/* ---- sorting ---- */

/* A node's relative error for sorting: NaN when none is known. */
static double node_err(const struct diff_state *st, size_t i)
{
	const struct agg *a = &st->agg[i];
	struct err_metrics m;

	if (!a->done)
		return NAN;
	err_acc_finish(&a->acc, &m);
	return m.rel_err;
}

/* How nodes compare in the sort chosen (struct treeview_sorts). */
static int cmp_nodes(const void *ctx, size_t ia, size_t ib, int full)
{
	const struct diff_state *st = ctx;
	const struct tree_node *a = &st->tv.tree.nodes[ia];
	const struct tree_node *b = &st->tv.tree.nodes[ib];
	int c = 0;

	/* the unpaired tensors stay at the end, whatever the order */
	if (st->rank[ia] != st->rank[ib])
		return st->rank[ia] < st->rank[ib] ? -1 : 1;
	switch ((enum sort_key)st->tv.sort) {
	case BY_SIZE:
		if (a->params != b->params)
			c = a->params > b->params ? -1 : 1;
		break;
	case BY_DTYPE:
		c = strcmp(st->dtl[ia], st->dtl[ib]);
		break;
	case BY_ERROR: {
		double ea = node_err(st, ia), eb = node_err(st, ib);

		/* without a figure: last either way */
		if (isnan(ea) != isnan(eb))
			return isnan(ea) ? 1 : -1;
		if (!isnan(ea) && ea != eb)
			c = ea > eb ? -1 : 1;
		break;
	}
	default:
		break;
	}
	if (c == 0)
		c = tree_name_cmp(a, b, full);
	return st->tv.reverse ? -c : c;
}

static const struct treeview_sorts sorts = {
	cmp_nodes, sort_names, NSORTS
};

/* Every node's sums, leaves up (children come after their parent). */
static void aggregate(struct diff_state *st)
{
	memset(st->agg, 0, st->tv.tree.n * sizeof(*st->agg));
	for (size_t i = 0; i < st->tv.tree.n; i++)
		err_acc_init(&st->agg[i].acc);
	for (size_t i = st->tv.tree.n; i-- > 1;) {
		const struct tree_node *nd = &st->tv.tree.nodes[i];
		const struct item *it = node_item(st, nd);
		struct agg *a = &st->agg[i], *p;

		if (nd->parent == TREE_NONE)
			continue;
		if (it && it->kind == K_PAIR) {
			const struct result *r = &st->res[it->pair];

			if (r->state == R_DONE) {
				a->acc = r->acc;
				a->done = 1;
			} else if (r->state == R_NONE) {
				a->pending = 1;
			}
		}
		p = &st->agg[nd->parent];
		err_acc_merge(&p->acc, &a->acc);
		p->done += a->done;
		p->pending += a->pending;
	}
}

/* The rows shown again, in the order of the figures known now, keeping
 * node keep selected if it is shown. */
static int rebuild(struct diff_state *st, size_t keep)
{
	aggregate(st);
	treeview_sort(&st->tv);
	return treeview_rebuild(&st->tv, keep);
}

/* ---- enter / leave ---- */

static void diff_leave(struct view *v)
{
	struct diff_state *st = v->state;

	if (st->job.run)
		v->env->job_stop(&st->job);
	free(st->dtl);
	free(st->rank);
	free(st->agg);
	free(st->res);
	treeview_release(&st->tv);
	free_items(st);
	pairs_release(&st->pg);
	text_release(&st->title);
}

static int diff_enter(struct view *v, const struct model *m, struct err *e)
{
	struct diff_state *st = v->state;
	const struct diff_arg *arg = v->arg;
	const struct view_env *env = v->env;
	char buf[4200], pa[2048], pb[2048];

	(void)m;
	st->ma = arg->a;
	st->mb = arg->b;
	pairs_match(&st->pg, st->ma, st->mb);
	st->res = calloc(st->pg.n + 1, sizeof(*st->res));
	if (!st->res || make_items(st) < 0 ||
	    treeview_init(&st->tv, &st->syn, env->ascii, &sorts, st,
			  st->msg, sizeof(st->msg)) < 0)
		goto oom;
	for (size_t i = 0; i < st->pg.n; i++) {
		if (pair_comparable(&st->pg.pairs[i]))
			st->ncmp++;
		else
			st->res[i].state = R_NOCMP;
	}
	st->dtl = calloc(st->tv.tree.n, sizeof(*st->dtl));
	st->rank = calloc(st->tv.tree.n, sizeof(*st->rank));
	st->agg = calloc(st->tv.tree.n, sizeof(*st->agg));
	if (!st->dtl || !st->rank || !st->agg)
		goto oom;
	node_labels(env, st);
	st->dtype_w = (int)strlen("dtype");
	st->shape_w = (int)strlen("shape");
	st->params_w = (int)strlen("params");
	for (size_t i = 1; i < st->tv.tree.n; i++) {
		const struct tree_node *nd = &st->tv.tree.nodes[i];
		char s[160];

		if (nd->parent == TREE_NONE)
			continue;	/* merged into its parent */
		st->dtype_w = max_int(st->dtype_w, cell_width(st->dtl[i]));
		node_shape(env, st, nd, s, sizeof(s));
		st->shape_w = max_int(st->shape_w, cell_width(s));
		units_count(nd->params, s, sizeof(s));
		st->params_w = max_int(st->params_w, (int)strlen(s));
	}
	if (st->shape_w > SHAPE_MAX)
		st->shape_w = SHAPE_MAX;
	tree_open_to_fit(&st->tv.tree, treeview_page(v));
	if (rebuild(st, TREE_NONE) < 0)
		goto oom;
	snprintf(buf, sizeof(buf), "%s %s %s",
		 text_sanitize(st->ma->path ? st->ma->path : "", pa,
			       sizeof(pa)), arrow(env),
		 text_sanitize(st->mb->path ? st->mb->path : "", pb,
			       sizeof(pb)));
	if (text_make(&st->title, buf, env->ascii) < 0)
		goto oom;
	snprintf(st->summary, sizeof(st->summary),
		 "%zu pair%s%s%zu only in A%s%zu only in B", st->pg.n,
		 st->pg.n == 1 ? "" : "s", env->ascii ? " | " : " \u00b7 ",
		 st->pg.nonly_a, env->ascii ? " | " : " \u00b7 ",
		 st->pg.nonly_b);
	return 0;
oom:
	err_set(e, "out of memory while pairing the tensors");
	return -1;
}

/* ---- the work: one pair at a time on the worker ---- */

static void progress_cb(void *arg, double done)
{
	job_progress(arg, done);
}

static int pair_run(struct job *j)
{
	struct diff_state *st = j->arg;
	struct compute_ctl ctl = { 0, &j->cancel, progress_cb, j };
	struct err e = { "" };
	int rc;

	rc = pair_compare(st->ma, st->mb, &st->pg.pairs[st->job_pair], &ctl,
			  &st->job_acc, &e);
	if (rc < 0)
		snprintf(j->err, sizeof(j->err), "%.250s", e.msg);
	return rc;
}

static int busy(const struct diff_state *st)
{
	enum job_state js = job_state(&st->job);

	return st->job.run && (js == JOB_QUEUED || js == JOB_RUNNING);
}

/* Take a finished result: 1 if one was taken. */
static int collect(struct diff_state *st)
{
	struct result *r;

	if (!st->job.run || job_state(&st->job) != JOB_DONE)
		return 0;
	r = &st->res[st->job_pair];
	if (st->job.result == 0) {
		r->acc = st->job_acc;
		r->state = R_DONE;
		st->ndone++;
	} else if (st->job.result < 0) {
		r->state = R_FAILED;
		st->ndone++;
		snprintf(st->msg, sizeof(st->msg), "%s", st->job.err);
	}
	/* cancelled: still unknown, asked for again */
	st->job.run = NULL;
	return 1;
}

/* Start the first pair at or under node i still to compare: 1 if one
 * started. */
static int want_node(struct view *v, size_t i)
{
	struct diff_state *st = v->state;
	size_t *under, n = tree_under(&st->tv.tree, i, &under);
	int started = 0;

	if (n == TREE_NONE)
		return 0;
	for (size_t k = 0; k < n && !started; k++) {
		const struct item *it = node_item(st,
						  &st->tv.tree.nodes[under[k]]);

		if (!it || it->kind != K_PAIR || st->res[it->pair].state)
			continue;
		st->job_pair = it->pair;
		st->job.run = pair_run;
		st->job.arg = st;
		v->env->job_start(&st->job);
		started = 1;
	}
	free(under);
	return started;
}

static enum view_effect diff_poll(struct view *v)
{
	struct diff_state *st = v->state;
	const struct view_list *l = &st->tv.list;
	enum view_effect eff = VIEW_NONE;
	size_t page = treeview_page(v);

	if (collect(st)) {
		/* by error, a new figure may move rows */
		if (st->tv.sort == BY_ERROR)
			rebuild(st, treeview_selected(&st->tv));
		eff = VIEW_REDRAW;
	}
	if (busy(st) || st->ndone == st->ncmp)
		return eff;
	if (l->n && want_node(v, st->tv.rows[l->sel]))
		return eff;
	for (size_t r = l->top; r < l->n && r < l->top + page; r++)
		if (want_node(v, st->tv.rows[r]))
			return eff;
	want_node(v, 0);
	return eff;
}

/* ---- layout and drawing ---- */

struct layout {
	int name, dtype, shape, params, rel, sqnr, cos, max;
};

static void compute_layout(const struct diff_state *st, int cols,
			   struct layout *L)
{
	int need = treeview_name_need(&st->tv);
	int want = need < NAME_WANT ? need : NAME_WANT;
	int *drop[4] = { &L->shape, &L->cos, &L->params, &L->max };
	int k = 0;

	L->dtype = st->dtype_w;
	L->shape = st->shape_w;
	L->params = st->params_w;
	L->rel = REL_W;
	L->sqnr = SQNR_W;
	L->cos = COS_W;
	L->max = MAX_W;
	for (;;) {
		int fixed = 2 + W_GAP + L->dtype + W_GAP + L->rel + W_GAP +
			    L->sqnr;

		if (L->shape)
			fixed += W_GAP + L->shape;
		if (L->params)
			fixed += W_GAP + L->params;
		if (L->cos)
			fixed += W_GAP + L->cos;
		if (L->max)
			fixed += W_GAP + L->max;
		L->name = cols - fixed;
		if (k == 4 || L->name >= (k < 1 ? want : NAME_MIN))
			break;
		*drop[k++] = 0;
	}
	if (L->name > max_int(need, NAME_MIN))
		L->name = max_int(need, NAME_MIN);
	if (L->name < 1)
		L->name = 1;
}

static void draw_columns(const struct view *v, WINDOW *w,
			 const struct diff_state *st, const struct layout *L)
{
	const struct treeview_col c[] = {
		{ "dtype", L->dtype, 0 }, { "shape", L->shape, 0 },
		{ "params", L->params, 1 }, { "rel err", L->rel, 1 },
		{ "SQNR dB", L->sqnr, 1 }, { "cosine", L->cos, 1 },
		{ "max err", L->max, 1 },
	};

	treeview_draw_titles(v, w, L->name, c, sizeof(c) / sizeof(c[0]));
	treeview_draw_mode(v, w, &st->tv);
}

/* A figure as `qscope diff` prints it: "-" for NaN, "inf". */
static void fig(char *buf, size_t n, const char *fmt, double x)
{
	if (isnan(x))
		snprintf(buf, n, "-");
	else if (isinf(x))
		snprintf(buf, n, "%s", x > 0 ? "inf" : "-inf");
	else
		snprintf(buf, n, fmt, x);
}

/* The four figures of node i into out[4]. */
static void node_figures(const struct diff_state *st, size_t i,
			 char out[4][24])
{
	const struct tree_node *nd = &st->tv.tree.nodes[i];
	const struct agg *a = &st->agg[i];
	const struct pair *p = node_pair(st, nd);
	const struct item *it = node_item(st, nd);
	struct err_metrics m;

	for (int k = 0; k < 4; k++)
		snprintf(out[k], 24, "-");
	if (it && it->kind != K_PAIR)
		return;
	if (p && st->res[it->pair].state == R_NOCMP) {
		snprintf(out[0], 24, "%s", p->undecodable ? "no decode" :
			 pair_change_name(p->change));
		return;
	}
	if (p && st->res[it->pair].state == R_FAILED) {
		snprintf(out[0], 24, "failed");
		return;
	}
	if (!a->done) {
		if (a->pending)
			snprintf(out[0], 24, "...");
		return;
	}
	err_acc_finish(&a->acc, &m);
	fig(out[0], 24, "%.4g", m.rel_err);
	fig(out[1], 24, "%.2f", m.sqnr_db);
	fig(out[2], 24, "%.6f", m.cosine);
	fig(out[3], 24, "%.4g", m.max_abs_err);
	if (a->pending) {
		/* a group still computing: the figures so far */
		char t[24];

		snprintf(t, sizeof(t), "~%.20s", out[0]);
		memcpy(out[0], t, sizeof(t));
	}
}

static void draw_row(const struct view *v, WINDOW *w, int y, size_t i,
		     int sel, const void *layout)
{
	const struct diff_state *st = v->state;
	const struct layout *L = layout;
	const struct view_env *env = v->env;
	const struct tree_node *nd = &st->tv.tree.nodes[i];
	char buf[160], f[4][24];

	wattrset(w, env->attr[sel ? CR_SELECTED : CR_NORMAL]);
	mvwhline(w, y, 0, ' ', v->cols);
	wmove(w, y, 1);
	treeview_draw_name(v, w, &st->tv, i, L->name);
	w_spaces(w, W_GAP);
	wattrset(w, env->attr[sel ? CR_SELECTED : CR_DTYPE]);
	put_cell(w, env, st->dtl[i], L->dtype, 0);
	wattrset(w, env->attr[sel ? CR_SELECTED : CR_NORMAL]);
	if (L->shape) {
		w_spaces(w, W_GAP);
		node_shape(env, st, nd, buf, sizeof(buf));
		put_cell(w, env, buf, L->shape, 0);
	}
	if (L->params) {
		w_spaces(w, W_GAP);
		units_count(nd->params, buf, sizeof(buf));
		w_str(w, buf, L->params, 1);
	}
	node_figures(st, i, f);
	w_spaces(w, W_GAP);
	w_str(w, f[0], L->rel, 1);
	w_spaces(w, W_GAP);
	w_str(w, f[1], L->sqnr, 1);
	if (L->cos) {
		w_spaces(w, W_GAP);
		w_str(w, f[2], L->cos, 1);
	}
	if (L->max) {
		w_spaces(w, W_GAP);
		w_str(w, f[3], L->max, 1);
	}
}

/* What the status line says about the selected pair, if anything. */
static void pair_note(const struct view_env *env, const struct diff_state *st,
		      char *buf, size_t n)
{
	size_t i = treeview_selected(&st->tv);
	const struct tree_node *nd = i != TREE_NONE ? &st->tv.tree.nodes[i] :
				     NULL;
	const struct pair *p = nd ? node_pair(st, nd) : NULL;
	const struct item *it = nd ? node_item(st, nd) : NULL;
	char name[512];
	size_t len = 0;

	buf[0] = '\0';
	if (it && it->kind != K_PAIR) {
		snprintf(buf, n, "only in %s: nothing to compare with",
			 it->kind == K_ONLY_A ? "A" : "B");
		return;
	}
	if (!p)
		return;
	if (strcmp(p->a->name, p->b->name) != 0)
		len += (size_t)snprintf(buf + len, n - len, "B: %s",
					text_sanitize(p->b->name, name,
						      sizeof(name)));
#define NOTE(...) do {							\
		if (len < n)						\
			len += (size_t)snprintf(buf + len, n - len,	\
						"%s", len ? "; " : "");	\
		if (len < n)						\
			len += (size_t)snprintf(buf + len, n - len,	\
						__VA_ARGS__);		\
	} while (0)
	if (p->change == PAIR_TRANSPOSED)
		NOTE("B compared transposed");
	if (p->change == PAIR_SHAPE)
		NOTE("shapes differ: not compared");
	if (p->why)
		NOTE("%s", p->why);
	if (p->heads && !p->undecodable)
		NOTE("q/k rows put back in head order");
	if (p->undecodable)
		NOTE("values not decodable");
#undef NOTE
	(void)env;
}

static void draw_status(const struct view *v, WINDOW *w,
			const struct diff_state *st)
{
	static const struct w_hint hints[] = {
		{ ACT_HELP, "help" },
		{ ACT_SORT, "sort" },
		{ ACT_QUIT, "quit" },
	};
	const struct view_env *env = v->env;
	const char *sep = env->ascii ? " | " : " \u00b7 ";
	char line[1024], note[700], pos[48];
	size_t len = 0;
	struct text t;

	treeview_pos(&st->tv, pos, sizeof(pos));
	line[0] = '\0';
	if (st->ndone < st->ncmp)
		len += (size_t)snprintf(line, sizeof(line), "computing %zu/%zu",
					st->ndone, st->ncmp);
	pair_note(env, st, note, sizeof(note));
	if (st->msg[0]) {
		snprintf(line + len, sizeof(line) - len, "%s%s",
			 len ? sep : "", st->msg);
	} else if (note[0]) {
		snprintf(line + len, sizeof(line) - len, "%s%s",
			 len ? sep : "", note);
	} else if (len == 0) {
		const struct agg *a = &st->agg[0];
		struct err_metrics m;

		err_acc_finish(&a->acc, &m);
		len = (size_t)snprintf(line, sizeof(line), "%zu compared",
				       st->ndone);
		if (a->acc.sxx > 0)
			snprintf(line + len, sizeof(line) - len,
				 ": relative error %.4g%s", m.rel_err,
				 m.rel_err > 0 ? "" : " (equal)");
	}
	if (text_make(&t, line, env->ascii) == 0) {
		w_status(v, w, &t, pos, hints, 3);
		text_release(&t);
	} else {
		w_status(v, w, NULL, pos, hints, 3);
	}
}

static void diff_draw(const struct view *v, WINDOW *w)
{
	struct diff_state *st = v->state;
	const struct view_env *env = v->env;
	struct layout L;
	int cursor_y, avail = v->cols - 2, tw;

	aggregate(st);
	compute_layout(st, v->cols, &L);

	wattrset(w, env->attr[CR_TITLE]);
	mvwhline(w, 0, 0, ' ', v->cols);
	wmove(w, 0, 1);
	tw = avail - W_GAP - (int)strlen(st->summary);
	if (tw >= 12) {
		w_text(w, env, &st->title, tw < st->title.width ? tw :
		       st->title.width, CROP_MIDDLE, 0);
		w_spaces(w, W_GAP);
	}
	waddnstr(w, st->summary, v->cols - 1 - getcurx(w));
	draw_columns(v, w, st, &L);
	cursor_y = treeview_draw_rows(v, w, &st->tv, draw_row, &L);
	draw_status(v, w, st);
	wattrset(w, env->attr[CR_NORMAL]);
	wmove(w, cursor_y, 0);
}

/* ---- the histogram of a pair's difference ---- */

/* On the worker: B - A binned, and the pair's figures as a row shows
 * them, from the same reads. */
static int dh_run(const void *ctx, unsigned nbins,
		  const struct compute_ctl *ctl, struct hist_values *out,
		  char *err, size_t errlen)
{
	const struct dh_arg *a = ctx;
	struct err e = { "" };
	struct err_acc acc;
	struct err_metrics m;
	char f[24];
	int rc, n = 0;

	rc = pair_diff(a->ma, a->mb, a->p, nbins, ctl, &acc, &out->vs,
		       &out->h, &e);
	if (rc < 0)
		snprintf(err, errlen, "%.250s", e.msg);
	if (rc != 0)
		return rc;
	err_acc_finish(&acc, &m);
	fig(f, sizeof(f), "%.4g", m.rel_err);
	snprintf(out->figs[n++], HIST_FIG_W, "rel err  %s", f);
	fig(f, sizeof(f), "%.2f", m.sqnr_db);
	snprintf(out->figs[n++], HIST_FIG_W, "SQNR dB  %s", f);
	fig(f, sizeof(f), "%.6f", m.cosine);
	snprintf(out->figs[n++], HIST_FIG_W, "cosine   %s", f);
	fig(f, sizeof(f), "%.4g", m.max_abs_err);
	snprintf(out->figs[n++], HIST_FIG_W, "max err  %s", f);
	if (a->p->change == PAIR_TRANSPOSED)
		snprintf(out->figs[n++], HIST_FIG_W, "B compared transposed");
	out->figs[n++][0] = '\0';
	snprintf(out->figs[n++], HIST_FIG_W, "B - A:");
	out->nfigs = n;
	return 0;
}

/* The screen's title: "name  F16->Q4_K [64, 64]  4.1K values", both
 * names and shapes where they differ. */
static void dh_title(const struct view_env *env, const struct pair *p,
		     char *buf, size_t n)
{
	char sa[200], sb[96], cnt[16], dt[48];

	if (strcmp(tensor_type_name(p->a), tensor_type_name(p->b)) == 0)
		snprintf(dt, sizeof(dt), "%s", tensor_type_name(p->a));
	else
		snprintf(dt, sizeof(dt), "%s%s%s", tensor_type_name(p->a),
			 arrow(env), tensor_type_name(p->b));
	tensor_shape_str(p->a, sa, sizeof(sa));
	tensor_shape_str(p->b, sb, sizeof(sb));
	if (strcmp(sa, sb) != 0) {	/* transposed */
		char both[200];

		snprintf(both, sizeof(both), "%.90s%s%.90s", sa, arrow(env),
			 sb);
		memcpy(sa, both, sizeof(both));
	}
	units_count(p->a->params, cnt, sizeof(cnt));
	if (strcmp(p->a->name, p->b->name) == 0)
		snprintf(buf, n, "%.600s  %s %s  %s values", p->a->name, dt, sa,
			 cnt);
	else
		snprintf(buf, n, "%.600s %s %.600s  %s %s  %s values",
			 p->a->name, arrow(env), p->b->name, dt, sa, cnt);
}

/* ---- actions ---- */

static enum view_effect open_pair(struct view *v, size_t i)
{
	struct diff_state *st = v->state;
	const struct tree_node *nd = &st->tv.tree.nodes[i];
	const struct item *it = node_item(st, nd);
	const struct pair *p = node_pair(st, nd);

	if (!p) {
		snprintf(st->msg, sizeof(st->msg),
			 "only in %s: nothing to compare with",
			 it && it->kind == K_ONLY_B ? "B" : "A");
		return VIEW_REDRAW;
	}
	if (!pair_comparable(p)) {
		snprintf(st->msg, sizeof(st->msg), "%s: nothing to compare "
			 "element by element", p->undecodable ?
			 "values not decodable" : p->change == PAIR_SHAPE ?
			 "shapes differ" : "rows in another order");
		return VIEW_REDRAW;
	}
	st->harg.ma = st->ma;
	st->harg.mb = st->mb;
	st->harg.p = p;
	dh_title(v->env, p, st->htitle, sizeof(st->htitle));
	st->hsrc.title = st->htitle;
	st->hsrc.what = "difference B - A";
	st->hsrc.reading = "reading both tensors";
	st->hsrc.zeros = "equal";
	st->hsrc.run = dh_run;
	st->hsrc.ctx = &st->harg;
	v->push_ops = &view_histogram_of_ops;
	v->push_arg = &st->hsrc;
	return VIEW_PUSH;
}

static enum view_effect diff_act(struct view *v, enum action a)
{
	struct diff_state *st = v->state;
	size_t i = treeview_selected(&st->tv);

	st->msg[0] = '\0';
	if ((a == ACT_OPEN || a == ACT_EXPAND) && i != TREE_NONE &&
	    st->tv.tree.nodes[i].tensor)
		return open_pair(v, i);
	/* the sort by error needs the figures as they are now */
	if (a == ACT_SORT || a == ACT_SORT_REV)
		aggregate(st);
	return treeview_act(v, &st->tv, a);
}

static enum view_effect diff_input(struct view *v, const char *text,
				   enum input_event ev)
{
	struct diff_state *st = v->state;

	st->msg[0] = '\0';
	return treeview_input(&st->tv, text, ev);
}

static enum view_effect diff_mouse(struct view *v, int y, int x,
				   enum mouse_event ev)
{
	(void)x;
	return treeview_mouse(v, &((struct diff_state *)v->state)->tv, y, ev);
}

static const enum action diff_actions[] = {
	ACT_OPEN, ACT_EXPAND, ACT_COLLAPSE, ACT_EXPAND_ALL, ACT_FLAT,
	ACT_SORT, ACT_SORT_REV, ACT_SEARCH, ACT_SEARCH_NEXT, ACT_SEARCH_PREV,
	ACT_NONE,
};

const struct view_ops view_diff_ops = {
	.name = "diff",
	.state_size = sizeof(struct diff_state),
	.enter = diff_enter,
	.draw = diff_draw,
	.act = diff_act,
	.leave = diff_leave,
	.input = diff_input,
	.mouse = diff_mouse,
	.poll = diff_poll,
	.actions = diff_actions,
};
