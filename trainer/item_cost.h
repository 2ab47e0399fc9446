/* trainer/item_cost.h — what a work item is expected to cost, so that the work
 * queue hands the costliest out first (seal_workqueue_opts.cost,
 * docs/distribution.md "Handing out").
 *
 * The estimates only have to rank the items of one phase, not predict seconds:
 * rank 0 computes them before the phase, serially, while the other ranks wait, so
 * they are cheap (tokenizing the texts an item will train on and its questions,
 * never running the model). The unit is one token trained once by the student (a
 * forward and a backward pass): an inner loop's training costs its plan's tokens
 * times its epochs, which is what decides the demo's evaluations (11 to 20 s,
 * growing with the self-edit's lines, the passage and 5 epochs being the same
 * for all). */
#ifndef SEAL_TRAINER_ITEM_COST_H
#define SEAL_TRAINER_ITEM_COST_H

#include <stdint.h>

#include "trainer/run.h"

/* One decoded token (one row of a decoding batch, greedy or sampled), in
 * trained tokens. A decoding step is a weight-bound matrix-vector product per
 * row where training runs GEMMs over whole sequences, so a decoded token costs
 * more than a trained one. Measured in the demo's metrics (SmolLM2-135M Q4_1, 2
 * ranks of 1 thread, CPU): about 14.5 ms per trained token (13.6 s for 2
 * examples of about 180 tokens x 5 epochs, 25.6 s for 11 examples) against 5.2 s
 * for answering 6 questions of at most 24 tokens, about 4 s of it decoding: 28 ms,
 * about 2 trained tokens, per decoded token. */
#define SEAL_COST_DECODED_TOKEN 2.0
/* One prompt token read before decoding (prefill): a forward pass only, a
 * third of a trained token's forward and backward. */
#define SEAL_COST_PROMPT_TOKEN (1.0 / 3.0)

/* Training the plan of a condition for context i on the student: its
 * examples' tokens times its epochs (0 when it trains nothing). seed: the
 * item's inner-loop seed (plans may draw from it: ARC's augmentations). */
double seal_cost_train(const seal_run *run, seal_split s, int i, seal_condition_kind kind,
                       const char *selfedit, uint64_t seed);

/* Training on a self-edit that is not written yet (seal eval's self-edit
 * condition writes it inside the item): the passage condition's plan
 * (SEAL_COND_FIXED: what every knowledge self-edit plan trains on besides its
 * own lines; ARC's fixed configuration, the prior for what a self-edit picks)
 * plus selfedit.max_tokens tokens, the most a self-edit adds, for its epochs. */
double seal_cost_train_unwritten(const seal_run *run, seal_split s, int i, uint64_t seed);

/* One adapted model answering context i's questions: each question's prompt
 * read once, and its answer decoded up to its max_tokens (the bound; greedy
 * decoding may stop earlier at an end token). */
double seal_cost_answer(const seal_run *run, seal_split s, int i);

/* The policy writing k self-edits of context i: k prompts read and k samples
 * of up to selfedit.max_tokens decoded. Resamples of unusable self-edits are
 * rare and not counted. Counted in the student's trained tokens even when a
 * teacher of another size writes: it shifts only the writing part. */
double seal_cost_write(const seal_run *run, seal_split s, int i, int k);

#endif
