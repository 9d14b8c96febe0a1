/*
 * views/view.h - what a screen of qscope is.
 *
 * How the pieces fit: tui/loop.c owns the terminal, the one input loop and
 * a small stack of views.  A view is a module (views/tensors.c, views/help.c,
 * ...) described by a struct view_ops: enter() builds its private state from
 * the model, draw() paints the whole window from that state, act() answers
 * an action and says what must happen next (enum view_effect), leave()
 * frees what enter() took.  tui/ turns keys into actions (tui/keys.c, from
 * the list in views/actions.h) and resizes, redraws, pushes and pops views;
 * a view never sees a raw key, a signal or a colour pair.
 *
 * Dependencies point one way: tui -> views -> formats, quant.  So nothing
 * here includes a tui/ header; what a view needs from the shell (ASCII mode,
 * the attribute of each colour role, the names of the keys bound to an
 * action) comes in through struct view_env, filled by tui/.
 *
 * Rules every view keeps:
 *  - draw() repaints everything from state (never depends on what is already
 *    on the screen), so resize, overlays and returning from help need no
 *    special code; it leaves the window's cursor on the focused row, where
 *    tui/ parks the hardware cursor (braille displays and screen readers
 *    follow it);
 *  - text from a file is shown only after text_sanitize() and cropped by
 *    display width, never by bytes;
 *  - meaning is never carried by colour alone: ask for a role, whose
 *    monochrome attribute must say the same thing.
 */
#ifndef QSCOPE_VIEWS_VIEW_H
#define QSCOPE_VIEWS_VIEW_H

#include <stddef.h>

#include <curses.h>

#include "formats/model.h"
#include "views/actions.h"
#include "views/job.h"

/*
 * Colour roles: what a piece of text is, never which colour it gets.  The
 * attribute (and colour, when colours are on) of each role is decided in
 * tui/colors.h, which has a row for every role listed here.
 */
#define VIEW_ROLES(X)							\
	X(NORMAL,   "ordinary text")					\
	X(TITLE,    "the title bar on the first line")			\
	X(COLUMNS,  "column titles")					\
	X(SELECTED, "the selected row; reverse video in every mode")	\
	X(DTYPE,    "dtype names in the table")				\
	X(BAR,      "share-of-bytes bars")				\
	X(STATUS,   "the status line at the bottom")			\
	X(KEY,      "key names in hints and in the help")		\
	X(GROUP,    "headings in the help")				\
	X(WARNING,  "messages that need attention")

enum role {
#define X(id, what) CR_##id,
	VIEW_ROLES(X)
#undef X
	CR_COUNT
};

/* What the shell tells every view; filled by tui/ before any enter(). */
struct view_env {
	int ascii;		/* ASCII only: '#' bars, '~' ellipsis */
	attr_t attr[CR_COUNT];	/* attribute (with colour pair) per role */
	/*
	 * Names of the keys bound to a, at most max of them (0: all), joined
	 * by ", " into buf ("j, Down"); "" when a has no key.  Returns buf.
	 */
	const char *(*keys)(enum action a, int max, char *buf, size_t n);
	/*
	 * The background worker (views/job.h): queue a job; cancel one and
	 * wait until it is neither queued nor running.
	 */
	void (*job_start)(struct job *j);
	void (*job_stop)(struct job *j);
	const char *plan;	/* --plan: the targets to start with, or NULL */
};

/* What act() asks of tui/; several may be or-ed together. */
enum view_effect {
	VIEW_NONE   = 0,	/* handled; nothing to repaint */
	VIEW_REDRAW = 1 << 0,	/* repaint this view */
	VIEW_LAYOUT = 1 << 1,	/* recompute sizes, then repaint everything */
	VIEW_POP    = 1 << 2,	/* close this view, show the one below */
	VIEW_QUIT   = 1 << 3,	/* leave the program */
	VIEW_PASS   = 1 << 4,	/* not mine: let tui/ handle it generically
				 * (quit, back, help, redraw) */
	VIEW_PUSH   = 1 << 5,	/* open v->push_ops on top, with v->push_arg */
	VIEW_INPUT  = 1 << 6,	/* read a line on the status line after
				 * v->prompt, calling ops->input() */
};

/* What ops->input() is told while a line is read. */
enum input_event {
	INPUT_EDIT,	/* the text changed (incremental search) */
	INPUT_DONE,	/* Enter */
	INPUT_CANCEL,	/* Esc or Ctrl-C: put things back as they were */
};

/* What ops->mouse() is told. */
enum mouse_event {
	MOUSE_CLICK,
	MOUSE_DOUBLE,
};

struct view {
	const struct view_ops *ops;
	const struct model *model;
	const struct view_env *env;
	void *state;		/* ops->state_size bytes, zeroed before enter() */
	int lines, cols;	/* size of the window draw() gets; set by tui/
				 * before enter() and on every resize */
	const void *arg;	/* what the view below passed (push_arg) */
	/* set by act() before returning VIEW_PUSH / VIEW_INPUT */
	const struct view_ops *push_ops;
	const void *push_arg;
	const char *prompt;	/* "/" for a search; static storage */
};

struct view_ops {
	const char *name;	/* used in the title and the help screen */
	size_t state_size;
	/* Build state from m; 0, or -1 with e filled (out of memory). */
	int (*enter)(struct view *v, const struct model *m, struct err *e);
	/*
	 * Paint the whole of w (v->lines x v->cols) from state.  Never changes
	 * the model; may adjust the scroll offset kept in state so that the
	 * selection stays visible at the current size.
	 */
	void (*draw)(const struct view *v, WINDOW *w);
	/* Act on an already translated action. */
	enum view_effect (*act)(struct view *v, enum action a);
	void (*leave)(struct view *v);	/* free what enter() took; stop
					 * its jobs first (env->job_stop) */
	/* Optional.  A line being read changed or ended (see VIEW_INPUT). */
	enum view_effect (*input)(struct view *v, const char *text,
				  enum input_event ev);
	/* Optional.  A click at window row y, column x. */
	enum view_effect (*mouse)(struct view *v, int y, int x,
				  enum mouse_event ev);
	/* Optional.  A job ended, or one is running (called a few times a
	 * second then): take results, start what comes next. */
	enum view_effect (*poll)(struct view *v);
	/* The actions this screen answers beyond moving, ACT_NONE-ended:
	 * the help screen lists them first.  NULL: none. */
	const enum action *actions;
};

extern const struct view_ops view_tensors_ops;	/* views/tensors.c */
extern const struct view_ops view_help_ops;	/* views/help.c */
extern const struct view_ops view_doctor_ops;	/* views/doctor.c */
extern const struct view_ops view_histogram_ops; /* views/histogram.c;
						   * arg: the struct tensor */
extern const struct view_ops view_meta_ops;	/* views/meta.c */
extern const struct view_ops view_memory_ops;	/* views/memory.c */

/*
 * A scrollable list of n rows of which page fit on the screen: the moving
 * and paging that every list-like view shares, written once.
 * sel is the selected row (0 when n == 0), top the first row shown.
 */
struct view_list {
	size_t n, sel, top;
};

/* Keep sel inside the list and on screen; page is the rows shown (>= 1). */
static inline void view_list_clamp(struct view_list *l, size_t page)
{
	if (page < 1)
		page = 1;
	if (l->n == 0) {
		l->sel = l->top = 0;
		return;
	}
	if (l->sel >= l->n)
		l->sel = l->n - 1;
	if (l->top > l->sel)
		l->top = l->sel;
	if (l->sel - l->top >= page)
		l->top = l->sel - page + 1;
	/* no empty space below the last row while earlier rows are hidden */
	if (l->top > 0 && l->n - l->top < page)
		l->top = l->n > page ? l->n - page : 0;
}

/*
 * Apply a moving action to l, page rows being visible.  Pages move the
 * selection and the view together, like less.  Returns VIEW_REDRAW if
 * anything moved, VIEW_NONE if the action moves but nothing changed (at an
 * end), VIEW_PASS for actions that are not moves.
 */
static inline enum view_effect view_list_act(struct view_list *l,
					     enum action a, size_t page)
{
	size_t sel = l->sel, top = l->top, step;

	if (page < 1)
		page = 1;
	switch (a) {
	case ACT_MOVE_DOWN:
		if (l->sel + 1 < l->n)
			l->sel++;
		break;
	case ACT_MOVE_UP:
		if (l->sel > 0)
			l->sel--;
		break;
	case ACT_PAGE_DOWN:
	case ACT_HALF_DOWN:
		step = a == ACT_PAGE_DOWN ? page : (page + 1) / 2;
		l->sel += step;
		l->top += step;
		break;
	case ACT_PAGE_UP:
	case ACT_HALF_UP:
		step = a == ACT_PAGE_UP ? page : (page + 1) / 2;
		l->sel = l->sel > step ? l->sel - step : 0;
		l->top = l->top > step ? l->top - step : 0;
		break;
	case ACT_FIRST:
		l->sel = l->top = 0;
		break;
	case ACT_LAST:
		l->sel = l->n ? l->n - 1 : 0;
		break;
	default:
		return VIEW_PASS;
	}
	view_list_clamp(l, page);
	return l->sel != sel || l->top != top ? VIEW_REDRAW : VIEW_NONE;
}

#endif
