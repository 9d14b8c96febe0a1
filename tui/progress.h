/*
 * tui/progress.h - the progress line of batch commands that work through a
 * whole model, on stderr:
 *
 *	qscope: try q4_k: 42%  5.3 GiB of 12.6 GiB  1.10 GB/s  7 s left
 *
 * Drawn only when stderr is a terminal, at most ten times a second, over
 * itself (carriage return, clear to the end of the line); progress_clear()
 * removes it before anything else is printed.  Work is counted in bytes of
 * the input: a command announces each piece (a tensor) with its bytes, and
 * the piece's fraction done comes from compute_ctl's progress callback.
 */
#ifndef QSCOPE_TUI_PROGRESS_H
#define QSCOPE_TUI_PROGRESS_H

#include <stdint.h>

struct progress {
	char label[64];
	uint64_t total;		/* bytes in all */
	uint64_t base;		/* bytes of the pieces finished */
	uint64_t piece;		/* bytes of the piece under way */
	int tty, drawn;
	double start, last;
};

/* label: what is done ("try q4_k"); total: the bytes it covers. */
void progress_init(struct progress *p, const char *label, uint64_t total);

/* The previous piece is finished; the next one has these bytes. */
void progress_piece(struct progress *p, uint64_t bytes);

/* compute_ctl's progress callback (arg: the struct progress): done is the
 * fraction of the current piece. */
void progress_fraction(void *arg, double done);

/* Bytes done in all, for commands that count themselves. */
void progress_set(struct progress *p, uint64_t done);

/* Take the line off the terminal (before printing anything). */
void progress_clear(struct progress *p);

#endif
