/*
** test_topk.c — the bounded heap against sorting everything.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "hnsw/hnsw.h"

static int cmp_hit(const void *x, const void *y) {
  const VgHit *a = x, *b = y;
  if (a->distance != b->distance) return a->distance < b->distance ? -1 : 1;
  return a->rowid < b->rowid ? -1 : a->rowid > b->rowid;
}

static void test_against_sort(void **state) {
  (void)state;
  uint64_t s = 7;
  const int ks[] = {1, 2, 10, 100, 999, 1000, 5000};
  for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
    int n = 1000, k = ks[ki];
    VgHit *all = malloc(sizeof(VgHit) * n);
    TopK top;
    topk_init(&top, k);
    for (int i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >> 7;
      s ^= s << 17;
      /* few distinct distances, so ties are common and must go to the
      ** smaller rowid */
      all[i].distance = (double)(s % 50) / 7.0;
      all[i].rowid = (int64_t)(s >> 24) - ((int64_t)1 << 39);
      assert_int_equal(topk_push(&top, all[i].distance, all[i].rowid), HNSW_OK);
    }
    qsort(all, n, sizeof(VgHit), cmp_hit);
    topk_sort(&top);
    int want = k < n ? k : n;
    assert_int_equal(top.n, want);
    for (int i = 0; i < want; i++) {
      assert_true(top.a[i].distance == all[i].distance);
      assert_true(top.a[i].rowid == all[i].rowid);
    }
    topk_free(&top);
    free(all);
  }
}

static void test_accepts(void **state) {
  (void)state;
  TopK top;
  topk_init(&top, 2);
  assert_true(topk_accepts(&top, 5.0, 1));
  topk_push(&top, 1.0, 10);
  topk_push(&top, 2.0, 20);
  assert_false(topk_accepts(&top, 3.0, 1));
  assert_false(topk_accepts(&top, 2.0, 21));
  assert_true(topk_accepts(&top, 2.0, 19));
  assert_true(topk_accepts(&top, 1.5, 99));
  topk_free(&top);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_against_sort),
      cmocka_unit_test(test_accepts),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
