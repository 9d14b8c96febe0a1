/*
 * Unit tests for the renamings between Hugging Face and GGUF tensor names
 * (formats/names.c): both directions, layer numbers, suffixes, names the
 * table must leave alone, the q/k row permutation of llama.cpp's
 * converter, and the architectures that use it.
 */
#include <stdlib.h>

#include "formats/names.h"
#include "tests/check.h"

/* HF name, GGUF name, flags: each way round. */
static const struct {
	const char *hf, *gguf;
	unsigned flags;
} pairs[] = {
	{ "model.embed_tokens.weight", "token_embd.weight", 0 },
	{ "lm_head.weight", "output.weight", 0 },
	{ "model.norm.weight", "output_norm.weight", 0 },
	{ "model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight",
	  NAMES_PERMUTED_Q },
	{ "model.layers.7.self_attn.k_proj.weight", "blk.7.attn_k.weight",
	  NAMES_PERMUTED_K },
	{ "model.layers.12.self_attn.v_proj.weight", "blk.12.attn_v.weight",
	  0 },
	{ "model.layers.3.self_attn.o_proj.weight",
	  "blk.3.attn_output.weight", 0 },
	{ "model.layers.31.mlp.gate_proj.weight", "blk.31.ffn_gate.weight", 0 },
	{ "model.layers.31.mlp.up_proj.weight", "blk.31.ffn_up.weight", 0 },
	{ "model.layers.100.mlp.down_proj.weight", "blk.100.ffn_down.weight",
	  0 },
	{ "model.layers.2.input_layernorm.weight", "blk.2.attn_norm.weight",
	  0 },
	{ "model.layers.2.post_attention_layernorm.weight",
	  "blk.2.ffn_norm.weight", 0 },
	{ "model.layers.5.self_attn.q_proj.bias", "blk.5.attn_q.bias",
	  NAMES_PERMUTED_Q },
	{ "model.layers.5.self_attn.q_norm.weight", "blk.5.attn_q_norm.weight",
	  0 },
};

TEST(names_hf_to_gguf_and_back)
{
	char out[128];
	unsigned flags;

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		flags = 99;
		CHECK_EQ_I(names_to_gguf(pairs[i].hf, out, sizeof(out),
					 &flags), 0);
		CHECK_STR(out, pairs[i].gguf);
		CHECK_EQ_U(flags, pairs[i].flags);
		CHECK_EQ_I(names_to_hf(pairs[i].gguf, out, sizeof(out)), 0);
		CHECK_STR(out, pairs[i].hf);
	}
}

TEST(names_other_conventions)
{
	char out[128];
	unsigned flags = 99;

	/* Meta's original names: no permutation (GGUF's own row order). */
	CHECK_EQ_I(names_to_gguf("layers.4.attention.wq.weight", out,
				 sizeof(out), &flags), 0);
	CHECK_STR(out, "blk.4.attn_q.weight");
	CHECK_EQ_U(flags, 0);
	CHECK_EQ_I(names_to_gguf("layers.4.feed_forward.w3.weight", out,
				 sizeof(out), NULL), 0);
	CHECK_STR(out, "blk.4.ffn_up.weight");
	CHECK_EQ_I(names_to_gguf("tok_embeddings.weight", out, sizeof(out),
				 NULL), 0);
	CHECK_STR(out, "token_embd.weight");
	/* GPT-2: transposed Conv1D weights, biases carried over. */
	CHECK_EQ_I(names_to_gguf("transformer.h.11.attn.c_attn.weight", out,
				 sizeof(out), &flags), 0);
	CHECK_STR(out, "blk.11.attn_qkv.weight");
	CHECK_EQ_U(flags, NAMES_TRANSPOSED);
	CHECK_EQ_I(names_to_gguf("transformer.h.0.mlp.c_fc.bias", out,
				 sizeof(out), NULL), 0);
	CHECK_STR(out, "blk.0.ffn_up.bias");
	/* The GGUF name of several conventions goes back to the llama one. */
	CHECK_EQ_I(names_to_hf("blk.4.attn_qkv.weight", out, sizeof(out)), 0);
	CHECK_STR(out, "model.layers.4.self_attn.qkv_proj.weight");
	CHECK_EQ_I(names_to_hf("token_embd.weight", out, sizeof(out)), 0);
	CHECK_STR(out, "model.embed_tokens.weight");
	/* A bare stem, no suffix. */
	CHECK_EQ_I(names_to_gguf("lm_head", out, sizeof(out), NULL), 0);
	CHECK_STR(out, "output");
}

TEST(names_left_alone)
{
	static const char *const hf_only[] = {
		"",
		"model.layers.x.self_attn.q_proj.weight",	/* no number */
		"model.layers..self_attn.q_proj.weight",
		"model.layers.1234567890.mlp.up_proj.weight",	/* too long */
		"model.layers.0.mlp.gate_proj_extra.weight",	/* not a '.' */
		"model.layers.0.self_attn.q_projX",
		"model.layers.0.self_attn.rotary_emb.inv_freq",
		"xmodel.norm.weight",
		"model.norm2.weight",
		"blk.0.attn_q.weight",		/* already a GGUF name */
		"token_embd.weight",
		"model.layers.0",
	};
	static const char *const gguf_only[] = {
		"", "blk.x.attn_q.weight", "blk.0.attn_qq.weight",
		"model.layers.0.self_attn.q_proj.weight", "blk.0.", "output_",
	};
	char out[128];
	unsigned flags = 7;

	for (size_t i = 0; i < sizeof(hf_only) / sizeof(hf_only[0]); i++) {
		strcpy(out, "untouched");
		CHECK_EQ_I(names_to_gguf(hf_only[i], out, sizeof(out), &flags),
			   -1);
		CHECK_STR(out, "");
	}
	CHECK_EQ_U(flags, 7);
	for (size_t i = 0; i < sizeof(gguf_only) / sizeof(gguf_only[0]); i++)
		CHECK_EQ_I(names_to_hf(gguf_only[i], out, sizeof(out)), -1);
	/* The suffix is whatever follows the stem. */
	CHECK_EQ_I(names_to_gguf("model.layers.9.mlp.up_proj.weight_scale",
				 out, sizeof(out), NULL), 0);
	CHECK_STR(out, "blk.9.ffn_up.weight_scale");
	/* MoE router, not gate_proj. */
	CHECK_EQ_I(names_to_gguf("model.layers.1.mlp.gate.weight", out,
				 sizeof(out), NULL), 0);
	CHECK_STR(out, "blk.1.ffn_gate_inp.weight");
}

TEST(names_small_buffer)
{
	char out[20];

	/* "blk.31.ffn_gate.weight" needs 23 bytes. */
	CHECK_EQ_I(names_to_gguf("model.layers.31.mlp.gate_proj.weight", out,
				 sizeof(out), NULL), -1);
	CHECK_STR(out, "");
	CHECK_EQ_I(names_to_gguf("model.layers.31.mlp.gate_proj.weight", out,
				 0, NULL), -1);
	CHECK_EQ_I(names_to_hf("blk.1.attn_q.weight", out, sizeof(out)), -1);
	CHECK_STR(out, "");
	/* Exactly fits: "token_embd.weight" + NUL is 18. */
	CHECK_EQ_I(names_to_gguf("model.embed_tokens.weight", out, 18, NULL),
		   0);
	CHECK_STR(out, "token_embd.weight");
	CHECK_EQ_I(names_to_gguf("model.embed_tokens.weight", out, 17, NULL),
		   -1);
}

TEST(names_permuted_row)
{
	/*
	 * convert_hf_to_gguf's permute of a [rows, cols] weight:
	 * reshape(heads, 2, rows / heads / 2, cols).swapaxes(1, 2).  Build
	 * the permuted order by that definition and check that GGUF row
	 * names_permuted_row(r) holds HF row r.
	 */
	static const uint64_t shapes[][2] = {
		{ 8, 1 }, { 16, 2 }, { 64, 8 }, { 24, 3 }, { 2, 1 },
	};

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		uint64_t rows = shapes[s][0], heads = shapes[s][1];
		uint64_t half = rows / heads / 2;
		uint64_t *gguf = calloc(rows, sizeof(*gguf));
		char *seen = calloc(rows, 1);

		/* GGUF row (h, i, j) -> HF row (h, j, i) */
		for (uint64_t h = 0; h < heads; h++)
			for (uint64_t i = 0; i < half; i++)
				for (uint64_t j = 0; j < 2; j++)
					gguf[h * 2 * half + i * 2 + j] =
						h * 2 * half + j * half + i;
		for (uint64_t r = 0; r < rows; r++) {
			uint64_t g = names_permuted_row(r, rows, heads);

			CHECK(g < rows);
			if (g < rows) {
				CHECK_EQ_U(gguf[g], r);
				CHECK(!seen[g]);
				seen[g] = 1;
			}
		}
		free(seen);
		free(gguf);
	}
	/* One head of 4 rows: 0 2 1 3 -> HF rows 0,1 are GGUF rows 0,2. */
	CHECK_EQ_U(names_permuted_row(0, 4, 1), 0);
	CHECK_EQ_U(names_permuted_row(1, 4, 1), 2);
	CHECK_EQ_U(names_permuted_row(2, 4, 1), 1);
	CHECK_EQ_U(names_permuted_row(3, 4, 1), 3);
}

TEST(names_arch_permutes)
{
	CHECK(names_arch_permutes("llama"));
	CHECK(names_arch_permutes("granite"));
	CHECK(!names_arch_permutes("qwen2"));
	CHECK(!names_arch_permutes("gemma2"));
	CHECK(!names_arch_permutes("llama4"));
	CHECK(!names_arch_permutes(""));
	CHECK(!names_arch_permutes(NULL));
}
