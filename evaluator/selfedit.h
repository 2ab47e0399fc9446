/* evaluator/selfedit.h — a knowledge self-edit turned into inner-loop training
 * sequences, as the SEAL reference's build_train_sequences does:
 *
 *   - if the completion has "\nImplications:" (a chain-of-thought answer), only
 *     what follows it counts;
 *   - `---` splits the completion into segments (stripped, empty ones dropped; a
 *     completion of nothing but separators is empty, where the reference would
 *     train on its "---" lines);
 *   - with split_lines (the single-passage setting of the paper), every non-empty
 *     line (stripped) becomes its own sequence, and when the second line starts
 *     with "1." the first line is taken for a preamble ("Sure, here is a list:")
 *     and dropped; a self-QA completion ("Question N: ... Answer: ...") is split
 *     before each "Question N:" instead, so a question stays with its answer;
 *   - at most 30 sequences come from one self-edit;
 *   - every sequence is "{title}\n{text}", and the passage itself,
 *     "{title}\n{context}" (context stripped), is appended last when asked for. */
#ifndef SEAL_EVALUATOR_SELFEDIT_H
#define SEAL_EVALUATOR_SELFEDIT_H

#include <stdbool.h>

#define SEAL_SELFEDIT_MAX_SEQS 30

typedef struct {
  bool split_lines; /* one sequence per line (single passage); else one per `---` segment */
  bool add_passage; /* append "{title}\n{context}" as the last sequence */
} seal_selfedit_opts;

typedef struct {
  char **seqs; /* [n] training texts */
  int n;
  int n_from_selfedit; /* how many of seqs came from the self-edit (the first ones);
                          0 means the self-edit gave nothing to train on, which
                          scores zero */
} seal_train_seqs;

void seal_selfedit_sequences(const char *completion, const char *title, const char *context,
                             const seal_selfedit_opts *opts, seal_train_seqs *out);
void seal_train_seqs_free(seal_train_seqs *s);

#endif
