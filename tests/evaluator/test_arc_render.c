/* tests/evaluator/test_arc_render.c — messages and texts byte for byte as the
 * reference makes them (tests/fixtures/arc/render.json, selfedit.json), and the
 * loss boundary of the final assistant turn against the reference's token labels. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"
#include "evaluator/arc_fixtures.h"
#include "model/chat.h"
#include "model/tokenizer.h"

#define TEMPLATES "tests/fixtures/tokenizer/templates/"

/* The chat format detected from one of the repository's template files. */
static seal_chat_format format_of(const char *name) {
  char path[128];
  snprintf(path, sizeof path, TEMPLATES "%s.jinja", name);
  seal_error e;
  char *text = seal_read_file(path, NULL, &e);
  ck_assert_msg(text != NULL, "%s", e.msg);
  seal_chat_format f;
  ck_assert_int_ne(seal_chat_detect(text, &f), SEAL_CHAT_NONE);
  free(text);
  return f;
}

static seal_arc_problem problem_of(const json_t *c) {
  seal_arc_problem p;
  p.train = arc_pairs_of(json_object_get(c, "train"), &p.n_train);
  p.test = arc_pair_of(json_object_get(c, "test"));
  return p;
}

static void assert_messages(const seal_arc_messages *m, const json_t *want) {
  seal_chat_msg msgs[3];
  int n = seal_arc_chat_msgs(m, msgs);
  ck_assert_int_eq(n, (int)json_array_size(want));
  for (int i = 0; i < n; i++) {
    const json_t *w = json_array_get(want, (size_t)i);
    ck_assert_str_eq(msgs[i].role, json_string_value(json_object_get(w, "role")));
    ck_assert_str_eq(msgs[i].content, json_string_value(json_object_get(w, "content")));
  }
}

static const char *str_of(const json_t *c, const char *key) {
  return json_string_value(json_object_get(c, key));
}

START_TEST(messages_and_texts_are_the_references) {
  json_t *fx = arc_fixture("render.json");
  const char *date = str_of(fx, "date");
  seal_chat_format llama = format_of("llama3.2"), smol = format_of("smollm2");
  size_t i;
  const json_t *c;
  json_array_foreach(json_object_get(fx, "cases"), i, c) {
    seal_arc_problem p = problem_of(c);
    seal_arc_messages m;
    seal_arc_problem_messages(&p, true, &m);
    assert_messages(&m, json_object_get(c, "messages"));
    seal_error e;
    size_t from;
    char *train = seal_arc_train_text(&p, &llama, date, &from, &e);
    ck_assert_msg(train != NULL, "%s", e.msg);
    ck_assert_str_eq(train, str_of(c, "llama3.2_train"));
    /* the reference's training text is ours with the generation prompt after it */
    char *ref = seal_asprintf("%s<|start_header_id|>assistant<|end_header_id|>\n\n", train);
    ck_assert_str_eq(ref, str_of(c, "llama3.2_train_reference"));
    /* the text before the answer is the query text; what follows is the answer */
    char *query = seal_arc_query_text(&p, &llama, date, &e);
    ck_assert_str_eq(query, str_of(c, "llama3.2_query"));
    ck_assert_int_eq(from, strlen(query));
    char *tail = seal_asprintf("%s<|eot_id|>", m.assistant);
    ck_assert_str_eq(train + from, tail);
    free(train), free(ref), free(query), free(tail);

    train = seal_arc_train_text(&p, &smol, date, &from, &e);
    ck_assert_str_eq(train, str_of(c, "smollm2_train"));
    query = seal_arc_query_text(&p, &smol, date, &e);
    ck_assert_str_eq(query, str_of(c, "smollm2_query"));
    tail = seal_asprintf("%s<|im_end|>\n", m.assistant);
    ck_assert_int_eq(from, strlen(query));
    ck_assert_str_eq(train + from, tail);
    free(train), free(query), free(tail);

    /* a query carries no answer */
    seal_arc_messages_free(&m);
    seal_arc_problem_messages(&p, false, &m);
    ck_assert_ptr_null(m.assistant);
    seal_arc_messages_free(&m);
    seal_arc_problem_free(&p);
  }
  seal_chat_format_free(&llama);
  seal_chat_format_free(&smol);
  json_decref(fx);
}
END_TEST

static int32_t *ids_of(const json_t *arr, int *n) {
  *n = (int)json_array_size(arr);
  int32_t *ids = malloc((size_t)(*n ? *n : 1) * sizeof *ids);
  for (int i = 0; i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(arr, (size_t)i));
  return ids;
}

START_TEST(output_only_loss_is_the_final_assistant_turn) {
  json_t *fx = arc_fixture("render.json");
  seal_error e;
  seal_tokenizer *tok =
      seal_tokenizer_load_json("tests/fixtures/tokenizer/llama3/tokenizer.json", &e);
  ck_assert_msg(tok != NULL, "%s", e.msg);
  seal_chat_format llama = format_of("llama3.2");
  size_t i;
  const json_t *c;
  json_array_foreach(json_object_get(fx, "cases"), i, c) {
    const json_t *t = json_object_get(c, "tokens");
    seal_arc_problem p = problem_of(c);
    size_t from;
    char *text = seal_arc_train_text(&p, &llama, str_of(fx, "date"), &from, &e);
    int32_t *ids;
    int loss_from, n = seal_arc_tokenize(tok, text, from, false, &ids, &loss_from);
    /* tokenizing the two parts apart gives the ids of the whole text */
    int n_whole, n_ref, n_gen;
    int32_t *whole = ids_of(json_object_get(t, "seal_text_ids"), &n_whole);
    ck_assert_int_eq(n, n_whole);
    ck_assert(memcmp(ids, whole, (size_t)n * sizeof *ids) == 0);
    /* The reference labels from the token after the third of its four
     * (<|end_header_id|>, "\n\n") pairs: our final turn (the answer and
     * <|eot_id|>), then the generation prompt it appended. Its ids start with a
     * second <|begin_of_text|> (the tokenizer adds one to a text that has one). */
    int32_t *ref = ids_of(json_object_get(t, "reference_ids"), &n_ref);
    int32_t *gen = ids_of(json_object_get(t, "generation_prompt_ids"), &n_gen);
    int ref_from = (int)json_integer_value(json_object_get(t, "reference_label_start"));
    ck_assert_int_eq(n_ref, 1 + n + n_gen);
    ck_assert_int_eq(ref_from, 1 + loss_from);
    ck_assert(memcmp(ref + ref_from, ids + loss_from, (size_t)(n - loss_from) * sizeof *ids) == 0);
    ck_assert(memcmp(ref + 1 + n, gen, (size_t)n_gen * sizeof *gen) == 0);
    char *loss_text = seal_tokenizer_decode(tok, ids + loss_from, n - loss_from, 0);
    ck_assert_str_eq(loss_text, text + from);
    free(loss_text);
    free(ids);
    /* all tokens: every token but the first */
    n = seal_arc_tokenize(tok, text, from, true, &ids, &loss_from);
    ck_assert_int_eq(loss_from, 0);
    ck_assert_int_eq(n, n_whole);
    free(ids), free(whole), free(ref), free(gen), free(text);
    seal_arc_problem_free(&p);
  }
  seal_chat_format_free(&llama);
  seal_tokenizer_free(tok);
  json_decref(fx);
}
END_TEST

START_TEST(selfedit_prompt_is_the_references) {
  json_t *fx = arc_fixture("selfedit.json");
  ck_assert_str_eq(seal_arc_system_message, str_of(fx, "system_message"));
  ck_assert_str_eq(seal_arc_selfedit_instruction, str_of(fx, "self_edit_prompt"));
  seal_chat_format llama30 = format_of("llama3.0");
  size_t i;
  const json_t *c;
  json_array_foreach(json_object_get(fx, "cases"), i, c) {
    seal_arc_task t = {0};
    t.train = arc_pairs_of(json_object_get(c, "train"), &t.n_train);
    seal_arc_messages m;
    seal_arc_selfedit_messages(&t, &m);
    assert_messages(&m, json_object_get(c, "messages"));
    seal_chat_msg msgs[3];
    int n = seal_arc_chat_msgs(&m, msgs);
    seal_error e;
    char *text = seal_chat_render(&llama30, msgs, n, true, NULL, &e);
    ck_assert_str_eq(text, str_of(c, "llama3.0"));
    /* get_prompt writes the same turns by hand but does not trim the user's
     * content, which ends in a newline: the one byte between the two */
    const char *ref = str_of(c, "reference_prompt");
    const char *eot = strstr(strstr(text, "<|eot_id|>") + 1, "<|eot_id|>");
    size_t k = (size_t)(eot - text);
    ck_assert_int_eq(strlen(ref), strlen(text) + 1);
    ck_assert(strncmp(ref, text, k) == 0 && ref[k] == '\n' && strcmp(ref + k + 1, text + k) == 0);
    free(text);
    seal_arc_messages_free(&m);
    arc_pairs_free(t.train, t.n_train);
  }
  seal_chat_format_free(&llama30);
  json_decref(fx);
}
END_TEST

START_TEST(grid_text_is_numpys) {
  const char *one[] = {"5"}, *row[] = {"123"}, *col[] = {"1", "2"};
  struct {
    seal_arc_grid g;
    const char *want;
  } cases[] = {{arc_grid_of(1, one), "[[5]]"},
               {arc_grid_of(1, row), "[[1 2 3]]"},
               {arc_grid_of(2, col), "[[1]\n [2]]"}};
  for (int i = 0; i < 3; i++) {
    char *t = seal_arc_grid_text(&cases[i].g);
    ck_assert_str_eq(t, cases[i].want);
    free(t);
    seal_arc_grid_free(&cases[i].g);
  }
}
END_TEST

START_TEST(messages_json_for_show) {
  const char *a[] = {"12"}, *b[] = {"3"};
  seal_arc_problem p = {NULL, 0, {arc_grid_of(1, a), arc_grid_of(1, b)}};
  seal_arc_messages m;
  seal_arc_problem_messages(&p, true, &m);
  char *j = seal_arc_messages_json(&m);
  ck_assert_str_eq(j,
                   "[{\"role\":\"system\",\"content\":\"Figure out the underlying transformation "
                   "in the following examples and apply it to the test case. Here are some "
                   "examples from this transformation, your answer must follow the format.\\nThe "
                   "input-output grids are provided as python arrays:\\n\"},{\"role\":\"user\","
                   "\"content\":\"[[1 2]] -> \"},{\"role\":\"assistant\",\"content\":\"[[3]]#\"}]");
  free(j);
  seal_arc_messages_free(&m);
  seal_arc_problem_free(&p);
}
END_TEST

Suite *arc_render_suite(void) {
  Suite *s = suite_create("arc_render");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, messages_and_texts_are_the_references);
  tcase_add_test(tc, output_only_loss_is_the_final_assistant_turn);
  tcase_add_test(tc, selfedit_prompt_is_the_references);
  tcase_add_test(tc, grid_text_is_numpys);
  tcase_add_test(tc, messages_json_for_show);
  suite_add_tcase(s, tc);
  return s;
}
