/* cmd/eval.c — `seal eval`: the evaluation protocols and baselines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/run_common.h"
#include "trainer/evaluate.h"
#include "trainer/labelfree_report.h"

static const char usage[] =
    "usage: seal eval [JOB.yaml] [OPTIONS]\n"
    "\n"
    "Scores, on the job's evaluation passages, the base model, an inner loop on\n"
    "the passage alone, and the policy after each ReST-EM round in the run's\n"
    "checkpoint (round 0: self-edits without RL), by the job's protocols:\n"
    "single-passage (n=1: one inner loop per passage) and/or continued-pretraining\n"
    "(n=N: one LoRA on N passages' self-edits) and/or continual (sequences of\n"
    "passages, each self-edited, trained and merged in turn; the matrix of\n"
    "accuracy after each update on every passage seen, OUTPUT/continual-*.svg).\n"
    "Prints a table and writes\n"
    "OUTPUT/eval.json, eval events in\n"
    "OUTPUT/metrics.jsonl and OUTPUT/plot.svg. Then, for each ReST-EM round of\n"
    "the checkpoint, how well each label-free reward (self-certainty, entropy,\n"
    "majority where recorded) of its scored self-edits tracks their labelled\n"
    "reward: Spearman, Kendall and best-of-k choice agreement (docs/labelfree.md;\n"
    "also under \"labelfree\" in eval.json's seal-round-t rows). Without JOB.yaml\n"
    "the embedded demo job is used.\n"
    "\n"
    "  --output DIR    override the job's output directory (where the checkpoint is)\n"
    "  --device NAME   cpu, cpu:bf16, cpu:q8, cpu:q4, cuda[:N] or auto\n"
    "  --rounds N      evaluate at most N policy rounds (default: all in the checkpoint)\n"
    "  --profile       time every backend op (each synchronised before and after;\n"
    "                  slower); every rank prints a per-op table to stderr at the end\n"
    "  --help          this text\n"
    "\n"
    "SIGTERM or SIGUSR1 stop it with status 3.\n"
    "Exit status: 0 done, 1 error (on any rank: every rank is ended), 2 bad\n"
    "command line, 3 stopped by a signal.\n";

typedef struct {
  const char *job, *output, *device;
  int max_round, profile;
} eval_opts;

/* The continual protocol's matrices: printed, and drawn beside the round plot
 * as OUTPUT/continual-CONDITION.svg (continual-guard-CONDITION.svg guarded). */
static void print_continual(const char *dir, const seal_eval_row *rows, int n) {
  for (int i = 0; i < n; i++) {
    const seal_continual_matrix *m = rows[i].continual;
    if (!m) continue;
    printf("\n%s, %s, %d passages per sequence\n", rows[i].condition, rows[i].protocol, m->N);
    seal_continual_print(stdout, m);
    char *name = seal_asprintf("%s-%s.svg", rows[i].protocol, rows[i].condition);
    for (char *c = name; *c; c++)
      if (*c == '+') *c = '-'; /* continual+guard */
    char *svg = seal_path_join(dir, name);
    seal_error e;
    if (seal_continual_write_svg(m, svg, &e))
      seal_warn("heatmap: %s", e.msg);
    else
      printf("wrote %s\n", svg);
    free(name);
    free(svg);
  }
}

int cmd_eval(int argc, char **argv) {
  static const cmd_option table[] = {CMD_OPT_TEXT(eval_opts, output, "output"),
                                     CMD_OPT_DEVICE(eval_opts, device, 0),
                                     CMD_OPT_INT(eval_opts, max_round, "rounds", 0, 1000000),
                                     CMD_OPT_FLAG(eval_opts, profile, "profile"), CMD_OPT_END};
  eval_opts o = {.max_round = -1};
  int parsed = cmd_parse_options(argc, argv, table, &o, usage, &o.job);
  if (parsed) return parsed > 0 ? SEAL_EXIT_OK : SEAL_EXIT_USAGE;
  cmd_run_env env;
  cmd_run_env_open(&env, &argc, &argv, o.job, o.output, o.device, o.profile);
  seal_run *run = &env.run;
  seal_error e;
  if (seal_file_exists(run->ckpt_path)) {
    if (seal_run_resume_state_only(run, &e)) SEAL_DIE_ERR(&e);
  } else if (env.comm.rank == 0) {
    seal_warn("%s does not exist: evaluating the base model and its self-edits only",
              run->ckpt_path);
  }
  seal_eval_row *rows = NULL;
  int n = 0;
  int rc = seal_evaluate(run, o.max_round, &rows, &n, &e);
  if (rc < 0) SEAL_DIE_ERR(&e);
  if (env.comm.rank == 0 && rc == 0) {
    int k = run->job->selfedit.k, repeats = run->job->repeats;
    seal_labelfree_attach(&run->st, k, repeats, rows, n);
    seal_eval_models models = seal_eval_models_of(run);
    seal_eval_print(stdout, run->job->task, &models, rows, n);
    print_continual(run->dir, rows, n);
    seal_labelfree_print(stdout, &run->st, k, repeats);
    char *json = seal_path_join(run->dir, "eval.json"), *svg = seal_path_join(run->dir, "plot.svg");
    if (seal_eval_write_json(json, run->job->task, &models, rows, n, &e)) seal_warn("%s", e.msg);
    if (seal_metrics_plot(run->metrics_path, svg, &e)) seal_warn("plot: %s", e.msg);
    printf("wrote %s and %s\n", json, svg);
    free(json);
    free(svg);
  }
  seal_eval_rows_free(rows, n);
  cmd_run_env_close(&env);
  return rc == 0 ? SEAL_EXIT_OK : SEAL_EXIT_PREEMPTED;
}
