/* trainer/item_cost.h — what a work item is expected to cost, so that the work
 * queue hands the costliest out first (seal_workqueue_opts.cost,
 * docs/distribution.md "Handing out").
 *
 * The estimates only have to rank the items of one phase, not predict seconds:
 * rank 0 computes them before the phase, serially, while the other ranks wait, so
 * they are cheap (tokenizing the texts an item will train on and its questions,
 * never running the model). The unit is one token trained once by the student (a
 * forward and a backward pass).
 *
 * The constants come from the demo's own metrics (jobs/demo.yaml: SmolLM2-135M
 * Q4_1, LoRA r16 on every projection, 5 epochs of batch 1; 2 ranks of 1 thread on
 * the 2-core CPU, 2026-12-01, before the GEMM changes of issue 15): the 12
 * round-0 inner loops took 13.6 to 25.6 s of training, and a fit of them to
 * tokens and steps (the plans' token counts are what seal_cost_train says) gives
 * 9.7 ms per trained token and 0.2 s per optimizer step, within 0.5 s on each of
 * the 12; answering took 4.8 to 5.9 s, writing 3 self-edits 9 to 10 s. Only the
 * ratios matter; other models and machines move them, but not the ranking they
 * make of one phase's items: more examples, more tokens, writing before
 * training, training before answering. */
#ifndef SEAL_TRAINER_ITEM_COST_H
#define SEAL_TRAINER_ITEM_COST_H

#include <stdint.h>

#include "trainer/run.h"

/* One optimizer step, beyond its tokens (the AdamW update of every LoRA
 * parameter and the step's fixed costs), in trained tokens: 0.2 s against 9.7
 * ms per token in the demo. It is why a self-edit of 11 short lines trained
 * for 25.6 s and one of 2 lines (nearly as many tokens, with the passage) for
 * 13.6 s: batch 1 makes a step of every example. */
#define SEAL_COST_STEP 20.0
/* One decoded token (one row of a decoding batch, greedy or sampled), in
 * trained tokens. A decoding step is a weight-bound matrix-vector product per
 * row where training runs GEMMs over whole sequences, so a decoded token costs
 * more than a trained one: in the demo, answering 6 questions of at most 24
 * tokens took about 5.2 s, about 500 trained tokens, of which the prompts are
 * about 70: 3 per decoded token (writing 3 self-edits of at most 96 tokens, 9 to
 * 10 s, agrees). */
#define SEAL_COST_DECODED_TOKEN 3.0
/* One prompt token read before decoding (prefill): a forward pass only, a
 * third of a trained token's forward and backward. */
#define SEAL_COST_PROMPT_TOKEN (1.0 / 3.0)

/* Training the plan of a condition for context i on the student: per epoch,
 * its examples' tokens and SEAL_COST_STEP per optimizer step (0 when it trains
 * nothing). seed: the
 * item's inner-loop seed (plans may draw from it: ARC's augmentations). */
double seal_cost_train(const seal_run *run, seal_split s, int i, seal_condition_kind kind,
                       const char *selfedit, uint64_t seed);

/* Training on a self-edit that is not written yet (seal eval's self-edit
 * condition writes it inside the item): the passage condition's plan
 * (SEAL_COND_FIXED: what every knowledge self-edit plan trains on besides its
 * own lines; ARC's fixed configuration, the prior for what a self-edit picks)
 * plus selfedit.max_tokens tokens in one more step, the least a usable
 * self-edit adds and the most tokens it can, for the plan's epochs. */
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
