/*
 * views/memory.h - the arithmetic behind the memory screen (views/memory.c):
 * the size of a model's weights in each of a fixed list of number formats,
 * from the shapes alone (no tensor value is read), with the storage rules
 * of the scheme table (quant/schemes.h): codes, scales, zero points and
 * per-tensor constants counted.  A format that does not apply to a tensor
 * (a 1-D norm, a row length the block does not divide, an integer tensor)
 * leaves that tensor at its stored size, and the tensors so kept are
 * counted by reason.  No curses here, so unit tests call it directly.
 */
#ifndef QSCOPE_VIEWS_MEMORY_H
#define QSCOPE_VIEWS_MEMORY_H

#include <stdint.h>

#include "formats/model.h"
#include "quant/schemes.h"

/* Rows: the model as stored, then each format of the screen. */
#define MEMORY_ROWS 13

/* Why a format leaves a tensor as stored. */
enum memory_why {
	MEMORY_WHY_SHAPE,	/* scalar, 1-D or empty */
	MEMORY_WHY_ROW,		/* row length not a multiple of the block */
	MEMORY_WHY_INT,		/* integer or boolean values */
	MEMORY_WHY_OTHER,	/* undecodable dtype, too many dimensions... */
	MEMORY_WHY_COUNT
};

struct memory_row {
	const char *label;	/* "FP8 (e4m3)", as the table shows it */
	const char *tag;	/* "fp8": short, for lines that list formats */
	const struct scheme *scheme;	/* NULL for the row of the model as
					 * stored ("on disk now") */
	uint64_t bytes;		/* the weights in this format */
	uint64_t kept;		/* tensors left as stored */
	uint64_t kept_params, kept_bytes;
	uint64_t why[MEMORY_WHY_COUNT];	/* kept tensors, by reason */
};

/*
 * Fill rows[0..MEMORY_ROWS) for the tensors of m: row 0 is the model as
 * stored (m's tensor bytes), then FP32, TF32, FP16, BF16, FP8 (e4m3), INT8,
 * INT4 (g128), NF4, NF4 with double quant, Q8_0, Q4_K and ternary.
 * Returns 0, or -1 if the scheme table lacks one of them.
 */
int memory_table(const struct model *m, struct memory_row *rows);

/* Bits per weight of a row averaged over params weights (0 if none). */
double memory_bits(const struct memory_row *r, uint64_t params);

/* The memory budgets the screen compares sizes with, in GiB (what a
 * "24 GB" graphics card holds), ascending. */
extern const unsigned memory_budgets[];
extern const size_t memory_nbudgets;

/* Does a row of this many bytes fit in budget GiB? */
int memory_fits(uint64_t bytes, unsigned gib);

#endif
