/*
 * tui/worker.c - the background worker (see worker.h and views/job.h).
 *
 * One thread, a FIFO of jobs guarded by one mutex, one condition variable
 * for "there is work or we are shutting down" and one for "a job ended".
 * Jobs parallelise themselves (quant/compute.h), so one worker is enough
 * and keeps results arriving in the order they were asked for.
 */
#include "tui/worker.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work, ended;
	pthread_t thread;
	struct job *head, *tail, *running;
	int fd, started, quit;
} w = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.ended = PTHREAD_COND_INITIALIZER,
	.fd = -1,
};

static void set_state(struct job *j, enum job_state s)
{
	__atomic_store_n(&j->state_, (int)s, __ATOMIC_RELEASE);
}

static void wake_ui(void)
{
	if (w.fd >= 0) {
		ssize_t r = write(w.fd, "", 1);
		(void)r;	/* a full pipe is already awake */
	}
}

static void *worker_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&w.lock);
	for (;;) {
		struct job *j;
		int rc;

		while (!w.head && !w.quit)
			pthread_cond_wait(&w.work, &w.lock);
		if (w.quit)
			break;
		j = w.head;
		w.head = j->next_;
		if (!w.head)
			w.tail = NULL;
		j->next_ = NULL;
		w.running = j;
		set_state(j, JOB_RUNNING);
		pthread_mutex_unlock(&w.lock);

		rc = job_cancelled(j) ? 1 : j->run(j);

		pthread_mutex_lock(&w.lock);
		j->result = rc;
		w.running = NULL;
		set_state(j, JOB_DONE);
		pthread_cond_broadcast(&w.ended);
		wake_ui();
	}
	pthread_mutex_unlock(&w.lock);
	return NULL;
}

int worker_init(int wake_fd)
{
	int rc;

	w.fd = wake_fd;
	w.quit = 0;
	rc = pthread_create(&w.thread, NULL, worker_main, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	w.started = 1;
	return 0;
}

/* Unlink j from the queue; the lock is held. */
static int unqueue(struct job *j)
{
	struct job **p = &w.head, *prev = NULL;

	for (; *p; prev = *p, p = &(*p)->next_) {
		if (*p != j)
			continue;
		*p = j->next_;
		if (w.tail == j)
			w.tail = prev;
		j->next_ = NULL;
		return 1;
	}
	return 0;
}

void worker_start(struct job *j)
{
	pthread_mutex_lock(&w.lock);
	if (job_state(j) == JOB_QUEUED || job_state(j) == JOB_RUNNING) {
		pthread_mutex_unlock(&w.lock);
		return;
	}
	j->cancel = 0;
	j->result = 0;
	j->err[0] = '\0';
	job_progress(j, 0);
	j->next_ = NULL;
	if (!w.started) {
		/* no thread (it could not start): run here, the UI waits */
		pthread_mutex_unlock(&w.lock);
		set_state(j, JOB_RUNNING);
		j->result = j->run(j);
		set_state(j, JOB_DONE);
		return;
	}
	if (w.tail)
		w.tail->next_ = j;
	else
		w.head = j;
	w.tail = j;
	set_state(j, JOB_QUEUED);
	pthread_cond_signal(&w.work);
	pthread_mutex_unlock(&w.lock);
}

void worker_stop(struct job *j)
{
	pthread_mutex_lock(&w.lock);
	__atomic_store_n(&j->cancel, 1, __ATOMIC_RELAXED);
	if (job_state(j) == JOB_QUEUED && unqueue(j))
		set_state(j, JOB_IDLE);
	while (w.running == j)
		pthread_cond_wait(&w.ended, &w.lock);
	pthread_mutex_unlock(&w.lock);
}

int worker_busy(void)
{
	int busy;

	pthread_mutex_lock(&w.lock);
	busy = w.head || w.running;
	pthread_mutex_unlock(&w.lock);
	return busy;
}

void worker_cancel_all(void)
{
	pthread_mutex_lock(&w.lock);
	for (struct job *j = w.head; j; j = j->next_)
		__atomic_store_n(&j->cancel, 1, __ATOMIC_RELAXED);
	if (w.running)
		__atomic_store_n(&w.running->cancel, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&w.lock);
}

void worker_shutdown(void)
{
	if (!w.started)
		return;
	pthread_mutex_lock(&w.lock);
	for (struct job *j = w.head; j; j = j->next_) {
		__atomic_store_n(&j->cancel, 1, __ATOMIC_RELAXED);
		set_state(j, JOB_IDLE);
	}
	w.head = w.tail = NULL;
	if (w.running)
		__atomic_store_n(&w.running->cancel, 1, __ATOMIC_RELAXED);
	w.quit = 1;
	pthread_cond_signal(&w.work);
	pthread_mutex_unlock(&w.lock);
	pthread_join(w.thread, NULL);
	w.started = 0;
	w.fd = -1;
}
