/* evaluator/grade.h — grading answers against SQuAD gold answers.
 *
 * Normalisation is the official SQuAD v1.1 script's (evaluate-v1.1.py,
 * normalize_answer): lowercase, drop ASCII punctuation (Python's
 * string.punctuation), replace the whole words a/an/the by a space, collapse
 * whitespace. "Whole word" and "whitespace" follow Python 3's str semantics
 * (\b over Unicode word characters, str.split()). Each score takes the maximum
 * over a question's gold answers, as the official script does. */
#ifndef SEAL_EVALUATOR_GRADE_H
#define SEAL_EVALUATOR_GRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- text helpers with Python 3 str semantics --------------------------- */

/* str.isspace() for one code point. */
bool seal_py_isspace(uint32_t cp);
/* Whether re's \w matches the code point (letters, digits/numerics, underscore). */
bool seal_py_isword(uint32_t cp);
/* Decodes the UTF-8 code point at s (n bytes left, n >= 1) into *cp and returns
 * its length in bytes; a malformed byte decodes as U+FFFD of length 1. */
size_t seal_utf8_next(const char *s, size_t n, uint32_t *cp);
/* str.strip(): a copy without leading and trailing whitespace. Caller frees. */
char *seal_py_strip(const char *s);

/* ---- SQuAD metrics -------------------------------------------------------- */

/* normalize_answer(s). Caller frees. */
char *seal_squad_normalize(const char *s);
/* 1 when the normalised strings are equal, else 0. */
int seal_exact_match(const char *prediction, const char *gold);
/* Token F1 of the normalised strings (official v1.1: 0 when nothing is shared,
 * so also when both are empty). */
double seal_token_f1(const char *prediction, const char *gold);
/* 1 when the normalised gold occurs in the normalised prediction as a run of
 * whole tokens ("1995" does not contain "5"); an empty normalised gold counts
 * only against an empty prediction. */
int seal_answer_contained(const char *prediction, const char *gold);

/* Maxima over golds[0..n_golds). */
int seal_max_exact_match(const char *prediction, const char *const *golds, int n_golds);
double seal_max_token_f1(const char *prediction, const char *const *golds, int n_golds);
int seal_max_answer_contained(const char *prediction, const char *const *golds, int n_golds);

/* ---- grading modes --------------------------------------------------------- */

typedef enum {
  SEAL_GRADE_EM,       /* exact match */
  SEAL_GRADE_F1,       /* token F1 >= threshold */
  SEAL_GRADE_CONTAINS, /* gold contained in the prediction */
  SEAL_GRADE_JUDGE,    /* a local judge model says yes */
  SEAL_GRADE_N_MODES
} seal_grade_mode;

/* "em", "f1", "contains", "judge". */
const char *seal_grade_mode_name(seal_grade_mode m);
/* -1 when unknown. */
int seal_grade_mode_parse(const char *name, seal_grade_mode *out);

typedef struct {
  seal_grade_mode mode;
  double f1_threshold; /* for SEAL_GRADE_F1, in [0, 1] */
} seal_grader;

/* The judge's gold answer text: the distinct gold answers joined by " / "
 * (one answer is shown as is). Caller frees. */
char *seal_judge_gold(const char *const *golds, int n_golds);
/* The reference's parse_yes_no: yes when the reply has the word "yes" and not the
 * word "no" (case-insensitive, whole words); anything else, ambiguity included, is no. */
bool seal_judge_says_yes(const char *reply);

/* 1 when the prediction counts as correct under g, else 0. judge_reply is the
 * judge model's reply to seal_prompt_judge(...) and is used (and required) only
 * in SEAL_GRADE_JUDGE mode. */
int seal_grade_correct(const seal_grader *g, const char *prediction, const char *const *golds,
                       int n_golds, const char *judge_reply);

/* The reward: the fraction of correct[0..n) that are 1; 0 when n == 0. */
double seal_grade_reward(const int *correct, int n);

#endif
