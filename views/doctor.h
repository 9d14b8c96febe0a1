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

#endif
