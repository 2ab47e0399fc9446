/* tests/fuzz/replay_main.c — a harness without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on each file named (directories: each file in
 * them, sorted), so the seeds and the saved crashes replay under any compiler,
 * deterministically. Exits non-zero when an argument cannot be read; a crash
 * or a sanitizer report in the parser ends the process as it would under
 * libFuzzer. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "util/util.h"

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int replay_file(const char *path) {
  seal_error e;
  size_t n;
  char *bytes = seal_read_file(path, &n, &e);
  if (!bytes) {
    fprintf(stderr, "replay: %s\n", e.msg);
    return -1;
  }
  if (getenv("SEAL_REPLAY_VERBOSE")) fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
  LLVMFuzzerTestOneInput((const uint8_t *)bytes, n);
  free(bytes);
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of a directory, sorted, hidden ones (.gitkeep) skipped. */
static int replay_dir(const char *dir, int *count) {
  DIR *d = opendir(dir);
  if (!d) return 0; /* an absent crash directory holds nothing */
  char **names = NULL;
  size_t n = 0;
  for (struct dirent *de; (de = readdir(d));) {
    if (de->d_name[0] == '.') continue;
    names = seal_realloc(names, (n + 1) * sizeof *names);
    names[n++] = seal_path_join(dir, de->d_name);
  }
  closedir(d);
  if (n > 1) qsort(names, n, sizeof *names, cmp_names);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
      rc |= replay_file(names[i]);
      ++*count;
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  int rc = 0, count = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
      rc |= replay_dir(argv[i], &count);
    } else {
      rc |= replay_file(argv[i]);
      count++;
    }
  }
  printf("replayed %d inputs\n", count);
  return rc ? EXIT_FAILURE : EXIT_SUCCESS;
}
