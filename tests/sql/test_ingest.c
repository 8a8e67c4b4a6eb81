/*
** test_ingest.c — the pipeline through SQL: vg_configure, vg_ingest (redact,
** audit, enqueue as one), vg_queue_run (chunks, embedding, storage) checked
** against vg_chunk and vg_embed, vg_search against a brute-force scan, and
** vg_watch's triggers; every error leaves nothing behind.  The end-to-end
** test ingests documents full of personal data into a file and then reads
** the file's bytes: none of the original values may be there.
*/
#include "testdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sqlite3 *pipeline_db(const char *zPath) {
  sqlite3 *db = tdb_open(zPath);
  tdb_exec(db,
           "CREATE VIRTUAL TABLE notes USING vg_hnsw(embedding float[32] distance_metric=cosine,"
           " tenant_id text partition key, content_type text, content_id text, chunk_index integer,"
           " +content text, author text, year integer)");
  tdb_exec(db, "CREATE VIRTUAL TABLE flat USING vg_hnsw(embedding float[16], +content text)");
  tdb_exec(db, "CREATE TABLE plain(x)");
  tdb_exec(db, "SELECT vg_pii_set_key(zeroblob(32)), vg_queue_clock(1000), vg_queue_init(), vg_pii_init()");
  return db;
}

/* ---- vg_configure ------------------------------------------------------- */

static void test_configure(void **state) {
  (void)state;
  sqlite3 *db = pipeline_db(":memory:");
  tdb_expect_text(db, "{\"model\":\"hash2:32\",\"dims\":32,\"redact\":{},\"chunk_tokens\":512,\"chunk_overlap\":64}",
                  "SELECT vg_configure('notes')");
  tdb_expect_text(db, "{\"model\":\"hash2:32\",\"dims\":32,\"redact\":{},\"chunk_tokens\":100,\"chunk_overlap\":12}",
                  "SELECT vg_configure('notes', '{\"chunk_tokens\": 100}')");
  tdb_expect_text(db,
                  "{\"model\":\"hash2:32\",\"dims\":32,\"redact\":{\"operator\":\"mask\"},\"chunk_tokens\":100,"
                  "\"chunk_overlap\":0}",
                  "SELECT vg_configure('notes', '{\"chunk_overlap\": 0, \"redact\": {\"operator\": \"mask\"}}')");
  /* null puts a setting back to its default. */
  tdb_expect_text(db, "{\"model\":\"hash2:32\",\"dims\":32,\"redact\":{},\"chunk_tokens\":512,\"chunk_overlap\":0}",
                  "SELECT vg_configure('notes', '{\"chunk_tokens\": null, \"redact\": null}')");
  char *zBefore = tdb_text(db, "SELECT json_group_array(json_array(target_table, model, redact, chunk_tokens,"
                               " chunk_overlap)) FROM vg_table_config");
  static const struct {
    const char *zNeedle, *zArgs;
  } a[] = {
      {"vg_configure: dimension mismatch: model \"hash:16\" makes vectors of 16 values, table \"notes\" holds 32",
       "'notes', '{\"model\": \"hash:16\"}'"},
      {"vg_configure: model \"bert\" is not loaded on this connection: load it first with vg_model_load", "'notes', '{\"model\": \"bert\"}'"},
      {"vg_configure: model must be a model name", "'notes', '{\"model\": 32}'"},
      {"vg_configure: chunk_tokens must be from 1 to 512, the most model \"hash2:32\" reads",
       "'notes', '{\"chunk_tokens\": 513}'"},
      {"vg_configure: chunk_tokens must be from 1 to 512", "'notes', '{\"chunk_tokens\": 0}'"},
      {"vg_configure: chunk_overlap must be from 0 to chunk_tokens - 1 (9)",
       "'notes', '{\"chunk_tokens\": 10, \"chunk_overlap\": 10}'"},
      {"vg_configure: chunk_overlap must be a whole number", "'notes', '{\"chunk_overlap\": 1.5}'"},
      {"vg_configure: unknown setting \"colour\"", "'notes', '{\"colour\": 1}'"},
      {"vg_configure: the settings must be a JSON object", "'notes', '[1]'"},
      {"vg_configure: the settings must be a JSON object", "'notes', '{oops'"},
      {"vg_configure: redact must be an object", "'notes', '{\"redact\": \"mask\"}'"},
      {"vg_configure: redact: vg_pii_redact: unknown operator \"blur\"", "'notes', '{\"redact\": {\"operator\": \"blur\"}}'"},
      {"vg_configure: redact: vg_ingest sets audit and content_id itself", "'notes', '{\"redact\": {\"audit\": false}}'"},
      {"vg_configure: no table named \"nope\"", "'nope', '{}'"},
      {"vg_configure: \"plain\" is not a vg_hnsw table", "'plain'"},
      {"vg_configure: the table must be text", "1"},
  };
  for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
    tdb_expect_error(db, a[i].zNeedle, "SELECT vg_configure(%s)", a[i].zArgs);
  }
  tdb_expect_text(db, zBefore, "SELECT json_group_array(json_array(target_table, model, redact, chunk_tokens,"
                               " chunk_overlap)) FROM vg_table_config");
  sqlite3_free(zBefore);
  /* A row edited by hand is checked where it is read. */
  tdb_exec(db, "UPDATE vg_table_config SET model = 'hash:8' WHERE target_table = 'notes'");
  tdb_expect_error(db, "vg_ingest: vg_table_config row of \"notes\": dimension mismatch: model \"hash:8\"",
                   "SELECT vg_ingest('notes', 'acme', 'note', 1, 'text')");
  tdb_expect_text(db, "0", "SELECT count(*) FROM vg_queue");
  tdb_close(db);
}

/* The default model: hash2 for a table that starts empty, kept by the
** table once vg_ingest records it; hash, the default before hash2, for a
** table that already holds rows or waits for items and names no model. */
static void test_default_model(void **state) {
  (void)state;
  sqlite3 *db = pipeline_db(":memory:");
  /* An empty table: hash2, recorded by its first vg_ingest. */
  tdb_expect_text(db, "hash2:32", "SELECT vg_configure('notes') ->> 'model'");
  tdb_expect_text(db, "0", "SELECT count(*) FROM vg_table_config");
  tdb_exec(db, "SELECT vg_ingest('notes', 'acme', 'note', 1, 'fever and a dry cough')");
  tdb_expect_text(db, "hash2:32", "SELECT model FROM vg_table_config WHERE target_table = 'notes'");
  tdb_exec(db, "SELECT vg_queue_run(10)");
  tdb_expect_text(db, "1", "SELECT embedding = vg_embed('fever and a dry cough', 'hash2:32') FROM notes");
  tdb_expect_text(db, "0", "SELECT embedding = vg_embed('fever and a dry cough', 'hash:32') FROM notes");
  /* Still hash2 now that it holds a row. */
  tdb_expect_text(db, "hash2:32", "SELECT vg_configure('notes') ->> 'model'");
  /* A table that holds rows and names no model was filled under the old
  ** default: it stays hash, and vg_ingest records that. */
  tdb_exec(db, "INSERT INTO flat(embedding, content) VALUES (vg_embed('rash', 'hash:16'), 'rash')");
  tdb_expect_text(db, "hash:16", "SELECT vg_configure('flat') ->> 'model'");
  tdb_exec(db, "SELECT vg_ingest('flat', '', 'note', 2, 'a rash on the arm')");
  tdb_expect_text(db, "hash:16", "SELECT model FROM vg_table_config WHERE target_table = 'flat'");
  /* So does an empty table with items waiting and no model named (a
  ** queue written before hash2). */
  tdb_exec(db, "DELETE FROM flat");
  tdb_exec(db, "UPDATE vg_table_config SET model = NULL WHERE target_table = 'flat'");
  tdb_expect_text(db, "hash:16", "SELECT vg_configure('flat') ->> 'model'");
  tdb_exec(db, "SELECT vg_queue_run(10)");
  tdb_expect_text(db, "1", "SELECT embedding = vg_embed('a rash on the arm', 'hash:16') FROM flat");
  tdb_close(db);
}

/* ---- vg_ingest ---------------------------------------------------------- */

static void test_ingest_redacts_and_audits(void **state) {
  (void)state;
  sqlite3 *db = pipeline_db(":memory:");
  tdb_expect_text(db, "1",
                  "SELECT vg_ingest('notes', 'acme', 'note', 'n-1', 'Write to ana@example.com or call 212-555-0187.',"
                  " '{\"author\": \"bob@example.org\", \"year\": 2024, \"urgent\": true}', 'high')");
  tdb_expect_text(db, "Write to <EMAIL_ADDRESS> or call <PHONE_NUMBER>.", "SELECT content FROM vg_queue_items");
  tdb_expect_text(db, "{\"author\":\"<EMAIL_ADDRESS>\",\"year\":2024,\"urgent\":true}", "SELECT metadata FROM vg_queue");
  tdb_expect_text(db, "acme|note|n-1|high|pending",
                  "SELECT tenant_id || '|' || content_type || '|' || content_id || '|' || priority || '|' || status"
                  " FROM vg_queue");
  /* The audit row: the keyed hash of the original, the plain hash of what
  ** was stored (the queue's content_hash), the counts. */
  tdb_expect_text(db, "n-1|{\"EMAIL_ADDRESS\":1,\"PHONE_NUMBER\":1}|1|1",
                  "SELECT content_id || '|' || findings || '|' ||"
                  " (original_hash = vg_pii_hash('Write to ana@example.com or call 212-555-0187.')) || '|' ||"
                  " (result_hash = (SELECT lower(hex(content_hash)) FROM vg_queue)) FROM vg_pii_log");
  /* The table's redact settings apply. */
  tdb_exec(db, "SELECT vg_configure('notes', '{\"redact\": {\"operators\": {\"EMAIL_ADDRESS\": \"mask\"}}}')");
  tdb_exec(db, "SELECT vg_ingest('notes', 'acme', 'note', 'n-2', 'Mail ana@example.com')");
  tdb_expect_text(db, "Mail ***************", "SELECT content FROM vg_queue_items WHERE content_id = 'n-2'");
  tdb_close(db);
}

/* Nothing of a refused ingest stays: no queue item, no audit row. */
static void test_ingest_errors(void **state) {
  (void)state;
  sqlite3 *db = pipeline_db(":memory:");
  tdb_exec(db, "SELECT vg_configure('flat', '{\"redact\": {\"operator\": \"remove\"}}')");
  static const struct {
    const char *zNeedle, *zArgs;
  } a[] = {
      {"vg_ingest: no table named \"nope\"", "'nope', 'acme', 'note', 'n1', 'text'"},
      {"vg_ingest: \"plain\" is not a vg_hnsw table", "'plain', 'acme', 'note', 'n1', 'text'"},
      {"vg_ingest: the text is NULL", "'notes', 'acme', 'note', 'n1', NULL"},
      {"vg_ingest: the text must not be empty", "'notes', 'acme', 'note', 'n1', ''"},
      {"vg_ingest: the text must be text", "'notes', 'acme', 'note', 'n1', 42"},
      {"vg_ingest: the text is not valid UTF-8 (at byte 1)", "'notes', 'acme', 'note', 'n1', CAST(x'41ff' AS TEXT)"},
      {"vg_ingest: the text is 10000001 bytes; the limit is 10000000",
       "'notes', 'acme', 'note', 'n1', printf('%.*c', 10000001, 'a')"},
      {"vg_ingest: unknown priority \"urgent\" (high, medium or low)",
       "'notes', 'acme', 'note', 'n1', 'text', NULL, 'urgent'"},
      {"vg_ingest: metadata must be a JSON object, not [1]", "'notes', 'acme', 'note', 'n1', 'text', '[1]'"},
      {"vg_ingest: metadata value \"tags\" is an object or array", "'notes', 'acme', 'note', 'n1', 'text', '{\"tags\": [1]}'"},
      {"vg_ingest: table \"notes\" is partitioned by tenant: tenant_id must not be empty", "'notes', '', 'note', 'n1', 'text'"},
      {"vg_ingest: table \"flat\" has no partition key to keep tenant \"acme\" apart", "'flat', 'acme', 'note', 'n1', 'text'"},
      {"vg_ingest: no words are left in the text to embed once personal data is redacted",
       "'flat', '', 'note', 'n1', ' ana@example.com '"},
  };
  for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
    tdb_expect_error(db, a[i].zNeedle, "SELECT vg_ingest(%s)", a[i].zArgs);
  }
  /* Without a key there is no audit row, so no ingest. */
  tdb_exec(db, "SELECT vg_pii_set_key(NULL)");
  tdb_expect_error(db, "vg_ingest: vg_pii_redact: no key", "SELECT vg_ingest('notes', 'acme', 'note', 'n1', 'text')");
  tdb_expect_text(db, "0|0", "SELECT (SELECT count(*) FROM vg_queue) || '|' || (SELECT count(*) FROM vg_pii_log)");
  /* Inside a transaction the error undoes only the ingest. */
  tdb_exec(db, "SELECT vg_pii_set_key(zeroblob(32))");
  tdb_exec(db, "BEGIN");
  tdb_exec(db, "SELECT vg_ingest('notes', 'acme', 'note', 'n1', 'first text')");
  tdb_expect_error(db, "vg_ingest: unknown priority", "SELECT vg_ingest('notes', 'acme', 'note', 'n2', 'text', NULL, 'x')");
  tdb_exec(db, "COMMIT");
  tdb_expect_text(db, "1|1", "SELECT (SELECT count(*) FROM vg_queue) || '|' || (SELECT count(*) FROM vg_pii_log)");
  tdb_close(db);
}

/* ---- vg_queue_run ------------------------------------------------------- */

/* A text of n words, some repeated, with multibyte characters. */
static char *words(int n, uint64_t *pSeed) {
  static const char *const az[] = {"fever", "cough", "naïve", "ütf", "patient", "日本", "dose", "rash", "x"};
  sqlite3_str *s = sqlite3_str_new(0);
  for (int i = 0; i < n; i++) {
    sqlite3_str_appendf(s, "%s%s", i ? ((tdb_rand(pSeed) % 5) ? " " : "\n\t") : "",
                        az[tdb_rand(pSeed) % (sizeof az / sizeof az[0])]);
  }
  return sqlite3_str_finish(s);
}

static void test_run_chunks_and_vectors(void **state) {
  (void)state;
  sqlite3 *db = pipeline_db(":memory:");
  tdb_exec(db, "SELECT vg_configure('notes', '{\"chunk_tokens\": 8, \"chunk_overlap\": 3}')");
  uint64_t seed = 7;
  int anWords[] = {1, 7, 8, 9, 13, 14, 40};
  for (int i = 0; i < 7; i++) {
    char *z = words(anWords[i], &seed);
    tdb_exec(db, "SELECT vg_ingest('notes', 'acme', 'note', %d, %Q, '{\"author\": \"a%d\", \"year\": %d}')", i, z, i % 2,
             2000 + i);
    sqlite3_free(z);
  }
  /* The texts as queued: done items keep none. */
  tdb_exec(db, "CREATE TEMP TABLE queued AS SELECT * FROM vg_queue_items");
  tdb_expect_text(db, "{\"claimed\":7,\"done\":7,\"failed\":0,\"dead\":0,\"lost\":0,\"chunks\":18,\"errors\":[],\"waiting\":[],\"watched\":{\"rows\":0,\"erased\":0,\"refused\":0,\"errors\":[]}}",
                  "SELECT vg_queue_run(100)");
  tdb_expect_text(db, "7|0", "SELECT (SELECT count(*) FROM queued) || '|' || (SELECT count(content) FROM vg_queue_items)");
  /* Each stored row is a chunk as vg_chunk cuts it, with its vector as
  ** vg_embed makes it, and the item's metadata. */
  tdb_expect_text(db, "18", "SELECT count(*) FROM notes");
  tdb_expect_text(db, "0",
                  "SELECT count(*) FROM queued q JOIN vg_chunk(q.content, 8, 3) c"
                  " LEFT JOIN notes n ON n.content_id = q.content_id AND n.chunk_index = c.chunk_index"
                  " AND n.tenant_id = q.tenant_id"
                  " WHERE n.content IS NOT c.text OR n.embedding IS NOT vg_embed(c.text, 'hash2:32')"
                  " OR n.author IS NOT q.metadata ->> 'author' OR n.year IS NOT q.metadata ->> 'year'"
                  " OR n.content_type IS NOT 'note'");
  tdb_expect_text(db, "done", "SELECT group_concat(DISTINCT status) FROM vg_queue");
  tdb_expect_text(db, "18", "SELECT count(*) FROM vg_queue_vectors v JOIN notes n ON n.rowid = v.target_rowid");
  /* New content with fewer chunks replaces the old rows. */
  tdb_exec(db, "SELECT vg_ingest('notes', 'acme', 'note', 6, 'short now')");
  tdb_expect_text(db, "{\"claimed\":1,\"done\":1,\"failed\":0,\"dead\":0,\"lost\":0,\"chunks\":1,\"errors\":[],\"waiting\":[],\"watched\":{\"rows\":0,\"erased\":0,\"refused\":0,\"errors\":[]}}",
                  "SELECT vg_queue_run(100)");
  tdb_expect_text(db, "short now|0|", "SELECT content || '|' || chunk_index || '|' || ifnull(author, '') FROM notes"
                                      " WHERE content_id = '6'");
  tdb_expect_text(db, "{\"claimed\":0,\"done\":0,\"failed\":0,\"dead\":0,\"lost\":0,\"chunks\":0,\"errors\":[],\"waiting\":[],\"watched\":{\"rows\":0,\"erased\":0,\"refused\":0,\"errors\":[]}}",
                  "SELECT vg_queue_run(100)");
  tdb_expect_index_ok(db, "notes");
  tdb_close(db);
}

/* An item the table refuses fails alone, storing nothing; the others are
** done; the failure is retried later. */
static void test_run_failures(void **state) {
  (void)state;
  sqlite3 *db = pipeline_db(":memory:");
  tdb_exec(db, "SELECT vg_ingest('notes', 'acme', 'note', 'ok-1', 'first good text')");
  tdb_exec(db, "SELECT vg_ingest('notes', 'acme', 'note', 'bad', 'a text of ten words to cut in chunks here now',"
               " '{\"year\": \"not a year\"}')");
  tdb_exec(db, "SELECT vg_enqueue('notes', 'acme', 'note', 'blank', ' \t ')");
  tdb_exec(db, "SELECT vg_ingest('notes', 'acme', 'note', 'ok-2', 'second good text')");
  tdb_exec(db, "SELECT vg_configure('notes', '{\"chunk_tokens\": 4, \"chunk_overlap\": 1}')");
  char *zRun = tdb_text(db, "SELECT vg_queue_run(10)");
  tdb_expect_text(db, "4|2|2|0|0|2",
                  "SELECT j ->> 'claimed' || '|' || (j ->> 'done') || '|' || (j ->> 'failed') || '|' ||"
                  " (j ->> 'dead') || '|' || (j ->> 'lost') || '|' || (j ->> 'chunks') FROM (SELECT %Q AS j)",
                  zRun);
  sqlite3_free(zRun);
  tdb_expect_text(db, "bad|failed|1|1,blank|failed|1|1",
                  "SELECT group_concat(content_id || '|' || status || '|' || attempts || '|' ||"
                  " (last_error LIKE CASE content_id WHEN 'bad' THEN 'storing in \"notes\": %%year%%'"
                  " ELSE 'the content has no words to embed' END)) FROM"
                  " (SELECT * FROM vg_queue WHERE status <> 'done' ORDER BY id)");
  tdb_expect_text(db, "ok-1,ok-2", "SELECT group_concat(content_id) FROM (SELECT content_id FROM notes ORDER BY 1)");
  tdb_expect_text(db, "0", "SELECT count(*) FROM vg_queue_vectors WHERE item_id IN"
                           " (SELECT id FROM vg_queue WHERE status <> 'done')");
  /* Not due yet; after the backoff it is claimed again. */
  tdb_expect_text(db, "0", "SELECT vg_queue_run(10) ->> 'claimed'");
  tdb_exec(db, "SELECT vg_queue_clock(1000 + 31)");
  tdb_expect_text(db, "2", "SELECT vg_queue_run(10) ->> 'failed'");
  tdb_close(db);
}

/* ---- vg_search ---------------------------------------------------------- */

static void test_search_matches_brute_force(void **state) {
  (void)state;
  sqlite3 *db = pipeline_db(":memory:");
  uint64_t seed = 11;
  for (int i = 0; i < 80; i++) {
    char *z = words(3 + (int)(tdb_rand(&seed) % 12), &seed);
    tdb_exec(db, "SELECT vg_ingest('notes', %Q, 'note', %d, %Q, '{\"author\": \"a%d\", \"year\": %d}')",
             i % 3 ? "acme" : "globex", i, z, i % 4, 2000 + i % 5);
    sqlite3_free(z);
  }
  tdb_expect_text(db, "80", "SELECT vg_queue_run(1000) ->> 'done'");
  static const char *const azQuery[] = {"fever cough", "日本 dose", "patient naïve rash", "x"};
  static const char *const azFilter[] = {"NULL", "'{\"author\": \"a1\"}'", "'{\"year\": [2001, 2003]}'",
                                         "'{\"author\": \"a2\", \"year\": 2002}'"};
  static const char *const azWhere[] = {"1", "author = 'a1'", "year IN (2001, 2003)", "author = 'a2' AND year = 2002"};
  for (int q = 0; q < 4; q++) {
    for (int f = 0; f < 4; f++) {
      /* The same rows, in the same order, with similarity = 1 - distance. */
      char *zWant = tdb_text(db,
                             "SELECT group_concat(rowid || ':' || printf('%%.5f', 1 - d), ' ') FROM"
                             " (SELECT rowid, vg_distance(embedding, vg_embed(%Q, 'hash2:32'), 'cosine') AS d"
                             "  FROM notes WHERE tenant_id = 'acme' AND %s ORDER BY d, rowid LIMIT 7)",
                             azQuery[q], azWhere[f]);
      tdb_expect_text(db, zWant,
                      "SELECT group_concat(target_rowid || ':' || printf('%%.5f', similarity), ' ') FROM"
                      " vg_search('notes', 'acme', %Q, 7, %s)",
                      azQuery[q], azFilter[f]);
      sqlite3_free(zWant);
    }
  }
  /* Only the tenant's rows, ranked from 1. */
  tdb_expect_text(db, "0|1|7", "SELECT count(*) FILTER (WHERE n.tenant_id <> 'globex') || '|' || min(rank) || '|' ||"
                               " max(rank) FROM vg_search('notes', 'globex', 'fever', 7) s"
                               " JOIN notes n ON n.rowid = s.target_rowid");
  static const struct {
    const char *zNeedle, *zArgs;
  } a[] = {
      {"vg_search: cannot filter on \"content\": it is not a metadata column", "'notes', 'acme', 'x', 5, '{\"content\": 1}'"},
      {"vg_search: filter \"author\": give a value", "'notes', 'acme', 'x', 5, '{\"author\": null}'"},
      {"vg_search: filter \"author\": give a value", "'notes', 'acme', 'x', 5, '{\"author\": [[1]]}'"},
      {"vg_search: the filters must be a JSON object", "'notes', 'acme', 'x', 5, '[1]'"},
      {"vg_search: table \"notes\" is partitioned by tenant: tenant_id must not be empty", "'notes', '', 'x', 5"},
      {"vg_search: the query has no words to embed", "'notes', 'acme', ' ', 5"},
      {"vg_search: k must be a whole number from 1 to 10000", "'notes', 'acme', 'x', 0"},
      {"vg_search: no table named \"zz\"", "'zz', 'acme', 'x', 1"},
      {"vg_search: the query must be text", "'notes', 'acme', NULL, 1"},
      {"vg_search: give the table, tenant_id, query and k", "'notes', 'acme'"},
  };
  for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
    tdb_expect_error(db, a[i].zNeedle, "SELECT * FROM vg_search(%s)", a[i].zArgs);
  }
  tdb_expect_text(db, "0", "SELECT count(*) FROM vg_search('notes', 'nobody', 'fever', 5)");
  tdb_close(db);
}

/* ---- vg_watch ----------------------------------------------------------- */

/* content_id:chunk_index:author of the table's rows, in order. */
static const char *zStored = "SELECT ifnull(group_concat(x, ' '), '') FROM (SELECT tenant_id || '/' || content_id ||"
                             " ':' || ifnull(author, '-') AS x FROM notes ORDER BY 1)";

static const char *zQueued = "SELECT ifnull(group_concat(content_id || ':' || status, ' '), '') FROM"
                             " (SELECT * FROM vg_queue ORDER BY content_id)";

static void test_watch(void **state) {
  (void)state;
  sqlite3 *db = pipeline_db(":memory:");
  tdb_exec(db, "CREATE TABLE visits(id INTEGER PRIMARY KEY, clinic TEXT, title TEXT, body TEXT, doctor TEXT)");
  tdb_exec(db, "INSERT INTO visits VALUES (1, 'c1', 'Fever', 'Call ana@example.com', 'dr-a'),"
               " (2, 'c1', NULL, NULL, 'dr-b'), (3, 'c2', 'Cough', 'dry', 'dr-c')");
  /* The rows there are now are enqueued; the blank one is not. */
  tdb_expect_text(db, "2", "SELECT vg_watch('visits', 'notes', '{\"text\": [\"title\", \"body\"], \"tenant\": \"clinic\","
                           " \"metadata\": [\"doctor\"], \"priority\": \"low\"}')");
  tdb_expect_text(db, "Fever\n\nCall <EMAIL_ADDRESS>|visits|low",
                  "SELECT content || '|' || content_type || '|' || priority FROM vg_queue_items WHERE content_id = '1'");
  tdb_exec(db, "SELECT vg_queue_run(10)");
  tdb_expect_text(db, "c1/1:- c2/3:-", zStored);
  /* INSERT, UPDATE and DELETE are logged by plain SQL; a deleted row's
  ** item goes at once, its vectors are left out of vg_search and deleted
  ** at the drain, which sends the changed rows as they are then to
  ** vg_ingest. */
  tdb_exec(db, "INSERT INTO visits VALUES (4, 'c1', 'Rash', 'on the arm', 'dr-d')");
  tdb_exec(db, "UPDATE visits SET body = 'wet cough' WHERE id = 3");
  tdb_exec(db, "UPDATE visits SET body = 'now has text' WHERE id = 2");
  tdb_exec(db, "DELETE FROM visits WHERE id = 1");
  tdb_expect_text(db, "3:done", zQueued);
  tdb_expect_text(db, "2 3 4", "SELECT group_concat(source_key, ' ') FROM (SELECT source_key FROM vg_watch_log"
                               " WHERE target_rowid IS NULL ORDER BY 1)");
  tdb_expect_text(db, "c1/1:- c2/3:-", zStored);
  tdb_expect_text(db, "", "SELECT ifnull(group_concat(content_id), '') FROM vg_search('notes', 'c1', 'fever', 5)");
  tdb_expect_text(db, "{\"rows\":3,\"erased\":1,\"refused\":0,\"errors\":[]}", "SELECT vg_watch_drain()");
  tdb_expect_text(db, "0", "SELECT count(*) FROM vg_watch_log");
  tdb_expect_text(db, "2:pending 3:pending 4:pending", zQueued);
  tdb_expect_text(db, "c2/3:-", zStored);
  tdb_exec(db, "SELECT vg_queue_run(10)");
  tdb_expect_text(db, "c1/2:- c1/4:- c2/3:-", zStored);
  tdb_expect_text(db, "Cough\n\nwet cough", "SELECT group_concat(content) FROM notes WHERE content_id = '3'");
  /* An update that changes nothing watched logs nothing. */
  tdb_exec(db, "UPDATE visits SET title = title");
  tdb_expect_text(db, "0|0", "SELECT (SELECT count(*) FROM vg_queue WHERE status <> 'done') || '|' ||"
                             " (SELECT count(*) FROM vg_watch_log)");
  /* Moving a row to another id or tenant, or blanking it, removes the old
  ** vectors. */
  tdb_exec(db, "UPDATE visits SET id = 5 WHERE id = 4");
  tdb_exec(db, "UPDATE visits SET clinic = 'c3' WHERE id = 3");
  tdb_exec(db, "UPDATE visits SET title = ' ', body = NULL WHERE id = 2");
  tdb_expect_text(db, "", zQueued);
  tdb_exec(db, "SELECT vg_queue_run(10)");
  tdb_expect_text(db, "c1/5:- c3/3:-", zStored);
  tdb_expect_text(db, "3,5", "SELECT group_concat(content_id) FROM (SELECT content_id FROM vg_queue ORDER BY 1)");
  /* A row the pipeline refuses is written all the same (the application's
  ** write never fails); the drain leaves it in the log with the reason,
  ** and takes it once it is mended. */
  tdb_exec(db, "INSERT INTO visits VALUES (6, NULL, 'a', 'b', 'c')");
  tdb_expect_text(db, "1|[{\"source_table\":\"visits\",\"key\":6,\"error\":\"vg_ingest: tenant_id must be text;"
                      " got NULL\"}]",
                  "SELECT v ->> 'refused' || '|' || (v -> 'errors') FROM (SELECT vg_watch_drain() AS v)");
  tdb_expect_text(db, "6|vg_ingest: tenant_id must be text; got NULL",
                  "SELECT source_key || '|' || error FROM vg_watch_log");
  tdb_expect_text(db, "1", "SELECT vg_queue_run(10) -> 'watched' ->> 'refused'");
  tdb_exec(db, "UPDATE visits SET clinic = 'c1' WHERE id = 6");
  tdb_expect_text(db, "1|0", "SELECT vg_queue_run(10) -> 'watched' ->> 'rows' || '|' ||"
                             " (SELECT count(*) FROM vg_watch_log)");
  tdb_expect_text(db, "c1/5:- c1/6:- c3/3:-", zStored);
  tdb_exec(db, "DELETE FROM visits WHERE id = 6");
  tdb_expect_text(db, "1", "SELECT vg_watch_drain() ->> 'erased'");
  /* Errors. */
  static const struct {
    const char *zNeedle, *zArgs;
  } a[] = {
      {"vg_watch: table \"visits\" is watched already (vg_unwatch it first)", "'visits', 'notes', '{\"text\": \"body\", \"tenant\": \"clinic\"}'"},
      {"vg_watch: no table named \"nope\"", "'nope', 'notes', '{\"text\": \"body\"}'"},
      {"vg_watch: \"notes\" cannot be watched", "'notes', 'notes', '{\"text\": \"content\"}'"},
  };
  for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
    tdb_expect_error(db, a[i].zNeedle, "SELECT vg_watch(%s)", a[i].zArgs);
  }
  /* A row the pipeline refuses fails the whole watch, with the reason. */
  tdb_exec(db, "CREATE TABLE orphans(id INTEGER PRIMARY KEY, clinic TEXT, body TEXT)");
  tdb_exec(db, "INSERT INTO orphans VALUES (1, 'c1', 'fine'), (2, NULL, 'no clinic')");
  tdb_expect_error(db, "vg_watch: vg_ingest: tenant_id must be text",
                   "SELECT vg_watch('orphans', 'notes', '{\"text\": \"body\", \"tenant\": \"clinic\"}')");
  tdb_expect_text(db, "0|0|0", "SELECT (SELECT count(*) FROM vg_watches WHERE source_table = 'orphans') || '|' ||"
                               " (SELECT count(*) FROM sqlite_schema WHERE name LIKE 'vg_watch_orphans%%') || '|' ||"
                               " (SELECT count(*) FROM vg_queue WHERE content_type = 'orphans')");
  tdb_exec(db, "CREATE TABLE other(k TEXT PRIMARY KEY, body TEXT) WITHOUT ROWID");
  static const struct {
    const char *zNeedle, *zOptions;
  } b[] = {
      {"table \"other\" has no column \"text\"", "{\"text\": \"text\", \"id\": \"k\", \"tenant_id\": \"t\"}"},
      {"the options must name the text column(s)", "{\"id\": \"k\"}"},
      {"table \"other\" has no rowid: name its key column with \"id\"", "{\"text\": \"body\", \"tenant_id\": \"t\"}"},
      {"table \"notes\" is partitioned by tenant: tenant_id must not be empty", "{\"text\": \"body\", \"id\": \"k\"}"},
      {"give tenant (a column) or tenant_id (a constant), not both",
       "{\"text\": \"body\", \"id\": \"k\", \"tenant\": \"k\", \"tenant_id\": \"t\"}"},
      {"unknown option \"colour\"", "{\"text\": \"body\", \"colour\": 1}"},
      {"unknown priority \"soon\"", "{\"text\": \"body\", \"id\": \"k\", \"tenant_id\": \"t\", \"priority\": \"soon\"}"},
      {"text must be a column name or an array of column names", "{\"text\": 1}"},
      {"the options must be a JSON object", "[1]"},
  };
  for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
    tdb_expect_error(db, b[i].zNeedle, "SELECT vg_watch('other', 'notes', %Q)", b[i].zOptions);
  }
  tdb_expect_text(db, "1", "SELECT count(*) FROM vg_watches");
  /* After, and before INSERT (a REPLACE through the INTEGER PRIMARY KEY). */
  tdb_expect_text(db, "4", "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'vg_watch_%%'");
  /* A key of its own, a constant tenant. */
  tdb_exec(db, "INSERT INTO other VALUES ('k1', 'kept in step')");
  tdb_expect_text(db, "1", "SELECT vg_watch('other', 'notes', '{\"text\": \"body\", \"id\": \"k\", \"tenant_id\": \"t\"}')");
  tdb_exec(db, "DELETE FROM other");
  tdb_expect_text(db, "0", "SELECT count(*) FROM vg_queue WHERE content_type = 'other'");
  /* vg_unwatch drops the triggers; the vectors stay. */
  tdb_expect_text(db, "1", "SELECT vg_unwatch('visits')");
  tdb_expect_error(db, "vg_unwatch: table \"visits\" is not watched", "SELECT vg_unwatch('visits')");
  tdb_exec(db, "DELETE FROM visits");
  tdb_expect_text(db, "c1/5:- c3/3:-", zStored);
  /* other's: also before UPDATE OF its primary key. */
  tdb_expect_text(db, "5", "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'vg_watch_%%'");
  tdb_close(db);
}

/* ---- end to end --------------------------------------------------------- */

/* A card number that passes the Luhn check: 4539 and 11 digits from the
** seed, then the check digit. */
static void card_number(uint64_t *pSeed, char *zOut) {
  int d[16] = {4, 5, 3, 9};
  for (int i = 4; i < 15; i++) d[i] = (int)(tdb_rand(pSeed) % 10);
  int sum = 0;
  for (int i = 14, dbl = 1; i >= 0; i--, dbl = !dbl) {
    int v = dbl ? d[i] * 2 : d[i];
    sum += v > 9 ? v - 9 : v;
  }
  d[15] = (10 - sum % 10) % 10;
  sprintf(zOut, "%d%d%d%d %d%d%d%d %d%d%d%d %d%d%d%d", d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9],
          d[10], d[11], d[12], d[13], d[14], d[15]);
}

/* A German IBAN with valid check digits (ISO 13616: mod 97 of the BBAN,
** then "DE00" as digits, is 98 - check). */
static void iban_number(uint64_t *pSeed, char *zOut) {
  char zBban[19];
  for (int i = 0; i < 18; i++) zBban[i] = (char)('0' + tdb_rand(pSeed) % 10);
  zBban[18] = 0;
  char zNum[32];
  sprintf(zNum, "%s131400", zBban); /* D = 13, E = 14, check 00 */
  int r = 0;
  for (const char *p = zNum; *p; p++) r = (r * 10 + (*p - '0')) % 97;
  sprintf(zOut, "DE%02d %.4s %.4s %.4s %.4s %.2s", 98 - r, zBban, zBban + 4, zBban + 8, zBban + 12, zBban + 16);
}

static int file_holds(const char *zFile, long nFile, const char *zValue) {
  return memmem(zFile, (size_t)nFile, zValue, strlen(zValue)) != 0;
}

static void test_end_to_end_no_pii_in_file(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("e2e.db");
  sqlite3 *db = pipeline_db(zPath);
  enum { N_DOC = 40, N_VALUE = 4 };
  static char azValue[N_DOC][N_VALUE][48];
  uint64_t seed = 2026;
  for (int i = 0; i < N_DOC; i++) {
    sprintf(azValue[i][0], "maria.lopez%d@clinic%d.example.org", i, i);
    sprintf(azValue[i][1], "(415) 555-%04d", 100 + i);
    card_number(&seed, azValue[i][2]);
    iban_number(&seed, azValue[i][3]);
    /* Long enough to be cut in chunks; the values land in different ones. */
    tdb_exec(db,
             "SELECT vg_ingest('notes', 'clinic-%d', 'visit', %d, 'Cardiology appointment topic%d for the patient. Write to"
             " %s about the results. ' || printf('%%.*c', 300, 'x') || ' Reach the family at %s. Payment by card %s"
             " or transfer to %s, reference visit %d.', '{\"author\": \"%s\"}')",
             i % 2, i, i, azValue[i][0], azValue[i][1], azValue[i][2], azValue[i][3], i, azValue[i][0]);
  }
  tdb_exec(db, "SELECT vg_configure('notes', '{\"chunk_tokens\": 12, \"chunk_overlap\": 2}')");
  tdb_expect_text(db, "40|0", "SELECT j ->> 'done' || '|' || (j ->> 'failed') FROM (SELECT vg_queue_run(100) AS j)");
  /* Searchable: visit 7 is the nearest to its own topic word. */
  tdb_expect_text(db, "7", "SELECT content_id FROM vg_search('notes', 'clinic-1', 'appointment topic7', 1)");
  tdb_expect_text(db, "0", "SELECT count(*) FROM notes WHERE tenant_id IN ('clinic-0', 'clinic-1') AND"
                           " (content LIKE '%%@%%' OR content LIKE '%%555-%%' OR author LIKE '%%@%%')");
  tdb_expect_text(db, "40", "SELECT count(*) FROM vg_pii_log WHERE findings ->> 'EMAIL_ADDRESS' = 1 AND"
                            " findings ->> 'CREDIT_CARD' = 1 AND findings ->> 'IBAN_CODE' = 1");
  /* One more, left in the queue: the scan must see a queued text. */
  tdb_exec(db, "SELECT vg_ingest('notes', 'clinic-1', 'visit', 99, 'Cardiology appointment topic99 is still queued')");
  tdb_close(db);
  /* No journal left behind, and no original value anywhere in the file. */
  char *zJournal = sqlite3_mprintf("%s-journal", zPath);
  assert_int_equal(access(zJournal, F_OK), -1);
  sqlite3_free(zJournal);
  long nFile = 0;
  char *zFile = tdb_read_file(zPath, &nFile);
  /* The scan sees the queue's text, and plain metadata; the done items'
  ** texts were erased from the queue (their table holds them encrypted). */
  assert_true(file_holds(zFile, nFile, "Cardiology appointment topic99 is still queued"));
  assert_true(file_holds(zFile, nFile, "<EMAIL_ADDRESS>"));
  for (int i = 0; i < N_DOC; i++) {
    char zTopic[64];
    sprintf(zTopic, "appointment topic%d for", i);
    if (file_holds(zFile, nFile, zTopic)) fail_msg("the text of done item %d is in the database file", i);
  }
  for (int i = 0; i < N_DOC; i++) {
    for (int v = 0; v < N_VALUE; v++) {
      if (file_holds(zFile, nFile, azValue[i][v])) fail_msg("\"%s\" is in the database file", azValue[i][v]);
    }
    /* Nor the digits without their spaces. */
    char zDigits[48];
    int n = 0;
    for (const char *p = azValue[i][2]; *p; p++) {
      if (*p != ' ') zDigits[n++] = *p;
    }
    zDigits[n] = 0;
    assert_false(file_holds(zFile, nFile, zDigits));
  }
  free(zFile);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

/* A text primary key of a table the pipeline writes holds each chunk's
** "content_type:content_id:chunk_index": a lookup finds it, embedding the
** item again keeps the keys, and no key is ever taken twice. */
static void test_run_primary_key(void **state) {
  (void)state;
  sqlite3 *db = pipeline_db(":memory:");
  tdb_exec(db, "CREATE VIRTUAL TABLE keyed USING vg_hnsw(embedding float[32], tenant_id text partition key,"
               " id text primary key, content_id text, chunk_index integer, +content text)");
  tdb_exec(db, "SELECT vg_configure('keyed', '{\"chunk_tokens\": 3, \"chunk_overlap\": 0}')");
  tdb_exec(db, "SELECT vg_ingest('keyed', 'acme', 'note', 'n1', 'one two three four five six seven')");
  tdb_exec(db, "SELECT vg_ingest('keyed', 'acme', 'memo', 'n1', 'a memo')");
  tdb_exec(db, "SELECT vg_ingest('keyed', 'globex', 'note', 'n1', 'other tenant')");
  tdb_expect_text(db, "3|0", "SELECT vg_queue_run(10) ->> 'done' || '|' || (vg_queue_run(1) ->> 'claimed')");
  tdb_expect_text(db, "acme/memo:n1:0 acme/note:n1:0 acme/note:n1:1 acme/note:n1:2 globex/note:n1:0",
                  "SELECT group_concat(x, ' ') FROM (SELECT tenant_id || '/' || id AS x FROM keyed ORDER BY 1)");
  tdb_expect_text(db, "four five six", "SELECT content FROM keyed WHERE tenant_id = 'acme' AND id = 'note:n1:1'");
  /* A new text: the same keys, the new chunks. */
  tdb_exec(db, "SELECT vg_ingest('keyed', 'acme', 'note', 'n1', 'eight nine ten eleven')");
  tdb_expect_text(db, "1", "SELECT vg_queue_run(10) ->> 'done'");
  tdb_expect_text(db, "note:n1:0=eight nine ten note:n1:1=eleven",
                  "SELECT group_concat(x, ' ') FROM (SELECT id || '=' || content AS x FROM keyed"
                  " WHERE tenant_id = 'acme' AND content_id = 'n1' AND id GLOB 'note:*' ORDER BY 1)");
  tdb_expect_index_ok(db, "keyed");
  tdb_close(db);
}

/* ---- progress ------------------------------------------------------------ */

/* What the progress function saw: each call's JSON, and what a second
** connection on the same file counted done at that moment. */
typedef struct Progress {
  sqlite3 *other;
  int nCall, nStopAt;
  int bRaise;
  char azSeen[16][400];
  int anDoneElsewhere[16];
} Progress;

static void progress_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  Progress *p = sqlite3_user_data(ctx);
  if (p->bRaise) {
    sqlite3_result_error(ctx, "the user pressed cancel", -1);
    return;
  }
  if (p->nCall < 16) {
    snprintf(p->azSeen[p->nCall], sizeof p->azSeen[0], "%s", (const char *)sqlite3_value_text(argv[0]));
    p->anDoneElsewhere[p->nCall] = (int)tdb_int(p->other, "SELECT count(*) FROM vg_queue WHERE status = 'done'");
  }
  p->nCall++;
  sqlite3_result_int(ctx, p->nCall == p->nStopAt ? 0 : 1);
}

static void test_run_progress(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("progress.db");
  sqlite3 *db = pipeline_db(zPath);
  tdb_exec(db, "PRAGMA journal_mode = wal");
  Progress pr;
  memset(&pr, 0, sizeof pr);
  pr.other = tdb_open(zPath);
  assert_int_equal(sqlite3_create_function(db, "on_progress", 1, SQLITE_UTF8, &pr, progress_fn, 0, 0), SQLITE_OK);
  tdb_exec(db, "SELECT count(vg_ingest('notes', 'acme', 'note', value, 'note number ' || value)) FROM"
               " (WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM s WHERE value < 350) SELECT value FROM s)");
  /* 350 items in batches of 100: four calls, counts running on, and each
  ** batch committed (another connection sees it done). */
  tdb_expect_text(db, "350|350",
                  "SELECT r ->> 'claimed' || '|' || (r ->> 'done') FROM (SELECT vg_queue_run(1000, NULL,"
                  " '{\"batch\": 100, \"progress\": \"on_progress\"}') AS r)");
  assert_int_equal(pr.nCall, 4);
  static const int anWant[] = {100, 200, 300, 350};
  for (int i = 0; i < 4; i++) {
    char zWant[128];
    snprintf(zWant, sizeof zWant, "{\"claimed\":%d,\"done\":%d,\"failed\":0,\"dead\":0,\"lost\":0,\"chunks\":%d,"
             "\"asked\":1000,\"open\":%d,", anWant[i], anWant[i], anWant[i], 350 - anWant[i]);
    if (strncmp(pr.azSeen[i], zWant, strlen(zWant)) != 0) fail_msg("call %d: %s\nwant %s...", i, pr.azSeen[i], zWant);
    assert_int_equal(pr.anDoneElsewhere[i], anWant[i]);
    assert_non_null(strstr(pr.azSeen[i], "\"items_per_second\":"));
  }
  assert_non_null(strstr(pr.azSeen[3], "\"eta_seconds\":0.0}"));
  /* Returning 0 stops the run after that batch. */
  tdb_exec(db, "SELECT count(vg_ingest('notes', 'acme', 'note', value, 'another note ' || value)) FROM"
               " (WITH RECURSIVE s(value) AS (SELECT 1000 UNION ALL SELECT value + 1 FROM s WHERE value < 1049) SELECT value FROM s)");
  memset(&pr.azSeen, 0, sizeof pr.azSeen);
  pr.nCall = 0;
  pr.nStopAt = 2;
  tdb_expect_text(db, "20|30", "SELECT vg_queue_run(1000, NULL, '{\"batch\": 10, \"progress\": \"on_progress\"}')"
                               " ->> 'claimed' || '|' || (SELECT count(*) FROM vg_queue WHERE status = 'pending')");
  assert_int_equal(pr.nCall, 2);
  /* Without a progress function, the same in one call. */
  tdb_expect_text(db, "30", "SELECT vg_queue_run(1000, 'w2', '{\"batch\": 7}') ->> 'done'");
  /* Errors: the function's own (the batches before it stay done), and the
  ** options'. */
  tdb_exec(db, "SELECT count(vg_ingest('notes', 'acme', 'note', value, 'late note ' || value)) FROM"
               " (WITH RECURSIVE s(value) AS (SELECT 2000 UNION ALL SELECT value + 1 FROM s WHERE value < 2004) SELECT value FROM s)");
  pr.bRaise = 1;
  tdb_expect_error(db, "vg_queue_run: progress function \"on_progress\" failed: the user pressed cancel",
                   "SELECT vg_queue_run(10, NULL, '{\"batch\": 2, \"progress\": \"on_progress\"}')");
  tdb_expect_text(db, "2", "SELECT count(*) FROM vg_queue WHERE status = 'done' AND CAST(content_id AS INTEGER) >= 2000");
  static const struct {
    const char *zNeedle, *zOptions;
  } a[] = {
      {"vg_queue_run: progress function \"nope\": no such function: nope (register a function of one argument",
       "{\"progress\": \"nope\"}"},
      {"vg_queue_run: batch must be a whole number from 1 to 10000", "{\"batch\": 0}"},
      {"vg_queue_run: batch must be a whole number from 1 to 10000", "{\"batch\": 2.5}"},
      {"vg_queue_run: progress must be the name of an SQL function of one argument", "{\"progress\": 3}"},
      {"vg_queue_run: unknown option \"every\" (options: batch, progress)", "{\"every\": 3}"},
      {"vg_queue_run: the options must be a JSON object", "[1]"},
  };
  for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
    tdb_expect_error(db, a[i].zNeedle, "SELECT vg_queue_run(10, NULL, %Q)", a[i].zOptions);
  }
  tdb_close(pr.other);
  tdb_close(db);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_configure),
      cmocka_unit_test(test_default_model),
      cmocka_unit_test(test_ingest_redacts_and_audits),
      cmocka_unit_test(test_ingest_errors),
      cmocka_unit_test(test_run_chunks_and_vectors),
      cmocka_unit_test(test_run_failures),
      cmocka_unit_test(test_search_matches_brute_force),
      cmocka_unit_test(test_watch),
      cmocka_unit_test(test_end_to_end_no_pii_in_file),
      cmocka_unit_test(test_run_progress),
      cmocka_unit_test(test_run_primary_key),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
