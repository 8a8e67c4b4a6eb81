/*
** test_watch_plain.c — vg_watch never breaks the application's writes.
**
** A watched table is written by connections that have not loaded the
** extension (one with PRAGMA trusted_schema = OFF) and by one that has but
** set no PII key, in random INSERTs, UPDATEs (text, tenant, id, metadata,
** blanking, a change of case in a NOCASE column), DELETEs, and REPLACEs
** through the primary key and through another UNIQUE column (which delete
** rows without firing delete triggers); now and then a vecguard connection
** runs the queue and searches every tenant.  Every search result must come
** from a row the table still holds, under that tenant and id, with text: a
** deleted, moved or blanked row never shows; a row a REPLACE deleted, not
** after the next drain.  At the end, after the queue is run dry,
** the vectors table must hold exactly what vg_ingest of the table's final
** rows stores in a second table (a reference fed without the watch): the
** same tenants, ids, chunks, redacted texts, metadata and vectors; and no
** e-mail address may be anywhere but in the application's own table.
*/
#include "testdb.h"

#include <string.h>

#define N_IDS 40
#define N_STEPS 1500

static const char *const azShop[] = {"s1", "s2", "s3"};
static const char *const azWord[] = {"fever", "cough", "rash", "dose", "visit", "clinic", "refund", "screen"};

/* A body: a few words, sometimes an e-mail address, sometimes blank. */
static char *make_body(uint64_t *s) {
  int r = (int)(tdb_rand(s) % 12);
  if (r == 0) return sqlite3_mprintf("NULL");
  if (r == 1) return sqlite3_mprintf("'  '");
  sqlite3_str *x = sqlite3_str_new(0);
  sqlite3_str_appendall(x, "'");
  int n = 1 + (int)(tdb_rand(s) % 12);
  for (int i = 0; i < n; i++) sqlite3_str_appendf(x, "%s ", azWord[tdb_rand(s) % 8]);
  if (r == 2 || r == 3) sqlite3_str_appendf(x, "write to pat%d@example.org", (int)(tdb_rand(s) % 100));
  sqlite3_str_appendall(x, "'");
  return sqlite3_str_finish(x);
}

/* One random write; the statement may find no row, never fails.  Returns 1
** for a REPLACE, whose silently deleted rows the next drain takes out (until
** then vg_search may still show them). */
static int random_write(sqlite3 *db, uint64_t *s) {
  int bReplace = 0;
  int id = 1 + (int)(tdb_rand(s) % N_IDS), id2 = 1 + (int)(tdb_rand(s) % N_IDS);
  const char *zShop = azShop[tdb_rand(s) % 3];
  char *zBody = make_body(s);
  int slug = (int)(tdb_rand(s) % 12);
  switch (tdb_rand(s) % 12) {
    case 0:
    case 1:
      tdb_exec(db, "INSERT OR IGNORE INTO docs VALUES (%d, '%s', %s, 'tag%d', NULL)", id, zShop, zBody, id % 4);
      break;
    case 8:
      /* REPLACE deletes the rows it conflicts with (by id or by slug)
      ** without firing their delete trigger. */
      tdb_exec(db, "REPLACE INTO docs VALUES (%d, '%s', %s, 'tag%d', 'slug%d')", id, zShop, zBody, id % 4, slug);
      bReplace = 1;
      break;
    case 9:
      tdb_exec(db, "UPDATE OR REPLACE docs SET slug = 'slug%d' WHERE id = %d", slug, id);
      bReplace = 1;
      break;
    case 10:
      tdb_exec(db, "UPDATE OR REPLACE docs SET id = %d WHERE id = %d", id2, id);
      bReplace = 1;
      break;
    case 11:
      /* The text column is NOCASE: a change of case is a change all the same. */
      tdb_exec(db, "UPDATE docs SET body = CASE WHEN body = upper(body) THEN lower(body) ELSE upper(body) END"
                   " WHERE id = %d", id);
      break;
    case 2:
      tdb_exec(db, "UPDATE docs SET body = %s WHERE id = %d", zBody, id);
      break;
    case 3:
      tdb_exec(db, "UPDATE docs SET shop = '%s' WHERE id = %d", zShop, id);
      break;
    case 4:
      tdb_exec(db, "UPDATE OR IGNORE docs SET id = %d WHERE id = %d", id2, id);
      break;
    case 5:
      tdb_exec(db, "UPDATE docs SET tag = 'tag%d' WHERE id = %d", id2 % 4, id);
      break;
    case 6:
      tdb_exec(db, "DELETE FROM docs WHERE id = %d", id);
      break;
    default:
      /* Several rows in one statement. */
      tdb_exec(db, "UPDATE docs SET body = body || ' cough' WHERE id %% 7 = %d", id % 7);
      break;
  }
  sqlite3_free(zBody);
  return bReplace;
}

/* Every row vg_search returns comes from a row of docs with text, under
** that tenant and id. */
static void check_search(sqlite3 *vg, uint64_t *s) {
  for (int i = 0; i < 3; i++) {
    const char *zWord = azWord[tdb_rand(s) % 8];
    tdb_expect_text(vg, "0",
                    "SELECT count(*) FROM vg_search('docs_vec', '%s', '%s', 20) AS r WHERE NOT EXISTS (SELECT 1"
                    " FROM docs AS d WHERE CAST(d.id AS TEXT) = r.content_id AND d.shop = '%s'"
                    " AND trim(coalesce(d.body, '')) <> '')",
                    azShop[i], zWord, azShop[i]);
  }
}

/* The table's rows as text, for comparing. */
static char *table_rows(sqlite3 *vg, const char *zTable) {
  return tdb_text(vg,
                  "SELECT ifnull(group_concat(x, char(10)), '') FROM (SELECT tenant_id || '/' || content_id || '/'"
                  " || chunk_index || '/' || tag || '/' || content || '/' || hex(embedding) AS x FROM %s ORDER BY x)",
                  zTable);
}

static void test_writes_without_the_extension(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("watch-plain.db");
  sqlite3 *vg = tdb_open(zPath);
  tdb_exec(vg, "PRAGMA journal_mode = wal");
  tdb_exec(vg,
           "CREATE TABLE docs(id INTEGER PRIMARY KEY, shop TEXT, body TEXT COLLATE NOCASE, tag TEXT, slug TEXT UNIQUE);"
           "CREATE VIRTUAL TABLE docs_vec USING vg_hnsw(embedding float[32], tenant_id text partition key,"
           " content_id text, chunk_index integer, +content text, tag text);"
           "CREATE VIRTUAL TABLE ref_vec USING vg_hnsw(embedding float[32], tenant_id text partition key,"
           " content_id text, chunk_index integer, +content text, tag text);"
           "SELECT vg_pii_set_key(zeroblob(32));"
           "SELECT vg_configure('docs_vec', '{\"chunk_tokens\": 6, \"chunk_overlap\": 1}');"
           "SELECT vg_configure('ref_vec', '{\"chunk_tokens\": 6, \"chunk_overlap\": 1}');");
  tdb_expect_text(vg, "0", "SELECT vg_watch('docs', 'docs_vec', '{\"text\": \"body\", \"tenant\": \"shop\","
                           " \"metadata\": [\"tag\"]}')");
  /* The writers: no extension at all (one refusing functions in the
  ** schema), and the extension without a PII key. */
  sqlite3 *aWriter[3] = {0, 0, 0};
  assert_int_equal(sqlite3_open(zPath, &aWriter[0]), SQLITE_OK);
  assert_int_equal(sqlite3_open(zPath, &aWriter[1]), SQLITE_OK);
  tdb_exec(aWriter[1], "PRAGMA trusted_schema = OFF");
  aWriter[2] = tdb_open(zPath);
  for (int w = 0; w < 3; w++) sqlite3_busy_timeout(aWriter[w], 5000);
  tdb_expect_error(aWriter[0], "no such function: vg_search", "SELECT vg_search('x', 'y', 'z', 1)");

  uint64_t s = 20261206;
  int bReplaced = 0; /* since the last drain */
  for (int step = 1; step <= N_STEPS; step++) {
    bReplaced |= random_write(aWriter[tdb_rand(&s) % 3], &s);
    if (step % 40 == 0 && !bReplaced) check_search(vg, &s);
    if (step % 97 == 0) {
      bReplaced = 0;
      char *zRun = tdb_text(vg, "SELECT vg_queue_run(25)");
      if (strstr(zRun, "\"refused\":0") == 0) fail_msg("step %d: %s", step, zRun);
      sqlite3_free(zRun);
      check_search(vg, &s);
    }
  }
  for (int w = 0; w < 3; w++) tdb_close(aWriter[w]);

  /* Run dry: the log drained, nothing left to claim. */
  for (int i = 0; i < 100 && tdb_int(vg, "SELECT vg_queue_run(100) ->> 'claimed'") > 0; i++) {
  }
  tdb_expect_text(vg, "0|0", "SELECT (SELECT count(*) FROM vg_watch_log) || '|' ||"
                             " (SELECT count(*) FROM vg_queue WHERE status <> 'done')");
  check_search(vg, &s);
  tdb_expect_index_ok(vg, "docs_vec");

  /* The reference: the final rows through vg_ingest, without the watch. */
  int nRows = (int)tdb_int(vg, "SELECT count(*) FROM docs WHERE trim(coalesce(body, '')) <> ''");
  assert_true(nRows > 5);
  assert_int_equal(tdb_int(vg,
                           "SELECT count(vg_ingest('ref_vec', shop, 'ref', CAST(id AS TEXT), body,"
                           " json_object('tag', tag))) FROM docs WHERE trim(coalesce(body, '')) <> ''"),
                   nRows);
  while (tdb_int(vg, "SELECT vg_queue_run(100) ->> 'claimed'") > 0) {
  }
  char *zWatched = table_rows(vg, "docs_vec");
  char *zRef = table_rows(vg, "ref_vec");
  if (strcmp(zWatched, zRef) != 0) fail_msg("the watched table differs from the reference:\n%s\n---\n%s", zWatched, zRef);
  assert_true(tdb_int(vg, "SELECT count(*) FROM docs WHERE body LIKE '%%@example.org%%'") > 0);
  assert_true(strstr(zRef, "EMAIL_ADDRESS") != 0);
  sqlite3_free(zWatched);
  sqlite3_free(zRef);
  /* Personal data only in the application's own table. */
  tdb_expect_text(vg, "0|0|0",
                  "SELECT (SELECT count(*) FROM docs_vec WHERE content LIKE '%%@example.org%%') || '|' ||"
                  " (SELECT count(*) FROM vg_queue_items WHERE content LIKE '%%@example.org%%') || '|' ||"
                  " (SELECT count(*) FROM vg_watch_log WHERE CAST(source_key AS TEXT) LIKE '%%@%%')");
  tdb_close(vg);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

/* A database whose watch an earlier version made (its triggers call
** vg_ingest): the first drain remakes them in plain SQL, and a connection
** without the extension can write the table again. */
static void test_old_triggers_remade(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("watch-old.db");
  sqlite3 *vg = tdb_open(zPath);
  tdb_exec(vg,
           "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);"
           "CREATE VIRTUAL TABLE notes_vec USING vg_hnsw(embedding float[16], content_id text, +content text);"
           "SELECT vg_pii_set_key(zeroblob(32));"
           "SELECT vg_watch('notes', 'notes_vec', '{\"text\": \"body\"}');"
           /* What the earlier version left: a trigger calling vg_ingest, no log. */
           "DROP TRIGGER vg_watch_notes_insert; DROP TRIGGER vg_watch_notes_update; DROP TRIGGER vg_watch_notes_delete;"
           "DROP TRIGGER IF EXISTS vg_watch_notes_replace_insert;"
           "CREATE TRIGGER vg_watch_notes_insert AFTER INSERT ON notes BEGIN"
           " SELECT vg_ingest('notes_vec', '', 'notes', CAST(new.rowid AS TEXT), new.body, NULL, 'medium'); END;"
           "DROP TABLE vg_watch_log;");
  sqlite3 *plain = 0;
  assert_int_equal(sqlite3_open(zPath, &plain), SQLITE_OK);
  tdb_expect_error(plain, "no such function: vg_ingest", "INSERT INTO notes VALUES (1, 'before')");
  tdb_expect_text(vg, "{\"rows\":0,\"erased\":0,\"refused\":0,\"errors\":[]}", "SELECT vg_watch_drain()");
  tdb_expect_text(vg, "0", "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND sql LIKE '%%vg_ingest%%'");
  /* SQLite compiles triggers with the schema a connection read last; a
  ** statement that runs sees the new one (and the failed INSERT ran not). */
  tdb_exec(plain, "SELECT count(*) FROM notes");
  tdb_exec(plain, "INSERT INTO notes VALUES (1, 'after the upgrade')");
  tdb_close(plain);
  tdb_expect_text(vg, "1|1", "SELECT vg_queue_run(10) -> 'watched' ->> 'rows' || '|' || (SELECT count(*) FROM notes_vec)");
  tdb_expect_text(vg, "after the upgrade", "SELECT content FROM notes_vec");
  tdb_close(vg);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

/* A queue made before vg_watch_log has CHECKs calling json_type(), which
** SQLite refuses under trusted_schema = OFF; vg_queue_init() makes the two
** tables again without them, keeping their rows, as the docs say. */
static void test_old_checks_dropped(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("watch-checks.db");
  sqlite3 *vg = tdb_open(zPath);
  tdb_exec(vg,
           "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);"
           "CREATE VIRTUAL TABLE notes_vec USING vg_hnsw(embedding float[16], content_id text, +content text);"
           "SELECT vg_pii_set_key(zeroblob(32)), vg_queue_clock(1000);"
           "SELECT vg_configure('notes_vec', '{\"chunk_tokens\": 40}');"
           "INSERT INTO notes VALUES (1, 'one'), (2, 'two');"
           "SELECT vg_watch('notes', 'notes_vec', '{\"text\": \"body\"}');"
           "PRAGMA writable_schema = ON;"
           "UPDATE sqlite_schema SET sql = replace(sql, 'metadata TEXT,',"
           " 'metadata TEXT CHECK (metadata IS NULL OR json_type(metadata) = ''object''),') WHERE name = 'vg_queue';"
           "UPDATE sqlite_schema SET sql = replace(sql, 'redact TEXT,',"
           " 'redact TEXT CHECK (redact IS NULL OR json_type(redact) = ''object''),') WHERE name = 'vg_table_config';"
           "PRAGMA writable_schema = OFF;");
  tdb_close(vg);
  sqlite3 *plain = 0;
  assert_int_equal(sqlite3_open(zPath, &plain), SQLITE_OK);
  tdb_exec(plain, "PRAGMA trusted_schema = OFF");
  tdb_expect_error(plain, "unsafe use of json_type()", "DELETE FROM notes WHERE id = 1");
  vg = tdb_open(zPath);
  tdb_expect_text(vg, "1", "SELECT vg_queue_init()");
  tdb_expect_text(vg, "0", "SELECT count(*) FROM sqlite_schema WHERE sql LIKE '%%json_type(%%'");
  tdb_expect_text(vg, "1:pending 2:pending|40", "SELECT (SELECT group_concat(content_id || ':' || status, ' ') FROM"
                                                " (SELECT * FROM vg_queue ORDER BY id)) || '|' ||"
                                                " (SELECT chunk_tokens FROM vg_table_config)");
  tdb_exec(plain, "SELECT count(*) FROM notes"); /* reads the new schema */
  tdb_exec(plain, "DELETE FROM notes WHERE id = 1");
  tdb_close(plain);
  tdb_expect_text(vg, "2|two", "SELECT group_concat(content_id) || '|' || group_concat(content) FROM vg_queue_items");
  tdb_close(vg);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

/* The cases a review found: a change of case in a NOCASE column is a
** change; an id that is not unique is refused; rows with a NULL id are
** reported, and no longer once gone; a run inside a writing statement
** leaves the log for the next one; a renamed table cannot be watched twice. */
static void test_edges(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db,
           "CREATE VIRTUAL TABLE v USING vg_hnsw(embedding float[16], content_id text, +content text);"
           "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT COLLATE NOCASE);"
           "CREATE TABLE u(k TEXT, body TEXT);"
           "CREATE TABLE n(k TEXT UNIQUE, body TEXT);"
           "CREATE TABLE r(x);"
           "SELECT vg_pii_set_key(zeroblob(32));");
  tdb_expect_text(db, "0", "SELECT vg_watch('t', 'v', '{\"text\": \"body\"}')");
  tdb_exec(db, "INSERT INTO t VALUES (1, 'fever')");
  tdb_expect_text(db, "1", "SELECT vg_watch_drain() ->> 'rows'");
  tdb_exec(db, "UPDATE t SET body = 'FEVER'");
  tdb_expect_text(db, "1", "SELECT vg_watch_drain() ->> 'rows'");
  tdb_expect_text(db, "1", "SELECT vg_queue_run(10) ->> 'done'");
  tdb_expect_text(db, "FEVER", "SELECT content FROM v");
  /* Inside INSERT ... SELECT: no drain, no error; the next run drains. */
  tdb_exec(db, "INSERT INTO t VALUES (2, 'cough')");
  tdb_exec(db, "INSERT INTO r SELECT vg_queue_run(10)");
  tdb_expect_text(db, "0|1", "SELECT (SELECT x ->> '$.watched.rows' FROM r) || '|' || (SELECT count(*) FROM vg_watch_log)");
  tdb_expect_text(db, "1", "SELECT vg_queue_run(10) ->> '$.watched.rows'");
  tdb_expect_error(db, "vg_watch: id column \"k\" of table \"u\" is not unique: name a column with a PRIMARY KEY or "
                       "UNIQUE constraint of its own",
                   "SELECT vg_watch('u', 'v', '{\"text\": \"body\", \"id\": \"k\"}')");
  tdb_exec(db, "SELECT vg_unwatch('t')");
  tdb_expect_text(db, "0", "SELECT vg_watch('n', 'v', '{\"text\": \"body\", \"id\": \"k\"}')");
  tdb_exec(db, "INSERT INTO n VALUES (NULL, 'no id'), ('a', 'has one')");
  tdb_expect_text(db, "1|1|1 rows of \"n\" have NULL in their id column \"k\": give them ids to have them indexed",
                  "SELECT v ->> 'rows' || '|' || (v ->> 'refused') || '|' || (v ->> '$.errors[0].error') FROM"
                  " (SELECT vg_watch_drain() AS v)");
  tdb_exec(db, "DELETE FROM n WHERE k IS NULL");
  tdb_exec(db, "UPDATE n SET body = 'has one still' WHERE k = 'a'");
  tdb_expect_text(db, "1|0|0", "SELECT v ->> 'rows' || '|' || (v ->> 'refused') || '|' || (SELECT count(*) FROM"
                               " vg_watch_log) FROM (SELECT vg_watch_drain() AS v)");
  /* Renamed while watched: its triggers follow it, and refuse a second watch. */
  tdb_exec(db, "ALTER TABLE n RENAME TO n2");
  tdb_expect_error(db, "vg_watch: table \"n2\" has trigger \"vg_watch_n_",
                   "SELECT vg_watch('n2', 'v', '{\"text\": \"body\", \"id\": \"k\"}')");
  tdb_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_writes_without_the_extension),
      cmocka_unit_test(test_old_triggers_remade),
      cmocka_unit_test(test_old_checks_dropped),
      cmocka_unit_test(test_edges),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
