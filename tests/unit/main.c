/* The unit-test runner: runs every registered TEST (or those named). */
#include "tests/check.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>

#define MAX_TESTS 512

static struct {
	const char *name;
	test_fn *fn;
} tests[MAX_TESTS];
static int ntests;
static int case_failed;

void check_register(const char *name, test_fn *fn)
{
	if (ntests == MAX_TESTS) {
		fprintf(stderr, "too many tests\n");
		exit(2);
	}
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	ntests++;
}

int check_report(const char *file, int line, int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return 1;
	case_failed++;
	fprintf(stdout, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	return 0;
}

const char *check_fixtures(void)
{
	static char path[4096];
	const char *env = getenv("QS_FIXTURES");
	struct stat st;

	snprintf(path, sizeof(path), "%s", env && *env ? env : "../shared/fixtures");
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return NULL;
	return path;
}

static int cmp_name(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;

	return strcmp(*x, *y);
}

static int selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strncmp(name, argv[i], strlen(argv[i])) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	/* Constructors run in link order; sort so output is stable. */
	qsort(tests, ntests, sizeof(tests[0]), cmp_name);
	for (int i = 0; i < ntests; i++) {
		if (!selected(tests[i].name, argc, argv))
			continue;
		case_failed = 0;
		tests[i].fn();
		if (case_failed) {
			printf("FAIL unit %s (%d checks failed)\n", tests[i].name,
			       case_failed);
			failed++;
		} else {
			printf("ok   unit %s\n", tests[i].name);
			passed++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
