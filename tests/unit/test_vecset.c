/*
** test_vecset.c — the rowid hash map and the in-memory vector set, against
** plain arrays under random insert/remove churn.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "vecset.h"

static uint64_t next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Keys from a small range so that removals and reinsertions collide. */
static void test_i64map_churn(void **state) {
  (void)state;
  enum { RANGE = 3000 };
  static sqlite3_int64 ref[RANGE]; /* -1: absent */
  I64Map m;
  i64map_init(&m);
  for (int i = 0; i < RANGE; i++) ref[i] = -1;
  uint64_t s = 99;
  size_t n = 0;
  for (int op = 0; op < 200000; op++) {
    int k = (int)(next(&s) % RANGE);
    sqlite3_int64 key = (sqlite3_int64)k * 1000003 - 1500000000; /* negative keys too */
    if (next(&s) % 3) {
      sqlite3_int64 v = (sqlite3_int64)(next(&s) % 1000000);
      assert_int_equal(i64map_put(&m, key, v), SQLITE_OK);
      if (ref[k] < 0) n++;
      ref[k] = v;
    } else {
      i64map_remove(&m, key);
      if (ref[k] >= 0) n--;
      ref[k] = -1;
    }
    if (op % 997 == 0) {
      for (int j = 0; j < RANGE; j++) {
        assert_int_equal(i64map_get(&m, (sqlite3_int64)j * 1000003 - 1500000000), ref[j]);
      }
      assert_int_equal(m.nUsed, n);
    }
  }
  i64map_free(&m);
}

static void test_vecset_churn(void **state) {
  (void)state;
  enum { DIMS = 5, RANGE = 500 };
  static float ref[RANGE][DIMS];
  static int present[RANGE];
  VecSet set;
  vecset_init(&set, DIMS);
  uint64_t s = 5;
  for (int op = 0; op < 50000; op++) {
    int id = (int)(next(&s) % RANGE);
    if (next(&s) % 4) {
      float v[DIMS];
      for (int d = 0; d < DIMS; d++) v[d] = (float)(next(&s) % 1000);
      assert_int_equal(vecset_put(&set, id, v), SQLITE_OK);
      memcpy(ref[id], v, sizeof v);
      present[id] = 1;
    } else {
      vecset_remove(&set, id);
      present[id] = 0;
    }
  }
  int n = 0;
  for (int id = 0; id < RANGE; id++) {
    int i = vecset_find(&set, id);
    if (!present[id]) {
      assert_int_equal(i, -1);
      continue;
    }
    n++;
    assert_true(i >= 0 && i < set.n);
    assert_int_equal(set.aId[i], id);
    assert_memory_equal(vecset_vector(&set, i), ref[id], sizeof(float) * DIMS);
  }
  assert_int_equal(set.n, n);
  vecset_free(&set);
}

static void test_vecset_remove_zeroes(void **state) {
  (void)state;
  VecSet set;
  vecset_init(&set, 2);
  float a[] = {1, 2}, b[] = {3, 4}, c[] = {5, 6};
  vecset_put(&set, 10, a);
  vecset_put(&set, 20, b);
  vecset_put(&set, 30, c);
  vecset_remove(&set, 10); /* 30 moves into position 0 */
  assert_int_equal(set.n, 2);
  assert_int_equal(vecset_find(&set, 30), 0);
  assert_true(set.aVec[0] == 5 && set.aVec[1] == 6);
  assert_true(set.aVec[4] == 0 && set.aVec[5] == 0); /* the vacated tail */
  vecset_remove(&set, 30);
  vecset_remove(&set, 20);
  assert_int_equal(set.n, 0);
  for (int i = 0; i < 6; i++) assert_true(set.aVec[i] == 0);
  vecset_free(&set);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_i64map_churn),
      cmocka_unit_test(test_vecset_churn),
      cmocka_unit_test(test_vecset_remove_zeroes),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
