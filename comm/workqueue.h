/* comm/workqueue.h — dynamic distribution of independent work items over the ranks
 * of a job. Rank 0 is the coordinator and also does work; a rank gets its next item
 * as soon as it returns the previous one, so items of uneven length keep every rank
 * busy. Results flow to rank 0 as they finish.
 *
 * Items must not depend on which rank runs them (derive an item's seed from its
 * index, never from the rank): then outcomes are identical for any number of ranks.
 *
 * Threads (docs/distribution.md explains why): on rank 0 the calling thread is the
 * coordinator — it makes every MPI call and calls on_result — while rank 0's own
 * items run on a helper thread that seal_workqueue_run starts and joins. So on rank
 * 0, `work` runs concurrently with `on_result`: work must not write what on_result
 * reads or writes, and thread-local state that work needs (e.g. the current CUDA
 * device) must be set inside work or in opts->local_thread_init. On other ranks work
 * runs on the calling thread. */
#ifndef SEAL_WORKQUEUE_H
#define SEAL_WORKQUEUE_H

#include <stddef.h>

#include "comm/comm.h"
#include "util/util.h"

/* Runs one item. payload/len are rank 0's payloads[item]/lens[item] (NULL and 0 when
 * the queue has no payloads or the item's payload is empty). Appends the result to
 * *result (empty on entry). Returns 0 when the item succeeded, -1 when it failed
 * (*result may then hold an error message, which on_result receives), or 1 when it
 * abandoned the item (e.g. on SIGTERM): the item is then not done, is not reported,
 * and the queue stops as if opts->stop had been set. */
typedef int (*seal_work_fn)(void *user, int item, const void *payload, size_t len,
                            seal_buf *result);

/* Rank 0 only: called on the thread that called seal_workqueue_run, once per item,
 * in arrival order, as results arrive. ok is 1 on success, 0 when the item failed
 * max_attempts times (result is then the last attempt's output). worker_rank ran the
 * attempt. result is valid only during the call. */
typedef void (*seal_result_fn)(void *user, int item, int ok, const void *result, size_t len,
                               int worker_rank);

typedef struct {
  /* Attempts per item; 0 means the default 2: a failed item is retried once, on
   * another rank when there is one, then reported failed. Read on rank 0. */
  int max_attempts;
  /* When non-NULL and nonzero on rank 0 (set e.g. by a signal handler), no new items
   * are handed out; items in flight finish and are reported; run returns 1 unless
   * every item was already done. */
  volatile int *stop;
  /* Optional, rank 0 only: called once on the helper thread that runs rank 0's
   * items, before its first item (e.g. to select the rank's GPU there). */
  void (*local_thread_init)(void *user);
  /* What local_thread_init receives; NULL: the queue's user. */
  void *local_thread_user;
  /* Optional, rank 0 only: [n_items] each item's expected cost (any finite
   * number, in any unit; larger means longer). Fresh items are then handed out
   * costliest first, ties in index order (longest processing time first: the
   * short items fill the gaps at the end of the phase instead of one long item
   * running alone while the other ranks idle). NULL: index order. Retries still
   * come before fresh items. Results must not depend on the order: on_result
   * gets the item index either way. */
  const double *cost;
} seal_workqueue_opts;

/* Runs items 0..n_items-1 over all ranks of c (in index order, or by
 * opts->cost). Collective: every rank calls it with
 * the same n_items, work and user (its own). payloads/lens are read on rank 0 only
 * (payloads may be NULL: every item then gets no payload and workers know what to do
 * from the index); each payload must be under 2 GiB. on_result is used on rank 0
 * only (may be NULL); opts may be NULL (defaults).
 * Returns 0 when every item was reported, 1 when stopped early, -1 on bad arguments
 * (e filled; no item runs). Every rank returns the same value, together. */
int seal_workqueue_run(seal_comm *c, int n_items, const void *const *payloads, const size_t *lens,
                       seal_work_fn work, seal_result_fn on_result, void *user,
                       const seal_workqueue_opts *opts, seal_error *e);

#endif
