/* trainer/labelfree_report.c — label-free rewards against the labels, from a
 * round's self-edit records. */
#include "trainer/labelfree_report.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "evaluator/labelfree.h"
#include "trainer/labelfree_reward.h"
#include "trainer/metrics.h"

static const char *const signal_names[SEAL_N_SIGNALS] = {"self-certainty", "entropy", "majority"};

const char *seal_signal_name(seal_signal s) { return signal_names[s]; }

/* A record's signal in reward orientation, NAN when it was not recorded. */
static double signal_of(const seal_selfedit_record *r, seal_signal s) {
  json_error_t je;
  json_t *o = r->metrics ? json_loads(r->metrics, 0, &je) : NULL;
  seal_labelfree_signals sig = o ? seal_labelfree_signals_of(o) : seal_labelfree_none();
  json_decref(o);
  return s == SEAL_SIGNAL_SELF_CERTAINTY ? sig.self_certainty
         : s == SEAL_SIGNAL_ENTROPY      ? -sig.entropy
                                         : sig.majority;
}

/* A round's scored records, laid out for the measures. */
typedef struct {
  int n;                         /* scored records */
  double *label, *sig;           /* [n] their labelled reward and signal */
  int n_ctx, k, repeats;         /* contexts with a scored record */
  double *grid_label, *grid_sig; /* [n_ctx][k][repeats], NAN where missing */
} round_table;

static int scored(const seal_selfedit_record *r, int k, int repeats) {
  return r->repeat >= 0 && r->repeat < repeats && r->sample >= 0 && r->sample < k;
}

/* The contexts of the round's scored records, ascending, into ctx; returns their count. */
static int round_contexts(const seal_run_state *st, int round, int k, int repeats, int *ctx) {
  int n = 0;
  for (int i = 0; i < st->n_selfedits[round]; i++) {
    const seal_selfedit_record *r = &st->selfedits[round][i];
    if (!scored(r, k, repeats)) continue;
    int at = 0;
    while (at < n && ctx[at] < r->context_id) at++;
    if (at < n && ctx[at] == r->context_id) continue;
    for (int j = n; j > at; j--) ctx[j] = ctx[j - 1];
    ctx[at] = r->context_id, n++;
  }
  return n;
}

static void table_fill(const seal_run_state *st, int round, int k, int repeats, seal_signal s,
                       round_table *t) {
  int total = st->n_selfedits[round];
  int *ctx = seal_malloc((size_t)(total ? total : 1) * sizeof(int));
  *t = (round_table){.k = k, .repeats = repeats};
  t->n_ctx = round_contexts(st, round, k, repeats, ctx);
  size_t cells = (size_t)(t->n_ctx ? t->n_ctx : 1) * k * repeats;
  t->label = seal_malloc((size_t)(total ? total : 1) * sizeof(double));
  t->sig = seal_malloc((size_t)(total ? total : 1) * sizeof(double));
  t->grid_label = seal_malloc(cells * sizeof(double));
  t->grid_sig = seal_malloc(cells * sizeof(double));
  for (size_t c = 0; c < cells; c++) t->grid_label[c] = t->grid_sig[c] = NAN;
  for (int i = 0; i < total; i++) {
    const seal_selfedit_record *r = &st->selfedits[round][i];
    if (!scored(r, k, repeats)) continue;
    int c = 0;
    while (ctx[c] != r->context_id) c++;
    size_t cell = ((size_t)c * k + r->sample) * repeats + r->repeat;
    t->label[t->n] = t->grid_label[cell] = r->label_reward;
    t->sig[t->n] = t->grid_sig[cell] = signal_of(r, s);
    t->n++;
  }
  free(ctx);
}

static void table_free(round_table *t) {
  free(t->label), free(t->sig), free(t->grid_label), free(t->grid_sig);
}

/* Row of signal s; false when the round recorded no finite value of it. */
static bool report_signal(const seal_run_state *st, int round, int k, int repeats, seal_signal s,
                          seal_labelfree_row *row) {
  round_table t;
  table_fill(st, round, k, repeats, s, &t);
  int pairs = 0, any = 0;
  for (int i = 0; i < t.n; i++) {
    any += isfinite(t.sig[i]);
    pairs += isfinite(t.sig[i]) && isfinite(t.label[i]);
  }
  if (any) {
    *row =
        (seal_labelfree_row){.round = round, .signal = s, .n_pairs = pairs, .n_contexts = t.n_ctx};
    row->spearman = seal_spearman(t.sig, t.label, t.n);
    row->kendall = seal_kendall_tau_b(t.sig, t.label, t.n);
    row->agreement =
        seal_choice_agreement(t.grid_sig, t.grid_label, t.n_ctx, k, repeats, &row->label_of_choice);
    seal_choice_agreement(t.grid_label, t.grid_label, t.n_ctx, k, repeats, &row->label_of_best);
  }
  table_free(&t);
  return any > 0;
}

int seal_labelfree_report(const seal_run_state *st, int round, int k, int repeats,
                          seal_labelfree_row *rows) {
  if (round < 0 || round >= st->n_selfedit_rounds) return 0;
  int n = 0;
  for (int s = 0; s < SEAL_N_SIGNALS; s++)
    n += report_signal(st, round, k, repeats, (seal_signal)s, &rows[n]);
  return n;
}

char *seal_labelfree_rows_json(const seal_labelfree_row *rows, int n) {
  json_t *arr = json_array();
  for (int i = 0; i < n; i++) {
    const seal_labelfree_row *r = &rows[i];
    json_array_append_new(
        arr, json_pack("{s:i,s:s,s:i,s:o,s:o,s:i,s:o,s:o,s:o}", "round", r->round, "signal",
                       seal_signal_name(r->signal), "pairs", r->n_pairs, "spearman",
                       seal_json_real(r->spearman), "kendall", seal_json_real(r->kendall),
                       "contexts", r->n_contexts, "choice_agreement", seal_json_real(r->agreement),
                       "label_of_choice", seal_json_real(r->label_of_choice), "label_of_best",
                       seal_json_real(r->label_of_best)));
  }
  char *s = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(17));
  json_decref(arr);
  return s;
}

void seal_labelfree_attach(const seal_run_state *st, int k, int repeats, seal_eval_row *rows,
                           int n) {
  for (int i = 0; i < n; i++) {
    seal_labelfree_row lf[SEAL_N_SIGNALS];
    int m = seal_labelfree_report(st, rows[i].policy_round, k, repeats, lf);
    if (m > 0) rows[i].labelfree = seal_labelfree_rows_json(lf, m);
  }
}

void seal_labelfree_print(FILE *f, const seal_run_state *st, int k, int repeats) {
  bool header = false;
  for (int round = 0; round < st->n_selfedit_rounds; round++) {
    seal_labelfree_row rows[SEAL_N_SIGNALS];
    int n = seal_labelfree_report(st, round, k, repeats, rows);
    for (int i = 0; i < n; i++) {
      if (!header) {
        fprintf(f, "\nlabel-free rewards against the labelled reward (training self-edits)\n");
        fprintf(f, "%-6s %-15s %6s %9s %8s %9s %10s %10s\n", "round", "signal", "pairs", "spearman",
                "kendall", "agreement", "label@free", "label@best");
        header = true;
      }
      const seal_labelfree_row *r = &rows[i];
      fprintf(f, "%-6d %-15s %6d %9.3f %8.3f %8.1f%% %10.3f %10.3f\n", r->round,
              seal_signal_name(r->signal), r->n_pairs, r->spearman, r->kendall, 100 * r->agreement,
              r->label_of_choice, r->label_of_best);
    }
  }
}
