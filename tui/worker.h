/*
 * tui/worker.h - the background worker: one thread that runs the jobs the
 * views start (views/job.h), one at a time, in order.  It writes a byte to
 * a file descriptor when a job ends, which wakes the UI loop's poll().
 * No curses here.
 */
#ifndef QSCOPE_TUI_WORKER_H
#define QSCOPE_TUI_WORKER_H

#include "views/job.h"

/* Start the thread; wake_fd gets a byte whenever a job ends.  0 or -1. */
int worker_init(int wake_fd);

/* Cancel every job, wait for the running one, stop the thread. */
void worker_shutdown(void);

/* Queue j (its run and arg filled).  A job that is queued or running is
 * left as it is; a DONE or IDLE one is reset (cancel, result, err,
 * progress) and queued. */
void worker_start(struct job *j);

/* Cancel j and wait until it is neither queued nor running. */
void worker_stop(struct job *j);

/* Is any job queued or running? */
int worker_busy(void);

/* Ask every queued or running job to stop (does not wait). */
void worker_cancel_all(void);

#endif
