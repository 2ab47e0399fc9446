/* tests/fuzz/fuzz_job.c — a job YAML file (trainer/job.c): YAML syntax, keys,
 * types, ranges; what parses is dumped back to YAML. */
#include <stdlib.h>

#include "harness.h"
#include "trainer/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_quiet();
  char *text = fuzz_text(data, size);
  seal_job job;
  seal_error e;
  if (seal_job_parse(text, "job.yaml", &job, &e) == 0) {
    free(seal_job_to_yaml(&job));
    seal_job_free(&job);
  }
  free(text);
  return 0;
}
