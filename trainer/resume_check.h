/* trainer/resume_check.h — may this checkpoint be continued by this job? A run
 * resumed with another model, other data or other settings that shape its work
 * items would silently mix results of two configurations; these checks refuse
 * it, listing every difference (docs/running.md, "What --resume compares"). */
#ifndef SEAL_TRAINER_RESUME_CHECK_H
#define SEAL_TRAINER_RESUME_CHECK_H

#include "trainer/run.h"
#include "trainer/run_state.h"

/* FNV-1a-64 as 16 hex digits of a model's files (a GGUF file; or a directory's
 * regular files, by name, leaving out hidden files and *.md), and of one file. */
int seal_hash_model_files(const char *model, char out[17], seal_error *e);
int seal_hash_file(const char *path, char out[17], seal_error *e);
/* One hash over the contents of every training data file of a job (the keys
 * data.train* of its YAML dump: knowledge's data.train, ARC's data.train and
 * data.train_solutions), in key order; "" when the job names none. */
int seal_hash_train_data(const char *job_yaml, char out[17], seal_error *e);

/* Rank 0's check of a checkpoint `ck` against the open run (whose state holds
 * the current model's dims and hashes): the model (architecture, dims, file
 * hash), data.train's hash, the job's settings except those that may change on
 * resume (output, device, rounds, the model and data paths, data.eval,
 * data.n_eval, evaluation.*), and the self-edit ids against the passages, k and
 * repeats. On a difference, e says what differs, one "name: the checkpoint's
 * value, the job's value" per difference. */
int seal_run_check_resume(const seal_run *run, const seal_run_state *ck, seal_error *e);

/* The model part only (seal eval: another job may evaluate a run's policy, on
 * the run's base model only). */
int seal_run_check_model(const seal_run *run, const seal_run_state *ck, seal_error *e);

#endif
