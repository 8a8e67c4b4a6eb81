/*
** queue_sql.c — the embedding queue in SQL: the vg_queue table and the
** functions that move its items (see pipeline.h, queue section for the rules, docs/queue.md
** for the reference).
**
**   vg_queue_init()                              create the tables (also done on first use)
**   vg_enqueue(table, tenant, type, id, content [, metadata [, priority]])
**   vg_queue_claim(worker, n [, lease_seconds])  JSON array of the items claimed
**   vg_queue_complete(id, embedding [, worker])  store the vector, mark done
**   vg_queue_fail(id, error [, worker])          retry later, or dead
**   vg_queue_stats([tenant])                     JSON counts
**   vg_queue_clock([seconds])                    fix "now" on this connection (tests)
**
** Several processes can work on one queue at once.  Claiming is one SQL
** statement (a statement that writes holds the database's write lock from
** its first step to its end); enqueueing writes the item and its text,
** completing and failing read the item and write, each under one
** transaction (vg_txn_begin).  Items' texts live in vg_queue_text and are
** erased for real when no longer needed (see zSchema).
*/
#include "base/base.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/pipeline.h"
#include "embed/embed.h"
#include "vector/vector.h"

double vg_queue_now(const QueueConn *q) {
  if (q->bClock) return q->rClock;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The texts of open items live in vg_queue_text, apart from vg_queue, so
** that they can be erased for real (docs/storage.md).  A row of vg_queue
** changes size with every claim and failure, and SQLite then moves it,
** leaving the old bytes in free space; a row of vg_queue_text is written
** once, overwritten once, deleted.  It holds the text after a zero pad as
** long as the most a page keeps of a record (page size - 35), so the text
** sits wholly on overflow pages, which SQLite never moves (store.c does the
** same with slots).  Erasing overwrites the text with as many zero bytes
** (taking the length of the bytes: length() of a TEXT stops at a NUL),
** which SQLite does in place for a record of the same size (a TEXT of n
** bytes and a zeroblob(n) take the same header bytes).
**
** The zeroed row stays, a tombstone, until a later transaction deletes it
** (vg_txn_begin).  Deleted at once, its overflow pages would be freed in
** the transaction that zeroed them, and SQLite does not write back a page
** freed in the transaction that changed it (with secure_delete off and no
** savepoint open: a DELETE in autocommit): the file would keep the text.
** A row's tombstone and the text given to its item afresh may meet in one
** transaction, so rows have ids of their own, and the item's text is its
** one row that is still TEXT (the unique index vg_queue_text_item).
**
** Plain-SQL triggers do the erasing, so that it happens however an item
** goes: deleted by hand, from a connection without the extension, or by
** vg_watch's triggers; done (its table holds the text now, encrypted); or
** given a new text or id. */
#define TEXT_PAD "zeroblob((SELECT page_size FROM pragma_page_size) - 35)"
#define ERASE_TEXT                                                                                 \
  "  UPDATE vg_queue_text SET content = zeroblob(length(CAST(content AS BLOB)))\n"                 \
  "    WHERE item_id = OLD.id AND typeof(content) = 'text';\n"
#define TEXT_TABLE                                                                                 \
  "CREATE TABLE IF NOT EXISTS main.vg_queue_text(\n"                                               \
  "  id INTEGER PRIMARY KEY,\n"                                                                    \
  "  item_id INTEGER NOT NULL,\n"                                                                  \
  "  pad BLOB NOT NULL,\n"                                                                         \
  "  content TEXT NOT NULL\n"                                                                      \
  ");\n"                                                                                           \
  "CREATE UNIQUE INDEX IF NOT EXISTS main.vg_queue_text_item ON vg_queue_text(item_id)\n"          \
  "  WHERE typeof(content) = 'text';\n"                                                            \
  "CREATE INDEX IF NOT EXISTS main.vg_queue_text_erased ON vg_queue_text(id)\n"                    \
  "  WHERE typeof(content) = 'blob';\n"
/* An item's text, for item expression ITEM. */
#define ITEM_TEXT(ITEM) \
  "(SELECT t.content FROM main.vg_queue_text AS t WHERE t.item_id = " ITEM " AND typeof(t.content) = 'text')"

static const char zSchema[] =
    "CREATE TABLE IF NOT EXISTS main.vg_queue(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  tenant_id TEXT NOT NULL,\n"
    "  target_table TEXT NOT NULL,\n"
    "  content_type TEXT NOT NULL,\n"
    "  content_id TEXT NOT NULL,\n"
    "  content_hash BLOB NOT NULL,\n"
    "  metadata TEXT CHECK (metadata IS NULL OR json_type(metadata) = 'object'),\n"
    "  priority TEXT NOT NULL CHECK (priority IN ('high', 'medium', 'low')),\n"
    "  status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'done', 'failed', 'dead')),\n"
    "  queued_at REAL NOT NULL,\n"
    "  scheduled_for REAL NOT NULL,\n"
    "  lease_until REAL,\n"
    "  worker_id TEXT,\n"
    "  attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  max_attempts INTEGER NOT NULL,\n"
    "  last_error TEXT,\n"
    "  UNIQUE (tenant_id, content_type, content_id)\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS main.vg_queue_due ON vg_queue(\n"
    "  (CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END), queued_at)\n"
    "  WHERE status IN ('pending', 'failed');\n"
    "CREATE INDEX IF NOT EXISTS main.vg_queue_leases ON vg_queue(status, lease_until);\n"
    TEXT_TABLE
    "CREATE TRIGGER IF NOT EXISTS main.vg_queue_erase_deleted AFTER DELETE ON vg_queue BEGIN\n"
    ERASE_TEXT
    "END;\n"
    "CREATE TRIGGER IF NOT EXISTS main.vg_queue_erase_finished AFTER UPDATE OF id, status, content_hash ON vg_queue\n"
    "  WHEN NEW.status = 'done' OR NEW.content_hash IS NOT OLD.content_hash OR NEW.id IS NOT OLD.id BEGIN\n"
    ERASE_TEXT
    "END;\n"
    "CREATE VIEW IF NOT EXISTS main.vg_queue_items AS SELECT q.*, t.content FROM vg_queue AS q\n"
    "  LEFT JOIN vg_queue_text AS t ON t.item_id = q.id AND typeof(t.content) = 'text';\n"
    "CREATE TABLE IF NOT EXISTS main.vg_queue_vectors(\n"
    "  item_id INTEGER NOT NULL,\n"
    "  chunk_index INTEGER NOT NULL,\n"
    "  target_table TEXT NOT NULL,\n"
    "  target_rowid INTEGER NOT NULL,\n"
    "  PRIMARY KEY (item_id, chunk_index)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS main.vg_table_config(\n"
    "  target_table TEXT PRIMARY KEY,\n"
    "  model TEXT,\n"
    "  redact TEXT CHECK (redact IS NULL OR json_type(redact) = 'object'),\n"
    "  chunk_tokens INTEGER CHECK (chunk_tokens IS NULL OR chunk_tokens >= 1),\n"
    "  chunk_overlap INTEGER CHECK (chunk_overlap IS NULL OR chunk_overlap >= 0)\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS main.vg_watches(\n"
    "  source_table TEXT PRIMARY KEY,\n"
    "  target_table TEXT NOT NULL,\n"
    "  options TEXT NOT NULL\n"
    ");\n";

/* A queue made before vg_queue_text kept each item's text in vg_queue
** itself.  vg_queue_init() moves the texts of items that still need them
** and drops the column, keeping every item and its id (vg_queue_vectors
** refers to them).  The old copies stay in the file's free space, which
** only a VACUUM, outside any transaction, clears: so the upgrade is asked
** for, not done behind the caller's back, and the message says so. */
static const char zUpgrade[] =
    TEXT_TABLE
    "INSERT INTO main.vg_queue_text(item_id, pad, content) SELECT id, " TEXT_PAD ", content FROM main.vg_queue"
    " WHERE status <> 'done';\n"
    "ALTER TABLE main.vg_queue DROP COLUMN content;\n";

static const char zOldQueue[] =
    "the queue was made by an earlier version of vecguard, which kept the items' texts in vg_queue, where they "
    "cannot be erased; run SELECT vg_queue_init() once to move them to vg_queue_text, then VACUUM to clear the "
    "copies left in free space (docs/queue.md)";

/* ---- helpers ------------------------------------------------------------ */

void vg_result_db_error(sqlite3_context *ctx, const char *zFunc, sqlite3 *db, int rc) {
  if (rc == SQLITE_NOMEM) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (sqlite3_extended_errcode(db) == SQLITE_BUSY_SNAPSHOT) {
    /* The calling statement holds a read transaction that cannot become a
    ** write one: another connection wrote since it began. */
    vg_result_errorf(ctx, zFunc,
                  "another connection wrote while this statement was reading; call %s in a statement "
                  "that reads no table (SELECT %s(...)) or inside BEGIN IMMEDIATE",
                  zFunc, zFunc);
    sqlite3_result_error_code(ctx, SQLITE_BUSY);
    return;
  }
  /* A rollback since the failure may have cleared the connection's message:
  ** then SQLite's text for the code is the best there is. */
  vg_result_error(ctx, rc, zFunc, sqlite3_errcode(db) == SQLITE_OK ? sqlite3_errstr(rc) : sqlite3_errmsg(db));
  sqlite3_result_error_code(ctx, rc);
}

/* Is a statement that writes running (the function was called from one, or
** from its trigger)?  Then SQLite allows neither BEGIN nor SAVEPOINT. */
static int writer_running(sqlite3 *db) {
  for (sqlite3_stmt *p = sqlite3_next_stmt(db, 0); p; p = sqlite3_next_stmt(db, p)) {
    if (sqlite3_stmt_busy(p) && !sqlite3_stmt_readonly(p)) return 1;
  }
  return 0;
}

/* A transaction around a function's reads and writes: all or none of the
** writes, and no other process writing between the reads and the writes.
** Outside a transaction it is BEGIN IMMEDIATE (take the write lock first:
** a read transaction that later upgrades can fail with SQLITE_BUSY_SNAPSHOT
** where waiting cannot help).  Inside one, a savepoint; inside a statement
** that writes (an INSERT whose trigger calls the function) SQLite allows
** none, and that statement's own rollback covers the writes. */
int vg_txn_begin(sqlite3 *db, VgTxn *pMode) {
  *pMode = VG_TXN_NONE;
  if (writer_running(db)) return SQLITE_OK;
  if (sqlite3_get_autocommit(db)) {
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0);
    if (rc != SQLITE_OK) return rc;
    *pMode = VG_TXN_BEGIN;
    /* The tombstones of erased texts (see zSchema) go here, first thing in
    ** a transaction of our own: each was zeroed by a transaction that has
    ** committed, so the file holds its zeros, and freeing its pages now
    ** leaves them there.  Inside a caller's transaction one may have been
    ** zeroed moments ago. */
    if (vg_has_table(db, "vg_queue_text", 0)) {
      rc = sqlite3_exec(db, "DELETE FROM main.vg_queue_text WHERE typeof(content) = 'blob'", 0, 0, 0);
      if (rc != SQLITE_OK) {
        sqlite3_exec(db, "ROLLBACK", 0, 0, 0);
        *pMode = VG_TXN_NONE;
      }
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

/* Run zSql, all or none of it, in a transaction of its own (vg_txn_begin). */
static int exec_atomic(sqlite3 *db, const char *zSql) {
  VgTxn mode;
  int rc = vg_txn_begin(db, &mode);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, zSql, 0, 0, 0);
  return vg_txn_end(db, mode, rc);
}

int vg_queue_ensure(sqlite3 *db, char **pzErr) {
  /* The schema is made all at once, so vg_queue_text stands for all of
  ** it; a database made by an older version gets the tables it lacks. */
  if (vg_has_table(db, "vg_queue_text", 0)) return SQLITE_OK;
  if (vg_has_table(db, "vg_queue", "content")) {
    *pzErr = sqlite3_mprintf("%s", zOldQueue);
    return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
  }
  return exec_atomic(db, zSchema);
}

void vg_result_failure(sqlite3_context *ctx, const char *zFunc, sqlite3 *db, int rc, char *zErr) {
  if (zErr) {
    vg_result_error(ctx, rc, zFunc, zErr);
  } else {
    vg_result_db_error(ctx, zFunc, db, rc);
  }
  sqlite3_free(zErr);
}

int vg_txn_call(sqlite3_context *ctx, const char *zFunc, int (*xWork)(sqlite3 *, void *, char **), void *pArg) {
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  VgTxn mode;
  int rc = vg_txn_begin(db, &mode);
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

int vg_queue_held(sqlite3 *db, sqlite3_int64 id, const char *zWorker, int nAttempts, int *pbHeld) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT 1 FROM main.vg_queue WHERE id = ? AND status = 'processing' AND worker_id = ?"
                              " AND attempts = ?",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(p, 1, id);
  sqlite3_bind_text(p, 2, zWorker, -1, SQLITE_STATIC);
  sqlite3_bind_int(p, 3, nAttempts);
  *pbHeld = sqlite3_step(p) == SQLITE_ROW;
  return sqlite3_finalize(p);
}

int vg_target_def(sqlite3 *db, const char *zTable, VgTableDef **ppDef, char **pzErr) {
  *ppDef = 0;
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = ?",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zTable, -1, SQLITE_STATIC);
  if (sqlite3_step(p) != SQLITE_ROW) {
    *pzErr = sqlite3_mprintf("no table named \"%s\"", zTable);
    rc = SQLITE_ERROR;
  } else {
    const char *zSql = (const char *)sqlite3_column_text(p, 0);
    char *zErr = 0;
    rc = zSql ? vg_tabledef_parse_sql(zSql, ppDef, &zErr) : SQLITE_MISMATCH;
    if (rc == SQLITE_MISMATCH) {
      *pzErr = sqlite3_mprintf("\"%s\" is not a vg_hnsw table", zTable);
      rc = SQLITE_ERROR;
    } else if (rc != SQLITE_OK && zErr) {
      *pzErr = sqlite3_mprintf("table \"%s\": %s", zTable, zErr);
    }
    sqlite3_free(zErr);
  }
  sqlite3_finalize(p);
  return rc;
}

/* ---- vg_queue_init, vg_queue_clock ---------------------------------------- */

/* Make the schema, or upgrade a queue an earlier version made. */
static int init_work(sqlite3 *db, void *pArg, char **pzErr) {
  (void)pArg;
  if (!vg_has_table(db, "vg_queue_text", 0) && vg_has_table(db, "vg_queue", "content")) {
    /* Then the rest of the schema, in the same transaction: vg_queue_text
    ** stands for all of it (vg_queue_ensure). */
    int rc = sqlite3_exec(db, zUpgrade, 0, 0, 0);
    return rc == SQLITE_OK ? sqlite3_exec(db, zSchema, 0, 0, 0) : rc;
  }
  return vg_queue_ensure(db, pzErr);
}

static void fn_queue_init(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  /* Made already: no need to take the write lock (the file may be read-only). */
  if (vg_has_table(sqlite3_context_db_handle(ctx), "vg_queue_text", 0) ||
      vg_txn_call(ctx, "vg_queue_init", init_work, 0)) {
    sqlite3_result_int(ctx, 1);
  }
}

/* vg_queue_clock(seconds) fixes "now" for this connection's queue functions;
** vg_queue_clock(NULL) returns to the real clock; either returns "now". */
static void fn_queue_clock(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  QueueConn *q = sqlite3_user_data(ctx);
  if (argc == 1) {
    int eType = sqlite3_value_type(argv[0]);
    if (eType == SQLITE_NULL) {
      q->bClock = 0;
    } else if (eType == SQLITE_INTEGER || eType == SQLITE_FLOAT) {
      q->bClock = 1;
      q->rClock = sqlite3_value_double(argv[0]);
    } else {
      vg_result_errorf(ctx, "vg_queue_clock", "the time must be a number of seconds since 1970, or NULL");
      return;
    }
  }
  sqlite3_result_double(ctx, vg_queue_now(q));
}

/* ---- vg_enqueue --------------------------------------------------------- */

/* A new item, or an existing one started over when its content, metadata
** or target changed, or it was dead, or it is open without a text (a done
** item set back by hand); else left alone.  RETURNING gives its id only
** when it was written: then it needs its text (a changed text was erased by
** the trigger vg_queue_erase_finished, a done item's long ago). */
static const char zUpsert[] =
    "INSERT INTO main.vg_queue(tenant_id, target_table, content_type, content_id,"
    " content_hash, metadata, priority, status, queued_at, scheduled_for, attempts, max_attempts)"
    " VALUES (?1, ?2, ?3, ?4, ?6, ?7, ?8, 'pending', ?9, ?9, 0, ?10)"
    " ON CONFLICT (tenant_id, content_type, content_id) DO UPDATE SET"
    " target_table = excluded.target_table,"
    " content_hash = excluded.content_hash, metadata = excluded.metadata,"
    " priority = excluded.priority, status = 'pending', queued_at = excluded.queued_at,"
    " scheduled_for = excluded.scheduled_for, lease_until = NULL, worker_id = NULL, attempts = 0,"
    " last_error = NULL"
    " WHERE status = 'dead' OR content_hash IS NOT excluded.content_hash"
    " OR metadata IS NOT excluded.metadata OR target_table IS NOT excluded.target_table"
    " OR (status <> 'done' AND " ITEM_TEXT("vg_queue.id") " IS NULL)"
    " RETURNING id";

/* The text of an item started over.  A pending or dead item that kept its
** text (only its metadata or target changed) has this very text already. */
static const char zPutText[] =
    "INSERT INTO main.vg_queue_text(item_id, pad, content) VALUES (?1, " TEXT_PAD ", ?2)"
    " ON CONFLICT DO NOTHING";

int vg_item_args(sqlite3_context *ctx, const char *zFunc, const char *zText, int argc,
                 sqlite3_value **argv, VgNewItem *pNew) {
  static const char *const azName[] = {"the target table", "tenant_id", "content_type"};
  const char **apz[] = {&pNew->zTable, &pNew->zTenant, &pNew->zType};
  memset(pNew, 0, sizeof(*pNew));
  for (int i = 0; i < 3; i++) {
    *apz[i] = vg_text_arg(ctx, zFunc, argv[i], azName[i], i != 1 ? VG_TEXT_NONEMPTY : VG_TEXT_NAME, 0);
    if (*apz[i] == 0) return 0;
  }
  int eId = sqlite3_value_type(argv[3]);
  if (eId != SQLITE_TEXT && eId != SQLITE_INTEGER) {
    vg_result_errorf(ctx, zFunc, "content_id must be text or an integer");
    return 0;
  }
  pNew->zContentId = eId == SQLITE_INTEGER ? (const char *)sqlite3_value_text(argv[3])
                                           : vg_text_arg(ctx, zFunc, argv[3], "content_id", VG_TEXT_NAME, 0);
  if (pNew->zContentId == 0) {
    if (eId == SQLITE_INTEGER) sqlite3_result_error_nomem(ctx);
    return 0;
  }
  if (sqlite3_value_type(argv[4]) == SQLITE_NULL) {
    vg_result_errorf(ctx, zFunc, "%s is NULL", zText);
    return 0;
  }
  int n = 0;
  pNew->zContent = vg_text_arg(ctx, zFunc, argv[4], zText, VG_TEXT_BODY | VG_TEXT_NONEMPTY, &n);
  if (pNew->zContent == 0) return 0;
  if (n > VG_QUEUE_MAX_CONTENT) {
    vg_result_errorf(ctx, zFunc, "%s is %d bytes; the limit is %d", zText, n, VG_QUEUE_MAX_CONTENT);
    return 0;
  }
  pNew->nContent = n;
  if (argc > 5 && sqlite3_value_type(argv[5]) != SQLITE_NULL) {
    pNew->zMetadata = vg_text_arg(ctx, zFunc, argv[5], "metadata", VG_TEXT_JSON, 0);
    if (pNew->zMetadata == 0) return 0;
  }
  pNew->priority = VG_PRIORITY_MEDIUM;
  if (argc > 6 && sqlite3_value_type(argv[6]) != SQLITE_NULL) {
    const char *zP = vg_text_arg(ctx, zFunc, argv[6], "the priority", VG_TEXT_NAME, 0);
    if (zP == 0) return 0;
    pNew->priority = vg_priority_parse(zP);
    if (pNew->priority < 0) {
      vg_result_errorf(ctx, zFunc, "unknown priority \"%s\" (high, medium or low)", zP);
      return 0;
    }
  }
  return 1;
}

/* Is z a JSON object?  (SQLite's json_type says.) */
static int json_object_ok(sqlite3 *db, const char *z, int *pbOk) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT CASE WHEN json_valid(?1) THEN json_type(?1) = 'object' END", -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, z, -1, SQLITE_STATIC);
  *pbOk = sqlite3_step(p) == SQLITE_ROW && sqlite3_column_int(p, 0);
  return sqlite3_finalize(p);
}

/* The partition key decides where the tenant's vectors go: a table without
** one takes only tenant ''. */
char *vg_tenant_refused(const VgTableDef *pDef, const char *zTable, const char *zTenant) {
  if (pDef->iPartition < 0 && zTenant[0]) {
    return sqlite3_mprintf("table \"%s\" has no partition key to keep tenant \"%s\" apart (give tenant_id '' "
                           "or add a partition key column)",
                           zTable, zTenant);
  }
  if (pDef->iPartition >= 0 && !zTenant[0]) {
    return sqlite3_mprintf("table \"%s\" is partitioned by tenant: tenant_id must not be empty", zTable);
  }
  return 0;
}

int vg_item_check(sqlite3 *db, const VgNewItem *pNew, const VgTableDef *pDef, char **pzErr) {
  if ((*pzErr = vg_tenant_refused(pDef, pNew->zTable, pNew->zTenant)) != 0) return SQLITE_ERROR;
  int bObject = 1;
  int rc = pNew->zMetadata ? json_object_ok(db, pNew->zMetadata, &bObject) : SQLITE_OK;
  if (rc == SQLITE_OK && !bObject) {
    *pzErr = sqlite3_mprintf("metadata must be a JSON object, not %s", pNew->zMetadata);
    rc = SQLITE_ERROR;
  }
  return rc;
}

int vg_queue_put(sqlite3 *db, const QueueConn *q, const VgNewItem *pNew, sqlite3_int64 *pId, char **pzErr) {
  unsigned char aHash[32];
  crypto_generichash(aHash, sizeof aHash, (const unsigned char *)pNew->zContent,
                     (unsigned long long)pNew->nContent, 0, 0);
  int rc = vg_queue_ensure(db, pzErr);
  sqlite3_stmt *p = 0;
  int bWritten = 0;
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, zUpsert, -1, &p, 0);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(p, 1, pNew->zTenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 2, pNew->zTable, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 3, pNew->zType, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 4, pNew->zContentId, -1, SQLITE_STATIC);
    sqlite3_bind_blob(p, 6, aHash, sizeof aHash, SQLITE_STATIC);
    if (pNew->zMetadata) sqlite3_bind_text(p, 7, pNew->zMetadata, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 8, vg_priority_name(pNew->priority), -1, SQLITE_STATIC);
    sqlite3_bind_double(p, 9, vg_queue_now(q));
    sqlite3_bind_int(p, 10, VG_QUEUE_MAX_ATTEMPTS);
    if (sqlite3_step(p) == SQLITE_ROW) {
      *pId = sqlite3_column_int64(p, 0);
      bWritten = 1;
      sqlite3_step(p);
    }
    rc = sqlite3_finalize(p);
  }
  if (rc == SQLITE_OK && bWritten) {
    rc = sqlite3_prepare_v2(db, zPutText, -1, &p, 0);
    if (rc == SQLITE_OK) {
      sqlite3_bind_int64(p, 1, *pId);
      sqlite3_bind_text(p, 2, pNew->zContent, pNew->nContent, SQLITE_STATIC);
      sqlite3_step(p);
      rc = sqlite3_finalize(p);
    }
  } else if (rc == SQLITE_OK) {
    /* Left alone: only its id is wanted. */
    rc = sqlite3_prepare_v2(db, "SELECT id FROM main.vg_queue WHERE tenant_id = ? AND content_type = ? "
                                "AND content_id = ?", -1, &p, 0);
    if (rc == SQLITE_OK) {
      sqlite3_bind_text(p, 1, pNew->zTenant, -1, SQLITE_STATIC);
      sqlite3_bind_text(p, 2, pNew->zType, -1, SQLITE_STATIC);
      sqlite3_bind_text(p, 3, pNew->zContentId, -1, SQLITE_STATIC);
      if (sqlite3_step(p) == SQLITE_ROW) *pId = sqlite3_column_int64(p, 0);
      rc = sqlite3_finalize(p);
    }
  }
  return rc;
}

/* One vg_enqueue call. */
typedef struct Enqueue {
  const QueueConn *q;
  VgNewItem item;
  sqlite3_int64 id; /* the item's id, once enqueued */
} Enqueue;

/* Check the item against its table and put it in, inside the transaction
** of vg_txn_call: the item and its text are written together, and no other
** process claims the one without the other. */
static int enqueue_work(sqlite3 *db, void *pArg, char **pzErr) {
  Enqueue *x = pArg;
  VgTableDef *pDef = 0;
  int rc = vg_target_def(db, x->item.zTable, &pDef, pzErr);
  if (rc == SQLITE_OK) rc = vg_item_check(db, &x->item, pDef, pzErr);
  vg_tabledef_free(pDef);
  if (rc == SQLITE_OK) rc = vg_queue_put(db, x->q, &x->item, &x->id, pzErr);
  return rc;
}

static void fn_enqueue(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Enqueue x;
  memset(&x, 0, sizeof x);
  x.q = sqlite3_user_data(ctx);
  if (vg_item_args(ctx, "vg_enqueue", "the content", argc, argv, &x.item) &&
      vg_txn_call(ctx, "vg_enqueue", enqueue_work, &x)) {
    sqlite3_result_int64(ctx, x.id);
  }
}

/* ---- vg_queue_claim ----------------------------------------------------- */

/* One statement: take up to n due items, highest priority first, oldest
** first within a priority.  Pending and failed items are read in that
** order from vg_queue_due, expired leases from vg_queue_leases, so a claim
** reads about n rows however long the queue.  Each item comes back with
** its place in the order (RETURNING gives rows in no set order) and, for
** vg_queue_claim, its JSON. */
#define CLAIM_RANK "CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END"
#define CLAIM_UPDATE \
    "UPDATE main.vg_queue SET status = 'processing', worker_id = ?1, lease_until = ?2 + ?3," \
    " attempts = attempts + 1" \
    " WHERE id IN (SELECT id FROM (" \
    "  SELECT * FROM (SELECT id, " CLAIM_RANK " AS rank, queued_at FROM main.vg_queue INDEXED BY vg_queue_due" \
    "   WHERE status IN ('pending', 'failed') AND scheduled_for <= ?2 ORDER BY " CLAIM_RANK ", queued_at LIMIT ?4)" \
    "  UNION ALL" \
    "  SELECT * FROM (SELECT id, " CLAIM_RANK ", queued_at FROM main.vg_queue" \
    "   WHERE status = 'processing' AND lease_until <= ?2 AND attempts < max_attempts ORDER BY 2, 3, 1 LIMIT ?4))" \
    "  ORDER BY rank, queued_at, id LIMIT ?4)" \
    " RETURNING " CLAIM_RANK ", queued_at, id"
static const char zClaimIds[] = CLAIM_UPDATE;
static const char zClaimJson[] = CLAIM_UPDATE ","
    " json_object('id', id, 'tenant_id', tenant_id, 'target_table', target_table,"
    " 'content_type', content_type, 'content_id', content_id,"
    " 'content', " ITEM_TEXT("vg_queue.id") ","
    " 'metadata', json(metadata), 'priority', priority, 'attempts', attempts,"
    " 'lease_until', lease_until)";

/* Expired leases with no attempts left end the item: a worker died on it
** each time. */
static const char zBury[] =
    "UPDATE main.vg_queue SET status = 'dead', last_error = 'the lease ran out ' || attempts ||"
    " ' times (the worker stopped)', worker_id = NULL, lease_until = NULL"
    " WHERE status = 'processing' AND lease_until <= ?1 AND attempts >= max_attempts";

typedef struct Claimed {
  int rank;
  double queuedAt;
  sqlite3_int64 id;
  char *zJson;
} Claimed;

static int by_claim_order(const void *x, const void *y) {
  const Claimed *a = x, *b = y;
  if (a->rank != b->rank) return a->rank - b->rank;
  if (a->queuedAt != b->queuedAt) return a->queuedAt < b->queuedAt ? -1 : 1;
  return (a->id > b->id) - (a->id < b->id);
}

static void claimed_free(Claimed *a, int n) {
  for (int i = 0; i < n; i++) sqlite3_free(a[i].zJson);
  sqlite3_free(a);
}

/* Run the claim; the claimed items go to *paOut (sorted), with their JSON
** when bJson. */
static int run_claim(sqlite3 *db, const char *zWorker, double now, double lease, int n, int bJson, Claimed **paOut,
                     int *pnOut) {
  *paOut = 0;
  *pnOut = 0;
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db, zBury, -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_double(p, 1, now);
  sqlite3_step(p);
  if ((rc = sqlite3_finalize(p)) != SQLITE_OK) return rc;
  rc = sqlite3_prepare_v2(db, bJson ? zClaimJson : zClaimIds, -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zWorker, -1, SQLITE_STATIC);
  sqlite3_bind_double(p, 2, now);
  sqlite3_bind_double(p, 3, lease);
  sqlite3_bind_int(p, 4, n);
  Claimed *a = sqlite3_malloc64(sizeof(Claimed) * (size_t)(n > 0 ? n : 1));
  int m = 0;
  if (a == 0) rc = SQLITE_NOMEM;
  while (rc == SQLITE_OK && sqlite3_step(p) == SQLITE_ROW && m < n) {
    a[m].rank = sqlite3_column_int(p, 0);
    a[m].queuedAt = sqlite3_column_double(p, 1);
    a[m].id = sqlite3_column_int64(p, 2);
    a[m].zJson = bJson ? sqlite3_mprintf("%s", sqlite3_column_text(p, 3)) : 0;
    if (bJson && a[m].zJson == 0) rc = SQLITE_NOMEM;
    m++;
  }
  int rcFinal = sqlite3_finalize(p);
  if (rc == SQLITE_OK) rc = rcFinal;
  if (rc != SQLITE_OK) {
    claimed_free(a, m);
    return rc;
  }
  qsort(a, (size_t)m, sizeof(Claimed), by_claim_order);
  *paOut = a;
  *pnOut = m;
  return SQLITE_OK;
}

int vg_queue_claim_ids(sqlite3 *db, const char *zWorker, double now, double lease, int n,
                       sqlite3_int64 **paId, int *pnId) {
  Claimed *a = 0;
  int m = 0;
  *paId = 0;
  *pnId = 0;
  int rc = run_claim(db, zWorker, now, lease, n, 0, &a, &m);
  if (rc != SQLITE_OK) return rc;
  sqlite3_int64 *aId = sqlite3_malloc64(sizeof(sqlite3_int64) * (size_t)(m > 0 ? m : 1));
  if (aId == 0) rc = SQLITE_NOMEM;
  for (int i = 0; aId && i < m; i++) aId[i] = a[i].id;
  claimed_free(a, m);
  *paId = aId;
  *pnId = aId ? m : 0;
  return rc;
}

static int set_worker(QueueConn *q, const char *zWorker) {
  if (q->zWorker && strcmp(q->zWorker, zWorker) == 0) return SQLITE_OK;
  char *z = sqlite3_mprintf("%s", zWorker);
  if (z == 0) return SQLITE_NOMEM;
  sqlite3_free(q->zWorker);
  q->zWorker = z;
  return SQLITE_OK;
}

static void fn_queue_claim(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  QueueConn *q = sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *zWorker = vg_text_arg(ctx, "vg_queue_claim", argv[0], "worker_id", VG_TEXT_NONEMPTY, 0);
  if (zWorker == 0) return;
  sqlite3_int64 nWant;
  if (!vg_int_value(argv[1], &nWant) || nWant < 1 || nWant > 10000) {
    vg_result_errorf(ctx, "vg_queue_claim", "n must be a whole number from 1 to 10000");
    return;
  }
  double lease = VG_QUEUE_LEASE;
  if (argc > 2) {
    int eType = sqlite3_value_type(argv[2]);
    lease = sqlite3_value_double(argv[2]);
    if ((eType != SQLITE_INTEGER && eType != SQLITE_FLOAT) || !(lease > 0 && lease <= 86400 * 7)) {
      vg_result_errorf(ctx, "vg_queue_claim", "lease_seconds must be a number above 0 and at most 604800");
      return;
    }
  }
  char *zErr = 0;
  int rc = vg_queue_ensure(db, &zErr);
  if (rc == SQLITE_OK) rc = set_worker(q, zWorker);
  Claimed *a = 0;
  int n = 0;
  if (rc == SQLITE_OK) {
    rc = run_claim(db, zWorker, vg_queue_now(q), lease, (int)nWant, 1, &a, &n);
  }
  if (rc != SQLITE_OK) {
    vg_result_failure(ctx, "vg_queue_claim", db, rc, zErr);
    return;
  }
  sqlite3_str *out = sqlite3_str_new(db);
  sqlite3_str_appendchar(out, 1, '[');
  for (int i = 0; i < n; i++) sqlite3_str_appendf(out, "%s%s", i ? "," : "", a[i].zJson);
  sqlite3_str_appendchar(out, 1, ']');
  claimed_free(a, n);
  vg_result_str(ctx, out);
}

/* ---- finishing an item: vg_queue_complete, vg_queue_fail ------------------ */

/* An item as complete and fail read it. */
void vg_queue_item_clear(VgQueueItem *it) {
  sqlite3_free(it->zWorker);
  sqlite3_free(it->zTenant);
  sqlite3_free(it->zTable);
  sqlite3_free(it->zType);
  sqlite3_free(it->zContentId);
  sqlite3_free(it->zContent);
  sqlite3_free(it->zMetadata);
  memset(it, 0, sizeof(*it));
}

char *vg_column_dup(sqlite3_stmt *p, int i, int *pbOom) {
  const char *z = (const char *)sqlite3_column_text(p, i);
  if (z == 0) return 0;
  /* All the bytes: a text may hold NUL (VG_TEXT_BODY). */
  size_t n = (size_t)sqlite3_column_bytes(p, i);
  char *zCopy = sqlite3_malloc64(n + 1);
  if (zCopy == 0) {
    *pbOom = 1;
    return 0;
  }
  memcpy(zCopy, z, n + 1);
  return zCopy;
}

char *vg_queue_textless(sqlite3_int64 id) {
  return sqlite3_mprintf("item %lld has no text in vg_queue_text (a done item keeps none); enqueue its text again",
                         id);
}

int vg_queue_item_read(sqlite3 *db, sqlite3_int64 id, VgQueueItem *it) {
  memset(it, 0, sizeof(*it));
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT q.status, q.attempts, q.max_attempts, q.worker_id, q.tenant_id, q.target_table,"
                              " q.content_type, q.content_id, t.content, q.metadata FROM main.vg_queue AS q"
                              " LEFT JOIN main.vg_queue_text AS t ON t.item_id = q.id AND typeof(t.content) = 'text'"
                              " WHERE q.id = ?",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(p, 1, id);
  int step = sqlite3_step(p), bOom = 0;
  if (step == SQLITE_ROW) {
    it->id = id;
    it->st.status = vg_item_status_parse((const char *)sqlite3_column_text(p, 0));
    it->st.attempts = sqlite3_column_int(p, 1);
    it->st.maxAttempts = sqlite3_column_int(p, 2);
    char **apz[] = {&it->zWorker, &it->zTenant, &it->zTable, &it->zType,
                    &it->zContentId, &it->zContent, &it->zMetadata};
    for (int i = 0; i < 7; i++) *apz[i] = vg_column_dup(p, i + 3, &bOom);
    it->nContent = sqlite3_column_bytes(p, 8);
  }
  rc = sqlite3_finalize(p);
  if (rc == SQLITE_OK && bOom) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK && step != SQLITE_ROW) rc = SQLITE_NOTFOUND;
  if (rc != SQLITE_OK) vg_queue_item_clear(it);
  return rc;
}

/* One vg_queue_complete or vg_queue_fail call. */
typedef struct Finish {
  const QueueConn *q;
  sqlite3_int64 id;
  const char *zWorker; /* the caller's worker, or 0 when it has none */
  sqlite3_value *pArg; /* the embedding */
  const char *zError;  /* the error, or 0 */
  int status;          /* fail: the item's new status */
} Finish;

/* The arguments (id, embedding or error [, worker]); 0 with the error set
** when they are bad. */
static int finish_args(sqlite3_context *ctx, const char *zFunc, int argc, sqlite3_value **argv, Finish *f) {
  const QueueConn *q = sqlite3_user_data(ctx);
  if (!vg_int_value(argv[0], &f->id)) {
    vg_result_errorf(ctx, zFunc, "the item id must be an integer");
    return 0;
  }
  f->q = q;
  f->pArg = argv[1];
  f->zWorker = q->zWorker;
  return argc <= 2 || (f->zWorker = vg_text_arg(ctx, zFunc, argv[2], "worker_id", VG_TEXT_NONEMPTY, 0)) != 0;
}

/* Read the item and check that the caller may finish it: SQLITE_ERROR with
** *pzErr saying why not. */
static int item_for_finish(sqlite3 *db, const Finish *f, VgQueueItem *it, char **pzErr) {
  memset(it, 0, sizeof(*it));
  int rc = vg_queue_ensure(db, pzErr);
  if (rc == SQLITE_OK) rc = vg_queue_item_read(db, f->id, it);
  if (rc == SQLITE_NOTFOUND) {
    *pzErr = sqlite3_mprintf("no queue item %lld", f->id);
    return SQLITE_ERROR;
  }
  if (rc != SQLITE_OK) return rc;
  const char *zWhy = 0;
  if (f->zWorker == 0) {
    zWhy = "this connection has claimed nothing; give the worker_id";
    *pzErr = sqlite3_mprintf("item %lld: %s", f->id, zWhy);
  } else if ((zWhy = vg_queue_finish_refused(&it->st, it->zWorker && strcmp(it->zWorker, f->zWorker) == 0)) != 0) {
    *pzErr = sqlite3_mprintf("item %lld %s", f->id, zWhy);
  }
  if (zWhy == 0) return SQLITE_OK;
  vg_queue_item_clear(it);
  return SQLITE_ERROR;
}

/* INSERT of one vector row of item it into its table: the vector, the
** tenant in the partition key, and each other column from the item
** (content_type, content_id, chunk_index, content: the chunk's text) or
** else from the metadata key of the column's name. */
static char *insert_sql(const VgQueueItem *it, const VgTableDef *pDef) {
  sqlite3_str *s = sqlite3_str_new(0), *v = sqlite3_str_new(0);
  sqlite3_str_appendf(s, "INSERT INTO main.\"%w\"(", it->zTable);
  for (int i = 0; i < pDef->nCol; i++) {
    const VgColumn *c = &pDef->aCol[i];
    sqlite3_str_appendf(s, "%s\"%w\"", i ? ", " : "", c->zName);
    const char *zValue = "json_extract(?7, %Q)";
    if (c->kind == VG_COL_VECTOR) {
      zValue = "?1";
    } else if (c->kind == VG_COL_PARTITION) {
      zValue = "?2";
    } else if (strcmp(c->zName, "content_type") == 0) {
      zValue = "?3";
    } else if (strcmp(c->zName, "content_id") == 0) {
      zValue = "?4";
    } else if (strcmp(c->zName, "chunk_index") == 0) {
      zValue = "?5";
    } else if (strcmp(c->zName, "content") == 0) {
      zValue = "?6";
    }
    char *zPath = sqlite3_mprintf("$.\"%w\"", c->zName);
    sqlite3_str_appendf(v, i ? ", " : "");
    sqlite3_str_appendf(v, zValue, zPath ? zPath : "");
    sqlite3_free(zPath);
  }
  char *zValues = sqlite3_str_finish(v);
  sqlite3_str_appendf(s, ") VALUES (%s)", zValues ? zValues : "");
  char *zSql = sqlite3_str_finish(s);
  if (zValues == 0) {
    sqlite3_free(zSql);
    return 0;
  }
  sqlite3_free(zValues);
  return zSql;
}

/* Delete the vectors an earlier version of the item stored. */
static int delete_old_vectors(sqlite3 *db, sqlite3_int64 id) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT target_table, target_rowid FROM main.vg_queue_vectors WHERE item_id = ?",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(p, 1, id);
  while (rc == SQLITE_OK && sqlite3_step(p) == SQLITE_ROW) {
    const char *zTable = (const char *)sqlite3_column_text(p, 0);
    /* A table dropped since holds nothing to delete. */
    if (zTable == 0 || !vg_has_table(db, zTable, 0)) continue;
    char *zSql = sqlite3_mprintf("DELETE FROM main.\"%w\" WHERE rowid = %lld", zTable, sqlite3_column_int64(p, 1));
    rc = zSql ? sqlite3_exec(db, zSql, 0, 0, 0) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  int rcFinal = sqlite3_finalize(p);
  if (rc == SQLITE_OK) rc = rcFinal;
  if (rc == SQLITE_OK) {
    char *zSql = sqlite3_mprintf("DELETE FROM main.vg_queue_vectors WHERE item_id = %lld", id);
    rc = zSql ? sqlite3_exec(db, zSql, 0, 0, 0) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  return rc;
}

int vg_queue_store(sqlite3 *db, const VgQueueItem *it, const VgTableDef *pDef, int nChunk, const float *aVec,
                   const int *aStart, const int *aEnd) {
  int rc = delete_old_vectors(db, it->id);
  char *zSql = rc == SQLITE_OK ? insert_sql(it, pDef) : 0;
  if (rc == SQLITE_OK && zSql == 0) rc = SQLITE_NOMEM;
  sqlite3_stmt *pIns = 0, *pLink = 0;
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, zSql, -1, &pIns, 0);
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(db, "INSERT INTO main.vg_queue_vectors(item_id, chunk_index, target_table, target_rowid)"
                                " VALUES (?, ?, ?, ?)", -1, &pLink, 0);
  }
  size_t nBlob = sizeof(float) * (size_t)pDef->nDims;
  void *pBlob = rc == SQLITE_OK ? sqlite3_malloc64(nBlob) : 0;
  if (rc == SQLITE_OK && pBlob == 0) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK) {
    /* What every chunk's row shares; bindings outlive sqlite3_reset. */
    sqlite3_bind_blob(pIns, 1, pBlob, (int)nBlob, SQLITE_STATIC);
    sqlite3_bind_text(pIns, 2, it->zTenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(pIns, 3, it->zType, -1, SQLITE_STATIC);
    sqlite3_bind_text(pIns, 4, it->zContentId, -1, SQLITE_STATIC);
    if (it->zMetadata) sqlite3_bind_text(pIns, 7, it->zMetadata, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pLink, 1, it->id);
    sqlite3_bind_text(pLink, 3, it->zTable, -1, SQLITE_STATIC);
  }
  for (int k = 0; rc == SQLITE_OK && k < nChunk; k++) {
    vg_vector_to_blob(aVec + (size_t)k * (size_t)pDef->nDims, pDef->nDims, pBlob);
    sqlite3_bind_int(pIns, 5, k);
    sqlite3_bind_text(pIns, 6, it->zContent + aStart[k], aEnd[k] - aStart[k], SQLITE_STATIC);
    sqlite3_step(pIns);
    rc = sqlite3_reset(pIns);
    if (rc != SQLITE_OK) break;
    sqlite3_bind_int(pLink, 2, k);
    sqlite3_bind_int64(pLink, 4, sqlite3_last_insert_rowid(db));
    sqlite3_step(pLink);
    rc = sqlite3_reset(pLink);
  }
  sqlite3_free(pBlob);
  sqlite3_finalize(pIns);
  sqlite3_finalize(pLink);
  sqlite3_free(zSql);
  if (rc == SQLITE_OK) {
    char *zDone = sqlite3_mprintf("UPDATE main.vg_queue SET status = 'done', lease_until = NULL, last_error = NULL"
                                  " WHERE id = %lld", it->id);
    rc = zDone ? sqlite3_exec(db, zDone, 0, 0, 0) : SQLITE_NOMEM;
    sqlite3_free(zDone);
  }
  return rc;
}

/* Store the embedding of item it (checked against its table) and mark it
** done; *pzErr says why not. */
static int complete_item(sqlite3 *db, const VgQueueItem *it, sqlite3_value *pEmbedding, char **pzErr) {
  VgTableDef *pDef = 0;
  float *aVec = 0;
  int nDims = 0;
  if (it->zContent == 0) {
    *pzErr = vg_queue_textless(it->id);
    return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
  }
  int rc = vg_target_def(db, it->zTable, &pDef, pzErr);
  if (rc == SQLITE_OK) rc = vg_vector_from_value(pEmbedding, &aVec, &nDims, pzErr);
  if (rc == SQLITE_OK && aVec == 0) {
    *pzErr = sqlite3_mprintf("the embedding is NULL");
    rc = SQLITE_ERROR;
  } else if (rc == SQLITE_OK && nDims != pDef->nDims) {
    *pzErr = sqlite3_mprintf("dimension mismatch: the embedding has %d values, table \"%s\" holds %d", nDims,
                             it->zTable, pDef->nDims);
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK) {
    int iStart = 0, iEnd = it->nContent;
    rc = vg_queue_store(db, it, pDef, 1, aVec, &iStart, &iEnd);
    if (rc != SQLITE_OK && rc != SQLITE_NOMEM) *pzErr = sqlite3_mprintf("item %lld: %s", it->id, sqlite3_errmsg(db));
  }
  sqlite3_free(aVec);
  vg_tabledef_free(pDef);
  return rc;
}

/* Open the transaction of a complete or fail and read the item in it; 0
** (the error set, the transaction ended) when the caller may not finish it. */
static int complete_work(sqlite3 *db, void *pArg, char **pzErr) {
  Finish *f = pArg;
  VgQueueItem it;
  int rc = item_for_finish(db, f, &it, pzErr);
  if (rc == SQLITE_OK) rc = complete_item(db, &it, f->pArg, pzErr);
  vg_queue_item_clear(&it);
  return rc;
}

/* vg_queue_complete(id, embedding [, worker]) -> the item's id. */
static void fn_queue_complete(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Finish f;
  if (finish_args(ctx, "vg_queue_complete", argc, argv, &f) &&
      vg_txn_call(ctx, "vg_queue_complete", complete_work, &f)) {
    sqlite3_result_int64(ctx, f.id);
  }
}

int vg_queue_record_failure(sqlite3 *db, const QueueConn *q, const VgQueueItem *it,
                            const char *zError, int *pStatus) {
  int status = vg_queue_status_after_fail(&it->st);
  double retryAt = vg_queue_now(q) + vg_queue_retry_delay(it->id, it->st.attempts, VG_QUEUE_RETRY_BASE,
                                                          VG_QUEUE_RETRY_CAP);
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "UPDATE main.vg_queue SET status = ?2, scheduled_for = ?3, last_error = ?4,"
                              " lease_until = NULL, worker_id = CASE WHEN ?2 = 'dead' THEN worker_id END"
                              " WHERE id = ?1",
                              -1, &p, 0);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(p, 1, it->id);
    sqlite3_bind_text(p, 2, vg_item_status_name(status), -1, SQLITE_STATIC);
    sqlite3_bind_double(p, 3, retryAt);
    sqlite3_bind_text(p, 4, zError ? zError : "failed", -1, SQLITE_STATIC);
    sqlite3_step(p);
    rc = sqlite3_finalize(p);
  }
  *pStatus = status;
  return rc;
}

static int fail_work(sqlite3 *db, void *pArg, char **pzErr) {
  Finish *f = pArg;
  VgQueueItem it;
  int rc = item_for_finish(db, f, &it, pzErr);
  if (rc == SQLITE_OK) {
    rc = vg_queue_record_failure(db, f->q, &it, f->zError, &f->status);
  }
  vg_queue_item_clear(&it);
  return rc;
}

/* vg_queue_fail(id, error [, worker]) -> the item's new status. */
static void fn_queue_fail(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Finish f;
  if (!finish_args(ctx, "vg_queue_fail", argc, argv, &f)) return;
  f.zError = 0;
  if (sqlite3_value_type(argv[1]) != SQLITE_NULL &&
      (f.zError = vg_text_arg(ctx, "vg_queue_fail", argv[1], "the error", VG_TEXT_NAME, 0)) == 0) {
    return;
  }
  if (vg_txn_call(ctx, "vg_queue_fail", fail_work, &f)) {
    sqlite3_result_text(ctx, vg_item_status_name(f.status), -1, SQLITE_STATIC);
  }
}

/* ---- vg_queue_stats ----------------------------------------------------- */

static const char zStats[] =
    "WITH q AS (SELECT * FROM main.vg_queue WHERE ?1 IS NULL OR tenant_id = ?1),"
    " open AS (SELECT * FROM q WHERE status IN ('pending', 'processing', 'failed'))"
    " SELECT json_object("
    " 'by_status', (SELECT json_object('pending', count(*) FILTER (WHERE status = 'pending'),"
    "   'processing', count(*) FILTER (WHERE status = 'processing'),"
    "   'done', count(*) FILTER (WHERE status = 'done'),"
    "   'failed', count(*) FILTER (WHERE status = 'failed'),"
    "   'dead', count(*) FILTER (WHERE status = 'dead')) FROM q),"
    " 'by_priority', (SELECT json_object('high', count(*) FILTER (WHERE priority = 'high'),"
    "   'medium', count(*) FILTER (WHERE priority = 'medium'),"
    "   'low', count(*) FILTER (WHERE priority = 'low')) FROM open),"
    " 'oldest_pending_age', (SELECT ?2 - min(queued_at) FROM q WHERE status IN ('pending', 'failed')),"
    " 'attempts', (SELECT json_group_object(attempts, n) FROM (SELECT attempts, count(*) AS n FROM q"
    "   GROUP BY attempts ORDER BY attempts)))";

static void fn_queue_stats(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  QueueConn *q = sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  if (argc > 0 && sqlite3_value_type(argv[0]) != SQLITE_NULL &&
      vg_text_arg(ctx, "vg_queue_stats", argv[0], "tenant_id", VG_TEXT_NAME, 0) == 0) {
    return;
  }
  sqlite3_stmt *p = 0;
  char *zErr = 0;
  int rc = vg_queue_ensure(db, &zErr);
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, zStats, -1, &p, 0);
  if (rc == SQLITE_OK) {
    if (argc > 0) sqlite3_bind_value(p, 1, argv[0]);
    sqlite3_bind_double(p, 2, vg_queue_now(q));
    if (sqlite3_step(p) == SQLITE_ROW) {
      sqlite3_result_text(ctx, (const char *)sqlite3_column_text(p, 0), -1, SQLITE_TRANSIENT);
    }
    rc = sqlite3_finalize(p);
  }
  if (rc != SQLITE_OK) vg_result_failure(ctx, "vg_queue_stats", db, rc, zErr);
}

/* ---- registration ------------------------------------------------------- */

static void queue_conn_free(void *p) {
  QueueConn *q = p;
  vg_embedder_close(q->pEmbedder);
  sqlite3_free(q->zWorker);
  sqlite3_free(q);
}

int vg_register_queue_functions(sqlite3 *db) {
  static const struct {
    const char *zName;
    int nArg;
    void (*xFunc)(sqlite3_context *, int, sqlite3_value **);
  } a[] = {
      {"vg_queue_init", 0, fn_queue_init},         {"vg_queue_clock", 0, fn_queue_clock},
      {"vg_queue_clock", 1, fn_queue_clock},       {"vg_enqueue", 5, fn_enqueue},
      {"vg_enqueue", 6, fn_enqueue},               {"vg_enqueue", 7, fn_enqueue},
      {"vg_queue_claim", 2, fn_queue_claim},       {"vg_queue_claim", 3, fn_queue_claim},
      {"vg_queue_complete", 2, fn_queue_complete}, {"vg_queue_complete", 3, fn_queue_complete},
      {"vg_queue_fail", 2, fn_queue_fail},         {"vg_queue_fail", 3, fn_queue_fail},
      {"vg_queue_stats", 0, fn_queue_stats},       {"vg_queue_stats", 1, fn_queue_stats},
  };
  QueueConn *q = sqlite3_malloc64(sizeof(*q));
  if (q == 0) return SQLITE_NOMEM;
  memset(q, 0, sizeof(*q));
  /* vg_queue_run claims as a worker of its own, one per connection. */
  unsigned char aRand[8];
  sqlite3_randomness(sizeof aRand, aRand);
  sqlite3_snprintf(sizeof q->zRunWorker, q->zRunWorker, "vg_queue_run-%02x%02x%02x%02x%02x%02x%02x%02x",
                   aRand[0], aRand[1], aRand[2], aRand[3], aRand[4], aRand[5], aRand[6], aRand[7]);
  int rc = SQLITE_OK;
  for (size_t i = 0; rc == SQLITE_OK && i < sizeof a / sizeof a[0]; i++) {
    /* The first one registered owns q: SQLite frees it with the connection,
    ** or at once if that registration fails. */
    rc = sqlite3_create_function_v2(db, a[i].zName, a[i].nArg, SQLITE_UTF8 | SQLITE_DIRECTONLY, q, a[i].xFunc, 0,
                                    0, i == 0 ? queue_conn_free : 0);
  }
  if (rc == SQLITE_OK) rc = vg_register_config_functions(db, q);
  if (rc == SQLITE_OK) rc = vg_register_ingest_functions(db, q);
  if (rc == SQLITE_OK) rc = vg_register_watch_functions(db, q);
  if (rc == SQLITE_OK) rc = vg_register_search_module(db, q);
  return rc;
}
