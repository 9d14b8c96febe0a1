/* tui/colors.c - colour roles to attributes (see colors.h). */
#include "tui/colors.h"

#include <stdlib.h>

struct style {
	attr_t mono, attr;
	short fg, bg;
};

static const struct style styles[CR_COUNT] = {
#define X(role, mono, attr, fg, bg) [CR_##role] = { mono, attr, fg, bg },
	COLOR_ROLES(X)
#undef X
};

/* Every role of views/view.h has exactly one row: as many rows as roles,
 * and a repeated row is an error under -Werror (-Woverride-init). */
enum {
#define X(role, mono, attr, fg, bg) + 1
	COLOR_ROLES_ROWS = 0 COLOR_ROLES(X)
#undef X
};
_Static_assert((int)COLOR_ROLES_ROWS == (int)CR_COUNT,
	       "COLOR_ROLES needs one row per role of VIEW_ROLES");

int colors_wanted(enum tui_color mode, int has, const char *no_color)
{
	if (!has || mode == TUI_COLOR_NEVER)
		return 0;
	if (mode == TUI_COLOR_ALWAYS)
		return 1;
	return !no_color || !*no_color;
}

int colors_init(enum tui_color mode, attr_t attr[CR_COUNT])
{
	short def_fg = -1, def_bg = -1;
	int pair = 0;

	for (int r = 0; r < CR_COUNT; r++)
		attr[r] = styles[r].mono;
	if (!colors_wanted(mode, has_colors(), getenv("NO_COLOR")))
		return 0;
	if (start_color() == ERR)
		return 0;
	/* Keep the user's background; a terminal that cannot gets the
	 * classic white on black instead of -1. */
	if (use_default_colors() == ERR) {
		def_fg = COLOR_WHITE;
		def_bg = COLOR_BLACK;
	}
	for (int r = 0; r < CR_COUNT; r++) {
		const struct style *s = &styles[r];
		short fg = s->fg < 0 ? def_fg : s->fg;
		short bg = s->bg < 0 ? def_bg : s->bg;

		if (s->fg < 0 && s->bg < 0) {
			attr[r] = s->attr;	/* pair 0: the terminal's colours */
			continue;
		}
		if (++pair >= COLOR_PAIRS || fg >= COLORS || bg >= COLORS ||
		    init_pair((short)pair, fg, bg) == ERR) {
			/* not enough colours for every role: all mono, so
			 * that no role is left looking like another */
			for (int q = 0; q < CR_COUNT; q++)
				attr[q] = styles[q].mono;
			return 0;
		}
		attr[r] = s->attr | COLOR_PAIR(pair);
	}
	return 1;
}
