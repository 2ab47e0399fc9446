/* model/engine.h — a loaded model ready to use: backend, weights, tokenizer
 * and chat style together, opened from one path (an HF directory or a GGUF
 * file). What the commands, the trainer and the evaluator hold. */
#ifndef SEAL_MODEL_ENGINE_H
#define SEAL_MODEL_ENGINE_H

#include "model/generate.h"
#include "model/graph.h"
#include "model/logit_stats.h"
#include "model/lora.h"
#include "model/model.h"
#include "model/tokenizer.h"

typedef struct {
  char *path;       /* what was opened */
  seal_backend *be; /* owned */
  seal_model model;
  seal_tokenizer *tok;
  char *chat_template; /* the checkpoint's chat template text, or NULL */
  int add_bos;         /* prepend BOS to plain-text prompts */
} seal_engine;

/* device: "cpu", "cuda" or "auto". */
int seal_engine_open(seal_engine *eng, const char *path, const char *device, seal_error *e);
void seal_engine_close(seal_engine *eng);

/* Puts a profiling backend (kernels/profile.h) in front of the engine's own:
 * from now on every op is timed, and when report is not NULL the table of
 * every call is printed there when the engine closes. The LM head's matmuls
 * are counted apart. Call it right after opening, before anything else (a KV
 * cache, an adapter, an optimizer) holds the backend. */
void seal_engine_profile(seal_engine *eng, FILE *report);

/* Tokenizes a plain-text prompt (BOS first when the model wants one). *ids
 * malloc'd; returns the count. */
int seal_engine_encode_prompt(const seal_engine *eng, const char *text, int32_t **ids);
/* Tokenizes a continuation (no BOS). */
int seal_engine_encode(const seal_engine *eng, const char *text, int32_t **ids);
/* Decodes to valid UTF-8 (invalid bytes become U+FFFD), special tokens dropped. */
char *seal_engine_decode(const seal_engine *eng, const int32_t *ids, int n);

/* How a prompt that does not fit the context window is handled. */
typedef enum {
  SEAL_TRUNCATE_NONE, /* refuse it */
  SEAL_TRUNCATE_LEFT, /* drop its oldest tokens (a leading BOS stays) */
} seal_truncate;

/* The model's context window: max_position_embeddings (config.json) or
 * <arch>.context_length (GGUF). */
int seal_engine_context(const seal_engine *eng);

/* Makes a prompt of *n ids plus max_new generated tokens fit the context
 * window: nothing to do when it fits; with SEAL_TRUNCATE_LEFT the prompt's
 * oldest tokens are dropped in place (*n shrinks) so that it does; otherwise,
 * or when max_new alone leaves no room, -1 with an error that names `what`
 * (the prompt's origin), the lengths and the window. */
int seal_engine_fit_window(const seal_engine *eng, int32_t *ids, int *n, int max_new,
                           seal_truncate mode, const char *what, seal_error *e);

/* Generates one completion per prompt text (tokenized with
 * seal_engine_encode_prompt); texts[b] malloc'd, n_tokens[b] the generated
 * token count (n_tokens may be NULL). A prompt that does not fit the context
 * window with s->max_new_tokens after it is a fatal error naming the lengths
 * (callers that can recover check with seal_engine_fit_window first). Each prompt gets its own
 * generator seeded with seeds[b] (ignored when greedy), so a completion does not depend on the
 * batch it was in. */
void seal_engine_complete(seal_engine *eng, const seal_lora *lora, const char *const *prompts,
                          int B, const seal_sampling *s, const uint64_t *seeds, char **texts,
                          int *n_tokens);

/* The same with a multi-adapter LoRA: prompt b runs with adapter
 * seq_adapter[b] (NULL: adapter 0). */
void seal_engine_complete_multi(seal_engine *eng, const seal_lora *lora, const char *const *prompts,
                                int B, const seal_sampling *s, const uint64_t *seeds,
                                const int *seq_adapter, char **texts, int *n_tokens);

/* The same, also giving each completion's tokens: gens[b] (the generated ids,
 * EOS excluded, and the EOS it stopped on; free with seal_generation_free) and,
 * with s->certainty, how sure the model was of each token as it chose it
 * (gens[b].certainty: the label-free rewards). */
void seal_engine_complete_gens(seal_engine *eng, const seal_lora *lora, const char *const *prompts,
                               int B, const seal_sampling *s, const uint64_t *seeds,
                               const int *seq_adapter, char **texts, seal_generation *gens);

/* How far lora moves the model on a text, teacher-forced: ids[0..n) are read
 * once by the bare model (p) and once with lora (q), and KL(p || q) of every
 * position's next-token distribution (seal_logit_kl_row) is added to *sum and
 * n to *rows. a: B = 1 training activations of T >= n, r_max >= lora's rank;
 * reused across calls. */
void seal_engine_kl_add(seal_engine *eng, const seal_lora *lora, seal_train_acts *a,
                        const int32_t *ids, int n, double *sum, long *rows);

#endif
