/*
** test_functions.c — vg_vector, vg_vector_json, vg_dims, vg_distance,
** vg_normalize and vg_version, through SQL.  Distances are checked against
** values worked out by hand and against a double-precision computation in
** this file.
*/
#include "testdb.h"

#include <math.h>
#include <string.h>

static sqlite3 *db;

static int setup(void **state) {
  (void)state;
  db = tdb_open(":memory:");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tdb_close(db);
  return 0;
}

static void test_vector_values(void **state) {
  (void)state;
  /* float32 little-endian: 1.0 = 0000803F, -2.5 = 000020C0 */
  tdb_expect_text(db, "0000803F000020C0", "SELECT hex(vg_vector('[1, -2.5]'))");
  tdb_expect_text(db, "0000803F000020C0", "SELECT hex(vg_vector(x'0000803F000020C0'))");
  tdb_expect_text(db, "[1,-2.5]", "SELECT vg_vector_json(x'0000803F000020C0')");
  tdb_expect_text(db, "[0.1,2,-0.03]", "SELECT vg_vector_json('[0.1, 2, -3e-2]')");
  assert_int_equal(tdb_int(db, "SELECT vg_dims('[1,2,3]')"), 3);
  assert_int_equal(tdb_int(db, "SELECT vg_dims(zeroblob(1536))"), 384);
  tdb_expect_text(db, "blob", "SELECT typeof(vg_vector('[1]'))");
  /* NULL in, NULL out */
  tdb_expect_text(db, "null|null|null|null|null|null",
              "SELECT typeof(vg_vector(NULL)) || '|' || typeof(vg_vector_json(NULL)) || '|' "
              "|| typeof(vg_dims(NULL)) || '|' || typeof(vg_normalize(NULL)) || '|' || "
              "typeof(vg_distance(NULL, '[1]')) || '|' || typeof(vg_distance('[1]', NULL))");
}

static void test_vector_errors(void **state) {
  (void)state;
  tdb_expect_error(db, "vg_vector: element 1 is NaN", "SELECT vg_vector(x'0000803F0000C07F')");
  tdb_expect_error(db, "vg_vector: element 0 is infinite", "SELECT vg_vector(x'0000807F')");
  tdb_expect_error(db, "multiple of 4 bytes long, got 5 bytes", "SELECT vg_vector(x'0000803F00')");
  tdb_expect_error(db, "vg_vector: empty vector", "SELECT vg_vector(x'')");
  tdb_expect_error(db, "vg_vector: empty vector", "SELECT vg_vector('[]')");
  tdb_expect_error(db, "malformed JSON vector: expected a number at offset 4",
                   "SELECT vg_vector('[1, oops]')");
  tdb_expect_error(db, "malformed JSON vector: expected '['", "SELECT vg_vector('1,2')");
  tdb_expect_error(db, "outside the float32 range", "SELECT vg_vector('[1e40]')");
  tdb_expect_error(db, "got an integer", "SELECT vg_vector(5)");
  tdb_expect_error(db, "got a real", "SELECT vg_dims(5.5)");
  tdb_expect_error(db, "vg_vector_json: malformed JSON", "SELECT vg_vector_json('[1')");
  tdb_expect_error(db, "vg_distance: dimension mismatch: 2 elements vs 3",
                   "SELECT vg_distance('[1,2]', '[1,2,3]')");
  tdb_expect_error(db, "unknown metric 'dot'", "SELECT vg_distance('[1]', '[1]', 'dot')");
  tdb_expect_error(db, "the metric must be", "SELECT vg_distance('[1]', '[1]', 2)");
  tdb_expect_error(db, "cosine distance is undefined for a zero vector",
                   "SELECT vg_distance('[0,0]', '[1,2]', 'cosine')");
  tdb_expect_error(db, "vg_normalize: a zero vector has no direction",
                   "SELECT vg_normalize('[0,0,0]')");
}

static void test_distance_by_hand(void **state) {
  (void)state;
  /* 3-4-5 triangle; orthogonal unit vectors; a dot product of 1*3 + 2*4 */
  assert_true(tdb_double(db, "SELECT vg_distance('[0,0]', '[3,4]')") == 5.0);
  assert_true(tdb_double(db, "SELECT vg_distance('[0,0]', '[3,4]', 'l2')") == 5.0);
  assert_true(tdb_double(db, "SELECT vg_distance('[1,0]', '[0,1]', 'cosine')") == 1.0);
  assert_true(tdb_double(db, "SELECT vg_distance('[1,0]', '[-2,0]', 'COSINE')") == 2.0);
  assert_true(fabs(tdb_double(db, "SELECT vg_distance('[1,1]', '[2,2]', 'cosine')")) < 1e-7);
  assert_true(tdb_double(db, "SELECT vg_distance('[1,2]', '[3,4]', 'ip')") == -11.0);
  tdb_expect_text(db, "[0.6,0.8]", "SELECT vg_vector_json(vg_normalize('[3,4]'))");
}

static void test_distance_random(void **state) {
  (void)state;
  uint64_t s = 17;
  sqlite3_stmt *pStmt = tdb_prepare(db, "SELECT vg_distance(?1, ?2, 'l2'), "
                                        "vg_distance(?1, ?2, 'cosine'), vg_distance(?1, ?2, 'ip')");
  for (int round = 0; round < 200; round++) {
    int n = 1 + (int)(tdb_rand(&s) % 1000);
    float a[1000], b[1000];
    double dot = 0, na = 0, nb = 0, l2 = 0;
    for (int i = 0; i < n; i++) {
      a[i] = (float)(tdb_uniform(&s) * 2 - 1);
      b[i] = (float)(tdb_uniform(&s) * 2 - 1);
      dot += (double)a[i] * b[i];
      na += (double)a[i] * a[i];
      nb += (double)b[i] * b[i];
      l2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    }
    sqlite3_bind_blob(pStmt, 1, a, 4 * n, SQLITE_STATIC); /* x86-64: little-endian */
    sqlite3_bind_blob(pStmt, 2, b, 4 * n, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(pStmt), SQLITE_ROW);
    double got_l2 = sqlite3_column_double(pStmt, 0);
    double got_cos = sqlite3_column_double(pStmt, 1);
    double got_ip = sqlite3_column_double(pStmt, 2);
    double want_cos = 1.0 - dot / sqrt(na * nb);
    if (fabs(got_l2 - sqrt(l2)) > 1e-5 * sqrt(l2) + 1e-6) fail_msg("l2 n=%d", n);
    if (fabs(got_cos - want_cos) > 1e-5) fail_msg("cosine n=%d %g %g", n, got_cos, want_cos);
    if (fabs(got_ip + dot) > 1e-5 * (sqrt(na * nb) + 1)) fail_msg("ip n=%d", n);
    sqlite3_reset(pStmt);
  }
  sqlite3_finalize(pStmt);
}

static void test_version(void **state) {
  (void)state;
  char *z = tdb_text(db, "SELECT vg_version()");
  assert_non_null(strstr(z, "vecguard 0."));
  assert_non_null(strstr(z, "kernels"));
  sqlite3_free(z);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vector_values),    cmocka_unit_test(test_vector_errors),
      cmocka_unit_test(test_distance_by_hand), cmocka_unit_test(test_distance_random),
      cmocka_unit_test(test_version),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
