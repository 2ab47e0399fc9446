/* trainer/export.h — a run's policy out of its checkpoint, in the formats other
 * tools read (docs/export.md):
 *
 * - one PEFT LoRA adapter holding the first N rounds' updates. Round i's update
 *   is s_i B_i A_i (s_i = alpha / r_i); their sum is itself a LoRA of rank
 *   R = sum r_i: A = [A_1; A_2; ...] [R, in], B = [s_1 B_1, s_2 B_2, ...]
 *   [out, R], exported with alpha = R so that PEFT's scale alpha/R is 1.
 * - a Hugging Face checkpoint directory: the base model with the rounds merged
 *   (W += s_i B_i A_i, round after round, as the run did), in float32 or bf16.
 *
 * Rounds: n_rounds is how many of the finished rounds to take, from round 0;
 * SEAL_EXPORT_ALL_ROUNDS takes every one. */
#ifndef SEAL_TRAINER_EXPORT_H
#define SEAL_TRAINER_EXPORT_H

#include "model/lora.h"
#include "model/model.h"
#include "trainer/run_state.h"
#include "util/util.h"

#define SEAL_EXPORT_ALL_ROUNDS (-1)

typedef enum { SEAL_EXPORT_F32 = 0, SEAL_EXPORT_BF16 = 1 } seal_export_dtype;

/* The number of rounds n_rounds selects (SEAL_EXPORT_ALL_ROUNDS: all), or -1
 * with an error when the state has no finished round or n_rounds is not in
 * 1..n_policy_rounds. */
int seal_export_round_count(const seal_run_state *st, int n_rounds, seal_error *e);

/* The rank and target set of one round's PEFT tensors (read off the tensors, as
 * the run does when it merges them); checks every name and shape. */
int seal_export_round_shape(const seal_tensor_set *t, int round, int *rank, unsigned *targets,
                            seal_error *e);

/* The first n_rounds rounds as one adapter: PEFT-named host tensors of rank
 * *rank (= sum of the rounds' ranks) with scale 1 (alpha = *rank), covering
 * every layer for the union of the rounds' targets (*targets); a round that
 * does not adapt a module contributes zero rows of A and zero columns of B. */
int seal_export_combine_rounds(const seal_run_state *st, int n_rounds, seal_tensor_set *out,
                               int *rank, unsigned *targets, seal_error *e);

/* Writes the combined adapter to dir (created as needed):
 * adapter_model.safetensors + adapter_config.json, whose
 * base_model_name_or_path is the state's base_path. */
int seal_export_peft(const seal_run_state *st, int n_rounds, const char *dir, seal_error *e);

/* Merges the first n_rounds rounds into m, one after another. */
int seal_export_merge_rounds(seal_model *m, const seal_run_state *st, int n_rounds, seal_error *e);

/* Writes m's weights as a Hugging Face checkpoint directory: model.safetensors
 * (HF names, F32 or BF16) and config.json. With base_dir (a Hugging Face
 * directory) its config.json is copied with the dtype changed, and its
 * generation config and tokenizer files are copied; without it config.json is
 * written from m's config. */
int seal_export_hf_model(seal_model *m, const char *base_dir, const char *dir,
                         seal_export_dtype dtype, seal_error *e);

/* Loads base_path (NULL: the state's base_path) on the CPU backend, checks it
 * is the model the run trained, merges the first n_rounds rounds and writes the
 * result with seal_export_hf_model. */
int seal_export_merged(const seal_run_state *st, int n_rounds, const char *base_path,
                       const char *dir, seal_export_dtype dtype, seal_error *e);

/* The two exports straight from a checkpoint file (what `seal export` runs). */
int seal_export_checkpoint_peft(const char *ckpt_path, int n_rounds, const char *dir,
                                seal_error *e);
int seal_export_checkpoint_merged(const char *ckpt_path, int n_rounds, const char *base_path,
                                  const char *dir, seal_export_dtype dtype, seal_error *e);

#endif
