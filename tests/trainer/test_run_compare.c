/* tests/trainer/test_run_compare.c — are two SEAL runs the same run? The end-to-end
 * tests (tests/e2e/seal_ranks.sh, seal_resume.sh, seal_fault.sh) run the tiny job
 * of tests/fixtures/tiny-seal several ways (1, 2, 3 ranks; interrupted and
 * resumed; with an injected fault) and call the `e2e` case of this suite to
 * compare each result with a reference run:
 *
 *   SEAL_COMPARE_A=DIR_A SEAL_COMPARE_B=DIR_B CK_RUN_SUITE=run_compare CK_RUN_CASE=e2e \
 *     BUILD/test_trainer
 *
 * DIR_A and DIR_B are run directories (checkpoint.h5 + metrics.jsonl). Compared:
 * - checkpoint.h5 (read with seal_checkpoint_read): run seed, round, phase, every
 *   /policy tensor (same names and shapes, values within SEAL_COMPARE_POLICY_TOL,
 *   default 1e-5, relative to max(1, |a|, |b|)), the optimizer step, the round
 *   table (contexts, kept, mean reward), and every self-edit record matched by
 *   (round, context, sample, repeat): identical text, reward, ok, labelled reward,
 *   task metrics, plan size, attempts and reason; the label-free signals among the
 *   metrics (self_certainty, entropy, majority) within SEAL_COMPARE_LOSS_RTOL.
 * - metrics.jsonl "evaluated" events, matched the same way: identical reward, ok
 *   and F1, first and last inner-loop loss within SEAL_COMPARE_LOSS_RTOL (default
 *   1e-6, relative). An item evaluated twice in one file (re-run after a resume)
 *   must give the same result both times. Every evaluated record of a checkpoint
 *   must have an event in its run's metrics and the other way round.
 * - SEAL_COMPARE_FAULT="context:sample:repeat" (the job's test hook
 *   testing.fault_evaluate): run B injected a failure there; B's records of that
 *   item (in any round) must have reward 0 and ok 0, at least one must exist,
 *   and everything else must match.
 *
 * Alone (no SEAL_COMPARE_A/B), the `e2e` case says it is skipped; the `compare`
 * case tests the comparison itself on made-up runs: equal runs pass, and each kind
 * of difference (a policy value, a text, a reward, a missing record, a loss, a
 * fault scored wrongly) is caught. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trainer/checkpoint.h"
#include "trainer/run_state.h"

/* ---- options and the difference report ---------------------------------------------- */

typedef struct {
  double policy_tol; /* |a - b| <= tol * max(1, |a|, |b|) */
  double loss_rtol;  /* |a - b| <= rtol * max(|a|, |b|) */
  int has_fault;     /* B failed (fault_context, fault_sample, fault_repeat) in every round */
  int fault_context, fault_sample, fault_repeat;
} cmp_opts;

/* What differs, a line each; only the first lines are kept, all are counted. */
typedef struct {
  int n;
  seal_buf text;
  /* summary of what was compared */
  int tensors, records, events, faults;
  double max_policy_diff, max_policy_rdiff, max_loss_rdiff;
} cmp_report;

enum { REPORT_MAX_LINES = 30 };

static void differ(cmp_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void differ(cmp_report *r, const char *fmt, ...) {
  if (++r->n > REPORT_MAX_LINES) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  seal_buf_printf(&r->text, "  %s\n", line);
}

static const char *report_text(cmp_report *r) {
  if (r->n > REPORT_MAX_LINES) {
    seal_buf_printf(&r->text, "  ... and %d more\n", r->n - REPORT_MAX_LINES);
    r->n = REPORT_MAX_LINES; /* print the tail once */
  }
  return r->text.data ? r->text.data : "";
}

static void report_free(cmp_report *r) { seal_buf_free(&r->text); }

static bool same_double(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

static bool is_fault(const cmp_opts *o, int context, int sample, int repeat) {
  return o->has_fault && context == o->fault_context && sample == o->fault_sample &&
         repeat == o->fault_repeat;
}

/* ---- checkpoints ------------------------------------------------------------------- */

static void compare_tensor(const seal_host_tensor *a, const seal_host_tensor *b, int round,
                           double tol, cmp_report *r) {
  if (a->ndim != b->ndim || memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof(int64_t))) {
    differ(r, "policy round_%d %s: shapes differ", round, a->name);
    return;
  }
  int64_t n = seal_tensor_numel(a), worst = -1;
  double worst_excess = 0, max_diff = 0; /* [numel] scanned for the largest violation */
  for (int64_t i = 0; i < n; i++) {
    double x = a->data[i], y = b->data[i], d = fabs(x - y);
    if (isnan(x) || isnan(y)) d = isnan(x) && isnan(y) ? 0 : INFINITY;
    if (d > max_diff) max_diff = d;
    double excess = d / fmax(1.0, fmax(fabs(x), fabs(y)));
    if (excess > tol && excess > worst_excess) worst_excess = excess, worst = i;
  }
  if (max_diff > r->max_policy_diff) r->max_policy_diff = max_diff;
  /* For the record: the difference relative to the tensor's largest value (LoRA B
   * is ~lr after a few AdamW steps, far below 1). */
  double amax = 0;
  for (int64_t i = 0; i < n; i++) amax = fmax(amax, fabs(a->data[i]));
  if (amax > 0 && isfinite(max_diff) && max_diff / amax > r->max_policy_rdiff)
    r->max_policy_rdiff = max_diff / amax;
  r->tensors++;
  if (worst >= 0)
    differ(r, "policy round_%d %s[%lld]: %.9g vs %.9g (relative difference %.3g > %.3g)", round,
           a->name, (long long)worst, a->data[worst], b->data[worst], worst_excess, tol);
}

static void compare_policy(const seal_run_state *a, const seal_run_state *b, const cmp_opts *o,
                           cmp_report *r) {
  if (a->n_policy_rounds != b->n_policy_rounds) {
    differ(r, "policy rounds: %d vs %d", a->n_policy_rounds, b->n_policy_rounds);
    return;
  }
  for (int round = 0; round < a->n_policy_rounds; round++) {
    const seal_tensor_set *sa = &a->policy[round], *sb = &b->policy[round];
    if (sa->n != sb->n) differ(r, "policy round_%d: %d vs %d tensors", round, sa->n, sb->n);
    for (int i = 0; i < sa->n; i++) {
      const seal_host_tensor *tb = seal_tensors_find(sb, sa->items[i].name);
      if (!tb)
        differ(r, "policy round_%d %s: only in A", round, sa->items[i].name);
      else
        compare_tensor(&sa->items[i], tb, round, o->policy_tol, r);
    }
  }
  if (a->lora_r != b->lora_r || a->lora_alpha != b->lora_alpha)
    differ(r, "policy LoRA r/alpha: %d/%g vs %d/%g", a->lora_r, a->lora_alpha, b->lora_r,
           b->lora_alpha);
  if (a->opt_step != b->opt_step) differ(r, "optimizer step: %d vs %d", a->opt_step, b->opt_step);
}

static void compare_rounds(const seal_run_state *a, const seal_run_state *b, const cmp_opts *o,
                           cmp_report *r) {
  if (a->n_rounds != b->n_rounds) {
    differ(r, "round table: %d vs %d rows", a->n_rounds, b->n_rounds);
    return;
  }
  for (int i = 0; i < a->n_rounds; i++) {
    const seal_round_record *x = &a->rounds[i], *y = &b->rounds[i];
    if (x->round != y->round || x->contexts != y->contexts || x->kept != y->kept)
      differ(r, "round table row %d: round/contexts/kept %d/%d/%d vs %d/%d/%d", i, x->round,
             x->contexts, x->kept, y->round, y->contexts, y->kept);
    /* An injected fault may lower a round's mean; the items themselves are checked. */
    if (!o->has_fault && !same_double(x->mean_reward, y->mean_reward))
      differ(r, "round %d mean reward: %.17g vs %.17g", x->round, x->mean_reward, y->mean_reward);
  }
}

/* The record of (context, sample, repeat) in records [n]; NULL when absent. Sets *dup
 * when there is more than one. */
static const seal_selfedit_record *find_record(const seal_selfedit_record *records, int n,
                                               const seal_selfedit_record *key, int *dup) {
  const seal_selfedit_record *found = NULL;
  for (int i = 0; i < n; i++) {
    const seal_selfedit_record *x = &records[i];
    if (x->context_id == key->context_id && x->sample == key->sample && x->repeat == key->repeat) {
      if (found) *dup = 1;
      found = x;
    }
  }
  return found;
}

/* A record's label-free signals (docs/labelfree.md): continuous functions of
 * the adapted model, like its losses, so compared within the loss tolerance
 * (the policy of a round after the first may differ in its last bits between
 * rank counts); every other metric exactly. */
static bool is_signal(const char *key) {
  return !strcmp(key, "self_certainty") || !strcmp(key, "entropy") || !strcmp(key, "majority");
}

static bool same_metric(const char *key, const json_t *a, const json_t *b, const cmp_opts *o) {
  if (!is_signal(key) || !json_is_number(a) || !json_is_number(b)) return json_equal(a, b);
  double x = json_number_value(a), y = json_number_value(b);
  return fabs(x - y) <= o->loss_rtol * fmax(fabs(x), fabs(y));
}

static bool same_metrics(const char *a, const char *b, const cmp_opts *o) {
  json_error_t je;
  json_t *x = json_loads(a, 0, &je), *y = json_loads(b, 0, &je);
  bool same = x && y && json_object_size(x) == json_object_size(y);
  const char *key;
  json_t *v;
  if (same)
    json_object_foreach(x, key, v) same = same && same_metric(key, v, json_object_get(y, key), o);
  if (!x || !y) same = !strcmp(a, b);
  json_decref(x), json_decref(y);
  return same;
}

static void compare_record(const seal_selfedit_record *x, const seal_selfedit_record *y, int round,
                           const cmp_opts *o, cmp_report *r) {
  char where[96];
  snprintf(where, sizeof where, "self-edit round %d context %d sample %d repeat %d", round,
           x->context_id, x->sample, x->repeat);
  r->records++;
  if (strcmp(x->text, y->text))
    differ(r, "%s: texts differ: \"%s\" vs \"%s\"", where, x->text, y->text);
  if (is_fault(o, x->context_id, x->sample, x->repeat)) {
    r->faults++;
    if (!(y->reward == 0 && y->ok == 0))
      differ(r, "%s: the injected fault was scored reward %g ok %d, expected reward 0 ok 0", where,
             y->reward, y->ok);
    return;
  }
  if (!same_double(x->reward, y->reward) || x->ok != y->ok)
    differ(r, "%s: reward/ok %.17g/%d vs %.17g/%d", where, x->reward, x->ok, y->reward, y->ok);
  if (!same_double(x->label_reward, y->label_reward) || !same_metrics(x->metrics, y->metrics, o) ||
      x->n_examples != y->n_examples || x->attempts != y->attempts || strcmp(x->reason, y->reason))
    differ(r,
           "%s: label reward/metrics/examples/attempts/reason %g/%s/%d/%d/\"%s\" vs "
           "%g/%s/%d/%d/\"%s\"",
           where, x->label_reward, x->metrics, x->n_examples, x->attempts, x->reason,
           y->label_reward, y->metrics, y->n_examples, y->attempts, y->reason);
}

static void compare_selfedits(const seal_run_state *a, const seal_run_state *b, const cmp_opts *o,
                              cmp_report *r) {
  if (a->n_selfedit_rounds != b->n_selfedit_rounds)
    differ(r, "self-edit rounds: %d vs %d", a->n_selfedit_rounds, b->n_selfedit_rounds);
  int rounds =
      a->n_selfedit_rounds < b->n_selfedit_rounds ? a->n_selfedit_rounds : b->n_selfedit_rounds;
  for (int round = 0; round < rounds; round++) {
    int na = a->n_selfedits[round], nb = b->n_selfedits[round];
    if (na != nb) differ(r, "self-edit round %d: %d vs %d records", round, na, nb);
    for (int i = 0; i < na; i++) {
      const seal_selfedit_record *x = &a->selfedits[round][i];
      int dup_a = 0, dup_b = 0;
      find_record(a->selfedits[round], na, x, &dup_a);
      const seal_selfedit_record *y = find_record(b->selfedits[round], nb, x, &dup_b);
      if (dup_a || dup_b)
        differ(r, "self-edit round %d context %d sample %d repeat %d: recorded twice in %s", round,
               x->context_id, x->sample, x->repeat, dup_a ? "A" : "B");
      if (!y)
        differ(r, "self-edit round %d context %d sample %d repeat %d: only in A", round,
               x->context_id, x->sample, x->repeat);
      else
        compare_record(x, y, round, o, r);
    }
    for (int i = 0; i < nb; i++) {
      int dup = 0;
      if (!find_record(a->selfedits[round], na, &b->selfedits[round][i], &dup))
        differ(r, "self-edit round %d context %d sample %d repeat %d: only in B", round,
               b->selfedits[round][i].context_id, b->selfedits[round][i].sample,
               b->selfedits[round][i].repeat);
    }
  }
}

static void compare_states(const seal_run_state *a, const seal_run_state *b, const cmp_opts *o,
                           cmp_report *r) {
  if (a->run_seed != b->run_seed) differ(r, "run seed differs");
  if (a->round != b->round || strcmp(a->phase, b->phase))
    differ(r, "position: round %d phase %s vs round %d phase %s", a->round, a->phase, b->round,
           b->phase);
  compare_policy(a, b, o, r);
  compare_rounds(a, b, o, r);
  compare_selfedits(a, b, o, r);
}

/* ---- metrics.jsonl "evaluated" events ------------------------------------------------ */

typedef struct {
  int round, context, sample, repeat, ok;
  double reward, f1, first_loss, last_loss; /* NAN when the event has none (failed item) */
} eval_event;

typedef struct {
  eval_event *items; /* [n] unique by (round, context, sample, repeat) */
  int n, cap;
} eval_events;

static double number_or_nan(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static bool same_item(const eval_event *x, const eval_event *y) {
  return x->round == y->round && x->context == y->context && x->sample == y->sample &&
         x->repeat == y->repeat;
}

static eval_event *find_event(const eval_events *ev, const eval_event *key) {
  for (int i = 0; i < ev->n; i++)
    if (same_item(&ev->items[i], key)) return &ev->items[i];
  return NULL;
}

static bool loss_close(double a, double b, double rtol) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
  return fabs(a - b) <= rtol * fmax(fabs(a), fabs(b));
}

/* Differences between two events of the same item. */
static void compare_event(const eval_event *x, const eval_event *y, const char *what,
                          const cmp_opts *o, cmp_report *r) {
  char where[128];
  snprintf(where, sizeof where, "%s round %d context %d sample %d repeat %d", what, x->round,
           x->context, x->sample, x->repeat);
  if (!same_double(x->reward, y->reward) || x->ok != y->ok || !same_double(x->f1, y->f1))
    differ(r, "%s: reward/ok/f1 %.17g/%d/%.17g vs %.17g/%d/%.17g", where, x->reward, x->ok, x->f1,
           y->reward, y->ok, y->f1);
  const double la[2] = {x->first_loss, x->last_loss}, lb[2] = {y->first_loss, y->last_loss};
  for (int k = 0; k < 2; k++) {
    if (!loss_close(la[k], lb[k], o->loss_rtol))
      differ(r, "%s: %s loss %.17g vs %.17g (relative tolerance %.3g)", where, k ? "last" : "first",
             la[k], lb[k], o->loss_rtol);
    else if (isfinite(la[k]) && la[k] != lb[k]) {
      double rd = fabs(la[k] - lb[k]) / fmax(fabs(la[k]), fabs(lb[k]));
      if (rd > r->max_loss_rdiff) r->max_loss_rdiff = rd;
    }
  }
}

/* Reads the "evaluated" events of a metrics file; an item that appears twice must
 * agree with itself (a re-run after a resume computes the same thing). */
static int load_events(const char *path, eval_events *ev, const cmp_opts *o, cmp_report *r,
                       seal_error *e) {
  size_t size;
  char *text = seal_read_file(path, &size, e);
  if (!text) return -1;
  int line_no = 0;
  for (char *line = text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    line_no++;
    if (!*line) continue;
    json_error_t je;
    json_t *o_json = json_loads(line, 0, &je);
    if (!o_json) {
      free(text);
      return seal_errorf(e, "%s:%d: not JSON: %s", path, line_no, je.text);
    }
    const char *event = json_string_value(json_object_get(o_json, "event"));
    if (event && !strcmp(event, "evaluated")) {
      eval_event x = {.round = (int)json_integer_value(json_object_get(o_json, "round")),
                      .context = (int)json_integer_value(json_object_get(o_json, "context")),
                      .sample = (int)json_integer_value(json_object_get(o_json, "sample")),
                      .repeat = (int)json_integer_value(json_object_get(o_json, "repeat")),
                      .ok = (int)json_integer_value(json_object_get(o_json, "ok")),
                      .reward = number_or_nan(o_json, "reward"),
                      .f1 = number_or_nan(o_json, "f1"),
                      .first_loss = number_or_nan(o_json, "first_loss"),
                      .last_loss = number_or_nan(o_json, "last_loss")};
      eval_event *seen = find_event(ev, &x);
      if (seen) {
        compare_event(seen, &x, path, o, r); /* evaluated twice: must agree */
      } else {
        if (ev->n == ev->cap) {
          ev->cap = ev->cap ? 2 * ev->cap : 64;
          ev->items = seal_realloc(ev->items, (size_t)ev->cap * sizeof *ev->items);
        }
        ev->items[ev->n++] = x;
      }
    }
    json_decref(o_json);
  }
  free(text);
  return 0;
}

static void compare_events(const eval_events *a, const eval_events *b, const cmp_opts *o,
                           cmp_report *r) {
  if (a->n == 0) differ(r, "A's metrics have no \"evaluated\" events");
  for (int i = 0; i < a->n; i++) {
    const eval_event *x = &a->items[i], *y = find_event(b, x);
    if (!y) {
      differ(r, "evaluated round %d context %d sample %d repeat %d: only in A's metrics", x->round,
             x->context, x->sample, x->repeat);
      continue;
    }
    r->events++;
    if (is_fault(o, x->context, x->sample, x->repeat)) {
      if (!(y->reward == 0 && y->ok == 0 && isnan(y->last_loss)))
        differ(r,
               "evaluated round %d context %d sample %d repeat %d: the injected fault was "
               "reported as reward %g ok %d",
               x->round, x->context, x->sample, x->repeat, y->reward, y->ok);
      continue;
    }
    compare_event(x, y, "evaluated", o, r);
  }
  for (int i = 0; i < b->n; i++)
    if (!find_event(a, &b->items[i]))
      differ(r, "evaluated round %d context %d sample %d repeat %d: only in B's metrics",
             b->items[i].round, b->items[i].context, b->items[i].sample, b->items[i].repeat);
}

/* Every evaluated record of the checkpoint has an event, and every event a record. */
static void check_events_match_records(const seal_run_state *s, const eval_events *ev,
                                       const char *name, cmp_report *r) {
  int n_records = 0;
  for (int round = 0; round < s->n_selfedit_rounds; round++)
    for (int i = 0; i < s->n_selfedits[round]; i++) {
      const seal_selfedit_record *x = &s->selfedits[round][i];
      if (x->repeat < 0) continue; /* generated, not evaluated */
      n_records++;
      eval_event key = {
          .round = round, .context = x->context_id, .sample = x->sample, .repeat = x->repeat};
      const eval_event *y = find_event(ev, &key);
      if (!y)
        differ(r, "%s: record round %d context %d sample %d repeat %d has no evaluated event", name,
               round, x->context_id, x->sample, x->repeat);
      else if (!same_double(x->reward, y->reward) || x->ok != y->ok)
        differ(r,
               "%s: round %d context %d sample %d repeat %d: checkpoint reward/ok %g/%d, "
               "metrics %g/%d",
               name, round, x->context_id, x->sample, x->repeat, x->reward, x->ok, y->reward,
               y->ok);
    }
  if (n_records != ev->n)
    differ(r, "%s: %d evaluated records in the checkpoint, %d evaluated items in the metrics", name,
           n_records, ev->n);
}

/* ---- two run directories -------------------------------------------------------------- */

typedef struct {
  seal_run_state st;
  eval_events ev;
} run_dir;

static int load_run_dir(const char *dir, run_dir *d, const cmp_opts *o, cmp_report *r,
                        seal_error *e) {
  memset(d, 0, sizeof *d);
  char *ckpt = seal_path_join(dir, "checkpoint.h5");
  char *metrics = seal_path_join(dir, "metrics.jsonl");
  int rc = seal_checkpoint_read(ckpt, &d->st, e);
  if (rc == 0) rc = load_events(metrics, &d->ev, o, r, e);
  free(ckpt);
  free(metrics);
  return rc;
}

static void run_dir_free(run_dir *d) {
  seal_run_state_free(&d->st);
  free(d->ev.items);
  memset(d, 0, sizeof *d);
}

/* Compares run directories a and b into r; -1 (e filled) when one cannot be read. */
static int compare_run_dirs(const char *a, const char *b, const cmp_opts *o, cmp_report *r,
                            seal_error *e) {
  run_dir da, db;
  int rc = load_run_dir(a, &da, o, r, e);
  if (rc == 0) rc = load_run_dir(b, &db, o, r, e);
  if (rc == 0) {
    compare_states(&da.st, &db.st, o, r);
    compare_events(&da.ev, &db.ev, o, r);
    check_events_match_records(&da.st, &da.ev, "A", r);
    check_events_match_records(&db.st, &db.ev, "B", r);
    if (o->has_fault && r->faults == 0)
      differ(r, "no self-edit record context %d sample %d repeat %d to check the fault on",
             o->fault_context, o->fault_sample, o->fault_repeat);
  }
  run_dir_free(&da);
  run_dir_free(&db);
  return rc;
}

static double env_double(const char *name, double fallback) {
  const char *v = getenv(name);
  return v && *v ? atof(v) : fallback;
}

static cmp_opts opts_from_env(void) {
  cmp_opts o = {.policy_tol = env_double("SEAL_COMPARE_POLICY_TOL", 1e-5),
                .loss_rtol = env_double("SEAL_COMPARE_LOSS_RTOL", 1e-6)};
  const char *f = getenv("SEAL_COMPARE_FAULT");
  if (f && *f) {
    ck_assert_msg(sscanf(f, "%d:%d:%d", &o.fault_context, &o.fault_sample, &o.fault_repeat) == 3,
                  "SEAL_COMPARE_FAULT=%s: expected context:sample:repeat", f);
    o.has_fault = 1;
  }
  return o;
}

START_TEST(run_compare_e2e) {
  const char *a = getenv("SEAL_COMPARE_A"), *b = getenv("SEAL_COMPARE_B");
  if (!a || !*a || !b || !*b) {
    printf(
        "run_compare_e2e: skipped (SEAL_COMPARE_A/SEAL_COMPARE_B not set; the "
        "tests/e2e/seal_*.sh scripts set them)\n");
    return;
  }
  cmp_opts o = opts_from_env();
  cmp_report r = {0};
  seal_error e = {{0}};
  int rc = compare_run_dirs(a, b, &o, &r, &e);
  ck_assert_msg(rc == 0, "%s", e.msg);
  const char *text = report_text(&r);
  if (r.n) fprintf(stderr, "run_compare: %s vs %s: %d difference(s):\n%s", a, b, r.n, text);
  printf(
      "run_compare: %s vs %s: %d policy tensors (max |diff| %.3g, %.3g of the tensor's "
      "largest value), %d self-edit records, %d evaluated items (max loss relative diff "
      "%.3g), %d fault record(s): %d difference(s)\n",
      a, b, r.tensors, r.max_policy_diff, r.max_policy_rdiff, r.records, r.events, r.max_loss_rdiff,
      r.faults, r.n);
  ck_assert_msg(r.n == 0, "%d difference(s) between %s and %s:\n%s", r.n, a, b, text);
  ck_assert_msg(r.tensors > 0 && r.records > 0 && r.events > 0,
                "nothing was compared: %d tensors, %d records, %d events", r.tensors, r.records,
                r.events);
  report_free(&r);
}
END_TEST

/* ---- the comparison itself, on made-up runs ---------------------------------------------- */

static char tmpdir[64];

static void make_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/seal-run-compare-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) {
  const char *runs[] = {"a", "b"};
  const char *files[] = {"checkpoint.h5", "checkpoint.h5.prev", "checkpoint.h5.tmp",
                         "metrics.jsonl"};
  for (int i = 0; i < 2; i++) {
    char p[256];
    for (int k = 0; k < 4; k++) {
      snprintf(p, sizeof p, "%s/%s/%s", tmpdir, runs[i], files[k]);
      unlink(p);
    }
    snprintf(p, sizeof p, "%s/%s", tmpdir, runs[i]);
    rmdir(p);
  }
  rmdir(tmpdir);
}

/* A finished 2-round run: policy tensors, rounds, generated and evaluated records. */
static void make_run(seal_run_state *s) {
  seal_run_state_init(s);
  s->run_seed = 7;
  s->round = 2;
  snprintf(s->phase, sizeof s->phase, "done");
  s->lora_r = 2, s->lora_alpha = 4;
  seal_rng rng;
  seal_rng_seed(&rng, 11);
  for (int round = 0; round < 2; round++) {
    seal_tensor_set set = {0};
    const char *names[2] = {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                            "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"};
    const int64_t shapes[2][2] = {{2, 8}, {8, 2}};
    for (int t = 0; t < 2; t++) {
      float *d = seal_malloc(16 * sizeof(float)); /* [2, 8] or [8, 2] */
      for (int i = 0; i < 16; i++) d[i] = (float)(seal_rng_uniform(&rng) - 0.5);
      seal_tensors_add(&set, names[t], 2, shapes[t], d);
    }
    seal_run_state_set_policy(s, round, &set);
    seal_run_state_put_round(s, &(seal_round_record){round, 2, 0.25, 2, NAN, 1.5});
    for (int c = 0; c < 2; c++)
      for (int smp = 0; smp < 2; smp++) {
        char text[64];
        snprintf(text, sizeof text, "self-edit %d of context %d in round %d", smp, c, round);
        seal_run_state_add_selfedit(s, round,
                                    &(seal_selfedit_record){.context_id = c,
                                                            .sample = smp,
                                                            .repeat = -1,
                                                            .reward = NAN,
                                                            .label_reward = NAN,
                                                            .ok = 1,
                                                            .attempts = 1,
                                                            .text = text});
        for (int rep = 0; rep < 2; rep++) {
          double reward = (c + smp + rep + round) % 4 == 0 ? 0.5 : 0.0;
          char metrics[128];
          snprintf(metrics, sizeof metrics,
                   "{\"em\":0,\"f1\":%g,\"self_certainty\":0.%d25,\"entropy\":6.5,"
                   "\"majority\":null}",
                   reward, 1 + c + smp + rep);
          seal_run_state_add_selfedit(s, round,
                                      &(seal_selfedit_record){.context_id = c,
                                                              .sample = smp,
                                                              .repeat = rep,
                                                              .reward = reward,
                                                              .label_reward = reward,
                                                              .n_examples = 2,
                                                              .ok = 1,
                                                              .attempts = 1,
                                                              .metrics = metrics,
                                                              .text = text});
        }
      }
  }
  s->opt_step = 4;
}

/* The metrics a run of make_run would have written: one evaluated event per record. */
static char *metrics_of(const seal_run_state *s) {
  seal_buf b = {0};
  seal_buf_puts(&b, "{\"event\":\"generated\",\"round\":0,\"context\":0,\"samples\":2}\n");
  for (int round = 0; round < s->n_selfedit_rounds; round++)
    for (int i = 0; i < s->n_selfedits[round]; i++) {
      const seal_selfedit_record *x = &s->selfedits[round][i];
      if (x->repeat < 0) continue;
      double loss = 6.0 - 0.01 * (x->context_id + 2 * x->sample + 4 * x->repeat);
      seal_buf_printf(&b,
                      "{\"event\":\"evaluated\",\"round\":%d,\"context\":%d,\"sample\":%d,"
                      "\"repeat\":%d,\"reward\":%.17g,\"ok\":%d,\"f1\":%.17g,"
                      "\"first_loss\":6.5,\"last_loss\":%.17g}\n",
                      round, x->context_id, x->sample, x->repeat, x->reward, x->ok, x->reward,
                      loss);
    }
  return seal_buf_take(&b);
}

static void write_run(const char *name, const seal_run_state *s, const char *metrics) {
  char dir[128], path[192];
  snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
  seal_error e = {{0}};
  ck_assert_msg(seal_mkdirs(dir, &e) == 0, "%s", e.msg);
  snprintf(path, sizeof path, "%s/checkpoint.h5", dir);
  ck_assert_msg(seal_checkpoint_write(path, s, &e) == 0, "%s", e.msg);
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  ck_assert_msg(seal_write_file_atomic(path, metrics, strlen(metrics), false, &e) == 0, "%s",
                e.msg);
}

static const cmp_opts default_opts = {.policy_tol = 1e-5, .loss_rtol = 1e-6};

/* Writes a and b as run directories and compares them; returns the differences and
 * leaves the report's text in *why (caller frees). */
static int diffs_between(const seal_run_state *a, const char *ma, const seal_run_state *b,
                         const char *mb, const cmp_opts *o, char **why) {
  make_tmpdir();
  write_run("a", a, ma);
  write_run("b", b, mb);
  char da[128], db[128];
  snprintf(da, sizeof da, "%s/a", tmpdir);
  snprintf(db, sizeof db, "%s/b", tmpdir);
  cmp_report r = {0};
  seal_error e = {{0}};
  ck_assert_msg(compare_run_dirs(da, db, o, &r, &e) == 0, "%s", e.msg);
  remove_tmpdir();
  *why = seal_strdup(report_text(&r));
  report_free(&r);
  return r.n;
}

/* Counts the differences after `mutate` changes a copy of a finished run (state and
 * metrics text), and checks that the report mentions `expect`. */
static void expect_caught(void (*mutate)(seal_run_state *, char **), const cmp_opts *o,
                          const char *expect) {
  seal_run_state a, b;
  make_run(&a);
  make_run(&b);
  char *ma = metrics_of(&a), *mb = metrics_of(&b);
  mutate(&b, &mb);
  char *why;
  int n = diffs_between(&a, ma, &b, mb, o, &why);
  ck_assert_msg(n > 0, "the change (%s) went unnoticed", expect);
  ck_assert_msg(strstr(why, expect), "report lacks \"%s\":\n%s", expect, why);
  free(why);
  free(ma);
  free(mb);
  seal_run_state_free(&a);
  seal_run_state_free(&b);
}

START_TEST(run_compare_equal_runs_pass) {
  seal_run_state a, b;
  make_run(&a);
  make_run(&b);
  /* Within tolerance: a policy value moved by 1e-7, a loss and a label-free
   * signal by 1e-8 relative. */
  b.policy[1].items[0].data[3] *= 1.0f + 1e-7f;
  seal_run_state_set_string(&b.selfedits[1][2].metrics,
                            "{\"em\":0,\"f1\":0,\"self_certainty\":0.12500000125,"
                            "\"entropy\":6.5,\"majority\":null}");
  seal_run_state_set_string(&a.selfedits[1][2].metrics,
                            "{\"em\":0,\"f1\":0,\"self_certainty\":0.125,"
                            "\"entropy\":6.5,\"majority\":null}");
  char *ma = metrics_of(&a), *mb = metrics_of(&b);
  char *p = strstr(mb, "\"last_loss\":");
  ck_assert_ptr_nonnull(p);
  double loss = atof(p + strlen("\"last_loss\":"));
  char *tail = strchr(p, '}');
  seal_buf m = {0};
  seal_buf_append(&m, mb, (size_t)(p - mb));
  seal_buf_printf(&m, "\"last_loss\":%.17g", loss * (1 + 1e-8));
  seal_buf_puts(&m, tail);
  free(mb);
  mb = seal_buf_take(&m);
  char *why;
  ck_assert_msg(diffs_between(&a, ma, &b, mb, &default_opts, &why) == 0, "%s", why);
  free(why);
  free(ma);
  free(mb);
  seal_run_state_free(&a);
  seal_run_state_free(&b);
}
END_TEST

static void change_policy(seal_run_state *s, char **m) {
  (void)m;
  s->policy[1].items[1].data[5] += 1e-3f;
}
static void change_text(seal_run_state *s, char **m) {
  (void)m;
  seal_run_state_set_string(&s->selfedits[0][3].text, "another self-edit");
}
static void change_reward(seal_run_state *s, char **m) {
  (void)m;
  s->selfedits[1][2].reward = 1.0;
}
static void drop_record(seal_run_state *s, char **m) {
  (void)m;
  seal_selfedit_record_free(&s->selfedits[1][5]);
  s->n_selfedits[1]--;
  s->selfedits[1][5] = s->selfedits[1][s->n_selfedits[1]];
}
static void change_loss(seal_run_state *s, char **m) {
  (void)s;
  char *p = strstr(*m, "\"last_loss\":5.99"); /* context 1 sample 0 repeat 0 of round 0 */
  ck_assert_ptr_nonnull(p);
  p[strlen("\"last_loss\":5.99")] = '7'; /* 5.99 -> 5.997: 1e-3 relative */
}
static void drop_event(seal_run_state *s, char **m) {
  (void)s;
  char *last = strrchr(*m, '{');
  *last = '\0';
}
static void change_task_metric(seal_run_state *s, char **m) {
  (void)m;
  seal_run_state_set_string(&s->selfedits[1][2].metrics,
                            "{\"em\":1,\"f1\":0,\"self_certainty\":0.225,"
                            "\"entropy\":6.5,\"majority\":null}");
}
static void change_signal(seal_run_state *s, char **m) {
  (void)m;
  seal_run_state_set_string(&s->selfedits[1][2].metrics,
                            "{\"em\":0,\"f1\":0,\"self_certainty\":0.2251,"
                            "\"entropy\":6.5,\"majority\":null}");
}
static void change_position(seal_run_state *s, char **m) {
  (void)m;
  snprintf(s->phase, sizeof s->phase, "evaluate");
}

START_TEST(run_compare_catches_each_difference) {
  expect_caught(change_policy, &default_opts, "lora_B.weight[5]");
  expect_caught(change_text, &default_opts, "texts differ");
  expect_caught(change_reward, &default_opts, "reward/ok");
  expect_caught(drop_record, &default_opts, "only in A");
  expect_caught(change_loss, &default_opts, "last loss");
  expect_caught(change_task_metric, &default_opts, "\"em\":1");
  expect_caught(change_signal, &default_opts, "\"self_certainty\":0.2251");
  expect_caught(drop_event, &default_opts, "only in A's metrics");
  expect_caught(change_position, &default_opts, "phase done vs round 2 phase evaluate");
}
END_TEST

/* Run B failed (context 1, sample 1, repeat 1) in every round: scored 0, ok 0. */
static void inject_fault(seal_run_state *s, char **m) {
  for (int round = 0; round < s->n_selfedit_rounds; round++)
    for (int i = 0; i < s->n_selfedits[round]; i++) {
      seal_selfedit_record *x = &s->selfedits[round][i];
      if (x->context_id == 1 && x->sample == 1 && x->repeat == 1) {
        x->reward = 0, x->ok = 0, x->label_reward = NAN, x->n_examples = 0;
        seal_run_state_set_string(&x->metrics, "{\"em\":0,\"f1\":0}");
        seal_run_state_set_string(&x->reason, "the evaluation failed: injected fault");
      }
    }
  free(*m);
  *m = metrics_of(s);
  /* A failed item's event carries no losses. */
  seal_buf b = {0};
  for (char *line = strtok(*m, "\n"); line; line = strtok(NULL, "\n")) {
    if (strstr(line, "\"context\":1,\"sample\":1,\"repeat\":1,"))
      *strstr(line, ",\"first_loss\"") = '\0', seal_buf_printf(&b, "%s}\n", line);
    else
      seal_buf_printf(&b, "%s\n", line);
  }
  free(*m);
  *m = seal_buf_take(&b);
}

static void inject_fault_scored_wrongly(seal_run_state *s, char **m) {
  inject_fault(s, m);
  s->selfedits[0][11].ok = 1; /* context 1 sample 1 repeat 1 of round 0 */
}

START_TEST(run_compare_injected_fault) {
  cmp_opts o = default_opts;
  o.has_fault = 1, o.fault_context = 1, o.fault_sample = 1, o.fault_repeat = 1;
  seal_run_state a, b;
  make_run(&a);
  make_run(&b);
  /* Context 1 sample 1 repeat 1 scored 0 in round 0 and 0.5 in round 1 (make_run):
   * the fault makes it 0 and ok 0 in both, and that alone is allowed to differ. */
  ck_assert_int_eq(a.selfedits[0][11].context_id, 1);
  ck_assert_int_eq(a.selfedits[0][11].sample, 1);
  ck_assert_int_eq(a.selfedits[0][11].repeat, 1);
  ck_assert(a.selfedits[1][11].reward == 0.5);
  char *ma = metrics_of(&a), *mb = metrics_of(&b);
  inject_fault(&b, &mb);
  char *why;
  ck_assert_msg(diffs_between(&a, ma, &b, mb, &o, &why) == 0, "%s", why);
  free(why);
  /* Without the option the fault is a difference. */
  ck_assert_int_gt(diffs_between(&a, ma, &b, mb, &default_opts, &why), 0);
  free(why);
  free(ma);
  free(mb);
  seal_run_state_free(&a);
  seal_run_state_free(&b);
  expect_caught(inject_fault_scored_wrongly, &o, "expected reward 0 ok 0");
  expect_caught(change_text, &o, "texts differ");
}
END_TEST

Suite *run_compare_suite(void) {
  Suite *s = suite_create("run_compare");
  TCase *tc = tcase_create("compare");
  tcase_add_test(tc, run_compare_equal_runs_pass);
  tcase_add_test(tc, run_compare_catches_each_difference);
  tcase_add_test(tc, run_compare_injected_fault);
  suite_add_tcase(s, tc);
  TCase *e2e = tcase_create("e2e");
  tcase_add_test(e2e, run_compare_e2e);
  suite_add_tcase(s, e2e);
  return s;
}
