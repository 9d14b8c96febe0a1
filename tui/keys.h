/*
 * tui/keys.h - the key map: which keys do which action.
 *
 * One table in keys.c binds keys to the actions of views/actions.h; several
 * keys may share an action, a key has at most one action.  The help screen,
 * the key hints and the unit test (every action has a key, no key is bound
 * twice, every key is in the man page) walk the same table through the
 * functions below.
 *
 * A key is what wget_wch() gives: a KEY_* code for function keys, the
 * character's code point otherwise (control keys as 1..31, 127).
 */
#ifndef QSCOPE_TUI_KEYS_H
#define QSCOPE_TUI_KEYS_H

#include <stddef.h>

#include "views/actions.h"

struct binding {
	int key;
	enum action act;
};

/* The action bound to key; ACT_NONE if none. */
enum action keys_action(int key);

/* The number of bindings, and binding i (0 <= i < keys_count()). */
size_t keys_count(void);
const struct binding *keys_binding(size_t i);

/*
 * The name of key as the help, the hints and man/qscope.1 spell it: "j",
 * "Down", "PgDn", "Space", "Ctrl-D", "F1", "?".  Returns buf (always
 * NUL-terminated), or a static string.
 */
const char *keys_name(int key, char *buf, size_t n);

/*
 * The names of the keys bound to a, in table order, without repeats, at
 * most max of them (0: all), joined by ", " into buf; "" if a has no key.
 * Returns buf.  (This is what struct view_env's keys hook points to.)
 */
const char *keys_of(enum action a, int max, char *buf, size_t n);

/* The identifier ("MOVE_DOWN"), group and help text of a; "" if a is not an
 * action. */
const char *action_id(enum action a);
const char *action_group(enum action a);
const char *action_help(enum action a);

#endif
