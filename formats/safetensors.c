/*
 * formats/safetensors.c - safetensors files and sharded checkpoints.
 *
 * Layout (FORMATS.md 1): u64 little-endian header length N, N bytes of JSON,
 * then the byte buffer.  Validation is the reference reader's and more:
 * header length within the file and the 100 MB limit, a JSON object with
 * unique names, each tensor's dtype known, shape a list of non-negative
 * integers whose product (times the element size) does not overflow, byte
 * span equal to that size, and, sorted by offset, the tensors tile the
 * buffer from 0 to the end of the file with no gap, overlap or trailing
 * bytes.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/formats.h"

/* The reference implementation refuses longer headers (MAX_HEADER_SIZE). */
#define ST_MAX_HEADER 100000000ull

static uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* A header length, then JSON: an object, or an array that open() will
 * refuse with a message better than "unknown format". */
static int st_sniff(const unsigned char *head, size_t len)
{
	return len >= 9 && (head[8] == '{' || head[8] == '[') &&
	       le64(head) >= 2;
}

/*
 * jansson reports a repeated key as "duplicate object key near '"k"'";
 * name the key the way every other message names things.
 */
static void duplicate_key_error(const char *path, const json_error_t *jerr,
				const char *where, int base, struct err *e)
{
	const char *k = strstr(jerr->text, "near '\"");
	char key[256];
	size_t n;

	if (!k) {
		err_set(e, "'%s': %s has a duplicate key (%s)", path, where,
			jerr->text);
		return;
	}
	k += 7;
	n = strlen(k);
	if (n >= 2 && k[n - 1] == '\'' && k[n - 2] == '"')
		n -= 2;
	snprintf(key, sizeof(key), "%.*s", (int)n, k);
	err_set(e, "'%s': %s has a duplicate key '%s' (at byte %d)", path,
		where, key, jerr->position + base);
}

json_t *source_json(const struct source *src, const char *what,
		    struct err *e)
{
	json_error_t jerr;
	json_t *j;

	j = json_loadb((const char *)src->data, (size_t)src->size,
		       JSON_REJECT_DUPLICATES, &jerr);
	if (!j && strstr(jerr.text, "duplicate object key"))
		duplicate_key_error(src->path, &jerr, what, 0, e);
	else if (!j)
		err_set(e, "'%s': %s is not valid JSON: %s (at byte %d)",
			src->path, what, jerr.text, jerr.position);
	return j;
}

/* A JSON value that is a non-negative integer; its value in *v. */
static int json_uint(const json_t *j, uint64_t *v)
{
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return 0;
	*v = (uint64_t)json_integer_value(j);
	return 1;
}

static int parse_metadata(struct model *m, const struct source *src,
			  json_t *meta, struct err *e)
{
	const char *k;
	json_t *v;

	if (json_is_null(meta))
		return 0;	/* MLX writes "__metadata__": null */
	if (!json_is_object(meta))
		goto bad;
	json_object_foreach(meta, k, v) {
		char key[1024];
		const struct meta *dup = NULL;

		if (!json_is_string(v))
			goto bad;
		snprintf(key, sizeof(key), "__metadata__.%s", k);
		for (size_t i = 0; i < m->nmeta; i++)
			if (strcmp(m->meta[i].key, key) == 0)
				dup = &m->meta[i];
		/* Shards usually repeat the same {"format": "pt"}. */
		if (dup && json_equal(dup->value, v))
			continue;
		if (dup) {
			const char *base = strrchr(src->path, '/');

			snprintf(key, sizeof(key), "%s:__metadata__.%s",
				 base ? base + 1 : src->path, k);
		}
		model_add_meta(m, key, "string", json_incref(v));
	}
	return 0;
bad:
	err_set(e, "'%s': '__metadata__' must map strings to strings",
		src->path);
	return -1;
}

/* One header entry, kept while the offsets are checked. */
struct span {
	uint64_t begin, end;
	size_t tensor;		/* index in m->tensors */
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

static int parse_tensor(struct model *m, const struct source *src,
			const char *name, json_t *entry, uint64_t datalen,
			struct span *sp, struct err *e)
{
	const char *path = src->path;
	json_t *dt, *shape, *offs;
	struct tensor *t;
	const struct tensor *other;
	char sbuf[256];
	size_t i;

	other = model_find(m, name);
	if (other) {
		/* Only another shard can hold it: JSON duplicates were
		 * refused by the parser. */
		err_set(e, "'%s': tensor '%s' appears in both '%s' and '%s'",
			path, name, other->src->path, path);
		return -1;
	}
	if (!json_is_object(entry)) {
		err_set(e, "'%s': tensor '%s': entry is not an object", path,
			name);
		return -1;
	}
	dt = json_object_get(entry, "dtype");
	shape = json_object_get(entry, "shape");
	offs = json_object_get(entry, "data_offsets");
	if (!dt || !shape || !offs) {
		err_set(e, "'%s': tensor '%s': missing '%s'", path, name,
			!dt ? "dtype" : !shape ? "shape" : "data_offsets");
		return -1;
	}
	if (!json_is_string(dt)) {
		err_set(e, "'%s': tensor '%s': 'dtype' is not a string", path,
			name);
		return -1;
	}

	t = model_add_tensor(m, name, e);
	if (!t)
		return -1;	/* cannot happen: checked above */
	t->src = src;
	t->dtype = dtype_from_name(json_string_value(dt));
	if (!dtype_get(t->dtype)->safetensors) {
		char d[64];

		err_set(e, "'%s': tensor '%s': unknown dtype '%s'", path, name,
			text_sanitize(json_string_value(dt), d, sizeof(d)));
		return -1;
	}
	if (!json_is_array(shape)) {
		err_set(e, "'%s': tensor '%s': shape must be an array of non-negative integers",
			path, name);
		return -1;
	}
	if (json_array_size(shape) > MODEL_MAX_DIMS) {
		err_set(e, "'%s': tensor '%s': shape has %zu dimensions, more than %d",
			path, name, json_array_size(shape), MODEL_MAX_DIMS);
		return -1;
	}
	t->ndim = (int)json_array_size(shape);
	for (i = 0; i < json_array_size(shape); i++) {
		if (!json_uint(json_array_get(shape, i), &t->shape[i])) {
			err_set(e, "'%s': tensor '%s': shape must be an array of non-negative integers",
				path, name);
			return -1;
		}
	}
	if (!json_is_array(offs) || json_array_size(offs) != 2 ||
	    !json_uint(json_array_get(offs, 0), &sp->begin) ||
	    !json_uint(json_array_get(offs, 1), &sp->end)) {
		err_set(e, "'%s': tensor '%s': data_offsets must be [begin, end], two non-negative integers",
			path, name);
		return -1;
	}
	if (sp->end < sp->begin) {
		err_set(e, "'%s': tensor '%s': data_offsets end %llu is before begin %llu",
			path, name, (unsigned long long)sp->end,
			(unsigned long long)sp->begin);
		return -1;
	}
	if (tensor_set_size(t, path, e))
		return -1;
	if (sp->end - sp->begin != t->nbytes) {
		err_set(e, "'%s': tensor '%s': data_offsets span %llu bytes, but shape %s of %s needs %llu",
			path, name, (unsigned long long)(sp->end - sp->begin),
			tensor_shape_str(t, sbuf, sizeof(sbuf)),
			dtype_get(t->dtype)->name,
			(unsigned long long)t->nbytes);
		return -1;
	}
	if (sp->end > datalen) {
		err_set(e, "'%s': tensor '%s': data ends at byte %llu of the data section, past the end of the file (%llu bytes of data)",
			path, name, (unsigned long long)sp->end,
			(unsigned long long)datalen);
		return -1;
	}
	t->offset = src->size - datalen + sp->begin;
	t->data = src->data + t->offset;
	sp->tensor = m->ntensors - 1;
	return 0;
}

/* Sorted by offset, the spans must tile [0, datalen) exactly. */
static int check_tiling(const struct model *m, const struct source *src,
			struct span *sp, size_t n, uint64_t datalen,
			struct err *e)
{
	uint64_t at = 0;
	size_t prev = SIZE_MAX;

	qsort(sp, n, sizeof(*sp), span_cmp);
	for (size_t i = 0; i < n; i++) {
		const char *name = m->tensors[sp[i].tensor].name;

		if (sp[i].begin > at) {
			err_set(e, "'%s': tensor '%s': data begins at byte %llu, leaving a gap after byte %llu",
				src->path, name,
				(unsigned long long)sp[i].begin,
				(unsigned long long)at);
			return -1;
		}
		if (sp[i].begin < at) {
			err_set(e, "'%s': tensor '%s': data at bytes %llu..%llu overlaps tensor '%s'",
				src->path, name,
				(unsigned long long)sp[i].begin,
				(unsigned long long)sp[i].end,
				prev == SIZE_MAX ? "?" : m->tensors[prev].name);
			return -1;
		}
		at = sp[i].end;
		prev = sp[i].tensor;
	}
	if (at != datalen) {
		err_set(e, "'%s': %llu bytes after the last tensor's data",
			src->path, (unsigned long long)(datalen - at));
		return -1;
	}
	return 0;
}

static int st_open(struct model *m, struct source *src, struct err *e)
{
	uint64_t hlen, datalen;
	json_error_t jerr;
	json_t *root, *v;
	struct span *spans = NULL;
	size_t nspans = 0;
	const char *k;
	int rc = -1;

	if (src->size < 8) {
		err_set(e, "'%s': file is too short for a safetensors header (%llu bytes)",
			src->path, (unsigned long long)src->size);
		return -1;
	}
	hlen = le64(src->data);
	if (hlen > ST_MAX_HEADER) {
		err_set(e, "'%s': header length %llu exceeds the limit of %llu bytes",
			src->path, (unsigned long long)hlen, ST_MAX_HEADER);
		return -1;
	}
	if (hlen > src->size - 8) {
		err_set(e, "'%s': header length %llu runs past the end of the file (%llu bytes)",
			src->path, (unsigned long long)hlen,
			(unsigned long long)src->size);
		return -1;
	}
	datalen = src->size - 8 - hlen;

	root = json_loadb((const char *)src->data + 8, (size_t)hlen,
			  JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (strstr(jerr.text, "duplicate object key"))
			duplicate_key_error(src->path, &jerr, "header", 8, e);
		else
			err_set(e, "'%s': header is not valid JSON: %s (at byte %d)",
				src->path, jerr.text, jerr.position + 8);
		return -1;
	}
	if (!json_is_object(root)) {
		err_set(e, "'%s': header is not a JSON object", src->path);
		goto out;
	}

	spans = xcalloc(json_object_size(root), sizeof(*spans));
	json_object_foreach(root, k, v) {
		if (strcmp(k, "__metadata__") == 0) {
			if (parse_metadata(m, src, v, e))
				goto out;
			continue;
		}
		if (parse_tensor(m, src, k, v, datalen, &spans[nspans], e))
			goto out;
		nspans++;
	}
	rc = check_tiling(m, src, spans, nspans, datalen, e);
out:
	free(spans);
	json_decref(root);
	return rc;
}

const struct format format_safetensors = {
	.name = "safetensors",
	.sniff = st_sniff,
	.open = st_open,
};

/* ---- sharded checkpoints: model.safetensors.index.json ---- */

static int index_sniff(const unsigned char *head, size_t len)
{
	size_t i = 0;

	while (i < len && (head[i] == ' ' || head[i] == '\n' ||
			   head[i] == '\r' || head[i] == '\t'))
		i++;
	return i < len && head[i] == '{';
}

/* A shard name must stay inside the index's folder. */
static int shard_name_ok(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

static int cmp_natural_p(const void *a, const void *b)
{
	return natural_cmp(*(const char *const *)a, *(const char *const *)b);
}

int safetensors_open_index(struct model *m, struct source *index,
			   struct err *e)
{
	const char *ipath = index->path;
	const char *slash = strrchr(ipath, '/');
	int dirlen = slash ? (int)(slash - ipath) : 1;
	const char *dir = slash ? ipath : ".";
	json_t *root, *wm, *v;
	const char **shards = NULL;
	size_t nshards = 0;
	const char *k;
	int rc = -1;

	root = source_json(index, "index", e);
	if (!root)
		return -1;
	wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
	if (!json_is_object(wm)) {
		err_set(e, "'%s': index has no 'weight_map' object", ipath);
		goto out;
	}
	/* The index's own metadata (total_size) is informational. */
	v = json_object_get(root, "metadata");
	if (json_is_object(v)) {
		const char *mk;
		json_t *mv;

		json_object_foreach(v, mk, mv) {
			char key[1024];

			snprintf(key, sizeof(key), "index.metadata.%s", mk);
			model_add_meta(m, key, "json", json_incref(mv));
		}
	}

	shards = xcalloc(json_object_size(wm), sizeof(*shards));
	json_object_foreach(wm, k, v) {
		const char *s;
		char buf[256];
		size_t i;

		if (!json_is_string(v)) {
			err_set(e, "'%s': weight_map entry for '%s' is not a file name",
				ipath, text_sanitize(k, buf, sizeof(buf)));
			goto out;
		}
		s = json_string_value(v);
		if (!shard_name_ok(s)) {
			err_set(e, "'%s': weight_map names shard '%s', which is not a file in the index's folder",
				ipath, text_sanitize(s, buf, sizeof(buf)));
			goto out;
		}
		for (i = 0; i < nshards; i++)
			if (strcmp(shards[i], s) == 0)
				break;
		if (i == nshards)
			shards[nshards++] = s;
	}
	qsort(shards, nshards, sizeof(*shards), cmp_natural_p);

	for (size_t i = 0; i < nshards; i++) {
		size_t n = (size_t)dirlen + strlen(shards[i]) + 2;
		char *p = xmalloc(n);
		struct stat st;
		int r;

		snprintf(p, n, "%.*s/%s", dirlen, dir, shards[i]);
		if (stat(p, &st) != 0) {
			err_set(e, "'%s': shard '%s' named by the index is missing (%s)",
				ipath, p, strerror(errno));
			free(p);
			goto out;
		}
		r = model_open_file(m, p, e);
		free(p);
		if (r)
			goto out;
	}

	/* The index and the shards must agree, both ways. */
	json_object_foreach(wm, k, v) {
		const struct tensor *t = model_find(m, k);
		const char *base = NULL;
		char buf[256];

		if (t) {
			base = strrchr(t->src->path, '/');
			base = base ? base + 1 : t->src->path;
		}
		if (!t || strcmp(base, json_string_value(v)) != 0) {
			err_set(e, "'%s': tensor '%s' is in shard '%s' per the index, but not in that file",
				ipath, text_sanitize(k, buf, sizeof(buf)),
				json_string_value(v));
			goto out;
		}
	}
	if (json_object_size(wm) != m->ntensors) {
		for (size_t i = 0; i < m->ntensors; i++) {
			if (!json_object_get(wm, m->tensors[i].name)) {
				char buf[256];

				err_set(e, "'%s': tensor '%s' is not in the index '%s'",
					m->tensors[i].src->path,
					text_sanitize(m->tensors[i].name, buf,
						      sizeof(buf)),
					ipath);
				goto out;
			}
		}
	}
	rc = 0;
out:
	free(shards);
	json_decref(root);
	return rc;
}

static int index_open(struct model *m, struct source *src, struct err *e)
{
	m->format = "safetensors";
	return safetensors_open_index(m, src, e);
}

const struct format format_safetensors_index = {
	.name = "safetensors",
	.sniff = index_sniff,
	.open = index_open,
};
