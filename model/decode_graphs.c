/* model/decode_graphs.c — the graph cache of model/decode_graphs.h. Only a
 * CUDA build captures; elsewhere graphs are never wanted. */
#include <stdlib.h>
#include <string.h>

#include "model/decode_graphs.h"

#ifdef SEAL_HAVE_CUDA
#include "kernels/cuda/cuda.h"

/* Batches above this decode without a graph (the key holds their adapters). */
#define GRAPH_MAX_B 64
/* Graphs kept per cache; a new key replaces the oldest. */
#define GRAPH_SLOTS 8

/* Everything a captured step baked in: the buffers it addresses and the
 * arguments the ops took from the host. */
typedef struct {
  const seal_model *m;
  const float *params; /* the adapter's buffer; NULL without one */
  unsigned targets;
  int r;
  size_t n_per;
  float scale;
  int slot0, B;
  unsigned scratch_generation; /* the backend's (kernels/cuda/cuda.h) */
  int has_adapters;
  int adapters[GRAPH_MAX_B]; /* each sequence's adapter, with a multi-adapter */
} graph_key;

typedef struct {
  graph_key key;
  int used;               /* the key has run at least once */
  seal_cuda_graph *graph; /* NULL until captured */
} graph_slot;

struct seal_decode_graphs {
  graph_slot slot[GRAPH_SLOTS];
  int next; /* the slot a new key takes */
};

int seal_decode_graphs_wanted(const seal_model *m) {
  const char *on = getenv("SEAL_CUDA_GRAPHS");
  if (!on || strcmp(on, "1")) return 0;
  /* the profiler times each op with events of its own: no graph behind it */
  return m->be == seal_backend_base(m->be) && !strcmp(m->be->name, "cuda");
}

static void key_of(graph_key *k, const seal_model *m, const seal_lora *lora,
                   const seal_kv_cache *kv, int slot0, int B) {
  memset(k, 0, sizeof *k); /* padding too: keys compare with memcmp */
  k->m = m, k->slot0 = slot0, k->B = B;
  k->scratch_generation = seal_cuda_scratch_generation(m->be);
  if (lora) {
    k->params = lora->params, k->targets = lora->targets, k->r = lora->r;
    k->n_per = lora->n_per, k->scale = lora->scale;
  }
  if (kv->slot_adapter) {
    k->has_adapters = 1;
    memcpy(k->adapters, kv->slot_adapter + slot0, (size_t)B * sizeof(int));
  }
}

static graph_slot *find_or_take(struct seal_decode_graphs *gs, const graph_key *k) {
  for (int i = 0; i < GRAPH_SLOTS; i++)
    if (gs->slot[i].used && !memcmp(&gs->slot[i].key, k, sizeof *k)) return &gs->slot[i];
  graph_slot *s = &gs->slot[gs->next];
  gs->next = (gs->next + 1) % GRAPH_SLOTS;
  seal_cuda_graph_free(s->graph);
  *s = (graph_slot){.key = *k};
  return s;
}

int seal_decode_graph_run(seal_model *m, const seal_lora *lora, seal_kv_cache *kv, int slot0, int B,
                          int Tq, seal_infer_body body) {
  if (!kv->graphs_on || Tq != 1 || B > GRAPH_MAX_B) return 0;
  if (!kv->graphs) kv->graphs = seal_calloc(1, sizeof *kv->graphs);
  graph_key k;
  key_of(&k, m, lora, kv, slot0, B);
  graph_slot *s = find_or_take(kv->graphs, &k);
  if (!s->used) { /* the warm-up step: grows scratch, plans the GEMMs */
    s->used = 1;
    return 0;
  }
  if (!s->graph) {
    seal_cuda_begin_capture(m->be);
    body(m, lora, kv, slot0, B, Tq);
    s->graph = seal_cuda_end_capture(m->be);
  }
  seal_cuda_graph_launch(m->be, s->graph);
  return 1;
}

void seal_decode_graphs_free(seal_kv_cache *kv) {
  if (!kv->graphs) return;
  for (int i = 0; i < GRAPH_SLOTS; i++) seal_cuda_graph_free(kv->graphs->slot[i].graph);
  free(kv->graphs);
  kv->graphs = NULL;
}

#else /* a build without CUDA has no graphs to capture */

int seal_decode_graphs_wanted(const seal_model *m) {
  (void)m;
  return 0;
}

int seal_decode_graph_run(seal_model *m, const seal_lora *lora, seal_kv_cache *kv, int slot0, int B,
                          int Tq, seal_infer_body body) {
  (void)m, (void)lora, (void)kv, (void)slot0, (void)B, (void)Tq, (void)body;
  return 0;
}

void seal_decode_graphs_free(seal_kv_cache *kv) { (void)kv; }

#endif
