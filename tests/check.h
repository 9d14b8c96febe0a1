/*
 * tests/check.h - a tiny assertion harness for the unit tests.
 *
 * A unit test file defines cases with TEST(name) { ... }; each registers
 * itself before main() runs, so adding a file under tests/unit/ is all it
 * takes.  CHECK* macros record failures and go on; the runner
 * (tests/unit/main.c) prints one line per case and "N passed, N failed".
 * `tests/unit-tests NAME...` runs only the cases whose name starts with one
 * of the NAMEs.
 */
#ifndef QSCOPE_TESTS_CHECK_H
#define QSCOPE_TESTS_CHECK_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef void test_fn(void);

void check_register(const char *name, test_fn *fn);
/* Record one assertion; prints the failure. Returns ok. */
int check_report(const char *file, int line, int ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Where the shared fixtures are (QS_FIXTURES or ../shared/fixtures from the
 * project root); NULL if the folder is missing. */
const char *check_fixtures(void);

#define TEST(name)							\
	static void test_##name(void);					\
	__attribute__((constructor)) static void register_##name(void)	\
	{								\
		check_register(#name, test_##name);			\
	}								\
	static void test_##name(void)

#define CHECK(cond)							\
	check_report(__FILE__, __LINE__, !!(cond), "%s", #cond)

#define CHECK_EQ_U(a, b)						\
	do {								\
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);	\
		check_report(__FILE__, __LINE__, a_ == b_,		\
			     "%s == %s: 0x%" PRIx64 " != 0x%" PRIx64,	\
			     #a, #b, a_, b_);				\
	} while (0)

#define CHECK_EQ_I(a, b)						\
	do {								\
		int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);		\
		check_report(__FILE__, __LINE__, a_ == b_,		\
			     "%s == %s: %" PRId64 " != %" PRId64,	\
			     #a, #b, a_, b_);				\
	} while (0)

#define CHECK_STR(a, b)							\
	do {								\
		const char *a_ = (a), *b_ = (b);			\
		check_report(__FILE__, __LINE__,			\
			     a_ && b_ && strcmp(a_, b_) == 0,		\
			     "%s == %s: \"%s\" != \"%s\"", #a, #b,	\
			     a_ ? a_ : "(null)", b_ ? b_ : "(null)");	\
	} while (0)

/* Floats equal bit for bit (so NaN == NaN and -0 != +0). */
#define CHECK_FBITS(a, b)						\
	do {								\
		float a_ = (a), b_ = (b);				\
		uint32_t ua_, ub_;					\
		memcpy(&ua_, &a_, 4);					\
		memcpy(&ub_, &b_, 4);					\
		check_report(__FILE__, __LINE__,			\
			     ua_ == ub_ || (isnan(a_) && isnan(b_)),	\
			     "%s == %s: %.9g (0x%08x) != %.9g (0x%08x)",\
			     #a, #b, a_, ua_, b_, ub_);			\
	} while (0)

#define CHECK_NEAR(a, b, tol)						\
	do {								\
		double a_ = (a), b_ = (b), t_ = (tol);			\
		check_report(__FILE__, __LINE__, fabs(a_ - b_) <= t_,	\
			     "%s ~ %s: %.17g vs %.17g (tol %g)",	\
			     #a, #b, a_, b_, t_);			\
	} while (0)

#endif
