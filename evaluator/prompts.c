/* evaluator/prompts.c — prompt texts and their rendering.
 *
 * The texts are the SEAL reference code's, character for character
 * (MAKE_SQUAD_DATA_TEMPLATES_BASE, SQUAD_ANSWER_TEMPLATE_BASE, SQUAD_GRADE_TEMPLATE);
 * the answering prompt's question carries the "Topic: {title}\n" header that the
 * reference's TTT server puts in front of every question. Rendering concatenates
 * pieces instead of using printf, so passages containing '%' are safe. */
#include "evaluator/prompts.h"

#include <stdlib.h>
#include <string.h>

#include "evaluator/grade.h"
#include "util/util.h"

typedef struct {
  const char *name;
  const char *head; /* text before "{title}\n{context}" */
  const char *tail; /* text after it */
} selfedit_template;

#define PASSAGE_INTRO "\n\nPassage:\n"

static const selfedit_template selfedit_templates[SEAL_PROMPT_N_VARIANTS] = {
    [SEAL_PROMPT_IMPLICATIONS] = {"implications",
                                  "Let's read the following passage and produce a list of "
                                  "implications derived directly or indirectly from the "
                                  "content." PASSAGE_INTRO,
                                  "\n\nImplications:\n"},
    [SEAL_PROMPT_IMPLICATIONS_LONG] = {"implications-long",
                                       "Let's read the following passage and produce a long list "
                                       "of implications derived directly or indirectly from the "
                                       "content." PASSAGE_INTRO,
                                       "\n\nImplications:\n"},
    [SEAL_PROMPT_IMPLICATIONS_VERY_LONG] = {"implications-very-long",
                                            "Let's read the following passage and produce a very "
                                            "long list of implications derived directly or "
                                            "indirectly from the content." PASSAGE_INTRO,
                                            "\n\nImplications:\n"},
    [SEAL_PROMPT_REWRITE] = {"rewrite",
                             "Let's read the following passage and rewrite it in a few different "
                             "ways, each one separated by a newline." PASSAGE_INTRO,
                             "\n\nRewritten passages:\n"},
    [SEAL_PROMPT_SELF_QA] = {"self-qa",
                             "Let's read the following passage and rewrite it in a "
                             "question-answer format." PASSAGE_INTRO,
                             "\n\nQuestion 1: "},
};

const char *seal_prompt_variant_name(seal_prompt_variant v) {
  SEAL_CHECK(v >= 0 && v < SEAL_PROMPT_N_VARIANTS, "bad prompt variant %d", (int)v);
  return selfedit_templates[v].name;
}

int seal_prompt_variant_parse(const char *name, seal_prompt_variant *out) {
  for (int v = 0; v < SEAL_PROMPT_N_VARIANTS; v++) {
    if (strcmp(name, selfedit_templates[v].name) == 0) {
      *out = (seal_prompt_variant)v;
      return 0;
    }
  }
  return -1;
}

char *seal_prompt_selfedit(seal_prompt_variant v, const char *title, const char *context) {
  SEAL_CHECK(v >= 0 && v < SEAL_PROMPT_N_VARIANTS, "bad prompt variant %d", (int)v);
  seal_buf b = {0};
  seal_buf_puts(&b, selfedit_templates[v].head);
  seal_buf_puts(&b, title);
  seal_buf_puts(&b, "\n");
  seal_buf_puts(&b, context);
  seal_buf_puts(&b, selfedit_templates[v].tail);
  return seal_buf_take(&b);
}

char *seal_prompt_answer(const char *title, const char *question) {
  seal_buf b = {0};
  seal_buf_puts(&b, "Let's answer a question directly and concisely.\nQuestion: Topic: ");
  seal_buf_puts(&b, title);
  seal_buf_puts(&b, "\n");
  seal_buf_puts(&b, question);
  seal_buf_puts(&b, "\nAnswer:\n");
  return seal_buf_take(&b);
}

char *seal_prompt_judge(const char *title, const char *question, const char *gold,
                        const char *prediction) {
  seal_buf b = {0};
  seal_buf_puts(&b,
                "You are a grading assistant. Your job is to determine whether a student's "
                "answer correctly answers the question based solely on the provided gold "
                "answer. Do not use any outside knowledge. The student answer can include "
                "additional information, but it must at least fully convey the gold answer "
                "and must not contradict it. Ignore style, phrasing, or extra details that do "
                "not affect correctness. Respond ONLY with 'yes' or 'no'.\n\n");
  seal_buf_puts(&b, "Question: Topic: ");
  seal_buf_puts(&b, title);
  seal_buf_puts(&b, "\n");
  seal_buf_puts(&b, question);
  seal_buf_puts(&b, "\nGold answer: ");
  seal_buf_puts(&b, gold);
  seal_buf_puts(&b, "\nStudent answer: ");
  char *pred = seal_py_strip(prediction);
  seal_buf_puts(&b, pred);
  free(pred);
  seal_buf_puts(&b,
                "\nIs the student answer correct based solely on the gold answer? "
                "Respond 'yes' or 'no'.");
  return seal_buf_take(&b);
}
