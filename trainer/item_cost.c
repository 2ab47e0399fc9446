/* trainer/item_cost.c — the expected cost of work items (trainer/item_cost.h). */
#include "trainer/item_cost.h"

#include <stdlib.h>

static int plan_epochs(const seal_inner_plan *p) { return p->hp.epochs > 0 ? p->hp.epochs : 1; }

/* An epoch of tokens and optimizer steps, times the epochs: a step's forward
 * and backward grow with the tokens it runs, and each step adds its update. */
static double plan_cost(const seal_inner_plan *p) {
  if (!p->ok || !p->train || p->n_ex == 0) return 0;
  double tokens = 0;
  for (int j = 0; j < p->n_ex; j++) tokens += p->ex[j].n;
  int batch = p->hp.batch_size > 0 ? p->hp.batch_size : 1;
  int steps = (p->n_ex + batch - 1) / batch;
  return (tokens + SEAL_COST_STEP * steps) * plan_epochs(p);
}

double seal_cost_train(const seal_run *run, seal_split s, int i, seal_condition_kind kind,
                       const char *selfedit, uint64_t seed) {
  seal_inner_plan plan;
  seal_inner_plan_of(run->job, &run->domain, run->student, s, i, kind, selfedit, seed, &plan);
  double cost = plan_cost(&plan);
  seal_inner_plan_free(&plan);
  return cost;
}

double seal_cost_train_unwritten(const seal_run *run, seal_split s, int i, uint64_t seed) {
  seal_inner_plan plan;
  seal_inner_plan_of(run->job, &run->domain, run->student, s, i, SEAL_COND_FIXED, NULL, seed,
                     &plan);
  double cost =
      plan_cost(&plan) + (run->job->selfedit.max_tokens + SEAL_COST_STEP) * plan_epochs(&plan);
  seal_inner_plan_free(&plan);
  return cost;
}

/* A prompt read and up to max_tokens decoded after it. */
static double decode_cost(const seal_engine *eng, const char *prompt, int max_tokens) {
  int32_t *ids = NULL;
  int n = seal_engine_encode_prompt(eng, prompt, &ids);
  free(ids);
  return n * SEAL_COST_PROMPT_TOKEN + max_tokens * SEAL_COST_DECODED_TOKEN;
}

double seal_cost_answer(const seal_run *run, seal_split s, int i) {
  const seal_domain *d = &run->domain;
  seal_query *q;
  int n = d->ops->queries(d, run->student, s, i, &q);
  double cost = 0;
  for (int j = 0; j < n; j++) cost += decode_cost(run->student, q[j].prompt, q[j].max_tokens);
  seal_queries_free(q, n);
  return cost;
}

double seal_cost_write(const seal_run *run, seal_split s, int i, int k) {
  const seal_domain *d = &run->domain;
  char *prompt = d->ops->selfedit_prompt(d, &run->eng, s, i, NULL);
  double cost = k * decode_cost(&run->eng, prompt, run->job->selfedit.max_tokens);
  free(prompt);
  return cost;
}
