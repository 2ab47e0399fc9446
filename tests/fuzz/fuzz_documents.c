/* tests/fuzz/fuzz_documents.c — a user's file as documents for seal learn
 * (evaluator/documents.c): as Markdown/text and as SQuAD JSON, split to a
 * small budget of words so paragraph, line, sentence and word splitting all run. */
#include "evaluator/documents.h"
#include "harness.h"

/* Words: runs of non-space bytes (a stand-in for a tokenizer). */
static int count_words(void *user, const char *text) {
  (void)user;
  int n = 0;
  for (const char *p = text; *p; p++)
    if (*p != ' ' && *p != '\n' && (p == text || p[-1] == ' ' || p[-1] == '\n')) n++;
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_quiet();
  static const char *const names[] = {"notes.md", "data.json"};
  for (int i = 0; i < 2; i++) {
    const char *path = fuzz_put(names[i], data, size);
    seal_documents d = {0};
    seal_error e;
    if (seal_documents_load(path, 12, count_words, NULL, &d, &e) == 0) seal_documents_free(&d);
  }
  return 0;
}
