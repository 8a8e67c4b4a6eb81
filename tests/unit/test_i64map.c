/*
** test_i64map.c — the rowid hash map against a plain array under random
** insert/remove churn.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "hnsw/hnsw.h"

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
  static int64_t ref[RANGE]; /* -1: absent */
  I64Map m;
  i64map_init(&m);
  for (int i = 0; i < RANGE; i++) ref[i] = -1;
  uint64_t s = 99;
  size_t n = 0;
  for (int op = 0; op < 200000; op++) {
    int k = (int)(next(&s) % RANGE);
    int64_t key = (int64_t)k * 1000003 - 1500000000; /* negative keys too */
    if (next(&s) % 3) {
      int64_t v = (int64_t)(next(&s) % 1000000);
      assert_int_equal(i64map_put(&m, key, v), HNSW_OK);
      if (ref[k] < 0) n++;
      ref[k] = v;
    } else {
      i64map_remove(&m, key);
      if (ref[k] >= 0) n--;
      ref[k] = -1;
    }
    if (op % 997 == 0) {
      for (int j = 0; j < RANGE; j++) {
        assert_int_equal(i64map_get(&m, (int64_t)j * 1000003 - 1500000000), ref[j]);
      }
      assert_int_equal(m.nUsed, n);
    }
  }
  i64map_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_i64map_churn),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
