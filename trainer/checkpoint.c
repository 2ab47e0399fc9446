/* trainer/checkpoint.c — writing the run state as an HDF5 checkpoint, atomically
 * (layout: docs/checkpoint.md). Reading and the summary are in checkpoint_read.c. */
#include "trainer/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainer/checkpoint_h5.h"
#include "trainer/checkpoint_sum.h"

/* ---- the layout ------------------------------------------------------------ */

int seal_checkpoint_version_of(const seal_run_state *s) {
  return s->has_teacher ? SEAL_CHECKPOINT_VERSION : SEAL_CHECKPOINT_MIN_VERSION;
}

static int write_root(seal_h5 *c, hid_t f, const seal_run_state *s) {
  char written[40];
  seal_utc_now(written);
  const char *created = s->created[0] ? s->created : written;
  seal_h5_where(c, "/");
  return seal_h5_put_str(c, f, "format", SEAL_CHECKPOINT_FORMAT) |
         seal_h5_put_int(c, f, "version", seal_checkpoint_version_of(s)) |
         seal_h5_put_str(c, f, "seal_version", SEAL_VERSION) |
         seal_h5_put_str(c, f, "created", created) | seal_h5_put_str(c, f, "written", written) |
         seal_h5_put_str(c, f, "job_yaml", s->job_yaml) |
         seal_h5_put_u64(c, f, "run_seed", s->run_seed) |
         seal_h5_put_int(c, f, "world_size", s->world_size) |
         seal_h5_put_int(c, f, "round", s->round) | seal_h5_put_str(c, f, "phase", s->phase) |
         seal_h5_put_str(c, f, "train_data_fnv1a64", s->train_fnv1a);
}

/* Group /name (/model, /teacher): the model m, of the given description. */
static int write_model_group(seal_h5 *c, hid_t f, const char *name, const char *description,
                             const seal_model_record *m, const char *sha256) {
  seal_h5_where(c, "/%s", name);
  hid_t g = seal_h5_create_group(c, f, name);
  if (g < 0) return -1;
  int rc =
      seal_h5_put_str(c, g, "description", description) |
      seal_h5_put_str(c, g, "architecture", m->architecture) |
      seal_h5_put_str(c, g, "base_path", m->path) | seal_h5_put_str(c, g, "base_sha256", sha256) |
      seal_h5_put_int(c, g, "hidden", m->hidden) | seal_h5_put_int(c, g, "n_layers", m->n_layers) |
      seal_h5_put_int(c, g, "n_heads", m->n_heads) |
      seal_h5_put_int(c, g, "n_kv_heads", m->n_kv_heads) |
      seal_h5_put_int(c, g, "vocab_size", m->vocab_size) |
      seal_h5_put_int(c, g, "intermediate", m->intermediate) |
      seal_h5_put_str(c, g, "files_fnv1a64", m->files_fnv1a) |
      seal_h5_put_str(c, g, "device", m->device);
  H5Gclose(g);
  return rc;
}

/* /model, and /teacher when the run has one. */
static int write_models(seal_h5 *c, hid_t f, const seal_run_state *s) {
  seal_model_record m;
  seal_run_state_model(s, &m);
  const char *what = s->has_teacher ? "the student: the model the inner loop adapts and the "
                                      "reward scores (the job's model)"
                                    : "the base model the run started from";
  if (write_model_group(c, f, "model", what, &m, s->base_sha256)) return -1;
  if (!s->has_teacher) return 0;
  return write_model_group(c, f, "teacher",
                           "the teacher: the model that writes the self-edits and whose policy "
                           "/policy trains",
                           &s->teacher, "");
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
  if (write_root(c, f, s) || write_models(c, f, s) || write_policy(c, f, s) ||
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

/* The checkpoint as a file image built in memory by HDF5's core driver (no
 * backing file), user block included. HDF5 never writes to the disk itself: a
 * full disk or a quota then fails in write_image below, with a plain errno,
 * instead of inside H5Fclose, whose failure leaves a half-closed file behind
 * that HDF5's exit handler crashes on (HDF5 1.10). */
static int build_image(const char *name, const seal_run_state *s, unsigned char **image,
                       size_t *size, seal_error *e) {
  *image = NULL;
  *size = 0;
  seal_h5 c;
  seal_h5_begin(&c, name, e);
  hid_t fapl = seal_h5_fapl(&c);
  hid_t fcpl = SEAL_H5(&c, H5Pcreate, (H5P_FILE_CREATE));
  hid_t f = -1;
  if (!c.failed && SEAL_H5(&c, H5Pset_fapl_core, (fapl, 1 << 20, 0)) >= 0 &&
      SEAL_H5(&c, H5Pset_userblock, (fcpl, SEAL_CKPT_HEADER_SIZE)) >= 0 &&
      SEAL_H5(&c, H5Pset_link_creation_order,
              (fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED)) >= 0)
    f = SEAL_H5(&c, H5Fcreate, (name, H5F_ACC_TRUNC, fcpl, fapl));
  if (f >= 0) {
    write_layout(&c, f, s);
    seal_h5_where(&c, "/");
    /* The superblock and metadata cache reach the image only on a flush. */
    ssize_t n = c.failed || SEAL_H5(&c, H5Fflush, (f, H5F_SCOPE_GLOBAL)) < 0
                    ? -1
                    : SEAL_H5(&c, H5Fget_file_image, (f, NULL, 0));
    if (n > 8) {
      /* HDF5 1.10 leaves the user block out of the image (the superblock comes
       * first), later versions may not: room is made for it either way, in
       * the one buffer that is then written (a checkpoint can be large). */
      size_t total = SEAL_CKPT_HEADER_SIZE + (size_t)n;
      unsigned char *buf = seal_calloc(total, 1), *hdf5 = buf + SEAL_CKPT_HEADER_SIZE;
      if (SEAL_H5(&c, H5Fget_file_image, (f, hdf5, (size_t)n)) == n) {
        if (memcmp(hdf5, "\x89HDF\r\n\x1a\n", 8) != 0 && (size_t)n > SEAL_CKPT_HEADER_SIZE) {
          memmove(hdf5, hdf5 + SEAL_CKPT_HEADER_SIZE, (size_t)n - SEAL_CKPT_HEADER_SIZE);
          total = (size_t)n; /* the image held the user block */
        }
        *image = buf, *size = total;
      } else {
        free(buf);
      }
    } else if (n >= 0) {
      seal_h5_fail(&c, "HDF5 made a file image of %zd bytes", n);
    }
    SEAL_H5(&c, H5Fclose, (f));
  }
  seal_h5_close(fcpl);
  seal_h5_close(fapl);
  seal_h5_end(&c);
  if (c.failed || *size == 0) {
    free(*image);
    *image = NULL;
    return -1;
  }
  return 0;
}

/* Writes the image to path (created or truncated) and fsyncs it. */
static int write_image(const char *path, const unsigned char *image, size_t size, seal_error *e) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return seal_errorf(e, "%s: cannot create: %s", path, strerror(errno));
  size_t done = 0;
  while (done < size) {
    ssize_t w = write(fd, image + done, size - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += (size_t)w;
  }
  int err = errno;
  if (done == size && fsync(fd) != 0 && errno != EINVAL) err = errno, done = 0;
  if (close(fd) != 0 && done == size) err = errno, done = 0;
  if (done != size)
    return seal_errorf(e, "%s: writing the checkpoint failed after %zu of %zu bytes: %s", path,
                       done, size, strerror(err ? err : EIO));
  return 0;
}

static int write_checkpoint_file(const char *tmp, const seal_run_state *s, seal_error *e) {
  unsigned char *image;
  size_t size;
  if (build_image(tmp, s, &image, &size, e)) return -1;
  seal_ckpt_sum_fill(image, size);
  int rc = write_image(tmp, image, size, e);
  free(image);
  return rc;
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

/* The file this process last put in place, by identity: the run rewrites its
 * checkpoint after every work item, and re-reading a file of gigabytes to check
 * a sum computed a moment ago would triple the cost of each write. Any change to
 * the file since (another writer, a truncation, an edit) changes its size,
 * mtime or inode, and then the sum is checked. */
static struct {
  bool valid;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
} last_written;

static void remember_written(const char *path) {
  struct stat st;
  last_written.valid = stat(path, &st) == 0;
  last_written.dev = st.st_dev, last_written.ino = st.st_ino, last_written.size = st.st_size;
  last_written.mtime = st.st_mtim;
}

static bool is_last_written(const char *path) {
  struct stat st;
  return last_written.valid && stat(path, &st) == 0 && st.st_dev == last_written.dev &&
         st.st_ino == last_written.ino && st.st_size == last_written.size &&
         st.st_mtim.tv_sec == last_written.mtime.tv_sec &&
         st.st_mtim.tv_nsec == last_written.mtime.tv_nsec;
}

/* A file is an intact checkpoint when its checksum matches (HDF5 never parses a
 * file that fails it, nor one without it). */
static bool looks_like_checkpoint(const char *path) {
  if (is_last_written(path)) return true;
  seal_error e;
  return seal_ckpt_verify_file(path, &e) == 0;
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
  /* Every byte was written and fsynced (write_image), from an image HDF5 made
   * and seal summed in memory: reading it back would read the page cache. */
  if (write_checkpoint_file(tmp, s, e) != 0) goto fail;
  keep_previous(path);
  if (rename(tmp, path) != 0) {
    seal_errorf(e, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    goto fail;
  }
  remember_written(path);
  rc = sync_directory(path, e);
  free(tmp);
  return rc;
fail:
  unlink(tmp);
  free(tmp);
  return -1;
}
