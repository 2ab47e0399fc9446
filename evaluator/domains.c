/* evaluator/domains.c — the registry of task domains (the job's `task:`
 * values) and what every domain shares: freeing plans, queries and grades. */
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc_domain.h"
#include "evaluator/domain.h"
#include "evaluator/knowledge_domain.h"

/* A new domain is one line here (and its files); the first is the default task. */
const seal_domain_ops *const seal_domains[] = {
    &seal_knowledge_domain,
    &seal_arc_domain,
    NULL,
};

const seal_domain_ops *seal_domain_find(const char *name) {
  for (int i = 0; seal_domains[i]; i++)
    if (!strcmp(seal_domains[i]->name, name)) return seal_domains[i];
  return NULL;
}

const char *seal_split_name(seal_split s) { return s == SEAL_SPLIT_TRAIN ? "train" : "eval"; }

int seal_domain_open(seal_domain *d, const seal_domain_ops *ops, const void *settings,
                     const char *device, seal_error *e) {
  memset(d, 0, sizeof *d);
  d->ops = ops;
  d->settings = settings;
  return ops->open(d, settings, device, e);
}

void seal_domain_close(seal_domain *d) {
  if (d->ops) d->ops->close(d);
  memset(d, 0, sizeof *d);
}

void seal_inner_plan_free(seal_inner_plan *p) {
  for (int i = 0; i < p->n_ex; i++) {
    free(p->ex[i].ids);
    free(p->ex[i].text);
    free(p->ex[i].detail_json);
  }
  free(p->ex);
  memset(p, 0, sizeof *p);
}

void seal_queries_free(seal_query *q, int n) {
  for (int i = 0; i < n; i++) {
    free(q[i].prompt);
    free(q[i].detail_json);
  }
  free(q);
}

void seal_grade_free(seal_grade *g) {
  free(g->detail_json);
  memset(g, 0, sizeof *g);
}
