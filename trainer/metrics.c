/* trainer/metrics.c — JSON-lines metrics and their SVG plot. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/metrics.h"

int seal_metrics_open(seal_metrics *m, const char *path, seal_error *e) {
  m->t0 = seal_now();
  m->f = fopen(path, "a");
  if (!m->f) return seal_errorf(e, "%s: cannot open for appending", path);
  return 0;
}

void seal_metrics_rotate(seal_metrics *m, const char *path) {
  seal_metrics_close(m);
  char *prev = seal_asprintf("%s.prev", path);
  if (rename(path, prev) != 0) seal_warn("cannot keep %s as %s", path, prev);
  free(prev);
  seal_error e;
  if (seal_metrics_open(m, path, &e)) seal_warn("%s", e.msg);
}

void seal_metrics_close(seal_metrics *m) {
  if (m->f) fclose(m->f);
  m->f = NULL;
}

json_t *seal_json_real(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *seal_metrics_by_name(const seal_domain_ops *ops, const double *metric) {
  json_t *o = json_object();
  for (int m = 0; m < ops->n_metrics; m++)
    json_object_set_new(o, ops->metric_names[m], seal_json_real(metric[m]));
  return o;
}

void seal_metrics_emit(seal_metrics *m, const char *event, json_t *obj) {
  if (!obj) {
    /* json_pack refused its arguments: say so rather than write an empty event */
    seal_warn("metrics: could not encode the '%s' event", event);
    return;
  }
  if (!m->f) {
    json_decref(obj);
    return;
  }
  json_t *line = json_object();
  json_object_set_new(line, "event", json_string(event));
  json_object_set_new(line, "time", json_real(seal_now() - m->t0));
  json_object_update(line, obj);
  json_decref(obj);
  char *s = json_dumps(line, JSON_COMPACT);
  fprintf(m->f, "%s\n", s);
  fflush(m->f);
  free(s);
  json_decref(line);
}

typedef struct {
  double x[256], y[256];
  int n;
} series;

static void series_put(series *s, double x, double y) {
  if (s->n < 256 && isfinite(y)) s->x[s->n] = x, s->y[s->n] = y, s->n++;
}

/* Reads round rewards and eval accuracies out of the metrics file. */
static int read_series(const char *path, series *reward, series *accuracy, seal_error *e) {
  FILE *f = fopen(path, "r");
  if (!f) return seal_errorf(e, "%s: cannot open", path);
  char line[1 << 16];
  int lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    if (!o) continue; /* a line cut short by a crash: skip it */
    const char *ev = json_string_value(json_object_get(o, "event"));
    double round = json_number_value(json_object_get(o, "round"));
    if (ev && !strcmp(ev, "round"))
      series_put(reward, round, json_number_value(json_object_get(o, "mean_reward")));
    if (ev && !strcmp(ev, "eval")) {
      const char *cond = json_string_value(json_object_get(o, "condition"));
      if (cond && !strncmp(cond, "seal-round-", 11))
        series_put(accuracy, atof(cond + 11), json_number_value(json_object_get(o, "accuracy")));
    }
    json_decref(o);
  }
  fclose(f);
  (void)lineno;
  return 0;
}

static void svg_series(FILE *f, const series *s, double xmax, const char *color, int W, int H,
                       int pad) {
  if (s->n == 0) return;
  fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
  for (int i = 0; i < s->n; i++)
    fprintf(f, "%.1f,%.1f ", pad + (W - 2 * pad) * s->x[i] / xmax,
            H - pad - (H - 2 * pad) * s->y[i]);
  fprintf(f, "\"/>\n");
  for (int i = 0; i < s->n; i++)
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n",
            pad + (W - 2 * pad) * s->x[i] / xmax, H - pad - (H - 2 * pad) * s->y[i], color);
}

int seal_metrics_plot(const char *metrics_path, const char *svg_path, seal_error *e) {
  series reward = {0}, accuracy = {0};
  if (read_series(metrics_path, &reward, &accuracy, e)) return -1;
  double xmax = 1;
  for (int i = 0; i < reward.n; i++) xmax = fmax(xmax, reward.x[i]);
  for (int i = 0; i < accuracy.n; i++) xmax = fmax(xmax, accuracy.x[i]);
  const int W = 640, H = 400, pad = 50;
  FILE *f = fopen(svg_path, "w");
  if (!f) return seal_errorf(e, "%s: cannot create", svg_path);
  fprintf(f,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
          "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" "
          "height=\"100%%\" fill=\"white\"/>\n",
          W, H);
  for (int i = 0; i <= 4; i++) {
    double y = H - pad - (H - 2 * pad) * i / 4.0;
    fprintf(f,
            "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
            "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
            pad, y, W - pad, y, pad - 6, y + 4, i / 4.0);
  }
  for (int r = 0; r <= (int)xmax; r++) {
    double x = pad + (W - 2 * pad) * r / xmax;
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", x, H - pad + 18, r);
  }
  fprintf(f,
          "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">round (reward: mean self-edit reward "
          "during round r; accuracy: after r rounds)</text>\n",
          W / 2, H - 12);
  svg_series(f, &reward, xmax, "#1f77b4", W, H, pad);
  svg_series(f, &accuracy, xmax, "#d62728", W, H, pad);
  fprintf(f,
          "<text x=\"%d\" y=\"24\" fill=\"#1f77b4\">mean reward</text>\n"
          "<text x=\"%d\" y=\"24\" fill=\"#d62728\">accuracy</text>\n</svg>\n",
          pad, pad + 140);
  fclose(f);
  return 0;
}
