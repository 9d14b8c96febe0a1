/* Unit tests of views/tree.c (grouping, merging, sums, natural order,
 * rows shown) and tui/worker.c (jobs run, stop, cancel). */
#include "tests/check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/model.h"
#include "tui/worker.h"
#include "views/tree.h"

static void add(struct model *m, const char *name, enum dtype dt,
		uint64_t params, uint64_t bytes)
{
	struct tensor *t;

	m->tensors = realloc(m->tensors, (m->ntensors + 1) * sizeof(*t));
	t = &m->tensors[m->ntensors++];
	memset(t, 0, sizeof(*t));
	t->name = strdup(name);
	t->dtype = dt;
	t->ndim = 1;
	t->shape[0] = params;
	t->params = params;
	t->nbytes = bytes;
}

static void drop(struct model *m)
{
	for (size_t i = 0; i < m->ntensors; i++)
		free(m->tensors[i].name);
	free(m->tensors);
	memset(m, 0, sizeof(*m));
}

/* The labels of rows, joined by spaces, with depth as leading '>'s. */
static char *rows_text(const struct tree *t, enum tree_rows_mode mode,
		       enum tree_sort key)
{
	size_t *rows = NULL, cap = 0, n = tree_rows(t, mode, key, 0, &rows, &cap);
	char *out = calloc(1, 4096);

	for (size_t i = 0; out && i < n; i++) {
		const struct tree_node *nd = &t->nodes[rows[i]];

		if (i)
			strcat(out, " ");
		for (int d = 1; mode != TREE_FLAT && d < nd->depth; d++)
			strcat(out, ">");
		strcat(out, mode == TREE_FLAT ? nd->tensor->name : nd->label);
	}
	free(rows);
	return out;
}

TEST(tree_natural_order)
{
	CHECK(natural_cmp("layers.9", "layers.10") < 0);
	CHECK(natural_cmp("layers.10", "layers.9") > 0);
	CHECK(natural_cmp("blk.2.a", "blk.2.b") < 0);
	CHECK(natural_cmp("a007", "a7") == 0);
	CHECK(natural_cmp("a", "a.b") < 0);
	CHECK(natural_cmp("x99999999999999999999", "x100000000000000000000") < 0);
	CHECK(natural_cmp("", "") == 0);
}

TEST(tree_grouping)
{
	struct model m;
	struct tree t;
	char *s;

	memset(&m, 0, sizeof(m));
	add(&m, "model.layers.10.mlp.down_proj.weight", DT_BF16, 8, 16);
	add(&m, "model.layers.9.mlp.down_proj.weight", DT_BF16, 8, 16);
	add(&m, "model.layers.9.mlp.up_proj.weight", DT_F32, 8, 32);
	add(&m, "model.norm.weight", DT_F32, 4, 16);
	add(&m, "lm_head.weight", DT_BF16, 100, 200);
	add(&m, "a.b", DT_F32, 1, 4);		/* a tensor and a group "a.b" */
	add(&m, "a.b.c", DT_F32, 1, 4);
	CHECK(tree_build(&t, &m) == 0);

	tree_open_all(&t, 1);
	s = rows_text(&t, TREE_SHOWN, TREE_BY_NAME);
	/* single children merged: "layers.9.mlp" is not, it has two;
	 * "10.mlp.down_proj.weight" is one chain */
	CHECK_STR(s, "a >b >b.c lm_head.weight model >layers "
		  ">>9.mlp >>>down_proj.weight >>>up_proj.weight "
		  ">>10.mlp.down_proj.weight >norm.weight");
	free(s);

	/* sums and dtypes of groups */
	for (size_t i = 0; i < t.n; i++) {
		const struct tree_node *nd = &t.nodes[i];

		if (nd->parent == TREE_NONE && i)
			continue;
		if (strcmp(nd->label, "layers") == 0) {
			CHECK_EQ_U(nd->ntensors, 3);
			CHECK_EQ_U(nd->params, 24);
			CHECK_EQ_U(nd->bytes, 64);
			CHECK_EQ_I(nd->dtype, -1);	/* mixed */
		}
		if (strcmp(nd->label, "9.mlp") == 0)
			CHECK_EQ_I(nd->dtype, -1);
		if (strcmp(nd->label, "model") == 0)
			CHECK_EQ_U(nd->bytes, 80);
	}
	CHECK_EQ_U(t.nodes[0].ntensors, 7);

	/* by size, largest first, among siblings */
	tree_sort(&t, TREE_BY_SIZE, 0);
	s = rows_text(&t, TREE_SHOWN, TREE_BY_SIZE);
	CHECK(strncmp(s, "lm_head.weight model >layers >>9.mlp", 36) == 0);
	free(s);

	/* the flat list: full names, natural order */
	s = rows_text(&t, TREE_FLAT, TREE_BY_NAME);
	CHECK_STR(s, "a.b a.b.c lm_head.weight "
		  "model.layers.9.mlp.down_proj.weight "
		  "model.layers.9.mlp.up_proj.weight "
		  "model.layers.10.mlp.down_proj.weight model.norm.weight");
	free(s);

	/* folded: only the top; revealing a tensor opens its groups */
	tree_sort(&t, TREE_BY_NAME, 0);
	tree_open_all(&t, 0);
	s = rows_text(&t, TREE_SHOWN, TREE_BY_NAME);
	CHECK_STR(s, "a lm_head.weight model");
	free(s);
	for (size_t i = 0; i < t.n; i++)
		if (t.nodes[i].tensor == &m.tensors[2])
			tree_reveal(&t, i);
	s = rows_text(&t, TREE_SHOWN, TREE_BY_NAME);
	CHECK_STR(s, "a lm_head.weight model >layers >>9.mlp "
		  ">>>down_proj.weight >>>up_proj.weight "
		  ">>10.mlp.down_proj.weight >norm.weight");
	free(s);
	tree_release(&t);
	drop(&m);
}

TEST(tree_open_to_fit)
{
	struct model m;
	struct tree t;
	char name[64];
	size_t *rows = NULL, cap = 0;

	memset(&m, 0, sizeof(m));
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "blk.%d.attn_q.weight", i);
		add(&m, name, DT_F16, 4, 8);
		snprintf(name, sizeof(name), "blk.%d.attn_k.weight", i);
		add(&m, name, DT_F16, 4, 8);
	}
	CHECK(tree_build(&t, &m) == 0);
	/* one group at the top: opened even though its 50 children do not
	 * fit; the level below does not fit, so it stays closed */
	tree_open_to_fit(&t, 20);
	CHECK_EQ_U(tree_rows(&t, TREE_SHOWN, TREE_BY_NAME, 0, &rows, &cap), 51);
	/* the whole tree fits in 200 rows */
	tree_open_to_fit(&t, 200);
	CHECK_EQ_U(tree_rows(&t, TREE_SHOWN, TREE_BY_NAME, 0, &rows, &cap), 151);
	CHECK_EQ_U(tree_rows(&t, TREE_TENSORS, TREE_BY_NAME, 0, &rows, &cap), 100);
	free(rows);
	tree_release(&t);
	drop(&m);
}

/* ---- the worker ---- */

struct spin {
	int ran;
	unsigned long loops;
};

static int spin_run(struct job *j)
{
	struct spin *s = j->arg;

	s->ran = 1;
	/* until cancelled, or about two seconds at most */
	for (s->loops = 0; s->loops < 2000; s->loops++) {
		if (job_cancelled(j))
			return 1;
		job_progress(j, (double)s->loops / 2000);
		usleep(1000);
	}
	return 0;
}

static int quick_run(struct job *j)
{
	struct spin *s = j->arg;

	s->ran = 1;
	snprintf(j->err, sizeof(j->err), "quick");
	return -1;
}

TEST(worker_jobs)
{
	int p[2];
	struct job a, b;
	struct spin sa = { 0, 0 }, sb = { 0, 0 };
	char c;

	CHECK(pipe(p) == 0);
	CHECK(worker_init(p[1]) == 0);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.run = spin_run;
	a.arg = &sa;
	b.run = quick_run;
	b.arg = &sb;
	worker_start(&a);
	worker_start(&b);	/* queued behind a */
	CHECK(worker_busy());
	/* stopping b while a runs drops it: it never runs */
	worker_stop(&b);
	CHECK_EQ_I(job_state(&b), JOB_IDLE);
	/* stopping a cancels it and waits: DONE, cancelled */
	while (job_state(&a) != JOB_RUNNING)
		usleep(1000);
	worker_stop(&a);
	CHECK_EQ_I(job_state(&a), JOB_DONE);
	CHECK_EQ_I(a.result, 1);
	CHECK(sa.loops < 2000);
	CHECK_EQ_I(sb.ran, 0);
	/* a job that ends wakes the loop through the pipe */
	worker_start(&b);
	CHECK(read(p[0], &c, 1) == 1);
	while (job_state(&b) != JOB_DONE)
		usleep(1000);
	CHECK_EQ_I(b.result, -1);
	CHECK_STR(b.err, "quick");
	CHECK(!worker_busy());
	worker_shutdown();
	close(p[0]);
	close(p[1]);
}
