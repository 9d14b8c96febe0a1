/*
 * formats/archive.c - checkpoints inside archives and compressed files.
 *
 * A tar (plain, gzip, xz, zstd, bzip2), a zip, or a lone .gz/.zst/.xz file
 * opens as the model its members make: every member a reader recognises by
 * its first bytes is opened (natural name order, as a folder is), config.json
 * becomes metadata, and a safetensors index is skipped because its shards
 * are members too.  So a model folder packed as one archive opens like the
 * folder.  When the members are not the shards of one model (the rule of a
 * folder: same_checkpoint(), or safetensors beside their index), each
 * tensor name is prefixed with its member ("dir/a.npy:") and the metadata
 * entry "checkpoints" names the members.  A zip laid out as a PyTorch
 * checkpoint whose first member did not show it goes to formats/torch.c.
 *
 * A zip's stored members are read in place and its deflated ones inflated
 * as they stream (formats/zip.h); everything else is decompressed once
 * through libarchive; either way into memory when small and into an
 * unlinked temporary file when not, and then mapped.  Nothing is written
 * to disk under a name from the archive.
 *
 * The limits against decompression bombs are defined here, for zip.c too
 * (formats/zip.h: unpack_limits()): ARCHIVE_MAX_BYTES in all, and no more
 * than ARCHIVE_MAX_RATIO times the file's size once past
 * ARCHIVE_RATIO_FLOOR; QSCOPE_MAX_UNPACKED and QSCOPE_MAX_RATIO override
 * the first two.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "formats/formats.h"
#include "formats/zip.h"

/* Limits against decompression bombs (over all members of one file). */
#define ARCHIVE_MAX_BYTES (64ull << 30)
#define ARCHIVE_MAX_RATIO 200ull
#define ARCHIVE_RATIO_FLOOR (64ull << 20)
/* A member larger than this goes to a temporary file, not to memory. */
#define ARCHIVE_MEMORY_MAX (64ull << 20)
#define ENV_MAX_BYTES "QSCOPE_MAX_UNPACKED"
#define ENV_MAX_RATIO "QSCOPE_MAX_RATIO"
/* More members than this is not a model. */
#define ARCHIVE_MAX_MEMBERS 100000

/*
 * A size from the environment: digits, then optionally K, M, G, T (powers
 * of 1024), optionally followed by "B" or "iB"; 0 if malformed or zero.
 */
static uint64_t parse_size(const char *v, int with_unit)
{
	static const char units[] = "KMGT";
	uint64_t n = 0;
	const char *u;

	if (!isdigit((unsigned char)*v))
		return 0;
	for (; isdigit((unsigned char)*v); v++) {
		if (n > (UINT64_MAX - 9) / 10)
			return 0;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	if (*v && with_unit &&
	    (u = strchr(units, toupper((unsigned char)*v))) != NULL) {
		int shift = 10 * (int)(u - units + 1);

		if (n > UINT64_MAX >> shift)
			return 0;
		n <<= shift;
		v++;
		if (*v == 'i')
			v++;
		if (*v == 'B')
			v++;
	} else if (*v && with_unit && *v == 'B') {
		v++;
	}
	return *v ? 0 : n;
}

int unpack_limits(struct unpack_limits *l, struct err *e)
{
	const char *v;

	l->max_bytes = ARCHIVE_MAX_BYTES;
	l->max_ratio = ARCHIVE_MAX_RATIO;
	l->ratio_floor = ARCHIVE_RATIO_FLOOR;
	l->memory_max = ARCHIVE_MEMORY_MAX;
	if ((v = getenv(ENV_MAX_BYTES)) && *v &&
	    !(l->max_bytes = parse_size(v, 1))) {
		err_set(e, "%s='%.40s' is not a size (bytes, or a number with K, M, G or T)",
			ENV_MAX_BYTES, v);
		return -1;
	}
	if ((v = getenv(ENV_MAX_RATIO)) && *v &&
	    !(l->max_ratio = parse_size(v, 0))) {
		err_set(e, "%s='%.40s' is not a whole number above 0",
			ENV_MAX_RATIO, v);
		return -1;
	}
	return 0;
}

/* "64 GiB", "1.5 GiB" or "12345 bytes", for messages. */
static void size_text(char *buf, size_t n, uint64_t b)
{
	if (b >= 1ull << 30)
		snprintf(buf, n, "%.4g GiB", (double)b / (1ull << 30));
	else if (b >= 1ull << 20)
		snprintf(buf, n, "%.4g MiB", (double)b / (1ull << 20));
	else
		snprintf(buf, n, "%llu bytes", (unsigned long long)b);
}

int unpack_allowed(const struct unpack_limits *l, uint64_t total,
		   uint64_t in_size, const char *path, const char *what,
		   struct err *e)
{
	char lim[64];

	if (total > l->max_bytes) {
		size_text(lim, sizeof(lim), l->max_bytes);
		err_set(e, "'%s': %s%s%sunpacks to more than %s (limit against decompression bombs); set %s to allow more",
			path, what ? "zip member '" : "", what ? what : "",
			what ? "' " : "", lim, ENV_MAX_BYTES);
		return 0;
	}
	if (total > l->ratio_floor && total / l->max_ratio > in_size) {
		err_set(e, "'%s': %s%s%sexpands more than %llux (limit against decompression bombs); set %s to allow more",
			path, what ? "zip member '" : "", what ? what : "",
			what ? "' " : "", (unsigned long long)l->max_ratio,
			ENV_MAX_RATIO);
		return 0;
	}
	return 1;
}

int unpack_tempfile(struct err *e)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	snprintf(path, sizeof(path), "%s/qscope-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0) {
		err_set(e, "cannot make a temporary file in '%s': %s", dir,
			strerror(errno));
		return -1;
	}
	unlink(path);
	return fd;
}

static int is_tar(const unsigned char *h, size_t len)
{
	return len >= 263 && memcmp(h + 257, "ustar", 5) == 0;
}

static int archive_sniff(const unsigned char *h, size_t len)
{
	static const unsigned char gz[] = { 0x1f, 0x8b },
		zst[] = { 0x28, 0xb5, 0x2f, 0xfd },
		xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0 };

	return zip_sniff(h, len) || is_tar(h, len) ||
	       (len >= 2 && memcmp(h, gz, 2) == 0) ||
	       (len >= 4 && memcmp(h, zst, 4) == 0) ||
	       (len >= 6 && memcmp(h, xz, 6) == 0) ||
	       (len >= 4 && memcmp(h, "BZh", 3) == 0 && h[3] >= '1' &&
		h[3] <= '9');
}

/* One member, its bytes already a source of the model. */
struct member {
	char *name;
	struct source *src;
};

struct members {
	struct member *v;
	size_t n, alloc;
	uint64_t total;		/* decompressed bytes so far */
	uint64_t in_size;	/* the archive's own size */
	struct unpack_limits lim;
};

static void members_release(struct members *ms)
{
	for (size_t i = 0; i < ms->n; i++)
		free(ms->v[i].name);
	free(ms->v);
}

static void members_add(struct members *ms, const char *name,
			struct source *src)
{
	if (ms->n == ms->alloc) {
		ms->alloc = ms->alloc ? ms->alloc * 2 : 16;
		ms->v = xrealloc(ms->v, ms->alloc * sizeof(*ms->v));
	}
	ms->v[ms->n].name = xstrdup(name);
	ms->v[ms->n].src = src;
	ms->n++;
}

/* Where a member's bytes go: memory, then a temporary file once large. */
struct sink {
	unsigned char *buf;
	size_t len, cap;
	int fd;			/* -1 while in memory */
	uint64_t memory_max;	/* to a file past this many bytes */
};

static int sink_to_file(struct sink *s, struct err *e)
{
	size_t off = 0;

	s->fd = unpack_tempfile(e);
	if (s->fd < 0)
		return -1;
	while (off < s->len) {
		ssize_t w = write(s->fd, s->buf + off, s->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err_set(e, "cannot write a temporary file: %s",
				strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
	return 0;
}

static int sink_write(struct sink *s, const void *p, size_t n, struct err *e)
{
	if (s->fd < 0 && s->len + n > s->memory_max &&
	    sink_to_file(s, e) != 0)
		return -1;
	if (s->fd >= 0) {
		size_t off = 0;

		while (off < n) {
			ssize_t w = write(s->fd, (const char *)p + off,
					  n - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				err_set(e, "cannot write a temporary file: %s",
					strerror(errno));
				return -1;
			}
			off += (size_t)w;
		}
		return 0;
	}
	if (s->len + n > s->cap) {
		size_t c = s->cap ? s->cap : 65536;

		while (c < s->len + n)
			c *= 2;
		s->buf = xrealloc(s->buf, c);
		s->cap = c;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return 0;
}

static struct source *sink_finish(struct model *m, struct sink *s,
				  const char *path, struct err *e)
{
	struct source *src;

	if (s->fd >= 0) {
		src = model_add_source_fd(m, path, s->fd, e);
		close(s->fd);
		s->fd = -1;
		return src;
	}
	src = model_add_source_buffer(m, path, s->buf, s->len);
	s->buf = NULL;
	return src;
}

static void sink_abort(struct sink *s)
{
	free(s->buf);
	if (s->fd >= 0)
		close(s->fd);
}

static char *member_path(const char *archive, const char *name)
{
	size_t n = strlen(archive) + strlen(name) + 2;
	char *p = xmalloc(n);

	snprintf(p, n, "%s:%s", archive, name);
	return p;
}

/* The name of a lone compressed file's content: its own, minus .gz etc. */
static char *raw_name(const char *path)
{
	const char *base = strrchr(path, '/');
	static const char *const ext[] = { ".gz", ".zst", ".xz", ".bz2",
					   ".zstd" };
	char *n;

	n = xstrdup(base ? base + 1 : path);
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		size_t a = strlen(n), b = strlen(ext[i]);

		if (a > b && strcmp(n + a - b, ext[i]) == 0) {
			n[a - b] = '\0';
			break;
		}
	}
	return n;
}

/* Read every regular member of a libarchive-readable src. */
static int read_libarchive(struct model *m, struct source *src,
			   struct members *ms, int *is_raw, struct err *e)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ent;
	int rc = -1, r;
	char buf[1 << 16];

	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_memory(a, src->data, (size_t)src->size) !=
	    ARCHIVE_OK) {
		err_set(e, "'%s': cannot read the archive: %s", src->path,
			archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &ent)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		struct sink s = { NULL, 0, 0, -1, ms->lim.memory_max };
		const char *name = archive_entry_pathname(ent);
		char *owned_name = NULL, *path;
		struct source *ms_src;
		la_ssize_t got;

		*is_raw = archive_format(a) == ARCHIVE_FORMAT_RAW;
		if (*is_raw)
			name = owned_name = raw_name(src->path);
		else if (archive_entry_filetype(ent) != AE_IFREG || !name)
			continue;
		if (ms->n >= ARCHIVE_MAX_MEMBERS) {
			free(owned_name);
			err_set(e, "'%s': more than %d members", src->path,
				ARCHIVE_MAX_MEMBERS);
			goto out;
		}
		path = member_path(src->path, name);
		while ((got = archive_read_data(a, buf, sizeof(buf))) > 0) {
			ms->total += (uint64_t)got;
			if (!unpack_allowed(&ms->lim, ms->total, ms->in_size,
					    src->path, NULL, e) ||
			    sink_write(&s, buf, (size_t)got, e) != 0)
				break;
			got = 0;
		}
		if (got < 0)
			err_set(e, "'%s': member '%s' is truncated or damaged: %s",
				src->path, name, archive_error_string(a));
		if (got != 0 || e->msg[0]) {
			sink_abort(&s);
			free(path);
			free(owned_name);
			goto out;
		}
		ms_src = sink_finish(m, &s, path, e);
		free(path);
		if (!ms_src) {
			free(owned_name);
			goto out;
		}
		members_add(ms, name, ms_src);
		free(owned_name);
	}
	if (r != ARCHIVE_EOF) {
		err_set(e, "'%s': the archive is truncated or damaged: %s",
			src->path, archive_error_string(a));
		goto out;
	}
	rc = 0;
out:
	archive_read_free(a);
	return rc;
}

/* Every member of a zip: stored ones in place, deflated ones inflated. */
static int read_zip(struct model *m, struct source *src, struct members *ms,
		    struct err *e)
{
	struct zip z;
	int rc = -1;

	if (zip_open(&z, src, e) != 0)
		return -1;
	for (size_t i = 0; i < z.n; i++) {
		const struct zip_member *zm = &z.members[i];
		struct source *s;
		char *path;

		if (!*zm->name || zm->name[strlen(zm->name) - 1] == '/')
			continue;
		if (ms->n >= ARCHIVE_MAX_MEMBERS) {
			err_set(e, "'%s': more than %d members", src->path,
				ARCHIVE_MAX_MEMBERS);
			goto out;
		}
		path = member_path(src->path, zm->name);
		s = zip_member_source(m, &z, src, zm, UINT64_MAX, path, e);
		free(path);
		if (!s)
			goto out;
		members_add(ms, zm->name, s);
	}
	rc = 0;
out:
	zip_release(&z);
	return rc;
}

static int cmp_members(const void *a, const void *b)
{
	return natural_cmp(((const struct member *)a)->name,
			   ((const struct member *)b)->name);
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static int all_npy(const struct zip *z)
{
	size_t k = 0;

	for (size_t i = 0; i < z->n; i++) {
		size_t n = strlen(z->members[i].name);

		if (n < 4 || strcmp(z->members[i].name + n - 4, ".npy") != 0)
			return 0;
		k++;
	}
	return k > 0;
}

/* The checkpoint format of a member, or NULL for other files. */
static const struct format *member_format(const struct member *mb)
{
	const struct format *f;

	if (!mb->src->size)
		return NULL;
	f = format_sniff(mb->src->data, (size_t)mb->src->size);
	if (f == &format_safetensors_index || f == &format_archive)
		return NULL;
	return f;
}

static int archive_open(struct model *m, struct source *src, struct err *e)
{
	struct members ms = { .in_size = src->size };
	const struct format **fmts = NULL;
	size_t nck = 0;
	int rc = -1, raw = 0, prefix = 0, have_config = 0, has_index = 0;
	const char *dir0 = NULL;
	size_t dir0len = 0;

	e->msg[0] = '\0';
	if (unpack_limits(&ms.lim, e) != 0)
		return -1;
	if (zip_sniff(src->data, (size_t)src->size)) {
		struct zip z;

		if (zip_open(&z, src, e) != 0)
			return -1;
		if (all_npy(&z)) {
			zip_release(&z);
			m->format = "npz";
			return npz_open_source(m, src, e);
		}
		/* A PyTorch checkpoint whose first member did not say so. */
		if (torch_zip_layout(&z)) {
			zip_release(&z);
			m->format = format_torch.name;
			return format_torch.open(m, src, e);
		}
		zip_release(&z);
		m->format = "zip";
		if (read_zip(m, src, &ms, e) != 0)
			goto out;
	} else {
		if (read_libarchive(m, src, &ms, &raw, e) != 0)
			goto out;
	}
	if (ms.n)	/* qsort(NULL, 0) is undefined */
		qsort(ms.v, ms.n, sizeof(*ms.v), cmp_members);

	fmts = xcalloc(ms.n ? ms.n : 1, sizeof(*fmts));
	for (size_t i = 0; i < ms.n; i++)
		if (strstr(base_name(ms.v[i].name), ".safetensors.index.json"))
			has_index = 1;
	for (size_t i = 0; i < ms.n; i++) {
		const char *slash;
		size_t dl;

		fmts[i] = member_format(&ms.v[i]);
		if (!fmts[i])
			continue;
		/* Unprefixed only for one checkpoint, or the shards of
		 * one model (as in a folder: same_checkpoint()), or the
		 * safetensors of one folder beside their index. */
		slash = strrchr(ms.v[i].name, '/');
		dl = slash ? (size_t)(slash - ms.v[i].name) : 0;
		if (nck == 0) {
			dir0 = ms.v[i].name;
			dir0len = dl;
		}
		if (!same_checkpoint(dir0, ms.v[i].name) &&
		    (!has_index || fmts[i] != &format_safetensors ||
		     dl != dir0len || memcmp(dir0, ms.v[i].name, dl) != 0))
			prefix = 1;
		nck++;
	}
	if (nck <= 1)
		prefix = 0;
	if (!nck) {
		err_set(e, "'%s': holds no checkpoint qscope can read (%zu member%s)",
			src->path, ms.n, ms.n == 1 ? "" : "s");
		goto out;
	}
	for (size_t i = 0; i < ms.n; i++) {
		json_t *j;

		if (have_config || strcmp(base_name(ms.v[i].name),
					  "config.json") != 0)
			continue;
		j = source_json(ms.v[i].src, "config", e);
		if (j && json_is_object(j)) {
			model_add_meta(m, "config.json", "json", j);
			have_config = 1;
		} else {
			json_decref(j);
		}
		e->msg[0] = '\0';
	}
	if (prefix) {
		/* Which members are separate checkpoints (as a folder). */
		json_t *list = json_array();

		for (size_t i = 0; i < ms.n; i++) {
			char clean[1024];

			if (fmts[i])
				json_array_append_new(list,
					json_string(text_sanitize(ms.v[i].name,
						clean, sizeof(clean))));
		}
		model_add_meta(m, "checkpoints", "json", list);
	}
	for (size_t i = 0; i < ms.n; i++) {
		char *pfx = NULL;
		int r;

		if (!fmts[i])
			continue;
		if (prefix) {
			pfx = xmalloc(strlen(ms.v[i].name) + 2);
			sprintf(pfx, "%s:", ms.v[i].name);
			m->tensor_prefix = pfx;
		}
		r = fmts[i]->open(m, ms.v[i].src, e);
		m->tensor_prefix = NULL;
		free(pfx);
		if (r != 0)
			goto out;
	}
	if (m->format == format_archive.name) {
		/* Name it as people do: "tar+gzip", "safetensors+zstd". */
		static char kind[64];
		const unsigned char *h = src->data;
		const char *filt = h[0] == 0x1f ? "gzip" :
				   h[0] == 0x28 ? "zstd" :
				   h[0] == 0xfd ? "xz" :
				   h[0] == 'B'	? "bzip2" : NULL;

		if (raw) {
			for (size_t i = 0; i < ms.n; i++)
				if (fmts[i])
					snprintf(kind, sizeof(kind), "%s+%s",
						 fmts[i]->name,
						 filt ? filt : "data");
			m->format = kind;
		} else if (filt) {
			m->format = filt[0] == 'g' ? "tar+gzip" :
				    filt[0] == 'z' ? "tar+zstd" :
				    filt[0] == 'x' ? "tar+xz" : "tar+bzip2";
		} else {
			m->format = "tar";
		}
	}
	rc = 0;
out:
	free(fmts);
	members_release(&ms);
	return rc;
}

const struct format format_archive = { "archive", archive_sniff,
				       archive_open };
