/* evaluator/squad.h — SQuAD-style passages with their questions and gold answers.
 *
 * Two input forms, told apart automatically:
 *   official v1.1: {"data": [{"title", "paragraphs": [{"context", "qas": [{"id",
 *                  "question", "answers": [{"text", "answer_start"}]}]}]}]}
 *   SEAL grouped:  [{"title", "context", "questions": [{"question", "answer"}]}]
 * Both become a flat list of passages; in the official form every paragraph is a
 * passage that carries its article's title. A question keeps all of its gold
 * answers (the official validation set has several per question). */
#ifndef SEAL_EVALUATOR_SQUAD_H
#define SEAL_EVALUATOR_SQUAD_H

#include <stddef.h>

#include "util/util.h"

typedef struct {
  char *id; /* the official form's "id"; NULL in the grouped form */
  char *question;
  char **answers; /* [n_answers] gold answer texts, n_answers >= 1 */
  int n_answers;
} seal_squad_question;

typedef struct {
  char *title;
  char *context;
  seal_squad_question *questions; /* [n_questions], n_questions >= 1 */
  int n_questions;
} seal_squad_passage;

typedef enum { SEAL_SQUAD_OFFICIAL, SEAL_SQUAD_GROUPED } seal_squad_form;

typedef struct {
  seal_squad_form form;         /* the form the input was in */
  seal_squad_passage *passages; /* [n_passages] */
  int n_passages;
} seal_squad;

/* Loads a file in either form. On bad input (unreadable file, invalid JSON with
 * jansson's line and column, a missing key, a wrong type, a question without a
 * gold answer) fills e with a message naming the file and the place, e.g.
 * "x.json: data[0].paragraphs[2].qas[1].question: expected a string, got a number",
 * and returns -1 leaving *out empty. */
int seal_squad_load(const char *path, seal_squad *out, seal_error *e);
/* The same from text in memory; `name` stands for the file in messages. */
int seal_squad_parse(const char *text, size_t len, const char *name, seal_squad *out,
                     seal_error *e);
void seal_squad_free(seal_squad *s);

/* Total number of questions over all passages. */
int seal_squad_n_questions(const seal_squad *s);

#endif
