/* kernels/cpu/threads.c — the CPU backend's thread counts (threads.h). */
#include "kernels/cpu/threads.h"

#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* OpenBLAS's own setter (cblas.h declares it only in newer versions). With the
 * OpenMP build seal prefers it also sets OpenMP's count; the pthread build has
 * a pool of its own that only this call sizes. */
void openblas_set_num_threads(int num_threads);

/* The leading positive integer of an environment value ("4", "4,2", "2(x3)"),
 * or 0 when it has none: an unset or unusable value counts as not chosen. */
static int leading_count(const char *s) {
  if (!s) return 0;
  char *end;
  long v = strtol(s, &end, 10);
  return end != s && v > 0 && v < 1 << 20 ? (int)v : 0;
}

/* The ranks on this node, and which source said so. */
static int local_ranks(const seal_cpu_thread_env *env, const char **source) {
  const struct {
    int n;
    const char *name;
  } sources[] = {
      {env->mpi_local_ranks, "MPI"},
      {leading_count(env->ompi_local_size), "OMPI_COMM_WORLD_LOCAL_SIZE"},
      {leading_count(env->mpi_localnranks), "MPI_LOCALNRANKS"},
      {leading_count(env->slurm_ntasks_per_node), "SLURM_NTASKS_PER_NODE"},
  };
  for (size_t i = 0; i < sizeof sources / sizeof *sources; i++)
    if (sources[i].n > 0) {
      *source = sources[i].name;
      return sources[i].n;
    }
  *source = NULL;
  return 1;
}

void seal_cpu_thread_plan_make(const seal_cpu_thread_env *env, seal_cpu_thread_plan *plan) {
  const char *source;
  plan->local_ranks = local_ranks(env, &source);
  plan->blas_follows = leading_count(env->openblas_num_threads) == 0;
  plan->threads = 0;
  if (leading_count(env->omp_num_threads)) {
    snprintf(plan->why, sizeof plan->why, "OMP_NUM_THREADS=%s", env->omp_num_threads);
    return;
  }
  int cores = env->cores > 0 ? env->cores : 1;
  int n = cores / plan->local_ranks;
  int len =
      snprintf(plan->why, sizeof plan->why, "%d core(s) / %d rank(s) on this node%s%s%s", cores,
               plan->local_ranks, source ? " (" : "", source ? source : "", source ? ")" : "");
  if (env->allowed_cores > 0 && env->allowed_cores < n) {
    n = env->allowed_cores;
    len += snprintf(plan->why + len, sizeof plan->why - (size_t)len, ", bound to %d CPU(s)", n);
  }
  int per_task = leading_count(env->slurm_cpus_per_task);
  if (per_task > 0 && per_task < n) {
    n = per_task;
    snprintf(plan->why + len, sizeof plan->why - (size_t)len, ", SLURM_CPUS_PER_TASK=%d", n);
  }
  plan->threads = n > 0 ? n : 1;
}

void seal_cpu_thread_env_read(seal_cpu_thread_env *env, int mpi_local_ranks) {
  env->omp_num_threads = getenv("OMP_NUM_THREADS");
  env->openblas_num_threads = getenv("OPENBLAS_NUM_THREADS");
  env->ompi_local_size = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  env->mpi_localnranks = getenv("MPI_LOCALNRANKS");
  env->slurm_ntasks_per_node = getenv("SLURM_NTASKS_PER_NODE");
  env->slurm_cpus_per_task = getenv("SLURM_CPUS_PER_TASK");
  env->mpi_local_ranks = mpi_local_ranks;
  env->cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
  cpu_set_t set;
  env->allowed_cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
}

void seal_cpu_threads_set(int threads) {
  if (!leading_count(getenv("OPENBLAS_NUM_THREADS"))) openblas_set_num_threads(threads);
  omp_set_num_threads(threads);
}

int seal_cpu_threads_setup(int mpi_local_ranks, char *line, size_t line_size) {
  seal_cpu_thread_env env;
  seal_cpu_thread_env_read(&env, mpi_local_ranks);
  seal_cpu_thread_plan plan;
  seal_cpu_thread_plan_make(&env, &plan);
  int threads = plan.threads > 0 ? plan.threads : omp_get_max_threads();
  seal_cpu_threads_set(threads);
  if (line) {
    if (plan.blas_follows)
      snprintf(line, line_size, "%d OpenMP thread(s) (%s), OpenBLAS the same", threads, plan.why);
    else
      snprintf(line, line_size, "%d OpenMP thread(s) (%s), OpenBLAS OPENBLAS_NUM_THREADS=%s",
               threads, plan.why, env.openblas_num_threads);
  }
  return threads;
}
