/* evaluator/knowledge.c — grading held-out answers of a passage. */
#include <stdlib.h>
#include <string.h>

#include "evaluator/knowledge.h"
#include "evaluator/prompts.h"

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

/* The judge's reply (malloc'd) on whether answer is right. */
static char *judge_reply(seal_engine *judge, const char *title, const seal_squad_question *q,
                         const char *answer) {
  char *gold = seal_judge_gold((const char *const *)q->answers, q->n_answers);
  char *prompt = seal_prompt_judge(title, q->question, gold, answer);
  seal_sampling s = {.temperature = 0, .top_p = 1, .max_new_tokens = 8};
  const char *prompts[1] = {prompt};
  char *reply = NULL;
  seal_engine_complete(judge, NULL, prompts, 1, &s, NULL, &reply, NULL);
  free(prompt);
  free(gold);
  return reply;
}

void seal_knowledge_grade(const seal_qa_config *cfg, const seal_squad_passage *p,
                          const char *const *completions, seal_qa_result *out) {
  int n = p->n_questions;
  memset(out, 0, sizeof *out);
  out->n_questions = n;
  out->answers = seal_calloc((size_t)(n ? n : 1), sizeof(char *));
  out->correct = seal_calloc((size_t)(n ? n : 1), sizeof(int));
  for (int i = 0; i < n; i++) {
    const seal_squad_question *q = &p->questions[i];
    const char *const *golds = (const char *const *)q->answers;
    char *answer = out->answers[i] = seal_answer_from_completion(completions[i]);
    char *reply =
        cfg->grader.mode == SEAL_GRADE_JUDGE ? judge_reply(cfg->judge, p->title, q, answer) : NULL;
    out->correct[i] = seal_grade_correct(&cfg->grader, answer, golds, q->n_answers, reply);
    out->em += seal_max_exact_match(answer, golds, q->n_answers);
    out->f1 += seal_max_token_f1(answer, golds, q->n_answers);
    out->contains += seal_max_answer_contained(answer, golds, q->n_answers);
    out->n_correct += out->correct[i];
    free(reply);
  }
  out->reward = seal_grade_reward(out->correct, n);
  if (n > 0) out->em /= n, out->f1 /= n, out->contains /= n;
}

void seal_qa_result_free(seal_qa_result *r) {
  for (int i = 0; r->answers && i < r->n_questions; i++) free(r->answers[i]);
  free(r->answers);
  free(r->correct);
  memset(r, 0, sizeof *r);
}
