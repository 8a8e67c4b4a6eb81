/*
** test_distance.c — every distance kernel the CPU can run, against a
** double-precision reference, over many lengths and unaligned inputs.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <stdio.h>

#include "vector/vector.h"

static double ref_dot(const float *a, const float *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
  return s;
}

static double ref_l2sq(const float *a, const float *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) {
    double d = (double)a[i] - (double)b[i];
    s += d * d;
  }
  return s;
}

/* The code kernels against the values the codes stand for, in double. */
static double ref_dot_code(const float *q, const unsigned char *c, float lo, float step, int n,
                           double *pMag) {
  double s = 0, mag = 0;
  for (int i = 0; i < n; i++) {
    double x = (double)lo + (double)step * c[i];
    s += (double)q[i] * x;
    mag += fabs((double)q[i] * x) + fabs((double)q[i] * lo);
  }
  *pMag = mag;
  return s;
}

static double ref_l2sq_code(const float *q, const unsigned char *c, float lo, float step,
                            int n) {
  double s = 0;
  for (int i = 0; i < n; i++) {
    double d = (double)q[i] - ((double)lo + (double)step * c[i]);
    s += d * d;
  }
  return s;
}

static float uniform(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Float accumulation error grows with n; the bound is on the sum of
** magnitudes, which is what rounding error scales with. */
static float x_small[] = {1, 2, 3};

static void check_level(vg_simd level) {
  if (!vg_simd_force(level)) {
    printf("  (skipping %s: not supported by this CPU)\n", vg_simd_name(level));
    return;
  }
  uint64_t seed = 42;
  static float buf_a[4096 + 1], buf_b[4096 + 1];
  const int lengths[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100,
                         127, 128, 129, 255, 384, 513, 768, 784, 1024, 1536, 4096};
  for (size_t li = 0; li < sizeof(lengths) / sizeof(lengths[0]); li++) {
    int n = lengths[li];
    for (int offset = 0; offset <= 1; offset++) { /* aligned and unaligned */
      float *a = buf_a + offset, *b = buf_b + offset;
      double mag_dot = 0, mag_l2 = 0;
      for (int i = 0; i < n; i++) {
        a[i] = uniform(&seed) * 10.0f;
        b[i] = uniform(&seed) * 10.0f;
        mag_dot += fabs((double)a[i] * b[i]);
        mag_l2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
      }
      double tol_dot = mag_dot * 1e-6 + 1e-30, tol_l2 = mag_l2 * 1e-6 + 1e-30;
      double got_dot = vg_dot(a, b, n), got_l2 = vg_l2sq(a, b, n);
      if (fabs(got_dot - ref_dot(a, b, n)) > tol_dot) {
        fail_msg("%s dot n=%d: %.9g vs %.9g", vg_simd_name(level), n, got_dot,
                 ref_dot(a, b, n));
      }
      if (fabs(got_l2 - ref_l2sq(a, b, n)) > tol_l2) {
        fail_msg("%s l2sq n=%d: %.9g vs %.9g", vg_simd_name(level), n, got_l2,
                 ref_l2sq(a, b, n));
      }
    }
  }
  static unsigned char codes[4096 + 1];
  for (size_t li = 0; li < sizeof(lengths) / sizeof(lengths[0]); li++) {
    int n = lengths[li];
    for (int offset = 0; offset <= 1; offset++) {
      float *q = buf_a + offset, lo = uniform(&seed), step = (uniform(&seed) + 1.0f) / 100.0f;
      unsigned char *c = codes + offset;
      for (int i = 0; i < n; i++) {
        q[i] = uniform(&seed) * 10.0f;
        c[i] = (unsigned char)((uniform(&seed) + 1.0f) * 127.9f);
      }
      double mag, want = ref_dot_code(q, c, lo, step, n, &mag);
      double got = vg_dot_code(q, c, lo, step, n);
      if (fabs(got - want) > mag * 1e-6 + 1e-30) {
        fail_msg("%s dot_code n=%d: %.9g vs %.9g", vg_simd_name(level), n, got, want);
      }
      want = ref_l2sq_code(q, c, lo, step, n);
      got = vg_l2sq_code(q, c, lo, step, n);
      if (fabs(got - want) > want * 1e-6 + 1e-30) {
        fail_msg("%s l2sq_code n=%d: %.9g vs %.9g", vg_simd_name(level), n, got, want);
      }
    }
  }
  /* int8 and bit kernels: exact integers, at extremes (-128 and 127) too,
  ** up to the largest dimension. */
  static int8_t ia[16384 + 1], ib[16384 + 1];
  const int ilengths[] = {1, 2, 3, 15, 16, 17, 31, 32, 33, 64, 100, 384, 1023, 4096, 16384};
  for (size_t li = 0; li < sizeof(ilengths) / sizeof(ilengths[0]); li++) {
    int n = ilengths[li];
    for (int offset = 0; offset <= 1; offset++) {
      int8_t *a = ia + offset, *b = ib + offset;
      int bExtreme = li % 3 == 0;
      int64_t dot = 0, l2 = 0, l1 = 0, aa = 0, bb = 0, ham = 0;
      for (int i = 0; i < n; i++) {
        a[i] = bExtreme ? (i % 2 ? 127 : -128) : (int8_t)(int)(uniform(&seed) * 128.0f);
        b[i] = bExtreme ? (i % 3 ? -128 : 127) : (int8_t)(int)(uniform(&seed) * 128.0f);
        dot += a[i] * b[i];
        l2 += (a[i] - b[i]) * (a[i] - b[i]);
        l1 += abs(a[i] - b[i]);
        aa += a[i] * a[i];
        bb += b[i] * b[i];
      }
      int32_t sums[3];
      vg_i8_cos_sums_kernel(a, b, n, sums);
      if (vg_i8_dot_kernel(a, b, n) != dot || vg_i8_l2sq_kernel(a, b, n) != l2 ||
          vg_i8_l1_kernel(a, b, n) != l1 || sums[0] != dot || sums[1] != aa || sums[2] != bb) {
        fail_msg("%s int8 kernels n=%d: dot %d/%lld l2sq %d/%lld l1 %d/%lld", vg_simd_name(level), n,
                 vg_i8_dot_kernel(a, b, n), (long long)dot, vg_i8_l2sq_kernel(a, b, n), (long long)l2,
                 vg_i8_l1_kernel(a, b, n), (long long)l1);
      }
      const uint8_t *ua = (const uint8_t *)a, *ub = (const uint8_t *)b;
      for (int i = 0; i < n; i++) ham += __builtin_popcount((unsigned)(ua[i] ^ ub[i]));
      if (vg_hamming_kernel(ua, ub, n) != ham) {
        fail_msg("%s hamming n=%d bytes: %d vs %lld", vg_simd_name(level), n, vg_hamming_kernel(ua, ub, n),
                 (long long)ham);
      }
    }
  }
  int8_t i1[] = {1, 2}, i2[] = {3, 5};
  /* sqlite-vec 0.1.9's vec_distance_l2, _cosine, _l1 of these (float32) */
  assert_true(vg_i8_distance(VG_METRIC_L2, i1, i2, 2, 0) == 3.605551242828369f);
  assert_true(vg_i8_distance(VG_METRIC_L2, i1, i2, 2, 1) == 13.0f);
  assert_true(vg_i8_distance(VG_METRIC_COSINE, i1, i2, 2, 0) == 0.0029455143958330154f);
  assert_true(vg_i8_distance(VG_METRIC_L1, i1, i2, 2, 0) == 5.0f);
  assert_true(vg_i8_distance(VG_METRIC_IP, i1, i2, 2, 0) == -13.0f);
  uint8_t b1[] = {0x01, 0xFF}, b2[] = {0x03, 0x0F};
  assert_true(vg_bits_distance(b1, b2, 2) == 5.0f);
  /* Exact small cases */
  unsigned char cx[] = {0, 1, 255};
  assert_true(vg_dot_code(x_small, cx, 1.0f, 0.5f, 3) == 1 * 1.0f + 2 * 1.5f + 3 * 128.5f);
  assert_true(vg_l2sq_code(x_small, cx, 1.0f, 0.5f, 3) == 0.0f + 0.25f + 125.5f * 125.5f);
  float x[] = {1, 2, 3}, y[] = {4, 5, 6};
  assert_true(vg_dot(x, y, 3) == 32.0f);
  assert_true(vg_l2sq(x, y, 3) == 27.0f);
  assert_true(vg_prepared_distance(VG_METRIC_L2, x, y, 3) == sqrtf(27.0f));
  assert_true(vg_prepared_distance(VG_METRIC_IP, x, y, 3) == -32.0f);
}

static void test_portable(void **state) {
  (void)state;
  check_level(VG_SIMD_PORTABLE);
}
static void test_avx2(void **state) {
  (void)state;
  check_level(VG_SIMD_AVX2);
}
static void test_avx512(void **state) {
  (void)state;
  check_level(VG_SIMD_AVX512);
}

static void test_best_is_chosen(void **state) {
  (void)state;
  vg_distance_init();
  vg_simd best = vg_simd_level();
  /* Nothing better than the chosen level is available. */
  for (int l = best + 1; l <= VG_SIMD_AVX512; l++) assert_false(vg_simd_force((vg_simd)l));
  vg_simd_force(best);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_portable),
      cmocka_unit_test(test_avx2),
      cmocka_unit_test(test_avx512),
      cmocka_unit_test(test_best_is_chosen),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
