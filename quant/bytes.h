/*
 * quant/bytes.h - little-endian loads and stores on possibly unaligned
 * bytes, shared by the dtype conversions and the GGUF block kernels.
 *
 * On a little-endian host memcpy compiles to a plain load; other byte
 * orders assemble the value byte by byte.  Stores always go byte by byte.
 */
#ifndef QSCOPE_QUANT_BYTES_H
#define QSCOPE_QUANT_BYTES_H

#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_LE 1
#else
#define HOST_LE 0
#endif

static inline uint16_t load_le16(const unsigned char *p)
{
	uint16_t v;

	if (HOST_LE) {
		memcpy(&v, p, sizeof(v));
		return v;
	}
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t load_le32(const unsigned char *p)
{
	uint32_t v;

	if (HOST_LE) {
		memcpy(&v, p, sizeof(v));
		return v;
	}
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t v;

	if (HOST_LE) {
		memcpy(&v, p, sizeof(v));
		return v;
	}
	return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32;
}

static inline void store_le16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static inline void store_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

#endif
