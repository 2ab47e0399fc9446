/* bench/workqueue_scaling.c — how the distribution layer scales: the work queue
 * (comm/workqueue.h) with items of fixed duration and SEAL-sized payloads and
 * results, the host all-reduce of LoRA-sized gradients (comm/collective.h), and
 * the checkpoint rank 0 writes as results arrive (trainer/checkpoint.h).
 *
 *   mpiexec --oversubscribe --bind-to none -n 4 build/workqueue_scaling \
 *       --items 840 --item-ms 10 --adapter smollm2-135m:8:all,llama3.2-1b:64:all
 *
 * Items sleep (nanosleep) for their duration instead of spinning. This machine has
 * 2 cores and the benchmark runs up to 8 ranks: spinning items would measure how 8
 * processes share 2 cores (efficiency <= 2/P), not the protocol. A sleeping item uses
 * no CPU, like a rank whose GPU is busy, so what separates the measured time from
 * n_items * item_ms / P is exactly the coordination: the hand-out latency, the
 * messages, rank 0's coordinator, the tail of the phase. The real work of the items is
 * measured elsewhere (seal bench).
 *
 * Every result is checked on rank 0 (each item exactly once, bytes as the item wrote
 * them) and every all-reduce is checked against the exact sum; a mismatch exits 1.
 *
 * Output: one line per measurement on rank 0, `kind key=value ...`, which
 * bench/run-cpu.sh turns into the tables of docs/scaling.md. */
#include <getopt.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "comm/collective.h"
#include "comm/comm.h"
#include "comm/workqueue.h"
#include "trainer/checkpoint.h"
#include "trainer/run_state.h"
#include "util/util.h"

/* ---- options ---------------------------------------------------------------- */

typedef struct {
  int items;
  double item_ms;
  size_t payload, result;  /* bytes per item */
  int reps;                /* timed repetitions of each all-reduce / checkpoint write */
  const char *adapters;    /* "model:r:targets,..." for all-reduce sizes */
  const char *checkpoints; /* "model:r:targets,..." for checkpoint writes (rank 0) */
  int ckpt_records;        /* self-edit records in the benchmark checkpoint */
  const char *tmpdir;
  const char *label;
} bench_opts;

static const char usage[] =
    "usage: mpiexec -n P workqueue_scaling [OPTIONS]\n"
    "  --items N            work items (default 840 = lcm(1..8), so every P<=8 divides it)\n"
    "  --item-ms MS         duration of one item, slept (default 10)\n"
    "  --payload BYTES      payload per item, rank 0 -> worker (default 2048)\n"
    "  --result BYTES       result per item, worker -> rank 0 (default 512)\n"
    "  --adapter LIST       all-reduce one LoRA gradient per adapter, e.g.\n"
    "                       smollm2-135m:8:all,llama3.2-1b:64:all (targets: qv or all;\n"
    "                       models: smollm2-135m, llama3.2-1b, qwen2.5-7b); or a float\n"
    "                       count. Default: none\n"
    "  --checkpoint LIST    rank 0 writes a checkpoint holding one policy round of each\n"
    "                       adapter in LIST plus --records self-edits. Default: none\n"
    "  --records N          self-edit records (2 KB text each) in that checkpoint (750)\n"
    "  --reps N             timed repetitions per all-reduce/checkpoint (default 5)\n"
    "  --tmpdir DIR         where the checkpoint is written (default /tmp)\n"
    "  --label TEXT         added to every output line (default none)\n"
    "  --no-queue           skip the work-queue measurement\n";

/* ---- LoRA sizes of real models ---------------------------------------------- */

typedef struct {
  const char *name;
  int hidden, intermediate, layers, q_out, kv_out;
} model_shape;

static const model_shape models[] = {
    {"smollm2-135m", 576, 1536, 30, 576, 192},  /* 9 heads, 3 kv heads of 64 */
    {"llama3.2-1b", 2048, 8192, 16, 2048, 512}, /* 32 heads, 8 kv heads of 64 */
    {"qwen2.5-7b", 3584, 18944, 28, 3584, 512}, /* 28 heads, 4 kv heads of 128 */
};

/* One adapted projection: its name and [out, in]. */
typedef struct {
  const char *name;
  int out, in;
} projection;

static int projections_of(const model_shape *m, int all, projection *p) {
  int n = 0;
  p[n++] = (projection){"self_attn.q_proj", m->q_out, m->hidden};
  if (all) p[n++] = (projection){"self_attn.k_proj", m->kv_out, m->hidden};
  p[n++] = (projection){"self_attn.v_proj", m->kv_out, m->hidden};
  if (all) {
    p[n++] = (projection){"self_attn.o_proj", m->hidden, m->q_out};
    p[n++] = (projection){"mlp.gate_proj", m->intermediate, m->hidden};
    p[n++] = (projection){"mlp.up_proj", m->intermediate, m->hidden};
    p[n++] = (projection){"mlp.down_proj", m->hidden, m->intermediate};
  }
  return n;
}

typedef struct {
  char spec[96];
  const model_shape *model; /* NULL for a bare float count */
  int r, all;
  size_t floats;
} adapter;

/* Parses "model:r:targets" or a bare float count. Returns 0, or -1 with e filled. */
static int adapter_parse(const char *spec, adapter *a, seal_error *e) {
  memset(a, 0, sizeof *a);
  snprintf(a->spec, sizeof a->spec, "%s", spec);
  char *end;
  unsigned long long count = strtoull(spec, &end, 10);
  if (*spec && *end == '\0') {
    a->floats = (size_t)count;
    return 0;
  }
  char name[64], targets[16];
  int r;
  if (sscanf(spec, "%63[^:]:%d:%15s", name, &r, targets) != 3 || r <= 0)
    return seal_errorf(e, "--adapter '%s': expected model:r:targets or a float count", spec);
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
    if (!strcmp(models[i].name, name)) a->model = &models[i];
  if (!a->model) return seal_errorf(e, "--adapter '%s': unknown model '%s'", spec, name);
  if (strcmp(targets, "qv") && strcmp(targets, "all"))
    return seal_errorf(e, "--adapter '%s': targets are qv or all, not '%s'", spec, targets);
  a->r = r;
  a->all = !strcmp(targets, "all");
  projection p[7];
  int np = projections_of(a->model, a->all, p);
  for (int i = 0; i < np; i++) a->floats += (size_t)r * (size_t)(p[i].in + p[i].out);
  a->floats *= (size_t)a->model->layers;
  return 0;
}

/* Splits a comma-separated list of adapters; returns the count (dies on bad input,
 * which is the command line of a benchmark). */
static int adapters_parse(const char *list, adapter **out) {
  *out = NULL;
  if (!list || !*list) return 0;
  char *copy = seal_strdup(list), *save = NULL;
  int n = 0;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    *out = seal_realloc(*out, (size_t)(n + 1) * sizeof **out);
    seal_error e;
    if (adapter_parse(tok, &(*out)[n], &e)) SEAL_DIE_ERR(&e);
    n++;
  }
  free(copy);
  return n;
}

/* ---- timing ------------------------------------------------------------------- */

static double thread_cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double process_cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_seconds(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* ---- the work queue ------------------------------------------------------------ */

/* The byte at position i of item's payload or result: a function of both, so a
 * misrouted or corrupted message is caught. */
static unsigned char pattern_byte(int item, size_t i, unsigned salt) {
  return (unsigned char)(((unsigned)item * 2654435761u + (unsigned)i * 40503u + salt) >> 13);
}

typedef struct {
  const bench_opts *o;
  /* per rank, written only by the thread that runs this rank's items */
  double busy;    /* seconds inside work() */
  double gap_sum; /* seconds between returning an item and starting the next */
  double gap_max;
  double last_end; /* when the previous item returned; 0 before the first */
  int n_items, n_gaps, bad_payloads;
  /* rank 0, on_result */
  int *seen; /* [items] times each item was reported */
  int bad_results, failed;
} queue_ctx;

static int queue_work(void *user, int item, const void *payload, size_t len, seal_buf *result) {
  queue_ctx *q = user;
  double t0 = seal_now();
  if (q->last_end > 0) {
    double gap = t0 - q->last_end;
    q->gap_sum += gap;
    if (gap > q->gap_max) q->gap_max = gap;
    q->n_gaps++;
  }
  const unsigned char *p = payload;
  int ok = len == q->o->payload;
  for (size_t i = 0; ok && i < len; i++) ok = p[i] == pattern_byte(item, i, 1);
  if (!ok) q->bad_payloads++;
  sleep_seconds(q->o->item_ms * 1e-3);
  char *r = seal_malloc(q->o->result ? q->o->result : 1); /* [result] */
  for (size_t i = 0; i < q->o->result; i++) r[i] = (char)pattern_byte(item, i, 2);
  seal_buf_append(result, r, q->o->result);
  free(r);
  double t1 = seal_now();
  q->busy += t1 - t0;
  q->last_end = t1;
  q->n_items++;
  return 0;
}

static void queue_result(void *user, int item, int ok, const void *result, size_t len, int worker) {
  queue_ctx *q = user;
  (void)worker;
  q->seen[item]++;
  if (!ok) {
    q->failed++;
    return;
  }
  const unsigned char *r = result;
  int good = len == q->o->result;
  for (size_t i = 0; good && i < len; i++) good = r[i] == pattern_byte(item, i, 2);
  if (!good) q->bad_results++;
}

/* Runs the queue once; returns the number of problems found (0 when all is well). */
static int bench_queue(seal_comm *c, const bench_opts *o) {
  queue_ctx q = {.o = o};
  char **payloads = NULL; /* [items][payload], rank 0 only */
  size_t *lens = NULL;
  if (c->rank == 0) {
    SEAL_ALLOC_ARRAY(q.seen, o->items);
    SEAL_ALLOC_ARRAY(payloads, o->items);
    SEAL_ALLOC_ARRAY(lens, o->items);
    for (int i = 0; i < o->items; i++) {
      payloads[i] = seal_malloc(o->payload ? o->payload : 1);
      for (size_t b = 0; b < o->payload; b++) payloads[i][b] = (char)pattern_byte(i, b, 1);
      lens[i] = o->payload;
    }
  }
  seal_comm_barrier(c);
  double cpu0 = thread_cpu_seconds(), pcpu0 = process_cpu_seconds(), t0 = seal_now();
  seal_error e;
  int rc = seal_workqueue_run(c, o->items, (const void *const *)payloads, lens, queue_work,
                              queue_result, &q, NULL, &e);
  double wall = seal_now() - t0;
  double coord_cpu = thread_cpu_seconds() - cpu0; /* rank 0: the coordinator thread */
  double proc_cpu = process_cpu_seconds() - pcpu0;
  if (rc != 0) SEAL_DIE("work queue returned %d: %s", rc, rc < 0 ? e.msg : "stopped");

  /* Per-rank figures to rank 0. A worker's process CPU is its polling (items sleep);
   * rank 0's process CPU is coordinator + helper, so it is left out of the mean. */
  double local[5] = {q.busy, q.gap_sum, (double)q.n_gaps, (double)q.bad_payloads,
                     c->rank == 0 ? 0.0 : proc_cpu};
  double sum[5], gap_max = 0, wall_max = 0;
  MPI_CHECK(MPI_Reduce(local, sum, 5, MPI_DOUBLE, MPI_SUM, 0, c->world));
  MPI_CHECK(MPI_Reduce(&q.gap_max, &gap_max, 1, MPI_DOUBLE, MPI_MAX, 0, c->world));
  MPI_CHECK(MPI_Reduce(&wall, &wall_max, 1, MPI_DOUBLE, MPI_MAX, 0, c->world));
  int per_rank_items = q.n_items, items_min = 0, items_max = 0;
  MPI_CHECK(MPI_Reduce(&per_rank_items, &items_min, 1, MPI_INT, MPI_MIN, 0, c->world));
  MPI_CHECK(MPI_Reduce(&per_rank_items, &items_max, 1, MPI_INT, MPI_MAX, 0, c->world));

  int problems = 0;
  if (c->rank == 0) {
    int missing = 0, duplicated = 0;
    for (int i = 0; i < o->items; i++) {
      if (q.seen[i] == 0) missing++;
      if (q.seen[i] > 1) duplicated++;
    }
    problems = missing + duplicated + q.bad_results + q.failed + (int)sum[3];
    if (problems)
      fprintf(stderr,
              "workqueue_scaling: %d missing, %d duplicated, %d bad results, %d failed, %d bad "
              "payloads\n",
              missing, duplicated, q.bad_results, q.failed, (int)sum[3]);
    int P = c->size;
    double item_s = o->item_ms * 1e-3;
    double ideal = (double)((o->items + P - 1) / P) * item_s; /* best schedule, nominal */
    printf(
        "queue%s%s ranks=%d items=%d item_ms=%g payload=%zu result=%zu wall_s=%.4f "
        "items_per_s=%.1f ideal_s=%.4f efficiency=%.4f busy_efficiency=%.4f "
        "mean_item_ms=%.4f coord_cpu_us_per_item=%.2f worker_poll_cpu_us_per_item=%.2f "
        "turnaround_us_mean=%.1f turnaround_us_max=%.1f items_per_rank_min=%d "
        "items_per_rank_max=%d problems=%d\n",
        o->label ? " label=" : "", o->label ? o->label : "", P, o->items, o->item_ms, o->payload,
        o->result, wall_max, o->items / wall_max, ideal, ideal / wall_max, sum[0] / (P * wall_max),
        1e3 * sum[0] / o->items, 1e6 * coord_cpu / o->items, P > 1 ? 1e6 * sum[4] / o->items : 0.0,
        sum[2] > 0 ? 1e6 * sum[1] / sum[2] : 0.0, 1e6 * gap_max, items_min, items_max, problems);
    fflush(stdout);
    for (int i = 0; i < o->items; i++) free(payloads[i]);
    free(payloads);
    free(lens);
    free(q.seen);
  }
  MPI_CHECK(MPI_Bcast(&problems, 1, MPI_INT, 0, c->world));
  return problems;
}

/* ---- all-reduce ------------------------------------------------------------------ */

/* Small integers, so every partial sum is exact in float32 and the check is exact. */
static float fill_value(int rank, size_t i) { return (float)((int)(i % 7) + rank); }

static int bench_allreduce(seal_comm *c, const adapter *a, int reps, const char *label) {
  size_t n = a->floats;
  float *buf = seal_malloc((n ? n : 1) * sizeof(float)); /* [n] */
  int P = c->size, bad = 0;
  double best = 1e300, total = 0;
  for (int rep = -1; rep < reps; rep++) { /* rep -1: warm-up, not timed */
    for (size_t i = 0; i < n; i++) buf[i] = fill_value(c->rank, i);
    seal_comm_barrier(c);
    double t0 = seal_now();
    seal_error e;
    if (seal_allreduce_sum_f32(c, buf, n, &e)) SEAL_DIE_ERR(&e);
    double dt = seal_now() - t0, slowest = 0;
    MPI_CHECK(MPI_Allreduce(&dt, &slowest, 1, MPI_DOUBLE, MPI_MAX, c->world));
    if (rep == -1) {
      float base = (float)(P * (P - 1) / 2);
      for (size_t i = 0; i < n; i++)
        if (buf[i] != (float)(P * (int)(i % 7)) + base) bad++;
      continue;
    }
    total += slowest;
    if (slowest < best) best = slowest;
  }
  int bad_all = 0;
  MPI_CHECK(MPI_Allreduce(&bad, &bad_all, 1, MPI_INT, MPI_SUM, c->world));
  if (c->rank == 0) {
    double mean = total / reps, bytes = (double)n * sizeof(float);
    /* algbw = bytes / time; busbw = algbw * 2(P-1)/P, the bytes each rank must move
     * in a bandwidth-optimal all-reduce (the nccl-tests convention). */
    double algbw = bytes / mean / 1e9;
    printf(
        "allreduce%s%s ranks=%d adapter=%s floats=%zu mbytes=%.2f mean_ms=%.3f min_ms=%.3f "
        "algbw_GBps=%.3f busbw_GBps=%.3f reps=%d problems=%d\n",
        label ? " label=" : "", label ? label : "", P, a->spec, n, bytes / 1e6, 1e3 * mean,
        1e3 * best, algbw, P > 1 ? algbw * 2.0 * (P - 1) / P : 0.0, reps, bad_all);
    if (bad_all)
      fprintf(stderr, "workqueue_scaling: all-reduce of %s: %d wrong sums\n", a->spec, bad_all);
    fflush(stdout);
  }
  free(buf);
  return bad_all;
}

/* ---- checkpoint writes (rank 0) -------------------------------------------------- */

/* A run state as rank 0 holds it during round 1 of a job with this policy adapter:
 * round 0's policy (PEFT names, A [r, in], B [out, r]) and `records` evaluated
 * self-edits of about 2 KB each. */
static void synthetic_state(const adapter *a, int records, seal_run_state *s) {
  seal_run_state_init(s);
  seal_run_state_set_string(&s->job_yaml, "task: knowledge\n# benchmark\n");
  seal_tensor_set t = {0};
  if (a->model) {
    projection p[7];
    int np = projections_of(a->model, a->all, p);
    for (int l = 0; l < a->model->layers; l++)
      for (int j = 0; j < np; j++) {
        char name[160];
        int64_t sa[2] = {a->r, p[j].in}, sb[2] = {p[j].out, a->r};
        float *da = seal_calloc((size_t)a->r * (size_t)p[j].in, sizeof(float));  /* [r, in] */
        float *db = seal_calloc((size_t)p[j].out * (size_t)a->r, sizeof(float)); /* [out, r] */
        for (size_t i = 0; i < (size_t)a->r * (size_t)p[j].in; i++)
          da[i] = 1e-3f * (float)(i % 997);
        snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.lora_A.weight", l,
                 p[j].name);
        seal_tensors_add(&t, name, 2, sa, da);
        snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.lora_B.weight", l,
                 p[j].name);
        seal_tensors_add(&t, name, 2, sb, db);
      }
    s->lora_r = a->r;
  } else {
    int64_t shape[1] = {(int64_t)a->floats};
    seal_tensors_add(&t, "flat", 1, shape, seal_calloc(a->floats ? a->floats : 1, sizeof(float)));
  }
  seal_run_state_set_policy(s, 0, &t);
  s->round = 1;
  char text[2049];
  for (int i = 0; i < 2048; i++) text[i] = (char)('a' + i % 26);
  text[2048] = '\0';
  for (int i = 0; i < records; i++) {
    seal_selfedit_record rec = {.context_id = i / 15,
                                .sample = i / 3 % 5,
                                .repeat = i % 3,
                                .reward = 0.5,
                                .label_reward = 0.5,
                                .n_examples = 12,
                                .ok = 1,
                                .attempts = 1,
                                .metrics = "{\"em\":0.25,\"f1\":0.5,\"contains\":0.5}",
                                .text = text};
    seal_run_state_add_selfedit(s, 1, &rec);
  }
}

static int bench_checkpoint(const adapter *a, int records, int reps, const char *tmpdir,
                            const char *label) {
  seal_run_state s;
  synthetic_state(a, records, &s);
  char *dir = seal_asprintf("%s/seal-ckpt-bench-%d", tmpdir, (int)getpid());
  seal_error e;
  if (seal_mkdirs(dir, &e)) SEAL_DIE_ERR(&e);
  char *path = seal_path_join(dir, "checkpoint.h5");
  double total = 0, best = 1e300;
  for (int rep = 0; rep < reps; rep++) {
    double t0 = seal_now();
    if (seal_checkpoint_write(path, &s, &e)) SEAL_DIE_ERR(&e);
    double dt = seal_now() - t0;
    total += dt;
    if (dt < best) best = dt;
  }
  struct stat st;
  double mbytes = stat(path, &st) == 0 ? (double)st.st_size / 1e6 : -1;
  printf(
      "checkpoint%s%s adapter=%s floats=%zu records=%d file_mbytes=%.2f mean_s=%.4f "
      "min_s=%.4f reps=%d\n",
      label ? " label=" : "", label ? label : "", a->spec, a->floats, records, mbytes, total / reps,
      best, reps);
  fflush(stdout);
  char *prev = seal_asprintf("%s.prev", path), *tmp = seal_asprintf("%s.tmp", path);
  unlink(path);
  unlink(prev);
  unlink(tmp);
  rmdir(dir);
  free(prev);
  free(tmp);
  free(path);
  free(dir);
  seal_run_state_free(&s);
  return 0;
}

/* ---- main --------------------------------------------------------------------- */

static void parse_options(int argc, char **argv, bench_opts *o, int *no_queue) {
  static const struct option long_opts[] = {{"items", required_argument, 0, 'n'},
                                            {"item-ms", required_argument, 0, 't'},
                                            {"payload", required_argument, 0, 'p'},
                                            {"result", required_argument, 0, 'r'},
                                            {"adapter", required_argument, 0, 'a'},
                                            {"checkpoint", required_argument, 0, 'c'},
                                            {"records", required_argument, 0, 'R'},
                                            {"reps", required_argument, 0, 'k'},
                                            {"tmpdir", required_argument, 0, 'd'},
                                            {"label", required_argument, 0, 'l'},
                                            {"no-queue", no_argument, 0, 'q'},
                                            {"help", no_argument, 0, 'h'},
                                            {0, 0, 0, 0}};
  *o = (bench_opts){.items = 840,
                    .item_ms = 10,
                    .payload = 2048,
                    .result = 512,
                    .reps = 5,
                    .ckpt_records = 750,
                    .tmpdir = "/tmp"};
  *no_queue = 0;
  for (int ch; (ch = getopt_long(argc, argv, "", long_opts, NULL)) != -1;) {
    switch (ch) {
      case 'n':
        o->items = atoi(optarg);
        break;
      case 't':
        o->item_ms = atof(optarg);
        break;
      case 'p':
        o->payload = (size_t)strtoull(optarg, NULL, 10);
        break;
      case 'r':
        o->result = (size_t)strtoull(optarg, NULL, 10);
        break;
      case 'a':
        o->adapters = optarg;
        break;
      case 'c':
        o->checkpoints = optarg;
        break;
      case 'R':
        o->ckpt_records = atoi(optarg);
        break;
      case 'k':
        o->reps = atoi(optarg);
        break;
      case 'd':
        o->tmpdir = optarg;
        break;
      case 'l':
        o->label = optarg;
        break;
      case 'q':
        *no_queue = 1;
        break;
      case 'h':
        fputs(usage, stdout);
        exit(0);
      default:
        fputs(usage, stderr);
        exit(2);
    }
  }
  if (o->items < 1 || o->item_ms < 0 || o->reps < 1 || o->ckpt_records < 0) {
    fputs(usage, stderr);
    exit(2);
  }
}

int main(int argc, char **argv) {
  seal_comm c;
  seal_error e;
  if (seal_comm_init(&argc, &argv, &c, &e)) SEAL_DIE_ERR(&e);
  bench_opts o;
  int no_queue;
  parse_options(argc, argv, &o, &no_queue);
  int problems = 0;
  if (!no_queue) problems += bench_queue(&c, &o);
  adapter *ads;
  int n_ads = adapters_parse(o.adapters, &ads);
  for (int i = 0; i < n_ads; i++) problems += bench_allreduce(&c, &ads[i], o.reps, o.label);
  free(ads);
  int n_ck = adapters_parse(o.checkpoints, &ads);
  if (c.rank == 0)
    for (int i = 0; i < n_ck; i++)
      bench_checkpoint(&ads[i], o.ckpt_records, o.reps, o.tmpdir, o.label);
  free(ads);
  seal_comm_finalize(&c);
  return problems ? 1 : 0;
}
