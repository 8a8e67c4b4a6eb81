/*
** test_tenants.c — tenants stay apart by every road in: KNN queries (=,
** IN, IS), vg_ingest and vg_enqueue with vg_queue_run, vg_queue_complete,
** vg_search, vg_queue_stats and vg_watch.  The tenants are look-alikes
** (case, spaces, a Cyrillic letter, a zero-width space), and the test
** asserts on rows, byte for byte: every row a tenant is given carries that
** tenant's exact bytes, and it gets all of its own rows.  A tenant with a
** NUL byte and a partition compared under COLLATE NOCASE are refused.
*/
#include "testdb.h"

#include <stdio.h>
#include <string.h>

/* Look-alike tenant names, as SQL expressions. */
static const char *const azTenant[] = {
    "'victim'",
    "'Victim'",
    "'VICTIM'",
    "'victim '",
    "' victim'",
    "'vict' || char(1110) || 'm'", /* Cyrillic i */
    "'vic' || char(8203) || 'tim'", /* zero-width space */
    "'victim2'",
};
#define N_TENANT (int)(sizeof azTenant / sizeof azTenant[0])

static sqlite3 *setup(void) {
  sqlite3 *db = tdb_open_notes();
  tdb_exec(db, "CREATE TABLE visits(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, body TEXT NOT NULL);");
  return db;
}

/* Every row of tenant i's result carries tenant i's bytes, and there are
** nWant of them.  zRows selects (tenant_id, content) rows. */
static void expect_own_rows(sqlite3 *db, int i, int nWant, const char *zRows) {
  char *zSql = sqlite3_mprintf("SELECT count(*), count(*) FILTER (WHERE hex(t) = hex(%s) AND c LIKE 'secret-%d %%')"
                               " FROM (%s)",
                               azTenant[i], i, zRows);
  sqlite3_stmt *p = tdb_prepare(db, "%s", zSql);
  if (sqlite3_step(p) != SQLITE_ROW) fail_msg("%s -> %s", zSql, sqlite3_errmsg(db));
  int n = sqlite3_column_int(p, 0), nOwn = sqlite3_column_int(p, 1);
  if (n != nWant || nOwn != nWant) {
    fail_msg("tenant %s: %d rows, %d of them its own; want %d\n  %s", azTenant[i], n, nOwn, nWant, zSql);
  }
  sqlite3_finalize(p);
  sqlite3_free(zSql);
}

static void test_lookalikes_through_every_road(void **state) {
  (void)state;
  sqlite3 *db = setup();
  /* Four rows per tenant: one inserted, one enqueued and completed by
  ** hand, one ingested, one watched. */
  for (int i = 0; i < N_TENANT; i++) {
    tdb_exec(db,
             "INSERT INTO notes(embedding, tenant_id, content_id, content)"
             " VALUES (vg_embed('fever', 'hash:16'), %s, 'direct', 'secret-%d direct')",
             azTenant[i], i);
    tdb_exec(db, "SELECT vg_enqueue('notes', %s, 'note', 'outside', 'secret-%d fever outside')", azTenant[i], i);
    tdb_exec(db, "INSERT INTO visits(tenant, body) VALUES (%s, 'secret-%d fever watched')", azTenant[i], i);
  }
  sqlite3_stmt *pClaim = tdb_prepare(db, "SELECT value ->> 'id', value ->> 'content' FROM json_each(vg_queue_claim('w', 100))");
  int nClaimed = 0;
  while (sqlite3_step(pClaim) == SQLITE_ROW) {
    tdb_exec(db, "SELECT vg_queue_complete(%lld, vg_embed('%q', 'hash:16'), 'w')", sqlite3_column_int64(pClaim, 0),
             (const char *)sqlite3_column_text(pClaim, 1));
    nClaimed++;
  }
  sqlite3_finalize(pClaim);
  assert_int_equal(nClaimed, N_TENANT);
  for (int i = 0; i < N_TENANT; i++) {
    tdb_exec(db, "SELECT vg_ingest('notes', %s, 'note', 'ingested', 'secret-%d fever ingested')", azTenant[i], i);
  }
  tdb_expect_text(db, "8", "SELECT vg_watch('visits', 'notes', '{\"tenant\": \"tenant\", \"text\": \"body\"}')");
  tdb_exec(db, "SELECT vg_queue_run(100)");
  tdb_expect_text(db, "32", "SELECT count(*) FROM notes");

  for (int i = 0; i < N_TENANT; i++) {
    const char *t = azTenant[i];
    char *zKnn = sqlite3_mprintf("SELECT tenant_id AS t, content AS c FROM notes WHERE embedding MATCH"
                                 " vg_embed('fever', 'hash:16') AND k = 50 AND tenant_id %%s");
    static const char *const azCond[] = {"= %s", "IN (%s)", "IS %s", "IN (%s, 'nobody')"};
    for (int c = 0; c < 4; c++) {
      char *zCond = sqlite3_mprintf(azCond[c], t);
      char *zSql = sqlite3_mprintf(zKnn, zCond);
      expect_own_rows(db, i, 4, zSql);
      sqlite3_free(zSql);
      sqlite3_free(zCond);
    }
    sqlite3_free(zKnn);
    /* Plain scans by the key, and vg_search. */
    char *zSql = sqlite3_mprintf("SELECT tenant_id AS t, content AS c FROM notes WHERE tenant_id = %s", t);
    expect_own_rows(db, i, 4, zSql);
    sqlite3_free(zSql);
    zSql = sqlite3_mprintf("SELECT %s AS t, content AS c FROM vg_search('notes', %s, 'fever secret', 50)", t, t);
    expect_own_rows(db, i, 4, zSql);
    sqlite3_free(zSql);
    /* vg_search's own rows name their tenant through the table. */
    tdb_expect_text(db, "4",
                    "SELECT count(*) FROM vg_search('notes', %s, 'fever', 50) s JOIN notes n ON n.rowid = s.target_rowid"
                    " WHERE hex(n.tenant_id) = hex(%s)",
                    t, t);
    /* The queue's items and its stats, per tenant (done items keep no text:
    ** their rows in the table say whose they are). */
    zSql = sqlite3_mprintf("SELECT q.tenant_id AS t, n.content AS c FROM vg_queue AS q"
                           " JOIN vg_queue_vectors AS v ON v.item_id = q.id JOIN notes AS n ON n.rowid = v.target_rowid"
                           " WHERE q.tenant_id = %s", t);
    expect_own_rows(db, i, 3, zSql);
    sqlite3_free(zSql);
    tdb_expect_text(db, "3", "SELECT vg_queue_stats(%s) ->> '$.by_status.done'", t);
    /* Under NOCASE a query would read 'victim', 'Victim' and 'VICTIM'. */
    tdb_expect_error(db, "notes: a KNN query must name the partition exactly: tenant_id compared with COLLATE NOCASE",
                     "SELECT rowid FROM notes WHERE embedding MATCH vg_embed('fever', 'hash:16') AND k = 5"
                     " AND tenant_id = %s COLLATE NOCASE",
                     t);
  }
  /* NOCASE may narrow an exact choice, never widen it. */
  tdb_expect_text(db, "4",
                  "SELECT count(*) FROM notes WHERE embedding MATCH vg_embed('fever', 'hash:16') AND k = 50"
                  " AND tenant_id = 'Victim' AND tenant_id = 'VICTIM' COLLATE NOCASE");
  tdb_close(db);
}

/* A NUL byte makes no tenant: refused by the table and by every pipeline
** function that takes one (test_text_args covers each argument). */
static void test_nul_tenant_refused_everywhere(void **state) {
  (void)state;
  sqlite3 *db = setup();
  const char *zNul = "'victim' || char(0) || 'evil'";
  tdb_exec(db, "INSERT INTO notes(embedding, tenant_id, content) VALUES (vg_embed('fever', 'hash:16'), 'victim', 'secret')");
  tdb_expect_error(db, "notes: NUL byte in the partition key tenant_id",
                   "INSERT INTO notes(embedding, tenant_id) VALUES (vg_embed('fever', 'hash:16'), %s)", zNul);
  tdb_expect_error(db, "notes: NUL byte in the partition key tenant_id", "UPDATE notes SET tenant_id = %s", zNul);
  tdb_expect_error(db, "vg_ingest: NUL byte in tenant_id", "SELECT vg_ingest('notes', %s, 'note', 'x', 'fever')", zNul);
  tdb_expect_error(db, "vg_enqueue: NUL byte in tenant_id", "SELECT vg_enqueue('notes', %s, 'note', 'x', 'fever')",
                   zNul);
  tdb_expect_error(db, "vg_search: NUL byte in tenant_id", "SELECT * FROM vg_search('notes', %s, 'fever', 5)", zNul);
  tdb_expect_error(db, "vg_queue_stats: NUL byte in tenant_id", "SELECT vg_queue_stats(%s)", zNul);
  tdb_exec(db, "INSERT INTO visits(tenant, body) VALUES (%s, 'fever')", zNul);
  tdb_expect_error(db, "vg_watch: vg_ingest: NUL byte in tenant_id",
                   "SELECT vg_watch('visits', 'notes', '{\"tenant\": \"tenant\", \"text\": \"body\"}')");
  /* Nothing was written, and a query for it reads nothing. */
  tdb_expect_text(db, "1|secret", "SELECT count(*) || '|' || max(content) FROM notes");
  tdb_expect_text(db, "0", "SELECT count(*) FROM vg_queue");
  tdb_expect_text(db, "0",
                  "SELECT count(*) FROM notes WHERE embedding MATCH vg_embed('fever', 'hash:16') AND k = 5"
                  " AND tenant_id = %s",
                  zNul);
  tdb_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lookalikes_through_every_road),
      cmocka_unit_test(test_nul_tenant_refused_everywhere),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
