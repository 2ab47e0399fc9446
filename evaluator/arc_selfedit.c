/* evaluator/arc_selfedit.c — the self-edit prompt of few-shot/self-edit.py and the
 * parsing of the tool configuration the model writes (see arc.h). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"
#include "model/json_file.h"

/* few-shot/utils/prompts.py, verbatim (self_edit_prompt starts with a newline). */
const char seal_arc_system_message[] =
    "You are a helpful assistant that provide the correct output for the given task immediately.";

const char seal_arc_selfedit_instruction[] =
    "\n"
    "You are configuring a model training pipeline by selecting from predefined tools.\n"
    "\n"
    "You must make two decisions:\n"
    "\n"
    "1. **Data Generation Tools** — For each of the following, choose true or false:\n"
    "    - use_basic_augmentations\n"
    "    - use_size_augmentations\n"
    "    - use_chain_augmentations\n"
    "    - use_repeat_augmentations\n"
    "\n"
    "2. **Training Configuration** — Choose one of:\n"
    "    - \"train_using_all_tokens\"\n"
    "    - \"train_using_output_tokens\"\n"
    "\n"
    "Also specify:\n"
    "    - learning_rate (float)\n"
    "    - num_train_epochs (integer)\n"
    "\n"
    "### Output Format\n"
    "\n"
    "Respond with a valid JSON object. Do not include any explanation, markdown, or extra text. "
    "Use lowercase `true`/`false` for booleans and ensure correct JSON syntax.\n"
    "\n"
    "Example output:\n"
    "\n"
    "{\n"
    "  \"data_generation\": {\n"
    "    \"use_basic_augmentations\": ...,\n"
    "    \"use_size_augmentations\": ...,\n"
    "    \"use_chain_augmentations\": ...,\n"
    "    \"use_repeat_augmentations\": ...\n"
    "  },\n"
    "  \"training\": {\n"
    "    \"strategy\": ...,\n"
    "    \"learning_rate\": ...,\n"
    "    \"num_train_epochs\": ...\n"
    "  }\n"
    "}\n";

#define LR_MAX 1.0
#define EPOCHS_MAX 1000

/* ---- the prompt ------------------------------------------------------------------------------ */

/* get_prompt's rows: the cells of each row joined by spaces, one row per line. */
static void append_rows(seal_buf *b, const seal_arc_grid *g) {
  for (int r = 0; r < g->h; r++) {
    for (int c = 0; c < g->w; c++) {
      char cell[3] = {(char)('0' + seal_arc_at(g, r, c)), c + 1 < g->w ? ' ' : '\n', 0};
      seal_buf_puts(b, cell);
    }
  }
}

void seal_arc_selfedit_messages(const seal_arc_task *t, seal_arc_messages *out) {
  seal_buf user = {0};
  seal_buf_append(&user, "", 0);
  for (int i = 0; i < t->n_train; i++) {
    seal_buf_puts(&user, "Input:\n");
    append_rows(&user, &t->train[i].in);
    seal_buf_puts(&user, "\nOutput:\n");
    append_rows(&user, &t->train[i].out);
    seal_buf_puts(&user, "\n");
  }
  seal_buf_puts(&user, "------\n\n");
  seal_buf_puts(&user, seal_arc_selfedit_instruction);
  out->system = seal_strdup(seal_arc_system_message);
  out->user = seal_buf_take(&user);
  out->assistant = NULL;
}

/* ---- finding the JSON object ------------------------------------------------------------------
 */

__attribute__((format(printf, 3, 4))) static bool why(char *reason, size_t n, const char *fmt,
                                                      ...) {
  if (reason && n) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, n, fmt, ap);
    va_end(ap);
  }
  return false;
}

/* The length of the balanced {...} opening at s (braces inside JSON strings do
 * not count), or 0 when it does not close. */
static size_t balanced_length(const char *s) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; s[i]; i++) {
    char c = s[i];
    if (in_string) {
      if (c == '\\' && s[i + 1]) {
        i++;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      depth++;
    } else if (c == '}' && --depth == 0) {
      return i + 1;
    }
  }
  return 0;
}

static json_t *first_embedded_object(const char *text) {
  for (const char *p = strchr(text, '{'); p; p = strchr(p + 1, '{')) {
    size_t n = balanced_length(p);
    if (n == 0) continue;
    json_error_t jerr;
    json_t *v = json_loadb(p, n, 0, &jerr);
    if (v && json_is_object(v)) return v;
    json_decref(v);
  }
  return NULL;
}

/* The JSON object of a self-edit, or NULL with the reason. */
static json_t *find_object(const char *text, seal_arc_json_mode mode, char *reason, size_t n) {
  if (mode == SEAL_ARC_JSON_EMBEDDED) {
    json_t *v = first_embedded_object(text);
    if (!v) why(reason, n, "no JSON object in the text");
    return v;
  }
  json_error_t jerr;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
  if (!v) {
    why(reason, n, "not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
    return NULL;
  }
  if (!json_is_object(v)) {
    why(reason, n, "expected a JSON object, got %s", seal_json_type_name(v));
    json_decref(v);
    return NULL;
  }
  return v;
}

/* ---- reading the configuration ------------------------------------------------------------------
 */

static const json_t *member(const json_t *obj, const char *parent, const char *key, char *reason,
                            size_t n) {
  const json_t *v = json_object_get(obj, key);
  if (!v) why(reason, n, "%s%s%s: missing", parent, parent[0] ? "." : "", key);
  return v;
}

static const json_t *object_member(const json_t *obj, const char *key, char *reason, size_t n) {
  const json_t *v = member(obj, "", key, reason, n);
  if (v && !json_is_object(v)) {
    why(reason, n, "%s: expected an object, got %s", key, seal_json_type_name(v));
    return NULL;
  }
  return v;
}

static bool read_bool(const json_t *obj, const char *key, bool *out, char *reason, size_t n) {
  const json_t *v = member(obj, "data_generation", key, reason, n);
  if (!v) return false;
  if (!json_is_boolean(v))
    return why(reason, n, "data_generation.%s: expected true or false, got %s", key,
               seal_json_type_name(v));
  *out = json_is_true(v);
  return true;
}

static bool read_groups(const json_t *dg, seal_arc_groups *g, char *reason, size_t n) {
  return read_bool(dg, "use_basic_augmentations", &g->basic, reason, n) &&
         read_bool(dg, "use_size_augmentations", &g->size, reason, n) &&
         read_bool(dg, "use_chain_augmentations", &g->chain, reason, n) &&
         read_bool(dg, "use_repeat_augmentations", &g->repeat, reason, n);
}

static bool read_strategy(const json_t *tr, bool *all_tokens, char *reason, size_t n) {
  const json_t *v = member(tr, "training", "strategy", reason, n);
  if (!v) return false;
  const char *s = json_string_value(v);
  if (s && strcmp(s, "train_using_all_tokens") == 0) {
    *all_tokens = true;
  } else if (s && strcmp(s, "train_using_output_tokens") == 0) {
    *all_tokens = false;
  } else {
    return why(reason, n,
               "training.strategy: expected \"train_using_all_tokens\" or "
               "\"train_using_output_tokens\", got %s%.40s%s",
               s ? "\"" : seal_json_type_name(v), s ? s : "", s ? "\"" : "");
  }
  return true;
}

static bool read_lr(const json_t *tr, double *lr, char *reason, size_t n) {
  const json_t *v = member(tr, "training", "learning_rate", reason, n);
  if (!v) return false;
  if (!json_is_number(v))
    return why(reason, n, "training.learning_rate: expected a number, got %s",
               seal_json_type_name(v));
  *lr = json_number_value(v);
  if (!isfinite(*lr) || *lr <= 0 || *lr > LR_MAX)
    return why(reason, n, "training.learning_rate: %g is outside (0, %g]", *lr, LR_MAX);
  return true;
}

/* An integer, or a real with an integral value (3.0): JSON has one number type. */
static bool read_epochs(const json_t *tr, int *epochs, char *reason, size_t n) {
  const json_t *v = member(tr, "training", "num_train_epochs", reason, n);
  if (!v) return false;
  if (!json_is_number(v))
    return why(reason, n, "training.num_train_epochs: expected an integer, got %s",
               seal_json_type_name(v));
  double x = json_number_value(v);
  if (x != floor(x))
    return why(reason, n, "training.num_train_epochs: expected an integer, got %g", x);
  if (x < 1 || x > EPOCHS_MAX)
    return why(reason, n, "training.num_train_epochs: %.0f is outside 1..%d", x, EPOCHS_MAX);
  *epochs = (int)x;
  return true;
}

static bool read_config(const json_t *root, seal_arc_config *c, char *reason, size_t n) {
  const json_t *dg = object_member(root, "data_generation", reason, n);
  if (!dg || !read_groups(dg, &c->groups, reason, n)) return false;
  const json_t *tr = object_member(root, "training", reason, n);
  return tr && read_strategy(tr, &c->all_tokens, reason, n) && read_lr(tr, &c->lr, reason, n) &&
         read_epochs(tr, &c->epochs, reason, n);
}

bool seal_arc_config_parse(const char *text, seal_arc_json_mode mode, seal_arc_config *out,
                           char *reason, size_t reason_size) {
  if (reason && reason_size) reason[0] = 0;
  json_t *root = find_object(text ? text : "", mode, reason, reason_size);
  if (!root) return false;
  seal_arc_config c;
  bool ok = read_config(root, &c, reason, reason_size);
  json_decref(root);
  if (ok) *out = c;
  return ok;
}

char *seal_arc_config_json(const seal_arc_config *c) {
  json_t *v = json_pack("{s:{s:b, s:b, s:b, s:b}, s:{s:s, s:f, s:i}}", "data_generation",
                        "use_basic_augmentations", c->groups.basic, "use_size_augmentations",
                        c->groups.size, "use_chain_augmentations", c->groups.chain,
                        "use_repeat_augmentations", c->groups.repeat, "training", "strategy",
                        c->all_tokens ? "train_using_all_tokens" : "train_using_output_tokens",
                        "learning_rate", c->lr, "num_train_epochs", c->epochs);
  char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
  json_decref(v);
  char *out = seal_strdup(s);
  free(s);
  return out;
}

long seal_arc_guard_steps(const seal_arc_config *c, int n_examples, int batch) {
  return (long)c->epochs * n_examples / (batch > 0 ? batch : 1);
}
