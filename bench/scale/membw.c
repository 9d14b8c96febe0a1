/*
 * bench/scale/membw.c - the two measurements bench/scale/run.py needs
 * from C:
 *  - "membw memcpy": memcpy bandwidth of a 1 GiB buffer (best of 5), the
 *    yardstick the statistics and quantization rates are put next to;
 *    prints GB/s;
 *  - "membw resident FILE...": how much of the files is in the page cache
 *    (mincore), so that a rate can be read as warm or cold; prints the
 *    resident bytes and the total.
 *
 * usage: membw memcpy | membw resident FILE...
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/membw.h"

static int bw_memcpy(void)
{
	double gbs = bench_memcpy_gbs((size_t)1 << 30);

	if (gbs < 0) {
		fprintf(stderr, "membw: out of memory\n");
		return 1;
	}
	printf("%.3f\n", gbs);
	return 0;
}

static int resident(int argc, char **argv)
{
	unsigned long long in = 0, total = 0;
	long page = sysconf(_SC_PAGESIZE);

	for (int i = 0; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		struct stat st;

		if (fd < 0 || fstat(fd, &st)) {
			perror(argv[i]);
			return 1;
		}
		if (st.st_size == 0) {
			close(fd);
			continue;
		}
		size_t n = (size_t)st.st_size;
		size_t pages = (n + page - 1) / page;
		void *p = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0);
		unsigned char *v = malloc(pages);

		close(fd);
		if (p == MAP_FAILED || !v || mincore(p, n, v)) {
			perror(argv[i]);
			return 1;
		}
		for (size_t k = 0; k < pages; k++)
			in += (v[k] & 1) ? (unsigned long long)page : 0;
		total += n;
		free(v);
		munmap(p, n);
	}
	printf("%llu %llu\n", in > total ? total : in, total);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "memcpy") == 0)
		return bw_memcpy();
	if (argc >= 3 && strcmp(argv[1], "resident") == 0)
		return resident(argc - 2, argv + 2);
	fprintf(stderr, "usage: membw memcpy | membw resident FILE...\n");
	return 2;
}
