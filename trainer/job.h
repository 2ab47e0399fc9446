/* trainer/job.h — a run's job file (YAML, read with libyaml): everything a SEAL
 * run needs, with the paper's settings (docs/job-config.md) wherever the job is
 * silent. The trainer's own keys are here; the task domain named by `task:`
 * adds its keys (evaluator/domain.h), which are parsed, validated and dumped
 * the same way into the domain's settings struct.
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

#include "evaluator/domain.h"
#include "model/optim.h" /* seal_schedule */
#include "util/util.h"

/* cpu_bf16: the CPU with the base model's matrices in bfloat16 ("cpu:bf16");
 * cpu_q8: in int8 blocks ("cpu:q8"); cpu_q4: in 4-bit blocks ("cpu:q4"). */
typedef enum {
  SEAL_DEVICE_AUTO,
  SEAL_DEVICE_CPU,
  SEAL_DEVICE_CUDA,
  SEAL_DEVICE_CPU_BF16,
  SEAL_DEVICE_CPU_Q8,
  SEAL_DEVICE_CPU_Q4
} seal_device;
/* The teacher's backend (job key `teacher_device`): the student's (`same`), or
 * one of seal_device's, each one more than its seal_device value. */
typedef enum {
  SEAL_TEACHER_DEVICE_SAME,
  SEAL_TEACHER_DEVICE_AUTO,
  SEAL_TEACHER_DEVICE_CPU,
  SEAL_TEACHER_DEVICE_CUDA,
  SEAL_TEACHER_DEVICE_CPU_BF16,
  SEAL_TEACHER_DEVICE_CPU_Q8,
  SEAL_TEACHER_DEVICE_CPU_Q4
} seal_teacher_device;

typedef struct {
  int r;            /* rank, >= 1 */
  double alpha;     /* scaling numerator, > 0; scale = alpha / r */
  unsigned targets; /* SEAL_LORA_BIT(t) of model/lora.h set, at least one */
} seal_job_lora;

typedef struct {
  int contexts_per_round; /* contexts drawn per ReST-EM round */
  int n_eval;             /* evaluation contexts used; 0 = all */
} seal_job_data;

typedef struct {
  int k;              /* self-edits sampled per context */
  double temperature; /* 0 = greedy */
  double top_p;       /* (0, 1] */
  int max_tokens;
  int max_resamples; /* an unusable self-edit is sampled again up to this many times */
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
  int group;        /* self-edits of one context whose inner loops train together
                       (batched multi-LoRA over one frozen base); 1 = one at a time */
} seal_job_inner;

typedef struct {
  seal_job_lora lora;
  double lr;
  int epochs;
  int batch_size; /* effective batch: (prompt, self-edit) pairs per optimizer step */
} seal_job_rest_em;

typedef struct {
  unsigned protocols;        /* bit p: seal_protocol p, named by the task */
  int selfedits_per_context; /* self-edits written (each trained and graded) per context */
} seal_job_evaluation;

/* What the continual protocol's guard does with an update that costs earlier
 * passages too much. */
typedef enum { SEAL_GUARD_OFF, SEAL_GUARD_REFUSE, SEAL_GUARD_RETRY } seal_guard_mode;

typedef struct {
  seal_guard_mode mode;
  double max_drop; /* largest accepted fall of the probe's accuracy */
  int probe;       /* the probe: the questions of the last this-many passages */
  double lr_scale; /* retry: the learning rate is multiplied by this per retry */
  int retries;     /* retry: at most this many before the update is refused */
  double max_kl;   /* largest accepted mean token KL(before || after) on the KL text; 0: no
                      KL check */
  char *kl_text;   /* the KL text: a file, or NULL for the probe passages' own texts */
} seal_job_guard;

/* The continual protocol of `seal eval` (issue 13). */
typedef struct {
  int sequences; /* S: sequences of passages */
  int length;    /* N: passages per sequence (at most the evaluation contexts) */
  seal_job_guard guard;
} seal_job_continual;

/* Where the reward ReST-EM keeps self-edits by comes from (docs/labelfree.md). */
typedef enum {
  SEAL_REWARD_LABELS,         /* the domain's grade against the gold answers */
  SEAL_REWARD_SELF_CERTAINTY, /* mean token KL(uniform || p) of the adapted model's answers */
  SEAL_REWARD_ENTROPY,        /* minus their mean token entropy */
  SEAL_REWARD_MAJORITY,       /* agreement of sampled answers with their majority */
} seal_reward_source;

/* Which label-free signals every scored self-edit records. */
typedef enum {
  SEAL_SIGNALS_CHEAP, /* self-certainty and entropy (one teacher-forced forward per
                         answer); majority only when it is the source */
  SEAL_SIGNALS_ALL,   /* majority too, whatever the source (m more decodings per query) */
  SEAL_SIGNALS_NONE,  /* only the source's own signal (nothing with labels) */
} seal_signals;

typedef struct {
  seal_reward_source source;
  seal_signals signals;
  int majority_samples;        /* m answers sampled per query for the vote */
  double majority_temperature; /* their sampling temperature (> 0) */
} seal_job_reward;

typedef struct {
  double interval_seconds; /* between rewrites while results arrive; 0: after every result */
} seal_job_checkpoint;

/* Test hooks: settings that exist for the tests of failure handling and that
 * a real run never sets. */
typedef struct {
  int context, sample, repeat; /* -1: none */
} seal_job_fault;

typedef struct {
  /* This EVALUATE pair fails on every attempt, as a crash inside its inner
   * loop would. */
  seal_job_fault fault_evaluate;
  /* `seal learn`: this document's self-edit comes out empty (-1: none), as a
   * model that writes nothing would. */
  int blank_selfedit;
  /* The continual protocol: update k of every sequence is made harmful (its
   * scale a hundred times too large); -1: none. */
  int harmful_update;
} seal_job_testing;

typedef struct {
  char *source;                /* the job file's path, or the name given to seal_job_parse */
  const seal_domain_ops *task; /* the task domain (`task:`) */
  void *task_settings;         /* its settings struct (task->settings_size bytes) */
  char *model;                 /* HF directory or GGUF file, ~ and ${ENV} expanded */
  /* who writes the self-edits and is the policy ReST-EM trains: "self" (the
   * model itself) or another model's path; `model` is then the student */
  char *teacher;
  seal_device device;                 /* the model's backend (the student's with a teacher) */
  seal_teacher_device teacher_device; /* the teacher's backend; SAME: device's */
  uint64_t seed;
  char *output; /* run directory: checkpoint, metrics */
  int rounds;   /* ReST-EM rounds; 0 = evaluate only */
  int repeats;  /* each self-edit is scored this many times */
  seal_job_data data;
  seal_job_selfedit selfedit;
  seal_job_inner inner;
  seal_job_rest_em rest_em;
  seal_job_reward reward;
  seal_job_evaluation evaluation;
  seal_job_continual continual;
  seal_job_checkpoint checkpoint;
  seal_job_testing testing;
} seal_job;

/* Loads a job file. On error fills e ("file:line:col: key: what is wrong") and
 * returns -1 with *job freed. */
int seal_job_load(const char *path, seal_job *job, seal_error *e);
/* The same from YAML text; `name` stands for the file in messages. */
int seal_job_parse(const char *yaml, const char *name, seal_job *job, seal_error *e);
/* seal_job_parse over another registry of tasks (NULL-terminated; the first
 * is the default), for the tests of the reader itself. */
int seal_job_parse_tasks(const char *yaml, const char *name, const seal_domain_ops *const *tasks,
                         seal_job *job, seal_error *e);
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
/* The device named (auto, cpu, cpu:bf16, cpu:q8, cpu:q4, cuda) into *d; -1 when unknown. */
int seal_device_parse(const char *name, seal_device *d);

/* Whether the job has a teacher other than its model (`teacher:` not "self"). */
bool seal_job_has_teacher(const seal_job *job);
/* The backend the teacher is opened on: teacher_device, or device when it is `same`. */
seal_device seal_job_teacher_device(const seal_job *job);
const char *seal_schedule_name(seal_schedule s);
/* "labels", "self-certainty", "entropy", "majority". */
const char *seal_reward_source_name(seal_reward_source s);

#endif
