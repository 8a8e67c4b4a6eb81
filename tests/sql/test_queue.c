/*
** test_queue.c — the embedding queue through SQL: bad input leaves nothing
** behind, re-enqueueing, claim order, leases, retries with backoff (on a
** clock the test sets), completion into a vg_hnsw table, stats, and two
** processes claiming from one file at once.
*/
#include "testdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *zTable =
    "CREATE VIRTUAL TABLE docs USING vg_hnsw(embedding float[8], tenant_id text partition key,"
    " content_type text, content_id text, chunk_index integer, +content text, +lang text)";

static sqlite3 *queue_db(void) {
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db, "%s", zTable);
  tdb_exec(db, "CREATE TABLE plain(x)");
  tdb_exec(db, "CREATE VIRTUAL TABLE flat USING vg_hnsw(embedding float[8])");
  tdb_exec(db, "SELECT vg_queue_init(), vg_queue_clock(1000)");
  return db;
}

static void test_enqueue_errors(void **state) {
  (void)state;
  sqlite3 *db = queue_db();
  static const struct {
    const char *zNeedle, *zArgs;
  } a[] = {
      {"vg_enqueue: no table named \"nope\"", "'nope', 'acme', 'note', 'n1', 'text'"},
      {"vg_enqueue: \"plain\" is not a vg_hnsw table", "'plain', 'acme', 'note', 'n1', 'text'"},
      {"vg_enqueue: the content is NULL", "'docs', 'acme', 'note', 'n1', NULL"},
      {"vg_enqueue: the content must not be empty", "'docs', 'acme', 'note', 'n1', ''"},
      {"vg_enqueue: the content must be text", "'docs', 'acme', 'note', 'n1', x'41'"},
      {"vg_enqueue: the content is not valid UTF-8 (at byte 1)", "'docs', 'acme', 'note', 'n1', CAST(x'41ff' AS TEXT)"},
      {"vg_enqueue: the content is 10000001 bytes; the limit is 10000000",
       "'docs', 'acme', 'note', 'n1', printf('%.*c', 10000001, 'a')"},
      {"vg_enqueue: unknown priority \"urgent\" (high, medium or low)",
       "'docs', 'acme', 'note', 'n1', 'text', NULL, 'urgent'"},
      {"vg_enqueue: metadata must be a JSON object, not [1]", "'docs', 'acme', 'note', 'n1', 'text', '[1]'"},
      {"vg_enqueue: metadata must be a JSON object, not {oops", "'docs', 'acme', 'note', 'n1', 'text', '{oops'"},
      {"vg_enqueue: table \"flat\" has no partition key to keep tenant \"acme\" apart",
       "'flat', 'acme', 'note', 'n1', 'text'"},
      {"vg_enqueue: table \"docs\" is partitioned by tenant: tenant_id must not be empty",
       "'docs', '', 'note', 'n1', 'text'"},
      {"vg_enqueue: content_type must not be empty", "'docs', 'acme', '', 'n1', 'text'"},
      {"vg_enqueue: content_id must be text or a whole number; got the real 1.5", "'docs', 'acme', 'note', 1.5, 'text'"},
      {"vg_enqueue: content_id must be text or a whole number; got a 2-byte blob", "'docs', 'acme', 'note', x'0102', 'text'"},
      {"vg_enqueue: tenant_id must be text", "'docs', NULL, 'note', 'n1', 'text'"},
  };
  for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
    tdb_expect_error(db, a[i].zNeedle, "SELECT vg_enqueue(%s)", a[i].zArgs);
  }
  tdb_expect_text(db, "0|0", "SELECT (SELECT count(*) FROM vg_queue) || '|' || (SELECT count(*) FROM vg_queue_text)");
  /* A vg_hnsw table written over several lines, in any case; an ordinary
  ** table named vg_hnsw is not one. */
  tdb_exec(db, "CREATE VIRTUAL TABLE spaced\n  USING\tVG_HNSW (embedding float[8])");
  tdb_exec(db, "CREATE TABLE vg_hnsw(x)");
  tdb_expect_error(db, "vg_enqueue: \"vg_hnsw\" is not a vg_hnsw table", "SELECT vg_enqueue('vg_hnsw', '', 'n', 1, 'x')");
  tdb_expect_text(db, "0", "SELECT count(*) FROM vg_queue");
  tdb_expect_text(db, "1", "SELECT vg_enqueue('spaced', '', 'note', 8, 'text')");
  tdb_exec(db, "DELETE FROM vg_queue");
  /* A table without a partition key takes tenant ''. */
  tdb_expect_text(db, "1", "SELECT vg_enqueue('flat', '', 'note', 7, 'text')");
  tdb_expect_text(db, "7|medium|pending|0", "SELECT content_id || '|' || priority || '|' || status || '|' || attempts "
                                            "FROM vg_queue");
  tdb_close(db);
}

/* status|attempts|text of an item; '-' when it keeps no text. */
static const char *zItemState = "SELECT status || '|' || attempts || '|' || coalesce(content, '-') FROM vg_queue_items"
                                " WHERE id = %d";

static void test_reenqueue(void **state) {
  (void)state;
  sqlite3 *db = queue_db();
  tdb_expect_text(db, "1", "SELECT vg_enqueue('docs', 'acme', 'note', 'n1', 'first', '{\"lang\":\"en\"}')");
  tdb_exec(db, "SELECT vg_queue_claim('w', 1)");
  tdb_exec(db, "SELECT vg_queue_complete(1, vg_embed('first', 'hash:8'))");
  /* The same content and metadata: nothing changes, not even the time. */
  tdb_exec(db, "SELECT vg_queue_clock(2000)");
  tdb_expect_text(db, "1", "SELECT vg_enqueue('docs', 'acme', 'note', 'n1', 'first', '{\"lang\":\"en\"}')");
  tdb_expect_text(db, "done|1|1000.0", "SELECT status || '|' || attempts || '|' || queued_at FROM vg_queue WHERE id = 1");
  /* A done item keeps its hash, not its text. */
  tdb_expect_text(db, "done|1|-", zItemState, 1);
  /* New metadata or new content starts it over, with the text given again. */
  tdb_expect_text(db, "1", "SELECT vg_enqueue('docs', 'acme', 'note', 'n1', 'first', '{\"lang\":\"es\"}')");
  tdb_expect_text(db, "pending|0|first", zItemState, 1);
  tdb_exec(db, "SELECT vg_queue_claim('w', 1)");
  tdb_expect_text(db, "1", "SELECT vg_enqueue('docs', 'acme', 'note', 'n1', 'second', '{\"lang\":\"es\"}')");
  tdb_expect_text(db, "pending|0|second", zItemState, 1);
  /* The claim of the old version can no longer finish it. */
  tdb_expect_error(db, "vg_queue_complete: item 1 is not being processed", "SELECT vg_queue_complete(1, vg_embed('x', "
                                                                          "'hash:8'))");
  /* Other keys are other items. */
  tdb_expect_text(db, "2", "SELECT vg_enqueue('docs', 'acme', 'mail', 'n1', 'second')");
  tdb_expect_text(db, "3", "SELECT vg_enqueue('docs', 'beta', 'note', 'n1', 'second')");
  tdb_close(db);
}

/* The ids in the JSON a claim returned, comma-separated. */
static char *claim_ids(sqlite3 *db, const char *zWorker, int n, int nLease) {
  return tdb_text(db, "SELECT coalesce(group_concat(value ->> 'id'), '') FROM json_each(vg_queue_claim('%s', %d, %d))",
                  zWorker, n, nLease);
}

static void expect_claim(sqlite3 *db, const char *zWant, const char *zWorker, int n, int nLease) {
  char *z = claim_ids(db, zWorker, n, nLease);
  assert_string_equal(z, zWant);
  sqlite3_free(z);
}

static void test_claim_order(void **state) {
  (void)state;
  sqlite3 *db = queue_db();
  /* Queued one second apart: low, high, medium, high, low. */
  static const char *azPriority[] = {"low", "high", "medium", "high", "low"};
  for (int i = 0; i < 5; i++) {
    tdb_exec(db, "SELECT vg_queue_clock(%d)", 1000 + i);
    tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n%d', 'text %d', NULL, '%s')", i, i, azPriority[i]);
  }
  tdb_exec(db, "SELECT vg_queue_clock(2000)");
  expect_claim(db, "2,4,3", "w1", 3, 60);
  expect_claim(db, "1,5", "w2", 10, 60);
  expect_claim(db, "", "w3", 10, 60);
  tdb_expect_text(db, "2,4,3", "SELECT group_concat(id) FROM (SELECT id FROM vg_queue WHERE worker_id = 'w1' "
                               "ORDER BY id = 3, id)");
  tdb_expect_text(db, "2060.0", "SELECT lease_until FROM vg_queue WHERE id = 2");
  tdb_expect_error(db, "vg_queue_claim: n must be a whole number from 1 to 10000", "SELECT vg_queue_claim('w', 0)");
  tdb_expect_error(db, "vg_queue_claim: lease_seconds must be a number above 0",
                   "SELECT vg_queue_claim('w', 1, -5)");
  tdb_expect_error(db, "vg_queue_claim: worker_id must not be empty", "SELECT vg_queue_claim('', 1)");
  tdb_close(db);
}

/* An expired lease does not jump the priority order: a high item queued
** later is claimed before a low one whose worker died. */
static void test_claim_order_expired_lease(void **state) {
  (void)state;
  sqlite3 *db = queue_db();
  tdb_exec(db, "SELECT vg_queue_clock(1000)");
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'old-low', 'old text', NULL, 'low')");
  tdb_expect_text(db, "old-low", "SELECT group_concat(value ->> 'content_id') FROM json_each(vg_queue_claim('w1', 1, 10))");
  tdb_exec(db, "SELECT vg_queue_clock(1005)");
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'new-high', 'new text', NULL, 'high')");
  tdb_exec(db, "SELECT vg_queue_clock(1020)");
  tdb_expect_text(db, "new-high", "SELECT group_concat(value ->> 'content_id') FROM json_each(vg_queue_claim('w2', 1))");
  /* The expired one comes next. */
  tdb_expect_text(db, "old-low|2", "SELECT group_concat((value ->> 'content_id') || '|' || (value ->> 'attempts'))"
                                   " FROM json_each(vg_queue_claim('w2', 1))");
  tdb_close(db);
}

static void test_lease_expiry(void **state) {
  (void)state;
  sqlite3 *db = queue_db();
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n1', 'text')");
  expect_claim(db, "1", "w1", 1, 10);
  tdb_exec(db, "SELECT vg_queue_clock(1009.9)");
  expect_claim(db, "", "w2", 1, 10); /* still held */
  tdb_exec(db, "SELECT vg_queue_clock(1010)");
  expect_claim(db, "1", "w2", 1, 10); /* w1 is taken to have died */
  tdb_expect_text(db, "processing|2|w2", "SELECT status || '|' || attempts || '|' || worker_id FROM vg_queue");
  tdb_expect_error(db, "vg_queue_complete: item 1 is leased by another worker",
                   "SELECT vg_queue_complete(1, vg_embed('text', 'hash:8'), 'w1')");
  tdb_expect_error(db, "vg_queue_fail: item 1 is leased by another worker", "SELECT vg_queue_fail(1, 'x', 'w1')");
  /* This connection's last claim was as w2. */
  tdb_expect_text(db, "1", "SELECT vg_queue_complete(1, vg_embed('text', 'hash:8'))");
  /* A worker that dies on every attempt: after the last lease runs out the
  ** item is dead, not claimed a sixth time. */
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n2', 'poison')");
  for (int i = 0; i < 5; i++) {
    tdb_exec(db, "SELECT vg_queue_clock(%d)", 2000 + 100 * i);
    expect_claim(db, "2", "w", 1, 10);
  }
  tdb_exec(db, "SELECT vg_queue_clock(3000)");
  expect_claim(db, "", "w", 1, 10);
  tdb_expect_text(db, "dead|5|the lease ran out 5 times (the worker stopped)",
                  "SELECT status || '|' || attempts || '|' || last_error FROM vg_queue WHERE id = 2");
  tdb_close(db);
}

/* vg_queue_release: a supervisor that knows a worker died ends its leases
** now, and the claims go on as after an expired lease. */
static void test_release(void **state) {
  (void)state;
  sqlite3 *db = queue_db();
  for (int i = 1; i <= 3; i++) tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n%d', 'text %d')", i, i);
  expect_claim(db, "1,2", "w1", 2, 300);
  expect_claim(db, "3", "w2", 1, 300);
  expect_claim(db, "", "w3", 3, 300); /* all held */
  tdb_expect_text(db, "2", "SELECT vg_queue_release('w1')");
  tdb_expect_text(db, "0", "SELECT vg_queue_release('w1')");    /* nothing held any more */
  tdb_expect_text(db, "0", "SELECT vg_queue_release('nobody')");
  tdb_expect_text(db, "processing|w1|1000.0", "SELECT group_concat(DISTINCT status || '|' || worker_id || '|' ||"
                                              " lease_until) FROM vg_queue WHERE id IN (1, 2)");
  expect_claim(db, "1,2", "w3", 3, 300); /* w2's item 3 is still held */
  tdb_expect_text(db, "2|2|1", "SELECT group_concat(attempts, '|') FROM (SELECT attempts FROM vg_queue ORDER BY id)");
  tdb_expect_error(db, "vg_queue_release: worker_id must not be empty", "SELECT vg_queue_release('')");
  tdb_expect_error(db, "vg_queue_release: worker_id", "SELECT vg_queue_release(NULL)");
  /* An item released on its last attempt is dead at the next claim, as
  ** after an expired lease. */
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n4', 'poison', NULL, 'high')");
  for (int i = 0; i < 5; i++) {
    expect_claim(db, "4", "wp", 1, 300);
    tdb_expect_text(db, "1", "SELECT vg_queue_release('wp')");
  }
  expect_claim(db, "", "wp", 1, 300);
  tdb_expect_text(db, "dead|5", "SELECT status || '|' || attempts FROM vg_queue WHERE id = 4");
  tdb_close(db);
}

static void test_retry_backoff(void **state) {
  (void)state;
  sqlite3 *db = queue_db();
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n1', 'text')");
  double now = 1000;
  for (int n = 1; n <= 5; n++) {
    expect_claim(db, "1", "w", 1, 60);
    const char *zWant = n < 5 ? "failed" : "dead";
    tdb_expect_text(db, zWant, "SELECT vg_queue_fail(1, 'embedder said no %d')", n);
    double delay = tdb_double(db, "SELECT scheduled_for - %.17g FROM vg_queue", now);
    double full = 30.0;
    for (int k = 1; k < n; k++) full *= 2;
    if (n == 5) break;
    assert_true(delay >= 0.5 * full && delay < full);
    /* Not due a moment before, due at the time. */
    tdb_exec(db, "SELECT vg_queue_clock(scheduled_for - 0.001) FROM vg_queue");
    expect_claim(db, "", "w", 1, 60);
    now = tdb_double(db, "SELECT vg_queue_clock(scheduled_for) FROM vg_queue");
  }
  tdb_expect_text(db, "dead|5|embedder said no 5", "SELECT status || '|' || attempts || '|' || last_error FROM vg_queue");
  tdb_exec(db, "SELECT vg_queue_clock(1e9)");
  expect_claim(db, "", "w", 1, 60); /* dead stays, for inspection */
  /* Sending it again tries afresh. */
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n1', 'text')");
  tdb_expect_text(db, "pending|0|text", zItemState, 1);
  tdb_close(db);
}

static void test_complete(void **state) {
  (void)state;
  sqlite3 *db = queue_db();
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n1', 'hello world', '{\"lang\":\"en\",\"other\":1}')");
  tdb_expect_error(db, "vg_queue_complete: item 1 is not being processed (claim it first)",
                   "SELECT vg_queue_complete(1, vg_embed('x', 'hash:8'), 'w')");
  tdb_expect_error(db, "vg_queue_complete: no queue item 99", "SELECT vg_queue_complete(99, vg_embed('x', 'hash:8'), 'w')");
  sqlite3 *db2 = tdb_open(":memory:");
  tdb_expect_error(db2, "vg_queue_complete: no queue item 1", "SELECT vg_queue_complete(1, vg_embed('x', 'hash:8'))");
  tdb_close(db2);
  expect_claim(db, "1", "w", 1, 60);
  tdb_expect_error(db, "vg_queue_complete: dimension mismatch: the embedding has 384 values, table \"docs\" holds 8",
                   "SELECT vg_queue_complete(1, vg_embed('x'))");
  tdb_expect_error(db, "vg_queue_complete: the embedding is NULL", "SELECT vg_queue_complete(1, NULL)");
  tdb_expect_error(db, "vg_queue_complete: the item id must be an integer (vg_queue_claim's \"id\"); got the text '1'",
                   "SELECT vg_queue_complete('1', NULL)");
  tdb_expect_text(db, "0", "SELECT count(*) FROM docs");
  tdb_expect_text(db, "processing", "SELECT status FROM vg_queue");
  tdb_expect_text(db, "1", "SELECT vg_queue_complete(1, vg_embed('hello world', 'hash:8'))");
  tdb_expect_text(db, "acme|note|n1|0|hello world|en", "SELECT tenant_id || '|' || content_type || '|' || content_id || "
                                                      "'|' || chunk_index || '|' || content || '|' || lang FROM docs");
  tdb_expect_text(db, "1", "SELECT embedding = vg_embed('hello world', 'hash:8') FROM docs");
  /* A new version replaces the vectors of the old one. */
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n1', 'goodbye world')");
  expect_claim(db, "1", "w", 1, 60);
  tdb_exec(db, "SELECT vg_queue_complete(1, vg_embed('goodbye world', 'hash:8'))");
  tdb_expect_text(db, "1|goodbye world|", "SELECT count(*) || '|' || max(content) || '|' || coalesce(max(lang), '') "
                                         "FROM docs");
  tdb_expect_text(db, "1", "SELECT count(*) FROM vg_queue_vectors");
  /* The tenant's partition holds it: a KNN query for another tenant finds nothing. */
  tdb_expect_text(db, "1", "SELECT count(*) FROM docs WHERE embedding MATCH vg_embed('goodbye', 'hash:8') AND k = 5 "
                           "AND tenant_id = 'acme'");
  tdb_expect_text(db, "0", "SELECT count(*) FROM docs WHERE embedding MATCH vg_embed('goodbye', 'hash:8') AND k = 5 "
                           "AND tenant_id = 'beta'");
  tdb_close(db);
}

/* ---- the items' texts --------------------------------------------------- */

/* The ids of the items that keep a text, in order. */
static const char *zTexts = "SELECT coalesce(group_concat(id), '') FROM (SELECT id FROM vg_queue_items"
                            " WHERE content IS NOT NULL ORDER BY id)";

/* Erased texts: rows of vg_queue_text whose content is zeros, not text; and
** rows that are neither, which must not be. */
static const char *zTombstones = "SELECT count(*) FILTER (WHERE typeof(content) = 'blob' AND content = zeroblob(length(content)))"
                                 " || '|' || count(*) FILTER (WHERE typeof(content) NOT IN ('text', 'blob')"
                                 " OR (typeof(content) = 'blob' AND content <> zeroblob(length(content)))) FROM vg_queue_text";

/* An item keeps its text while it may still be embedded or inspected
** (pending, processing, failed, dead), each on a row whose pad puts it on
** overflow pages; done, deleted, or given a new text or id, it keeps none. */
static void test_text_kept_while_needed(void **state) {
  (void)state;
  sqlite3 *db = queue_db();
  for (int i = 1; i <= 5; i++) tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n%d', 'text %d')", i, i);
  tdb_expect_text(db, "1,2,3,4,5", "%s", zTexts);
  tdb_expect_text(db, "5", "SELECT count(*) FROM vg_queue_text, pragma_page_size WHERE length(pad) = page_size - 35"
                           " AND typeof(pad) = 'blob' AND pad = zeroblob(length(pad))");
  expect_claim(db, "1,2", "w", 2, 60);
  tdb_expect_text(db, "processing|1|text 1", zItemState, 1);
  tdb_exec(db, "SELECT vg_queue_complete(1, vg_embed('text 1', 'hash:8'))");
  tdb_expect_text(db, "done|1|-", zItemState, 1);
  /* Failed and dead items keep theirs: they are tried again, or inspected. */
  tdb_expect_text(db, "failed", "SELECT vg_queue_fail(2, 'no')");
  tdb_expect_text(db, "failed|1|text 2", zItemState, 2);
  tdb_exec(db, "UPDATE vg_queue SET attempts = max_attempts, status = 'processing', worker_id = 'w' WHERE id = 2");
  tdb_expect_text(db, "dead", "SELECT vg_queue_fail(2, 'no')");
  tdb_expect_text(db, "dead|5|text 2", zItemState, 2);
  /* A new text replaces the old; new metadata alone keeps it. */
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n3', 'text 3, longer now')");
  tdb_expect_text(db, "pending|0|text 3, longer now", zItemState, 3);
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n3', 'text 3, longer now', '{\"lang\": \"en\"}')");
  tdb_expect_text(db, "pending|0|text 3, longer now", zItemState, 3);
  /* Deleted, or moved to another id, by hand. */
  tdb_exec(db, "DELETE FROM vg_queue WHERE content_id = 'n4'");
  tdb_exec(db, "UPDATE vg_queue SET id = 50 WHERE id = 5");
  tdb_expect_text(db, "2,3", "%s", zTexts);
  /* An item without a text cannot be embedded: it says what to do. */
  tdb_exec(db, "UPDATE vg_queue SET status = 'pending' WHERE id IN (1, 50)");
  expect_claim(db, "1,3,50", "w", 3, 60);
  tdb_expect_error(db, "vg_queue_complete: item 1 has no text in vg_queue_text (a done item keeps none); enqueue its"
                       " text again",
                   "SELECT vg_queue_complete(1, vg_embed('text 1', 'hash:8'))");
  /* Given again, the text starts it over, though it is the same. */
  tdb_expect_text(db, "1", "SELECT vg_enqueue('docs', 'acme', 'note', 'n1', 'text 1', NULL, 'high')");
  tdb_expect_text(db, "pending|0|text 1", zItemState, 1);
  expect_claim(db, "1", "w", 1, 60);
  tdb_expect_text(db, "1", "SELECT vg_queue_complete(1, vg_embed('text 1', 'hash:8'))");
  tdb_close(db);
}

/* A text is kept by its bytes, NUL included, from vg_enqueue to the
** table. */
static void test_text_with_nul(void **state) {
  (void)state;
  sqlite3 *db = queue_db();
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n1', 'before' || char(0) || 'after')");
  tdb_expect_text(db, "6265666F7265006166746572", "SELECT hex(content) FROM vg_queue_text");
  expect_claim(db, "1", "w", 1, 60);
  tdb_exec(db, "SELECT vg_queue_complete(1, vg_embed('before', 'hash:8'))");
  tdb_expect_text(db, "6265666F7265006166746572|0", "SELECT hex(content) || '|' || (SELECT count(*) FROM vg_queue_items"
                                                   " WHERE content IS NOT NULL) FROM docs");
  /* Its row is zeros now, and goes with the next transaction of the queue's own. */
  tdb_expect_text(db, "1|0", "%s", zTombstones);
  tdb_expect_text(db, "{\"pending\":0", "SELECT substr(vg_queue_stats() ->> 'by_status', 1, 12)");
  tdb_expect_text(db, "1|0", "%s", zTombstones);
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n2', 'next')");
  tdb_expect_text(db, "0|0", "%s", zTombstones);
  tdb_close(db);
}

/* The erasing is the schema's own, in plain SQL: a connection without the
** extension deletes items and their texts go too. */
static void test_text_erased_without_extension(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("queue-plain.db");
  sqlite3 *db = tdb_open(zPath);
  tdb_exec(db, "%s", zTable);
  for (int i = 1; i <= 4; i++) tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n%d', 'text %d')", i, i);
  tdb_close(db);
  sqlite3 *plain = 0;
  assert_int_equal(sqlite3_open(zPath, &plain), SQLITE_OK);
  tdb_exec(plain, "DELETE FROM vg_queue WHERE id = 2");
  tdb_exec(plain, "UPDATE vg_queue SET status = 'done' WHERE id = 3");
  tdb_expect_text(plain, "1,4", "%s", zTexts);
  tdb_exec(plain, "DELETE FROM vg_queue");
  tdb_expect_text(plain, "", "%s", zTexts);
  tdb_expect_text(plain, "4|0", "%s", zTombstones);
  tdb_close(plain);
  /* The extension's next transaction deletes the zeroed rows. */
  db = tdb_open(zPath);
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n5', 'text 5')");
  tdb_expect_text(db, "0|0", "%s", zTombstones);
  tdb_expect_text(db, "1", "SELECT count(*) FROM vg_queue_text");
  tdb_close(db);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

/* The queue as vecguard made it before vg_queue_text: each item's text in
** vg_queue itself. */
static const char zOldSchema[] =
    "CREATE TABLE main.vg_queue(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  tenant_id TEXT NOT NULL,\n"
    "  target_table TEXT NOT NULL,\n"
    "  content_type TEXT NOT NULL,\n"
    "  content_id TEXT NOT NULL,\n"
    "  content TEXT NOT NULL,\n"
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
    "CREATE INDEX main.vg_queue_due ON vg_queue(\n"
    "  (CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END), queued_at)\n"
    "  WHERE status IN ('pending', 'failed');\n"
    "CREATE INDEX main.vg_queue_leases ON vg_queue(status, lease_until);\n"
    "CREATE TABLE main.vg_queue_vectors(\n"
    "  item_id INTEGER NOT NULL,\n"
    "  chunk_index INTEGER NOT NULL,\n"
    "  target_table TEXT NOT NULL,\n"
    "  target_rowid INTEGER NOT NULL,\n"
    "  PRIMARY KEY (item_id, chunk_index)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE main.vg_table_config(\n"
    "  target_table TEXT PRIMARY KEY,\n"
    "  model TEXT,\n"
    "  redact TEXT CHECK (redact IS NULL OR json_type(redact) = 'object'),\n"
    "  chunk_tokens INTEGER CHECK (chunk_tokens IS NULL OR chunk_tokens >= 1),\n"
    "  chunk_overlap INTEGER CHECK (chunk_overlap IS NULL OR chunk_overlap >= 0)\n"
    ");\n"
    "CREATE TABLE main.vg_watches(\n"
    "  source_table TEXT PRIMARY KEY,\n"
    "  target_table TEXT NOT NULL,\n"
    "  options TEXT NOT NULL\n"
    ");\n";

/* A queue of the old layout: every function but vg_queue_init refuses it,
** saying what to do; vg_queue_init moves the texts of the items that need
** them, keeps every item and its id, and leaves the schema a new queue has. */
static void test_old_queue_upgrade(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db, "%s", zOldSchema);
  tdb_exec(db, "%s", zTable);
  tdb_exec(db, "INSERT INTO vg_queue(id, tenant_id, target_table, content_type, content_id, content, content_hash,"
               " priority, status, queued_at, scheduled_for, max_attempts) VALUES"
               " (7, 'acme', 'docs', 'note', 'n7', 'open text' || char(0) || '7', x'00', 'medium', 'pending', 1, 1, 5),"
               " (8, 'acme', 'docs', 'note', 'n8', 'done text 8', x'00', 'medium', 'done', 1, 1, 5),"
               " (9, 'acme', 'docs', 'note', 'n9', 'failed text 9', x'00', 'low', 'failed', 1, 1, 5)");
  static const char *const azCall[] = {
      "SELECT vg_enqueue('docs', 'acme', 'note', 'n1', 'text')",
      "SELECT vg_queue_claim('w', 1)",
      "SELECT vg_queue_stats()",
      "SELECT vg_queue_complete(7, vg_embed('x', 'hash:8'), 'w')",
      "SELECT vg_queue_run(1)",
      "SELECT vg_configure('docs', '{\"chunk_tokens\": 10}')",
  };
  for (size_t i = 0; i < sizeof azCall / sizeof azCall[0]; i++) {
    tdb_expect_error(db, "the queue was made by an earlier version of vecguard, which kept the items' texts in"
                         " vg_queue, where they cannot be erased; run SELECT vg_queue_init() once",
                     "%s", azCall[i]);
  }
  tdb_expect_text(db, "1", "SELECT vg_queue_init()");
  tdb_expect_text(db, "7|6F70656E20746578740037,9|6661696C656420746578742039",
                  "SELECT group_concat(item_id || '|' || hex(content), ',') FROM"
                  " (SELECT * FROM vg_queue_text ORDER BY item_id)");
  tdb_expect_text(db, "7,8,9", "SELECT group_concat(id) FROM (SELECT id FROM vg_queue ORDER BY id)");
  tdb_expect_text(db, "n7", "SELECT group_concat(value ->> 'content_id') FROM json_each(vg_queue_claim('w', 1))");
  tdb_expect_text(db, "7", "SELECT vg_queue_complete(7, vg_embed('open text', 'hash:8'))");
  tdb_expect_text(db, "9", "%s", zTexts);
  /* The queue's schema is a new queue's (test_schema_file: sql/queue.sql's). */
  const char *zQueueSchema = "SELECT group_concat(type || ' ' || name || ': ' || coalesce(sql, ''), char(10)) FROM"
                             " (SELECT * FROM sqlite_schema WHERE tbl_name LIKE 'vg\\_%%' ESCAPE '\\' ORDER BY name)";
  sqlite3 *fresh = tdb_open(":memory:");
  tdb_exec(fresh, "SELECT vg_queue_init()");
  char *zWant = tdb_text(fresh, zQueueSchema);
  assert_non_null(strstr(zWant, "trigger vg_queue_erase_deleted"));
  tdb_expect_text(db, zWant, zQueueSchema);
  sqlite3_free(zWant);
  tdb_close(fresh);
  tdb_close(db);
}

/* vg_queue_init() makes what sql/queue.sql makes, and is idempotent. */
static void test_schema_file(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db, "SELECT vg_queue_init(); SELECT vg_queue_init()");
  tdb_expect_schema_file(db, "queue.sql", "table vg_queue_vectors");
  tdb_expect_schema_file(db, "queue.sql", "trigger vg_queue_erase_finished");
  tdb_close(db);
}

static void test_stats(void **state) {
  (void)state;
  sqlite3 *db = queue_db();
  tdb_expect_text(db, "{\"by_status\":{\"pending\":0,\"processing\":0,\"done\":0,\"failed\":0,\"dead\":0},"
                      "\"by_priority\":{\"high\":0,\"medium\":0,\"low\":0},\"oldest_pending_age\":null,\"attempts\":{},"
                      "\"processed_last_minute\":0,\"failed_last_minute\":0,\"items_per_second\":0.0,"
                      "\"eta_seconds\":0.0,\"tables\":{}}",
                  "SELECT vg_queue_stats()");
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'a', 'x', NULL, 'high')");
  tdb_exec(db, "SELECT vg_queue_clock(1010)");
  tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'b', 'x', NULL, 'low')");
  tdb_exec(db, "SELECT vg_enqueue('docs', 'beta', 'note', 'c', 'x')");
  tdb_exec(db, "SELECT vg_queue_claim('w', 1)");
  tdb_exec(db, "SELECT vg_queue_fail(1, 'no')");
  /* The failure is in the last minute at 1069, not at 1100. */
  tdb_exec(db, "SELECT vg_queue_clock(1069)");
  tdb_expect_text(db, "1|null", "SELECT vg_queue_stats() ->> 'failed_last_minute' || '|' ||"
                                " ifnull(vg_queue_stats() ->> 'eta_seconds', 'null')");
  tdb_exec(db, "SELECT vg_queue_clock(1100)");
  const char *zDocs3 = "\"tables\":{\"docs\":{\"pending\":2,\"processing\":0,\"done\":0,\"failed\":1,\"dead\":0,"
                       "\"processed_last_minute\":0,\"failed_last_minute\":0,\"items_per_second\":0.0,"
                       "\"eta_seconds\":null}}}";
  char *zWant = sqlite3_mprintf("{\"by_status\":{\"pending\":2,\"processing\":0,\"done\":0,\"failed\":1,\"dead\":0},"
                                "\"by_priority\":{\"high\":1,\"medium\":1,\"low\":1},\"oldest_pending_age\":100.0,"
                                "\"attempts\":{\"0\":2,\"1\":1},\"processed_last_minute\":0,\"failed_last_minute\":0,"
                                "\"items_per_second\":0.0,\"eta_seconds\":null,%s",
                                zDocs3);
  tdb_expect_text(db, zWant, "SELECT vg_queue_stats()");
  sqlite3_free(zWant);
  tdb_expect_text(db, "{\"by_status\":{\"pending\":1,\"processing\":0,\"done\":0,\"failed\":0,\"dead\":0},"
                      "\"by_priority\":{\"high\":0,\"medium\":1,\"low\":0},\"oldest_pending_age\":90.0,"
                      "\"attempts\":{\"0\":1},\"processed_last_minute\":0,\"failed_last_minute\":0,"
                      "\"items_per_second\":0.0,\"eta_seconds\":null,\"tables\":{\"docs\":{\"pending\":1,"
                      "\"processing\":0,\"done\":0,\"failed\":0,\"dead\":0,\"processed_last_minute\":0,"
                      "\"failed_last_minute\":0,\"items_per_second\":0.0,\"eta_seconds\":null}}}",
                  "SELECT vg_queue_stats('beta')");
  /* Two done at 1100, one item of another table open: at 1130, 2 items in
  ** the last minute, 2/60 a second, the 1 open of docs in 30 s, all 2 open in 60 s; the other
  ** table's has no rate. */
  tdb_exec(db, "CREATE VIRTUAL TABLE memo USING vg_hnsw(embedding float[8], +content text)");
  tdb_exec(db, "SELECT vg_enqueue('memo', '', 'memo', 'm', 'x')");
  tdb_exec(db, "SELECT vg_queue_complete(value ->> 'id', vg_embed('x', 'hash:8')) FROM"
               " json_each(vg_queue_claim('w', 2)) WHERE value ->> 'target_table' = 'docs'");
  tdb_exec(db, "SELECT vg_queue_clock(1130)");
  tdb_expect_text(db, "2|0.033|60.0|docs:2:0.033:30.0 memo:0:0.0:null",
                  "SELECT s ->> 'processed_last_minute' || '|' || (s ->> 'items_per_second') || '|' ||"
                  " (s ->> 'eta_seconds') || '|' || (SELECT group_concat(key || ':' ||"
                  " (value ->> 'processed_last_minute') || ':' || (value ->> 'items_per_second') || ':' ||"
                  " ifnull(value ->> 'eta_seconds', 'null'), ' ') FROM json_each(s -> 'tables'))"
                  " FROM (SELECT vg_queue_stats() AS s)");
  /* A minute on, the rate is gone. */
  tdb_exec(db, "SELECT vg_queue_clock(1161)");
  tdb_expect_text(db, "0|null", "SELECT vg_queue_stats() ->> 'processed_last_minute' || '|' ||"
                                " ifnull(vg_queue_stats() ->> 'eta_seconds', 'null')");
  tdb_expect_error(db, "vg_queue_stats: tenant_id must be text", "SELECT vg_queue_stats(3)");
  tdb_close(db);
}

/* ---- two processes ------------------------------------------------------ */

#define N_ITEMS 600

/* A child: claim batches as zWorker until none are left, completing each
** item, and write every id claimed to fd.  Exits 0, or 1 on any error. */
static void claim_loop(const char *zPath, const char *zWorker, int fd, int fdGo) {
  sqlite3 *db = 0;
  const char *zExt = getenv("VG_EXTENSION");
  if (sqlite3_open(zPath, &db) != SQLITE_OK) _exit(1);
  sqlite3_busy_timeout(db, 10000);
  sqlite3_enable_load_extension(db, 1);
  if (sqlite3_load_extension(db, zExt, 0, 0) != SQLITE_OK) _exit(1);
  /* The claim in a statement that reads no table (see docs/queue.md), then
  ** its JSON read apart. */
  sqlite3_stmt *pTake = 0, *pClaim = 0, *pDone = 0;
  if (sqlite3_prepare_v2(db, "SELECT vg_queue_claim(?, 3, 3600)", -1, &pTake, 0) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "SELECT value ->> 'id', value ->> 'content' FROM json_each(?)", -1, &pClaim, 0) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "SELECT vg_queue_complete(?, vg_embed(?, 'hash:8'))", -1, &pDone, 0) != SQLITE_OK) {
    _exit(1);
  }
  sqlite3_bind_text(pTake, 1, zWorker, -1, SQLITE_STATIC);
  char cGo;
  if (read(fdGo, &cGo, 1) != 1) _exit(1); /* both start together */
  for (;;) {
    sqlite3_int64 aId[7];
    char azText[7][32];
    int n = 0, rc;
    if (sqlite3_step(pTake) != SQLITE_ROW) {
      fprintf(stderr, "%s: %s\n", zWorker, sqlite3_errmsg(db));
      _exit(1);
    }
    sqlite3_bind_text(pClaim, 1, (const char *)sqlite3_column_text(pTake, 0), -1, SQLITE_TRANSIENT);
    sqlite3_reset(pTake);
    while ((rc = sqlite3_step(pClaim)) == SQLITE_ROW) {
      aId[n] = sqlite3_column_int64(pClaim, 0);
      snprintf(azText[n++], sizeof azText[0], "%s", sqlite3_column_text(pClaim, 1));
    }
    if (rc != SQLITE_DONE || sqlite3_reset(pClaim) != SQLITE_OK) {
      fprintf(stderr, "%s: %s\n", zWorker, sqlite3_errmsg(db));
      _exit(1);
    }
    if (n == 0) break;
    /* A worker embeds between its claims, holding no lock; without this
    ** pause SQLite's busy handler lets one process take every turn. */
    usleep(2000);
    for (int i = 0; i < n; i++) {
      sqlite3_bind_int64(pDone, 1, aId[i]);
      sqlite3_bind_text(pDone, 2, azText[i], -1, SQLITE_STATIC);
      if (sqlite3_step(pDone) != SQLITE_ROW || sqlite3_reset(pDone) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", zWorker, sqlite3_errmsg(db));
        _exit(1);
      }
      if (write(fd, &aId[i], sizeof aId[i]) != sizeof aId[i]) _exit(1);
    }
  }
  sqlite3_finalize(pTake);
  sqlite3_finalize(pClaim);
  sqlite3_finalize(pDone);
  sqlite3_close(db);
  _exit(0);
}

static void test_two_processes(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("queue2.db");
  sqlite3 *db = tdb_open(zPath);
  tdb_exec(db, "PRAGMA journal_mode = WAL");
  tdb_exec(db, "%s", zTable);
  tdb_exec(db, "BEGIN");
  for (int i = 0; i < N_ITEMS; i++) {
    tdb_exec(db, "SELECT vg_enqueue('docs', 'acme', 'note', 'n%d', 'text number %d')", i, i);
  }
  tdb_exec(db, "COMMIT");
  int aFd[2][2], aGo[2];
  pid_t aPid[2];
  assert_int_equal(pipe(aGo), 0);
  for (int c = 0; c < 2; c++) {
    assert_int_equal(pipe(aFd[c]), 0);
    aPid[c] = fork();
    assert_true(aPid[c] >= 0);
    if (aPid[c] == 0) {
      close(aFd[c][0]);
      close(aGo[1]);
      claim_loop(zPath, c == 0 ? "worker-a" : "worker-b", aFd[c][1], aGo[0]);
    }
    close(aFd[c][1]);
  }
  close(aGo[0]);
  assert_int_equal(write(aGo[1], "gg", 2), 2);
  close(aGo[1]);
  int aSeen[N_ITEMS + 1] = {0}, anByChild[2] = {0, 0};
  for (int c = 0; c < 2; c++) {
    sqlite3_int64 id;
    while (read(aFd[c][0], &id, sizeof id) == sizeof id) {
      assert_true(id >= 1 && id <= N_ITEMS);
      aSeen[id]++;
      anByChild[c]++;
    }
    close(aFd[c][0]);
    int status = 0;
    assert_int_equal(waitpid(aPid[c], &status, 0), aPid[c]);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  /* Every item claimed and completed exactly once, by one of the two. */
  for (int i = 1; i <= N_ITEMS; i++) assert_int_equal(aSeen[i], 1);
  assert_int_equal(anByChild[0] + anByChild[1], N_ITEMS);
  tdb_expect_text(db, "600|600|1", "SELECT count(*) || '|' || sum(status = 'done') || '|' || max(attempts) FROM vg_queue");
  tdb_expect_text(db, "600", "SELECT count(*) FROM docs");
  /* Each child saw the other's work: both took a share. */
  assert_true(anByChild[0] > 0 && anByChild[1] > 0);
  printf("  two processes: worker-a took %d items, worker-b %d\n", anByChild[0], anByChild[1]);
  tdb_close(db);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_enqueue_errors), cmocka_unit_test(test_reenqueue),
      cmocka_unit_test(test_claim_order),    cmocka_unit_test(test_lease_expiry), cmocka_unit_test(test_release),
      cmocka_unit_test(test_retry_backoff),  cmocka_unit_test(test_complete),
      cmocka_unit_test(test_stats),          cmocka_unit_test(test_two_processes),
      cmocka_unit_test(test_schema_file),    cmocka_unit_test(test_claim_order_expired_lease),
      cmocka_unit_test(test_text_kept_while_needed), cmocka_unit_test(test_text_with_nul),
      cmocka_unit_test(test_text_erased_without_extension), cmocka_unit_test(test_old_queue_upgrade),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
