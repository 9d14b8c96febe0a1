/*
 * bench/stats.c - statistics + 64-bin histogram of a 4096 x 4096 tensor
 * (BF16, F16, F32), on 1 and 2 threads, from two places:
 *  - memory: the tensor's bytes in memory, handed to quant/ directly
 *    (compute_stats16() for BF16 and F16, compute_stats() for F32): the
 *    kernels alone;
 *  - file: tensor_stats() on a safetensors file this program writes
 *    (under $TMPDIR, removed at the end) and the page cache holds, the
 *    way `qscope stats` and the histogram screen get them (pread() and
 *    all).
 * Next to them, the memory bandwidth measured in the same run:
 *  - memcpy of a buffer far larger than any cache;
 *  - memory read: summing a large array, on 1 and on 2 threads.
 * Times are the best of several runs (CLOCK_MONOTONIC), after a first
 * one, shown apart ("first ms": what a program that looks at one tensor
 * pays, page faults of its tables included).  GB/s are of the tensor's
 * stored bytes (2 per value for BF16/F16, 4 for F32).
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
#include "formats/model.h"
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
	const char *dtype, *from;
	unsigned threads;
	double ms, gbs;
	double first_ms;	/* the first call in the process */
};

/* Where the values come from: the file through tensor_stats(), or a copy
 * of its bytes in memory handed to quant/ directly. */
struct src {
	int file;
	const struct model *m;
	const struct tensor *t;
	const unsigned char *raw;	/* the copy */
	const struct dtype_info *di;
};

static int mem_values(void *ctx, uint64_t first, size_t n, float *out)
{
	struct src *s = ctx;

	s->di->decode(s->raw + first * s->di->block_bytes, out, n);
	return 0;
}

/* Little-endian host: the codes are the stored bytes. */
static int mem_codes(void *ctx, uint64_t first, size_t n, codes16_fn *fn,
		     void *arg)
{
	struct src *s = ctx;

	fn(arg, (const uint16_t *)(const void *)(s->raw + first * 2), n);
	return 0;
}

static int stats_once(struct src *s, const struct compute_ctl *ctl,
		      struct vstats *vs, struct histogram *h)
{
	enum dtype dt = tensor_codes16(s->t);
	struct err e;

	if (s->file)
		return tensor_stats(s->m, s->t, BINS, ctl, vs, h, &e);
	if (dt != DT_NONE)
		return compute_stats16(mem_codes, s, dt, s->t->params, BINS,
				       ctl, vs, h);
	return compute_stats(mem_values, s, s->t->params, BINS, ctl, vs, h);
}

/* Best of runs; *first gets the first call's time. */
static double time_stats(struct src *s, unsigned threads, struct vstats *vs,
			 struct histogram *h, double *first)
{
	struct compute_ctl ctl = { threads, NULL, NULL, NULL };
	double best = INFINITY;

	for (int r = 0; r <= runs; r++) {
		double t;

		hist_release(h);
		t = bench_now();
		if (stats_once(s, &ctl, vs, h)) {
			fprintf(stderr, "bench-stats: %s: failed\n",
				s->t->name);
			exit(1);
		}
		t = bench_now() - t;
		if (r == 0)
			*first = t;
		else
			best = t < best ? t : best;
	}
	return best;
}

/* Write the three tensors of x (count values each) as one safetensors
 * file at path; 0, or -1 with errno. */
static int write_file(const char *path, const float *x, size_t count)
{
	static const char *const names[] = { "BF16", "F16", "F32" };
	static const unsigned width[] = { 2, 2, 4 };
	char head[512];
	uint64_t off = 0, len;
	int n = 0;
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	n += snprintf(head + n, sizeof(head) - n, "{");
	for (int d = 0; d < 3; d++) {
		uint64_t bytes = (uint64_t)count * width[d];

		n += snprintf(head + n, sizeof(head) - n,
			      "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%d,%d],\"data_offsets\":[%llu,%llu]}",
			      d ? "," : "", names[d], names[d], ROWS, COLS,
			      (unsigned long long)off,
			      (unsigned long long)(off + bytes));
		off += bytes;
	}
	n += snprintf(head + n, sizeof(head) - n, "}");
	while (n % 8)
		head[n++] = ' ';
	len = (uint64_t)n;	/* little-endian host */
	fwrite(&len, 8, 1, f);
	fwrite(head, 1, (size_t)n, f);
	for (int d = 0; d < 3; d++)
		for (size_t i = 0; i < count; i++) {
			uint16_t v16 = d == 0 ? f32_to_bf16(x[i]) :
				       f32_to_f16(x[i]);

			if (d == 2)
				fwrite(&x[i], 4, 1, f);
			else
				fwrite(&v16, 2, 1, f);
		}
	return fclose(f) ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const char *const dts[] = { "BF16", "F16", "F32" };
	const size_t count = (size_t)ROWS * COLS;
	struct result res[12];
	int nres = 0;
	float *x = xalloc(count * sizeof(float));
	uint64_t *rb;
	double mc, rd1, rd2;
	const char *out = "bench/results/stats.json";
	const char *tmp = getenv("TMPDIR");
	char dir[4096], path[4200];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct model m;
	struct err e;
	FILE *f;

	if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
		runs = 2;
		big = (size_t)64 << 20;
	}
	fill(x, count);
	snprintf(dir, sizeof(dir), "%s/qscope-bench-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror(dir);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/t.safetensors", dir);
	if (write_file(path, x, count) || model_open(&m, path, &e)) {
		fprintf(stderr, "bench-stats: %s: cannot write or open it\n",
			path);
		unlink(path);
		rmdir(dir);
		return 1;
	}

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

	printf("statistics + %d-bin histogram of a %dx%d tensor, best of %d runs after a first one\n"
	       "  memory: its bytes in memory, to quant/ (compute_stats16, compute_stats)\n"
	       "  file:   tensor_stats() on a safetensors file in the page cache, as qscope stats\n",
	       BINS, ROWS, COLS, runs);
	printf("memory bandwidth: memcpy %.1f GB/s; read %.1f GB/s (1 thread), %.1f GB/s (2 threads)\n\n",
	       mc, rd1, rd2);
	printf("%-5s %-6s %7s %8s %7s %8s %8s %8s %8s\n", "dtype", "from",
	       "threads", "ms", "GB/s", "xmemcpy", "xread1", "xread2",
	       "first ms");

	for (size_t d = 0; d < sizeof(dts) / sizeof(dts[0]); d++) {
		const struct tensor *t = model_find(&m, dts[d]);
		unsigned char *raw = xalloc(t->nbytes);
		struct vstats vs[4];
		struct histogram h[4];
		int k = 0;

		memcpy(raw, t->data, t->nbytes);
		memset(h, 0, sizeof(h));
		for (int file = 0; file <= 1; file++) {
			for (unsigned th = 1; th <= 2; th++, k++) {
				struct src s = { file, &m, t, raw,
						 dtype_get(t->dtype) };
				struct result *o = &res[nres++];
				double sec = time_stats(&s, th, &vs[k], &h[k],
							&o->first_ms);

				o->dtype = dts[d];
				o->from = file ? "file" : "memory";
				o->threads = th;
				o->ms = sec * 1e3;
				o->first_ms *= 1e3;
				o->gbs = t->nbytes / sec / 1e9;
				printf("%-5s %-6s %7u %8.2f %7.2f %8.2f %8.2f %8.2f %8.2f\n",
				       o->dtype, o->from, th, o->ms, o->gbs,
				       o->gbs / mc, o->gbs / rd1, o->gbs / rd2,
				       o->first_ms);
			}
		}
		/* Same chunks, so the same numbers for any thread count,
		 * and the same from memory or from the file. */
		for (k = 1; k < 4; k++)
			if (vs[k].sum != vs[0].sum ||
			    vs[k].sumsq != vs[0].sumsq ||
			    memcmp(h[k].counts, h[0].counts,
				   h[0].nbins * sizeof(*h[0].counts)))
				printf("      warning: the runs disagree\n");
		for (k = 0; k < 4; k++)
			hist_release(&h[k]);
		free(raw);
	}
	/* The target: BF16 on 2 threads at half of memcpy's rate or more
	 * (res[1]: BF16, memory, 2 threads; res[3]: from the file). */
	printf("\ntarget: BF16, 2 threads, at least 0.50x memcpy: %.2fx from memory (%s), %.2fx from the file\n",
	       res[1].gbs / mc, res[1].gbs / mc >= 0.5 ? "met" : "MISSED",
	       res[3].gbs / mc);
	printf("        against the 2-thread read bandwidth: %.2fx and %.2fx\n",
	       res[1].gbs / rd2, res[3].gbs / rd2);
	model_release(&m);
	unlink(path);
	rmdir(dir);

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
		fprintf(f, "%s\n  {\"dtype\": \"%s\", \"from\": \"%s\", \"threads\": %u, \"ms\": %.4f, \"gbs\": %.3f, \"first_ms\": %.4f}",
			i ? "," : "", res[i].dtype, res[i].from,
			res[i].threads, res[i].ms, res[i].gbs,
			res[i].first_ms);
	fprintf(f, "\n]}\n");
	if (fclose(f)) {
		perror(out);
		return 1;
	}
	printf("\nwrote %s\n", out);
	free(x);
	return 0;
}
