/*
 * formats/zip.h - the members of a zip file held in a source, for the
 * readers built on zip (PyTorch checkpoints, .npz).
 *
 * The central directory (ZIP64 included) is parsed with every offset and
 * size checked against the source; a stored member's bytes are read in
 * place from the mapping, a deflated one is inflated once, as it streams,
 * into memory when small and into an unlinked temporary file when not.
 *
 * The limits against decompression bombs live here too, for every reader
 * that unpacks (zip members here, libarchive members in formats/archive.c,
 * which defines them): one place reads their defaults and the environment
 * variables that override them.
 */
#ifndef QSCOPE_FORMATS_ZIP_H
#define QSCOPE_FORMATS_ZIP_H

#include <stdint.h>

#include "formats/model.h"

enum {
	ZIP_STORED = 0,
	ZIP_DEFLATED = 8,
};

struct zip_member {
	char *name;		/* as stored (not sanitized); NUL-terminated */
	unsigned method;	/* ZIP_STORED, ZIP_DEFLATED, or other (refused) */
	uint64_t csize;		/* compressed bytes */
	uint64_t usize;		/* uncompressed bytes */
	uint32_t crc32;
	uint64_t header_offset;	/* local file header, in the source */
	uint64_t data_offset;	/* first byte of the member's data */
};

struct zip {
	struct zip_member *members;
	size_t n;
	uint64_t unpacked;	/* bytes inflated from it so far (limits) */
};

/*
 * Limits against decompression bombs (formats/archive.c).  Per opened
 * file: no more than max_bytes unpacked in all, and once past ratio_floor
 * no more than max_ratio times the file's own size.  QSCOPE_MAX_UNPACKED
 * (a size: 64G, 500M, 1T or plain bytes) and QSCOPE_MAX_RATIO (a whole
 * number) override the defaults.  A member larger than memory_max is
 * unpacked into an unlinked temporary file (in $TMPDIR or /tmp) and
 * mapped; smaller ones stay in memory.
 */
struct unpack_limits {
	uint64_t max_bytes;
	uint64_t max_ratio;
	uint64_t ratio_floor;
	uint64_t memory_max;
};

/* The limits in force: 0, or -1 with e filled when a variable is not a
 * valid value ("QSCOPE_MAX_RATIO='x' is not ..."). */
int unpack_limits(struct unpack_limits *l, struct err *e);

/*
 * May a file of in_size bytes unpack to total bytes?  1, or 0 with e
 * filled ("'path': what: expands more than 200x ...; set QSCOPE_MAX_RATIO
 * to allow more"); what names the member or is NULL for the whole file.
 */
int unpack_allowed(const struct unpack_limits *l, uint64_t total,
		   uint64_t in_size, const char *path, const char *what,
		   struct err *e);

/* A new temporary file, already unlinked: its descriptor, or -1 with e
 * filled. */
int unpack_tempfile(struct err *e);

/* 1 if these first bytes start a zip file ("PK\3\4"). */
int zip_sniff(const unsigned char *head, size_t len);

/* Parse src's central directory into z (zeroed first).  0, or -1 with e
 * filled ("'path': zip member 'x': ..."). */
int zip_open(struct zip *z, const struct source *src, struct err *e);
void zip_release(struct zip *z);

/* The member named name; NULL if none. */
const struct zip_member *zip_find(const struct zip *z, const char *name);

/*
 * The uncompressed bytes of m: *data points into src's mapping for a stored
 * member (*owned = NULL), or into a buffer inflated for a deflated one
 * (*owned = that buffer, to free()).  The size is m->usize; a member whose
 * stream does not inflate to exactly usize bytes, or that claims more than
 * max_bytes or the bomb limits allow, is an error.  For small records
 * (torch's data.pkl); zip_member_source() for anything large.  0, or -1
 * with e filled.
 */
int zip_member_data(const struct source *src, const struct zip_member *m,
		    uint64_t max_bytes, const unsigned char **data,
		    void **owned, struct err *e);

/*
 * m's bytes as a new source of model md, named name: a view of src's
 * mapping for a stored member; for a deflated one, the stream inflated
 * into memory when it claims no more than the limits' memory_max, else
 * into an unlinked temporary file that is then mapped.  Nothing is
 * allocated from the claim alone: it is first checked against max_bytes
 * (the caller's own bound), what deflate can make of csize bytes, and the
 * bomb limits over everything z has unpacked so far (z->unpacked grows);
 * the stream must then give exactly usize bytes with the right CRC-32.
 * NULL with e filled.
 */
struct source *zip_member_source(struct model *md, struct zip *z,
				 const struct source *src,
				 const struct zip_member *m, uint64_t max_bytes,
				 const char *name, struct err *e);

#endif
