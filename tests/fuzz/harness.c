/* tests/fuzz/harness.c — scratch files for the fuzz harnesses. */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

static char dir[256];

static void remove_dir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "fuzz: cannot remove %s\n", dir);
}

const char *fuzz_dir(void) {
  if (dir[0]) return dir;
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/seal-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    perror("fuzz: mkdtemp");
    abort();
  }
  atexit(remove_dir);
  return dir;
}

const char *fuzz_put(const char *name, const uint8_t *data, size_t size) {
  static char paths[8][512];
  static const char *names[8];
  int slot = 0;
  while (slot < 7 && names[slot] && strcmp(names[slot], name) != 0) slot++;
  names[slot] = name;
  snprintf(paths[slot], sizeof paths[slot], "%s/%s", fuzz_dir(), name);
  int fd = open(paths[slot], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    perror(paths[slot]);
    abort();
  }
  for (size_t done = 0; done < size;) {
    ssize_t w = write(fd, data + done, size - done);
    if (w <= 0) {
      perror(paths[slot]);
      abort();
    }
    done += (size_t)w;
  }
  close(fd);
  return paths[slot];
}

char *fuzz_text(const uint8_t *data, size_t size) {
  char *s = seal_malloc(size + 1);
  if (size) memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

const char *fuzz_source(const char *rel) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/%s", SEAL_SOURCE_DIR, rel);
  return path;
}

void fuzz_copy(const char *rel, const char *name) {
  seal_error e;
  size_t n;
  char *bytes = seal_read_file(fuzz_source(rel), &n, &e);
  if (!bytes) {
    fprintf(stderr, "fuzz: %s\n", e.msg);
    abort();
  }
  fuzz_put(name, (const uint8_t *)bytes, n);
  free(bytes);
}

void fuzz_quiet(void) { seal_log_set_level(SEAL_LOG_ERROR); }
