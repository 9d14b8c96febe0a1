/*
 * tests/fuzz/fuzz_plan.c - libFuzzer harness:
 * a plan file, read with plan_read_file() as `qscope quantize --plan` and
 * `qscope plan` read one, then matched against tensor names, applied to
 * tensors of several shapes and dtypes, and written back out.
 * Seeds in tests/fuzz/corpus/plan/, tokens in tests/fuzz/plan.dict
 * (see tests/fuzz/fuzz.mk; it does not use harness.h: a plan is not a
 * model).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/planfile.h"
#include "quant/plan.h"

static char plan_path[300];

static void remove_input(void)
{
	unlink(plan_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	int fd;

	(void)argc;
	(void)argv;
	snprintf(plan_path, sizeof(plan_path), "%s/qscope-fuzz-plan-XXXXXX",
		 base);
	fd = mkstemp(plan_path);
	if (fd < 0) {
		perror(plan_path);
		abort();
	}
	close(fd);
	atexit(remove_input);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
		"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
		"model.layers.10.mlp.down_proj.weight", "model.norm.weight",
		"lm_head.weight", "", "a b#c", "blk.0.attn_k.weight",
	};
	static const struct {
		enum dtype dtype;
		int ndim;
		uint64_t dim[2];
	} shapes[] = {
		{ DT_F32, 2, { 4096, 4096 } }, { DT_BF16, 2, { 32000, 100 } },
		{ DT_F16, 1, { 4096, 0 } }, { DT_F32, 0, { 0, 0 } },
		{ DT_F32, 2, { 0, 256 } }, { DT_I32, 2, { 8, 256 } },
	};
	struct plan p;
	char msg[512];
	FILE *out;
	int fd;

	fd = open(plan_path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);

	plan_init(&p);
	if (plan_read_file(&p, plan_path, msg, sizeof(msg)) != 0) {
		if (!memchr(msg, '\0', sizeof(msg)) || !msg[0])
			abort();	/* a failure always says why */
		plan_release(&p);
		return 0;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		long r = plan_match(&p, names[i]);

		if (r < -1 || r >= (long)p.n)
			abort();
		for (size_t k = 0; k < sizeof(shapes) / sizeof(*shapes); k++) {
			struct scheme_shape sh;
			struct plan_choice c;
			uint64_t params = 1;

			memset(&sh, 0, sizeof(sh));
			sh.ndim = shapes[k].ndim;
			for (int d = 0; d < sh.ndim; d++) {
				sh.dim[d] = shapes[k].dim[d];
				params *= shapes[k].dim[d];
			}
			plan_choose(&p, names[i], shapes[k].dtype, &sh, params,
				    params * dtype_get(shapes[k].dtype)->block_bytes,
				    &c);
		}
	}
	out = fopen("/dev/null", "w");
	if (out) {
		plan_write(&p, out);
		fclose(out);
	}
	plan_release(&p);
	return 0;
}
