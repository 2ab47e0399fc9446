/* trainer/sft.c — LoRA SFT: batches of right-padded sequences, loss-weighted
 * cross-entropy, AdamW with clipping and a schedule, optional data parallelism. */
#include <stdlib.h>
#include <string.h>

#include "trainer/sft.h"

static int loss_start(const seal_sft_example *x) { return x->loss_from > 1 ? x->loss_from : 1; }

/* Tokens of x that carry loss: those at index >= loss_start, each predicted
 * from the position before it. */
static int loss_tokens(const seal_sft_example *x) {
  int k = x->n - loss_start(x);
  return k > 0 ? k : 0;
}

/* Packs examples order[0..b) into right-padded [b, T] arrays. Padding has
 * weight 0 and sits after the tokens, so causal attention never sees it. */
static void pack_batch(const seal_sft_example *ex, const int *order, int b, int T, double norm,
                       int32_t *ids, int32_t *targets, float *weights) {
  for (int i = 0; i < b; i++) {
    const seal_sft_example *x = &ex[order[i]];
    for (int t = 0; t < T; t++) {
      int row = i * T + t;
      ids[row] = t < x->n ? x->ids[t] : 0;
      bool has_target = t + 1 < x->n && t + 1 >= loss_start(x);
      targets[row] = has_target ? x->ids[t + 1] : 0;
      weights[row] = has_target ? (float)(1.0 / norm) : 0.0f;
    }
  }
}

static int max_len(const seal_sft_example *ex, int n) {
  int T = 1;
  for (int i = 0; i < n; i++)
    if (ex[i].n > T) T = ex[i].n;
  return T;
}

static void shuffle(int *order, int n, seal_rng *rng) {
  for (int i = n - 1; i > 0; i--) {
    int j = (int)(seal_rng_u64(rng) % (uint64_t)(i + 1));
    int t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}

typedef struct {
  int32_t *ids, *targets;
  float *weights;
} host_batch;

/* Forward + backward over this rank's share of one optimizer batch; returns
 * this rank's part of the step loss (already normalised by the batch's
 * loss-token count over all ranks). */
static double rank_share_step(seal_model *m, seal_lora *lora, seal_train_acts *acts,
                              const seal_sft_example *ex, const int *batch, int b,
                              const seal_sft_config *cfg, host_batch *hb, long *tokens) {
  double norm = 0;
  for (int i = 0; i < b; i++) norm += loss_tokens(&ex[batch[i]]);
  if (norm <= 0) return 0;
  int *mine = seal_malloc((size_t)b * sizeof(int));
  int n_mine = 0;
  for (int i = 0; i < b; i++)
    if (i % cfg->world == cfg->rank) mine[n_mine++] = batch[i];
  int mb = cfg->micro_batch > 0 ? cfg->micro_batch : cfg->batch_size;
  double loss = 0;
  for (int s = 0; s < n_mine; s += mb) {
    int k = n_mine - s < mb ? n_mine - s : mb;
    int T = 1;
    for (int i = 0; i < k; i++)
      if (ex[mine[s + i]].n > T) T = ex[mine[s + i]].n;
    pack_batch(ex, mine + s, k, T, norm, hb->ids, hb->targets, hb->weights);
    loss += seal_forward_train(m, lora, acts, hb->ids, hb->targets, hb->weights, k, T);
    seal_backward_train(m, lora, acts);
    *tokens += (long)k * T;
  }
  free(mine);
  return loss;
}

void seal_sft_train(seal_model *m, seal_lora *lora, const seal_sft_example *ex, int n,
                    const seal_sft_config *cfg_in, seal_sft_stats *stats) {
  seal_sft_config cfg = *cfg_in;
  if (cfg.world <= 0) cfg.world = 1;
  if (cfg.batch_size <= 0) cfg.batch_size = 1;
  memset(stats, 0, sizeof *stats);
  double t0 = seal_now();
  if (n <= 0 || cfg.epochs <= 0) return;
  int steps_per_epoch = (n + cfg.batch_size - 1) / cfg.batch_size;
  cfg.opt.total_steps = steps_per_epoch * cfg.epochs;
  int mb = cfg.micro_batch > 0 ? cfg.micro_batch : cfg.batch_size;
  int T = max_len(ex, n);
  seal_train_acts acts;
  seal_train_acts_create(&acts, m, mb, T, lora->r);
  host_batch hb = {seal_malloc((size_t)mb * T * sizeof(int32_t)),
                   seal_malloc((size_t)mb * T * sizeof(int32_t)),
                   seal_malloc((size_t)mb * T * sizeof(float))};
  seal_adamw opt;
  seal_adamw_create(&opt, m->be, lora->n_params, &cfg.opt);
  int *order = seal_malloc((size_t)n * sizeof(int));
  for (int i = 0; i < n; i++) order[i] = i;
  seal_rng rng;
  seal_rng_seed(&rng, cfg.seed);
  double epoch_sum = 0;
  for (int epoch = 0; epoch < cfg.epochs; epoch++) {
    if (cfg.shuffle) shuffle(order, n, &rng);
    epoch_sum = 0;
    for (int s = 0; s < n; s += cfg.batch_size) {
      int b = n - s < cfg.batch_size ? n - s : cfg.batch_size;
      seal_lora_zero_grads(lora);
      double loss = rank_share_step(m, lora, &acts, ex, order + s, b, &cfg, &hb, &stats->tokens);
      if (cfg.reduce) {
        cfg.reduce(cfg.reduce_user, lora->grads, lora->n_params, true);
        float l = (float)loss;
        cfg.reduce(cfg.reduce_user, &l, 1, false);
        loss = l;
      }
      float lr = seal_schedule_lr(&opt.cfg, opt.step);
      double gnorm = seal_adamw_step(&opt, lora->params, lora->grads);
      if (stats->steps == 0) stats->first_loss = loss;
      stats->last_loss = loss;
      stats->steps++;
      epoch_sum += loss;
      if (cfg.on_step)
        cfg.on_step(cfg.on_step_user, stats->steps, cfg.opt.total_steps, loss, gnorm, lr);
    }
  }
  stats->mean_last_epoch = epoch_sum / steps_per_epoch;
  stats->seconds = seal_now() - t0;
  free(order);
  free(hb.ids);
  free(hb.targets);
  free(hb.weights);
  seal_adamw_free(&opt);
  seal_train_acts_free(&acts, m);
}

double seal_sft_eval_loss(seal_model *m, const seal_lora *lora, const seal_sft_example *ex, int n) {
  int T = max_len(ex, n);
  seal_train_acts acts;
  seal_train_acts_create(&acts, m, 1, T, lora ? lora->r : 0);
  int32_t *ids = seal_malloc((size_t)T * sizeof(int32_t)),
          *targets = seal_malloc((size_t)T * sizeof(int32_t));
  float *weights = seal_malloc((size_t)T * sizeof(float));
  double total = 0, count = 0;
  for (int i = 0; i < n; i++) {
    int k = loss_tokens(&ex[i]);
    if (k == 0) continue;
    int order = i;
    pack_batch(ex, &order, 1, ex[i].n, 1.0, ids, targets, weights);
    total += seal_forward_train(m, lora, &acts, ids, targets, weights, 1, ex[i].n);
    count += k;
  }
  free(ids);
  free(targets);
  free(weights);
  seal_train_acts_free(&acts, m);
  return count > 0 ? total / count : 0.0;
}
