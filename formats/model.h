/*
 * formats/model.h - the one in-memory picture of a checkpoint.
 *
 * How the pieces fit: model_open() looks at a path (a file, a model folder),
 * picks a reader from the table of formats by sniffing the first bytes (never
 * by the name), and the reader fills a struct model: its sources (the files,
 * mapped read-only), its tensors (name, stored dtype, shape, where the bytes
 * live) and its metadata.  Views, batch commands and writers only ever read a
 * struct model; none of them knows which file format a tensor came from.
 * Values are read through tensor_read_f32(), which decodes any stored dtype to
 * float32 a range at a time.
 *
 * Invariants, established by every reader before model_open() returns 0:
 *  - tensors are in file order (for a sharded model: shard after shard, each
 *    in the order its header lists them);
 *  - names are unique, NUL-terminated and valid UTF-8 (they may still hold
 *    control characters: filter before drawing, see text_sanitize());
 *  - params is the product of the shape (1 for a 0-d tensor), nbytes equals
 *    params times the element size (block-wise for block types), both
 *    checked for overflow;
 *  - data + nbytes lies inside the tensor's source mapping, which the model
 *    owns and which stays valid until model_release();
 *    except for a strided tensor (see strided below): then every element
 *    it reaches lies inside the mapping, and nbytes (params times the
 *    element size) may exceed the bytes it reaches (a stride-0 expand).
 * Nothing in formats/ includes curses.
 */
#ifndef QSCOPE_FORMATS_MODEL_H
#define QSCOPE_FORMATS_MODEL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "quant/compute.h"
#include "quant/dtype.h"

/* The most dimensions a tensor may have (safetensors and torch allow more
 * than GGUF's 4; nothing real uses more than 8). */
#define MODEL_MAX_DIMS 8

/* A failure, described in one line: "'path': tensor 'x': what is wrong".
 * Filled by the code that fails; printed only by tui/main.c. */
struct err {
	char msg[1024];
};

/* printf-style; overwrites any earlier message. */
void err_set(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One file (or later an archive member) whose bytes the model reads. */
struct source {
	char *path;			/* as given or found; shown to the user */
	const unsigned char *data;	/* read-only mapping of the whole file */
	uint64_t size;			/* bytes at data */
	void *owned;			/* data was malloc()ed (an inflated
					 * member): free() it, not munmap() */
	/* An archive member read in place: data lies inside parent's
	 * mapping, which only the parent unmaps.  NULL for a file. */
	const struct source *parent;
	/* The file data came from, open for pread() (streamed reads copy
	 * from it instead of touching the mapping: see tensor_read_f32()),
	 * and where data starts in it; -1 when none (a buffer, or too many
	 * files open).  A view shares its parent's, which closes it. */
	int fd;
	uint64_t file_off;
};

struct tensor {
	char *name;
	enum dtype dtype;
	int ndim;			/* 0 for a scalar */
	uint64_t shape[MODEL_MAX_DIMS];	/* row-major, outermost first */
	uint64_t params;		/* product of shape */
	uint64_t nbytes;		/* bytes of the tensor's own data */
	const struct source *src;	/* where the bytes live */
	const unsigned char *data;	/* src->data + offset */
	uint64_t offset;		/* of data within src, in bytes */
	/*
	 * A tensor whose elements are not stored in row-major order
	 * (a Fortran-order numpy array, a transposed or sliced torch view):
	 * strided is 1 and element (i0, i1, ...) is the element at data +
	 * (i0 * strides[0] + i1 * strides[1] + ...) * element size.  Strides
	 * count elements, not bytes; only dtypes of one element per block.
	 * Set by tensor_set_strides(), which checks that every element lies
	 * inside src.  nbytes stays params times the element size (what the
	 * values take once read); tensor_read_f32() hides the layout, so code
	 * that reads t->data directly must honour strided.
	 */
	int strided;
	uint64_t strides[MODEL_MAX_DIMS];
	/*
	 * A logical tensor (formats/layouts.h): one quantized weight that the
	 * file stores as several tensors (packed codes, scales, zero points).
	 * layout is set (private to layouts.c); scheme names the layout
	 * ("gptq-int4-g128"); parts[0..nparts) are the stored tensors, in file
	 * order, owned by this one and not in m->tensors.  dtype is then F32
	 * (what the values decode to), nbytes the sum of the parts' bytes (not
	 * params times 4), src the first part's source, and data NULL: the
	 * values exist only through tensor_read_f32(); code that copies bytes
	 * copies the parts.  All NULL / 0 for a stored tensor.
	 */
	const char *scheme;
	struct tensor *parts;
	size_t nparts;
	void *layout;
};

/* One metadata entry, in the order the file gives them.  key is flat
 * ("__metadata__.format", "config.json", "general.architecture"); type names
 * the stored type in the file's own vocabulary ("string", "json", "u32"...);
 * value holds the value as JSON (owned by the entry). */
struct meta {
	char *key;
	char *type;
	json_t *value;
};

struct model {
	char *path;		/* what the person opened */
	const char *format;	/* "safetensors", ... (static string) */

	struct tensor *tensors;
	size_t ntensors, tensors_alloc;

	struct meta *meta;
	size_t nmeta, meta_alloc;

	/* Each source is allocated on its own: tensors point at them, so
	 * they never move while the list grows. */
	struct source **sources;
	size_t nsources, sources_alloc;

	uint64_t params;	/* sums over tensors */
	uint64_t nbytes;

	/* While set, model_add_tensor() puts this before every name
	 * ("llama/model.safetensors:"): the members of an archive. */
	const char *tensor_prefix;

	void *name_index;	/* private to model.c: name -> tensor */
};

/* A file format: one row in the table in model.c. */
struct format {
	const char *name;
	/* 1 if these first bytes (len may be short) look like ours; no I/O */
	int (*sniff)(const unsigned char *head, size_t len);
	/* Add the tensors of src (already mapped and added to m) to m. */
	int (*open)(struct model *m, struct source *src, struct err *e);
};

/*
 * Open path into m (which is zeroed first).  A folder opens as a model
 * folder (a safetensors index, or every checkpoint file in it, plus
 * config.json as metadata).  Returns 0, or -1 with e filled and m released.
 */
int model_open(struct model *m, const char *path, struct err *e);

/* Free everything m owns and zero it; safe on a zeroed model. */
void model_release(struct model *m);

/*
 * Fill out[0..n) with elements first..first+n of t (row-major order),
 * decoded to float32.  Returns 0, or -1 with e filled (range outside the
 * tensor, or a dtype whose values cannot be decoded); never reads outside
 * t's bytes.
 */
int tensor_read_f32(const struct model *m, const struct tensor *t,
		    uint64_t first, size_t n, float *out, struct err *e);

/*
 * The values of one tensor for streaming code that reads from several
 * threads at once (quant/compute.h's chunk_read_fn): init, hand
 * tensor_reader_read and the reader to the computation, then release.
 * The first failure is kept in e (failed set).
 */
struct tensor_reader {
	const struct model *m;
	const struct tensor *t;
	pthread_mutex_t mu;
	int failed;
	struct err e;
};

void tensor_reader_init(struct tensor_reader *r, const struct model *m,
			const struct tensor *t);
void tensor_reader_release(struct tensor_reader *r);
int tensor_reader_read(void *reader, uint64_t first, size_t n, float *out);

/*
 * BF16 and F16 values as the 16-bit codes they are stored as, without
 * decoding or copying them.  tensor_codes16() says whether t can be read
 * so: DT_BF16 or DT_F16 for a plain (not strided, not logical) tensor of
 * that dtype, else DT_NONE.  tensor_visit_u16() is tensor_read_f32() for
 * those: the same checks, window of pages and guard, but the codes of
 * elements first..first+n (host order) go to fn, as quant/compute.h's
 * chunk_codes16_fn says: straight from the mapping on a little-endian
 * host, so fn runs under the guard and may be stopped part-way (then -1,
 * "the file was cut short").  tensor_reader_codes16() is its
 * chunk_codes16_fn.
 */
enum dtype tensor_codes16(const struct tensor *t);
int tensor_visit_u16(const struct model *m, const struct tensor *t,
		     uint64_t first, size_t n, codes16_fn *fn, void *arg,
		     struct err *e);
int tensor_reader_codes16(void *reader, uint64_t first, size_t n,
			  codes16_fn *fn, void *arg);

/*
 * Statistics and histogram of t's values, on the threads ctl gives
 * (compute_stats(), quant/compute.h; through the codes when
 * tensor_codes16() allows, which gives the same bits faster).  Returns 0;
 * 1 cancelled; -1 with e filled (the file was cut short, out of memory).
 */
int tensor_stats(const struct model *m, const struct tensor *t,
		 unsigned nbins, const struct compute_ctl *ctl,
		 struct vstats *vs, struct histogram *h, struct err *e);

/* t's shape as "[2048, 512]" ("[]" for a scalar) into out; returns out. */
char *tensor_shape_str(const struct tensor *t, char *out, size_t n);

/* t's shape as the scheme table (quant/schemes.h) takes it; dimensions
 * past SCHEME_MAX_DIMS are left out (callers refuse such tensors). */
struct scheme_shape;
void tensor_scheme_shape(const struct tensor *t, struct scheme_shape *sh);

/* Compare names the way people count: "layer.10" after "layer.9" (digit
 * runs as numbers).  formats/folder.c */
int natural_cmp(const char *a, const char *b);

/* What to show as t's type: a logical tensor's scheme, else the name of
 * its dtype ("BF16"). */
const char *tensor_type_name(const struct tensor *t);

/* Find a tensor by exact name; NULL if absent. */
const struct tensor *model_find(const struct model *m, const char *name);

/* ---- helpers for readers (formats/ only) ---- */

/* Map path read-only and append it to m's sources; returns the source or
 * NULL with e filled.  An empty file maps to data == NULL, size == 0. */
struct source *model_add_source(struct model *m, const char *path,
				struct err *e);

/* Map an open file descriptor (a temporary file holding decompressed or
 * converted bytes) read-only and append it to m's sources as path; the
 * caller still closes fd.  NULL with e filled. */
struct source *model_add_source_fd(struct model *m, const char *path, int fd,
				   struct err *e);

/* Append a source holding buf (size bytes, from malloc(); the model takes
 * ownership and frees it), named name (e.g. "file.pt:archive/data/0"). */
struct source *model_add_source_buffer(struct model *m, const char *name,
				       void *buf, uint64_t size);

/* Append a source for the bytes parent->data[offset, offset + size) (an
 * archive member stored in place), named path; the range is checked. */
struct source *model_add_source_view(struct model *m, const char *path,
				     const struct source *parent,
				     uint64_t offset, uint64_t size,
				     struct err *e);

/* Append a zeroed tensor named name (copied); NULL only on a duplicate name
 * (e filled).  Allocation failure is fatal. */
struct tensor *model_add_tensor(struct model *m, const char *name,
				struct err *e);

/* Append a metadata entry; takes ownership of value (a new reference). */
void model_add_meta(struct model *m, const char *key, const char *type,
		    json_t *value);

/* Set t->params and t->nbytes from t->dtype and t->shape; -1 with e
 * filled on overflow or when the element count does not fill whole blocks
 * of the dtype.  who names the file for the message. */
int tensor_set_size(struct tensor *t, const char *who, struct err *e);

/* Give t (dtype, shape, src and offset set; tensor_set_size() done) the
 * element strides strides[0..ndim); leaves t contiguous when they are the
 * row-major ones.  -1 with e filled for a block dtype, an overflow, or an
 * element outside src. */
int tensor_set_strides(struct tensor *t, const uint64_t *strides,
		       const char *who, struct err *e);

/* Allocation that cannot fail: on a size we chose, running out is fatal. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/*
 * Copy s into out (size outsz, always NUL-terminated) so that it is safe to
 * print on a terminal: control characters and invalid UTF-8 become \xNN.
 * Returns out.
 */
char *text_sanitize(const char *s, char *out, size_t outsz);

#endif
