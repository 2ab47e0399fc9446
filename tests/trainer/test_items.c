/* tests/trainer/test_items.c — GENERATE's payload and result (trainer/items.h):
 * several contexts to an item and their batches back, round trips and the
 * payloads a decoder must refuse. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/items.h"

START_TEST(generate_item_round_trips) {
  seal_generate_item in = {.n = 3, .context = {4, 0, 7}}, out;
  char *text = seal_generate_item_encode(&in);
  seal_error e;
  ck_assert_int_eq(seal_generate_item_decode(text, strlen(text), &out, &e), 0);
  ck_assert_int_eq(out.n, 3);
  for (int i = 0; i < 3; i++) ck_assert_int_eq(out.context[i], in.context[i]);
  free(text);
}
END_TEST

START_TEST(generate_item_refuses_bad_lists) {
  const char *bad[] = {"{\"contexts\":[]}", "{\"contexts\":[1,2,3,4,5,6,7,8,9]}",
                       "{\"contexts\":[1,\"x\"]}", "{\"context\":1}", "{\"contexts\":3}"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    seal_generate_item out;
    seal_error e = {{0}};
    ck_assert_msg(seal_generate_item_decode(bad[i], strlen(bad[i]), &out, &e) != 0, "%s", bad[i]);
    ck_assert_msg(strstr(e.msg, "GENERATE item"), "%s: %s", bad[i], e.msg);
  }
}
END_TEST

START_TEST(batches_round_trip_in_order) {
  seal_selfedit_batch b[2];
  for (int i = 0; i < 2; i++) {
    seal_selfedit_batch_alloc(&b[i], 10 + i, 2 + i);
    for (int s = 0; s < b[i].k; s++) {
      char t[32];
      snprintf(t, sizeof t, "text %d.%d", i, s);
      b[i].texts[s] = strdup(t);
      b[i].usable[s] = (s % 2) == 0;
      b[i].attempts[s] = 1 + s;
      snprintf(b[i].reasons[s], sizeof b[i].reasons[s], "%s", s % 2 ? "too short" : "");
    }
  }
  seal_error e;
  char *text = seal_selfedit_batches_encode(b, 2, &e);
  ck_assert_ptr_nonnull(text);
  seal_selfedit_batch *out;
  int n;
  ck_assert_int_eq(seal_selfedit_batches_decode(text, strlen(text), &out, &n, &e), 0);
  ck_assert_int_eq(n, 2);
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(out[i].context, b[i].context);
    ck_assert_int_eq(out[i].k, b[i].k);
    for (int s = 0; s < b[i].k; s++) {
      ck_assert_str_eq(out[i].texts[s], b[i].texts[s]);
      ck_assert_int_eq(out[i].usable[s], b[i].usable[s]);
      ck_assert_int_eq(out[i].attempts[s], b[i].attempts[s]);
      ck_assert_str_eq(out[i].reasons[s], b[i].reasons[s]);
    }
    seal_selfedit_batch_free(&out[i]);
    seal_selfedit_batch_free(&b[i]);
  }
  free(out);
  free(text);
}
END_TEST

START_TEST(batches_refuse_what_is_not_a_list_of_batches) {
  const char *bad[] = {"{\"batches\":[]}", "{\"batches\":{}}", "[1]",
                       "{\"batches\":[{\"context\":1,\"samples\":[{\"text\":1}]}]}"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    seal_selfedit_batch *out;
    int n;
    seal_error e = {{0}};
    ck_assert_msg(seal_selfedit_batches_decode(bad[i], strlen(bad[i]), &out, &n, &e) != 0, "%s",
                  bad[i]);
    ck_assert_msg(e.msg[0], "%s: no message", bad[i]);
    for (int j = 0; j < n; j++) seal_selfedit_batch_free(&out[j]);
    free(out);
  }
}
END_TEST

Suite *items_suite(void) {
  Suite *s = suite_create("items");
  TCase *tc = tcase_create("generate");
  tcase_add_test(tc, generate_item_round_trips);
  tcase_add_test(tc, generate_item_refuses_bad_lists);
  tcase_add_test(tc, batches_round_trip_in_order);
  tcase_add_test(tc, batches_refuse_what_is_not_a_list_of_batches);
  suite_add_tcase(s, tc);
  return s;
}
