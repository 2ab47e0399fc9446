/* trainer/sft.h — supervised fine-tuning of a LoRA adapter over a frozen base:
 * the inner loop of SEAL (one self-edit's sequences) and ReST-EM's policy update
 * ((prompt, self-edit) pairs, loss on the self-edit only) are both this. */
#ifndef SEAL_TRAINER_SFT_H
#define SEAL_TRAINER_SFT_H

#include <stdbool.h>

#include "model/graph.h"
#include "model/optim.h"

/* One training sequence. The loss mask is a prefix cut: tokens at index >=
 * loss_from carry loss. That covers every plan seal has: whole texts
 * (knowledge), a completion after its prompt (the policy update) and the final
 * assistant turn of a chat (ARC's "output tokens only", a suffix too); a plan
 * that needs holes in the middle would need a per-token mask here. */
typedef struct {
  const int32_t *ids; /* [n] the whole sequence */
  int n;
  int loss_from; /* tokens at index >= loss_from are predicted with loss; 0 = all but the first */
} seal_sft_example;

/* How many tokens of x carry loss (each is predicted from the one before). */
int seal_sft_loss_tokens(const seal_sft_example *x);

/* Sums buf [n] across ranks in place; NULL in a single process. on_backend
 * says whether buf is backend memory (the gradients) or host memory (the loss). */
typedef void (*seal_grad_reduce_fn)(void *user, float *buf, size_t n, bool on_backend);

typedef struct {
  int epochs;
  int batch_size;  /* examples per optimizer step */
  int micro_batch; /* rows per forward/backward, over all adapters (memory bound); 0 = a whole step
                    */
  bool shuffle;    /* reshuffle the examples every epoch (seeded) */
  uint64_t seed;
  seal_adamw_config opt; /* total_steps is filled in by the training */
  /* Data parallelism: this rank takes the examples of each batch whose index
   * within the batch is rank mod world; grads are then summed by reduce. */
  int rank, world;
  seal_grad_reduce_fn reduce;
  void *reduce_user;
  /* Progress: called after every optimizer step (may be NULL). */
  void (*on_step)(void *user, int step, int total, double loss, double grad_norm, float lr);
  void *on_step_user;
} seal_sft_config;

typedef struct {
  int steps;
  double first_loss, last_loss; /* mean token loss of the first and last step */
  double mean_last_epoch;       /* mean of the last epoch's step losses */
  long tokens;                  /* tokens processed by this rank (with loss or not; no padding) */
  double seconds;
} seal_sft_stats;

/* Trains adapter g of lora (G = lora->n_adapters, one or a batched
 * multi-adapter) on ex[g][0..n[g]) with cfg[g], in place (the parameters are
 * the starting point), all G at once: every step packs each unfinished
 * adapter's next batch (this rank's share of it) into one forward/backward
 * over the shared base, sums gradients and losses over the ranks with
 * cfg[0].reduce, then each adapter clips and steps on its own (its own
 * schedule, its own shuffle). Loss per step: the mean cross-entropy over
 * every loss-bearing token of the adapter's batch (all ranks together).
 * Adapter g ends where training seal_lora_view(lora, g) alone would, up to
 * the summation order of the shared products; with G = 1 it is the plain
 * single-adapter computation. Every cfg[g] has the same rank, world and
 * reduce. */
void seal_sft_train_multi(seal_model *m, seal_lora *lora, const seal_sft_example *const *ex,
                          const int *n, const seal_sft_config *cfg, seal_sft_stats *stats);

/* seal_sft_train_multi with one adapter. */
void seal_sft_train(seal_model *m, seal_lora *lora, const seal_sft_example *ex, int n,
                    const seal_sft_config *cfg, seal_sft_stats *stats);

/* Mean token loss of the examples under (m, lora), no training. */
double seal_sft_eval_loss(seal_model *m, const seal_lora *lora, const seal_sft_example *ex, int n);

#endif
