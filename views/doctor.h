/*
 * views/doctor.h - the dtype doctor over a whole model: the findings that
 * `qscope check` prints and the doctor screen (views/doctor.c) lists.
 *
 * doctor_report_build() reads every plain-float tensor (F64, F32, F16,
 * BF16, FP8) once, through quant/doctor.h, on all CPUs, and looks at the
 * metadata (config.json torch_dtype, GGUF general.file_type).  GGUF block
 * types are not cast-checked: their scales are F16 already.
 */
#ifndef QSCOPE_VIEWS_DOCTOR_H
#define QSCOPE_VIEWS_DOCTOR_H

#include <stddef.h>

#include <jansson.h>

#include "formats/model.h"
#include "quant/doctor.h"

struct view_env;

enum doctor_severity {
	DOCTOR_INFO,
	DOCTOR_WARNING,	/* lossy cast, headroom, config mismatch, NaN/inf */
	DOCTOR_ERROR,	/* a cast that breaks, mislabelled bytes */
};

/* "info", "warning", "error" */
const char *doctor_severity_name(enum doctor_severity s);

struct doctor_finding {
	const struct tensor *tensor;	/* NULL: about the whole model */
	const char *kind;	/* "cast", "mislabel", "headroom", "nonfinite",
				 * "config" (static strings) */
	enum doctor_severity severity;
	char detail[256];	/* one line, ASCII */
	json_t *counts;		/* an object of numbers; owned */
};

struct doctor_report {
	struct doctor_finding *f;	/* errors first, then warnings, then
					 * info; tensor order within each */
	size_t n, alloc;
	size_t errors, warnings, checked;	/* checked: tensors read */
};

/* Called between tensors: done tensors of total; non-zero stops the
 * examination (a cancelled screen). */
typedef int doctor_progress_fn(void *arg, size_t done, size_t total);

/*
 * Examine m for the cast c (-1: each tensor's likely cast, BF16/F32/F64/
 * FP8 -> F16 and F16 -> BF16) into r (zeroed first).  Returns 0; 1 when
 * progress asked to stop, or -1 with e filled when a tensor cannot be
 * read; r then holds nothing.
 */
int doctor_report_build(const struct model *m, int cast,
			doctor_progress_fn *progress, void *arg,
			struct doctor_report *r, struct err *e);
void doctor_report_release(struct doctor_report *r);

/*
 * The session's report: one examination of the model (each tensor's
 * likely cast, as above with cast -1), run on the background worker and
 * kept until exit, shared by the doctor screen and the tensor tree's
 * badges so that it is computed once.  A run that is stopped keeps what
 * it has done and resumes there.  UI thread only.
 */

/*
 * Start or resume the examination of m on env's worker, unless it is done
 * or failed.  A run the person stopped (Ctrl-C cancels every job) is only
 * resumed when asked is set (the doctor screen opens), never in the
 * background.  Returns 1 while it is queued or running, else 0.
 */
int doctor_session_start(const struct model *m, const struct view_env *env,
			 int asked);
/* Stop a run (waits for the chunk being read); what is done is kept. */
void doctor_session_stop(const struct view_env *env);
/* Take a run that ended: 1 when the report (or the failure) just became
 * known, else 0. */
int doctor_session_poll(void);
/* The complete report of m, or NULL while there is none. */
const struct doctor_report *doctor_session_report(const struct model *m);

#endif
