/*
 * fuzz.h - the libFuzzer entry point every fuzz target defines.
 *
 * With --enable-fuzzers the targets link against libFuzzer; otherwise
 * standalone.c supplies main(), which runs the target over every file
 * named on the command line (the committed corpora), so `make check`
 * replays them under the same sanitizers as the unit tests.
 */
#ifndef VARVE_TESTS_FUZZ_H
#define VARVE_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
