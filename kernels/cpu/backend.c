/* kernels/cpu/backend.c — the CPU backend: host memory, float32 activations,
 * float32, bfloat16 ("cpu:bf16"), int8 ("cpu:q8") or 4-bit ("cpu:q4") base
 * matrices; its memory
 * ops and its table of every op. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/blas_info.h"
#include "kernels/cpu/cpu.h"
#include "util/bf16.h"

void *seal_cpu_alloc(seal_backend *be, size_t bytes) {
  (void)be;
  /* 64-byte alignment for vector loads; round the size up as aligned_alloc wants. */
  size_t n = (bytes + 63) & ~(size_t)63;
  void *p = aligned_alloc(64, n ? n : 64);
  if (!p) SEAL_DIE("cpu backend: out of memory allocating %zu bytes", bytes);
  seal_cpu_shadows_forget(be, p, n); /* new memory where a matrix was: its shadow is stale */
  return p;
}

void seal_cpu_free(seal_backend *be, void *p) {
  /* a shadow of a matrix in the buffer goes with it (malloc_usable_size: glibc's, the buffer's
   * extent) */
  if (p) seal_cpu_shadows_forget(be, p, malloc_usable_size(p));
  free(p);
}

/* The dtypes this backend stores: float32, and bfloat16, Q8 or Q4 for base matrices. */
static void check_float_type(seal_dtype t) {
  SEAL_CHECK(t == SEAL_F32 || t == SEAL_BF16 || t == SEAL_Q8 || t == SEAL_Q4,
             "cpu backend stores float32, bfloat16, q8 and q4 only (asked for dtype %d)", (int)t);
}

void seal_cpu_to_device(seal_backend *be, void *dst, seal_dtype t, const float *src, size_t n) {
  check_float_type(t);
  seal_cpu_shadows_forget(be, dst, seal_matrix_bytes(t, 1, n));
  if (t == SEAL_F32) {
    memcpy(dst, src, n * sizeof(float));
    return;
  }
  if (t == SEAL_Q8) {
    seal_cpu_q8_quantize(dst, src, n);
    return;
  }
  if (t == SEAL_Q4) {
    seal_cpu_q4_quantize(dst, src, n);
    return;
  }
  uint16_t *d = dst; /* [n] */
#pragma omp parallel for schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t i = 0; i < n; i++) d[i] = seal_f32_to_bf16(src[i]);
}

void seal_cpu_to_host(seal_backend *be, float *dst, const void *src, seal_dtype t, size_t n) {
  (void)be;
  check_float_type(t);
  if (t == SEAL_F32) {
    memcpy(dst, src, n * sizeof(float));
    return;
  }
  if (t == SEAL_Q8) {
    seal_cpu_q8_dequantize(dst, src, n);
    return;
  }
  if (t == SEAL_Q4) {
    seal_cpu_q4_dequantize(dst, src, n);
    return;
  }
  seal_cpu_bf16_to_f32(dst, src, n);
}

void seal_cpu_to_device_i32(seal_backend *be, int32_t *dst, const int32_t *src, size_t n) {
  seal_cpu_shadows_forget(be, dst, n * sizeof(int32_t));
  memcpy(dst, src, n * sizeof(int32_t));
}

void seal_cpu_to_host_i32(seal_backend *be, int32_t *dst, const int32_t *src, size_t n) {
  (void)be;
  memcpy(dst, src, n * sizeof(int32_t));
}

void seal_cpu_copy(seal_backend *be, void *dst, const void *src, size_t bytes) {
  seal_cpu_shadows_forget(be, dst, bytes);
  memmove(dst, src, bytes);
}

void seal_cpu_fill(seal_backend *be, void *dst, seal_dtype t, float value, size_t n) {
  if (t == SEAL_I32) {
    seal_cpu_shadows_forget(be, dst, n * sizeof(int32_t));
    int32_t *d = dst;
    for (size_t i = 0; i < n; i++) d[i] = (int32_t)value;
    return;
  }
  check_float_type(t);
  seal_cpu_shadows_forget(be, dst, seal_matrix_bytes(t, 1, n));
  if (t == SEAL_Q8) {
    seal_cpu_q8_fill(dst, value, n);
    return;
  }
  if (t == SEAL_Q4) {
    seal_cpu_q4_fill(dst, value, n);
    return;
  }
  if (t == SEAL_BF16) {
    uint16_t *d = dst, b = seal_f32_to_bf16(value);
    for (size_t i = 0; i < n; i++) d[i] = b;
    return;
  }
  float *d = dst;
  for (size_t i = 0; i < n; i++) d[i] = value;
}

void seal_cpu_synchronize(seal_backend *be) { (void)be; }

void seal_cpu_destroy(seal_backend *be) {
  seal_cpu_state *st = be->ctx;
  seal_cpu_rope_table_free(&st->rope);
  seal_cpu_shadows_free(&st->shadows);
  free(st);
  free(be);
}

void seal_cpu_bind_thread(seal_backend *be) { (void)be; }

/* Every op of SEAL_OPS, in its order. */
const seal_ops seal_cpu_ops = {
#define CPU_OP_ENTRY(ret, name, params, args) .name = seal_cpu_##name,
    SEAL_OPS(CPU_OP_ENTRY)
#undef CPU_OP_ENTRY
};

seal_backend *seal_cpu_backend_create(seal_dtype weight, seal_error *e) {
  if (weight != SEAL_F32 && weight != SEAL_BF16 && weight != SEAL_Q8 && weight != SEAL_Q4) {
    seal_errorf(e,
                "cpu backend: base matrices are float32, bfloat16, q8 or q4 (asked for dtype %d)",
                (int)weight);
    return NULL;
  }
  char advice[320];
  if (seal_cpu_blas_use_best_core(advice, sizeof advice))
    seal_info("cpu backend: %s", advice);
  else if (seal_cpu_blas_runs_generic(advice, sizeof advice))
    seal_warn("cpu backend: %s", advice);
  seal_backend *be = seal_calloc(1, sizeof *be);
  be->name = "cpu";
  be->act = SEAL_F32;
  be->weight = weight;
  be->ops = &seal_cpu_ops;
  seal_cpu_state *st = seal_calloc(1, sizeof *st);
  seal_cpu_shadows_init(&st->shadows);
  be->ctx = st;
  return be;
}
