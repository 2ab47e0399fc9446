/* kernels/cuda/elementwise.cu — row-local and elementwise ops: fill, dtype
 * conversion, embedding lookup, add, SwiGLU (+backward), rotary embedding and
 * the KV-cache write. Each thread reads all of an element's inputs before it
 * writes, so outputs may alias inputs where the contract allows it. */
#include "kernels/cuda/common.cuh"

#define THREADS 256

/* ---- fill and conversion --------------------------------------------------- */

template <typename T>
__global__ void fill_kernel(T *dst, T value, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x)
    dst[i] = value;
}

void seal_cuda_fill(seal_backend *be, void *dst, seal_dtype type, float value, size_t n) {
  if (n == 0) return;
  cudaStream_t s = seal_cuda_stream_of(be);
  unsigned blocks = seal_cuda_blocks(n, THREADS);
  switch (type) {
    case SEAL_F32:
      fill_kernel<float><<<blocks, THREADS, 0, s>>>((float *)dst, value, n);
      break;
    case SEAL_BF16:
      fill_kernel<bf16><<<blocks, THREADS, 0, s>>>((bf16 *)dst, __float2bfloat16(value), n);
      break;
    case SEAL_I32:
      fill_kernel<int32_t><<<blocks, THREADS, 0, s>>>((int32_t *)dst, (int32_t)value, n);
      break;
    default:
      SEAL_DIE("cuda fill: unknown dtype %d", (int)type);
  }
  CUDA_CHECK_LAUNCH("fill_kernel");
}

template <typename D, typename S>
__global__ void convert_kernel(D *dst, const S *src, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x)
    seal_st(dst + i, seal_ld(src + i));
}

void seal_cuda_f32_to_bf16(seal_backend *be, bf16 *dst, const float *src, size_t n) {
  if (n == 0) return;
  convert_kernel<bf16, float>
      <<<seal_cuda_blocks(n, THREADS), THREADS, 0, seal_cuda_stream_of(be)>>>(dst, src, n);
  CUDA_CHECK_LAUNCH("convert_kernel<bf16,float>");
}

void seal_cuda_bf16_to_f32(seal_backend *be, float *dst, const bf16 *src, size_t n) {
  if (n == 0) return;
  convert_kernel<float, bf16>
      <<<seal_cuda_blocks(n, THREADS), THREADS, 0, seal_cuda_stream_of(be)>>>(dst, src, n);
  CUDA_CHECK_LAUNCH("convert_kernel<float,bf16>");
}

/* ---- embedding ------------------------------------------------------------- */

/* One block per token row: out[n, :] = table[ids[n], :]. A negative id (a bug
 * upstream) is refused as on the CPU backend: recorded as a fault (the process
 * dies at the next synchronising call), its row left NaN meanwhile. */
__global__ void embedding_kernel(bf16 *out, const int32_t *ids, const bf16 *table, int C,
                                 seal_cuda_fault *fault) {
  int n = blockIdx.x;
  int id = ids[n];
  bf16 *o = out + (size_t)n * C;
  if (id < 0) {
    if (threadIdx.x == 0) seal_fault(fault, SEAL_FAULT_EMBEDDING_ID, id, n, 0, 0);
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = __float2bfloat16(NAN);
    return;
  }
  const bf16 *row = table + (size_t)id * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = row[c];
}

void seal_cuda_embedding(seal_backend *be, void *out, const int32_t *ids, const void *table, int N,
                         int C) {
  if (N <= 0) return;
  embedding_kernel<<<N, THREADS, 0, seal_cuda_stream_of(be)>>>(
      (bf16 *)out, ids, (const bf16 *)table, C, seal_cuda_fault_of(be));
  CUDA_CHECK_LAUNCH("embedding_kernel");
}

/* ---- add, SwiGLU ------------------------------------------------------------ */

__global__ void add_kernel(bf16 *out, const bf16 *a, const bf16 *b, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x)
    out[i] = __float2bfloat16(__bfloat162float(a[i]) + __bfloat162float(b[i]));
}

void seal_cuda_add(seal_backend *be, void *out, const void *a, const void *b, size_t n) {
  if (n == 0) return;
  add_kernel<<<seal_cuda_blocks(n, THREADS), THREADS, 0, seal_cuda_stream_of(be)>>>(
      (bf16 *)out, (const bf16 *)a, (const bf16 *)b, n);
  CUDA_CHECK_LAUNCH("add_kernel");
}

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

__global__ void swiglu_kernel(bf16 *out, const bf16 *gate, const bf16 *up, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    float g = __bfloat162float(gate[i]), u = __bfloat162float(up[i]);
    out[i] = __float2bfloat16(g * sigmoid(g) * u);
  }
}

void seal_cuda_swiglu(seal_backend *be, void *out, const void *gate, const void *up, size_t n) {
  if (n == 0) return;
  swiglu_kernel<<<seal_cuda_blocks(n, THREADS), THREADS, 0, seal_cuda_stream_of(be)>>>(
      (bf16 *)out, (const bf16 *)gate, (const bf16 *)up, n);
  CUDA_CHECK_LAUNCH("swiglu_kernel");
}

/* d silu(g)/dg = s + g s (1 - s), s = sigmoid(g). */
__global__ void swiglu_backward_kernel(bf16 *dgate, bf16 *dup, const bf16 *dout, const bf16 *gate,
                                       const bf16 *up, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    float g = __bfloat162float(gate[i]), u = __bfloat162float(up[i]);
    float d = __bfloat162float(dout[i]);
    float s = sigmoid(g);
    dgate[i] = __float2bfloat16(d * u * s * (1.0f + g * (1.0f - s)));
    dup[i] = __float2bfloat16(d * g * s);
  }
}

void seal_cuda_swiglu_backward(seal_backend *be, void *dgate, void *dup, const void *dout,
                               const void *gate, const void *up, size_t n) {
  if (n == 0) return;
  swiglu_backward_kernel<<<seal_cuda_blocks(n, THREADS), THREADS, 0, seal_cuda_stream_of(be)>>>(
      (bf16 *)dgate, (bf16 *)dup, (const bf16 *)dout, (const bf16 *)gate, (const bf16 *)up, n);
  CUDA_CHECK_LAUNCH("swiglu_backward_kernel");
}

/* ---- rotary embedding ------------------------------------------------------- */

/* One block per token row n; thread j of the half dimension takes the angle
 * pos[n] * inv_freq[j] (formed in float32, as Hugging Face and the CPU backend
 * do; cos/sin in full precision) and rotates pair (j, j + D/2) of every head. */
__global__ void rope_kernel(bf16 *x, const int32_t *pos, const float *inv_freq, int H, int D,
                            float direction) {
  int n = blockIdx.x, half = D / 2;
  bf16 *row = x + (size_t)n * H * D;
  float p = (float)pos[n];
  for (int j = threadIdx.x; j < half; j += blockDim.x) {
    float angle = p * inv_freq[j];
    float c = (float)cos((double)angle);
    float s = (float)sin((double)angle) * direction;
    for (int h = 0; h < H; h++) {
      bf16 *x1 = row + (size_t)h * D + j, *x2 = x1 + half;
      float a = __bfloat162float(*x1), b = __bfloat162float(*x2);
      *x1 = __float2bfloat16(a * c - b * s);
      *x2 = __float2bfloat16(b * c + a * s);
    }
  }
}

void seal_cuda_rope(seal_backend *be, void *x, const int32_t *pos, const float *inv_freq, int N,
                    int H, int D, int direction) {
  SEAL_CHECK(D % 2 == 0, "rope: head dimension %d is odd", D);
  SEAL_CHECK(direction == 1 || direction == -1, "rope: direction %d is not +1 or -1", direction);
  if (N <= 0) return;
  int threads = D / 2 < 128 ? 64 : 128;
  rope_kernel<<<N, threads, 0, seal_cuda_stream_of(be)>>>((bf16 *)x, pos, inv_freq, H, D,
                                                          (float)direction);
  CUDA_CHECK_LAUNCH("rope_kernel");
}

/* ---- KV-cache write ----------------------------------------------------------- */

/* One block per source row (b, t): cache[b, q_pos[b] + t, :] = src[b, t, :].
 * A batch that would write outside the cache is refused as on the CPU backend
 * (a fault, reported at the next synchronising call); nothing of it is
 * written, so the memory stays safe. */
__global__ void kv_write_kernel(bf16 *cache, const bf16 *src, const int32_t *q_pos, int Tq,
                                int Tmax, int W, seal_cuda_fault *fault) {
  int b = blockIdx.x / Tq, t = blockIdx.x % Tq;
  int p = q_pos[b], dst_t = p + t;
  if (p < 0 || p + Tq > Tmax) {
    if (t == 0 && threadIdx.x == 0) seal_fault(fault, SEAL_FAULT_KV_WRITE, b, p, Tq, Tmax);
    return;
  }
  const bf16 *s = src + ((size_t)b * Tq + t) * W;
  bf16 *d = cache + ((size_t)b * Tmax + dst_t) * W;
  for (int c = threadIdx.x; c < W; c += blockDim.x) d[c] = s[c];
}

void seal_cuda_kv_write(seal_backend *be, void *cache, const void *src, const int32_t *q_pos, int B,
                        int Tq, int Tmax, int W) {
  if (B <= 0 || Tq <= 0) return;
  kv_write_kernel<<<B * Tq, THREADS, 0, seal_cuda_stream_of(be)>>>(
      (bf16 *)cache, (const bf16 *)src, q_pos, Tq, Tmax, W, seal_cuda_fault_of(be));
  CUDA_CHECK_LAUNCH("kv_write_kernel");
}
