/* kernels/cpu/threads.h — how many threads the CPU backend's OpenMP loops and
 * OpenBLAS's GEMMs use, decided in one place (issue 15 item 3). Several ranks
 * on one node (mpirun -np 2 on a 2-core machine, Slurm with several tasks per
 * node) would otherwise each start a thread per core, and every OpenMP region
 * would wait for threads the machine cannot run at once. */
#ifndef SEAL_KERNELS_CPU_THREADS_H
#define SEAL_KERNELS_CPU_THREADS_H

#include <stdbool.h>
#include <stddef.h>

/* What the rule looks at. Strings are environment values, NULL when unset. */
typedef struct {
  const char *omp_num_threads;       /* OMP_NUM_THREADS: the user chose */
  const char *openblas_num_threads;  /* OPENBLAS_NUM_THREADS: the user chose for OpenBLAS */
  const char *ompi_local_size;       /* OMPI_COMM_WORLD_LOCAL_SIZE (Open MPI) */
  const char *mpi_localnranks;       /* MPI_LOCALNRANKS (MPICH's Hydra) */
  const char *slurm_ntasks_per_node; /* SLURM_NTASKS_PER_NODE */
  const char *slurm_cpus_per_task;   /* SLURM_CPUS_PER_TASK */
  int mpi_local_ranks;               /* ranks on this node as MPI counted them; 0 unknown */
  int cores;                         /* the node's online cores */
  int allowed_cores;                 /* CPUs this process may run on (affinity); 0 unknown */
} seal_cpu_thread_env;

/* What the rule decided. */
typedef struct {
  int threads;       /* OpenMP threads to set; 0: OMP_NUM_THREADS decides */
  bool blas_follows; /* OpenBLAS gets the OpenMP count too (false: OPENBLAS_NUM_THREADS) */
  int local_ranks;   /* the ranks on this node the cores were shared among */
  char why[160];     /* how `threads` came about, for the log */
} seal_cpu_thread_plan;

/* The rule. With OMP_NUM_THREADS set, OpenMP keeps the user's count. Otherwise
 * each rank takes the node's cores divided by the ranks on the node (MPI's own
 * count when known, else the launcher's variables above), no more than the
 * CPUs its affinity mask allows (mpirun --bind-to core, a Slurm CPU binding)
 * and no more than SLURM_CPUS_PER_TASK, and at least 1. OpenBLAS takes the
 * same count unless OPENBLAS_NUM_THREADS is set. Pure: testable with any inputs. */
void seal_cpu_thread_plan_make(const seal_cpu_thread_env *env, seal_cpu_thread_plan *plan);

/* This process's environment, cores and affinity; mpi_local_ranks as given. */
void seal_cpu_thread_env_read(seal_cpu_thread_env *env, int mpi_local_ranks);

/* Reads the environment, makes the plan and applies it to OpenMP and
 * OpenBLAS; line gets a sentence for the rank's start-up log ("2 OpenMP
 * threads (2 cores / 1 rank on this node), OpenBLAS the same"). Returns the
 * OpenMP thread count now in effect. */
int seal_cpu_threads_setup(int mpi_local_ranks, char *line, size_t line_size);

/* Sets OpenMP's count, and OpenBLAS's unless OPENBLAS_NUM_THREADS is set. */
void seal_cpu_threads_set(int threads);

#endif
