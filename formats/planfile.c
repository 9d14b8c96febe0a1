/*
 * formats/planfile.c - reading a plan file (see planfile.h).
 */
#include "formats/planfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/model.h"

/* The first buffer for a file whose size is not known (a pipe). */
#define PLAN_READ_FIRST ((size_t)4096)

/*
 * Read all of f into a malloc'd *buf, *n bytes: a buffer of the file's
 * size (plus one byte, to see a file that grew), never more than
 * PLAN_FILE_MAX + 1.  Returns 0, or an errno value (EFBIG: more than
 * PLAN_FILE_MAX bytes).
 */
static int read_all(FILE *f, char **buf, size_t *n)
{
	struct stat st;
	size_t cap = PLAN_READ_FIRST, len = 0;
	char *b;

	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
		if ((uint64_t)st.st_size > PLAN_FILE_MAX)
			return EFBIG;
		cap = (size_t)st.st_size + 1;
	}
	b = malloc(cap);
	if (!b)
		return ENOMEM;
	for (;;) {
		size_t k = fread(b + len, 1, cap - len, f);

		len += k;
		if (ferror(f)) {
			int er = errno ? errno : EIO;

			free(b);
			return er;
		}
		if (len > PLAN_FILE_MAX) {
			free(b);
			return EFBIG;
		}
		if (len < cap)
			break;		/* end of file */
		cap = cap > PLAN_FILE_MAX / 2 ? PLAN_FILE_MAX + 1 : cap * 2;
		{
			char *nb = realloc(b, cap);

			if (!nb) {
				free(b);
				return ENOMEM;
			}
			b = nb;
		}
	}
	*buf = b;
	*n = len;
	return 0;
}

int plan_read_file(struct plan *p, const char *path, char *msg, size_t msgsz)
{
	char safe[256];
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;
	int rc;

	text_sanitize(path, safe, sizeof(safe));
	if (!f) {
		snprintf(msg, msgsz, "'%s': %s", safe, strerror(errno));
		return -1;
	}
	rc = read_all(f, &buf, &n);
	fclose(f);
	if (rc) {
		snprintf(msg, msgsz, "'%s': %s", safe, rc == EFBIG ?
			 "larger than 16 MiB; not a plan" :
			 rc == ENOMEM ? "out of memory" : strerror(rc));
		return -1;
	}
	rc = plan_parse(p, safe, buf, n, msg, msgsz);
	free(buf);
	return rc < 0 ? -1 : 0;
}
