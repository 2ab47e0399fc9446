/* tests/model/test_loaders_st.c — tensor sets and safetensors: round trips,
 * F16/BF16 conversion, and every malformed-file rule, each refused with an
 * error that names the file. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/quant.h"
#include "model/tensors.h"

static char tmpdir[64];

static void make_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/seal-loaders-st-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) {
  char *cmd = seal_asprintf("rm -rf '%s'", tmpdir);
  ck_assert_int_eq(system(cmd), 0);
  free(cmd);
}

static float *floats(int64_t n, float start) {
  float *p = seal_malloc((size_t)n * sizeof *p);
  for (int64_t i = 0; i < n; i++) p[i] = start + 0.25f * (float)i;
  return p;
}

START_TEST(round_trip_keeps_names_shapes_values_and_order) {
  make_tmpdir();
  seal_tensor_set s = {0};
  int64_t a_shape[2] = {3, 4}, b_shape[1] = {5}, c_shape[3] = {2, 1, 3}, z_shape[2] = {0, 4};
  seal_tensors_add(&s, "model.layers.0.self_attn.q_proj.weight", 2, a_shape, floats(12, -1));
  seal_tensors_add(&s, "b \"quoted\" name", 1, b_shape, floats(5, 100));
  seal_tensors_add(&s, "c", 3, c_shape, floats(6, 7));
  seal_tensors_add(&s, "scalar", 0, NULL, floats(1, 42));
  seal_tensors_add(&s, "empty", 2, z_shape, seal_malloc(1));
  char *path = seal_path_join(tmpdir, "rt.safetensors");
  const char *meta[] = {"format", "pt", "note", "seal", NULL};
  seal_error e;
  ck_assert_msg(seal_safetensors_write(path, &s, meta, &e) == 0, "%s", e.msg);
  seal_tensor_set r = {0};
  ck_assert_msg(seal_safetensors_read(path, &r, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(r.n, s.n);
  for (int i = 0; i < s.n; i++) {
    const seal_host_tensor *x = &s.items[i], *y = &r.items[i];
    ck_assert_str_eq(y->name, x->name); /* order kept: the writer lays data out in set order */
    ck_assert_int_eq(y->ndim, x->ndim);
    for (int d = 0; d < x->ndim; d++) ck_assert_int_eq(y->shape[d], x->shape[d]);
    ck_assert_int_eq(seal_tensor_numel(y), seal_tensor_numel(x));
    ck_assert(memcmp(x->data, y->data, (size_t)seal_tensor_numel(x) * sizeof(float)) == 0);
  }
  ck_assert_ptr_nonnull(seal_tensors_find(&r, "c"));
  ck_assert_ptr_null(seal_tensors_find(&r, "nope"));
  ck_assert(seal_tensors_remove(&r, "c"));
  ck_assert(!seal_tensors_remove(&r, "c"));
  ck_assert_int_eq(r.n, s.n - 1);
  ck_assert_str_eq(r.items[2].name, "scalar");
  /* Reading again into the same set refuses duplicates and leaves the set as it was. */
  ck_assert_int_eq(seal_safetensors_read(path, &r, &e), -1);
  ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "already loaded"), "%s", e.msg);
  ck_assert_int_eq(r.n, s.n - 1);
  /* The data section starts 8-byte aligned, as safetensors writes it. */
  FILE *f = fopen(path, "rb");
  uint64_t hlen = 0;
  ck_assert_int_eq(fread(&hlen, 8, 1, f), 1);
  fclose(f);
  ck_assert_int_eq((8 + hlen) % 8, 0);
  seal_tensors_free(&s);
  seal_tensors_free(&r);
  free(path);
  remove_tmpdir();
}
END_TEST

/* Writes 8-byte length `declared` (or the header's own length when 0), the
 * header text, then `data_len` bytes of `data`. */
static char *write_raw(const char *name, uint64_t declared, const char *header, const void *data,
                       size_t data_len) {
  char *path = seal_path_join(tmpdir, name);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  uint64_t n = declared ? declared : strlen(header);
  fwrite(&n, 8, 1, f);
  fwrite(header, 1, strlen(header), f);
  if (data_len) fwrite(data, 1, data_len, f);
  fclose(f);
  return path;
}

static void expect_refused(const char *path, const char *what) {
  seal_tensor_set s = {0};
  int64_t one = 1;
  seal_tensors_add(&s, "kept", 1, &one, floats(1, 0));
  seal_error e = {{0}};
  ck_assert_int_eq(seal_safetensors_read(path, &s, &e), -1);
  ck_assert_msg(strstr(e.msg, path) != NULL, "error does not name the file: %s", e.msg);
  ck_assert_msg(strstr(e.msg, what) != NULL, "expected '%s' in: %s", what, e.msg);
  ck_assert_int_eq(s.n, 1); /* nothing added by the failed read */
  seal_tensors_free(&s);
}

START_TEST(reads_f16_and_bf16_exactly) {
  make_tmpdir();
  /* half: 1.0, -2.5, 65504 (max), smallest subnormal, -0; bf16: 1.0, -3.0, 1e-3-ish */
  uint16_t h[5] = {0x3C00, 0xC100, 0x7BFF, 0x0001, 0x8000};
  uint16_t b[3] = {0x3F80, 0xC040, 0x3A83};
  uint8_t data[16];
  memcpy(data, h, 10);
  memcpy(data + 10, b, 6);
  const char *hdr =
      "{\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]},"
      "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,3],\"data_offsets\":[10,16]}}";
  char *path = write_raw("halves.safetensors", 0, hdr, data, sizeof data);
  seal_tensor_set s = {0};
  seal_error e;
  ck_assert_msg(seal_safetensors_read(path, &s, &e) == 0, "%s", e.msg);
  const seal_host_tensor *th = seal_tensors_find(&s, "h"), *tb = seal_tensors_find(&s, "b");
  ck_assert(th->data[0] == 1.0f && th->data[1] == -2.5f && th->data[2] == 65504.0f);
  ck_assert(th->data[3] == ldexpf(1.0f, -24));
  ck_assert(th->data[4] == 0.0f && signbit(th->data[4]));
  ck_assert(tb->data[0] == 1.0f && tb->data[1] == -3.0f);
  ck_assert(tb->data[2] == seal_bf16_to_f32(0x3A83));
  ck_assert_int_eq(tb->ndim, 2);
  ck_assert_int_eq(seal_f32_to_bf16(1.0f), 0x3F80);
  ck_assert_int_eq(seal_f32_to_bf16(seal_bf16_to_f32(0x3A83)), 0x3A83);
  ck_assert(isinf(seal_f16_to_f32(0x7C00)) && isnan(seal_f16_to_f32(0x7E00)));
  seal_tensors_free(&s);
  free(path);
  remove_tmpdir();
}
END_TEST

#define ONE_F32 "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"

START_TEST(refuses_truncated_and_oversized_headers) {
  make_tmpdir();
  char *p;
  float d[2] = {1, 2};
  p = seal_path_join(tmpdir, "tiny.safetensors");
  FILE *f = fopen(p, "wb");
  fwrite("\x05\0\0", 1, 3, f);
  fclose(f);
  expect_refused(p, "truncated");
  free(p);
  p = write_raw("longhdr.safetensors", 4096, ONE_F32, d, 8);
  expect_refused(p, "runs past the end");
  free(p);
  p = write_raw("cap.safetensors", 200000000ull, ONE_F32, d, 8);
  expect_refused(p, "cap");
  free(p);
  p = write_raw("json.safetensors", 0, "{\"t\": {\"dtype\": \"F32\",", d, 8);
  expect_refused(p, "not valid JSON");
  free(p);
  p = write_raw("array.safetensors", 0, "[1, 2]", d, 0);
  expect_refused(p, "not a JSON object");
  free(p);
  p = write_raw("dup.safetensors", 0,
                "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                d, 8);
  expect_refused(p, "duplicate");
  free(p);
  p = write_raw("meta.safetensors", 0,
                "{\"__metadata__\":{\"a\":1},\"t\":{\"dtype\":\"F32\",\"shape\":[2],"
                "\"data_offsets\":[0,8]}}",
                d, 8);
  expect_refused(p, "__metadata__");
  free(p);
  remove_tmpdir();
}
END_TEST

START_TEST(refuses_bad_entries) {
  make_tmpdir();
  float d[4] = {1, 2, 3, 4};
  char *p;
  p = write_raw("dtype.safetensors", 0,
                "{\"t\":{\"dtype\":\"Q9\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8);
  expect_refused(p, "unknown dtype 'Q9'");
  free(p);
  p = write_raw("i64.safetensors", 0,
                "{\"t\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", d, 8);
  expect_refused(p, "not supported");
  free(p);
  p = write_raw("size.safetensors", 0,
                "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", d, 8);
  expect_refused(p, "needs 12");
  free(p);
  p = write_raw("shape.safetensors", 0,
                "{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", d, 8);
  expect_refused(p, "shape[0]");
  free(p);
  p = write_raw("dims.safetensors", 0,
                "{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}", d, 8);
  expect_refused(p, "5 dims");
  free(p);
  p = write_raw("offs.safetensors", 0,
                "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]}}", d, 8);
  expect_refused(p, "data_offsets");
  free(p);
  remove_tmpdir();
}
END_TEST

START_TEST(refuses_gaps_overlaps_and_size_mismatch) {
  make_tmpdir();
  float d[6] = {1, 2, 3, 4, 5, 6};
  char *p;
  p = write_raw("gap.safetensors", 0,
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                d, 12);
  expect_refused(p, "contiguous");
  free(p);
  p = write_raw("overlap.safetensors", 0,
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                d, 12);
  expect_refused(p, "contiguous");
  free(p);
  p = write_raw("start.safetensors", 0,
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", d, 8);
  expect_refused(p, "contiguous");
  free(p);
  p = write_raw("trailing.safetensors", 0, ONE_F32, d, 12);
  expect_refused(p, "trailing bytes");
  free(p);
  p = write_raw("short.safetensors", 0, ONE_F32, d, 6);
  expect_refused(p, "truncated data");
  free(p);
  /* Out-of-order entries whose offsets are contiguous are fine. */
  p = write_raw("order.safetensors", 0,
                "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                d, 8);
  seal_tensor_set s = {0};
  seal_error e;
  ck_assert_msg(seal_safetensors_read(p, &s, &e) == 0, "%s", e.msg);
  ck_assert(seal_tensors_find(&s, "a")->data[0] == 1 && seal_tensors_find(&s, "b")->data[0] == 2);
  seal_tensors_free(&s);
  free(p);
  ck_assert_int_eq(seal_safetensors_read("/nonexistent/m.safetensors", &s, &e), -1);
  ck_assert(strstr(e.msg, "/nonexistent/m.safetensors") != NULL);
  remove_tmpdir();
}
END_TEST

Suite *loaders_st_suite(void) {
  Suite *s = suite_create("loaders_st");
  TCase *tc = tcase_create("safetensors");
  tcase_add_test(tc, round_trip_keeps_names_shapes_values_and_order);
  tcase_add_test(tc, reads_f16_and_bf16_exactly);
  tcase_add_test(tc, refuses_truncated_and_oversized_headers);
  tcase_add_test(tc, refuses_bad_entries);
  tcase_add_test(tc, refuses_gaps_overlaps_and_size_mismatch);
  suite_add_tcase(s, tc);
  return s;
}
