/* cmd/run_common.c — job loading, signals and MPI set-up for train and eval. */
#include <stdlib.h>
#include <string.h>

#include "cmd/run_common.h"
#include "kernels/cpu/threads.h"
#include "kernels/profile.h"

static volatile int stop_flag;

static void on_stop_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

volatile int *cmd_install_stop_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  return &stop_flag;
}

void cmd_load_job(const char *path, const char *output, const char *device, seal_job *job) {
  seal_error e;
  int rc = path ? seal_job_load(path, job, &e)
                : seal_job_parse(seal_demo_job_yaml, "jobs/demo.yaml (embedded)", job, &e);
  if (rc) SEAL_DIE_ERR(&e);
  if (output) {
    free(job->output);
    job->output = seal_strdup(output);
  }
  if (device && seal_device_parse(device, &job->device))
    SEAL_DIE(
        "--device %s: expected auto, cpu, cpu:bf16, cpu:q8, cpu:q4 or cuda (a job's ranks take their "
        "node's GPUs in turn, so cuda:N is for single-process commands)",
        device);
}

void cmd_comm_init(int *argc, char ***argv, seal_comm *comm) {
  seal_error e;
  if (seal_comm_init(argc, argv, comm, &e)) SEAL_DIE_ERR(&e);
}

void cmd_share_cores(const seal_comm *comm) {
  char line[320];
  int threads = seal_cpu_threads_setup(comm->local_size, line, sizeof line);
  seal_info("rank %d of %d, local %d of %d: %s", comm->rank, comm->size, comm->local_rank,
            comm->local_size, line);
  /* OpenBLAS's GEMMs give other bits with another thread count: a work item
   * must compute the same wherever it runs (docs/architecture.md, "Determinism"), so every rank
   * takes the smallest count of any rank (nodes of other sizes, other OMP_NUM_THREADS). */
  int fewest = threads;
  MPI_CHECK(MPI_Allreduce(&threads, &fewest, 1, MPI_INT, MPI_MIN, comm->world));
  if (fewest != threads) {
    seal_info(
        "%d OpenMP thread(s) on this rank, like the rank with the fewest (not %d), so that "
        "results do not depend on where a work item runs",
        fewest, threads);
    seal_cpu_threads_set(fewest);
  }
}

/* Profiles the run's engines, each with its own report: the one model, or the
 * teacher and the student apart (their ops run on their own backends). */
static void profile_engines(seal_run *run) {
  seal_engine_profile(&run->eng, stderr);
  if (run->student == &run->eng) return;
  seal_backend_profile_label(run->eng.be, "teacher");
  seal_engine_profile(run->student, stderr);
  seal_backend_profile_label(run->student->be, "student");
}

void cmd_run_env_open(cmd_run_env *env, int *argc, char ***argv, const char *job_path,
                      const char *output, const char *device, bool profile) {
  cmd_comm_init(argc, argv, &env->comm);
  cmd_share_cores(&env->comm);
  volatile int *stop = cmd_install_stop_signals();
  cmd_load_job(job_path, output, device, &env->job);
  seal_error e;
  if (seal_run_open(&env->run, &env->job, &env->comm, stop, &e)) SEAL_DIE_ERR(&e);
  if (profile) profile_engines(&env->run);
}

void cmd_run_env_close(cmd_run_env *env) {
  seal_run_close(&env->run);
  seal_job_free(&env->job);
  seal_comm_finalize(&env->comm);
}

seal_lora *cmd_open_model(const char *model, const char *device, bool profile, const char *adapter,
                          seal_engine *eng, seal_lora *lora) {
  seal_error e;
  if (seal_engine_open(eng, model, device, &e)) SEAL_DIE_ERR(&e);
  if (profile) seal_engine_profile(eng, stderr);
  if (!adapter) return NULL;
  if (seal_lora_load_peft(lora, &eng->model, adapter, &e)) SEAL_DIE_ERR(&e);
  return lora;
}
