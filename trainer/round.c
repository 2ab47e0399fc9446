/* trainer/round.c — one ReST-EM round as work items (DESIGN §3):
 *   GENERATE(context)                 -> k self-edits        (any rank)
 *   EVALUATE(context, sample, repeat) -> reward              (any rank)
 *   filter: best of k per context                            (rank 0)
 *   update: LoRA SFT on (prompt, best self-edit), data-parallel, merged (all ranks)
 * Rank 0 keeps the run state and checkpoints as results arrive. */
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/collective.h"
#include "comm/workqueue.h"
#include "evaluator/prompts.h"
#include "evaluator/select.h"
#include "trainer/run.h"

enum { STREAM_GENERATE = 1, STREAM_EVALUATE = 100, STREAM_UPDATE = 7 };

/* ---- work-item payloads: small JSON objects ------------------------------- */

static void payload_add(json_t *o, char ***payloads, size_t **lens, int *n) {
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  *payloads = seal_realloc(*payloads, (size_t)(*n + 1) * sizeof(char *));
  *lens = seal_realloc(*lens, (size_t)(*n + 1) * sizeof(size_t));
  (*payloads)[*n] = s;
  (*lens)[*n] = strlen(s);
  ++*n;
}

static void payloads_free(char **p, size_t *lens, int n) {
  for (int i = 0; i < n; i++) free(p[i]);
  free(p);
  free(lens);
}

static json_t *parse_json(const void *data, size_t len) {
  json_error_t je;
  return json_loadb(data, len, 0, &je);
}

/* Runs items over every rank; rank 0 builds the list (others pass n = 0 and get
 * the count by broadcast). Returns the queue's status. */
static int run_items(seal_run *run, char **payloads, size_t *lens, int n, seal_work_fn work,
                     seal_result_fn on_result, void *user, const char *what) {
  seal_comm_bcast_raw(run->comm, &n, sizeof n);
  if (n == 0) return 0;
  if (run->comm->rank == 0)
    seal_info("%s: %d work item(s) over %d rank(s)", what, n, run->comm->size);
  seal_workqueue_opts opts = seal_run_queue_opts(run);
  seal_error e;
  int rc = seal_workqueue_run(run->comm, n, (const void *const *)payloads, lens, work, on_result,
                              user, &opts, &e);
  if (rc < 0) seal_comm_abort(1, "%s: %s", what, e.msg);
  return rc;
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
 * checkpoint (once per item, so a crash loses only the items in flight). */
static void result_arrived(phase_ctx *pc, int count) {
  seal_run *run = pc->run;
  pc->done += count;
  seal_progress_update(&pc->progress, pc->done, NULL);
  if (seal_now() - run->last_ckpt >= run->ckpt_interval) seal_run_checkpoint(run);
}

/* ---- GENERATE --------------------------------------------------------------- */

static char *selfedit_prompt(const seal_run *run, int context) {
  const seal_squad_passage *p = &run->train.passages[context];
  return seal_prompt_selfedit(run->job->selfedit.prompt, p->title, p->context);
}

static int generate_work(void *user, int item, const void *payload, size_t len, seal_buf *out) {
  phase_ctx *pc = user;
  seal_run *run = pc->run;
  (void)item;
  json_t *in = parse_json(payload, len);
  if (!in) return -1;
  int context = (int)json_integer_value(json_object_get(in, "context"));
  json_decref(in);
  const seal_job_selfedit *se = &run->job->selfedit;
  int k = se->k;
  char *prompt = selfedit_prompt(run, context);
  const char **prompts = seal_calloc((size_t)k, sizeof(char *));
  uint64_t *seeds = seal_calloc((size_t)k, sizeof(uint64_t));
  char **texts = seal_calloc((size_t)k, sizeof(char *));
  for (int s = 0; s < k; s++) {
    prompts[s] = prompt;
    seeds[s] = seal_item_seed(run->job->seed, pc->round, context, s, STREAM_GENERATE);
  }
  seal_sampling smp = {.temperature = (float)se->temperature,
                       .top_p = (float)se->top_p,
                       .max_new_tokens = se->max_tokens};
  seal_engine_complete(&run->eng, NULL, prompts, k, &smp, seeds, texts, NULL);
  json_t *res = json_pack("{s:i,s:[]}", "context", context, "texts");
  for (int s = 0; s < k; s++) {
    json_t *t = json_string(texts[s]); /* valid UTF-8: seal_engine_decode made it so */
    SEAL_CHECK(t, "self-edit %d of context %d is not valid UTF-8", s, context);
    json_array_append_new(json_object_get(res, "texts"), t);
  }
  char *dump = json_dumps(res, JSON_COMPACT);
  seal_buf_puts(out, dump);
  free(dump);
  json_decref(res);
  for (int s = 0; s < k; s++) free(texts[s]);
  free(texts);
  free(seeds);
  free(prompts);
  free(prompt);
  return 0;
}

static void generate_result(void *user, int item, int ok, const void *data, size_t len,
                            int worker) {
  phase_ctx *pc = user;
  seal_run *run = pc->run;
  json_t *res = ok ? parse_json(data, len) : NULL;
  if (!res) {
    /* Generation failed twice: the context gets no self-edits this round. */
    seal_warn("generate item %d failed on rank %d: %.*s", item, worker, (int)len,
              (const char *)data);
    return;
  }
  int context = (int)json_integer_value(json_object_get(res, "context"));
  json_t *texts = json_object_get(res, "texts");
  for (size_t s = 0; s < json_array_size(texts); s++) {
    seal_selfedit_record rec = {.context_id = context,
                                .sample = (int)s,
                                .repeat = -1,
                                .reward = NAN,
                                .em = NAN,
                                .f1 = NAN,
                                .contains = NAN,
                                .ok = 1,
                                .text = (char *)json_string_value(json_array_get(texts, s))};
    seal_run_state_add_selfedit(&run->st, pc->round, &rec);
  }
  seal_metrics_emit(&run->metrics, "generated",
                    json_pack("{s:i,s:i,s:i,s:i}", "round", pc->round, "context", context,
                              "samples", (int)json_array_size(texts), "rank", worker));
  json_decref(res);
  result_arrived(pc, 1);
}

static int phase_generate(seal_run *run, int round, const int *ctx, int n_ctx) {
  phase_ctx pc = {.run = run, .round = round};
  char **payloads = NULL;
  size_t *lens = NULL;
  int n = 0;
  if (run->comm->rank == 0) {
    snprintf(run->st.phase, sizeof run->st.phase, "generate");
    for (int i = 0; i < n_ctx; i++)
      if (count_records(&run->st, round, ctx[i], -1) == 0)
        payload_add(json_pack("{s:i}", "context", ctx[i]), &payloads, &lens, &n);
    seal_progress_begin(&pc.progress, "generate self-edits", n);
  }
  int rc =
      run_items(run, payloads, lens, n, generate_work, generate_result, &pc, "generate self-edits");
  if (run->comm->rank == 0) seal_progress_end(&pc.progress);
  payloads_free(payloads, lens, n);
  return rc;
}

/* ---- EVALUATE ----------------------------------------------------------- */

/* Fault injection for the tests of failure handling: SEAL_FAULT_EVALUATE=
 * "context:sample:repeat" makes that evaluation fail on every attempt, as a
 * crash inside the inner loop would. */
static bool injected_fault(int context, int sample, int repeat) {
  const char *f = getenv("SEAL_FAULT_EVALUATE");
  int c, s, r;
  return f && sscanf(f, "%d:%d:%d", &c, &s, &r) == 3 && c == context && s == sample && r == repeat;
}

/* One inner loop's result as the JSON object items carry back. */
static json_t *inner_result_json(int context, int sample, int repeat, const seal_inner_result *r) {
  return json_pack("{s:i,s:i,s:i,s:f,s:f,s:f,s:f,s:i,s:i,s:f,s:f,s:f,s:f}", "context", context,
                   "sample", sample, "repeat", repeat, "reward", r->reward, "em", r->em, "f1",
                   r->f1, "contains", r->contains, "n_sequences", r->n_sequences, "ok", r->ok,
                   "first_loss", isfinite(r->first_loss) ? r->first_loss : -1.0, "last_loss",
                   isfinite(r->last_loss) ? r->last_loss : -1.0, "train_seconds", r->train_seconds,
                   "answer_seconds", r->answer_seconds);
}

/* EVALUATE(context, [(sample, repeat, text)...]): one inner loop, or (with
 * inner_loop.group > 1) several trained together as one batched multi-LoRA
 * run. The result is {"results": [one object per pair]}. */
static int evaluate_work(void *user, int item, const void *payload, size_t len, seal_buf *out) {
  phase_ctx *pc = user;
  seal_run *run = pc->run;
  (void)item;
  json_t *in = parse_json(payload, len);
  if (!in) return -1;
  int context = (int)json_integer_value(json_object_get(in, "context"));
  json_t *pairs = json_object_get(in, "pairs");
  int G = (int)json_array_size(pairs);
  const char **texts = seal_calloc((size_t)(G ? G : 1), sizeof(char *));
  uint64_t *seeds = seal_calloc((size_t)(G ? G : 1), sizeof(uint64_t));
  int *sample = seal_calloc((size_t)(G ? G : 1), sizeof(int));
  int *repeat = seal_calloc((size_t)(G ? G : 1), sizeof(int));
  int failed = 0;
  for (int i = 0; i < G; i++) {
    json_t *pr = json_array_get(pairs, (size_t)i);
    sample[i] = (int)json_integer_value(json_object_get(pr, "sample"));
    repeat[i] = (int)json_integer_value(json_object_get(pr, "repeat"));
    const char *t = json_string_value(json_object_get(pr, "text"));
    texts[i] = t ? t : "";
    seeds[i] =
        seal_item_seed(run->job->seed, pc->round, context, sample[i], STREAM_EVALUATE + repeat[i]);
    if (injected_fault(context, sample[i], repeat[i]) && !failed) {
      seal_buf_printf(out, "injected fault (SEAL_FAULT_EVALUATE) in context %d sample %d", context,
                      sample[i]);
      failed = 1;
    }
  }
  seal_inner_result *r = seal_calloc((size_t)(G ? G : 1), sizeof *r);
  const seal_squad_passage *p = &run->train.passages[context];
  if (!failed && G == 1)
    seal_inner_evaluate(&run->eng, run->job, &run->qa, p, SEAL_TRAIN_SELFEDIT, texts[0], seeds[0],
                        &r[0]);
  else if (!failed)
    seal_inner_evaluate_many(&run->eng, run->job, &run->qa, p, texts, G, seeds, r);
  if (!failed) {
    json_t *res = json_pack("{s:[]}", "results");
    for (int i = 0; i < G; i++)
      json_array_append_new(json_object_get(res, "results"),
                            inner_result_json(context, sample[i], repeat[i], &r[i]));
    char *dump = json_dumps(res, JSON_COMPACT | JSON_REAL_PRECISION(17));
    seal_buf_puts(out, dump);
    free(dump);
    json_decref(res);
  }
  free(r), free(texts), free(seeds), free(sample), free(repeat);
  json_decref(in);
  return failed ? -1 : 0;
}

typedef struct {
  phase_ctx pc;
  char **payloads;
  size_t *lens;
} eval_ctx;

/* Stores one pair's record and its metrics event; res NULL: the item failed. */
static void record_pair(eval_ctx *ec, int context, json_t *pair, json_t *res, int worker) {
  seal_run *run = ec->pc.run;
  seal_selfedit_record rec = {.context_id = context,
                              .sample = (int)json_integer_value(json_object_get(pair, "sample")),
                              .repeat = (int)json_integer_value(json_object_get(pair, "repeat")),
                              .text = (char *)json_string_value(json_object_get(pair, "text"))};
  if (res) {
    rec.reward = json_number_value(json_object_get(res, "reward"));
    rec.em = json_number_value(json_object_get(res, "em"));
    rec.f1 = json_number_value(json_object_get(res, "f1"));
    rec.contains = json_number_value(json_object_get(res, "contains"));
    rec.n_sequences = (int)json_integer_value(json_object_get(res, "n_sequences"));
    rec.ok = (int)json_integer_value(json_object_get(res, "ok"));
  } else {
    rec.reward = 0, rec.em = rec.f1 = rec.contains = 0, rec.ok = 0;
  }
  seal_run_state_add_selfedit(&run->st, ec->pc.round, &rec);
  json_t *m = json_pack("{s:i,s:i,s:i,s:i,s:o,s:i,s:i}", "round", ec->pc.round, "context",
                        rec.context_id, "sample", rec.sample, "repeat", rec.repeat, "reward",
                        seal_json_real(rec.reward), "ok", rec.ok, "rank", worker);
  if (res) json_object_update(m, res);
  seal_metrics_emit(&run->metrics, "evaluated", m);
}

static void evaluate_result(void *user, int item, int ok, const void *data, size_t len,
                            int worker) {
  eval_ctx *ec = user;
  json_t *in = parse_json(ec->payloads[item], ec->lens[item]);
  json_t *res = ok ? parse_json(data, len) : NULL;
  int context = (int)json_integer_value(json_object_get(in, "context"));
  json_t *pairs = json_object_get(in, "pairs"), *results = json_object_get(res, "results");
  if (!res) /* The item failed on every attempt: its pairs score zero, every other result stays. */
    seal_warn("evaluate item %d (context %d, %zu self-edit(s)) failed on rank %d: %.*s; scored 0",
              item, context, json_array_size(pairs), worker, (int)len, (const char *)data);
  int n_pairs = (int)json_array_size(pairs);
  for (int i = 0; i < n_pairs; i++)
    record_pair(ec, context, json_array_get(pairs, (size_t)i),
                res ? json_array_get(results, (size_t)i) : NULL, worker);
  json_decref(in);
  json_decref(res);
  result_arrived(&ec->pc, n_pairs);
}

/* Adds EVALUATE payloads for a context's pending pairs, group at a time. */
static void add_evaluate_items(seal_run *run, int round, int context, eval_ctx *ec, int *n) {
  int group = run->job->inner.group > 0 ? run->job->inner.group : 1;
  json_t *pairs = json_array();
  for (int s = 0; s < run->job->selfedit.k; s++) {
    const seal_selfedit_record *gen = find_record(&run->st, round, context, s, -1);
    if (!gen) continue;
    for (int rep = 0; rep < run->job->repeats; rep++) {
      if (find_record(&run->st, round, context, s, rep)) continue;
      json_array_append_new(
          pairs, json_pack("{s:i,s:i,s:s}", "sample", s, "repeat", rep, "text", gen->text));
      if ((int)json_array_size(pairs) == group) {
        payload_add(json_pack("{s:i,s:o}", "context", context, "pairs", pairs), &ec->payloads,
                    &ec->lens, n);
        pairs = json_array();
      }
    }
  }
  if (json_array_size(pairs) > 0)
    payload_add(json_pack("{s:i,s:o}", "context", context, "pairs", pairs), &ec->payloads,
                &ec->lens, n);
  else
    json_decref(pairs);
}

static int phase_evaluate(seal_run *run, int round, const int *ctx, int n_ctx) {
  eval_ctx ec = {.pc = {.run = run, .round = round}};
  int n = 0;
  if (run->comm->rank == 0) {
    snprintf(run->st.phase, sizeof run->st.phase, "evaluate");
    for (int i = 0; i < n_ctx; i++) add_evaluate_items(run, round, ctx[i], &ec, &n);
    /* progress counts self-edit evaluations, whatever their grouping */
    int pairs = 0;
    for (int i = 0; i < n; i++) {
      json_t *in = parse_json(ec.payloads[i], ec.lens[i]);
      pairs += (int)json_array_size(json_object_get(in, "pairs"));
      json_decref(in);
    }
    seal_progress_begin(&ec.pc.progress, "evaluate self-edits", pairs);
  }
  int rc = run_items(run, ec.payloads, ec.lens, n, evaluate_work, evaluate_result, &ec,
                     "evaluate self-edits");
  if (run->comm->rank == 0) seal_progress_end(&ec.pc.progress);
  payloads_free(ec.payloads, ec.lens, n);
  return rc;
}

/* ---- filter (rank 0) -------------------------------------------------------- */

/* The kept (context, sample, text) per context as a JSON array, and the round's
 * mean reward. */
static json_t *filter_best(seal_run *run, int round, const int *ctx, int n_ctx, double *mean) {
  const seal_job *job = run->job;
  int k = job->selfedit.k, R = job->repeats;
  json_t *kept = json_array();
  double *rewards = seal_malloc((size_t)k * R * sizeof(double));
  double sum = 0;
  int count = 0;
  for (int i = 0; i < n_ctx; i++) {
    for (int s = 0; s < k; s++)
      for (int rep = 0; rep < R; rep++) {
        const seal_selfedit_record *r = find_record(&run->st, round, ctx[i], s, rep);
        rewards[s * R + rep] = r ? r->reward : NAN;
        if (r && isfinite(r->reward)) sum += r->reward, count++;
      }
    seal_best best = seal_select_best(rewards, k, R, NULL);
    const seal_selfedit_record *gen =
        best.index >= 0 ? find_record(&run->st, round, ctx[i], best.index, -1) : NULL;
    if (!gen) continue;
    json_array_append_new(kept, json_pack("{s:i,s:i,s:f,s:s}", "context", ctx[i], "sample",
                                          best.index, "mean", best.mean, "text", gen->text));
  }
  free(rewards);
  *mean = count ? sum / count : NAN;
  return kept;
}

/* ---- UPDATE (all ranks) --------------------------------------------------- */

/* (prompt, self-edit) pairs with loss on the self-edit and its end token. */
static int update_examples(seal_run *run, json_t *kept, seal_sft_example *ex) {
  seal_engine *eng = &run->eng;
  int n = (int)json_array_size(kept);
  int eos = eng->model.cfg.n_eos > 0 ? eng->model.cfg.eos_ids[0] : -1;
  for (int i = 0; i < n; i++) {
    json_t *it = json_array_get(kept, (size_t)i);
    char *prompt = selfedit_prompt(run, (int)json_integer_value(json_object_get(it, "context")));
    int32_t *p, *c;
    int np = seal_engine_encode_prompt(eng, prompt, &p);
    int nc = seal_engine_encode(eng, json_string_value(json_object_get(it, "text")), &c);
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
  return n;
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

static void phase_update(seal_run *run, int round, json_t *kept) {
  const seal_job_rest_em *re = &run->job->rest_em;
  int n = (int)json_array_size(kept);
  seal_sft_example *ex = seal_calloc((size_t)(n ? n : 1), sizeof *ex);
  update_examples(run, kept, ex);
  seal_lora lora;
  seal_lora_create(&lora, &run->eng.model, re->lora.r, (float)re->lora.alpha, re->lora.targets);
  seal_rng rng;
  seal_rng_seed(&rng, seal_item_seed(run->job->seed, round, 0, 0, STREAM_UPDATE));
  seal_lora_init(&lora, &rng);
  update_ctx uc = {run, round};
  seal_sft_config cfg = {
      .epochs = re->epochs,
      .batch_size = re->batch_size,
      .shuffle = true,
      .seed = seal_item_seed(run->job->seed, round, 1, 0, STREAM_UPDATE),
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
    seal_comm_abort(1, "the policies of the ranks differ after round %d: %s", round, e.msg);
  seal_lora_merge(&lora, &run->eng.model);
  if (run->comm->rank == 0) {
    seal_tensor_set t = {0};
    seal_lora_to_tensors(&lora, &t);
    seal_run_state_set_policy(&run->st, round, &t);
    run->st.opt_step = st.steps;
    run->st.opt_lr = re->lr;
    char checksum[17];
    snprintf(checksum, sizeof checksum, "%016llx", (unsigned long long)sum);
    seal_metrics_emit(
        &run->metrics, "update",
        json_pack("{s:i,s:i,s:i,s:o,s:o,s:f,s:s}", "round", round, "examples", n, "steps", st.steps,
                  "first_loss", seal_json_real(st.first_loss), "last_loss",
                  seal_json_real(st.last_loss), "seconds", st.seconds, "checksum", checksum));
  }
  seal_lora_free(&lora);
  seal_sft_examples_free(ex, n);
  free(ex);
}

/* ---- the round ------------------------------------------------------------ */

static int stop_requested(seal_run *run) {
  int s = run->comm->rank == 0 && run->stop ? *run->stop : 0;
  seal_comm_bcast_raw(run->comm, &s, sizeof s);
  return s;
}

/* Returns 0 when the round finished, 1 when stopped by a signal. */
static int run_round(seal_run *run, int round) {
  double t0 = seal_now();
  int *ctx = seal_malloc((size_t)(run->train.n_passages ? run->train.n_passages : 1) * sizeof(int));
  int n_ctx = seal_run_contexts(run, round, ctx);
  int rc = phase_generate(run, round, ctx, n_ctx);
  if (rc == 0) rc = phase_evaluate(run, round, ctx, n_ctx);
  if (rc == 0) rc = stop_requested(run);
  if (rc) {
    free(ctx);
    return 1;
  }
  double mean = NAN;
  char *kept_text = NULL;
  int n_kept = 0;
  if (run->comm->rank == 0) {
    snprintf(run->st.phase, sizeof run->st.phase, "update");
    seal_run_checkpoint(run);
    json_t *kept = filter_best(run, round, ctx, n_ctx, &mean);
    kept_text = json_dumps(kept, JSON_COMPACT);
    n_kept = (int)json_array_size(kept);
    json_decref(kept);
  }
  char *all = seal_comm_bcast_string(run->comm, kept_text);
  json_error_t je;
  json_t *kept = json_loads(all, 0, &je);
  SEAL_CHECK(kept, "kept self-edits: %s", je.text);
  phase_update(run, round, kept);
  json_decref(kept);
  free(all);
  free(kept_text);
  if (run->comm->rank == 0) {
    seal_round_record rec = {.round = round,
                             .contexts = n_ctx,
                             .mean_reward = mean,
                             .kept = n_kept,
                             .accuracy = NAN,
                             .seconds = seal_now() - t0};
    seal_run_state_put_round(&run->st, &rec);
    run->st.round = round + 1;
    snprintf(run->st.phase, sizeof run->st.phase, "done");
    seal_run_checkpoint(run);
    seal_metrics_emit(
        &run->metrics, "round",
        json_pack("{s:i,s:i,s:o,s:i,s:f}", "round", round, "contexts", n_ctx, "mean_reward",
                  seal_json_real(mean), "kept", n_kept, "seconds", rec.seconds));
    seal_info("round %d done: mean reward %.3f over %d contexts, %d kept, %.1fs", round, mean,
              n_ctx, n_kept, rec.seconds);
  }
  free(ctx);
  return 0;
}

int seal_run_train(seal_run *run, seal_error *e) {
  (void)e;
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
