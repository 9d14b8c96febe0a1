/*
 * views/job.h - work a view hands to the background worker.
 *
 * Anything that reads tensor values (statistics, histograms, errors) runs
 * off the UI thread, so that a key is answered at once however large the
 * tensor.  A view owns its struct job (usually inside its state), fills
 * run and arg, and starts it through its view_env (env->job_start); the
 * worker thread (tui/worker.c) runs queued jobs one after another, in the
 * order started.  run() itself may use every core (quant/compute.h); it
 * polls j->cancel between chunks (pass &j->cancel as compute_ctl.cancel)
 * and reports progress with job_progress().
 *
 * When a job ends (done, cancelled or failed) the worker wakes the UI
 * loop, which calls the top view's poll() and repaints; while a job runs
 * the loop repaints a few times a second, so progress bars move.
 *
 * Lifetime: the job's memory must outlive its run.  Before freeing or
 * reusing a job, a view calls env->job_stop(j), which cancels it and waits
 * until it is no longer queued or running (a queued job is simply dropped).
 *
 * State moves IDLE -> QUEUED -> RUNNING -> DONE, or back to IDLE when
 * stopped before it ran.  Fields written by run() may be read by the UI
 * thread once job_state() says DONE (the worker publishes them with a
 * release store of the state).
 */
#ifndef QSCOPE_VIEWS_JOB_H
#define QSCOPE_VIEWS_JOB_H

enum job_state { JOB_IDLE = 0, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct job {
	/* On the worker thread: 0 done, 1 cancelled, -1 failed (with a
	 * message in err, which a view shows). */
	int (*run)(struct job *j);
	void *arg;
	volatile int cancel;	/* set by job_stop(); run() polls it */
	int result;		/* run()'s return value, once DONE */
	char err[256];
	/* private to the worker and the accessors below */
	int state_;
	double progress_;
	struct job *next_;
};

static inline enum job_state job_state(const struct job *j)
{
	return (enum job_state)__atomic_load_n(&j->state_, __ATOMIC_ACQUIRE);
}

/* Share of the job done, 0..1 (from any thread). */
static inline double job_done(const struct job *j)
{
	double d;

	__atomic_load(&j->progress_, &d, __ATOMIC_RELAXED);
	return d;
}

/* Called by run() (on the worker): done is 0..1. */
static inline void job_progress(struct job *j, double done)
{
	__atomic_store(&j->progress_, &done, __ATOMIC_RELAXED);
}

/* Has the view asked this job to stop?  (from run()) */
static inline int job_cancelled(const struct job *j)
{
	return __atomic_load_n(&j->cancel, __ATOMIC_RELAXED) != 0;
}

#endif
