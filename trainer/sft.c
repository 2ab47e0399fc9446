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
  SEAL_CHECK(lora->n_adapters == 1, "seal_sft_train trains one adapter (use seal_sft_train_multi)");
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

/* ---- batched multi-LoRA --------------------------------------------------- */

/* One adapter's progress through its own epochs and batches. */
typedef struct {
  const seal_sft_example *ex;
  int n, batch, steps_per_epoch, total, step;
  int *order;
  seal_rng rng;
  bool shuffle;
  seal_adamw opt;
  double epoch_sum;
} adapter_run;

static void adapter_run_start(adapter_run *r, seal_model *m, const seal_lora *lora,
                              const seal_sft_example *ex, int n, const seal_sft_config *cfg) {
  memset(r, 0, sizeof *r);
  SEAL_CHECK(cfg->world <= 1, "multi-adapter SFT runs in one process (world %d)", cfg->world);
  r->ex = ex;
  r->n = n;
  r->batch = cfg->batch_size > 0 ? cfg->batch_size : 1;
  r->steps_per_epoch = n > 0 ? (n + r->batch - 1) / r->batch : 0;
  r->total = cfg->epochs > 0 ? r->steps_per_epoch * cfg->epochs : 0;
  r->order = seal_malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
  for (int i = 0; i < n; i++) r->order[i] = i;
  seal_rng_seed(&r->rng, cfg->seed);
  r->shuffle = cfg->shuffle;
  seal_adamw_config oc = cfg->opt;
  oc.total_steps = r->total;
  seal_adamw_create(&r->opt, m->be, lora->n_per, &oc);
}

/* This step's examples of the adapter, as seal_sft_train would pick them. */
static int adapter_batch(adapter_run *r, const int **idx) {
  int s = r->step % r->steps_per_epoch;
  if (s == 0) {
    if (r->shuffle) shuffle(r->order, r->n, &r->rng);
    r->epoch_sum = 0;
  }
  *idx = r->order + s * r->batch;
  return r->n - s * r->batch < r->batch ? r->n - s * r->batch : r->batch;
}

typedef struct {
  seal_sft_example *ex; /* [rows] the step's sequences */
  int *adapter;         /* [rows] which adapter each trains */
  float *norm;          /* [rows] 1 / loss tokens of the row's adapter batch */
  int rows, T;
} packed_step;

static void pack_multi(const packed_step *p, int32_t *ids, int32_t *targets, float *weights) {
  for (int i = 0; i < p->rows; i++) {
    const seal_sft_example *x = &p->ex[i];
    for (int t = 0; t < p->T; t++) {
      int row = i * p->T + t;
      ids[row] = t < x->n ? x->ids[t] : 0;
      bool has_target = t + 1 < x->n && t + 1 >= loss_start(x);
      targets[row] = has_target ? x->ids[t + 1] : 0;
      weights[row] = has_target ? p->norm[i] : 0.0f;
    }
  }
}

/* Gathers every unfinished adapter's next batch into p. */
static void gather_step(adapter_run *runs, int G, const seal_sft_example *const *ex,
                        packed_step *p) {
  p->rows = 0;
  p->T = 1;
  for (int g = 0; g < G; g++) {
    if (runs[g].step >= runs[g].total) continue;
    const int *idx;
    int b = adapter_batch(&runs[g], &idx);
    double tokens = 0;
    for (int i = 0; i < b; i++) tokens += loss_tokens(&ex[g][idx[i]]);
    for (int i = 0; i < b; i++) {
      p->ex[p->rows] = ex[g][idx[i]];
      p->adapter[p->rows] = g;
      p->norm[p->rows] = tokens > 0 ? (float)(1.0 / tokens) : 0.0f;
      if (p->ex[p->rows].n > p->T) p->T = p->ex[p->rows].n;
      p->rows++;
    }
  }
}

void seal_sft_train_multi(seal_model *m, seal_lora *lora, const seal_sft_example *const *ex,
                          const int *n, const seal_sft_config *cfg, seal_sft_stats *stats) {
  int G = lora->n_adapters, rows_cap = 0, T_cap = 1, steps = 0;
  double t0 = seal_now();
  adapter_run *runs = seal_calloc((size_t)G, sizeof *runs);
  for (int g = 0; g < G; g++) {
    memset(&stats[g], 0, sizeof stats[g]);
    adapter_run_start(&runs[g], m, lora, ex[g], n[g], &cfg[g]);
    rows_cap += runs[g].batch;
    if (max_len(ex[g], n[g]) > T_cap) T_cap = max_len(ex[g], n[g]);
    if (runs[g].total > steps) steps = runs[g].total;
  }
  seal_train_acts acts;
  seal_train_acts_create(&acts, m, rows_cap, T_cap, lora->r);
  packed_step p = {.ex = seal_calloc((size_t)rows_cap, sizeof(seal_sft_example)),
                   .adapter = seal_calloc((size_t)rows_cap, sizeof(int)),
                   .norm = seal_calloc((size_t)rows_cap, sizeof(float))};
  size_t cells = (size_t)rows_cap * T_cap;
  int32_t *ids = seal_malloc(cells * sizeof(int32_t));
  int32_t *targets = seal_malloc(cells * sizeof(int32_t));
  float *weights = seal_malloc(cells * sizeof(float)), *losses = seal_malloc(cells * sizeof(float));
  for (int step = 0; step < steps; step++) {
    gather_step(runs, G, ex, &p);
    pack_multi(&p, ids, targets, weights);
    seal_lora_zero_grads(lora);
    acts.seq_adapter = p.adapter;
    seal_forward_train(m, lora, &acts, ids, targets, weights, p.rows, p.T);
    seal_backward_train(m, lora, &acts);
    seal_train_losses_to_host(m, &acts, losses);
    for (int g = 0; g < G; g++) {
      if (runs[g].step >= runs[g].total) continue;
      double loss = 0;
      for (int i = 0; i < p.rows; i++)
        if (p.adapter[i] == g)
          for (int t = 0; t < p.T; t++) loss += (double)weights[i * p.T + t] * losses[i * p.T + t];
      seal_lora v = seal_lora_view(lora, g);
      seal_adamw_step(&runs[g].opt, v.params, v.grads);
      if (stats[g].steps == 0) stats[g].first_loss = loss;
      stats[g].last_loss = loss;
      stats[g].steps++;
      runs[g].epoch_sum += loss;
      runs[g].step++;
    }
  }
  acts.seq_adapter = NULL;
  for (int g = 0; g < G; g++) {
    stats[g].mean_last_epoch =
        runs[g].steps_per_epoch ? runs[g].epoch_sum / runs[g].steps_per_epoch : 0.0;
    stats[g].seconds = seal_now() - t0;
    seal_adamw_free(&runs[g].opt);
    free(runs[g].order);
  }
  free(runs);
  free(p.ex), free(p.adapter), free(p.norm);
  free(ids), free(targets), free(weights), free(losses);
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
