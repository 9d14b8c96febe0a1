/*
 * tests/fuzz/fuzz_gguf.c - libFuzzer harness:
 * a GGUF file (v1-v3, every block type).
 * Seeds in tests/fuzz/corpus/gguf/, tokens in tests/fuzz/gguf.dict
 * (see tests/fuzz/harness.h and tests/fuzz/fuzz.mk).
 */
#define FUZZ_LAYOUT FUZZ_FILE
#include "tests/fuzz/harness.h"
