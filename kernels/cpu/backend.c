/* kernels/cpu/backend.c — the CPU backend: host memory, float32 everywhere. */
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/blas_info.h"
#include "kernels/cpu/cpu.h"

static void *cpu_alloc(seal_backend *be, size_t bytes) {
  (void)be;
  /* 64-byte alignment for vector loads; round the size up as aligned_alloc wants. */
  size_t n = (bytes + 63) & ~(size_t)63;
  void *p = aligned_alloc(64, n ? n : 64);
  if (!p) SEAL_DIE("cpu backend: out of memory allocating %zu bytes", bytes);
  return p;
}

static void cpu_free(seal_backend *be, void *p) {
  (void)be;
  free(p);
}

static void cpu_to_device(seal_backend *be, void *dst, seal_dtype t, const float *src, size_t n) {
  (void)be;
  SEAL_CHECK(t == SEAL_F32, "cpu backend stores float32 only (asked for dtype %d)", (int)t);
  memcpy(dst, src, n * sizeof(float));
}

static void cpu_to_host(seal_backend *be, float *dst, const void *src, seal_dtype t, size_t n) {
  (void)be;
  SEAL_CHECK(t == SEAL_F32, "cpu backend stores float32 only (asked for dtype %d)", (int)t);
  memcpy(dst, src, n * sizeof(float));
}

static void cpu_copy_i32(seal_backend *be, int32_t *dst, const int32_t *src, size_t n) {
  (void)be;
  memcpy(dst, src, n * sizeof(int32_t));
}

static void cpu_copy(seal_backend *be, void *dst, const void *src, size_t bytes) {
  (void)be;
  memmove(dst, src, bytes);
}

static void cpu_fill(seal_backend *be, void *dst, seal_dtype t, float value, size_t n) {
  (void)be;
  if (t == SEAL_I32) {
    int32_t *d = dst;
    for (size_t i = 0; i < n; i++) d[i] = (int32_t)value;
    return;
  }
  SEAL_CHECK(t == SEAL_F32, "cpu backend stores float32 only (asked for dtype %d)", (int)t);
  float *d = dst;
  for (size_t i = 0; i < n; i++) d[i] = value;
}

static void cpu_synchronize(seal_backend *be) { (void)be; }

static void cpu_destroy(seal_backend *be) { free(be); }

static void cpu_bind_thread(seal_backend *be) { (void)be; }

const seal_ops seal_cpu_ops = {
    .alloc = cpu_alloc,
    .free = cpu_free,
    .to_device = cpu_to_device,
    .to_host = cpu_to_host,
    .to_device_i32 = cpu_copy_i32,
    .to_host_i32 = cpu_copy_i32,
    .copy = cpu_copy,
    .fill = cpu_fill,
    .synchronize = cpu_synchronize,
    .destroy = cpu_destroy,
    .bind_thread = cpu_bind_thread,
    /* transformer forward */
    .embedding = seal_cpu_embedding,
    .rmsnorm = seal_cpu_rmsnorm,
    .residual_rmsnorm = seal_cpu_residual_rmsnorm,
    .add = seal_cpu_add,
    .matmul = seal_cpu_matmul,
    .rope = seal_cpu_rope,
    .kv_write = seal_cpu_kv_write,
    .attention = seal_cpu_attention,
    .swiglu = seal_cpu_swiglu,
    /* loss */
    .cross_entropy = seal_cpu_cross_entropy,
    /* transformer backward */
    .matmul_backward_input = seal_cpu_matmul_backward_input,
    .rmsnorm_backward = seal_cpu_rmsnorm_backward,
    .attention_backward = seal_cpu_attention_backward,
    .swiglu_backward = seal_cpu_swiglu_backward,
    /* LoRA */
    .lora_forward = seal_cpu_lora_forward,
    .lora_backward = seal_cpu_lora_backward,
    .lora_merge = seal_cpu_lora_merge,
    /* optimizer */
    .sum_squares = seal_cpu_sum_squares,
    .adamw = seal_cpu_adamw,
    /* sampling */
    .sample = seal_cpu_sample,
};

seal_backend *seal_cpu_backend_create(seal_error *e) {
  (void)e;
  char advice[320];
  if (seal_cpu_blas_runs_generic(advice, sizeof advice)) seal_warn("cpu backend: %s", advice);
  seal_backend *be = seal_calloc(1, sizeof *be);
  be->name = "cpu";
  be->act = SEAL_F32;
  be->ops = &seal_cpu_ops;
  return be;
}
