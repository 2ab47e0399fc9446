/* tests/model/gguf_builder.h — writes small GGUF files (version 3, 32-byte
 * alignment) for tests and fuzzing seeds: metadata of the common types and
 * tensors with raw data, laid out as llama.cpp's writer does (each tensor's data
 * padded to the alignment). Header-only, for tests. */
#ifndef SEAL_TESTS_GGUF_BUILDER_H
#define SEAL_TESTS_GGUF_BUILDER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define GB_ALIGN 32
#define GB_MAX_TENSORS 64

typedef struct {
  seal_buf kv, infos, data;
  uint64_t n_kv, n_tensors;
  /* Lies a test may tell: the tensor named relabel is written with type
   * relabel_type (its data unchanged); the one named skip is left out. */
  const char *relabel, *skip;
  uint32_t relabel_type;
} gguf_builder;

static inline void gb_u32(seal_buf *b, uint32_t v) {
  uint8_t x[4];
  for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> (8 * i));
  seal_buf_append(b, x, 4);
}
static inline void gb_u64(seal_buf *b, uint64_t v) {
  uint8_t x[8];
  for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
  seal_buf_append(b, x, 8);
}
static inline void gb_str(seal_buf *b, const char *s) {
  gb_u64(b, strlen(s));
  seal_buf_append(b, s, strlen(s));
}
static inline void gb_key(gguf_builder *g, const char *key, uint32_t type) {
  gb_str(&g->kv, key);
  gb_u32(&g->kv, type);
  g->n_kv++;
}
/* GGUF value types: 4 UINT32, 5 INT32, 6 FLOAT32, 7 BOOL, 8 STRING, 9 ARRAY, 10 UINT64, 11 INT64 */
static inline void gb_kv_u32(gguf_builder *g, const char *key, uint32_t v) {
  gb_key(g, key, 4);
  gb_u32(&g->kv, v);
}
static inline void gb_kv_i32(gguf_builder *g, const char *key, int32_t v) {
  gb_key(g, key, 5);
  gb_u32(&g->kv, (uint32_t)v);
}
static inline void gb_kv_u64(gguf_builder *g, const char *key, uint64_t v) {
  gb_key(g, key, 10);
  gb_u64(&g->kv, v);
}
static inline void gb_kv_i64(gguf_builder *g, const char *key, int64_t v) {
  gb_key(g, key, 11);
  gb_u64(&g->kv, (uint64_t)v);
}
static inline void gb_kv_f32(gguf_builder *g, const char *key, float v) {
  uint32_t bits;
  memcpy(&bits, &v, 4);
  gb_key(g, key, 6);
  gb_u32(&g->kv, bits);
}
static inline void gb_kv_bool(gguf_builder *g, const char *key, int v) {
  gb_key(g, key, 7);
  uint8_t b = (uint8_t)(v != 0);
  seal_buf_append(&g->kv, &b, 1);
}
static inline void gb_kv_str(gguf_builder *g, const char *key, const char *v) {
  gb_key(g, key, 8);
  gb_str(&g->kv, v);
}
static inline void gb_kv_strs(gguf_builder *g, const char *key, const char *const *v, int n) {
  gb_key(g, key, 9);
  gb_u32(&g->kv, 8);
  gb_u64(&g->kv, (uint64_t)n);
  for (int i = 0; i < n; i++) gb_str(&g->kv, v[i]);
}
static inline void gb_kv_i32s(gguf_builder *g, const char *key, const int32_t *v, int n) {
  gb_key(g, key, 9);
  gb_u32(&g->kv, 5);
  gb_u64(&g->kv, (uint64_t)n);
  for (int i = 0; i < n; i++) gb_u32(&g->kv, (uint32_t)v[i]);
}

/* A tensor with ne[0..n_dims) in ggml order (ne[0] innermost), ggml type, and
 * nbytes of data (which need not match the type: tests lie on purpose). */
static inline void gb_tensor(gguf_builder *g, const char *name, int n_dims, const int64_t *ne,
                             uint32_t type, const void *data, size_t nbytes) {
  if (g->skip && strcmp(name, g->skip) == 0) return;
  if (g->relabel && strcmp(name, g->relabel) == 0) type = g->relabel_type;
  gb_str(&g->infos, name);
  gb_u32(&g->infos, (uint32_t)n_dims);
  for (int d = 0; d < n_dims; d++) gb_u64(&g->infos, (uint64_t)ne[d]);
  gb_u32(&g->infos, type);
  gb_u64(&g->infos, g->data.len);
  if (nbytes) seal_buf_append(&g->data, data, nbytes);
  static const uint8_t zeros[GB_ALIGN] = {0};
  size_t pad = (GB_ALIGN - g->data.len % GB_ALIGN) % GB_ALIGN;
  if (pad) seal_buf_append(&g->data, zeros, pad);
  g->n_tensors++;
}
/* An F32 tensor of the given shape, every element v. */
static inline void gb_tensor_f32(gguf_builder *g, const char *name, int n_dims, const int64_t *ne,
                                 float v) {
  int64_t n = 1;
  for (int d = 0; d < n_dims; d++) n *= ne[d];
  float *x = seal_malloc((size_t)(n ? n : 1) * sizeof *x);
  for (int64_t i = 0; i < n; i++) x[i] = v;
  gb_tensor(g, name, n_dims, ne, 0, x, (size_t)n * sizeof *x);
  free(x);
}

/* The whole file; frees the builder. */
static inline char *gb_finish(gguf_builder *g, size_t *n) {
  seal_buf out = {0};
  seal_buf_append(&out, "GGUF", 4);
  gb_u32(&out, 3);
  gb_u64(&out, g->n_tensors);
  gb_u64(&out, g->n_kv);
  if (g->kv.len) seal_buf_append(&out, g->kv.data, g->kv.len);
  if (g->infos.len) seal_buf_append(&out, g->infos.data, g->infos.len);
  static const uint8_t zeros[GB_ALIGN] = {0};
  size_t pad = (GB_ALIGN - out.len % GB_ALIGN) % GB_ALIGN;
  if (pad) seal_buf_append(&out, zeros, pad);
  if (g->data.len) seal_buf_append(&out, g->data.data, g->data.len);
  seal_buf_free(&g->kv);
  seal_buf_free(&g->infos);
  seal_buf_free(&g->data);
  *n = out.len;
  return seal_buf_take(&out);
}

/* A complete 1-layer llama GGUF (hidden 8, 2 heads of 4, MLP 16, a vocabulary
 * of v tokens "t0".."t{v-1}" without merges, model gpt2), every weight `w`.
 * `extra` adds or overrides what a test needs (called before the tensors). */
static inline char *gb_tiny_llama(int v, float w, void (*extra)(gguf_builder *), size_t *n) {
  gguf_builder g = {0};
  gb_kv_str(&g, "general.architecture", "llama");
  gb_kv_u32(&g, "llama.embedding_length", 8);
  gb_kv_u32(&g, "llama.feed_forward_length", 16);
  gb_kv_u32(&g, "llama.block_count", 1);
  gb_kv_u32(&g, "llama.attention.head_count", 2);
  gb_kv_f32(&g, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  gb_kv_str(&g, "tokenizer.ggml.model", "gpt2");
  char **toks = seal_calloc((size_t)v, sizeof *toks);
  for (int i = 0; i < v; i++) toks[i] = seal_asprintf("t%d", i);
  gb_kv_strs(&g, "tokenizer.ggml.tokens", (const char *const *)toks, v);
  for (int i = 0; i < v; i++) free(toks[i]);
  free(toks);
  if (extra) extra(&g);
  const int64_t emb[2] = {8, v}, vec[1] = {8}, sq[2] = {8, 8}, up[2] = {8, 16}, down[2] = {16, 8};
  gb_tensor_f32(&g, "token_embd.weight", 2, emb, w);
  gb_tensor_f32(&g, "blk.0.attn_norm.weight", 1, vec, 1);
  gb_tensor_f32(&g, "blk.0.attn_q.weight", 2, sq, w);
  gb_tensor_f32(&g, "blk.0.attn_k.weight", 2, sq, w);
  gb_tensor_f32(&g, "blk.0.attn_v.weight", 2, sq, w);
  gb_tensor_f32(&g, "blk.0.attn_output.weight", 2, sq, w);
  gb_tensor_f32(&g, "blk.0.ffn_norm.weight", 1, vec, 1);
  gb_tensor_f32(&g, "blk.0.ffn_gate.weight", 2, up, w);
  gb_tensor_f32(&g, "blk.0.ffn_up.weight", 2, up, w);
  gb_tensor_f32(&g, "blk.0.ffn_down.weight", 2, down, w);
  gb_tensor_f32(&g, "output_norm.weight", 1, vec, 1);
  return gb_finish(&g, n);
}

#endif
