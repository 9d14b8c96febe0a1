/*
 * tests/fuzz/fuzz_zip.c - libFuzzer harness:
 * zip files: PyTorch zips, npz and plain zips of checkpoints (members
 * stored in place or deflated).
 * Seeds in tests/fuzz/corpus/zip/, tokens in tests/fuzz/zip.dict
 * (see tests/fuzz/harness.h and tests/fuzz/fuzz.mk).
 */
#define FUZZ_LAYOUT FUZZ_FILE
#include "tests/fuzz/harness.h"
