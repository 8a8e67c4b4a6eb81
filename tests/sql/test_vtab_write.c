/*
** test_vtab_write.c — creating, writing and reading vg_hnsw tables.
**
** The main test replays a random sequence of INSERT / UPDATE / DELETE /
** REPLACE statements, with every ON CONFLICT mode, on a vg_hnsw table and
** on an ordinary STRICT table with the same columns; after every statement
** both must agree on success or failure, on their whole contents, and on
** last_insert_rowid() and changes().
*/
#include "testdb.h"

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

static void test_create_errors(void **state) {
  (void)state;
  tdb_expect_error(db, "needs a vector column", "CREATE VIRTUAL TABLE t1 USING vg_hnsw(a text)");
  tdb_expect_error(db, "no columns", "CREATE VIRTUAL TABLE t1 USING vg_hnsw()");
  tdb_expect_error(db, "unknown distance_metric 'dot'",
                   "CREATE VIRTUAL TABLE t1 USING vg_hnsw(e float[4] distance_metric=dot)");
  tdb_expect_error(db, "unknown table option 'chunk'",
                   "CREATE VIRTUAL TABLE t1 USING vg_hnsw(e float[4], chunk=8)");
  tdb_expect_error(db, "chunk_size must be an integer from 8 to 1048576",
                   "CREATE VIRTUAL TABLE t1 USING vg_hnsw(e float[4], chunk_size=0)");
  tdb_expect_error(db, "dimension 0 is out of range",
                   "CREATE VIRTUAL TABLE t1 USING vg_hnsw(e float[0])");
  /* nothing of a failed CREATE remains */
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 't1%%'"), 0);
  /* a shadow table name already taken: the CREATE fails and leaves nothing */
  tdb_exec(db, "CREATE TABLE t2_rows(x)");
  tdb_expect_error(db, "already exists", "CREATE VIRTUAL TABLE t2 USING vg_hnsw(e float[4])");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 't2%%'"), 1);
  tdb_exec(db, "DROP TABLE t2_rows");
}

static void test_shadow_tables_lifecycle(void **state) {
  (void)state;
  tdb_exec(db,
           "CREATE VIRTUAL TABLE docs USING vg_hnsw(embedding float[3], tenant text partition "
           "key, kind text, +body text);"
           "INSERT INTO docs(embedding, tenant, kind, body) VALUES ('[1,2,3]', 'a', 'x', 'hi')");
  char *z = tdb_text(db,
                     "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema "
                     "WHERE type = 'table' AND name LIKE 'docs_%%' ORDER BY name)");
  assert_string_equal(z, "docs_chunks,docs_config,docs_free,docs_partitions,docs_rows");
  sqlite3_free(z);
  assert_int_equal(tdb_int(db, "SELECT value FROM docs_config WHERE key = 'format_version'"), 2);
  assert_int_equal(tdb_int(db, "SELECT value FROM docs_config WHERE key = 'dims'"), 3);
  /* hidden columns are declared */
  z = tdb_text(db, "SELECT group_concat(name || ':' || hidden, ',') FROM pragma_table_xinfo('docs')");
  assert_string_equal(z, "embedding:0,tenant:0,kind:0,body:0,distance:1,k:1,ef:1,exact:1");
  sqlite3_free(z);

  /* shadow tables are read-only to SQL in defensive mode */
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)0);
  tdb_expect_error(db, "may not be modified", "DELETE FROM docs_rows");
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 0, (int *)0);

  tdb_exec(db, "ALTER TABLE docs RENAME TO notes");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'docs%%'"), 0);
  z = tdb_text(db, "SELECT body FROM notes WHERE embedding MATCH '[1,2,3]' AND k = 1 AND tenant = 'a'");
  assert_string_equal(z, "hi");
  sqlite3_free(z);
  tdb_exec(db, "INSERT INTO notes(embedding, tenant, kind) VALUES ('[3,2,1]', 'a', 'y')");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM notes WHERE kind = 'y'"), 1);

  tdb_exec(db, "DROP TABLE notes");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'notes%%'"), 0);
}

static void test_values_and_types(void **state) {
  (void)state;
  tdb_exec(db,
           "CREATE VIRTUAL TABLE t USING vg_hnsw(e float[2], p integer partition key, "
           "i integer, r real, s text, b boolean, +a, +at text, +ab blob)");
  tdb_exec(db, "INSERT INTO t(rowid, e, p, i, r, s, b, a, at, ab) VALUES "
               "(1, '[1,2]', '7', '42', 7, 5, 1.0, 2.5, 'txt', x'00ff'),"
               "(2, x'0000803F00000040', 7, 3.0, '1.5', 2.5, 0, x'', '', x''),"
               "(3, '[0,0]', 8, NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
  char *z = tdb_text(db,
                     "SELECT group_concat(v, ' ') FROM (SELECT rowid || ':' || hex(e) || ',' || "
                     "quote(p) || ',' || quote(i) || ',' || quote(r) || ',' || quote(s) || ',' "
                     "|| quote(b) || ',' || quote(a) || ',' || quote(at) || ',' || quote(ab) AS v "
                     "FROM t ORDER BY rowid)");
  assert_string_equal(z,
                      "1:0000803F00000040,7,42,7.0,'5',1,2.5,'txt',X'00FF' "
                      "2:0000803F00000040,7,3,1.5,'2.5',0,X'','',X'' "
                      "3:0000000000000000,8,NULL,NULL,NULL,NULL,NULL,NULL,NULL");
  sqlite3_free(z);
  tdb_expect_error(db, "t: column i is integer; got the text 'abc'",
                   "INSERT INTO t(e, p, i) VALUES ('[1,1]', 1, 'abc')");
  tdb_expect_error(db, "t: column i is integer; got the real 3.5",
                   "INSERT INTO t(e, p, i) VALUES ('[1,1]', 1, 3.5)");
  tdb_expect_error(db, "t: column r is real; got the text 'x'",
                   "INSERT INTO t(e, p, r) VALUES ('[1,1]', 1, 'x')");
  tdb_expect_error(db, "t: column s is text; got a 2-byte blob",
                   "INSERT INTO t(e, p, s) VALUES ('[1,1]', 1, x'0102')");
  tdb_expect_error(db, "t: column b is boolean; got the integer 2",
                   "INSERT INTO t(e, p, b) VALUES ('[1,1]', 1, 2)");
  tdb_expect_error(db, "t: column ab is blob; got the text 'x'",
                   "INSERT INTO t(e, p, ab) VALUES ('[1,1]', 1, 'x')");
  tdb_expect_error(db, "t: column p is the partition key and cannot be NULL",
                   "INSERT INTO t(e, p) VALUES ('[1,1]', NULL)");
  tdb_expect_error(db, "t: column p is integer; got the text 'acme'",
                   "INSERT INTO t(e, p) VALUES ('[1,1]', 'acme')");
  tdb_expect_error(db, "t: column e needs a vector; got NULL",
                   "INSERT INTO t(e, p) VALUES (NULL, 1)");
  tdb_expect_error(db, "t: column e holds 2-dimensional vectors; got 3 dimensions",
                   "INSERT INTO t(e, p) VALUES ('[1,2,3]', 1)");
  tdb_expect_error(db, "t: column e: element 0 is NaN",
                   "INSERT INTO t(e, p) VALUES (x'0000C07F0000803F', 1)");
  tdb_expect_error(db, "t: column e: malformed JSON vector",
                   "INSERT INTO t(e, p) VALUES ('[1,2', 1)");
  /* SQLite itself refuses a rowid that is not an integer */
  tdb_expect_error(db, "datatype mismatch",
                   "INSERT INTO t(rowid, e, p) VALUES ('x', '[1,2]', 1)");
  tdb_expect_error(db, "t: k belongs to KNN queries and cannot be written",
                   "INSERT INTO t(e, p, k) VALUES ('[1,2]', 1, 5)");
  tdb_expect_error(db, "t: distance belongs to KNN queries",
                   "UPDATE t SET distance = 1 WHERE rowid = 1");
  tdb_expect_error(db, "t: ef belongs to KNN queries",
                   "INSERT INTO t(e, p, ef) VALUES ('[1,2]', 1, 5)");
  tdb_expect_error(db, "t: exact belongs to KNN queries",
                   "UPDATE t SET exact = 1 WHERE rowid = 1");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM t"), 3);
  /* a cosine table refuses zero vectors, which have no direction */
  tdb_exec(db, "CREATE VIRTUAL TABLE tc USING vg_hnsw(e float[2] distance_metric=cosine)");
  tdb_expect_error(db, "a zero vector has no direction under the cosine metric",
                   "INSERT INTO tc(e) VALUES ('[0,0]')");
  tdb_exec(db, "DROP TABLE t; DROP TABLE tc");
}

/* ---- the random replay against an ordinary table ------------------------ */

/* A value expression for column c: valid values always, invalid ones only
** when bAllowBad (statements in ABORT mode, where both tables must fail). */
static char *value_expr(uint64_t *s, int c, int bAllowBad, int bRef) {
  static const char *const tenant[] = {"'a'", "'b'", "'c'", "5"};
  static const char *const cat[] = {"'x'", "'y'", "NULL", "7", "2.5", "'x'"};
  static const char *const n[] = {"1", "2", "'42'", "3.0", "NULL", "-9", "1e3"};
  static const char *const nBad[] = {"'abc'", "3.5", "x'01'"};
  static const char *const score[] = {"0.5", "2", "'1.5'", "NULL", "-3.25"};
  static const char *const flag[] = {"0", "1", "NULL", "1.0"};
  static const char *const body[] = {"'hello'", "42", "4.5", "x'cafe'", "NULL", "''"};
  int bad = bAllowBad && tdb_rand(s) % 8 == 0;
  switch (c) {
    case 0: {
      if (bad) return sqlite3_mprintf(bRef ? "vg_vector('[1,2]')" : "'[1,2]'");
      int x = (int)(tdb_rand(s) % 7) - 3, y = (int)(tdb_rand(s) % 7) - 3;
      int z = (int)(tdb_rand(s) % 7) - 3;
      return sqlite3_mprintf(bRef ? "vg_vector('[%d,%d,%d]')" : "'[%d,%d,%d]'", x, y, z);
    }
    case 1:
      return sqlite3_mprintf("%s", tdb_pick(s, tenant, 4));
    case 2:
      return sqlite3_mprintf("%s", tdb_pick(s, cat, 6));
    case 3:
      return sqlite3_mprintf("%s", bad ? tdb_pick(s, nBad, 3) : tdb_pick(s, n, 7));
    case 4:
      return sqlite3_mprintf("%s", tdb_pick(s, score, 5));
    case 5:
      return sqlite3_mprintf("%s", bad ? "2" : tdb_pick(s, flag, 4));
    default:
      return sqlite3_mprintf("%s", tdb_pick(s, body, 6));
  }
}

static const char *const col_names[] = {"e", "tenant", "cat", "n", "score", "flag", "body"};

/* One random statement, written twice: for the vg_hnsw table v and for the
** reference table ref (where vectors go through vg_vector()). */
static void random_statement(uint64_t *s, char **pzV, char **pzRef) {
  static const char *const modes[] = {"", "OR REPLACE ", "OR IGNORE ", "OR FAIL ",
                                      "OR ABORT ", "OR ROLLBACK "};
  sqlite3_str *v = sqlite3_str_new(0), *r = sqlite3_str_new(0);
  int kind = (int)(tdb_rand(s) % 10);
  const char *mode = modes[tdb_rand(s) % 6];
  int bAbortMode = mode[0] == 0 || strcmp(mode, "OR ABORT ") == 0;
  if (kind <= 3) {
    int nRow = 1 + (int)(tdb_rand(s) % 3);
    const char *verb = kind == 3 ? "REPLACE" : "INSERT";
    if (kind == 3) mode = "", bAbortMode = 0;
    sqlite3_str_appendf(v, "%s %sINTO v(rowid, e, tenant, cat, n, score, flag, body) VALUES ",
                        verb, mode);
    sqlite3_str_appendf(r, "%s %sINTO ref(rowid, e, tenant, cat, n, score, flag, body) VALUES ",
                        verb, mode);
    for (int i = 0; i < nRow; i++) {
      char *zRowid = tdb_rand(s) % 4 ? sqlite3_mprintf("%d", 1 + (int)(tdb_rand(s) % 40))
                                      : sqlite3_mprintf("NULL");
      sqlite3_str_appendf(v, "%s(%s", i ? ", " : "", zRowid);
      sqlite3_str_appendf(r, "%s(%s", i ? ", " : "", zRowid);
      sqlite3_free(zRowid);
      for (int c = 0; c < 7; c++) {
        uint64_t save = *s;
        char *zv = value_expr(s, c, bAbortMode, 0);
        *s = save;
        char *zr = value_expr(s, c, bAbortMode, 1);
        sqlite3_str_appendf(v, ", %s", zv);
        sqlite3_str_appendf(r, ", %s", zr);
        sqlite3_free(zv);
        sqlite3_free(zr);
      }
      sqlite3_str_appendall(v, ")");
      sqlite3_str_appendall(r, ")");
    }
  } else if (kind <= 5) {
    int c1 = (int)(tdb_rand(s) % 7), c2 = (int)(tdb_rand(s) % 7);
    uint64_t save = *s;
    char *zv1 = value_expr(s, c1, bAbortMode, 0), *zv2 = value_expr(s, c2, bAbortMode, 0);
    *s = save;
    char *zr1 = value_expr(s, c1, bAbortMode, 1), *zr2 = value_expr(s, c2, bAbortMode, 1);
    const char *zWhere = kind == 4 ? "rowid = %d" : "n > %d";
    char *zW = sqlite3_mprintf(zWhere, (int)(tdb_rand(s) % 40) - (kind == 5 ? 20 : 0));
    if (kind == 5) mode = "";
    sqlite3_str_appendf(v, "UPDATE %sv SET %s = %s, %s = %s WHERE %s", mode, col_names[c1], zv1,
                        col_names[c2], zv2, zW);
    sqlite3_str_appendf(r, "UPDATE %sref SET %s = %s, %s = %s WHERE %s", mode, col_names[c1],
                        zr1, col_names[c2], zr2, zW);
    sqlite3_free(zv1);
    sqlite3_free(zv2);
    sqlite3_free(zr1);
    sqlite3_free(zr2);
    sqlite3_free(zW);
  } else if (kind <= 7) {
    int a = 1 + (int)(tdb_rand(s) % 40), b = 1 + (int)(tdb_rand(s) % 40);
    sqlite3_str_appendf(v, "UPDATE %sv SET rowid = %d WHERE rowid = %d", mode, b, a);
    sqlite3_str_appendf(r, "UPDATE %sref SET rowid = %d WHERE rowid = %d", mode, b, a);
  } else if (kind == 8) {
    int a = 1 + (int)(tdb_rand(s) % 40);
    sqlite3_str_appendf(v, "DELETE FROM v WHERE rowid = %d", a);
    sqlite3_str_appendf(r, "DELETE FROM ref WHERE rowid = %d", a);
  } else {
    const char *zCat = tdb_rand(s) % 2 ? "'x'" : "'y'";
    sqlite3_str_appendf(v, "DELETE FROM v WHERE cat = %s", zCat);
    sqlite3_str_appendf(r, "DELETE FROM ref WHERE cat = %s", zCat);
  }
  *pzV = sqlite3_str_finish(v);
  *pzRef = sqlite3_str_finish(r);
}

static char *contents(const char *zTable) {
  return tdb_text(db,
                  "SELECT coalesce(group_concat(x, char(10)), '') FROM (SELECT rowid || '|' || "
                  "hex(e) || '|' || quote(tenant) || '|' || quote(cat) || '|' || quote(n) || "
                  "'|' || quote(score) || '|' || quote(flag) || '|' || quote(body) AS x FROM %s "
                  "ORDER BY rowid)",
                  zTable);
}

static void test_random_writes_match_ordinary_table(void **state) {
  (void)state;
  tdb_exec(db,
           "CREATE VIRTUAL TABLE v USING vg_hnsw(e float[3], tenant text partition key, "
           "cat text, n integer, score real, flag boolean, +body);"
           "CREATE TABLE ref(e BLOB NOT NULL CHECK(length(e) = 12), tenant TEXT NOT NULL, "
           "cat TEXT, n INTEGER, score REAL, flag INTEGER CHECK(flag IN (0, 1)), body ANY) STRICT");
  uint64_t s = 20261121;
  int nOk = 0, nFail = 0;
  for (int step = 0; step < 3000; step++) {
    char *zV, *zR;
    random_statement(&s, &zV, &zR);
    tdb_exec(db, "INSERT INTO ref(rowid, e, tenant) VALUES (-1, zeroblob(12), 'z'); "
                 "DELETE FROM ref WHERE rowid = -1"); /* move last_insert_rowid */
    char *zErrV = 0;
    int rcV = sqlite3_exec(db, zV, 0, 0, &zErrV);
    sqlite3_int64 lastV = sqlite3_last_insert_rowid(db);
    int changesV = sqlite3_changes(db);
    tdb_exec(db, "INSERT INTO ref(rowid, e, tenant) VALUES (-1, zeroblob(12), 'z'); "
                 "DELETE FROM ref WHERE rowid = -1");
    int rcR = sqlite3_exec(db, zR, 0, 0, 0);
    sqlite3_int64 lastR = sqlite3_last_insert_rowid(db);
    int changesR = sqlite3_changes(db);
    if ((rcV == SQLITE_OK) != (rcR == SQLITE_OK)) {
      fail_msg("step %d: vg_hnsw rc=%d (%s), ordinary rc=%d\n  %s\n  %s", step, rcV,
               zErrV ? zErrV : "", rcR, zV, zR);
    }
    if (rcV == SQLITE_OK) {
      nOk++;
      if (lastV != lastR) fail_msg("step %d: last_insert_rowid %lld vs %lld\n  %s", step,
                                   lastV, lastR, zV);
      if (changesV != changesR) fail_msg("step %d: changes %d vs %d\n  %s", step, changesV,
                                         changesR, zV);
    } else {
      nFail++;
    }
    char *a = contents("v"), *b = contents("ref");
    if (strcmp(a, b) != 0) fail_msg("step %d: contents differ after\n  %s\n--- vg_hnsw:\n%s\n--- ordinary:\n%s", step, zV, a, b);
    sqlite3_free(a);
    sqlite3_free(b);
    sqlite3_free(zV);
    sqlite3_free(zErrV);
    sqlite3_free(zR);
  }
  /* the sequence exercised both outcomes in earnest */
  assert_true(nOk > 1000 && nFail > 100);
  assert_true(tdb_int(db, "SELECT count(*) FROM v") > 5);
  /* and the bookkeeping agrees with the rows */
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v_rows"),
                   tdb_int(db, "SELECT coalesce(sum(n_rows), 0) FROM v_partitions"));
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v_partitions"),
                   tdb_int(db, "SELECT count(DISTINCT tenant) FROM ref"));
  tdb_exec(db, "DROP TABLE v; DROP TABLE ref");
}

static void test_scans_and_rowid_lookup(void **state) {
  (void)state;
  tdb_exec(db, "CREATE VIRTUAL TABLE w USING vg_hnsw(e float[2], t text partition key, c text)");
  for (int i = 1; i <= 50; i++) {
    tdb_exec(db, "INSERT INTO w(rowid, e, t, c) VALUES (%d, '[%d, 1]', '%c', '%c')", i * 3, i,
             'a' + i % 3, 'p' + i % 5);
  }
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM w"), 50);
  assert_int_equal(tdb_int(db, "SELECT sum(rowid) FROM w"), 3 * 50 * 51 / 2);
  char *z = tdb_text(db, "SELECT c || t FROM w WHERE rowid = 30");
  assert_string_equal(z, "pb");
  sqlite3_free(z);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM w WHERE rowid = 31"), 0);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM w WHERE rowid IN (3, 6, 7, 9)"), 3);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM w WHERE t = 'a' AND c IN ('p', 'q')"),
                   tdb_int(db, "SELECT count(*) FROM (SELECT value AS i FROM json_each("
                               "(SELECT json_group_array(rowid/3) FROM w))) "
                               "WHERE i %% 3 = 0 AND i %% 5 IN (0, 1)"));
  /* a plain scan comes back in rowid order */
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM (SELECT rowid, lag(rowid) OVER () AS p "
                               "FROM w) WHERE p >= rowid"),
                   0);
  /* k and distance belong to KNN queries */
  tdb_expect_error(db, "k only applies to KNN queries", "SELECT * FROM w WHERE k = 3");
  tdb_exec(db, "DROP TABLE w");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_errors),
      cmocka_unit_test(test_shadow_tables_lifecycle),
      cmocka_unit_test(test_values_and_types),
      cmocka_unit_test(test_random_writes_match_ordinary_table),
      cmocka_unit_test(test_scans_and_rowid_lookup),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
