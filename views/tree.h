/*
 * views/tree.h - the tensor tree: names grouped by their dotted structure.
 *
 * model.layers.7.mlp.down_proj.weight sits under model -> layers -> 7 ->
 * mlp, as down_proj.weight; GGUF's blk.7.ffn_down.weight under blk -> 7.
 * A group with a single child is merged with it (its labels joined by
 * '.'), so no row is a lone step on the way down.  A group sums its
 * tensors (params, bytes) and has their dtype when they all share one.
 *
 * Siblings are sorted by name (natural order, natural_cmp(): layer 10 follows 9), by size
 * (bytes, largest first) or by dtype; the flat list sorts every tensor
 * the same way by its full name.  No curses here: the tests call it
 * directly.
 */
#ifndef QSCOPE_VIEWS_TREE_H
#define QSCOPE_VIEWS_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "formats/model.h"

#define TREE_NONE ((size_t)-1)

struct tree_node {
	char *label;		/* name components, joined by '.' */
	size_t parent;		/* TREE_NONE for the root */
	size_t *kids;		/* children, in display order */
	size_t nkids;
	const struct tensor *tensor;	/* a tensor's node; NULL for a group */
	size_t ntensors;	/* tensors at or under this node */
	uint64_t params, bytes;
	int dtype;		/* enum dtype, or -1 when they differ */
	int depth;		/* root 0, its children 1, ... */
	int open;		/* a group whose children are shown */
	size_t order;		/* the file order of the first tensor under it */
};

enum tree_sort { TREE_BY_NAME, TREE_BY_SIZE, TREE_BY_DTYPE, TREE_NSORTS };

struct tree {
	struct tree_node *nodes;	/* nodes[0] is the root */
	size_t n, cap;
	size_t ntensors;
};

/* Build the tree of m's tensors; 0 or -1 (out of memory, tree empty). */
int tree_build(struct tree *t, const struct model *m);
void tree_release(struct tree *t);

/* Ties of a sort: natural order of the names (full names when full is
 * set), then file order. */
int tree_name_cmp(const struct tree_node *a, const struct tree_node *b,
		  int full);

/* How tree_sort() orders nodes a and b (indices in t->nodes) by key, and
 * tree_rows() the flat list (full set: tensors by their full names): < 0,
 * 0 or > 0. */
int tree_cmp(const struct tree *t, size_t a, size_t b, enum tree_sort key,
	     int reverse, int full);

/* Sort every node's children by key (reverse: the other way round). */
void tree_sort(struct tree *t, enum tree_sort key, int reverse);

enum tree_rows_mode {
	TREE_SHOWN,	/* the nodes under open groups, depth first */
	TREE_FLAT,	/* every tensor node, sorted by key over full names */
	TREE_TENSORS,	/* every tensor node, in tree order, folds ignored */
};

/*
 * The rows of mode (the root left out): fills *rows (reallocated as
 * needed, *cap its size) and returns their number, or TREE_NONE when out
 * of memory.  key and reverse are for TREE_FLAT.
 */
size_t tree_rows(const struct tree *t, enum tree_rows_mode mode,
		 enum tree_sort key, int reverse, size_t **rows, size_t *cap);

/* The tensor nodes at or under node i, in tree order, into *out (malloc'd,
 * the caller frees); their number, or TREE_NONE when out of memory. */
size_t tree_under(const struct tree *t, size_t i, size_t **out);

/* Open every group on the way to node i, so that it is shown. */
void tree_reveal(struct tree *t, size_t i);

/* Open (1) or close (0) every group. */
void tree_open_all(struct tree *t, int open);

/* Open groups level by level, as long as the rows shown stay within
 * max_rows (the first screen shows as much of the structure as fits). */
void tree_open_to_fit(struct tree *t, size_t max_rows);

#endif
