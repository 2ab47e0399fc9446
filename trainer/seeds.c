/* trainer/seeds.c — item seeds and their sub-streams (seeds.h). */
#include "trainer/seeds.h"

#include "util/util.h"

uint64_t seal_item_seed(uint64_t run_seed, int round, int context, int sample, seal_stream stream) {
  return seal_seed_derive(run_seed, (uint64_t)round, (uint64_t)context, (uint64_t)sample,
                          (uint64_t)stream);
}

uint64_t seal_item_subseed(uint64_t item_seed, seal_substream s, int index) {
  return seal_seed_derive(item_seed, (uint64_t)s, (uint64_t)index, 0, 0);
}
