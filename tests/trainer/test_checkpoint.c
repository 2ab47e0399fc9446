/* tests/trainer/test_checkpoint.c — HDF5 checkpoints: a populated run state comes
 * back equal (tensors bitwise), writes are atomic and keep the previous file,
 * damaged or foreign files are refused with a message naming the file, and the
 * file is self-describing to h5dump and `seal inspect`'s summary. */
#include <check.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainer/checkpoint.h"
#include "trainer/checkpoint_sum.h"
#include "trainer/run_state.h"

/* ---- fixtures --------------------------------------------------------------- */

static char dir[64];
static char path[128];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/seal-ckpt-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/checkpoint.h5", dir);
}

static void remove_dir(void) {
  const char *suffixes[] = {"", ".prev", ".tmp"};
  for (int i = 0; i < 3; i++) {
    char p[160];
    snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
    unlink(p);
  }
  rmdir(dir);
}

/* A tensor of the given shape filled from the rng, including values whose bits
 * a lossy path would change (denormals, negative zero, NaN payloads). */
static void add_tensor(seal_tensor_set *set, const char *name, int ndim, const int64_t *shape,
                       seal_rng *rng) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  float *data = seal_malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) data[i] = (float)seal_rng_normal(rng);
  if (n > 3) {
    data[0] = 1e-40f; /* denormal */
    data[1] = -0.0f;
    data[2] = 3.4028235e38f;
  }
  seal_tensors_add(set, name, ndim, shape, data);
}

static void add_lora_pair(seal_tensor_set *set, int layer, const char *proj, int r, int in, int out,
                          seal_rng *rng) {
  char name[160];
  snprintf(name, sizeof name, "base_model.model.model.layers.%d.self_attn.%s.lora_A.weight", layer,
           proj);
  add_tensor(set, name, 2, (int64_t[]){r, in}, rng);
  snprintf(name, sizeof name, "base_model.model.model.layers.%d.self_attn.%s.lora_B.weight", layer,
           proj);
  add_tensor(set, name, 2, (int64_t[]){out, r}, rng);
}

static void populate(seal_run_state *s) {
  seal_run_state_init(s);
  seal_rng rng;
  seal_rng_seed(&rng, 7);
  seal_run_state_set_string(&s->job_yaml,
                            "name: demo\nmodel: models/tiny\nrounds: 2\n# ünïcödé ✓\n");
  s->run_seed = 0xfedcba9876543210ull; /* above INT64_MAX: must stay unsigned */
  s->world_size = 3;
  s->round = 2;
  snprintf(s->phase, sizeof s->phase, "evaluate");
  snprintf(s->created, sizeof s->created, "2025-06-01T12:34:56Z");
  snprintf(s->architecture, sizeof s->architecture, "qwen2");
  seal_run_state_set_string(&s->base_path, "/models/Qwen2.5-7B");
  snprintf(s->base_sha256, sizeof s->base_sha256, "%064d", 42);
  snprintf(s->model_fnv1a, sizeof s->model_fnv1a, "0123456789abcdef");
  snprintf(s->train_fnv1a, sizeof s->train_fnv1a, "fedcba9876543210");
  s->hidden = 96, s->n_layers = 3, s->n_heads = 6, s->n_kv_heads = 2;
  s->vocab_size = 1000, s->intermediate = 250;
  s->lora_r = 4, s->lora_alpha = 8.5f;

  for (int r = 0; r < 2; r++) {
    seal_tensor_set set = {0};
    /* names out of alphabetical order: the order must survive */
    add_lora_pair(&set, 1, "v_proj", 4, 96, 32, &rng);
    add_lora_pair(&set, 0, "q_proj", 4, 96, 96, &rng);
    seal_run_state_set_policy(s, r, &set);
  }
  add_lora_pair(&s->opt_m, 0, "q_proj", 4, 96, 96, &rng);
  add_lora_pair(&s->opt_v, 0, "q_proj", 4, 96, 96, &rng);
  add_tensor(&s->opt_m, "a.vector", 1, (int64_t[]){5}, &rng);
  add_tensor(&s->opt_v, "a.vector", 1, (int64_t[]){5}, &rng);
  /* edge shapes: a scalar and a tensor with no elements */
  add_tensor(&s->opt_m, "a.scalar", 0, NULL, &rng);
  add_tensor(&s->opt_v, "an.empty.matrix", 2, (int64_t[]){0, 4}, &rng);
  s->opt_step = 17;
  s->opt_lr = 3e-4;

  seal_run_state_put_rng(s, "coordinator", (uint64_t[]){1, 2, 3, UINT64_MAX});
  seal_run_state_put_rng(s, "sampler", (uint64_t[]){5, 6, 7, 8});

  seal_run_state_put_round(s, &(seal_round_record){1, 50, 0.375, 44, 0.41, 1234.5});
  seal_run_state_put_round(s, &(seal_round_record){0, 50, 0.25, 40, 0.33, 1000.25});

  seal_run_state_add_selfedit(s, 0,
                              &(seal_selfedit_record){.context_id = 3,
                                                      .reward = 0.6,
                                                      .label_reward = 0.6,
                                                      .n_examples = 12,
                                                      .ok = 1,
                                                      .attempts = 1,
                                                      .metrics = "{\"em\":0.5,\"f1\":0.7}",
                                                      .text = "The passage implies A.\nAnd B."});
  seal_run_state_add_selfedit(s, 0,
                              &(seal_selfedit_record){.context_id = 3,
                                                      .sample = 1,
                                                      .repeat = 2,
                                                      .reward = 0.2,
                                                      .label_reward = NAN,
                                                      .attempts = 3,
                                                      .reason = "no JSON object",
                                                      .text = "{\"bad json"});
  /* round 1 has no records yet; round 2 has one generated, not evaluated */
  seal_run_state_add_selfedit(s, 2,
                              &(seal_selfedit_record){.context_id = 7,
                                                      .sample = 4,
                                                      .reward = NAN,
                                                      .label_reward = NAN,
                                                      .ok = 1,
                                                      .text = "— ünïcödé self-edit ✓"});
  seal_run_state_add_selfedit(
      s, 2,
      &(seal_selfedit_record){
          .context_id = 8, .reward = 1.0, .label_reward = 1.0, .n_examples = 3, .ok = 1});
}

/* ---- comparisons ---------------------------------------------------------------- */

static void assert_same_tensors(const seal_tensor_set *a, const seal_tensor_set *b) {
  ck_assert_int_eq(a->n, b->n);
  for (int i = 0; i < a->n; i++) {
    const seal_host_tensor *x = &a->items[i], *y = &b->items[i];
    ck_assert_str_eq(x->name, y->name);
    ck_assert_int_eq(x->ndim, y->ndim);
    for (int d = 0; d < x->ndim; d++) ck_assert_int_eq(x->shape[d], y->shape[d]);
    ck_assert(memcmp(x->data, y->data, (size_t)seal_tensor_numel(x) * sizeof(float)) == 0);
  }
}

/* Equal, or both NaN. */
static void assert_same_double(double a, double b) {
  if (isnan(a))
    ck_assert(isnan(b));
  else
    ck_assert(a == b);
}

static void assert_same_state(const seal_run_state *a, const seal_run_state *b) {
  ck_assert_str_eq(a->job_yaml, b->job_yaml);
  ck_assert(a->run_seed == b->run_seed);
  ck_assert_int_eq(a->world_size, b->world_size);
  ck_assert_int_eq(a->round, b->round);
  ck_assert_str_eq(a->phase, b->phase);
  ck_assert_str_eq(a->created, b->created);
  ck_assert_str_eq(a->architecture, b->architecture);
  ck_assert_str_eq(a->base_path, b->base_path);
  ck_assert_str_eq(a->base_sha256, b->base_sha256);
  ck_assert_str_eq(a->model_fnv1a, b->model_fnv1a);
  ck_assert_str_eq(a->train_fnv1a, b->train_fnv1a);
  ck_assert_int_eq(a->hidden, b->hidden);
  ck_assert_int_eq(a->n_layers, b->n_layers);
  ck_assert_int_eq(a->n_heads, b->n_heads);
  ck_assert_int_eq(a->n_kv_heads, b->n_kv_heads);
  ck_assert_int_eq(a->vocab_size, b->vocab_size);
  ck_assert_int_eq(a->intermediate, b->intermediate);
  ck_assert_int_eq(a->n_policy_rounds, b->n_policy_rounds);
  for (int r = 0; r < a->n_policy_rounds; r++) assert_same_tensors(&a->policy[r], &b->policy[r]);
  ck_assert(a->lora_alpha == b->lora_alpha);
  ck_assert_int_eq(a->lora_r, b->lora_r);
  assert_same_tensors(&a->opt_m, &b->opt_m);
  assert_same_tensors(&a->opt_v, &b->opt_v);
  ck_assert_int_eq(a->opt_step, b->opt_step);
  ck_assert(a->opt_lr == b->opt_lr);
  ck_assert_int_eq(a->n_rng, b->n_rng);
  for (int i = 0; i < a->n_rng; i++) {
    ck_assert_str_eq(a->rng[i].name, b->rng[i].name);
    ck_assert(memcmp(a->rng[i].s, b->rng[i].s, sizeof a->rng[i].s) == 0);
  }
  ck_assert_int_eq(a->n_rounds, b->n_rounds);
  for (int i = 0; i < a->n_rounds; i++) {
    const seal_round_record *x = &a->rounds[i], *y = &b->rounds[i];
    ck_assert_int_eq(x->round, y->round);
    ck_assert_int_eq(x->contexts, y->contexts);
    ck_assert(x->mean_reward == y->mean_reward);
    ck_assert_int_eq(x->kept, y->kept);
    ck_assert(x->accuracy == y->accuracy);
    ck_assert(x->seconds == y->seconds);
  }
  ck_assert_int_eq(a->n_selfedit_rounds, b->n_selfedit_rounds);
  for (int r = 0; r < a->n_selfedit_rounds; r++) {
    ck_assert_int_eq(a->n_selfedits[r], b->n_selfedits[r]);
    for (int i = 0; i < a->n_selfedits[r]; i++) {
      const seal_selfedit_record *x = &a->selfedits[r][i], *y = &b->selfedits[r][i];
      ck_assert_int_eq(x->context_id, y->context_id);
      ck_assert_int_eq(x->sample, y->sample);
      ck_assert_int_eq(x->repeat, y->repeat);
      assert_same_double(x->reward, y->reward);
      assert_same_double(x->label_reward, y->label_reward);
      ck_assert_int_eq(x->n_examples, y->n_examples);
      ck_assert_int_eq(x->ok, y->ok);
      ck_assert_int_eq(x->attempts, y->attempts);
      ck_assert_str_eq(x->reason, y->reason);
      ck_assert_str_eq(x->metrics, y->metrics);
      ck_assert_str_eq(x->text, y->text);
    }
  }
}

static void write_bytes(const char *p, const void *data, size_t n) {
  FILE *f = fopen(p, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, n, f), n);
  fclose(f);
}

static off_t file_size(const char *p) {
  struct stat st;
  ck_assert_int_eq(stat(p, &st), 0);
  return st.st_size;
}

/* A checkpoint changed with HDF5 on purpose gets a matching sum again, so that
 * the structural checks behind the sum are what a test reaches. */
static void reseal(const char *p) {
  seal_error e = {{0}};
  ck_assert_msg(seal_ckpt_reseal(p, &e) == 0, "%s", e.msg);
}

/* Reads path expecting a refusal; returns the message (static storage). */
static const char *refusal(const char *p) {
  static seal_error e;
  memset(&e, 0, sizeof e);
  seal_run_state s;
  ck_assert_int_eq(seal_checkpoint_read(p, &s, &e), -1);
  seal_run_state_free(&s);
  ck_assert_msg(strstr(e.msg, p) != NULL, "message does not name the file: %s", e.msg);
  return e.msg;
}

/* ---- tests ------------------------------------------------------------------ */

START_TEST(checkpoint_round_trip_is_exact) {
  make_dir();
  seal_run_state a, b;
  populate(&a);
  seal_error e = {{0}};
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg);
  ck_assert_msg(seal_checkpoint_read(path, &b, &e) == 0, "%s", e.msg);
  assert_same_state(&a, &b);
  /* Absent strings stay absent, and a record written without text reads as "". */
  ck_assert_str_eq(b.selfedits[2][1].text, "");
  ck_assert_int_eq(b.n_selfedits[1], 0);
  /* The state read back keeps growing like a fresh one. */
  seal_run_state_add_selfedit(&b, 1,
                              &(seal_selfedit_record){.context_id = 1, .reward = 0.5, .text = "x"});
  seal_run_state_add_selfedit(&b, 0,
                              &(seal_selfedit_record){.context_id = 1, .reward = 0.5, .text = "y"});
  ck_assert_int_eq(b.n_selfedits[0], 3);
  ck_assert_str_eq(b.selfedits[0][2].text, "y");
  seal_run_state_free(&a);
  seal_run_state_free(&b);
  ck_assert(!seal_file_exists(path) || access(path, R_OK) == 0);
  remove_dir();
}
END_TEST

START_TEST(checkpoint_empty_state_round_trips) {
  make_dir();
  seal_run_state a, b;
  seal_run_state_init(&a);
  seal_error e = {{0}};
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg);
  ck_assert_msg(seal_checkpoint_read(path, &b, &e) == 0, "%s", e.msg);
  ck_assert_ptr_null(b.job_yaml);
  ck_assert_ptr_null(b.base_path);
  ck_assert_str_eq(b.phase, "init");
  ck_assert_str_eq(b.created, a.created);
  ck_assert_int_eq(b.world_size, 1);
  ck_assert_int_eq(b.n_policy_rounds + b.n_rounds + b.n_rng + b.n_selfedit_rounds, 0);
  seal_run_state_free(&a);
  seal_run_state_free(&b);
  remove_dir();
}
END_TEST

static void assert_refused_without(const char *link, const char *expect);

/* The root's version attribute of the file at p. */
static int file_version(const char *p) {
  hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
  ck_assert(f >= 0);
  int v = -1;
  hid_t a = H5Aopen(f, "version", H5P_DEFAULT);
  H5Aread(a, H5T_NATIVE_INT, &v);
  H5Aclose(a);
  H5Fclose(f);
  return v;
}

/* A run with a teacher: /teacher holds it beside /model (the student), the file
 * is version 3 and reads back both; without one the file stays version 2 with
 * no /teacher, and the policy's model is the run's own. */
START_TEST(checkpoint_teacher_round_trips_beside_the_model) {
  make_dir();
  seal_run_state a, b;
  populate(&a);
  seal_error e = {{0}};
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(file_version(path), 2);
  ck_assert_msg(seal_checkpoint_read(path, &b, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(b.has_teacher, 0);
  seal_model_record p;
  seal_run_state_policy_model(&b, &p);
  ck_assert_int_eq(p.hidden, a.hidden);
  ck_assert_str_eq(p.path, a.base_path);
  seal_run_state_free(&b);

  a.has_teacher = 1;
  a.teacher = (seal_model_record){.architecture = "qwen2",
                                  .hidden = 32,
                                  .n_layers = 3,
                                  .n_heads = 2,
                                  .n_kv_heads = 1,
                                  .vocab_size = 512,
                                  .intermediate = 80,
                                  .files_fnv1a = "0123456789abcdef",
                                  .device = "cpu"};
  seal_run_state_set_string(&a.teacher.path, "models/teacher");
  snprintf(a.model_device, sizeof a.model_device, "cuda:0"); /* the two on other backends */
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(file_version(path), 3);
  ck_assert_msg(seal_checkpoint_read(path, &b, &e) == 0, "%s", e.msg);
  assert_same_state(&a, &b);
  ck_assert_int_eq(b.has_teacher, 1);
  ck_assert_str_eq(b.teacher.architecture, "qwen2");
  ck_assert_str_eq(b.teacher.path, "models/teacher");
  ck_assert_str_eq(b.teacher.files_fnv1a, "0123456789abcdef");
  ck_assert_str_eq(b.teacher.device, "cpu");
  ck_assert_str_eq(b.model_device, "cuda:0");
  ck_assert_int_eq(b.teacher.hidden, 32);
  ck_assert_int_eq(b.teacher.n_layers, 3);
  ck_assert_int_eq(b.teacher.n_heads, 2);
  ck_assert_int_eq(b.teacher.n_kv_heads, 1);
  ck_assert_int_eq(b.teacher.vocab_size, 512);
  ck_assert_int_eq(b.teacher.intermediate, 80);
  seal_run_state_policy_model(&b, &p);
  ck_assert_str_eq(p.path, "models/teacher");
  ck_assert_int_eq(p.hidden, 32);
  ck_assert_str_eq(p.device, "cpu");
  seal_run_state_model(&b, &p);
  ck_assert_str_eq(p.device, "cuda:0");
  seal_run_state_free(&b);
  seal_run_state_free(&a);
  /* a version-3 file without its /teacher is refused */
  assert_refused_without("/teacher", "/teacher is missing");
  remove_dir();
}
END_TEST

START_TEST(checkpoint_second_write_keeps_first_as_prev) {
  make_dir();
  seal_run_state a, b;
  populate(&a);
  seal_error e = {{0}};
  a.round = 2;
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg);
  a.round = 3;
  snprintf(a.phase, sizeof a.phase, "update");
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg);
  char prev[160], tmp[160];
  snprintf(prev, sizeof prev, "%s.prev", path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  ck_assert(!seal_file_exists(tmp));
  ck_assert_msg(seal_checkpoint_read(path, &b, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(b.round, 3);
  ck_assert_str_eq(b.phase, "update");
  seal_run_state_free(&b);
  ck_assert_msg(seal_checkpoint_read(prev, &b, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(b.round, 2);
  ck_assert_str_eq(b.phase, "evaluate");
  seal_run_state_free(&b);
  seal_run_state_free(&a);
  remove_dir();
}
END_TEST

START_TEST(checkpoint_truncated_file_is_refused_quietly) {
  make_dir();
  seal_run_state a;
  populate(&a);
  seal_error e = {{0}};
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg);
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg); /* makes a .prev */
  ck_assert_int_eq(truncate(path, file_size(path) / 2), 0);
  /* HDF5 would print its error stack to stderr: it must not. */
  char errpath[160];
  snprintf(errpath, sizeof errpath, "%s/stderr.txt", dir);
  fflush(stderr);
  int saved = dup(2);
  int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 2);
  close(fd);
  const char *msg = refusal(path);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  ck_assert_int_eq(file_size(errpath), 0);
  unlink(errpath);
  ck_assert_msg(strstr(msg, "truncated") != NULL, "%s", msg);
  ck_assert_msg(strstr(msg, ".prev") != NULL, "should point at the previous checkpoint: %s", msg);
  /* The previous checkpoint is intact, and a new write does not displace it
   * with the damaged file. */
  char prev[160];
  snprintf(prev, sizeof prev, "%s.prev", path);
  seal_run_state b;
  ck_assert_msg(seal_checkpoint_read(prev, &b, &e) == 0, "%s", e.msg);
  seal_run_state_free(&b);
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg);
  ck_assert_msg(seal_checkpoint_read(prev, &b, &e) == 0, "%s", e.msg);
  seal_run_state_free(&b);
  seal_run_state_free(&a);
  remove_dir();
}
END_TEST

START_TEST(checkpoint_garbage_and_missing_files_are_refused) {
  make_dir();
  const char junk[] = "this is not a checkpoint, just some text that is long enough";
  write_bytes(path, junk, sizeof junk);
  const char *msg = refusal(path);
  ck_assert_msg(strstr(msg, "not a seal checkpoint") != NULL, "%s", msg);
  write_bytes(path, "", 0);
  refusal(path);
  unlink(path);
  msg = refusal(path);
  ck_assert_msg(strstr(msg, "No such file") != NULL, "%s", msg);
  remove_dir();
}
END_TEST

/* Writes an HDF5 file with a group and the given root string attributes,
 * without a user block (as another program, or a seal before the checksum,
 * writes one). */
static void write_unsummed_hdf5(const char *p, const char *format, int version, hid_t fcpl) {
  hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
  ck_assert(f >= 0);
  hid_t g = H5Gcreate2(f, "data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Gclose(g);
  hid_t space = H5Screate(H5S_SCALAR);
  if (format) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(format) + 1);
    hid_t a = H5Acreate2(f, "format", t, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, format);
    H5Aclose(a);
    H5Tclose(t);
  }
  if (version) {
    hid_t a = H5Acreate2(f, "version", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT, &version);
    H5Aclose(a);
  }
  H5Sclose(space);
  H5Fclose(f);
}

/* The same with seal's checksum header in a user block, so that HDF5 parses it. */
static void write_foreign_hdf5(const char *p, const char *format, int version) {
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  H5Pset_userblock(fcpl, SEAL_CKPT_HEADER_SIZE);
  write_unsummed_hdf5(p, format, version, fcpl);
  H5Pclose(fcpl);
  const char magic[] = "seal-checkpoint-sum 1\n"; /* seal_ckpt_reseal fills in the rest */
  int fd = open(p, O_WRONLY);
  ck_assert(fd >= 0 && write(fd, magic, strlen(magic)) == (ssize_t)strlen(magic));
  close(fd);
  seal_error e;
  ck_assert_msg(seal_ckpt_reseal(p, &e) == 0, "%s", e.msg);
}

START_TEST(checkpoint_foreign_hdf5_is_refused_naming_what_is_missing) {
  make_dir();
  write_foreign_hdf5(path, NULL, 0);
  const char *msg = refusal(path);
  ck_assert_msg(strstr(msg, "'format'") != NULL, "%s", msg);
  write_foreign_hdf5(path, "netcdf", 0);
  msg = refusal(path);
  ck_assert_msg(strstr(msg, "netcdf") != NULL, "%s", msg);
  /* fixed-length string, 64-bit version: still understood, and too new */
  write_foreign_hdf5(path, "seal-checkpoint", SEAL_CHECKPOINT_VERSION + 1);
  msg = refusal(path);
  ck_assert_msg(strstr(msg, "newer") != NULL, "%s", msg);
  /* an older layout: refused, pointing at the seal that wrote it */
  write_foreign_hdf5(path, "seal-checkpoint", SEAL_CHECKPOINT_MIN_VERSION - 1);
  msg = refusal(path);
  ck_assert_msg(strstr(msg, "older") != NULL, "%s", msg);
  write_foreign_hdf5(path, "seal-checkpoint", SEAL_CHECKPOINT_VERSION);
  msg = refusal(path);
  ck_assert_msg(strstr(msg, "seal_version") != NULL, "%s", msg);
  /* without the checksum header: refused before HDF5 parses it, whatever it holds */
  write_unsummed_hdf5(path, "seal-checkpoint", SEAL_CHECKPOINT_VERSION, H5P_DEFAULT);
  msg = refusal(path);
  ck_assert_msg(strstr(msg, "without seal's checksum header") != NULL, "%s", msg);
  remove_dir();
}
END_TEST

/* Deletes one link from a written checkpoint, then expects a refusal naming it. */
static void assert_refused_without(const char *link, const char *expect) {
  seal_run_state a;
  populate(&a);
  if (!strcmp(link, "/teacher")) { /* only a run with a teacher has one */
    a.has_teacher = 1;
    seal_run_state_set_string(&a.teacher.path, "models/teacher");
  }
  seal_error e = {{0}};
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg);
  seal_run_state_free(&a);
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  ck_assert(f >= 0);
  ck_assert(H5Ldelete(f, link, H5P_DEFAULT) >= 0);
  H5Fclose(f);
  reseal(path);
  const char *msg = refusal(path);
  ck_assert_msg(strstr(msg, expect) != NULL, "expected '%s' in: %s", expect, msg);
}

START_TEST(checkpoint_missing_parts_are_refused) {
  make_dir();
  assert_refused_without("/policy", "/policy is missing");
  assert_refused_without("/optimizer/v", "/optimizer/v is missing");
  assert_refused_without("/rounds", "/rounds is missing");
  assert_refused_without("/selfedits", "/selfedits is missing");
  assert_refused_without("/policy/round_0", "/policy has 1 members but n_rounds is 2");
  assert_refused_without("/selfedits/round_2", "/selfedits has 2 members but n_rounds is 3");
  remove_dir();
}
END_TEST

START_TEST(checkpoint_stale_tmp_does_not_break_reading_or_writing) {
  make_dir();
  seal_run_state a, b;
  populate(&a);
  seal_error e = {{0}};
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg);
  /* An interrupted write leaves a partial path.tmp behind. */
  char tmp[160];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  write_bytes(tmp, "\x89HDF\r\n\x1a\npartial", 15);
  ck_assert_msg(seal_checkpoint_read(path, &b, &e) == 0, "%s", e.msg);
  assert_same_state(&a, &b);
  seal_run_state_free(&b);
  a.round = 9;
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg);
  ck_assert(!seal_file_exists(tmp));
  ck_assert_msg(seal_checkpoint_read(path, &b, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(b.round, 9);
  seal_run_state_free(&b);
  seal_run_state_free(&a);
  remove_dir();
}
END_TEST

START_TEST(checkpoint_failed_write_leaves_the_checkpoint_alone) {
  make_dir();
  seal_run_state a, b;
  populate(&a);
  seal_error e = {{0}};
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg);
  uint64_t st[4] = {0};
  seal_run_state_put_rng(&a, "x", st);
  float *data = seal_calloc(2, sizeof(float));
  seal_tensors_add(&a.opt_m, "bad/name", 1, (int64_t[]){2}, data);
  a.round = 5;
  ck_assert_int_eq(seal_checkpoint_write(path, &a, &e), -1);
  ck_assert_msg(strstr(e.msg, "bad/name") != NULL, "%s", e.msg);
  char tmp[160];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  ck_assert(!seal_file_exists(tmp));
  ck_assert_msg(seal_checkpoint_read(path, &b, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(b.round, 2);
  seal_run_state_free(&b);
  seal_run_state_free(&a);
  remove_dir();
}
END_TEST

START_TEST(checkpoint_hdf5_error_printing_is_restored) {
  make_dir();
  H5E_auto2_t before_func;
  void *before_data;
  H5Eget_auto2(H5E_DEFAULT, &before_func, &before_data);
  refusal("/nonexistent/seal/checkpoint.h5");
  write_foreign_hdf5(path, NULL, 0);
  refusal(path);
  H5E_auto2_t after_func;
  void *after_data;
  H5Eget_auto2(H5E_DEFAULT, &after_func, &after_data);
  ck_assert(before_func == after_func && before_data == after_data);
  remove_dir();
}
END_TEST

/* HDF5 identifiers of every kind alive in the process. */
static void count_ids(hsize_t counts[7]) {
  const H5I_type_t kinds[7] = {H5I_FILE,    H5I_GROUP, H5I_DATATYPE,   H5I_DATASPACE,
                               H5I_DATASET, H5I_ATTR,  H5I_GENPROP_LST};
  H5E_auto2_t func;
  void *data;
  H5Eget_auto2(H5E_DEFAULT, &func, &data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* a kind never used yet has no ID group */
  for (int i = 0; i < 7; i++) {
    counts[i] = 0;
    H5Inmembers(kinds[i], &counts[i]);
  }
  H5Eset_auto2(H5E_DEFAULT, func, data);
}

START_TEST(checkpoint_leaves_no_hdf5_objects_open) {
  make_dir();
  H5open();
  hsize_t before[7], after[7];
  count_ids(before);
  seal_run_state a, b;
  populate(&a);
  seal_error e = {{0}};
  ck_assert_int_eq(seal_checkpoint_write(path, &a, &e), 0);
  ck_assert_int_eq(seal_checkpoint_write(path, &a, &e), 0);
  ck_assert_int_eq(seal_checkpoint_read(path, &b, &e), 0);
  seal_run_state_free(&b);
  FILE *devnull = fopen("/dev/null", "w");
  ck_assert_int_eq(seal_checkpoint_summary(path, devnull, &e), 0);
  fclose(devnull);
  /* failures in the middle of reading and writing */
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  H5Ldelete(f, "/selfedits/round_2", H5P_DEFAULT);
  H5Fclose(f);
  reseal(path);
  refusal(path);
  ck_assert_int_eq(truncate(path, file_size(path) / 2), 0);
  refusal(path);
  seal_tensors_add(&a.policy[1], "bad/name", 1, (int64_t[]){2}, seal_calloc(2, sizeof(float)));
  ck_assert_int_eq(seal_checkpoint_write(path, &a, &e), -1);
  seal_run_state_free(&a);
  count_ids(after);
  for (int i = 0; i < 7; i++)
    ck_assert_msg(after[i] == before[i], "kind %d: %llu identifiers before, %llu after", i,
                  (unsigned long long)before[i], (unsigned long long)after[i]);
  remove_dir();
}
END_TEST

START_TEST(checkpoint_summary_prints_the_round_table) {
  make_dir();
  seal_run_state a;
  populate(&a);
  seal_error e = {{0}};
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg);
  seal_run_state_free(&a);
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  ck_assert_msg(seal_checkpoint_summary(path, out, &e) == 0, "%s", e.msg);
  fclose(out);
  const char *expect[] = {
      "seal-checkpoint version 2",
      "created:    2025-06-01T12:34:56Z",
      "round:      2, phase evaluate",
      "world size: 3",
      "qwen2, hidden 96, 3 layers, 6 heads (2 kv), vocab 1000, intermediate 250",
      "round contexts mean_reward  kept accuracy   seconds",
      "      0       50      0.2500    40   0.3300    1000.2",
      "      1       50      0.3750    44   0.4100    1234.5",
      /* per round: A [4,96] + B [32,4] + A [4,96] + B [96,4] = 384+128+384+384 */
      "round_1: 4 tensors, 1280 parameters",
      "AdamW step 17",
      "coordinator",
      "round_0: 2 records, 2 evaluated, mean reward 0.4000, 1 unusable",
      "round_1: 0 records, 0 evaluated",
      "round_2: 2 records, 1 evaluated, mean reward 1.0000",
  };
  for (size_t i = 0; i < sizeof expect / sizeof *expect; i++)
    ck_assert_msg(strstr(text, expect[i]) != NULL, "missing '%s' in:\n%s", expect[i], text);
  free(text);
  /* A refused file gives an error, not a summary. */
  write_bytes(path, "junk", 4);
  out = open_memstream(&text, &len);
  ck_assert_int_eq(seal_checkpoint_summary(path, out, &e), -1);
  fclose(out);
  ck_assert_uint_eq(len, 0);
  free(text);
  remove_dir();
}
END_TEST

START_TEST(checkpoint_h5dump_shows_the_layout) {
  if (system("command -v h5dump >/dev/null 2>&1") != 0) {
    fprintf(stderr, "checkpoint_h5dump_shows_the_layout: h5dump not found, skipped\n");
    return;
  }
  make_dir();
  seal_run_state a;
  populate(&a);
  seal_error e = {{0}};
  ck_assert_msg(seal_checkpoint_write(path, &a, &e) == 0, "%s", e.msg);
  seal_run_state_free(&a);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "h5dump -H '%s' 2>&1", path);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  seal_buf b = {0};
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, p)) > 0) seal_buf_append(&b, chunk, n);
  ck_assert_int_eq(pclose(p), 0);
  const char *expect[] = {
      "GROUP \"model\"",
      "GROUP \"policy\"",
      "GROUP \"round_0\"",
      "DATASET \"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight\"",
      "DATASPACE  SIMPLE { ( 4, 96 ) / ( 4, 96 ) }",
      "GROUP \"optimizer\"",
      "GROUP \"m\"",
      "DATASET \"rng\"",
      "DATASET \"rounds\"",
      "H5T_IEEE_F64LE \"mean_reward\"",
      "GROUP \"selfedits\"",
      "H5T_IEEE_F64LE \"label_reward\"",
      "H5T_STD_I32LE \"attempts\"",
      "STRSIZE H5T_VARIABLE", /* reason, metrics, text: readable text */
      "ATTRIBUTE \"format\"",
      "CSET H5T_CSET_UTF8",
  };
  for (size_t i = 0; i < sizeof expect / sizeof *expect; i++)
    ck_assert_msg(strstr(b.data, expect[i]) != NULL, "missing '%s' in:\n%s", expect[i], b.data);
  seal_buf_free(&b);
  remove_dir();
}
END_TEST

START_TEST(checkpoint_run_state_appends) {
  seal_run_state s;
  seal_run_state_init(&s);
  ck_assert_int_eq(strlen(s.created), 20);
  ck_assert(s.created[10] == 'T' && s.created[19] == 'Z');
  for (int i = 0; i < 100; i++)
    seal_run_state_add_selfedit(
        &s, 3, &(seal_selfedit_record){.context_id = i, .reward = i, .ok = 1, .text = "t"});
  ck_assert_int_eq(s.n_selfedit_rounds, 4);
  ck_assert_int_eq(s.n_selfedits[0], 0);
  ck_assert_int_eq(s.n_selfedits[3], 100);
  ck_assert_int_eq(s.selfedits[3][99].context_id, 99);
  seal_run_state_put_round(&s, &(seal_round_record){.round = 2, .kept = 1});
  seal_run_state_put_round(&s, &(seal_round_record){.round = 0, .kept = 2});
  seal_run_state_put_round(&s, &(seal_round_record){.round = 2, .kept = 3});
  ck_assert_int_eq(s.n_rounds, 2);
  ck_assert_int_eq(s.rounds[0].round, 0);
  ck_assert_int_eq(s.rounds[1].kept, 3);
  uint64_t st[4] = {1, 2, 3, 4};
  seal_run_state_put_rng(&s, "a", st);
  st[0] = 9;
  seal_run_state_put_rng(&s, "a", st);
  ck_assert_int_eq(s.n_rng, 1);
  ck_assert(seal_run_state_find_rng(&s, "a")->s[0] == 9);
  ck_assert_ptr_null(seal_run_state_find_rng(&s, "b"));
  seal_tensor_set set = {0};
  seal_tensors_add(&set, "x", 1, (int64_t[]){3}, seal_calloc(3, sizeof(float)));
  seal_run_state_set_policy(&s, 2, &set);
  ck_assert_int_eq(set.n, 0);
  ck_assert_int_eq(s.n_policy_rounds, 3);
  ck_assert_int_eq(s.policy[0].n, 0);
  ck_assert_int_eq(s.policy[2].n, 1);
  seal_run_state_free(&s);
  ck_assert_int_eq(s.n_selfedit_rounds, 0);
}
END_TEST

/* tests/e2e/checkpoint_h5dump.sh runs this case alone (CK_RUN_CASE=export) with
 * SEAL_CHECKPOINT_OUT set, to get a populated checkpoint for h5dump and `seal
 * inspect` without an executable of its own; alone, it writes to a temporary
 * directory and checks the file reads back. */
START_TEST(checkpoint_export_for_e2e) {
  make_dir();
  const char *out = getenv("SEAL_CHECKPOINT_OUT");
  const char *target = out && out[0] ? out : path;
  seal_run_state a, b;
  populate(&a);
  seal_error e = {{0}};
  ck_assert_msg(seal_checkpoint_write(target, &a, &e) == 0, "%s", e.msg);
  ck_assert_msg(seal_checkpoint_read(target, &b, &e) == 0, "%s", e.msg);
  assert_same_state(&a, &b);
  seal_run_state_free(&a);
  seal_run_state_free(&b);
  remove_dir();
}
END_TEST

Suite *checkpoint_suite(void) {
  Suite *s = suite_create("checkpoint");
  TCase *tc = tcase_create("checkpoint");
  tcase_add_test(tc, checkpoint_run_state_appends);
  tcase_add_test(tc, checkpoint_round_trip_is_exact);
  tcase_add_test(tc, checkpoint_empty_state_round_trips);
  tcase_add_test(tc, checkpoint_teacher_round_trips_beside_the_model);
  tcase_add_test(tc, checkpoint_second_write_keeps_first_as_prev);
  tcase_add_test(tc, checkpoint_truncated_file_is_refused_quietly);
  tcase_add_test(tc, checkpoint_garbage_and_missing_files_are_refused);
  tcase_add_test(tc, checkpoint_foreign_hdf5_is_refused_naming_what_is_missing);
  tcase_add_test(tc, checkpoint_missing_parts_are_refused);
  tcase_add_test(tc, checkpoint_stale_tmp_does_not_break_reading_or_writing);
  tcase_add_test(tc, checkpoint_failed_write_leaves_the_checkpoint_alone);
  tcase_add_test(tc, checkpoint_hdf5_error_printing_is_restored);
  tcase_add_test(tc, checkpoint_leaves_no_hdf5_objects_open);
  tcase_add_test(tc, checkpoint_summary_prints_the_round_table);
  tcase_add_test(tc, checkpoint_h5dump_shows_the_layout);
  suite_add_tcase(s, tc);
  TCase *export = tcase_create("export");
  tcase_add_test(export, checkpoint_export_for_e2e);
  suite_add_tcase(s, export);
  return s;
}
