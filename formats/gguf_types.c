/*
 * formats/gguf_types.c - a GGUF tensor type as a scheme of the table
 * (quant/schemes.h) and back: the one mapping that qscope quantize and the
 * browser's write screen use to choose types for gguf_write() and to check
 * what it wrote.  See formats/gguf.h.
 */
#include "formats/gguf.h"

#include <stdio.h>
#include <string.h>

#include "quant/schemes.h"

/* The casts GGUF stores as plain element types. */
static const struct {
	const char *scheme;
	enum dtype type;
} casts[] = {
	{ "f32", DT_F32 },
	{ "f16", DT_F16 },
	{ "bf16", DT_BF16 },
};

const struct scheme *gguf_scheme_of_type(enum dtype d)
{
	for (size_t i = 0; i < sizeof(casts) / sizeof(*casts); i++)
		if (casts[i].type == d)
			return scheme_find(casts[i].scheme);
	for (size_t i = 0; i < nschemes; i++)
		if (schemes[i].ggml == d)
			return &schemes[i];
	return NULL;
}

enum dtype gguf_type_of_scheme(const struct scheme *s)
{
	if (!s)
		return DT_NONE;
	for (size_t i = 0; i < sizeof(casts) / sizeof(*casts); i++)
		if (strcmp(s->name, casts[i].scheme) == 0)
			return casts[i].type;
	if (s->ggml != DT_NONE && gguf_can_encode(s->ggml))
		return s->ggml;
	return DT_NONE;
}

size_t gguf_scheme_names(char *buf, size_t n)
{
	size_t len = 0;

	if (n)
		buf[0] = '\0';
	for (size_t i = 0; i < nschemes && len < n; i++)
		if (gguf_type_of_scheme(&schemes[i]) != DT_NONE)
			len += (size_t)snprintf(buf + len, n - len, "%s%s",
						len ? " " : "",
						schemes[i].name);
	return len < n ? len : (n ? n - 1 : 0);
}
