/*
 * quant/compute.c - chunks on threads (compute_run) and the statistics
 * pass built on it (compute_stats).  See compute.h.
 */
#include "quant/compute.h"
#include "quant/dtype.h"
#include "quant/kernel.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int32_t v8si __attribute__((vector_size(32)));

/* More threads than this are not started, whatever ctl says. */
#define MAX_THREADS 256

/* ---- compute_run ---- */

size_t compute_chunk_size(const struct compute_job *job)
{
	size_t align = job->align > 1 ? job->align : 1;

	if (align >= COMPUTE_CHUNK)
		return align;
	return COMPUTE_CHUNK / align * align;
}

uint64_t compute_nchunks(const struct compute_job *job)
{
	size_t chunk = compute_chunk_size(job);

	return job->count / chunk + (job->count % chunk != 0);
}

unsigned compute_threads(const struct compute_job *job,
			 const struct compute_ctl *ctl)
{
	uint64_t nchunks = compute_nchunks(job);
	long t = ctl && ctl->threads ? (long)ctl->threads : 0;

	if (t <= 0)
		t = sysconf(_SC_NPROCESSORS_ONLN);
	if (t < 1)
		t = 1;
	if (t > MAX_THREADS)
		t = MAX_THREADS;
	if ((uint64_t)t > nchunks)
		t = nchunks ? (long)nchunks : 1;
	return (unsigned)t;
}

struct run {
	const struct compute_job *job;
	const struct compute_ctl *ctl;
	size_t chunk;
	uint64_t nchunks;
	atomic_uint_fast64_t next;	/* next chunk to hand out */
	atomic_uint_fast64_t done;	/* chunks finished */
	atomic_int failed;
	atomic_int cancelled;
};

struct worker {
	struct run *r;
	unsigned id;
	void *scratch;
	pthread_t th;
};

static void work(struct worker *w)
{
	struct run *r = w->r;
	const struct compute_ctl *ctl = r->ctl;

	for (;;) {
		struct compute_chunk c;
		uint64_t i, d;

		if (atomic_load_explicit(&r->failed, memory_order_relaxed))
			break;
		if (ctl && ctl->cancel &&
		    __atomic_load_n(ctl->cancel, __ATOMIC_RELAXED)) {
			atomic_store(&r->cancelled, 1);
			break;
		}
		i = atomic_fetch_add(&r->next, 1);
		if (i >= r->nchunks)
			break;
		c.thread = w->id;
		c.index = i;
		c.first = i * r->chunk;
		c.n = r->job->count - c.first < r->chunk ?
			(size_t)(r->job->count - c.first) : r->chunk;
		c.chunk = r->chunk;
		c.scratch = w->scratch;
		if (r->job->fn(r->job->arg, &c)) {
			atomic_store(&r->failed, 1);
			break;
		}
		d = atomic_fetch_add(&r->done, 1) + 1;
		if (w->id == 0 && ctl && ctl->progress)
			ctl->progress(ctl->arg, (double)d / (double)r->nchunks);
	}
}

static void *thread_main(void *arg)
{
	work(arg);
	return NULL;
}

/* A scratch buffer of n bytes (NULL for 0), cache-line aligned. */
static int scratch_alloc(void **p, size_t n)
{
	*p = NULL;
	if (!n)
		return 0;
	n = (n + 63) / 64 * 64;
	*p = aligned_alloc(64, n);
	return *p ? 0 : -1;
}

int compute_run(const struct compute_job *job, const struct compute_ctl *ctl)
{
	struct run r;
	struct worker *w;
	unsigned nt = compute_threads(job, ctl), started = 1;
	size_t bytes;

	memset(&r, 0, sizeof(r));
	r.job = job;
	r.ctl = ctl;
	r.chunk = compute_chunk_size(job);
	r.nchunks = compute_nchunks(job);
	atomic_init(&r.next, 0);
	atomic_init(&r.done, 0);
	atomic_init(&r.failed, 0);
	atomic_init(&r.cancelled, 0);
	bytes = job->scratch;

	w = calloc(nt, sizeof(*w));
	if (!w)
		return -1;
	for (unsigned i = 0; i < nt; i++) {
		w[i].r = &r;
		w[i].id = i;
	}
	if (scratch_alloc(&w[0].scratch, bytes)) {
		free(w);
		return -1;
	}
	/* Threads that cannot get memory or start leave their share to the
	 * others: chunks are handed out one at a time. */
	for (unsigned i = 1; i < nt; i++) {
		if (scratch_alloc(&w[i].scratch, bytes))
			break;
		if (pthread_create(&w[i].th, NULL, thread_main, &w[i])) {
			free(w[i].scratch);
			w[i].scratch = NULL;
			break;
		}
		started++;
	}
	work(&w[0]);
	for (unsigned i = 1; i < started; i++)
		pthread_join(w[i].th, NULL);
	for (unsigned i = 0; i < nt; i++)
		free(w[i].scratch);
	free(w);

	if (atomic_load(&r.failed))
		return -1;
	if (atomic_load(&r.cancelled) && atomic_load(&r.done) < r.nchunks)
		return 1;
	if (ctl && ctl->progress)
		ctl->progress(ctl->arg, 1.0);
	return 0;
}

/* ---- compute_stats ---- */

/*
 * Distinct-value tables.  A block of values that all have a 16-bit key
 * naming them exactly is counted per key, one increment per value, and
 * its statistics and bins come from the counts at the end.  Two kinds of
 * key:
 *  - KEY_TOP: the top 16 bits of the float32 pattern, when the low 16 are
 *    zero: BF16 data, FP8, small integers;
 *  - KEY_F16: the IEEE half-precision code, when the value is one: F16
 *    data (subnormals, infinities and NaN included).
 * Each thread has its own table of each kind, allocated at its first
 * such block: two interleaved arrays of 64 Ki 32-bit counters, TABSTRIDE
 * apart (not a multiple of 4 KiB, which would make the CPU think a store
 * to one may feed the next load from the other), spilled into 64-bit
 * counters before they could overflow.
 */
#define TAB 65536
#define TABSTRIDE (TAB + 64)
enum { KEY_TOP, KEY_F16, NKINDS };

/* Values read at a time (32 KiB of floats); divides COMPUTE_CHUNK. */
#define BLOCK 8192

/* Tensors with fewer values than this skip the tables: going over the
 * counters at the end (about 0.2 ms) costs more than binning them one by
 * one. */
#define TAB_MIN ((uint64_t)1 << 17)

struct vtab {
	uint32_t *t;		/* 2 * TABSTRIDE counters; NULL until used */
	uint64_t *spill;	/* TAB counters, from the first spill on */
	uint64_t since;		/* added to t since the last spill */
	int clean;		/* t is all zeros again */
};

/*
 * Tables are carved out of 2 MiB regions the kernel may back with one huge
 * page each (MADV_HUGEPAGE), three tables a region, and are kept for the
 * next call once given back (all zeros).  Touched page by page, a fresh
 * 512 KiB table costs 128 page faults: 1.5 to 1.9 ms measured on a
 * virtual machine (11 to 15 us each), against 0.06 to 0.25 ms for a
 * huge page that holds three.  A process holds at most a table per
 * thread, kind and computation running at once; they are never unmapped.
 */
#define TAB_BYTES (2 * TABSTRIDE * sizeof(uint32_t))
#define REGION ((size_t)2 << 20)

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *pool;		/* free tables, linked through word 0-1 */
static unsigned char *region;	/* where new tables come from */
static size_t region_used;

/* A new region of REGION bytes aligned to REGION; NULL if none. */
static unsigned char *region_new(void)
{
	unsigned char *p, *q;
	uintptr_t a;

	p = mmap(NULL, 2 * REGION, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)p + REGION - 1) & ~(uintptr_t)(REGION - 1);
	q = (unsigned char *)a;
	if (q > p)
		munmap(p, (size_t)(q - p));
	munmap(q + REGION, (size_t)(p + 2 * REGION - (q + REGION)));
#ifdef MADV_HUGEPAGE
	madvise(q, REGION, MADV_HUGEPAGE);	/* a hint */
#endif
	return q;
}

static uint32_t *tab_get(void)
{
	uint32_t *t = NULL;

	pthread_mutex_lock(&pool_mu);
	if (pool) {
		t = pool;
		memcpy(&pool, t, sizeof(pool));
		t[0] = t[1] = 0;	/* the link; a pointer is at most 8 bytes */
	} else {
		if (!region || REGION - region_used < TAB_BYTES) {
			region = region_new();
			region_used = 0;
		}
		if (region) {
			t = (uint32_t *)(void *)(region + region_used);
			region_used += TAB_BYTES;
		}
	}
	pthread_mutex_unlock(&pool_mu);
	return t;
}

static void tab_put(uint32_t *t, int clean)
{
	if (!t)
		return;
	if (!clean)
		memset(t, 0, TAB_BYTES);
	pthread_mutex_lock(&pool_mu);
	memcpy(t, &pool, sizeof(pool));
	pool = t;
	pthread_mutex_unlock(&pool_mu);
}

struct stats_job {
	chunk_read_fn *rd;
	chunk_codes16_fn *rd16;		/* or NULL: codes instead of values */
	int kind16;			/* rd16's key kind */
	void *ctx;
	struct vstats *cvs;		/* one per chunk */
	unsigned char *exact;		/* per block: counted in a table */
	struct vtab *vt;		/* per thread and kind */
	int tables;			/* use them at all */
	struct histogram *th;		/* per thread, pass 2 */
	int pass;
};

/* KEY_TOP: whether every value's low 16 bits are zero. */
BODY void low16_zero_body(const float *x, size_t n, int *exact)
{
	v8si acc = { 0 };
	int32_t rest = 0;
	size_t i;

	for (i = 0; n - i >= 8; i += 8) {
		v8si v;

		memcpy(&v, x + i, sizeof(v));
		acc |= v;
	}
	for (; i < n; i++) {
		int32_t u;

		memcpy(&u, x + i, sizeof(u));
		rest |= u;
	}
	for (int j = 0; j < 8; j++)
		rest |= acc[j];
	*exact = (rest & 0xffff) == 0;
}

KERNEL(low16_zero, (const float *x, size_t n, int *exact), (x, n, exact))

/*
 * KEY_F16: the half-precision codes of x into key[], when every value is
 * one exactly; stops early (exact 0) at the first group of 64 that is not.
 * The code of a finite half h is the float32 pattern of |h| * 2^-112
 * shifted right by 13: the product is exact (a multiple of 2^-136, the
 * smallest half 2^-24 scaled, and below 2^16 scaled), normal halves land
 * on exponents 1..30 and subnormal ones on float32 subnormals.  So |x| is
 * a half when that product has its low 13 bits zero, is not zero unless x
 * is, and |x| <= 65504.  Infinity and NaN keep their top 10 mantissa bits
 * (the low 13 must be zero).  (Under flush-to-zero the subnormal halves
 * fail the test and take the slow way: right, only slower.)
 */
BODY void f16_keys_body(const float *x, size_t n, int32_t *key, int *exact)
{
	typedef float v8sf __attribute__((vector_size(32)));
	v8si bad = { 0 };
	size_t i;

	*exact = 0;
	for (i = 0; n - i >= 8; i += 8) {
		v8si v, a, p, spec, code;

		memcpy(&v, x + i, sizeof(v));
		a = v & 0x7fffffff;
		p = (v8si)((v8sf)a * 0x1p-112f);
		spec = a >= 0x7f800000;
		bad |= (spec & a & 0x1fff) |
		       (~spec & ((p & 0x1fff) | (a > 0x477fe000) |
				 ((a != 0) & (p == 0))));
		code = (spec & (0x7c00 | (a & 0x7fffff) >> 13)) |
		       (~spec & p >> 13) | (v >> 16 & 0x8000);
		memcpy(key + i, &code, sizeof(code));
		if ((i & 63) == 56) {
			int32_t b = 0;

			for (int j = 0; j < 8; j++)
				b |= bad[j];
			if (b)
				return;
		}
	}
	for (int j = 0; j < 8; j++)
		if (bad[j])
			return;
	for (; i < n; i++) {
		int32_t u, a, p, m;
		float f;

		memcpy(&u, x + i, sizeof(u));
		a = u & 0x7fffffff;
		if (a >= 0x7f800000) {
			if (a & 0x1fff)
				return;
			m = 0x7c00 | (a & 0x7fffff) >> 13;
		} else {
			memcpy(&f, &a, sizeof(f));
			f *= 0x1p-112f;
			memcpy(&p, &f, sizeof(p));
			if ((p & 0x1fff) || a > 0x477fe000 || (a && !p))
				return;
			m = p >> 13;
		}
		key[i] = m | (u >> 16 & 0x8000);
	}
	*exact = 1;
}

KERNEL(f16_keys, (const float *x, size_t n, int32_t *key, int *exact),
       (x, n, key, exact))

static void count_top(uint32_t *t, const float *x, size_t n)
{
	uint32_t *t1 = t + TABSTRIDE;
	size_t i;

	for (i = 0; n - i >= 2; i += 2) {
		uint32_t a, b;

		memcpy(&a, x + i, sizeof(a));
		memcpy(&b, x + i + 1, sizeof(b));
		t[a >> 16]++;
		t1[b >> 16]++;
	}
	for (; i < n; i++) {
		uint32_t a;

		memcpy(&a, x + i, sizeof(a));
		t[a >> 16]++;
	}
}

/* Count key[0..n) into table t, alternating between its two arrays. */
#define COUNT_INTO(t, key, n)						\
	do {								\
		uint32_t *t1_ = (t) + TABSTRIDE;			\
		size_t i_;						\
									\
		for (i_ = 0; (n) - i_ >= 2; i_ += 2) {			\
			(t)[(key)[i_]]++;				\
			t1_[(key)[i_ + 1]]++;				\
		}							\
		for (; i_ < (n); i_++)					\
			(t)[(key)[i_]]++;				\
	} while (0)

static void count_keys(uint32_t *t, const int32_t *key, size_t n)
{
	COUNT_INTO(t, key, n);
}

/* codes16_fn: count n codes into table arg. */
static void count_codes(void *arg, const uint16_t *code, size_t n)
{
	uint32_t *t = arg;

	COUNT_INTO(t, code, n);
}

/* Make room in v's table for n more; 0, or -1 out of memory. */
static int vtab_room(struct vtab *v, size_t n)
{
	if (!v->t && !(v->t = tab_get()))
		return -1;
	if (v->since + n > UINT32_MAX) {
		if (!v->spill && !(v->spill = calloc(TAB, sizeof(*v->spill))))
			return -1;
		for (size_t i = 0; i < TAB; i++) {
			v->spill[i] += (uint64_t)v->t[i] + v->t[TABSTRIDE + i];
			v->t[i] = v->t[TABSTRIDE + i] = 0;
		}
		v->since = 0;
	}
	v->since += n;
	return 0;
}

/*
 * Pass 1 on one block of a chunk: into a table when its values have keys
 * (1), else into the chunk's vstats (0); -1 when out of memory.
 */
static int stats_block(struct stats_job *j, unsigned thread,
		       struct vstats *vs, const float *buf, int32_t *key,
		       size_t n)
{
	struct vtab *v = j->vt + (size_t)thread * NKINDS;
	int exact = 0;

	if (!j->tables) {
		vstats_add(vs, buf, n);
		return 0;
	}
	low16_zero(buf, n, &exact);
	if (exact) {
		if (vtab_room(&v[KEY_TOP], n))
			return -1;
		count_top(v[KEY_TOP].t, buf, n);
		return 1;
	}
	f16_keys(buf, n, key, &exact);
	if (exact) {
		if (vtab_room(&v[KEY_F16], n))
			return -1;
		count_keys(v[KEY_F16].t, key, n);
		return 1;
	}
	vstats_add(vs, buf, n);
	return 0;
}

/*
 * A chunk is read in blocks of BLOCK values: a buffer that stays in the
 * first-level cache makes decoding and the passes over it several times
 * faster than a chunk-sized one (measured: 0.1 against 0.45 ns a value
 * to decode BF16).  Pass 2 reads again only the blocks pass 1 could not
 * count by key.  Scratch: BLOCK floats, then BLOCK keys.  Codes
 * (compute_stats16) go to the reader a chunk at a time: nothing is
 * decoded into a buffer, and the reader can copy them in large pieces.
 */
static int stats_work(void *arg, const struct compute_chunk *c)
{
	struct stats_job *j = arg;
	float *buf = c->scratch;
	int32_t *key = (int32_t *)(buf + BLOCK);

	if (j->pass == 1)
		vstats_init(&j->cvs[c->index]);
	if (j->rd16) {	/* raw codes: the whole chunk into the table */
		struct vtab *v = j->vt + (size_t)c->thread * NKINDS + j->kind16;

		if (vtab_room(v, c->n) ||
		    j->rd16(j->ctx, c->first, c->n, count_codes, v->t))
			return -1;
		memset(j->exact + c->first / BLOCK, 1,
		       (c->n + BLOCK - 1) / BLOCK);
		return 0;
	}
	for (size_t off = 0; off < c->n; off += BLOCK) {
		size_t n = c->n - off < BLOCK ? c->n - off : BLOCK;
		uint64_t b = (c->first + off) / BLOCK;
		int rc;

		if (j->pass == 2 && j->exact[b])
			continue;
		if (j->rd(j->ctx, c->first + off, n, buf))
			return -1;
		if (j->pass == 2) {
			hist_add(&j->th[c->thread], buf, n);
			continue;
		}
		rc = stats_block(j, c->thread, &j->cvs[c->index], buf, key, n);
		if (rc < 0)
			return -1;
		j->exact[b] = (unsigned char)rc;
	}
	return 0;
}

/* Progress of one pass mapped into [base, base + span] of the whole. */
struct part {
	const struct compute_ctl *outer;
	double base, span;
};

static void part_progress(void *arg, double done)
{
	struct part *p = arg;

	p->outer->progress(p->outer->arg, p->base + p->span * done);
}

int compute_run_part(const struct compute_job *job,
		     const struct compute_ctl *ctl, double base, double span)
{
	struct compute_ctl c;
	struct part p = { ctl, base, span };

	if (!ctl || !ctl->progress)
		return compute_run(job, ctl);
	c = *ctl;
	c.progress = part_progress;
	c.arg = &p;
	return compute_run(job, &c);
}

/*
 * The binning pass of a histogram over [vs->min, vs->max]: job's worker
 * adds the values of its chunk to th[c->thread] (nt of them); the threads'
 * bins are then added to h, already made with the same range and nbins.
 * Progress: the second half.
 */
static int bin_pass(const struct compute_job *job, struct histogram *th,
		    unsigned nt, const struct vstats *vs, unsigned nbins,
		    const struct compute_ctl *ctl, struct histogram *h)
{
	int rc;

	for (unsigned t = 0; t < nt; t++)
		hist_init(&th[t], vs->min, vs->max, nbins);
	rc = compute_run_part(job, ctl, 0.5, 0.5);
	for (unsigned t = 0; t < nt; t++) {
		hist_merge(h, &th[t]);
		hist_release(&th[t]);
	}
	return rc;
}

/* ---- from the tables to statistics and bins ---- */

/* Whether entries [k, k + 16) of any thread's table of a kind are used:
 * most of a table is zeros, which this skips 16 keys at a time. */
static int tab_any16(const struct stats_job *j, unsigned nt, int kind,
		     size_t k)
{
	uint32_t any = 0;

	for (unsigned t = 0; t < nt; t++) {
		const struct vtab *v = &j->vt[(size_t)t * NKINDS + kind];

		if (!v->t)
			continue;
		if (v->spill)
			return 1;
		for (size_t i = 0; i < 16; i++)
			any |= v->t[k + i] | v->t[TABSTRIDE + k + i];
	}
	return any != 0;
}

/* The keys counted in the threads' tables of a kind, in key order, with
 * their totals (*out, malloc()ed; *nout of them), leaving the tables all
 * zeros; only the entries in use are written.  0, or -1 out of memory. */
static int tab_total(struct stats_job *j, unsigned nt, int kind,
		     struct compute_count **out, size_t *nout)
{
	struct compute_count *l = NULL;
	size_t n = 0, cap = 0;

	for (size_t k = 0; k < TAB; k += 16) {
		if (!tab_any16(j, nt, kind, k))
			continue;
		for (size_t key = k; key < k + 16; key++) {
			uint64_t c = 0;

			for (unsigned t = 0; t < nt; t++) {
				struct vtab *v = &j->vt[(size_t)t * NKINDS + kind];
				uint32_t *t0 = v->t;

				if (!t0)
					continue;
				if (t0[key] | t0[TABSTRIDE + key]) {
					c += (uint64_t)t0[key] +
					     t0[TABSTRIDE + key];
					t0[key] = t0[TABSTRIDE + key] = 0;
				}
				if (v->spill)
					c += v->spill[key];
			}
			if (!c)
				continue;
			if (n == cap) {
				size_t nc = cap ? 2 * cap : 1024;
				struct compute_count *nl = realloc(l, nc * sizeof(*l));

				if (!nl) {
					free(l);
					return -1;
				}
				l = nl;
				cap = nc;
			}
			l[n].key = (uint32_t)key;
			l[n++].n = c;
		}
	}
	for (unsigned t = 0; t < nt; t++)
		if (j->vt[(size_t)t * NKINDS + kind].t)
			j->vt[(size_t)t * NKINDS + kind].clean = 1;
	*out = l;
	*nout = n;
	return 0;
}

/* The value of a key; NaN, +inf or -inf for the non-finite ones. */
static double key_value(int kind, uint32_t key)
{
	/* KEY_TOP: the top 16 bits of a float32 are a BF16 code */
	return code16_to_f32(kind == KEY_F16 ? DT_F16 : DT_BF16,
			     (uint16_t)key);
}

/* The statistics of the values counted in l.  Sums go over the keys in
 * order; each term n * v is exact while n < 2^42 (v has at most 11
 * significant bits), so they are more accurate than streaming ones. */
static void tab_vstats(const struct compute_count *l, size_t nl, int kind,
		       struct vstats *s)
{
	vstats_init(s);
	for (size_t i = 0; i < nl; i++) {
		uint64_t n = l[i].n;
		double v;

		s->count += n;
		v = key_value(kind, l[i].key);
		if (isnan(v)) {
			s->nan += n;
			continue;
		}
		if (isinf(v)) {
			s->inf += n;
			continue;
		}
		if (v == 0)
			s->zeros += n;
		s->sum += (double)n * v;
		s->sumsq += (double)n * (v * v);
		s->min = v < s->min ? v : s->min;
		s->max = v > s->max ? v : s->max;
		s->absmax = fabs(v) > s->absmax ? fabs(v) : s->absmax;
	}
}

/* Bin the finite values counted in l. */
static void tab_bin(const struct compute_count *l, size_t nl, int kind,
		    struct histogram *h)
{
	for (size_t i = 0; i < nl; i++) {
		int b = hist_bin(h, key_value(kind, l[i].key)); /* -1: NaN, inf */

		if (b >= 0)
			h->counts[b] += l[i].n;
	}
}

static void job_release(struct stats_job *j, unsigned nt)
{
	if (j->vt) {
		for (size_t i = 0; i < (size_t)nt * NKINDS; i++) {
			tab_put(j->vt[i].t, j->vt[i].clean);
			free(j->vt[i].spill);
		}
	}
	free(j->vt);
	free(j->th);
	free(j->exact);
	free(j->cvs);
}

/* j ready for pass 1 of job on nt threads; 0, or -1 out of memory (then
 * job_release() frees what was had). */
static int job_setup(struct stats_job *j, chunk_read_fn *rd,
		     chunk_codes16_fn *rd16, int kind16, void *ctx,
		     uint64_t count, const struct compute_job *job, unsigned nt)
{
	uint64_t nchunks = compute_nchunks(job);
	uint64_t nblocks = count / BLOCK + (count % BLOCK != 0);

	memset(j, 0, sizeof(*j));
	j->rd = rd;
	j->rd16 = rd16;
	j->kind16 = kind16;
	j->ctx = ctx;
	j->tables = rd16 || count >= TAB_MIN;
	j->pass = 1;
	j->cvs = calloc(nchunks ? nchunks : 1, sizeof(*j->cvs));
	j->exact = calloc(nblocks ? nblocks : 1, 1);
	j->vt = calloc((size_t)nt * NKINDS, sizeof(*j->vt));
	return j->cvs && j->exact && j->vt ? 0 : -1;
}

/* compute_stats() from values (rd) or, when rd16 is set, from codes of
 * kind kind16 (then count >= TAB_MIN). */
static int stats_run(chunk_read_fn *rd, chunk_codes16_fn *rd16, int kind16,
		     void *ctx, uint64_t count, unsigned nbins,
		     const struct compute_ctl *ctl, struct vstats *vs,
		     struct histogram *h)
{
	struct stats_job j;
	struct compute_job job = { count, 1, BLOCK * (sizeof(float) +
						      sizeof(int32_t)),
				   stats_work, &j };
	uint64_t nchunks = compute_nchunks(&job), npass2 = 0;
	uint64_t nblocks = count / BLOCK + (count % BLOCK != 0);
	unsigned nt = compute_threads(&job, ctl);
	struct compute_count *tot[NKINDS] = { NULL, NULL };
	size_t ntot[NKINDS] = { 0, 0 };
	int rc = -1;

	memset(h, 0, sizeof(*h));
	vstats_init(vs);
	if (job_setup(&j, rd, rd16, kind16, ctx, count, &job, nt))
		goto out;

	/* Pass 1: everything but the bins of the blocks without keys. */
	j.pass = 1;
	rc = compute_run_part(&job, ctl, 0, 0.5);
	if (rc)
		goto out;
	for (uint64_t i = 0; i < nchunks; i++)
		vstats_merge(vs, &j.cvs[i]);
	for (uint64_t i = 0; i < nblocks; i++)
		npass2 += !j.exact[i];
	for (int kind = 0; kind < NKINDS && j.tables; kind++) {
		struct vstats tv;
		int used = 0;

		for (unsigned t = 0; t < nt; t++)
			used |= j.vt[(size_t)t * NKINDS + kind].t != NULL;
		if (!used)
			continue;
		if (tab_total(&j, nt, kind, &tot[kind], &ntot[kind])) {
			rc = -1;
			goto out;
		}
		tab_vstats(tot[kind], ntot[kind], kind, &tv);
		vstats_merge(vs, &tv);
	}
	if (vs->count == vs->nan + vs->inf) {
		hist_init(h, 0, 0, 1);
		goto done;
	}
	hist_init(h, vs->min, vs->max, nbins);
	for (int kind = 0; kind < NKINDS; kind++)
		tab_bin(tot[kind], ntot[kind], kind, h);

	/* Pass 2: the other blocks, value by value. */
	if (npass2) {
		j.pass = 2;
		if (!(j.th = calloc(nt, sizeof(*j.th)))) {
			rc = -1;
			goto out;
		}
		rc = bin_pass(&job, j.th, nt, vs, nbins, ctl, h);
		if (rc)
			goto out;
	}
done:
	if (ctl && ctl->progress)
		ctl->progress(ctl->arg, 1.0);
	rc = 0;
out:
	if (rc) {
		hist_release(h);
		vstats_init(vs);
	}
	for (int kind = 0; kind < NKINDS; kind++)
		free(tot[kind]);
	job_release(&j, nt);
	return rc;
}

int compute_stats(chunk_read_fn *rd, void *ctx, uint64_t count, unsigned nbins,
		  const struct compute_ctl *ctl, struct vstats *vs,
		  struct histogram *h)
{
	return stats_run(rd, NULL, 0, ctx, count, nbins, ctl, vs, h);
}

int compute_codes16(chunk_codes16_fn *rd16, void *ctx, uint64_t count,
		    const struct compute_ctl *ctl, struct compute_count **out,
		    size_t *nout)
{
	struct stats_job j;
	struct compute_job job = { count, 1, BLOCK * (sizeof(float) +
						      sizeof(int32_t)),
				   stats_work, &j };
	unsigned nt = compute_threads(&job, ctl);
	int rc = -1;

	*out = NULL;
	*nout = 0;
	if (!job_setup(&j, NULL, rd16, KEY_TOP, ctx, count, &job, nt))
		rc = compute_run(&job, ctl);
	if (rc == 0 && tab_total(&j, nt, KEY_TOP, out, nout))
		rc = -1;
	job_release(&j, nt);
	return rc;
}

/* Codes decoded to values, for tensors too small for the tables. */
struct codes_values {
	chunk_codes16_fn *rd16;
	void *ctx;
	enum dtype dt;
	float *out;	/* where the next run goes */
};

static void codes_decode(void *arg, const uint16_t *code, size_t n)
{
	struct codes_values *cv = arg;

	for (size_t i = 0; i < n; i++)
		cv->out[i] = code16_to_f32(cv->dt, code[i]);
	cv->out += n;
}

static int codes_values_read(void *arg, uint64_t first, size_t n, float *out)
{
	struct codes_values cv = *(struct codes_values *)arg;

	cv.out = out;
	return cv.rd16(cv.ctx, first, n, codes_decode, &cv);
}

int compute_stats16(chunk_codes16_fn *rd16, void *ctx, enum dtype dt,
		    uint64_t count, unsigned nbins,
		    const struct compute_ctl *ctl, struct vstats *vs,
		    struct histogram *h)
{
	struct codes_values cv = { rd16, ctx, dt, NULL };

	if (dt != DT_BF16 && dt != DT_F16) {
		memset(h, 0, sizeof(*h));
		vstats_init(vs);
		return -1;
	}
	if (count < TAB_MIN)
		return stats_run(codes_values_read, NULL, 0, &cv, count,
				 nbins, ctl, vs, h);
	return stats_run(NULL, rd16, dt == DT_BF16 ? KEY_TOP : KEY_F16, ctx,
			 count, nbins, ctl, vs, h);
}

/* ---- compute_compare_pair, compute_diff ---- */

/* Rows of x in a transposed band: a multiple of the 256-value blocks of
 * k-quants, so that y's runs decode whole blocks... */
#define BAND_ROWS 256
/* ... unless the band would hold more values than this (4 MiB). */
#define BAND_MAX ((size_t)1 << 20)

struct pair_job {
	const struct compute_pair *p;
	int pass;			/* 1: error and statistics, 2: bins */
	struct err_acc *acc;		/* per chunk, or NULL; pass 1 */
	struct vstats *vs;		/* per chunk, or NULL; pass 1 */
	struct histogram *th;		/* per thread, pass 2 */
};

/* Rows of x per band when transposed. */
static uint64_t band_rows(const struct compute_pair *p)
{
	uint64_t r = BAND_ROWS;

	if (p->cols && r * p->cols > BAND_MAX)
		r = BAND_MAX / p->cols;
	return r ? r : 1;
}

/* y's values of the rows [r0, r0 + nr) of x, in y's order: tile[j * nr + i]
 * is element (r0 + i, j). */
static int read_band(const struct compute_pair *p, uint64_t r0, size_t nr,
		     float *tile)
{
	for (uint64_t j = 0; j < p->cols; j++)
		if (p->rb(p->cb, j * p->rows + r0, nr, tile + j * nr))
			return -1;
	return 0;
}

/*
 * x and y of elements [first, first + n); when transposed, y comes from
 * tile, the band of nr rows starting at row r0 (read_band()).
 */
static int read_xy(const struct compute_pair *p, uint64_t first, size_t n,
		   const float *tile, uint64_t r0, uint64_t nr, float *x,
		   float *y)
{
	if (p->ra(p->ca, first, n, x))
		return -1;
	if (!p->transposed)
		return p->rb(p->cb, first, n, y);
	for (size_t k = 0; k < n; k++) {
		uint64_t e = first + k;

		y[k] = tile[(e % p->cols) * nr + (e / p->cols - r0)];
	}
	return 0;
}

/* Scratch: BLOCK values of x, BLOCK of y, then (transposed) the band. */
static int pair_work(void *arg, const struct compute_chunk *c)
{
	struct pair_job *j = arg;
	const struct compute_pair *p = j->p;
	float *x = c->scratch, *y = x + BLOCK, *tile = y + BLOCK;
	uint64_t r0 = 0, nr = 0;

	if (j->pass == 1) {
		if (j->acc)
			err_acc_init(&j->acc[c->index]);
		if (j->vs)
			vstats_init(&j->vs[c->index]);
	}
	if (p->transposed) {
		/* chunks are whole rows (the last band may be short) */
		r0 = c->first / p->cols;
		nr = c->n / p->cols;
		if (read_band(p, r0, (size_t)nr, tile))
			return -1;
	}
	for (size_t off = 0; off < c->n; off += BLOCK) {
		size_t n = c->n - off < BLOCK ? c->n - off : BLOCK;

		if (read_xy(p, c->first + off, n, tile, r0, nr, x, y))
			return -1;
		if (j->pass == 1 && j->acc)
			err_acc_add(&j->acc[c->index], x, y, n);
		if (j->pass == 1 && !j->vs)
			continue;	/* the error only */
		for (size_t k = 0; k < n; k++)
			x[k] = y[k] - x[k];
		if (j->pass == 1)
			vstats_add(&j->vs[c->index], x, n);
		else
			hist_add(&j->th[c->thread], x, n);
	}
	return 0;
}

/* The job of a pair: chunks of whole bands when transposed. */
static void pair_job_init(struct compute_job *job, struct pair_job *j,
			  const struct compute_pair *p)
{
	memset(j, 0, sizeof(*j));
	j->p = p;
	job->count = p->count;
	job->align = 1;
	job->fn = pair_work;
	job->arg = j;
	job->scratch = 2 * BLOCK * sizeof(float);
	if (p->transposed) {
		job->align = (size_t)(band_rows(p) * p->cols);
		job->scratch += compute_chunk_size(job) * sizeof(float);
	}
}

/*
 * Pass 1 of a pair: the error (acc) and the statistics of y - x (vs), each
 * NULL when not wanted, summed per chunk and merged in chunk order so that
 * they do not depend on the threads.  Progress: [0, span] of ctl's.
 * Returns as compute_run().
 */
static int pair_pass1(const struct compute_job *job, struct pair_job *j,
		      const struct compute_ctl *ctl, double span,
		      struct err_acc *acc, struct vstats *vs)
{
	uint64_t nchunks = compute_nchunks(job);
	size_t n = nchunks ? (size_t)nchunks : 1;
	int rc = -1;

	if (acc)
		err_acc_init(acc);
	if (vs)
		vstats_init(vs);
	j->pass = 1;
	j->acc = acc ? calloc(n, sizeof(*j->acc)) : NULL;
	j->vs = vs ? calloc(n, sizeof(*j->vs)) : NULL;
	if ((!acc || j->acc) && (!vs || j->vs))
		rc = compute_run_part(job, ctl, 0, span);
	for (uint64_t i = 0; i < nchunks && !rc; i++) {
		if (acc)
			err_acc_merge(acc, &j->acc[i]);
		if (vs)
			vstats_merge(vs, &j->vs[i]);
	}
	free(j->acc);
	free(j->vs);
	j->acc = NULL;
	j->vs = NULL;
	return rc;
}

int compute_compare_pair(const struct compute_pair *p,
			 const struct compute_ctl *ctl, struct err_acc *acc)
{
	struct pair_job j;
	struct compute_job job;

	pair_job_init(&job, &j, p);
	return pair_pass1(&job, &j, ctl, 1, acc, NULL);
}

int compute_compare(chunk_read_fn *ra, void *ca, chunk_read_fn *rb, void *cb,
		    uint64_t count, const struct compute_ctl *ctl,
		    struct err_acc *acc)
{
	struct compute_pair p = { ra, ca, rb, cb, count, 0, 0, 0 };

	return compute_compare_pair(&p, ctl, acc);
}

int compute_diff(const struct compute_pair *p, unsigned nbins,
		 const struct compute_ctl *ctl, struct err_acc *acc,
		 struct vstats *vs, struct histogram *h)
{
	struct pair_job j;
	struct compute_job job;
	unsigned nt;
	int rc;

	pair_job_init(&job, &j, p);
	nt = compute_threads(&job, ctl);
	memset(h, 0, sizeof(*h));
	rc = pair_pass1(&job, &j, ctl, 0.5, acc, vs);
	if (rc == 0 && vs->count == vs->nan + vs->inf) {
		hist_init(h, 0, 0, 1);
	} else if (rc == 0) {
		hist_init(h, vs->min, vs->max, nbins);
		j.pass = 2;
		j.th = calloc(nt, sizeof(*j.th));
		rc = j.th ? bin_pass(&job, j.th, nt, vs, nbins, ctl, h) : -1;
		free(j.th);
	}
	if (rc == 0 && ctl && ctl->progress)
		ctl->progress(ctl->arg, 1.0);
	if (rc) {
		hist_release(h);
		vstats_init(vs);
		if (acc)
			err_acc_init(acc);
	}
	return rc;
}
