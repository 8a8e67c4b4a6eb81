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
