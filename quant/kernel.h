/*
 * quant/kernel.h - one source, two builds: hot loops for the baseline
 * x86-64 (SSE2) and for AVX2, picked at run time.  Internal to quant/.
 *
 *	BODY void name_body(params) { ...the loop... }
 *	KERNEL(name, (params), (args))
 *
 * defines `static void name(params)`, which calls the AVX2 build of the
 * body when the CPU has AVX2 and the baseline build otherwise.  Both
 * builds do the same operations in the same order (the bodies use GCC
 * vector extensions with fixed lanes; no FMA: the project builds with
 * -ffp-contract=off), so they give the same bits.  GCC's target_clones
 * would do the same through an ifunc, but its resolver runs before the
 * sanitizer runtimes are up and crashes under ThreadSanitizer; this works
 * under all of them.  Elsewhere than x86-64 (or without GCC builtins)
 * there is one build.
 */
#ifndef QSCOPE_QUANT_KERNEL_H
#define QSCOPE_QUANT_KERNEL_H

#define BODY static inline __attribute__((always_inline))

#if defined(__x86_64__) && defined(__GNUC__)
#include <stdatomic.h>

static inline int have_avx2(void)
{
	static atomic_int known = -1;
	int v = atomic_load_explicit(&known, memory_order_relaxed);

	if (v < 0) {
		__builtin_cpu_init();
		v = __builtin_cpu_supports("avx2") ? 1 : 0;
		atomic_store_explicit(&known, v, memory_order_relaxed);
	}
	return v;
}

#define KERNEL(name, params, args)					\
	__attribute__((target("avx2"))) static void name##_avx2 params	\
	{								\
		name##_body args;					\
	}								\
	static void name##_base params					\
	{								\
		name##_body args;					\
	}								\
	static void name params						\
	{								\
		if (have_avx2())					\
			name##_avx2 args;				\
		else							\
			name##_base args;				\
	}
#else
#define KERNEL(name, params, args)					\
	static void name params						\
	{								\
		name##_body args;					\
	}
#endif

#endif
