/*
 * quant/compute.h - stream a tensor's values through workers, a chunk at a
 * time, on several threads.
 *
 * How the pieces fit: the values come from a reader callback (for a
 * tensor, a wrapper around tensor_read_f32(); quant/ itself does no I/O
 * and never sees a struct model).  compute_run() cuts elements
 * [0, count) into chunks, hands them out to `threads` threads (the calling
 * thread is one of them) and calls a worker for each chunk; the worker
 * reads the chunk into its thread's scratch buffer and accumulates into
 * state of its own, which the caller merges afterwards.  compute_stats()
 * below is built on it; error measurement (quantize, dequantize, compare)
 * is meant to be too:
 *
 *	struct my_job { chunk_read_fn *rd; void *ctx; struct err_acc *acc; };
 *
 *	static int my_work(void *arg, const struct compute_chunk *c)
 *	{
 *		struct my_job *j = arg;
 *		float *x = c->scratch, *y = x + c->chunk;
 *
 *		if (j->rd(j->ctx, c->first, c->n, x))
 *			return -1;
 *		... quantize x, dequantize into y ...
 *		err_acc_add(&j->acc[c->thread], x, y, c->n);
 *		return 0;
 *	}
 *
 *	struct compute_job job = { count, row_len, 0, my_work, &j };
 *	job.scratch = 2 * compute_chunk_size(&job) * sizeof(float);
 *	unsigned nt = compute_threads(&job, ctl);
 *	j.acc = calloc(nt, sizeof(*j.acc));	// one accumulator per thread
 *	rc = compute_run(&job, ctl);		// 0, 1 cancelled, -1 failed
 *	... merge j.acc[0..nt) ...
 *
 * Contracts:
 *  - Chunks are cut the same way whatever the number of threads: chunk i
 *    holds elements [i * chunk, min((i + 1) * chunk, count)).  A worker
 *    that keeps one result per chunk index and merges them in index order
 *    gets the same result, bit for bit, for every thread count (this is
 *    what compute_stats() does for its sums).  Which thread takes which
 *    chunk is not fixed.
 *  - Memory: each thread has one scratch buffer of job->scratch bytes;
 *    nothing else here grows with count.  A worker may read its chunk in
 *    smaller pieces: a buffer that fits the first-level cache (8 Ki
 *    floats) is several times faster to decode into and go over than a
 *    chunk-sized one.
 *  - The worker and the reader run on several threads at once: they may
 *    write only to their thread's state (c->thread) or chunk's slot
 *    (c->index).  tensor_read_f32() is safe for this: it only reads.
 *  - ctl may be NULL (all CPUs, no cancel, no progress).  *cancel is read
 *    between chunks by every thread (an atomic load); once it is non-zero
 *    no new chunk starts and compute_run() returns 1.  Another thread
 *    should set it with __atomic_store_n(cancel, 1, __ATOMIC_RELAXED) (or
 *    a C11 atomic store), so that the pair is not a data race.  progress(arg, done) is called on
 *    the calling thread only, between its chunks, with done in [0, 1]
 *    never decreasing; it must be quick.
 *
 * No I/O (beyond what the reader does), no curses.
 */
#ifndef QSCOPE_QUANT_COMPUTE_H
#define QSCOPE_QUANT_COMPUTE_H

#include <stddef.h>
#include <stdint.h>

#include "quant/dtype.h"
#include "quant/stats.h"

/* Fill out[0..n) with elements first..first+n as float32; 0, or -1 on a
 * failure (which the reader's ctx records: compute_* only pass -1 on). */
typedef int chunk_read_fn(void *ctx, uint64_t first, size_t n, float *out);

/*
 * Hand the 16-bit codes of elements first..first+n, as stored (BF16 or
 * F16 bit patterns, in host order), to fn(arg, code, m), in one or more
 * runs in order; 0, or -1 as above.  The reader may pass a pointer into
 * the file's mapping itself (no copy) and stop fn part-way if the file
 * shrinks under it (formats/guard.h): fn may only add to state that the
 * failure then throws away.
 */
typedef void codes16_fn(void *arg, const uint16_t *code, size_t m);
typedef int chunk_codes16_fn(void *ctx, uint64_t first, size_t n,
			     codes16_fn *fn, void *arg);

struct compute_ctl {
	unsigned threads;		/* 0: the number of online CPUs */
	volatile int *cancel;		/* NULL, or set non-zero to stop */
	void (*progress)(void *arg, double done);	/* NULL or see above */
	void *arg;
};

/* Elements per chunk by default: 64 Ki floats = 256 KiB, a quarter of a
 * typical L2 cache. */
#define COMPUTE_CHUNK 65536

/* One chunk handed to a worker. */
struct compute_chunk {
	unsigned thread;	/* 0 .. threads-1: whose state to use */
	uint64_t index;		/* chunk number in stream order */
	uint64_t first;		/* its first element */
	size_t n;		/* its elements: chunk, less for the last one */
	size_t chunk;		/* the job's chunk size in elements */
	void *scratch;		/* this thread's buffer (job->scratch bytes,
				 * 64-byte aligned; NULL if 0) */
};

/* 0 to go on, non-zero to stop every thread (compute_run returns -1). */
typedef int compute_fn(void *arg, const struct compute_chunk *c);

struct compute_job {
	uint64_t count;		/* elements in the stream */
	/* Chunks start at multiples of this (a row, a quantization block;
	 * 0 or 1: any); the chunk is the largest multiple of align not over
	 * COMPUTE_CHUNK, or align itself when that is larger. */
	size_t align;
	size_t scratch;		/* bytes of scratch buffer per thread */
	compute_fn *fn;
	void *arg;
};

/* The chunk size compute_run() uses for job, and how many chunks. */
size_t compute_chunk_size(const struct compute_job *job);
uint64_t compute_nchunks(const struct compute_job *job);

/* The number of threads compute_run() will start for job (never more than
 * there are chunks; at least 1): size per-thread state with it. */
unsigned compute_threads(const struct compute_job *job,
			 const struct compute_ctl *ctl);

/* Run job.  0 when every chunk was done, 1 when cancelled, -1 when a worker
 * failed (or a thread could not be started). */
int compute_run(const struct compute_job *job, const struct compute_ctl *ctl);

/* compute_run() as one pass of several: its progress mapped into
 * [base, base + span] of ctl's. */
int compute_run_part(const struct compute_job *job,
		     const struct compute_ctl *ctl, double base, double span);

/*
 * Statistics and histogram of the count values rd gives: vs gets
 * everything of struct vstats; h gets nbins bins over [vs->min, vs->max]
 * (one bin when min == max, one empty bin over [0, 0] when there is no
 * finite value), with exact counts (bins as hist_add() defines them).
 * Returns 0; 1 when cancelled, -1 when the reader failed (or memory ran
 * out); h then holds no memory.  Bit-identical results for every thread
 * count.
 *
 * How: pass 1 reads every value, in blocks of 8 Ki values.  In a tensor
 * of 128 Ki values or more, a block whose values all have an exact 16-bit
 * key is only counted per key, in a 64 Ki-entry table per thread:
 * BF16-valued blocks (the low 16 bits of every float32 zero: BF16, FP8,
 * small integers) by their top 16 bits, F16-valued blocks by their half
 * code.  Statistics and bins of those come from the counts at the end,
 * after one read.  Other blocks (F32 data) go through vstats_add() in
 * pass 1 and hist_add() in pass 2, which reads them again.
 * Memory: 64 KiB of scratch per thread, up to 1 MiB of counters per
 * thread (up to 4 MiB of them are kept for the next call, so that a model
 * of many tensors does not fault fresh pages in for each), 72 bytes per
 * chunk of 64 Ki values and 1 byte per block.
 * Progress: pass 1 is the first half.
 */
int compute_stats(chunk_read_fn *rd, void *ctx, uint64_t count, unsigned nbins,
		  const struct compute_ctl *ctl, struct vstats *vs,
		  struct histogram *h);

/*
 * compute_stats() of values stored as 16-bit codes, dt DT_BF16 or DT_F16
 * (-1 for any other), read as the codes themselves: the same results, bit
 * for bit, as compute_stats() over the decoded values, without decoding
 * them or looking for keys: in a tensor of 128 Ki values or more, every
 * block goes straight into the table of its kind, one increment per
 * value.  Smaller tensors are decoded and go the way of compute_stats().
 */
int compute_stats16(chunk_codes16_fn *rd16, void *ctx, enum dtype dt,
		    uint64_t count, unsigned nbins,
		    const struct compute_ctl *ctl, struct vstats *vs,
		    struct histogram *h);

/*
 * The distinct 16-bit codes among the count that rd16 gives, and how many
 * times each occurs: *out (malloc()ed, *nout entries, in code order, none
 * with n == 0; NULL when count is 0).  The counting of compute_stats16(),
 * for whatever else is a function of the code (the dtype doctor).
 * Returns 0; 1 when cancelled, -1 when the reader failed or memory ran
 * out (*out then NULL).
 */
struct compute_count {
	uint32_t key;		/* the code */
	uint64_t n;
};

int compute_codes16(chunk_codes16_fn *rd16, void *ctx, uint64_t count,
		    const struct compute_ctl *ctl, struct compute_count **out,
		    size_t *nout);

/*
 * The error of the count values rb gives against the count values ra
 * gives (ra's are the reference x of quant/stats.h, rb's the y), both
 * read in blocks of 8 Ki values: for comparing two tensors of the same
 * element count (qscope diff).  acc is the same, bit for bit, for every
 * thread count.  Returns 0; 1 when cancelled, -1 when a reader failed or
 * memory ran out (acc then holds nothing).
 */
int compute_compare(chunk_read_fn *ra, void *ca, chunk_read_fn *rb, void *cb,
		    uint64_t count, const struct compute_ctl *ctl,
		    struct err_acc *acc);

/*
 * Two streams of values compared element by element (qscope diff): ra's
 * are the reference x, rb's the y.  When transposed is set, ra gives a
 * [rows, cols] matrix and rb the same matrix stored [cols, rows] (GPT-2's
 * Conv1D weights against their GGUF copy): element (i, j) of x is ra's
 * i * cols + j and of y rb's j * rows + i.  Then each chunk is a band of
 * whole rows of x, and y's band is read as cols runs of the band's row
 * count (at most 256 rows, and fewer for wide matrices, so that
 * the band stays within a few MiB per thread) and turned around in memory.
 */
struct compute_pair {
	chunk_read_fn *ra;
	void *ca;
	chunk_read_fn *rb;
	void *cb;
	uint64_t count;		/* elements of each; rows * cols if transposed */
	int transposed;
	uint64_t rows, cols;	/* of x, when transposed */
};

/*
 * compute_compare() of a pair, transposed or not: the same result, bit for
 * bit, as compute_compare() when not transposed; for every thread count
 * the same either way.  Returns 0, 1 cancelled, -1 failed.
 */
int compute_compare_pair(const struct compute_pair *p,
			 const struct compute_ctl *ctl, struct err_acc *acc);

/*
 * The error of the pair (acc, as compute_compare_pair() gives it; may be
 * NULL) and the difference y - x: its statistics (vs) and nbins bins over
 * [vs->min, vs->max] (h; one empty bin over [0, 0] when no difference is
 * finite).  Two passes over the values.  Returns 0; 1 cancelled, -1 failed
 * (h then holds no memory).  Progress: the first pass is the first half.
 */
int compute_diff(const struct compute_pair *p, unsigned nbins,
		 const struct compute_ctl *ctl, struct err_acc *acc,
		 struct vstats *vs, struct histogram *h);

#endif
