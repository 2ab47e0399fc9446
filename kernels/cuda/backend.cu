/* kernels/cuda/backend.cu — the CUDA backend's state, memory ops and ops
 * table: one device, one stream, one cuBLASLt handle with its workspace, a
 * growable device scratch and a little pinned host memory for results. */
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/common.cuh"

/* cuBLASLt's workspace: 32 MiB is what NVIDIA recommends for Hopper. */
#define WORKSPACE_BYTES ((size_t)32 << 20)
/* Host<->device conversions go through device scratch in chunks of this many
 * elements, so loading a 2 GB embedding needs no 2 GB staging buffer. */
#define STAGE_ELEMS ((size_t)8 << 20)

extern "C" int seal_cuda_device_count(void) {
  int n = 0;
  /* No driver or no device is an answer (zero), not a failure. */
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError(); /* clear the sticky error the failed query left */
    return 0;
  }
  return n;
}

extern "C" cudaStream_t seal_cuda_stream(const seal_backend *be) {
  /* through a profiler to the backend itself, whose ctx this is */
  const seal_backend *base = be ? seal_backend_base((seal_backend *)be) : NULL;
  SEAL_CHECK(base && base->name && !strcmp(base->name, "cuda"),
             "seal_cuda_stream: not a cuda backend");
  return ((const seal_cuda_ctx *)base->ctx)->stream;
}

/* *buf of at least `bytes` device memory, doubling from 1 MiB. */
static void *grow_device(seal_cuda_ctx *ctx, void **buf, size_t *have, size_t bytes) {
  if (bytes <= *have) return *buf;
  size_t want = *have ? *have : ((size_t)1 << 20);
  while (want < bytes) want *= 2;
  /* Queued kernels may still read the old buffer. */
  CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
  if (*buf) CUDA_CHECK(cudaFree(*buf));
  CUDA_CHECK(cudaMalloc(buf, want));
  *have = want;
  ctx->scratch_generation++; /* graphs that address the old buffer are stale */
  return *buf;
}

void *seal_cuda_scratch(seal_backend *be, size_t bytes) {
  seal_cuda_ctx *ctx = seal_cuda_ctx_of(be);
  return grow_device(ctx, &ctx->scratch, &ctx->scratch_bytes, bytes);
}

void *seal_cuda_rows_scratch(seal_backend *be, size_t bytes) {
  seal_cuda_ctx *ctx = seal_cuda_ctx_of(be);
  return grow_device(ctx, &ctx->rows, &ctx->rows_bytes, bytes);
}

extern "C" unsigned seal_cuda_scratch_generation(const seal_backend *be) {
  const seal_backend *base = seal_backend_base((seal_backend *)be);
  return ((const seal_cuda_ctx *)base->ctx)->scratch_generation;
}

void *seal_cuda_pinned(seal_backend *be, size_t bytes) {
  seal_cuda_ctx *ctx = seal_cuda_ctx_of(be);
  if (bytes <= ctx->pinned_bytes) return ctx->pinned;
  size_t want = ctx->pinned_bytes ? ctx->pinned_bytes : 4096;
  while (want < bytes) want *= 2;
  CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
  if (ctx->pinned) CUDA_CHECK(cudaFreeHost(ctx->pinned));
  CUDA_CHECK(cudaMallocHost(&ctx->pinned, want));
  ctx->pinned_bytes = want;
  return ctx->pinned;
}

void seal_cuda_sync(seal_backend *be) {
  seal_cuda_ctx *ctx = seal_cuda_ctx_of(be);
  CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
  const volatile seal_cuda_fault *f = ctx->fault;
  if (f->code == SEAL_FAULT_NONE) return;
  int a = f->a, b = f->b, c = f->c, d = f->d;
  /* The CPU backend's messages (kernels/cpu/), so both refuse alike. */
  switch (f->code) {
    case SEAL_FAULT_ATTENTION_QPOS:
      SEAL_DIE("attention: batch %d has queries at positions %d..%d beyond %d keys", a, b,
               b + c - 1, d);
    case SEAL_FAULT_EMBEDDING_ID:
      SEAL_DIE("embedding: token id %d at row %d is negative", a, b);
    case SEAL_FAULT_KV_WRITE:
      SEAL_DIE("kv_write: batch %d writes positions %d..%d outside the cache of %d", a, b,
               b + c - 1, d);
    case SEAL_FAULT_TARGET:
      SEAL_DIE("cross_entropy: target %d at row %d is outside 0..%d", a, b, c - 1);
    case SEAL_FAULT_SEQ_START:
      SEAL_DIE(
          "attention_varlen: sequence %d has %d rows (seq_start %d..%d), expected 0..%d "
          "(max_len)",
          a, c - b, b, c, d);
    default:
      SEAL_DIE("cuda backend: a kernel recorded fault %d (%d, %d, %d, %d)", f->code, a, b, c, d);
  }
}

/* A slot of the pinned ring holding at least `bytes`, free to overwrite. */
static seal_cuda_stage *stage_slot(seal_cuda_ctx *ctx, size_t bytes) {
  seal_cuda_stage *st = &ctx->stage[ctx->stage_next];
  ctx->stage_next = (ctx->stage_next + 1) % SEAL_CUDA_STAGE_SLOTS;
  /* The copy queued from this slot SLOTS uploads ago: long done in practice. */
  if (st->pending) CUDA_CHECK(cudaEventSynchronize(st->done));
  st->pending = 0;
  if (bytes > st->bytes) {
    size_t want = st->bytes ? st->bytes : 4096;
    while (want < bytes) want *= 2;
    if (st->host) CUDA_CHECK(cudaFreeHost(st->host));
    CUDA_CHECK(cudaMallocHost(&st->host, want));
    st->bytes = want;
  }
  return st;
}

void seal_cuda_upload(seal_backend *be, void *dst, const void *src, size_t bytes) {
  seal_cuda_ctx *ctx = seal_cuda_ctx_of(be);
  if (bytes == 0) return;
  if (bytes > SEAL_CUDA_STAGE_MAX) { /* bulk loads (weights): pageable is fine */
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx->stream));
    return;
  }
  seal_cuda_stage *st = stage_slot(ctx, bytes);
  memcpy(st->host, src, bytes);
  CUDA_CHECK(cudaMemcpyAsync(dst, st->host, bytes, cudaMemcpyHostToDevice, ctx->stream));
  CUDA_CHECK(cudaEventRecord(st->done, ctx->stream));
  st->pending = 1;
}

/* ---- memory ---------------------------------------------------------------- */

void *seal_cuda_alloc(seal_backend *be, size_t bytes) {
  (void)be;
  void *p = NULL;
  cudaError_t err = cudaMalloc(&p, bytes ? bytes : 256);
  if (err != cudaSuccess)
    SEAL_DIE("cuda backend: cudaMalloc of %zu bytes failed: %s (%s)", bytes, cudaGetErrorName(err),
             cudaGetErrorString(err));
  return p;
}

void seal_cuda_free(seal_backend *be, void *p) {
  (void)be;
  if (p) CUDA_CHECK(cudaFree(p)); /* cudaFree waits for the device: no use-after-free */
}

/* Host float32 -> device dtype, through seal_cuda_upload (the caller may
 * reuse src at once). bf16 goes through float scratch and a conversion kernel. */
void seal_cuda_to_device(seal_backend *be, void *dst, seal_dtype t, const float *src, size_t n) {
  if (t == SEAL_F32) {
    seal_cuda_upload(be, dst, src, n * sizeof(float));
    return;
  }
  SEAL_CHECK(t == SEAL_BF16, "cuda to_device: dtype %d is not f32 or bf16 (use to_device_i32)",
             (int)t);
  size_t chunk = n < STAGE_ELEMS ? n : STAGE_ELEMS;
  float *stage = (float *)seal_cuda_scratch(be, (chunk ? chunk : 1) * sizeof(float));
  for (size_t off = 0; off < n; off += chunk) {
    size_t m = n - off < chunk ? n - off : chunk;
    seal_cuda_upload(be, stage, src + off, m * sizeof(float));
    seal_cuda_f32_to_bf16(be, (bf16 *)dst + off, stage, m);
  }
}

/* Device dtype -> host float32; synchronises. */
void seal_cuda_to_host(seal_backend *be, float *dst, const void *src, seal_dtype t, size_t n) {
  cudaStream_t s = seal_cuda_stream_of(be);
  if (t == SEAL_F32) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, s));
    seal_cuda_sync(be);
    return;
  }
  SEAL_CHECK(t == SEAL_BF16, "cuda to_host: dtype %d is not f32 or bf16 (use to_host_i32)", (int)t);
  size_t chunk = n < STAGE_ELEMS ? n : STAGE_ELEMS;
  float *stage = (float *)seal_cuda_scratch(be, (chunk ? chunk : 1) * sizeof(float));
  for (size_t off = 0; off < n; off += chunk) {
    size_t m = n - off < chunk ? n - off : chunk;
    seal_cuda_bf16_to_f32(be, stage, (const bf16 *)src + off, m);
    CUDA_CHECK(cudaMemcpyAsync(dst + off, stage, m * sizeof(float), cudaMemcpyDeviceToHost, s));
  }
  seal_cuda_sync(be);
}

void seal_cuda_to_device_i32(seal_backend *be, int32_t *dst, const int32_t *src, size_t n) {
  seal_cuda_upload(be, dst, src, n * sizeof(int32_t));
}

void seal_cuda_to_host_i32(seal_backend *be, int32_t *dst, const int32_t *src, size_t n) {
  cudaStream_t s = seal_cuda_stream_of(be);
  CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(int32_t), cudaMemcpyDeviceToHost, s));
  seal_cuda_sync(be);
}

void seal_cuda_copy(seal_backend *be, void *dst, const void *src, size_t bytes) {
  if (dst == src || bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, seal_cuda_stream_of(be)));
}

void seal_cuda_synchronize(seal_backend *be) { seal_cuda_sync(be); }

void seal_cuda_destroy(seal_backend *be) {
  if (!be) return;
  seal_cuda_ctx *ctx = seal_cuda_ctx_of(be);
  seal_cuda_sync(be); /* a fault still pending is reported, not lost */
  seal_cuda_gemm_cache_free(ctx);
  if (ctx->scratch) CUDA_CHECK(cudaFree(ctx->scratch));
  if (ctx->rows) CUDA_CHECK(cudaFree(ctx->rows));
  if (ctx->pinned) CUDA_CHECK(cudaFreeHost(ctx->pinned));
  for (int i = 0; i < SEAL_CUDA_STAGE_SLOTS; i++) {
    if (ctx->stage[i].host) CUDA_CHECK(cudaFreeHost(ctx->stage[i].host));
    CUDA_CHECK(cudaEventDestroy(ctx->stage[i].done));
  }
  CUDA_CHECK(cudaFreeHost(ctx->fault));
  CUDA_CHECK(cudaFree(ctx->workspace));
  CUBLAS_CHECK(cublasLtDestroy(ctx->lt));
  CUDA_CHECK(cudaStreamDestroy(ctx->stream));
  free(ctx);
  free(be);
}

void seal_cuda_bind_thread(seal_backend *be) {
  CUDA_CHECK(cudaSetDevice(((seal_cuda_ctx *)be->ctx)->device));
}

/* Whether environment variable `name` is set to `value` (the backend's
 * switches back to its checked first kernels, for A/B runs and the lab). */
static int env_is(const char *name, const char *value) {
  const char *v = getenv(name);
  return v && !strcmp(v, value);
}

/* Every op of SEAL_OPS, in its order (C++17 has no designated initialisers, so
 * the table is filled member by member). */
static seal_ops make_cuda_ops(void) {
  seal_ops o;
  memset(&o, 0, sizeof o);
#define CUDA_OP_ENTRY(ret, name, params, args) o.name = seal_cuda_##name;
  SEAL_OPS(CUDA_OP_ENTRY)
#undef CUDA_OP_ENTRY
  return o;
}
static const seal_ops cuda_ops = make_cuda_ops();

extern "C" seal_backend *seal_cuda_backend_create(int device, seal_error *e) {
  int count = seal_cuda_device_count();
  if (count <= 0) {
    seal_errorf(e, "backend 'cuda' is not available: no CUDA device is visible");
    return NULL;
  }
  if (device < 0 || device >= count) {
    seal_errorf(e, "backend 'cuda': device %d does not exist (%d visible)", device, count);
    return NULL;
  }
  CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  if (prop.major < 8) {
    seal_errorf(e, "backend 'cuda': device %d (%s) has compute capability %d.%d; bf16 needs 8.0+",
                device, prop.name, prop.major, prop.minor);
    return NULL;
  }
  seal_cuda_ctx *ctx = (seal_cuda_ctx *)seal_calloc(1, sizeof *ctx);
  ctx->device = device;
  ctx->sm_count = prop.multiProcessorCount;
  ctx->smem_optin = prop.sharedMemPerBlockOptin;
  /* A blocking stream (not cudaStreamNonBlocking): work on the legacy default
   * stream, such as a plain cudaMemcpy elsewhere in the program, stays ordered
   * with this backend's ops. */
  CUDA_CHECK(cudaStreamCreate(&ctx->stream));
  CUBLAS_CHECK(cublasLtCreate(&ctx->lt));
  ctx->workspace_bytes = WORKSPACE_BYTES;
  CUDA_CHECK(cudaMalloc(&ctx->workspace, ctx->workspace_bytes));
  CUDA_CHECK(cudaHostAlloc((void **)&ctx->fault, sizeof *ctx->fault, cudaHostAllocMapped));
  memset(ctx->fault, 0, sizeof *ctx->fault);
  CUDA_CHECK(cudaHostGetDevicePointer((void **)&ctx->fault_dev, ctx->fault, 0));
  for (int i = 0; i < SEAL_CUDA_STAGE_SLOTS; i++)
    CUDA_CHECK(cudaEventCreateWithFlags(&ctx->stage[i].done, cudaEventDisableTiming));
  ctx->attention_reference = env_is("SEAL_CUDA_ATTENTION", "reference");
  ctx->lora_tiled = env_is("SEAL_CUDA_LORA", "tiled");
  ctx->gemm_tiled = env_is("SEAL_CUDA_GEMM", "tiled");

  seal_backend *be = (seal_backend *)seal_calloc(1, sizeof *be);
  be->name = "cuda";
  be->act = SEAL_BF16;
  be->weight = SEAL_BF16;
  be->ops = &cuda_ops;
  be->ctx = ctx;
  seal_cuda_attention_init(be);
  seal_debug("cuda backend: device %d %s, %d SMs, %zu KiB shared memory per block%s%s%s", device,
             prop.name, ctx->sm_count, ctx->smem_optin >> 10,
             ctx->attention_reference ? ", reference attention" : "",
             ctx->lora_tiled ? ", tiled LoRA" : "", ctx->gemm_tiled ? ", tiled GEMM" : "");
  return be;
}
