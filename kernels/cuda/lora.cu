/* kernels/cuda/lora.cu — LoRA forward, backward and merge: float parameters
 * and gradients against bf16 activations. The shapes are thin (r is 8..64).
 *
 * Three paths, by shape:
 * - a few rows (N <= THIN_ROWS: decoding, short prompts), forward: two
 *   float CUDA-core kernels over the whole GPU, f32 operands exactly as on
 *   the CPU (h[n, j] by one block per j; out by one warp per output column);
 * - everything else: cuBLASLt with bf16 operands and float accumulation, as
 *   torch.autocast runs PEFT's products: the f32 parameters (and h, dh) are
 *   rounded to bf16 into scratch by one conversion launch, the products run
 *   on the tensor cores with split-K where cuBLASLt picks it, f32 results
 *   stay f32 (h, dh, dA, dB) and bf16 ones are rounded once (out, dx, W);
 * - SEAL_CUDA_LORA=tiled, or a product cuBLASLt has no algorithm for: the
 *   float tiled GEMM (gemm.cu) on the f32 operands, the first version, kept as
 *   the checked fallback. */
#include <string.h>

#include "kernels/cuda/common.cuh"

#define THIN_ROWS 16
#define THREADS 256

/* Row-major operand helpers for the tiled GEMM: element (i, j) of the named
 * logical matrix. */
static seal_cuda_operand rows(const void *p, seal_dtype t, long ld) { return {p, t, ld, 1}; }
static seal_cuda_operand transposed(const void *p, seal_dtype t, long ld) { return {p, t, 1, ld}; }

/* ---- f32 -> bf16 staging of the thin operands --------------------------------- */

/* Up to three ranges converted in one launch. */
struct convert_set {
  const float *src[3];
  bf16 *dst[3];
  size_t n[3];
};

__global__ void convert_set_kernel(convert_set s) {
  for (int r = 0; r < 3; r++)
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < s.n[r];
         i += (size_t)gridDim.x * blockDim.x)
      s.dst[r][i] = __float2bfloat16(s.src[r][i]);
}

/* Carves consecutive bf16 buffers of n[i] elements from the scratch (each
 * 256-byte aligned, for cuBLASLt's vector loads), one scratch call for all. */
static void bf16_scratch(seal_backend *be, int count, const size_t *n, bf16 **out) {
  size_t off[3], total = 0;
  for (int i = 0; i < count; i++) {
    off[i] = total;
    total += (n[i] * sizeof(bf16) + 255) & ~(size_t)255;
  }
  char *base = (char *)seal_cuda_scratch(be, total ? total : 256);
  for (int i = 0; i < count; i++) out[i] = (bf16 *)(base + off[i]);
}

/* dst[i][n[i]] = bf16(src[i]) for the first `count` ranges, one launch. */
static void to_bf16(seal_backend *be, int count, const float *const *src, bf16 *const *dst,
                    const size_t *n) {
  convert_set s;
  memset(&s, 0, sizeof s);
  size_t most = 0;
  for (int i = 0; i < count; i++) {
    s.src[i] = src[i], s.dst[i] = dst[i], s.n[i] = n[i];
    if (n[i] > most) most = n[i];
  }
  if (most == 0) return;
  convert_set_kernel<<<seal_cuda_blocks(most, THREADS), THREADS, 0, seal_cuda_stream_of(be)>>>(s);
  CUDA_CHECK_LAUNCH("convert_set_kernel");
}

/* ---- the few-rows forward --------------------------------------------------------- */

/* h[n, j] = x[n, :] . A[j, :] for n < N <= THIN_ROWS: block j, threads over I. */
__global__ void __launch_bounds__(THREADS)
    lora_h_thin_kernel(float *h, const bf16 *x, const float *A, int N, int I, int r) {
  int j = blockIdx.x;
  const float *a = A + (size_t)j * I;
  float acc[THIN_ROWS];
#pragma unroll
  for (int n = 0; n < THIN_ROWS; n++) acc[n] = 0.0f;
  for (int i = threadIdx.x; i < I; i += blockDim.x) {
    float ai = a[i];
#pragma unroll
    for (int n = 0; n < THIN_ROWS; n++)
      if (n < N) acc[n] += __bfloat162float(x[(size_t)n * I + i]) * ai;
  }
#pragma unroll
  for (int n = 0; n < THIN_ROWS; n++) {
    if (n >= N) break; /* block-uniform */
    float s = seal_block_sum(acc[n]);
    if (threadIdx.x == 0) h[(size_t)n * r + j] = s;
  }
}

/* out[n, o] += scale h[n, :] . B[o, :]: one warp per column o, lanes over r
 * (r <= 64), h staged in shared memory. */
__global__ void __launch_bounds__(THREADS)
    lora_out_thin_kernel(bf16 *out, const float *h, const float *B, int N, int O, int r,
                         float scale) {
  __shared__ float hs[THIN_ROWS * 64];
  for (int i = threadIdx.x; i < N * r; i += blockDim.x) hs[i] = h[i];
  __syncthreads();
  int lane = threadIdx.x % 32, warps = blockDim.x / 32;
  for (int o = blockIdx.x * warps + threadIdx.x / 32; o < O; o += gridDim.x * warps) {
    const float *b = B + (size_t)o * r;
    float b0 = lane < r ? b[lane] : 0.0f, b1 = lane + 32 < r ? b[lane + 32] : 0.0f;
    for (int n = 0; n < N; n++) {
      float s = b0 * (lane < r ? hs[n * r + lane] : 0.0f) +
                b1 * (lane + 32 < r ? hs[n * r + lane + 32] : 0.0f);
      s = seal_warp_sum(s);
      if (lane == 0) {
        bf16 *y = out + (size_t)n * O + o;
        *y = __float2bfloat16(__bfloat162float(*y) + scale * s);
      }
    }
  }
}

static void lora_forward_thin(seal_backend *be, void *out, float *h, const void *x, const float *A,
                              const float *B, int N, int I, int O, int r, float scale) {
  cudaStream_t s = seal_cuda_stream_of(be);
  lora_h_thin_kernel<<<r, THREADS, 0, s>>>(h, (const bf16 *)x, A, N, I, r);
  CUDA_CHECK_LAUNCH("lora_h_thin_kernel");
  unsigned blocks = (unsigned)((O + THREADS / 32 - 1) / (THREADS / 32));
  if (blocks > 4u * (unsigned)seal_cuda_ctx_of(be)->sm_count)
    blocks = 4u * (unsigned)seal_cuda_ctx_of(be)->sm_count;
  lora_out_thin_kernel<<<blocks, THREADS, 0, s>>>((bf16 *)out, h, B, N, O, r, scale);
  CUDA_CHECK_LAUNCH("lora_out_thin_kernel");
}

/* ---- one product, cuBLASLt first ---------------------------------------------------- */

/* Row-major C = alpha opA(A) opB(B) + beta C with bf16 copies (Ab, Bb) for
 * cuBLASLt and the original operands (At, Bt, any dtype) for the tiled
 * fallback. */
struct product {
  int M, N, K;
  const void *Ab, *At;
  seal_dtype at;
  long lda;
  int ta;
  const void *Bb, *Bt;
  seal_dtype bt;
  long ldb;
  int tb;
  void *C;
  seal_dtype ct;
  long ldc;
  float alpha, beta;
};

static void run_product(seal_backend *be, const product &p, bool lt) {
  if (lt && seal_cuda_gemm_rm(be, p.M, p.N, p.K, p.Ab, p.lda, p.ta, p.Bb, p.ldb, p.tb, SEAL_BF16,
                              p.C, p.ldc, p.ct, p.alpha, p.beta))
    return;
  seal_cuda_operand A = p.ta ? transposed(p.At, p.at, p.lda) : rows(p.At, p.at, p.lda);
  seal_cuda_operand B = p.tb ? transposed(p.Bt, p.bt, p.ldb) : rows(p.Bt, p.bt, p.ldb);
  seal_cuda_gemm_tiled(be, p.C, p.ct, p.ldc, A, B, p.M, p.N, p.K, p.alpha, p.beta);
}

static bool use_lt(seal_backend *be) { return !seal_cuda_ctx_of(be)->lora_tiled; }

/* ---- the ops ------------------------------------------------------------------------ */

/* h[N,r] f32 = x[N,I] A[r,I]^T;  out[N,O] act += scale h B[O,r]^T */
void seal_cuda_lora_forward(seal_backend *be, void *out, float *h, const void *x, const float *A,
                            const float *B, int N, int I, int O, int r, float scale) {
  if (N <= 0 || r <= 0) return;
  SEAL_CHECK(I > 0, "lora_forward: empty input dimension");
  bool lt = use_lt(be);
  if (lt && N <= THIN_ROWS && r <= 64) {
    lora_forward_thin(be, out, h, x, A, B, N, I, O, r, scale);
    return;
  }
  bf16 *bf[3] = {NULL, NULL, NULL}; /* A, B, h rounded to bf16 */
  if (lt) {
    size_t n[3] = {(size_t)r * I, (size_t)O * r, (size_t)N * r};
    bf16_scratch(be, 3, n, bf);
    const float *src[2] = {A, B};
    to_bf16(be, 2, src, bf, n);
  }
  run_product(
      be, {N, r, I, x, x, SEAL_BF16, I, 0, bf[0], A, SEAL_F32, I, 1, h, SEAL_F32, r, 1.0f, 0.0f},
      lt);
  if (lt) { /* h, the second product's operand, once the first wrote it */
    size_t n = (size_t)N * r;
    to_bf16(be, 1, &h, &bf[2], &n);
  }
  run_product(
      be,
      {N, O, r, bf[2], h, SEAL_F32, r, 0, bf[1], B, SEAL_F32, r, 1, out, SEAL_BF16, O, scale, 1.0f},
      lt);
}

/*   dB[O,r] += scale dout^T h        dh[N,r] = scale dout B
 *   dA[r,I] += dh^T x                dx[N,I] += dh A  (when dx is not NULL) */
void seal_cuda_lora_backward(seal_backend *be, void *dx, float *dA, float *dB, float *dh,
                             const void *dout, const void *x, const float *A, const float *B,
                             const float *h, int N, int I, int O, int r, float scale) {
  if (N <= 0 || r <= 0) return;
  bool lt = use_lt(be);
  /* bf16 copies: B and h first; A and dh once dh is written */
  bf16 *bf[4] = {NULL, NULL, NULL, NULL};
  if (lt) {
    size_t n[4] = {(size_t)O * r, (size_t)N * r, (size_t)r * I, (size_t)N * r};
    size_t first[3] = {n[0], n[1], n[2] + n[3] + 128}; /* A and dh share the third */
    bf16_scratch(be, 3, first, bf);
    bf[3] = bf[2] + ((n[2] + 127) & ~(size_t)127); /* 256-byte aligned after A */
    const float *src[3] = {B, h, A};
    bf16 *dst[3] = {bf[0], bf[1], bf[2]};
    to_bf16(be, 3, src, dst, n);
  }
  run_product(be,
              {O, r, N, dout, dout, SEAL_BF16, O, 1, bf[1], h, SEAL_F32, r, 0, dB, SEAL_F32, r,
               scale, 1.0f},
              lt);
  run_product(be,
              {N, r, O, dout, dout, SEAL_BF16, O, 0, bf[0], B, SEAL_F32, r, 0, dh, SEAL_F32, r,
               scale, 0.0f},
              lt);
  if (lt) {
    size_t n = (size_t)N * r;
    to_bf16(be, 1, &dh, &bf[3], &n);
  }
  run_product(
      be, {r, I, N, bf[3], dh, SEAL_F32, r, 1, x, x, SEAL_BF16, I, 0, dA, SEAL_F32, I, 1.0f, 1.0f},
      lt);
  if (dx)
    run_product(be,
                {N, I, r, bf[3], dh, SEAL_F32, r, 0, bf[2], A, SEAL_F32, I, 0, dx, SEAL_BF16, I,
                 1.0f, 1.0f},
                lt);
}

/* W[O,I] act += scale B[O,r] A[r,I] */
void seal_cuda_lora_merge(seal_backend *be, void *W, const float *A, const float *B, int O, int I,
                          int r, float scale) {
  if (O <= 0 || I <= 0 || r <= 0) return;
  bool lt = use_lt(be);
  bf16 *bf[2] = {NULL, NULL};
  if (lt) {
    size_t n[2] = {(size_t)O * r, (size_t)r * I};
    bf16_scratch(be, 2, n, bf);
    const float *src[2] = {B, A};
    to_bf16(be, 2, src, bf, n);
  }
  run_product(
      be,
      {O, I, r, bf[0], B, SEAL_F32, r, 0, bf[1], A, SEAL_F32, I, 0, W, SEAL_BF16, I, scale, 1.0f},
      lt);
}

/* ---- several adapters in one batch ------------------------------------------------ */

/* Each adapter's sequences become one product: in place when they sit next to
 * each other, else their rows are gathered into the rows scratch by one
 * kernel (the sequence list travels as a kernel argument: no upload, nothing
 * that would stop graph capture), run through the single-adapter op and
 * scattered back. Groups of more than GROUP_SEQS sequences run in chunks.
 * Sequences are packed rows of any length (seq_start, host). */
#define GROUP_SEQS 128

/* A chunk of one adapter's sequences: sequence seq[i] is rows start[i] ..
 * of the full tensor and rows off[i] .. off[i+1]-1 of the gathered one. */
struct seq_list {
  int n;
  int seq[GROUP_SEQS];
  int start[GROUP_SEQS];
  int off[GROUP_SEQS + 1];
};

/* Gathered row g of l: the sequence i with off[i] <= g < off[i+1]. */
__device__ __forceinline__ int chunk_seq_of(const seq_list &l, int g) {
  int lo = 0, hi = l.n - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (l.off[mid] <= g)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

/* dst = the rows of l's sequences of src, in order (gather), or the inverse
 * (scatter); rows of `units` 16-bit units (bf16 or half an f32). */
__global__ void move_blocks_kernel(uint16_t *dst, const uint16_t *src, seq_list l, size_t units,
                                   int scatter) {
  size_t total = (size_t)l.off[l.n] * units;
  for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < total;
       k += (size_t)gridDim.x * blockDim.x) {
    int g = (int)(k / units), i = chunk_seq_of(l, g);
    size_t far = ((size_t)l.start[i] + (g - l.off[i])) * units + k % units;
    if (scatter)
      dst[far] = src[k];
    else
      dst[k] = src[far];
  }
}

/* The rows of l's sequences, `bytes_per_row` each, between the full tensor
 * and its gathered copy. */
static void move_blocks(seal_backend *be, void *full, void *gathered, const seq_list &l,
                        size_t bytes_per_row, int scatter) {
  size_t units = bytes_per_row / 2, total = (size_t)l.off[l.n] * units;
  if (total == 0) return;
  uint16_t *dst = (uint16_t *)(scatter ? full : gathered);
  const uint16_t *src = (const uint16_t *)(scatter ? gathered : full);
  move_blocks_kernel<<<seal_cuda_blocks(total, THREADS), THREADS, 0, seal_cuda_stream_of(be)>>>(
      dst, src, l, units, scatter);
  CUDA_CHECK_LAUNCH("move_blocks_kernel");
}

/* The next chunk of adapter g's sequences from sequence *from on; false when
 * none is left. */
static bool next_chunk(const int *seq_group, const int *seq_start, int n_seq, int g, int *from,
                       seq_list *l) {
  l->n = 0;
  l->off[0] = 0;
  for (; *from < n_seq && l->n < GROUP_SEQS; (*from)++)
    if (seq_group[*from] == g) {
      int s = *from, i = l->n++;
      l->seq[i] = s;
      l->start[i] = seq_start[s];
      l->off[i + 1] = l->off[i] + seq_start[s + 1] - seq_start[s];
    }
  return l->n > 0;
}

static bool seen_before(const int *seq_group, int s) {
  for (int p = 0; p < s; p++)
    if (seq_group[p] == seq_group[s]) return true;
  return false;
}

static bool consecutive(const seq_list &l) { return l.seq[l.n - 1] - l.seq[0] == l.n - 1; }

/* Carves n consecutive 256-byte aligned pieces of bytes[i] from the rows scratch. */
static void rows_pieces(seal_backend *be, int n, const size_t *bytes, char **out) {
  size_t off[6], total = 0;
  for (int i = 0; i < n; i++) {
    off[i] = total;
    total += (bytes[i] + 255) & ~(size_t)255;
  }
  char *base = (char *)seal_cuda_rows_scratch(be, total ? total : 256);
  for (int i = 0; i < n; i++) out[i] = bytes[i] ? base + off[i] : NULL;
}

/* The shapes of a grouped call, for the per-chunk helpers. */
struct grouped_shape {
  int I, O, r;
  float scale;
};

static void forward_chunk(seal_backend *be, void *out, float *h, const void *x, const float *A,
                          const float *B, const seq_list &l, const grouped_shape &s) {
  size_t R = (size_t)l.off[l.n], s0 = (size_t)l.start[0];
  if (R == 0) return;
  if (consecutive(l)) {
    seal_cuda_lora_forward(be, (bf16 *)out + s0 * s.O, h + s0 * s.r, (const bf16 *)x + s0 * s.I, A,
                           B, (int)R, s.I, s.O, s.r, s.scale);
    return;
  }
  size_t row_x = (size_t)s.I * sizeof(bf16), row_o = (size_t)s.O * sizeof(bf16);
  size_t row_h = (size_t)s.r * sizeof(float), bytes[3] = {R * row_x, R * row_o, R * row_h};
  char *p[3];
  rows_pieces(be, 3, bytes, p);
  move_blocks(be, (void *)x, p[0], l, row_x, 0);
  move_blocks(be, out, p[1], l, row_o, 0);
  seal_cuda_lora_forward(be, p[1], (float *)p[2], p[0], A, B, (int)R, s.I, s.O, s.r, s.scale);
  move_blocks(be, out, p[1], l, row_o, 1);
  move_blocks(be, h, p[2], l, row_h, 1);
}

void seal_cuda_lora_forward_grouped(seal_backend *be, void *out, float *h, const void *x,
                                    const float *A, const float *B, size_t group_stride,
                                    const int *seq_group, const int *seq_start, int n_seq, int I,
                                    int O, int r, float scale) {
  if (n_seq <= 0 || r <= 0) return;
  grouped_shape sh = {I, O, r, scale};
  for (int s = 0; s < n_seq; s++) {
    int g = seq_group[s], from = s;
    if (g < 0 || seen_before(seq_group, s)) continue;
    seq_list l;
    while (next_chunk(seq_group, seq_start, n_seq, g, &from, &l))
      forward_chunk(be, out, h, x, A + (size_t)g * group_stride, B + (size_t)g * group_stride, l,
                    sh);
  }
}

/* One adapter's parameters and gradients. */
struct adapter_of {
  float *dA, *dB;
  const float *A, *B;
};

/* The backward's tensors for one call. */
struct grouped_bwd {
  void *dx;
  float *dh;
  const void *dout, *x;
  const float *h;
};

static void backward_chunk(seal_backend *be, const grouped_bwd &t, const adapter_of &ad,
                           const seq_list &l, const grouped_shape &s) {
  size_t R = (size_t)l.off[l.n], s0 = (size_t)l.start[0];
  if (R == 0) return;
  if (consecutive(l)) {
    seal_cuda_lora_backward(be, t.dx ? (bf16 *)t.dx + s0 * s.I : NULL, ad.dA, ad.dB,
                            t.dh + s0 * s.r, (const bf16 *)t.dout + s0 * s.O,
                            (const bf16 *)t.x + s0 * s.I, ad.A, ad.B, t.h + s0 * s.r, (int)R, s.I,
                            s.O, s.r, s.scale);
    return;
  }
  size_t row_x = (size_t)s.I * sizeof(bf16), row_o = (size_t)s.O * sizeof(bf16);
  size_t row_h = (size_t)s.r * sizeof(float);
  /* dout, x, h, dh, dx (when asked) */
  size_t bytes[5] = {R * row_o, R * row_x, R * row_h, R * row_h, t.dx ? R * row_x : 0};
  char *p[5];
  rows_pieces(be, 5, bytes, p);
  move_blocks(be, (void *)t.dout, p[0], l, row_o, 0);
  move_blocks(be, (void *)t.x, p[1], l, row_x, 0);
  move_blocks(be, (void *)t.h, p[2], l, row_h, 0);
  if (t.dx) move_blocks(be, t.dx, p[4], l, row_x, 0);
  seal_cuda_lora_backward(be, p[4], ad.dA, ad.dB, (float *)p[3], p[0], p[1], ad.A, ad.B,
                          (const float *)p[2], (int)R, s.I, s.O, s.r, s.scale);
  move_blocks(be, t.dh, p[3], l, row_h, 1);
  if (t.dx) move_blocks(be, t.dx, p[4], l, row_x, 1);
}

void seal_cuda_lora_backward_grouped(seal_backend *be, void *dx, float *dA, float *dB, float *dh,
                                     const void *dout, const void *x, const float *A,
                                     const float *B, const float *h, size_t group_stride,
                                     const int *seq_group, const int *seq_start, int n_seq, int I,
                                     int O, int r, float scale) {
  if (n_seq <= 0 || r <= 0) return;
  grouped_shape sh = {I, O, r, scale};
  grouped_bwd t = {dx, dh, dout, x, h};
  for (int s = 0; s < n_seq; s++) {
    int g = seq_group[s], from = s;
    if (g < 0 || seen_before(seq_group, s)) continue;
    size_t off = (size_t)g * group_stride;
    adapter_of ad = {dA + off, dB + off, A + off, B + off};
    seq_list l;
    while (next_chunk(seq_group, seq_start, n_seq, g, &from, &l)) backward_chunk(be, t, ad, l, sh);
  }
}
