/* tests/model/test_chat.c — chat templates against transformers'
 * apply_chat_template (tests/fixtures/tokenizer/chat.json, from
 * tests/golden/make_tokenizer.py), template detection, and errors. */
#include <check.h>
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "model/chat.h"
#include "model/tokenizer.h"
#include "util/util.h"

#define FIX "tests/fixtures/tokenizer/"

static char *read_template(const char *name) {
  char *path = seal_asprintf(FIX "templates/%s.jinja", name);
  seal_error e = {{0}};
  char *text = seal_read_file(path, NULL, &e);
  ck_assert_msg(text != NULL, "%s", e.msg);
  free(path);
  return text;
}

START_TEST(golden_renders_match_transformers) {
  json_error_t jerr;
  json_t *cases = json_load_file(FIX "chat.json", 0, &jerr);
  ck_assert_msg(cases != NULL, "chat.json:%d: %s", jerr.line, jerr.text);
  ck_assert_int_ge(json_array_size(cases), 30);
  size_t i;
  json_t *c;
  json_array_foreach(cases, i, c) {
    const char *name = json_string_value(json_object_get(c, "template"));
    char *tmpl = read_template(name);
    seal_chat_format f;
    ck_assert_int_ne(seal_chat_detect(tmpl, &f), SEAL_CHAT_NONE);
    const json_t *messages = json_object_get(c, "messages");
    int n = (int)json_array_size(messages);
    seal_chat_msg *msgs = seal_calloc((size_t)n, sizeof *msgs);
    for (int k = 0; k < n; k++) {
      const json_t *m = json_array_get(messages, (size_t)k);
      msgs[k].role = json_string_value(json_object_get(m, "role"));
      msgs[k].content = json_string_value(json_object_get(m, "content"));
    }
    seal_error e = {{0}};
    char *text = seal_chat_render(
        &f, msgs, n, json_is_true(json_object_get(c, "add_generation_prompt")), "26 Jul 2024", &e);
    ck_assert_msg(text != NULL, "%s case %zu: %s", name, i, e.msg);
    const char *want = json_string_value(json_object_get(c, "expected"));
    ck_assert_msg(strcmp(text, want) == 0, "%s case %zu:\n got: %s\nwant: %s", name, i, text, want);
    free(text);
    free(msgs);
    seal_chat_format_free(&f);
    free(tmpl);
  }
  json_decref(cases);
}
END_TEST

START_TEST(detect_reads_markers_and_default_system) {
  seal_chat_format f;
  char *t = read_template("llama3.2");
  ck_assert_int_eq(seal_chat_detect(t, &f), SEAL_CHAT_LLAMA3);
  ck_assert(f.date_header);
  ck_assert_ptr_null(f.default_system);
  free(t);

  t = read_template("llama3.0");
  ck_assert_int_eq(seal_chat_detect(t, &f), SEAL_CHAT_LLAMA3);
  ck_assert(!f.date_header);
  free(t);

  t = read_template("qwen2.5");
  ck_assert_int_eq(seal_chat_detect(t, &f), SEAL_CHAT_CHATML);
  ck_assert_str_eq(f.default_system,
                   "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  seal_chat_format_free(&f);
  free(t);

  t = read_template("smollm2");
  ck_assert_int_eq(seal_chat_detect(t, &f), SEAL_CHAT_CHATML);
  ck_assert_str_eq(f.default_system,
                   "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  seal_chat_format_free(&f);
  free(t);

  /* ChatML without a default system message (and an escaped quote in a literal). */
  ck_assert_int_eq(seal_chat_detect("{% for m in messages %}{{'<|im_start|>' + m['role'] + "
                                    "'\\n' + m['content'] + '<|im_end|>\\n'}}{% endfor %}",
                                    &f),
                   SEAL_CHAT_CHATML);
  ck_assert_ptr_null(f.default_system);
  ck_assert_int_eq(seal_chat_detect("{{ '<|im_start|>system\\nYou\\'re helpful.<|im_end|>\\n' }}"
                                    "<|im_start|>",
                                    &f),
                   SEAL_CHAT_CHATML);
  ck_assert_str_eq(f.default_system, "You're helpful.");
  seal_chat_format_free(&f);

  ck_assert_int_eq(seal_chat_detect("[INST] {{ content }} [/INST]", &f), SEAL_CHAT_NONE);
  ck_assert_int_eq(seal_chat_detect(NULL, NULL), SEAL_CHAT_NONE);
}
END_TEST

START_TEST(render_errors) {
  seal_chat_format f = {SEAL_CHAT_CHATML, false, NULL};
  seal_error e = {{0}};
  seal_chat_msg tool[] = {{"user", "hi"}, {"tool", "{}"}};
  ck_assert_ptr_null(seal_chat_render(&f, tool, 2, true, NULL, &e));
  ck_assert_msg(strstr(e.msg, "\"tool\"") != NULL, "%s", e.msg);
  ck_assert_ptr_null(seal_chat_render(&f, tool, 0, true, NULL, &e));
  ck_assert_msg(strstr(e.msg, "empty") != NULL, "%s", e.msg);
  f.style = SEAL_CHAT_NONE;
  ck_assert_ptr_null(seal_chat_render(&f, tool, 1, true, NULL, &e));
}
END_TEST

START_TEST(default_date_is_today_format) {
  seal_chat_format f = {SEAL_CHAT_LLAMA3, true, NULL};
  seal_chat_msg msgs[] = {{"user", "hi"}};
  seal_error e = {{0}};
  char *text = seal_chat_render(&f, msgs, 1, false, NULL, &e);
  ck_assert_ptr_nonnull(text);
  const char *d = strstr(text, "Today Date: ");
  ck_assert_ptr_nonnull(d);
  d += strlen("Today Date: ");
  /* "%d %b %Y": two digits, space, three letters, space, four digits. */
  ck_assert(isdigit((unsigned char)d[0]) && isdigit((unsigned char)d[1]) && d[2] == ' ');
  ck_assert(isupper((unsigned char)d[3]) && islower((unsigned char)d[4]) && d[6] == ' ');
  ck_assert(isdigit((unsigned char)d[7]) && isdigit((unsigned char)d[10]) && d[11] == '\n');
  free(text);
}
END_TEST

/* The rendered text tokenizes with the special tokens as single ids. */
START_TEST(rendered_text_tokenizes_specials) {
  seal_error e = {{0}};
  seal_tokenizer *t = seal_tokenizer_load_json(FIX "llama3/tokenizer.json", &e);
  ck_assert_msg(t != NULL, "%s", e.msg);
  seal_chat_format f;
  ck_assert_int_eq(seal_chat_detect(seal_tokenizer_chat_template(t), &f), SEAL_CHAT_LLAMA3);
  seal_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "What is the capital of France?"}};
  char *text = seal_chat_render(&f, msgs, 2, true, "26 Jul 2024", &e);
  int32_t *ids = NULL;
  int n = seal_tokenizer_encode(t, text, &ids);
  ck_assert_int_gt(n, 10);
  ck_assert_int_eq(ids[0], seal_tokenizer_bos_id(t));
  int eot = seal_tokenizer_token_id(t, "<|eot_id|>"), n_eot = 0;
  for (int i = 0; i < n; i++) n_eot += ids[i] == eot;
  ck_assert_int_eq(n_eot, 2);
  char *back = seal_tokenizer_decode(t, ids, n, 0);
  ck_assert_str_eq(back, text);
  free(back);
  free(ids);
  free(text);
  seal_tokenizer_free(t);
}
END_TEST

Suite *chat_suite(void) {
  Suite *s = suite_create("chat");
  TCase *tc = tcase_create("chat");
  tcase_add_test(tc, golden_renders_match_transformers);
  tcase_add_test(tc, detect_reads_markers_and_default_system);
  tcase_add_test(tc, render_errors);
  tcase_add_test(tc, default_date_is_today_format);
  tcase_add_test(tc, rendered_text_tokenizes_specials);
  suite_add_tcase(s, tc);
  return s;
}
