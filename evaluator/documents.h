/* evaluator/documents.h — a user's own files as documents for `seal learn`
 * (issue 13): the passages a policy writes self-edits for when no questions
 * come with them.
 *
 *   *.json        SQuAD (official v1.1 or SEAL's grouped form): each passage is a
 *                 document (its title, its context)
 *   anything else plain text or Markdown: the whole file is one document, titled
 *                 by its first Markdown heading ("# Title") or else its file name
 *                 without the extension
 *
 * A document longer than the budget (in tokens, counted by the caller's
 * function: the model's tokenizer, so the self-edit prompt fits the context
 * window) is split into parts on paragraph boundaries (blank lines), packing
 * whole paragraphs greedily in order; a paragraph longer than the budget on its
 * own is split at line ends, then sentence ends (". ", "! ", "? "), then
 * whitespace, and only as a last resort inside a word. Parts keep the
 * document's title and say which part they are.
 *
 * Refused with an error naming the file: a file that cannot be read or is not a
 * regular file, a file with no text (empty or only whitespace), bytes that are
 * not valid UTF-8 (with the byte offset of the first one), and SQuAD JSON that
 * does not parse (evaluator/squad.h's messages). */
#ifndef SEAL_EVALUATOR_DOCUMENTS_H
#define SEAL_EVALUATOR_DOCUMENTS_H

#include "util/util.h"

typedef struct {
  char *source; /* the file it came from */
  char *title;
  char *text;  /* the document (or this part of it), stripped */
  int part;    /* 0-based part of a split document */
  int n_parts; /* 1 when it was not split */
} seal_document;

/* Counts the tokens of text (e.g. through a model's tokenizer). */
typedef int (*seal_token_count_fn)(void *user, const char *text);

typedef struct {
  seal_document *docs;
  int n;
} seal_documents;

/* Appends the documents of one file to out (in file order); max_tokens <= 0 or
 * count NULL means no splitting. On error fills e and leaves out as it was. */
int seal_documents_load(const char *path, int max_tokens, seal_token_count_fn count, void *user,
                        seal_documents *out, seal_error *e);
void seal_documents_free(seal_documents *d);

/* The byte offset of the first byte of s [n] that is not valid UTF-8, or -1
 * when all of it is. */
long seal_utf8_first_invalid(const char *s, size_t n);

#endif
