/* evaluator/knowledge.c — answering held-out questions and grading them. */
#include <stdlib.h>
#include <string.h>

#include "evaluator/knowledge.h"
#include "evaluator/prompts.h"

/* Questions answered per generate call: bounds the KV cache's memory. */
#define ANSWER_BATCH 16

char *seal_answer_from_completion(const char *completion) {
  const char *s = completion;
  while (*s) {
    const char *end = strchr(s, '\n');
    size_t n = end ? (size_t)(end - s) : strlen(s);
    char *line = seal_malloc(n + 1);
    memcpy(line, s, n);
    line[n] = '\0';
    char *stripped = seal_py_strip(line);
    free(line);
    if (*stripped || !end) return stripped;
    free(stripped);
    s = end + 1;
  }
  return seal_strdup("");
}

/* Asks the judge whether each answer is right; replies[i] malloc'd. */
static void judge_replies(seal_engine *judge, const char *title, const seal_squad_question *q,
                          const char *answer, char **reply) {
  char *gold = seal_judge_gold((const char *const *)q->answers, q->n_answers);
  char *prompt = seal_prompt_judge(title, q->question, gold, answer);
  seal_sampling s = {.temperature = 0, .top_p = 1, .max_new_tokens = 8};
  const char *prompts[1] = {prompt};
  seal_engine_complete(judge, NULL, prompts, 1, &s, NULL, reply, NULL);
  free(prompt);
  free(gold);
}

typedef struct {
  const seal_squad_passage *p;
  const seal_squad_question *q;
  int adapter; /* which adapter of a multi-adapter LoRA answers (0 for a single one) */
} question_ref;

/* The model's answer to every ref (answers[i] malloc'd), ANSWER_BATCH at a
 * time; with a multi-adapter LoRA each ref decodes with its own adapter, all
 * in one batch over the shared base. */
static void answer_texts(seal_engine *eng, const seal_lora *lora, const question_ref *refs, int n,
                         const seal_qa_config *cfg, char **answers) {
  seal_sampling s = {.temperature = 0, .top_p = 1, .max_new_tokens = cfg->max_tokens};
  bool multi = lora && lora->n_adapters > 1;
  for (int start = 0; start < n; start += ANSWER_BATCH) {
    int B = n - start < ANSWER_BATCH ? n - start : ANSWER_BATCH;
    char **prompts = seal_calloc((size_t)B, sizeof(char *));
    char **texts = seal_calloc((size_t)B, sizeof(char *));
    int *adapter = seal_calloc((size_t)B, sizeof(int));
    for (int b = 0; b < B; b++) {
      prompts[b] = seal_prompt_answer(refs[start + b].p->title, refs[start + b].q->question);
      adapter[b] = refs[start + b].adapter;
    }
    seal_engine_complete_multi(eng, lora, (const char *const *)prompts, B, &s, NULL,
                               multi ? adapter : NULL, texts, NULL);
    for (int b = 0; b < B; b++) {
      answers[start + b] = seal_answer_from_completion(texts[b]);
      free(prompts[b]);
      free(texts[b]);
    }
    free(prompts);
    free(texts);
    free(adapter);
  }
}

/* Grades answers[0..n) of refs into out (which takes the answers over). */
static void grade_refs(const question_ref *refs, char **answers, int n, const seal_qa_config *cfg,
                       seal_qa_result *out) {
  memset(out, 0, sizeof *out);
  out->n_questions = n;
  out->answers = seal_calloc((size_t)(n ? n : 1), sizeof(char *));
  int *correct = seal_calloc((size_t)(n ? n : 1), sizeof(int));
  for (int i = 0; i < n; i++) {
    const seal_squad_question *q = refs[i].q;
    const char *const *golds = (const char *const *)q->answers;
    out->answers[i] = answers[i];
    char *reply = NULL;
    if (cfg->grader.mode == SEAL_GRADE_JUDGE)
      judge_replies(cfg->judge, refs[i].p->title, q, answers[i], &reply);
    correct[i] = seal_grade_correct(&cfg->grader, answers[i], golds, q->n_answers, reply);
    out->em += seal_max_exact_match(answers[i], golds, q->n_answers);
    out->f1 += seal_max_token_f1(answers[i], golds, q->n_answers);
    out->contains += seal_max_answer_contained(answers[i], golds, q->n_answers);
    out->n_correct += correct[i];
    free(reply);
  }
  out->reward = seal_grade_reward(correct, n);
  if (n > 0) out->em /= n, out->f1 /= n, out->contains /= n;
  free(correct);
}

void seal_knowledge_answer_many(seal_engine *eng, const seal_lora *lora,
                                const seal_squad_passage *const *ps, int n_passages,
                                const seal_qa_config *cfg, seal_qa_result *out) {
  int n = 0;
  for (int i = 0; i < n_passages; i++) n += ps[i]->n_questions;
  question_ref *refs = seal_calloc((size_t)(n ? n : 1), sizeof *refs);
  int k = 0;
  for (int i = 0; i < n_passages; i++)
    for (int j = 0; j < ps[i]->n_questions; j++)
      refs[k++] = (question_ref){ps[i], &ps[i]->questions[j], 0};
  char **answers = seal_calloc((size_t)(n ? n : 1), sizeof(char *));
  answer_texts(eng, lora, refs, n, cfg, answers);
  grade_refs(refs, answers, n, cfg, out);
  free(answers);
  free(refs);
}

void seal_knowledge_answer(seal_engine *eng, const seal_lora *lora, const seal_squad_passage *p,
                           const seal_qa_config *cfg, seal_qa_result *out) {
  seal_knowledge_answer_many(eng, lora, &p, 1, cfg, out);
}

void seal_knowledge_answer_adapters(seal_engine *eng, const seal_lora *lora,
                                    const seal_squad_passage *p, const seal_qa_config *cfg,
                                    seal_qa_result *out) {
  int G = lora->n_adapters, Q = p->n_questions, n = G * Q;
  question_ref *refs = seal_calloc((size_t)(n ? n : 1), sizeof *refs);
  for (int g = 0; g < G; g++)
    for (int j = 0; j < Q; j++) refs[g * Q + j] = (question_ref){p, &p->questions[j], g};
  char **answers = seal_calloc((size_t)(n ? n : 1), sizeof(char *));
  answer_texts(eng, lora, refs, n, cfg, answers);
  for (int g = 0; g < G; g++) grade_refs(refs + g * Q, answers + g * Q, Q, cfg, &out[g]);
  free(answers);
  free(refs);
}

void seal_qa_result_free(seal_qa_result *r) {
  for (int i = 0; r->answers && i < r->n_questions; i++) free(r->answers[i]);
  free(r->answers);
  memset(r, 0, sizeof *r);
}
