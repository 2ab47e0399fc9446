/* tests/fuzz/fuzz_gguf.c — a GGUF file: the parser (header, metadata of every
 * type, tensor infos, data regions), dequantisation of every tensor, and the
 * llama/qwen2 mapping onto seal's model (config, vocabulary, tensors, the
 * check against the config, the non-finite scan), then its tokenizer. */
#include <stdlib.h>

#include "harness.h"
#include "model/gguf.h"
#include "model/loader.h"
#include "model/quant.h"
#include "model/tokenizer.h"

static void dequantise_all(const seal_gguf *g) {
  for (int64_t i = 0; i < g->n_tensors; i++) {
    const seal_gguf_tensor *t = &g->tensors[i];
    seal_error e;
    if (seal_gguf_tensor_check_type(g, t, &e) != 0) continue;
    int64_t n = seal_gguf_tensor_numel(t);
    float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    if (!x) abort();
    seal_gguf_tensor_to_f32(g, t, x, &e);
    free(x);
  }
}

static void tokenize_with(const seal_vocab *v) {
  seal_error e;
  seal_tokenizer *t = seal_tokenizer_from_vocab(v, &e);
  if (!t) return;
  int32_t *ids;
  int n = seal_tokenizer_encode(t, "Hello world, 123 <s>t4 5\n", &ids);
  if (n >= 0) {
    free(seal_tokenizer_decode(t, ids, n, 1));
    free(ids);
  }
  seal_tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_quiet();
  const char *path = fuzz_put("model.gguf", data, size);
  seal_gguf g;
  seal_error e;
  if (seal_gguf_open(path, &g, &e) == 0) {
    dequantise_all(&g);
    seal_gguf_close(&g);
  }
  seal_checkpoint ck;
  if (seal_checkpoint_open(path, &ck, &e) == 0) {
    if (ck.has_vocab) tokenize_with(&ck.vocab);
    seal_checkpoint_free(&ck);
  }
  return 0;
}
