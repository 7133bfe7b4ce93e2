/*
 * standalone.c - replay driver for fuzz targets without libFuzzer.
 *
 * Usage: fuzz_<name> FILE...  Each file is read whole and passed once to
 * LLVMFuzzerTestOneInput. A crash or sanitizer report fails the run;
 * an unreadable file is an error (exit 1).
 */
#include "tests/fuzz/fuzz.h"

#include <stdio.h>
#include <stdlib.h>

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		perror(path);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			uint8_t *p;

			cap = cap ? cap * 2 : 4096;
			p = realloc(data, cap);
			if (!p) {
				free(data);
				fclose(f);
				return -1;
			}
			data = p;
		}
		n = fread(data + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	int i, ran = 0;

	for (i = 1; i < argc; i++) {
		if (run_file(argv[i]) < 0)
			return 1;
		ran++;
	}
	printf("%s: %d inputs replayed\n", argv[0], ran);
	return 0;
}
