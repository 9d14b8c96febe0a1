/*
 * formats/guard.h - survive a mapped file that shrinks while it is read.
 *
 * Sources are mmap()ed (formats/model.h).  When another program truncates
 * or rewrites a file while qscope has it mapped, touching a page past the
 * new end raises SIGBUS, which would kill the process.  guard_run() runs a
 * function with a SIGBUS handler armed for the calling thread: a fault
 * while it runs makes guard_run() return GUARD_FAULT instead.  The reads of
 * tensor values (tensor_read_f32() in formats/model.c) go through it, so a
 * file cut short under us becomes an ordinary error.  A SIGBUS anywhere
 * else keeps its usual effect.
 *
 * The function must be one that can be abandoned at any point: it may not
 * take locks, allocate or change shared state (decoding bytes into a
 * caller's buffer is the intended use).  Thread-safe; nests.
 */
#ifndef QSCOPE_FORMATS_GUARD_H
#define QSCOPE_FORMATS_GUARD_H

/* What guard_run() returns when the function was stopped by SIGBUS. */
#define GUARD_FAULT (-1000)

typedef int guard_fn(void *arg);

/* fn(arg)'s result, or GUARD_FAULT if a SIGBUS stopped it. */
int guard_run(guard_fn *fn, void *arg);

#endif
