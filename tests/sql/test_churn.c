/*
** test_churn.c — the index under delete/insert churn: after 30% of the rows
** are deleted and as many new ones inserted, graph search finds as much as on
** a graph freshly built from the same rows; and repeated churn reuses the
** space of deleted rows instead of growing the file.
**
** Recall is measured against the same table's exact search (exact = 1), which
** test_knn checks against an ordinary table.
*/
#include "testdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIMS 16
#define ROWS 4000
#define QUERIES 300
#define K 10

static void random_vector(uint64_t *s, float *a, int n) {
  for (int i = 0; i < n; i++) a[i] = (float)(tdb_uniform(s) * 2.0 - 1.0);
}

static void insert(sqlite3_stmt *pIns, sqlite3_int64 rowid, const float *e, int nDims) {
  sqlite3_bind_int64(pIns, 1, rowid);
  sqlite3_bind_blob(pIns, 2, e, (int)sizeof(float) * nDims, SQLITE_STATIC);
  if (sqlite3_step(pIns) != SQLITE_DONE) {
    fail_msg("insert: %s", sqlite3_errmsg(sqlite3_db_handle(pIns)));
  }
  sqlite3_reset(pIns);
}

/* Mean recall@K of graph search at ef = 10 (low, so that a worse graph
** shows), against exact search on the same table. */
static double recall_at_ef10(sqlite3 *db, const char *zTable) {
  sqlite3_stmt *pG = tdb_prepare(db, "SELECT rowid FROM %s WHERE e MATCH ?1 AND k = %d AND ef = 10",
                                 zTable, K);
  sqlite3_stmt *pX = tdb_prepare(db, "SELECT rowid FROM %s WHERE e MATCH ?1 AND k = %d AND exact = 1",
                                 zTable, K);
  uint64_t s = 777;
  int nHit = 0;
  for (int q = 0; q < QUERIES; q++) {
    float v[DIMS];
    sqlite3_int64 aG[K], aX[K];
    random_vector(&s, v, DIMS);
    sqlite3_bind_blob(pG, 1, v, sizeof v, SQLITE_STATIC);
    sqlite3_bind_blob(pX, 1, v, sizeof v, SQLITE_STATIC);
    int nG = tdb_collect(pG, aG, 0, K), nX = tdb_collect(pX, aX, 0, K);
    assert_int_equal(nG, K);
    assert_int_equal(nX, K);
    for (int i = 0; i < K; i++) {
      for (int j = 0; j < K; j++) nHit += aG[i] == aX[j];
    }
  }
  sqlite3_finalize(pG);
  sqlite3_finalize(pX);
  return (double)nHit / (QUERIES * K);
}

static void test_churn_recall(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db, "CREATE VIRTUAL TABLE churned USING vg_hnsw(e float[%d] distance_metric=l2);"
               "CREATE VIRTUAL TABLE fresh USING vg_hnsw(e float[%d] distance_metric=l2);"
               "CREATE TABLE vec(id INTEGER PRIMARY KEY, e BLOB)", DIMS, DIMS);
  sqlite3_stmt *pIns = tdb_prepare(db, "INSERT INTO churned(rowid, e) VALUES (?1, ?2)");
  sqlite3_stmt *pKeep = tdb_prepare(db, "INSERT INTO vec(id, e) VALUES (?1, ?2)");
  uint64_t s = 4242;
  float e[DIMS];
  tdb_exec(db, "BEGIN");
  for (int i = 1; i <= ROWS; i++) {
    random_vector(&s, e, DIMS);
    insert(pIns, i, e, DIMS);
    insert(pKeep, i, e, DIMS);
  }
  tdb_exec(db, "COMMIT; BEGIN");
  /* delete 30% at random, then insert as many new rows */
  int nDeleted = 0;
  for (int i = 1; i <= ROWS; i++) {
    if (tdb_uniform(&s) < 0.3) {
      tdb_exec(db, "DELETE FROM churned WHERE rowid = %d; DELETE FROM vec WHERE id = %d", i, i);
      nDeleted++;
    }
  }
  for (int i = 0; i < nDeleted; i++) {
    random_vector(&s, e, DIMS);
    insert(pIns, ROWS + 1 + i, e, DIMS);
    insert(pKeep, ROWS + 1 + i, e, DIMS);
  }
  tdb_exec(db, "COMMIT");
  tdb_exec(db, "INSERT INTO fresh(rowid, e) SELECT id, e FROM vec ORDER BY id");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM churned"), ROWS);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM (SELECT rowid, e FROM churned EXCEPT "
                               "SELECT rowid, e FROM fresh)"), 0);
  double rChurned = recall_at_ef10(db, "churned"), rFresh = recall_at_ef10(db, "fresh");
  printf("  recall@10 at ef=10 after %d deletes and inserts: %.4f; fresh build: %.4f\n",
         nDeleted, rChurned, rFresh);
  assert_true(rFresh > 0.5); /* the measure is not degenerate */
  assert_true(rChurned >= rFresh - 0.01);
  tdb_expect_index_ok(db, "churned");
  sqlite3_finalize(pIns);
  sqlite3_finalize(pKeep);
  tdb_close(db);
}

#define SIZE_DIMS 64
#define SIZE_ROWS 3000
#define SIZE_ROUNDS 10

/* Ten rounds of deleting 30% and inserting as many: deleted slots and pages
** are reused, so the file stays within 10% of its size after the first
** round (without reuse each round would add a third).  Not exactly flat: a
** level's node count (levels are random) can reach a new high and need one
** more chunk of slots. */
static void test_churn_file_size(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("churn.db");
  sqlite3 *db = tdb_open(zPath);
  tdb_exec(db, "CREATE VIRTUAL TABLE v USING vg_hnsw(e float[%d], tenant text partition key)",
           SIZE_DIMS);
  sqlite3_stmt *pIns = tdb_prepare(db, "INSERT INTO v(rowid, e, tenant) VALUES (?1, ?2, 'a')");
  sqlite3_stmt *pDel = tdb_prepare(db, "DELETE FROM v WHERE rowid = ?1");
  static sqlite3_int64 live[SIZE_ROWS];
  uint64_t s = 99;
  float e[SIZE_DIMS];
  sqlite3_int64 next = 1;
  tdb_exec(db, "BEGIN");
  for (int i = 0; i < SIZE_ROWS; i++) {
    random_vector(&s, e, SIZE_DIMS);
    live[i] = next++;
    insert(pIns, live[i], e, SIZE_DIMS);
  }
  tdb_exec(db, "COMMIT");
  sqlite3_int64 aPages[SIZE_ROUNDS + 1];
  aPages[0] = tdb_int(db, "PRAGMA page_count");
  for (int round = 1; round <= SIZE_ROUNDS; round++) {
    tdb_exec(db, "BEGIN");
    for (int i = 0; i < SIZE_ROWS; i++) {
      if (tdb_uniform(&s) >= 0.3) continue;
      sqlite3_bind_int64(pDel, 1, live[i]);
      if (sqlite3_step(pDel) != SQLITE_DONE) fail_msg("delete: %s", sqlite3_errmsg(db));
      sqlite3_reset(pDel);
      random_vector(&s, e, SIZE_DIMS);
      live[i] = next++;
      insert(pIns, live[i], e, SIZE_DIMS);
    }
    tdb_exec(db, "COMMIT");
    aPages[round] = tdb_int(db, "PRAGMA page_count");
  }
  printf("  pages after each round of 30%% churn:");
  for (int r = 0; r <= SIZE_ROUNDS; r++) printf(" %lld", (long long)aPages[r]);
  printf("\n");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v"), SIZE_ROWS);
  assert_true(aPages[SIZE_ROUNDS] * 100 <= aPages[1] * 110);
  tdb_expect_index_ok(db, "v");
  sqlite3_finalize(pIns);
  sqlite3_finalize(pDel);
  tdb_close(db);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_churn_recall),
      cmocka_unit_test(test_churn_file_size),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
