/* cmd/export.c — `seal export CHECKPOINT`: a run's policy as one PEFT adapter or
 * as a merged Hugging Face checkpoint (docs/export.md). */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "trainer/export.h"

static const char usage[] =
    "usage: seal export CHECKPOINT --peft DIR [--rounds N]\n"
    "       seal export CHECKPOINT --merged DIR [--model BASE] [--dtype f32|bf16] [--rounds N]\n"
    "\n"
    "Writes the policy a run reached after its first N finished rounds (default:\n"
    "all of them) in a form other tools load (docs/export.md):\n"
    "\n"
    "  --peft DIR     one PEFT LoRA adapter (adapter_model.safetensors and\n"
    "                 adapter_config.json) holding the sum of the rounds' updates:\n"
    "                 rank = the sum of the rounds' ranks, scale 1. Load it with PEFT\n"
    "                 or vLLM on top of the run's base model.\n"
    "  --merged DIR   the base model with the rounds merged into its weights, as a\n"
    "                 Hugging Face directory (config.json, model.safetensors, and the\n"
    "                 base's tokenizer files when the base is a Hugging Face directory)\n"
    "\n"
    "Options:\n"
    "  --rounds N     export the policy after rounds 0..N-1 (1 <= N <= finished rounds)\n"
    "  --model BASE   the base model for --merged (default: the checkpoint's base path)\n"
    "  --dtype T      weights of --merged in f32 (default) or bf16\n"
    "  -h, --help     show this help\n";

typedef struct {
  const char *ckpt, *peft, *merged, *model;
  int rounds;
  seal_export_dtype dtype;
} export_opts;

static int parse_dtype(const char *v, void *field) {
  seal_export_dtype *d = field;
  if (!strcmp(v, "f32") || !strcmp(v, "float32")) return *d = SEAL_EXPORT_F32, 0;
  if (!strcmp(v, "bf16") || !strcmp(v, "bfloat16")) return *d = SEAL_EXPORT_BF16, 0;
  fprintf(stderr, "seal export: --dtype must be f32 or bf16, not '%s'\n", v);
  return -1;
}

/* 0: run; 1: help printed; -1: bad usage (message printed). */
static int parse(int argc, char **argv, export_opts *o) {
  static const cmd_option table[] = {CMD_OPT_TEXT(export_opts, peft, "peft"),
                                     CMD_OPT_TEXT(export_opts, merged, "merged"),
                                     CMD_OPT_TEXT(export_opts, model, "model"),
                                     CMD_OPT_INT(export_opts, rounds, "rounds", 1, 1000000),
                                     CMD_OPT_CUSTOM(export_opts, dtype, "dtype", parse_dtype),
                                     CMD_OPT_END};
  /* dtype starts as an impossible value, to tell whether --dtype was given. */
  *o = (export_opts){.rounds = SEAL_EXPORT_ALL_ROUNDS, .dtype = (seal_export_dtype)-1};
  int rc = cmd_parse_options(argc, argv, table, o, usage, &o->ckpt);
  if (rc) return rc;
  bool dtype_given = o->dtype != (seal_export_dtype)-1;
  if (!dtype_given) o->dtype = SEAL_EXPORT_F32;
  const char *problem = NULL;
  if (!o->ckpt)
    problem = "which checkpoint? (no file given)";
  else if (!o->peft == !o->merged)
    problem = "give exactly one of --peft DIR and --merged DIR";
  else if (o->peft && o->model)
    problem = "--model goes with --merged (a PEFT adapter does not contain the base)";
  else if (o->peft && dtype_given)
    problem = "--dtype goes with --merged (adapters are written in float32)";
  if (problem) {
    fprintf(stderr, "seal export: %s\n\n%s", problem, usage);
    return -1;
  }
  return 0;
}

int cmd_export(int argc, char **argv) {
  export_opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc > 0 ? SEAL_EXIT_OK : SEAL_EXIT_USAGE;
  seal_error e = {{0}};
  const char *dir = o.peft ? o.peft : o.merged;
  rc = o.peft ? seal_export_checkpoint_peft(o.ckpt, o.rounds, o.peft, &e)
              : seal_export_checkpoint_merged(o.ckpt, o.rounds, o.model, o.merged, o.dtype, &e);
  if (rc) {
    fprintf(stderr, "seal export: %s\n", e.msg);
    return SEAL_EXIT_ERROR;
  }
  printf("wrote %s %s\n", o.peft ? "PEFT adapter" : "merged checkpoint", dir);
  return 0;
}
