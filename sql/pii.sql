-- pii.sql — the tables of the PII functions (docs/pii.md).  vg_pii_init()
-- creates the same; vg_pii_redact creates vg_pii_log when it first audits.
-- The triggers call a function of the extension: load it before writing.

-- Custom recognizers and deny lists, read by every PII function as soon as
-- a row changes.
CREATE TABLE IF NOT EXISTS vg_pii_recognizers(
  name TEXT PRIMARY KEY,
  entity TEXT NOT NULL,
  pattern TEXT NOT NULL,
  score REAL NOT NULL DEFAULT 0.8,
  context TEXT,
  enabled INTEGER NOT NULL DEFAULT 1
);
CREATE TRIGGER IF NOT EXISTS vg_pii_recognizers_insert BEFORE INSERT ON vg_pii_recognizers
BEGIN SELECT vg_pii_validate_recognizer(NEW.name, NEW.entity, NEW.pattern, NEW.score); END;
CREATE TRIGGER IF NOT EXISTS vg_pii_recognizers_update BEFORE UPDATE ON vg_pii_recognizers
BEGIN SELECT vg_pii_validate_recognizer(NEW.name, NEW.entity, NEW.pattern, NEW.score); END;

-- Named keys for hashing and encryption; 'default' is used when the
-- connection has none (vg_pii_set_key).
CREATE TABLE IF NOT EXISTS vg_pii_keys(
  name TEXT PRIMARY KEY,
  key BLOB NOT NULL CHECK (typeof(key) = 'blob' AND length(key) = 32)
);

-- One row per audited vg_pii_redact call.  Never the text itself: the
-- original's keyed hash, the result's plain hash, types and counts.
CREATE TABLE IF NOT EXISTS vg_pii_log(
  id INTEGER PRIMARY KEY,
  logged_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  content_id ANY,
  original_hash TEXT NOT NULL,
  result_hash TEXT NOT NULL,
  key_id TEXT NOT NULL,
  findings TEXT NOT NULL,
  operators TEXT NOT NULL,
  compliance TEXT NOT NULL CHECK (compliance IN ('compliant', 'review', 'blocked'))
);
