/* cmd/score.c — `seal score`: per-token loss and perplexity of a text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/run_common.h"
#include "model/engine.h"

static const char usage[] =
    "usage: seal score --model PATH --text FILE [OPTIONS]\n"
    "\n"
    "Prints the loss of every token of FILE's text under the model (the\n"
    "negative log-probability of the token given the ones before it), then the\n"
    "mean loss and the perplexity exp(mean loss). Texts longer than the window\n"
    "are scored in consecutive windows.\n"
    "\n"
    "  --model PATH     Hugging Face directory or .gguf file (required)\n"
    "  --text FILE      the text to score (required; - reads standard input)\n"
    "  --adapter DIR    apply a PEFT LoRA adapter\n"
    "  --device NAME    cpu, cpu:bf16, cpu:q8, cpu:q4, cuda[:N] or auto (default auto)\n"
    "  --window N       tokens per window (default 1024, or the model's context\n"
    "                   window when that is shorter; at most the context window)\n"
    "  --quiet          print only the summary line\n"
    "  --profile        time every backend op (each synchronised before and after;\n"
    "                   slower) and print a per-op table to stderr at the end\n"
    "  --help           this text\n";

typedef struct {
  const char *model, *text, *adapter, *device;
  int window, quiet, profile;
} score_opts;

static int parse(int argc, char **argv, score_opts *o) {
  static const cmd_option table[] = {CMD_OPT_TEXT(score_opts, model, "model"),
                                     CMD_OPT_TEXT(score_opts, text, "text"),
                                     CMD_OPT_TEXT(score_opts, adapter, "adapter"),
                                     CMD_OPT_DEVICE(score_opts, device, 1),
                                     CMD_OPT_INT(score_opts, window, "window", 2, 1 << 20),
                                     CMD_OPT_FLAG(score_opts, quiet, "quiet"),
                                     CMD_OPT_FLAG(score_opts, profile, "profile"),
                                     CMD_OPT_END};
  *o = (score_opts){.device = "auto", .window = 0};
  int rc = cmd_parse_options(argc, argv, table, o, usage, NULL);
  if (rc) return rc;
  if (!o->model || !o->text) {
    fprintf(stderr, "seal score: --model and --text are required\n\n%s", usage);
    return -1;
  }
  return 0;
}

static char *read_text(const char *path, seal_error *e) {
  if (strcmp(path, "-")) return seal_read_file(path, NULL, e);
  return seal_read_stream(stdin, "standard input", SEAL_READ_FILE_CAP, NULL, e);
}

/* Windows never reach past the model's context window: the default shrinks
 * to it, an explicit --window beyond it is refused. */
static int choose_window(const seal_engine *eng, int asked) {
  int context = seal_engine_context(eng);
  if (!asked) return context < 1024 ? context : 1024;
  if (asked > context)
    SEAL_DIE("--window %d is beyond the model's context window of %d (%s)", asked, context,
             eng->path);
  return asked;
}

void cmd_score_windows(seal_engine *eng, const seal_lora *lora, const int32_t *ids, int n,
                       int window, int quiet, double *sum, long *count) {
  seal_train_acts acts;
  seal_train_acts_create(&acts, &eng->model, window, lora ? lora->r : 0);
  int32_t *targets = seal_malloc((size_t)window * sizeof(int32_t));
  float *weights = seal_malloc((size_t)window * sizeof(float));
  float *losses = seal_malloc((size_t)window * sizeof(float));
  for (int start = 0; start + 1 < n; start += window - 1) {
    int T = n - start < window ? n - start : window;
    for (int t = 0; t < T; t++) {
      targets[t] = t + 1 < T ? ids[start + t + 1] : 0;
      weights[t] = t + 1 < T ? 1.0f : 0.0f;
    }
    seal_forward_train(&eng->model, lora, &acts, ids + start, targets, weights, 1, T);
    seal_train_losses_to_host(&eng->model, &acts, losses);
    for (int t = 0; t + 1 < T; t++) {
      *sum += losses[t];
      ++*count;
      if (quiet) continue;
      char *piece = seal_tokenizer_decode(eng->tok, &ids[start + t + 1], 1, 0);
      for (char *p = piece; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
      printf("%6d %8d %9.4f  %s\n", start + t + 1, ids[start + t + 1], losses[t], piece);
      free(piece);
    }
    if (start + T >= n) break;
  }
  free(targets);
  free(weights);
  free(losses);
  seal_train_acts_free(&acts, &eng->model);
}

int cmd_score(int argc, char **argv) {
  score_opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc > 0 ? SEAL_EXIT_OK : SEAL_EXIT_USAGE;
  seal_error e;
  char *text = read_text(o.text, &e);
  if (!text) SEAL_DIE_ERR(&e);
  seal_engine eng;
  seal_lora lora, *lp = cmd_open_model(o.model, o.device, o.profile, o.adapter, &eng, &lora);
  int32_t *ids;
  int n = seal_engine_encode_prompt(&eng, text, &ids);
  if (n < 2) SEAL_DIE("%s: the text has %d token(s); at least 2 are needed to score", o.text, n);
  int window = choose_window(&eng, o.window);
  if (window < 2) SEAL_DIE("%s: a context window of %d cannot score a token", o.model, window);
  if (!o.quiet) printf("%6s %8s %9s  %s\n", "pos", "token", "loss", "text");
  double sum = 0, t0 = seal_now();
  long count = 0;
  cmd_score_windows(&eng, lp, ids, n, window, o.quiet, &sum, &count);
  double secs = seal_now() - t0;
  printf("tokens %ld  mean loss %.4f  perplexity %.3f  (%.0f tokens/s on %s)\n", count,
         sum / (double)count, exp(sum / (double)count), (double)n / secs, eng.be->name);
  free(ids);
  free(text);
  if (lp) seal_lora_free(lp);
  seal_engine_close(&eng);
  return 0;
}
