/* model/tensors.c — named float32 host tensors, and the safetensors format:
 * an 8-byte little-endian header length, a JSON header mapping names to
 * {dtype, shape, data_offsets}, then the raw data. The reader validates every
 * rule before touching data and converts tensor by tensor (F16/BF16 in place
 * inside the float buffer), so a multi-GB file needs no second copy in memory. */
#include "model/tensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/quant.h"

#define SAFETENSORS_HEADER_CAP (100u * 1000u * 1000u)

/* ---- tensor sets ------------------------------------------------------- */

int64_t seal_tensor_numel(const seal_host_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

seal_host_tensor *seal_tensors_add(seal_tensor_set *s, const char *name, int ndim,
                                   const int64_t *shape, float *data) {
  SEAL_CHECK(ndim >= 0 && ndim <= SEAL_MAX_DIMS, "tensor %s: %d dims (at most %d)", name, ndim,
             SEAL_MAX_DIMS);
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    s->items = seal_realloc(s->items, (size_t)s->cap * sizeof *s->items);
  }
  seal_host_tensor *t = &s->items[s->n++];
  memset(t, 0, sizeof *t);
  t->name = seal_strdup(name);
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
  t->data = data;
  return t;
}

seal_host_tensor *seal_tensors_find(const seal_tensor_set *s, const char *name) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->items[i].name, name) == 0) return &s->items[i];
  return NULL;
}

static void free_tensor(seal_host_tensor *t) {
  free(t->name);
  free(t->data);
}

bool seal_tensors_remove(seal_tensor_set *s, const char *name) {
  seal_host_tensor *t = seal_tensors_find(s, name);
  if (!t) return false;
  free_tensor(t);
  int i = (int)(t - s->items);
  memmove(&s->items[i], &s->items[i + 1], (size_t)(s->n - i - 1) * sizeof *s->items);
  s->n--;
  return true;
}

/* Frees the tensors added after the first `keep`, undoing a failed read. */
static void truncate_set(seal_tensor_set *s, int keep) {
  while (s->n > keep) free_tensor(&s->items[--s->n]);
}

void seal_tensors_free(seal_tensor_set *s) {
  truncate_set(s, 0);
  free(s->items);
  memset(s, 0, sizeof *s);
}

/* Exponent bits all ones: infinite or NaN. */
static bool not_finite(float x) {
  uint32_t b;
  memcpy(&b, &x, 4);
  return (b & 0x7f800000u) == 0x7f800000u;
}

static int64_t count_not_finite(const float *x, int64_t n) {
  int64_t bad = 0;
#pragma omp parallel for reduction(+ : bad) schedule(static) if (n > (1 << 18))
  for (int64_t i = 0; i < n; i++) bad += not_finite(x[i]);
  return bad;
}

int seal_tensors_check_finite(const seal_tensor_set *s, const char *origin, seal_error *e) {
  for (int i = 0; i < s->n; i++) {
    const seal_host_tensor *t = &s->items[i];
    int64_t n = seal_tensor_numel(t), bad = count_not_finite(t->data, n);
    if (bad == 0) continue;
    int64_t first = 0;
    while (!not_finite(t->data[first])) first++;
    return seal_errorf(e,
                       "%s: tensor '%s' holds %lld non-finite value%s (the first, %g, at element "
                       "%lld of %lld)",
                       origin, t->name, (long long)bad, bad == 1 ? "" : "s", (double)t->data[first],
                       (long long)first, (long long)n);
  }
  return 0;
}

/* ---- safetensors: reading ---------------------------------------------- */

typedef struct {
  const char *name; /* borrowed from the JSON header */
  int dtype_bytes;
  uint32_t ggml_type; /* conversion: SEAL_GGML_F32 / F16 / BF16 */
  int ndim;
  int64_t shape[SEAL_MAX_DIMS];
  int64_t numel;
  uint64_t begin, end; /* byte range within the data section */
} st_entry;

static int dtype_info(const char *dtype, int *bytes, uint32_t *type) {
  if (strcmp(dtype, "F32") == 0)
    *bytes = 4, *type = SEAL_GGML_F32;
  else if (strcmp(dtype, "F16") == 0)
    *bytes = 2, *type = SEAL_GGML_F16;
  else if (strcmp(dtype, "BF16") == 0)
    *bytes = 2, *type = SEAL_GGML_BF16;
  else
    return -1;
  return 0;
}

static bool is_known_other_dtype(const char *d) {
  static const char *const others[] = {"F64",     "I64", "I32",     "I16",     "I8",      "U64",
                                       "U32",     "U16", "U8",      "BOOL",    "F8_E4M3", "F8_E5M2",
                                       "F8_E8M0", "F4",  "F6_E2M3", "F6_E3M2", "C64",     NULL};
  for (int i = 0; others[i]; i++)
    if (strcmp(d, others[i]) == 0) return true;
  return false;
}

static int parse_shape(const char *path, const char *name, json_t *shape, st_entry *t,
                       seal_error *e) {
  if (!json_is_array(shape))
    return seal_errorf(e, "%s: tensor '%s': \"shape\" is not an array", path, name);
  size_t nd = json_array_size(shape);
  if (nd > SEAL_MAX_DIMS)
    return seal_errorf(e, "%s: tensor '%s': %zu dims (seal supports at most %d)", path, name, nd,
                       SEAL_MAX_DIMS);
  t->ndim = (int)nd;
  t->numel = 1;
  for (size_t i = 0; i < nd; i++) {
    json_t *d = json_array_get(shape, i);
    if (!json_is_integer(d) || json_integer_value(d) < 0)
      return seal_errorf(e, "%s: tensor '%s': shape[%zu] is not a non-negative integer", path, name,
                         i);
    t->shape[i] = json_integer_value(d);
    if (__builtin_mul_overflow(t->numel, t->shape[i], &t->numel) || t->numel > (INT64_MAX >> 3))
      return seal_errorf(e, "%s: tensor '%s': shape is too large", path, name);
  }
  return 0;
}

static int parse_offsets(const char *path, const char *name, json_t *offs, st_entry *t,
                         seal_error *e) {
  json_t *b = json_array_get(offs, 0), *en = json_array_get(offs, 1);
  if (!json_is_array(offs) || json_array_size(offs) != 2 || !json_is_integer(b) ||
      !json_is_integer(en) || json_integer_value(b) < 0 || json_integer_value(en) < 0)
    return seal_errorf(e, "%s: tensor '%s': \"data_offsets\" must be [begin, end] integers >= 0",
                       path, name);
  t->begin = (uint64_t)json_integer_value(b);
  t->end = (uint64_t)json_integer_value(en);
  if (t->end < t->begin)
    return seal_errorf(e, "%s: tensor '%s': data_offsets end %llu < begin %llu", path, name,
                       (unsigned long long)t->end, (unsigned long long)t->begin);
  return 0;
}

static int parse_entry(const char *path, const char *name, json_t *v, st_entry *t, seal_error *e) {
  t->name = name;
  if (!json_is_object(v))
    return seal_errorf(e, "%s: tensor '%s': entry is not an object", path, name);
  json_t *dtype = json_object_get(v, "dtype");
  if (!json_is_string(dtype))
    return seal_errorf(e, "%s: tensor '%s': missing string \"dtype\"", path, name);
  const char *ds = json_string_value(dtype);
  if (dtype_info(ds, &t->dtype_bytes, &t->ggml_type) != 0) {
    if (is_known_other_dtype(ds))
      return seal_errorf(e, "%s: tensor '%s': dtype %s is not supported (F32, F16, BF16 are)", path,
                         name, ds);
    return seal_errorf(e, "%s: tensor '%s': unknown dtype '%s'", path, name, ds);
  }
  if (parse_shape(path, name, json_object_get(v, "shape"), t, e) != 0) return -1;
  if (parse_offsets(path, name, json_object_get(v, "data_offsets"), t, e) != 0) return -1;
  uint64_t want = (uint64_t)t->numel * (uint64_t)t->dtype_bytes;
  if (t->end - t->begin != want)
    return seal_errorf(e,
                       "%s: tensor '%s': data_offsets span %llu bytes but %s x %lld elements "
                       "needs %llu",
                       path, name, (unsigned long long)(t->end - t->begin), ds, (long long)t->numel,
                       (unsigned long long)want);
  return 0;
}

static int metadata_is_strings(json_t *meta) {
  if (!json_is_object(meta)) return 0;
  const char *k;
  json_t *v;
  json_object_foreach(meta, k, v) {
    if (!json_is_string(v)) return 0;
  }
  return 1;
}

static int cmp_entry_begin(const void *a, const void *b) {
  const st_entry *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

/* Parses and validates the header: entries sorted by data offset, contiguous
 * from 0; returns the data size in *data_bytes. */
static int parse_header(const char *path, const char *text, size_t len, json_t **root_out,
                        st_entry **out, int *n_out, uint64_t *data_bytes, seal_error *e) {
  json_error_t je;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return seal_errorf(e, "%s: header is not valid JSON: %s (header line %d, column %d)", path,
                       je.text, je.line, je.column);
  *root_out = root;
  if (!json_is_object(root)) return seal_errorf(e, "%s: header is not a JSON object", path);
  st_entry *ents = NULL;
  SEAL_ALLOC_ARRAY(ents, json_object_size(root));
  *out = ents;
  int n = 0;
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    if (strcmp(key, "__metadata__") == 0) {
      if (!metadata_is_strings(v))
        return seal_errorf(e, "%s: \"__metadata__\" must map strings to strings", path);
      continue;
    }
    if (parse_entry(path, key, v, &ents[n], e) != 0) return -1;
    n++;
  }
  qsort(ents, (size_t)n, sizeof *ents, cmp_entry_begin);
  uint64_t pos = 0;
  for (int i = 0; i < n; i++) {
    if (ents[i].begin != pos)
      return seal_errorf(e,
                         "%s: tensor '%s': data begins at byte %llu but %s at %llu (offsets must "
                         "be contiguous from 0, without gaps or overlaps)",
                         path, ents[i].name, (unsigned long long)ents[i].begin,
                         i == 0 ? "data starts" : "the previous tensor ends",
                         (unsigned long long)pos);
    pos = ents[i].end;
  }
  *n_out = n;
  *data_bytes = pos;
  return 0;
}

static int pread_all(int fd, void *buf, size_t n, uint64_t off) {
  char *p = buf;
  while (n > 0) {
    ssize_t r = pread(fd, p, n, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
    off += (uint64_t)r;
  }
  return 0;
}

/* Reads one tensor's bytes into a fresh float buffer and converts in place:
 * 2-byte data lands in the upper half of the buffer, and converting forward
 * never overwrites an element not yet read. */
static float *read_entry(const char *path, int fd, uint64_t data_start, const st_entry *t,
                         seal_error *e) {
  size_t n = (size_t)t->numel;
  float *dst = seal_malloc(n ? n * sizeof(float) : 1);
  size_t bytes = n * (size_t)t->dtype_bytes;
  uint8_t *raw = (uint8_t *)dst + (n * sizeof(float) - bytes);
  if (bytes && pread_all(fd, raw, bytes, data_start + t->begin) != 0) {
    seal_errorf(e, "%s: tensor '%s': read failed: %s", path, t->name,
                errno ? strerror(errno) : "unexpected end of file");
    free(dst);
    return NULL;
  }
  if (t->ggml_type != SEAL_GGML_F32) {
    for (size_t i = 0; i < n; i++) {
      uint16_t h = (uint16_t)(raw[2 * i] | (raw[2 * i + 1] << 8));
      dst[i] = t->ggml_type == SEAL_GGML_F16 ? seal_f16_to_f32(h) : seal_bf16_to_f32(h);
    }
  }
  return dst;
}

static int read_entries(const char *path, int fd, uint64_t data_start, const st_entry *ents, int n,
                        seal_tensor_set *s, seal_error *e) {
  for (int i = 0; i < n; i++) {
    if (seal_tensors_find(s, ents[i].name))
      return seal_errorf(e, "%s: tensor '%s' is already loaded (from another file)", path,
                         ents[i].name);
    float *data = read_entry(path, fd, data_start, &ents[i], e);
    if (!data) return -1;
    seal_tensors_add(s, ents[i].name, ents[i].ndim, ents[i].shape, data);
  }
  return 0;
}

/* Reads the length prefix and header text; checks both against the file size. */
static char *read_header_text(const char *path, int fd, uint64_t file_size, uint64_t *hlen,
                              seal_error *e) {
  uint8_t len8[8];
  if (file_size < 8) {
    seal_errorf(e, "%s: truncated: %llu bytes, shorter than the 8-byte header length", path,
                (unsigned long long)file_size);
    return NULL;
  }
  if (pread_all(fd, len8, 8, 0) != 0) {
    seal_errorf(e, "%s: read failed: %s", path, strerror(errno));
    return NULL;
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | len8[i];
  if (n > SAFETENSORS_HEADER_CAP) {
    seal_errorf(e, "%s: header length %llu exceeds the %u-byte cap", path, (unsigned long long)n,
                SAFETENSORS_HEADER_CAP);
    return NULL;
  }
  if (n > file_size - 8) {
    seal_errorf(e, "%s: header length %llu runs past the end of the file (%llu bytes)", path,
                (unsigned long long)n, (unsigned long long)file_size);
    return NULL;
  }
  char *text = seal_malloc(n + 1);
  if (pread_all(fd, text, n, 8) != 0) {
    seal_errorf(e, "%s: read failed: %s", path, strerror(errno));
    free(text);
    return NULL;
  }
  text[n] = '\0';
  *hlen = n;
  return text;
}

int seal_safetensors_read(const char *path, seal_tensor_set *s, seal_error *e) {
  struct stat st;
  int fd = seal_open_regular(path, &st, e);
  if (fd < 0) return -1;
  uint64_t file_size = (uint64_t)st.st_size, hlen = 0, data_bytes = 0;
  int keep = s->n, n = 0, rc = -1;
  json_t *root = NULL;
  st_entry *ents = NULL;
  char *text = read_header_text(path, fd, file_size, &hlen, e);
  if (!text) goto done;
  if (parse_header(path, text, hlen, &root, &ents, &n, &data_bytes, e) != 0) goto done;
  if (8 + hlen + data_bytes != file_size) {
    seal_errorf(e, "%s: file is %llu bytes but 8 + header %llu + data %llu = %llu (%s)", path,
                (unsigned long long)file_size, (unsigned long long)hlen,
                (unsigned long long)data_bytes, (unsigned long long)(8 + hlen + data_bytes),
                file_size > 8 + hlen + data_bytes ? "trailing bytes" : "truncated data");
    goto done;
  }
  rc = read_entries(path, fd, 8 + hlen, ents, n, s, e);
done:
  if (rc != 0) truncate_set(s, keep);
  free(ents);
  json_decref(root);
  free(text);
  close(fd);
  return rc;
}

/* ---- safetensors: writing ---------------------------------------------- */

static char *build_header(const seal_tensor_set *s, const char *const *meta_kv, size_t *len) {
  json_t *root = json_object();
  if (meta_kv && meta_kv[0]) {
    json_t *meta = json_object();
    for (int i = 0; meta_kv[i] && meta_kv[i + 1]; i += 2)
      json_object_set_new(meta, meta_kv[i], json_string(meta_kv[i + 1]));
    json_object_set_new(root, "__metadata__", meta);
  }
  uint64_t off = 0;
  for (int i = 0; i < s->n; i++) {
    const seal_host_tensor *t = &s->items[i];
    json_t *shape = json_array();
    for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
    uint64_t bytes = (uint64_t)seal_tensor_numel(t) * sizeof(float);
    json_t *offs = json_pack("[I, I]", (json_int_t)off, (json_int_t)(off + bytes));
    json_object_set_new(
        root, t->name,
        json_pack("{s:s, s:o, s:o}", "dtype", "F32", "shape", shape, "data_offsets", offs));
    off += bytes;
  }
  char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(root);
  /* Pad with spaces so the data section starts 8-byte aligned, as safetensors does. */
  size_t n = strlen(text), padded = (8 + n + 7) / 8 * 8 - 8;
  char *out = seal_malloc(padded + 1);
  memcpy(out, text, n);
  memset(out + n, ' ', padded - n);
  out[padded] = '\0';
  free(text);
  *len = padded;
  return out;
}

static int write_all(int fd, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int write_body(int fd, const seal_tensor_set *s, const char *header, size_t hlen) {
  uint8_t len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
  if (write_all(fd, len8, 8) != 0 || write_all(fd, header, hlen) != 0) return -1;
  for (int i = 0; i < s->n; i++) {
    const seal_host_tensor *t = &s->items[i];
    if (write_all(fd, t->data, (size_t)seal_tensor_numel(t) * sizeof(float)) != 0) return -1;
  }
  return fsync(fd);
}

int seal_safetensors_write(const char *path, const seal_tensor_set *s, const char *const *meta_kv,
                           seal_error *e) {
  for (int i = 0; i < s->n; i++)
    for (int j = 0; j < i; j++)
      if (strcmp(s->items[i].name, s->items[j].name) == 0)
        return seal_errorf(e, "%s: tensor '%s' appears twice", path, s->items[i].name);
  size_t hlen;
  char *header = build_header(s, meta_kv, &hlen);
  char *tmp = seal_asprintf("%s.tmp", path);
  int rc = -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    seal_errorf(e, "%s: cannot create: %s", tmp, strerror(errno));
  } else if (write_body(fd, s, header, hlen) != 0) {
    seal_errorf(e, "%s: write failed: %s", tmp, strerror(errno));
    close(fd);
    unlink(tmp);
  } else {
    close(fd);
    if (rename(tmp, path) != 0)
      seal_errorf(e, "%s: cannot rename into place: %s", path, strerror(errno));
    else
      rc = 0;
  }
  free(tmp);
  free(header);
  return rc;
}
