/* evaluator/arc.h — few-shot ARC as the SEAL reference runs it (few-shot/ of
 * Continual-Intelligence/SEAL, adopted from ekinakyurek/marc): the data, the
 * self-edit prompt and its JSON tool configuration, the test-time-training
 * tasks (leave-n-out, augmentations, colour and example permutations), the
 * chat messages the model trains on and is asked, the voting transforms, the
 * parsing of a predicted grid and the two-stage vote.
 *
 * The formats are the reference's byte for byte (tests/fixtures/arc, made by
 * tests/golden/make_arc_fixtures.py from the reference's own arclib). Where the
 * reference has a quirk seal does what is right instead; docs/arc.md lists each
 * one. Random choices use seal's RNG from a seed: the reference's numpy stream
 * cannot be matched, so those steps match it in distribution and structure,
 * not draw for draw.
 *
 * Files: arc_grid.c (grids, problems, the numpy grid text), arc_data.c (ARC
 * Prize JSON), arc_augment.c (augmenters and inverses), arc_ttt.c (test-time
 * training tasks), arc_render.c (messages, chat texts, loss boundary),
 * arc_selfedit.c (self-edit prompt and configuration), arc_query.c (voting
 * transforms, answer parsing), arc_vote.c (the vote). */
#ifndef SEAL_EVALUATOR_ARC_H
#define SEAL_EVALUATOR_ARC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/chat.h"
#include "model/tokenizer.h"
#include "util/util.h"

#define SEAL_ARC_MAX_SIDE 30      /* ARC grids are 1..30 on each side */
#define SEAL_ARC_MAX_EXAMPLES 250 /* the reference's Nmax of test-time training examples */
#define SEAL_ARC_MAX_STEPS 375    /* the reference's guard on epochs * examples / 2 */

/* ---- grids and problems (arc_grid.c) --------------------------------------------------------- */

/* A grid of colours 0-9, row-major: cell (r, c) is v[r * w + c]. h = w = 0 with v =
 * NULL is "no grid" (an unknown test output). Grids own their cells. */
typedef struct {
  int h, w;
  uint8_t *v; /* [h * w] */
} seal_arc_grid;

seal_arc_grid seal_arc_grid_new(int h, int w); /* all zeros */
seal_arc_grid seal_arc_grid_copy(const seal_arc_grid *g);
void seal_arc_grid_free(seal_arc_grid *g);
/* Same shape and same cells (numpy's array_equal). */
bool seal_arc_grid_equal(const seal_arc_grid *a, const seal_arc_grid *b);
uint64_t seal_arc_grid_hash(const seal_arc_grid *g, uint64_t h);
static inline uint8_t seal_arc_at(const seal_arc_grid *g, int r, int c) {
  return g->v[r * g->w + c];
}

/* The grid as the reference's PythonListGridRepresenter writes it, which is
 * numpy's str() of the array: "[[1 2 3]\n [4 5 6]]" (one digit per cell, so no
 * padding; 30 columns stay under numpy's 75-character line width). */
char *seal_arc_grid_text(const seal_arc_grid *g);

/* An input-output pair: a demonstration, or a test input with its output. */
typedef struct {
  seal_arc_grid in, out;
} seal_arc_pair;

/* What the reference calls a Task: demonstrations and one test pair. For
 * test-time training the test pair is a held-out demonstration; for a query it
 * is the test input, with test.out empty. */
typedef struct {
  seal_arc_pair *train; /* [n_train] */
  int n_train;
  seal_arc_pair test;
} seal_arc_problem;

void seal_arc_problem_free(seal_arc_problem *p);
seal_arc_problem seal_arc_problem_copy(const seal_arc_problem *p);
/* Equality as the reference's Task dataclass defines it (the same test pair and
 * the same demonstrations in the same order). */
bool seal_arc_problem_equal(const seal_arc_problem *a, const seal_arc_problem *b);
uint64_t seal_arc_problem_hash(const seal_arc_problem *p);
/* The largest height / width over every grid of the problem, test output
 * included (the reference's max_height / max_width). */
int seal_arc_problem_max_h(const seal_arc_problem *p);
int seal_arc_problem_max_w(const seal_arc_problem *p);

/* A growable list of problems. */
typedef struct {
  seal_arc_problem *p; /* [n] */
  int n, cap;
} seal_arc_problems;
void seal_arc_problems_push(seal_arc_problems *l, seal_arc_problem p); /* takes ownership */
void seal_arc_problems_free(seal_arc_problems *l);

/* ---- data (arc_data.c) ----------------------------------------------------------------------- */

/* One ARC task as the ARC Prize files give it: demonstrations and every test
 * input (the reference splits a task with two test inputs into two tasks
 * "id-0", "id-1"; seal keeps them together, and a task is solved when all are). */
typedef struct {
  char *id;
  seal_arc_pair *train; /* [n_train], n_train >= 1 */
  int n_train;
  seal_arc_grid *test_in; /* [n_test], n_test >= 1 */
  int n_test;
  seal_arc_grid *test_out; /* [n_test] solutions, or NULL when unknown */
} seal_arc_task;

typedef struct {
  seal_arc_task *tasks; /* [n], in the order of the challenges file */
  int n;
  bool has_solutions; /* every task has its test outputs */
} seal_arc_data;

/* Loads challenges {task_id: {"train": [{"input", "output"}], "test": [{"input"}]}}
 * and, when solutions_path is not NULL, solutions {task_id: [grid, ...]}. A test
 * entry may carry its own "output" (the original ARC files do); a solutions file
 * replaces those. On bad data fills e naming the file, the task and the problem
 * ("x.json: task 007bbfb7: train[2].input: row 3 has 4 cells, row 0 has 3") and
 * returns -1 with *out empty. */
int seal_arc_load(const char *challenges_path, const char *solutions_path, seal_arc_data *out,
                  seal_error *e);
/* The same from texts in memory (sol_text NULL: no solutions); the names stand
 * for the files in messages. */
int seal_arc_parse(const char *ch_text, size_t ch_len, const char *ch_name, const char *sol_text,
                   size_t sol_len, const char *sol_name, seal_arc_data *out, seal_error *e);
void seal_arc_data_free(seal_arc_data *d);
/* The task with this id, or NULL. */
const seal_arc_task *seal_arc_find(const seal_arc_data *d, const char *id);

/* ---- augmenters (arc_augment.c) -------------------------------------------------------------- */

/* The grid operations of arclib/augmenters.py that seal uses, named as the
 * reference prints them. Axis 0 is rows (height), axis 1 columns (width). */
typedef enum {
  SEAL_ARC_IDENTITY,
  SEAL_ARC_ROT90,        /* Rotate(90): np.rot90 k=1, counter-clockwise; h x w -> w x h */
  SEAL_ARC_ROT180,       /* Rotate(180) */
  SEAL_ARC_ROT270,       /* Rotate(270): clockwise */
  SEAL_ARC_FLIP0,        /* Flip(0): np.flipud, rows reversed */
  SEAL_ARC_FLIP1,        /* Flip(1): np.fliplr, columns reversed */
  SEAL_ARC_TRANSPOSE,    /* Transpose() */
  SEAL_ARC_REFLECT0_REV, /* Reflect(0, reverse=True): flipud above the grid, 2h x w */
  SEAL_ARC_REFLECT1_REV, /* Reflect(1, reverse=True): fliplr left of the grid, h x 2w */
  SEAL_ARC_REFLECT0,     /* Reflect(0, reverse=False): the grid above its flipud */
  SEAL_ARC_REFLECT1,     /* Reflect(1, reverse=False): the grid left of its fliplr */
  SEAL_ARC_UPSCALE2,     /* IncreaseResolution(2): every cell a 2x2 block */
  SEAL_ARC_UPSCALE_H2,   /* IncreaseHeight(2): every row twice */
  SEAL_ARC_UPSCALE_W2,   /* IncreaseWidth(2): every column twice */
  SEAL_ARC_REPEAT0,      /* Repeat(0, 2): the grid tiled twice downwards */
  SEAL_ARC_REPEAT1,      /* Repeat(1, 2): tiled twice to the right */
  SEAL_ARC_REPEAT2,      /* Repeat(2, 2): tiled 2 x 2 */
  SEAL_ARC_TRANSLATE,    /* RandomTranslateXY(): a cyclic shift (np.roll), see below */
  SEAL_ARC_N_OPS
} seal_arc_op;

/* "Rotate(90)", "Flip(0)", "Reflect(0, reverse=True)", "RandomTranslateXY()", ... */
const char *seal_arc_op_name(seal_arc_op op);
/* The shape op gives a h x w grid. */
void seal_arc_op_shape(seal_arc_op op, int h, int w, int *oh, int *ow);
/* op applied to g (op not TRANSLATE). */
seal_arc_grid seal_arc_apply(seal_arc_op op, const seal_arc_grid *g);
/* The inverse of op: exact for the rotations, flips and transpose (the ones the
 * reference's inverse() knows, which voting uses); for the size ops a left
 * inverse, so seal_arc_invert(op, seal_arc_apply(op, g)) == g (the top-left
 * copy of a repeat or reflection, one cell of each block of an upscale).
 * NULL cells (h = 0) when g's shape cannot have come from op. */
seal_arc_grid seal_arc_invert(seal_arc_op op, const seal_arc_grid *g);
/* The op that undoes op, for the ops the reference's inverse() knows (rotations,
 * flips, transpose) and the identity; SEAL_ARC_N_OPS for the others. */
seal_arc_op seal_arc_inverse_op(seal_arc_op op);
/* np.roll(g, (dy, dx), axis=(0, 1)): cell (r, c) moves to ((r+dy) mod h, (c+dx) mod w). */
seal_arc_grid seal_arc_roll(const seal_arc_grid *g, int dy, int dx);

/* One entry of the reference's get_augmenters: one op, or a Chain of two. */
typedef struct {
  seal_arc_op ops[2];
  int n_ops;
  const char *name; /* as the reference prints it: "Chain([Rotate(90), IncreaseResolution(2)])" */
} seal_arc_augmenter;

/* The self-edit's four data_generation switches. */
typedef struct {
  bool basic, size, chain, repeat;
} seal_arc_groups;

/* The augmenters of the chosen groups in get_augmenters' order: basic (11:
 * Rotate 90/270/180, Flip 0/1, Reflect(0/1, reverse=True), Reflect(0/1,
 * reverse=False), RandomTranslateXY, Transpose), size (3: IncreaseResolution,
 * IncreaseHeight, IncreaseWidth, all x2), chain (6: Rotate 90/270/180, Flip 0/1,
 * Transpose, each then IncreaseResolution(2)), repeat (3: Repeat axis 0/1/2 x2).
 * Fills out (room for 23) and returns the count. */
int seal_arc_augmenters(const seal_arc_groups *g, const seal_arc_augmenter **out);

/* a applied to every grid of p (demonstrations and test pair, inputs and
 * outputs), as Augmenter.apply_to_task with to_input and to_output. For
 * RandomTranslateXY every pair starts from a copy of one generator seeded from
 * rng (the reference deep-copies its generator for each example): the input
 * draws its row shift in [0, min(4, h)) then its column shift in [0, min(4, w)),
 * and the output draws the next two from the same copy, so pairs of equal
 * shapes are shifted alike and an output is generally shifted differently from
 * its input. rng advances once per call (the reference's does not: docs/arc.md). */
void seal_arc_augment(const seal_arc_augmenter *a, const seal_arc_problem *p, seal_rng *rng,
                      seal_arc_problem *out);

/* A uniformly random colour permutation with 0 fixed (map[0] = 0, map[1..9] a
 * permutation of 1..9), and its application. */
void seal_arc_color_perm(seal_rng *rng, uint8_t map[10]);
seal_arc_grid seal_arc_recolor(const seal_arc_grid *g, const uint8_t map[10]);
/* PermuteColors and PermuteExamples of the reference, in place: every grid
 * recoloured by one map; the demonstrations in a uniformly random order. */
void seal_arc_permute_colors(seal_arc_problem *p, const uint8_t map[10]);
void seal_arc_permute_examples(seal_arc_problem *p, seal_rng *rng);

/* A uniform integer in [0, n) (n >= 1; n == 1 draws nothing). */
int seal_arc_rand_below(seal_rng *rng, int n);

/* ---- test-time training tasks (arc_ttt.c) ---------------------------------------------------- */

/* The leave-n-out problems of get_test_time_train_data: for each demonstration
 * i (in order) held out as the test pair, and each set of n-1 further ones left
 * out (itertools.combinations order), the remaining demonstrations in their
 * order. n_demos * C(n_demos - 1, n - 1) problems; none when n > n_demos. */
void seal_arc_leave_n(const seal_arc_pair *demos, int n_demos, int n, seal_arc_problems *out);

/* get_test_time_train_data for one n: the leave-n problems; each augmenter of
 * the groups applied to each of them, dropping results over 30 on a side;
 * deduplicated (first occurrence kept); then one copy of each with a colour
 * permutation (only when some augmenter is chosen, as the reference) and an
 * example permutation; deduplicated again. Deterministic in seed. */
void seal_arc_ttt_problems(const seal_arc_pair *demos, int n_demos, const seal_arc_groups *g,
                           int leave_n, uint64_t seed, seal_arc_problems *out);
/* The training problems of one configuration: leave-1 then leave-2 (the
 * reference's leave_n=[1, 2]). Before the cap: the caller renders them, drops
 * texts of 8192 tokens or more, then applies seal_arc_cap. */
void seal_arc_ttt_data(const seal_arc_pair *demos, int n_demos, const seal_arc_groups *g,
                       uint64_t seed, seal_arc_problems *out);
/* The indices kept of n items under a cap of nmax: 0..n-1 in order when n <=
 * nmax, else the first nmax of a seeded shuffle. Fills keep[0..return). */
int seal_arc_cap(int n, int nmax, uint64_t seed, int *keep);

/* ---- messages and texts (arc_render.c) ------------------------------------------------------- */

/* A conversation of two or three messages (assistant NULL: a query). */
typedef struct {
  char *system, *user, *assistant;
} seal_arc_messages;
void seal_arc_messages_free(seal_arc_messages *m);
/* As model/chat.h's messages (pointing into m); returns the count, 2 or 3. */
int seal_arc_chat_msgs(const seal_arc_messages *m, seal_chat_msg out[3]);
/* [{"role": ..., "content": ...}, ...] for `seal show`. Caller frees. */
char *seal_arc_messages_json(const seal_arc_messages *m);

/* The reference's GPTTextMessageRepresenterV2 over TextTaskRepresenter(
 * TextExampleRepresenter(io_sep=" -> ", output_footer="#",
 * PythonListGridRepresenter())): the system message is its task prompt, "The
 * input-output grids are provided as python arrays:\n" and one line
 * "{input} -> {output}#\n" per demonstration; the user message is
 * "{test input} -> "; the assistant message "{test output}#" (with_answer). */
void seal_arc_problem_messages(const seal_arc_problem *p, bool with_answer, seal_arc_messages *out);

/* A training text: the three messages through the chat template, without the
 * generation prompt the reference appends (docs/arc.md). *answer_from is the
 * byte offset where the assistant's content starts; the text before it is the
 * query text of the same problem. date: what Llama-3.1+ templates show as
 * "Today Date" (NULL: today). NULL with e filled when the template fails. */
char *seal_arc_train_text(const seal_arc_problem *p, const seal_chat_format *f, const char *date,
                          size_t *answer_from, seal_error *e);
/* A query text: system and user through the template with the generation prompt. */
char *seal_arc_query_text(const seal_arc_problem *p, const seal_chat_format *f, const char *date,
                          seal_error *e);

/* Tokenizes a training text (no BOS added: the template wrote it) as the text
 * before answer_from followed by the text from it, so the loss boundary falls
 * on a token boundary. *loss_from: 0 with all_tokens (every token but the
 * first), else the first token of the final assistant turn (its content and
 * end-of-turn marker). Returns the token count; *ids malloc'd. */
int seal_arc_tokenize(const seal_tokenizer *t, const char *text, size_t answer_from,
                      bool all_tokens, int32_t **ids, int *loss_from);

/* ---- self-edits (arc_selfedit.c) ------------------------------------------------------------- */

/* The reference's utils/prompts.py, verbatim. */
extern const char seal_arc_system_message[];
extern const char seal_arc_selfedit_instruction[];

/* The self-edit prompt of self-edit.py's get_prompt as messages: the system
 * message, and a user message with each demonstration as "Input:\n" rows of
 * space-separated digits, "\nOutput:\n" rows, "\n", then "------\n\n" and the
 * instruction. The test inputs are not shown. */
void seal_arc_selfedit_messages(const seal_arc_task *t, seal_arc_messages *out);

/* A parsed self-edit: the tool configuration. */
typedef struct {
  seal_arc_groups groups;
  bool all_tokens; /* "train_using_all_tokens"; false: "train_using_output_tokens" */
  double lr;       /* learning_rate, in (0, 1] */
  int epochs;      /* num_train_epochs, 1..1000 */
} seal_arc_config;

/* How the JSON object is found in the model's text. WHOLE is the reference's
 * json.loads(text): the text is one JSON object with nothing but whitespace
 * around it. EMBEDDED takes the first balanced {...} (braces inside strings do
 * not count) that parses as an object, wherever it is (after a preamble, inside
 * a markdown fence). */
typedef enum { SEAL_ARC_JSON_WHOLE, SEAL_ARC_JSON_EMBEDDED } seal_arc_json_mode;

/* Parses a self-edit strictly: data_generation's four keys must be true or
 * false; training.strategy one of the two strings; learning_rate a finite
 * number in (0, 1]; num_train_epochs an integer 1..1000 (3.0 counts as 3; 3.5
 * and "3" do not). Other keys are ignored, as by the reference. On failure
 * returns false and writes why into reason ("training.num_train_epochs:
 * expected an integer, got a string"). Never fails on the text itself. */
bool seal_arc_config_parse(const char *text, seal_arc_json_mode mode, seal_arc_config *out,
                           char *reason, size_t reason_size);
/* The configuration as compact JSON in the reference's key order. Caller frees. */
char *seal_arc_config_json(const seal_arc_config *c);
/* The reference's guard quantity: epochs * n_examples / batch (integer
 * division), compared with SEAL_ARC_MAX_STEPS. */
long seal_arc_guard_steps(const seal_arc_config *c, int n_examples, int batch);

/* ---- queries and answers (arc_query.c) ------------------------------------------------------- */

/* One query: a problem whose test input the model answers, and the transform
 * it was made with (IDENTITY, TRANSPOSE, FLIP0, FLIP1, ROT90 or ROT180). */
typedef struct {
  seal_arc_problem problem; /* test.out empty */
  seal_arc_op xform;
} seal_arc_query;

/* inference/preprocess.py's get_leave_n_test_task: each set of n demonstrations
 * left out (n = 1 at evaluation), with permute_n (2) example permutations of
 * each, deduplicated; then Transpose, Flip(0), Flip(1), Rotate(90), Rotate(180)
 * each applied to one of those chosen at random, skipped when the result is
 * already among them; deduplicated again (transformed first). Compared on what
 * the model sees (demonstrations and test input). Returns the count; *out
 * malloc'd. */
int seal_arc_queries(const seal_arc_pair *demos, int n_demos, const seal_arc_grid *test_in,
                     int leave_n, int permute_n, uint64_t seed, seal_arc_query **out);
void seal_arc_queries_free(seal_arc_query *q, int n);

/* The voting group of a transform: the reference's name of its inverse
 * ("identity", "Transpose()", "Flip(0)", "Flip(1)", "Rotate(270)", "Rotate(180)"). */
const char *seal_arc_vote_group(seal_arc_op xform);

/* Parses a model's answer as eval-self-edits.py decodes it: every '#' removed;
 * when the text holds "```", only what follows the first fence up to the next;
 * stripped; '[' and ']' dropped; whitespace-separated integers; the rows are the
 * newlines + 1 and every row as long as the others. Unlike the reference, a grid
 * must be 1..30 on a side with cells 0-9 (docs/arc.md). false with why filled
 * for anything else (a vote for nothing). Never fails on the text itself. */
bool seal_arc_parse_answer(const char *text, seal_arc_grid *out, char *why, size_t why_size);
/* The answer parsed and mapped back through the query's inverse transform. */
bool seal_arc_answer_grid(const char *text, seal_arc_op xform, seal_arc_grid *out, char *why,
                          size_t why_size);

/* ---- voting (arc_vote.c) --------------------------------------------------------------------- */

typedef struct {
  seal_arc_op xform;  /* the query's transform: its voting group */
  seal_arc_grid grid; /* the answer, already mapped back */
} seal_arc_vote_item;

/* arclib/voting.py's vote: per group (all, identity, then the transforms) the
 * top three by count with row- and column-majority fallbacks, the candidates
 * voted again, a tie between the second and third broken by identity votes;
 * ties elsewhere go to the grid seen first (docs/arc.md). Fills attempts[0..2)
 * (they may be equal) and returns 2; returns 0 with no items. */
int seal_arc_vote(const seal_arc_vote_item *items, int n, seal_arc_grid attempts[2]);

/* Parses every answer (answers[i] for queries[i]) and votes. *n_valid (may be
 * NULL): how many answers parsed. Returns what seal_arc_vote returns. */
int seal_arc_vote_answers(const seal_arc_query *queries, const char *const *answers, int n,
                          seal_arc_grid attempts[2], int *n_valid);

/* Whether the solution is one of the n_attempts attempts. */
bool seal_arc_solved(const seal_arc_grid *attempts, int n_attempts, const seal_arc_grid *solution);

#endif
