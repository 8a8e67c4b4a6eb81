/*
** test_queue.c — the queue's rules (pipeline.h, queue section): names, who may finish an
** item, the status after a failure, and the retry delay against its
** formula worked out by hand.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pipeline/pipeline.h"

static void test_names(void **state) {
  (void)state;
  static const char *azP[] = {"high", "medium", "low"};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(vg_priority_parse(azP[i]), i);
    assert_string_equal(vg_priority_name(i), azP[i]);
  }
  assert_int_equal(vg_priority_parse("HIGH"), -1);
  assert_int_equal(vg_priority_parse("urgent"), -1);
  assert_int_equal(vg_priority_parse(0), -1);
  static const char *azS[] = {"pending", "processing", "done", "failed", "dead"};
  for (int i = 0; i < VG_ITEM_STATUS_COUNT; i++) {
    assert_int_equal(vg_item_status_parse(azS[i]), i);
    assert_string_equal(vg_item_status_name(i), azS[i]);
  }
  assert_int_equal(vg_item_status_parse("running"), -1);
}

static void test_finish_and_fail(void **state) {
  (void)state;
  VgItemState st = {VG_ITEM_PROCESSING, 2, 5};
  assert_null(vg_queue_finish_refused(&st, 1));
  assert_non_null(strstr(vg_queue_finish_refused(&st, 0), "another worker"));
  for (int s = 0; s < VG_ITEM_STATUS_COUNT; s++) {
    if (s == VG_ITEM_PROCESSING) continue;
    VgItemState other = {s, 2, 5};
    assert_non_null(strstr(vg_queue_finish_refused(&other, 1), "not being processed"));
  }
  /* Attempts 1..4 of 5 fail into a retry; the 5th ends the item. */
  for (int n = 1; n <= 6; n++) {
    VgItemState f = {VG_ITEM_PROCESSING, n, 5};
    assert_int_equal(vg_queue_status_after_fail(&f), n < 5 ? VG_ITEM_FAILED : VG_ITEM_DEAD);
  }
}

static void test_retry_delay(void **state) {
  (void)state;
  /* base 30 s doubling per attempt: 30, 60, 120, 240, ... capped at 3600,
  ** each times a factor in [0.5, 1). */
  static const double aFull[] = {30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600};
  for (long long id = 1; id <= 200; id++) {
    for (int n = 1; n <= 10; n++) {
      double d = vg_queue_retry_delay(id, n, 30, 3600);
      assert_true(d >= 0.5 * aFull[n - 1] && d < aFull[n - 1]);
      assert_true(d == vg_queue_retry_delay(id, n, 30, 3600)); /* the same on every call */
    }
  }
  /* The factor spreads: over many items, delays of one attempt cover the
  ** range rather than bunching (each tenth of [0.5, 1) is hit). */
  int aBin[10] = {0};
  for (long long id = 1; id <= 1000; id++) {
    double f = vg_queue_retry_delay(id, 3, 30, 3600) / 120.0;
    aBin[(int)((f - 0.5) * 20)]++;
  }
  for (int b = 0; b < 10; b++) assert_true(aBin[b] > 50 && aBin[b] < 150);
  /* Attempt 0 or below counts as the first. */
  assert_true(vg_queue_retry_delay(7, 0, 30, 3600) == vg_queue_retry_delay(7, 1, 30, 3600));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_finish_and_fail),
      cmocka_unit_test(test_retry_delay),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
