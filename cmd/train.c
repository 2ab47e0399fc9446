/* cmd/train.c — `seal train`: a SEAL run, on one process or many (mpirun, srun). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/run_common.h"
#include "trainer/checkpoint.h"
#include "trainer/run.h"

static const char usage[] =
    "usage: seal train [JOB.yaml] [OPTIONS]\n"
    "       mpirun -np N seal train JOB.yaml [OPTIONS]\n"
    "\n"
    "Runs SEAL's outer loop (ReST-EM) for the job's rounds: each round samples\n"
    "passages, generates k self-edits each, scores every self-edit by an inner\n"
    "LoRA fine-tune and a quiz, keeps the best per passage and fine-tunes the\n"
    "policy on them. Without JOB.yaml the embedded demo job (jobs/demo.yaml)\n"
    "runs. Work is spread over the MPI ranks; rank 0 writes OUTPUT/checkpoint.h5\n"
    "(HDF5) after each phase and as results arrive, and OUTPUT/metrics.jsonl.\n"
    "\n"
    "  --resume        continue from OUTPUT/checkpoint.h5 (fresh start if absent)\n"
    "  --restart       start over although OUTPUT/checkpoint.h5 exists (it is kept as\n"
    "                  checkpoint.h5.prev, metrics.jsonl as metrics.jsonl.prev)\n"
    "  --output DIR    override the job's output directory\n"
    "  --device NAME   override the job's device: cpu, cpu:bf16, cpu:q8, cpu:q4, cuda[:N] or auto\n"
    "  --profile       time every backend op (each synchronised before and after;\n"
    "                  slower); every rank prints a per-op table to stderr at the end\n"
    "  --help          this text\n"
    "\n"
    "SIGTERM or SIGUSR1 make the run checkpoint at the next safe point and exit\n"
    "with status 3, which slurm/*.sbatch requeue on; --resume continues it.\n"
    "Exit status: 0 finished, 1 error (on any rank: every rank is ended), 2 bad\n"
    "command line, 3 stopped by a signal and resumable.\n";

typedef struct {
  const char *job, *output, *device;
  int resume, restart, profile;
} train_opts;

int cmd_train(int argc, char **argv) {
  static const cmd_option table[] = {
      CMD_OPT_FLAG(train_opts, resume, "resume"),   CMD_OPT_FLAG(train_opts, restart, "restart"),
      CMD_OPT_TEXT(train_opts, output, "output"),   CMD_OPT_DEVICE(train_opts, device, 0),
      CMD_OPT_FLAG(train_opts, profile, "profile"), CMD_OPT_END};
  train_opts o = {0};
  int parsed = cmd_parse_options(argc, argv, table, &o, usage, &o.job);
  if (parsed) return parsed > 0 ? SEAL_EXIT_OK : SEAL_EXIT_USAGE;
  int resume = o.resume, restart = o.restart;
  if (resume && restart) {
    fprintf(stderr, "seal train: --resume and --restart contradict each other\n\n%s", usage);
    return SEAL_EXIT_USAGE;
  }
  cmd_run_env env;
  cmd_run_env_open(&env, &argc, &argv, o.job, o.output, o.device, o.profile);
  seal_run *run = &env.run;
  seal_error e;
  /* A finished or interrupted run is never overwritten by accident. */
  if (!resume && seal_file_exists(run->ckpt_path)) {
    if (!restart)
      SEAL_DIE(
          "%s exists: pass --resume to continue that run, or --restart to start "
          "over (the old checkpoint is then kept as .prev)",
          run->ckpt_path);
    if (env.comm.rank == 0) seal_metrics_rotate(&run->metrics, run->metrics_path);
  }
  if (resume && seal_file_exists(run->ckpt_path) && seal_run_resume(run, &e)) SEAL_DIE_ERR(&e);
  int rc = seal_run_train(run);
  if (env.comm.rank == 0 && rc == 0) {
    char *svg = seal_path_join(run->dir, "plot.svg");
    if (seal_metrics_plot(run->metrics_path, svg, &e)) seal_warn("plot: %s", e.msg);
    printf("run finished: %s (seal inspect %s)\n", run->ckpt_path, run->ckpt_path);
    free(svg);
  }
  cmd_run_env_close(&env);
  return rc;
}
