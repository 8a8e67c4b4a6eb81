/*
** testdb.h — helpers for the SQL-level tests: open a connection with the
** built extension loaded, run statements, and check results and errors.
**
** Every helper fails the current cmocka test (with the statement and the
** SQLite message) instead of returning an error.
*/
#ifndef VG_TESTDB_H
#define VG_TESTDB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>

/* Open path (":memory:" or a file) and load $VG_EXTENSION into it. */
sqlite3 *tdb_open(const char *zPath);
void tdb_close(sqlite3 *db);

/* An in-memory database with the pipeline's usual table, notes
** (embedding float[16], tenant_id partition key, content_type, content_id,
** chunk_index, +content), the model hash:16 configured for it and a PII
** key of zeros. */
sqlite3 *tdb_open_notes(void);

/* A fresh file name in a per-process temporary directory (removed first,
** with its -wal and -journal companions).  From sqlite3_mprintf(). */
char *tdb_temp_path(const char *zName);
void tdb_remove_db(const char *zPath);

/* The whole of a file, NUL-terminated, from malloc(); its size in *pn. */
char *tdb_read_file(const char *zPath, long *pn);

/* printf-style statement(s) that must succeed. */
void tdb_exec(sqlite3 *db, const char *zFormat, ...);

/* A statement that must fail with a message containing zNeedle. */
void tdb_expect_error(sqlite3 *db, const char *zNeedle, const char *zFormat, ...);

/* A printf-style query whose first column of the first row must be zWant. */
void tdb_expect_text(sqlite3 *db, const char *zWant, const char *zFormat, ...);

/* The first column of the first row, which must exist. */
sqlite3_int64 tdb_int(sqlite3 *db, const char *zFormat, ...);
double tdb_double(sqlite3 *db, const char *zFormat, ...);
char *tdb_text(sqlite3 *db, const char *zFormat, ...); /* sqlite3_free it */

/* The schema of db (its sqlite_schema, every row) must be what running
** sql/<zFile> (beside docs/, found from $VG_DOCS) on a fresh database makes,
** and must hold zObject ("table vg_queue", say). */
void tdb_expect_schema_file(sqlite3 *db, const char *zFile, const char *zObject);

/* vg_hnsw_check(zTable) must report a clean index. */
void tdb_expect_index_ok(sqlite3 *db, const char *zTable);

/* Prepare, failing the test on error. */
sqlite3_stmt *tdb_prepare(sqlite3 *db, const char *zFormat, ...);

/* Step a prepared query to the end, collecting column 0 as integers and
** (when aDist is not 0) column 1 as doubles.  Returns the row count. */
int tdb_collect(sqlite3_stmt *pStmt, sqlite3_int64 *aId, double *aDist, int nMax);

/* Deterministic random numbers for tests (xorshift). */
uint64_t tdb_rand(uint64_t *pState);
/* One of the n strings of a, drawn with tdb_rand. */
const char *tdb_pick(uint64_t *pState, const char *const *a, int n);
double tdb_uniform(uint64_t *pState); /* in [0, 1) */

#endif
