/* kernels/cpu/cpu.h — the CPU reference backend's functions (float32, host
 * memory). Shared between the files of kernels/cpu/ and its tests.
 *
 * There is one function seal_cpu_NAME for every op NAME of SEAL_OPS, with the
 * op's signature and semantics (kernels/ops.h is the contract; read its
 * comments for shapes and '=' versus '+='). The declarations and the table
 * (backend.c) are generated from that list, so an op without a CPU function
 * fails to link. On this backend "act" is float32 and every pointer is
 * ordinary host memory.
 *
 * Files, by concern:
 *   backend.c      memory ops and the ops table
 *   elementwise.c  embedding, add, swiglu (+backward), rope, kv_write
 *   norm.c         rmsnorm, residual_rmsnorm, rmsnorm_backward
 *   matmul.c       matmul, matmul_backward_input, LoRA forward/backward/merge (cblas_sgemm)
 *   attention.c    causal GQA attention forward and backward
 *   loss.c         fused softmax + cross-entropy
 *   optim.c        sum_squares, adamw
 *   sample.c       argmax / temperature / top-p sampling
 *
 * Sampling's order, used by the inverse CDF (the CUDA backend must agree):
 * descending probability, equal probabilities by ascending token id. The kept
 * set is the shortest such prefix whose probability mass reaches top_p; the
 * token drawn is the first whose cumulative kept mass exceeds uniform[b] times
 * the kept mass. */
#ifndef SEAL_KERNELS_CPU_H
#define SEAL_KERNELS_CPU_H

#include "kernels/ops.h"

/* Elements below which an OpenMP parallel region costs more than it saves (and,
 * on a busy machine, waits for a second thread to be scheduled). */
#define SEAL_CPU_PARALLEL_MIN ((size_t)1 << 15)

/* The table of CPU operations, filled in kernels/cpu/backend.c. */
extern const seal_ops seal_cpu_ops;

#define SEAL_CPU_DECLARE_(ret, name, params, args) ret seal_cpu_##name params;
SEAL_OPS(SEAL_CPU_DECLARE_)
#undef SEAL_CPU_DECLARE_

#endif
