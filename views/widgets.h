/*
 * views/widgets.h - the drawing pieces every screen shares: text from a
 * file made safe and measured (struct text), cropping by display width,
 * bars in eighths of a cell, histograms with their axes and marks,
 * numbers in a few columns, the title bar and the status line.
 *
 * Text from a file goes through text_make() once, when a view builds its
 * state; drawing it is then only a walk over code points whose widths are
 * known, so a resize or a repaint costs nothing.  Every function draws at
 * the window's cursor and leaves the cursor after what it drew.
 */
#ifndef QSCOPE_VIEWS_WIDGETS_H
#define QSCOPE_VIEWS_WIDGETS_H

#include <stddef.h>
#include <wchar.h>

#include <curses.h>

#include "quant/stats.h"
#include "views/view.h"

/* Space between columns. */
#define W_GAP 2

/* A string ready to draw: code points and their display widths. */
struct text {
	wchar_t *s;
	unsigned char *w;	/* 0, 1 or 2 per code point */
	size_t n;
	int width;		/* sum of w */
};

/*
 * Make t from s (UTF-8 from a file, or ours): sanitized (text_sanitize),
 * decoded, every code point given its width; invisible format characters
 * shown as \uXXXX.  With ascii set every non-ASCII character becomes '?'.
 * Returns 0, or -1 when out of memory (t then holds nothing).
 */
int text_make(struct text *t, const char *s, int ascii);
void text_release(struct text *t);

/* Does t contain needle (ASCII case-insensitive, on the sanitized text)? */
int text_contains(const struct text *t, const wchar_t *needle, size_t n);

enum crop { CROP_END, CROP_MIDDLE, CROP_START };

/*
 * Draw t in exactly avail columns: padded with spaces (on the right, or on
 * the left when right is set), or cropped by display width with an
 * ellipsis at the end, in the middle or at the start.  A wide character
 * that would straddle the edge is replaced by padding.
 */
void w_text(WINDOW *w, const struct view_env *env, const struct text *t,
	    int avail, enum crop how, int right);

/* Draw a plain ASCII string s in exactly width columns, cropped or padded
 * (on the left when right is set). */
void w_str(WINDOW *w, const char *s, int width, int right);

void w_spaces(WINDOW *w, int n);

/* A horizontal bar of width cells showing frac (0..1), in eighths of a
 * cell ('#' in ASCII mode). */
void w_hbar(WINDOW *w, const struct view_env *env, double frac, int width);

/* One cell of a vertical bar that is filled to eighths (0..8) of the cell
 * height, from the bottom (ASCII: '#' from 4 eighths up, '.' below). */
void w_vcell(WINDOW *w, const struct view_env *env, int eighths);

/*
 * A plot of width columns and h rows with its top-left cell at (y, x):
 * column c is a vertical bar of height col[c] against the largest column
 * (log: log(1 + count) scaled), in eighths of a cell; any non-zero column
 * shows at least one eighth.
 */
void w_plot(WINDOW *w, const struct view_env *env, int y, int x,
	    const double *col, int width, int h, int log);

/*
 * An axis line of width columns at (y, x), a mark at zero_col (none when
 * it is outside), and on the line below: lo at the left, hi at the right
 * and mid (may be NULL) under the mark, each only where it fits.
 */
void w_axis(WINDOW *w, const struct view_env *env, int y, int x, int width,
	    int zero_col, const char *lo, const char *mid, const char *hi);

/* A mark on an axis: ch in role at column col (0: the axis's first). */
struct w_mark {
	int col;
	char ch;
	enum role role;
};

/* Marks m[0..n) on an axis of width columns that w_axis() drew at (y, x);
 * those outside the axis are left out. */
void w_axis_marks(WINDOW *w, const struct view_env *env, int y, int x,
		  int width, const struct w_mark *m, size_t n);

/* A histogram as a plot of width columns and height rows at (y, x): a
 * column sums the bins it covers (quant/grid.h grid_columns()). */
void w_hist_plot(WINDOW *w, const struct view_env *env, int y, int x,
		 const struct histogram *h, int width, int height, int log);

/* The axis of width columns at (y, x) under a plot of h: its range as
 * labels, zero marked where it lies inside. */
void w_hist_axis(WINDOW *w, const struct view_env *env, int y, int x,
		 int width, const struct histogram *h);

/* A number in at most 10 characters: "0.0123", "-1.2e+05", "-" for NaN,
 * "inf". */
void w_num(double v, char *buf, size_t n);

/*
 * Entries e[0..n) from (y, 1) on, several to a line gap columns apart,
 * over at most rows lines (an entry that does not fit the line starts the
 * next); empty entries are left out.
 */
void w_flow(const struct view *v, WINDOW *w, int y, int rows,
	    const char (*e)[64], int n, int gap);

/* A line of text from a file (an error message) at (y, 1) in role,
 * cropped at its end. */
void w_message(const struct view *v, WINDOW *w, int y, enum role role,
	       const char *s);

/* The title bar on line 0 showing t, cropped at its start (a tensor's
 * name keeps its end). */
void w_title_text(const struct view *v, WINDOW *w, const struct text *t);

/*
 * The title bar on line 0: left (cropped at its end) then, if it fits,
 * right-aligned extra text.  Either may be NULL.
 */
void w_title(const struct view *v, WINDOW *w, const char *left,
	     const char *right);

/* A key hint for the status line: the first key bound to act, then label. */
struct w_hint {
	enum action act;
	const char *label;
};

/*
 * The status line on the last line: left text (cropped at its end; may be
 * NULL), then on the right pos (may be NULL) and the hints, each as its
 * key in the KEY role and its label.  Hints give way from the end when the
 * line is too narrow.
 */
void w_status(const struct view *v, WINDOW *w, const struct text *left,
	      const char *pos, const struct w_hint *hints, size_t nhints);

/* A progress line "label  [#####     ]  42%" at row y across the width. */
void w_progress(const struct view *v, WINDOW *w, int y, const char *label,
		double done);

#endif
