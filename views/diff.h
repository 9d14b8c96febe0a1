/*
 * views/diff.h - the diff screen: two checkpoints' tensors paired by name
 * (formats/pairs.h), as a tree with the error of each pair and of each
 * group, and (Enter) the histogram of the difference of one pair.
 * `qscope A B` opens it as the bottom screen.
 */
#ifndef QSCOPE_VIEWS_DIFF_H
#define QSCOPE_VIEWS_DIFF_H

#include "formats/model.h"
#include "views/view.h"

/* What the diff screen is given (its view's arg); both models outlive
 * the screen.  v->model is a, the reference. */
struct diff_arg {
	const struct model *a, *b;
};

extern const struct view_ops view_diff_ops;

#endif
