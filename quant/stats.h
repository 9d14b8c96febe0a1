/*
 * quant/stats.h - statistics of values and of errors, streamed in chunks.
 *
 * Everything here works on float arrays handed in by the caller, a chunk at
 * a time, so a tensor never needs to be decoded whole; accumulators of
 * different chunks (or threads) merge.  Sums are in double.  NaN and
 * infinity are counted apart and never enter sums, extremes or bins.
 * No I/O, no curses.
 */
#ifndef QSCOPE_QUANT_STATS_H
#define QSCOPE_QUANT_STATS_H

#include <stddef.h>
#include <stdint.h>

/* ---- values ---- */

struct vstats {
	uint64_t count;		/* every value seen */
	uint64_t nan, inf;	/* not finite (inf: both signs) */
	uint64_t zeros;		/* == 0 (either sign) */
	double min, max;	/* over finite values; +inf/-inf when none */
	double sum, sumsq;	/* over finite values */
	double absmax;		/* over finite values; 0 when none */
};

void vstats_init(struct vstats *s);
void vstats_add(struct vstats *s, const float *x, size_t n);
void vstats_merge(struct vstats *into, const struct vstats *from);
double vstats_mean(const struct vstats *s);	/* NaN when no finite value */
double vstats_std(const struct vstats *s);	/* population std; NaN likewise */

/* Bins of equal width over [lo, hi]; hi itself falls in the last bin. */
struct histogram {
	double lo, hi;
	unsigned nbins;
	uint64_t *counts;	/* nbins; owned */
	uint64_t below, above;	/* finite values outside [lo, hi] */
};

/* Allocate nbins (>= 1) zeroed bins; lo == hi gives one bin holding it. */
void hist_init(struct histogram *h, double lo, double hi, unsigned nbins);
void hist_add(struct histogram *h, const float *x, size_t n);
/* The bin hist_add() counts x in; -1 when x is outside [lo, hi] or NaN. */
int hist_bin(const struct histogram *h, double x);
void hist_merge(struct histogram *into, const struct histogram *from);
void hist_release(struct histogram *h);

/* ---- errors of a reconstruction y of x ---- */

struct err_acc {
	uint64_t n;		/* pairs where x is finite */
	double sse;		/* sum (y - x)^2 over finite x, finite y */
	double sxx, syy, sxy;	/* for the norm ratio and cosine */
	double max_abs;		/* largest |y - x| over finite pairs */
	uint64_t to_inf;	/* finite x whose y is +-inf or NaN */
	uint64_t nonzero;	/* finite x != 0 */
	uint64_t flushed;	/* of those, y == 0 */
	uint64_t clipped;	/* added by the quantizer that saturated them */
};

struct err_metrics {
	double rmse;		/* sqrt(sse / n) */
	double rel_err;		/* ||y - x|| / ||x|| */
	double sqnr_db;		/* 10 log10(||x||^2 / ||y - x||^2); inf if exact */
	double cosine;		/* <x, y> / (||x|| ||y||); 1 when both are 0 */
	double max_abs_err;
	double clipped_share;	/* (clipped + to_inf) / n */
	double flushed_share;	/* flushed / nonzero */
};

void err_acc_init(struct err_acc *a);
void err_acc_add(struct err_acc *a, const float *x, const float *y, size_t n);
void err_acc_merge(struct err_acc *into, const struct err_acc *from);
void err_acc_finish(const struct err_acc *a, struct err_metrics *m);

#endif
