-- The embedding queue and the pipeline around it (docs/queue.md,
-- docs/pipeline.md).  vg_queue_init(), or the first call of
-- any queue function, creates these tables in main; this file makes the same,
-- for tools that read schemas (tests/sql/test_queue.c checks they agree).
--
-- vg_queue: one row per (tenant_id, content_type, content_id).  Times are
-- seconds since 1970 (REAL); finished_at is when an attempt last ended
-- (done, failed or dead), for vg_queue_stats' rates.  content_hash is the BLAKE2b-256 of the item's
-- text (already sanitized); attempts counts claims; lease_until and
-- worker_id are set while processing.  vg_queue_due holds the claimable
-- items in claim order, so that a claim reads only the rows it takes;
-- vg_queue_leases finds expired leases.
--
-- vg_queue_text: the texts of items that still need them (pending,
-- processing, failed, dead), erased for real (docs/storage.md).  An item's
-- text is its one row whose content is TEXT.  pad is page size - 35 zero
-- bytes, the most a page keeps of a record, so the text lies wholly on
-- overflow pages, which SQLite never moves.  When the item is done,
-- deleted, or given a new text or id, a trigger overwrites the text with as
-- many zero bytes, which SQLite does in place; the zeroed row (content a
-- BLOB) is deleted by the next queue function that opens a transaction of
-- its own (deleted at once, its pages could reach the file unzeroed).  The
-- triggers are plain SQL: a DELETE FROM vg_queue by hand, without the
-- extension loaded, erases too.  vg_queue_items: each item with its text
-- (NULL once it has none).  Not erased, and in plain form: every column of
-- vg_queue (tenant_id, content_type, content_id, metadata, last_error, ...).
--
-- vg_queue_vectors: the rows of the target vg_hnsw table that hold an
-- item's vectors (one per chunk), replaced when it is embedded again.
-- vg_table_config: each vg_hnsw table's pipeline settings (NULL is the
-- default, see vg_configure).  vg_watches: the tables vg_watch keeps in step
-- with a vg_hnsw table, and their options.  vg_watch_log: what the
-- watches' triggers (plain SQL) leave for the extension: the key of a
-- changed row (source_key, to send to vg_ingest as it is then) or a vector
-- row of a deleted one (target_table, target_rowid, to delete, and its
-- tenant_id, for vg_search to leave out); error is
-- why vg_ingest refused the row last time.  Settings are not erased when
-- changed or removed: keep personal data out of them.
CREATE TABLE IF NOT EXISTS main.vg_queue(
  id INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  target_table TEXT NOT NULL,
  content_type TEXT NOT NULL,
  content_id TEXT NOT NULL,
  content_hash BLOB NOT NULL,
  metadata TEXT,
  priority TEXT NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
  status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'done', 'failed', 'dead')),
  queued_at REAL NOT NULL,
  scheduled_for REAL NOT NULL,
  lease_until REAL,
  worker_id TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  last_error TEXT,
  finished_at REAL,
  UNIQUE (tenant_id, content_type, content_id)
);
CREATE INDEX IF NOT EXISTS main.vg_queue_due ON vg_queue(
  (CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END), queued_at)
  WHERE status IN ('pending', 'failed');
CREATE INDEX IF NOT EXISTS main.vg_queue_leases ON vg_queue(status, lease_until);
CREATE INDEX IF NOT EXISTS main.vg_queue_content ON vg_queue(tenant_id, content_id);
CREATE TABLE IF NOT EXISTS main.vg_queue_text(
  id INTEGER PRIMARY KEY,
  item_id INTEGER NOT NULL,
  pad BLOB NOT NULL,
  content TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS main.vg_queue_text_item ON vg_queue_text(item_id)
  WHERE typeof(content) = 'text';
CREATE INDEX IF NOT EXISTS main.vg_queue_text_erased ON vg_queue_text(id)
  WHERE typeof(content) = 'blob';
CREATE TRIGGER IF NOT EXISTS main.vg_queue_erase_deleted AFTER DELETE ON vg_queue BEGIN
  UPDATE vg_queue_text SET content = zeroblob(length(CAST(content AS BLOB)))
    WHERE item_id = OLD.id AND typeof(content) = 'text';
END;
CREATE TRIGGER IF NOT EXISTS main.vg_queue_erase_finished AFTER UPDATE OF id, status, content_hash ON vg_queue
  WHEN NEW.status = 'done' OR NEW.content_hash IS NOT OLD.content_hash OR NEW.id IS NOT OLD.id BEGIN
  UPDATE vg_queue_text SET content = zeroblob(length(CAST(content AS BLOB)))
    WHERE item_id = OLD.id AND typeof(content) = 'text';
END;
CREATE VIEW IF NOT EXISTS main.vg_queue_items AS SELECT q.*, t.content FROM vg_queue AS q
  LEFT JOIN vg_queue_text AS t ON t.item_id = q.id AND typeof(t.content) = 'text';
CREATE TABLE IF NOT EXISTS main.vg_queue_vectors(
  item_id INTEGER NOT NULL,
  chunk_index INTEGER NOT NULL,
  target_table TEXT NOT NULL,
  target_rowid INTEGER NOT NULL,
  PRIMARY KEY (item_id, chunk_index)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS main.vg_table_config(
  target_table TEXT PRIMARY KEY,
  model TEXT,
  redact TEXT,
  chunk_tokens INTEGER CHECK (chunk_tokens IS NULL OR chunk_tokens >= 1),
  chunk_overlap INTEGER CHECK (chunk_overlap IS NULL OR chunk_overlap >= 0)
);
CREATE TABLE IF NOT EXISTS main.vg_watches(
  source_table TEXT PRIMARY KEY,
  target_table TEXT NOT NULL,
  options TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS main.vg_watch_log(
  id INTEGER PRIMARY KEY,
  source_table TEXT NOT NULL,
  source_key,
  tenant_id TEXT,
  target_table TEXT,
  target_rowid INTEGER,
  error TEXT
);
CREATE INDEX IF NOT EXISTS main.vg_watch_log_rows ON vg_watch_log(source_table, source_key)
  WHERE target_rowid IS NULL;
CREATE INDEX IF NOT EXISTS main.vg_watch_log_vectors ON vg_watch_log(target_table, target_rowid)
  WHERE target_rowid IS NOT NULL;
