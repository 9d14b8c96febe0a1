/*
 * tests/fuzz/harness.h - what every libFuzzer harness shares.
 *
 * A harness hands its input to qscope the way `qscope list` does: the bytes
 * become a file (or a file in a model folder) in a private temporary folder
 * (in /dev/shm when there is one), model_open() opens the path, and then
 * every tensor is decoded with tensor_read_f32() in chunks (and a BF16 or
 * F16 one read as codes with tensor_visit_u16(), the way stats reads
 * them), before model_release().  A harness file defines FUZZ_LAYOUT
 * (where the bytes go) and includes this header; tests/fuzz/fuzz.mk builds
 * each tests/fuzz/fuzz_NAME.c into its own fuzzer with the formats/ and
 * quant/ code.
 *
 * Layouts:
 *  FUZZ_FILE    the input is the file opened (sniffed by its bytes);
 *  FUZZ_INDEX   the input is model.safetensors.index.json in a folder that
 *               also holds two small shards; the folder is opened;
 *  FUZZ_CONFIG  the input is config.json beside one small safetensors
 *               file; the folder is opened;
 *  FUZZ_PICKLE  the input is the data.pkl of a PyTorch zip (stored members,
 *               with a 64-byte storage 'archive/data/0'); an input that
 *               starts with the legacy torch magic is opened as it is.
 */
#ifndef QSCOPE_TESTS_FUZZ_HARNESS_H
#define QSCOPE_TESTS_FUZZ_HARNESS_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "formats/model.h"

#define FUZZ_FILE 1
#define FUZZ_INDEX 2
#define FUZZ_CONFIG 3
#define FUZZ_PICKLE 4

#ifndef FUZZ_LAYOUT
#error "define FUZZ_LAYOUT before including tests/fuzz/harness.h"
#endif

/* Values decoded per tensor at most: the start, the middle and the end of a
 * big tensor, so that a stride-0 expand of 2^40 elements stays fast. */
#define FUZZ_CHUNK 4096
#define FUZZ_MAX_CHUNKS 24

static char fuzz_dir[256];
static char fuzz_path[300];	/* what model_open() gets */
static char fuzz_input[300];	/* where the input bytes go */

static void fuzz_write(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const unsigned char *b = p;

	if (fd < 0) {
		perror(path);
		abort();
	}
	while (n) {
		ssize_t w = write(fd, b, n);

		if (w <= 0) {
			perror(path);
			abort();
		}
		b += w;
		n -= (size_t)w;
	}
	close(fd);
}

static void fuzz_remove_dir(void)
{
	static const char *const names[] = {
		"input", "model.safetensors.index.json", "config.json",
		"model.safetensors", "model-00001-of-00002.safetensors",
		"model-00002-of-00002.safetensors",
	};
	char p[400];

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		snprintf(p, sizeof(p), "%s/%s", fuzz_dir, names[i]);
		unlink(p);
	}
	rmdir(fuzz_dir);
}

/* A small safetensors file: one F32 tensor 'name' of 4 values. */
static void fuzz_shard(const char *file, const char *name)
{
	char hdr[160], p[400];
	unsigned char buf[256];
	float v[4] = { 1.0f, -2.0f, 0.5f, 3.0f };
	size_t n;

	n = (size_t)snprintf(hdr, sizeof(hdr),
			     "{\"%s\":{\"dtype\":\"F32\",\"shape\":[2,2],"
			     "\"data_offsets\":[0,16]}}", name);
	while (n % 8)
		hdr[n++] = ' ';
	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
	memcpy(buf + 8, hdr, n);
	memcpy(buf + 8 + n, v, sizeof(v));
	snprintf(p, sizeof(p), "%s/%s", fuzz_dir, file);
	fuzz_write(p, buf, 8 + n + sizeof(v));
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	(void)argc;
	(void)argv;
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/qscope-fuzz-XXXXXX", base);
	if (!mkdtemp(fuzz_dir)) {
		perror(fuzz_dir);
		abort();
	}
	atexit(fuzz_remove_dir);
	switch (FUZZ_LAYOUT) {
	case FUZZ_INDEX:
		fuzz_shard("model-00001-of-00002.safetensors", "a.weight");
		fuzz_shard("model-00002-of-00002.safetensors", "b.weight");
		snprintf(fuzz_input, sizeof(fuzz_input),
			 "%s/model.safetensors.index.json", fuzz_dir);
		snprintf(fuzz_path, sizeof(fuzz_path), "%s", fuzz_dir);
		break;
	case FUZZ_CONFIG:
		fuzz_shard("model.safetensors", "a.weight");
		snprintf(fuzz_input, sizeof(fuzz_input), "%s/config.json",
			 fuzz_dir);
		snprintf(fuzz_path, sizeof(fuzz_path), "%s", fuzz_dir);
		break;
	default:
		snprintf(fuzz_input, sizeof(fuzz_input), "%s/input", fuzz_dir);
		snprintf(fuzz_path, sizeof(fuzz_path), "%s", fuzz_input);
		break;
	}
	return 0;
}

static unsigned char *put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	return p + 2;
}

static unsigned char *put32(unsigned char *p, uint32_t v)
{
	p = put16(p, v & 0xffff);
	return put16(p, v >> 16);
}

/* A zip of stored members names[i] holding data[i] (len[i] bytes) into out
 * (big enough); returns its size. */
static size_t fuzz_zip(unsigned char *out, int n, const char *const *names,
		       const unsigned char *const *data, const size_t *len)
{
	unsigned char *p = out, *cd;
	uint32_t off[8], crc[8];
	size_t cd_at;

	for (int i = 0; i < n; i++) {
		size_t nl = strlen(names[i]);

		crc[i] = (uint32_t)crc32(0L, data[i], (uInt)len[i]);
		off[i] = (uint32_t)(p - out);
		p = put32(p, 0x04034b50);
		p = put16(p, 20);
		p = put16(p, 0);	/* flags */
		p = put16(p, 0);	/* stored */
		p = put32(p, 0);	/* time, date */
		p = put32(p, crc[i]);
		p = put32(p, (uint32_t)len[i]);
		p = put32(p, (uint32_t)len[i]);
		p = put16(p, (unsigned)nl);
		p = put16(p, 0);
		memcpy(p, names[i], nl);
		p += nl;
		memcpy(p, data[i], len[i]);
		p += len[i];
	}
	cd = p;
	cd_at = (size_t)(p - out);
	for (int i = 0; i < n; i++) {
		size_t nl = strlen(names[i]);

		p = put32(p, 0x02014b50);
		p = put16(p, 20);
		p = put16(p, 20);
		p = put16(p, 0);
		p = put16(p, 0);
		p = put32(p, 0);
		p = put32(p, crc[i]);
		p = put32(p, (uint32_t)len[i]);
		p = put32(p, (uint32_t)len[i]);
		p = put16(p, (unsigned)nl);
		p = put32(p, 0);	/* extra, comment lengths */
		p = put32(p, 0);	/* disk, internal attributes */
		p = put32(p, 0);	/* external attributes */
		p = put32(p, off[i]);
		memcpy(p, names[i], nl);
		p += nl;
	}
	p = put32(p, 0x06054b50);
	p = put32(p, 0);
	p = put16(p, (unsigned)n);
	p = put16(p, (unsigned)n);
	p = put32(p, (uint32_t)(p - cd - 12));
	p = put32(p, (uint32_t)cd_at);
	p = put16(p, 0);
	return (size_t)(p - out);
}

static void fuzz_put_input(const uint8_t *data, size_t size)
{
	static const unsigned char legacy[] = { 0x80, 0x02, 0x8a, 0x0a };

	if (FUZZ_LAYOUT == FUZZ_PICKLE &&
	    !(size >= sizeof(legacy) && memcmp(data, legacy, 4) == 0)) {
		static const char *const names[] = {
			"archive/data.pkl", "archive/data/0", "archive/version",
		};
		unsigned char storage[64];
		const unsigned char *parts[3] = {
			data, storage, (const unsigned char *)"3\n",
		};
		size_t len[3] = { size, sizeof(storage), 2 };
		unsigned char *zip = malloc(size + 1024);

		for (size_t i = 0; i < sizeof(storage); i++)
			storage[i] = (unsigned char)(i * 37 + 11);
		fuzz_write(fuzz_input, zip,
			   fuzz_zip(zip, 3, names, parts, len));
		free(zip);
		return;
	}
	fuzz_write(fuzz_input, data, size);
}

/* Decode elements first..first+n of t in chunks. */
static void fuzz_decode(const struct model *m, const struct tensor *t,
			uint64_t first, uint64_t n, float *buf)
{
	struct err e;

	while (n) {
		size_t k = n > FUZZ_CHUNK ? FUZZ_CHUNK : (size_t)n;

		if (tensor_read_f32(m, t, first, k, buf, &e) != 0)
			return;
		first += k;
		n -= k;
	}
}

/* Touch every code handed over (BF16 and F16 are counted from them). */
static void fuzz_codes(void *arg, const uint16_t *code, size_t n)
{
	uint16_t *acc = arg;

	for (size_t i = 0; i < n; i++)
		*acc ^= code[i];
}

/* The codes of elements first..first+n of a 16-bit t, as the statistics
 * take them: one call per range, up to a few chunks. */
static void fuzz_visit(const struct model *m, const struct tensor *t,
		       uint64_t first, uint64_t n)
{
	static uint16_t acc;
	struct err e;

	if (tensor_codes16(t) != DT_NONE)
		(void)tensor_visit_u16(m, t, first, (size_t)n, fuzz_codes,
				       &acc, &e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static float buf[FUZZ_CHUNK];
	struct model m;
	struct err e;
	char shape[256];
	const uint64_t span = (uint64_t)FUZZ_CHUNK * FUZZ_MAX_CHUNKS / 3;

	fuzz_put_input(data, size);
	if (model_open(&m, fuzz_path, &e) != 0)
		return 0;
	for (size_t i = 0; i < m.nmeta; i++) {
		char *s = json_dumps(m.meta[i].value, JSON_ENCODE_ANY);

		free(s);
	}
	for (size_t i = 0; i < m.ntensors; i++) {
		const struct tensor *t = &m.tensors[i];

		tensor_shape_str(t, shape, sizeof(shape));
		text_sanitize(t->name, shape, sizeof(shape));
		if (model_find(&m, t->name) != t)
			abort();	/* names must be unique */
		if (t->params <= 3 * span) {
			fuzz_decode(&m, t, 0, t->params, buf);
			fuzz_visit(&m, t, 0, t->params);
		} else {
			fuzz_decode(&m, t, 0, span, buf);
			fuzz_decode(&m, t, t->params / 2, span, buf);
			fuzz_decode(&m, t, t->params - span, span, buf);
			fuzz_visit(&m, t, t->params - span, span);
		}
		/* A range past the end must be refused, not read. */
		if (tensor_read_f32(&m, t, t->params, 1, buf, &e) == 0)
			abort();
	}
	model_release(&m);
	return 0;
}

#endif
