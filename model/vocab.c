/* model/vocab.c — a GGUF-carried vocabulary's lifetime. */
#include "model/vocab.h"

#include <stdlib.h>
#include <string.h>

static void free_strings(char **s, int n) {
  if (!s) return;
  for (int i = 0; i < n; i++) free(s[i]);
  free(s);
}

void seal_vocab_free(seal_vocab *v) {
  if (!v) return;
  free(v->model);
  free(v->pre);
  free_strings(v->tokens, v->n_tokens);
  free(v->token_types);
  free_strings(v->merges, v->n_merges);
  free(v->chat_template);
  memset(v, 0, sizeof *v);
  v->bos_id = v->eos_id = v->eot_id = v->pad_id = v->unk_id = -1;
}
