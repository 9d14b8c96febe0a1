/*
 * formats/planfile.h - reading a plan file (quant/plan.h) from disk: the
 * one place that opens one, for qscope quantize, qscope plan and the
 * browser (--plan, P).
 */
#ifndef QSCOPE_FORMATS_PLANFILE_H
#define QSCOPE_FORMATS_PLANFILE_H

#include <stddef.h>

#include "quant/plan.h"

/* The largest plan file read: plans are short. */
#define PLAN_FILE_MAX ((size_t)16 << 20)

/*
 * Append the rules of the plan file at path to p.  Returns 0, or -1 with
 * msg (msgsz bytes, NUL-terminated) holding one line without "qscope: ":
 * "'PATH': No such file or directory", "PATH:3: unknown scheme 'q4k'".
 */
int plan_read_file(struct plan *p, const char *path, char *msg, size_t msgsz);

#endif
