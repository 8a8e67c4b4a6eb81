/*
** test_duplicates.c — vg_hnsw tables holding copies of vectors (issue F2:
** copies of one vector once cut the graph apart, leaving rows that no
** search reached and that could not find themselves).
**
** For each table: vg_hnsw_check is clean; every row, searched for with its
** own vector through the graph (exact = 0), finds a row as near as exact
** search does; for a copied vector, graph search returns as many rows at
** the nearest distance (the copies) as exact search, up to k; and
** recall@10 at the default ef, against exact = 1 and counted by distance
** (among copies any one is as good as another), stays high.
**
** The issue's reproducer comes first, as it was reported.
*/
#include "testdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The copied vector of these tests. */
static const float aOnes[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

static void insert_row(sqlite3_stmt *pIns, sqlite3_int64 rowid, const float *v, int nDims) {
  sqlite3_bind_int64(pIns, 1, rowid);
  sqlite3_bind_blob(pIns, 2, v, (int)sizeof(float) * nDims, SQLITE_TRANSIENT);
  if (sqlite3_step(pIns) != SQLITE_DONE) {
    fail_msg("insert: %s", sqlite3_errmsg(sqlite3_db_handle(pIns)));
  }
  sqlite3_reset(pIns);
}

/* The nearest distance graph search (exact = 0) and exact search find for
** q, with k = 1. */
static void nearest_both(sqlite3_stmt *pG, sqlite3_stmt *pX, const void *q, int nByte,
                         double *pdG, double *pdX) {
  sqlite3_int64 id;
  sqlite3_bind_blob(pG, 1, q, nByte, SQLITE_STATIC);
  sqlite3_bind_blob(pX, 1, q, nByte, SQLITE_STATIC);
  if (tdb_collect(pG, &id, pdG, 1) != 1) fail_msg("graph search found nothing");
  if (tdb_collect(pX, &id, pdX, 1) != 1) fail_msg("exact search found nothing");
}

/* Every row of zTable (vector column e) searched for with its own vector
** through the graph finds a row as near as exact search finds. */
static void expect_rows_find_themselves(sqlite3 *db, const char *zTable) {
  sqlite3_stmt *pRows = tdb_prepare(db, "SELECT rowid, e FROM %s", zTable);
  sqlite3_stmt *pG = tdb_prepare(db, "SELECT rowid, distance FROM %s WHERE e MATCH ?1 AND k = 1 "
                                     "AND exact = 0", zTable);
  sqlite3_stmt *pX = tdb_prepare(db, "SELECT rowid, distance FROM %s WHERE e MATCH ?1 AND k = 1 "
                                     "AND exact = 1", zTable);
  int nRows = 0, nMissed = 0;
  while (sqlite3_step(pRows) == SQLITE_ROW) {
    double dG, dX;
    nearest_both(pG, pX, sqlite3_column_blob(pRows, 1), sqlite3_column_bytes(pRows, 1), &dG, &dX);
    if (dG > dX) {
      if (nMissed < 5) {
        printf("  row %lld: graph search's nearest is at %g, exact search's at %g\n",
               (long long)sqlite3_column_int64(pRows, 0), dG, dX);
      }
      nMissed++;
    }
    nRows++;
  }
  sqlite3_finalize(pRows);
  sqlite3_finalize(pG);
  sqlite3_finalize(pX);
  if (nMissed) fail_msg("%s: %d of %d rows did not find themselves", zTable, nMissed, nRows);
}

/* How many of the (at most k) rows a search returns for q are at the
** nearest distance. */
static int count_nearest(sqlite3 *db, const char *zTable, const float *q, int nDims, int k,
                         int bExact) {
  sqlite3_stmt *p = tdb_prepare(db, "SELECT rowid, distance FROM %s WHERE e MATCH ?1 AND k = %d "
                                    "AND exact = %d", zTable, k, bExact);
  sqlite3_int64 *aId = malloc(sizeof(sqlite3_int64) * (size_t)k);
  double *aDist = malloc(sizeof(double) * (size_t)k);
  sqlite3_bind_blob(p, 1, q, (int)sizeof(float) * nDims, SQLITE_STATIC);
  int n = tdb_collect(p, aId, aDist, k), nNearest = 0;
  for (int i = 0; i < n; i++) nNearest += aDist[i] == aDist[0];
  sqlite3_finalize(p);
  free(aId);
  free(aDist);
  return nNearest;
}

/* Graph search for the copied vector returns as many copies as exact
** search, for k below and (when the table holds few enough) above their
** number. */
static void expect_all_ties(sqlite3 *db, const char *zTable, const float *q, int nDims) {
  static const int aK[] = {10, 64, 500};
  for (int i = 0; i < 3; i++) {
    int nX = count_nearest(db, zTable, q, nDims, aK[i], 1);
    int nG = count_nearest(db, zTable, q, nDims, aK[i], 0);
    if (nG != nX) fail_msg("%s, k = %d: %d rows at the nearest distance, exact search %d", zTable,
                           aK[i], nG, nX);
  }
}

/* Mean recall@10 of graph search at the table's default ef over nQuery
** queries (every fourth the copied vector), against exact = 1: a result
** counts when it is no farther than the tenth exact result. */
static double recall_at_10(sqlite3 *db, const char *zTable, int nDims, int nQuery, uint64_t seed) {
  sqlite3_stmt *pG = tdb_prepare(db, "SELECT rowid, distance FROM %s WHERE e MATCH ?1 AND k = 10 "
                                     "AND exact = 0", zTable);
  sqlite3_stmt *pX = tdb_prepare(db, "SELECT rowid, distance FROM %s WHERE e MATCH ?1 AND k = 10 "
                                     "AND exact = 1", zTable);
  uint64_t s = seed;
  int nHit = 0, nWant = 0;
  for (int qi = 0; qi < nQuery; qi++) {
    float q[16];
    for (int j = 0; j < nDims; j++) q[j] = qi % 4 == 0 ? 1.0f : (float)(tdb_uniform(&s) * 2 - 1);
    sqlite3_int64 aIdG[10], aIdX[10];
    double aG[10], aX[10];
    sqlite3_bind_blob(pG, 1, q, (int)sizeof(float) * nDims, SQLITE_STATIC);
    sqlite3_bind_blob(pX, 1, q, (int)sizeof(float) * nDims, SQLITE_STATIC);
    int nG = tdb_collect(pG, aIdG, aG, 10), nX = tdb_collect(pX, aIdX, aX, 10);
    assert_int_equal(nG, nX);
    for (int i = 0; i < nG; i++) nHit += aG[i] <= aX[nX - 1];
    nWant += nX;
  }
  sqlite3_finalize(pG);
  sqlite3_finalize(pX);
  return (double)nHit / nWant;
}

/* vg_hnsw_check(zTable) reports no damage; unreachable nodes first, the
** damage of issue F2. */
static void expect_clean(sqlite3 *db, const char *zTable) {
  assert_int_equal(tdb_int(db, "SELECT json_extract(vg_hnsw_check(%Q), '$.unreachable_nodes')",
                           zTable), 0);
  tdb_expect_index_ok(db, zTable);
}

/* As reported: 3,000 rows, every tenth the vector of ones, the rest random
** (SQLite's random(), so different on every run). */
static void test_issue_reproducer(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db,
           "CREATE VIRTUAL TABLE t USING vg_hnsw(embedding float[8]);"
           "BEGIN;"
           "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 3000) "
           "INSERT INTO t(rowid, embedding) "
           "SELECT i, CASE WHEN i %% 10 = 0 THEN '[1,1,1,1,1,1,1,1]' "
           "       ELSE json_array(random()%%1000/1000.0, random()%%1000/1000.0, "
           "                       random()%%1000/1000.0, random()%%1000/1000.0, "
           "                       random()%%1000/1000.0, random()%%1000/1000.0, "
           "                       random()%%1000/1000.0, random()%%1000/1000.0) END "
           "FROM s;"
           "COMMIT;");
  tdb_expect_text(db, "[true,0,3000]",
                  "SELECT json_extract(vg_hnsw_check('t'), '$.ok', '$.unreachable_nodes', "
                  "'$.nodes')");
  /* Every row finds a row at distance 0 (itself or a copy). */
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM t AS r WHERE (SELECT distance FROM t "
                               "WHERE embedding MATCH r.embedding AND k = 1 AND exact = 0) > 0"),
                   0);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM (SELECT distance FROM t WHERE embedding "
                               "MATCH '[1,1,1,1,1,1,1,1]' AND k = 500 AND exact = 0) "
                               "WHERE distance = 0"),
                   300);
  tdb_close(db);
}

/* nRows rows of nDims, a fraction of them the vector of ones, the rest
** uniform in [-1, 1], in zTable (vector column e) and in the plain table
** src(id, e). */
static void fill(sqlite3 *db, const char *zTable, const char *zOptions, int nRows, int nDims,
                 double fraction, uint64_t seed) {
  tdb_exec(db, "CREATE VIRTUAL TABLE %s USING vg_hnsw(e float[%d]%s)", zTable, nDims, zOptions);
  sqlite3_stmt *pIns = tdb_prepare(db, "INSERT INTO %s(rowid, e) VALUES (?1, ?2)", zTable);
  uint64_t s = seed;
  float v[16];
  tdb_exec(db, "BEGIN");
  for (int i = 1; i <= nRows; i++) {
    int bCopy = tdb_uniform(&s) < fraction;
    for (int j = 0; j < nDims; j++) v[j] = bCopy ? 1.0f : (float)(tdb_uniform(&s) * 2 - 1);
    insert_row(pIns, i, v, nDims);
  }
  tdb_exec(db, "COMMIT");
  sqlite3_finalize(pIns);
}

/* 1%, 10%, 50% (the issue's 3,000 copies among 6,000) and 100% copies. */
static void test_copies_at_ratios(void **state) {
  (void)state;
  static const double aFraction[] = {0.01, 0.10, 0.50, 1.0};
  static const int aRows[] = {3000, 3000, 6000, 3000};
  sqlite3 *db = tdb_open(":memory:");
  for (int t = 0; t < 4; t++) {
    char zTable[16];
    snprintf(zTable, sizeof zTable, "c%d", t);
    fill(db, zTable, "", aRows[t], 8, aFraction[t], 100 + t);
    expect_clean(db, zTable);
    expect_rows_find_themselves(db, zTable);
    expect_all_ties(db, zTable, aOnes, 8);
    double r = recall_at_10(db, zTable, 8, 200, 7);
    printf("  %.0f%% copies of %d rows: recall@10 %.4f\n", aFraction[t] * 100, aRows[t], r);
    assert_true(r >= 0.97);
  }
  tdb_close(db);
}

/* Nearly identical vectors on a line, with hnsw_m = 6 and ef_construction =
** 40: steps of 2e-9 from 1 along (1, 2, .., 8), in random order, so that
** rounding to float leaves about 1,000 distinct vectors among the 2,743,
** some of them copied many times. */
static void test_near_copies_on_a_line(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db, "CREATE VIRTUAL TABLE line USING vg_hnsw(e float[8], hnsw_m=6, ef_construction=40)");
  sqlite3_stmt *pIns = tdb_prepare(db, "INSERT INTO line(rowid, e) VALUES (?1, ?2)");
  uint64_t s = 5;
  tdb_exec(db, "BEGIN");
  for (int i = 1; i <= 2743; i++) {
    double t = (double)(tdb_rand(&s) % 2743) * 2e-9;
    float v[8];
    for (int j = 0; j < 8; j++) v[j] = (float)(1.0 + t * (j + 1));
    insert_row(pIns, i, v, 8);
  }
  tdb_exec(db, "COMMIT");
  sqlite3_finalize(pIns);
  expect_clean(db, "line");
  expect_rows_find_themselves(db, "line");
  tdb_close(db);
}

/* 50 vectors copied 40 times each among 1,000 others; then rounds of
** deleting a third of the rows and inserting them again (some as copies of
** the vector of ones instead), checked after each round. */
static void test_copies_under_churn(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  enum { SEEDS = 50, COPIES = 40, OTHERS = 1000, ROWS = SEEDS * COPIES + OTHERS, DIMS = 12 };
  static float aVec[ROWS][DIMS];
  uint64_t s = 21;
  for (int i = 0; i < ROWS; i++) {
    for (int j = 0; j < DIMS; j++) aVec[i][j] = (float)(tdb_uniform(&s) * 2 - 1);
  }
  for (int i = 0; i < SEEDS * COPIES; i++) {
    memcpy(aVec[tdb_rand(&s) % ROWS], aVec[i % SEEDS], sizeof aVec[0]);
  }
  tdb_exec(db, "CREATE VIRTUAL TABLE churn USING vg_hnsw(e float[%d])", DIMS);
  sqlite3_stmt *pIns = tdb_prepare(db, "INSERT INTO churn(rowid, e) VALUES (?1, ?2)");
  sqlite3_stmt *pDel = tdb_prepare(db, "DELETE FROM churn WHERE rowid = ?1");
  tdb_exec(db, "BEGIN");
  for (int i = 0; i < ROWS; i++) insert_row(pIns, i + 1, aVec[i], DIMS);
  tdb_exec(db, "COMMIT");
  expect_clean(db, "churn");
  for (int round = 0; round < 5; round++) {
    int aGone[ROWS], nGone = 0;
    tdb_exec(db, "BEGIN");
    for (int i = 0; i < ROWS; i++) {
      if (tdb_uniform(&s) >= 1.0 / 3) continue;
      sqlite3_bind_int64(pDel, 1, i + 1);
      if (sqlite3_step(pDel) != SQLITE_DONE) fail_msg("delete: %s", sqlite3_errmsg(db));
      sqlite3_reset(pDel);
      aGone[nGone++] = i;
    }
    tdb_exec(db, "COMMIT; BEGIN");
    for (int t = 0; t < nGone; t++) {
      int i = aGone[t];
      if (tdb_uniform(&s) < 0.1) memcpy(aVec[i], aOnes, sizeof aVec[0]);
      insert_row(pIns, i + 1, aVec[i], DIMS);
    }
    tdb_exec(db, "COMMIT");
    expect_clean(db, "churn");
  }
  sqlite3_finalize(pIns);
  sqlite3_finalize(pDel);
  expect_rows_find_themselves(db, "churn");
  expect_all_ties(db, "churn", aOnes, DIMS);
  expect_all_ties(db, "churn", aVec[0], DIMS);
  double r = recall_at_10(db, "churn", DIMS, 200, 9);
  printf("  clusters of copies after 5 rounds of churn: recall@10 %.4f\n", r);
  assert_true(r >= 0.95);
  tdb_close(db);
}

/* The built-in embedder turns identical texts into identical vectors: 2,000
** rows from 300 texts, a tenth of them one text, under cosine. */
static void test_identical_texts(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db,
           "CREATE VIRTUAL TABLE docs USING vg_hnsw(e float[64] distance_metric=cosine);"
           "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 2000) "
           "INSERT INTO docs(rowid, e) SELECT i, vg_embed(CASE WHEN i %% 10 = 0 "
           "THEN 'the same note' ELSE 'note number ' || (i * 7919 %% 300) END, 'hash:64') "
           "FROM s;");
  expect_clean(db, "docs");
  expect_rows_find_themselves(db, "docs");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM (SELECT rowid FROM docs WHERE e MATCH "
                               "vg_embed('the same note', 'hash:64') AND k = 500 AND exact = 0) "
                               "WHERE rowid %% 10 = 0"),
                   200);
  tdb_close(db);
}

/* A graph stored in pieces (as versions before the connectivity invariant
** could leave it) is mended by the first write to its partition.  The
** pieces are made by hand: two rows whose link lists (at every level they
** share) are cut in the stored slots (a list is a 4-byte count, then 8-byte
** rowids; a slot starts "VGS2", its level and its rowid: the slot layout in
** ext/table/table.h). */
static void test_stored_pieces_mended(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  const sqlite3_int64 ra = 0x1122334455667701LL, rb = 0x1122334455667702LL;
  tdb_exec(db, "CREATE VIRTUAL TABLE p USING vg_hnsw(e float[2], hnsw_m=2);"
               "INSERT INTO p(rowid, e) VALUES (%lld, '[0, 1]'), (%lld, '[1, 0]')",
           ra, rb);
  sqlite3_stmt *pRead = tdb_prepare(db, "SELECT id, slots FROM p_chunks");
  int nCut = 0;
  while (sqlite3_step(pRead) == SQLITE_ROW) {
    int n = sqlite3_column_bytes(pRead, 1);
    unsigned char *a = malloc((size_t)n);
    memcpy(a, sqlite3_column_blob(pRead, 1), (size_t)n);
    for (int i = 4; i + 8 <= n; i++) {
      /* a list of one link, to the other row */
      for (int w = 0; w < 2; w++) {
        sqlite3_uint64 u = (sqlite3_uint64)(w ? rb : ra);
        /* (not a slot's head: "VGS2", a 4-byte level, then its rowid) */
        int bMatch = a[i - 4] == 1 && a[i - 3] == 0 && a[i - 2] == 0 && a[i - 1] == 0 &&
                     !(i >= 8 && memcmp(a + i - 8, "VGS2", 4) == 0);
        for (int b = 0; b < 8 && bMatch; b++) bMatch = a[i + b] == (unsigned char)(u >> (8 * b));
        if (bMatch) {
          memset(a + i - 4, 0, 12);
          nCut++;
        }
      }
    }
    sqlite3_stmt *pW = tdb_prepare(db, "UPDATE p_chunks SET slots = ?1 WHERE id = ?2");
    sqlite3_bind_blob(pW, 1, a, n, SQLITE_TRANSIENT);
    sqlite3_bind_int64(pW, 2, sqlite3_column_int64(pRead, 0));
    assert_int_equal(sqlite3_step(pW), SQLITE_DONE);
    sqlite3_finalize(pW);
    free(a);
  }
  sqlite3_finalize(pRead);
  assert_true(nCut >= 2); /* level 0, and any upper level the two share */
  /* Another connection's view: the cache was loaded before the damage. */
  tdb_exec(db, "UPDATE p_partitions SET nonce = nonce + 1");
  char *z = tdb_text(db, "SELECT vg_hnsw_check('p')");
  if (strstr(z, "\"ok\":false") == 0 || strstr(z, "\"unreachable_nodes\":1") == 0) fail_msg("not cut: %s", z);
  sqlite3_free(z);
  /* A search reads; it mends nothing. */
  tdb_int(db, "SELECT count(*) FROM p WHERE e MATCH '[0, 1]' AND k = 2");
  z = tdb_text(db, "SELECT vg_hnsw_check('p')");
  assert_non_null(strstr(z, "\"ok\":false"));
  sqlite3_free(z);
  /* The first write mends and stores the mended links with its own. */
  tdb_exec(db, "INSERT INTO p(rowid, e) VALUES (3, '[0.5, 0.5]')");
  tdb_expect_index_ok(db, "p");
  tdb_exec(db, "UPDATE p_partitions SET nonce = nonce + 1");
  tdb_expect_index_ok(db, "p");
  tdb_expect_text(db, "3", "SELECT count(*) FROM p WHERE e MATCH '[1, 0]' AND k = 3 AND exact = 0");
  tdb_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_issue_reproducer),
      cmocka_unit_test(test_copies_at_ratios),
      cmocka_unit_test(test_near_copies_on_a_line),
      cmocka_unit_test(test_copies_under_churn),
      cmocka_unit_test(test_identical_texts),
      cmocka_unit_test(test_stored_pieces_mended),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
