/*
 * tests/fuzz/fuzz_index.c - libFuzzer harness:
 * model.safetensors.index.json in a model folder with two shards, opened
 * as `qscope list FOLDER`.
 * Seeds in tests/fuzz/corpus/index/, tokens in tests/fuzz/index.dict
 * (see tests/fuzz/harness.h and tests/fuzz/fuzz.mk).
 */
#define FUZZ_LAYOUT FUZZ_INDEX
#include "tests/fuzz/harness.h"
