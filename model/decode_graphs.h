/* model/decode_graphs.h — decoding steps replayed as CUDA graphs.
 *
 * A decoding step of seal_forward_infer (embedding to LM head, after the
 * uploads of ids and positions, before sampling) launches ~270 kernels whose
 * arguments do not change from token to token: every kernel reads positions
 * from device memory and attention covers the cache's whole capacity. So with
 * SEAL_CUDA_GRAPHS=1 on a cuda backend (not behind the profiler) the step is
 * captured once per key (model, adapter and its layout, slots, batch, each
 * sequence's adapter, the cache's scratch buffers) and replayed. The first
 * step of a key runs uncaptured (it grows scratch and plans the GEMMs:
 * neither may happen during capture), the second is captured, later ones
 * replay. Off by default; a CPU backend never uses graphs. Not yet run on a
 * GPU: docs/cuda-backend.md. */
#ifndef SEAL_MODEL_DECODE_GRAPHS_H
#define SEAL_MODEL_DECODE_GRAPHS_H

#include "model/graph.h"

/* The part of a decoding step a graph holds. */
typedef void (*seal_infer_body)(seal_model *m, const seal_lora *lora, seal_kv_cache *kv, int slot0,
                                int B, int Tq);

/* Whether graphs are on for a cache of this model (SEAL_CUDA_GRAPHS=1 and a
 * cuda backend of its own); read once, at seal_kv_cache_create. */
int seal_decode_graphs_wanted(const seal_model *m);
/* Runs body(m, lora, kv, slot0, B, Tq) through the step's graph when graphs
 * are on for kv and this step can have one (Tq = 1, B small enough): 1 when
 * it ran that way (replayed, or captured and launched), 0 when the caller
 * must run body itself. */
int seal_decode_graph_run(seal_model *m, const seal_lora *lora, seal_kv_cache *kv, int slot0, int B,
                          int Tq, seal_infer_body body);
/* Frees kv's graphs (when its scratch is reallocated, and with the cache). */
void seal_decode_graphs_free(seal_kv_cache *kv);

#endif
