/*
 * views/histogram.c - one tensor's values: a histogram across the width of
 * the terminal, its statistics beside it, and (r) the absmax of each row,
 * which shows the outlier channels that decide how well it quantizes.
 *
 *  model.layers.1.mlp.down_proj.weight  BF16 [512, 1376]  704.5K values
 *                                      ▁                 │ count   704512
 *                                     ▅█▃                │ min    -1.2e+05
 *                                    ▂███▂               │ ...
 *  └──────────────────────────────────┴──────────────────┘
 *  -0.12                              0              0.12
 *
 * Reading values is the worker's job (views/job.h): the screen shows a
 * progress bar until the result arrives, keys keep working, and leaving
 * the screen cancels the work.  Results are kept for the session per
 * tensor (and bin count), so coming back is instant.  Bins are exact
 * counts (quant/compute.h's compute_stats); each column of the plot shows
 * one bin, or the sum of the bins it covers when there are more bins than
 * columns.  The share beyond 6 sigma takes a second read of the values
 * (of their codes for BF16 and F16, counted, not decoded: compute_codes16),
 * which also counts the values a cast to float16 would turn into infinity
 * (|x| >= 65520): when the range comes within a factor 2 of float16's
 * largest value, +-65504 is marked on the axis and that count shown.
 * c opens the compare screen (views/compare.c) on the tensor.
 *
 * The same screen shows values that are not one tensor's, given as a
 * struct hist_source (views/histogram.h): the difference B - A of a pair
 * on the diff screen, with the pair's error figures above the statistics.
 * Such values are computed by the source's own job and kept while the
 * screen is open; rows and compare are a tensor's only.
 */
#include "views/view.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/model.h"
#include "quant/compute.h"
#include "quant/dtype.h"
#include "quant/grid.h"
#include "quant/schemes.h"
#include "quant/stats.h"
#include "views/compare.h"
#include "views/histogram.h"
#include "views/units.h"
#include "views/widgets.h"

/* Bin counts: the default follows the plot width; +/- double or halve. */
#define BINS_MIN	4
#define BINS_MAX	4096
/* The statistics panel on the right, when the terminal is wide enough. */
#define PANEL_W		30
#define PANEL_MIN_COLS	72
/* Rows of the window that are not plot: title, axis, labels, status. */
#define ROWS_ABOVE	2
#define ROWS_BELOW	3
/* Rows listed as the largest in the per-row view. */
#define TOP_ROWS	5

/* ---- results, kept for the session ---- */

struct values {
	unsigned nbins;		/* 0: none yet */
	struct hist_values hv;
};

struct rows {
	uint64_t n;		/* 0: none yet */
	float *absmax;		/* per row; NaN when a row has no finite value */
};

/*
 * Per tensor of the model last shown: one result of each kind.  The
 * memory stays reachable until exit (one model per session), like the
 * doctor's report.
 */
static struct {
	const struct model *m;
	struct values *values;
	struct rows *rows;
} cache;

static void cache_for(const struct model *m)
{
	if (cache.m == m)
		return;
	if (cache.values)
		for (size_t i = 0; i < cache.m->ntensors; i++) {
			hist_release(&cache.values[i].hv.h);
			free(cache.rows[i].absmax);
		}
	free(cache.values);
	free(cache.rows);
	cache.m = m;
	cache.values = calloc(m->ntensors ? m->ntensors : 1,
			      sizeof(*cache.values));
	cache.rows = calloc(m->ntensors ? m->ntensors : 1, sizeof(*cache.rows));
	if (!cache.values || !cache.rows) {
		free(cache.values);
		free(cache.rows);
		cache.values = NULL;
		cache.rows = NULL;
		cache.m = NULL;
	}
}

/* ---- the screen's state ---- */

struct hist_state {
	const struct hist_source *src;	/* what is shown */
	struct hist_source tsrc;	/* a tensor's (src points here) */
	const struct tensor *t;		/* NULL: another source */
	size_t index;		/* of t in the model */
	struct text title;
	int log, by_rows;
	unsigned bins;		/* asked for; 0: the plot's width */
	/* the values job: src, req_bins; writes out */
	struct job job;
	unsigned req_bins;
	struct values out;
	struct values own;	/* shown, when src is not a tensor's */
	/* the rows job */
	struct job rows_job;
	struct rows out_rows;
	uint64_t row_len;
	struct compare_arg cmp;	/* what c opens; outlives that screen */
	char err[256];
};

static void progress_cb(void *arg, double done)
{
	struct job *j = arg;

	job_progress(j, done);
}

/* What the second read counts, per thread. */
struct beyond_count {
	uint64_t beyond, over;
};

struct beyond_arg {
	struct tensor_reader *rd;
	double mean, lim;
	struct beyond_count *count;	/* per thread */
};

static int beyond_work(void *arg, const struct compute_chunk *c)
{
	struct beyond_arg *b = arg;
	float *x = c->scratch;
	uint64_t k = 0, over = 0;

	if (tensor_reader_read(b->rd, c->first, c->n, x) < 0)
		return -1;
	/* NaN compares false: not counted; infinities are not finite
	 * values, so they are not "beyond" the float16 range either */
	for (size_t i = 0; i < c->n; i++) {
		double a = fabs((double)x[i]);

		if (fabs((double)x[i] - b->mean) > b->lim && isfinite(a))
			k++;
		if (a >= GRID_F16_INF && isfinite(a))
			over++;
	}
	b->count[c->thread].beyond += k;
	b->count[c->thread].over += over;
	return 0;
}

/* Is the tensor's range near the float16 limit (within a factor 2)? */
static int f16_headroom(const struct vstats *vs)
{
	return vs->absmax >= GRID_F16_MAX / 2;
}

/* The counts past 6 std (lim) from mean and past float16 of a 16-bit
 * tensor, from its code counts: each distinct code looked at once. */
static int tail_codes(struct tensor_reader *rd, double mean, double lim,
		      const struct compute_ctl *ctl, struct hist_values *o)
{
	enum dtype dt = tensor_codes16(rd->t);
	struct compute_count *l;
	size_t nl;
	int rc = compute_codes16(tensor_reader_codes16, rd, rd->t->params,
				 ctl, &l, &nl);

	for (size_t i = 0; rc == 0 && i < nl; i++) {
		double x = code16_to_f32(dt, (uint16_t)l[i].key);

		if (!isfinite(x))
			continue;
		if (fabs(x - mean) > lim)
			o->beyond += l[i].n;
		if (fabs(x) >= GRID_F16_INF)
			o->f16_over += l[i].n;
	}
	if (rc == 0)
		free(l);
	return rc;
}

/* The same counts for any other tensor, from a second read of its
 * values. */
static int tail_values(struct tensor_reader *rd, double mean, double lim,
		       const struct compute_ctl *ctl, struct hist_values *o)
{
	struct beyond_arg b = { rd, mean, lim, NULL };
	struct compute_job cj = { rd->t->params, 0, 0, beyond_work, &b };
	unsigned nt;
	int rc;

	cj.scratch = compute_chunk_size(&cj) * sizeof(float);
	nt = compute_threads(&cj, ctl);
	b.count = calloc(nt, sizeof(*b.count));
	rc = b.count ? compute_run(&cj, ctl) : -1;
	for (unsigned i = 0; rc == 0 && i < nt; i++) {
		o->beyond += b.count[i].beyond;
		o->f16_over += b.count[i].over;
	}
	free(b.count);
	return rc;
}

/* A tensor's values, on the worker: statistics, histogram, then the
 * values beyond 6 std and past the float16 range. */
static int tensor_run(const void *ctx, unsigned nbins,
		      const struct compute_ctl *pctl, struct hist_values *o,
		      char *err, size_t errlen)
{
	const struct hist_state *st = ctx;
	struct tensor_reader rd;
	struct compute_ctl ctl = *pctl;
	struct err e = { "" };
	double sd;
	int rc;

	tensor_reader_init(&rd, cache.m, st->t);
	rc = tensor_stats(cache.m, st->t, nbins, &ctl, &o->vs, &o->h, &e);
	sd = vstats_std(&o->vs);
	if (rc == 0 && ((sd > 0 && isfinite(sd)) || f16_headroom(&o->vs))) {
		double mean = vstats_mean(&o->vs);
		double lim = sd > 0 && isfinite(sd) ? 6 * sd : INFINITY;

		ctl.progress = NULL;
		rc = tensor_codes16(st->t) != DT_NONE ?
			tail_codes(&rd, mean, lim, &ctl, o) :
			tail_values(&rd, mean, lim, &ctl, o);
	}
	o->tail = 1;
	if (rc < 0)
		snprintf(err, errlen, "%.250s",
			 e.msg[0] ? e.msg : rd.failed ? rd.e.msg : "out of memory");
	if (rc != 0)
		hist_release(&o->h);
	tensor_reader_release(&rd);
	return rc;
}

/* On the worker: the source's values. */
static int values_run(struct job *j)
{
	struct hist_state *st = j->arg;
	struct compute_ctl ctl = { 0, &j->cancel, progress_cb, j };
	struct values *o = &st->out;
	int rc;

	memset(o, 0, sizeof(*o));
	rc = st->src->run(st->src->ctx, st->req_bins, &ctl, &o->hv, j->err,
			  sizeof(j->err));
	if (rc == 0)
		o->nbins = st->req_bins;
	return rc;
}

struct rows_arg {
	struct tensor_reader *rd;
	uint64_t row_len;
	float *absmax;
};

static int rows_work(void *arg, const struct compute_chunk *c)
{
	struct rows_arg *r = arg;
	float *x = c->scratch;
	uint64_t row = c->first / r->row_len;

	/* chunks start on row boundaries; a row is read in pieces that fit
	 * the scratch buffer */
	for (uint64_t done = 0; done < c->n; row++) {
		uint64_t left = r->row_len;
		float mx = NAN;

		while (left > 0) {
			size_t n = left < COMPUTE_CHUNK ? (size_t)left :
				   COMPUTE_CHUNK;

			if (tensor_reader_read(r->rd, c->first + done, n, x) < 0)
				return -1;
			for (size_t i = 0; i < n; i++) {
				float a = fabsf(x[i]);

				if (isfinite(a) && !(a <= mx))
					mx = a;
			}
			done += n;
			left -= n;
		}
		r->absmax[row] = mx;
	}
	return 0;
}

/* On the worker: the absmax of every row. */
static int rows_run(struct job *j)
{
	struct hist_state *st = j->arg;
	struct tensor_reader rd;
	struct compute_ctl ctl = { 0, &j->cancel, progress_cb, j };
	uint64_t nrows = st->t->shape[0];
	struct rows_arg r = { &rd, st->row_len, NULL };
	struct compute_job cj = { st->t->params, st->row_len, 0, rows_work, &r };
	int rc;

	memset(&st->out_rows, 0, sizeof(st->out_rows));
	if (nrows > SIZE_MAX / sizeof(float))
		return -1;
	r.absmax = malloc(nrows * sizeof(float));
	if (!r.absmax) {
		snprintf(j->err, sizeof(j->err), "out of memory");
		return -1;
	}
	tensor_reader_init(&rd, cache.m, st->t);
	cj.scratch = COMPUTE_CHUNK * sizeof(float);
	rc = compute_run(&cj, &ctl);
	if (rc < 0)
		snprintf(j->err, sizeof(j->err), "%.250s",
			 rd.failed ? rd.e.msg : "out of memory");
	tensor_reader_release(&rd);
	if (rc != 0) {
		free(r.absmax);
		return rc;
	}
	st->out_rows.n = nrows;
	st->out_rows.absmax = r.absmax;
	return 0;
}

/* The result shown: the session's for a tensor, else the screen's own;
 * NULL when out of memory. */
static struct values *shown(struct hist_state *st)
{
	if (!st->t)
		return &st->own;
	return cache.values ? &cache.values[st->index] : NULL;
}

/* ---- geometry ---- */

static int panel_w(const struct view *v)
{
	return v->cols >= PANEL_MIN_COLS ? PANEL_W : 0;
}

static int plot_w(const struct view *v)
{
	int w = v->cols - 2 - (panel_w(v) ? panel_w(v) + 1 : 0);

	return w > 4 ? w : 4;
}

static int plot_h(const struct view *v)
{
	int h = v->lines - ROWS_ABOVE - ROWS_BELOW;

	/* without a panel, the statistics take lines below the plot */
	if (!panel_w(v))
		h -= 3;
	return h > 1 ? h : 1;
}

static unsigned bins_wanted(const struct view *v)
{
	const struct hist_state *st = v->state;

	return st->bins ? st->bins : (unsigned)plot_w(v);
}

/* ---- starting work and taking results ---- */

static void want_values(struct view *v)
{
	struct hist_state *st = v->state;
	unsigned nb = bins_wanted(v);
	enum job_state js = job_state(&st->job);

	if (!shown(st) || shown(st)->nbins == nb)
		return;
	if ((js == JOB_QUEUED || js == JOB_RUNNING) && st->req_bins == nb)
		return;
	v->env->job_stop(&st->job);
	if (job_state(&st->job) == JOB_DONE && st->job.result == 0)
		hist_release(&st->out.hv.h);	/* a result never taken */
	st->req_bins = nb;
	st->job.run = values_run;
	st->job.arg = st;
	st->err[0] = '\0';
	v->env->job_start(&st->job);
}

static void want_rows(struct view *v)
{
	struct hist_state *st = v->state;
	enum job_state js = job_state(&st->rows_job);

	if (!st->t || !cache.rows || cache.rows[st->index].n ||
	    js == JOB_QUEUED || js == JOB_RUNNING ||
	    (js == JOB_DONE && st->rows_job.result < 0))
		return;
	st->rows_job.run = rows_run;
	st->rows_job.arg = st;
	v->env->job_start(&st->rows_job);
}

static enum view_effect hist_poll(struct view *v)
{
	struct hist_state *st = v->state;
	enum view_effect eff = VIEW_NONE;

	if (!shown(st))
		return VIEW_NONE;
	if (job_state(&st->job) == JOB_DONE && st->job.run) {
		if (st->job.result == 0) {
			struct values *c = shown(st);

			hist_release(&c->hv.h);
			*c = st->out;	/* the cache owns the bins now */
			memset(&st->out, 0, sizeof(st->out));
		} else if (st->job.result < 0) {
			snprintf(st->err, sizeof(st->err), "%s", st->job.err);
		}
		st->job.run = NULL;	/* taken */
		eff = VIEW_REDRAW;
	}
	if (job_state(&st->rows_job) == JOB_DONE && st->rows_job.run) {
		if (st->rows_job.result == 0) {
			free(cache.rows[st->index].absmax);
			cache.rows[st->index] = st->out_rows;
			memset(&st->out_rows, 0, sizeof(st->out_rows));
		} else if (st->rows_job.result < 0) {
			snprintf(st->err, sizeof(st->err), "%s",
				 st->rows_job.err);
		}
		st->rows_job.run = NULL;
		eff = VIEW_REDRAW;
	}
	/* the wanted bins follow the width: a resize may ask for more */
	if (!st->err[0]) {
		if (st->by_rows)
			want_rows(v);
		else
			want_values(v);
	}
	return eff;
}

/* ---- enter / leave ---- */

/* Both entries: the title from src, then the first job. */
static int hist_open(struct view *v, const struct hist_source *src,
		     struct err *e)
{
	struct hist_state *st = v->state;

	st->src = src;
	if (text_make(&st->title, src->title ? src->title : "",
		      v->env->ascii) < 0) {
		err_set(e, "out of memory");
		return -1;
	}
	hist_poll(v);
	return 0;
}

static int hist_enter(struct view *v, const struct model *m, struct err *e)
{
	struct hist_state *st = v->state;
	char shape[128], count[16], buf[512];
	const struct tensor *t = v->arg;

	cache_for(m);
	if (!t || !cache.values) {
		err_set(e, "out of memory");
		return -1;
	}
	st->t = t;
	st->index = (size_t)(t - m->tensors);
	st->row_len = t->ndim >= 2 && t->shape[0] ? t->params / t->shape[0] : 0;
	tensor_shape_str(t, shape, sizeof(shape));
	units_count(t->params, count, sizeof(count));
	snprintf(buf, sizeof(buf), "%s  %s %s  %s values", t->name ? t->name : "",
		 tensor_type_name(t), shape, count);
	st->tsrc.title = buf;	/* read by hist_open() only */
	st->tsrc.what = "values";
	st->tsrc.reading = "reading values";
	st->tsrc.zeros = "zeros";
	st->tsrc.run = tensor_run;
	st->tsrc.ctx = st;
	return hist_open(v, &st->tsrc, e);
}

static int source_enter(struct view *v, const struct model *m, struct err *e)
{
	const struct hist_source *src = v->arg;

	(void)m;
	if (!src || !src->run) {
		err_set(e, "histogram: no values given");
		return -1;
	}
	return hist_open(v, src, e);
}

static void hist_leave(struct view *v)
{
	struct hist_state *st = v->state;

	v->env->job_stop(&st->job);
	v->env->job_stop(&st->rows_job);
	if (job_state(&st->job) == JOB_DONE && st->job.run &&
	    st->job.result == 0)
		hist_release(&st->out.hv.h);
	hist_release(&st->own.hv.h);
	if (job_state(&st->rows_job) == JOB_DONE && st->rows_job.run &&
	    st->rows_job.result == 0)
		free(st->out_rows.absmax);
	text_release(&st->title);
}

/* ---- drawing ---- */

/* The statistics: beside the plot, or under it on narrow terminals. */
static void draw_panel(const struct view *v, WINDOW *w, const char (*lines)[64],
		       int n)
{
	int pw = panel_w(v), y0 = ROWS_ABOVE + plot_h(v) + 2;

	if (!pw) {
		w_flow(v, w, y0, v->lines - 1 - y0, lines, n, 3);
		return;
	}
	wattrset(w, v->env->attr[CR_NORMAL]);
	for (int i = 0; i < n && ROWS_ABOVE + i < v->lines - 1; i++)
		mvwaddnstr(w, ROWS_ABOVE + i, v->cols - pw, lines[i], pw - 1);
}

/*
 * The float16 limit on the axis: '|' at +-65504 where it lies inside the
 * range.  Beyond it (from 65520 on) a cast to float16 gives infinity.
 */
static void f16_marks(const struct view *v, WINDOW *w, int y,
		      const struct histogram *h)
{
	int width = plot_w(v);
	struct w_mark m[2];

	for (int k = 0; k < 2; k++) {
		m[k].col = grid_column(h->lo, h->hi, width,
				       (k ? 1 : -1) * GRID_F16_MAX);
		m[k].ch = '|';
		m[k].role = CR_WARNING;
	}
	w_axis_marks(w, v->env, y, 1, width, m, 2);
}

/* "label   figure" into the next line of the panel. */
#define LINE(...) snprintf(lines[n++], 64, __VA_ARGS__)

static void draw_values(const struct view *v, WINDOW *w)
{
	struct hist_state *st = v->state;
	const struct hist_values *r = &shown(st)->hv;
	const struct histogram *h = &r->h;
	const struct vstats *vs = &r->vs;
	int width = plot_w(v), height = plot_h(v), n = 0;
	char lines[HIST_FIGS + 13][64], a[24];
	uint64_t finite = vs->count - vs->nan - vs->inf;

	w_hist_plot(w, v->env, ROWS_ABOVE, 1, h, width, height, st->log);
	w_hist_axis(w, v->env, ROWS_ABOVE + height, 1, width, h);
	if (r->tail && f16_headroom(vs))
		f16_marks(v, w, ROWS_ABOVE + height, h);

	for (int i = 0; i < r->nfigs && i < HIST_FIGS; i++)
		LINE("%s", r->figs[i]);
	LINE("count   %llu", (unsigned long long)vs->count);
	w_num(vs->min, a, sizeof(a));
	LINE("min     %s", a);
	w_num(vs->max, a, sizeof(a));
	LINE("max     %s", a);
	w_num(vstats_mean(vs), a, sizeof(a));
	LINE("mean    %s", a);
	w_num(vstats_std(vs), a, sizeof(a));
	LINE("std     %s", a);
	w_num(vs->absmax, a, sizeof(a));
	LINE("absmax  %s", a);
	LINE("%-7s %llu (%.2f%%)", st->src->zeros ? st->src->zeros : "zeros",
	     (unsigned long long)vs->zeros,
	     vs->count ? 100.0 * (double)vs->zeros / (double)vs->count : 0);
	LINE("NaN     %llu", (unsigned long long)vs->nan);
	LINE("Inf     %llu", (unsigned long long)vs->inf);
	if (r->tail)
		LINE(">6 std  %llu (%.4f%%)", (unsigned long long)r->beyond,
		     finite ? 100.0 * (double)r->beyond / (double)finite : 0);
	if (r->tail && f16_headroom(vs))
		LINE("f16 inf %llu (|x| >= 65520)",
		     (unsigned long long)r->f16_over);
	LINE("bins    %u%s", h->nbins, st->log ? ", log count" : "");
	w_num(h->nbins ? (h->hi - h->lo) / h->nbins : 0, a, sizeof(a));
	LINE("width   %s", a);
	draw_panel(v, w, (const char (*)[64])lines, n);
}

#undef LINE

static int cmp_float_desc(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

static void draw_rows(const struct view *v, WINDOW *w)
{
	struct hist_state *st = v->state;
	const struct rows *r = &cache.rows[st->index];
	int width = plot_w(v), height = plot_h(v), n = 0;
	char lines[12][64], a[24], hi[32];
	double *col = calloc((size_t)width, sizeof(double));
	float *sorted = malloc(r->n * sizeof(float));
	double median;
	uint64_t nf = 0, top[TOP_ROWS];

	if (!col || !sorted) {
		free(col);
		free(sorted);
		return;
	}
	/* a column shows the largest absmax of the rows it covers */
	for (int c = 0; c < width; c++) {
		uint64_t r0 = (uint64_t)c * r->n / (uint64_t)width;
		uint64_t r1 = (uint64_t)(c + 1) * r->n / (uint64_t)width;

		if (r1 <= r0)
			r1 = r0 + 1;
		for (uint64_t k = r0; k < r1 && k < r->n; k++)
			if (r->absmax[k] > col[c])
				col[c] = r->absmax[k];
	}
	w_plot(w, v->env, ROWS_ABOVE, 1, col, width, height, st->log);
	free(col);
	snprintf(hi, sizeof(hi), "row %llu", (unsigned long long)(r->n - 1));
	w_axis(w, v->env, ROWS_ABOVE + plot_h(v), 1, width, -1, "row 0", NULL,
	       hi);

	for (uint64_t k = 0; k < r->n; k++)
		if (!isnan(r->absmax[k]))
			sorted[nf++] = r->absmax[k];
	qsort(sorted, nf, sizeof(float), cmp_float_desc);
	median = nf ? sorted[nf / 2] : NAN;
	snprintf(lines[n++], 64, "rows    %llu x %llu",
		 (unsigned long long)r->n, (unsigned long long)st->row_len);
	w_num(median, a, sizeof(a));
	snprintf(lines[n++], 64, "median  %s", a);
	w_num(nf ? sorted[0] : NAN, a, sizeof(a));
	snprintf(lines[n++], 64, "max     %s", a);
	if (nf && median > 0)
		snprintf(lines[n++], 64, "max     %.3gx the median",
			 sorted[0] / median);
	snprintf(lines[n++], 64, "largest rows:");
	for (int k = 0; k < TOP_ROWS; k++) {
		uint64_t best = r->n;

		/* the k-th largest: the largest below (or equal and after)
		 * the previous one; a handful of passes over the rows */
		for (uint64_t i = 0; i < r->n; i++) {
			float x = r->absmax[i];
			int listed = 0;

			if (isnan(x))
				continue;
			for (int q = 0; q < k && !listed; q++)
				listed = top[q] == i;
			if (listed)
				continue;
			if (best == r->n || x > r->absmax[best])
				best = i;
		}
		if (best == r->n)
			break;
		top[k] = best;
		w_num(r->absmax[best], a, sizeof(a));
		if (median > 0)
			snprintf(lines[n++], 64, "  %-7llu %-9s %.3gx",
				 (unsigned long long)best, a,
				 r->absmax[best] / median);
		else
			snprintf(lines[n++], 64, "  %-7llu %s",
				 (unsigned long long)best, a);
	}
	free(sorted);
	draw_panel(v, w, lines, n);
}

static void hist_draw(const struct view *v, WINDOW *w)
{
	static const struct w_hint tensor_hints[] = {
		{ ACT_LOG, "log" },
		{ ACT_ROWS, "rows" },
		{ ACT_BINS_MORE, "bins" },
		{ ACT_COMPARE, "compare" },
		{ ACT_BACK, "back" },
		{ ACT_HELP, "help" },
	}, hints[] = {
		{ ACT_LOG, "log" },
		{ ACT_BINS_MORE, "bins" },
		{ ACT_BACK, "back" },
		{ ACT_HELP, "help" },
	};
	struct hist_state *st = v->state;
	const struct view_env *env = v->env;
	struct job *j = st->by_rows ? &st->rows_job : &st->job;
	int have = shown(st) && (st->by_rows ? cache.rows[st->index].n > 0 :
				 shown(st)->nbins > 0);
	char mode[64];

	w_title_text(v, w, &st->title);
	wattrset(w, env->attr[CR_COLUMNS]);
	mvwhline(w, 1, 0, ' ', v->cols);
	snprintf(mode, sizeof(mode), "%s%s",
		 st->by_rows ? "absmax of each row" : st->src->what,
		 st->log ? ", log scale" : "");
	mvwaddnstr(w, 1, 1, mode, v->cols - 2);

	if (st->err[0]) {
		w_message(v, w, ROWS_ABOVE, CR_WARNING, st->err);
	} else if (st->by_rows && st->row_len == 0) {
		wattrset(w, env->attr[CR_NORMAL]);
		mvwaddnstr(w, ROWS_ABOVE, 1,
			   "a tensor of fewer than 2 dimensions has no rows",
			   v->cols - 2);
	} else if (have) {
		if (st->by_rows)
			draw_rows(v, w);
		else
			draw_values(v, w);
	}
	/* a result being computed: the old one stays, a bar shows progress */
	if (!st->err[0] && (job_state(j) == JOB_QUEUED ||
			    job_state(j) == JOB_RUNNING))
		w_progress(v, w, have ? v->lines - 2 : ROWS_ABOVE + 1,
			   st->by_rows ? "reading rows" : st->src->reading,
			   job_done(j));
	if (st->t)
		w_status(v, w, NULL, NULL, tensor_hints,
			 sizeof(tensor_hints) / sizeof(tensor_hints[0]));
	else
		w_status(v, w, NULL, NULL, hints,
			 sizeof(hints) / sizeof(hints[0]));
	wattrset(w, env->attr[CR_NORMAL]);
	wmove(w, 0, 0);
}

/* Open the compare screen for this tensor: q4_k where it applies, else
 * int8 (the compare screen says why when that does not apply either). */
static enum view_effect compare_push(struct view *v)
{
	struct hist_state *st = v->state;
	const struct scheme *s = compare_default_scheme(st->t);

	if (!s)
		return VIEW_NONE;
	st->cmp.m = cache.m;
	st->cmp.tensor = st->index;
	st->cmp.scheme = s;
	v->push_ops = &view_compare_ops;
	v->push_arg = &st->cmp;
	return VIEW_PUSH;
}

static enum view_effect hist_act(struct view *v, enum action a)
{
	struct hist_state *st = v->state;
	unsigned nb = bins_wanted(v);

	switch (a) {
	case ACT_LOG:
		st->log = !st->log;
		return VIEW_REDRAW;
	case ACT_ROWS:
		if (!st->t)
			return VIEW_NONE;
		st->by_rows = !st->by_rows;
		hist_poll(v);
		return VIEW_REDRAW;
	case ACT_BINS_MORE:
	case ACT_BINS_LESS:
		if (st->by_rows)
			return VIEW_NONE;
		nb = a == ACT_BINS_MORE ? nb * 2 : nb / 2;
		if (nb < BINS_MIN)
			nb = BINS_MIN;
		if (nb > BINS_MAX)
			nb = BINS_MAX;
		st->bins = nb;
		hist_poll(v);
		return VIEW_REDRAW;
	case ACT_COMPARE:
		return st->t ? compare_push(v) : VIEW_NONE;
	case ACT_OPEN:
	case ACT_EXPAND:
		return VIEW_NONE;
	default:
		return VIEW_PASS;
	}
}

static const enum action hist_actions[] = {
	ACT_LOG, ACT_BINS_MORE, ACT_BINS_LESS, ACT_ROWS, ACT_COMPARE,
	ACT_NONE,
};

const struct view_ops view_histogram_ops = {
	.name = "histogram",
	.state_size = sizeof(struct hist_state),
	.enter = hist_enter,
	.draw = hist_draw,
	.act = hist_act,
	.leave = hist_leave,
	.poll = hist_poll,
	.actions = hist_actions,
};

/* Values that are not a tensor's: no rows, nothing to compare. */
static const enum action source_actions[] = {
	ACT_LOG, ACT_BINS_MORE, ACT_BINS_LESS, ACT_NONE,
};

const struct view_ops view_histogram_of_ops = {
	.name = "histogram",
	.state_size = sizeof(struct hist_state),
	.enter = source_enter,
	.draw = hist_draw,
	.act = hist_act,
	.leave = hist_leave,
	.poll = hist_poll,
	.actions = source_actions,
};
