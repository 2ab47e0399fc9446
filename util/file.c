/* util/file.c — whole-file reads, atomic writes, directories. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

char *seal_read_file(const char *path, size_t *size, seal_error *e) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    seal_errorf(e, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  seal_buf b = {0};
  char chunk[1 << 16];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) seal_buf_append(&b, chunk, n);
  bool failed = ferror(f);
  fclose(f);
  if (failed) {
    seal_buf_free(&b);
    seal_errorf(e, "%s: read error", path);
    return NULL;
  }
  if (size) *size = b.len;
  return seal_buf_take(&b);
}

static int write_all(int fd, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int seal_write_file_atomic(const char *path, const void *data, size_t n, bool keep_prev,
                           seal_error *e) {
  char *tmp = seal_asprintf("%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    seal_errorf(e, "%s: cannot create: %s", tmp, strerror(errno));
    free(tmp);
    return -1;
  }
  if (write_all(fd, data, n) != 0 || fsync(fd) != 0) {
    seal_errorf(e, "%s: write failed: %s", tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    free(tmp);
    return -1;
  }
  close(fd);
  if (keep_prev && seal_file_exists(path)) {
    char *prev = seal_asprintf("%s.prev", path);
    if (rename(path, prev) != 0) seal_warn("cannot keep %s as %s: %s", path, prev, strerror(errno));
    free(prev);
  }
  int rc = rename(tmp, path);
  if (rc != 0) seal_errorf(e, "%s: cannot rename into place: %s", path, strerror(errno));
  free(tmp);
  return rc == 0 ? 0 : -1;
}

int seal_mkdirs(const char *path, seal_error *e) {
  char *p = seal_strdup(path);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
      seal_errorf(e, "%s: cannot create directory: %s", p, strerror(errno));
      free(p);
      return -1;
    }
    *s = '/';
  }
  int rc = 0;
  if (mkdir(p, 0755) != 0 && errno != EEXIST)
    rc = seal_errorf(e, "%s: cannot create directory: %s", p, strerror(errno));
  free(p);
  return rc;
}

bool seal_file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

char *seal_path_join(const char *a, const char *b) {
  size_t la = strlen(a);
  if (la > 0 && a[la - 1] == '/') return seal_asprintf("%s%s", a, b);
  return seal_asprintf("%s/%s", a, b);
}
