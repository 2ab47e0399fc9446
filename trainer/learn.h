/* trainer/learn.h — `seal learn` (issue 13): a user's documents taken into a
 * model for good. For every document the policy writes a self-edit (the
 * task's self-edit prompt; resampled while unusable, as in training), the
 * task's plan turns it into training examples, and LoRA trains on them with
 * the job's inner loop:
 *
 *   each  document after document, in order: a fresh LoRA on the current
 *         weights, then merged into them (continual learning); the result is
 *         the sum of the updates
 *   all   one LoRA over every document's examples together
 *
 * Two phases, so that one model is in memory at a time: first every document's
 * self-edit (the teacher: the base model, or the base with a run's policy rounds
 * merged), then the training of the student (the base model). A document whose
 * self-edit stays unusable is reported and skipped, never trained silently.
 *
 * The state (DIR/learn-state.json, written atomically after every document of
 * either phase, with each document's update in DIR/learn/) lets an interrupted
 * learn continue (--resume) and reach the same bits: every seed is derived
 * from (job seed, document index), and a resumed `each` merges the saved
 * updates back in the same order before it goes on. */
#ifndef SEAL_TRAINER_LEARN_H
#define SEAL_TRAINER_LEARN_H

#include "evaluator/domain.h"
#include "model/engine.h"
#include "trainer/job.h"

typedef enum { SEAL_LEARN_EACH, SEAL_LEARN_ALL } seal_learn_mode;

/* One document's progress. */
typedef struct {
  char *name;     /* what identifies it on resume: "source" or "source#part" */
  char *selfedit; /* NULL until written */
  bool usable;    /* its self-edit gives something to train on */
  char reason[SEAL_REASON_SIZE];
  int attempts;                 /* samples drawn for it */
  bool trained;                 /* each: its update is saved in DIR/learn/ (merged in memory) */
  int n_examples;               /* training examples of its plan */
  double first_loss, last_loss; /* each: of its own training; NAN otherwise */
} seal_learn_doc;

typedef struct {
  seal_learn_mode mode;
  char *dir;    /* the output directory */
  char *model;  /* the base */
  char *policy; /* the run checkpoint whose rounds wrote the self-edits; NULL: the base */
  uint64_t seed;
  float lora_alpha; /* of the updates (the job's inner loop) */
  int n_docs;
  seal_learn_doc *docs;
  int n_selfedits;  /* documents 0..n_selfedits-1 have their self-edit */
  int n_trained;    /* each: documents 0..n_trained-1 are trained; all: n_docs when done */
  int all_examples; /* all: examples of the one LoRA */
  double all_first_loss, all_last_loss;
} seal_learn_state;

/* A fresh state for the documents named names[0..n). */
void seal_learn_state_init(seal_learn_state *st, seal_learn_mode mode, const char *dir,
                           const char *model, const char *policy, uint64_t seed, float lora_alpha,
                           const char *const *names, int n);
void seal_learn_state_free(seal_learn_state *st);
/* DIR/learn-state.json (malloc'd). */
char *seal_learn_state_path(const char *dir);
/* Reads DIR's state and checks that it is the same learn as want (mode, model,
 * policy, seed, alpha and the documents, in order): -1 naming the first
 * difference otherwise. */
int seal_learn_state_resume(seal_learn_state *st, const seal_learn_state *want, seal_error *e);
/* Writes the state atomically. */
int seal_learn_state_save(const seal_learn_state *st, seal_error *e);

/* What a phase reports and when it stops. */
typedef struct {
  volatile int *stop; /* set by SIGTERM/SIGUSR1: stop after the current document */
  int stop_after;     /* for tests: stop after this many documents (both phases); -1 never */
  int done;           /* documents this process finished so far */
  /* Called after each document of each phase (may be NULL). */
  void (*on_doc)(void *user, const seal_learn_state *st, int doc, bool training);
  void *user;
} seal_learn_ctl;

/* Phase 1: the self-edits of documents n_selfedits.. with the teacher eng over
 * domain d (whose eval contexts are the documents). 0 when all are written, 1
 * when stopped (the state saved), -1 on error. */
int seal_learn_selfedits(seal_learn_state *st, seal_engine *eng, const seal_domain *d,
                         const seal_job *job, seal_learn_ctl *ctl, seal_error *e);

/* Phase 2 on the student eng (the base weights): each: merges the saved updates
 * of documents 0..n_trained-1, then trains the rest one by one, merging each;
 * all: trains the one LoRA (into *all_lora, which the caller frees) unless it
 * is saved, in which case it is loaded. The student ends holding the merged
 * weights (each) or the base (all). 0 done, 1 stopped, -1 on error (nothing
 * trainable is an error). */
int seal_learn_train(seal_learn_state *st, seal_engine *eng, const seal_domain *d,
                     const seal_job *job, seal_learn_ctl *ctl, seal_lora *all_lora, seal_error *e);

/* The result as one PEFT adapter in st->dir (adapter_model.safetensors,
 * adapter_config.json): the saved updates summed (trainer/export.h). */
int seal_learn_write_peft(const seal_learn_state *st, int n_layers, seal_error *e);

#endif
