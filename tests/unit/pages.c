/*
 * Unit tests for formats/pages.c: streaming a tensor through
 * tensor_reader_read() on several threads keeps the resident pages of its
 * mapping to a few windows, drops them all at the end, never changes a
 * value read, and leaves memory the model decompressed (a .gz member)
 * alone.  And for the reads that copy from the file instead (pread): a
 * file cut short under them is an error, not a crash.
 */
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "formats/pages.h"
#include "quant/compute.h"
#include "tests/check.h"

/* Tensor "w": BF16 [ROWS, 4096], 64 MiB: 16 windows of 4 MiB. */
#define PG_COLS 4096u
#define PG_ROWS 8192u
#define PG_COUNT ((uint64_t)PG_ROWS * PG_COLS)

/* The BF16 code of element i: finite, never NaN. */
static uint16_t code_of(uint64_t i)
{
	return (uint16_t)((i * 2654435761u >> 13) & 0x3fff);
}

/* The safetensors bytes of "w" (header, then the data), or NULL. */
static unsigned char *pg_bytes(uint64_t count, size_t *len)
{
	char hdr[160];
	int hl = snprintf(hdr, sizeof(hdr),
			  "{\"w\":{\"dtype\":\"BF16\",\"shape\":[%llu,%u],"
			  "\"data_offsets\":[0,%llu]}}",
			  (unsigned long long)(count / PG_COLS), PG_COLS,
			  (unsigned long long)(2 * count));
	unsigned char *b;

	while (hl % 8)
		hdr[hl++] = ' ';
	*len = 8 + (size_t)hl + 2 * count;
	b = malloc(*len);
	if (!b)
		return NULL;
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
	memcpy(b + 8, hdr, (size_t)hl);
	for (uint64_t i = 0; i < count; i++) {
		b[8 + hl + 2 * i] = code_of(i) & 0xff;
		b[8 + hl + 2 * i + 1] = code_of(i) >> 8;
	}
	return b;
}

/* Resident bytes of the mapping that holds p (/proc/self/smaps), or -1. */
static long long rss_of(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0;
	long long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (in && sscanf(line, "Rss: %lld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

struct pg_job {
	struct tensor_reader *r;
	const void *data;
	uint64_t nchunks;
	uint64_t bad[4];	/* per thread: values that differ */
	long long rss_mid;	/* at three quarters of the pass */
};

static int pg_work(void *arg, const struct compute_chunk *c)
{
	struct pg_job *j = arg;
	float *x = c->scratch;

	if (tensor_reader_read(j->r, c->first, c->n, x))
		return -1;
	for (size_t k = 0; k < c->n; k++) {
		float want = bf16_to_f32(code_of(c->first + k));

		if (memcmp(&x[k], &want, sizeof(want)))
			j->bad[c->thread]++;
	}
	if (c->index == j->nchunks * 3 / 4)
		j->rss_mid = rss_of(j->data);
	return 0;
}

/* One pass over m's tensor "w" on two threads; the bad values. */
static uint64_t pg_pass(const struct model *m, long long *rss_mid)
{
	const struct tensor *t = model_find(m, "w");
	struct tensor_reader r;
	struct pg_job j = { &r, NULL, 0, { 0 }, -1 };
	struct compute_job job = { 0, 0, 0, pg_work, &j };
	struct compute_ctl ctl = { 2, NULL, NULL, NULL };

	if (!t)
		return UINT64_MAX;
	job.count = t->params;
	job.scratch = compute_chunk_size(&job) * sizeof(float);
	j.data = t->data;
	j.nchunks = compute_nchunks(&job);
	tensor_reader_init(&r, m, t);
	CHECK_EQ_I(compute_run(&job, &ctl), 0);
	tensor_reader_release(&r);
	if (rss_mid)
		*rss_mid = j.rss_mid;
	return j.bad[0] + j.bad[1] + j.bad[2] + j.bad[3];
}

/* Write "w" of count values to a new file named from path (a mkstemp()
 * template); its length in *len.  0, or -1 (nothing left behind). */
static int pg_file(char *path, uint64_t count, size_t *len)
{
	unsigned char *b = pg_bytes(count, len);
	int fd = mkstemp(path), ok;

	CHECK(b != NULL && fd >= 0);
	ok = b && fd >= 0 && write(fd, b, *len) == (ssize_t)*len;
	if (fd >= 0)
		close(fd);
	if (fd >= 0 && !ok)
		unlink(path);
	free(b);
	return ok ? 0 : -1;
}

TEST(pages_window)
{
	char path[] = "/tmp/qscope-unit-pages-XXXXXX";
	size_t len;
	struct model m;
	struct err e = { "" };
	long long mid = -1, end;

	if (pg_file(path, PG_COUNT, &len))
		return;
	CHECK_EQ_I(model_open(&m, path, &e), 0);
	if (m.ntensors == 1) {
		const struct tensor *t = &m.tensors[0];

		/* Reads copy from the file (pread) when its source keeps it
		 * open; past MAX_FDS open files they go through the mapping,
		 * which is what this tests: the source is made one of those.
		 * (The count of open files in model.c stays one too high.) */
		CHECK(m.sources[0]->fd >= 0);
		close(m.sources[0]->fd);
		m.sources[0]->fd = -1;
		/* Twice: the second pass reads pages the first dropped. */
		for (int pass = 0; pass < 2; pass++) {
			CHECK_EQ_U(pg_pass(&m, &mid), 0);
			end = rss_of(t->data);
			/* 48 MiB read by then: a few 4 MiB windows stay. */
			check_report(__FILE__, __LINE__,
				     mid >= 0 && mid <= 6 * (long long)PAGES_WINDOW,
				     "pass %d: %lld bytes resident at 3/4", pass,
				     mid);
			check_report(__FILE__, __LINE__,
				     end >= 0 && end <= 64 * 1024,
				     "pass %d: %lld bytes resident at the end",
				     pass, end);
		}
		/* A short read in the middle: right values, nothing kept. */
		float v[3];

		CHECK_EQ_I(tensor_read_f32(&m, t, PG_COUNT / 2, 3, v, &e), 0);
		for (int k = 0; k < 3; k++)
			CHECK_FBITS(v[k], bf16_to_f32(code_of(PG_COUNT / 2 + k)));
	}
	model_release(&m);
	unlink(path);
}

TEST(pages_inflated_member_kept)
{
	/* A gzip'd file is inflated into memory the model owns: dropping
	 * its pages would zero it, so the second pass must read the same
	 * values as the first. */
	char path[] = "/tmp/qscope-unit-pages-XXXXXX";
	uint64_t count = (uint64_t)PG_COLS * 2048;	/* 16 MiB */
	size_t len;
	unsigned char *b = pg_bytes(count, &len);
	int fd = mkstemp(path);
	gzFile gz = fd >= 0 ? gzdopen(fd, "wb1") : NULL;
	struct model m;
	struct err e = { "" };

	CHECK(b != NULL && gz != NULL);
	if (!b || !gz) {
		free(b);
		return;
	}
	CHECK(gzwrite(gz, b, (unsigned)len) == (int)len);
	CHECK(gzclose(gz) == Z_OK);
	free(b);
	CHECK_EQ_I(model_open(&m, path, &e), 0);
	if (m.ntensors == 1) {
		CHECK(m.tensors[0].src->owned != NULL ||
		      (m.tensors[0].src->parent &&
		       m.tensors[0].src->parent->owned != NULL));
		CHECK_EQ_U(pg_pass(&m, NULL), 0);
		CHECK_EQ_U(pg_pass(&m, NULL), 0);
	}
	model_release(&m);
	unlink(path);
}

static void sum_codes(void *arg, const uint16_t *code, size_t n)
{
	uint64_t *sum = arg;

	for (size_t i = 0; i < n; i++)
		*sum += code[i];
}

TEST(pages_cut_short)
{
	/* Reads copy from the file (pread): a file cut short after it was
	 * opened gives an error naming the tensor, never a crash, through
	 * every way of reading it; what is left is still read right. */
	char path[] = "/tmp/qscope-unit-pages-XXXXXX";
	uint64_t count = (uint64_t)PG_COLS * 256;	/* 2 MiB */
	size_t len;
	struct model m;
	struct err e = { "" };

	if (pg_file(path, count, &len))
		return;
	CHECK_EQ_I(model_open(&m, path, &e), 0);
	if (m.ntensors == 1) {
		const struct tensor *t = &m.tensors[0];
		struct vstats vs;
		struct histogram h;
		uint64_t sum = 0;
		float v[4];

		CHECK(t->src->fd >= 0);
		CHECK_EQ_I(tensor_codes16(t), DT_BF16);
		CHECK_EQ_I(truncate(path, (off_t)(len - 2 * count / 2)), 0);
		/* The first half is still there. */
		CHECK_EQ_I(tensor_read_f32(&m, t, 5, 4, v, &e), 0);
		for (int k = 0; k < 4; k++)
			CHECK_FBITS(v[k], bf16_to_f32(code_of(5 + k)));
		/* Past the cut, a small read (through the mapping, under the
		 * guard: pages wholly past the end fault) and large ones
		 * (pread: any short read) alike. */
		CHECK_EQ_I(tensor_read_f32(&m, t, count - 4, 4, v, &e), -1);
		CHECK(strstr(e.msg, "tensor 'w': the file was cut short") != NULL);
		e.msg[0] = '\0';
		CHECK_EQ_I(tensor_visit_u16(&m, t, count - 16, 16, sum_codes,
					    &sum, &e), -1);
		CHECK(strstr(e.msg, "cut short") != NULL);
		for (size_t n = 4096; n <= 65536; n *= 16) {
			float *big = malloc(n * sizeof(float));

			e.msg[0] = '\0';
			CHECK_EQ_I(tensor_read_f32(&m, t, count / 2 - 8, n, big,
						   &e), -1);
			CHECK(strstr(e.msg, "cut short") != NULL);
			e.msg[0] = '\0';
			CHECK_EQ_I(tensor_visit_u16(&m, t, count / 2 - 8, n,
						    sum_codes, &sum, &e), -1);
			CHECK(strstr(e.msg, "cut short") != NULL);
			free(big);
		}
		e.msg[0] = '\0';
		CHECK_EQ_I(tensor_stats(&m, t, 64, NULL, &vs, &h, &e), -1);
		CHECK(strstr(e.msg, "tensor 'w': the file was cut short") != NULL);
		CHECK(h.counts == NULL);
	}
	model_release(&m);
	unlink(path);
}
