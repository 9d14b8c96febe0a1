/*
 * formats/guard.c - a per-thread SIGBUS guard for reads of mapped files
 * (see formats/guard.h).
 *
 * One process-wide handler is installed on first use.  Each thread that is
 * inside guard_run() has its jump buffer in a thread-local pointer; the
 * handler jumps there.  Outside guard_run() the handler hands the signal to
 * whatever handler was there before, or restores the default action and
 * lets the signal kill the process as it would have.
 */
#include "formats/guard.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>

static _Thread_local sigjmp_buf *volatile guard_jmp;
static struct sigaction guard_old;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void guard_handler(int sig, siginfo_t *si, void *uc)
{
	if (guard_jmp)
		siglongjmp(*guard_jmp, 1);
	/* Not a read we guard: behave as if we were not here. */
	if ((guard_old.sa_flags & SA_SIGINFO) && guard_old.sa_sigaction) {
		guard_old.sa_sigaction(sig, si, uc);
		return;
	}
	if (!(guard_old.sa_flags & SA_SIGINFO) &&
	    guard_old.sa_handler != SIG_DFL &&
	    guard_old.sa_handler != SIG_IGN) {
		guard_old.sa_handler(sig);
		return;
	}
	signal(sig, SIG_DFL);
	raise(sig);	/* delivered when the handler returns (a kill) ... */
	/* ... or the faulting access runs again and faults for good. */
}

static void guard_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = guard_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &guard_old);
}

int guard_run(guard_fn *fn, void *arg)
{
	sigjmp_buf jb;
	sigjmp_buf *volatile prev = guard_jmp;
	sigset_t bus;
	int rc;

	pthread_once(&guard_once, guard_install);
	/* No signal mask saved (a system call per read); the fault path
	 * unblocks SIGBUS itself, which the handler left blocked. */
	if (sigsetjmp(jb, 0)) {
		guard_jmp = prev;
		sigemptyset(&bus);
		sigaddset(&bus, SIGBUS);
		pthread_sigmask(SIG_UNBLOCK, &bus, NULL);
		return GUARD_FAULT;
	}
	guard_jmp = &jb;
	rc = fn(arg);
	guard_jmp = prev;
	return rc;
}
