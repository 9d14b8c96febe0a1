/*
 * formats/planfile.c - reading a plan file (see planfile.h).
 */
#include "formats/planfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/model.h"

int plan_read_file(struct plan *p, const char *path, char *msg, size_t msgsz)
{
	char safe[256];
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	int rc;

	text_sanitize(path, safe, sizeof(safe));
	if (!f) {
		snprintf(msg, msgsz, "'%s': %s", safe, strerror(errno));
		return -1;
	}
	buf = malloc(PLAN_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		snprintf(msg, msgsz, "'%s': out of memory", safe);
		return -1;
	}
	n = fread(buf, 1, PLAN_FILE_MAX + 1, f);
	rc = ferror(f);
	fclose(f);
	if (rc || n > PLAN_FILE_MAX) {
		snprintf(msg, msgsz, "'%s': %s", safe, rc ? strerror(errno) :
			 "larger than 16 MiB; not a plan");
		free(buf);
		return -1;
	}
	rc = plan_parse(p, safe, buf, n, msg, msgsz);
	free(buf);
	return rc < 0 ? -1 : 0;
}
