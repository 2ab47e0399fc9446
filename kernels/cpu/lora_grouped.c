/* kernels/cpu/lora_grouped.c — LoRA forward and backward for a batch whose
 * sequences use different adapters of one multi-adapter buffer, packed as
 * variable-length rows (sequence s is rows seq_start[s] .. seq_start[s+1]-1).
 * Each adapter's rows become one pair of products
 * (seal_cpu_lora_forward/backward): in place when its sequences sit next to
 * each other (the usual layout: an inner-loop group's questions in order),
 * else gathered into contiguous scratch and scattered back, so an adapter
 * costs one product however its sequences are spread. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

/* The sequences that use adapter g, in order, into seqs; their count. */
static int sequences_of(const int *seq_group, int n_seq, int g, int *seqs) {
  int n = 0;
  for (int s = 0; s < n_seq; s++)
    if (seq_group[s] == g) seqs[n++] = s;
  return n;
}

/* Whether an earlier sequence than s already used s's adapter (done then). */
static bool seen_before(const int *seq_group, int s) {
  for (int p = 0; p < s; p++)
    if (seq_group[p] == seq_group[s]) return true;
  return false;
}

static bool consecutive(const int *seqs, int n) { return seqs[n - 1] - seqs[0] == n - 1; }

/* Rows of the sequences seqs[0..n). */
static size_t rows_of(const int *seq_start, const int *seqs, int n) {
  size_t R = 0;
  for (int i = 0; i < n; i++) R += (size_t)(seq_start[seqs[i] + 1] - seq_start[seqs[i]]);
  return R;
}

/* dst [R, width] = the rows of sequences seqs[0..n) of src [N, width], in order. */
static void gather(float *dst, const float *src, const int *seq_start, const int *seqs, int n,
                   int width) {
  for (int i = 0; i < n; i++) {
    size_t len = (size_t)(seq_start[seqs[i] + 1] - seq_start[seqs[i]]) * width;
    memcpy(dst, src + (size_t)seq_start[seqs[i]] * width, len * sizeof(float));
    dst += len;
  }
}

/* The inverse of gather: the rows of src [R, width] back into dst. */
static void scatter(float *dst, const float *src, const int *seq_start, const int *seqs, int n,
                    int width) {
  for (int i = 0; i < n; i++) {
    size_t len = (size_t)(seq_start[seqs[i] + 1] - seq_start[seqs[i]]) * width;
    memcpy(dst + (size_t)seq_start[seqs[i]] * width, src, len * sizeof(float));
    src += len;
  }
}

static float *scratch(size_t floats, const char *op) {
  float *p = malloc((floats ? floats : 1) * sizeof(float));
  SEAL_CHECK(p, "%s: out of memory for %zu gathered floats", op, floats);
  return p;
}

/* Adapter g's rows through lora_forward, gathered when they are spread. */
static void forward_group(seal_backend *be, float *out, float *h, const float *x, const float *A,
                          const float *B, const int *seq_start, const int *seqs, int n, int I,
                          int O, int r, float scale) {
  size_t R = rows_of(seq_start, seqs, n), s0 = (size_t)seq_start[seqs[0]];
  if (R == 0) return;
  if (consecutive(seqs, n)) {
    seal_cpu_lora_forward(be, out + s0 * O, h + s0 * r, x + s0 * I, A, B, (int)R, I, O, r, scale);
    return;
  }
  float *xs = scratch(R * ((size_t)I + O + r), "lora_forward_grouped");
  float *os = xs + R * I, *hs = os + R * O; /* [R, I], [R, O], [R, r] */
  gather(xs, x, seq_start, seqs, n, I);
  gather(os, out, seq_start, seqs, n, O);
  seal_cpu_lora_forward(be, os, hs, xs, A, B, (int)R, I, O, r, scale);
  scatter(out, os, seq_start, seqs, n, O);
  scatter(h, hs, seq_start, seqs, n, r);
  free(xs);
}

void seal_cpu_lora_forward_grouped(seal_backend *be, void *out, float *h, const void *x,
                                   const float *A, const float *B, size_t group_stride,
                                   const int *seq_group, const int *seq_start, int n_seq, int I,
                                   int O, int r, float scale) {
  if (n_seq <= 0 || r <= 0) return;
  int *seqs = malloc((size_t)n_seq * sizeof(int));
  SEAL_CHECK(seqs, "lora_forward_grouped: out of memory for %d sequences", n_seq);
  for (int s = 0; s < n_seq; s++) {
    int g = seq_group[s];
    if (g < 0 || seen_before(seq_group, s)) continue;
    int n = sequences_of(seq_group, n_seq, g, seqs);
    forward_group(be, out, h, x, A + (size_t)g * group_stride, B + (size_t)g * group_stride,
                  seq_start, seqs, n, I, O, r, scale);
  }
  free(seqs);
}

/* One adapter's parameters and gradients, for backward_group. */
typedef struct {
  float *dA, *dB;
  const float *A, *B;
} adapter_of;

/* Adapter g's rows through lora_backward, gathered when they are spread. */
static void backward_group(seal_backend *be, float *dx, const adapter_of *ad, float *dh,
                           const float *dout, const float *x, const float *h, const int *seq_start,
                           const int *seqs, int n, int I, int O, int r, float scale) {
  size_t R = rows_of(seq_start, seqs, n), s0 = (size_t)seq_start[seqs[0]];
  if (R == 0) return;
  if (consecutive(seqs, n)) {
    seal_cpu_lora_backward(be, dx ? dx + s0 * I : NULL, ad->dA, ad->dB, dh + s0 * r, dout + s0 * O,
                           x + s0 * I, ad->A, ad->B, h + s0 * r, (int)R, I, O, r, scale);
    return;
  }
  /* [R, O], [R, I], [R, r], [R, r], then dx [R, I] when asked */
  float *os = scratch(R * ((size_t)O + I + 2 * r + (dx ? I : 0)), "lora_backward_grouped");
  float *xs = os + R * O, *hs = xs + R * I, *dhs = hs + R * r, *dxs = dx ? dhs + R * r : NULL;
  gather(os, dout, seq_start, seqs, n, O);
  gather(xs, x, seq_start, seqs, n, I);
  gather(hs, h, seq_start, seqs, n, r);
  if (dx) gather(dxs, dx, seq_start, seqs, n, I);
  seal_cpu_lora_backward(be, dxs, ad->dA, ad->dB, dhs, os, xs, ad->A, ad->B, hs, (int)R, I, O, r,
                         scale);
  scatter(dh, dhs, seq_start, seqs, n, r);
  if (dx) scatter(dx, dxs, seq_start, seqs, n, I);
  free(os);
}

void seal_cpu_lora_backward_grouped(seal_backend *be, void *dx, float *dA, float *dB, float *dh,
                                    const void *dout, const void *x, const float *A, const float *B,
                                    const float *h, size_t group_stride, const int *seq_group,
                                    const int *seq_start, int n_seq, int I, int O, int r,
                                    float scale) {
  if (n_seq <= 0 || r <= 0) return;
  int *seqs = malloc((size_t)n_seq * sizeof(int));
  SEAL_CHECK(seqs, "lora_backward_grouped: out of memory for %d sequences", n_seq);
  for (int s = 0; s < n_seq; s++) {
    int g = seq_group[s];
    if (g < 0 || seen_before(seq_group, s)) continue;
    int n = sequences_of(seq_group, n_seq, g, seqs);
    size_t off = (size_t)g * group_stride;
    adapter_of ad = {dA + off, dB + off, A + off, B + off};
    backward_group(be, dx, &ad, dh, dout, x, h, seq_start, seqs, n, I, O, r, scale);
  }
  free(seqs);
}
