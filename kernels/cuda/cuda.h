/* kernels/cuda/cuda.h — what the CUDA backend offers beyond seal_ops, for the
 * model (CUDA-graph capture of decode steps) and the kernel lab (timing with
 * events on the backend's stream). C interface; include only where
 * SEAL_HAVE_CUDA is defined. */
#ifndef SEAL_KERNELS_CUDA_H
#define SEAL_KERNELS_CUDA_H

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/ops.h"

/* The one stream every op of this backend is queued on (be must be a "cuda"
 * backend). Capture a graph on it, or record events on it. */
cudaStream_t seal_cuda_stream(const seal_backend *be);

#ifdef __cplusplus
}
#endif

#endif
