-- The embedding queue (docs/queue.md).  vg_queue_init(), or the first call of
-- any queue function, creates these tables in main; this file makes the same,
-- for tools that read schemas (tests/sql/test_queue.c checks they agree).
--
-- vg_queue: one row per (tenant_id, content_type, content_id).  Times are
-- seconds since 1970 (REAL).  content is already sanitized; content_hash is
-- its BLAKE2b-256.  attempts counts claims; lease_until and worker_id are set
-- while processing.  vg_queue_vectors: the rows of the target vg_hnsw table
-- that hold an item's vectors (one per chunk), replaced when it is embedded
-- again.
CREATE TABLE IF NOT EXISTS main.vg_queue(
  id INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  target_table TEXT NOT NULL,
  content_type TEXT NOT NULL,
  content_id TEXT NOT NULL,
  content TEXT NOT NULL,
  content_hash BLOB NOT NULL,
  metadata TEXT CHECK (metadata IS NULL OR json_type(metadata) = 'object'),
  priority TEXT NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
  status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'done', 'failed', 'dead')),
  queued_at REAL NOT NULL,
  scheduled_for REAL NOT NULL,
  lease_until REAL,
  worker_id TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  last_error TEXT,
  UNIQUE (tenant_id, content_type, content_id)
);
CREATE INDEX IF NOT EXISTS main.vg_queue_by_status ON vg_queue(status, scheduled_for);
CREATE TABLE IF NOT EXISTS main.vg_queue_vectors(
  item_id INTEGER NOT NULL,
  chunk_index INTEGER NOT NULL,
  target_table TEXT NOT NULL,
  target_rowid INTEGER NOT NULL,
  PRIMARY KEY (item_id, chunk_index)
) WITHOUT ROWID;
