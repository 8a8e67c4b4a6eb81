/*
** queue_tables.c — the embedding queue's tables: vg_queue, vg_queue_text
** (the items' texts, kept apart so that they can be erased for real),
** vg_queue_vectors, vg_table_config, vg_watches and vg_watch_log, the view vg_queue_items
** and the triggers that erase texts; made on first use (vg_queue_ensure)
** or by vg_queue_init(), which also upgrades a queue an earlier version
** made (vg_queue_create).  sql/queue.sql holds the same schema.
**
** What a transaction of the pipeline does first lives here too: deleting
** the tombstones of erased texts (vg_queue_sweep), which vg_txn_begin runs
** first thing in a transaction it opens with BEGIN.
*/
#include "pipeline/pipeline.h"

/* The texts of open items live in vg_queue_text, apart from vg_queue, so
** that they can be erased for real (docs/storage.md).  A row of vg_queue
** changes size with every claim and failure, and SQLite then moves it,
** leaving the old bytes in free space; a row of vg_queue_text is written
** once, overwritten once, deleted.  It holds the text after a zero pad as
** long as the most a page keeps of a record (page size - 35), so the text
** sits wholly on overflow pages, which SQLite never moves (store_slots.c
** does the same with slots).  Erasing overwrites the text with as many zero bytes
** (taking the length of the bytes: length() of a TEXT stops at a NUL),
** which SQLite does in place for a record of the same size (a TEXT of n
** bytes and a zeroblob(n) take the same header bytes).
**
** The zeroed row stays, a tombstone, until a later transaction deletes it
** (vg_queue_sweep).  Deleted at once, its overflow pages would be freed in
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
#define ERASE_TEXT                                                                                 \
  "  UPDATE vg_queue_text SET content = zeroblob(length(CAST(content AS BLOB)))\n"                 \
  "    WHERE item_id = OLD.id AND typeof(content) = 'text';\n"
/* An item's other types under one id (a watch's drain, an application
** that looks items up by id), and ids in order. */
#define CONTENT_INDEX "CREATE INDEX IF NOT EXISTS main.vg_queue_content ON vg_queue(tenant_id, content_id);\n"

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
static const char zSchema[] =
    "CREATE TABLE IF NOT EXISTS main.vg_queue(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  tenant_id TEXT NOT NULL,\n"
    "  target_table TEXT NOT NULL,\n"
    "  content_type TEXT NOT NULL,\n"
    "  content_id TEXT NOT NULL,\n"
    "  content_hash BLOB NOT NULL,\n"
    "  metadata TEXT,\n"
    "  priority TEXT NOT NULL CHECK (priority IN ('high', 'medium', 'low')),\n"
    "  status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'done', 'failed', 'dead')),\n"
    "  queued_at REAL NOT NULL,\n"
    "  scheduled_for REAL NOT NULL,\n"
    "  lease_until REAL,\n"
    "  worker_id TEXT,\n"
    "  attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  max_attempts INTEGER NOT NULL,\n"
    "  last_error TEXT,\n"
    "  finished_at REAL,\n"
    "  UNIQUE (tenant_id, content_type, content_id)\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS main.vg_queue_due ON vg_queue(\n"
    "  (CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END), queued_at)\n"
    "  WHERE status IN ('pending', 'failed');\n"
    "CREATE INDEX IF NOT EXISTS main.vg_queue_leases ON vg_queue(status, lease_until);\n"
    CONTENT_INDEX
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
    "  redact TEXT,\n"
    "  chunk_tokens INTEGER CHECK (chunk_tokens IS NULL OR chunk_tokens >= 1),\n"
    "  chunk_overlap INTEGER CHECK (chunk_overlap IS NULL OR chunk_overlap >= 0)\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS main.vg_watches(\n"
    "  source_table TEXT PRIMARY KEY,\n"
    "  target_table TEXT NOT NULL,\n"
    "  options TEXT NOT NULL\n"
    ");\n" VG_WATCH_LOG_SCHEMA;

/* A queue made before vg_queue_text kept each item's text in vg_queue
** itself.  vg_queue_init() moves the texts of items that still need them
** (zMoveTexts), then makes vg_queue again without the column, keeping
** every item and its id (vg_queue_vectors refers to them).  The old copies
** stay in the file's free space, which only a VACUUM, outside any
** transaction, clears: so the upgrade is asked for, not done behind the
** caller's back, and the message says so.
**
** Queues made before vg_watch_log have CHECKs calling json_type() on
** vg_queue and vg_table_config, which SQLite refuses (the whole table) under
** PRAGMA trusted_schema = OFF, where the watches' triggers must still run:
** vg_queue_init() makes those two tables again too (zRebuild, then zSchema,
** then zRebuilt), with every row. */
#define QUEUE_COLUMNS                                                                              \
  "id, tenant_id, target_table, content_type, content_id, content_hash, metadata, priority, status, " \
  "queued_at, scheduled_for, lease_until, worker_id, attempts, max_attempts, last_error"
static const char zMoveTexts[] =
    TEXT_TABLE
    "INSERT INTO main.vg_queue_text(item_id, pad, content) SELECT id, " VG_QUEUE_TEXT_PAD ", content FROM main.vg_queue"
    " WHERE status <> 'done';\n";
static const char zRebuild[] =
    "CREATE TEMP TABLE vg_queue_rebuild AS SELECT " QUEUE_COLUMNS " FROM main.vg_queue;\n"
    "CREATE TEMP TABLE vg_table_config_rebuild AS SELECT * FROM main.vg_table_config;\n"
    "DROP VIEW IF EXISTS main.vg_queue_items;\n"
    "DROP TABLE main.vg_queue;\n"
    "DROP TABLE main.vg_table_config;\n";
static const char zRebuilt[] =
    "INSERT INTO main.vg_queue(" QUEUE_COLUMNS ") SELECT " QUEUE_COLUMNS " FROM temp.vg_queue_rebuild;\n"
    "INSERT INTO main.vg_table_config SELECT * FROM temp.vg_table_config_rebuild;\n"
    "DROP TABLE temp.vg_queue_rebuild;\n"
    "DROP TABLE temp.vg_table_config_rebuild;\n";
/* The oldest queues had no vg_table_config. */
static const char zConfigFirst[] =
    "CREATE TABLE IF NOT EXISTS main.vg_table_config(\n"
    "  target_table TEXT PRIMARY KEY,\n"
    "  model TEXT,\n"
    "  redact TEXT,\n"
    "  chunk_tokens INTEGER,\n"
    "  chunk_overlap INTEGER\n"
    ");\n";

/* Does the queue have the CHECKs of json_type() (above)? */
static int old_checks(sqlite3 *db) {
  sqlite3_stmt *p = 0;
  if (sqlite3_prepare_v2(db,
                         "SELECT 1 FROM main.sqlite_schema WHERE type = 'table'"
                         " AND name IN ('vg_queue', 'vg_table_config') AND sql LIKE '%json\\_type(%' ESCAPE '\\'",
                         -1, &p, 0) != SQLITE_OK) {
    return 0;
  }
  int b = sqlite3_step(p) == SQLITE_ROW;
  sqlite3_finalize(p);
  return b;
}

static const char zOldQueue[] =
    "the queue was made by an earlier version of vecguard, which kept the items' texts in vg_queue, where they "
    "cannot be erased; run SELECT vg_queue_init() once to move them to vg_queue_text, then VACUUM to clear the "
    "copies left in free space (docs/queue.md)";

int vg_queue_sweep(sqlite3 *db) {
  /* The tombstones of erased texts (see above) go first thing in a
  ** transaction of our own: each was zeroed by a transaction that has
  ** committed, so the file holds its zeros, and freeing its pages now
  ** leaves them there.  Inside a caller's transaction one may have been
  ** zeroed moments ago: vg_txn_begin runs this only after a BEGIN. */
  if (!vg_has_table(db, "vg_queue_text", 0)) return SQLITE_OK;
  return sqlite3_exec(db, "DELETE FROM main.vg_queue_text WHERE typeof(content) = 'blob'", 0, 0, 0);
}

/* Run zSql, all or none of it, in a transaction of its own (vg_txn_begin). */
static int exec_atomic(sqlite3 *db, const char *zSql) {
  VgTxn mode;
  int rc = vg_txn_begin(db, vg_queue_sweep, &mode);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, zSql, 0, 0, 0);
  return vg_txn_end(db, mode, rc);
}

/* 1 if vg_queue_content exists (a queue made before it has not). */
static int has_content_index(sqlite3 *db) {
  sqlite3_stmt *p = 0;
  int bFound = 0;
  if (sqlite3_prepare_v2(db, "SELECT 1 FROM main.sqlite_master WHERE type = 'index' AND name = 'vg_queue_content'", -1,
                         &p, 0) == SQLITE_OK)
    bFound = sqlite3_step(p) == SQLITE_ROW;
  sqlite3_finalize(p);
  return bFound;
}

int vg_queue_ensure(sqlite3 *db, char **pzErr) {
  /* The schema is made all at once, so vg_queue_text stands for all of
  ** it; a database made by an older version gets the tables it lacks, and
  ** the column added since (an ALTER that rewrites nothing). */
  if (vg_has_table(db, "vg_queue_text", 0)) {
    int bColumn = vg_has_table(db, "vg_queue", "finished_at");
    if (bColumn && has_content_index(db)) return SQLITE_OK;
    int rc = exec_atomic(db, bColumn ? CONTENT_INDEX : "ALTER TABLE main.vg_queue ADD COLUMN finished_at REAL;\n"
                                                      CONTENT_INDEX);
    /* Another connection may have added them meanwhile. */
    return rc != SQLITE_OK && vg_has_table(db, "vg_queue", "finished_at") && has_content_index(db) ? SQLITE_OK : rc;
  }
  if (vg_has_table(db, "vg_queue", "content")) {
    *pzErr = sqlite3_mprintf("%s", zOldQueue);
    return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
  }
  return exec_atomic(db, zSchema);
}

int vg_queue_is_current(sqlite3 *db) {
  return vg_has_table(db, "vg_queue_text", 0) && vg_has_table(db, "vg_watch_log", 0) && !old_checks(db);
}

int vg_queue_create(sqlite3 *db, void *pArg, char **pzErr) {
  (void)pArg;
  int bOldTexts = !vg_has_table(db, "vg_queue_text", 0) && vg_has_table(db, "vg_queue", "content");
  if (!bOldTexts && !old_checks(db)) {
    /* A queue of this layout, perhaps without tables added since. */
    int rc = vg_queue_ensure(db, pzErr);
    return rc == SQLITE_OK ? sqlite3_exec(db, zSchema, 0, 0, 0) : rc;
  }
  /* The rest of the schema is made in the same transaction: vg_queue_text
  ** stands for all of it (vg_queue_ensure). */
  int rc = bOldTexts ? sqlite3_exec(db, zMoveTexts, 0, 0, 0) : SQLITE_OK;
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, zConfigFirst, 0, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, zRebuild, 0, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, zSchema, 0, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, zRebuilt, 0, 0, 0);
  return rc;
}
