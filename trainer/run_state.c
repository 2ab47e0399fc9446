/* trainer/run_state.c — the in-memory run state: init, free, and the appends the
 * outer loop makes as results arrive. */
#include "trainer/run_state.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void seal_utc_now(char out[40]) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void seal_run_state_init(seal_run_state *s) {
  memset(s, 0, sizeof *s);
  s->world_size = 1;
  snprintf(s->phase, sizeof s->phase, "init");
  seal_utc_now(s->created);
}

void seal_run_state_free(seal_run_state *s) {
  free(s->job_yaml);
  free(s->base_path);
  free(s->teacher.path);
  for (int r = 0; r < s->n_policy_rounds; r++) seal_tensors_free(&s->policy[r]);
  free(s->policy);
  seal_tensors_free(&s->opt_m);
  seal_tensors_free(&s->opt_v);
  free(s->rng);
  free(s->rounds);
  for (int r = 0; r < s->n_selfedit_rounds; r++) {
    for (int i = 0; i < s->n_selfedits[r]; i++) seal_selfedit_record_free(&s->selfedits[r][i]);
    free(s->selfedits[r]);
  }
  free(s->selfedits);
  free(s->n_selfedits);
  free(s->cap_selfedits);
  memset(s, 0, sizeof *s);
}

void seal_run_state_set_string(char **field, const char *v) {
  free(*field);
  *field = v ? seal_strdup(v) : NULL;
}

/* Grows an array of `size`-byte elements so that it holds at least `need`. */
static void *grow(void *p, int *cap, int need, size_t size) {
  if (need <= *cap) return p;
  int c = *cap ? *cap : 8;
  while (c < need) c *= 2;
  p = seal_realloc(p, (size_t)c * size);
  *cap = c;
  return p;
}

/* Makes rounds 0..round of the self-edit arrays exist. */
static void ensure_selfedit_round(seal_run_state *s, int round) {
  if (round < s->n_selfedit_rounds) return;
  int n = round + 1;
  s->selfedits = seal_realloc(s->selfedits, (size_t)n * sizeof *s->selfedits);
  s->n_selfedits = seal_realloc(s->n_selfedits, (size_t)n * sizeof *s->n_selfedits);
  s->cap_selfedits = seal_realloc(s->cap_selfedits, (size_t)n * sizeof *s->cap_selfedits);
  for (int r = s->n_selfedit_rounds; r < n; r++) {
    s->selfedits[r] = NULL;
    s->n_selfedits[r] = 0;
    s->cap_selfedits[r] = 0;
  }
  s->n_selfedit_rounds = n;
}

void seal_selfedit_record_free(seal_selfedit_record *r) {
  free(r->reason);
  free(r->metrics);
  free(r->text);
  r->reason = r->metrics = r->text = NULL;
}

seal_selfedit_record *seal_run_state_add_selfedit(seal_run_state *s, int round,
                                                  const seal_selfedit_record *rec) {
  SEAL_CHECK(round >= 0, "self-edit round %d is negative", round);
  ensure_selfedit_round(s, round);
  int n = s->n_selfedits[round];
  s->selfedits[round] =
      grow(s->selfedits[round], &s->cap_selfedits[round], n + 1, sizeof(seal_selfedit_record));
  seal_selfedit_record *d = &s->selfedits[round][n];
  *d = *rec;
  d->reason = seal_strdup(rec->reason ? rec->reason : "");
  d->metrics = seal_strdup(rec->metrics ? rec->metrics : "{}");
  d->text = seal_strdup(rec->text ? rec->text : "");
  s->n_selfedits[round] = n + 1;
  return d;
}

seal_round_record *seal_run_state_put_round(seal_run_state *s, const seal_round_record *rec) {
  int at = 0;
  while (at < s->n_rounds && s->rounds[at].round < rec->round) at++;
  if (at < s->n_rounds && s->rounds[at].round == rec->round) {
    s->rounds[at] = *rec;
    return &s->rounds[at];
  }
  s->rounds = grow(s->rounds, &s->cap_rounds, s->n_rounds + 1, sizeof *s->rounds);
  memmove(&s->rounds[at + 1], &s->rounds[at], (size_t)(s->n_rounds - at) * sizeof *s->rounds);
  s->rounds[at] = *rec;
  s->n_rounds++;
  return &s->rounds[at];
}

void seal_run_state_set_policy(seal_run_state *s, int round, seal_tensor_set *tensors) {
  SEAL_CHECK(round >= 0, "policy round %d is negative", round);
  if (round >= s->n_policy_rounds) {
    s->policy = seal_realloc(s->policy, (size_t)(round + 1) * sizeof *s->policy);
    for (int r = s->n_policy_rounds; r <= round; r++) memset(&s->policy[r], 0, sizeof *s->policy);
    s->n_policy_rounds = round + 1;
  }
  seal_tensors_free(&s->policy[round]);
  s->policy[round] = *tensors;
  memset(tensors, 0, sizeof *tensors);
}

seal_rng_record *seal_run_state_put_rng(seal_run_state *s, const char *name, const uint64_t st[4]) {
  SEAL_CHECK(strlen(name) < sizeof s->rng->name, "rng stream name '%s' is too long", name);
  seal_rng_record *d = (seal_rng_record *)seal_run_state_find_rng(s, name);
  if (!d) {
    s->rng = grow(s->rng, &s->cap_rng, s->n_rng + 1, sizeof *s->rng);
    d = &s->rng[s->n_rng++];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
  }
  memcpy(d->s, st, sizeof d->s);
  return d;
}

const seal_rng_record *seal_run_state_find_rng(const seal_run_state *s, const char *name) {
  for (int i = 0; i < s->n_rng; i++)
    if (!strcmp(s->rng[i].name, name)) return &s->rng[i];
  return NULL;
}

void seal_run_state_model(const seal_run_state *s, seal_model_record *out) {
  *out = (seal_model_record){.path = s->base_path,
                             .hidden = s->hidden,
                             .n_layers = s->n_layers,
                             .n_heads = s->n_heads,
                             .n_kv_heads = s->n_kv_heads,
                             .vocab_size = s->vocab_size,
                             .intermediate = s->intermediate};
  snprintf(out->architecture, sizeof out->architecture, "%s", s->architecture);
  snprintf(out->files_fnv1a, sizeof out->files_fnv1a, "%s", s->model_fnv1a);
  snprintf(out->device, sizeof out->device, "%s", s->model_device);
}

void seal_run_state_set_model(seal_run_state *s, const seal_model_record *m) {
  seal_run_state_set_string(&s->base_path, m->path);
  snprintf(s->architecture, sizeof s->architecture, "%s", m->architecture);
  s->hidden = m->hidden;
  s->n_layers = m->n_layers;
  s->n_heads = m->n_heads;
  s->n_kv_heads = m->n_kv_heads;
  s->vocab_size = m->vocab_size;
  s->intermediate = m->intermediate;
  snprintf(s->model_fnv1a, sizeof s->model_fnv1a, "%s", m->files_fnv1a);
  snprintf(s->model_device, sizeof s->model_device, "%s", m->device);
}

void seal_run_state_policy_model(const seal_run_state *s, seal_model_record *out) {
  if (s->has_teacher)
    *out = s->teacher;
  else
    seal_run_state_model(s, out);
}
