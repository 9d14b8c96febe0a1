/*
 * formats/zip.h - the members of a zip file held in a source, for the
 * readers built on zip (PyTorch checkpoints, .npz).
 *
 * The central directory (ZIP64 included) is parsed with every offset and
 * size checked against the source; a stored member's bytes are read in
 * place from the mapping, a deflated one is inflated once into memory the
 * caller releases.  Not for formats/archive.c, which reads any archive
 * through libarchive.
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
};

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
 * max_bytes, is an error.  0, or -1 with e filled.
 */
int zip_member_data(const struct source *src, const struct zip_member *m,
		    uint64_t max_bytes, const unsigned char **data,
		    void **owned, struct err *e);

#endif
