/* trainer/checkpoint.c — writing the run state as an HDF5 checkpoint, atomically
 * (layout: docs/checkpoint.md). Reading and the summary are in checkpoint_read.c. */
#include "trainer/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trainer/checkpoint_h5.h"

/* ---- the layout ------------------------------------------------------------ */

static int write_root(seal_h5 *c, hid_t f, const seal_run_state *s) {
  char written[40];
  seal_utc_now(written);
  const char *created = s->created[0] ? s->created : written;
  seal_h5_where(c, "/");
  return seal_h5_put_str(c, f, "format", SEAL_CHECKPOINT_FORMAT) |
         seal_h5_put_int(c, f, "version", SEAL_CHECKPOINT_VERSION) |
         seal_h5_put_str(c, f, "seal_version", SEAL_VERSION) |
         seal_h5_put_str(c, f, "created", created) | seal_h5_put_str(c, f, "written", written) |
         seal_h5_put_str(c, f, "job_yaml", s->job_yaml) |
         seal_h5_put_u64(c, f, "run_seed", s->run_seed) |
         seal_h5_put_int(c, f, "world_size", s->world_size) |
         seal_h5_put_int(c, f, "round", s->round) | seal_h5_put_str(c, f, "phase", s->phase);
}

static int write_model(seal_h5 *c, hid_t f, const seal_run_state *s) {
  seal_h5_where(c, "/model");
  hid_t g = seal_h5_create_group(c, f, "model");
  if (g < 0) return -1;
  int rc = seal_h5_put_str(c, g, "description", "the base model the run started from") |
           seal_h5_put_str(c, g, "architecture", s->architecture) |
           seal_h5_put_str(c, g, "base_path", s->base_path) |
           seal_h5_put_str(c, g, "base_sha256", s->base_sha256) |
           seal_h5_put_int(c, g, "hidden", s->hidden) |
           seal_h5_put_int(c, g, "n_layers", s->n_layers) |
           seal_h5_put_int(c, g, "n_heads", s->n_heads) |
           seal_h5_put_int(c, g, "n_kv_heads", s->n_kv_heads) |
           seal_h5_put_int(c, g, "vocab_size", s->vocab_size) |
           seal_h5_put_int(c, g, "intermediate", s->intermediate);
  H5Gclose(g);
  return rc;
}

/* Group `name` under parent (full: its path, for messages) holding the tensors. */
static int write_tensor_group(seal_h5 *c, hid_t parent, const char *name, const char *full,
                              const seal_tensor_set *t) {
  seal_h5_where(c, "%s", full);
  hid_t g = seal_h5_create_group(c, parent, name);
  int rc = g < 0 ? -1 : seal_h5_write_tensors(c, g, full, t);
  seal_h5_close(g);
  return rc;
}

static int write_policy(seal_h5 *c, hid_t f, const seal_run_state *s) {
  seal_h5_where(c, "/policy");
  hid_t g = seal_h5_create_group(c, f, "policy");
  if (g < 0) return -1;
  int rc = seal_h5_put_str(c, g, "description",
                           "round_N: the LoRA update of policy round N (PEFT names; "
                           "A [r, in], B [out, r], scaling lora_alpha / lora_r)") |
           seal_h5_put_int(c, g, "n_rounds", s->n_policy_rounds) |
           seal_h5_put_int(c, g, "lora_r", s->lora_r) |
           seal_h5_put_f32(c, g, "lora_alpha", s->lora_alpha);
  for (int r = 0; rc == 0 && r < s->n_policy_rounds; r++) {
    char name[32], full[48];
    snprintf(name, sizeof name, "round_%d", r);
    snprintf(full, sizeof full, "/policy/%s", name);
    rc = write_tensor_group(c, g, name, full, &s->policy[r]);
  }
  H5Gclose(g);
  return rc;
}

static int write_optimizer(seal_h5 *c, hid_t f, const seal_run_state *s) {
  seal_h5_where(c, "/optimizer");
  hid_t g = seal_h5_create_group(c, f, "optimizer");
  if (g < 0) return -1;
  int rc = seal_h5_put_str(c, g, "description",
                           "AdamW of the policy update: m and v are the first and second "
                           "moments by parameter name; step counts the updates taken") |
           seal_h5_put_int(c, g, "step", s->opt_step) | seal_h5_put_f64(c, g, "lr", s->opt_lr);
  const char *names[2] = {"m", "v"};
  const seal_tensor_set *sets[2] = {&s->opt_m, &s->opt_v};
  for (int i = 0; rc == 0 && i < 2; i++) {
    char full[32];
    snprintf(full, sizeof full, "/optimizer/%s", names[i]);
    rc = write_tensor_group(c, g, names[i], full, sets[i]);
  }
  H5Gclose(g);
  return rc;
}

static int write_selfedits(seal_h5 *c, hid_t f, const seal_run_state *s) {
  seal_h5_where(c, "/selfedits");
  hid_t g = seal_h5_create_group(c, f, "selfedits");
  if (g < 0) return -1;
  int rc = seal_h5_put_str(c, g, "description",
                           "round_N: every self-edit of round N generated or evaluated so far "
                           "(reward NaN: generated, not evaluated yet)") |
           seal_h5_put_int(c, g, "n_rounds", s->n_selfedit_rounds);
  for (int r = 0; rc == 0 && r < s->n_selfedit_rounds; r++) {
    char name[32];
    snprintf(name, sizeof name, "round_%d", r);
    seal_h5_where(c, "/selfedits/%s", name);
    /* A record's strings are never NULL once stored, but a state built by hand
     * may hold one; write it as "" ("{}" for the metrics). */
    int n = s->n_selfedits[r];
    seal_selfedit_record *rows = seal_malloc((size_t)(n ? n : 1) * sizeof *rows);
    for (int i = 0; i < n; i++) {
      rows[i] = s->selfedits[r][i];
      if (!rows[i].reason) rows[i].reason = "";
      if (!rows[i].metrics) rows[i].metrics = "{}";
      if (!rows[i].text) rows[i].text = "";
    }
    rc = seal_h5_write_table(c, g, name, &seal_h5_selfedit_table, rows, n,
                             "context_id, sample (of k), repeat (evaluation of the same "
                             "self-edit; -1: generated), reward (the one used), label_reward "
                             "(by the gold labels; NaN: not computed), n_examples (of its "
                             "plan), ok (0: unusable), attempts (samples drawn), reason (why "
                             "unusable), metrics (the task's, a JSON object), text");
    free(rows);
  }
  H5Gclose(g);
  return rc;
}

static int write_layout(seal_h5 *c, hid_t f, const seal_run_state *s) {
  if (write_root(c, f, s) || write_model(c, f, s) || write_policy(c, f, s) ||
      write_optimizer(c, f, s))
    return -1;
  seal_h5_where(c, "/rng");
  if (seal_h5_write_table(c, f, "rng", &seal_h5_rng_table, s->rng, s->n_rng,
                          "per-stream xoshiro256** generator states: name, state[4]"))
    return -1;
  seal_h5_where(c, "/rounds");
  if (seal_h5_write_table(c, f, "rounds", &seal_h5_round_table, s->rounds, s->n_rounds,
                          "one row per finished round: round, contexts sampled, mean_reward "
                          "of its evaluated self-edits, kept (by ReST-EM), accuracy after "
                          "its update, seconds of wall-clock time"))
    return -1;
  return write_selfedits(c, f, s);
}

/* ---- files ----------------------------------------------------------------- */

static int write_hdf5(const char *tmp, const seal_run_state *s, seal_error *e) {
  seal_h5 c;
  seal_h5_begin(&c, tmp, e);
  hid_t fapl = seal_h5_fapl(&c);
  hid_t fcpl = SEAL_H5(&c, H5Pcreate, (H5P_FILE_CREATE));
  hid_t f = -1;
  if (!c.failed && SEAL_H5(&c, H5Pset_link_creation_order,
                           (fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED)) >= 0)
    f = SEAL_H5(&c, H5Fcreate, (tmp, H5F_ACC_TRUNC, fcpl, fapl));
  if (f >= 0) {
    write_layout(&c, f, s);
    seal_h5_where(&c, "/");
    /* A failed close can mean unwritten data: it is a failure of the write. */
    SEAL_H5(&c, H5Fclose, (f));
  }
  seal_h5_close(fcpl);
  seal_h5_close(fapl);
  seal_h5_end(&c);
  return c.failed ? -1 : 0;
}

static int fsync_path(const char *path, int flags, seal_error *e) {
  int fd = open(path, flags);
  if (fd < 0) return seal_errorf(e, "%s: cannot open to sync: %s", path, strerror(errno));
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0 && err != EINVAL) /* EINVAL: a directory that cannot be synced */
    return seal_errorf(e, "%s: fsync failed: %s", path, strerror(err));
  return 0;
}

/* Opens the file and checks the root 'format' attribute: enough to know that a
 * file is a checkpoint HDF5 wrote completely (a partial file fails to open). */
static bool looks_like_checkpoint(const char *path) {
  seal_error e;
  seal_h5 c;
  seal_h5_begin(&c, path, &e);
  bool ok = false;
  hid_t fapl = seal_h5_fapl(&c);
  hid_t f = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDONLY, fapl) : -1;
  char *format = NULL;
  if (f >= 0 && seal_h5_get_str(&c, f, "/", "format", &format) == 0)
    ok = !strcmp(format, SEAL_CHECKPOINT_FORMAT);
  free(format);
  seal_h5_close(f);
  seal_h5_close(fapl);
  seal_h5_end(&c);
  return ok;
}

/* path.prev becomes the current checkpoint through a hard link, so that path
 * exists at every moment; where hard links are impossible, a rename. */
static void keep_previous(const char *path) {
  if (!seal_file_exists(path)) return;
  char *prev = seal_asprintf("%s.prev", path);
  if (!looks_like_checkpoint(path)) {
    seal_warn("%s is not a readable checkpoint; %s is kept as it is", path, prev);
  } else if (unlink(prev) != 0 && errno != ENOENT) {
    seal_warn("cannot replace %s: %s", prev, strerror(errno));
  } else if (link(path, prev) != 0 && rename(path, prev) != 0) {
    seal_warn("cannot keep %s as %s: %s", path, prev, strerror(errno));
  }
  free(prev);
}

static int sync_directory(const char *path, seal_error *e) {
  char *copy = seal_strdup(path);
  int rc = fsync_path(dirname(copy), O_RDONLY | O_DIRECTORY, e);
  free(copy);
  return rc;
}

int seal_checkpoint_write(const char *path, const seal_run_state *s, seal_error *e) {
  char *tmp = seal_asprintf("%s.tmp", path);
  int rc = -1;
  if (write_hdf5(tmp, s, e) != 0 || fsync_path(tmp, O_RDONLY, e) != 0) goto fail;
  if (!looks_like_checkpoint(tmp)) {
    seal_errorf(e, "%s: the checkpoint just written does not read back", tmp);
    goto fail;
  }
  keep_previous(path);
  if (rename(tmp, path) != 0) {
    seal_errorf(e, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    goto fail;
  }
  rc = sync_directory(path, e);
  free(tmp);
  return rc;
fail:
  unlink(tmp);
  free(tmp);
  return -1;
}
