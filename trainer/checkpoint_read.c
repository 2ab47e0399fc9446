/* trainer/checkpoint_read.c — reading a checkpoint back into a run state, refusing
 * anything that is not a complete seal checkpoint, and the `seal inspect` summary. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trainer/checkpoint.h"
#include "trainer/checkpoint_h5.h"
#include "trainer/checkpoint_sum.h"

/* A content hash (of the model's files, of the training data): absent in checkpoints of an older
 * seal ("" then), else "" or 16 lowercase hex digits. */
static int get_optional_hash(seal_h5 *c, hid_t g, const char *g_name, const char *name,
                             char out[17]) {
  out[0] = '\0';
  htri_t exists = SEAL_H5(c, H5Aexists, (g, name));
  if (exists <= 0) return exists < 0 ? -1 : 0;
  if (seal_h5_get_str_buf(c, g, g_name, name, out, 17)) return -1;
  size_t n = strlen(out);
  if (n != 0 && (n != 16 || strspn(out, "0123456789abcdef") != 16))
    return seal_h5_fail(c, "%s: attribute '%s' is '%s', expected 16 hex digits", g_name, name, out);
  return 0;
}

/* A string attribute that checkpoints of an older seal lack ("" then). */
static int get_optional_str(seal_h5 *c, hid_t g, const char *g_name, const char *name, char *out,
                            size_t size) {
  out[0] = '\0';
  htri_t exists = SEAL_H5(c, H5Aexists, (g, name));
  if (exists <= 0) return exists < 0 ? -1 : 0;
  return seal_h5_get_str_buf(c, g, g_name, name, out, size);
}

static int read_root(seal_h5 *c, hid_t f, seal_run_state *s, seal_checkpoint_info *info) {
  seal_h5_where(c, "/");
  char *format = NULL;
  if (seal_h5_get_str(c, f, "/", "format", &format) != 0) {
    free(format);
    return -1;
  }
  int rc = 0;
  if (strcmp(format, SEAL_CHECKPOINT_FORMAT) != 0)
    rc = seal_h5_fail(c, "not a seal checkpoint: format is '%s', expected '%s'", format,
                      SEAL_CHECKPOINT_FORMAT);
  free(format);
  if (rc) return -1;
  if (seal_h5_get_int(c, f, "/", "version", &info->version)) return -1;
  if (info->version > SEAL_CHECKPOINT_VERSION)
    return seal_h5_fail(c,
                        "checkpoint version %d is newer than this seal (%s) reads (up to %d); "
                        "use a newer seal",
                        info->version, SEAL_VERSION, SEAL_CHECKPOINT_VERSION);
  if (info->version < 1) return seal_h5_fail(c, "checkpoint version %d is invalid", info->version);
  if (info->version < SEAL_CHECKPOINT_MIN_VERSION)
    return seal_h5_fail(c,
                        "checkpoint version %d is older than this seal (%s) reads (%d to %d): "
                        "its self-edit table has another layout (docs/checkpoint.md, "
                        "Versions); inspect or finish that run with the seal that wrote it",
                        info->version, SEAL_VERSION, SEAL_CHECKPOINT_MIN_VERSION,
                        SEAL_CHECKPOINT_VERSION);
  char *job = NULL;
  rc = seal_h5_get_str_buf(c, f, "/", "seal_version", info->seal_version,
                           sizeof info->seal_version) ||
       seal_h5_get_str_buf(c, f, "/", "created", s->created, sizeof s->created) ||
       seal_h5_get_str_buf(c, f, "/", "written", info->written, sizeof info->written) ||
       seal_h5_get_str(c, f, "/", "job_yaml", &job) ||
       seal_h5_get_u64(c, f, "/", "run_seed", &s->run_seed) ||
       seal_h5_get_int(c, f, "/", "world_size", &s->world_size) ||
       seal_h5_get_int(c, f, "/", "round", &s->round) ||
       seal_h5_get_str_buf(c, f, "/", "phase", s->phase, sizeof s->phase) ||
       get_optional_hash(c, f, "/", "train_data_fnv1a64", s->train_fnv1a);
  /* Empty strings stand for absent ones (the writer stores NULL as ""). */
  s->job_yaml = job && job[0] ? job : (free(job), NULL);
  return rc ? -1 : 0;
}

/* Group /name (/model, /teacher) into m (its path owned) and sha256[65]. */
static int read_model_group(seal_h5 *c, hid_t f, const char *name, seal_model_record *m,
                            char *sha256) {
  char where[16];
  snprintf(where, sizeof where, "/%s", name);
  seal_h5_where(c, "%s", where);
  hid_t g = seal_h5_open_group(c, f, "/", name);
  if (g < 0) return -1;
  char *base = NULL;
  int rc =
      seal_h5_get_str_buf(c, g, where, "architecture", m->architecture, sizeof m->architecture) ||
      seal_h5_get_str(c, g, where, "base_path", &base) ||
      seal_h5_get_str_buf(c, g, where, "base_sha256", sha256, 65) ||
      seal_h5_get_int(c, g, where, "hidden", &m->hidden) ||
      seal_h5_get_int(c, g, where, "n_layers", &m->n_layers) ||
      seal_h5_get_int(c, g, where, "n_heads", &m->n_heads) ||
      seal_h5_get_int(c, g, where, "n_kv_heads", &m->n_kv_heads) ||
      seal_h5_get_int(c, g, where, "vocab_size", &m->vocab_size) ||
      seal_h5_get_int(c, g, where, "intermediate", &m->intermediate) ||
      get_optional_hash(c, g, where, "files_fnv1a64", m->files_fnv1a) ||
      get_optional_str(c, g, where, "device", m->device, sizeof m->device);
  m->path = base && base[0] ? base : (free(base), NULL);
  H5Gclose(g);
  return rc ? -1 : 0;
}

/* /model, and /teacher, which version 3 files have and version 2 files do not. */
static int read_models(seal_h5 *c, hid_t f, seal_run_state *s, int version) {
  seal_model_record m = {0};
  int rc = read_model_group(c, f, "model", &m, s->base_sha256);
  if (!rc) seal_run_state_set_model(s, &m);
  free(m.path);
  if (rc || version < 3) return rc;
  char sha[65];
  s->has_teacher = 1;
  return read_model_group(c, f, "teacher", &s->teacher, sha);
}

/* The group's n_rounds attribute, checked against its members: a round lost
 * from the end would otherwise go unnoticed. */
static int count_rounds(seal_h5 *c, hid_t g, const char *name, int *n) {
  H5G_info_t info;
  if (seal_h5_get_int(c, g, name, "n_rounds", n) || SEAL_H5(c, H5Gget_info, (g, &info)) < 0)
    return -1;
  if (*n < 0 || (hsize_t)*n != info.nlinks)
    return seal_h5_fail(c, "%s has %llu members but n_rounds is %d", name,
                        (unsigned long long)info.nlinks, *n);
  return 0;
}

static int read_policy(seal_h5 *c, hid_t f, seal_run_state *s, bool with_data) {
  seal_h5_where(c, "/policy");
  hid_t g = seal_h5_open_group(c, f, "/", "policy");
  if (g < 0) return -1;
  int n = 0;
  int rc = seal_h5_get_int(c, g, "/policy", "lora_r", &s->lora_r) ||
           seal_h5_get_f32(c, g, "/policy", "lora_alpha", &s->lora_alpha) ||
           count_rounds(c, g, "/policy", &n);
  for (int r = 0; rc == 0 && r < n; r++) {
    char name[32], full[48];
    snprintf(name, sizeof name, "round_%d", r);
    snprintf(full, sizeof full, "/policy/%s", name);
    hid_t rg = seal_h5_open_group(c, g, "/policy", name);
    if (rg < 0) {
      rc = -1;
      break;
    }
    seal_tensor_set set = {0};
    rc = seal_h5_read_tensors(c, rg, full, &set, with_data);
    seal_run_state_set_policy(s, r, &set);
    H5Gclose(rg);
  }
  H5Gclose(g);
  return rc ? -1 : 0;
}

static int read_optimizer(seal_h5 *c, hid_t f, seal_run_state *s, bool with_data) {
  seal_h5_where(c, "/optimizer");
  hid_t g = seal_h5_open_group(c, f, "/", "optimizer");
  if (g < 0) return -1;
  int rc = seal_h5_get_int(c, g, "/optimizer", "step", &s->opt_step) ||
           seal_h5_get_f64(c, g, "/optimizer", "lr", &s->opt_lr);
  const char *names[2] = {"m", "v"};
  seal_tensor_set *sets[2] = {&s->opt_m, &s->opt_v};
  for (int i = 0; rc == 0 && i < 2; i++) {
    char full[32];
    snprintf(full, sizeof full, "/optimizer/%s", names[i]);
    hid_t mg = seal_h5_open_group(c, g, "/optimizer", names[i]);
    if (mg < 0) {
      rc = -1;
      break;
    }
    rc = seal_h5_read_tensors(c, mg, full, sets[i], with_data);
    H5Gclose(mg);
  }
  H5Gclose(g);
  return rc ? -1 : 0;
}

static int read_selfedits(seal_h5 *c, hid_t f, seal_run_state *s) {
  seal_h5_where(c, "/selfedits");
  hid_t g = seal_h5_open_group(c, f, "/", "selfedits");
  if (g < 0) return -1;
  int n = 0;
  int rc = count_rounds(c, g, "/selfedits", &n);
  for (int r = 0; rc == 0 && r < n; r++) {
    char name[32];
    snprintf(name, sizeof name, "round_%d", r);
    void *rows;
    int count;
    rc = seal_h5_read_table(c, g, "/selfedits", name, &seal_h5_selfedit_table, &rows, &count);
    if (rc) break;
    /* Round r exists even when it has no records, so that rounds stay numbered. */
    s->n_selfedit_rounds = r; /* the arrays grow to r + 1 below */
    s->selfedits = seal_realloc(s->selfedits, (size_t)(r + 1) * sizeof *s->selfedits);
    s->n_selfedits = seal_realloc(s->n_selfedits, (size_t)(r + 1) * sizeof *s->n_selfedits);
    s->cap_selfedits = seal_realloc(s->cap_selfedits, (size_t)(r + 1) * sizeof *s->cap_selfedits);
    s->selfedits[r] = rows;
    s->n_selfedits[r] = s->cap_selfedits[r] = count;
    s->n_selfedit_rounds = r + 1;
  }
  H5Gclose(g);
  return rc ? -1 : 0;
}

/* ---- validation: every value that indexes or sizes something ------------- */

/* Bounds far beyond any real run; past them a value is damage, not a run. */
enum { MAX_ROUNDS = 1 << 20, MAX_WORLD = 1 << 24 };

static bool known_phase(const char *phase) {
  static const char *const phases[] = {"init", "generate", "evaluate", "update", "done"};
  for (size_t i = 0; i < sizeof phases / sizeof *phases; i++)
    if (!strcmp(phase, phases[i])) return true;
  return false;
}

static int validate_root(seal_h5 *c, const seal_run_state *s) {
  if (s->round < 0 || s->round > MAX_ROUNDS)
    return seal_h5_fail(c, "/: attribute 'round' is %d, expected 0 to %d", s->round, MAX_ROUNDS);
  if (s->world_size < 1 || s->world_size > MAX_WORLD)
    return seal_h5_fail(c, "/: attribute 'world_size' is %d, expected 1 to %d", s->world_size,
                        MAX_WORLD);
  if (!known_phase(s->phase))
    return seal_h5_fail(c,
                        "/: attribute 'phase' is '%s', expected init, generate, evaluate, "
                        "update or done",
                        s->phase);
  return 0;
}

/* Policy round r is written when round r finishes, so there are at most `round`
 * of them (a round in progress has none yet). */
static int validate_policy(seal_h5 *c, const seal_run_state *s) {
  if (s->n_policy_rounds > s->round)
    return seal_h5_fail(c, "/policy holds %d rounds but the checkpoint is at round %d",
                        s->n_policy_rounds, s->round);
  if (s->lora_r < 0 || (s->n_policy_rounds > 0 && s->lora_r == 0))
    return seal_h5_fail(c, "/policy: attribute 'lora_r' is %d", s->lora_r);
  if (!isfinite(s->lora_alpha))
    return seal_h5_fail(c, "/policy: attribute 'lora_alpha' is not a finite number");
  if (s->opt_step < 0) return seal_h5_fail(c, "/optimizer: attribute 'step' is %d", s->opt_step);
  return 0;
}

/* Finished rounds come before the round in progress, once each, in order. */
static int validate_rounds(seal_h5 *c, const seal_run_state *s) {
  for (int i = 0; i < s->n_rounds; i++) {
    const seal_round_record *r = &s->rounds[i];
    int lo = i ? s->rounds[i - 1].round + 1 : 0;
    if (r->round < lo || r->round >= s->round)
      return seal_h5_fail(c, "/rounds: row %d has round %d, expected %d to %d (in order)", i,
                          r->round, lo, s->round - 1);
    if (r->contexts < 0 || r->kept < 0)
      return seal_h5_fail(c, "/rounds: row %d has %d contexts and %d kept", i, r->contexts,
                          r->kept);
  }
  return 0;
}

/* Records of rounds 0..round; their ids are checked against the job on resume
 * (seal_run_check_resume), which knows the passages, k and repeats. */
static int validate_selfedits(seal_h5 *c, const seal_run_state *s) {
  if (s->n_selfedit_rounds > s->round + 1)
    return seal_h5_fail(c, "/selfedits holds %d rounds but the checkpoint is at round %d",
                        s->n_selfedit_rounds, s->round);
  for (int r = 0; r < s->n_selfedit_rounds; r++)
    for (int i = 0; i < s->n_selfedits[r]; i++) {
      const seal_selfedit_record *x = &s->selfedits[r][i];
      if (x->context_id < 0 || x->sample < 0 || x->repeat < -1 || x->n_examples < 0 ||
          (x->ok != 0 && x->ok != 1))
        return seal_h5_fail(c,
                            "/selfedits/round_%d: row %d has context_id %d, sample %d, repeat "
                            "%d, n_examples %d, ok %d (expected ids >= 0, repeat >= -1, ok 0 "
                            "or 1)",
                            r, i, x->context_id, x->sample, x->repeat, x->n_examples, x->ok);
    }
  return 0;
}

static int validate_state(seal_h5 *c, const seal_run_state *s) {
  return validate_root(c, s) || validate_policy(c, s) || validate_rounds(c, s) ||
                 validate_selfedits(c, s)
             ? -1
             : 0;
}

static int read_layout(seal_h5 *c, hid_t f, seal_run_state *s, bool with_data,
                       seal_checkpoint_info *info) {
  if (read_root(c, f, s, info) || read_models(c, f, s, info->version) ||
      read_policy(c, f, s, with_data) || read_optimizer(c, f, s, with_data))
    return -1;
  void *rows;
  int n;
  if (seal_h5_read_table(c, f, "/", "rng", &seal_h5_rng_table, &rows, &n)) return -1;
  s->rng = rows;
  s->n_rng = s->cap_rng = n;
  for (int i = 0; i < n; i++) s->rng[i].name[sizeof s->rng[i].name - 1] = '\0';
  if (seal_h5_read_table(c, f, "/", "rounds", &seal_h5_round_table, &rows, &n)) return -1;
  s->rounds = rows;
  s->n_rounds = s->cap_rounds = n;
  if (read_selfedits(c, f, s)) return -1;
  return validate_state(c, s);
}

/* Opens the file for HDF5 from memory, after its checksum matched: HDF5 parses
 * exactly the bytes that were verified, whatever happens to the file meanwhile. */
static hid_t open_verified(seal_h5 *c, const char *path) {
  unsigned char *image;
  size_t size;
  if (seal_ckpt_load(path, &image, &size, c->e)) {
    c->failed = true;
    return -1;
  }
  seal_h5_where(c, "opening the file");
  hid_t fapl = seal_h5_fapl(c), f = -1;
  /* The core driver refuses an image under the name of a file that exists; path
   * with a '/' appended names nothing (path is a regular file, not a folder). */
  char *name = seal_asprintf("%s/", path);
  if (fapl >= 0 && SEAL_H5(c, H5Pset_fapl_core, (fapl, 1 << 20, 0)) >= 0 &&
      SEAL_H5(c, H5Pset_file_image, (fapl, image, size)) >= 0)
    f = SEAL_H5(c, H5Fopen, (name, H5F_ACC_RDONLY, fapl));
  free(name);
  free(image); /* the property list holds its own copy */
  seal_h5_close(fapl);
  return f;
}

int seal_checkpoint_read_ex(const char *path, seal_run_state *s, bool tensor_data,
                            seal_checkpoint_info *info, seal_error *e) {
  seal_checkpoint_info local;
  if (!info) info = &local;
  memset(info, 0, sizeof *info);
  seal_run_state_init(s);
  s->created[0] = '\0';
  seal_h5 c;
  seal_h5_begin(&c, path, e);
  hid_t f = open_verified(&c, path);
  if (f >= 0) read_layout(&c, f, s, tensor_data, info);
  seal_h5_close(f);
  seal_h5_end(&c);
  if (!c.failed) return 0;
  /* Point at the previous checkpoint, which a failed read leaves untouched. */
  char *prev = seal_asprintf("%s.prev", path);
  if (e && seal_file_exists(prev) && strlen(e->msg) + strlen(prev) + 40 < sizeof e->msg) {
    size_t len = strlen(e->msg);
    snprintf(e->msg + len, sizeof e->msg - len, " (the previous checkpoint is %s)", prev);
  }
  free(prev);
  seal_run_state_free(s);
  return -1;
}

int seal_checkpoint_read(const char *path, seal_run_state *s, seal_error *e) {
  return seal_checkpoint_read_ex(path, s, true, NULL, e);
}

/* ---- summary --------------------------------------------------------------- */

static int64_t count_params(const seal_tensor_set *set) {
  int64_t n = 0;
  for (int i = 0; i < set->n; i++) n += seal_tensor_numel(&set->items[i]);
  return n;
}

static void print_rounds(FILE *out, const seal_run_state *s) {
  fprintf(out, "\nrounds: %d finished\n", s->n_rounds);
  if (s->n_rounds == 0) return;
  fprintf(out, "  %5s %8s %11s %5s %8s %9s\n", "round", "contexts", "mean_reward", "kept",
          "accuracy", "seconds");
  for (int i = 0; i < s->n_rounds; i++) {
    const seal_round_record *r = &s->rounds[i];
    fprintf(out, "  %5d %8d %11.4f %5d %8.4f %9.1f\n", r->round, r->contexts, r->mean_reward,
            r->kept, r->accuracy, r->seconds);
  }
}

static void print_policy(FILE *out, const seal_run_state *s) {
  fprintf(out, "\npolicy adapters: %d (LoRA r=%d, alpha=%g)\n", s->n_policy_rounds, s->lora_r,
          (double)s->lora_alpha);
  for (int r = 0; r < s->n_policy_rounds; r++)
    fprintf(out, "  round_%d: %d tensors, %lld parameters\n", r, s->policy[r].n,
            (long long)count_params(&s->policy[r]));
}

static void print_selfedits(FILE *out, const seal_run_state *s) {
  fprintf(out, "\nself-edits:\n");
  if (s->n_selfedit_rounds == 0) fprintf(out, "  none\n");
  for (int r = 0; r < s->n_selfedit_rounds; r++) {
    int evaluated = 0, unusable = 0;
    double sum = 0;
    for (int i = 0; i < s->n_selfedits[r]; i++) {
      const seal_selfedit_record *x = &s->selfedits[r][i];
      if (isnan(x->reward)) continue;
      if (!x->ok) unusable++;
      evaluated++;
      sum += x->reward;
    }
    fprintf(out, "  round_%d: %d records, %d evaluated", r, s->n_selfedits[r], evaluated);
    if (evaluated) fprintf(out, ", mean reward %.4f", sum / evaluated);
    if (unusable) fprintf(out, ", %d unusable", unusable);
    fprintf(out, "\n");
  }
}

/* "LABEL arch, hidden ..., layers ...ROLE" of model m. */
static void print_model(FILE *out, const char *label, const seal_model_record *m,
                        const char *role) {
  fprintf(out,
          "%s %s, hidden %d, %d layers, %d heads (%d kv), vocab %d, "
          "intermediate %d%s\n",
          label, m->architecture[0] ? m->architecture : "?", m->hidden, m->n_layers, m->n_heads,
          m->n_kv_heads, m->vocab_size, m->intermediate, role);
}

/* " (on DEVICE)" and the line's end; a checkpoint of an older seal names no device. */
static void print_device(FILE *out, const seal_model_record *m) {
  if (m->device[0]) fprintf(out, " (on %s)", m->device);
  fprintf(out, "\n");
}

int seal_checkpoint_summary(const char *path, FILE *out, seal_error *e) {
  seal_run_state s;
  seal_checkpoint_info info;
  if (seal_checkpoint_read_ex(path, &s, false, &info, e) != 0) return -1;
  fprintf(out, "%s\n", path);
  fprintf(out, "format:     %s version %d (written by seal %s)\n", SEAL_CHECKPOINT_FORMAT,
          info.version, info.seal_version);
  fprintf(out, "created:    %s\n", s.created);
  fprintf(out, "written:    %s\n", info.written);
  fprintf(out, "round:      %d, phase %s\n", s.round, s.phase);
  fprintf(out, "world size: %d\n", s.world_size);
  fprintf(out, "run seed:   %llu\n", (unsigned long long)s.run_seed);
  seal_model_record m;
  seal_run_state_model(&s, &m);
  print_model(out, "model:     ", &m,
              s.has_teacher ? " (the student: the inner loop adapts it)" : "");
  fprintf(out, "base:       %s%s%s", s.base_path ? s.base_path : "(unknown)",
          s.base_sha256[0] ? " sha256 " : "", s.base_sha256);
  print_device(out, &m);
  if (s.has_teacher) {
    print_model(out, "teacher:   ", &s.teacher,
                " (writes the self-edits; the policy rounds adapt it)");
    fprintf(out, "teacher at: %s", s.teacher.path ? s.teacher.path : "(unknown)");
    print_device(out, &s.teacher);
  } else {
    fprintf(out, "teacher:    self (the model writes its own self-edits)\n");
  }
  print_rounds(out, &s);
  print_policy(out, &s);
  fprintf(out, "\noptimizer: AdamW step %d, lr %g, %d + %d moment tensors (%lld parameters)\n",
          s.opt_step, s.opt_lr, s.opt_m.n, s.opt_v.n, (long long)count_params(&s.opt_m));
  fprintf(out, "\nrng streams: %d\n", s.n_rng);
  for (int i = 0; i < s.n_rng; i++) fprintf(out, "  %s\n", s.rng[i].name);
  print_selfedits(out, &s);
  seal_run_state_free(&s);
  return 0;
}

int seal_checkpoint_print_selfedits(const char *path, int round, FILE *out, seal_error *e) {
  seal_run_state s;
  if (seal_checkpoint_read_ex(path, &s, false, NULL, e) != 0) return -1;
  int rc = 0;
  if (round < 0 || round >= s.n_selfedit_rounds) {
    rc = seal_errorf(e, "%s: no self-edits of round %d (the checkpoint has rounds 0 to %d)", path,
                     round, s.n_selfedit_rounds - 1);
  } else {
    for (int i = 0; i < s.n_selfedits[round]; i++) {
      const seal_selfedit_record *x = &s.selfedits[round][i];
      fprintf(out, "context %d sample %d repeat %d: ", x->context_id, x->sample, x->repeat);
      if (isnan(x->reward))
        fprintf(out, "not evaluated");
      else
        fprintf(out, "reward %.4f, labelled %.4f, metrics %s, %d examples", x->reward,
                x->label_reward, x->metrics, x->n_examples);
      if (x->attempts > 1) fprintf(out, ", %d attempts", x->attempts);
      if (!x->ok) fprintf(out, ", unusable: %s", x->reason);
      fprintf(out, "\n    ");
      for (const char *p = x->text; *p; p++) { /* indent every line of the text */
        if (*p == '\n')
          fputs("\n    ", out);
        else
          fputc(*p, out);
      }
      fprintf(out, "\n");
    }
  }
  seal_run_state_free(&s);
  return rc;
}
