/*
 * bench/membw.h - the yardstick every benchmark is put next to: memcpy
 * bandwidth of two big buffers, best of 5, and the monotonic clock it is
 * timed with.  Header-only: bench/stats.c and bench/scale/membw.c are
 * separate programs.
 */
#ifndef QSCOPE_BENCH_MEMBW_H
#define QSCOPE_BENCH_MEMBW_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* GB/s copying big bytes, best of 5; -1 when the buffers cannot be had. */
static inline double bench_memcpy_gbs(size_t big)
{
	char *src = malloc(big), *dst = malloc(big);
	double best = 1e30;

	if (!src || !dst) {
		free(src);
		free(dst);
		return -1;
	}
	memset(src, 1, big);
	memset(dst, 2, big);
	for (int r = 0; r < 5; r++) {
		double t = bench_now();

		memcpy(dst, src, big);
		t = bench_now() - t;
		best = t < best ? t : best;
	}
	if (dst[big / 2] != 1)
		abort();
	free(src);
	free(dst);
	return big / best / 1e9;
}

#endif
