/*
 * replay_main: run a libFuzzer harness without libFuzzer (dropbear's fuzzstandalone,
 * SQLite's fuzzcheck). Every regular file under each argument (a directory, walked
 * recursively, or a single file) goes through LLVMFuzzerTestOneInput once, in sorted
 * order, and so does the empty input. Built with gcc and with the sanitizers by
 * `make fuzz-regress`, so the corpus is a regression suite on every build.
 *
 *	build/release/fuzz-regress/fuzz_x tests/fuzz/corpus/fuzz_x
 *	-> "fuzz_x: N inputs ok"; a crash aborts with the sanitizer's report.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"
#include "tests/fuzz/fuzz.h"

/* Harnesses without an initializer leave this NULL. */
#pragma weak LLVMFuzzerInitialize

static size_t replay_count;

static int
replay_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
replay_file(const char *path)
{
	char *data;
	size_t len;

	if (util_read_file(path, SIZE_MAX, &data, &len) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	free(data);
	replay_count++;
	return 0;
}

static int
replay_path(const char *path)
{
	struct dirent *de;
	struct stat st;
	char **names = NULL, **nn, *child;
	size_t n = 0, i;
	DIR *dir;
	int rc = 0;

	if (stat(path, &st) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return S_ISREG(st.st_mode) ? replay_file(path) : 0;
	if ((dir = opendir(path)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;	/* ".", "..", and libFuzzer's hidden lock files */
		if ((nn = realloc(names, (n + 1) * sizeof(*names))) == NULL ||
		    (nn[n] = strdup(de->d_name)) == NULL) {
			fprintf(stderr, "replay: out of memory\n");
			names = nn != NULL ? nn : names;
			rc = -1;
			break;
		}
		names = nn;
		n++;
	}
	closedir(dir);
	if (n > 0)
		qsort(names, n, sizeof(*names), replay_cmp);
	for (i = 0; i < n; i++) {
		if (rc == 0) {
			if ((child = malloc(strlen(path) + strlen(names[i]) + 2)) == NULL)
				rc = -1;
			else {
				sprintf(child, "%s/%s", path, names[i]);
				if (replay_path(child) == -1)
					rc = -1;
				free(child);
			}
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	static const uint8_t empty[1];
	int i, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s corpus-dir-or-file ...\n", prog);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	LLVMFuzzerTestOneInput(empty, 0);
	replay_count++;
	for (i = 1; i < argc; i++)
		if (replay_path(argv[i]) == -1)
			rc = 1;
	if (rc != 0) {
		fprintf(stderr, "%s: replay failed\n", prog);
		return 1;
	}
	printf("%s: %zu inputs ok\n", prog, replay_count);
	return 0;
}
