/* evaluator/grade.c — SQuAD normalisation, EM / F1 / containment, grading modes.
 *
 * Text is handled as Unicode code points so that "whole word" and "whitespace"
 * mean what they mean to Python 3's re and str, which the official script runs
 * on. One known difference: str.lower() applies full case mappings (U+0130 'İ'
 * becomes two code points), utf8proc_tolower the simple ones. */
#include "evaluator/grade.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "util/util.h"

/* ---- text helpers ---------------------------------------------------------- */

bool seal_py_isspace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool seal_py_isword(uint32_t cp) {
  if (cp == '_') return true;
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
  switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

size_t seal_utf8_next(const char *s, size_t n, uint32_t *cp) {
  utf8proc_int32_t c;
  utf8proc_ssize_t len = utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &c);
  if (len <= 0) {
    *cp = 0xFFFD;
    return 1;
  }
  *cp = (uint32_t)c;
  return (size_t)len;
}

char *seal_py_strip(const char *s) {
  size_t n = strlen(s), start = n, end = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t len = seal_utf8_next(s + i, n - i, &cp);
    if (!seal_py_isspace(cp)) {
      if (start == n) start = i;
      end = i + len;
    }
    i += len;
  }
  if (start == n) return seal_strdup("");
  char *out = seal_malloc(end - start + 1);
  memcpy(out, s + start, end - start);
  out[end - start] = '\0';
  return out;
}

/* ---- code point arrays ------------------------------------------------------ */

typedef struct {
  uint32_t *cp; /* [n] */
  size_t n, cap;
} cp_array;

static void cp_push(cp_array *a, uint32_t cp) {
  if (a->n == a->cap) {
    a->cap = a->cap ? 2 * a->cap : 64;
    a->cp = seal_realloc(a->cp, a->cap * sizeof *a->cp);
  }
  a->cp[a->n++] = cp;
}

static char *cp_encode(const cp_array *a) {
  char *out = seal_malloc(4 * a->n + 1);
  size_t len = 0;
  for (size_t i = 0; i < a->n; i++)
    len += (size_t)utf8proc_encode_char((utf8proc_int32_t)a->cp[i], (utf8proc_uint8_t *)out + len);
  out[len] = '\0';
  return out;
}

/* ---- normalize_answer ------------------------------------------------------- */

static bool is_ascii_punct(uint32_t cp) {
  return cp < 0x80 && cp > 0x20 && cp != 0x7F &&
         !((cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z'));
}

/* lower(s), then remove_punc: one pass. */
static cp_array lower_without_punct(const char *s) {
  cp_array a = {0};
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    i += seal_utf8_next(s + i, n - i, &cp);
    cp = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    if (!is_ascii_punct(cp)) cp_push(&a, cp);
  }
  return a;
}

static bool run_is_article(const uint32_t *w, size_t n) {
  return (n == 1 && w[0] == 'a') || (n == 2 && w[0] == 'a' && w[1] == 'n') ||
         (n == 3 && w[0] == 't' && w[1] == 'h' && w[2] == 'e');
}

/* re.sub(r'\b(a|an|the)\b', ' ', text): the pattern matches exactly the maximal
 * runs of word characters that spell an article. */
static cp_array remove_articles(const cp_array *in) {
  cp_array out = {0};
  for (size_t i = 0; i < in->n;) {
    if (!seal_py_isword(in->cp[i])) {
      cp_push(&out, in->cp[i++]);
      continue;
    }
    size_t j = i;
    while (j < in->n && seal_py_isword(in->cp[j])) j++;
    if (run_is_article(in->cp + i, j - i)) {
      cp_push(&out, ' ');
    } else {
      for (size_t k = i; k < j; k++) cp_push(&out, in->cp[k]);
    }
    i = j;
  }
  return out;
}

/* ' '.join(text.split()) */
static cp_array fix_whitespace(const cp_array *in) {
  cp_array out = {0};
  bool pending_space = false;
  for (size_t i = 0; i < in->n; i++) {
    if (seal_py_isspace(in->cp[i])) {
      pending_space = out.n > 0;
      continue;
    }
    if (pending_space) cp_push(&out, ' ');
    pending_space = false;
    cp_push(&out, in->cp[i]);
  }
  return out;
}

char *seal_squad_normalize(const char *s) {
  cp_array lowered = lower_without_punct(s);
  cp_array no_articles = remove_articles(&lowered);
  cp_array fixed = fix_whitespace(&no_articles);
  char *out = cp_encode(&fixed);
  free(lowered.cp), free(no_articles.cp), free(fixed.cp);
  return out;
}

/* ---- metrics ---------------------------------------------------------------- */

/* Splits a normalised string (single spaces, none at the ends) into tokens in
 * place; returns their count and fills toks[0..n). */
static int split_tokens(char *s, char ***toks) {
  int n = 0, cap = 16;
  *toks = seal_malloc(cap * sizeof **toks);
  for (char *t = strtok(s, " "); t; t = strtok(NULL, " ")) {
    if (n == cap) *toks = seal_realloc(*toks, (cap *= 2) * sizeof **toks);
    (*toks)[n++] = t;
  }
  return n;
}

int seal_exact_match(const char *prediction, const char *gold) {
  char *p = seal_squad_normalize(prediction), *g = seal_squad_normalize(gold);
  int same = strcmp(p, g) == 0;
  free(p), free(g);
  return same;
}

double seal_token_f1(const char *prediction, const char *gold) {
  char *p = seal_squad_normalize(prediction), *g = seal_squad_normalize(gold);
  char **pt, **gt;
  int np = split_tokens(p, &pt), ng = split_tokens(g, &gt);
  /* Counter(pred) & Counter(gold): each gold token can be matched once. */
  bool *used = seal_calloc(ng ? ng : 1, sizeof *used);
  int same = 0;
  for (int i = 0; i < np; i++) {
    for (int j = 0; j < ng; j++) {
      if (!used[j] && strcmp(pt[i], gt[j]) == 0) {
        used[j] = true;
        same++;
        break;
      }
    }
  }
  double f1 = 0.0;
  if (same > 0) {
    double precision = (double)same / np, recall = (double)same / ng;
    f1 = 2.0 * precision * recall / (precision + recall);
  }
  free(used), free(pt), free(gt), free(p), free(g);
  return f1;
}

int seal_answer_contained(const char *prediction, const char *gold) {
  char *p = seal_squad_normalize(prediction), *g = seal_squad_normalize(gold);
  int found;
  if (g[0] == '\0') {
    found = p[0] == '\0';
  } else {
    /* Padding both with spaces turns "whole tokens" into a plain substring test. */
    char *pp = seal_asprintf(" %s ", p), *gg = seal_asprintf(" %s ", g);
    found = strstr(pp, gg) != NULL;
    free(pp), free(gg);
  }
  free(p), free(g);
  return found;
}

int seal_max_exact_match(const char *prediction, const char *const *golds, int n_golds) {
  int best = 0;
  for (int i = 0; i < n_golds && !best; i++) best = seal_exact_match(prediction, golds[i]);
  return best;
}

double seal_max_token_f1(const char *prediction, const char *const *golds, int n_golds) {
  double best = 0.0;
  for (int i = 0; i < n_golds; i++) {
    double f = seal_token_f1(prediction, golds[i]);
    if (f > best) best = f;
  }
  return best;
}

int seal_max_answer_contained(const char *prediction, const char *const *golds, int n_golds) {
  int best = 0;
  for (int i = 0; i < n_golds && !best; i++) best = seal_answer_contained(prediction, golds[i]);
  return best;
}

/* ---- modes ------------------------------------------------------------------- */

static const char *const grade_mode_names[SEAL_GRADE_N_MODES] = {
    [SEAL_GRADE_EM] = "em",
    [SEAL_GRADE_F1] = "f1",
    [SEAL_GRADE_CONTAINS] = "contains",
    [SEAL_GRADE_JUDGE] = "judge",
};

const char *seal_grade_mode_name(seal_grade_mode m) {
  SEAL_CHECK(m >= 0 && m < SEAL_GRADE_N_MODES, "bad grading mode %d", (int)m);
  return grade_mode_names[m];
}

int seal_grade_mode_parse(const char *name, seal_grade_mode *out) {
  for (int m = 0; m < SEAL_GRADE_N_MODES; m++) {
    if (strcmp(name, grade_mode_names[m]) == 0) {
      *out = (seal_grade_mode)m;
      return 0;
    }
  }
  return -1;
}

char *seal_judge_gold(const char *const *golds, int n_golds) {
  seal_buf b = {0};
  seal_buf_puts(&b, "");
  for (int i = 0; i < n_golds; i++) {
    bool seen = false;
    for (int j = 0; j < i && !seen; j++) seen = strcmp(golds[i], golds[j]) == 0;
    if (seen) continue;
    if (b.len > 0) seal_buf_puts(&b, " / ");
    seal_buf_puts(&b, golds[i]);
  }
  return seal_buf_take(&b);
}

/* Whether the reply has `word` as a whole word, ASCII case-insensitively
 * (re.search(r"\b(word)\b", reply, re.I)). */
static bool has_word(const char *reply, const char *word) {
  size_t n = strlen(reply), wn = strlen(word);
  uint32_t prev = ' ';
  for (size_t i = 0; i < n;) {
    if (!seal_py_isword(prev) && i + wn <= n && strncasecmp(reply + i, word, wn) == 0) {
      uint32_t next = ' ';
      if (i + wn < n) seal_utf8_next(reply + i + wn, n - i - wn, &next);
      if (!seal_py_isword(next)) return true;
    }
    i += seal_utf8_next(reply + i, n - i, &prev);
  }
  return false;
}

bool seal_judge_says_yes(const char *reply) {
  return has_word(reply, "yes") && !has_word(reply, "no");
}

int seal_grade_correct(const seal_grader *g, const char *prediction, const char *const *golds,
                       int n_golds, const char *judge_reply) {
  switch (g->mode) {
    case SEAL_GRADE_EM:
      return seal_max_exact_match(prediction, golds, n_golds);
    case SEAL_GRADE_F1:
      return seal_max_token_f1(prediction, golds, n_golds) >= g->f1_threshold;
    case SEAL_GRADE_CONTAINS:
      return seal_max_answer_contained(prediction, golds, n_golds);
    case SEAL_GRADE_JUDGE:
      SEAL_CHECK(judge_reply != NULL, "judge grading needs the judge model's reply");
      return seal_judge_says_yes(judge_reply);
    default:
      SEAL_DIE("bad grading mode %d", (int)g->mode);
  }
}

double seal_grade_reward(const int *correct, int n) {
  if (n == 0) return 0.0;
  int k = 0;
  for (int i = 0; i < n; i++) k += correct[i] != 0;
  return (double)k / n;
}
