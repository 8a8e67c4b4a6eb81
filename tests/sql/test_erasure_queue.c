/*
** test_erasure_queue.c — the pipeline keeps the erasure promise of
** docs/storage.md: once an item is done, deleted or given a new text, and
** the transaction has committed (and the WAL has been checkpointed), no
** byte of its text is left anywhere in the database file.  The test drives
** items through every road — vg_enqueue, vg_ingest, vg_watch's triggers (from a connection without the extension too) and its drain;
** vg_queue_run, vg_queue_complete, vg_queue_fail; DELETE FROM vg_queue by
** hand, also from a connection without the extension; re-enqueueing — and
** then reads the file's bytes, under both journal modes and with PRAGMA
** secure_delete both off (SQLite's usual default: freed space keeps its
** bytes) and on (Debian's).
**
** It also checks what the docs say of the tables around the queue: the
** audit log (vg_pii_log) holds no original text and no redacted value; the
** settings tables (vg_table_config, vg_watches) hold settings, not texts;
** and the scan does see what is kept — the texts of open items, metadata,
** settings — so that a missing find means erased, not unseen.  Old
** settings, metadata and tenant names are documented as not erased, and
** nothing is asserted of them.
*/
#include "testdb.h"
#include "filescan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What becomes of an item. */
enum {
  DONE_RUN,       /* vg_enqueue, then vg_queue_run */
  DONE_INGEST,    /* vg_ingest with an e-mail address in it, then vg_queue_run */
  DONE_HAND,      /* claimed and vg_queue_complete'd by hand */
  DEL_PENDING,    /* deleted by hand while pending */
  DEL_PROCESSING, /* deleted by hand while a worker holds it */
  DEL_IN_TXN,     /* deleted inside a transaction that also enqueues (half are enqueued in it) */
  CHANGED_OPEN,   /* pending, then enqueued again with another text */
  CHANGED_DONE,   /* done, then enqueued again with another text */
  NEW_OPEN,       /* the other text of a CHANGED_OPEN item: pending */
  NEW_DONE,       /* the other text of a CHANGED_DONE item: pending */
  FAILED,         /* failed once: kept, to be retried */
  DEAD,           /* failed for good: kept, for inspection */
  WATCH_DONE,     /* a watched row, embedded */
  WATCH_DELETED,  /* a watched row, deleted from its table */
  WATCH_UPDATED,  /* a watched row whose body changed: the old text */
  WATCH_NEW,      /* a watched row inserted last, pending */
  N_FATE
};
static const char *const azFate[N_FATE] = {
    "done by vg_queue_run",       "ingested and done",
    "completed by hand",          "deleted while pending",
    "deleted while processing",   "deleted in a transaction",
    "replaced while pending",     "replaced once done",
    "new text of a pending item", "new text of a done item",
    "failed",                     "dead",
    "watched and done",           "watched and deleted",
    "watched and changed",        "watched, pending"};

/* Is the text of an item of this fate to be gone from the file? */
static int erased(int fate) {
  return fate != NEW_OPEN && fate != NEW_DONE && fate != FAILED && fate != DEAD && fate != WATCH_NEW;
}

#define PER_FATE 12
#define N_ITEM (N_FATE * PER_FATE)

typedef struct Item {
  int fate;
  char zId[24];     /* content_id; the same for both texts of a replaced item */
  char zToken[24];  /* unique, letters only (no recognizer takes it for personal data) */
  char zNeedle[64]; /* what marks the text in the file */
  char zEmail[48];  /* DONE_INGEST: the personal data vg_ingest redacts */
  char *zText;      /* watched rows: the body */
  int nText;
  sqlite3_int64 id; /* the queue item */
  int iNeedle, iEmail;
} Item;

static Item aItem[N_ITEM];

/* A token of letters: a prefix, then 12 random lowercase letters. */
static void make_token(uint64_t *s, const char *zPrefix, char *z) {
  int n = sprintf(z, "%s", zPrefix);
  for (int i = 0; i < 12; i++) z[n++] = (char)('a' + tdb_rand(s) % 26);
  z[n] = 0;
}

/* A text of 30 to 6,000 bytes, of words, holding the token every few
** hundred bytes and at both ends: a text longer than a page spans overflow
** pages, and a copy of the token split by a page boundary is not seen, but
** the others are.  Some texts hold a NUL byte; the e-mail address, when
** given, sits in the middle. */
static char *make_text(uint64_t *s, const char *zToken, const char *zEmail, int *pn) {
  static const char *const azWord[] = {"fever", "cough", "dose", "rash", "clinic", "visit", "naïve", "日本"};
  int nWant = 30 + (int)(tdb_rand(s) % 5970);
  sqlite3_str *x = sqlite3_str_new(0);
  sqlite3_str_appendf(x, "%s ", zToken);
  int iLast = 0;
  while (sqlite3_str_length(x) < nWant) {
    if (sqlite3_str_length(x) - iLast > 300) {
      iLast = sqlite3_str_length(x);
      sqlite3_str_appendf(x, "%s ", zToken);
    }
    if (zEmail && sqlite3_str_length(x) > nWant / 2) {
      sqlite3_str_appendf(x, "write to %s today ", zEmail);
      zEmail = 0;
    }
    if (tdb_rand(s) % 97 == 0) sqlite3_str_append(x, "\0", 1);
    sqlite3_str_appendf(x, "%s ", azWord[tdb_rand(s) % 8]);
  }
  if (zEmail) sqlite3_str_appendf(x, "write to %s today ", zEmail);
  sqlite3_str_appendf(x, "%s", zToken);
  *pn = sqlite3_str_length(x);
  char *z = sqlite3_str_finish(x);
  if (z == 0) fail_msg("out of memory");
  return z;
}

/* The items, in their fates; a replaced item's two texts are two items of
** one content_id. */
static void make_items(uint64_t *s) {
  for (int i = 0; i < N_ITEM; i++) {
    Item *it = &aItem[i];
    memset(it, 0, sizeof(*it));
    it->fate = i / PER_FATE;
    int k = i % PER_FATE;
    make_token(s, "qtok", it->zToken);
    if (it->fate == NEW_OPEN || it->fate == NEW_DONE) {
      int iOld = (it->fate == NEW_OPEN ? CHANGED_OPEN : CHANGED_DONE) * PER_FATE + k;
      snprintf(it->zId, sizeof it->zId, "%s", aItem[iOld].zId);
    } else {
      snprintf(it->zId, sizeof it->zId, "item-%d", i);
    }
    if (it->fate == DONE_INGEST) snprintf(it->zEmail, sizeof it->zEmail, "jdoe%03d.%s@example.org", i, it->zToken + 4);
    if (it->fate >= WATCH_DONE) {
      /* A watched row: its title is the token; the queue holds the title
      ** and the body joined by a blank line, which no other table does. */
      it->zText = sqlite3_mprintf("body of %s: fever and a mild cough", it->zToken);
      it->nText = (int)strlen(it->zText);
      snprintf(it->zNeedle, sizeof it->zNeedle, "%s\n\nbody of", it->zToken);
    } else {
      it->zText = make_text(s, it->zToken, it->zEmail[0] ? it->zEmail : 0, &it->nText);
      snprintf(it->zNeedle, sizeof it->zNeedle, "%s", it->zToken);
    }
  }
}

static void free_items(void) {
  for (int i = 0; i < N_ITEM; i++) sqlite3_free(aItem[i].zText);
}

/* vg_enqueue or vg_ingest the item; its id. */
static void put_item(sqlite3 *db, Item *it, const char *zPriority) {
  const char *zFunc = it->fate == DONE_INGEST ? "vg_ingest" : "vg_enqueue";
  sqlite3_stmt *p = tdb_prepare(db, "SELECT %s('notes', 'clinic-1', 'note', ?1, ?2, ?3, ?4)", zFunc);
  sqlite3_bind_text(p, 1, it->zId, -1, SQLITE_STATIC);
  sqlite3_bind_text(p, 2, it->zText, it->nText, SQLITE_STATIC);
  char *zMeta = sqlite3_mprintf("{\"author\": \"author-of-%s\"}", it->zId);
  sqlite3_bind_text(p, 3, zMeta, -1, sqlite3_free);
  sqlite3_bind_text(p, 4, zPriority, -1, SQLITE_STATIC);
  if (sqlite3_step(p) != SQLITE_ROW) fail_msg("%s: %s", zFunc, sqlite3_errmsg(db));
  it->id = sqlite3_column_int64(p, 0);
  sqlite3_finalize(p);
}

/* Claim every due item (they are the ones given) for the worker "hand". */
static void claim_by_hand(sqlite3 *db, int nWant) {
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_queue_claim('hand', 10000, 3600))"), nWant);
}

static void exec_on_item(sqlite3 *db, const Item *it, const char *zSql) {
  sqlite3_stmt *p = tdb_prepare(db, "%s", zSql);
  sqlite3_bind_int64(p, 1, it->id);
  sqlite3_bind_text(p, 2, it->zText, it->nText, SQLITE_STATIC);
  int rc = sqlite3_step(p);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail_msg("%s: %s", zSql, sqlite3_errmsg(db));
  sqlite3_finalize(p);
}

/* Run every road; the queue is left with the items whose fate keeps them. */
static void drive_items(sqlite3 *db) {
  /* Completed and deleted while processing: the only due items at the time. */
  for (int i = 0; i < N_ITEM; i++) {
    if (aItem[i].fate == DONE_HAND || aItem[i].fate == DEL_PROCESSING) put_item(db, &aItem[i], "high");
  }
  claim_by_hand(db, 2 * PER_FATE);
  for (int i = 0; i < N_ITEM; i++) {
    Item *it = &aItem[i];
    if (it->fate == DONE_HAND) {
      exec_on_item(db, it, "SELECT vg_queue_complete(?1, vg_embed(?2, 'hash:16'), 'hand')");
    } else if (it->fate == DEL_PROCESSING) {
      exec_on_item(db, it, "DELETE FROM vg_queue WHERE id = ?1");
    }
  }
  /* Failed and dead, likewise. */
  for (int i = 0; i < N_ITEM; i++) {
    if (aItem[i].fate == FAILED || aItem[i].fate == DEAD) put_item(db, &aItem[i], "high");
  }
  claim_by_hand(db, 2 * PER_FATE);
  for (int i = 0; i < N_ITEM; i++) {
    Item *it = &aItem[i];
    if (it->fate == DEAD) exec_on_item(db, it, "UPDATE vg_queue SET attempts = max_attempts WHERE id = ?1");
    if (it->fate == FAILED || it->fate == DEAD) {
      exec_on_item(db, it, "SELECT vg_queue_fail(?1, 'the embedder said no', 'hand')");
    }
  }
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM vg_queue WHERE status = 'dead'"), PER_FATE);
  /* Through vg_queue_run: enqueued, ingested, watched. */
  sqlite3_stmt *pRow = tdb_prepare(db, "INSERT INTO visits(clinic, title, body) VALUES ('clinic-1', ?1, ?2)");
  for (int i = 0; i < N_ITEM; i++) {
    Item *it = &aItem[i];
    int fate = it->fate;
    if (fate == DONE_RUN || fate == DONE_INGEST || fate == CHANGED_DONE) {
      put_item(db, it, "medium");
    } else if (fate == WATCH_DONE) {
      sqlite3_bind_text(pRow, 1, it->zToken, -1, SQLITE_STATIC);
      sqlite3_bind_text(pRow, 2, it->zText, -1, SQLITE_STATIC);
      if (sqlite3_step(pRow) != SQLITE_DONE) fail_msg("insert: %s", sqlite3_errmsg(db));
      sqlite3_reset(pRow);
    }
  }
  char *zRun = tdb_text(db, "SELECT vg_queue_run(1000)");
  char *zWant = sqlite3_mprintf("{\"claimed\":%d,\"done\":%d,\"failed\":0", 4 * PER_FATE, 4 * PER_FATE);
  if (strncmp(zRun, zWant, strlen(zWant)) != 0) fail_msg("vg_queue_run: %s", zRun);
  sqlite3_free(zRun);
  sqlite3_free(zWant);
  /* Deleted in a transaction that also enqueues and deletes: no queue
  ** function there deletes the zeroed rows (they may be this transaction's
  ** own). */
  for (int i = 0; i < N_ITEM; i++) {
    if (aItem[i].fate == DEL_IN_TXN && i % 2) put_item(db, &aItem[i], "low");
  }
  tdb_exec(db, "BEGIN");
  for (int i = 0; i < N_ITEM; i++) {
    if (aItem[i].fate == DEL_IN_TXN && i % 2 == 0) put_item(db, &aItem[i], "low");
  }
  for (int i = 0; i < N_ITEM; i++) {
    if (aItem[i].fate == DEL_IN_TXN) exec_on_item(db, &aItem[i], "DELETE FROM vg_queue WHERE id = ?1");
  }
  tdb_exec(db, "COMMIT");
  /* Pending items (to be replaced, or deleted at the end); then new texts
  ** for them and for done items. */
  for (int i = 0; i < N_ITEM; i++) {
    if (aItem[i].fate == CHANGED_OPEN || aItem[i].fate == DEL_PENDING) put_item(db, &aItem[i], "low");
  }
  for (int i = 0; i < N_ITEM; i++) {
    if (aItem[i].fate == NEW_OPEN || aItem[i].fate == NEW_DONE) put_item(db, &aItem[i], "low");
  }
  /* Watched rows: deleted, changed, and left to be embedded. */
  for (int i = 0; i < N_ITEM; i++) {
    Item *it = &aItem[i];
    if (it->fate != WATCH_DELETED && it->fate != WATCH_UPDATED && it->fate != WATCH_NEW) continue;
    sqlite3_bind_text(pRow, 1, it->zToken, -1, SQLITE_STATIC);
    sqlite3_bind_text(pRow, 2, it->zText, -1, SQLITE_STATIC);
    if (sqlite3_step(pRow) != SQLITE_DONE) fail_msg("insert: %s", sqlite3_errmsg(db));
    sqlite3_reset(pRow);
  }
  sqlite3_finalize(pRow);
  /* The drain enqueues them (the triggers only log the rows' keys); then
  ** the triggers take the deleted rows' items out at once, and the
  ** changed rows' new texts come in at the next drain. */
  assert_int_equal(tdb_int(db, "SELECT vg_watch_drain() ->> 'rows'"), 3 * PER_FATE);
  sqlite3 *plain = 0;
  assert_int_equal(sqlite3_open(sqlite3_db_filename(db, "main"), &plain), SQLITE_OK);
  tdb_exec(plain, "PRAGMA secure_delete = %d", tdb_int(db, "PRAGMA secure_delete"));
  for (int i = 0; i < N_ITEM; i++) {
    Item *it = &aItem[i];
    if (it->fate == WATCH_DELETED) tdb_exec(plain, "DELETE FROM visits WHERE title = %Q", it->zToken);
    if (it->fate == WATCH_UPDATED) {
      tdb_exec(plain, "UPDATE visits SET body = 'now only a rash' WHERE title = %Q", it->zToken);
    }
  }
  sqlite3_close(plain);
  assert_int_equal(tdb_int(db, "SELECT vg_watch_drain() ->> 'rows'"), PER_FATE);
  /* Last, so that no later write reuses their pages: pending items deleted
  ** one by one, each in autocommit. */
  for (int i = 0; i < N_ITEM; i++) {
    if (aItem[i].fate == DEL_PENDING) exec_on_item(db, &aItem[i], "DELETE FROM vg_queue WHERE id = ?1");
  }
  /* Open: the two kinds of new texts, failed, dead, watched new and changed. */
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM vg_queue WHERE status <> 'done'"), 6 * PER_FATE);
}

static const char *zWatchOptions = "{\"text\":[\"title\",\"body\"],\"tenant\":\"clinic\"}";

/* The settings change, a watch comes and goes: none of it may leave a
** text behind (settings themselves are not erased, docs/storage.md). */
static void churn_settings(sqlite3 *db, int iRound) {
  tdb_exec(db, "SELECT vg_configure('notes', '{\"chunk_tokens\": %d, \"chunk_overlap\": %d}')", 64 + iRound,
           iRound);
  tdb_exec(db, "SELECT vg_watch('memos', 'notes', '{\"text\": \"body\", \"tenant_id\": \"clinic-%d\"}')", iRound);
  tdb_exec(db, "SELECT vg_unwatch('memos')");
}

static void set_secure_delete(sqlite3 *db, int b) {
  tdb_exec(db, "PRAGMA secure_delete = %d", b);
  assert_int_equal(tdb_int(db, "PRAGMA secure_delete"), b);
}

static void check_queue_erasure(const char *zJournal, int bSecureDelete) {
  char *zPath = tdb_temp_path("erase-queue.db");
  uint64_t s = 20261206;
  make_items(&s);
  sqlite3 *db = tdb_open(zPath);
  set_secure_delete(db, bSecureDelete);
  tdb_exec(db, "PRAGMA journal_mode = %s", zJournal);
  tdb_exec(db,
           "CREATE VIRTUAL TABLE notes USING vg_hnsw(embedding float[16], tenant_id text partition key,"
           " content_type text, content_id text, chunk_index integer, +content text, author text);"
           "CREATE TABLE visits(id INTEGER PRIMARY KEY, clinic TEXT, title TEXT, body TEXT);"
           "CREATE TABLE memos(id INTEGER PRIMARY KEY, body TEXT);"
           "SELECT vg_pii_set_key(zeroblob(32)), vg_queue_clock(1000);");
  churn_settings(db, 1);
  tdb_expect_text(db, "0", "SELECT vg_watch('visits', 'notes', '%s')", zWatchOptions);
  drive_items(db);
  churn_settings(db, 2);
  tdb_exec(db, "SELECT vg_configure('notes', '{\"chunk_tokens\": null, \"chunk_overlap\": null}')");
  int nIngested = tdb_int(db, "SELECT count(*) FROM vg_pii_log");
  /* DONE_INGEST; the watched rows, and the changes of WATCH_UPDATED */
  assert_int_equal(nIngested, 6 * PER_FATE);
  /* The audit log and the settings hold no text, open items' included
  ** (which the file scan cannot tell from the queue's copies), and no
  ** redacted value. */
  tdb_expect_text(db, "0|0|0",
                  "SELECT (SELECT count(*) FROM (SELECT coalesce(content_id, '') || original_hash || result_hash ||"
                  "  key_id || findings || operators || compliance AS x FROM vg_pii_log)"
                  "  WHERE x GLOB '*qtok*' OR x GLOB '*@*') || '|' ||"
                  " (SELECT count(*) FROM vg_table_config WHERE target_table || coalesce(model, '') ||"
                  "  coalesce(redact, '') GLOB '*qtok*') || '|' ||"
                  " (SELECT count(*) FROM vg_watches WHERE source_table || target_table || options GLOB '*qtok*')");
  if (strcmp(zJournal, "wal") == 0) tdb_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  tdb_close(db);

  /* What to look for: each text; each e-mail address vg_ingest redacted;
  ** and what the scan must see: open items' metadata, the settings. */
  FileScan scan = {0};
  for (int i = 0; i < N_ITEM; i++) {
    Item *it = &aItem[i];
    it->iNeedle = scan_add(&scan, it->zNeedle, strlen(it->zNeedle));
    it->iEmail = it->zEmail[0] ? scan_add(&scan, it->zEmail, strlen(it->zEmail)) : -1;
  }
  char zAuthor[48];
  snprintf(zAuthor, sizeof zAuthor, "author-of-%s", aItem[FAILED * PER_FATE].zId);
  int iAuthor = scan_add(&scan, zAuthor, strlen(zAuthor));
  int iWatch = scan_add(&scan, zWatchOptions, strlen(zWatchOptions));
  int iRedacted = scan_add(&scan, "write to <EMAIL_ADDRESS> today", 30);
  long n = 0;
  unsigned char *file = (unsigned char *)tdb_read_file(zPath, &n);
  scan_run(&scan, file, (size_t)n);
  free(file);
  const char *zMode = bSecureDelete ? "secure_delete on" : "secure_delete off";
  for (int i = 0; i < N_ITEM; i++) {
    const Item *it = &aItem[i];
    int bFound = scan_found(&scan, it->iNeedle);
    if (erased(it->fate) && bFound) {
      fail_msg("%s, %s: the text of item %d (%s) is in the file", zJournal, zMode, i, azFate[it->fate]);
    }
    if (!erased(it->fate) && !bFound) {
      fail_msg("%s, %s: the scan misses the text of item %d (%s), which the queue keeps", zJournal, zMode, i,
               azFate[it->fate]);
    }
    /* Never written anywhere: vg_ingest redacts it, the audit log has
    ** only hashes. */
    if (it->iEmail >= 0 && scan_found(&scan, it->iEmail)) {
      fail_msg("%s, %s: the e-mail address of item %d is in the file", zJournal, zMode, i);
    }
  }
  assert_true(scan_found(&scan, iAuthor));
  assert_true(scan_found(&scan, iWatch));
  /* The redacted texts of done items went too (their table has them,
  ** encrypted); the only place this phrase could stay is the queue. */
  assert_false(scan_found(&scan, iRedacted));

  /* Everything deleted, by a connection without the extension: the
  ** schema's own triggers erase. */
  sqlite3 *plain = 0;
  assert_int_equal(sqlite3_open(zPath, &plain), SQLITE_OK);
  set_secure_delete(plain, bSecureDelete);
  tdb_exec(plain, "DELETE FROM vg_queue");
  assert_int_equal(tdb_int(plain, "SELECT count(*) FROM vg_queue"), 0);
  if (strcmp(zJournal, "wal") == 0) tdb_exec(plain, "PRAGMA wal_checkpoint(TRUNCATE)");
  tdb_close(plain);
  file = (unsigned char *)tdb_read_file(zPath, &n);
  scan_run(&scan, file, (size_t)n);
  free(file);
  for (int i = 0; i < N_ITEM; i++) {
    if (scan_found(&scan, aItem[i].iNeedle)) {
      fail_msg("%s, %s: after DELETE FROM vg_queue, the text of item %d (%s) is in the file", zJournal, zMode, i,
               azFate[aItem[i].fate]);
    }
  }
  assert_true(scan_found(&scan, iWatch));
  scan_free(&scan);
  free_items();
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

static void test_queue_erasure_wal(void **state) {
  (void)state;
  check_queue_erasure("wal", 0);
}

static void test_queue_erasure_rollback_journal(void **state) {
  (void)state;
  check_queue_erasure("delete", 0);
}

static void test_queue_erasure_wal_secure_delete(void **state) {
  (void)state;
  check_queue_erasure("wal", 1);
}

static void test_queue_erasure_rollback_journal_secure_delete(void **state) {
  (void)state;
  check_queue_erasure("delete", 1);
}

/* A queue of the layout before vg_queue_text, its texts in vg_queue: after
** vg_queue_init() and VACUUM, as the docs say, the texts of done items are
** gone from the file, and those of open items are kept. */
static void test_old_queue_upgrade_then_vacuum(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("old-queue.db");
  sqlite3 *db = 0;
  assert_int_equal(sqlite3_open(zPath, &db), SQLITE_OK);
  set_secure_delete(db, 0);
  tdb_exec(db, "CREATE TABLE vg_queue(id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, target_table TEXT NOT NULL,"
               " content_type TEXT NOT NULL, content_id TEXT NOT NULL, content TEXT NOT NULL, content_hash BLOB NOT NULL,"
               " metadata TEXT, priority TEXT NOT NULL, status TEXT NOT NULL, queued_at REAL NOT NULL,"
               " scheduled_for REAL NOT NULL, lease_until REAL, worker_id TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
               " max_attempts INTEGER NOT NULL, last_error TEXT, UNIQUE (tenant_id, content_type, content_id))");
  enum { N_OLD = 60 };
  static char azToken[N_OLD][24];
  uint64_t s = 77;
  for (int i = 0; i < N_OLD; i++) {
    make_token(&s, "oldq", azToken[i]);
    tdb_exec(db, "INSERT INTO vg_queue(tenant_id, target_table, content_type, content_id, content, content_hash,"
                 " priority, status, queued_at, scheduled_for, max_attempts)"
                 " VALUES ('t', 'docs', 'note', 'n%d', '%s ' || printf('%%.*c', %d, 'x') || ' %s', x'00', 'medium',"
                 " 'pending', 1, 1, 5)",
             i, azToken[i], 100 + 37 * i, azToken[i]);
  }
  /* Claimed, failed, done: the rows change size and move, as they did. */
  tdb_exec(db, "UPDATE vg_queue SET status = 'processing', worker_id = 'a worker', lease_until = 2, attempts = 1");
  tdb_exec(db, "UPDATE vg_queue SET status = 'failed', last_error = 'an error', worker_id = NULL WHERE id %% 3 = 0");
  tdb_exec(db, "UPDATE vg_queue SET status = 'done', lease_until = NULL WHERE id %% 2 = 0");
  tdb_close(db);
  db = tdb_open(zPath);
  set_secure_delete(db, 0);
  tdb_expect_error(db, "run SELECT vg_queue_init() once", "SELECT vg_queue_stats()");
  tdb_expect_text(db, "1", "SELECT vg_queue_init()");
  tdb_exec(db, "VACUUM");
  tdb_close(db);
  FileScan scan = {0};
  for (int i = 0; i < N_OLD; i++) scan_add(&scan, azToken[i], strlen(azToken[i]));
  long n = 0;
  unsigned char *file = (unsigned char *)tdb_read_file(zPath, &n);
  scan_run(&scan, file, (size_t)n);
  free(file);
  for (int i = 0; i < N_OLD; i++) {
    int bDone = (i + 1) % 2 == 0; /* ids are 1-based */
    if (bDone && scan_found(&scan, i)) fail_msg("after the upgrade and VACUUM, done item %d's text is in the file", i + 1);
    if (!bDone && !scan_found(&scan, i)) fail_msg("the scan misses open item %d's text", i + 1);
  }
  scan_free(&scan);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_queue_erasure_wal),
      cmocka_unit_test(test_queue_erasure_rollback_journal),
      cmocka_unit_test(test_queue_erasure_wal_secure_delete),
      cmocka_unit_test(test_queue_erasure_rollback_journal_secure_delete),
      cmocka_unit_test(test_old_queue_upgrade_then_vacuum),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
