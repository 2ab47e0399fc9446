/* cmd/bench.c — `seal bench`: the speed of one model on one backend, measured
 * the way a SEAL user meets it: model load, prompt prefill, decoding (greedy or
 * sampled) over the KV cache at several batch sizes, and one LoRA SFT step (the
 * inner loop's unit of work). Every timing reads the clock only after the backend
 * has synchronised, so asynchronous (GPU) work is counted where it happens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "kernels/profile.h"
#include "model/engine.h"
#include "model/optim.h"

static const char usage[] =
    "usage: seal bench --model PATH [OPTIONS]\n"
    "\n"
    "Measures model load time, prefill, decode (batch 1 and larger; greedy unless\n"
    "--temperature is given) and one LoRA SFT step (forward, backward, AdamW),\n"
    "and prints a table of the median of the repeats. Inputs are real token ids:\n"
    "a fixed English text, tokenized by the model and repeated to the lengths\n"
    "asked for.\n"
    "\n"
    "  --model PATH          Hugging Face directory or .gguf file (required)\n"
    "  --device NAME         cpu, cpu:bf16, cpu:q8, cpu:q4, cuda[:N] or auto (default auto)\n"
    "  --prompt-tokens P     prompt length for prefill and decode (default 64)\n"
    "  --new-tokens N        tokens decoded per sequence (default 128)\n"
    "  --batch LIST          decode batch sizes, comma-separated (default 1,8)\n"
    "  --train-tokens T      tokens per training sequence (default 256)\n"
    "  --train-batch B       sequences per training step (default 1)\n"
    "  --lora-r R            LoRA rank, alpha 2R (default 32)\n"
    "  --lora-targets LIST   adapted projections, e.g. q,v (default all: q,k,v,o,gate,up,down)\n"
    "  --temperature T       decode by sampling at temperature T (default 0: greedy)\n"
    "  --top-p P             nucleus mass when sampling (default 1)\n"
    "  --repeats N           timed repeats of each measurement, after one warm-up (default 3)\n"
    "  --json                print one JSON object per measurement instead of the table\n"
    "  --unit-of-work FILE   instead of the above: SEAL's unit of work, one knowledge\n"
    "                        self-edit evaluation (inner-loop LoRA training on the\n"
    "                        fixture's self-edit and passage, greedy answers to its\n"
    "                        questions, grading) from FILE (bench/unit-of-work.json);\n"
    "                        prints its training and answering seconds, steps and\n"
    "                        tokens (median of --repeats, no warm-up)\n"
    "  --epochs E            with --unit-of-work: E inner-loop epochs instead of the\n"
    "                        fixture's (a shorter run)\n"
    "  --profile             also time every backend op (each synchronised before and\n"
    "                        after) and print where each measurement's time goes\n"
    "  --help                this text\n";

#define BENCH_MAX_BATCHES 16

typedef struct {
  int size[BENCH_MAX_BATCHES];
  int n;
} bench_batches;

typedef struct {
  const char *model, *device;
  int prompt_tokens, new_tokens, train_tokens, train_batch, lora_r, repeats, json, profile;
  const char *unit_of_work; /* --unit-of-work: the fixture, or NULL */
  int epochs;               /* --epochs: overrides the fixture's; 0 = keep it */
  unsigned lora_targets;    /* bit t set when target t is adapted */
  float temperature, top_p; /* decode sampling; temperature 0 is greedy */
  bench_batches batches;    /* --batch: the prefill/decode batch sizes, in order */
} bench_opts;

/* The text the benchmark's token ids come from: ordinary prose, so that every
 * model's tokenizer produces ordinary ids from it. */
static const char bench_text[] =
    "The river runs past the mill and under the stone bridge before it reaches the sea. "
    "In spring the water is high and fast, and the fishermen wait on the bank for the "
    "current to slow. Their children learn to mend nets, to read the weather in the clouds "
    "over the hills, and to tell one bird from another by its call. ";

static int parse_batches(const char *value, void *field) {
  bench_batches *b = field;
  b->n = 0;
  char *copy = seal_strdup(value);
  for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    if (b->n == BENCH_MAX_BATCHES) cmd_usage_error("--batch: at most %d sizes", BENCH_MAX_BATCHES);
    b->size[b->n++] = (int)cmd_parse_long("batch", tok, 1, 4096);
  }
  free(copy);
  if (b->n == 0) cmd_usage_error("--batch: '%s' lists no batch size", value);
  return 0;
}

/* "q,v" or "q_proj,v_proj" or "all" -> target bits. */
static int parse_targets(const char *value, void *field) {
  char why[256];
  if (seal_lora_targets_parse(value, field, why, sizeof why))
    cmd_usage_error("--lora-targets: %s", why);
  return 0;
}

static int parse(int argc, char **argv, bench_opts *o) {
  static const cmd_option table[] = {
      CMD_OPT_TEXT(bench_opts, model, "model"),
      CMD_OPT_DEVICE(bench_opts, device, 1),
      CMD_OPT_INT(bench_opts, prompt_tokens, "prompt-tokens", 1, 1 << 20),
      CMD_OPT_INT(bench_opts, new_tokens, "new-tokens", 1, 1 << 20),
      CMD_OPT_CUSTOM(bench_opts, batches, "batch", parse_batches),
      CMD_OPT_INT(bench_opts, train_tokens, "train-tokens", 2, 1 << 20),
      CMD_OPT_INT(bench_opts, train_batch, "train-batch", 1, 4096),
      CMD_OPT_INT(bench_opts, lora_r, "lora-r", 1, 65536),
      CMD_OPT_INT(bench_opts, repeats, "repeats", 1, 1000),
      CMD_OPT_FLAG(bench_opts, json, "json"),
      CMD_OPT_FLAG(bench_opts, profile, "profile"),
      CMD_OPT_CUSTOM(bench_opts, lora_targets, "lora-targets", parse_targets),
      CMD_OPT_FLOAT(bench_opts, temperature, "temperature", 0, 100),
      CMD_OPT_FLOAT(bench_opts, top_p, "top-p", 1e-6, 1),
      CMD_OPT_TEXT(bench_opts, unit_of_work, "unit-of-work"),
      CMD_OPT_INT(bench_opts, epochs, "epochs", 1, 1000),
      CMD_OPT_END};
  *o = (bench_opts){.device = "auto",
                    .prompt_tokens = 64,
                    .new_tokens = 128,
                    .train_tokens = 256,
                    .train_batch = 1,
                    .lora_r = 32,
                    .lora_targets = SEAL_LORA_ALL_TARGETS,
                    .top_p = 1.0f,
                    .repeats = 3,
                    .batches = {{1, 8}, 2}};
  int rc = cmd_parse_options(argc, argv, table, o, usage, NULL);
  if (rc) return rc;
  if (!o->model) {
    fprintf(stderr, "seal bench: --model is required\n\n%s", usage);
    return -1;
  }
  if (o->epochs && !o->unit_of_work) {
    fprintf(stderr, "seal bench: --epochs goes with --unit-of-work\n\n%s", usage);
    return -1;
  }
  return 0;
}

/* ---- timing ------------------------------------------------------------------ */

static double now_synced(seal_backend *be) {
  be->ops->synchronize(be);
  return seal_now();
}

/* Seconds of CPU time (user + system, every thread) this process has used:
 * beside wall time, what a measurement costs on a machine others share. */
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Seconds of the repeats: median, fastest, slowest wall time; median CPU time. */
typedef struct {
  double median, min, max, cpu;
} bench_stat;

static double median_of(double *x, int n) {
  qsort(x, (size_t)n, sizeof *x, cmp_double);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* secs[n] wall and cpu[n] CPU seconds of the repeats (both reordered). */
static bench_stat summarize(double *secs, double *cpu, int n) {
  double median = median_of(secs, n);
  return (bench_stat){median, secs[0], secs[n - 1], median_of(cpu, n)};
}

/* ---- per-op profile (--profile) ------------------------------------------------ */

/* With --profile the engine runs on a profiling backend (kernels/profile.h):
 * every op is timed, synchronised before and after, and each measurement sends
 * its timed repeats' ops into its own part (the warm-up into none) with
 * seal_backend_profile_into. Without it those calls do nothing. */

/* Prints where a measurement's time went, per run, against its median wall
 * time (stderr beside --json, so that stdout stays JSON). */
static void print_profile(const bench_opts *o, const seal_op_profile *part, double median) {
  if (!o->profile) return;
  FILE *out = o->json ? stderr : stdout;
  fprintf(out, "    per run: ops %.2f ms (synchronised one by one) of %.2f ms median wall\n",
          1e3 * seal_op_profile_total(part) / o->repeats, 1e3 * median);
  seal_op_profile_print(out, part, o->repeats, "      ");
}

/* ---- reporting --------------------------------------------------------------- */

static void print_header(const seal_engine *eng, const bench_opts *o) {
  const seal_model_config *c = &eng->model.cfg;
  const char *threads = getenv("OMP_NUM_THREADS");
  if (o->json) return;
  printf("seal bench: %s\n", eng->path);
  printf(
      "  backend %s (matrices %s, activations %s), OMP_NUM_THREADS=%s, median of %d "
      "repeat(s) after a warm-up\n",
      eng->be->name,
      eng->be->weight == SEAL_BF16 ? "bf16"
      : eng->be->weight == SEAL_Q8 ? "q8"
      : eng->be->weight == SEAL_Q4 ? "q4"
                                   : "f32",
      eng->be->act == SEAL_BF16 ? "bf16" : "f32", threads ? threads : "unset", o->repeats);
  printf("  model: %d layers, hidden %d, MLP %d, heads %d/%d x %d, vocab %d\n\n", c->n_layers,
         c->hidden, c->intermediate, c->n_heads, c->n_kv_heads, c->head_dim, c->vocab_size);
  printf("%-30s %-16s %10s %21s %10s %12s\n", "measurement", "shape", "median ms", "min..max ms",
         "CPU ms", "tokens/s");
}

/* One measurement: `key` names it in JSON (as bench/pytorch_baseline.py
 * does), `label` in the table; `tokens` tokens handled per repeat (0 when not
 * a rate). */
static void report(const bench_opts *o, const seal_engine *eng, const char *key, const char *label,
                   const char *shape, int batch, long tokens, bench_stat s) {
  double rate = tokens > 0 ? (double)tokens / s.median : 0;
  if (o->json) {
    printf(
        "{\"impl\": \"seal\", \"backend\": \"%s\", \"name\": \"%s\", \"shape\": \"%s\", "
        "\"batch\": %d, \"tokens\": %ld, \"ms\": %.3f, \"min_ms\": %.3f, \"max_ms\": %.3f, "
        "\"cpu_ms\": %.3f, \"tokens_per_s\": %.1f}\n",
        eng->be->name, key, shape, batch, tokens, 1e3 * s.median, 1e3 * s.min, 1e3 * s.max,
        1e3 * s.cpu, rate);
  } else {
    char spread[48], rate_s[24] = "-";
    snprintf(spread, sizeof spread, "%.2f..%.2f", 1e3 * s.min, 1e3 * s.max);
    if (tokens > 0) snprintf(rate_s, sizeof rate_s, "%.1f", rate);
    printf("%-30s %-16s %10.2f %21s %10.2f %12s\n", label, shape, 1e3 * s.median, spread,
           1e3 * s.cpu, rate_s);
  }
  fflush(stdout);
}

/* ---- inputs ------------------------------------------------------------------ */

/* n token ids: the benchmark text's ids (BOS first when the model wants one),
 * repeated. */
static int32_t *bench_ids(const seal_engine *eng, int n) {
  int32_t *text_ids;
  int len = seal_engine_encode_prompt(eng, bench_text, &text_ids);
  SEAL_CHECK(len > 1, "the benchmark text encodes to %d token(s)", len);
  int32_t *ids = seal_malloc((size_t)n * sizeof(int32_t)); /* [n] */
  for (int i = 0; i < n; i++) ids[i] = text_ids[i % len];
  free(text_ids);
  return ids;
}

/* ---- prefill and decode ------------------------------------------------------- */

/* Prefills B rows of P tokens (ids [B*P]) into slots 0..B-1 from position 0. */
static void prefill(seal_model *m, seal_kv_cache *c, const int32_t *ids, int B, int P) {
  int32_t *q_pos = seal_calloc((size_t)B, sizeof(int32_t)); /* [B] all 0 */
  seal_forward_infer(m, NULL, c, ids, q_pos, 0, B, P);
  free(q_pos);
}

/* Draws the next token of B sequences from c->logits: the argmax when
 * temperature is 0, else a sample (one uniform draw per sequence). The ids
 * come back to the host, as a generator needs them. */
static void next_tokens(seal_model *m, seal_kv_cache *c, int B, const bench_opts *o, seal_rng *rng,
                        float *u, int32_t *next) {
  for (int b = 0; b < B; b++) u[b] = o->temperature > 0 ? (float)seal_rng_uniform(rng) : 0.0f;
  m->be->ops->sample(m->be, next, c->logits, B, m->cfg.vocab_size, o->temperature, o->top_p, u);
}

/* Decodes `steps` tokens for B sequences already prefilled with P tokens: each
 * step feeds every sequence's last token and draws the next. No sequence stops
 * at EOS, so every run does the same work. */
static void decode(seal_model *m, seal_kv_cache *c, int B, int P, int steps, const bench_opts *o) {
  int32_t *next = seal_malloc((size_t)B * sizeof(int32_t)); /* [B] */
  int32_t *pos = seal_malloc((size_t)B * sizeof(int32_t));  /* [B] */
  float *u = seal_calloc((size_t)B, sizeof(float));         /* [B] */
  seal_rng rng;
  seal_rng_seed(&rng, 42);
  next_tokens(m, c, B, o, &rng, u, next);
  for (int b = 0; b < B; b++) pos[b] = P;
  for (int s = 0; s < steps; s++) {
    seal_forward_infer(m, NULL, c, next, pos, 0, B, 1);
    next_tokens(m, c, B, o, &rng, u, next);
    for (int b = 0; b < B; b++) pos[b]++;
  }
  free(next);
  free(pos);
  free(u);
}

/* Prefill of B x P, then decode of B x N, timed separately. */
static void bench_batch(seal_engine *eng, const bench_opts *o, int B) {
  seal_model *m = &eng->model;
  int P = o->prompt_tokens, N = o->new_tokens;
  seal_kv_cache cache;
  seal_kv_cache_create(&cache, m, B, P + N + 1, 0);
  int32_t *ids = bench_ids(eng, B * P); /* [B, P]; rows differ (the text wraps) */
  double *pre = seal_malloc((size_t)o->repeats * sizeof(double)); /* wall s [repeats] */
  double *dec = seal_malloc((size_t)o->repeats * sizeof(double));
  double *pre_cpu = seal_malloc((size_t)o->repeats * sizeof(double)); /* CPU s [repeats] */
  double *dec_cpu = seal_malloc((size_t)o->repeats * sizeof(double));
  seal_op_profile pre_ops, dec_ops;
  memset(&pre_ops, 0, sizeof pre_ops);
  memset(&dec_ops, 0, sizeof dec_ops);
  for (int rep = -1; rep < o->repeats; rep++) { /* rep -1 is the warm-up */
    double t0 = now_synced(m->be), c0 = cpu_now();
    seal_backend_profile_into(m->be, rep < 0 ? NULL : &pre_ops);
    prefill(m, &cache, ids, B, P);
    double t1 = now_synced(m->be), c1 = cpu_now();
    seal_backend_profile_into(m->be, rep < 0 ? NULL : &dec_ops);
    decode(m, &cache, B, P, N, o);
    double t2 = now_synced(m->be), c2 = cpu_now();
    seal_backend_profile_into(m->be, NULL);
    if (rep < 0) continue;
    pre[rep] = t1 - t0, pre_cpu[rep] = c1 - c0;
    dec[rep] = t2 - t1, dec_cpu[rep] = c2 - c1;
  }
  char shape[48];
  snprintf(shape, sizeof shape, "B%dxT%d", B, P);
  bench_stat s = summarize(pre, pre_cpu, o->repeats);
  report(o, eng, "prefill", "prefill", shape, B, (long)B * P, s);
  print_profile(o, &pre_ops, s.median);
  snprintf(shape, sizeof shape, "B%dxT%d+%d", B, P, N);
  s = summarize(dec, dec_cpu, o->repeats);
  int greedy = o->temperature <= 0;
  report(o, eng, greedy ? "decode_greedy" : "decode_sample",
         greedy ? "decode greedy (KV cache)" : "decode sampled (KV cache)", shape, B, (long)B * N,
         s);
  print_profile(o, &dec_ops, s.median);
  free(pre);
  free(dec);
  free(pre_cpu);
  free(dec_cpu);
  free(ids);
  seal_kv_cache_free(&cache, m);
}

/* ---- LoRA SFT step ------------------------------------------------------------ */

static void bench_sft(seal_engine *eng, const bench_opts *o) {
  seal_model *m = &eng->model;
  int B = o->train_batch, T = o->train_tokens, N = B * T;
  seal_lora lora;
  seal_lora_create(&lora, m, o->lora_r, 2.0f * (float)o->lora_r, o->lora_targets);
  seal_rng rng;
  seal_rng_seed(&rng, 1234);
  seal_lora_init(&lora, &rng);
  seal_adamw_config cfg = seal_adamw_defaults(1e-4f, 0.0f, 1.0f, SEAL_SCHEDULE_CONSTANT, 0, 1);
  seal_adamw opt;
  seal_adamw_create(&opt, m->be, lora.n_params, &cfg);
  seal_train_acts acts;
  seal_train_acts_create(&acts, m, B * T, o->lora_r);
  int32_t *ids = bench_ids(eng, N + 1); /* [N + 1]; targets are the next ids */
  int32_t *targets = seal_malloc((size_t)N * sizeof(int32_t)); /* [B, T] */
  float *weights = seal_malloc((size_t)N * sizeof(float));     /* [B, T] */
  for (int n = 0; n < N; n++) {
    /* every position but each row's last predicts the next id; mean over them */
    int last = n % T == T - 1;
    targets[n] = last ? 0 : ids[n + 1];
    weights[n] = last ? 0.0f : 1.0f / (float)(B * (T - 1));
  }
  double *secs = seal_malloc((size_t)o->repeats * sizeof(double)); /* wall s [repeats] */
  double *cpu = seal_malloc((size_t)o->repeats * sizeof(double));  /* CPU s [repeats] */
  double first_loss = 0, last_loss = 0;
  seal_op_profile step_ops;
  memset(&step_ops, 0, sizeof step_ops);
  for (int rep = -1; rep < o->repeats; rep++) {
    double t0 = now_synced(m->be), c0 = cpu_now();
    seal_backend_profile_into(m->be, rep < 0 ? NULL : &step_ops);
    seal_lora_zero_grads(&lora);
    double loss = seal_forward_train(m, &lora, &acts, ids, targets, weights, B, T);
    seal_backward_train(m, &lora, &acts);
    seal_adamw_step(&opt, lora.params, lora.grads);
    double t1 = now_synced(m->be), c1 = cpu_now();
    seal_backend_profile_into(m->be, NULL);
    if (rep < 0) first_loss = loss;
    last_loss = loss;
    if (rep >= 0) secs[rep] = t1 - t0, cpu[rep] = c1 - c0;
  }
  char name[64], shape[48];
  int n_targets = __builtin_popcount(o->lora_targets);
  snprintf(name, sizeof name, "lora sft step (r%d, %d proj)", o->lora_r, n_targets);
  snprintf(shape, sizeof shape, "B%dxT%d", B, T);
  bench_stat s = summarize(secs, cpu, o->repeats);
  report(o, eng, "sft_step", name, shape, B, (long)N, s);
  print_profile(o, &step_ops, s.median);
  if (!o->json)
    printf("%-30s %zu LoRA parameters; loss %.4f at the warm-up step, %.4f at the last\n", "",
           lora.n_params, first_loss, last_loss);
  free(secs);
  free(cpu);
  free(ids);
  free(targets);
  free(weights);
  seal_train_acts_free(&acts, m);
  seal_adamw_free(&opt);
  seal_lora_free(&lora);
}

int cmd_bench(int argc, char **argv) {
  bench_opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc > 0 ? SEAL_EXIT_OK : SEAL_EXIT_USAGE;
  seal_error e;
  seal_engine eng;
  double t0 = seal_now(), c0 = cpu_now();
  if (seal_engine_open(&eng, o.model, o.device, &e)) SEAL_DIE_ERR(&e);
  double load = now_synced(eng.be) - t0, load_cpu = cpu_now() - c0;
  if (o.unit_of_work) {
    cmd_bench_unit_of_work(&eng, o.unit_of_work, o.epochs, o.repeats, o.json);
    seal_engine_close(&eng);
    return 0;
  }
  int max_pos = eng.model.cfg.max_position;
  if (max_pos > 0 && (o.prompt_tokens + o.new_tokens > max_pos || o.train_tokens > max_pos))
    SEAL_DIE(
        "%s: the model has %d positions; --prompt-tokens + --new-tokens (%d) and "
        "--train-tokens (%d) must fit",
        o.model, max_pos, o.prompt_tokens + o.new_tokens, o.train_tokens);
  print_header(&eng, &o);
  report(&o, &eng, "load", "model load", "-", 0, 0, (bench_stat){load, load, load, load_cpu});
  if (o.profile) seal_engine_profile(&eng, NULL); /* each measurement prints its own part */
  for (int i = 0; i < o.batches.n; i++) bench_batch(&eng, &o, o.batches.size[i]);
  bench_sft(&eng, &o);
  seal_engine_close(&eng);
  return 0;
}
