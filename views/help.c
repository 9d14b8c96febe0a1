/*
 * views/help.c - the `?` screen: the keys of the screen it was opened from
 * first (that view's ops->actions, under its name), then the keys every
 * screen shares (the Navigation, Screens and Other groups of
 * views/actions.h), each with the keys the shell binds to it (through
 * view_env's keys hook), so the help can never drift from the key map.
 */
#include "views/view.h"

#include <stdio.h>
#include <string.h>

/* Widest key column; longer key lists are cropped. */
#define KEYS_MAX	28

struct help_line {
	const char *group;	/* set on a heading line */
	const char *help;	/* set on an action line */
	char keys[64];
	char title[48];		/* a heading's text when it is not a group */
};

struct help_state {
	/* a heading per group, a line per action, at most */
	struct help_line lines[2 * ACT_COUNT];
	struct view_list list;
	int keys_w;
};

static const struct {
	enum action a;
	const char *group, *help;
} actions[] = {
#define X(id, group, help) { ACT_##id, group, help },
	ACTIONS(X)
#undef X
};
#define NACTIONS (sizeof(actions) / sizeof(actions[0]))

/* Groups every screen answers (the others belong to one screen). */
static int shared_group(const char *g)
{
	return strcmp(g, "Navigation") == 0 || strcmp(g, "Screens") == 0 ||
	       strcmp(g, "Other") == 0;
}

static void add_action(struct help_state *st, const struct view *v,
		       size_t *n, size_t i)
{
	struct help_line *l = &st->lines[(*n)++];
	int w;

	l->help = actions[i].help;
	v->env->keys(actions[i].a, 0, l->keys, sizeof(l->keys));
	if (!l->keys[0])
		snprintf(l->keys, sizeof(l->keys), "-");
	w = (int)strlen(l->keys);
	if (w > st->keys_w)
		st->keys_w = w;
}

static int help_enter(struct view *v, const struct model *m, struct err *e)
{
	struct help_state *st = v->state;
	const struct view_ops *from = v->arg;
	size_t n = 0;

	(void)m;
	(void)e;
	st->keys_w = 4;
	/* the screen's own keys first */
	if (from && from->actions && from->actions[0] != ACT_NONE) {
		struct help_line *h = &st->lines[n++];

		snprintf(h->title, sizeof(h->title), "This screen (%s)",
			 from->name);
		h->group = h->title;
		for (const enum action *a = from->actions; *a != ACT_NONE; a++)
			for (size_t i = 0; i < NACTIONS; i++)
				if (actions[i].a == *a)
					add_action(st, v, &n, i);
	}
	/* then the shared groups, in the order they first appear */
	for (size_t i = 0; i < NACTIONS; i++) {
		int seen = 0;

		if (!shared_group(actions[i].group))
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(actions[j].group, actions[i].group) == 0;
		if (seen)
			continue;
		st->lines[n++].group = actions[i].group;
		for (size_t j = i; j < NACTIONS; j++)
			if (strcmp(actions[j].group, actions[i].group) == 0)
				add_action(st, v, &n, j);
	}
	if (st->keys_w > KEYS_MAX)
		st->keys_w = KEYS_MAX;
	st->list.n = n;
	st->list.sel = 1;	/* the first action, under its heading */
	return 0;
}

static size_t page_rows(const struct view *v)
{
	int n = v->lines - 2;

	return n > 0 ? (size_t)n : 1;
}

static void help_draw(const struct view *v, WINDOW *w)
{
	struct help_state *st = v->state;
	const struct view_env *env = v->env;
	size_t page = page_rows(v);
	int cols = v->cols, cursor_y = 1;
	char quit_keys[64], line[128];

	view_list_clamp(&st->list, page);
	wattrset(w, env->attr[CR_TITLE]);
	mvwhline(w, 0, 0, ' ', cols);
	mvwaddnstr(w, 0, 1, "qscope help: keys", cols - 2);

	for (size_t i = 0; i < page && st->list.top + i < st->list.n; i++) {
		size_t idx = st->list.top + i;
		const struct help_line *l = &st->lines[idx];
		int y = 1 + (int)i, sel = idx == st->list.sel;

		wattrset(w, env->attr[sel ? CR_SELECTED : CR_NORMAL]);
		mvwhline(w, y, 0, ' ', cols);
		if (sel)
			cursor_y = y;
		if (l->group) {
			if (!sel)
				wattrset(w, env->attr[CR_GROUP]);
			mvwaddnstr(w, y, 1, l->group, cols - 2);
			continue;
		}
		if (!sel)
			wattrset(w, env->attr[CR_KEY]);
		snprintf(line, sizeof(line), "%-*.*s", st->keys_w, st->keys_w,
			 l->keys);
		mvwaddnstr(w, y, 3, line, cols - 4);
		if (!sel)
			wattrset(w, env->attr[CR_NORMAL]);
		if (cols - 6 - st->keys_w > 0)
			mvwaddnstr(w, y, 5 + st->keys_w, l->help,
				   cols - 6 - st->keys_w);
	}

	wattrset(w, env->attr[CR_STATUS]);
	mvwhline(w, v->lines - 1, 0, ' ', cols);
	env->keys(ACT_QUIT, 1, quit_keys, sizeof(quit_keys));
	snprintf(line, sizeof(line), "%s close this help  (also: man qscope)",
		 quit_keys);
	mvwaddnstr(w, v->lines - 1, 1, line, cols - 2);
	wattrset(w, env->attr[CR_NORMAL]);
	wmove(w, cursor_y, 0);
}

static enum view_effect help_act(struct view *v, enum action a)
{
	struct help_state *st = v->state;

	switch (a) {
	case ACT_HELP:
		return VIEW_NONE;	/* already here */
	case ACT_QUIT:
	case ACT_BACK:
		return VIEW_POP;
	default:
		return view_list_act(&st->list, a, page_rows(v));
	}
}

const struct view_ops view_help_ops = {
	.name = "help",
	.state_size = sizeof(struct help_state),
	.enter = help_enter,
	.draw = help_draw,
	.act = help_act,
};
