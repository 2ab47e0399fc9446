/* kernels/cuda/sample.cu — next-token choice on the GPU: argmax, or
 * temperature + top-p by inverse CDF with one caller-supplied uniform per row.
 *
 * The definition is the CPU backend's (kernels/cpu/sample.c; see cpu.h): with
 * e_i = exp((x_i - max) / T), order tokens by descending e, ties by ascending
 * id; keep the shortest prefix whose mass reaches top_p * sum(e); pick the
 * first kept token whose cumulative mass exceeds u * (kept mass).
 *
 * No sort. One block per row finds the two thresholds by bisection over the
 * bit patterns of positive floats (ordered like the floats themselves):
 *   mass(tau) = sum of e_i >= tau is non-increasing in tau and changes only at
 *   values of e, so the largest tau with mass(tau) >= target is exactly the
 *   value p* of the last kept token; ties at p* are kept lowest ids first, as
 *   many as the mass needs. The same search with "> u * kept mass" finds the
 *   value v of the chosen token, and a block-wide scan in id order finds which
 *   of the tokens equal to v it is. Sums are in double, as on the CPU; only
 *   their order differs. e lives in float scratch [B, V] between passes. */
#include <math.h>

#include "kernels/cuda/common.cuh"

#define THREADS 1024
#define ONE_BITS 0x3f800000u /* 1.0f: the largest e (the max's own) */

__device__ __forceinline__ bool better(float v, int i, float bv, int bi) {
  return v > bv || (v == bv && i < bi);
}

/* The row's argmax, lowest index on ties (NaN never wins); every thread gets it. */
__device__ int block_argmax(const bf16 *x, int V) {
  __shared__ float sv[32];
  __shared__ int si[32];
  float bv = -INFINITY;
  int bi = 0x7fffffff;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    float v = __bfloat162float(x[i]);
    if (better(v, i, bv, bi)) {
      bv = v;
      bi = i;
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (better(ov, oi, bv, bi)) {
      bv = ov;
      bi = oi;
    }
  }
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) {
    sv[warp] = bv;
    si[warp] = bi;
  }
  __syncthreads();
  bv = -INFINITY;
  bi = 0x7fffffff;
  for (int w = 0; w < nwarps; w++)
    if (better(sv[w], si[w], bv, bi)) {
      bv = sv[w];
      bi = si[w];
    }
  return bi == 0x7fffffff ? 0 : bi; /* all NaN: token 0, as the CPU's scan */
}

__global__ void __launch_bounds__(THREADS) argmax_kernel(int32_t *ids, const bf16 *logits, int V) {
  int id = block_argmax(logits + (size_t)blockIdx.x * V, V);
  if (threadIdx.x == 0) ids[blockIdx.x] = id;
}

/* sum of e_i over e_i >= tau (tau > 0), in double; every thread gets it. */
__device__ double mass_at_least(const float *e, int V, unsigned tau_bits) {
  float tau = __uint_as_float(tau_bits);
  double s = 0.0;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    float x = e[i];
    if (x >= tau) s += x;
  }
  return seal_block_sum(s);
}

__device__ int count_equal(const float *e, int V, float value) {
  int c = 0;
  for (int i = threadIdx.x; i < V; i += blockDim.x) c += e[i] == value;
  return seal_block_sum(c);
}

/* The largest bits in [lo, ONE_BITS] with mass(bits) >= goal (strict: > goal),
 * given that lo has the property. */
__device__ unsigned largest_level(const float *e, int V, unsigned lo, double goal, bool strict) {
  unsigned hi = ONE_BITS;
  double mh = mass_at_least(e, V, hi);
  if (strict ? mh > goal : mh >= goal) return hi;
  while (hi - lo > 1) { /* mass(lo) has it, mass(hi) has not */
    unsigned mid = lo + (hi - lo) / 2;
    double mm = mass_at_least(e, V, mid);
    if (strict ? mm > goal : mm >= goal)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

/* The id of the (rank+1)-th token, in id order, with e == value; -1 if none. */
__device__ int nth_equal(const float *e, int V, float value, int rank) {
  __shared__ int warp_count[32];
  __shared__ int found;
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  if (threadIdx.x == 0) found = -1;
  for (int base = 0; base < V; base += blockDim.x) {
    int i = base + threadIdx.x;
    bool hit = i < V && e[i] == value;
    unsigned ballot = __ballot_sync(0xffffffffu, hit);
    __syncthreads(); /* warp_count of the previous chunk is read by all */
    if (lane == 0) warp_count[warp] = __popc(ballot);
    __syncthreads();
    int before = 0, total = 0;
    for (int w = 0; w < nwarps; w++) {
      if (w < warp) before += warp_count[w];
      total += warp_count[w];
    }
    int my_rank = before + __popc(ballot & ((1u << lane) - 1u));
    if (hit && my_rank == rank) found = i;
    if (rank < total) break; /* block-uniform: total is the same everywhere */
    rank -= total;
  }
  __syncthreads();
  return found;
}

__global__ void __launch_bounds__(THREADS)
    sample_kernel(int32_t *ids, float *e_all, const bf16 *logits, const float *uniform, int V,
                  float temperature, float top_p) {
  int b = blockIdx.x;
  const bf16 *x = logits + (size_t)b * V;
  float *e = e_all + (size_t)b * V; /* [V] */
  int amax = block_argmax(x, V);
  float max = __bfloat162float(x[amax]);
  double total = 0.0;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    float ei = expf((__bfloat162float(x[i]) - max) / temperature);
    e[i] = ei;
    total += ei;
  }
  total = seal_block_sum(total);            /* its barriers also publish e[] to the block */
  if (!(total > 0.0) || !isfinite(total)) { /* non-finite logits: as the CPU, argmax */
    if (threadIdx.x == 0) ids[b] = amax;
    return;
  }
  double target = top_p >= 1.0f ? total : (double)top_p * total;

  /* The kept set: every e > p*, and the first k of the ties at p*. When
   * rounding leaves even all positive e short of the target, all are kept. */
  unsigned floor_bits = 1; /* the smallest positive float: e >= it means e > 0 */
  double kept_mass = mass_at_least(e, V, floor_bits);
  int kept_ties = -1; /* -1: every tie at every level is kept */
  if (kept_mass >= target) {
    floor_bits = largest_level(e, V, floor_bits, target, false);
    float pstar = __uint_as_float(floor_bits);
    double above = floor_bits == ONE_BITS ? 0.0 : mass_at_least(e, V, floor_bits + 1);
    int ties = count_equal(e, V, pstar);
    double need = ceil((target - above) / (double)pstar);
    kept_ties = need < 1.0 ? 1 : (need > (double)ties ? ties : (int)need);
    kept_mass = above + (double)kept_ties * pstar;
  }

  /* The chosen token: its value v is the largest level whose kept mass at or
   * above it exceeds r; among the tokens equal to v, the (j+1)-th by id. */
  double r = (double)uniform[b] * kept_mass;
  unsigned v_bits = largest_level(e, V, floor_bits, r, true);
  float vv = __uint_as_float(v_bits);
  double above_v = v_bits == ONE_BITS ? 0.0 : mass_at_least(e, V, v_bits + 1);
  int ties_v = (kept_ties >= 0 && v_bits == floor_bits) ? kept_ties : count_equal(e, V, vv);
  double jj = floor((r - above_v) / (double)vv);
  int j = jj < 0.0 ? 0 : (jj > (double)(ties_v - 1) ? ties_v - 1 : (int)jj);
  int id = nth_equal(e, V, vv, j);
  if (threadIdx.x == 0) ids[b] = id >= 0 ? id : amax;
}

void seal_cuda_sample(seal_backend *be, int32_t *ids, const void *logits, int B, int V,
                      float temperature, float top_p, const float *uniform) {
  if (B <= 0) return;
  SEAL_CHECK(V > 0, "sample: empty vocabulary");
  cudaStream_t s = seal_cuda_stream_of(be);
  /* scratch: ids [B] i32, uniform [B] f32, then e [B, V] f32 (256-aligned) */
  size_t head = ((size_t)B * 8 + 255) & ~(size_t)255;
  char *scratch = (char *)seal_cuda_scratch(be, head + (size_t)B * V * sizeof(float));
  int32_t *d_ids = (int32_t *)scratch;
  float *d_uniform = (float *)(scratch + (size_t)B * 4);
  float *d_e = (float *)(scratch + head);
  /* pinned: the uniforms going up, the ids coming back */
  char *pinned = (char *)seal_cuda_pinned(be, (size_t)B * 8);
  float *h_uniform = (float *)pinned;
  int32_t *h_ids = (int32_t *)(pinned + (size_t)B * 4);
  if (temperature <= 0.0f) {
    argmax_kernel<<<B, THREADS, 0, s>>>(d_ids, (const bf16 *)logits, V);
    CUDA_CHECK_LAUNCH("argmax_kernel");
  } else {
    for (int b = 0; b < B; b++) h_uniform[b] = uniform[b];
    CUDA_CHECK(cudaMemcpyAsync(d_uniform, h_uniform, (size_t)B * sizeof(float),
                               cudaMemcpyHostToDevice, s));
    sample_kernel<<<B, THREADS, 0, s>>>(d_ids, d_e, (const bf16 *)logits, d_uniform, V, temperature,
                                        top_p);
    CUDA_CHECK_LAUNCH("sample_kernel");
  }
  CUDA_CHECK(cudaMemcpyAsync(h_ids, d_ids, (size_t)B * sizeof(int32_t), cudaMemcpyDeviceToHost, s));
  seal_cuda_sync(be);
  for (int b = 0; b < B; b++) ids[b] = h_ids[b];
}
