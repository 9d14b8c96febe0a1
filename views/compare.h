/*
 * views/compare.h - what the compare screen (views/compare.c) is given:
 * one tensor and the scheme to compare its values with.  The screen shows
 * the tensor's histogram before and after the scheme (quantized, then
 * dequantized), the histogram of the error, and the values the scheme can
 * represent marked on the axis.
 */
#ifndef QSCOPE_VIEWS_COMPARE_H
#define QSCOPE_VIEWS_COMPARE_H

#include <stddef.h>

#include "formats/model.h"
#include "quant/schemes.h"

struct compare_arg {
	const struct model *m;
	size_t tensor;			/* index into m->tensors */
	const struct scheme *scheme;	/* the target; never NULL */
};

extern const struct view_ops view_compare_ops;

/* The scheme to compare a tensor with when the person has not chosen one:
 * q4_k where it applies, else int8, else f16 (1-D tensors); NULL when
 * none does. */
const struct scheme *compare_default_scheme(const struct tensor *t);

#endif
