/*
 * views/preview.c - the live quantization preview (see preview.h).
 */
#include "views/preview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int preview_init(struct preview *pv, const struct model *m)
{
	size_t n = m->ntensors ? m->ntensors : 1;

	memset(pv, 0, sizeof(*pv));
	pv->m = m;
	pv->target = malloc(n * sizeof(*pv->target));
	pv->res = calloc(n, sizeof(*pv->res));
	if (!pv->target || !pv->res) {
		free(pv->target);
		free(pv->res);
		memset(pv, 0, sizeof(*pv));
		return -1;
	}
	for (size_t i = 0; i < m->ntensors; i++)
		pv->target[i] = PV_KEEP;
	return 0;
}

void preview_release(struct preview *pv, const struct view_env *env)
{
	if (env && pv->job.run)
		env->job_stop(&pv->job);
	for (size_t i = 0; pv->res && i < pv->m->ntensors; i++)
		free(pv->res[i]);
	free(pv->res);
	free(pv->target);
	memset(pv, 0, sizeof(*pv));
}

int preview_applies(const struct preview *pv, size_t t, int s)
{
	const struct tensor *ts = &pv->m->tensors[t];
	struct scheme_shape sh;

	if (s < 0 || (size_t)s >= nschemes || ts->ndim > SCHEME_MAX_DIMS)
		return 0;
	tensor_scheme_shape(ts, &sh);
	return scheme_applies_to(&schemes[s], ts->dtype, &sh) == NULL;
}

/* The results of tensor t, allocated when first needed; NULL if out of
 * memory. */
static struct pv_result *results(struct preview *pv, size_t t)
{
	if (!pv->res[t])
		pv->res[t] = calloc(nschemes, sizeof(struct pv_result));
	return pv->res[t];
}

const struct pv_result *preview_get(const struct preview *pv, size_t t, int s)
{
	if (s < 0 || (size_t)s >= nschemes || !pv->res[t] ||
	    pv->res[t][s].state == PV_NONE)
		return NULL;
	return &pv->res[t][s];
}

int preview_norm(const struct preview *pv, size_t t, double *sxx)
{
	for (size_t s = 0; pv->res[t] && s < nschemes; s++)
		if (pv->res[t][s].state == PV_DONE) {
			*sxx = pv->res[t][s].acc.sxx;
			return 1;
		}
	return 0;
}

int preview_busy(const struct preview *pv)
{
	enum job_state js = job_state(&pv->job);

	return pv->job.run && (js == JOB_QUEUED || js == JOB_RUNNING);
}

/* On the worker: the error of one scheme on one tensor. */
static int pair_run(struct job *j)
{
	struct preview *pv = j->arg;
	const struct tensor *t = &pv->m->tensors[pv->job_t];
	struct compute_ctl ctl = { 0, &j->cancel, NULL, NULL };
	struct tensor_reader rd;
	struct scheme_shape sh;
	int rc;

	tensor_scheme_shape(t, &sh);
	tensor_reader_init(&rd, pv->m, t);
	rc = scheme_error(&schemes[pv->job_s], &sh, tensor_reader_read, &rd,
			  &ctl, &pv->job_acc);
	if (rc < 0)
		snprintf(j->err, sizeof(j->err), "%.200s: %.50s", t->name,
			 rd.failed ? rd.e.msg : "out of memory");
	tensor_reader_release(&rd);
	return rc < 0 ? -1 : rc;
}

int preview_collect(struct preview *pv)
{
	struct pv_result *r;
	int cancelled;

	if (!pv->job.run || job_state(&pv->job) != JOB_DONE)
		return 0;
	/* a stop asked for while a small pair ended anyway counts too */
	cancelled = pv->job.result > 0 || job_cancelled(&pv->job);
	r = results(pv, pv->job_t);
	if (r && pv->job.result == 0) {
		r[pv->job_s].acc = pv->job_acc;
		r[pv->job_s].state = PV_DONE;
	} else if (r && pv->job.result < 0) {
		r[pv->job_s].state = PV_FAILED;
		snprintf(pv->err, sizeof(pv->err), "%s", pv->job.err);
	}
	/* cancelled: stays unknown, asked for again */
	pv->job.run = NULL;
	return cancelled ? 2 : 1;
}

void preview_stop(struct preview *pv, const struct view_env *env)
{
	if (!pv->job.run)
		return;
	env->job_stop(&pv->job);
	if (job_state(&pv->job) == JOB_DONE)
		preview_collect(pv);
	pv->job.run = NULL;	/* dropped before it ran, or taken */
}

const struct pv_result *preview_want(struct preview *pv,
				     const struct view_env *env, size_t t,
				     int s, int *started)
{
	static const struct pv_result none;
	struct pv_result *r;
	struct scheme_shape sh;

	if (t >= pv->m->ntensors || s < 0 || (size_t)s >= nschemes)
		return &none;
	r = results(pv, t);
	if (!r)
		return &none;
	if (r[s].state != PV_NONE)
		return &r[s];
	tensor_scheme_shape(&pv->m->tensors[t], &sh);
	if (!preview_applies(pv, t, s)) {
		r[s].state = PV_NA;
		r[s].bytes = pv->m->tensors[t].nbytes;
		err_acc_init(&r[s].acc);
		return &r[s];
	}
	r[s].bytes = scheme_bytes(&schemes[s], &sh);
	if (preview_busy(pv) || pv->job.run)
		return &r[s];
	pv->job_t = t;
	pv->job_s = s;
	pv->job.run = pair_run;
	pv->job.arg = pv;
	env->job_start(&pv->job);
	if (started)
		*started = 1;
	return &r[s];
}

void preview_set(struct preview *pv, size_t t, int s)
{
	int old = pv->target[t];

	if (s != PV_KEEP && !preview_applies(pv, t, s))
		s = PV_KEEP;
	pv->target[t] = s;
	pv->ntargets += (s != PV_KEEP) - (old != PV_KEEP);
}

uint64_t preview_bytes(const struct preview *pv, size_t t)
{
	const struct tensor *ts = &pv->m->tensors[t];
	struct scheme_shape sh;

	if (pv->target[t] == PV_KEEP)
		return ts->nbytes;
	tensor_scheme_shape(ts, &sh);
	return scheme_bytes(&schemes[pv->target[t]], &sh);
}
