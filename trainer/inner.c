/* trainer/inner.c — one inner loop: sequences, LoRA SFT, answers, reward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/selfedit.h"
#include "trainer/inner.h"

seal_sft_config seal_inner_sft_config(const seal_job_inner *in, uint64_t seed) {
  seal_sft_config c = {
      .epochs = in->epochs,
      .batch_size = in->batch_size,
      .shuffle = true,
      .seed = seed,
      .opt = seal_adamw_defaults((float)in->lr, (float)in->weight_decay, (float)in->grad_clip,
                                 in->schedule, in->warmup_steps, 0),
      .rank = 0,
      .world = 1,
  };
  return c;
}

seal_qa_config seal_job_qa_config(const seal_job *job, seal_engine *judge) {
  seal_qa_config q = {
      .grader = {.mode = job->grading.mode, .f1_threshold = job->grading.f1_threshold},
      .max_tokens = job->answer.max_tokens,
      .judge = judge};
  return q;
}

void seal_sft_examples_from_texts(seal_engine *eng, char *const *texts, int n,
                                  seal_sft_example *ex) {
  for (int i = 0; i < n; i++) {
    int32_t *ids;
    ex[i].n = seal_engine_encode_prompt(eng, texts[i], &ids);
    ex[i].ids = ids;
    ex[i].loss_from = 0;
  }
}

void seal_sft_examples_free(seal_sft_example *ex, int n) {
  for (int i = 0; i < n; i++) free((void *)ex[i].ids);
}

/* The texts the inner loop trains on, by mode. */
static void inner_texts(const seal_squad_passage *p, seal_inner_mode mode, const char *selfedit,
                        seal_train_seqs *seqs) {
  memset(seqs, 0, sizeof *seqs);
  if (mode == SEAL_TRAIN_NOTHING) return;
  seal_selfedit_opts o = {.split_lines = true, .add_passage = true};
  seal_selfedit_sequences(mode == SEAL_TRAIN_SELFEDIT ? selfedit : "", p->title, p->context, &o,
                          seqs);
}

/* Answers p's questions with adapter lp (or the bare model) into out. */
static void answer_into(seal_engine *eng, const seal_lora *lp, const seal_squad_passage *p,
                        const seal_qa_config *qa, seal_inner_result *out) {
  double t0 = seal_now();
  seal_qa_result qr;
  seal_knowledge_answer(eng, lp, p, qa, &qr);
  out->answer_seconds = seal_now() - t0;
  out->reward = qr.reward;
  out->em = qr.em;
  out->f1 = qr.f1;
  out->contains = qr.contains;
  seal_qa_result_free(&qr);
}

void seal_inner_evaluate(seal_engine *eng, const seal_job *job, const seal_qa_config *qa,
                         const seal_squad_passage *p, seal_inner_mode mode, const char *selfedit,
                         uint64_t seed, seal_inner_result *out) {
  memset(out, 0, sizeof *out);
  seal_train_seqs seqs;
  inner_texts(p, mode, selfedit, &seqs);
  out->n_sequences = seqs.n;
  out->ok = mode != SEAL_TRAIN_SELFEDIT || seqs.n_from_selfedit > 0;
  out->first_loss = out->last_loss = NAN;
  if (!out->ok) {
    /* A self-edit with nothing to train on scores zero; the run goes on. */
    seal_train_seqs_free(&seqs);
    return;
  }
  seal_lora lora, *lp = NULL;
  if (seqs.n > 0) {
    const seal_job_lora *jl = &job->inner.lora;
    seal_lora_create(&lora, &eng->model, jl->r, (float)jl->alpha, jl->targets);
    seal_rng rng;
    seal_rng_seed(&rng, seal_seed_derive(seed, 1, 0, 0, 0));
    seal_lora_init(&lora, &rng);
    seal_sft_example *ex = seal_calloc((size_t)seqs.n, sizeof *ex);
    seal_sft_examples_from_texts(eng, seqs.seqs, seqs.n, ex);
    seal_sft_config cfg = seal_inner_sft_config(&job->inner, seal_seed_derive(seed, 2, 0, 0, 0));
    seal_sft_stats st;
    seal_sft_train(&eng->model, &lora, ex, seqs.n, &cfg, &st);
    out->first_loss = st.first_loss;
    out->last_loss = st.last_loss;
    out->train_seconds = st.seconds;
    seal_sft_examples_free(ex, seqs.n);
    free(ex);
    lp = &lora;
  }
  answer_into(eng, lp, p, qa, out);
  if (lp) seal_lora_free(lp);
  seal_train_seqs_free(&seqs);
}

void seal_inner_evaluate_many(seal_engine *eng, const seal_job *job, const seal_qa_config *qa,
                              const seal_squad_passage *p, const char *const *selfedits, int G,
                              const uint64_t *seeds, seal_inner_result *out) {
  seal_train_seqs *seqs = seal_calloc((size_t)G, sizeof *seqs);
  int *slot = seal_malloc((size_t)G * sizeof(int)); /* adapter of self-edit i, or -1 */
  int trained = 0;
  for (int i = 0; i < G; i++) {
    memset(&out[i], 0, sizeof out[i]);
    inner_texts(p, SEAL_TRAIN_SELFEDIT, selfedits[i], &seqs[i]);
    out[i].n_sequences = seqs[i].n;
    out[i].ok = seqs[i].n_from_selfedit > 0; /* nothing to train on scores zero */
    out[i].first_loss = out[i].last_loss = NAN;
    slot[i] = out[i].ok ? trained++ : -1;
  }
  if (trained > 0) {
    const seal_job_lora *jl = &job->inner.lora;
    seal_lora multi;
    seal_lora_create_multi(&multi, &eng->model, trained, jl->r, (float)jl->alpha, jl->targets);
    const seal_sft_example **ex = seal_calloc((size_t)trained, sizeof *ex);
    int *n = seal_calloc((size_t)trained, sizeof *n);
    seal_sft_config *cfg = seal_calloc((size_t)trained, sizeof *cfg);
    seal_sft_stats *st = seal_calloc((size_t)trained, sizeof *st);
    for (int i = 0; i < G; i++) {
      int g = slot[i];
      if (g < 0) continue;
      seal_lora v = seal_lora_view(&multi, g);
      seal_rng rng; /* the same draws as seal_inner_evaluate makes for this seed */
      seal_rng_seed(&rng, seal_seed_derive(seeds[i], 1, 0, 0, 0));
      seal_lora_init(&v, &rng);
      seal_sft_example *e = seal_calloc((size_t)seqs[i].n, sizeof *e);
      seal_sft_examples_from_texts(eng, seqs[i].seqs, seqs[i].n, e);
      ex[g] = e;
      n[g] = seqs[i].n;
      cfg[g] = seal_inner_sft_config(&job->inner, seal_seed_derive(seeds[i], 2, 0, 0, 0));
    }
    seal_sft_train_multi(&eng->model, &multi, ex, n, cfg, st);
    /* every adapter answers the questions, all in one decoding batch */
    double t0 = seal_now();
    seal_qa_result *qr = seal_calloc((size_t)trained, sizeof *qr);
    seal_knowledge_answer_adapters(eng, &multi, p, qa, qr);
    double answer_seconds = (seal_now() - t0) / trained;
    for (int i = 0; i < G; i++) {
      int g = slot[i];
      if (g < 0) continue;
      out[i].first_loss = st[g].first_loss;
      out[i].last_loss = st[g].last_loss;
      out[i].train_seconds = st[g].seconds / trained; /* one shared run: each its share */
      out[i].answer_seconds = answer_seconds;
      out[i].reward = qr[g].reward;
      out[i].em = qr[g].em;
      out[i].f1 = qr[g].f1;
      out[i].contains = qr[g].contains;
      seal_qa_result_free(&qr[g]);
      seal_sft_examples_free((seal_sft_example *)ex[g], n[g]);
      free((void *)ex[g]);
    }
    free(qr);
    free(ex), free(n), free(cfg), free(st);
    seal_lora_free(&multi);
  }
  for (int i = 0; i < G; i++) seal_train_seqs_free(&seqs[i]);
  free(seqs);
  free(slot);
}
