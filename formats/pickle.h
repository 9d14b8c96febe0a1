/*
 * formats/pickle.h - a restricted unpickler for PyTorch checkpoints.
 *
 * pickle is a program: GLOBAL names any importable function and REDUCE
 * calls it.  This VM never resolves a global to code.  A global becomes an
 * inert symbol, and only a fixed allow-list means anything: the torch
 * rebuild functions (a tensor record), the storage classes and dtypes,
 * collections.OrderedDict, torch.Size (a tuple), torch.device (a string),
 * _codecs.encode (bytes), builtins set/frozenset/bytearray.  REDUCE on any
 * other global is an error naming it; so is any global from a module that
 * only holds code (os, sys, subprocess, builtins...).
 *
 * Objects of other classes (torch.save of a whole nn.Module, an
 * argparse.Namespace in a training checkpoint) are pickled as NEWOBJ of the
 * class and BUILD of its state: neither needs a call here, so such an
 * object is kept as an inert PK_OBJECT holding its state (usually a dict),
 * which is how torch.load(weights_only=False) would see its attributes.
 *
 * Every object lives in an arena owned by struct pickle; memory, memo
 * indices, string lengths and nesting depth are bounded by the bytes of the
 * pickle and by the limits in pickle.c, whatever the pickle claims.
 */
#ifndef QSCOPE_FORMATS_PICKLE_H
#define QSCOPE_FORMATS_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "formats/model.h"

enum pk_kind {
	PK_NONE,
	PK_BOOL,	/* i */
	PK_INT,		/* i */
	PK_BIGINT,	/* more than 64 bits: s/len hold the little-endian bytes */
	PK_FLOAT,	/* f */
	PK_STR,		/* s, len (UTF-8 as stored, NUL-terminated) */
	PK_BYTES,	/* s, len */
	PK_TUPLE,	/* items[0..n) */
	PK_LIST,
	PK_SET,
	PK_DICT,	/* items: key, value, key, value...; n counts items */
	PK_GLOBAL,	/* module, name; dtype for storage classes and dtypes */
	PK_STORAGE,	/* a persistent id: dtype, key, numel (+ view for legacy) */
	PK_TENSOR,	/* see the tensor fields */
	PK_OBJECT,	/* an instance of class module.name; state from BUILD */
};

struct pk_obj {
	enum pk_kind kind;
	int64_t i;
	double f;
	char *s;
	size_t len;
	struct pk_obj **items;
	size_t n, alloc;
	const char *module, *name;	/* PK_GLOBAL, PK_OBJECT (arena) */
	struct pk_obj *state;		/* PK_OBJECT: what BUILD gave */
	enum dtype dtype;		/* PK_GLOBAL / PK_STORAGE / PK_TENSOR */
	int role;			/* PK_GLOBAL: private to pickle.c */
	/* PK_STORAGE: the record key, element count of its dtype, and for a
	 * legacy view (view_key != NULL) its offset into the root storage. */
	const char *key;
	uint64_t numel;
	const char *view_key;
	uint64_t view_offset, view_numel;
	/* PK_TENSOR */
	struct pk_obj *storage;
	uint64_t storage_offset;	/* elements */
	int ndim;
	uint64_t shape[MODEL_MAX_DIMS], stride[MODEL_MAX_DIMS];
	int parameter;
};

struct pickle {
	struct pk_obj *root;	/* the result, after pickle_load() */
	size_t end;		/* bytes consumed (the STOP included) */
	/* private */
	struct pk_obj **arena;
	size_t narena, arena_alloc;
	char **strings;
	size_t nstrings, strings_alloc;
};

/*
 * Run the pickle at buf[0..len) to its STOP.  who starts every message
 * ("'model.pt': data.pkl").  Returns 0 with p->root set, or -1 with e filled;
 * either way pickle_release() frees what was built.  Nothing in the pickle
 * is ever called or imported.
 */
int pickle_load(struct pickle *p, const unsigned char *buf, size_t len,
		const char *who, struct err *e);

void pickle_release(struct pickle *p);

/* Python's name for an object's type ("int", "str", "NoneType"...). */
const char *pickle_type_name(const struct pk_obj *o);

#endif
