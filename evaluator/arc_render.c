/* evaluator/arc_render.c — the chat messages of a problem as the reference's
 * GPTTextMessageRepresenterV2 writes them, their texts through a chat template,
 * and the loss boundary of the final assistant turn (see arc.h). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"

/* GPTTextMessageRepresenterV2's prompt with an empty {description}, then the
 * line it adds for a PythonListGridRepresenter. */
static const char task_prompt[] =
    "Figure out the underlying transformation in the following examples and apply it to the "
    "test case. Here are some examples from this transformation, your answer must follow the "
    "format.\nThe input-output grids are provided as python arrays:\n";

static const char io_sep[] = " -> ";  /* TextExampleRepresenter(io_sep=" -> ") */
static const char out_footer[] = "#"; /* output_footer="#" */

void seal_arc_messages_free(seal_arc_messages *m) {
  free(m->system);
  free(m->user);
  free(m->assistant);
  memset(m, 0, sizeof *m);
}

int seal_arc_chat_msgs(const seal_arc_messages *m, seal_chat_msg out[3]) {
  out[0] = (seal_chat_msg){"system", m->system};
  out[1] = (seal_chat_msg){"user", m->user};
  if (!m->assistant) return 2;
  out[2] = (seal_chat_msg){"assistant", m->assistant};
  return 3;
}

char *seal_arc_messages_json(const seal_arc_messages *m) {
  seal_chat_msg msgs[3];
  int n = seal_arc_chat_msgs(m, msgs);
  json_t *a = json_array();
  for (int i = 0; i < n; i++)
    json_array_append_new(
        a, json_pack("{s:s, s:s}", "role", msgs[i].role, "content", msgs[i].content));
  char *s = json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(a);
  char *out = seal_strdup(s);
  free(s);
  return out;
}

/* "{grid} -> " then, for a demonstration, "{grid}#" (TextExampleRepresenter.encode). */
static void append_example(seal_buf *b, const seal_arc_pair *x, bool with_output) {
  char *in = seal_arc_grid_text(&x->in);
  seal_buf_puts(b, in);
  seal_buf_puts(b, io_sep);
  free(in);
  if (!with_output) return;
  char *out = seal_arc_grid_text(&x->out);
  seal_buf_puts(b, out);
  seal_buf_puts(b, out_footer);
  free(out);
}

void seal_arc_problem_messages(const seal_arc_problem *p, bool with_answer,
                               seal_arc_messages *out) {
  seal_buf sys = {0}, user = {0};
  seal_buf_puts(&sys, task_prompt);
  for (int i = 0; i < p->n_train; i++) {
    append_example(&sys, &p->train[i], true);
    seal_buf_puts(&sys, "\n");
  }
  append_example(&user, &p->test, false);
  out->system = seal_buf_take(&sys);
  out->user = seal_buf_take(&user);
  out->assistant = NULL;
  if (with_answer) {
    seal_buf a = {0};
    char *g = seal_arc_grid_text(&p->test.out);
    seal_buf_puts(&a, g);
    seal_buf_puts(&a, out_footer);
    free(g);
    out->assistant = seal_buf_take(&a);
  }
}

static char *render(const seal_arc_messages *m, const seal_chat_format *f, const char *date,
                    bool generation_prompt, seal_error *e) {
  seal_chat_msg msgs[3];
  int n = seal_arc_chat_msgs(m, msgs);
  return seal_chat_render(f, msgs, n, generation_prompt, date, e);
}

char *seal_arc_query_text(const seal_arc_problem *p, const seal_chat_format *f, const char *date,
                          seal_error *e) {
  seal_arc_messages m;
  seal_arc_problem_messages(p, false, &m);
  char *text = render(&m, f, date, true, e);
  seal_arc_messages_free(&m);
  return text;
}

char *seal_arc_train_text(const seal_arc_problem *p, const seal_chat_format *f, const char *date,
                          size_t *answer_from, seal_error *e) {
  seal_arc_messages m;
  seal_arc_problem_messages(p, true, &m);
  char *full = render(&m, f, date, false, e);
  char *asst = m.assistant;
  m.assistant = NULL;
  char *prefix = full ? render(&m, f, date, true, e) : NULL;
  m.assistant = asst;
  seal_arc_messages_free(&m);
  /* The query text (system, user, generation prompt) must open the training text,
   * so the assistant's content starts where it ends: true of both template
   * families, checked so that a new one cannot misplace the loss silently. */
  size_t n = prefix ? strlen(prefix) : 0;
  if (prefix && strncmp(full, prefix, n) != 0)
    seal_errorf(e, "chat template: the generation prompt does not open the assistant turn");
  if (!prefix || strncmp(full, prefix, n) != 0) {
    free(full);
    full = NULL;
  }
  free(prefix);
  if (full) *answer_from = n;
  return full;
}

int seal_arc_tokenize(const seal_tokenizer *t, const char *text, size_t answer_from,
                      bool all_tokens, int32_t **ids, int *loss_from) {
  char *prefix = seal_malloc(answer_from + 1);
  memcpy(prefix, text, answer_from);
  prefix[answer_from] = 0;
  int32_t *a, *b;
  int na = seal_tokenizer_encode(t, prefix, &a);
  int nb = seal_tokenizer_encode(t, text + answer_from, &b);
  free(prefix);
  SEAL_CHECK(na >= 0 && nb >= 0, "tokenizer failed on a %zu-byte training text", strlen(text));
  *ids = seal_realloc(a, (size_t)(na + nb > 0 ? na + nb : 1) * sizeof **ids);
  memcpy(*ids + na, b, (size_t)nb * sizeof **ids);
  free(b);
  *loss_from = all_tokens ? 0 : na;
  return na + nb;
}
