/* model/config.h — the shape and conventions of a Llama-family transformer,
 * read from a Hugging Face config.json or from GGUF metadata. */
#ifndef SEAL_MODEL_CONFIG_H
#define SEAL_MODEL_CONFIG_H

#include <stdbool.h>

#include "util/util.h"

typedef enum { SEAL_ARCH_LLAMA = 0, SEAL_ARCH_QWEN2 = 1 } seal_arch;

#define SEAL_MAX_EOS 8

typedef struct {
  seal_arch arch;
  int vocab_size;
  int hidden;       /* C */
  int intermediate; /* MLP width */
  int n_layers;
  int n_heads;    /* query heads */
  int n_kv_heads; /* key/value heads (GQA) */
  int head_dim;   /* D; hidden / n_heads unless the config says otherwise */
  int max_position;
  float rms_eps;
  float rope_theta;
  /* llama3 rope scaling (rope_scaling or rope_parameters with rope_type llama3) */
  bool rope_llama3;
  float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
  int rope_original_max_position;
  bool tie_embeddings; /* lm_head shares embed_tokens */
  bool attn_bias;      /* q/k/v projections carry biases (Qwen2) */
  int bos_id;          /* -1 when none */
  int eos_ids[SEAL_MAX_EOS];
  int n_eos;
} seal_model_config;

/* Reads config.json; architectures must name LlamaForCausalLM or
 * Qwen2ForCausalLM. Errors name the file and the offending key. */
int seal_config_load_hf(const char *config_json_path, seal_model_config *cfg, seal_error *e);

/* Checks internal consistency (positive sizes, heads dividing, even head_dim). */
int seal_config_validate(const seal_model_config *cfg, const char *origin, seal_error *e);

/* RoPE inverse frequencies inv_freq[head_dim/2] with llama3 scaling applied, as
 * transformers computes them. */
void seal_rope_inv_freq(const seal_model_config *cfg, float *inv_freq);

bool seal_config_is_eos(const seal_model_config *cfg, int token);

#endif
