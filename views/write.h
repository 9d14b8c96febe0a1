/*
 * views/write.h - what the write screen (views/write.c) is given: the
 * preview whose targets are written, and the path to write to.
 */
#ifndef QSCOPE_VIEWS_WRITE_H
#define QSCOPE_VIEWS_WRITE_H

#include "views/preview.h"

struct write_arg {
	const struct preview *pv;
	char out[1024];
};

extern const struct view_ops view_write_ops;

#endif
