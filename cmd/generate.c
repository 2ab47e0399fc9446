/* cmd/generate.c — `seal generate`: text in, text out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "model/chat.h"
#include "model/engine.h"

static const char usage[] =
    "usage: seal generate --model PATH --prompt TEXT [OPTIONS]\n"
    "\n"
    "Generates a continuation of the prompt (or, with --chat, the assistant's\n"
    "reply rendered through the model's chat template) and prints it.\n"
    "\n"
    "  --model PATH         Hugging Face directory or .gguf file (required)\n"
    "  --prompt TEXT        the prompt (or --prompt-file FILE)\n"
    "  --prompt-file FILE   read the prompt from FILE\n"
    "  --chat               treat the prompt as a user message in the model's chat template\n"
    "  --system TEXT        a system message (with --chat)\n"
    "  --date TEXT          Llama-3 template's \"Today Date\" (default: today)\n"
    "  --max-tokens N       new tokens at most (default 128)\n"
    "  --truncate MODE      a prompt that does not fit the context window with\n"
    "                       --max-tokens after it: none refuses it (default), left\n"
    "                       drops its oldest tokens\n"
    "  --temperature T      0 is greedy (default 0)\n"
    "  --top-p P            nucleus sampling mass (default 1)\n"
    "  --seed N             sampling seed (default 0)\n"
    "  --samples N          independent samples of the same prompt, batched (default 1)\n"
    "  --adapter DIR        apply a PEFT LoRA adapter\n"
    "  --device NAME        cpu, cpu:bf16, cuda[:N] or auto (default auto)\n"
    "  --stats              print prefill/decode timing to stderr\n"
    "  --profile            time every backend op (each synchronised before and after;\n"
    "                       slower) and print a per-op table to stderr at the end\n"
    "  --help               this text\n";

typedef struct {
  const char *model, *prompt, *prompt_file, *system, *date, *adapter, *device;
  int chat, max_tokens, samples, stats, profile;
  seal_truncate truncate;
  float temperature, top_p;
  long seed;
} gen_opts;

static int parse_truncate(const char *value, void *field) {
  if (strcmp(value, "none") && strcmp(value, "left")) {
    fprintf(stderr, "seal generate: --truncate: expected none or left, got '%s'\n", value);
    return -1;
  }
  *(seal_truncate *)field = strcmp(value, "left") ? SEAL_TRUNCATE_NONE : SEAL_TRUNCATE_LEFT;
  return 0;
}

static int parse(int argc, char **argv, gen_opts *o) {
  static const cmd_option table[] = {CMD_OPT_TEXT(gen_opts, model, "model"),
                                     CMD_OPT_TEXT(gen_opts, prompt, "prompt"),
                                     CMD_OPT_TEXT(gen_opts, prompt_file, "prompt-file"),
                                     CMD_OPT_FLAG(gen_opts, chat, "chat"),
                                     CMD_OPT_TEXT(gen_opts, system, "system"),
                                     CMD_OPT_TEXT(gen_opts, date, "date"),
                                     CMD_OPT_INT(gen_opts, max_tokens, "max-tokens", 1, 1 << 20),
                                     CMD_OPT_CUSTOM(gen_opts, truncate, "truncate", parse_truncate),
                                     CMD_OPT_FLOAT(gen_opts, temperature, "temperature", 0, 100),
                                     CMD_OPT_FLOAT(gen_opts, top_p, "top-p", 1e-6, 1),
                                     CMD_OPT_LONG(gen_opts, seed, "seed", 0, 0x7fffffffL),
                                     CMD_OPT_INT(gen_opts, samples, "samples", 1, 4096),
                                     CMD_OPT_TEXT(gen_opts, adapter, "adapter"),
                                     CMD_OPT_DEVICE(gen_opts, device, 1),
                                     CMD_OPT_FLAG(gen_opts, stats, "stats"),
                                     CMD_OPT_FLAG(gen_opts, profile, "profile"),
                                     CMD_OPT_END};
  *o = (gen_opts){.device = "auto", .max_tokens = 128, .samples = 1, .top_p = 1.0f};
  int rc = cmd_parse_options(argc, argv, table, o, usage, NULL);
  if (rc) return rc;
  if (!o->model || (!o->prompt == !o->prompt_file)) {
    fprintf(stderr,
            "seal generate: --model and one of --prompt or --prompt-file are required\n\n%s",
            usage);
    return -1;
  }
  return 0;
}

/* The prompt as token ids: raw text with BOS as the model wants, or the chat
 * template's rendering (which writes its own special tokens). */
static int prompt_ids(const seal_engine *eng, const gen_opts *o, const char *text, int32_t **ids,
                      seal_error *e) {
  if (!o->chat) return seal_engine_encode_prompt(eng, text, ids);
  seal_chat_format f;
  if (seal_chat_detect(eng->chat_template, &f) == SEAL_CHAT_NONE) {
    seal_errorf(e,
                "%s: --chat needs a chat template seal knows (Llama-3 or ChatML); the model "
                "has %s",
                eng->path, eng->chat_template ? "another kind" : "none");
    return -1;
  }
  seal_chat_msg msgs[2];
  int n = 0;
  if (o->system) msgs[n++] = (seal_chat_msg){"system", o->system};
  msgs[n++] = (seal_chat_msg){"user", text};
  char *rendered = seal_chat_render(&f, msgs, n, true, o->date, e);
  seal_chat_format_free(&f);
  if (!rendered) return -1;
  int count = seal_engine_encode(eng, rendered, ids);
  free(rendered);
  return count;
}

int cmd_generate(int argc, char **argv) {
  gen_opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc > 0 ? SEAL_EXIT_OK : SEAL_EXIT_USAGE;
  seal_error e;
  char *text = o.prompt_file ? seal_read_file(o.prompt_file, NULL, &e) : seal_strdup(o.prompt);
  if (!text) SEAL_DIE_ERR(&e);
  seal_engine eng;
  if (seal_engine_open(&eng, o.model, o.device, &e)) SEAL_DIE_ERR(&e);
  if (o.profile) seal_engine_profile(&eng, stderr);
  seal_lora lora, *lp = NULL;
  if (o.adapter) {
    if (seal_lora_load_peft(&lora, &eng.model, o.adapter, &e)) SEAL_DIE_ERR(&e);
    lp = &lora;
  }
  int32_t *ids;
  int n = prompt_ids(&eng, &o, text, &ids, &e);
  if (n < 0) SEAL_DIE_ERR(&e);
  if (n == 0) SEAL_DIE("the prompt is empty");
  const char *what = o.prompt_file ? o.prompt_file : "--prompt";
  if (seal_engine_fit_window(&eng, ids, &n, o.max_tokens, o.truncate, what, &e) != 0)
    SEAL_DIE("%s%s", e.msg,
             o.truncate == SEAL_TRUNCATE_NONE
                 ? "; shorten the prompt, lower --max-tokens or pass --truncate left"
                 : "");
  int B = o.samples;
  const int32_t **prompts = seal_calloc((size_t)B, sizeof *prompts);
  int *lens = seal_calloc((size_t)B, sizeof *lens);
  seal_rng *rngs = seal_calloc((size_t)B, sizeof *rngs);
  for (int b = 0; b < B; b++) {
    prompts[b] = ids;
    lens[b] = n;
    seal_rng_seed(&rngs[b], seal_seed_derive(o.seed, (uint64_t)b, 0, 0, 0));
  }
  seal_sampling s = {
      .temperature = o.temperature, .top_p = o.top_p, .max_new_tokens = o.max_tokens};
  seal_generation *out = seal_calloc((size_t)B, sizeof *out);
  double t0 = seal_now();
  seal_generate(&eng.model, lp, NULL, prompts, lens, B, &s, rngs, out);
  double secs = seal_now() - t0;
  long total = 0;
  for (int b = 0; b < B; b++) {
    char *reply = seal_engine_decode(&eng, out[b].ids, out[b].n);
    if (B > 1) printf("--- sample %d\n", b);
    printf("%s\n", reply);
    total += out[b].n;
    free(reply);
  }
  if (o.stats)
    fprintf(stderr,
            "prompt %d tokens, generated %ld tokens in %.2fs (%.1f tokens/s, batch %d, %s)\n", n,
            total, secs, (double)total / secs, B, eng.be->name);
  seal_generation_free(out, B);
  free(out);
  free(rngs);
  free(lens);
  free(prompts);
  free(ids);
  free(text);
  if (lp) seal_lora_free(lp);
  seal_engine_close(&eng);
  return 0;
}
