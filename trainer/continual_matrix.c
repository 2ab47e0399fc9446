/* trainer/continual_matrix.c — the continual protocol's accuracy matrix. */
#include "trainer/continual_matrix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/metrics.h" /* seal_json_real */

void seal_continual_matrix_create(seal_continual_matrix *m, int S, int N) {
  m->S = S;
  m->N = N;
  size_t nb = (size_t)S * N, na = (size_t)S * N * N;
  m->before = seal_malloc((nb ? nb : 1) * sizeof(double));
  m->after = seal_malloc((na ? na : 1) * sizeof(double));
  for (size_t k = 0; k < nb; k++) m->before[k] = NAN;
  for (size_t k = 0; k < na; k++) m->after[k] = NAN;
}

void seal_continual_matrix_free(seal_continual_matrix *m) {
  free(m->before);
  free(m->after);
  memset(m, 0, sizeof *m);
}

static double *after_cell(const seal_continual_matrix *m, int s, int i, int j) {
  return &m->after[((size_t)s * m->N + (size_t)i) * m->N + (size_t)j];
}

void seal_continual_set_before(seal_continual_matrix *m, int s, int j, double acc) {
  SEAL_CHECK(s >= 0 && s < m->S && j >= 0 && j < m->N, "continual: before[%d][%d] outside %dx%d", s,
             j, m->S, m->N);
  m->before[(size_t)s * m->N + (size_t)j] = acc;
}

void seal_continual_set_after(seal_continual_matrix *m, int s, int i, int j, double acc) {
  SEAL_CHECK(s >= 0 && s < m->S && i >= 0 && i < m->N && j >= 0 && j <= i,
             "continual: after[%d][%d][%d] outside the lower triangle of %dx%d", s, i, j, m->S,
             m->N);
  *after_cell(m, s, i, j) = acc;
}

/* Mean of the non-NaN values v[s * stride] over the sequences. */
static double mean_over_sequences(const double *v, int S, size_t stride) {
  double sum = 0;
  int n = 0;
  for (int s = 0; s < S; s++)
    if (!isnan(v[(size_t)s * stride])) sum += v[(size_t)s * stride], n++;
  return n ? sum / n : NAN;
}

double seal_continual_mean_before(const seal_continual_matrix *m, int j) {
  return mean_over_sequences(m->before + j, m->S, (size_t)m->N);
}

double seal_continual_mean_after(const seal_continual_matrix *m, int i, int j) {
  return mean_over_sequences(after_cell(m, 0, i, j), m->S, (size_t)m->N * m->N);
}

double seal_continual_forgetting(const seal_continual_matrix *m, int s, int j) {
  int last = m->N - 1;
  if (s < 0) return seal_continual_mean_after(m, j, j) - seal_continual_mean_after(m, last, j);
  return *after_cell(m, s, j, j) - *after_cell(m, s, last, j);
}

void seal_continual_print(FILE *f, const seal_continual_matrix *m) {
  fprintf(f,
          "continual: accuracy (%%) on passage j (columns) after update i (rows), mean of %d "
          "sequence(s)\n%-10s",
          m->S, "");
  for (int j = 0; j < m->N; j++) fprintf(f, " %6d", j);
  fprintf(f, "\n%-10s", "before");
  for (int j = 0; j < m->N; j++) fprintf(f, " %6.1f", 100 * seal_continual_mean_before(m, j));
  for (int i = 0; i < m->N; i++) {
    fprintf(f, "\nafter %-4d", i);
    for (int j = 0; j <= i; j++) fprintf(f, " %6.1f", 100 * seal_continual_mean_after(m, i, j));
  }
  fprintf(f, "\n%-10s", "forgetting");
  for (int j = 0; j < m->N; j++) fprintf(f, " %6.1f", 100 * seal_continual_forgetting(m, -1, j));
  fprintf(f, "\n");
}

/* {"before": [N], "after": [N][N] (null above the diagonal), "forgetting": [N]}
 * of sequence s, or of the means (s = -1). */
static json_t *matrix_json(const seal_continual_matrix *m, int s) {
  json_t *before = json_array(), *after = json_array(), *forgetting = json_array();
  for (int j = 0; j < m->N; j++) {
    double b = s < 0 ? seal_continual_mean_before(m, j) : m->before[(size_t)s * m->N + j];
    json_array_append_new(before, seal_json_real(b));
    json_array_append_new(forgetting, seal_json_real(seal_continual_forgetting(m, s, j)));
  }
  for (int i = 0; i < m->N; i++) {
    json_t *row = json_array();
    for (int j = 0; j < m->N; j++) {
      double a = j > i ? NAN : s < 0 ? seal_continual_mean_after(m, i, j) : *after_cell(m, s, i, j);
      json_array_append_new(row, seal_json_real(a));
    }
    json_array_append_new(after, row);
  }
  return json_pack("{s:o,s:o,s:o}", "before", before, "after", after, "forgetting", forgetting);
}

json_t *seal_continual_to_json(const seal_continual_matrix *m) {
  json_t *o = matrix_json(m, -1);
  json_t *per = json_array();
  for (int s = 0; s < m->S; s++) json_array_append_new(per, matrix_json(m, s));
  json_object_set_new(o, "sequences", json_integer(m->S));
  json_object_set_new(o, "passages", json_integer(m->N));
  json_object_set_new(o, "per_sequence", per);
  return o;
}

/* White (0) to dark blue (1) for an accuracy; grey for a cell not measured. */
static void cell_colour(double acc, char out[8]) {
  if (isnan(acc)) {
    snprintf(out, 8, "#eeeeee");
    return;
  }
  double t = acc < 0 ? 0 : acc > 1 ? 1 : acc;
  int r = (int)lround(255 - t * (255 - 8)), g = (int)lround(255 - t * (255 - 48)),
      b = (int)lround(255 - t * (255 - 107));
  snprintf(out, 8, "#%02x%02x%02x", r, g, b);
}

static void svg_cell(seal_buf *b, int x, int y, int size, double acc) {
  char colour[8];
  cell_colour(acc, colour);
  seal_buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n", x, y,
                  size, size, colour);
  if (!isnan(acc))
    seal_buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">%.0f</text>\n",
                    x + size / 2, y + size / 2 + 4, acc > 0.55 ? "white" : "black", 100 * acc);
}

int seal_continual_write_svg(const seal_continual_matrix *m, const char *path, seal_error *e) {
  const int cell = 40, left = 90, top = 50, N = m->N;
  int W = left + cell * N + 20, H = top + cell * (N + 1) + 50;
  seal_buf b = {0};
  seal_buf_printf(&b,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                  "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" "
                  "height=\"100%%\" fill=\"white\"/>\n<text x=\"%d\" y=\"20\">accuracy (%%) on "
                  "passage j after update i, mean of %d sequence(s)</text>\n",
                  W, H, left, m->S);
  for (int j = 0; j < N; j++) {
    seal_buf_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%d</text>\n",
                    left + j * cell + cell / 2, top - 6, j);
    svg_cell(&b, left + j * cell, top, cell, seal_continual_mean_before(m, j));
  }
  seal_buf_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">before</text>\n", left - 6,
                  top + cell / 2 + 4);
  for (int i = 0; i < N; i++) {
    int y = top + cell * (i + 1);
    seal_buf_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">after %d</text>\n", left - 6,
                    y + cell / 2 + 4, i);
    for (int j = 0; j < N; j++)
      svg_cell(&b, left + j * cell, y, cell, j > i ? NAN : seal_continual_mean_after(m, i, j));
  }
  seal_buf_puts(&b, "</svg>\n");
  int rc = seal_write_file_atomic(path, b.data, b.len, false, e);
  seal_buf_free(&b);
  return rc;
}
