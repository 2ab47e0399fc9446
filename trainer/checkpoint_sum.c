/* trainer/checkpoint_sum.c — the checkpoint's checksum header (see checkpoint_sum.h). */
#include "trainer/checkpoint_sum.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "seal-checkpoint-sum 1\n"
static const unsigned char hdf5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static uint64_t body_sum(const unsigned char *image, size_t size) {
  return seal_fnv1a(image + SEAL_CKPT_HEADER_SIZE, size - SEAL_CKPT_HEADER_SIZE, 0);
}

void seal_ckpt_sum_fill(unsigned char *image, size_t size) {
  SEAL_CHECK(size >= SEAL_CKPT_HEADER_SIZE, "checkpoint image of %zu bytes has no user block",
             size);
  char header[SEAL_CKPT_HEADER_SIZE] = {0};
  snprintf(header, sizeof header, MAGIC "fnv1a64 %016" PRIx64 "\nbytes %zu\n",
           body_sum(image, size), size - SEAL_CKPT_HEADER_SIZE);
  memcpy(image, header, sizeof header);
}

/* The header's two values; -1 when it is not exactly what seal_ckpt_sum_fill
 * writes (any other byte, zeros after the text included, is damage). */
static int parse_header(const unsigned char *image, uint64_t *sum, size_t *bytes) {
  char text[SEAL_CKPT_HEADER_SIZE + 1];
  memcpy(text, image, SEAL_CKPT_HEADER_SIZE);
  text[SEAL_CKPT_HEADER_SIZE] = '\0';
  size_t len = strlen(text);
  for (size_t i = len; i < SEAL_CKPT_HEADER_SIZE; i++)
    if (image[i] != 0) return -1;
  char hex[17], digits[21];
  int end = 0;
  if (sscanf(text, MAGIC "fnv1a64 %16[0-9a-f]\nbytes %20[0-9]\n%n", hex, digits, &end) != 2 ||
      (size_t)end != len || strlen(hex) != 16)
    return -1;
  char canonical[SEAL_CKPT_HEADER_SIZE];
  *sum = strtoull(hex, NULL, 16);
  errno = 0;
  unsigned long long b = strtoull(digits, NULL, 10);
  if (errno) return -1;
  *bytes = (size_t)b;
  /* Leading zeros or other spellings of the same numbers are not ours either. */
  snprintf(canonical, sizeof canonical, MAGIC "fnv1a64 %016" PRIx64 "\nbytes %zu\n", *sum, *bytes);
  return strcmp(canonical, text) == 0 ? 0 : -1;
}

static int check_header(const char *path, const unsigned char *image, size_t size, seal_error *e) {
  /* Checkpoints without the sum all have version 1 (the sum came first), which
   * this seal refuses anyway: refusing them here keeps damaged ones from libhdf5. */
  if (size >= sizeof hdf5_signature && !memcmp(image, hdf5_signature, sizeof hdf5_signature))
    return seal_errorf(e,
                       "%s: an HDF5 file without seal's checksum header: not a checkpoint this "
                       "seal reads (a checkpoint of a seal from before the checksum has version "
                       "1; inspect or finish that run with the seal that wrote it)",
                       path);
  if (size < SEAL_CKPT_HEADER_SIZE || memcmp(image, MAGIC, strlen(MAGIC)) != 0)
    return seal_errorf(e, "%s: not a seal checkpoint (no seal checksum header, no HDF5 signature)",
                       path);
  uint64_t sum;
  size_t bytes;
  if (parse_header(image, &sum, &bytes) != 0)
    return seal_errorf(e, "%s: corrupt checkpoint: its checksum header is damaged", path);
  size_t have = size - SEAL_CKPT_HEADER_SIZE;
  if (have < bytes)
    return seal_errorf(e, "%s: truncated checkpoint: %zu bytes after the header, %zu written", path,
                       have, bytes);
  if (have > bytes)
    return seal_errorf(e, "%s: corrupt checkpoint: %zu bytes after the header, %zu written", path,
                       have, bytes);
  uint64_t got = body_sum(image, size);
  if (got != sum)
    return seal_errorf(e,
                       "%s: corrupt checkpoint: checksum mismatch (fnv1a64 %016" PRIx64
                       " written, %016" PRIx64 " read)",
                       path, sum, got);
  return 0;
}

/* The whole regular file; O_NONBLOCK so that a FIFO cannot block the open. */
static int read_whole(const char *path, unsigned char **out, size_t *size, seal_error *e) {
  *out = NULL;
  *size = 0;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return seal_errorf(e, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return seal_errorf(e, "%s: not a regular file", path);
  }
  size_t n = (size_t)st.st_size;
  unsigned char *buf = seal_malloc(n ? n : 1);
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  int err = errno;
  close(fd);
  if (got != n) {
    free(buf);
    return seal_errorf(e, "%s: read error after %zu of %zu bytes: %s", path, got, n,
                       got < n ? strerror(err) : "the file changed");
  }
  *out = buf;
  *size = n;
  return 0;
}

int seal_ckpt_load(const char *path, unsigned char **image, size_t *size, seal_error *e) {
  if (read_whole(path, image, size, e)) return -1;
  if (check_header(path, *image, *size, e) == 0) return 0;
  free(*image);
  *image = NULL;
  *size = 0;
  return -1;
}

int seal_ckpt_verify_file(const char *path, seal_error *e) {
  unsigned char *image;
  size_t size;
  if (seal_ckpt_load(path, &image, &size, e)) return -1;
  free(image);
  return 0;
}

int seal_ckpt_reseal(const char *path, seal_error *e) {
  unsigned char *image;
  size_t size;
  if (read_whole(path, &image, &size, e)) return -1;
  int rc = 0;
  if (size < SEAL_CKPT_HEADER_SIZE || memcmp(image, MAGIC, strlen(MAGIC)) != 0) {
    rc = seal_errorf(e, "%s: not a summed seal checkpoint", path);
  } else {
    seal_ckpt_sum_fill(image, size);
    FILE *f = fopen(path, "r+b");
    if (!f || fwrite(image, 1, SEAL_CKPT_HEADER_SIZE, f) != SEAL_CKPT_HEADER_SIZE)
      rc = seal_errorf(e, "%s: cannot rewrite the header: %s", path, strerror(errno));
    if (f && fclose(f) != 0 && rc == 0)
      rc = seal_errorf(e, "%s: cannot rewrite the header: %s", path, strerror(errno));
  }
  free(image);
  return rc;
}
