/*
 * views/actions.h - every user action, once.
 *
 * ACTIONS(X) lists each action as X(id, group, help): the enum below, the
 * key map in tui/keys.c, the help screen (views/help.c) and the KEYS section
 * of man/qscope.1 are all derived from, or checked against, this one list
 * (tests/unit/keys.c).  Views receive an enum action, never a raw key, so a
 * second key for an action, or a rebinding, never touches a view.
 *
 * group names the heading the help screen lists the action under; help is
 * a short lowercase phrase, no final full stop.
 */
#ifndef QSCOPE_VIEWS_ACTIONS_H
#define QSCOPE_VIEWS_ACTIONS_H

#define ACTIONS(X)							\
	X(MOVE_DOWN,  "Navigation", "move down one row")		\
	X(MOVE_UP,    "Navigation", "move up one row")			\
	X(PAGE_DOWN,  "Navigation", "next page")			\
	X(PAGE_UP,    "Navigation", "previous page")			\
	X(HALF_DOWN,  "Navigation", "down half a page")			\
	X(HALF_UP,    "Navigation", "up half a page")			\
	X(FIRST,      "Navigation", "first row")			\
	X(LAST,       "Navigation", "last row")				\
	X(BACK,       "Navigation", "close this screen; never quits")	\
	X(OPEN,       "Tensors",    "open: a tensor's histogram, a value whole; fold a group") \
	X(EXPAND,     "Tensors",    "unfold the group, or open the tensor") \
	X(COLLAPSE,   "Tensors",    "fold the group, or go to its parent; elsewhere: back") \
	X(EXPAND_ALL, "Tensors",    "unfold every group, or fold them all") \
	X(FLAT,       "Tensors",    "tree or flat list")		\
	X(SORT,       "Tensors",    "sort by name, size, dtype (diff: error) in turn") \
	X(SORT_REV,   "Tensors",    "reverse the sort order")		\
	X(SEARCH,     "Tensors",    "search as you type")		\
	X(SEARCH_NEXT, "Tensors",   "next match")			\
	X(SEARCH_PREV, "Tensors",   "previous match")			\
	X(LOG,        "Histogram",  "linear or log counts")		\
	X(BINS_MORE,  "Histogram",  "more bins")			\
	X(BINS_LESS,  "Histogram",  "fewer bins")			\
	X(ROWS,       "Histogram",  "values or per-row absmax (outlier channels)") \
	X(FORMAT_NEXT, "Quantize",  "target format: the next one that applies") \
	X(FORMAT_PREV, "Quantize",  "target format: the previous one")	\
	X(SWEEP,      "Quantize",   "every format on this tensor or group: size, error; Enter picks") \
	X(COMPARE,    "Quantize",   "values before and after the target format, and the error") \
	X(BUDGET,     "Quantize",   "targets of least error within a size: 3.5G, 4.25 bpw") \
	X(METRIC,     "Quantize",   "error as relative error or as SQNR in dB") \
	X(PLAN_SAVE,  "Quantize",   "save the targets as a plan file")	\
	X(PLAN_LOAD,  "Quantize",   "load a plan file as the targets")	\
	X(WRITE,      "Quantize",   "write the model in its targets (safetensors), then check it") \
	X(META,       "Screens",    "metadata: GGUF keys, __metadata__, config.json") \
	X(MEMORY,     "Screens",    "memory: the model's size at each number format") \
	X(DOCTOR,     "Screens",    "dtype doctor: what a BF16/FP16/FP8 cast breaks") \
	X(HELP,       "Other",      "show this help")			\
	X(REDRAW,     "Other",      "redraw the screen")		\
	X(QUIT,       "Other",      "close this screen; quit from the table") \
	X(QUIT_ALL,   "Other",      "quit from anywhere")

enum action {
	ACT_NONE = 0,
#define X(id, group, help) ACT_##id,
	ACTIONS(X)
#undef X
	ACT_COUNT
};

#endif
