/* trainer/job.h — a run's job file (YAML, read with libyaml): everything a SEAL
 * run needs, with the paper's settings (DESIGN §7) wherever the job is silent.
 *
 * Unknown keys, duplicate keys, wrong types (a string where a number goes) and
 * out-of-range values (negative lr, top_p > 1, r = 0, an unknown LoRA target)
 * are errors that name the file, line and column, e.g.
 *   "jobs/x.yaml:12:7: inner_loop.lr: must be > 0, got -0.001".
 * Paths may use a leading `~`, ${ENV} and ${ENV:-default} (`$$` is a literal
 * `$`). Every key, type, default and range is documented in docs/job-config.md. */
#ifndef SEAL_TRAINER_JOB_H
#define SEAL_TRAINER_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "evaluator/grade.h"
#include "evaluator/prompts.h"
#include "model/optim.h" /* seal_schedule */
#include "util/util.h"

typedef enum { SEAL_DEVICE_AUTO, SEAL_DEVICE_CPU, SEAL_DEVICE_CUDA } seal_device;
typedef enum { SEAL_TASK_KNOWLEDGE } seal_task;

typedef struct {
  int r;            /* rank, >= 1 */
  double alpha;     /* scaling numerator, > 0; scale = alpha / r */
  unsigned targets; /* SEAL_LORA_BIT(t) of model/lora.h set, at least one */
} seal_job_lora;

typedef struct {
  char *train;            /* SQuAD file the policy is trained on */
  char *eval;             /* SQuAD file accuracy is measured on */
  int contexts_per_round; /* passages drawn per ReST-EM round */
  int n_eval;             /* evaluation passages used; 0 = all */
} seal_job_data;

typedef struct {
  seal_prompt_variant prompt;
  int k;              /* self-edits sampled per passage */
  double temperature; /* 0 = greedy */
  double top_p;       /* (0, 1] */
  int max_tokens;
} seal_job_selfedit;

typedef struct {
  seal_job_lora lora;
  int epochs;
  double lr;
  int batch_size;
  seal_schedule schedule;
  int warmup_steps;
  double weight_decay;
  double grad_clip; /* max global grad norm; 0 = no clipping */
  int group;        /* self-edits of one passage whose inner loops train together
                       (batched multi-LoRA over one frozen base); 1 = one at a time */
} seal_job_inner;

typedef struct {
  int max_tokens; /* greedy answers to the held-out questions */
} seal_job_answer;

typedef struct {
  seal_grade_mode mode;
  double f1_threshold;
  char *judge_model; /* required (and used) only in judge mode; NULL otherwise */
} seal_job_grading;

typedef struct {
  seal_job_lora lora;
  double lr;
  int epochs;
  int batch_size; /* effective batch: (prompt, self-edit) pairs per optimizer step */
} seal_job_rest_em;

typedef struct {
  bool single_passage;        /* n=1: one self-edit and one inner loop per passage */
  bool continued_pretraining; /* n=N: one LoRA on all passages' self-edits */
  struct {
    int n_passages;
    seal_job_lora lora;
    int epochs;
    double lr;
    int batch_size;
  } cpt;
} seal_job_evaluation;

typedef struct {
  char *source; /* the job file's path, or the name given to seal_job_parse */
  seal_task task;
  char *model; /* HF directory or GGUF file, ~ and ${ENV} expanded */
  seal_device device;
  uint64_t seed;
  char *output; /* run directory: checkpoint, metrics */
  int rounds;   /* ReST-EM rounds; 0 = evaluate only */
  int repeats;  /* each self-edit is scored this many times */
  seal_job_data data;
  seal_job_selfedit selfedit;
  seal_job_inner inner;
  seal_job_answer answer;
  seal_job_grading grading;
  seal_job_rest_em rest_em;
  seal_job_evaluation evaluation;
} seal_job;

/* The paper's settings (DESIGN §7); paths unset (NULL) except output ("runs/seal"). */
void seal_job_defaults(seal_job *job);

/* Loads a job file. On error fills e ("file:line:col: key: what is wrong") and
 * returns -1 with *job freed. */
int seal_job_load(const char *path, seal_job *job, seal_error *e);
/* The same from YAML text; `name` stands for the file in messages. */
int seal_job_parse(const char *yaml, const char *name, seal_job *job, seal_error *e);
void seal_job_free(seal_job *job);

/* The effective job as YAML text (every key, defaults included, paths expanded),
 * for the checkpoint's job_yaml attribute; parsing it gives the same job back.
 * Caller frees. */
char *seal_job_to_yaml(const seal_job *job);

/* Expands a leading "~" or "~/" to $HOME, ${NAME} to the environment's value and
 * ${NAME:-default} to the value or, when NAME is unset or empty, the default;
 * "$$" is a literal "$". NULL (e filled) when a variable is unset. Caller frees. */
char *seal_expand_path(const char *path, seal_error *e);

const char *seal_device_name(seal_device d);
const char *seal_schedule_name(seal_schedule s);

#endif
