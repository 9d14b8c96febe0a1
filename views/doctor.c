/*
 * views/doctor.c - the dtype doctor: findings over a whole model
 * (doctor_report_build(), shared with `qscope check`) and the `d` screen
 * that lists them by severity.
 *
 * The examination runs once per session on the background worker
 * (doctor_session_*): the tensor tree starts it when its own work is done,
 * to mark the tensors with findings, and the screen shows its progress
 * when opened before the end, then the result, kept for the rest of the
 * session.  The view API has no way to hand a selection back to the
 * tensor table, so the list is only a list.
 */
#include "views/doctor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "views/view.h"
#include "views/widgets.h"

const char *doctor_severity_name(enum doctor_severity s)
{
	switch (s) {
	case DOCTOR_ERROR:
		return "error";
	case DOCTOR_WARNING:
		return "warning";
	default:
		return "info";
	}
}

/* ---- the report ---- */

static struct doctor_finding *add(struct doctor_report *r,
				  const struct tensor *t, const char *kind,
				  enum doctor_severity s)
{
	struct doctor_finding *f;

	if (r->n == r->alloc) {
		r->alloc = r->alloc ? 2 * r->alloc : 16;
		r->f = xrealloc(r->f, r->alloc * sizeof(*r->f));
	}
	f = &r->f[r->n++];
	memset(f, 0, sizeof(*f));
	f->tensor = t;
	f->kind = kind;
	f->severity = s;
	f->counts = json_object();
	if (!f->counts) {
		fprintf(stderr, "qscope: out of memory\n");
		exit(2);
	}
	if (s == DOCTOR_ERROR)
		r->errors++;
	else if (s == DOCTOR_WARNING)
		r->warnings++;
	return f;
}

static void put_u(json_t *o, const char *k, uint64_t v)
{
	json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void put_d(json_t *o, const char *k, double v)
{
	json_object_set_new(o, k, isfinite(v) ? json_real(v) : json_null());
}

static int is_plain_float(enum dtype d)
{
	return d == DT_F64 || d == DT_F32 || d == DT_F16 || d == DT_BF16 ||
	       d == DT_F8_E4M3 || d == DT_F8_E5M2;
}

static void cast_finding(struct doctor_report *r, const struct tensor *t,
			 enum doctor_cast c, const struct doctor_acc *a)
{
	enum doctor_verdict v = doctor_verdict(a, c);
	struct doctor_finding *f;
	double re = doctor_rel_err(a);
	char more[160] = "";
	size_t k = 0;

	if (v == DOCTOR_SAFE)
		return;
	f = add(r, t, "cast", v == DOCTOR_BREAKS ? DOCTOR_ERROR : DOCTOR_WARNING);
	if (a->overflow)
		k += (size_t)snprintf(more + k, sizeof(more) - k,
				      ", %llu overflow to %s",
				      (unsigned long long)a->overflow,
				      c == DOCTOR_CAST_E4M3 ? "nan" : "inf");
	if (a->flushed && k < sizeof(more))
		k += (size_t)snprintf(more + k, sizeof(more) - k,
				      ", %llu flushed to zero",
				      (unsigned long long)a->flushed);
	if (a->subnormal && k < sizeof(more))
		k += (size_t)snprintf(more + k, sizeof(more) - k,
				      ", %llu subnormal",
				      (unsigned long long)a->subnormal);
	snprintf(f->detail, sizeof(f->detail), "%s -> %s %s%s, rel err %.3g",
		 dtype_get(t->dtype)->name, doctor_cast_dtype(c),
		 doctor_verdict_name(v), more, re);
	json_object_set_new(f->counts, "cast",
			    json_string(doctor_cast_name(c)));
	json_object_set_new(f->counts, "verdict",
			    json_string(doctor_verdict_name(v)));
	put_u(f->counts, "values", a->count);
	put_u(f->counts, "nonzero", a->nonzero);
	put_u(f->counts, "overflow", a->overflow);
	put_u(f->counts, "flushed", a->flushed);
	put_u(f->counts, "subnormal", a->subnormal);
	put_u(f->counts, "nan", a->nan);
	put_u(f->counts, "inf", a->inf);
	put_d(f->counts, "rel_err", re);
	put_d(f->counts, "absmax", a->absmax);
}

static void tensor_findings(struct doctor_report *r, const struct tensor *t,
			    int cast, enum doctor_cast c,
			    const struct doctor_acc *a)
{
	enum dtype other;
	double conf;

	other = doctor_mislabel(a, t->dtype, &conf);
	if (other != DT_NONE) {
		struct doctor_finding *f = add(r, t, "mislabel", DOCTOR_ERROR);
		const struct doctor_reading *lab, *oth;

		lab = t->dtype == DT_F16 ? &a->as_f16 : &a->as_bf16;
		oth = t->dtype == DT_F16 ? &a->as_bf16 : &a->as_f16;
		snprintf(f->detail, sizeof(f->detail),
			 "header says %s but the bytes read as %s "
			 "(confidence %.2f)", dtype_get(t->dtype)->name,
			 dtype_get(other)->name, conf);
		json_object_set_new(f->counts, "labelled",
				    json_string(dtype_get(t->dtype)->name));
		json_object_set_new(f->counts, "plausible",
				    json_string(dtype_get(other)->name));
		put_d(f->counts, "confidence", conf);
		put_d(f->counts, "plausibility_labelled",
		      doctor_plausibility(lab, a->count));
		put_d(f->counts, "plausibility_other",
		      doctor_plausibility(oth, a->count));
		put_d(f->counts, "spread_labelled", doctor_spread(lab));
		put_d(f->counts, "spread_other", doctor_spread(oth));
	}
	if (cast >= 0)
		cast_finding(r, t, c, a);
	if (a->nan || a->inf) {
		struct doctor_finding *f = add(r, t, "nonfinite",
					       DOCTOR_WARNING);

		snprintf(f->detail, sizeof(f->detail),
			 "stored values hold %llu NaN and %llu inf",
			 (unsigned long long)a->nan,
			 (unsigned long long)a->inf);
		put_u(f->counts, "nan", a->nan);
		put_u(f->counts, "inf", a->inf);
	}
	if (a->absmax >= DOCTOR_HEADROOM && a->absmax <= 65504.0 &&
	    (t->dtype == DT_F16 || (cast >= 0 && c == DOCTOR_CAST_F16))) {
		struct doctor_finding *f = add(r, t, "headroom",
					       DOCTOR_WARNING);

		snprintf(f->detail, sizeof(f->detail),
			 "absmax %g is within a factor of 2 of FP16's 65504",
			 a->absmax);
		put_d(f->counts, "absmax", a->absmax);
	}
}

/* config.json's torch_dtype and GGUF's general.file_type. */
static void meta_findings(const struct model *m, struct doctor_report *r)
{
	uint64_t *params = xcalloc(DT_COUNT, sizeof(*params));

	for (size_t i = 0; i < m->ntensors; i++)
		if (m->tensors[i].ndim >= 2 && m->tensors[i].dtype < DT_COUNT)
			params[m->tensors[i].dtype] += m->tensors[i].params;
	for (size_t i = 0; i < m->nmeta; i++) {
		const struct meta *e = &m->meta[i];
		enum dtype declared = DT_NONE, main;
		const char *what = NULL;
		char said[64] = "";
		struct doctor_finding *f;

		if (strcmp(e->key, "config.json") == 0 && json_is_object(e->value)) {
			json_t *v = json_object_get(e->value, "torch_dtype");

			if (!json_is_string(v))
				v = json_object_get(e->value, "dtype");
			if (!json_is_string(v))
				continue;
			declared = doctor_torch_dtype(json_string_value(v));
			what = "config.json torch_dtype";
			snprintf(said, sizeof(said), "'%.40s'",
				 json_string_value(v));
		} else if (strcmp(e->key, "general.file_type") == 0 &&
			   json_is_integer(e->value)) {
			json_int_t ft = json_integer_value(e->value);

			declared = doctor_gguf_ftype((long)ft);
			what = "general.file_type";
			snprintf(said, sizeof(said), "%lld (%s)", (long long)ft,
				 dtype_get(declared)->name);
		} else {
			continue;
		}
		if (!doctor_dtype_mismatch(declared, params, &main))
			continue;
		f = add(r, NULL, "config", DOCTOR_WARNING);
		snprintf(f->detail, sizeof(f->detail),
			 "%s says %s but the matrices are stored as %s", what,
			 said, dtype_get(main)->name);
		json_object_set_new(f->counts, "key", json_string(what));
		json_object_set_new(f->counts, "declared",
				    json_string(dtype_get(declared)->name));
		json_object_set_new(f->counts, "stored",
				    json_string(dtype_get(main)->name));
	}
	free(params);
}

static int by_severity(const void *a, const void *b)
{
	const struct doctor_finding *x = a, *y = b;

	if (x->severity != y->severity)
		return x->severity > y->severity ? -1 : 1;
	/* stable: model-level first, then tensor order */
	if (x->tensor != y->tensor) {
		if (!x->tensor || !y->tensor)
			return x->tensor ? 1 : -1;
		return x->tensor < y->tensor ? -1 : 1;
	}
	return x < y ? -1 : x > y;
}

/*
 * Examine tensor i of m into r (cast as doctor_report_build() says).
 * 0 (also for a tensor that is not checked), 1 when *cancel was set, -1
 * with e filled when it cannot be read.
 */
static int examine(const struct model *m, size_t i, int cast,
		   volatile int *cancel, struct doctor_report *r,
		   struct err *e)
{
	const struct tensor *t = &m->tensors[i];
	struct compute_ctl ctl = { 0, cancel, NULL, NULL };
	enum doctor_cast c;
	struct doctor_acc a;
	struct tensor_reader rd;
	int use = cast, rc;

	if (!is_plain_float(t->dtype) || !dtype_get(t->dtype)->decode)
		return 0;
	if (use < 0)
		use = t->dtype == DT_F16 ? DOCTOR_CAST_BF16 : DOCTOR_CAST_F16;
	c = (enum doctor_cast)use;
	if (doctor_cast_target(c) == t->dtype)
		use = -1;	/* nothing to cast; still checked */
	tensor_reader_init(&rd, m, t);
	if (tensor_codes16(t) != DT_NONE)
		rc = doctor_tensor16(tensor_reader_codes16, &rd, t->params,
				     t->dtype, c, &ctl, &a);
	else
		rc = doctor_tensor(tensor_reader_read, &rd, t->params,
				   t->dtype, c, &ctl, &a);
	tensor_reader_release(&rd);
	if (rc == 1)
		return 1;
	if (rc) {
		if (rd.failed)
			err_set(e, "'%s': %s", m->path, rd.e.msg);
		else
			err_set(e, "'%s': tensor '%s': out of memory",
				m->path, t->name);
		return -1;
	}
	r->checked++;
	tensor_findings(r, t, use, c, &a);
	return 0;
}

static void finish(struct doctor_report *r)
{
	if (r->n > 1)
		qsort(r->f, r->n, sizeof(*r->f), by_severity);
}

int doctor_report_build(const struct model *m, int cast,
			doctor_progress_fn *progress, void *arg,
			struct doctor_report *r, struct err *e)
{
	memset(r, 0, sizeof(*r));
	meta_findings(m, r);
	for (size_t i = 0; i < m->ntensors; i++) {
		if (progress && progress(arg, i, m->ntensors)) {
			doctor_report_release(r);
			return 1;
		}
		if (examine(m, i, cast, NULL, r, e) < 0) {
			doctor_report_release(r);
			return -1;
		}
	}
	if (progress)
		progress(arg, m->ntensors, m->ntensors);	/* too late to stop */
	finish(r);
	return 0;
}

void doctor_report_release(struct doctor_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		json_decref(r->f[i].counts);
	free(r->f);
	memset(r, 0, sizeof(*r));
}

/* ---- the session's report, shared by the screen and the tree ---- */

/*
 * One examination per session (one model per session): its job, the
 * report built so far and how far it got, so that a run stopped to give
 * the worker to other work resumes where it was.  Only the UI thread
 * touches it, but for run() on the worker while the job is queued or
 * running.
 */
static struct {
	const struct model *m;
	struct job job;
	struct doctor_report r;	/* complete once valid */
	size_t next;		/* the next tensor to examine */
	int began;		/* the metadata findings are in r */
	int valid, failed;
	int ours;		/* the last stop was doctor_session_stop()'s */
	int halted;		/* stopped by someone else (Ctrl-C) */
	struct err e;
} sess;

static int session_run(struct job *j)
{
	const struct model *m = sess.m;

	(void)j;
	if (!sess.began) {
		meta_findings(m, &sess.r);
		sess.began = 1;
	}
	for (; sess.next < m->ntensors; sess.next++) {
		int rc;

		job_progress(&sess.job, (double)sess.next / (double)m->ntensors);
		if (job_cancelled(&sess.job))
			return 1;
		rc = examine(m, sess.next, -1, &sess.job.cancel, &sess.r,
			     &sess.e);
		if (rc)
			return rc;
	}
	finish(&sess.r);
	return 0;
}

/* Take the result of a run that ended; 1 if something became known. */
static int session_take(void)
{
	int rc;

	if (!sess.job.run || job_state(&sess.job) != JOB_DONE)
		return 0;
	rc = sess.job.result;
	sess.job.run = NULL;
	if (rc == 0) {
		sess.valid = 1;
	} else if (rc < 0) {
		doctor_report_release(&sess.r);
		sess.failed = 1;
	} else if (!sess.ours) {
		sess.halted = 1;	/* the person stopped the work */
	}
	return rc <= 0;
}

/* Forget the report of another model. */
static void session_for(const struct model *m)
{
	if (sess.m == m)
		return;
	doctor_report_release(&sess.r);
	memset(&sess, 0, sizeof(sess));
	sess.m = m;
}

int doctor_session_start(const struct model *m, const struct view_env *env,
			 int asked)
{
	if (sess.m != m && sess.job.run)
		return 0;	/* another model's run is out: never mixed */
	session_for(m);
	session_take();
	if (sess.valid || sess.failed)
		return 0;
	if (sess.job.run)
		return 1;
	if (sess.halted && !asked)
		return 0;
	sess.halted = 0;
	sess.ours = 0;
	sess.job.run = session_run;
	sess.job.arg = NULL;
	env->job_start(&sess.job);
	return 1;
}

void doctor_session_stop(const struct view_env *env)
{
	if (!sess.job.run)
		return;
	sess.ours = 1;
	env->job_stop(&sess.job);
	if (job_state(&sess.job) != JOB_DONE)
		sess.job.run = NULL;	/* dropped before it ran */
	session_take();
}

int doctor_session_poll(void)
{
	return session_take();
}

const struct doctor_report *doctor_session_report(const struct model *m)
{
	return sess.m == m && sess.valid ? &sess.r : NULL;
}

/* ---- the screen ---- */

/* Rows above and below the list: title, column titles / status line. */
#define ROWS_ABOVE	2
#define ROWS_BELOW	1

struct doctor_state {
	struct view_list list;
};

static size_t page_rows(const struct view *v)
{
	int n = v->lines - ROWS_ABOVE - ROWS_BELOW;

	return n > 1 ? (size_t)n : 1;
}

/* Draw s (sanitized UTF-8) at y, x in at most maxw columns. */
static void put_text(const struct view *v, WINDOW *w, int y, int x,
		     const char *s, int maxw)
{
	struct text t;

	if (maxw <= 0 || text_make(&t, s, v->env->ascii) < 0)
		return;
	wmove(w, y, x);
	w_text(w, v->env, &t, t.width < maxw ? t.width : maxw, CROP_END, 0);
	text_release(&t);
}

static enum view_effect doctor_poll(struct view *v)
{
	(void)v;
	return doctor_session_poll() ? VIEW_REDRAW : VIEW_NONE;
}

static int doctor_enter(struct view *v, const struct model *m, struct err *e)
{
	(void)e;
	doctor_session_start(m, v->env, 1);
	return 0;
}

static void doctor_leave(struct view *v)
{
	/* leaving before the end stops the work (what is done is kept, and
	 * the tensor tree resumes it when its own work is done) */
	doctor_session_stop(v->env);
}

static void draw_title(const struct view *v, WINDOW *w)
{
	char line[256];

	wattrset(w, v->env->attr[CR_TITLE]);
	mvwhline(w, 0, 0, ' ', v->cols);
	if (sess.valid)
		snprintf(line, sizeof(line),
			 "dtype doctor  %zu error%s, %zu warning%s, %zu tensors "
			 "checked", sess.r.errors, sess.r.errors == 1 ? "" : "s",
			 sess.r.warnings, sess.r.warnings == 1 ? "" : "s",
			 sess.r.checked);
	else
		snprintf(line, sizeof(line), "dtype doctor");
	mvwaddnstr(w, 0, 1, line, v->cols - 2);
}

static void doctor_draw(const struct view *v, WINDOW *w)
{
	struct doctor_state *st = v->state;
	size_t page = page_rows(v);
	char buf[128];
	int name_w;

	draw_title(v, w);
	if (!sess.valid && !sess.failed) {
		char label[64];

		snprintf(label, sizeof(label), "checking %zu tensors",
			 v->model->ntensors);
		w_progress(v, w, ROWS_ABOVE, label, job_done(&sess.job));
		wattrset(w, v->env->attr[CR_NORMAL]);
		mvwaddnstr(w, ROWS_ABOVE + 2, 1,
			   "every value is read once; Esc stops", v->cols - 2);
		return;
	}
	if (sess.failed) {
		wattrset(w, v->env->attr[CR_WARNING]);
		put_text(v, w, ROWS_ABOVE, 1, sess.e.msg, v->cols - 2);
		return;
	}
	st->list.n = sess.r.n;
	view_list_clamp(&st->list, page);

	wattrset(w, v->env->attr[CR_COLUMNS]);
	mvwhline(w, 1, 0, ' ', v->cols);
	/* the longest name, within [16, half the width] */
	name_w = 6;
	for (size_t i = 0; i < sess.r.n; i++) {
		const struct tensor *t = sess.r.f[i].tensor;
		int l = t ? (int)strlen(t->name) : 7;

		name_w = l > name_w ? l : name_w;
	}
	if (name_w > v->cols / 2)
		name_w = v->cols / 2;
	if (name_w < 16)
		name_w = 16;
	mvwaddnstr(w, 1, 1, "SEVERITY KIND      TENSOR", v->cols - 2);
	if (20 + name_w + 2 < v->cols)
		mvwaddnstr(w, 1, 20 + name_w + 2, "DETAIL",
			   v->cols - (20 + name_w + 2));

	wattrset(w, v->env->attr[CR_NORMAL]);
	if (sess.r.n == 0)
		mvwaddnstr(w, ROWS_ABOVE, 1,
			   "no findings: every cast is safe and every dtype "
			   "matches", v->cols - 2);
	for (size_t i = st->list.top; i < sess.r.n && i - st->list.top < page;
	     i++) {
		const struct doctor_finding *f = &sess.r.f[i];
		int y = ROWS_ABOVE + (int)(i - st->list.top);
		int sel = i == st->list.sel;
		attr_t at = v->env->attr[sel ? CR_SELECTED :
			f->severity == DOCTOR_ERROR ? CR_WARNING : CR_NORMAL];

		wattrset(w, at);
		mvwhline(w, y, 0, ' ', v->cols);
		/* upper case for errors: the word says it without colour */
		snprintf(buf, sizeof(buf), "%-8s %-9s",
			 f->severity == DOCTOR_ERROR ? "ERROR" :
			 doctor_severity_name(f->severity), f->kind);
		mvwaddnstr(w, y, 1, buf, v->cols - 2);
		put_text(v, w, y, 20, f->tensor ? f->tensor->name : "(model)",
			 name_w < v->cols - 21 ? name_w : v->cols - 21);
		if (20 + name_w + 2 < v->cols - 1)
			put_text(v, w, y, 20 + name_w + 2, f->detail,
				 v->cols - (20 + name_w + 3));
	}

	wattrset(w, v->env->attr[CR_STATUS]);
	mvwhline(w, v->lines - 1, 0, ' ', v->cols);
	{
		char keys[64], help[64];

		snprintf(buf, sizeof(buf), "%zu/%zu  %s back  %s help",
			 sess.r.n ? st->list.sel + 1 : 0, sess.r.n,
			 v->env->keys(ACT_QUIT, 1, keys, sizeof(keys)),
			 v->env->keys(ACT_HELP, 1, help, sizeof(help)));
		mvwaddnstr(w, v->lines - 1, 1, buf, v->cols - 2);
	}
	if (sess.r.n)
		wmove(w, ROWS_ABOVE + (int)(st->list.sel - st->list.top), 0);
}

static enum view_effect doctor_act(struct view *v, enum action a)
{
	struct doctor_state *st = v->state;

	if (a == ACT_DOCTOR)
		return VIEW_NONE;	/* already here */
	st->list.n = sess.valid ? sess.r.n : 0;
	if ((a == ACT_OPEN || a == ACT_EXPAND) && st->list.n &&
	    sess.r.f[st->list.sel].tensor) {
		/* the finding's tensor: its histogram */
		v->push_ops = &view_histogram_ops;
		v->push_arg = sess.r.f[st->list.sel].tensor;
		return VIEW_PUSH;
	}
	return view_list_act(&st->list, a, page_rows(v));
}

static enum view_effect doctor_mouse(struct view *v, int y, int x,
				     enum mouse_event ev)
{
	struct doctor_state *st = v->state;
	size_t row;

	(void)x;
	if (!sess.valid || y < ROWS_ABOVE || y >= v->lines - ROWS_BELOW)
		return VIEW_NONE;
	row = st->list.top + (size_t)(y - ROWS_ABOVE);
	if (row >= sess.r.n)
		return VIEW_NONE;
	st->list.sel = row;
	return ev == MOUSE_DOUBLE ? doctor_act(v, ACT_OPEN) | VIEW_REDRAW :
	       VIEW_REDRAW;
}

static const enum action doctor_actions[] = { ACT_OPEN, ACT_NONE };

const struct view_ops view_doctor_ops = {
	.name = "doctor",
	.state_size = sizeof(struct doctor_state),
	.enter = doctor_enter,
	.draw = doctor_draw,
	.act = doctor_act,
	.leave = doctor_leave,
	.poll = doctor_poll,
	.mouse = doctor_mouse,
	.actions = doctor_actions,
};
