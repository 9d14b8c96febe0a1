/*
 * views/compare.c - one tensor before and after a scheme: the histogram of
 * its values, under it the histogram of the values the scheme gives back
 * (quantized, then dequantized) on the same axis, then the histogram of
 * the error, and the error figures of `qscope try`.
 *
 *  model.layers.0.self_attn.q_proj.weight  BF16 [512, 512] -> int4-g128
 *  before  x, 262.1K finite values
 *                       ▂▅█▅▂
 *  after   y = int4-g128 dequantized, same axis
 *                   ▁ █ █ █ █ ▁
 *  └────.──|──|──|──|─┼|──|──|──|─────┘
 *  -0.1099            0         0.1006
 *  error   y - x
 *                       ▂▅█▅▂
 *  └──────────────────┼───────────────┘
 *  -0.007828          0       0.007791
 *  rel err 0.1171  SQNR 18.63 dB  max |err| 0.007828  clipped 0 (0.000%)
 *  levels used: 15 of 16  (| used, . dead)  median block scale 0.007743
 *
 * The levels the scheme can represent are marked on the shared axis at the
 * scale a typical block gets (the median over blocks; quant/grid.h), so
 * clipping (values piled on the end levels) and dead levels show.  The
 * numbers come from the worker (views/job.h) in three reads of the tensor
 * (quant/grid.c); the error figures equal `qscope try`'s bit for bit.
 * Results are kept for the session per (tensor, scheme, bins), a few of
 * them, so going back and forth is instant.
 */
#include "views/compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/model.h"
#include "quant/compute.h"
#include "quant/grid.h"
#include "quant/schemes.h"
#include "views/units.h"
#include "views/view.h"
#include "views/widgets.h"

/* Results kept (each a few histograms of a plot's width). */
#define CACHE_N		8
/* Rows that are not plot: title, three headings, two axes with labels,
 * statistics, status. */
#define FIXED_ROWS	12
#define STAT_ROWS	3
#define LINE_MAX	256

/* ---- results, kept for the session ---- */

static struct entry {
	const struct model *m;
	size_t tensor;
	const struct scheme *s;
	unsigned nbins;		/* 0: slot empty */
	struct grid_result r;
} cache[CACHE_N];
static unsigned cache_next;

/* The result for (m, tensor, s) with nbins bins, or else with any. */
static const struct entry *cache_find(const struct model *m, size_t tensor,
				      const struct scheme *s, unsigned nbins)
{
	const struct entry *any = NULL;

	for (int i = 0; i < CACHE_N; i++) {
		const struct entry *e = &cache[i];

		if (!e->nbins || e->m != m || e->tensor != tensor || e->s != s)
			continue;
		if (e->nbins == nbins)
			return e;
		any = e;
	}
	return any;
}

/* Keep r (the cache owns its memory now), replacing the oldest. */
static void cache_put(const struct model *m, size_t tensor,
		      const struct scheme *s, unsigned nbins,
		      struct grid_result *r)
{
	struct entry *e = NULL;

	for (int i = 0; i < CACHE_N && !e; i++)
		if (cache[i].nbins && cache[i].m == m &&
		    cache[i].tensor == tensor && cache[i].s == s)
			e = &cache[i];	/* the same, at another width */
	if (!e) {
		e = &cache[cache_next];
		cache_next = (cache_next + 1) % CACHE_N;
	}
	if (e->nbins)
		grid_result_release(&e->r);
	e->m = m;
	e->tensor = tensor;
	e->s = s;
	e->nbins = nbins;
	e->r = *r;
	memset(r, 0, sizeof(*r));
}

/* ---- the screen's state ---- */

struct cmp_state {
	struct compare_arg a;	/* a copy; a.scheme follows f and F */
	const struct tensor *t;
	struct text title;
	const char *skip;	/* why the scheme does not apply, or NULL */
	char why[128];
	int log;
	/* the job: reads t, a, req_bins; writes out */
	struct job job;
	const struct scheme *job_s;
	unsigned req_bins;
	struct grid_result out;
	char err[256];
};

static void progress_cb(void *arg, double done)
{
	job_progress(arg, done);
}

/* On the worker: the three reads of quant/grid.c. */
static int cmp_run(struct job *j)
{
	struct cmp_state *st = j->arg;
	struct tensor_reader rd;
	struct scheme_shape sh;
	struct compute_ctl ctl = { 0, &j->cancel, progress_cb, j };
	int rc;

	tensor_scheme_shape(st->t, &sh);
	tensor_reader_init(&rd, st->a.m, st->t);
	rc = grid_compare(st->job_s, &sh, tensor_reader_read, &rd,
			  st->req_bins, &ctl, &st->out);
	if (rc < 0)
		snprintf(j->err, sizeof(j->err), "%.250s",
			 rd.failed ? rd.e.msg : rc == -2 ?
			 "the format does not apply to this tensor" :
			 "out of memory");
	tensor_reader_release(&rd);
	return rc < 0 ? -1 : rc;
}

/* ---- geometry ---- */

static int plot_w(const struct view *v)
{
	return v->cols - 2 > 4 ? v->cols - 2 : 4;
}

/* Rows of the before, after and error plots. */
static void plot_rows(const struct view *v, int *h1, int *h2, int *h3)
{
	int p = v->lines - FIXED_ROWS;

	*h1 = *h2 = p * 7 / 20 > 1 ? p * 7 / 20 : 1;
	*h3 = p - *h1 - *h2 > 1 ? p - *h1 - *h2 : 1;
}

/* ---- starting work and taking results ---- */

static void want(struct view *v)
{
	struct cmp_state *st = v->state;
	unsigned nb = (unsigned)plot_w(v);
	enum job_state js = job_state(&st->job);
	const struct entry *e;

	if (st->skip || st->err[0])
		return;
	e = cache_find(st->a.m, st->a.tensor, st->a.scheme, nb);
	if (e && e->nbins == nb)
		return;
	if ((js == JOB_QUEUED || js == JOB_RUNNING) && st->req_bins == nb &&
	    st->job_s == st->a.scheme)
		return;
	v->env->job_stop(&st->job);
	if (job_state(&st->job) == JOB_DONE && st->job.run &&
	    st->job.result == 0)
		grid_result_release(&st->out);	/* a result never taken */
	st->req_bins = nb;
	st->job_s = st->a.scheme;
	st->job.run = cmp_run;
	st->job.arg = st;
	v->env->job_start(&st->job);
}

static enum view_effect cmp_poll(struct view *v)
{
	struct cmp_state *st = v->state;
	enum view_effect eff = VIEW_NONE;

	if (job_state(&st->job) == JOB_DONE && st->job.run) {
		if (st->job.result == 0)
			cache_put(st->a.m, st->a.tensor, st->job_s,
				  st->req_bins, &st->out);
		else if (st->job.result < 0 && st->job_s == st->a.scheme)
			snprintf(st->err, sizeof(st->err), "%s", st->job.err);
		st->job.run = NULL;	/* taken */
		eff = VIEW_REDRAW;
	}
	/* the bins follow the width: a resize asks for more */
	want(v);
	return eff;
}

/* ---- enter / leave ---- */

/* Title and applicability for the current scheme. */
static int cmp_setup(struct view *v)
{
	struct cmp_state *st = v->state;
	const struct tensor *t = st->t;
	struct scheme_shape sh;
	char shape[128], buf[768];

	tensor_scheme_shape(t, &sh);
	st->skip = t->ndim > SCHEME_MAX_DIMS ? "too many dimensions" :
		   scheme_applies_to(st->a.scheme, t->dtype, &sh);
	if (st->skip) {
		/* the next call may reuse the reason's buffer */
		snprintf(st->why, sizeof(st->why), "%s", st->skip);
		st->skip = st->why;
	}
	st->err[0] = '\0';
	tensor_shape_str(t, shape, sizeof(shape));
	snprintf(buf, sizeof(buf), "%s  %s %s -> %s", t->name ? t->name : "",
		 tensor_type_name(t), shape, st->a.scheme->name);
	text_release(&st->title);
	return text_make(&st->title, buf, v->env->ascii);
}

static int cmp_enter(struct view *v, const struct model *m, struct err *e)
{
	struct cmp_state *st = v->state;
	const struct compare_arg *a = v->arg;

	if (!a || !a->scheme || !a->m || a->tensor >= a->m->ntensors) {
		err_set(e, "compare: no tensor or format given");
		return -1;
	}
	(void)m;
	st->a = *a;
	st->t = &a->m->tensors[a->tensor];
	if (cmp_setup(v) < 0) {
		err_set(e, "out of memory");
		return -1;
	}
	cmp_poll(v);
	return 0;
}

static void cmp_leave(struct view *v)
{
	struct cmp_state *st = v->state;

	v->env->job_stop(&st->job);
	if (job_state(&st->job) == JOB_DONE && st->job.run &&
	    st->job.result == 0)
		grid_result_release(&st->out);
	text_release(&st->title);
}

/* ---- drawing ---- */

static void heading(const struct view *v, WINDOW *w, int y, const char *s)
{
	wattrset(w, v->env->attr[CR_COLUMNS]);
	mvwhline(w, y, 0, ' ', v->cols);
	mvwaddnstr(w, y, 1, s, v->cols - 2);
}

/* One mark on the axis: a level used ('|') or not ('.'). */
static struct w_mark level_mark(int col, int used)
{
	struct w_mark m = { col, used ? '|' : '.',
			    used ? CR_KEY : CR_WARNING };

	return m;
}

/*
 * The levels on the shared axis: '|' where some value took a level, '.'
 * where none did; several levels in a column show as used if any is.
 * Casts mark their largest finite value instead.
 */
static void marks(const struct view *v, WINDOW *w, int y,
		  const struct grid_result *r)
{
	const struct grid *g = &r->g;
	int width = plot_w(v), n = 0;
	struct w_mark *m = calloc((size_t)width + 2, sizeof(*m));
	signed char *at = calloc((size_t)width, 1);

	if (!m || !at)
		goto out;
	if (g->kind == GRID_LIMIT) {
		for (int sign = -1; sign <= 1; sign += 2)
			m[n++] = level_mark(grid_column(r->x.lo, r->x.hi, width,
							sign * g->limit), 1);
	} else if (g->kind == GRID_LEVELS) {
		for (unsigned k = 0; k < g->n; k++) {
			double lv = r->off + r->scale * (double)g->code[k];
			int c = grid_column(r->x.lo, r->x.hi, width, lv);

			if (c >= 0 && at[c] < 2)
				at[c] = r->used[k] ? 2 : 1;
		}
		for (int c = 0; c < width; c++)
			if (at[c])
				m[n++] = level_mark(c, at[c] == 2);
	}
	w_axis_marks(w, v->env, y, 1, width, m, (size_t)n);
out:
	free(m);
	free(at);
}

/* The statistics, as entries that flow over the lines left for them. */
static int stats(const struct view *v, const struct grid_result *r,
		 char (*e)[64])
{
	const struct cmp_state *st = v->state;
	const struct scheme *s = st->a.scheme;
	const struct grid *g = &r->g;
	struct err_metrics met;
	struct scheme_shape sh;
	char a[24], b[24];
	uint64_t clipped = r->acc.clipped + r->acc.to_inf;
	unsigned used = 0;
	int n = 0;

	err_acc_finish(&r->acc, &met);
	snprintf(e[n++], 64, "rel err %.4g", met.rel_err);
	snprintf(e[n++], 64, "SQNR %.2f dB", met.sqnr_db);
	w_num(met.max_abs_err, a, sizeof(a));
	snprintf(e[n++], 64, "max |err| %s", a);
	snprintf(e[n++], 64, "clipped %llu (%.3f%%)",
		 (unsigned long long)clipped, 100 * met.clipped_share);
	w_num(met.rmse, a, sizeof(a));
	snprintf(e[n++], 64, "RMSE %s", a);
	snprintf(e[n++], 64, "cosine %.6f", met.cosine);
	switch (g->kind) {
	case GRID_LEVELS:
		for (unsigned k = 0; k < g->n; k++)
			used += r->used[k] > 0;
		snprintf(e[n++], 64, "levels used: %u of %u", used, g->n);
		snprintf(e[n++], 64, "(| used, . dead)");
		w_num(r->scale, a, sizeof(a));
		snprintf(e[n++], 64, "median block scale %s%s", a,
			 r->sampled ? " (sampled)" : "");
		break;
	case GRID_LIMIT:
		if (g->limit < 1e6)
			snprintf(a, sizeof(a), "%.0f", g->limit);
		else
			w_num(g->limit, a, sizeof(a));
		snprintf(e[n++], 64, "%s limit +-%s:", s->name, a);
		snprintf(e[n++], 64, "%llu values beyond it become inf",
			 (unsigned long long)r->acc.to_inf);
		break;
	default:
		snprintf(e[n++], 64, "%s keeps every value", s->name);
		break;
	}
	snprintf(e[n++], 64, "flushed to 0 %llu",
		 (unsigned long long)r->acc.flushed);
	if (r->y.below + r->y.above)
		snprintf(e[n++], 64, "y off the axis %llu",
			 (unsigned long long)(r->y.below + r->y.above));
	tensor_scheme_shape(st->t, &sh);
	snprintf(e[n++], 64, "bits/weight %.3f", scheme_bits(s, &sh));
	units_bytes(st->t->nbytes, a, sizeof(a));
	units_bytes(scheme_bytes(s, &sh), b, sizeof(b));
	snprintf(e[n++], 64, "%s -> %s", a, b);
	return n;
}

static void draw_result(const struct view *v, WINDOW *w,
			const struct grid_result *r)
{
	int h1, h2, h3, y = 1, n;
	char ent[20][64], buf[LINE_MAX], cnt[16];
	const struct cmp_state *st = v->state;

	plot_rows(v, &h1, &h2, &h3);
	units_count(r->acc.n, cnt, sizeof(cnt));
	snprintf(buf, sizeof(buf), "before  x, %s finite values%s", cnt,
		 st->log ? ", log counts" : "");
	heading(v, w, y++, buf);
	w_hist_plot(w, v->env, y, 1, &r->x, plot_w(v), h1, st->log);
	y += h1;
	snprintf(buf, sizeof(buf), "after   y = %s dequantized, same axis",
		 st->a.scheme->name);
	heading(v, w, y++, buf);
	w_hist_plot(w, v->env, y, 1, &r->y, plot_w(v), h2, st->log);
	y += h2;
	w_hist_axis(w, v->env, y, 1, plot_w(v), &r->x);
	marks(v, w, y, r);
	y += 2;
	heading(v, w, y++, "error   y - x");
	w_hist_plot(w, v->env, y, 1, &r->e, plot_w(v), h3, st->log);
	y += h3;
	w_hist_axis(w, v->env, y, 1, plot_w(v), &r->e);
	y += 2;
	n = stats(v, r, ent);
	w_flow(v, w, y, STAT_ROWS, (const char (*)[64])ent, n, W_GAP);
}

static void cmp_draw(const struct view *v, WINDOW *w)
{
	static const struct w_hint hints[] = {
		{ ACT_LOG, "log" },
		{ ACT_FORMAT_NEXT, "format" },
		{ ACT_BACK, "back" },
		{ ACT_HELP, "help" },
	};
	const struct cmp_state *st = v->state;
	const struct view_env *env = v->env;
	const struct entry *e = cache_find(st->a.m, st->a.tensor, st->a.scheme,
					   (unsigned)plot_w(v));
	enum job_state js = job_state(&st->job);
	char buf[160];

	w_title_text(v, w, &st->title);
	if (st->skip) {
		snprintf(buf, sizeof(buf), "%s: %s", st->a.scheme->name,
			 st->skip);
		w_message(v, w, 2, CR_WARNING, buf);
	} else if (st->err[0]) {
		w_message(v, w, 2, CR_WARNING, st->err);
	} else if (v->lines < FIXED_ROWS + 3) {
		w_message(v, w, 2, CR_NORMAL, "the terminal is too small");
	} else if (e) {
		draw_result(v, w, &e->r);
	}
	/* a result being computed: the old one stays, a bar shows progress */
	if (!st->skip && !st->err[0] &&
	    (js == JOB_QUEUED || js == JOB_RUNNING))
		w_progress(v, w, e ? v->lines - 2 : 2,
			   "quantizing and comparing", job_done(&st->job));
	w_status(v, w, NULL, NULL, hints, sizeof(hints) / sizeof(hints[0]));
	wattrset(w, env->attr[CR_NORMAL]);
	wmove(w, 0, 0);
}

/* The next (dir 1) or previous (-1) scheme that applies to the tensor. */
static void next_scheme(struct view *v, int dir)
{
	struct cmp_state *st = v->state;
	struct scheme_shape sh;
	size_t i = (size_t)(st->a.scheme - schemes);

	tensor_scheme_shape(st->t, &sh);
	for (size_t k = 1; k < nschemes; k++) {
		size_t j = (i + nschemes + (size_t)dir * k) % nschemes;

		if (!scheme_applies_to(&schemes[j], st->t->dtype, &sh)) {
			st->a.scheme = &schemes[j];
			break;
		}
	}
}

static enum view_effect cmp_act(struct view *v, enum action a)
{
	struct cmp_state *st = v->state;

	switch (a) {
	case ACT_LOG:
		st->log = !st->log;
		return VIEW_REDRAW;
	case ACT_FORMAT_NEXT:
	case ACT_FORMAT_PREV:
		next_scheme(v, a == ACT_FORMAT_NEXT ? 1 : -1);
		cmp_setup(v);
		cmp_poll(v);
		return VIEW_REDRAW;
	case ACT_OPEN:
	case ACT_EXPAND:
	case ACT_COMPARE:
		return VIEW_NONE;
	default:
		return VIEW_PASS;
	}
}

static const enum action cmp_actions[] = {
	ACT_LOG, ACT_FORMAT_NEXT, ACT_FORMAT_PREV, ACT_NONE,
};

const struct view_ops view_compare_ops = {
	.name = "compare",
	.state_size = sizeof(struct cmp_state),
	.enter = cmp_enter,
	.draw = cmp_draw,
	.act = cmp_act,
	.leave = cmp_leave,
	.poll = cmp_poll,
	.actions = cmp_actions,
};

const struct scheme *compare_default_scheme(const struct tensor *t)
{
	static const char *const names[] = { "q4_k", "int8", "f16" };
	struct scheme_shape sh;

	if (t->ndim > SCHEME_MAX_DIMS)
		return NULL;
	tensor_scheme_shape(t, &sh);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct scheme *s = scheme_find(names[i]);

		if (s && !scheme_applies_to(s, t->dtype, &sh))
			return s;
	}
	return NULL;
}
