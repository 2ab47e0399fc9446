/* tests/evaluator/test_arc_selfedit.c — the self-edit's tool configuration: valid,
 * embedded in text, malformed, wrong types, out of range, and random bytes. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"

#define CONFIG(dg, tr) "{\"data_generation\": {" dg "}, \"training\": {" tr "}}"
#define DG_OK                                                              \
  "\"use_basic_augmentations\": true, \"use_size_augmentations\": false, " \
  "\"use_chain_augmentations\": true, \"use_repeat_augmentations\": false"
#define TR_OK \
  "\"strategy\": \"train_using_output_tokens\", \"learning_rate\": 1e-4, \"num_train_epochs\": 3"

/* A self-edit as the reference's prompt asks for it, pretty-printed. */
static const char valid[] =
    "{\n"
    "  \"data_generation\": {\n"
    "    \"use_basic_augmentations\": true,\n"
    "    \"use_size_augmentations\": false,\n"
    "    \"use_chain_augmentations\": true,\n"
    "    \"use_repeat_augmentations\": false\n"
    "  },\n"
    "  \"training\": {\n"
    "    \"strategy\": \"train_using_output_tokens\",\n"
    "    \"learning_rate\": 0.0001,\n"
    "    \"num_train_epochs\": 3\n"
    "  }\n"
    "}";

static void assert_valid_config(const seal_arc_config *c) {
  ck_assert(c->groups.basic && !c->groups.size && c->groups.chain && !c->groups.repeat);
  ck_assert(!c->all_tokens);
  ck_assert_double_eq_tol(c->lr, 1e-4, 1e-18);
  ck_assert_int_eq(c->epochs, 3);
}

START_TEST(valid_selfedit_parses) {
  seal_arc_config c;
  char why[192];
  ck_assert_msg(seal_arc_config_parse(valid, SEAL_ARC_JSON_WHOLE, &c, why, sizeof why), "%s", why);
  assert_valid_config(&c);
  ck_assert_str_eq(why, "");
  /* whitespace around the object is what json.loads allows too */
  char *padded = seal_asprintf(" \n\t%s\r\n ", valid);
  ck_assert(seal_arc_config_parse(padded, SEAL_ARC_JSON_WHOLE, &c, why, sizeof why));
  free(padded);
  /* keys in another order, extra keys ignored, all tokens, an integer learning rate */
  const char *other =
      "{\"training\": {\"num_train_epochs\": 1, \"learning_rate\": 1, \"strategy\": "
      "\"train_using_all_tokens\", \"note\": [1, {\"x\": 2}]}, \"data_generation\": {"
      "\"use_repeat_augmentations\": true, \"use_chain_augmentations\": false, "
      "\"use_size_augmentations\": true, \"use_basic_augmentations\": false}, \"extra\": null}";
  ck_assert_msg(seal_arc_config_parse(other, SEAL_ARC_JSON_WHOLE, &c, why, sizeof why), "%s", why);
  ck_assert(!c.groups.basic && c.groups.size && !c.groups.chain && c.groups.repeat);
  ck_assert(c.all_tokens && c.lr == 1.0 && c.epochs == 1);
  /* 3.0 is three epochs: JSON has one number type */
  ck_assert(seal_arc_config_parse(CONFIG(DG_OK,
                                         "\"strategy\": \"train_using_output_tokens\", "
                                         "\"learning_rate\": 5e-5, \"num_train_epochs\": 3.0"),
                                  SEAL_ARC_JSON_WHOLE, &c, why, sizeof why));
  ck_assert_int_eq(c.epochs, 3);
}
END_TEST

START_TEST(embedded_object_is_found_only_when_asked) {
  const char *texts[] = {
      "Sure! Here is the configuration:\n%s\nGood luck.",
      "```json\n%s\n```",
      "{not json} then {\"a\": \"}\"} is an object but not a config... %s",
  };
  for (int i = 0; i < 3; i++) {
    char *t = seal_asprintf(texts[i], valid);
    seal_arc_config c;
    char why[192];
    ck_assert(!seal_arc_config_parse(t, SEAL_ARC_JSON_WHOLE, &c, why, sizeof why));
    ck_assert_msg(strncmp(why, "not valid JSON: ", 16) == 0, "%s", why);
    bool ok = seal_arc_config_parse(t, SEAL_ARC_JSON_EMBEDDED, &c, why, sizeof why);
    if (i < 2) {
      ck_assert_msg(ok, "%d: %s", i, why);
      assert_valid_config(&c);
    } else {
      /* the first balanced object that parses is {"a": "}"} (the brace inside
       * the string does not close it), and it is not a configuration */
      ck_assert(!ok);
      ck_assert_str_eq(why, "data_generation: missing");
    }
    free(t);
  }
  seal_arc_config c;
  char why[192];
  ck_assert(
      !seal_arc_config_parse("no braces at all", SEAL_ARC_JSON_EMBEDDED, &c, why, sizeof why));
  ck_assert_str_eq(why, "no JSON object in the text");
  ck_assert(!seal_arc_config_parse("{\"data_generation\": {", SEAL_ARC_JSON_EMBEDDED, &c, why,
                                   sizeof why));
  ck_assert_str_eq(why, "no JSON object in the text");
}
END_TEST

/* Parses text (whole) and asserts it fails with exactly this reason. */
static void assert_reason(const char *text, const char *want) {
  seal_arc_config c = {{true, true, true, true}, true, 0.5, 7};
  char why[192];
  ck_assert_msg(!seal_arc_config_parse(text, SEAL_ARC_JSON_WHOLE, &c, why, sizeof why), "%s", text);
  ck_assert_str_eq(why, want);
  ck_assert(c.lr == 0.5 && c.epochs == 7); /* untouched on failure */
}

START_TEST(malformed_text_gives_its_reason) {
  assert_reason("", "not valid JSON: unexpected token near end of file (line 1, column 0)");
  assert_reason("{", "not valid JSON: string or '}' expected near end of file (line 1, column 1)");
  assert_reason("{\"data_generation\": {\"use_basic_augmentations\": true,}}",
                "not valid JSON: string or '}' expected near '}' (line 1, column 54)");
  assert_reason("[1, 2]", "expected a JSON object, got an array");
  assert_reason("\"use_basic_augmentations\"", "expected a JSON object, got a string");
  assert_reason("{\"training\": {\"learning_rate\": NaN}}",
                "not valid JSON: invalid token near 'NaN' (line 1, column 34)");
  assert_reason("{}", "data_generation: missing");
  assert_reason("{\"data_generation\": []}", "data_generation: expected an object, got an array");
  assert_reason(CONFIG("\"use_basic_augmentations\": true", TR_OK),
                "data_generation.use_size_augmentations: missing");
  assert_reason("{\"data_generation\": {" DG_OK "}}", "training: missing");
  assert_reason(CONFIG(DG_OK, "\"strategy\": \"train_using_all_tokens\", \"num_train_epochs\": 2"),
                "training.learning_rate: missing");
}
END_TEST

START_TEST(wrong_types_are_refused) {
  assert_reason(CONFIG("\"use_basic_augmentations\": \"true\", \"use_size_augmentations\": false, "
                       "\"use_chain_augmentations\": true, \"use_repeat_augmentations\": false",
                       TR_OK),
                "data_generation.use_basic_augmentations: expected true or false, got a string");
  assert_reason(CONFIG("\"use_basic_augmentations\": true, \"use_size_augmentations\": 0, "
                       "\"use_chain_augmentations\": true, \"use_repeat_augmentations\": false",
                       TR_OK),
                "data_generation.use_size_augmentations: expected true or false, got a number");
  assert_reason(CONFIG(DG_OK,
                       "\"strategy\": \"train_using_some_tokens\", \"learning_rate\": 1e-4, "
                       "\"num_train_epochs\": 3"),
                "training.strategy: expected \"train_using_all_tokens\" or "
                "\"train_using_output_tokens\", got \"train_using_some_tokens\"");
  assert_reason(CONFIG(DG_OK, "\"strategy\": 1, \"learning_rate\": 1e-4, \"num_train_epochs\": 3"),
                "training.strategy: expected \"train_using_all_tokens\" or "
                "\"train_using_output_tokens\", got a number");
  assert_reason(CONFIG(DG_OK,
                       "\"strategy\": \"train_using_all_tokens\", \"learning_rate\": "
                       "\"1e-4\", \"num_train_epochs\": 3"),
                "training.learning_rate: expected a number, got a string");
  assert_reason(CONFIG(DG_OK,
                       "\"strategy\": \"train_using_all_tokens\", \"learning_rate\": true, "
                       "\"num_train_epochs\": 3"),
                "training.learning_rate: expected a number, got a boolean");
  assert_reason(CONFIG(DG_OK,
                       "\"strategy\": \"train_using_all_tokens\", \"learning_rate\": 1e-4, "
                       "\"num_train_epochs\": \"3\""),
                "training.num_train_epochs: expected an integer, got a string");
  assert_reason(CONFIG(DG_OK,
                       "\"strategy\": \"train_using_all_tokens\", \"learning_rate\": 1e-4, "
                       "\"num_train_epochs\": 3.5"),
                "training.num_train_epochs: expected an integer, got 3.5");
}
END_TEST

START_TEST(out_of_range_is_refused) {
  assert_reason(CONFIG(DG_OK,
                       "\"strategy\": \"train_using_all_tokens\", \"learning_rate\": 0, "
                       "\"num_train_epochs\": 3"),
                "training.learning_rate: 0 is outside (0, 1]");
  assert_reason(CONFIG(DG_OK,
                       "\"strategy\": \"train_using_all_tokens\", \"learning_rate\": -1e-4, "
                       "\"num_train_epochs\": 3"),
                "training.learning_rate: -0.0001 is outside (0, 1]");
  assert_reason(CONFIG(DG_OK,
                       "\"strategy\": \"train_using_all_tokens\", \"learning_rate\": 2.5, "
                       "\"num_train_epochs\": 3"),
                "training.learning_rate: 2.5 is outside (0, 1]");
  assert_reason(CONFIG(DG_OK,
                       "\"strategy\": \"train_using_all_tokens\", \"learning_rate\": 1e400, "
                       "\"num_train_epochs\": 3"),
                "not valid JSON: real number overflow near '1e400' (line 1, column 229)");
  assert_reason(CONFIG(DG_OK,
                       "\"strategy\": \"train_using_all_tokens\", \"learning_rate\": 1e-4, "
                       "\"num_train_epochs\": 0"),
                "training.num_train_epochs: 0 is outside 1..1000");
  assert_reason(CONFIG(DG_OK,
                       "\"strategy\": \"train_using_all_tokens\", \"learning_rate\": 1e-4, "
                       "\"num_train_epochs\": 1001"),
                "training.num_train_epochs: 1001 is outside 1..1000");
  assert_reason(CONFIG(DG_OK,
                       "\"strategy\": \"train_using_all_tokens\", \"learning_rate\": 1e-4, "
                       "\"num_train_epochs\": -2.0"),
                "training.num_train_epochs: -2 is outside 1..1000");
}
END_TEST

START_TEST(random_bytes_never_crash) {
  seal_rng r;
  seal_rng_seed(&r, 2024);
  char buf[400];
  int n_ok = 0;
  for (int trial = 0; trial < 4000; trial++) {
    int len = seal_arc_rand_below(&r, (int)sizeof buf);
    if (trial % 2) {
      /* a valid self-edit with a few bytes changed */
      len = (int)strlen(valid);
      memcpy(buf, valid, (size_t)len);
      for (int k = 1 + seal_arc_rand_below(&r, 3); k > 0; k--)
        buf[seal_arc_rand_below(&r, len)] = (char)(1 + seal_arc_rand_below(&r, 255));
    } else {
      for (int i = 0; i < len; i++) buf[i] = (char)(1 + seal_arc_rand_below(&r, 255));
    }
    buf[len] = 0;
    for (int mode = 0; mode < 2; mode++) {
      seal_arc_config c;
      char why[192];
      if (seal_arc_config_parse(buf, (seal_arc_json_mode)mode, &c, why, sizeof why)) {
        ck_assert(c.lr > 0 && c.lr <= 1 && c.epochs >= 1 && c.epochs <= 1000);
        n_ok++;
      } else {
        ck_assert(why[0] != 0);
      }
    }
  }
  ck_assert_int_gt(n_ok, 0); /* some changed bytes hit only whitespace or a digit */
  seal_arc_config c;
  ck_assert(!seal_arc_config_parse(NULL, SEAL_ARC_JSON_WHOLE, &c, NULL, 0)); /* no reason buffer */
}
END_TEST

START_TEST(canonical_json_round_trips_and_the_guard_counts_steps) {
  seal_arc_config c = {{true, false, true, true}, false, 3e-4, 7}, back;
  char *j = seal_arc_config_json(&c);
  ck_assert_str_eq(j,
                   "{\"data_generation\":{\"use_basic_augmentations\":true,"
                   "\"use_size_augmentations\":false,\"use_chain_augmentations\":true,"
                   "\"use_repeat_augmentations\":true},\"training\":{\"strategy\":"
                   "\"train_using_output_tokens\",\"learning_rate\":0.0003,"
                   "\"num_train_epochs\":7}}");
  char why[192];
  ck_assert(seal_arc_config_parse(j, SEAL_ARC_JSON_WHOLE, &back, why, sizeof why));
  ck_assert(memcmp(&back.groups, &c.groups, sizeof c.groups) == 0);
  ck_assert(back.all_tokens == c.all_tokens && back.lr == c.lr && back.epochs == c.epochs);
  free(j);
  /* the reference: num_train_epochs * len(train_data) // 2 > 375 trains nothing */
  ck_assert_int_eq(seal_arc_guard_steps(&c, 107, 2), 374); /* 7 * 107 // 2 */
  ck_assert_int_eq(seal_arc_guard_steps(&c, 108, 2), 378);
  c.epochs = 3;
  ck_assert_int_eq(seal_arc_guard_steps(&c, 250, 2), 375); /* at the limit: allowed */
}
END_TEST

Suite *arc_selfedit_suite(void) {
  Suite *s = suite_create("arc_selfedit");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, valid_selfedit_parses);
  tcase_add_test(tc, embedded_object_is_found_only_when_asked);
  tcase_add_test(tc, malformed_text_gives_its_reason);
  tcase_add_test(tc, wrong_types_are_refused);
  tcase_add_test(tc, out_of_range_is_refused);
  tcase_add_test(tc, random_bytes_never_crash);
  tcase_add_test(tc, canonical_json_round_trips_and_the_guard_counts_steps);
  suite_add_tcase(s, tc);
  return s;
}
