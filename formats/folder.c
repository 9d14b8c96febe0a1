/*
 * formats/folder.c - a model folder opens as one model.
 *
 * A safetensors index (model.safetensors.index.json, or any
 * *.safetensors.index.json) decides which shards make the model; without
 * one, every file in the folder that a reader recognises by its first bytes
 * is opened, in natural name order.  config.json becomes metadata.
 *
 * Files that are not the shards of one model (model-a.safetensors beside
 * model-b.safetensors, a .gguf beside a .safetensors, several .npy arrays)
 * are all listed, each tensor name prefixed with its file
 * ("model-a.safetensors:lm_head.weight"), and the metadata entry
 * "checkpoints" names the separate files; one of them opens alone by its
 * path.  Shards (an index, or names PREFIX-00001-of-00003.EXT) stay one
 * model without prefixes.  formats/archive.c follows the same rule for the
 * members of an archive (same_checkpoint()).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/formats.h"

int natural_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			const char *x = a, *y = b;
			size_t lx, ly;

			while (*x == '0')
				x++;
			while (*y == '0')
				y++;
			for (lx = 0; isdigit((unsigned char)x[lx]); lx++)
				;
			for (ly = 0; isdigit((unsigned char)y[ly]); ly++)
				;
			if (lx != ly)
				return lx < ly ? -1 : 1;
			for (size_t i = 0; i < lx; i++)
				if (x[i] != y[i])
					return x[i] < y[i] ? -1 : 1;
			a = x + lx;
			b = y + ly;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	if (*a || *b)
		return *a ? 1 : -1;
	return 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/*
 * The shard pattern of a file name: PREFIX-DIGITS-of-DIGITS.EXT.  Sets
 * *at and *len to the first DIGITS (the shard number) and returns 1, or
 * returns 0 for any other name.
 */
static int shard_number(const char *name, size_t *at, size_t *len)
{
	const char *p = name;

	while ((p = strstr(p, "-of-")) != NULL) {
		const char *d = p, *q = p + 4;

		while (d > name && isdigit((unsigned char)d[-1]))
			d--;
		if (d < p && d > name && d[-1] == '-' &&
		    isdigit((unsigned char)*q)) {
			while (isdigit((unsigned char)*q))
				q++;
			if (*q == '.' || *q == '\0') {
				*at = (size_t)(d - name);
				*len = (size_t)(p - d);
				return 1;
			}
		}
		p += 4;
	}
	return 0;
}

int same_checkpoint(const char *a, const char *b)
{
	size_t ai, al, bi, bl;

	if (strcmp(a, b) == 0)
		return 1;
	if (!shard_number(a, &ai, &al) || !shard_number(b, &bi, &bl))
		return 0;
	return ai == bi && strncmp(a, b, ai) == 0 &&
	       strcmp(a + ai + al, b + bi + bl) == 0;
}

static int cmp_names(const void *a, const void *b)
{
	return natural_cmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = xmalloc(n);

	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* config.json, kept whole as metadata. */
static int add_config(struct model *m, const char *path, struct err *e)
{
	struct source *src = model_add_source(m, path, e);
	json_t *j;

	if (!src)
		return -1;
	j = source_json(src, "config", e);
	if (!j)
		return -1;
	if (!json_is_object(j)) {
		err_set(e, "'%s': config is not a JSON object", path);
		json_decref(j);
		return -1;
	}
	model_add_meta(m, "config.json", "json", j);
	return 0;
}

/*
 * Is this a file of the model?  One that a reader recognises by its first
 * bytes, or one whose name says it must be a checkpoint: a broken shard is
 * an error to report, not a file to skip.
 */
static int looks_like_checkpoint(const char *path)
{
	unsigned char head[SNIFF_BYTES];
	const struct format *fmt;
	size_t n;
	FILE *f;

	if (ends_with(path, ".safetensors"))
		return 1;
	f = fopen(path, "rb");
	if (!f)
		return 0;
	n = fread(head, 1, sizeof(head), f);
	fclose(f);
	/* A JSON file here is config or tokenizer, never a checkpoint by
	 * itself: indexes were looked for first. */
	fmt = format_sniff(head, n);
	return fmt && fmt != &format_safetensors_index;
}

int folder_open(struct model *m, const char *dir, struct err *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL, *index = NULL;
	size_t n = 0, alloc = 0, opened = 0;
	int rc = -1, separate = 0;

	if (!d) {
		err_set(e, "'%s': %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		char *p;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		p = join(dir, de->d_name);
		if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(p);
			continue;
		}
		free(p);
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 32;
			names = xrealloc(names, alloc * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);

	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "model.safetensors.index.json") == 0 ||
		    (!index && ends_with(names[i], ".safetensors.index.json")))
			index = names[i];
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "config.json") == 0) {
			char *p = join(dir, names[i]);
			int r = add_config(m, p, e);

			free(p);
			if (r)
				goto out;
		}
	}

	if (index) {
		char *p = join(dir, index);
		struct source *src = model_add_source(m, p, e);

		free(p);
		if (!src)
			goto out;
		m->format = "safetensors";
		rc = safetensors_open_index(m, src, e);
		goto out;
	}
	/* The checkpoint files; are they one model? */
	for (size_t i = 0; i < n; i++) {
		char *p = join(dir, names[i]);

		if (looks_like_checkpoint(p)) {
			/* Checkpoints first, in order; the rest after. */
			char *t = names[opened];

			names[opened] = names[i];
			names[i] = t;
			if (opened && !same_checkpoint(names[0],
						       names[opened]))
				separate = 1;
			opened++;
		}
		free(p);
	}
	if (!opened) {
		err_set(e, "'%s': no checkpoint files in this folder", dir);
		goto out;
	}
	if (separate) {
		json_t *list = json_array();

		for (size_t i = 0; i < opened; i++) {
			char clean[1024];

			json_array_append_new(list, json_string(text_sanitize(
				names[i], clean, sizeof(clean))));
		}
		model_add_meta(m, "checkpoints", "json", list);
	}
	for (size_t i = 0; i < opened; i++) {
		char *p = join(dir, names[i]), *pfx = NULL;
		int r;

		if (separate) {
			pfx = xmalloc(strlen(names[i]) + 2);
			sprintf(pfx, "%s:", names[i]);
			m->tensor_prefix = pfx;
		}
		r = model_open_file(m, p, e);
		m->tensor_prefix = NULL;
		free(pfx);
		free(p);
		if (r)
			goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}
