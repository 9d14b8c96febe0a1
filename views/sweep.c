/*
 * views/sweep.c - every number format on one tensor or group, side by
 * side: bits per weight, bytes, relative error, SQNR, cosine and largest
 * error, sorted by size, with the formats no smaller one beats marked '*'
 * (the Pareto front: "the cheapest format under 1% error for this layer").
 *
 *  sweep  model.layers.1.mlp (3 tensors)          26 of 26 formats computed
 *    format          bits/w       size  rel err   SQNR dB   cosine   max err
 *  * ternary           1.58   406.1 KiB   63.43%      3.96   0.7731     1.2e+05
 *  ...
 *
 * A group's figures sum its tensors' (a format that does not apply to a
 * tensor keeps it as stored, with no error).  The figures come from the
 * preview (views/preview.h), computed on the worker, the cheapest rows
 * first; they are the same as `qscope try`'s.  Enter sets the selected
 * format as the target of the tensor or group and goes back.
 */
#include "views/sweep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "views/units.h"
#include "views/widgets.h"

#define ROWS_ABOVE	2
#define ROWS_BELOW	1

struct srow {
	int scheme;		/* PV_KEEP for the stored tensors */
	uint64_t bytes;
	size_t pending, applies;
	struct err_acc acc;
	struct err_metrics met;
	int pareto;
};

struct sweep_state {
	const struct sweep_arg *a;
	size_t *ts, nts;	/* the tensors under the node */
	uint64_t params, stored;
	struct srow *rows;
	struct view_list list;
	struct text title;
};

static int cmp_rows(const void *x, const void *y)
{
	const struct srow *a = x, *b = y;

	if (a->bytes != b->bytes)
		return a->bytes < b->bytes ? -1 : 1;
	return a->scheme - b->scheme;
}

/* Every row's sums from the preview's results; sorted by size, the
 * Pareto front marked. */
static void sweep_refresh(struct sweep_state *st)
{
	const struct preview *pv = st->a->pv;
	double best = INFINITY;

	for (size_t r = 0; r < st->list.n; r++) {
		struct srow *row = &st->rows[r];

		row->bytes = 0;
		row->pending = 0;
		row->applies = 0;
		err_acc_init(&row->acc);
		for (size_t j = 0; j < st->nts; j++) {
			size_t t = st->ts[j];
			const struct pv_result *res;

			if (row->scheme == PV_KEEP ||
			    !preview_applies(pv, t, row->scheme)) {
				double sxx;

				/* kept: no error, but its norm counts, so
				 * that every row is over the same values */
				row->bytes += pv->m->tensors[t].nbytes;
				if (row->scheme == PV_KEEP)
					continue;
				if (preview_norm(pv, t, &sxx)) {
					row->acc.sxx += sxx;
					row->acc.syy += sxx;
					row->acc.sxy += sxx;
				} else {
					row->pending++;
				}
				continue;
			}
			row->applies++;
			res = preview_get(pv, t, row->scheme);
			if (res && res->state == PV_DONE) {
				row->bytes += res->bytes;
				err_acc_merge(&row->acc, &res->acc);
			} else {
				struct scheme_shape sh;

				tensor_scheme_shape(&pv->m->tensors[t], &sh);
				row->bytes += scheme_bytes(&schemes[row->scheme],
							   &sh);
				if (!res || res->state == PV_NONE)
					row->pending++;
			}
		}
		err_acc_finish(&row->acc, &row->met);
	}
	qsort(st->rows, st->list.n, sizeof(*st->rows), cmp_rows);
	for (size_t r = 0; r < st->list.n; r++) {
		struct srow *row = &st->rows[r];
		double e = row->scheme == PV_KEEP || !row->applies ? 0 :
			   row->met.rel_err;

		row->pareto = !row->pending && !isnan(e) && e < best;
		if (row->pareto)
			best = e;
	}
}

static int sweep_enter(struct view *v, const struct model *m, struct err *e)
{
	struct sweep_state *st = v->state;
	const struct sweep_arg *a = v->arg;
	const struct tree_node *nd = &a->tree->nodes[a->node];
	char buf[512];

	(void)m;
	st->a = a;
	/* the tensors under the node, in tree order */
	st->nts = tree_under(a->tree, a->node, &st->ts);
	st->rows = calloc(nschemes + 1, sizeof(*st->rows));
	if (st->nts == TREE_NONE || !st->rows) {
		st->nts = 0;
		goto oom;
	}
	for (size_t j = 0; j < st->nts; j++) {
		const struct tensor *t = a->tree->nodes[st->ts[j]].tensor;

		st->ts[j] = (size_t)(t - a->pv->m->tensors);
		st->params += t->params;
		st->stored += t->nbytes;
	}
	/* keep, then every scheme that applies to one of them */
	st->rows[st->list.n++].scheme = PV_KEEP;
	for (size_t k = 0; k < nschemes; k++)
		for (size_t j = 0; j < st->nts; j++)
			if (preview_applies(a->pv, st->ts[j], (int)k)) {
				st->rows[st->list.n++].scheme = (int)k;
				break;
			}
	snprintf(buf, sizeof(buf), "sweep  %s%s", nd->tensor ?
		 nd->tensor->name : nd->label, nd->tensor ? "" : " (group)");
	if (text_make(&st->title, buf, v->env->ascii) < 0)
		goto oom;
	sweep_refresh(st);
	return 0;
oom:
	err_set(e, "out of memory");
	return -1;
}

static void sweep_leave(struct view *v)
{
	struct sweep_state *st = v->state;

	free(st->ts);
	free(st->rows);
	text_release(&st->title);
}

static enum view_effect sweep_poll(struct view *v)
{
	struct sweep_state *st = v->state;
	struct preview *pv = st->a->pv;
	enum view_effect eff = preview_collect(pv) ? VIEW_REDRAW : VIEW_NONE;

	if (eff)
		sweep_refresh(st);
	if (preview_busy(pv))
		return eff;
	/* the selected row first, then the others, smallest first */
	for (size_t k = 0; k <= st->list.n; k++) {
		size_t r = k == 0 ? st->list.sel : k - 1;

		if (r >= st->list.n || st->rows[r].scheme == PV_KEEP)
			continue;
		for (size_t j = 0; j < st->nts; j++) {
			int started = 0;

			if (!preview_applies(pv, st->ts[j], st->rows[r].scheme))
				continue;
			preview_want(pv, v->env, st->ts[j], st->rows[r].scheme,
				     &started);
			if (started)
				return eff;
		}
	}
	return eff;
}

static size_t page_rows(const struct view *v)
{
	int n = v->lines - ROWS_ABOVE - ROWS_BELOW - 2;

	return n > 0 ? (size_t)n : 1;
}

/* A number in w columns: "%.*g", or "-". */
static void put_num(WINDOW *w, double x, int width, const char *fmt)
{
	char buf[32];

	if (isnan(x))
		snprintf(buf, sizeof(buf), "-");
	else if (isinf(x))
		snprintf(buf, sizeof(buf), "exact");
	else
		snprintf(buf, sizeof(buf), fmt, x);
	w_str(w, buf, width, 1);
}

static void sweep_draw(const struct view *v, WINDOW *w)
{
	static const struct w_hint hints[] = {
		{ ACT_OPEN, "use it" },
		{ ACT_BACK, "back" },
		{ ACT_HELP, "help" },
	};
	struct sweep_state *st = v->state;
	const struct view_env *env = v->env;
	size_t page = page_rows(v), done = 0, total = 0;
	int cursor_y = ROWS_ABOVE;
	char buf[128];

	sweep_refresh(st);
	view_list_clamp(&st->list, page);
	for (size_t r = 0; r < st->list.n; r++) {
		total += st->rows[r].applies;
		done += st->rows[r].applies - st->rows[r].pending;
	}
	wattrset(w, env->attr[CR_TITLE]);
	mvwhline(w, 0, 0, ' ', v->cols);
	snprintf(buf, sizeof(buf), "%zu of %zu computed", done, total);
	wmove(w, 0, 1);
	w_text(w, env, &st->title, v->cols - 4 - (int)strlen(buf) >
	       st->title.width ? st->title.width : v->cols - 4 -
	       (int)strlen(buf), CROP_START, 0);
	if ((int)strlen(buf) + 12 < v->cols)
		mvwaddstr(w, 0, v->cols - 1 - (int)strlen(buf), buf);
	wattrset(w, env->attr[CR_COLUMNS]);
	mvwhline(w, 1, 0, ' ', v->cols);
	mvwaddnstr(w, 1, 1, "  format            bits/w        size   rel err"
		   "   SQNR dB    cosine    max err", v->cols - 2);
	for (size_t i = 0; i < page && st->list.top + i < st->list.n; i++) {
		size_t r = st->list.top + i;
		const struct srow *row = &st->rows[r];
		int y = ROWS_ABOVE + (int)i, sel = r == st->list.sel;
		int keep = row->scheme == PV_KEEP || !row->applies;

		wattrset(w, env->attr[sel ? CR_SELECTED : CR_NORMAL]);
		mvwhline(w, y, 0, ' ', v->cols);
		if (sel)
			cursor_y = y;
		wmove(w, y, 1);
		waddch(w, row->pareto ? '*' : ' ');
		waddch(w, ' ');
		w_str(w, row->scheme == PV_KEEP ? "keep (stored)" :
		      schemes[row->scheme].name, 16, 0);
		put_num(w, st->params ? 8.0 * (double)row->bytes /
			(double)st->params : NAN, 8, "%.2f");
		units_bytes(row->bytes, buf, sizeof(buf));
		w_str(w, buf, 12, 1);
		if (row->pending) {
			snprintf(buf, sizeof(buf), "%zu to go", row->pending);
			w_str(w, buf, 10, 1);
			continue;
		}
		if (keep) {
			w_str(w, "0", 10, 1);
			w_str(w, "exact", 10, 1);
			w_str(w, "1", 10, 1);
			w_str(w, "0", 11, 1);
			continue;
		}
		put_num(w, 100 * row->met.rel_err, 9, "%.3f");
		waddch(w, '%');
		put_num(w, row->met.sqnr_db, 10, "%.2f");
		put_num(w, row->met.cosine, 10, "%.6f");
		put_num(w, row->met.max_abs_err, 11, "%.3g");
	}
	wattrset(w, env->attr[CR_NORMAL]);
	snprintf(buf, sizeof(buf), "* no smaller format has less error.  "
		 "%zu tensor%s, %s stored", st->nts, st->nts == 1 ? "" : "s",
		 "");
	units_bytes(st->stored, buf + strlen(buf), sizeof(buf) - strlen(buf));
	mvwaddnstr(w, v->lines - 2, 1, buf, v->cols - 2);
	w_status(v, w, NULL, NULL, hints, 3);
	wattrset(w, env->attr[CR_NORMAL]);
	wmove(w, cursor_y, 0);
}

static enum view_effect sweep_act(struct view *v, enum action a)
{
	struct sweep_state *st = v->state;

	switch (a) {
	case ACT_OPEN:
	case ACT_EXPAND:
		if (!st->list.n)
			return VIEW_NONE;
		st->a->apply(st->a->owner, st->a->node,
			     st->rows[st->list.sel].scheme);
		return VIEW_POP;
	case ACT_SWEEP:
		return VIEW_NONE;
	default:
		return view_list_act(&st->list, a, page_rows(v));
	}
}

static enum view_effect sweep_mouse(struct view *v, int y, int x,
				    enum mouse_event ev)
{
	struct sweep_state *st = v->state;
	size_t row;

	(void)x;
	if (y < ROWS_ABOVE || y >= ROWS_ABOVE + (int)page_rows(v))
		return VIEW_NONE;
	row = st->list.top + (size_t)(y - ROWS_ABOVE);
	if (row >= st->list.n)
		return VIEW_NONE;
	st->list.sel = row;
	return ev == MOUSE_DOUBLE ? sweep_act(v, ACT_OPEN) : VIEW_REDRAW;
}

static const enum action sweep_actions[] = { ACT_OPEN, ACT_NONE };

const struct view_ops view_sweep_ops = {
	.name = "sweep",
	.state_size = sizeof(struct sweep_state),
	.enter = sweep_enter,
	.draw = sweep_draw,
	.act = sweep_act,
	.leave = sweep_leave,
	.poll = sweep_poll,
	.mouse = sweep_mouse,
	.actions = sweep_actions,
};
