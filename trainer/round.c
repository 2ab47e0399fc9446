/* trainer/round.c — one ReST-EM round as work items (docs/architecture.md):
 *   GENERATE(context)                 -> k self-edits        (any rank)
 *   EVALUATE(context, sample, repeat) -> reward              (any rank)
 * The policy (run->eng: the teacher, or the model itself) writes the self-edits
 * and is updated; the student (run->student) is what the inner loop adapts.
 *   filter: best of k per context                            (rank 0)
 *   update: LoRA SFT on (prompt, best self-edit), data-parallel, merged (all ranks)
 * Rank 0 keeps the run state and checkpoints as results arrive. The payloads
 * are the typed items of trainer/items.h. */
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/collective.h"
#include "comm/workqueue.h"
#include "evaluator/select.h"
#include "trainer/item_cost.h"
#include "trainer/items.h"
#include "trainer/run.h"
#include "trainer/seeds.h"

/* ---- running items ------------------------------------------------------------ */

/* Rank 0's encoded payloads of one phase and what each is expected to cost
 * (trainer/item_cost.h), by which the queue hands them out. */
typedef struct {
  char **payloads;
  size_t *lens;
  double *cost;
  int n;
} item_list;

/* Takes the payload over. */
static void item_list_add(item_list *l, char *payload, double cost) {
  l->payloads = seal_realloc(l->payloads, (size_t)(l->n + 1) * sizeof(char *));
  l->lens = seal_realloc(l->lens, (size_t)(l->n + 1) * sizeof(size_t));
  l->cost = seal_realloc(l->cost, (size_t)(l->n + 1) * sizeof(double));
  l->payloads[l->n] = payload;
  l->lens[l->n] = strlen(payload);
  l->cost[l->n] = cost;
  l->n++;
}

static void item_list_free(item_list *l) {
  for (int i = 0; i < l->n; i++) free(l->payloads[i]);
  free(l->payloads);
  free(l->lens);
  free(l->cost);
  memset(l, 0, sizeof *l);
}

/* Runs items over every rank, the costliest first; rank 0 built the list (the
 * others have none and get the count by broadcast). Returns the queue's status. */
static int run_items(seal_run *run, item_list *l, seal_work_fn work, seal_result_fn on_result,
                     void *user, const char *what) {
  int n = l->n;
  seal_comm_bcast_raw(run->comm, &n, sizeof n);
  if (n == 0) return 0;
  if (run->comm->rank == 0)
    seal_info("%s: %d work item(s) over %d rank(s)", what, n, run->comm->size);
  seal_workqueue_opts opts = seal_run_queue_opts(run);
  opts.cost = l->cost; /* read on rank 0 only, where the list is */
  seal_error e;
  int rc = seal_workqueue_run(run->comm, n, (const void *const *)l->payloads, l->lens, work,
                              on_result, user, &opts, &e);
  if (rc < 0) SEAL_DIE("%s: %s", what, e.msg);
  return rc;
}

/* A work function's payload that does not decode: the item fails, saying why. */
static int bad_payload(seal_buf *out, const seal_error *e) {
  seal_buf_puts(out, e->msg);
  return -1;
}

/* ---- state queries (rank 0) ----------------------------------------------- */

static int count_records(const seal_run_state *st, int round, int context, int repeat_min) {
  if (round >= st->n_selfedit_rounds) return 0;
  int n = 0;
  for (int i = 0; i < st->n_selfedits[round]; i++) {
    const seal_selfedit_record *r = &st->selfedits[round][i];
    if (r->context_id == context && r->repeat >= repeat_min) n++;
  }
  return n;
}

static const seal_selfedit_record *find_record(const seal_run_state *st, int round, int context,
                                               int sample, int repeat) {
  if (round >= st->n_selfedit_rounds) return NULL;
  for (int i = 0; i < st->n_selfedits[round]; i++) {
    const seal_selfedit_record *r = &st->selfedits[round][i];
    if (r->context_id == context && r->sample == sample && r->repeat == repeat) return r;
  }
  return NULL;
}

/* ---- progress and checkpoints as results arrive --------------------------- */

typedef struct {
  seal_run *run;
  int round;
  seal_progress progress;
  int done;
} phase_ctx;

/* count results of one work item have been recorded: progress, then the
 * checkpoint (once per item, or after checkpoint.interval_seconds, so a crash
 * loses only the items in flight). */
static void result_arrived(phase_ctx *pc, int count) {
  seal_run *run = pc->run;
  pc->done += count;
  seal_progress_update(&pc->progress, pc->done, NULL);
  if (seal_now() - run->last_ckpt >= run->job->checkpoint.interval_seconds)
    seal_run_checkpoint(run);
}

/* ---- GENERATE --------------------------------------------------------------- */

/* Self-edits one GENERATE item writes together at most: a decode step of up to
 * 8 rows computes each row as for one on the CPU (seal_sample_selfedits_of), so
 * the texts are those written one context at a time, and the weights are read
 * once a step for all of them. */
#define WRITE_SEQUENCES 8

void seal_run_write_selfedits(seal_run *run, int round, const int *contexts, int n,
                              seal_selfedit_batch *b) {
  int k = run->job->selfedit.k, total = n * k;
  int *ctx = seal_malloc((size_t)total * sizeof(int) + 1); /* [n * k] context-major */
  uint64_t *seeds = seal_calloc((size_t)total + 1, sizeof(uint64_t));
  for (int i = 0; i < n; i++)
    for (int s = 0; s < k; s++) {
      ctx[i * k + s] = contexts[i];
      seeds[i * k + s] =
          seal_item_seed(run->job->seed, round, contexts[i], s, SEAL_STREAM_GENERATE);
    }
  seal_selfedit_batch all;
  seal_selfedit_batch_alloc(&all, contexts[0], total);
  /* the policy writes: its prompt, sampling and decoding are its own (the teacher's) */
  seal_sample_selfedits_of(&run->eng, &run->domain, run->job, SEAL_SPLIT_TRAIN, ctx, total, seeds,
                           all.texts, all.usable, all.reasons, all.attempts);
  for (int i = 0; i < n; i++) { /* context i's k, moved over */
    seal_selfedit_batch_alloc(&b[i], contexts[i], k);
    for (int s = 0; s < k; s++) {
      int t = i * k + s;
      b[i].texts[s] = all.texts[t], all.texts[t] = NULL;
      b[i].usable[s] = all.usable[t], b[i].attempts[s] = all.attempts[t];
      memcpy(b[i].reasons[s], all.reasons[t], sizeof b[i].reasons[s]);
    }
  }
  seal_selfedit_batch_free(&all);
  free(ctx), free(seeds);
}

static int generate_work(void *user, int item, const void *payload, size_t len, seal_buf *out) {
  phase_ctx *pc = user;
  seal_run *run = pc->run;
  (void)item;
  seal_generate_item in;
  seal_error e;
  if (seal_generate_item_decode(payload, len, &in, &e)) return bad_payload(out, &e);
  seal_selfedit_batch b[SEAL_GENERATE_MAX_CONTEXTS];
  seal_run_write_selfedits(run, pc->round, in.context, in.n, b);
  char *text = seal_selfedit_batches_encode(b, in.n, &e);
  SEAL_CHECK(text, "%s", e.msg);
  seal_buf_puts(out, text);
  free(text);
  for (int i = 0; i < in.n; i++) seal_selfedit_batch_free(&b[i]);
  return 0;
}

/* One context's k self-edits into the run's records. */
static void record_batch(phase_ctx *pc, const seal_selfedit_batch *b, int worker) {
  seal_run *run = pc->run;
  int unusable = 0;
  for (int s = 0; s < b->k; s++) {
    seal_selfedit_record rec = {.context_id = b->context,
                                .sample = s,
                                .repeat = -1,
                                .reward = NAN,
                                .label_reward = NAN,
                                .ok = b->usable[s],
                                .attempts = b->attempts[s],
                                .reason = b->reasons[s],
                                .text = b->texts[s]};
    seal_run_state_add_selfedit(&run->st, pc->round, &rec);
    unusable += !b->usable[s];
  }
  seal_metrics_emit(&run->metrics, "generated",
                    json_pack("{s:i,s:i,s:i,s:i,s:i}", "round", pc->round, "context", b->context,
                              "samples", b->k, "unusable", unusable, "rank", worker));
}

static void generate_result(void *user, int item, int ok, const void *data, size_t len,
                            int worker) {
  phase_ctx *pc = user;
  seal_selfedit_batch *b = NULL;
  int n = 0;
  seal_error e = {{0}};
  bool good = ok && seal_selfedit_batches_decode(data, len, &b, &n, &e) == 0;
  if (good)
    for (int i = 0; i < n; i++) record_batch(pc, &b[i], worker);
  else /* generation failed twice: its contexts get no self-edits this round */
    seal_warn("generate item %d failed on rank %d: %.*s%s", item, worker, ok ? 0 : (int)len,
              ok ? "" : (const char *)data, e.msg);
  for (int i = 0; i < n; i++) seal_selfedit_batch_free(&b[i]);
  free(b);
  if (good) result_arrived(pc, n);
}

static int phase_generate(seal_run *run, int round, const int *ctx, int n_ctx) {
  phase_ctx pc = {.run = run, .round = round};
  item_list items = {0};
  if (run->comm->rank == 0) {
    snprintf(run->st.phase, sizeof run->st.phase, "generate");
    /* the contexts still to write, as many to an item as fill 8 sequences
     * (k each), decoded together: a fixed grouping, so the texts do not
     * depend on the rank count (seal_sample_selfedits_of) */
    int k = run->job->selfedit.k, per = k >= WRITE_SEQUENCES ? 1 : WRITE_SEQUENCES / k;
    if (per > SEAL_GENERATE_MAX_CONTEXTS) per = SEAL_GENERATE_MAX_CONTEXTS;
    seal_generate_item it = {0};
    double cost = 0;
    int contexts = 0;
    for (int i = 0; i <= n_ctx; i++) {
      bool todo = i < n_ctx && count_records(&run->st, round, ctx[i], -1) == 0;
      if (todo) {
        it.context[it.n++] = ctx[i], contexts++;
        cost += seal_cost_write(run, SEAL_SPLIT_TRAIN, ctx[i], k);
      }
      if (it.n > 0 && (it.n == per || i == n_ctx)) {
        item_list_add(&items, seal_generate_item_encode(&it), cost);
        it.n = 0, cost = 0;
      }
    }
    seal_progress_begin(&pc.progress, "generate self-edits", contexts);
  }
  int rc = run_items(run, &items, generate_work, generate_result, &pc, "generate self-edits");
  if (run->comm->rank == 0) seal_progress_end(&pc.progress);
  item_list_free(&items);
  return rc;
}

/* ---- EVALUATE ----------------------------------------------------------- */

/* The test hook testing.fault_evaluate: that evaluation fails on every
 * attempt, as a crash inside the inner loop would. */
static bool injected_fault(const seal_job *job, int context, const seal_evaluate_pair *p) {
  const seal_job_fault *f = &job->testing.fault_evaluate;
  return f->context == context && f->sample == p->sample && f->repeat == p->repeat;
}

/* The inner loop's seed of one (sample, repeat) of a context. */
static uint64_t evaluate_seed(const seal_run *run, int round, int context,
                              const seal_evaluate_pair *p) {
  return seal_item_seed(run->job->seed, round, context, p->sample,
                        SEAL_STREAM_EVALUATE + p->repeat);
}

void seal_run_learn_selfedits(seal_run *run, int round, int context,
                              const seal_evaluate_pair *pairs, int G, seal_inner_result *out) {
  const char **texts = seal_calloc((size_t)(G ? G : 1), sizeof(char *));
  uint64_t *seeds = seal_calloc((size_t)(G ? G : 1), sizeof(uint64_t));
  for (int i = 0; i < G; i++) {
    texts[i] = pairs[i].text;
    seeds[i] = evaluate_seed(run, round, context, &pairs[i]);
  }
  /* the student learns from the policy's text, through its own tokenizer */
  seal_inner_evaluate(run->student, &run->domain, run->job, SEAL_SPLIT_TRAIN, context,
                      SEAL_COND_SELFEDIT, texts, G, seeds, out);
  free(texts), free(seeds);
}

/* EVALUATE(context, [(sample, repeat, text)...]): one inner loop, or (with
 * inner_loop.group > 1) several trained together as one batched multi-LoRA
 * run; the result has one inner loop's result per pair. */
static int evaluate_work(void *user, int item, const void *payload, size_t len, seal_buf *out) {
  phase_ctx *pc = user;
  seal_run *run = pc->run;
  (void)item;
  seal_evaluate_item in;
  seal_error e;
  if (seal_evaluate_item_decode(payload, len, &in, &e)) {
    seal_evaluate_item_free(&in);
    return bad_payload(out, &e);
  }
  int G = in.n;
  for (int i = 0; i < G; i++)
    if (injected_fault(run->job, in.context, &in.pairs[i])) {
      seal_buf_printf(out, "injected fault (testing.fault_evaluate) in context %d sample %d",
                      in.context, in.pairs[i].sample);
      seal_evaluate_item_free(&in);
      return -1;
    }
  seal_evaluate_result res = {
      .n = G, .results = seal_calloc((size_t)(G ? G : 1), sizeof(seal_inner_result))};
  seal_run_learn_selfedits(run, pc->round, in.context, in.pairs, G, res.results);
  char *text = seal_evaluate_result_encode(&res, run->domain.ops->n_metrics);
  seal_buf_puts(out, text);
  free(text);
  seal_evaluate_result_free(&res);
  seal_evaluate_item_free(&in);
  return 0;
}

typedef struct {
  phase_ctx pc;
  item_list items;
} eval_ctx;

/* Stores one pair's record and its metrics event; r NULL: the item failed. */
static void record_pair(eval_ctx *ec, int context, const seal_evaluate_pair *pair,
                        const seal_inner_result *r, const char *why, int worker) {
  seal_run *run = ec->pc.run;
  const seal_domain_ops *ops = run->domain.ops;
  const seal_selfedit_record *gen = find_record(&run->st, ec->pc.round, context, pair->sample, -1);
  double zeros[SEAL_DOMAIN_MAX_METRICS] = {0};
  json_t *metrics = seal_metrics_by_name(ops, r ? r->grade.metric : zeros);
  seal_labelfree_signals none = seal_labelfree_none();
  json_object_update_new(metrics, seal_labelfree_signals_json(r ? &r->signals : &none));
  char *metrics_text = json_dumps(metrics, JSON_COMPACT | JSON_REAL_PRECISION(17));
  seal_selfedit_record rec = {.context_id = context,
                              .sample = pair->sample,
                              .repeat = pair->repeat,
                              .reward = r ? r->reward : 0,
                              .label_reward = r ? r->label_reward : NAN,
                              .n_examples = r ? r->n_examples : 0,
                              .ok = r ? r->ok : 0,
                              .attempts = gen ? gen->attempts : 1,
                              .reason = r ? (char *)r->reason : (char *)why,
                              .metrics = metrics_text,
                              .text = pair->text};
  seal_run_state_add_selfedit(&run->st, ec->pc.round, &rec);
  json_t *m =
      json_pack("{s:i,s:i,s:i,s:i,s:o,s:i,s:i,s:o}", "round", ec->pc.round, "context", context,
                "sample", rec.sample, "repeat", rec.repeat, "reward", seal_json_real(rec.reward),
                "ok", rec.ok, "rank", worker, "label_reward", seal_json_real(rec.label_reward));
  json_object_update(m, metrics);
  json_object_update_new(
      m, json_pack("{s:i,s:s,s:o,s:o,s:f,s:f}", "n_examples", rec.n_examples, "reason", rec.reason,
                   "first_loss", seal_json_real(r ? r->first_loss : NAN), "last_loss",
                   seal_json_real(r ? r->last_loss : NAN), "train_seconds",
                   r ? r->train_seconds : 0.0, "answer_seconds", r ? r->answer_seconds : 0.0));
  seal_metrics_emit(&run->metrics, "evaluated", m);
  json_decref(metrics);
  free(metrics_text);
}

static void evaluate_result(void *user, int item, int ok, const void *data, size_t len,
                            int worker) {
  eval_ctx *ec = user;
  seal_run *run = ec->pc.run;
  seal_evaluate_item in;
  seal_evaluate_result res = {0};
  seal_error e = {{0}};
  if (seal_evaluate_item_decode(ec->items.payloads[item], ec->items.lens[item], &in, &e))
    SEAL_DIE("rank 0's own %s", e.msg);
  if (ok && seal_evaluate_result_decode(data, len, run->domain.ops->n_metrics, &res, &e)) ok = 0;
  if (ok && res.n != in.n) ok = 0, seal_errorf(&e, "%d results for %d pairs", res.n, in.n);
  char *why = NULL;
  if (!ok) { /* The item failed on every attempt: its pairs score zero, every other result stays. */
    why = seal_asprintf("the evaluation failed: %.*s%s", e.msg[0] ? 0 : (int)len,
                        e.msg[0] ? "" : (const char *)data, e.msg);
    seal_warn("evaluate item %d (context %d, %d self-edit(s)) failed on rank %d: %s; scored 0",
              item, in.context, in.n, worker, why);
  }
  for (int i = 0; i < in.n; i++)
    record_pair(ec, in.context, &in.pairs[i], ok ? &res.results[i] : NULL, why, worker);
  result_arrived(&ec->pc, in.n);
  free(why);
  seal_evaluate_result_free(&res);
  seal_evaluate_item_free(&in);
}

/* What an EVALUATE item costs: each pair's plan (its self-edit's lines and
 * the passage, or ARC's augmentations, times the epochs its plan says), trained
 * together, then one adapted model per pair answering the context's questions
 * (answer: one model's). Self-edits differ most in what they train on. */
static double evaluate_cost(const seal_run *run, int round, const seal_evaluate_item *it,
                            double answer) {
  double cost = 0;
  for (int i = 0; i < it->n; i++)
    cost +=
        seal_cost_train(run, SEAL_SPLIT_TRAIN, it->context, SEAL_COND_SELFEDIT, it->pairs[i].text,
                        evaluate_seed(run, round, it->context, &it->pairs[i]));
  return cost + it->n * answer;
}

static void add_evaluate_item(seal_run *run, int round, const seal_evaluate_item *it, double answer,
                              item_list *items) {
  item_list_add(items, seal_evaluate_item_encode(it), evaluate_cost(run, round, it, answer));
}

/* Adds EVALUATE items for a context's pending pairs, group at a time;
 * returns how many pairs it added. */
static int add_evaluate_items(seal_run *run, int round, int context, item_list *items) {
  int group = run->job->inner.group > 0 ? run->job->inner.group : 1, added = 0;
  double answer = seal_cost_answer(run, SEAL_SPLIT_TRAIN, context);
  seal_evaluate_item it = {.context = context,
                           .pairs = seal_calloc((size_t)group, sizeof(seal_evaluate_pair))};
  for (int s = 0; s < run->job->selfedit.k; s++) {
    const seal_selfedit_record *gen = find_record(&run->st, round, context, s, -1);
    if (!gen) continue;
    for (int rep = 0; rep < run->job->repeats; rep++) {
      if (find_record(&run->st, round, context, s, rep)) continue;
      it.pairs[it.n++] = (seal_evaluate_pair){s, rep, gen->text};
      added++;
      if (it.n == group) {
        add_evaluate_item(run, round, &it, answer, items);
        it.n = 0;
      }
    }
  }
  if (it.n > 0) add_evaluate_item(run, round, &it, answer, items);
  free(it.pairs); /* the texts are the records' */
  return added;
}

static int phase_evaluate(seal_run *run, int round, const int *ctx, int n_ctx) {
  eval_ctx ec = {.pc = {.run = run, .round = round}};
  if (run->comm->rank == 0) {
    snprintf(run->st.phase, sizeof run->st.phase, "evaluate");
    int pairs = 0; /* progress counts self-edit evaluations, whatever their grouping */
    for (int i = 0; i < n_ctx; i++) pairs += add_evaluate_items(run, round, ctx[i], &ec.items);
    seal_progress_begin(&ec.pc.progress, "evaluate self-edits", pairs);
  }
  int rc = run_items(run, &ec.items, evaluate_work, evaluate_result, &ec, "evaluate self-edits");
  if (run->comm->rank == 0) seal_progress_end(&ec.pc.progress);
  item_list_free(&ec.items);
  return rc;
}

/* ---- filter (rank 0) -------------------------------------------------------- */

/* Appends sample s of context c (its generated record) to kept. */
static void keep_sample(seal_run *run, int round, int c, int s, double mean, seal_kept_list *kept) {
  const seal_selfedit_record *gen = find_record(&run->st, round, c, s, -1);
  if (!gen) return;
  kept->items[kept->n++] =
      (seal_kept){.context = c, .sample = s, .mean = mean, .text = seal_strdup(gen->text)};
}

/* The kept self-edits per context (the task's rule: the best, or every one
 * that solved its context), and the round's mean reward. */
static seal_kept_list filter_best(seal_run *run, int round, const int *ctx, int n_ctx,
                                  double *mean) {
  const seal_job *job = run->job;
  int k = job->selfedit.k, R = job->repeats;
  size_t room = (size_t)(n_ctx ? n_ctx : 1) * (size_t)k;
  seal_kept_list kept = {.items = seal_calloc(room, sizeof(seal_kept))};
  double *rewards = seal_malloc((size_t)k * R * sizeof(double));
  double *means = seal_malloc((size_t)k * sizeof(double));
  double sum = 0;
  int count = 0;
  for (int i = 0; i < n_ctx; i++) {
    for (int s = 0; s < k; s++)
      for (int rep = 0; rep < R; rep++) {
        const seal_selfedit_record *r = find_record(&run->st, round, ctx[i], s, rep);
        rewards[s * R + rep] = r ? r->reward : NAN;
        if (r && isfinite(r->reward)) sum += r->reward, count++;
      }
    seal_best best = seal_select_best(rewards, k, R, means);
    if (job->task->keep == SEAL_KEEP_SOLVED) {
      for (int s = 0; s < k; s++)
        if (means[s] >= 1.0) keep_sample(run, round, ctx[i], s, means[s], &kept);
    } else if (best.index >= 0) {
      keep_sample(run, round, ctx[i], best.index, best.mean, &kept);
    }
  }
  free(means);
  free(rewards);
  *mean = count ? sum / count : NAN;
  return kept;
}

/* ---- UPDATE (all ranks) --------------------------------------------------- */

void seal_run_update_examples(const seal_run *run, const seal_kept_list *kept,
                              seal_sft_example *ex) {
  const seal_engine *eng = &run->eng; /* the policy's prompt, tokenizer and end token */
  int eos = eng->model.cfg.n_eos > 0 ? eng->model.cfg.eos_ids[0] : -1;
  for (int i = 0; i < kept->n; i++) {
    char *prompt = run->domain.ops->selfedit_prompt(&run->domain, eng, SEAL_SPLIT_TRAIN,
                                                    kept->items[i].context, NULL);
    int32_t *p, *c;
    int np = seal_engine_encode_prompt(eng, prompt, &p);
    int nc = seal_engine_encode(eng, kept->items[i].text, &c);
    int32_t *ids = seal_malloc((size_t)(np + nc + 1) * sizeof(int32_t));
    memcpy(ids, p, (size_t)np * sizeof(int32_t));
    memcpy(ids + np, c, (size_t)nc * sizeof(int32_t));
    int total = np + nc;
    if (eos >= 0) ids[total++] = eos; /* so the policy learns to stop */
    ex[i] = (seal_sft_example){.ids = ids, .n = total, .loss_from = np};
    free(p);
    free(c);
    free(prompt);
  }
}

typedef struct {
  seal_run *run;
  int round;
} update_ctx;

static void update_step(void *user, int step, int total, double loss, double gnorm, float lr) {
  update_ctx *u = user;
  if (u->run->comm->rank != 0) return;
  seal_metrics_emit(&u->run->metrics, "update_step",
                    json_pack("{s:i,s:i,s:i,s:f,s:f,s:f}", "round", u->round, "step", step, "steps",
                              total, "loss", loss, "grad_norm", gnorm, "lr", (double)lr));
  seal_info("policy update: step %d/%d loss %.4f grad norm %.3f", step, total, loss, gnorm);
}

/* Every rank has the same parameters after the update; prove it. */
static uint64_t lora_checksum(const seal_lora *l) {
  float *h = seal_malloc((l->n_params ? l->n_params : 1) * sizeof(float));
  l->be->ops->to_host(l->be, h, l->params, SEAL_F32, l->n_params);
  uint64_t sum = seal_fnv1a(h, l->n_params * sizeof(float), 0);
  free(h);
  return sum;
}

/* Rank 0 keeps the merged round's adapter and reports it. */
static void record_update(seal_run *run, int round, const seal_lora *lora, int n,
                          const seal_sft_stats *st, uint64_t sum) {
  seal_tensor_set t = {0};
  seal_lora_to_tensors(lora, &t);
  seal_run_state_set_policy(&run->st, round, &t);
  run->st.opt_step = st->steps;
  run->st.opt_lr = run->job->rest_em.lr;
  char checksum[17];
  snprintf(checksum, sizeof checksum, "%016llx", (unsigned long long)sum);
  seal_metrics_emit(
      &run->metrics, "update",
      json_pack("{s:i,s:i,s:i,s:o,s:o,s:f,s:s}", "round", round, "examples", n, "steps", st->steps,
                "first_loss", seal_json_real(st->first_loss), "last_loss",
                seal_json_real(st->last_loss), "seconds", st->seconds, "checksum", checksum));
}

static void phase_update(seal_run *run, int round, const seal_kept_list *kept) {
  const seal_job_rest_em *re = &run->job->rest_em;
  int n = kept->n;
  seal_sft_example *ex = seal_calloc((size_t)(n ? n : 1), sizeof *ex);
  seal_run_update_examples(run, kept, ex);
  seal_lora lora;
  seal_lora_create(&lora, &run->eng.model, re->lora.r, (float)re->lora.alpha, re->lora.targets);
  seal_rng rng;
  seal_rng_seed(&rng, seal_item_seed(run->job->seed, round, 0, 0, SEAL_STREAM_UPDATE));
  seal_lora_init(&lora, &rng);
  update_ctx uc = {run, round};
  seal_sft_config cfg = {
      .epochs = re->epochs,
      .batch_size = re->batch_size,
      .shuffle = true,
      .seed = seal_item_seed(run->job->seed, round, 1, 0, SEAL_STREAM_UPDATE),
      .opt = seal_adamw_defaults((float)re->lr, 0.0f, 1.0f, SEAL_SCHEDULE_LINEAR, 0, 0),
      .rank = run->comm->rank,
      .world = run->comm->size,
      .reduce = seal_run_reduce_grads,
      .reduce_user = run,
      .on_step = update_step,
      .on_step_user = &uc};
  seal_sft_stats st;
  seal_sft_train(&run->eng.model, &lora, ex, n, &cfg, &st);
  seal_error e;
  uint64_t sum = lora_checksum(&lora);
  if (seal_comm_agree_u64(run->comm, sum, &e))
    SEAL_DIE("the policies of the ranks differ after round %d: %s", round, e.msg);
  seal_lora_merge(&lora, &run->eng.model);
  if (run->comm->rank == 0) record_update(run, round, &lora, n, &st, sum);
  seal_lora_free(&lora);
  for (int i = 0; i < n; i++) free((void *)ex[i].ids);
  free(ex);
}

/* ---- the round ------------------------------------------------------------ */

static int stop_requested(seal_run *run) {
  int s = run->comm->rank == 0 && run->stop ? *run->stop : 0;
  seal_comm_bcast_raw(run->comm, &s, sizeof s);
  return s;
}

/* Rank 0 filters; every rank gets the kept self-edits. */
static seal_kept_list filter_everywhere(seal_run *run, int round, const int *ctx, int n_ctx,
                                        double *mean) {
  char *text = NULL;
  if (run->comm->rank == 0) {
    snprintf(run->st.phase, sizeof run->st.phase, "update");
    seal_run_checkpoint(run);
    seal_kept_list kept = filter_best(run, round, ctx, n_ctx, mean);
    text = seal_kept_list_encode(&kept);
    seal_kept_list_free(&kept);
  }
  char *all = seal_comm_bcast_string(run->comm, text);
  seal_kept_list kept;
  seal_error e;
  SEAL_CHECK(seal_kept_list_decode(all, &kept, &e) == 0, "%s", e.msg);
  free(all);
  free(text);
  return kept;
}

/* Rank 0 records the finished round. */
static void finish_round(seal_run *run, int round, int n_ctx, double mean, int n_kept,
                         double seconds) {
  seal_round_record rec = {.round = round,
                           .contexts = n_ctx,
                           .mean_reward = mean,
                           .kept = n_kept,
                           .accuracy = NAN,
                           .seconds = seconds};
  seal_run_state_put_round(&run->st, &rec);
  run->st.round = round + 1;
  snprintf(run->st.phase, sizeof run->st.phase, "done");
  seal_run_checkpoint(run);
  seal_metrics_emit(
      &run->metrics, "round",
      json_pack("{s:i,s:i,s:o,s:i,s:f}", "round", round, "contexts", n_ctx, "mean_reward",
                seal_json_real(mean), "kept", n_kept, "seconds", rec.seconds));
  seal_info("round %d done: mean reward %.3f over %d contexts, %d kept, %.1fs", round, mean, n_ctx,
            n_kept, rec.seconds);
}

/* Returns 0 when the round finished, 1 when stopped by a signal. */
static int run_round(seal_run *run, int round) {
  double t0 = seal_now();
  int n_all = run->domain.ops->n_contexts(&run->domain, SEAL_SPLIT_TRAIN);
  int *ctx = seal_malloc((size_t)(n_all ? n_all : 1) * sizeof(int));
  int n_ctx = seal_run_contexts(run, round, ctx);
  int rc = phase_generate(run, round, ctx, n_ctx);
  if (rc == 0) rc = phase_evaluate(run, round, ctx, n_ctx);
  if (rc == 0) rc = stop_requested(run);
  if (rc == 0) {
    double mean = NAN;
    seal_kept_list kept = filter_everywhere(run, round, ctx, n_ctx, &mean);
    phase_update(run, round, &kept);
    if (run->comm->rank == 0) finish_round(run, round, n_ctx, mean, kept.n, seal_now() - t0);
    seal_kept_list_free(&kept);
  }
  free(ctx);
  return rc ? 1 : 0;
}

int seal_run_train(seal_run *run) {
  int start = run->st.round;
  seal_comm_bcast_raw(run->comm, &start, sizeof start);
  run->st.round = start;
  for (int r = start; r < run->job->rounds; r++) {
    if (run_round(run, r)) {
      seal_run_checkpoint(run);
      if (run->comm->rank == 0)
        seal_info("stopped by a signal in round %d: checkpoint written, exit %d to requeue", r,
                  SEAL_EXIT_PREEMPTED);
      return SEAL_EXIT_PREEMPTED;
    }
  }
  seal_run_checkpoint(run);
  return 0;
}
