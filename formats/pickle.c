/*
 * formats/pickle.c - the restricted unpickler (see pickle.h).
 *
 * Opcodes: protocols 0-5 as torch.save and torch's weights-only loader use
 * them (FORMATS.md 3.4).  Refused: INST, OBJ (they call), EXT1/2/4 (the
 * copyreg registry), PERSID (text persistent ids), NEXT_BUFFER and
 * READONLY_BUFFER (out-of-band data), and anything unknown.
 */
#include "formats/pickle.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* MARKs open at once, and containers nested inside each other when the
 * result is walked: real checkpoints stay under 20. */
#define PK_MAX_DEPTH 1000
/* The stack and the memo never hold more entries than opcodes were read,
 * so both are bounded by the pickle's length; a memo index is refused
 * beyond this many entries (torch numbers them 0, 1, 2...). */
#define PK_MAX_MEMO (1u << 24)

enum role {
	R_NONE,		/* inert: only NEWOBJ may use it (as a class) */
	R_ODICT,	/* collections.OrderedDict / Counter */
	R_REBUILD_V1,	/* torch._utils._rebuild_tensor */
	R_REBUILD_V2,
	R_REBUILD_V3,
	R_PARAM,	/* _rebuild_parameter, nn.Parameter */
	R_PARAM_STATE,	/* _rebuild_parameter_with_state */
	R_STORAGE,	/* torch.FloatStorage ... : a dtype */
	R_UNTYPED,	/* torch.UntypedStorage: bytes */
	R_DTYPE,	/* torch.float16 ... */
	R_SIZE,		/* torch.Size */
	R_DEVICE,	/* torch.device */
	R_ENCODE,	/* _codecs.encode */
	R_SET,		/* builtins.set / frozenset */
	R_BYTEARRAY,
	R_QTENSOR,	/* recognised but refused with a better message */
};

static const struct allowed {
	const char *module, *name;
	enum role role;
	enum dtype dtype;
} allowed[] = {
	{ "collections", "OrderedDict", R_ODICT, DT_NONE },
	{ "collections", "Counter", R_ODICT, DT_NONE },
	{ "torch._utils", "_rebuild_tensor", R_REBUILD_V1, DT_NONE },
	{ "torch._utils", "_rebuild_tensor_v2", R_REBUILD_V2, DT_NONE },
	{ "torch._utils", "_rebuild_tensor_v3", R_REBUILD_V3, DT_NONE },
	{ "torch._utils", "_rebuild_parameter", R_PARAM, DT_NONE },
	{ "torch._utils", "_rebuild_parameter_with_state", R_PARAM_STATE, DT_NONE },
	{ "torch.nn.parameter", "Parameter", R_PARAM, DT_NONE },
	{ "torch._utils", "_rebuild_qtensor", R_QTENSOR, DT_NONE },
	{ "torch", "DoubleStorage", R_STORAGE, DT_F64 },
	{ "torch", "FloatStorage", R_STORAGE, DT_F32 },
	{ "torch", "HalfStorage", R_STORAGE, DT_F16 },
	{ "torch", "BFloat16Storage", R_STORAGE, DT_BF16 },
	{ "torch", "LongStorage", R_STORAGE, DT_I64 },
	{ "torch", "IntStorage", R_STORAGE, DT_I32 },
	{ "torch", "ShortStorage", R_STORAGE, DT_I16 },
	{ "torch", "CharStorage", R_STORAGE, DT_I8 },
	{ "torch", "ByteStorage", R_STORAGE, DT_U8 },
	{ "torch", "BoolStorage", R_STORAGE, DT_BOOL },
	{ "torch", "ComplexFloatStorage", R_STORAGE, DT_C64 },
	{ "torch", "ComplexDoubleStorage", R_STORAGE, DT_C128 },
	{ "torch", "UntypedStorage", R_UNTYPED, DT_U8 },
	{ "torch.storage", "UntypedStorage", R_UNTYPED, DT_U8 },
	{ "torch", "float64", R_DTYPE, DT_F64 },
	{ "torch", "float32", R_DTYPE, DT_F32 },
	{ "torch", "float16", R_DTYPE, DT_F16 },
	{ "torch", "bfloat16", R_DTYPE, DT_BF16 },
	{ "torch", "int64", R_DTYPE, DT_I64 },
	{ "torch", "int32", R_DTYPE, DT_I32 },
	{ "torch", "int16", R_DTYPE, DT_I16 },
	{ "torch", "int8", R_DTYPE, DT_I8 },
	{ "torch", "uint8", R_DTYPE, DT_U8 },
	{ "torch", "uint16", R_DTYPE, DT_U16 },
	{ "torch", "uint32", R_DTYPE, DT_U32 },
	{ "torch", "uint64", R_DTYPE, DT_U64 },
	{ "torch", "bool", R_DTYPE, DT_BOOL },
	{ "torch", "complex64", R_DTYPE, DT_C64 },
	{ "torch", "complex128", R_DTYPE, DT_C128 },
	{ "torch", "float8_e4m3fn", R_DTYPE, DT_F8_E4M3 },
	{ "torch", "float8_e5m2", R_DTYPE, DT_F8_E5M2 },
	{ "torch", "float8_e4m3fnuz", R_DTYPE, DT_F8_E4M3FNUZ },
	{ "torch", "float8_e5m2fnuz", R_DTYPE, DT_F8_E5M2FNUZ },
	{ "torch", "float8_e8m0fnu", R_DTYPE, DT_F8_E8M0 },
	{ "torch", "Size", R_SIZE, DT_NONE },
	{ "torch", "device", R_DEVICE, DT_NONE },
	{ "_codecs", "encode", R_ENCODE, DT_NONE },
	{ "builtins", "set", R_SET, DT_NONE },
	{ "builtins", "frozenset", R_SET, DT_NONE },
	{ "builtins", "bytearray", R_BYTEARRAY, DT_NONE },
	{ "__builtin__", "set", R_SET, DT_NONE },
	{ "__builtin__", "frozenset", R_SET, DT_NONE },
	{ "__builtin__", "bytearray", R_BYTEARRAY, DT_NONE },
};

/* Modules that hold code, not classes a checkpoint's objects could be:
 * any global from them is refused outright. */
static const char *const code_modules[] = {
	"os", "posix", "nt", "sys", "subprocess", "builtins", "__builtin__",
	"shutil", "socket", "importlib", "runpy", "pickle", "_pickle",
	"ctypes", "pty", "code", "codeop", "codecs", "_codecs", "operator",
	"functools", "types", "copyreg", "copy_reg", "webbrowser", "marshal",
	"io", "_io", "tempfile", "pathlib", "multiprocessing", "signal",
	"asyncio", "threading", "_thread", "urllib", "http", "ftplib",
	"smtplib", "telnetlib", "pdb", "bdb", "timeit", "trace", "profile",
	"cProfile", "platform", "getpass", "glob", "zipimport", "pip",
	"setuptools", "distutils", "numpy.testing", "torch.serialization",
	"torch.storage", "torch._utils", "torch.hub", "torch.jit",
	"torch._C", "torch.utils", "posixpath", "ntpath", "inspect", "gc",
	"sqlite3", "select", "selectors", "mmap", "resource", "fcntl",
};

struct vm {
	struct pickle *p;
	const unsigned char *buf;
	size_t len, pos;
	const char *who;
	struct err *e;
	struct pk_obj **stack;
	size_t sp, stack_alloc;
	size_t *marks;
	size_t nmarks;
	struct pk_obj **memo;
	size_t nmemo;
};

static int fail(struct vm *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct vm *v, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(v->e, "%s: %s", v->who, msg);
	return -1;
}

static struct pk_obj *obj_new(struct pickle *p, enum pk_kind kind)
{
	struct pk_obj *o = xcalloc(1, sizeof(*o));

	if (p->narena == p->arena_alloc) {
		p->arena_alloc = p->arena_alloc ? p->arena_alloc * 2 : 64;
		p->arena = xrealloc(p->arena,
				    p->arena_alloc * sizeof(*p->arena));
	}
	p->arena[p->narena++] = o;
	o->kind = kind;
	return o;
}

static char *str_keep(struct pickle *p, const void *s, size_t n)
{
	char *c = xmalloc(n + 1);

	memcpy(c, s, n);
	c[n] = '\0';
	if (p->nstrings == p->strings_alloc) {
		p->strings_alloc = p->strings_alloc ? p->strings_alloc * 2 : 64;
		p->strings = xrealloc(p->strings,
				      p->strings_alloc * sizeof(*p->strings));
	}
	p->strings[p->nstrings++] = c;
	return c;
}

static void item_add(struct pk_obj *c, struct pk_obj *x)
{
	if (c->n == c->alloc) {
		c->alloc = c->alloc ? c->alloc * 2 : 4;
		c->items = xrealloc(c->items, c->alloc * sizeof(*c->items));
	}
	c->items[c->n++] = x;
}

void pickle_release(struct pickle *p)
{
	for (size_t i = 0; i < p->narena; i++) {
		free(p->arena[i]->items);
		free(p->arena[i]);
	}
	for (size_t i = 0; i < p->nstrings; i++)
		free(p->strings[i]);
	free(p->arena);
	free(p->strings);
	memset(p, 0, sizeof(*p));
}

const char *pickle_type_name(const struct pk_obj *o)
{
	static const char *const names[] = {
		[PK_NONE] = "NoneType", [PK_BOOL] = "bool", [PK_INT] = "int",
		[PK_BIGINT] = "int", [PK_FLOAT] = "float", [PK_STR] = "str",
		[PK_BYTES] = "bytes", [PK_TUPLE] = "tuple", [PK_LIST] = "list",
		[PK_SET] = "set", [PK_DICT] = "dict", [PK_GLOBAL] = "global",
		[PK_STORAGE] = "storage", [PK_TENSOR] = "tensor",
		[PK_OBJECT] = "object",
	};
	return names[o->kind];
}

/* ---- the stack ---- */

static void push(struct vm *v, struct pk_obj *o)
{
	if (v->sp == v->stack_alloc) {
		v->stack_alloc = v->stack_alloc ? v->stack_alloc * 2 : 64;
		v->stack = xrealloc(v->stack,
				    v->stack_alloc * sizeof(*v->stack));
	}
	v->stack[v->sp++] = o;
}

static size_t floor_(const struct vm *v)
{
	return v->nmarks ? v->marks[v->nmarks - 1] : 0;
}

static struct pk_obj *pop(struct vm *v, const char *op)
{
	if (v->sp <= floor_(v)) {
		fail(v, "%s on an empty stack (at byte %zu)", op, v->pos);
		return NULL;
	}
	return v->stack[--v->sp];
}

static struct pk_obj *top(struct vm *v, const char *op)
{
	if (v->sp <= floor_(v)) {
		fail(v, "%s on an empty stack (at byte %zu)", op, v->pos);
		return NULL;
	}
	return v->stack[v->sp - 1];
}

/* Pop to the last MARK; the items are v->stack[*first .. v->sp). */
static int pop_mark(struct vm *v, const char *op, size_t *first)
{
	if (!v->nmarks)
		return fail(v, "%s without a MARK (at byte %zu)", op, v->pos);
	*first = v->marks[--v->nmarks];
	return 0;
}

/* ---- reading arguments ---- */

static int need(struct vm *v, uint64_t n, const char *op)
{
	if (n > v->len - v->pos)
		return fail(v, "%s needs %llu bytes, only %zu are left (at byte %zu)",
			    op, (unsigned long long)n, v->len - v->pos,
			    v->pos);
	return 0;
}

static uint64_t rd_le(const unsigned char *p, int n)
{
	uint64_t x = 0;

	for (int i = n - 1; i >= 0; i--)
		x = (x << 8) | p[i];
	return x;
}

/* A newline-terminated argument; *n excludes the newline. */
static const char *line(struct vm *v, size_t *n, const char *op)
{
	const unsigned char *s = v->buf + v->pos;
	const unsigned char *nl = memchr(s, '\n', v->len - v->pos);

	if (!nl) {
		fail(v, "%s argument has no end of line (at byte %zu)", op,
		     v->pos);
		return NULL;
	}
	*n = (size_t)(nl - s);
	v->pos += *n + 1;
	return (const char *)s;
}

/* ---- globals ---- */

/* The code module m is, or is under ("os.path" is under "os"). */
static int code_module(const char *m)
{
	for (size_t i = 0; i < sizeof(code_modules) / sizeof(*code_modules);
	     i++) {
		size_t n = strlen(code_modules[i]);

		if (strncmp(m, code_modules[i], n) == 0 &&
		    (m[n] == '\0' || m[n] == '.'))
			return 1;
	}
	return 0;
}

static int global(struct vm *v, const char *mod, size_t mn, const char *name,
		  size_t nn)
{
	struct pk_obj *g;
	char m[256], n[256];

	if (mn >= sizeof(m) || nn >= sizeof(n) || !mn || !nn)
		return fail(v, "a global name of %zu+%zu bytes (at byte %zu)",
			    mn, nn, v->pos);
	memcpy(m, mod, mn);
	m[mn] = '\0';
	memcpy(n, name, nn);
	n[nn] = '\0';
	g = obj_new(v->p, PK_GLOBAL);
	g->module = str_keep(v->p, m, mn);
	g->name = str_keep(v->p, n, nn);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(*allowed); i++)
		if (strcmp(allowed[i].module, m) == 0 &&
		    strcmp(allowed[i].name, n) == 0) {
			g->role = (int)allowed[i].role;
			g->dtype = allowed[i].dtype;
			push(v, g);
			return 0;
		}
	if (code_module(m) || strchr(n, '.')) {
		char a[128], b[128];

		return fail(v, "global '%s.%s' is not allowed",
			    text_sanitize(m, a, sizeof(a)),
			    text_sanitize(n, b, sizeof(b)));
	}
	g->role = R_NONE;
	push(v, g);
	return 0;
}

static int not_allowed(struct vm *v, const struct pk_obj *g, const char *why)
{
	char a[128], b[128];

	if (g->kind != PK_GLOBAL)
		return fail(v, "%s on a %s, not a global (at byte %zu)", why,
			    pickle_type_name(g), v->pos);
	return fail(v, "global '%s.%s' is not allowed (%s)",
		    text_sanitize(g->module, a, sizeof(a)),
		    text_sanitize(g->name, b, sizeof(b)), why);
}

/* ---- REDUCE on the allow-list ---- */

static int get_int(const struct pk_obj *o, int64_t *x)
{
	if (o->kind != PK_INT && o->kind != PK_BOOL)
		return 0;
	*x = o->i;
	return 1;
}

static int int_tuple(struct vm *v, const struct pk_obj *t, uint64_t *out,
		     int *n, const char *what)
{
	if (t->kind != PK_TUPLE && t->kind != PK_LIST)
		return fail(v, "tensor %s is a %s, not a tuple", what,
			    pickle_type_name(t));
	if (t->n > MODEL_MAX_DIMS)
		return fail(v, "tensor %s has %zu dimensions (at most %d)",
			    what, t->n, MODEL_MAX_DIMS);
	for (size_t i = 0; i < t->n; i++) {
		int64_t x;

		if (!get_int(t->items[i], &x) || x < 0)
			return fail(v, "tensor %s holds something other than a non-negative integer",
				    what);
		out[i] = (uint64_t)x;
	}
	*n = (int)t->n;
	return 0;
}

static struct pk_obj *rebuild_tensor(struct vm *v, enum role r,
				     const struct pk_obj *args)
{
	size_t want = r == R_REBUILD_V1 ? 4 : r == R_REBUILD_V2 ? 6 : 7;
	struct pk_obj *t, *st;
	int64_t off;
	int n1, n2;

	if (args->n < want) {
		fail(v, "tensor record with %zu arguments (expected %zu)",
		     args->n, want);
		return NULL;
	}
	st = args->items[0];
	if (st->kind != PK_STORAGE) {
		fail(v, "tensor record whose storage is a %s",
		     pickle_type_name(st));
		return NULL;
	}
	if (!get_int(args->items[1], &off) || off < 0) {
		fail(v, "tensor record with a bad storage offset");
		return NULL;
	}
	t = obj_new(v->p, PK_TENSOR);
	t->storage = st;
	t->storage_offset = (uint64_t)off;
	t->dtype = st->dtype;
	if (int_tuple(v, args->items[2], t->shape, &n1, "size") ||
	    int_tuple(v, args->items[3], t->stride, &n2, "stride"))
		return NULL;
	if (n1 != n2) {
		fail(v, "tensor record with %d sizes but %d strides", n1, n2);
		return NULL;
	}
	t->ndim = n1;
	if (r == R_REBUILD_V3) {
		const struct pk_obj *d = args->items[6];

		if (d->kind != PK_GLOBAL || d->role != R_DTYPE) {
			fail(v, "tensor record with an unknown dtype");
			return NULL;
		}
		t->dtype = d->dtype;
	}
	return t;
}

static struct pk_obj *reduce(struct vm *v, struct pk_obj *f,
			     struct pk_obj *args)
{
	struct pk_obj *o;

	if (f->kind != PK_GLOBAL || f->role == R_NONE ||
	    f->role == R_STORAGE || f->role == R_UNTYPED ||
	    f->role == R_DTYPE) {
		not_allowed(v, f, "REDUCE would call it");
		return NULL;
	}
	if (args->kind != PK_TUPLE) {
		fail(v, "REDUCE arguments are a %s, not a tuple",
		     pickle_type_name(args));
		return NULL;
	}
	switch ((enum role)f->role) {
	case R_ODICT:
		o = obj_new(v->p, PK_DICT);
		o->module = f->module;
		o->name = f->name;
		if (args->n == 1 && (args->items[0]->kind == PK_LIST ||
				     args->items[0]->kind == PK_TUPLE)) {
			/* OrderedDict([(k, v), ...]) */
			for (size_t i = 0; i < args->items[0]->n; i++) {
				struct pk_obj *kv = args->items[0]->items[i];

				if ((kv->kind != PK_TUPLE &&
				     kv->kind != PK_LIST) || kv->n != 2) {
					fail(v, "OrderedDict item is not a pair");
					return NULL;
				}
				item_add(o, kv->items[0]);
				item_add(o, kv->items[1]);
			}
		} else if (args->n) {
			fail(v, "OrderedDict with %zu arguments", args->n);
			return NULL;
		}
		return o;
	case R_REBUILD_V1:
	case R_REBUILD_V2:
	case R_REBUILD_V3:
		return rebuild_tensor(v, (enum role)f->role, args);
	case R_PARAM:
	case R_PARAM_STATE:
		if (!args->n || args->items[0]->kind != PK_TENSOR) {
			fail(v, "parameter record without a tensor");
			return NULL;
		}
		args->items[0]->parameter = 1;
		return args->items[0];
	case R_SIZE:
		if (args->n != 1 || (args->items[0]->kind != PK_TUPLE &&
				     args->items[0]->kind != PK_LIST)) {
			fail(v, "torch.Size without a tuple");
			return NULL;
		}
		o = obj_new(v->p, PK_TUPLE);
		for (size_t i = 0; i < args->items[0]->n; i++)
			item_add(o, args->items[0]->items[i]);
		return o;
	case R_DEVICE:
		if (args->n < 1 || args->items[0]->kind != PK_STR) {
			fail(v, "torch.device without a string");
			return NULL;
		}
		return args->items[0];
	case R_ENCODE:
		/* _codecs.encode(text, 'latin1'): the bytes whose values are
		 * the code points of text (each below 256). */
		if (args->n != 2 || args->items[0]->kind != PK_STR ||
		    args->items[1]->kind != PK_STR ||
		    (strcmp(args->items[1]->s, "latin1") != 0 &&
		     strcmp(args->items[1]->s, "latin-1") != 0)) {
			fail(v, "_codecs.encode other than (text, 'latin1')");
			return NULL;
		}
		o = obj_new(v->p, PK_BYTES);
		{
			char *b = str_keep(v->p, args->items[0]->s,
					   args->items[0]->len);
			const unsigned char *s = (const unsigned char *)b;
			size_t n = args->items[0]->len, k = 0;

			for (size_t i = 0; i < n; i++) {
				if (s[i] < 0x80) {
					b[k++] = (char)s[i];
				} else if ((s[i] & 0xE0) == 0xC0 &&
					   i + 1 < n && s[i] <= 0xC3) {
					b[k++] = (char)(((s[i] & 3) << 6) |
							(s[i + 1] & 0x3F));
					i++;
				} else {
					fail(v, "_codecs.encode of a character past U+00FF");
					return NULL;
				}
			}
			b[k] = '\0';
			o->s = b;
			o->len = k;
		}
		return o;
	case R_SET:
		o = obj_new(v->p, PK_SET);
		if (args->n == 1 && (args->items[0]->kind == PK_LIST ||
				     args->items[0]->kind == PK_TUPLE ||
				     args->items[0]->kind == PK_SET)) {
			for (size_t i = 0; i < args->items[0]->n; i++)
				item_add(o, args->items[0]->items[i]);
		} else if (args->n) {
			fail(v, "set of something other than a list");
			return NULL;
		}
		return o;
	case R_BYTEARRAY:
		if (args->n == 0)
			return obj_new(v->p, PK_BYTES);
		if (args->n == 1 && args->items[0]->kind == PK_BYTES)
			return args->items[0];
		fail(v, "bytearray of something other than bytes");
		return NULL;
	case R_QTENSOR:
		fail(v, "quantized tensors (torch._utils._rebuild_qtensor) are not supported");
		return NULL;
	default:
		not_allowed(v, f, "REDUCE would call it");
		return NULL;
	}
}

/* BINPERSID: ('storage', class, key, location, numel[, view]) */
static struct pk_obj *persistent(struct vm *v, struct pk_obj *pid)
{
	struct pk_obj *s, *cls;
	int64_t numel;

	if (pid->kind != PK_TUPLE || pid->n < 5 ||
	    pid->items[0]->kind != PK_STR ||
	    strcmp(pid->items[0]->s, "storage") != 0) {
		if (pid->kind == PK_TUPLE && pid->n && pid->items[0]->kind ==
		    PK_STR && strcmp(pid->items[0]->s, "module") == 0)
			fail(v, "a module saved by source reference is not supported");
		else
			fail(v, "persistent id is not a ('storage', ...) tuple");
		return NULL;
	}
	cls = pid->items[1];
	if (cls->kind != PK_GLOBAL ||
	    (cls->role != R_STORAGE && cls->role != R_UNTYPED)) {
		if (cls->kind == PK_GLOBAL) {
			char a[128], b[128];

			fail(v, "storage class '%s.%s' is not supported",
			     text_sanitize(cls->module, a, sizeof(a)),
			     text_sanitize(cls->name, b, sizeof(b)));
		} else {
			fail(v, "storage class is a %s",
			     pickle_type_name(cls));
		}
		return NULL;
	}
	if (pid->items[2]->kind != PK_STR && pid->items[2]->kind != PK_INT) {
		fail(v, "storage key is a %s", pickle_type_name(pid->items[2]));
		return NULL;
	}
	if (!get_int(pid->items[4], &numel) || numel < 0) {
		fail(v, "storage with a bad element count");
		return NULL;
	}
	s = obj_new(v->p, PK_STORAGE);
	s->dtype = cls->dtype;
	if (pid->items[2]->kind == PK_STR) {
		s->key = pid->items[2]->s;
	} else {
		char k[32];

		snprintf(k, sizeof(k), "%lld", (long long)pid->items[2]->i);
		s->key = str_keep(v->p, k, strlen(k));
	}
	s->numel = (uint64_t)numel;
	if (pid->n >= 6 && pid->items[5]->kind == PK_TUPLE) {
		const struct pk_obj *vw = pid->items[5];
		int64_t off, n;

		if (vw->n != 3 || vw->items[0]->kind != PK_STR ||
		    !get_int(vw->items[1], &off) ||
		    !get_int(vw->items[2], &n) || off < 0 || n < 0) {
			fail(v, "bad storage view record");
			return NULL;
		}
		s->view_key = vw->items[0]->s;
		s->view_offset = (uint64_t)off;
		s->view_numel = (uint64_t)n;
	}
	return s;
}

/* ---- the loop ---- */

static int memo_put(struct vm *v, uint64_t idx)
{
	struct pk_obj *o = top(v, "PUT");

	if (!o)
		return -1;
	if (idx >= PK_MAX_MEMO || idx > v->len)
		return fail(v, "memo index %llu is out of range (at byte %zu)",
			    (unsigned long long)idx, v->pos);
	if (idx >= v->nmemo) {
		size_t n = (size_t)idx + 1;

		v->memo = xrealloc(v->memo, n * sizeof(*v->memo));
		memset(v->memo + v->nmemo, 0,
		       (n - v->nmemo) * sizeof(*v->memo));
		v->nmemo = n;
	}
	v->memo[idx] = o;
	return 0;
}

static int memo_get(struct vm *v, uint64_t idx)
{
	if (idx >= v->nmemo || !v->memo[idx])
		return fail(v, "memo index %llu was never stored (at byte %zu)",
			    (unsigned long long)idx, v->pos);
	push(v, v->memo[idx]);
	return 0;
}

static int push_str(struct vm *v, enum pk_kind kind, uint64_t n,
		    const char *op)
{
	struct pk_obj *o;

	if (need(v, n, op))
		return -1;
	o = obj_new(v->p, kind);
	o->s = str_keep(v->p, v->buf + v->pos, (size_t)n);
	o->len = (size_t)n;
	v->pos += (size_t)n;
	push(v, o);
	return 0;
}

static int push_long(struct vm *v, uint64_t n)
{
	const unsigned char *b;
	struct pk_obj *o;

	if (need(v, n, "LONG"))
		return -1;
	b = v->buf + v->pos;
	if (n <= 8) {
		uint64_t x = n ? rd_le(b, (int)n) : 0;

		if (n && n < 8 && (b[n - 1] & 0x80))
			x |= ~0ull << (8 * n);	/* sign-extend */
		o = obj_new(v->p, PK_INT);
		o->i = (int64_t)x;
	} else {
		o = obj_new(v->p, PK_BIGINT);
		o->s = str_keep(v->p, b, (size_t)n);
		o->len = (size_t)n;
	}
	v->pos += (size_t)n;
	push(v, o);
	return 0;
}

static int push_int(struct vm *v, int64_t x)
{
	struct pk_obj *o = obj_new(v->p, PK_INT);

	o->i = x;
	push(v, o);
	return 0;
}

/* Pop to mark into a new container of kind. */
static int collect(struct vm *v, enum pk_kind kind, const char *op)
{
	struct pk_obj *o;
	size_t first = 0;

	if (pop_mark(v, op, &first))
		return -1;
	o = obj_new(v->p, kind);
	for (size_t i = first; i < v->sp; i++)
		item_add(o, v->stack[i]);
	v->sp = first;
	if (kind == PK_DICT && o->n % 2)
		return fail(v, "DICT with an odd number of items");
	push(v, o);
	return 0;
}

/* SETITEM(S), APPEND(S), ADDITEMS: items stack[first..sp) into the
 * container just below them. */
static int add_items(struct vm *v, size_t first, enum pk_kind want,
		     const char *op)
{
	struct pk_obj *c;

	if (first == 0 || first <= floor_(v))
		return fail(v, "%s without a container (at byte %zu)", op,
			    v->pos);
	c = v->stack[first - 1];
	if (c->kind != want && !(want == PK_LIST && c->kind == PK_SET &&
				 strcmp(op, "ADDITEMS") == 0))
		return fail(v, "%s on a %s (at byte %zu)", op,
			    pickle_type_name(c), v->pos);
	if (want == PK_DICT && (v->sp - first) % 2)
		return fail(v, "%s with an odd number of items", op);
	for (size_t i = first; i < v->sp; i++)
		item_add(c, v->stack[i]);
	v->sp = first;
	return 0;
}

static int step(struct vm *v, unsigned op, int *stop)
{
	struct pk_obj *a, *b, *c;
	size_t n, first = 0;
	const char *s, *t;

	switch (op) {
	case 0x80:	/* PROTO */
		if (need(v, 1, "PROTO"))
			return -1;
		if (v->buf[v->pos] > 5)
			return fail(v, "pickle protocol %u is not supported",
				    v->buf[v->pos]);
		v->pos++;
		return 0;
	case 0x95:	/* FRAME */
		if (need(v, 8, "FRAME"))
			return -1;
		v->pos += 8;
		return 0;
	case '.':	/* STOP */
		*stop = 1;
		return 0;
	case '(':	/* MARK */
		if (v->nmarks >= PK_MAX_DEPTH)
			return fail(v, "nesting deeper than %d levels (at byte %zu)",
				    PK_MAX_DEPTH, v->pos);
		v->marks[v->nmarks++] = v->sp;
		return 0;
	case '1':	/* POP_MARK */
		if (pop_mark(v, "POP_MARK", &first))
			return -1;
		v->sp = first;
		return 0;
	case '0':	/* POP */
		return pop(v, "POP") ? 0 : -1;
	case '2':	/* DUP */
		if (!(a = top(v, "DUP")))
			return -1;
		push(v, a);
		return 0;
	case 'N':
		push(v, obj_new(v->p, PK_NONE));
		return 0;
	case 0x88:
	case 0x89:
		a = obj_new(v->p, PK_BOOL);
		a->i = op == 0x88;
		push(v, a);
		return 0;
	case 'J':
		if (need(v, 4, "BININT"))
			return -1;
		v->pos += 4;
		return push_int(v, (int32_t)(uint32_t)rd_le(v->buf + v->pos - 4, 4));
	case 'K':
		if (need(v, 1, "BININT1"))
			return -1;
		return push_int(v, v->buf[v->pos++]);
	case 'M':
		if (need(v, 2, "BININT2"))
			return -1;
		v->pos += 2;
		return push_int(v, (int64_t)rd_le(v->buf + v->pos - 2, 2));
	case 0x8A:	/* LONG1 */
		if (need(v, 1, "LONG1"))
			return -1;
		return push_long(v, v->buf[v->pos++]);
	case 0x8B:	/* LONG4 */
		if (need(v, 4, "LONG4"))
			return -1;
		v->pos += 4;
		n = (size_t)(int32_t)(uint32_t)rd_le(v->buf + v->pos - 4, 4);
		if ((int32_t)n < 0)
			return fail(v, "LONG4 with a negative length");
		return push_long(v, n);
	case 'I':
	case 'L': {
		char tmp[32];
		long long x;
		char *end;

		if (!(s = line(v, &n, "INT")))
			return -1;
		if (op == 'L' && n && s[n - 1] == 'L')
			n--;
		if (n == 0 || n >= sizeof(tmp))
			return fail(v, "INT of %zu digits", n);
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		x = strtoll(tmp, &end, 10);
		if (*end) {
			char sb[64];

			return fail(v, "INT '%s' is not a number",
				    text_sanitize(tmp, sb, sizeof(sb)));
		}
		if (op == 'I' && (strcmp(tmp, "00") == 0 ||
				  strcmp(tmp, "01") == 0)) {
			a = obj_new(v->p, PK_BOOL);
			a->i = tmp[1] == '1';
			push(v, a);
			return 0;
		}
		return push_int(v, x);
	}
	case 'G': {	/* BINFLOAT: big-endian double */
		uint64_t x = 0;
		double d;

		if (need(v, 8, "BINFLOAT"))
			return -1;
		for (int i = 0; i < 8; i++)
			x = (x << 8) | v->buf[v->pos + i];
		v->pos += 8;
		memcpy(&d, &x, sizeof(d));
		a = obj_new(v->p, PK_FLOAT);
		a->f = d;
		push(v, a);
		return 0;
	}
	case 'F': {
		char tmp[64];

		if (!(s = line(v, &n, "FLOAT")))
			return -1;
		if (n == 0 || n >= sizeof(tmp))
			return fail(v, "FLOAT of %zu characters", n);
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		a = obj_new(v->p, PK_FLOAT);
		a->f = strtod(tmp, NULL);
		push(v, a);
		return 0;
	}
	case 0x8C:	/* SHORT_BINUNICODE */
		if (need(v, 1, "SHORT_BINUNICODE"))
			return -1;
		return push_str(v, PK_STR, v->buf[v->pos++], "SHORT_BINUNICODE");
	case 'X':	/* BINUNICODE */
		if (need(v, 4, "BINUNICODE"))
			return -1;
		v->pos += 4;
		return push_str(v, PK_STR, rd_le(v->buf + v->pos - 4, 4),
				"BINUNICODE");
	case 0x8D:	/* BINUNICODE8 */
		if (need(v, 8, "BINUNICODE8"))
			return -1;
		v->pos += 8;
		return push_str(v, PK_STR, rd_le(v->buf + v->pos - 8, 8),
				"BINUNICODE8");
	case 'U':	/* SHORT_BINSTRING */
		if (need(v, 1, "SHORT_BINSTRING"))
			return -1;
		return push_str(v, PK_STR, v->buf[v->pos++], "SHORT_BINSTRING");
	case 'T':	/* BINSTRING */
		if (need(v, 4, "BINSTRING"))
			return -1;
		v->pos += 4;
		return push_str(v, PK_STR, rd_le(v->buf + v->pos - 4, 4),
				"BINSTRING");
	case 'C':	/* SHORT_BINBYTES */
		if (need(v, 1, "SHORT_BINBYTES"))
			return -1;
		return push_str(v, PK_BYTES, v->buf[v->pos++], "SHORT_BINBYTES");
	case 'B':
		if (need(v, 4, "BINBYTES"))
			return -1;
		v->pos += 4;
		return push_str(v, PK_BYTES, rd_le(v->buf + v->pos - 4, 4),
				"BINBYTES");
	case 0x8E:	/* BINBYTES8 */
	case 0x96:	/* BYTEARRAY8 */
		if (need(v, 8, "BINBYTES8"))
			return -1;
		v->pos += 8;
		return push_str(v, PK_BYTES, rd_le(v->buf + v->pos - 8, 8),
				"BINBYTES8");
	case ')':
		push(v, obj_new(v->p, PK_TUPLE));
		return 0;
	case 't':
		return collect(v, PK_TUPLE, "TUPLE");
	case 0x85:
	case 0x86:
	case 0x87:
		n = op - 0x84;
		if (v->sp < floor_(v) + n)
			return fail(v, "TUPLE%zu on a short stack (at byte %zu)",
				    n, v->pos);
		a = obj_new(v->p, PK_TUPLE);
		for (size_t i = v->sp - n; i < v->sp; i++)
			item_add(a, v->stack[i]);
		v->sp -= n;
		push(v, a);
		return 0;
	case ']':
		push(v, obj_new(v->p, PK_LIST));
		return 0;
	case 'l':
		return collect(v, PK_LIST, "LIST");
	case '}':
		push(v, obj_new(v->p, PK_DICT));
		return 0;
	case 'd':
		return collect(v, PK_DICT, "DICT");
	case 0x8F:
		push(v, obj_new(v->p, PK_SET));
		return 0;
	case 0x91:
		return collect(v, PK_SET, "FROZENSET");
	case 'a':	/* APPEND */
		if (v->sp < floor_(v) + 2)
			return fail(v, "APPEND on a short stack (at byte %zu)",
				    v->pos);
		return add_items(v, v->sp - 1, PK_LIST, "APPEND");
	case 'e':
		if (pop_mark(v, "APPENDS", &first))
			return -1;
		return add_items(v, first, PK_LIST, "APPENDS");
	case 0x90:
		if (pop_mark(v, "ADDITEMS", &first))
			return -1;
		return add_items(v, first, PK_SET, "ADDITEMS");
	case 's':
		if (v->sp < floor_(v) + 3)
			return fail(v, "SETITEM on a short stack (at byte %zu)",
				    v->pos);
		return add_items(v, v->sp - 2, PK_DICT, "SETITEM");
	case 'u':
		if (pop_mark(v, "SETITEMS", &first))
			return -1;
		return add_items(v, first, PK_DICT, "SETITEMS");
	case 'h':
		if (need(v, 1, "BINGET"))
			return -1;
		return memo_get(v, v->buf[v->pos++]);
	case 'j':
		if (need(v, 4, "LONG_BINGET"))
			return -1;
		v->pos += 4;
		return memo_get(v, rd_le(v->buf + v->pos - 4, 4));
	case 'g': {
		char tmp[24];

		if (!(s = line(v, &n, "GET")))
			return -1;
		if (n == 0 || n >= sizeof(tmp))
			return fail(v, "GET index of %zu digits", n);
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		return memo_get(v, strtoull(tmp, NULL, 10));
	}
	case 'q':
		if (need(v, 1, "BINPUT"))
			return -1;
		return memo_put(v, v->buf[v->pos++]);
	case 'r':
		if (need(v, 4, "LONG_BINPUT"))
			return -1;
		v->pos += 4;
		return memo_put(v, rd_le(v->buf + v->pos - 4, 4));
	case 'p': {
		char tmp[24];

		if (!(s = line(v, &n, "PUT")))
			return -1;
		if (n == 0 || n >= sizeof(tmp))
			return fail(v, "PUT index of %zu digits", n);
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		return memo_put(v, strtoull(tmp, NULL, 10));
	}
	case 0x94:	/* MEMOIZE */
		return memo_put(v, v->nmemo);
	case 'c': {	/* GLOBAL "module\nname\n" */
		size_t mn, nn;

		if (!(s = line(v, &mn, "GLOBAL")) ||
		    !(t = line(v, &nn, "GLOBAL")))
			return -1;
		return global(v, s, mn, t, nn);
	}
	case 0x93:	/* STACK_GLOBAL */
		if (!(b = pop(v, "STACK_GLOBAL")) ||
		    !(a = pop(v, "STACK_GLOBAL")))
			return -1;
		if (a->kind != PK_STR || b->kind != PK_STR)
			return fail(v, "STACK_GLOBAL of a non-string");
		return global(v, a->s, a->len, b->s, b->len);
	case 'R':	/* REDUCE */
		if (!(b = pop(v, "REDUCE")) || !(a = pop(v, "REDUCE")))
			return -1;
		if (!(c = reduce(v, a, b)))
			return -1;
		push(v, c);
		return 0;
	case 0x81:	/* NEWOBJ */
	case 0x92:	/* NEWOBJ_EX */
		if (op == 0x92 && !pop(v, "NEWOBJ_EX"))
			return -1;
		if (!(b = pop(v, "NEWOBJ")) || !(a = pop(v, "NEWOBJ")))
			return -1;
		if (a->kind != PK_GLOBAL)
			return fail(v, "NEWOBJ on a %s", pickle_type_name(a));
		if (a->role == R_ODICT) {
			c = obj_new(v->p, PK_DICT);
			c->module = a->module;
			c->name = a->name;
		} else if (a->role == R_SET) {
			c = obj_new(v->p, PK_SET);
		} else if (a->role != R_NONE) {
			return not_allowed(v, a, "NEWOBJ would construct it");
		} else {
			/* cls.__new__(cls): an inert instance whose state
			 * BUILD fills in. */
			c = obj_new(v->p, PK_OBJECT);
			c->module = a->module;
			c->name = a->name;
		}
		push(v, c);
		return 0;
	case 'b':	/* BUILD */
		if (!(b = pop(v, "BUILD")) || !(a = top(v, "BUILD")))
			return -1;
		if (a->kind == PK_OBJECT) {
			a->state = b;
			return 0;
		}
		/* An OrderedDict's instance attributes (a state_dict's
		 * _metadata) and a tensor's Python attributes: not content. */
		if (a->kind == PK_DICT || a->kind == PK_TENSOR)
			return 0;
		return fail(v, "BUILD on a %s (at byte %zu)",
			    pickle_type_name(a), v->pos);
	case 'Q':	/* BINPERSID */
		if (!(a = pop(v, "BINPERSID")))
			return -1;
		if (!(c = persistent(v, a)))
			return -1;
		push(v, c);
		return 0;
	case 'i':
		return fail(v, "opcode INST is not allowed (it calls a class)");
	case 'o':
		return fail(v, "opcode OBJ is not allowed (it calls a class)");
	case 0x82:
	case 0x83:
	case 0x84:
		return fail(v, "extension registry opcodes are not allowed");
	case 'P':
		return fail(v, "text persistent ids (PERSID) are not supported");
	case 0x97:
	case 0x98:
		return fail(v, "out-of-band buffers are not supported");
	default:
		return fail(v, "unknown opcode 0x%02x (at byte %zu)", op,
			    v->pos - 1);
	}
}

int pickle_load(struct pickle *p, const unsigned char *buf, size_t len,
		const char *who, struct err *e)
{
	struct vm v = { 0 };
	int stop = 0, rc = 0;

	memset(p, 0, sizeof(*p));
	v.p = p;
	v.buf = buf;
	v.len = len;
	v.who = who;
	v.e = e;
	v.marks = xmalloc(PK_MAX_DEPTH * sizeof(*v.marks));
	while (!stop) {
		if (v.pos >= v.len) {
			rc = fail(&v, "ends without STOP (after %zu bytes)",
				  v.len);
			break;
		}
		if (step(&v, v.buf[v.pos++], &stop)) {
			rc = -1;
			break;
		}
	}
	if (!rc && v.sp != 1)
		rc = fail(&v, "STOP with %zu objects on the stack", v.sp);
	if (!rc) {
		p->root = v.stack[0];
		p->end = v.pos;
	}
	free(v.stack);
	free(v.marks);
	free(v.memo);
	return rc;
}
