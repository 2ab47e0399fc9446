/* cmd/generate.c — `seal generate`: text in, text out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "cmd/run_common.h"
#include "model/chat.h"
#include "model/engine.h"

static const char usage[] =
    "usage: seal generate --model PATH --prompt TEXT [OPTIONS]\n"
    "       seal generate --model PATH --prompts FILE.jsonl [OPTIONS]\n"
    "\n"
    "Generates a continuation of the prompt (or, with --chat, the assistant's\n"
    "reply rendered through the model's chat template) and prints it.\n"
    "\n"
    "  --model PATH         Hugging Face directory or .gguf file (required)\n"
    "  --prompt TEXT        the prompt (or --prompt-file FILE, or --prompts FILE)\n"
    "  --prompt-file FILE   read the prompt from FILE\n"
    "  --prompts FILE       many prompts in one process: FILE holds one JSON object\n"
    "                       a line, {\"prompt\": TEXT} with optionally \"max_tokens\": N\n"
    "                       (else --max-tokens); blank lines are skipped. Prints one\n"
    "                       JSON line per prompt, in the file's order:\n"
    "                       {\"line\": L, \"text\": REPLY, \"tokens\": N, \"stop\": \"eos\"\n"
    "                       or \"length\"}. Prompts with the same max_tokens decode\n"
    "                       together, --batch at a time; each gets the generator a\n"
    "                       one-prompt run with the same --seed would have, and a\n"
    "                       greedy reply is the one --prompt gives (--samples 1 only)\n"
    "  --batch N            --prompts: sequences decoded together (default 8: on the\n"
    "                       CPU the model's matmuls of a decode step of up to 8 rows\n"
    "                       compute each row as for one; beyond, sgemm may round\n"
    "                       differently)\n"
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
    "  --device NAME        cpu, cpu:bf16, cpu:q8, cpu:q4, cuda[:N] or auto (default auto)\n"
    "  --stats              print prefill/decode timing to stderr\n"
    "  --profile            time every backend op (each synchronised before and after;\n"
    "                       slower) and print a per-op table to stderr at the end\n"
    "  --help               this text\n";

typedef struct {
  const char *model, *prompt, *prompt_file, *prompts_file, *system, *date, *adapter, *device;
  int chat, max_tokens, samples, batch, stats, profile;
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
                                     CMD_OPT_TEXT(gen_opts, prompts_file, "prompts"),
                                     CMD_OPT_INT(gen_opts, batch, "batch", 1, 4096),
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
  *o = (gen_opts){.device = "auto", .max_tokens = 128, .samples = 1, .batch = 8, .top_p = 1.0f};
  int rc = cmd_parse_options(argc, argv, table, o, usage, NULL);
  if (rc) return rc;
  if (!o->model || !!o->prompt + !!o->prompt_file + !!o->prompts_file != 1) {
    fprintf(stderr,
            "seal generate: --model and one of --prompt, --prompt-file or --prompts are "
            "required\n\n%s",
            usage);
    return -1;
  }
  if (o->prompts_file && o->samples != 1)
    cmd_usage_error("--samples %d: --prompts answers each prompt once", o->samples);
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

/* One prompt of a --prompts file: where it was, and what to generate. */
typedef struct {
  int line;       /* 1-based line of the file */
  char *text;     /* the prompt */
  int max_tokens; /* its own, else --max-tokens */
  int32_t *ids;   /* [n] the prompt's tokens, fitted to the window */
  int n;
  seal_generation gen; /* the reply */
} prompt_line;

/* Reads line `line` of a --prompts file (text, NUL-terminated) into *p:
 * {"prompt": TEXT} with optionally "max_tokens": N, nothing else. */
static int parse_prompt_line(const char *path, int line, const char *text, int default_max,
                             prompt_line *p, seal_error *e) {
  json_error_t je;
  json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &je);
  static const char expected[] =
      "expected one JSON object a line: {\"prompt\": TEXT} with optionally \"max_tokens\": N";
  if (!o)
    return seal_errorf(e, "%s:%d: %s; column %d: %s", path, line, expected, je.column, je.text);
  int rc = 0;
  const char *key;
  json_t *v;
  json_t *prompt = json_object_get(o, "prompt"), *max = json_object_get(o, "max_tokens");
  if (!json_is_object(o))
    rc = seal_errorf(e, "%s:%d: %s; this line is not an object", path, line, expected);
  else if (!json_is_string(prompt))
    rc = seal_errorf(e, "%s:%d: %s; \"prompt\" is %s", path, line, expected,
                     prompt ? "not a string" : "missing");
  else if (max && (!json_is_integer(max) || json_integer_value(max) < 1 ||
                   json_integer_value(max) > (1 << 20)))
    rc = seal_errorf(e, "%s:%d: \"max_tokens\" must be an integer in [1, %d]", path, line, 1 << 20);
  json_object_foreach(o, key, v) {
    if (rc || !strcmp(key, "prompt") || !strcmp(key, "max_tokens")) continue;
    rc = seal_errorf(e, "%s:%d: unknown key \"%s\"; %s", path, line, key, expected);
  }
  if (!rc)
    *p = (prompt_line){.line = line,
                       .text = seal_strdup(json_string_value(prompt)),
                       .max_tokens = max ? (int)json_integer_value(max) : default_max};
  json_decref(o);
  return rc;
}

/* Every prompt of a --prompts file, in order; blank lines skipped. Returns
 * the count, or -1 with e set. */
static int read_prompt_lines(const char *path, int default_max, prompt_line **out, seal_error *e) {
  char *all = seal_read_file(path, NULL, e);
  if (!all) return -1;
  int n = 0, line = 0;
  *out = NULL;
  for (char *s = all, *next; s && *s; s = next) {
    line++;
    char *nl = strchr(s, '\n');
    next = nl ? nl + 1 : NULL;
    if (nl) *nl = '\0';
    if (strspn(s, " \t\r") == strlen(s)) continue;
    *out = seal_realloc(*out, (size_t)(n + 1) * sizeof **out);
    if (parse_prompt_line(path, line, s, default_max, &(*out)[n], e)) {
      for (int i = 0; i < n; i++) free((*out)[i].text);
      free(*out), *out = NULL;
      free(all);
      return -1;
    }
    n++;
  }
  free(all);
  if (n == 0) {
    seal_errorf(e, "%s: no prompts (expected one JSON object a line)", path);
    return -1;
  }
  return n;
}

/* The prompt's tokens, fitted to the window with --max-tokens after it (or
 * refused, naming where the prompt came from). */
static int32_t *fitted_prompt(const seal_engine *eng, const gen_opts *o, const char *text,
                              const char *what, int max_tokens, int *n) {
  seal_error e;
  int32_t *ids;
  *n = prompt_ids(eng, o, text, &ids, &e);
  if (*n < 0) SEAL_DIE_ERR(&e);
  if (*n == 0) SEAL_DIE("%s: the prompt is empty", what);
  if (seal_engine_fit_window(eng, ids, n, max_tokens, o->truncate, what, &e) != 0)
    SEAL_DIE("%s%s", e.msg,
             o->truncate == SEAL_TRUNCATE_NONE
                 ? "; shorten the prompt, lower --max-tokens or pass --truncate left"
                 : "");
  return ids;
}

static int by_max_tokens(const void *a, const void *b) {
  const prompt_line *x = *(prompt_line *const *)a, *y = *(prompt_line *const *)b;
  if (x->max_tokens != y->max_tokens) return x->max_tokens < y->max_tokens ? -1 : 1;
  return x->line < y->line ? -1 : x->line > y->line;
}

/* Decodes the B prompts of one batch together (they share max_tokens); each
 * sequence's generator is the one sample 0 of a one-prompt run gets. Returns
 * the tokens generated. */
static long generate_batch(seal_engine *eng, const seal_lora *lora, const gen_opts *o,
                           prompt_line **batch, int B) {
  const int32_t **prompts = seal_calloc((size_t)B, sizeof *prompts);
  int *lens = seal_calloc((size_t)B, sizeof *lens);
  seal_rng *rngs = seal_calloc((size_t)B, sizeof *rngs);
  seal_generation *gens = seal_calloc((size_t)B, sizeof *gens);
  for (int b = 0; b < B; b++) {
    prompts[b] = batch[b]->ids;
    lens[b] = batch[b]->n;
    seal_rng_seed(&rngs[b], seal_seed_derive(o->seed, 0, 0, 0, 0));
  }
  seal_sampling s = {
      .temperature = o->temperature, .top_p = o->top_p, .max_new_tokens = batch[0]->max_tokens};
  seal_generate(&eng->model, lora, NULL, prompts, lens, B, &s, rngs, gens);
  long total = 0;
  for (int b = 0; b < B; b++) batch[b]->gen = gens[b], total += gens[b].n;
  free(gens);
  free(rngs);
  free(lens);
  free(prompts);
  return total;
}

/* Prints prompt p's reply as one JSON line. */
static void print_reply(const seal_engine *eng, const prompt_line *p) {
  char *reply = seal_engine_decode(eng, p->gen.ids, p->gen.n);
  json_t *o = json_pack("{s:i,s:s,s:i,s:s}", "line", p->line, "text", reply, "tokens", p->gen.n,
                        "stop", p->gen.hit_eos ? "eos" : "length");
  char *text = json_dumps(o, JSON_COMPACT);
  printf("%s\n", text);
  free(text);
  json_decref(o);
  free(reply);
}

/* --prompts: every prompt tokenized and fitted first (a bad one stops the run
 * before any decoding), then decoded in batches of prompts that share
 * max_tokens, and printed in the file's order. */
static void generate_many(seal_engine *eng, const seal_lora *lora, const gen_opts *o,
                          prompt_line *p, int n) {
  prompt_line **order = seal_calloc((size_t)n, sizeof *order);
  for (int i = 0; i < n; i++) {
    char what[64 + 4096];
    snprintf(what, sizeof what, "%s:%d", o->prompts_file, p[i].line);
    p[i].ids = fitted_prompt(eng, o, p[i].text, what, p[i].max_tokens, &p[i].n);
    order[i] = &p[i];
  }
  qsort(order, (size_t)n, sizeof *order, by_max_tokens);
  double t0 = seal_now();
  long total = 0;
  int batches = 0;
  for (int i = 0; i < n; batches++) {
    int B = 1;
    while (i + B < n && B < o->batch && order[i + B]->max_tokens == order[i]->max_tokens) B++;
    total += generate_batch(eng, lora, o, order + i, B);
    i += B;
  }
  double secs = seal_now() - t0;
  for (int i = 0; i < n; i++) print_reply(eng, &p[i]);
  if (o->stats)
    fprintf(stderr,
            "%d prompts in %d batch(es), generated %ld tokens in %.2fs (%.1f tokens/s, %s)\n", n,
            batches, total, secs, (double)total / secs, eng->be->name);
  for (int i = 0; i < n; i++) {
    seal_generation_free(&p[i].gen, 1);
    free(p[i].ids);
    free(p[i].text);
  }
  free(order);
  free(p);
}

/* --prompt or --prompt-file: --samples independent samples of one prompt,
 * batched. */
static void generate_one(seal_engine *eng, const seal_lora *lora, const gen_opts *o,
                         const char *text) {
  int n;
  int32_t *ids =
      fitted_prompt(eng, o, text, o->prompt_file ? o->prompt_file : "--prompt", o->max_tokens, &n);
  int B = o->samples;
  const int32_t **prompts = seal_calloc((size_t)B, sizeof *prompts);
  int *lens = seal_calloc((size_t)B, sizeof *lens);
  seal_rng *rngs = seal_calloc((size_t)B, sizeof *rngs);
  for (int b = 0; b < B; b++) {
    prompts[b] = ids;
    lens[b] = n;
    seal_rng_seed(&rngs[b], seal_seed_derive(o->seed, (uint64_t)b, 0, 0, 0));
  }
  seal_sampling s = {
      .temperature = o->temperature, .top_p = o->top_p, .max_new_tokens = o->max_tokens};
  seal_generation *out = seal_calloc((size_t)B, sizeof *out);
  double t0 = seal_now();
  seal_generate(&eng->model, lora, NULL, prompts, lens, B, &s, rngs, out);
  double secs = seal_now() - t0;
  long total = 0;
  for (int b = 0; b < B; b++) {
    char *reply = seal_engine_decode(eng, out[b].ids, out[b].n);
    if (B > 1) printf("--- sample %d\n", b);
    printf("%s\n", reply);
    total += out[b].n;
    free(reply);
  }
  if (o->stats)
    fprintf(stderr,
            "prompt %d tokens, generated %ld tokens in %.2fs (%.1f tokens/s, batch %d, %s)\n", n,
            total, secs, (double)total / secs, B, eng->be->name);
  seal_generation_free(out, B);
  free(out);
  free(rngs);
  free(lens);
  free(prompts);
  free(ids);
}

int cmd_generate(int argc, char **argv) {
  gen_opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc > 0 ? SEAL_EXIT_OK : SEAL_EXIT_USAGE;
  seal_error e;
  /* the prompts are read first: a bad file fails before the model loads */
  prompt_line *lines = NULL;
  int n_lines = o.prompts_file ? read_prompt_lines(o.prompts_file, o.max_tokens, &lines, &e) : 0;
  if (n_lines < 0) SEAL_DIE_ERR(&e);
  char *text = o.prompt_file ? seal_read_file(o.prompt_file, NULL, &e)
               : o.prompt    ? seal_strdup(o.prompt)
                             : NULL;
  if (!o.prompts_file && !text) SEAL_DIE_ERR(&e);
  seal_engine eng;
  seal_lora lora, *lp = cmd_open_model(o.model, o.device, o.profile, o.adapter, &eng, &lora);
  if (o.prompts_file)
    generate_many(&eng, lp, &o, lines, n_lines);
  else
    generate_one(&eng, lp, &o, text);
  free(text);
  if (lp) seal_lora_free(lp);
  seal_engine_close(&eng);
  return 0;
}
