/*
 * quant/doctor.h - the dtype doctor: what a cast would do to a tensor's
 * values, whether a 16-bit tensor's bytes match the dtype its header
 * claims, and whether a model's declared dtype matches what it stores.
 *
 * Everything here is arithmetic over decoded values (float32, as
 * tensor_read_f32() gives them) and over strings and counts the caller took
 * from the metadata; no I/O, no curses, no struct model.  The values come
 * in chunks through doctor_acc_add(); accumulators of different chunks or
 * threads merge with doctor_acc_merge(); doctor_tensor() does all of it
 * over a reader callback on several threads (quant/compute.h).
 *
 * Checks and thresholds (the verdict of a cast):
 *  - overflow: a finite value that becomes +-inf (or NaN: FP8 E4M3 has no
 *    inf) after the cast; for F16 that is |x| >= 65520 under round to
 *    nearest even.  Any overflow: the cast BREAKS the tensor.
 *  - flushed: a non-zero finite value that becomes +-0 (for F16:
 *    0 < |x| <= 2^-25).  More than DOCTOR_FLUSH_BREAK of the non-zero
 *    values: BREAKS; fewer but some: LOSSY.
 *  - subnormal: a value that lands in the target's subnormal range and
 *    loses precision.  More than DOCTOR_SUBNORMAL_LOSSY of the non-zero
 *    values: LOSSY.
 *  - rel_err: ||cast(x) - x|| / ||x|| over pairs that stay finite.  Above
 *    the target's threshold (doctor_lossy_rel_err()): LOSSY.
 *  Otherwise the cast is SAFE and no finding is made.
 *  - headroom: a tensor whose finite absmax is within a factor of 2 of
 *    FP16's largest finite value (>= 32752) without overflowing is at risk
 *    (activations and fine-tunes grow): a warning.
 *  - mislabel: a 16-bit tensor's bit patterns decoded both as F16 and as
 *    BF16, each reading scored for plausibility as trained weights (see
 *    doctor_mislabel()); flagged only when the labelled reading is
 *    implausible and the other one plausible.
 */
#ifndef QSCOPE_QUANT_DOCTOR_H
#define QSCOPE_QUANT_DOCTOR_H

#include <stddef.h>
#include <stdint.h>

#include "quant/compute.h"
#include "quant/dtype.h"

/* Share of non-zero values flushed to zero above which a cast breaks. */
#define DOCTOR_FLUSH_BREAK	1e-3
/* Share of non-zero values landing in subnormals above which it is lossy. */
#define DOCTOR_SUBNORMAL_LOSSY	0.10
/* Half of FP16's largest finite value: absmax at or above is "headroom". */
#define DOCTOR_HEADROOM		32752.0
/* Fewest finite non-zero values a mislabel call is made on. */
#define DOCTOR_MISLABEL_MIN	256
/* Bins of log2|x| in a reading: 256 octaves in eighths. */
#define DOCTOR_OCT_BINS		2048

enum doctor_cast {
	DOCTOR_CAST_F16,
	DOCTOR_CAST_BF16,
	DOCTOR_CAST_E4M3,	/* FP8 E4M3FN, unscaled, PyTorch's cast */
	DOCTOR_CAST_E5M2,	/* FP8 E5M2, unscaled, PyTorch's cast */
	DOCTOR_CAST_COUNT
};

/* "f16", "bf16", "fp8-e4m3", "fp8-e5m2" */
const char *doctor_cast_name(enum doctor_cast c);
/* As a dtype name for messages: "F16", "BF16", "F8_E4M3", "F8_E5M2". */
const char *doctor_cast_dtype(enum doctor_cast c);
/* The cast named s; -1 if none. */
int doctor_cast_from_name(const char *s);
/* The dtype a cast produces (DT_F16, ...). */
enum dtype doctor_cast_target(enum doctor_cast c);
/* Relative error above which a cast to c is lossy. */
double doctor_lossy_rel_err(enum doctor_cast c);

/* Round x as a cast to c would, and back to float32 (PyTorch's
 * non-saturating FP8 casts). */
float doctor_cast_value(enum doctor_cast c, float x);

/* One reading of 16-bit patterns (as F16 or as BF16). */
struct doctor_reading {
	uint64_t nonfinite;	/* NaN or inf */
	uint64_t zero;
	uint64_t sane;		/* finite, 1e-6 <= |x| <= 1e3 */
	uint64_t positive;	/* finite, > 0 */
	uint64_t nz;		/* finite, != 0 */
	/* log2|x| of those in 1/8 octaves: the top 11 bits of |x|'s float32
	 * pattern (8 exponent bits, 3 mantissa bits) */
	uint64_t octs[DOCTOR_OCT_BINS];
};

/* What one tensor's values say; merge by adding. */
struct doctor_acc {
	uint64_t count;		/* every value seen */
	uint64_t nan, inf;	/* in the stored values */
	uint64_t nonzero;	/* finite, != 0 */
	uint64_t overflow, flushed, subnormal;
	double sxx, see;	/* sum x^2, sum (cast(x) - x)^2, finite pairs */
	double absmax;		/* finite */
	/* readings of the bit patterns; used only for F16 and BF16 */
	struct doctor_reading as_f16, as_bf16;
};

void doctor_acc_init(struct doctor_acc *a);
/*
 * Add n values of a tensor stored as `stored`, decoded to float32, for the
 * cast c.  When stored is DT_F16 or DT_BF16 the bit patterns are recovered
 * from the (exactly decoded) values and read both ways as well.
 */
void doctor_acc_add(struct doctor_acc *a, enum dtype stored,
		    enum doctor_cast c, const float *x, size_t n);
void doctor_acc_merge(struct doctor_acc *into, const struct doctor_acc *from);

enum doctor_verdict { DOCTOR_SAFE, DOCTOR_LOSSY, DOCTOR_BREAKS };

/* "safe", "lossy", "breaks" */
const char *doctor_verdict_name(enum doctor_verdict v);
/* The verdict of the cast the accumulator measured (thresholds above). */
enum doctor_verdict doctor_verdict(const struct doctor_acc *a,
				   enum doctor_cast c);
/* ||cast(x) - x|| / ||x||; 0 when there is nothing to compare. */
double doctor_rel_err(const struct doctor_acc *a);

/* How plausible a reading is as trained weights, 0..1: the share of sane
 * magnitudes, times factors for NaN/inf, exponent spread (the
 * interquartile range of log2|x|: 1.85 octaves for Gaussian weights, 2.3
 * Laplace, 1.6 uniform; reading the wrong type divides it or multiplies it
 * by about 8) and symmetry.  The quartiles make it robust: an eighth of a
 * tensor at 1e-9 (a dead head) does not move them much. */
double doctor_plausibility(const struct doctor_reading *r, uint64_t count);
/* Interquartile range of log2|x| over finite non-zero values, octaves. */
double doctor_spread(const struct doctor_reading *r);

/*
 * Whether a tensor stored as `stored` (DT_F16 or DT_BF16) holds the bits of
 * the other 16-bit type: returns that type (DT_BF16 or DT_F16) and sets
 * *confidence (0..1), or DT_NONE when the labelled reading is plausible,
 * the other is not clearly better, or there are too few values.
 */
enum dtype doctor_mislabel(const struct doctor_acc *a, enum dtype stored,
			   double *confidence);

/*
 * Read count values through rd (a chunk at a time, on the threads ctl
 * allows) into a.  0, 1 when cancelled, -1 when the reader failed.
 */
int doctor_tensor(chunk_read_fn *rd, void *ctx, uint64_t count,
		  enum dtype stored, enum doctor_cast c,
		  const struct compute_ctl *ctl, struct doctor_acc *a);

/*
 * doctor_tensor() of a tensor stored as DT_F16 or DT_BF16 (-1 for any
 * other), from its codes (quant/compute.h): several times faster, the
 * same counts; sxx and see summed in another order (the last bits may
 * differ).
 */
int doctor_tensor16(chunk_codes16_fn *rd16, void *ctx, uint64_t count,
		    enum dtype stored, enum doctor_cast c,
		    const struct compute_ctl *ctl, struct doctor_acc *a);

/* ---- metadata ---- */

/* The dtype a config.json torch_dtype ("float16", "torch.bfloat16", ...)
 * names; DT_NONE if it names none qscope knows. */
enum dtype doctor_torch_dtype(const char *s);

/* The main tensor dtype a GGUF general.file_type (llama_ftype) promises;
 * DT_NONE for unknown or ambiguous values. */
enum dtype doctor_gguf_ftype(long ftype);

/*
 * Whether declared (a dtype from config.json or general.file_type)
 * disagrees with what is stored: params[d] holds the parameters of the
 * matrices (tensors of 2 or more dimensions) of each dtype d.  Returns 1
 * when declared holds none of them; *main gets the dtype holding most.
 * 0 when it agrees or nothing can be said (no matrices, DT_NONE).
 */
int doctor_dtype_mismatch(enum dtype declared, const uint64_t params[DT_COUNT],
			  enum dtype *main);

#endif
