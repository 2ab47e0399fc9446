/* evaluator/domain.h — what a task domain gives the trainer.
 *
 * SEAL is one loop over any domain: a policy reads a context and writes a
 * self-edit; the self-edit becomes an inner-loop plan (training examples with
 * loss masks, and the hyperparameters); a LoRA is trained on the plan; the
 * adapted model answers the context's queries; the answers are graded into a
 * reward. trainer/ runs that loop, distributes it, checkpoints it and names no
 * domain: everything domain-shaped comes through this table. A domain is new
 * files in evaluator/ plus one entry in the registry (evaluator/domains.c),
 * which is also the value of the job's `task:` key (docs/architecture.md, "How
 * to add a domain").
 *
 *   knowledge  contexts are passages; the self-edit is a list of implications;
 *              the plan is one sequence per implication plus the passage; the
 *              queries are the passage's questions without the passage; the
 *              reward is the fraction answered correctly
 *              (evaluator/knowledge_domain.c).
 *   arc        contexts are ARC tasks; the self-edit is a JSON tool
 *              configuration; the plan is the augmented leave-n-out tasks with
 *              the configuration's lr, epochs and loss strategy; the queries
 *              are the test input under the voting transforms; the reward is 1
 *              when the voted top 2 holds the solution.
 *
 * The split of work between domain and trainer:
 *   - the domain renders text (prompts, training texts, queries) and
 *     tokenizes it with the engine it is given, so chat templates and loss
 *     boundaries are its business;
 *   - the trainer samples, trains and decodes (batched over adapters and
 *     queries, on whatever backend), so speed, distribution, resampling and
 *     label-free reward statistics are its business and every domain gets them;
 *   - the domain grades the decoded answers.
 *
 * Every function that takes an engine uses only that engine (the policy's for
 * the self-edit prompt, the student's for plans and queries) and only to
 * tokenize; the domain's own models (the knowledge judge) are its own.
 * Functions are called on any rank, from the work queue's thread; a domain
 * keeps no mutable global state, and its results depend only on its arguments
 * (seeds included), never on the rank. */
#ifndef SEAL_EVALUATOR_DOMAIN_H
#define SEAL_EVALUATOR_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/engine.h"
#include "model/optim.h"
#include "util/schema.h"
#include "util/util.h"

typedef enum { SEAL_SPLIT_TRAIN, SEAL_SPLIT_EVAL, SEAL_N_SPLITS } seal_split;

/* "train", "eval". */
const char *seal_split_name(seal_split s);

/* At most this many named metrics per domain (knowledge: em, f1, contains). */
#define SEAL_DOMAIN_MAX_METRICS 6
/* Room for the reason a self-edit or a plan is unusable. */
#define SEAL_REASON_SIZE 192

/* ---- inner-loop plan ------------------------------------------------------ */

typedef struct {
  int32_t *ids; /* [n] the whole tokenized example */
  int n;
  /* Tokens at index >= loss_from carry loss; 0 = all but the first. A prefix
   * cut is every mask seal needs (trainer/sft.h): whole texts, or the final
   * assistant turn of a chat. */
  int loss_from;
  char *text;        /* the rendered text that was tokenized (for `seal show`) */
  char *detail_json; /* optional JSON value for `seal show`: messages, grids; may be NULL */
} seal_plan_example;

/* The LoRA-SFT settings a plan trains with. */
typedef struct {
  int lora_r;
  double lora_alpha;
  unsigned lora_targets; /* bit t: seal_lora_target t (model/lora.h) */
  int epochs, batch_size;
  double lr, weight_decay, grad_clip; /* grad_clip 0: no clipping */
  seal_schedule schedule;
  int warmup_steps;
} seal_plan_hparams;

typedef struct {
  /* false: a single-context protocol trains nothing and the self-edit scores
   * 0. ex may still hold the context's own examples (the knowledge passage),
   * which a protocol over many contexts (continued pretraining) trains on. */
  bool ok;
  char reason[SEAL_REASON_SIZE]; /* why not ok, for the checkpoint ("386 steps > 375") */
  bool train;                    /* false with ok: nothing is trained (the base model answers) */
  seal_plan_example *ex;         /* [n_ex] */
  int n_ex;
  int n_from_selfedit; /* the first examples came from the self-edit; the rest: the context */
  /* Arrives holding the job's inner_loop settings; the domain changes what
   * its self-edits decide (ARC: lr, epochs). */
  seal_plan_hparams hp;
} seal_inner_plan;

/* Frees the examples and zeroes the plan. */
void seal_inner_plan_free(seal_inner_plan *p);

/* ---- queries and grades --------------------------------------------------- */

typedef struct {
  char *prompt;      /* rendered prompt text, tokenized with seal_engine_encode_prompt */
  int max_tokens;    /* greedy decoding stops here (or at an end token) */
  char *detail_json; /* optional JSON value for `seal show`: the question, the transform */
} seal_query;

void seal_queries_free(seal_query *q, int n);

typedef struct {
  double reward;                          /* the labelled reward, in [0, 1] */
  int n_items;                            /* what the metrics average over (questions, tests) */
  int n_correct;                          /* items graded correct (micro-averages over contexts) */
  double metric[SEAL_DOMAIN_MAX_METRICS]; /* in the order of the domain's metric_names */
  char *detail_json;                      /* per-query outcome (answers, votes); may be NULL */
} seal_grade;

void seal_grade_free(seal_grade *g);

/* ---- evaluation conditions and protocols ---------------------------------- */

typedef enum {
  SEAL_COND_BASE,     /* no inner loop: the model answers as it is */
  SEAL_COND_FIXED,    /* the domain's fixed training without a self-edit (the passage
                         alone; every augmentation with the reference's lr/epochs) */
  SEAL_COND_SELFEDIT, /* the policy writes self-edits, each trained and graded */
} seal_condition_kind;

typedef enum {
  SEAL_PROTOCOL_SINGLE,    /* one inner loop per (context, self-edit) */
  SEAL_PROTOCOL_CPT,       /* one LoRA over N contexts' plans, every context graded */
  SEAL_PROTOCOL_CONTINUAL, /* contexts one after another, merged after each (issue 13) */
  SEAL_N_PROTOCOLS
} seal_protocol;

/* The settings of a protocol that trains over several contexts. */
typedef struct {
  int n_contexts; /* contexts taken (at most the split's) */
  seal_plan_hparams hp;
} seal_protocol_settings;

/* ---- the domain ----------------------------------------------------------- */

/* What ReST-EM keeps of a context's k self-edits. */
typedef enum {
  SEAL_KEEP_BEST,   /* the one with the best mean reward (knowledge: best-of-k) */
  SEAL_KEEP_SOLVED, /* every one whose mean reward is 1 (ARC: the configurations that
                       solved their task; none when none did) */
} seal_keep_rule;

typedef struct seal_domain seal_domain;

typedef struct {
  const char *name; /* the job's `task:` value: "knowledge", "arc" */

  /* Job keys: the domain's settings struct is settings_size bytes, starts
   * from defaults(), and is filled from the job by the schema table `keys`
   * (the children of the job's root; a mapping the trainer also has, such as
   * `data` or `selfedit`, adds to it, any other is the domain's own). The
   * trainer's job reader parses, validates and dumps them like its own keys.
   * defaults_yaml overrides the trainer's generic defaults for this domain
   * (e.g. k: 15, temperature: 0.8 for arc); NULL when it has none. */
  size_t settings_size;
  void (*defaults)(void *settings);
  void (*free_settings)(void *settings);
  const seal_schema_key *keys;
  const char *defaults_yaml;

  /* ReST-EM's filter. */
  seal_keep_rule keep;

  /* Words: what the table and eval.json call contexts and graded items
   * ("passages", "questions"); the conditions without a self-edit ("base",
   * "passage"); the protocols the domain supports (NULL where it does not:
   * "single-passage", "continued-pretraining"); the metrics, by their JSON
   * name ("em") and their column label ("EM"). */
  const char *contexts_label, *items_label;
  const char *base_name, *fixed_name;
  const char *const *protocol_names; /* [SEAL_N_PROTOCOLS] */
  const char *const *metric_names;   /* [n_metrics] */
  const char *const *metric_labels;  /* [n_metrics] */
  int n_metrics;

  /* Loads and validates the data the settings name; on bad data fills e naming
   * the file, the context and the problem. device: for models the domain opens
   * itself (the knowledge judge). */
  int (*open)(seal_domain *d, const void *settings, const char *device, seal_error *e);
  void (*close)(seal_domain *d);

  int (*n_contexts)(const seal_domain *d, seal_split s);
  /* A short name of context i (a passage title, an ARC task id). */
  const char *(*context_name)(const seal_domain *d, seal_split s, int i);

  /* The prompt the policy completes for context i, rendered for eng (chat
   * template or not, as the domain's protocol says). detail_json (may be NULL,
   * and is set to NULL when there is none) describes it for `seal show` (the
   * messages). Caller frees both. */
  char *(*selfedit_prompt)(const seal_domain *d, const seal_engine *eng, seal_split s, int i,
                           char **detail_json);

  /* Whether a sampled self-edit of context i can be used; when not, writes why
   * into reason. The trainer resamples an unusable one up to
   * selfedit.max_resamples times. */
  bool (*selfedit_usable)(const seal_domain *d, seal_split s, int i, const char *selfedit,
                          char *reason, size_t reason_size);

  /* The inner-loop plan of a condition for context i: kind SELFEDIT uses
   * selfedit; FIXED and BASE ignore it. seed drives anything random in the plan
   * (augmentations, caps). out arrives zeroed but for out->hp (the job's inner
   * loop). Never fails on the model's text: an unusable self-edit gives
   * ok = false with a reason. */
  void (*plan)(const seal_domain *d, const seal_engine *eng, seal_split s, int i,
               seal_condition_kind kind, const char *selfedit, uint64_t seed, seal_inner_plan *out);

  /* Protocols over several contexts (continued pretraining): how many contexts
   * and what the one LoRA trains with. NULL when the domain has none. */
  void (*protocol_settings)(const seal_domain *d, seal_protocol p, seal_protocol_settings *out);

  /* The queries an adapted model answers for context i (greedily); returns
   * their number, *out malloc'd (free with seal_queries_free). */
  int (*queries)(const seal_domain *d, const seal_engine *eng, seal_split s, int i,
                 seal_query **out);

  /* Grades completions[0..n_queries) (the decoded completions of queries(),
   * in order) into out. The only function that reads gold labels. */
  void (*grade)(const seal_domain *d, seal_split s, int i, const seal_query *q,
                const char *const *completions, int n_queries, seal_grade *out);

  /* A completion as a canonical answer string for voting among sampled
   * answers (the label-free `majority` reward): the normalised first line; a
   * parsed grid mapped back through its transform. "" when there is no
   * answer. Caller frees. */
  char *(*canonical_answer)(const seal_domain *d, seal_split s, int i, const seal_query *q,
                            int query, const char *completion);
} seal_domain_ops;

/* An open domain: its ops, its settings and its loaded data. */
struct seal_domain {
  const seal_domain_ops *ops;
  const void *settings;
  void *impl; /* the domain's own state (data, judge) */
};

/* The registry: every domain seal knows, NULL-terminated; the first is the
 * default task. */
extern const seal_domain_ops *const seal_domains[];
/* The domain named `name`, or NULL. */
const seal_domain_ops *seal_domain_find(const char *name);

/* Opens ops over settings into d (d->ops, d->settings set). */
int seal_domain_open(seal_domain *d, const seal_domain_ops *ops, const void *settings,
                     const char *device, seal_error *e);
void seal_domain_close(seal_domain *d);

#endif
