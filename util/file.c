/* util/file.c — whole-file reads, atomic writes, directories. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int seal_open_regular(const char *path, struct stat *st, seal_error *e) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return seal_errorf(e, "%s: cannot open: %s", path, strerror(errno));
  if (fstat(fd, st) != 0) {
    seal_errorf(e, "%s: cannot stat: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  if (!S_ISREG(st->st_mode)) {
    seal_errorf(e, "%s: not a regular file (%s)", path,
                S_ISDIR(st->st_mode)    ? "a directory"
                : S_ISFIFO(st->st_mode) ? "a FIFO"
                : S_ISCHR(st->st_mode)  ? "a character device"
                : S_ISBLK(st->st_mode)  ? "a block device"
                : S_ISSOCK(st->st_mode) ? "a socket"
                                        : "not a file");
    close(fd);
    return -1;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

/* Reads until end of file or until more than max bytes have come (a file that
 * grows while it is read is bounded too). */
static int read_capped(int fd, const char *name, size_t max, size_t hint, seal_buf *b,
                       seal_error *e) {
  /* Room for one byte past the size given, so the end of file is seen without
   * growing, and one for the NUL. */
  b->cap = (hint < max ? hint : max) + 2;
  b->data = seal_malloc(b->cap);
  b->len = 0;
  for (;;) {
    if (b->len == b->cap - 1) {
      if (b->len > max) break;
      b->cap = b->cap > max / 2 ? max + 2 : b->cap * 2;
      b->data = seal_realloc(b->data, b->cap);
    }
    ssize_t r = read(fd, b->data + b->len, b->cap - 1 - b->len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return seal_errorf(e, "%s: read error: %s", name, strerror(errno));
    if (r == 0) break;
    b->len += (size_t)r;
  }
  if (b->len > max)
    return seal_errorf(e, "%s: larger than the %zu-byte limit for files read whole", name, max);
  b->data[b->len] = '\0';
  return 0;
}

char *seal_read_file_max(const char *path, size_t max, size_t *size, seal_error *e) {
  struct stat st;
  int fd = seal_open_regular(path, &st, e);
  if (fd < 0) return NULL;
  seal_buf b = {0};
  int rc =
      (uint64_t)st.st_size > max
          ? seal_errorf(e, "%s: %lld bytes, larger than the %zu-byte limit for files read whole",
                        path, (long long)st.st_size, max)
          : read_capped(fd, path, max, (size_t)st.st_size, &b, e);
  close(fd);
  if (rc != 0) {
    seal_buf_free(&b);
    return NULL;
  }
  if (size) *size = b.len;
  return b.data;
}

char *seal_read_file(const char *path, size_t *size, seal_error *e) {
  return seal_read_file_max(path, SEAL_READ_FILE_CAP, size, e);
}

char *seal_read_stream(FILE *f, const char *name, size_t max, size_t *size, seal_error *e) {
  seal_buf b = {0};
  if (read_capped(fileno(f), name, max, 1 << 16, &b, e) != 0) {
    seal_buf_free(&b);
    return NULL;
  }
  if (size) *size = b.len;
  return b.data;
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
