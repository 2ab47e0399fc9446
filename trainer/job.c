/* trainer/job.c — the job file: one table of keys drives parsing (libyaml's
 * document API, whose nodes carry line/column marks), validation and the dump
 * back to YAML, so the three can never disagree. */
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

static const char *const device_names[] = {"auto", "cpu", "cuda"};
/* indexed by seal_schedule (model/optim.h) */
static const char *const schedule_names[] = {"constant", "linear", "cosine"};
static const char *const task_names[] = {"knowledge"};

const char *seal_device_name(seal_device d) { return device_names[d]; }
const char *seal_schedule_name(seal_schedule s) { return schedule_names[s]; }

static const char *name_device(int v) { return device_names[v]; }
static const char *name_schedule(int v) { return schedule_names[v]; }
static const char *name_task(int v) { return task_names[v]; }
static const char *name_prompt(int v) { return seal_prompt_variant_name((seal_prompt_variant)v); }
static const char *name_grade(int v) { return seal_grade_mode_name((seal_grade_mode)v); }

/* ---- the schema ------------------------------------------------------------- */

typedef enum {
  K_MAP,       /* a nested mapping: children */
  K_INT,       /* int in [lo, hi] */
  K_U64,       /* uint64_t */
  K_FLOAT,     /* double in [lo, hi] (lo exclusive when lo_open) */
  K_PATH,      /* char *, ~ and ${ENV} expanded */
  K_ENUM,      /* int index into name_of(0..n_names) */
  K_TARGETS,   /* unsigned bit set of LoRA targets */
  K_PROTOCOLS, /* the evaluation protocols: two bools */
} key_kind;

typedef struct key_spec key_spec;
struct key_spec {
  const char *name;
  key_kind kind;
  size_t off; /* offset of the field in seal_job */
  double lo, hi;
  bool lo_open;
  bool required;
  const char *(*name_of)(int); /* K_ENUM */
  int n_names;                 /* K_ENUM */
  const key_spec *children;    /* K_MAP; ends with a NULL name */
};

#define OFF(field) offsetof(seal_job, field)
#define INT(n, f, a, b) \
  { .name = n, .kind = K_INT, .off = OFF(f), .lo = a, .hi = b }
#define FLOAT(n, f, a, b) \
  { .name = n, .kind = K_FLOAT, .off = OFF(f), .lo = a, .hi = b }
#define FLOAT_POS(n, f) \
  { .name = n, .kind = K_FLOAT, .off = OFF(f), .lo = 0, .hi = INFINITY, .lo_open = true }
#define PATH(n, f, req) \
  { .name = n, .kind = K_PATH, .off = OFF(f), .required = req }
#define ENUM(n, f, fn, count) \
  { .name = n, .kind = K_ENUM, .off = OFF(f), .name_of = fn, .n_names = count }
#define MAP(n, kids) \
  { .name = n, .kind = K_MAP, .children = kids }
#define END \
  { .name = NULL }
#define BIG 1e9

#define LORA_KEYS(prefix)                                                       \
  {                                                                             \
    INT("r", prefix.r, 1, 65536), FLOAT_POS("alpha", prefix.alpha),             \
        {.name = "targets", .kind = K_TARGETS, .off = OFF(prefix.targets)}, END \
  }

static const key_spec inner_lora_keys[] = LORA_KEYS(inner.lora);
static const key_spec rest_lora_keys[] = LORA_KEYS(rest_em.lora);
static const key_spec cpt_lora_keys[] = LORA_KEYS(evaluation.cpt.lora);

static const key_spec data_keys[] = {
    PATH("train", data.train, true),
    PATH("eval", data.eval, true),
    INT("contexts_per_round", data.contexts_per_round, 1, BIG),
    INT("n_eval", data.n_eval, 0, BIG),
    END,
};

static const key_spec selfedit_keys[] = {
    ENUM("prompt", selfedit.prompt, name_prompt, SEAL_PROMPT_N_VARIANTS),
    INT("k", selfedit.k, 1, 1024),
    FLOAT("temperature", selfedit.temperature, 0, 100),
    {.name = "top_p",
     .kind = K_FLOAT,
     .off = OFF(selfedit.top_p),
     .lo = 0,
     .hi = 1,
     .lo_open = true},
    INT("max_tokens", selfedit.max_tokens, 1, 1 << 20),
    END,
};

static const key_spec inner_keys[] = {
    MAP("lora", inner_lora_keys),
    INT("epochs", inner.epochs, 1, 100000),
    FLOAT_POS("lr", inner.lr),
    INT("batch_size", inner.batch_size, 1, 1 << 20),
    ENUM("schedule", inner.schedule, name_schedule, 3),
    INT("warmup_steps", inner.warmup_steps, 0, BIG),
    FLOAT("weight_decay", inner.weight_decay, 0, INFINITY),
    FLOAT("grad_clip", inner.grad_clip, 0, INFINITY),
    INT("group", inner.group, 1, 4096),
    END,
};

static const key_spec answer_keys[] = {
    INT("max_tokens", answer.max_tokens, 1, 1 << 20),
    END,
};

static const key_spec grading_keys[] = {
    ENUM("mode", grading.mode, name_grade, SEAL_GRADE_N_MODES),
    FLOAT("f1_threshold", grading.f1_threshold, 0, 1),
    PATH("judge_model", grading.judge_model, false),
    END,
};

static const key_spec rest_em_keys[] = {
    MAP("lora", rest_lora_keys),
    FLOAT_POS("lr", rest_em.lr),
    INT("epochs", rest_em.epochs, 1, 100000),
    INT("batch_size", rest_em.batch_size, 1, 1 << 20),
    END,
};

static const key_spec cpt_keys[] = {
    INT("n_passages", evaluation.cpt.n_passages, 1, BIG),     MAP("lora", cpt_lora_keys),
    INT("epochs", evaluation.cpt.epochs, 1, 100000),          FLOAT_POS("lr", evaluation.cpt.lr),
    INT("batch_size", evaluation.cpt.batch_size, 1, 1 << 20), END,
};

static const key_spec evaluation_keys[] = {
    {.name = "protocols", .kind = K_PROTOCOLS, .off = OFF(evaluation)},
    MAP("continued_pretraining", cpt_keys),
    END,
};

static const key_spec job_keys[] = {
    ENUM("task", task, name_task, 1),
    PATH("model", model, true),
    ENUM("device", device, name_device, 3),
    {.name = "seed", .kind = K_U64, .off = OFF(seed)},
    PATH("output", output, true),
    INT("rounds", rounds, 0, 100000),
    INT("repeats", repeats, 1, 1024),
    MAP("data", data_keys),
    MAP("selfedit", selfedit_keys),
    MAP("inner_loop", inner_keys),
    MAP("answer", answer_keys),
    MAP("grading", grading_keys),
    MAP("rest_em", rest_em_keys),
    MAP("evaluation", evaluation_keys),
    END,
};

static const key_spec root_spec = MAP("", job_keys);

/* ---- defaults: the paper's settings (DESIGN §7) ------------------------------ */

void seal_job_defaults(seal_job *job) {
  const unsigned qv = SEAL_LORA_BIT(SEAL_LORA_Q) | SEAL_LORA_BIT(SEAL_LORA_V);
  memset(job, 0, sizeof *job);
  job->task = SEAL_TASK_KNOWLEDGE;
  job->device = SEAL_DEVICE_AUTO;
  job->seed = 42;
  job->output = seal_strdup("runs/seal");
  job->rounds = 2;
  job->repeats = 3;
  job->data.contexts_per_round = 50;
  job->data.n_eval = 200;
  job->selfedit = (seal_job_selfedit){SEAL_PROMPT_IMPLICATIONS, 5, 1.0, 0.95, 1024};
  job->inner = (seal_job_inner){{32, 64, qv}, 10, 1e-3, 1, SEAL_SCHEDULE_LINEAR, 0, 0.0, 1.0, 1};
  job->answer.max_tokens = 64;
  job->grading = (seal_job_grading){SEAL_GRADE_CONTAINS, 0.5, NULL};
  job->rest_em = (seal_job_rest_em){{64, 128, SEAL_LORA_ALL_TARGETS}, 3e-4, 2, 10};
  job->evaluation.single_passage = true;
  job->evaluation.continued_pretraining = false;
  job->evaluation.cpt.n_passages = 200;
  job->evaluation.cpt.lora = (seal_job_lora){32, 64, qv};
  job->evaluation.cpt.epochs = 3;
  job->evaluation.cpt.lr = 1e-3;
  job->evaluation.cpt.batch_size = 8;
}

void seal_job_free(seal_job *job) {
  free(job->source);
  free(job->model);
  free(job->output);
  free(job->data.train);
  free(job->data.eval);
  free(job->grading.judge_model);
  memset(job, 0, sizeof *job);
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

typedef struct {
  yaml_document_t *doc;
  const char *file;
  seal_job *job;
  seal_error *e;
  yaml_mark_t grading_mode_mark; /* for the judge_model check after parsing */
  bool have_grading_mode_mark;
} parse_ctx;

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

static const char *range_text(const key_spec *s, char *buf, size_t n) {
  if (isinf(s->hi) || s->hi >= BIG) /* BIG only guards int overflow; not worth showing */
    snprintf(buf, n, "must be %s %g", s->lo_open ? ">" : ">=", s->lo);
  else
    snprintf(buf, n, "must be in %s%g, %g]", s->lo_open ? "(" : "[", s->lo, s->hi);
  return buf;
}

static bool in_range(const key_spec *s, double v) {
  return (s->lo_open ? v > s->lo : v >= s->lo) && v <= s->hi;
}

static int parse_int(parse_ctx *c, const key_spec *s, const yaml_node_t *n, const char *key) {
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
  if (!in_range(s, (double)v)) {
    char r[96];
    return fail_at(c, n->start_mark, key, "%s, got %lld", range_text(s, r, sizeof r), v);
  }
  *(int *)((char *)c->job + s->off) = (int)v;
  return 0;
}

static int parse_u64(parse_ctx *c, const key_spec *s, const yaml_node_t *n, const char *key) {
  if (want_scalar(c, n, key, "a non-negative integer")) return -1;
  const char *t = scalar_text(n);
  char *end;
  errno = 0;
  unsigned long long v = strtoull(t, &end, 10);
  if (!scalar_plain(n) || !isdigit((unsigned char)t[0]) || *end != '\0' || errno == ERANGE)
    return fail_at(c, n->start_mark, key, "expected a non-negative integer, got \"%s\"", t);
  *(uint64_t *)((char *)c->job + s->off) = (uint64_t)v;
  return 0;
}

/* A YAML number: decimal digits, a point, an exponent; no inf/nan/hex. */
static bool looks_decimal(const char *t) {
  if (!*t) return false;
  for (const char *p = t; *p; p++)
    if (!(isdigit((unsigned char)*p) || strchr("+-.eE", *p))) return false;
  return true;
}

static int parse_float(parse_ctx *c, const key_spec *s, const yaml_node_t *n, const char *key) {
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
  if (!in_range(s, v)) {
    char r[96];
    return fail_at(c, n->start_mark, key, "%s, got %s", range_text(s, r, sizeof r), t);
  }
  *(double *)((char *)c->job + s->off) = v;
  return 0;
}

static int parse_path(parse_ctx *c, const key_spec *s, const yaml_node_t *n, const char *key) {
  if (want_scalar(c, n, key, "a path")) return -1;
  char **field = (char **)((char *)c->job + s->off);
  free(*field);
  *field = NULL;
  if (scalar_is_null(n)) {
    if (s->required) return fail_at(c, n->start_mark, key, "expected a path, got an empty value");
    return 0;
  }
  seal_error pe;
  *field = seal_expand_path(scalar_text(n), &pe);
  if (!*field) return fail_at(c, n->start_mark, key, "%s", pe.msg);
  return 0;
}

static int parse_enum(parse_ctx *c, const key_spec *s, const yaml_node_t *n, const char *key) {
  if (want_scalar(c, n, key, "a name")) return -1;
  const char *t = scalar_text(n);
  for (int i = 0; i < s->n_names; i++) {
    if (strcmp(t, s->name_of(i)) == 0) {
      *(int *)((char *)c->job + s->off) = i;
      return 0;
    }
  }
  seal_buf known = {0};
  for (int i = 0; i < s->n_names; i++)
    seal_buf_printf(&known, "%s%s", i ? ", " : "", s->name_of(i));
  int rc = fail_at(c, n->start_mark, key, "unknown value \"%s\" (one of: %s)", t, known.data);
  seal_buf_free(&known);
  return rc;
}

static int parse_targets(parse_ctx *c, const key_spec *s, const yaml_node_t *n, const char *key) {
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
  *(unsigned *)((char *)c->job + s->off) = bits;
  return 0;
}

static int parse_protocols(parse_ctx *c, const yaml_node_t *n, const char *key) {
  if (n->type != YAML_SEQUENCE_NODE)
    return fail_at(c, n->start_mark, key,
                   "expected a list among single-passage, continued-pretraining, got %s",
                   node_kind_name(n));
  bool single = false, cpt = false;
  for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
    yaml_node_t *item = yaml_document_get_node(c->doc, *it);
    if (want_scalar(c, item, key, "a protocol name")) return -1;
    const char *t = scalar_text(item);
    bool *flag = strcmp(t, "single-passage") == 0          ? &single
                 : strcmp(t, "continued-pretraining") == 0 ? &cpt
                                                           : NULL;
    if (!flag)
      return fail_at(c, item->start_mark, key,
                     "unknown protocol \"%s\" (one of: single-passage, continued-pretraining)", t);
    if (*flag) return fail_at(c, item->start_mark, key, "protocol \"%s\" is listed twice", t);
    *flag = true;
  }
  c->job->evaluation.single_passage = single;
  c->job->evaluation.continued_pretraining = cpt;
  return 0;
}

static int parse_map(parse_ctx *c, const key_spec *spec, const yaml_node_t *n, const char *prefix);

static int parse_value(parse_ctx *c, const key_spec *s, const yaml_node_t *n, const char *key) {
  switch (s->kind) {
    case K_MAP:
      return parse_map(c, s, n, key);
    case K_INT:
      return parse_int(c, s, n, key);
    case K_U64:
      return parse_u64(c, s, n, key);
    case K_FLOAT:
      return parse_float(c, s, n, key);
    case K_PATH:
      return parse_path(c, s, n, key);
    case K_ENUM:
      return parse_enum(c, s, n, key);
    case K_TARGETS:
      return parse_targets(c, s, n, key);
    case K_PROTOCOLS:
      return parse_protocols(c, n, key);
  }
  return -1;
}

static const key_spec *find_key(const key_spec *spec, const char *name) {
  for (const key_spec *k = spec->children; k->name; k++)
    if (strcmp(k->name, name) == 0) return k;
  return NULL;
}

static int unknown_key(parse_ctx *c, const key_spec *spec, const yaml_node_t *kn,
                       const char *prefix) {
  seal_buf known = {0};
  for (const key_spec *k = spec->children; k->name; k++)
    seal_buf_printf(&known, "%s%s", k == spec->children ? "" : ", ", k->name);
  int rc = fail_at(c, kn->start_mark, "", "unknown key \"%s%s%s\" (known here: %s)", prefix,
                   prefix[0] ? "." : "", scalar_text(kn), known.data);
  seal_buf_free(&known);
  return rc;
}

/* Checks that required path keys are set once a mapping has been read. */
static int check_required(parse_ctx *c, const key_spec *spec, const yaml_node_t *n,
                          const char *prefix) {
  for (const key_spec *k = spec->children; k->name; k++) {
    if (k->kind != K_PATH || !k->required) continue;
    if (*(char **)((char *)c->job + k->off) == NULL)
      return fail_at(c, n->start_mark, prefix, "missing required key \"%s\"", k->name);
  }
  return 0;
}

static int parse_map(parse_ctx *c, const key_spec *spec, const yaml_node_t *n, const char *prefix) {
  if (n->type != YAML_MAPPING_NODE)
    return fail_at(c, n->start_mark, prefix, "expected a mapping of keys, got %s",
                   node_kind_name(n));
  int n_children = 0;
  while (spec->children[n_children].name) n_children++;
  bool *seen = seal_calloc((size_t)n_children, sizeof *seen);
  int rc = 0;
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top && !rc;
       p++) {
    yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
    yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
    if (kn->type != YAML_SCALAR_NODE) {
      rc = fail_at(c, kn->start_mark, prefix, "keys must be names, got %s", node_kind_name(kn));
      break;
    }
    const key_spec *k = find_key(spec, scalar_text(kn));
    if (!k) {
      rc = unknown_key(c, spec, kn, prefix);
      break;
    }
    char *key = seal_asprintf("%s%s%s", prefix, prefix[0] ? "." : "", k->name);
    if (seen[k - spec->children]) {
      rc = fail_at(c, kn->start_mark, key, "duplicate key");
    } else {
      seen[k - spec->children] = true;
      rc = parse_value(c, k, vn, key);
      if (!rc && k->kind == K_ENUM && k->off == offsetof(seal_job, grading.mode)) {
        c->grading_mode_mark = vn->start_mark;
        c->have_grading_mode_mark = true;
      }
    }
    free(key);
  }
  free(seen);
  return rc ? rc : check_required(c, spec, n, prefix);
}

/* Required maps (data) must be present even when the job omits them entirely. */
static int check_required_maps(parse_ctx *c, const yaml_node_t *root) {
  for (const key_spec *k = job_keys; k->name; k++) {
    if (k->kind != K_MAP) continue;
    for (const key_spec *kk = k->children; kk->name; kk++) {
      if (kk->kind == K_PATH && kk->required && !*(char **)((char *)c->job + kk->off))
        return fail_at(c, root->start_mark, "", "missing required key \"%s.%s\"", k->name,
                       kk->name);
    }
  }
  return 0;
}

static int check_consistency(parse_ctx *c, const yaml_node_t *root) {
  const seal_job *j = c->job;
  if (j->grading.mode == SEAL_GRADE_JUDGE && !j->grading.judge_model) {
    yaml_mark_t m = c->have_grading_mode_mark ? c->grading_mode_mark : root->start_mark;
    return fail_at(c, m, "grading.mode", "judge grading needs grading.judge_model (a model path)");
  }
  return 0;
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

int seal_job_parse(const char *yaml, const char *name, seal_job *job, seal_error *e) {
  seal_job_defaults(job);
  job->source = seal_strdup(name);
  if (check_flow_depth(yaml, name, e) != 0) {
    seal_job_free(job);
    return -1;
  }
  yaml_parser_t parser;
  yaml_document_t doc;
  SEAL_CHECK(yaml_parser_initialize(&parser), "libyaml: cannot initialize a parser");
  yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, strlen(yaml));
  if (!yaml_parser_load(&parser, &doc)) {
    int rc = yaml_syntax_error(&parser, name, e);
    yaml_parser_delete(&parser);
    seal_job_free(job);
    return rc;
  }
  parse_ctx c = {.doc = &doc, .file = name, .job = job, .e = e};
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  int rc;
  if (!root) {
    rc = seal_errorf(e, "%s:1:1: the job is empty (it needs at least model and data)", name);
  } else {
    rc = parse_map(&c, &root_spec, root, "");
    if (!rc) rc = check_required_maps(&c, root);
    if (!rc) rc = check_consistency(&c, root);
  }
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  if (rc) seal_job_free(job);
  return rc;
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

static void dump_map(seal_buf *b, const seal_job *job, const key_spec *spec, int indent) {
  for (const key_spec *k = spec->children; k->name; k++) {
    const char *field = (const char *)job + k->off;
    seal_buf_printf(b, "%*s%s:", indent, "", k->name);
    switch (k->kind) {
      case K_MAP:
        seal_buf_puts(b, "\n");
        dump_map(b, job, k, indent + 2);
        continue;
      case K_INT:
        seal_buf_printf(b, " %d", *(const int *)field);
        break;
      case K_U64:
        seal_buf_printf(b, " %llu", (unsigned long long)*(const uint64_t *)field);
        break;
      case K_FLOAT:
        seal_buf_puts(b, " ");
        put_double(b, *(const double *)field);
        break;
      case K_PATH:
        if (*(char *const *)field) {
          seal_buf_puts(b, " ");
          put_path(b, *(char *const *)field);
        } else {
          seal_buf_puts(b, " null");
        }
        break;
      case K_ENUM:
        seal_buf_printf(b, " %s", k->name_of(*(const int *)field));
        break;
      case K_TARGETS:
        seal_buf_puts(b, " ");
        put_targets(b, *(const unsigned *)field);
        break;
      case K_PROTOCOLS: {
        bool sp = job->evaluation.single_passage, cpt = job->evaluation.continued_pretraining;
        seal_buf_printf(b, " [%s%s%s]", sp ? "single-passage" : "", sp && cpt ? ", " : "",
                        cpt ? "continued-pretraining" : "");
        break;
      }
    }
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
  dump_map(&b, job, &root_spec, 0);
  return seal_buf_take(&b);
}
