/*
 * views/histogram.h - the histogram screen (views/histogram.c) for values
 * that are not one stored tensor's, such as the difference B - A of a
 * pair on the diff screen (views/diff.c).
 *
 * A tensor's own histogram is view_histogram_ops (views/view.h; its arg
 * is the struct tensor): results kept for the session, the absmax of each
 * row (r), the compare screen (c).  view_histogram_of_ops draws the same
 * plot, axis and statistics for a struct hist_source: the caller says what
 * the values are and computes them on the worker (views/job.h), so the
 * screen never needs to know how they are read.
 */
#ifndef QSCOPE_VIEWS_HISTOGRAM_H
#define QSCOPE_VIEWS_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "quant/compute.h"
#include "quant/stats.h"
#include "views/view.h"

/* Lines of figures a source may put above the statistics. */
#define HIST_FIGS	8
#define HIST_FIG_W	64

/* What the values job gives the screen. */
struct hist_values {
	struct vstats vs;
	struct histogram h;	/* bins over [vs.min, vs.max], as
				 * compute_stats() makes them */
	/* Counted by a second read (tail set): the finite values beyond
	 * 6 std of the mean, and those a cast to float16 makes infinite. */
	int tail;
	uint64_t beyond, f16_over;
	/* shown above the statistics, in the panel's order */
	char figs[HIST_FIGS][HIST_FIG_W];
	int nfigs;
};

struct hist_source {
	const char *title;	/* line 0: what the values are (any text) */
	const char *what;	/* line 1: "difference B - A" */
	const char *reading;	/* the progress bar's label */
	const char *zeros;	/* the label of the count of zeros: "equal" */
	/*
	 * On the worker: out (zeroed) filled with nbins bins.  Returns 0;
	 * 1 when cancelled (ctl->cancel); -1 with err filled.  ctl carries
	 * the job's progress.  On a non-zero return out holds no memory.
	 */
	int (*run)(const void *ctx, unsigned nbins,
		   const struct compute_ctl *ctl, struct hist_values *out,
		   char *err, size_t errlen);
	const void *ctx;
};

/* arg: a struct hist_source that outlives the screen. */
extern const struct view_ops view_histogram_of_ops;

#endif
