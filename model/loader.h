/* model/loader.h — one entry point for a base model: a Hugging Face directory
 * (config.json + model.safetensors, or shards listed in
 * model.safetensors.index.json, + tokenizer.json) or a .gguf file. Weights come
 * out as float32 host tensors under Hugging Face names and PyTorch shapes, and
 * are checked against the config: every expected tensor present, nothing else. */
#ifndef SEAL_MODEL_LOADER_H
#define SEAL_MODEL_LOADER_H

#include "model/config.h"
#include "model/tensors.h"
#include "model/vocab.h"
#include "util/util.h"

typedef struct {
  seal_model_config config;
  seal_tensor_set weights;
  seal_vocab vocab;     /* filled from GGUF metadata */
  int has_vocab;        /* 1 when vocab holds a tokenizer (GGUF) */
  char *tokenizer_json; /* path to tokenizer.json (HF directory) or NULL */
  char *source;         /* the path that was opened */
} seal_checkpoint;

/* path: a Hugging Face directory or a .gguf file (recognised by its magic).
 * Weights holding NaN or Inf are refused (naming the tensor) unless the
 * environment sets SEAL_CHECK_WEIGHTS=0 (seal_weights_check_enabled). */
int seal_checkpoint_open(const char *path, seal_checkpoint *ck, seal_error *e);
void seal_checkpoint_free(seal_checkpoint *ck);

/* Whether loaders scan weights for NaN/Inf: yes unless SEAL_CHECK_WEIGHTS=0.
 * The scan reads every float once (about 0.1 s per GB on 2 cores, a small
 * part of what loading them costs). */
bool seal_weights_check_enabled(void);

/* Checks that weights hold exactly the tensors the config implies (names and
 * shapes; lm_head.weight only when embeddings are untied). origin names the
 * checkpoint in errors. */
int seal_checkpoint_check_weights(const seal_model_config *cfg, const seal_tensor_set *weights,
                                  const char *origin, seal_error *e);

#endif
