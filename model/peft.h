/* model/peft.h — a PEFT adapter_config.json, read strictly: seal computes plain
 * LoRA (optionally rsLoRA-scaled) on q/k/v/o/gate/up/down of every layer, so
 * every option that would change that arithmetic is refused with an error
 * naming the file and the key, never loaded as plain LoRA:
 *   peft_type other than LORA; use_dora, fan_in_fan_out, lora_bias, use_qalora
 *   true; bias other than "none"; non-empty rank_pattern, alpha_pattern,
 *   modules_to_save, exclude_modules, target_parameters; layers_to_transform,
 *   layer_replication, trainable_token_indices, alora_invocation_tokens set;
 *   init_lora_weights that rewrites the base (pissa, olora, corda, loftq, eva...);
 *   r outside [1, 2^31) (never truncated from 64 bits); lora_alpha not a finite
 *   number > 0; target_modules other than a list of those module names or
 *   "all-linear". Keys seal does not know are ignored with a warning. */
#ifndef SEAL_MODEL_PEFT_H
#define SEAL_MODEL_PEFT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/util.h"

typedef struct {
  int r;
  float alpha;
  bool rslora;      /* use_rslora: scale alpha / sqrt(r) instead of alpha / r */
  unsigned targets; /* bit t for seal_lora_target t */
} seal_peft_config;

/* Parses adapter_config.json text (len bytes); path names it in errors. */
int seal_peft_config_parse(const char *text, size_t len, const char *path, seal_peft_config *out,
                           seal_error *e);
/* Reads and parses the file (a regular file under util's cap). */
int seal_peft_config_read(const char *path, seal_peft_config *out, seal_error *e);

#endif
