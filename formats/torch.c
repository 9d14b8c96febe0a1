/*
 * formats/torch.c - PyTorch checkpoints (torch.save's zip format).
 *
 * Layout (FORMATS.md 3.2): one root folder, whatever its name (not the file
 * name: torchtune's checkpoint uses 'better_tiny_checkpoint/'), holding
 * data.pkl, data/<key> per storage, version, and in 2.x byteorder and
 * friends.  data.pkl runs in the restricted unpickler (pickle.c); the result
 * is walked, and every tensor found, in dicts, lists, tuples or object
 * attributes, is named by its path joined with '.' ('' for a bare tensor).
 * Non-tensor leaves become metadata under the same path.  A stored storage
 * member is read in place; a deflated one is inflated once, into memory or
 * a temporary file by size, within the limits of formats/zip.h.
 *
 * TorchScript archives (constants.pkl, code/) have the same data.pkl and
 * are listed the same way, with format "torchscript-zip".  The legacy format
 * (before 1.6) is read too (legacy_open()).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"
#include "formats/pickle.h"
#include "formats/zip.h"

/* data.pkl is structure, not weights: anything bigger is refused. */
#define TORCH_MAX_PICKLE (1ull << 30)
/* Tensors, metadata and containers visited by the walk (a pickle can share
 * one list from many places and so describe more paths than bytes). */
#define TORCH_MAX_VISITS 10000000
#define TORCH_MAX_DEPTH 1000
#define TORCH_MAX_PATH 4096

/* The first bytes of a legacy checkpoint: PROTO 2, LONG1 10 bytes of the
 * magic number 0x1950a86a20f9469cfc6c. */
static const unsigned char legacy_magic[] = {
	0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a,
	0xa8, 0x50, 0x19,
};

/* The names torch writes under the root folder: records, and folders
 * (data/<key>, TorchScript's code/ and constants/). */
static const char *const torch_records[] = {
	"data.pkl", "version", "byteorder", ".format_version",
	".storage_alignment", "constants.pkl", ".data/", "data/", "code/",
	"constants/",
};

/* rest (n bytes after the root's '/') is a torch record, or, when cut
 * (the sniff window ended), the start of one. */
static int torch_record(const char *rest, size_t n, int cut)
{
	for (size_t i = 0; i < sizeof(torch_records) / sizeof(*torch_records);
	     i++) {
		const char *r = torch_records[i];
		size_t k = strlen(r);

		if (r[k - 1] == '/' ? n >= k && memcmp(rest, r, k) == 0 :
		    n == k && memcmp(rest, r, k) == 0)
			return 1;
		if (cut && n < k && memcmp(rest, r, n) == 0)
			return 1;
	}
	return 0;
}

/*
 * A zip whose first member is '<root>/data.pkl' (or another torch record).
 * sniff() sees SNIFF_BYTES, so a very long name may be cut: then the
 * visible part must be a root folder name (a long one) or a root plus the
 * start of a record.  This is only the quick way in: a zip that fails it
 * (a directory entry or another file first, as zip tools write when they
 * repack one) is recognised by its central directory through
 * torch_zip_layout() in formats/archive.c, and a zip that passes it but
 * holds no checkpoint is handed back to formats/archive.c.
 */
static int torch_sniff(const unsigned char *head, size_t len)
{
	const char *name = (const char *)head + 30, *slash;
	size_t n, vis;

	if (len < 31 || !zip_sniff(head, len))
		return 0;
	n = (size_t)head[26] | (size_t)head[27] << 8;
	if (n == 0)
		return 0;
	vis = len - 30 < n ? len - 30 : n;
	slash = memchr(name, '/', vis);
	/* A root folder name longer than the window: torch's writer also
	 * leaves the CRC to a data descriptor (flag bit 3, CRC 0 here). */
	if (!slash)
		return vis < n && (head[6] & 0x08) && !head[14] && !head[15] &&
		       !head[16] && !head[17];
	return torch_record(slash + 1, vis - (size_t)(slash + 1 - name),
			    vis < n);
}

/*
 * The root folder of a torch zip: the first member named '<root>/data.pkl'
 * with no other '/' (and when strict, whose root also holds a record only
 * torch writes: version, .data/version, byteorder or data/<key>; among the
 * first 8 such members).  Copied
 * with its '/' into root (n bytes); 0 if there is none.
 */
/* rest (a name after the root's '/') is mark, or a file under mark/. */
static int is_mark(const char *rest, const char *mark)
{
	size_t ml = strlen(mark);

	if (mark[ml - 1] == '/')
		return strncmp(rest, mark, ml) == 0 && rest[ml];
	return strcmp(rest, mark) == 0;
}

static int find_root(const struct zip *z, char *root, size_t n, int strict)
{
	static const char *const marks[] = { "version", ".data/version",
					     "byteorder", "data/" };
	int tries = 0;

	for (size_t i = 0; i < z->n; i++) {
		const char *nm = z->members[i].name, *slash = strchr(nm, '/');
		size_t rl;

		if (!slash || strcmp(slash + 1, "data.pkl") != 0)
			continue;
		/* Each try scans the directory: a few, never one per
		 * member of a hostile one. */
		if (++tries > 8)
			break;
		rl = (size_t)(slash - nm) + 1;
		if (rl + 1 > n)
			continue;
		if (!strict) {
			memcpy(root, nm, rl);
			root[rl] = '\0';
			return 1;
		}
		for (size_t j = 0; j < z->n; j++) {
			const char *o = z->members[j].name;

			if (strncmp(o, nm, rl) != 0)
				continue;
			for (size_t k = 0; k < sizeof(marks) / sizeof(*marks);
			     k++)
				if (is_mark(o + rl, marks[k])) {
					memcpy(root, nm, rl);
					root[rl] = '\0';
					return 1;
				}
		}
	}
	return 0;
}

int torch_zip_layout(const struct zip *z)
{
	char root[TORCH_MAX_PATH];

	return find_root(z, root, sizeof(root), 1);
}

static int legacy_sniff(const unsigned char *head, size_t len)
{
	return len >= sizeof(legacy_magic) &&
	       memcmp(head, legacy_magic, sizeof(legacy_magic)) == 0;
}

/* One storage record, read once, shared by the tensors that view it. */
struct storage {
	const char *key;
	const struct source *src;	/* where its bytes are */
	const unsigned char *data;
	uint64_t size;
};

struct walk {
	struct model *m;
	const struct source *src;
	struct zip *z;
	const char *root;	/* "name/" */
	struct err *e;
	struct storage *st;
	size_t nst, st_alloc;
	size_t visits;
	char path[TORCH_MAX_PATH];
};

static const struct storage *storage_get(struct walk *w, const char *key)
{
	const struct zip_member *zm;
	const struct source *ss;
	struct storage *s;
	char name[TORCH_MAX_PATH], sname[TORCH_MAX_PATH + 4200], k[128];

	for (size_t i = 0; i < w->nst; i++)
		if (strcmp(w->st[i].key, key) == 0)
			return &w->st[i];
	snprintf(name, sizeof(name), "%sdata/%s", w->root, key);
	zm = w->z ? zip_find(w->z, name) : NULL;
	if (!zm) {
		err_set(w->e, "'%s': storage '%s' has no record 'data/%s'",
			w->src->path, text_sanitize(key, k, sizeof(k)),
			text_sanitize(key, k, sizeof(k)));
		return NULL;
	}
	if (zm->method == ZIP_STORED) {
		/* In place: tensors point into the file's own source. */
		const unsigned char *data;
		void *owned;

		if (zip_member_data(w->src, zm, UINT64_MAX, &data, &owned,
				    w->e))
			return NULL;
		ss = w->src;
	} else {
		snprintf(sname, sizeof(sname), "%s:%s", w->src->path, name);
		ss = zip_member_source(w->m, w->z, w->src, zm, UINT64_MAX,
				       sname, w->e);
		if (!ss)
			return NULL;
	}
	if (w->nst == w->st_alloc) {
		w->st_alloc = w->st_alloc ? w->st_alloc * 2 : 16;
		w->st = xrealloc(w->st, w->st_alloc * sizeof(*w->st));
	}
	s = &w->st[w->nst++];
	s->key = key;
	s->src = ss;
	s->data = ss == w->src ? w->src->data + zm->data_offset : ss->data;
	s->size = zm->usize;
	return s;
}

static int add_tensor(struct walk *w, const struct pk_obj *o)
{
	const struct pk_obj *so = o->storage;
	const struct dtype_info *di = dtype_get(o->dtype);
	const struct storage *s;
	struct tensor *t;
	uint64_t esz = di->block_bytes, last = 0, nel = 1;
	char nm[256], kb[128];

	if (o->dtype == DT_NONE || di->block != 1) {
		err_set(w->e, "'%s': tensor '%s': unsupported dtype",
			w->src->path, text_sanitize(w->path, nm, sizeof(nm)));
		return -1;
	}
	if (!(s = storage_get(w, so->key)))
		return -1;
	/* numel counts elements of the storage's dtype (bytes when untyped) */
	{
		uint64_t sesz = dtype_get(so->dtype)->block_bytes;

		if (so->numel > UINT64_MAX / sesz ||
		    so->numel * sesz > s->size) {
			err_set(w->e, "'%s': tensor '%s': storage '%s' claims %llu elements of %llu bytes, but its record holds %llu bytes",
				w->src->path,
				text_sanitize(w->path, nm, sizeof(nm)),
				text_sanitize(so->key, kb, sizeof(kb)),
				(unsigned long long)so->numel,
				(unsigned long long)sesz,
				(unsigned long long)s->size);
			return -1;
		}
	}
	for (int d = 0; d < o->ndim; d++) {
		if (o->shape[d] && nel > UINT64_MAX / o->shape[d])
			goto overflow;
		nel *= o->shape[d];
		if (o->shape[d] == 0)
			continue;
		if (o->stride[d] &&
		    o->shape[d] - 1 > UINT64_MAX / o->stride[d])
			goto overflow;
		if (last > UINT64_MAX - (o->shape[d] - 1) * o->stride[d])
			goto overflow;
		last += (o->shape[d] - 1) * o->stride[d];
	}
	if (nel) {
		uint64_t cap = s->size / esz;

		/* A legacy view: a window of the root storage. */
		if (so->view_key) {
			if (so->view_offset > cap ||
			    so->view_numel > cap - so->view_offset) {
				err_set(w->e, "'%s': tensor '%s': storage view past its storage",
					w->src->path,
					text_sanitize(w->path, nm, sizeof(nm)));
				return -1;
			}
			cap = so->view_numel;
		}

		if (o->storage_offset > cap || last >= cap - o->storage_offset) {
			err_set(w->e, "'%s': tensor '%s': its elements reach element %llu of a storage of %llu",
				w->src->path,
				text_sanitize(w->path, nm, sizeof(nm)),
				(unsigned long long)(o->storage_offset + last),
				(unsigned long long)cap);
			return -1;
		}
	} else if (o->storage_offset > s->size / esz) {
		err_set(w->e, "'%s': tensor '%s': storage offset past its storage",
			w->src->path, text_sanitize(w->path, nm, sizeof(nm)));
		return -1;
	}
	t = model_add_tensor(w->m, w->path, w->e);
	if (!t) {
		err_set(w->e, "'%s': tensor '%s' appears twice", w->src->path,
			text_sanitize(w->path, nm, sizeof(nm)));
		return -1;
	}
	t->dtype = o->dtype;
	t->ndim = o->ndim;
	for (int d = 0; d < o->ndim; d++)
		t->shape[d] = o->shape[d];
	t->src = s->src;
	t->data = s->data + (o->storage_offset +
			     (so->view_key ? so->view_offset : 0)) * esz;
	t->offset = (uint64_t)(t->data - s->src->data);
	if (tensor_set_size(t, w->src->path, w->e))
		return -1;
	if (nel && tensor_set_strides(t, o->stride, w->src->path, w->e))
		return -1;
	return 0;
overflow:
	err_set(w->e, "'%s': tensor '%s': shape or strides overflow 64 bits",
		w->src->path, text_sanitize(w->path, nm, sizeof(nm)));
	return -1;
}

static void add_meta(struct walk *w, const struct pk_obj *o)
{
	json_t *j;

	switch (o->kind) {
	case PK_NONE:
		j = json_null();
		break;
	case PK_BOOL:
		j = json_boolean(o->i);
		break;
	case PK_INT:
		j = json_integer(o->i);
		break;
	case PK_FLOAT:
		j = isfinite(o->f) ? json_real(o->f) :
		    json_string(isnan(o->f) ? "nan" : o->f > 0 ? "inf" : "-inf");
		break;
	case PK_STR:
		j = json_stringn_nocheck(o->s, o->len);
		break;
	case PK_BIGINT:
	case PK_BYTES: {
		char *hex = xmalloc(o->len * 2 + 1);

		for (size_t i = 0; i < o->len; i++)
			snprintf(hex + 2 * i, 3, "%02x",
				 (unsigned char)o->s[o->kind == PK_BIGINT ?
						     o->len - 1 - i : i]);
		hex[o->len * 2] = '\0';
		j = json_pack("{s:s}", o->kind == PK_BYTES ? "bytes_hex" :
				       "int_hex", hex);
		free(hex);
		break;
	}
	case PK_GLOBAL: {
		char buf[512];

		snprintf(buf, sizeof(buf), "%s.%s", o->module, o->name);
		j = json_string(buf);
		break;
	}
	default:
		return;
	}
	if (!j)	/* a string jansson refused: invalid UTF-8 */
		j = json_string("?");
	model_add_meta(w->m, w->path, pickle_type_name(o), j);
}

static int walk(struct walk *w, const struct pk_obj *o, int depth);

/* Walk child c under path component comp. */
static int walk_child(struct walk *w, const char *comp, size_t clen,
		      const struct pk_obj *c, int depth)
{
	size_t n = strlen(w->path);
	int rc;

	if (n + 1 + clen >= sizeof(w->path)) {
		err_set(w->e, "'%s': a name longer than %d bytes", w->src->path,
			TORCH_MAX_PATH);
		return -1;
	}
	if (n)
		w->path[n++] = '.';
	memcpy(w->path + n, comp, clen);
	w->path[n + clen] = '\0';
	rc = walk(w, c, depth + 1);
	w->path[n ? n - 1 : 0] = '\0';
	return rc;
}

static int walk_dict(struct walk *w, const struct pk_obj *o, int depth)
{
	for (size_t i = 0; i + 1 < o->n; i += 2) {
		const struct pk_obj *k = o->items[i];
		char buf[64];
		const char *s = buf;
		size_t len;

		if (k->kind == PK_STR) {
			s = k->s;
			len = k->len;
		} else if (k->kind == PK_INT) {
			len = (size_t)snprintf(buf, sizeof(buf), "%lld",
					       (long long)k->i);
		} else if (k->kind == PK_BOOL) {
			len = (size_t)snprintf(buf, sizeof(buf), "%s",
					       k->i ? "True" : "False");
		} else {
			len = (size_t)snprintf(buf, sizeof(buf), "%zu",
					       i / 2);
		}
		if (walk_child(w, s, len, o->items[i + 1], depth))
			return -1;
	}
	return 0;
}

static int walk(struct walk *w, const struct pk_obj *o, int depth)
{
	if (++w->visits > TORCH_MAX_VISITS) {
		err_set(w->e, "'%s': data.pkl describes more than %d objects",
			w->src->path, TORCH_MAX_VISITS);
		return -1;
	}
	if (depth > TORCH_MAX_DEPTH) {
		err_set(w->e, "'%s': data.pkl nests deeper than %d levels",
			w->src->path, TORCH_MAX_DEPTH);
		return -1;
	}
	switch (o->kind) {
	case PK_TENSOR:
		return add_tensor(w, o);
	case PK_STORAGE: {
		/* A bare storage: a 1-D tensor over all of it. */
		struct pk_obj t = { 0 };

		t.kind = PK_TENSOR;
		t.storage = (struct pk_obj *)o;
		t.dtype = o->dtype;
		t.ndim = 1;
		t.shape[0] = o->numel;
		t.stride[0] = 1;
		return add_tensor(w, &t);
	}
	case PK_DICT:
		return walk_dict(w, o, depth);
	case PK_TUPLE:
	case PK_LIST:
	case PK_SET:
		for (size_t i = 0; i < o->n; i++) {
			char buf[32];
			size_t len = (size_t)snprintf(buf, sizeof(buf), "%zu", i);

			if (walk_child(w, buf, len, o->items[i], depth))
				return -1;
		}
		return 0;
	case PK_OBJECT:
		/* Its attributes: a state dict, or (dict, slots dict). */
		if (!o->state)
			return 0;
		if (o->state->kind == PK_DICT)
			return walk_dict(w, o->state, depth);
		if (o->state->kind == PK_TUPLE) {
			for (size_t i = 0; i < o->state->n; i++)
				if (o->state->items[i]->kind == PK_DICT &&
				    walk_dict(w, o->state->items[i], depth))
					return -1;
			return 0;
		}
		return walk(w, o->state, depth + 1);
	default:
		add_meta(w, o);
		return 0;
	}
}

static int torch_open(struct model *m, struct source *src, struct err *e)
{
	struct zip z;
	struct pickle p = { 0 };
	struct walk w = { 0 };
	const struct zip_member *pk;
	const unsigned char *data;
	void *owned = NULL;
	char root[TORCH_MAX_PATH], name[TORCH_MAX_PATH + 32], who[4200];
	int rc = -1;

	if (zip_open(&z, src, e))
		return -1;
	if (!find_root(&z, root, sizeof(root), 0)) {
		/* Its first bytes looked like torch's, its directory does
		 * not: any other zip, read as an archive. */
		zip_release(&z);
		return format_archive.open(m, src, e);
	}
	snprintf(name, sizeof(name), "%sdata.pkl", root);
	pk = zip_find(&z, name);
	snprintf(name, sizeof(name), "%sbyteorder", root);
	{
		const struct zip_member *bo = zip_find(&z, name);
		const unsigned char *bd;
		void *bown = NULL;

		if (bo) {
			if (zip_member_data(src, bo, 64, &bd, &bown, e))
				goto out;
			if (bo->usize != 6 || memcmp(bd, "little", 6) != 0) {
				free(bown);
				err_set(e, "'%s': big-endian PyTorch checkpoints are not supported",
					src->path);
				goto out;
			}
			free(bown);
		}
	}
	snprintf(name, sizeof(name), "%sconstants.pkl", root);
	if (zip_find(&z, name) && strcmp(m->format, "pytorch-zip") == 0)
		m->format = "torchscript-zip";
	if (zip_member_data(src, pk, TORCH_MAX_PICKLE, &data, &owned, e))
		goto out;
	snprintf(who, sizeof(who), "'%s': %sdata.pkl", src->path,
		 text_sanitize(root, name, 256));
	if (pickle_load(&p, data, (size_t)pk->usize, who, e))
		goto out;
	w.m = m;
	w.src = src;
	w.z = &z;
	w.root = root;
	w.e = e;
	rc = walk(&w, p.root, 0);
out:
	free(w.st);
	free(owned);
	pickle_release(&p);
	zip_release(&z);
	return rc;
}

/*
 * The legacy format (FORMATS.md 3.5): pickles of the magic number, the
 * protocol version (1001) and sys_info, the object pickle, the list of
 * storage keys, then per key an 8-byte element count and the raw elements.
 * Storages are read in place from the file.
 */
static int legacy_open(struct model *m, struct source *src, struct err *e)
{
	struct pickle p[5];
	struct walk w = { 0 };
	uint64_t pos = 0;
	char who[4200];
	int rc = -1, np = 0;
	const struct pk_obj *keys, *si;

	memset(p, 0, sizeof(p));
	for (np = 0; np < 5; np++) {
		snprintf(who, sizeof(who), "'%s': pickle %d at byte %llu",
			 src->path, np + 1, (unsigned long long)pos);
		if (pickle_load(&p[np], src->data + pos,
				(size_t)(src->size - pos), who, e)) {
			np++;
			goto out;
		}
		pos += p[np].end;
	}
	if (p[1].root->kind != PK_INT || p[1].root->i != 1001) {
		err_set(e, "'%s': legacy PyTorch protocol version is not 1001",
			src->path);
		goto out;
	}
	si = p[2].root;
	if (si->kind == PK_DICT)
		for (size_t i = 0; i + 1 < si->n; i += 2)
			if (si->items[i]->kind == PK_STR &&
			    strcmp(si->items[i]->s, "little_endian") == 0 &&
			    si->items[i + 1]->kind == PK_BOOL &&
			    !si->items[i + 1]->i) {
				err_set(e, "'%s': big-endian PyTorch checkpoints are not supported",
					src->path);
				goto out;
			}
	keys = p[4].root;
	if (keys->kind != PK_LIST) {
		err_set(e, "'%s': legacy storage key list is a %s", src->path,
			pickle_type_name(keys));
		goto out;
	}
	w.m = m;
	w.src = src;
	w.root = "";
	w.e = e;
	for (size_t i = 0; i < keys->n; i++) {
		const struct pk_obj *k = keys->items[i], *so = NULL;
		uint64_t count, esz;
		struct storage *s;
		char kb[128];

		if (k->kind != PK_STR) {
			err_set(e, "'%s': legacy storage key is a %s",
				src->path, pickle_type_name(k));
			goto out;
		}
		for (size_t j = 0; j < p[3].narena && !so; j++)
			if (p[3].arena[j]->kind == PK_STORAGE &&
			    strcmp(p[3].arena[j]->key, k->s) == 0)
				so = p[3].arena[j];
		if (!so) {
			err_set(e, "'%s': legacy storage '%s' is not used by any tensor",
				src->path, text_sanitize(k->s, kb, sizeof(kb)));
			goto out;
		}
		esz = dtype_get(so->dtype)->block_bytes;
		if (src->size - pos < 8) {
			err_set(e, "'%s': legacy storage '%s' is cut short",
				src->path, text_sanitize(k->s, kb, sizeof(kb)));
			goto out;
		}
		count = 0;
		for (int b = 7; b >= 0; b--)
			count = (count << 8) | src->data[pos + b];
		pos += 8;
		if (count > (src->size - pos) / esz) {
			err_set(e, "'%s': legacy storage '%s' claims %llu elements, past the end of the file",
				src->path, text_sanitize(k->s, kb, sizeof(kb)),
				(unsigned long long)count);
			goto out;
		}
		if (w.nst == w.st_alloc) {
			w.st_alloc = w.st_alloc ? w.st_alloc * 2 : 16;
			w.st = xrealloc(w.st, w.st_alloc * sizeof(*w.st));
		}
		s = &w.st[w.nst++];
		s->key = k->s;
		s->src = src;
		s->data = src->data + pos;
		s->size = count * esz;
		pos += count * esz;
	}
	rc = walk(&w, p[3].root, 0);
out:
	free(w.st);
	for (int i = 0; i < np && i < 5; i++)
		pickle_release(&p[i]);
	return rc;
}

const struct format format_torch = {
	.name = "pytorch-zip",
	.sniff = torch_sniff,
	.open = torch_open,
};

const struct format format_torch_legacy = {
	.name = "pytorch-legacy",
	.sniff = legacy_sniff,
	.open = legacy_open,
};
