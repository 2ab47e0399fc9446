/* kernels/cuda/graphs.cu — capture and replay of a run of ops as a CUDA graph
 * on the backend's one stream (cuda.h). The model decides what to capture and
 * when a graph is stale (model/decode_graphs.c); this file only wraps the
 * runtime calls. Not yet run on a GPU (docs/cuda-backend.md). */
#include <stdlib.h>

#include "kernels/cuda/common.cuh"

struct seal_cuda_graph {
  cudaGraphExec_t exec;
};

extern "C" void seal_cuda_begin_capture(seal_backend *be) {
  /* thread-local: another thread's CUDA calls do not join or break it */
  CUDA_CHECK(cudaStreamBeginCapture(seal_cuda_stream(be), cudaStreamCaptureModeThreadLocal));
}

extern "C" seal_cuda_graph *seal_cuda_end_capture(seal_backend *be) {
  cudaGraph_t graph;
  CUDA_CHECK(cudaStreamEndCapture(seal_cuda_stream(be), &graph));
  seal_cuda_graph *g = (seal_cuda_graph *)seal_calloc(1, sizeof *g);
  CUDA_CHECK(cudaGraphInstantiate(&g->exec, graph, 0));
  CUDA_CHECK(cudaGraphDestroy(graph));
  return g;
}

extern "C" void seal_cuda_graph_launch(seal_backend *be, const seal_cuda_graph *g) {
  CUDA_CHECK(cudaGraphLaunch(g->exec, seal_cuda_stream(be)));
}

extern "C" void seal_cuda_graph_free(seal_cuda_graph *g) {
  if (!g) return;
  CUDA_CHECK(cudaGraphExecDestroy(g->exec));
  free(g);
}
