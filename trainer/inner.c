/* trainer/inner.c — one step of SEAL over a task domain: sample self-edits,
 * plan, train, answer, grade. */
#include "trainer/inner.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/seeds.h"

/* Queries answered per generate call: bounds the KV cache's memory. */
#define ANSWER_BATCH 16

void seal_inner_result_free(seal_inner_result *r) { seal_grade_free(&r->grade); }

static seal_plan_hparams hparams_of(const seal_job_inner *in) {
  return (seal_plan_hparams){.lora_r = in->lora.r,
                             .lora_alpha = in->lora.alpha,
                             .lora_targets = in->lora.targets,
                             .epochs = in->epochs,
                             .batch_size = in->batch_size,
                             .lr = in->lr,
                             .weight_decay = in->weight_decay,
                             .grad_clip = in->grad_clip,
                             .schedule = in->schedule,
                             .warmup_steps = in->warmup_steps};
}

void seal_inner_plan_of(const seal_job *job, const seal_domain *d, const seal_engine *eng,
                        seal_split s, int context, seal_condition_kind kind, const char *selfedit,
                        uint64_t seed, seal_inner_plan *out) {
  memset(out, 0, sizeof *out);
  out->hp = hparams_of(&job->inner);
  d->ops->plan(d, eng, s, context, kind, selfedit, seal_item_subseed(seed, SEAL_SUBSTREAM_PLAN, 0),
               out);
}

seal_sft_config seal_inner_sft_config(const seal_plan_hparams *hp, uint64_t seed) {
  seal_sft_config c = {
      .epochs = hp->epochs,
      .batch_size = hp->batch_size,
      .shuffle = true,
      .seed = seed,
      .opt = seal_adamw_defaults((float)hp->lr, (float)hp->weight_decay, (float)hp->grad_clip,
                                 hp->schedule, hp->warmup_steps, 0),
      .rank = 0,
      .world = 1,
  };
  return c;
}

/* ---- answering ------------------------------------------------------------ */

/* Completions of refs [n] (query index, adapter; adapter NULL: all 0) at
 * temperature (0: greedy; seeds [n] drive sampling), ANSWER_BATCH at a time
 * and never mixing answer lengths in one batch. gens (may be NULL) gets each
 * completion's tokens and, with certainty, how sure the model was of them. */
static void answer_refs(seal_engine *eng, const seal_lora *lora, const seal_query *queries,
                        const int *query, const int *adapter, int n, float temperature,
                        bool certainty, const uint64_t *seeds, char **completions,
                        seal_generation *gens) {
  bool multi = lora && lora->n_adapters > 1 && adapter;
  seal_generation *own = gens ? NULL : seal_calloc((size_t)ANSWER_BATCH, sizeof *own);
  for (int start = 0; start < n;) {
    int max_tokens = queries[query[start]].max_tokens, B = 0;
    while (start + B < n && B < ANSWER_BATCH && queries[query[start + B]].max_tokens == max_tokens)
      B++;
    const char **prompts = seal_calloc((size_t)B, sizeof(char *));
    for (int b = 0; b < B; b++) prompts[b] = queries[query[start + b]].prompt;
    seal_sampling s = {.temperature = temperature,
                       .top_p = 1,
                       .max_new_tokens = max_tokens,
                       .certainty = certainty && gens};
    seal_generation *g = gens ? gens + start : own;
    seal_engine_complete_gens(eng, lora, prompts, B, &s, seeds ? seeds + start : NULL,
                              multi ? adapter + start : NULL, completions + start, g);
    if (!gens) seal_generation_free(own, B);
    free(prompts);
    start += B;
  }
  free(own);
}

/* Greedy answers of n_adapters adapters (or the bare model) to queries [n]:
 * completions and gens (may be NULL; with their certainty when asked)
 * [n_adapters * n]. */
static void answer_all(seal_engine *eng, const seal_lora *lora, int n_adapters,
                       const seal_query *queries, int n, bool certainty, char **completions,
                       seal_generation *gens) {
  int total = n_adapters * n;
  int *query = seal_calloc((size_t)(total ? total : 1), sizeof(int));
  int *adapter = seal_calloc((size_t)(total ? total : 1), sizeof(int));
  for (int a = 0; a < n_adapters; a++)
    for (int j = 0; j < n; j++) query[a * n + j] = j, adapter[a * n + j] = a;
  answer_refs(eng, lora, queries, query, adapter, total, 0, certainty, NULL, completions, gens);
  free(query);
  free(adapter);
}

void seal_inner_answer(seal_engine *eng, const seal_lora *lora, int n_adapters,
                       const seal_query *queries, int n, char **completions) {
  answer_all(eng, lora, n_adapters, queries, n, false, completions, NULL);
}

void seal_inner_answer_sampled(seal_engine *eng, const seal_lora *lora, const seal_query *queries,
                               const int *query, int n, float temperature, const uint64_t *seeds,
                               char **completions) {
  answer_refs(eng, lora, queries, query, NULL, n, temperature, false, seeds, completions, NULL);
}

/* ---- training --------------------------------------------------------------- */

static bool same_lora_shape(const seal_plan_hparams *a, const seal_plan_hparams *b) {
  return a->lora_r == b->lora_r && a->lora_alpha == b->lora_alpha &&
         a->lora_targets == b->lora_targets;
}

/* Trains the plans with slot[i] >= 0 as adapters slot[i] of a fresh
 * multi-LoRA of n_trained adapters (one LoRA shape for all). */
static void train_plans(seal_engine *eng, const seal_inner_plan *plans, const int *slot, int G,
                        int n_trained, const uint64_t *seeds, seal_lora *lora,
                        seal_inner_result *out) {
  const seal_plan_hparams *hp = NULL;
  const seal_sft_example **ex = seal_calloc((size_t)n_trained, sizeof *ex);
  int *n = seal_calloc((size_t)n_trained, sizeof *n);
  seal_sft_config *cfg = seal_calloc((size_t)n_trained, sizeof *cfg);
  seal_sft_stats *st = seal_calloc((size_t)n_trained, sizeof *st);
  for (int i = 0; i < G; i++) {
    if (slot[i] < 0) continue;
    if (!hp) {
      hp = &plans[i].hp;
      seal_lora_create_multi(lora, &eng->model, n_trained, hp->lora_r, (float)hp->lora_alpha,
                             hp->lora_targets);
    }
    SEAL_CHECK(same_lora_shape(hp, &plans[i].hp),
               "the plans of one inner-loop group have different LoRA shapes");
    int g = slot[i];
    seal_lora v = seal_lora_view(lora, g);
    seal_rng rng;
    seal_rng_seed(&rng, seal_item_subseed(seeds[i], SEAL_SUBSTREAM_LORA_INIT, 0));
    seal_lora_init(&v, &rng);
    seal_sft_example *e = seal_calloc((size_t)plans[i].n_ex, sizeof *e);
    for (int j = 0; j < plans[i].n_ex; j++)
      e[j] = (seal_sft_example){plans[i].ex[j].ids, plans[i].ex[j].n, plans[i].ex[j].loss_from};
    ex[g] = e;
    n[g] = plans[i].n_ex;
    cfg[g] =
        seal_inner_sft_config(&plans[i].hp, seal_item_subseed(seeds[i], SEAL_SUBSTREAM_ORDER, 0));
  }
  seal_sft_train_multi(&eng->model, lora, ex, n, cfg, st);
  for (int i = 0; i < G; i++) {
    int g = slot[i];
    if (g < 0) continue;
    out[i].first_loss = st[g].first_loss;
    out[i].last_loss = st[g].last_loss;
    out[i].train_seconds = st[g].seconds / n_trained; /* one shared run: each its share */
    free((void *)ex[g]);
  }
  free(ex), free(n), free(cfg), free(st);
}

/* The answers of the models of a context's G inner loops: the trained ones'
 * (adapter slot[i] of lora) and the bare model's (for plans that train nothing). */
typedef struct {
  seal_query *q;
  int Q;
  char **adapted, **bare;                  /* [n_trained * Q], [Q] */
  seal_generation *adapted_gen, *bare_gen; /* their tokens and certainty */
} answers;

/* Whether the answers' self-certainty and entropy are measured: on the train
 * split, when the reward is one of them or reward.signals asks for them. */
static bool measures_certainty(const seal_job *job, seal_split s) {
  seal_reward_source src = job->reward.source;
  return s == SEAL_SPLIT_TRAIN && (job->reward.signals != SEAL_SIGNALS_NONE ||
                                   src == SEAL_REWARD_SELF_CERTAINTY || src == SEAL_REWARD_ENTROPY);
}

static void answer_plans(seal_engine *eng, const seal_domain *d, const seal_job *job, seal_split s,
                         int context, const int *slot, int G, const seal_lora *lora, int n_trained,
                         const seal_inner_result *out, answers *A) {
  A->Q = d->ops->queries(d, eng, s, context, &A->q);
  size_t na = (size_t)n_trained * A->Q + 1, nb = (size_t)A->Q + 1;
  A->adapted = seal_calloc(na, sizeof(char *)), A->bare = seal_calloc(nb, sizeof(char *));
  A->adapted_gen = seal_calloc(na, sizeof(seal_generation));
  A->bare_gen = seal_calloc(nb, sizeof(seal_generation));
  bool need_bare = false;
  for (int i = 0; i < G; i++) need_bare |= out[i].ok && slot[i] < 0;
  bool certainty = measures_certainty(job, s);
  if (n_trained)
    answer_all(eng, lora, n_trained, A->q, A->Q, certainty, A->adapted, A->adapted_gen);
  if (need_bare) answer_all(eng, NULL, 1, A->q, A->Q, certainty, A->bare, A->bare_gen);
}

static void answers_free(answers *A, int n_trained) {
  for (int j = 0; j < n_trained * A->Q; j++) free(A->adapted[j]);
  for (int j = 0; j < A->Q; j++) free(A->bare[j]);
  seal_generation_free(A->adapted_gen, n_trained * A->Q);
  seal_generation_free(A->bare_gen, A->Q);
  free(A->adapted), free(A->bare), free(A->adapted_gen), free(A->bare_gen);
  seal_queries_free(A->q, A->Q);
}

/* The label-free signals of a plan's model (adapter g of lora, or the bare
 * model when g < 0) from the model and its answers gen [Q] alone (their
 * tokens, and the certainty their decoding measured). */
static seal_labelfree_signals signals_of(seal_engine *eng, const seal_domain *d,
                                         const seal_job *job, seal_split s, int context,
                                         const seal_lora *lora, int g, const answers *A,
                                         const seal_generation *gen, uint64_t seed) {
  seal_labelfree_signals sig = seal_labelfree_none();
  seal_lora view = {0};
  if (g >= 0) view = seal_lora_view(lora, g);
  const seal_lora *one = g >= 0 ? &view : NULL;
  seal_reward_source src = job->reward.source;
  if (measures_certainty(job, s)) seal_labelfree_certainty(gen, A->Q, &sig);
  if (src == SEAL_REWARD_MAJORITY || job->reward.signals == SEAL_SIGNALS_ALL)
    sig.majority = seal_labelfree_majority(eng, one, d, job, s, context, A->q, A->Q, seed);
  return sig;
}

/* Every usable plan's model answers the queries (the trained ones in one
 * batch with their adapters, the untrained ones with the bare model); the
 * domain grades each (the labelled reward), and on the train split the
 * label-free signals are measured apart from the grade, from the model and
 * its answers alone. The reward is the job's source's on the train split and
 * the labels' on eval (evaluation measures against the truth). */
static void answer_and_reward(seal_engine *eng, const seal_domain *d, const seal_job *job,
                              seal_split s, int context, const int *slot, int G,
                              const seal_lora *lora, int n_trained, const uint64_t *seeds,
                              seal_inner_result *out) {
  double t0 = seal_now();
  answers A;
  answer_plans(eng, d, job, s, context, slot, G, lora, n_trained, out, &A);
  seal_reward_source source = s == SEAL_SPLIT_TRAIN ? job->reward.source : SEAL_REWARD_LABELS;
  int answered = 0;
  for (int i = 0; i < G; i++) {
    out[i].signals = seal_labelfree_none();
    if (!out[i].ok) { /* unusable: scores the worst over the queries without answering */
      out[i].grade.n_items = A.Q;
      out[i].label_reward = 0;
      out[i].reward = source == SEAL_REWARD_LABELS
                          ? 0
                          : seal_labelfree_floor(source, eng->model.cfg.vocab_size);
      continue;
    }
    size_t off = slot[i] >= 0 ? (size_t)slot[i] * A.Q : 0;
    char **c = slot[i] >= 0 ? A.adapted + off : A.bare;
    seal_generation *gen = slot[i] >= 0 ? A.adapted_gen + off : A.bare_gen;
    if (s == SEAL_SPLIT_TRAIN)
      out[i].signals = signals_of(eng, d, job, s, context, lora, slot[i], &A, gen, seeds[i]);
    d->ops->grade(d, s, context, A.q, (const char *const *)c, A.Q, &out[i].grade);
    out[i].label_reward = out[i].grade.reward;
    out[i].reward = source == SEAL_REWARD_LABELS ? out[i].label_reward
                                                 : seal_labelfree_reward(source, &out[i].signals);
    answered++;
  }
  double per = (seal_now() - t0) / (answered ? answered : 1);
  for (int i = 0; i < G; i++)
    if (out[i].ok) out[i].answer_seconds = per;
  answers_free(&A, n_trained);
}

void seal_inner_evaluate(seal_engine *eng, const seal_domain *d, const seal_job *job, seal_split s,
                         int context, seal_condition_kind kind, const char *const *selfedits, int G,
                         const uint64_t *seeds, seal_inner_result *out) {
  seal_inner_plan *plans = seal_calloc((size_t)G, sizeof *plans);
  int *slot = seal_malloc((size_t)G * sizeof(int)); /* adapter of plan i, or -1 */
  int n_trained = 0;
  for (int i = 0; i < G; i++) {
    memset(&out[i], 0, sizeof out[i]);
    out[i].first_loss = out[i].last_loss = NAN;
    seal_inner_plan_of(job, d, eng, s, context, kind, selfedits ? selfedits[i] : NULL, seeds[i],
                       &plans[i]);
    out[i].ok = plans[i].ok;
    snprintf(out[i].reason, sizeof out[i].reason, "%s", plans[i].reason);
    out[i].n_examples = plans[i].n_ex;
    slot[i] = plans[i].ok && plans[i].train && plans[i].n_ex > 0 ? n_trained++ : -1;
  }
  seal_lora lora;
  if (n_trained) train_plans(eng, plans, slot, G, n_trained, seeds, &lora, out);
  answer_and_reward(eng, d, job, s, context, slot, G, n_trained ? &lora : NULL, n_trained, seeds,
                    out);
  if (n_trained) seal_lora_free(&lora);
  for (int i = 0; i < G; i++) seal_inner_plan_free(&plans[i]);
  free(plans);
  free(slot);
}

/* ---- sampling self-edits ---------------------------------------------------- */

void seal_sample_selfedits_of(seal_engine *eng, const seal_domain *d, const seal_job *job,
                              seal_split s, const int *contexts, int n_seq, const uint64_t *seeds,
                              char **texts, bool *usable, char (*reasons)[SEAL_REASON_SIZE],
                              int *attempts) {
  const seal_job_selfedit *se = &job->selfedit;
  char **prompt = seal_calloc((size_t)n_seq + 1, sizeof(char *)); /* [n_seq] */
  int *todo = seal_malloc((size_t)n_seq * sizeof(int) + 1), n = n_seq;
  const char **prompts = seal_calloc((size_t)n_seq + 1, sizeof(char *));
  uint64_t *sd = seal_calloc((size_t)n_seq + 1, sizeof(uint64_t));
  char **drawn = seal_calloc((size_t)n_seq + 1, sizeof(char *));
  for (int j = 0; j < n_seq; j++) {
    todo[j] = j, texts[j] = NULL, attempts[j] = 0;
    /* the same context's prompt is the same text: made once */
    prompt[j] = j > 0 && contexts[j] == contexts[j - 1]
                    ? seal_strdup(prompt[j - 1])
                    : d->ops->selfedit_prompt(d, eng, s, contexts[j], NULL);
  }
  seal_sampling smp = {.temperature = (float)se->temperature,
                       .top_p = (float)se->top_p,
                       .max_new_tokens = se->max_tokens};
  for (int a = 0; n > 0 && a <= se->max_resamples; a++) {
    for (int i = 0; i < n; i++) {
      prompts[i] = prompt[todo[i]];
      sd[i] =
          a == 0 ? seeds[todo[i]] : seal_item_subseed(seeds[todo[i]], SEAL_SUBSTREAM_RESAMPLE, a);
    }
    seal_engine_complete(eng, NULL, prompts, n, &smp, sd, drawn, NULL);
    int left = 0;
    for (int i = 0; i < n; i++) {
      int j = todo[i];
      free(texts[j]);
      texts[j] = drawn[i];
      attempts[j]++;
      reasons[j][0] = '\0';
      usable[j] =
          d->ops->selfedit_usable(d, s, contexts[j], texts[j], reasons[j], SEAL_REASON_SIZE);
      if (!usable[j]) todo[left++] = j;
    }
    n = left;
  }
  for (int j = 0; j < n_seq; j++) free(prompt[j]);
  free(prompt), free(todo), free(prompts), free(sd), free(drawn);
}

void seal_sample_selfedits(seal_engine *eng, const seal_domain *d, const seal_job *job,
                           seal_split s, int context, int k, const uint64_t *seeds, char **texts,
                           bool *usable, char (*reasons)[SEAL_REASON_SIZE], int *attempts) {
  int *contexts = seal_malloc((size_t)k * sizeof(int) + 1); /* [k] all the one context */
  for (int j = 0; j < k; j++) contexts[j] = context;
  seal_sample_selfedits_of(eng, d, job, s, contexts, k, seeds, texts, usable, reasons, attempts);
  free(contexts);
}
