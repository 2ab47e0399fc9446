/* cmd/eval.c — `seal eval`: the evaluation protocols and baselines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/run_common.h"
#include "trainer/evaluate.h"

static const char usage[] =
    "usage: seal eval [JOB.yaml] [OPTIONS]\n"
    "\n"
    "Scores, on the job's evaluation passages, the base model, an inner loop on\n"
    "the passage alone, and the policy after each ReST-EM round in the run's\n"
    "checkpoint (round 0: self-edits without RL), by the job's protocols:\n"
    "single-passage (n=1: one inner loop per passage) and/or continued-pretraining\n"
    "(n=N: one LoRA on N passages' self-edits). Prints a table and writes\n"
    "OUTPUT/eval.json, eval events in\n"
    "OUTPUT/metrics.jsonl and OUTPUT/plot.svg. Without JOB.yaml the embedded demo\n"
    "job is used.\n"
    "\n"
    "  --output DIR    override the job's output directory (where the checkpoint is)\n"
    "  --device NAME   cpu, cuda or auto\n"
    "  --rounds N      evaluate at most N policy rounds (default: all in the checkpoint)\n"
    "  --profile       time every backend op (each synchronised before and after;\n"
    "                  slower); every rank prints a per-op table to stderr at the end\n"
    "  --help          this text\n"
    "\n"
    "SIGTERM or SIGUSR1 stop it with status 3.\n"
    "Exit status: 0 done, 1 error (on any rank: every rank is ended), 2 bad\n"
    "command line, 3 stopped by a signal.\n";

int cmd_eval(int argc, char **argv) {
  static const struct option opts[] = {
      {"output", required_argument, 0, 'o'}, {"device", required_argument, 0, 'd'},
      {"rounds", required_argument, 0, 'n'}, {"profile", no_argument, 0, 'P'},
      {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
  const char *output = NULL, *device = NULL, *job_path = NULL;
  int max_round = -1, profile = 0;
  for (int c; (c = cmd_next_option_arg(argc, argv, opts, usage, &job_path)) != -2;) {
    switch (c) {
      case 'o':
        output = optarg;
        break;
      case 'd':
        device = cmd_parse_device(optarg, false);
        break;
      case 'P':
        profile = 1;
        break;
      case 'n':
        max_round = (int)cmd_parse_long("rounds", optarg, 0, 1000000);
        break;
      case 'h':
        fputs(usage, stdout);
        return 0;
      default:
        return SEAL_EXIT_USAGE;
    }
  }
  cmd_run_env env;
  cmd_run_env_open(&env, &argc, &argv, job_path, output, device, profile);
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
  int rc = seal_evaluate(run, max_round, &rows, &n, &e);
  if (rc < 0) SEAL_DIE_ERR(&e);
  if (env.comm.rank == 0 && rc == 0) {
    seal_eval_print(stdout, run->job->task, rows, n);
    char *json = seal_path_join(run->dir, "eval.json"), *svg = seal_path_join(run->dir, "plot.svg");
    if (seal_eval_write_json(json, run->job->task, rows, n, &e)) seal_warn("%s", e.msg);
    if (seal_metrics_plot(run->metrics_path, svg, &e)) seal_warn("plot: %s", e.msg);
    printf("wrote %s and %s\n", json, svg);
    free(json);
    free(svg);
  }
  seal_eval_rows_free(rows, n);
  cmd_run_env_close(&env);
  return rc == 0 ? SEAL_EXIT_OK : SEAL_EXIT_PREEMPTED;
}
