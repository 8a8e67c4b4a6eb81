/*
** test_primary_key.c — a vg_hnsw table's primary key column (id text
** primary key, id integer primary key: sqlite-vec's grammar).
**
** The main test replays random INSERT, INSERT OR REPLACE / IGNORE / FAIL /
** ABORT / ROLLBACK, REPLACE INTO, UPDATE and DELETE statements, keyed by
** rowid and by the primary key, on a partitioned vg_hnsw table and on an
** ordinary STRICT table with UNIQUE(tenant, id) and id NOT NULL; after
** every statement both must agree on success or failure, on their whole
** contents, on last_insert_rowid() and changes(), and a lookup by key must
** find what the ordinary table holds.  Then: the key's errors.
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

/* Few keys and tenants, so that keys collide often; a NULL key now and then
** (a NOT NULL failure in both tables); an integer key, which the text key
** column stores as text in both. */
static const char *const aKey[] = {"'k1'", "'k2'", "'k3'", "'k4'", "5", "'k1'", "'k2'", "NULL"};
static const char *const aTenant[] = {"'a'", "'b'", "'a'"};
static const char *const aBody[] = {"'hello'", "NULL", "42", "'other'"};

static void vec_expr(uint64_t *s, char **pzV, char **pzR) {
  int x = (int)(tdb_rand(s) % 7) - 3, y = (int)(tdb_rand(s) % 7) - 3;
  *pzV = sqlite3_mprintf("'[%d,%d]'", x, y);
  *pzR = sqlite3_mprintf("vg_vector('[%d,%d]')", x, y);
}

/* One random statement, for the vg_hnsw table v and the ordinary ref. */
static void random_statement(uint64_t *s, char **pzV, char **pzR) {
  static const char *const modes[] = {"", "OR REPLACE ", "OR IGNORE ", "OR FAIL ", "OR ABORT ", "OR ROLLBACK "};
  sqlite3_str *v = sqlite3_str_new(0), *r = sqlite3_str_new(0);
  int kind = (int)(tdb_rand(s) % 10);
  const char *mode = modes[tdb_rand(s) % 6];
  if (kind <= 3) {
    const char *verb = kind == 3 ? "REPLACE" : "INSERT";
    if (kind == 3) mode = "";
    int nRow = 1 + (int)(tdb_rand(s) % 3);
    sqlite3_str_appendf(v, "%s %sINTO v(rowid, e, tenant, id, body) VALUES ", verb, mode);
    sqlite3_str_appendf(r, "%s %sINTO ref(rowid, e, tenant, id, body) VALUES ", verb, mode);
    for (int i = 0; i < nRow; i++) {
      char *zRowid = tdb_rand(s) % 4 ? sqlite3_mprintf("NULL") : sqlite3_mprintf("%d", 1 + (int)(tdb_rand(s) % 20));
      char *zv, *zr;
      vec_expr(s, &zv, &zr);
      const char *zT = tdb_pick(s, aTenant, 3), *zK = tdb_pick(s, aKey, 8), *zB = tdb_pick(s, aBody, 4);
      sqlite3_str_appendf(v, "%s(%s, %s, %s, %s, %s)", i ? ", " : "", zRowid, zv, zT, zK, zB);
      sqlite3_str_appendf(r, "%s(%s, %s, %s, %s, %s)", i ? ", " : "", zRowid, zr, zT, zK, zB);
      sqlite3_free(zRowid);
      sqlite3_free(zv);
      sqlite3_free(zr);
    }
  } else if (kind <= 5) {
    /* A key or a tenant changed, found by key or by rowid. */
    const char *zSet = tdb_rand(s) % 3 ? "id" : "tenant";
    const char *zTo = zSet[0] == 'i' ? tdb_pick(s, aKey, 8) : tdb_pick(s, aTenant, 3);
    char *zWhere = kind == 4 ? sqlite3_mprintf("id = %s AND tenant = %s", tdb_pick(s, aKey, 7), tdb_pick(s, aTenant, 3))
                             : sqlite3_mprintf("rowid = %d", 1 + (int)(tdb_rand(s) % 20));
    sqlite3_str_appendf(v, "UPDATE %sv SET %s = %s WHERE %s", mode, zSet, zTo, zWhere);
    sqlite3_str_appendf(r, "UPDATE %sref SET %s = %s WHERE %s", mode, zSet, zTo, zWhere);
    sqlite3_free(zWhere);
  } else if (kind == 6) {
    /* The vector and body of a row found by its key alone. */
    char *zv, *zr;
    vec_expr(s, &zv, &zr);
    const char *zK = tdb_pick(s, aKey, 7), *zK2 = tdb_pick(s, aKey, 7), *zB = tdb_pick(s, aBody, 4);
    /* by one key, or by a list of them (all of its values go to one scan) */
    char *zWhere = tdb_rand(s) % 2 ? sqlite3_mprintf("id = %s", zK) : sqlite3_mprintf("id IN (%s, %s)", zK, zK2);
    sqlite3_str_appendf(v, "UPDATE %sv SET e = %s, body = %s WHERE %s", mode, zv, zB, zWhere);
    sqlite3_str_appendf(r, "UPDATE %sref SET e = %s, body = %s WHERE %s", mode, zr, zB, zWhere);
    sqlite3_free(zWhere);
    sqlite3_free(zv);
    sqlite3_free(zr);
  } else if (kind == 7) {
    int a = 1 + (int)(tdb_rand(s) % 20), b = 1 + (int)(tdb_rand(s) % 20);
    sqlite3_str_appendf(v, "UPDATE %sv SET rowid = %d WHERE rowid = %d", mode, b, a);
    sqlite3_str_appendf(r, "UPDATE %sref SET rowid = %d WHERE rowid = %d", mode, b, a);
  } else if (kind == 8) {
    const char *zK = tdb_pick(s, aKey, 7), *zT = tdb_pick(s, aTenant, 3);
    sqlite3_str_appendf(v, "DELETE FROM v WHERE id = %s AND tenant = %s", zK, zT);
    sqlite3_str_appendf(r, "DELETE FROM ref WHERE id = %s AND tenant = %s", zK, zT);
  } else {
    int a = 1 + (int)(tdb_rand(s) % 20);
    sqlite3_str_appendf(v, "DELETE FROM v WHERE rowid = %d", a);
    sqlite3_str_appendf(r, "DELETE FROM ref WHERE rowid = %d", a);
  }
  *pzV = sqlite3_str_finish(v);
  *pzR = sqlite3_str_finish(r);
}

static char *contents(const char *zTable) {
  return tdb_text(db,
                  "SELECT coalesce(group_concat(x, char(10)), '') FROM (SELECT rowid || '|' || hex(e) || '|' || "
                  "quote(tenant) || '|' || quote(id) || '|' || quote(body) AS x FROM %s ORDER BY rowid)",
                  zTable);
}

/* Each key's row in each tenant, found by the key (the indexed lookup). */
static char *by_key(const char *zTable) {
  return tdb_text(db,
                  "SELECT coalesce(group_concat(x, char(10)), '') FROM (SELECT t.tenant || '/' || k.id || '=' || "
                  "coalesce((SELECT group_concat(rowid) FROM %s WHERE id = k.id AND tenant = t.tenant), '-') AS x "
                  "FROM (SELECT 'k1' AS id UNION ALL SELECT 'k2' UNION ALL SELECT 'k3' UNION ALL SELECT 'k4' "
                  "UNION ALL SELECT '5') AS k, (SELECT 'a' AS tenant UNION ALL SELECT 'b') AS t ORDER BY 1)",
                  zTable);
}

static void test_random_upserts_match_ordinary_table(void **state) {
  (void)state;
  tdb_exec(db,
           "CREATE VIRTUAL TABLE v USING vg_hnsw(e float[2], tenant text partition key, id text primary key, "
           "+body);"
           "CREATE TABLE ref(e BLOB NOT NULL CHECK(length(e) = 8), tenant TEXT NOT NULL, id TEXT NOT NULL, body ANY, "
           "UNIQUE(tenant, id)) STRICT");
  uint64_t s = 20261206;
  int nOk = 0, nFail = 0, nReplaced = 0;
  for (int step = 0; step < 3000; step++) {
    char *zV, *zR;
    random_statement(&s, &zV, &zR);
    int nBefore = (int)tdb_int(db, "SELECT count(*) FROM ref");
    tdb_exec(db, "INSERT INTO ref(rowid, e, tenant, id) VALUES (-1, zeroblob(8), 'z', 'z'); "
                 "DELETE FROM ref WHERE rowid = -1"); /* move last_insert_rowid */
    char *zErrV = 0;
    int rcV = sqlite3_exec(db, zV, 0, 0, &zErrV);
    sqlite3_int64 lastV = sqlite3_last_insert_rowid(db);
    int changesV = sqlite3_changes(db);
    tdb_exec(db, "INSERT INTO ref(rowid, e, tenant, id) VALUES (-1, zeroblob(8), 'z', 'z'); "
                 "DELETE FROM ref WHERE rowid = -1");
    char *zErrR = 0;
    int rcR = sqlite3_exec(db, zR, 0, 0, &zErrR);
    sqlite3_int64 lastR = sqlite3_last_insert_rowid(db);
    int changesR = sqlite3_changes(db);
    if ((rcV == SQLITE_OK) != (rcR == SQLITE_OK)) {
      fail_msg("step %d: vg_hnsw rc=%d (%s), ordinary rc=%d (%s)\n  %s\n  %s", step, rcV, zErrV ? zErrV : "", rcR,
               zErrR ? zErrR : "", zV, zR);
    }
    if (rcV == SQLITE_OK) {
      nOk++;
      if (lastV != lastR) fail_msg("step %d: last_insert_rowid %lld vs %lld\n  %s", step, lastV, lastR, zV);
      if (changesV != changesR) fail_msg("step %d: changes %d vs %d\n  %s", step, changesV, changesR, zV);
      if (strstr(zV, "REPLACE") && tdb_int(db, "SELECT count(*) FROM ref") < nBefore + changesR) nReplaced++;
    } else {
      nFail++;
      /* A key conflict names the key. */
      if (rcV == SQLITE_CONSTRAINT && strstr(zErrR, "UNIQUE") && !strstr(zErrV, "UNIQUE constraint failed: v.")) {
        fail_msg("step %d: the conflict's error %s does not name the column\n  %s", step, zErrV, zV);
      }
    }
    char *a = contents("v"), *b = contents("ref");
    if (strcmp(a, b) != 0) fail_msg("step %d: contents differ after\n  %s\n--- vg_hnsw:\n%s\n--- ordinary:\n%s", step, zV, a, b);
    sqlite3_free(a);
    sqlite3_free(b);
    a = by_key("v");
    b = by_key("ref");
    if (strcmp(a, b) != 0) fail_msg("step %d: lookups by key differ after\n  %s\n--- vg_hnsw:\n%s\n--- ordinary:\n%s", step, zV, a, b);
    sqlite3_free(a);
    sqlite3_free(b);
    sqlite3_free(zV);
    sqlite3_free(zErrV);
    sqlite3_free(zR);
    sqlite3_free(zErrR);
  }
  /* The sequence exercised each outcome in earnest. */
  assert_true(nOk > 1000 && nFail > 300 && nReplaced > 100);
  assert_true(tdb_int(db, "SELECT count(*) FROM v") > 4);
  tdb_expect_text(db, "1", "SELECT json_extract(vg_hnsw_check('v'), '$.ok')");
  tdb_exec(db, "DROP TABLE v; DROP TABLE ref");
}

static void test_key_errors_and_plan(void **state) {
  (void)state;
  tdb_expect_error(db, "vg_hnsw: primary key id must be declared text or integer",
                   "CREATE VIRTUAL TABLE t1 USING vg_hnsw(e float[2], id real primary key)");
  tdb_expect_error(db, "vg_hnsw: only one primary key column is allowed (a and b)",
                   "CREATE VIRTUAL TABLE t1 USING vg_hnsw(e float[2], a text primary key, b text primary key)");
  tdb_expect_error(db, "vg_hnsw: column id: an auxiliary column cannot be the primary key",
                   "CREATE VIRTUAL TABLE t1 USING vg_hnsw(e float[2], +id text primary key)");
  tdb_expect_error(db, "vg_hnsw: column id: expected 'primary key'",
                   "CREATE VIRTUAL TABLE t1 USING vg_hnsw(e float[2], id text primary)");
  tdb_exec(db, "CREATE VIRTUAL TABLE u USING vg_hnsw(e float[2], id integer primary key, +body text)");
  tdb_exec(db, "INSERT INTO u(id, e, body) VALUES (7, '[1,1]', 'first')");
  tdb_expect_error(db, "UNIQUE constraint failed: u.id (7 is taken; OR REPLACE replaces that row)",
                   "INSERT INTO u(id, e) VALUES (7, '[2,2]')");
  /* The extended codes of an ordinary table's primary key, which drivers
  ** map to their unique-violation and not-null errors. */
  assert_int_equal(sqlite3_exec(db, "INSERT INTO u(id, e) VALUES (7, '[2,2]')", 0, 0, 0), SQLITE_CONSTRAINT);
  assert_int_equal(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_PRIMARYKEY);
  assert_int_equal(sqlite3_exec(db, "INSERT INTO u(rowid, id, e) VALUES (1, 8, '[2,2]')", 0, 0, 0), SQLITE_CONSTRAINT);
  assert_int_equal(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_PRIMARYKEY);
  assert_int_equal(sqlite3_exec(db, "INSERT INTO u(e) VALUES ('[2,2]')", 0, 0, 0), SQLITE_CONSTRAINT);
  assert_int_equal(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_NOTNULL);
  tdb_expect_error(db, "NOT NULL constraint failed: u.id", "INSERT INTO u(e) VALUES ('[2,2]')");
  tdb_expect_error(db, "u: column id is integer; got the text 'seven'", "INSERT INTO u(id, e) VALUES ('seven', '[2,2]')");
  tdb_exec(db, "INSERT OR IGNORE INTO u(id, e, body) VALUES (7, '[3,3]', 'ignored')");
  tdb_expect_text(db, "1|7|first", "SELECT rowid || '|' || id || '|' || body FROM u");
  tdb_exec(db, "INSERT OR REPLACE INTO u(id, e, body) VALUES (7, '[3,3]', 'replaced')");
  tdb_expect_text(db, "2|7|replaced|[3,3]",
                  "SELECT rowid || '|' || id || '|' || body || '|' || vg_vector_json(e) FROM u");
  /* A multi-row UPDATE OR REPLACE whose first row takes the second's key:
  ** the second, deleted, is passed over (as by an ordinary table). */
  tdb_exec(db, "CREATE VIRTUAL TABLE w USING vg_hnsw(e float[2], tenant text partition key, id text primary key);"
               "INSERT INTO w(rowid, e, tenant, id) VALUES (1, '[1,0]', 'a', 'k1'), (2, '[0,1]', 'a', 'x');"
               "UPDATE OR REPLACE w SET id = 'x' WHERE id IN ('k1', 'x')");
  tdb_expect_text(db, "1|a|x", "SELECT group_concat(rowid || '|' || tenant || '|' || id, ';') FROM w");
  /* A long key's message: cut at a character, with its quotes doubled. */
  tdb_exec(db, "INSERT INTO w(e, tenant, id) VALUES ('[1,1]', 'a', 'it''s ' || printf('%%.70c', 'e') || 'é')");
  tdb_expect_error(db, "UNIQUE constraint failed: w.id ('it''s eeee",
                   "INSERT INTO w(e, tenant, id) VALUES ('[1,1]', 'a', 'it''s ' || printf('%%.70c', 'e') || 'é')");
  tdb_exec(db, "DROP TABLE w");
  /* SQLite itself refuses UPSERT on virtual tables. */
  tdb_expect_error(db, "UPSERT not implemented for virtual table",
                   "INSERT INTO u(id, e) VALUES (7, '[1,1]') ON CONFLICT(id) DO UPDATE SET e = excluded.e");
  /* A KNN query still works beside it, and the graph is sound. */
  tdb_expect_text(db, "7", "SELECT id FROM u WHERE e MATCH '[3,3]' AND k = 1");
  tdb_expect_text(db, "1", "SELECT json_extract(vg_hnsw_check('u'), '$.ok')");
  tdb_exec(db, "DROP TABLE u");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_random_upserts_match_ordinary_table, setup, teardown),
      cmocka_unit_test_setup_teardown(test_key_errors_and_plan, setup, teardown),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
