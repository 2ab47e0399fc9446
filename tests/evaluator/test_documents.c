/* tests/evaluator/test_documents.c — a user's files as documents for `seal
 * learn`: titles, refusals (empty, not UTF-8, NUL bytes) and splitting to a
 * token budget. Tokens are counted here as bytes or as words, so what fits is
 * easy to check by hand. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evaluator/documents.h"

static char *write_temp(const char *suffix, const char *data, size_t n) {
  char tmpl[] = "/tmp/seal-docs-XXXXXX";
  int fd = mkstemp(tmpl);
  ck_assert_int_ge(fd, 0);
  close(fd);
  unlink(tmpl);
  char *path = seal_asprintf("%s%s", tmpl, suffix);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, n, f), n);
  fclose(f);
  return path;
}

static int count_bytes(void *user, const char *text) {
  (void)user;
  return (int)strlen(text);
}

static int count_words(void *user, const char *text) {
  (void)user;
  int n = 0;
  for (const char *p = text; *p;) {
    while (*p == ' ' || *p == '\n' || *p == '\t') p++;
    if (!*p) break;
    n++;
    while (*p && *p != ' ' && *p != '\n' && *p != '\t') p++;
  }
  return n;
}

/* Loads data as a file with the given suffix; returns 0 or -1 with e filled. */
static int load_text(const char *suffix, const char *data, int budget, seal_token_count_fn count,
                     seal_documents *d, seal_error *e) {
  char *path = write_temp(suffix, data, strlen(data));
  int rc = seal_documents_load(path, budget, count, NULL, d, e);
  unlink(path);
  free(path);
  return rc;
}

START_TEST(one_file_one_document_titled_by_its_heading) {
  seal_documents d = {0};
  seal_error e;
  ck_assert_int_eq(
      load_text(".md", "\r\n# Field notes\r\n\r\nThe heron returned.\r\n", 0, NULL, &d, &e), 0);
  ck_assert_int_eq(d.n, 1);
  ck_assert_str_eq(d.docs[0].title, "Field notes");
  ck_assert_str_eq(d.docs[0].text, "# Field notes\n\nThe heron returned.");
  ck_assert_int_eq(d.docs[0].n_parts, 1);
  seal_documents_free(&d);
}
END_TEST

START_TEST(without_a_heading_the_file_name_is_the_title) {
  char *path = write_temp(".txt", "plain words", 11);
  seal_documents d = {0};
  seal_error e;
  ck_assert_int_eq(seal_documents_load(path, 0, NULL, NULL, &d, &e), 0);
  const char *base = strrchr(path, '/') + 1;
  ck_assert_int_eq(strncmp(d.docs[0].title, base, strlen(base) - 4), 0);
  ck_assert_uint_eq(strlen(d.docs[0].title), strlen(base) - 4); /* ".txt" dropped */
  unlink(path);
  free(path);
  seal_documents_free(&d);
}
END_TEST

START_TEST(empty_and_blank_files_are_refused) {
  seal_documents d = {0};
  seal_error e;
  ck_assert_int_eq(load_text(".txt", "", 0, NULL, &d, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.msg, "has no text to learn from"));
  ck_assert_int_eq(load_text(".txt", " \n\n\t \r\n", 0, NULL, &d, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.msg, "has no text"));
  ck_assert_int_eq(d.n, 0);
}
END_TEST

START_TEST(invalid_utf8_names_the_byte) {
  seal_documents d = {0};
  seal_error e;
  /* "caf" + a lone continuation byte at offset 3 */
  ck_assert_int_eq(load_text(".txt", "caf\xa9 au lait", 0, NULL, &d, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.msg, "byte 3: not valid UTF-8"));
  /* a truncated sequence at the very end: offset 6 */
  ck_assert_int_eq(load_text(".txt", "na\xc3\xafve\xe2\x82", 0, NULL, &d, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.msg, "byte 6:"));
  /* valid multi-byte text passes */
  ck_assert_int_eq(load_text(".txt", "na\xc3\xafve caf\xc3\xa9", 0, NULL, &d, &e), 0);
  seal_documents_free(&d);
  ck_assert_int_eq(seal_utf8_first_invalid("ok", 2), -1);
}
END_TEST

START_TEST(nul_bytes_are_refused) {
  char *path = write_temp(".txt", "text\0more", 9);
  seal_documents d = {0};
  seal_error e;
  ck_assert_int_eq(seal_documents_load(path, 0, NULL, NULL, &d, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.msg, "byte 4: a NUL byte"));
  unlink(path);
  free(path);
}
END_TEST

START_TEST(paragraphs_pack_greedily_within_the_budget) {
  /* paragraphs of 3, 2, 4 and 1 words; budget 6 words: [3+2], [4+1] */
  const char *text = "one two three\n\nfour five\n\n\nsix seven eight nine\n\nten\n";
  seal_documents d = {0};
  seal_error e;
  ck_assert_int_eq(load_text(".txt", text, 6, count_words, &d, &e), 0);
  ck_assert_int_eq(d.n, 2);
  ck_assert_str_eq(d.docs[0].text, "one two three\n\nfour five");
  ck_assert_str_eq(d.docs[1].text, "six seven eight nine\n\nten");
  ck_assert_int_eq(d.docs[1].part, 1);
  ck_assert_int_eq(d.docs[1].n_parts, 2);
  ck_assert_str_eq(d.docs[0].title, d.docs[1].title);
  seal_documents_free(&d);
}
END_TEST

START_TEST(one_huge_paragraph_splits_at_sentences_then_words) {
  /* one paragraph of 3 sentences (4, 4 and 2 words); budget 5 words */
  const char *text = "The heron came back. It stood very still. Then left.";
  seal_documents d = {0};
  seal_error e;
  ck_assert_int_eq(load_text(".txt", text, 5, count_words, &d, &e), 0);
  ck_assert_int_eq(d.n, 3);
  ck_assert_str_eq(d.docs[0].text, "The heron came back.");
  ck_assert_str_eq(d.docs[1].text, "It stood very still.");
  ck_assert_str_eq(d.docs[2].text, "Then left.");
  seal_documents_free(&d);
  /* a run-on sentence of 7 words, budget 3: split between words */
  ck_assert_int_eq(load_text(".txt", "a b c d e f g", 3, count_words, &d, &e), 0);
  ck_assert_int_eq(d.n, 3);
  ck_assert_str_eq(d.docs[0].text, "a b c");
  ck_assert_str_eq(d.docs[2].text, "g");
  seal_documents_free(&d);
}
END_TEST

START_TEST(a_word_longer_than_the_budget_splits_at_characters) {
  /* budget 4 bytes; "é" is two bytes and is never cut in half */
  const char *text = "ab\xc3\xa9\xc3\xa9xyz";
  seal_documents d = {0};
  seal_error e;
  ck_assert_int_eq(load_text(".txt", text, 4, count_bytes, &d, &e), 0);
  seal_buf joined = {0};
  seal_buf_puts(&joined, "");
  for (int i = 0; i < d.n; i++) {
    ck_assert_int_le((int)strlen(d.docs[i].text), 4);
    ck_assert_int_eq(seal_utf8_first_invalid(d.docs[i].text, strlen(d.docs[i].text)), -1);
    seal_buf_puts(&joined, d.docs[i].text);
  }
  ck_assert_str_eq(joined.data, text); /* nothing lost, nothing reordered */
  seal_buf_free(&joined);
  seal_documents_free(&d);
}
END_TEST

START_TEST(squad_json_passages_are_documents) {
  const char *json =
      "[{\"title\": \"Herons\", \"context\": \"  Herons wade.  \", \"questions\": "
      "[{\"question\": \"What do herons do?\", \"answer\": \"wade\"}]},"
      " {\"title\": \"Owls\", \"context\": \"Owls hoot.\", \"questions\": "
      "[{\"question\": \"What do owls do?\", \"answer\": \"hoot\"}]}]";
  seal_documents d = {0};
  seal_error e;
  ck_assert_int_eq(load_text(".json", json, 0, NULL, &d, &e), 0);
  ck_assert_int_eq(d.n, 2);
  ck_assert_str_eq(d.docs[0].title, "Herons");
  ck_assert_str_eq(d.docs[0].text, "Herons wade.");
  ck_assert_str_eq(d.docs[1].title, "Owls");
  seal_documents_free(&d);
  ck_assert_int_eq(load_text(".json", "[{\"title\": 3}]", 0, NULL, &d, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.msg, "title"));
}
END_TEST

START_TEST(documents_append_across_files) {
  seal_documents d = {0};
  seal_error e;
  ck_assert_int_eq(load_text(".txt", "first", 0, NULL, &d, &e), 0);
  ck_assert_int_eq(load_text(".txt", "", 0, NULL, &d, &e), -1); /* a failure keeps the rest */
  ck_assert_int_eq(load_text(".txt", "second", 0, NULL, &d, &e), 0);
  ck_assert_int_eq(d.n, 2);
  ck_assert_str_eq(d.docs[1].text, "second");
  seal_documents_free(&d);
}
END_TEST

Suite *documents_suite(void) {
  Suite *s = suite_create("documents");
  TCase *tc = tcase_create("documents");
  tcase_add_test(tc, one_file_one_document_titled_by_its_heading);
  tcase_add_test(tc, without_a_heading_the_file_name_is_the_title);
  tcase_add_test(tc, empty_and_blank_files_are_refused);
  tcase_add_test(tc, invalid_utf8_names_the_byte);
  tcase_add_test(tc, nul_bytes_are_refused);
  tcase_add_test(tc, paragraphs_pack_greedily_within_the_budget);
  tcase_add_test(tc, one_huge_paragraph_splits_at_sentences_then_words);
  tcase_add_test(tc, a_word_longer_than_the_budget_splits_at_characters);
  tcase_add_test(tc, squad_json_passages_are_documents);
  tcase_add_test(tc, documents_append_across_files);
  suite_add_tcase(s, tc);
  return s;
}
