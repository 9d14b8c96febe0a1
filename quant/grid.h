/*
 * quant/grid.h - the values a scheme can represent, and one tensor's values
 * before and after the scheme, side by side.
 *
 * A scheme's representable values depend on a scale (and for asymmetric
 * formats an offset) that each block of values gets: value = off + scale *
 * code, code from a fixed list of levels (the 16 NF4 codes, the integers
 * -8..7 of int4, every finite FP8 value, ...).  struct grid holds that list
 * and the rule that gives a block's scale, so that a screen can mark the
 * levels at the scale a typical block gets (the median over blocks) and
 * tell which levels no value maps to.  Casts (f16, bf16, tf32) have no
 * levels worth marking, only a largest finite value.
 *
 * grid_compare() streams a tensor through a scheme exactly as
 * scheme_error() does (same chunks, same pieces, same order of sums), so
 * its error figures equal those of `qscope try`, bit for bit; on the way it
 * takes histograms of the values, of their reconstruction and of the error,
 * the median block scale and how many values each level got.
 *
 * No I/O (beyond what the reader does), no curses.
 */
#ifndef QSCOPE_QUANT_GRID_H
#define QSCOPE_QUANT_GRID_H

#include <stddef.h>
#include <stdint.h>

#include "quant/compute.h"
#include "quant/schemes.h"
#include "quant/stats.h"

/* The most levels a scheme has here (int8's 255, FP8 E4M3's 253). */
#define GRID_MAX 256

/* The largest finite float16, and the magnitude from which a cast to
 * float16 (round to nearest even) gives infinity. */
#define GRID_F16_MAX	65504.0
#define GRID_F16_INF	65520.0

enum grid_kind {
	GRID_NONE,	/* nothing to mark (f32) */
	GRID_LIMIT,	/* a cast: only +-limit */
	GRID_LEVELS,	/* levels at a scale: off + scale * code[k] */
};

/* How a block's scale (and offset) follows from its values. */
enum grid_rule {
	GRID_R_NONE,
	GRID_R_TENSOR,	/* per tensor: prepass absmax / div (1 if 0) */
	GRID_R_MEAN,	/* per tensor: prepass mean |x| */
	GRID_R_ABSMAX,	/* block absmax / div */
	GRID_R_SIGNED,	/* the block's largest-|x| value, signed, / -div */
	GRID_R_MINMAX,	/* off = min (min(min, 0) with zero_min), scale =
			 * (max - off) / div */
	GRID_R_ZERO,	/* int4-asym: scale (max - min) / div, off = -zero *
			 * scale, zero = clamp(round(-min / scale), 0, div) */
	GRID_R_MX,	/* 2^(floor(log2 absmax) - 2), at least 2^-127 */
	GRID_R_ROWMEAN,	/* mean |x| of the block */
};

struct grid {
	enum grid_kind kind;
	enum grid_rule rule;
	double limit;		/* GRID_LIMIT: the largest finite magnitude */
	/* GRID_LEVELS */
	unsigned n;		/* levels */
	float code[GRID_MAX];	/* ascending, distinct */
	/* elements sharing a scale: 0 one outer row, UINT64_MAX the tensor */
	uint64_t block;
	double div;		/* see enum grid_rule */
	int zero_min;		/* GRID_R_MINMAX: the offset is at most 0 */
	/* grid_block() only estimates the scale: the quantizer searches
	 * for a better one (k-quants); grid_compare() reads the scales the
	 * GGUF blocks store instead */
	int estimated;
};

/* Fill g for scheme s (any row of the table).  Returns 0; -1 for a scheme
 * unknown here (g->kind is then GRID_NONE). */
int grid_init(struct grid *g, const struct scheme *s);

/*
 * The scale and offset of the block x[0..n) (its finite values), by g's
 * rule; c gives the per-tensor figures (GRID_R_TENSOR, GRID_R_MEAN).
 * An all-zero block has scale 0.
 */
void grid_block(const struct grid *g, const struct scheme_ctx *c,
		const float *x, size_t n, float *scale, float *off);

/* The level of g nearest to v (in code units); ties take the lower. */
unsigned grid_nearest(const struct grid *g, float v);

/* ---- one tensor before and after ---- */

struct grid_result {
	struct histogram x;	/* the values, nbins over [min, max] */
	struct histogram y;	/* their reconstruction, over the same range */
	struct histogram e;	/* y - x, over [min, max] of the error */
	struct err_acc acc;	/* as scheme_error() gives it */
	struct grid g;
	/* median over blocks of the scale and offset (GRID_LEVELS) */
	double scale, off;
	uint64_t blocks;	/* blocks seen */
	int sampled;		/* the median is of every k-th block only */
	uint64_t used[GRID_MAX];	/* values that took each level */
	uint64_t f16_over;	/* finite |x| >= GRID_F16_INF */
};

/*
 * Quantize and dequantize the tensor that read gives (a tensor of this
 * shape) with s, as scheme_error() does, filling r (nbins >= 1 bins per
 * histogram).  Reads the values three times (range and prepass; error and
 * histograms; error histogram).  Memory: a few pieces per thread, nbins
 * counters per histogram and thread, one float per block (every k-th block
 * past 4 Mi blocks).  Returns 0; 1 when cancelled; -1 when the reader (or
 * memory, or threads) failed; -2 when s does not apply to the shape.
 * r holds no memory unless 0 is returned.
 */
int grid_compare(const struct scheme *s, const struct scheme_shape *shape,
		 chunk_read_fn *read, void *arg, unsigned nbins,
		 const struct compute_ctl *ctl, struct grid_result *r);
void grid_result_release(struct grid_result *r);

/*
 * The histogram h summed into width columns: column c holds the bins
 * [c * nbins / width, (c + 1) * nbins / width), at least one.
 */
void grid_columns(const struct histogram *h, double *col, int width);

/* The column of value v on an axis of width columns over [lo, hi]; -1
 * outside. */
int grid_column(double lo, double hi, int width, double v);

#endif
