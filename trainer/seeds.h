/* trainer/seeds.h — every random stream of a run, by name. A work item's seed
 * is derived from (run seed, round, context, sample, stream), never from the
 * rank that runs it, so results do not depend on the number of ranks or on
 * scheduling order (docs/architecture.md, "Determinism"); what an item draws
 * from its seed is a sub-stream of it. The numbers are part of every result:
 * changing one changes every run. */
#ifndef SEAL_TRAINER_SEEDS_H
#define SEAL_TRAINER_SEEDS_H

#include <stdint.h>

/* The last argument of seal_item_seed. */
typedef enum {
  SEAL_STREAM_GENERATE = 1,         /* GENERATE: sample s of a context's k */
  SEAL_STREAM_UPDATE = 7,           /* the policy update: context 0 the LoRA, 1 the order */
  SEAL_STREAM_EVALUATE = 100,       /* EVALUATE: + the repeat (100, 101, ...) */
  SEAL_STREAM_EVAL_SELFEDIT = 500,  /* seal eval: a context's self-edit j */
  SEAL_STREAM_EVAL_INNER = 600,     /* seal eval: an item's inner loop */
  SEAL_STREAM_EVAL_CPT = 700,       /* seal eval: continued pretraining, as UPDATE */
  SEAL_STREAM_LEARN_SELFEDIT = 800, /* seal learn: document i's self-edit */
  SEAL_STREAM_LEARN_TRAIN = 801,    /* seal learn: document i's plan (sample 0) and LoRA (1) */
  SEAL_STREAM_EVAL_CONTINUAL = 900, /* seal eval: the continual protocol */
  SEAL_STREAM_CONTEXTS = 0xC0,      /* the draw of a round's contexts (see seal_run_contexts) */
} seal_stream;

/* What one item draws from its seed (seal_item_subseed). */
typedef enum {
  SEAL_SUBSTREAM_LORA_INIT = 1, /* an inner loop's LoRA initialisation */
  SEAL_SUBSTREAM_ORDER = 2,     /* an inner loop's example order */
  SEAL_SUBSTREAM_PLAN = 3,      /* the domain's plan (augmentations, caps) */
  SEAL_SUBSTREAM_RESAMPLE = 4,  /* attempt a > 0 of a self-edit found unusable */
  SEAL_SUBSTREAM_MAJORITY = 5,  /* sampled answer r of query j for the vote: index j * m + r */
} seal_substream;

/* The seed of one work item (never of the rank that runs it). */
uint64_t seal_item_seed(uint64_t run_seed, int round, int context, int sample, seal_stream stream);

/* Sub-stream s of an item's seed; index tells several draws of one kind apart
 * (the resample attempt). */
uint64_t seal_item_subseed(uint64_t item_seed, seal_substream s, int index);

#endif
