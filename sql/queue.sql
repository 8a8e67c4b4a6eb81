-- The embedding queue and the pipeline around it (docs/queue.md,
-- docs/pipeline.md).  vg_queue_init(), or the first call of
-- any queue function, creates these tables in main; this file makes the same,
-- for tools that read schemas (tests/sql/test_queue.c checks they agree).
--
-- vg_queue: one row per (tenant_id, content_type, content_id).  Times are
-- seconds since 1970 (REAL).  content is already sanitized; content_hash is
-- its BLAKE2b-256.  attempts counts claims; lease_until and worker_id are set
-- while processing.  vg_queue_vectors: the rows of the target vg_hnsw table
-- that hold an item's vectors (one per chunk), replaced when it is embedded
-- again.  vg_queue_due holds the claimable items in claim order, so that a
-- claim reads only the rows it takes; vg_queue_leases finds expired leases.
-- vg_table_config: each vg_hnsw table's pipeline settings (NULL is
-- the default, see vg_configure).  vg_watches: the tables vg_watch keeps in
-- step with a vg_hnsw table, and their options.
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
CREATE INDEX IF NOT EXISTS main.vg_queue_due ON vg_queue(
  (CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END), queued_at)
  WHERE status IN ('pending', 'failed');
CREATE INDEX IF NOT EXISTS main.vg_queue_leases ON vg_queue(status, lease_until);
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
  redact TEXT CHECK (redact IS NULL OR json_type(redact) = 'object'),
  chunk_tokens INTEGER CHECK (chunk_tokens IS NULL OR chunk_tokens >= 1),
  chunk_overlap INTEGER CHECK (chunk_overlap IS NULL OR chunk_overlap >= 0)
);
CREATE TABLE IF NOT EXISTS main.vg_watches(
  source_table TEXT PRIMARY KEY,
  target_table TEXT NOT NULL,
  options TEXT NOT NULL
);
