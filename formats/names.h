/*
 * formats/names.h - the renamings between Hugging Face and GGUF tensor
 * names, from one table.
 *
 * llama.cpp's converter (convert_hf_to_gguf.py, gguf-py's tensor_mapping)
 * stores "model.layers.3.self_attn.q_proj.weight" as "blk.3.attn_q.weight",
 * and so on.  Comparing a checkpoint with its GGUF (qscope diff) needs the
 * same table both ways.  A table row maps a name stem with '#' standing for
 * a layer number; whatever follows the stem (".weight", ".bias", nothing)
 * is carried over unchanged, and must start with '.'.  Besides the
 * Hugging Face llama family (llama, mistral, qwen, phi-3...), the table
 * knows Meta's original llama names, GPT-2, GPT-NeoX and BERT.
 *
 * Some renamings also change the layout of the values, which a flag says:
 *  - NAMES_PERMUTED_Q/K: Hugging Face llama checkpoints keep the rows of
 *    q_proj and k_proj in an order per attention head that llama.cpp's
 *    converter (and Meta's original layout) undo, for the architectures
 *    that use llama's rotary embedding (see names_permuted_row());
 *  - NAMES_TRANSPOSED: GPT-2's Conv1D weights are stored as [in, out] and
 *    the converter transposes them.
 *
 * Pure string code: no I/O, no allocation, no curses.
 */
#ifndef QSCOPE_FORMATS_NAMES_H
#define QSCOPE_FORMATS_NAMES_H

#include <stddef.h>
#include <stdint.h>

enum names_flags {
	NAMES_PERMUTED_Q = 1 << 0,	/* rows per head, head count of q */
	NAMES_PERMUTED_K = 1 << 1,	/* rows per head, head count of k/v */
	NAMES_TRANSPOSED = 1 << 2,	/* 2-D weight stored transposed */
};

/*
 * The GGUF name of a Hugging Face (or original llama, GPT-2, NeoX, BERT)
 * tensor name: "model.layers.3.mlp.up_proj.weight" -> "blk.3.ffn_up.weight".
 * Returns 0 with out filled (NUL-terminated) and *flags (if not NULL) set
 * to the row's enum names_flags; -1 when no row matches or out is too
 * small (out then holds "").
 */
int names_to_gguf(const char *name, char *out, size_t n, unsigned *flags);

/*
 * The Hugging Face llama-style name of a GGUF tensor name: the inverse of
 * names_to_gguf() for the first row of the table with that GGUF stem
 * ("blk.0.attn_q.weight" -> "model.layers.0.self_attn.q_proj.weight").
 * Returns 0 with out filled, or -1 as above.
 */
int names_to_hf(const char *gguf, char *out, size_t n);

/*
 * Whether llama.cpp's converter permutes the q/k rows of this GGUF
 * architecture ("llama", "granite", ...): 1 or 0.
 */
int names_arch_permutes(const char *arch);

/*
 * The row of the permuted (GGUF) tensor that holds row r of a q or k
 * weight in Hugging Face order, for a tensor of rows rows and heads heads (the
 * head count for q, the key/value head count for k).  The converter
 * reshapes the rows to [heads, 2, rows / heads / 2] and swaps the last two
 * axes, so within a head the two halves interleave.  The caller checks
 * that rows is a multiple of 2 * heads.
 */
uint64_t names_permuted_row(uint64_t r, uint64_t rows, uint64_t heads);

#endif
