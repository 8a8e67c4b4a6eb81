/*
** testdb.c — helpers for the SQL-level tests (see testdb.h).
*/
#include "testdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

sqlite3 *tdb_open(const char *zPath) {
  sqlite3 *db = 0;
  char *zErr = 0;
  const char *zExt = getenv("VG_EXTENSION");
  if (zExt == 0) fail_msg("VG_EXTENSION is not set (run the tests with make test)");
  if (sqlite3_open(zPath, &db) != SQLITE_OK) fail_msg("open %s: %s", zPath, sqlite3_errmsg(db));
  sqlite3_enable_load_extension(db, 1);
  if (sqlite3_load_extension(db, zExt, 0, &zErr) != SQLITE_OK) {
    fail_msg("load %s: %s", zExt, zErr ? zErr : "?");
  }
  sqlite3_busy_timeout(db, 10000);
  return db;
}

sqlite3 *tdb_open_notes(void) {
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db,
           "CREATE VIRTUAL TABLE notes USING vg_hnsw(embedding float[16], tenant_id text partition key,"
           " content_type text, content_id text, chunk_index integer, +content text);"
           "SELECT vg_pii_set_key(zeroblob(32));"
           "SELECT vg_configure('notes', '{\"model\": \"hash:16\"}');");
  return db;
}

void tdb_close(sqlite3 *db) {
  int rc = sqlite3_close(db);
  if (rc != SQLITE_OK) fail_msg("close: %s", sqlite3_errmsg(db));
}

char *tdb_temp_path(const char *zName) {
  static char zDir[256];
  if (zDir[0] == 0) {
    const char *zTmp = getenv("TMPDIR");
    snprintf(zDir, sizeof zDir, "%s/vgtest-%d", zTmp ? zTmp : "/tmp", (int)getpid());
    char *zCmd = sqlite3_mprintf("mkdir -p '%s'", zDir);
    if (system(zCmd) != 0) fail_msg("cannot create %s", zDir);
    sqlite3_free(zCmd);
  }
  char *zPath = sqlite3_mprintf("%s/%s", zDir, zName);
  tdb_remove_db(zPath);
  return zPath;
}

void tdb_remove_db(const char *zPath) {
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  for (int i = 0; i < 4; i++) {
    char *z = sqlite3_mprintf("%s%s", zPath, suffixes[i]);
    unlink(z);
    sqlite3_free(z);
  }
}

char *tdb_read_file(const char *zPath, long *pn) {
  FILE *f = fopen(zPath, "rb");
  if (f == 0) fail_msg("cannot open %s", zPath);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *z = malloc((size_t)n + 1);
  if (fread(z, 1, (size_t)n, f) != (size_t)n) fail_msg("cannot read %s", zPath);
  z[n] = 0;
  fclose(f);
  if (pn) *pn = n;
  return z;
}

void tdb_exec(sqlite3 *db, const char *zFormat, ...) {
  va_list ap;
  va_start(ap, zFormat);
  char *zSql = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  char *zErr = 0;
  if (sqlite3_exec(db, zSql, 0, 0, &zErr) != SQLITE_OK) {
    fail_msg("%s\n  -> %s", zSql, zErr ? zErr : "?");
  }
  sqlite3_free(zSql);
}

void tdb_expect_error(sqlite3 *db, const char *zNeedle, const char *zFormat, ...) {
  va_list ap;
  va_start(ap, zFormat);
  char *zSql = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  char *zErr = 0;
  int rc = sqlite3_exec(db, zSql, 0, 0, &zErr);
  if (rc == SQLITE_OK) fail_msg("expected an error containing '%s' from:\n  %s", zNeedle, zSql);
  if (zErr == 0 || strstr(zErr, zNeedle) == 0) {
    fail_msg("%s\n  -> '%s', expected it to contain '%s'", zSql, zErr ? zErr : "?", zNeedle);
  }
  sqlite3_free(zErr);
  sqlite3_free(zSql);
}

sqlite3_stmt *tdb_prepare(sqlite3 *db, const char *zFormat, ...) {
  va_list ap;
  va_start(ap, zFormat);
  char *zSql = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  sqlite3_stmt *pStmt = 0;
  if (sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0) != SQLITE_OK) {
    fail_msg("prepare %s\n  -> %s", zSql, sqlite3_errmsg(db));
  }
  sqlite3_free(zSql);
  return pStmt;
}

static sqlite3_stmt *first_row(sqlite3 *db, const char *zFormat, va_list ap) {
  char *zSql = sqlite3_vmprintf(zFormat, ap);
  sqlite3_stmt *pStmt = 0;
  if (sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0) != SQLITE_OK) {
    fail_msg("prepare %s\n  -> %s", zSql, sqlite3_errmsg(db));
  }
  int rc = sqlite3_step(pStmt);
  if (rc != SQLITE_ROW) fail_msg("%s\n  -> no row (%s)", zSql, sqlite3_errmsg(db));
  sqlite3_free(zSql);
  return pStmt;
}

sqlite3_int64 tdb_int(sqlite3 *db, const char *zFormat, ...) {
  va_list ap;
  va_start(ap, zFormat);
  sqlite3_stmt *pStmt = first_row(db, zFormat, ap);
  va_end(ap);
  sqlite3_int64 v = sqlite3_column_int64(pStmt, 0);
  sqlite3_finalize(pStmt);
  return v;
}

double tdb_double(sqlite3 *db, const char *zFormat, ...) {
  va_list ap;
  va_start(ap, zFormat);
  sqlite3_stmt *pStmt = first_row(db, zFormat, ap);
  va_end(ap);
  double v = sqlite3_column_double(pStmt, 0);
  sqlite3_finalize(pStmt);
  return v;
}

char *tdb_text(sqlite3 *db, const char *zFormat, ...) {
  va_list ap;
  va_start(ap, zFormat);
  sqlite3_stmt *pStmt = first_row(db, zFormat, ap);
  va_end(ap);
  const char *z = (const char *)sqlite3_column_text(pStmt, 0);
  char *zOut = sqlite3_mprintf("%s", z ? z : "(null)");
  sqlite3_finalize(pStmt);
  return zOut;
}

void tdb_expect_text(sqlite3 *db, const char *zWant, const char *zFormat, ...) {
  va_list ap;
  va_start(ap, zFormat);
  char *zSql = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  char *zGot = tdb_text(db, "%s", zSql);
  if (strcmp(zGot, zWant) != 0) fail_msg("%s\n  got  %s\n  want %s", zSql, zGot, zWant);
  sqlite3_free(zGot);
  sqlite3_free(zSql);
}

int tdb_collect(sqlite3_stmt *pStmt, sqlite3_int64 *aId, double *aDist, int nMax) {
  int n = 0, rc;
  while ((rc = sqlite3_step(pStmt)) == SQLITE_ROW) {
    if (n >= nMax) fail_msg("more than %d rows", nMax);
    aId[n] = sqlite3_column_int64(pStmt, 0);
    if (aDist) aDist[n] = sqlite3_column_double(pStmt, 1);
    n++;
  }
  if (rc != SQLITE_DONE) {
    fail_msg("%s\n  -> %s", sqlite3_sql(pStmt), sqlite3_errmsg(sqlite3_db_handle(pStmt)));
  }
  sqlite3_reset(pStmt);
  return n;
}

uint64_t tdb_rand(uint64_t *pState) {
  uint64_t x = *pState;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *pState = x;
  return x;
}

double tdb_uniform(uint64_t *pState) {
  return (double)(tdb_rand(pState) >> 11) / 9007199254740992.0;
}

void tdb_expect_schema_file(sqlite3 *db, const char *zFile, const char *zObject) {
  const char *zDocs = getenv("VG_DOCS");
  if (zDocs == 0) fail_msg("VG_DOCS is not set (run the tests with make test)");
  char *zPath = sqlite3_mprintf("%s/../sql/%s", zDocs, zFile);
  long n = 0;
  char *zSql = tdb_read_file(zPath, &n);
  sqlite3 *db2 = tdb_open(":memory:");
  tdb_exec(db2, "%s", zSql);
  const char *zSchema = "SELECT group_concat(type || ' ' || name || ': ' || sql, char(10)) FROM "
                        "(SELECT * FROM sqlite_schema ORDER BY name)";
  char *z1 = tdb_text(db, "%s", zSchema), *z2 = tdb_text(db2, "%s", zSchema);
  assert_string_equal(z1, z2);
  if (strstr(z1, zObject) == 0) fail_msg("sql/%s makes no %s", zFile, zObject);
  sqlite3_free(z1);
  sqlite3_free(z2);
  free(zSql);
  sqlite3_free(zPath);
  tdb_close(db2);
}

void tdb_expect_index_ok(sqlite3 *db, const char *zTable) {
  char *z = tdb_text(db, "SELECT vg_hnsw_check(%Q)", zTable);
  if (strstr(z, "\"ok\":true") == 0) fail_msg("vg_hnsw_check('%s'): %s", zTable, z);
  sqlite3_free(z);
}

const char *tdb_pick(uint64_t *pState, const char *const *a, int n) { return a[tdb_rand(pState) % (uint64_t)n]; }
