/*
 * views/treeview.c - a folding tree of names on a screen (see
 * treeview.h).
 */
#include "views/treeview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

/* ---- building ---- */

int treeview_init(struct treeview *tv, const struct model *m, int ascii,
		  const struct treeview_sorts *sorts, const void *ctx,
		  char *msg, size_t msg_n)
{
	tv->sorts = sorts;
	tv->ctx = ctx;
	tv->msg = msg;
	tv->msg_n = msg_n;
	tv->ascii = ascii;
	tv->origin = TREE_NONE;
	tv->tree_need = tv->flat_need = (int)strlen("name");
	if (tree_build(&tv->tree, m) < 0)
		return -1;
	tv->label = calloc(tv->tree.n ? tv->tree.n : 1, sizeof(*tv->label));
	if (!tv->label)
		return -1;
	for (size_t i = 1; i < tv->tree.n; i++) {
		const struct tree_node *nd = &tv->tree.nodes[i];

		if (nd->parent == TREE_NONE)
			continue;	/* merged into its parent */
		if (text_make(&tv->label[i], nd->label, ascii) < 0)
			return -1;
		tv->tree_need = max_int(tv->tree_need,
					(nd->depth - 1) * TREEVIEW_INDENT +
					TREEVIEW_MARK_W + tv->label[i].width);
	}
	return 0;
}

void treeview_release(struct treeview *tv)
{
	for (size_t i = 0; i < tv->tree.n; i++) {
		if (tv->label)
			text_release(&tv->label[i]);
		if (tv->full)
			text_release(&tv->full[i]);
	}
	free(tv->label);
	free(tv->full);
	free(tv->rows);
	tree_release(&tv->tree);
	tv->label = tv->full = NULL;
	tv->rows = NULL;
	tv->rows_cap = 0;
	tv->list.n = 0;
}

int treeview_full_names(struct treeview *tv)
{
	if (tv->full)
		return 0;
	tv->full = calloc(tv->tree.n ? tv->tree.n : 1, sizeof(*tv->full));
	if (!tv->full)
		return -1;
	for (size_t i = 0; i < tv->tree.n; i++) {
		const struct tensor *t = tv->tree.nodes[i].tensor;

		if (!t)
			continue;
		if (text_make(&tv->full[i], t->name ? t->name : "",
			      tv->ascii) < 0)
			return -1;
		tv->flat_need = max_int(tv->flat_need, tv->full[i].width);
	}
	return 0;
}

/* ---- order and rows ---- */

/* qsort has no context argument; sorting happens on the UI thread only. */
static struct {
	const struct treeview *tv;
	int full;
} by;

static int cmp_rows(const void *pa, const void *pb)
{
	return by.tv->sorts->cmp(by.tv->ctx, *(const size_t *)pa,
			  *(const size_t *)pb, by.full);
}

void treeview_sort(struct treeview *tv)
{
	by.tv = tv;
	by.full = 0;
	for (size_t i = 0; i < tv->tree.n; i++)
		if (tv->tree.nodes[i].nkids > 1)
			qsort(tv->tree.nodes[i].kids, tv->tree.nodes[i].nkids,
			      sizeof(size_t), cmp_rows);
}

/* Every tensor node in the order shown, folds ignored (the flat list's
 * order when it is shown) into *rows; their number or TREE_NONE. */
static size_t tensor_rows(const struct treeview *tv, size_t **rows,
			  size_t *cap)
{
	size_t n = tree_rows(&tv->tree, TREE_TENSORS, TREE_BY_NAME, 0, rows,
			     cap);

	if (tv->flat && n != TREE_NONE && n > 1) {
		by.tv = tv;
		by.full = 1;
		qsort(*rows, n, sizeof(size_t), cmp_rows);
	}
	return n;
}

int treeview_rebuild(struct treeview *tv, size_t keep)
{
	size_t n = tv->flat ? tensor_rows(tv, &tv->rows, &tv->rows_cap) :
		   tree_rows(&tv->tree, TREE_SHOWN, TREE_BY_NAME, 0,
			     &tv->rows, &tv->rows_cap);

	if (n == TREE_NONE) {
		tv->list.n = 0;
		return -1;
	}
	tv->list.n = n;
	for (size_t i = 0; keep != TREE_NONE && i < n; i++)
		if (tv->rows[i] == keep) {
			tv->list.sel = i;
			break;
		}
	if (tv->list.sel >= n)
		tv->list.sel = n ? n - 1 : 0;
	return 0;
}

size_t treeview_selected(const struct treeview *tv)
{
	return tv->list.n ? tv->rows[tv->list.sel] : TREE_NONE;
}

size_t treeview_page(const struct view *v)
{
	int n = v->lines - TREEVIEW_ABOVE - TREEVIEW_BELOW;

	return n > 0 ? (size_t)n : 1;
}

int treeview_name_need(const struct treeview *tv)
{
	return tv->flat ? tv->flat_need : tv->tree_need;
}

void treeview_pos(const struct treeview *tv, char *buf, size_t n)
{
	snprintf(buf, n, "%zu/%zu", tv->list.n ? tv->list.sel + 1 : 0,
		 tv->list.n);
}

/* ---- drawing ---- */

void treeview_draw_name(const struct view *v, WINDOW *w,
			const struct treeview *tv, size_t i, int width)
{
	const struct view_env *env = v->env;
	const struct tree_node *nd = &tv->tree.nodes[i];
	int indent;

	if (tv->flat) {
		/* the end of a name tells it from the others */
		w_text(w, env, &tv->full[i], width, CROP_START, 0);
		return;
	}
	indent = (nd->depth - 1) * TREEVIEW_INDENT;
	/* deep trees on narrow screens: the label keeps 8 columns */
	if (indent > width - TREEVIEW_MARK_W - 8)
		indent = max_int(0, width - TREEVIEW_MARK_W - 8);
	w_spaces(w, indent);
	width -= indent;
	if (width >= TREEVIEW_MARK_W) {
		if (nd->tensor)
			w_spaces(w, TREEVIEW_MARK_W);
		else if (env->ascii)
			waddstr(w, nd->open ? "- " : "+ ");
		else
			waddwstr(w, nd->open ? L"\u25be " : L"\u25b8 ");
		width -= TREEVIEW_MARK_W;
	}
	w_text(w, env, &tv->label[i], width, CROP_MIDDLE, 0);
}

void treeview_draw_titles(const struct view *v, WINDOW *w, int name,
			  const struct treeview_col *c, size_t n)
{
	wattrset(w, v->env->attr[CR_COLUMNS]);
	mvwhline(w, 1, 0, ' ', v->cols);
	wmove(w, 1, 1);
	w_str(w, "name", name, 0);
	for (size_t k = 0; k < n; k++) {
		if (!c[k].width)
			continue;
		w_spaces(w, W_GAP);
		w_str(w, c[k].title, c[k].width, c[k].right);
	}
}

void treeview_draw_mode(const struct view *v, WINDOW *w,
			const struct treeview *tv)
{
	char mode[48];
	int x;

	snprintf(mode, sizeof(mode), "%s, by %s%s", tv->flat ? "flat" : "tree",
		 tv->sorts->names[tv->sort], tv->reverse ? " reversed" : "");
	x = v->cols - 1 - (int)strlen(mode);
	if (x >= getcurx(w) + W_GAP)
		mvwaddstr(w, 1, x, mode);
}

int treeview_draw_rows(const struct view *v, WINDOW *w, struct treeview *tv,
		       void (*row)(const struct view *v, WINDOW *w, int y,
				   size_t node, int sel, const void *ctx),
		       const void *ctx)
{
	size_t page = treeview_page(v);
	int cursor_y = TREEVIEW_ABOVE;

	view_list_clamp(&tv->list, page);
	if (tv->list.n == 0) {
		wattrset(w, v->env->attr[CR_NORMAL]);
		mvwaddnstr(w, TREEVIEW_ABOVE, 1, "(no tensors)", v->cols - 2);
	}
	for (size_t i = 0; i < page && tv->list.top + i < tv->list.n; i++) {
		size_t idx = tv->list.top + i;
		int y = TREEVIEW_ABOVE + (int)i;

		row(v, w, y, tv->rows[idx], idx == tv->list.sel, ctx);
		if (idx == tv->list.sel)
			cursor_y = y;
	}
	return cursor_y;
}

/* ---- search ---- */

/* Set the query from UTF-8 text. */
static void set_query(struct treeview *tv, const char *s)
{
	mbstate_t ps;
	size_t n = 0;

	memset(&ps, 0, sizeof(ps));
	while (*s && n < TREEVIEW_QUERY_MAX) {
		wchar_t c;
		size_t k = mbrtowc(&c, s, strlen(s), &ps);

		if (k == 0 || k == (size_t)-1 || k == (size_t)-2) {
			c = 0xfffd;
			k = 1;
			memset(&ps, 0, sizeof(ps));
		}
		tv->query[n++] = c;
		s += k;
	}
	tv->query[n] = L'\0';
	tv->qlen = n;
}

/* Is node x at or under group g? */
static int under(const struct tree *t, size_t x, size_t g)
{
	for (; x != TREE_NONE; x = t->nodes[x].parent)
		if (x == g)
			return 1;
	return 0;
}

static void say(struct treeview *tv, const char *s)
{
	if (tv->msg && tv->msg_n)
		snprintf(tv->msg, tv->msg_n, "%s", s);
}

/*
 * Select the next tensor whose name contains the query, starting at node
 * from (itself included when same is set), forwards or backwards in the
 * order shown, wrapping around.  0 found, -1 not (or out of memory).
 */
static int find(struct treeview *tv, size_t from, int dir, int same)
{
	size_t *order = NULL, cap = 0, n, start = 0, hit = TREE_NONE;
	char q[64], line[96];

	if (treeview_full_names(tv) < 0)
		return -1;
	n = tensor_rows(tv, &order, &cap);
	if (n == TREE_NONE || n == 0) {
		free(order);
		return -1;
	}
	/* where from is in that order: itself, or the first tensor under it */
	for (size_t i = 0; i < n; i++)
		if (order[i] == from || under(&tv->tree, order[i], from)) {
			start = i;
			break;
		}
	for (size_t k = 0; k < n; k++) {
		size_t i;

		if (dir > 0)
			i = (start + k + (same ? 0 : 1)) % n;
		else
			i = (start + n - k - (same ? 0 : 1)) % n;
		if (text_contains(&tv->full[order[i]], tv->query, tv->qlen)) {
			hit = order[i];
			if ((dir > 0 && i < start) || (dir < 0 && i > start))
				say(tv, "search wrapped around");
			break;
		}
	}
	free(order);
	if (hit == TREE_NONE) {
		wcstombs(q, tv->query, sizeof(q));
		q[sizeof(q) - 1] = '\0';
		snprintf(line, sizeof(line), "no tensor name contains '%s'", q);
		say(tv, line);
		return -1;
	}
	if (!tv->flat)
		tree_reveal(&tv->tree, hit);
	treeview_rebuild(tv, hit);
	return 0;
}

enum view_effect treeview_input(struct treeview *tv, const char *text,
				enum input_event ev)
{
	if (ev == INPUT_CANCEL) {
		/* back where the search began */
		if (tv->origin != TREE_NONE) {
			if (!tv->flat)
				tree_reveal(&tv->tree, tv->origin);
			treeview_rebuild(tv, tv->origin);
		}
		tv->qlen = 0;
		return VIEW_REDRAW;
	}
	set_query(tv, text);
	if (tv->qlen && tv->origin != TREE_NONE)
		find(tv, tv->origin, 1, 1);
	if (ev == INPUT_DONE)
		tv->origin = TREE_NONE;
	return VIEW_REDRAW;
}

/* ---- actions ---- */

/* * opens every group, or folds them all when none is closed. */
static void expand_all(struct treeview *tv, size_t i)
{
	const struct tree *t = &tv->tree;
	int any_closed = 0;

	for (size_t k = 1; k < t->n; k++)
		if (t->nodes[k].nkids && !t->nodes[k].open &&
		    t->nodes[k].parent != TREE_NONE)
			any_closed = 1;
	tree_open_all(&tv->tree, any_closed);
	/* folding everything keeps the selection on its top group */
	while (!any_closed && i != TREE_NONE && t->nodes[i].parent != 0 &&
	       t->nodes[i].parent != TREE_NONE)
		i = t->nodes[i].parent;
	tv->flat = 0;
	treeview_rebuild(tv, i);
}

static enum view_effect toggle_flat(struct treeview *tv, size_t i)
{
	const struct tree *t = &tv->tree;

	if (!tv->flat && treeview_full_names(tv) < 0) {
		say(tv, "out of memory");
		return VIEW_REDRAW;
	}
	tv->flat = !tv->flat;
	/* a group has no row in the flat list: its first tensor */
	if (i != TREE_NONE && !t->nodes[i].tensor && tv->flat)
		while (i != TREE_NONE && !t->nodes[i].tensor)
			i = t->nodes[i].nkids ? t->nodes[i].kids[0] : TREE_NONE;
	if (!tv->flat && i != TREE_NONE)
		tree_reveal(&tv->tree, i);
	treeview_rebuild(tv, i);
	return VIEW_LAYOUT;
}

enum view_effect treeview_act(struct view *v, struct treeview *tv,
			      enum action a)
{
	size_t i = treeview_selected(tv);
	struct tree_node *nd = i != TREE_NONE ? &tv->tree.nodes[i] : NULL;

	switch (a) {
	case ACT_OPEN:
	case ACT_EXPAND:
		if (!nd || nd->tensor)
			return nd ? VIEW_PASS : VIEW_NONE;
		if (a == ACT_OPEN || !nd->open) {
			nd->open = !nd->open;
			treeview_rebuild(tv, i);
		} else if (tv->list.sel + 1 < tv->list.n) {
			tv->list.sel++;		/* into the group */
		}
		return VIEW_REDRAW;
	case ACT_COLLAPSE:
		if (!nd || tv->flat)
			return VIEW_NONE;
		if (!nd->tensor && nd->open) {
			nd->open = 0;
			treeview_rebuild(tv, i);
		} else if (nd->parent != 0 && nd->parent != TREE_NONE) {
			tv->tree.nodes[nd->parent].open = 0;
			treeview_rebuild(tv, nd->parent);
		}
		return VIEW_REDRAW;
	case ACT_EXPAND_ALL:
		expand_all(tv, i);
		return VIEW_REDRAW;
	case ACT_FLAT:
		return toggle_flat(tv, i);
	case ACT_SORT:
	case ACT_SORT_REV:
		if (a == ACT_SORT) {
			tv->sort = (tv->sort + 1) % tv->sorts->n;
			tv->reverse = 0;
		} else {
			tv->reverse = !tv->reverse;
		}
		treeview_sort(tv);
		treeview_rebuild(tv, i);
		return VIEW_REDRAW;
	case ACT_SEARCH:
		tv->origin = i;
		v->prompt = "/";
		return VIEW_INPUT;
	case ACT_SEARCH_NEXT:
	case ACT_SEARCH_PREV:
		if (!tv->qlen) {
			say(tv, "no search yet: / starts one");
			return VIEW_REDRAW;
		}
		if (i != TREE_NONE)
			find(tv, i, a == ACT_SEARCH_NEXT ? 1 : -1, 0);
		return VIEW_REDRAW;
	default:
		return view_list_act(&tv->list, a, treeview_page(v));
	}
}

enum view_effect treeview_mouse(struct view *v, struct treeview *tv, int y,
				enum mouse_event ev)
{
	size_t row;

	if (y < TREEVIEW_ABOVE || y >= v->lines - TREEVIEW_BELOW)
		return VIEW_NONE;
	row = tv->list.top + (size_t)(y - TREEVIEW_ABOVE);
	if (row >= tv->list.n)
		return VIEW_NONE;
	tv->list.sel = row;
	if (ev == MOUSE_DOUBLE)
		return v->ops->act(v, ACT_OPEN) | VIEW_REDRAW;
	return VIEW_REDRAW;
}
