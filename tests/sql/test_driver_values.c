/*
** test_driver_values.c — values as drivers send them.  better-sqlite3 binds
** every JavaScript number as a REAL, so a whole number such as 1.0 must be
** taken wherever a count or an id is expected (and 1.5 refused as before);
** numpy's default float64 array, sent as a BLOB, reads as twice the
** dimensions, and the error must say so.  Each answer is compared with the
** same call made with an INTEGER.
*/
#include "testdb.h"

#include <stdio.h>
#include <string.h>

static sqlite3 *setup(void) {
  sqlite3 *db = tdb_open_notes();
  tdb_exec(db, "SELECT vg_queue_clock(1000);");
  return db;
}

static void test_whole_reals_in_the_queue(void **state) {
  (void)state;
  sqlite3 *db = setup();
  for (int i = 1; i <= 3; i++) {
    tdb_expect_text(db, i == 1 ? "1" : i == 2 ? "2" : "3",
                    "SELECT vg_enqueue('notes', 'acme', 'note', 'n%d', 'fever %d')", i, i);
  }
  const char *zNotWhole = "n must be a whole number from 1 to 10000";
  tdb_expect_error(db, zNotWhole, "SELECT vg_queue_claim('w1', 1.5)");
  tdb_expect_error(db, zNotWhole, "SELECT vg_queue_claim('w1', 1e300)");
  tdb_expect_error(db, "n must be a whole number from 1 to 10000; got the text '2'", "SELECT vg_queue_claim('w1', '2')");
  tdb_expect_error(db, "n must be a whole number from 1 to 10000; got the real 1.5", "SELECT vg_queue_claim('w1', 1.5)");
  /* Nothing was claimed by the refusals. */
  tdb_expect_text(db, "3", "SELECT count(*) FROM vg_queue WHERE status = 'pending'");
  tdb_expect_text(db, "[1,2]", "SELECT json_group_array(value ->> '$.id') FROM json_each(vg_queue_claim('w1', 2.0))");

  const char *zId = "the item id must be an integer";
  tdb_expect_error(db, zId, "SELECT vg_queue_complete(1.5, vg_embed('fever 1', 'hash:16'), 'w1')");
  tdb_expect_error(db, zId, "SELECT vg_queue_fail(2.5, 'boom', 'w1')");
  tdb_expect_text(db, "processing|processing",
                  "SELECT group_concat(status, '|') FROM (SELECT status FROM vg_queue WHERE id IN (1, 2) ORDER BY id)");
  tdb_exec(db, "SELECT vg_queue_complete(1.0, vg_embed('fever 1', 'hash:16'), 'w1')");
  tdb_expect_text(db, "failed", "SELECT vg_queue_fail(2.0, 'boom', 'w1')");
  tdb_expect_text(db, "done|failed|pending",
                  "SELECT group_concat(status, '|') FROM (SELECT status FROM vg_queue ORDER BY id)");
  tdb_close(db);
}

/* vg_queue_run(n) with n a REAL runs as with the INTEGER n: the same items
** done, the same rows in the table. */
static void test_whole_reals_run_and_search(void **state) {
  (void)state;
  char *azRows[2];
  for (int pass = 0; pass < 2; pass++) {
    sqlite3 *db = setup();
    for (int i = 1; i <= 5; i++) {
      tdb_exec(db, "SELECT vg_ingest('notes', 'acme', 'note', 'n%d', 'fever and cough, visit %d')", i, i);
    }
    tdb_expect_error(db, "n must be a whole number from 1 to 10000", "SELECT vg_queue_run(2.5)");
    tdb_expect_text(db, "3", "SELECT vg_queue_run(%s) ->> '$.done'", pass ? "3.0" : "3");
    tdb_expect_text(db, "2", "SELECT vg_queue_run(%s) ->> '$.done'", pass ? "10.0" : "10");
    tdb_expect_error(db, "k must be a whole number from 1 to 10000; got the real 2.5",
                     "SELECT * FROM vg_search('notes', 'acme', 'fever', 2.5)");
    tdb_expect_error(db, "k must be a whole number from 1 to 10000; got the text '5'",
                     "SELECT * FROM vg_search('notes', 'acme', 'fever', '5')");
    azRows[pass] = tdb_text(db,
                            "SELECT group_concat(content_id, ',') FROM vg_search('notes', 'acme', 'visit 4 fever', %s)",
                            pass ? "4.0" : "4");
    tdb_close(db);
  }
  assert_int_equal(strlen(azRows[0]) > 0, 1);
  assert_string_equal(azRows[0], azRows[1]);
  sqlite3_free(azRows[0]);
  sqlite3_free(azRows[1]);
}

/* A content_id of 7.0 (a JavaScript 7) is the item of content_id 7: the
** same item, the same audit row's id; 7.5 is refused, saying what came. */
static void test_whole_real_content_id(void **state) {
  (void)state;
  sqlite3 *db = setup();
  tdb_exec(db, "SELECT vg_pii_set_key(zeroblob(32))");
  tdb_expect_text(db, "1", "SELECT vg_ingest('notes', 'acme', 'note', 7, 'fever')");
  tdb_expect_text(db, "1", "SELECT vg_ingest('notes', 'acme', 'note', 7.0, 'fever')");
  tdb_expect_text(db, "1", "SELECT vg_enqueue('notes', 'acme', 'note', 7.0, 'fever')");
  tdb_expect_text(db, "1|7|text", "SELECT count(*) || '|' || content_id || '|' || typeof(content_id) FROM vg_queue");
  tdb_expect_text(db, "7|7", "SELECT group_concat(content_id, '|') FROM vg_pii_log");
  tdb_expect_error(db, "vg_ingest: content_id must be text or a whole number; got the real 7.5",
                   "SELECT vg_ingest('notes', 'acme', 'note', 7.5, 'fever')");
  tdb_expect_error(db, "vg_ingest: content_id must be text or a whole number; got NULL",
                   "SELECT vg_ingest('notes', 'acme', 'note', NULL, 'fever')");
  tdb_close(db);
}

static void test_whole_reals_in_chunk(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  const char *zText = "'one two three four five six seven eight nine ten eleven twelve'";
  char *zInt = tdb_text(db, "SELECT group_concat(text, '|') FROM vg_chunk(%s, 4, 1)", zText);
  char *zReal = tdb_text(db, "SELECT group_concat(text, '|') FROM vg_chunk(%s, 4.0, 1.0)", zText);
  assert_string_equal(zInt, zReal);
  assert_non_null(strchr(zInt, '|')); /* more than one chunk */
  tdb_expect_error(db, "max_tokens must be a whole number from 1 to 1000000; got the real 4.5", "SELECT * FROM vg_chunk(%s, 4.5)", zText);
  sqlite3_free(zInt);
  sqlite3_free(zReal);
  tdb_close(db);
}

/* The error of an INSERT or a KNN query given a float64 BLOB names it; a
** vector that is merely the wrong size gets no such hint. */
static void test_float64_blob_named(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db, "CREATE VIRTUAL TABLE t USING vg_hnsw(embedding float[4]);"
               "INSERT INTO t(rowid, embedding) VALUES (1, '[1, 2, 3, 4]')");
  /* [1, 2, 3, 4] as float64, little-endian: 32 bytes, 8 float32 "elements". */
  const char *zF64 = "x'000000000000F03F0000000000000040"
                     "00000000000008400000000000001040'";
  const char *zHint = "looks like float64: send float32";
  tdb_expect_error(db, zHint, "INSERT INTO t(rowid, embedding) VALUES (2, %s)", zF64);
  tdb_expect_error(db, zHint, "SELECT rowid FROM t WHERE embedding MATCH %s AND k = 1", zF64);
  /* The same bytes' reading is what the message says: 8 dimensions. */
  tdb_expect_error(db, "got 8 dimensions", "INSERT INTO t(rowid, embedding) VALUES (2, %s)", zF64);
  tdb_expect_text(db, "1", "SELECT count(*) FROM t");
  const char *azNoHint[] = {"'[1, 2, 3, 4, 5, 6, 7, 8]'", "vg_vector('[1, 2, 3]')", "zeroblob(12)"};
  for (size_t i = 0; i < sizeof azNoHint / sizeof azNoHint[0]; i++) {
    char *zErr = 0;
    char *zSql = sqlite3_mprintf("INSERT INTO t(rowid, embedding) VALUES (3, %s)", azNoHint[i]);
    assert_int_not_equal(sqlite3_exec(db, zSql, 0, 0, &zErr), SQLITE_OK);
    assert_non_null(zErr);
    if (strstr(zErr, "float64") || !strstr(zErr, "dimensions")) fail_msg("%s: %s", zSql, zErr);
    sqlite3_free(zErr);
    sqlite3_free(zSql);
  }
  tdb_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whole_reals_in_the_queue),
      cmocka_unit_test(test_whole_reals_run_and_search),
      cmocka_unit_test(test_whole_real_content_id),
      cmocka_unit_test(test_whole_reals_in_chunk),
      cmocka_unit_test(test_float64_blob_named),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
