/*
 * tests/fuzz/fuzz_npy.c - libFuzzer harness:
 * a .npy array (and .npz zips of them).
 * Seeds in tests/fuzz/corpus/npy/, tokens in tests/fuzz/npy.dict
 * (see tests/fuzz/harness.h and tests/fuzz/fuzz.mk).
 */
#define FUZZ_LAYOUT FUZZ_FILE
#include "tests/fuzz/harness.h"
