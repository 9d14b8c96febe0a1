/*
 * views/write.c - writing the quantized model from the browser: each
 * tensor in its target format (views/preview.h), as safetensors
 * (formats/safetensors_write.h: plain casts, FP8, compressed-tensors and
 * bitsandbytes layouts), then opened again and checked against what the
 * preview computed (written_verify: every value bit for bit).
 *
 *  write  demo/model-qscope/
 *  writing  [██████████▌          ]  52%   14.6 MiB of 28.1 MiB  61.2 MB/s  0.2 s left
 *
 * The work runs on the worker; Esc stops it, and the writer removes its
 * temporary files, so a cancel leaves nothing behind.  An existing target
 * is replaced only after Enter on the question this screen asks.
 */
#include "views/write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "formats/safetensors_write.h"
#include "views/units.h"
#include "views/widgets.h"

enum wstate { W_CONFIRM, W_RUNNING, W_DONE, W_FAILED, W_CANCELLED };

struct write_state {
	const struct write_arg *a;
	const struct scheme **schemes;	/* per tensor; NULL: copied */
	enum wstate state;
	struct job job;
	int force;
	/* written by the job, read once it is done (bytes: while it runs) */
	uint64_t done, total;
	struct safetensors_written info;
	uint64_t values, vbytes;
	int verified;
	struct err e;
	double t0, elapsed;
	char msg[512];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int on_progress(uint64_t done, uint64_t total, void *arg)
{
	struct job *j = arg;
	struct write_state *st = j->arg;

	__atomic_store_n(&st->done, done, __ATOMIC_RELAXED);
	__atomic_store_n(&st->total, total, __ATOMIC_RELAXED);
	job_progress(j, total ? (double)done / (double)total : 0);
	return job_cancelled(j);
}

static int write_run(struct job *j)
{
	struct write_state *st = j->arg;
	const struct model *m = st->a->pv->m;

	if (safetensors_write(m, st->schemes, st->a->out,
			      st->force ? SAFETENSORS_WRITE_FORCE : 0,
			      on_progress, j, &st->info, &st->e) < 0)
		return job_cancelled(j) ? 1 : -1;
	if (written_verify(m, st->schemes, st->a->out, 0, &st->values,
			   &st->vbytes, &st->e) < 0)
		return -1;
	st->verified = 1;
	return 0;
}

static void start(struct view *v)
{
	struct write_state *st = v->state;

	st->state = W_RUNNING;
	st->t0 = now();
	st->job.run = write_run;
	st->job.arg = st;
	v->env->job_start(&st->job);
}

static int write_enter(struct view *v, const struct model *m, struct err *e)
{
	struct write_state *st = v->state;
	const struct write_arg *a = v->arg;
	struct stat sb;

	st->a = a;
	st->schemes = calloc(m->ntensors ? m->ntensors : 1,
			     sizeof(*st->schemes));
	if (!st->schemes) {
		err_set(e, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < m->ntensors; i++)
		st->schemes[i] = a->pv->target[i] == PV_KEEP ? NULL :
				 &schemes[a->pv->target[i]];
	if (stat(a->out, &sb) == 0)
		st->state = W_CONFIRM;	/* ask first */
	else
		start(v);
	return 0;
}

static void write_leave(struct view *v)
{
	struct write_state *st = v->state;

	v->env->job_stop(&st->job);
	free(st->schemes);
}

static enum view_effect write_poll(struct view *v)
{
	struct write_state *st = v->state;

	if (st->state != W_RUNNING || job_state(&st->job) != JOB_DONE)
		return VIEW_NONE;
	st->elapsed = now() - st->t0;
	if (st->job.result == 0)
		st->state = W_DONE;
	else if (st->job.result > 0)
		st->state = W_CANCELLED;
	else
		st->state = W_FAILED;
	return VIEW_REDRAW;
}

static void line(const struct view *v, WINDOW *w, int y, enum role r,
		 const char *s)
{
	struct text t;

	if (y >= v->lines - 1 || text_make(&t, s, v->env->ascii) < 0)
		return;
	wattrset(w, v->env->attr[r]);
	wmove(w, y, 1);
	w_text(w, v->env, &t, t.width < v->cols - 2 ? t.width : v->cols - 2,
	       CROP_END, 0);
	text_release(&t);
}

static void write_draw(const struct view *v, WINDOW *w)
{
	static const struct w_hint hints[] = {
		{ ACT_BACK, "back" },
		{ ACT_HELP, "help" },
	};
	static const struct w_hint ask[] = {
		{ ACT_OPEN, "replace it" },
		{ ACT_BACK, "keep it" },
	};
	struct write_state *st = v->state;
	char buf[1400], a[16], b[16];
	int y = 2;

	snprintf(buf, sizeof(buf), "write  %s", st->a->out);
	wattrset(w, v->env->attr[CR_TITLE]);
	mvwhline(w, 0, 0, ' ', v->cols);
	line(v, w, 0, CR_TITLE, buf);
	switch (st->state) {
	case W_CONFIRM:
		snprintf(buf, sizeof(buf), "'%s' exists.", st->a->out);
		line(v, w, y++, CR_WARNING, buf);
		line(v, w, y++, CR_NORMAL,
		     "Enter replaces it (the new files are written beside it "
		     "and renamed over it when complete); Esc keeps it.");
		w_status(v, w, NULL, NULL, ask, 2);
		return;
	case W_RUNNING: {
		uint64_t done = __atomic_load_n(&st->done, __ATOMIC_RELAXED);
		uint64_t total = __atomic_load_n(&st->total, __ATOMIC_RELAXED);
		double t = now() - st->t0, speed = t > 0 ? done / t : 0;

		units_bytes(done, a, sizeof(a));
		units_bytes(total, b, sizeof(b));
		if (done < total && total)
			w_progress(v, w, y++, "writing", job_done(&st->job));
		else
			line(v, w, y++, CR_NORMAL,
			     total ? "checking what was written..." :
			     "starting...");
		snprintf(buf, sizeof(buf), "%s of %s  %.1f MB/s  %.1f s left",
			 a, b, speed / 1e6, speed > 0 && total > done ?
			 (double)(total - done) / speed : 0);
		line(v, w, y++, CR_NORMAL, buf);
		line(v, w, y + 1, CR_NORMAL, "Esc stops; nothing is left behind");
		break;
	}
	case W_DONE:
		units_bytes(st->info.bytes, a, sizeof(a));
		snprintf(buf, sizeof(buf), "wrote %zu file%s, %s, in %.1f s",
			 st->info.files, st->info.files == 1 ? "" : "s", a,
			 st->elapsed);
		line(v, w, y++, CR_NORMAL, buf);
		snprintf(buf, sizeof(buf),
			 "verified: %llu values read back bit for bit as the "
			 "preview computed them, %llu bytes byte for byte",
			 (unsigned long long)st->values,
			 (unsigned long long)st->vbytes);
		line(v, w, y++, CR_NORMAL, buf);
		if (st->info.method[0])
			snprintf(buf, sizeof(buf),
				 "config.json: quantization_config %s",
				 st->info.method);
		else
			snprintf(buf, sizeof(buf), "%s", st->info.note);
		line(v, w, y++, CR_NORMAL, buf);
		break;
	case W_FAILED:
		snprintf(buf, sizeof(buf), "not written: %s", st->e.msg);
		line(v, w, y++, CR_WARNING, buf);
		line(v, w, y++, CR_NORMAL, "nothing was left behind; the "
		     "input is unchanged");
		break;
	case W_CANCELLED:
		line(v, w, y++, CR_WARNING,
		     "stopped: nothing was written, nothing left behind");
		break;
	}
	w_status(v, w, NULL, NULL, hints, 2);
}

static enum view_effect write_act(struct view *v, enum action a)
{
	struct write_state *st = v->state;

	switch (a) {
	case ACT_OPEN:
		if (st->state != W_CONFIRM)
			return VIEW_NONE;
		st->force = 1;
		start(v);
		return VIEW_REDRAW;
	case ACT_BACK:
	case ACT_QUIT:
		if (st->state == W_RUNNING) {
			v->env->job_stop(&st->job);
			write_poll(v);
			return VIEW_REDRAW;
		}
		return VIEW_POP;
	default:
		return VIEW_PASS;
	}
}

static const enum action write_actions[] = { ACT_OPEN, ACT_NONE };

const struct view_ops view_write_ops = {
	.name = "write",
	.state_size = sizeof(struct write_state),
	.enter = write_enter,
	.draw = write_draw,
	.act = write_act,
	.leave = write_leave,
	.poll = write_poll,
	.actions = write_actions,
};
