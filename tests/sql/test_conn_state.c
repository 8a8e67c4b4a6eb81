/*
** test_conn_state.c — the per-connection state that one load of the
** extension gives a connection (ext/vecguard.c): it must be freed once,
** and never used after, however its registrations go: the extension loaded
** again on the same connection, the application overriding one of our
** functions, a registration failing midway, the connection closing.
**
** Each case uses every part of the state afterwards (the queue's clock,
** worker and kept embedder; the PII key and recognizers; vg_embed's default
** model; the modules vg_search and vg_pii_scan) and then closes the
** connection: under AddressSanitizer (make test SANITIZE=1) a use after
** free, a double free or a state never freed fails the program.
*/
#include "testdb.h"

#include <stdlib.h>
#include <string.h>

static void load_again(sqlite3 *db) {
  char *zErr = 0;
  if (sqlite3_load_extension(db, getenv("VG_EXTENSION"), 0, &zErr) != SQLITE_OK) {
    fail_msg("load again: %s", zErr ? zErr : "?");
  }
}

/* What the application registers in place of one of ours. */
static void app_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  sqlite3_result_text(ctx, "app", -1, SQLITE_STATIC);
}

static void override(sqlite3 *db, const char *zName, int nArg) {
  if (sqlite3_create_function(db, zName, nArg, SQLITE_UTF8, 0, app_func, 0, 0) != SQLITE_OK) {
    fail_msg("override %s/%d: %s", zName, nArg, sqlite3_errmsg(db));
  }
  tdb_expect_text(db, "app", "SELECT %s(%.*s)", zName, nArg * 2 - (nArg > 0), "1,1,1,1,1,1,1");
}

/* Every part of the state, through the functions that are still ours
** (an overridden one is skipped by its flag). */
enum { SKIP_QUEUE_CLOCK = 1, SKIP_EMBED_1 = 2, SKIP_PII_DETECT = 4, SKIP_QUEUE = 8 };

/* The PII part (the key, the recognizers, vg_pii_scan) and vg_embed's. */
static void use_pii_and_embed(sqlite3 *db, int mSkip) {
  tdb_exec(db, "SELECT vg_pii_set_key(zeroblob(32))");
  tdb_expect_text(db, "Mail <EMAIL_ADDRESS>", "SELECT vg_pii_redact('Mail ana@example.com')");
  tdb_expect_text(db, "1", "SELECT count(*) FROM vg_pii_scan('Mail ana@example.com')");
  if (!(mSkip & SKIP_PII_DETECT)) {
    tdb_expect_text(db, "1", "SELECT json_array_length(vg_pii_detect('ana@example.com'))");
  }
  if (!(mSkip & SKIP_EMBED_1)) tdb_expect_text(db, "1536", "SELECT length(vg_embed('hello world'))");
  tdb_expect_text(db, "64", "SELECT length(vg_embed('hello world', 'hash:16'))");
}

/* All of it, the queue's part too, on tdb_open_notes()'s table; iRound
** makes this round's items new. */
static void use_state(sqlite3 *db, int mSkip, int iRound) {
  use_pii_and_embed(db, mSkip);
  if (!(mSkip & SKIP_QUEUE)) {
    if (!(mSkip & SKIP_QUEUE_CLOCK)) tdb_expect_text(db, "1000.0", "SELECT vg_queue_clock(1000)");
    tdb_exec(db, "SELECT vg_ingest('notes', 'acme', 'note', %d, 'the patient had a fever')", iRound);
    tdb_expect_text(db, "1", "SELECT json_extract(vg_queue_run(10), '$.done')");
    tdb_exec(db, "SELECT vg_enqueue('notes', 'acme', 'note', 'x%d', 'a fever')", iRound);
    tdb_expect_text(db, "1", "SELECT json_array_length(vg_queue_claim('w', 10))");
    tdb_expect_text(db, "done", "SELECT status FROM vg_queue WHERE id = vg_queue_complete("
                                "(SELECT id FROM vg_queue WHERE content_id = 'x%d'), vg_embed('a fever', 'hash:16'))",
                    iRound);
  }
  tdb_expect_text(db, "1", "SELECT count(*) > 0 FROM vg_search('notes', 'acme', 'fever', 3)");
}

static sqlite3 *open_in_use(void) {
  sqlite3 *db = tdb_open_notes();
  use_state(db, 0, 1);
  return db;
}

/* Load again, which puts every function of ours back, use the state, close. */
static void reload_and_close(sqlite3 *db, int iRound) {
  load_again(db);
  use_state(db, 0, iRound);
  tdb_close(db);
}

static void test_load_twice(void **state) {
  (void)state;
  sqlite3 *db = open_in_use();
  /* The second load's registrations replace the first's one by one: the
  ** first state goes with the last of them, the second one works. */
  load_again(db);
  use_state(db, 0, 2);
  load_again(db);
  reload_and_close(db, 3);
}

static void test_override(void **state) {
  (void)state;
  sqlite3 *db = open_in_use();
  /* One function of each part, among them those that used to own their
  ** part (vg_queue_init, vg_embed/1): the others keep the state. */
  override(db, "vg_queue_init", 0);
  override(db, "vg_queue_clock", 1);
  override(db, "vg_embed", 1);
  override(db, "vg_pii_detect", 1);
  use_state(db, SKIP_QUEUE_CLOCK | SKIP_EMBED_1 | SKIP_PII_DETECT, 2);
  /* The first state goes with the registrations that still held it. */
  reload_and_close(db, 3);
}

static void test_override_every_queue_function(void **state) {
  (void)state;
  sqlite3 *db = open_in_use();
  /* Every function that takes the queue's part: vg_search, a module,
  ** still holds the state, and its kept embedder. */
  sqlite3_stmt *p = tdb_prepare(db, "SELECT name, narg FROM pragma_function_list WHERE name IN ('vg_queue_init',"
                                    " 'vg_queue_clock', 'vg_enqueue', 'vg_queue_claim', 'vg_queue_complete',"
                                    " 'vg_queue_fail', 'vg_queue_stats', 'vg_configure', 'vg_ingest',"
                                    " 'vg_queue_run', 'vg_watch', 'vg_unwatch', 'vg_watch_drain')");
  char *azName[32];
  int anArg[32], n = 0;
  while (sqlite3_step(p) == SQLITE_ROW && n < 32) {
    azName[n] = sqlite3_mprintf("%s", sqlite3_column_text(p, 0));
    anArg[n++] = sqlite3_column_int(p, 1);
  }
  sqlite3_finalize(p);
  assert_int_equal(n, 25);
  for (int i = 0; i < n; i++) {
    override(db, azName[i], anArg[i]);
    sqlite3_free(azName[i]);
  }
  use_state(db, SKIP_QUEUE, 2);
  tdb_close(db);
}

static void test_failure_midway(void **state) {
  (void)state;
  /* Another connection keeps the library loaded: SQLite unloads it when
  ** the entry point fails, yet what it registered stays. */
  sqlite3 *dbKeep = tdb_open(":memory:");
  sqlite3 *db = 0;
  assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
  /* vg_queue_clock/0 is the application's, and a statement runs: SQLite
  ** refuses to replace it (SQLITE_BUSY), after the PII, embed and first
  ** queue functions are registered. */
  assert_int_equal(sqlite3_create_function(db, "vg_queue_clock", 0, SQLITE_UTF8, 0, app_func, 0, 0), SQLITE_OK);
  sqlite3_stmt *p = tdb_prepare(db, "SELECT 1 UNION ALL SELECT 2");
  assert_int_equal(sqlite3_step(p), SQLITE_ROW);
  sqlite3_enable_load_extension(db, 1);
  char *zErr = 0;
  assert_int_not_equal(sqlite3_load_extension(db, getenv("VG_EXTENSION"), 0, &zErr), SQLITE_OK);
  sqlite3_free(zErr);
  sqlite3_finalize(p);
  tdb_expect_text(db, "app", "SELECT vg_queue_clock()");
  /* What was registered works on the state. */
  use_pii_and_embed(db, 0);
  tdb_expect_text(db, "1", "SELECT vg_queue_init()");
  tdb_expect_text(db, "0", "SELECT count(*) FROM pragma_function_list WHERE name = 'vg_queue_stats'");
  tdb_close(db);
  tdb_close(dbKeep);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_twice),
      cmocka_unit_test(test_override),
      cmocka_unit_test(test_override_every_queue_function),
      cmocka_unit_test(test_failure_midway),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
