/* evaluator/knowledge.h — the knowledge-incorporation reward: an (adapted)
 * model answers a passage's questions without seeing the passage, greedily,
 * and the answers are graded against the gold answers. */
#ifndef SEAL_EVALUATOR_KNOWLEDGE_H
#define SEAL_EVALUATOR_KNOWLEDGE_H

#include "evaluator/grade.h"
#include "evaluator/squad.h"
#include "model/engine.h"

typedef struct {
  seal_grader grader;
  int max_tokens;     /* answer length cap (the paper: 64) */
  seal_engine *judge; /* the local judge model in SEAL_GRADE_JUDGE mode, else NULL */
} seal_qa_config;

typedef struct {
  int n_questions;
  int n_correct;
  double reward;           /* n_correct / n_questions */
  double em, f1, contains; /* means over the questions */
  char **answers;          /* [n_questions] the model's answers (first line, stripped) */
} seal_qa_result;

/* The answer the model gave: the first non-empty line of its completion,
 * stripped (a completion model often goes on to write the next question). */
char *seal_answer_from_completion(const char *completion);

/* Answers every question of p with the model (and lora when not NULL) and grades. */
void seal_knowledge_answer(seal_engine *eng, const seal_lora *lora, const seal_squad_passage *p,
                           const seal_qa_config *cfg, seal_qa_result *out);
/* The same over several passages' questions at once (for continued pretraining);
 * out holds every question of every passage, in order. */
void seal_knowledge_answer_many(seal_engine *eng, const seal_lora *lora,
                                const seal_squad_passage *const *ps, int n_passages,
                                const seal_qa_config *cfg, seal_qa_result *out);
/* Every adapter g of a multi-adapter LoRA answers p's questions (all in one
 * decoding batch over the shared base); out[g] as seal_knowledge_answer with
 * seal_lora_view(lora, g) would give. */
void seal_knowledge_answer_adapters(seal_engine *eng, const seal_lora *lora,
                                    const seal_squad_passage *p, const seal_qa_config *cfg,
                                    seal_qa_result *out);
void seal_qa_result_free(seal_qa_result *r);

#endif
