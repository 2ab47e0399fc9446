/* evaluator/selfedit.c — self-edit to training sequences; see selfedit.h for the
 * rules. Whitespace, stripping and line breaks follow Python 3's str (strip(),
 * splitlines()) because the reference is Python and the sequences must match it. */
#include "evaluator/selfedit.h"

#include <stdlib.h>
#include <string.h>

#include "evaluator/grade.h"
#include "util/util.h"

/* A growable list of owned strings. */
typedef struct {
  char **s; /* [n] */
  int n, cap;
} str_list;

static void list_push(str_list *l, char *s) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 16;
    l->s = seal_realloc(l->s, l->cap * sizeof *l->s);
  }
  l->s[l->n++] = s;
}

static void list_free(str_list *l) {
  for (int i = 0; i < l->n; i++) free(l->s[i]);
  free(l->s);
  memset(l, 0, sizeof *l);
}

static char *copy_span(const char *s, size_t n) {
  char *out = seal_malloc(n + 1);
  memcpy(out, s, n);
  out[n] = '\0';
  return out;
}

static bool is_blank(const char *s) {
  char *t = seal_py_strip(s);
  bool blank = t[0] == '\0';
  free(t);
  return blank;
}

/* Byte length of the Python whitespace run at s (0 when none). */
static size_t space_run(const char *s) {
  size_t i = 0, n = strlen(s);
  while (i < n) {
    uint32_t cp;
    size_t len = seal_utf8_next(s + i, n - i, &cp);
    if (!seal_py_isspace(cp)) break;
    i += len;
  }
  return i;
}

/* r"\nImplications:\s*": keep what follows the first match, left-stripped. */
static const char *after_implications_marker(const char *s) {
  const char *m = strstr(s, "\nImplications:");
  if (!m) return s;
  m += strlen("\nImplications:");
  return m + space_run(m);
}

/* Does r"Question\s+\d+:" match at s? */
static bool question_header_at(const char *s) {
  if (strncmp(s, "Question", 8) != 0) return false;
  s += 8;
  size_t sp = space_run(s);
  if (sp == 0) return false;
  s += sp;
  if (!(*s >= '0' && *s <= '9')) return false;
  while (*s >= '0' && *s <= '9') s++;
  return *s == ':';
}

/* Does r"Answer\s*:" match at s? */
static bool answer_header_at(const char *s) {
  if (strncmp(s, "Answer", 6) != 0) return false;
  s += 6;
  s += space_run(s);
  return *s == ':';
}

static bool looks_like_self_qa(const char *s) {
  bool q = false, a = false;
  for (const char *p = s; *p && !(q && a); p++) {
    q = q || question_header_at(p);
    a = a || answer_header_at(p);
  }
  return q && a;
}

/* [seg.strip() for seg in text.split("---") if seg.strip()]. The reference falls
 * back to [text.strip()] when that is empty, which can only happen when the text
 * is nothing but separators and whitespace; it then trains on "---" lines. We
 * count such a self-edit as empty instead. */
static str_list split_segments(const char *text) {
  str_list out = {0};
  const char *p = text;
  for (;;) {
    const char *end = strstr(p, "---");
    size_t n = end ? (size_t)(end - p) : strlen(p);
    char *seg = copy_span(p, n);
    char *stripped = seal_py_strip(seg);
    free(seg);
    if (stripped[0]) {
      list_push(&out, stripped);
    } else {
      free(stripped);
    }
    if (!end) break;
    p = end + 3;
  }
  return out;
}

/* Length of the str.splitlines() line break at s: \r\n is one; 0 when none. */
static size_t line_break_at(const char *s, size_t n) {
  if (s[0] == '\r' && n > 1 && s[1] == '\n') return 2;
  uint32_t cp;
  size_t len = seal_utf8_next(s, n, &cp);
  bool brk = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D ||
             cp == 0x1E || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
  return brk ? len : 0;
}

/* Appends every stripped, non-empty line of seg to out. */
static void push_lines(str_list *out, const char *seg) {
  size_t n = strlen(seg), start = 0;
  for (size_t i = 0; i <= n;) {
    size_t brk = i < n ? line_break_at(seg + i, n - i) : 1;
    if (brk == 0) {
      uint32_t cp;
      i += seal_utf8_next(seg + i, n - i, &cp);
      continue;
    }
    char *line = copy_span(seg + start, i - start);
    char *stripped = seal_py_strip(line);
    free(line);
    if (stripped[0]) {
      list_push(out, stripped);
    } else {
      free(stripped);
    }
    i += brk;
    start = i;
  }
}

/* re.split(r'\n(?=Question\s+\d+:)', text.strip()), then a "Question 1: " prefix on
 * the first piece when the model left it out (the self-qa prompt ends with it). */
static str_list split_self_qa(const char *text) {
  str_list out = {0};
  char *t = seal_py_strip(text);
  const char *start = t;
  for (const char *p = t; *p; p++) {
    if (*p == '\n' && question_header_at(p + 1)) {
      list_push(&out, copy_span(start, (size_t)(p - start)));
      start = p + 1;
    }
  }
  list_push(&out, seal_strdup(start));
  free(t);
  const char *first = out.s[0] + space_run(out.s[0]);
  if (strncmp(first, "Question", 8) != 0) {
    char *stripped = seal_py_strip(out.s[0]);
    free(out.s[0]);
    out.s[0] = seal_asprintf("Question 1: %s", stripped);
    free(stripped);
  }
  return out;
}

static str_list selfedit_pieces(const char *completion, bool split_lines) {
  const char *text = after_implications_marker(completion);
  str_list segs = split_segments(text);
  if (!split_lines) return segs;
  if (looks_like_self_qa(text)) {
    list_free(&segs);
    return split_self_qa(text);
  }
  str_list lines = {0};
  for (int i = 0; i < segs.n; i++) push_lines(&lines, segs.s[i]);
  list_free(&segs);
  if (lines.n > 1 && strncmp(lines.s[1], "1.", 2) == 0) {
    free(lines.s[0]);
    memmove(lines.s, lines.s + 1, (size_t)(lines.n - 1) * sizeof *lines.s);
    lines.n--;
  }
  return lines;
}

void seal_selfedit_sequences(const char *completion, const char *title, const char *context,
                             const seal_selfedit_opts *opts, seal_train_seqs *out) {
  memset(out, 0, sizeof *out);
  str_list pieces = selfedit_pieces(completion, opts->split_lines);
  str_list seqs = {0};
  for (int i = 0; i < pieces.n && i < SEAL_SELFEDIT_MAX_SEQS; i++) {
    if (is_blank(pieces.s[i])) continue;
    list_push(&seqs, seal_asprintf("%s\n%s", title, pieces.s[i]));
  }
  list_free(&pieces);
  out->n_from_selfedit = seqs.n;
  if (opts->add_passage) {
    char *ctx = seal_py_strip(context);
    list_push(&seqs, seal_asprintf("%s\n%s", title, ctx));
    free(ctx);
  }
  out->seqs = seqs.s;
  out->n = seqs.n;
}

void seal_train_seqs_free(seal_train_seqs *s) {
  for (int i = 0; i < s->n; i++) free(s->seqs[i]);
  free(s->seqs);
  memset(s, 0, sizeof *s);
}
