/* tests/fuzz/fuzz_shard_index.c — model.safetensors.index.json in a Hugging
 * Face directory that holds the tiny sharded Llama (config.json, two shards,
 * generation_config.json): which files it names, and the tensors it lists
 * against those the shards hold and the config implies. */
#include "harness.h"
#include "model/loader.h"

#define FIX "tests/fixtures/loaders/tiny_llama_hf/"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  if (!ready) {
    fuzz_quiet();
    fuzz_copy(FIX "config.json", "config.json");
    fuzz_copy(FIX "generation_config.json", "generation_config.json");
    fuzz_copy(FIX "model-00001-of-00002.safetensors", "model-00001-of-00002.safetensors");
    fuzz_copy(FIX "model-00002-of-00002.safetensors", "model-00002-of-00002.safetensors");
    ready = 1;
  }
  fuzz_put("model.safetensors.index.json", data, size);
  seal_checkpoint ck;
  seal_error e;
  if (seal_checkpoint_open(fuzz_dir(), &ck, &e) == 0) seal_checkpoint_free(&ck);
  return 0;
}
