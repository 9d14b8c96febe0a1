/*
 * tui/tui.h - the full-screen shell: main loop, key map, colours.
 * tui/main.c parses the command line, opens the model, then hands it here.
 */
#ifndef QSCOPE_TUI_TUI_H
#define QSCOPE_TUI_TUI_H

#include "formats/model.h"

enum tui_color {
	TUI_COLOR_AUTO = 0,	/* colour unless NO_COLOR is set and not empty */
	TUI_COLOR_NEVER,
	TUI_COLOR_ALWAYS,	/* even under NO_COLOR */
};

struct tui_options {
	enum tui_color color;
	int ascii;		/* draw with ASCII only, whatever the locale */
	int no_mouse;		/* leave the mouse to the terminal */
	const char *plan;	/* a plan file whose targets the tree starts
				 * with (already checked), or NULL */
};

/* Run the interactive browser on m until the person quits.  Returns 0, or
 * -1 with e filled (no terminal, terminal setup failed); the terminal is
 * restored on every path. */
int tui_run(struct model *m, const struct tui_options *o, struct err *e);

/* Run the browser with the diff screen (views/diff.h) of b against a as
 * the bottom view; otherwise as tui_run(). */
int tui_run_diff(struct model *a, struct model *b,
		 const struct tui_options *o, struct err *e);

#endif
