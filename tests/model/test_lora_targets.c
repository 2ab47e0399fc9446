/* tests/model/test_lora_targets.c — the one table of LoRA target names
 * (model/lora.c): short and PEFT names, the list parser and its errors, the
 * format that parses back, PEFT tensor names, and the rank and targets read off
 * a PEFT tensor set. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "model/lora.h"

static unsigned parse_ok(const char *list) {
  unsigned mask = 0;
  char err[256] = "";
  ck_assert_msg(seal_lora_targets_parse(list, &mask, err, sizeof err) == 0, "'%s': %s", list, err);
  return mask;
}

static void parse_fails(const char *list, const char *want) {
  unsigned mask = 0;
  char err[256] = "";
  ck_assert_int_eq(seal_lora_targets_parse(list, &mask, err, sizeof err), -1);
  ck_assert_msg(strstr(err, want), "'%s': got \"%s\", want \"%s\"", list, err, want);
}

START_TEST(names_and_lists) {
  ck_assert_str_eq(seal_lora_target_short(SEAL_LORA_GATE), "gate");
  ck_assert_str_eq(seal_lora_target_name(SEAL_LORA_GATE), "gate_proj");
  ck_assert_int_eq(seal_lora_target_parse("down"), SEAL_LORA_DOWN);
  ck_assert_int_eq(seal_lora_target_parse("down_proj"), SEAL_LORA_DOWN);
  ck_assert_int_eq(seal_lora_target_parse("dow"), -1);
  ck_assert_int_eq(seal_lora_target_parse("q_pro"), -1);
  ck_assert_uint_eq(parse_ok("q,v"), SEAL_LORA_BIT(SEAL_LORA_Q) | SEAL_LORA_BIT(SEAL_LORA_V));
  ck_assert_uint_eq(parse_ok("q_proj, v_proj"), parse_ok("v,q"));
  ck_assert_uint_eq(parse_ok("all"), SEAL_LORA_ALL_TARGETS);
  ck_assert_uint_eq(SEAL_LORA_ALL_TARGETS, 0x7fu);
  parse_fails("q,x", "unknown LoRA target \"x\" (one of: q, k, v, o, gate, up, down)");
  parse_fails("q,q_proj", "target \"q_proj\" is listed twice");
  parse_fails("", "needs at least one target");
  parse_fails("q,,v", "unknown LoRA target \"\"");
  parse_fails("q v", "unknown LoRA target \"q v\"");
}
END_TEST

/* Every mask formats to short names that parse back to it. */
START_TEST(format_parses_back) {
  char buf[SEAL_LORA_TARGETS_TEXT];
  ck_assert_str_eq(seal_lora_targets_format(SEAL_LORA_ALL_TARGETS, buf, sizeof buf),
                   "q, k, v, o, gate, up, down");
  ck_assert_str_eq(seal_lora_targets_format(0, buf, sizeof buf), "");
  for (unsigned mask = 1; mask <= SEAL_LORA_ALL_TARGETS; mask++)
    ck_assert_uint_eq(parse_ok(seal_lora_targets_format(mask, buf, sizeof buf)), mask);
}
END_TEST

START_TEST(peft_names) {
  for (int t = 0; t < SEAL_LORA_N_TARGETS; t++) {
    char *name = seal_lora_peft_name(3, (seal_lora_target)t, 'B');
    int layer = -1;
    seal_lora_target back = SEAL_LORA_N_TARGETS;
    char which = 0;
    ck_assert_int_eq(seal_lora_peft_name_parse(name, &layer, &back, &which), 0);
    ck_assert_int_eq(layer, 3);
    ck_assert_int_eq(back, t);
    ck_assert_int_eq(which, 'B');
    free(name);
  }
  char *q = seal_lora_peft_name(0, SEAL_LORA_Q, 'A');
  ck_assert_str_eq(q, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  free(q);
  int layer;
  seal_lora_target t;
  char which;
  /* the wrong block, a short name, a third matrix, a trailing suffix */
  const char *bad[] = {"base_model.model.model.layers.0.mlp.q_proj.lora_A.weight",
                       "base_model.model.model.layers.0.self_attn.q.lora_A.weight",
                       "base_model.model.model.layers.0.self_attn.q_proj.lora_C.weight",
                       "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight.x"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg(seal_lora_peft_name_parse(bad[i], &layer, &t, &which) == -1, "%s", bad[i]);
}
END_TEST

static void add_matrix(seal_tensor_set *s, int layer, seal_lora_target t, char which, int rows,
                       int cols) {
  char *name = seal_lora_peft_name(layer, t, which);
  float *data = seal_calloc((size_t)rows * cols, sizeof(float));
  seal_tensors_add(s, name, 2, (int64_t[]){rows, cols}, data);
  free(name);
}

START_TEST(rank_and_targets_of_tensors) {
  seal_tensor_set s = {0};
  seal_error e = {{0}};
  int rank = 0;
  unsigned mask = 0;
  ck_assert_int_eq(seal_lora_tensors_shape(&s, &rank, &mask, &e), -1);
  ck_assert_str_eq(e.msg, "the adapter has no LoRA tensors");
  for (int layer = 0; layer < 2; layer++) {
    add_matrix(&s, layer, SEAL_LORA_V, 'A', 4, 16);
    add_matrix(&s, layer, SEAL_LORA_V, 'B', 8, 4);
    add_matrix(&s, layer, SEAL_LORA_DOWN, 'A', 4, 32);
    add_matrix(&s, layer, SEAL_LORA_DOWN, 'B', 16, 4);
  }
  ck_assert_int_eq(seal_lora_tensors_shape(&s, &rank, &mask, &e), 0);
  ck_assert_int_eq(rank, 4);
  ck_assert_uint_eq(mask, SEAL_LORA_BIT(SEAL_LORA_V) | SEAL_LORA_BIT(SEAL_LORA_DOWN));
  add_matrix(&s, 0, SEAL_LORA_Q, 'B', 16, 2);
  ck_assert_int_eq(seal_lora_tensors_shape(&s, &rank, &mask, &e), -1);
  ck_assert_msg(strstr(e.msg, "q_proj.lora_B.weight' has rank 2, the adapter's others 4"), "%s",
                e.msg);
  seal_tensors_free(&s);
  seal_tensors_add(&s, "model.layers.0.mlp.up_proj.weight", 2, (int64_t[]){1, 1},
                   seal_calloc(1, sizeof(float)));
  ck_assert_int_eq(seal_lora_tensors_shape(&s, &rank, &mask, &e), -1);
  ck_assert_str_eq(e.msg, "'model.layers.0.mlp.up_proj.weight' is not a PEFT LoRA tensor name");
  seal_tensors_free(&s);
}
END_TEST

Suite *lora_targets_suite(void) {
  Suite *s = suite_create("lora_targets");
  TCase *tc = tcase_create("lora_targets");
  tcase_add_test(tc, names_and_lists);
  tcase_add_test(tc, format_parses_back);
  tcase_add_test(tc, peft_names);
  tcase_add_test(tc, rank_and_targets_of_tensors);
  suite_add_tcase(s, tc);
  return s;
}
