/* trainer/run_state.h — everything a SEAL run must remember to continue after a
 * crash or a requeue: the job, the model it started from, the policy adapters of
 * every finished round, the optimizer moments, the random generators, one row
 * per finished round and every self-edit generated or evaluated so far. It is
 * plain host memory; trainer/checkpoint.h puts it in an HDF5 file and back.
 *
 * Rounds are numbered from 0 everywhere (policy[r], selfedits[r], the `round`
 * of a round record, the N of /policy/round_N). */
#ifndef SEAL_TRAINER_RUN_STATE_H
#define SEAL_TRAINER_RUN_STATE_H

#include <stdint.h>

#include "model/tensors.h"
#include "util/util.h"

/* One self-edit of a context: generated (reward NAN until it is evaluated;
 * repeat -1) or evaluated (reward and metrics of one inner loop, `repeat`
 * counting the evaluations of the same self-edit). */
typedef struct {
  int context_id, sample, repeat;
  double reward;       /* the reward used; NAN: generated, not evaluated yet */
  double label_reward; /* the reward by the gold labels; NAN when not computed */
  int n_examples;      /* training examples of the self-edit's plan */
  int ok;              /* 0: unusable (the reason says why), scored zero without training */
  int attempts;        /* samples drawn for it: 1 + the resamples of unusable ones */
  char *reason;        /* why it is unusable, "" when ok; owned, never NULL once stored */
  char *metrics;       /* the domain's metrics as a JSON object ({"em":0.5,...}); owned */
  char *text;          /* the self-edit as the model wrote it; owned, never NULL once stored */
} seal_selfedit_record;

/* One finished round of the outer loop. */
typedef struct {
  int round;
  int contexts;       /* contexts sampled this round */
  double mean_reward; /* over all evaluated self-edits of the round */
  int kept;           /* self-edits kept by the ReST-EM filter */
  double accuracy;    /* downstream accuracy after the round's policy update */
  double seconds;     /* wall-clock time of the round */
} seal_round_record;

/* The state of one named random stream (xoshiro256**, util/util.h). */
typedef struct {
  char name[64];
  uint64_t s[4];
} seal_rng_record;

/* A model of the run as the checkpoint records it (its /model or /teacher
 * group): what it is, where it was read from, its files' hash. */
typedef struct {
  char architecture[32]; /* "llama", "qwen2" */
  char *path;            /* owned, may be NULL */
  int hidden, n_layers, n_heads, n_kv_heads, vocab_size, intermediate;
  char files_fnv1a[17]; /* FNV-1a-64 of its files (16 hex digits), "" when unknown */
  /* the backend rank 0 ran it on when the file was written ("cpu", "cuda:0"),
   * "" when unknown (a checkpoint of an older seal) */
  char device[32];
} seal_model_record;

typedef struct {
  char *job_yaml; /* the job file's text, as given; owned, may be NULL */
  uint64_t run_seed;
  int world_size;
  int round;        /* the round in progress */
  char phase[32];   /* where in the round: e.g. "generate", "evaluate", "update", "done" */
  char created[40]; /* when the run began, ISO 8601 UTC ("2025-06-01T12:00:00Z") */

  /* model: what the run started from */
  char architecture[32]; /* "llama", "qwen2" */
  char *base_path;       /* owned, may be NULL */
  char base_sha256[65];  /* hex digest of the base weights, "" when unknown */
  int hidden, n_layers, n_heads, n_kv_heads, vocab_size, intermediate;
  /* FNV-1a-64 (16 hex digits) of the model's files and of data.train's bytes,
   * compared on resume; "" when unknown (a checkpoint of an older seal) */
  char model_fnv1a[17], train_fnv1a[17];
  char model_device[32]; /* the model's backend on rank 0 (seal_model_record.device) */

  /* teacher (job key `teacher`): the model that writes the self-edits and is the
   * policy ReST-EM trains, when it is not the model above (the student, which
   * the inner loop adapts and the reward scores). has_teacher 0: `teacher: self`,
   * the model teaches itself and `teacher` is unused. */
  int has_teacher;
  seal_model_record teacher;

  /* policy: policy[r] is round r's LoRA update of the teacher's weights (the
   * model's own without a teacher) (PEFT tensor names, A [r,in], B [out,r]) */
  int n_policy_rounds;
  seal_tensor_set *policy; /* [n_policy_rounds] */
  float lora_alpha;        /* of the policy adapters */
  int lora_r;

  /* optimizer (AdamW) of the policy update: first and second moments by parameter name */
  seal_tensor_set opt_m, opt_v;
  int opt_step;
  double opt_lr;

  seal_rng_record *rng; /* [n_rng] */
  int n_rng;

  seal_round_record *rounds; /* [n_rounds], in order of round */
  int n_rounds;

  /* self-edits: selfedits[r] holds n_selfedits[r] records of round r */
  int n_selfedit_rounds;
  seal_selfedit_record **selfedits; /* [n_selfedit_rounds][n_selfedits[r]] */
  int *n_selfedits;                 /* [n_selfedit_rounds] */

  /* capacities behind the arrays above, managed by the functions below */
  int cap_rng, cap_rounds;
  int *cap_selfedits; /* [n_selfedit_rounds] */
} seal_run_state;

/* An empty state: world size 1, round 0, phase "init", created = now. */
void seal_run_state_init(seal_run_state *s);
/* Frees everything the state owns and leaves it zeroed. */
void seal_run_state_free(seal_run_state *s);

/* Replaces an owned string field (job_yaml, base_path) with a copy of v (NULL clears it). */
void seal_run_state_set_string(char **field, const char *v);

/* Appends a self-edit record to round r (growing the rounds as needed); the
 * strings are copied (NULL becomes "", and "{}" for metrics). Returns the
 * stored record. */
seal_selfedit_record *seal_run_state_add_selfedit(seal_run_state *s, int round,
                                                  const seal_selfedit_record *rec);
/* Frees the strings of a stored record. */
void seal_selfedit_record_free(seal_selfedit_record *r);
/* Stores round rec->round's record: replaces the record of that round when there
 * is one, else inserts it keeping the table ordered by round. */
seal_round_record *seal_run_state_put_round(seal_run_state *s, const seal_round_record *rec);
/* Makes *tensors round r's policy update, taking ownership of its tensors (it is
 * left empty); a previous set for round r is freed. */
void seal_run_state_set_policy(seal_run_state *s, int round, seal_tensor_set *tensors);
/* Stores the state of the named stream (replacing one of the same name). The
 * name must be shorter than 64 bytes. */
seal_rng_record *seal_run_state_put_rng(seal_run_state *s, const char *name, const uint64_t st[4]);
/* NULL when there is no stream of that name. */
const seal_rng_record *seal_run_state_find_rng(const seal_run_state *s, const char *name);

/* The job's model (the student when there is a teacher), into *out (path borrowed). */
void seal_run_state_model(const seal_run_state *s, seal_model_record *out);
/* Makes m (its path copied) the job's model of the state: the inverse of
 * seal_run_state_model. */
void seal_run_state_set_model(seal_run_state *s, const seal_model_record *m);
/* The model the policy rounds adapt, into *out (path borrowed): the teacher
 * when the run has one, else the run's model. */
void seal_run_state_policy_model(const seal_run_state *s, seal_model_record *out);

/* The current time as ISO 8601 UTC, "YYYY-MM-DDTHH:MM:SSZ", into out[40]. */
void seal_utc_now(char out[40]);

#endif
