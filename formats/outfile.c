/*
 * formats/outfile.c - what the writers (gguf.c, safetensors_write.c)
 * share about the files they create: the temporary name beside the target
 * and the mode a new file gets.  See formats/formats.h.
 */
#include "formats/formats.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

char *out_temp_name(const char *out)
{
	const char *slash = strrchr(out, '/');
	size_t dlen = slash ? (size_t)(slash - out + 1) : 0;
	size_t n = strlen(out) + 32;
	char *t = xmalloc(n);

	snprintf(t, n, "%.*s.%s.tmp-XXXXXX", (int)dlen, out,
		 slash ? slash + 1 : out);
	return t;
}

mode_t out_file_mode(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	unsigned um;
	mode_t old;

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Umask: %o", &um) == 1) {
				fclose(f);
				return 0666 & ~(mode_t)um;
			}
		fclose(f);
	}
	old = umask(022);
	umask(old);
	return 0666 & ~old;
}
