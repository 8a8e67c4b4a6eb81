/*
** txn.c — a transaction around an SQL function's reads and writes: all or
** none of the writes, and no other process writing between the reads and
** the writes (base.h, txn section).  The layers above use it alike; what one
** of them must do first in a transaction of its own comes as xBegun, so
** that this file knows nothing of their tables.
*/
#include "base/base.h"

/* Is a statement that writes running (the function was called from one, or
** from its trigger)?  Then SQLite allows neither BEGIN nor SAVEPOINT. */
static int writer_running(sqlite3 *db) {
  for (sqlite3_stmt *p = sqlite3_next_stmt(db, 0); p; p = sqlite3_next_stmt(db, p)) {
    if (sqlite3_stmt_busy(p) && !sqlite3_stmt_readonly(p)) return 1;
  }
  return 0;
}

/* Outside a transaction it is BEGIN IMMEDIATE (take the write lock first:
** a read transaction that later upgrades can fail with SQLITE_BUSY_SNAPSHOT
** where waiting cannot help).  Inside one, a savepoint; inside a statement
** that writes (an INSERT whose trigger calls the function) SQLite allows
** none, and that statement's own rollback covers the writes.  The
** savepoint keeps the name it had when this lived in the queue. */
int vg_txn_begin(sqlite3 *db, int (*xBegun)(sqlite3 *), VgTxn *pMode) {
  *pMode = VG_TXN_NONE;
  if (writer_running(db)) return SQLITE_OK;
  if (sqlite3_get_autocommit(db)) {
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0);
    if (rc != SQLITE_OK) return rc;
    *pMode = VG_TXN_BEGIN;
    /* First thing in a transaction of our own: whatever an earlier one
    ** left behind has committed. */
    if (xBegun && (rc = xBegun(db)) != SQLITE_OK) {
      sqlite3_exec(db, "ROLLBACK", 0, 0, 0);
      *pMode = VG_TXN_NONE;
    }
    return rc;
  }
  int rc = sqlite3_exec(db, "SAVEPOINT vg_queue", 0, 0, 0);
  if (rc == SQLITE_OK) *pMode = VG_TXN_SAVEPOINT;
  return rc;
}

int vg_txn_end(sqlite3 *db, VgTxn mode, int rc) {
  if (mode == VG_TXN_BEGIN) {
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", 0, 0, 0);
    if (rc != SQLITE_OK) sqlite3_exec(db, "ROLLBACK", 0, 0, 0);
    return rc;
  }
  if (mode == VG_TXN_SAVEPOINT) {
    if (rc != SQLITE_OK) sqlite3_exec(db, "ROLLBACK TO vg_queue", 0, 0, 0);
    int rc2 = sqlite3_exec(db, "RELEASE vg_queue", 0, 0, 0);
    return rc == SQLITE_OK ? rc2 : rc;
  }
  return rc;
}

int vg_txn_call(sqlite3_context *ctx, const char *zFunc, int (*xBegun)(sqlite3 *),
                int (*xWork)(sqlite3 *, void *, char **), void *pArg) {
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  VgTxn mode;
  int rc = vg_txn_begin(db, xBegun, &mode);
  if (rc != SQLITE_OK) {
    vg_result_db_error(ctx, zFunc, db, rc);
    return 0;
  }
  char *zErr = 0;
  rc = xWork(db, pArg, &zErr);
  if (rc != SQLITE_OK) {
    /* Reported before the rollback, which clears the database's message. */
    vg_result_failure(ctx, zFunc, db, rc, zErr);
    vg_txn_end(db, mode, rc);
    return 0;
  }
  sqlite3_free(zErr);
  rc = vg_txn_end(db, mode, SQLITE_OK);
  if (rc != SQLITE_OK) vg_result_db_error(ctx, zFunc, db, rc);
  return rc == SQLITE_OK;
}
