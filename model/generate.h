/* model/generate.h — batched generation over a KV cache: greedy, temperature
 * and top-p sampling with one seeded generator per sequence, so a sequence's
 * text does not depend on what it was batched with. */
#ifndef SEAL_MODEL_GENERATE_H
#define SEAL_MODEL_GENERATE_H

#include "model/graph.h"
#include "model/logit_stats.h"

typedef struct {
  float temperature; /* <= 0: greedy */
  float top_p;       /* 1: no nucleus cut */
  int max_new_tokens;
  /* 1: also measure each sequence's certainty (seal_generation.certainty);
   * 0 (what an initializer that omits it gives): nothing is measured. */
  int certainty;
} seal_sampling;

typedef struct {
  int32_t *ids; /* [n] generated tokens, EOS excluded; malloc'd */
  int n;
  int hit_eos;    /* 1 when generation stopped on an EOS token */
  int32_t eos_id; /* that token, when hit_eos (a model may have several) */
  /* With seal_sampling.certainty: the self-certainty and entropy
   * (model/logit_stats.h) of every distribution a token was chosen from,
   * the EOS it stopped on included (n + hit_eos of them), read from the
   * logits the choice was made on; all zero otherwise. */
  seal_answer_certainty certainty;
} seal_generation;

/* Generates for B prompts (prompts[b] host ids [lens[b]], each at least one
 * token). rngs[b] drives sequence b's sampling (ignored when greedy). Stops a
 * sequence on any of the model's EOS ids or after max_new_tokens. kv may be
 * NULL (one is made for the call) or must hold B slots of lens + max_new. */
void seal_generate(seal_model *m, const seal_lora *lora, seal_kv_cache *kv,
                   const int32_t *const *prompts, const int *lens, int B, const seal_sampling *s,
                   seal_rng *rngs, seal_generation *out);
/* The same with a multi-adapter LoRA: sequence b runs with adapter
 * seq_adapter[b] (NULL: adapter 0 for all), so the answers of several inner
 * loops' adapters decode in one batch over the shared base. */
void seal_generate_multi(seal_model *m, const seal_lora *lora, seal_kv_cache *kv,
                         const int32_t *const *prompts, const int *lens, int B,
                         const seal_sampling *s, seal_rng *rngs, const int *seq_adapter,
                         seal_generation *out);
void seal_generation_free(seal_generation *g, int B);

#endif
