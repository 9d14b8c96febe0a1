/*
 * views/preview.h - the live quantization preview: a target number format
 * per tensor, and the error and size each (tensor, scheme) pair gives,
 * computed on the background worker and kept for the session.
 *
 * The tensor tree (views/tensors.c) owns one struct preview for the
 * model; the sweep screen (views/sweep.c) borrows it.  Whoever is on top
 * drives the computation from its poll(): preview_collect() takes a
 * finished result, then preview_want() is called on the pairs that matter
 * most first (the selected tensor, the rows shown, the rest) until one
 * starts.  One pair is computed at a time (on every core: quant/schemes.h
 * scheme_error()), so a change of selection is answered after at most the
 * pair being computed.  The figures are the same as `qscope try`'s: the
 * same function, the same chunks.
 *
 * No curses here.
 */
#ifndef QSCOPE_VIEWS_PREVIEW_H
#define QSCOPE_VIEWS_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "formats/model.h"
#include "quant/schemes.h"
#include "quant/stats.h"
#include "views/view.h"

#define PV_KEEP (-1)	/* target: the tensor stays as stored */

enum pv_state {
	PV_NONE = 0,	/* not computed yet */
	PV_DONE,
	PV_NA,		/* the scheme does not apply: kept as stored */
	PV_FAILED,	/* the values could not be read */
};

struct pv_result {
	unsigned char state;	/* enum pv_state */
	uint64_t bytes;		/* after quantization (stored bytes if NA) */
	struct err_acc acc;	/* the error, clipped values included */
};

struct preview {
	const struct model *m;
	int *target;		/* per tensor: a scheme index or PV_KEEP */
	struct pv_result **res;	/* per tensor: nschemes results, or NULL */
	size_t ntargets;	/* tensors whose target is not PV_KEEP */
	/* the pair being computed */
	struct job job;
	size_t job_t;
	int job_s;
	struct err_acc job_acc;
	char err[256];		/* the last failure, for the status line */
};

/* 0, or -1 when out of memory. */
int preview_init(struct preview *pv, const struct model *m);
/* Stops the work first (env may be NULL when nothing was started). */
void preview_release(struct preview *pv, const struct view_env *env);

/* Take the result of the pair just computed, if any: 1 if one was taken,
 * 2 if a stop was asked for meanwhile (Ctrl-C stops every job): the pair
 * then stays unknown unless it was done all the same. */
int preview_collect(struct preview *pv);

/* Stop the pair being computed, if any (it stays unknown). */
void preview_stop(struct preview *pv, const struct view_env *env);

/* Is a pair being computed? */
int preview_busy(const struct preview *pv);

/*
 * The result of scheme s on tensor t, computing it if needed: a result
 * whose state is PV_NONE while it is not known.  When the worker is free
 * and the pair is unknown, its computation starts (so call this on the
 * pairs that matter most first).  *started is set when it did.
 */
const struct pv_result *preview_want(struct preview *pv,
				     const struct view_env *env, size_t t,
				     int s, int *started);

/* The result if known, else NULL (never starts anything). */
const struct pv_result *preview_get(const struct preview *pv, size_t t, int s);

/* The sum of squares of tensor t's finite values, if any result of it
 * is known (every scheme's holds it): 1 with *sxx set, else 0. */
int preview_norm(const struct preview *pv, size_t t, double *sxx);

/* Does scheme s apply to tensor t (its shape and stored dtype)? */
int preview_applies(const struct preview *pv, size_t t, int s);

/* Set tensor t's target (a scheme that does not apply is kept). */
void preview_set(struct preview *pv, size_t t, int s);

/* Bytes tensor t takes with its target. */
uint64_t preview_bytes(const struct preview *pv, size_t t);

#endif
