/* tests/trainer/test_checkpoint_hostile.c — checkpoints that are damaged or
 * crafted (issue 11): a flipped byte anywhere is refused before HDF5 parses the
 * file; a tensor whose dims overflow or disagree with its storage is refused
 * before anything is allocated; values that index something (round, world size,
 * phase, policy rounds, self-edit ids) are refused when out of range; a write
 * that hits a full disk fails with a plain message, leaves the previous
 * checkpoint alone, and the process still exits cleanly (HDF5's exit handler
 * used to crash on the half-closed file). */
#include <check.h>
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trainer/checkpoint.h"
#include "trainer/checkpoint_sum.h"
#include "trainer/run_state.h"

static char dir[64];
static char path[128];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/seal-hostile-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/checkpoint.h5", dir);
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* A small state of a run in round 2 that finished rounds 0 and 1. */
static void populate(seal_run_state *s) {
  seal_run_state_init(s);
  seal_run_state_set_string(&s->job_yaml, "seed: 7\n");
  s->round = 2;
  s->world_size = 2;
  snprintf(s->phase, sizeof s->phase, "evaluate");
  s->lora_r = 2, s->lora_alpha = 4;
  for (int r = 0; r < 2; r++) {
    seal_tensor_set set = {0};
    float *a = seal_calloc(2 * 8, sizeof(float)), *b = seal_calloc(8 * 2, sizeof(float));
    for (int i = 0; i < 16; i++) a[i] = 0.25f * (float)i - 1.0f, b[i] = 0.5f * (float)(r - i);
    seal_tensors_add(&set, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", 2,
                     (int64_t[]){2, 8}, a);
    seal_tensors_add(&set, "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", 2,
                     (int64_t[]){8, 2}, b);
    seal_run_state_set_policy(s, r, &set);
  }
  seal_run_state_put_rng(s, "coordinator", (uint64_t[]){1, 2, 3, 4});
  seal_run_state_put_round(s, &(seal_round_record){0, 3, 0.5, 3, NAN, 1.0});
  seal_run_state_put_round(s, &(seal_round_record){1, 3, 0.25, 3, NAN, 1.0});
  seal_run_state_add_selfedit(s, 2,
                              &(seal_selfedit_record){.context_id = 4,
                                                      .sample = 1,
                                                      .repeat = 0,
                                                      .reward = 0.5,
                                                      .label_reward = NAN,
                                                      .n_examples = 3,
                                                      .ok = 1,
                                                      .attempts = 1,
                                                      .reason = "",
                                                      .metrics = "{}",
                                                      .text = "x"});
}

static void write_state(const seal_run_state *s) {
  seal_error e = {{0}};
  ck_assert_msg(seal_checkpoint_write(path, s, &e) == 0, "%s", e.msg);
}

static unsigned char *slurp(const char *p, size_t *n) {
  FILE *f = fopen(p, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  rewind(f);
  unsigned char *b = malloc(*n);
  ck_assert_uint_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

static void spit(const char *p, const unsigned char *b, size_t n) {
  FILE *f = fopen(p, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(b, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

/* Reads path expecting a refusal that names the file; returns the message. */
static const char *refusal(void) {
  static seal_error e;
  memset(&e, 0, sizeof e);
  seal_run_state s;
  ck_assert_int_eq(seal_checkpoint_read(path, &s, &e), -1);
  seal_run_state_free(&s);
  ck_assert_msg(strstr(e.msg, path) != NULL, "message does not name the file: %s", e.msg);
  return e.msg;
}

static void expect_refusal(const char *expect) {
  const char *msg = refusal();
  ck_assert_msg(strstr(msg, expect) != NULL, "expected '%s' in: %s", expect, msg);
}

/* ---- corruption --------------------------------------------------------------- */

/* Every byte of the first 8 KiB (the user block with the sum, the superblock,
 * the root group and its attributes: HDF5's metadata) and every 61st byte after
 * it, each flipped on its own: every one is refused, as damage, with a pointer
 * to the previous checkpoint; none reaches HDF5 (which crashed or hung on such
 * files), so none can crash or hang it. */
START_TEST(every_flipped_byte_is_refused) {
  make_dir();
  seal_run_state s;
  populate(&s);
  write_state(&s);
  write_state(&s); /* a .prev to point at */
  seal_run_state_free(&s);
  size_t n;
  unsigned char *good = slurp(path, &n);
  unsigned char *bad = malloc(n);
  int tried = 0;
  for (size_t at = 0; at < n; at += at < 8192 ? 1 : 61) {
    memcpy(bad, good, n);
    bad[at] ^= (unsigned char)(1u << (at % 8)); /* one bit, a different one each time */
    spit(path, bad, n);
    seal_error e = {{0}};
    seal_run_state t;
    int rc = seal_checkpoint_read(path, &t, &e);
    seal_run_state_free(&t);
    ck_assert_msg(rc == -1, "a flipped bit at byte %zu was accepted", at);
    ck_assert_msg(strstr(e.msg, "corrupt checkpoint") || strstr(e.msg, "not a seal checkpoint") ||
                      strstr(e.msg, "truncated checkpoint"),
                  "byte %zu: %s", at, e.msg);
    ck_assert_msg(strstr(e.msg, ".prev") != NULL, "byte %zu: no pointer to .prev: %s", at, e.msg);
    tried++;
  }
  ck_assert_int_ge(tried, 8192);
  /* inspect reads through the same check */
  seal_error e = {{0}};
  FILE *devnull = fopen("/dev/null", "w");
  ck_assert_int_eq(seal_checkpoint_summary(path, devnull, &e), -1);
  fclose(devnull);
  /* the intact bytes still read, and so does the previous checkpoint */
  spit(path, good, n);
  ck_assert_msg(seal_checkpoint_read(path, &s, &e) == 0, "%s", e.msg);
  seal_run_state_free(&s);
  char prev[160];
  snprintf(prev, sizeof prev, "%s.prev", path);
  ck_assert_msg(seal_checkpoint_read(prev, &s, &e) == 0, "%s", e.msg);
  seal_run_state_free(&s);
  free(good);
  free(bad);
  remove_dir();
}
END_TEST

START_TEST(truncated_and_extended_files_are_refused) {
  make_dir();
  seal_run_state s;
  populate(&s);
  write_state(&s);
  seal_run_state_free(&s);
  size_t n;
  unsigned char *good = slurp(path, &n);
  spit(path, good, n - 1);
  expect_refusal("truncated checkpoint");
  spit(path, good, 100);
  expect_refusal("not a seal checkpoint");
  unsigned char *longer = calloc(n + 7, 1);
  memcpy(longer, good, n);
  spit(path, longer, n + 7);
  expect_refusal("corrupt checkpoint");
  free(longer);
  free(good);
  remove_dir();
}
END_TEST

/* A damaged current checkpoint never displaces the good .prev when the next
 * write comes (keep_previous checks the sum, not HDF5). */
START_TEST(a_damaged_checkpoint_never_becomes_prev) {
  make_dir();
  seal_run_state s;
  populate(&s);
  write_state(&s);
  write_state(&s);
  size_t n;
  unsigned char *b = slurp(path, &n);
  b[n / 2] ^= 0x10;
  spit(path, b, n);
  s.round = 3;
  write_state(&s);
  char prev[160];
  snprintf(prev, sizeof prev, "%s.prev", path);
  seal_run_state t;
  seal_error e = {{0}};
  ck_assert_msg(seal_checkpoint_read(prev, &t, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(t.round, 2);
  seal_run_state_free(&t);
  ck_assert_msg(seal_checkpoint_read(path, &t, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(t.round, 3);
  seal_run_state_free(&t);
  seal_run_state_free(&s);
  free(b);
  remove_dir();
}
END_TEST

/* ---- crafted shapes (the sum matches: whoever crafts a file can compute it) ---- */

/* Replaces /policy/round_0's first tensor with a chunked float dataset of the
 * given dims (HDF5 allocates nothing for it), and reseals the file. */
static void craft_tensor(int ndim, const hsize_t *dims) {
  const char *name =
      "/policy/round_0/base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  ck_assert(f >= 0);
  ck_assert(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
  hsize_t chunk[4] = {1, 1, 1, 1};
  hid_t space = H5Screate_simple(ndim, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  ck_assert(H5Pset_chunk(dcpl, ndim, chunk) >= 0);
  hid_t ds = H5Dcreate2(f, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  ck_assert(ds >= 0);
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Fclose(f);
  seal_error e = {{0}};
  ck_assert_msg(seal_ckpt_reseal(path, &e) == 0, "%s", e.msg);
}

/* dims whose element count times 4 wraps to 0 (2^31 x 2^31 floats), then a count
 * under the cap with no data behind it: both refused, with and without tensor
 * data (seal inspect reads shapes only), and nothing is allocated for them (the
 * wrapped size once made a 1-byte buffer that HDF5 wrote 2^64 bytes into). */
START_TEST(huge_tensor_dims_are_refused_before_allocating) {
  make_dir();
  seal_run_state s;
  populate(&s);
  write_state(&s);
  craft_tensor(2, (hsize_t[]){(hsize_t)1 << 31, (hsize_t)1 << 31});
  expect_refusal("makes more than");
  FILE *devnull = fopen("/dev/null", "w");
  seal_error e = {{0}};
  ck_assert_int_eq(seal_checkpoint_summary(path, devnull, &e), -1);
  ck_assert_msg(strstr(e.msg, "makes more than") != NULL, "%s", e.msg);

  write_state(&s);
  craft_tensor(4, (hsize_t[]){(hsize_t)1 << 62, 4, 4, 4});
  expect_refusal("makes more than");

  write_state(&s);
  craft_tensor(2, (hsize_t[]){1 << 16, 1 << 10}); /* 256 MiB claimed, nothing stored */
  expect_refusal("but the file stores 0 bytes");
  ck_assert_int_eq(seal_checkpoint_summary(path, devnull, &e), -1);
  fclose(devnull);
  seal_run_state_free(&s);
  remove_dir();
}
END_TEST

/* ---- crafted values that index something ---------------------------------- */

typedef void (*spoil_fn)(seal_run_state *s);
static void negative_round(seal_run_state *s) { s->round = -5; }
static void huge_round(seal_run_state *s) { s->round = 2000000000; }
static void zero_world(seal_run_state *s) { s->world_size = 0; }
static void unknown_phase(seal_run_state *s) { snprintf(s->phase, sizeof s->phase, "../x"); }
static void policy_ahead(seal_run_state *s) { s->round = 1; }
static void round_row_ahead(seal_run_state *s) { s->rounds[1].round = 7; }
static void round_rows_twice(seal_run_state *s) { s->rounds[1].round = 0; }
static void selfedits_ahead(seal_run_state *s) {
  seal_run_state_add_selfedit(s, 9,
                              &(seal_selfedit_record){.context_id = 0,
                                                      .sample = 0,
                                                      .repeat = -1,
                                                      .reward = NAN,
                                                      .label_reward = NAN,
                                                      .ok = 1,
                                                      .attempts = 1,
                                                      .reason = "",
                                                      .metrics = "{}",
                                                      .text = "x"});
}
static void negative_context(seal_run_state *s) { s->selfedits[2][0].context_id = -3; }
static void negative_sample(seal_run_state *s) { s->selfedits[2][0].sample = -1; }
static void repeat_below(seal_run_state *s) { s->selfedits[2][0].repeat = -2; }
static void bad_ok(seal_run_state *s) { s->selfedits[2][0].ok = 5; }
static void zero_lora_r(seal_run_state *s) { s->lora_r = 0; }
static void nan_alpha(seal_run_state *s) { s->lora_alpha = NAN; }

static const struct {
  spoil_fn spoil;
  const char *expect;
} spoiled[] = {
    {negative_round, "attribute 'round' is -5"},
    {huge_round, "attribute 'round' is 2000000000"},
    {zero_world, "attribute 'world_size' is 0"},
    {unknown_phase, "attribute 'phase' is '../x'"},
    {policy_ahead, "/policy holds 2 rounds but the checkpoint is at round 1"},
    {round_row_ahead, "/rounds: row 1 has round 7"},
    {round_rows_twice, "/rounds: row 1 has round 0"},
    {selfedits_ahead, "/selfedits holds 10 rounds but the checkpoint is at round 2"},
    {negative_context, "context_id -3"},
    {negative_sample, "sample -1"},
    {repeat_below, "repeat -2"},
    {bad_ok, "ok 5"},
    {zero_lora_r, "'lora_r' is 0"},
    {nan_alpha, "'lora_alpha' is not a finite number"},
};

/* Each spoiled value written through the ordinary writer (so the sum matches)
 * is refused on read naming the field; round -5 used to be resumed and read out
 * of bounds in round.c. */
START_TEST(out_of_range_values_are_refused) {
  make_dir();
  for (size_t i = 0; i < sizeof spoiled / sizeof *spoiled; i++) {
    seal_run_state s;
    populate(&s);
    spoiled[i].spoil(&s);
    write_state(&s);
    seal_run_state_free(&s);
    expect_refusal(spoiled[i].expect);
    unlink(path);
  }
  remove_dir();
}
END_TEST

/* ---- a full disk ------------------------------------------------------------ */

/* In a child: files may grow to `limit` bytes (RLIMIT_FSIZE, SIGXFSZ ignored so
 * that write() fails with EFBIG, as on a full disk), a checkpoint bigger than
 * that is written, and the child exits 1 as seal does after the error. Exit 3:
 * the write did not fail; 4: no clear message. A signal (SIGSEGV in HDF5's exit
 * handler, as before) fails the test. */
static void write_into_full_disk(const seal_run_state *big, rlim_t limit) {
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {limit, limit};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(5);
    seal_error e = {{0}};
    if (seal_checkpoint_write(path, big, &e) == 0) _exit(3);
    if (!strstr(e.msg, "File too large") || !strstr(e.msg, "checkpoint.h5.tmp")) {
      fprintf(stderr, "unclear message: %s\n", e.msg);
      _exit(4);
    }
    exit(1); /* atexit handlers, HDF5's among them, run here */
  }
  int status = 0;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(!WIFSIGNALED(status), "the child died of signal %d", WTERMSIG(status));
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "the child exited %d",
                WEXITSTATUS(status));
}

START_TEST(a_full_disk_fails_cleanly_and_keeps_the_checkpoint) {
  make_dir();
  seal_run_state s;
  populate(&s);
  write_state(&s);
  size_t n;
  free(slurp(path, &n));
  /* the same state with a large optimizer moment: 64 KiB more than allowed */
  float *m = seal_calloc(1 << 16, sizeof(float));
  seal_tensors_add(&s.opt_m, "big", 1, (int64_t[]){1 << 16}, m);
  write_into_full_disk(&s, (rlim_t)n + 4096);
  write_into_full_disk(&s, 0); /* not even the header fits */
  seal_run_state_free(&s);
  char tmp[160];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  ck_assert_msg(!seal_file_exists(tmp), "the partial %s is left behind", tmp);
  seal_run_state t;
  seal_error e = {{0}};
  ck_assert_msg(seal_checkpoint_read(path, &t, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(t.opt_m.n, 0);
  seal_run_state_free(&t);
  remove_dir();
}
END_TEST

Suite *checkpoint_hostile_suite(void) {
  Suite *s = suite_create("checkpoint_hostile");
  TCase *tc = tcase_create("checkpoint_hostile");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, every_flipped_byte_is_refused);
  tcase_add_test(tc, truncated_and_extended_files_are_refused);
  tcase_add_test(tc, a_damaged_checkpoint_never_becomes_prev);
  tcase_add_test(tc, huge_tensor_dims_are_refused_before_allocating);
  tcase_add_test(tc, out_of_range_values_are_refused);
  tcase_add_test(tc, a_full_disk_fails_cleanly_and_keeps_the_checkpoint);
  suite_add_tcase(s, tc);
  return s;
}
