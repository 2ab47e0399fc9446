/* trainer/sft.c — LoRA SFT: batches of sequences packed without padding, loss-weighted
 * cross-entropy, AdamW with clipping and a schedule, data parallelism, and
 * several adapters trained at once over one frozen base. There is one loop:
 * seal_sft_train is seal_sft_train_multi with one adapter. */
#include <stdlib.h>
#include <string.h>

#include "trainer/sft.h"

static int loss_start(const seal_sft_example *x) { return x->loss_from > 1 ? x->loss_from : 1; }

int seal_sft_loss_tokens(const seal_sft_example *x) {
  int k = x->n - loss_start(x);
  return k > 0 ? k : 0;
}

static int max_len(const seal_sft_example *ex, int n) {
  int T = 1;
  for (int i = 0; i < n; i++)
    if (ex[i].n > T) T = ex[i].n;
  return T;
}

static int longer_first(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x < y) - (x > y);
}

/* The most token rows any mb of the G adapters' examples can add up to: the
 * sum of the mb longest (a micro-batch packs at most mb of them). */
static int rows_capacity(const seal_sft_example *const *ex, const int *n, int G, int mb) {
  int total = 0, k = 0;
  for (int g = 0; g < G; g++) total += n[g];
  int *len = seal_malloc((size_t)(total > 0 ? total : 1) * sizeof(int));
  for (int g = 0; g < G; g++)
    for (int i = 0; i < n[g]; i++) len[k++] = ex[g][i].n > 1 ? ex[g][i].n : 1;
  qsort(len, (size_t)total, sizeof(int), longer_first);
  long rows = 0;
  for (int i = 0; i < total && i < mb; i++) rows += len[i];
  free(len);
  SEAL_CHECK(rows < (1L << 30), "a micro-batch of %ld token rows is too large", rows);
  return rows > 0 ? (int)rows : 1;
}

static void shuffle(int *order, int n, seal_rng *rng) {
  for (int i = n - 1; i > 0; i--) {
    int j = (int)(seal_rng_u64(rng) % (uint64_t)(i + 1));
    int t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}

/* ---- one adapter's way through its epochs ------------------------------- */

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

static bool adapter_done(const adapter_run *r) { return r->step >= r->total; }

/* This step's batch of the adapter: a reshuffle at each epoch's start. */
static int adapter_batch(adapter_run *r, const int **idx) {
  int s = r->step % r->steps_per_epoch;
  if (s == 0) {
    if (r->shuffle) shuffle(r->order, r->n, &r->rng);
    r->epoch_sum = 0;
  }
  *idx = r->order + s * r->batch;
  return r->n - s * r->batch < r->batch ? r->n - s * r->batch : r->batch;
}

/* ---- one optimizer step's rows on this rank ------------------------------ */

typedef struct {
  seal_sft_example *ex; /* [rows] this rank's sequences of the step */
  int *adapter;         /* [rows] the adapter each trains */
  float *norm;          /* [rows] 1 / loss tokens of the row's whole batch (every rank's share) */
  int rows;
} step_rows;

/* Every unfinished adapter's next batch; this rank keeps the examples whose
 * index within their batch is rank mod world. A batch without loss tokens has
 * nothing to learn and adds no rows. */
static void gather_step(adapter_run *runs, int G, int rank, int world, step_rows *p) {
  p->rows = 0;
  for (int g = 0; g < G; g++) {
    if (adapter_done(&runs[g])) continue;
    const int *idx;
    int b = adapter_batch(&runs[g], &idx);
    double tokens = 0;
    for (int i = 0; i < b; i++) tokens += seal_sft_loss_tokens(&runs[g].ex[idx[i]]);
    if (tokens <= 0) continue;
    for (int i = 0; i < b; i++) {
      if (i % world != rank) continue;
      p->ex[p->rows] = runs[g].ex[idx[i]];
      p->adapter[p->rows] = g;
      p->norm[p->rows] = (float)(1.0 / tokens);
      p->rows++;
    }
  }
}

/* Sequences [0, k) packed end to end, without padding: sequence i is rows
 * seq_start[i] .. seq_start[i+1]-1 of ids, targets, weights (each at least
 * one row: an empty example is one token 0 with no loss). Returns the rows. */
static int pack_rows(const seal_sft_example *ex, const float *norm, int k, int32_t *ids,
                     int32_t *targets, float *weights, int *seq_start) {
  int row = 0;
  for (int i = 0; i < k; i++) {
    const seal_sft_example *x = &ex[i];
    int len = x->n > 1 ? x->n : 1;
    seq_start[i] = row;
    for (int t = 0; t < len; t++, row++) {
      ids[row] = t < x->n ? x->ids[t] : 0;
      bool has_target = t + 1 < x->n && t + 1 >= loss_start(x);
      targets[row] = has_target ? x->ids[t + 1] : 0;
      weights[row] = has_target ? norm[i] : 0.0f;
    }
  }
  seq_start[k] = row;
  return row;
}

typedef struct {
  seal_train_acts acts;
  int32_t *ids, *targets;
  float *weights, *losses; /* [rows] */
  int *seq_start;          /* [mb + 1] */
  int mb;                  /* sequences per forward/backward */
} step_buffers;

/* Forward and backward over the step's rows, mb sequences at a time, packed;
 * adds each adapter's part of its step loss to loss[g] and its sequences'
 * tokens to tokens[g]. With one adapter the forward's own sum is the loss and
 * every row takes the single-adapter path; with several, each sequence uses
 * its adapter and the losses are split on the host. */
static void forward_backward(seal_model *m, seal_lora *lora, step_buffers *sb, const step_rows *p,
                             int G, double *loss, long *tokens) {
  for (int s = 0; s < p->rows; s += sb->mb) {
    int k = p->rows - s < sb->mb ? p->rows - s : sb->mb;
    const int *start = sb->seq_start;
    pack_rows(p->ex + s, p->norm + s, k, sb->ids, sb->targets, sb->weights, sb->seq_start);
    sb->acts.seq_adapter = G > 1 ? p->adapter + s : NULL;
    double sum =
        seal_forward_train_packed(m, lora, &sb->acts, sb->ids, sb->targets, sb->weights, start, k);
    seal_backward_train(m, lora, &sb->acts);
    for (int i = 0; i < k; i++) tokens[p->adapter[s + i]] += start[i + 1] - start[i];
    if (G == 1) {
      loss[0] += sum;
      continue;
    }
    seal_train_losses_to_host(m, &sb->acts, sb->losses);
    for (int i = 0; i < k; i++)
      for (int row = start[i]; row < start[i + 1]; row++)
        loss[p->adapter[s + i]] += (double)sb->weights[row] * sb->losses[row];
  }
  sb->acts.seq_adapter = NULL;
}

/* Sums the gradients and the step losses over the ranks. The losses travel
 * as float, as the reduce takes them. */
static void reduce_step(const seal_sft_config *cfg, seal_lora *lora, double *loss, int G) {
  if (!cfg->reduce) return;
  cfg->reduce(cfg->reduce_user, lora->grads, lora->n_params, true);
  float *l = seal_malloc((size_t)G * sizeof(float));
  for (int g = 0; g < G; g++) l[g] = (float)loss[g];
  cfg->reduce(cfg->reduce_user, l, (size_t)G, false);
  for (int g = 0; g < G; g++) loss[g] = l[g];
  free(l);
}

/* Each adapter that took part clips and steps on its own. */
static void step_adapters(adapter_run *runs, seal_lora *lora, const seal_sft_config *cfg,
                          const double *loss, seal_sft_stats *stats) {
  for (int g = 0; g < lora->n_adapters; g++) {
    adapter_run *r = &runs[g];
    if (adapter_done(r)) continue;
    seal_lora v = seal_lora_view(lora, g);
    float lr = seal_schedule_lr(&r->opt.cfg, r->opt.step);
    double gnorm = seal_adamw_step(&r->opt, v.params, v.grads);
    if (stats[g].steps == 0) stats[g].first_loss = loss[g];
    stats[g].last_loss = loss[g];
    stats[g].steps++;
    r->epoch_sum += loss[g];
    r->step++;
    if (cfg[g].on_step)
      cfg[g].on_step(cfg[g].on_step_user, stats[g].steps, r->total, loss[g], gnorm, lr);
  }
}

void seal_sft_train_multi(seal_model *m, seal_lora *lora, const seal_sft_example *const *ex,
                          const int *n, const seal_sft_config *cfg, seal_sft_stats *stats) {
  int G = lora->n_adapters, rows_cap = 0, steps = 0;
  int world = cfg[0].world > 0 ? cfg[0].world : 1, rank = cfg[0].rank;
  double t0 = seal_now();
  adapter_run *runs = seal_calloc((size_t)G, sizeof *runs);
  for (int g = 0; g < G; g++) {
    SEAL_CHECK((cfg[g].world > 0 ? cfg[g].world : 1) == world && cfg[g].rank == rank &&
                   cfg[g].reduce == cfg[0].reduce,
               "adapter %d of a multi-adapter SFT has another data-parallel setting", g);
    memset(&stats[g], 0, sizeof stats[g]);
    adapter_run_start(&runs[g], m, lora, ex[g], n[g], &cfg[g]);
    rows_cap += runs[g].batch;
    if (runs[g].total > steps) steps = runs[g].total;
  }
  step_buffers sb = {.mb = cfg[0].micro_batch > 0 && cfg[0].micro_batch < rows_cap
                               ? cfg[0].micro_batch
                               : rows_cap};
  int cap = rows_capacity(ex, n, G, sb.mb);
  size_t cells = (size_t)cap;
  seal_train_acts_create(&sb.acts, m, cap, lora->r);
  sb.seq_start = seal_malloc(((size_t)sb.mb + 1) * sizeof(int));
  sb.ids = seal_malloc(cells * sizeof(int32_t));
  sb.targets = seal_malloc(cells * sizeof(int32_t));
  sb.weights = seal_malloc(cells * sizeof(float));
  sb.losses = seal_malloc(cells * sizeof(float));
  step_rows p = {.ex = seal_calloc((size_t)rows_cap, sizeof(seal_sft_example)),
                 .adapter = seal_calloc((size_t)rows_cap, sizeof(int)),
                 .norm = seal_calloc((size_t)rows_cap, sizeof(float))};
  double *loss = seal_malloc((size_t)G * sizeof(double));
  long *tokens = seal_calloc((size_t)G, sizeof(long));
  for (int step = 0; step < steps; step++) {
    gather_step(runs, G, rank, world, &p);
    seal_lora_zero_grads(lora);
    for (int g = 0; g < G; g++) loss[g] = 0;
    forward_backward(m, lora, &sb, &p, G, loss, tokens);
    reduce_step(&cfg[0], lora, loss, G);
    step_adapters(runs, lora, cfg, loss, stats);
  }
  for (int g = 0; g < G; g++) {
    stats[g].mean_last_epoch =
        runs[g].steps_per_epoch ? runs[g].epoch_sum / runs[g].steps_per_epoch : 0.0;
    stats[g].tokens = tokens[g];
    stats[g].seconds = seal_now() - t0;
    seal_adamw_free(&runs[g].opt);
    free(runs[g].order);
  }
  free(runs), free(loss), free(tokens);
  free(p.ex), free(p.adapter), free(p.norm);
  free(sb.ids), free(sb.targets), free(sb.weights), free(sb.losses), free(sb.seq_start);
  seal_train_acts_free(&sb.acts, m);
}

void seal_sft_train(seal_model *m, seal_lora *lora, const seal_sft_example *ex, int n,
                    const seal_sft_config *cfg, seal_sft_stats *stats) {
  SEAL_CHECK(lora->n_adapters == 1, "seal_sft_train trains one adapter (use seal_sft_train_multi)");
  seal_sft_train_multi(m, lora, &ex, &n, cfg, stats);
}

double seal_sft_eval_loss(seal_model *m, const seal_lora *lora, const seal_sft_example *ex, int n) {
  int T = max_len(ex, n);
  seal_train_acts acts;
  seal_train_acts_create(&acts, m, T, lora ? lora->r : 0);
  int32_t *ids = seal_malloc((size_t)T * sizeof(int32_t)),
          *targets = seal_malloc((size_t)T * sizeof(int32_t));
  float *weights = seal_malloc((size_t)T * sizeof(float));
  const float one = 1.0f;
  double total = 0, count = 0;
  for (int i = 0; i < n; i++) {
    int k = seal_sft_loss_tokens(&ex[i]);
    if (k == 0) continue;
    int seq_start[2];
    pack_rows(&ex[i], &one, 1, ids, targets, weights, seq_start);
    total += seal_forward_train_packed(m, lora, &acts, ids, targets, weights, seq_start, 1);
    count += k;
  }
  free(ids);
  free(targets);
  free(weights);
  seal_train_acts_free(&acts, m);
  return count > 0 ? total / count : 0.0;
}
