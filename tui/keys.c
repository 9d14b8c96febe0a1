/* tui/keys.c - the default bindings (see keys.h). */
#include "tui/keys.h"

#include <stdio.h>
#include <string.h>

#include <curses.h>

#define CTRL(c) ((c) & 0x1f)

/*
 * The order here is the order the help screen and hints show the keys in:
 * the letter most people use first (it is what the hint line shows), then
 * arrows and named keys.  Rules from ../shared/reference/TUI.md 2.3: arrows
 * and named keys always work, vim keys are aliases, every F-key has a
 * letter twin, Esc never quits, nothing needs AltGr.
 */
static const struct binding bindings[] = {
	{ 'j',           ACT_MOVE_DOWN },
	{ KEY_DOWN,      ACT_MOVE_DOWN },
	{ 'k',           ACT_MOVE_UP },
	{ KEY_UP,        ACT_MOVE_UP },
	{ KEY_NPAGE,     ACT_PAGE_DOWN },
	{ ' ',           ACT_PAGE_DOWN },
	{ KEY_PPAGE,     ACT_PAGE_UP },
	{ 'b',           ACT_PAGE_UP },
	{ CTRL('d'),     ACT_HALF_DOWN },
	{ CTRL('u'),     ACT_HALF_UP },
	{ 'g',           ACT_FIRST },
	{ KEY_HOME,      ACT_FIRST },
	{ 'G',           ACT_LAST },
	{ KEY_END,       ACT_LAST },
	{ 27,            ACT_BACK },	/* Esc */
	{ KEY_BACKSPACE, ACT_BACK },
	{ 127,           ACT_BACK },	/* what most terminals send for Backspace */
	{ CTRL('h'),     ACT_BACK },	/* ... and what the others send */
	{ '\r',          ACT_OPEN },	/* Enter (nonl: no translation) */
	{ '\n',          ACT_OPEN },
	{ KEY_ENTER,     ACT_OPEN },
	{ 'l',           ACT_EXPAND },
	{ KEY_RIGHT,     ACT_EXPAND },
	{ 'h',           ACT_COLLAPSE },
	{ KEY_LEFT,      ACT_COLLAPSE },
	{ '*',           ACT_EXPAND_ALL },
	{ 'T',           ACT_FLAT },
	{ KEY_F(5),      ACT_FLAT },
	{ 's',           ACT_SORT },
	{ KEY_F(6),      ACT_SORT },
	{ 'S',           ACT_SORT_REV },
	{ '/',           ACT_SEARCH },
	{ KEY_F(3),      ACT_SEARCH },
	{ 'n',           ACT_SEARCH_NEXT },
	{ 'N',           ACT_SEARCH_PREV },
	{ 'L',           ACT_LOG },
	{ '+',           ACT_BINS_MORE },
	{ '>',           ACT_BINS_MORE },
	{ '-',           ACT_BINS_LESS },
	{ '<',           ACT_BINS_LESS },
	{ 'r',           ACT_ROWS },
	{ 'f',           ACT_FORMAT_NEXT },
	{ 'F',           ACT_FORMAT_PREV },
	{ 't',           ACT_SWEEP },
	{ '=',           ACT_SWEEP },
	{ 'c',           ACT_COMPARE },
	{ 'B',           ACT_BUDGET },
	{ 'e',           ACT_METRIC },
	{ 'p',           ACT_PLAN_SAVE },
	{ 'P',           ACT_PLAN_LOAD },
	{ 'w',           ACT_WRITE },
	{ 'm',           ACT_META },
	{ KEY_F(7),      ACT_META },
	{ 'M',           ACT_MEMORY },
	{ KEY_F(8),      ACT_MEMORY },
	{ 'd',           ACT_DOCTOR },
	{ '?',           ACT_HELP },
	{ KEY_F(1),      ACT_HELP },
	{ CTRL('l'),     ACT_REDRAW },
	{ 'q',           ACT_QUIT },
	{ 'Q',           ACT_QUIT_ALL },
};

static const struct {
	const char *id, *group, *help;
} actions[ACT_COUNT] = {
	[ACT_NONE] = { "", "", "" },
#define X(id, group, help) [ACT_##id] = { #id, group, help },
	ACTIONS(X)
#undef X
};

enum action keys_action(int key)
{
	for (size_t i = 0; i < sizeof(bindings) / sizeof(bindings[0]); i++)
		if (bindings[i].key == key)
			return bindings[i].act;
	return ACT_NONE;
}

size_t keys_count(void)
{
	return sizeof(bindings) / sizeof(bindings[0]);
}

const struct binding *keys_binding(size_t i)
{
	return i < keys_count() ? &bindings[i] : NULL;
}

const char *keys_name(int key, char *buf, size_t n)
{
	static const struct {
		int key;
		const char *name;
	} named[] = {
		{ KEY_DOWN, "Down" }, { KEY_UP, "Up" },
		{ KEY_LEFT, "Left" }, { KEY_RIGHT, "Right" },
		{ KEY_NPAGE, "PgDn" }, { KEY_PPAGE, "PgUp" },
		{ KEY_HOME, "Home" }, { KEY_END, "End" },
		{ KEY_BACKSPACE, "Backspace" }, { 127, "Backspace" },
		{ CTRL('h'), "Backspace" },
		{ KEY_ENTER, "Enter" }, { '\r', "Enter" }, { '\n', "Enter" },
		{ '\t', "Tab" }, { KEY_BTAB, "Shift-Tab" },
		{ KEY_DC, "Delete" }, { KEY_IC, "Insert" },
		{ 27, "Esc" }, { ' ', "Space" },
	};

	if (n == 0)
		return "";
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (named[i].key == key)
			return named[i].name;
	if (key >= KEY_F(1) && key <= KEY_F(63))
		snprintf(buf, n, "F%d", key - KEY_F(0));
	else if (key > 0 && key < 32)
		snprintf(buf, n, "Ctrl-%c", key + '@');
	else if (key > 32 && key < 127)
		snprintf(buf, n, "%c", key);
	else
		snprintf(buf, n, "key-%d", key);
	return buf;
}

/* Whether an earlier binding of a has the same name as binding i. */
static int name_shown_before(enum action a, size_t i, const char *name)
{
	char tmp[32];

	for (size_t j = 0; j < i; j++)
		if (bindings[j].act == a &&
		    strcmp(keys_name(bindings[j].key, tmp, sizeof(tmp)), name) == 0)
			return 1;
	return 0;
}

const char *keys_of(enum action a, int max, char *buf, size_t n)
{
	int shown = 0;

	if (n == 0)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < keys_count(); i++) {
		char tmp[32];
		const char *name;
		size_t len;

		if (bindings[i].act != a || (max > 0 && shown == max))
			continue;
		name = keys_name(bindings[i].key, tmp, sizeof(tmp));
		if (name_shown_before(a, i, name))
			continue;
		len = strlen(buf);
		snprintf(buf + len, n - len, "%s%s", len ? ", " : "", name);
		shown++;
	}
	return buf;
}

static int valid(enum action a)
{
	return a > ACT_NONE && a < ACT_COUNT;
}

const char *action_id(enum action a)
{
	return valid(a) ? actions[a].id : "";
}

const char *action_group(enum action a)
{
	return valid(a) ? actions[a].group : "";
}

const char *action_help(enum action a)
{
	return valid(a) ? actions[a].help : "";
}
