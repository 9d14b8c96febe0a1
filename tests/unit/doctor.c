/*
 * Unit tests for the dtype doctor (quant/doctor.c, views/doctor.c):
 * generated values whose cast counts are known exactly, 16-bit tensors
 * saved under the other 16-bit header (both ways), clean tensors that must
 * raise nothing, and declared dtypes (config.json, GGUF general.file_type)
 * that disagree with the stored ones.
 */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "formats/model.h"
#include "quant/doctor.h"
#include "quant/dtype.h"
#include "tests/check.h"
#include "views/doctor.h"

/* A small deterministic normal generator (xorshift + Box-Muller). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform01(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

/* N(0, sd^2), drawn again when below FP16's smallest subnormal, as
 * demo/mkdemo.c does, so that clean tensors are clean. */
static float normal(double sd)
{
	for (;;) {
		double z = sqrt(-2 * log(uniform01())) *
			   cos(6.283185307179586 * uniform01()) * sd;

		if (fabs(z) >= 0x1.0p-24)
			return (float)z;
	}
}

#define N 65536

static struct doctor_acc acc;	/* big (two 16 KiB tables): not on the stack */
static float vals[N];

static uint16_t codes[N];
static int codes_checked;	/* how many times check_codes() compared */

static int codes_read(void *ctx, uint64_t first, size_t n, codes16_fn *fn,
		      void *arg)
{
	const uint16_t *c = ctx;

	fn(arg, c + first, n);
	return 0;
}

static int same_sum(double a, double b)
{
	return fabs(a - b) <= 1e-12 * fabs(b);
}

/* doctor_tensor16() over the codes of x: the same counts as adding the
 * values, the same sums but for rounding. */
static void check_codes(const struct doctor_acc *want, enum dtype stored,
			enum doctor_cast c, const float *x, size_t n)
{
	static struct doctor_acc got;
	struct compute_ctl ctl = { 2, NULL, NULL, NULL };

	for (size_t i = 0; i < n; i++) {
		float back;

		codes[i] = stored == DT_BF16 ? f32_to_bf16(x[i]) :
					       f32_to_f16(x[i]);
		back = stored == DT_BF16 ? bf16_to_f32(codes[i]) :
					   f16_to_f32(codes[i]);
		if (memcmp(&back, &x[i], sizeof(back)) && !isnan(x[i]))
			return;	/* not values of that dtype: nothing to say */
	}
	CHECK_EQ_I(doctor_tensor16(codes_read, codes, n, stored, c, &ctl,
				   &got), 0);
	codes_checked++;
	check_report(__FILE__, __LINE__,
		     got.count == want->count && got.nan == want->nan &&
		     got.inf == want->inf && got.nonzero == want->nonzero &&
		     got.overflow == want->overflow &&
		     got.flushed == want->flushed &&
		     got.subnormal == want->subnormal &&
		     got.absmax == want->absmax &&
		     same_sum(got.sxx, want->sxx) &&
		     same_sum(got.see, want->see) &&
		     memcmp(&got.as_f16, &want->as_f16, sizeof(got.as_f16)) == 0 &&
		     memcmp(&got.as_bf16, &want->as_bf16,
			    sizeof(got.as_bf16)) == 0,
		     "%s, cast %s: doctor_tensor16 differs from doctor_acc_add",
		     dtype_get(stored)->name, doctor_cast_name(c));
}

static struct doctor_acc *measure(enum dtype stored, enum doctor_cast c,
				  const float *x, size_t n)
{
	doctor_acc_init(&acc);
	/* in two pieces, merged, as threads do */
	doctor_acc_add(&acc, stored, c, x, n / 2);
	{
		static struct doctor_acc b;

		doctor_acc_init(&b);
		doctor_acc_add(&b, stored, c, x + n / 2, n - n / 2);
		doctor_acc_merge(&acc, &b);
	}
	if ((stored == DT_F16 || stored == DT_BF16) && n <= N)
		check_codes(&acc, stored, c, x, n);
	return &acc;
}

TEST(doctor_cast_counts_exact)
{
	/* BF16 values around FP16's limits, 4 of each */
	static const float specials[] = {
		65280.0f,		/* BF16 below 65504: exact in F16 */
		65536.0f,		/* what 65504 becomes in BF16: inf */
		-65536.0f,
		1e5f, 3e38f,		/* inf */
		0x1.0p-25f,		/* tie, to even: flushed */
		-0x1.0p-25f,
		0x1.02p-25f,		/* next BF16 above: 2^-24, subnormal */
		0x1.0p-24f,		/* smallest subnormal */
		0x1.0p-14f,		/* smallest normal: fine */
		1e-30f,			/* flushed */
		0.0f, -0.0f,		/* zeros are no loss */
	};
	size_t ns = sizeof(specials) / sizeof(specials[0]), n = 0;
	struct doctor_acc *a;

	for (size_t i = 0; i < 4096; i++)
		vals[n++] = bf16_to_f32(f32_to_bf16(normal(0.02)));
	for (size_t i = 0; i < ns; i++)
		vals[n++] = bf16_to_f32(f32_to_bf16(specials[i]));
	vals[n++] = NAN;
	vals[n++] = INFINITY;
	a = measure(DT_BF16, DOCTOR_CAST_F16, vals, n);
	CHECK_EQ_U(a->nan, 1);
	CHECK_EQ_U(a->inf, 1);
	CHECK_EQ_U(a->overflow, 4);
	CHECK_EQ_U(a->flushed, 3);
	/* 2 planted + N(0, 0.02)'s draws below 2^-14: counted by a plain loop */
	{
		uint64_t sub = 2;

		for (size_t i = 0; i < 4096; i++)
			if (fabsf(vals[i]) < 0x1.0p-14f)
				sub++;
		CHECK_EQ_U(a->subnormal, sub);
	}
	CHECK(doctor_verdict(a, DOCTOR_CAST_F16) == DOCTOR_BREAKS);
	CHECK(a->absmax == 3e38f || a->absmax == bf16_to_f32(f32_to_bf16(3e38f)));

	/* F32: 65504 and 65519.99 stay finite, 65520 is a tie that goes to
	 * inf (round to nearest even) */
	n = 0;
	vals[n++] = 65504.0f;
	vals[n++] = 65519.99f;
	vals[n++] = -65519.99f;
	vals[n++] = 65520.0f;
	vals[n++] = -65520.0f;
	vals[n++] = 0x1.0p-25f;		/* flushed */
	vals[n++] = 0x1.000002p-25f;	/* just above: 2^-24 */
	a = measure(DT_F32, DOCTOR_CAST_F16, vals, n);
	CHECK_EQ_U(a->overflow, 2);
	CHECK_EQ_U(a->flushed, 1);
	CHECK_EQ_U(a->subnormal, 1);
	CHECK(doctor_verdict(a, DOCTOR_CAST_F16) == DOCTOR_BREAKS);

	/* FP8 E4M3 without scaling: 448 fits, 480 becomes NaN */
	n = 0;
	vals[n++] = 448.0f;
	vals[n++] = 480.0f;
	vals[n++] = -1000.0f;
	vals[n++] = 0x1.0p-10f;		/* tie to 0 */
	vals[n++] = 0x1.0p-9f;		/* smallest subnormal */
	a = measure(DT_F32, DOCTOR_CAST_E4M3, vals, n);
	CHECK_EQ_U(a->overflow, 2);
	CHECK_EQ_U(a->flushed, 1);
	CHECK_EQ_U(a->subnormal, 1);
}

TEST(doctor_headroom_and_lossy)
{
	size_t n = 0;
	struct doctor_acc *a;

	for (size_t i = 0; i < 4096; i++)
		vals[n++] = normal(0.02);
	vals[n++] = 40000.0f;
	a = measure(DT_F32, DOCTOR_CAST_F16, vals, n);
	CHECK_EQ_U(a->overflow, 0);
	CHECK(a->absmax >= DOCTOR_HEADROOM);
	/* one value flushed among thousands: lossy, not broken */
	vals[0] = 1e-9f;
	a = measure(DT_F32, DOCTOR_CAST_F16, vals, n);
	CHECK_EQ_U(a->flushed, 1);
	CHECK(doctor_verdict(a, DOCTOR_CAST_F16) == DOCTOR_LOSSY);
}

/* Gaussian weights stored as `truth`, saved under the other header:
 * returns what the doctor says the bytes are. */
static enum dtype mislabel_of(enum dtype truth, enum dtype header, double sd,
			      double mean, int positive, double *conf)
{
	for (size_t i = 0; i < N; i++) {
		double v = mean + normal(sd);
		uint16_t b;

		if (positive)
			v = fabs(v);
		b = truth == DT_BF16 ? f32_to_bf16((float)v) :
				       f32_to_f16((float)v);
		vals[i] = header == DT_BF16 ? bf16_to_f32(b) : f16_to_f32(b);
	}
	measure(header, header == DT_F16 ? DOCTOR_CAST_BF16 : DOCTOR_CAST_F16,
		vals, N);
	return doctor_mislabel(&acc, header, conf);
}

TEST(doctor_mislabel_both_ways)
{
	double conf;

	CHECK(mislabel_of(DT_BF16, DT_F16, 0.02, 0, 0, &conf) == DT_BF16);
	CHECK(conf > 0.9);
	CHECK(mislabel_of(DT_F16, DT_BF16, 0.02, 0, 0, &conf) == DT_F16);
	CHECK(conf > 0.9);
	/* other scales */
	CHECK(mislabel_of(DT_BF16, DT_F16, 0.5, 0, 0, &conf) == DT_BF16);
	CHECK(mislabel_of(DT_F16, DT_BF16, 0.002, 0, 0, &conf) == DT_F16);
}

TEST(doctor_clean_tensors_raise_nothing)
{
	static const double sds[] = { 0.002, 0.02, 0.2, 1.0 };
	double conf;

	for (size_t k = 0; k < sizeof(sds) / sizeof(sds[0]); k++) {
		CHECK(mislabel_of(DT_F16, DT_F16, sds[k], 0, 0, &conf) == DT_NONE);
		CHECK(doctor_verdict(&acc, DOCTOR_CAST_BF16) == DOCTOR_SAFE);
		CHECK(mislabel_of(DT_BF16, DT_BF16, sds[k], 0, 0, &conf) == DT_NONE);
		if (sds[k] >= 0.02)	/* smaller: many FP16 subnormals */
			CHECK(doctor_verdict(&acc, DOCTOR_CAST_F16) == DOCTOR_SAFE);
	}
	/* norms near 1, all positive, in both 16-bit types */
	CHECK(mislabel_of(DT_F16, DT_F16, 0.05, 1.0, 0, &conf) == DT_NONE);
	CHECK(mislabel_of(DT_BF16, DT_BF16, 0.05, 1.0, 0, &conf) == DT_NONE);
	/* all-positive magnitudes */
	CHECK(mislabel_of(DT_F16, DT_F16, 0.02, 0, 1, &conf) == DT_NONE);
	CHECK(mislabel_of(DT_BF16, DT_BF16, 0.02, 0, 1, &conf) == DT_NONE);
	/* F32 weights cast to F16: safe */
	for (size_t i = 0; i < N; i++)
		vals[i] = normal(0.02);
	measure(DT_F32, DOCTOR_CAST_F16, vals, N);
	CHECK(doctor_verdict(&acc, DOCTOR_CAST_F16) == DOCTOR_SAFE);
	CHECK(doctor_rel_err(&acc) < 1e-3);
	CHECK(doctor_mislabel(&acc, DT_F32, &conf) == DT_NONE);
	/* too few values: no call */
	measure(DT_F16, DOCTOR_CAST_BF16, vals, 100);
	CHECK(doctor_mislabel(&acc, DT_F16, &conf) == DT_NONE);
	/* the 16-bit tensors above were measured from their codes too */
	CHECK(codes_checked >= 12);
}

TEST(doctor_declared_dtype)
{
	uint64_t params[DT_COUNT] = { 0 };
	enum dtype main;

	CHECK(doctor_torch_dtype("float16") == DT_F16);
	CHECK(doctor_torch_dtype("torch.bfloat16") == DT_BF16);
	CHECK(doctor_torch_dtype("float32") == DT_F32);
	CHECK(doctor_torch_dtype("int8") == DT_NONE);
	CHECK(doctor_gguf_ftype(1) == DT_F16);
	CHECK(doctor_gguf_ftype(32) == DT_BF16);
	CHECK(doctor_gguf_ftype(15) == DT_Q4_K);
	CHECK(doctor_gguf_ftype(9999) == DT_NONE);

	params[DT_BF16] = 1000;
	CHECK(doctor_dtype_mismatch(DT_F16, params, &main) == 1);
	CHECK(main == DT_BF16);
	CHECK(doctor_dtype_mismatch(DT_BF16, params, &main) == 0);
	CHECK(doctor_dtype_mismatch(DT_NONE, params, &main) == 0);
	/* a Q4_K_M mix keeps some Q6_K matrices: still Q4_K */
	memset(params, 0, sizeof(params));
	params[DT_Q4_K] = 1000;
	params[DT_Q6_K] = 3000;
	CHECK(doctor_dtype_mismatch(doctor_gguf_ftype(15), params, &main) == 0);
	CHECK(doctor_dtype_mismatch(doctor_gguf_ftype(2), params, &main) == 1);
}

/* A model in memory with matrices of dtype d and one metadata entry. */
static void fake_model(struct model *m, enum dtype d, const char *key,
		       const char *type, json_t *value)
{
	struct err e = { "" };

	memset(m, 0, sizeof(*m));
	m->path = xstrdup("fake");
	for (int i = 0; i < 2; i++) {
		struct tensor *t = model_add_tensor(m, i ? "b.weight" : "a.weight",
						    &e);

		t->dtype = d;
		t->ndim = 2;
		t->shape[0] = 32;
		t->shape[1] = 32;
		t->params = 1024;
	}
	model_add_meta(m, key, type, value);
}

static const struct doctor_finding *find_kind(const struct doctor_report *r,
					      const char *kind)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].kind, kind) == 0)
			return &r->f[i];
	return NULL;
}

TEST(doctor_report_metadata)
{
	struct doctor_report r;
	struct model m;
	struct err e = { "" };
	const struct doctor_finding *f;

	/* GGUF: general.file_type 7 (Q8_0) over Q4_0 matrices */
	fake_model(&m, DT_Q4_0, "general.file_type", "u32", json_integer(7));
	CHECK(doctor_report_build(&m, -1, NULL, NULL, &r, &e) == 0);
	f = find_kind(&r, "config");
	CHECK(f != NULL);
	if (f) {
		CHECK(f->tensor == NULL);
		CHECK(f->severity == DOCTOR_WARNING);
		CHECK(strstr(f->detail, "Q4_0") != NULL);
	}
	CHECK_EQ_U(r.checked, 0);	/* block types are not cast-checked */
	doctor_report_release(&r);
	model_release(&m);

	/* ... and file_type 2 (Q4_0): nothing */
	fake_model(&m, DT_Q4_0, "general.file_type", "u32", json_integer(2));
	CHECK(doctor_report_build(&m, -1, NULL, NULL, &r, &e) == 0);
	CHECK_EQ_U(r.n, 0);
	doctor_report_release(&r);
	model_release(&m);
}

/* A folder: config.json says float16, the shard holds BF16. */
TEST(doctor_report_config_json)
{
	char dir[] = "/tmp/qscope-doctor-XXXXXX", path[600];
	static const char hdr[] =
		"{\"w\":{\"dtype\":\"BF16\",\"shape\":[64,64],"
		"\"data_offsets\":[0,8192]}}";
	uint64_t len = sizeof(hdr) - 1;
	struct doctor_report r;
	struct model m;
	struct err e = { "" };
	const struct doctor_finding *f;
	FILE *fp;

	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/model.safetensors", dir);
	fp = fopen(path, "wb");
	CHECK(fp != NULL);
	if (!fp)
		return;
	fwrite(&len, 8, 1, fp);		/* little-endian hosts only */
	fwrite(hdr, 1, len, fp);
	for (int i = 0; i < 4096; i++) {
		uint16_t b = f32_to_bf16(normal(0.02));

		fwrite(&b, 2, 1, fp);
	}
	fclose(fp);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	fp = fopen(path, "w");
	CHECK(fp != NULL);
	if (!fp)
		return;
	fputs("{\"model_type\": \"llama\", \"torch_dtype\": \"float16\"}\n", fp);
	fclose(fp);

	CHECK(model_open(&m, dir, &e) == 0);
	if (m.ntensors) {
		CHECK(doctor_report_build(&m, -1, NULL, NULL, &r, &e) == 0);
		f = find_kind(&r, "config");
		CHECK(f != NULL);
		if (f)
			CHECK(strstr(f->detail, "'float16'") != NULL);
		CHECK(find_kind(&r, "cast") == NULL);
		CHECK(find_kind(&r, "mislabel") == NULL);
		CHECK_EQ_U(r.errors, 0);
		CHECK_EQ_U(r.checked, 1);
		doctor_report_release(&r);
	}
	model_release(&m);
	unlink(path);
	snprintf(path, sizeof(path), "%s/model.safetensors", dir);
	unlink(path);
	rmdir(dir);
}
