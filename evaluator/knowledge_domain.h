/* evaluator/knowledge_domain.h — knowledge incorporation as a task domain
 * (evaluator/domain.h): contexts are SQuAD passages, the self-edit is what the
 * policy writes after the reference's prompt, the plan is one sequence per
 * line of it plus the passage, the queries are the passage's questions
 * without the passage, and the reward is the fraction answered correctly.
 * The job keys (`task: knowledge`, docs/job-config.md) fill the settings. */
#ifndef SEAL_EVALUATOR_KNOWLEDGE_DOMAIN_H
#define SEAL_EVALUATOR_KNOWLEDGE_DOMAIN_H

#include "evaluator/domain.h"
#include "evaluator/grade.h"
#include "evaluator/prompts.h"
#include "evaluator/squad.h"

typedef struct {
  int r;            /* rank, >= 1 */
  double alpha;     /* scale numerator; scale = alpha / r */
  unsigned targets; /* bit t: seal_lora_target t */
} seal_knowledge_lora;

/* The settings, by the job key that sets each. */
typedef struct {
  struct {
    char *train; /* data.train: SQuAD file the policy is trained on */
    char *eval;  /* data.eval: SQuAD file accuracy is measured on */
  } data;
  struct {
    seal_prompt_variant prompt; /* selfedit.prompt */
  } selfedit;
  struct {
    int max_tokens; /* answer.max_tokens: greedy answers to the held-out questions */
  } answer;
  struct {
    seal_grade_mode mode;
    double f1_threshold;
    char *judge_model; /* required (and used) only in judge mode; NULL otherwise */
  } grading;
  struct { /* evaluation.continued_pretraining */
    int n_passages;
    seal_knowledge_lora lora;
    int epochs;
    double lr;
    int batch_size;
  } cpt;
} seal_knowledge_settings;

extern const seal_domain_ops seal_knowledge_domain;

/* The knowledge domain over a user's documents (`seal learn`, issue 13): the
 * eval split's passages are the documents (title and text, no questions), the
 * train split is empty. d->settings must stay valid while d is open (its
 * selfedit prompt and inner-loop shapes are used); close with
 * seal_domain_close. Self-edit prompts, usability and plans are those of
 * SQuAD passages; there is nothing to grade. */
void seal_knowledge_open_documents(seal_domain *d, const seal_knowledge_settings *k,
                                   const char *const *titles, const char *const *texts, int n);

/* The knowledge domain over passages already loaded (`seal bench
 * --unit-of-work`: one passage of a fixture): eval takes them (emptied here;
 * freed with the domain), the train split is empty. Judge grading is not
 * available here (k->grading.mode must not be judge). d->settings must stay
 * valid while d is open; close with seal_domain_close. */
void seal_knowledge_open_passages(seal_domain *d, const seal_knowledge_settings *k,
                                  seal_squad *eval);

#endif
