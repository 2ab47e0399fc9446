/* model/tensors.h — named host tensors in float32: what every checkpoint
 * reader produces and what the model uploads to a backend. Names follow
 * Hugging Face ("model.layers.0.self_attn.q_proj.weight"); shapes are PyTorch's
 * (a linear weight is [out, in]). */
#ifndef SEAL_MODEL_TENSORS_H
#define SEAL_MODEL_TENSORS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/util.h"

#define SEAL_MAX_DIMS 4

typedef struct {
  char *name;
  int ndim;
  int64_t shape[SEAL_MAX_DIMS];
  float *data; /* numel floats, owned */
} seal_host_tensor;

typedef struct {
  seal_host_tensor *items;
  int n, cap;
} seal_tensor_set;

int64_t seal_tensor_numel(const seal_host_tensor *t);
/* Appends a tensor; takes ownership of data (allocated with seal_malloc). */
seal_host_tensor *seal_tensors_add(seal_tensor_set *s, const char *name, int ndim,
                                   const int64_t *shape, float *data);
/* NULL when absent. */
seal_host_tensor *seal_tensors_find(const seal_tensor_set *s, const char *name);
/* Frees and removes the named tensor (order of the rest kept); false when absent. */
bool seal_tensors_remove(seal_tensor_set *s, const char *name);
void seal_tensors_free(seal_tensor_set *s);

/* Refuses NaN or infinite values: -1 with an error naming origin, the first
 * tensor that holds any, how many, and where the first is. A scan of every
 * element (memory-bound, parallel). */
int seal_tensors_check_finite(const seal_tensor_set *s, const char *origin, seal_error *e);

/* ---- safetensors ------------------------------------------------------- */

/* Reads every tensor of a .safetensors file (F32, F16, BF16) into s, converting
 * to float32. Enforces the format: 8-byte little-endian header length, header
 * size cap (100 MB), valid JSON, dtype known, data offsets contiguous from 0 in
 * order, byte size = dtype size x numel, file size = 8 + header + data. */
int seal_safetensors_read(const char *path, seal_tensor_set *s, seal_error *e);
/* Writes tensors as F32 safetensors with optional string metadata pairs
 * (meta_kv = {"key", "value", ..., NULL}); atomic (tmp + rename). */
int seal_safetensors_write(const char *path, const seal_tensor_set *s, const char *const *meta_kv,
                           seal_error *e);

#endif
