/* formats/model.c - struct model: open by sniffing, sources, reading values. */
#include "formats/model.h"
#include "quant/schemes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/formats.h"
#include "formats/guard.h"
#include "formats/layouts.h"
#include "formats/pages.h"

/* Tried in order; the first whose sniff() says yes opens the file. */
static const struct format *const formats[] = {
	&format_gguf,
	&format_safetensors,
	&format_safetensors_index,
	&format_torch,
	&format_torch_legacy,
	&format_npy,
	&format_npz,
	&format_archive,	/* last: any zip, tar or compressed file */
};

void err_set(struct err *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

static void die_oom(size_t n)
{
	fprintf(stderr, "qscope: out of memory (%zu bytes)\n", n);
	exit(2);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die_oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		die_oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die_oom(n);
	return p;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

/* Grow *arr (of *alloc items of size sz) to hold at least n items. */
static void grow(void **arr, size_t *alloc, size_t n, size_t sz)
{
	size_t a = *alloc ? *alloc : 16;

	if (n <= *alloc)
		return;
	while (a < n)
		a *= 2;
	*arr = xrealloc(*arr, a * sz);
	*alloc = a;
}

/*
 * Files kept open for pread(), over all models: past this many, sources
 * are read through their mapping only (a folder of thousands of .npy
 * files must not run the process out of descriptors).
 */
#define MAX_FDS 256
static _Atomic int fds_kept;

struct source *model_add_source_fd(struct model *m, const char *path, int fd,
				   struct err *e)
{
	struct source *s;
	struct stat st;
	void *map = NULL;

	if (fstat(fd, &st) != 0) {
		err_set(e, "'%s': %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, "'%s': not a regular file", path);
		return NULL;
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		err_set(e, "'%s': file too large to map", path);
		return NULL;
	}
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			   fd, 0);
		if (map == MAP_FAILED) {
			err_set(e, "'%s': cannot map the file: %s", path,
				strerror(errno));
			return NULL;
		}
	}

	grow((void **)&m->sources, &m->sources_alloc, m->nsources + 1,
	     sizeof(*m->sources));
	s = xcalloc(1, sizeof(*s));
	m->sources[m->nsources++] = s;
	s->path = xstrdup(path);
	s->data = map;
	s->size = (uint64_t)st.st_size;
	s->fd = -1;
	if (map && fds_kept < MAX_FDS &&
	    (s->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) >= 0)
		fds_kept++;
	return s;
}

struct source *model_add_source_view(struct model *m, const char *path,
				     const struct source *parent,
				     uint64_t offset, uint64_t size,
				     struct err *e)
{
	struct source *s;

	if (offset > parent->size || size > parent->size - offset) {
		err_set(e, "'%s': %llu bytes at %llu are outside '%s'", path,
			(unsigned long long)size, (unsigned long long)offset,
			parent->path);
		return NULL;
	}
	grow((void **)&m->sources, &m->sources_alloc, m->nsources + 1,
	     sizeof(*m->sources));
	s = xcalloc(1, sizeof(*s));
	m->sources[m->nsources++] = s;
	s->path = xstrdup(path);
	s->data = size ? parent->data + offset : NULL;
	s->size = size;
	s->parent = parent;
	s->fd = parent->fd;
	s->file_off = parent->file_off + offset;
	return s;
}

struct source *model_add_source(struct model *m, const char *path,
				struct err *e)
{
	struct source *s;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err_set(e, "'%s': %s", path, strerror(errno));
		return NULL;
	}
	s = model_add_source_fd(m, path, fd, e);
	close(fd);
	return s;
}

struct source *model_add_source_buffer(struct model *m, const char *name,
				       void *buf, uint64_t size)
{
	struct source *s;

	grow((void **)&m->sources, &m->sources_alloc, m->nsources + 1,
	     sizeof(*m->sources));
	s = xcalloc(1, sizeof(*s));
	m->sources[m->nsources++] = s;
	s->path = xstrdup(name);
	s->data = buf;
	s->size = size;
	s->owned = buf;
	s->fd = -1;
	return s;
}

/*
 * Tensor names are looked up for duplicates on every add; a hash set keeps
 * that linear for models with hundreds of thousands of tensors.
 */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

struct name_index {
	size_t *slots;	/* tensor index + 1; 0 = empty */
	size_t nslots;
};

static void index_insert(struct model *m, struct name_index *ix, size_t i)
{
	size_t mask = ix->nslots - 1;
	size_t h = hash_str(m->tensors[i].name) & mask;

	while (ix->slots[h])
		h = (h + 1) & mask;
	ix->slots[h] = i + 1;
}

static struct name_index *model_index(const struct model *m)
{
	return (struct name_index *)m->name_index;
}

static void index_rebuild(struct model *m)
{
	struct name_index *ix = model_index(m);

	if (!ix) {
		ix = xcalloc(1, sizeof(*ix));
		m->name_index = ix;
	}
	free(ix->slots);
	ix->nslots = 64;
	while (ix->nslots < m->ntensors * 2 + 2)
		ix->nslots *= 2;
	ix->slots = xcalloc(ix->nslots, sizeof(*ix->slots));
	for (size_t i = 0; i < m->ntensors; i++)
		index_insert(m, ix, i);
}

const struct tensor *model_find(const struct model *m, const char *name)
{
	const struct name_index *ix = model_index(m);
	size_t mask, h;

	if (!ix)
		return NULL;
	mask = ix->nslots - 1;
	for (h = hash_str(name) & mask; ix->slots[h]; h = (h + 1) & mask) {
		const struct tensor *t = &m->tensors[ix->slots[h] - 1];

		if (strcmp(t->name, name) == 0)
			return t;
	}
	return NULL;
}

struct tensor *model_add_tensor(struct model *m, const char *name,
				struct err *e)
{
	struct name_index *ix;
	struct tensor *t;
	char *full = NULL;

	if (m->tensor_prefix) {
		size_t a = strlen(m->tensor_prefix), b = strlen(name);

		full = xmalloc(a + b + 1);
		memcpy(full, m->tensor_prefix, a);
		memcpy(full + a, name, b + 1);
		name = full;
	}
	if (model_find(m, name)) {
		err_set(e, "duplicate tensor name");
		free(full);
		return NULL;
	}
	grow((void **)&m->tensors, &m->tensors_alloc, m->ntensors + 1,
	     sizeof(*m->tensors));
	t = &m->tensors[m->ntensors++];
	memset(t, 0, sizeof(*t));
	t->name = full ? full : xstrdup(name);

	ix = model_index(m);
	if (!ix || ix->nslots < m->ntensors * 2 + 2)
		index_rebuild(m);
	else
		index_insert(m, ix, m->ntensors - 1);
	return t;
}

void model_add_meta(struct model *m, const char *key, const char *type,
		    json_t *value)
{
	struct meta *md;

	grow((void **)&m->meta, &m->meta_alloc, m->nmeta + 1,
	     sizeof(*m->meta));
	md = &m->meta[m->nmeta++];
	md->key = xstrdup(key);
	md->type = xstrdup(type);
	md->value = value;
}

int tensor_set_size(struct tensor *t, const char *who, struct err *e)
{
	const struct dtype_info *di = dtype_get(t->dtype);
	uint64_t n = 1, blocks;

	for (int i = 0; i < t->ndim; i++) {
		if (t->shape[i] && n > UINT64_MAX / t->shape[i]) {
			err_set(e, "'%s': tensor '%s': shape product overflows 64 bits",
				who, t->name);
			return -1;
		}
		n *= t->shape[i];
	}
	if (n % di->block) {
		err_set(e, "'%s': tensor '%s': %llu elements of %s do not fill whole bytes",
			who, t->name, (unsigned long long)n, di->name);
		return -1;
	}
	blocks = n / di->block;
	if (blocks > UINT64_MAX / di->block_bytes) {
		err_set(e, "'%s': tensor '%s': byte size overflows 64 bits",
			who, t->name);
		return -1;
	}
	t->params = n;
	t->nbytes = blocks * di->block_bytes;
	return 0;
}

int tensor_set_strides(struct tensor *t, const uint64_t *strides,
		       const char *who, struct err *e)
{
	const struct dtype_info *di = dtype_get(t->dtype);
	uint64_t last = 0, contig = 1, span;
	int rowmajor = 1;

	if (di->block != 1) {
		err_set(e, "'%s': tensor '%s': a strided tensor of %s is not read",
			who, t->name, di->name);
		return -1;
	}
	for (int i = t->ndim - 1; i >= 0; i--) {
		uint64_t ext;

		if (t->shape[i] > 1 && strides[i] != contig)
			rowmajor = 0;
		if (t->shape[i] && contig <= UINT64_MAX / t->shape[i])
			contig *= t->shape[i];
		if (t->shape[i] == 0) {
			last = 0;
			rowmajor = 1;
			break;	/* no elements: nothing to place */
		}
		if (strides[i] &&
		    t->shape[i] - 1 > UINT64_MAX / strides[i])
			goto overflow;
		ext = (t->shape[i] - 1) * strides[i];
		if (last > UINT64_MAX - ext)
			goto overflow;
		last += ext;
	}
	if (rowmajor) {
		t->strided = 0;
		return 0;
	}
	if (last >= UINT64_MAX / di->block_bytes)
		goto overflow;
	span = (last + 1) * di->block_bytes;
	if (!t->src || t->offset > t->src->size ||
	    span > t->src->size - t->offset) {
		err_set(e, "'%s': tensor '%s': its strides reach past the end of its data",
			who, t->name);
		return -1;
	}
	t->strided = 1;
	for (int i = 0; i < t->ndim; i++)
		t->strides[i] = strides[i];
	return 0;
overflow:
	err_set(e, "'%s': tensor '%s': strides overflow 64 bits", who,
		t->name);
	return -1;
}

/* Elements first..first+n of a strided t, a run along the last axis at a
 * time. */
static void read_strided(const struct tensor *t, const struct dtype_info *di,
			 uint64_t first, size_t n, float *out)
{
	uint64_t idx[MODEL_MAX_DIMS], rem = first, off = 0;
	int last = t->ndim - 1;

	if (t->ndim == 0) {
		di->decode(t->data, out, n);
		return;
	}
	for (int i = last; i >= 0; i--) {
		idx[i] = rem % t->shape[i];
		rem /= t->shape[i];
		off += idx[i] * t->strides[i];
	}
	while (n) {
		uint64_t run = t->shape[last] - idx[last];
		uint64_t st = t->strides[last];

		if (run > n)
			run = n;
		if (st == 1) {
			di->decode(t->data + off * di->block_bytes, out,
				   (size_t)run);
		} else {
			for (uint64_t k = 0; k < run; k++)
				di->decode(t->data +
						   (off + k * st) * di->block_bytes,
					   out + k, 1);
		}
		out += run;
		n -= (size_t)run;
		/* Step to the start of the next row. */
		off += run * st;
		idx[last] += run;
		for (int i = last; i > 0 && idx[i] == t->shape[i]; i--) {
			off -= idx[i] * t->strides[i];
			idx[i] = 0;
			idx[i - 1]++;
			off += t->strides[i - 1];
		}
	}
}

void model_release(struct model *m)
{
	for (size_t i = 0; i < m->ntensors; i++) {
		if (m->tensors[i].layout)
			layout_release(&m->tensors[i]);
		free(m->tensors[i].name);
	}
	free(m->tensors);
	for (size_t i = 0; i < m->nmeta; i++) {
		free(m->meta[i].key);
		free(m->meta[i].type);
		json_decref(m->meta[i].value);
	}
	free(m->meta);
	for (size_t i = 0; i < m->nsources; i++) {
		if (m->sources[i]->owned)
			free(m->sources[i]->owned);
		else if (m->sources[i]->data && !m->sources[i]->parent)
			munmap((void *)m->sources[i]->data,
			       (size_t)m->sources[i]->size);
		if (m->sources[i]->fd >= 0 && !m->sources[i]->parent) {
			close(m->sources[i]->fd);
			fds_kept--;
		}
		free(m->sources[i]->path);
		free(m->sources[i]);
	}
	free(m->sources);
	if (m->name_index) {
		free(model_index(m)->slots);
		free(m->name_index);
	}
	free(m->path);
	memset(m, 0, sizeof(*m));
}

const struct format *format_sniff(const unsigned char *head, size_t len)
{
	if (len > SNIFF_BYTES)
		len = SNIFF_BYTES;
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (formats[i]->sniff(head, len))
			return formats[i];
	return NULL;
}

/* Open one file: map it, sniff it, hand it to its format's reader. */
int model_open_file(struct model *m, const char *path, struct err *e)
{
	const struct format *f;
	struct source *src;

	src = model_add_source(m, path, e);
	if (!src)
		return -1;
	if (src->size == 0) {
		err_set(e, "'%s': file is empty", path);
		return -1;
	}
	f = format_sniff(src->data, (size_t)src->size);
	if (!f) {
		if (src->size < 16)
			err_set(e, "'%s': file is too short (%llu bytes) to be a checkpoint qscope can read",
				path, (unsigned long long)src->size);
		else
			err_set(e, "'%s': not a checkpoint qscope can read (unknown format)",
				path);
		return -1;
	}
	if (!m->format)
		m->format = f->name;
	return f->open(m, src, e);
}

static void model_sum(struct model *m)
{
	m->params = m->nbytes = 0;
	for (size_t i = 0; i < m->ntensors; i++) {
		m->params += m->tensors[i].params;
		m->nbytes += m->tensors[i].nbytes;
	}
}

int model_open(struct model *m, const char *path, struct err *e)
{
	struct stat st;
	int rc;

	memset(m, 0, sizeof(*m));
	m->path = xstrdup(path);
	if (stat(path, &st) != 0) {
		err_set(e, "'%s': %s", path, strerror(errno));
		model_release(m);
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		rc = folder_open(m, path, e);
	else
		rc = model_open_file(m, path, e);
	if (rc != 0) {
		model_release(m);
		return -1;
	}
	/* Quantized layouts: their parts become logical tensors. */
	if (layouts_apply(m))
		index_rebuild(m);
	model_sum(m);
	return 0;
}

/* Largest block of any dtype, for the partial-block buffer below. */
#define MAX_BLOCK 256

/* Decode elements [first, first + n) of the blocks at base (block 0 of
 * base is the block element 0 falls in) into out. */
static void decode_elems(const struct dtype_info *di,
			 const unsigned char *base, uint64_t first, size_t n,
			 float *out)
{
	uint64_t b0, b1;
	float tmp[MAX_BLOCK];

	if (di->block == 1) {
		di->decode(base + first * di->block_bytes, out, n);
		return;
	}
	/* Block types: decode the blocks the range touches, copying only the
	 * wanted elements out of the partial blocks at either end. */
	b0 = first / di->block;
	b1 = (first + n - 1) / di->block;
	while (b0 <= b1 && n) {
		uint64_t off = first - b0 * di->block;
		size_t take;

		if (off == 0 && n >= di->block) {
			size_t whole = n / di->block;

			di->decode(base + b0 * di->block_bytes, out, whole);
			take = whole * di->block;
			b0 += whole;
		} else {
			di->decode(base + b0 * di->block_bytes, tmp, 1);
			take = di->block - off;
			if (take > n)
				take = n;
			memcpy(out, tmp + off, take * sizeof(float));
			b0++;
		}
		out += take;
		first += take;
		n -= take;
	}
}

/*
 * Streamed reads copy the bytes out of the file with pread() when the
 * tensor's source keeps its file open, rather than touching the mapping:
 * mapping page-cache pages into the process costs a page-table update per
 * 4 KiB page (unless the page cache holds the file in large folios), and
 * on some virtual machines that update is expensive: 32 MB of a file just
 * written took 9 to 13 ms to map and touch on the 2-CPU machine of `make
 * bench`, against 1.3 to 2.7 ms to pread() in 64 to 256 KiB pieces.  The
 * copy goes through a buffer on the reading thread's stack, PREAD_PIECE
 * bytes at a time (a syscall costs about 1 us there: pieces of 16 KiB
 * took 4.4 ms for the same 32 MB).  Nothing is mapped, so the window of
 * pages (formats/pages.h) has nothing to drop, and a file cut short gives
 * a short read instead of SIGBUS.
 */
#define PREAD_PIECE ((size_t)128 << 10)

/* Reads of fewer bytes than this (a few values for a preview, the runs
 * of a transposed comparison) touch the mapping: a syscall each would
 * cost more than the pages they share. */
#define PREAD_MIN 4096

/* Whether to read elements [first, first + n) of t with pread(). */
static int use_pread(const struct tensor *t, size_t n)
{
	const struct source *s = t->src;
	const struct dtype_info *di = dtype_get(t->dtype);

	return s && s->fd >= 0 && !t->strided && !t->layout && t->data &&
	       t->data == s->data + t->offset &&
	       (uint64_t)n * di->block_bytes >= (uint64_t)PREAD_MIN * di->block;
}

/* Bytes [off, off + len) of t into buf; 0, or -1 with e filled. */
static int pread_bytes(const struct tensor *t, uint64_t off, size_t len,
		       unsigned char *buf, struct err *e)
{
	uint64_t pos = t->src->file_off + t->offset + off;

	while (len) {
		ssize_t k = pread(t->src->fd, buf, len, (off_t)pos);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k < 0)
				err_set(e, "tensor '%s': cannot read the file: %s",
					t->name, strerror(errno));
			else
				err_set(e, "tensor '%s': the file was cut short while it was read",
					t->name);
			return -1;
		}
		buf += k;
		pos += (uint64_t)k;
		len -= (size_t)k;
	}
	return 0;
}

/* The whole blocks holding elements [first, first + n), as many as fit a
 * piece: *b0 the first, the return value how many elements of the range
 * they hold. */
static size_t piece_blocks(const struct dtype_info *di, uint64_t first,
			   size_t n, uint64_t *b0, size_t *bytes)
{
	uint64_t nblk = PREAD_PIECE / di->block_bytes;
	uint64_t end = first + n, lim;

	*b0 = first / di->block;
	lim = (*b0 + nblk) * di->block;
	if (end > lim)
		end = lim;
	*bytes = (size_t)(((end + di->block - 1) / di->block - *b0) *
			  di->block_bytes);
	return (size_t)(end - first);
}

static int pread_f32(const struct tensor *t, const struct dtype_info *di,
		     uint64_t first, size_t n, float *out, struct err *e)
{
	unsigned char buf[PREAD_PIECE] __attribute__((aligned(64)));

	while (n) {
		uint64_t b0;
		size_t bytes, k = piece_blocks(di, first, n, &b0, &bytes);

		if (pread_bytes(t, b0 * di->block_bytes, bytes, buf, e))
			return -1;
		decode_elems(di, buf, first - b0 * di->block, k, out);
		first += k;
		out += k;
		n -= k;
	}
	return 0;
}

/* Elements outside t, or a dtype that cannot be decoded: -1 with e. */
static int read_check(const struct tensor *t, uint64_t first, size_t n,
		      struct err *e)
{
	if (first > t->params || n > t->params - first) {
		err_set(e, "tensor '%s': elements %llu..%llu are outside its %llu",
			t->name, (unsigned long long)first,
			(unsigned long long)(first + n),
			(unsigned long long)t->params);
		return -1;
	}
	return 0;
}

static int read_f32(const struct model *m, const struct tensor *t,
		    uint64_t first, size_t n, float *out, struct err *e)
{
	const struct dtype_info *di = dtype_get(t->dtype);

	(void)m;
	if (read_check(t, first, n, e))
		return -1;
	if (t->layout)		/* a logical tensor: decoded from its parts */
		return n ? layout_read_f32(t, first, n, out, e) : 0;
	if (!di->decode) {
		err_set(e, "tensor '%s': values of dtype %s cannot be decoded",
			t->name, di->name);
		return -1;
	}
	if (n == 0)
		return 0;
	if (t->strided && di->block == 1) {
		read_strided(t, di, first, n, out);
		return 0;
	}
	decode_elems(di, t->data, first, n, out);
	return 0;
}

/* The file may shrink under its mapping (SIGBUS): read under a guard. */
struct read_args {
	const struct model *m;
	const struct tensor *t;
	uint64_t first;
	size_t n;
	float *out;
	struct err *e;
	codes16_fn *fn;		/* tensor_visit_u16 */
	void *arg;
};

static int read_guarded(void *arg)
{
	struct read_args *a = arg;

	return read_f32(a->m, a->t, a->first, a->n, a->out, a->e);
}

/* The codes straight from the mapping when they can be (a little-endian
 * host, 2-byte aligned), else copied in pieces. */
static int visit16_guarded(void *arg)
{
	struct read_args *a = arg;
	const unsigned char *p = a->t->data + a->first * 2;
	uint16_t buf[1024];

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (((uintptr_t)p & 1) == 0) {
		a->fn(a->arg, (const uint16_t *)(const void *)p, a->n);
		return 0;
	}
#endif
	for (size_t i = 0; i < a->n; i += 1024) {
		size_t m = a->n - i < 1024 ? a->n - i : 1024;

		for (size_t k = 0; k < m; k++)	/* stored little-endian */
			buf[k] = (uint16_t)(p[2 * (i + k)] |
					    p[2 * (i + k) + 1] << 8);
		a->fn(a->arg, buf, m);
	}
	return 0;
}

/* fn(a) within the window of mapped pages (formats/pages.h), guarded. */
static int read_window(guard_fn *fn, struct read_args *a)
{
	int rc;

	pages_ahead(a->t, a->first, a->n);	/* map a window at a time */
	rc = guard_run(fn, a);
	if (rc == GUARD_FAULT) {
		err_set(a->e, "tensor '%s': the file was cut short while it was read",
			a->t->name);
		return -1;
	}
	if (rc == 0)	/* keep resident pages to a window */
		pages_behind(a->t, a->first, a->n);
	return rc;
}

int tensor_read_f32(const struct model *m, const struct tensor *t,
		    uint64_t first, size_t n, float *out, struct err *e)
{
	struct read_args a = { m, t, first, n, out, e, NULL, NULL };
	const struct dtype_info *di = dtype_get(t->dtype);

	if (n && di->decode && use_pread(t, n)) {
		if (read_check(t, first, n, e) ||
		    pread_f32(t, di, first, n, out, e))
			return -1;
		/* Other code may read the same bytes through the mapping
		 * (the check after writing compares them): keep those
		 * pages to the window too. */
		pages_behind(t, first, n);
		return 0;
	}
	return read_window(read_guarded, &a);
}

enum dtype tensor_codes16(const struct tensor *t)
{
	if (t->layout || t->strided)
		return DT_NONE;
	return t->dtype == DT_BF16 || t->dtype == DT_F16 ? t->dtype : DT_NONE;
}

int tensor_visit_u16(const struct model *m, const struct tensor *t,
		     uint64_t first, size_t n, codes16_fn *fn, void *arg,
		     struct err *e)
{
	struct read_args a = { m, t, first, n, NULL, e, fn, arg };

	if (tensor_codes16(t) == DT_NONE) {
		err_set(e, "tensor '%s': values of dtype %s are not 16-bit codes",
			t->name, tensor_type_name(t));
		return -1;
	}
	if (read_check(t, first, n, e))
		return -1;
	if (n && use_pread(t, n)) {
		uint16_t buf[PREAD_PIECE / 2] __attribute__((aligned(64)));

		for (size_t i = 0; i < n;) {
			size_t k = n - i < PREAD_PIECE / 2 ? n - i :
							     PREAD_PIECE / 2;

			if (pread_bytes(t, (first + i) * 2, k * 2,
					(unsigned char *)buf, e))
				return -1;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
			for (size_t j = 0; j < k; j++)	/* stored LE */
				buf[j] = (uint16_t)(buf[j] << 8 | buf[j] >> 8);
#endif
			fn(arg, buf, k);
			i += k;
		}
		pages_behind(t, first, n);	/* as in tensor_read_f32() */
		return 0;
	}
	return n ? read_window(visit16_guarded, &a) : 0;
}

void tensor_reader_init(struct tensor_reader *r, const struct model *m,
			const struct tensor *t)
{
	memset(r, 0, sizeof(*r));
	r->m = m;
	r->t = t;
	pthread_mutex_init(&r->mu, NULL);
}

void tensor_reader_release(struct tensor_reader *r)
{
	pages_done(r->t);	/* the pass is over: drop its mapped pages */
	pthread_mutex_destroy(&r->mu);
}

/* Keep r's first failure. */
static int reader_failed(struct tensor_reader *r, const struct err *e)
{
	pthread_mutex_lock(&r->mu);
	if (!r->failed) {
		r->failed = 1;
		r->e = *e;
	}
	pthread_mutex_unlock(&r->mu);
	return -1;
}

int tensor_reader_read(void *reader, uint64_t first, size_t n, float *out)
{
	struct tensor_reader *r = reader;
	struct err e = { "" };

	if (tensor_read_f32(r->m, r->t, first, n, out, &e) == 0)
		return 0;
	return reader_failed(r, &e);
}

int tensor_reader_codes16(void *reader, uint64_t first, size_t n,
			  codes16_fn *fn, void *arg)
{
	struct tensor_reader *r = reader;
	struct err e = { "" };

	if (tensor_visit_u16(r->m, r->t, first, n, fn, arg, &e) == 0)
		return 0;
	return reader_failed(r, &e);
}

int tensor_stats(const struct model *m, const struct tensor *t,
		 unsigned nbins, const struct compute_ctl *ctl,
		 struct vstats *vs, struct histogram *h, struct err *e)
{
	struct tensor_reader r;
	enum dtype dt = tensor_codes16(t);
	int rc;

	tensor_reader_init(&r, m, t);
	if (dt != DT_NONE)
		rc = compute_stats16(tensor_reader_codes16, &r, dt, t->params,
				     nbins, ctl, vs, h);
	else
		rc = compute_stats(tensor_reader_read, &r, t->params, nbins,
				   ctl, vs, h);
	tensor_reader_release(&r);
	if (rc < 0) {
		if (r.failed)
			*e = r.e;
		else
			err_set(e, "tensor '%s': out of memory", t->name);
	}
	return rc;
}

void tensor_scheme_shape(const struct tensor *t, struct scheme_shape *sh)
{
	memset(sh, 0, sizeof(*sh));
	sh->ndim = t->ndim < SCHEME_MAX_DIMS ? t->ndim : SCHEME_MAX_DIMS;
	for (int d = 0; d < sh->ndim; d++)
		sh->dim[d] = t->shape[d];
}

const char *tensor_type_name(const struct tensor *t)
{
	return t->scheme ? t->scheme : dtype_get(t->dtype)->name;
}

char *tensor_shape_str(const struct tensor *t, char *out, size_t n)
{
	size_t len;

	if (!n)
		return out;
	len = (size_t)snprintf(out, n, "[");
	for (int d = 0; d < t->ndim && len < n; d++)
		len += (size_t)snprintf(out + len, n - len, "%s%llu",
					d ? ", " : "",
					(unsigned long long)t->shape[d]);
	if (len < n)
		snprintf(out + len, n - len, "]");
	return out;
}

char *text_sanitize(const char *s, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	if (!outsz)
		return out;
	while (*p) {
		size_t len = 0;
		unsigned c = *p;
		uint32_t cp = 0;

		if (c < 0x80)
			len = 1;
		else if ((c & 0xE0) == 0xC0)
			len = 2, cp = c & 0x1F;
		else if ((c & 0xF0) == 0xE0)
			len = 3, cp = c & 0x0F;
		else if ((c & 0xF8) == 0xF0)
			len = 4, cp = c & 0x07;
		if (len > 1) {
			size_t k;

			for (k = 1; k < len; k++) {
				if ((p[k] & 0xC0) != 0x80)
					break;
				cp = (cp << 6) | (p[k] & 0x3F);
			}
			/* Reject truncated, overlong, surrogate, out of range,
			 * and C1 control characters. */
			if (k < len || (len == 2 && cp < 0x80) ||
			    (len == 3 && cp < 0x800) ||
			    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
			    (cp >= 0xD800 && cp <= 0xDFFF) ||
			    (cp >= 0x80 && cp < 0xA0))
				len = 0;
		}
		if (len == 1 && (c < 0x20 || c == 0x7F))
			len = 0;
		if (len == 0) {
			if (o + 4 >= outsz)
				break;
			snprintf(out + o, outsz - o, "\\x%02x", c);
			o += 4;
			p++;
			continue;
		}
		if (o + len >= outsz)
			break;
		memcpy(out + o, p, len);
		o += len;
		p += len;
	}
	out[o] = '\0';
	return out;
}
