/*
 * tui/colors.h - how each colour role of views/view.h is drawn.
 *
 * COLOR_ROLES(X) has one row per role: X(role, mono, attr, fg, bg).
 * mono is the attribute used without colour; it alone must carry the
 * meaning (reverse video for the selection and the title bar, bold for
 * what needs attention).  With colour, the role is drawn with attr plus a
 * pair of fg on bg, where -1 is the terminal's own colour, so the user's
 * background stays.  Under NO_COLOR only A_BOLD, A_REVERSE and A_UNDERLINE
 * are used: no greys, no dim (jcs/no_color#240).
 */
#ifndef QSCOPE_TUI_COLORS_H
#define QSCOPE_TUI_COLORS_H

#include <curses.h>

#include "tui/tui.h"
#include "views/view.h"

#define COLOR_ROLES(X)							\
	X(NORMAL,   A_NORMAL,             A_NORMAL,  -1,            -1)	\
	X(TITLE,    A_REVERSE | A_BOLD,   A_BOLD,    COLOR_BLACK,   COLOR_CYAN) \
	X(COLUMNS,  A_BOLD | A_UNDERLINE, A_BOLD | A_UNDERLINE, -1, -1)	\
	X(SELECTED, A_REVERSE,            A_REVERSE, -1,            -1)	\
	X(DTYPE,    A_NORMAL,             A_NORMAL,  COLOR_MAGENTA, -1)	\
	X(BAR,      A_NORMAL,             A_NORMAL,  COLOR_GREEN,   -1)	\
	X(STATUS,   A_NORMAL,             A_NORMAL,  -1,            -1)	\
	X(KEY,      A_BOLD,               A_BOLD,    -1,            -1)	\
	X(GROUP,    A_BOLD | A_UNDERLINE, A_BOLD,    COLOR_CYAN,    -1)	\
	X(WARNING,  A_BOLD,               A_BOLD,    COLOR_RED,     -1)

/*
 * Whether to draw in colour: mode NEVER never; ALWAYS whenever the terminal
 * can (has is has_colors()); AUTO when it can and no_color (the NO_COLOR
 * variable, may be NULL) is unset or empty.  Pure; no curses calls.
 */
int colors_wanted(enum tui_color mode, int has, const char *no_color);

/*
 * Set up colour for the running screen (after newterm()) according to mode
 * and the environment, and fill attr[] with the attribute of every role.
 * Returns 1 if colours are in use, 0 for monochrome.
 */
int colors_init(enum tui_color mode, attr_t attr[CR_COUNT]);

#endif
