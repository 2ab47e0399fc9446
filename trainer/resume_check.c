/* trainer/resume_check.c — comparing a checkpoint with the job that would
 * continue it (see resume_check.h). */
#include "trainer/resume_check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- content hashes ----------------------------------------------------------- */

/* Feeds the file's bytes into h (FNV-1a-64, chained). */
static int hash_into(const char *path, uint64_t *h, seal_error *e) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return seal_errorf(e, "%s: cannot open to hash: %s", path, strerror(errno));
  enum { CHUNK = 1 << 20 };
  unsigned char *buf = seal_malloc(CHUNK);
  ssize_t n;
  while ((n = read(fd, buf, CHUNK)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    *h = seal_fnv1a(buf, (size_t)n, *h);
  }
  int err = errno;
  free(buf);
  close(fd);
  return n < 0 ? seal_errorf(e, "%s: read error while hashing: %s", path, strerror(err)) : 0;
}

static void to_hex(uint64_t h, char out[17]) { snprintf(out, 17, "%016" PRIx64, h); }

int seal_hash_file(const char *path, char out[17], seal_error *e) {
  uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a's offset basis */
  if (hash_into(path, &h, e)) return -1;
  to_hex(h, out);
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the directory's regular files that make the model: all but hidden
 * files and Markdown (a model card edit is no other model), sorted. */
static int model_file_names(const char *dir, char ***names, int *n, seal_error *e) {
  *names = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return seal_errorf(e, "%s: cannot list to hash: %s", dir, strerror(errno));
  int cap = 0;
  for (struct dirent *de; (de = readdir(d));) {
    size_t len = strlen(de->d_name);
    if (de->d_name[0] == '.' || (len > 3 && !strcmp(de->d_name + len - 3, ".md"))) continue;
    char *p = seal_path_join(dir, de->d_name);
    struct stat st;
    bool regular = stat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    if (!regular) continue;
    if (*n == cap)
      *names = seal_realloc(*names, (size_t)(cap = cap ? 2 * cap : 16) * sizeof(char *));
    (*names)[(*n)++] = seal_strdup(de->d_name);
  }
  closedir(d);
  qsort(*names, (size_t)*n, sizeof(char *), by_name);
  return 0;
}

int seal_hash_model_files(const char *model, char out[17], seal_error *e) {
  struct stat st;
  if (stat(model, &st) != 0) return seal_errorf(e, "%s: %s", model, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return seal_hash_file(model, out, e);
  char **names;
  int n, rc = model_file_names(model, &names, &n, e);
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int i = 0; rc == 0 && i < n; i++) {
    /* name, then bytes: a renamed shard is another model too */
    h = seal_fnv1a(names[i], strlen(names[i]) + 1, h);
    char *p = seal_path_join(model, names[i]);
    rc = hash_into(p, &h, e);
    free(p);
  }
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  if (rc == 0) to_hex(h, out);
  return rc;
}

/* ---- the list of differences ---------------------------------------------------- */

typedef struct {
  seal_buf text;
  int n;
} diffs;

/* The first few are listed (a seal_error holds 1 KiB); the rest are counted. */
enum { LISTED = 6 };

static void add_diff(diffs *d, const char *name, const char *ck, const char *job) {
  if (d->n < LISTED)
    seal_buf_printf(&d->text, "\n  %s: %s in the checkpoint, %s in the job", name, ck, job);
  d->n++;
}

static void add_diff_int(diffs *d, const char *name, long long ck, long long job) {
  if (ck == job) return;
  char a[32], b[32];
  snprintf(a, sizeof a, "%lld", ck);
  snprintf(b, sizeof b, "%lld", job);
  add_diff(d, name, a, b);
}

/* A hash known on both sides that differs; an unknown one (an older seal's
 * checkpoint) cannot be compared and is said so once. */
static void add_diff_hash(diffs *d, const char *name, const char *ck, const char *job) {
  if (!ck[0] || !job[0]) {
    if (!ck[0]) seal_warn("the checkpoint does not record %s: not compared", name);
    return;
  }
  if (strcmp(ck, job)) add_diff(d, name, ck, job);
}

static int refuse(const char *ckpt_path, diffs *d, seal_error *e) {
  if (d->n == 0) {
    seal_buf_free(&d->text);
    return 0;
  }
  if (d->n > LISTED) seal_buf_printf(&d->text, "\n  and %d more", d->n - LISTED);
  seal_buf_printf(&d->text,
                  "\nresume it with the job it was made with, or start over with --restart "
                  "(or another --output)");
  int rc =
      seal_errorf(e, "%s: the checkpoint was made by another job or model (%d difference%s):%s",
                  ckpt_path, d->n, d->n == 1 ? "" : "s", d->text.data);
  seal_buf_free(&d->text);
  return rc;
}

/* ---- the model ---------------------------------------------------------------- */

/* One model's record against another's; `what` names it ("model", "teacher"). */
static void record_diffs_of(const char *what, const seal_model_record *now,
                            const seal_model_record *ck, diffs *d) {
  char name[64];
#define NAME(x) (snprintf(name, sizeof name, "%s %s", what, x), name)
  if (strcmp(ck->architecture, now->architecture))
    add_diff(d, NAME("architecture"), ck->architecture, now->architecture);
  add_diff_int(d, NAME("hidden size"), ck->hidden, now->hidden);
  add_diff_int(d, NAME("layers"), ck->n_layers, now->n_layers);
  add_diff_int(d, NAME("heads"), ck->n_heads, now->n_heads);
  add_diff_int(d, NAME("kv heads"), ck->n_kv_heads, now->n_kv_heads);
  add_diff_int(d, NAME("vocabulary"), ck->vocab_size, now->vocab_size);
  add_diff_int(d, NAME("intermediate size"), ck->intermediate, now->intermediate);
#undef NAME
  snprintf(name, sizeof name, "the %s files' hash (fnv1a64)", what);
  add_diff_hash(d, name, ck->files_fnv1a, now->files_fnv1a);
}

/* The job's model, and the teacher: both present or both "self", then alike. */
static void model_diffs(const seal_run_state *now, const seal_run_state *ck, diffs *d) {
  seal_model_record a, b;
  seal_run_state_model(now, &a);
  seal_run_state_model(ck, &b);
  record_diffs_of("model", &a, &b, d);
  if (now->has_teacher != ck->has_teacher)
    add_diff(d, "teacher", ck->has_teacher ? "a model" : "self",
             now->has_teacher ? "a model" : "self");
  else if (now->has_teacher)
    record_diffs_of("teacher", &now->teacher, &ck->teacher, d);
}

int seal_run_check_model(const seal_run *run, const seal_run_state *ck, seal_error *e) {
  diffs d = {0};
  model_diffs(&run->st, ck, &d);
  return refuse(run->ckpt_path, &d, e);
}

/* ---- the job's settings ----------------------------------------------------------- */

/* Keys that may differ on resume: where output goes and on what it runs (the
 * model's device and the teacher's), how
 * many rounds (a finished run may be extended), where the models and data are
 * (their contents are compared by hash, the teacher's presence by model_diffs), and what only `seal
 * eval` reads. */
static bool may_change(const char *key) {
  static const char *const free_keys[] = {"output",      "device",    "teacher_device", "rounds",
                                          "model",       "teacher",   "data.train",     "data.eval",
                                          "data.n_eval", "evaluation"};
  for (size_t i = 0; i < sizeof free_keys / sizeof *free_keys; i++) {
    size_t n = strlen(free_keys[i]);
    if (!strncmp(key, free_keys[i], n) && (key[n] == '\0' || key[n] == '.')) return true;
  }
  return false;
}

typedef struct {
  char key[160];
  char value[320];
} setting;

/* The "key: value" lines of seal_job_to_yaml's dump as dotted paths
 * ("selfedit.k" = "2"); sections (a key without a value) only name a prefix. */
static int flatten_job(const char *yaml, setting **out) {
  char section[8][64] = {{0}};
  setting *v = NULL;
  int n = 0, cap = 0;
  for (const char *line = yaml; line && *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    int indent = 0;
    while ((size_t)indent < len && line[indent] == ' ') indent++;
    const char *colon = memchr(line, ':', len);
    int depth = indent / 2;
    if (line[indent] != '#' && colon && depth < 8) {
      char key[64];
      snprintf(key, sizeof key, "%.*s", (int)(colon - line - indent), line + indent);
      const char *val = colon + 1;
      while (val < line + len && *val == ' ') val++;
      snprintf(section[depth], sizeof section[depth], "%s", key);
      if (val < line + len) {
        if (n == cap) v = seal_realloc(v, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *v);
        v[n].key[0] = '\0';
        for (int i = 0; i < depth; i++)
          snprintf(v[n].key + strlen(v[n].key), sizeof v[n].key - strlen(v[n].key), "%s.",
                   section[i]);
        snprintf(v[n].key + strlen(v[n].key), sizeof v[n].key - strlen(v[n].key), "%s", key);
        snprintf(v[n].value, sizeof v[n].value, "%.*s", (int)(line + len - val), val);
        n++;
      }
    }
    line = end ? end + 1 : NULL;
  }
  *out = v;
  return n;
}

/* A path as seal_job_to_yaml writes it ("..." with \" \\ \xNN escapes and $$
 * for $) back to the path, into out. */
static void unquote_path(const char *v, char *out, size_t size) {
  size_t n = 0;
  const char *p = v[0] == '"' ? v + 1 : v;
  for (; *p && !(*p == '"' && p[1] == '\0') && n + 1 < size; p++) {
    if (p[0] == '\\' && p[1] == 'x' && p[2] && p[3]) {
      char hex[3] = {p[2], p[3], 0};
      out[n++] = (char)strtol(hex, NULL, 16);
      p += 3;
    } else if (p[0] == '\\' && p[1]) {
      out[n++] = *++p;
    } else if (p[0] == '$' && p[1] == '$') {
      out[n++] = '$';
      p++;
    } else {
      out[n++] = *p;
    }
  }
  out[n] = '\0';
}

int seal_hash_train_data(const char *job_yaml, char out[17], seal_error *e) {
  setting *v;
  int n = flatten_job(job_yaml, &v), hashed = 0;
  uint64_t h = 0xcbf29ce484222325ULL;
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    if (strncmp(v[i].key, "data.train", 10) || !strcmp(v[i].value, "null")) continue;
    char path[sizeof v[i].value];
    unquote_path(v[i].value, path, sizeof path);
    rc = hash_into(path, &h, e);
    hashed++;
  }
  free(v);
  if (rc) return -1;
  if (!hashed)
    out[0] = '\0';
  else
    to_hex(h, out);
  return 0;
}

static const setting *find_setting(const setting *v, int n, const char *key) {
  for (int i = 0; i < n; i++)
    if (!strcmp(v[i].key, key)) return &v[i];
  return NULL;
}

static void job_diffs(const char *ck_yaml, const char *job_yaml, diffs *d) {
  setting *a, *b;
  int na = flatten_job(ck_yaml, &a), nb = flatten_job(job_yaml, &b);
  for (int i = 0; i < na; i++) {
    if (may_change(a[i].key)) continue;
    const setting *o = find_setting(b, nb, a[i].key);
    if (!o || strcmp(o->value, a[i].value))
      add_diff(d, a[i].key, a[i].value, o ? o->value : "(none)");
  }
  for (int i = 0; i < nb; i++)
    if (!may_change(b[i].key) && !find_setting(a, na, b[i].key))
      add_diff(d, b[i].key, "(none)", b[i].value);
  free(a);
  free(b);
}

/* ---- records that index the job's data ---------------------------------------- */

/* Every stored self-edit must name a passage, a sample and a repeat that exist
 * under this job; else the rounds would index past them. Only meaningful once
 * the settings agree, so a settings difference is reported instead. */
static void record_diffs(const seal_run *run, const seal_run_state *ck, diffs *d) {
  const seal_job *job = run->job;
  int n_contexts = run->domain.ops->n_contexts(&run->domain, SEAL_SPLIT_TRAIN);
  for (int r = 0; r < ck->n_selfedit_rounds; r++)
    for (int i = 0; i < ck->n_selfedits[r]; i++) {
      const seal_selfedit_record *x = &ck->selfedits[r][i];
      if (x->context_id < n_contexts && x->sample < job->selfedit.k && x->repeat < job->repeats)
        continue;
      char where[64], what[160], limits[160];
      snprintf(where, sizeof where, "self-edit %d of round %d", i, r);
      snprintf(what, sizeof what, "context %d, sample %d, repeat %d", x->context_id, x->sample,
               x->repeat);
      snprintf(limits, sizeof limits, "%d contexts, k = %d, repeats = %d", n_contexts,
               job->selfedit.k, job->repeats);
      add_diff(d, where, what, limits);
      return; /* one is enough to make the point */
    }
}

int seal_run_check_resume(const seal_run *run, const seal_run_state *ck, seal_error *e) {
  diffs d = {0};
  model_diffs(&run->st, ck, &d);
  add_diff_hash(&d, "data.train's hash (fnv1a64)", ck->train_fnv1a, run->st.train_fnv1a);
  if (ck->job_yaml && run->st.job_yaml) {
    job_diffs(ck->job_yaml, run->st.job_yaml, &d); /* the seed among them */
  } else if (ck->run_seed != run->job->seed) {
    char a[24], b[24];
    snprintf(a, sizeof a, "%" PRIu64, ck->run_seed);
    snprintf(b, sizeof b, "%" PRIu64, run->job->seed);
    add_diff(&d, "seed", a, b);
  }
  if (d.n == 0) record_diffs(run, ck, &d);
  return refuse(run->ckpt_path, &d, e);
}
