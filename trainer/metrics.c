/* trainer/metrics.c — JSON-lines metrics and their SVG plot. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainer/metrics.h"

/* Appends to a regular file only: O_NONBLOCK so that a FIFO cannot block the
 * open (one without a reader fails it with ENXIO), then fstat. */
static FILE *open_append_regular(const char *path, seal_error *e) {
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
  struct stat st;
  if (fd < 0 && errno == ENXIO) {
    seal_errorf(e, "%s: not a regular file (a FIFO); expected the run's metrics file", path);
    return NULL;
  }
  if (fd < 0) {
    seal_errorf(e, "%s: cannot open for appending: %s", path, strerror(errno));
    return NULL;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    seal_errorf(e, "%s: not a regular file; expected the run's metrics file", path);
    close(fd);
    return NULL;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  FILE *f = fdopen(fd, "a");
  if (!f) {
    seal_errorf(e, "%s: cannot open for appending: %s", path, strerror(errno));
    close(fd);
  }
  return f;
}

int seal_metrics_open(seal_metrics *m, const char *path, seal_error *e) {
  m->t0 = seal_now();
  m->f = open_append_regular(path, e);
  return m->f ? 0 : -1;
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

/* Reads round rewards and eval accuracies out of the metrics file, read whole
 * the one safe way (a regular file under the size cap: never a FIFO, /dev/zero). */
static int read_series(const char *path, series *reward, series *accuracy, seal_error *e) {
  size_t size;
  char *text = seal_read_file(path, &size, e);
  if (!text) return -1;
  for (const char *line = text, *end = text + size; line < end;) {
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
    json_error_t je;
    json_t *o = json_loadb(line, len, 0, &je);
    line += len + 1;
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
  free(text);
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
