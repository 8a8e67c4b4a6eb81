/*
** test_storage.c — what SQLite's storage must guarantee for vg_hnsw tables:
** transactions, savepoints and failed statements leave no trace; reopening
** gives identical results; other connections and processes see committed
** writes in their next query; backups copy the table; damaged shadow tables
** give errors, not wrong answers; and erased data is gone from the file.
**
** Searches are compared with an ordinary table holding the same rows, in the
** same transaction, so that a rollback undoes both alike.
*/
#include "testdb.h"
#include "filescan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIMS 16

static void random_vector(uint64_t *s, float *a, int n) {
  for (int i = 0; i < n; i++) a[i] = (float)(tdb_uniform(s) * 2.0 - 1.0);
}

static void create_pair(sqlite3 *db) {
  tdb_exec(db,
           "CREATE VIRTUAL TABLE v USING vg_hnsw(e float[%d] distance_metric=cosine, "
           "tenant text partition key, n integer, +body text);"
           "CREATE TABLE ref(e BLOB, tenant TEXT, n INTEGER, body TEXT);",
           DIMS);
}

/* Insert the same row into v and ref. */
static void insert_pair(sqlite3 *db, sqlite3_int64 rowid, const float *e, const char *zTenant,
                        int n, const char *zBody) {
  for (int pass = 0; pass < 2; pass++) {
    sqlite3_stmt *p = tdb_prepare(db, "INSERT INTO %s(rowid, e, tenant, n, body) VALUES "
                                      "(?1, ?2, ?3, ?4, ?5)", pass ? "ref" : "v");
    sqlite3_bind_int64(p, 1, rowid);
    sqlite3_bind_blob(p, 2, e, sizeof(float) * DIMS, SQLITE_STATIC);
    sqlite3_bind_text(p, 3, zTenant, -1, SQLITE_STATIC);
    sqlite3_bind_int(p, 4, n);
    sqlite3_bind_text(p, 5, zBody, -1, SQLITE_STATIC);
    if (sqlite3_step(p) != SQLITE_DONE) fail_msg("insert: %s", sqlite3_errmsg(db));
    sqlite3_finalize(p);
  }
}

static void fill_pair(sqlite3 *db, int nRows, uint64_t seed) {
  uint64_t s = seed;
  tdb_exec(db, "BEGIN");
  for (int i = 1; i <= nRows; i++) {
    float e[DIMS];
    char zBody[64];
    random_vector(&s, e, DIMS);
    snprintf(zBody, sizeof zBody, "body %d", i);
    insert_pair(db, i, e, i % 3 ? "a" : "b", i % 10, zBody);
  }
  tdb_exec(db, "COMMIT");
}

/* Run a statement about row id whose ?1 is the vector e. */
static void exec_with_vector(sqlite3 *db, const float *e, const char *zFormat,
                             sqlite3_int64 id) {
  sqlite3_stmt *p = tdb_prepare(db, zFormat, id);
  sqlite3_bind_blob(p, 1, e, sizeof(float) * DIMS, SQLITE_STATIC);
  if (sqlite3_step(p) != SQLITE_DONE) fail_msg("%s: %s", zFormat, sqlite3_errmsg(db));
  sqlite3_finalize(p);
}

/* The whole of v and ref as text, which must be equal. */
static void expect_same_contents(sqlite3 *db) {
  const char *zFmt =
      "SELECT coalesce(group_concat(x, ';'), '') FROM (SELECT rowid || ',' || hex(e) || ',' "
      "|| tenant || ',' || n || ',' || body AS x FROM %s ORDER BY rowid)";
  char *a = tdb_text(db, zFmt, "v"), *b = tdb_text(db, zFmt, "ref");
  if (strcmp(a, b) != 0) fail_msg("vg_hnsw and the ordinary table differ");
  sqlite3_free(a);
  sqlite3_free(b);
}

/* KNN on v for tenant 'a' equals brute force on ref. */
static void expect_same_knn(sqlite3 *db, const float *q, int k) {
  sqlite3_stmt *pV = tdb_prepare(db, "SELECT rowid, distance FROM v WHERE e MATCH ?1 AND "
                                     "k = %d AND tenant = 'a'", k);
  sqlite3_stmt *pR = tdb_prepare(db, "SELECT rowid, vg_distance(e, ?1, 'cosine') AS d FROM ref "
                                     "WHERE tenant = 'a' ORDER BY d, rowid LIMIT %d", k);
  sqlite3_int64 aV[512], aR[512];
  double dV[512], dR[512];
  sqlite3_bind_blob(pV, 1, q, sizeof(float) * DIMS, SQLITE_STATIC);
  sqlite3_bind_blob(pR, 1, q, sizeof(float) * DIMS, SQLITE_STATIC);
  int nV = tdb_collect(pV, aV, dV, 512), nR = tdb_collect(pR, aR, dR, 512);
  assert_int_equal(nV, nR);
  for (int i = 0; i < nV; i++) {
    if (aV[i] != aR[i] || fabs(dV[i] - dR[i]) > 1e-5) {
      fail_msg("result %d: rowid %lld d=%g, reference %lld d=%g", i, aV[i], dV[i], aR[i], dR[i]);
    }
  }
  sqlite3_finalize(pV);
  sqlite3_finalize(pR);
}

static void test_rollback_and_savepoints(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  create_pair(db);
  fill_pair(db, 300, 1);
  uint64_t s = 99;
  float q[DIMS], e[DIMS];
  random_vector(&s, q, DIMS);
  expect_same_knn(db, q, 10); /* loads the cache */

  /* a transaction that is rolled back, after searching inside it */
  tdb_exec(db, "BEGIN");
  insert_pair(db, 1000, q, "a", 1, "exact match"); /* the nearest possible row */
  tdb_exec(db, "DELETE FROM v WHERE rowid < 50; DELETE FROM ref WHERE rowid < 50;"
               "UPDATE v SET e = vg_vector('[%s]') WHERE rowid = 60;"
               "UPDATE ref SET e = vg_vector('[%s]') WHERE rowid = 60;",
           "1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0", "1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0");
  expect_same_knn(db, q, 10);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v WHERE rowid = 1000"), 1);
  tdb_exec(db, "ROLLBACK");
  expect_same_contents(db);
  expect_same_knn(db, q, 10);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v"), 300);

  /* savepoints: roll back the inner one, keep the outer one */
  tdb_exec(db, "BEGIN; SAVEPOINT outer_sp");
  random_vector(&s, e, DIMS);
  insert_pair(db, 2000, e, "a", 2, "kept");
  expect_same_knn(db, q, 20);
  tdb_exec(db, "SAVEPOINT inner_sp");
  insert_pair(db, 2001, q, "a", 3, "dropped");
  tdb_exec(db, "DELETE FROM v WHERE tenant = 'b'; DELETE FROM ref WHERE tenant = 'b'");
  expect_same_knn(db, q, 20);
  tdb_exec(db, "ROLLBACK TO inner_sp");
  expect_same_knn(db, q, 20);
  expect_same_contents(db);
  tdb_exec(db, "RELEASE outer_sp; COMMIT");
  expect_same_contents(db);
  expect_same_knn(db, q, 20);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v WHERE rowid IN (2000, 2001)"), 1);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v WHERE tenant = 'b'"), 100);

  /* a statement that fails half-way inside a transaction leaves none of its
  ** rows, and the transaction goes on */
  tdb_exec(db, "BEGIN");
  tdb_exec(db, "INSERT INTO v(rowid, e, tenant) VALUES (3000, '[%s]', 'a')",
           "0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0");
  tdb_expect_error(db, "holds 16-dimensional vectors; got 2 dimensions",
                   "INSERT INTO v(rowid, e, tenant) VALUES (3001, '[%s]', 'a'), (3002, "
                   "'[%s]', 'b'), (3003, '[1,2]', 'a')",
                   "0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0", "0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0");
  tdb_expect_error(db, "UNIQUE constraint failed: v.rowid",
                   "UPDATE v SET rowid = 3000 WHERE rowid = 2000");
  tdb_exec(db, "COMMIT");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v WHERE rowid >= 3000"), 1);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v WHERE rowid = 2000"), 1);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v_rows"),
                   tdb_int(db, "SELECT sum(n_rows) FROM v_partitions"));
  tdb_close(db);
}

/* Twenty approximate searches (ef = 10, so the answers depend on the exact
** shape of the graph) and the check report: equal strings mean equal graphs. */
static char *graph_fingerprint(sqlite3 *db) {
  sqlite3_stmt *p = tdb_prepare(db, "SELECT group_concat(rowid || ':' || distance, ' ') FROM v "
                                    "WHERE e MATCH ?1 AND k = 10 AND ef = 10 AND tenant = 'a'");
  char *z = tdb_text(db, "SELECT vg_hnsw_check('v')");
  uint64_t s = 1234;
  for (int i = 0; i < 20; i++) {
    float q[DIMS];
    random_vector(&s, q, DIMS);
    sqlite3_bind_blob(p, 1, q, sizeof q, SQLITE_STATIC);
    if (sqlite3_step(p) != SQLITE_ROW) fail_msg("search: %s", sqlite3_errmsg(db));
    char *zNext = sqlite3_mprintf("%s\n%s", z, (const char *)sqlite3_column_text(p, 0));
    sqlite3_free(z);
    z = zNext;
    sqlite3_reset(p);
  }
  sqlite3_finalize(p);
  return z;
}

/* Deletes, updates and inserts that rework a good part of the graph. */
static void churn_graph(sqlite3 *db, uint64_t *s, sqlite3_int64 firstNew) {
  for (int i = 0; i < 300; i++) {
    float e[DIMS];
    random_vector(s, e, DIMS);
    sqlite3_int64 id = 1 + (sqlite3_int64)(tdb_rand(s) % 3000);
    switch (i % 3) {
      case 0: tdb_exec(db, "DELETE FROM v WHERE rowid = %lld", id); break;
      case 1: exec_with_vector(db, e, "UPDATE v SET e = ?1 WHERE rowid = %lld", id); break;
      default:
        exec_with_vector(db, e, "INSERT INTO v(rowid, e, tenant) VALUES (%lld, ?1, 'a')",
                         firstNew + i);
    }
  }
}

/* The graph itself (not only the rows) comes back exactly after ROLLBACK and
** ROLLBACK TO, whether the next reader is this connection, with its cache,
** or a new one that loads the stored graph. */
static void test_rollback_restores_graph(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("rollback-graph.db");
  sqlite3 *db = tdb_open(zPath);
  create_pair(db);
  fill_pair(db, 3000, 31); /* 2,000 rows in tenant 'a': searched through the graph */
  uint64_t s = 32;
  char *zBefore = graph_fingerprint(db);
  assert_non_null(strstr(zBefore, "\"ok\":true"));
  tdb_exec(db, "BEGIN");
  churn_graph(db, &s, 10000);
  char *zInside = graph_fingerprint(db);
  assert_string_not_equal(zInside, zBefore); /* the churn did change the graph */
  tdb_exec(db, "ROLLBACK");
  char *zAfter = graph_fingerprint(db);
  assert_string_equal(zAfter, zBefore);
  sqlite3_free(zInside);
  sqlite3_free(zAfter);

  tdb_exec(db, "BEGIN");
  churn_graph(db, &s, 20000);
  tdb_exec(db, "SAVEPOINT sp");
  char *zMid = graph_fingerprint(db);
  churn_graph(db, &s, 30000);
  tdb_exec(db, "ROLLBACK TO sp");
  zAfter = graph_fingerprint(db);
  assert_string_equal(zAfter, zMid);
  sqlite3_free(zAfter);
  tdb_exec(db, "COMMIT");
  tdb_close(db);
  db = tdb_open(zPath);
  zAfter = graph_fingerprint(db);
  assert_string_equal(zAfter, zMid);
  assert_non_null(strstr(zAfter, "\"ok\":true"));
  sqlite3_free(zAfter);
  sqlite3_free(zMid);
  sqlite3_free(zBefore);
  tdb_close(db);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

/* Closing and reopening a file gives bit-identical results. */
static void test_reopen(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("reopen.db");
  sqlite3 *db = tdb_open(zPath);
  create_pair(db);
  fill_pair(db, 500, 2);
  const char *zQ = "SELECT group_concat(rowid || ':' || distance || ':' || body, ' ') FROM v "
                   "WHERE e MATCH vg_normalize('[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]') "
                   "AND k = 25 AND tenant IN ('a', 'b')";
  char *zBefore = tdb_text(db, "%s", zQ);
  tdb_close(db);
  db = tdb_open(zPath);
  char *zAfter = tdb_text(db, "%s", zQ);
  assert_string_equal(zBefore, zAfter);
  expect_same_contents(db);
  sqlite3_free(zBefore);
  sqlite3_free(zAfter);
  tdb_close(db);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

/* A second connection sees committed writes in its next query, never
** uncommitted ones, though it has the partition cached. */
static void check_two_connections(const char *zJournal) {
  char *zPath = tdb_temp_path("two.db");
  sqlite3 *a = tdb_open(zPath), *b = tdb_open(zPath);
  tdb_exec(a, "PRAGMA journal_mode=%s", zJournal);
  create_pair(a);
  fill_pair(a, 200, 3);
  float q[DIMS];
  uint64_t s = 5;
  random_vector(&s, q, DIMS);
  expect_same_knn(a, q, 5);
  expect_same_knn(b, q, 5);
  const char *zNearest = "SELECT rowid FROM v WHERE e MATCH ?1 AND k = 1 AND tenant = 'a'";
  sqlite3_stmt *pB = tdb_prepare(b, "%s", zNearest);
  sqlite3_bind_blob(pB, 1, q, sizeof q, SQLITE_STATIC);

  tdb_exec(a, "BEGIN");
  insert_pair(a, 5000, q, "a", 0, "new");
  if (strcmp(zJournal, "wal") == 0) { /* readers see the last commit */
    assert_int_equal(sqlite3_step(pB), SQLITE_ROW);
    assert_true(sqlite3_column_int64(pB, 0) != 5000);
    sqlite3_reset(pB);
  }
  tdb_exec(a, "COMMIT");
  assert_int_equal(sqlite3_step(pB), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int64(pB, 0), 5000);
  sqlite3_reset(pB);
  expect_same_knn(b, q, 5);

  tdb_exec(a, "UPDATE v SET e = vg_vector('[%s]') WHERE rowid = 5000",
           "-1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0");
  tdb_exec(a, "UPDATE ref SET e = vg_vector('[%s]') WHERE rowid = 5000",
           "-1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0");
  assert_int_equal(sqlite3_step(pB), SQLITE_ROW);
  assert_true(sqlite3_column_int64(pB, 0) != 5000);
  sqlite3_reset(pB);
  expect_same_knn(b, q, 5);
  tdb_exec(a, "DELETE FROM v WHERE tenant = 'a'; DELETE FROM ref WHERE tenant = 'a'");
  assert_int_equal(sqlite3_step(pB), SQLITE_DONE);
  sqlite3_reset(pB);
  sqlite3_finalize(pB);
  tdb_close(a);
  tdb_close(b);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

static void test_two_connections_wal(void **state) {
  (void)state;
  check_two_connections("wal");
}

static void test_two_connections_rollback_journal(void **state) {
  (void)state;
  check_two_connections("delete");
}

/* Another process writes; this one, with its cache warm, sees it. */
static void test_two_processes(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("procs.db");
  sqlite3 *db = tdb_open(zPath);
  tdb_exec(db, "PRAGMA journal_mode=wal");
  create_pair(db);
  fill_pair(db, 200, 4);
  float q[DIMS];
  uint64_t s = 6;
  random_vector(&s, q, DIMS);
  expect_same_knn(db, q, 5);
  for (int round = 0; round < 3; round++) {
    pid_t pid = fork();
    if (pid == 0) {
      sqlite3 *c = tdb_open(zPath);
      if (round == 0) insert_pair(c, 7000, q, "a", 0, "from the child");
      if (round == 1) {
        tdb_exec(c, "DELETE FROM v WHERE rowid = 7000; DELETE FROM ref WHERE rowid = 7000");
      }
      if (round == 2) {
        tdb_exec(c, "UPDATE v SET tenant = 'a' WHERE tenant = 'b';"
                    "UPDATE ref SET tenant = 'a' WHERE tenant = 'b'");
      }
      sqlite3_close(c);
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    expect_same_knn(db, q, 5);
    expect_same_contents(db);
  }
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v WHERE tenant = 'a'"), 200);
  tdb_close(db);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

/* The backup API copies a vg_hnsw table like any other. */
static void test_backup(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("backup.db");
  sqlite3 *db = tdb_open(":memory:");
  create_pair(db);
  fill_pair(db, 300, 7);
  sqlite3 *dst = tdb_open(zPath);
  sqlite3_backup *b = sqlite3_backup_init(dst, "main", db, "main");
  assert_non_null(b);
  assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
  assert_int_equal(sqlite3_backup_finish(b), SQLITE_OK);
  tdb_close(dst);
  dst = tdb_open(zPath);
  float q[DIMS];
  uint64_t s = 8;
  random_vector(&s, q, DIMS);
  expect_same_knn(dst, q, 30);
  expect_same_contents(dst);
  tdb_close(dst);
  tdb_close(db);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

/* Change the recorded settings with zSql, reopen, and expect zError. */
static void reopen_after(const char *zPath, const char *zSql, const char *zError) {
  sqlite3 *db = tdb_open(zPath);
  tdb_exec(db, "%s", zSql);
  tdb_close(db);
  db = tdb_open(zPath);
  tdb_expect_error(db, zError, "SELECT count(*) FROM v");
  tdb_close(db);
}

static void test_format_version(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("format.db");
  sqlite3 *db = tdb_open(zPath);
  tdb_exec(db, "CREATE VIRTUAL TABLE v USING vg_hnsw(e float[2])");
  tdb_close(db);
  reopen_after(zPath, "UPDATE v_config SET value = 3 WHERE key = 'format_version'",
               "v was written in storage format 3 by a newer vecguard; this build");
  reopen_after(zPath, "UPDATE v_config SET value = 1 WHERE key = 'format_version'",
               "v_config\" says format_version=1, the table definition needs 2");
  reopen_after(zPath,
               "UPDATE v_config SET value = 2 WHERE key = 'format_version';"
               "UPDATE v_config SET value = 3 WHERE key = 'dims'",
               "v_config\" says dims=3, the table definition needs 2");
  reopen_after(zPath,
               "UPDATE v_config SET value = 2 WHERE key = 'dims';"
               "UPDATE v_config SET value = 'ip' WHERE key = 'metric'",
               "v_config\" says metric=ip, the table definition needs l2");
  reopen_after(zPath,
               "UPDATE v_config SET value = 'l2' WHERE key = 'metric';"
               "UPDATE v_config SET value = 8 WHERE key = 'hnsw_m'",
               "v_config\" says hnsw_m=8, the table definition needs 16");
  reopen_after(zPath,
               "UPDATE v_config SET value = 16 WHERE key = 'hnsw_m';"
               "DELETE FROM v_config WHERE key = 'slot_bytes'",
               "v_config\" has no slot_bytes entry");
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

/* Damage a fresh copy of the tables in a file, then open it again: the
** damage is found when the partition is loaded. */
static sqlite3 *damaged(const char *zPath, const char *zDamage) {
  tdb_remove_db(zPath);
  sqlite3 *db = tdb_open(zPath);
  create_pair(db);
  fill_pair(db, 100, 9);
  tdb_exec(db, "%s", zDamage);
  tdb_close(db);
  return tdb_open(zPath);
}

/* Damage to a shadow table gives an error naming it, from queries and from
** writes, never a crash or a silently wrong answer. */
static void test_corrupt_shadow_tables(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("corrupt.db");
  const char *zQuery = "SELECT count(*) FROM v WHERE e MATCH '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]'"
                       " AND k = 5 AND tenant = 'a'";
  sqlite3 *db = damaged(zPath, "DELETE FROM v_rows WHERE rowid = 4"); /* a row of tenant 'a' */
  tdb_expect_error(db, "shadow tables are corrupt: partition", "%s", zQuery);
  tdb_close(db);
  /* writes that load the damaged partition say so too, each in a fresh
  ** connection (no cached graph), and change nothing */
  static const char *const azWrite[] = {
      "INSERT INTO v(rowid, e, tenant) VALUES (500, vg_vector('[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]'), 'a')",
      "UPDATE v SET e = vg_vector('[0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0]') WHERE rowid = 7",
      "UPDATE OR ROLLBACK v SET rowid = 600 WHERE rowid = 7",
      "DELETE FROM v WHERE rowid = 7",
  };
  for (size_t i = 0; i < sizeof(azWrite) / sizeof(azWrite[0]); i++) {
    db = tdb_open(zPath);
    tdb_expect_error(db, "shadow tables are corrupt: partition", "%s", azWrite[i]);
    assert_int_equal(tdb_int(db, "SELECT count(*) FROM v WHERE rowid IN (7, 500, 600)"), 1);
    tdb_close(db);
  }

  db = damaged(zPath, "DELETE FROM v_chunks WHERE id = (SELECT min(id) FROM v_chunks)");
  tdb_expect_error(db, "shadow tables are corrupt", "%s", zQuery);
  tdb_expect_error(db, "corrupt", "SELECT body FROM v");
  tdb_close(db);

  db = damaged(zPath, "UPDATE v_chunks SET slots = zeroblob(length(slots))");
  tdb_expect_error(db, "shadow tables are corrupt", "%s", zQuery);
  tdb_expect_error(db, "slot does not hold it", "SELECT e FROM v WHERE rowid = 1");
  tdb_close(db);

  db = damaged(zPath, "DELETE FROM v_partitions");
  tdb_expect_error(db, "the partition of row 1 is missing", "UPDATE v SET n = 1 WHERE rowid = 1");
  tdb_expect_error(db, "the partition of row 1 is missing", "SELECT count(*) FROM v");
  tdb_close(db);

  /* a node whose row is gone (the count adjusted to hide it), and a damaged
  ** entry point */
  db = damaged(zPath, "DELETE FROM v_rows WHERE rowid = 4;"
                      "UPDATE v_partitions SET n_rows = n_rows - 1 WHERE value = 'a'");
  tdb_expect_error(db, "shadow tables are corrupt", "%s", zQuery);
  tdb_close(db);
  db = damaged(zPath, "UPDATE v_partitions SET entry = -5");
  tdb_expect_error(db, "entry point is not one of its nodes", "%s", zQuery);
  tdb_close(db);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}


/* Overwrite bytes [iOff, iOff + n) of the slots of chunk iChunk. */
static void write_slot_bytes(sqlite3 *db, sqlite3_int64 iChunk, int iOff, const void *a, int n) {
  sqlite3_blob *pBlob = 0;
  if (sqlite3_blob_open(db, "main", "v_chunks", "slots", iChunk, 1, &pBlob) != SQLITE_OK ||
      sqlite3_blob_write(pBlob, a, n, iOff) != SQLITE_OK) {
    fail_msg("blob write: %s", sqlite3_errmsg(db));
  }
  sqlite3_blob_close(pBlob);
}

/* A stored link at level l that names its own row, or a row whose node is
** below l, would send a search into a list the node does not have; a
** one-way link outlives the deletion of the row it names, and a search
** would then follow it into a freed node.  Loading the partition refuses
** each as corruption (vg_hnsw_check, which loads leniently, reports it). */
static void test_corrupt_links(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("links.db");
  const char *zQuery = "SELECT count(*) FROM v WHERE e MATCH '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]'"
                       " AND k = 5 AND tenant = 'a'";
  for (int iCase = 0; iCase < 3; iCase++) {
    int bSelf = iCase == 1, bOneWay = iCase == 2;
    tdb_remove_db(zPath);
    sqlite3 *db = tdb_open(zPath);
    create_pair(db);
    fill_pair(db, 300, 5);
    int M = (int)tdb_int(db, "SELECT value FROM v_config WHERE key = 'hnsw_m'");
    /* a node of level >= 1 and one of level 0, both of tenant 'a' */
    const char *zPick = "SELECT r.%s FROM v_rows r JOIN v_chunks c ON c.id = r.chunk "
                        "JOIN v_partitions p ON p.id = r.part "
                        "WHERE p.value = 'a' AND c.level %s ORDER BY r.id LIMIT 1";
    sqlite3_int64 idHigh = tdb_int(db, zPick, "id", ">= 1");
    sqlite3_int64 iChunk = tdb_int(db, zPick, "chunk", ">= 1");
    int iSlot = (int)tdb_int(db, zPick, "slot", ">= 1");
    int level = (int)tdb_int(db, "SELECT level FROM v_chunks WHERE id = %lld", iChunk);
    sqlite3_int64 idLow = bSelf ? idHigh : tdb_int(db, zPick, "id", "= 0");
    assert_true(idHigh > 0 && idLow > 0);
    /* slot layout (ext/table/table.h): 48 bytes, the vector, the level-0
    ** list (count + 2M rowids), then a list per level above (count + M) */
    int nList0 = 4 + 8 * 2 * M, nListUp = 4 + 8 * M;
    int nSlot = 48 + 4 * DIMS + nList0 + level * nListUp;
    int iList1 = iSlot * nSlot + 48 + 4 * DIMS + nList0;
    if (bOneWay) {
      /* drop the last entry of idHigh's level-0 list: that row still
      ** lists idHigh */
      int iList0 = iSlot * nSlot + 48 + 4 * DIMS;
      sqlite3_blob *pBlob = 0;
      uint32_t n = 0;
      assert_int_equal(sqlite3_blob_open(db, "main", "v_chunks", "slots", iChunk, 0, &pBlob), SQLITE_OK);
      assert_int_equal(sqlite3_blob_read(pBlob, &n, 4, iList0), SQLITE_OK);
      sqlite3_blob_close(pBlob);
      assert_true(n >= 1);
      n--;
      write_slot_bytes(db, iChunk, iList0, &n, 4);
    } else {
      uint32_t one = 1;
      write_slot_bytes(db, iChunk, iList1, &one, 4); /* little-endian hosts */
      write_slot_bytes(db, iChunk, iList1 + 4, &idLow, 8);
    }
    tdb_close(db);
    db = tdb_open(zPath);
    tdb_expect_error(db, bOneWay ? "a link is one-way: the row it names does not link back"
                                 : "a link names its own row or a row below the link's level",
                     "%s", zQuery);
    tdb_expect_error(db, "shadow tables are corrupt", "DELETE FROM v WHERE rowid = %lld", idLow);
    char *zReport = tdb_text(db, "SELECT vg_hnsw_check('v')");
    assert_non_null(strstr(zReport, "\"ok\":false"));
    sqlite3_free(zReport);
    tdb_close(db);
  }
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}


/* The stored index stays consistent with its rows through churn (inserts,
** deletes, vector updates, moves between partitions, rollbacks), and
** vg_hnsw_check reports each kind of damage. */
static void test_hnsw_check(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("check.db");
  tdb_remove_db(zPath);
  sqlite3 *db = tdb_open(zPath);
  create_pair(db);
  fill_pair(db, 600, 21);
  uint64_t s = 22;
  for (int step = 0; step < 300; step++) {
    float e[DIMS];
    random_vector(&s, e, DIMS);
    sqlite3_int64 id = 1 + (sqlite3_int64)(tdb_rand(&s) % 900);
    switch (tdb_rand(&s) % 5) {
      case 0:
        tdb_exec(db, "DELETE FROM v WHERE rowid = %lld", id);
        break;
      case 1:
        exec_with_vector(db, e, "UPDATE v SET e = ?1 WHERE rowid = %lld", id);
        break;
      case 2:
        tdb_exec(db, "UPDATE v SET tenant = 'c' WHERE rowid = %lld", id);
        break;
      case 3:
        tdb_exec(db, "BEGIN; DELETE FROM v WHERE rowid %% 7 = %lld %% 7; ROLLBACK", id);
        break;
      default:
        exec_with_vector(db, e, "INSERT OR REPLACE INTO v(rowid, e, tenant) VALUES (%lld, ?1, 'a')",
                         id);
        break;
    }
  }
  char *zWant = sqlite3_mprintf(
      "{\"table\":\"v\",\"ok\":true,\"partitions\":%d,\"rows\":%d,\"nodes\":%d,",
      tdb_int(db, "SELECT count(DISTINCT tenant) FROM v"), tdb_int(db, "SELECT count(*) FROM v"),
      tdb_int(db, "SELECT count(*) FROM v"));
  char *zGot = tdb_text(db, "SELECT vg_hnsw_check('v')");
  if (strncmp(zGot, zWant, strlen(zWant)) != 0) fail_msg("%s\nwanted %s...", zGot, zWant);
  assert_non_null(strstr(zGot, "\"unreachable_nodes\":0,\"isolated_nodes\":0,\"one_way_links\":0,"
                               "\"dangling_links\":0"));
  sqlite3_free(zGot);
  sqlite3_free(zWant);
  tdb_expect_error(db, "no vg_hnsw table named main.nothing", "SELECT vg_hnsw_check('nothing')");
  tdb_expect_error(db, "give the name of a vg_hnsw table", "SELECT vg_hnsw_check(NULL)");

  /* damage, one kind at a time */
  static const struct {
    const char *zDamage, *zExpect;
  } aCase[] = {
      {"DELETE FROM v_rows WHERE id = (SELECT min(id) FROM v_rows)", "\"count_mismatches\":1"},
      {"UPDATE v_partitions SET entry = -5 WHERE value = 'a'", "\"entry_points\":{\"ok\":2,\"bad\":1}"},
      {"UPDATE v_rows SET slot = slot + 1 WHERE id = (SELECT min(id) FROM v_rows)",
       "\"rows_without_node\":1"},
  };
  tdb_close(db);
  long nBytes = 0;
  char *aCopy = tdb_read_file(zPath, &nBytes);
  for (size_t i = 0; i < sizeof(aCase) / sizeof(aCase[0]); i++) {
    FILE *f = fopen(zPath, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(aCopy, 1, (size_t)nBytes, f), (size_t)nBytes);
    fclose(f);
    db = tdb_open(zPath);
    tdb_exec(db, "%s", aCase[i].zDamage);
    zGot = tdb_text(db, "SELECT vg_hnsw_check('v')");
    if (strstr(zGot, "\"ok\":false") == 0 || strstr(zGot, aCase[i].zExpect) == 0) {
      fail_msg("after %s: %s", aCase[i].zDamage, zGot);
    }
    sqlite3_free(zGot);
    tdb_close(db);
  }
  free(aCopy);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

/* ---- erasure ----------------------------------------------------------- */

/* The 16-byte windows of a 128-byte vector, as needles: a vector may
** straddle two overflow pages, which splits at most one window; so a stored
** vector shows at least 7, an erased one must show 0.  Returns the first
** window's needle; the others follow it. */
static int add_vector_windows(FileScan *s, const float *v) {
  int iFirst = scan_add(s, v, 16);
  for (int w = 1; w < 8; w++) scan_add(s, (const char *)v + 16 * w, 16);
  return iFirst;
}

static int vector_windows(const FileScan *s, int iFirst) {
  int nFound = 0;
  for (int w = 0; w < 8; w++) nFound += scan_found(s, iFirst + w);
  return nFound;
}

#define ERASE_ROWS 3000
#define ERASE_DIMS 32 /* 128 bytes: vector_windows() assumes it */

/* After deletes and updates are committed and the WAL checkpointed, no byte
** of an erased vector or auxiliary value remains anywhere in the file.
** vecguard does not rely on PRAGMA secure_delete, so the test runs with it
** off (most builds' default) and on (Debian's): with it on, SQLite zeroes
** freed space itself and would hide a missing overwrite.  It is a setting
** of each connection, so every connection here sets it. */
static void check_erasure(const char *zJournal, int bSecureDelete) {
  char *zPath = tdb_temp_path("erase.db");
  sqlite3 *db = tdb_open(zPath);
  tdb_exec(db, "PRAGMA secure_delete = %d", bSecureDelete);
  assert_int_equal(tdb_int(db, "PRAGMA secure_delete"), bSecureDelete);
  tdb_exec(db, "PRAGMA journal_mode=%s", zJournal);
  tdb_exec(db, "CREATE VIRTUAL TABLE v USING vg_hnsw(e float[%d], tenant text partition key, "
               "kind text, +body text)", ERASE_DIMS);
  static float vec[ERASE_ROWS + 1][ERASE_DIMS], oldVec[ERASE_ROWS + 1][ERASE_DIMS];
  static char body[ERASE_ROWS + 1][40];
  static int state[ERASE_ROWS + 1]; /* 0 live, 1 deleted, 2 vector replaced */
  /* Large random rowids, unique by their low 16 bits: in the file they can
  ** only come from slots and from neighbours' link lists, never by chance. */
  static sqlite3_int64 rowid[ERASE_ROWS + 1];
  uint64_t s = 11;
  for (int id = 1; id <= ERASE_ROWS; id++) {
    rowid[id] = (sqlite3_int64)(((tdb_rand(&s) >> 2) & ~(uint64_t)0xffff) | (uint64_t)id);
  }
  sqlite3_stmt *pIns = tdb_prepare(db, "INSERT INTO v(rowid, e, tenant, kind, body) VALUES "
                                       "(?1, ?2, ?3, ?4, ?5 || ?6)");
  /* rows go in in random order, with bodies of random length, in several
  ** transactions: the B-trees split and rebalance the way real use does */
  int order[ERASE_ROWS];
  for (int i = 0; i < ERASE_ROWS; i++) order[i] = i + 1;
  for (int i = ERASE_ROWS - 1; i > 0; i--) {
    int j = (int)(tdb_rand(&s) % (uint64_t)(i + 1)), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  char *zPad = sqlite3_malloc(3000);
  memset(zPad, '.', 2999);
  zPad[2999] = 0;
  for (int i = 0; i < ERASE_ROWS; i++) {
    int id = order[i];
    if (i % 500 == 0) tdb_exec(db, i ? "COMMIT; BEGIN" : "BEGIN");
    random_vector(&s, vec[id], ERASE_DIMS);
    snprintf(body[id], sizeof body[id], "SECRET-%06d-%08x", id, (unsigned)tdb_rand(&s));
    sqlite3_bind_int64(pIns, 1, rowid[id]);
    sqlite3_bind_blob(pIns, 2, vec[id], sizeof vec[id], SQLITE_STATIC);
    sqlite3_bind_text(pIns, 3, id % 5 ? "kept-tenant" : "gone-tenant", -1, SQLITE_STATIC);
    sqlite3_bind_text(pIns, 4, id % 2 ? "KIND-ODD" : "KIND-EVEN", -1, SQLITE_STATIC);
    sqlite3_bind_text(pIns, 5, body[id], -1, SQLITE_STATIC);
    sqlite3_bind_text(pIns, 6, zPad, (int)(tdb_rand(&s) % 2500), SQLITE_STATIC);
    if (sqlite3_step(pIns) != SQLITE_DONE) fail_msg("insert: %s", sqlite3_errmsg(db));
    sqlite3_reset(pIns);
  }
  tdb_exec(db, "COMMIT");
  sqlite3_finalize(pIns);
  sqlite3_free(zPad);
  /* search once so that the vectors are cached in memory as well */
  tdb_int(db, "SELECT count(*) FROM v WHERE e MATCH vg_vector(CAST(zeroblob(%d) || x'0000803F' AS BLOB)) "
              "AND k = 3 AND tenant = 'kept-tenant'", 4 * (ERASE_DIMS - 1));

  /* delete 30% at random, replace the vector of 10%, drop one tenant */
  sqlite3_stmt *pDel = tdb_prepare(db, "DELETE FROM v WHERE rowid = ?1");
  sqlite3_stmt *pUpd = tdb_prepare(db, "UPDATE v SET e = ?2, body = 'replaced' WHERE rowid = ?1");
  tdb_exec(db, "BEGIN");
  for (int id = 1; id <= ERASE_ROWS; id++) {
    double u = tdb_uniform(&s);
    if (id % 5 == 0) {
      state[id] = 1; /* the gone tenant, deleted below in one statement */
    } else if (u < 0.3) {
      state[id] = 1;
      sqlite3_bind_int64(pDel, 1, rowid[id]);
      if (sqlite3_step(pDel) != SQLITE_DONE) fail_msg("delete: %s", sqlite3_errmsg(db));
      sqlite3_reset(pDel);
    } else if (u < 0.4) {
      state[id] = 2;
      memcpy(oldVec[id], vec[id], sizeof vec[id]);
      random_vector(&s, vec[id], ERASE_DIMS);
      sqlite3_bind_int64(pUpd, 1, rowid[id]);
      sqlite3_bind_blob(pUpd, 2, vec[id], sizeof vec[id], SQLITE_STATIC);
      if (sqlite3_step(pUpd) != SQLITE_DONE) fail_msg("update: %s", sqlite3_errmsg(db));
      sqlite3_reset(pUpd);
    }
  }
  tdb_exec(db, "DELETE FROM v WHERE tenant = 'gone-tenant'");
  tdb_exec(db, "COMMIT");
  sqlite3_finalize(pDel);
  sqlite3_finalize(pUpd);
  if (strcmp(zJournal, "wal") == 0) tdb_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  tdb_close(db);

  long n;
  unsigned char *file = (unsigned char *)tdb_read_file(zPath, &n);
  /* What to look for: each row's rowid as slots and link lists store it,
  ** its vector's windows, its body; an updated row's old vector too. */
  static unsigned char le[ERASE_ROWS + 1][8];
  static int iRowid[ERASE_ROWS + 1], iVec[ERASE_ROWS + 1], iBody[ERASE_ROWS + 1], iOld[ERASE_ROWS + 1];
  FileScan scan = {0};
  for (int id = 1; id <= ERASE_ROWS; id++) {
    for (int b = 0; b < 8; b++) le[id][b] = (unsigned char)((uint64_t)rowid[id] >> (8 * b));
    iRowid[id] = scan_add(&scan, le[id], 8);
    iVec[id] = add_vector_windows(&scan, vec[id]);
    iBody[id] = scan_add(&scan, body[id], strlen(body[id]));
    iOld[id] = state[id] == 2 ? add_vector_windows(&scan, oldVec[id]) : -1;
  }
  int iKind = scan_add(&scan, "KIND-ODD", 8);
  scan_run(&scan, file, (size_t)n);
  int nLiveFound = 0, nLive = 0, nLiveRowids = 0;
  for (int id = 1; id <= ERASE_ROWS; id++) {
    if (state[id] == 1) {
      if (scan_found(&scan, iRowid[id])) fail_msg("%s: deleted rowid %lld is in the file", zJournal, rowid[id]);
      if (vector_windows(&scan, iVec[id])) fail_msg("%s: deleted vector %d is in the file", zJournal, id);
      if (scan_found(&scan, iBody[id])) fail_msg("%s: deleted body %d is in the file", zJournal, id);
    } else {
      nLive++;
      nLiveFound += vector_windows(&scan, iVec[id]) >= 7;
      nLiveRowids += scan_found(&scan, iRowid[id]);
      if (scan_found(&scan, iBody[id])) fail_msg("%s: body %d is stored in plain text", zJournal, id);
    }
    if (state[id] == 2 && vector_windows(&scan, iOld[id])) {
      fail_msg("%s: the old vector of updated row %d is in the file", zJournal, id);
    }
  }
  /* the scan does find what is there: every live vector, and plain
  ** metadata.  Metadata and partition-key values are not erased
  ** (docs/storage.md), so a deleted tenant's name may stay: nothing is
  ** asserted of it. */
  assert_int_equal(nLiveFound, nLive);
  assert_int_equal(nLiveRowids, nLive);
  assert_true(nLive > 1500);
  assert_true(scan_found(&scan, iKind));
  free(file);

  /* DROP TABLE erases what was left */
  db = tdb_open(zPath);
  tdb_exec(db, "PRAGMA secure_delete = %d", bSecureDelete);
  tdb_exec(db, "DROP TABLE v");
  if (strcmp(zJournal, "wal") == 0) tdb_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  tdb_close(db);
  file = (unsigned char *)tdb_read_file(zPath, &n);
  scan_run(&scan, file, (size_t)n);
  for (int id = 1; id <= ERASE_ROWS; id++) {
    if (vector_windows(&scan, iVec[id])) fail_msg("%s: vector %d survived DROP TABLE", zJournal, id);
  }
  free(file);
  scan_free(&scan);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

static void test_erasure_wal(void **state) {
  (void)state;
  check_erasure("wal", 0);
}

static void test_erasure_rollback_journal(void **state) {
  (void)state;
  check_erasure("delete", 0);
}

static void test_erasure_wal_secure_delete(void **state) {
  (void)state;
  check_erasure("wal", 1);
}

static void test_erasure_rollback_journal_secure_delete(void **state) {
  (void)state;
  check_erasure("delete", 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rollback_and_savepoints),
      cmocka_unit_test(test_rollback_restores_graph),
      cmocka_unit_test(test_reopen),
      cmocka_unit_test(test_two_connections_wal),
      cmocka_unit_test(test_two_connections_rollback_journal),
      cmocka_unit_test(test_two_processes),
      cmocka_unit_test(test_backup),
      cmocka_unit_test(test_format_version),
      cmocka_unit_test(test_corrupt_shadow_tables),
      cmocka_unit_test(test_corrupt_links),
      cmocka_unit_test(test_hnsw_check),
      cmocka_unit_test(test_erasure_wal),
      cmocka_unit_test(test_erasure_rollback_journal),
      cmocka_unit_test(test_erasure_wal_secure_delete),
      cmocka_unit_test(test_erasure_rollback_journal_secure_delete),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
