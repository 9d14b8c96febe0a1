/*
 * formats/gguf.c - GGUF files (v1, v2, v3; little-endian), and split GGUF
 * models (NAME-00001-of-00003.gguf) opened as one model; and, at the end of
 * this file, the writer (formats/gguf.h says what it writes).
 *
 * Layout (FORMATS.md 2.1): "GGUF", u32 version, counts of tensors and of
 * key/value pairs, the KVs, the tensor infos, padding to the alignment
 * (general.alignment, default 32), then the data section; a tensor's offset
 * is relative to the data section.  v1 stores every count, string length,
 * array count and dimension as u32 instead of u64 (2.2).
 *
 * Nothing from the file is trusted: every count, length and offset is
 * checked against the bytes that are left (and against overflow) before it
 * is used, so no allocation is ever sized by what the file merely claims.
 * Arrays (a tokenizer's 32000 strings) are walked and checked item by item
 * but kept only as a summary {"type", "len", "first": [up to 8 items]}.
 * Strings are made valid UTF-8: each byte of an invalid sequence becomes
 * U+FFFD (and so does NUL, in keys and tensor names).
 *
 * Decisions where the spec is silent or ggml is stricter than needed:
 *  - big-endian files (the version reads as 0x03000000) are refused;
 *  - legacy ggml files ('ggml', 'ggmf', 'ggjt', ... magics) are recognised
 *    and refused by name, not as an unknown format;
 *  - arrays of arrays are accepted (the spec allows them; ggml does not),
 *    nested at most GGUF_MAX_DEPTH deep;
 *  - a repeated key is kept twice in the metadata; the first one counts
 *    (general.alignment, split.*), as gguf-py does;
 *  - tensor offsets need only be aligned, inside the file and not
 *    overlapping (ggml also wants them packed in info order);
 *  - n_dims may be 0 (a scalar); a dimension may be 0;
 *  - keys and tensor names may be at most 65535 bytes;
 *  - u64 values above 2^63-1 are kept as decimal strings (JSON integers are
 *    64-bit signed); non-finite floats as "nan", "inf", "-inf".
 *
 * format_gguf comes first in the table of formats (model.c): the magic is
 * certain, while a GGUF file whose n_tensors has low byte '{' would pass
 * the safetensors sniff.
 */
#include "formats/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/formats.h"
#include "formats/guard.h"
#include "formats/pages.h"
#include "quant/encode.h"
#include "quant/ggml.h"

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 65535	/* keys and tensor names, in bytes */
#define GGUF_MAX_DEPTH 8	/* arrays of arrays of ... */
#define GGUF_FIRST 8		/* array items kept in a summary */
#define GGUF_MAX_SPLIT 99999	/* shards of a split model */

enum gguf_type {
	GT_U8, GT_I8, GT_U16, GT_I16, GT_U32, GT_I32, GT_F32, GT_BOOL,
	GT_STRING, GT_ARRAY, GT_U64, GT_I64, GT_F64, GT_COUNT
};

static const char *const type_names[GT_COUNT] = {
	"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
	"string", "array", "u64", "i64", "f64",
};

/* Legacy ggml magics, as the little-endian u32 at offset 0. */
static const struct {
	uint32_t magic;
	const char *name;
} legacy[] = {
	{ 0x67676d6c, "ggml" }, { 0x67676d66, "ggmf" }, { 0x67676a74, "ggjt" },
	{ 0x67676c61, "ggla" }, { 0x6767736e, "ggsn" },
};

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int gguf_sniff(const unsigned char *head, size_t len)
{
	if (len < 4)
		return 0;
	if (memcmp(head, "GGUF", 4) == 0)
		return 1;
	for (size_t i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++)
		if (rd32(head) == legacy[i].magic)
			return 1;
	return 0;
}

/* ---- the cursor: where we are, and what we are reading, for messages ---- */

struct rd {
	const unsigned char *data;
	uint64_t pos, size;
	const char *path;
	int v1;			/* counts and lengths are u32 */
	struct err *e;
	char ctx[768];		/* "KV 13 'tokenizer.ggml.tokens'" */
};

static uint64_t left(const struct rd *r)
{
	return r->size - r->pos;
}

/* "'path': <ctx>: <what>" */
__attribute__((format(printf, 2, 3)))
static int fail(struct rd *r, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	err_set(r->e, "'%s': %s%s%s", r->path, r->ctx, r->ctx[0] ? ": " : "",
		what);
	return -1;
}

/* Append ": <what>" to the context; returns its old length, for
 * ctx_pop(). */
__attribute__((format(printf, 2, 3)))
static size_t ctx_push(struct rd *r, const char *fmt, ...)
{
	size_t n = strlen(r->ctx), k = n;
	va_list ap;

	if (n && n + 3 < sizeof(r->ctx)) {
		memcpy(r->ctx + n, ": ", 3);
		k = n + 2;
	}
	if (k + 1 < sizeof(r->ctx)) {
		va_start(ap, fmt);
		vsnprintf(r->ctx + k, sizeof(r->ctx) - k, fmt, ap);
		va_end(ap);
	}
	return n;
}

static void ctx_pop(struct rd *r, size_t n)
{
	r->ctx[n] = '\0';
}

static int need(struct rd *r, uint64_t n, const char *what)
{
	if (n > left(r))
		return fail(r, "unexpected end of file at offset %llu while reading %s (%llu bytes needed, %llu left)",
			    (unsigned long long)r->pos, what,
			    (unsigned long long)n,
			    (unsigned long long)left(r));
	return 0;
}

static int get32(struct rd *r, uint32_t *v, const char *what)
{
	if (need(r, 4, what))
		return -1;
	*v = rd32(r->data + r->pos);
	r->pos += 4;
	return 0;
}

static int get64(struct rd *r, uint64_t *v, const char *what)
{
	if (need(r, 8, what))
		return -1;
	*v = rd64(r->data + r->pos);
	r->pos += 8;
	return 0;
}

/* A count, string length or dimension: u32 in v1, u64 after. */
static int getn(struct rd *r, uint64_t *v, const char *what)
{
	uint32_t x;

	if (!r->v1)
		return get64(r, v, what);
	if (get32(r, &x, what))
		return -1;
	*v = x;
	return 0;
}

/* A string's length, checked against the bytes left; pos at its bytes. */
static int get_strlen(struct rd *r, uint64_t *len, const char *what)
{
	char w[64];

	snprintf(w, sizeof(w), "%s length", what);
	if (getn(r, len, w))
		return -1;
	if (*len > left(r))
		return fail(r, "%s length %llu exceeds the %llu byte%s left in the file",
			    what, (unsigned long long)*len,
			    (unsigned long long)left(r), left(r) == 1 ? "" : "s");
	return 0;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if the
 * byte at s does not start one. */
static size_t utf8_seq(const unsigned char *s, uint64_t n)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2, cp = c & 0x1F;
	else if ((c & 0xF0) == 0xE0)
		len = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/*
 * n bytes at s as valid UTF-8 in a new NUL-terminated buffer: each byte
 * that does not begin a valid sequence becomes U+FFFD, and so does NUL (so
 * that the result is a C string).  *outlen, if given, gets its length.
 * Two passes, so the buffer is exactly as long as the result.
 */
static char *utf8_clean(const unsigned char *s, uint64_t n, size_t *outlen)
{
	uint64_t i, len = 0;
	char *out, *o;

	for (i = 0; i < n;) {
		size_t k = s[i] ? utf8_seq(s + i, n - i) : 0;

		len += k ? k : 3;
		i += k ? k : 1;
	}
	out = o = xmalloc((size_t)len + 1);
	for (i = 0; i < n;) {
		size_t k = s[i] ? utf8_seq(s + i, n - i) : 0;

		if (k) {
			memcpy(o, s + i, k);
			o += k;
			i += k;
		} else {
			memcpy(o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		}
	}
	*o = '\0';
	if (outlen)
		*outlen = (size_t)len;
	return out;
}

/* A key or tensor name: length checked against the bytes left, not empty,
 * within GGUF_MAX_NAME; returned as clean UTF-8 (to free), or NULL after
 * fail() filled the message. */
static char *get_name(struct rd *r, const char *what)
{
	uint64_t len;
	char *name;

	if (get_strlen(r, &len, what))
		return NULL;
	if (len == 0) {
		fail(r, "empty %s", what);
		return NULL;
	}
	if (len > GGUF_MAX_NAME) {
		fail(r, "%s length %llu is over the limit of %d bytes", what,
		     (unsigned long long)len, GGUF_MAX_NAME);
		return NULL;
	}
	name = utf8_clean(r->data + r->pos, len, NULL);
	r->pos += len;
	return name;
}

/* ---- metadata values ---- */

/* The fewest bytes a value of type t takes. */
static uint64_t min_size(const struct rd *r, uint32_t t)
{
	switch (t) {
	case GT_U8: case GT_I8: case GT_BOOL:
		return 1;
	case GT_U16: case GT_I16:
		return 2;
	case GT_U32: case GT_I32: case GT_F32:
		return 4;
	case GT_U64: case GT_I64: case GT_F64:
		return 8;
	case GT_STRING:
		return r->v1 ? 4 : 8;
	default:	/* GT_ARRAY: element type and count */
		return r->v1 ? 8 : 12;
	}
}

static json_t *json_float(double d)
{
	if (d != d)
		return json_string("nan");
	if (d > 1.7976931348623157e308 || d < -1.7976931348623157e308)
		return json_string(d > 0 ? "inf" : "-inf");
	return json_real(d);
}

static json_t *json_u64(uint64_t v)
{
	char buf[32];

	if (v <= (uint64_t)INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return json_string(buf);
}

/*
 * Read one value of type t at r; if out, set *out to it as JSON (an array
 * as its summary).  *tname, if given, gets the type's name ("array[u32]").
 * Every byte is checked whether or not the value is kept.
 */
static int read_value(struct rd *r, uint32_t t, int depth, json_t **out,
		      char *tname, size_t tn);

/*
 * Step over one item of type t that is not kept, if that is quick and the
 * item is sound: 1 done, 0 let read_value() do it (and name any fault).
 */
static int skip_item(struct rd *r, uint32_t t)
{
	uint64_t len;

	if (t == GT_BOOL) {
		if (left(r) < 1 || r->data[r->pos] > 1)
			return 0;
		r->pos++;
		return 1;
	}
	if (t != GT_STRING)
		return 0;
	if (left(r) < min_size(r, t))
		return 0;
	len = r->v1 ? rd32(r->data + r->pos) : rd64(r->data + r->pos);
	if (len > left(r) - min_size(r, t))
		return 0;
	r->pos += min_size(r, t) + len;
	return 1;
}

static int read_array(struct rd *r, int depth, json_t **out, char *tname,
		      size_t tn)
{
	uint32_t et;
	uint64_t count, i, sz;
	json_t *first = NULL;

	if (get32(r, &et, "the array element type"))
		return -1;
	if (et >= GT_COUNT)
		return fail(r, "unknown array element type %u", et);
	if (getn(r, &count, "the array length"))
		return -1;
	sz = min_size(r, et);
	if (count > left(r) / sz)
		return fail(r, "array of %llu %s values cannot fit in the %llu byte%s left in the file",
			    (unsigned long long)count, type_names[et],
			    (unsigned long long)left(r), left(r) == 1 ? "" : "s");
	if (et == GT_ARRAY && depth + 1 >= GGUF_MAX_DEPTH)
		return fail(r, "arrays nested more than %d deep",
			    GGUF_MAX_DEPTH);
	if (tname)
		snprintf(tname, tn, "array[%s]", type_names[et]);
	if (out)
		first = json_array();

	for (i = 0; i < count; i++) {
		int keep = out && i < GGUF_FIRST;
		json_t *v = NULL;
		size_t c;

		if (!keep && et != GT_STRING && et != GT_ARRAY &&
		    et != GT_BOOL) {
			/* Fixed size and always valid: step over the rest. */
			r->pos += (count - i) * sz;	/* checked above */
			break;
		}
		if (!keep && skip_item(r, et))
			continue;
		c = ctx_push(r, "array item %llu of %llu", (unsigned long long)i,
			     (unsigned long long)count);
		if (read_value(r, et, depth + 1, keep ? &v : NULL, NULL, 0)) {
			json_decref(first);
			return -1;
		}
		ctx_pop(r, c);
		if (keep)
			json_array_append_new(first, v);
	}
	if (out)
		*out = json_pack("{s:s, s:I, s:o}", "type", type_names[et],
				 "len", (json_int_t)count, "first", first);
	return 0;
}

static int read_value(struct rd *r, uint32_t t, int depth, json_t **out,
		      char *tname, size_t tn)
{
	const unsigned char *p;
	uint64_t len;
	json_t *v = NULL;

	if (tname && t != GT_ARRAY)
		snprintf(tname, tn, "%s", type_names[t]);
	if (t == GT_ARRAY)
		return read_array(r, depth, out, tname, tn);
	if (t == GT_STRING) {
		if (get_strlen(r, &len, "string"))
			return -1;
		if (out) {
			size_t n;
			char *s = utf8_clean(r->data + r->pos, len, &n);

			*out = json_stringn(s, n);
			free(s);
		}
		r->pos += len;
		return 0;
	}
	if (need(r, min_size(r, t), type_names[t]))
		return -1;
	p = r->data + r->pos;
	r->pos += min_size(r, t);
	if (t == GT_BOOL && p[0] > 1)
		return fail(r, "bool value %u is neither 0 nor 1", p[0]);
	if (!out)
		return 0;
	switch (t) {
	case GT_U8:	v = json_integer(p[0]); break;
	case GT_I8:	v = json_integer((int8_t)p[0]); break;
	case GT_U16:	v = json_integer(p[0] | p[1] << 8); break;
	case GT_I16:	v = json_integer((int16_t)(p[0] | p[1] << 8)); break;
	case GT_U32:	v = json_integer(rd32(p)); break;
	case GT_I32:	v = json_integer((int32_t)rd32(p)); break;
	case GT_U64:	v = json_u64(rd64(p)); break;
	case GT_I64:	v = json_integer((json_int_t)rd64(p)); break;
	case GT_BOOL:	v = json_boolean(p[0]); break;
	case GT_F32: {
		uint32_t b = rd32(p);
		float f;

		memcpy(&f, &b, 4);
		v = json_float(f);
		break;
	}
	default: {	/* GT_F64 */
		uint64_t b = rd64(p);
		double d;

		memcpy(&d, &b, 8);
		v = json_float(d);
		break;
	}
	}
	*out = v;
	return 0;
}

/* An integer KV value (any integer type) as int64; 0 if it is not one. */
static int meta_int(const json_t *v, int64_t *out)
{
	if (!json_is_integer(v))
		return 0;
	*out = json_integer_value(v);
	return 1;
}

/* ---- one file ---- */

/* What a file says about the split model it belongs to. */
struct split {
	int has_no, has_count, has_tensors;
	int64_t no, count, tensors;
};

struct parsed {
	uint64_t ntensors, nkv;
	uint32_t alignment;
	struct split split;
};

static int parse_header(struct rd *r, struct parsed *ps)
{
	uint32_t version;
	uint64_t min_ti, min_kv;

	if (r->size < 4)
		return fail(r, "file is too short (%llu bytes) for a GGUF header",
			    (unsigned long long)r->size);
	for (size_t i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++)
		if (rd32(r->data) == legacy[i].magic)
			return fail(r, "legacy ggml file (magic '%s', from before GGUF) is not supported; convert it to GGUF",
				    legacy[i].name);
	r->pos = 4;
	if (get32(r, &version, "the version"))
		return -1;
	if (version == 0)
		return fail(r, "GGUF version 0 is not valid");
	if ((version & 0xFFFF) == 0)
		return fail(r, "big-endian GGUF is not supported");
	if (version > 3)
		return fail(r, "GGUF version %u is not supported (only 1 to 3)",
			    version);
	r->v1 = version == 1;
	if (getn(r, &ps->ntensors, "n_tensors") ||
	    getn(r, &ps->nkv, "n_kv"))
		return -1;

	/* A tensor info is at least a name length, n_dims, type and
	 * offset; a KV a key length, a type and one byte of value. */
	min_ti = r->v1 ? 4 + 4 + 4 + 8 : 8 + 4 + 4 + 8;
	min_kv = r->v1 ? 4 + 4 + 1 : 8 + 4 + 1;
	if (ps->ntensors > left(r) / min_ti)
		return fail(r, "n_tensors = %llu cannot fit in a %llu-byte file",
			    (unsigned long long)ps->ntensors,
			    (unsigned long long)r->size);
	if (ps->nkv > left(r) / min_kv)
		return fail(r, "n_kv = %llu cannot fit in a %llu-byte file",
			    (unsigned long long)ps->nkv,
			    (unsigned long long)r->size);
	if (ps->ntensors * min_ti > left(r) - ps->nkv * min_kv)
		return fail(r, "n_tensors = %llu and n_kv = %llu cannot fit in a %llu-byte file",
			    (unsigned long long)ps->ntensors,
			    (unsigned long long)ps->nkv,
			    (unsigned long long)r->size);
	return 0;
}

/* Record general.alignment and split.* (first occurrence counts). */
static int special_key(struct rd *r, struct parsed *ps, const char *key,
		       uint32_t type, const json_t *v, int *seen_align)
{
	struct split *sp = &ps->split;
	int64_t x;
	int64_t *dst = NULL;
	int *has = NULL;

	if (strcmp(key, "general.alignment") == 0) {
		if (*seen_align)
			return 0;
		*seen_align = 1;
		if (type != GT_U32)
			return fail(r, "general.alignment must be a u32, not %s",
				    type == GT_ARRAY ? "an array" :
				    type_names[type]);
		x = json_integer_value(v);
		if (x == 0 || (x & (x - 1)))
			return fail(r, "general.alignment = %lld is not a power of two",
				    (long long)x);
		ps->alignment = (uint32_t)x;
		return 0;
	}
	if (strcmp(key, "split.no") == 0)
		dst = &sp->no, has = &sp->has_no;
	else if (strcmp(key, "split.count") == 0)
		dst = &sp->count, has = &sp->has_count;
	else if (strcmp(key, "split.tensors.count") == 0)
		dst = &sp->tensors, has = &sp->has_tensors;
	if (!dst || *has)
		return 0;
	if (!meta_int(v, &x) || x < 0)
		return fail(r, "%s must be a non-negative integer", key);
	*has = 1;
	*dst = x;
	return 0;
}

/*
 * The KVs, each checked, and the special keys recorded in ps.  With m,
 * each also becomes a metadata entry; with only_new (the later shards of a
 * split model), except the split.* keys and keys m already has.
 */
static int parse_kvs(struct rd *r, struct parsed *ps, struct model *m,
		     int only_new)
{
	int seen_align = 0;

	ps->alignment = GGUF_DEFAULT_ALIGNMENT;
	for (uint64_t i = 0; i < ps->nkv; i++) {
		uint32_t type;
		char *key, tname[128], kbuf[128];
		json_t *v = NULL;
		size_t c;

		c = ctx_push(r, "KV %llu", (unsigned long long)i);
		key = get_name(r, "key");
		if (!key)
			return -1;
		ctx_pop(r, c);
		ctx_push(r, "KV %llu '%s'", (unsigned long long)i,
			 text_sanitize(key, kbuf, sizeof(kbuf)));
		if (get32(r, &type, "the value type")) {
			free(key);
			return -1;
		}
		if (type >= GT_COUNT) {
			free(key);
			return fail(r, "unknown value type %u", type);
		}
		if (read_value(r, type, 0, &v, tname, sizeof(tname)) ||
		    special_key(r, ps, key, type, v, &seen_align)) {
			json_decref(v);
			free(key);
			return -1;
		}
		if (m && (!only_new || strncmp(key, "split.", 6) != 0)) {
			int have = 0;

			for (size_t k = 0; only_new && k < m->nmeta; k++)
				if (strcmp(m->meta[k].key, key) == 0)
					have = 1;
			if (!have) {
				model_add_meta(m, key, tname, v);
				v = NULL;
			}
		}
		json_decref(v);
		free(key);
		ctx_pop(r, c);
	}
	return 0;
}

struct span {
	uint64_t begin, end;
	size_t tensor;
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->tensor < y->tensor ? -1 : x->tensor > y->tensor;
}

static int parse_tensor_info(struct rd *r, struct model *m,
			     struct source *src, uint64_t i)
{
	uint64_t ne[GGUF_MAX_DIMS], offset;
	uint32_t ndims, type;
	const struct dtype_info *di;
	const struct tensor *other;
	struct tensor *t;
	char *name, nbuf[256];
	size_t c;

	c = ctx_push(r, "tensor info %llu", (unsigned long long)i);
	name = get_name(r, "name");
	if (!name)
		return -1;
	ctx_pop(r, c);
	ctx_push(r, "tensor '%s'", text_sanitize(name, nbuf, sizeof(nbuf)));

	other = model_find(m, name);
	if (other) {
		free(name);
		if (other->src == src)
			return fail(r, "name appears twice");
		return fail(r, "also in '%s'", other->src->path);
	}
	t = model_add_tensor(m, name, r->e);
	free(name);
	if (!t)
		return fail(r, "name appears twice");	/* checked above */
	t->src = src;

	if (get32(r, &ndims, "n_dims"))
		return -1;
	if (ndims > GGUF_MAX_DIMS)
		return fail(r, "n_dims = %u, more than %d", ndims,
			    GGUF_MAX_DIMS);
	for (uint32_t d = 0; d < ndims; d++) {
		if (getn(r, &ne[d], "a dimension"))
			return -1;
		if (ne[d] > (uint64_t)INT64_MAX)
			return fail(r, "dimension %u is %llu, more than 2^63-1",
				    d, (unsigned long long)ne[d]);
	}
	if (get32(r, &type, "the type") || get64(r, &offset, "the offset"))
		return -1;
	t->dtype = dtype_from_ggml(type);
	if (t->dtype == DT_NONE)
		return fail(r, "unknown or removed ggml type %u", type);
	di = dtype_get(t->dtype);

	/* ne[0] is innermost: the shape is ne reversed. */
	t->ndim = (int)ndims;
	for (uint32_t d = 0; d < ndims; d++)
		t->shape[d] = ne[ndims - 1 - d];
	if (ndims && ne[0] % di->block)
		return fail(r, "row length %llu is not a multiple of %s's block of %u",
			    (unsigned long long)ne[0], di->name, di->block);
	if (tensor_set_size(t, r->path, r->e))
		return -1;
	if (t->params > (uint64_t)INT64_MAX)
		return fail(r, "%llu elements, more than 2^63-1",
			    (unsigned long long)t->params);
	t->offset = offset;	/* relative for now; see place_tensors() */
	ctx_pop(r, c);
	return 0;
}

/* Tensors [first, m->ntensors) of src: offsets are relative to the data
 * section at data_start; check them and point the tensors at their bytes. */
static int place_tensors(struct rd *r, struct model *m, struct source *src,
			 size_t first, uint64_t data_start, uint32_t align)
{
	size_t n = m->ntensors - first, k = 0;
	struct span *sp;
	int rc = -1;

	for (size_t i = first; i < m->ntensors; i++) {
		struct tensor *t = &m->tensors[i];
		char nbuf[256];
		uint64_t begin, end;
		size_t c = ctx_push(r, "tensor '%s'",
				    text_sanitize(t->name, nbuf, sizeof(nbuf)));

		if (t->offset % align)
			return fail(r, "offset %llu is not a multiple of the alignment %u",
				    (unsigned long long)t->offset, align);
		if (t->offset > UINT64_MAX - data_start ||
		    t->nbytes > UINT64_MAX - data_start - t->offset)
			return fail(r, "offset %llu plus %llu bytes overflows",
				    (unsigned long long)t->offset,
				    (unsigned long long)t->nbytes);
		begin = data_start + t->offset;
		end = begin + t->nbytes;
		if (end > src->size)
			return fail(r, "data [%llu, %llu) runs past the end of the file (%llu bytes)",
				    (unsigned long long)begin,
				    (unsigned long long)end,
				    (unsigned long long)src->size);
		t->offset = begin;
		t->data = src->data + begin;
		ctx_pop(r, c);
	}

	sp = xcalloc(n, sizeof(*sp));
	for (size_t i = first; i < m->ntensors; i++) {
		if (!m->tensors[i].nbytes)
			continue;	/* empty: overlaps nothing */
		sp[k].begin = m->tensors[i].offset;
		sp[k].end = sp[k].begin + m->tensors[i].nbytes;
		sp[k].tensor = i;
		k++;
	}
	qsort(sp, k, sizeof(*sp), span_cmp);
	for (size_t i = 1; i < k; i++) {
		if (sp[i].begin < sp[i - 1].end) {
			char a[256], b[256];

			err_set(r->e, "'%s': tensor '%s': data [%llu, %llu) overlaps tensor '%s' [%llu, %llu)",
				r->path,
				text_sanitize(m->tensors[sp[i].tensor].name, a,
					      sizeof(a)),
				(unsigned long long)sp[i].begin,
				(unsigned long long)sp[i].end,
				text_sanitize(m->tensors[sp[i - 1].tensor].name,
					      b, sizeof(b)),
				(unsigned long long)sp[i - 1].begin,
				(unsigned long long)sp[i - 1].end);
			goto out;
		}
	}
	rc = 0;
out:
	free(sp);
	return rc;
}

static void rd_init(struct rd *r, const struct source *src, struct err *e)
{
	memset(r, 0, sizeof(*r));
	r->data = src->data;
	r->size = src->size;
	r->path = src->path;
	r->e = e;
}

/* Header and KVs only: is this file part of a split model? */
static int peek(const struct source *src, struct parsed *ps, struct err *e)
{
	struct rd r;

	memset(ps, 0, sizeof(*ps));
	rd_init(&r, src, e);
	if (parse_header(&r, ps))
		return -1;
	return parse_kvs(&r, ps, NULL, 0);
}

/* The whole file into m; only_new: skip KVs m has, and split.* (later
 * shards of a split model). */
static int parse_file(struct model *m, struct source *src, int only_new,
		      struct parsed *ps, struct err *e)
{
	size_t first = m->ntensors;
	uint64_t data_start;
	struct rd r;

	memset(ps, 0, sizeof(*ps));
	rd_init(&r, src, e);
	if (parse_header(&r, ps) || parse_kvs(&r, ps, m, only_new))
		return -1;
	for (uint64_t i = 0; i < ps->ntensors; i++)
		if (parse_tensor_info(&r, m, src, i))
			return -1;
	data_start = r.pos + (ps->alignment - r.pos % ps->alignment) %
			     ps->alignment;
	return place_tensors(&r, m, src, first, data_start, ps->alignment);
}

/* ---- split models ---- */

/*
 * path's file name as PREFIX-NNNNN-of-MMMMM.gguf: *prefix_len is the length
 * of path up to the '-' before NNNNN; returns 0 if the name is not so.
 */
static int split_name(const char *path, size_t *prefix_len, long *no,
		      long *count, int *width)
{
	const char *base = strrchr(path, '/'), *of, *p;
	size_t n = strlen(path);
	int w1 = 0, w2 = 0;

	base = base ? base + 1 : path;
	if (n < 5 || strcmp(path + n - 5, ".gguf") != 0)
		return 0;
	of = NULL;
	for (p = base; (p = strstr(p, "-of-")); p++)
		of = p;
	if (!of)
		return 0;
	for (p = of + 4; *p >= '0' && *p <= '9'; p++)
		w2++;
	if (!w2 || p != path + n - 5)
		return 0;
	for (p = of; p > base && p[-1] >= '0' && p[-1] <= '9'; p--)
		w1++;
	if (!w1 || p == base || p[-1] != '-' || w1 > 9 || w2 > 9)
		return 0;
	*prefix_len = (size_t)(p - 1 - path);
	*no = strtol(p, NULL, 10);
	*count = strtol(of + 4, NULL, 10);
	*width = w1;
	return 1;
}

/* The same file as src, already a source of m (a folder lists every
 * shard, but the first one opened brings in the others)? */
static int already_open(const struct model *m, const struct source *src)
{
	struct stat a, b;

	if (stat(src->path, &a) != 0)
		return 0;
	for (size_t i = 0; i < m->nsources; i++) {
		const struct source *s = m->sources[i];

		if (s != src && stat(s->path, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return 1;
	}
	return 0;
}

/* Undo model_open_file()'s model_add_source() for a file already open. */
static void drop_last_source(struct model *m)
{
	struct source *s = m->sources[m->nsources - 1];

	if (s->data)
		munmap((void *)s->data, (size_t)s->size);
	free(s->path);
	free(s);
	m->sources[--m->nsources] = NULL;
}

/*
 * src is one shard of a split model (first: what its KVs say): map every
 * shard, then read them in order, so that tensors come shard after shard.
 */
static int open_split(struct model *m, struct source *src,
		      const struct parsed *first, struct err *e)
{
	const struct split *sp = &first->split;
	size_t plen, *srcs, self = 0;
	long no, count;
	int width, rc = -1;
	char *given = xstrdup(src->path), *path = NULL;
	int64_t total = 0;

	if (!sp->has_no || !sp->has_tensors) {
		err_set(e, "'%s': split.count is %lld but split.%s is missing",
			given, (long long)sp->count,
			!sp->has_no ? "no" : "tensors.count");
		free(given);
		return -1;
	}
	if (sp->count > GGUF_MAX_SPLIT || sp->no >= sp->count) {
		err_set(e, "'%s': split.no = %lld does not fit split.count = %lld",
			given, (long long)sp->no, (long long)sp->count);
		free(given);
		return -1;
	}
	if (!split_name(given, &plen, &no, &count, &width) ||
	    no != sp->no + 1 || count != sp->count) {
		err_set(e, "'%s': shard %lld of a split model of %lld, but not named PREFIX-%05lld-of-%05lld.gguf, so the other shards cannot be found",
			given, (long long)sp->no + 1, (long long)sp->count,
			(long long)sp->no + 1, (long long)sp->count);
		free(given);
		return -1;
	}

	while (self < m->nsources && m->sources[self] != src)
		self++;
	srcs = xcalloc((size_t)count, sizeof(*srcs));
	for (long i = 0; i < count; i++) {
		size_t n = plen + 48;
		struct stat st;

		if (i == sp->no) {
			srcs[i] = self;
			continue;
		}
		free(path);
		path = xmalloc(n);
		snprintf(path, n, "%.*s-%0*ld-of-%0*ld.gguf", (int)plen, given,
			 width, i + 1, width, count);
		if (stat(path, &st) != 0) {
			err_set(e, "'%s': shard %ld of %ld of this split model is missing: '%s'",
				given, i + 1, count, path);
			goto out;
		}
		if (!model_add_source(m, path, e))
			goto out;
		srcs[i] = m->nsources - 1;
	}
	for (long i = 0; i < count; i++) {
		struct source *s = m->sources[srcs[i]];
		struct parsed ps;
		size_t before = m->ntensors;

		if (parse_file(m, s, i > 0, &ps, e))
			goto out;
		if (!ps.split.has_no || !ps.split.has_count) {
			err_set(e, "'%s': no split.%s, but it is shard %ld of the split model '%s'",
				s->path, ps.split.has_no ? "count" : "no", i + 1,
				given);
			goto out;
		}
		if (ps.split.no != i || ps.split.count != count) {
			int bad_no = ps.split.no != i;

			err_set(e, "'%s': split.%s = %lld, but as shard %ld of %ld of '%s' it should be %ld",
				s->path, bad_no ? "no" : "count",
				(long long)(bad_no ? ps.split.no : ps.split.count),
				i + 1, count, given, bad_no ? i : count);
			goto out;
		}
		if (ps.split.has_tensors && ps.split.tensors != sp->tensors) {
			err_set(e, "'%s': split.tensors.count = %lld, but '%s' says %lld",
				s->path, (long long)ps.split.tensors, given,
				(long long)sp->tensors);
			goto out;
		}
		total += (int64_t)(m->ntensors - before);
	}
	if (total != sp->tensors) {
		err_set(e, "'%s': the %ld shards hold %lld tensors, but split.tensors.count = %lld",
			given, count, (long long)total,
			(long long)sp->tensors);
		goto out;
	}
	rc = 0;
out:
	free(path);
	free(srcs);
	free(given);
	return rc;
}

static int gguf_open(struct model *m, struct source *src, struct err *e)
{
	struct parsed ps;

	if (already_open(m, src)) {
		drop_last_source(m);
		return 0;
	}
	if (peek(src, &ps, e))
		return -1;
	if (ps.split.has_count && ps.split.count > 1)
		return open_split(m, src, &ps, e);
	return parse_file(m, src, 0, &ps, e);
}

const struct format format_gguf = {
	.name = "gguf",
	.sniff = gguf_sniff,
	.open = gguf_open,
};

/* ==================================================================== */
/* Writing (formats/gguf.h)                                             */
/* ==================================================================== */

#define GGUF_QNT_VERSION 2	/* general.quantization_version ggml writes */
#define PIECE (1u << 18)	/* elements a worker converts at a time; a
				 * multiple of every block */
#define SUB (1u << 12)		/* of which decoded, then encoded, at a time
				 * (16 KB of floats, in the L1 cache) */
#define COPY_CHUNK (8u << 20)	/* bytes copied at a time */
#define HEADER_BUF (1u << 16)	/* header bytes gathered per write() */
#define GGUF_MAX_THREADS 8	/* converting pieces */

static const struct {
	enum dtype d;
	int ftype;
} ftypes[] = {
	/* llama_model_loader's guess from the main type (llama.cpp) */
	{ DT_F32, 0 }, { DT_F16, 1 }, { DT_Q4_0, 2 }, { DT_Q4_1, 3 },
	{ DT_Q8_0, 7 }, { DT_Q5_0, 8 }, { DT_Q5_1, 9 }, { DT_Q2_K, 10 },
	{ DT_Q3_K, 12 }, { DT_Q4_K, 15 }, { DT_Q5_K, 17 }, { DT_Q6_K, 18 },
	{ DT_IQ2_XXS, 19 }, { DT_IQ2_XS, 20 }, { DT_IQ3_XXS, 23 },
	{ DT_IQ1_S, 24 }, { DT_IQ4_NL, 25 }, { DT_IQ3_S, 26 },
	{ DT_IQ2_S, 28 }, { DT_IQ4_XS, 30 }, { DT_IQ1_M, 31 },
	{ DT_BF16, 32 }, { DT_TQ1_0, 36 }, { DT_TQ2_0, 37 },
	{ DT_MXFP4, 38 },
};

int gguf_ftype(enum dtype d)
{
	for (size_t i = 0; i < sizeof(ftypes) / sizeof(ftypes[0]); i++)
		if (ftypes[i].d == d)
			return ftypes[i].ftype;
	return -1;
}

int gguf_can_encode(enum dtype d)
{
	if (d == DT_F32 || d == DT_F16 || d == DT_BF16)
		return 1;
	return dtype_get(d)->ggml >= 0 && ggml_can_quantize(d);
}

/* One KV of an input file, as bytes of its source. */
struct kv {
	const struct source *src;
	const unsigned char *key;	/* klen raw bytes, not NUL-terminated */
	uint64_t klen;
	uint32_t type;
	uint64_t begin, value, end;	/* key length field, value, past it */
	int v1;				/* lengths are u32: widen them */
};

struct kvlist {
	struct kv *kv;
	size_t n, alloc;
};

/* Append the KVs of src to l. */
static int walk_kvs(const struct source *src, struct kvlist *l,
		    struct err *e)
{
	struct parsed ps;
	struct rd r;

	memset(&ps, 0, sizeof(ps));
	rd_init(&r, src, e);
	if (parse_header(&r, &ps))
		return -1;
	for (uint64_t i = 0; i < ps.nkv; i++) {
		struct kv k;

		memset(&k, 0, sizeof(k));
		k.src = src;
		k.v1 = r.v1;
		k.begin = r.pos;
		if (get_strlen(&r, &k.klen, "key"))
			return -1;
		k.key = r.data + r.pos;
		r.pos += k.klen;
		if (get32(&r, &k.type, "the value type"))
			return -1;
		if (k.type >= GT_COUNT)
			return fail(&r, "unknown value type %u", k.type);
		k.value = r.pos;
		if (read_value(&r, k.type, 0, NULL, NULL, 0))
			return -1;
		k.end = r.pos;
		if (l->n == l->alloc) {
			l->alloc = l->alloc ? l->alloc * 2 : 64;
			l->kv = xrealloc(l->kv, l->alloc * sizeof(*l->kv));
		}
		l->kv[l->n++] = k;
	}
	return 0;
}

static int key_is(const struct kv *k, const char *s)
{
	size_t n = strlen(s);

	return k->klen == n && memcmp(k->key, s, n) == 0;
}

/* ---- the output file ---- */

struct wr {
	int fd;
	const char *path;		/* out_path, for messages */
	unsigned char buf[HEADER_BUF];
	size_t len;			/* bytes waiting in buf */
	uint64_t done, total;		/* for the progress callback */
	gguf_progress_fn *cb;
	void *arg;
	struct err *e;
};

static int w_write(struct wr *w, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n) {
		ssize_t k = write(w->fd, b, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			err_set(w->e, "'%s': cannot write: %s", w->path,
				strerror(k < 0 ? errno : ENOSPC));
			return -1;
		}
		b += k;
		n -= (size_t)k;
		w->done += (uint64_t)k;
	}
	return 0;
}

static int w_flush(struct wr *w)
{
	size_t n = w->len;

	w->len = 0;
	return w_write(w, w->buf, n);
}

/* Bytes through the buffer; big runs go straight to the file. */
static int w_put(struct wr *w, const void *p, uint64_t n)
{
	const unsigned char *b = p;

	if (n <= sizeof(w->buf) - w->len) {
		memcpy(w->buf + w->len, p, (size_t)n);
		w->len += (size_t)n;
		return 0;
	}
	if (w_flush(w))
		return -1;
	if (n <= sizeof(w->buf)) {
		memcpy(w->buf, p, (size_t)n);
		w->len = (size_t)n;
		return 0;
	}
	while (n) {
		uint64_t k = n < COPY_CHUNK ? n : COPY_CHUNK;

		if (w_write(w, b, (size_t)k))
			return -1;
		b += k;
		n -= k;
	}
	return 0;
}

static int w_u32(struct wr *w, uint32_t v)
{
	unsigned char b[4] = { v & 0xFF, v >> 8 & 0xFF, v >> 16 & 0xFF,
			       v >> 24 };

	return w_put(w, b, 4);
}

static int w_u64(struct wr *w, uint64_t v)
{
	return w_u32(w, (uint32_t)v) || w_u32(w, (uint32_t)(v >> 32));
}

static int w_zeros(struct wr *w, uint64_t n)
{
	static const unsigned char z[256];

	while (n) {
		uint64_t k = n < sizeof(z) ? n : sizeof(z);

		if (w_put(w, z, k))
			return -1;
		n -= k;
	}
	return 0;
}

/* Report progress; -1 (e filled) when the callback asks to stop. */
static int w_tick(struct wr *w)
{
	if (w->cb && w->cb(w->done + w->len, w->total, w->arg)) {
		err_set(w->e, "'%s': interrupted; nothing was written",
			w->path);
		return -1;
	}
	return 0;
}

/* ---- metadata out ---- */

/* v1 value at r (type t), widened to v3, into w (or only counted into
 * *size when w is NULL). */
static int v1_value(struct rd *r, uint32_t t, struct wr *w, uint64_t *size)
{
	uint32_t et;
	uint64_t n;

	if (t == GT_STRING) {
		if (get_strlen(r, &n, "string"))
			return -1;
		*size += 8 + n;
		if (w && (w_u64(w, n) || w_put(w, r->data + r->pos, n)))
			return -1;
		r->pos += n;
		return 0;
	}
	if (t != GT_ARRAY) {
		n = min_size(r, t);
		if (need(r, n, type_names[t]))
			return -1;
		*size += n;
		if (w && w_put(w, r->data + r->pos, n))
			return -1;
		r->pos += n;
		return 0;
	}
	if (get32(r, &et, "the array element type") ||
	    getn(r, &n, "the array length"))
		return -1;
	if (et >= GT_COUNT)
		return fail(r, "unknown array element type %u", et);
	*size += 12;
	if (w && (w_u32(w, et) || w_u64(w, n)))
		return -1;
	if (et != GT_STRING && et != GT_ARRAY) {
		uint64_t sz = min_size(r, et);

		if (n > left(r) / sz)
			return fail(r, "array runs past the end of the file");
		*size += n * sz;
		if (w && w_put(w, r->data + r->pos, n * sz))
			return -1;
		r->pos += n * sz;
		return 0;
	}
	for (uint64_t i = 0; i < n; i++)
		if (v1_value(r, et, w, size))
			return -1;
	return 0;
}

/* One KV as GGUF v3 bytes into w; or, with w NULL, its size in *size. */
static int kv_out(const struct kv *k, struct wr *w, uint64_t *size,
		  struct err *e)
{
	struct rd r;

	*size = 0;
	if (!k->v1) {
		*size = k->end - k->begin;
		return w ? w_put(w, k->src->data + k->begin, *size) : 0;
	}
	*size = 8 + k->klen + 4;
	if (w && (w_u64(w, k->klen) || w_put(w, k->key, k->klen) ||
		  w_u32(w, k->type)))
		return -1;
	rd_init(&r, k->src, e);
	r.v1 = 1;
	r.pos = k->value;
	return v1_value(&r, k->type, w, size);
}

/* A u32 KV of our own. */
static uint64_t u32_kv_size(const char *key)
{
	return 8 + strlen(key) + 4 + 4;
}

static int u32_kv_out(struct wr *w, const char *key, uint32_t v)
{
	return w_u64(w, strlen(key)) || w_put(w, key, strlen(key)) ||
	       w_u32(w, GT_U32) || w_u32(w, v);
}

/* ---- releasing input pages ---- */

/*
 * 1 if p lies in a mapping of a file (a line of /proc/self/maps with an
 * inode): only then may its pages be dropped with MADV_DONTNEED, which
 * would zero anonymous memory but refaults a file's pages from the file.
 */
static int file_backed(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	char line[512];
	int yes = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, ino;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s %*x %*x:%*x %lu", &lo, &hi,
			   perms, &ino) == 4 && a >= lo && a < hi) {
			yes = ino != 0 && perms[1] != 'w';
			break;
		}
	}
	fclose(f);
	return yes;
}

/* Drop the pages of [p, p + n) that we have read from the process (not
 * from the page cache), so that RSS stays flat however big the input. */
static void release(const unsigned char *p, uint64_t n)
{
	static long pg;
	uintptr_t a = (uintptr_t)p, b;

	if (!pg)
		pg = sysconf(_SC_PAGESIZE);
	if (pg <= 0 || !n)
		return;
	b = (a + (uintptr_t)n) & ~(uintptr_t)(pg - 1);
	a &= ~(uintptr_t)(pg - 1);
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

/* ---- tensor data out ---- */

static uint64_t align_up(uint64_t x, uint32_t a)
{
	return x + (a - x % a) % a;
}

/* n floats as type d into out; returns the bytes written. */
static size_t encode(enum dtype d, const float *x, unsigned char *out,
		     size_t n)
{
	const struct dtype_info *di = dtype_get(d);

	switch (d) {
	case DT_F32:
		for (size_t i = 0; i < n; i++) {
			uint32_t u;

			memcpy(&u, &x[i], 4);
			out[4 * i] = u & 0xFF;
			out[4 * i + 1] = u >> 8 & 0xFF;
			out[4 * i + 2] = u >> 16 & 0xFF;
			out[4 * i + 3] = u >> 24;
		}
		break;
	case DT_F16:
		encode_f16(x, out, n);
		break;
	case DT_BF16:
		encode_bf16(x, out, n);
		break;
	default:
		ggml_quantize(d, x, out, n);	/* type and n checked */
		break;
	}
	return n / di->block * di->block_bytes;
}

/*
 * The data section goes out as a stream of pieces in file order: a tensor
 * kept as it is in pieces of COPY_CHUNK bytes, written straight from its
 * mapping; a converted one in pieces of PIECE elements, which worker
 * threads (one per CPU) decode and encode into a ring of slots while this
 * thread writes the pieces before them, in order.  So converting and
 * writing overlap, all CPUs convert, and memory stays at the ring's few
 * MB.  Each piece is the same bytes whoever converts it: PIECE and SUB
 * are multiples of every block, and the kernels work block by block.
 */
struct piece {
	size_t ti;		/* the tensor */
	uint64_t first, n;	/* elements (converted) or bytes (copied) */
	int convert;
	int last;		/* ends its tensor: padding follows */
};

struct slot {
	struct piece pc;
	unsigned char *buf;	/* a converted piece's bytes */
	size_t bytes;
	int ready;		/* converted (or a copy, nothing to do) */
	int rc;
	struct err e;
};

struct pipe {
	const struct model *m;
	const enum dtype *to;		/* per tensor, resolved */
	struct slot *slots;
	size_t nslot;
	uint64_t npieces;
	pthread_mutex_t mu;
	pthread_cond_t work;		/* a slot came free, or stop */
	pthread_cond_t done;		/* a slot became ready */
	/* under mu: */
	uint64_t issued, written;	/* pieces handed out, written */
	size_t cur_ti;			/* the next piece to hand out */
	uint64_t cur_off;
	int stop;
	/* the writer's: */
	const struct source *dropping;	/* last source checked, and */
	int drop_ok;			/* whether its pages may be dropped */
};

/* The piece at (*ti, *off), and the cursor moved past it; 0 at the end.
 * Empty tensors have no piece (and no padding). */
static int next_piece(const struct pipe *p, size_t *ti, uint64_t *off,
		      struct piece *pc)
{
	for (; *ti < p->m->ntensors; (*ti)++, *off = 0) {
		const struct tensor *t = &p->m->tensors[*ti];
		int conv = p->to[*ti] != t->dtype;
		uint64_t len = conv ? t->params : t->nbytes;
		uint64_t step = conv ? PIECE : COPY_CHUNK;

		if (*off >= len)
			continue;
		pc->ti = *ti;
		pc->first = *off;
		pc->convert = conv;
		pc->n = len - *off < step ? len - *off : step;
		*off += pc->n;
		pc->last = *off == len;
		return 1;
	}
	return 0;
}

/* Decode and encode a piece SUB elements at a time, so that the floats
 * stay in the cache between the two.  0, or -1 with sl->e filled. */
static int convert_piece(const struct pipe *p, struct slot *sl, float *f)
{
	const struct tensor *t = &p->m->tensors[sl->pc.ti];
	enum dtype to = p->to[sl->pc.ti];
	size_t bytes = 0;

	for (uint64_t k = 0; k < sl->pc.n; k += SUB) {
		size_t n = sl->pc.n - k < SUB ? (size_t)(sl->pc.n - k) : SUB;

		if (tensor_read_f32(p->m, t, sl->pc.first + k, n, f, &sl->e))
			return -1;
		bytes += encode(to, f, sl->buf + bytes, n);
	}
	sl->bytes = bytes;
	return 0;
}

/* With p->mu held, a slot free and a piece left: hand out the next piece
 * and convert it, without the lock meanwhile. */
static void run_piece(struct pipe *p, float *f)
{
	struct slot *sl = &p->slots[p->issued % p->nslot];

	next_piece(p, &p->cur_ti, &p->cur_off, &sl->pc);
	p->issued++;
	pthread_mutex_unlock(&p->mu);
	sl->rc = sl->pc.convert ? convert_piece(p, sl, f) : 0;
	pthread_mutex_lock(&p->mu);
	sl->ready = 1;
	if (sl->rc)
		p->stop = 1;	/* the writer reports it when it gets there */
	pthread_cond_broadcast(&p->done);
}

static void *worker(void *arg)
{
	struct pipe *p = arg;
	float *f = xmalloc(SUB * sizeof(float));

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->issued < p->npieces &&
		       p->issued - p->written >= p->nslot)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->stop || p->issued == p->npieces)
			break;
		run_piece(p, f);
	}
	pthread_mutex_unlock(&p->mu);
	free(f);
	return NULL;
}

/* Threads converting: the CPUs online, at most GGUF_MAX_THREADS. */
static int thread_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > GGUF_MAX_THREADS ? GGUF_MAX_THREADS : (int)n;
}

static void pipe_release_input(struct pipe *p, const struct tensor *t,
			       const unsigned char *b, uint64_t n)
{
	if (t->src != p->dropping) {
		p->dropping = t->src;
		p->drop_ok = t->src->data && file_backed(t->src->data);
	}
	if (p->drop_ok)
		release(b, n);
}

/* w_put() of mapped input bytes, which SIGBUS if the input shrank under
 * its mapping (formats/guard.h). */
struct put_args {
	struct wr *w;
	const unsigned char *p;
	uint64_t n;
};

static int put_guarded(void *arg)
{
	struct put_args *a = arg;

	return w_put(a->w, a->p, a->n);
}

static int w_put_mapped(struct wr *w, const struct tensor *t,
			const unsigned char *p, uint64_t n)
{
	struct put_args a = { w, p, n };
	int rc;

	errno = 0;
	rc = guard_run(put_guarded, &a);
	/* A big piece goes straight to write(), which says EFAULT instead. */
	if (rc == GUARD_FAULT || (rc != 0 && errno == EFAULT)) {
		err_set(w->e, "tensor '%s': the file was cut short while it was read",
			t->name);
		return -1;
	}
	return rc;
}

/* Write the piece in sl, then its tensor's padding if it is the last. */
static int put_piece(struct wr *w, struct pipe *p, const struct slot *sl,
		     uint32_t alignment)
{
	const struct piece *pc = &sl->pc;
	const struct tensor *t = &p->m->tensors[pc->ti];
	const struct dtype_info *di = dtype_get(p->to[pc->ti]);

	if (sl->rc) {
		*w->e = sl->e;
		return -1;
	}
	if (!pc->convert) {
		if (w_put_mapped(w, t, t->data + pc->first, pc->n))
			return -1;
		pipe_release_input(p, t, t->data + pc->first, pc->n);
	} else {
		/* The input pages it was decoded from are dropped by
		 * tensor_read_f32() a window at a time (formats/pages.h); a
		 * madvise here for every piece would cost every CPU running
		 * a worker a TLB flush per piece.  But a worker still on an
		 * earlier piece may fault pages in again after the read
		 * that ends the tensor dropped them: once its last piece is
		 * written, every piece of the tensor is done with. */
		if (w_put(w, sl->buf, sl->bytes))
			return -1;
		if (pc->last)
			pages_done(t);
	}
	if (pc->last) {
		uint64_t nb = t->params / di->block * di->block_bytes;

		if (w_zeros(w, align_up(nb, alignment) - nb))
			return -1;
	}
	return w_tick(w);
}

/* The pieces in order, as the workers (or, without any, this thread)
 * finish them. */
static int write_pieces(struct wr *w, struct pipe *p, uint32_t alignment,
			int nworkers)
{
	float *f = nworkers ? NULL : xmalloc(SUB * sizeof(float));
	int rc = 0;

	for (uint64_t s = 0; s < p->npieces && !rc; s++) {
		struct slot *sl = &p->slots[s % p->nslot];

		pthread_mutex_lock(&p->mu);
		while (!(s < p->issued && sl->ready)) {
			if (nworkers)
				pthread_cond_wait(&p->done, &p->mu);
			else
				run_piece(p, f);
		}
		pthread_mutex_unlock(&p->mu);
		rc = put_piece(w, p, sl, alignment);
		pthread_mutex_lock(&p->mu);
		sl->ready = 0;
		p->written++;
		pthread_cond_broadcast(&p->work);
		pthread_mutex_unlock(&p->mu);
	}
	free(f);
	return rc;
}

/* The data section: every tensor in order, each padded to the
 * alignment. */
static int write_data(struct wr *w, const struct model *m,
		      const enum dtype *to, uint32_t alignment)
{
	pthread_t tid[GGUF_MAX_THREADS];
	struct pipe p;
	size_t ti = 0, buf_bytes = 0;
	uint64_t off = 0;
	struct piece pc;
	int nworkers = 0, want, rc;

	memset(&p, 0, sizeof(p));
	p.m = m;
	p.to = to;
	while (next_piece(&p, &ti, &off, &pc))
		p.npieces++;
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct dtype_info *di = dtype_get(to[i]);
		size_t b = PIECE / di->block * di->block_bytes;

		if (to[i] != m->tensors[i].dtype && b > buf_bytes)
			buf_bytes = b;
	}
	want = buf_bytes ? thread_count() : 0;
	p.nslot = 2 * (size_t)(want ? want : 1) + 2;
	p.slots = xcalloc(p.nslot, sizeof(*p.slots));
	for (size_t i = 0; buf_bytes && i < p.nslot; i++)
		p.slots[i].buf = xmalloc(buf_bytes);
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.work, NULL);
	pthread_cond_init(&p.done, NULL);
	for (int k = 0; k < want; k++)
		if (pthread_create(&tid[nworkers], NULL, worker, &p) == 0)
			nworkers++;

	rc = write_pieces(w, &p, alignment, nworkers);

	pthread_mutex_lock(&p.mu);
	p.stop = 1;
	pthread_cond_broadcast(&p.work);
	pthread_mutex_unlock(&p.mu);
	for (int k = 0; k < nworkers; k++)
		pthread_join(tid[k], NULL);
	pthread_cond_destroy(&p.done);
	pthread_cond_destroy(&p.work);
	pthread_mutex_destroy(&p.mu);
	for (size_t i = 0; i < p.nslot; i++)
		free(p.slots[i].buf);
	free(p.slots);
	return rc;
}

/* ---- checks before writing ---- */

static int is_gguf_source(const struct source *s)
{
	return s->size >= 4 && memcmp(s->data, "GGUF", 4) == 0;
}

/* The type tensor i is written in, checked; DT_NONE with e filled if it
 * cannot be. */
static enum dtype target_type(const struct model *m, const enum dtype *types,
			      size_t i, const char *out, struct err *e)
{
	const struct tensor *t = &m->tensors[i];
	enum dtype to = types && types[i] != DT_NONE ? types[i] : t->dtype;
	const struct dtype_info *ti = dtype_get(to), *si = dtype_get(t->dtype);
	char nb[256];
	uint64_t row = t->ndim ? t->shape[t->ndim - 1] : 1;

	text_sanitize(t->name, nb, sizeof(nb));
	if (!is_gguf_source(t->src)) {
		err_set(e, "'%s': tensor '%s' is not from a GGUF file; only GGUF models can be written as GGUF",
			m->path, nb);
		return DT_NONE;
	}
	if (to == t->dtype)
		return to;
	if (ti->ggml < 0 || !gguf_can_encode(to)) {
		err_set(e, "'%s': tensor '%s': qscope cannot write %s values to GGUF",
			out, nb, ti->name);
		return DT_NONE;
	}
	if (!si->decode) {
		err_set(e, "'%s': tensor '%s': values of %s cannot be decoded, so it can only be copied as %s",
			t->src->path, nb, si->name, si->name);
		return DT_NONE;
	}
	if (row % ti->block) {
		err_set(e, "'%s': tensor '%s': row of %llu is not a multiple of %s's block of %u",
			out, nb, (unsigned long long)row, ti->name, ti->block);
		return DT_NONE;
	}
	return to;
}

/* The sources whose KVs make the metadata, in the order the reader took
 * them: by first tensor (shard order), then the GGUF files without
 * tensors. */
static size_t kv_sources(const struct model *m, const struct source **out)
{
	size_t n = 0;

	for (size_t pass = 0; pass < 2; pass++) {
		size_t count = pass ? m->nsources : m->ntensors;

		for (size_t i = 0; i < count; i++) {
			const struct source *s = pass ? m->sources[i] :
							m->tensors[i].src;
			size_t k = 0;

			if (!is_gguf_source(s))
				continue;
			while (k < n && out[k] != s)
				k++;
			if (k == n)
				out[n++] = s;
		}
	}
	return n;
}

/* Which KVs go out: keep[i] for l->kv[i]. */
static void choose_kvs(const struct kvlist *l, int rewrite, char *keep)
{
	static const char *const dropped[] = {
		"split.no", "split.count", "split.tensors.count",
	};

	for (size_t i = 0; i < l->n; i++) {
		const struct kv *k = &l->kv[i];

		keep[i] = 1;
		for (size_t d = 0; d < sizeof(dropped) / sizeof(*dropped); d++)
			if (key_is(k, dropped[d]))
				keep[i] = 0;
		if (rewrite && (key_is(k, "general.quantization_version") ||
				key_is(k, "general.file_type")))
			keep[i] = 0;
		/* A repeated key: the first one counts.  Quadratic, but over
		 * the KVs (tens), not the tensors. */
		for (size_t p = 0; keep[i] && p < i; p++)
			if (l->kv[p].klen == k->klen &&
			    memcmp(l->kv[p].key, k->key, k->klen) == 0)
				keep[i] = 0;
	}
}

/* fsync the folder holding path, so that the rename is durable too. */
static void sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrdup(path) : xstrdup(".");
	int fd;

	if (slash)
		dir[slash == path ? 1 : slash - path] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Refuse out_path if it is an input file or a folder, or exists without
 * force. */
static int check_out(const struct model *m, const char *out, int force,
		     struct err *e)
{
	struct stat st, ss;

	if (stat(out, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		err_set(e, "'%s': %s", out, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < m->nsources; i++)
		if (stat(m->sources[i]->path, &ss) == 0 &&
		    ss.st_dev == st.st_dev && ss.st_ino == st.st_ino) {
			err_set(e, "'%s': is the input file; write elsewhere",
				out);
			return -1;
		}
	if (S_ISDIR(st.st_mode)) {
		err_set(e, "'%s': is a folder; give a file name", out);
		return -1;
	}
	if (!force) {
		err_set(e, "'%s': already exists", out);
		return -1;
	}
	return 0;
}

/* Put the finished temporary file in place. */
static int install(const char *tmp, const char *out, int force,
		   struct err *e)
{
	if (!force) {
		/* link() fails if out appeared meanwhile: never replace a
		 * file we were not told to. */
		if (link(tmp, out) == 0) {
			unlink(tmp);
			return 0;
		}
		if (errno == EEXIST) {
			err_set(e, "'%s': already exists", out);
			return -1;
		}
		/* No hard links on this file system: check, then rename. */
		if (access(out, F_OK) == 0) {
			err_set(e, "'%s': already exists", out);
			return -1;
		}
	}
	if (rename(tmp, out) != 0) {
		err_set(e, "'%s': cannot rename the finished file into place: %s",
			out, strerror(errno));
		return -1;
	}
	return 0;
}

int gguf_write(const struct model *m, const enum dtype *types,
	       const char *out_path, unsigned flags, gguf_progress_fn *cb,
	       void *arg, struct err *e)
{
	const struct source **srcs = NULL;
	struct kvlist kvs = { NULL, 0, 0 };
	enum dtype *to = NULL;
	uint64_t *offs = NULL, hdr, pos, data_start, by_type[DT_COUNT];
	uint32_t alignment = GGUF_DEFAULT_ALIGNMENT;
	char *keep = NULL, *tmp = NULL;
	int rewrite = 0, any_block = 0, qv = 0, ftype = -1, fd = -1, rc = -1;
	int force = (flags & GGUF_WRITE_FORCE) != 0;
	size_t nsrc, nkv_out = 0;
	struct wr *w = NULL;

	memset(by_type, 0, sizeof(by_type));

	/* What goes out: types, then the KVs. */
	to = xcalloc(m->ntensors, sizeof(*to));
	for (size_t i = 0; i < m->ntensors; i++) {
		to[i] = target_type(m, types, i, out_path, e);
		if (to[i] == DT_NONE)
			goto out;
		rewrite |= to[i] != m->tensors[i].dtype;
		any_block |= dtype_get(to[i])->block > 1;
		by_type[to[i]] += m->tensors[i].params;
	}
	srcs = xcalloc(m->nsources + 1, sizeof(*srcs));
	nsrc = kv_sources(m, srcs);
	if (!nsrc) {
		err_set(e, "'%s': not a GGUF model; only GGUF models can be written as GGUF",
			m->path);
		goto out;
	}
	for (size_t i = 0; i < nsrc; i++)
		if (walk_kvs(srcs[i], &kvs, e))
			goto out;
	keep = xcalloc(kvs.n + 1, 1);
	choose_kvs(&kvs, rewrite, keep);
	/* The alignment is what the general.alignment that goes out says
	 * (the reader checked it: a u32, a power of two). */
	for (size_t i = 0; i < kvs.n; i++) {
		const struct kv *k = &kvs.kv[i];

		if (!keep[i] || !key_is(k, "general.alignment"))
			continue;
		alignment = k->type == GT_U32 ? rd32(k->src->data + k->value) : 0;
		if (alignment == 0 || (alignment & (alignment - 1))) {
			err_set(e, "'%s': general.alignment is not a power of two",
				k->src->path);
			goto out;
		}
	}
	if (rewrite) {
		enum dtype top = DT_NONE;

		/* The main type: the most parameters; the first to get
		 * there in tensor order on a tie. */
		for (size_t i = 0; i < m->ntensors; i++)
			if (top == DT_NONE || by_type[to[i]] > by_type[top])
				top = to[i];
		qv = 1;
		ftype = top == DT_NONE ? -1 : gguf_ftype(top);
	} else if (any_block) {
		qv = 1;
		for (size_t i = 0; i < kvs.n; i++)
			if (keep[i] &&
			    key_is(&kvs.kv[i], "general.quantization_version"))
				qv = 0;
	}

	/* Sizes and offsets: the header, then each tensor at the previous
	 * offset plus its size rounded up to the alignment. */
	hdr = 4 + 4 + 8 + 8;
	for (size_t i = 0; i < kvs.n; i++) {
		uint64_t sz;

		if (!keep[i])
			continue;
		if (kv_out(&kvs.kv[i], NULL, &sz, e))
			goto out;
		hdr += sz;
		nkv_out++;
	}
	if (qv) {
		hdr += u32_kv_size("general.quantization_version");
		nkv_out++;
	}
	if (ftype >= 0) {
		hdr += u32_kv_size("general.file_type");
		nkv_out++;
	}
	offs = xcalloc(m->ntensors + 1, sizeof(*offs));
	pos = 0;
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];
		const struct dtype_info *di = dtype_get(to[i]);

		hdr += 8 + strlen(t->name) + 4 + 8 * (uint64_t)t->ndim + 4 + 8;
		offs[i] = pos;
		pos += align_up(t->params / di->block * di->block_bytes,
				alignment);
	}

	if (check_out(m, out_path, force, e))
		goto out;

	tmp = out_temp_name(out_path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		err_set(e, "'%s': cannot create a file next to it: %s",
			out_path, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	/* mkstemp() makes it 0600; a new file gets 0666 less the umask. */
	if (fchmod(fd, out_file_mode()) != 0) {
		err_set(e, "'%s': %s", tmp, strerror(errno));
		goto out;
	}

	w = xcalloc(1, sizeof(*w));
	w->fd = fd;
	w->path = out_path;
	w->cb = cb;
	w->arg = arg;
	w->e = e;
	/* No tensors, no data section: ggml then writes no padding. */
	data_start = m->ntensors ? align_up(hdr, alignment) : hdr;
	w->total = data_start + pos;

	if (w_put(w, "GGUF", 4) || w_u32(w, 3) || w_u64(w, m->ntensors) ||
	    w_u64(w, nkv_out))
		goto out;
	for (size_t i = 0; i < kvs.n; i++) {
		uint64_t sz;

		if (keep[i] && kv_out(&kvs.kv[i], w, &sz, e))
			goto out;
	}
	if ((qv && u32_kv_out(w, "general.quantization_version",
			      GGUF_QNT_VERSION)) ||
	    (ftype >= 0 && u32_kv_out(w, "general.file_type",
				      (uint32_t)ftype)))
		goto out;
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];

		if (w_u64(w, strlen(t->name)) ||
		    w_put(w, t->name, strlen(t->name)) ||
		    w_u32(w, (uint32_t)t->ndim))
			goto out;
		for (int d = t->ndim - 1; d >= 0; d--)
			if (w_u64(w, t->shape[d]))
				goto out;
		if (w_u32(w, (uint32_t)dtype_get(to[i])->ggml) ||
		    w_u64(w, offs[i]))
			goto out;
	}
	if (w_zeros(w, data_start - hdr) || w_tick(w))
		goto out;
	if (write_data(w, m, to, alignment))
		goto out;
	if (w_flush(w) || w_tick(w))
		goto out;
	if (w->done != w->total) {	/* a bug, not the file's fault */
		err_set(e, "'%s': wrote %llu bytes, expected %llu", out_path,
			(unsigned long long)w->done,
			(unsigned long long)w->total);
		goto out;
	}
	if (fsync(fd) != 0) {
		err_set(e, "'%s': cannot write: %s", out_path, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		err_set(e, "'%s': cannot write: %s", out_path, strerror(errno));
		goto out;
	}
	fd = -1;
	/* A cancel during fsync still stops us before the rename. */
	if (w_tick(w) || install(tmp, out_path, force, e))
		goto out;
	sync_dir(out_path);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		if (rc != 0)
			unlink(tmp);
		free(tmp);
	}
	free(w);
	free(offs);
	free(keep);
	free(kvs.kv);
	free(srcs);
	free(to);
	return rc;
}
