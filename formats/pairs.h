/*
 * formats/pairs.h - two checkpoints' tensors paired by name, and each pair
 * compared value by value: what `qscope diff` prints and the diff screen
 * (views/diff.c) shows, from one implementation.
 *
 * Pairing: first the same name on both sides, then the same GGUF spelling
 * through the table of renamings (formats/names.h), so a Hugging Face
 * checkpoint pairs with its GGUF.  Each pair is then classified, from the
 * headers and the metadata only (no value is read):
 *  - same shape: compared, with A's or B's q/k rows put back in Hugging
 *    Face order when llama.cpp's converter permuted them (see
 *    pair_classify() in pairs.c), or PAIR_LAYOUT when that cannot be
 *    undone (head count unknown);
 *  - 2-D shapes each other's transpose, not square (GPT-2's Conv1D
 *    weights are [in, out], GGUF's copy [out, in]): compared with B read
 *    transposed, PAIR_TRANSPOSED; so is a square one paired through a
 *    GPT-2 Conv1D name on one side only (NAMES_TRANSPOSED: attn.c_proj);
 *  - other shapes: PAIR_SHAPE, not compared.
 * Comparing reads both sides a chunk at a time on every core
 * (quant/compute.h): relative error ||b - a|| / ||a|| (A is the
 * reference), SQNR, cosine, max |b - a|, over the finite values of A.
 *
 * No curses, no output: messages go into a struct err.
 */
#ifndef QSCOPE_FORMATS_PAIRS_H
#define QSCOPE_FORMATS_PAIRS_H

#include <stddef.h>
#include <stdint.h>

#include "formats/model.h"
#include "quant/compute.h"
#include "quant/stats.h"

enum pair_change {
	PAIR_SAME = 0,		/* same shape and dtype */
	PAIR_DTYPE,		/* the stored dtypes differ; compared */
	PAIR_SHAPE,		/* the shapes differ: not compared */
	PAIR_LAYOUT,		/* rows stored in another order that cannot be
				 * undone here: not compared */
	PAIR_TRANSPOSED,	/* B holds A's 2-D matrix transposed; compared
				 * (the dtypes may differ too) */
};

struct pair {
	const struct tensor *a, *b;
	enum pair_change change;
	int dtype_changed;	/* the stored dtypes (type names) differ */
	const char *why;	/* PAIR_LAYOUT: what it means (static) */
	uint64_t heads;		/* > 0: one side's q/k rows are read back in
				 * Hugging Face order, with this head count */
	int perm_side;		/* ... that side: 0 A, 1 B */
	int undecodable;	/* a side's dtype cannot be decoded */
	size_t order;		/* index in A's order */
};

struct pairing {
	struct pair *pairs;	/* in A's order */
	size_t n;
	char *only_a;		/* per tensor of A: 1 if it has no partner */
	char *only_b;		/* per tensor of B: likewise */
	size_t nonly_a, nonly_b;
};

/*
 * Pair ma's tensors with mb's and classify every pair (no value is read).
 * pg owns what it holds until pairs_release().  Allocation failure is
 * fatal (sizes are the models' tensor counts).
 */
void pairs_match(struct pairing *pg, const struct model *ma,
		 const struct model *mb);
void pairs_release(struct pairing *pg);

/* "changed" as qscope diff --json names it: NULL for PAIR_SAME, "dtype",
 * "shape", "layout", "transposed". */
const char *pair_change_name(enum pair_change c);

/* Will pair_compare() read values (shape and dtypes allow it)? */
int pair_comparable(const struct pair *p);

/*
 * The error of B's values against A's (A the reference) into acc, the same
 * bit for bit for every thread count.  0; 1 when cancelled (ctl->cancel);
 * -1 with e filled ("'path': tensor 'x': ...", or "tensor 'x': out of
 * memory or threads") when a read failed.  Only for pair_comparable().
 */
int pair_compare(const struct model *ma, const struct model *mb,
		 const struct pair *p, const struct compute_ctl *ctl,
		 struct err_acc *acc, struct err *e);

/*
 * The same error (acc, the same figures as pair_compare()), and the
 * difference B - A: its statistics and nbins bins (quant/compute.h
 * compute_diff()).  Returns and fills e as pair_compare().
 */
int pair_diff(const struct model *ma, const struct model *mb,
	      const struct pair *p, unsigned nbins,
	      const struct compute_ctl *ctl, struct err_acc *acc,
	      struct vstats *vs, struct histogram *h, struct err *e);

#endif
