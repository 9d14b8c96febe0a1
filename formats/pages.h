/*
 * formats/pages.h - keep the mapped pages of a tensor being streamed to a
 * sliding window, so that reading a whole model costs a few MB of memory
 * instead of the model's size, and fault the pages in a window at a time.
 *
 * Sources are mapped files (formats/model.h).  Every page of a mapping the
 * process touches stays in its resident set until unmapped: a pass over a
 * 13 GB checkpoint would end with 13 GB resident (counted as the process's
 * memory, pressing on everything else), and each 4 KiB page faulted in on
 * its own costs more than decoding it on some virtual machines.
 * tensor_read_f32() (formats/model.c) calls these around every read that
 * goes through the mapping (large reads of a source that keeps its file
 * open copy from it with pread() instead, and map nothing):
 *  - pages_ahead(), before: a read that starts a tensor maps its first
 *    PAGES_WINDOW bytes and the next window in one call each
 *    (MADV_POPULATE_READ, Linux 5.14; a hint, ignored elsewhere), and the
 *    read that reaches each window boundary maps the window after next;
 *  - pages_behind(), after: the read that reaches a window boundary drops
 *    the window two behind it from the process (MADV_DONTNEED), and the
 *    read that ends the tensor drops its last windows.  The data stays in
 *    the page cache: reading it again costs a minor fault, not I/O.
 * Streams cut into ordered chunks (quant/compute.h) cross each boundary in
 * exactly one read, so resident bytes stay within about three windows per
 * tensor being read, whatever its size; pages_done() (from
 * tensor_reader_release()) drops what is left once the pass is over.  Only file mappings are dropped
 * (a source the model decompressed into memory is left alone, as
 * MADV_DONTNEED would zero it); a strided tensor (random access) and a
 * logical one (its parts are read through their own calls) are left
 * alone.  Dropping a page another thread is still reading is safe: it is
 * faulted in again from the page cache with the same bytes.
 */
#ifndef QSCOPE_FORMATS_PAGES_H
#define QSCOPE_FORMATS_PAGES_H

#include <stddef.h>
#include <stdint.h>

#include "formats/model.h"

/* Window size: a multiple of every page size in use. */
#define PAGES_WINDOW ((uint64_t)4 << 20)

/* Around tensor_read_f32(t, first, n): see above.  Never fail. */
void pages_ahead(const struct tensor *t, uint64_t first, size_t n);
void pages_behind(const struct tensor *t, uint64_t first, size_t n);

/* The end of a pass over t (tensor_reader_release()): drop all of its
 * pages, also those another thread faulted in again after the read that
 * ended the tensor had dropped them. */
void pages_done(const struct tensor *t);

#endif
