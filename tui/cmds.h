/*
 * tui/cmds.h - the batch commands (qscope list, ...): each prints without
 * curses and returns the exit status.  tui/main.c dispatches on the first
 * argument; every command parses its own options with getopt_long.
 */
#ifndef QSCOPE_TUI_CMDS_H
#define QSCOPE_TUI_CMDS_H

#include "formats/model.h"

#define EXIT_PROBLEMS 1	/* a check found problems */
#define EXIT_BAD 2	/* bad usage or unreadable input */

int cmd_list(int argc, char **argv);
int cmd_meta(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_schemes(int argc, char **argv);
int cmd_try(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_diff(int argc, char **argv);

/* ---- shared by the commands (tui/main.c) ---- */

/* Print "qscope: <fmt with arg>" and a hint, exit 2. */
void usage_error(const char *fmt, const char *arg)
	__attribute__((noreturn));

/* A command of the form NAME [--json] PATH: open PATH, print it with text()
 * or json(), return the exit status. */
int run_path_command(int argc, char **argv, const char *name,
		     void (*text)(const struct model *),
		     void (*json)(const struct model *));

/* model_open(), printing the one-line error; 0 or -1. */
int open_or_report(struct model *m, const char *path);

/* Print j compactly on stdout (UTF-8 kept); out of memory is fatal. */
void json_print(const json_t *j);

/* Does name match one of the NAME arguments (exactly, or as an fnmatch
 * glob)?  Every name matches when there are none.  used[i] (if not NULL)
 * is set for each pattern that matched. */
int name_matches(const char *name, char **pats, int npats, char *used);

/* Columns a sanitized UTF-8 string takes on the terminal. */
int text_width(const char *s);

/* Flush stdout; 0, or 2 after a message when writing failed. */
int finish_stdout(void);

#endif
