/*
 * views/sweep.h - what the sweep screen (views/sweep.c) is given: the
 * preview it reads and fills, the tree, the node (a tensor or a group),
 * and how to set that node's target when the person picks a format.
 */
#ifndef QSCOPE_VIEWS_SWEEP_H
#define QSCOPE_VIEWS_SWEEP_H

#include <stddef.h>

#include "views/preview.h"
#include "views/tree.h"

struct sweep_arg {
	struct preview *pv;
	const struct tree *tree;
	size_t node;
	void *owner;
	/* Set scheme s (or PV_KEEP) as the target of every tensor under
	 * node. */
	void (*apply)(void *owner, size_t node, int s);
};

extern const struct view_ops view_sweep_ops;

#endif
