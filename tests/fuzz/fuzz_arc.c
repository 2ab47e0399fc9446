/* tests/fuzz/fuzz_arc.c — ARC Prize data (evaluator/arc_data.c): a challenges
 * file and, after the first NUL byte of the input, a solutions file (no NUL:
 * challenges alone). Validation is what is fuzzed: ragged rows, colours,
 * sides, demonstration and test counts, solutions per test input. What loads
 * is then used the way an ARC run uses it (the self-edit prompt, grid texts,
 * the leave-one-out queries of the first test input), so a grid that passed
 * validation but breaks its users is a finding too. */
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"
#include "harness.h"

static void use_task(const seal_arc_task *t) {
  seal_arc_messages m;
  seal_arc_selfedit_messages(t, &m);
  seal_arc_messages_free(&m);
  for (int i = 0; i < t->n_test; i++) {
    free(seal_arc_grid_text(&t->test_in[i]));
    if (t->test_out) free(seal_arc_grid_text(&t->test_out[i]));
  }
  seal_arc_query *q = NULL;
  int n = seal_arc_queries(t->train, t->n_train, &t->test_in[0], 1, 2, 7, &q);
  seal_arc_queries_free(q, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_quiet();
  const uint8_t *nul = memchr(data, '\0', size);
  size_t ch_len = nul ? (size_t)(nul - data) : size;
  /* jansson's json_loadb reads exactly len bytes: no terminator needed */
  const char *sol = nul ? (const char *)nul + 1 : NULL;
  size_t sol_len = nul ? size - ch_len - 1 : 0;
  seal_arc_data d;
  seal_error e;
  if (seal_arc_parse((const char *)data, ch_len, "challenges.json", sol, sol_len, "solutions.json",
                     &d, &e) == 0) {
    for (int i = 0; i < d.n; i++) use_task(&d.tasks[i]);
    seal_arc_data_free(&d);
  }
  return 0;
}
