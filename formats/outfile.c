/*
 * formats/outfile.c - what the writers (gguf.c, safetensors_write.c)
 * share about the files they create: the temporary name beside the target,
 * the mode a new file gets, and the removal of temporaries a killed writer
 * left behind.  See formats/formats.h and formats/outfile.h.
 */
#include "formats/outfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/formats.h"

/* What mkstemp() puts in place of XXXXXX. */
#define TEMP_RANDOM 6

char *out_temp_name(const char *out)
{
	const char *slash = strrchr(out, '/');
	size_t dlen = slash ? (size_t)(slash - out + 1) : 0;
	size_t n = strlen(out) + 48;
	char *t = xmalloc(n);

	/* The pid tells a later writer whether this one still runs. */
	snprintf(t, n, "%.*s.%s.tmp-%ld-XXXXXX", (int)dlen, out,
		 slash ? slash + 1 : out, (long)getpid());
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

/*
 * The writer's pid if name is ".BASE.tmp-PID-XXXXXX" (base NULL: any
 * non-empty BASE), else 0.
 */
static long temp_pid(const char *name, const char *base)
{
	size_t n = strlen(name), k;
	const char *p, *tail;
	long pid = 0;

	if (n < 1 + 1 + 5 + 1 + 1 + TEMP_RANDOM || name[0] != '.')
		return 0;
	tail = name + n - TEMP_RANDOM;
	for (const char *c = tail; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9')))
			return 0;
	if (tail[-1] != '-')
		return 0;
	/* back over the pid's digits to ".tmp-" */
	p = tail - 1;
	while (p > name && p[-1] >= '0' && p[-1] <= '9')
		p--;
	if (p == tail - 1 || tail - 1 - p > 9)
		return 0;
	k = (size_t)(p - name);
	if (k < 6 || memcmp(p - 5, ".tmp-", 5) != 0)
		return 0;
	k -= 5;			/* ".BASE" */
	if (base ? k != 1 + strlen(base) || memcmp(name + 1, base, k - 1) :
		   k < 2)
		return 0;
	for (const char *c = p; c < tail - 1; c++)
		pid = pid * 10 + (*c - '0');
	return pid;
}

/* 1 if the temporary at path is a dead writer's: its process is gone and
 * nobody holds it locked.  Never follows a link. */
static int stale(const char *path, long pid)
{
	struct stat st;
	int fd, dead;

	if (pid <= 0 || pid == (long)getpid())
		return 0;
	if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	dead = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	       flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return dead;
}

size_t out_remove_stale(const char *out, int folder, out_stale_fn *said,
			void *arg)
{
	char *dir, *base = NULL, *path;
	size_t len = strlen(out), removed = 0;
	struct dirent *de;
	DIR *d;

	dir = xstrdup(out);
	while (len > 1 && dir[len - 1] == '/')
		dir[--len] = '\0';
	if (!folder) {
		char *slash = strrchr(dir, '/');

		if (slash) {
			base = xstrdup(slash + 1);
			slash[slash == dir ? 1 : 0] = '\0';
		} else {
			base = dir;
			dir = xstrdup(".");
		}
		if (!*base)
			goto out;
	}
	d = opendir(dir);
	if (!d)
		goto out;
	while ((de = readdir(d))) {
		long pid = temp_pid(de->d_name, base);
		size_t n;

		if (!pid)
			continue;
		n = strlen(dir) + strlen(de->d_name) + 2;
		path = xmalloc(n);
		snprintf(path, n, "%s/%s", dir, de->d_name);
		if (stale(path, pid) && unlink(path) == 0) {
			removed++;
			if (said)
				said(path, pid, arg);
		}
		free(path);
	}
	closedir(d);
out:
	free(dir);
	free(base);
	return removed;
}
