/*
 * Unit tests for formats/zip.c: zip files built here byte by byte (stored,
 * deflated, ZIP64 extra fields) and damaged ones.
 */
#include <stdlib.h>
#include <unistd.h>

#include <zlib.h>

#include "formats/zip.h"
#include "tests/check.h"

struct zbuf {
	unsigned char *p;
	size_t n, cd_start;
	unsigned char cd[4096];
	size_t cdn;
	unsigned count;
};

static void put(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void add(struct zbuf *z, const void *d, size_t n)
{
	z->p = xrealloc(z->p, z->n + n);
	memcpy(z->p + z->n, d, n);
	z->n += n;
}

/* Append a member; zip64 puts the sizes and offset in a ZIP64 extra field.
 * claim_usize, when nonzero, replaces the uncompressed size recorded. */
static void zb_member(struct zbuf *z, const char *name, const void *data,
		      size_t n, int deflated, int zip64, uint64_t claim_usize)
{
	unsigned char lh[30] = { 0 }, *cd = z->cd + z->cdn, comp[4096];
	size_t nl = strlen(name), cn = n;
	const void *body = data;
	uint64_t off = z->n, usize = claim_usize ? claim_usize : n;
	uint32_t crc = (uint32_t)crc32(0, data, (uInt)n);

	if (deflated) {
		z_stream s;

		memset(&s, 0, sizeof(s));
		deflateInit2(&s, 6, Z_DEFLATED, -MAX_WBITS, 8,
			     Z_DEFAULT_STRATEGY);
		s.next_in = (unsigned char *)(uintptr_t)data;
		s.avail_in = (uInt)n;
		s.next_out = comp;
		s.avail_out = sizeof(comp);
		deflate(&s, Z_FINISH);
		cn = s.total_out;
		deflateEnd(&s);
		body = comp;
	}
	put(lh, 0x04034b50, 4);
	put(lh + 8, deflated ? 8 : 0, 2);
	put(lh + 14, crc, 4);
	put(lh + 18, cn, 4);
	put(lh + 22, n, 4);
	put(lh + 26, nl, 2);
	add(z, lh, 30);
	add(z, name, nl);
	add(z, body, cn);

	memset(cd, 0, 46);
	put(cd, 0x02014b50, 4);
	put(cd + 10, deflated ? 8 : 0, 2);
	put(cd + 16, crc, 4);
	put(cd + 20, zip64 ? 0xFFFFFFFFu : cn, 4);
	put(cd + 24, zip64 ? 0xFFFFFFFFu : usize, 4);
	put(cd + 28, nl, 2);
	put(cd + 30, zip64 ? 28 : 0, 2);
	put(cd + 42, zip64 ? 0xFFFFFFFFu : off, 4);
	memcpy(cd + 46, name, nl);
	z->cdn += 46 + nl;
	if (zip64) {
		unsigned char *x = z->cd + z->cdn;

		put(x, 1, 2);
		put(x + 2, 24, 2);
		put(x + 4, usize, 8);
		put(x + 12, cn, 8);
		put(x + 20, off, 8);
		z->cdn += 28;
	}
	z->count++;
}

static void zb_finish(struct zbuf *z)
{
	unsigned char e[22] = { 0 };
	uint64_t cdoff = z->n;

	add(z, z->cd, z->cdn);
	put(e, 0x06054b50, 4);
	put(e + 8, z->count, 2);
	put(e + 10, z->count, 2);
	put(e + 12, z->cdn, 4);
	put(e + 16, cdoff, 4);
	add(z, e, 22);
}

static struct source zb_source(struct zbuf *z)
{
	struct source s = { .path = (char *)"t.zip", .data = z->p, .size = z->n,
			    .fd = -1 };

	return s;
}

TEST(zip_stored_and_deflated)
{
	struct zbuf z = { 0 };
	struct zip zz;
	struct source src;
	struct err e = { "" };
	char big[3000];
	const unsigned char *d;
	void *owned;
	const struct zip_member *m;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i % 7);
	zb_member(&z, "a/data/0", "hello", 5, 0, 0, 0);
	zb_member(&z, "b.npy", big, sizeof(big), 1, 0, 0);
	zb_member(&z, "c", big, 100, 1, 1, 0);
	zb_finish(&z);
	src = zb_source(&z);
	CHECK(zip_sniff(z.p, z.n));
	CHECK(!zip_sniff((const unsigned char *)"PK\5\6", 4));
	if (zip_open(&zz, &src, &e) != 0) {
		CHECK(!e.msg);
		free(z.p);
		return;
	}
	CHECK_EQ_U(zz.n, 3);
	m = zip_find(&zz, "a/data/0");
	CHECK(m && m->method == ZIP_STORED && m->usize == 5);
	CHECK(m && m->data_offset == 30 + 8);
	CHECK_EQ_I(zip_member_data(&src, m, 1000, &d, &owned, &e), 0);
	CHECK(owned == NULL && d == z.p + 38 && memcmp(d, "hello", 5) == 0);

	m = zip_find(&zz, "b.npy");
	CHECK(m && m->method == ZIP_DEFLATED && m->usize == sizeof(big));
	CHECK_EQ_I(zip_member_data(&src, m, 1 << 20, &d, &owned, &e), 0);
	CHECK(owned && d == owned && memcmp(d, big, sizeof(big)) == 0);
	free(owned);
	/* More than max_bytes: refused before inflating. */
	CHECK_EQ_I(zip_member_data(&src, m, 100, &d, &owned, &e), -1);
	CHECK(strstr(e.msg, "more than the 100 allowed") != NULL);

	m = zip_find(&zz, "c");
	CHECK(m && m->usize == 100 && m->header_offset > 0);
	CHECK_EQ_I(zip_member_data(&src, m, 1 << 20, &d, &owned, &e), 0);
	CHECK(owned && memcmp(d, big, 100) == 0);
	free(owned);
	CHECK(zip_find(&zz, "nope") == NULL);
	zip_release(&zz);
	CHECK_EQ_U(zz.n, 0);
	free(z.p);
}

TEST(zip_lies_refused)
{
	struct zbuf z = { 0 };
	struct zip zz;
	struct source src;
	struct err e = { "" };
	char big[3000] = { 0 };
	const unsigned char *d;
	void *owned;

	/* A deflated member claiming terabytes, and one claiming fewer
	 * bytes than it inflates to. */
	zb_member(&z, "huge", big, sizeof(big), 1, 1, 5ull << 40);
	zb_member(&z, "short", big, sizeof(big), 1, 0, 1000);
	zb_member(&z, "long", big, sizeof(big), 1, 0, 4000);
	zb_finish(&z);
	src = zb_source(&z);
	CHECK_EQ_I(zip_open(&zz, &src, &e), 0);
	CHECK_EQ_I(zip_member_data(&src, zip_find(&zz, "huge"), 1ull << 30,
				   &d, &owned, &e), -1);
	CHECK(strstr(e.msg, "claims 5497558138880 bytes") != NULL);
	/* Within max_bytes, but more than deflate can make of its bytes. */
	CHECK_EQ_I(zip_member_data(&src, zip_find(&zz, "huge"), UINT64_MAX,
				   &d, &owned, &e), -1);
	CHECK(strstr(e.msg, "more than deflate can produce") != NULL);
	CHECK_EQ_I(zip_member_data(&src, zip_find(&zz, "short"), 1ull << 30,
				   &d, &owned, &e), -1);
	CHECK(strstr(e.msg, "more than the 1000") != NULL);
	CHECK_EQ_I(zip_member_data(&src, zip_find(&zz, "long"), 1ull << 30,
				   &d, &owned, &e), -1);
	CHECK(strstr(e.msg, "inflates to 3000 bytes") != NULL);
	zip_release(&zz);

	/* Every truncation of the file is refused, never read past. */
	for (size_t cut = 0; cut < z.n; cut += 7) {
		unsigned char *c = xmalloc(cut ? cut : 1);

		memcpy(c, z.p, cut);
		src.data = c;
		src.size = cut;
		if (zip_open(&zz, &src, &e) == 0) {
			for (size_t i = 0; i < zz.n; i++)
				if (zip_member_data(&src, &zz.members[i],
						    1 << 20, &d, &owned,
						    &e) == 0)
					free(owned);
			zip_release(&zz);
		}
		free(c);
	}
	free(z.p);
}

TEST(zip_damaged_data)
{
	struct zbuf z = { 0 };
	struct zip zz;
	struct source src;
	struct err e = { "" };
	char big[3000];
	const unsigned char *d;
	void *owned;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 31);
	zb_member(&z, "x", big, sizeof(big), 1, 0, 0);
	zb_finish(&z);
	z.p[30 + 1 + 40] ^= 0x55;	/* inside the deflate stream */
	src = zb_source(&z);
	CHECK_EQ_I(zip_open(&zz, &src, &e), 0);
	CHECK_EQ_I(zip_member_data(&src, &zz.members[0], 1 << 20, &d, &owned,
				   &e), -1);
	zip_release(&zz);
	free(z.p);

	/* A local header offset past the end of the file. */
	memset(&z, 0, sizeof(z));
	zb_member(&z, "y", "abc", 3, 0, 0, 0);
	put(z.cd + 42, 1000, 4);
	zb_finish(&z);
	src = zb_source(&z);
	CHECK_EQ_I(zip_open(&zz, &src, &e), -1);
	CHECK(strstr(e.msg, "outside the file") != NULL);
	free(z.p);
}
