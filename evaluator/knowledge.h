/* evaluator/knowledge.h — grading a passage's answers: the model answered
 * every question without seeing the passage (greedily, decoded by the
 * trainer); each answer is its completion's first line, graded against the
 * gold answers by the job's rule, or by a local judge model. */
#ifndef SEAL_EVALUATOR_KNOWLEDGE_H
#define SEAL_EVALUATOR_KNOWLEDGE_H

#include "evaluator/grade.h"
#include "evaluator/squad.h"
#include "model/engine.h"

typedef struct {
  seal_grader grader;
  seal_engine *judge; /* the local judge model in SEAL_GRADE_JUDGE mode, else NULL */
} seal_qa_config;

typedef struct {
  int n_questions;
  int n_correct;
  double reward;           /* n_correct / n_questions */
  double em, f1, contains; /* means over the questions */
  char **answers;          /* [n_questions] the answers (first line, stripped) */
  int *correct;            /* [n_questions] 1: graded correct */
} seal_qa_result;

/* The answer the model gave: the first non-empty line of its completion,
 * stripped (a completion model often goes on to write the next question). */
char *seal_answer_from_completion(const char *completion);

/* Grades completions[j], the model's completion of question j of p, for
 * every question of p. */
void seal_knowledge_grade(const seal_qa_config *cfg, const seal_squad_passage *p,
                          const char *const *completions, seal_qa_result *out);
void seal_qa_result_free(seal_qa_result *r);

#endif
