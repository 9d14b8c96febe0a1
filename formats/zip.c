/*
 * formats/zip.c - the members of a zip file held in a source (formats/zip.h).
 *
 * The end of central directory record is found in the last 64 KiB + 22
 * bytes; a ZIP64 locator just before it leads to the ZIP64 record.  Every
 * central directory entry is checked against the source: its name, extra
 * field and comment lie inside the directory, its ZIP64 extra field gives
 * whatever the 32-bit fields leave at 0xFFFFFFFF, and its local header (whose
 * own name and extra lengths decide where the data starts) and data lie
 * inside the source.  Nothing is trusted: a size only ever bounds a check.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "formats/zip.h"

#define EOCD_SIG 0x06054b50u
#define EOCD_LEN 22
#define Z64_LOC_SIG 0x07064b50u
#define Z64_LOC_LEN 20
#define Z64_EOCD_SIG 0x06064b50u
#define Z64_EOCD_LEN 56
#define CDH_SIG 0x02014b50u
#define CDH_LEN 46
#define LFH_SIG 0x04034b50u
#define LFH_LEN 30
#define MAX_COMMENT 65535

/* More members than this is not a checkpoint (and would be a lot of
 * memory for a directory that claims them). */
#define ZIP_MAX_MEMBERS 10000000ull

static uint16_t rd16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
	       ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

int zip_sniff(const unsigned char *head, size_t len)
{
	return len >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 &&
	       head[3] == 4;
}

void zip_release(struct zip *z)
{
	for (size_t i = 0; i < z->n; i++)
		free(z->members[i].name);
	free(z->members);
	memset(z, 0, sizeof(*z));
}

/* Find the end of central directory record: the last signature whose
 * comment length reaches exactly the end of the file (or, failing that, the
 * last signature at all, for files with junk appended). */
static int find_eocd(const struct source *src, uint64_t *at)
{
	uint64_t lo, i;
	int found = 0;

	if (src->size < EOCD_LEN)
		return -1;
	lo = src->size > EOCD_LEN + MAX_COMMENT ?
		     src->size - EOCD_LEN - MAX_COMMENT : 0;
	for (i = src->size - EOCD_LEN + 1; i-- > lo;) {
		const unsigned char *p = src->data + i;

		if (rd32(p) != EOCD_SIG)
			continue;
		if (i + EOCD_LEN + rd16(p + 20) == src->size) {
			*at = i;
			return 0;
		}
		if (!found) {
			*at = i;
			found = 1;
		}
	}
	return found ? 0 : -1;
}

/* Apply a ZIP64 extended information extra field (id 1) to m. */
static int apply_zip64(struct zip_member *m, const unsigned char *x,
		       size_t xlen, int need_u, int need_c, int need_o)
{
	while (xlen >= 4) {
		unsigned id = rd16(x), len = rd16(x + 2);
		size_t pos = 4;

		if (len > xlen - 4)
			return -1;
		if (id == 1) {
			if (need_u) {
				if (pos + 8 > 4 + (size_t)len)
					return -1;
				m->usize = rd64(x + pos);
				pos += 8;
			}
			if (need_c) {
				if (pos + 8 > 4 + (size_t)len)
					return -1;
				m->csize = rd64(x + pos);
				pos += 8;
			}
			if (need_o) {
				if (pos + 8 > 4 + (size_t)len)
					return -1;
				m->header_offset = rd64(x + pos);
			}
			return 0;
		}
		x += 4 + len;
		xlen -= 4 + (size_t)len;
	}
	return need_u || need_c || need_o ? -1 : 0;
}

static void member_name(char *out, size_t n, const struct zip_member *m)
{
	text_sanitize(m->name, out, n);
}

/* Check m's local header and set its data offset. */
static int check_local(const struct source *src, struct zip_member *m,
		       struct err *e)
{
	const unsigned char *p;
	uint64_t data;
	char nm[256];

	member_name(nm, sizeof(nm), m);
	if (m->header_offset > src->size ||
	    src->size - m->header_offset < LFH_LEN) {
		err_set(e, "'%s': zip member '%s': local header at %llu is outside the file (%llu bytes)",
			src->path, nm, (unsigned long long)m->header_offset,
			(unsigned long long)src->size);
		return -1;
	}
	p = src->data + m->header_offset;
	if (rd32(p) != LFH_SIG) {
		err_set(e, "'%s': zip member '%s': no local header at offset %llu",
			src->path, nm, (unsigned long long)m->header_offset);
		return -1;
	}
	data = m->header_offset + LFH_LEN + rd16(p + 26) + rd16(p + 28);
	if (data > src->size) {
		err_set(e, "'%s': zip member '%s': local header runs past the end of the file",
			src->path, nm);
		return -1;
	}
	if (m->csize > src->size - data) {
		err_set(e, "'%s': zip member '%s': claims %llu bytes but only %llu remain in the file",
			src->path, nm, (unsigned long long)m->csize,
			(unsigned long long)(src->size - data));
		return -1;
	}
	if (m->method == ZIP_STORED && m->csize != m->usize) {
		err_set(e, "'%s': zip member '%s': stored member with %llu compressed but %llu uncompressed bytes",
			src->path, nm, (unsigned long long)m->csize,
			(unsigned long long)m->usize);
		return -1;
	}
	m->data_offset = data;
	return 0;
}

int zip_open(struct zip *z, const struct source *src, struct err *e)
{
	uint64_t eocd = 0, cd_off, cd_size, count, pos, end;
	const unsigned char *p;
	size_t alloc = 0;

	memset(z, 0, sizeof(*z));
	if (find_eocd(src, &eocd) != 0) {
		err_set(e, "'%s': not a complete zip file (no end of central directory; truncated?)",
			src->path);
		return -1;
	}
	p = src->data + eocd;
	count = rd16(p + 10);
	cd_size = rd32(p + 12);
	cd_off = rd32(p + 16);
	if (rd16(p + 4) != 0 || rd16(p + 6) != 0) {
		err_set(e, "'%s': multi-volume zip files are not read",
			src->path);
		return -1;
	}
	if (eocd >= Z64_LOC_LEN &&
	    rd32(src->data + eocd - Z64_LOC_LEN) == Z64_LOC_SIG) {
		const unsigned char *l = src->data + eocd - Z64_LOC_LEN;
		uint64_t z64 = rd64(l + 8);

		if (z64 > src->size || src->size - z64 < Z64_EOCD_LEN ||
		    rd32(src->data + z64) != Z64_EOCD_SIG) {
			err_set(e, "'%s': bad ZIP64 end of central directory",
				src->path);
			return -1;
		}
		p = src->data + z64;
		count = rd64(p + 32);
		cd_size = rd64(p + 40);
		cd_off = rd64(p + 48);
		eocd = z64;
	}
	if (cd_off > eocd || cd_size > eocd - cd_off) {
		err_set(e, "'%s': zip central directory (%llu bytes at %llu) is outside the file",
			src->path, (unsigned long long)cd_size,
			(unsigned long long)cd_off);
		return -1;
	}
	/* Each entry takes at least CDH_LEN bytes. */
	if (count > cd_size / CDH_LEN || count > ZIP_MAX_MEMBERS) {
		err_set(e, "'%s': zip central directory claims %llu members in %llu bytes",
			src->path, (unsigned long long)count,
			(unsigned long long)cd_size);
		return -1;
	}
	pos = cd_off;
	end = cd_off + cd_size;
	for (uint64_t i = 0; i < count; i++) {
		struct zip_member *m;
		unsigned nlen, xlen, clen, flags;
		uint32_t c32, u32, o32;

		if (end - pos < CDH_LEN || rd32(src->data + pos) != CDH_SIG) {
			err_set(e, "'%s': zip central directory entry %llu is damaged",
				src->path, (unsigned long long)i);
			goto fail;
		}
		p = src->data + pos;
		nlen = rd16(p + 28);
		xlen = rd16(p + 30);
		clen = rd16(p + 32);
		if ((uint64_t)CDH_LEN + nlen + xlen + clen > end - pos) {
			err_set(e, "'%s': zip central directory entry %llu runs past the directory",
				src->path, (unsigned long long)i);
			goto fail;
		}
		if (z->n == alloc) {
			alloc = alloc ? alloc * 2 : 16;
			z->members = xrealloc(z->members,
					      alloc * sizeof(*z->members));
		}
		m = &z->members[z->n++];
		memset(m, 0, sizeof(*m));
		m->name = xmalloc(nlen + 1);
		memcpy(m->name, p + CDH_LEN, nlen);
		m->name[nlen] = '\0';
		if (memchr(m->name, '\0', nlen)) {
			err_set(e, "'%s': zip member name %llu holds a NUL byte",
				src->path, (unsigned long long)i);
			goto fail;
		}
		flags = rd16(p + 8);
		m->method = rd16(p + 10);
		m->crc32 = rd32(p + 16);
		c32 = rd32(p + 20);
		u32 = rd32(p + 24);
		o32 = rd32(p + 42);
		m->csize = c32;
		m->usize = u32;
		m->header_offset = o32;
		if (apply_zip64(m, p + CDH_LEN + nlen, xlen, u32 == 0xFFFFFFFFu,
				c32 == 0xFFFFFFFFu, o32 == 0xFFFFFFFFu) != 0) {
			char nm[256];

			member_name(nm, sizeof(nm), m);
			err_set(e, "'%s': zip member '%s': bad ZIP64 extra field",
				src->path, nm);
			goto fail;
		}
		if (flags & 1) {
			char nm[256];

			member_name(nm, sizeof(nm), m);
			err_set(e, "'%s': zip member '%s' is encrypted (not read)",
				src->path, nm);
			goto fail;
		}
		if (check_local(src, m, e) != 0)
			goto fail;
		pos += CDH_LEN + nlen + xlen + clen;
	}
	return 0;
fail:
	zip_release(z);
	return -1;
}

const struct zip_member *zip_find(const struct zip *z, const char *name)
{
	for (size_t i = 0; i < z->n; i++)
		if (strcmp(z->members[i].name, name) == 0)
			return &z->members[i];
	return NULL;
}

/* zlib counts in uInt: feed input in pieces no larger than this. */
#define ZCHUNK (1u << 30)
/* Inflated bytes are handed on in pieces of this size. */
#define OUT_CHUNK (256u << 10)

/* Where inflated bytes go: a buffer of usize bytes, or a file. */
struct inflate_out {
	unsigned char *buf;
	int fd;
	const char *path;	/* for messages */
};

static int out_put(struct inflate_out *o, uint64_t at, const unsigned char *p,
		   size_t n, struct err *e)
{
	if (o->buf) {
		memcpy(o->buf + at, p, n);
		return 0;
	}
	while (n) {
		ssize_t w = write(o->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err_set(e, "'%s': cannot write a temporary file: %s",
				o->path, w < 0 ? strerror(errno) : "no space");
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Inflate m (raw deflate) into o, a piece at a time: never more than
 * m->usize bytes, which must be exactly what the stream holds, with the
 * CRC-32 the directory records.
 */
static int inflate_member(const struct source *src, const struct zip_member *m,
			  struct inflate_out *o, struct err *e)
{
	unsigned char *chunk = xmalloc(OUT_CHUNK);
	uLong crc = crc32(0L, Z_NULL, 0);
	uint64_t in_left = m->csize, out = 0;
	int rc, over = 0, failed = 0;
	z_stream zs;
	char nm[256];

	member_name(nm, sizeof(nm), m);
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
		free(chunk);
		err_set(e, "'%s': zip member '%s': cannot start inflating",
			src->path, nm);
		return -1;
	}
	zs.next_in = (unsigned char *)(uintptr_t)(src->data + m->data_offset);
	for (;;) {
		size_t got;

		if (zs.avail_in == 0 && in_left) {
			zs.avail_in = (uInt)(in_left < ZCHUNK ? in_left :
							      ZCHUNK);
			in_left -= zs.avail_in;
		}
		zs.next_out = chunk;
		zs.avail_out = OUT_CHUNK;
		rc = inflate(&zs, Z_NO_FLUSH);
		got = OUT_CHUNK - zs.avail_out;
		if (got > m->usize - out) {
			over = 1;
			break;
		}
		if (got) {
			crc = crc32(crc, chunk, (uInt)got);
			if (out_put(o, out, chunk, got, e) != 0) {
				failed = 1;
				break;
			}
			out += got;
		}
		if (rc == Z_STREAM_END)
			break;
		if (rc == Z_BUF_ERROR && !got)
			break;		/* no progress: input used up */
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			break;
	}
	inflateEnd(&zs);
	free(chunk);
	if (failed)
		return -1;
	if (over) {
		err_set(e, "'%s': zip member '%s': inflates to more than the %llu bytes it claims",
			src->path, nm, (unsigned long long)m->usize);
		return -1;
	}
	if (rc == Z_DATA_ERROR) {
		err_set(e, "'%s': zip member '%s': damaged deflate stream (%s)",
			src->path, nm, zs.msg ? zs.msg : "bad data");
		return -1;
	}
	if (rc != Z_STREAM_END) {
		err_set(e, "'%s': zip member '%s': deflate stream is truncated",
			src->path, nm);
		return -1;
	}
	if (out != m->usize) {
		err_set(e, "'%s': zip member '%s': inflates to %llu bytes, not the %llu it claims",
			src->path, nm, (unsigned long long)out,
			(unsigned long long)m->usize);
		return -1;
	}
	if ((uint32_t)crc != m->crc32) {
		err_set(e, "'%s': zip member '%s': CRC-32 mismatch (damaged data)",
			src->path, nm);
		return -1;
	}
	return 0;
}

/* The checks every member passes before a byte is inflated. */
static int member_precheck(const struct source *src,
			   const struct zip_member *m, uint64_t max_bytes,
			   struct err *e)
{
	char nm[256];

	member_name(nm, sizeof(nm), m);
	if (m->usize > max_bytes) {
		err_set(e, "'%s': zip member '%s': claims %llu bytes, more than the %llu allowed",
			src->path, nm, (unsigned long long)m->usize,
			(unsigned long long)max_bytes);
		return -1;
	}
	if (m->data_offset > src->size || m->csize > src->size - m->data_offset) {
		err_set(e, "'%s': zip member '%s': data is outside the file",
			src->path, nm);
		return -1;
	}
	if (m->method == ZIP_STORED) {
		if (m->csize != m->usize) {
			err_set(e, "'%s': zip member '%s': stored sizes differ",
				src->path, nm);
			return -1;
		}
		return 0;
	}
	if (m->method != ZIP_DEFLATED) {
		err_set(e, "'%s': zip member '%s': compression method %u is not read (only stored and deflated)",
			src->path, nm, m->method);
		return -1;
	}
	/* Deflate cannot expand more than 1032:1 (258 bytes from a 2-bit
	 * code): a member claiming more is lying, so refuse it before
	 * allocating what it claims. */
	if (m->usize / 1032 > m->csize + 64) {
		err_set(e, "'%s': zip member '%s': claims %llu bytes from %llu compressed, more than deflate can produce",
			src->path, nm, (unsigned long long)m->usize,
			(unsigned long long)m->csize);
		return -1;
	}
	return 0;
}

int zip_member_data(const struct source *src, const struct zip_member *m,
		    uint64_t max_bytes, const unsigned char **data,
		    void **owned, struct err *e)
{
	struct inflate_out o = { NULL, -1, src->path };
	struct unpack_limits lim;
	char nm[256];

	*data = NULL;
	*owned = NULL;
	if (member_precheck(src, m, max_bytes, e) != 0)
		return -1;
	if (m->method == ZIP_STORED) {
		*data = src->data + m->data_offset;
		return 0;
	}
	member_name(nm, sizeof(nm), m);
	/* The bomb limits bound the allocation, whatever max_bytes says. */
	if (unpack_limits(&lim, e) != 0 ||
	    !unpack_allowed(&lim, m->usize, src->size, src->path, nm, e))
		return -1;
	if (m->usize > SIZE_MAX - 1) {
		err_set(e, "'%s': zip member '%s': too large for memory",
			src->path, nm);
		return -1;
	}
	o.buf = malloc((size_t)m->usize + 1);
	if (!o.buf) {
		err_set(e, "'%s': zip member '%s': cannot allocate %llu bytes to inflate it",
			src->path, nm, (unsigned long long)m->usize);
		return -1;
	}
	if (inflate_member(src, m, &o, e) != 0) {
		free(o.buf);
		return -1;
	}
	*data = o.buf;
	*owned = o.buf;
	return 0;
}

struct source *zip_member_source(struct model *md, struct zip *z,
				 const struct source *src,
				 const struct zip_member *m, uint64_t max_bytes,
				 const char *name, struct err *e)
{
	struct unpack_limits lim;
	struct inflate_out o = { NULL, -1, src->path };
	struct source *s;
	char nm[256];

	if (member_precheck(src, m, max_bytes, e) != 0)
		return NULL;
	if (m->method == ZIP_STORED)
		return model_add_source_view(md, name, src, m->data_offset,
					     m->usize, e);
	member_name(nm, sizeof(nm), m);
	if (unpack_limits(&lim, e) != 0)
		return NULL;
	/* The claim, checked against the limits before anything is
	 * allocated or written; the stream cannot then give more. */
	if (m->usize > UINT64_MAX - z->unpacked ||
	    !unpack_allowed(&lim, z->unpacked + m->usize, src->size,
			    src->path, nm, e))
		return NULL;
	if (m->usize <= lim.memory_max) {
		o.buf = xmalloc(m->usize ? (size_t)m->usize : 1);
		if (inflate_member(src, m, &o, e) != 0) {
			free(o.buf);
			return NULL;
		}
		s = model_add_source_buffer(md, name, o.buf, m->usize);
	} else {
		o.fd = unpack_tempfile(e);
		if (o.fd < 0)
			return NULL;
		s = NULL;
		if (inflate_member(src, m, &o, e) == 0)
			s = model_add_source_fd(md, name, o.fd, e);
		close(o.fd);
		if (!s)
			return NULL;
	}
	z->unpacked += m->usize;
	return s;
}
