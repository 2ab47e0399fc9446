/* model/gguf.c — GGUF parsing (v2/v3): the header, metadata of every type,
 * tensor infos and aligned data, all bounds-checked against the mapped file.
 * The llama/qwen2 mapping onto Hugging Face conventions is in gguf_model.c. */
#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/quant.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" read little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_ARRAY_DEPTH 4

/* ---- a bounds-checked reader over the mapped file ----------------------- */

typedef struct {
  const uint8_t *p;
  size_t pos, size;
  const char *path;
  seal_error *e;
} cursor;

static int need(cursor *c, uint64_t n, const char *what) {
  if (n > c->size - c->pos)
    return seal_errorf(c->e, "%s: truncated at byte %zu: %s needs %llu bytes, %zu left", c->path,
                       c->pos, what, (unsigned long long)n, c->size - c->pos);
  return 0;
}

static uint64_t load_le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static int read_uint(cursor *c, int n, uint64_t *out, const char *what) {
  if (need(c, (uint64_t)n, what) != 0) return -1;
  *out = load_le(c->p + c->pos, n);
  c->pos += (size_t)n;
  return 0;
}

static int read_u32(cursor *c, uint32_t *out, const char *what) {
  uint64_t v;
  if (read_uint(c, 4, &v, what) != 0) return -1;
  *out = (uint32_t)v;
  return 0;
}

/* A GGUF string: uint64 length, then bytes (no NUL). Returns an owned copy. */
static char *read_string(cursor *c, const char *what) {
  uint64_t len;
  if (read_uint(c, 8, &len, what) != 0) return NULL;
  if (need(c, len, what) != 0) return NULL;
  char *s = seal_malloc(len + 1);
  memcpy(s, c->p + c->pos, len);
  s[len] = '\0';
  c->pos += len;
  return s;
}

/* ---- metadata values ---------------------------------------------------- */

static int scalar_size(seal_gguf_type t) {
  switch (t) {
    case SEAL_GGUF_UINT8:
    case SEAL_GGUF_INT8:
    case SEAL_GGUF_BOOL:
      return 1;
    case SEAL_GGUF_UINT16:
    case SEAL_GGUF_INT16:
      return 2;
    case SEAL_GGUF_UINT32:
    case SEAL_GGUF_INT32:
    case SEAL_GGUF_FLOAT32:
      return 4;
    case SEAL_GGUF_UINT64:
    case SEAL_GGUF_INT64:
    case SEAL_GGUF_FLOAT64:
      return 8;
    default:
      return 0;
  }
}

static bool is_integer_type(seal_gguf_type t) {
  return scalar_size(t) > 0 && t != SEAL_GGUF_FLOAT32 && t != SEAL_GGUF_FLOAT64;
}

static void widen_scalar(const uint8_t *p, seal_gguf_type t, seal_gguf_value *v) {
  uint64_t bits = load_le(p, scalar_size(t));
  v->u = bits;
  switch (t) {
    case SEAL_GGUF_INT8:
      v->i = (int8_t)bits;
      break;
    case SEAL_GGUF_INT16:
      v->i = (int16_t)bits;
      break;
    case SEAL_GGUF_INT32:
      v->i = (int32_t)bits;
      break;
    case SEAL_GGUF_INT64:
      v->i = (int64_t)bits;
      break;
    case SEAL_GGUF_FLOAT32: {
      float f;
      uint32_t b32 = (uint32_t)bits;
      memcpy(&f, &b32, 4);
      v->f = f;
      return;
    }
    case SEAL_GGUF_FLOAT64:
      memcpy(&v->f, &bits, 8);
      return;
    default:
      v->i = (int64_t)bits;
      break;
  }
  v->f = (double)v->i;
}

static void free_value(seal_gguf_value *v) {
  free(v->str);
  if (v->arr.strs)
    for (uint64_t i = 0; i < v->arr.n; i++) free(v->arr.strs[i]);
  free(v->arr.strs);
  if (v->arr.items)
    for (uint64_t i = 0; i < v->arr.n; i++) free_value(&v->arr.items[i]);
  free(v->arr.items);
  memset(v, 0, sizeof *v);
}

static int read_value(cursor *c, seal_gguf_type type, seal_gguf_value *v, const char *key,
                      int depth);

static int read_array(cursor *c, seal_gguf_value *v, const char *key, int depth) {
  uint32_t elem;
  uint64_t n;
  if (read_u32(c, &elem, key) != 0 || read_uint(c, 8, &n, key) != 0) return -1;
  v->arr.elem = (seal_gguf_type)elem;
  int esz = scalar_size(v->arr.elem);
  if (esz > 0) {
    if (n > (c->size - c->pos) / (uint64_t)esz) return need(c, n * (uint64_t)esz, key);
    v->arr.raw = c->p + c->pos;
    v->arr.n = n;
    c->pos += (size_t)(n * (uint64_t)esz);
    return 0;
  }
  if (elem != SEAL_GGUF_STRING && elem != SEAL_GGUF_ARRAY)
    return seal_errorf(c->e, "%s: key '%s': unknown array element type %u", c->path, key, elem);
  if (depth >= GGUF_MAX_ARRAY_DEPTH)
    return seal_errorf(c->e, "%s: key '%s': arrays nested too deeply", c->path, key);
  /* Each string or array element takes at least 8 bytes: bounds n before allocating. */
  if (n > (c->size - c->pos) / 8) return need(c, n * 8, key);
  if (elem == SEAL_GGUF_STRING) {
    SEAL_ALLOC_ARRAY(v->arr.strs, n);
    for (uint64_t i = 0; i < n; i++, v->arr.n++)
      if (!(v->arr.strs[i] = read_string(c, key))) return -1;
    return 0;
  }
  SEAL_ALLOC_ARRAY(v->arr.items, n);
  /* Each element is itself an array (element type, count, data), untagged. */
  for (uint64_t i = 0; i < n; i++, v->arr.n++)
    if (read_value(c, SEAL_GGUF_ARRAY, &v->arr.items[i], key, depth + 1) != 0) return -1;
  return 0;
}

static int read_value(cursor *c, seal_gguf_type type, seal_gguf_value *v, const char *key,
                      int depth) {
  v->type = type;
  if (type == SEAL_GGUF_STRING) return (v->str = read_string(c, key)) ? 0 : -1;
  if (type == SEAL_GGUF_ARRAY) return read_array(c, v, key, depth);
  int n = scalar_size(type);
  if (n == 0)
    return seal_errorf(c->e, "%s: key '%s': unknown value type %u", c->path, key, (unsigned)type);
  if (need(c, (uint64_t)n, key) != 0) return -1;
  widen_scalar(c->p + c->pos, type, v);
  c->pos += (size_t)n;
  return 0;
}

/* ---- header, metadata, tensor infos ------------------------------------ */

static int read_header(cursor *c, seal_gguf *g, uint64_t *n_tensors, uint64_t *n_kv) {
  uint32_t magic;
  if (read_u32(c, &magic, "the magic number") != 0) return -1;
  if (magic != GGUF_MAGIC) return seal_errorf(c->e, "%s: not a GGUF file (bad magic)", c->path);
  if (read_u32(c, &g->version, "the version") != 0) return -1;
  if (g->version >= 0x10000)
    return seal_errorf(c->e, "%s: big-endian GGUF files are not supported", c->path);
  if (g->version < 2 || g->version > 3)
    return seal_errorf(c->e, "%s: GGUF version %u is not supported (2 and 3 are)", c->path,
                       g->version);
  if (read_uint(c, 8, n_tensors, "the tensor count") != 0 ||
      read_uint(c, 8, n_kv, "the metadata count") != 0)
    return -1;
  /* A key/value takes at least 12 bytes, a tensor info at least 24. */
  if (*n_kv > (c->size - c->pos) / 12 || *n_tensors > (c->size - c->pos) / 24)
    return seal_errorf(c->e,
                       "%s: truncated or corrupt: the header claims %llu tensors and %llu keys, "
                       "more than the file holds",
                       c->path, (unsigned long long)*n_tensors, (unsigned long long)*n_kv);
  return 0;
}

static int read_metadata(cursor *c, seal_gguf *g, uint64_t n_kv) {
  SEAL_ALLOC_ARRAY(g->kv, n_kv);
  for (uint64_t i = 0; i < n_kv; i++) {
    seal_gguf_kv *kv = &g->kv[i];
    if (!(kv->key = read_string(c, "a metadata key"))) return -1;
    g->n_kv++;
    uint32_t type;
    if (read_u32(c, &type, kv->key) != 0) return -1;
    if (read_value(c, (seal_gguf_type)type, &kv->v, kv->key, 0) != 0) return -1;
    for (uint64_t j = 0; j < i; j++)
      if (strcmp(g->kv[j].key, kv->key) == 0)
        return seal_errorf(c->e, "%s: metadata key '%s' appears twice", c->path, kv->key);
  }
  return 0;
}

static int read_alignment(cursor *c, seal_gguf *g) {
  g->alignment = GGUF_DEFAULT_ALIGNMENT;
  const seal_gguf_kv *kv = seal_gguf_find(g, "general.alignment");
  if (!kv) return 0;
  if (!is_integer_type(kv->v.type) || kv->v.i <= 0 || (kv->v.i & (kv->v.i - 1)) != 0)
    return seal_errorf(c->e, "%s: key 'general.alignment' must be a power of two", c->path);
  g->alignment = (uint64_t)kv->v.i;
  return 0;
}

static int read_tensor_info(cursor *c, seal_gguf_tensor *t) {
  uint32_t n_dims;
  if (read_u32(c, &n_dims, t->name) != 0) return -1;
  if (n_dims == 0 || n_dims > SEAL_MAX_DIMS)
    return seal_errorf(c->e, "%s: tensor '%s': %u dims (1 to %d supported)", c->path, t->name,
                       n_dims, SEAL_MAX_DIMS);
  t->n_dims = (int)n_dims;
  int64_t numel = 1;
  for (int d = 0; d < t->n_dims; d++) {
    uint64_t ne;
    if (read_uint(c, 8, &ne, t->name) != 0) return -1;
    if (ne > (uint64_t)INT64_MAX || __builtin_mul_overflow(numel, (int64_t)ne, &numel) ||
        numel > (INT64_MAX >> 4))
      return seal_errorf(c->e, "%s: tensor '%s': dimensions too large", c->path, t->name);
    t->ne[d] = (int64_t)ne;
  }
  if (read_u32(c, &t->type, t->name) != 0 || read_uint(c, 8, &t->offset, t->name) != 0) return -1;
  int bs = seal_ggml_block_size(t->type);
  if (bs > 0) {
    if (t->ne[0] % bs != 0)
      return seal_errorf(c->e, "%s: tensor '%s': %s rows of %lld are not whole blocks of %d",
                         c->path, t->name, seal_ggml_type_name(t->type), (long long)t->ne[0], bs);
    t->nbytes = (uint64_t)(numel / bs) * seal_ggml_block_bytes(t->type);
  }
  return 0;
}

static int read_tensor_infos(cursor *c, seal_gguf *g, uint64_t n) {
  SEAL_ALLOC_ARRAY(g->tensors, n);
  for (uint64_t i = 0; i < n; i++) {
    seal_gguf_tensor *t = &g->tensors[i];
    if (!(t->name = read_string(c, "a tensor name"))) return -1;
    g->n_tensors++;
    if (read_tensor_info(c, t) != 0) return -1;
    for (uint64_t j = 0; j < i; j++)
      if (strcmp(g->tensors[j].name, t->name) == 0)
        return seal_errorf(c->e, "%s: tensor '%s' appears twice", c->path, t->name);
  }
  return 0;
}

static int cmp_by_offset(const void *a, const void *b) {
  const seal_gguf_tensor *x = *(const seal_gguf_tensor *const *)a;
  const seal_gguf_tensor *y = *(const seal_gguf_tensor *const *)b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Writers (llama.cpp, gguf-py) pad each tensor's data to the alignment and put
 * the next right after: a region larger than the type implies means the type
 * or the shape does not describe the data (F32 data labelled F16 reads half of
 * it, as garbage). Unknown types have no size to compare. */
static int check_data_region(cursor *c, const seal_gguf_tensor *t, uint64_t region_end, bool last,
                             uint64_t align) {
  if (seal_ggml_block_size(t->type) == 0 || region_end < t->offset + t->nbytes) return 0;
  uint64_t region = region_end - t->offset;
  if (region - t->nbytes < align) return 0;
  return seal_errorf(c->e,
                     "%s: tensor '%s': its %s x %lld elements take %llu bytes, but its data "
                     "region holds %llu (to the %s): the type or shape does not match the data",
                     c->path, t->name, seal_ggml_type_name(t->type),
                     (long long)seal_gguf_tensor_numel(t), (unsigned long long)t->nbytes,
                     (unsigned long long)region, last ? "end of the file" : "next tensor");
}

/* Every tensor's data must be aligned, inside the file, not overlap another,
 * and fill its region up to the alignment padding. */
static int check_tensor_data(cursor *c, seal_gguf *g) {
  uint64_t a = g->alignment;
  g->data_offset = (c->pos + a - 1) / a * a;
  if (g->n_tensors > 0 && g->data_offset > c->size)
    return seal_errorf(c->e, "%s: truncated: the data section starts past the end of the file",
                       c->path);
  uint64_t avail = c->size - (g->n_tensors > 0 ? g->data_offset : 0);
  const seal_gguf_tensor **order = NULL;
  SEAL_ALLOC_ARRAY(order, g->n_tensors);
  for (int64_t i = 0; i < g->n_tensors; i++) order[i] = &g->tensors[i];
  qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_by_offset);
  int rc = 0;
  uint64_t prev_end = 0;
  for (int64_t i = 0; i < g->n_tensors && rc == 0; i++) {
    const seal_gguf_tensor *t = order[i];
    if (t->offset % a != 0)
      rc = seal_errorf(c->e,
                       "%s: tensor '%s': data offset %llu is not a multiple of the alignment %llu",
                       c->path, t->name, (unsigned long long)t->offset, (unsigned long long)a);
    else if (t->offset > avail || t->nbytes > avail - t->offset)
      rc = seal_errorf(c->e,
                       "%s: truncated: tensor '%s' (%llu bytes at data offset %llu) runs past the "
                       "end of the file",
                       c->path, t->name, (unsigned long long)t->nbytes,
                       (unsigned long long)t->offset);
    else if (t->offset < prev_end)
      rc = seal_errorf(c->e, "%s: tensor '%s' overlaps the previous tensor's data", c->path,
                       t->name);
    prev_end = t->offset + t->nbytes;
  }
  /* Regions once every tensor is known to lie inside the file. */
  for (int64_t i = 0; i < g->n_tensors && rc == 0; i++)
    rc = check_data_region(c, order[i], i + 1 < g->n_tensors ? order[i + 1]->offset : avail,
                           i + 1 == g->n_tensors, a);
  free(order);
  return rc;
}

static int map_file(const char *path, seal_gguf *g, seal_error *e) {
  struct stat st;
  int fd = seal_open_regular(path, &st, e);
  if (fd < 0) return -1;
  g->size = (size_t)st.st_size;
  if (g->size == 0) {
    close(fd);
    return seal_errorf(e, "%s: empty file", path);
  }
  void *m = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m == MAP_FAILED) return seal_errorf(e, "%s: cannot map: %s", path, strerror(errno));
  g->map = m;
  return 0;
}

int seal_gguf_open(const char *path, seal_gguf *g, seal_error *e) {
  memset(g, 0, sizeof *g);
  g->path = seal_strdup(path);
  if (map_file(path, g, e) != 0) {
    seal_gguf_close(g);
    return -1;
  }
  cursor c = {.p = g->map, .pos = 0, .size = g->size, .path = g->path, .e = e};
  uint64_t n_tensors = 0, n_kv = 0;
  if (read_header(&c, g, &n_tensors, &n_kv) != 0 || read_metadata(&c, g, n_kv) != 0 ||
      read_alignment(&c, g) != 0 || read_tensor_infos(&c, g, n_tensors) != 0 ||
      check_tensor_data(&c, g) != 0) {
    seal_gguf_close(g);
    return -1;
  }
  return 0;
}

void seal_gguf_close(seal_gguf *g) {
  for (int64_t i = 0; i < g->n_kv; i++) {
    free(g->kv[i].key);
    free_value(&g->kv[i].v);
  }
  free(g->kv);
  for (int64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
  free(g->tensors);
  if (g->map) munmap((void *)g->map, g->size);
  free(g->path);
  memset(g, 0, sizeof *g);
}

/* ---- look-ups ----------------------------------------------------------- */

const seal_gguf_kv *seal_gguf_find(const seal_gguf *g, const char *key) {
  for (int64_t i = 0; i < g->n_kv; i++)
    if (strcmp(g->kv[i].key, key) == 0) return &g->kv[i];
  return NULL;
}

const seal_gguf_tensor *seal_gguf_find_tensor(const seal_gguf *g, const char *name) {
  for (int64_t i = 0; i < g->n_tensors; i++)
    if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
  return NULL;
}

static int wrong_type(const seal_gguf *g, const char *key, const char *want, seal_error *e) {
  return seal_errorf(e, "%s: key '%s' must be %s", g->path, key, want);
}

int seal_gguf_get_int(const seal_gguf *g, const char *key, int64_t *out, seal_error *e) {
  const seal_gguf_kv *kv = seal_gguf_find(g, key);
  if (!kv) return 0;
  if (!is_integer_type(kv->v.type) || kv->v.type == SEAL_GGUF_BOOL)
    return wrong_type(g, key, "an integer", e);
  if (kv->v.type == SEAL_GGUF_UINT64 && kv->v.u > (uint64_t)INT64_MAX)
    return seal_errorf(e, "%s: key '%s' is out of range", g->path, key);
  *out = kv->v.i;
  return 1;
}

int seal_gguf_get_float(const seal_gguf *g, const char *key, double *out, seal_error *e) {
  const seal_gguf_kv *kv = seal_gguf_find(g, key);
  if (!kv) return 0;
  if (scalar_size(kv->v.type) == 0 || kv->v.type == SEAL_GGUF_BOOL)
    return wrong_type(g, key, "a number", e);
  *out = kv->v.f;
  return 1;
}

int seal_gguf_get_bool(const seal_gguf *g, const char *key, bool *out, seal_error *e) {
  const seal_gguf_kv *kv = seal_gguf_find(g, key);
  if (!kv) return 0;
  if (kv->v.type != SEAL_GGUF_BOOL) return wrong_type(g, key, "a boolean", e);
  *out = kv->v.i != 0;
  return 1;
}

int seal_gguf_get_string(const seal_gguf *g, const char *key, const char **out, seal_error *e) {
  const seal_gguf_kv *kv = seal_gguf_find(g, key);
  if (!kv) return 0;
  if (kv->v.type != SEAL_GGUF_STRING) return wrong_type(g, key, "a string", e);
  *out = kv->v.str;
  return 1;
}

int64_t seal_gguf_array_int(const seal_gguf_value *v, uint64_t i) {
  seal_gguf_value x = {0};
  widen_scalar(v->arr.raw + i * (uint64_t)scalar_size(v->arr.elem), v->arr.elem, &x);
  return x.i;
}

double seal_gguf_array_float(const seal_gguf_value *v, uint64_t i) {
  seal_gguf_value x = {0};
  widen_scalar(v->arr.raw + i * (uint64_t)scalar_size(v->arr.elem), v->arr.elem, &x);
  return x.f;
}

/* ---- tensor data -------------------------------------------------------- */

int64_t seal_gguf_tensor_numel(const seal_gguf_tensor *t) {
  int64_t n = 1;
  for (int d = 0; d < t->n_dims; d++) n *= t->ne[d];
  return n;
}

int seal_gguf_tensor_check_type(const seal_gguf *g, const seal_gguf_tensor *t, seal_error *e) {
  if (seal_ggml_type_supported(t->type)) return 0;
  return seal_errorf(e,
                     "%s: tensor '%s' has type %s (%u), which seal cannot dequantise "
                     "(F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q6_K are supported)",
                     g->path, t->name, seal_ggml_type_name(t->type), t->type);
}

int seal_gguf_tensor_to_f32(const seal_gguf *g, const seal_gguf_tensor *t, float *out,
                            seal_error *e) {
  if (seal_gguf_tensor_check_type(g, t, e) != 0) return -1;
  /* Rows are independent: dequantise them in parallel (a 7B model is ~7G values). */
  const uint8_t *src = g->map + g->data_offset + t->offset;
  const int64_t cols = t->ne[0], rows = cols ? seal_gguf_tensor_numel(t) / cols : 0;
  const size_t row_bytes =
      (size_t)(cols / seal_ggml_block_size(t->type)) * seal_ggml_block_bytes(t->type);
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 20))
  for (int64_t r = 0; r < rows; r++)
    seal_dequantize(t->type, src + (size_t)r * row_bytes, cols, out + r * cols);
  return 0;
}
