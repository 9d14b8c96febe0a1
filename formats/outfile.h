/*
 * formats/outfile.h - the temporary files the writers (formats/gguf.h,
 * formats/safetensors_write.h) leave behind when they are killed.
 *
 * A writer puts each file it makes in a temporary ".NAME.tmp-PID-XXXXXX"
 * beside its target (PID: the writer's process; formats/outfile.c), and
 * removes it on any failure it lives through.  A SIGKILL, a crash or a
 * power cut leaves it behind; the next writer of the same target removes
 * it through out_remove_stale() before it writes.
 */
#ifndef QSCOPE_FORMATS_OUTFILE_H
#define QSCOPE_FORMATS_OUTFILE_H

#include <stddef.h>

/* Told the path of each temporary removed and the process it named. */
typedef void out_stale_fn(const char *path, long pid, void *arg);

/*
 * Remove the temporaries of out whose writer is gone: every
 * ".NAME.tmp-PID-XXXXXX" where NAME is out's file name (folder 0), or any
 * name in the folder out (folder 1: a safetensors folder output), PID is
 * a process that no longer exists (kill() says ESRCH) and no process
 * holds the file locked (flock(); the safetensors writer locks its
 * temporaries, which covers a writer in another PID namespace).  Anything
 * else is left alone, and so is any failure to remove (the write itself
 * then meets the problem, if it is one).  said (may be NULL) is called for
 * each file removed.  Returns how many were removed.
 */
size_t out_remove_stale(const char *out, int folder, out_stale_fn *said,
			void *arg);

#endif
