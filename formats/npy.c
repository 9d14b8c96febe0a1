/*
 * formats/npy.c - numpy .npy arrays and .npz archives of them.
 *
 * Layout (FORMATS.md 4): "\x93NUMPY", major 1-3, minor 0, a header length
 * (u16 for 1.0, u32 after), then a Python-literal dict with 'descr',
 * 'fortran_order' and 'shape', then the data.  The dict is read by a small
 * parser that knows exactly those three keys and their literal forms; it is
 * never evaluated.  A big-endian array is byte-swapped once into memory the
 * model owns; a Fortran-order one is listed with strides, so its values read
 * in row-major order.  An .npz is a zip of .npy members (formats/zip.h):
 * stored members are read in place, deflated ones inflated once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"
#include "formats/zip.h"

/* numpy reads at most 10000 header bytes unless told otherwise; allow
 * more (a dict is never this long) but stay bounded. */
#define NPY_MAX_HEADER (1u << 20)

static const unsigned char npy_magic[6] = { 0x93, 'N', 'U', 'M', 'P', 'Y' };

static int npy_sniff(const unsigned char *head, size_t len)
{
	return len >= 8 && memcmp(head, npy_magic, 6) == 0;
}

struct npy_header {
	char descr[32];
	int fortran;
	int ndim;
	uint64_t shape[MODEL_MAX_DIMS];
	int have;	/* bits: 1 descr, 2 fortran_order, 4 shape */
};

struct lex {
	const char *p, *end;
	const char *why;	/* what is wrong, for the message */
};

static void skip_ws(struct lex *l)
{
	while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' ||
				 *l->p == '\n' || *l->p == '\r'))
		l->p++;
}

static int eat(struct lex *l, char c)
{
	skip_ws(l);
	if (l->p < l->end && *l->p == c) {
		l->p++;
		return 1;
	}
	return 0;
}

/* A quoted string without escapes, into out (size n). */
static int lex_string(struct lex *l, char *out, size_t n)
{
	char q;
	size_t k = 0;

	skip_ws(l);
	if (l->p >= l->end || (*l->p != '\'' && *l->p != '"')) {
		l->why = "a string was expected";
		return -1;
	}
	q = *l->p++;
	while (l->p < l->end && *l->p != q) {
		if (*l->p == '\\' || k + 1 >= n) {
			l->why = *l->p == '\\' ? "escapes in strings are not read" :
						 "a string is too long";
			return -1;
		}
		out[k++] = *l->p++;
	}
	if (l->p >= l->end) {
		l->why = "a string is not closed";
		return -1;
	}
	l->p++;
	out[k] = '\0';
	return 0;
}

static int lex_word(struct lex *l, const char *w)
{
	size_t n = strlen(w);

	skip_ws(l);
	if ((size_t)(l->end - l->p) >= n && memcmp(l->p, w, n) == 0) {
		l->p += n;
		return 1;
	}
	return 0;
}

static int lex_uint(struct lex *l, uint64_t *v)
{
	uint64_t x = 0;
	int digits = 0;

	skip_ws(l);
	while (l->p < l->end && *l->p >= '0' && *l->p <= '9') {
		unsigned d = (unsigned)(*l->p - '0');

		if (x > (UINT64_MAX - d) / 10) {
			l->why = "a dimension does not fit in 64 bits";
			return -1;
		}
		x = x * 10 + d;
		l->p++;
		digits++;
	}
	if (!digits) {
		l->why = "shape holds something other than non-negative integers";
		return -1;
	}
	if (l->p < l->end && *l->p == 'L')	/* Python 2 long */
		l->p++;
	*v = x;
	return 0;
}

static int parse_shape(struct lex *l, struct npy_header *h)
{
	if (!eat(l, '(')) {
		l->why = "shape is not a tuple";
		return -1;
	}
	h->ndim = 0;
	for (;;) {
		if (eat(l, ')'))
			return 0;
		if (h->ndim == MODEL_MAX_DIMS) {
			l->why = "shape has more than 8 dimensions";
			return -1;
		}
		if (lex_uint(l, &h->shape[h->ndim]) != 0)
			return -1;
		h->ndim++;
		if (eat(l, ','))
			continue;
		if (eat(l, ')'))
			return 0;
		l->why = "shape is not a tuple of integers";
		return -1;
	}
}

/* The header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } */
static int parse_header(const char *text, size_t n, struct npy_header *h,
			const char **why)
{
	struct lex l = { text, text + n, NULL };
	char key[32];

	memset(h, 0, sizeof(*h));
	if (!eat(&l, '{')) {
		*why = "header is not a dict";
		return -1;
	}
	for (;;) {
		if (eat(&l, '}'))
			break;
		if (lex_string(&l, key, sizeof(key)) != 0)
			goto bad;
		if (!eat(&l, ':')) {
			l.why = "a key is not followed by ':'";
			goto bad;
		}
		if (strcmp(key, "descr") == 0 && !(h->have & 1)) {
			skip_ws(&l);
			if (l.p < l.end && *l.p == '[') {
				l.why = "structured dtypes (records) are not read";
				goto bad;
			}
			if (lex_string(&l, h->descr, sizeof(h->descr)) != 0)
				goto bad;
			h->have |= 1;
		} else if (strcmp(key, "fortran_order") == 0 &&
			   !(h->have & 2)) {
			if (lex_word(&l, "True"))
				h->fortran = 1;
			else if (lex_word(&l, "False"))
				h->fortran = 0;
			else {
				l.why = "fortran_order is not True or False";
				goto bad;
			}
			h->have |= 2;
		} else if (strcmp(key, "shape") == 0 && !(h->have & 4)) {
			if (parse_shape(&l, h) != 0)
				goto bad;
			h->have |= 4;
		} else {
			l.why = "header has an unexpected or repeated key";
			goto bad;
		}
		if (eat(&l, ','))
			continue;
		if (eat(&l, '}'))
			break;
		l.why = "header dict is malformed";
		goto bad;
	}
	skip_ws(&l);
	if (l.p != l.end) {
		*why = "header has text after the dict";
		return -1;
	}
	if (h->have != 7) {
		*why = "header lacks 'descr', 'fortran_order' or 'shape'";
		return -1;
	}
	return 0;
bad:
	*why = l.why ? l.why : "header dict is malformed";
	return -1;
}

static const struct {
	const char *kind;	/* descr without its byte-order character */
	enum dtype dtype;
	unsigned swap;		/* bytes per byte-swapped unit */
} npy_types[] = {
	{ "f2", DT_F16, 2 }, { "f4", DT_F32, 4 }, { "f8", DT_F64, 8 },
	{ "i1", DT_I8, 1 },  { "i2", DT_I16, 2 }, { "i4", DT_I32, 4 },
	{ "i8", DT_I64, 8 }, { "u1", DT_U8, 1 },  { "u2", DT_U16, 2 },
	{ "u4", DT_U32, 4 }, { "u8", DT_U64, 8 }, { "b1", DT_BOOL, 1 },
	{ "c8", DT_C64, 4 },  { "c16", DT_C128, 8 },
};

/* Copy n bytes from src to a new buffer, reversing each unit-byte group. */
static void *byteswap_copy(const unsigned char *src, uint64_t n,
			   unsigned unit)
{
	unsigned char *out = xmalloc(n ? (size_t)n : 1);

	for (uint64_t i = 0; i + unit <= n; i += unit)
		for (unsigned k = 0; k < unit; k++)
			out[i + k] = src[i + unit - 1 - k];
	return out;
}

/*
 * Add the array whose .npy bytes are src->data[base, base + len) to m as
 * tensor name.  who names it in messages.
 */
static int npy_add(struct model *m, struct source *src, uint64_t base,
		   uint64_t len, const char *name, const char *who,
		   struct err *e)
{
	const unsigned char *p = src->data + base;
	struct npy_header h;
	uint64_t hlen, start;
	unsigned major, swap = 0;
	const char *why, *kind;
	struct tensor *t;
	int big = 0;
	enum dtype dt = DT_NONE;

	if (len < 10 || memcmp(p, npy_magic, 6) != 0) {
		err_set(e, "'%s': not a .npy array (bad magic or too short)",
			who);
		return -1;
	}
	major = p[6];
	if (major < 1 || major > 3) {
		err_set(e, "'%s': .npy version %u.%u is not read (only 1, 2 and 3)",
			who, major, p[7]);
		return -1;
	}
	if (major == 1) {
		hlen = (uint64_t)p[8] | ((uint64_t)p[9] << 8);
		start = 10;
	} else {
		if (len < 12) {
			err_set(e, "'%s': .npy header is truncated", who);
			return -1;
		}
		hlen = (uint64_t)p[8] | ((uint64_t)p[9] << 8) |
		       ((uint64_t)p[10] << 16) | ((uint64_t)p[11] << 24);
		start = 12;
	}
	if (hlen > NPY_MAX_HEADER) {
		err_set(e, "'%s': .npy header of %llu bytes is longer than the %u allowed",
			who, (unsigned long long)hlen, NPY_MAX_HEADER);
		return -1;
	}
	if (hlen > len - start) {
		err_set(e, "'%s': .npy header (%llu bytes) runs past the end of the data (%llu bytes)",
			who, (unsigned long long)hlen,
			(unsigned long long)len);
		return -1;
	}
	if (parse_header((const char *)p + start, (size_t)hlen, &h, &why)) {
		err_set(e, "'%s': .npy %s", who, why);
		return -1;
	}
	kind = h.descr;
	if (*kind == '<' || *kind == '>' || *kind == '|' || *kind == '=') {
		big = *kind == '>';
		kind++;
	}
	if (kind[0] == 'O') {
		err_set(e, "'%s': object arrays (pickled Python objects) are not read",
			who);
		return -1;
	}
	for (size_t i = 0; i < sizeof(npy_types) / sizeof(npy_types[0]); i++)
		if (strcmp(kind, npy_types[i].kind) == 0) {
			dt = npy_types[i].dtype;
			swap = big ? npy_types[i].swap : 1;
		}
	if (dt == DT_NONE) {
		char d[64];

		err_set(e, "'%s': numpy dtype '%s' is not read", who,
			text_sanitize(h.descr, d, sizeof(d)));
		return -1;
	}

	t = model_add_tensor(m, name, e);
	if (!t) {
		err_set(e, "'%s': duplicate tensor name", who);
		return -1;
	}
	t->dtype = dt;
	t->ndim = h.ndim;
	memcpy(t->shape, h.shape, sizeof(h.shape));
	if (tensor_set_size(t, who, e) != 0)
		return -1;
	start += hlen;
	if (t->nbytes > len - start) {
		err_set(e, "'%s': array data is truncated: %llu bytes of %llu",
			who, (unsigned long long)(len - start),
			(unsigned long long)t->nbytes);
		return -1;
	}
	t->src = src;
	t->offset = base + start;
	if (swap > 1) {
		char path[1100];
		void *buf = byteswap_copy(src->data + t->offset, t->nbytes,
					  swap);

		snprintf(path, sizeof(path), "%s (byte-swapped)", who);
		t->src = model_add_source_buffer(m, path, buf, t->nbytes);
		t->offset = 0;
	}
	t->data = t->src->data + t->offset;
	if (h.fortran && h.ndim > 1) {
		uint64_t st[MODEL_MAX_DIMS], s = 1;

		for (int i = 0; i < h.ndim; i++) {
			st[i] = s;
			s *= h.shape[i] ? h.shape[i] : 1;
		}
		if (t->params && tensor_set_strides(t, st, who, e) != 0)
			return -1;
	}
	return 0;
}

static int npy_open(struct model *m, struct source *src, struct err *e)
{
	return npy_add(m, src, 0, src->size, "", src->path, e);
}

/* An .npz: a zip whose first member is a .npy (the name must fit in the
 * bytes sniff sees; a longer one is found by the archive reader). */
static int npz_sniff(const unsigned char *head, size_t len)
{
	size_t nlen;

	if (!zip_sniff(head, len) || len < 30)
		return 0;
	nlen = (size_t)head[26] | ((size_t)head[27] << 8);
	return nlen >= 4 && 30 + nlen <= len &&
	       memcmp(head + 30 + nlen - 4, ".npy", 4) == 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

int npz_open_source(struct model *m, struct source *src, struct err *e)
{
	struct zip z;
	int rc = -1;

	if (zip_open(&z, src, e) != 0)
		return -1;
	for (size_t i = 0; i < z.n; i++) {
		const struct zip_member *zm = &z.members[i];
		char who[1100], name[1024], clean[256];
		struct source *s = src;
		size_t nl = strlen(zm->name);

		if (!ends_with(zm->name, ".npy") || nl - 4 >= sizeof(name))
			continue;
		memcpy(who, zm->name, nl - 4);
		who[nl - 4] = '\0';
		text_sanitize(who, name, sizeof(name));
		snprintf(who, sizeof(who), "%s:%s", src->path,
			 text_sanitize(zm->name, clean, sizeof(clean)));
		if (zm->method != ZIP_STORED) {
			/* Inflated into memory or a temporary file. */
			s = zip_member_source(m, &z, src, zm, UINT64_MAX, who,
					      e);
			if (!s)
				goto out;
		} else {
			const unsigned char *data;
			void *owned;

			/* Checked, and read in place. */
			if (zip_member_data(src, zm, UINT64_MAX, &data, &owned,
					    e) != 0)
				goto out;
		}
		if (npy_add(m, s, s == src ? zm->data_offset : 0, zm->usize,
			    name, who, e) != 0)
			goto out;
	}
	rc = 0;
out:
	zip_release(&z);
	return rc;
}

const struct format format_npy = { "npy", npy_sniff, npy_open };
const struct format format_npz = { "npz", npz_sniff, npz_open_source };
