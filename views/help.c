/*
 * views/help.c - the `?` screen: every action of views/actions.h, grouped,
 * with the keys the shell binds to it (through view_env's keys hook), so
 * the help can never drift from the key map.
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

static int help_enter(struct view *v, const struct model *m, struct err *e)
{
	struct help_state *st = v->state;
	size_t n = 0;

	(void)m;
	(void)e;
	st->keys_w = 4;
	/* groups in the order they first appear in ACTIONS */
	for (size_t i = 0; i < NACTIONS; i++) {
		int seen = 0;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(actions[j].group, actions[i].group) == 0;
		if (seen)
			continue;
		st->lines[n++].group = actions[i].group;
		for (size_t j = i; j < NACTIONS; j++) {
			struct help_line *l;
			int w;

			if (strcmp(actions[j].group, actions[i].group) != 0)
				continue;
			l = &st->lines[n++];
			l->help = actions[j].help;
			v->env->keys(actions[j].a, 0, l->keys, sizeof(l->keys));
			if (!l->keys[0])
				snprintf(l->keys, sizeof(l->keys), "-");
			w = (int)strlen(l->keys);
			if (w > st->keys_w)
				st->keys_w = w;
		}
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
