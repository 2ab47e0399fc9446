/* trainer/run.h — a SEAL run over the job's task domain (docs/architecture.md):
 * rounds of generate -> evaluate -> filter -> policy update, farmed out over
 * MPI ranks, checkpointed after each phase and as results arrive, resumable. */
#ifndef SEAL_TRAINER_RUN_H
#define SEAL_TRAINER_RUN_H

#include "comm/collective.h"
#include "comm/comm.h"
#include "comm/workqueue.h"
#include "evaluator/domain.h"
#include "model/engine.h"
#include "trainer/inner.h"
#include "trainer/items.h"
#include "trainer/job.h"
#include "trainer/metrics.h"
#include "trainer/run_state.h"
#include "trainer/seeds.h"

typedef struct {
  const seal_job *job;
  seal_comm *comm;
  /* the policy, which writes the self-edits and which ReST-EM trains: the
   * teacher's base weights (the job's model's without a teacher) with every
   * finished round merged */
  seal_engine eng;
  /* the student, which the inner loop adapts and the reward scores: &eng
   * without a teacher (the policy adapts itself), else &student_eng, the job's
   * model, never updated by ReST-EM */
  seal_engine *student;
  seal_engine student_eng;
  seal_domain domain; /* the job's task: its data and models, opened on every rank */
  seal_run_state st;  /* authoritative on rank 0 */
  char *dir, *ckpt_path, *metrics_path;
  seal_metrics metrics;
  volatile int *stop;   /* set by the signal handler */
  double last_ckpt;     /* when rank 0 last wrote the checkpoint */
  char *device;         /* the policy's backend on this rank: "cpu" or "cuda:N" (its node-local
                           GPU): the teacher's (job key teacher_device), else the model's */
  char *student_device; /* the student's (job key device); equal to device without a teacher */
  seal_nccl *nccl;      /* gradient all-reduce between GPUs, or NULL (MPI on host memory) */
  float *grad_host;     /* host staging for the MPI all-reduce of device gradients */
  size_t grad_host_cap;
  int lock_fd; /* rank 0: the open DIR/seal.lock holding the directory's flock; 0: none */
} seal_run;

/* Opens everything a run needs on every rank: the task's data, the
 * model, output files.
 * Rank 0 locks the output directory for the run's life (DIR/seal.lock): a
 * second run into the same directory fails at once, naming the holder's PID. */
int seal_run_open(seal_run *run, const seal_job *job, seal_comm *comm, volatile int *stop,
                  seal_error *e);
void seal_run_close(seal_run *run);

/* Loads the checkpoint (every rank reads it) and merges the finished rounds'
 * policy updates into the model. */
int seal_run_resume(seal_run *run, seal_error *e);
/* Loads the checkpoint's state without merging anything (seal eval merges the
 * rounds one at a time). */
int seal_run_resume_state_only(seal_run *run, seal_error *e);

/* Runs the remaining rounds. Returns 0 when done, SEAL_EXIT_PREEMPTED (util.h:
 * the exit status a Slurm script requeues on) when stopped by a signal, after
 * checkpointing; a failure on any rank ends the
 * job (SEAL_DIE: every rank exits 1). */
int seal_run_train(seal_run *run);

/* The work of a round's phases on one rank (trainer/round.c), each on the
 * engine that does it: the policy writes, the student learns, the policy is
 * updated. With a teacher the two differ in tokenizer too, and only text passes
 * between them (docs/teacher.md).
 *
 * GENERATE: the k self-edits of each of n contexts, sampled by the policy
 * (run->eng: its chat template, tokenizer and sampling) together and decoded to
 * text; b [n] (context i's in b[i]) allocated (seal_selfedit_batch_free). */
void seal_run_write_selfedits(seal_run *run, int round, const int *contexts, int n,
                              seal_selfedit_batch *b);
/* EVALUATE: the inner loops of G self-edit texts of a context on the student
 * (run->student), which splits and tokenizes them with its own tokenizer. */
void seal_run_learn_selfedits(seal_run *run, int round, int context,
                              const seal_evaluate_pair *pairs, int G, seal_inner_result *out);
/* UPDATE: the policy's examples of the kept self-edits: (the self-edit prompt,
 * the self-edit, the policy's end token) tokenized by the policy, loss from
 * the self-edit on. ex[kept->n]; each ids malloc'd. */
void seal_run_update_examples(const seal_run *run, const seal_kept_list *kept,
                              seal_sft_example *ex);

/* Writes the checkpoint now (rank 0; other ranks return at once). */
void seal_run_checkpoint(seal_run *run);

/* The context ids (of the task's train split) of round r: a seeded draw. */
int seal_run_contexts(const seal_run *run, int round, int *ids);

/* Sums a gradient buffer (backend memory of run->eng) over all ranks in place:
 * NCCL between GPUs when every rank owns one, else MPI on host memory (staged
 * through the host when the buffer lives on a GPU). A seal_grad_reduce_fn. */
void seal_run_reduce_grads(void *run, float *grads, size_t n, bool on_backend);
/* The same for a buffer of the student's backend (run->student). */
void seal_run_reduce_student_grads(void *run, float *grads, size_t n, bool on_backend);

/* Work-queue options of the run: its stop flag, and rank 0's work thread bound
 * to the rank's GPU. */
seal_workqueue_opts seal_run_queue_opts(seal_run *run);

/* Merges policy round r's tensors into the model. */
int seal_run_merge_round(seal_engine *eng, const seal_tensor_set *t, int r, float alpha,
                         seal_error *e);

#endif
