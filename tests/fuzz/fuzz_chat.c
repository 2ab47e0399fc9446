/* tests/fuzz/fuzz_chat.c — a Jinja chat template's family and default system
 * message (seal_chat_detect), then a conversation rendered in it. */
#include <stdlib.h>

#include "harness.h"
#include "model/chat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_quiet();
  char *text = fuzz_text(data, size);
  seal_chat_format f;
  if (seal_chat_detect(text, &f) != SEAL_CHAT_NONE) {
    const seal_chat_msg msgs[] = {{"user", "  Hi  "}, {"assistant", "Hello"}, {"user", "Q?"}};
    seal_error e;
    free(seal_chat_render(&f, msgs, 3, true, "26 Jul 2024", &e));
    seal_chat_format_free(&f);
  }
  free(text);
  return 0;
}
