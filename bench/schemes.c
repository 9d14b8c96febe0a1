/*
 * bench/schemes.c - the error of every scheme on a 4096 x 4096 BF16 tensor.
 *
 * What is timed is what `qscope try` and the quantize view do: read the
 * tensor (decoding BF16 to float32, a piece at a time), quantize,
 * dequantize and accumulate the error (scheme_error()), with 1 thread and
 * with 2 (and with every CPU when there are more), best of a few runs.  The
 * values are N(0, 1), made in memory (xorshift64 + Box-Muller), so no disk
 * is involved.  memcpy bandwidth is measured in the same run as the yardstick:
 * a scheme cannot stream its input faster than memory moves it.
 *
 * Targets (issue 3, on 2 cores): int8, fp8 and q8_0 under 50 ms; 4-bit
 * formats other than k-quants under 100 ms; k-quants under 400 ms.
 *
 * Prints a table and writes bench/results/schemes.json.  Usage:
 *	build/bench-schemes [--quick] [SCHEME...]
 * (--quick: one run each instead of the best of 5)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "quant/compute.h"
#include "quant/dtype.h"
#include "quant/schemes.h"

#define ROWS 4096
#define COLS 4096
#define N ((size_t)ROWS * COLS)

static uint16_t *bf16;	/* the tensor as stored */

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static double unif(uint64_t *s)
{
	return ((double)(rnd(s) >> 11) + 0.5) / 9007199254740992.0;
}

static void make_tensor(void)
{
	uint64_t seed = 42;

	bf16 = malloc(N * sizeof(*bf16));
	if (!bf16) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < N; i += 2) {
		double r = sqrt(-2 * log(unif(&seed))), a = 6.283185307179586 *
							    unif(&seed);

		bf16[i] = f32_to_bf16((float)(r * cos(a)));
		bf16[i + 1] = f32_to_bf16((float)(r * sin(a)));
	}
}

/* The reader: decode BF16, as tensor_read_f32() does for a mapped file. */
static int read_bf16(void *arg, uint64_t first, size_t n, float *out)
{
	(void)arg;
	dtype_get(DT_BF16)->decode((const unsigned char *)(bf16 + first), out,
				   n);
	return 0;
}

/* Best memcpy time of a buffer of n bytes, in ms. */
static double memcpy_ms(size_t n, int reps)
{
	char *a = malloc(n), *b = malloc(n);
	double best = 1e30;

	if (!a || !b) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	memset(a, 1, n);
	memset(b, 2, n);
	for (int r = 0; r < reps; r++) {
		double t = now_ms();

		memcpy(b, a, n);
		t = now_ms() - t;
		if (t < best)
			best = t;
		a[r] = b[n - 1 - r];	/* keep the copies alive */
	}
	free(a);
	free(b);
	return best;
}

static double time_scheme(const struct scheme *s, unsigned threads, int reps,
			  struct err_acc *acc)
{
	const struct scheme_shape sh = { 2, { ROWS, COLS } };
	struct compute_ctl ctl = { threads, NULL, NULL, NULL };
	double best = 1e30;

	for (int r = 0; r < reps; r++) {
		double t = now_ms();

		if (scheme_error(s, &sh, read_bf16, NULL, &ctl, acc)) {
			fprintf(stderr, "%s: scheme_error failed\n", s->name);
			exit(1);
		}
		t = now_ms() - t;
		if (t < best)
			best = t;
	}
	return best;
}

/* The target for s on 2 cores, in ms; 0 when none. */
static double target_ms(const struct scheme *s)
{
	static const char *const t50[] = { "int8", "int8-tensor", "fp8-e4m3",
					   "fp8-e5m2", "q8_0" };
	static const char *const t100[] = { "int4-g128", "int4-g128-asym",
					     "nf4", "nf4-dq", "fp4", "mxfp4",
					     "q4_0", "q4_1" };

	for (size_t i = 0; i < sizeof(t50) / sizeof(t50[0]); i++)
		if (!strcmp(s->name, t50[i]))
			return 50;
	for (size_t i = 0; i < sizeof(t100) / sizeof(t100[0]); i++)
		if (!strcmp(s->name, t100[i]))
			return 100;
	if (s->ggml == DT_Q2_K || s->ggml == DT_Q3_K || s->ggml == DT_Q4_K ||
	    s->ggml == DT_Q5_K || s->ggml == DT_Q6_K)
		return 400;
	return 0;
}

static int wanted(const char *name, int argc, char **argv)
{
	int any = 0;

	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			continue;
		any = 1;
		if (!strcmp(argv[i], name))
			return 1;
	}
	return !any;
}

int main(int argc, char **argv)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned all = ncpu > 0 ? (unsigned)ncpu : 1;
	int quick = argc > 1 && !strcmp(argv[1], "--quick");
	int reps = quick ? 1 : 5, missed = 0;
	double cp_in, cp_f32;
	const double in_mb = N * 2 / 1e6;	/* BF16 input, MB */
	FILE *js;

	make_tensor();
	cp_in = memcpy_ms(N * 2, 5);
	cp_f32 = memcpy_ms(N * 4, 5);
	printf("schemes: error of each scheme on a %dx%d BF16 tensor, N(0,1)\n",
	       ROWS, COLS);
	printf("  (read + decode + quantize + dequantize + error, best of %d; "
	       "%ld CPUs)\n", reps, ncpu);
	printf("  memcpy: %.0f MB in %.2f ms = %.1f GB/s; %.0f MB in %.2f ms = "
	       "%.1f GB/s\n\n", in_mb, cp_in, in_mb / cp_in, 2 * in_mb, cp_f32,
	       2 * in_mb / cp_f32);
	printf("%-15s %7s %10s %10s", "SCHEME", "BITS/W", "1 THREAD", "2 THREADS");
	if (all > 2)
		printf(" %7u THR", all);
	printf(" %9s %8s %7s %s\n", "MB/s", "xMEMCPY", "TARGET", "");

	js = fopen("bench/results/schemes.json", "w");
	if (js)
		fprintf(js, "{\"bench\": \"schemes\", \"tensor\": {\"shape\": [%d, %d], "
			"\"dtype\": \"BF16\", \"values\": \"N(0,1)\"}, \"cpus\": %ld, "
			"\"reps\": %d, \"memcpy_ms\": %.3f, \"memcpy_gb_s\": %.3f, "
			"\"schemes\": [", ROWS, COLS, ncpu, reps, cp_in, in_mb / cp_in);

	for (size_t i = 0, first = 1; i < nschemes; i++) {
		const struct scheme *s = &schemes[i];
		const struct scheme_shape sh = { 2, { ROWS, COLS } };
		struct err_acc a;
		struct err_metrics m;
		double t1, t2, ta = 0, tgt = target_ms(s), best;
		int slow = s->ggml != DT_NONE && tgt == 400;

		if (!wanted(s->name, argc, argv))
			continue;
		/* k-quants take a second per run on one core: fewer runs */
		t1 = time_scheme(s, 1, slow && reps > 1 ? 2 : reps, &a);
		t2 = time_scheme(s, 2, reps, &a);
		best = t2;
		if (all > 2) {
			ta = time_scheme(s, all, reps, &a);
			best = ta < best ? ta : best;
		}
		err_acc_finish(&a, &m);
		printf("%-15s %7.3f %8.1fms %8.1fms", s->name,
		       scheme_bits(s, &sh), t1, t2);
		if (all > 2)
			printf(" %9.1fms", ta);
		printf(" %9.0f %8.1f", in_mb / t2 * 1e3, t2 / cp_in);
		if (tgt)
			printf(" %5.0fms %s", tgt, t2 < tgt ? "ok" : "MISSED");
		printf("\n");
		fflush(stdout);
		missed += tgt && t2 >= tgt;
		if (js) {
			fprintf(js, "%s\n  {\"name\": \"%s\", \"bits_per_weight\": %.6f, "
				"\"ms_1_thread\": %.3f, \"ms_2_threads\": %.3f, ",
				first ? "" : ",", s->name, scheme_bits(s, &sh), t1, t2);
			if (all > 2)
				fprintf(js, "\"ms_all_threads\": %.3f, ", ta);
			fprintf(js, "\"mb_s_2_threads\": %.1f, \"x_memcpy\": %.2f, "
				"\"rmse\": %.6g", in_mb / t2 * 1e3, t2 / cp_in,
				m.rmse);
			if (tgt)
				fprintf(js, ", \"target_ms\": %.0f, \"meets_target\": %s",
					tgt, t2 < tgt ? "true" : "false");
			fputc('}', js);
		}
		first = 0;
	}
	if (js) {
		fputs("\n]}\n", js);
		if (fclose(js))
			fprintf(stderr, "bench/results/schemes.json: write failed\n");
		else
			printf("\nwrote bench/results/schemes.json\n");
	} else {
		fprintf(stderr, "cannot write bench/results/schemes.json\n");
	}
	printf("%d target%s missed\n", missed, missed == 1 ? "" : "s");
	free(bf16);
	return 0;
}
