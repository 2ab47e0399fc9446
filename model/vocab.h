/* model/vocab.h — a tokenizer's vocabulary as a GGUF file carries it, handed
 * from the GGUF reader to the tokenizer. */
#ifndef SEAL_MODEL_VOCAB_H
#define SEAL_MODEL_VOCAB_H

#include <stdint.h>

typedef struct {
  char *model; /* tokenizer.ggml.model, e.g. "gpt2" or "llama" */
  char *pre;   /* tokenizer.ggml.pre, e.g. "llama-bpe", "smollm", "qwen2" (may be NULL) */
  char **tokens;
  int n_tokens;
  int32_t *token_types; /* tokenizer.ggml.token_type, n_tokens (1 normal, 3 control, 4
                           user-defined...) or NULL */
  char **merges;        /* "a b" strings */
  int n_merges;
  int bos_id, eos_id, eot_id, pad_id, unk_id; /* -1 when absent */
  int add_bos;                                /* tokenizer.ggml.add_bos_token, 0 when absent */
  char *chat_template;                        /* tokenizer.chat_template or NULL */
} seal_vocab;

void seal_vocab_free(seal_vocab *v);

#endif
