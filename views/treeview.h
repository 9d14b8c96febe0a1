/*
 * views/treeview.h - a folding tree of names on a screen: what the tensor
 * screen (views/tensors.c) and the diff screen (views/diff.c) show and do
 * the same way.
 *
 * A screen embeds a struct treeview in its state and keeps only what is
 * its own: its columns, what its sort keys mean, its background work.
 * The treeview holds the tree (views/tree.h), each node's label and full
 * name as text, the rows shown and the selection among them.  It draws the
 * name cell (indentation, fold marker and label; the full name in the flat
 * list), the mode at the right end of the column titles ("tree, by name")
 * and the rows, and it answers folding (Left, Right, Enter on a group, *),
 * the flat list (T), sorting (s, S), the search as you type (/, n, N) and
 * clicks.  The screen says how two nodes compare in its sort
 * (struct treeview_sorts): its key, then tree_name_cmp() for ties, in the
 * direction of reverse.
 *
 * The screen's rows sit between TREEVIEW_ABOVE lines (title, column
 * titles) and TREEVIEW_BELOW (the status line).
 */
#ifndef QSCOPE_VIEWS_TREEVIEW_H
#define QSCOPE_VIEWS_TREEVIEW_H

#include <stddef.h>
#include <wchar.h>

#include <curses.h>

#include "formats/model.h"
#include "views/tree.h"
#include "views/view.h"
#include "views/widgets.h"

#define TREEVIEW_ABOVE	2
#define TREEVIEW_BELOW	1
/* Columns of indentation per tree level, and of the fold marker. */
#define TREEVIEW_INDENT	2
#define TREEVIEW_MARK_W	2
/* The longest search. */
#define TREEVIEW_QUERY_MAX 256

/* What a screen tells its treeview about its sort. */
struct treeview_sorts {
	/*
	 * Nodes a and b in the screen's order (full: tensors by their full
	 * names, as in the flat list), its tv.sort and tv.reverse included:
	 * < 0, 0 or > 0.  Called on the UI thread only.
	 */
	int (*cmp)(const void *ctx, size_t a, size_t b, int full);
	const char *const *names;	/* of each key, for "tree, by name" */
	int n;				/* keys; s steps through them */
};

struct treeview {
	struct tree tree;
	struct text *label;	/* per node: its label */
	struct text *full;	/* per node: a tensor's full name; made when
				 * the flat list or a search first needs it */
	size_t *rows, rows_cap;	/* the nodes shown, top to bottom */
	struct view_list list;
	int flat, reverse;
	int sort;		/* the screen's sort key, < sorts->n */
	const struct treeview_sorts *sorts;
	const void *ctx;	/* the screen's, for sorts->cmp */
	int tree_need, flat_need;	/* name column widths wanted */
	int ascii;
	/* the search */
	wchar_t query[TREEVIEW_QUERY_MAX + 1];	/* NUL-terminated */
	size_t qlen;
	size_t origin;		/* the node selected when the search began */
	char *msg;		/* the screen's status message, msg_n bytes:
				 * what a search or the flat list has to say */
	size_t msg_n;
};

/*
 * Build tv's tree of m's tensors, in name order (tree_build()), and each
 * node's label, for text drawn in ASCII or not.  sorts says how the screen
 * orders its rows (ctx is passed to its cmp); what a search or the flat
 * list has to say goes to msg (msg_n bytes: the screen's status message).
 * The rows are made by treeview_rebuild().  0, or -1 when out of memory
 * (treeview_release() then frees what was made).
 */
int treeview_init(struct treeview *tv, const struct model *m, int ascii,
		  const struct treeview_sorts *sorts, const void *ctx,
		  char *msg, size_t msg_n);
void treeview_release(struct treeview *tv);

/* Make the full names, if not yet made; -1 when out of memory. */
int treeview_full_names(struct treeview *tv);

/* Sort every group's children (the rows are not rebuilt). */
void treeview_sort(struct treeview *tv);

/* Rebuild the rows shown, keeping node keep selected if it is still shown
 * (else the nearest row); -1 when out of memory (no rows then). */
int treeview_rebuild(struct treeview *tv, size_t keep);

/* The node of the selected row, or TREE_NONE when there are no rows. */
size_t treeview_selected(const struct treeview *tv);

/* The rows of the list on v's screen (at least 1). */
size_t treeview_page(const struct view *v);

/* The name column's wanted width: the tree's or the flat list's. */
int treeview_name_need(const struct treeview *tv);

/* "3/30": the selected row and the number of rows. */
void treeview_pos(const struct treeview *tv, char *buf, size_t n);

/* The name cell of node i: indentation, fold marker and label, or the
 * full name in the flat list, in exactly width columns. */
void treeview_draw_name(const struct view *v, WINDOW *w,
			const struct treeview *tv, size_t i, int width);

/* A column after the names: its title, its width (0: hidden, left out)
 * and whether it is aligned on the right. */
struct treeview_col {
	const char *title;
	int width;
	int right;
};

/* The column titles' line: cleared, then "name" in name columns and the
 * titles of the n columns shown, W_GAP apart; the cursor is left after
 * the last. */
void treeview_draw_titles(const struct view *v, WINDOW *w, int name,
			  const struct treeview_col *c, size_t n);

/* "tree, by name" at the right end of the column titles' line, when there
 * is room after what is drawn there. */
void treeview_draw_mode(const struct view *v, WINDOW *w,
			const struct treeview *tv);

/*
 * Keep the selection on screen, then draw the rows shown with row(), one
 * a line from TREEVIEW_ABOVE ("(no tensors)" when there is none).  Returns
 * the line of the selected row, where draw() leaves the cursor.
 */
int treeview_draw_rows(const struct view *v, WINDOW *w, struct treeview *tv,
		       void (*row)(const struct view *v, WINDOW *w, int y,
				   size_t node, int sel, const void *ctx),
		       const void *ctx);

/*
 * Answer the actions of the tree: ACT_OPEN and ACT_EXPAND on a group (the
 * screen opens a tensor itself), ACT_COLLAPSE, ACT_EXPAND_ALL, ACT_FLAT,
 * ACT_SORT, ACT_SORT_REV, ACT_SEARCH (VIEW_INPUT with v->prompt "/"),
 * ACT_SEARCH_NEXT, ACT_SEARCH_PREV, and moving.  VIEW_PASS for the rest.
 */
enum view_effect treeview_act(struct view *v, struct treeview *tv,
			      enum action a);

/* The search line changed or ended (ACT_SEARCH's input). */
enum view_effect treeview_input(struct treeview *tv, const char *text,
				enum input_event ev);

/* A click on line y selects its row; a double click also opens it
 * (v->ops->act with ACT_OPEN). */
enum view_effect treeview_mouse(struct view *v, struct treeview *tv, int y,
				enum mouse_event ev);

#endif
