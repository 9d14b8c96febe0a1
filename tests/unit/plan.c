/*
 * Unit tests for plans (quant/plan.h): parsing and its errors with line
 * numbers, first match wins, what a rule does to a tensor and the totals,
 * writing a plan and reading it back, an assignment compressed into a plan
 * that gives every tensor the same scheme again, the byte-budget solver,
 * and the glob-to-regex translation for llama-quantize (checked against
 * fnmatch through POSIX regcomp on many names).
 */
#include <fnmatch.h>
#include <regex.h>
#include <stdlib.h>

#include "quant/plan.h"
#include "tests/check.h"

static int parse(struct plan *p, const char *text, char *msg, size_t n)
{
	plan_init(p);
	return plan_parse(p, "p.plan", text, strlen(text), msg, n);
}

TEST(plan_parse_rules)
{
	const char *text =
		"# qscope plan\n"
		"\n"
		"*.embed_tokens.*   bf16   # the embeddings\n"
		"   *norm*\tkeep\r\n"
		"*.self_attn.*      Q8_0\n"
		"a\\ b\\#c           int4-g128\n"
		"*                  q4_k";
	struct plan p;
	char msg[256];

	CHECK_EQ_I(parse(&p, text, msg, sizeof(msg)), 0);
	CHECK_EQ_U(p.n, 5);
	if (p.n == 5) {
		CHECK_STR(p.rules[0].glob, "*.embed_tokens.*");
		CHECK(p.rules[0].scheme == scheme_find("bf16"));
		CHECK_EQ_U(p.rules[0].line, 3);
		CHECK_STR(p.rules[1].glob, "*norm*");
		CHECK(p.rules[1].scheme == NULL);
		CHECK_EQ_U(p.rules[1].line, 4);
		CHECK(p.rules[2].scheme == scheme_find("q8_0"));
		CHECK_EQ_U(p.rules[3].line, 6);
		CHECK(plan_match(&p, "a b#c") == 3);
		CHECK_EQ_U(p.rules[4].line, 7);
	}
	plan_release(&p);
	CHECK_EQ_U(p.n, 0);
}

TEST(plan_parse_errors)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "*  q8_0\n\n*.x  q4k\n",
		  "p.plan:3: unknown scheme 'q4k' (see 'qscope schemes'; 'keep' keeps the stored dtype)" },
		{ "# one\nlonely\n",
		  "p.plan:2: expected 'GLOB SCHEME', found only 'lonely'" },
		{ "a b c\n", "p.plan:1: expected 'GLOB SCHEME', found more words" },
		{ "*  nf5\n", "p.plan:1: unknown scheme 'nf5' (see 'qscope schemes'; 'keep' keeps the stored dtype)" },
	};
	char msg[256];
	struct plan p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		CHECK_EQ_I(parse(&p, bad[i].text, msg, sizeof(msg)), -1);
		CHECK_STR(msg, bad[i].msg);
		plan_release(&p);
	}
	/* "* \x02": the second word is a control character */
	CHECK_EQ_I(parse(&p, "* \x02\n", msg, sizeof(msg)), -1);
	CHECK_STR(msg, "p.plan:1: unknown scheme '?' (see 'qscope schemes'; 'keep' keeps the stored dtype)");
	plan_release(&p);
	{
		char *longl = malloc(PLAN_MAX_LINE + 16);

		memset(longl, 'a', PLAN_MAX_LINE + 8);
		memcpy(longl + PLAN_MAX_LINE + 8, " f16\n", 6);
		CHECK_EQ_I(parse(&p, longl, msg, sizeof(msg)), -1);
		CHECK_STR(msg, "p.plan:1: line longer than 4096 bytes");
		plan_release(&p);
		free(longl);
	}
	CHECK_EQ_I(parse(&p, "a f16\0b f16\n", msg, sizeof(msg)), 0);
	plan_release(&p);
	plan_init(&p);
	CHECK_EQ_I(plan_parse(&p, "p.plan", "a f16\0 b\n", 9, msg, sizeof(msg)), -1);
	CHECK_STR(msg, "p.plan:1: a NUL byte; not a plan file");
	plan_release(&p);
}

TEST(plan_first_match_wins)
{
	struct plan p;
	char msg[256];

	CHECK_EQ_I(parse(&p, "*.mlp.down_proj.* q6_k\n*.mlp.* q4_k\n"
			     "*.layers.0.* q8_0\n* bf16\n", msg, sizeof(msg)), 0);
	CHECK_EQ_I(plan_match(&p, "model.layers.0.mlp.down_proj.weight"), 0);
	CHECK_EQ_I(plan_match(&p, "model.layers.0.mlp.up_proj.weight"), 1);
	CHECK_EQ_I(plan_match(&p, "model.layers.0.self_attn.q_proj.weight"), 2);
	CHECK_EQ_I(plan_match(&p, "lm_head.weight"), 3);
	plan_release(&p);
	CHECK_EQ_I(parse(&p, "*.mlp.* q4_k\n", msg, sizeof(msg)), 0);
	CHECK_EQ_I(plan_match(&p, "lm_head.weight"), -1);
	plan_release(&p);
}

TEST(plan_choose_and_totals)
{
	struct plan p;
	struct plan_choice c;
	struct plan_totals t;
	char msg[256];
	struct scheme_shape w = { 2, { 512, 1024 } };
	struct scheme_shape odd = { 2, { 512, 1376 } };
	struct scheme_shape v = { 1, { 512 } };

	CHECK_EQ_I(parse(&p, "*.a int4-g128\n*.b bf16\n*.k keep\n", msg,
			 sizeof(msg)), 0);
	plan_totals_init(&t);

	plan_choose(&p, "x.a", DT_BF16, &w, 512 * 1024, 2 * 512 * 1024, &c);
	CHECK(c.scheme == scheme_find("int4-g128"));
	CHECK_EQ_U(c.bytes_after, scheme_bytes(c.scheme, &w));
	CHECK_EQ_U(c.bytes_after, 512 * 1024 / 2 + 512 * 8 * 2);
	CHECK_STR(c.why, "");
	plan_totals_add(&t, &c);

	plan_choose(&p, "y.a", DT_BF16, &odd, 512 * 1376, 2 * 512 * 1376, &c);
	CHECK(c.scheme == NULL);
	CHECK_EQ_I(c.rule, 0);
	CHECK_STR(c.why, "row length 1376 is not a multiple of 128");
	CHECK_EQ_U(c.bytes_after, 2 * 512 * 1376);
	plan_totals_add(&t, &c);

	plan_choose(&p, "n.a", DT_F32, &v, 512, 2048, &c);
	CHECK(c.scheme == NULL);
	CHECK_STR(c.why, "1-D tensor kept");
	plan_totals_add(&t, &c);

	plan_choose(&p, "z.b", DT_BF16, &w, 512 * 1024, 2 * 512 * 1024, &c);
	CHECK(c.scheme == NULL);	/* bf16 on BF16: nothing to do */
	CHECK_STR(c.why, "");
	plan_choose(&p, "z.b", DT_F32, &w, 512 * 1024, 4 * 512 * 1024, &c);
	CHECK(c.scheme == scheme_find("bf16"));
	plan_choose(&p, "z.b", DT_I32, &w, 512 * 1024, 4 * 512 * 1024, &c);
	CHECK_STR(c.why, "integer tensor kept");
	plan_choose(&p, "z.k", DT_F32, &w, 512 * 1024, 4 * 512 * 1024, &c);
	CHECK(c.scheme == NULL && c.rule == 2 && !c.why[0]);
	plan_choose(&p, "none", DT_F32, &w, 512 * 1024, 4 * 512 * 1024, &c);
	CHECK(c.scheme == NULL && c.rule == -1);

	CHECK_EQ_U(t.tensors, 3);
	CHECK_EQ_U(t.converted, 1);
	CHECK_EQ_U(t.kept, 2);
	CHECK_EQ_U(t.params, 512 * 1024 + 512 * 1376 + 512);
	CHECK_EQ_U(t.bytes_before, 2 * 512 * 1024 + 2 * 512 * 1376 + 2048);
	CHECK_EQ_U(t.bytes_after, 512 * 1024 / 2 + 512 * 8 * 2 +
				  2 * 512 * 1376 + 2048);
	CHECK_NEAR(plan_totals_bpw_after(&t),
		   8.0 * (double)t.bytes_after / (double)t.params, 1e-12);
	CHECK_NEAR(plan_totals_bpw_before(&t),
		   8.0 * (double)t.bytes_before / (double)t.params, 1e-12);
	plan_release(&p);
}

TEST(plan_write_reads_back)
{
	struct plan p, q;
	char msg[256], *buf = NULL;
	size_t len = 0;
	FILE *f;

	CHECK_EQ_I(parse(&p, "*.x\\ y.* nf4-dq\n*norm* keep\n* fp8-e4m3\n",
			 msg, sizeof(msg)), 0);
	f = open_memstream(&buf, &len);
	CHECK_EQ_I(plan_write(&p, f), 0);
	fclose(f);
	CHECK_EQ_I(parse(&q, buf, msg, sizeof(msg)), 0);
	CHECK_EQ_U(q.n, p.n);
	for (size_t i = 0; i < p.n && i < q.n; i++) {
		CHECK_STR(q.rules[i].glob, p.rules[i].glob);
		CHECK(q.rules[i].scheme == p.rules[i].scheme);
	}
	free(buf);
	plan_release(&p);
	plan_release(&q);
}

/* ---- compression ---- */

static const char *const kinds[] = {
	"input_layernorm.weight", "post_attention_layernorm.weight",
	"self_attn.q_proj.weight", "self_attn.k_proj.weight",
	"self_attn.v_proj.weight", "self_attn.o_proj.weight",
	"mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
};
#define NKINDS (sizeof(kinds) / sizeof(*kinds))
#define NLAYERS 12

static size_t llama_names(char **names)
{
	size_t n = 0;

	names[n++] = strdup("model.embed_tokens.weight");
	for (int l = 0; l < NLAYERS; l++)
		for (size_t k = 0; k < NKINDS; k++) {
			char b[128];

			snprintf(b, sizeof(b), "model.layers.%d.%s", l, kinds[k]);
			names[n++] = strdup(b);
		}
	names[n++] = strdup("model.norm.weight");
	names[n++] = strdup("lm_head.weight");
	return n;
}

/* Every name gets assign[i] from the plan, first match wins. */
static int same(const struct plan *p, char **names,
		const struct scheme **assign, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		long r = plan_match(p, names[i]);

		if (r < 0 || p->rules[r].scheme != assign[i]) {
			printf("    %s: plan gives %s, assignment %s\n", names[i],
			       r < 0 ? "nothing" : p->rules[r].scheme ?
			       p->rules[r].scheme->name : "keep",
			       assign[i] ? assign[i]->name : "keep");
			return 0;
		}
	}
	return 1;
}

TEST(plan_compress_structure)
{
	char *names[NLAYERS * NKINDS + 8];
	const struct scheme *assign[NLAYERS * NKINDS + 8];
	size_t n = llama_names(names);
	struct plan p;

	for (size_t i = 0; i < n; i++) {
		assign[i] = scheme_find("q4_k");
		if (strstr(names[i], "norm"))
			assign[i] = NULL;
		else if (strstr(names[i], "mlp.down_proj"))
			assign[i] = scheme_find("q6_k");
		else if (strstr(names[i], "self_attn.q_proj") ||
			 strstr(names[i], "self_attn.k_proj"))
			assign[i] = scheme_find("q8_0");
		else if (strstr(names[i], "embed_tokens"))
			assign[i] = scheme_find("bf16");
	}
	/* one layer different: its own rule */
	for (size_t i = 0; i < n; i++)
		if (strstr(names[i], "layers.7.mlp.up_proj"))
			assign[i] = scheme_find("q8_0");
	plan_init(&p);
	plan_compress(&p, (const char *const *)names, assign, n);
	CHECK(same(&p, names, assign, n));
	CHECK(p.n >= 1 && strcmp(p.rules[p.n - 1].glob, "*") == 0);
	CHECK(p.n >= 1 && p.rules[p.n - 1].scheme == scheme_find("q4_k"));
	/* down_proj in one rule, not 12 */
	{
		int down = 0;

		for (size_t r = 0; r < p.n; r++)
			if (strstr(p.rules[r].glob, "down_proj")) {
				down++;
				CHECK(strchr(p.rules[r].glob, '*') != NULL);
			}
		CHECK_EQ_I(down, 1);
	}
	/* embeddings, three kinds of norm, down_proj, q_proj, k_proj,
	 * layer 7's up_proj, the default */
	CHECK(p.n <= 9);
	if (p.n > 9)
		plan_write(&p, stdout);
	plan_release(&p);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

TEST(plan_compress_random)
{
	char *names[NLAYERS * NKINDS + 8];
	const struct scheme *assign[NLAYERS * NKINDS + 8];
	size_t n = llama_names(names);
	unsigned seed = 12345;

	for (int round = 0; round < 40; round++) {
		struct plan p;
		/* fewer choices in early rounds: more structure to find */
		unsigned k = 2 + (unsigned)round % 6;

		for (size_t i = 0; i < n; i++) {
			unsigned r;

			seed = seed * 1103515245u + 12345u;
			r = (seed >> 16) % (k + 1);
			assign[i] = r == k ? NULL : &schemes[r * 3 % nschemes];
		}
		plan_init(&p);
		plan_compress(&p, (const char *const *)names, assign, n);
		CHECK(same(&p, names, assign, n));
		CHECK(strcmp(p.rules[p.n - 1].glob, "*") == 0);
		plan_release(&p);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

TEST(plan_compress_odd_names)
{
	const char *names[] = {
		"a b.weight", "x[1].weight", "star*.bias", "q?.w", "back\\slash",
		"#hash.w", ".lead", "trail.", "a..b", "", "plain",
		"a.b.a.b", "a.b",
	};
	const struct scheme *assign[sizeof(names) / sizeof(*names)];
	size_t n = sizeof(names) / sizeof(*names);
	struct plan p, q;
	char msg[256], *buf = NULL;
	size_t len = 0;
	FILE *f;

	for (size_t i = 0; i < n; i++)
		assign[i] = i % 3 == 0 ? scheme_find("nf4") :
			    i % 3 == 1 ? NULL : scheme_find("f16");
	plan_init(&p);
	plan_compress(&p, names, assign, n);
	CHECK(same(&p, (char **)names, assign, n));
	/* ...and the same once written and read back */
	f = open_memstream(&buf, &len);
	plan_write(&p, f);
	fclose(f);
	CHECK_EQ_I(parse(&q, buf, msg, sizeof(msg)), 0);
	for (size_t i = 0; i < n; i++) {
		if (!names[i][0])
			continue;	/* an empty name cannot be a word */
		CHECK(plan_match(&q, names[i]) >= 0 &&
		      q.rules[plan_match(&q, names[i])].scheme == assign[i]);
	}
	free(buf);
	plan_release(&p);
	plan_release(&q);
}

/* ---- budget ---- */

TEST(plan_budget_prefers_cheaper_error)
{
	/* Two tensors of the same size; shrinking A costs little error,
	 * shrinking B much.  The budget allows one to shrink. */
	const struct plan_cand a[] = { { NULL, 1000, 0 }, { NULL, 500, 1.0 },
				       { NULL, 250, 9.0 } };
	const struct plan_cand b[] = { { NULL, 1000, 0 }, { NULL, 500, 5.0 },
				       { NULL, 250, 20.0 } };
	struct plan_item it[2] = { { a, 3 }, { b, 3 } };
	size_t ch[2];
	uint64_t total;

	CHECK_EQ_I(plan_budget(it, 2, 2000, ch, &total), 0);
	CHECK_EQ_U(ch[0], 0);
	CHECK_EQ_U(ch[1], 0);
	CHECK_EQ_U(total, 2000);
	CHECK_EQ_I(plan_budget(it, 2, 1500, ch, &total), 0);
	CHECK_EQ_U(ch[0], 1);	/* A shrinks, B stays */
	CHECK_EQ_U(ch[1], 0);
	CHECK_EQ_U(total, 1500);
	CHECK_EQ_I(plan_budget(it, 2, 1000, ch, &total), 0);
	CHECK(total <= 1000);
	/* both at 500 (error 6) beats A at 250 + B at 500... or the
	 * reverse: the solver must find the 6 */
	CHECK_EQ_U(ch[0], 1);
	CHECK_EQ_U(ch[1], 1);
	CHECK_EQ_I(plan_budget(it, 2, 499, ch, &total), -1);
	CHECK_EQ_U(ch[0], 2);
	CHECK_EQ_U(ch[1], 2);
	CHECK_EQ_U(total, 500);
}

TEST(plan_budget_random)
{
	unsigned seed = 777;
	enum { N = 30, K = 6 };

	for (int round = 0; round < 50; round++) {
		struct plan_cand c[N][K];
		struct plan_item it[N];
		size_t ch[N];
		uint64_t least = 0, most = 0, total, sum = 0;
		double err = 0, err_least = 0;

		for (int i = 0; i < N; i++) {
			uint64_t size;

			seed = seed * 1103515245u + 12345u;
			size = 1000 + (seed >> 16) % 5000;
			for (int k = 0; k < K; k++) {
				double bits = 16.0 / (1 << k) + 1;

				seed = seed * 1103515245u + 12345u;
				c[i][k].scheme = NULL;
				c[i][k].bytes = (uint64_t)(size * bits / 8);
				/* error falls with bits, by a random factor */
				c[i][k].sqerr = (double)size *
					pow(2.0, -2.0 * bits) *
					(1 + (seed >> 16) % 100 / 10.0);
			}
			it[i].cand = c[i];
			it[i].n = K;
			least += c[i][K - 1].bytes;
			most += c[i][0].bytes;
			err_least += c[i][K - 1].sqerr;
		}
		{
			uint64_t budget = least + (most - least) *
					  (uint64_t)(round % 10) / 10;

			CHECK_EQ_I(plan_budget(it, N, budget, ch, &total), 0);
			for (int i = 0; i < N; i++) {
				sum += c[i][ch[i]].bytes;
				err += c[i][ch[i]].sqerr;
			}
			CHECK_EQ_U(sum, total);
			CHECK(total <= budget);
			CHECK(err <= err_least);
			CHECK_EQ_I(plan_budget(it, N, least - 1, ch, &total), -1);
		}
	}
}

/* ---- llama.cpp ---- */

TEST(plan_llama_quantizable)
{
	CHECK(plan_llama_quantizable("blk.0.attn_q.weight", 2));
	CHECK(plan_llama_quantizable("token_embd.weight", 2));
	CHECK(plan_llama_quantizable("blk.0.ffn_down_exps.weight", 3));
	CHECK(!plan_llama_quantizable("blk.0.attn_norm.weight", 2));
	CHECK(!plan_llama_quantizable("blk.0.attn_q.weight", 1));
	CHECK(!plan_llama_quantizable("blk.0.attn_q.bias", 2));
	CHECK(!plan_llama_quantizable("blk.0.ffn_gate_inp.weight", 2));
	CHECK(!plan_llama_quantizable("position_embd.weight", 2));
}

TEST(plan_glob_regex)
{
	static const char *const globs[] = {
		"*.attn_v.*", "blk.1?.*", "[!b]*", "*[0-9].ffn_*", "a.b",
		"*", "x\\*y", "*[]]*", "*[!]a]", "token_embd.weight", "*(+)*",
		"a$b^c|d", "*{x}*", "[a-c]*[!.]",
	};
	static const char *const names[] = {
		"blk.0.attn_v.weight", "blk.12.attn_v.weight", "blk.1.x",
		"blk.10.ffn_up.weight", "a.b", "aXb", "x*y", "xzy", "]",
		"a]", "ab", "token_embd.weight", "token_embdXweight",
		"q(+)r", "a$b^c|d", "{x}", "c7", "c.", "bcd", "",
	};
	char rx[512];

	CHECK_EQ_I(plan_glob_regex("*.attn_v.*", rx, sizeof(rx)), 0);
	CHECK_STR(rx, "^.*\\.attn_v\\..*$");
	CHECK_EQ_I(plan_glob_regex("[!a]x?", rx, sizeof(rx)), 0);
	CHECK_STR(rx, "^[^a]x.$");
	CHECK_EQ_I(plan_glob_regex("a=b", rx, sizeof(rx)), 0);
	CHECK_STR(rx, "^a\\x3db$");
	CHECK_EQ_I(plan_glob_regex("abcdef", rx, 4), -1);
	CHECK_EQ_I(plan_glob_regex("*[]]*", rx, sizeof(rx)), 0);
	CHECK_STR(rx, "^.*[\\]].*$");
	CHECK_EQ_I(plan_glob_regex("*[!]a]", rx, sizeof(rx)), 0);
	CHECK_STR(rx, "^.*[^\\]a]$");
	for (size_t g = 0; g < sizeof(globs) / sizeof(*globs); g++) {
		regex_t re;

		CHECK_EQ_I(plan_glob_regex(globs[g], rx, sizeof(rx)), 0);
		/* ECMAScript quotes ']' in a set as "\\]", POSIX cannot:
		 * those are checked by their text above and below */
		if (strstr(rx, "\\]"))
			continue;
		if (!CHECK(regcomp(&re, rx, REG_EXTENDED | REG_NOSUB) == 0)) {
			printf("    regex '%s'\n", rx);
			continue;
		}
		for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
			int a = fnmatch(globs[g], names[i], 0) == 0;
			int b = regexec(&re, names[i], 0, NULL, 0) == 0;

			if (!CHECK(a == b))
				printf("    glob '%s' regex '%s' name '%s': %d %d\n",
				       globs[g], rx, names[i], a, b);
		}
		regfree(&re);
	}
}
