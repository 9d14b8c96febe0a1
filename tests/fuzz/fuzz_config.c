/*
 * tests/fuzz/fuzz_config.c - libFuzzer harness:
 * config.json beside a safetensors file in a model folder, opened as
 * `qscope list FOLDER`.
 * Seeds in tests/fuzz/corpus/config/, tokens in tests/fuzz/config.dict
 * (see tests/fuzz/harness.h and tests/fuzz/fuzz.mk).
 */
#define FUZZ_LAYOUT FUZZ_CONFIG
#include "tests/fuzz/harness.h"
