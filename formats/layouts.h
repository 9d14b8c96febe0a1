/*
 * formats/layouts.h - other tools' quantized layouts read as logical
 * tensors.
 *
 * A quantized checkpoint stores one weight as several tensors: packed
 * integers, scales, zero points, a code table.  After a checkpoint is opened
 * (model_open() calls layouts_apply()), every group of tensors that forms
 * a layout qscope knows is replaced, at the place of its first part, by ONE
 * logical tensor: the weight's own name ("...mlp.down_proj.weight"), its
 * logical shape, dtype F32 (what its values decode to), the layout in
 * t->scheme ("gptq-int4-g128"), bytes = the sum of its parts, and the part
 * tensors themselves in t->parts.  tensor_read_f32() decodes it like any
 * other tensor.  Layouts (../shared/reference/FORMATS.md 5.8-5.12):
 *
 *   compressed-tensors  weight_packed (int32, 2/4/8-bit) + weight_scale
 *                       [+ weight_zero_point] [+ weight_g_idx] + weight_shape;
 *                       weight (int8 or fp8) + weight_scale [+ zero point];
 *                       weight_packed (uint8, E2M1) + weight_scale (E8M0:
 *                       MXFP4; FP8 with weight_global_scale: NVFP4)
 *   bitsandbytes        weight (4-bit codes) + weight.absmax +
 *                       weight.quant_map [+ nested_absmax, nested_quant_map]
 *                       + weight.quant_state.bitsandbytes__nf4 / __fp4;
 *                       weight (int8) + SCB [+ weight_format]
 *   GPTQ, AWQ           qweight + qzeros + scales [+ g_idx]; bits and group
 *                       size from config.json's quantization_config, or
 *                       from the shapes when they say it unambiguously;
 *                       GPTQ in 2, 3, 4 or 8 bits (3-bit as AutoGPTQ packs
 *                       it: 32 codes in 3 words, two codes straddling a
 *                       word boundary)
 *
 * compressed-tensors' and bitsandbytes' part names are read for any weight
 * name X (X_packed, X_scale...; X.absmax, X.quant_state...), not only for
 * "....weight", since qscope's own safetensors writer uses them so.
 *
 * Anything unknown, incomplete or inconsistent (a shape that does not fit,
 * a dtype that is not the layout's) stays as the plain tensors it was:
 * recognising a layout never fails the open.  Every size and index from the
 * file is checked before it is used.  No I/O beyond the mapped bytes, no
 * curses.
 */
#ifndef QSCOPE_FORMATS_LAYOUTS_H
#define QSCOPE_FORMATS_LAYOUTS_H

#include "formats/model.h"

/*
 * Fold the parts of every recognised layout in m into logical tensors
 * (m->tensors is rebuilt; the caller rebuilds the name index and the
 * totals).  Returns the number of logical tensors made (0: m unchanged).
 * Reads only small parts (shapes, code tables, bitsandbytes' JSON) at open.
 */
size_t layouts_apply(struct model *m);

/*
 * Elements first..first+n of the logical tensor t (t->layout set), decoded
 * to float32 into out.  The range was checked by the caller.  Returns 0, or
 * -1 with e filled when the file's data is inconsistent (a group index past
 * the groups).  Safe to call from several threads at once.
 */
int layout_read_f32(const struct tensor *t, uint64_t first, size_t n,
		    float *out, struct err *e);

/* Free what a logical tensor owns (its parts, their names, its layout). */
void layout_release(struct tensor *t);

#endif
