/*
 * formats/names.c - the table of renamings between Hugging Face and GGUF
 * tensor names (formats/names.h).
 *
 * The rows follow llama.cpp's gguf-py tensor_mapping.py (the names its
 * converter writes) for the common architectures.  Rows of the same GGUF
 * stem: the first is what names_to_hf() gives, so the Hugging Face llama
 * names come first.  Left out on purpose: renamings that depend on the
 * architecture (Gemma 2/3 call post_attention_layernorm what llama.cpp
 * names post_attention_norm, not ffn_norm) and tensors the converter
 * merges or splits (MoE experts, fused QKV of Falcon), which have no
 * one-to-one partner.
 */
#include "formats/names.h"

#include <string.h>

struct rename {
	const char *hf;		/* '#' is a layer number */
	const char *gguf;
	unsigned flags;
};

static const struct rename table[] = {
	/* Hugging Face llama family (llama, mistral, qwen2/3, phi-3...) */
	{ "model.embed_tokens", "token_embd", 0 },
	{ "lm_head", "output", 0 },
	{ "model.norm", "output_norm", 0 },
	{ "model.layers.#.input_layernorm", "blk.#.attn_norm", 0 },
	{ "model.layers.#.self_attn.q_proj", "blk.#.attn_q",
	  NAMES_PERMUTED_Q },
	{ "model.layers.#.self_attn.k_proj", "blk.#.attn_k",
	  NAMES_PERMUTED_K },
	{ "model.layers.#.self_attn.v_proj", "blk.#.attn_v", 0 },
	{ "model.layers.#.self_attn.o_proj", "blk.#.attn_output", 0 },
	{ "model.layers.#.self_attn.qkv_proj", "blk.#.attn_qkv", 0 },
	{ "model.layers.#.self_attn.q_norm", "blk.#.attn_q_norm", 0 },
	{ "model.layers.#.self_attn.k_norm", "blk.#.attn_k_norm", 0 },
	{ "model.layers.#.post_attention_layernorm", "blk.#.ffn_norm", 0 },
	{ "model.layers.#.post_feedforward_layernorm", "blk.#.post_ffw_norm",
	  0 },
	{ "model.layers.#.mlp.gate_proj", "blk.#.ffn_gate", 0 },
	{ "model.layers.#.mlp.up_proj", "blk.#.ffn_up", 0 },
	{ "model.layers.#.mlp.down_proj", "blk.#.ffn_down", 0 },
	{ "model.layers.#.mlp.gate_up_proj", "blk.#.ffn_up", 0 },
	{ "model.layers.#.mlp.gate", "blk.#.ffn_gate_inp", 0 },
	{ "model.layers.#.block_sparse_moe.gate", "blk.#.ffn_gate_inp", 0 },

	/* Meta's original llama checkpoints (consolidated.*.pth) */
	{ "tok_embeddings", "token_embd", 0 },
	{ "norm", "output_norm", 0 },
	{ "layers.#.attention_norm", "blk.#.attn_norm", 0 },
	{ "layers.#.attention.wq", "blk.#.attn_q", 0 },
	{ "layers.#.attention.wk", "blk.#.attn_k", 0 },
	{ "layers.#.attention.wv", "blk.#.attn_v", 0 },
	{ "layers.#.attention.wo", "blk.#.attn_output", 0 },
	{ "layers.#.ffn_norm", "blk.#.ffn_norm", 0 },
	{ "layers.#.feed_forward.w1", "blk.#.ffn_gate", 0 },
	{ "layers.#.feed_forward.w3", "blk.#.ffn_up", 0 },
	{ "layers.#.feed_forward.w2", "blk.#.ffn_down", 0 },

	/* GPT-2 (Conv1D weights are [in, out]) */
	{ "transformer.wte", "token_embd", 0 },
	{ "transformer.wpe", "position_embd", 0 },
	{ "transformer.ln_f", "output_norm", 0 },
	{ "transformer.h.#.ln_1", "blk.#.attn_norm", 0 },
	{ "transformer.h.#.attn.c_attn", "blk.#.attn_qkv", NAMES_TRANSPOSED },
	{ "transformer.h.#.attn.c_proj", "blk.#.attn_output",
	  NAMES_TRANSPOSED },
	{ "transformer.h.#.ln_2", "blk.#.ffn_norm", 0 },
	{ "transformer.h.#.mlp.c_fc", "blk.#.ffn_up", NAMES_TRANSPOSED },
	{ "transformer.h.#.mlp.c_proj", "blk.#.ffn_down", NAMES_TRANSPOSED },
	/* ... and as GPT2Model saves them (the hub's gpt2 checkpoints) */
	{ "wte", "token_embd", 0 },
	{ "wpe", "position_embd", 0 },
	{ "ln_f", "output_norm", 0 },
	{ "h.#.ln_1", "blk.#.attn_norm", 0 },
	{ "h.#.attn.c_attn", "blk.#.attn_qkv", NAMES_TRANSPOSED },
	{ "h.#.attn.c_proj", "blk.#.attn_output", NAMES_TRANSPOSED },
	{ "h.#.ln_2", "blk.#.ffn_norm", 0 },
	{ "h.#.mlp.c_fc", "blk.#.ffn_up", NAMES_TRANSPOSED },
	{ "h.#.mlp.c_proj", "blk.#.ffn_down", NAMES_TRANSPOSED },

	/* GPT-NeoX (pythia) */
	{ "gpt_neox.embed_in", "token_embd", 0 },
	{ "embed_out", "output", 0 },
	{ "gpt_neox.final_layer_norm", "output_norm", 0 },
	{ "gpt_neox.layers.#.input_layernorm", "blk.#.attn_norm", 0 },
	{ "gpt_neox.layers.#.attention.query_key_value", "blk.#.attn_qkv", 0 },
	{ "gpt_neox.layers.#.attention.dense", "blk.#.attn_output", 0 },
	{ "gpt_neox.layers.#.post_attention_layernorm", "blk.#.ffn_norm", 0 },
	{ "gpt_neox.layers.#.mlp.dense_h_to_4h", "blk.#.ffn_up", 0 },
	{ "gpt_neox.layers.#.mlp.dense_4h_to_h", "blk.#.ffn_down", 0 },

	/* BERT */
	{ "embeddings.word_embeddings", "token_embd", 0 },
	{ "embeddings.position_embeddings", "position_embd", 0 },
	{ "embeddings.token_type_embeddings", "token_types", 0 },
	{ "embeddings.LayerNorm", "token_embd_norm", 0 },
	{ "encoder.layer.#.attention.self.query", "blk.#.attn_q", 0 },
	{ "encoder.layer.#.attention.self.key", "blk.#.attn_k", 0 },
	{ "encoder.layer.#.attention.self.value", "blk.#.attn_v", 0 },
	{ "encoder.layer.#.attention.output.dense", "blk.#.attn_output", 0 },
	{ "encoder.layer.#.attention.output.LayerNorm",
	  "blk.#.attn_output_norm", 0 },
	{ "encoder.layer.#.intermediate.dense", "blk.#.ffn_up", 0 },
	{ "encoder.layer.#.output.dense", "blk.#.ffn_down", 0 },
	{ "encoder.layer.#.output.LayerNorm", "blk.#.layer_output_norm", 0 },
};

#define NROWS (sizeof(table) / sizeof(table[0]))

/* A layer number longer than this is not one (and would not fit). */
#define MAX_DIGITS 9

/*
 * Match name against pattern: '#' takes 1 to MAX_DIGITS digits, and the
 * rest of the name after the pattern must be empty or start with '.'.
 * On a match, *num and *numlen give the digits (NULL, 0 without '#') and
 * *rest the remainder.
 */
static int match(const char *pat, const char *name, const char **num,
		 size_t *numlen, const char **rest)
{
	*num = NULL;
	*numlen = 0;
	for (; *pat; pat++) {
		if (*pat == '#') {
			size_t k = 0;

			while (name[k] >= '0' && name[k] <= '9')
				k++;
			if (k == 0 || k > MAX_DIGITS)
				return 0;
			*num = name;
			*numlen = k;
			name += k;
			continue;
		}
		if (*name != *pat)
			return 0;
		name++;
	}
	if (*name && *name != '.')
		return 0;
	*rest = name;
	return 1;
}

/* pat with '#' replaced by the digits, then rest, into out. */
static int build(const char *pat, const char *num, size_t numlen,
		 const char *rest, char *out, size_t n)
{
	size_t o = 0, len;

	for (; *pat; pat++) {
		if (*pat == '#') {
			if (numlen >= n - o)
				goto small;
			memcpy(out + o, num, numlen);
			o += numlen;
			continue;
		}
		if (o + 1 >= n)
			goto small;
		out[o++] = *pat;
	}
	len = strlen(rest);
	if (len >= n - o)
		goto small;
	memcpy(out + o, rest, len + 1);
	return 0;
small:
	out[0] = '\0';
	return -1;
}

int names_to_gguf(const char *name, char *out, size_t n, unsigned *flags)
{
	if (!n)
		return -1;
	out[0] = '\0';
	for (size_t i = 0; i < NROWS; i++) {
		const char *num, *rest;
		size_t numlen;

		if (!match(table[i].hf, name, &num, &numlen, &rest))
			continue;
		if (flags)
			*flags = table[i].flags;
		return build(table[i].gguf, num, numlen, rest, out, n);
	}
	return -1;
}

int names_to_hf(const char *gguf, char *out, size_t n)
{
	if (!n)
		return -1;
	out[0] = '\0';
	for (size_t i = 0; i < NROWS; i++) {
		const char *num, *rest;
		size_t numlen;

		if (!match(table[i].gguf, gguf, &num, &numlen, &rest))
			continue;
		return build(table[i].hf, num, numlen, rest, out, n);
	}
	return -1;
}

/*
 * GGUF architectures whose converter class permutes q and k (LlamaModel
 * and the classes built on it, and the others that call its permute).
 * Others (qwen2, phi3, gemma...) keep the Hugging Face row order.
 */
static const char *const permuting_archs[] = {
	"llama", "deci", "granite", "granitemoe", "minicpm", "smollm3",
	"arcee",
};

int names_arch_permutes(const char *arch)
{
	if (!arch)
		return 0;
	for (size_t i = 0; i < sizeof(permuting_archs) /
			       sizeof(permuting_archs[0]); i++)
		if (strcmp(arch, permuting_archs[i]) == 0)
			return 1;
	return 0;
}

uint64_t names_permuted_row(uint64_t r, uint64_t rows, uint64_t heads)
{
	uint64_t per_head = rows / heads, half = per_head / 2;
	uint64_t h = r / per_head, in = r % per_head;
	uint64_t j = in / half, i = in % half;

	/* Hugging Face row h * per_head + j * half + i sits at GGUF row
	 * h * per_head + 2 * i + j. */
	return h * per_head + 2 * i + j;
}
