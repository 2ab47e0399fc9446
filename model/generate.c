/* model/generate.c — prefill each prompt into its cache slot, then decode all
 * sequences together one token at a time. */
#include <stdlib.h>
#include <string.h>

#include "model/generate.h"

/* Draws the next token of each of B sequences from kv->logits [B, V]. */
static void sample_next(seal_model *m, seal_kv_cache *kv, int B, const seal_sampling *s,
                        seal_rng *rngs, int32_t *next) {
  float *u = seal_malloc((size_t)B * sizeof(float));
  for (int b = 0; b < B; b++) u[b] = s->temperature > 0 ? (float)seal_rng_uniform(&rngs[b]) : 0;
  m->be->ops->sample(m->be, next, kv->logits, B, m->cfg.vocab_size, s->temperature, s->top_p, u);
  free(u);
}

/* Adds the self-certainty and entropy of logits row b [V] to out[b] for each
 * sequence b < B that chose its token from that row: every one not done
 * before this step (done[b] 0; done NULL: all).
 * The rows come to the host first, all B in one copy (one synchronisation
 * on a device), into host [B, V]. The sampler only reads the logits, so
 * measuring after it sees the rows the tokens were drawn from; and on CUDA
 * the copy's bf16 staging needs less device scratch than the sampler just
 * took, so it never grows the scratch (which would make the decode graphs,
 * model/decode_graphs.c, capture again). */
static void measure_certainty(const seal_model *m, const seal_kv_cache *kv, int B, const int *done,
                              float *host, seal_generation *out) {
  int V = m->cfg.vocab_size;
  m->be->ops->to_host(m->be, host, kv->logits, m->be->act, (size_t)B * V);
  for (int b = 0; b < B; b++)
    if (!done || !done[b])
      seal_answer_certainty_add(&out[b].certainty, seal_logit_stats_row(host + (size_t)b * V, V));
}

/* Records token `tok` for sequence b; returns 1 when the sequence is done. */
static int record_token(const seal_model *m, seal_generation *g, int tok, int max_new) {
  if (seal_config_is_eos(&m->cfg, tok)) {
    g->hit_eos = 1;
    g->eos_id = tok;
    return 1;
  }
  g->ids[g->n++] = tok;
  return g->n >= max_new;
}

void seal_generate(seal_model *m, const seal_lora *lora, seal_kv_cache *kv,
                   const int32_t *const *prompts, const int *lens, int B, const seal_sampling *s,
                   seal_rng *rngs, seal_generation *out) {
  seal_generate_multi(m, lora, kv, prompts, lens, B, s, rngs, NULL, out);
}

/* Where the B sequences of a batch stand while decoding. */
typedef struct {
  int32_t *next; /* [B] each sequence's last drawn token, fed next */
  int32_t *pos;  /* [B] the position it goes to */
  int *done;     /* [B] 1 once a sequence stopped */
  int n_done;
  float *host; /* [B, V] the logits on the host, with s->certainty; else NULL */
} decoding;

static int longest_prompt(const int *lens, int B) {
  int longest = 0;
  for (int b = 0; b < B; b++) {
    SEAL_CHECK(lens[b] > 0, "prompt %d is empty", b);
    if (lens[b] > longest) longest = lens[b];
  }
  return longest;
}

/* Whether sequence b's prompt (and adapter) is sequence b-1's: the k samples of
 * one self-edit prompt, written in a row. */
static bool same_as_previous(const int32_t *const *prompts, const int *lens, const int *adapter,
                             int b) {
  if (b == 0 || lens[b] != lens[b - 1]) return false;
  if (adapter && adapter[b] != adapter[b - 1]) return false;
  return prompts[b] == prompts[b - 1] ||
         memcmp(prompts[b], prompts[b - 1], (size_t)lens[b] * sizeof(int32_t)) == 0;
}

/* Prefills prompt b into slot b and draws its first token, one sequence at a
 * time (prompts differ in length). A prompt equal to the one before is not
 * computed again: its keys and values are copied from the slot before, and the
 * logits that prefill left (row 0) are that prompt's, so its first token is
 * drawn from them with its own generator, as a prefill of its own would. */
static void prefill_each(seal_model *m, const seal_lora *lora, seal_kv_cache *kv,
                         const int32_t *const *prompts, const int *lens, int B,
                         const seal_sampling *s, seal_rng *rngs, const int *adapter,
                         seal_generation *out, decoding *d) {
  for (int b = 0; b < B; b++) {
    out[b].ids =
        seal_malloc((size_t)(s->max_new_tokens > 0 ? s->max_new_tokens : 1) * sizeof(int32_t));
    out[b].n = 0;
    out[b].hit_eos = 0;
    out[b].certainty = (seal_answer_certainty){0};
    int32_t zero = 0;
    if (same_as_previous(prompts, lens, adapter, b))
      seal_kv_cache_copy_slot(m, kv, b - 1, b, lens[b]);
    else
      seal_forward_infer(m, lora, kv, prompts[b], &zero, b, 1, lens[b]);
    sample_next(m, kv, 1, s, &rngs[b], &d->next[b]);
    /* the prompt's last row chose the first token (when there is one) */
    if (d->host && s->max_new_tokens > 0) measure_certainty(m, kv, 1, NULL, d->host, &out[b]);
    d->pos[b] = lens[b];
    d->done[b] = s->max_new_tokens <= 0 || record_token(m, &out[b], d->next[b], s->max_new_tokens);
    d->n_done += d->done[b];
  }
}

/* Feeds every sequence's last token at once and draws the next ones. Finished
 * sequences still ride along (their slot is rewritten at a fixed position) so
 * that the batch stays one contiguous block of slots. */
static void decode_step(seal_model *m, const seal_lora *lora, seal_kv_cache *kv, int B,
                        const seal_sampling *s, seal_rng *rngs, seal_generation *out, decoding *d) {
  seal_forward_infer(m, lora, kv, d->next, d->pos, 0, B, 1);
  int32_t *drawn = seal_malloc((size_t)B * sizeof(int32_t));
  float *u = seal_malloc((size_t)B * sizeof(float));
  for (int b = 0; b < B; b++)
    u[b] = (!d->done[b] && s->temperature > 0) ? (float)seal_rng_uniform(&rngs[b]) : 0.0f;
  m->be->ops->sample(m->be, drawn, kv->logits, B, m->cfg.vocab_size, s->temperature, s->top_p, u);
  /* every sequence not yet done chose a token (or its EOS) here */
  if (d->host) measure_certainty(m, kv, B, d->done, d->host, out);
  for (int b = 0; b < B; b++) {
    if (d->done[b]) continue;
    d->next[b] = drawn[b];
    d->pos[b]++;
    if (record_token(m, &out[b], drawn[b], s->max_new_tokens)) d->done[b] = 1, d->n_done++;
  }
  free(drawn);
  free(u);
}

void seal_generate_multi(seal_model *m, const seal_lora *lora, seal_kv_cache *kv,
                         const int32_t *const *prompts, const int *lens, int B,
                         const seal_sampling *s, seal_rng *rngs, const int *seq_adapter,
                         seal_generation *out) {
  int need = longest_prompt(lens, B) + s->max_new_tokens;
  /* Callers fit prompts to the window with a clear message first
   * (seal_engine_fit_window); this is the backstop. */
  SEAL_CHECK(need <= m->cfg.max_position,
             "a prompt and %d new tokens need %d positions, beyond the context window of %d",
             s->max_new_tokens, need, m->cfg.max_position);
  seal_kv_cache own;
  if (!kv) {
    seal_kv_cache_create(&own, m, B, need, lora ? lora->r : 0);
    kv = &own;
  }
  SEAL_CHECK(kv->slots >= B && kv->Tmax >= need, "KV cache of %d x %d is too small for %d x %d",
             kv->slots, kv->Tmax, B, need);
  const int *caller_adapters = kv->slot_adapter;
  kv->slot_adapter = seq_adapter; /* sequence b sits in slot b */
  decoding d = {
      .next = seal_malloc((size_t)B * sizeof(int32_t)),
      .pos = seal_malloc((size_t)B * sizeof(int32_t)),
      .done = seal_calloc((size_t)B, sizeof(int)),
      .host = s->certainty ? seal_malloc((size_t)B * m->cfg.vocab_size * sizeof(float)) : NULL};
  prefill_each(m, lora, kv, prompts, lens, B, s, rngs, seq_adapter, out, &d);
  while (d.n_done < B) decode_step(m, lora, kv, B, s, rngs, out, &d);
  free(d.next);
  free(d.pos);
  free(d.done);
  free(d.host);
  kv->slot_adapter = caller_adapters;
  if (kv == &own) seal_kv_cache_free(&own, m);
}

void seal_generation_free(seal_generation *g, int B) {
  for (int b = 0; b < B; b++) {
    free(g[b].ids);
    g[b].ids = NULL;
  }
}
