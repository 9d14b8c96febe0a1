/*
 * formats/formats.h - what the readers share inside formats/ (not for
 * views or tui: they see only formats/model.h).
 */
#ifndef QSCOPE_FORMATS_FORMATS_H
#define QSCOPE_FORMATS_FORMATS_H

#include <sys/types.h>

#include "formats/model.h"

extern const struct format format_safetensors;
extern const struct format format_safetensors_index;
extern const struct format format_gguf;
extern const struct format format_torch;
extern const struct format format_torch_legacy;
extern const struct format format_npy;
extern const struct format format_npz;
extern const struct format format_archive;

/* Add the arrays of an .npz (a zip of .npy members) held in src. */
int npz_open_source(struct model *m, struct source *src, struct err *e);

/* 1 if the zip z (formats/zip.h) is laid out as a PyTorch checkpoint:
 * ROOT/data.pkl beside a record only torch writes (formats/torch.c). */
struct zip;
int torch_zip_layout(const struct zip *z);

/* Bytes of a file that sniff() gets to see (a tar's "ustar" is at 257). */
#define SNIFF_BYTES 512

/* The format whose sniff() recognises these first bytes; NULL if none. */
const struct format *format_sniff(const unsigned char *head, size_t len);

/* Open one file by sniffing it and add what it holds to m. */
int model_open_file(struct model *m, const char *path, struct err *e);

/* Open a model folder (formats/folder.c). */
int folder_open(struct model *m, const char *dir, struct err *e);

/* 1 if two checkpoint file names are one model: equal, or shards
 * PREFIX-0000K-of-0000N.EXT of one set (formats/folder.c). */
int same_checkpoint(const char *a, const char *b);

/* Open a safetensors index (model.safetensors.index.json) and the shards
 * it names, which live in the index's folder. */
int safetensors_open_index(struct model *m, struct source *index,
			   struct err *e);

/* Parse a whole JSON document held in a source; NULL with e filled
 * ("'path': not valid JSON: ..."). */
json_t *source_json(const struct source *src, const char *what,
		    struct err *e);

/* The temporary name a writer uses beside out: "dir/.base.tmp-PID-XXXXXX"
 * (for mkstemp; malloc'd).  formats/outfile.c */
char *out_temp_name(const char *out);

/* The mode a new file gets here: 0666 without the umask, read without
 * changing the umask (umask() would, for a moment, for every thread). */
mode_t out_file_mode(void);

#endif
