/*
 * tests/fuzz/fuzz_safetensors.c - libFuzzer harness:
 * a single safetensors file, opened as `qscope list FILE`.
 * Seeds in tests/fuzz/corpus/safetensors/, tokens in
 * tests/fuzz/safetensors.dict
 * (see tests/fuzz/harness.h and tests/fuzz/fuzz.mk).
 */
#define FUZZ_LAYOUT FUZZ_FILE
#include "tests/fuzz/harness.h"
