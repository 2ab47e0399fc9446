/* tests/kernels/test_cpu_memory.c — the CPU backend's memory ops: allocation
 * (aligned, writable), the host<->backend copies of float32 and int32, copy
 * between overlapping ranges, fill, and the calls that do nothing on this
 * backend but must be there (synchronize, bind_thread, destroy). */
#include <stdint.h>
#include <string.h>

#include "cpu_test_helpers.h"

START_TEST(alloc_gives_aligned_writable_memory) {
  seal_backend *be = test_cpu_backend();
  size_t sizes[] = {0, 1, 63, 64, 1000, (size_t)1 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    unsigned char *p = be->ops->alloc(be, sizes[i]);
    ck_assert_msg(((uintptr_t)p & 63) == 0, "alloc(%zu) is not 64-byte aligned", sizes[i]);
    memset(p, 0xab, sizes[i]);
    be->ops->free(be, p);
  }
  seal_backend_destroy(be);
}
END_TEST

START_TEST(f32_and_i32_copies_round_trip) {
  seal_backend *be = test_cpu_backend();
  enum { N = 37 };
  float src[N], back[N];
  int32_t ids[N], ids_back[N];
  for (int i = 0; i < N; i++) src[i] = (float)i * 0.37f - 3.0f, ids[i] = i * 1001 - 7;
  float *dev = be->ops->alloc(be, sizeof src);
  int32_t *dev_ids = be->ops->alloc(be, sizeof ids);
  be->ops->to_device(be, dev, SEAL_F32, src, N);
  be->ops->to_host(be, back, dev, SEAL_F32, N);
  be->ops->to_device_i32(be, dev_ids, ids, N);
  be->ops->to_host_i32(be, ids_back, dev_ids, N);
  be->ops->synchronize(be);
  ck_assert(memcmp(src, back, sizeof src) == 0);
  ck_assert(memcmp(ids, ids_back, sizeof ids) == 0);
  be->ops->free(be, dev);
  be->ops->free(be, dev_ids);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(copy_moves_overlapping_bytes) {
  seal_backend *be = test_cpu_backend();
  char *p = be->ops->alloc(be, 16);
  memcpy(p, "abcdefghijklmnop", 16);
  be->ops->copy(be, p + 2, p, 10); /* forward overlap, as memmove */
  ck_assert(memcmp(p, "ababcdefghijmnop", 16) == 0);
  be->ops->copy(be, p, p + 4, 8); /* backward overlap */
  ck_assert(memcmp(p, "cdefghijghijmnop", 16) == 0);
  be->ops->free(be, p);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(fill_writes_f32_and_i32) {
  seal_backend *be = test_cpu_backend();
  enum { N = 11 };
  float *f = be->ops->alloc(be, N * sizeof(float));
  int32_t *i32 = be->ops->alloc(be, N * sizeof(int32_t));
  be->ops->fill(be, f, SEAL_F32, -2.5f, N - 1);
  f[N - 1] = 7; /* beyond n: untouched */
  be->ops->fill(be, i32, SEAL_I32, 42, N);
  for (int i = 0; i < N - 1; i++) ck_assert_float_eq(f[i], -2.5f);
  ck_assert_float_eq(f[N - 1], 7);
  for (int i = 0; i < N; i++) ck_assert_int_eq(i32[i], 42);
  be->ops->free(be, f);
  be->ops->free(be, i32);
  seal_backend_destroy(be);
}
END_TEST

/* A backend whose thread binding and synchronisation do nothing still takes
 * the calls, and destroying it frees it (the sanitizer build checks). */
START_TEST(lifetime_calls_are_there) {
  seal_backend *be = test_cpu_backend();
  be->ops->bind_thread(be);
  be->ops->synchronize(be);
  ck_assert_str_eq(be->name, "cpu");
  ck_assert_int_eq(be->act, SEAL_F32);
  seal_backend_destroy(be);
}
END_TEST

Suite *cpu_memory_suite(void) {
  Suite *s = suite_create("cpu_memory");
  TCase *tc = tcase_create("memory");
  TEST_OP(tc, alloc, alloc_gives_aligned_writable_memory);
  TEST_OP(tc, free, alloc_gives_aligned_writable_memory);
  TEST_OP(tc, to_device, f32_and_i32_copies_round_trip);
  TEST_OP(tc, to_host, f32_and_i32_copies_round_trip);
  TEST_OP(tc, to_device_i32, f32_and_i32_copies_round_trip);
  TEST_OP(tc, to_host_i32, f32_and_i32_copies_round_trip);
  TEST_OP(tc, synchronize, f32_and_i32_copies_round_trip);
  TEST_OP(tc, copy, copy_moves_overlapping_bytes);
  TEST_OP(tc, fill, fill_writes_f32_and_i32);
  TEST_OP(tc, bind_thread, lifetime_calls_are_there);
  TEST_OP(tc, destroy, lifetime_calls_are_there);
  suite_add_tcase(s, tc);
  return s;
}
