/*
** test_vector.c — parsing and formatting of vector values (vector.c).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vector/vector.h"

static void expect_parse(const char *z, const float *aWant, int nWant) {
  float *a = 0;
  int n = 0;
  char *zErr = 0;
  int rc = vg_vector_parse_json(z, -1, &a, &n, &zErr);
  if (rc != SQLITE_OK) fail_msg("'%s' -> %s", z, zErr);
  assert_int_equal(n, nWant);
  for (int i = 0; i < n; i++) assert_true(a[i] == aWant[i]);
  sqlite3_free(a);
}

static void expect_json_error(const char *z, const char *zNeedle) {
  float *a = 0;
  int n = 0;
  char *zErr = 0;
  int rc = vg_vector_parse_json(z, -1, &a, &n, &zErr);
  if (rc == SQLITE_OK) fail_msg("'%s' parsed, expected error '%s'", z, zNeedle);
  assert_null(a);
  if (zErr == 0 || strstr(zErr, zNeedle) == 0) {
    fail_msg("'%s' -> '%s', expected '%s'", z, zErr ? zErr : "(none)", zNeedle);
  }
  sqlite3_free(zErr);
}

static void test_json_valid(void **state) {
  (void)state;
  const float a1[] = {0.1f, 2.0f, -0.03f};
  expect_parse("[0.1, 2, -3e-2]", a1, 3);
  expect_parse(" \n[0.1,2,-3E-2]\t ", a1, 3);
  const float a2[] = {0.0f, -0.0f, 1e-45f, 1e16f, -1e16f};
  expect_parse("[0,-0,1e-45,1e16,-1e16]", a2, 5);
  const float a3[] = {123456789.0f};
  expect_parse("[123456789]", a3, 1);
  const float a4[] = {0.5f};
  expect_parse("[5E-1]", a4, 1);
  /* Just above halfway between 1 and the next float: read as a double
  ** first it rounds to the halfway point, then to even (1.0f). */
  const float a5[] = {1.00000012f};
  expect_parse("[1.00000005960464477539062500001]", a5, 1);
}

static void test_json_invalid(void **state) {
  (void)state;
  expect_json_error("[]", "empty vector");
  /* Past VG_MAX_ELEMENT a distance could overflow float32. */
  expect_json_error("[1, 1.1e16]", "element 1 (1.1e16) is beyond +/-1e16");
  expect_json_error("[-3.4028234e38]", "element 0 (-3.4028234e38) is beyond +/-1e16");
  expect_json_error("[ ]", "empty vector");
  expect_json_error("", "expected '['");
  expect_json_error("1,2", "expected '['");
  expect_json_error("[1,2", "expected ',' or ']'");
  expect_json_error("[1,,2]", "expected a number at offset 3");
  expect_json_error("[1,2,]", "expected a number");
  expect_json_error("[1 2]", "expected ',' or ']'");
  expect_json_error("[1]x", "unexpected text after ']'");
  expect_json_error("[NaN]", "expected a number");
  expect_json_error("[Infinity]", "expected a number");
  expect_json_error("[\"1\"]", "expected a number");
  expect_json_error("[[1]]", "expected a number");
  expect_json_error("[01]", "expected ',' or ']'");
  expect_json_error("[.5]", "expected a number");
  expect_json_error("[1.]", "expected a number");
  expect_json_error("[+1]", "expected a number");
  expect_json_error("[1e]", "expected a number");
  expect_json_error("[1e39]", "outside the float32 range");
  expect_json_error("[-1e39]", "outside the float32 range");
}

static void test_json_too_long(void **state) {
  (void)state;
  char *z = sqlite3_malloc64((VG_MAX_DIMS + 2) * 2 + 2);
  int n = 0;
  z[n++] = '[';
  for (int i = 0; i <= VG_MAX_DIMS; i++) {
    if (i) z[n++] = ',';
    z[n++] = '1';
  }
  z[n++] = ']';
  z[n] = 0;
  expect_json_error(z, "more than 16384 elements");
  sqlite3_free(z);
}

static void test_blob(void **state) {
  (void)state;
  /* 1.0f, -2.5f little-endian, written out by hand */
  const unsigned char b[] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0};
  float *a = 0;
  int n = 0;
  char *zErr = 0;
  assert_int_equal(vg_vector_parse_blob(b, 8, &a, &n, &zErr), SQLITE_OK);
  assert_int_equal(n, 2);
  assert_true(a[0] == 1.0f && a[1] == -2.5f);
  unsigned char out[8];
  vg_vector_to_blob(a, 2, out);
  assert_memory_equal(out, b, 8);
  sqlite3_free(a);

  assert_int_equal(vg_vector_parse_blob(b, 7, &a, &n, &zErr), SQLITE_ERROR);
  assert_non_null(strstr(zErr, "multiple of 4 bytes"));
  sqlite3_free(zErr);
  assert_int_equal(vg_vector_parse_blob(b, 0, &a, &n, &zErr), SQLITE_ERROR);
  assert_non_null(strstr(zErr, "empty vector"));
  sqlite3_free(zErr);

  const unsigned char nan[] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0xc0, 0x7f};
  assert_int_equal(vg_vector_parse_blob(nan, 8, &a, &n, &zErr), SQLITE_ERROR);
  assert_string_equal(zErr, "element 1 is NaN");
  sqlite3_free(zErr);
  const unsigned char inf[] = {0x00, 0x00, 0x80, 0xff};
  assert_int_equal(vg_vector_parse_blob(inf, 4, &a, &n, &zErr), SQLITE_ERROR);
  assert_string_equal(zErr, "element 0 is infinite");
  sqlite3_free(zErr);
  /* -1e17 (0xdbb1a2bc): finite, but past VG_MAX_ELEMENT */
  const unsigned char big[] = {0x00, 0x00, 0x80, 0x3f, 0xbc, 0xa2, 0xb1, 0xdb};
  assert_int_equal(vg_vector_parse_blob(big, 8, &a, &n, &zErr), SQLITE_ERROR);
  assert_non_null(strstr(zErr, "element 1 (-1e+17) is beyond +/-1e16"));
  assert_null(a);
  sqlite3_free(zErr);
}

static void test_json_output(void **state) {
  (void)state;
  const float a[] = {0.1f, 2.0f, -0.03f, 0.0f, 1e-45f, 3.4028235e38f, 16777217.0f};
  char *z = vg_vector_to_json(a, 7);
  assert_string_equal(z, "[0.1,2,-0.03,0,1e-45,3.4028235e+38,16777216]");
  sqlite3_free(z);
  /* Whole numbers below 10^7 are written whole (%.1g made 20 "2e+01"). */
  const float b[] = {20.0f, 100.0f, -300.0f, 1000000.0f, 9999999.0f, 10000000.0f, 2.5f, 1.5e7f};
  z = vg_vector_to_json(b, 8);
  assert_string_equal(z, "[20,100,-300,1000000,9999999,1e+07,2.5,1.5e+07]");
  sqlite3_free(z);
}

/* Every float written as JSON reads back bit for bit. */
static void test_json_round_trip(void **state) {
  (void)state;
  uint32_t x = 12345;
  float a[512];
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < 512; i++) {
      do {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        memcpy(&a[i], &x, 4);
      } while (!isfinite(a[i]) || fabsf(a[i]) > (float)VG_MAX_ELEMENT);
    }
    char *z = vg_vector_to_json(a, 512);
    float *b = 0;
    int n = 0;
    char *zErr = 0;
    assert_int_equal(vg_vector_parse_json(z, -1, &b, &n, &zErr), SQLITE_OK);
    assert_int_equal(n, 512);
    assert_memory_equal(a, b, sizeof a);
    sqlite3_free(z);
    sqlite3_free(b);
  }
}

static void test_normalize_and_metrics(void **state) {
  (void)state;
  float a[] = {3.0f, 4.0f}, out[2];
  assert_int_equal(vg_vector_normalize(a, 2, out), 1);
  assert_true(fabsf(out[0] - 0.6f) < 1e-7f && fabsf(out[1] - 0.8f) < 1e-7f);
  float z[] = {0.0f, 0.0f};
  assert_int_equal(vg_vector_normalize(z, 2, out), 0);
  vg_metric m;
  assert_int_equal(vg_metric_parse("COSINE", -1, &m), SQLITE_OK);
  assert_int_equal(m, VG_METRIC_COSINE);
  assert_int_equal(vg_metric_parse("l2xx", 2, &m), SQLITE_OK);
  assert_int_equal(m, VG_METRIC_L2);
  assert_int_equal(vg_metric_parse("dot", -1, &m), SQLITE_ERROR);
  assert_string_equal(vg_metric_name(VG_METRIC_IP), "ip");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_valid),     cmocka_unit_test(test_json_invalid),
      cmocka_unit_test(test_json_too_long),  cmocka_unit_test(test_blob),
      cmocka_unit_test(test_json_output),    cmocka_unit_test(test_json_round_trip),
      cmocka_unit_test(test_normalize_and_metrics),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
