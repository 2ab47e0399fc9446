/* evaluator/prompts.h — the knowledge-incorporation prompts, verbatim from the SEAL
 * reference code (general-knowledge/src/data_generation/make_squad_data.py and
 * general-knowledge/src/utils.py). Rendered as plain completions: no chat
 * template, as the paper does with Qwen2.5-7B base. */
#ifndef SEAL_EVALUATOR_PROMPTS_H
#define SEAL_EVALUATOR_PROMPTS_H

typedef enum {
  SEAL_PROMPT_IMPLICATIONS, /* the paper's default */
  SEAL_PROMPT_IMPLICATIONS_LONG,
  SEAL_PROMPT_IMPLICATIONS_VERY_LONG,
  SEAL_PROMPT_REWRITE,
  SEAL_PROMPT_SELF_QA,
  SEAL_PROMPT_N_VARIANTS
} seal_prompt_variant;

/* "implications", "implications-long", "implications-very-long", "rewrite", "self-qa". */
const char *seal_prompt_variant_name(seal_prompt_variant v);
/* Parses a variant name; -1 when unknown. */
int seal_prompt_variant_parse(const char *name, seal_prompt_variant *out);

/* The self-edit prompt for a passage, e.g. for implications:
 * "Let's read the following passage and produce a list of implications derived
 * directly or indirectly from the content.\n\nPassage:\n{title}\n{context}\n\n
 * Implications:\n". Caller frees. */
char *seal_prompt_selfedit(seal_prompt_variant v, const char *title, const char *context);

/* The answering prompt: "Let's answer a question directly and concisely.\n
 * Question: Topic: {title}\n{question}\nAnswer:\n". Caller frees. */
char *seal_prompt_answer(const char *title, const char *question);

/* The grading prompt the paper sends to GPT-4.1, for a local judge model; the
 * question is shown as the answering prompt shows it ("Topic: {title}\n{question}")
 * and the prediction is stripped of surrounding whitespace, as the reference
 * does. The judge is asked for 'yes' or 'no'. Caller frees. */
char *seal_prompt_judge(const char *title, const char *question, const char *gold,
                        const char *prediction);

#endif
