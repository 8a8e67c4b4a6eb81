/*
** test_int8.c — vg_hnsw tables created with quantization=int8, against a
** float32 table holding the same rows:
**
**   exact = 1 returns the same rows and the same distances (re-ranking by
**   bounds must never drop a row that belongs in the answer), under random
**   filters, through writes, in a new connection;
**   graph search loses at most one point of recall@10 at the same ef, and
**   every distance it returns is the exact one (vg_distance of the stored
**   vector);
**   bad option values are rejected, and a damaged slot read while
**   re-ranking gives an error naming the damage.
*/
#include "testdb.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { DIMS = 32, ROWS = 3000, QUERIES = 60, K = 10 };

/* Clustered rows (as embeddings are): 30 centres, each element spread
** around its centre's by up to this much. */
static float spread = 0.3f;

static void random_vector(uint64_t *s, float *v, const float *aCentre) {
  const float *c = aCentre + (tdb_rand(s) % 30) * DIMS;
  for (int j = 0; j < DIMS; j++) v[j] = c[j] + spread * (float)(tdb_uniform(s) * 2 - 1);
}

static float *centres(void) {
  static float a[30 * DIMS];
  uint64_t s = 99;
  for (int i = 0; i < 30 * DIMS; i++) a[i] = (float)(tdb_uniform(&s) * 2 - 1);
  return a;
}

static void create_pair(sqlite3 *db, const char *zMetric) {
  tdb_exec(db,
           "CREATE VIRTUAL TABLE f USING vg_hnsw(tenant text partition key, e float[%d] "
           "distance_metric=%s, cat integer, hnsw_m=8, ef_construction=64);"
           "CREATE VIRTUAL TABLE q USING vg_hnsw(tenant text partition key, e float[%d] "
           "distance_metric=%s, cat integer, hnsw_m=8, ef_construction=64, "
           "quantization=int8);",
           DIMS, zMetric, DIMS, zMetric);
}

static void insert_rows(sqlite3 *db, const float *aCentre, uint64_t *s, int n, sqlite3_int64 first) {
  sqlite3_stmt *pF = tdb_prepare(db, "INSERT INTO f(rowid, tenant, e, cat) VALUES (?1, ?2, ?3, ?4)");
  sqlite3_stmt *pQ = tdb_prepare(db, "INSERT INTO q(rowid, tenant, e, cat) VALUES (?1, ?2, ?3, ?4)");
  float v[DIMS];
  tdb_exec(db, "BEGIN");
  for (int i = 0; i < n; i++) {
    random_vector(s, v, aCentre);
    const char *zTenant = i % 3 == 0 ? "a" : i % 3 == 1 ? "b" : "c";
    int cat = (int)(tdb_rand(s) % 100);
    sqlite3_stmt *ap[2] = {pF, pQ};
    for (int t = 0; t < 2; t++) {
      sqlite3_bind_int64(ap[t], 1, first + i);
      sqlite3_bind_text(ap[t], 2, zTenant, -1, SQLITE_STATIC);
      sqlite3_bind_blob(ap[t], 3, v, sizeof(v), SQLITE_STATIC);
      sqlite3_bind_int(ap[t], 4, cat);
      if (sqlite3_step(ap[t]) != SQLITE_DONE) fail_msg("insert: %s", sqlite3_errmsg(db));
      sqlite3_reset(ap[t]);
    }
  }
  tdb_exec(db, "COMMIT");
  sqlite3_finalize(pF);
  sqlite3_finalize(pQ);
}

/* Run zWhere on table zTab with query vector v; rowids and distances. */
static int knn(sqlite3 *db, const char *zTab, const float *v, const char *zWhere,
               sqlite3_int64 *aId, double *aDist) {
  sqlite3_stmt *p = tdb_prepare(db, "SELECT rowid, distance FROM %s WHERE e MATCH ?1 AND k = %d %s%s",
                                zTab, K, strstr(zWhere, "tenant") ? "" : "AND tenant IN ('a', 'b', 'c') ",
                                zWhere);
  sqlite3_bind_blob(p, 1, v, sizeof(float) * DIMS, SQLITE_STATIC);
  int n = tdb_collect(p, aId, aDist, K);
  sqlite3_finalize(p);
  return n;
}

/* Exact search on both tables must agree exactly, under random filters. */
static void expect_exact_equal(sqlite3 *db, const float *aCentre, uint64_t *s) {
  float v[DIMS];
  for (int qi = 0; qi < QUERIES; qi++) {
    random_vector(s, v, aCentre);
    char zWhere[200];
    int lo = (int)(tdb_rand(s) % 100), hi = lo + (int)(tdb_rand(s) % 40);
    switch (qi % 4) {
      case 0: snprintf(zWhere, sizeof zWhere, "AND exact = 1"); break;
      case 1: snprintf(zWhere, sizeof zWhere, "AND exact = 1 AND tenant = 'b'"); break;
      case 2: snprintf(zWhere, sizeof zWhere, "AND exact = 1 AND cat BETWEEN %d AND %d", lo, hi); break;
      default: snprintf(zWhere, sizeof zWhere, "AND exact = 1 AND cat = %d AND tenant IN ('b', 'c')", lo); break;
    }
    sqlite3_int64 aF[K], aQ[K];
    double dF[K], dQ[K];
    int nF = knn(db, "f", v, zWhere, aF, dF), nQ = knn(db, "q", v, zWhere, aQ, dQ);
    assert_int_equal(nF, nQ);
    for (int i = 0; i < nF; i++) {
      if (aF[i] != aQ[i] || dF[i] != dQ[i]) {
        fail_msg("query %d (%s), result %d: float32 %lld at %.9g, int8 %lld at %.9g", qi, zWhere,
                 i, aF[i], dF[i], aQ[i], dQ[i]);
      }
    }
  }
}

static void test_exact_matches_float32(void **state) {
  (void)state;
  const char *azMetric[] = {"cosine", "l2", "ip"};
  const float *aCentre = centres();
  for (int m = 0; m < 3; m++) {
    char *zPath = tdb_temp_path("int8_exact.db");
    sqlite3 *db = tdb_open(zPath);
    uint64_t s = 7 + m;
    create_pair(db, azMetric[m]);
    insert_rows(db, aCentre, &s, ROWS, 1);
    expect_exact_equal(db, aCentre, &s);
    /* Writes: deletes, vector updates, partition moves, new rows. */
    tdb_exec(db, "DELETE FROM f WHERE rowid %% 7 = 0; DELETE FROM q WHERE rowid %% 7 = 0;"
                 "UPDATE f SET tenant = 'c' WHERE rowid %% 11 = 1;"
                 "UPDATE q SET tenant = 'c' WHERE rowid %% 11 = 1;"
                 "UPDATE f SET e = vg_normalize(e) WHERE rowid %% 13 = 2;"
                 "UPDATE q SET e = (SELECT e FROM f WHERE f.rowid = q.rowid) WHERE rowid %% 13 = 2;");
    insert_rows(db, aCentre, &s, 500, ROWS + 1);
    expect_exact_equal(db, aCentre, &s);
    tdb_expect_index_ok(db, "q");
    tdb_close(db);
    /* A new connection loads the int8 graph from the file. */
    db = tdb_open(zPath);
    expect_exact_equal(db, aCentre, &s);
    tdb_close(db);
    tdb_remove_db(zPath);
    sqlite3_free(zPath);
  }
}

/* recall@10 of graph search against exact search on the same table. */
static double graph_recall(sqlite3 *db, const char *zTab, const float *aCentre, int ef,
                           int bCheckDistances) {
  uint64_t s = 1234;
  float v[DIMS];
  int nHit = 0, nWant = 0;
  char zWhere[64];
  snprintf(zWhere, sizeof zWhere, "AND ef = %d AND exact = 0", ef);
  for (int qi = 0; qi < 200; qi++) {
    random_vector(&s, v, aCentre);
    sqlite3_int64 aE[K], aG[K];
    double dE[K], dG[K];
    int nE = knn(db, zTab, v, "AND exact = 1", aE, dE), nG = knn(db, zTab, v, zWhere, aG, dG);
    nWant += nE;
    for (int i = 0; i < nG; i++) {
      for (int j = 0; j < nE; j++) nHit += aG[i] == aE[j];
    }
    if (!bCheckDistances) continue;
    /* Every distance is the exact one, from the stored vector. */
    sqlite3_stmt *p = tdb_prepare(db, "SELECT vg_distance(e, ?1, 'cosine') FROM %s WHERE rowid = ?2",
                                  zTab);
    for (int i = 0; i < nG; i++) {
      sqlite3_bind_blob(p, 1, v, sizeof(v), SQLITE_STATIC);
      sqlite3_bind_int64(p, 2, aG[i]);
      assert_int_equal(sqlite3_step(p), SQLITE_ROW);
      double want = sqlite3_column_double(p, 0);
      if (fabs(want - dG[i]) > 1e-6) fail_msg("row %lld: distance %.9g, stored vector gives %.9g",
                                              aG[i], dG[i], want);
      sqlite3_reset(p);
    }
    sqlite3_finalize(p);
  }
  return (double)nHit / nWant;
}

static void test_graph_recall_within_a_point(void **state) {
  (void)state;
  const float *aCentre = centres();
  sqlite3 *db = tdb_open(":memory:");
  uint64_t s = 3;
  spread = 1.0f; /* hard enough that small ef misses rows */
  create_pair(db, "cosine");
  insert_rows(db, aCentre, &s, 3 * ROWS, 1);
  int aEf[] = {10, 20, 40};
  for (int i = 0; i < 3; i++) {
    double rf = graph_recall(db, "f", aCentre, aEf[i], 0);
    double rq = graph_recall(db, "q", aCentre, aEf[i], 1);
    print_message("ef %d: recall@10 float32 %.4f, int8 %.4f\n", aEf[i], rf, rq);
    assert_true(rq >= rf - 0.01);
  }
  spread = 0.3f;
  tdb_expect_index_ok(db, "q");
  tdb_close(db);
}

static void test_options_and_damage(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_expect_error(db, "quantization must be none or int8; got 'quantization=int4'",
                   "CREATE VIRTUAL TABLE x USING vg_hnsw(e float[4], quantization=int4)");
  tdb_expect_error(db, "quantization must be none or int8; got 'quantization=int8 x'",
                   "CREATE VIRTUAL TABLE x USING vg_hnsw(e float[4], quantization=int8 x)");
  tdb_expect_error(db, "option quantization is given twice",
                   "CREATE VIRTUAL TABLE x USING vg_hnsw(e float[4], quantization=none, "
                   "quantization=int8)");
  tdb_exec(db, "CREATE VIRTUAL TABLE n USING vg_hnsw(e float[4], quantization=none)");
  tdb_exec(db, "CREATE VIRTUAL TABLE t USING vg_hnsw(e float[4], quantization=int8)");
  tdb_exec(db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 50) "
               "INSERT INTO t(rowid, e) SELECT i, json_array(i, 1, i %% 7, 2) FROM c");
  /* The graph is cached by the first query; then the slots are damaged
  ** behind its back (no nonce change), so re-ranking reads the damage. */
  assert_int_equal(tdb_int(db, "SELECT rowid FROM t WHERE e MATCH '[3, 1, 3, 2]' AND k = 1"), 3);
  tdb_exec(db, "UPDATE t_chunks SET slots = zeroblob(length(slots))");
  tdb_expect_error(db, "shadow tables are corrupt",
                   "SELECT rowid FROM t WHERE e MATCH '[3, 1, 3, 2]' AND k = 1 AND exact = 0");
  tdb_expect_error(db, "shadow tables are corrupt",
                   "SELECT rowid FROM t WHERE e MATCH '[3, 1, 3, 2]' AND k = 1 AND exact = 1");
  /* Vectors at the largest magnitude an element may have, and tiny ones:
  ** answers match a float32 table. */
  tdb_exec(db, "CREATE VIRTUAL TABLE wf USING vg_hnsw(e float[4] distance_metric=l2);"
               "CREATE VIRTUAL TABLE wq USING vg_hnsw(e float[4] distance_metric=l2, "
               "quantization=int8);");
  for (int t = 0; t < 2; t++) {
    tdb_exec(db, "INSERT INTO %s(rowid, e) VALUES (1, '[1e16, -1e16, 0, 0]'), "
                 "(2, '[1, 2, 3, 4]'), (3, '[0, 0, 0, 1]'), (4, '[1e-30, 0, 0, 2]')",
             t ? "wq" : "wf");
  }
  for (int bExact = 0; bExact <= 1; bExact++) {
    char *zF = tdb_text(db, "SELECT group_concat(rowid || ':' || distance, ' ') FROM (SELECT rowid, "
                            "distance FROM wf WHERE e MATCH '[1, 2, 3, 4.5]' AND k = 4 AND exact = %d)",
                        bExact);
    char *zQ = tdb_text(db, "SELECT group_concat(rowid || ':' || distance, ' ') FROM (SELECT rowid, "
                            "distance FROM wq WHERE e MATCH '[1, 2, 3, 4.5]' AND k = 4 AND exact = %d)",
                        bExact);
    assert_string_equal(zF, zQ);
    sqlite3_free(zF);
    sqlite3_free(zQ);
  }
  tdb_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_matches_float32),
      cmocka_unit_test(test_graph_recall_within_a_point),
      cmocka_unit_test(test_options_and_damage),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
