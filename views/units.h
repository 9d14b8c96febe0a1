/*
 * views/units.h - numbers as people read them, for screens and batch
 * listings alike (no curses here).
 */
#ifndef QSCOPE_VIEWS_UNITS_H
#define QSCOPE_VIEWS_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* "512 B", "1.5 KiB", "28.1 MiB"; out always NUL-terminated. */
void units_bytes(uint64_t b, char *out, size_t n);

/* "512", "704.5K", "14.8M", "6.7B"; out always NUL-terminated. */
void units_count(uint64_t c, char *out, size_t n);

#endif
