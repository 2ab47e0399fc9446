/* model/chat.h — chat templates, rendered in C for the template families seal's
 * models use, byte-for-byte as transformers' apply_chat_template renders their
 * Jinja text (tests/golden/make_tokenizer.py checks this):
 *
 *   Llama-3 instruct   <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\n
 *                      content|trim<|eot_id|>... Llama-3.1/3.2 add a system header
 *                      "Cutting Knowledge Date: December 2023\nToday Date: <date>\n\n"
 *                      that holds the (trimmed) system message; Llama-3.0 does not.
 *   ChatML             <|im_start|>role\ncontent<|im_end|>\n... with a default
 *                      system message when the conversation does not start with
 *                      one (Qwen2.5: "You are Qwen, created by Alibaba Cloud. You
 *                      are a helpful assistant."; SmolLM2: "You are a helpful AI
 *                      assistant named SmolLM, trained by Hugging Face").
 *
 * Only the roles system, user and assistant are rendered (no tool calls). */
#ifndef SEAL_MODEL_CHAT_H
#define SEAL_MODEL_CHAT_H

#include <stdbool.h>

#include "util/util.h"

typedef enum {
  SEAL_CHAT_NONE = 0, /* not a template family seal knows */
  SEAL_CHAT_LLAMA3,
  SEAL_CHAT_CHATML,
} seal_chat_style;

typedef struct {
  seal_chat_style style;
  bool date_header;     /* LLAMA3: the Llama-3.1+ system header with the dates */
  char *default_system; /* CHATML: inserted when messages[0] is not system; NULL: none */
} seal_chat_format;

typedef struct {
  const char *role; /* "system", "user" or "assistant" */
  const char *content;
} seal_chat_msg;

/* Detects the family of a Jinja chat template (tokenizer_config.json's
 * chat_template or GGUF's tokenizer.chat_template) by its markers:
 * "<|start_header_id|>" is Llama-3 (with the date header when the template says
 * "Cutting Knowledge Date"), "<|im_start|>" is ChatML, whose default system
 * message is the literal the template writes after "<|im_start|>system\n" and
 * before "<|im_end|>", if it writes one. Fills *f when f is not NULL (release it
 * with seal_chat_format_free). NULL template_text gives SEAL_CHAT_NONE. */
seal_chat_style seal_chat_detect(const char *template_text, seal_chat_format *f);
void seal_chat_format_free(seal_chat_format *f);

/* Renders a conversation of n >= 1 messages as text (malloc'd), ending with the
 * assistant's header when add_generation_prompt. date_string is what Llama-3.1+
 * templates show as "Today Date" (e.g. "26 Jul 2024"); NULL means today, as
 * transformers' strftime_now("%d %b %Y") gives. NULL with e filled for an empty
 * conversation, an unsupported role, or style NONE. */
char *seal_chat_render(const seal_chat_format *f, const seal_chat_msg *msgs, int n,
                       bool add_generation_prompt, const char *date_string, seal_error *e);

#endif
