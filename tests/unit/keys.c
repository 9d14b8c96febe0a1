/*
 * Unit tests for the key map (tui/keys.c) and what hangs off it: every
 * action has a key, no key does two things, every key has a name and is in
 * the KEYS section of man/qscope.1; plus the list moves every view shares
 * (views/view.h) and the colour decision (tui/colors.c).
 */
#include <stdlib.h>

#include "tests/check.h"
#include "tui/colors.h"
#include "tui/keys.h"
#include "views/view.h"

/* The man page, from the project root (where tests/run runs us). */
#define MAN_PAGE "man/qscope.1"

TEST(keys_every_action_has_a_key)
{
	for (int a = ACT_NONE + 1; a < ACT_COUNT; a++) {
		int n = 0;

		for (size_t i = 0; i < keys_count(); i++)
			n += keys_binding(i)->act == (enum action)a;
		check_report(__FILE__, __LINE__, n > 0, "action %s has no key",
			     action_id((enum action)a));
		CHECK(action_group((enum action)a)[0] != '\0');
		CHECK(action_help((enum action)a)[0] != '\0');
	}
}

TEST(keys_no_key_bound_twice)
{
	char a[32], b[32];

	for (size_t i = 0; i < keys_count(); i++) {
		const struct binding *x = keys_binding(i);

		CHECK(x->act > ACT_NONE && x->act < ACT_COUNT);
		CHECK(keys_action(x->key) == x->act);
		for (size_t j = i + 1; j < keys_count(); j++) {
			const struct binding *y = keys_binding(j);

			check_report(__FILE__, __LINE__, x->key != y->key,
				     "key %s bound twice (%s, %s)",
				     keys_name(x->key, a, sizeof(a)),
				     action_id(x->act), action_id(y->act));
			/* two keys may share a name ("Backspace") only when
			 * they do the same thing */
			if (strcmp(keys_name(x->key, a, sizeof(a)),
				   keys_name(y->key, b, sizeof(b))) == 0)
				check_report(__FILE__, __LINE__, x->act == y->act,
					     "keys named %s do different things",
					     a);
		}
	}
	CHECK(keys_binding(keys_count()) == NULL);
	CHECK(keys_action(-1) == ACT_NONE);
	CHECK(keys_action('z' + 1000) == ACT_NONE);
}

TEST(keys_names)
{
	char buf[64];

	CHECK_STR(keys_name('j', buf, sizeof(buf)), "j");
	CHECK_STR(keys_name(KEY_DOWN, buf, sizeof(buf)), "Down");
	CHECK_STR(keys_name(KEY_NPAGE, buf, sizeof(buf)), "PgDn");
	CHECK_STR(keys_name(' ', buf, sizeof(buf)), "Space");
	CHECK_STR(keys_name(4, buf, sizeof(buf)), "Ctrl-D");
	CHECK_STR(keys_name(KEY_F(1), buf, sizeof(buf)), "F1");
	CHECK_STR(keys_name(27, buf, sizeof(buf)), "Esc");
	for (size_t i = 0; i < keys_count(); i++) {
		const char *n = keys_name(keys_binding(i)->key, buf, sizeof(buf));

		check_report(__FILE__, __LINE__, strncmp(n, "key-", 4) != 0,
			     "key %d of %s has no name", keys_binding(i)->key,
			     action_id(keys_binding(i)->act));
	}
	/* several keys, in table order, a shared name once */
	CHECK_STR(keys_of(ACT_MOVE_DOWN, 0, buf, sizeof(buf)), "j, Down");
	CHECK_STR(keys_of(ACT_MOVE_DOWN, 1, buf, sizeof(buf)), "j");
	CHECK_STR(keys_of(ACT_BACK, 0, buf, sizeof(buf)), "Esc, Backspace");
	CHECK_STR(keys_of(ACT_NONE, 0, buf, sizeof(buf)), "");
	CHECK_STR(keys_of(ACT_BACK, 0, buf, 8), "Esc, Ba");	/* cropped */
}

/* The .It lines of the KEYS section, with mdoc escapes undone; NULL if the
 * page has no KEYS section. */
static char *man_keys_section(FILE *f)
{
	char line[1024];
	size_t len = 0, cap = 1;
	char *out = calloc(1, cap);
	int in = 0, found = 0;

	while (out && fgets(line, sizeof(line), f)) {
		size_t n;

		if (strncmp(line, ".Sh ", 4) == 0) {
			in = strncmp(line + 4, "KEYS", 4) == 0;
			found |= in;
			continue;
		}
		/* keys are named on the .It lines of the tag list */
		if (!in || strncmp(line, ".It ", 4) != 0)
			continue;
		/* "\&?" is how mdoc writes a '?' that is not punctuation */
		for (char *p; (p = strstr(line, "\\&"));)
			memmove(p, p + 2, strlen(p + 2) + 1);
		for (char *p; (p = strstr(line, "\\-"));)
			memmove(p, p + 1, strlen(p + 1) + 1);
		n = strlen(line);
		out = realloc(out, cap + n + 1);
		if (!out)
			break;
		cap += n + 1;
		out[len++] = ' ';
		memcpy(out + len, line, n + 1);
		len += n;
	}
	if (!found) {
		free(out);
		return NULL;
	}
	return out;
}

static int has_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = text; (p = strstr(p, word)); p++) {
		int start = p == text || strchr(" \t\n\"", p[-1]);
		int end = strchr(" \t\n\",", p[n]) != NULL;

		if (start && end)
			return 1;
	}
	return 0;
}

TEST(keys_in_man_page)
{
	FILE *f = fopen(MAN_PAGE, "r");
	char *keys, buf[32];

	if (!f)
		return;		/* the man page is not written yet */
	keys = man_keys_section(f);
	fclose(f);
	if (!check_report(__FILE__, __LINE__, keys != NULL,
			  "%s has no KEYS section", MAN_PAGE))
		return;
	for (size_t i = 0; i < keys_count(); i++) {
		const char *name = keys_name(keys_binding(i)->key, buf,
					     sizeof(buf));
		int seen = 0;
		char prev[32];

		/* a name several keys share ("Backspace") is checked once */
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(keys_name(keys_binding(j)->key, prev,
						sizeof(prev)), name) == 0;
		if (seen)
			continue;
		check_report(__FILE__, __LINE__, has_word(keys, name),
			     "key %s (%s) is not in the KEYS section of %s",
			     name, action_id(keys_binding(i)->act), MAN_PAGE);
	}
	free(keys);
}

TEST(view_list_moves)
{
	struct view_list l = { .n = 100 };

	CHECK(view_list_act(&l, ACT_MOVE_UP, 10) == VIEW_NONE);
	CHECK(view_list_act(&l, ACT_MOVE_DOWN, 10) == VIEW_REDRAW);
	CHECK_EQ_U(l.sel, 1);
	CHECK(view_list_act(&l, ACT_HELP, 10) == VIEW_PASS);
	view_list_act(&l, ACT_PAGE_DOWN, 10);
	CHECK_EQ_U(l.sel, 11);
	CHECK_EQ_U(l.top, 10);
	view_list_act(&l, ACT_HALF_UP, 10);
	CHECK_EQ_U(l.sel, 6);
	CHECK_EQ_U(l.top, 5);
	view_list_act(&l, ACT_LAST, 10);
	CHECK_EQ_U(l.sel, 99);
	CHECK_EQ_U(l.top, 90);
	CHECK(view_list_act(&l, ACT_PAGE_DOWN, 10) == VIEW_NONE);
	view_list_act(&l, ACT_PAGE_UP, 10);
	CHECK_EQ_U(l.sel, 89);
	CHECK_EQ_U(l.top, 80);
	view_list_act(&l, ACT_FIRST, 10);
	CHECK_EQ_U(l.sel, 0);
	CHECK_EQ_U(l.top, 0);
	/* a smaller window keeps the selection on screen */
	l.sel = 50;
	l.top = 45;
	view_list_clamp(&l, 3);
	CHECK_EQ_U(l.top, 48);
	/* a larger one shows no empty rows below the last */
	l.sel = 99;
	l.top = 95;
	view_list_clamp(&l, 30);
	CHECK_EQ_U(l.top, 70);
	/* empty lists and zero pages */
	l = (struct view_list){ 0 };
	CHECK(view_list_act(&l, ACT_MOVE_DOWN, 0) == VIEW_NONE);
	CHECK(view_list_act(&l, ACT_LAST, 10) == VIEW_NONE);
	CHECK_EQ_U(l.sel, 0);
}

TEST(colors_wanted)
{
	CHECK(colors_wanted(TUI_COLOR_AUTO, 1, NULL) == 1);
	CHECK(colors_wanted(TUI_COLOR_AUTO, 1, "") == 1);
	CHECK(colors_wanted(TUI_COLOR_AUTO, 1, "1") == 0);
	CHECK(colors_wanted(TUI_COLOR_AUTO, 0, NULL) == 0);
	CHECK(colors_wanted(TUI_COLOR_ALWAYS, 1, "1") == 1);
	CHECK(colors_wanted(TUI_COLOR_ALWAYS, 0, NULL) == 0);
	CHECK(colors_wanted(TUI_COLOR_NEVER, 1, NULL) == 0);
}
