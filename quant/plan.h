/*
 * quant/plan.h - plans: which number format each tensor gets, by name.
 *
 * A plan is a small text file, one rule per line, first match wins:
 *
 *	# qscope plan
 *	*.embed_tokens.*   bf16
 *	*norm*             keep
 *	*.self_attn.*      q8_0
 *	*                  q4_k
 *
 * GLOB is an fnmatch(3) pattern over the whole tensor name (no flags: '*'
 * crosses dots; a backslash quotes the next character, so "\ " is a space
 * and "\#" a hash); SCHEME is a row of quant/schemes.h (exact, or ignoring
 * case: "Q4_K") or "keep", the stored dtype as it is.  '#' starting a
 * word begins a comment; blank lines are ignored.  A tensor that no rule
 * matches is kept.
 *
 * Here: parsing a buffer (plan_parse), matching (plan_match), what a rule
 * does to one tensor and what that costs (plan_choose, plan_totals_*),
 * writing a plan (plan_write), and two helpers for the interactive
 * screens: turning a per-tensor assignment back into a short plan
 * (plan_compress) and meeting a byte budget with little error
 * (plan_budget).  Also the facts needed to say a plan in llama.cpp's
 * terms (plan_llama_*).  No I/O but the FILE * handed to plan_write, no
 * curses.
 */
#ifndef QSCOPE_QUANT_PLAN_H
#define QSCOPE_QUANT_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "quant/dtype.h"
#include "quant/schemes.h"

/* The longest plan line we read, and the most rules: a plan is meant to
 * be short, and a longer "plan" is some other file given by mistake. */
#define PLAN_MAX_LINE 4096
#define PLAN_MAX_RULES 65536

struct plan_rule {
	char *glob;			/* owned */
	const struct scheme *scheme;	/* NULL: keep */
	unsigned line;			/* in the file; 0 if made in memory */
};

struct plan {
	struct plan_rule *rules;
	size_t n, alloc;
};

void plan_init(struct plan *p);
/* Free every rule and zero p; safe on a zeroed plan. */
void plan_release(struct plan *p);

/* Append a rule (glob copied). */
void plan_add(struct plan *p, const char *glob, const struct scheme *s,
	      unsigned line);

/*
 * The scheme named name: 0 with *s set (NULL for "keep"), or -1 when
 * there is none.  Exact names first, then ignoring case.
 */
int plan_scheme_named(const char *name, const struct scheme **s);

/*
 * Parse len bytes of buf (a plan file; need not be NUL-terminated) and
 * append its rules to p.  who names the file in messages.  Returns 0, or
 * -1 with msg (msgsz bytes, always NUL-terminated) holding one line such
 * as "plan.txt:3: unknown scheme 'q4k'"; p then holds the rules before
 * the bad line.
 */
int plan_parse(struct plan *p, const char *who, const char *buf, size_t len,
	       char *msg, size_t msgsz);

/* Index of the first rule whose glob matches name; -1 if none. */
long plan_match(const struct plan *p, const char *name);

/*
 * Write p as a plan file (a "# qscope plan" line, then one rule per line,
 * globs aligned).  Returns 0, or -1 when writing failed (ferror).
 */
int plan_write(const struct plan *p, FILE *f);

/* ---- what a plan does to a tensor ---- */

struct plan_choice {
	long rule;			/* the matching rule; -1 if none */
	const struct scheme *scheme;	/* what is written; NULL: kept */
	/* Set when a rule's scheme was not applied ("1-D tensor kept",
	 * "row length 100 is not a multiple of 128", ...); "" otherwise. */
	char why[96];
	uint64_t params;
	uint64_t bytes_before;		/* the stored bytes */
	uint64_t bytes_after;		/* scheme_bytes(), or bytes_before */
};

/*
 * What p does to a tensor named name, stored as dtype, of this shape,
 * params values and nbytes stored bytes.  A rule whose scheme does not
 * apply (scheme_applies_to()) keeps the tensor and says why; a plain cast
 * to the stored dtype (f32 on F32, f16 on F16, bf16 on BF16) is a keep.
 */
void plan_choose(const struct plan *p, const char *name, enum dtype dtype,
		 const struct scheme_shape *shape, uint64_t params,
		 uint64_t nbytes, struct plan_choice *c);

struct plan_totals {
	size_t tensors, converted, kept;
	uint64_t params;
	uint64_t bytes_before, bytes_after;
};

void plan_totals_init(struct plan_totals *t);
void plan_totals_add(struct plan_totals *t, const struct plan_choice *c);
/* 8 * bytes / params, before and after (0 for no params). */
double plan_totals_bpw_before(const struct plan_totals *t);
double plan_totals_bpw_after(const struct plan_totals *t);

/* ---- from an assignment back to a plan ---- */

/*
 * Fill out (initialised, empty) with a short plan that gives every name[i]
 * exactly assign[i] (NULL: keep) under first-match-wins, n names (unique).
 * The last rule is always "*" with the most frequent assignment; before
 * it, rules of dot-separated name parts that hold only one scheme
 * ("*.mlp.down_proj.*" when every such tensor has the same one), the
 * largest group first, and exact names where nothing shorter fits.  The
 * result is checked with plan_match() before it is returned.
 */
void plan_compress(struct plan *out, const char *const *names,
		   const struct scheme *const *assign, size_t n);

/* ---- a byte budget ---- */

/* One choice for a tensor: a scheme (NULL: keep), its bytes, and its
 * squared error sum((x' - x)^2). */
struct plan_cand {
	const struct scheme *scheme;
	uint64_t bytes;
	double sqerr;
};

struct plan_item {
	const struct plan_cand *cand;
	size_t n;			/* at least 1 */
};

/*
 * Choose choice[i] (an index into items[i].cand) for each of n tensors so
 * that the summed bytes stay within budget with a small summed squared
 * error: start from the least error of each, then, while over budget,
 * take the step down (along each tensor's lower convex hull of bytes and
 * error) that adds the least error per byte saved; then spend what is
 * left of the budget on steps back up that remove the most error per byte.
 * *total gets the bytes chosen.  Returns 0, or -1 when even the smallest
 * candidate of every tensor does not fit (choice then holds those).
 */
int plan_budget(const struct plan_item *items, size_t n, uint64_t budget,
		size_t *choice, uint64_t *total);

/* ---- llama.cpp's quantize ---- */

/* 1 if llama.cpp's llama-quantize converts a tensor of this name and
 * number of dimensions at all (it keeps norms, 1-D tensors, MoE router
 * gates and a few other kinds as they are). */
int plan_llama_quantizable(const char *name, int ndim);

/*
 * An ECMAScript regular expression (std::regex, which llama-quantize's
 * --tensor-type uses with regex_search) that matches exactly the names
 * glob matches, anchored at both ends, into out.  Returns 0, or -1 when
 * out is too small.
 */
int plan_glob_regex(const char *glob, char *out, size_t n);

#endif
