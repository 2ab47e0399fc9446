/* trainer/run.c — opening, resuming and checkpointing a SEAL run. The rounds
 * themselves are in trainer/round.c. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "trainer/checkpoint.h"
#include "trainer/resume_check.h"
#include "trainer/run.h"

int seal_run_contexts(const seal_run *run, int round, int *ids) {
  int n_all = run->domain.ops->n_contexts(&run->domain, SEAL_SPLIT_TRAIN);
  int n = run->job->data.contexts_per_round < n_all ? run->job->data.contexts_per_round : n_all;
  int *perm = seal_malloc((size_t)n_all * sizeof(int));
  for (int i = 0; i < n_all; i++) perm[i] = i;
  seal_rng rng;
  /* the stream sits in the context slot: the draw is the round's, not a context's */
  seal_rng_seed(&rng,
                seal_seed_derive(run->job->seed, (uint64_t)round, SEAL_STREAM_CONTEXTS, 0, 0));
  for (int i = n_all - 1; i > 0; i--) {
    int j = (int)(seal_rng_u64(&rng) % (uint64_t)(i + 1));
    int t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  memcpy(ids, perm, (size_t)n * sizeof(int));
  free(perm);
  return n;
}

static const char *arch_name(seal_arch a) { return a == SEAL_ARCH_QWEN2 ? "qwen2" : "llama"; }

/* Rank 0 records what the run's results depend on, for seal_run_check_resume:
 * the models' files and the training data, by content. */
static void hash_inputs(seal_run *run) {
  seal_error e;
  const seal_job *job = run->job;
  if (seal_hash_model_files(job->model, run->st.model_fnv1a, &e))
    seal_warn("the model's files are not hashed (a resume cannot compare them): %s", e.msg);
  if (run->st.has_teacher && seal_hash_model_files(job->teacher, run->st.teacher.files_fnv1a, &e))
    seal_warn("the teacher's files are not hashed (a resume cannot compare them): %s", e.msg);
  char *yaml = seal_job_to_yaml(job);
  if (seal_hash_train_data(yaml, run->st.train_fnv1a, &e))
    seal_warn("the training data is not hashed (a resume cannot compare it): %s", e.msg);
  free(yaml);
}

/* What the checkpoint records of the model eng, read from path, on device. */
static void record_model(seal_model_record *m, const seal_engine *eng, const char *path,
                         const char *device) {
  const seal_model_config *c = &eng->model.cfg;
  seal_run_state_set_string(&m->path, path);
  snprintf(m->architecture, sizeof m->architecture, "%s", arch_name(c->arch));
  snprintf(m->device, sizeof m->device, "%s", device);
  m->hidden = c->hidden;
  m->n_layers = c->n_layers;
  m->n_heads = c->n_heads;
  m->n_kv_heads = c->n_kv_heads;
  m->vocab_size = c->vocab_size;
  m->intermediate = c->intermediate;
}

static void init_state(seal_run *run) {
  seal_run_state *st = &run->st;
  seal_run_state_init(st);
  char *yaml = seal_job_to_yaml(run->job);
  seal_run_state_set_string(&st->job_yaml, yaml);
  free(yaml);
  st->run_seed = run->job->seed;
  st->world_size = run->comm->size;
  seal_model_record m = {0}; /* /model: the job's model */
  record_model(&m, run->student, run->job->model, run->student_device);
  seal_run_state_set_model(st, &m);
  free(m.path);
  if (run->student != &run->eng) {
    st->has_teacher = 1;
    record_model(&st->teacher, &run->eng, run->job->teacher, run->device);
  }
  if (run->comm->rank == 0) hash_inputs(run);
  st->lora_r = run->job->rest_em.lora.r;
  st->lora_alpha = (float)run->job->rest_em.lora.alpha;
  snprintf(st->phase, sizeof st->phase, "init");
}

/* The task's data (and its own models) on this rank's device (the job's `device`). */
static int open_task(seal_run *run, seal_error *e) {
  const seal_job *job = run->job;
  if (seal_domain_open(&run->domain, job->task, job->task_settings, run->student_device, e))
    return -1;
  if (job->rounds > 0 && run->domain.ops->n_contexts(&run->domain, SEAL_SPLIT_TRAIN) == 0)
    return seal_errorf(e, "%s: task %s has no training contexts to train on", job->source,
                       job->task->name);
  return 0;
}

/* "cpu" ("cpu:bf16", "cpu:q8", "cpu:q4"), or the GPU of this rank on its node ("cuda:N") when
 * `want` is a GPU: ranks of a node take its GPUs in turn by local rank. */
static char *rank_device(seal_device want_device, const seal_comm *comm) {
  const char *want = seal_device_name(want_device);
  if (!strncmp(want, "cpu", 3)) return seal_strdup(want); /* cpu, cpu:bf16, cpu:q8 or cpu:q4 */
#ifdef SEAL_HAVE_CUDA
  int count = seal_cuda_device_count();
  if (count > 0) return seal_asprintf("cuda:%d", seal_comm_gpu_for_rank(comm, count));
#else
  (void)comm;
#endif
  /* "cuda" without a GPU fails with the backend's own message; auto means cpu */
  return seal_strdup(!strcmp(want, "auto") ? "cpu" : want);
}

static void bind_rank_thread(void *user) {
  seal_run *run = user;
  run->eng.be->ops->bind_thread(run->eng.be);
  if (run->student != &run->eng) run->student->be->ops->bind_thread(run->student->be);
}

seal_workqueue_opts seal_run_queue_opts(seal_run *run) {
  seal_workqueue_opts o = {.max_attempts = 2,
                           .stop = run->stop,
                           .local_thread_init = bind_rank_thread,
                           .local_thread_user = run};
  return o;
}

/* seal_run_reduce_grads over the buffers of backend be (the policy's or the student's). */
static void reduce_on(seal_run *run, seal_backend *be, float *grads, size_t n, bool on_backend) {
  seal_comm *c = run->comm;
  seal_error e;
  if (c->size == 1) return;
  if (run->nccl && on_backend && strcmp(be->name, "cpu")) {
    be->ops->synchronize(be); /* the gradients are complete before NCCL reads them */
    if (seal_allreduce_sum_f32_device(run->nccl, grads, n, NULL, &e))
      SEAL_DIE("gradient all-reduce (NCCL): %s", e.msg);
    return;
  }
  float *host = grads;
  if (on_backend && strcmp(be->name, "cpu")) {
    if (run->grad_host_cap < n) {
      free(run->grad_host);
      run->grad_host = seal_malloc(n * sizeof(float));
      run->grad_host_cap = n;
    }
    host = run->grad_host;
    be->ops->to_host(be, host, grads, SEAL_F32, n);
  }
  if (seal_allreduce_sum_f32(c, host, n, &e)) SEAL_DIE("gradient all-reduce: %s", e.msg);
  if (host != grads) be->ops->to_device(be, grads, SEAL_F32, host, n);
}

void seal_run_reduce_grads(void *user, float *grads, size_t n, bool on_backend) {
  seal_run *run = user;
  reduce_on(run, run->eng.be, grads, n, on_backend);
}

void seal_run_reduce_student_grads(void *user, float *grads, size_t n, bool on_backend) {
  seal_run *run = user;
  reduce_on(run, run->student->be, grads, n, on_backend);
}

/* The run directory's lock: an exclusive flock on DIR/seal.lock, held by rank 0
 * for the run's life (the kernel drops it when the process ends, however it
 * ends), with the holder's host and PID written into the file so that a second
 * run can say who holds it. `seal train` and `seal eval` both take it: each
 * writes metrics.jsonl, plot.svg and the checkpoint or eval.json there. */
static int lock_run_dir(seal_run *run, seal_error *e) {
  char *lock = seal_path_join(run->dir, "seal.lock");
  int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0 && fd < 3) { /* never fd 0-2, which `0 = no lock` could mistake */
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    fd = moved;
  }
  if (fd < 0) {
    int rc = seal_errorf(e, "%s: cannot create the run's lock file: %s", lock, strerror(errno));
    free(lock);
    return rc;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err == ENOLCK || err == EINVAL || err == ENOTSUP) { /* e.g. NFS without locking */
      seal_warn(
          "%s: cannot lock the run directory (%s): nothing stops a second run from "
          "writing into it",
          run->dir, strerror(err));
      close(fd);
      free(lock);
      return 0;
    }
    char holder[128] = "";
    ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
    holder[n > 0 ? n : 0] = '\0';
    holder[strcspn(holder, "\n")] = '\0';
    close(fd);
    int rc = seal_errorf(e,
                         "%s is in use by another seal run (%s holds %s); wait for it to end or "
                         "give this run another --output",
                         run->dir, holder[0] ? holder : "a process that wrote no PID", lock);
    free(lock);
    return rc;
  }
  char host[64] = "?", who[128];
  gethostname(host, sizeof host);
  host[sizeof host - 1] = '\0';
  int len = snprintf(who, sizeof who, "PID %ld on %s\n", (long)getpid(), host);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, who, (size_t)len, 0) != len)
    seal_warn("%s: cannot write the PID into the lock file: %s", lock, strerror(errno));
  run->lock_fd = fd;
  free(lock);
  return 0;
}

static int model_missing(const char *path, const char *key, const char *source, seal_error *e) {
  return seal_errorf(e,
                     "%s: model not found (%s: %s); scripts/fetch-model.sh fetches the "
                     "demo's SmolLM2-135M-Instruct",
                     path, source, key);
}

/* The model the job names at `key` (path: its value) on device. With a
 * teacher, a failure says which of the two models and which backend. */
static int open_engine(seal_engine *eng, const seal_job *job, const char *key, const char *path,
                       const char *device, seal_error *e) {
  if (!seal_file_exists(path)) return model_missing(path, key, job->source, e);
  if (!seal_job_has_teacher(job)) return seal_engine_open(eng, path, device, e);
  seal_error why;
  if (!seal_engine_open(eng, path, device, &why)) return 0;
  return seal_errorf(e, "%s: %s (%s) on %s: %s", job->source, key,
                     strcmp(key, "teacher") ? "the student" : "the self-edits' writer", device,
                     why.msg);
}

/* The policy (the teacher, or the job's model teaching itself) on run->device
 * and, with a teacher, the student (the job's model) on run->student_device:
 * two engines, on one backend or two. The model is opened first, so that a
 * missing model is reported before a missing teacher. */
static int open_models(seal_run *run, seal_error *e) {
  const seal_job *job = run->job;
  run->student = &run->eng;
  if (!seal_job_has_teacher(job))
    return open_engine(&run->eng, job, "model", job->model, run->device, e);
  if (open_engine(&run->student_eng, job, "model", job->model, run->student_device, e)) return -1;
  run->student = &run->student_eng;
  return open_engine(&run->eng, job, "teacher", job->teacher, run->device, e);
}

int seal_run_open(seal_run *run, const seal_job *job, seal_comm *comm, volatile int *stop,
                  seal_error *e) {
  memset(run, 0, sizeof *run);
  run->job = job;
  run->comm = comm;
  run->stop = stop;
  /* The directory is locked first, so that a second run fails at once. */
  run->dir = seal_strdup(job->output);
  if (comm->rank == 0 && (seal_mkdirs(run->dir, e) || lock_run_dir(run, e))) return -1;
  /* the policy's backend: the teacher's, or the model's teaching itself */
  run->student_device = rank_device(job->device, comm);
  run->device = seal_job_has_teacher(job) ? rank_device(seal_job_teacher_device(job), comm)
                                          : seal_strdup(run->student_device);
  if (open_task(run, e)) return -1;
  if (open_models(run, e)) return -1;
  /* NCCL sums the buffers of whichever engine is on the GPU (the two engines of
   * a rank are on its one GPU, or one of them is on the cpu) */
  if (strcmp(run->eng.be->name, "cpu") || strcmp(run->student->be->name, "cpu")) {
    seal_error ne;
    if (seal_nccl_init(comm, &run->nccl, &ne) != 0 && comm->rank == 0 && comm->size > 1)
      seal_info("gradients are summed with MPI on host memory: %s", ne.msg);
  }
  run->ckpt_path = seal_path_join(run->dir, "checkpoint.h5");
  run->metrics_path = seal_path_join(run->dir, "metrics.jsonl");
  if (comm->rank == 0 && seal_metrics_open(&run->metrics, run->metrics_path, e)) return -1;
  init_state(run);
  return 0;
}

void seal_run_close(seal_run *run) {
  if (run->lock_fd > 0) close(run->lock_fd); /* releases the run directory */
  seal_nccl_free(run->nccl);
  free(run->grad_host);
  free(run->device);
  free(run->student_device);
  seal_metrics_close(&run->metrics);
  seal_run_state_free(&run->st);
  seal_engine_close(&run->eng);
  if (run->student == &run->student_eng) seal_engine_close(&run->student_eng);
  seal_domain_close(&run->domain);
  free(run->dir);
  free(run->ckpt_path);
  free(run->metrics_path);
  memset(run, 0, sizeof *run);
}

void seal_run_checkpoint(seal_run *run) {
  if (run->comm->rank != 0) return;
  seal_error e;
  run->st.world_size = run->comm->size;
  if (seal_checkpoint_write(run->ckpt_path, &run->st, &e))
    SEAL_DIE("writing the checkpoint: %s", e.msg);
  run->last_ckpt = seal_now();
}

int seal_run_merge_round(seal_engine *eng, const seal_tensor_set *t, int r, float alpha,
                         seal_error *e) {
  /* The adapter's rank and targets are read off the tensors themselves. */
  unsigned targets;
  int rank;
  seal_error why;
  if (seal_lora_tensors_shape(t, &rank, &targets, &why))
    return seal_errorf(e, "policy round %d: %s", r, why.msg);
  seal_lora l;
  seal_lora_create(&l, &eng->model, rank, alpha, targets);
  int rc = seal_lora_from_tensors(&l, t, e);
  if (!rc) seal_lora_merge(&l, &eng->model);
  seal_lora_free(&l);
  return rc;
}

/* Rank 0 compares; every rank learns the verdict, so that all fail together
 * and only rank 0 says why. */
static int agree_on_check(seal_run *run,
                          int (*check)(const seal_run *, const seal_run_state *, seal_error *),
                          const seal_run_state *loaded, seal_error *e) {
  int bad = run->comm->rank == 0 ? check(run, loaded, e) != 0 : 0;
  seal_comm_bcast_raw(run->comm, &bad, sizeof bad);
  if (bad && run->comm->rank != 0)
    seal_errorf(e, "%s: refused on rank 0 (see its message)", run->ckpt_path);
  return bad ? -1 : 0;
}

/* The accepted checkpoint's state keeps this run's job and model paths, which
 * may differ in what may change on resume (output, rounds, ...). */
static void adopt_state(seal_run *run, seal_run_state *loaded) {
  seal_run_state_set_string(&loaded->job_yaml, run->st.job_yaml);
  seal_run_state_set_string(&loaded->base_path, run->st.base_path);
  seal_run_state_set_string(&loaded->teacher.path, run->st.teacher.path);
  /* where the models run now, not where the run that wrote the file ran them */
  snprintf(loaded->model_device, sizeof loaded->model_device, "%s", run->st.model_device);
  snprintf(loaded->teacher.device, sizeof loaded->teacher.device, "%s", run->st.teacher.device);
  seal_run_state_free(&run->st);
  run->st = *loaded;
}

int seal_run_resume_state_only(seal_run *run, seal_error *e) {
  seal_run_state loaded;
  if (seal_checkpoint_read(run->ckpt_path, &loaded, e) ||
      agree_on_check(run, seal_run_check_model, &loaded, e)) {
    seal_run_state_free(&loaded);
    return -1;
  }
  seal_run_state_free(&run->st);
  run->st = loaded;
  return 0;
}

int seal_run_resume(seal_run *run, seal_error *e) {
  seal_run_state loaded;
  if (seal_checkpoint_read(run->ckpt_path, &loaded, e) ||
      agree_on_check(run, seal_run_check_resume, &loaded, e)) {
    seal_run_state_free(&loaded);
    return -1;
  }
  for (int r = 0; r < loaded.n_policy_rounds; r++)
    if (loaded.policy[r].n > 0 &&
        seal_run_merge_round(&run->eng, &loaded.policy[r], r, loaded.lora_alpha, e)) {
      seal_run_state_free(&loaded);
      return -1;
    }
  adopt_state(run, &loaded);
  if (run->comm->rank == 0)
    seal_info("resuming %s at round %d (phase %s), %d policy round(s) merged", run->ckpt_path,
              run->st.round, run->st.phase, run->st.n_policy_rounds);
  return 0;
}
