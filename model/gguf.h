/* model/gguf.h — GGUF files (versions 2 and 3, little-endian): metadata
 * key/values of every type, tensor infos, and tensor data dequantised to
 * float32; plus the llama/qwen2 mapping onto Hugging Face names, shapes and
 * conventions (see seal_gguf_load_model). */
#ifndef SEAL_MODEL_GGUF_H
#define SEAL_MODEL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "model/tensors.h"
#include "model/vocab.h"
#include "util/util.h"

typedef enum {
  SEAL_GGUF_UINT8 = 0,
  SEAL_GGUF_INT8 = 1,
  SEAL_GGUF_UINT16 = 2,
  SEAL_GGUF_INT16 = 3,
  SEAL_GGUF_UINT32 = 4,
  SEAL_GGUF_INT32 = 5,
  SEAL_GGUF_FLOAT32 = 6,
  SEAL_GGUF_BOOL = 7,
  SEAL_GGUF_STRING = 8,
  SEAL_GGUF_ARRAY = 9,
  SEAL_GGUF_UINT64 = 10,
  SEAL_GGUF_INT64 = 11,
  SEAL_GGUF_FLOAT64 = 12,
} seal_gguf_type;

/* A metadata value. Scalars are widened: every integer type (and bool) into
 * i (u for UINT64 too, as bits), floats into f. Arrays keep their element type
 * and count: numbers as a borrowed pointer to their little-endian bytes in the
 * mapped file, strings as an owned char* array, nested arrays as owned items. */
typedef struct seal_gguf_value {
  seal_gguf_type type;
  int64_t i;
  uint64_t u;
  double f;
  char *str; /* STRING: owned, NUL-terminated */
  struct {
    seal_gguf_type elem;
    uint64_t n;
    const uint8_t *raw;            /* numeric elements in the file */
    char **strs;                   /* STRING elements */
    struct seal_gguf_value *items; /* ARRAY elements */
  } arr;
} seal_gguf_value;

typedef struct {
  char *key;
  seal_gguf_value v;
} seal_gguf_kv;

typedef struct {
  char *name;
  int n_dims;
  int64_t ne[SEAL_MAX_DIMS]; /* ggml order: ne[0] is the innermost (contiguous) dimension */
  uint32_t type;             /* ggml type */
  uint64_t offset;           /* from the start of the data section */
  uint64_t nbytes;
} seal_gguf_tensor;

typedef struct {
  char *path;
  uint32_t version;
  seal_gguf_kv *kv;
  int64_t n_kv;
  seal_gguf_tensor *tensors;
  int64_t n_tensors;
  uint64_t alignment;
  uint64_t data_offset; /* file offset of the (aligned) data section */
  const uint8_t *map;   /* the whole file, mapped read-only */
  size_t size;
} seal_gguf;

/* Maps and parses a GGUF file, validating every length and offset against the
 * file size, and each tensor's size against its data region (the distance to
 * the next tensor's data, or to the end of the file, less the alignment
 * padding), so a tensor whose type was relabelled (F32 data labelled F16) is
 * refused. Unsupported tensor types are accepted here (and refused when read). */
int seal_gguf_open(const char *path, seal_gguf *g, seal_error *e);
void seal_gguf_close(seal_gguf *g);

const seal_gguf_kv *seal_gguf_find(const seal_gguf *g, const char *key);
const seal_gguf_tensor *seal_gguf_find_tensor(const seal_gguf *g, const char *name);
/* Typed look-ups: 1 when found (and of a compatible type), 0 when absent, -1 with
 * an error naming the file and key when present with the wrong type. */
int seal_gguf_get_int(const seal_gguf *g, const char *key, int64_t *out, seal_error *e);
int seal_gguf_get_float(const seal_gguf *g, const char *key, double *out, seal_error *e);
int seal_gguf_get_bool(const seal_gguf *g, const char *key, bool *out, seal_error *e);
int seal_gguf_get_string(const seal_gguf *g, const char *key, const char **out, seal_error *e);
/* Element i of a numeric array value, widened. */
int64_t seal_gguf_array_int(const seal_gguf_value *v, uint64_t i);
double seal_gguf_array_float(const seal_gguf_value *v, uint64_t i);

/* 0 when seal can dequantise the tensor's type, else -1 with an error naming
 * the file, the tensor and its type. */
int seal_gguf_tensor_check_type(const seal_gguf *g, const seal_gguf_tensor *t, seal_error *e);
/* Dequantises a tensor to float32 in ggml order (numel floats, ne[0] fastest).
 * Fails for unsupported types. */
int seal_gguf_tensor_to_f32(const seal_gguf *g, const seal_gguf_tensor *t, float *out,
                            seal_error *e);
int64_t seal_gguf_tensor_numel(const seal_gguf_tensor *t);

/* Reads a llama (or qwen2) GGUF as seal's model: config from "<arch>.*" keys,
 * the tokenizer into vocab, and tensors dequantised under Hugging Face names
 * and PyTorch shapes ([out, in] for linear weights), with llama.cpp's q/k row
 * permutation undone so Hugging Face's half-split RoPE applies. */
int seal_gguf_load_model(const char *path, seal_model_config *cfg, seal_tensor_set *weights,
                         seal_vocab *vocab, seal_error *e);

/* llama.cpp's converter stores q_proj/k_proj rows interleaved per head
 * (w.reshape(n_head, 2, D/2, ...).swapaxes(1, 2)); this inverts it in place for
 * a [n_head * D, cols] matrix (cols = 1 for a bias). */
void seal_gguf_unpermute_rows(float *w, int n_head, int64_t rows, int64_t cols);

#endif
