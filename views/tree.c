/*
 * views/tree.c - the tensor tree (see tree.h).
 *
 * Building: each name is cut at '.'; every component but the last walks
 * down (or creates) a group, found through a hash of (parent, label); the
 * last creates the tensor's own node, never shared, so that a tensor
 * "a.b" and a group "a.b" of tensors "a.b.*" can both exist.  Sums go up
 * from the leaves (children always come after their parent in nodes[]);
 * then chains of single children are merged from the top down.
 */
#include "views/tree.h"

#include <stdlib.h>
#include <string.h>

#include "quant/dtype.h"

/* ---- building ---- */

struct slot {
	size_t parent, node;
	const char *label;	/* the node's label */
	size_t len;
};

struct index {
	struct slot *slots;
	size_t cap;		/* a power of two */
};

static uint64_t hash(size_t parent, const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)parent * 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static size_t new_node(struct tree *t, size_t parent, const char *label,
		       size_t len)
{
	struct tree_node *nd;

	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct tree_node *p = realloc(t->nodes, cap * sizeof(*p));

		if (!p)
			return TREE_NONE;
		t->nodes = p;
		t->cap = cap;
	}
	nd = &t->nodes[t->n];
	memset(nd, 0, sizeof(*nd));
	nd->label = malloc(len + 1);
	if (!nd->label)
		return TREE_NONE;
	memcpy(nd->label, label, len);
	nd->label[len] = '\0';
	nd->parent = parent;
	nd->dtype = -2;		/* nothing under it yet */
	nd->order = TREE_NONE;
	return t->n++;
}

static int add_kid(struct tree *t, size_t parent, size_t kid)
{
	struct tree_node *p = &t->nodes[parent];

	/* grow at powers of two */
	if ((p->nkids & (p->nkids - 1)) == 0) {
		size_t cap = p->nkids ? 2 * p->nkids : 1;
		size_t *k = realloc(p->kids, cap * sizeof(*k));

		if (!k)
			return -1;
		p->kids = k;
	}
	p->kids[p->nkids++] = kid;
	return 0;
}

/* The group labelled s[0..n) under parent, created if needed. */
static size_t group(struct tree *t, struct index *ix, size_t parent,
		    const char *s, size_t n)
{
	uint64_t h = hash(parent, s, n);
	size_t mask = ix->cap - 1, i = (size_t)h & mask, node;

	for (; ix->slots[i].label; i = (i + 1) & mask) {
		struct slot *sl = &ix->slots[i];

		if (sl->parent == parent && sl->len == n &&
		    memcmp(sl->label, s, n) == 0)
			return sl->node;
	}
	node = new_node(t, parent, s, n);
	if (node == TREE_NONE || add_kid(t, parent, node) < 0)
		return TREE_NONE;
	ix->slots[i].parent = parent;
	ix->slots[i].node = node;
	ix->slots[i].label = t->nodes[node].label;
	ix->slots[i].len = n;
	return node;
}

/* Merge node i with its only child, as long as it has just one group or
 * tensor under it. */
static int merge_chain(struct tree *t, size_t i)
{
	while (t->nodes[i].nkids == 1 && !t->nodes[i].tensor) {
		struct tree_node *nd = &t->nodes[i];
		struct tree_node *kid = &t->nodes[nd->kids[0]];
		size_t la = strlen(nd->label), lb = strlen(kid->label);
		char *l = malloc(la + lb + 2);

		if (!l)
			return -1;
		memcpy(l, nd->label, la);
		l[la] = '.';
		memcpy(l + la + 1, kid->label, lb + 1);
		free(nd->label);
		nd->label = l;
		free(nd->kids);
		nd->kids = kid->kids;
		nd->nkids = kid->nkids;
		nd->tensor = kid->tensor;
		kid->kids = NULL;
		kid->nkids = 0;
		kid->tensor = NULL;	/* the node lives on in nd */
		kid->parent = TREE_NONE;
		for (size_t k = 0; k < nd->nkids; k++)
			t->nodes[nd->kids[k]].parent = i;
	}
	return 0;
}

static void set_depth(struct tree *t, size_t i, int depth)
{
	/* iterative: names may nest deeper than a stack should */
	size_t *stack = NULL, n = 0, cap = 0;

	t->nodes[i].depth = depth;
	for (;;) {
		struct tree_node *nd = &t->nodes[i];

		for (size_t k = 0; k < nd->nkids; k++) {
			t->nodes[nd->kids[k]].depth = nd->depth + 1;
			if (n == cap) {
				size_t c = cap ? 2 * cap : 64;
				size_t *p = realloc(stack, c * sizeof(*p));

				if (!p) {
					free(stack);
					return;
				}
				stack = p;
				cap = c;
			}
			stack[n++] = nd->kids[k];
		}
		if (n == 0)
			break;
		i = stack[--n];
	}
	free(stack);
}

int tree_build(struct tree *t, const struct model *m)
{
	struct index ix = { NULL, 64 };

	memset(t, 0, sizeof(*t));
	while (ix.cap < 4 * m->ntensors)
		ix.cap *= 2;
	ix.slots = calloc(ix.cap, sizeof(*ix.slots));
	if (!ix.slots || new_node(t, TREE_NONE, "", 0) == TREE_NONE)
		goto oom;
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *ts = &m->tensors[i];
		const char *name = ts->name ? ts->name : "", *p = name, *dot;
		size_t parent = 0, leaf;

		while ((dot = strchr(p, '.')) != NULL) {
			parent = group(t, &ix, parent, p, (size_t)(dot - p));
			if (parent == TREE_NONE)
				goto oom;
			p = dot + 1;
		}
		leaf = new_node(t, parent, p, strlen(p));
		if (leaf == TREE_NONE || add_kid(t, parent, leaf) < 0)
			goto oom;
		t->nodes[leaf].tensor = ts;
		t->nodes[leaf].order = i;
		t->nodes[leaf].ntensors = 1;
		t->nodes[leaf].params = ts->params;
		t->nodes[leaf].bytes = ts->nbytes;
		t->nodes[leaf].dtype = (int)ts->dtype;
	}
	t->ntensors = m->ntensors;
	free(ix.slots);
	ix.slots = NULL;

	/* sums, from the leaves up */
	for (size_t i = t->n; i-- > 1;) {
		struct tree_node *nd = &t->nodes[i], *p = &t->nodes[nd->parent];

		p->ntensors += nd->ntensors;
		p->params += nd->params;
		p->bytes += nd->bytes;
		if (nd->order < p->order)
			p->order = nd->order;
		if (p->dtype == -2)
			p->dtype = nd->dtype;
		else if (p->dtype != nd->dtype)
			p->dtype = -1;
	}
	/* chains of single children, from the top down (nodes[] is in
	 * creation order: every parent before its children) */
	for (size_t i = 1; i < t->n; i++)
		if (t->nodes[i].parent != TREE_NONE && merge_chain(t, i) < 0)
			goto oom;
	set_depth(t, 0, 0);
	t->nodes[0].open = 1;
	tree_sort(t, TREE_BY_NAME, 0);
	return 0;
oom:
	free(ix.slots);
	tree_release(t);
	return -1;
}

void tree_release(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->nodes[i].label);
		free(t->nodes[i].kids);
	}
	free(t->nodes);
	memset(t, 0, sizeof(*t));
}

/* ---- sorting ---- */

/* qsort has no context argument; sorting happens on the UI thread only. */
static struct {
	const struct tree *t;
	enum tree_sort key;
	int reverse, full;	/* full: compare tensors' full names */
} by;

static const char *dtype_label(int d)
{
	return d >= 0 && d < DT_COUNT ? dtype_get((enum dtype)d)->name :
	       "~mixed";
}

int tree_name_cmp(const struct tree_node *a, const struct tree_node *b,
		  int full)
{
	const char *na = full && a->tensor ? a->tensor->name : a->label;
	const char *nb = full && b->tensor ? b->tensor->name : b->label;
	int c = natural_cmp(na ? na : "", nb ? nb : "");

	if (c == 0 && a->order != b->order)
		c = a->order < b->order ? -1 : 1;
	return c;
}

int tree_cmp(const struct tree *t, size_t ia, size_t ib, enum tree_sort key,
	     int reverse, int full)
{
	const struct tree_node *a = &t->nodes[ia], *b = &t->nodes[ib];
	int c = 0;

	switch (key) {
	case TREE_BY_SIZE:
		if (a->bytes != b->bytes)
			c = a->bytes > b->bytes ? -1 : 1;
		break;
	case TREE_BY_DTYPE:
		c = strcmp(dtype_label(a->dtype), dtype_label(b->dtype));
		break;
	default:
		break;
	}
	if (c == 0)
		c = tree_name_cmp(a, b, full);
	return reverse ? -c : c;
}

static int cmp_nodes(const void *pa, const void *pb)
{
	return tree_cmp(by.t, *(const size_t *)pa, *(const size_t *)pb,
			by.key, by.reverse, by.full);
}

void tree_sort(struct tree *t, enum tree_sort key, int reverse)
{
	by.t = t;
	by.key = key;
	by.reverse = reverse;
	by.full = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->nodes[i].nkids > 1)
			qsort(t->nodes[i].kids, t->nodes[i].nkids,
			      sizeof(size_t), cmp_nodes);
}

/* ---- the rows shown ---- */

static int push_row(size_t **rows, size_t *cap, size_t n, size_t v)
{
	if (n == *cap) {
		size_t c = *cap ? 2 * *cap : 256;
		size_t *p = realloc(*rows, c * sizeof(*p));

		if (!p)
			return -1;
		*rows = p;
		*cap = c;
	}
	(*rows)[n] = v;
	return 0;
}

size_t tree_rows(const struct tree *t, enum tree_rows_mode mode,
		 enum tree_sort key, int reverse, size_t **rows, size_t *cap)
{
	size_t n = 0, *stack = NULL, sn = 0, scap = 0;

	if (t->n == 0)
		return 0;
	if (mode == TREE_FLAT) {
		for (size_t i = 1; i < t->n; i++)
			if (t->nodes[i].tensor && t->nodes[i].parent != TREE_NONE &&
			    push_row(rows, cap, n++, i) < 0)
				return TREE_NONE;
		by.t = t;
		by.key = key;
		by.reverse = reverse;
		by.full = 1;
		if (n > 1)
			qsort(*rows, n, sizeof(size_t), cmp_nodes);
		return n;
	}
	/* depth first, children in order: push them last to first */
	for (size_t k = t->nodes[0].nkids; k-- > 0;)
		if (push_row(&stack, &scap, sn++, t->nodes[0].kids[k]) < 0)
			goto oom;
	while (sn > 0) {
		size_t i = stack[--sn];
		const struct tree_node *nd = &t->nodes[i];

		if ((mode == TREE_SHOWN || nd->tensor) &&
		    push_row(rows, cap, n++, i) < 0)
			goto oom;
		if (!nd->open && mode == TREE_SHOWN)
			continue;
		for (size_t k = nd->nkids; k-- > 0;)
			if (push_row(&stack, &scap, sn++, nd->kids[k]) < 0)
				goto oom;
	}
	free(stack);
	return n;
oom:
	free(stack);
	return TREE_NONE;
}

size_t tree_under(const struct tree *t, size_t i, size_t **out)
{
	size_t n = 0, cap = 0, *stack = NULL, sn = 0, scap = 0;

	*out = NULL;
	if (push_row(&stack, &scap, sn++, i) < 0)
		goto oom;
	while (sn > 0) {
		const struct tree_node *nd = &t->nodes[stack[--sn]];

		if (nd->tensor && push_row(out, &cap, n++, (size_t)(nd - t->nodes)) < 0)
			goto oom;
		for (size_t k = nd->nkids; k-- > 0;)
			if (push_row(&stack, &scap, sn++, nd->kids[k]) < 0)
				goto oom;
	}
	free(stack);
	if (!*out)
		*out = malloc(sizeof(size_t));	/* none: still freeable */
	return *out ? n : TREE_NONE;
oom:
	free(stack);
	free(*out);
	*out = NULL;
	return TREE_NONE;
}

void tree_reveal(struct tree *t, size_t i)
{
	if (i >= t->n)
		return;
	for (i = t->nodes[i].parent; i != TREE_NONE; i = t->nodes[i].parent)
		t->nodes[i].open = 1;
}

void tree_open_all(struct tree *t, int open)
{
	for (size_t i = 1; i < t->n; i++)
		if (t->nodes[i].nkids)
			t->nodes[i].open = open;
}

void tree_open_to_fit(struct tree *t, size_t max_rows)
{
	size_t shown = t->n ? t->nodes[0].nkids : 0;

	for (int depth = 1;; depth++) {
		size_t more = 0, groups = 0;

		for (size_t i = 1; i < t->n; i++) {
			const struct tree_node *nd = &t->nodes[i];

			if (nd->depth == depth && nd->nkids &&
			    nd->parent != TREE_NONE &&
			    t->nodes[nd->parent].open) {
				more += nd->nkids;
				groups++;
			}
		}
		/* a lone group is opened whatever it holds: one closed row
		 * shows nothing */
		if (groups == 0 || (shown + more > max_rows && shown > 1))
			return;
		for (size_t i = 1; i < t->n; i++) {
			struct tree_node *nd = &t->nodes[i];

			if (nd->depth == depth && nd->nkids &&
			    nd->parent != TREE_NONE &&
			    t->nodes[nd->parent].open)
				nd->open = 1;
		}
		shown += more;
	}
}
