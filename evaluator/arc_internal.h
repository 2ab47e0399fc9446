/* evaluator/arc_internal.h — what the arc_*.c files share and nobody else needs. */
#ifndef SEAL_EVALUATOR_ARC_INTERNAL_H
#define SEAL_EVALUATOR_ARC_INTERNAL_H

#include "evaluator/arc.h"

#define SEAL_ARC_MAX_AUGMENTERS 23 /* 11 basic + 3 size + 6 chain + 3 repeat */

/* Stream names for seal_seed_derive, so the steps draw from independent streams. */
#define SEAL_ARC_SEED_TTT 0x747474u   /* "ttt": training problems of one leave-n */
#define SEAL_ARC_SEED_CAP 0x636170u   /* "cap": the shuffle before the 250 cap */
#define SEAL_ARC_SEED_QUERY 0x717279u /* "qry": the voting queries */

/* Drops every problem equal to an earlier one, in place. */
void seal_arc_dedup(seal_arc_problems *l);
/* The first half of get_test_time_train_data: the leave-n problems with every
 * augmenter applied (results over 30 dropped) and the problems themselves,
 * deduplicated; rng draws the translations. */
void seal_arc_ttt_augmented(const seal_arc_pair *demos, int n_demos,
                            const seal_arc_augmenter *const *augs, int n_augs, int leave_n,
                            seal_rng *rng, seal_arc_problems *out);
/* The next k-combination of 0..m-1 in itertools order; false after the last. */
bool seal_arc_next_combination(int *c, int k, int m);
/* demos without those marked in drop, with test as the test pair (copied). */
seal_arc_problem seal_arc_held_out(const seal_arc_pair *demos, int n_demos, const bool *drop,
                                   const seal_arc_pair *test);

#endif
