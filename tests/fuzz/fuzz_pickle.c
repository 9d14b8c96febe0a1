/*
 * tests/fuzz/fuzz_pickle.c - libFuzzer harness:
 * the data.pkl of a PyTorch zip checkpoint through the restricted
 * unpickler, or a whole legacy (pre-1.6) torch file.
 * Seeds in tests/fuzz/corpus/pickle/, tokens in tests/fuzz/pickle.dict
 * (see tests/fuzz/harness.h and tests/fuzz/fuzz.mk).
 */
#define FUZZ_LAYOUT FUZZ_PICKLE
#include "tests/fuzz/harness.h"
