/*
 * bench/stats.c - statistics + 64-bin histogram of a 4096 x 4096 tensor
 * (BF16, F16, F32) through compute_stats(), on 1 and 2 threads, next to
 * the memory bandwidth measured in the same run:
 *  - memcpy of a buffer far larger than any cache;
 *  - memory read: summing a large array, on 1 and on 2 threads.
 * Times are the best of several runs (CLOCK_MONOTONIC).  GB/s are of the
 * tensor's stored bytes (2 per value for BF16/F16, 4 for F32).  "decode
 * ms" is the floor under it: reading and decoding the values into the
 * same 8 Ki-value buffers, on the same threads, with nothing else done.
 * Prints a table and writes bench/results/stats.json (bench/stats_numpy.py
 * reads it to compare with numpy).
 *
 * usage: build/bench-stats [--quick]   (--quick: fewer runs, small buffers)
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/membw.h"
#include "quant/compute.h"
#include "quant/dtype.h"

#define ROWS 4096
#define COLS 4096
#define BINS 64

static int runs = 9;
static size_t big = (size_t)1 << 30;	/* bandwidth buffers, bytes */

static void *xalloc(size_t n)
{
	void *p = malloc(n);

	if (!p) {
		fprintf(stderr, "bench-stats: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

/* ---- bandwidth ---- */

struct sum_arg {
	const uint64_t *p;
	size_t n;
	uint64_t sum;
};

static void *sum_main(void *arg)
{
	typedef uint64_t v4du __attribute__((vector_size(32)));
	struct sum_arg *a = arg;
	v4du s0 = { 0 }, s1 = { 0 };
	size_t i;

	for (i = 0; a->n - i >= 8; i += 8) {
		v4du x, y;

		memcpy(&x, a->p + i, sizeof(x));
		memcpy(&y, a->p + i + 4, sizeof(y));
		s0 += x;
		s1 += y;
	}
	s0 += s1;
	a->sum = s0[0] + s0[1] + s0[2] + s0[3];
	return NULL;
}

/* Bytes per second reading a big array on nt threads (1 or 2). */
static double read_gbs(const uint64_t *buf, size_t n, int nt)
{
	double best = INFINITY;

	for (int r = 0; r < 5; r++) {
		struct sum_arg a[2];
		pthread_t th;
		double t = bench_now();

		for (int k = 0; k < nt; k++) {
			a[k].p = buf + n / nt * k;
			a[k].n = n / nt;
		}
		if (nt > 1 && pthread_create(&th, NULL, sum_main, &a[1]))
			abort();
		sum_main(&a[0]);
		if (nt > 1)
			pthread_join(th, NULL);
		t = bench_now() - t;
		if (a[0].sum == 42)	/* keep the sums */
			putchar(' ');
		best = t < best ? t : best;
	}
	return n * sizeof(*buf) / best / 1e9;
}

/* ---- the tensor ---- */

struct reader {
	const unsigned char *data;
	const struct dtype_info *di;
};

static int read_chunk(void *ctx, uint64_t first, size_t n, float *out)
{
	struct reader *r = ctx;

	r->di->decode(r->data + first * r->di->block_bytes, out, n);
	return 0;
}

/* N(0, 0.02) with a few outliers, from a fixed LCG (Box-Muller). */
static void fill(float *x, size_t n)
{
	uint64_t s = 0x9e3779b97f4a7c15u;

	for (size_t i = 0; i < n; i += 2) {
		double u1, u2, r;

		s = s * 6364136223846793005u + 1442695040888963407u;
		u1 = ((s >> 11) + 1.0) / 9007199254740993.0;
		s = s * 6364136223846793005u + 1442695040888963407u;
		u2 = (s >> 11) / 9007199254740992.0;
		r = 0.02 * sqrt(-2 * log(u1));
		x[i] = (float)(r * cos(6.283185307179586 * u2));
		if (i + 1 < n)
			x[i + 1] = (float)(r * sin(6.283185307179586 * u2));
	}
	for (size_t i = 0; i < n; i += 100003)
		x[i] *= 40;
}

struct result {
	const char *dtype;
	unsigned threads;
	double ms, gbs;
	double decode_ms;	/* reading and decoding alone, same threads */
};

/* The floor: read and decode every value, 8 Ki at a time, nothing else. */
static int decode_only(void *arg, const struct compute_chunk *c)
{
	for (size_t off = 0; off < c->n; off += 8192) {
		size_t n = c->n - off < 8192 ? c->n - off : 8192;

		read_chunk(arg, c->first + off, n, c->scratch);
	}
	return 0;
}

static double time_decode(struct reader *rd, uint64_t count, unsigned threads)
{
	struct compute_ctl ctl = { threads, NULL, NULL, NULL };
	struct compute_job job = { count, 1, 8192 * sizeof(float), decode_only,
				   rd };
	double best = INFINITY;

	for (int r = 0; r < runs; r++) {
		double t = bench_now();

		if (compute_run(&job, &ctl))
			abort();
		t = bench_now() - t;
		best = t < best ? t : best;
	}
	return best;
}

static double time_stats(struct reader *rd, uint64_t count, unsigned threads,
			 struct vstats *vs, struct histogram *h)
{
	struct compute_ctl ctl = { threads, NULL, NULL, NULL };
	double best = INFINITY;

	for (int r = 0; r < runs; r++) {
		double t;

		hist_release(h);
		t = bench_now();
		if (compute_stats(read_chunk, rd, count, BINS, &ctl, vs, h))
			abort();
		t = bench_now() - t;
		best = t < best ? t : best;
	}
	return best;
}

int main(int argc, char **argv)
{
	static const enum dtype dts[] = { DT_BF16, DT_F16, DT_F32 };
	const size_t count = (size_t)ROWS * COLS;
	struct result res[6];
	int nres = 0;
	float *x = xalloc(count * sizeof(float));
	unsigned char *raw = xalloc(count * 4);
	uint64_t *rb;
	double mc, rd1, rd2;
	const char *out = "bench/results/stats.json";
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	FILE *f;

	if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
		runs = 2;
		big = (size_t)64 << 20;
	}
	fill(x, count);

	mc = bench_memcpy_gbs(big);
	if (mc < 0) {
		fprintf(stderr, "bench-stats: out of memory\n");
		return 1;
	}
	rb = xalloc(big);
	for (size_t i = 0; i < big / 8; i++)
		rb[i] = i;
	rd1 = read_gbs(rb, big / 8, 1);
	rd2 = read_gbs(rb, big / 8, 2);
	free(rb);

	printf("statistics + %d-bin histogram of a %dx%d tensor, best of %d runs\n",
	       BINS, ROWS, COLS, runs);
	printf("memory: memcpy %.1f GB/s; read %.1f GB/s (1 thread), %.1f GB/s (2 threads)\n\n",
	       mc, rd1, rd2);
	printf("%-5s %7s %9s %8s %9s %9s %9s %11s\n", "dtype", "threads", "ms",
	       "GB/s", "x memcpy", "x read1", "x read2", "decode ms");

	for (size_t d = 0; d < sizeof(dts) / sizeof(dts[0]); d++) {
		const struct dtype_info *di = dtype_get(dts[d]);
		struct reader r = { raw, di };
		struct vstats vs[2];
		struct histogram h[2];

		for (size_t i = 0; i < count; i++) {
			uint16_t v16;

			switch (dts[d]) {
			case DT_BF16:
				v16 = f32_to_bf16(x[i]);
				memcpy(raw + 2 * i, &v16, 2);	/* host is LE */
				break;
			case DT_F16:
				v16 = f32_to_f16(x[i]);
				memcpy(raw + 2 * i, &v16, 2);
				break;
			default:
				memcpy(raw + 4 * i, &x[i], 4);
			}
		}
		memset(h, 0, sizeof(h));
		for (unsigned t = 1; t <= 2; t++) {
			double s = time_stats(&r, count, t, &vs[t - 1], &h[t - 1]);
			struct result *o = &res[nres++];

			o->dtype = di->name;
			o->threads = t;
			o->ms = s * 1e3;
			o->gbs = count * di->block_bytes / s / 1e9;
			o->decode_ms = time_decode(&r, count, t) * 1e3;
			printf("%-5s %7u %9.2f %8.2f %9.2f %9.2f %9.2f %11.2f\n",
			       o->dtype, t, o->ms, o->gbs, o->gbs / mc,
			       o->gbs / rd1, o->gbs / rd2, o->decode_ms);
		}
		/* Same chunks, so the same numbers for any thread count. */
		if (vs[0].sum != vs[1].sum || vs[0].sumsq != vs[1].sumsq ||
		    memcmp(h[0].counts, h[1].counts,
			   h[0].nbins * sizeof(*h[0].counts)))
			printf("      warning: 1 and 2 threads disagree\n");
		hist_release(&h[0]);
		hist_release(&h[1]);
	}

	f = fopen(out, "w");
	if (!f) {
		perror(out);
		return 1;
	}
	fprintf(f, "{\"bench\": \"stats\", \"shape\": [%d, %d], \"bins\": %d, \"runs\": %d,\n",
		ROWS, COLS, BINS, runs);
	fprintf(f, " \"cpus\": %ld, \"memcpy_gbs\": %.3f, \"read_gbs_1thread\": %.3f, \"read_gbs_2threads\": %.3f,\n",
		ncpu, mc, rd1, rd2);
	fprintf(f, " \"results\": [");
	for (int i = 0; i < nres; i++)
		fprintf(f, "%s\n  {\"dtype\": \"%s\", \"threads\": %u, \"ms\": %.4f, \"gbs\": %.3f, \"decode_ms\": %.4f}",
			i ? "," : "", res[i].dtype, res[i].threads, res[i].ms,
			res[i].gbs, res[i].decode_ms);
	fprintf(f, "\n]}\n");
	if (fclose(f)) {
		perror(out);
		return 1;
	}
	printf("\nwrote %s\n", out);
	free(x);
	free(raw);
	return 0;
}
