/*
 * formats/pages.c - the sliding window of mapped pages of a tensor being
 * streamed (formats/pages.h says what and why).
 */
#include <sys/mman.h>
#include <unistd.h>

#include "formats/pages.h"
#include "quant/dtype.h"

/* Reads smaller than this (a preview of a few values) map nothing ahead. */
#define PAGES_MIN_READ 4096

/* 1 if t's bytes lie in a file mapping that madvise may drop. */
static int droppable(const struct tensor *t)
{
	const struct source *s = t->src;

	if (!t->data || t->strided || t->layout || !s)
		return 0;
	for (; s; s = s->parent)
		if (s->owned || !s->data)
			return 0;
	return 1;
}

/* The bytes [*a, *b) of t that elements [first, first + n) live in. */
static void byte_range(const struct tensor *t, uint64_t first, size_t n,
		       uintptr_t *a, uintptr_t *b)
{
	const struct dtype_info *di = dtype_get(t->dtype);
	uint64_t lo = first / di->block * di->block_bytes;
	uint64_t hi = (first + n + di->block - 1) / di->block * di->block_bytes;

	if (hi > t->nbytes)
		hi = t->nbytes;
	*a = (uintptr_t)t->data + (uintptr_t)lo;
	*b = (uintptr_t)t->data + (uintptr_t)hi;
}

/* Threads read tensors at once: the lazily kept size is loaded and stored
 * atomically (they all store the same value). */
static uintptr_t page_size(void)
{
	static uintptr_t pg;
	uintptr_t v = __atomic_load_n(&pg, __ATOMIC_RELAXED);

	if (!v) {
		long n = sysconf(_SC_PAGESIZE);

		v = n > 0 ? (uintptr_t)n : 4096;
		__atomic_store_n(&pg, v, __ATOMIC_RELAXED);
	}
	return v;
}

/* madvise(advice) on the whole pages of [a, b) clipped to [lo, hi). */
static void advise(uintptr_t a, uintptr_t b, uintptr_t lo, uintptr_t hi,
		   int advice)
{
	uintptr_t pg = page_size();

	a = a < lo ? lo : a;
	b = b > hi ? hi : b;
	a &= ~(pg - 1);
	if (advice == MADV_DONTNEED)	/* keep a page shared with the next */
		b &= ~(pg - 1);
	if (b > a)
		(void)madvise((void *)a, b - a, advice);
}

void pages_ahead(const struct tensor *t, uint64_t first, size_t n)
{
#ifdef MADV_POPULATE_READ
	uintptr_t a, b, x, lo, hi, w = (uintptr_t)PAGES_WINDOW;

	if (!droppable(t) || !n || first > t->params || n > t->params - first)
		return;
	byte_range(t, first, n, &a, &b);
	if (b - a < PAGES_MIN_READ)
		return;
	lo = (uintptr_t)t->data;
	hi = lo + (uintptr_t)t->nbytes;
	if (a == lo)
		advise(lo, (lo + w - 1) / w * w + w, lo, hi,
		       MADV_POPULATE_READ);
	for (x = (a + w - 1) / w * w; x < b; x += w)
		advise(x + w, x + 2 * w, lo, hi, MADV_POPULATE_READ);
#else
	(void)t;
	(void)first;
	(void)n;
#endif
}

void pages_behind(const struct tensor *t, uint64_t first, size_t n)
{
	uintptr_t a, b, x, lo, hi, w = (uintptr_t)PAGES_WINDOW;

	if (!droppable(t) || !n || first > t->params || n > t->params - first)
		return;
	byte_range(t, first, n, &a, &b);
	lo = (uintptr_t)t->data;
	hi = lo + (uintptr_t)t->nbytes;
	for (x = (a + w - 1) / w * w; x < b; x += w)
		if (x >= lo + 2 * w)
			advise(x - 2 * w, x - w, lo, hi, MADV_DONTNEED);
	if (b == hi)	/* the end of the tensor: its last windows */
		advise(a / w * w >= 2 * w ? a / w * w - 2 * w : 0, hi, lo, hi,
		       MADV_DONTNEED);
}

void pages_done(const struct tensor *t)
{
	uintptr_t lo;

	if (!droppable(t) || !t->nbytes)
		return;
	lo = (uintptr_t)t->data;
	advise(lo, lo + (uintptr_t)t->nbytes, lo, lo + (uintptr_t)t->nbytes,
	       MADV_DONTNEED);
}
