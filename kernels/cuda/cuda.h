/* kernels/cuda/cuda.h — what the CUDA backend offers beyond seal_ops, for the
 * model (CUDA-graph capture of decode steps) and the kernel lab (timing with
 * events on the backend's stream), and the checked CUDA call used by both the
 * backend and the lab. C interface (C++ reads it too); include only where
 * SEAL_HAVE_CUDA is defined. */
#ifndef SEAL_KERNELS_CUDA_H
#define SEAL_KERNELS_CUDA_H

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/ops.h"

/* The one stream every op of this backend is queued on (be must be a "cuda"
 * backend, or a profiler in front of one). Capture a graph on it, or record
 * events on it. */
cudaStream_t seal_cuda_stream(const seal_backend *be);

/* CUDA graphs of a run of ops (the model's decode steps, model/decode_graphs.c):
 * begin_capture puts the backend's stream in capture mode (ops queued until
 * end_capture are recorded, not run: none may synchronise or grow scratch, so
 * run the same ops once uncaptured first); end_capture instantiates what was
 * recorded; graph_launch queues it on the stream. be: the cuda backend itself
 * (the model does not capture behind the profiler, whose per-op timing would
 * end up in the graph or break it). */
typedef struct seal_cuda_graph seal_cuda_graph;
/* Counts reallocations of the backend's device scratch: a graph captured
 * under another count addresses freed memory. */
unsigned seal_cuda_scratch_generation(const seal_backend *be);
void seal_cuda_begin_capture(seal_backend *be);
seal_cuda_graph *seal_cuda_end_capture(seal_backend *be);
void seal_cuda_graph_launch(seal_backend *be, const seal_cuda_graph *g);
void seal_cuda_graph_free(seal_cuda_graph *g);

/* A checked CUDA runtime call: a failure dies (SEAL_DIE, which in an MPI job
 * aborts every rank) naming the call and CUDA's error. */
#define CUDA_CHECK(call)                                                      \
  do {                                                                        \
    cudaError_t err_ = (call);                                                \
    if (err_ != cudaSuccess)                                                  \
      SEAL_DIE("CUDA call %s failed: %s (%s)", #call, cudaGetErrorName(err_), \
               cudaGetErrorString(err_));                                     \
  } while (0)

#ifdef __cplusplus
}
#endif

#endif
