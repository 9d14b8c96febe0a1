/*
 * views/write.c - writing the quantized model from the browser: each
 * tensor in its target format (views/preview.h), as GGUF when the output's
 * name ends in ".gguf" (formats/gguf.h: the input's metadata, each tensor
 * in its target's GGUF type, as `qscope quantize` writes it; a GGUF input
 * only), else as safetensors (formats/safetensors_write.h: plain casts,
 * FP8, compressed-tensors and bitsandbytes layouts), then opened again and
 * checked against what the preview computed (written_verify: every value
 * bit for bit).
 *
 *  write  demo/model-qscope/
 *  writing  [██████████▌          ]  52%   14.6 MiB of 28.1 MiB  61.2 MB/s  0.2 s left
 *
 * The work runs on the worker; Esc stops it, and the writer removes its
 * temporary files, so a cancel leaves nothing behind (and temporaries a
 * killed writer of the same target left are removed first,
 * formats/outfile.h).  An existing target is replaced only after Enter on
 * the question this screen asks.  Targets the output's format cannot hold
 * are refused before anything is written.
 */
#include "views/write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "formats/gguf.h"
#include "formats/outfile.h"
#include "formats/safetensors_write.h"
#include "views/units.h"
#include "views/widgets.h"

enum wstate { W_CONFIRM, W_RUNNING, W_DONE, W_FAILED, W_CANCELLED };

struct write_state {
	const struct write_arg *a;
	const struct scheme **schemes;	/* per tensor; NULL: copied */
	enum dtype *types;		/* GGUF: per tensor, DT_NONE: copied */
	const struct scheme **check;	/* what written_verify() compares */
	int gguf;			/* the output is GGUF */
	size_t converted;		/* GGUF: tensors that change type */
	enum wstate state;
	struct job job;
	int force;
	/* written by the job, read once it is done (bytes: while it runs) */
	uint64_t done, total;
	struct safetensors_written info;
	uint64_t values, vbytes;
	int written, verified;
	size_t nstale;			/* stale temporaries removed */
	char stale[256];		/* the first one */
	struct err e;
	double t0, elapsed;
	char msg[512];
};

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int model_is_gguf(const struct model *m)
{
	return m->format && strcmp(m->format, "gguf") == 0;
}

int write_is_gguf(const char *out)
{
	return ends_with(out, ".gguf");
}

const char *write_format_name(const char *out)
{
	return write_is_gguf(out) ? "GGUF" : "safetensors";
}

/* The first tensor of pv whose target cannot be written as GGUF (gguf 1)
 * or safetensors (gguf 0), or (size_t)-1 when there is none. */
static size_t first_misfit(const struct preview *pv, int gguf)
{
	for (size_t i = 0; i < pv->m->ntensors; i++) {
		const struct scheme *s;

		if (pv->target[i] == PV_KEEP)
			continue;
		s = &schemes[pv->target[i]];
		if (gguf ? gguf_type_of_scheme(s) == DT_NONE :
			   safetensors_layout_for(s, &pv->m->tensors[i]) != NULL)
			return i;
	}
	return (size_t)-1;
}

/* The last c in s[0..len), or NULL. */
static const char *last(const char *s, size_t len, char c)
{
	while (len--)
		if (s[len] == c)
			return s + len;
	return NULL;
}

void write_default_out(const struct preview *pv, char *out, size_t n)
{
	const char *in = pv->m->path ? pv->m->path : "model";
	const char *ext = ".safetensors", *dot, *slash;
	size_t len = strlen(in);
	struct stat sb;
	int dir;

	while (len > 1 && in[len - 1] == '/')
		len--;
	dir = stat(in, &sb) == 0 && S_ISDIR(sb.st_mode);
	if (model_is_gguf(pv->m) && (first_misfit(pv, 1) == (size_t)-1 ||
				     first_misfit(pv, 0) != (size_t)-1))
		ext = ".gguf";
	else if (dir)
		ext = "/";
	if (!dir) {
		slash = last(in, len, '/');
		dot = last(in, len, '.');
		if (dot && (!slash || dot > slash + 1))
			len = (size_t)(dot - in);
	}
	snprintf(out, n, "%.*s-qscope%s", (int)len, in, ext);
}

int write_check(const struct preview *pv, const char *out, char *msg,
		size_t n)
{
	int gguf = write_is_gguf(out);
	size_t i;
	char name[200], held[256];
	const struct scheme *s;

	if (gguf && !model_is_gguf(pv->m)) {
		snprintf(msg, n, "GGUF output needs a GGUF input (its metadata "
			 "and names); name a .safetensors file or a folder");
		return -1;
	}
	i = first_misfit(pv, gguf);
	if (i == (size_t)-1)
		return 0;
	s = &schemes[pv->target[i]];
	text_sanitize(pv->m->tensors[i].name ? pv->m->tensors[i].name : "",
		      name, sizeof(name));
	if (gguf) {
		gguf_scheme_names(held, sizeof(held));
		snprintf(msg, n, "'%.60s': %s cannot be written to GGUF, which "
			 "holds %s", name, s->name, held);
	} else {
		snprintf(msg, n, "'%.60s': %s: %s%s", name, s->name,
			 safetensors_layout_for(s, &pv->m->tensors[i]),
			 model_is_gguf(pv->m) ? " (name the output .gguf)" :
			 s->ggml != DT_NONE ? " (GGUF output needs a GGUF "
			 "input)" : "");
	}
	return -1;
}

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

static void on_stale(const char *path, long pid, void *arg)
{
	struct write_state *st = arg;

	(void)pid;
	if (!st->nstale++)
		snprintf(st->stale, sizeof(st->stale), "%s", path);
}

static uint64_t file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static int write_run(struct job *j)
{
	struct write_state *st = j->arg;
	const struct model *m = st->a->pv->m;
	const char *out = st->a->out;

	out_remove_stale(out, !st->gguf && !ends_with(out, ".safetensors"),
			 on_stale, st);
	if (st->gguf) {
		if (gguf_write(m, st->types, out,
			       st->force ? GGUF_WRITE_FORCE : 0, on_progress,
			       j, &st->e) < 0)
			return job_cancelled(j) ? 1 : -1;
		st->info.files = 1;
		st->info.bytes = file_size(out);
	} else if (safetensors_write(m, st->schemes, out,
				     st->force ? SAFETENSORS_WRITE_FORCE : 0,
				     on_progress, j, &st->info, &st->e) < 0) {
		return job_cancelled(j) ? 1 : -1;
	}
	st->written = 1;
	if (written_verify(m, st->check, out, st->gguf, &st->values,
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
	size_t n = m->ntensors ? m->ntensors : 1;
	struct stat sb;

	st->a = a;
	st->gguf = write_is_gguf(a->out);
	st->schemes = calloc(n, sizeof(*st->schemes));
	st->check = calloc(n, sizeof(*st->check));
	st->types = calloc(n, sizeof(*st->types));
	if (!st->schemes || !st->check || !st->types) {
		err_set(e, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct scheme *s = a->pv->target[i] == PV_KEEP ? NULL :
					 &schemes[a->pv->target[i]];

		st->schemes[i] = st->check[i] = s;
		if (!st->gguf || !s)
			continue;
		st->types[i] = gguf_type_of_scheme(s);
		/* gguf_write() copies a tensor already of its type byte for
		 * byte: the check compares it with the input. */
		if (st->types[i] == m->tensors[i].dtype)
			st->check[i] = NULL;
		else
			st->converted++;
	}
	/* Refused before anything is written: the screen says why. */
	if (write_check(a->pv, a->out, st->e.msg, sizeof(st->e.msg)) < 0)
		st->state = W_FAILED;
	else if (stat(a->out, &sb) == 0)
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
	free(st->check);
	free(st->types);
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

/* head then text, as lines of at most the screen's width, broken at
 * spaces; returns the row after them. */
static int para(const struct view *v, WINDOW *w, int y, enum role r,
		const char *head, const char *text)
{
	char all[1400], one[1400];
	const char *p = all;
	size_t width = v->cols > 12 ? (size_t)v->cols - 2 : 10;

	snprintf(all, sizeof(all), "%s%s", head, text);
	while (*p && y < v->lines - 1) {
		size_t n = strlen(p), cut = n;

		if (n > width) {
			cut = width;
			while (cut > width / 2 && p[cut] != ' ')
				cut--;
			if (p[cut] != ' ')
				cut = width;
			while (cut > 1 && ((unsigned char)p[cut] & 0xc0) == 0x80)
				cut--;	/* not inside a UTF-8 character */
		}
		snprintf(one, sizeof(one), "%.*s", (int)cut, p);
		line(v, w, y++, r, one);
		p += cut;
		while (*p == ' ')
			p++;
	}
	return y;
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
		if (st->gguf)
			snprintf(buf, sizeof(buf),
				 "GGUF v3: the input's metadata, %zu tensor%s "
				 "converted, the others copied as they are",
				 st->converted, st->converted == 1 ? "" : "s");
		else if (st->info.method[0])
			snprintf(buf, sizeof(buf),
				 "config.json: quantization_config %s",
				 st->info.method);
		else
			snprintf(buf, sizeof(buf), "%s", st->info.note);
		line(v, w, y++, CR_NORMAL, buf);
		if (st->nstale) {
			char t[300];

			text_sanitize(st->stale, t, sizeof(t));
			snprintf(buf, sizeof(buf),
				 "removed a stale temporary '%s'%s, left by a "
				 "writer that was killed", t, st->nstale > 1 ?
				 " and others" : "");
			line(v, w, y++, CR_NORMAL, buf);
		}
		break;
	case W_FAILED:
		if (st->written) {
			y = para(v, w, y, CR_WARNING, "written, but the check "
				 "after writing failed: ", st->e.msg);
			line(v, w, y++, CR_NORMAL, "the output is left as "
			     "written; the input is unchanged");
			break;
		}
		y = para(v, w, y, CR_WARNING, "not written: ", st->e.msg);
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
