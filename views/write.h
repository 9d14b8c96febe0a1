/*
 * views/write.h - what the write screen (views/write.c) is given: the
 * preview whose targets are written, and the path to write to; and what
 * the tree asks before it opens the screen: the output it proposes and
 * whether the targets can be written there.
 *
 * The format follows the output's name: a name ending in ".gguf" is GGUF
 * (formats/gguf.h; needs a GGUF input, whose metadata it keeps), anything
 * else safetensors (formats/safetensors_write.h: a ".safetensors" file, or
 * a folder).
 */
#ifndef QSCOPE_VIEWS_WRITE_H
#define QSCOPE_VIEWS_WRITE_H

#include <stddef.h>

#include "views/preview.h"

struct write_arg {
	const struct preview *pv;
	char out[1024];
};

extern const struct view_ops view_write_ops;

/* 1 if out is written as GGUF (its name ends in ".gguf"), else 0. */
int write_is_gguf(const char *out);

/* "GGUF" or "safetensors": how out is written (for a prompt). */
const char *write_format_name(const char *out);

/*
 * The output proposed for pv's targets, beside the input and never over
 * it, into out (n bytes): "x.gguf" -> "x-qscope.gguf" when every target
 * has a GGUF type (else, when they all have a safetensors layout,
 * "x-qscope.safetensors"); a folder "m" -> "m-qscope/"; "x.pt" ->
 * "x-qscope.safetensors".
 */
void write_default_out(const struct preview *pv, char *out, size_t n);

/*
 * 0 if pv's targets can be written to out in its format; else -1 with msg
 * (n bytes, one line) naming the first tensor whose target cannot be, and
 * what the format holds.  A GGUF out from an input that is not GGUF is
 * refused whatever the targets.
 */
int write_check(const struct preview *pv, const char *out, char *msg,
		size_t n);

#endif
