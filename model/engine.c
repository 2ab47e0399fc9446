/* model/engine.c — opening a model from one path, and text in, text out. */
#include <stdlib.h>
#include <string.h>

#include "kernels/profile.h"
#include "model/engine.h"
#include "model/loader.h"

/* Adds id to the config's stop tokens unless it is already there. */
static void add_eos(seal_model_config *cfg, int id) {
  if (id < 0) return;
  for (int i = 0; i < cfg->n_eos; i++)
    if (cfg->eos_ids[i] == id) return;
  if (cfg->n_eos < SEAL_MAX_EOS) cfg->eos_ids[cfg->n_eos++] = id;
}

static seal_tokenizer *open_tokenizer(const seal_checkpoint *ck, seal_error *e) {
  if (ck->tokenizer_json) return seal_tokenizer_load_json(ck->tokenizer_json, e);
  if (ck->has_vocab) return seal_tokenizer_from_vocab(&ck->vocab, e);
  seal_errorf(e,
              "%s: no tokenizer found (expected tokenizer.json beside config.json, or "
              "tokenizer metadata in the GGUF file)",
              ck->source);
  return NULL;
}

/* Every id the tokenizer can produce must have a row in the embedding: a
 * larger tokenizer would index past it inside the forward pass. */
static int check_tokenizer_fits(const seal_checkpoint *ck, const seal_tokenizer *tok,
                                seal_error *e) {
  int n = seal_tokenizer_vocab_size(tok), v = ck->config.vocab_size;
  if (n <= v) return 0;
  return seal_errorf(e,
                     "%s: the tokenizer has %d token ids but the model's embedding only %d rows "
                     "(vocab_size of %s)",
                     ck->tokenizer_json ? ck->tokenizer_json : ck->source, n, v, ck->source);
}

int seal_engine_open(seal_engine *eng, const char *path, const char *device, seal_error *e) {
  memset(eng, 0, sizeof *eng);
  seal_checkpoint ck;
  double t0 = seal_now();
  if (seal_checkpoint_open(path, &ck, e)) return -1;
  eng->tok = open_tokenizer(&ck, e);
  if (!eng->tok || check_tokenizer_fits(&ck, eng->tok, e) != 0) {
    seal_checkpoint_free(&ck);
    seal_engine_close(eng);
    return -1;
  }
  /* An instruct model ends its turn with eos/eot: generation stops there too. */
  add_eos(&ck.config, seal_tokenizer_eos_id(eng->tok));
  add_eos(&ck.config, seal_tokenizer_eot_id(eng->tok));
  eng->be = seal_backend_create(device, e);
  if (!eng->be || seal_model_create_taking(&eng->model, eng->be, &ck.config, &ck.weights, e)) {
    seal_checkpoint_free(&ck);
    seal_engine_close(eng);
    return -1;
  }
  const char *tmpl = seal_tokenizer_chat_template(eng->tok);
  eng->chat_template = tmpl ? seal_strdup(tmpl) : NULL;
  eng->add_bos = seal_tokenizer_add_bos(eng->tok) && seal_tokenizer_bos_id(eng->tok) >= 0;
  eng->path = seal_strdup(path);
  seal_checkpoint_free(&ck);
  seal_debug("opened %s on %s in %.2fs", path, eng->be->name, seal_now() - t0);
  return 0;
}

void seal_engine_close(seal_engine *eng) {
  seal_model_free(&eng->model);
  if (eng->be) seal_backend_destroy(eng->be);
  if (eng->tok) seal_tokenizer_free(eng->tok);
  free(eng->chat_template);
  free(eng->path);
  memset(eng, 0, sizeof *eng);
}

void seal_engine_profile(seal_engine *eng, FILE *report) {
  eng->be = seal_backend_profiled(eng->be, eng->model.cfg.vocab_size, report);
  eng->model.be = eng->be; /* the model borrows the engine's backend */
}

int seal_engine_encode(const seal_engine *eng, const char *text, int32_t **ids) {
  int n = seal_tokenizer_encode(eng->tok, text, ids);
  SEAL_CHECK(n >= 0, "tokenizer failed on a %zu-byte text", strlen(text));
  return n;
}

int seal_engine_encode_prompt(const seal_engine *eng, const char *text, int32_t **ids) {
  int32_t *body;
  int n = seal_engine_encode(eng, text, &body);
  if (!eng->add_bos) {
    *ids = body;
    return n;
  }
  int32_t *out = seal_malloc((size_t)(n + 1) * sizeof(int32_t));
  out[0] = seal_tokenizer_bos_id(eng->tok);
  memcpy(out + 1, body, (size_t)n * sizeof(int32_t));
  free(body);
  *ids = out;
  return n + 1;
}

char *seal_engine_decode(const seal_engine *eng, const int32_t *ids, int n) {
  /* A byte-level model may stop inside a character or sample a stray byte. */
  char *raw = seal_tokenizer_decode(eng->tok, ids, n, 1);
  char *text = seal_utf8_sanitize(raw);
  free(raw);
  return text;
}

int seal_engine_context(const seal_engine *eng) { return eng->model.cfg.max_position; }

int seal_engine_fit_window(const seal_engine *eng, int32_t *ids, int *n, int max_new,
                           seal_truncate mode, const char *what, seal_error *e) {
  const int window = seal_engine_context(eng);
  if ((int64_t)*n + max_new <= window) return 0;
  int keep_bos = *n > 0 && eng->add_bos && ids[0] == seal_tokenizer_bos_id(eng->tok);
  int room = window - max_new - keep_bos; /* prompt tokens that fit after a kept BOS */
  if (mode != SEAL_TRUNCATE_LEFT || room < 1)
    return seal_errorf(e,
                       "%s: the prompt has %d tokens and %d more are to be generated: %lld "
                       "positions, beyond the model's context window of %d (%s)%s",
                       what, *n, max_new, (long long)*n + max_new, window, eng->path,
                       mode == SEAL_TRUNCATE_LEFT ? "; fewer new tokens would leave room" : "");
  int drop = *n - keep_bos - room;
  memmove(ids + keep_bos, ids + keep_bos + drop, (size_t)room * sizeof *ids);
  *n = keep_bos + room;
  seal_debug("%s: dropped the first %d prompt tokens to fit the context window of %d", what, drop,
             window);
  return 0;
}

void seal_engine_complete(seal_engine *eng, const seal_lora *lora, const char *const *prompts,
                          int B, const seal_sampling *s, const uint64_t *seeds, char **texts,
                          int *n_tokens) {
  seal_engine_complete_multi(eng, lora, prompts, B, s, seeds, NULL, texts, n_tokens);
}

void seal_engine_complete_multi(seal_engine *eng, const seal_lora *lora, const char *const *prompts,
                                int B, const seal_sampling *s, const uint64_t *seeds,
                                const int *seq_adapter, char **texts, int *n_tokens) {
  seal_generation *gens = seal_calloc((size_t)(B ? B : 1), sizeof *gens);
  seal_engine_complete_gens(eng, lora, prompts, B, s, seeds, seq_adapter, texts, gens);
  for (int b = 0; n_tokens && b < B; b++) n_tokens[b] = gens[b].n;
  seal_generation_free(gens, B);
  free(gens);
}

void seal_engine_complete_gens(seal_engine *eng, const seal_lora *lora, const char *const *prompts,
                               int B, const seal_sampling *s, const uint64_t *seeds,
                               const int *seq_adapter, char **texts, seal_generation *out) {
  int32_t **ids = seal_calloc((size_t)B, sizeof *ids);
  int *lens = seal_calloc((size_t)B, sizeof *lens);
  seal_rng *rngs = seal_calloc((size_t)B, sizeof *rngs);
  for (int b = 0; b < B; b++) {
    lens[b] = seal_engine_encode_prompt(eng, prompts[b], &ids[b]);
    seal_error e;
    if (seal_engine_fit_window(eng, ids[b], &lens[b], s->max_new_tokens, SEAL_TRUNCATE_NONE,
                               "a generation prompt", &e) != 0)
      SEAL_DIE_ERR(&e);
    seal_rng_seed(&rngs[b], seeds ? seeds[b] : (uint64_t)b);
  }
  seal_generate_multi(&eng->model, lora, NULL, (const int32_t *const *)ids, lens, B, s, rngs,
                      seq_adapter, out);
  for (int b = 0; b < B; b++) {
    texts[b] = seal_engine_decode(eng, out[b].ids, out[b].n);
    free(ids[b]);
  }
  free(ids);
  free(lens);
  free(rngs);
}

/* Rows [0, n) of the logits of the last forward, to the host: out [n, V]. */
static void logits_to_host(seal_engine *eng, const seal_train_acts *a, int n, float *out) {
  eng->be->ops->to_host(eng->be, out, a->logits, eng->be->act,
                        (size_t)n * eng->model.cfg.vocab_size);
}

void seal_engine_kl_add(seal_engine *eng, const seal_lora *lora, seal_train_acts *a,
                        const int32_t *ids, int n, double *sum, long *rows) {
  SEAL_CHECK(n > 0 && n <= a->cap_rows, "a KL text of %d tokens does not fit %d", n, a->cap_rows);
  int V = eng->model.cfg.vocab_size;
  float *p = seal_malloc((size_t)n * V * sizeof(float)); /* [n, V] the bare model's logits */
  float *q = seal_malloc((size_t)n * V * sizeof(float)); /* [n, V] with lora */
  seal_forward_train(&eng->model, NULL, a, ids, NULL, NULL, 1, n);
  logits_to_host(eng, a, n, p);
  seal_forward_train(&eng->model, lora, a, ids, NULL, NULL, 1, n);
  logits_to_host(eng, a, n, q);
  for (int t = 0; t < n; t++) *sum += seal_logit_kl_row(p + (size_t)t * V, q + (size_t)t * V, V);
  *rows += n;
  free(p);
  free(q);
}
