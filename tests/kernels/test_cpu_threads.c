/* tests/kernels/test_cpu_threads.c — the CPU backend's thread counts: the
 * node's cores shared among the ranks on it unless the user chose (issue 15). */
#include <check.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/threads.h"

int openblas_get_num_threads(void);
void openblas_set_num_threads(int num_threads);

/* A process alone on a machine with `cores` cores, nothing set. */
static seal_cpu_thread_env alone(int cores) {
  return (seal_cpu_thread_env){.cores = cores, .allowed_cores = cores};
}

static seal_cpu_thread_plan plan_for(const seal_cpu_thread_env *env) {
  seal_cpu_thread_plan p;
  seal_cpu_thread_plan_make(env, &p);
  return p;
}

START_TEST(a_process_alone_takes_every_core) {
  seal_cpu_thread_env env = alone(2);
  seal_cpu_thread_plan p = plan_for(&env);
  ck_assert_int_eq(p.threads, 2);
  ck_assert_int_eq(p.local_ranks, 1);
  ck_assert(p.blas_follows);
}
END_TEST

START_TEST(ranks_on_a_node_share_its_cores) {
  seal_cpu_thread_env env = alone(2);
  env.ompi_local_size = "2"; /* mpirun -np 2 on this 2-core machine */
  ck_assert_int_eq(plan_for(&env).threads, 1);
  env = alone(16);
  env.ompi_local_size = "3";
  ck_assert_int_eq(plan_for(&env).threads, 5);
  ck_assert_ptr_nonnull(strstr(plan_for(&env).why, "16 core(s) / 3 rank(s)"));
  env = alone(16);
  env.mpi_localnranks = "4"; /* MPICH */
  ck_assert_int_eq(plan_for(&env).threads, 4);
  env = alone(16);
  env.slurm_ntasks_per_node = "8";
  ck_assert_int_eq(plan_for(&env).threads, 2);
  env = alone(2);
  env.ompi_local_size = "8"; /* more ranks than cores: one each */
  ck_assert_int_eq(plan_for(&env).threads, 1);
}
END_TEST

START_TEST(mpi_s_own_count_comes_first) {
  seal_cpu_thread_env env = alone(12);
  env.ompi_local_size = "2";
  env.mpi_local_ranks = 3;
  seal_cpu_thread_plan p = plan_for(&env);
  ck_assert_int_eq(p.local_ranks, 3);
  ck_assert_int_eq(p.threads, 4);
}
END_TEST

START_TEST(a_binding_or_a_slurm_allocation_caps_the_share) {
  seal_cpu_thread_env env = alone(16);
  env.ompi_local_size = "2";
  env.allowed_cores = 1; /* mpirun's default --bind-to core */
  ck_assert_int_eq(plan_for(&env).threads, 1);
  ck_assert_ptr_nonnull(strstr(plan_for(&env).why, "bound to 1 CPU"));
  env = alone(64);
  env.slurm_ntasks_per_node = "2";
  env.slurm_cpus_per_task = "4"; /* srun -c 4 on a node shared with other jobs */
  ck_assert_int_eq(plan_for(&env).threads, 4);
  env.allowed_cores = 64;
  env.slurm_cpus_per_task = "48"; /* more than a fair share: the share wins */
  ck_assert_int_eq(plan_for(&env).threads, 32);
}
END_TEST

START_TEST(the_user_s_choice_is_kept) {
  seal_cpu_thread_env env = alone(16);
  env.ompi_local_size = "4";
  env.omp_num_threads = "8";
  seal_cpu_thread_plan p = plan_for(&env);
  ck_assert_int_eq(p.threads, 0); /* OpenMP keeps OMP_NUM_THREADS */
  ck_assert(p.blas_follows);
  env.omp_num_threads = NULL;
  env.openblas_num_threads = "1";
  p = plan_for(&env);
  ck_assert_int_eq(p.threads, 4);
  ck_assert(!p.blas_follows);
  env.omp_num_threads = "many"; /* not a count: OpenMP ignores it, and so does the rule */
  ck_assert_int_eq(plan_for(&env).threads, 4);
}
END_TEST

/* The process's OpenMP and OpenBLAS get the plan (a test process of its own:
 * Check's fork mode). */
START_TEST(setup_applies_the_share_to_openmp_and_openblas) {
  int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
  char ranks[16];
  snprintf(ranks, sizeof ranks, "%d", cores); /* one core per rank */
  setenv("OMPI_COMM_WORLD_LOCAL_SIZE", ranks, 1);
  unsetenv("OMP_NUM_THREADS");
  unsetenv("OPENBLAS_NUM_THREADS");
  openblas_set_num_threads(cores + 1); /* what a process started with more would have */
  omp_set_num_threads(cores + 1);
  char line[320];
  ck_assert_int_eq(seal_cpu_threads_setup(0, line, sizeof line), 1);
  ck_assert_int_eq(omp_get_max_threads(), 1);
  ck_assert_int_eq(openblas_get_num_threads(), 1);
  ck_assert_ptr_nonnull(strstr(line, "1 OpenMP thread(s)"));
  ck_assert_ptr_nonnull(strstr(line, "OMPI_COMM_WORLD_LOCAL_SIZE"));
}
END_TEST

Suite *cpu_threads_suite(void) {
  Suite *s = suite_create("cpu_threads");
  TCase *tc = tcase_create("cpu_threads");
  tcase_add_test(tc, a_process_alone_takes_every_core);
  tcase_add_test(tc, ranks_on_a_node_share_its_cores);
  tcase_add_test(tc, mpi_s_own_count_comes_first);
  tcase_add_test(tc, a_binding_or_a_slurm_allocation_caps_the_share);
  tcase_add_test(tc, the_user_s_choice_is_kept);
  tcase_add_test(tc, setup_applies_the_share_to_openmp_and_openblas);
  suite_add_tcase(s, tc);
  return s;
}
