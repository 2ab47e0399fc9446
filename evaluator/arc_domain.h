/* evaluator/arc_domain.h — few-shot ARC as a task domain (evaluator/domain.h):
 * contexts are ARC tasks; the self-edit is the JSON tool configuration the
 * policy writes after the reference's prompt (through the model's chat
 * template); the plan is the configuration's test-time training problems
 * rendered as chat texts, with its lr, epochs and loss strategy; the queries
 * are every test input under the voting transforms; the reward is 1 when the
 * voted top 2 of every test input holds its solution. The job keys (`task:
 * arc`, docs/job-config.md) fill the settings; the library is evaluator/arc.h. */
#ifndef SEAL_EVALUATOR_ARC_DOMAIN_H
#define SEAL_EVALUATOR_ARC_DOMAIN_H

#include "evaluator/arc.h"
#include "evaluator/domain.h"

/* training.strategy of a configuration. */
typedef enum { SEAL_ARC_ALL_TOKENS, SEAL_ARC_OUTPUT_TOKENS } seal_arc_strategy;

/* The settings, by the job key that sets each. */
typedef struct {
  struct {
    char *train;           /* data.train: ARC Prize challenges the policy is trained on */
    char *train_solutions; /* data.train_solutions: their test outputs (NULL: in the file) */
    char *eval;            /* data.eval: challenges success is measured on */
    char *eval_solutions;  /* data.eval_solutions */
  } data;
  struct {
    int max_steps;           /* arc.max_steps: the guard on epochs * examples / batch */
    int max_examples;        /* arc.max_examples: the cap after the seeded shuffle */
    int max_tokens;          /* arc.max_tokens: texts of this many tokens or more dropped */
    seal_arc_json_mode json; /* arc.json: how the configuration is found in the text */
    int answer_max_tokens;   /* arc.answer_max_tokens: greedy tokens per predicted grid */
    struct {
      int leave_n, permute_n; /* arc.query.*: the voting queries */
    } query;
    struct { /* arc.fixed: the fixed-configuration condition (ints: the job's enums) */
      int basic, size, chain, repeat; /* 0 or 1: the augmentation groups */
      int strategy;                   /* seal_arc_strategy */
      double lr;
      int epochs;
    } fixed;
  } arc;
} seal_arc_settings;

extern const seal_domain_ops seal_arc_domain;

#endif
