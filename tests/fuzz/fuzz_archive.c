/*
 * tests/fuzz/fuzz_archive.c - libFuzzer harness:
 * tar, .tar.gz, .tar.zst, .gz, .zst, .xz and .bz2 files through
 * libarchive and zstd.
 * Seeds in tests/fuzz/corpus/archive/, tokens in tests/fuzz/archive.dict
 * (see tests/fuzz/harness.h and tests/fuzz/fuzz.mk).
 */
#define FUZZ_LAYOUT FUZZ_FILE
#include "tests/fuzz/harness.h"
