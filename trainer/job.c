/* trainer/job.c — the job file: one table of keys drives parsing (libyaml's
 * document API, whose nodes carry line/column marks), validation and the dump
 * back to YAML, so the three can never disagree. The table is the trainer's
 * keys (below) with the selected task's keys (evaluator/domain.h) merged in
 * where the trainer's tables say SEAL_SCHEMA_TASK_KEYS. */
#include "trainer/job.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "model/lora.h"

/* ---- enum names ------------------------------------------------------------ */

static const char *const device_names[] = {"auto", "cpu", "cuda", "cpu:bf16", "cpu:q8", "cpu:q4"};
/* indexed by seal_teacher_device */
static const char *const teacher_device_names[] = {"same",     "auto",   "cpu",   "cuda",
                                                   "cpu:bf16", "cpu:q8", "cpu:q4"};
/* indexed by seal_schedule (model/optim.h) */
static const char *const schedule_names[] = {"constant", "linear", "cosine"};
/* indexed by seal_reward_source */
static const char *const reward_source_names[] = {"labels", "self-certainty", "entropy",
                                                  "majority"};
/* indexed by seal_signals */
static const char *const signals_names[] = {"cheap", "all", "none"};

const char *seal_device_name(seal_device d) { return device_names[d]; }

int seal_device_parse(const char *name, seal_device *d) {
  for (int i = 0; i < SEAL_ARRAY_LEN(device_names); i++)
    if (!strcmp(name, device_names[i])) return *d = (seal_device)i, 0;
  return -1;
}

bool seal_job_has_teacher(const seal_job *job) {
  return job->teacher && strcmp(job->teacher, "self") != 0;
}

seal_device seal_job_teacher_device(const seal_job *job) {
  if (job->teacher_device == SEAL_TEACHER_DEVICE_SAME) return job->device;
  return (seal_device)(job->teacher_device - 1);
}
const char *seal_schedule_name(seal_schedule s) { return schedule_names[s]; }
const char *seal_reward_source_name(seal_reward_source s) { return reward_source_names[s]; }

static const char *name_device(int v) {
  return v >= 0 && v < SEAL_ARRAY_LEN(device_names) ? device_names[v] : NULL;
}
static const char *name_teacher_device(int v) {
  return v >= 0 && v < SEAL_ARRAY_LEN(teacher_device_names) ? teacher_device_names[v] : NULL;
}
static const char *name_schedule(int v) {
  return v >= 0 && v < SEAL_ARRAY_LEN(schedule_names) ? schedule_names[v] : NULL;
}
static const char *name_signals(int v) {
  return v >= 0 && v < SEAL_ARRAY_LEN(signals_names) ? signals_names[v] : NULL;
}
static const char *name_reward_source(int v) {
  return v >= 0 && v < SEAL_ARRAY_LEN(reward_source_names) ? reward_source_names[v] : NULL;
}

/* ---- the trainer's keys ------------------------------------------------------ */

#define J seal_job
#define INT(n, f, a, b) SEAL_SCHEMA_INT_KEY(n, J, f, a, b)
#define FLOAT(n, f, a, b) SEAL_SCHEMA_FLOAT_KEY(n, J, f, a, b)
#define FLOAT_POS(n, f) SEAL_SCHEMA_POSITIVE_KEY(n, J, f)
#define PATH(n, f, req) SEAL_SCHEMA_PATH_KEY(n, J, f, req)
#define ENUM(n, f, fn) SEAL_SCHEMA_ENUM_KEY(n, J, f, fn)
#define MAP(n, kids) SEAL_SCHEMA_MAP_KEY(n, kids)
#define TASK_KEYS \
  { .name = "", .kind = SEAL_SCHEMA_TASK_KEYS }
#define END SEAL_SCHEMA_END
#define BIG SEAL_SCHEMA_BIG

#define LORA_KEYS(prefix)                                           \
  {                                                                 \
    INT("r", prefix.r, 1, 65536), FLOAT_POS("alpha", prefix.alpha), \
        SEAL_SCHEMA_TARGETS_KEY("targets", J, prefix.targets), END  \
  }

static const seal_schema_key inner_lora_keys[] = LORA_KEYS(inner.lora);
static const seal_schema_key rest_lora_keys[] = LORA_KEYS(rest_em.lora);

static const seal_schema_key data_keys[] = {
    TASK_KEYS,
    INT("contexts_per_round", data.contexts_per_round, 1, BIG),
    INT("n_eval", data.n_eval, 0, BIG),
    END,
};

static const seal_schema_key selfedit_keys[] = {
    TASK_KEYS,
    INT("k", selfedit.k, 1, 1024),
    FLOAT("temperature", selfedit.temperature, 0, 100),
    {.name = "top_p",
     .kind = SEAL_SCHEMA_FLOAT,
     .off = offsetof(J, selfedit.top_p),
     .lo = 0,
     .hi = 1,
     .lo_open = true},
    INT("max_tokens", selfedit.max_tokens, 1, 1 << 20),
    INT("max_resamples", selfedit.max_resamples, 0, 1024),
    END,
};

static const seal_schema_key inner_keys[] = {
    MAP("lora", inner_lora_keys),
    INT("epochs", inner.epochs, 1, 100000),
    FLOAT_POS("lr", inner.lr),
    INT("batch_size", inner.batch_size, 1, 1 << 20),
    ENUM("schedule", inner.schedule, name_schedule),
    INT("warmup_steps", inner.warmup_steps, 0, BIG),
    FLOAT("weight_decay", inner.weight_decay, 0, INFINITY),
    FLOAT("grad_clip", inner.grad_clip, 0, INFINITY),
    INT("group", inner.group, 1, 4096),
    END,
};

static const seal_schema_key rest_em_keys[] = {
    MAP("lora", rest_lora_keys),
    FLOAT_POS("lr", rest_em.lr),
    INT("epochs", rest_em.epochs, 1, 100000),
    INT("batch_size", rest_em.batch_size, 1, 1 << 20),
    END,
};

static const seal_schema_key reward_keys[] = {
    ENUM("source", reward.source, name_reward_source),
    ENUM("signals", reward.signals, name_signals),
    INT("majority_samples", reward.majority_samples, 1, 1024),
    {.name = "majority_temperature",
     .kind = SEAL_SCHEMA_FLOAT,
     .off = offsetof(J, reward.majority_temperature),
     .lo = 0,
     .hi = 100,
     .lo_open = true},
    END,
};

static const seal_schema_key evaluation_keys[] = {
    {.name = "protocols", .kind = SEAL_SCHEMA_PROTOCOLS, .off = offsetof(J, evaluation.protocols)},
    INT("selfedits_per_context", evaluation.selfedits_per_context, 1, 1024),
    TASK_KEYS,
    END,
};

static const char *const guard_mode_names[] = {"off", "refuse", "retry"};
static const char *name_guard_mode(int v) {
  return v >= 0 && v < SEAL_ARRAY_LEN(guard_mode_names) ? guard_mode_names[v] : NULL;
}

static const seal_schema_key guard_keys[] = {
    ENUM("mode", continual.guard.mode, name_guard_mode),
    FLOAT("max_drop", continual.guard.max_drop, 0, 1),
    INT("probe", continual.guard.probe, 1, 100000),
    FLOAT("lr_scale", continual.guard.lr_scale, 0, 1),
    INT("retries", continual.guard.retries, 1, 100),
    FLOAT("max_kl", continual.guard.max_kl, 0, INFINITY),
    PATH("kl_text", continual.guard.kl_text, false),
    END,
};

static const seal_schema_key continual_keys[] = {
    INT("sequences", continual.sequences, 1, 100000),
    INT("length", continual.length, 1, 100000),
    MAP("guard", guard_keys),
    END,
};

static const seal_schema_key checkpoint_keys[] = {
    FLOAT("interval_seconds", checkpoint.interval_seconds, 0, INFINITY),
    END,
};

static const seal_schema_key fault_keys[] = {
    INT("context", testing.fault_evaluate.context, -1, BIG),
    INT("sample", testing.fault_evaluate.sample, -1, BIG),
    INT("repeat", testing.fault_evaluate.repeat, -1, BIG),
    END,
};

static const seal_schema_key testing_keys[] = {
    MAP("fault_evaluate", fault_keys),
    INT("blank_selfedit", testing.blank_selfedit, -1, BIG),
    INT("harmful_update", testing.harmful_update, -1, BIG),
    END,
};

static const seal_schema_key job_keys[] = {
    {.name = "task", .kind = SEAL_SCHEMA_TASK, .off = offsetof(J, task)},
    PATH("model", model, true),
    PATH("teacher", teacher, false),
    ENUM("device", device, name_device),
    ENUM("teacher_device", teacher_device, name_teacher_device),
    {.name = "seed", .kind = SEAL_SCHEMA_U64, .off = offsetof(J, seed)},
    PATH("output", output, true),
    INT("rounds", rounds, 0, 100000),
    INT("repeats", repeats, 1, 1024),
    MAP("data", data_keys),
    MAP("selfedit", selfedit_keys),
    MAP("inner_loop", inner_keys),
    TASK_KEYS,
    MAP("rest_em", rest_em_keys),
    MAP("reward", reward_keys),
    MAP("evaluation", evaluation_keys),
    MAP("continual", continual_keys),
    MAP("checkpoint", checkpoint_keys),
    MAP("testing", testing_keys),
    END,
};

/* ---- defaults: the paper's settings (docs/job-config.md) ---------------------------- */

/* The trainer's defaults and task's own; the task's defaults_yaml is applied
 * by the parser on top. */
static void job_defaults(seal_job *job, const seal_domain_ops *task) {
  *job = (seal_job){
      .task = task,
      .device = SEAL_DEVICE_AUTO,
      .teacher_device = SEAL_TEACHER_DEVICE_SAME,
      .seed = 42,
      .output = seal_strdup("runs/seal"),
      .teacher = seal_strdup("self"),
      .rounds = 2,
      .repeats = 3,
      .data = {.contexts_per_round = 50, .n_eval = 200},
      .selfedit = {.k = 5, .temperature = 1.0, .top_p = 0.95, .max_tokens = 1024},
      .inner = {.lora = {.r = 32,
                         .alpha = 64,
                         .targets = SEAL_LORA_BIT(SEAL_LORA_Q) | SEAL_LORA_BIT(SEAL_LORA_V)},
                .epochs = 10,
                .lr = 1e-3,
                .batch_size = 1,
                .schedule = SEAL_SCHEDULE_LINEAR,
                .warmup_steps = 0,
                .weight_decay = 0.0,
                .grad_clip = 1.0,
                .group = 1},
      .rest_em = {.lora = {.r = 64, .alpha = 128, .targets = SEAL_LORA_ALL_TARGETS},
                  .lr = 3e-4,
                  .epochs = 2,
                  .batch_size = 10},
      .reward = {.source = SEAL_REWARD_LABELS,
                 .signals = SEAL_SIGNALS_CHEAP,
                 .majority_samples = 4,
                 .majority_temperature = 1.0},
      .evaluation = {.protocols = 1u << SEAL_PROTOCOL_SINGLE, .selfedits_per_context = 1},
      .continual = {.sequences = 8,
                    .length = 8,
                    .guard = {.mode = SEAL_GUARD_OFF,
                              .max_drop = 0.1,
                              .probe = 4,
                              .lr_scale = 0.1,
                              .retries = 1}},
      .checkpoint = {.interval_seconds = 0},
      .testing = {.fault_evaluate = {.context = -1, .sample = -1, .repeat = -1},
                  .blank_selfedit = -1,
                  .harmful_update = -1},
  };
  job->task_settings = seal_calloc(1, task->settings_size);
  task->defaults(job->task_settings);
}

void seal_job_free(seal_job *job) {
  free(job->source);
  free(job->model);
  free(job->teacher);
  free(job->output);
  free(job->continual.guard.kl_text);
  if (job->task && job->task_settings) job->task->free_settings(job->task_settings);
  free(job->task_settings);
  memset(job, 0, sizeof *job);
}

/* ---- the merged table ---------------------------------------------------------- */

/* One key of the job with its task's keys merged in. */
typedef struct node node;
struct node {
  const seal_schema_key *k;
  bool of_task; /* the field is in the task's settings, else in seal_job */
  node *kids;   /* MAP: [n_kids] */
  int n_kids;
};

static int table_size(const seal_schema_key *t) {
  int n = 0;
  while (t && t[n].name) n++;
  return n;
}

static const seal_schema_key *find_in(const seal_schema_key *t, const char *name,
                                      seal_schema_kind kind) {
  for (; t && t->name; t++)
    if (t->kind == kind && !strcmp(t->name, name)) return t;
  return NULL;
}

static bool has_key(const seal_schema_key *t, const char *name) {
  for (; t && t->name; t++)
    if (!strcmp(t->name, name)) return true;
  return false;
}

static void build_kids(node *n, const seal_schema_key *mine, const seal_schema_key *theirs,
                       const char *task, const char *where);

static node *add_kid(node *n, const seal_schema_key *k, bool of_task) {
  node *kid = &n->kids[n->n_kids++];
  *kid = (node){.k = k, .of_task = of_task};
  return kid;
}

/* The task's keys of a mapping, at the trainer's TASK_KEYS mark: those not
 * merged into a trainer mapping of the same name. */
static void add_task_keys(node *n, const seal_schema_key *mine, const seal_schema_key *theirs,
                          const char *task, const char *where) {
  for (const seal_schema_key *t = theirs; t && t->name; t++) {
    if (t->kind == SEAL_SCHEMA_MAP && find_in(mine, t->name, SEAL_SCHEMA_MAP)) continue;
    SEAL_CHECK(!has_key(mine, t->name), "task %s declares %s.%s, a key the trainer has", task,
               where, t->name);
    node *kid = add_kid(n, t, true);
    if (t->kind == SEAL_SCHEMA_MAP) build_kids(kid, NULL, t->children, task, t->name);
  }
}

/* The children of a mapping: the trainer's keys `mine` with the task's keys
 * `theirs` (either may be NULL). */
static void build_kids(node *n, const seal_schema_key *mine, const seal_schema_key *theirs,
                       const char *task, const char *where) {
  n->kids = seal_calloc((size_t)(table_size(mine) + table_size(theirs) + 1), sizeof *n->kids);
  bool placed = !mine; /* a mapping of the task's own takes its keys in order */
  if (!mine) add_task_keys(n, NULL, theirs, task, where);
  for (const seal_schema_key *k = mine; k && k->name; k++) {
    if (k->kind == SEAL_SCHEMA_TASK_KEYS) {
      add_task_keys(n, mine, theirs, task, where);
      placed = true;
      continue;
    }
    node *kid = add_kid(n, k, false);
    if (k->kind != SEAL_SCHEMA_MAP) continue;
    const seal_schema_key *their_map = find_in(theirs, k->name, SEAL_SCHEMA_MAP);
    build_kids(kid, k->children, their_map ? their_map->children : NULL, task, k->name);
  }
  for (const seal_schema_key *t = theirs; !placed && t && t->name; t++)
    SEAL_CHECK(t->kind == SEAL_SCHEMA_MAP && find_in(mine, t->name, SEAL_SCHEMA_MAP),
               "task %s declares %s.%s where the job takes no task keys", task, where, t->name);
}

static void free_kids(node *n) {
  for (int i = 0; i < n->n_kids; i++) free_kids(&n->kids[i]);
  free(n->kids);
}

static node job_table(const seal_domain_ops *task) {
  static const seal_schema_key root_key = MAP("", job_keys);
  node root = {.k = &root_key};
  build_kids(&root, job_keys, task->keys, task->name, "");
  return root;
}

/* ---- path expansion --------------------------------------------------------- */

char *seal_expand_path(const char *path, seal_error *e) {
  seal_buf b = {0};
  seal_buf_puts(&b, "");
  const char *p = path;
  if (p[0] == '~' && (p[1] == '\0' || p[1] == '/')) {
    const char *home = getenv("HOME");
    if (!home) {
      seal_buf_free(&b);
      seal_errorf(e, "cannot expand \"~\" in \"%s\": HOME is not set", path);
      return NULL;
    }
    seal_buf_puts(&b, home);
    p++;
  }
  while (*p) {
    if (p[0] == '$' && p[1] == '$') {
      seal_buf_puts(&b, "$");
      p += 2;
    } else if (p[0] == '$' && p[1] == '{') {
      const char *close = strchr(p + 2, '}');
      if (!close) {
        seal_buf_free(&b);
        seal_errorf(e, "unclosed \"${\" in \"%s\"", path);
        return NULL;
      }
      char *var = seal_malloc((size_t)(close - p - 1));
      memcpy(var, p + 2, (size_t)(close - p - 2));
      var[close - p - 2] = '\0';
      /* ${NAME:-default}: the default when NAME is unset or empty, as in the shell */
      char *fallback = strstr(var, ":-");
      if (fallback) {
        *fallback = '\0';
        fallback += 2;
      }
      const char *value = getenv(var);
      if (fallback && (!value || !value[0])) value = fallback;
      if (!value) {
        seal_errorf(e, "environment variable %s (in \"%s\") is not set", var, path);
        free(var);
        seal_buf_free(&b);
        return NULL;
      }
      seal_buf_puts(&b, value); /* before free: the default lives inside var */
      free(var);
      p = close + 1;
    } else {
      seal_buf_append(&b, p, 1);
      p++;
    }
  }
  return seal_buf_take(&b);
}

/* ---- parsing ------------------------------------------------------------------ */

/* Where an enum with a `needs` rule got its value, for the check after parsing. */
typedef struct {
  const node *n;
  yaml_mark_t mark;
} value_mark;

typedef struct {
  yaml_document_t *doc;
  const char *file;
  seal_job *job;
  seal_error *e;
  const seal_domain_ops *const *tasks; /* the registry the task is chosen from */
  bool defaults;                       /* reading a task's defaults_yaml: nothing is required */
  value_mark marks[8];
  int n_marks;
} parse_ctx;

static void *field(parse_ctx *c, const node *n) {
  return (char *)(n->of_task ? c->job->task_settings : (void *)c->job) + n->k->off;
}

static int fail_at(parse_ctx *c, yaml_mark_t m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(parse_ctx *c, yaml_mark_t m, const char *key, const char *fmt, ...) {
  char what[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return seal_errorf(c->e, "%s:%zu:%zu: %s%s%s", c->file, m.line + 1, m.column + 1, key,
                     key[0] ? ": " : "", what);
}

static const char *node_kind_name(const yaml_node_t *n) {
  switch (n->type) {
    case YAML_MAPPING_NODE:
      return "a mapping";
    case YAML_SEQUENCE_NODE:
      return "a list";
    default:
      return "a scalar";
  }
}

static const char *scalar_text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }
static bool scalar_plain(const yaml_node_t *n) {
  return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}
static bool scalar_is_null(const yaml_node_t *n) {
  const char *s = scalar_text(n);
  return scalar_plain(n) && (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
                             strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0);
}

/* A scalar for a value, or an error saying what was found instead. */
static int want_scalar(parse_ctx *c, const yaml_node_t *n, const char *key, const char *want) {
  if (n->type == YAML_SCALAR_NODE) return 0;
  return fail_at(c, n->start_mark, key, "expected %s, got %s", want, node_kind_name(n));
}

static const char *range_text(const seal_schema_key *s, char *buf, size_t n) {
  if (isinf(s->hi) || s->hi >= BIG) /* BIG only guards int overflow; not worth showing */
    snprintf(buf, n, "must be %s %g", s->lo_open ? ">" : ">=", s->lo);
  else
    snprintf(buf, n, "must be in %s%g, %g]", s->lo_open ? "(" : "[", s->lo, s->hi);
  return buf;
}

static bool in_range(const seal_schema_key *s, double v) {
  return (s->lo_open ? v > s->lo : v >= s->lo) && v <= s->hi;
}

static int parse_int(parse_ctx *c, const node *s, const yaml_node_t *n, const char *key) {
  if (want_scalar(c, n, key, "an integer")) return -1;
  const char *t = scalar_text(n);
  if (!scalar_plain(n) || scalar_is_null(n))
    return fail_at(c, n->start_mark, key, "expected an integer, got %s\"%s\"",
                   scalar_plain(n) ? "" : "the string ", t);
  char *end;
  errno = 0;
  long long v = strtoll(t, &end, 10);
  if (end == t || *end != '\0' || errno == ERANGE)
    return fail_at(c, n->start_mark, key, "expected an integer, got \"%s\"", t);
  if (!in_range(s->k, (double)v)) {
    char r[96];
    return fail_at(c, n->start_mark, key, "%s, got %lld", range_text(s->k, r, sizeof r), v);
  }
  *(int *)field(c, s) = (int)v;
  return 0;
}

static int parse_u64(parse_ctx *c, const node *s, const yaml_node_t *n, const char *key) {
  if (want_scalar(c, n, key, "a non-negative integer")) return -1;
  const char *t = scalar_text(n);
  char *end;
  errno = 0;
  unsigned long long v = strtoull(t, &end, 10);
  if (!scalar_plain(n) || !isdigit((unsigned char)t[0]) || *end != '\0' || errno == ERANGE)
    return fail_at(c, n->start_mark, key, "expected a non-negative integer, got \"%s\"", t);
  *(uint64_t *)field(c, s) = (uint64_t)v;
  return 0;
}

/* A YAML number: decimal digits, a point, an exponent; no inf/nan/hex. */
static bool looks_decimal(const char *t) {
  if (!*t) return false;
  for (const char *p = t; *p; p++)
    if (!(isdigit((unsigned char)*p) || strchr("+-.eE", *p))) return false;
  return true;
}

static int parse_float(parse_ctx *c, const node *s, const yaml_node_t *n, const char *key) {
  if (want_scalar(c, n, key, "a number")) return -1;
  const char *t = scalar_text(n);
  char *end = NULL;
  double v = 0;
  bool ok = scalar_plain(n) && looks_decimal(t);
  if (ok) {
    errno = 0;
    v = strtod(t, &end);
    ok = end != t && *end == '\0' && errno != ERANGE && isfinite(v);
  }
  if (!ok)
    return fail_at(c, n->start_mark, key, "expected a number, got %s\"%s\"",
                   scalar_plain(n) ? "" : "the string ", t);
  if (!in_range(s->k, v)) {
    char r[96];
    return fail_at(c, n->start_mark, key, "%s, got %s", range_text(s->k, r, sizeof r), t);
  }
  *(double *)field(c, s) = v;
  return 0;
}

static int parse_path(parse_ctx *c, const node *s, const yaml_node_t *n, const char *key) {
  if (want_scalar(c, n, key, "a path")) return -1;
  char **f = (char **)field(c, s);
  free(*f);
  *f = NULL;
  if (scalar_is_null(n)) {
    if (s->k->required)
      return fail_at(c, n->start_mark, key, "expected a path, got an empty value");
    return 0;
  }
  seal_error pe;
  *f = seal_expand_path(scalar_text(n), &pe);
  if (!*f) return fail_at(c, n->start_mark, key, "%s", pe.msg);
  return 0;
}

/* "a, b, c": the names of an enum, or of the task's protocols. */
static void join_names(seal_buf *b, const char *(*name_of)(int), const char *const *names, int n) {
  seal_buf_puts(b, "");
  bool first = true;
  for (int i = 0; name_of ? name_of(i) != NULL : i < n; i++) {
    const char *name = name_of ? name_of(i) : names[i];
    if (!name) continue;
    seal_buf_printf(b, "%s%s", first ? "" : ", ", name);
    first = false;
  }
}

static int parse_enum(parse_ctx *c, const node *s, const yaml_node_t *n, const char *key) {
  if (want_scalar(c, n, key, "a name")) return -1;
  const char *t = scalar_text(n);
  for (int i = 0; s->k->name_of(i); i++) {
    if (strcmp(t, s->k->name_of(i)) == 0) {
      *(int *)field(c, s) = i;
      return 0;
    }
  }
  seal_buf known = {0};
  join_names(&known, s->k->name_of, NULL, 0);
  int rc = fail_at(c, n->start_mark, key, "unknown value \"%s\" (one of: %s)", t, known.data);
  seal_buf_free(&known);
  return rc;
}

static const seal_domain_ops *task_named(const parse_ctx *c, const char *name) {
  for (int i = 0; c->tasks[i]; i++)
    if (!strcmp(c->tasks[i]->name, name)) return c->tasks[i];
  return NULL;
}

/* The task was chosen before parsing (choose_task); here it is only checked. */
static int parse_task(parse_ctx *c, const yaml_node_t *n, const char *key) {
  if (want_scalar(c, n, key, "a name")) return -1;
  if (task_named(c, scalar_text(n))) return 0;
  seal_buf known = {0};
  seal_buf_puts(&known, "");
  for (int i = 0; c->tasks[i]; i++)
    seal_buf_printf(&known, "%s%s", i ? ", " : "", c->tasks[i]->name);
  int rc = fail_at(c, n->start_mark, key, "unknown value \"%s\" (one of: %s)", scalar_text(n),
                   known.data);
  seal_buf_free(&known);
  return rc;
}

static int parse_targets(parse_ctx *c, const node *s, const yaml_node_t *n, const char *key) {
  unsigned bits = 0;
  char known[SEAL_LORA_TARGETS_TEXT], why[768];
  if (n->type == YAML_SCALAR_NODE && strcmp(scalar_text(n), "all") == 0) {
    bits = SEAL_LORA_ALL_TARGETS;
  } else if (n->type != YAML_SEQUENCE_NODE) {
    return fail_at(
        c, n->start_mark, key, "expected a list of targets among %s (or \"all\"), got %s",
        seal_lora_targets_format(SEAL_LORA_ALL_TARGETS, known, sizeof known), node_kind_name(n));
  }
  if (n->type == YAML_SEQUENCE_NODE) {
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
      yaml_node_t *item = yaml_document_get_node(c->doc, *it);
      if (want_scalar(c, item, key, "a target name")) return -1;
      if (seal_lora_targets_add(&bits, scalar_text(item), why, sizeof why))
        return fail_at(c, item->start_mark, key, "%s", why);
    }
    if (bits == 0) return fail_at(c, n->start_mark, key, "needs at least one target");
  }
  *(unsigned *)field(c, s) = bits;
  return 0;
}

/* The evaluation protocols, by the names the task gives those it supports. */
static int parse_protocols(parse_ctx *c, const node *s, const yaml_node_t *n, const char *key) {
  const char *const *names = c->job->task->protocol_names;
  seal_buf known = {0};
  join_names(&known, NULL, names, SEAL_N_PROTOCOLS);
  int rc = 0;
  unsigned bits = 0;
  if (n->type != YAML_SEQUENCE_NODE)
    rc = fail_at(c, n->start_mark, key, "expected a list among %s, got %s", known.data,
                 node_kind_name(n));
  for (yaml_node_item_t *it = n->data.sequence.items.start;
       !rc && n->type == YAML_SEQUENCE_NODE && it < n->data.sequence.items.top; it++) {
    yaml_node_t *item = yaml_document_get_node(c->doc, *it);
    if ((rc = want_scalar(c, item, key, "a protocol name"))) break;
    const char *t = scalar_text(item);
    int p = 0;
    while (p < SEAL_N_PROTOCOLS && !(names[p] && !strcmp(names[p], t))) p++;
    if (p == SEAL_N_PROTOCOLS)
      rc = fail_at(c, item->start_mark, key, "unknown protocol \"%s\" (one of: %s)", t, known.data);
    else if (bits & (1u << p))
      rc = fail_at(c, item->start_mark, key, "protocol \"%s\" is listed twice", t);
    bits |= 1u << p;
  }
  seal_buf_free(&known);
  if (!rc) *(unsigned *)field(c, s) = bits;
  return rc;
}

static int parse_map(parse_ctx *c, const node *spec, const yaml_node_t *n, const char *prefix);

static int parse_value(parse_ctx *c, const node *s, const yaml_node_t *n, const char *key) {
  switch (s->k->kind) {
    case SEAL_SCHEMA_MAP:
      return parse_map(c, s, n, key);
    case SEAL_SCHEMA_INT:
      return parse_int(c, s, n, key);
    case SEAL_SCHEMA_U64:
      return parse_u64(c, s, n, key);
    case SEAL_SCHEMA_FLOAT:
      return parse_float(c, s, n, key);
    case SEAL_SCHEMA_PATH:
      return parse_path(c, s, n, key);
    case SEAL_SCHEMA_ENUM:
      return parse_enum(c, s, n, key);
    case SEAL_SCHEMA_TARGETS:
      return parse_targets(c, s, n, key);
    case SEAL_SCHEMA_PROTOCOLS:
      return parse_protocols(c, s, n, key);
    case SEAL_SCHEMA_TASK:
      return parse_task(c, n, key);
    case SEAL_SCHEMA_TASK_KEYS:
      break;
  }
  return -1;
}

static const node *find_key(const node *spec, const char *name) {
  for (int i = 0; i < spec->n_kids; i++)
    if (strcmp(spec->kids[i].k->name, name) == 0) return &spec->kids[i];
  return NULL;
}

/* The key at path ("data.train") of a task's table, or NULL. */
static const seal_schema_key *task_key_at(const seal_schema_key *t, const char *path) {
  const char *dot = strchr(path, '.');
  size_t len = dot ? (size_t)(dot - path) : strlen(path);
  for (; t && t->name; t++) {
    if (strlen(t->name) != len || strncmp(t->name, path, len)) continue;
    if (!dot) return t;
    return t->kind == SEAL_SCHEMA_MAP ? task_key_at(t->children, dot + 1) : NULL;
  }
  return NULL;
}

static int unknown_key(parse_ctx *c, const node *spec, const yaml_node_t *kn, const char *prefix) {
  char *path = seal_asprintf("%s%s%s", prefix, prefix[0] ? "." : "", scalar_text(kn));
  int rc = 0;
  for (int i = 0; !rc && c->tasks[i]; i++)
    if (c->tasks[i] != c->job->task && task_key_at(c->tasks[i]->keys, path))
      rc = fail_at(c, kn->start_mark, "",
                   "unknown key \"%s\" (a key of task %s; this job's task is %s)", path,
                   c->tasks[i]->name, c->job->task->name);
  if (!rc) {
    seal_buf known = {0};
    for (int i = 0; i < spec->n_kids; i++)
      seal_buf_printf(&known, "%s%s", i ? ", " : "", spec->kids[i].k->name);
    rc = fail_at(c, kn->start_mark, "", "unknown key \"%s\" (known here: %s)", path, known.data);
    seal_buf_free(&known);
  }
  free(path);
  return rc;
}

/* Checks that required path keys are set once a mapping has been read. */
static int check_required(parse_ctx *c, const node *spec, const yaml_node_t *n,
                          const char *prefix) {
  for (int i = 0; !c->defaults && i < spec->n_kids; i++) {
    const node *k = &spec->kids[i];
    if (k->k->kind != SEAL_SCHEMA_PATH || !k->k->required) continue;
    if (*(char **)field(c, k) == NULL)
      return fail_at(c, n->start_mark, prefix, "missing required key \"%s\"", k->k->name);
  }
  return 0;
}

/* Keeps where an enum with a `needs` rule got its value (check_needs). */
static void remember_value(parse_ctx *c, const node *k, const yaml_node_t *vn) {
  if (k->k->kind != SEAL_SCHEMA_ENUM || !k->k->needs_key) return;
  SEAL_CHECK(c->n_marks < SEAL_ARRAY_LEN(c->marks), "too many keys with a `needs` rule");
  c->marks[c->n_marks++] = (value_mark){k, vn->start_mark};
}

static int parse_map(parse_ctx *c, const node *spec, const yaml_node_t *n, const char *prefix) {
  if (n->type != YAML_MAPPING_NODE)
    return fail_at(c, n->start_mark, prefix, "expected a mapping of keys, got %s",
                   node_kind_name(n));
  bool *seen = seal_calloc((size_t)(spec->n_kids + 1), sizeof *seen);
  int rc = 0;
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top && !rc;
       p++) {
    yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
    yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
    if (kn->type != YAML_SCALAR_NODE) {
      rc = fail_at(c, kn->start_mark, prefix, "keys must be names, got %s", node_kind_name(kn));
      break;
    }
    const node *k = find_key(spec, scalar_text(kn));
    if (!k) {
      rc = unknown_key(c, spec, kn, prefix);
      break;
    }
    char *key = seal_asprintf("%s%s%s", prefix, prefix[0] ? "." : "", k->k->name);
    if (seen[k - spec->kids]) {
      rc = fail_at(c, kn->start_mark, key, "duplicate key");
    } else {
      seen[k - spec->kids] = true;
      rc = parse_value(c, k, vn, key);
      if (!rc) remember_value(c, k, vn);
    }
    free(key);
  }
  free(seen);
  return rc ? rc : check_required(c, spec, n, prefix);
}

/* Required maps (data) must be present even when the job omits them entirely. */
static int check_required_maps(parse_ctx *c, const node *root, const yaml_node_t *doc_root) {
  for (int i = 0; i < root->n_kids; i++) {
    const node *k = &root->kids[i];
    if (k->k->kind != SEAL_SCHEMA_MAP) continue;
    for (int j = 0; j < k->n_kids; j++) {
      const node *kk = &k->kids[j];
      if (kk->k->kind == SEAL_SCHEMA_PATH && kk->k->required && !*(char **)field(c, kk))
        return fail_at(c, doc_root->start_mark, "", "missing required key \"%s.%s\"", k->k->name,
                       kk->k->name);
    }
  }
  return 0;
}

/* An enum value that needs a sibling path key set (judge grading, its judge
 * model): refused at the enum's value, or at the top when the value is a
 * default. */
static int check_needs(parse_ctx *c, const node *map, const yaml_node_t *doc_root,
                       const char *prefix) {
  for (int i = 0; i < map->n_kids; i++) {
    const node *k = &map->kids[i];
    char *key = seal_asprintf("%s%s%s", prefix, prefix[0] ? "." : "", k->k->name);
    int rc = 0;
    if (k->k->kind == SEAL_SCHEMA_MAP) {
      rc = check_needs(c, k, doc_root, key);
    } else if (k->k->kind == SEAL_SCHEMA_ENUM && k->k->needs_key &&
               *(int *)field(c, k) == k->k->needs_value) {
      const node *need = find_key(map, k->k->needs_key);
      SEAL_CHECK(need && need->k->kind == SEAL_SCHEMA_PATH, "%s needs a path key %s", key,
                 k->k->needs_key);
      yaml_mark_t m = doc_root->start_mark;
      for (int j = 0; j < c->n_marks; j++)
        if (c->marks[j].n == k) m = c->marks[j].mark;
      if (!*(char **)field(c, need)) rc = fail_at(c, m, key, "%s", k->k->needs_why);
    }
    free(key);
    if (rc) return rc;
  }
  return 0;
}

/* A teacher_device other than `same` places a teacher: without one (teacher:
 * self) there is nothing to place, and the key would be silently ignored. */
static int check_teacher_device(parse_ctx *c, const yaml_node_t *root) {
  if (c->job->teacher_device == SEAL_TEACHER_DEVICE_SAME || seal_job_has_teacher(c->job)) return 0;
  yaml_mark_t m = root->start_mark;
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
       p++) {
    yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
    if (kn->type == YAML_SCALAR_NODE && !strcmp(scalar_text(kn), "teacher_device"))
      m = yaml_document_get_node(c->doc, p->value)->start_mark;
  }
  return fail_at(c, m, "teacher_device",
                 "\"%s\" places a teacher, but the job has none (teacher: self): set teacher "
                 "to a model, or leave teacher_device out (the model runs on `device`)",
                 teacher_device_names[c->job->teacher_device]);
}

static int yaml_syntax_error(const yaml_parser_t *p, const char *file, seal_error *e) {
  if (p->context)
    return seal_errorf(e, "%s:%zu:%zu: invalid YAML: %s %s (line %zu, column %zu)", file,
                       p->problem_mark.line + 1, p->problem_mark.column + 1, p->problem, p->context,
                       p->context_mark.line + 1, p->context_mark.column + 1);
  return seal_errorf(e, "%s:%zu:%zu: invalid YAML: %s", file, p->problem_mark.line + 1,
                     p->problem_mark.column + 1, p->problem ? p->problem : "unknown error");
}

/* libyaml rescans every open flow level ([ or {) at each token: N levels cost
 * N^2 (a 200 KB "[[[[..." took six minutes). A job nests two levels; brackets
 * are counted before libyaml sees the text (quoted ones too: harmless). */
#define JOB_MAX_FLOW_DEPTH 64
static int check_flow_depth(const char *yaml, const char *name, seal_error *e) {
  int depth = 0;
  size_t line = 1, col = 1;
  for (const char *p = yaml; *p; p++, col++) {
    if (*p == '\n') line++, col = 0;
    if (*p == '[' || *p == '{') depth++;
    if ((*p == ']' || *p == '}') && depth > 0) depth--;
    if (depth > JOB_MAX_FLOW_DEPTH)
      return seal_errorf(e, "%s:%zu:%zu: brackets nested more than %d deep", name, line, col,
                         JOB_MAX_FLOW_DEPTH);
  }
  return 0;
}

/* Loads YAML text as a document; on a syntax error fills e. */
static int load_document(const char *yaml, const char *name, yaml_document_t *doc, seal_error *e) {
  yaml_parser_t parser;
  SEAL_CHECK(yaml_parser_initialize(&parser), "libyaml: cannot initialize a parser");
  yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, strlen(yaml));
  int rc = yaml_parser_load(&parser, doc) ? 0 : yaml_syntax_error(&parser, name, e);
  yaml_parser_delete(&parser);
  return rc;
}

/* The task named by the document's `task:` (the registry's first when it has
 * none), so that its keys are known before the rest is read. A bad value is
 * left for the full parse to report with its position. */
static const seal_domain_ops *choose_task(const parse_ctx *c, const yaml_node_t *root) {
  if (!root || root->type != YAML_MAPPING_NODE) return c->tasks[0];
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
       p++) {
    yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
    yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
    if (kn->type == YAML_SCALAR_NODE && !strcmp(scalar_text(kn), "task") &&
        vn->type == YAML_SCALAR_NODE && task_named(c, scalar_text(vn)))
      return task_named(c, scalar_text(vn));
  }
  return c->tasks[0];
}

/* The task's defaults_yaml over the trainer's defaults. */
static int apply_task_defaults(seal_job *job, const node *table,
                               const seal_domain_ops *const *tasks, seal_error *e) {
  if (!job->task->defaults_yaml) return 0;
  char *name = seal_asprintf("the defaults of task %s", job->task->name);
  yaml_document_t doc;
  int rc = load_document(job->task->defaults_yaml, name, &doc, e);
  if (!rc) {
    parse_ctx c = {.doc = &doc, .file = name, .job = job, .e = e, .tasks = tasks, .defaults = true};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    rc = root ? parse_map(&c, table, root, "") : 0;
    yaml_document_delete(&doc);
  }
  free(name);
  return rc;
}

int seal_job_parse_tasks(const char *yaml, const char *name, const seal_domain_ops *const *tasks,
                         seal_job *job, seal_error *e) {
  memset(job, 0, sizeof *job);
  if (check_flow_depth(yaml, name, e) != 0) return -1;
  yaml_document_t doc;
  if (load_document(yaml, name, &doc, e)) return -1;
  parse_ctx c = {.doc = &doc, .file = name, .job = job, .e = e, .tasks = tasks};
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  job_defaults(job, choose_task(&c, root));
  job->source = seal_strdup(name);
  node table = job_table(job->task);
  int rc = apply_task_defaults(job, &table, tasks, e);
  if (!rc && !root) {
    rc = seal_errorf(e, "%s:1:1: the job is empty (it needs at least model and data)", name);
  } else if (!rc) {
    rc = parse_map(&c, &table, root, "");
    if (!rc) rc = check_required_maps(&c, &table, root);
    if (!rc) rc = check_needs(&c, &table, root, "");
    if (!rc) rc = check_teacher_device(&c, root);
  }
  free_kids(&table);
  yaml_document_delete(&doc);
  if (rc) seal_job_free(job);
  return rc;
}

int seal_job_parse(const char *yaml, const char *name, seal_job *job, seal_error *e) {
  return seal_job_parse_tasks(yaml, name, seal_domains, job, e);
}

int seal_job_load(const char *path, seal_job *job, seal_error *e) {
  memset(job, 0, sizeof *job);
  char *text = seal_read_file(path, NULL, e);
  if (!text) return -1;
  int rc = seal_job_parse(text, path, job, e);
  free(text);
  return rc;
}

/* ---- dumping ----------------------------------------------------------------- */

/* The shortest %g form that reads back as the same double. */
static void put_double(seal_buf *b, double v) {
  char s[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(s, sizeof s, "%.*g", prec, v);
    if (strtod(s, NULL) == v) break;
  }
  seal_buf_puts(b, s);
}

/* A double-quoted YAML string; '$' doubled so that expansion gives it back. */
static void put_path(seal_buf *b, const char *s) {
  seal_buf_puts(b, "\"");
  for (const char *p = s; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch == '"' || ch == '\\') {
      seal_buf_printf(b, "\\%c", ch);
    } else if (ch == '$') {
      seal_buf_puts(b, "$$");
    } else if (ch < 0x20) {
      seal_buf_printf(b, "\\x%02x", ch);
    } else {
      seal_buf_append(b, p, 1);
    }
  }
  seal_buf_puts(b, "\"");
}

static void put_targets(seal_buf *b, unsigned bits) {
  char names[SEAL_LORA_TARGETS_TEXT];
  seal_buf_printf(b, "[%s]", seal_lora_targets_format(bits, names, sizeof names));
}

static void put_protocols(seal_buf *b, const seal_domain_ops *task, unsigned bits) {
  seal_buf_puts(b, "[");
  bool first = true;
  for (int p = 0; p < SEAL_N_PROTOCOLS; p++) {
    if (!(bits & (1u << p))) continue;
    seal_buf_printf(b, "%s%s", first ? "" : ", ", task->protocol_names[p]);
    first = false;
  }
  seal_buf_puts(b, "]");
}

/* One scalar value of a key, after "name:". */
static void dump_value(seal_buf *b, const seal_job *job, const node *k, const char *f) {
  switch (k->k->kind) {
    case SEAL_SCHEMA_INT:
      seal_buf_printf(b, " %d", *(const int *)f);
      break;
    case SEAL_SCHEMA_U64:
      seal_buf_printf(b, " %llu", (unsigned long long)*(const uint64_t *)f);
      break;
    case SEAL_SCHEMA_FLOAT:
      seal_buf_puts(b, " ");
      put_double(b, *(const double *)f);
      break;
    case SEAL_SCHEMA_PATH:
      seal_buf_puts(b, " ");
      if (*(char *const *)f)
        put_path(b, *(char *const *)f);
      else
        seal_buf_puts(b, "null");
      break;
    case SEAL_SCHEMA_ENUM:
      seal_buf_printf(b, " %s", k->k->name_of(*(const int *)f));
      break;
    case SEAL_SCHEMA_TARGETS:
      seal_buf_puts(b, " ");
      put_targets(b, *(const unsigned *)f);
      break;
    case SEAL_SCHEMA_PROTOCOLS:
      seal_buf_puts(b, " ");
      put_protocols(b, job->task, *(const unsigned *)f);
      break;
    case SEAL_SCHEMA_TASK:
      seal_buf_printf(b, " %s", job->task->name);
      break;
    case SEAL_SCHEMA_MAP:
    case SEAL_SCHEMA_TASK_KEYS:
      break;
  }
}

static void dump_map(seal_buf *b, const seal_job *job, const node *spec, int indent) {
  for (int i = 0; i < spec->n_kids; i++) {
    const node *k = &spec->kids[i];
    const char *base = k->of_task ? (const char *)job->task_settings : (const char *)job;
    seal_buf_printf(b, "%*s%s:", indent, "", k->k->name);
    if (k->k->kind == SEAL_SCHEMA_MAP) {
      seal_buf_puts(b, "\n");
      dump_map(b, job, k, indent + 2);
      continue;
    }
    dump_value(b, job, k, base + k->k->off);
    seal_buf_puts(b, "\n");
  }
}

char *seal_job_to_yaml(const seal_job *job) {
  seal_buf b = {0};
  seal_buf_printf(&b, "# effective seal %s job", SEAL_VERSION);
  if (job->source) {
    seal_buf_puts(&b, " from ");
    for (const char *p = job->source; *p; p++)
      if (*p != '\n') seal_buf_append(&b, p, 1);
  }
  seal_buf_puts(&b, "\n");
  node table = job_table(job->task);
  dump_map(&b, job, &table, 0);
  free_kids(&table);
  return seal_buf_take(&b);
}
