/*
 * quant/plan.c - plan files: parse, match, cost; an assignment back to a
 * short plan; a byte budget; llama.cpp's view of a plan.  See
 * quant/plan.h for the format and the contracts.
 */
#include "quant/plan.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Allocation of sizes we chose: running out is fatal. */
static void *grow(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fputs("qscope: out of memory\n", stderr);
		abort();
	}
	return q;
}

static char *dup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(grow(NULL, n), s, n);
}

void plan_init(struct plan *p)
{
	memset(p, 0, sizeof(*p));
}

void plan_release(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->rules[i].glob);
	free(p->rules);
	memset(p, 0, sizeof(*p));
}

void plan_add(struct plan *p, const char *glob, const struct scheme *s,
	      unsigned line)
{
	if (p->n == p->alloc) {
		p->alloc = p->alloc ? 2 * p->alloc : 16;
		p->rules = grow(p->rules, p->alloc * sizeof(*p->rules));
	}
	p->rules[p->n].glob = dup(glob);
	p->rules[p->n].scheme = s;
	p->rules[p->n].line = line;
	p->n++;
}

int plan_scheme_named(const char *name, const struct scheme **s)
{
	if (strcasecmp(name, "keep") == 0) {
		*s = NULL;
		return 0;
	}
	*s = scheme_find(name);
	if (*s)
		return 0;
	for (size_t i = 0; i < nschemes; i++)
		if (strcasecmp(schemes[i].name, name) == 0) {
			*s = &schemes[i];
			return 0;
		}
	return -1;
}

/* ---- parsing ---- */

static int say(char *msg, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int say(char *msg, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (n) {
		va_start(ap, fmt);
		vsnprintf(msg, n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* A word of a line into out (backslash pairs kept: fnmatch reads them);
 * returns the position after it. */
static size_t word(const char *s, size_t len, size_t i, char *out)
{
	size_t k = 0;

	while (i < len && s[i] != ' ' && s[i] != '\t') {
		if (s[i] == '\\' && i + 1 < len)
			out[k++] = s[i++];
		out[k++] = s[i++];
	}
	out[k] = '\0';
	return i;
}

/* A word for a message: control characters as '?'. */
static const char *shown(char *w)
{
	for (char *c = w; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return w;
}

static int parse_line(struct plan *p, const char *who, unsigned ln,
		      const char *s, size_t len, char *msg, size_t msgsz)
{
	char words[3][PLAN_MAX_LINE + 1];
	const struct scheme *sc;
	size_t i = 0;
	int nw = 0;

	if (len > PLAN_MAX_LINE)
		return say(msg, msgsz, "%s:%u: line longer than %d bytes",
			   who, ln, PLAN_MAX_LINE);
	if (memchr(s, '\0', len))
		return say(msg, msgsz, "%s:%u: a NUL byte; not a plan file",
			   who, ln);
	for (;;) {
		while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
			i++;
		if (i >= len || s[i] == '#')
			break;
		if (nw == 3)
			return say(msg, msgsz, "%s:%u: expected 'GLOB SCHEME', found more words",
				    who, ln);
		i = word(s, len, i, words[nw]);
		/* a trailing CR belongs to the line end, not the word */
		{
			size_t wl = strlen(words[nw]);

			if (wl && words[nw][wl - 1] == '\r')
				words[nw][wl - 1] = '\0';
		}
		nw++;
	}
	if (nw == 0)
		return 0;
	if (nw == 1)
		return say(msg, msgsz, "%s:%u: expected 'GLOB SCHEME', found only '%s'",
			   who, ln, shown(words[0]));
	if (nw == 3)
		return say(msg, msgsz, "%s:%u: expected 'GLOB SCHEME', found more words",
			   who, ln);
	if (plan_scheme_named(words[1], &sc))
		return say(msg, msgsz, "%s:%u: unknown scheme '%s' (see 'qscope schemes'; 'keep' keeps the stored dtype)",
			   who, ln, shown(words[1]));
	if (p->n >= PLAN_MAX_RULES)
		return say(msg, msgsz, "%s:%u: more than %d rules", who, ln,
			   PLAN_MAX_RULES);
	plan_add(p, words[0], sc, ln);
	return 0;
}

int plan_parse(struct plan *p, const char *who, const char *buf, size_t len,
	       char *msg, size_t msgsz)
{
	size_t at = 0;
	unsigned ln = 0;

	if (msgsz)
		msg[0] = '\0';
	while (at < len) {
		const char *nl = memchr(buf + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - buf) : len;

		ln++;
		if (parse_line(p, who, ln, buf + at, end - at, msg, msgsz))
			return -1;
		at = end + 1;
	}
	return 0;
}

long plan_match(const struct plan *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (fnmatch(p->rules[i].glob, name, 0) == 0)
			return (long)i;
	return -1;
}

int plan_write(const struct plan *p, FILE *f)
{
	int w = 0;

	for (size_t i = 0; i < p->n; i++) {
		int l = (int)strlen(p->rules[i].glob);

		if (l > w && l <= 48)
			w = l;
	}
	fputs("# qscope plan: GLOB SCHEME, first match wins\n", f);
	for (size_t i = 0; i < p->n; i++) {
		if (!p->rules[i].glob[0]) {
			/* a word cannot be empty */
			fputs("# (a rule for the empty name cannot be written)\n",
			      f);
			continue;
		}
		fprintf(f, "%-*s  %s\n", w, p->rules[i].glob,
			p->rules[i].scheme ? p->rules[i].scheme->name : "keep");
	}
	return ferror(f) ? -1 : 0;
}

/* ---- choices and totals ---- */

/* The dtype a plain cast stores, DT_NONE for other schemes. */
static enum dtype cast_dtype(const struct scheme *s)
{
	if (!s || !(s->flags & SCHEME_CAST))
		return DT_NONE;
	if (strcmp(s->name, "f32") == 0)
		return DT_F32;
	if (strcmp(s->name, "f16") == 0)
		return DT_F16;
	if (strcmp(s->name, "bf16") == 0)
		return DT_BF16;
	return DT_NONE;		/* tf32 rounds: never the stored bits */
}

void plan_choose(const struct plan *p, const char *name, enum dtype dtype,
		 const struct scheme_shape *shape, uint64_t params,
		 uint64_t nbytes, struct plan_choice *c)
{
	const struct scheme *s;
	const char *why;

	memset(c, 0, sizeof(*c));
	c->rule = plan_match(p, name);
	c->params = params;
	c->bytes_before = c->bytes_after = nbytes;
	if (c->rule < 0)
		return;
	s = p->rules[c->rule].scheme;
	if (!s || cast_dtype(s) == dtype)
		return;
	why = scheme_applies_to(s, dtype, shape);
	if (why) {
		snprintf(c->why, sizeof(c->why), "%s", why);
		return;
	}
	c->scheme = s;
	c->bytes_after = scheme_bytes(s, shape);
}

void plan_totals_init(struct plan_totals *t)
{
	memset(t, 0, sizeof(*t));
}

void plan_totals_add(struct plan_totals *t, const struct plan_choice *c)
{
	t->tensors++;
	if (c->scheme)
		t->converted++;
	else
		t->kept++;
	t->params += c->params;
	t->bytes_before += c->bytes_before;
	t->bytes_after += c->bytes_after;
}

double plan_totals_bpw_before(const struct plan_totals *t)
{
	return t->params ? 8.0 * (double)t->bytes_before / (double)t->params :
			   0.0;
}

double plan_totals_bpw_after(const struct plan_totals *t)
{
	return t->params ? 8.0 * (double)t->bytes_after / (double)t->params :
			   0.0;
}

/* ---- an assignment back to a plan ---- */

/* Append s to a growing string with glob specials quoted. */
static void put_quoted(char **buf, size_t *len, size_t *cap, const char *s,
		       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (*len + 3 > *cap) {
			*cap = *cap ? 2 * *cap : 64;
			*buf = grow(*buf, *cap);
		}
		if (strchr("*?[]\\ \t#", s[i]))
			(*buf)[(*len)++] = '\\';
		(*buf)[(*len)++] = s[i];
	}
	(*buf)[*len] = '\0';
}

/* A candidate rule: a run of dot-separated parts of some names. */
struct cand {
	char *glob;
	size_t parts;			/* dot-separated parts it names */
	const struct scheme *scheme;	/* of its first member */
	int mixed;			/* members with other schemes */
	size_t gain;			/* members not yet covered */
	size_t first;			/* its first member */
	size_t *members;
	size_t nmem, amem;
};

struct ctable {
	struct cand *c;
	size_t n, alloc;
	size_t *slot;			/* open addressing: index + 1 */
	size_t nslot;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static void ct_rehash(struct ctable *t)
{
	size_t ns = t->nslot ? 2 * t->nslot : 1024;

	free(t->slot);
	t->slot = grow(NULL, ns * sizeof(*t->slot));
	memset(t->slot, 0, ns * sizeof(*t->slot));
	t->nslot = ns;
	for (size_t i = 0; i < t->n; i++) {
		size_t h = (size_t)hash_str(t->c[i].glob) & (ns - 1);

		while (t->slot[h])
			h = (h + 1) & (ns - 1);
		t->slot[h] = i + 1;
	}
}

/* The candidate for glob, added if new; returns its index. */
static size_t ct_get(struct ctable *t, const char *glob, size_t parts)
{
	size_t h;

	if (2 * (t->n + 1) > t->nslot)
		ct_rehash(t);
	h = (size_t)hash_str(glob) & (t->nslot - 1);
	while (t->slot[h]) {
		if (strcmp(t->c[t->slot[h] - 1].glob, glob) == 0)
			return t->slot[h] - 1;
		h = (h + 1) & (t->nslot - 1);
	}
	if (t->n == t->alloc) {
		t->alloc = t->alloc ? 2 * t->alloc : 256;
		t->c = grow(t->c, t->alloc * sizeof(*t->c));
	}
	memset(&t->c[t->n], 0, sizeof(t->c[t->n]));
	t->c[t->n].glob = dup(glob);
	t->c[t->n].parts = parts;
	t->slot[h] = t->n + 1;
	return t->n++;
}

static void cand_add(struct cand *c, size_t member,
		     const struct scheme *s)
{
	if (c->nmem && c->members[c->nmem - 1] == member)
		return;		/* the same name twice (a.a.a): once */
	if (c->nmem == 0) {
		c->scheme = s;
		c->first = member;
	} else if (c->scheme != s) {
		c->mixed = 1;
	}
	if (c->nmem == c->amem) {
		c->amem = c->amem ? 2 * c->amem : 4;
		c->members = grow(c->members, c->amem * sizeof(*c->members));
	}
	c->members[c->nmem++] = member;
}

/* Distinct schemes a candidate may hold and still be chosen, and the
 * names of other schemes it may step over with exact rules before it. */
#define PLAN_TALLY 4
#define PLAN_SHIELDS 3

/* Name m is now decided by a rule: it no longer counts for anyone. */
static void take(struct ctable *t, size_t **of, const size_t *nof,
		 char *uncovered, char *taken, size_t m)
{
	if (taken[m])
		return;
	taken[m] = 1;
	if (!uncovered[m])
		return;
	uncovered[m] = 0;
	for (size_t j = 0; j < nof[m]; j++)
		t->c[of[m][j]].gain--;
}

void plan_compress(struct plan *out, const char *const *names,
		   const struct scheme *const *assign, size_t n)
{
	struct ctable t;
	size_t **of = grow(NULL, (n + 1) * sizeof(*of));
	size_t *nof = grow(NULL, (n + 1) * sizeof(*nof));
	char *uncovered = grow(NULL, n + 1);
	char *taken = grow(NULL, n + 1);
	const struct scheme *def = NULL;
	size_t best_count = 0;
	char *g = NULL;
	size_t glen = 0, gcap = 0;

	memset(&t, 0, sizeof(t));

	/* The default: the assignment most tensors have. */
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		for (size_t j = 0; j < n; j++)
			k += assign[j] == assign[i];
		if (k > best_count) {
			best_count = k;
			def = assign[i];
		}
		/* quadratic only until one holds the majority */
		if (2 * best_count > n)
			break;
	}

	/* Every run of parts of every name is a candidate. */
	for (size_t i = 0; i < n; i++) {
		const char *s = names[i];
		size_t starts[256], np = 0, len = strlen(s);

		of[i] = NULL;
		nof[i] = 0;
		uncovered[i] = assign[i] != def;
		taken[i] = 0;
		starts[np++] = 0;
		for (size_t k = 0; k < len && np < 255; k++)
			if (s[k] == '.')
				starts[np++] = k + 1;
		if (np == 255)	/* absurdly many parts: the name alone */
			np = 1;
		starts[np] = len + 1;
		of[i] = grow(NULL, np * (np + 1) / 2 * sizeof(**of));
		for (size_t a = 0; a < np; a++)
			for (size_t b = a; b < np; b++) {
				size_t from = starts[a];
				size_t to = starts[b + 1] - 1;
				size_t ci;

				glen = 0;
				if (gcap < 4) {
					gcap = 64;
					g = grow(g, gcap);
				}
				g[0] = '\0';
				if (a > 0) {
					memcpy(g, "*.", 3);
					glen = 2;
				}
				put_quoted(&g, &glen, &gcap, s + from,
					   to - from);
				if (b + 1 < np) {
					if (glen + 3 > gcap) {
						gcap *= 2;
						g = grow(g, gcap);
					}
					memcpy(g + glen, ".*", 3);
					glen += 2;
				}
				ci = ct_get(&t, g, b - a + 1);
				cand_add(&t.c[ci], i, assign[i]);
				if (!nof[i] || of[i][nof[i] - 1] != ci)
					of[i][nof[i]++] = ci;
			}
	}
	for (size_t i = 0; i < n; i++)
		if (uncovered[i])
			for (size_t k = 0; k < nof[i]; k++)
				t.c[of[i][k]].gain++;

	/*
	 * Greedy, in plan order: the candidate that covers the most
	 * exceptions (names whose scheme is not the default) not yet
	 * covered, where every name it would newly take has its scheme -
	 * or all but a few, which then get exact rules just before it
	 * (each costs a rule, so counts against it).  An exact name always
	 * covers itself, so every round makes progress.
	 */
	for (;;) {
		size_t best = (size_t)-1, bparts = 0;
		long bnet = 0;
		const struct scheme *bs = NULL;

		for (size_t ci = 0; ci < t.n; ci++) {
			struct cand *c = &t.c[ci];
			const struct scheme *ts[PLAN_TALLY];
			size_t tn[PLAN_TALLY], nt = 0, unc = 0;

			if ((long)c->gain <= bnet)
				continue;	/* cannot beat the best */
			for (size_t k = 0; k < c->nmem && nt <= PLAN_TALLY; k++) {
				size_t m = c->members[k], j = 0;

				if (!taken[m])
					unc++;
				else
					continue;
				while (j < nt && ts[j] != assign[m])
					j++;
				if (j == nt) {
					if (nt == PLAN_TALLY) {
						nt++;
						break;
					}
					ts[nt] = assign[m];
					tn[nt++] = 0;
				}
				tn[j]++;
			}
			if (nt > PLAN_TALLY)
				continue;
			for (size_t j = 0; j < nt; j++) {
				long net = (long)tn[j] - (long)(unc - tn[j]);

				if (ts[j] == def || unc - tn[j] > PLAN_SHIELDS)
					continue;
				if (net > bnet ||
				    (net == bnet && best != (size_t)-1 &&
				     (c->parts < bparts ||
				      (c->parts == bparts &&
				       strcmp(c->glob, t.c[best].glob) < 0)))) {
					best = ci;
					bnet = net;
					bs = ts[j];
					bparts = c->parts;
				}
			}
		}
		if (best == (size_t)-1)
			break;
		/* shields first: the few names the rule must not take */
		for (size_t k = 0; k < t.c[best].nmem; k++) {
			size_t m = t.c[best].members[k];

			if (taken[m] || assign[m] == bs)
				continue;
			glen = 0;
			put_quoted(&g, &glen, &gcap, names[m], strlen(names[m]));
			plan_add(out, g, assign[m], 0);
			take(&t, of, nof, uncovered, taken, m);
		}
		plan_add(out, t.c[best].glob, bs, 0);
		for (size_t k = 0; k < t.c[best].nmem; k++)
			take(&t, of, nof, uncovered, taken, t.c[best].members[k]);
	}
	plan_add(out, "*", def, 0);

	/* Check with the real matcher; put exact names first where it
	 * disagrees (names fnmatch reads otherwise than we split them). */
	for (size_t i = 0; i < n; i++) {
		long r = plan_match(out, names[i]);

		if (r >= 0 && out->rules[r].scheme == assign[i])
			continue;
		glen = 0;
		put_quoted(&g, &glen, &gcap, names[i], strlen(names[i]));
		plan_add(out, g, assign[i], 0);
		/* move it to the front */
		{
			struct plan_rule last = out->rules[out->n - 1];

			memmove(out->rules + 1, out->rules,
				(out->n - 1) * sizeof(*out->rules));
			out->rules[0] = last;
		}
	}

	for (size_t ci = 0; ci < t.n; ci++) {
		free(t.c[ci].glob);
		free(t.c[ci].members);
	}
	for (size_t i = 0; i < n; i++)
		free(of[i]);
	free(t.c);
	free(t.slot);
	free(of);
	free(nof);
	free(uncovered);
	free(taken);
	free(g);
}

/* ---- a byte budget ---- */

struct hull {
	size_t *idx;	/* candidate indices, bytes ascending, error falling */
	size_t n;
	size_t at;	/* the chosen point */
};

static const struct plan_cand *hc(const struct plan_item *it,
				  const struct hull *h, size_t k)
{
	return &it->cand[h->idx[k]];
}

/* Lower convex hull of an item's candidates in (bytes, error). */
static void make_hull(const struct plan_item *it, struct hull *h)
{
	size_t *o = grow(NULL, it->n * sizeof(*o));
	size_t m = 0;

	for (size_t i = 0; i < it->n; i++)
		o[i] = i;
	/* insertion sort: bytes ascending, then error ascending */
	for (size_t i = 1; i < it->n; i++)
		for (size_t j = i; j > 0; j--) {
			const struct plan_cand *a = &it->cand[o[j - 1]];
			const struct plan_cand *b = &it->cand[o[j]];
			size_t tmp;

			if (a->bytes < b->bytes ||
			    (a->bytes == b->bytes && a->sqerr <= b->sqerr))
				break;
			tmp = o[j];
			o[j] = o[j - 1];
			o[j - 1] = tmp;
		}
	h->idx = grow(NULL, it->n * sizeof(*h->idx));
	for (size_t i = 0; i < it->n; i++) {
		const struct plan_cand *c = &it->cand[o[i]];

		/* dominated: no less bytes and no less error */
		if (m && c->sqerr >= it->cand[h->idx[m - 1]].sqerr)
			continue;
		/* keep the hull convex: drop a middle point above the
		 * chord of its neighbours */
		while (m >= 2) {
			const struct plan_cand *a = &it->cand[h->idx[m - 2]];
			const struct plan_cand *b = &it->cand[h->idx[m - 1]];
			double cross = ((double)b->bytes - (double)a->bytes) *
				       (c->sqerr - a->sqerr) -
				       (b->sqerr - a->sqerr) *
				       ((double)c->bytes - (double)a->bytes);

			if (cross > 0)
				break;
			m--;
		}
		h->idx[m++] = o[i];
	}
	h->n = m;
	h->at = m - 1;
	free(o);
}

int plan_budget(const struct plan_item *items, size_t n, uint64_t budget,
		size_t *choice, uint64_t *total)
{
	struct hull *h = grow(NULL, (n + 1) * sizeof(*h));
	uint64_t sum = 0, least = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		make_hull(&items[i], &h[i]);
		sum += hc(&items[i], &h[i], h[i].at)->bytes;
		least += hc(&items[i], &h[i], 0)->bytes;
	}
	if (least > budget) {
		for (size_t i = 0; i < n; i++)
			h[i].at = 0;
		sum = least;
		rc = -1;
	}
	/* Down: the cheapest error per byte saved, until within budget. */
	while (!rc && sum > budget) {
		size_t best = (size_t)-1;
		double bs = 0;

		for (size_t i = 0; i < n; i++) {
			const struct plan_cand *a, *b;
			double s;

			if (!h[i].at)
				continue;
			a = hc(&items[i], &h[i], h[i].at);
			b = hc(&items[i], &h[i], h[i].at - 1);
			s = (b->sqerr - a->sqerr) /
			    (double)(a->bytes - b->bytes);
			if (best == (size_t)-1 || s < bs) {
				best = i;
				bs = s;
			}
		}
		sum -= hc(&items[best], &h[best], h[best].at)->bytes -
		       hc(&items[best], &h[best], h[best].at - 1)->bytes;
		h[best].at--;
	}
	/* Up: what is left of the budget, the most error removed per byte. */
	while (!rc) {
		size_t best = (size_t)-1;
		double bs = 0;

		for (size_t i = 0; i < n; i++) {
			const struct plan_cand *a, *b;
			double s;

			if (h[i].at + 1 >= h[i].n)
				continue;
			a = hc(&items[i], &h[i], h[i].at);
			b = hc(&items[i], &h[i], h[i].at + 1);
			if (sum + (b->bytes - a->bytes) > budget)
				continue;
			s = (a->sqerr - b->sqerr) /
			    (double)(b->bytes - a->bytes);
			if (best == (size_t)-1 || s > bs) {
				best = i;
				bs = s;
			}
		}
		if (best == (size_t)-1)
			break;
		sum += hc(&items[best], &h[best], h[best].at + 1)->bytes -
		       hc(&items[best], &h[best], h[best].at)->bytes;
		h[best].at++;
	}
	for (size_t i = 0; i < n; i++) {
		choice[i] = h[i].idx[h[i].at];
		free(h[i].idx);
	}
	free(h);
	*total = sum;
	return rc;
}

/* ---- llama.cpp ---- */

/* Name fragments of weights llama-quantize never converts (llama.cpp,
 * src/llama-quant.cpp, tensor_allows_quantization). */
static const char *const llama_kept[] = {
	"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight",
	"altup", "laurel", "per_layer_model_proj", "ssm_conv1d",
	"shortconv.conv.weight", "indexer.k_proj.weight",
	"indexer.q_proj.weight", "time_mix_first.weight",
	"time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
	"time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
	"time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
	"time_mix_g1.weight", "time_mix_g2.weight",
	"time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
	"time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd",
	"sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
	".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
};

/* ...and whole names (BERT's position and token-type tables). */
static const char *const llama_kept_names[] = {
	"position_embd.weight", "token_types.weight",
};

int plan_llama_quantizable(const char *name, int ndim)
{
	size_t n = strlen(name);

	if (ndim < 2 || n < 6 || strcmp(name + n - 6, "weight") != 0)
		return 0;
	for (size_t i = 0; i < sizeof(llama_kept) / sizeof(*llama_kept); i++)
		if (strstr(name, llama_kept[i]))
			return 0;
	for (size_t i = 0; i < sizeof(llama_kept_names) /
				   sizeof(*llama_kept_names); i++)
		if (strcmp(name, llama_kept_names[i]) == 0)
			return 0;
	return 1;
}

/* Past the ']' that closes the bracket expression at p ('[' at p[0]; a
 * ']' right after '[' or "[!" is a member), NULL when none does (then
 * fnmatch reads '[' as itself). */
static const char *bracket_end(const char *p)
{
	const char *q = p + 1;

	if (*q == '!' || *q == '^')
		q++;
	if (*q == ']')
		q++;
	return strchr(q, ']');
}

int plan_glob_regex(const char *glob, char *out, size_t n)
{
	size_t k = 0;

#define PUT(c)								\
	do {								\
		if (k + 1 >= n)						\
			return -1;					\
		out[k++] = (c);						\
	} while (0)
#define PUTS(s)								\
	do {								\
		for (const char *q_ = (s); *q_; q_++)			\
			PUT(*q_);					\
	} while (0)

	PUT('^');
	for (const char *p = glob; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '*') {
			PUTS(".*");
		} else if (c == '?') {
			PUT('.');
		} else if (c == '[' && bracket_end(p)) {
			/* a bracket expression: the set, '!' negating;
			 * backslash and '^' quoted inside */
			const char *q = p + 1;

			PUT('[');
			if (*q == '!' || *q == '^') {
				PUT('^');
				q++;
			}
			if (*q == ']') {
				PUTS("\\]");
				q++;
			}
			for (; *q != ']'; q++) {
				if (*q == '\\' || *q == '^' || *q == '[')
					PUT('\\');
				PUT(*q);
			}
			PUT(']');
			p = q;
		} else {
			if (c == '\\' && p[1])
				c = (unsigned char)*++p;
			if (c == '=') {
				/* llama-quantize splits PATTERN=TYPE at the
				 * first '=' */
				PUTS("\\x3d");
			} else if (strchr(".^$|()[]{}+*?\\/", c) && c) {
				PUT('\\');
				PUT((char)c);
			} else {
				PUT((char)c);
			}
		}
	}
	PUT('$');
	out[k] = '\0';
	return 0;
#undef PUT
#undef PUTS
}
