-- vecguard demo: a multi-tenant vector table in plain SQLite.
-- Run with: make demo   (or: sqlite3 demo.db < examples/demo.sql)
.load ./build/vecguard
.mode table
SELECT vg_version() AS loaded;

-- Each row: a 4-dimensional embedding (a real app stores 384 or more), the
-- tenant it belongs to, filterable metadata, and an auxiliary body that is
-- stored encrypted so that deleting the row erases it from the file.
CREATE VIRTUAL TABLE docs USING vg_hnsw(
  embedding float[4] distance_metric=cosine,
  tenant_id text partition key,
  content_type text,
  created_at integer,
  +body text
);

INSERT INTO docs(rowid, embedding, tenant_id, content_type, created_at, body) VALUES
  (1, '[0.9, 0.1, 0.0, 0.0]', 'acme',   'deal',    1700000100, 'Renewal for 40 seats, closing in March'),
  (2, '[0.8, 0.3, 0.1, 0.0]', 'acme',   'deal',    1699000000, 'Upsell of the analytics add-on'),
  (3, '[0.1, 0.9, 0.2, 0.0]', 'acme',   'contact', 1700000200, 'Procurement lead, prefers email'),
  (4, '[0.0, 0.2, 0.9, 0.3]', 'acme',   'note',    1700000300, 'Quarterly review notes'),
  (5, '[0.7, 0.2, 0.0, 0.1]', 'acme',   'contact', 1700000400, 'Champion in the finance team'),
  (6, '[0.9, 0.0, 0.1, 0.0]', 'globex', 'deal',    1700000500, 'Globex pilot, 3 sites'),
  (7, '[0.2, 0.8, 0.0, 0.1]', 'globex', 'contact', 1700000600, 'Globex CTO');

.print
.print The three rows of tenant acme nearest to a query about deals:
SELECT rowid, round(distance, 4) AS distance, content_type, body
  FROM docs
 WHERE embedding MATCH '[1.0, 0.1, 0.0, 0.0]' AND k = 3
   AND tenant_id = 'acme'
 ORDER BY distance;

.print
.print The same search, only deals and contacts created since 1700000000:
SELECT rowid, round(distance, 4) AS distance, content_type, created_at, body
  FROM docs
 WHERE embedding MATCH '[1.0, 0.1, 0.0, 0.0]' AND k = 3
   AND tenant_id = 'acme'
   AND content_type IN ('deal', 'contact') AND created_at >= 1700000000
 ORDER BY distance;

.print
.print Deleting a row erases its vector and body (a rollback would restore them):
DELETE FROM docs WHERE rowid = 1;
SELECT count(*) AS rows_left_for_acme FROM docs WHERE tenant_id = 'acme';

.print
.print Text in, search out: notes with personal data go through vg_ingest (redact,
.print audit, enqueue), vg_queue_run embeds them with the built-in model, and
.print vg_search answers a question in text. Only redacted text is stored.
CREATE VIRTUAL TABLE notes USING vg_hnsw(
  embedding float[384] distance_metric=cosine,
  tenant_id text partition key,
  content_type text, content_id text, chunk_index integer,
  +content text, author text
);
SELECT vg_pii_set_key(randomblob(32)) IS NOT NULL AS key_set;
WITH v(tenant, id, body, author) AS (VALUES
  ('clinic-7', 'n-1', 'Patient reports a mild fever and a dry cough since Monday. Call her at 212-555-0187.', 'dr-ana'),
  ('clinic-7', 'n-2', 'Follow-up visit in two weeks to check the blood pressure medication.', 'dr-bo'),
  ('clinic-7', 'n-3', 'Fever gone after three days; the cough persists at night. Email results to tom.ruiz@example.com.', 'dr-ana'),
  ('clinic-7', 'n-4', 'Insurance card 4111 1111 1111 1111 was declined at the front desk.', 'desk'),
  ('clinic-9', 'n-5', 'High fever and chills, admitted overnight.', 'dr-cy'))
SELECT count(vg_ingest('notes', tenant, 'note', id, body, json_object('author', author))) AS ingested FROM v;
SELECT json_extract(vg_queue_run(100), '$.done') AS embedded;
.print
.print What clinic-7 knows about a patient with a fever and a cough:
SELECT rank, content_id, round(similarity, 2) AS similarity, content
  FROM vg_search('notes', 'clinic-7', 'patient with fever and cough', 3);
.print
.print The audit log keeps hashes and counts, never the text:
SELECT content_id, findings, compliance FROM vg_pii_log;
